#!/usr/bin/env bash
# dev.sh runs a local playground: a Vault dev server with the freshly built
# plugin mounted at partner/, the partner simulator, and one demo config per
# simulated partner. It prints what to try, then waits; Ctrl-C stops
# everything it started. Needs only Go (Vault is built on first use, see
# scripts/get-vault.sh).
#
# Environment:
#   VAULT_DEV_ADDR   where Vault listens (default 127.0.0.1:8200)
#   SIM_ADDR         where the simulator listens (default 127.0.0.1:8300)
#   SIM_FLAGS        extra simulator flags, e.g. SIM_FLAGS='-lifetime dupr=30s'
#   VERSION          plugin version (default: scripts/version.sh)
#   VAULT_BIN        an existing Vault binary to use instead of building one
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'dev: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

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

listening "$vault_addr" && die "something already listens on $vault_addr (another Vault?); stop it or set VAULT_DEV_ADDR"
listening "$sim_addr" && die "something already listens on $sim_addr; stop it or set SIM_ADDR"

# --- build -------------------------------------------------------------------
log "building the plugin $version"
go build -ldflags "-X github.com/partnertoken/vault-plugin-secrets-partnertoken/backend.Version=$version" \
  -o "$work/plugins/$plugin" .
log "building the partner simulator"
go build -o "$work/bin/partnersim" ./cmd/partnersim
go build -o "$work/bin/jsonget" scripts/jsonget.go
vault_bin="$(scripts/get-vault.sh)"
# A `vault` on PATH for the commands printed at the end.
ln -sf "$vault_bin" "$work/bin/vault"
export PATH="$work/bin:$PATH"

# --- start, and stop on exit ------------------------------------------------------
pids=()
cleanup() {
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    log "stopping Vault and the simulator"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
# Ctrl-C is how a session ends: not an error.
trap 'exit 0' INT
trap 'exit 143' TERM

log "starting Vault on $vault_addr (log: ${work#"$root"/}/vault.log)"
vault server -dev -dev-root-token-id=root -dev-listen-address="$vault_addr" \
  -dev-plugin-dir="$work/plugins" >"$work/vault.log" 2>&1 &
pids+=($!)

log "starting the partner simulator on $sim_addr (log: ${work#"$root"/}/partnersim.log)"
# shellcheck disable=SC2086 # SIM_FLAGS is a list of flags
partnersim -addr "$sim_addr" ${SIM_FLAGS:-} >"$work/partnersim.json" 2>"$work/partnersim.log" &
pids+=($!)

export VAULT_ADDR="http://$vault_addr" VAULT_TOKEN=root

wait_started "$work" "${pids[@]}"

# --- register, mount, configure ----------------------------------------------
VAULT_BIN="$vault_bin" MOUNT="$mount" scripts/register.sh "$work/plugins/$plugin" "$version"

# The simulator listens on loopback, which the engine refuses as a token
# endpoint unless the mount allows it.
vault write "$mount/settings" allowed_token_url_hosts=127.0.0.1,::1 >/dev/null

sim="$work/partnersim.json"
partners=()
for name in $(jsonget "$sim" token_urls); do
  # The secret goes through stdin (client_secret=-), never onto a command line.
  jsonget "$sim" "clients.$name.secret" | vault write "$mount/config/$name" \
    provider="$name" \
    token_url="$(jsonget "$sim" "token_urls.$name")" \
    client_id="$(jsonget "$sim" "clients.$name.id")" \
    client_secret=- >/dev/null
  partners+=("$name")
done
log "configured ${partners[*]} at $mount/config/"

# A team policy and a Vault Agent config that renders the dupr token, to try.
vault policy write team-dupr - >/dev/null <<HCL
# Team dupr may read its partner token, nothing else of the engine.
path "$mount/token/dupr" {
  capabilities = ["read"]
}
HCL
vault token create -policy=team-dupr -ttl=24h -field=token >"$work/agent-token"
cat >"$work/agent.hcl" <<HCL
vault {
  address = "$VAULT_ADDR"
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

Vault $("$vault_bin" version | cut -d' ' -f2 | tr -d ,) is running at $VAULT_ADDR (root token: root) with
$plugin $version at $mount/, and the partner
simulator at http://$sim_addr. In another terminal:

  export PATH="$work/bin:\$PATH" VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root

  vault read $mount/token/dupr          # a partner token, leased until shortly before it expires
  vault list $mount/config              # ${partners[*]}
  vault read $mount/config/dupr         # the client secret is never shown
  vault read $mount/providers
  vault write -f $mount/refresh/dupr    # force a new token

  # A team that may only read the dupr token (policy team-dupr is written):
  vault policy read team-dupr
  VAULT_TOKEN=\$(vault token create -policy=team-dupr -field=token) vault read $mount/token/dupr

  # Vault Agent keeping a file with a valid dupr token (config written):
  vault agent -config=$work/agent.hcl
  cat $work/dupr.token

  # The template in that config:
  #   {{ with secret "$mount/token/dupr" }}{{ .Data.access_token }}{{ end }}

Logs: $work/vault.log (Vault and the plugin), $work/partnersim.log
Press Ctrl-C to stop.
EOF2

# Return when Vault or the simulator exits, or on Ctrl-C (the traps clean up).
wait -n "${pids[@]}" || true
die "Vault or the simulator exited; see $work/vault.log and $work/partnersim.log"
