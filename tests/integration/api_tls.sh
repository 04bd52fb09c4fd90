#!/bin/bash
# api_tls.sh - the REST API over HTTPS (--http-cert, --http-key; docs/security.md): a CA and a
# server certificate made here with openssl; curl trusting that CA is served, a client
# trusting another CA refuses the server, plain HTTP to the TLS port gets no answer; the
# base URL is https://; a listener off loopback is refused without a certificate (before
# binding) and passes the check with one; a missing, unreadable or non-PEM file and a key
# that is not the certificate's are refused at start (exit 2, the file named) before any
# listener; libmicrohttpd and GnuTLS stay dlopened.
# timeout: 60
. "$(dirname "$0")/cluster_lib.bash"

command -v curl >/dev/null || { echo "curl is missing"; exit 77; }
command -v openssl >/dev/null || { echo "openssl is missing (scripts/install-deps.sh)"; exit 77; }
if ldd "$B" | grep -E 'libmicrohttpd|libgnutls'; then
    fail "$B is linked to a library it should dlopen"
fi

log "a CA, a server certificate for 127.0.0.1 and 127.0.0.2, and another CA"
cd "$T"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=colossus-test-ca 2>/dev/null || fail "CA"
openssl req -x509 "${ec[@]}" -keyout ca2.key -out ca2.pem -days 2 -subj /CN=another-ca 2>/dev/null || fail "CA 2"
openssl req "${ec[@]}" -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null || fail "CSR"
printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\n' >san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
    -extfile san.ext 2>/dev/null || fail "server certificate"
openssl req "${ec[@]}" -keyout other.key -out other.csr -subj /CN=other 2>/dev/null || fail "other key"
echo "not a certificate" >garbage.pem
mkdir dir.pem

# refused CODE WORDS ARGS...: the controller exits CODE saying WORDS, having listened nowhere
refused() {
    local code=$1 words=$2 rc=0
    shift 2
    rm -f "$T/a" "$T/ha"
    "$B" controller --state-dir "$T/no" --listen 127.0.0.1:0 --key "$T/key" --address-file "$T/a" \
        --http-address-file "$T/ha" "$@" 2>"$T/err" || rc=$?
    [ $rc = "$code" ] && grep -qF -- "$words" "$T/err" || fail "$*: exit $rc, not $code with '$words': $(cat "$T/err")"
    [ ! -e "$T/a" ] && [ ! -e "$T/ha" ] || fail "$*: it listened"
    log "  refused: $(cat "$T/err")"
}
log "off loopback: refused without a certificate, before binding"
for a in 192.0.2.1:0 0.0.0.0:0 [::]:0 [2001:db8::1]:0; do
    refused 2 "needs TLS" --http "$a"
done
log "with a certificate the address passes the check (192.0.2.1 is nobody's: bind fails)"
refused 1 "cannot listen on 192.0.2.1:0 (HTTPS)" --http 192.0.2.1:0 --http-cert srv.pem --http-key srv.key
log "bad certificate and key files"
refused 2 "--http-cert and --http-key go together" --http 127.0.0.1:0 --http-cert srv.pem
refused 2 "--http-cert without an --http listener" --http-cert srv.pem --http-key srv.key
refused 2 "--http-cert: nope.pem" --http 127.0.0.1:0 --http-cert nope.pem --http-key srv.key
refused 2 "--http-key: nope.key" --http 127.0.0.1:0 --http-cert srv.pem --http-key nope.key
refused 2 "--http-cert: dir.pem" --http 127.0.0.1:0 --http-cert dir.pem --http-key srv.key
refused 2 "--http-cert garbage.pem: not a PEM file" --http 127.0.0.1:0 --http-cert garbage.pem --http-key srv.key
refused 2 "--http-key garbage.pem: not a PEM file" --http 127.0.0.1:0 --http-cert srv.pem --http-key garbage.pem
refused 2 "--http-cert srv.key: not a PEM file holding a certificate" --http 127.0.0.1:0 --http-cert srv.key --http-key srv.key
refused 2 "--http-cert srv.pem and --http-key other.key: not a certificate and its private key" \
    --http 127.0.0.1:0 --http-cert srv.pem --http-key other.key

log "HTTPS on 127.0.0.1 and 127.0.0.2"
start_controller --http 127.0.0.1:0 --http 127.0.0.2:0 --http-address-file "$T/http-address" \
    --http-cert "$T/srv.pem" --http-key "$T/srv.key"
H=$(cat "$T/http-address")
case "$H" in https://127.0.0.1:[0-9]*) ;; *) fail "http-address: '$H'" ;; esac
H2=$(sed -n 's/.*\(https:\/\/127\.0\.0\.2:[0-9]*\) (http).*/\1/p' "$T/controller.log")
[ -n "$H2" ] || fail "no 127.0.0.2 listener in the log"
"$B" tenant add A >/dev/null || fail "tenant A"
"$B" user add alice --tenant A --uid 61001 --gid 61001 >/dev/null || fail "alice"
"$B" token create --user alice >"$T/alice.tok" || fail "alice's token"
auth=(-H "Authorization: Bearer $(cat "$T/alice.tok")")
for u in "$H" "$H2"; do
    out=$(curl -sS --max-time 10 --cacert "$T/ca.pem" "${auth[@]}" "$u/api/v1/whoami") || fail "curl $u: $out"
    [[ $out == *'"name":"alice"'* ]] || fail "whoami over $u: $out"
done
log "  curl --cacert ca.pem: $out"
rc=0
curl -sS --max-time 10 --cacert "$T/ca2.pem" "${auth[@]}" "$H/api/v1/whoami" 2>"$T/curl.err" || rc=$?
[ $rc = 60 ] || fail "a client trusting another CA: curl exit $rc ($(cat "$T/curl.err")), not 60"
log "  another CA: curl exit 60: $(head -n 1 "$T/curl.err")"
rc=0
st=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${auth[@]}" "http://${H#https://}/api/v1/whoami") || rc=$?
[ $rc != 0 ] && [ "$st" = 000 ] || fail "plain HTTP to the TLS port: curl exit $rc, status $st"
log "  plain HTTP to the TLS port: curl exit $rc, no answer"
out=$(curl -sS --max-time 10 --cacert "$T/ca.pem" "${auth[@]}" "$H/api/v1/whoami") ||
    fail "the listener after a plain-HTTP client: $out"

stop_controller_clean
log "PASS"
