/* ctl_req.c - client requests to the controller: submit, jobs, show, cancel, wait, logs (relayed
 * to the node holding the rank), nodes, drain, resume. Replies leave after the journal commit. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"

static void respond(ctl_conn_t *conn, Colossus__Response *r)
{
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = r;
    ctl_send(conn, &m);
}

/* A long list as Responses of at most ~1 MiB each, all but the last with `more` set, so
 * that no frame nears CL_FRAME_MAX whatever the cluster's size (550,000 nodes are ~60 MB). */
#define PART_BYTES (1u << 20)

static void respond_parts(ctl_conn_t *conn, uint64_t req, void **items, size_t n, bool nodes)
{
    size_t i = 0;
    do {
        size_t j = i, bytes = 0;
        while (j < n) {
            size_t b = nodes ? colossus__node_info__get_packed_size(items[j])
                             : colossus__job_info__get_packed_size(items[j]);
            if (j > i && bytes + b + 8 > PART_BYTES)
                break;
            bytes += b + 8;
            j++;
        }
        Colossus__Response r = COLOSSUS__RESPONSE__INIT;
        r.req = req;
        r.ok = true;
        if (nodes) {
            r.nodes = (Colossus__NodeInfo **)items + i;
            r.n_nodes = j - i;
        } else {
            r.jobs = (Colossus__JobInfo **)items + i;
            r.n_jobs = j - i;
        }
        r.more = j < n;
        respond(conn, &r);
        i = j;
    } while (i < n);
}

void ctl_respond_error(ctl_conn_t *conn, uint64_t req, const char *fmt, ...)
{
    char err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof err, fmt, ap);
    va_end(ap);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = false;
    r.error = err;
    respond(conn, &r);
}

void ctl_respond_job(ctl_t *c, ctl_conn_t *conn, uint64_t req, ctl_job_t *j)
{
    Colossus__JobInfo info, *ip = &info;
    ctl_job_fill_info(c, j, &info);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = true;
    r.job = j->id;
    r.jobs = &ip;
    r.n_jobs = 1;
    respond(conn, &r);
    ctl_job_info_release(&info);
}

static void list_jobs(ctl_t *c, ctl_conn_t *conn, uint64_t req, bool all)
{
    size_t n = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && (all || j->state == CL_JOB_PENDING || j->state == CL_JOB_RUNNING))
            n++;
    }
    Colossus__JobInfo *v = calloc(n + 1, sizeof *v), **vp = calloc(n + 1, sizeof *vp);
    if (!v || !vp) {
        free(v);
        free(vp);
        ctl_respond_error(conn, req, "out of memory");
        return;
    }
    size_t k = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && (all || j->state == CL_JOB_PENDING || j->state == CL_JOB_RUNNING)) {
            ctl_job_fill_info(c, j, &v[k]);
            vp[k] = &v[k];
            k++;
        }
    }
    respond_parts(conn, req, (void **)vp, k, false);
    for (size_t i = 0; i < k; i++)
        ctl_job_info_release(&v[i]);
    free(v);
    free(vp);
}

static const char *node_state(ctl_t *c, ctl_node_t *n)
{
    cl_node_info_t info;
    if (cl_node_get(c->cluster, n->id, &info) < 0)
        return "unknown";
    return cl_node_state_name(info.state);
}

static void list_nodes(ctl_t *c, ctl_conn_t *conn, uint64_t req)
{
    size_t n = 0;
    for (uint32_t i = 0; i < c->nnodes; i++)
        n += c->nodes[i].bound;
    Colossus__NodeInfo *v = calloc(n + 1, sizeof *v), **vp = calloc(n + 1, sizeof *vp);
    uint64_t *jobs = calloc((n + 1) * 64, sizeof *jobs);
    if (!v || !vp || !jobs) {
        free(v);
        free(vp);
        free(jobs);
        ctl_respond_error(conn, req, "out of memory");
        return;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        ctl_node_t *nd = &c->nodes[i];
        if (!nd->bound)
            continue;
        Colossus__NodeInfo *o = &v[k];
        colossus__node_info__init(o);
        o->id = nd->id;
        o->name = nd->name;
        o->state = (char *)node_state(c, nd);
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
    respond_parts(conn, req, (void **)vp, k, true);
    free(v);
    free(vp);
    free(jobs);
}

static void node_admin(ctl_t *c, ctl_conn_t *conn, uint64_t req, const Colossus__NodeAdmin *a,
                       bool drain)
{
    ctl_node_t *n = ctl_node_by_name(c, a->node);
    if (!n) {
        ctl_respond_error(conn, req, "no node named '%s'", a->node);
        return;
    }
    if (ctl_health_admin(c, conn, req, a, drain))
        return; /* drain --check, or resume of a node whose GPU health took it out */
    cl_error_t e;
    double now = ctl_now();
    int rc = 0;
    if (n->alive)
        rc = drain ? cl_node_drain(c->cluster, n->id, now, &e) : cl_node_resume(c->cluster, n->id, now, &e);
    if (rc < 0) {
        ctl_respond_error(conn, req, "%s: %s", n->name, e.msg);
        return;
    }
    n->drained = drain;
    snprintf(n->reason, sizeof n->reason, "%s", drain ? a->reason : "");
    ctl_node_journal(c, n);
    cl_daemon_log(c->who, "node %s %s%s%s", n->name, drain ? "draining: " : "resumed",
                  drain ? a->reason : "", "");
    c->sched_needed = true;
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = true;
    respond(conn, &r);
}

static void fetch_logs_of(ctl_t *c, ctl_conn_t *conn, uint64_t req,
                          const Colossus__LogFetch *q, ctl_job_t *j);

static void fetch_logs(ctl_t *c, ctl_conn_t *conn, uint64_t req, const Colossus__LogFetch *q)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, q->job, &transient);
    if (!j) {
        ctl_respond_error(conn, req, "no job %" PRIu64, q->job);
        return;
    }
    fetch_logs_of(c, conn, req, q, j);
    if (transient)
        ctl_job_release(j);
}

static void fetch_logs_of(ctl_t *c, ctl_conn_t *conn, uint64_t req,
                          const Colossus__LogFetch *q, ctl_job_t *j)
{
    uint32_t per = j->gpus_per_node ? j->gpus_per_node : 1;
    if (!j->nalloc) {
        ctl_respond_error(conn, req, "job %" PRIu64 " has not run yet: no logs", q->job);
        return;
    }
    if (q->rank >= per * j->nalloc) {
        ctl_respond_error(conn, req, "job %" PRIu64 " has ranks 0..%u, not %u", q->job,
                          per * j->nalloc - 1, q->rank);
        return;
    }
    uint32_t node = j->alloc[q->rank / per];
    if (!c->nodes[node].conn) {
        ctl_respond_error(conn, req, "node %s (holding rank %u) is not connected",
                          c->nodes[node].name, q->rank);
        return;
    }
    ctl_logreq_t *lr = calloc(1, sizeof *lr);
    if (!lr) {
        ctl_respond_error(conn, req, "out of memory");
        return;
    }
    lr->id = ++c->next_logreq;
    lr->client = conn;
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

void ctl_log_data(ctl_t *c, ctl_conn_t *conn, const Colossus__LogData *d)
{
    for (ctl_logreq_t **p = &c->logreqs; *p; p = &(*p)->next) {
        ctl_logreq_t *lr = *p;
        if (lr->id != d->req)
            continue;
        *p = lr->next;
        if (lr->client) {
            if (!d->ok) {
                ctl_respond_error(lr->client, lr->client_req, "%s", d->error);
            } else {
                Colossus__Response r = COLOSSUS__RESPONSE__INIT;
                r.req = lr->client_req;
                r.ok = true;
                r.data = d->data;
                respond(lr->client, &r);
            }
        }
        free(lr);
        return;
    }
}

void ctl_request(ctl_t *c, ctl_conn_t *conn, const Colossus__Request *r)
{
    char err[512];
    switch (r->body_case) {
    case COLOSSUS__REQUEST__BODY_SUBMIT: {
        uint64_t id;
        if (ctl_job_submit(c, r->submit, &id, err, sizeof err) < 0) {
            ctl_respond_error(conn, r->req, "submit refused: %s", err);
            return;
        }
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        rs.req = r->req;
        rs.ok = true;
        rs.job = id;
        respond(conn, &rs); /* leaves only after the job is journaled */
        return;
    }
    case COLOSSUS__REQUEST__BODY_JOBS_ALL:
        list_jobs(c, conn, r->req, r->jobs_all);
        return;
    case COLOSSUS__REQUEST__BODY_SHOW: {
        bool transient;
        ctl_job_t *j = ctl_job_lookup(c, r->show, &transient);
        if (!j)
            ctl_respond_error(conn, r->req, "no job %" PRIu64, r->show);
        else
            ctl_respond_job(c, conn, r->req, j);
        if (transient)
            ctl_job_release(j);
        return;
    }
    case COLOSSUS__REQUEST__BODY_CANCEL: {
        if (ctl_job_cancel(c, r->cancel, err, sizeof err) < 0) {
            ctl_respond_error(conn, r->req, "%s", err);
            return;
        }
        Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
        rs.req = r->req;
        rs.ok = true;
        rs.job = r->cancel;
        respond(conn, &rs);
        return;
    }
    case COLOSSUS__REQUEST__BODY_WAIT: {
        bool transient;
        ctl_job_t *j = ctl_job_lookup(c, r->wait, &transient);
        if (!j) {
            ctl_respond_error(conn, r->req, "no job %" PRIu64, r->wait);
            return;
        }
        if (j->state != CL_JOB_PENDING && j->state != CL_JOB_RUNNING) {
            ctl_respond_job(c, conn, r->req, j);
            if (transient)
                ctl_job_release(j);
            return;
        }
        ctl_waiter_t *w = calloc(1, sizeof *w);
        if (!w) {
            ctl_respond_error(conn, r->req, "out of memory");
            return;
        }
        w->conn = conn;
        w->req = r->req;
        w->next = j->waiters;
        j->waiters = w;
        conn->nwaiters++;
        return;
    }
    case COLOSSUS__REQUEST__BODY_LOGS:
        fetch_logs(c, conn, r->req, r->logs);
        return;
    case COLOSSUS__REQUEST__BODY_NODES:
        list_nodes(c, conn, r->req);
        return;
    case COLOSSUS__REQUEST__BODY_DRAIN:
        node_admin(c, conn, r->req, r->drain, true);
        return;
    case COLOSSUS__REQUEST__BODY_RESUME:
        node_admin(c, conn, r->req, r->resume, false);
        return;
    default:
        ctl_respond_error(conn, r->req, "unknown request");
    }
}
