#!/bin/bash
# ack.bash - acknowledged submissions per second on the real controller: no agents (the jobs
# stay pending, so no rank runs), the journal on disk in $TMPDIR (SQLite, fdatasync on every
# commit): 1, 8 and 32 clients each submitting one job at a time, then 32 clients keeping 50
# submissions each outstanding (a script or library that pipelines) (bench/ack_client.c).
# What it measures is the control plane's write path: request, state change, group commit,
# reply. Extra arguments go to the controller (e.g. --commit inline). Prints one JSON object.
# Run: make bench-ack, or bash bench/ack.bash [CONTROLLER-ARGS...]
# Set COLOSSUS_BIN to measure another build's controller with this client.
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
CLIENT=${ACK_CLIENT:-$root/build/bench/ack_client}
[ -x "$CLIENT" ] || fail "$CLIENT is missing: run make bench-ack"
start_controller --nodes 8 --gpus-per-node 8 "$@"
runs=""
for run in 1:2000:1 8:1000:1 32:250:1 32:500:50; do
    IFS=: read -r c per window <<<"$run"
    echo "ack: $c clients x $per submissions, $window outstanding each" >&2
    runs="$runs$("$CLIENT" "$CTL_ADDR" "$T/key" "$c" "$per" "$window")," || fail "ack_client $run"
done
python3 - "[${runs%,}]" "$*" "$(stat -f -c %T "$T")" <<'PY'
import json, os, sys
print(json.dumps({"bench": "ack", "controller_args": sys.argv[2], "journal_fs": sys.argv[3],
                  "cores": os.cpu_count(), "runs": json.loads(sys.argv[1])}, indent=1))
PY
