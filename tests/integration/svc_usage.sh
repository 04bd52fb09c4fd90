#!/bin/bash
# svc_usage.sh - issue 11's accounting end to end on a loopback cluster of 2 nodes x 2 GPUs
# whose agents read the fake NVML (a GPU's energy counter is the integral of its power):
#   1. a 2-node job of user ann (tenant T1, uid 61021) that reports FLOPs per rank in
#      COLOSSUS_FLOPS_FILE, and a job of hers that fails with code 3: `history` has one record
#      per run with tenant, user, nodes, GPUs, GPU-seconds, energy (from the counters), FLOPs
#      (the ranks' sum), why it ended and the exit code; `show` has the job's totals;
#   2. `usage --by tenant|user|day|month` sums what `history` lists;
#   3. ben of tenant T2 sees none of T1's records, in history or usage; `history --job`
#      lists one job's runs alone (and none of them for ben);
#   4. a controller kill -9: every record and sum is still there, and so are the tenants,
#      users and tokens (ann's token still works and still sees only T1's runs).
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export COLOSSUS_NVML_LIB=$ROOT/build/fakenvml/libnvidia-ml.so.1
[ -f "$COLOSSUS_NVML_LIB" ] || fail "not built: $COLOSSUS_NVML_LIB (make check builds it)"
export COLOSSUS_FAKE_NVML=$T/nvml
printf 'gpus 2\ngpu 0 power 300000\ngpu 1 power 300000\n' >"$T/nvml" # 300 W each

start_controller --nodes 2 --gpus-per-node 2
for n in n1 n2; do
    "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "$n" --work-dir "$T/agents/$n" \
        --check-at-start off --allow-root-jobs >>"$T/agent-$n.log" 2>&1 &
    AGENT_PID[$n]=$!
done
wait_nodes_up 2
chmod 755 "$T"
mkdir -m 1777 "$T/pub"
cd "$T/pub"

"$B" tenant add T1 >/dev/null || fail "tenant T1"
"$B" tenant add T2 >/dev/null || fail "tenant T2"
"$B" user add ann --tenant T1 --uid 61021 --gid 61021 >/dev/null || fail "user ann"
"$B" user add ben --tenant T2 --uid 61022 --gid 61022 >/dev/null || fail "user ben"
for u in ann ben; do "$B" token create --user $u >"$T/$u.tok" 2>/dev/null || fail "token $u"; done
as() { local u=$1; shift; COLOSSUS_TOKEN=$(cat "$T/$u.tok") "$B" "$@"; }

log "1. two runs of ann's: one reports FLOPs, one fails"
J1=$(as ann submit -N 2 --gpus-per-node 2 --name flopper -- bash -c \
    'echo $(( (RANK + 1) * 1000000000000 )) > "$COLOSSUS_FLOPS_FILE"; sleep 1') || fail "J1"
as ann wait "$J1" >/dev/null || fail "J1 did not succeed: $("$B" show "$J1")"
J2=$(as ann submit --gpus-per-node 1 --name crasher -- bash -c 'exit 3') || fail "J2"
as ann wait "$J2" >/dev/null && fail "J2 succeeded"
[ "$(job_state "$J2")" = failed ] || fail "J2 is $(job_state "$J2")"

# The usage record is written once every node reported the run's end: wait for both.
wait_for 20 bash -c "[ \"\$(\"$B\" history --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" -ge 2 ]" ||
    fail "history: $("$B" history)"
"$B" history --json >"$T/h.json" || fail "history --json"
python3 - "$T/h.json" "$J1" "$J2" <<'PY' || fail "history: $(cat "$T/h.json")"
import json, sys
d = json.load(open(sys.argv[1]))
j1, j2 = int(sys.argv[2]), int(sys.argv[3])
r1 = [r for r in d if r["job"] == j1]
r2 = [r for r in d if r["job"] == j2]
assert len(r1) == 1 and len(r2) == 1, d
a, b = r1[0], r2[0]
assert (a["tenant"], a["user"], a["name"]) == ("T1", "ann", "flopper"), a
assert sorted(a["nodes"]) == ["n1", "n2"] and a["gpus"] == 4, a
assert a["ended"] == "succeeded" and a["exit_code"] == 0, a
# 4 GPUs for at least the second the ranks slept; the GPU-seconds are the elapsed time's
assert a["elapsed_s"] >= 1.0 and abs(a["gpu_seconds"] - 4 * a["elapsed_s"]) < 0.05, a
# 4 GPUs at 300 W for at least 1 s, at most for the whole run (plus the agents' margins)
assert a["energy_j"] is not None and 1200 * 0.95 <= a["energy_j"] <= 1200 * (a["elapsed_s"] + 1), a
# ranks 0..3 wrote 1e12, 2e12, 3e12, 4e12
assert a["flops"] == 1e13, a
assert b["ended"] == "failed" and b["exit_code"] == 3 and b["gpus"] == 1, b
assert b["flops"] is None, b  # it reported none
print("history ok: %.1f J, %.3g FLOPs over %.2f s" % (a["energy_j"], a["flops"], a["elapsed_s"]))
PY
log "$(python3 -c "import json; d=json.load(open('$T/h.json')); print(len(d), 'records')")"
python3 -c "import sys; sys.exit(0 if float('$(job_field "$J1" 'd["gpu_seconds"]')') >= 4 else 1)" ||
    fail "show: $("$B" show "$J1" --json)"
[ "$(job_field "$J1" 'd["energy_j"] > 0')" = True ] || fail "show has no energy"
"$B" history | grep -q "flopper" || fail "history text: $("$B" history)"

log "2. usage sums what history lists"
for by in tenant user day month; do
    "$B" usage --by $by --json >"$T/u-$by.json" || fail "usage --by $by"
done
python3 - "$T" <<'PY' || fail "usage: $(cat "$T"/u-*.json)"
import json, sys, time
t = sys.argv[1]
h = json.load(open(t + "/h.json"))
gh = sum(r["gpu_seconds"] for r in h) / 3600
kwh = sum(r["energy_j"] or 0 for r in h) / 3.6e6
fl = sum(r["flops"] or 0 for r in h)
def one(by, key):
    rows = json.load(open("%s/u-%s.json" % (t, by)))
    row = [r for r in rows if r["key"] == key]
    assert len(row) == 1, (by, key, rows)
    r = row[0]
    assert r["runs"] == len(h), (by, r)
    assert abs(r["gpu_hours"] - gh) < 1e-9 and abs(r["energy_kwh"] - kwh) < 1e-12, (by, r, gh, kwh)
    assert r["flops"] == fl, (by, r, fl)
one("tenant", "T1")
one("user", "ann")
one("day", time.strftime("%Y-%m-%d", time.gmtime()))
one("month", time.strftime("%Y-%m", time.gmtime()))
PY

log "3. ben (tenant T2) sees nothing of T1's"
[ "$(as ben history --json | jfield 'len(d)')" = 0 ] || fail "ben sees: $(as ben history)"
[ "$(as ben usage --by tenant --json | jfield 'len(d)')" = 0 ] || fail "ben sees usage"
out=$(as ben history --tenant T1 2>&1) && fail "ben read T1's history: $out"
echo "$out" | grep -q "T1" || fail "the refusal does not name the tenant: $out"
[ "$(as ann history --json | jfield 'len(d)')" = 2 ] || fail "ann does not see her runs"
# the runs of one job (--job): J2's record alone, and none of it for ben
[ "$(as ann history --job "$J2" --json | jfield '[(r["job"], r["ended"]) for r in d]')" = "[($J2, 'failed')]" ] ||
    fail "history --job $J2: $(as ann history --job "$J2" 2>&1)"
[ "$(as ben history --job "$J2" --json | jfield 'len(d)')" = 0 ] || fail "ben sees job $J2's run"

log "4. kill -9 of the controller: the records stay"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_ADDR=$CTL_ADDR start_controller --nodes 2 --gpus-per-node 2
"$B" history --json >"$T/h2.json" || fail "history after the restart"
cmp -s <(jfield 'sorted((r["job"], r["energy_j"], r["flops"]) for r in d)' <"$T/h.json") \
    <(jfield 'sorted((r["job"], r["energy_j"], r["flops"]) for r in d)' <"$T/h2.json") ||
    fail "history changed: $(cat "$T/h2.json")"
"$B" usage --by tenant --json >"$T/u2.json"
cmp -s <(jfield 'd' <"$T/u-tenant.json") <(jfield 'd' <"$T/u2.json") ||
    fail "usage changed: $(cat "$T/u2.json")"
[ "$(as ann history --json | jfield 'len(d)')" = 2 ] || fail "ann after the restart: $(as ann history 2>&1)"
[ "$(as ben history --json | jfield 'len(d)')" = 0 ] || fail "ben after the restart"
[ "$("$B" user list --json | jfield "sorted(u['name'] for u in d)")" = "['ann', 'ben']" ] ||
    fail "users after the restart: $("$B" user list)"
log "ok"
