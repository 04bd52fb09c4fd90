#!/bin/bash
# health_nodriver.sh - an agent started without --fake-gpus on a machine NVML cannot serve (no
# libnvidia-ml.so.1, a driver that is not loaded, no GPU, every GPU lost) is refused with one
# clear message and a non-zero exit, before it registers; bad health options are refused too.
# timeout: 60
. "$(dirname "$0")/health_lib.bash"

start_controller --nodes 4 --gpus-per-node 2
# expect_refused PATTERN [AGENT ARGS...]: exits 1 within 10 s, message on stderr, no node.
expect_refused() {
    local pat=$1 rc
    shift
    timeout 10 "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name nodrv \
        --work-dir "$T/agents/nodrv" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ $rc = 1 ] || fail "agent $* exited $rc, wanted 1: $(cat "$T/err")"
    grep -q -- "$pat" "$T/err" || fail "agent $*: '$(cat "$T/err")' lacks '$pat'"
    grep -q -- "--fake-gpus N" "$T/err" || fail "agent $*: no hint at --fake-gpus: $(cat "$T/err")"
    log "refused: $(cat "$T/err")"
}
COLOSSUS_NVML_LIB=$T/none/libnvidia-ml.so.1 expect_refused "no NVIDIA driver"
export COLOSSUS_FAKE_NVML=$T/nvml-nodrv
printf 'init 9\ngpus 2\n' >"$COLOSSUS_FAKE_NVML"
expect_refused "driver not loaded"
printf 'gpus 0\n' >"$COLOSSUS_FAKE_NVML"
expect_refused "no GPUs found through NVML"
printf 'gpus 2\ngpu 0 lost 1\ngpu 1 lost 1\n' >"$COLOSSUS_FAKE_NVML"
expect_refused "no GPUs found through NVML"
[ "$("$B" nodes --json | jfield 'len(d)')" = 0 ] || fail "a refused agent registered: $("$B" nodes)"

log "bad health options"
healthy_script ok 2
export COLOSSUS_FAKE_NVML=$T/nvml-ok
for args in "--check-at-start sometimes" "--check-before-job yes" "--health-poll-ms 10" "--health-poll-ms x"; do
    # shellcheck disable=SC2086
    timeout 10 "$B" agent --controller "$CTL_ADDR" --key "$T/key" --name ok --work-dir "$T/agents/ok" $args 2>"$T/err"
    rc=$?
    [ $rc = 2 ] || fail "agent $args exited $rc, wanted 2"
    grep -q -- "${args%% *}" "$T/err" || fail "agent $args: message '$(cat "$T/err")' does not name the option"
done
log "health_nodriver: ok"
