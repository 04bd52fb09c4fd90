# cluster_lib.bash - shared helpers of the cluster_*.sh integration tests: a private directory,
# a controller and agents on 127.0.0.1 (kernel-chosen port), waiting with deadlines, and a
# cleanup trap that stops every process the test started (and the ranks they left) by pid.
set -u
B=${COLOSSUS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bin/colossus}
T=$(mktemp -d "${TMPDIR:-/tmp}/cl-cluster-test.XXXXXX")
PIDS=()
declare -A AGENT_PID
CTL_PID=
export COLOSSUS_KEY=$T/key COLOSSUS_DIR=$T/nodir

log() { echo "[$(date +%T.%N | cut -c1-12)] $*"; }
fail() {
    log "FAIL: $*"
    for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
    exit 1
}

# Ranks our jobs started: processes with a COLOSSUS_JOB_ID whose working directory is inside
# $T (they run in their own sessions, so killing an agent by pid does not reach them).
our_ranks() {
    local p
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/cwd" 2>/dev/null)" in
        "$T"*) tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -q '^COLOSSUS_JOB_ID=' && echo "${p#/proc/}" ;;
        esac
    done
}

cleanup() {
    local rc=$? p
    for p in "${AGENT_PID[@]}" $CTL_PID "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        local alive=0
        for p in "${AGENT_PID[@]}" $CTL_PID "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${AGENT_PID[@]}" $CTL_PID "${PIDS[@]}" $(keepers "$T/") $(our_ranks); do kill -9 "$p" 2>/dev/null; done
    # 77: skipped (tests/run.sh), its last line says why: nothing to keep, nothing to add
    if { [ $rc -ne 0 ] && [ $rc -ne 77 ]; } || [ -n "${KEEP_TEST_DIR:-}" ]; then
        log "test dir kept: $T ${EXTRA_DIRS:-}"
    else rm -rf "$T" ${EXTRA_DIRS:-}; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$B" keygen > "$T/key" || fail "keygen"
chmod 600 "$T/key"

# wait_for SECONDS CMD... : poll until CMD succeeds.
wait_for() {
    local limit=$1 t0=$SECONDS; shift
    until "$@" >/dev/null 2>&1; do
        [ $((SECONDS - t0)) -ge "$limit" ] && return 1
        sleep 0.1
    done
}

# start_controller [ARGS...]: on 127.0.0.1, port chosen by the kernel; sets CTL_ADDR.
HB_MS=${HB_MS:-200}
DEAD_MS=${DEAD_MS:-1000}
start_controller() {
    rm -f "$T/addr"
    local listen=${CTL_ADDR:-127.0.0.1:0}
    "$B" controller --state-dir "${STATE_DIR:-$T/state}" --listen "$listen" --key "$T/key" \
        --address-file "$T/addr" --heartbeat-ms "$HB_MS" --dead-after-ms "$DEAD_MS" "$@" \
        >>"$T/controller.log" 2>&1 &
    CTL_PID=$!
    wait_for 20 test -s "$T/addr" || fail "controller did not start"
    CTL_ADDR=$(cat "$T/addr")
    export COLOSSUS_CONTROLLER=$CTL_ADDR
}

# start_agent NAME GPUS [AGENT OPTIONS]: the tests run as root and so do their jobs
# (--allow-root-jobs).
start_agent() {
    local name=$1 gpus=$2
    shift 2
    "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "$name" --work-dir "${AGENT_ROOT:-$T/agents}/$name" \
        --fake-gpus "$gpus" --allow-root-jobs "$@" >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
}

# start_relay NAME [RELAY OPTIONS]: `colossus relay` under the controller at $CTL_ADDR,
# listening on a kernel-chosen port, log $T/relay-NAME.log; sets R_<NAME> (its address) and
# RPID_<NAME>.
start_relay() {
    local name=$1
    shift
    rm -f "$T/$name.addr"
    "$B" relay --controller "$CTL_ADDR" --listen 127.0.0.1:0 --key "$T/key" --name "$name" \
        --address-file "$T/$name.addr" "$@" >>"$T/relay-$name.log" 2>&1 &
    PIDS+=($!)
    eval "RPID_$name=$!"
    wait_for 10 test -s "$T/$name.addr" || fail "relay $name did not start"
    eval "R_$name=$(cat "$T/$name.addr")"
}

# nodes_up N: wait until N nodes are up.
nodes_up_count() { "$B" nodes --json | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["state"]=="up" and n["connected"]))'; }
wait_nodes_up() {
    local n=$1
    wait_for "${2:-20}" bash -c "[ \"\$(\"$B\" nodes --json | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n[\"state\"]==\"up\" and n[\"connected\"]))')\" -ge $n ]" ||
        fail "$n nodes did not come up"
}

# jq-like: jfield PYTHON-EXPR < JSON (d is the parsed document)
jfield() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
job_field() { "$B" show "$1" --json | jfield "$2"; }
job_state() { job_field "$1" 'd["state"]'; }
wait_state() { # JOB STATE SECONDS
    wait_for "${3:-30}" bash -c "[ \"\$(\"$B\" show $1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = $2 ]"
}
# The keepers (one per launch, the ranks' parent: docs/standby.md) under directory DIR, as
# their command line shows them: "colossus keep job<ID>-inc<N> <WORK DIR>/keep".
keepers() { pgrep -f -- "colossus keep job[0-9]+-inc[0-9]+ $1" || true; }
# Kill an agent like a node dying: the agent, its keepers and every rank they started
# (kill -9). Ranks are the keepers' children (--no-keepers: the agent's), each leading its
# own process group.
kill_node() {
    local apid=${AGENT_PID[$1]} kids k
    kids=$(pgrep -P "$apid")
    kill -9 "$apid"
    for k in $(keepers "${AGENT_ROOT:-$T/agents}/$1/keep"); do
        kids="$kids $(pgrep -P "$k")"
        kill -9 "$k"
    done
    for k in $kids; do kill -9 -- "-$k" 2>/dev/null; done
    unset "AGENT_PID[$1]"
}

# stop_all: TERM every agent and the controller and wait for them (agents stop their ranks).
stop_all() {
    local p
    for p in "${AGENT_PID[@]}" $CTL_PID; do kill "$p" 2>/dev/null; done
    for p in "${AGENT_PID[@]}" $CTL_PID; do wait "$p" 2>/dev/null; done
    AGENT_PID=()
    CTL_PID=
    unset CTL_ADDR
}

# start_hollow A PER RUN_MS SECONDS [GPUS]: A hollow agents h0..h(A-1) of PER nodes each
# (`agent --hollow`: the real agent and protocol, simulated launches of RUN_MS each), GPUS
# fake GPUs a node (2), logs in $T/agent-hI.log; waits at most SECONDS for every node's
# registration.
start_hollow() {
    local a=$1 per=$2 run_ms=$3 secs=$4 gpus=${5:-2} i
    for i in $(seq 0 $((a - 1))); do
        "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "h$i" --work-dir "$T/h$i" \
            --fake-gpus "$gpus" --hollow "$per" --hollow-run-ms "$run_ms" \
            >>"$T/agent-h$i.log" 2>&1 &
        AGENT_PID[h$i]=$!
    done
    wait_for "$secs" bash -c \
        "[ \$(cat $T/agent-h*.log | grep -c 'registered h[0-9]*-$((per - 1)) ') = $a ]" ||
        fail "not every node registered"
}

# stop_controller_clean: the controller is alive, stops on TERM with status 0, and its log has
# no sanitizer report (the ASan build's leaks and errors).
stop_controller_clean() {
    local rc=0
    kill -0 "$CTL_PID" || fail "the controller died"
    kill "$CTL_PID"
    wait "$CTL_PID" || rc=$?
    CTL_PID=
    [ $rc = 0 ] || fail "the controller exited $rc"
    ! grep -q "Sanitizer\|runtime error" "$T/controller.log" || fail "sanitizer report in the log"
}

# bad RC TEXT ARGS...: `colossus submit ARGS` (as $COLOSSUS_TOKEN's user, if set) exits RC
# with TEXT on stderr and prints nothing (a refused submission; the tests of issue 15).
bad() {
    local want=$1 text=$2 rc=0; shift 2
    "$B" submit "$@" >bad.out 2>bad.err || rc=$?
    [ "$rc" = "$want" ] && grep -qF -- "$text" bad.err && [ ! -s bad.out ] ||
        fail "submit $*: exit $rc (want $want), want '$text': $(cat bad.err bad.out)"
}

# agents_pub: agents n1 and n2 of 2 GPUs each, up, and the current directory $T/pub,
# writable by everyone (the ranks of the tests' users write there).
agents_pub() {
    start_agent n1 2
    start_agent n2 2
    wait_nodes_up 2
    chmod 755 "$T"
    mkdir -m 1777 "$T/pub"
    cd "$T/pub" || fail "cd $T/pub"
}

# api_people: tenants A and B; alice (A), bob (B) and oscar (A, operator; his token of scope
# admin), each with a token in $T/NAME.tok; the users of the REST tests.
api_people() {
    "$B" tenant add A >/dev/null || fail "tenant A"
    "$B" tenant add B >/dev/null || fail "tenant B"
    "$B" user add alice --tenant A --uid 61001 --gid 61001 >/dev/null || fail "alice"
    "$B" user add bob --tenant B --uid 61002 --gid 61002 >/dev/null || fail "bob"
    "$B" user add oscar --tenant A --uid 61003 --gid 61003 >/dev/null || fail "oscar"
    "$B" user set oscar --role operator >/dev/null || fail "oscar operator"
    "$B" token create --user alice >"$T/alice.tok" || fail "alice's token"
    "$B" token create --user bob >"$T/bob.tok" || fail "bob's token"
    "$B" token create --user oscar --scope admin >"$T/oscar.tok" || fail "oscar's token"
}

# start_prometheus TARGET TOKEN-FILE: a real Prometheus server (Debian's `prometheus`) as the
# current user, on 127.0.0.1 (a port the kernel chose free a moment before: retried if taken
# meanwhile), storage in $T/prom, scraping http://TARGET/metrics every second with the
# token; sets PROM (its base URL) and waits until its API answers. Stopped by the cleanup.
start_prometheus() {
    command -v prometheus >/dev/null ||
        fail "prometheus is missing (Debian: prometheus; make check installs it through scripts/install-deps.sh)"
    cat >"$T/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: colossus
    metrics_path: /metrics
    authorization: {credentials_file: $2}
    static_configs: [{targets: ['$1']}]
YML
    local try port pid
    for try in 1 2 3; do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
            --web.listen-address="127.0.0.1:$port" --log.level=warn >>"$T/prometheus.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        export PROM=http://127.0.0.1:$port
        wait_for 30 bash -c "kill -0 $pid && curl -sf --max-time 2 $PROM/-/ready" && return 0
        kill -0 "$pid" 2>/dev/null && fail "prometheus on $PROM did not become ready"
    done
    fail "prometheus did not start: $(tail -n 5 "$T/prometheus.log")"
}

# prom_value EXPR: the value of an instant query's single sample ("" when there is none).
prom_value() {
    curl -sf --max-time 5 -G "$PROM/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "")'
}
export -f prom_value
# wait_prom SECONDS EXPR VALUE: until Prometheus's latest scrape gives EXPR that value.
wait_prom() {
    wait_for "$1" bash -c "[ \"\$(prom_value '$2')\" = '$3' ]" ||
        fail "Prometheus: $2 = '$(prom_value "$2")', not $3 within $1 s"
}
