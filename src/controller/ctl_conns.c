/* ctl_conns.c - the controller's framed connections: accept, the handshake (the cluster key, or
 * a token, node credential or JWT over an X25519 exchange, answered with the controller's
 * identity signature),
 * agent and client traffic into the controller object, held messages out once durable, and
 * the edges an attacker pushes on: bounded unauthenticated connections (in all and per
 * address; the oldest is shed first, so that real clients keep getting in), descriptors
 * (the limit raised, running out logged once per burst), slow and idle peers, and a Refused
 * frame that says why a connection is closed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "controller/ctl_srv.h"
#include "proto/cred.h"

typedef enum { CONN_HANDSHAKE, CONN_AGENT, CONN_CLIENT } conn_kind_t;

struct srv_conn {
    ctl_sink_t sink; /* its references keep this alive; the last one frees it */
    cl_uconn_t u;
    struct ctl_server *srv;
    conn_kind_t kind;
    ctl_principal_t who;
    uint8_t nonce[CL_NONCE_BYTES];
    uint8_t kx_pk[CL_KX_BYTES], kx_sk[CL_KX_BYTES]; /* this connection's ephemeral X25519 */
    char addr[64];                                  /* the peer's address without its port */
    uint64_t accepted_ms;
    srv_conn_t *next, *prev;   /* all connections */
    srv_conn_t *unext, *uprev; /* unauthenticated ones, oldest first */
    bool listed_unauth;
    uv_timer_t auth_timer;
};

static srv_conn_t *of_sink(ctl_sink_t *s)
{
    return (srv_conn_t *)s; /* sink is the first member */
}

static void framed_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len)
{
    cl_uconn_send_packed(&of_sink(s)->u, msg, len);
}

static void framed_flush(ctl_sink_t *s)
{
    cl_uconn_flush(&of_sink(s)->u);
}

static void framed_release(ctl_sink_t *s)
{
    free(of_sink(s));
}

static const ctl_sink_ops_t framed_ops = {"colossus",     framed_deliver, framed_flush,
                                          framed_release, NULL,           true};

#define UNAUTH_LOG_LINES 10 /* lines per 10 s about unauthenticated peers; then a count */

/* Why k is closed, in the log: one line for an authenticated peer; for an unauthenticated
 * one, a line for the first few of each 10 s and then a count in the sweep's line (a flood of
 * hostile sockets must not become a flood of log lines). */
static void note_close(srv_conn_t *k, const char *reason)
{
    struct ctl_server *srv = k->srv;
    if (k->kind != CONN_HANDSHAKE) {
        cl_daemon_log("controller", "closing connection %s (%s): %s", k->u.peer, k->who.name,
                      reason);
        return;
    }
    uint64_t now = uv_now(&srv->loop);
    if (!srv->unauth_window_ms || now - srv->unauth_window_ms >= 10000) {
        srv->unauth_window_ms = now;
        srv->unauth_logged = 0;
    }
    if (srv->unauth_logged++ < UNAUTH_LOG_LINES)
        cl_daemon_log("conn", "closing connection %s: %s", k->u.peer, reason);
    else
        srv->unauth_closed++;
}

static void refuse(srv_conn_t *k, Colossus__Refused__Why why, const char *reason)
{
    if (k->u.closing || k->u.refusing) return;
    note_close(k, reason);
    cl_uconn_refuse(&k->u, why, reason);
}

static void on_bad_frame(cl_uconn_t *u, const char *why)
{
    note_close(u->data, why);
}

/* ---- the unauthenticated list ---- */

static void unauth_add(struct ctl_server *srv, srv_conn_t *k)
{
    k->uprev = srv->unauth_tail;
    k->unext = NULL;
    if (srv->unauth_tail)
        srv->unauth_tail->unext = k;
    else
        srv->unauth = k;
    srv->unauth_tail = k;
    k->listed_unauth = true;
    srv->nunauth++;
}

static void unauth_del(struct ctl_server *srv, srv_conn_t *k)
{
    if (!k->listed_unauth) return;
    if (k->uprev)
        k->uprev->unext = k->unext;
    else
        srv->unauth = k->unext;
    if (k->unext)
        k->unext->uprev = k->uprev;
    else
        srv->unauth_tail = k->uprev;
    k->listed_unauth = false;
    srv->nunauth--;
}

/* A handshake takes a client a millisecond or so; a connection unauthenticated for longer
 * than this is a slow client or an attacker's, and may be shed to make room. */
#define SHED_AGE_MS 250

/* Close the oldest unauthenticated connection (from addr, or any when NULL), if it is at
 * least min_age_ms old. */
static bool shed_oldest(struct ctl_server *srv, const char *addr, uint64_t min_age_ms)
{
    uint64_t now = uv_now(&srv->loop);
    for (srv_conn_t *k = srv->unauth; k; k = k->unext) {
        if (addr && strcmp(k->addr, addr)) continue;
        if (now - k->accepted_ms < min_age_ms) return false; /* the rest are younger */
        unauth_del(srv, k);
        srv->shed++;
        /* at once: its descriptor may be what the next accept needs */
        cl_uconn_refuse_now(&k->u, COLOSSUS__REFUSED__WHY__OVERLOADED,
                            "too many unauthenticated connections: the oldest is closed");
        return true;
    }
    return false;
}

/* Room for one more unauthenticated connection from addr; false when the newcomer must go
 * instead. The oldest goes first, and only once it is older than a handshake takes: shedding
 * the oldest by count alone closed real clients in mid-handshake whenever a burst of new
 * sockets arrived at once. Young ones may exceed the limits for the length of a burst, up to
 * twice the total; past that the newcomer is refused (descriptors are the hard limit, and a
 * client in mid-handshake is closer to done than one that just came). */
static bool make_room(struct ctl_server *srv, const char *addr)
{
    uint32_t from = 0;
    for (srv_conn_t *k = srv->unauth; k && from < SRV_MAX_UNAUTH_PER_ADDR; k = k->unext)
        from += !strcmp(k->addr, addr);
    if (from >= SRV_MAX_UNAUTH_PER_ADDR) shed_oldest(srv, addr, SHED_AGE_MS);
    if (srv->nunauth >= srv->max_unauth) shed_oldest(srv, NULL, SHED_AGE_MS);
    return srv->nunauth < 2 * srv->max_unauth;
}

/* ---- life of a connection ---- */

static void auth_timer_closed(uv_handle_t *h)
{
    srv_conn_t *k = h->data;
    ctl_sink_unref(&k->sink); /* the transport's reference */
}

static void on_conn_closed(cl_uconn_t *u)
{
    srv_conn_t *k = u->data;
    struct ctl_server *srv = k->srv;
    if (srv->ctl) ctl_sink_closed(srv->ctl, &k->sink);
    k->sink.closed = true;
    srv->nconns--;
    unauth_del(srv, k);
    if (k->prev)
        k->prev->next = k->next;
    else
        srv->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    uv_timer_stop(&k->auth_timer);
    uv_close((uv_handle_t *)&k->auth_timer, auth_timer_closed);
}

static void on_auth_timeout(uv_timer_t *t)
{
    srv_conn_t *k = t->data;
    refuse(k, COLOSSUS__REFUSED__WHY__TIMEOUT, "no authentication within 10 s");
}

/* The handshake is done: AuthOk (already filled with its proof or signature) goes out, the
 * session key takes over, and who the peer is is set. */
static void authenticated(srv_conn_t *k, const Colossus__Auth *a, Colossus__AuthOk *ok,
                          const uint8_t session[CL_KEY_BYTES], const ctl_principal_t *who)
{
    ok->user = (char *)(who->kind == CTL_PRINCIPAL_USER   ? who->user
                        : who->kind == CTL_PRINCIPAL_NODE ? who->cred
                                                          : "cluster key");
    ok->role = (char *)ctl_principal_role(k->srv->ctl, who);
    cl_uconn_auth_ok(&k->u, ok, session, k->nonce, a->nonce.data);
    sodium_memzero(k->kx_sk, sizeof k->kx_sk);
    k->kind = a->role == COLOSSUS__ROLE__ROLE_AGENT ? CONN_AGENT : CONN_CLIENT;
    k->who = *who;
    k->u.max_out = SRV_MAX_OUT;
    unauth_del(k->srv, k);
    uv_timer_stop(&k->auth_timer);
    if (k->kind == CONN_AGENT)
        cl_daemon_log("controller", "agent connection from %s (%s, %s)", k->u.peer, a->peer,
                      who->name);
}

static void handle_key(srv_conn_t *k, const Colossus__Auth *a)
{
    const uint8_t *key = k->srv->o.key;
    uint8_t proof[32];
    int rc = cl_uconn_key_proof(&k->u, "controller", key, k->nonce, a, proof);
    if (rc == 0) refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, "malformed authentication");
    if (rc <= 0) return;
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = sizeof proof;
    ctl_principal_t who = {.kind = CTL_PRINCIPAL_CLUSTER_KEY, .scope = CTL_SCOPE_ADMIN};
    snprintf(who.name, sizeof who.name, "cluster key (%.40s)@%.60s", a->peer, k->u.peer);
    authenticated(k, a, &ok, key, &who);
}

/* A JWT arrives sealed under the session key (client.c: seal_jwt). */
static int unseal_jwt(const Colossus__Credential *cr, const uint8_t session[CL_KEY_BYTES],
                      char out[CL_JWT_MAX + 1])
{
    size_t n = cr->sealed_jwt.len,
           over = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    if (n < over || n - over > CL_JWT_MAX) return -1;
    const uint8_t *p = cr->sealed_jwt.data;
    if (crypto_secretbox_open_easy((uint8_t *)out, p + crypto_secretbox_NONCEBYTES,
                                   n - crypto_secretbox_NONCEBYTES, p, session) < 0)
        return -1;
    out[n - over] = 0;
    return strlen(out) == n - over ? 0 : -1;
}

static void handle_cred(srv_conn_t *k, const Colossus__Auth *a)
{
    struct ctl_server *srv = k->srv;
    const Colossus__Credential *cr = a->cred;
    uint8_t session[CL_KEY_BYTES], transcript[32], msg[32], sig[CL_SIG_BYTES];
    if (a->kx_pub.len != CL_KX_BYTES ||
        cl_kx_session_key(true, k->kx_pk, k->kx_sk, a->kx_pub.data, session) < 0) {
        refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, "malformed authentication (key exchange)");
        return;
    }
    bool jwt = cr->kind == COLOSSUS__CREDENTIAL__KIND__JWT;
    cl_auth_transcript(k->nonce, a->nonce.data, k->kx_pk, a->kx_pub.data, srv->o.identity_pk,
                       a->role, cr->kind, jwt ? "" : cr->id, transcript);
    char token[CL_JWT_MAX + 1] = "";
    ctl_principal_t who;
    cl_error_t why;
    ctl_auth_req_t q = {.kind = cr->kind,
                        .id = cr->id,
                        .sig = cr->signature.data,
                        .siglen = cr->signature.len,
                        .transcript = transcript,
                        .jwt = token,
                        .agent = a->role == COLOSSUS__ROLE__ROLE_AGENT,
                        .peer = k->u.peer};
    bool unopened = jwt && unseal_jwt(cr, session, token) < 0;
    int rc = unopened ? cl_err(&why, "the JWT does not decrypt (damaged in transit?)")
                      : ctl_authenticate(srv->ctl, &q, &who, &why); /* which logs a refusal */
    sodium_memzero(token, sizeof token);
    if (rc < 0) {
        if (unopened) cl_daemon_log("controller", "refused %s: %s", k->u.peer, why.msg);
        cl_uconn_refuse(&k->u, COLOSSUS__REFUSED__WHY__BAD_CREDENTIAL, why.msg);
        sodium_memzero(session, sizeof session);
        return;
    }
    cl_auth_server_msg(transcript, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, srv->o.identity_sk);
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.signature.data = sig;
    ok.signature.len = sizeof sig;
    authenticated(k, a, &ok, session, &who);
    sodium_memzero(session, sizeof session);
}

static void handle_auth(srv_conn_t *k, const Colossus__Auth *a)
{
    if (a->nonce.len != CL_NONCE_BYTES) {
        refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, "malformed authentication");
        return;
    }
    if (a->role != COLOSSUS__ROLE__ROLE_AGENT && a->role != COLOSSUS__ROLE__ROLE_CLIENT) {
        refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, "unknown role");
        return;
    }
    if (!a->cred || a->cred->kind == COLOSSUS__CREDENTIAL__KIND__CLUSTER_KEY)
        handle_key(k, a);
    else
        handle_cred(k, a);
}

static void on_msg(cl_uconn_t *u, Colossus__Msg *m)
{
    srv_conn_t *k = u->data;
    ctl_t *c = k->srv->ctl;
    cl_error_t why;
    switch (k->kind) {
    case CONN_HANDSHAKE:
        if (m->body_case == COLOSSUS__MSG__BODY_AUTH)
            handle_auth(k, m->auth);
        else
            refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, "expected authentication");
        return;
    case CONN_AGENT:
        if (ctl_peer_msg(c, &k->who, &k->sink, m, &why) < 0)
            refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, why.msg);
        return;
    case CONN_CLIENT:
        if (m->body_case == COLOSSUS__MSG__BODY_REQUEST) {
            ctl_request(c, &k->who, m->request, &k->sink);
            return;
        }
        cl_err(&why, "unexpected message %d from a client", m->body_case);
        refuse(k, COLOSSUS__REFUSED__WHY__BAD_INPUT, why.msg);
        return;
    }
}

/* Descriptors the daemon needs besides its connections: the listeners, the loop's own, the
 * journal's files, the committer's, stdio, and libuv's reserve for accept under EMFILE. */
#define FD_RESERVE 32

/* Descriptors run short: unauthenticated connections make room, and one line per burst says
 * so. libuv itself, out of descriptors, accepts and closes pending connections with its
 * reserve descriptor (and mostly without telling us): this is the warning before that. */
static void fds_short(struct ctl_server *srv, const char *what)
{
    srv->emfile++;
    for (uint32_t i = 0, n = srv->nunauth / 8 + 1; i < n && shed_oldest(srv, NULL, 0); i++)
        ;
    uint64_t now = uv_now(&srv->loop);
    if (srv->emfile_logged_ms && now - srv->emfile_logged_ms < 10000) return;
    cl_daemon_log("controller",
                  "accept: %s (descriptor limit %lu, %u connections): new connections may be "
                  "refused; the oldest unauthenticated ones are shed (%" PRIu64
                  " times since the last such line)",
                  what, srv->fd_limit, srv->nconns, srv->emfile);
    srv->emfile = 0;
    srv->emfile_logged_ms = now;
}

void srv_framed_accept(uv_stream_t *ls, int status)
{
    srv_listener_t *l = ls->data;
    struct ctl_server *srv = l->srv;
    if (status == UV_EMFILE || status == UV_ENFILE) {
        fds_short(srv, uv_strerror(status));
        return;
    }
    if (status < 0) {
        cl_daemon_log("controller", "accept on %s: %s", l->bound, uv_strerror(status));
        return;
    }
    srv_conn_t *k = cl_xcalloc(1, sizeof *k);
    k->srv = srv;
    cl_uconn_init(&srv->loop, &k->u, on_msg, on_conn_closed, k);
    k->u.on_bad = on_bad_frame;
    if (uv_accept(ls, (uv_stream_t *)&k->u.tcp) < 0) {
        k->u.tcp.data = k;
        uv_close((uv_handle_t *)&k->u.tcp, (uv_close_cb)free); /* k is the handle's block */
        return;
    }
    k->next = srv->conns;
    if (srv->conns) srv->conns->prev = k;
    srv->conns = k;
    srv->nconns++;
    if (srv->fd_limit && srv->nconns + FD_RESERVE >= srv->fd_limit)
        fds_short(srv, "too many open files");
    cl_sess_init_handshake(&k->u.sess, true);
    cl_uconn_start(&k->u);
    ctl_sink_init(&k->sink, &framed_ops, k->u.peer);
    snprintf(k->addr, sizeof k->addr, "%.63s", k->u.peer);
    char *colon = strrchr(k->addr, ':');
    if (colon) *colon = 0;
    k->accepted_ms = uv_now(&srv->loop);
    uv_timer_init(&srv->loop, &k->auth_timer);
    k->auth_timer.data = k;
    if (!make_room(srv, k->addr)) {
        srv->shed++;
        cl_uconn_refuse_now(&k->u, COLOSSUS__REFUSED__WHY__OVERLOADED,
                            "too many unauthenticated connections: try again");
        return;
    }
    unauth_add(srv, k);
    uv_timer_start(&k->auth_timer, on_auth_timeout, SRV_AUTH_TIMEOUT_MS, 0);
    crypto_kx_keypair(k->kx_pk, k->kx_sk);
    cl_uconn_hello(&k->u, k->nonce, k->kx_pk, srv->o.identity_pk, srv->o.identity_sk);
}

/* ---- limits and timeouts ---- */

void srv_conns_init(struct ctl_server *srv)
{
    struct rlimit rl;
    unsigned long before = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        before = (unsigned long)rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) < 0) getrlimit(RLIMIT_NOFILE, &rl);
        }
        srv->fd_limit = (unsigned long)rl.rlim_cur;
    }
    unsigned long quarter = srv->fd_limit ? srv->fd_limit / 4 : SRV_MAX_UNAUTH;
    srv->max_unauth =
        quarter < SRV_MAX_UNAUTH ? (uint32_t)(quarter ? quarter : 1) : SRV_MAX_UNAUTH;
    cl_daemon_log("controller",
                  "file descriptors: limit %lu (was %lu); at most %u "
                  "unauthenticated connections, %u from one address",
                  srv->fd_limit, before, srv->max_unauth,
                  srv->max_unauth < SRV_MAX_UNAUTH_PER_ADDR ? srv->max_unauth
                                                            : SRV_MAX_UNAUTH_PER_ADDR);
}

void srv_conns_sweep(uv_timer_t *t)
{
    struct ctl_server *srv = t->data;
    uint64_t now = uv_now(&srv->loop);
    uint64_t frame_ms =
        srv->o.frame_timeout_ms ? srv->o.frame_timeout_ms : SRV_FRAME_TIMEOUT_MS;
    uint64_t idle_ms = srv->o.idle_ms ? srv->o.idle_ms : SRV_IDLE_MS;
    char slow[80], idle[80];
    snprintf(slow, sizeof slow, "a frame took more than %.3g s to arrive", frame_ms / 1000.0);
    snprintf(idle, sizeof idle, "idle for %.3g s with nothing in flight", idle_ms / 1000.0);
    for (srv_conn_t *k = srv->conns, *next; k; k = next) {
        next = k->next; /* a refusal closes k later, not now: next stays valid */
        if (k->u.closing || k->u.refusing) continue;
        if (k->u.partial_since_ms && now - k->u.partial_since_ms > frame_ms) {
            refuse(k, COLOSSUS__REFUSED__WHY__TIMEOUT, slow);
            continue;
        }
        uint64_t last = k->u.last_rx_ms ? k->u.last_rx_ms : k->accepted_ms;
        if (k->kind != CONN_HANDSHAKE && !k->sink.nnodes && !k->sink.nwaiters &&
            now - last > idle_ms)
            refuse(k, COLOSSUS__REFUSED__WHY__TIMEOUT, idle);
    }
    if ((srv->shed || srv->unauth_closed) &&
        (!srv->shed_logged_ms || now - srv->shed_logged_ms >= 10000)) {
        cl_daemon_log("controller",
                      "unauthenticated connections: %" PRIu64 " shed (the oldest "
                      "first, to stay under %u in all and %u from one "
                      "address), %" PRIu64 " closed for a timeout or bad input",
                      srv->shed, srv->max_unauth, SRV_MAX_UNAUTH_PER_ADDR, srv->unauth_closed);
        srv->shed = srv->unauth_closed = 0;
        srv->shed_logged_ms = now;
    }
}

void srv_conns_refuse_all(struct ctl_server *srv, Colossus__Refused__Why why,
                          const char *reason)
{
    for (srv_conn_t *k = srv->conns; k; k = k->next)
        cl_uconn_refuse(&k->u, why, reason);
}

void srv_conns_close_all(struct ctl_server *srv)
{
    for (srv_conn_t *k = srv->conns; k; k = k->next)
        cl_uconn_close(&k->u, NULL);
}
