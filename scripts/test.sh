#!/usr/bin/env bash
# test.sh is `make test`: it runs the passes of the suite one after the
# other through make (make check, test-unit, test-fuzz, test-rules, then
# test-e2e-<server> for each of E2E_SERVERS) and ends with a summary of
# which passes ran, which were skipped and why, and how long each took,
# TestTerraform and TestPrometheus within each end-to-end pass included. It
# exits non-zero, after the summary, if a pass failed.
#
# A failure of check, unit, fuzz or rules ends the run (the end-to-end
# passes would only take long to say less); the end-to-end passes all run.
#
# The passes report what make alone cannot see through files in
# PARTNERTOKEN_SUMMARY_DIR: a pass that skips itself, or fails for want of
# something, writes why ("skipped WHY", "failed WHY") to a file named after
# it, and TestTerraform and TestPrometheus write terraform-<server> and
# prometheus-<server> (tests/summary_test.go).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
make="${MAKE:-make}"
summary="$root/.cache/test-summary"
rm -rf "$summary"
mkdir -p "$summary"
export PARTNERTOKEN_SUMMARY_DIR="$summary"

passes=(check unit fuzz rules)
for server in ${E2E_SERVERS:-vault openbao}; do
  passes+=("e2e-$server")
done

duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

failed=0
for pass in "${passes[@]}"; do
  target="test-$pass"
  [[ "$pass" == check ]] && target=check
  start=$SECONDS
  "$make" --no-print-directory "$target"
  status=$?
  took=$((SECONDS - start))
  # A pass that skipped itself, or knows why it failed, has written so;
  # keep that, with the time.
  result=passed why=""
  if [[ -f "$summary/$pass" ]]; then
    read -r result why <"$summary/$pass"
  fi
  if ((status != 0)); then
    [[ "$result" == failed ]] || why="make $target exited with $status"
    result=failed
    failed=1
  fi
  printf '%s %d %s\n' "$result" "$took" "$why" >"$summary/$pass.result"
  if ((failed)) && [[ "$pass" != e2e-* ]]; then
    break
  fi
done

# line NAME RESULT SECONDS WHY prints one row of the summary; a skip is a
# WARNING, so that it is not mistaken for a pass.
line() {
  local name="$1" result="$2" seconds="$3" why="$4" note=""
  case "$result" in
    skipped) note="WARNING: $why" ;;
    failed) note="$why" ;;
    "not run") note="$why" ;;
  esac
  printf '  %-22s %-8s %7s  %s\n' "$name" "$result" "${seconds:+$(duration "$seconds")}" "$note" | sed 's/ *$//'
}

echo
echo "summary of make test ($(duration "$SECONDS") in all):"
for pass in "${passes[@]}"; do
  name="$pass"
  case "$pass" in
    check) name="check (gofmt, go vet)" ;;
    rules) name="rules (promtool)" ;;
    e2e-*) name="end-to-end, ${pass#e2e-}" ;;
  esac
  if [[ ! -f "$summary/$pass.result" ]]; then
    line "$name" "not run" "" "an earlier pass failed"
    continue
  fi
  read -r result seconds why <"$summary/$pass.result"
  line "$name" "$result" "$seconds" "$why"
  # An end-to-end pass that gave its own account did not run the suite.
  if [[ "$pass" == e2e-* && ! -f "$summary/$pass" ]]; then
    for test in TestTerraform:terraform TestPrometheus:prometheus; do
      file="$summary/${test#*:}-${pass#e2e-}"
      test="${test%%:*}"
      if [[ -f "$file" ]]; then
        read -r result seconds why <"$file"
        [[ "$result" == failed && -z "$why" ]] && why="see $test's output above"
        line "  $test" "$result" "$seconds" "$why"
      else
        line "  $test" "not run" "" "not selected by E2E_FLAGS, or the suite stopped before it"
      fi
    done
  fi
done
if ((failed)); then
  echo "make test FAILED"
else
  echo "make test passed"
fi
exit "$failed"
