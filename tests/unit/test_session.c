/* test_session.c - the node carrier's session library (src/agent/session.h) against a small
 * framed controller on 127.0.0.1 made here from the real protocol code (uvconn, frame, the
 * handshake of ctl_main.c's handle_auth in miniature), on its own loop in a thread: the
 * registration window, batched heartbeats, reconnection that re-registers every node with its
 * running launches, refusals, message delivery by node index, the backoff, and an owner that
 * refuses a controller at its Registered (nothing after it is delivered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "agent/session.h"
#include "proto/uvconn.h"

#define MAXN 4096  /* nodes a test session carries, at most */
#define MAXC 16    /* connections the server records */
#define ID_STEP 7u /* ids: (connection + 1) * 100000 + handle * 7, spread for the hash */

enum { SRV_OK, SRV_REFUSE_ALL, SRV_REFUSE_ONE, SRV_CLOSE_AT_ACCEPT };

/* ------------------------------------------------------------------ the server ---------- */

typedef struct srv srv_t;

typedef struct sconn {
    cl_uconn_t u; /* first: on_close gets it */
    srv_t *srv;
    int index; /* connection number, 0.. */
    bool authed, closed_by_us;
    uint8_t nonce[CL_NONCE_BYTES];
} sconn_t;

struct srv {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake;
    uv_timer_t batch;
    pthread_t thread;
    pthread_mutex_t mu; /* held by the server thread in every callback; by the test to look */
    uint8_t key[CL_KEY_BYTES];
    int port;

    /* configuration (before start, or under mu) */
    int mode;
    uint32_t refuse_handle; /* SRV_REFUSE_ONE */
    uint32_t hb_ms;
    uint64_t cluster_id; /* in every Registered (under mu) */
    bool fence_after;    /* a Fence of the node right after each Registered */
    int hold;  /* answer Registers only once min(hold, total - answered) wait; 0: at once */
    int total; /* nodes of the session under test */

    /* commands from the test (under mu), run on the server's loop */
    bool cmd_close, cmd_send, cmd_stop;

    /* what happened */
    sconn_t *cur;
    int conns, closed_by_peer, accepts;
    double accept_ms[MAXC];
    int regs[MAXC];                   /* Registers per connection */
    uint64_t running_job[MAXC][MAXN]; /* the first running job a Register listed */
    int n_running[MAXC][MAXN];
    char reg_name[MAXC][8][64];               /* names of the first Registers */
    int pending[MAXN], npending, max_pending; /* of the current connection */
    int answered;                             /* Registered sent on it */
    bool ok_node[MAXN];                       /* answered ok on it */
    int nok;
    int hb_frames, hb_bad, hb_during_storm, hb_complete, hb_complete_full;
    bool hb_seen_full; /* a frame listed every registered node: all later ones must too */
    int hb_last_n;
    uint32_t hb_stamp[MAXN];
    int detach_frames, detach_ids; /* Detach frames, and the ids they named */
    uint32_t detached[MAXN];
};

static uint32_t node_id(int conn, uint32_t handle)
{
    return (uint32_t)(conn + 1) * 100000u + handle * ID_STEP;
}

static void srv_send(sconn_t *k, const Colossus__Msg *m)
{
    cl_uconn_send(&k->u, m);
    cl_uconn_flush(&k->u);
}

static void answer_pending(srv_t *s)
{
    sconn_t *k = s->cur;
    for (int i = 0; i < s->npending && k; i++) {
        uint32_t h = (uint32_t)s->pending[i];
        bool ok = s->mode == SRV_OK || (s->mode == SRV_REFUSE_ONE && h != s->refuse_handle);
        Colossus__Registered r = COLOSSUS__REGISTERED__INIT;
        r.handle = h;
        r.ok = ok;
        r.error = ok ? "" : "no free node slot";
        r.node = ok ? node_id(k->index, h) : 0;
        r.heartbeat_ms = s->hb_ms;
        r.dead_after_ms = 10 * s->hb_ms;
        r.cluster_id = s->cluster_id;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_REGISTERED;
        m.registered = &r;
        /* With the Fence in the same flush, so that both arrive in one read. */
        cl_uconn_send(&k->u, &m);
        if (ok && s->fence_after) {
            Colossus__Fence f = COLOSSUS__FENCE__INIT;
            f.node = r.node;
            Colossus__Msg fm = COLOSSUS__MSG__INIT;
            fm.body_case = COLOSSUS__MSG__BODY_FENCE;
            fm.fence = &f;
            cl_uconn_send(&k->u, &fm);
        }
        cl_uconn_flush(&k->u);
        s->answered++;
        if (ok && h < MAXN && !s->ok_node[h]) {
            s->ok_node[h] = true;
            s->nok++;
        }
    }
    s->npending = 0;
}

static void on_batch(uv_timer_t *t)
{
    srv_t *s = t->data;
    pthread_mutex_lock(&s->mu);
    int left = s->total - s->answered;
    if (s->npending && s->npending >= (s->hold < left ? s->hold : left)) answer_pending(s);
    pthread_mutex_unlock(&s->mu);
}

static void on_register(srv_t *s, sconn_t *k, const Colossus__Register *r)
{
    int c = k->index < MAXC ? k->index : MAXC - 1;
    if (r->handle < MAXN) {
        s->n_running[c][r->handle] = (int)r->n_running;
        s->running_job[c][r->handle] = r->n_running ? r->running[0]->job : 0;
    }
    if (s->regs[c] < 8) snprintf(s->reg_name[c][s->regs[c]], 64, "%s", r->name);
    s->regs[c]++;
    s->pending[s->npending++ % MAXN] = (int)r->handle;
    if (s->npending > s->max_pending) s->max_pending = s->npending;
    if (!s->hold) answer_pending(s);
}

static void on_heartbeat(srv_t *s, sconn_t *k, const Colossus__Heartbeat *hb)
{
    uint32_t frame = (uint32_t)++s->hb_frames;
    s->hb_last_n = (int)hb->n_nodes;
    if (s->answered < s->total) s->hb_during_storm++;
    for (size_t i = 0; i < hb->n_nodes; i++) {
        uint32_t rel = hb->nodes[i] - node_id(k->index, 0), h = rel / ID_STEP;
        if (hb->nodes[i] < node_id(k->index, 0) || rel % ID_STEP || h >= MAXN ||
            !s->ok_node[h] || s->hb_stamp[h] == frame) {
            s->hb_bad++; /* not an id of this connection's registered nodes, or twice */
            continue;
        }
        s->hb_stamp[h] = frame;
    }
    if (s->answered >= s->total && s->nok > 0 && (int)hb->n_nodes == s->nok)
        s->hb_seen_full = true;
    if (s->hb_seen_full) {
        s->hb_complete++;
        s->hb_complete_full += (int)hb->n_nodes == s->nok;
    }
}

/* handle_auth of ctl_main.c in miniature. */
static void on_auth(srv_t *s, sconn_t *k, const Colossus__Auth *a)
{
    uint8_t proof[32];
    cl_auth_proof(s->key, "colossus-client", k->nonce, a->nonce.data, proof);
    if (a->nonce.len != CL_NONCE_BYTES || a->proof.len != 32 ||
        !cl_auth_equal(proof, a->proof.data, 32) || a->role != COLOSSUS__ROLE__ROLE_AGENT) {
        cl_uconn_close(&k->u, "test server: bad authentication");
        return;
    }
    cl_auth_proof(s->key, "colossus-server", k->nonce, a->nonce.data, proof);
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = 32;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = &ok;
    srv_send(k, &m);
    cl_sess_rekey(&k->u.sess, s->key, k->nonce, a->nonce.data);
    k->authed = true;
}

static void srv_on_msg(cl_uconn_t *u, Colossus__Msg *m)
{
    sconn_t *k = (sconn_t *)u;
    srv_t *s = k->srv;
    pthread_mutex_lock(&s->mu);
    if (!k->authed && m->body_case == COLOSSUS__MSG__BODY_AUTH)
        on_auth(s, k, m->auth);
    else if (k->authed && m->body_case == COLOSSUS__MSG__BODY_REGISTER)
        on_register(s, k, m->register_);
    else if (k->authed && m->body_case == COLOSSUS__MSG__BODY_HEARTBEAT)
        on_heartbeat(s, k, m->heartbeat);
    else if (k->authed && m->body_case == COLOSSUS__MSG__BODY_DETACH) {
        s->detach_frames++;
        for (size_t i = 0; i < m->detach->n_nodes && s->detach_ids < MAXN; i++)
            s->detached[s->detach_ids++] = m->detach->nodes[i];
    } else
        cl_uconn_close(u, "test server: unexpected message");
    pthread_mutex_unlock(&s->mu);
}

static void srv_on_close(cl_uconn_t *u)
{
    sconn_t *k = (sconn_t *)u;
    srv_t *s = k->srv;
    pthread_mutex_lock(&s->mu);
    if (s->cur == k) s->cur = NULL;
    if (!k->closed_by_us) s->closed_by_peer++;
    pthread_mutex_unlock(&s->mu);
    free(k);
}

static void srv_accept_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    assert_int_equal(status, 0);
    pthread_mutex_lock(&s->mu);
    if (s->accepts < MAXC) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s->accept_ms[s->accepts] = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    }
    s->accepts++;
    if (s->mode == SRV_CLOSE_AT_ACCEPT) {
        uv_tcp_t *t = malloc(sizeof *t);
        uv_tcp_init(&s->loop, t);
        assert_int_equal(uv_accept(l, (uv_stream_t *)t), 0);
        uv_close((uv_handle_t *)t, srv_accept_closed);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    sconn_t *k = calloc(1, sizeof *k);
    k->srv = s;
    k->index = s->conns++;
    cl_uconn_init(&s->loop, &k->u, srv_on_msg, srv_on_close, s);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&k->u.tcp), 0);
    cl_sess_init_handshake(&k->u.sess, true);
    cl_uconn_start(&k->u);
    /* A new connection starts its registrations afresh. */
    s->cur = k;
    s->npending = s->answered = s->nok = 0;
    s->hb_seen_full = false;
    memset(s->ok_node, 0, sizeof s->ok_node);
    randombytes_buf(k->nonce, sizeof k->nonce);
    Colossus__Hello h = COLOSSUS__HELLO__INIT;
    h.proto_version = CL_PROTO_VERSION;
    h.nonce.data = k->nonce;
    h.nonce.len = sizeof k->nonce;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HELLO;
    m.hello = &h;
    srv_send(k, &m);
    pthread_mutex_unlock(&s->mu);
}

/* The scripted controller messages of test_messages. */
static void send_script(sconn_t *k)
{
    Colossus__Launch L = COLOSSUS__LAUNCH__INIT;
    L.node = node_id(k->index, 2);
    L.job = 41;
    Colossus__Stop st = COLOSSUS__STOP__INIT;
    st.node = 999999; /* carried by nobody */
    Colossus__LogFetch lf = COLOSSUS__LOG_FETCH__INIT;
    lf.node = node_id(k->index, 0);
    Colossus__CheckOrder co = COLOSSUS__CHECK_ORDER__INIT;
    co.node = node_id(k->index, 1);
    Colossus__Msg m[4] = {COLOSSUS__MSG__INIT, COLOSSUS__MSG__INIT, COLOSSUS__MSG__INIT,
                          COLOSSUS__MSG__INIT};
    m[0].body_case = COLOSSUS__MSG__BODY_LAUNCH, m[0].launch = &L;
    m[1].body_case = COLOSSUS__MSG__BODY_STOP, m[1].stop = &st;
    m[2].body_case = COLOSSUS__MSG__BODY_LOG_FETCH, m[2].log_fetch = &lf;
    m[3].body_case = COLOSSUS__MSG__BODY_CHECK_ORDER, m[3].check_order = &co;
    for (int i = 0; i < 4; i++)
        srv_send(k, &m[i]);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h)) return;
    if (h->type == UV_TCP && h->data == h) { /* an sconn (cl_uconn_init): on_close frees it */
        ((sconn_t *)h)->closed_by_us = true;
        cl_uconn_close((cl_uconn_t *)h, NULL);
    } else {
        uv_close(h, NULL);
    }
}

static void on_wake(uv_async_t *a)
{
    srv_t *s = a->data;
    pthread_mutex_lock(&s->mu);
    if (s->cmd_close && s->cur) {
        s->cur->closed_by_us = true;
        cl_uconn_close(&s->cur->u, NULL);
    }
    if (s->cmd_send && s->cur) send_script(s->cur);
    s->cmd_close = s->cmd_send = false;
    bool stop = s->cmd_stop;
    pthread_mutex_unlock(&s->mu);
    if (stop) uv_walk(&s->loop, walk_close, NULL);
}

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static srv_t *srv_start(int mode, uint32_t hb_ms, int hold, int total)
{
    srv_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->mode = mode;
    s->hb_ms = hb_ms;
    s->hold = hold;
    s->total = total;
    randombytes_buf(s->key, sizeof s->key);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 64, on_connection), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    uv_timer_init(&s->loop, &s->batch);
    s->batch.data = s;
    if (hold) uv_timer_start(&s->batch, on_batch, 30, 30);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
    return s;
}

static void srv_command(srv_t *s, bool *flag)
{
    pthread_mutex_lock(&s->mu);
    *flag = true;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->wake);
}

static void srv_stop(srv_t *s)
{
    srv_command(s, &s->cmd_stop);
    pthread_join(s->thread, NULL);
    uv_run(&s->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ------------------------------------------------------------------ the owner ----------- */

typedef struct owner {
    uv_loop_t loop;
    srv_t *srv;
    cl_session_t *s;
    int n;
    int ups, downs, down_registered, fills, dones, max_outstanding;
    Colossus__RunningJob rj[MAXN];
    Colossus__RunningJob *rp[MAXN];
    uint64_t accept_id; /* the cluster id registered() accepts (0: any) */
    int asked;          /* registered() calls */
    uint64_t asked_id;  /* the cluster id it was last asked about */
    int nmsgs;
    struct {
        int body, node;
        uint64_t job;
    } msgs[16];
} owner_t;

/* Nodes 0, 3, 6... hold a launch (job 100 + index) that must be reported at every
 * registration. */
static void reg_fill(void *arg, int node, Colossus__Register *r)
{
    owner_t *o = arg;
    assert_int_equal(r->handle, node);
    assert_string_equal(r->name, cl_session_node_name(o->s, node));
    o->fills++;
    if (node % 3) return;
    colossus__running_job__init(&o->rj[node]);
    o->rj[node].job = 100 + (uint64_t)node;
    o->rj[node].incarnation = 1;
    o->rp[node] = &o->rj[node];
    r->running = &o->rp[node];
    r->n_running = 1;
}

static void reg_done(void *arg, int node, Colossus__Register *r)
{
    owner_t *o = arg;
    assert_int_equal(r->handle, node);
    o->dones++;
}

static void on_message(void *arg, int node, const Colossus__Msg *m)
{
    owner_t *o = arg;
    if (o->nmsgs == 16) return;
    o->msgs[o->nmsgs].body = m->body_case;
    o->msgs[o->nmsgs].node = node;
    o->msgs[o->nmsgs].job = m->body_case == COLOSSUS__MSG__BODY_LAUNCH ? m->launch->job : 0;
    o->nmsgs++;
}

static void on_up(void *arg)
{
    owner_t *o = arg;
    o->ups++;
    assert_true(cl_session_connected(o->s));
}

static void on_down(void *arg)
{
    owner_t *o = arg;
    o->downs++;
    uint32_t id;
    for (int i = 0; i < o->n; i++)
        o->down_registered += cl_session_node_id(o->s, i, &id);
}

static bool on_registered(void *arg, int node, const Colossus__Registered *r)
{
    owner_t *o = arg;
    uint32_t id;
    assert_true(r->ok);
    assert_false(cl_session_node_id(o->s, node, &id)); /* not registered before the answer */
    o->asked++;
    o->asked_id = r->cluster_id;
    return !o->accept_id || r->cluster_id == o->accept_id;
}

static const cl_session_ops_t ops = {.register_fill = reg_fill,
                                     .register_done = reg_done,
                                     .message = on_message,
                                     .up = on_up,
                                     .down = on_down,
                                     .registered = on_registered};

static owner_t *owner_new(srv_t *srv, int n, const char *prefix)
{
    owner_t *o = calloc(1, sizeof *o);
    assert_non_null(o);
    assert_int_equal(uv_loop_init(&o->loop), 0);
    o->srv = srv;
    o->n = n;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", srv->port);
    cl_cred_t cred;
    cl_cred_from_key(&cred, srv->key);
    cl_session_opts_t so = {.controller = addr, .cred = &cred, .peer = prefix, .who = "test"};
    cl_error_t err;
    o->s = cl_session_create(&o->loop, &so, &ops, o, &err);
    assert_non_null(o->s);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        assert_int_equal(cl_session_add_node(o->s, name, &err), i);
    }
    return o;
}

static void owner_free(owner_t *o)
{
    cl_session_destroy(o->s);
    cl_session_destroy(NULL);
    uv_run(&o->loop, UV_RUN_DEFAULT); /* every handle of the session closes */
    assert_int_equal(uv_loop_close(&o->loop), 0);
    srv_stop(o->srv);
    free(o);
}

typedef bool pred_f(owner_t *o, srv_t *s);

struct watch {
    owner_t *o;
    pred_f *pred;
    uint64_t deadline;
    bool met, expired;
};

static void on_watch(uv_timer_t *t)
{
    struct watch *w = t->data;
    int out = cl_session_reg_outstanding(w->o->s);
    if (out > w->o->max_outstanding) w->o->max_outstanding = out;
    pthread_mutex_lock(&w->o->srv->mu);
    w->met = w->pred(w->o, w->o->srv);
    pthread_mutex_unlock(&w->o->srv->mu);
    w->expired = !w->met && uv_hrtime() >= w->deadline;
    if (w->met || w->expired) uv_stop(t->loop);
}

/* Run the session's loop until pred (looked at under the server's lock) holds; false when
 * timeout_ms passed first. */
static bool wait_for(owner_t *o, pred_f *pred, int timeout_ms)
{
    struct watch w = {o, pred, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, false, false};
    uv_timer_t t;
    uv_timer_init(&o->loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_watch, 2, 2);
    while (!w.met && !w.expired)
        uv_run(&o->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&o->loop, UV_RUN_NOWAIT);
    return w.met;
}

/* Send this process's stderr (the session's log lines) to a temporary file; returns its fd,
 * to be given to uncapture() with saved. */
static int capture(int *saved)
{
    char path[] = "/tmp/cl-test-session-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    *saved = dup(2);
    dup2(fd, 2);
    return fd;
}

/* stderr back; what was logged meanwhile, NUL-terminated, in buf. */
static void uncapture(int fd, int saved, char *buf, size_t len)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, len - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = 0;
}

static int crypto_setup(void **state)
{
    (void)state;
    return cl_crypto_init();
}

/* ------------------------------------------------------------------ tests --------------- */

static bool storm_over(owner_t *o, srv_t *s)
{
    return s->nok == o->n && s->hb_complete >= 3;
}

/* 4096 nodes on one connection; the server answers only once a full window waits. */
static void test_window_and_batched_heartbeats(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 10, CL_SESSION_REG_WINDOW, MAXN);
    owner_t *o = owner_new(srv, MAXN, "w");
    cl_session_start(o->s);
    cl_session_start(o->s); /* idempotent */
    assert_true(wait_for(o, storm_over, 20000));
    pthread_mutex_lock(&srv->mu);
    /* The window was full and never more than full. */
    assert_int_equal(srv->max_pending, CL_SESSION_REG_WINDOW);
    assert_true(o->max_outstanding <= CL_SESSION_REG_WINDOW);
    assert_int_equal(srv->regs[0], MAXN);
    /* Heartbeats came during the storm, each a frame of registered ids, never one twice;
     * once complete, every frame lists every node. */
    assert_int_equal(srv->hb_bad, 0);
    assert_true(srv->hb_during_storm >= 1);
    assert_int_equal(srv->hb_complete_full, srv->hb_complete);
    for (int i = 0; i < MAXN; i++) {
        assert_int_equal(srv->n_running[0][i], i % 3 == 0);
        if (i % 3 == 0) assert_int_equal(srv->running_job[0][i], 100 + i);
    }
    pthread_mutex_unlock(&srv->mu);
    assert_int_equal(o->fills, MAXN);
    assert_int_equal(o->dones, MAXN);
    for (int i = 0; i < MAXN; i++) {
        uint32_t id;
        assert_true(cl_session_node_id(o->s, i, &id));
        assert_int_equal(id, node_id(0, (uint32_t)i));
        assert_int_equal(cl_session_node_index(o->s, id), i);
    }
    assert_int_equal(cl_session_node_index(o->s, 12345), -1);
    assert_string_equal(cl_session_addr(o->s), "127.0.0.1");
    owner_free(o);
}

static bool one_heartbeat(owner_t *o, srv_t *s)
{
    return s->hb_frames >= 1 && s->nok == o->n;
}

static bool two_heartbeats(owner_t *o, srv_t *s)
{
    return s->hb_frames >= 2;
}

/* The first heartbeat goes right after the first Registered, not a period later. */
static void test_first_heartbeat_at_once(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 60000, 0, 3);
    owner_t *o = owner_new(srv, 3, "f");
    cl_session_start(o->s);
    assert_true(wait_for(o, one_heartbeat, 5000));
    cl_session_heartbeat_now(o->s);
    assert_true(wait_for(o, two_heartbeats, 5000));
    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->hb_last_n, 3);
    assert_int_equal(srv->hb_bad, 0);
    pthread_mutex_unlock(&srv->mu);
    owner_free(o);
}

static bool three_detached(owner_t *o, srv_t *s)
{
    return s->detach_ids >= 3;
}

/* Issue 16: nodes a relay drops at once (an agent of thousands left) go in one Detach, whose
 * ids are theirs; the others stay registered and heartbeated. */
static void test_detach_batched(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 60000, 0, 5);
    owner_t *o = owner_new(srv, 5, "d");
    cl_session_start(o->s);
    assert_true(wait_for(o, one_heartbeat, 5000));
    uint32_t want[3];
    for (int i = 0; i < 3; i++) {
        assert_true(cl_session_node_id(o->s, i + 1, &want[i]));
        cl_session_carry(o->s, i + 1, false);
    }
    cl_session_detach_flush(o->s);
    assert_true(wait_for(o, three_detached, 5000));
    cl_session_heartbeat_now(o->s);
    assert_true(wait_for(o, two_heartbeats, 5000));
    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->detach_frames, 1);
    assert_int_equal(srv->detach_ids, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(srv->detached[i], want[i]);
    assert_int_equal(srv->hb_last_n, 2);
    pthread_mutex_unlock(&srv->mu);
    owner_free(o);
}

static bool registered_6(owner_t *o, srv_t *s)
{
    return s->regs[0] == 6 && s->nok == 6;
}

static bool back_on_second(owner_t *o, srv_t *s)
{
    return s->conns == 2 && s->nok == 6 && s->hb_seen_full;
}

/* The server drops the connection: every node is forgotten, then registered again on the
 * next connection with its running launches, under its new id. */
static void test_reconnect_reregisters(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 20, 0, 6);
    owner_t *o = owner_new(srv, 5, "r");
    cl_session_start(o->s);
    cl_error_t err;
    assert_int_equal(cl_session_add_node(o->s, "", &err), -1);
    assert_non_null(strstr(err.msg, "node name"));
    assert_int_equal(cl_session_add_node(o->s, "a,b", &err), -1);
    assert_true(wait_for(o, one_heartbeat, 5000));
    /* A node added while connected registers on that connection. */
    assert_int_equal(cl_session_add_node(o->s, "r-extra", &err), 5);
    o->n = 6;
    assert_true(wait_for(o, registered_6, 5000));
    uint64_t t0 = uv_hrtime();
    srv_command(srv, &srv->cmd_close);
    assert_true(wait_for(o, back_on_second, 5000));
    pthread_mutex_lock(&srv->mu);
    assert_string_equal(srv->reg_name[0][5], "r-extra");
    assert_int_equal(srv->regs[1], 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(srv->n_running[1][i], i % 3 == 0);
        if (i % 3 == 0) assert_int_equal(srv->running_job[1][i], 100 + i);
    }
    double t_accept = srv->accept_ms[1];
    assert_int_equal(srv->hb_bad, 0);
    pthread_mutex_unlock(&srv->mu);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6, t0_ms = now - (uv_hrtime() - t0) / 1e6;
    assert_true(t_accept - t0_ms >= 90); /* the first retry waits 100 ms */
    assert_int_equal(o->ups, 2);
    assert_int_equal(o->downs, 1);
    assert_int_equal(o->down_registered, 0);
    for (int i = 0; i < 6; i++) {
        uint32_t id;
        assert_true(cl_session_node_id(o->s, i, &id));
        assert_int_equal(id, node_id(1, (uint32_t)i));
        assert_int_equal(cl_session_node_index(o->s, node_id(1, (uint32_t)i)), i);
        assert_int_equal(cl_session_node_index(o->s, node_id(0, (uint32_t)i)), -1);
    }
    assert_int_equal(cl_session_retry_ms(o->s), 100);
    owner_free(o);
}

static bool four_messages(owner_t *o, srv_t *s)
{
    return o->nmsgs >= 4;
}

/* Controller messages reach the owner with the index of the node they name. */
static void test_messages(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 1000, 0, 3);
    owner_t *o = owner_new(srv, 3, "m");
    cl_session_start(o->s);
    assert_true(wait_for(o, one_heartbeat, 5000));
    srv_command(srv, &srv->cmd_send);
    assert_true(wait_for(o, four_messages, 5000));
    assert_int_equal(o->nmsgs, 4);
    assert_int_equal(o->msgs[0].body, COLOSSUS__MSG__BODY_LAUNCH);
    assert_int_equal(o->msgs[0].node, 2);
    assert_int_equal(o->msgs[0].job, 41);
    assert_int_equal(o->msgs[1].body, COLOSSUS__MSG__BODY_STOP);
    assert_int_equal(o->msgs[1].node, -1); /* a node this session does not carry */
    assert_int_equal(o->msgs[2].body, COLOSSUS__MSG__BODY_LOG_FETCH);
    assert_int_equal(o->msgs[2].node, 0);
    assert_int_equal(o->msgs[3].body, COLOSSUS__MSG__BODY_CHECK_ORDER);
    assert_int_equal(o->msgs[3].node, 1);
    owner_free(o);
}

static bool refused_and_retried(owner_t *o, srv_t *s)
{
    return s->closed_by_peer >= 1 && s->accepts >= 2;
}

static bool two_of_three(owner_t *o, srv_t *s)
{
    return s->nok == 2 && s->answered == 3 && s->hb_frames >= 2;
}

/* A refused node of a single-node session closes the connection (and the session retries
 * later); in a session of many the others carry on. */
static void test_refused(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_REFUSE_ALL, 1000, 0, 1);
    owner_t *o = owner_new(srv, 1, "single");
    cl_session_start(o->s);
    assert_true(wait_for(o, refused_and_retried, 5000));
    uint32_t id;
    assert_false(cl_session_node_id(o->s, 0, &id));
    assert_true(cl_session_retry_ms(o->s) >= 200); /* nothing registered: the delay grows */
    owner_free(o);

    srv = srv_start(SRV_REFUSE_ONE, 20, 0, 3);
    srv->refuse_handle = 1;
    o = owner_new(srv, 3, "many");
    cl_session_start(o->s);
    assert_true(wait_for(o, two_of_three, 5000));
    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->closed_by_peer, 0);
    assert_int_equal(srv->conns, 1);
    assert_int_equal(srv->hb_last_n, 2);
    assert_int_equal(srv->hb_bad, 0);
    pthread_mutex_unlock(&srv->mu);
    assert_true(cl_session_node_id(o->s, 0, &id));
    assert_false(cl_session_node_id(o->s, 1, &id));
    assert_true(cl_session_node_id(o->s, 2, &id));
    owner_free(o);
}

static bool six_tries(owner_t *o, srv_t *s)
{
    return s->accepts >= 6;
}

/* A controller that closes every connection at once: tries at 0, +200, +400, +800, +1000,
 * +1000 ms, and one log line for the five identical failures. */
static void test_backoff(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_CLOSE_AT_ACCEPT, 1000, 0, 1);
    owner_t *o = owner_new(srv, 1, "b");
    int saved, logfd = capture(&saved);
    cl_session_start(o->s);
    bool ok = wait_for(o, six_tries, 10000);
    char buf[8192];
    uncapture(logfd, saved, buf, sizeof buf);
    assert_true(ok);
    static const double want[] = {200, 400, 800, 1000, 1000};
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; i < 5; i++) {
        double gap = srv->accept_ms[i + 1] - srv->accept_ms[i];
        if (gap < want[i] - 50 || (want[i] == 1000 && gap > 1900)) /* 2000: not capped */
            fail_msg("try %d came %.0f ms after the one before, wanted %.0f", i + 2, gap,
                     want[i]);
    }
    pthread_mutex_unlock(&srv->mu);
    assert_int_equal(cl_session_retry_ms(o->s), 1000);
    int lines = 0;
    for (char *p = buf; (p = strstr(p, "during the handshake")); p++)
        lines++;
    if (lines != 1) fail_msg("%d log lines for one kind of failure:\n%s", lines, buf);
    owner_free(o);
}

static bool refused_three_times(owner_t *o, srv_t *s)
{
    return s->accepts >= 3 && s->closed_by_peer >= 3 && s->cur == NULL;
}

static bool fence_delivered(owner_t *o, srv_t *s)
{
    return o->nmsgs >= 1 && s->hb_frames >= 1;
}

/* The owner refuses a controller of another cluster: the Fence that follows its Registered
 * in the same read is never delivered, nothing is sent to it (no heartbeat), the session
 * closes and retries with a growing delay, quietly; once the controller is the right one the
 * node registers and the Fence is delivered. */
static void test_owner_refuses_controller(void **state)
{
    (void)state;
    srv_t *srv = srv_start(SRV_OK, 20, 0, 1);
    srv->cluster_id = 0xbadc0ffee0ddf00dull;
    srv->fence_after = true;
    owner_t *o = owner_new(srv, 1, "cid");
    o->accept_id = 0x1234567890abcdefull;
    int saved, logfd = capture(&saved);
    cl_session_start(o->s);
    bool ok = wait_for(o, refused_three_times, 10000);
    char buf[8192];
    uncapture(logfd, saved, buf, sizeof buf);
    assert_true(ok);
    assert_int_equal(o->asked, 3);
    assert_true(o->asked_id == 0xbadc0ffee0ddf00dull);
    assert_int_equal(o->nmsgs, 0); /* the Fence after the refused Registered: not delivered */
    uint32_t id;
    assert_false(cl_session_node_id(o->s, 0, &id));
    assert_true(cl_session_retry_ms(o->s) >= 400); /* three failed tries */
    pthread_mutex_lock(&srv->mu);
    assert_int_equal(srv->hb_frames, 0);
    assert_int_equal(srv->nok, 1); /* the server answered; the owner said no */
    pthread_mutex_unlock(&srv->mu);
    int connected = 0;
    for (char *p = buf; (p = strstr(p, "test: connected to")); p++)
        connected++;
    if (connected != 1 || strstr(buf, "closed the connection") || strstr(buf, "closing"))
        fail_msg("the refused tries were logged by the session:\n%s", buf);

    /* The right cluster's controller is back at that address. */
    pthread_mutex_lock(&srv->mu);
    srv->cluster_id = o->accept_id;
    pthread_mutex_unlock(&srv->mu);
    assert_true(wait_for(o, fence_delivered, 5000));
    assert_int_equal(o->msgs[0].body, COLOSSUS__MSG__BODY_FENCE);
    assert_int_equal(o->msgs[0].node, 0);
    assert_true(cl_session_node_id(o->s, 0, &id));
    assert_int_equal(cl_session_retry_ms(o->s), 100);
    owner_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_and_batched_heartbeats),
        cmocka_unit_test(test_first_heartbeat_at_once),
        cmocka_unit_test(test_reconnect_reregisters),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_detach_batched),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_owner_refuses_controller),
    };
    return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
