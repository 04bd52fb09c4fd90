/* ctl_nodes.c - nodes in the controller: name -> compact id binding (journaled), registration
 * of the nodes a connection carries, batched heartbeats, and death when a node's deadline in
 * the FIFO of deadlines passes without a heartbeat (O(1) per heartbeat; no scan over nodes).
 * A relay's connection vouches for its nodes instead (issue 16): it has the deadline, and its
 * frames say only which nodes it stopped or started hearing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/hostlist.h"

/* name -> id: open addressing over the bound nodes (c->name_tab). */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void name_insert(ctl_t *c, ctl_node_t *n)
{
    uint32_t i = name_hash(n->name) & (c->name_cap - 1);
    while (c->name_tab[i] != UINT32_MAX)
        i = (i + 1) & (c->name_cap - 1);
    c->name_tab[i] = n->id;
}

/* Linear probing's deletion: later entries of the run move back into the hole. */
static void name_remove(ctl_t *c, const ctl_node_t *n)
{
    uint32_t mask = c->name_cap - 1, i = name_hash(n->name) & mask;
    while (c->name_tab[i] != n->id) {
        if (c->name_tab[i] == UINT32_MAX) return;
        i = (i + 1) & mask;
    }
    c->name_tab[i] = UINT32_MAX;
    for (uint32_t j = (i + 1) & mask; c->name_tab[j] != UINT32_MAX; j = (j + 1) & mask) {
        uint32_t id = c->name_tab[j], home = name_hash(c->nodes[id].name) & mask;
        /* Move it back unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        c->name_tab[i] = id;
        c->name_tab[j] = UINT32_MAX;
        i = j;
    }
}

ctl_node_t *ctl_node_by_name(ctl_t *c, const char *name)
{
    uint32_t i = name_hash(name) & (c->name_cap - 1);
    for (; c->name_tab[i] != UINT32_MAX; i = (i + 1) & (c->name_cap - 1))
        if (!strcmp(c->nodes[c->name_tab[i]].name, name)) return &c->nodes[c->name_tab[i]];
    return NULL;
}

static ctl_node_t *bind_name(ctl_t *c, const char *name, const char *nvlink_domain)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    cl_nodeid_t id = cl_topo_find_node(t, name);
    if (id == CL_NO_NODE)
        id = ctl_health_domain_slot(c, nvlink_domain); /* a slot in its NVLink domain */
    ctl_node_t *n = NULL;
    if (id != CL_NO_NODE && !c->nodes[id].bound) {
        n = &c->nodes[id];
    } else {
        while (c->next_free < c->nnodes && c->nodes[c->next_free].bound)
            c->next_free++;
        if (c->next_free == c->nnodes) return NULL;
        n = &c->nodes[c->next_free];
    }
    n->bound = true;
    snprintf(n->name, sizeof n->name, "%s", name);
    name_insert(c, n);
    ctl_node_journal(c, n);
    return n;
}

static int on_node_loaded(const cl_store_node_t *sn, void *arg)
{
    ctl_t *c = arg;
    if (sn->id >= c->nnodes || c->nodes[sn->id].bound) {
        ctl_log(c, "journal: node %s (id %u) does not fit this topology; ignored", sn->name,
                sn->id);
        return 0;
    }
    ctl_node_t *n = &c->nodes[sn->id];
    if (!sn->name[0]) return 0; /* removed (node remove): the slot is free */
    n->bound = true;
    snprintf(n->name, sizeof n->name, "%s", sn->name);
    n->drained = sn->drained;
    snprintf(n->reason, sizeof n->reason, "%s", sn->reason);
    name_insert(c, n);
    return 0;
}

int ctl_nodes_init(ctl_t *c, cl_error_t *err)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    c->nnodes = cl_topo_nodes(t);
    c->gpus_per_node = cl_topo_gpus_per_node(t);
    c->nodes = cl_xcalloc(c->nnodes, sizeof *c->nodes);
    c->name_cap = 16;
    while (c->name_cap < 2 * c->nnodes)
        c->name_cap *= 2;
    c->name_tab = cl_xmalloc(c->name_cap * sizeof *c->name_tab);
    memset(c->name_tab, 0xff, c->name_cap * sizeof *c->name_tab);
    double now = ctl_now(c);
    cl_decisions_t d = {0};
    for (uint32_t i = 0; i < c->nnodes; i++) {
        ctl_node_t *n = &c->nodes[i];
        n->id = i;
        snprintf(n->name, sizeof n->name, "%s", cl_topo_node_name(t, i));
        /* Every node is down until its agent registers. */
        if (cl_node_fail(c->cluster, i, now, &d, err) < 0) {
            cl_decisions_free(&d);
            return -1;
        }
    }
    cl_decisions_free(&d);
    return cl_store_load(c->store, 0, NULL, on_node_loaded, c, err);
}

void ctl_nodes_free(ctl_t *c)
{
    for (uint32_t i = 0; c->nodes && i < c->nnodes; i++)
        ctl_sink_unref(c->nodes[i].conn);
    for (size_t i = 0; i < c->nvouchers; i++)
        ctl_sink_unref(c->vouchers[i]);
    free(c->vouchers);
    free(c->leaf_down);
    free(c->nodes);
    free(c->name_tab);
}

const char *ctl_node_state(ctl_t *c, const ctl_node_t *n)
{
    cl_node_info_t info;
    if (cl_node_get(c->cluster, n->id, &info) < 0) return "unknown";
    return cl_node_state_name(info.state);
}

/* The node is alive: back up in the core with the GPUs its agent has. */
static void node_up(ctl_t *c, ctl_node_t *n)
{
    if (n->alive) return;
    double now = ctl_now(c);
    cl_error_t err;
    cl_node_info_t info;
    cl_node_get(c->cluster, n->id, &info);
    if (info.state == CL_NODE_DOWN && cl_node_recover(c->cluster, n->id, now, &err) < 0) {
        ctl_log(c, "node %s: cannot bring up: %s", n->name, err.msg);
        return;
    }
    cl_decisions_t d = {0};
    for (uint32_t g = n->ngpus; g < c->gpus_per_node; g++)
        cl_gpu_fail(c->cluster, n->id, g, now, &d, &err); /* GPUs this machine lacks */
    ctl_apply(c, &d);
    cl_decisions_free(&d);
    if (n->drained) cl_node_drain(c->cluster, n->id, now, &err);
    n->alive = true;
    c->sched_needed = true;
    if (c->watchers) ctl_watch_node(c, n);
}

/* A heartbeat (or registration): the node is suspected `which` deadline from now (0:
 * dead_after, 1: twice that). The monotonic clock is read for every message: a deadline
 * taken late in a long loop turn from a clock read at its start would come early. */
static void arm_for(ctl_t *c, ctl_node_t *n, int which, uint64_t mono, double now)
{
    n->last_seen = now;
    n->suspect = false;
    n->deadline = mono + (uint64_t)c->cfg.dead_after_ms * (which ? 2 : 1);
    *(struct ctl_deadline *)ctl_ring_push(&c->deadq[which]) =
        (struct ctl_deadline){n->id, n->deadline};
}

/* When the node was last heard of: from its relay, if that vouches for it. */
static double node_seen(const ctl_node_t *n)
{
    return n->vouched && n->conn ? n->conn->last_seen : n->last_seen;
}

/* Its deadline passed: suspect the node until this turn's input has been read. */
static void suspect(ctl_t *c, ctl_node_t *n)
{
    if (c->nsuspects == c->suspects_cap) {
        c->suspects_cap = c->suspects_cap ? 2 * c->suspects_cap : 64;
        c->suspects = cl_xrealloc(c->suspects, c->suspects_cap * sizeof *c->suspects);
    }
    c->suspects[c->nsuspects++] = n->id;
    n->suspect = true;
}

void ctl_nodes_deadlines(ctl_t *c)
{
    uint64_t now = ctl_mono_ms(c);
    for (int k = 0; k < 2; k++) {
        struct ctl_deadline *e;
        while ((e = ctl_ring_front(&c->deadq[k])) && e->at <= now) {
            ctl_node_t *n = &c->nodes[e->node];
            if (n->deadline == e->at && n->alive && !n->suspect && !n->vouched) suspect(c, n);
            ctl_ring_pop(&c->deadq[k]);
        }
    }
    for (size_t i = 0; i < c->nvouchers; i++) {
        ctl_sink_t *v = c->vouchers[i];
        if (!v->vsuspect && !v->vdown && v->vdeadline <= now) {
            v->vsuspect = true;
            c->nvsuspects++;
        }
    }
}

uint64_t ctl_nodes_next_deadline(const ctl_t *c)
{
    uint64_t next = 0;
    for (int k = 0; k < 2; k++) {
        const struct ctl_deadline *e = ctl_ring_front(&c->deadq[k]);
        if (e && (!next || e->at < next)) next = e->at;
    }
    for (size_t i = 0; i < c->nvouchers; i++) {
        const ctl_sink_t *v = c->vouchers[i];
        if (!v->vsuspect && !v->vdown && (!next || v->vdeadline < next)) next = v->vdeadline;
    }
    return next;
}

static void reply_registered(ctl_t *c, ctl_sink_t *conn, uint32_t handle, ctl_node_t *n,
                             const char *error)
{
    Colossus__Registered r = COLOSSUS__REGISTERED__INIT;
    r.handle = handle;
    r.ok = n != NULL;
    r.error = (char *)(error ? error : "");
    r.node = n ? n->id : 0;
    r.heartbeat_ms = c->cfg.heartbeat_ms;
    r.dead_after_ms = c->cfg.dead_after_ms;
    r.vouch = true;
    r.cluster_id = c->cluster_id;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REGISTERED;
    m.registered = &r;
    ctl_send(c, conn, &m);
}

/* Why a Register cannot be taken as it is (nothing is truncated), or NULL. */
/* The relay chain names no relay twice (a loop in the tree); NULL, or why (into buf). */
static const char *via_check(const char *via, char *buf, size_t len)
{
    if (strlen(via) >= sizeof((ctl_node_t *)0)->via) return "the relay chain (via) is too long";
    size_t n;
    const char *twice = cl_list_repeat(via, &n);
    if (!twice) return NULL;
    snprintf(buf, len, "a loop in the relay tree: %.*s carries it twice (via %.100s)",
             (int)(n < 60 ? n : 60), twice, via);
    return buf;
}

static const char *register_check(ctl_t *c, const Colossus__Register *r)
{
    if (!r->name[0] || strlen(r->name) >= sizeof c->nodes[0].name || strchr(r->name, ',') ||
        cl_has_control(r->name) || !cl_utf8_valid(r->name, strlen(r->name)))
        return "node name must be 1..63 bytes of UTF-8, no commas, no control characters";
    if (strlen(r->addr) >= sizeof c->nodes[0].addr || cl_has_control(r->addr))
        return "node address longer than 63 bytes, or with a control character";
    if (strlen(r->nvlink_domain) >= 80 || cl_has_control(r->nvlink_domain))
        return "NVLink domain longer than 79 bytes, or with a control character";
    if (strlen(r->build) >= sizeof c->nodes[0].build || cl_has_control(r->build) ||
        !cl_utf8_valid(r->build, strlen(r->build)))
        return "build longer than 31 bytes, or not text";
    return NULL;
}

/* n is carried by conn from now on. */
static void carry(ctl_t *c, ctl_node_t *n, ctl_sink_t *conn)
{
    n->vouched = false; /* (again) on its relay: vouched for once that says so */
    if (n->conn == conn) return;
    if (n->conn) {
        ctl_log(c, "node %s registered again from %s; its connection from %s is superseded",
                n->name, conn->peer, n->conn->peer);
        n->conn->nnodes--;
        ctl_sink_unref(n->conn);
    }
    ctl_sink_ref(conn);
    conn->nnodes++;
    n->conn = conn;
}

/* Whether who may register name: a node credential names it; the cluster key may register
 * any. (ctl_peer_msg() already refused any other principal, and a node credential that is
 * gone or no longer usable.) NULL, or why not (into buf). */
static const char *may_register(ctl_t *c, const ctl_principal_t *who, const char *name,
                                char *buf, size_t len)
{
    if (who->kind == CTL_PRINCIPAL_CLUSTER_KEY) return NULL;
    ctl_cred_t *cr = ctl_cred_find(c, who->cred);
    if (!cr->nodes || (cr->nodes[0] && !cl_hostlist_match(cr->nodes, name))) {
        snprintf(buf, len, "node credential %s is not for node %s (it names %.60s)", who->cred,
                 name, cr->nodes ? cr->nodes : "none");
        return buf;
    }
    return NULL;
}

static void refuse_register(ctl_t *c, const ctl_principal_t *who, ctl_sink_t *conn,
                            const Colossus__Register *r, const char *why)
{
    ctl_log(c, "refused registration of node %.64s by %s: %s", r->name, who->name, why);
    ctl_caller_t k = {.p = who};
    ctl_audit(c, &k, "register", r->name, false, why);
    reply_registered(c, conn, r->handle, NULL, why);
}

void ctl_node_register(ctl_t *c, const ctl_principal_t *who, ctl_sink_t *conn,
                       const Colossus__Register *r)
{
    const char *bad = register_check(c, r);
    if (bad) {
        reply_registered(c, conn, r->handle, NULL, bad);
        return;
    }
    char why[320];
    if ((bad = via_check(r->via, why, sizeof why)) ||
        (bad = may_register(c, who, r->name, why, sizeof why))) {
        refuse_register(c, who, conn, r, bad);
        return;
    }
    ctl_node_t *n = ctl_node_by_name(c, r->name);
    /* A second agent for a node whose agent is connected and alive is refused: only once the
     * first is gone (its connection closed, or dead-after passed) may another take it. Gone
     * also means unheard for two heartbeat periods: a relay whose host died leaves its
     * connection open here, and its agents come back through another path at once (issue
     * 16: a node is down only when unreachable through every path for dead-after). */
    if (n && n->conn && n->conn != conn && !n->conn->closed && n->alive &&
        (ctl_now(c) - node_seen(n)) * 1000 < 2.0 * c->cfg.heartbeat_ms) {
        snprintf(why, sizeof why,
                 "node %s is connected from %.60s and alive: another agent cannot take it "
                 "over until that one is gone",
                 n->name, n->conn->peer);
        refuse_register(c, who, conn, r, why);
        return;
    }
    if (!n && !(n = bind_name(c, r->name, r->nvlink_unready ? "" : r->nvlink_domain))) {
        char e[128];
        snprintf(e, sizeof e,
                 "no free node slot: the topology has %u nodes (an admin frees one with "
                 "'colossus node remove NAME')",
                 c->nnodes);
        refuse_register(c, who, conn, r, e);
        return;
    }
    /* Recovering: a node registering holds the window open a while longer (issue 16: 550,000
     * nodes take seconds to register again through a tree of relays, and a job must not be
     * requeued for a node still on its way). */
    if (c->recovering && c->recover_until > 0) {
        double hold = ctl_now(c) + CTL_RECOVER_HOLD_S;
        if (hold > c->recover_until)
            c->recover_until = hold < c->recover_cap ? hold : c->recover_cap;
    }
    carry(c, n, conn);
    snprintf(n->build, sizeof n->build, "%s", r->build);
    snprintf(n->via, sizeof n->via, "%s", r->via);
    /* What it offers beside GPUs (0: not said, no limit); the next pass places by it. */
    cl_node_set_inventory(c->cluster, n->id, true, r->cpus, r->mem_mb);
    c->sched_needed = true;
    n->ngpus = r->n_gpus < c->gpus_per_node ? (uint32_t)r->n_gpus : c->gpus_per_node;
    if (r->addr[0]) {
        snprintf(n->addr, sizeof n->addr, "%.63s", r->addr);
    } else {
        snprintf(n->addr, sizeof n->addr, "%.63s", conn->peer);
        char *colon = strrchr(n->addr, ':');
        if (colon) *colon = 0;
    }
    /* A connection carrying many nodes (hollow, relay) logs its first few and then every
     * 10,000th: a registration storm of 100,000 nodes is not 100,000 lines, nor one of a
     * 65,536-node gang's nodes coming back with their launches after a restart. */
    if (conn->nnodes <= 4 || conn->nnodes % 10000 == 0)
        ctl_log(c, "node %s registered as %u (%u GPUs, %zu launches held, at %s)%s", n->name,
                n->id, n->ngpus, r->n_running, n->addr,
                conn->nnodes > 4 ? "; its connection carries more" : "");
    reply_registered(c, conn, r->handle, n, NULL);
    node_up(c, n);
    /* Its first heartbeat needs our reply first: in a storm of registrations on one
     * connection the replies reach the agent seconds after we sent them (100,000 nodes:
     * tests/integration/cluster_storm.sh). Twice dead-after for that one. */
    arm_for(c, n, 1, ctl_mono_ms(c), ctl_now(c));
    if (ctl_jobs_fence(c, n, r) > 0) {
        /* Its agent restarted and lost ranks we run there: for those jobs it is a node
         * failure (restart elsewhere or in place), without waiting for dead-after. */
        n->alive = false;
        c->count.detections[CTL_DETECT_AGENT_RESTART]++;
        ctl_jobs_node_failed(c, n);
        node_up(c, n);
    }
    ctl_health_register(c, n, r);
}

/* Fence a node that comes back on a connection without registering again (it was stopped
 * or partitioned past dead-after): it may keep only what the controller still runs there. */
static void fence_returning(ctl_t *c, ctl_node_t *n)
{
    Colossus__Register none = COLOSSUS__REGISTER__INIT;
    none.name = n->name;
    ctl_jobs_fence(c, n, &none);
}

/* n was heard of: back up (and fenced) if it had been declared down. */
static void heard(ctl_t *c, ctl_node_t *n)
{
    if (n->alive) return;
    ctl_log(c, "node %s is back after being declared down; fencing it", n->name);
    node_up(c, n);
    fence_returning(c, n);
}

/* The node no longer vouched for has a deadline of its own again, from now: its relay said
 * so only after not hearing it for 1.5 periods (docs/relay.md). */
static void unvouch(ctl_t *c, ctl_node_t *n, uint64_t mono, double now)
{
    double seen = node_seen(n);
    n->vouched = false;
    arm_for(c, n, 0, mono, now);
    n->last_seen = seen;
}

/* A relay's frame (Heartbeat.vouch): the connection is heard of, and with it every node it
 * vouches for; then what changed. O(1) plus the nodes listed. */
static void vouch_heartbeat(ctl_t *c, ctl_sink_t *conn, const Colossus__Heartbeat *hb,
                            uint64_t mono, double now)
{
    if (!conn->vouches) {
        if (c->nvouchers == c->vouchers_cap) {
            c->vouchers_cap = c->vouchers_cap ? 2 * c->vouchers_cap : 8;
            c->vouchers = cl_xrealloc(c->vouchers, c->vouchers_cap * sizeof *c->vouchers);
        }
        ctl_sink_ref(conn);
        c->vouchers[c->nvouchers++] = conn;
        conn->vouches = true;
    }
    if (conn->vsuspect) {
        conn->vsuspect = false;
        c->nvsuspects--;
    }
    conn->last_seen = now;
    conn->vdeadline = mono + c->cfg.dead_after_ms;
    if (conn->vdown) { /* its nodes were declared down: those it still vouches for are back */
        conn->vdown = false;
        for (uint32_t i = 0; i < c->nnodes; i++)
            if (c->nodes[i].conn == conn && c->nodes[i].vouched) heard(c, &c->nodes[i]);
    }
    for (size_t i = 0; i < hb->n_silent; i++) {
        uint32_t id = hb->silent[i];
        if (id < c->nnodes && c->nodes[id].conn == conn && c->nodes[id].vouched)
            unvouch(c, &c->nodes[id], mono, now);
    }
    for (size_t i = 0; i < hb->n_nodes; i++) {
        uint32_t id = hb->nodes[i];
        if (id >= c->nnodes || c->nodes[id].conn != conn) continue; /* stale or bogus */
        ctl_node_t *n = &c->nodes[id];
        n->vouched = true;
        n->suspect = false;
        n->last_seen = now;
        heard(c, n);
    }
}

void ctl_node_heartbeat(ctl_t *c, ctl_sink_t *conn, const Colossus__Heartbeat *hb)
{
    uint64_t mono = ctl_mono_ms(c);
    double now = ctl_now(c);
    if (hb->vouch)
        vouch_heartbeat(c, conn, hb, mono, now);
    else
        for (size_t i = 0; i < hb->n_nodes; i++) {
            uint32_t id = hb->nodes[i];
            if (id >= c->nnodes || c->nodes[id].conn != conn)
                continue; /* not carried by this connection: stale or bogus */
            ctl_node_t *n = &c->nodes[id];
            heard(c, n);
            arm_for(c, n, 0, mono, now);
        }
    /* The node-side lease (docs/standby.md, "Fencing"): an answer extends it, so only a
     * leader whose own lease is certainly still held answers. */
    if (hb->seq && (!c->store || cl_store_fresh(c->store))) {
        Colossus__HeartbeatAck a = COLOSSUS__HEARTBEAT_ACK__INIT;
        a.seq = hb->seq;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_HEARTBEAT_ACK;
        m.heartbeat_ack = &a;
        ctl_send(c, conn, &m);
    }
}

/* n is going down: the CTL_LEAF_EVENT_NODES-th of its leaf switch within two heartbeat
 * periods makes them one network event (a switch, its uplink or the path to it: issue 16),
 * said once and counted (/metrics); each node stays a node failure of its own. */
static void leaf_event(ctl_t *c, ctl_node_t *n, double now)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    if (!c->leaf_down) c->leaf_down = cl_xcalloc(cl_topo_leaves(t), sizeof *c->leaf_down);
    uint32_t leaf = cl_topo_node_leaf(t, n->id);
    struct ctl_leaf_down *l = &c->leaf_down[leaf];
    if (!l->count || (now - l->first) * 1000 > 2.0 * c->cfg.heartbeat_ms)
        *l = (struct ctl_leaf_down){now, 0, false};
    if (++l->count < CTL_LEAF_EVENT_NODES || l->said) return;
    l->said = true;
    c->count.leaf_events++;
    ctl_log(c,
            "network event: leaf %s: %u of its nodes lost within %.0f ms so far (a leaf "
            "switch, its "
            "uplink or the path to it?)",
            cl_topo_leaf_name(t, leaf), l->count, (now - l->first) * 1000);
}

/* n is down: its jobs are told, the scheduler and the watchers. */
static void declare_down(ctl_t *c, ctl_node_t *n, bool say, double now)
{
    n->suspect = false;
    n->alive = false;
    leaf_event(c, n, now);
    if (say)
        ctl_log(c, "node %s declared down: no heartbeat for %.0f ms", n->name,
                (now - node_seen(n)) * 1000);
    c->count.detections[CTL_DETECT_HEARTBEAT]++;
    ctl_jobs_node_failed(c, n);
    c->sched_needed = true;
    if (c->watchers) ctl_watch_node(c, n);
}

/* A relay's connection unheard for dead-after (no FIN: its host vanished, or it hangs): the
 * nodes it still vouches for are down, one line for all; those that registered through
 * another path meanwhile are not its any more. */
static void judge_vouchers(ctl_t *c, double now)
{
    for (size_t k = 0; k < c->nvouchers && c->nvsuspects; k++) {
        ctl_sink_t *v = c->vouchers[k];
        if (!v->vsuspect) continue;
        v->vsuspect = false;
        v->vdown = true;
        c->nvsuspects--;
        uint32_t down = 0;
        for (uint32_t i = 0; i < c->nnodes; i++) {
            ctl_node_t *n = &c->nodes[i];
            if (n->conn == v && n->vouched && n->alive) declare_down(c, n, down++ < 4, now);
        }
        if (down)
            ctl_log(c,
                    "relay connection %s: no heartbeat for %.0f ms: the %u nodes it vouched "
                    "for are down",
                    v->peer, (now - v->last_seen) * 1000, down);
        else
            ctl_log(c,
                    "relay connection %s: no heartbeat for %.0f ms; its nodes had gone "
                    "through other paths",
                    v->peer, (now - v->last_seen) * 1000);
    }
}

/* End of the turn, after its reads: a suspect no heartbeat cleared is down. */
void ctl_nodes_judge(ctl_t *c)
{
    if (!c->nsuspects && !c->nvsuspects) return;
    double now = ctl_now(c);
    judge_vouchers(c, now);
    for (size_t i = 0; i < c->nsuspects; i++) {
        ctl_node_t *n = &c->nodes[c->suspects[i]];
        if (!n->suspect || !n->alive) continue;
        declare_down(c, n, true, now);
    }
    c->nsuspects = 0;
}

/* conn carries n no more; one line for each of the first few (then a count, by the caller). */
static void uncarry(ctl_t *c, ctl_sink_t *conn, ctl_node_t *n, uint32_t *said, const char *what)
{
    if (n->vouched) unvouch(c, n, ctl_mono_ms(c), ctl_now(c));
    n->conn = NULL;
    conn->nnodes--;
    if ((*said)++ < 4)
        ctl_log(c, "node %s: %s; down after %u ms without heartbeat", n->name, what,
                c->cfg.dead_after_ms);
    ctl_sink_unref(conn); /* last: it may free conn */
}

/* conn vouches no more (it closed). */
static void voucher_remove(ctl_t *c, ctl_sink_t *conn)
{
    for (size_t i = 0; i < c->nvouchers; i++) {
        if (c->vouchers[i] != conn) continue;
        if (conn->vsuspect) c->nvsuspects--;
        conn->vsuspect = false;
        c->vouchers[i] = c->vouchers[--c->nvouchers];
        ctl_sink_unref(conn);
        return;
    }
}

void ctl_nodes_conn_closed(ctl_t *c, ctl_sink_t *conn)
{
    if (!conn->nnodes) { /* a client, or an agent that registered nothing: no scan */
        if (conn->vouches) voucher_remove(c, conn);
        return;
    }
    uint32_t said = 0, n = conn->nnodes;
    char peer[sizeof conn->peer];
    snprintf(peer, sizeof peer, "%s", conn->peer);
    for (uint32_t i = 0; i < c->nnodes && said < n; i++)
        if (c->nodes[i].conn == conn) uncarry(c, conn, &c->nodes[i], &said, "connection lost");
    /* a hollow agent or a relay: one line for its thousands of nodes */
    if (n > 4)
        ctl_log(c,
                "connection %s lost: it carried %u nodes; each is down after %u ms unless "
                "it registers again (through another relay or straight)",
                peer, n, c->cfg.dead_after_ms);
    if (conn->vouches) voucher_remove(c, conn); /* last: it may free conn */
}

void ctl_nodes_detach(ctl_t *c, ctl_sink_t *conn, const Colossus__Detach *d)
{
    uint32_t said = 0;
    for (size_t i = 0; i < d->n_nodes && conn->nnodes; i++) {
        uint32_t id = d->nodes[i];
        if (id < c->nnodes && c->nodes[id].conn == conn)
            uncarry(c, conn, &c->nodes[id], &said, "its agent left the relay");
    }
}

int ctl_node_remove(ctl_t *c, const char *name, cl_error_t *err)
{
    ctl_node_t *n = ctl_node_by_name(c, name);
    if (!n) return cl_err(err, "no node named '%.64s'", name);
    if (n->conn && !n->conn->closed)
        return cl_err(err, "node %s is connected (from %.60s): stop its agent first", n->name,
                      n->conn->peer);
    cl_jobid_t on[1];
    if (cl_node_jobs(c->cluster, n->id, on, 1))
        return cl_err(err, "node %s still holds job %" PRIu64, n->name, on[0]);
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && j->recovering && ctl_job_alloc_pos(j, n->id) >= 0)
            return cl_err(err, "node %s ran job %" PRIu64 ", still being recovered", n->name,
                          id);
    }
    name_remove(c, n);
    n->bound = false;
    n->alive = false;
    n->drained = false;
    n->reason[0] = 0;
    n->addr[0] = 0;
    if (n->conn) {
        n->conn->nnodes--;
        ctl_sink_unref(n->conn);
        n->conn = NULL;
    }
    cl_node_set_inventory(c->cluster, n->id, false, 0, 0); /* a free slot says nothing */
    cl_store_node_t rec = {.id = n->id, .name = "", .reason = ""};
    cl_store_batch_node(c->open->records, &rec);
    snprintf(n->name, sizeof n->name, "%s",
             cl_topo_node_name(cl_cluster_topo(c->cluster), n->id));
    if (n->id < c->next_free) c->next_free = n->id;
    return 0;
}
