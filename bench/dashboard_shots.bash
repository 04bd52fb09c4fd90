#!/bin/bash
# dashboard_shots.bash - the dashboard (docs/dashboard.md) over a hollow Colossus 2: the
# colossus2 topology, AGENTS hollow agents of NODES_PER_AGENT nodes each (`colossus agent
# --hollow`, as bench/hollow.bash; default 8 x 68,750 = 550,000 nodes), gangs running on part
# of it, a leaf drained, a job too wide pending; then the page in headless Chromium
# (tests/tools/cdp.py): the time to list every node through the REST API and the time to draw
# them (the page's own performance.now() figures, in its footer), and PNG screenshots of the
# whole machine and of one pod into docs/ (OUT_DIR). Prints one JSON object.
# Run: make && bash bench/dashboard_shots.bash [AGENTS NODES_PER_AGENT]   (minutes, ~4 GB)
. "$(dirname "$0")/../tests/integration/cluster_lib.bash"
REPO=$(cd "$(dirname "$0")/.." && pwd)
A=${1:-8} PER=${2:-68750}
OUT_DIR=${OUT_DIR:-$REPO/docs}
say() { echo "$*" >&2; }
HB_MS=1000 DEAD_MS=3000
start_controller --preset colossus2 --spare-fraction 0.01 --http 127.0.0.1:0 \
    --http-address-file "$T/http-address" --web-dir "$REPO/web"
H=$(cat "$T/http-address")
t0=$(date +%s.%N)
start_hollow "$A" "$PER" 3600000 600
t1=$(date +%s.%N)
N=$((A * PER))
say "all $N nodes registered in $(python3 -c "print(round($t1 - $t0, 1))") s"

"$B" user add ada --tenant default --uid 61010 --gid 61010 >/dev/null || fail "ada"
"$B" user set ada --role admin >/dev/null || fail "ada admin"
"$B" token create --user ada --scope admin >"$T/ada.tok" 2>/dev/null || fail "ada's token"
# gangs of about a fifth of the machine, a leaf's worth of nodes drained, one job too wide
jobs=()
for g in $((N / 8)) $((N / 32)) $((N / 64)) $((N / 128)) $((N / 256)) $((N / 256)) 64; do
    [ "$g" -ge 1 ] || continue
    jobs+=("$("$B" submit -N "$g" --gpus-per-node 2 --name "gang$g" -- sleep 3600)") || fail "submit $g"
done
for k in $(seq 0 63); do "$B" drain "h1-$k" --reason "screenshot: a leaf out" >/dev/null; done
"$B" submit -N $((N - N / 8)) --gpus-per-node 2 --name too-wide -- true >/dev/null || fail "wide"
for j in "${jobs[@]}"; do wait_state "$j" running 300 || fail "job $j did not run"; done
say "gangs running; opening the page"

/usr/bin/python3 - "$REPO/tests/tools" "$T" "$H" "$T/ada.tok" "$OUT_DIR" "$N" <<'EOF' || fail "the page"
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from cdp import Browser
T, H, tok, out, n = sys.argv[2], sys.argv[3], open(sys.argv[4]).read().strip(), sys.argv[5], int(sys.argv[6])
b = Browser(os.path.join(T, "chromium"), width=1600, height=1000, log=os.path.join(T, "chromium.log"))
try:
    b.open(H + "/")
    b.eval("document.getElementById('token').value = %s; document.getElementById('login-go').click(); 1" % json.dumps(tok))
    t0 = time.monotonic()
    b.wait("document.body.dataset.drawn", 900, "the map to be drawn")
    wall = time.monotonic() - t0
    b.wait("document.querySelectorAll('#jobs tr[data-job]').length > 0", 60, "the queue")
    fig = b.eval("""({nodes: +document.getElementById('draw-ms').dataset.nodes,
        list_ms: +document.getElementById('list-ms').dataset.ms,
        draw_ms: +document.getElementById('draw-ms').dataset.ms,
        counts: Object.fromEntries([...document.querySelectorAll('#legend .count[data-state]')].map(e => [e.dataset.state, +e.textContent])),
        mode: document.body.dataset.mode, canvas: [view.canvas.width, view.canvas.height], cell: view.cell})""")
    fig["login_to_drawn_s"] = round(wall, 1)
    assert fig["nodes"] == n, fig

    def shot(name, sel):
        r = b.eval("(r => ({x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}))(document.querySelector(%s).getBoundingClientRect())" % json.dumps(sel))
        b.screenshot(os.path.join(out, name), clip=r)

    shot("dashboard-machine.png", "#app")
    # one pod, zoomed, and a node's page
    b.eval("zoom(nodes.pod[nodes.ixOf[0]]); showNode(nodes.name[0]); 1")
    b.wait("document.getElementById('detail-body').dataset.node", 30, "a node's page")
    shot("dashboard-pod.png", "#app")
    print(json.dumps(fig))
finally:
    b.close()
EOF
