/* frame.c - framing, per-frame MAC, handshake proofs and the cluster key file (see frame.h). */
#include "proto/frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/util.h"

int cl_buf_reserve(cl_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int cl_buf_append(cl_buf_t *b, const void *p, size_t n)
{
    if (cl_buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void cl_buf_consume(cl_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void cl_buf_free(cl_buf_t *b)
{
    if (!b) return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int cl_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void cl_sess_init(cl_sess_t *s, const uint8_t key[CL_KEY_BYTES], bool server)
{
    crypto_auth_hmacsha256_init(&s->mac0, key, CL_KEY_BYTES);
    s->seq_tx = s->seq_rx = 0;
    s->server = server;
    s->max_body = CL_FRAME_MAX;
}

void cl_sess_init_handshake(cl_sess_t *s, bool server)
{
    static const uint8_t zero[CL_KEY_BYTES];
    cl_sess_init(s, zero, server);
    s->max_body = CL_HANDSHAKE_MAX;
}

void cl_sess_rekey(cl_sess_t *s, const uint8_t key[CL_KEY_BYTES],
                   const uint8_t server_nonce[CL_NONCE_BYTES],
                   const uint8_t peer_nonce[CL_NONCE_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, CL_KEY_BYTES, CL_KEY_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)"colossus-session", 16);
    crypto_generichash_update(&st, server_nonce, CL_NONCE_BYTES);
    crypto_generichash_update(&st, peer_nonce, CL_NONCE_BYTES);
    uint8_t k[CL_KEY_BYTES];
    crypto_generichash_final(&st, k, CL_KEY_BYTES);
    crypto_auth_hmacsha256_init(&s->mac0, k, CL_KEY_BYTES);
    sodium_memzero(k, sizeof k);
    s->seq_tx = s->seq_rx = 0;
    s->max_body = CL_FRAME_MAX;
}

void cl_auth_proof(const uint8_t key[CL_KEY_BYTES], const char *label,
                   const uint8_t server_nonce[CL_NONCE_BYTES],
                   const uint8_t peer_nonce[CL_NONCE_BYTES], uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, CL_KEY_BYTES);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
    crypto_auth_hmacsha256_update(&st, server_nonce, CL_NONCE_BYTES);
    crypto_auth_hmacsha256_update(&st, peer_nonce, CL_NONCE_BYTES);
    crypto_auth_hmacsha256_final(&st, out);
}

bool cl_auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

static void frame_mac(const cl_sess_t *s, bool from_server, uint64_t seq, const uint8_t *hdr,
                      const uint8_t *body, size_t n, uint8_t out[CL_FRAME_MAC])
{
    uint8_t pre[9];
    pre[0] = from_server ? 'S' : 'C';
    for (int i = 0; i < 8; i++)
        pre[1 + i] = (uint8_t)(seq >> (56 - 8 * i));
    crypto_auth_hmacsha256_state st = s->mac0;
    crypto_auth_hmacsha256_update(&st, pre, sizeof pre);
    crypto_auth_hmacsha256_update(&st, hdr, CL_FRAME_HDR);
    crypto_auth_hmacsha256_update(&st, body, n);
    crypto_auth_hmacsha256_final(&st, out);
}

static int frame_put(cl_sess_t *s, const Colossus__Msg *m, const uint8_t *raw, size_t n,
                     cl_buf_t *out)
{
    if (n > CL_FRAME_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    if (cl_buf_reserve(out, CL_FRAME_HDR + n + CL_FRAME_MAC) < 0) return -1;
    uint8_t *hdr = out->p + out->len;
    memcpy(hdr, CL_FRAME_MAGIC, 4);
    hdr[4] = CL_PROTO_VERSION;
    hdr[5] = hdr[6] = hdr[7] = 0;
    hdr[8] = (uint8_t)(n >> 24);
    hdr[9] = (uint8_t)(n >> 16);
    hdr[10] = (uint8_t)(n >> 8);
    hdr[11] = (uint8_t)n;
    uint8_t *body = hdr + CL_FRAME_HDR;
    if (m)
        colossus__msg__pack(m, body);
    else if (n)
        memcpy(body, raw, n);
    frame_mac(s, s->server, s->seq_tx++, hdr, body, n, body + n);
    out->len += CL_FRAME_HDR + n + CL_FRAME_MAC;
    return 0;
}

int cl_frame_encode(cl_sess_t *s, const Colossus__Msg *m, cl_buf_t *out)
{
    return frame_put(s, m, NULL, colossus__msg__get_packed_size(m), out);
}

int cl_frame_encode_raw(cl_sess_t *s, const uint8_t *body, size_t n, cl_buf_t *out)
{
    return frame_put(s, NULL, body, n, out);
}

/* Field number 0 is invalid in protobuf, but protobuf-c keeps an over-long encoded tag 0 as an
 * unknown field (found by fuzzing); refuse such messages anywhere in the tree. */
static bool msg_valid(const ProtobufCMessage *m, int depth)
{
    if (depth > 32) return false;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        /* a oneof member is only there when it is the case set (the union is shared) */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
            continue;
        const char *base = (const char *)m + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)base;
            for (size_t k = 0; k < n; k++)
                if (v[k] && !msg_valid(v[k], depth + 1)) return false;
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)base;
            if (sub && !msg_valid(sub, depth + 1)) return false;
        }
    }
    return true;
}

ssize_t cl_frame_decode(cl_sess_t *s, const uint8_t *buf, size_t len, Colossus__Msg **out,
                        cl_error_t *err)
{
    *out = NULL;
    /* Check the magic as soon as its bytes arrive, so garbage is refused without waiting. */
    size_t cmp = len < 4 ? len : 4;
    if (memcmp(buf, CL_FRAME_MAGIC, cmp)) {
        cl_err(err, "bad frame magic (not a colossus peer?)");
        return -1;
    }
    if (len < CL_FRAME_HDR) return 0;
    if (buf[4] != CL_PROTO_VERSION) {
        cl_err(err, "unsupported protocol version %u (this side speaks %u)", buf[4],
               CL_PROTO_VERSION);
        return -1;
    }
    if (buf[5] || buf[6] || buf[7]) {
        cl_err(err, "reserved frame header bits set");
        return -1;
    }
    size_t n =
        ((size_t)buf[8] << 24) | ((size_t)buf[9] << 16) | ((size_t)buf[10] << 8) | buf[11];
    uint32_t lim = s->max_body ? s->max_body : CL_FRAME_MAX;
    if (n > lim) {
        cl_err(err, "frame of %zu bytes exceeds the %u-byte limit%s", n, lim,
               lim < CL_FRAME_MAX ? " before authentication" : "");
        return -1;
    }
    if (len < CL_FRAME_HDR + n + CL_FRAME_MAC) return 0;
    uint8_t mac[CL_FRAME_MAC];
    frame_mac(s, !s->server, s->seq_rx, buf, buf + CL_FRAME_HDR, n, mac);
    if (!cl_auth_equal(mac, buf + CL_FRAME_HDR + n, CL_FRAME_MAC)) {
        cl_err(err, "frame authentication failed (wrong key, replay or corruption)");
        return -1;
    }
    Colossus__Msg *m = colossus__msg__unpack(NULL, n, buf + CL_FRAME_HDR);
    if (!m) {
        cl_err(err, "malformed message body (%zu bytes)", n);
        return -1;
    }
    if (!msg_valid(&m->base, 0)) {
        colossus__msg__free_unpacked(m, NULL);
        cl_err(err, "malformed message body (field number 0)");
        return -1;
    }
    if (m->body_case == COLOSSUS__MSG__BODY__NOT_SET) {
        colossus__msg__free_unpacked(m, NULL);
        cl_err(err, "empty or unknown message");
        return -1;
    }
    s->seq_rx++;
    *out = m;
    return (ssize_t)(CL_FRAME_HDR + n + CL_FRAME_MAC);
}

void cl_msg_free(Colossus__Msg *m)
{
    if (m) colossus__msg__free_unpacked(m, NULL);
}

void cl_auth_transcript(const uint8_t sn[CL_NONCE_BYTES], const uint8_t pn[CL_NONCE_BYTES],
                        const uint8_t skx[CL_KX_BYTES], const uint8_t pkx[CL_KX_BYTES],
                        const uint8_t identity[32], int role, int kind, const char *id,
                        uint8_t out[32])
{
    crypto_generichash_state st;
    uint8_t rk[2] = {(uint8_t)role, (uint8_t)kind};
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"colossus-auth-v1", 16);
    crypto_generichash_update(&st, sn, CL_NONCE_BYTES);
    crypto_generichash_update(&st, pn, CL_NONCE_BYTES);
    crypto_generichash_update(&st, skx, CL_KX_BYTES);
    crypto_generichash_update(&st, pkx, CL_KX_BYTES);
    crypto_generichash_update(&st, identity, 32);
    crypto_generichash_update(&st, rk, sizeof rk);
    crypto_generichash_update(&st, (const uint8_t *)(id ? id : ""), id ? strlen(id) : 0);
    crypto_generichash_final(&st, out, 32);
}

void cl_hello_msg(const uint8_t sn[CL_NONCE_BYTES], const uint8_t skx[CL_KX_BYTES],
                  uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"colossus-hello-v1", 17);
    crypto_generichash_update(&st, sn, CL_NONCE_BYTES);
    crypto_generichash_update(&st, skx, CL_KX_BYTES);
    crypto_generichash_final(&st, out, 32);
}

const Colossus__Msg *cl_hello_make(cl_hello_t *hb, uint8_t nonce[CL_NONCE_BYTES],
                                   const uint8_t *kx_pk, const uint8_t *identity_pk,
                                   const uint8_t *identity_sk)
{
    Colossus__Hello *h = &hb->hello;
    colossus__hello__init(h);
    colossus__msg__init(&hb->m);
    hb->m.body_case = COLOSSUS__MSG__BODY_HELLO;
    hb->m.hello = h;
    randombytes_buf(nonce, CL_NONCE_BYTES);
    h->proto_version = CL_PROTO_VERSION;
    h->nonce.data = nonce;
    h->nonce.len = CL_NONCE_BYTES;
    if (!kx_pk) return &hb->m;
    h->kx_pub.data = (uint8_t *)kx_pk;
    h->kx_pub.len = CL_KX_BYTES;
    h->identity.data = (uint8_t *)identity_pk;
    h->identity.len = 32;
    /* the identity vouches for this connection's kx: a JWT is sealed under it */
    uint8_t hm[32];
    cl_hello_msg(nonce, kx_pk, hm);
    crypto_sign_detached(hb->sig, NULL, hm, sizeof hm, identity_sk);
    h->kx_sig.data = hb->sig;
    h->kx_sig.len = sizeof hb->sig;
    return &hb->m;
}

void cl_auth_server_msg(const uint8_t transcript[32], uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"colossus-server-v1", 18);
    crypto_generichash_update(&st, transcript, 32);
    crypto_generichash_final(&st, out, 32);
}

int cl_kx_session_key(bool server, const uint8_t my_pk[CL_KX_BYTES],
                      const uint8_t my_sk[CL_KX_BYTES], const uint8_t peer_pk[CL_KX_BYTES],
                      uint8_t key[CL_KEY_BYTES])
{
    uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
    int rc = server ? crypto_kx_server_session_keys(rx, tx, my_pk, my_sk, peer_pk)
                    : crypto_kx_client_session_keys(rx, tx, my_pk, my_sk, peer_pk);
    if (rc == 0) {
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, CL_KEY_BYTES);
        crypto_generichash_update(&st, server ? rx : tx, sizeof rx); /* client to server */
        crypto_generichash_update(&st, server ? tx : rx, sizeof rx); /* server to client */
        crypto_generichash_final(&st, key, CL_KEY_BYTES);
    }
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return rc == 0 ? 0 : -1;
}

int cl_key_generate(char *line, size_t len)
{
    uint8_t key[CL_KEY_BYTES];
    char hex[2 * CL_KEY_BYTES + 1];
    if (len < sizeof hex + 18) return -1;
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    snprintf(line, len, "colossus-key-v1 %s\n", hex);
    sodium_memzero(key, sizeof key);
    return 0;
}

int cl_key_load(const char *path, uint8_t key[CL_KEY_BYTES], cl_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cl_err(err, "cannot read key file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[256] = "";
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char hex[80];
    size_t bin = 0;
    if (!ok || sscanf(line, "colossus-key-v1 %79s", hex) != 1 ||
        strlen(hex) != 2 * CL_KEY_BYTES ||
        sodium_hex2bin(key, CL_KEY_BYTES, hex, strlen(hex), NULL, &bin, NULL) < 0 ||
        bin != CL_KEY_BYTES) {
        cl_err(err,
               "%s is not a colossus key file (expected 'colossus-key-v1 <64 hex digits>'; "
               "make one with 'colossus keygen > FILE')",
               path);
        return -1;
    }
    return 0;
}

int cl_addr_parse(const char *s, char *host, size_t hostlen, int *port, cl_error_t *err)
{
    const char *colon = strrchr(s ? s : "", ':');
    if (!s || !colon || colon == s) {
        cl_err(err, "address '%s' is not HOST:PORT", s ? s : "");
        return -1;
    }
    size_t hl = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl + 1 > hostlen) {
        cl_err(err, "host in '%s' is too long", s);
        return -1;
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535) {
        cl_err(err, "port in '%s' is not a number 0..65535", s);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)p;
    return 0;
}
