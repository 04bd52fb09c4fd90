#!/bin/bash
# agent_identity.sh - ranks run as the submitting user's uid/gid (issue 11), on a real agent
# driven by the fake controller (Launch.uid, gid, user): with two users made for the test, a
# rank of user A has A's uid, gid and only that group, A's names and HOME, and cannot read the
# cluster key, B's rank log or B's work directory, nor list the agent's directories; its job
# directory, checkpoint directory and log are A's (0700, 0700, 0600); uid 0 or gid 0 is
# refused (exit 127, the reason in the first rank's log and the agent's log, nothing made)
# unless the agent runs with --allow-root-jobs, and is then run as root.
# Needs root (users are made with useradd, ranks switch to them); CI runs as root.
# timeout: 90
. "$(dirname "$0")/agent_lib.bash"
[ "$(id -u)" = 0 ] || { echo "needs root: it makes users and runs ranks as them"; exit 77; }
command -v useradd >/dev/null || { echo "useradd is missing (package passwd)"; exit 77; }

UA=cl11a$$ UB=cl11b$$ # unique names, removed at the end whatever happens
del_users() { for u in "$UA" "$UB"; do userdel "$u" 2>/dev/null; groupdel "$u" 2>/dev/null; done; }
trap 'rc=$?; del_users; (exit $rc); cleanup' EXIT
for u in "$UA" "$UB"; do
    useradd --system --user-group --no-create-home --home-dir "/nonexistent/$u" \
        --shell /usr/sbin/nologin "$u" || fail "useradd $u"
done
AU=$(id -u "$UA") AG=$(id -g "$UA") BU=$(id -u "$UB") BG=$(id -g "$UB")
log "users $UA ($AU:$AG) and $UB ($BU:$BG)"

out=$("$B" agent --help) || fail "agent --help"
grep -q -- "--allow-root-jobs" <<<"$out" || fail "--help does not name --allow-root-jobs"

chmod 711 "$T" # mktemp's 0700 would keep every user out of everything in it
[ "$(mode_of "$T/key")" = "0:0 600" ] || fail "the key is $(mode_of "$T/key")"
start_fake
fake_agent n --fake-gpus 2
W=$T/agent-n
grep -q "WARNING: the cluster key" "$T/agent-n.log" && fail "a warning about a key of mode 600"

log "user B's job: a secret in its log and in its work directory"
order 1 "$BU" "$BG" "$UB" 0 'echo B-SECRET-LOG; echo B-SECRET-FILE > secret'
exited 1 | grep -qx "exited 1 1 code 0 rank -1 energy_j 0.000 flops 0" || fail "job 1: $(exited 1)"

log "user A's job: who it is, and what it can read"
order 2 "$AU" "$AG" "$UA" 0,1 "
id -u; id -g; id -G
echo \"names \$USER \$LOGNAME \$COLOSSUS_USER home \$HOME pwd \$(pwd)\"
for f in $T/key $W/logs/job1.rank-0.log $W/jobs/1/secret; do
    cat \"\$f\" 2>/dev/null || echo \"DENIED read \$f\"
done
for d in $W/jobs/1 $W/logs $W $W/jobs; do ls \"\$d\" >/dev/null 2>&1 || echo \"DENIED list \$d\"; done
python3 -c 'import os; os.setuid(0)' 2>/dev/null && echo BECAME-ROOT
echo \$RANK > mine" "$T/ckpt/2"
exited 2 | grep -qx "exited 2 1 code 0 rank -1 energy_j 0.000 flops 0" || fail "job 2: $(exited 2)"
for r in 0 1; do
    python3 - "$W/logs/job2.rank-$r.log" "$AU" "$AG" "$UA" "$W" "$T" <<'PY' || fail "rank $r of job 2: $(cat "$W/logs/job2.rank-$r.log")"
import sys
log, uid, gid, user, w, t = sys.argv[1:]
got = open(log).read().splitlines()
want = [uid, gid, gid,
        f"names {user} {user} {user} home /nonexistent/{user} pwd {w}/jobs/2",
        f"DENIED read {t}/key", f"DENIED read {w}/logs/job1.rank-0.log",
        f"DENIED read {w}/jobs/1/secret",
        f"DENIED list {w}/jobs/1", f"DENIED list {w}/logs", f"DENIED list {w}",
        f"DENIED list {w}/jobs"]
assert got == want, "\n".join(got)
PY
    [ "$(mode_of "$W/logs/job2.rank-$r.log")" = "$AU:$AG 600" ] ||
        fail "rank $r's log is $(mode_of "$W/logs/job2.rank-$r.log")"
done
grep -q "SECRET" "$W"/logs/job2.* && fail "user A read user B's secrets"
[ "$(mode_of "$W/jobs/2")" = "$AU:$AG 700" ] || fail "A's job dir is $(mode_of "$W/jobs/2")"
[ "$(mode_of "$W/jobs/1")" = "$BU:$BG 700" ] || fail "B's job dir is $(mode_of "$W/jobs/1")"
[ "$(mode_of "$W/logs/job1.rank-0.log")" = "$BU:$BG 600" ] || fail "B's log: $(mode_of "$W/logs/job1.rank-0.log")"
[ "$(mode_of "$T/ckpt/2")" = "$AU:$AG 700" ] || fail "A's checkpoint dir is $(mode_of "$T/ckpt/2")"
[ "$(mode_of "$T/ckpt")" = "0:0 755" ] || fail "the checkpoint root is $(mode_of "$T/ckpt")"
[ "$(mode_of "$W/logs")" = "0:0 700" ] || fail "the logs' directory is $(mode_of "$W/logs")"
[ "$(mode_of "$W/jobs")" = "0:0 711" ] || fail "the jobs' directory is $(mode_of "$W/jobs")"
[ "$(mode_of "$W")" = "0:0 711" ] || fail "the agent's directory is $(mode_of "$W")"
grep -q "job 2 incarnation 1: started 2 ranks (node rank 0 of 1) as $UA (uid $AU gid $AG)" \
    "$T/agent-n.log" || fail "the agent did not say who job 2 runs as"

log "root refused without --allow-root-jobs: uid 0, gid 0"
order 3 0 0 root 0 "touch $T/ran-3"
order 4 "$AU" 0 "$UA" 1 "touch $T/ran-4"
for j in 3 4; do
    exited $j | grep -qx "exited $j 1 code 127 rank 0 energy_j 0.000 flops 0" || fail "job $j: $(exited $j)"
    grep -qx "colossus: cannot launch: refused: job $j would run as uid [0-9]* gid 0, and this agent runs no ranks as root (uid 0 or gid 0) unless it was started with --allow-root-jobs" \
        "$W/logs/job$j.rank-0.log" || fail "job $j's log: $(cat "$W/logs/job$j.rank-0.log")"
    grep -q "agent: job $j: launch failed: refused: job $j would run as uid" "$T/agent-n.log" ||
        fail "no refusal of job $j in the agent's log"
    [ ! -e "$W/jobs/$j" ] || fail "a directory was made for refused job $j"
done
[ ! -e "$T/ran-3" ] && [ ! -e "$T/ran-4" ] || fail "a refused job ran"

log "with --allow-root-jobs root's job runs as root; a key others can read is warned about"
stop_agent n
cp "$T/key" "$T/key644" && chmod 644 "$T/key644"
AGENT_KEY=$T/key644 fake_agent n --fake-gpus 2 --allow-root-jobs
grep -q "WARNING: the cluster key $T/key644 has mode 0644: other users, the ranks of jobs among them, can read or change it; chmod 600 $T/key644" \
    "$T/agent-n.log" || fail "no warning about the key's mode"
order 5 0 0 root 0 'id -u; id -g; echo $USER'
exited 5 | grep -qx "exited 5 1 code 0 rank -1 energy_j 0.000 flops 0" || fail "job 5: $(exited 5)"
[ "$(cat "$W/logs/job5.rank-0.log")" = "$(printf '0\n0\nroot')" ] ||
    fail "root's job: $(cat "$W/logs/job5.rank-0.log")"
log "PASS"
