/* client.c - blocking authenticated connection (see client.h). */
#include "proto/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/util.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cl_tcp_connect(const char *addr, int timeout_ms, cl_error_t *err)
{
    char host[256], port[16];
    int p;
    if (cl_addr_parse(addr, host, sizeof host, &p, err) < 0) return -1;
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        cl_err(err, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&pfd, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errno = soerr ? soerr : ETIMEDOUT;
        }
        cl_err(err, "cannot connect to %s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

const char *cl_refused_why_name(Colossus__Refused__Why why)
{
    switch (why) {
    case COLOSSUS__REFUSED__WHY__WRONG_KEY:
        return "wrong cluster key";
    case COLOSSUS__REFUSED__WHY__OVERLOADED:
        return "overloaded";
    case COLOSSUS__REFUSED__WHY__TIMEOUT:
        return "timed out";
    case COLOSSUS__REFUSED__WHY__BAD_INPUT:
        return "bad input";
    case COLOSSUS__REFUSED__WHY__SHUTTING_DOWN:
        return "shutting down";
    case COLOSSUS__REFUSED__WHY__BAD_CREDENTIAL:
        return "credential refused";
    case COLOSSUS__REFUSED__WHY__RECONNECTING:
        return "reconnecting upstream";
    default:
        return "no reason given";
    }
}

const char *cl_client_fail_known(const cl_client_fail_t *f)
{
    if (f->sent) return "the request was sent but not acknowledged: its outcome is unknown";
    switch (f->stage) {
    case CL_CLIENT_CONNECT:
    case CL_CLIENT_HANDSHAKE:
    case CL_CLIENT_REFUSED:
        return "nothing was sent";
    case CL_CLIENT_SEND:
        return "the request was not sent";
    default:
        return "";
    }
}

/* Record a failure at stage: before the handshake ends it is the handshake's (nothing of a
 * request has left), after it a request not yet answered makes the outcome unknown. */
static void failed_at(cl_client_t *c, cl_client_stage_t stage, bool timed_out)
{
    if (!c->authed && stage != CL_CLIENT_REFUSED) stage = CL_CLIENT_HANDSHAKE;
    c->fail =
        (cl_client_fail_t){.stage = stage,
                           .sent = c->authed && c->unanswered > 0 && stage != CL_CLIENT_SEND,
                           .timed_out = timed_out};
}

static void refused(cl_client_t *c, const Colossus__Refused *r, cl_error_t *err)
{
    failed_at(c, CL_CLIENT_REFUSED, false);
    c->fail.why = r->why;
    cl_err(err, "the controller at %s refused the connection: %s%s%.160s%s", c->addr,
           cl_refused_why_name(r->why), r->reason[0] ? " (" : "", r->reason,
           r->reason[0] ? ")" : "");
}

/* After a failed write: a Refused the controller sent before closing may be waiting. */
static void refusal_waiting(cl_client_t *c, cl_error_t *err)
{
    cl_client_fail_t keep = c->fail;
    Colossus__Msg *m = NULL;
    cl_error_t e;
    if (cl_client_recv(c, &m, 0, &e) < 0 && c->fail.stage == CL_CLIENT_REFUSED) {
        *err = e;
        return;
    }
    cl_msg_free(m); /* anything else: the write's failure is what counts */
    c->fail = keep;
}

int cl_client_send(cl_client_t *c, const Colossus__Msg *m, cl_error_t *err)
{
    cl_buf_t b = {0};
    if (cl_frame_encode(&c->sess, m, &b) < 0) {
        size_t n = colossus__msg__get_packed_size(m);
        if (n > CL_FRAME_MAX)
            cl_err(err, "the message is %zu bytes, over the frame limit of %u bytes (4 MiB)", n,
                   CL_FRAME_MAX);
        else
            cl_err(err, "cannot encode a message: %s", strerror(errno));
        failed_at(c, CL_CLIENT_SEND, false);
        return -1;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = send(c->fd, b.p + off, b.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cl_err(err, "cannot send to the controller at %s: %s", c->addr, strerror(errno));
            cl_buf_free(&b);
            failed_at(c, CL_CLIENT_SEND, false);
            refusal_waiting(c, err);
            return -1;
        }
        off += (size_t)w;
    }
    cl_buf_free(&b);
    if (m->body_case == COLOSSUS__MSG__BODY_REQUEST) c->unanswered++;
    return 0;
}

/* The sentence for a connection that ended (r == 0: closed; else errno) or timed out. */
static void lost(cl_client_t *c, ssize_t r, bool timed_out, int timeout_ms, cl_error_t *err)
{
    const char *why = r < 0 ? strerror(errno) : "";
    const char *before = c->unanswered ? " before it answered" : "";
    failed_at(c, CL_CLIENT_LOST, timed_out);
    if (!c->authed && timed_out)
        cl_err(err, "the controller at %s did not complete the handshake within %g s", c->addr,
               timeout_ms / 1000.0);
    else if (!c->authed && r == 0)
        cl_err(err,
               "the controller at %s closed the connection during the handshake (overloaded, "
               "shutting down, or not a colossus controller?)",
               c->addr);
    else if (!c->authed)
        cl_err(err, "the connection to %s broke during the handshake: %s", c->addr, why);
    else if (timed_out)
        cl_err(err, "the controller at %s did not answer within %g s", c->addr,
               timeout_ms / 1000.0);
    else if (r == 0)
        cl_err(err, "the connection to the controller at %s closed%s", c->addr, before);
    else
        cl_err(err, "the connection to the controller at %s broke%s: %s", c->addr, before, why);
}

/* A decoded message: a Refused ends the connection; a Response's last part answers. */
static int received(cl_client_t *c, Colossus__Msg *m, Colossus__Msg **out, cl_error_t *err)
{
    if (m->body_case == COLOSSUS__MSG__BODY_REFUSED) {
        refused(c, m->refused, err);
        cl_msg_free(m);
        return -1;
    }
    if (m->body_case == COLOSSUS__MSG__BODY_RESPONSE && c->unanswered &&
        (!m->response->more || !m->response->ok))
        c->unanswered--;
    *out = m;
    return 0;
}

int cl_client_recv(cl_client_t *c, Colossus__Msg **m, int timeout_ms, cl_error_t *err)
{
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    *m = NULL;
    for (;;) {
        if (c->in.len > c->in_off) {
            Colossus__Msg *got = NULL;
            cl_error_t e;
            ssize_t used =
                cl_frame_decode(&c->sess, c->in.p + c->in_off, c->in.len - c->in_off, &got, &e);
            if (used < 0) {
                failed_at(c, CL_CLIENT_LOST, false);
                cl_err(err, "bad frame from %s: %s", c->addr, e.msg);
                return -1;
            }
            if (used > 0) {
                c->in_off += (size_t)used;
                if (c->in_off == c->in.len) c->in_off = c->in.len = 0;
                return received(c, got, m, err);
            }
        }
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) {
            lost(c, -1, false, timeout_ms, err);
            return -1;
        }
        if (pr == 0) {
            if (deadline >= 0 && now_ms() >= deadline) {
                lost(c, 0, true, timeout_ms, err);
                return -1;
            }
            continue;
        }
        if (c->in_off) { /* keep only a frame's start, for the rest of it */
            cl_buf_consume(&c->in, c->in_off);
            c->in_off = 0;
        }
        if (cl_buf_reserve(&c->in, 65536) < 0) cl_oom(65536, __FILE__, __LINE__);
        ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            lost(c, r, false, timeout_ms, err);
            return -1;
        }
        c->in.len += (size_t)r;
    }
}

/* The first frame: Hello, with its nonce (and, from a controller of this version, its
 * ephemeral X25519 key and identity). NULL with err and c->fail. */
static Colossus__Msg *recv_hello(cl_client_t *c, int timeout_ms, cl_error_t *err)
{
    Colossus__Msg *m = NULL;
    if (cl_client_recv(c, &m, timeout_ms, err) < 0) return NULL;
    if (m->body_case != COLOSSUS__MSG__BODY_HELLO || m->hello->nonce.len != CL_NONCE_BYTES) {
        cl_err(err, "the handshake with %s failed: its first message was not a hello", c->addr);
        cl_msg_free(m);
        failed_at(c, CL_CLIENT_HANDSHAKE, false);
        return NULL;
    }
    return m;
}

/* Send auth (its role, nonce and peer filled in here) and receive the answer into *m. 0, or
 * -1 with err and c->fail. */
static int send_auth(cl_client_t *c, Colossus__Auth *auth, Colossus__Role role,
                     uint8_t cn[CL_NONCE_BYTES], const char *peer, int timeout_ms,
                     Colossus__Msg **m, cl_error_t *err)
{
    auth->role = role;
    auth->nonce.data = cn;
    auth->nonce.len = CL_NONCE_BYTES;
    auth->peer = (char *)(peer ? peer : "");
    Colossus__Msg out = COLOSSUS__MSG__INIT;
    out.body_case = COLOSSUS__MSG__BODY_AUTH;
    out.auth = auth;
    if (cl_client_send(c, &out, err) < 0) return -1;
    return cl_client_recv(c, m, timeout_ms, err);
}

/* The answer m (freed here) ends the handshake: once the controller proved itself, who it
 * says we are is kept and the session key takes over. 0, or -1 with "the controller did not
 * prove <what>" and c->fail. */
static int handshake_end(cl_client_t *c, Colossus__Msg *m, bool proven,
                         const uint8_t key[CL_KEY_BYTES], const uint8_t sn[CL_NONCE_BYTES],
                         const uint8_t cn[CL_NONCE_BYTES], const char *what, cl_error_t *err)
{
    if (proven) {
        snprintf(c->user, sizeof c->user, "%s", m->auth_ok->user);
        snprintf(c->role, sizeof c->role, "%s", m->auth_ok->role);
    }
    cl_msg_free(m);
    if (!proven) {
        cl_err(err, "the controller at %s did not prove %s", c->addr, what);
        failed_at(c, CL_CLIENT_HANDSHAKE, false);
        return -1;
    }
    cl_sess_rekey(&c->sess, key, sn, cn);
    c->authed = true;
    return 0;
}

/* The cluster key: both sides prove it (frame.h). 0, or -1 with err and c->fail. */
static int handshake_key(cl_client_t *c, const uint8_t key[CL_KEY_BYTES], Colossus__Role role,
                         const char *peer, int timeout_ms, cl_error_t *err)
{
    Colossus__Msg *m = recv_hello(c, timeout_ms, err);
    if (!m) return -1;
    uint8_t sn[CL_NONCE_BYTES], cn[CL_NONCE_BYTES], proof[32];
    memcpy(sn, m->hello->nonce.data, CL_NONCE_BYTES);
    cl_msg_free(m);
    m = NULL;
    randombytes_buf(cn, sizeof cn);
    cl_auth_proof(key, "colossus-client", sn, cn, proof);
    Colossus__Auth auth = COLOSSUS__AUTH__INIT;
    auth.proof.data = proof;
    auth.proof.len = sizeof proof;
    if (send_auth(c, &auth, role, cn, peer, timeout_ms, &m, err) < 0) return -1;
    cl_auth_proof(key, "colossus-server", sn, cn, proof);
    bool proven = m->body_case == COLOSSUS__MSG__BODY_AUTH_OK && m->auth_ok->proof.len == 32 &&
                  cl_auth_equal(m->auth_ok->proof.data, proof, 32);
    return handshake_end(c, m, proven, key, sn, cn,
                         "the cluster key (a controller of another cluster?)", err);
}

/* What a credential handshake keeps between its two halves. */
typedef struct kx_state {
    uint8_t sn[CL_NONCE_BYTES], cn[CL_NONCE_BYTES];
    uint8_t skx[CL_KX_BYTES], pk[CL_KX_BYTES], sk[CL_KX_BYTES];
    uint8_t identity[32];
    uint8_t session[CL_KEY_BYTES];
    uint8_t transcript[32];
} kx_state_t;

static int handshake_fail(cl_client_t *c, kx_state_t *k, int rc)
{
    sodium_memzero(k, sizeof *k);
    if (rc < 0 && c->fail.stage == CL_CLIENT_OK) failed_at(c, CL_CLIENT_HANDSHAKE, false);
    return rc;
}

/* Seal a JWT under the session key: nonce | secretbox. */
static void seal_jwt(const kx_state_t *k, const char *jwt, uint8_t **out, size_t *n)
{
    size_t len = strlen(jwt);
    *n = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
    *out = cl_xmalloc(*n);
    randombytes_buf(*out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(*out + crypto_secretbox_NONCEBYTES, (const uint8_t *)jwt, len, *out,
                          k->session);
}

/* Hello of a credential handshake: its kx and identity into k, once its identity is the one
 * the credential trusts (a token's, or a JWT's pin) and that identity signed its kx
 * (cl_hello_msg): nothing secret may leave before this. 0, or -1 with err. */
static int check_hello(cl_client_t *c, const cl_cred_t *cred, kx_state_t *k, int timeout_ms,
                       cl_error_t *err)
{
    char what[64];
    cl_cred_describe(cred, what, sizeof what);
    Colossus__Msg *m = recv_hello(c, timeout_ms, err);
    if (!m) return -1;
    const Colossus__Hello *h = m->hello;
    int rc = -1;
    bool sized = h->kx_pub.len == CL_KX_BYTES && h->identity.len == 32;
    uint8_t hm[32];
    if (sized) cl_hello_msg(h->nonce.data, h->kx_pub.data, hm);
    if (!sized) {
        cl_err(err, "the controller at %s takes only the cluster key (an older version?)",
               c->addr);
    } else if (!cl_auth_equal(h->identity.data, cred->identity, 32)) {
        cl_err(err, "the controller at %s is not the one this %s %s (its identity key differs)",
               c->addr, what, cred->kind == CL_CRED_JWT ? "is pinned to" : "was made by");
    } else if (h->kx_sig.len != CL_SIG_BYTES ||
               crypto_sign_verify_detached(h->kx_sig.data, hm, sizeof hm, cred->identity)) {
        cl_err(err,
               "the controller at %s did not sign its key exchange with the identity key of "
               "this %s (an impostor, or an older version)",
               c->addr, what);
    } else {
        memcpy(k->sn, h->nonce.data, CL_NONCE_BYTES);
        memcpy(k->skx, h->kx_pub.data, CL_KX_BYTES);
        memcpy(k->identity, h->identity.data, 32);
        rc = 0;
    }
    cl_msg_free(m);
    return rc;
}

/* A token, node credential or JWT: X25519 for the session key, the credential's signature
 * of the transcript, the controller's identity signature back (frame.h). */
static int handshake_cred(cl_client_t *c, const cl_cred_t *cred, Colossus__Role role,
                          const char *peer, int timeout_ms, cl_error_t *err)
{
    kx_state_t k;
    if (check_hello(c, cred, &k, timeout_ms, err) < 0) return handshake_fail(c, &k, -1);
    randombytes_buf(k.cn, sizeof k.cn);
    crypto_kx_keypair(k.pk, k.sk);
    if (cl_kx_session_key(false, k.pk, k.sk, k.skx, k.session) < 0) {
        cl_err(err, "the controller at %s sent a bad key exchange", c->addr);
        return handshake_fail(c, &k, -1);
    }
    Colossus__Credential__Kind kind =
        cred->kind == CL_CRED_TOKEN  ? COLOSSUS__CREDENTIAL__KIND__TOKEN
        : cred->kind == CL_CRED_NODE ? COLOSSUS__CREDENTIAL__KIND__NODE
                                     : COLOSSUS__CREDENTIAL__KIND__JWT;
    const char *id = cred->kind == CL_CRED_JWT ? "" : cred->id;
    cl_auth_transcript(k.sn, k.cn, k.skx, k.pk, k.identity, role, kind, id, k.transcript);
    uint8_t sig[CL_SIG_BYTES], sk[crypto_sign_SECRETKEYBYTES], spk[crypto_sign_PUBLICKEYBYTES];
    Colossus__Credential cr = COLOSSUS__CREDENTIAL__INIT;
    cr.kind = kind;
    cr.id = (char *)id;
    uint8_t *sealed = NULL;
    if (cred->kind == CL_CRED_JWT) {
        seal_jwt(&k, cred->jwt, &sealed, &cr.sealed_jwt.len);
        cr.sealed_jwt.data = sealed;
    } else {
        crypto_sign_seed_keypair(spk, sk, cred->seed);
        crypto_sign_detached(sig, NULL, k.transcript, sizeof k.transcript, sk);
        sodium_memzero(sk, sizeof sk);
        cr.signature.data = sig;
        cr.signature.len = sizeof sig;
    }
    Colossus__Auth auth = COLOSSUS__AUTH__INIT;
    auth.cred = &cr;
    auth.kx_pub.data = k.pk;
    auth.kx_pub.len = sizeof k.pk;
    Colossus__Msg *m = NULL;
    int rc = send_auth(c, &auth, role, k.cn, peer, timeout_ms, &m, err);
    free(sealed);
    if (rc < 0) return handshake_fail(c, &k, -1);
    uint8_t msg[32];
    cl_auth_server_msg(k.transcript, msg);
    bool proven = m->body_case == COLOSSUS__MSG__BODY_AUTH_OK &&
                  m->auth_ok->signature.len == CL_SIG_BYTES &&
                  crypto_sign_verify_detached(m->auth_ok->signature.data, msg, sizeof msg,
                                              k.identity) == 0;
    rc = handshake_end(c, m, proven, k.session, k.sn, k.cn, "its identity", err);
    return handshake_fail(c, &k, rc);
}

cl_client_t *cl_client_dial_cred(const char *addr, const cl_cred_t *cred, Colossus__Role role,
                                 const char *peer, int timeout_ms, cl_client_fail_t *fail,
                                 cl_error_t *err)
{
    cl_client_fail_t none;
    if (!fail) fail = &none;
    *fail = (cl_client_fail_t){.stage = CL_CLIENT_CONNECT};
    if (cred->kind == CL_CRED_JWT && sodium_is_zero(cred->identity, CL_SIGN_PK_BYTES)) {
        /* a bearer credential: whoever answers at addr could replay it */
        cl_err(err, "a JWT is sent only to a controller whose identity is pinned (none given)");
        return NULL;
    }
    int fd = cl_tcp_connect(addr, timeout_ms, err);
    if (fd < 0) return NULL;
    cl_client_t *c = cl_xcalloc(1, sizeof *c);
    c->fd = fd;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    cl_sess_init_handshake(&c->sess, false);
    int rc = cred->kind == CL_CRED_KEY
                 ? handshake_key(c, cred->key, role, peer, timeout_ms, err)
                 : handshake_cred(c, cred, role, peer, timeout_ms, err);
    if (rc < 0) {
        *fail = c->fail;
        cl_client_close(c);
        return NULL;
    }
    *fail = (cl_client_fail_t){0};
    return c;
}

cl_client_t *cl_client_dial(const char *addr, const uint8_t key[CL_KEY_BYTES],
                            Colossus__Role role, const char *peer, int timeout_ms,
                            cl_client_fail_t *fail, cl_error_t *err)
{
    cl_cred_t cred;
    cl_cred_from_key(&cred, key);
    cl_client_t *c = cl_client_dial_cred(addr, &cred, role, peer, timeout_ms, fail, err);
    cl_cred_clear(&cred);
    return c;
}

cl_client_t *cl_client_connect(const char *addr, const uint8_t key[CL_KEY_BYTES],
                               Colossus__Role role, const char *peer, int timeout_ms,
                               cl_error_t *err)
{
    return cl_client_dial(addr, key, role, peer, timeout_ms, NULL, err);
}

size_t cl_addr_list_count(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

bool cl_addr_list_nth(const char *list, size_t i, char *out, size_t len)
{
    const char *p = list;
    for (; i && p; i--)
        if ((p = strchr(p, ','))) p++;
    if (!p) return false;
    size_t n = strcspn(p, ",");
    if (n >= len) return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

int cl_addr_list_check(const char *list, cl_error_t *err)
{
    size_t n = cl_addr_list_count(list);
    if (n > CL_ADDR_LIST_MAX)
        return cl_err(err, "%zu controller addresses: at most %d", n, CL_ADDR_LIST_MAX);
    for (size_t i = 0; i < n; i++) {
        char a[256], host[256];
        int port;
        cl_error_t e;
        if (!cl_addr_list_nth(list, i, a, sizeof a))
            return cl_err(err, "controller address %zu of '%.200s' is too long", i + 1, list);
        if (cl_addr_parse(a, host, sizeof host, &port, &e) < 0)
            return cl_err(err, n > 1 ? "'%s' in the list '%.200s': %s" : "%.0s%s%s", a,
                          n > 1 ? list : "", e.msg);
    }
    return 0;
}

cl_client_t *cl_client_dial_list(const char *list, const cl_cred_t *cred, Colossus__Role role,
                                 const char *peer, int timeout_ms, int wait_ms, size_t *next,
                                 cl_client_fail_t *fail, cl_error_t *err)
{
    size_t n = cl_addr_list_count(list), i = next && *next < n ? *next : 0;
    long long until = now_ms() + wait_ms, pause = 100;
    cl_client_fail_t none;
    if (!fail) fail = &none;
    for (;;) {
        for (size_t k = 0; k < n; k++, i = (i + 1) % n) {
            char a[256];
            if (!cl_addr_list_nth(list, i, a, sizeof a)) {
                *fail = (cl_client_fail_t){.stage = CL_CLIENT_CONNECT};
                cl_err(err, "controller address %zu of the list is too long", i + 1);
                continue;
            }
            cl_client_t *c = cl_client_dial_cred(a, cred, role, peer, timeout_ms, fail, err);
            if (c) {
                if (next) *next = i;
                return c;
            }
            if (fail->stage == CL_CLIENT_REFUSED &&
                fail->why != COLOSSUS__REFUSED__WHY__SHUTTING_DOWN)
                return NULL;
        }
        if (now_ms() + pause > until) {
            if (n > 1) { /* say it of the list, the last address's reason after */
                cl_error_t last = *err;
                char in[32] = "";
                if (wait_ms) snprintf(in, sizeof in, " in %.1f s", wait_ms / 1000.0);
                cl_err(err, "no controller of %.200s answered%s (the last: %s)", list, in,
                       last.msg);
            }
            return NULL;
        }
        struct timespec ts = {(time_t)(pause / 1000), (long)(pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
}

/* Move the jobs, nodes, tenants, history, audit records, users and tokens of a following part
 * (Response.more) to the end of the first's, and a big job's further node names
 * (Response.job_nodes) to the end of its list. */
static void grow(void ***v, size_t n, size_t add)
{
    if (add) *v = cl_xrealloc(*v, (n + add) * sizeof **v);
}

static void join_parts(Colossus__Response *to, Colossus__Response *from)
{
    grow((void ***)&to->jobs, to->n_jobs, from->n_jobs);
    grow((void ***)&to->nodes, to->n_nodes, from->n_nodes);
    grow((void ***)&to->tenants, to->n_tenants, from->n_tenants);
    grow((void ***)&to->history, to->n_history, from->n_history);
    grow((void ***)&to->audit, to->n_audit, from->n_audit);
    grow((void ***)&to->users, to->n_users, from->n_users);
    grow((void ***)&to->tokens, to->n_tokens, from->n_tokens);
    for (size_t i = 0; i < from->n_jobs; i++)
        to->jobs[to->n_jobs++] = from->jobs[i];
    if (from->n_job_nodes && to->n_jobs) { /* the last job's node list, continued */
        Colossus__JobInfo *j = to->jobs[to->n_jobs - 1];
        grow((void ***)&j->nodes, j->n_nodes, from->n_job_nodes);
        for (size_t i = 0; i < from->n_job_nodes; i++)
            j->nodes[j->n_nodes++] = from->job_nodes[i];
        from->n_job_nodes = 0;
    }
    for (size_t i = 0; i < from->n_nodes; i++)
        to->nodes[to->n_nodes++] = from->nodes[i];
    for (size_t i = 0; i < from->n_tenants; i++)
        to->tenants[to->n_tenants++] = from->tenants[i];
    for (size_t i = 0; i < from->n_history; i++)
        to->history[to->n_history++] = from->history[i];
    for (size_t i = 0; i < from->n_audit; i++)
        to->audit[to->n_audit++] = from->audit[i];
    for (size_t i = 0; i < from->n_users; i++)
        to->users[to->n_users++] = from->users[i];
    for (size_t i = 0; i < from->n_tokens; i++)
        to->tokens[to->n_tokens++] = from->tokens[i];
    /* now owned by `to` */
    from->n_jobs = from->n_nodes = from->n_tenants = from->n_history = from->n_audit = 0;
    from->n_users = from->n_tokens = 0;
}

Colossus__Msg *cl_client_call(cl_client_t *c, Colossus__Request *req, int timeout_ms,
                              cl_error_t *err)
{
    static uint64_t next_req = 1;
    req->req = next_req++;
    Colossus__Msg out = COLOSSUS__MSG__INIT;
    out.body_case = COLOSSUS__MSG__BODY_REQUEST;
    out.request = req;
    if (cl_client_send(c, &out, err) < 0) return NULL;
    Colossus__Msg *first = NULL;
    for (;;) {
        Colossus__Msg *m = NULL;
        if (cl_client_recv(c, &m, timeout_ms, err) < 0) {
            cl_msg_free(first);
            return NULL;
        }
        if (m->body_case != COLOSSUS__MSG__BODY_RESPONSE || m->response->req != req->req) {
            cl_msg_free(m);
            continue;
        }
        if (!first) {
            first = m;
        } else {
            join_parts(first->response, m->response);
            first->response->more = m->response->more;
            cl_msg_free(m);
        }
        if (!first->response->more || !first->response->ok) return first;
    }
}

size_t cl_client_unread(const cl_client_t *c, const uint8_t **p)
{
    *p = c->in.p + c->in_off;
    return c->in.len - c->in_off;
}

void cl_client_close(cl_client_t *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    cl_buf_free(&c->in);
    sodium_memzero(&c->sess, sizeof c->sess);
    free(c);
}
