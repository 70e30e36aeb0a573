# lib.sh: what dev.sh, bench.sh and bench-cluster.sh share to start Vault
# (or OpenBao) servers and the partner simulator. Sourced, not run; the
# caller defines die and, for wait_started, a `vault` command that reaches
# its server (VAULT_ADDR set).

# listening HOST:PORT succeeds if something accepts connections there.
listening() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# free_port prints a loopback port where neither it nor the next one is in
# use: a server's cluster listener takes the next one.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! listening "127.0.0.1:$p" && ! listening "127.0.0.1:$((p + 1))"; then
      echo "$p"
      return
    fi
  done
  die "found no free loopback port"
}

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
