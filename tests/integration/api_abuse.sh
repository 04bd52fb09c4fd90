#!/bin/bash
# api_abuse.sh - the REST API's listeners against hostile clients (docs/security.md, "The
# REST API"): a client sending its headers a byte a second, and one its body, are closed once
# the idle timeout has passed since their request began (they are never idle) while others
# are served; headers over 64 KiB get 431; a burst of one user over --http-rate gets 429 with
# Retry-After and a JSON error while another user is served, and so does a flood of bad
# tokens from one address; 10,000 idle connections (from 127.0.0.2-6) are held with a real
# client's requests still fast (latency and the controller's RSS printed), then sockets over
# --http-max-per-ip are closed and those over --http-max-connections are not accepted (they
# wait in the listen backlog), and the real client is served again once those go. The controller raises its descriptor limit to the hard one itself.
# Malformed JSON, wrong types and unknown fields (400) are api_rest.sh's.
# timeout: 240
. "$(dirname "$0")/cluster_lib.bash"

users() { # TOKEN-FILES for alice, bob and carol
    "$B" tenant add A >/dev/null || fail "tenant A"
    local u i=1
    for u in alice bob carol; do
        "$B" user add $u --tenant A --uid $((61000 + i)) --gid $((61000 + i)) >/dev/null || fail "user $u"
        "$B" token create --user $u >"$T/$u.tok" 2>/dev/null || fail "$u's token"
        i=$((i + 1))
    done
}

rc=0
"$B" controller --state-dir "$T/no" --listen 127.0.0.1:0 --key "$T/key" --http 127.0.0.1:0 \
    --http-rate -1 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q -- "--http-rate must be a number in 0..10000000" "$T/err" || fail "--http-rate -1: exit $rc: $(cat "$T/err")"
log "controller 1: --http-idle-timeout 2 --http-rate 20"
start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" --http-idle-timeout 2 \
    --http-rate 20
H=$(cat "$T/http-address")
users

log "slow clients are closed after the idle timeout; others are served meanwhile"
python3 - "$H" "$T/carol.tok" <<'PY' || fail "slow clients"
import socket, sys, threading, time, urllib.request
base, tokfile = sys.argv[1:3]
host, port = base[len("http://"):].split(":")
tok = open(tokfile).read().strip()
starts = {"headers": b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Slow: ",
          "body": b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  tok.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"}
res = {}
def slow(name):
    s = socket.create_connection((host, int(port)))
    t0 = time.monotonic()
    s.sendall(starts[name])
    sent = 0
    try:
        while time.monotonic() - t0 < 15:
            s.settimeout(1)  # a byte a second: never silent for 2 s
            try:
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                pass
            s.sendall(b"a")
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    res[name] = (time.monotonic() - t0, sent)
th = [threading.Thread(target=slow, args=(n,)) for n in starts]
for t in th:
    t.start()
served = 0
while any(t.is_alive() for t in th):
    q0 = time.monotonic()
    req = urllib.request.Request(base + "/api/v1/whoami", headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200, r.status
    assert time.monotonic() - q0 < 1, "a request took %.2f s" % (time.monotonic() - q0)
    served += 1
    time.sleep(0.1)  # pacing, under the rate limit of 20/s
for name, (took, sent) in sorted(res.items()):
    print("slow %s: closed after %.1f s, %d bytes sent a second apart" % (name, took, sent))
    assert 1.9 < took < 5, "slow %s: %.1f s" % (name, took)
    assert sent >= 1, "slow %s sent nothing after the start: it was idle" % name
print("%d requests of others served meanwhile" % served)
PY
grep -q "closed 2 connections whose request did not arrive whole within 2 s" "$T/controller.log" ||
    wait_for 12 grep -q "connections whose request did not arrive whole" "$T/controller.log" ||
    fail "no log line about the slow clients"

log "headers over 64 KiB: 431"
python3 - "$H" <<'PY' || fail "431"
import socket, sys
host, port = sys.argv[1][len("http://"):].split(":")
s = socket.create_connection((host, int(port)), timeout=10)
try:
    s.sendall(b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
except (BrokenPipeError, ConnectionResetError):
    pass
line = s.recv(4096).split(b"\r\n")[0]
assert line.startswith(b"HTTP/1.1 431"), line
print(line.decode())
PY

log "a burst of alice over --http-rate 20 (bursts of 40): 429s; bob served meanwhile"
python3 - "$H" "$T/alice.tok" "$T/bob.tok" <<'PY' || fail "rate limit"
import http.client, json, sys
base, atok, btok = sys.argv[1:4]
host, port = base[len("http://"):].split(":")
def conn():
    return http.client.HTTPConnection(host, int(port), timeout=5)
a, b = conn(), conn()
def get(c, tok):
    c.request("GET", "/api/v1/whoami", headers={"Authorization": "Bearer " + open(tok).read().strip()})
    r = c.getresponse()
    return r.status, r.getheader("Retry-After"), r.read()
sts = []
for i in range(100):
    st, retry, body = get(a, atok)
    if st == 429:
        err = json.loads(body)["error"]
        assert "rate limit" in err and "user alice" in err, err
        assert retry is not None and int(retry) >= 1, retry
        a.close()
        a = conn()  # the library may close after an early answer
    else:
        assert st == 200, (st, body)
    sts.append(st)
    if i == 60:
        bst, _, bbody = get(b, btok)
        assert bst == 200, ("bob", bst, bbody)
assert sts[:40] == [200] * 40, sts
assert sts.count(429) >= 10, sts
print("alice: %d x 200, %d x 429 (Retry-After %s: %s); bob: 200" % (sts.count(200), sts.count(429), retry, err))
PY

log "a flood of bad tokens from one address: 429 after its burst; carol (verified before) served"
api_whoami() { curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 5 ${1:+-H "Authorization: Bearer $1"} "$H/api/v1/whoami"; }
[ "$(api_whoami "$(cat "$T/carol.tok")")" = 200 ] || fail "carol: $(cat "$T/body")"
# The 100 requests go out on one connection from one curl: a curl process each took ~25 ms on
# a loaded machine, slow enough for the bucket to refill between them (20 a second).
args=()
for i in $(seq 100); do args+=(-o "$T/flood-$i" "$H/api/v1/whoami"); done
curl -s -D "$T/flood.headers" -w '%{http_code}\n' --max-time 20 \
    -H "Authorization: Bearer colossus-token-v1.tk-flood.forged" "${args[@]}" >"$T/flood.codes"
n401=$(grep -c '^401$' "$T/flood.codes") n429=$(grep -c '^429$' "$T/flood.codes")
[ $((n401 + n429)) = 100 ] || fail "a bad token: $(sort "$T/flood.codes" | uniq -c)"
[ $n429 -ge 10 ] && [ $n401 -ge 30 ] || fail "bad tokens: $n401 x 401, $n429 x 429"
first=$(grep -n '^429$' "$T/flood.codes" | head -1 | cut -d: -f1)
cp "$T/flood-$first" "$T/429"
grep -i '^Retry-After' "$T/flood.headers" | head -1 >"$T/429.headers"
grep -q "this address before authentication" "$T/429" || fail "429 body: $(cat "$T/429")"
grep -qi '^Retry-After: [1-9]' "$T/429.headers" || fail "429 headers: $(cat "$T/429.headers")"
[ "$(api_whoami "$(cat "$T/carol.tok")")" = 200 ] || fail "carol after the flood: $(cat "$T/body")"
log "  $n401 x 401 then $n429 x 429: $(cat "$T/429")"
stop_all

# 10,000 idle connections: the client needs as many descriptors, the controller too
N=10000
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -ge 2500 ] || { echo "the descriptor hard limit ($hard) is too low for this test"; exit 77; }
[ "$hard" -ge $((N + 400)) ] || N=$(((hard - 400) / 1000 * 1000))
PER=$((N / 5))
MAX=$((N + 50))
log "controller 2: $N idle connections (--http-max-per-ip $PER, --http-max-connections $MAX)"
ulimit -Sn 1024 # the controller raises its own soft limit to the hard one
STATE_DIR=$T/state2 start_controller --http 127.0.0.1:0 --http-address-file "$T/http-address" \
    --http-idle-timeout 120 --http-max-per-ip $PER --http-max-connections $MAX
grep -q "file descriptors: limit $hard (was 1024)" "$T/controller.log" ||
    fail "the controller did not raise its descriptor limit: $(grep 'file descriptors' "$T/controller.log")"
H=$(cat "$T/http-address")
users
python3 - "$H" "$T/alice.tok" "$CTL_PID" "$N" "$PER" "$MAX" <<'PY' || fail "idle connections"
import http.client, os, resource, select, socket, statistics, sys, time
base, tokfile, pid, n, per, mx = sys.argv[1:7]
n, per, mx = int(n), int(per), int(mx)
host, port = base[len("http://"):].split(":")
port = int(port)
tok = open(tokfile).read().strip()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def rss_mb():
    for l in open("/proc/%s/status" % pid):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) / 1024
def fds():
    return len(os.listdir("/proc/%s/fd" % pid))
def until(what, cond, limit=60):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < limit, what
        time.sleep(0.05)
def real(k):  # k requests of a real client, each on a new connection: their latencies
    lat = []
    for _ in range(k):
        t0 = time.monotonic()
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", "/api/v1/whoami", headers={"Authorization": "Bearer " + tok})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        c.close()
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.02)  # under --http-rate's default
    return lat
def open_from(src, k):
    out = []
    for _ in range(k):
        s = socket.socket()
        s.bind((src, 0))
        s.connect((host, port))
        out.append(s)
    return out
def closed(socks):  # those the server closed
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN)
    ready = {fd for fd, _ in p.poll(0)}
    n = 0
    for s in socks:
        if s.fileno() in ready:
            try:
                n += s.recv(1, socket.MSG_PEEK) == b""
            except ConnectionResetError:
                n += 1
    return n
base_fds, base_rss = fds(), rss_mb()
real(5)
t0 = time.monotonic()
idle = []
for i in range(5):
    idle += open_from("127.0.0.%d" % (i + 2), n // 5)
until("the controller did not accept %d connections" % n, lambda: fds() >= base_fds + n)
print("%d idle connections open in %.1f s; the controller holds %d descriptors" % (n, time.monotonic() - t0, fds()))
lat = real(50)
lat.sort()
rss = rss_mb()
print("a real client with %d idle connections: 50 requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms"
      % (n, statistics.median(lat), lat[48], lat[-1]))
print("controller RSS: %.1f MB before, %.1f MB with %d idle connections (%.1f KB each)"
      % (base_rss, rss, n, (rss - base_rss) * 1024 / n))
assert lat[-1] < 1000, lat
assert closed(idle) == 0, "idle connections closed: %d" % closed(idle)
# over --http-max-per-ip: 100 more from 127.0.0.2, each closed
extra = open_from("127.0.0.2", 100)
until("connections over --http-max-per-ip not closed: %d of 100" % closed(extra), lambda: closed(extra) == 100, 20)
print("100 connections over --http-max-per-ip %d: all closed" % per)
for s in extra:
    s.close()
# over --http-max-connections: 100 from 127.0.0.8 where 50 places are left: 50 are taken,
# the others wait in the listen backlog, unaccepted, until places free up
more = open_from("127.0.0.8", 100)
until("over --http-max-connections: the 50 places not taken", lambda: fds() >= base_fds + n + 50, 20)
time.sleep(0.5)  # not a synchronisation: a bounded look for one more accepted
assert fds() == base_fds + n + 50, "%d accepted over the limit" % (fds() - base_fds - n - 50)
assert closed(idle) == 0, "idle connections closed: %d" % closed(idle)
print("100 connections where --http-max-connections %d left 50 places: 50 accepted" % mx)
for s in more:
    s.close()
until("the controller did not let the 100 go", lambda: fds() <= base_fds + n + 5, 20)
lat = real(5)
print("the real client again: %.2f ms" % max(lat))
PY
kill -0 "$CTL_PID" || fail "the controller died"
n=$(grep -c " http: " "$T/controller.log")
[ "$n" -le 40 ] || fail "$n log lines of the HTTP library: a flood"
log "$n log lines of the HTTP library"
stop_controller_clean
log "PASS"
