# lib.sh: what dev.sh and bench.sh both do to start a Vault dev server and
# the partner simulator. Sourced, not run; the caller defines die and a
# `vault` command that reaches its server (VAULT_ADDR set).

# listening HOST:PORT succeeds if something accepts connections there.
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# wait_started WORK PID...: waits up to 60 s until Vault answers and the
# simulator has printed its handshake line to WORK/partnersim.json, and
# dies as soon as one of the started processes has exited.
wait_started() {
  local work="$1" pid i
  shift
  for ((i = 0; ; i++)); do
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null || die "a process exited early; see $work/vault.log and $work/partnersim.log"
    done
    if vault status >/dev/null 2>&1 && (($(wc -l <"$work/partnersim.json") >= 1)); then
      return
    fi
    ((i < 120)) || die "Vault or the simulator did not come up within 60s"
    sleep 0.5
  done
}
