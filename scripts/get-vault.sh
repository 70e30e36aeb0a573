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

command -v go >/dev/null 2>&1 || die "Go is not installed: it is needed to build Vault $version (or set VAULT_BIN)"
mkdir -p "$bindir"

# One build at a time: a second caller (say, two terminals running
# `make dev` and `make test`) waits for the first and reuses its binary.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bindir/.vault-$version.lock"
  if ! flock -n 9; then
    log "another build of Vault $version is running; waiting for it"
    flock 9
  fi
  if usable; then
    echo "$bin"
    exit 0
  fi
fi

log "building Vault $version from the Go module proxy into ${bin#"$root"/}"
log "this takes 10-20 minutes on a 2-core machine, and happens once"

# Build into a temporary name and rename at the end, so an interrupted build
# never leaves a half-written binary at the final path.
tmp="$bin.tmp.$$"
buildlog="$bindir/vault-$version.build.log"
start=$SECONDS

# `go build -v` prints each package as it compiles; count them for progress.
(cd "$tools" && exec go build -v -ldflags "-s -w" -o "$tmp" github.com/hashicorp/vault) >"$buildlog" 2>&1 &
build=$!
trap 'kill "$build" 2>/dev/null || true; rm -f "$tmp"' EXIT

while kill -0 "$build" 2>/dev/null; do
  # Sleep in short steps so a finished build is noticed within a second,
  # and report every 30 seconds.
  for _ in $(seq 30); do
    kill -0 "$build" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$build" 2>/dev/null; then
    elapsed=$((SECONDS - start))
    log "$(printf '%dm%02ds elapsed, %d packages compiled so far' $((elapsed / 60)) $((elapsed % 60)) "$(grep -c . "$buildlog" || true)")"
  fi
done

if ! wait "$build"; then
  log "building Vault $version failed; the last lines of $buildlog:"
  tail -n 30 "$buildlog" >&2
  exit 1
fi
mv -f "$tmp" "$bin"
trap - EXIT
elapsed=$((SECONDS - start))
log "$(printf 'built Vault %s in %dm%02ds' "$version" $((elapsed / 60)) $((elapsed % 60)))"
usable || die "the freshly built $bin does not run \`version\`"
echo "$bin"
