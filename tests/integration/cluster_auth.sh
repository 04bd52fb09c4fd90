#!/bin/bash
# cluster_auth.sh - authentication and bad input at the edge: a client or agent with another
# cluster key is refused and logged; garbage, a wrong version, an oversized frame, a forged
# MAC, and a key-holding peer sending a body that is not a message each close only their own
# connection (with a log line) while the controller keeps serving everyone else.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

start_controller
start_agent n1 2
wait_nodes_up 1
cd "$T"

log "wrong key: client refused"
"$B" keygen > other.key
"$B" jobs --key other.key 2>err.txt && fail "client with another key accepted"
# The key is named because the controller says so (Refused{WRONG_KEY}); the client never
# guesses it from a closed connection (tests/integration/cli_errors.sh).
KEYMSG="refused the connection: wrong cluster key"
grep -Eq "$KEYMSG" err.txt || fail "client message: $(cat err.txt)"
wait_for 5 grep -q "refused .*: wrong cluster key" controller.log || fail "refusal not logged"

log "wrong key: agent refused, never registered"
"$B" agent --controller "$CTL_ADDR" --key other.key --name intruder --work-dir "$T/intruder" --fake-gpus 1 \
    > agent-intruder.log 2>&1 &
PIDS+=($!)
wait_for 10 grep -Eq "$KEYMSG" agent-intruder.log || fail "agent did not report the wrong key"
"$B" nodes | grep -q intruder && fail "agent with a wrong key registered"

log "malformed frames"
python3 - "$CTL_ADDR" "$T/key" <<'PY' || fail "malformed-frame client failed"
import hashlib, hmac, os, socket, struct, sys, time
host, port = sys.argv[1].rsplit(":", 1)
key = bytes.fromhex(open(sys.argv[2]).read().split()[1])
def conn():
    s = socket.create_connection((host, int(port)), timeout=5)
    return s
def closed(s):
    s.settimeout(5)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, socket.timeout) as e:
        return not isinstance(e, socket.timeout)
def hdr(n, version=1):
    return b"CLS1" + bytes([version, 0, 0, 0]) + struct.pack(">I", n)
cases = {
    "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "version": hdr(4, version=9) + b"\0" * 36,
    "oversized": hdr(0x7FFFFFF0),
    "forged mac": hdr(4) + b"\x12\x02\x08\x01" + os.urandom(32),
}
for name, data in cases.items():
    s = conn()
    s.sendall(data)
    assert closed(s), name + ": connection not closed"
    print("closed on", name)
# A peer that knows the key: complete the handshake, then send a MAC-valid frame whose body
# is not a protobuf message.
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data
def mac(k, from_server, seq, h, body):
    return hmac.new(k, (b"S" if from_server else b"C") + struct.pack(">Q", seq) + h + body, hashlib.sha256).digest()
def recv_frame(s):
    buf = b""
    while len(buf) < 12:
        buf += s.recv(12 - len(buf))
    n = struct.unpack(">I", buf[8:12])[0]
    rest = b""
    while len(rest) < n + 32:
        rest += s.recv(n + 32 - len(rest))
    return buf, rest[:n]
s = conn()
h, body = recv_frame(s)
# Msg.hello (1) { proto_version (1), nonce (2) }: find the 32-byte nonce
i = body.index(b"\x12\x20")
sn = body[i + 2:i + 34]
cn = os.urandom(32)
proof = hmac.new(key, b"colossus-client" + sn + cn, hashlib.sha256).digest()
auth = varint(1 << 3) + varint(2) + field(2, cn) + field(3, proof) + field(4, b"fuzzer")
msg = field(2, auth)
fh = hdr(len(msg))
zero = bytes(32)                  # handshake frames: public zero MAC key
s.sendall(fh + msg + mac(zero, False, 0, fh, msg))
h, body = recv_frame(s)
assert body[:1] == b"\x1a", "no auth_ok"
sess = hashlib.blake2b(b"colossus-session" + sn + cn, key=key, digest_size=32).digest()
bad = b"\x32\x7f\x01"            # field 6 claims 127 bytes, has 1
fh = hdr(len(bad))
s.sendall(fh + bad + mac(sess, False, 0, fh, bad))
assert closed(s), "authenticated bad body: connection not closed"
print("closed on authenticated malformed body")
PY
for what in "bad frame magic" "unsupported protocol version" "exceeds" "authentication failed" "malformed message body"; do
    grep -q "closing connection .*$what" controller.log || fail "no log line for: $what"
done

log "the controller still serves everyone"
kill -0 "$CTL_PID" || fail "controller died"
J=$("$B" submit --gpus-per-node 1 -- true) && "$B" wait "$J" --timeout 20 || fail "job after bad input"
"$B" nodes | grep -Eq "n1 +up" || fail "agent lost"
log "PASS"
