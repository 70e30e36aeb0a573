#!/usr/bin/env bash
# bench-cluster.sh is the cluster mode of `make bench` (MODES=cluster): how
# reads of a lease_mode=none config spread over a 3-node OpenBao cluster,
# whose standbys serve reads themselves (BENCHMARKS.md, "Reads through a
# cluster's standbys"):
#
#   1. builds the plugin, the partner simulator and the load tool
#      (tests/load), and finds OpenBao (scripts/get-openbao.sh);
#   2. starts three `bao server` processes on integrated storage (Raft) on
#      loopback, initialises the first with one unseal key, joins and
#      unseals the other two, and starts the simulator;
#   3. registers the plugin by SHA-256, mounts it at partner/ and waits
#      until every node serves the mount;
#   4. runs the load tool's cluster mode: one load generator per node, all
#      at once, on one lease_mode=none config; it reports the reads per
#      second through each node and how many of them the active node's
#      engine answered (goal: none of the standbys');
#   5. stops everything it started.
#
# The three servers, their plugins, the simulator and the load generators
# share this machine's CPUs: compare where the reads were answered, not the
# total rate.
#
# The report goes to stdout (bench.sh appends it to its own) and to
# .cache/bench-cluster/report.md. The exit status is 1 if the goal was
# missed, 2 if no OpenBao binary is available (see scripts/get-openbao.sh).
#
# Environment:
#   LOAD_FLAGS   extra flags for the load tool, e.g. LOAD_FLAGS='-cluster-duration 60s -clients 8'
#   VERSION      plugin version (default: scripts/version.sh)
#   BAO_BIN      an existing OpenBao binary to use
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'bench-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

status=0
bao_bin="$(scripts/get-openbao.sh)" || status=$?
((status == 0)) || exit "$status"

version="${VERSION:-$(scripts/version.sh)}"
plugin=vault-plugin-secrets-partnertoken
nodes=3

umask 077 # the simulator's demo secrets land in the work directory
work="$root/.cache/bench-cluster"
rm -rf "$work"
mkdir -p "$work/plugins" "$work/bin"

log "building $plugin $version, the simulator and the load tool"
go build -ldflags "-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version=$version" \
  -o "$work/plugins/$plugin" .
go build -o "$work/bin/partnersim" ./internal/cmd/partnersim
go build -o "$work/bin/jsonget" scripts/jsonget.go
(cd tests && go build -o "$work/bin/load" ./load)
jsonget() { "$work/bin/jsonget" "$@"; }

pids=()
cleanup() {
  local code=$? p plugins=()
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    log "stopping the cluster and the simulator"
    for p in "${pids[@]}"; do
      mapfile -t -O "${#plugins[@]}" plugins < <(pgrep -P "$p" || true)
    done
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    if ((${#plugins[@]})); then kill "${plugins[@]}" 2>/dev/null || true; fi
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- start --------------------------------------------------------------------
addrs=()
for i in $(seq "$nodes"); do
  port="$(free_port)"
  dir="$work/node$i"
  mkdir -p "$dir/raft"
  # performance_multiplier 1: Raft's fastest timing, as the e2e cluster.
  cat >"$dir/bao.hcl" <<HCL
disable_mlock    = true
ui               = false
api_addr         = "http://127.0.0.1:$port"
cluster_addr     = "https://127.0.0.1:$((port + 1))"
plugin_directory = "$work/plugins"

storage "raft" {
  path                   = "$dir/raft"
  node_id                = "node$i"
  performance_multiplier = 1
}

listener "tcp" {
  address         = "127.0.0.1:$port"
  cluster_address = "127.0.0.1:$((port + 1))"
  tls_disable     = true
}
HCL
  # Warnings only: a debug line per request would be part of what is measured.
  HOME="$dir" "$bao_bin" server -config="$dir/bao.hcl" -log-level=warn >"$dir/bao.log" 2>&1 &
  pids+=($!)
  addrs+=("http://127.0.0.1:$port")
done
"$work/bin/partnersim" -addr 127.0.0.1:0 >"$work/partnersim.json" 2>"$work/partnersim.log" &
pids+=($!)

# bao ADDR ARGS...: the OpenBao CLI against one node.
bao() {
  local addr="$1"
  shift
  BAO_ADDR="$addr" BAO_TOKEN="${root_token:-}" HOME="$work" "$bao_bin" "$@"
}
# health ADDR prints the HTTP status of the node's sys/health (000: no
# answer), with bash's /dev/tcp: the scripts need no HTTP client.
health() {
  local hostport="${1#http://}" code=""
  if { exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; } 2>/dev/null; then
    printf 'GET /v1/sys/health HTTP/1.0\r\nHost: %s\r\n\r\n' "$hostport" >&3
    read -r _ code _ <&3 || true
    exec 3<&-
  fi
  echo "${code:-000}"
}
# wait_for WHAT COMMAND...: retries COMMAND for up to 90 s.
wait_for() {
  local what="$1" i
  shift
  for ((i = 0; ; i++)); do
    "$@" >/dev/null 2>&1 && return
    for p in "${pids[@]}"; do
      kill -0 "$p" 2>/dev/null || die "a process exited early; see $work/node*/bao.log and $work/partnersim.log"
    done
    ((i < 180)) || die "$what did not happen within 90s"
    sleep 0.5
  done
}
answers() { [[ "$(health "$1")" != 000 ]]; }
unsealed() { [[ "$(health "$1")" =~ ^(200|429)$ ]]; }
active() { [[ "$(health "$1")" == 200 ]]; }

for a in "${addrs[@]}"; do wait_for "$a answering" answers "$a"; done
wait_for "the simulator's handshake" test -s "$work/partnersim.json"

log "forming the cluster: ${addrs[*]} (logs: ${work#"$root"/}/node*/bao.log)"
bao "${addrs[0]}" operator init -key-shares=1 -key-threshold=1 -format=json >"$work/init.json"
unseal_key="$(jsonget "$work/init.json" unseal_keys_b64 | tr -d '[]" \n')"
root_token="$(jsonget "$work/init.json" root_token)"
bao "${addrs[0]}" operator unseal "$unseal_key" >/dev/null
wait_for "${addrs[0]} becoming active" active "${addrs[0]}"
for a in "${addrs[@]:1}"; do
  bao "$a" operator raft join "${addrs[0]}" >/dev/null
  bao "$a" operator unseal "$unseal_key" >/dev/null
  wait_for "$a joining as a standby" unsealed "$a"
done

sha="$(sha256sum "$work/plugins/$plugin" | cut -d' ' -f1)"
bao "${addrs[0]}" plugin register -sha256="$sha" -version="$version" -command="$plugin" secret "$plugin" >/dev/null
bao "${addrs[0]}" secrets enable -path=partner -plugin-version="$version" "$plugin" >/dev/null
# A standby that serves reads itself sets a new mount up a moment later.
for a in "${addrs[@]}"; do wait_for "$a serving partner/" bao "$a" read partner/providers; done
# The simulator listens on loopback, which the engine refuses as a token
# endpoint unless the mount allows it.
bao "${addrs[0]}" write partner/settings allowed_token_url_hosts=127.0.0.1 >/dev/null
bao "${addrs[0]}" policy write bench-read - >/dev/null <<'HCL'
path "partner/token/*" { capabilities = ["read"] }
HCL
read_token="$(bao "${addrs[0]}" token create -policy=bench-read -ttl=24h -field=token)"

# --- measure --------------------------------------------------------------------
log "cluster mode: one load generator per node, all at once"
# shellcheck disable=SC2206 # LOAD_FLAGS is a list of flags
extra=(${LOAD_FLAGS:-})
"$work/bin/load" -modes cluster -label "3-node OpenBao $("$bao_bin" version | cut -d' ' -f2) cluster (Raft), readers with a bench-read token" \
  -clients 4 -addr "${addrs[0]}" -cluster "$(IFS=,; echo "${addrs[*]}")" -token "$root_token" -read-token "$read_token" \
  -sim-handshake "$work/partnersim.json" "${extra[@]}" | tee "$work/report.md" || status=1
exit "$status"
