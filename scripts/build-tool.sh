# build-tool.sh: builds a program the tests need (Vault, OpenTofu) from the
# Go module proxy, as a dependency of the tools/<name> module that pins its
# version, so a machine with only Go installed can obtain it. Sourced, not
# run; the caller defines log and die, which write to stderr.

# build_tool PRODUCT TOOLS_DIR PACKAGE BIN TAKES [GO BUILD FLAGS...]
# builds PACKAGE in the module TOOLS_DIR into BIN, printing progress to
# stderr every 30 seconds; TAKES says how long that is expected to take.
# Set CGO_ENABLED and the like in front of the call.
#
# One build at a time (with flock, where there is one): a second caller,
# say two terminals running `make dev` and `make test`, waits for the first
# and reuses the binary it built. The build goes to a temporary name,
# renamed at the end, so an interrupted build never leaves a half-written
# BIN.
build_tool() {
  local product="$1" tools="$2" package="$3" bin="$4" takes="$5"
  shift 5
  local bindir root
  bindir="$(dirname "$bin")"
  root="$(cd "$tools/../.." && pwd)"

  command -v go >/dev/null 2>&1 || die "Go is not installed: it is needed to build $product"
  mkdir -p "$bindir"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$bindir/.$(basename "$bin").lock"
    if ! flock -n 9; then
      log "another build of $product is running; waiting for it"
      flock 9
      [[ -x "$bin" ]] && return 0
    fi
  fi

  log "building $product from the Go module proxy into ${bin#"$root"/}"
  log "this takes $takes, and happens once"
  local tmp="$bin.tmp.$$" buildlog="$bin.build.log" start=$SECONDS elapsed build
  # `go build -v` prints each package as it compiles; count them for progress.
  (cd "$tools" && exec go build -v "$@" -o "$tmp" "$package") >"$buildlog" 2>&1 &
  build=$!
  # shellcheck disable=SC2064 # expand now: the trap outlives these locals
  trap "kill $build 2>/dev/null || true; rm -f '$tmp'" EXIT

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
    log "building $product failed; the last lines of $buildlog:"
    tail -n 30 "$buildlog" >&2
    exit 1
  fi
  mv -f "$tmp" "$bin"
  trap - EXIT
  elapsed=$((SECONDS - start))
  log "$(printf 'built %s in %dm%02ds' "$product" $((elapsed / 60)) $((elapsed % 60)))"
}
