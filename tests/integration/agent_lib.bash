# agent_lib.bash - helpers of the agent_*.sh tests that drive one real agent from the fake
# controller (tests/tools/fake_controller.c --mode agent): its start, Launch orders written by
# the test, and the Started and Exited the agent sends back (the fake prints them).
. "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.bash"
F=$(dirname "$(dirname "$B")")/build/tools/fake_controller
[ -x "$F" ] || fail "not built: $F (make unit builds it)"

# start_fake: the fake controller of one agent; sets FAKE (its address). Events: $T/fake.log.
start_fake() {
    : >"$T/launches"
    "$F" --key "$T/key" --mode agent --launches "$T/launches" >"$T/fake.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 grep -q '^port ' "$T/fake.log" || fail "the fake controller did not start"
    FAKE=127.0.0.1:$(sed -n 's/^port //p' "$T/fake.log")
}

# fake_agent NAME [ARGS...]: an agent of the fake controller, work dir $T/agent-NAME, log
# $T/agent-NAME.log; waits until it has registered (once more than before).
fake_agent() {
    local name=$1 before
    shift
    before=$(grep -c "^registered $name " "$T/fake.log")
    "$B" agent --controller "$FAKE" --key "${AGENT_KEY:-$T/key}" --name "$name" \
        --work-dir "$T/agent-$name" "$@" >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
    wait_for 20 bash -c "[ \$(grep -c '^registered $name ' '$T/fake.log') -gt $before ]" ||
        fail "agent $name did not register"
}

# stop_agent NAME: SIGTERM, and wait until it has exited.
stop_agent() {
    kill "${AGENT_PID[$1]}"
    wait "${AGENT_PID[$1]}" 2>/dev/null
    unset "AGENT_PID[$1]"
}

# order JOB UID GID USER GPUS SCRIPT [CKPT] [CWD]: a Launch of `sh -c SCRIPT`, one rank per GPU
# of GPUS (comma separated).
order() {
    python3 -c '
import json, sys
a = sys.argv[1:] + ["", ""]
print(json.dumps({"job": int(a[0]), "uid": int(a[1]), "gid": int(a[2]), "user": a[3],
                  "gpus": [int(g) for g in a[4].split(",")], "argv": ["/bin/sh", "-c", a[5]],
                  "ckpt": a[6], "cwd": a[7]}))' "$@" >>"$T/launches"
}

# exited JOB [SECONDS]: wait for the Exited of JOB; prints the fake's line
# "exited JOB INC code C rank R energy_j E flops F".
exited() {
    wait_for "${2:-30}" grep -q "^exited $1 " "$T/fake.log" || fail "no Exited for job $1"
    grep "^exited $1 " "$T/fake.log" | tail -n 1
}

# mode_of PATH: "OWNER:GROUP MODE" (numeric ids, octal mode).
mode_of() { stat -c '%u:%g %a' "$1"; }
