#!/bin/bash
# array.bash - one submission of a large job array (issue 15) to the real controller: the
# submit's wall time (the CLI's request to its acknowledgement, which leaves after the one
# journal batch holding every task is committed), the controller's RSS before and after and
# per task, the journal's growth, `jobs --json`'s time over the tasks, the cancel of the
# whole array, and a restart's recovery of them. The tasks pend (no agents: nothing runs),
# with the submitter's environment exported as a user's would be. Prints one JSON object.
# Run: make bench-array, or bash bench/array.bash [TASKS] (default 100000)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
N=${1:-100000}
say() { echo "$*" >&2; }
rss() { awk '/VmRSS/ {print $2}' /proc/$CTL_PID/status; }
now() { date +%s.%N; }
db() { du -sk "$T/state" | cut -f1; }
start_controller --nodes 64 --gpus-per-node 8
"$B" submit -- true >/dev/null || fail "warm-up submit" # the journal's first batch, made
r0=$(rss) d0=$(db)
envb=$(env | wc -c)
t0=$(now)
A=$("$B" submit --array "0-$((N - 1))" -N 1 -- sleep 1) || fail "submit --array"
t1=$(now)
r1=$(rss) d1=$(db)
say "array $A: $N tasks submitted"
t2=$(now)
n=$("$B" jobs --json | jfield 'len(d)')
t3=$(now)
[ "$n" -ge "$N" ] || fail "jobs lists $n, not $N"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
t4=$(now)
start_controller --nodes 64 --gpus-per-node 8
wait_for 60 "$B" show "$((A + N - 1))" || fail "the last task after restart"
t5=$(now)
r2=$(rss)
[ "$("$B" show "$((A + N - 1))" --json | jfield 'd["argv"]')" = "['sleep', '1']" ] ||
    fail "the last task lost its command"
t6=$(now)
"$B" cancel "$A" >/dev/null || fail "cancel the array"
t7=$(now)
python3 - <<PY
import json
print(json.dumps({"bench": "array", "tasks": $N, "env_bytes": $envb,
  "submit_s": round($t1 - $t0, 3),
  "rss_before_kb": $r0, "rss_after_kb": $r1, "rss_per_task_b": round(($r1 - $r0) * 1024 / $N),
  "journal_growth_kb": $d1 - $d0,
  "jobs_json_s": round($t3 - $t2, 3),
  "restart_to_last_task_s": round($t5 - $t4, 3), "rss_after_restart_kb": $r2,
  "cancel_array_s": round($t7 - $t6, 3),
  "load": "$(cut -d' ' -f1-3 /proc/loadavg)"}))
PY
stop_controller_clean
