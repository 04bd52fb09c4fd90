#!/bin/bash
# svc_jwt.sh - JWTs of a site's OIDC provider (controller --jwt-key, HS256 shared secret, with
# --jwt-issuer and --jwt-audience): a JWT made by a few lines of Python's standard library is
# presented with `colossus --token FILE`; its claim names the user, so its submit runs as that
# user; scope colossus:read cannot submit. An expired JWT, one signed with another key, one of
# another issuer or audience, one for an unknown user and one with alg none are refused with
# exit 1 and "credential refused (...)" naming why, never repeating the secret, and logged.
# A JWT is a bearer credential, so it goes only to a pinned controller identity (the
# controller writes STATE-DIR/identity.pub): without a pin the client refuses before it
# connects (a listener standing in for the controller sees no connection); with a wrong pin
# it stops at the controller's Hello, before the JWT leaves; a pin from $COLOSSUS_IDENTITY
# (file or hex), --identity FILE or $COLOSSUS_DIR/identity.pub works.
# timeout: 90
. "$(dirname "$0")/cluster_lib.bash"

unset COLOSSUS_IDENTITY
SECRET=jwt-secret-$RANDOM$RANDOM$RANDOM
printf '%s' "$SECRET" > "$T/jwt.key" # the secret's bytes, no newline
chmod 600 "$T/jwt.key"
start_controller --jwt-key "$T/jwt.key" --jwt-issuer https://idp.example --jwt-audience colossus
start_agent n1 2
wait_nodes_up 1
chmod 755 "$T"
mkdir -m 1777 "$T/pub"
cd "$T/pub"

"$B" tenant add A || fail "tenant add A"
"$B" user add alice --tenant A --uid 61001 --gid 61001 || fail "user add alice"

# jwt FILE KEY [CLAIM=VALUE...]: an HS256 JWT with iss, aud, sub=alice and exp in 10 min
# unless the claims given say otherwise (exp=-60: a minute ago; alg=none: unsigned).
jwt() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, hashlib, hmac, json, sys, time
out, key = sys.argv[1], open(sys.argv[2], "rb").read()
claims = {"iss": "https://idp.example", "aud": "colossus", "sub": "alice",
          "iat": int(time.time()), "exp": int(time.time()) + 600}
alg = "HS256"
for a in sys.argv[3:]:
    k, v = a.split("=", 1)
    if k == "alg":
        alg = v
    elif k == "exp":
        claims["exp"] = int(time.time()) + int(v)
    else:
        claims[k] = v
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
body = b64(json.dumps(claims).encode())
sig = "" if alg == "none" else b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
open(out, "w").write(f"{head}.{body}.{sig}\n")
PY
}

log "a good JWT: alice's jobs and submit"
jwt "$T/good.jwt" "$T/jwt.key" || fail "cannot make a JWT"

log "the controller's identity.pub; a JWT goes only to a pinned identity"
PUB=$T/state/identity.pub
grep -Eqx 'colossus-identity-pub-v1 [0-9a-f]{64}' "$PUB" || fail "identity.pub: $(cat "$PUB")"
[ "$(stat -c %a "$PUB")" = 644 ] || fail "identity.pub has mode $(stat -c %a "$PUB")"
# A listener in the controller's place: for each connection it accepts (in order), "mark"
# when it is ours (sent after the client ran), else "other". The first one must be ours.
exec 4< <(exec /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8); print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept(); c.settimeout(5)
    try: b = c.recv(5)
    except OSError: b = b""
    print("mark" if b == b"MARK\n" else "other", flush=True); c.close()')
PIDS+=($!)
read -r -t 10 IMP <&4 || fail "no port from the listener"
"$B" jobs --controller 127.0.0.1:$IMP --token "$T/good.jwt" >"$T/out" 2>"$T/err" &&
    fail "a JWT was used without a pin"
rc=$?
[ $rc = 1 ] || fail "exit $rc (not 1) without a pin: $(cat "$T/err")"
grep -q "a JWT is sent only to a controller whose identity is pinned: set COLOSSUS_IDENTITY" \
    "$T/err" || fail "without a pin: $(cat "$T/err")"
exec 5<>/dev/tcp/127.0.0.1/$IMP && printf 'MARK\n' >&5 && exec 5>&-
read -r -t 10 first <&4 || fail "the listener said nothing"
[ "$first" = mark ] || fail "the client connected without a pin"
# a wrong pin (another controller's identity), as a file or as hex: stopped at the Hello
/usr/bin/python3 -c 'import os; print("colossus-identity-pub-v1", os.urandom(32).hex())' \
    >"$T/other.pub"
for pin in "$T/other.pub" "$(cut -d' ' -f2 "$T/other.pub")"; do
    COLOSSUS_IDENTITY=$pin "$B" jobs --token "$T/good.jwt" >"$T/out" 2>"$T/err" &&
        fail "a JWT was sent to a controller of another identity"
    grep -q "is not the one this JWT is pinned to (its identity key differs)" "$T/err" ||
        fail "a wrong pin: $(cat "$T/err")"
done
COLOSSUS_IDENTITY=$T/state/identity "$B" jobs --token "$T/good.jwt" 2>"$T/err" &&
    fail "the secret identity file taken as a pin"
grep -q "COLOSSUS_IDENTITY: .*: this is the controller's secret identity key" "$T/err" ||
    fail "the secret identity as a pin: $(cat "$T/err")"
grep -q "$(cut -c22-40 "$T/state/identity")" "$T/err" && fail "the secret identity was printed"
grep -q "refused .*JWT" "$T/controller.log" && fail "a JWT reached the controller unpinned"
# the pins that work: --identity FILE, $COLOSSUS_IDENTITY as hex, $COLOSSUS_DIR/identity.pub
"$B" whoami --identity "$PUB" --token "$T/good.jwt" >/dev/null || fail "whoami with --identity"
COLOSSUS_IDENTITY=$(cut -d' ' -f2 "$PUB") "$B" whoami --token "$T/good.jwt" >/dev/null ||
    fail "whoami with \$COLOSSUS_IDENTITY as hex"
mkdir -p "$T/jdir" && cp "$PUB" "$T/jdir/"
COLOSSUS_DIR=$T/jdir "$B" whoami --token "$T/good.jwt" >/dev/null ||
    fail "whoami with \$COLOSSUS_DIR/identity.pub"
export COLOSSUS_IDENTITY=$PUB
"$B" whoami --token "$T/good.jwt" --json > "$T/who.json" || fail "whoami with the JWT"
grep -q alice "$T/who.json" || fail "whoami: $(cat "$T/who.json")"
"$B" jobs --token "$T/good.jwt" || fail "jobs with the JWT"
J=$("$B" submit --token "$T/good.jwt" --gpus-per-node 1 -- true) || fail "submit with the JWT"
wait_state "$J" succeeded 30 || fail "the job did not succeed: $(job_field "$J" 'd')"
[ "$(job_field "$J" 'd["user"], d["tenant"]')" = "alice A" ] ||
    fail "the job's user: $(job_field "$J" 'd')"

log "scope colossus:read looks but cannot submit"
jwt "$T/read.jwt" "$T/jwt.key" "scope=openid colossus:read"
"$B" jobs --token "$T/read.jwt" >/dev/null || fail "jobs with a read JWT"
"$B" submit --token "$T/read.jwt" --gpus-per-node 1 -- true 2>"$T/err" &&
    fail "a read-scoped JWT submitted"
grep -q "read-scoped" "$T/err" || fail "the refusal does not name the scope: $(cat "$T/err")"

# refused FILE WHY: exit 1, "credential refused (...WHY...)", not the secret, and logged.
refused() {
    local rc
    "$B" jobs --token "$1" >"$T/out" 2>"$T/err" && fail "accepted: $1: $(cat "$T/out")"
    rc=$?
    [ $rc = 1 ] || fail "exit $rc (not 1) for $1: $(cat "$T/err")"
    grep -q "credential refused (.*$2" "$T/err" || fail "$1: not refused for '$2': $(cat "$T/err")"
    grep -q "$SECRET" "$T/err" "$T/controller.log" && fail "the secret was repeated"
    wait_for 10 grep -q "refused .*$2" "$T/controller.log" || fail "$1: not logged: $2"
    log "  refused: $(cat "$T/err")"
}

log "JWTs that must not work"
printf 'another-secret' > "$T/other.key"
jwt "$T/expired.jwt" "$T/jwt.key" exp=-60
jwt "$T/wrongkey.jwt" "$T/other.key"
jwt "$T/iss.jwt" "$T/jwt.key" iss=https://evil.example
jwt "$T/aud.jwt" "$T/jwt.key" aud=other
jwt "$T/nobody.jwt" "$T/jwt.key" sub=mallory
jwt "$T/none.jwt" "$T/jwt.key" alg=none
refused "$T/expired.jwt" "JWT: expired"
refused "$T/wrongkey.jwt" "signature does not match"
refused "$T/iss.jwt" "issuer"
refused "$T/aud.jwt" "audience"
refused "$T/nobody.jwt" "no user mallory"
refused "$T/none.jwt" "JWT"
n=$(grep -c "refused 127.0.0.1:[0-9]*: JWT" "$T/controller.log")
[ "$n" = 6 ] || fail "$n log lines for 6 refused JWTs: $(grep refused "$T/controller.log")"
"$B" submit --token "$T/expired.jwt" --gpus-per-node 1 -- true 2>"$T/err" &&
    fail "an expired JWT submitted"
grep -q "credential refused (JWT: expired)" "$T/err" || fail "submit: $(cat "$T/err")"
[ "$("$B" jobs --all --json | jfield 'len(d)')" = 1 ] || fail "a refused JWT made a job"
log "ok"
