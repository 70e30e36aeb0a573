#!/usr/bin/env bash
# bench.sh measures partnertoken through a real Vault against its
# performance goals (BENCHMARKS.md, "Through a real Vault"):
#
#   1. builds the plugin, the minimal baseline plugin (tests/baseline), the
#      KV plugin from the module proxy (tools/kv), the partner simulator and
#      the load tool (tests/load);
#   2. starts a Vault dev server on a free loopback port with all three
#      plugins in its plugin directory, and the simulator;
#   3. registers them by SHA-256 and mounts them: partnertoken at partner/,
#      the baseline at baseline/, and KV v0.25.0, under the catalog name
#      kv-external, at kv-v1/ and kv-v2/. Vault passes the KV version option
#      at mount time only to the built-in type kv (and refuses a non-built-in
#      version of kv), so both start as KV v1, the plugin's default, and
#      kv-v2/ is then tuned to version=2, which Vault allows for any mount;
#   4. configures partner/config/load (simulated OAuth2, hour-long tokens),
#      writes the same three fields to kv-v1/load and kv-v2/data/load, and
#      makes a non-root token with a read policy for the readers;
#   5. runs the load tool: the cold, refresh and outage modes on the fresh Vault,
#      the throughput mode once per kind of reader token (READ_TOKENS), then
#      the scale mode, then the leases mode (a minute at full rate per
#      lease_mode: leases left in Vault, Vault's memory); prints the report, also kept in
#      .cache/bench/report.md. Besides the goals'
#      targets, the throughput mode reads two variants of the minimal
#      plugin, without a goal, that price what every plugin pays: its
#      response declared with the framework's Operations (minimal-ops: a
#      ReplicationState gRPC call back to Vault per request) and without a
#      lease (minimal-unleased: no lease for Vault to register);
#   6. stops everything it started.
#
# Not part of `make test`: it takes about 20 minutes, and its numbers depend
# on the machine. The load tool shares the CPUs with Vault, its plugins and
# the simulator, so compare the ratios (measured side by side in one run),
# not the absolute rates.
#
# The exit status is 1 if a goal was missed or undecided.
#
# Environment:
#   MODES         modes to run (default throughput,cold,refresh,outage,scale,leases,raft,cluster);
#                 raft is this script's: a second, single-node Vault with
#                 integrated storage, where partnertoken's per_read and none
#                 reads are measured against the minimal plugin, KV v2 and
#                 oauthapp v3.1.1 (tools/oauthapp), the closest peer;
#                 cluster is scripts/bench-cluster.sh's: lease_mode=none
#                 reads through every node of a 3-node OpenBao cluster at
#                 once (skipped with a warning without OpenBao, see
#                 scripts/get-openbao.sh)
#   READ_TOKENS   kinds of reader token to run the throughput mode with, in
#                 turn (default "policy no-default"): policy is the bench-read
#                 policy plus Vault's default policy, as tokens from auth
#                 methods have; no-default is bench-read alone; root is root
#   LOAD_FLAGS    extra flags for the load tool, e.g. LOAD_FLAGS='-rounds 3 -clients 8'
#                 (`go run ./load -h` in tests/ lists them)
#   PLUGIN_PPROF  1: run partnertoken built from tests/load/pprofplugin
#                 (main.go plus net/http/pprof) and the baseline with pprof
#                 on, and save their CPU profiles next to Vault's
#   VERSION       plugin version (default: scripts/version.sh)
#   VAULT_BIN     an existing Vault binary to use instead of building one
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

modes="${MODES:-throughput,cold,refresh,outage,scale,leases,raft,cluster}"
# selected PATTERN prints the selected modes that PATTERN matches, comma-separated.
selected() { tr , '\n' <<<"$modes" | grep -xE "$1" | paste -sd, - || true; }
unknown="$(selected '.*' | tr , '\n' | grep -vxE 'cold|refresh|outage|throughput|scale|leases|raft|cluster' | paste -sd, - || true)"
[[ -z "$unknown" ]] || die "MODES: unknown mode(s) $unknown (want throughput, cold, refresh, outage, scale, leases, raft, cluster)"

# cluster runs its own servers (OpenBao): scripts/bench-cluster.sh.
bench_cluster() {
  local code=0
  [[ -n "$(selected cluster)" ]] || return 0
  log "cluster: lease_mode=none reads through a 3-node OpenBao cluster (about 2 minutes)"
  scripts/bench-cluster.sh | tee -a "${1:-/dev/null}" || code="${PIPESTATUS[0]}"
  if [[ "$code" == 2 && -z "${CI:-}" ]]; then
    log "warning: no OpenBao binary, so the cluster mode did NOT run"
    return 0
  fi
  return "$code"
}
if [[ -z "$(selected 'cold|refresh|outage|throughput|scale|leases|raft')" ]]; then
  bench_cluster
  exit
fi

version="$(scripts/version.sh)"
plugin=vault-plugin-secrets-partnertoken
baseline=vault-plugin-secrets-baseline
baseline_version=v1.0.0 # what tests/baseline reports
kv=vault-plugin-secrets-kv
kv_version="$(awk '$1 == "require" && $2 == "github.com/hashicorp/vault-plugin-secrets-kv" { print $3 }' tools/kv/go.mod)"
[[ -n "$kv_version" ]] || die "cannot find the vault-plugin-secrets-kv version in tools/kv/go.mod"

umask 077 # the simulator's demo secrets land in the work directory
work="$root/.cache/bench"
rm -rf "$work"
mkdir -p "$work/plugins" "$work/bin" "$work/profiles"

# --- build -------------------------------------------------------------------
log "building $plugin $version, the baseline plugin, KV $kv_version, the simulator and the load tool"
ldflags="-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version=$version"
if [[ "${PLUGIN_PPROF:-}" == 1 ]]; then
  log "PLUGIN_PPROF=1: partnertoken is the profiling build, tests/load/pprofplugin"
  (cd tests && go build -ldflags "$ldflags" -o "$work/plugins/$plugin" ./load/pprofplugin)
else
  go build -ldflags "$ldflags" -o "$work/plugins/$plugin" .
fi
go build -o "$work/bin/partnersim" ./internal/cmd/partnersim
go build -o "$work/bin/jsonget" scripts/jsonget.go
(cd tests && go build -o "$work/plugins/$baseline" ./baseline/cmd/vault-plugin-secrets-baseline)
(cd tests && go build -o "$work/bin/load" ./load)
(cd tools/kv && go build -o "$work/plugins/$kv" github.com/hashicorp/vault-plugin-secrets-kv/cmd/vault-plugin-secrets-kv)
oauthapp=vault-plugin-secrets-oauthapp
oauthapp_version="$(awk '$1 == "require" && $2 == "github.com/puppetlabs/vault-plugin-secrets-oauthapp/v3" { print $3 }' tools/oauthapp/go.mod)"
if [[ ",$modes," == *,raft,* ]]; then
  (cd tools/oauthapp && go build -o "$work/plugins/$oauthapp" github.com/puppetlabs/vault-plugin-secrets-oauthapp/v3/cmd/vault-plugin-secrets-oauthapp)
fi
vault_bin="$(scripts/get-vault.sh)"
vault() { "$vault_bin" "$@"; }
jsonget() { "$work/bin/jsonget" "$@"; }

# --- start, and stop on exit ----------------------------------------------------
port="$(free_port)"

pids=()
# stop_dev_vault stops the dev server. Vault stops its plugins on the way
# out; any that outlive it are ended too.
stop_dev_vault() {
  [[ -n "${vault_pid:-}" ]] || return 0
  local plugins=() keep=() p
  mapfile -t plugins < <(pgrep -P "$vault_pid" || true)
  kill "$vault_pid" 2>/dev/null || true
  wait "$vault_pid" 2>/dev/null || true
  if ((${#plugins[@]})); then kill "${plugins[@]}" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do [[ "$p" == "$vault_pid" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
  vault_pid=""
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    log "stopping Vault and the simulator"
    stop_dev_vault
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN=root
log "starting Vault $("$vault_bin" version | cut -d" " -f2 | tr -d ,) at $VAULT_ADDR (log: ${work#"$root"/}/vault.log)"
# Warnings only: a debug log line per request would be part of what is measured.
"$vault_bin" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
  -dev-plugin-dir="$work/plugins" -dev-no-store-token -log-level=warn >"$work/vault.log" 2>&1 &
vault_pid=$!
pids+=("$vault_pid")
"$work/bin/partnersim" -addr 127.0.0.1:0 >"$work/partnersim.json" 2>"$work/partnersim.log" &
pids+=($!)

wait_started "$work" "${pids[@]}"

# --- register and mount ----------------------------------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
# register NAME VERSION BINARY [ENV]: registers a plugin from the plugin
# directory by SHA-256 (and version, unless empty).
register() {
  local args=(-sha256="$(sha "$work/plugins/$3")" -command="$3")
  [[ -n "$2" ]] && args+=(-version="$2")
  [[ -n "${4:-}" ]] && args+=(-env="$4")
  vault plugin register "${args[@]}" secret "$1" >/dev/null
}
pprof_flags=()
plugin_env="" baseline_env=""
if [[ "${PLUGIN_PPROF:-}" == 1 ]]; then
  plugin_pprof="127.0.0.1:$(free_port)"
  baseline_pprof="127.0.0.1:$(free_port)"
  plugin_env="PPROF_ADDR=$plugin_pprof" baseline_env="PPROF_ADDR=$baseline_pprof"
  pprof_flags=(-plugin-pprof "partnertoken=http://$plugin_pprof" -plugin-pprof "minimal=http://$baseline_pprof")
fi

log "registering $plugin $version and $baseline $baseline_version, mounting them at partner/ and baseline/"
register "$plugin" "$version" "$plugin" "$plugin_env"
vault secrets enable -path=partner -plugin-version="$version" "$plugin" >/dev/null
register "$baseline" "$baseline_version" "$baseline" "$baseline_env"
vault secrets enable -path=baseline -plugin-version="$baseline_version" "$baseline" >/dev/null

# KV reports no version of its own; Vault takes the registered one.
log "registering KV $kv_version as kv-external, mounting it at kv-v1/ and kv-v2/ (tuned to version=2)"
register kv-external "$kv_version" "$kv"
vault secrets enable -path=kv-v1 -plugin-version="$kv_version" kv-external >/dev/null
vault secrets enable -path=kv-v2 -plugin-version="$kv_version" kv-external >/dev/null
vault secrets tune -options=version=2 kv-v2/ >/dev/null

for mount in partner baseline kv-v1 kv-v2; do
  type="$(vault read -field=type "sys/mounts/$mount")"
  bin="$work/plugins/$type"
  [[ "$type" == kv-external ]] && bin="$work/plugins/$kv"
  sum="$(vault read -field=running_sha256 "sys/mounts/$mount" 2>/dev/null || true)"
  [[ "$sum" == "$(sha "$bin")" ]] || die "$mount/ does not run $bin (running sha256: ${sum:-none})"
  log "$mount/: $type $(vault read -field=running_plugin_version "sys/mounts/$mount")," \
    "options $(vault read -field=options "sys/mounts/$mount" 2>/dev/null || echo 'map[]'), running sha256 ${sum:0:12}..."
done

# --- data ---------------------------------------------------------------------------
sim="$work/partnersim.json"
# The simulator listens on loopback, which the engine refuses as a token
# endpoint unless the mount allows it.
vault write partner/settings allowed_token_url_hosts=127.0.0.1 >/dev/null
jsonget "$sim" clients.oauth2.secret | vault write partner/config/load provider=oauth2 \
  token_url="$(jsonget "$sim" token_urls.oauth2)" client_id="$(jsonget "$sim" clients.oauth2.id)" \
  client_secret=- >/dev/null
# The one mint; every later read is cached. The baseline leases like it
# (tests/baseline: leases that end alike are revoked alike within a run).
vault write baseline/lease ttl="$(vault read -field=lease_duration partner/token/load)" >/dev/null

# The same three fields (and sizes) as a partner token.
value='{"access_token":"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk","token_type":"Bearer","expires_at":"2030-01-01T00:00:00Z"}'
echo "$value" | vault write kv-v1/load - >/dev/null
# write_kv2_load [WHERE] writes value to kv-v2/data/load, retrying while the
# upgrade to version 2 finishes in the background; WHERE names the server in
# the error.
write_kv2_load() {
  local i
  for ((i = 0; ; i++)); do
    echo "{\"data\":$value}" | vault write kv-v2/data/load - >/dev/null 2>&1 && break
    ((i < 60)) || die "kv-v2/${1:+ $1} did not accept a write within 30s"
    sleep 0.5
  done
}
write_kv2_load

# Readers use a non-root token with a read policy, as applications do.
vault policy write bench-read - >/dev/null <<'HCL'
path "partner/token/*" { capabilities = ["read"] }
path "baseline/*"      { capabilities = ["read"] }
path "kv-v1/*"         { capabilities = ["read"] }
path "kv-v2/data/*"    { capabilities = ["read"] }
HCL
# reader_token KIND prints a token for the readers.
reader_token() {
  case "$1" in
  policy) vault token create -policy=bench-read -ttl=24h -field=token ;;
  no-default) vault token create -policy=bench-read -no-default-policy -ttl=24h -field=token ;;
  root) echo root ;;
  *) die "READ_TOKENS: unknown kind $1 (want policy, no-default or root)" ;;
  esac
}

# --- measure --------------------------------------------------------------------------
read -r -a kinds <<<"${READ_TOKENS:-policy no-default}"
((${#kinds[@]})) || die "READ_TOKENS is empty"
for kind in "${kinds[@]}"; do
  [[ "$kind" =~ ^(policy|no-default|root)$ ]] || die "READ_TOKENS: unknown kind $kind (want policy, no-default or root)"
done
# shellcheck disable=SC2206 # LOAD_FLAGS is a list of flags
extra=(${LOAD_FLAGS:-})
load() {
  "$work/bin/load" -addr "$VAULT_ADDR" -token "$VAULT_TOKEN" -sim-handshake "$sim" \
    -vault-pid "$vault_pid" -plugin-name "$plugin" "$@" "${extra[@]}"
}
: >"$work/report.md"
status=0
# others MODES runs the modes besides throughput, with the first kind of token.
others() {
  [[ -n "$1" ]] || return 0
  log "modes $1 with a ${kinds[0]} token for the readers (about 2 to 4 minutes each)"
  load -modes "$1" -label "readers with a ${kinds[0]} token" -read-token "$(reader_token "${kinds[0]}")" \
    -refresh-control baseline/token/load |
    tee -a "$work/report.md" || status=1
}
# The latency modes run first, on a fresh Vault: every read of the
# throughput mode leaves a lease in Vault (hundreds of thousands), and that
# memory and their expiry slow every request after it (a refresh run after
# the throughput mode measured a p99 forty times higher).
others "$(selected 'cold|refresh|outage')"
# revoke_leases revokes, synchronously, the leases the reads of partner/
# and baseline/ left in the dev server. Left alone they end a renewal
# period (about 4.5 minutes) after their reads, in whatever runs then, and
# Vault revokes each with a call into its plugin: a throughput run after
# another measured rounds from 0.35x to 3.2x.
revoke_leases() {
  local mount start=$SECONDS
  for mount in partner baseline; do
    VAULT_CLIENT_TIMEOUT=30m vault lease revoke -sync -prefix "$mount/" >/dev/null
  done
  log "revoked the leases of the run above in $((SECONDS - start))s"
}
if [[ ",$modes," == *,throughput,* ]]; then
  for kind in "${kinds[@]}"; do
    log "throughput with a $kind token for the readers (about 5 minutes)"
    load -modes throughput -label "readers with a $kind token" -read-token "$(reader_token "$kind")" \
      -partner partner/token/load \
      -baseline minimal=baseline/token/load@1.0 \
      -baseline kv-v1=kv-v1/load@1.3 \
      -baseline kv-v2=kv-v2/data/load@1.3 \
      -baseline minimal-ops=baseline/ops/load \
      -baseline minimal-unleased=baseline/plain/load \
      -vault-profile "$work/profiles/$kind" "${pprof_flags[@]}" | tee -a "$work/report.md" || status=1
    revoke_leases
  done
fi
others "$(selected 'scale')"
# Last: a minute at full rate with lease_mode=per_read leaves over 100,000
# leases in Vault.
others "$(selected 'leases')"

# raft: the same plugins on a single-node Vault with integrated storage,
# where every lease is a Raft write, and oauthapp v3.1.1 beside them.
if [[ ",$modes," == *,raft,* ]]; then
  # The dev server first: the leases the modes above left in it (over
  # 100,000 after the leases mode; revoke_leases clears only the throughput
  # runs') end during the Raft rounds, and Vault revokes each with a call
  # into its plugin, CPU taken from one Raft target's rounds or another's at
  # random. Stopping it is instant where revoking takes a minute.
  log "stopping the dev server before the Raft runs"
  stop_dev_vault
  rport="$(free_port)"
  mkdir -p "$work/raft"
  cat >"$work/raft.hcl" <<HCL
storage "raft" {
  path    = "$work/raft"
  node_id = "bench"
}
listener "tcp" {
  address     = "127.0.0.1:$rport"
  tls_disable = true
}
api_addr         = "http://127.0.0.1:$rport"
cluster_addr     = "http://127.0.0.1:$((rport + 1))"
disable_mlock    = true
plugin_directory = "$work/plugins"
HCL
  log "starting a single-node Raft Vault at 127.0.0.1:$rport (log: ${work#"$root"/}/vault-raft.log)"
  "$vault_bin" server -config="$work/raft.hcl" -log-level=warn >"$work/vault-raft.log" 2>&1 &
  raft_pid=$!
  pids+=("$raft_pid")
  export VAULT_ADDR="http://127.0.0.1:$rport"
  for ((i = 0; ; i++)); do
    listening "127.0.0.1:$rport" && break
    ((i < 120)) || die "the Raft Vault did not listen within 60s"
    sleep 0.5
  done
  vault operator init -key-shares=1 -key-threshold=1 -format=json >"$work/raft-init.json"
  vault operator unseal "$(jsonget "$work/raft-init.json" unseal_keys_b64 | tr -d '[]" \n')" >/dev/null
  VAULT_TOKEN="$(jsonget "$work/raft-init.json" root_token)"
  export VAULT_TOKEN
  for ((i = 0; ; i++)); do
    vault secrets list >/dev/null 2>&1 && break
    ((i < 120)) || die "the Raft Vault did not become active within 60s"
    sleep 0.5
  done
  register "$plugin" "$version" "$plugin"
  vault secrets enable -path=partner -plugin-version="$version" "$plugin" >/dev/null
  register "$baseline" "$baseline_version" "$baseline"
  vault secrets enable -path=baseline -plugin-version="$baseline_version" "$baseline" >/dev/null
  register kv-external "$kv_version" "$kv"
  vault secrets enable -path=kv-v2 -plugin-version="$kv_version" kv-external >/dev/null
  vault secrets tune -options=version=2 kv-v2/ >/dev/null
  register "$oauthapp" "$oauthapp_version" "$oauthapp"
  vault secrets enable -path=oauthapp -plugin-version="$oauthapp_version" "$oauthapp" >/dev/null

  vault write partner/settings allowed_token_url_hosts=127.0.0.1 >/dev/null
  for mode in per_read none; do
    jsonget "$sim" clients.oauth2.secret | vault write "partner/config/load-$mode" provider=oauth2 lease_mode="$mode" \
      token_url="$(jsonget "$sim" token_urls.oauth2)" client_id="$(jsonget "$sim" clients.oauth2.id)" \
      client_secret=- >/dev/null
    vault read "partner/token/load-$mode" >/dev/null
  done
  vault write baseline/lease ttl="$(vault read -field=lease_duration partner/token/load-per_read)" >/dev/null
  # oauthapp keeps a secret as given: without the newline jsonget prints.
  printf %s "$(jsonget "$sim" clients.oauth2.secret)" | vault write oauthapp/servers/load provider=custom \
    client_id="$(jsonget "$sim" clients.oauth2.id)" client_secret=- \
    provider_options=token_url="$(jsonget "$sim" token_urls.oauth2)" \
    provider_options=auth_code_url="$(jsonget "$sim" token_urls.oauth2)" >/dev/null
  vault write oauthapp/self/load server=load >/dev/null
  vault read oauthapp/self/load >/dev/null
  write_kv2_load "on the Raft Vault"
  vault policy write bench-read - >/dev/null <<'HCL'
path "partner/token/*" { capabilities = ["read"] }
path "baseline/*"      { capabilities = ["read"] }
path "kv-v2/data/*"    { capabilities = ["read"] }
path "oauthapp/self/*" { capabilities = ["read"] }
HCL
  raft_load() {
    "$work/bin/load" -addr "$VAULT_ADDR" -token "$VAULT_TOKEN" -sim-handshake "$sim" \
      -vault-pid "$raft_pid" -plugin-name "$plugin" -modes throughput \
      -read-token "$(reader_token "${kinds[0]}")" "$@" "${extra[@]}" | tee -a "$work/report.md" || status=1
  }
  # The leased comparison first: the other run's leased reads (per-read)
  # would otherwise leave thousands of partnertoken leases for Vault to
  # revoke during it, in one target's window or the other's.
  # The same name on both mounts: the lease ID holds the path, and Vault
  # stores it in the lease and its index.
  log "Raft: lease_mode=per_read against the minimal leased plugin (about 5 minutes)"
  raft_load -label "single-node Raft Vault, leased reads, readers with a ${kinds[0]} token" \
    -partner partner/token/load-per_read \
    -baseline minimal=baseline/token/load-per_read@1.0
  log "Raft: lease_mode=none against oauthapp's cached self/ read (about 5 minutes)"
  raft_load -label "single-node Raft Vault, unleased reads, readers with a ${kinds[0]} token" \
    -partner partner/token/load-none \
    -baseline oauthapp=oauthapp/self/load@1.2 \
    -baseline per-read=partner/token/load-per_read \
    -baseline kv-v2=kv-v2/data/load
fi
bench_cluster "$work/report.md" || status=1
log "report: ${work#"$root"/}/report.md, profiles: ${work#"$root"/}/profiles/"
exit "$status"
