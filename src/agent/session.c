/* session.c - a node carrier's session with the controller (see session.h): connect,
 * reconnect with backoff, the registration window, compact ids and batched heartbeats. */
#include "agent/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/lease.h"
#include "proto/client.h"
#include "proto/uvconn.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000

typedef struct sess_node {
    char name[CL_SESSION_NAME_MAX + 1];
    uint32_t id; /* compact id from the controller, while registered */
    bool registered;
    bool dropped; /* not carried now (cl_session_carry): not registered nor heartbeated */
    bool queued;  /* in reg_q */
} sess_node_t;

struct cl_session {
    uv_loop_t *loop;
    char controller[256], peer[64], who[32], addr[64];
    size_t next_addr; /* of controller (a list: a leader and its standbys), the one to try */
    cl_cred_t cred;   /* the cluster key or a node credential */
    int timeout_ms;
    cl_session_ops_t ops;
    void *arg;

    sess_node_t *nodes;
    int n, cap;
    uint32_t *hb_ids;           /* heartbeat scratch: cap entries */
    uint32_t *id_tab, *id_keys; /* id -> index + 1 (0: empty), open addressing */
    size_t id_cap, id_used;

    cl_uconn_t *conn;     /* NULL while disconnected */
    bool conn_registered; /* a node of this connection registered */
    int reg_next, reg_outstanding;
    uint32_t *detach; /* ids of nodes dropped, for the next Detach (cl_session_detach_flush) */
    size_t ndetach, detach_cap;
    int *reg_q; /* nodes carried again after reg_next passed them: registered next */
    int reg_qn, reg_qcap;
    bool many; /* a carrier of many nodes whatever its count: a refusal never closes */
    uint32_t lease_beats; /* heartbeats a period, all but one for the lease alone */
    int reg_window;       /* opts.reg_window */
    bool leave_at_lease;  /* opts.leave_at_lease */
    uint32_t beat;        /* of the period: 0 is the full heartbeat */
    uint32_t hb_ms;
    bool hb_started, started, destroyed;
    bool refused; /* closing the connection: its only node, or the controller, was refused */
    bool quiet;   /* refused before: "connected" is not logged again until a node registers */
    uv_timer_t hb_timer, retry_timer;
    int backoff_ms;
    char last_fail[300]; /* the failure logged last: not repeated until a node registers */
    int open_handles;    /* freed at 0 once destroyed */
    /* issue 14: the node-side lease (ops.lease set): heartbeats carry a sequence number and
     * the leader's HeartbeatAck renews the lease from that heartbeat's send time */
    uint64_t hb_seq;
    uint64_t hb_sent[16]; /* send time (boot ns) of heartbeat seq, at seq % 16 */
    uint32_t dead_ms;     /* the controller's dead-after */
    uint64_t last_ack;    /* boot ns of the last ack on this connection; 0: none yet */
};

/* ------------------------------------------------------------------ ids ----------------- */

/* A stale slot (an id the controller has since given another node) fails the check in
 * cl_session_node_index(). */
static uint32_t *id_slot(const cl_session_t *s, uint32_t id)
{
    size_t mask = s->id_cap - 1, h = (id * 2654435761u) & mask;
    while (s->id_tab[h] && s->id_keys[h] != id)
        h = (h + 1) & mask;
    return &s->id_tab[h];
}

static void id_bind(cl_session_t *s, uint32_t id, int index)
{
    uint32_t *slot = id_slot(s, id);
    if (!*slot && ++s->id_used > s->id_cap / 2) {
        /* Ids churned (controllers with fresh state): keep only the current ones. */
        memset(s->id_tab, 0, s->id_cap * sizeof *s->id_tab);
        s->id_used = 0;
        for (int i = 0; i < s->n; i++)
            if (s->nodes[i].registered && i != index) id_bind(s, s->nodes[i].id, i);
        slot = id_slot(s, id);
        s->id_used++;
    }
    s->id_keys[slot - s->id_tab] = id;
    *slot = (uint32_t)index + 1;
}

/* At least 2 slots per node. */
static void id_table_fit(cl_session_t *s)
{
    if (s->id_cap >= 2 * (size_t)s->n) return;
    size_t cap = 16;
    while (cap < 2 * (size_t)s->n)
        cap *= 2;
    free(s->id_tab);
    free(s->id_keys);
    s->id_tab = cl_xcalloc(cap, sizeof *s->id_tab);
    s->id_keys = cl_xcalloc(cap, sizeof *s->id_keys);
    s->id_cap = cap;
    s->id_used = 0;
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].registered) id_bind(s, s->nodes[i].id, i);
}

int cl_session_node_index(const cl_session_t *s, uint32_t id)
{
    if (!s->id_cap) return -1;
    uint32_t v = *id_slot(s, id);
    int i = (int)v - 1;
    return v && s->nodes[i].registered && s->nodes[i].id == id ? i : -1;
}

/* ------------------------------------------------------------------ sending ------------- */

int cl_session_send(cl_session_t *s, const Colossus__Msg *m)
{
    if (!s->conn || s->conn->closing || cl_uconn_send(s->conn, m) < 0) return -1;
    cl_uconn_flush(s->conn);
    return 0;
}

/* Node id is to be detached with the next Detach. */
static void detach_add(cl_session_t *s, uint32_t id)
{
    if (s->ndetach == s->detach_cap) {
        s->detach_cap = s->detach_cap ? 2 * s->detach_cap : 64;
        s->detach = cl_xrealloc(s->detach, s->detach_cap * sizeof *s->detach);
    }
    s->detach[s->ndetach++] = id;
}

void cl_session_detach_flush(cl_session_t *s)
{
    if (!s->ndetach) return;
    Colossus__Detach d = COLOSSUS__DETACH__INIT;
    d.nodes = s->detach;
    d.n_nodes = s->ndetach;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_DETACH;
    m.detach = &d;
    cl_session_send(s, &m);
    s->ndetach = 0;
}

/* One batched frame for every registered node (full), or for the lease alone: no node, a
 * seq to ack (opts.lease_beats). */
static void send_heartbeat(cl_session_t *s, bool full)
{
    cl_session_detach_flush(s);
    size_t n = 0, reg = 0;
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].registered) s->hb_ids[reg++] = s->nodes[i].id;
    n = full ? reg : 0;
    if (!reg || !s->conn || s->conn->closing || (!full && !s->ops.lease)) return;
    Colossus__Heartbeat hb = COLOSSUS__HEARTBEAT__INIT;
    hb.nodes = s->hb_ids;
    hb.n_nodes = n;
    if (s->ops.lease) {
        uint64_t now = ag_lease_now();
        /* A leader that stopped answering (paused, cut off behind a half-open connection):
         * go to the next address, where a standby may lead by now. */
        if (s->last_ack && s->dead_ms && now - s->last_ack > (uint64_t)s->dead_ms * 1000000u) {
            cl_daemon_log(s->who, "the controller has not answered for %u ms: reconnecting",
                          s->dead_ms);
            s->last_ack = 0;
            s->next_addr++;
            cl_uconn_close(s->conn, NULL);
            return;
        }
        hb.seq = ++s->hb_seq;
        s->hb_sent[hb.seq % 16] = now;
    }
    if (s->ops.heartbeat_fill) s->ops.heartbeat_fill(s->arg, &hb);
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    cl_session_send(s, &m);
    if (s->ops.heartbeat_done) s->ops.heartbeat_done(s->arg, &hb);
}

static void on_heartbeat(uv_timer_t *t)
{
    cl_session_t *s = t->data;
    bool full = s->beat == 0;
    s->beat = (s->beat + 1) % s->lease_beats;
    send_heartbeat(s, full);
}

void cl_session_heartbeat_now(cl_session_t *s)
{
    send_heartbeat(s, true);
}

static void send_register(cl_session_t *s, int node)
{
    cl_session_detach_flush(s); /* before: a node registered again is not detached after */
    Colossus__Register r = COLOSSUS__REGISTER__INIT;
    r.handle = (uint32_t)node;
    r.name = s->nodes[node].name;
    r.addr = s->addr;
    if (s->ops.register_fill) s->ops.register_fill(s->arg, node, &r);
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTER;
    m.register_ = &r;
    cl_uconn_send(s->conn, &m);
    if (s->ops.register_done) s->ops.register_done(s->arg, node, &r);
}

/* Fill the registration window (see session.h). */
static void register_more(cl_session_t *s)
{
    int sent = 0;
    while (!s->destroyed && s->conn && !s->conn->closing &&
           s->reg_outstanding < s->reg_window) {
        int i;
        if (s->reg_next < s->n) {
            i = s->reg_next++;
        } else if (s->reg_qn) {
            i = s->reg_q[--s->reg_qn];
            s->nodes[i].queued = false;
        } else {
            break;
        }
        if (s->nodes[i].dropped || s->nodes[i].registered) continue;
        send_register(s, i);
        s->reg_outstanding++;
        sent++;
    }
    if (sent && s->conn) cl_uconn_flush(s->conn);
}

/* ------------------------------------------------------------------ connection ---------- */

static void try_connect(uv_timer_t *t);

/* A failed try: log it unless it is the failure logged last, retry after a longer delay. */
static void failed(cl_session_t *s, const char *why)
{
    if (strcmp(s->last_fail, why)) {
        cl_daemon_log(s->who, "%s", why);
        snprintf(s->last_fail, sizeof s->last_fail, "%s", why);
    }
    s->backoff_ms = s->backoff_ms < BACKOFF_MAX_MS / 2 ? s->backoff_ms * 2 : BACKOFF_MAX_MS;
    uv_update_time(s->loop); /* the delay counts from now, not from before the blocking try */
    uv_timer_start(&s->retry_timer, try_connect, (uint64_t)s->backoff_ms, 0);
}

/* One of the session's handles (the two timers, the connection) has closed. */
static void release(cl_session_t *s)
{
    if (--s->open_handles > 0) return;
    free(s->nodes);
    free(s->reg_q);
    free(s->hb_ids);
    free(s->detach);
    free(s->id_tab);
    free(s->id_keys);
    cl_cred_clear(&s->cred);
    free(s);
}

static void timer_closed(uv_handle_t *h)
{
    release(h->data);
}

static void on_conn_closed(cl_uconn_t *c)
{
    cl_session_t *s = c->data;
    bool gone = s->destroyed;
    free(c);
    s->conn = NULL;
    release(s);
    if (gone) return;
    for (int i = 0; i < s->n; i++)
        s->nodes[i].registered = false;
    s->hb_started = false;
    s->last_ack = 0;
    s->ndetach = 0; /* the next connection registers what is carried then */
    uv_timer_stop(&s->hb_timer);
    bool was_up = s->conn_registered, refused = s->refused;
    s->refused = false;
    if (s->ops.down) s->ops.down(s->arg);
    if (s->destroyed) return;
    if (was_up) {
        cl_daemon_log(s->who, "lost the controller; reconnecting");
        uv_update_time(s->loop);
        uv_timer_start(&s->retry_timer, try_connect, (uint64_t)s->backoff_ms, 0);
    } else {
        /* A refusal was logged as such (and is last_fail: not logged twice). */
        failed(s, refused ? s->last_fail
                          : "the controller closed the connection before any node registered");
    }
}

static void on_registered(cl_session_t *s, const Colossus__Registered *r)
{
    if (r->handle >= (uint32_t)s->n) {
        cl_uconn_close(s->conn, "registration reply for an unknown handle");
        return;
    }
    sess_node_t *n = &s->nodes[r->handle];
    if (s->reg_outstanding > 0) s->reg_outstanding--;
    if (n->dropped) { /* its agent left (a relay) while the Register was on its way */
        if (r->ok) {
            detach_add(s, r->node);
            cl_session_detach_flush(s);
        }
        register_more(s);
        return;
    }
    if (!r->ok) {
        char why[300];
        snprintf(why, sizeof why, "registration of %s refused: %.200s", n->name, r->error);
        if (strcmp(s->last_fail, why)) {
            cl_daemon_log(s->who, "%s", why);
            snprintf(s->last_fail, sizeof s->last_fail, "%s", why);
        }
        if (s->ops.refused) {
            s->ops.refused(s->arg, (int)r->handle, r);
            if (s->destroyed) return;
        }
        if (s->n == 1 && !s->many) {
            s->refused = s->quiet = true;
            cl_uconn_close(s->conn, NULL);
            return;
        }
        register_more(s);
        return;
    }
    if (s->ops.registered && !s->ops.registered(s->arg, (int)r->handle, r)) {
        if (s->destroyed) return;
        /* The owner refuses this controller (and said why): nothing it sent after this
         * Registered is delivered (the connection reads no further frame once closing), and
         * the next try comes after the backoff, quietly. */
        snprintf(s->last_fail, sizeof s->last_fail, "refused the controller at %s",
                 s->controller);
        s->refused = s->quiet = true;
        cl_uconn_close(s->conn, NULL);
        return;
    }
    if (s->destroyed) return;
    n->id = r->node;
    n->registered = true;
    id_bind(s, n->id, (int)r->handle);
    s->hb_ms = r->heartbeat_ms ? r->heartbeat_ms : 1000;
    s->dead_ms = r->dead_after_ms;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->conn_registered = true;
    s->quiet = false;
    s->last_fail[0] = 0;
    if (s->n == 1 || r->handle == 0 || r->handle + 1 == (uint32_t)s->n)
        cl_daemon_log(s->who, "registered %s as node %u, heartbeat every %u ms", n->name, n->id,
                      s->hb_ms);
    if (!s->hb_started) {
        s->hb_started = true;
        s->beat = 0;
        uint32_t every = s->hb_ms / s->lease_beats;
        uv_timer_start(&s->hb_timer, on_heartbeat, 0, every ? every : 1);
    }
    register_more(s);
}

/* The carried node a controller message names, as an index; -1 for none. */
static int msg_node(const cl_session_t *s, const Colossus__Msg *m)
{
    uint32_t id;
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_LAUNCH:
        id = m->launch->node;
        break;
    case COLOSSUS__MSG__BODY_STOP:
        id = m->stop->node;
        break;
    case COLOSSUS__MSG__BODY_EXITED_ACK:
        id = m->exited_ack->node;
        break;
    case COLOSSUS__MSG__BODY_FENCE:
        id = m->fence->node;
        break;
    case COLOSSUS__MSG__BODY_LOG_FETCH:
        id = m->log_fetch->node;
        break;
    case COLOSSUS__MSG__BODY_CHECK_ORDER:
        id = m->check_order->node;
        break;
    case COLOSSUS__MSG__BODY_UPGRADE:
        id = m->upgrade->node;
        break;
    default:
        return -1;
    }
    return cl_session_node_index(s, id);
}

uint32_t cl_session_lease_ms(uint32_t heartbeat_ms, uint32_t dead_after_ms)
{
    uint32_t margin = heartbeat_ms > dead_after_ms / 4 ? heartbeat_ms : dead_after_ms / 4;
    return dead_after_ms > margin ? dead_after_ms - margin : dead_after_ms / 2;
}

/* No ack for the lease's length (opts.leave_at_lease): this path is left for the next. */
static void ack_overdue(uv_timer_t *t)
{
    cl_session_t *s = t->data;
    if (!s->conn || s->conn->closing) return;
    cl_daemon_log(s->who, "no answer through %s for %u ms (the lease): trying the next address",
                  s->conn->peer, cl_session_lease_ms(s->hb_ms, s->dead_ms));
    s->last_ack = 0;
    s->next_addr++;
    cl_uconn_close(s->conn, NULL);
}

/* The leader heard heartbeat seq: the lease runs from when it was sent (never from the
 * ack's arrival: the controller's dead-after counts from when it heard it, which is later). */
static void on_hb_ack(cl_session_t *s, const Colossus__HeartbeatAck *a)
{
    if (!s->ops.lease || !a->seq || a->seq > s->hb_seq || s->hb_seq - a->seq >= 16) return;
    s->last_ack = ag_lease_now();
    if (!s->dead_ms) return;
    uint32_t lease_ms = cl_session_lease_ms(s->hb_ms, s->dead_ms);
    /* the retry timer is idle while connected: it watches for the next ack meanwhile */
    if (s->leave_at_lease) uv_timer_start(&s->retry_timer, ack_overdue, lease_ms, 0);
    uint64_t len = (uint64_t)lease_ms * 1000000u;
    s->ops.lease(s->arg, a->seq, s->hb_sent[a->seq % 16] + len);
}

static void on_msg(cl_uconn_t *c, Colossus__Msg *m)
{
    cl_session_t *s = c->data;
    if (s->destroyed) return;
    if (m->body_case == COLOSSUS__MSG__BODY_REGISTERED)
        on_registered(s, m->registered);
    else if (m->body_case == COLOSSUS__MSG__BODY_HEARTBEAT_ACK)
        on_hb_ack(s, m->heartbeat_ack);
    else if (m->body_case == COLOSSUS__MSG__BODY_REFUSED) /* the last frame: it closes */
        cl_daemon_log(s->who, "the controller at %s ends the connection: %s (%.200s)", c->peer,
                      cl_refused_why_name(m->refused->why), m->refused->reason);
    else
        s->ops.message(s->arg, msg_node(s, m), m);
}

static void uconn_open_failed(uv_handle_t *h)
{
    free(h); /* the cl_uconn_t, whose first member is the handle */
}

static void try_connect(uv_timer_t *t)
{
    cl_session_t *s = t->data;
    cl_error_t err;
    /* one round over the list (the leader answers, standbys refuse the connection), starting
     * at the address that answered last */
    cl_client_fail_t fail = {0};
    cl_client_t *cc =
        cl_client_dial_list(s->controller, &s->cred, COLOSSUS__ROLE__ROLE_AGENT, s->peer,
                            s->timeout_ms, 0, &s->next_addr, &fail, &err);
    if (!cc) {
        /* A relay whose own upstream is coming back (docs/relay.md) refuses for a moment:
         * try it again soon, not after a growing delay (issue 16: each tier waited up to a
         * second more after a controller restart). */
        if (fail.stage == CL_CLIENT_REFUSED && fail.why == COLOSSUS__REFUSED__WHY__RECONNECTING)
            s->backoff_ms = BACKOFF_MIN_MS / 2;
        failed(s, err.msg);
        return;
    }
    /* The address the carried nodes' ranks are reachable at: this end of the connection. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!s->addr[0] && getsockname(cc->fd, (struct sockaddr *)&ss, &sl) == 0 &&
        ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, s->addr, sizeof s->addr);
    cl_uconn_t *c = cl_xmalloc(sizeof *c);
    int rc = cl_uconn_init(s->loop, c, on_msg, on_conn_closed, s);
    if (rc == 0 && (rc = uv_tcp_open(&c->tcp, cc->fd)) < 0)
        uv_close((uv_handle_t *)&c->tcp, uconn_open_failed); /* initialised: close, then free */
    else if (rc < 0)
        free(c);
    if (rc < 0) {
        cl_client_close(cc);
        char why[200];
        snprintf(why, sizeof why, "cannot set up the controller connection: %s",
                 uv_strerror(rc));
        failed(s, why);
        return;
    }
    c->sess = cc->sess;
    const uint8_t *unread;
    size_t n = cl_client_unread(cc, &unread); /* read with the handshake: the first frames */
    if (n && cl_buf_append(&c->in, unread, n) < 0) cl_oom(n, __FILE__, __LINE__);
    cc->fd = -1; /* now libuv's */
    char where[sizeof cc->addr];
    snprintf(where, sizeof where, "%s", cc->addr);
    cl_client_close(cc);
    s->conn = c;
    s->conn_registered = false;
    s->reg_next = s->reg_outstanding = 0;
    for (int i = 0; i < s->reg_qn; i++)
        s->nodes[s->reg_q[i]].queued = false;
    s->reg_qn = 0; /* reg_next goes over every node again */
    s->open_handles++;
    cl_uconn_start(c);
    if (!s->quiet) cl_daemon_log(s->who, "connected to %s", where);
    if (s->ops.up) s->ops.up(s->arg);
    if (!s->destroyed) register_more(s);
}

/* ------------------------------------------------------------------ life ---------------- */

cl_session_t *cl_session_create(uv_loop_t *loop, const cl_session_opts_t *o,
                                const cl_session_ops_t *ops, void *arg, cl_error_t *err)
{
    if (!loop || !o || !ops || !ops->message) {
        cl_err(err, "session: loop, options and a message callback are required");
        return NULL;
    }
    if (!o->controller || !o->cred) {
        cl_err(err, "session: the controller address and a credential are required");
        return NULL;
    }
    if (strlen(o->controller) >= sizeof((cl_session_t *)0)->controller) {
        cl_err(err, "session: controller address too long");
        return NULL;
    }
    if (cl_addr_list_check(o->controller, err) < 0) return NULL;
    cl_session_t *s = cl_xcalloc(1, sizeof *s);
    s->loop = loop;
    snprintf(s->controller, sizeof s->controller, "%s", o->controller);
    snprintf(s->peer, sizeof s->peer, "%s", o->peer ? o->peer : "");
    snprintf(s->who, sizeof s->who, "%s", o->who ? o->who : "agent");
    s->cred = *o->cred;
    s->timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000;
    s->ops = *ops;
    s->arg = arg;
    s->many = o->many;
    s->lease_beats = o->lease_beats > 1 && o->lease_beats <= 16 ? o->lease_beats : 1;
    s->reg_window = o->reg_window ? o->reg_window : CL_SESSION_REG_WINDOW;
    s->leave_at_lease = o->leave_at_lease;
    s->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(loop, &s->hb_timer);
    uv_timer_init(loop, &s->retry_timer);
    s->hb_timer.data = s->retry_timer.data = s;
    s->open_handles = 2;
    return s;
}

int cl_session_add_node(cl_session_t *s, const char *name, cl_error_t *err)
{
    size_t len = name ? strlen(name) : 0;
    if (!len || len > CL_SESSION_NAME_MAX || strchr(name, ','))
        return cl_err(err, "node name must be 1..%d characters without commas",
                      CL_SESSION_NAME_MAX);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1;
        s->nodes = cl_xrealloc(s->nodes, (size_t)s->cap * sizeof *s->nodes);
        s->hb_ids = cl_xrealloc(s->hb_ids, (size_t)s->cap * sizeof *s->hb_ids);
    }
    sess_node_t *n = &s->nodes[s->n];
    memset(n, 0, sizeof *n);
    memcpy(n->name, name, len + 1);
    s->n++;
    id_table_fit(s);
    register_more(s);
    return s->n - 1;
}

void cl_session_carry(cl_session_t *s, int node, bool carried)
{
    if (node < 0 || node >= s->n) return;
    sess_node_t *n = &s->nodes[node];
    if (!carried) {
        if (n->dropped) return;
        n->dropped = true;
        if (!n->registered) return; /* unsent, or its reply will say (on_registered) */
        n->registered = false;
        detach_add(s, n->id);
        return;
    }
    if (!n->dropped) return;
    n->dropped = false;
    if (node >= s->reg_next || n->queued) {
        register_more(s);
        return;
    }
    if (s->reg_qn == s->reg_qcap) {
        s->reg_qcap = s->reg_qcap ? 2 * s->reg_qcap : 16;
        s->reg_q = cl_xrealloc(s->reg_q, (size_t)s->reg_qcap * sizeof *s->reg_q);
    }
    s->reg_q[s->reg_qn++] = node;
    n->queued = true;
    register_more(s);
}

bool cl_session_carried(const cl_session_t *s, int node)
{
    return node >= 0 && node < s->n && !s->nodes[node].dropped;
}

void cl_session_start(cl_session_t *s)
{
    if (s->started) return;
    s->started = true;
    uv_timer_start(&s->retry_timer, try_connect, 0, 0);
}

void cl_session_destroy(cl_session_t *s)
{
    if (!s || s->destroyed) return;
    int saved = errno;
    s->destroyed = true;
    uv_timer_stop(&s->hb_timer);
    uv_timer_stop(&s->retry_timer);
    uv_close((uv_handle_t *)&s->hb_timer, timer_closed);
    uv_close((uv_handle_t *)&s->retry_timer, timer_closed);
    if (s->conn) cl_uconn_close(s->conn, NULL); /* on_conn_closed() counts it */
    errno = saved;
}

/* ------------------------------------------------------------------ queries ------------- */

int cl_session_nodes(const cl_session_t *s)
{
    return s->n;
}

const char *cl_session_node_name(const cl_session_t *s, int node)
{
    return node >= 0 && node < s->n ? s->nodes[node].name : NULL;
}

bool cl_session_node_id(const cl_session_t *s, int node, uint32_t *id)
{
    if (node < 0 || node >= s->n || !s->nodes[node].registered) return false;
    *id = s->nodes[node].id;
    return true;
}

bool cl_session_connected(const cl_session_t *s)
{
    return s->conn && !s->conn->closing;
}

const char *cl_session_addr(const cl_session_t *s)
{
    return s->addr;
}

int cl_session_retry_ms(const cl_session_t *s)
{
    return s->backoff_ms;
}

int cl_session_reg_outstanding(const cl_session_t *s)
{
    return s->reg_outstanding;
}
