#!/usr/bin/env bash
# version.sh prints the plugin version to build and register: a semantic
# version with a leading v, as Vault requires for `plugin register -version`.
#
#   VERSION=v1.2.3 scripts/version.sh   -> v1.2.3 (an explicit choice wins)
#   on a tag v1.2.3                     -> v1.2.3 (what make release ships)
#   on a tag v1.2.3, edited             -> v1.2.3-dirty
#   3 commits after v1.2.3              -> v1.2.4-dev.3.gabc1234 (+ .dirty)
#   no tag yet                          -> v0.1.0-dev.gabc1234 (+ .dirty)
#   not a git checkout                  -> v0.1.0-dev
#
# Builds after a tag are pre-releases of the next patch version, so they
# sort after the tag they follow (semver: v1.2.3-x < v1.2.3 < v1.2.4-x).
set -euo pipefail

if [[ -n "${VERSION:-}" ]]; then
  echo "$VERSION"
  exit 0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
default=v0.1.0-dev

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "$default"
elif v="$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)"; then
  if [[ "$v" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)-([0-9]+)-g([0-9a-f]+)(-dirty)?$ ]]; then
    m=("${BASH_REMATCH[@]}")
    v="v${m[1]}.${m[2]}.$((m[3] + 1))-dev.${m[4]}.g${m[5]}${m[6]:+.dirty}"
  fi
  echo "$v"
else
  # No release tag yet: the commit goes into the pre-release part. The
  # g prefix keeps an all-digit hash from being a (then invalid) number.
  v="$default.g$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    v="$v.dirty"
  fi
  echo "$v"
fi
