#!/bin/bash
# cli_flags.sh - one flag style for every subcommand of the CLI, the simulator and the tools,
# as a table of cases: --help and -h (usage on stdout, exit 0), an unknown flag (exit 2, the
# flag named on stderr), a bad number (exit 2, flag and value named), a missing or an extra
# argument (exit 2, named), and no controller to talk to (exit 1, a clear message): none
# given, or one that refuses the connection (a port bound by this test that does not listen).
# Starts no cluster.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"
export COLOSSUS_DIR=$T/empty COLOSSUS_CONTROLLER= COLOSSUS_KEY=
mkdir -p "$COLOSSUS_DIR"

# A port nothing listens on, held for the whole test (bound, never listening: connect() is
# refused at once, and no other process can take the port meanwhile).
exec 3< <(exec /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True); time.sleep(600)')
PIDS+=($!)
read -r -t 10 PORT <&3 || fail "no port from the helper"
REFUSED=127.0.0.1:$PORT

cases=0 failed=0
# t RC STREAM TEXT ARGS...: `colossus ARGS` exits RC and STREAM (out or err) contains TEXT (a
# fixed string); the other stream is empty.
t() {
    local want=$1 stream=$2 text=$3 rc=0 other; shift 3
    cases=$((cases + 1))
    "$B" "$@" >out.txt 2>err.txt </dev/null || rc=$?
    [ "$stream" = out ] && other=err.txt || other=out.txt
    if [ "$rc" != "$want" ] || ! grep -qF -- "$text" "$stream.txt" || [ -s "$other" ]; then
        failed=$((failed + 1))
        log "FAIL: colossus $*: exit $rc (want $want), want '$text' on std$stream"
        sed 's/^/    out| /' out.txt | head -n 5
        sed 's/^/    err| /' err.txt | head -n 5
    fi
}

# Every subcommand in the table: help on stdout (both spellings), unknown flags named.
for cmd in submit jobs show cancel wait logs nodes drain resume tenants keygen up down sim \
    topo "bench sched"; do
    set -- $cmd
    t 0 out "usage: colossus $cmd" "$@" --help
    t 0 out "usage: colossus $cmd" "$@" -h
    t 2 err "colossus $cmd: unknown option '--frobnicate'" "$@" --frobnicate
    t 2 err "colossus $cmd: unknown option '-Z'" "$@" -Z
done
t 0 out "usage: colossus COMMAND" --help
t 2 err "colossus: unknown command 'frobnicate'" frobnicate
t 0 out "usage: colossus bench BENCHMARK" bench --help
t 2 err "colossus bench: unknown benchmark 'frob'" bench frob
t 2 err "colossus bench: which benchmark?" bench

# Bad numbers: the flag and the value named.
t 2 err "colossus submit: -N must be a number in 1..1000000, not 'x'" submit -N x -- true
t 2 err "colossus submit: --gpus-per-node must be a number in 1..64, not '65'" submit --gpus-per-node 65 -- true
t 2 err "colossus submit: --priority must be a number in -1000000..1000000, not '1.5'" submit --priority 1.5 -- true
t 2 err "colossus submit: --time-limit must be a number in [0, 525600], not 'soon'" submit --time-limit soon -- true
t 2 err "colossus submit: --time-limit must be at least 1 second (0.0167 minutes), not '0'" submit --time-limit 0 -- true
t 2 err "colossus submit: --time-limit must be at least 1 second (0.0167 minutes), not '1e-9'" submit --time-limit 1e-9 -- true
t 2 err "colossus submit: --time-limit must be at least 1 second (0.0167 minutes), not '0.0166'" submit --time-limit 0.0166 -- true
t 2 err "colossus submit: --time-limit must be a number in [0, 525600], not '525601'" submit --time-limit 525601 -- true
t 2 err "colossus submit: --time-limit must be a number in [0, 525600], not 'nan'" submit --time-limit nan -- true
t 2 err "colossus submit: --max-restarts must be a number in 0..1000, not '-1'" submit --max-restarts -1 -- true
t 2 err "colossus wait: --timeout must be a number in 1..100000000, not '0'" wait 1 --timeout 0
t 2 err "colossus logs: --rank must be a number in 0..100000000, not 'x'" logs 1 --rank x
t 2 err "colossus up: --nodes must be a number in 1..64, not '0'" up --nodes 0
t 2 err "colossus up: --gpus-per-node must be a number in 1..64, not '99'" up --gpus-per-node 99
t 2 err "colossus sim: --days must be a number in [1e-06, 3650], not 'abc'" sim --days abc
t 2 err "colossus sim: --nodes must be a number in 1..4000000, not '1.5'" sim --nodes 1.5 --gpus-per-node 8
t 2 err "colossus topo: --nodes must be a number in 1..100000000, not '0'" topo --nodes 0
t 2 err "colossus bench sched: --pending must be a number in 0..100000000, not '-1'" bench sched --pending -1
t 2 err "colossus bench sched: --load must be a number in [0, 0.95], not '7'" bench sched --load 7

# Values: missing, given to a flag that takes none, not a job id.
t 2 err "colossus wait: option '--timeout' needs a value" wait 1 --timeout
t 2 err "colossus submit: option '-N' needs a value" submit -N
t 2 err "colossus jobs: option '--json' takes no value" jobs --json=yes
t 2 err "colossus show: 'abc' is not a job id" show abc
t 2 err "colossus cancel: '0' is not a job id" cancel 0

# Positional arguments: an extra one named, a missing one said.
for cmd in jobs nodes tenants keygen up down sim topo "bench sched"; do
    set -- $cmd
    t 2 err "colossus $cmd: unexpected argument 'extra'" "$@" extra
done
for cmd in show cancel wait logs; do
    t 2 err "colossus $cmd: unexpected argument '2'" $cmd 1 2
    t 2 err "colossus $cmd: missing JOB" $cmd
done
t 2 err "colossus drain: unexpected argument 'n2'" drain n1 n2 --reason r
t 2 err "colossus drain: missing NODE" drain --reason r
t 2 err "colossus drain: --reason TEXT is required" drain n1
t 2 err "colossus resume: unexpected argument 'n2'" resume n1 n2
t 2 err "colossus resume: missing NODE" resume
t 2 err "colossus resume: unknown option '--reason'" resume n1 --reason r
t 2 err "colossus submit: no command given" submit -N 2

# Values that do not fit are refused with the limit named, never cut or clamped.
R127=$(printf 'r%.0s' $(seq 127))
t 2 err "colossus drain: --reason is 128 bytes, longer than the 127 the controller keeps" drain n1 --reason "${R127}x"
t 1 err "colossus drain: no controller given" drain n1 --reason "$R127" # 127 fits
t 2 err "colossus drain: --reason is 128 bytes, longer than the 127" drain n1 --check --reason "${R127}x"
LONG=$(printf 'h%.0s' $(seq 300))
t 2 err "colossus jobs: --controller is longer than 255 bytes" jobs --controller "$LONG:1" --key "$T/key"
t 2 err "colossus submit: --controller is longer than 255 bytes" submit --controller "$LONG:1" --key "$T/key" -- true
t 2 err "colossus wait: --controller is longer than 255 bytes" wait 1 --controller "$LONG:1" --key "$T/key"
COLOSSUS_CONTROLLER=$LONG:1 t 1 err "colossus nodes: \$COLOSSUS_CONTROLLER is longer than 255 bytes" nodes --key "$T/key"
mkdir -p "$T/longaddr" && echo "$LONG:1" > "$T/longaddr/address"
COLOSSUS_DIR=$T/longaddr t 1 err "colossus jobs: the address in $T/longaddr/address is longer than 255 bytes" jobs --key "$T/key"
DEEP=$T/deep$(printf '/d%.0s' $(seq 2100)) # inside $T, should a cut path ever be made
COLOSSUS_DIR=$DEEP t 1 err "colossus jobs: \$COLOSSUS_DIR is longer than 4095 bytes" jobs
t 2 err "colossus up: --dir is longer than 2047 bytes" up --dir "$DEEP"

# No controller: none given, one that refuses, a key that is not there.
client_cmds=("submit -- true" "jobs" "show 1" "cancel 1" "wait 1" "logs 1" "nodes"
    "drain n1 --reason r" "resume n1" "tenants")
for c in "${client_cmds[@]}"; do
    set -- $c
    t 1 err "colossus $1: no controller given: use --controller HOST:PORT" "$@"
    [ "$1" = wait ] && continue # wait retries a controller that is away (below)
    t 1 err "colossus $1: cannot connect to $REFUSED: Connection refused" \
        "$1" --controller "$REFUSED" --key "$T/key" "${@:2}"
    t 1 err "colossus $1: cannot read key file $T/nokey" "$1" --controller "$REFUSED" --key "$T/nokey" "${@:2}"
done
t 124 err "colossus wait: job 1 did not finish within 1 s" wait 1 --timeout 1 --controller "$REFUSED" --key "$T/key"
grep -qF "colossus wait: cannot connect to $REFUSED: Connection refused; retrying" err.txt ||
    { failed=$((failed + 1)); log "FAIL: wait did not say why it retried: $(cat err.txt)"; }

log "$cases cases, $failed failed"
[ "$failed" = 0 ] || fail "$failed of $cases cases failed"
log "PASS"
