#!/bin/bash
# fence_overlap.sh - a job never runs twice at once (issue 14, docs/standby.md "Fencing"),
# measured from the ranks' own timestamps: each rank appends the time every 20 ms, and the
# last time any rank of an incarnation wrote must come before the first time any rank of the
# next one did. Three ways a node is cut off while its job restarts elsewhere: its agent
# stopped (SIGSTOP) for 3 s, a partition of 3 s with its TCP connection held open by a proxy,
# and its agent killed with -9 and not restarted (the ranks' keeper freezes them when the
# lease lapses and kills them, and what they forked, after --abandon-ms).
# timeout: 150
. "$(dirname "$0")/cluster_lib.bash"

# A proxy that forwards 127.0.0.1:PORT to the controller and, on SIGUSR1, stops forwarding
# (in both directions, connections held open) until the next SIGUSR1.
cat >"$T/proxy.py" <<'PY'
import asyncio, signal, sys
target = sys.argv[1].rsplit(":", 1)
paused = asyncio.Event(); paused.set()   # set: forwarding
def toggle():
    if paused.is_set(): paused.clear()
    else: paused.set()
async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data: break
            await paused.wait()
            w.write(data); await w.drain()
    except Exception: pass
    w.close()
async def handle(r, w):
    tr, tw = await asyncio.open_connection(target[0], int(target[1]))
    asyncio.ensure_future(pipe(r, tw)); asyncio.ensure_future(pipe(tr, w))
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, toggle)
    open(sys.argv[2] + ".tmp", "w").write("127.0.0.1:%d" % srv.sockets[0].getsockname()[1])
    import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    await srv.serve_forever()
asyncio.run(main())
PY

start_controller --nodes 4 --gpus-per-node 2
python3 "$T/proxy.py" "$CTL_ADDR" "$T/proxy.addr" &
PIDS+=($!)
PROXY=$!
wait_for 10 test -s "$T/proxy.addr" || fail "proxy did not start"
start_agent n1 2
start_agent n2 2
start_agent n3 2
# n4 talks to the controller through the proxy; it gives up its frozen ranks after 1.5 s
"$B" agent --controller "$(cat "$T/proxy.addr")" --key "$T/key" --name n4 --work-dir "$T/agents/n4" \
    --fake-gpus 2 --allow-root-jobs --abandon-ms 1500 >>"$T/agent-n4.log" 2>&1 &
AGENT_PID[n4]=$!
wait_nodes_up 4
cd "$T"

cat >ts.sh <<'SH'
# every 20 ms: this incarnation's time, in the rank's own file; a grandchild that leaves the
# rank's session, to be found (or not) later
echo $$ > "pid.$COLOSSUS_JOB_ID.$COLOSSUS_INCARNATION.$RANK"
setsid sleep 1000 &
echo $! > "gc.$COLOSSUS_JOB_ID.$COLOSSUS_INCARNATION.$RANK"
while :; do date +%s.%N >> "ts.$COLOSSUS_JOB_ID.$COLOSSUS_INCARNATION.$RANK"; sleep 0.02; done
SH

# overlap JOB OLD NEW: seconds from the first write of incarnation NEW to the last of OLD
# (negative: none).
overlap() { # JOB OLD NEW [RANK...]: only those ranks of OLD
    python3 - "$@" <<'PY'
import glob, sys
j, old, new = sys.argv[1:4]
ranks = sys.argv[4:] or ["*"]
last = max(float(open(f).read().split()[-1]) for r in ranks for f in glob.glob("ts.%s.%s.%s" % (j, old, r)))
first = min(float(open(f).read().split()[0]) for f in glob.glob("ts.%s.%s.*" % (j, new)))
print("%.3f" % (last - first))
PY
}
started() { ls ts."$1"."$2".* 2>/dev/null | wc -l | grep -qx "$3"; }
check_overlap() { # JOB OLD NEW WHAT [POS: the cut-off node's rank in the job]
    local o c=""
    o=$(overlap "$1" "$2" "$3")
    [ -n "${5:-}" ] && c=$(overlap "$1" "$2" "$3" $((2 * $5)) $((2 * $5 + 1)))
    log "$4: incarnation $2 last wrote $(python3 -c "print('%.3f' % -($o))") s before incarnation $3 first did${c:+ (its ranks on the cut-off node: $(python3 -c "print('%.3f' % -($c))") s before)}"
    python3 -c "import sys; sys.exit(0 if $o < 0 else 1)" || fail "$4: the two incarnations overlapped by $o s"
}

log "SIGSTOP of an agent for 3 s"
# only_on NODES: the next job can only go there (the others drained until it started)
only_on() { "$B" drain "$(python3 -c "import sys; a=set(sys.argv[1].split(',')); print(','.join(n for n in ['n1','n2','n3','n4'] if n not in a))" "$1")" --reason test >/dev/null || fail "drain"; }
everywhere() { "$B" resume 'n[1-4]' >/dev/null || fail "resume"; }
only_on n1,n2
A=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 5 -- sh "$T/ts.sh")
wait_for 10 started "$A" 1 4 || fail "job A did not start"
everywhere
pos=$(job_field "$A" 'd["nodes"].index("n2")')
sleep 0.3
kill -STOP "${AGENT_PID[n2]}"
wait_for 10 started "$A" 2 4 || fail "job A not restarted: $("$B" show "$A")"
sleep 2
kill -CONT "${AGENT_PID[n2]}"
wait_for 10 bash -c "! kill -0 $(cat gc.$A.1.$((2 * pos))) 2>/dev/null" || fail "A: a stale rank's grandchild still runs"
check_overlap "$A" 1 2 "SIGSTOP" "$pos"
"$B" cancel "$A" >/dev/null
wait_nodes_up 4

log "a partition of 3 s, the TCP connection held open"
wait_state "$A" cancelled 10 || fail "job A not cancelled"
only_on n3,n4
P=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 5 -- sh "$T/ts.sh")
wait_for 10 started "$P" 1 4 || fail "job P did not start"
everywhere
pos=$(job_field "$P" 'd["nodes"].index("n4")')
sleep 0.3
kill -USR1 "$PROXY"
wait_for 10 started "$P" 2 4 || fail "job P not restarted: $("$B" show "$P")"
sleep 2
kill -USR1 "$PROXY"
check_overlap "$P" 1 2 "partition" "$pos"
"$B" cancel "$P" >/dev/null
wait_nodes_up 4 20

log "kill -9 of an agent, not restarted: frozen, then killed with what it forked"
wait_state "$P" cancelled 10 || fail "job P not cancelled"
only_on n3,n4
K=$("$B" submit -N 2 --gpus-per-node 2 --max-restarts 5 -- sh "$T/ts.sh")
wait_for 10 started "$K" 1 4 || fail "job K did not start"
everywhere
pos=$(job_field "$K" 'd["nodes"].index("n4")')
node4_ranks=$(echo $(cat pid.$K.1.$((2 * pos)) pid.$K.1.$((2 * pos + 1))))
gc=$(echo $(cat gc.$K.1.$((2 * pos)) gc.$K.1.$((2 * pos + 1))))
sleep 0.3
kill -9 "${AGENT_PID[n4]}"
unset "AGENT_PID[n4]"
wait_for 10 started "$K" 2 4 || fail "job K not restarted: $("$B" show "$K")"
check_overlap "$K" 1 2 "agent killed" "$pos"
wait_for 10 bash -c "for p in $node4_ranks $gc; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0" ||
    fail "stale ranks or their grandchildren outlived --abandon-ms: $(for p in $node4_ranks $gc; do
        echo "$p $(ps -o stat=,ppid=,args= -p "$p") $(cat /sys/fs/cgroup/unified$(sed -n 's/^0:://p' /proc/$p/cgroup 2>/dev/null)/cgroup.events 2>/dev/null | tr '\n' ' ')"; done; pgrep -af 'colossus keep')"
check_overlap "$K" 1 2 "agent killed (after the kill)" "$pos"
log "PASS"
