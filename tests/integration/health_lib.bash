# health_lib.bash - shared helpers of the health_*.sh integration tests: agents that find their
# GPUs through the fake NVML (build/fakenvml/libnvidia-ml.so.1, one script per node in
# $T/nvml-NAME) and check them with the fake burn-in library ($T/burn-NAME), on top of
# cluster_lib.bash (controller, cleanup trap, waiting helpers).
# A directory of our own for the test directories: /tmp is shared with other suites that clean
# up their own prefixes.
export TMPDIR=${TMPDIR:-/tmp}/colossus-health-tests
mkdir -p "$TMPDIR"
. "$(dirname "${BASH_SOURCE[0]}")/cluster_lib.bash"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export COLOSSUS_NVML_LIB=$ROOT/build/fakenvml/libnvidia-ml.so.1
export COLOSSUS_CUDA_LIB=$ROOT/build/fakenvml/libfakeburn.so
for f in "$COLOSSUS_NVML_LIB" "$COLOSSUS_CUDA_LIB"; do
    [ -f "$f" ] || fail "not built: $f (make check builds it)"
done
POLL_MS=${POLL_MS:-200}

# power_agents NGPUS [MW]: agents a and b with the fake NVML (healthy_script), their GPUs
# drawing MW milliwatts if given, H100 SXM's limits (200-700 W, default 700 W); up.
power_agents() {
    local n i
    for n in a b; do
        healthy_script $n "$1"
        for ((i = 0; i < $1; i++)); do
            [ -n "${2:-}" ] && echo "gpu $i power $2" >>"$T/nvml-$n"
            printf 'gpu %s power_min 200000\ngpu %s power_max 700000\ngpu %s power_default 700000\n' \
                $i $i $i >>"$T/nvml-$n"
        done
        start_nvml_agent $n --check-at-start off
    done
    wait_nodes_up 2
}

# power_cluster: a controller with HTTP on 2 nodes x 2 GPUs, agents a and b whose GPUs draw
# 650 W (power_agents), alice (user), oscar (operator) and their tokens (api_people).
power_cluster() {
    start_controller --nodes 2 --gpus-per-node 2 --http 127.0.0.1:0 --http-address-file "$T/http-address"
    cd "$T" || fail "cd $T"
    power_agents 2 650000
    api_people
}
# pshow PYEXPR: evaluate PYEXPR with d = `power show --json`.
pshow() { "$B" power show --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# healthy_script NAME NGPUS [CLIQUE]: H100s with every telemetry field answered.
healthy_script() {
    local name=$1 n=$2 clique=${3:-} i
    {
        echo "gpus $n"
        for ((i = 0; i < n; i++)); do
            cat <<S
gpu $i name NVIDIA H100 80GB HBM3
gpu $i uuid GPU-$name-0000-0000-0000-00000000000$i
gpu $i mem_total 85520809984
gpu $i mem_used $((1000000000 + i))
gpu $i power $((350000 + i * 1000))
gpu $i energy $((123456789 + i))
gpu $i temp $((40 + i))
gpu $i util_gpu $((90 + i))
gpu $i util_mem $((50 + i))
gpu $i sm_clock 1980
gpu $i mem_clock 2619
gpu $i ecc 1
gpu $i ecc_corr 0
gpu $i ecc_unc 0
gpu $i remap_corr 0
gpu $i remap_unc 0
gpu $i remap_pending 0
gpu $i remap_failure 0
S
            if [ -n "$clique" ]; then
                echo "gpu $i fabric_state 3"
                echo "gpu $i fabric_status 0"
                echo "gpu $i fabric_cluster 0123456789abcdef0123456789abcdef"
                echo "gpu $i fabric_clique $clique"
            fi
        done
    } >"$T/nvml-$name"
    : >"$T/burn-$name"
}

# set_gpu NAME GPU KEY VALUE: a later line wins (the fake reads the script on every call).
set_gpu() { echo "gpu $2 $3 $4" >>"$T/nvml-$1"; }
# xid NAME GPU XID: an XID event, delivered once to the agent's event set.
xid() { echo "event $2 $3" >>"$T/nvml-$1"; }
# no_events NAME: neutralise the scripted XIDs: a later gpu check opens its own event set and
# would see them again. They become XID 13 (an application's, which fails no check) rather than
# going away, because the fake counts the events it delivered by their position in the script.
no_events() { sed -i 's/^event \([0-9]*\) .*/event \1 13/' "$T/nvml-$1"; }

# start_nvml_agent NAME [ARGS...]: no --fake-gpus; NVML (fake) finds the GPUs; root jobs run.
start_nvml_agent() {
    local name=$1
    shift
    COLOSSUS_FAKE_NVML=$T/nvml-$name COLOSSUS_FAKE_BURN=$T/burn-$name \
        "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name "$name" \
        --work-dir "$T/agents/$name" --health-poll-ms "$POLL_MS" --allow-root-jobs "$@" \
        >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
}

# since T0: the seconds (2 decimals) from T0 (date +%s.%N) to now.
since() { python3 -c "print(f'{$(date +%s.%N) - $1:.2f}')"; }
# link_lost NAME: eth9 of NAME's sysfs tree ($T/sys-NAME, the agent's --sysfs-root) loses
# carrier; waits until the controller heard of it (the agent's drain-now). Sets LINK_T0 (when
# the carrier went) and LINK_OUT (the seconds until the controller logged the drain-now).
link_lost() {
    LINK_T0=$(date +%s.%N)
    echo 0 >"$T/sys-$1/class/net/eth9/carrier"
    wait_for 10 grep -q "node $1 GPU health drain-now: network link eth9 down (no carrier)" "$T/controller.log" ||
        fail "the controller did not hear of $1's lost link"
    LINK_OUT=$(since "$LINK_T0")
}

# node_json NAME PYEXPR: evaluate PYEXPR with n = that node's object of `nodes --json`.
node_json() {
    "$B" nodes --json | python3 -c "
import json, sys
n = [x for x in json.load(sys.stdin) if x['name'] == sys.argv[1]][0]
print($2)" "$1"
}
# later_reports NAME [N]: wait until the controller has applied N (default 2) more health
# reports of NAME than it had when called. A report carries the time of the agent's poll that
# made it (telemetry.time, every --health-poll-ms) and the controller takes its health decision
# on a report as it applies it: a test that asserts a report changed nothing waits for later
# ones, not for a guessed time.
later_reports() {
    local k t
    for ((k = 0; k < ${2:-2}; k++)); do
        t=$(node_json "$1" 'n["telemetry"]["time"]') || return 1
        wait_node "$1" "n['telemetry']['time'] > $t" || return 1
    done
}

# wait_node NAME PYCOND [SECONDS]: until PYCOND (a Python expression over n) holds.
wait_node() {
    local t0=$SECONDS
    until [ "$(node_json "$1" "bool($2)" 2>/dev/null)" = True ]; do
        [ $((SECONDS - t0)) -ge "${3:-15}" ] && return 1
        sleep 0.1
    done
}
