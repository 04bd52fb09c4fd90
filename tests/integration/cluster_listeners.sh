#!/bin/bash
# cluster_listeners.sh - the controller's listeners are a list: two --listen addresses serve
# the same controller (an agent on one, a client on the other); a listener that cannot be set
# up is refused at start with the address named.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"
cd "$T"
start_controller --listen 127.0.0.1:0
line=$(grep -m1 "listening on" "$T/controller.log")
second=$(sed -n 's/.*listening on [^ ]* (colossus), \([0-9.:]*\) (colossus);.*/\1/p' <<<"$line")
[ -n "$second" ] || fail "no second listener in: $line"
[ "$second" != "$CTL_ADDR" ] || fail "both listeners on $CTL_ADDR"
start_agent n1 2 # on the first listener
COLOSSUS_CONTROLLER=$second wait_nodes_up 1
J=$(COLOSSUS_CONTROLLER=$second "$B" submit --gpus-per-node 1 -- true) || fail "submit on $second"
"$B" wait "$J" >/dev/null || fail "job $J on the first listener"

"$B" controller --state-dir "$T/s2" --key "$T/key" --listen 127.0.0.1:0 \
    --listen 300.1.1.1:1 >out.txt 2>err.txt && fail "a bad listener was accepted"
grep -q "300.1.1.1" err.txt || fail "message does not name the address: $(cat err.txt)"
"$B" controller --state-dir "$T/s2" --key "$T/key" --listen "$CTL_ADDR" >out.txt 2>err.txt &&
    fail "a second controller listened on a taken address"
grep -q "cannot listen on $CTL_ADDR" err.txt || fail "message: $(cat err.txt)"
log PASS
