#!/usr/bin/env bash
# release.sh builds the release artifacts of one version into dist/:
#
#   vault-plugin-secrets-partnertoken_<version>_<os>_<arch>.zip           the plugin binary and LICENSE
#   vault-plugin-secrets-partnertoken_<version>_<os>_<arch>.sbom.cdx.json CycloneDX SBOM of that binary
#   SHA256SUMS         sha256 of every zip and SBOM (`sha256sum -c SHA256SUMS`)
#   BINARY_SHA256SUMS  sha256 of every unzipped binary, the value for
#                      `vault plugin register -sha256=...`
#   <os>_<arch>/vault-plugin-secrets-partnertoken   the binaries themselves
#
# for linux/amd64, linux/arm64, darwin/amd64 and darwin/arm64. Binaries are
# static (CGO_ENABLED=0: they start in musl-based Vault images too), built
# with -trimpath and with the version compiled in, as Vault checks it
# against the version registered in its catalog.
#
#   scripts/release.sh                  version from scripts/version.sh: the tag on HEAD
#   VERSION=v1.2.3 scripts/release.sh   an explicit version
#   PLATFORMS="linux/amd64" scripts/release.sh   fewer platforms
#
# The SBOM tool, github.com/CycloneDX/cyclonedx-gomod, is built from the Go
# module proxy at the version tools/sbom/go.mod pins.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'release: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

plugin=vault-plugin-secrets-partnertoken
module=github.com/partnertoken/vault-plugin-secrets-partnertoken
platforms="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}"
version="$(scripts/version.sh)"
dist="$root/dist"

[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "version $version is not a semantic version such as v1.2.3 (set VERSION=v1.2.3)"
# A release must be reproducible from its commit.
[[ "$version" != *dirty* ]] ||
  die "version $version: the checkout has uncommitted changes; commit them, or set VERSION= to release anyway"
for tool in go sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

rm -rf "$dist"
mkdir -p "$dist"

# Files in the zips carry the commit's time, not the build's, so the same
# commit gives the same zips.
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

log "building cyclonedx-gomod (tools/sbom)"
cdx="$dist/.tools/cyclonedx-gomod"
(cd tools/sbom && go build -o "$cdx" github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod)
# Zips are written by a Go program, so no zip command is needed.
zip="$dist/.tools/zip"
go build -o "$zip" scripts/zip.go

for platform in $platforms; do
  os="${platform%/*}" arch="${platform#*/}"
  base="${plugin}_${version}_${os}_${arch}"
  dir="$dist/${os}_${arch}"
  log "building $base"
  mkdir -p "$dir"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" \
    go build -trimpath -ldflags "-s -w -X $module/backend.Version=$version" -o "$dir/$plugin" .
  "$zip" -mtime "$epoch" "$dist/$base.zip" "$dir/$plugin" LICENSE

  # The SBOM of this binary, from the module list Go embeds in it: exactly
  # what went into this platform's build (module selection depends on GOOS
  # and GOARCH). Without -licenses, which would fetch the main module from
  # the module proxy by this version.
  "$cdx" bin -json -std -version "$version" -output "$dist/$base.sbom.cdx.json" "$dir/$plugin" 2>"$dist/.tools/sbom.log" ||
    { cat "$dist/.tools/sbom.log" >&2; die "cyclonedx-gomod failed for $platform"; }
done
rm -rf "$dist/.tools"

(cd "$dist" && sha256sum -- *.zip *.sbom.cdx.json >SHA256SUMS)
(cd "$dist" && sha256sum -- */"$plugin" >BINARY_SHA256SUMS)

log "artifacts of $version in ${dist#"$root"/}/:"
(cd "$dist" && ls -1 -- *.zip *.json SHA256SUMS BINARY_SHA256SUMS) | sed 's/^/  /' >&2
log "register a binary with the sha256 of its platform (BINARY_SHA256SUMS), e.g. linux/amd64:"
sum="$(awk -v f="linux_amd64/$plugin" '$2 == f { print $1 }' "$dist/BINARY_SHA256SUMS")"
if [[ -n "$sum" ]]; then
  log "  vault plugin register -sha256=$sum -version=$version secret $plugin"
fi
