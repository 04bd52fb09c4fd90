#!/usr/bin/python3
# sse_watch.py - a reader of the controller's watch stream (GET /api/v1/watch, Server-Sent
# Events) for tests/integration/api_watch.sh, over a plain socket so that the test controls
# how it reads.
#
#   sse_watch.py URL TOKEN-FILE OUT [--slow GO-FILE]
#
# Writes one JSON line per unit of the stream to OUT, flushed as it comes, each with "t" (when
# it was read, Unix seconds):
#   {"status": 200, "headers": {...}}          once, first
#   {"comment": "keepalive"}                   a comment line (": keepalive")
#   {"id": N, "event": "job", "data": {...}}   an event (data parsed)
#   {"eof": true}                              the server ended the stream
# --slow: a receive buffer of 4 KiB, nothing read after the stream's first comment until GO-FILE
# exists, then everything as fast as it comes (a client that does not keep up).
import json
import os
import socket
import sys
import time
import urllib.parse


def main():
    url, tokfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
    slow = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--slow" else None
    u = urllib.parse.urlsplit(url)
    token = open(tokfile).read().strip()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if slow:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((u.hostname, u.port))
    path = u.path + ("?" + u.query if u.query else "")
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
               "Accept: text/event-stream\r\n\r\n" % (path, u.netloc, token)).encode())
    f = open(out, "w")

    def emit(o):
        o["t"] = time.time()
        f.write(json.dumps(o) + "\n")
        f.flush()

    buf = b""
    # the head
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            emit({"eof": True})
            return
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (l.split(":", 1) for l in lines[1:] if ":" in l)}
    emit({"status": status, "headers": headers})
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    body = b""   # de-chunked bytes not yet parsed as lines
    event = {}
    eof = False
    opened = False  # the stream's first comment came
    while True:
        # de-chunk what is there
        while True:
            if not chunked:
                body += buf
                buf = b""
                break
            if b"\r\n" not in buf:
                break
            size_line, rest = buf.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                eof = True
                buf = b""
                break
            if len(rest) < n + 2:
                break
            body += rest[:n]
            buf = rest[n + 2:]
        while b"\n" in body:
            line, body = body.split(b"\n", 1)
            line = line.decode("utf-8")
            if line == "":
                if event:
                    event["data"] = json.loads(event["data"])
                    emit(event)
                event = {}
            elif line.startswith(":"):
                emit({"comment": line[1:].strip()})
                opened = True
            else:
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                event[k] = int(v) if k == "id" else v
        if eof:
            break
        while slow and opened and not os.path.exists(slow):
            time.sleep(0.05)
        d = s.recv(65536)
        if not d:
            break
        buf += d
    emit({"eof": True})


if __name__ == "__main__":
    try:
        main()
    except (ConnectionError, OSError) as e:
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps({"eof": True, "error": str(e)}) + "\n")
