#!/bin/bash
# wal_pages.bash - how many pages the journal's commits write while jobs run, and of which
# tables and indexes: a controller and 4 agents x 8 fake GPUs, N trivial jobs through the
# library (bench/cluster_client.c), then the journal's WAL is read frame by frame (a frame is
# a 4 KiB page a commit wrote) and each page is named by the b-tree that holds it now
# (SQLite's dbstat, on a copy). Prints one JSON object. Run from a built tree:
#   bash bench/wal_pages.bash [N]          (N defaults to 300: the WAL must not have been
#                                           checkpointed meanwhile)
# Another tree's controller: COLOSSUS_BIN=TREE/bin/colossus CLUSTER_CLIENT=TREE/build/bench/cluster_client
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
root=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-300}
S=$(mktemp -d "${BENCH_SCRATCH:-/dev/shm}/cl-bench-scratch.XXXXXX") || fail "no scratch directory"
EXTRA_DIRS=$S
AGENT_ROOT=$S/agents
start_controller --nodes 8 --gpus-per-node 8 --checkpoint-dir "$S/checkpoints"
for i in 1 2 3 4; do start_agent "n$i" 8; done
wait_nodes_up 4
(cd "$S" && "${CLUSTER_CLIENT:-$root/build/bench/cluster_client}" "$CTL_ADDR" "$T/key" "$N" >/dev/null) ||
    fail "cluster_client"
kill -STOP "$CTL_PID" # the journal as it is: no commit or checkpoint while it is copied
mkdir "$T/copy"
cp "$T/state/colossus.db" "$T/state/colossus.db-wal" "$T/copy/" || fail "no journal to copy"
kill -CONT "$CTL_PID"
/usr/bin/python3 - "$T/copy" <<'PY'
import collections, json, os, sqlite3, struct, sys
d = sys.argv[1]
wal = open(os.path.join(d, "colossus.db-wal"), "rb").read()
psz = struct.unpack(">I", wal[8:12])[0]
off, commits, cur = 32, [], []
while off + 24 + psz <= len(wal):
    pg, dbsz = struct.unpack(">II", wal[off:off + 8])
    cur.append(pg)
    if dbsz:  # a commit's last frame
        commits.append(cur)
        cur = []
    off += 24 + psz
db = sqlite3.connect(os.path.join(d, "colossus.db"))  # applies the WAL to the copy
owner = {pg: name for name, pg in db.execute("SELECT name, pageno FROM dbstat")}
n = len(commits)
frames = sum(len(c) for c in commits)
share = collections.Counter()
for c in commits:
    for pg in set(c):
        share[owner.get(pg, "?")] += 1
print(json.dumps({"bench": "wal_pages", "commits": n, "frames": frames,
                  "frames_per_commit": round(frames / n, 2) if n else None, "page_size": psz,
                  "commits_writing": {k: round(v / n, 3) for k, v in share.most_common()}}))
PY
