#!/bin/bash
# res_limits.sh - CPUs and memory (issue 15): the agents' inventories (--cpus, --mem) in
# `nodes`, a job placed only where its --cpus-per-gpu and --mem-per-gpu fit, one that fits no
# node refused at submit, one that fits none now pending with "Resources (cpu/mem)", the ranks
# under the limits in their cgroup (cpu quota, memory limit), and a rank that allocates past
# its --mem-per-gpu ended out_of_memory by the kernel's OOM killer. The limits need a memory
# controller this test may write (cgroup v2 memory, or v1 as root); where there is none that
# part is skipped, saying so.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
start_controller
start_agent n1 4 --cpus 4 --mem 2G
start_agent n2 4 --cpus 8 --mem 4G
start_agent n3 4 --cpus 0 --mem 0 # says none: no limit
wait_nodes_up 3
cd "$T"
node_res() { "$B" nodes --json | python3 -c "import json,sys; n=[n for n in json.load(sys.stdin) if n['name']=='$1'][0]; print(n['cpus'], n['mem_mb'], n['cpus_used'], n['mem_used_mb'])"; }
[ "$(node_res n1)" = "4 2048 0 0" ] || fail "n1's inventory: $(node_res n1)"
[ "$(node_res n3)" = "None None 0 0" ] || fail "n3's inventory: $(node_res n3)"

log "#SBATCH --cpus-per-gpu / --mem-per-gpu are taken; a bad size names its line"
printf '#!/bin/sh\n#SBATCH --gpus-per-node=1 --cpus-per-gpu=2 --mem-per-gpu=1G\ntrue\n' >sb.sh
printf '#!/bin/sh\n#COLOSSUS --mem-per-gpu 10XB\ntrue\n' >bad.sh
chmod +x sb.sh bad.sh
S=$("$B" submit ./sb.sh) || fail "submit sb.sh"
[ "$(job_field "$S" 'd["cpus_per_gpu"], d["mem_per_gpu_mb"]')" = "2 1024" ] ||
    fail "job $S --json: $(job_field "$S" 'd["cpus_per_gpu"], d["mem_per_gpu_mb"]')"
out=$("$B" submit ./bad.sh 2>&1)
rc=$?
[ $rc = 2 ] || fail "submit bad.sh: exit $rc: $out"
echo "$out" | grep -q "unknown unit 'XB'" || fail "$out"
echo "$out" | grep -q "bad.sh:2: #COLOSSUS --mem-per-gpu 10XB: the value above is refused" || fail "$out"
"$B" wait "$S" >/dev/null 2>&1

log "a job of 2 GPUs x 3 CPUs fits n2 (8 CPUs) or n3 (no limit), never n1 (4)"
"$B" drain n3 --reason "out of this test for now" >/dev/null || fail "drain n3"
A=$("$B" submit --gpus-per-node 2 --cpus-per-gpu 3 --mem-per-gpu 512M -- sleep 60) || fail "submit A"
wait_state "$A" running 20 || fail "job $A: $(job_state "$A")"
[ "$(job_field "$A" '",".join(d["nodes"])')" = n2 ] || fail "job $A on $(job_field "$A" 'd["nodes"]')"
[ "$(job_field "$A" 'd["cpus_per_gpu"], d["mem_per_gpu_mb"]')" = "3 512" ] ||
    fail "job $A --json: $(job_field "$A" 'd["cpus_per_gpu"], d["mem_per_gpu_mb"]')"
[ "$(node_res n2)" = "8 4096 6 1024" ] || fail "n2's use: $(node_res n2)"
"$B" show "$A" | grep -q "^per GPU: *3 CPUs, 512 MB" || fail "show $A: $("$B" show "$A")"

log "the same again: GPUs free on n1 and n2, CPUs on neither: pending, Resources (cpu/mem)"
P=$("$B" submit --gpus-per-node 2 --cpus-per-gpu 3 -- sleep 60) || fail "submit P"
wait_for 10 bash -c "\"$B\" show $P --json | grep -q 'Resources (cpu/mem)'" ||
    fail "job $P: $(job_state "$P"): $(job_field "$P" 'd["pending_reason"]')"
"$B" resume n3 >/dev/null || fail "resume n3"
wait_state "$P" running 20 || fail "job $P on n3 (no limit): $(job_state "$P")"
[ "$(job_field "$P" '",".join(d["nodes"])')" = n3 ] || fail "job $P on $(job_field "$P" 'd["nodes"]')"

log "more than any node has (n3, which says none, removed): refused at submit, nothing queued"
"$B" cancel "$P" >/dev/null
kill "${AGENT_PID[n3]}"
wait_for 10 "$B" node remove n3 || fail "node remove n3"
before=$("$B" jobs --all --json | jfield 'len(d)')
out=$("$B" submit --gpus-per-node 1 --cpus-per-gpu 100 -- true 2>&1)
rc=$?
[ $rc = 1 ] || fail "submit --cpus-per-gpu 100: exit $rc: $out"
echo "$out" | grep -q "can never run: needs 100 CPUs and 0 MB of memory on each node" || fail "$out"
[ "$("$B" jobs --all --json | jfield 'len(d)')" = "$before" ] || fail "a job was queued"

log "the limits in the ranks' cgroups, and an OOM kill"
can_limit=
if [ -w /sys/fs/cgroup/memory/cgroup.procs ] || grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    can_limit=1
fi
if [ -z "$can_limit" ]; then
    log "skip: no memory cgroup controller writable here (cgroup v2 without memory, v1 not root): limits are not enforced"
    grep -q "limits are not enforced" "$T/agent-n2.log" || fail "the agent did not say the limits are not enforced"
    exit 0
fi
cat >limits.sh <<'SH'
#!/bin/sh
# print this rank's memory limit and CPU quota, v1 or v2
m=$(sed -n 's/^[0-9]*:memory:\(.*\)/\1/p' /proc/self/cgroup)
c=$(awk -F: '$2 == "cpu" || $2 == "cpu,cpuacct" || $2 == "cpuacct,cpu" {print $3}' /proc/self/cgroup)
u=$(sed -n 's/^0::\(.*\)/\1/p' /proc/self/cgroup)
if [ -n "$m" ] && [ -f "/sys/fs/cgroup/memory$m/memory.limit_in_bytes" ]; then
    echo "mem $(cat /sys/fs/cgroup/memory$m/memory.limit_in_bytes)"
else
    echo "mem $(cat /sys/fs/cgroup$u/memory.max 2>/dev/null || cat /sys/fs/cgroup/unified$u/memory.max)"
fi
if [ -n "$c" ] && [ -f "/sys/fs/cgroup/cpu$c/cpu.cfs_quota_us" ]; then
    echo "cpu $(cat /sys/fs/cgroup/cpu$c/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu$c/cpu.cfs_period_us)"
else
    echo "cpu $(cat /sys/fs/cgroup$u/cpu.max 2>/dev/null || cat /sys/fs/cgroup/unified$u/cpu.max)"
fi
SH
chmod +x limits.sh
"$B" cancel "$A" >/dev/null
L=$("$B" submit --gpus-per-node 2 --cpus-per-gpu 1 --mem-per-gpu 100M -- ./limits.sh) || fail "submit L"
[ "$("$B" wait "$L" >/dev/null 2>&1; job_state "$L")" = succeeded ] || fail "job $L: $(job_state "$L"): $(job_field "$L" 'd["reason"]')"
lim=$("$B" logs "$L" 2>&1)
echo "$lim" | grep -qx "mem 209715200" || fail "job $L's memory limit (2 x 100M): $lim"
echo "$lim" | grep -Eqx "cpu 200000 100000" || fail "job $L's CPU quota (2 x 1 CPU): $lim"
O=$("$B" submit --gpus-per-node 1 --mem-per-gpu 64M --max-restarts 0 -- \
    python3 -c 'x = bytearray(512 << 20); print("not killed")') || fail "submit O"
"$B" wait "$O" >/dev/null 2>&1
[ "$(job_field "$O" 'd["ended"]')" = out_of_memory ] ||
    fail "job $O ended $(job_field "$O" 'd["ended"]'): $(job_field "$O" 'd["reason"]')"
job_field "$O" 'd["reason"]' | grep -q "^out of memory (limit 64 MB): rank 0 on n[12] was OOM-killed" ||
    fail "job $O: $(job_field "$O" 'd["reason"]')"
"$B" jobs --all | awk -v id="$O" '$1 == id {print $4}' | grep -qx out_of_memory ||
    fail "jobs: job $O's STATE: $("$B" jobs --all | grep "^$O ")"
"$B" show "$O" | grep -q "^reason: *out of memory (limit 64 MB)" || fail "show $O: $("$B" show "$O")"
# (with COLOSSUS_BIN=bin/colossus-asan: no sanitizer report from the daemons)
for a in "${!AGENT_PID[@]}"; do kill "${AGENT_PID[$a]}"; wait "${AGENT_PID[$a]}"; done
AGENT_PID=()
! grep -l "Sanitizer\|runtime error" "$T"/agent-*.log || fail "sanitizer report in an agent's log"
stop_controller_clean
log "ok: $(echo $lim); job $O out_of_memory"
