#!/bin/bash
# pg_ack.bash - issue 14's first figure: journaled state changes a second (submissions
# acknowledged through the client library, group commit) with the journal on PostgreSQL
# against the same run on SQLite: bench/ack.bash twice, once with --store postgresql://... on
# a throwaway server (tests/pg_server.bash, fsync on: each commit durable, as SQLite's
# fdatasync makes it), once on the default SQLite journal. Extra arguments go to both
# controllers. Prints one JSON object {"postgresql": ..., "sqlite": ...}.
# Run: make bench-pg, or bash bench/pg_ack.bash [CONTROLLER-ARGS...]
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/pg_server.bash"
trap pg_stop EXIT
log=$(mktemp)
PG_FSYNC=on pg_start >"$log" 2>&1 || { cat "$log"; rm -f "$log"; exit 1; }
rm -f "$log"
pg_createdb ack || exit 1
pg=$(bash "$root/bench/ack.bash" --store "$PG_DB_URL" "$@") || exit 1
sq=$(bash "$root/bench/ack.bash" "$@") || exit 1
python3 - "$pg" "$sq" <<'PY'
import json, sys
pg, sq = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pg["controller_args"] = pg["controller_args"].split("--store ")[0] + "--store postgresql:///ack (fsync on)"
print(json.dumps({"bench": "pg_ack", "postgresql": pg, "sqlite": sq}, indent=1))
PY
