/* ctl_ops.c - requests are operations: one table maps each to its handler, which is given the
 * controller, the caller (a principal), the request and the sink its answer goes to. The
 * framed protocol and (later) HTTP enter here alike; every answer is held with the batch that
 * is open when it is made, so it leaves only once what the operation changed is durable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"

typedef void ctl_op_f(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                      ctl_sink_t *reply);

typedef struct ctl_op {
    Colossus__Request__BodyCase body;
    const char *name; /* logs, and the REST routes of the API issue */
    bool writes;      /* changes state: journaled before its answer leaves */
    ctl_op_f *fn;
} ctl_op_t;

/* Who may do what. Every operation is the cluster key holder's today; the tenants issue gives
 * each operation the roles that may call it and checks them here. */
static bool allowed(const ctl_op_t *op, const ctl_principal_t *who)
{
    (void)op;
    return who && who->kind == CTL_PRINCIPAL_CLUSTER_KEY;
}

/* ---- jobs ---- */

static void op_submit(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    uint64_t id;
    cl_error_t err;
    if (ctl_job_submit(c, r->submit, &id, &err) < 0) {
        ctl_reply_error(c, reply, r->req, "submit refused: %s", err.msg);
        return;
    }
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.job = id;
    ctl_reply(c, reply, &rs); /* leaves only after the job is journaled */
}

/* A long list as Responses of at most ~1 MiB each, all but the last with `more` set, so
 * that no frame nears CL_FRAME_MAX whatever the cluster's size (550,000 nodes are ~60 MB). */
#define PART_BYTES (1u << 20)

typedef enum { PART_JOBS, PART_NODES, PART_TENANTS } part_kind_t;

static size_t item_size(part_kind_t k, const void *item)
{
    switch (k) {
    case PART_JOBS:
        return colossus__job_info__get_packed_size(item);
    case PART_NODES:
        return colossus__node_info__get_packed_size(item);
    case PART_TENANTS:
        return colossus__tenant_info__get_packed_size(item);
    }
    return 0;
}

static void reply_parts(ctl_t *c, ctl_sink_t *reply, uint64_t req, void **items, size_t n,
                        part_kind_t kind)
{
    size_t i = 0;
    do {
        size_t j = i, bytes = 0;
        while (j < n) {
            size_t b = item_size(kind, items[j]);
            if (j > i && bytes + b + 8 > PART_BYTES) break;
            bytes += b + 8;
            j++;
        }
        Colossus__Response r = COLOSSUS__RESPONSE__INIT;
        r.req = req;
        r.ok = true;
        if (kind == PART_NODES) {
            r.nodes = (Colossus__NodeInfo **)items + i;
            r.n_nodes = j - i;
        } else if (kind == PART_JOBS) {
            r.jobs = (Colossus__JobInfo **)items + i;
            r.n_jobs = j - i;
        } else {
            r.tenants = (Colossus__TenantInfo **)items + i;
            r.n_tenants = j - i;
        }
        r.more = j < n;
        ctl_reply(c, reply, &r);
        i = j;
    } while (i < n);
}

static bool listed(const ctl_job_t *j, bool all)
{
    return j && (all || j->state == CL_JOB_PENDING || j->state == CL_JOB_RUNNING);
}

static void op_jobs(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    size_t n = 0;
    for (uint64_t id = 1; id <= c->max_id; id++)
        n += listed(ctl_job_get(c, id), r->jobs_all);
    Colossus__JobInfo *v = cl_xcalloc(n + 1, sizeof *v), **vp = cl_xcalloc(n + 1, sizeof *vp);
    size_t k = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (listed(j, r->jobs_all)) {
            ctl_job_fill_info(c, j, &v[k]);
            vp[k] = &v[k];
            k++;
        }
    }
    reply_parts(c, reply, r->req, (void **)vp, k, PART_JOBS);
    for (size_t i = 0; i < k; i++)
        ctl_job_info_release(&v[i]);
    free(v);
    free(vp);
}

static void op_show(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, r->show, &transient);
    if (!j) {
        ctl_reply_error(c, reply, r->req, "no job %" PRIu64, r->show);
        return;
    }
    ctl_reply_job(c, reply, r->req, j);
    if (transient) ctl_job_free(j);
}

static void op_cancel(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    cl_error_t err;
    if (ctl_job_cancel(c, r->cancel, &err) < 0) {
        ctl_reply_error(c, reply, r->req, "%s", err.msg);
        return;
    }
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.job = r->cancel;
    ctl_reply(c, reply, &rs);
}

/* Answered when the job ends: the waiter holds the sink, not a connection. */
static void op_wait(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, r->wait, &transient);
    if (!j) {
        ctl_reply_error(c, reply, r->req, "no job %" PRIu64, r->wait);
        return;
    }
    if (j->state != CL_JOB_PENDING && j->state != CL_JOB_RUNNING) {
        ctl_reply_job(c, reply, r->req, j);
        if (transient) ctl_job_free(j);
        return;
    }
    ctl_waiter_t *w = cl_xcalloc(1, sizeof *w);
    ctl_sink_ref(reply);
    w->sink = reply;
    w->req = r->req;
    w->next = j->waiters;
    j->waiters = w;
    reply->nwaiters++;
}

/* ---- logs: relayed to the node that holds the rank ---- */

static void fetch_logs_of(ctl_t *c, ctl_sink_t *reply, uint64_t req,
                          const Colossus__LogFetch *q, ctl_job_t *j)
{
    uint32_t per = j->gpus_per_node ? j->gpus_per_node : 1;
    if (!j->nalloc) {
        ctl_reply_error(c, reply, req, "job %" PRIu64 " has not run yet: no logs", q->job);
        return;
    }
    if (q->rank >= per * j->nalloc) {
        ctl_reply_error(c, reply, req, "job %" PRIu64 " has ranks 0..%u, not %u", q->job,
                        per * j->nalloc - 1, q->rank);
        return;
    }
    uint32_t node = j->alloc[q->rank / per];
    if (!c->nodes[node].conn) {
        ctl_reply_error(c, reply, req, "node %s (holding rank %u) is not connected",
                        c->nodes[node].name, q->rank);
        return;
    }
    ctl_logreq_t *lr = cl_xcalloc(1, sizeof *lr);
    lr->id = ++c->next_logreq;
    ctl_sink_ref(reply);
    lr->client = reply;
    lr->client_req = req;
    lr->node = node;
    lr->next = c->logreqs;
    c->logreqs = lr;
    Colossus__LogFetch f = COLOSSUS__LOG_FETCH__INIT;
    f.req = lr->id;
    f.node = node;
    f.job = q->job;
    f.rank = q->rank;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LOG_FETCH;
    m.log_fetch = &f;
    ctl_send_node(c, node, &m);
}

static void op_logs(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, r->logs->job, &transient);
    if (!j) {
        ctl_reply_error(c, reply, r->req, "no job %" PRIu64, r->logs->job);
        return;
    }
    fetch_logs_of(c, reply, r->req, r->logs, j);
    if (transient) ctl_job_free(j);
}

static void logreq_free(ctl_logreq_t *lr)
{
    ctl_sink_unref(lr->client);
    free(lr);
}

void ctl_log_data(ctl_t *c, ctl_sink_t *conn, const Colossus__LogData *d)
{
    for (ctl_logreq_t **p = &c->logreqs; *p; p = &(*p)->next) {
        ctl_logreq_t *lr = *p;
        if (lr->id != d->req) continue;
        if (c->nodes[lr->node].conn != conn) return; /* not the node we asked: ignored */
        *p = lr->next;
        if (!d->ok) {
            ctl_reply_error(c, lr->client, lr->client_req, "%s", d->error);
        } else {
            Colossus__Response r = COLOSSUS__RESPONSE__INIT;
            r.req = lr->client_req;
            r.ok = true;
            r.data = d->data;
            ctl_reply(c, lr->client, &r);
        }
        logreq_free(lr);
        return;
    }
}

/* s went away: fetches it asked for are dropped, and fetches from nodes it carried will
 * never be answered (their clients are told). */
void ctl_logreqs_conn_closed(ctl_t *c, ctl_sink_t *s)
{
    for (ctl_logreq_t **p = &c->logreqs; *p;) {
        ctl_logreq_t *q = *p;
        bool from_node = s->nnodes && c->nodes[q->node].conn == s;
        if (from_node || q->client == s) {
            *p = q->next;
            if (from_node)
                ctl_reply_error(c, q->client, q->client_req,
                                "node %s went away before sending the log",
                                c->nodes[q->node].name);
            logreq_free(q);
            continue;
        }
        p = &q->next;
    }
}

void ctl_logreqs_free(ctl_t *c)
{
    while (c->logreqs) {
        ctl_logreq_t *q = c->logreqs;
        c->logreqs = q->next;
        logreq_free(q);
    }
}

/* ---- nodes ---- */

static void op_nodes(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                     ctl_sink_t *reply)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->nnodes; i++)
        n += c->nodes[i].bound;
    Colossus__NodeInfo *v = cl_xcalloc(n + 1, sizeof *v), **vp = cl_xcalloc(n + 1, sizeof *vp);
    uint64_t *jobs = cl_xcalloc((n + 1) * 64, sizeof *jobs);
    size_t k = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        ctl_node_t *nd = &c->nodes[i];
        if (!nd->bound) continue;
        Colossus__NodeInfo *o = &v[k];
        colossus__node_info__init(o);
        o->id = nd->id;
        o->name = nd->name;
        o->state = (char *)ctl_node_state(c, nd);
        o->gpus = nd->ngpus;
        cl_node_info_t info;
        if (cl_node_get(c->cluster, nd->id, &info) == 0)
            o->gpus_free = (uint32_t)__builtin_popcountll(info.free);
        cl_jobid_t on[64];
        size_t nj = cl_node_jobs(c->cluster, nd->id, on, 64);
        o->jobs = jobs + k * 64;
        for (size_t x = 0; x < nj; x++)
            o->jobs[x] = on[x];
        o->n_jobs = nj;
        o->reason = nd->drained ? nd->reason : "";
        o->connected = nd->conn != NULL;
        ctl_health_fill(c, nd, o);
        vp[k] = o;
        k++;
    }
    reply_parts(c, reply, r->req, (void **)vp, k, PART_NODES);
    free(v);
    free(vp);
    free(jobs);
}

static void node_admin(ctl_t *c, ctl_sink_t *reply, uint64_t req, const Colossus__NodeAdmin *a,
                       bool drain)
{
    ctl_node_t *n = ctl_node_by_name(c, a->node);
    if (!n) {
        ctl_reply_error(c, reply, req, "no node named '%s'", a->node);
        return;
    }
    if (strlen(a->reason) >= sizeof n->reason || cl_has_control(a->reason) ||
        !cl_utf8_valid(a->reason, strlen(a->reason))) {
        ctl_reply_error(c, reply, req,
                        "the reason must be at most %zu bytes of UTF-8 without control "
                        "characters (it has %zu)",
                        sizeof n->reason - 1, strlen(a->reason));
        return;
    }
    if (ctl_health_admin(c, reply, req, a, drain))
        return; /* drain --check, or resume of a node whose GPU health took it out */
    cl_error_t e;
    double now = ctl_now(c);
    int rc = 0;
    if (n->alive)
        rc = drain ? cl_node_drain(c->cluster, n->id, now, &e)
                   : cl_node_resume(c->cluster, n->id, now, &e);
    if (rc < 0) {
        ctl_reply_error(c, reply, req, "%s: %s", n->name, e.msg);
        return;
    }
    n->drained = drain;
    snprintf(n->reason, sizeof n->reason, "%s", drain ? a->reason : "");
    ctl_node_journal(c, n);
    ctl_log(c, "node %s %s%s", n->name, drain ? "draining: " : "resumed",
            drain ? a->reason : "");
    c->sched_needed = true;
    ctl_reply_ok(c, reply, req, NULL);
}

static void op_drain(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                     ctl_sink_t *reply)
{
    node_admin(c, reply, r->req, r->drain, true);
}

static void op_resume(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    node_admin(c, reply, r->req, r->resume, false);
}

/* ---- tenants ---- */

static void op_tenants(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    uint32_t n = cl_tenant_count(c->cluster);
    Colossus__TenantInfo *v = cl_xcalloc(n + 1, sizeof *v),
                         **vp = cl_xcalloc(n + 1, sizeof *vp);
    double now = ctl_now(c);
    for (uint32_t t = 0; t < n; t++) {
        colossus__tenant_info__init(&v[t]);
        v[t].name = (char *)cl_tenant_name(c->cluster, t);
        v[t].shares = cl_tenant_shares(c->cluster, t);
        v[t].usage_gpu_s = cl_tenant_usage(c->cluster, t, now);
        v[t].fairshare = cl_tenant_factor(c->cluster, t, now);
        vp[t] = &v[t];
    }
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || (j->state != CL_JOB_PENDING && j->state != CL_JOB_RUNNING)) continue;
        int t = cl_tenant_find(c->cluster, j->tenant);
        if (t < 0) continue;
        if (j->state == CL_JOB_PENDING) {
            v[t].jobs_pending++;
        } else {
            v[t].jobs_running++;
            v[t].gpus_running += j->nalloc * j->gpus_per_node;
        }
    }
    reply_parts(c, reply, r->req, (void **)vp, n, PART_TENANTS);
    free(v);
    free(vp);
}

/* ---- the table ---- */

static const ctl_op_t ops[] = {
    {COLOSSUS__REQUEST__BODY_SUBMIT, "submit", true, op_submit},
    {COLOSSUS__REQUEST__BODY_JOBS_ALL, "jobs", false, op_jobs},
    {COLOSSUS__REQUEST__BODY_SHOW, "show", false, op_show},
    {COLOSSUS__REQUEST__BODY_CANCEL, "cancel", true, op_cancel},
    {COLOSSUS__REQUEST__BODY_WAIT, "wait", false, op_wait},
    {COLOSSUS__REQUEST__BODY_LOGS, "logs", false, op_logs},
    {COLOSSUS__REQUEST__BODY_NODES, "nodes", false, op_nodes},
    {COLOSSUS__REQUEST__BODY_DRAIN, "drain", true, op_drain},
    {COLOSSUS__REQUEST__BODY_RESUME, "resume", true, op_resume},
    {COLOSSUS__REQUEST__BODY_TENANTS, "tenants", false, op_tenants},
};

void ctl_request(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                 ctl_sink_t *reply)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (ops[i].body != r->body_case) continue;
        if (!allowed(&ops[i], who)) {
            ctl_reply_error(c, reply, r->req, "%s: permission denied for %s", ops[i].name,
                            who ? who->name : "an unauthenticated caller");
            return;
        }
        ops[i].fn(c, who, r, reply);
        if (ops[i].writes)
            c->open->writers++; /* a client that may be back with the next one: ctl.h */
        return;
    }
    ctl_reply_error(c, reply, r->req, "unknown request");
}
