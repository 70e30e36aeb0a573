#!/usr/bin/env bash
# get-prometheus.sh prints two lines: the path of promtool, then the path
# of a Prometheus server, building them first if needed. `make test-rules`
# runs promtool on the alerting rules, and the end-to-end suite runs the
# server against a real Vault (TestPrometheus).
#
#   scripts/get-prometheus.sh                 # .cache/bin/{promtool,prometheus}-<version>
#   PROMTOOL_BIN=/usr/bin/promtool PROMETHEUS_BIN=/usr/bin/prometheus \
#     scripts/get-prometheus.sh               # existing binaries (a distribution's package)
#
# Both are built from the Go module proxy as dependencies of the tools
# module in tools/prometheus (scripts/build-tool.sh), so a machine with only
# Go installed can obtain them; the version is the one
# tools/prometheus/go.mod pins, the Prometheus module tests/go.mod parses
# the rules with. The build leaves out every service discovery but file and
# HTTP (the remove_all_sd tag of Prometheus' plugins/), which a static
# scrape job does not need, and happens once; the binaries are then reused
# from .cache/ (gitignored).
#
# Only the paths go to stdout; progress and errors go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/prometheus"
module=github.com/prometheus/prometheus

log() { printf 'get-prometheus: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# chosen BIN VAR: the absolute path of a binary the user chose (it may be a
# command on PATH), once it runs --version.
chosen() {
  local bin="$1" var="$2"
  [[ "$bin" == */* ]] || bin="$(command -v "$bin")" || die "$var=$1 is not a command on PATH"
  [[ -f "$bin" && -x "$bin" ]] || die "$var=$1 is not an executable file"
  "$bin" --version >/dev/null 2>&1 || die "$var=$1 does not run \`--version\`"
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

# The pinned version, from the require line of tools/prometheus/go.mod.
version="$(awk -v m="$module" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m { print $2; exit }' "$tools/go.mod")"
[[ -n "$version" ]] || die "cannot find the $module version in $tools/go.mod"

promtool="$root/.cache/bin/promtool-${version#v}"
prometheus="$root/.cache/bin/prometheus-${version#v}"
[[ -z "${PROMTOOL_BIN:-}" ]] || promtool="$(chosen "$PROMTOOL_BIN" PROMTOOL_BIN)"
[[ -z "${PROMETHEUS_BIN:-}" ]] || prometheus="$(chosen "$PROMETHEUS_BIN" PROMETHEUS_BIN)"

usable() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

if ! usable "$promtool" || ! usable "$prometheus"; then
  # What `prometheus --version` reports: the release the module version
  # stands for (v0.316.0 is Prometheus 3.16.0), from the module's VERSION
  # file.
  dir="$(cd "$tools" && go mod download -json "$module" | awk -F'"' '$2 == "Dir" { print $4 }')"
  release="$(cat "$dir/VERSION" 2>/dev/null || echo "${version#v}")"
  # shellcheck source=build-tool.sh
  . "$root/scripts/build-tool.sh"
  # promtool first: the server shares most of its packages.
  for cmd in promtool:"5-10 minutes on a 2-core machine" prometheus:"a few more minutes"; do
    takes="${cmd#*:}" cmd="${cmd%%:*}"
    bin="${!cmd}"
    usable "$bin" && continue
    build_tool "$cmd $release ($module $version)" "$tools" "$module/cmd/$cmd" "$bin" "$takes" \
      -trimpath -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release"
    usable "$bin" || die "the freshly built $bin does not run \`--version\`"
  done
fi
echo "$promtool"
echo "$prometheus"
