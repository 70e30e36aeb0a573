#!/usr/bin/env bash
# get-prometheus.sh prints two lines: the path of promtool, then the path
# of a Prometheus server, building them first if needed. `make test` runs
# promtool on the alerting rules (make test-rules), and the end-to-end suite
# runs the server against a real Vault (TestPrometheus).
#
#   scripts/get-prometheus.sh                 # .cache/bin/{promtool,prometheus}-<version>
#   PROMTOOL_BIN=/usr/bin/promtool PROMETHEUS_BIN=/usr/bin/prometheus \
#     scripts/get-prometheus.sh               # existing binaries (a distribution's package)
#
# Both are built from the Go module proxy as dependencies of the tools
# module in tools/prometheus, so a machine with only Go installed can
# obtain them; the version is the one tools/prometheus/go.mod pins, the
# same Prometheus module tests/go.mod parses the rules with. The build
# leaves out every service discovery but file and HTTP (the remove_all_sd
# tag of Prometheus' plugins/), which a static scrape job does not need,
# and happens once; the binaries are then reused from .cache/ (gitignored).
#
# Only the paths go to stdout; progress and errors go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/prometheus"

log() { printf 'get-prometheus: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# absolute BIN VAR: the absolute path of a binary the user chose (it may be
# a command on PATH), once it runs --version.
absolute() {
  local bin="$1" var="$2"
  [[ "$bin" == */* ]] || bin="$(command -v "$bin")" || die "$var=$1 is not a command on PATH"
  [[ -f "$bin" && -x "$bin" ]] || die "$var=$1 is not an executable file"
  "$bin" --version >/dev/null 2>&1 || die "$var=$1 does not run \`--version\`"
  echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

# The pinned version, from the require line of tools/prometheus/go.mod.
module=github.com/prometheus/prometheus
version="$(awk -v m="$module" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m { print $2; exit }' "$tools/go.mod")"
[[ -n "$version" ]] || die "cannot find the $module version in $tools/go.mod"

bindir="$root/.cache/bin"
promtool="$bindir/promtool-${version#v}"
prometheus="$bindir/prometheus-${version#v}"
[[ -z "${PROMTOOL_BIN:-}" ]] || promtool="$(absolute "$PROMTOOL_BIN" PROMTOOL_BIN)"
[[ -z "${PROMETHEUS_BIN:-}" ]] || prometheus="$(absolute "$PROMETHEUS_BIN" PROMETHEUS_BIN)"

usable() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }
# missing lists the commands (cmd/promtool, cmd/prometheus) still to build.
missing() {
  usable "$promtool" || echo promtool
  usable "$prometheus" || echo prometheus
}

done_() {
  echo "$promtool"
  echo "$prometheus"
  exit 0
}

[[ -n "$(missing)" ]] || done_

command -v go >/dev/null 2>&1 || die "Go is not installed: it is needed to build Prometheus $version (or set PROMTOOL_BIN and PROMETHEUS_BIN)"
mkdir -p "$bindir"

# One build at a time: a second caller waits for the first and reuses its
# binaries.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bindir/.prometheus-$version.lock"
  if ! flock -n 9; then
    log "another build of Prometheus $version is running; waiting for it"
    flock 9
  fi
  [[ -n "$(missing)" ]] || done_
fi

# What `prometheus --version` reports: the release the module version
# stands for (v0.316.0 is Prometheus 3.16.0), from the module's VERSION file.
dir="$(cd "$tools" && go mod download -json "$module" | awk -F'"' '$2 == "Dir" { print $4 }')"
release="$(cat "$dir/VERSION" 2>/dev/null || echo "${version#v}")"

buildlog="$bindir/prometheus-$version.build.log"
: >"$buildlog"
start=$SECONDS
for cmd in $(missing); do
  case "$cmd" in
    promtool) bin="$promtool" ;;
    prometheus) bin="$prometheus" ;;
  esac
  log "building $cmd $release ($module $version) from the Go module proxy into ${bin#"$root"/}"
  # Build into a temporary name and rename at the end, so an interrupted
  # build never leaves a half-written binary at the final path.
  tmp="$bin.tmp.$$"
  # `go build -v` prints each package as it compiles; count them for progress.
  (cd "$tools" && exec go build -v -trimpath -tags remove_all_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    -o "$tmp" "$module/cmd/$cmd") >>"$buildlog" 2>&1 &
  build=$!
  trap 'kill "$build" 2>/dev/null || true; rm -f "$tmp"' EXIT
  while kill -0 "$build" 2>/dev/null; do
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
    log "building $cmd $version failed; the last lines of $buildlog:"
    tail -n 30 "$buildlog" >&2
    exit 1
  fi
  mv -f "$tmp" "$bin"
  trap - EXIT
  usable "$bin" || die "the freshly built $bin does not run \`--version\`"
done
elapsed=$((SECONDS - start))
log "$(printf 'built Prometheus %s in %dm%02ds' "$release" $((elapsed / 60)) $((elapsed % 60)))"
done_
