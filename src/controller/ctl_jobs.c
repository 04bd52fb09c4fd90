/* ctl_jobs.c - jobs in the controller: records, cancel, rank exits and starts,
 * carrying out the core's decisions (start, preempt, restart on a hot spare, requeue, fail),
 * launch and stop orders, time limits, and forgetting finished jobs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/ctl_acct.h"
#include "util/depend.h"

ctl_job_t *ctl_job_get(ctl_t *c, uint64_t id)
{
    return id && id < c->jobs_cap ? c->jobs[id] : NULL;
}

int ctl_job_insert(ctl_t *c, ctl_job_t *j)
{
    if (j->id >= c->jobs_cap) {
        uint64_t cap = c->jobs_cap ? c->jobs_cap : 1024;
        while (cap <= j->id)
            cap *= 2;
        c->jobs = cl_xrealloc(c->jobs, cap * sizeof *c->jobs);
        memset(c->jobs + c->jobs_cap, 0, (cap - c->jobs_cap) * sizeof *c->jobs);
        c->jobs_cap = cap;
    }
    c->jobs[j->id] = j;
    if (j->id > c->max_id) c->max_id = j->id;
    return 0;
}

static void waiters_free(ctl_waiter_t *w)
{
    while (w) {
        ctl_waiter_t *next = w->next;
        ctl_sink_unref(w->sink);
        free(w);
        w = next;
    }
}

void ctl_job_strings_free(ctl_job_t *j)
{
    free(j->name);
    free(j->tenant);
    free(j->user);
    free(j->cwd);
    free(j->output);
    free(j->error);
    free(j->dependency);
    free(j->array);
    free(j->nodelist);
    free(j->exclude);
    for (size_t i = 0; j->argv && i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    for (size_t i = 0; j->env && i < j->envc; i++)
        free(j->env[i]);
    free(j->env);
}

void ctl_job_free(ctl_job_t *j)
{
    if (!j) return;
    if (j->arr)
        ctl_array_unref(j->arr);
    else
        ctl_job_strings_free(j);
    if (j->run_done) {
        free(j->run_done->nodes);
        free(j->run_done->reason);
        free(j->run_done);
    }
    free(j->run);
    free(j->alloc);
    free(j->power_nodes);
    free(j->power_gpus);
    free(j->alloc_index);
    free(j->done);
    free(j->started);
    free(j->seen);
    free(j->rec_code);
    free(j->rec_oom_mb);
    free(j->rec_exited);
    free(j->await);
    waiters_free(j->waiters);
    free(j);
}

void ctl_jobs_free(ctl_t *c)
{
    for (uint64_t id = 0; id < c->jobs_cap; id++)
        ctl_job_free(c->jobs[id]);
    free(c->jobs);
    c->jobs = NULL;
    c->jobs_cap = 0;
}

/* Forget finished jobs keep_finished_s after their end: the core's record and ours (the
 * journal keeps them). Bounded memory at any throughput: 1,300 jobs/s kept forever grew the
 * controller by ~1.2 KB each. Only once their last record is durable: until then a read
 * from the journal would show an older state. */
static void purge_finished(ctl_t *c, double now)
{
    for (uint64_t *front; (front = ctl_ring_front(&c->finished));) {
        uint64_t id = *front;
        ctl_job_t *j = ctl_job_get(c, id);
        if (j && cl_job_finished(j->state) &&
            (j->end_time + c->cfg.keep_finished_s > now || j->journal_seq > c->durable_seq))
            return; /* the oldest still has time: so have the ones after it */
        ctl_ring_pop(&c->finished);
        if (!j || !cl_job_finished(j->state) || j->waiters) continue;
        cl_job_forget(c->cluster, id);
        ctl_usage_job_free(c, j);
        c->jobs[id] = NULL;
        ctl_job_free(j);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Gangs above this many nodes get a sorted index for ctl_job_alloc_pos(): every node of a job
 * sends Started and Exited, and a scan per message is quadratic (65,536 nodes: 4e9 steps). */
#define ALLOC_INDEX_MIN 32

void ctl_job_set_alloc(ctl_job_t *j, const uint32_t *ids, uint32_t n)
{
    free(j->alloc);
    free(j->alloc_index);
    free(j->done);
    free(j->started);
    j->alloc = cl_xcalloc(n, sizeof *j->alloc);
    j->done = cl_xcalloc(n, sizeof *j->done);
    j->started = cl_xcalloc(n, sizeof *j->started);
    j->alloc_index = n > ALLOC_INDEX_MIN ? cl_xmalloc(n * sizeof *j->alloc_index) : NULL;
    j->nstarted = j->ndone = 0;
    memcpy(j->alloc, ids, n * sizeof *ids);
    j->nalloc = n;
    if (j->alloc_index) {
        for (uint32_t i = 0; i < n; i++)
            j->alloc_index[i] = (uint64_t)ids[i] << 32 | i;
        qsort(j->alloc_index, n, sizeof *j->alloc_index, cmp_u64);
    }
}

/* Position of node in the job's allocation (its node rank), or -1. */
int ctl_job_alloc_pos(const ctl_job_t *j, uint32_t node)
{
    if (!j->alloc_index) {
        for (uint32_t i = 0; i < j->nalloc; i++)
            if (j->alloc[i] == node) return (int)i;
        return -1;
    }
    size_t lo = 0, hi = j->nalloc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t at = (uint32_t)(j->alloc_index[mid] >> 32);
        if (at == node) return (int)(uint32_t)j->alloc_index[mid];
        if (at < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

uint32_t ctl_job_restarts(ctl_t *c, ctl_job_t *j)
{
    cl_job_info_t info;
    if (cl_job_get(c->cluster, j->id, &info) == 0) return j->restarts_base + info.restarts;
    return j->restarts_base;
}

void ctl_job_fill_info(ctl_t *c, ctl_job_t *j, Colossus__JobInfo *o)
{
    colossus__job_info__init(o);
    o->id = j->id;
    o->name = j->name;
    o->state = (char *)cl_job_state_name(j->state);
    cl_job_info_t info;
    bool in_core = cl_job_get(c->cluster, j->id, &info) == 0;
    o->restarts = j->restarts_base + (in_core ? info.restarts : 0);
    o->power_w = in_core ? info.power_w : 0;
    o->power_measured_w = in_core ? info.power_measured_w : 0;
    o->nodes = cl_xcalloc(j->nalloc + 1, sizeof *o->nodes);
    for (uint32_t i = 0; i < j->nalloc; i++)
        o->nodes[i] = c->nodes[j->alloc[i]].name;
    o->n_nodes = j->nalloc;
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
    o->user = j->user;
    o->energy_j = j->energy_j + (j->run_done ? j->run_done->energy_j : 0);
    o->gpu_seconds = j->gpu_s;
    o->ntasks_per_node = ctl_job_tasks(j);
    o->cpus_per_gpu = j->cpus_per_gpu;
    o->mem_per_gpu_mb = j->mem_per_gpu_mb;
    o->cwd = j->cwd;
    o->cwd_strict = j->cwd_strict;
    o->output = j->output ? j->output : "";
    o->error = j->error ? j->error : "";
    o->dependency = j->dependency ? j->dependency : "";
    o->held = j->held;
    o->array_job_id = j->array_id;
    o->array_task_id = j->array_task;
    o->array = j->array ? j->array : "";
    o->ended = j->ended;
    o->exclusive = j->exclusive;
    o->nodelist = j->nodelist ? j->nodelist : "";
    o->exclude = j->exclude ? j->exclude : "";
    if (j->state == CL_JOB_RUNNING && j->run)
        o->gpu_seconds += j->run->gpus * (ctl_now(c) - j->run->start);
    if (j->state == CL_JOB_PENDING) {
        o->pending_reason = cl_xmalloc(256);
        ctl_job_pending_text(c, j, o->pending_reason, 256);
    }
}

void ctl_job_info_release(Colossus__JobInfo *o)
{
    free(o->nodes);
    o->nodes = NULL;
    if (o->pending_reason != protobuf_c_empty_string) free(o->pending_reason);
    o->pending_reason = NULL;
}

void ctl_job_notify(ctl_t *c, ctl_job_t *j)
{
    while (j->waiters) {
        ctl_waiter_t *w = j->waiters;
        j->waiters = w->next;
        w->sink->nwaiters--;
        ctl_reply_job(c, w->sink, w->req, j);
        ctl_sink_unref(w->sink);
        free(w);
    }
}

void ctl_sink_forget_waiters(ctl_t *c, ctl_sink_t *s)
{
    /* the common case: no scan; else it ends with the sink's last waiter */
    for (uint64_t id = 1; s->nwaiters && id <= c->max_id; id++) {
        ctl_job_t *j = ctl_job_get(c, id);
        if (!j || !j->waiters) continue;
        for (ctl_waiter_t **p = &j->waiters; *p;) {
            if ((*p)->sink == s) {
                ctl_waiter_t *w = *p;
                *p = w->next;
                s->nwaiters--;
                ctl_sink_unref(s);
                free(w);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

static void fail_unlink(ctl_t *c, ctl_job_t *j)
{
    if (!j->fail_pending) return;
    j->fail_pending = false;
    for (ctl_job_t **p = &c->fail_pending; *p; p = &(*p)->fail_next)
        if (*p == j) {
            *p = j->fail_next;
            break;
        }
}

/* ---- MASTER_PORT: one per job on its rank-0 node ---- */

/* A run's first choice in the controller's range (below the ephemeral one): different for
 * every incarnation, so that a restart does not meet its predecessor's sockets in TIME_WAIT. */
static uint32_t port_hash(const ctl_t *c, const ctl_job_t *j)
{
    uint32_t lo = c->cfg.master_port_lo, span = c->cfg.master_port_hi - lo + 1;
    return lo + (uint32_t)((j->id * 7919u + j->inc * 104729u) % span);
}

/* A running job's MASTER_PORT: the one it was given, or, recovering before its rank-0 node
 * reported it (ctl_jobs_fence), the first choice (all a controller before this one gave). */
static uint32_t port_of(const ctl_t *c, const ctl_job_t *j)
{
    return j->master_port ? j->master_port : port_hash(c, j);
}

/* The MASTER_PORT of j's new run: its first choice, or the next one in the range that no
 * other job whose rank 0 is on the same node has. A node holds at most CL_MAX_GPUS_PER_NODE
 * jobs and the range at least that many ports (--master-ports), so there always is one. */
static uint32_t pick_port(ctl_t *c, const ctl_job_t *j)
{
    uint32_t node = j->alloc[0], used[CL_MAX_GPUS_PER_NODE];
    cl_jobid_t on[CL_MAX_GPUS_PER_NODE];
    size_t n = cl_node_jobs(c->cluster, node, on, CL_MAX_GPUS_PER_NODE), nu = 0;
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *o = on[i] == j->id ? NULL : ctl_job_get(c, on[i]);
        if (o && o->nalloc && o->alloc[0] == node) used[nu++] = port_of(c, o);
    }
    uint32_t lo = c->cfg.master_port_lo, span = c->cfg.master_port_hi - lo + 1;
    uint32_t first = port_hash(c, j) - lo;
    for (uint32_t k = 0; k < span; k++) {
        uint32_t p = lo + (first + k) % span;
        bool taken = false;
        for (size_t i = 0; i < nu && !taken; i++)
            taken = used[i] == p;
        if (!taken) return p;
    }
    cl_assert(!"more jobs on a node than MASTER_PORTs");
    return lo + first;
}

void ctl_job_port_reported(ctl_t *c, ctl_job_t *j, uint32_t port)
{
    if (port >= c->cfg.master_port_lo && port <= c->cfg.master_port_hi) j->master_port = port;
}

void ctl_send_stop(ctl_t *c, ctl_job_t *j)
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

/* One node of a launch, by its carrier: sorted so, one Launch goes to each connection with
 * all the nodes it carries (Launch.more), the job's shared fields once (a 65,536-node gang on
 * 8 hollow agents: 89 MB of environment when each node had its own, docs/benchmarks.md). */
typedef struct launch_ent {
    uintptr_t conn;
    uint32_t i; /* node rank */
} launch_ent_t;

static int cmp_launch_ent(const void *a, const void *b)
{
    const launch_ent_t *x = a, *y = b;
    if (x->conn != y->conn) return x->conn < y->conn ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

#define LAUNCH_NODES_PER_MSG 4096u /* ~100 KB of per-node entries: well inside a frame */

typedef struct launch_node_buf {
    Colossus__LaunchNode ln;
    uint32_t gpus[CL_MAX_GPUS_PER_NODE];
} launch_node_buf_t;

/* Node rank i's GPUs into gpus; how many. */
static size_t alloc_gpus(const cl_alloc_t *a, uint32_t *gpus)
{
    size_t ng = 0;
    for (uint32_t g = 0; g < CL_MAX_GPUS_PER_NODE; g++)
        if (a->gpus & (1ull << g)) gpus[ng++] = g;
    return ng;
}

/* Send this incarnation's launch orders to every connected node of the job's allocation. */
static void send_launch(ctl_t *c, ctl_job_t *j, const cl_alloc_t *a)
{
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s/%" PRIu64, c->cfg.checkpoint_root, j->id);
    launch_ent_t *v = cl_xmalloc((j->nalloc + 1) * sizeof *v);
    size_t n = 0;
    for (uint32_t i = 0; i < j->nalloc; i++) {
        uint32_t node = j->alloc[i];
        if (node < c->nnodes && c->nodes[node].conn)
            v[n++] = (launch_ent_t){(uintptr_t)c->nodes[node].conn, i};
    }
    qsort(v, n, sizeof *v, cmp_launch_ent);
    char **penv, **env;
    size_t nenv;
    env = ctl_power_launch_env(c, j, &nenv, &penv); /* the stall signal with a ramp */
    size_t cap = n < LAUNCH_NODES_PER_MSG ? n : LAUNCH_NODES_PER_MSG;
    launch_node_buf_t *more = cl_xmalloc((cap + 1) * sizeof *more);
    Colossus__LaunchNode **morep = cl_xmalloc((cap + 1) * sizeof *morep);
    for (size_t k = 0; k < n;) {
        size_t e = k + 1;
        while (e < n && e - k < LAUNCH_NODES_PER_MSG && v[e].conn == v[k].conn)
            e++;
        uint32_t gpus[CL_MAX_GPUS_PER_NODE], i0 = v[k].i;
        size_t ng = alloc_gpus(&a[i0], gpus);
        Colossus__Launch L = COLOSSUS__LAUNCH__INIT;
        L.node = j->alloc[i0];
        L.job = j->id;
        L.incarnation = j->inc;
        L.restart = j->inc - 1;
        L.node_rank = i0;
        L.nnodes = j->nalloc;
        L.ranks_per_node = j->ntasks ? j->ntasks : (uint32_t)ng;
        L.gpus = gpus;
        L.n_gpus = ng;
        L.master_addr = c->nodes[j->alloc[0]].addr;
        L.master_port = j->master_port;
        L.argv = j->argv;
        L.n_argv = j->argc;
        L.env = env;
        L.n_env = nenv;
        L.cwd = j->cwd;
        L.name = j->name;
        L.checkpoint_dir = ckpt;
        L.uid = j->uid;
        L.gid = j->gid;
        L.user = j->user;
        L.cwd_strict = j->cwd_strict;
        L.array_job_id = j->array_id;
        L.array_task = j->array_task;
        L.cpus_per_gpu = j->cpus_per_gpu;
        L.mem_per_gpu_mb = j->mem_per_gpu_mb;
        L.output = j->output ? j->output : "";
        L.error = j->error ? j->error : "";
        for (size_t x = k + 1; x < e; x++) {
            launch_node_buf_t *b = &more[x - k - 1];
            uint32_t i = v[x].i;
            colossus__launch_node__init(&b->ln);
            b->ln.node = j->alloc[i];
            b->ln.node_rank = i;
            b->ln.n_gpus = alloc_gpus(&a[i], b->gpus);
            b->ln.gpus = b->gpus;
            b->ln.ranks_per_node = j->ntasks ? j->ntasks : (uint32_t)b->ln.n_gpus;
            morep[x - k - 1] = &b->ln;
        }
        L.more = morep;
        L.n_more = e - k - 1;
        Colossus__Msg m = COLOSSUS__MSG__INIT;
        m.body_case = COLOSSUS__MSG__BODY_LAUNCH;
        m.launch = &L;
        ctl_send(c, (ctl_sink_t *)v[k].conn, &m);
        k = e;
    }
    free(penv);
    free(morep);
    free(more);
    free(v);
}

/* ---- one incarnation at a time (issue 14) ---- */

static void held_unlink(ctl_t *c, ctl_job_t *j)
{
    if (!j->launch_held) return;
    j->launch_held = false;
    if (j->held_prev)
        j->held_prev->held_next = j->held_next;
    else
        c->held = j->held_next;
    if (j->held_next) j->held_next->held_prev = j->held_prev;
    j->held_next = j->held_prev = NULL;
}

/* The incarnation now stopped (its Stop just sent): the live, connected nodes of it whose
 * ranks have not all exited are awaited before the next one launches. */
static void await_old(ctl_t *c, ctl_job_t *j)
{
    free(j->await);
    j->await = cl_xmalloc((j->nalloc + 1) * sizeof *j->await);
    j->nawait = 0;
    j->await_inc = j->inc;
    for (uint32_t i = 0; i < j->nalloc; i++) {
        ctl_node_t *n = &c->nodes[j->alloc[i]];
        if (n->alive && n->conn && !n->conn->closed && !(j->done && j->done[i]))
            j->await[j->nawait++] = n->id;
    }
}

static void release_launch(ctl_t *c, ctl_job_t *j, const char *why)
{
    held_unlink(c, j);
    j->nawait = 0;
    if (j->state != CL_JOB_RUNNING) return;
    size_t n = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &n);
    if (!a || n != j->nalloc) return;
    if (why) ctl_log(c, "job %" PRIu64 ": launching incarnation %u %s", j->id, j->inc, why);
    send_launch(c, j, a);
}

/* Node `node` no longer runs incarnation inc of j (it said so, or it died). */
static void await_done(ctl_t *c, ctl_job_t *j, uint32_t node, uint32_t inc)
{
    if (!j->nawait || inc != j->await_inc) return;
    for (uint32_t i = 0; i < j->nawait; i++)
        if (j->await[i] == node) {
            j->await[i] = j->await[--j->nawait];
            break;
        }
    if (!j->nawait && j->launch_held) release_launch(c, j, NULL);
}

/* The core started (or restarted) the job: record its allocation and launch it. */
static void job_started(ctl_t *c, ctl_job_t *j, uint32_t core_inc)
{
    fail_unlink(c, j);
    size_t n = 0;
    const cl_alloc_t *a = cl_job_alloc(c->cluster, j->id, &n);
    cl_assert(a != NULL);
    uint32_t *ids = cl_xmalloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = a[i].node;
    ctl_job_set_alloc(j, ids, (uint32_t)n);
    free(ids);
    j->inc = j->inc_base + core_inc;
    j->state = CL_JOB_RUNNING;
    j->ended[0] = 0;
    j->start_time = ctl_now(c);
    j->running_time = 0; /* until every node says Started */
    j->reason[0] = 0;
    cl_job_info_t info;
    if (cl_job_get(c->cluster, j->id, &info) == 0 && info.gpus_per_node)
        j->gpus_per_node = info.gpus_per_node;
    ctl_run_begin(c, j);
    ctl_journal_job(c, j);
    j->master_port = pick_port(c, j);
    held_unlink(c, j);
    if (j->nawait) { /* the incarnation before still runs somewhere: not beside it */
        j->launch_held = true;
        j->await_deadline =
            ctl_now(c) + (c->cfg.dead_after_ms + CTL_STOP_GRACE_MS + 1000) / 1000.0;
        j->held_prev = NULL;
        j->held_next = c->held;
        if (c->held) c->held->held_prev = j;
        c->held = j;
    } else {
        send_launch(c, j, a);
    }
    j->power_mw = 0; /* its new nodes start at the default: limits again at the tick */
    ctl_power_job_started(c, j);
    ctl_power_dirty(c);
    char names[512];
    size_t off = 0;
    names[0] = 0;
    for (uint32_t i = 0; i < j->nalloc && off + 70 < sizeof names; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? "," : "",
                                c->nodes[j->alloc[i]].name);
    ctl_log(c, "job %" PRIu64 " (%s) started, incarnation %u, on %s", j->id, j->name, j->inc,
            names);
}

/* ended: how its run ended, for the usage record (ctl_acct.h). */
static void job_ended(ctl_t *c, ctl_job_t *j, cl_job_state_t st, const char *ended)
{
    fail_unlink(c, j);
    held_unlink(c, j);
    j->nawait = 0;
    if (j->state == CL_JOB_RUNNING) ctl_usage_run_ended(c, j, ended);
    ctl_power_job_ended(c, j);
    j->state = st;
    snprintf(j->ended, sizeof j->ended, "%s", ended);
    j->end_time = ctl_now(c);
    c->count.ended[st]++;
    *(uint64_t *)ctl_ring_push(&c->finished) = j->id;
    ctl_journal_job(c, j);
    ctl_job_notify(c, j);
    if (c->watchers) ctl_watch_job_left(c, j);
    c->sched_needed = true;
    ctl_power_dirty(c); /* its share of the budgets goes to the others */
    ctl_log(c, "job %" PRIu64 " (%s) %s%s%s", j->id, j->name, cl_job_state_name(st),
            j->reason[0] ? ": " : "", j->reason);
}

/* Why the core preempted j (it marks the job's pending reason as it decides): a tenant
 * reclaiming its quota, a spent budget that stops jobs, or a job of higher priority. */
static const char *ctl_preempt_reason(ctl_t *c, const ctl_job_t *j, const char **ended)
{
    cl_pending_t p;
    *ended = "preempted";
    if (cl_job_pending(c->cluster, j->id, &p) == 0) {
        if (p.why == CL_PEND_BUDGET) {
            *ended = "budget";
            return "stopped: its tenant's GPU-hour budget is spent";
        }
        if (p.why == CL_PEND_QUOTA) return "preempted: a tenant reclaimed the GPUs it lent";
    }
    return "preempted by a job of higher priority";
}

/* why, and the job's nodes that are down now ("...: n3 down"): the reason of a run a node
 * failure ended, in the job and its usage record (a job's timeline says which node). */
static void node_fail_reason(ctl_t *c, ctl_job_t *j, const char *why)
{
    size_t at = (size_t)snprintf(j->reason, sizeof j->reason, "%s", why), n = 0;
    for (uint32_t i = 0; i < j->nalloc && at < sizeof j->reason; i++) {
        cl_node_info_t ni;
        if (cl_node_get(c->cluster, j->alloc[i], &ni) < 0 || ni.state != CL_NODE_DOWN) continue;
        at += (size_t)snprintf(j->reason + at, sizeof j->reason - at, "%s%s", n++ ? ", " : ": ",
                               c->nodes[j->alloc[i]].name);
    }
    if (n && at < sizeof j->reason) snprintf(j->reason + at, sizeof j->reason - at, " down");
}

static void requeued(ctl_t *c, ctl_job_t *j, const char *why, const char *ended)
{
    /* the reason first: the run's usage record takes it */
    if (!strcmp(ended, "node_fail"))
        node_fail_reason(c, j, why);
    else
        snprintf(j->reason, sizeof j->reason, "%s", why);
    if (j->state == CL_JOB_RUNNING) ctl_usage_run_ended(c, j, ended);
    if (j->fail_pending)
        ctl_log(c, "job %" PRIu64 ": its rank failure came with a node failure: restarting it",
                j->id);
    fail_unlink(c, j);
    ctl_send_stop(c, j);
    ctl_power_job_released(c, j);
    await_old(c, j);
    ctl_power_dirty(c);
    j->state = CL_JOB_PENDING;
    ctl_journal_job(c, j);
    if (c->watchers) ctl_watch_job_left(c, j);
}

void ctl_apply(ctl_t *c, cl_decisions_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        cl_decision_t *x = &d->v[i];
        ctl_job_t *j = ctl_job_get(c, x->job);
        if (!j) {
            ctl_log(c, "core decision for unknown job %" PRIu64, x->job);
            continue;
        }
        if ((unsigned)x->action <= CL_ACT_DEP_NEVER) c->count.decisions[x->action]++;
        switch (x->action) {
        case CL_ACT_START:
            job_started(c, j, x->incarnation);
            break;
        case CL_ACT_PREEMPT:
            fail_unlink(c, j); /* a preempted job's rank failure is moot */
            const char *ended, *why = ctl_preempt_reason(c, j, &ended);
            requeued(c, j, why, ended);
            ctl_log(c, "job %" PRIu64 " preempted", j->id);
            break;
        case CL_ACT_RESTART:
            if (j->fail_pending)
                ctl_log(c,
                        "job %" PRIu64 ": its rank failure came with a node failure: "
                        "restarting it",
                        j->id);
            ctl_send_stop(c, j);
            await_old(c, j);
            node_fail_reason(c, j, "restarted in place on a hot spare after a node failure");
            ctl_usage_run_ended(c, j, "node_fail");
            ctl_log(c, "job %" PRIu64 ": restarting in place, node %s replaced by hot spare %s",
                    j->id, x->node_old < c->nnodes ? c->nodes[x->node_old].name : "?",
                    x->node_new < c->nnodes ? c->nodes[x->node_new].name : "?");
            job_started(c, j, x->incarnation);
            break;
        case CL_ACT_REQUEUE:
            requeued(c, j, "requeued after a node failure", "node_fail");
            ctl_log(c, "job %" PRIu64 " requeued after a node failure (restart %u)", j->id,
                    ctl_job_restarts(c, j));
            break;
        case CL_ACT_FAIL:
            ctl_send_stop(c, j);
            char lost[96];
            snprintf(lost, sizeof lost, "node failure with max restarts (%u) reached",
                     j->max_restarts);
            node_fail_reason(c, j, lost);
            job_ended(c, j, CL_JOB_FAILED, "node_fail");
            break;
        case CL_ACT_DEP_NEVER: {
            /* Slurm's DependencyNeverSatisfied, cancelled as with kill_invalid_depend */
            cl_job_info_t info;
            cl_jobid_t on = cl_job_get(c->cluster, j->id, &info) == 0 ? info.dep_never : 0;
            bool transient;
            ctl_job_t *dj = ctl_job_lookup(c, on, &transient);
            snprintf(j->reason, sizeof j->reason,
                     "DependencyNeverSatisfied: job %" PRIu64 " %s (--dependency %.64s)", on,
                     dj ? cl_job_state_name(dj->state) : "ended",
                     j->dependency ? j->dependency : "");
            if (transient) ctl_job_free(dj);
            job_ended(c, j, CL_JOB_CANCELLED, "cancelled");
            break;
        }
        }
    }
}

/* The thread's CPU seconds: a pass's cost without the time the loop's thread was not
 * running (the controller's clock is a test's in unit tests, and in ms). */
double ctl_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ctl_schedule(ctl_t *c)
{
    cl_decisions_t d = {0};
    double t0 = ctl_cpu_s();
    cl_schedule(c->cluster, ctl_now(c), &d);
    ctl_apply(c, &d);
    cl_decisions_free(&d);
    double s = ctl_cpu_s() - t0;
    c->count.passes++;
    c->count.pass_s += s;
    unsigned b = 0;
    for (double le = 1e-4; b < CTL_PASS_BUCKETS && s > le; le *= 10)
        b++;
    c->count.pass_le[b]++;
}

int ctl_job_cancel(ctl_t *c, uint64_t id, const char *who, cl_error_t *err)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, id, &transient);
    if (!j) return cl_err(err, "no job %" PRIu64, id);
    if (cl_job_finished(j->state) ||
        transient) { /* a transient one is finished by definition */
        cl_err(err, "job %" PRIu64 " already %s", id, cl_job_state_name(j->state));
        if (transient) ctl_job_free(j);
        return -1;
    }
    if (cl_job_cancel(c->cluster, id, ctl_now(c), err) < 0) return -1;
    if (j->state == CL_JOB_RUNNING) ctl_send_stop(c, j);
    ctl_job_unrecover(c, j);
    snprintf(j->reason, sizeof j->reason, "cancelled by %.64s", who && *who ? who : "a user");
    job_ended(c, j, CL_JOB_CANCELLED, "cancelled");
    return 0;
}

/* The live record of a job a hold, release or requeue acts on; NULL with err for none. */
static ctl_job_t *live_job(ctl_t *c, uint64_t id, bool finished_ok, cl_error_t *err)
{
    bool transient;
    ctl_job_t *j = ctl_job_lookup(c, id, &transient);
    if (!j) {
        cl_err(err, "no job %" PRIu64, id);
        return NULL;
    }
    if (transient) { /* finished and forgotten in memory: back in, if it may be */
        if (!finished_ok) {
            cl_err(err, "job %" PRIu64 " already %s", id, cl_job_state_name(j->state));
            ctl_job_free(j);
            return NULL;
        }
        ctl_job_insert(c, j);
        *(uint64_t *)ctl_ring_push(&c->finished) = id; /* forgotten again unless requeued */
    }
    return j;
}

int ctl_job_hold(ctl_t *c, uint64_t id, bool hold, cl_error_t *err)
{
    ctl_job_t *j = live_job(c, id, false, err);
    if (!j) return -1;
    if (cl_job_finished(j->state))
        return cl_err(err, "job %" PRIu64 " already %s", id, cl_job_state_name(j->state));
    if (cl_job_hold(c->cluster, id, hold, err) < 0) return -1;
    j->held = hold;
    ctl_journal_job(c, j); /* and the watchers' event */
    c->sched_needed |= !hold;
    ctl_log(c, "job %" PRIu64 " %s", id, hold ? "held" : "released");
    return 0;
}

int ctl_job_requeue(ctl_t *c, uint64_t id, cl_error_t *err)
{
    ctl_job_t *j = live_job(c, id, true, err);
    if (!j) return -1;
    if (j->state == CL_JOB_PENDING)
        return cl_err(err, "job %" PRIu64 " is pending already", id);
    if (j->recovering)
        return cl_err(err,
                      "job %" PRIu64 " is being reconciled after a controller restart: "
                      "try again in a few seconds",
                      id);
    cl_job_info_t info;
    if (cl_job_get(c->cluster, id, &info) == 0) {
        if (cl_job_requeue(c->cluster, id, false, ctl_now(c), err) < 0) return -1;
    } else { /* a finished job the core forgot: it enters it again, a new submission */
        cl_job_spec_t spec;
        cl_depend_t d;
        int rc = ctl_job_spec(c, j, &spec, &d, err);
        if (rc == 0) rc = cl_job_submit_id(c->cluster, &spec, id, j->submit_time, err);
        cl_depend_free(&d);
        if (rc < 0) return -1;
        ctl_power_job_new(c, j, spec.name_key);
        j->inc_base = j->inc; /* the core counts incarnations from 0 again */
    }
    if (j->state == CL_JOB_RUNNING) {
        requeued(c, j, "requeued by a user", "requeued");
    } else {
        snprintf(j->reason, sizeof j->reason, "requeued by a user after it %s",
                 cl_job_state_name(j->state));
        j->state = CL_JOB_PENDING;
        j->ended[0] = 0;
        j->end_time = 0;
        j->has_exit = false;
        j->exit_code = 0;
        ctl_journal_job(c, j);
    }
    c->sched_needed = true;
    ctl_log(c, "job %" PRIu64 " requeued", id);
    return 0;
}

/* The failure waited dead-after and no node of the job died: a user error. */
static void fail_now(ctl_t *c, ctl_job_t *j)
{
    cl_error_t e;
    fail_unlink(c, j);
    if (cl_job_finish(c->cluster, j->id, false, ctl_now(c), &e) < 0)
        ctl_log(c, "job %" PRIu64 ": core refused finish: %s", j->id, e.msg);
    j->exit_code = j->fail_code;
    j->has_exit = true;
    snprintf(j->reason, sizeof j->reason, "%s", j->fail_reason);
    job_ended(c, j, CL_JOB_FAILED, j->fail_oom ? "out_of_memory" : "failed");
}

/* "SIGSEGV", or "signal 77" for one without a name. */
static const char *signame(int sig, char *buf, size_t len)
{
    const char *a = sigabbrev_np(sig);
    if (a)
        snprintf(buf, len, "SIG%s", a);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* A node's ranks of the running incarnation ended with code (rank: the failing one). */
void ctl_job_node_exit(ctl_t *c, ctl_job_t *j, int pos, int code, int rank, int sig,
                       const char *why, bool oom, uint64_t limit_mb)
{
    if (j->fail_pending)
        return; /* already stopping after a failure; later exits are its echo */
    if (code != 0) {
        if (ctl_health_rank_failed(c, j->alloc[pos]))
            return; /* the node's GPUs failed: a node failure, the job restarts */
        ctl_send_stop(c, j);
        uint32_t wait_ms = c->cfg.dead_after_ms + 300;
        j->fail_pending = true;
        j->fail_code = code;
        j->fail_oom = oom;
        j->fail_deadline = ctl_now(c) + wait_ms / 1000.0;
        char name[32];
        if (oom && rank >= 0)
            snprintf(j->fail_reason, sizeof j->fail_reason,
                     "out of memory (limit %" PRIu64 " MB): rank %d on %s was OOM-killed",
                     limit_mb, rank, c->nodes[j->alloc[pos]].name);
        else if (oom) /* reported while the controller was away: the rank is not kept */
            snprintf(j->fail_reason, sizeof j->fail_reason,
                     "out of memory (limit %" PRIu64 " MB): a rank on %s was OOM-killed",
                     limit_mb, c->nodes[j->alloc[pos]].name);
        else if (why && why[0])
            snprintf(j->fail_reason, sizeof j->fail_reason, "rank %d on %s could not start: %s",
                     rank, c->nodes[j->alloc[pos]].name, why);
        else if (sig > 0 && sig < 128)
            snprintf(j->fail_reason, sizeof j->fail_reason,
                     "rank %d on %s was killed by %s (exit code %d)", rank,
                     c->nodes[j->alloc[pos]].name, signame(sig, name, sizeof name), code);
        else
            snprintf(j->fail_reason, sizeof j->fail_reason, "rank %d on %s exited with code %d",
                     rank, c->nodes[j->alloc[pos]].name, code);
        j->fail_next = c->fail_pending;
        c->fail_pending = j;
        ctl_log(c,
                "job %" PRIu64 ": %s; stopping it, failed in %u ms unless one of its nodes "
                "is declared down first",
                j->id, j->fail_reason, wait_ms);
        return;
    }
    if (!j->done[pos]) {
        j->done[pos] = true;
        j->ndone++;
    }
    if (j->ndone < j->nalloc) return;
    cl_error_t e;
    if (cl_job_finish(c->cluster, j->id, true, ctl_now(c), &e) < 0)
        ctl_log(c, "job %" PRIu64 ": core refused finish: %s", j->id, e.msg);
    j->exit_code = 0;
    j->has_exit = true;
    job_ended(c, j, CL_JOB_SUCCEEDED, "succeeded");
}

/* Acknowledge a node's exit report, on its connection (conn) or to the node wherever it is
 * connected (conn NULL); the agent resends the report until acknowledged. */
void ctl_send_exited_ack(ctl_t *c, ctl_sink_t *conn, uint32_t node, uint64_t job,
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
        ctl_send(c, conn, &m);
    else
        ctl_send_node(c, node, &m);
}

void ctl_job_exited(ctl_t *c, ctl_sink_t *conn, const Colossus__Exited *e)
{
    ctl_job_t *j = ctl_job_get(c, e->job);
    int pos = j ? ctl_job_alloc_pos(j, e->node) : -1;
    bool valid = e->node < c->nnodes && c->nodes[e->node].conn == conn;
    if (valid && j && pos >= 0) /* any incarnation: a stopped run's nodes report too */
        ctl_usage_exit_report(c, j, e->incarnation, pos, e->energy_j, e->flops);
    if (!valid || !j || pos < 0 || e->incarnation != j->inc ||
        (j->state != CL_JOB_RUNNING && !j->recovering)) {
        /* Stale (an older incarnation, a fenced node, a finished job): never counted. */
        if (valid && j) await_done(c, j, e->node, e->incarnation);
        if (j && e->incarnation != j->inc)
            ctl_log(c,
                    "job %" PRIu64 ": ignoring exit %d of stale incarnation %u from node %u "
                    "(current %u)",
                    e->job, e->exit_code, e->incarnation, e->node, j->inc);
        ctl_send_exited_ack(c, conn, e->node, e->job, e->incarnation);
        return;
    }
    if (j->recovering) {
        /* Exit while the controller was away: applied once the job is reconciled. The ack
         * waits too, so that the agent resends it if we crash again before that. */
        j->rec_exited[pos] = true;
        j->rec_code[pos] = e->exit_code;
        j->rec_oom_mb[pos] = e->oom ? (e->mem_limit_mb ? e->mem_limit_mb : 1) : 0;
        return;
    }
    if (!j->done[pos])
        ctl_job_node_exit(c, j, pos, e->exit_code, e->rank, (int)e->signal, e->reason, e->oom,
                          e->mem_limit_mb);
    ctl_send_exited_ack(c, conn, e->node, e->job, e->incarnation); /* leaves after the commit */
}

/* A node's ranks of a launch have all exec'd. The last node of the current incarnation to say
 * so makes the job's running_time (journaled with the next commit). */
void ctl_job_ranks_started(ctl_t *c, ctl_sink_t *conn, const Colossus__Started *s)
{
    ctl_job_t *j = ctl_job_get(c, s->job);
    int pos = j ? ctl_job_alloc_pos(j, s->node) : -1;
    if (!(s->node < c->nnodes && c->nodes[s->node].conn == conn) || !j || pos < 0 ||
        s->incarnation != j->inc || j->state != CL_JOB_RUNNING || j->recovering ||
        j->started[pos])
        return; /* stale, fenced, or already counted: nothing to do */
    j->started[pos] = true;
    if (++j->nstarted == j->nalloc) {
        j->running_time = ctl_now(c);
        ctl_journal_job(c, j);
    }
}

void ctl_jobs_node_failed(ctl_t *c, ctl_node_t *n)
{
    /* Down: its ranks froze when its lease lapsed, before dead-after (docs/standby.md) */
    for (ctl_job_t *j = c->held, *next; j; j = next) {
        next = j->held_next;
        await_done(c, j, n->id, j->await_inc);
    }
    cl_decisions_t d = {0};
    cl_error_t err;
    if (cl_node_fail(c->cluster, n->id, ctl_now(c), &d, &err) < 0)
        ctl_log(c, "node %s: core refused failure: %s", n->name, err.msg);
    ctl_apply(c, &d);
    cl_decisions_free(&d);
}

void ctl_jobs_tick(ctl_t *c)
{
    cl_jobid_t ex[64];
    double now = ctl_now(c);
    purge_finished(c, now);
    for (ctl_job_t *j = c->fail_pending, *next; j; j = next) {
        next = j->fail_next;
        if (now >= j->fail_deadline) fail_now(c, j);
    }
    for (ctl_job_t *j = c->held, *next; j; j = next) {
        next = j->held_next;
        if (now >= j->await_deadline)
            release_launch(c, j,
                           "although a node has not said that the incarnation before ended");
    }
    size_t n = cl_jobs_expired(c->cluster, now, ex, 64);
    for (size_t i = 0; i < n; i++) {
        ctl_job_t *j = ctl_job_get(c, ex[i]);
        cl_error_t e;
        if (!j || cl_job_finish(c->cluster, ex[i], false, now, &e) < 0) continue;
        ctl_send_stop(c, j);
        snprintf(j->reason, sizeof j->reason, "time limit of %g min reached",
                 j->time_limit_s / 60);
        job_ended(c, j, CL_JOB_FAILED, "timeout");
    }
    /* End the recovery window early once every recovering job has heard from all its
     * nodes. */
    if (c->recovering && !c->recover_unseen) c->recover_until = 0;
}
