#!/usr/bin/env bash
# get-terraform.sh installs OpenTofu and terraform-provider-vault into
# .cache/terraform/ for the end-to-end test of examples/terraform, and
# prints two lines: the path of the tofu binary, then the path of a CLI
# configuration file for TF_CLI_CONFIG_FILE.
#
#   scripts/get-terraform.sh                        # from ../shared/terraform
#   TF_DIST=/path/to/dist scripts/get-terraform.sh  # from elsewhere
#
# The provider registry is not reachable from the machines this project is
# built on, so both come as xz-compressed static linux/amd64 binaries in a
# folder next to the main checkout (see its README.md for their provenance
# and licenses). The provider is laid out as a filesystem mirror and the CLI
# configuration makes OpenTofu install it from there, with no network.
# Each binary is checked against the SHA-256 pinned below before use; an
# existing install is reused when it still matches.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

tofu_version=1.10.10
tofu_sha256=efe505470baad1870aa84c50e40f024549d14875dc22cb8200089be2e0168b4d
provider_version=5.11.0
provider_sha256=b6a18959e7deae03363e2893bc9c174a8c89f8a733ea740056b78527fa902f9d
platform=linux_amd64

log() { printf 'get-terraform: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The distribution folder sits next to the main checkout (a worktree's
# ../ is somewhere else, so it is found through git's common directory).
if [[ -z "${TF_DIST:-}" ]]; then
  main="$root"
  if common="$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; then
    main="$(dirname "$common")"
  fi
  TF_DIST="$(dirname "$main")/shared/terraform"
fi
tofu_xz="$TF_DIST/tofu-$tofu_version-${platform/_/-}.xz"
provider_xz="$TF_DIST/terraform-provider-vault_v$provider_version-${platform/_/-}.xz"

[[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]] ||
  die "the binaries in $TF_DIST are for $platform only; this machine is $(uname -s)/$(uname -m)"

cache="$root/.cache/terraform"
tofu="$cache/tofu-$tofu_version"
mirror="$cache/mirror"
provider_dir="$mirror/registry.opentofu.org/hashicorp/vault/$provider_version/$platform"
provider="$provider_dir/terraform-provider-vault_v$provider_version"
cli_config="$cache/tofurc"

matches() { [[ -x "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

# install decompresses an .xz into dest through a temporary file, checks
# its SHA-256 and only then moves it into place, so a failed or tampered
# copy never sits at the final path.
install() {
  local xz="$1" want="$2" dest="$3"
  matches "$dest" "$want" && return 0
  [[ -f "$xz" ]] || die "$xz not found: put the OpenTofu and provider binaries there, or set TF_DIST to their folder"
  mkdir -p "$(dirname "$dest")"
  local tmp="$dest.tmp.$$"
  xz -dc "$xz" >"$tmp"
  local got
  got="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [[ "$got" != "$want" ]]; then
    rm -f "$tmp"
    die "$xz decompresses to SHA-256 $got, expected $want: refusing to use it"
  fi
  chmod +x "$tmp"
  mv -f "$tmp" "$dest"
  log "installed ${dest#"$root"/}"
}

mkdir -p "$cache"
# Two concurrent runs (two terminals) would race on the same files.
exec 9>"$cache/.lock"
flock 9

install "$tofu_xz" "$tofu_sha256" "$tofu"
install "$provider_xz" "$provider_sha256" "$provider"

# Only the Vault provider comes from the mirror; anything else the
# configuration asked for would be fetched directly (and fail here, which
# is what should happen: the example needs nothing else).
cat >"$cli_config.tmp" <<EOF
# Written by scripts/get-terraform.sh: install hashicorp/vault from the
# local filesystem mirror, never from the network.
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.opentofu.org/hashicorp/vault"]
  }
  direct {
    exclude = ["registry.opentofu.org/hashicorp/vault"]
  }
}
EOF
mv -f "$cli_config.tmp" "$cli_config"

echo "$tofu"
echo "$cli_config"
