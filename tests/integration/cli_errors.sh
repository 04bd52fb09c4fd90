#!/bin/bash
# cli_errors.sh - a client command that fails says what is known, with its exit status
# (colossus --help): nothing was sent (no controller, a handshake that broke off: exit 1),
# the controller refused us (its reason, a wrong cluster key only when it says so: exit 1),
# or a change was sent and not acknowledged (exit 3, "check with ..."). Against the fake
# controller of tests/tools/fake_controller.c (the real protocol, misbehaving on cue) and
# against the real one: a wrong key, and a controller stopped and killed with -9 while a
# submission waits for its journal.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"
F=$(dirname "$(dirname "$B")")/build/tools/fake_controller
[ -x "$F" ] || fail "not built: $F (make check builds it)"
"$B" keygen > other.key

# A port nothing listens on, held for the whole test (bound, never listening).
exec 3< <(exec /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True); time.sleep(600)')
PIDS+=($!)
read -r -t 10 PORT <&3 || fail "no port from the helper"
NOBODY=127.0.0.1:$PORT

# fake MODE: (re)start the fake controller in MODE; sets FAKE (its address), FAKE_PID.
FAKE_PID=
fake() {
    [ -n "$FAKE_PID" ] && { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; }
    rm -f fake.log # not left to the redirection: the port read below must be the new one's
    "$F" --key "$T/key" --mode "$1" > fake.log 2>&1 &
    FAKE_PID=$!
    PIDS+=($FAKE_PID)
    wait_for 10 grep -q '^port ' fake.log || fail "fake controller ($1) did not start"
    FAKE=127.0.0.1:$(sed -n 's/^port //p' fake.log)
}

cases=0 failed=0
# t RC TEXT NOT ARGS...: `colossus ARGS` exits RC with TEXT (a fixed string) on stderr, in
# one line, and without NOT (a fixed string; "" for no such check); stdout is empty.
t() {
    local want=$1 text=$2 not=$3 rc=0; shift 3
    cases=$((cases + 1))
    "$B" "$@" >out.txt 2>err.txt </dev/null || rc=$?
    if [ "$rc" != "$want" ] || ! grep -qF -- "$text" err.txt || [ -s out.txt ] ||
        [ "$(wc -l < err.txt)" != 1 ] || { [ -n "$not" ] && grep -qF -- "$not" err.txt; }; then
        failed=$((failed + 1))
        log "FAIL: colossus $*: exit $rc (want $want), want '$text'${not:+ without '$not'}"
        sed 's/^/    out| /' out.txt | head -n 5
        sed 's/^/    err| /' err.txt | head -n 5
    fi
}
k() { echo --controller "$FAKE" --key "$T/key"; } # the fake, with the right key

log "no controller: nothing was sent"
for c in "submit -- true" "cancel 5" "drain n1 --reason r" "resume n1" "jobs"; do
    set -- $c
    t 1 "colossus $1: cannot connect to $NOBODY: Connection refused; nothing was sent" "" \
        "$1" --controller "$NOBODY" --key "$T/key" "${@:2}"
done

log "a handshake that breaks off is not blamed on the key"
HS="closed the connection during the handshake (overloaded, shutting down, or not a colossus controller?); nothing was sent"
fake close-at-accept
t 1 "colossus submit: the controller at $FAKE $HS" "key" submit $(k) -- true
fake close-after-auth # closes after Auth without a Refused, right key or not
t 1 "colossus submit: the controller at $FAKE $HS" "key" submit $(k) -- true
t 1 "colossus jobs: the controller at $FAKE $HS" "key" jobs --controller "$FAKE" --key other.key
fake overloaded # its reason holds a newline: escaped
t 1 "colossus jobs: the controller at $FAKE refused the connection: overloaded (too many unauthenticated connections\x0a(FORGED line)); nothing was sent" "key" jobs $(k)
fake bad-proof
t 1 "colossus jobs: the controller at $FAKE did not prove the cluster key (a controller of another cluster?); nothing was sent" "wrong" jobs $(k)

log "a refused proof is a wrong key"
fake views
t 1 "colossus submit: the controller at $FAKE refused the connection: wrong cluster key (the proof does not match the cluster key); nothing was sent" "" \
    submit --controller "$FAKE" --key other.key -- true
# wait retries a controller that is away, but not one that refuses the key
t0=$SECONDS
t 1 "colossus wait: the controller at $FAKE refused the connection: wrong cluster key" "retrying" \
    wait 1 --timeout 20 --controller "$FAKE" --key other.key
[ $((SECONDS - t0)) -lt 15 ] || fail "wait retried a wrong key for $((SECONDS - t0)) s"

log "sent but not acknowledged: exit 3 for a change, what to check"
fake drop-request
LOST="the connection to the controller at $FAKE closed before it answered; the request was sent but not acknowledged"
t 3 "colossus submit: $LOST: it may or may not have been accepted (check with 'colossus jobs --all')" "" submit $(k) -- true
t 3 "colossus cancel: $LOST: job 5 may or may not have been cancelled (check with 'colossus show 5')" "" cancel $(k) 5
t 3 "colossus drain: $LOST: the node may or may not have been drained (check with 'colossus nodes')" "" drain $(k) n1 --reason r
t 3 "colossus resume: $LOST: the node may or may not have been resumed (check with 'colossus nodes')" "" resume $(k) n1
# a read that is not answered changed nothing: a plain failure
t 1 "colossus jobs: the connection to the controller at $FAKE closed before it answered" "acknowledged" jobs $(k)
fake refuse-request
t 3 "colossus submit: the controller at $FAKE refused the connection: shutting down (the controller is stopping); the request was sent but not acknowledged: it may or may not have been accepted" "" submit $(k) -- true
fake error # the controller's error is escaped, one line
t 1 "colossus cancel: no such job\x0aFORGED line \x1b[31m" "" cancel $(k) 5

log "the fake stopped, then killed with -9, while a submission waits for its answer"
fake stop-request
"$B" submit $(k) -- true >out.txt 2>err.txt &
SUB=$!
wait_for 10 grep -q '^request ' fake.log || fail "the submission did not reach the fake"
kill -STOP "$FAKE_PID"
kill -9 "$FAKE_PID"
rc=0
wait "$SUB" || rc=$?
FAKE_PID=
[ $rc = 3 ] || fail "submit: exit $rc, not 3: $(cat err.txt)"
grep -qF "the request was sent but not acknowledged: it may or may not have been accepted (check with 'colossus jobs --all')" err.txt ||
    fail "submit: $(cat err.txt)"

log "a wait with the longest --timeout waits (its milliseconds do not overflow an int)"
fake stop-request
rc=0
timeout -s KILL 3 "$B" wait 1 --timeout 100000000 $(k) >out.txt 2>err.txt || rc=$?
[ $rc = 137 ] || fail "wait: exit $rc before it was killed: $(cat err.txt)"
[ ! -s err.txt ] || fail "wait gave up at once: $(cat err.txt)"
[ "$(grep -c '^request ' fake.log)" = 1 ] || fail "wait asked again: $(cat fake.log)"

log "the real controller: a wrong key"
# every commit fails after the start's probe (the first) and the new journal's identity (the
# second, with the first turn)
start_controller --store "fault:sqlite:$T/j?fail_at=3" --journal-give-up 86400
"$B" jobs >/dev/null || fail "jobs"
rc=0
"$B" jobs --key other.key 2>err.txt || rc=$?
[ $rc = 1 ] || fail "wrong key: exit $rc"
# The controller says why (Refused{WRONG_KEY}), so the key is named.
grep -qF "colossus jobs: the controller at $CTL_ADDR refused the connection: wrong cluster key" err.txt ||
    fail "wrong key: $(cat err.txt)"
grep -qF "nothing was sent" err.txt || fail "wrong key: $(cat err.txt)"

log "the real controller stopped, then killed with -9, while a submission waits for its journal"
! grep -q "journal: commit .* failed" controller.log || fail "a commit failed before the submission"
"$B" submit --gpus-per-node 1 -- true >out.txt 2>err.txt &
SUB=$!
# Its batch failed to commit (every commit does), so the submission was read and waits.
wait_for 20 grep -q "journal: commit .* failed.*retrying in" controller.log ||
    fail "the submission's commit was not tried"
kill -STOP "$CTL_PID"
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_PID=
rc=0
wait "$SUB" || rc=$?
[ $rc = 3 ] || fail "submit: exit $rc, not 3: $(cat err.txt)"
grep -qF "colossus submit: the connection to the controller at $CTL_ADDR closed before it answered; the request was sent but not acknowledged: it may or may not have been accepted (check with 'colossus jobs --all')" err.txt ||
    fail "submit: $(cat err.txt)"
[ ! -s out.txt ] || fail "submit printed a job id: $(cat out.txt)"
# and what it says to check tells the truth: this one was never journaled
CTL_ADDR=$(cat "$T/addr") start_controller --store "sqlite:$T/j"
"$B" jobs --all > jobs.txt || fail "jobs --all"
[ "$(wc -l < jobs.txt)" = 1 ] || fail "a job that was never acknowledged exists: $(cat jobs.txt)"

log "$cases cases, $failed failed"
[ "$failed" = 0 ] || fail "$failed of $cases cases failed"
log "PASS"
