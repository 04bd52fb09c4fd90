/* ctl_health.c - GPU health in the controller (docs/health.md): each node's latest telemetry
 * and latched health action, the policy carried out through the core (drain-now and keep-out
 * are node failures: cl_node_fail restarts the job on a hot spare or requeues it;
 * drain-after-job is cl_node_drain), and the maintenance flow (`drain --check`, `resume` after
 * a passing check).
 *
 * The latch survives controller restarts: the drain and its reason are in the node's journal
 * record, the action in the journal's meta table ("health:NAME"). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"
#include "gpu/health.h"

#define CHECK_ANSWER_S 150.0 /* a full check takes <= 60 s; the agent kills one at 120 s */
#define KEEP_XIDS 8          /* recent XIDs shown per node */

enum { WAIT_NONE, WAIT_RESUME, WAIT_DRAINCHECK };

typedef struct ctl_hnode {
    bool loaded; /* latch read from the journal */
    bool monitored;
    cl_health_action_t latched;
    char reason[256];
    Colossus__NodeHealth *last; /* latest report (owned, unpacked copy) */
    double last_at;
    char domain[80];
    bool domain_unready;
    Colossus__XidEvent xids[KEEP_XIDS];  /* newest last; action strings are static */
    Colossus__XidEvent *xidp[KEEP_XIDS]; /* xidp[i] = &xids[i], for NodeInfo */
    int nxids;
    /* maintenance */
    int waiting;        /* WAIT_*: what the outstanding check is for */
    bool when_idle;     /* drain --check on a busy node: order it once the node is empty */
    uint64_t order_seq; /* outstanding CheckOrder, 0 none */
    double order_at;
    ctl_sink_t *client; /* waiting for the check's verdict (a reference); NULL: nobody */
    uint64_t client_req;
} ctl_hnode_t;

typedef struct ctl_domkey {
    char key[80];
    uint32_t domain; /* topology domain its nodes are bound in */
} ctl_domkey_t;

struct ctl_health {
    ctl_hnode_t *v;
    ctl_domkey_t *keys; /* NVLink domain key -> topology domain (few: one per rack) */
    size_t nkeys, capkeys;
    uint32_t next_empty; /* no domain below it is entirely free */
    uint64_t next_seq;
    uint32_t *pend; /* nodes with a check pending or outstanding (few) */
    size_t npend, cap;
};

static ctl_hnode_t *hn(ctl_t *c, ctl_node_t *n)
{
    ctl_hnode_t *h = &c->health->v[n->id];
    /* A latch is in force only on a drained node (resume clears both), so only drained nodes
     * cost a journal lookup. */
    if (!h->loaded && !n->drained) h->loaded = true;
    if (!h->loaded) {
        h->loaded = true;
        char key[96];
        uint64_t v = 0;
        cl_error_t e;
        snprintf(key, sizeof key, "health:%s", n->name);
        if (cl_store_meta_get(c->store, key, &v, &e) == 1 && v <= CL_HEALTH_KEEP_OUT) {
            h->latched = (cl_health_action_t)v;
            snprintf(h->reason, sizeof h->reason, "%s", n->reason);
        }
    }
    return h;
}

static void journal_latch(ctl_t *c, ctl_node_t *n, cl_health_action_t a)
{
    char key[96];
    snprintf(key, sizeof key, "health:%s", n->name);
    ctl_journal_meta(c, key, (uint64_t)a);
}

static void pend_add(ctl_t *c, uint32_t id)
{
    struct ctl_health *H = c->health;
    for (size_t i = 0; i < H->npend; i++)
        if (H->pend[i] == id) return;
    if (H->npend == H->cap) {
        size_t cap = H->cap ? H->cap * 2 : 8;
        H->pend = cl_xrealloc(H->pend, cap * sizeof *H->pend);
        H->cap = cap;
    }
    H->pend[H->npend++] = id;
}

static void pend_del(ctl_t *c, uint32_t id)
{
    struct ctl_health *H = c->health;
    for (size_t i = 0; i < H->npend; i++)
        if (H->pend[i] == id) {
            H->pend[i] = H->pend[--H->npend];
            return;
        }
}

/* Answer whoever waits for this node's check, and forget the wait. */
static void answer(ctl_t *c, ctl_node_t *n, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void answer(ctl_t *c, ctl_node_t *n, bool ok, const char *fmt, ...)
{
    ctl_hnode_t *h = hn(c, n);
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (h->client) {
        if (ok)
            ctl_reply_ok(c, h->client, h->client_req, text);
        else
            ctl_reply_error(c, h->client, h->client_req, "%s", text);
        ctl_sink_unref(h->client);
    }
    h->client = NULL;
    h->waiting = WAIT_NONE;
    h->order_seq = 0;
    h->when_idle = false;
    pend_del(c, n->id);
}

static void order_check(ctl_t *c, ctl_node_t *n)
{
    ctl_hnode_t *h = hn(c, n);
    h->order_seq = ++c->health->next_seq;
    h->order_at = ctl_now(c);
    h->when_idle = false;
    Colossus__CheckOrder o = COLOSSUS__CHECK_ORDER__INIT;
    o.node = n->id;
    o.seq = h->order_seq;
    o.full = true; /* maintenance checks are full ones (docs/health.md) */
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_CHECK_ORDER;
    m.check_order = &o;
    ctl_send_node(c, n->id, &m);
    pend_add(c, n->id);
    ctl_log(c, "node %s: gpu check --full ordered (%s)", n->name,
            h->waiting == WAIT_RESUME ? "resume" : "drain --check");
}

/* Take the node out of service for health: a node failure for its jobs when the action is
 * drain-now or keep-out, a drain after the job otherwise. The node stays drained with the
 * reason until `colossus resume` and a passing check. */
static void apply_latch(ctl_t *c, ctl_node_t *n, cl_health_action_t a, const char *reason)
{
    ctl_hnode_t *h = hn(c, n);
    h->latched = a;
    snprintf(h->reason, sizeof h->reason, "%s", reason);
    journal_latch(c, n, a);
    n->drained = true;
    snprintf(n->reason, sizeof n->reason, "%s: %.100s", cl_health_action_name(a), reason);
    ctl_node_journal(c, n);
    ctl_log(c, "node %s GPU health %s: %s", n->name, cl_health_action_name(a), reason);
    c->sched_needed = true;
    if (!n->alive) return; /* drained when it comes back up (ctl_nodes.c) */
    double now = ctl_now(c);
    cl_error_t e;
    cl_jobid_t on[1];
    if (cl_health_is_node_failure(a) && cl_node_jobs(c->cluster, n->id, on, 1) > 0) {
        /* A node failure for its jobs: the core restarts each on a hot spare, requeues it or
         * fails it (max restarts), and the stop orders go out. */
        c->count.detections[CTL_DETECT_GPU_HEALTH]++;
        ctl_jobs_node_failed(c, n);
        if (cl_node_recover(c->cluster, n->id, now, &e) < 0)
            ctl_log(c, "node %s: cannot bring back after the failure: %s", n->name, e.msg);
        cl_decisions_t d = {0};
        for (uint32_t g = n->ngpus; g < c->gpus_per_node; g++)
            cl_gpu_fail(c->cluster, n->id, g, now, &d, &e); /* GPUs this machine lacks */
        ctl_apply(c, &d);
        cl_decisions_free(&d);
    }
    cl_node_info_t info;
    if (cl_node_get(c->cluster, n->id, &info) == 0 && info.state == CL_NODE_UP &&
        cl_node_drain(c->cluster, n->id, now, &e) < 0)
        ctl_log(c, "node %s: core refused drain: %s", n->name, e.msg);
}

static void clear_latch(ctl_t *c, ctl_node_t *n)
{
    ctl_hnode_t *h = hn(c, n);
    if (h->latched == CL_HEALTH_NONE) return;
    h->latched = CL_HEALTH_NONE;
    h->reason[0] = 0;
    journal_latch(c, n, CL_HEALTH_NONE);
}

static void resume_node(ctl_t *c, ctl_node_t *n)
{
    cl_error_t e;
    if (n->alive && cl_node_resume(c->cluster, n->id, ctl_now(c), &e) < 0)
        ctl_log(c, "node %s: core refused resume: %s", n->name, e.msg);
    n->drained = false;
    n->reason[0] = 0;
    ctl_node_journal(c, n);
    c->sched_needed = true;
    ctl_log(c, "node %s resumed after a passing gpu check", n->name);
}

/* A report from the agent (heartbeat or registration). */
static void apply_report(ctl_t *c, ctl_node_t *n, const Colossus__NodeHealth *r)
{
    ctl_hnode_t *h = hn(c, n);
    cl_health_action_t was = h->latched;
    bool drained = n->drained, monitored = h->monitored;
    h->monitored = true;
    /* Keep an owned copy (the frame's message is freed after the handler). */
    size_t len = colossus__node_health__get_packed_size(r);
    uint8_t *buf = cl_xmalloc(len);
    colossus__node_health__pack(r, buf);
    Colossus__NodeHealth *copy = colossus__node_health__unpack(NULL, len, buf);
    free(buf);
    if (!copy) cl_oom(len, __FILE__, __LINE__); /* it packed: only memory can fail the unpack */
    if (h->last) colossus__node_health__free_unpacked(h->last, NULL);
    h->last = copy;
    h->last_at = ctl_now(c);
    for (size_t i = 0; i < r->n_xids; i++) {
        const Colossus__XidEvent *x = r->xids[i];
        int a = cl_health_action_parse(x->action);
        ctl_log(c, "node %s GPU %d: XID %" PRIu64 " (%s): %s", n->name,
                x->gpu == UINT32_MAX ? -1 : (int)x->gpu, x->xid, cl_health_xid_desc(x->xid),
                cl_health_action_name(a < 0 ? CL_HEALTH_NONE : (cl_health_action_t)a));
        if (h->nxids == KEEP_XIDS) {
            memmove(h->xids, h->xids + 1, (KEEP_XIDS - 1) * sizeof h->xids[0]);
            h->nxids--;
        }
        ctl_metrics_xid(c, n->id, x->xid);
        Colossus__XidEvent *k = &h->xids[h->nxids++];
        colossus__xid_event__init(k);
        k->gpu = x->gpu;
        k->xid = x->xid;
        k->action =
            (char *)cl_health_action_name(a < 0 ? CL_HEALTH_NONE : (cl_health_action_t)a);
        k->time = x->time;
    }
    int a = cl_health_action_parse(r->action);
    if (a < 0) {
        ctl_log(c, "node %s: unknown health action '%.40s' ignored", n->name, r->action);
        a = CL_HEALTH_NONE;
    }
    /* The verdict of a check this controller ordered. */
    if (h->order_seq && r->check_seq == h->order_seq && strcmp(r->check, "running")) {
        bool passed = !strcmp(r->check, "passed");
        if (passed) {
            clear_latch(c, n);
            if (h->waiting == WAIT_RESUME) {
                resume_node(c, n);
                answer(c, n, true, "%s: gpu check passed; resumed", n->name);
            } else {
                answer(c, n, true,
                       "%s: gpu check passed; the node stays drained until "
                       "`colossus resume %s`",
                       n->name, n->name);
            }
        } else if (!strcmp(r->check, "failed")) {
            answer(c, n, false, "%s: gpu check failed: %s; the node stays out", n->name,
                   r->check_reason);
        } else {
            answer(c, n, false, "%s: gpu check could not run: %s; the node stays out", n->name,
                   r->check_reason);
        }
    }
    if ((cl_health_action_t)a > h->latched)
        apply_latch(c, n, (cl_health_action_t)a, r->reason[0] ? r->reason : "GPU health");
    /* watchers: its health, drain or XIDs changed (telemetry alone is no event) */
    if (c->watchers && (r->n_xids || h->latched != was || n->drained != drained || !monitored))
        ctl_watch_node(c, n);
}

/* ---- NVLink domains: nodes of one fabric clique are bound in one topology domain ---- */

static ctl_domkey_t *key_find(struct ctl_health *H, const char *key)
{
    for (size_t i = 0; i < H->nkeys; i++)
        if (!strcmp(H->keys[i].key, key)) return &H->keys[i];
    return NULL;
}

static void key_add(struct ctl_health *H, const char *key, uint32_t domain)
{
    if (H->nkeys == H->capkeys) {
        size_t cap = H->capkeys ? H->capkeys * 2 : 16;
        H->keys = cl_xrealloc(H->keys, cap * sizeof *H->keys);
        H->capkeys = cap;
    }
    snprintf(H->keys[H->nkeys].key, sizeof H->keys[0].key, "%s", key);
    H->keys[H->nkeys++].domain = domain;
}

/* First node id of a domain: ids are contiguous per domain and domains numbered in order. */
static uint32_t domain_first(const cl_topo_t *t, uint32_t nnodes, uint32_t d)
{
    uint32_t lo = 0, hi = nnodes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cl_topo_node_domain(t, mid) < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A free slot of domain d (free_only: the whole domain must be unbound). */
static cl_nodeid_t domain_free_slot(ctl_t *c, uint32_t d, bool free_only)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    cl_nodeid_t pick = CL_NO_NODE;
    for (uint32_t id = domain_first(t, c->nnodes, d);
         id < c->nnodes && cl_topo_node_domain(t, id) == d; id++) {
        if (c->nodes[id].bound) {
            if (free_only) return CL_NO_NODE;
        } else if (pick == CL_NO_NODE) {
            pick = id;
            if (!free_only) break;
        }
    }
    return pick;
}

cl_nodeid_t ctl_health_domain_slot(ctl_t *c, const char *key)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    struct ctl_health *H = c->health;
    if (!key || !key[0] || cl_topo_domain_nodes_max(t) <= 1) return CL_NO_NODE;
    ctl_domkey_t *k = key_find(H, key);
    if (k) {
        cl_nodeid_t id = domain_free_slot(c, k->domain, false);
        if (id != CL_NO_NODE) return id;
        ctl_log(c,
                "NVLink domain %s: its topology domain is full; the new node "
                "goes elsewhere",
                key);
        return CL_NO_NODE;
    }
    /* A new clique: the next domain nobody is bound in (each is tried once, ever). */
    for (; H->next_empty < cl_topo_domains(t); H->next_empty++) {
        cl_nodeid_t id = domain_free_slot(c, H->next_empty, true);
        if (id != CL_NO_NODE) {
            key_add(H, key, H->next_empty);
            return id;
        }
    }
    return CL_NO_NODE;
}

void ctl_health_register(ctl_t *c, ctl_node_t *n, const Colossus__Register *r)
{
    if (r->nvlink_domain[0] && !r->nvlink_unready && !key_find(c->health, r->nvlink_domain) &&
        cl_topo_domain_nodes_max(cl_cluster_topo(c->cluster)) > 1) /* e.g. after a restart */
        key_add(c->health, r->nvlink_domain,
                cl_topo_node_domain(cl_cluster_topo(c->cluster), n->id));

    ctl_hnode_t *h = hn(c, n);
    h->monitored = r->health != NULL;
    snprintf(h->domain, sizeof h->domain, "%s", r->nvlink_domain);
    h->domain_unready = r->nvlink_unready;
    if (r->nvlink_domain[0] || r->nvlink_unready)
        ctl_log(c, "node %s: NVLink domain %s%s", n->name,
                r->nvlink_domain[0] ? r->nvlink_domain : "(own)",
                r->nvlink_unready ? " (GPUs disagree or not all registered: unready)" : "");
    if (r->health)
        apply_report(c, n, r->health);
    else if (h->last) {
        colossus__node_health__free_unpacked(h->last, NULL);
        h->last = NULL;
    }
    if (h->order_seq)
        order_check(c, n); /* the agent restarted: its check is gone; order it again */
}

void ctl_health_heartbeat(ctl_t *c, ctl_sink_t *conn, const Colossus__Heartbeat *hb)
{
    for (size_t i = 0; i < hb->n_health; i++) {
        uint32_t id = hb->health[i]->node;
        if (id >= c->nnodes || c->nodes[id].conn != conn)
            continue; /* not carried by this connection */
        apply_report(c, &c->nodes[id], hb->health[i]);
    }
}

bool ctl_health_rank_failed(ctl_t *c, uint32_t node)
{
    if (node >= c->nnodes) return false;
    ctl_node_t *n = &c->nodes[node];
    ctl_hnode_t *h = hn(c, n);
    if (!cl_health_is_node_failure(h->latched) || !n->alive) return false;
    ctl_log(c,
            "node %s: a rank died on a node whose health is %s: node failure, "
            "not the job's",
            n->name, cl_health_action_name(h->latched));
    char reason[256];
    snprintf(reason, sizeof reason, "%s", h->reason);
    apply_latch(c, n, h->latched, reason);
    return true;
}

bool ctl_health_admin(ctl_t *c, ctl_sink_t *conn, uint64_t req, const Colossus__NodeAdmin *a,
                      bool drain)
{
    ctl_node_t *n = ctl_node_by_name(c, a->node);
    if (!n) return false; /* the caller says there is no such node */
    ctl_hnode_t *h = hn(c, n);
    if (drain && !a->check) return false;
    if (!drain && h->latched == CL_HEALTH_NONE) return false; /* a plain admin resume */
    if (!h->monitored) {
        if (drain) {
            ctl_reply_error(c, conn, req,
                            "%s does not watch its GPUs through NVML (fake GPUs?): "
                            "no gpu check to run",
                            n->name);
            return true;
        }
        /* A latch from a previous life of the node: its agent now runs without NVML, so no
         * check can clear it; the admin's resume does. */
        clear_latch(c, n);
        return false;
    }
    if (!n->conn || !n->alive) {
        ctl_reply_error(c, conn, req, "%s is not connected: its gpu check cannot run", n->name);
        return true;
    }
    if (h->waiting != WAIT_NONE) {
        ctl_reply_error(c, conn, req, "%s: a gpu check is already pending", n->name);
        return true;
    }
    cl_jobid_t on[8];
    size_t nj = cl_node_jobs(c->cluster, n->id, on, 8);
    if (!drain) {
        if (nj) {
            ctl_reply_error(c, conn, req,
                            "%s still runs job %" PRIu64 " and its health is %s "
                            "(%s): resume it once the job has ended (its gpu check "
                            "needs idle GPUs)",
                            n->name, on[0], cl_health_action_name(h->latched), h->reason);
            return true;
        }
        h->waiting = WAIT_RESUME;
        ctl_sink_ref(conn);
        h->client = conn;
        h->client_req = req;
        order_check(c, n);
        return true;
    }
    /* drain --check: drain now; check at once, or once its jobs have ended. */
    cl_error_t e;
    cl_node_info_t info;
    if (cl_node_get(c->cluster, n->id, &info) == 0 && info.state == CL_NODE_UP &&
        cl_node_drain(c->cluster, n->id, ctl_now(c), &e) < 0) {
        ctl_reply_error(c, conn, req, "%s: %s", n->name, e.msg);
        return true;
    }
    if (!n->drained || a->reason[0]) {
        n->drained = true;
        snprintf(n->reason, sizeof n->reason, "%s",
                 a->reason[0] ? a->reason : "maintenance: gpu check");
        ctl_node_journal(c, n);
    }
    if (c->watchers) ctl_watch_node(c, n);
    c->sched_needed = true;
    h->waiting = WAIT_DRAINCHECK;
    if (nj) {
        h->when_idle = true;
        pend_add(c, n->id);
        char text[200];
        snprintf(text, sizeof text,
                 "%s: draining; its gpu check runs once job %" PRIu64 "%s "
                 "ended",
                 n->name, on[0], nj > 1 ? " and the others have" : " has");
        ctl_reply_ok(c, conn, req, text);
        ctl_log(c, "%s", text);
        return true;
    }
    ctl_sink_ref(conn);
    h->client = conn;
    h->client_req = req;
    order_check(c, n);
    return true;
}

void ctl_health_conn_closed(ctl_t *c, ctl_sink_t *conn)
{
    struct ctl_health *H = c->health;
    for (size_t i = 0; i < H->npend; i++) {
        ctl_hnode_t *h = &H->v[H->pend[i]];
        if (h->client == conn) { /* the check goes on; its verdict is recorded all the same */
            ctl_sink_unref(h->client);
            h->client = NULL;
        }
    }
}

void ctl_health_timer(ctl_t *c)
{
    struct ctl_health *H = c->health;
    double now = ctl_now(c);
    for (size_t i = 0; i < H->npend;) {
        ctl_node_t *n = &c->nodes[H->pend[i]];
        ctl_hnode_t *h = &H->v[n->id];
        size_t before = H->npend;
        cl_jobid_t on[1];
        if (h->when_idle) {
            if (n->alive && n->conn && cl_node_jobs(c->cluster, n->id, on, 1) == 0)
                order_check(c, n);
        } else if (h->order_seq && now - h->order_at > CHECK_ANSWER_S) {
            answer(c, n, false,
                   "%s: no verdict from its gpu check within %.0f s; the node "
                   "stays out",
                   n->name, CHECK_ANSWER_S);
        }
        if (H->npend == before) i++;
    }
}

void ctl_health_fill(ctl_t *c, ctl_node_t *n, Colossus__NodeInfo *o)
{
    ctl_hnode_t *h = hn(c, n);
    o->monitored = h->monitored;
    o->health = (char *)(h->monitored || h->latched ? cl_health_action_name(h->latched) : "");
    o->health_reason = h->reason;
    o->nvlink_domain = h->domain;
    if (h->last) {
        o->telemetry = h->last;
        o->telemetry_age = ctl_now(c) - h->last_at;
    }
    for (int i = 0; i < h->nxids; i++)
        h->xidp[i] = &h->xids[i];
    o->recent_xids = h->xidp;
    o->n_recent_xids = (size_t)h->nxids;
}

const Colossus__NodeHealth *ctl_health_telemetry(const ctl_t *c, uint32_t node)
{
    return node < c->nnodes ? c->health->v[node].last : NULL;
}

const Colossus__NodeHealth *ctl_health_telemetry_at(const ctl_t *c, uint32_t node, double *age)
{
    const Colossus__NodeHealth *h = ctl_health_telemetry(c, node);
    if (h) *age = ctl_now(c) - c->health->v[node].last_at;
    return h;
}

int ctl_health_init(ctl_t *c)
{
    c->health = cl_xcalloc(1, sizeof *c->health);
    c->health->v = cl_xcalloc(c->nnodes, sizeof *c->health->v);
    return 0;
}

void ctl_health_free(ctl_t *c)
{
    struct ctl_health *H = c->health;
    if (!H) return;
    for (uint32_t i = 0; H->v && i < c->nnodes; i++) {
        if (H->v[i].last) colossus__node_health__free_unpacked(H->v[i].last, NULL);
        ctl_sink_unref(H->v[i].client);
    }
    free(H->v);
    free(H->keys);
    free(H->pend);
    free(H);
    c->health = NULL;
}

bool ctl_health_latched(ctl_t *c, ctl_node_t *n)
{
    const ctl_hnode_t *h = hn(c, n);
    return h->latched != CL_HEALTH_NONE && h->monitored;
}
