#!/bin/bash
# web_dashboard.sh - the dashboard (web/, docs/dashboard.md) in a real headless Chromium
# (tests/tools/cdp.py, its DevTools protocol) against a real controller and six agents:
# the static files' serving (types, Cache-Control, HEAD, 405, no token needed, and no way out
# of the directory: "..", encoded or not, a symbolic link out); the page refuses a bad token
# and logs in with a good one; the map's legend counts every state right (idle, busy,
# draining, drained, unhealthy GPU: a fake-NVML node drained by an XID) and agrees with the
# API's node list; a job submitted through the REST API appears in the queue with its
# pending reason; a job cancelled through the API leaves the queue and its node turns idle;
# a node killed with -9 turns down on the map within the detection time (--dead-after-ms)
# plus one poll of 2 s, or plus nothing where the controller has the watch stream (1.5 s of
# slack either way), by repainting its cell, not the whole map; the watch stream's events,
# as the page's reader parses them, repaint a node and update the queue; a job restarted
# once (its node's agent killed with -9) has two bars on its page's timeline, coloured and
# explained by how each run ended (node_fail naming the node, succeeded), as the API's
# history?job=N says; the usage panel has today's GPU-hours (the API's, non-zero, painted);
# the failures panel counts the node failure, as recovered, and shows a goodput in (0, 1);
# after log out, a tenant's user sees the nodes and none of another tenant's jobs.
# timeout: 180
. "$(dirname "$0")/health_lib.bash" # cluster_lib.bash, and agents on the fake NVML

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3 # Debian's: python3-websocket
command -v curl >/dev/null || fail "curl is missing (scripts/install-deps.sh)"
command -v chromium >/dev/null ||
    fail "chromium is missing: the dashboard's test needs a real browser (scripts/install-deps.sh installs Debian's chromium)"
$PY -c 'import websocket' 2>/dev/null ||
    fail "python3-websocket is missing (scripts/install-deps.sh)"

# The web directory: the repository's files, and two symbolic links that lead out of it.
mkdir -p "$T/web"
cp "$REPO"/web/* "$T/web/"
echo "secret" >"$T/outside"
ln -s "$T/outside" "$T/web/leak.txt"
ln -s "$T" "$T/web/up"

rc=0
"$B" controller --state-dir "$T/no" --listen 127.0.0.1:0 --key "$T/key" --http 127.0.0.1:0 \
    --web-dir "$T/nowhere" 2>"$T/err" || rc=$?
[ $rc != 0 ] && grep -q "web-dir $T/nowhere: not a directory" "$T/err" ||
    fail "--web-dir of nothing: exit $rc: $(cat "$T/err")"

DEAD_MS=1000
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" --web-dir "$T/web"
H=$(cat "$T/http-address")

log "static files"
# get PATH [CURL-ARGS]: the status in ST, the body in $T/body, the headers in $T/headers
get() {
    local p=$1
    shift
    ST=$(curl -s --path-as-is -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 10 \
        "$@" "$H$p")
}
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip"; }
get /
[ "$ST" = 200 ] && cmp -s "$T/body" "$REPO/web/index.html" || fail "/: $ST"
[ "$(header content-type)" = "text/html; charset=utf-8" ] || fail "/: $(header content-type)"
[ "$(header cache-control)" = "no-cache" ] || fail "/: cache-control $(header cache-control)"
[[ $(header content-security-policy) == "default-src 'self'"* ]] || fail "/: no CSP"
get /web/app.js
[ "$ST" = 200 ] && cmp -s "$T/body" "$REPO/web/app.js" || fail "/web/app.js: $ST"
[ "$(header content-type)" = "text/javascript; charset=utf-8" ] || fail "app.js's type"
get /web/style.css -I
# (curl -I writes the headers where the body would go: there must be no CSS there)
[ "$ST" = 200 ] && ! grep -q box-sizing "$T/body" && [ "$(header content-type)" = "text/css; charset=utf-8" ] &&
    [ "$(header content-length)" = "$(stat -c %s "$REPO/web/style.css")" ] || fail "HEAD style.css: $ST"
get /web/app.js -X POST
[ "$ST" = 405 ] && [ "$(header allow)" = "GET, HEAD" ] || fail "POST: $ST $(header allow)"
for p in /web/nothing.js /web/../key /web/%2e%2e/key /web/%2E%2E/key /web/..%2fkey \
    /web/%252e%252e/key /web/.%2e/key /web/leak.txt /web/up/outside /web/up/key /web// /web/; do
    get "$p"
    [ "$ST" = 404 ] || fail "$p: $ST, not 404: $(head -c 200 "$T/body")"
    ! grep -q secret "$T/body" || fail "$p leaked a file outside the web directory"
done
get /web/../key
grep -q "no such file" "$T/body" || fail "/web/../key: $(cat "$T/body")"

start_agent n1 2
start_agent n2 2
start_agent n3 2
start_agent n4 2
start_agent n5 2
wait_nodes_up 5

# ada: an admin, whose token the page is given
"$B" user add ada --tenant default --uid 61010 --gid 61010 >/dev/null || fail "ada"
"$B" user set ada --role admin >/dev/null || fail "ada admin"
"$B" token create --user ada --scope admin >"$T/ada.tok" || fail "ada's token"
# alice: a user of tenant A only, who must not see the default tenant's jobs
"$B" tenant add A >/dev/null || fail "tenant A"
"$B" user add alice --tenant A --uid 61001 --gid 61001 >/dev/null || fail "alice"
"$B" token create --user alice >"$T/alice.tok" 2>/dev/null || fail "alice's token"

# Two running jobs; the node of the first drained (draining: its job runs on), an idle one
# drained: 2 idle, 1 busy, 1 draining, 1 drained.
j1=$("$B" submit --gpus-per-node 2 -- sh -c 'echo hello from rank $RANK; exec sleep 600') || fail "submit 1"
j2=$("$B" submit --gpus-per-node 2 -- sleep 600) || fail "submit 2"
wait_state "$j1" running 30 || fail "job $j1 did not run"
wait_state "$j2" running 30 || fail "job $j2 did not run"
x=$(job_field "$j1" 'd["nodes"][0]')
y=$(job_field "$j2" 'd["nodes"][0]')
"$B" drain "$x" --reason "dashboard test" >/dev/null || fail "drain $x"
idle=()
for n in n1 n2 n3 n4 n5; do [ "$n" != "$x" ] && [ "$n" != "$y" ] && idle+=("$n"); done
z=${idle[0]} w=${idle[1]}
"$B" drain "$z" --reason "dashboard test" >/dev/null || fail "drain $z"
# g: a sixth node, watched through the (fake) NVML, taken out by a fatal XID: unhealthy
healthy_script g 2
start_nvml_agent g
wait_node g 'n["state"] == "up" and n["connected"] and n["telemetry"]' || fail "g not up"
xid g 1 79
wait_node g 'n["health"] == "drain-now" and n["state"] == "drained"' ||
    fail "g not drained for its XID: $(node_json g n)"
log "busy $x (draining) and $y, drained $z, idle ${idle[1]} ${idle[2]}, g unhealthy; $w will be killed"

log "the page in headless chromium"
v=${idle[2]}
# killed by the page's checks: no "Killed" notice from bash ($y or $v: the restarted job's)
disown "${AGENT_PID[$w]}" "${AGENT_PID[$y]}" "${AGENT_PID[$v]}"
$PY - "$REPO/tests/tools" "$T" "$H" "$T/ada.tok" "${AGENT_PID[$w]}" "$w" "$DEAD_MS" "$T/alice.tok" "$j2" "$y" "$j1" \
    "{\"$y\": ${AGENT_PID[$y]}, \"$v\": ${AGENT_PID[$v]}}" "$B" <<'EOF' || fail "the page"
import json, os, subprocess, sys, time, urllib.request
sys.path.insert(0, sys.argv[1])
from cdp import Browser
T, H, tokfile, wpid, wname, dead_ms = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
tok = open(tokfile).read().strip()

def log(*a):
    print("[%s]" % time.strftime("%T"), *a, flush=True)

def until(cond, timeout, what):
    """cond()'s first true value, polled until the deadline (a condition, not a sleep)."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out after %g s waiting for %s" % (timeout, what))
        time.sleep(0.1)

def api(method, path, body=None):
    r = urllib.request.Request(H + path, method=method, data=body and json.dumps(body).encode(),
                               headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=10) as f:
        return json.load(f)

b = Browser(os.path.join(T, "chromium"), log=os.path.join(T, "chromium.log"))
try:
    b.open(H + "/")
    b.wait("!document.getElementById('login').classList.contains('hidden')", 10, "the login box")
    # a bad token: refused, the login box again with the API's reason
    b.eval("document.getElementById('token').value = 'colossus-token-v1.garbage'; document.getElementById('login-go').click(); 1")
    err = b.wait("document.getElementById('login-error').textContent", 10, "the bad token's refusal")
    assert "not authenticated" in err, err
    assert b.eval("sessionStorage.getItem('colossus-token')") is None, "a refused token was kept"
    b.eval("document.getElementById('token').value = %s; document.getElementById('login-go').click(); 1" % json.dumps(tok))
    b.wait("document.body.dataset.drawn", 20, "the map to be drawn")
    assert tok not in b.eval("location.href"), "the token is in the URL"
    who = b.eval("document.getElementById('who').textContent")
    assert who.startswith("user ada"), who
    log("logged in as", who, "; mode:", b.eval("document.body.dataset.mode"))

    def counts():
        return b.eval("Object.fromEntries([...document.querySelectorAll('#legend .count[data-state]')].map(e => [e.dataset.state, +e.textContent]))")
    want = {"idle": 2, "busy": 1, "draining": 1, "drained": 1, "down": 0, "maintenance": 0, "spare": 0, "unhealthy": 1}
    b.wait("(c => c.idle === 2 && c.busy === 1 && c.draining === 1 && c.drained === 1 && c.unhealthy === 1)(%s)" %
           "Object.fromEntries([...document.querySelectorAll('#legend .count[data-state]')].map(e => [e.dataset.state, +e.textContent]))",
           10, "the legend's counts %s" % want)
    got = counts()
    assert got == want, got
    assert b.eval("+document.getElementById('count-total').textContent") == 6
    # the same from the API, classified as the page says it does (docs/dashboard.md)
    nodes = api("GET", "/api/v1/nodes")["nodes"]
    by_state = {n["name"]: n["state"] for n in nodes}
    assert sorted(by_state.values()) == ["drained", "drained", "draining", "up", "up", "up"], by_state
    assert all(n["pod"] and n["leaf"] for n in nodes), nodes[0]
    page = b.eval("Object.fromEntries([...Array(nodes.n).keys()].map(i => [nodes.name[i], STATES[nodes.state[i]].key]))")
    for n in nodes:
        exp = ("unhealthy" if n["health"] not in (None, "none") else
               {"draining": "draining", "drained": "drained"}.get(n["state"]) or ("busy" if n["jobs"] else "idle"))
        assert page[n["name"]] == exp, (n["name"], page[n["name"]], n)
    log("legend:", got, "; drawn in", b.eval("document.getElementById('draw-ms').dataset.ms"), "ms")

    # tenants (where the controller has GET /api/v1/tenants; hidden where it answers 404)
    st = b.wait("document.getElementById('tenants').dataset.status", 10, "the tenants' panel")
    if st == "200":
        shown = b.eval("[...document.querySelectorAll('#tenants-body .tenant')].map(e => e.dataset.tenant)")
        assert "default" in shown and "A" in shown, shown
        assert b.eval("document.querySelectorAll('#tenants-body .tenant[data-tenant=default] .bar').length") >= 1
    else:
        assert st == "404" and b.eval("document.getElementById('tenants').classList.contains('hidden')"), st
    log("tenants' panel:", st)
    # the two running jobs are in the queue; a job submitted through the API appears, pending
    b.wait("document.querySelectorAll('#jobs tr[data-state=running]').length === 2", 10, "2 running jobs in the queue")
    j = api("POST", "/api/v1/jobs", {"argv": ["sleep", "1"], "num_nodes": 9, "name": "too-big"})["id"]
    reason = b.wait("(r => r && r.dataset.state === 'pending' && r.cells[7].textContent)(document.querySelector('#jobs tr[data-job=\"%d\"]'))" % j,
                    10, "job %d pending in the queue" % j)
    log("job", j, "in the queue: pending,", reason)
    # its page
    b.eval("document.querySelector('#jobs tr[data-job=\"%d\"]').click(); 1" % j)
    b.wait("document.getElementById('detail-body').dataset.job === '%d'" % j, 10, "job %d's page" % j)
    assert "too-big" in b.eval("document.getElementById('detail-body').textContent")
    # job 1's page and its rank 1's log, where the controller serves logs
    j1 = int(sys.argv[11])
    b.eval("showJob(%d); 1" % j1)
    b.wait("document.getElementById('detail-body').dataset.job === '%d' && !!document.getElementById('log-go')" % j1, 10, "job %d's page" % j1)
    b.eval("document.getElementById('log-rank').value = '1'; document.getElementById('log-go').click(); 1")
    logt = b.wait("(t => t !== 'loading...' && t)(document.getElementById('job-log').textContent)", 15, "job %d's log" % j1)
    if "no logs route" not in logt:
        assert "hello from rank 1" in logt, logt
    log("job", j1, "rank 1's log:", logt.strip()[:60])
    # a node's page (from the map: the API's node JSON)
    b.eval("showNode(%s); 1" % json.dumps(wname))
    b.wait("document.getElementById('detail-body').dataset.node === %s" % json.dumps(wname), 10, "node %s's page" % wname)
    # g's page: its health verdict, its GPUs' telemetry and the XID
    b.eval("showNode('g'); 1")
    b.wait("document.getElementById('detail-body').dataset.node === 'g'", 10, "node g's page")
    text = b.eval("document.getElementById('detail-body').innerText")
    for w in ("drain-now", "GPUs found", "recent XIDs", "79", "\u00b0C", "41"):
        assert w in text, (w, text)

    # a job cancelled through the API: its node turns idle (a job event where the stream is)
    j2, y = int(sys.argv[9]), sys.argv[10]
    yix = b.eval("nodes.nameIx.get(%s)" % json.dumps(y))
    api("POST", "/api/v1/jobs/%d/cancel" % j2)
    b.wait("STATES[nodes.state[%d]].key === 'idle' && !document.querySelector('#jobs tr[data-job=\"%d\"]')" % (yix, j2),
           10, "%s idle and job %d out of the queue" % (y, j2))
    log("job", j2, "cancelled:", y, "idle; counts", counts())

    # kill -9 a node: down on the map within detection + one poll (+ 1.5 s of slack)
    ix = b.eval("nodes.ixOf[%d]" % [n["id"] for n in nodes if n["name"] == wname][0])
    draws = b.eval("view.draws")
    t0 = time.monotonic()
    os.kill(wpid, 9)
    live = b.eval("document.body.dataset.mode").startswith("live")
    bound = dead_ms / 1000 + (0 if live else 2) + 1.5  # the stream's event, or the next poll
    b.wait("STATES[nodes.state[%d]].key === 'down' && +document.getElementById('count-down').textContent === 1" % ix,
           bound + 10, "%s down on the map" % wname)
    dt = time.monotonic() - t0
    log("%s down on the map %.2f s after kill -9 (detection %d ms; bound %.1f s, %s)" % (
        wname, dt, dead_ms, bound, "watch stream" if live else "polling"))
    assert dt <= bound, "down after %.2f s, over %.1f s" % (dt, bound)
    assert counts()["idle"] == 2 and counts()["busy"] == 0, counts()
    assert b.eval("view.draws") == draws, "the whole map was drawn again for one node"
    # the cell is painted in the down colour (the map, not only the counts)
    col = b.eval("(i => Array.from(view.ctx.getImageData(view.x[i], view.y[i], 1, 1).data.slice(0, 3)))(%d)" % ix)
    assert col == [0xff, 0x4d, 0x4d], col

    # the watch stream's events (docs/api/README.md, "watch"), as the page's reader hands
    # them over: a node event repaints that node, a job event updates the queue, a comment
    # is skipped, overflow is told to the reader (this controller has no stream yet: the
    # page polls; the parser is checked here on the objects the API answers)
    n1 = [n for n in api("GET", "/api/v1/nodes")["nodes"] if n["name"] != wname][0]
    r = b.eval("""((n, j) => {
        const i = nodes.ixOf[n.id], before = nodes.counts[S.maintenance];
        const k1 = event(': keepalive');
        const k2 = event('id: 41\\nevent: node\\ndata: ' + JSON.stringify(Object.assign({}, n, {state: 'maintenance'})));
        const after = [STATES[nodes.state[i]].key, nodes.counts[S.maintenance] - before];
        const k3 = event('id: 42\\nevent: job\\ndata: ' + JSON.stringify(Object.assign({}, j, {state: 'cancelled'})));
        const gone = !jobs.has(j.id);
        const k4 = event('event: overflow\\ndata: {"error": "too slow"}');
        return {k1, k2, k3, k4, after, gone};
    })(%s, %s)""" % (json.dumps(n1), json.dumps(api("GET", "/api/v1/jobs/%d" % j))))
    assert r == {"k1": "message", "k2": "node", "k3": "job", "k4": "overflow",
                 "after": ["maintenance", 1], "gone": True}, r

    # a job restarted once (max_restarts 1): its first run ends with its node (kill -9 of
    # the agent and its ranks), the second succeeds (it finds the file the first wrote)
    pids, flag = json.loads(sys.argv[12]), os.path.join(T, "restarted")
    R = int(subprocess.check_output([sys.argv[13], "submit", "--max-restarts", "1", "--gpus-per-node", "2",
                                     "--name", "restarter", "--", "sh", "-c",
                                     'if [ -e "$0" ]; then exit 0; fi; touch "$0"; exec sleep 600', flag]))
    job = lambda: api("GET", "/api/v1/jobs/%d" % R)
    rn = until(lambda: (lambda j: j["state"] == "running" and os.path.exists(flag) and j["nodes"][0])(job()),
               30, "job %d running" % R)
    kids = subprocess.run(["pgrep", "-P", str(pids[rn])], capture_output=True, text=True).stdout.split()
    os.kill(pids[rn], 9)
    for k in kids:
        try:
            os.killpg(int(k), 9)
        except ProcessLookupError:
            pass
    done = until(lambda: (lambda j: j["state"] not in ("pending", "running") and j)(job()), 30, "job %d's end" % R)
    assert done["state"] == "succeeded" and done["restarts"] == 1, done
    hist = until(lambda: (lambda h: len(h) == 2 and h)(api("GET", "/api/v1/history?job=%d" % R)["history"]),
                 10, "job %d's 2 usage records" % R)
    assert [h["ended"] for h in hist] == ["succeeded", "node_fail"], hist  # newest first
    assert hist[0]["incarnation"] > hist[1]["incarnation"] and hist[1]["nodes"] == [rn], hist
    log("job", R, "restarted once:", [(h["incarnation"], h["ended"], h["reason"]) for h in hist])
    # its page: a bar per run, in its outcome's colour, the reason on hover and in the list
    b.eval("showJob(%d); loadHistoryPanels(); 1" % R)
    b.wait("document.getElementById('detail-body').dataset.job === '%d' && "
           "document.querySelectorAll('#runs-list tr[data-inc]').length === 2" % R, 10, "job %d's runs" % R)
    rows = b.eval("[...document.querySelectorAll('#runs-list tr[data-inc]')].map(tr => [+tr.dataset.inc, tr.dataset.ended, tr.cells[5].textContent])")
    assert rows == [[h["incarnation"], h["ended"], h["reason"] or "-"] for h in reversed(hist)], (rows, hist)
    assert b.eval("document.getElementById('runs-chart').dataset.bars") == "2"
    px = "(c, b) => Array.from(c.getContext('2d').getImageData(Math.floor(b.x + b.w / 2), Math.floor(b.y + b.h / 2), 1, 1).data.slice(0, 3))"
    cols = b.eval("(c => c.bars.map(b => (%s)(c, b)))(document.getElementById('runs-chart'))" % px)
    assert cols == [[0xff, 0x8c, 0x1a], [0x6f, 0xcf, 0x6f]], cols  # node_fail, succeeded
    tip = b.eval("""(c => { const r = c.getBoundingClientRect(), k = c.width / r.width, b = c.bars[0];
        c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + (b.x + b.w / 2) / k, clientY: r.top + (b.y + b.h / 2) / k}));
        return c.parentNode.querySelector('.tip').textContent; })(document.getElementById('runs-chart'))""")
    assert hist[1]["reason"] == "requeued after a node failure: %s down" % rn, hist[1]
    assert "node_fail" in tip and hist[1]["reason"] in tip, tip
    log("job", R, "'s timeline:", rows, "; hover:", tip)
    # usage: today's bar, the API's figure for today (in GPU-hours), painted
    today = time.strftime("%Y-%m-%d", time.gmtime())
    u = [x for x in api("GET", "/api/v1/usage?by=day&since=" + today)["usage"] if x["key"] == today]
    assert u and u[0]["gpu_hours"] > 0, u
    b.wait("(tr => tr && Math.abs(+tr.dataset.gpuh - %r) < 1e-9)(document.querySelector('#usage-days tr[data-day=\"%s\"]'))"
           % (u[0]["gpu_hours"], today), 10, "today's usage of %r GPU-h" % u[0]["gpu_hours"])
    col = b.eval("(%s)(document.getElementById('usage-chart'), usageView.bars[usageView.bars.length - 1])" % px)
    assert col == [0x5f, 0xb3, 0xff], col
    # failures: the node failure counted, and recovered; goodput between 0 and 1 (a cancelled
    # run and a failed one used GPUs, a succeeded one and a running one are good)
    fail_total = "document.querySelector('#failures-table tr[data-hour=total] td[data-kind=%s]').dataset.n"
    b.wait("(%s) === '1' && (%s) === '1'" % (fail_total % "node_fail", fail_total % "recovered"), 10,
           "the failures panel's node failure, recovered")
    per_hour = b.eval("[...document.querySelectorAll('#failures-table tr:not([data-hour=total]) td[data-kind=node_fail]')].reduce((s, td) => s + +td.dataset.n, 0)")
    assert per_hour == 1, per_hour
    fl = b.eval("(tr => tr && [tr.dataset.ended, tr.cells[3].textContent, tr.cells[4].textContent])(document.querySelector('#failures-list tr[data-job=\"%d\"]'))" % R)
    assert fl and fl[0] == "node_fail" and fl[1] == (hist[1]["reason"] or "-") and fl[2].startswith("after "), fl
    g = float(b.eval("document.getElementById('goodput').dataset.value"))
    assert 0 < g < 1, g
    assert "Goodput: the GPU-hours of runs that succeeded or are running" in b.eval("document.getElementById('goodput-def').textContent")
    log("usage today %.4f GPU-h; failures %s; %s" % (u[0]["gpu_hours"], fl, b.eval("document.getElementById('goodput').textContent")))

    # log out (the token is dropped), log in as alice: the nodes, none of the default
    # tenant's jobs (the API's tenant isolation, as the page shows it)
    b.eval("document.getElementById('logout').click(); 1")
    b.wait("!document.getElementById('login').classList.contains('hidden')", 10, "the login box again")
    assert b.eval("sessionStorage.getItem('colossus-token')") is None, "the token outlived log out"
    b.eval("delete document.body.dataset.drawn; document.getElementById('token').value = %s; document.getElementById('login-go').click(); 1"
           % json.dumps(open(sys.argv[8]).read().strip()))
    b.wait("document.body.dataset.drawn", 20, "alice's map")
    assert b.eval("document.getElementById('who').textContent").startswith("user alice")
    b.wait("document.getElementById('queue-counts').textContent === '(0 pending, 0 running)'", 10,
           "alice's empty queue (got %s)" % b.eval("document.getElementById('queue-counts').textContent"))
    assert b.eval("+document.getElementById('count-total').textContent") == 6
    assert not b.errors, b.errors
finally:
    b.close()
EOF
log "PASS"
