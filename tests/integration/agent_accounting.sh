#!/bin/bash
# agent_accounting.sh - what a run used reaches the controller in its Exited (issue 11), on a
# real agent with the fake NVML (tests/fakenvml: a GPU's energy counter is the integral of its
# power) driven by the fake controller: energy_j is the growth of the job's GPUs' counters over
# the launch (250 W x 2 GPUs for the time it ran; a busy GPU of the node outside the job does
# not count), 0 when a GPU of the job has no counter; flops is the sum of what the ranks wrote
# in their COLOSSUS_FLOPS_FILE, a figure that is not a number ignored with a log line.
# Runs as anyone (the ranks run as the test's own user).
# timeout: 60
. "$(dirname "$0")/agent_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export COLOSSUS_NVML_LIB=$ROOT/build/fakenvml/libnvidia-ml.so.1
[ -f "$COLOSSUS_NVML_LIB" ] || fail "not built: $COLOSSUS_NVML_LIB (make check builds it)"
export COLOSSUS_FAKE_NVML=$T/nvml
ME=$(id -u) MG=$(id -g) MN=$(id -un)
cat >"$T/nvml" <<'S'
gpus 4
gpu 0 power 250000
gpu 1 power 250000
gpu 2 power 5000000
gpu 3 temp 40
S
start_fake
fake_agent g --check-at-start off --health-poll-ms 200 --allow-root-jobs

now() { date +%s.%N; }
log "2 ranks on GPUs 0 and 1 for 1 s: 250 W each, and FLOPs 1e15 + 2e15"
t0=$(now)
order 1 "$ME" "$MG" "$MN" 0,1 'echo $(( (RANK + 1) * 1000000000000000 )) > "$COLOSSUS_FLOPS_FILE"; sleep 1'
line=$(exited 1)
t1=$(now)
log "$line"
python3 - "$line" "$t0" "$t1" <<'PY' || fail "job 1: $line"
import sys
f = sys.argv[1].split()
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
assert f[:7] == ["exited", "1", "1", "code", "0", "rank", "-1"], f
energy, flops = float(f[8]), float(f[10])
assert flops == 3e15, flops
# At least 500 W for the second the ranks slept; at most 500 W for the whole wait (GPU 2's
# 5 kW would be more than ten times that).
assert 500 * 1.0 * 0.99 <= energy <= 500 * (t1 - t0) * 1.01, (energy, t1 - t0)
PY

log "a figure that is not a number is ignored, with a log line"
order 2 "$ME" "$MG" "$MN" 0,1 '[ $RANK = 0 ] && echo lots > "$COLOSSUS_FLOPS_FILE" || echo 5e14 > "$COLOSSUS_FLOPS_FILE"'
line=$(exited 2)
[[ $line == "exited 2 1 code 0 rank -1 energy_j "*" flops 500000000000000" ]] || fail "job 2: $line"
grep -q "agent: job 2 rank 0: its FLOPs figure is ignored: .*/jobs/2/flops.inc1.rank-0: not a decimal number of FLOPs (5 bytes)" \
    "$T/agent-g.log" || fail "no log line for the bad figure"
[ ! -e "$T/agent-g/jobs/2" ] || fail "the job's FLOPs files and directory were not removed: $(ls -la "$T/agent-g/jobs/2")"

log "a GPU of the job without an energy counter: energy unknown (0); no FLOPs file: 0"
order 3 "$ME" "$MG" "$MN" 1,3 'true'
line=$(exited 3)
[ "$line" = "exited 3 1 code 0 rank -1 energy_j 0.000 flops 0" ] || fail "job 3: $line"
log "PASS"
