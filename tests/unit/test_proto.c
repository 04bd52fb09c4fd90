/* test_proto.c - frame codec, per-frame MAC, handshake proofs, key file and address parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto/frame.h"
#include "proto/uvconn.h"

static const uint8_t key1[CL_KEY_BYTES] = {1, 2, 3};
static const uint8_t key2[CL_KEY_BYTES] = {9, 9, 9};

static void make_hb(Colossus__Msg *m, Colossus__Heartbeat *hb, uint32_t *ids, size_t n)
{
    colossus__msg__init(m);
    colossus__heartbeat__init(hb);
    hb->nodes = ids;
    hb->n_nodes = n;
    m->body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m->heartbeat = hb;
}

static void test_roundtrip(void **st)
{
    cl_sess_t tx, rx;
    cl_sess_init(&tx, key1, false);
    cl_sess_init(&rx, key1, true);
    uint32_t ids[] = {0, 7, 123456};
    Colossus__Msg m;
    Colossus__Heartbeat hb;
    make_hb(&m, &hb, ids, 3);
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&tx, &m, &b), 0);
    assert_int_equal(cl_frame_encode(&tx, &m, &b), 0);
    assert_memory_equal(b.p, "CLS1", 4);
    size_t one = b.len / 2;
    cl_error_t err;
    Colossus__Msg *out = NULL;
    /* every strict prefix asks for more bytes */
    for (size_t i = 1; i < one; i++)
        assert_int_equal(cl_frame_decode(&rx, b.p, i, &out, &err), 0);
    assert_int_equal(cl_frame_decode(&rx, b.p, b.len, &out, &err), (ssize_t)one);
    assert_int_equal(out->body_case, COLOSSUS__MSG__BODY_HEARTBEAT);
    assert_int_equal(out->heartbeat->n_nodes, 3);
    assert_int_equal(out->heartbeat->nodes[2], 123456);
    cl_msg_free(out);
    /* the same first frame again is a replay: its sequence number is gone */
    assert_int_equal(cl_frame_decode(&rx, b.p, one, &out, &err), -1);
    assert_non_null(strstr(err.msg, "authentication"));
    assert_int_equal(cl_frame_decode(&rx, b.p + one, one, &out, &err), (ssize_t)one);
    cl_msg_free(out);
    cl_buf_free(&b);
}

static void test_tamper_and_wrong_key(void **st)
{
    uint32_t ids[] = {5};
    Colossus__Msg m;
    Colossus__Heartbeat hb;
    make_hb(&m, &hb, ids, 1);
    cl_error_t err;
    Colossus__Msg *out;
    for (size_t flip = 0; flip < 64; flip++) {
        cl_sess_t tx, rx;
        cl_sess_init(&tx, key1, false);
        cl_sess_init(&rx, key1, true);
        cl_buf_t b = {0};
        assert_int_equal(cl_frame_encode(&tx, &m, &b), 0);
        if (flip >= b.len) {
            cl_buf_free(&b);
            break;
        }
        b.p[flip] ^= 0x40;
        assert_true(cl_frame_decode(&rx, b.p, b.len, &out, &err) <= 0);
        cl_buf_free(&b);
    }
    cl_sess_t tx, rx;
    cl_sess_init(&tx, key1, false);
    cl_sess_init(&rx, key2, true);
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&tx, &m, &b), 0);
    assert_int_equal(cl_frame_decode(&rx, b.p, b.len, &out, &err), -1);
    /* a frame reflected back to its sender fails too (direction byte) */
    cl_sess_t self;
    cl_sess_init(&self, key1, false);
    assert_int_equal(cl_frame_decode(&self, b.p, b.len, &out, &err), -1);
    cl_buf_free(&b);
}

static void test_bad_headers(void **st)
{
    cl_sess_t rx;
    cl_sess_init(&rx, key1, true);
    cl_error_t err;
    Colossus__Msg *out;
    assert_int_equal(
        cl_frame_decode(&rx, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, &out, &err), -1);
    assert_non_null(strstr(err.msg, "magic"));
    /* garbage is refused from its first byte, without waiting for a header */
    assert_int_equal(cl_frame_decode(&rx, (const uint8_t *)"X", 1, &out, &err), -1);
    uint8_t h[CL_FRAME_HDR] = {'C', 'L', 'S', '1', 2, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(cl_frame_decode(&rx, h, sizeof h, &out, &err), -1);
    assert_non_null(strstr(err.msg, "version"));
    h[4] = CL_PROTO_VERSION;
    h[8] = 0x7f; /* ~2 GB */
    assert_int_equal(cl_frame_decode(&rx, h, sizeof h, &out, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds"));
    h[8] = 0;
    h[5] = 1;
    assert_int_equal(cl_frame_decode(&rx, h, sizeof h, &out, &err), -1);
}

static void test_bad_body_with_valid_mac(void **st)
{
    /* A peer that knows the key but sends a body that is not a Msg: refused, never crashes. */
    static const uint8_t bodies[][8] = {
        {0x32, 0x7f, 0x01},             /* field 6 length 127 past the end */
        {0xff, 0xff, 0xff, 0xff, 0x0f}, /* bad tag */
        {0x08},                         /* truncated varint */
        {0x32, 0x00, 0x80, 0x00,
         0x00}, /* over-long tag 0 (protobuf-c keeps it; found by fuzzing) */
    };
    static const size_t lens[] = {3, 5, 1, 5};
    cl_error_t err;
    Colossus__Msg *out;
    for (size_t i = 0; i < 4; i++) {
        cl_sess_t tx, rx;
        cl_sess_init(&tx, key1, false);
        cl_sess_init(&rx, key1, true);
        cl_buf_t b = {0};
        assert_int_equal(cl_frame_encode_raw(&tx, bodies[i], lens[i], &b), 0);
        assert_int_equal(cl_frame_decode(&rx, b.p, b.len, &out, &err), -1);
        assert_non_null(strstr(err.msg, "malformed"));
        cl_buf_free(&b);
    }
    /* a valid request whose oneof holds a scalar passes the nested-message check */
    {
        Colossus__Request rq = COLOSSUS__REQUEST__INIT;
        rq.body_case = COLOSSUS__REQUEST__BODY_SHOW;
        rq.show = 0x4141414141414141ull; /* would be a wild pointer if read as a message */
        Colossus__Msg mm = COLOSSUS__MSG__INIT;
        mm.body_case = COLOSSUS__MSG__BODY_REQUEST;
        mm.request = &rq;
        cl_sess_t tx, rx;
        cl_sess_init(&tx, key1, false);
        cl_sess_init(&rx, key1, true);
        cl_buf_t b = {0};
        assert_int_equal(cl_frame_encode(&tx, &mm, &b), 0);
        assert_true(cl_frame_decode(&rx, b.p, b.len, &out, &err) > 0);
        assert_int_equal(out->request->show, 0x4141414141414141ull);
        cl_msg_free(out);
        cl_buf_free(&b);
    }
    /* an all-default Msg packs to zero bytes: no body set */
    Colossus__Msg empty = COLOSSUS__MSG__INIT;
    cl_sess_t tx3, rx3;
    cl_sess_init(&tx3, key1, false);
    cl_sess_init(&rx3, key1, true);
    cl_buf_t b2 = {0};
    assert_int_equal(cl_frame_encode(&tx3, &empty, &b2), 0);
    assert_int_equal(cl_frame_decode(&rx3, b2.p, b2.len, &out, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));
    cl_buf_free(&b2);
}

/* A message over the frame limit is dropped, not sent: the connection is not closed (it may
 * carry other nodes' work), nothing of it is queued and its sequence number is not used, so
 * the next message is the peer's next frame (issue 10, item 5). */
static void no_msg(cl_uconn_t *c, Colossus__Msg *m) {}
static void closed(cl_uconn_t *c) {}

static void test_oversize_message_dropped_connection_goes_on(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    cl_uconn_t c;
    assert_int_equal(cl_uconn_init(&loop, &c, no_msg, closed, NULL), 0);
    cl_sess_init(&c.sess, key1, true);
    cl_sess_t rx;
    cl_sess_init(&rx, key1, false);
    uint8_t *big = calloc(1, CL_FRAME_MAX);
    assert_non_null(big);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.data.data = big;
    rs.data.len = CL_FRAME_MAX;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = &rs;
    assert_int_equal(cl_uconn_send(&c, &m), -1);
    assert_false(c.closing);
    assert_int_equal(c.out.len, 0);
    uint32_t ids[] = {5};
    Colossus__Msg hbm;
    Colossus__Heartbeat hb;
    make_hb(&hbm, &hb, ids, 1);
    assert_int_equal(cl_uconn_send(&c, &hbm), 0);
    Colossus__Msg *out = NULL;
    cl_error_t err;
    assert_int_equal(cl_frame_decode(&rx, c.out.p, c.out.len, &out, &err), (ssize_t)c.out.len);
    assert_int_equal(out->body_case, COLOSSUS__MSG__BODY_HEARTBEAT);
    cl_msg_free(out);
    free(big);
    c.out.len = 0;
    cl_uconn_close(&c, "test over");
    uv_run(&loop, UV_RUN_DEFAULT);
    cl_buf_free(&c.in);
    cl_buf_free(&c.out);
    cl_buf_free(&c.inflight);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The MAC is HMAC-SHA256 under the session key over the direction byte, the big-endian
 * sequence number, the header and the body (docs/protocol.md), computed from scratch here:
 * the session's precomputed key state must give the very bytes a peer of any version checks. */
static void test_mac_is_hmac_sha256(void **st)
{
    cl_sess_t tx;
    cl_sess_init(&tx, key1, false);
    uint32_t ids[] = {1, 2};
    Colossus__Msg m;
    Colossus__Heartbeat hb;
    make_hb(&m, &hb, ids, 2);
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&tx, &m, &b), 0);
    size_t first = b.len;
    assert_int_equal(cl_frame_encode(&tx, &m, &b), 0); /* seq 1 */
    for (uint64_t seq = 0; seq < 2; seq++) {
        const uint8_t *f = b.p + seq * first;
        size_t n = first - CL_FRAME_HDR - CL_FRAME_MAC;
        uint8_t pre[9] = {'C'}, mac[32];
        for (int i = 0; i < 8; i++)
            pre[1 + i] = (uint8_t)(seq >> (56 - 8 * i));
        crypto_auth_hmacsha256_state h;
        crypto_auth_hmacsha256_init(&h, key1, CL_KEY_BYTES);
        crypto_auth_hmacsha256_update(&h, pre, sizeof pre);
        crypto_auth_hmacsha256_update(&h, f, CL_FRAME_HDR + n);
        crypto_auth_hmacsha256_final(&h, mac);
        assert_memory_equal(mac, f + CL_FRAME_HDR + n, CL_FRAME_MAC);
    }
    cl_buf_free(&b);
}

static void test_rekey_and_proofs(void **st)
{
    uint8_t sn[CL_NONCE_BYTES] = {1}, cn[CL_NONCE_BYTES] = {2}, p1[32], p2[32], p3[32];
    cl_auth_proof(key1, "colossus-client", sn, cn, p1);
    cl_auth_proof(key1, "colossus-client", sn, cn, p2);
    assert_true(cl_auth_equal(p1, p2, 32));
    cl_auth_proof(key2, "colossus-client", sn, cn, p3);
    assert_false(cl_auth_equal(p1, p3, 32));
    cl_auth_proof(key1, "colossus-server", sn, cn, p3);
    assert_false(cl_auth_equal(p1, p3, 32));
    cl_sess_t a, b;
    cl_sess_init(&a, key1, false);
    cl_sess_init(&b, key1, true);
    cl_sess_rekey(&a, key1, sn, cn);
    cl_sess_rekey(&b, key1, sn, cn);
    /* both ends derive the same session key, and it is not the long-term key: a frame of
     * a's passes b's check, and not that of a session still keyed with key1 */
    cl_sess_t old;
    cl_sess_init(&old, key1, true);
    Colossus__Msg m = COLOSSUS__MSG__INIT, *out = NULL;
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    cl_buf_t buf = {0};
    cl_error_t err;
    assert_int_equal(cl_frame_encode(&a, &m, &buf), 0);
    assert_int_equal(cl_frame_decode(&old, buf.p, buf.len, &out, &err), -1);
    assert_true(cl_frame_decode(&b, buf.p, buf.len, &out, &err) > 0);
    cl_msg_free(out);
    cl_buf_free(&buf);
}

static void test_key_file(void **st)
{
    char line[128], path[] = "/tmp/cl-test-key-XXXXXX";
    cl_error_t err;
    assert_int_equal(cl_key_generate(line, sizeof line), 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    uint8_t k[CL_KEY_BYTES];
    assert_int_equal(cl_key_load(path, k, &err), 0);
    FILE *f = fopen(path, "w");
    fputs("colossus-key-v1 abcd\n", f);
    fclose(f);
    assert_int_equal(cl_key_load(path, k, &err), -1);
    assert_non_null(strstr(err.msg, "not a colossus key file"));
    unlink(path);
    assert_int_equal(cl_key_load(path, k, &err), -1);
    assert_non_null(strstr(err.msg, "cannot read key file"));
}

static void test_addr(void **st)
{
    char host[64];
    cl_error_t err;
    int port;
    assert_int_equal(cl_addr_parse("127.0.0.1:7000", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7000);
    assert_int_equal(cl_addr_parse("[::1]:9", host, sizeof host, &port, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(cl_addr_parse("localhost", host, sizeof host, &port, &err), -1);
    assert_int_equal(cl_addr_parse("h:99999", host, sizeof host, &port, &err), -1);
    assert_int_equal(cl_addr_parse("h:12x", host, sizeof host, &port, &err), -1);
    assert_int_equal(cl_addr_parse(":12", host, sizeof host, &port, &err), -1);
}

int main(void)
{
    assert_int_equal(cl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tamper_and_wrong_key),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_body_with_valid_mac),
        cmocka_unit_test(test_mac_is_hmac_sha256),
        cmocka_unit_test(test_oversize_message_dropped_connection_goes_on),
        cmocka_unit_test(test_rekey_and_proofs),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
