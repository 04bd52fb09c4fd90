#!/bin/bash
# cluster_up.sh - `colossus up` starts a detached local cluster under --dir, clients find it
# through COLOSSUS_DIR, a second `up` is refused, `colossus down` stops every daemon. Its
# topology has exactly the nodes asked for (a wider gang is refused at submit, not left
# pending), the local user is an admin with a token in DIR/token (mode 0600) that the
# clients present, the controller's identity (the pin a JWT needs) in DIR/identity.pub (mode
# 0644, as the controller's STATE-DIR/identity.pub), and the agents register with the node
# credential in DIR/node-token. The REST API is served too: its base URL in DIR/http-address
# (printed by up), answering DIR/token, and the dashboard at its root (its URL printed too);
# down removes the file. With --relays 2 the agents go through two relays and down stops
# those too.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"
D=$T/up
"$B" up --dir "$D" --nodes 3 --gpus-per-node 2 > "$T/up.log" 2>&1 || fail "colossus up"
grep -q "Colossus is up" "$T/up.log" || fail "no summary"
for p in $(awk '{print $3}' "$D/pids"); do PIDS+=("$p"); kill -0 "$p" || fail "daemon $p not running"; done
[ "$(wc -l < "$D/pids")" = 4 ] || fail "expected a controller and 3 agents"
export COLOSSUS_DIR=$D COLOSSUS_CONTROLLER= COLOSSUS_KEY=
[ "$("$B" nodes --json | jfield 'sum(1 for n in d if n["state"]=="up")')" = 3 ] || fail "3 nodes not up"
cd "$T"
"$B" submit -N 4 --gpus-per-node 2 -- true 2>err.txt && fail "a gang wider than the cluster accepted"
grep -q "the cluster has 3" err.txt || fail "submit -N 4: $(cat err.txt)"
for f in token node-token; do
    [ "$(stat -c %a "$D/$f")" = 600 ] || fail "$D/$f is mode $(stat -c %a "$D/$f" 2>&1)"
done
[ "$(stat -c %a "$D/identity.pub")" = 644 ] || fail "$D/identity.pub: $(stat -c %a "$D/identity.pub" 2>&1)"
cmp -s "$D/identity.pub" "$D/state/identity.pub" ||
    fail "$D/identity.pub is not the controller's: $(cat "$D/identity.pub" "$D/state/identity.pub")"
[ "$("$B" whoami --json | jfield 'd["user"]["name"]')" = "$(id -un)" ] ||
    fail "whoami with $D/token: $("$B" whoami 2>&1)"
grep -q "You are admin '$(id -un)'" "$T/up.log" || fail "up: $(cat "$T/up.log")"
URL=$(cat "$D/http-address")
[[ $URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "http-address: '$URL'"
grep -qF "REST API: $URL/api/v1/" "$T/up.log" || fail "up does not print the API's URL: $(cat "$T/up.log")"
grep -qF "Dashboard: $URL/ " "$T/up.log" || fail "up does not print the dashboard's URL: $(cat "$T/up.log")"
curl -s --max-time 10 "$URL/" | grep -q '<script src="/web/app.js">' || fail "no dashboard at $URL/"
[ "$(curl -s --max-time 10 -H "Authorization: Bearer $(cat "$D/token")" "$URL/api/v1/whoami" |
    jfield 'd["user"]["name"]')" = "$(id -un)" ] || fail "the REST API with $D/token"
[ "$(grep -c "agent connection from .*node credential nd-" "$D/logs/controller.log")" = 3 ] ||
    fail "the agents did not register with the node credential: $(grep "agent connection" "$D/logs/controller.log")"
J=$("$B" submit -N 3 --gpus-per-node 2 -- sh -c 'echo "rank $RANK of $WORLD_SIZE"; sleep 30') || fail "submit"
wait_state "$J" running 20 || fail "not running"
"$B" up --dir "$D" 2>err.txt && fail "second up accepted"
grep -q "already runs" err.txt || fail "message: $(cat err.txt)"
"$B" down --dir "$D" || fail "colossus down"
for p in "${PIDS[@]}"; do
    wait_for 10 bash -c "! kill -0 $p 2>/dev/null" || fail "daemon $p survived down"
done
[ -z "$(our_ranks)" ] || fail "ranks survived down: $(our_ranks)"
[ ! -e "$D/http-address" ] || fail "down left $D/http-address"
"$B" down --dir "$D" 2>err.txt && fail "second down succeeded"
grep -q "no cluster runs" err.txt || fail "message: $(cat err.txt)"
"$B" up --nodes 0 --dir "$D" 2>/dev/null && fail "--nodes 0 accepted"
"$B" up --relays 17 --dir "$D" 2>/dev/null && fail "--relays 17 accepted"

log "up --relays 2: the agents go through two relays (issue 16), down stops them too"
D=$T/up2
export COLOSSUS_DIR=$D
"$B" up --dir "$D" --nodes 3 --gpus-per-node 2 --relays 2 > "$T/up2.log" 2>&1 || fail "up --relays: $(cat "$T/up2.log")"
PIDS=()
for p in $(awk '{print $3}' "$D/pids"); do PIDS+=("$p"); done
[ "$(grep -c '^relay ' "$D/pids")" = 2 ] || fail "expected 2 relays: $(cat "$D/pids")"
[ "$("$B" nodes --json | jfield '",".join(n["via"] or "-" for n in d)')" = relay0,relay1,relay0 ] ||
    fail "the nodes' paths: $("$B" nodes --json | jfield '[n["via"] for n in d]')"
[ "$(grep -c "agent connection from" "$D/logs/controller.log")" = 2 ] ||
    fail "the controller should see the 2 relays' connections only"
J=$("$B" submit -N 3 --gpus-per-node 2 -- true) && "$B" wait "$J" --timeout 20 || fail "a job through the relays"
"$B" down --dir "$D" | grep -q "3 agents, the relays" || fail "down --relays"
for p in "${PIDS[@]}"; do
    wait_for 10 bash -c "! kill -0 $p 2>/dev/null" || fail "daemon $p survived down"
done
log "PASS"
