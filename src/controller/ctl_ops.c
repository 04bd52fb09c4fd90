/* ctl_ops.c - requests are operations: one table maps each to its handler, which is given the
 * controller, the caller (a principal), the request and the sink its answer goes to. The
 * framed protocol and (later) HTTP enter here alike; every answer is held with the batch that
 * is open when it is made, so it leaves only once what the operation changed is durable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/hostlist.h"

typedef void ctl_op_f(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply);

/* Who may call an operation at all (the handler then checks the objects it touches: a
 * user's jobs are its tenants', a manager's users are its tenants'). */
typedef enum ctl_op_who {
    OP_ANY,   /* any user (the handler decides per object) */
    OP_OPER,  /* an operator or admin, with an admin-scoped credential */
    OP_ADMIN, /* an admin, with an admin-scoped credential */
} ctl_op_who_t;

typedef struct ctl_op {
    Colossus__Request__BodyCase body;
    const char *name;  /* logs, audit, and the REST routes of the API issue */
    bool writes;       /* changes state: journaled before its answer leaves, audited */
    ctl_scope_t scope; /* the least scope a token needs */
    ctl_op_who_t who;
    ctl_op_f *fn;
} ctl_op_t;

/* Whether k may call op at all: NULL, or why not (static text or buf). */
static const char *denied(const ctl_op_t *op, const char *label, const ctl_caller_t *k,
                          char *buf, size_t len)
{
    if (k->scope < op->scope) {
        snprintf(buf, len, "%s needs a credential of %s scope (this one is %s-scoped)", label,
                 ctl_scope_name(op->scope), ctl_scope_name(k->scope));
        return buf;
    }
    if (op->who == OP_ADMIN && !k->admin) return "only an admin may do this";
    if (op->who == OP_OPER && !k->oper) return "only an operator or admin may do this";
    return NULL;
}

/* The operation as the audit log names it ("tenant add" rather than "tenant") and what it
 * was to touch, for refusals before its handler runs. */
static const char *op_label(const ctl_op_t *op, const Colossus__Request *r, char *target,
                            size_t len)
{
    target[0] = 0;
    switch (r->body_case) {
    case COLOSSUS__REQUEST__BODY_TENANT:
        snprintf(target, len, "%.64s", r->tenant->name);
        return r->tenant->create ? "tenant add" : "tenant set";
    case COLOSSUS__REQUEST__BODY_USER:
        if (r->user->user) snprintf(target, len, "%.64s", r->user->user->name);
        return r->user->create ? "user add" : "user set";
    case COLOSSUS__REQUEST__BODY_QOS:
        if (r->qos->qos) snprintf(target, len, "%.64s", r->qos->qos->name);
        return r->qos->create ? "qos add" : "qos set";
    case COLOSSUS__REQUEST__BODY_DRAIN:
        snprintf(target, len, "%.64s", r->drain->node);
        break;
    case COLOSSUS__REQUEST__BODY_RESUME:
        snprintf(target, len, "%.64s", r->resume->node);
        break;
    case COLOSSUS__REQUEST__BODY_NODE_REMOVE:
        snprintf(target, len, "%.64s", r->node_remove);
        break;
    case COLOSSUS__REQUEST__BODY_CANCEL:
        snprintf(target, len, "job %" PRIu64, r->cancel);
        break;
    case COLOSSUS__REQUEST__BODY_POWER:
        return ctl_power_op_label(r, target, len);
    case COLOSSUS__REQUEST__BODY_RESERVE:
        snprintf(target, len, "%.64s", r->reserve->name);
        break;
    case COLOSSUS__REQUEST__BODY_RESERVE_DELETE:
        snprintf(target, len, "%.64s", r->reserve_delete);
        break;
    case COLOSSUS__REQUEST__BODY_HOLD:
    case COLOSSUS__REQUEST__BODY_RELEASE:
    case COLOSSUS__REQUEST__BODY_REQUEUE:
    case COLOSSUS__REQUEST__BODY_CANCEL_TASK:
        snprintf(target, len, "job %" PRIu64,
                 r->body_case == COLOSSUS__REQUEST__BODY_HOLD      ? r->hold
                 : r->body_case == COLOSSUS__REQUEST__BODY_RELEASE ? r->release
                 : r->body_case == COLOSSUS__REQUEST__BODY_REQUEUE ? r->requeue
                                                                   : r->cancel_task);
        break;
    default:
        break;
    }
    return op->name;
}

/* The job as caller k may see it: NULL (and the answer sent) when it does not exist or is
 * another tenant's (the same answer, so that nobody learns of other tenants' jobs). */
static ctl_job_t *job_for(ctl_t *c, const ctl_caller_t *k, uint64_t id, bool *transient,
                          ctl_sink_t *reply, uint64_t req)
{
    ctl_job_t *j = ctl_job_lookup(c, id, transient);
    if (j && !k->sees_all && !ctl_caller_sees_tenant(c, k, j->tenant_ix)) {
        if (*transient) ctl_job_free(j);
        j = NULL;
    }
    if (!j) ctl_reply_error(c, reply, req, "no job %" PRIu64, id);
    return j;
}

/* ---- jobs ---- */

static void op_submit(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    uint64_t id;
    cl_error_t err;
    const char *key = r->submit->idempotency_key;
    if (ctl_idem_check(key, &err) < 0) {
        ctl_reply_error(c, reply, r->req, "submit refused: %s", err.msg);
        return;
    }
    if (ctl_idem_find(c, k, key, &id)) { /* a retry: the job the first one made */
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        rs.req = r->req;
        rs.ok = true;
        rs.job = id;
        ctl_reply(c, reply, &rs); /* after the batch that journaled the job, or a later one */
        return;
    }
    int rc = ctl_job_submit(c, k, r->submit, &id, &err);
    if (rc < 0) {
        ctl_audit(c, k, "submit", r->submit->name, false, err.msg);
        char msg[300];
        snprintf(msg, sizeof msg, "submit refused: %s", err.msg);
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        rs.req = r->req;
        rs.error = msg;
        rs.bad_input = rc == -2; /* a node list naming no node, a dependency on no job (of
                                    its tenants): the CLI's exit 2 */
        ctl_reply(c, reply, &rs);
        return;
    }
    char target[32], detail[160];
    ctl_job_t *j = ctl_job_get(c, id);
    snprintf(target, sizeof target, "job %" PRIu64, id);
    snprintf(detail, sizeof detail, "tenant %s, %u x %u GPUs, priority %d%s%.64s", j->tenant,
             j->nodes, j->gpus_per_node, j->priority, j->array ? ", array " : "",
             j->array ? j->array : "");
    ctl_audit(c, k, "submit", target, true, detail);
    ctl_idem_put(c, k, key, id);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.job = id;
    ctl_reply(c, reply, &rs); /* leaves only after the job is journaled */
}

/* A long list as Responses of at most ~1 MiB each, all but the last with `more` set, so
 * that no frame nears CL_FRAME_MAX whatever the cluster's size (550,000 nodes are ~60 MB). */
#define PART_BYTES CTL_PART_BYTES

static size_t item_size(ctl_part_t k, const void *item)
{
    switch (k) {
    case CTL_PART_JOBS:
        return colossus__job_info__get_packed_size(item);
    case CTL_PART_NODES:
        return colossus__node_info__get_packed_size(item);
    case CTL_PART_TENANTS:
        return colossus__tenant_info__get_packed_size(item);
    case CTL_PART_HISTORY:
        return colossus__usage_record__get_packed_size(item);
    case CTL_PART_AUDIT:
        return colossus__audit_record__get_packed_size(item);
    case CTL_PART_USERS:
        return colossus__user_info__get_packed_size(item);
    case CTL_PART_TOKENS:
        return colossus__token_info__get_packed_size(item);
    }
    return 0;
}

void *ctl_items(size_t n, size_t size)
{
    void **vp = cl_xcalloc(1, (n + 1) * (sizeof *vp + size));
    char *item = (char *)(vp + n + 1);
    for (size_t i = 0; i < n; i++)
        vp[i] = item + i * size;
    return vp;
}

/* The node names nodes[k..) that fit a part beside `bytes` already in it: the end. */
static size_t names_fit(char **nodes, size_t k, size_t n, size_t bytes)
{
    size_t e = k;
    while (e < n && (e == k || bytes + strlen(nodes[e]) + 4 <= PART_BYTES))
        bytes += strlen(nodes[e++]) + 4;
    return e;
}

void ctl_reply_big_job(ctl_t *c, ctl_sink_t *reply, Colossus__Response *head, bool more_after,
                       bool page_more)
{
    Colossus__JobInfo *j = head->jobs[0];
    size_t n = j->n_nodes;
    if (!reply->ops->framed) { /* HTTP: in-process, whole */
        head->more = more_after;
        head->page_more = !more_after && page_more;
        ctl_reply(c, reply, head);
        return;
    }
    j->n_nodes = 0;
    size_t k = names_fit(j->nodes, 0, n, colossus__job_info__get_packed_size(j));
    j->n_nodes = k;
    head->more = k < n || more_after;
    head->page_more = !head->more && page_more;
    ctl_reply(c, reply, head);
    j->n_nodes = n;
    while (k < n) {
        size_t e = names_fit(j->nodes, k, n, 0);
        Colossus__Response r = COLOSSUS__RESPONSE__INIT;
        r.req = head->req;
        r.ok = true;
        r.job_nodes = j->nodes + k;
        r.n_job_nodes = e - k;
        r.more = e < n || more_after;
        r.page_more = !r.more && page_more;
        ctl_reply(c, reply, &r);
        k = e;
    }
}

void ctl_reply_page(ctl_t *c, ctl_sink_t *reply, uint64_t req, void **items, size_t n,
                    ctl_part_t kind, bool page_more)
{
    size_t i = 0;
    do {
        if (kind == CTL_PART_JOBS && i < n && item_size(kind, items[i]) > PART_BYTES) {
            Colossus__Response r = COLOSSUS__RESPONSE__INIT;
            r.req = req;
            r.ok = true;
            r.jobs = (Colossus__JobInfo **)items + i;
            r.n_jobs = 1;
            ctl_reply_big_job(c, reply, &r, i + 1 < n, page_more);
            i++;
            continue;
        }
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
        void **part = items + i;
        switch (kind) {
        case CTL_PART_NODES:
            r.nodes = (Colossus__NodeInfo **)part;
            r.n_nodes = j - i;
            break;
        case CTL_PART_JOBS:
            r.jobs = (Colossus__JobInfo **)part;
            r.n_jobs = j - i;
            break;
        case CTL_PART_TENANTS:
            r.tenants = (Colossus__TenantInfo **)part;
            r.n_tenants = j - i;
            break;
        case CTL_PART_HISTORY:
            r.history = (Colossus__UsageRecord **)part;
            r.n_history = j - i;
            break;
        case CTL_PART_AUDIT:
            r.audit = (Colossus__AuditRecord **)part;
            r.n_audit = j - i;
            break;
        case CTL_PART_USERS:
            r.users = (Colossus__UserInfo **)part;
            r.n_users = j - i;
            break;
        case CTL_PART_TOKENS:
            r.tokens = (Colossus__TokenInfo **)part;
            r.n_tokens = j - i;
            break;
        }
        r.more = j < n;
        r.page_more = !r.more && page_more;
        ctl_reply(c, reply, &r);
        i = j;
    } while (i < n);
}

void ctl_reply_parts(ctl_t *c, ctl_sink_t *reply, uint64_t req, void **items, size_t n,
                     ctl_part_t kind)
{
    ctl_reply_page(c, reply, req, items, n, kind, false);
}

bool ctl_job_listed(ctl_t *c, const ctl_caller_t *k, const ctl_job_t *j, bool all)
{
    return j && (all || j->state == CL_JOB_PENDING || j->state == CL_JOB_RUNNING) &&
           (k->sees_all || ctl_caller_sees_tenant(c, k, j->tenant_ix));
}

static void op_jobs(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    size_t n = 0;
    for (uint64_t id = 1; id <= c->max_id; id++)
        n += ctl_job_listed(c, k, ctl_job_get(c, id), r->jobs_all);
    Colossus__JobInfo **vp = ctl_items(n, sizeof **vp);
    size_t m = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (ctl_job_listed(c, k, j, r->jobs_all)) ctl_job_fill_info(c, j, vp[m++]);
    }
    ctl_reply_parts(c, reply, r->req, (void **)vp, m, CTL_PART_JOBS);
    for (size_t i = 0; i < m; i++)
        ctl_job_info_release(vp[i]);
    free(vp);
}

static void op_show(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = job_for(c, k, r->show, &transient, reply, r->req);
    if (!j) return;
    ctl_reply_job(c, reply, r->req, j);
    if (transient) ctl_job_free(j);
}

/* What cancel, hold, release and requeue do to a job once the caller may. */
typedef enum job_act { ACT_CANCEL, ACT_HOLD, ACT_RELEASE, ACT_REQUEUE } job_act_t;

/* Users act on their own jobs; a tenant's manager (or an admin) on any of the tenant's; an
 * operator too, except cancel (an operator's is drain). */
static void job_act(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply, uint64_t id, job_act_t act)
{
    static const char *const name[] = {"cancel", "hold", "release", "requeue"};
    const char *what = name[act];
    cl_error_t err;
    char target[32];
    snprintf(target, sizeof target, "job %" PRIu64, id);
    bool transient;
    ctl_job_t *j = job_for(c, k, id, &transient, reply, r->req);
    if (!j) {
        ctl_audit(c, k, what, target, false, "no such job of the caller's tenants");
        return;
    }
    bool own = k->user && !strcmp(j->user, k->user->name);
    bool may = k->admin || own || ctl_caller_manages(k, j->tenant_ix) ||
               (act != ACT_CANCEL && k->oper);
    /* an array's id names the whole array (Slurm's); cancel_task its first task alone */
    bool whole = act == ACT_CANCEL && j->array_id == id &&
                 r->body_case == COLOSSUS__REQUEST__BODY_CANCEL;
    if (transient) ctl_job_free(j);
    if (!may) {
        ctl_audit(c, k, what, target, false, "another user's job");
        ctl_reply_error(c, reply, r->req,
                        "%s refused: job %" PRIu64 " is another user's (its tenant's "
                        "manager or an admin may %s it)",
                        what, id, what);
        return;
    }
    char wb[64];
    const char *who = ctl_caller_name(k, wb, sizeof wb);
    int rc = whole                ? ctl_array_cancel(c, id, who, &err)
             : act == ACT_CANCEL  ? ctl_job_cancel(c, id, who, &err)
             : act == ACT_REQUEUE ? ctl_job_requeue(c, id, &err)
                                  : ctl_job_hold(c, id, act == ACT_HOLD, &err);
    if (rc < 0) {
        ctl_audit(c, k, what, target, false, err.msg);
        ctl_reply_error(c, reply, r->req, "%s", err.msg);
        return;
    }
    ctl_audit(c, k, what, target, true, NULL);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.job = id;
    ctl_reply(c, reply, &rs);
}

static void op_cancel(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    job_act(c, k, r, reply, r->cancel, ACT_CANCEL);
}

static void op_cancel_task(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                           ctl_sink_t *reply)
{
    job_act(c, k, r, reply, r->cancel_task, ACT_CANCEL);
}

static void op_hold(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    job_act(c, k, r, reply, r->hold, ACT_HOLD);
}

static void op_release(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    job_act(c, k, r, reply, r->release, ACT_RELEASE);
}

static void op_requeue(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    job_act(c, k, r, reply, r->requeue, ACT_REQUEUE);
}

/* Answered when the job ends: the waiter holds the sink, not a connection. */
static void op_wait(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = job_for(c, k, r->wait, &transient, reply, r->req);
    if (!j) return;
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
    uint32_t per = ctl_job_tasks(j);
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
    const char *name = c->nodes[node].name;
    /* A node that is gone: its logs where it kept them on shared storage (--log-root); a
     * name that could leave that directory is never a path. */
    bool file = !c->nodes[node].conn && c->cfg.log_root[0] && c->hooks.read_log && name[0] &&
                name[0] != '.' && !strchr(name, '/');
    if (!c->nodes[node].conn && !file) {
        ctl_reply_error(c, reply, req, "node %s (holding rank %u) is not connected%s", name,
                        q->rank,
                        c->cfg.log_root[0] ? "" : " (and the controller has no --log-root)");
        return;
    }
    ctl_logreq_t *lr = cl_xcalloc(1, sizeof *lr);
    lr->id = ++c->next_logreq;
    ctl_sink_ref(reply);
    lr->client = reply;
    lr->client_req = req;
    lr->node = node;
    lr->file = file;
    lr->next = c->logreqs;
    c->logreqs = lr;
    if (file) {
        char path[2400]; /* the agent's name for it: agent/launch.h, cl_launch_log_path() */
        snprintf(path, sizeof path, "%s/%s/job%" PRIu64 ".rank-%u.log", c->cfg.log_root, name,
                 q->job, q->rank);
        c->hooks.read_log(c->hooks.arg, lr->id, path, q->from_offset, q->offset,
                          CTL_LOG_READ_MAX);
        return;
    }
    Colossus__LogFetch f = COLOSSUS__LOG_FETCH__INIT;
    f.req = lr->id;
    f.node = node;
    f.job = q->job;
    f.rank = q->rank;
    f.from_offset = q->from_offset;
    f.offset = q->offset;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_LOG_FETCH;
    m.log_fetch = &f;
    ctl_send_node(c, node, &m);
}

static void op_logs(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply)
{
    bool transient;
    ctl_job_t *j = job_for(c, k, r->logs->job, &transient, reply, r->req);
    if (!j) return;
    fetch_logs_of(c, reply, r->req, r->logs, j);
    if (transient) ctl_job_free(j);
}

static void logreq_free(ctl_logreq_t *lr)
{
    ctl_sink_unref(lr->client);
    free(lr);
}

/* The answer to logreq id, from its node (conn) or its file (conn NULL). */
static void log_answer(ctl_t *c, ctl_sink_t *conn, uint64_t id, bool ok, const char *error,
                       ProtobufCBinaryData data, uint64_t size)
{
    for (ctl_logreq_t **p = &c->logreqs; *p; p = &(*p)->next) {
        ctl_logreq_t *lr = *p;
        if (lr->id != id) continue;
        if (lr->file != !conn || (conn && c->nodes[lr->node].conn != conn))
            return; /* not the node (or the read) we asked: ignored */
        *p = lr->next;
        if (!ok) {
            ctl_reply_error(c, lr->client, lr->client_req, "%s", error);
        } else {
            Colossus__Response r = COLOSSUS__RESPONSE__INIT;
            r.req = lr->client_req;
            r.ok = true;
            r.data = data;
            r.log_size = size;
            ctl_reply(c, lr->client, &r);
        }
        logreq_free(lr);
        return;
    }
}

void ctl_log_data(ctl_t *c, ctl_sink_t *conn, const Colossus__LogData *d)
{
    log_answer(c, conn, d->req, d->ok, d->error, d->data, d->size);
}

void ctl_log_read_done(ctl_t *c, uint64_t id, bool ok, const char *error, const uint8_t *data,
                       size_t len, uint64_t size)
{
    log_answer(c, NULL, id, ok, error, (ProtobufCBinaryData){len, (uint8_t *)data}, size);
}

/* s went away: fetches it asked for are dropped, and fetches from nodes it carried will
 * never be answered (their clients are told). */
void ctl_logreqs_conn_closed(ctl_t *c, ctl_sink_t *s)
{
    for (ctl_logreq_t **p = &c->logreqs; *p;) {
        ctl_logreq_t *q = *p;
        bool from_node = !q->file && s->nnodes && c->nodes[q->node].conn == s;
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

void ctl_node_fill(ctl_t *c, const ctl_caller_t *k, ctl_node_t *nd, Colossus__NodeInfo *o,
                   uint64_t *jobs)
{
    colossus__node_info__init(o);
    o->id = nd->id;
    o->name = nd->name;
    o->state = (char *)ctl_node_state(c, nd);
    o->gpus = nd->ngpus;
    o->build = nd->build;
    o->via = nd->via;
    cl_node_info_t info;
    if (cl_node_get(c->cluster, nd->id, &info) == 0) {
        o->gpus_free = (uint32_t)__builtin_popcountll(info.free);
        o->spare = info.spare;
    }
    cl_node_res_t res;
    if (cl_node_inventory(c->cluster, nd->id, &res) == 0) {
        o->cpus = res.cpus;
        o->mem_mb = res.mem_mb;
        o->cpus_used = (uint32_t)res.cpus_used;
        o->mem_used_mb = res.mem_used_mb;
    }
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    o->pod = (char *)cl_topo_pod_name(t, cl_topo_node_pod(t, nd->id));
    o->leaf = (char *)cl_topo_leaf_name(t, cl_topo_node_leaf(t, nd->id));
    cl_jobid_t on[64];
    size_t nj = cl_node_jobs(c->cluster, nd->id, on, 64);
    o->jobs = jobs;
    for (size_t x = 0; x < nj; x++) {
        bool all = !k || k->sees_all;
        ctl_job_t *j = all ? NULL : ctl_job_get(c, on[x]);
        if (all || (j && ctl_caller_sees_tenant(c, k, j->tenant_ix)))
            o->jobs[o->n_jobs++] = on[x]; /* other tenants' jobs are not shown */
    }
    o->reason = nd->drained ? nd->reason : "";
    o->connected = nd->conn != NULL;
    ctl_health_fill(c, nd, o);
}

static void op_nodes(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                     ctl_sink_t *reply)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->nnodes; i++)
        n += c->nodes[i].bound;
    Colossus__NodeInfo **vp = ctl_items(n, sizeof **vp);
    uint64_t *jobs = cl_xcalloc((n + 1) * 64, sizeof *jobs);
    size_t m = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        ctl_node_t *nd = &c->nodes[i];
        if (!nd->bound) continue;
        ctl_node_fill(c, k, nd, vp[m], jobs + m * 64);
        m++;
    }
    ctl_reply_parts(c, reply, r->req, (void **)vp, m, CTL_PART_NODES);
    free(vp);
    free(jobs);
}

static bool reason_ok(ctl_t *c, ctl_sink_t *reply, uint64_t req, const char *reason)
{
    size_t max = sizeof c->nodes[0].reason - 1;
    if (strlen(reason) <= max && !cl_has_control(reason) &&
        cl_utf8_valid(reason, strlen(reason)))
        return true;
    ctl_reply_error(c, reply, req,
                    "the reason must be at most %zu bytes of UTF-8 without control "
                    "characters (it has %zu)",
                    max, strlen(reason));
    return false;
}

/* The plain drain or resume of n (no gpu check): 0, or -1 with e. */
static int admin_one(ctl_t *c, ctl_node_t *n, bool drain, const char *reason, cl_error_t *e)
{
    double now = ctl_now(c);
    int rc = 0;
    if (n->alive)
        rc = drain ? cl_node_drain(c->cluster, n->id, now, e)
                   : cl_node_resume(c->cluster, n->id, now, e);
    if (rc < 0) return -1;
    n->drained = drain;
    snprintf(n->reason, sizeof n->reason, "%s", drain ? reason : "");
    ctl_node_journal(c, n);
    if (c->watchers) ctl_watch_node(c, n);
    ctl_log(c, "node %s %s%s", n->name, drain ? "draining: " : "resumed", drain ? reason : "");
    c->sched_needed = true;
    return 0;
}

/* The nodes a target names other than one node's name: a pod's or a leaf's (as `nodes`
 * shows them), or a hostlist's. Their indices in c->nodes, how many in *n. */
static uint32_t *admin_targets(ctl_t *c, const char *target, size_t *n)
{
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    bool hosts = cl_hostlist_check(target, &(cl_error_t){{0}}) == 0;
    uint32_t *v = cl_xcalloc(c->nnodes + 1, sizeof *v);
    *n = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        ctl_node_t *nd = &c->nodes[i];
        if (!nd->bound) continue;
        if (!strcmp(cl_topo_pod_name(t, cl_topo_node_pod(t, nd->id)), target) ||
            !strcmp(cl_topo_leaf_name(t, cl_topo_node_leaf(t, nd->id)), target) ||
            (hosts && cl_hostlist_match(target, nd->name)))
            v[(*n)++] = i;
    }
    return v;
}

/* drain or resume of many nodes: each as a plain admin action, in this batch; a node whose
 * GPU health latched it is not resumed here (its gpu check must clear it: one at a time). */
static void admin_many(ctl_t *c, const ctl_caller_t *k, ctl_sink_t *reply, uint64_t req,
                       const Colossus__NodeAdmin *a, bool drain, const uint32_t *v, size_t n)
{
    const char **done = cl_xcalloc(n + 1, sizeof *done),
               **left = cl_xcalloc(n + 1, sizeof *left);
    size_t nd = 0, nl = 0;
    char why[320] = "";
    for (size_t i = 0; i < n; i++) {
        ctl_node_t *x = &c->nodes[v[i]];
        cl_error_t e;
        bool latched = !drain && ctl_health_latched(c, x);
        int rc = latched ? -1 : admin_one(c, x, drain, a->reason, &e);
        ctl_audit(c, k, k->op, x->name, rc == 0,
                  rc == 0   ? a->reason
                  : latched ? "GPU health latched"
                            : e.msg);
        if (rc == 0) {
            done[nd++] = x->name;
            continue;
        }
        left[nl++] = x->name;
        if (!why[0])
            snprintf(why, sizeof why, "%s",
                     latched ? "its GPU health latched it: resume it "
                               "alone, with its gpu check"
                             : e.msg);
    }
    char *dh = cl_hostlist_compress(done, nd), *lh = cl_hostlist_compress(left, nl);
    if (!nl) {
        char *msg = cl_xmalloc(strlen(dh) + 64);
        sprintf(msg, "%s %zu nodes: %s", drain ? "drained" : "resumed", nd, dh);
        ctl_reply_ok(c, reply, req, msg);
        free(msg);
    } else {
        ctl_reply_error(c, reply, req, "%zu of %zu nodes not %s (%s): %.1000s; %s: %.1000s", nl,
                        n, drain ? "drained" : "resumed", why, lh,
                        drain ? "drained" : "resumed", nd ? dh : "none");
    }
    free(dh);
    free(lh);
    free(done);
    free(left);
}

static void node_admin(ctl_t *c, const ctl_caller_t *k, ctl_sink_t *reply, uint64_t req,
                       const Colossus__NodeAdmin *a, bool drain)
{
    ctl_node_t *n = ctl_node_by_name(c, a->node);
    if (!n) { /* a pod, a leaf or a hostlist */
        size_t nv;
        uint32_t *v = admin_targets(c, a->node, &nv);
        if (!nv) {
            ctl_audit(c, k, k->op, a->node, false, "no such node");
            ctl_reply_error(c, reply, req,
                            "no node named '%s' (nor a pod or a leaf, nor a node in it as "
                            "a hostlist)",
                            a->node);
        } else if (a->check) {
            ctl_reply_error(c, reply, req, "'%s' names %zu nodes: --check takes one node",
                            a->node, nv);
        } else if (reason_ok(c, reply, req, a->reason)) {
            admin_many(c, k, reply, req, a, drain, v, nv);
        }
        free(v);
        return;
    }
    ctl_audit(c, k, k->op, a->node, true, a->reason);
    if (!reason_ok(c, reply, req, a->reason)) return;
    if (ctl_health_admin(c, reply, req, a, drain))
        return; /* drain --check, or resume of a node whose GPU health took it out */
    cl_error_t e;
    if (admin_one(c, n, drain, a->reason, &e) < 0) {
        ctl_reply_error(c, reply, req, "%s: %s", n->name, e.msg);
        return;
    }
    ctl_reply_ok(c, reply, req, NULL);
}

static void op_drain(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                     ctl_sink_t *reply)
{
    node_admin(c, k, reply, r->req, r->drain, true);
}

static void op_resume(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply)
{
    node_admin(c, k, reply, r->req, r->resume, false);
}

static void op_node_remove(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                           ctl_sink_t *reply)
{
    cl_error_t err;
    if (ctl_node_remove(c, r->node_remove, &err) < 0) {
        ctl_audit(c, k, "node remove", r->node_remove, false, err.msg);
        ctl_reply_error(c, reply, r->req, "node remove refused: %s", err.msg);
        return;
    }
    ctl_audit(c, k, "node remove", r->node_remove, true, NULL);
    ctl_log(c, "node %s removed: its slot is free", r->node_remove);
    ctl_reply_ok(c, reply, r->req, NULL);
}

/* Order the agents of the nodes a target names to re-execute their binary keeping their
 * ranks (docs/standby.md, "Rolling upgrades"); `colossus upgrade` waits for their new build
 * and goes on batch by batch. Nodes not connected are named in the error. */
static void op_upgrade(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply)
{
    const char *target = r->upgrade->node;
    size_t nv;
    uint32_t *v;
    ctl_node_t *one = ctl_node_by_name(c, target);
    if (one) {
        v = cl_xcalloc(1, sizeof *v);
        v[0] = (uint32_t)(one - c->nodes);
        nv = 1;
    } else {
        v = admin_targets(c, target, &nv);
    }
    if (!nv) {
        ctl_audit(c, k, "upgrade", target, false, "no such node");
        ctl_reply_error(c, reply, r->req,
                        "no node named '%s' (nor a pod or a leaf, nor a node in it as a "
                        "hostlist)",
                        target);
        free(v);
        return;
    }
    const char **sent = cl_xcalloc(nv + 1, sizeof *sent),
               **left = cl_xcalloc(nv + 1, sizeof *left);
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < nv; i++) {
        ctl_node_t *n = &c->nodes[v[i]];
        if (!n->alive || !n->conn || n->conn->closed) {
            left[nl++] = n->name;
            continue;
        }
        Colossus__Upgrade u = COLOSSUS__UPGRADE__INIT;
        u.node = n->id;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_UPGRADE;
        m.upgrade = &u;
        ctl_send(c, n->conn, &m);
        sent[ns++] = n->name;
    }
    char *sh = cl_hostlist_compress(sent, ns), *lh = cl_hostlist_compress(left, nl);
    ctl_audit(c, k, "upgrade", target, nl == 0, nl ? "some nodes are not connected" : sh);
    if (nl)
        ctl_reply_error(
            c, reply, r->req,
            "%zu of %zu nodes are not up and connected: %.1000s (asked %zu: %.1000s)", nl, nv,
            lh, ns, ns ? sh : "none");
    else {
        ctl_log(c, "upgrade ordered for %zu node%s: %s", ns, ns > 1 ? "s" : "", sh);
        char *msg = cl_xmalloc(strlen(sh) + 64);
        sprintf(msg, "asked %zu nodes: %s", ns, sh);
        ctl_reply_ok(c, reply, r->req, msg);
        free(msg);
    }
    free(sh);
    free(lh);
    free(sent);
    free(left);
    free(v);
}

/* ---- the table ---- */

#define R CTL_SCOPE_READ
#define S CTL_SCOPE_SUBMIT
#define A CTL_SCOPE_ADMIN
static const ctl_op_t ops[] = {
    {COLOSSUS__REQUEST__BODY_SUBMIT, "submit", true, S, OP_ANY, op_submit},
    {COLOSSUS__REQUEST__BODY_JOBS_ALL, "jobs", false, R, OP_ANY, op_jobs},
    {COLOSSUS__REQUEST__BODY_SHOW, "show", false, R, OP_ANY, op_show},
    {COLOSSUS__REQUEST__BODY_CANCEL, "cancel", true, S, OP_ANY, op_cancel},
    {COLOSSUS__REQUEST__BODY_CANCEL_TASK, "cancel", true, S, OP_ANY, op_cancel_task},
    {COLOSSUS__REQUEST__BODY_HOLD, "hold", true, S, OP_ANY, op_hold},
    {COLOSSUS__REQUEST__BODY_RELEASE, "release", true, S, OP_ANY, op_release},
    {COLOSSUS__REQUEST__BODY_REQUEUE, "requeue", true, S, OP_ANY, op_requeue},
    {COLOSSUS__REQUEST__BODY_WAIT, "wait", false, R, OP_ANY, op_wait},
    {COLOSSUS__REQUEST__BODY_LOGS, "logs", false, R, OP_ANY, op_logs},
    {COLOSSUS__REQUEST__BODY_NODES, "nodes", false, R, OP_ANY, op_nodes},
    {COLOSSUS__REQUEST__BODY_DRAIN, "drain", true, A, OP_OPER, op_drain},
    {COLOSSUS__REQUEST__BODY_RESUME, "resume", true, A, OP_OPER, op_resume},
    {COLOSSUS__REQUEST__BODY_NODE_REMOVE, "node remove", true, A, OP_ADMIN, op_node_remove},
    {COLOSSUS__REQUEST__BODY_UPGRADE, "upgrade", true, A, OP_OPER, op_upgrade},
    {COLOSSUS__REQUEST__BODY_TENANTS, "tenants", false, R, OP_ANY, ctl_op_tenants},
    {COLOSSUS__REQUEST__BODY_TENANT_SHOW, "tenant show", false, R, OP_ANY, ctl_op_tenant_show},
    {COLOSSUS__REQUEST__BODY_TENANT, "tenant", true, A, OP_ANY, ctl_op_tenant},
    {COLOSSUS__REQUEST__BODY_USER, "user", true, A, OP_ANY, ctl_op_user},
    {COLOSSUS__REQUEST__BODY_USERS, "users", false, R, OP_ANY, ctl_op_users},
    {COLOSSUS__REQUEST__BODY_QOS, "qos", true, A, OP_ADMIN, ctl_op_qos},
    {COLOSSUS__REQUEST__BODY_QOSES, "qos list", false, R, OP_ANY, ctl_op_qoses},
    {COLOSSUS__REQUEST__BODY_TOKEN_CREATE, "token create", true, R, OP_ANY,
     ctl_op_token_create},
    {COLOSSUS__REQUEST__BODY_TOKENS, "tokens", false, R, OP_ANY, ctl_op_tokens},
    {COLOSSUS__REQUEST__BODY_TOKEN_REVOKE, "token revoke", true, R, OP_ANY,
     ctl_op_token_revoke},
    {COLOSSUS__REQUEST__BODY_HISTORY, "history", false, R, OP_ANY, ctl_op_history},
    {COLOSSUS__REQUEST__BODY_USAGE, "usage", false, R, OP_ANY, ctl_op_usage},
    {COLOSSUS__REQUEST__BODY_AUDIT, "audit", false, R, OP_ANY, ctl_op_audit},
    {COLOSSUS__REQUEST__BODY_WHOAMI, "whoami", false, R, OP_ANY, ctl_op_whoami},
    {COLOSSUS__REQUEST__BODY_JOBS_PAGE, "jobs", false, R, OP_ANY, ctl_op_jobs_page},
    {COLOSSUS__REQUEST__BODY_NODES_PAGE, "nodes", false, R, OP_ANY, ctl_op_nodes_page},
    {COLOSSUS__REQUEST__BODY_POWER_SHOW, "power show", false, R, OP_ANY, ctl_op_power_show},
    {COLOSSUS__REQUEST__BODY_POWER, "power", true, A, OP_OPER, ctl_op_power},
    {COLOSSUS__REQUEST__BODY_RESERVE, "reserve", true, A, OP_OPER, ctl_op_reserve},
    {COLOSSUS__REQUEST__BODY_RESERVATIONS, "reserve list", false, R, OP_ANY,
     ctl_op_reservations},
    {COLOSSUS__REQUEST__BODY_RESERVE_DELETE, "reserve delete", true, A, OP_OPER,
     ctl_op_reserve_delete},
};
#undef R
#undef S
#undef A

void ctl_request(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                 ctl_sink_t *reply)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const ctl_op_t *op = &ops[i];
        if (op->body != r->body_case) continue;
        ctl_caller_t k;
        cl_error_t why;
        char buf[160], target[80];
        const char *no = NULL, *label = op_label(op, r, target, sizeof target);
        if (!who || ctl_caller_resolve(c, who, &k, &why) < 0) {
            no = who ? why.msg : "not authenticated";
            ctl_log(c, "refused %s for %s: %s", label, who ? who->name : "?", no);
        } else if ((no = denied(op, label, &k, buf, sizeof buf))) {
            if (op->writes)
                ctl_audit(c, &k, label, target, false, no); /* logs it too */
            else
                ctl_log(c, "refused %s for %s: %s", label, who->name, no);
        }
        if (no) {
            ctl_reply_error(c, reply, r->req, "%s: permission denied: %s", label, no);
            return;
        }
        k.op = label;
        op->fn(c, &k, r, reply);
        if (op->writes)
            c->open->writers++; /* a client that may be back with the next one: ctl.h */
        return;
    }
    ctl_reply_error(c, reply, r->req, "unknown request");
}
