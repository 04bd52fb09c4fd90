/* relay.c - `colossus relay` (issue 16; see relay.h): agents downstream, one session up. */
#include "relay/relay.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "agent/session.h"
#include "proto/client.h"
#include "proto/frame.h"
#include "proto/uvconn.h"
#include "util/flags.h"
#include "util/util.h"

#define WHO "relay"
#define AUTH_TIMEOUT_MS 10000
#define HEARD_PERIODS                                                                          \
    1.5             /* a node is heartbeated up while its agent was heard this recently        \
                     */
#define LOGREQS 256 /* LogFetch requests in flight, remembered for their LogData */
/* Registrations on their way upstream at once: an agent's 512, times the hops' extra round
 * trips (issue 16: 550,000 nodes through two tiers registered at half the direct rate). */
#define RL_REG_WINDOW 4096

typedef struct relay relay_t;

typedef struct rl_agent {
    cl_uconn_t u; /* first member */
    relay_t *r;
    bool authed;
    uint8_t nonce[CL_NONCE_BYTES];
    char name[64]; /* Auth.peer */
    int *nodes;    /* the relay's node indices this connection carries */
    int nn, ncap;
    uint64_t hb_seq;                  /* the latest Heartbeat.seq it sent */
    uint64_t at_seq[16], at_rseq[16]; /* hb_seq when the relay's heartbeat rseq left */
    uint64_t acked;                   /* the latest seq acked to it */
    bool vouches;                     /* a lower relay: its frames vouch for its nodes */
    uint64_t heard_ms;                /* its latest heartbeat */
    uint32_t mark, group;             /* scratch of split() */
    struct rl_agent *next, *prev;
    uv_timer_t auth_timer;
    int handles;
} rl_agent_t;

typedef struct rl_node {
    char name[CL_SESSION_NAME_MAX + 1];
    rl_agent_t *agent; /* NULL: not carried */
    uint32_t handle;   /* the agent's Register.handle */
    uint8_t *reg;      /* its Register, packed, via extended */
    size_t reg_len;
    uint64_t heard_ms;
    bool silent;              /* a lower relay stopped vouching for it (or has not yet) */
    bool said_live;           /* the parent was told it is heard (Heartbeat.vouch) */
    Colossus__Register *fill; /* between register_fill and register_done */
} rl_node_t;

struct relay {
    uv_loop_t *loop;
    cl_session_t *up;
    char name[CL_SESSION_NAME_MAX + 1];
    uint8_t key[CL_KEY_BYTES];
    uv_tcp_t listener;
    char bound[96];
    rl_node_t *nodes; /* by session index */
    int nnodes, cap;
    uint32_t *ntab; /* name -> index + 1, open addressing */
    size_t ntab_cap;
    rl_agent_t *agents;
    int nagents;
    uint32_t hb_ms;
    bool vouch_up;                 /* the parent takes Heartbeat.vouch (Registered.vouch) */
    uint32_t *hb_back, *hb_silent; /* one vouching frame's changes: nnodes entries each */
    int hb_cap;
    uint64_t lost_ms; /* loop time the upstream was lost; 0: connected or never */
    uint8_t **health; /* packed NodeHealth reports for the next heartbeat */
    size_t *health_len, nhealth, health_cap;
    Colossus__NodeHealth **hb_health; /* unpacked for one heartbeat */
    uint64_t logreq[LOGREQS];
    rl_agent_t *logreq_agent[LOGREQS];
    uint32_t mark;
    uv_signal_t sigterm, sigint;
    bool stopping;
};

/* ------------------------------------------------------------------ nodes by name ------- */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static uint32_t *name_slot(relay_t *r, const char *name)
{
    size_t mask = r->ntab_cap - 1, h = name_hash(name) & mask;
    while (r->ntab[h] && strcmp(r->nodes[r->ntab[h] - 1].name, name))
        h = (h + 1) & mask;
    return &r->ntab[h];
}

static int node_find(relay_t *r, const char *name)
{
    if (!r->ntab_cap) return -1;
    uint32_t v = *name_slot(r, name);
    return v ? (int)v - 1 : -1;
}

/* A new node record at index r->nnodes (the session's next index). */
static rl_node_t *node_new(relay_t *r, const char *name)
{
    if (r->nnodes == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->nodes = cl_xrealloc(r->nodes, (size_t)r->cap * sizeof *r->nodes);
    }
    if (2 * (size_t)(r->nnodes + 1) > r->ntab_cap) {
        size_t cap = r->ntab_cap ? 2 * r->ntab_cap : 64;
        free(r->ntab);
        r->ntab = cl_xcalloc(cap, sizeof *r->ntab);
        r->ntab_cap = cap;
        for (int i = 0; i < r->nnodes; i++)
            *name_slot(r, r->nodes[i].name) = (uint32_t)i + 1;
    }
    rl_node_t *n = &r->nodes[r->nnodes];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    *name_slot(r, name) = (uint32_t)r->nnodes + 1;
    r->nnodes++;
    return n;
}

/* The agent carrying the node with compact id `id`, or NULL. */
static rl_agent_t *agent_of(relay_t *r, uint32_t id)
{
    int i = cl_session_node_index(r->up, id);
    return i >= 0 && i < r->nnodes ? r->nodes[i].agent : NULL;
}

/* ------------------------------------------------------------------ agents -------------- */

static void agent_send(rl_agent_t *a, const Colossus__Msg *m)
{
    if (cl_uconn_send(&a->u, m) == 0) cl_uconn_flush(&a->u);
}

static void agent_release(rl_agent_t *a)
{
    if (--a->handles > 0) return;
    free(a->nodes);
    free(a);
}

static void auth_timer_closed(uv_handle_t *h)
{
    agent_release(h->data);
}

/* The connection is gone: its nodes are not carried any more (the controller is told). */
static void agent_closed(cl_uconn_t *u)
{
    rl_agent_t *a = u->data;
    relay_t *r = a->r;
    for (int k = 0; k < a->nn; k++) {
        rl_node_t *n = &r->nodes[a->nodes[k]];
        if (n->agent != a) continue;
        n->agent = NULL;
        cl_session_carry(r->up, a->nodes[k], false);
    }
    cl_session_detach_flush(r->up); /* one Detach for all of them */
    for (int i = 0; i < LOGREQS; i++)
        if (r->logreq_agent[i] == a) r->logreq_agent[i] = NULL;
    if (a->authed && a->nn)
        cl_daemon_log(WHO, "agent %s (%s) left: %d node%s detached", a->u.peer, a->name, a->nn,
                      a->nn == 1 ? "" : "s");
    if (a->prev)
        a->prev->next = a->next;
    else
        r->agents = a->next;
    if (a->next) a->next->prev = a->prev;
    r->nagents--;
    uv_timer_stop(&a->auth_timer);
    uv_close((uv_handle_t *)&a->auth_timer, auth_timer_closed);
    agent_release(a);
}

static void refuse(rl_agent_t *a, Colossus__Refused__Why why, const char *reason)
{
    if (a->u.closing || a->u.refusing) return;
    if (a->authed) cl_daemon_log(WHO, "closing agent %s (%s): %s", a->u.peer, a->name, reason);
    cl_uconn_refuse(&a->u, why, reason);
}

static void on_auth_timeout(uv_timer_t *t)
{
    refuse(t->data, COLOSSUS__REFUSED__WHY__TIMEOUT, "no authentication within 10 s");
}

/* The cluster key's challenge-response (docs/protocol.md), as the controller does it. */
static void agent_auth(rl_agent_t *a, const Colossus__Auth *au)
{
    if (au->nonce.len != CL_NONCE_BYTES || au->role != COLOSSUS__ROLE__ROLE_AGENT) {
        refuse(a, COLOSSUS__REFUSED__WHY__BAD_INPUT,
               au->role != COLOSSUS__ROLE__ROLE_AGENT
                   ? "a relay carries agents only: clients connect to the controller"
                   : "malformed authentication");
        return;
    }
    if (au->cred && au->cred->kind != COLOSSUS__CREDENTIAL__KIND__CLUSTER_KEY) {
        refuse(a, COLOSSUS__REFUSED__WHY__BAD_CREDENTIAL,
               "this relay takes the cluster key only (a node credential goes to the "
               "controller straight)");
        return;
    }
    uint8_t proof[32];
    int rc = cl_uconn_key_proof(&a->u, WHO, a->r->key, a->nonce, au, proof);
    if (rc == 0) refuse(a, COLOSSUS__REFUSED__WHY__BAD_INPUT, "malformed authentication");
    if (rc <= 0) return;
    Colossus__AuthOk ok = COLOSSUS__AUTH_OK__INIT;
    ok.proof.data = proof;
    ok.proof.len = sizeof proof;
    ok.user = "cluster key";
    ok.role = "agent";
    cl_uconn_auth_ok(&a->u, &ok, a->r->key, a->nonce, au->nonce.data);
    a->authed = true;
    snprintf(a->name, sizeof a->name, "%.63s", au->peer ? au->peer : "");
    uv_timer_stop(&a->auth_timer);
    cl_daemon_log(WHO, "agent connection from %s (%s)", a->u.peer, a->name);
}

static void reply_refused(rl_agent_t *a, uint32_t handle, const char *why)
{
    Colossus__Registered rr = COLOSSUS__REGISTERED__INIT;
    rr.handle = handle;
    rr.error = (char *)why;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTERED;
    m.registered = &rr;
    agent_send(a, &m);
}

static void agent_register(rl_agent_t *a, const Colossus__Register *reg)
{
    relay_t *r = a->r;
    char why[256];
    size_t len = reg->name ? strlen(reg->name) : 0;
    if (!len || len > CL_SESSION_NAME_MAX || strchr(reg->name, ',')) {
        reply_refused(a, reg->handle, "node name must be 1..63 characters without commas");
        return;
    }
    if (cl_list_has(reg->via, r->name)) {
        snprintf(why, sizeof why,
                 "a loop in the relay tree: %s carries it already (via %.100s)", r->name,
                 reg->via);
        cl_daemon_log(WHO, "refused node %s from %s: %s", reg->name, a->u.peer, why);
        reply_refused(a, reg->handle, why);
        return;
    }
    if (strlen(reg->via) + strlen(r->name) + 2 > 128) {
        reply_refused(a, reg->handle, "the relay chain (via) is too long");
        return;
    }
    int i = node_find(r, reg->name);
    if (i >= 0 && r->nodes[i].agent && r->nodes[i].agent != a) {
        snprintf(why, sizeof why, "node %s is carried by another agent of relay %s (%.60s)",
                 reg->name, r->name, r->nodes[i].agent->u.peer);
        reply_refused(a, reg->handle, why);
        return;
    }
    /* What goes up: the agent's Register, through this relay, at the agent's address. */
    Colossus__Register up = *reg;
    char via[160], addr[64];
    snprintf(via, sizeof via, "%s%s%s", reg->via, reg->via[0] ? "," : "", r->name);
    up.via = via;
    if (!reg->addr[0]) {
        snprintf(addr, sizeof addr, "%.63s", a->u.peer);
        char *colon = strrchr(addr, ':');
        if (colon) *colon = 0;
        up.addr = addr;
    }
    size_t plen = colossus__register__get_packed_size(&up);
    uint8_t *packed = cl_xmalloc(plen);
    colossus__register__pack(&up, packed);
    rl_node_t *n = i >= 0 ? &r->nodes[i] : node_new(r, reg->name);
    free(n->reg);
    n->reg = packed;
    n->reg_len = plen;
    n->handle = reg->handle;
    n->heard_ms = uv_now(r->loop);
    n->silent = true;
    n->said_live = false;
    bool again = n->agent == a;
    n->agent = a;
    if (!again) {
        if (a->nn == a->ncap) {
            a->ncap = a->ncap ? 2 * a->ncap : 4;
            a->nodes = cl_xrealloc(a->nodes, (size_t)a->ncap * sizeof *a->nodes);
        }
        a->nodes[a->nn++] = i >= 0 ? i : r->nnodes - 1;
    }
    cl_error_t err;
    if (i < 0) {
        if (cl_session_add_node(r->up, reg->name, &err) < 0) /* registers (register_fill) */
            reply_refused(a, reg->handle, err.msg);
    } else {
        if (again) cl_session_carry(r->up, i, false); /* registered anew, with what it says */
        cl_session_carry(r->up, i, true);
    }
}

/* Every node a message names must be one this agent carries. */
static bool carries(rl_agent_t *a, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (agent_of(a->r, ids[i]) != a) return false;
    return true;
}

static void health_keep(relay_t *r, const Colossus__NodeHealth *h)
{
    if (r->nhealth == r->health_cap) {
        r->health_cap = r->health_cap ? 2 * r->health_cap : 16;
        r->health = cl_xrealloc(r->health, r->health_cap * sizeof *r->health);
        r->health_len = cl_xrealloc(r->health_len, r->health_cap * sizeof *r->health_len);
    }
    size_t len = colossus__node_health__get_packed_size(h);
    r->health[r->nhealth] = cl_xmalloc(len);
    colossus__node_health__pack(h, r->health[r->nhealth]);
    r->health_len[r->nhealth++] = len;
}

/* The node carried by a whose controller id is id, or NULL. */
static rl_node_t *node_of(rl_agent_t *a, uint32_t id)
{
    int k = cl_session_node_index(a->r->up, id);
    return k >= 0 && k < a->r->nnodes && a->r->nodes[k].agent == a ? &a->r->nodes[k] : NULL;
}

/* An agent's heartbeat lists its nodes; a lower relay's (vouch) says what changed, and
 * vouches for the rest of its nodes by coming at all. */
static void agent_heartbeat(rl_agent_t *a, const Colossus__Heartbeat *hb)
{
    relay_t *r = a->r;
    uint64_t now = uv_now(r->loop);
    rl_node_t *n;
    a->heard_ms = now;
    a->vouches = hb->vouch;
    for (size_t i = 0; i < hb->n_nodes; i++)
        if ((n = node_of(a, hb->nodes[i]))) {
            n->heard_ms = now;
            n->silent = false;
        }
    for (size_t i = 0; i < hb->n_silent && hb->vouch; i++)
        if ((n = node_of(a, hb->silent[i]))) n->silent = true;
    bool urgent = false;
    for (size_t i = 0; i < hb->n_health; i++) {
        const Colossus__NodeHealth *h = hb->health[i];
        if (agent_of(r, h->node) != a) continue;
        health_keep(r, h);
        urgent |= h->action && h->action[0] && strcmp(h->action, "none");
    }
    if (hb->seq > a->hb_seq) a->hb_seq = hb->seq;
    if (urgent) cl_session_heartbeat_now(r->up);
}

static void agent_msg(cl_uconn_t *u, Colossus__Msg *m)
{
    rl_agent_t *a = u->data;
    relay_t *r = a->r;
    if (!a->authed) {
        if (m->body_case == COLOSSUS__MSG__BODY_AUTH)
            agent_auth(a, m->auth);
        else
            refuse(a, COLOSSUS__REFUSED__WHY__BAD_INPUT, "expected authentication");
        return;
    }
    bool ok;
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_REGISTER:
        agent_register(a, m->register_);
        return;
    case COLOSSUS__MSG__BODY_HEARTBEAT:
        agent_heartbeat(a, m->heartbeat);
        return;
    case COLOSSUS__MSG__BODY_EXITED:
        ok = carries(a, &m->exited->node, 1);
        break;
    case COLOSSUS__MSG__BODY_STARTED:
        ok = carries(a, &m->started->node, 1);
        break;
    case COLOSSUS__MSG__BODY_POWER_APPLIED:
        ok = carries(a, m->power_applied->nodes, m->power_applied->n_nodes);
        break;
    case COLOSSUS__MSG__BODY_LOG_DATA: {
        /* only the agent the request went to answers it; an answer whose slot a later
         * request took is dropped (the controller's request times out), not a fault */
        size_t k = m->log_data->req % LOGREQS;
        if (r->logreq[k] != m->log_data->req || !r->logreq_agent[k]) return;
        ok = r->logreq_agent[k] == a;
        if (ok) r->logreq_agent[k] = NULL;
        break;
    }
    default: {
        char why[80];
        snprintf(why, sizeof why, "unexpected message %d from an agent", m->body_case);
        refuse(a, COLOSSUS__REFUSED__WHY__BAD_INPUT, why);
        return;
    }
    }
    if (!ok) {
        refuse(a, COLOSSUS__REFUSED__WHY__BAD_INPUT,
               "a message for a node this connection does not carry");
        return;
    }
    cl_session_send(r->up, m); /* lost with the upstream: the agent says again on return */
}

static void agent_bad_frame(cl_uconn_t *u, const char *why)
{
    rl_agent_t *a = u->data;
    cl_daemon_log(WHO, "closing agent %s (%s): %s", u->peer, a->name, why);
}

static void on_accept(uv_stream_t *ls, int status)
{
    relay_t *r = ls->data;
    if (status < 0) {
        cl_daemon_log(WHO, "accept on %s: %s", r->bound, uv_strerror(status));
        return;
    }
    rl_agent_t *a = cl_xcalloc(1, sizeof *a);
    a->r = r;
    cl_uconn_init(r->loop, &a->u, agent_msg, agent_closed, a);
    a->u.on_bad = agent_bad_frame;
    if (uv_accept(ls, (uv_stream_t *)&a->u.tcp) < 0) {
        uv_close((uv_handle_t *)&a->u.tcp, (uv_close_cb)free); /* a is the handle's block */
        return;
    }
    a->next = r->agents;
    if (r->agents) r->agents->prev = a;
    r->agents = a;
    r->nagents++;
    a->handles = 2;
    uv_timer_init(r->loop, &a->auth_timer);
    a->auth_timer.data = a;
    cl_sess_init_handshake(&a->u.sess, true);
    cl_uconn_start(&a->u);
    if (!cl_session_connected(r->up)) {
        /* No controller now: the agent retries here for a while (a controller restart),
         * then goes on to its next address (another relay, or the controller). */
        bool grace = r->lost_ms && uv_now(r->loop) - r->lost_ms < RL_UPSTREAM_GRACE_MS;
        cl_uconn_refuse(&a->u,
                        grace ? COLOSSUS__REFUSED__WHY__RECONNECTING
                              : COLOSSUS__REFUSED__WHY__SHUTTING_DOWN,
                        "this relay is not connected to a controller now");
        return;
    }
    uv_timer_start(&a->auth_timer, on_auth_timeout, AUTH_TIMEOUT_MS, 0);
    cl_uconn_hello(&a->u, a->nonce, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ upstream ------------ */

static void up_register_fill(void *arg, int node, Colossus__Register *reg)
{
    relay_t *r = arg;
    rl_node_t *n = &r->nodes[node];
    Colossus__Register *st = colossus__register__unpack(NULL, n->reg_len, n->reg);
    if (!st) return; /* packed here: cannot fail but for memory */
    uint32_t handle = reg->handle;
    char *name = reg->name;
    *reg = *st;
    reg->handle = handle;
    reg->name = name;
    n->fill = st;
}

static void up_register_done(void *arg, int node, Colossus__Register *reg)
{
    relay_t *r = arg;
    rl_node_t *n = &r->nodes[node];
    if (n->fill) colossus__register__free_unpacked(n->fill, NULL);
    n->fill = NULL;
}

static bool up_registered(void *arg, int node, const Colossus__Registered *rr)
{
    relay_t *r = arg;
    rl_node_t *n = &r->nodes[node];
    r->hb_ms = rr->heartbeat_ms ? rr->heartbeat_ms : 1000;
    r->vouch_up = rr->vouch;
    n->said_live = false;
    if (!n->agent) return true; /* gone meanwhile: the session detaches it */
    Colossus__Registered fwd = *rr;
    fwd.handle = n->handle;
    fwd.vouch = true; /* this relay takes a lower relay's vouching frames */
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTERED;
    m.registered = &fwd;
    agent_send(n->agent, &m);
    n->heard_ms = uv_now(r->loop);
    return true;
}

static void up_refused(void *arg, int node, const Colossus__Registered *rr)
{
    relay_t *r = arg;
    rl_node_t *n = &r->nodes[node];
    if (!n->agent) return;
    reply_refused(n->agent, n->handle, rr->error);
    n->agent = NULL; /* its agent may try again; the node is not carried meanwhile */
    cl_session_carry(r->up, node, false);
}

/* Whether n's agent was heard from lately: its own heartbeats, or a lower relay's frames
 * while it vouches for n. */
static bool node_heard(const rl_node_t *n, uint64_t now, uint64_t fresh)
{
    const rl_agent_t *a = n->agent;
    if (!a) return false;
    if (a->vouches) return !n->silent && now - a->heard_ms <= fresh;
    return now - n->heard_ms <= fresh;
}

/* To a parent that takes it (Registered.vouch), only what changed: the nodes heard again
 * (or first) and those no longer heard; the frame itself vouches for the rest. The scan is
 * the relay's (its ~6,700 nodes at Colossus 2's fan-out), the controller's work is O(1). */
static void vouch_fill(relay_t *r, Colossus__Heartbeat *hb, uint64_t now, uint64_t fresh)
{
    if (r->hb_cap < r->nnodes) {
        r->hb_cap = r->nnodes;
        r->hb_back = cl_xrealloc(r->hb_back, (size_t)r->hb_cap * sizeof *r->hb_back);
        r->hb_silent = cl_xrealloc(r->hb_silent, (size_t)r->hb_cap * sizeof *r->hb_silent);
    }
    size_t nb = 0, ns = 0;
    for (int j = 0; j < r->nnodes; j++) {
        rl_node_t *n = &r->nodes[j];
        uint32_t id;
        if (!cl_session_node_id(r->up, j, &id)) continue; /* not registered up there now */
        bool live = node_heard(n, now, fresh);
        if (live == n->said_live) continue;
        n->said_live = live;
        if (live)
            r->hb_back[nb++] = id;
        else
            r->hb_silent[ns++] = id;
    }
    hb->vouch = true;
    hb->nodes = r->hb_back;
    hb->n_nodes = nb;
    hb->silent = r->hb_silent;
    hb->n_silent = ns;
}

/* Leave out (or tell the parent of) the nodes whose agents have not been heard from lately,
 * remember where each agent's heartbeats stood when this one left, add the health reports
 * kept. */
static void up_heartbeat_fill(void *arg, Colossus__Heartbeat *hb)
{
    relay_t *r = arg;
    uint64_t now = uv_now(r->loop), fresh = (uint64_t)(HEARD_PERIODS * r->hb_ms);
    if (r->vouch_up) {
        vouch_fill(r, hb, now, fresh);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < hb->n_nodes; i++) {
            int j = cl_session_node_index(r->up, hb->nodes[i]);
            if (j >= 0 && node_heard(&r->nodes[j], now, fresh)) hb->nodes[k++] = hb->nodes[i];
        }
        hb->n_nodes = k;
    }
    for (rl_agent_t *a = r->agents; a; a = a->next) {
        a->at_seq[hb->seq % 16] = a->hb_seq;
        a->at_rseq[hb->seq % 16] = hb->seq;
    }
    if (!r->nhealth) return;
    r->hb_health = cl_xcalloc(r->nhealth, sizeof *r->hb_health);
    size_t n = 0;
    for (size_t i = 0; i < r->nhealth; i++) {
        Colossus__NodeHealth *h =
            colossus__node_health__unpack(NULL, r->health_len[i], r->health[i]);
        if (h) r->hb_health[n++] = h;
        free(r->health[i]);
    }
    r->nhealth = 0;
    hb->health = r->hb_health;
    hb->n_health = n;
}

static void up_heartbeat_done(void *arg, Colossus__Heartbeat *hb)
{
    relay_t *r = arg;
    for (size_t i = 0; i < hb->n_health; i++)
        colossus__node_health__free_unpacked(hb->health[i], NULL);
    free(r->hb_health);
    r->hb_health = NULL;
}

/* The leader heard the relay's heartbeat seq: so every agent heartbeat that had reached the
 * relay before it left is heard (docs/protocol.md, "The node's lease"). */
static void up_lease(void *arg, uint64_t seq, uint64_t until)
{
    relay_t *r = arg;
    for (rl_agent_t *a = r->agents; a; a = a->next) {
        uint64_t s = a->at_seq[seq % 16];
        if (a->at_rseq[seq % 16] != seq || !s || s <= a->acked) continue;
        a->acked = s;
        Colossus__HeartbeatAck ack = COLOSSUS__HEARTBEAT_ACK__INIT;
        ack.seq = s;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT_ACK;
        m.heartbeat_ack = &ack;
        agent_send(a, &m);
    }
}

/* The groups of ids by agent: the agents in *out (n_out), and the ids reordered so that each
 * agent's come together, in order (group g is ids [start[g], start[g + 1])). Ids of no agent
 * are dropped. Returns the ids kept. */
static size_t split(relay_t *r, const uint32_t *ids, size_t n, uint32_t *sorted,
                    rl_agent_t **agents, size_t *start, size_t *nagents)
{
    uint32_t stamp = ++r->mark;
    size_t ng = 0;
    rl_agent_t **of = cl_xmalloc((n ? n : 1) * sizeof *of);
    size_t *count = cl_xcalloc(n + 1, sizeof *count);
    for (size_t i = 0; i < n; i++) {
        rl_agent_t *a = of[i] = agent_of(r, ids[i]);
        if (!a) continue;
        if (a->mark != stamp) {
            a->mark = stamp;
            a->group = (uint32_t)ng;
            agents[ng++] = a;
        }
        count[a->group]++;
    }
    size_t kept = 0;
    for (size_t g = 0; g < ng; g++) {
        start[g] = kept;
        kept += count[g];
        count[g] = start[g];
    }
    start[ng] = kept;
    for (size_t i = 0; i < n; i++)
        if (of[i]) sorted[count[of[i]->group]++] = (uint32_t)i;
    free(of);
    free(count);
    *nagents = ng;
    return kept;
}

/* A Launch for several nodes (Launch.more), one per agent carrying some of them. */
static void route_launch(relay_t *r, const Colossus__Launch *L)
{
    size_t n = 1 + L->n_more;
    Colossus__LaunchNode first = COLOSSUS__LAUNCH_NODE__INIT;
    first.node = L->node;
    first.node_rank = L->node_rank;
    first.gpus = L->gpus;
    first.n_gpus = L->n_gpus;
    first.ranks_per_node = L->ranks_per_node;
    Colossus__LaunchNode **e = cl_xmalloc(n * sizeof *e);
    uint32_t *ids = cl_xmalloc(n * sizeof *ids), *order = cl_xmalloc(n * sizeof *order);
    e[0] = &first;
    for (size_t i = 1; i < n; i++)
        e[i] = L->more[i - 1];
    for (size_t i = 0; i < n; i++)
        ids[i] = e[i]->node;
    rl_agent_t **agents = cl_xmalloc(n * sizeof *agents);
    size_t *start = cl_xmalloc((n + 1) * sizeof *start), ng;
    split(r, ids, n, order, agents, start, &ng);
    Colossus__LaunchNode **more = cl_xmalloc(n * sizeof *more);
    for (size_t g = 0; g < ng; g++) {
        Colossus__Launch one = *L;
        const Colossus__LaunchNode *h = e[order[start[g]]];
        one.node = h->node;
        one.node_rank = h->node_rank;
        one.gpus = h->gpus;
        one.n_gpus = h->n_gpus;
        one.ranks_per_node = h->ranks_per_node;
        one.n_more = 0;
        for (size_t k = start[g] + 1; k < start[g + 1]; k++)
            more[one.n_more++] = e[order[k]];
        one.more = more;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_LAUNCH;
        m.launch = &one;
        agent_send(agents[g], &m);
    }
    free(more);
    free(start);
    free(agents);
    free(order);
    free(ids);
    free(e);
}

/* A message naming many nodes (PowerLimit, PowerHold): each agent gets its own. */
static void route_nodes(relay_t *r, Colossus__Msg *m, uint32_t **nodes, size_t *n_nodes)
{
    size_t n = *n_nodes;
    uint32_t *ids = *nodes, *order = cl_xmalloc((n ? n : 1) * sizeof *order),
             *sub = cl_xmalloc((n ? n : 1) * sizeof *sub);
    rl_agent_t **agents = cl_xmalloc((n ? n : 1) * sizeof *agents);
    size_t *start = cl_xmalloc((n + 1) * sizeof *start), ng;
    split(r, ids, n, order, agents, start, &ng);
    for (size_t g = 0; g < ng; g++) {
        size_t k = 0;
        for (size_t i = start[g]; i < start[g + 1]; i++)
            sub[k++] = ids[order[i]];
        *nodes = sub;
        *n_nodes = k;
        agent_send(agents[g], m);
    }
    *nodes = ids;
    *n_nodes = n;
    free(start);
    free(agents);
    free(sub);
    free(order);
}

static void up_message(void *arg, int node, const Colossus__Msg *cm)
{
    relay_t *r = arg;
    Colossus__Msg *m = (Colossus__Msg *)cm; /* route_nodes swaps a list and puts it back */
    switch (m->body_case) {
    case COLOSSUS__MSG__BODY_LAUNCH:
        route_launch(r, m->launch);
        return;
    case COLOSSUS__MSG__BODY_POWER_LIMIT:
        route_nodes(r, m, &m->power_limit->nodes, &m->power_limit->n_nodes);
        return;
    case COLOSSUS__MSG__BODY_POWER_HOLD:
        route_nodes(r, m, &m->power_hold->nodes, &m->power_hold->n_nodes);
        return;
    case COLOSSUS__MSG__BODY_REFUSED:
        cl_daemon_log(WHO, "the controller refused this relay: %s",
                      m->refused->reason ? m->refused->reason : "");
        return;
    default:
        break;
    }
    if (node < 0 || node >= r->nnodes || !r->nodes[node].agent) return; /* gone */
    rl_agent_t *a = r->nodes[node].agent;
    if (m->body_case == COLOSSUS__MSG__BODY_LOG_FETCH) {
        size_t k = m->log_fetch->req % LOGREQS;
        r->logreq[k] = m->log_fetch->req;
        r->logreq_agent[k] = a;
    }
    agent_send(a, m);
}

static void up_up(void *arg)
{
    relay_t *r = arg;
    r->lost_ms = 0;
}

/* Upstream lost: every node must register again with what its agent runs now, so the agents
 * are sent away (they come back here once the upstream is back, or go on). */
static void up_down(void *arg)
{
    relay_t *r = arg;
    r->lost_ms = uv_now(r->loop);
    if (!r->lost_ms) r->lost_ms = 1;
    if (r->nagents)
        cl_daemon_log(WHO, "lost the upstream: closing %d agent connection%s", r->nagents,
                      r->nagents == 1 ? "" : "s");
    for (rl_agent_t *a = r->agents; a; a = a->next)
        if (!a->u.closing && !a->u.refusing)
            cl_uconn_refuse(&a->u, COLOSSUS__REFUSED__WHY__RECONNECTING,
                            "the relay lost its controller: register again");
}

static const cl_session_ops_t up_ops = {
    .register_fill = up_register_fill,
    .register_done = up_register_done,
    .heartbeat_fill = up_heartbeat_fill,
    .heartbeat_done = up_heartbeat_done,
    .message = up_message,
    .up = up_up,
    .down = up_down,
    .registered = up_registered,
    .lease = up_lease,
    .refused = up_refused,
};

/* ------------------------------------------------------------------ the daemon ---------- */

typedef struct rl_opts {
    const char *controller, *parent, *listen, *keyfile, *name, *address_file;
} rl_opts_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: colossus relay --controller HOST:PORT[,HOST:PORT...] --listen HOST:PORT\n"
            "                      --key FILE [--parent HOST:PORT[,...]] [--name NAME]\n"
            "                      [--address-file FILE]\n"
            "Carry the nodes of the agents (and lower relays) that connect to --listen to the\n"
            "controller over one connection (docs/relay.md).\n"
            "  --controller LIST   the controller (a leader and its standbys)\n"
            "  --parent LIST       relays to go through first (a second tier); the controller\n"
            "                      is the last resort\n"
            "  --listen HOST:PORT  where agents connect (port 0: the kernel chooses)\n"
            "  --key FILE          the cluster key (agents prove it to the relay)\n"
            "  --name NAME         this relay in Register.via and the logs (default:\n"
            "                      relay-HOSTNAME)\n"
            "  --address-file F    write the bound address there\n");
}

static int parse(int argc, char **argv, rl_opts_t *o)
{
    static const struct option longs[] = {{"controller", required_argument, 0, 'c'},
                                          {"parent", required_argument, 0, 'p'},
                                          {"listen", required_argument, 0, 'l'},
                                          {"key", required_argument, 0, 'k'},
                                          {"name", required_argument, 0, 'n'},
                                          {"address-file", required_argument, 0, 'a'},
                                          CL_FLAGS_HELP,
                                          {0, 0, 0, 0}};
    cl_flags_t f = {.cmd = "relay", .shorts = "h", .longs = longs, .usage = usage};
    memset(o, 0, sizeof *o);
    int c;
    while ((c = cl_flags_next(&f, argc, argv)) != -1) {
        switch (c) {
        case CL_FLAGS_DONE:
            return f.exit ? f.exit : -1;
        case 'c':
            o->controller = optarg;
            break;
        case 'p':
            o->parent = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'k':
            o->keyfile = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'a':
            o->address_file = optarg;
            break;
        }
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    if (!o->controller || !o->listen || !o->keyfile)
        return cl_flags_fail(&f, "--controller, --listen and --key are required");
    cl_error_t err;
    if (cl_addr_list_check(o->controller, &err) < 0)
        return cl_flags_fail(&f, "--controller: %s", err.msg);
    if (o->parent && cl_addr_list_check(o->parent, &err) < 0)
        return cl_flags_fail(&f, "--parent: %s", err.msg);
    if (o->name &&
        (!o->name[0] || strlen(o->name) > CL_SESSION_NAME_MAX || strchr(o->name, ',')))
        return cl_flags_fail(&f, "--name must be 1..%d characters without commas",
                             CL_SESSION_NAME_MAX);
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    relay_t *r = s->data;
    if (r->stopping) return;
    r->stopping = true;
    cl_daemon_log(WHO, "signal %d: exiting (the agents go on to their next address)", signum);
    uv_stop(r->loop);
}

int cmd_relay(int argc, char **argv)
{
    rl_opts_t o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    relay_t *r = cl_xcalloc(1, sizeof *r);
    r->loop = uv_default_loop();
    r->hb_ms = 1000;
    cl_error_t err;
    cl_cred_t cred;
    if (cl_crypto_init() < 0 || cl_cred_load(o.keyfile, &cred, &err) < 0 ||
        (cred.kind != CL_CRED_KEY && cl_err(&err, "%s is not a cluster key", o.keyfile))) {
        fprintf(stderr, "colossus relay: %s\n", err.msg);
        return 1;
    }
    memcpy(r->key, cred.key, sizeof r->key);
    if (o.name) {
        snprintf(r->name, sizeof r->name, "%s", o.name);
    } else {
        char host[48] = "";
        gethostname(host, sizeof host - 1);
        snprintf(r->name, sizeof r->name, "relay-%s", host[0] ? host : "unknown");
        for (char *p = r->name; *p; p++)
            if (*p == ',') *p = '_';
    }
    /* upstream: the parents in turn, then the controller (the grandparent of last resort) */
    char list[600];
    snprintf(list, sizeof list, "%s%s%s", o.parent ? o.parent : "", o.parent ? "," : "",
             o.controller);
    cl_session_opts_t so = {.controller = list,
                            .cred = &cred,
                            .peer = r->name,
                            .who = WHO,
                            .many = true,
                            .lease_beats = 4,
                            .reg_window = RL_REG_WINDOW};
    r->up = cl_session_create(r->loop, &so, &up_ops, r, &err);
    cl_cred_clear(&cred);
    if (!r->up) {
        fprintf(stderr, "colossus relay: %s\n", err.msg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cl_uconn_listen(r->loop, &r->listener, r, "--listen", o.listen, on_accept, r->bound,
                        sizeof r->bound, &err) < 0) {
        fprintf(stderr, "colossus relay: %s\n", err.msg);
        return 1;
    }
    if (o.address_file) {
        char line[128];
        snprintf(line, sizeof line, "%s\n", r->bound);
        if (cl_write_file_atomic(o.address_file, line, &err) < 0) {
            fprintf(stderr, "colossus relay: %s\n", err.msg);
            return 1;
        }
    }
    uv_signal_init(r->loop, &r->sigterm);
    uv_signal_init(r->loop, &r->sigint);
    r->sigterm.data = r->sigint.data = r;
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    cl_daemon_log(WHO, "%s listening on %s, upstream %s", r->name, r->bound, list);
    cl_session_start(r->up);
    uv_run(r->loop, UV_RUN_DEFAULT);
    /* stopping: close everything (the agents see their connection lost), the agents first
     * (agent_closed() still tells the session) */
    for (rl_agent_t *a = r->agents; a; a = a->next)
        cl_uconn_close(&a->u, NULL);
    uv_run(r->loop, UV_RUN_NOWAIT);
    cl_session_destroy(r->up);
    uv_close((uv_handle_t *)&r->listener, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_run(r->loop, UV_RUN_DEFAULT);
    uv_walk(r->loop, walk_close, NULL);
    uv_run(r->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < r->nnodes; i++)
        free(r->nodes[i].reg);
    for (size_t i = 0; i < r->nhealth; i++)
        free(r->health[i]);
    free(r->health);
    free(r->hb_back);
    free(r->hb_silent);
    free(r->health_len);
    free(r->nodes);
    free(r->ntab);
    sodium_memzero(r->key, sizeof r->key);
    free(r);
    uv_loop_close(uv_default_loop());
    return 0;
}
