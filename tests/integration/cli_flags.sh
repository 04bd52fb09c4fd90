#!/bin/bash
# cli_flags.sh - one flag style for every subcommand of the CLI, the simulator, the tools, the
# daemons (controller, agent) and the GPU commands, as a table of cases: --help and -h (usage
# on stdout, exit 0), an unknown flag (exit 2, the flag named on stderr), a bad number (exit 2,
# flag and value named), a missing or an extra argument (exit 2, named), and no controller to
# talk to (exit 1, a clear message): none given, or one that refuses the connection (a port
# bound by this test that does not listen).
# The service commands of issue 11 (tenant, user, qos, token, node-token, node, history,
# usage, audit, whoami): subcommands, every value checked before anything is sent (names,
# durations, times, hostlists, limits, choices), conflicting flags; and the credential a
# client presents: a missing or malformed token file named, a bad $COLOSSUS_TOKEN named
# without its secret. Starts no cluster.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"
export COLOSSUS_DIR=$T/empty COLOSSUS_CONTROLLER= COLOSSUS_KEY= COLOSSUS_IDENTITY=
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
SVC_CMDS=("tenant add" "tenant set" "tenant list" "tenant show" "user add" "user set"
    "user list" "qos add" "qos set" "qos list" "token create" "token list" "token revoke"
    "node-token create" "node remove" history usage audit whoami)
for cmd in submit jobs show cancel wait logs nodes drain resume tenants keygen up down sim \
    topo "bench sched" "${SVC_CMDS[@]}"; do
    set -- $cmd
    t 0 out "usage: colossus $cmd" "$@" --help
    t 0 out "usage: colossus $cmd" "$@" -h
    t 2 err "colossus $cmd: unknown option '--frobnicate'" "$@" --frobnicate
    t 2 err "colossus $cmd: unknown option '-Z'" "$@" -Z
done
# The daemons and the GPU commands take their flags in the same style (util/flags.h).
for cmd in controller agent "gpu list" "gpu check"; do
    set -- $cmd
    t 0 out "colossus $cmd" "$@" --help
    t 0 out "colossus $cmd" "$@" -h
    t 2 err "colossus $cmd: unknown option '--frobnicate'" "$@" --frobnicate
    t 2 err "colossus $cmd: unknown option '-Z'" "$@" -Z
    t 2 err "colossus $cmd: unexpected argument 'extra'" "$@" extra
done
t 2 err "colossus controller: option '--state-dir' needs a value" controller --state-dir
t 2 err "colossus controller: option '--help' takes no value" controller --help=1
t 2 err "colossus controller: --heartbeat-ms must be a number in 10..600000, not 'abc'" \
    controller --heartbeat-ms abc
t 2 err "colossus agent: option '--controller' needs a value" agent --controller
t 2 err "colossus agent: --mem: '10XB': unknown unit 'XB'" agent --mem 10XB
t 2 err "colossus agent: --cpus must be a number in 0..1048576, not '-1'" agent --cpus -1
t 2 err "colossus agent: --log-root must be an absolute path, not 'rel'" agent --log-root rel
t 2 err "colossus controller: --log-root must be an absolute path" controller --log-root rel
t 2 err "colossus gpu list: option '--json' takes no value" gpu list --json=1
t 2 err "colossus gpu list: unknown option '--quick'" gpu list --quick
t 0 out "usage: colossus COMMAND" --help
t 2 err "colossus: unknown command 'frobnicate'" frobnicate
t 0 out "usage: colossus bench BENCHMARK" bench --help
t 2 err "colossus bench: unknown benchmark 'frob'" bench frob
t 2 err "colossus bench: which benchmark?" bench
for cmd in tenant user qos token node-token node; do
    t 0 out "usage: colossus $cmd SUBCOMMAND" $cmd --help
    t 2 err "colossus $cmd: unknown subcommand 'frob'" $cmd frob
    t 2 err "colossus $cmd: which subcommand?" $cmd
done

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
# Long options match exactly (issue 15): no abbreviations, Slurm's other meanings refused.
t 2 err "colossus submit: unknown option '--gpus': Slurm's --gpus is a total" submit --gpus 4 -- true
t 2 err "colossus submit: unknown option '--time-lim'" submit --time-lim 10 -- true
t 2 err "colossus submit: unknown option '--gpus-per'" submit --gpus-per=2 -- true
t 2 err "colossus jobs: unknown option '--al'" jobs --al
t 2 err "colossus nodes: unknown option '--js'" nodes --js
t 2 err "colossus submit: --time must be MIN, MIN:SEC" submit --time 1:2:3:4 -- true
t 2 err "colossus submit: --ntasks-per-node must be a number in 1..64, not '0'" submit --ntasks-per-node 0 -- true
t 2 err "colossus submit: --chdir must be an absolute path, not 'rel'" submit -D rel -- true
t 2 err "colossus submit: --mem-per-gpu: '10XB': unknown unit 'XB'" submit --mem-per-gpu 10XB -- true
t 2 err "colossus submit: --mem-per-gpu: a memory size of 0 is no memory" submit --mem-per-gpu 0 -- true
t 2 err "colossus submit: --cpus-per-gpu must be a number in 1..1024, not '0'" submit --cpus-per-gpu 0 -- true
t 2 err "colossus submit: --export must be ALL, NONE or NAME[=VALUE] items, not ''" submit --export= -- true
t 2 err "colossus wait: --timeout must be a number in 1..100000000, not '0'" wait 1 --timeout 0
t 2 err "colossus logs: --rank must be a number in 0..100000000, not 'x'" logs 1 --rank x
t 2 err "colossus up: --nodes must be a number in 1..64, not '0'" up --nodes 0
t 2 err "colossus up: --gpus-per-node must be a number in 1..64, not '99'" up --gpus-per-node 99
t 2 err "colossus sim: --days must be a number in [1e-06, 3650], not 'abc'" sim --days abc
t 2 err "colossus sim: --nodes must be a number in 1..4000000, not '1.5'" sim --nodes 1.5 --gpus-per-node 8
t 2 err "colossus topo: --nodes must be a number in 1..100000000, not '0'" topo --nodes 0
t 2 err "colossus bench sched: --pending must be a number in 0..100000000, not '-1'" bench sched --pending -1
t 2 err "colossus bench sched: --load must be a number in [0, 0.95], not '7'" bench sched --load 7

# The service commands' values, checked before anything is sent.
t 2 err "colossus tenant add: missing NAME" tenant add
t 2 err "colossus tenant add: unexpected argument 'y'" tenant add x y
t 2 err "colossus tenant add: the tenant name must not hold ':'" tenant add a:b
t 2 err "colossus tenant add: the tenant name is 64 bytes, longer than the 63" tenant add "$(printf 'n%.0s' $(seq 64))"
t 2 err "colossus tenant add: the tenant name holds a control character" tenant add $'a\tb'
t 2 err "colossus tenant add: the tenant name is not valid UTF-8" tenant add $'a\xffb'
t 2 err "colossus tenant add: --shares must be more than 0, not '0'" tenant add x --shares 0
t 2 err "colossus tenant add: --shares must be a number in [0, 1e+06], not 'lots'" tenant add x --shares lots
t 2 err "colossus tenant add: --quota-gpus must be a number in 0..100000000 or 'none', not '-1'" tenant add x --quota-gpus -1
t 2 err "colossus tenant add: --borrow-limit must be a number in 0..100000000 or 'none', not 'all'" tenant add x --borrow-limit all
t 2 err "colossus tenant add: --lend-limit must be a number in 0..100000000 or 'all', not 'none'" tenant add x --lend-limit none
t 2 err "colossus tenant add: --budget-gpu-hours must be a number in [0, 1e+12], not '-5'" tenant add x --budget-gpu-hours -5
t 2 err "colossus tenant add: --period: '1.5d': use whole numbers" tenant add x --budget-gpu-hours 5 --period 1.5d
t 2 err "colossus tenant add: --period: 'week' is not a duration" tenant add x --budget-gpu-hours 5 --period week
t 2 err "colossus tenant add: --period: '5q': unknown unit 'q'" tenant add x --budget-gpu-hours 5 --period 5q
t 2 err "colossus tenant add: --period needs --budget-gpu-hours" tenant add x --period month
t 2 err "colossus tenant add: --budget-stop needs --budget-gpu-hours" tenant add x --budget-stop
t 2 err "colossus tenant add: give --budget-stop or --no-budget-stop, not both" tenant add x --budget-gpu-hours 5 --budget-stop --no-budget-stop
t 2 err "colossus tenant add: --parent must not be empty" tenant add x --parent ''
t 2 err "colossus tenant set: nothing to change" tenant set x
t 2 err "colossus tenant set: option '--cohort' needs a value" tenant set x --cohort
t 2 err "colossus tenant show: missing NAME" tenant show
t 2 err "colossus tenant list: unexpected argument 'x'" tenant list x
t 2 err "colossus user add: --tenant T is required" user add u
t 2 err "colossus user add: the role in --tenant T:ROLE must be user or manager, not 'boss'" user add u --tenant t:boss
t 2 err "colossus user add: --role must be user or manager, not 'admin'" user add u --tenant t --role admin
t 2 err "colossus user add: give --uid and --gid together" user add u --tenant t --uid 1000
t 2 err "colossus user add: --uid must be a number in 0..4294967294, not '-1'" user add u --tenant t --uid -1 --gid 1
t 2 err "colossus user add: --tenant t is given twice" user add u --tenant t --tenant t:manager
t 2 err "colossus user add: unknown option '--disable'" user add u --tenant t --disable
t 2 err "colossus user set: --role must be operator, admin or none, not 'root'" user set u --role root
t 2 err "colossus user set: give --disable or --enable, not both" user set u --disable --enable
t 2 err "colossus user set: nothing to change" user set u
t 2 err "colossus user set: --tenant must not be empty" user set u --tenant :manager
t 2 err "colossus qos add: --max-priority must be a number in -1000000..1000000, not '2000000'" qos add q --max-priority 2000000
t 2 err "colossus qos add: --max-gpus-per-job must be at least 1 (or none), not '0'" qos add q --max-gpus-per-job 0
t 2 err "colossus qos add: --max-wall: '12x': unknown unit 'x'" qos add q --max-wall 12x
t 2 err "colossus qos add: --max-running must be a number in 0..10000000 or 'none', not 'many'" qos add q --max-running many
t 2 err "colossus qos set: give --preemptible or --no-preemptible, not both" qos set q --preemptible --no-preemptible
t 2 err "colossus qos set: nothing to change" qos set q
t 2 err "colossus token create: --scope must be read, submit or admin, not 'root'" token create --scope root
t 2 err "colossus token create: --expires must be at least 1 second, not '0'" token create --expires 0
t 2 err "colossus token create: --expires: '5y': unknown unit 'y'" token create --expires 5y
t 2 err "colossus token create: --expires: '36501d' is longer than 100 years" token create --expires 36501d
t 2 err "colossus token create: unknown option '--nodes'" token create --nodes n1
t 2 err "colossus token create: unexpected argument 'x'" token create x
t 2 err "colossus token revoke: 'tk-123' is not a token id" token revoke tk-123
t 2 err "colossus token revoke: missing ID" token revoke
t 2 err "colossus node-token create: --nodes: 'n[1-4' at byte 5: expected ',' or ']'" node-token create --nodes 'n[1-4'
t 2 err "colossus node-token create: --nodes: 'n[4-1]' at byte 2: the range 4-1 runs backwards" node-token create --nodes 'n[4-1]'
t 2 err "colossus node-token create: --nodes: 'a,,b' at byte 2: an empty name" node-token create --nodes a,,b
t 2 err "colossus node-token create: unknown option '--scope'" node-token create --scope admin
t 2 err "colossus node remove: the node name must not hold ','" node remove a,b
t 2 err "colossus node remove: missing NAME" node remove
t 2 err "colossus history: --since: 'yesterday' is not a time" history --since yesterday
t 2 err "colossus history: --since: '3600' is not a time: give a unit" history --since 3600
t 2 err "colossus history: --until: '2026-02-30': there is no day 30 in month 2 of 2026" history --until 2026-02-30
t 2 err "colossus history: --since: '2026-11-01T12:00CET': 'CET' is not a zone" history --since 2026-11-01T12:00CET
t 2 err "colossus history: --until must be later than --since" history --since 2026-11-02 --until 2026-11-01T23:59Z
t 2 err "colossus history: --state must be succeeded, failed, cancelled, timeout, node_fail, preempted, requeued, budget or out_of_memory, not 'done'" history --state done
t 2 err "colossus history: --limit must be a number in 1..1000000, not '0'" history --limit 0
t 2 err "colossus history: unknown option '--by'" history --by day
t 2 err "colossus history: 'x1' is not a job id (a positive number)" history --job x1
t 2 err "colossus history: '0' is not a job id (a positive number)" history --job 0
t 2 err "colossus usage: unknown option '--job'" usage --job 3
t 2 err "colossus usage: --by must be tenant, user, day or month, not 'week'" usage --by week
t 2 err "colossus usage: --since: '7w': unknown unit 'w'" usage --since 7w
t 2 err "colossus audit: --since: '2026-13-01' is out of range" audit --since 2026-13-01
t 2 err "colossus audit: unknown option '--state'" audit --state failed
t 2 err "colossus whoami: unexpected argument 'x'" whoami x

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
    "drain n1 --reason r" "resume n1" "tenants" "history" "usage" "audit" "whoami")
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

# The service commands (two words each: "CMD SUB|ARGS").
svc_client=("tenant add|x" "tenant set|x --shares 2" "tenant list|" "tenant show|x"
    "user add|u --tenant t" "user set|u --qos q" "user list|" "qos add|q"
    "qos set|q --preemptible" "qos list|" "token create|" "token list|"
    "token revoke|tk-0123456789abcdef" "node-token create|--nodes n[1-4]" "node remove|n1")
for c in "${svc_client[@]}"; do
    cmd=${c%%|*} args=${c#*|}
    t 1 err "colossus $cmd: no controller given: use --controller HOST:PORT" $cmd $args
    t 1 err "colossus $cmd: cannot connect to $REFUSED: Connection refused" \
        $cmd --controller "$REFUSED" --key "$T/key" $args
    t 1 err "colossus $cmd: cannot read key file $T/nokey" $cmd --controller "$REFUSED" --key "$T/nokey" $args
done

# The credential: --token FILE, $COLOSSUS_TOKEN, the `up` directory's token; each one that
# is missing or malformed is named (exit 1) before anything is sent, a secret never shown.
echo "colossus-token-v1.tk-0123456789abcdef.c2VjcmV0LXRoYXQtaXMtbm90LTMyLWJ5dGVz.x" > "$T/bad.tok"
t 1 err "colossus jobs: cannot read credential file $T/none.tok" jobs --controller "$REFUSED" --token "$T/none.tok"
t 1 err "colossus jobs: $T/bad.tok: malformed token tk-0123456789abcdef: its secret is not 32 bytes" jobs --controller "$REFUSED" --token "$T/bad.tok"
grep -qF "c2VjcmV0" err.txt && { failed=$((failed + 1)); log "FAIL: the token's secret was printed: $(cat err.txt)"; }
t 2 err "colossus jobs: give --token or --key, not both" jobs --controller "$REFUSED" --token "$T/bad.tok" --key "$T/key"
COLOSSUS_TOKEN=s3cr3t-n0t-a-token t 1 err "colossus tenant list: \$COLOSSUS_TOKEN: not a colossus token" tenant list --controller "$REFUSED"
grep -qF "s3cr3t" err.txt && { failed=$((failed + 1)); log "FAIL: \$COLOSSUS_TOKEN was printed: $(cat err.txt)"; }
COLOSSUS_TOKEN=$(cat "$T/bad.tok") t 1 err "colossus whoami: \$COLOSSUS_TOKEN: malformed token tk-0123456789abcdef" whoami --controller "$REFUSED"
grep -qF "c2VjcmV0" err.txt && { failed=$((failed + 1)); log "FAIL: \$COLOSSUS_TOKEN's secret was printed: $(cat err.txt)"; }
# an explicit --key wins over $COLOSSUS_TOKEN (and is read: a missing one is named)
COLOSSUS_TOKEN=s3cr3t t 1 err "colossus jobs: cannot read key file $T/nokey" jobs --controller "$REFUSED" --key "$T/nokey"
# the `up` directory: its token when there is one (named when malformed), else its key
mkdir -p "$T/updir" && cp "$T/bad.tok" "$T/updir/token"
COLOSSUS_DIR=$T/updir t 1 err "colossus jobs: $T/updir/token: malformed token" jobs --controller "$REFUSED"
COLOSSUS_DIR=$T/updir COLOSSUS_KEY=$T/key t 1 err "colossus jobs: cannot connect to $REFUSED" jobs --controller "$REFUSED"
rm "$T/updir/token"
COLOSSUS_DIR=$T/updir t 1 err "colossus jobs: cannot read key file $T/updir/key" jobs --controller "$REFUSED"

# a JWT goes only to a pinned controller identity: none, or one that cannot be read or
# parsed, is said before anything is sent (a wrong one is svc_jwt.sh's)
echo "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln" > "$T/a.jwt"
t 1 err "colossus jobs: a JWT is sent only to a controller whose identity is pinned: set COLOSSUS_IDENTITY" jobs --controller "$REFUSED" --token "$T/a.jwt"
COLOSSUS_IDENTITY=$T/none.pub t 1 err "colossus jobs: \$COLOSSUS_IDENTITY: cannot read the controller identity $T/none.pub" jobs --controller "$REFUSED" --token "$T/a.jwt"
COLOSSUS_IDENTITY=abcd t 1 err "colossus jobs: \$COLOSSUS_IDENTITY: not a controller identity" jobs --controller "$REFUSED" --token "$T/a.jwt"
t 1 err "colossus jobs: $T/a.jwt: not a controller identity" jobs --controller "$REFUSED" --token "$T/a.jwt" --identity "$T/a.jwt"
COLOSSUS_IDENTITY=$(printf '%064d' 0) t 1 err "colossus jobs: \$COLOSSUS_IDENTITY: not a controller identity" jobs --controller "$REFUSED" --token "$T/a.jwt"
COLOSSUS_IDENTITY=$(printf '%064d' 1) t 1 err "colossus jobs: cannot connect to $REFUSED" jobs --controller "$REFUSED" --token "$T/a.jwt"

log "$cases cases, $failed failed"
[ "$failed" = 0 ] || fail "$failed of $cases cases failed"
log "PASS"
