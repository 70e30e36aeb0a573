#!/usr/bin/env bash
# get-vault.sh prints the path of a Vault binary for `make dev` and the
# end-to-end tests, building it first if needed.
#
#   VAULT_BIN=/usr/local/bin/vault scripts/get-vault.sh   # use an existing binary
#   scripts/get-vault.sh                                  # .cache/bin/vault-<version>
#
# Vault is built from the Go module proxy as a dependency of the tools module
# in tools/vault, so a machine with only Go installed can obtain it. The
# version is the one tools/vault/go.mod pins. The build takes 10-20 minutes
# on a 2-core machine; the binary is then reused from .cache/ (gitignored).
#
# Only the path goes to stdout; progress and errors go to stderr, so
# `vault=$(scripts/get-vault.sh)` works.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/vault"

log() { printf 'get-vault: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# An existing binary chosen by the user wins.
# It may be a command on PATH (VAULT_BIN=vault); the path printed is
# absolute, since callers run it from other directories.
if [[ -n "${VAULT_BIN:-}" ]]; then
  bin="$VAULT_BIN"
  [[ "$bin" == */* ]] || bin="$(command -v "$bin")" || die "VAULT_BIN=$VAULT_BIN is not a command on PATH"
  [[ -f "$bin" && -x "$bin" ]] || die "VAULT_BIN=$VAULT_BIN is not an executable file"
  "$bin" version >/dev/null 2>&1 || die "VAULT_BIN=$VAULT_BIN does not run \`version\`"
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  exit 0
fi

# The pinned version, from the require line of tools/vault/go.mod.
version="$(awk '$1 == "require" { $1 = ""; $0 = $0 } $1 == "github.com/hashicorp/vault" { print $2; exit }' "$tools/go.mod")"
[[ -n "$version" ]] || die "cannot find the github.com/hashicorp/vault version in $tools/go.mod"
version="${version#v}"

bindir="$root/.cache/bin"
bin="$bindir/vault-$version"

usable() { [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; }

if usable; then
  echo "$bin"
  exit 0
fi

# shellcheck source=build-tool.sh
. "$root/scripts/build-tool.sh"
build_tool "Vault $version" "$tools" github.com/hashicorp/vault "$bin" \
  "10-20 minutes on a 2-core machine" -ldflags "-s -w"
usable || die "the freshly built $bin does not run \`version\`"
echo "$bin"
