#!/bin/bash
# svc_access.sh - issue 11's access control, tried as an attacker would: a user of tenant A
# (alice) tries every operation on tenant B's job and on the nodes, with her token, an
# expired token, a revoked token, a forged one and one of an unknown id; her token tries to
# register an agent. Every attempt is refused with a line naming what and why (exit 1),
# nothing changes (bob's job runs on, the node stays up, no tenant or user changes), and each
# refusal is in the controller's log and, for changes, in the audit log with her name.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"

start_controller
start_agent n1 4
wait_nodes_up 1
chmod 755 "$T"
mkdir -m 1777 "$T/pub"
cd "$T/pub"

log "bootstrap with the cluster key: tenants, users, tokens"
"$B" tenant add A --quota-gpus 4 || fail "tenant add A"
"$B" tenant add B || fail "tenant add B"
"$B" user add alice --tenant A --uid 61001 --gid 61001 || fail "user add alice"
"$B" user add bob --tenant B --uid 61002 --gid 61002 || fail "user add bob"
"$B" token create --user alice > "$T/alice.tok" || fail "token for alice"
"$B" token create --user bob > "$T/bob.tok" || fail "token for bob"
chmod 600 "$T"/*.tok
grep -q '^colossus-token-v1\.tk-[0-9a-f]\{16\}\.' "$T/alice.tok" || fail "token format: $(cut -c1-40 "$T/alice.tok")"
[ "$(wc -l < "$T/alice.tok")" = 1 ] || fail "token create printed more than the token"
ALICE="--token $T/alice.tok"
BOB="--token $T/bob.tok"
[ "$("$B" whoami $ALICE --json | jfield 'd["principal"].split()[1]')" = alice ] ||
    fail "whoami: $("$B" whoami $ALICE --json)"

J=$("$B" submit $BOB --gpus-per-node 1 -- sleep 600) || fail "bob's submit"
wait_state "$J" running 20 || fail "bob's job did not start: $(job_field "$J" 'd')"
before=$("$B" show "$J" --json | jfield 'd["state"], d["incarnation"], d["user"], d["tenant"]')
[ "$before" = "running 1 bob B" ] || fail "bob's job: $before"

# refused CMD... : exit 1, one line on stderr naming the refusal, nothing on stdout
refused() {
    local out err rc
    out=$("$B" "$@" 2>"$T/err") && fail "accepted: $*: $out"
    rc=$?
    [ $rc = 1 ] || fail "exit $rc (not 1) for: $* ($(cat "$T/err"))"
    err=$(cat "$T/err")
    [ -n "$err" ] || fail "no reason given for: $*"
    [ "$(wc -l < "$T/err")" = 1 ] || fail "more than one line for $*: $err"
    log "  refused: $* -> $err"
}

log "alice's token against tenant B's job and the nodes"
refused show "$J" $ALICE
refused logs "$J" $ALICE
refused wait "$J" $ALICE
refused cancel "$J" $ALICE
refused submit $ALICE --tenant B --gpus-per-node 1 -- true
refused submit $ALICE --priority 1000000 --gpus-per-node 1 -- true
refused drain n1 --reason pwned $ALICE
refused resume n1 $ALICE
refused node remove n1 $ALICE
refused tenant set B --quota-gpus 0 $ALICE
refused tenant add C $ALICE
refused tenant show B $ALICE
refused user add mallory --tenant A --uid 0 --gid 0 $ALICE
refused user set alice --role admin $ALICE
refused user set bob --tenant A $ALICE
refused token create --user bob $ALICE
refused node-token create --nodes n1 $ALICE
refused qos add god --max-priority 1000000 $ALICE
"$B" jobs --all --json $ALICE | jfield "[j['id'] for j in d]" | grep -qw "$J" &&
    fail "alice's job list shows bob's job"
"$B" history --json $ALICE | jfield "[r['job'] for r in d]" | grep -qw "$J" &&
    fail "alice's history shows bob's job"

log "the tokens that must not work"
"$B" token create --user alice --expires 1s > "$T/expired.tok" || fail "short token"
ID=$(cut -d. -f2 "$T/alice.tok")
"$B" token create --user alice > "$T/revoked.tok" || fail "token to revoke"
"$B" token revoke "$(cut -d. -f2 "$T/revoked.tok")" || fail "token revoke"
# forged: alice's id with another secret
python3 - "$T/alice.tok" > "$T/forged.tok" <<'PY'
import base64, os, sys
p = open(sys.argv[1]).read().strip().split(".")
p[2] = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
print(".".join(p))
PY
sed "s/$ID/tk-0123456789abcdef/" "$T/alice.tok" > "$T/unknown.tok"
sleep 1.1 # the expired token's second passes (its expiry is the controller's clock)
for f in expired revoked forged unknown; do
    refused jobs --token "$T/$f.tok"
done
grep -q "has expired" "$T/err" "$T/controller.log" || fail "no expiry named"
grep -q "token $(cut -d. -f2 "$T/revoked.tok") was revoked" "$T/controller.log" ||
    fail "the revoked token is not named in the log"
grep -q "signature does not match" "$T/controller.log" || fail "the forgery is not named in the log"
COLOSSUS_TOKEN=garbage "$B" jobs 2>"$T/err" && fail "COLOSSUS_TOKEN=garbage accepted"
grep -q COLOSSUS_TOKEN "$T/err" || fail "a bad COLOSSUS_TOKEN is not named: $(cat "$T/err")"

log "a user's token cannot register a node"
"$B" agent --controller "$CTL_ADDR" --node-token "$T/alice.tok" --name n1 \
    --work-dir "$T/agents/fake" --fake-gpus 4 >"$T/agent-fake.log" 2>&1 &
FAKE=$!
PIDS+=($FAKE)
# (the agent warns at its start already: wait for the controller's answer, not for that)
wait_for 20 grep -q "credential refused (token .* is a user's" "$T/agent-fake.log" ||
    fail "the agent was not told why: $(cat "$T/agent-fake.log")"
wait_for 10 grep -q "agents register with a node credential" "$T/controller.log" ||
    fail "the controller did not log the refused agent"
kill $FAKE 2>/dev/null

log "nothing changed"
after=$("$B" show "$J" --json | jfield 'd["state"], d["incarnation"], d["user"], d["tenant"]')
[ "$after" = "$before" ] || fail "bob's job changed: $before -> $after"
[ "$("$B" nodes --json | jfield 'd[0]["state"], d[0]["connected"]')" = "up True" ] ||
    fail "n1 changed: $("$B" nodes --json)"
[ "$("$B" tenant show B --json | jfield 'd["quota_gpus"] is None')" = True ] || fail "tenant B changed"
"$B" user list --json | jfield "sorted(u['name'] for u in d)" | grep -q mallory && fail "mallory exists"
[ "$("$B" user list --json | jfield "[u['role'] for u in d if u['name']=='alice'][0] is None")" = True ] ||
    fail "alice became something"
"$B" qos list --json | jfield "[q['name'] for q in d]" | grep -q god && fail "QOS god exists"

log "the refusals are audited with her name"
"$B" audit --user alice --json > "$T/audit.json" || fail "audit"
for op in cancel drain "node remove" "tenant set" "user add" "user set" "token create"; do
    python3 - "$T/audit.json" "$op" <<'PY' || fail "no refused '$op' by alice in the audit log"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(r["op"] == sys.argv[2] and not r["ok"] and r["who"] == "alice" for r in d) else 1)
PY
done
grep -q "refused cancel job $J for user alice" "$T/controller.log" || fail "no log line for the cancel"
[ "$("$B" audit --json $ALICE | jfield "len({r['who'] for r in d})")" = 1 ] ||
    fail "alice reads others' audit records"

log "bob, the owner, may cancel it"
"$B" cancel "$J" $BOB || fail "bob's cancel"
wait_state "$J" cancelled 20 || fail "not cancelled"
log "ok"
