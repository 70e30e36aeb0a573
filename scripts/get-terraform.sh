#!/usr/bin/env bash
# get-terraform.sh obtains OpenTofu and terraform-provider-vault for the
# end-to-end test of examples/terraform (TestTerraform) and prints two
# lines: the path of the tofu binary, then the path of a CLI configuration
# file for TF_CLI_CONFIG_FILE, which says where `tofu init` gets the
# provider.
#
#   scripts/get-terraform.sh
#   TF_DIST=/path/to/dist scripts/get-terraform.sh   # the archives from elsewhere
#
# The provider (hashicorp/vault) comes from registry.opentofu.org when the
# registry answers; else from terraform-provider-vault_v<version>-linux-amd64.xz
# in TF_DIST (default: shared/terraform beside the main checkout), laid out
# as a filesystem mirror that the CLI configuration makes tofu install it
# from, with no network.
#
# OpenTofu is `tofu` on PATH; else tofu-<version>-linux-amd64.xz in
# TF_DIST; else it is built from the Go module proxy (the version
# tools/tofu/go.mod pins) into .cache/bin once. It is obtained only when the
# provider is, since the test needs both.
#
# A binary from TF_DIST is used only if its SHA-256 is the one pinned below
# (from TF_DIST/README.md, which gives their provenance); an existing
# install is reused when it still matches.
#
# Exit status 2 means the provider is available from neither place; then
# the one line on stdout says why (`make test` skips TestTerraform with a
# warning, except in CI). Any other failure is 1. Progress and errors go to
# stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/tofu"

tofu_sha256=efe505470baad1870aa84c50e40f024549d14875dc22cb8200089be2e0168b4d
provider_version=5.11.0
provider_sha256=b6a18959e7deae03363e2893bc9c174a8c89f8a733ea740056b78527fa902f9d
registry=registry.opentofu.org

log() { printf 'get-terraform: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
unavailable() {
  log "$*"
  echo "$*"
  exit 2
}

# The pinned version, from the require line of tools/tofu/go.mod.
tofu_version="$(awk '$1 == "require" { $1 = ""; $0 = $0 } $1 == "github.com/opentofu/opentofu" { print $2; exit }' "$tools/go.mod")"
[[ -n "$tofu_version" ]] || die "cannot find the github.com/opentofu/opentofu version in $tools/go.mod"
tofu_version="${tofu_version#v}"

# The distribution folder sits next to the main checkout (a worktree's
# ../ is somewhere else, so it is found through git's common directory).
if [[ -z "${TF_DIST:-}" ]]; then
  main="$root"
  if common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; then
    main="$(dirname "$common")"
  fi
  TF_DIST="$(dirname "$main")/shared/terraform"
fi
tofu_xz="$TF_DIST/tofu-$tofu_version-linux-amd64.xz"
provider_xz="$TF_DIST/terraform-provider-vault_v$provider_version-linux-amd64.xz"

cache="$root/.cache/terraform"
mirror="$cache/mirror"
cli_config="$cache/tofurc"
mkdir -p "$cache"
# Two concurrent runs (two terminals) would race on the same files.
if command -v flock >/dev/null 2>&1; then
  exec 8>"$cache/.lock"
  flock 8
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1 # macOS
  fi
}

# archive_usable XZ says whether the archive XZ can be unpacked here: it
# exists, holds a linux/amd64 binary, and xz is installed. If not, it sets
# why.
why=""
archive_usable() {
  if [[ ! -f "$1" ]]; then
    why="there is no $1 (set TF_DIST to a folder that has it)"
  elif [[ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]]; then
    why="$1 is for linux/amd64, this is $(uname -s)/$(uname -m)"
  elif ! command -v xz >/dev/null 2>&1; then
    why="xz, which unpacks $1, is not installed"
  else
    return 0
  fi
  return 1
}

# unpack decompresses the archive XZ into DEST through a temporary file,
# checks its SHA-256 and only then moves it into place, so a failed or
# tampered copy never sits at the final path.
unpack() {
  local xz="$1" want="$2" dest="$3"
  [[ -x "$dest" && "$(sha256 "$dest")" == "$want" ]] && return 0
  mkdir -p "$(dirname "$dest")"
  local tmp="$dest.tmp.$$" got
  xz -dc "$xz" >"$tmp"
  got="$(sha256 "$tmp")"
  if [[ "$got" != "$want" ]]; then
    rm -f "$tmp"
    die "$xz decompresses to SHA-256 $got, expected $want: refusing to use it"
  fi
  chmod +x "$tmp"
  mv -f "$tmp" "$dest"
  log "unpacked ${dest#"$root"/} from $xz"
}

# The provider first: without it the test cannot run, and OpenTofu need
# not be built. A stale CLI configuration must not outlive its mirror.
rm -f "$cli_config" "$cache/tofu"
registry_error="$(curl -fsS --connect-timeout 3 --max-time 10 -o /dev/null \
  "https://$registry/v1/providers/hashicorp/vault/versions" 2>&1)" ||
  registry_error="${registry_error:-curl failed}"
if [[ -z "$registry_error" ]]; then
  log "$registry answers: tofu init installs hashicorp/vault from it"
  mkdir -p "$cache/plugin-cache"
  provider_installation="# The providers come from their registries, downloaded once into
# plugin_cache_dir.
plugin_cache_dir = \"$cache/plugin-cache\""
elif archive_usable "$provider_xz"; then
  log "$registry cannot be reached ($registry_error); hashicorp/vault comes from $provider_xz"
  unpack "$provider_xz" "$provider_sha256" \
    "$mirror/$registry/hashicorp/vault/$provider_version/linux_amd64/terraform-provider-vault_v$provider_version"
  # Only the Vault provider comes from the mirror; anything else the
  # configuration asked for would be fetched directly (and fail here,
  # which is what should happen: the example needs nothing else).
  provider_installation="# hashicorp/vault comes from the local filesystem mirror, never from the
# network.
provider_installation {
  filesystem_mirror {
    path    = \"$mirror\"
    include = [\"$registry/hashicorp/vault\"]
  }
  direct {
    exclude = [\"$registry/hashicorp/vault\"]
  }
}"
else
  unavailable "no terraform-provider-vault: $registry cannot be reached ($registry_error), and $why"
fi

if tofu="$(command -v tofu)"; then
  log "using $tofu ($("$tofu" version 2>/dev/null | head -n 1))"
elif archive_usable "$tofu_xz"; then
  tofu="$cache/tofu-$tofu_version"
  unpack "$tofu_xz" "$tofu_sha256" "$tofu"
else
  tofu="$root/.cache/bin/tofu-$tofu_version"
  if [[ ! -x "$tofu" ]]; then
    log "no tofu on PATH, and $why"
    # shellcheck source=build-tool.sh
    . "$root/scripts/build-tool.sh"
    # Built as Vault is (cgo as the machine has it, no -trimpath), so the
    # two share what they can of Go's build cache. version.dev=no drops the
    # -dev suffix from `tofu version`, as in OpenTofu's release builds.
    build_tool "OpenTofu $tofu_version" "$tools" github.com/opentofu/opentofu/cmd/tofu "$tofu" \
      "5-10 minutes on a 2-core machine" -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no"
  fi
fi
"$tofu" version >/dev/null 2>&1 || die "$tofu does not run \`version\`"

cat >"$cli_config.tmp" <<EOF
# Written by scripts/get-terraform.sh.
$provider_installation
EOF
mv -f "$cli_config.tmp" "$cli_config"
# Where the test finds OpenTofu when run without make (cd tests && go test).
ln -sfn "$tofu" "$cache/tofu"

echo "$tofu"
echo "$cli_config"
