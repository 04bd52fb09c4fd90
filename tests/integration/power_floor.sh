#!/bin/bash
# power_floor.sh - the floor between runs (issue 13's smoothing): with `power ramp set 250W/s`
# a job's end does not drop its GPUs' draw at once: the agent holds them with the floor burn
# (the fake burn library, whose burn the fake NVML models as load) and the limit, and the
# controller brings them down at the allowed rate for the site, stepwise, to idle. Read as
# a GPU's power from the fake NVML (`gpu stat --json` on the node's script): 2 GPUs at 650 W
# go to 2 x 70 W idle at 250 W/s in about (1300 - 140) / 250 = 4.6 s, never faster, never
# up. `power show` says what is held and the energy the floor burnt. With no ramp set the
# draw drops at once, as before.
# timeout: 120
. "$(dirname "$0")/health_lib.bash"

power_cluster
# draw NODE: the node's GPUs' power now, W (the fake NVML's model: load, burn, limit)
draw() {
    COLOSSUS_FAKE_NVML=$T/nvml-$1 "$B" gpu stat --json |
        python3 -c "import json,sys; print(int(sum(g['power_mw'] for g in json.load(sys.stdin)['gpus']) / 1000 + 0.5))"
}
# load NODE MW: what the job's load draws on each GPU (the script's `power`)
load() { sed -i "s/^\(gpu [01] power\) [0-9]*$/\1 $2/" "$T/nvml-$1"; }
now() { date +%s.%N; }
running() { [ "$("$B" show --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = running ]; }

log "250 W/s: a 2-GPU job at 650 W a GPU"
"$B" power ramp set 250W/s >/dev/null || fail "ramp set"
J=$("$B" submit -N 1 --gpus-per-node 2 -- sleep 600) || fail "submit"
wait_for 10 running "$J" || fail "the job did not start"
N=$("$B" show --json "$J" | python3 -c "import json,sys; print(json.load(sys.stdin)['nodes'][0])")
ramped() { [ "$(pshow 'd["jobs_ramping"]')" = 0 ] && [ "$(draw "$N")" -ge 1290 ]; }
wait_for 20 ramped || fail "the job's ramp did not end at 1300 W: $(draw "$N") W"

log "the job ends: its GPUs held, brought down at 250 W/s"
"$B" cancel "$J" >/dev/null || fail "cancel"
rank_ended() { grep -q "job $1 incarnation 1 ended" "$T/agent-$N.log"; }
wait_for 10 rank_ended "$J" || fail "the job's ranks did not end"
load "$N" 70000 # its load went with its ranks: what is left is the floor burn
t0=$(now) series=""
while :; do
    w=$(draw "$N") t=$(python3 -c "print(round($(now) - $t0, 2))")
    series="$series $t:$w"
    [ "$w" -le 145 ] && break
    python3 -c "import sys; sys.exit(0 if $t < 15 else 1)" || fail "not at idle in 15 s:$series"
    sleep 0.1
done
log "draw (s:W):$series"
python3 - "$series" <<'EOF' || fail "the ramp down:$series"
import sys
pts = [(float(t), int(w)) for t, w in (x.split(":") for x in sys.argv[1].split())]
assert pts[0][1] >= 1000, "dropped at once: %s" % pts[:3]
for (t0, w0), (t1, w1) in zip(pts, pts[1:]):
    assert w1 <= w0 + 5, "went up: %s -> %s" % ((t0, w0), (t1, w1))
for i, (t0, w0) in enumerate(pts):  # never faster than 250 W/s, a 0.5 s step's slack
    for t1, w1 in pts[i + 1:]:
        assert w0 - w1 <= 250 * (t1 - t0 + 0.6) + 10, "too fast: %s -> %s" % ((t0, w0), (t1, w1))
levels = sorted({w for _, w in pts})
assert len(levels) >= 5, "not stepwise: %s" % levels  # 9 steps of 125 W
assert pts[-1][0] >= 3.5, "idle too soon for 250 W/s: %s" % pts[-1][0]
EOF
wait_for 5 bash -c "[ \"\$(\"$B\" power show --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"runs_held\"], d[\"gpus_held\"])')\" = '0 0' ]" ||
    fail "power show still holds: $(pshow 'd["runs_held"], d["gpus_held"]')"
pshow 'd["floor_energy_j"]' | python3 -c "import sys; e = float(sys.stdin.read()); sys.exit(0 if 500 < e < 5000 else 1)" ||
    fail "floor energy: $(pshow 'd["floor_energy_j"]') J (about 1,700 J above idle expected)"
"$B" power show | grep -q "^floor: 0 ended runs, 0 GPUs held" || fail "power show text: $("$B" power show)"
[ ! -s "$T/nvml-$N.state.burn" ] || fail "still burning: $(cat "$T/nvml-$N.state.burn")"
grep -q "power: job $J ended: 2 GPUs held at" "$T/agent-$N.log" || fail "agent log: $(grep power: "$T/agent-$N.log")"
# below the GPUs' 200 W minimum limit the burn's intensity carries the draw (the limit cannot)
grep "power: job $J's 2 GPUs held at" "$T/agent-$N.log" | grep -q " held at \(7[1-9]\|[89][0-9]\|1[0-9][0-9]\) W" ||
    fail "no step below the 200 W limit: $(grep "power: job $J's" "$T/agent-$N.log")"
grep -q "power: job $J's 2 GPUs held at 6[0-9][0-9] W, ramping down" "$T/controller.log" || fail "controller log: $(grep power: "$T/controller.log")"

# run650 TAG: J, a 2-GPU job on node N drawing 650 W a GPU, its ramp ended
run650() {
    load "$N" 650000
    J=$("$B" submit -N 1 --gpus-per-node 2 -w "$N" -- sleep 600) || fail "submit $1"
    wait_for 10 running "$J" || fail "job $1 did not start"
    wait_for 20 ramped || fail "job $1's ramp: $(draw "$N") W"
}

log "a hold shows in power show while it lasts"
run650 2
"$B" cancel "$J" >/dev/null || fail "cancel 2"
wait_for 10 rank_ended "$J" || fail "job 2's ranks did not end"
load "$N" 70000
held() { [ "$(pshow 'd["runs_held"], d["gpus_held"]')" = "1 2" ]; }
wait_for 5 held || fail "power show: $(pshow 'd["runs_held"], d["gpus_held"], d["held_w"]')"
"$B" power show | grep -q "^floor: 1 ended run, 2 GPUs held at" || fail "power show text: $("$B" power show)"
idle() { [ "$(draw "$N")" -le 145 ]; }
wait_for 15 idle || fail "job 2's GPUs not back to idle: $(draw "$N") W"

log "a requeued run's GPUs are held; its restart on them takes them over from their draw"
# (the old run ends before the new one starts: the controller holds a new incarnation's
# Launch until the old one has ended, issue 14; the agent holds the GPUs meanwhile)
run650 4
"$B" requeue "$J" >/dev/null || fail "requeue"
inc2() { grep -q "job $J incarnation 2: started" "$T/agent-$N.log"; }
wait_for 15 inc2 || fail "the requeued job did not start again"
# the first limit of the new run (on the GPUs held from the old run, or still running it)
# ("the default": the held draw was the run's whole projection, nothing left to ramp)
first_limit() { sed -n "/job $J incarnation 2: started/,\$ s/.*power: job $J: limit \([0-9.]*\|the default\)\( W\)\? on 2 of 2 GPUs.*/\1/p" "$T/agent-$N.log" | head -n 1; }
has_limit() { [ -n "$(first_limit)" ]; }
wait_for 5 has_limit || fail "no limit for the restart: $(grep "power" "$T/agent-$N.log" | tail -5)"
grep -q "power: job $J's 2 GPUs held at 6[0-9][0-9] W, ramping down" "$T/controller.log" ||
    fail "the controller did not hold the requeued run: $(grep power: "$T/controller.log" | tail -3)"
w=$(first_limit)
log "the restart's first limit: $w W (the hold's draw, not the 200 W floor)"
[ "$w" = "the default" ] || python3 -c "import sys; sys.exit(0 if float('${w:-0}') >= 400 else 1)" ||
    fail "the restart ramped from $w W"
[ ! -s "$T/nvml-$N.state.burn" ] || fail "burning under the restarted run: $(cat "$T/nvml-$N.state.burn")"
"$B" cancel "$J" >/dev/null || fail "cancel 4"
wait_for 10 grep -q "job $J incarnation 2 ended" "$T/agent-$N.log" || fail "job 4 did not end"
load "$N" 70000
wait_for 15 idle || fail "job 4's GPUs not back to idle: $(draw "$N") W"

log "the stall signal: with a ramp, ranks get COLOSSUS_POWER_STALL=burn unless they set it"
stall_of() { # JOB: the value its ranks saw
    local j=$1
    wait_for 10 bash -c "\"$B\" show --json $j | grep -q '\"state\": \"succeeded\"'" || fail "job $j did not succeed"
    "$B" logs "$j" | sed -n 's/.*STALL=\(.*\)$/\1/p' | head -n 1
}
J=$("$B" submit -N 1 --gpus-per-node 1 -- sh -c 'echo STALL=${COLOSSUS_POWER_STALL:-unset}') || fail "submit env"
[ "$(stall_of "$J")" = burn ] || fail "with a ramp: $("$B" logs "$J")"
J=$("$B" submit -N 1 --gpus-per-node 1 --export ALL,COLOSSUS_POWER_STALL=off -- sh -c 'echo STALL=${COLOSSUS_POWER_STALL:-unset}') || fail "submit env 2"
[ "$(stall_of "$J")" = off ] || fail "the job's own setting: $("$B" logs "$J")"
wait_for 15 idle || fail "not idle after the env jobs: $(draw "$N") W"

log "no ramp set: the draw drops at once"
"$B" power ramp set none >/dev/null || fail "ramp none"
load "$N" 650000
J=$("$B" submit -N 1 --gpus-per-node 2 -w "$N" -- sleep 600) || fail "submit 3"
wait_for 10 running "$J" || fail "job 3 did not start"
at650() { [ "$(draw "$N")" -ge 1290 ]; }
wait_for 10 at650 || fail "job 3 at $(draw "$N") W"
"$B" cancel "$J" >/dev/null || fail "cancel 3"
ended() { ! running "$J"; }
wait_for 10 ended || fail "job 3 did not end"
sleep 0.5 # the agent's end of the ranks
load "$N" 70000
[ "$(draw "$N")" -le 145 ] || fail "with no ramp the draw did not drop at once: $(draw "$N") W"
[ "$(pshow 'd["runs_held"]')" = 0 ] || fail "a hold with no ramp"
J=$("$B" submit -N 1 --gpus-per-node 1 -- sh -c 'echo STALL=${COLOSSUS_POWER_STALL:-unset}') || fail "submit env 3"
[ "$(stall_of "$J")" = unset ] || fail "the stall signal with no ramp: $("$B" logs "$J")"
log "PASS"
