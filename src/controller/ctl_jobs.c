/* ctl_jobs.c - jobs in the controller: submit, cancel, rank exits, carrying out the core's
 * decisions (start, preempt, restart on a hot spare, requeue, fail), fencing, time limits, and
 * recovery of the journal after a restart with reconciliation against what agents report. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"

const char *ctl_state_name(cl_job_state_t s)
{
    switch (s) {
    case CL_JOB_PENDING: return "pending";
    case CL_JOB_RUNNING: return "running";
    case CL_JOB_SUCCEEDED: return "succeeded";
    case CL_JOB_FAILED: return "failed";
    case CL_JOB_CANCELLED: return "cancelled";
    }
    return "unknown";
}

static bool terminal(cl_job_state_t s)
{
    return s == CL_JOB_SUCCEEDED || s == CL_JOB_FAILED || s == CL_JOB_CANCELLED;
}

ctl_job_t *ctl_job_get(ctl_t *c, uint64_t id)
{
    return id && id < c->jobs_cap ? c->jobs[id] : NULL;
}

static int job_insert(ctl_t *c, ctl_job_t *j)
{
    if (j->id >= c->jobs_cap) {
        uint64_t cap = c->jobs_cap ? c->jobs_cap : 1024;
        while (cap <= j->id)
            cap *= 2;
        ctl_job_t **v = realloc(c->jobs, cap * sizeof *v);
        if (!v)
            return -1;
        memset(v + c->jobs_cap, 0, (cap - c->jobs_cap) * sizeof *v);
        c->jobs = v;
        c->jobs_cap = cap;
    }
    c->jobs[j->id] = j;
    if (j->id > c->max_id)
        c->max_id = j->id;
    return 0;
}

static char **strv_dup(char *const *v, size_t n)
{
    char **o = calloc(n + 1, sizeof *o);
    for (size_t i = 0; o && i < n; i++)
        o[i] = strdup(v[i]);
    return o;
}

static void job_free(ctl_job_t *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->tenant);
    free(j->cwd);
    for (size_t i = 0; j->argv && i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    for (size_t i = 0; j->env && i < j->envc; i++)
        free(j->env[i]);
    free(j->env);
    free(j->alloc);
    free(j->alloc_index);
    free(j->done);
    free(j->started);
    free(j->seen);
    free(j->rec_code);
    free(j->rec_exited);
    free(j);
}

void ctl_job_release(ctl_job_t *j)
{
    job_free(j);
}

/* Forget finished jobs kept_finished_s after their end: the core's record and ours (the
 * journal keeps them). Bounded memory at any throughput: 1,300 jobs/s kept forever grew the
 * controller by ~1.2 KB each. */
static void purge_finished(ctl_t *c, double now)
{
    for (uint64_t *front; (front = ctl_ring_front(&c->finished));) {
        uint64_t id = *front;
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && terminal(j->state) && j->end_time + c->keep_finished_s > now)
            return; /* the oldest still has time: so have the ones after it */
        ctl_ring_pop(&c->finished);
        if (!j || !terminal(j->state) || j->waiters)
            continue;
        cl_job_forget(c->cluster, id);
        c->jobs[id] = NULL;
        job_free(j);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gangs above this many nodes get a sorted index for alloc_pos(): every node of a job sends
 * Started and Exited, and a scan per message is quadratic (65,536 nodes: 4e9 steps). */
#define ALLOC_INDEX_MIN 32

static void set_alloc(ctl_job_t *j, const uint32_t *ids, uint32_t n)
{
    free(j->alloc);
    free(j->alloc_index);
    free(j->done);
    free(j->started);
    j->alloc = calloc(n ? n : 1, sizeof *j->alloc);
    j->done = calloc(n ? n : 1, sizeof *j->done);
    j->started = calloc(n ? n : 1, sizeof *j->started);
    j->alloc_index = n > ALLOC_INDEX_MIN ? malloc(n * sizeof *j->alloc_index) : NULL;
    j->nstarted = j->ndone = 0;
    if (!j->alloc || !j->done || !j->started || (n > ALLOC_INDEX_MIN && !j->alloc_index))
        abort(); /* out of memory in the daemon: crash and recover from the journal */
    memcpy(j->alloc, ids, n * sizeof *ids);
    j->nalloc = n;
    if (j->alloc_index) {
        for (uint32_t i = 0; i < n; i++)
            j->alloc_index[i] = (uint64_t)ids[i] << 32 | i;
        qsort(j->alloc_index, n, sizeof *j->alloc_index, cmp_u64);
    }
}

void ctl_journal_job(ctl_t *c, ctl_job_t *j)
{
    /* The allocation by node names, whole: a gang of 65,536 nodes is ~700 KB. */
    size_t cap = 1;
    for (uint32_t i = 0; i < j->nalloc; i++)
        cap += strlen(c->nodes[j->alloc[i]].name) + 1;
    char *alloc = malloc(cap);
    if (!alloc)
        abort(); /* out of memory in the daemon: crash and recover from the journal */
    size_t off = 0;
    alloc[0] = 0;
    for (uint32_t i = 0; i < j->nalloc; i++)
        off += (size_t)snprintf(alloc + off, cap - off, "%s%s", i ? "," : "",
                                c->nodes[j->alloc[i]].name);
    cl_store_job_t sj = {
        .id = j->id,
        .state = j->state,
        .name = j->name,
        .tenant = j->tenant,
        .cwd = j->cwd,
        .reason = j->reason,
        .nodes = j->nodes,
        .gpus_per_node = j->gpus_per_node,
        .max_restarts = j->max_restarts,
        .time_limit_s = j->time_limit_s,
        .priority = j->priority,
        .restarts = j->restarts_base,
        .incarnation = j->inc,
        .exit_code = j->exit_code,
        .has_exit = j->has_exit,
        .submit_time = j->submit_time,
        .start_time = j->start_time,
        .end_time = j->end_time,
        .running_time = j->running_time,
        .alloc = alloc,
        .argv = (const char *const *)j->argv,
        .argc = j->argc,
        .env = (const char *const *)j->env,
        .envc = j->envc,
    };
    /* restarts as seen now: the core's count on top of the base (a finished job's too: its
     * record outlives the core's, which the controller forgets) */
    cl_job_info_t info;
    if (cl_job_get(c->cluster, j->id, &info) == 0)
        sj.restarts = j->restarts_base + info.restarts;
    cl_store_batch_job(c->batch, &sj);
    free(alloc);
}

static uint32_t job_restarts(ctl_t *c, ctl_job_t *j)
{
    cl_job_info_t info;
    if (cl_job_get(c->cluster, j->id, &info) == 0)
        return j->restarts_base + info.restarts;
    return j->restarts_base;
}

void ctl_job_fill_info(ctl_t *c, ctl_job_t *j, Colossus__JobInfo *o)
{
    colossus__job_info__init(o);
    o->id = j->id;
    o->name = j->name;
    o->state = (char *)ctl_state_name(j->state);
    o->restarts = job_restarts(c, j);
    o->nodes = calloc(j->nalloc + 1, sizeof *o->nodes);
    if (o->nodes) {
        for (uint32_t i = 0; i < j->nalloc; i++)
            o->nodes[i] = c->nodes[j->alloc[i]].name;
        o->n_nodes = j->nalloc;
    }
    o->exit_code = j->exit_code;
    o->has_exit_code = j->has_exit;
    o->submit_time = j->submit_time;
    o->start_time = j->start_time;
    o->end_time = j->end_time;
    o->running_time = j->running_time;
    o->tenant = j->tenant;
    o->priority = j->priority;
    o->nnodes = j->nodes;
    o->gpus_per_node = j->gpus_per_node;
    o->incarnation = j->inc;
    o->argv = j->argv;
    o->n_argv = j->argc;
    o->max_restarts = j->max_restarts;
    o->reason = j->reason;
    o->time_limit_s = j->time_limit_s;
}

void ctl_job_info_release(Colossus__JobInfo *o)
{
    free(o->nodes);
    o->nodes = NULL;
}

void ctl_job_notify(ctl_t *c, ctl_job_t *j)
{
    while (j->waiters) {
        ctl_waiter_t *w = j->waiters;
        j->waiters = w->next;
        w->conn->nwaiters--;
        ctl_respond_job(c, w->conn, w->req, j);
        free(w);
    }
}

void ctl_conn_forget_waiters(ctl_t *c, ctl_conn_t *conn)
{
    if (conn->kind != CONN_CLIENT || !conn->nwaiters)
        return; /* the common case: no scan */
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || !j->waiters)
            continue;
        for (ctl_waiter_t **p = &j->waiters; *p;) {
            if ((*p)->conn == conn) {
                ctl_waiter_t *w = *p;
                *p = w->next;
                free(w);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

static int tenant_index(ctl_t *c, const char *name, char *err, size_t len)
{
    int t = cl_tenant_find(c->cluster, name);
    if (t >= 0)
        return t;
    cl_error_t e;
    t = cl_tenant_add(c->cluster, name, 1.0, &e);
    if (t < 0)
        snprintf(err, len, "tenant '%s': %s", name, e.msg);
    return t;
}

int ctl_job_submit(ctl_t *c, const Colossus__SubmitReq *s, uint64_t *id, char *err, size_t len)
{
    if (!s->n_argv || !s->argv[0][0]) {
        snprintf(err, len, "no command given");
        return -1;
    }
    if (strlen(s->name) > 128) {
        snprintf(err, len, "job name longer than 128 characters");
        return -1;
    }
    if (!(s->time_limit_min >= 0) || s->time_limit_min > 525600) {
        snprintf(err, len, "time limit must be 0..525600 minutes");
        return -1;
    }
    if (s->nodes < 1) {
        snprintf(err, len, "a job needs at least one node");
        return -1;
    }
    if (s->gpus_per_node > c->gpus_per_node) {
        snprintf(err, len, "%u GPUs per node asked, but nodes have %u", s->gpus_per_node,
                 c->gpus_per_node);
        return -1;
    }
    const char *tenant = s->tenant[0] ? s->tenant : "default";
    int t = tenant_index(c, tenant, err, len);
    if (t < 0)
        return -1;
    cl_job_spec_t spec = {.nodes = s->nodes,
                          .gpus_per_node = s->gpus_per_node,
                          .tenant = (uint32_t)t,
                          .priority = s->priority,
                          .time_limit_s = s->time_limit_min * 60.0,
                          .max_restarts = s->max_restarts};
    double now = ctl_now();
    cl_error_t e;
    cl_jobid_t jid;
    if (cl_job_submit(c->cluster, &spec, now, &jid, &e) < 0) {
        snprintf(err, len, "%s", e.msg);
        return -1;
    }
    ctl_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        cl_job_cancel(c->cluster, jid, now, &e);
        snprintf(err, len, "out of memory");
        return -1;
    }
    j->id = jid;
    j->name = strdup(s->name[0] ? s->name : s->argv[0]);
    j->tenant = strdup(tenant);
    j->cwd = strdup(s->cwd);
    j->argv = strv_dup(s->argv, s->n_argv);
    j->argc = s->n_argv;
    j->env = strv_dup(s->env, s->n_env);
    j->envc = s->n_env;
    j->nodes = s->nodes;
    cl_job_info_t info;
    cl_job_get(c->cluster, jid, &info);
    j->gpus_per_node = info.gpus_per_node ? info.gpus_per_node : s->gpus_per_node;
    j->max_restarts = s->max_restarts;
    j->time_limit_s = s->time_limit_min * 60.0;
    j->priority = s->priority;
    j->state = CL_JOB_PENDING;
    j->submit_time = now;
    if (job_insert(c, j) < 0) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    ctl_journal_job(c, j);
    c->sched_needed = true;
    *id = jid;
    return 0;
}

static void fail_unlink(ctl_t *c, ctl_job_t *j)
{
    if (!j->fail_pending)
        return;
    j->fail_pending = false;
    for (ctl_job_t **p = &c->fail_pending; *p; p = &(*p)->fail_next)
        if (*p == j) {
            *p = j->fail_next;
            break;
        }
}

static uint32_t master_port(const ctl_job_t *j)
{
    /* Below the ephemeral range, different for every incarnation so that a restart never
     * meets its predecessor's sockets in TIME_WAIT. */
    return 15000 + (uint32_t)((j->id * 7919u + j->inc * 104729u) % 15000u);
}

static void send_stop(ctl_t *c, ctl_job_t *j)
{
    for (uint32_t i = 0; i < j->nalloc; i++) {
        Colossus__Stop st = COLOSSUS__STOP__INIT;
        st.node = j->alloc[i];
        st.job = j->id;
        st.incarnation = j->inc;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_STOP;
        m.stop = &st;
        ctl_send_node(c, j->alloc[i], &m);
    }
}

/* Send this incarnation's launch orders to every node of the job's allocation. */
static void send_launch(ctl_t *c, ctl_job_t *j, const cl_alloc_t *a)
{
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/%" PRIu64, c->ckpt_root, j->id);
    for (uint32_t i = 0; i < j->nalloc; i++) {
        uint32_t gpus[CL_MAX_GPUS_PER_NODE], ng = 0;
        for (uint32_t g = 0; g < CL_MAX_GPUS_PER_NODE; g++)
            if (a[i].gpus & (1ull << g))
                gpus[ng++] = g;
        Colossus__Launch L = COLOSSUS__LAUNCH__INIT;
        L.node = j->alloc[i];
        L.job = j->id;
        L.incarnation = j->inc;
        L.restart = j->inc - 1;
        L.node_rank = i;
        L.nnodes = j->nalloc;
        L.ranks_per_node = ng;
        L.gpus = gpus;
        L.n_gpus = ng;
        L.master_addr = c->nodes[j->alloc[0]].addr;
        L.master_port = master_port(j);
        L.argv = j->argv;
        L.n_argv = j->argc;
        L.env = j->env;
        L.n_env = j->envc;
        L.cwd = j->cwd;
        L.name = j->name;
        L.checkpoint_dir = ckpt;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_LAUNCH;
        m.launch = &L;
        ctl_send_node(c, j->alloc[i], &m);
    }
}

/* The core started (or restarted) the job: record its allocation and launch it. */
static void job_started(ctl_t *c, ctl_job_t *j, uint32_t core_inc)
{
    fail_unlink(c, j);
    size_t n = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &n);
    if (!a) {
        cl_daemon_log(c->who, "job %" PRIu64 ": started without an allocation?", j->id);
        return;
    }
    uint32_t ids[n ? n : 1];
    for (size_t i = 0; i < n; i++)
        ids[i] = a[i].node;
    set_alloc(j, ids, (uint32_t)n);
    j->inc = j->inc_base + core_inc;
    j->state = CL_JOB_RUNNING;
    j->start_time = ctl_now();
    j->running_time = 0; /* until every node says Started */
    j->reason[0] = 0;
    cl_job_info_t info;
    if (cl_job_get(c->cluster, j->id, &info) == 0 && info.gpus_per_node)
        j->gpus_per_node = info.gpus_per_node;
    ctl_journal_job(c, j);
    send_launch(c, j, a);
    char names[512];
    size_t off = 0;
    names[0] = 0;
    for (uint32_t i = 0; i < j->nalloc && off + 70 < sizeof names; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? "," : "",
                                c->nodes[j->alloc[i]].name);
    cl_daemon_log(c->who, "job %" PRIu64 " (%s) started, incarnation %u, on %s", j->id, j->name,
                  j->inc, names);
}

static void job_ended(ctl_t *c, ctl_job_t *j, cl_job_state_t st)
{
    fail_unlink(c, j);
    j->state = st;
    j->end_time = ctl_now();
    *(uint64_t *)ctl_ring_push(&c->finished) = j->id;
    ctl_journal_job(c, j);
    ctl_job_notify(c, j);
    c->sched_needed = true;
    cl_daemon_log(c->who, "job %" PRIu64 " (%s) %s%s%s", j->id, j->name, ctl_state_name(st),
                  j->reason[0] ? ": " : "", j->reason);
}

void ctl_apply(ctl_t *c, cl_decisions_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        cl_decision_t *x = &d->v[i];
        ctl_job_t *j = ctl_job_get(c, x->job);
        if (!j) {
            cl_daemon_log(c->who, "core decision for unknown job %" PRIu64, x->job);
            continue;
        }
        switch (x->action) {
        case CL_ACT_START:
            job_started(c, j, x->incarnation);
            break;
        case CL_ACT_PREEMPT:
            fail_unlink(c, j);
            send_stop(c, j);
            j->state = CL_JOB_PENDING;
            snprintf(j->reason, sizeof j->reason, "preempted by a higher-priority job");
            ctl_journal_job(c, j);
            cl_daemon_log(c->who, "job %" PRIu64 " preempted", j->id);
            break;
        case CL_ACT_RESTART:
            if (j->fail_pending)
                cl_daemon_log(c->who, "job %" PRIu64 ": its rank failure came with a node failure: "
                              "restarting it", j->id);
            send_stop(c, j);
            cl_daemon_log(c->who, "job %" PRIu64 ": restarting in place, node %s replaced by hot spare %s",
                          j->id, x->node_old < c->nnodes ? c->nodes[x->node_old].name : "?",
                          x->node_new < c->nnodes ? c->nodes[x->node_new].name : "?");
            job_started(c, j, x->incarnation);
            break;
        case CL_ACT_REQUEUE:
            if (j->fail_pending)
                cl_daemon_log(c->who, "job %" PRIu64 ": its rank failure came with a node failure: "
                              "restarting it", j->id);
            fail_unlink(c, j);
            send_stop(c, j);
            j->state = CL_JOB_PENDING;
            snprintf(j->reason, sizeof j->reason, "requeued after a node failure");
            ctl_journal_job(c, j);
            cl_daemon_log(c->who, "job %" PRIu64 " requeued after a node failure (restart %u)",
                          j->id, job_restarts(c, j));
            break;
        case CL_ACT_FAIL:
            send_stop(c, j);
            snprintf(j->reason, sizeof j->reason, "node failure with max restarts (%u) reached",
                     j->max_restarts);
            job_ended(c, j, CL_JOB_FAILED);
            break;
        }
    }
}

void ctl_schedule(ctl_t *c)
{
    cl_decisions_t d = {0};
    cl_schedule(c->cluster, ctl_now(), &d);
    ctl_apply(c, &d);
    cl_decisions_free(&d);
}

int ctl_job_cancel(ctl_t *c, uint64_t id, char *err, size_t len)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, id, &transient);
    if (!j) {
        snprintf(err, len, "no job %" PRIu64, id);
        return -1;
    }
    if (terminal(j->state) || transient) { /* a transient one is finished by definition */
        snprintf(err, len, "job %" PRIu64 " already %s", id, ctl_state_name(j->state));
        if (transient)
            ctl_job_release(j);
        return -1;
    }
    cl_error_t e;
    if (cl_job_cancel(c->cluster, id, ctl_now(), &e) < 0) {
        snprintf(err, len, "%s", e.msg);
        return -1;
    }
    if (j->state == CL_JOB_RUNNING)
        send_stop(c, j);
    j->recovering = false;
    snprintf(j->reason, sizeof j->reason, "cancelled by a user");
    job_ended(c, j, CL_JOB_CANCELLED);
    return 0;
}

/* Position of node in the job's allocation (its node rank), or -1. */
static int alloc_pos(const ctl_job_t *j, uint32_t node)
{
    if (!j->alloc_index) {
        for (uint32_t i = 0; i < j->nalloc; i++)
            if (j->alloc[i] == node)
                return (int)i;
        return -1;
    }
    size_t lo = 0, hi = j->nalloc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t at = (uint32_t)(j->alloc_index[mid] >> 32);
        if (at == node)
            return (int)(uint32_t)j->alloc_index[mid];
        if (at < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* A node's ranks of the running incarnation ended with code (rank: the failing one). */
/* The failure waited dead-after and no node of the job died: a user error. */
static void fail_now(ctl_t *c, ctl_job_t *j)
{
    cl_error_t e;
    fail_unlink(c, j);
    if (cl_job_finish(c->cluster, j->id, false, ctl_now(), &e) < 0)
        cl_daemon_log(c->who, "job %" PRIu64 ": core refused finish: %s", j->id, e.msg);
    j->exit_code = j->fail_code;
    j->has_exit = true;
    snprintf(j->reason, sizeof j->reason, "%s", j->fail_reason);
    job_ended(c, j, CL_JOB_FAILED);
}

static void node_exit(ctl_t *c, ctl_job_t *j, int pos, int code, int rank)
{
    if (j->fail_pending)
        return; /* already stopping after a failure; later exits are its echo */
    if (code != 0) {
        if (ctl_health_rank_failed(c, j->alloc[pos]))
            return; /* the node's GPUs failed: a node failure, the job restarts */
        send_stop(c, j);
        j->fail_pending = true;
        j->fail_code = code;
        j->fail_deadline = ctl_now() + (c->dead_ms + 300) / 1000.0;
        snprintf(j->fail_reason, sizeof j->fail_reason, "rank %d on %s exited with code %d", rank,
                 c->nodes[j->alloc[pos]].name, code);
        j->fail_next = c->fail_pending;
        c->fail_pending = j;
        cl_daemon_log(c->who, "job %" PRIu64 ": %s; stopping it, failed in %u ms unless one of "
                      "its nodes is declared down first",
                      j->id, j->fail_reason, c->dead_ms + 300);
        return;
    }
    if (!j->done[pos]) {
        j->done[pos] = true;
        j->ndone++;
    }
    if (j->ndone < j->nalloc)
        return;
    cl_error_t e;
    if (cl_job_finish(c->cluster, j->id, true, ctl_now(), &e) < 0)
        cl_daemon_log(c->who, "job %" PRIu64 ": core refused finish: %s", j->id, e.msg);
    j->exit_code = 0;
    j->has_exit = true;
    job_ended(c, j, CL_JOB_SUCCEEDED);
}

/* Acknowledge a node's exit report, on its connection (conn) or to the node wherever it is
 * connected (conn NULL); the agent resends the report until acknowledged. */
static void send_exited_ack(ctl_t *c, ctl_conn_t *conn, uint32_t node, uint64_t job,
                            uint32_t incarnation)
{
    Colossus__ExitedAck ack = COLOSSUS__EXITED_ACK__INIT;
    ack.node = node;
    ack.job = job;
    ack.incarnation = incarnation;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_EXITED_ACK;
    m.exited_ack = &ack;
    if (conn)
        ctl_send(conn, &m);
    else
        ctl_send_node(c, node, &m);
}

void ctl_job_exited(ctl_t *c, ctl_conn_t *conn, const Colossus__Exited *e)
{
    ctl_job_t *j = ctl_job_get(c, e->job);
    int pos = j ? alloc_pos(j, e->node) : -1;
    bool valid = e->node < c->nnodes && c->nodes[e->node].conn == conn;
    if (!valid || !j || pos < 0 || e->incarnation != j->inc ||
        (j->state != CL_JOB_RUNNING && !j->recovering)) {
        /* Stale (an older incarnation, a fenced node, a finished job): never counted. */
        if (j && e->incarnation != j->inc)
            cl_daemon_log(c->who, "job %" PRIu64 ": ignoring exit %d of stale incarnation %u "
                          "from node %u (current %u)",
                          e->job, e->exit_code, e->incarnation, e->node, j->inc);
        send_exited_ack(c, conn, e->node, e->job, e->incarnation);
        return;
    }
    if (j->recovering) {
        /* Exit while the controller was away: applied once the job is reconciled. The ack
         * waits too, so that the agent resends it if we crash again before that. */
        j->rec_exited[pos] = true;
        j->rec_code[pos] = e->exit_code;
        return;
    }
    if (!j->done[pos])
        node_exit(c, j, pos, e->exit_code, e->rank);
    send_exited_ack(c, conn, e->node, e->job, e->incarnation); /* leaves after the commit */
}

/* A node's ranks of a launch have all exec'd. The last node of the current incarnation to say
 * so makes the job's running_time (journaled with the next commit). */
void ctl_job_ranks_started(ctl_t *c, ctl_conn_t *conn, const Colossus__Started *s)
{
    ctl_job_t *j = ctl_job_get(c, s->job);
    int pos = j ? alloc_pos(j, s->node) : -1;
    if (!(s->node < c->nnodes && c->nodes[s->node].conn == conn) || !j || pos < 0 ||
        s->incarnation != j->inc || j->state != CL_JOB_RUNNING || j->recovering ||
        j->started[pos])
        return; /* stale, fenced, or already counted: nothing to do */
    j->started[pos] = true;
    if (++j->nstarted == j->nalloc) {
        j->running_time = ctl_now();
        ctl_journal_job(c, j);
    }
}

void ctl_jobs_node_failed(ctl_t *c, ctl_node_t *n)
{
    cl_decisions_t d = {0};
    cl_error_t err;
    if (cl_node_fail(c->cluster, n->id, ctl_now(), &d, &err) < 0)
        cl_daemon_log(c->who, "node %s: core refused failure: %s", n->name, err.msg);
    ctl_apply(c, &d);
    cl_decisions_free(&d);
}

int ctl_jobs_fence(ctl_t *c, ctl_node_t *n, const Colossus__Register *r)
{
    Colossus__RunningJob *keep = calloc(r->n_running + 1, sizeof *keep);
    Colossus__RunningJob **kp = calloc(r->n_running + 1, sizeof *kp);
    size_t nk = 0;
    for (size_t i = 0; keep && kp && i < r->n_running; i++) {
        const Colossus__RunningJob *x = r->running[i];
        ctl_job_t *j = ctl_job_get(c, x->job);
        int pos = j ? alloc_pos(j, n->id) : -1;
        if (!j || pos < 0 || j->inc != x->incarnation ||
            (j->state != CL_JOB_RUNNING && !j->recovering)) {
            cl_daemon_log(c->who, "fencing node %s: job %" PRIu64 " incarnation %u is stale",
                          n->name, x->job, x->incarnation);
            continue;
        }
        if (j->recovering && j->seen)
            j->seen[pos] = true;
        colossus__running_job__init(&keep[nk]);
        keep[nk].job = x->job;
        keep[nk].incarnation = x->incarnation;
        kp[nk] = &keep[nk];
        nk++;
    }
    Colossus__Fence f = COLOSSUS__FENCE__INIT;
    f.node = n->id;
    f.keep = kp;
    f.n_keep = nk;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_FENCE;
    m.fence = &f;
    ctl_send_node(c, n->id, &m);
    /* Jobs we run there that the node did not report: its agent lost them. */
    int lost = 0;
    cl_jobid_t on[64];
    size_t non = cl_node_jobs(c->cluster, n->id, on, 64);
    for (size_t i = 0; i < non; i++) {
        ctl_job_t *j = ctl_job_get(c, on[i]);
        bool found = false;
        for (size_t k = 0; k < nk; k++)
            found |= keep[k].job == on[i];
        if (j && !found && !j->recovering) {
            cl_daemon_log(c->who, "node %s no longer runs job %" PRIu64 " (agent restarted?)",
                          n->name, on[i]);
            lost++;
        }
    }
    free(keep);
    free(kp);
    return lost;
}

void ctl_jobs_tick(ctl_t *c)
{
    cl_jobid_t ex[64];
    double now = ctl_now();
    purge_finished(c, now);
    for (ctl_job_t *j = c->fail_pending, *next; j; j = next) {
        next = j->fail_next;
        if (now >= j->fail_deadline)
            fail_now(c, j);
    }
    size_t n = cl_jobs_expired(c->cluster, now, ex, 64);
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *j = ctl_job_get(c, ex[i]);
        cl_error_t e;
        if (!j || cl_job_finish(c->cluster, ex[i], false, now, &e) < 0)
            continue;
        send_stop(c, j);
        snprintf(j->reason, sizeof j->reason, "time limit of %g min reached", j->time_limit_s / 60);
        job_ended(c, j, CL_JOB_FAILED);
    }
    if (c->recovering) {
        /* End the recovery window early once every recovering job has heard from all its
         * nodes. */
        bool all = true;
        for (uint64_t id = 1; all && id <= c->max_id; id++) {
            ctl_job_t *j = ctl_job_get(c, id);
            if (j && j->recovering)
                for (uint32_t k = 0; k < j->nalloc; k++)
                    all &= j->seen[k];
        }
        if (all)
            c->recover_until = 0;
    }
}

/* ---- recovery ---- */

/* A job record from its journal row, not entered anywhere; *known: every node of its
 * allocation is still in the topology. NULL when out of memory. */
static ctl_job_t *job_from_store(ctl_t *c, const cl_store_job_t *sj, bool *known)
{
    ctl_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->id = sj->id;
    j->name = strdup(sj->name);
    j->tenant = strdup(sj->tenant[0] ? sj->tenant : "default");
    j->cwd = strdup(sj->cwd);
    j->argv = strv_dup((char *const *)sj->argv, sj->argc);
    j->argc = sj->argc;
    j->env = strv_dup((char *const *)sj->env, sj->envc);
    j->envc = sj->envc;
    j->nodes = sj->nodes;
    j->gpus_per_node = sj->gpus_per_node;
    j->max_restarts = sj->max_restarts;
    j->time_limit_s = sj->time_limit_s;
    j->priority = sj->priority;
    j->state = (cl_job_state_t)sj->state;
    j->restarts_base = sj->restarts;
    j->inc = j->inc_base = sj->incarnation;
    j->exit_code = sj->exit_code;
    j->has_exit = sj->has_exit;
    j->submit_time = sj->submit_time;
    j->start_time = sj->start_time;
    j->end_time = sj->end_time;
    j->running_time = sj->running_time;
    snprintf(j->reason, sizeof j->reason, "%s", sj->reason);
    /* the allocation by node names */
    size_t cap = 1;
    for (const char *p = sj->alloc; *p; p++)
        cap += *p == ',';
    uint32_t *ids = malloc(cap * sizeof *ids);
    uint32_t n = 0;
    *known = true;
    char *names = strdup(sj->alloc), *save = NULL;
    if (!ids || !names)
        abort(); /* out of memory in the daemon */
    for (char *t = strtok_r(names, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save)) {
        ctl_node_t *nd = ctl_node_by_name(c, t);
        if (nd)
            ids[n++] = nd->id;
        else
            *known = false;
    }
    free(names);
    set_alloc(j, ids, n);
    free(ids);
    return j;
}

static int on_job_loaded(const cl_store_job_t *sj, void *arg)
{
    ctl_t *c = arg;
    if (terminal((cl_job_state_t)sj->state) && sj->end_time + c->keep_finished_s <= ctl_now()) {
        if (sj->id > c->max_id) /* past its keep time: stays in the journal only */
            c->max_id = sj->id;
        return 0;
    }
    bool known;
    ctl_job_t *j = job_from_store(c, sj, &known);
    if (!j || job_insert(c, j) < 0)
        return -1;
    if (terminal(j->state)) {
        *(uint64_t *)ctl_ring_push(&c->finished) = j->id;
        return 0;
    }
    char err[300];
    int t = tenant_index(c, j->tenant, err, sizeof err);
    cl_job_spec_t spec = {.nodes = j->nodes,
                          .gpus_per_node = j->gpus_per_node,
                          .tenant = (uint32_t)(t < 0 ? 0 : t),
                          .priority = j->priority,
                          .time_limit_s = j->time_limit_s,
                          .max_restarts = j->max_restarts > j->restarts_base
                                              ? j->max_restarts - j->restarts_base
                                              : 0};
    cl_error_t e;
    if (cl_job_submit_id(c->cluster, &spec, j->id, j->submit_time, &e) < 0) {
        cl_daemon_log(c->who, "journal: job %" PRIu64 " cannot be restored: %s; marked failed",
                      j->id, e.msg);
        snprintf(j->reason, sizeof j->reason, "lost in recovery: %.120s", e.msg);
        j->state = CL_JOB_FAILED;
        j->end_time = ctl_now();
        ctl_journal_job(c, j);
        return 0;
    }
    uint32_t n = j->nalloc;
    if (j->state == CL_JOB_RUNNING && known && n == j->nodes) {
        j->recovering = true;
        j->seen = calloc(n ? n : 1, sizeof *j->seen);
        j->rec_exited = calloc(n ? n : 1, sizeof *j->rec_exited);
        j->rec_code = calloc(n ? n : 1, sizeof *j->rec_code);
        c->recovering = true;
    } else if (j->state == CL_JOB_RUNNING) {
        j->state = CL_JOB_PENDING; /* its nodes are unknown: run it again */
        ctl_journal_job(c, j);
    }
    return 0;
}

struct job_read {
    ctl_t *c;
    ctl_job_t *j;
};

static int on_job_read(const cl_store_job_t *sj, void *arg)
{
    struct job_read *r = arg;
    bool known;
    r->j = job_from_store(r->c, sj, &known);
    return 1;
}

ctl_job_t *ctl_job_lookup(ctl_t *c, uint64_t id, bool *transient)
{
    *transient = false;
    ctl_job_t *j = ctl_job_get(c, id);
    if (j || !id || id > c->max_id)
        return j;
    struct job_read r = {c, NULL};
    cl_error_t err;
    if (cl_store_job_get(c->store, id, on_job_read, &r, &err) < 0)
        cl_daemon_log(c->who, "journal: cannot read job %" PRIu64 ": %s", id, err.msg);
    *transient = r.j != NULL;
    return r.j;
}

int ctl_jobs_recover(ctl_t *c, cl_error_t *err)
{
    if (cl_store_load(c->store, on_job_loaded, NULL, c, err) < 0)
        return -1;
    cl_job_set_next_id(c->cluster, c->max_id + 1);
    uint64_t live = 0, rec = 0;
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && !terminal(j->state))
            live++;
        if (j && j->recovering)
            rec++;
    }
    /* Agents reconnect with a back-off of at most 1 s; give them dead-after on top. */
    c->recover_until = ctl_now() + (c->dead_ms + 1500) / 1000.0;
    if (c->max_id)
        cl_daemon_log(c->who, "recovered %" PRIu64 " jobs from the journal (%" PRIu64
                      " not finished, %" PRIu64 " were running: waiting for their agents)",
                      c->max_id, live, rec);
    return 0;
}

void ctl_jobs_reconcile(ctl_t *c)
{
    double now = ctl_now();
    for (uint64_t id = 1; id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || !j->recovering)
            continue;
        j->recovering = false;
        bool all = true;
        uint32_t nseen = 0;
        for (uint32_t k = 0; k < j->nalloc; k++) {
            all &= j->seen[k];
            nseen += j->seen[k];
        }
        cl_error_t e = {{0}};
        if (all && cl_job_start_on(c->cluster, j->id, j->alloc, j->nalloc, j->inc, now, &e) == 0) {
            cl_job_info_t info;
            cl_job_get(c->cluster, j->id, &info);
            j->inc_base = j->inc - info.incarnation;
            memset(j->done, 0, j->nalloc * sizeof *j->done);
            j->ndone = 0;
            if (!j->running_time) { /* its Started died with the old controller */
                j->running_time = now;
                ctl_journal_job(c, j);
            }
            cl_daemon_log(c->who, "job %" PRIu64 " reconciled: still running on its %u nodes",
                          j->id, j->nalloc);
            for (uint32_t k = 0; k < j->nalloc && j->state == CL_JOB_RUNNING; k++)
                if (j->rec_exited[k]) {
                    node_exit(c, j, (int)k, j->rec_code[k], -1);
                    send_exited_ack(c, NULL, j->alloc[k], j->id, j->inc);
                }
        } else {
            cl_daemon_log(c->who, "job %" PRIu64 " could not be reconciled (%s); stopping and "
                          "requeueing it",
                          j->id, all ? e.msg : "some of its nodes did not come back");
            send_stop(c, j);
            j->state = CL_JOB_PENDING;
            /* A launch no node ever saw (the controller died between journaling the start and
             * sending it) is not a failure: no restart is counted for it. */
            if (nseen)
                j->restarts_base++;
            j->inc_base = j->inc; /* the next start gets a new incarnation */
            snprintf(j->reason, sizeof j->reason, "requeued: nodes lost while the controller was down");
            ctl_journal_job(c, j);
        }
        free(j->seen);
        free(j->rec_exited);
        free(j->rec_code);
        j->seen = j->rec_exited = NULL;
        j->rec_code = NULL;
    }
}
