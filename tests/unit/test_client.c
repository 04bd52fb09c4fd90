/* test_client.c - what the blocking client (proto/client.h) says about a failed step: where it
 * failed and whether a request was sent and not answered, over a socketpair whose other end
 * plays the controller frame by frame; the dial stages (no listener, no hello); and a hostile
 * controller on a real socket whose Hello is not signed by the identity the credential trusts
 * (an impostor's kx): the client sends nothing, so a JWT cannot be stolen. */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include "proto/client.h"

static const uint8_t key[CL_KEY_BYTES] = {4, 2};

/* A client already past its handshake (session key `key`), and the controller's end. */
typedef struct pair {
    cl_client_t *c;
    int srv;
    cl_sess_t ss;
} pair_t;

static void pair_open(pair_t *p)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    p->c = calloc(1, sizeof *p->c);
    p->c->fd = sv[0];
    p->c->authed = true;
    snprintf(p->c->addr, sizeof p->c->addr, "ctl:1");
    cl_sess_init(&p->c->sess, key, false);
    p->srv = sv[1];
    cl_sess_init(&p->ss, key, true);
}

static void pair_close(pair_t *p)
{
    cl_client_close(p->c);
    if (p->srv >= 0) close(p->srv);
}

/* The controller sends m. */
static void srv_send(pair_t *p, const Colossus__Msg *m)
{
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&p->ss, m, &b), 0);
    assert_int_equal(write(p->srv, b.p, b.len), (ssize_t)b.len);
    cl_buf_free(&b);
}

static void srv_response(pair_t *p, uint64_t req, bool more)
{
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = true;
    r.more = more;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = &r;
    srv_send(p, &m);
}

static void srv_refuse(pair_t *p, Colossus__Refused__Why why, const char *reason)
{
    Colossus__Refused r = COLOSSUS__REFUSED__INIT;
    r.why = why;
    r.reason = (char *)reason;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REFUSED;
    m.refused = &r;
    srv_send(p, &m);
}

static Colossus__Request jobs_req(void)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_JOBS_ALL;
    r.jobs_all = true;
    return r;
}

/* Sent, never answered: our timeout, outcome unknown. */
static void test_call_timeout(void **st)
{
    pair_t p;
    pair_open(&p);
    Colossus__Request r = jobs_req();
    cl_error_t err;
    assert_null(cl_client_call(p.c, &r, 50, &err));
    assert_int_equal(p.c->fail.stage, CL_CLIENT_LOST);
    assert_true(p.c->fail.timed_out);
    assert_true(p.c->fail.sent);
    assert_string_equal(err.msg, "the controller at ctl:1 did not answer within 0.05 s");
    assert_string_equal(cl_client_fail_known(&p.c->fail),
                        "the request was sent but not acknowledged: its outcome is unknown");
    pair_close(&p);
}

/* Sent, then the connection closed: outcome unknown; a close with nothing asked is not. */
static void test_call_closed(void **st)
{
    pair_t p;
    pair_open(&p);
    Colossus__Request r = jobs_req();
    cl_error_t err;
    shutdown(p.srv, SHUT_WR);
    assert_null(cl_client_call(p.c, &r, 1000, &err));
    assert_int_equal(p.c->fail.stage, CL_CLIENT_LOST);
    assert_false(p.c->fail.timed_out);
    assert_true(p.c->fail.sent);
    assert_string_equal(err.msg, "the connection to the controller at ctl:1 closed before it "
                                 "answered");
    pair_close(&p);

    /* a request answered in two parts is answered at the last one */
    pair_open(&p);
    r = jobs_req();
    Colossus__Msg out = COLOSSUS__MSG__INIT;
    out.body_case = COLOSSUS__MSG__BODY_REQUEST;
    out.request = &r;
    assert_int_equal(cl_client_send(p.c, &out, &err), 0);
    assert_int_equal(p.c->unanswered, 1);
    srv_response(&p, r.req, true);
    Colossus__Msg *m = NULL;
    assert_int_equal(cl_client_recv(p.c, &m, 1000, &err), 0);
    cl_msg_free(m);
    assert_int_equal(p.c->unanswered, 1);
    srv_response(&p, r.req, false);
    assert_int_equal(cl_client_recv(p.c, &m, 1000, &err), 0);
    cl_msg_free(m);
    assert_int_equal(p.c->unanswered, 0);
    shutdown(p.srv, SHUT_WR); /* a close would reset: the request is unread there */
    assert_int_equal(cl_client_recv(p.c, &m, 1000, &err), -1);
    assert_int_equal(p.c->fail.stage, CL_CLIENT_LOST);
    assert_false(p.c->fail.sent);
    assert_string_equal(err.msg, "the connection to the controller at ctl:1 closed");
    assert_string_equal(cl_client_fail_known(&p.c->fail), "");
    pair_close(&p);
}

/* A Refused is never a message: it ends the call with its reason. */
static void test_call_refused(void **st)
{
    pair_t p;
    pair_open(&p);
    Colossus__Request r = jobs_req();
    cl_error_t err;
    srv_refuse(&p, COLOSSUS__REFUSED__WHY__SHUTTING_DOWN, "stopping");
    assert_null(cl_client_call(p.c, &r, 1000, &err));
    assert_int_equal(p.c->fail.stage, CL_CLIENT_REFUSED);
    assert_int_equal(p.c->fail.why, COLOSSUS__REFUSED__WHY__SHUTTING_DOWN);
    assert_true(p.c->fail.sent);
    assert_string_equal(
        err.msg, "the controller at ctl:1 refused the connection: shutting down (stopping)");
    pair_close(&p);

    /* the write fails (the controller is gone), but its Refused is waiting: that is said */
    pair_open(&p);
    srv_refuse(&p, COLOSSUS__REFUSED__WHY__TIMEOUT, "");
    close(p.srv);
    p.srv = -1;
    r = jobs_req();
    assert_null(cl_client_call(p.c, &r, 1000, &err));
    assert_int_equal(p.c->fail.stage, CL_CLIENT_REFUSED);
    assert_false(p.c->fail.sent);
    assert_string_equal(err.msg, "the controller at ctl:1 refused the connection: timed out");
    pair_close(&p);
}

/* A request too large for a frame is not sent, and says the limit. */
static void test_send_too_large(void **st)
{
    pair_t p;
    pair_open(&p);
    size_t n = CL_FRAME_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = 0;
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    s.argv = &big;
    s.n_argv = 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;
    cl_error_t err;
    assert_null(cl_client_call(p.c, &r, 1000, &err));
    assert_int_equal(p.c->fail.stage, CL_CLIENT_SEND);
    assert_false(p.c->fail.sent);
    assert_int_equal(p.c->unanswered, 0);
    assert_non_null(strstr(err.msg, "over the frame limit of 4194304 bytes (4 MiB)"));
    assert_string_equal(cl_client_fail_known(&p.c->fail), "the request was not sent");
    free(big);
    pair_close(&p);
}

/* A port bound by us that does not listen, or listens and never says hello. */
static int local_port(int fd, bool listening)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (listening) assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    return ntohs(sa.sin_port);
}

static void test_dial_stages(void **st)
{
    char addr[64];
    cl_error_t err;
    cl_client_fail_t fail;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", local_port(fd, false));
    assert_null(cl_client_dial(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "t", 1000, &fail, &err));
    assert_int_equal(fail.stage, CL_CLIENT_CONNECT);
    assert_string_equal(cl_client_fail_known(&fail), "nothing was sent");
    assert_non_null(strstr(err.msg, "cannot connect to 127.0.0.1:"));
    close(fd);

    /* the kernel accepts, nobody says hello: the handshake times out */
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", local_port(fd, true));
    assert_null(cl_client_dial(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "t", 100, &fail, &err));
    assert_int_equal(fail.stage, CL_CLIENT_HANDSHAKE);
    assert_true(fail.timed_out);
    assert_false(fail.sent);
    assert_string_equal(cl_client_fail_known(&fail), "nothing was sent");
    char want[128];
    snprintf(want, sizeof want,
             "the controller at %s did not complete the handshake within 0.1 s", addr);
    assert_string_equal(err.msg, want);
    close(fd);

    assert_null(
        cl_client_dial("nocolon", key, COLOSSUS__ROLE__ROLE_CLIENT, "t", 100, &fail, &err));
    assert_int_equal(fail.stage, CL_CLIENT_CONNECT);
}

/* ---- a hostile controller: the Hello's kx not signed by the identity trusted ---- */

/* What the controller's end does: accept one connection, send hello, count what comes back. */
typedef struct hostile {
    int lfd;
    Colossus__Hello hello;
    size_t got; /* bytes the client sent */
} hostile_t;

static void *hostile_run(void *arg)
{
    hostile_t *h = arg;
    int fd = accept(h->lfd, NULL, NULL);
    assert_true(fd >= 0);
    cl_sess_t ss;
    cl_sess_init_handshake(&ss, true);
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HELLO;
    m.hello = &h->hello;
    cl_buf_t b = {0};
    assert_int_equal(cl_frame_encode(&ss, &m, &b), 0);
    assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
    cl_buf_free(&b);
    /* one read: the client's Auth (then closing makes it fail at once), or its close */
    char buf[8192];
    ssize_t r = read(fd, buf, sizeof buf);
    h->got = r > 0 ? (size_t)r : 0;
    close(fd);
    return NULL;
}

/* The keys of one Hello: the identity that signs, the kx it signs (sig over signed_kx; the
 * Hello may carry another kx, sent_kx). */
typedef struct hello_keys {
    uint8_t nonce[CL_NONCE_BYTES], sent_kx[CL_KX_BYTES], signed_kx[CL_KX_BYTES];
    uint8_t identity[32], sig[CL_SIG_BYTES];
} hello_keys_t;

/* Dial addr (lfd listening) with cred against a controller that sends hk's Hello (kx_sig
 * absent when sig is false): whether the dial succeeded, the bytes the client sent in *got. */
static bool dial_hostile(int lfd, const char *addr, const cl_cred_t *cred,
                         const hello_keys_t *hk, bool sig, size_t *got, cl_error_t *err)
{
    hostile_t h = {.lfd = lfd, .hello = COLOSSUS__HELLO__INIT};
    h.hello.proto_version = CL_PROTO_VERSION;
    h.hello.nonce = (ProtobufCBinaryData){CL_NONCE_BYTES, (uint8_t *)hk->nonce};
    h.hello.kx_pub = (ProtobufCBinaryData){CL_KX_BYTES, (uint8_t *)hk->sent_kx};
    h.hello.identity = (ProtobufCBinaryData){32, (uint8_t *)hk->identity};
    if (sig) h.hello.kx_sig = (ProtobufCBinaryData){CL_SIG_BYTES, (uint8_t *)hk->sig};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hostile_run, &h), 0);
    cl_client_fail_t fail;
    cl_client_t *c =
        cl_client_dial_cred(addr, cred, COLOSSUS__ROLE__ROLE_CLIENT, "t", 2000, &fail, err);
    if (!c) assert_int_equal(fail.stage, CL_CLIENT_HANDSHAKE);
    cl_client_close(c);
    pthread_join(t, NULL);
    *got = h.got;
    return c != NULL;
}

/* A Hello of identity id_sk's key, its kx signed by sign_sk (the same key, or an impostor's).
 */
static void hello_make(hello_keys_t *hk, const uint8_t id_pk[32], const uint8_t sign_sk[64])
{
    uint8_t kx_sk[CL_KX_BYTES], msg[32];
    randombytes_buf(hk->nonce, sizeof hk->nonce);
    crypto_kx_keypair(hk->signed_kx, kx_sk);
    memcpy(hk->sent_kx, hk->signed_kx, CL_KX_BYTES);
    memcpy(hk->identity, id_pk, 32);
    cl_hello_msg(hk->nonce, hk->signed_kx, msg);
    crypto_sign_detached(hk->sig, NULL, msg, sizeof msg, sign_sk);
}

static void test_hello_impostor(void **st)
{
    uint8_t id_pk[32], id_sk[64], ev_pk[32], ev_sk[64], kx_sk[CL_KX_BYTES];
    crypto_sign_keypair(id_pk, id_sk); /* the controller's identity, pinned */
    crypto_sign_keypair(ev_pk, ev_sk); /* the impostor's own */
    cl_cred_t jwt, tok;
    cl_error_t err;
    assert_int_equal(
        cl_cred_parse("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln", &jwt, &err), 0);
    memcpy(jwt.identity, id_pk, 32);
    uint8_t pk[32];
    cl_cred_new(&tok, CL_CRED_TOKEN, pk);
    snprintf(tok.id, sizeof tok.id, "tk-0123456789abcdef");
    memcpy(tok.identity, id_pk, 32);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", local_port(lfd, true));
    hello_keys_t hk;
    size_t got;

    /* the control: a Hello signed by the pinned identity gets the Auth (the sealed JWT) */
    hello_make(&hk, id_pk, id_sk);
    assert_false(dial_hostile(lfd, addr, &jwt, &hk, true, &got, &err));
    assert_true(got > 64);

    /* the impostor's kx, with the signature of the real controller's (replayed) */
    crypto_kx_keypair(hk.sent_kx, kx_sk);
    assert_false(dial_hostile(lfd, addr, &jwt, &hk, true, &got, &err));
    assert_int_equal(got, 0);
    char want[256];
    snprintf(want, sizeof want,
             "the controller at %s did not sign its key exchange with the identity key of "
             "this JWT (an impostor, or an older version)",
             addr);
    assert_string_equal(err.msg, want);
    /* the same for a token (whose signature would not replay either) */
    assert_false(dial_hostile(lfd, addr, &tok, &hk, true, &got, &err));
    assert_int_equal(got, 0);
    assert_non_null(strstr(err.msg, "with the identity key of this token tk-0123456789abcdef"));

    /* the real identity shown, the kx signed by another key; or not signed at all */
    hello_make(&hk, id_pk, ev_sk);
    assert_false(dial_hostile(lfd, addr, &jwt, &hk, true, &got, &err));
    assert_int_equal(got, 0);
    assert_string_equal(err.msg, want);
    hello_make(&hk, id_pk, id_sk);
    assert_false(dial_hostile(lfd, addr, &jwt, &hk, false, &got, &err));
    assert_int_equal(got, 0);
    assert_string_equal(err.msg, want);

    /* the impostor's own identity, rightly signed: not the pinned one */
    hello_make(&hk, ev_pk, ev_sk);
    assert_false(dial_hostile(lfd, addr, &jwt, &hk, true, &got, &err));
    assert_int_equal(got, 0);
    snprintf(want, sizeof want,
             "the controller at %s is not the one this JWT is pinned to (its identity key "
             "differs)",
             addr);
    assert_string_equal(err.msg, want);

    /* no pin: not even a connection */
    memset(jwt.identity, 0, 32);
    cl_client_fail_t fail;
    assert_null(
        cl_client_dial_cred(addr, &jwt, COLOSSUS__ROLE__ROLE_CLIENT, "t", 100, &fail, &err));
    assert_int_equal(fail.stage, CL_CLIENT_CONNECT);
    assert_false(fail.sent);
    assert_string_equal(err.msg, "a JWT is sent only to a controller whose identity is pinned "
                                 "(none given)");
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* nobody connected */
    close(lfd);
    cl_cred_clear(&jwt);
    cl_cred_clear(&tok);
}

/* A list of controllers (a leader and its standbys): its addresses, a bad one named, and the
 * dial that tries each in rounds until its wait is over, the failure being the last one's. */
static void test_addr_list(void **st)
{
    char a[64];
    cl_error_t err;
    assert_int_equal(cl_addr_list_count("h:1"), 1);
    assert_int_equal(cl_addr_list_count("h:1,g:2,k:3"), 3);
    assert_true(cl_addr_list_nth("h:1,g:2,k:3", 1, a, sizeof a));
    assert_string_equal(a, "g:2");
    assert_true(cl_addr_list_nth("h:1,g:2,k:3", 2, a, sizeof a));
    assert_string_equal(a, "k:3");
    assert_false(cl_addr_list_nth("h:1,g:2", 2, a, sizeof a));
    assert_false(cl_addr_list_nth("h:1,a-very-long-host-name:2", 1, a, 8));
    assert_int_equal(cl_addr_list_check("127.0.0.1:1,[::1]:2", &err), 0);
    assert_int_equal(cl_addr_list_check("127.0.0.1:1,nocolon", &err), -1);
    if (!strstr(err.msg, "'nocolon' in the list '127.0.0.1:1,nocolon': "))
        fail_msg("%s", err.msg);
    assert_int_equal(cl_addr_list_check("127.0.0.1:1,", &err), -1);
    char many[400] = "h:1";
    for (int i = 0; i < CL_ADDR_LIST_MAX; i++)
        strcat(many, ",h:1");
    assert_int_equal(cl_addr_list_check(many, &err), -1);
    assert_string_equal(err.msg, "17 controller addresses: at most 16");

    /* nobody listens at the first, nobody says hello at the second: rounds for 300 ms */
    int f1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int f2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d,127.0.0.1:%d", local_port(f1, false),
             local_port(f2, true));
    cl_cred_t cred;
    cl_cred_from_key(&cred, key);
    cl_client_fail_t fail;
    size_t next = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(cl_client_dial_list(list, &cred, COLOSSUS__ROLE__ROLE_CLIENT, "t", 50, 300,
                                    &next, &fail, &err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 150 && ms < 2000); /* more than one round, bounded */
    assert_int_equal(fail.stage, CL_CLIENT_HANDSHAKE);
    assert_int_equal(next, 0); /* none answered */
    close(f1);
    close(f2);
}

static void test_why_names(void **st)
{
    assert_string_equal(cl_refused_why_name(COLOSSUS__REFUSED__WHY__WRONG_KEY),
                        "wrong cluster key");
    assert_string_equal(cl_refused_why_name(COLOSSUS__REFUSED__WHY__OVERLOADED), "overloaded");
    assert_string_equal(cl_refused_why_name(COLOSSUS__REFUSED__WHY__OTHER), "no reason given");
    assert_string_equal(cl_refused_why_name((Colossus__Refused__Why)77), "no reason given");
}

static int setup(void **st)
{
    return cl_crypto_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_timeout),   cmocka_unit_test(test_call_closed),
        cmocka_unit_test(test_call_refused),   cmocka_unit_test(test_send_too_large),
        cmocka_unit_test(test_dial_stages),    cmocka_unit_test(test_why_names),
        cmocka_unit_test(test_hello_impostor), cmocka_unit_test(test_addr_list),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
