/* ctl_server.c - the controller daemon's loop: listeners (each bound to a protocol), framed
 * connections (handshake on the cluster key, then agent or client traffic into the controller
 * object, and the controller's held messages out once durable), the committer's worker thread,
 * and the loop phases that drive the controller's timers and turns. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "controller/ctl_server.h"
#include "proto/uvconn.h"
#include "store/committer.h"
#include "util/util.h"

typedef struct srv_conn srv_conn_t;

typedef struct srv_listener {
    struct ctl_server *srv;
    const char *proto;
    uv_tcp_t tcp;
    char bound[300];
} srv_listener_t;

struct ctl_server {
    uv_loop_t loop;
    ctl_t *ctl;
    cl_store_t *store;
    cl_committer_t *committer;
    ctl_hooks_t hooks;
    ctl_server_opts_t o;
    srv_listener_t listeners[CTL_MAX_LISTENERS];
    int nlisteners;
    srv_conn_t *conns;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t judge_idle; /* keeps the poll of a turn with suspects from blocking */
    uv_timer_t timer;     /* the controller's next timer (ctl_next_timer_ms()) */
    uint64_t armed_due;
    uv_signal_t sigterm, sigint;
    uv_timer_t quit_timer; /* bounds the wait for the last commit on shutdown */
    bool quitting;
    int rc;
    /* commits: the moving average of their time in the store, and where they ran */
    double commit_us_avg;
    uint64_t commits_loop, commits_worker;
};

/* ---- framed connections ---- */

typedef enum { CONN_HANDSHAKE, CONN_AGENT, CONN_CLIENT } conn_kind_t;

struct srv_conn {
    ctl_sink_t sink; /* its references keep this alive; the last one frees it */
    cl_uconn_t u;
    struct ctl_server *srv;
    conn_kind_t kind;
    ctl_principal_t who;
    uint8_t nonce[CL_NONCE_BYTES];
    uv_timer_t auth_timer;
    srv_conn_t *next, *prev;
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

static const ctl_sink_ops_t framed_ops = {"colossus", framed_deliver, framed_flush,
                                          framed_release};

/* Handshake frames are the transport's own: they go out at once, not through a batch. */
static void send_now(srv_conn_t *k, const Colossus__Msg *m)
{
    if (cl_uconn_send(&k->u, m) == 0) cl_uconn_flush(&k->u);
}

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
    cl_uconn_close(&k->u, "no authentication within 10 s");
}

static void handle_auth(srv_conn_t *k, const Colossus__Auth *a)
{
    const uint8_t *key = k->srv->o.key;
    uint8_t proof[32];
    if (a->nonce.len != CL_NONCE_BYTES || a->proof.len != 32) {
        cl_uconn_close(&k->u, "malformed authentication");
        return;
    }
    cl_auth_proof(key, "colossus-client", k->nonce, a->nonce.data, proof);
    if (!cl_auth_equal(proof, a->proof.data, 32)) {
        cl_daemon_log("controller", "refused %s (%s): wrong cluster key", k->u.peer, a->peer);
        cl_uconn_close(&k->u, NULL);
        return;
    }
    if (a->role != COLOSSUS__ROLE__ROLE_AGENT && a->role != COLOSSUS__ROLE__ROLE_CLIENT) {
        cl_uconn_close(&k->u, "unknown role");
        return;
    }
    cl_auth_proof(key, "colossus-server", k->nonce, a->nonce.data, proof);
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = 32;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    send_now(k, &m);
    cl_sess_rekey(&k->u.sess, key, k->nonce, a->nonce.data);
    k->kind = a->role == COLOSSUS__ROLE__ROLE_AGENT ? CONN_AGENT : CONN_CLIENT;
    k->who.kind = CTL_PRINCIPAL_CLUSTER_KEY;
    snprintf(k->who.name, sizeof k->who.name, "%.40s@%.50s", a->peer, k->u.peer);
    uv_timer_stop(&k->auth_timer);
    if (k->kind == CONN_AGENT)
        cl_daemon_log("controller", "agent connection from %s (%s)", k->u.peer, a->peer);
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
            cl_uconn_close(u, "expected authentication");
        return;
    case CONN_AGENT:
        if (ctl_peer_msg(c, &k->sink, m, &why) < 0) cl_uconn_close(u, why.msg);
        return;
    case CONN_CLIENT:
        if (m->body_case == COLOSSUS__MSG__BODY_REQUEST) {
            ctl_request(c, &k->who, m->request, &k->sink);
            return;
        }
        cl_err(&why, "unexpected message %d from a client", m->body_case);
        cl_uconn_close(u, why.msg);
        return;
    }
}

static void on_framed_connection(uv_stream_t *ls, int status)
{
    srv_listener_t *l = ls->data;
    struct ctl_server *srv = l->srv;
    if (status < 0) {
        cl_daemon_log("controller", "accept on %s: %s", l->bound, uv_strerror(status));
        return;
    }
    srv_conn_t *k = cl_xcalloc(1, sizeof *k);
    k->srv = srv;
    cl_uconn_init(&srv->loop, &k->u, on_msg, on_conn_closed, k);
    if (uv_accept(ls, (uv_stream_t *)&k->u.tcp) < 0) {
        k->u.tcp.data = k;
        uv_close((uv_handle_t *)&k->u.tcp, (uv_close_cb)free); /* k is the handle's block */
        return;
    }
    k->next = srv->conns;
    if (srv->conns) srv->conns->prev = k;
    srv->conns = k;
    cl_sess_init_handshake(&k->u.sess, true);
    cl_uconn_start(&k->u);
    ctl_sink_init(&k->sink, &framed_ops, k->u.peer);
    uv_timer_init(&srv->loop, &k->auth_timer);
    k->auth_timer.data = k;
    uv_timer_start(&k->auth_timer, on_auth_timeout, 10000, 0);
    randombytes_buf(k->nonce, sizeof k->nonce);
    Colossus__Hello h = COLOSSUS__HELLO__INIT;
    h.proto_version = CL_PROTO_VERSION;
    h.nonce.data = k->nonce;
    h.nonce.len = sizeof k->nonce;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HELLO;
    m.hello = &h;
    send_now(k, &m);
}

/* ---- listeners ---- */

typedef struct srv_proto {
    const char *name;
    uv_connection_cb on_connection;
} srv_proto_t;

static const srv_proto_t protos[] = {
    {"colossus", on_framed_connection},
};

static void sockname(uv_tcp_t *t, char *out, size_t len)
{
    struct sockaddr_storage sa;
    int slen = sizeof sa;
    char ip[64] = "?";
    uv_tcp_getsockname(t, (struct sockaddr *)&sa, &slen);
    if (sa.ss_family == AF_INET) {
        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
        snprintf(out, len, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    } else {
        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
        snprintf(out, len, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    }
}

static int listen_on(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err)
{
    const srv_proto_t *p = NULL;
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (!strcmp(protos[i].name, cfg->proto)) p = &protos[i];
    if (!p) return cl_err(err, "listener %s: unknown protocol '%s'", cfg->addr, cfg->proto);
    char host[256];
    int port;
    if (cl_addr_parse(cfg->addr, host, sizeof host, &port, err) < 0) return -1;
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) < 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) < 0)
        return cl_err(err, "listener %s: '%s' is not an IP address", cfg->addr, host);
    srv_listener_t *l = &srv->listeners[srv->nlisteners];
    l->srv = srv;
    l->proto = p->name;
    uv_tcp_init(&srv->loop, &l->tcp);
    l->tcp.data = l;
    srv->nlisteners++;
    int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&l->tcp, 1024, p->on_connection);
    if (rc < 0) return cl_err(err, "cannot listen on %s: %s", cfg->addr, uv_strerror(rc));
    sockname(&l->tcp, l->bound, sizeof l->bound);
    return 0;
}

/* ---- commits ---- */

static void commit_took(struct ctl_server *srv, double us)
{
    srv->commit_us_avg += (us - srv->commit_us_avg) / 8;
}

static bool on_loop(const struct ctl_server *srv, const cl_store_batch_t *b)
{
    switch (srv->o.commit) {
    case CTL_COMMIT_INLINE:
        return true;
    case CTL_COMMIT_THREAD:
        return false;
    case CTL_COMMIT_AUTO:
        break;
    }
    return srv->commit_us_avg < CTL_AUTO_INLINE_US &&
           cl_store_batch_size(b) <= CTL_AUTO_INLINE_RECORDS;
}

static int hook_commit(void *arg, cl_store_batch_t *b, uint64_t seq)
{
    struct ctl_server *srv = arg;
    if (on_loop(srv, b)) {
        cl_error_t e;
        double t0 = cl_now_us();
        bool ok = cl_store_commit(srv->store, b, &e) == 0;
        commit_took(srv, cl_now_us() - t0);
        srv->commits_loop++;
        ctl_committed(srv->ctl, b, seq, ok, &e);
        return 0;
    }
    srv->commits_worker++;
    return cl_committer_submit(srv->committer, b, seq);
}

static void on_committed(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                         const cl_error_t *err)
{
    struct ctl_server *srv = arg;
    cl_committer_stats_t st;
    cl_committer_stats(srv->committer, &st);
    commit_took(srv, st.last_us);
    ctl_committed(srv->ctl, b, seq, ok, err);
}

/* ---- the loop's phases ---- */

static void on_timer(uv_timer_t *t);

static void rearm(struct ctl_server *srv)
{
    uint64_t due = ctl_next_timer_ms(srv->ctl);
    if (due == srv->armed_due) return;
    srv->armed_due = due;
    uint64_t now = ctl_clock_real.mono_ms(NULL);
    /* At least 1 ms: a timer restarted with 0 from its own callback would run again in the
     * same timer phase, forever (libuv does not advance its clock within the phase). */
    uv_timer_start(&srv->timer, on_timer, due > now ? due - now : 1, 0);
}

static void stop_if_done(struct ctl_server *srv)
{
    ctl_t *c = srv->ctl;
    if (ctl_stopped(c)) {
        cl_daemon_log("controller", "the journal cannot be written: exiting (jobs keep running "
                                    "on the agents; restart the controller once the store is "
                                    "fixed)");
        srv->rc = 70;
        uv_stop(&srv->loop);
    } else if (srv->quitting && !ctl_commit_in_flight(c) && !ctl_pending_records(c)) {
        uv_stop(&srv->loop);
    }
}

static void on_judge_idle(uv_idle_t *h)
{
    (void)h; /* only there to keep the poll of a turn with suspects from blocking */
}

static void on_timer(uv_timer_t *t)
{
    struct ctl_server *srv = t->data;
    srv->armed_due = 0;
    ctl_timers(srv->ctl);
    if (ctl_has_suspects(srv->ctl)) uv_idle_start(&srv->judge_idle, on_judge_idle);
    rearm(srv);
}

static void on_prepare(uv_prepare_t *p)
{
    struct ctl_server *srv = p->data;
    ctl_turn_end(srv->ctl, false);
    rearm(srv);
    stop_if_done(srv);
}

static void on_check(uv_check_t *p)
{
    struct ctl_server *srv = p->data;
    ctl_turn_end(srv->ctl, true); /* after this turn's reads: suspects are judged */
    uv_idle_stop(&srv->judge_idle);
    rearm(srv);
    stop_if_done(srv);
}

static void on_quit_timeout(uv_timer_t *t)
{
    struct ctl_server *srv = t->data;
    cl_daemon_log("controller", "the last journal commit did not end within 5 s: exiting");
    uv_stop(&srv->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ctl_server *srv = s->data;
    if (srv->quitting) return;
    cl_daemon_log("controller", "signal %d: exiting (jobs keep running on the agents)", signum);
    srv->quitting = true;
    for (int i = 0; i < srv->nlisteners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
    srv->nlisteners = 0;
    uv_timer_start(&srv->quit_timer, on_quit_timeout, 5000, 0);
}

/* ---- life cycle ---- */

ctl_server_t *ctl_server_create(const ctl_server_opts_t *o, cl_store_t *store, cl_error_t *err)
{
    struct ctl_server *srv = cl_xcalloc(1, sizeof *srv);
    srv->o = *o;
    srv->store = store;
    if (uv_loop_init(&srv->loop) < 0) {
        free(srv);
        cl_err(err, "cannot set up the event loop");
        return NULL;
    }
    if (o->commit != CTL_COMMIT_INLINE) {
        srv->committer = cl_committer_create(&srv->loop, store, on_committed, srv, err);
        if (!srv->committer) {
            uv_loop_close(&srv->loop);
            free(srv);
            return NULL;
        }
    }
    srv->hooks = (ctl_hooks_t){.commit = hook_commit, .log = NULL, .arg = srv};
    return srv;
}

const ctl_hooks_t *ctl_server_hooks(ctl_server_t *srv)
{
    return &srv->hooks;
}

int ctl_server_run(ctl_server_t *srv, ctl_t *c, cl_error_t *err)
{
    srv->ctl = c;
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < srv->o.nlisten; i++)
        if (listen_on(srv, &srv->o.listen[i], err) < 0) return 1;
    if (srv->o.address_file && srv->nlisteners) {
        char line[320];
        snprintf(line, sizeof line, "%s\n", srv->listeners[0].bound);
        if (cl_write_file_atomic(srv->o.address_file, line, err) < 0) return 1;
    }
    uv_prepare_init(&srv->loop, &srv->prepare);
    uv_check_init(&srv->loop, &srv->check);
    uv_idle_init(&srv->loop, &srv->judge_idle);
    uv_timer_init(&srv->loop, &srv->timer);
    uv_timer_init(&srv->loop, &srv->quit_timer);
    srv->prepare.data = srv->check.data = srv->timer.data = srv->quit_timer.data = srv;
    uv_prepare_start(&srv->prepare, on_prepare);
    uv_check_start(&srv->check, on_check);
    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    const ctl_config_t *cfg = ctl_config(c);
    static const char *const modes[] = {
        [CTL_COMMIT_AUTO] = "on the loop while they are fast, else on a worker thread",
        [CTL_COMMIT_THREAD] = "on a worker thread",
        [CTL_COMMIT_INLINE] = "on the loop"};
    char where[CTL_MAX_LISTENERS * 320] = "";
    for (int i = 0; i < srv->nlisteners; i++)
        snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s (%s)",
                 i ? ", " : "", srv->listeners[i].bound, srv->listeners[i].proto);
    cl_daemon_log("controller",
                  "listening on %s; %u node slots x %u GPUs; heartbeat %u ms, dead "
                  "after %u ms; journal commits %s",
                  where, ctl_node_slots(c), ctl_gpus_per_node(c), cfg->heartbeat_ms,
                  cfg->dead_after_ms, modes[srv->o.commit]);
    srv->rc = 0;
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    cl_daemon_log("controller",
                  "journal: %" PRIu64 " commits on the loop, %" PRIu64
                  " on the worker thread; recent commits took %.0f us",
                  srv->commits_loop, srv->commits_worker, srv->commit_us_avg);
    return srv->rc;
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void ctl_server_destroy(ctl_server_t *srv)
{
    if (!srv) return;
    cl_committer_destroy(srv->committer); /* waits for the batch in flight */
    srv->committer = NULL;
    /* Connections close through their own path (the controller is told, refs dropped);
     * their close callbacks unlink them as the loop runs them. */
    for (srv_conn_t *k = srv->conns; k; k = k->next)
        cl_uconn_close(&k->u, NULL);
    uv_run(&srv->loop, UV_RUN_NOWAIT);
    uv_walk(&srv->loop, close_all, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&srv->loop);
    free(srv);
}
