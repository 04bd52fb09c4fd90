#!/bin/bash
# cli_text.sh - names and reasons the CLI did not write cannot break its views: a job, node
# and tenant whose names hold a newline, a tab, a terminal escape, a bidi override and
# invalid UTF-8 (as an old journal may still hold them; tests/tools/fake_controller.c
# answers with such records) print as one escaped line (\xHH) in every table and text view:
# jobs, show (its user and pending reason too), nodes, tenants, tenant list and show, user
# list, qos list, token list, history, usage, audit, whoami, wait, drain's answer and the
# controller's errors. Every byte printed is valid UTF-8 with no control character but the
# line ends.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"
F=$(dirname "$(dirname "$B")")/build/tools/fake_controller
[ -x "$F" ] || fail "not built: $F (make check builds it)"

# fake MODE: start the fake controller; sets COLOSSUS_CONTROLLER to it.
fake() {
    "$F" --key "$T/key" --mode "$1" > "fake-$1.log" 2>&1 &
    PIDS+=($!)
    wait_for 10 grep -q '^port ' "fake-$1.log" || fail "fake controller ($1) did not start"
    export COLOSSUS_CONTROLLER=127.0.0.1:$(sed -n 's/^port //p' "fake-$1.log")
}

# clean FILE: valid UTF-8, no control character but newlines, no C1 control, no line or
# paragraph separator, no bidi control, and no line that starts as the forged one.
clean() {
    /usr/bin/python3 - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # raises on invalid UTF-8
bad = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
m = bad.search(text)
assert not m, "unescaped %r at %d" % (m.group(), m.start())
assert not any(l.startswith("FORGED") for l in text.split("\n")), "a forged line"
PY
}

# view LINES CMD...: colossus CMD exits 0 and prints LINES clean lines.
view() {
    local want=$1; shift
    "$B" "$@" > out.txt 2> err.txt || fail "colossus $*: $(cat err.txt)"
    clean out.txt || fail "colossus $*: not clean: $(cat -A out.txt | head -n 5)"
    [ "$(wc -l < out.txt)" = "$want" ] || fail "colossus $*: $(wc -l < out.txt) lines, not $want: $(cat -A out.txt)"
}

fake views
view 2 jobs
grep -qF 'evil\x0aFORGED line' out.txt || fail "jobs: the name is not escaped: $(cat out.txt)"
grep -qF 'n3,n1\x0an2' out.txt || fail "jobs: the node list is not escaped: $(cat out.txt)" # a hostlist
view 2 jobs --all
view 16 show 7 # one line per field, the command's arguments included
grep -qF 'name:         evil\x0aFORGED line\x09\x1b[31mred\xe2\x80\xae\xff\xfe\xc3' out.txt ||
    fail "show: the name: $(grep name: out.txt)"
grep -qF 'command:      sh -c echo\x0aFORGED' out.txt || fail "show: the command: $(grep command: out.txt)"
[ "$(grep -cvE '^(id|name|state|tenant|user|priority|shape|nodes|restarts|incarnation|reason|usage|submitted|started|ended|command): ' out.txt)" = 0 ] ||
    fail "show: a line that is not a field: $(cat out.txt)"
view 17 show 8 # pending: why, on a line of its own
grep -qF 'why pending:  evil\x0aFORGED line' out.txt || fail "show: the pending reason: $(cat out.txt)"
grep -qF 'user:         evil\x0aFORGED line' out.txt || fail "show: the user: $(cat out.txt)"
view 2 nodes
grep -qF 'drain-now\x0aFO' out.txt || fail "nodes: the health column: $(cat out.txt)"
view 2 tenants
view 2 tenant list
view 13 tenant show x
grep -qF 'cohort:        evil\x0aFORGED line' out.txt || fail "tenant show: the cohort: $(cat out.txt)"
view 3 user list
view 3 qos list
view 2 token list
view 4 history
grep -qF '(evil\x0aFORGED line' out.txt || fail "history: the reason: $(cat out.txt)"
view 3 usage
view 3 audit
view 5 whoami
view 1 drain n1 --reason r
rc=0
"$B" wait 7 > out.txt 2> err.txt || rc=$? # running: wait says so and exits 1
[ $rc = 1 ] || fail "wait: exit $rc: $(cat err.txt)"
clean out.txt && [ "$(wc -l < out.txt)" = 1 ] || fail "wait: $(cat -A out.txt)"

fake error
rc=0
"$B" show 7 > out.txt 2> err.txt || rc=$?
[ $rc = 1 ] && [ ! -s out.txt ] || fail "show of an error: exit $rc"
clean err.txt && [ "$(wc -l < err.txt)" = 1 ] || fail "the error: $(cat -A err.txt)"
grep -qF 'colossus show: no such job\x0aFORGED line \x1b[31m' err.txt || fail "the error: $(cat err.txt)"
log PASS
