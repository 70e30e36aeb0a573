#!/usr/bin/env bash
# dev.sh runs a local playground: a Vault (or OpenBao) dev server with the
# freshly built plugin mounted at partner/, the partner simulator, and one
# demo config per simulated partner. It prints what to try, then waits;
# Ctrl-C stops everything it started. Needs only Go (Vault is built on first
# use, see scripts/get-vault.sh; OpenBao comes from scripts/get-openbao.sh).
#
# Environment:
#   SERVER           vault (default) or openbao
#   VAULT_DEV_ADDR   where the server listens (default 127.0.0.1:8200)
#   SIM_ADDR         where the simulator listens (default 127.0.0.1:8300)
#   SIM_FLAGS        extra simulator flags, e.g. SIM_FLAGS='-lifetime dupr=30s'
#   VERSION          plugin version (default: scripts/version.sh)
#   VAULT_BIN        an existing Vault binary to use instead of building one
#   BAO_BIN          an existing OpenBao binary (SERVER=openbao)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'dev: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

# What differs between the servers: the binary, the CLI's name and the
# prefix of the variables it reads (VAULT_ADDR, BAO_ADDR).
case "${SERVER:-vault}" in
  vault) product=Vault cli=vault prefix=VAULT_ get_server=scripts/get-vault.sh ;;
  openbao) product=OpenBao cli=bao prefix=BAO_ get_server=scripts/get-openbao.sh ;;
  *) die "SERVER=$SERVER is not a server this playground runs: use vault or openbao" ;;
esac

vault_addr="${VAULT_DEV_ADDR:-127.0.0.1:8200}"
sim_addr="${SIM_ADDR:-127.0.0.1:8300}"
version="$(scripts/version.sh)"
plugin=vault-plugin-secrets-partnertoken
mount=partner

# Everything lives under .cache/dev (gitignored); the simulator's client
# secrets are written there, so keep it private.
umask 077
work="$root/.cache/dev"
mkdir -p "$work/plugins" "$work/bin"

listening "$vault_addr" && die "something already listens on $vault_addr (another $product?); stop it or set VAULT_DEV_ADDR"
listening "$sim_addr" && die "something already listens on $sim_addr; stop it or set SIM_ADDR"

# --- build -------------------------------------------------------------------
log "building the plugin $version"
go build -ldflags "-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version=$version" \
  -o "$work/plugins/$plugin" .
log "building the partner simulator"
go build -o "$work/bin/partnersim" ./internal/cmd/partnersim
go build -o "$work/bin/jsonget" scripts/jsonget.go
vault_bin="$("$get_server")"
# A `vault` (or `bao`) on PATH for the commands printed at the end; only the
# one of this session, so an earlier session's does not linger.
rm -f "$work/bin/vault" "$work/bin/bao"
ln -sf "$vault_bin" "$work/bin/$cli"
export PATH="$work/bin:$PATH"
# lib.sh asks `vault status`; on OpenBao that is `bao status`.
[[ $cli == vault ]] || vault() { bao "$@"; }

# --- start, and stop on exit ------------------------------------------------------
pids=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    log "stopping $product and the simulator"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
# Ctrl-C is how a session ends: not an error.
trap 'exit 0' INT
trap 'exit 143' TERM

log "starting $product on $vault_addr (log: ${work#"$root"/}/vault.log)"
"$cli" server -dev -dev-root-token-id=root -dev-listen-address="$vault_addr" \
  -dev-plugin-dir="$work/plugins" >"$work/vault.log" 2>&1 &
pids+=($!)

log "starting the partner simulator on $sim_addr (log: ${work#"$root"/}/partnersim.log)"
# shellcheck disable=SC2086 # SIM_FLAGS is a list of flags
partnersim -addr "$sim_addr" ${SIM_FLAGS:-} >"$work/partnersim.json" 2>"$work/partnersim.log" &
pids+=($!)

addr="http://$vault_addr"
export "${prefix}ADDR=$addr" "${prefix}TOKEN=root"

wait_started "$work" "${pids[@]}"

# --- register, mount, configure ----------------------------------------------
# register.sh drives either CLI through VAULT_BIN and VAULT_ADDR (the bao
# CLI reads VAULT_* when a BAO_* variable is unset).
VAULT_BIN="$vault_bin" VAULT_ADDR="$addr" VAULT_TOKEN=root MOUNT="$mount" \
  scripts/register.sh "$work/plugins/$plugin" "$version"

# The simulator listens on loopback, which the engine refuses as a token
# endpoint unless the mount allows it.
vault write "$mount/settings" allowed_token_url_hosts=127.0.0.1,::1 >/dev/null

sim="$work/partnersim.json"
partners=()
for name in $(jsonget "$sim" token_urls); do
  # The secret goes through stdin (client_secret=-), never onto a command line.
  jsonget "$sim" "clients.$name.secret" | "$cli" write "$mount/config/$name" \
    provider="$name" \
    token_url="$(jsonget "$sim" "token_urls.$name")" \
    client_id="$(jsonget "$sim" "clients.$name.id")" \
    client_secret=- >/dev/null
  partners+=("$name")
done
log "configured ${partners[*]} at $mount/config/"

# A team policy and an Agent config that renders the dupr token, to try.
"$cli" policy write team-dupr - >/dev/null <<HCL
# Team dupr may read its partner token, nothing else of the engine.
path "$mount/token/dupr" {
  capabilities = ["read"]
}
HCL
"$cli" token create -policy=team-dupr -ttl=24h -field=token >"$work/agent-token"
# The Agent's stanza is called vault on OpenBao too.
cat >"$work/agent.hcl" <<HCL
vault {
  address = "$addr"
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = "$work/agent-token"
    }
  }
}
template {
  contents    = "{{ with secret \"$mount/token/dupr\" }}{{ .Data.access_token }}{{ end }}"
  destination = "$work/dupr.token"
}
HCL

cat <<EOF2

$product $("$vault_bin" version | cut -d' ' -f2 | tr -d ,) is running at $addr (root token: root) with
$plugin $version at $mount/, and the partner
simulator at http://$sim_addr. In another terminal:

  export PATH="$work/bin:\$PATH" ${prefix}ADDR=$addr ${prefix}TOKEN=root

  $cli read $mount/token/dupr          # a partner token, leased until shortly before it expires
  $cli list $mount/config              # ${partners[*]}
  $cli read $mount/config/dupr         # the client secret is never shown
  $cli read $mount/providers
  $cli write -f $mount/refresh/dupr    # force a new token

  # A team that may only read the dupr token (policy team-dupr is written):
  $cli policy read team-dupr
  ${prefix}TOKEN=\$($cli token create -policy=team-dupr -field=token) $cli read $mount/token/dupr

  # $product Agent keeping a file with a valid dupr token (config written):
  $cli agent -config=$work/agent.hcl
  cat $work/dupr.token

  # The template in that config:
  #   {{ with secret "$mount/token/dupr" }}{{ .Data.access_token }}{{ end }}

Logs: $work/vault.log ($product and the plugin), $work/partnersim.log
Press Ctrl-C to stop.
EOF2

# Return when the server or the simulator exits, or on Ctrl-C (the traps clean up).
wait -n "${pids[@]}" || true
die "$product or the simulator exited; see $work/vault.log and $work/partnersim.log"
