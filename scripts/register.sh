#!/usr/bin/env bash
# register.sh registers a built plugin binary with a running Vault and mounts
# it, or upgrades the mount when it already exists.
#
#   scripts/register.sh <plugin-binary> [version]
#
# The binary must already sit in the server's plugin directory (the
# `plugin_directory` setting or `-dev-plugin-dir`); Vault runs it from there
# and checks it against the SHA-256 registered here. The version must be the
# one compiled into the binary (-ldflags -X .../backend.Version=...), since
# Vault refuses a plugin whose self-reported version differs; it defaults to
# $PLUGIN_VERSION, else scripts/version.sh.
#
# Environment:
#   VAULT_ADDR, VAULT_TOKEN  the server and a token allowed to manage plugins
#                            and mounts (as for the vault CLI)
#   VAULT_BIN                vault CLI to use (default: vault on PATH, else
#                            the one scripts/get-vault.sh provides)
#   MOUNT                    mount path (default: partner)
#   PLUGIN_NAME              catalog name (default: vault-plugin-secrets-partnertoken)
#
# What it runs, for a binary in the plugin directory:
#   vault plugin register -sha256=<sum> -version=<v> -command=<file> secret <name>
#   vault secrets enable -path=<mount> -plugin-version=<v> <name>     (new mount)
#   vault secrets tune -plugin-version=<v> <mount>/ and
#   vault plugin reload -plugin=<name>                                (existing mount)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'register: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 <plugin-binary> [version]"
binary="$1"
version="${2:-${PLUGIN_VERSION:-$("$here/version.sh")}}"
mount="${MOUNT:-partner}"
mount="${mount%/}"
name="${PLUGIN_NAME:-vault-plugin-secrets-partnertoken}"

[[ -f "$binary" && -x "$binary" ]] || die "$binary is not an executable file: build it first (make build)"
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || die "version $version is not a semantic version such as v1.2.3"
[[ -n "${VAULT_ADDR:-}" ]] || die "VAULT_ADDR is not set: point it at the running Vault"

if [[ -n "${VAULT_BIN:-}" ]]; then
  vault="$VAULT_BIN"
elif command -v vault >/dev/null 2>&1; then
  vault="$(command -v vault)"
else
  vault="$("$here/get-vault.sh")"
fi

if command -v sha256sum >/dev/null 2>&1; then
  sum="$(sha256sum "$binary" | cut -d' ' -f1)"
else
  sum="$(shasum -a 256 "$binary" | cut -d' ' -f1)" # macOS
fi

log "registering $name $version (sha256 ${sum:0:12}...) from $(basename "$binary")"
"$vault" plugin register -sha256="$sum" -version="$version" -command="$(basename "$binary")" secret "$name" >/dev/null

# GET sys/mounts/<path> answers only for an existing mount.
if type="$("$vault" read -field=type "sys/mounts/$mount" 2>/dev/null)"; then
  [[ "$type" == "$name" ]] || die "$mount/ is already a mount of $type; choose another MOUNT"
  current="$("$vault" read -field=plugin_version "sys/mounts/$mount" 2>/dev/null || true)"
  log "upgrading the mount at $mount/ from ${current:-an unversioned plugin} to $version"
  "$vault" secrets tune -plugin-version="$version" "$mount/" >/dev/null
  # Restart the plugin so the mount runs the newly registered binary.
  "$vault" plugin reload -plugin="$name" >/dev/null
else
  log "mounting $name $version at $mount/"
  "$vault" secrets enable -path="$mount" -plugin-version="$version" \
    -description="Partner API bearer tokens" "$name" >/dev/null
fi
log "done: try \`vault read $mount/providers\`"
