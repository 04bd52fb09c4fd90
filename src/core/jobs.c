/* jobs.c - job records, their life cycle (pending, running, done) and the deadline heap. */
#include <string.h>

#include "core/internal.h"

/* ------------------------------------------------------------ decisions */
void cl__decide(cl_decisions_t *d, const job_t *j, cl_action_t a, cl_nodeid_t o, cl_nodeid_t n)
{
    if (!d) return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = cl__xrealloc(d->v, sizeof(cl_decision_t) * d->cap);
    }
    d->v[d->n++] = (cl_decision_t){j->id, a, j->incarnation, o, n};
}

void cl_decisions_clear(cl_decisions_t *d)
{
    d->n = 0;
}

void cl_decisions_free(cl_decisions_t *d)
{
    if (!d) return;
    free(d->v);
    memset(d, 0, sizeof(*d));
}

/* ------------------------------------------------------------ deadline heap */
double cl__deadline(const job_t *j)
{
    return j->limit > 0 ? j->start + j->limit : CL_TIME_INF;
}

int cl__deadline_before(const cl_cluster_t *c, uint32_t a, uint32_t b)
{
    double da = cl__deadline(&c->jobs[a]), db = cl__deadline(&c->jobs[b]);
    return da < db || (da == db && c->jobs[a].id < c->jobs[b].id);
}

static void heap_set(cl_cluster_t *c, uint32_t i, uint32_t js)
{
    c->heap[i] = js;
    c->jobs[js].hpos = i;
}

static void sift_up(cl_cluster_t *c, uint32_t i)
{
    uint32_t js = c->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!cl__deadline_before(c, js, c->heap[p])) break;
        heap_set(c, i, c->heap[p]);
        i = p;
    }
    heap_set(c, i, js);
}

static void sift_down(cl_cluster_t *c, uint32_t i)
{
    uint32_t js = c->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        uint32_t best = js;
        if (l < c->nheap && cl__deadline_before(c, c->heap[l], best)) m = l, best = c->heap[l];
        if (l + 1 < c->nheap && cl__deadline_before(c, c->heap[l + 1], best))
            m = l + 1, best = c->heap[l + 1];
        if (m == i) break;
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, js);
}

void cl__heap_push(cl_cluster_t *c, uint32_t js)
{
    if (c->nheap == c->heap_cap) {
        c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 1024;
        c->heap = cl__xrealloc(c->heap, sizeof(uint32_t) * c->heap_cap);
    }
    heap_set(c, c->nheap++, js);
    sift_up(c, c->nheap - 1);
}

void cl__heap_remove(cl_cluster_t *c, uint32_t js)
{
    uint32_t i = c->jobs[js].hpos;
    CL_ASSERT(i < c->nheap && c->heap[i] == js);
    uint32_t last = c->heap[--c->nheap];
    c->jobs[js].hpos = NIL;
    if (i == c->nheap) return;
    heap_set(c, i, last);
    sift_up(c, i);
    sift_down(c, c->jobs[last].hpos);
}

/* ------------------------------------------------------------ life cycle */
void cl__job_running(cl_cluster_t *c, uint32_t js, cl_time_t now)
{
    job_t *j = &c->jobs[js];
    j->state = CL_JOB_RUNNING;
    j->start = now;
    j->incarnation++;
    cl__heap_push(c, js);
    cl__skey_add(c, j->name_key, 1);
    cl__skey_add(c, j->group_key, 1);
    cl__tenant_run(c, js, now, 1);
    cl__power_run(c, js, 1);
    c->nrunning++;
    if (j->preemptible) cl__rp_push(c, js);
}

/* Give back a running job's GPUs (its record stays). Refills spares of touched pods unless
 * the caller is about to place on the freed nodes (refill = 0). */
static void release(cl_cluster_t *c, uint32_t js, cl_time_t now, int refill)
{
    job_t *j = &c->jobs[js];
    CL_ASSERT(j->state == CL_JOB_RUNNING);
    cl__power_run(c, js, 0);
    uint32_t last_pod = NIL;
    for (uint32_t i = 0; i < j->nnodes; i++) {
        cl_nodeid_t id = j->alloc[i].node;
        cl__node_give(c, id, j->alloc[i].gpus);
        uint32_t pod = cl__topo_node_level(c->t, id, LV_POD);
        if (refill && pod != last_pod && c->spares[pod].nfree < c->spares[pod].target)
            cl__spare_refill(c, pod);
        last_pod = pod;
    }
    free(j->alloc);
    j->alloc = NULL;
    cl__heap_remove(c, js);
    cl__skey_add(c, j->name_key, -1);
    cl__skey_add(c, j->group_key, -1);
    cl__tenant_run(c, js, now, 0);
    c->nrunning--;
    if (j->preemptible) cl__rp_remove(c, js);
}

void cl__job_release(cl_cluster_t *c, uint32_t js, cl_time_t now)
{
    release(c, js, now, 1);
}

void cl__job_release_norefill(cl_cluster_t *c, uint32_t js, cl_time_t now)
{
    release(c, js, now, 0);
}

void cl__job_requeue(cl_cluster_t *c, uint32_t js, cl_time_t now)
{
    if (c->jobs[js].state == CL_JOB_RUNNING) cl__job_release(c, js, now);
    c->jobs[js].state = CL_JOB_PENDING;
    cl__queue_push(c, js, 1);
}

void cl__job_terminal(cl_cluster_t *c, uint32_t js, cl_job_state_t st, cl_time_t now)
{
    job_t *j = &c->jobs[js];
    if (j->state == CL_JOB_RUNNING)
        cl__job_release(c, js, now);
    else if (j->state == CL_JOB_PENDING)
        cl__queue_remove(c, js);
    j->state = (uint8_t)st;
    j->end = now;
    cl__deps_ended(c, js);
}

/* ------------------------------------------------------------ public API */

/* "can never run" when no node has k GPUs (homogeneous nodes: all or none do). */
static int never(const cl_cluster_t *c, uint32_t nn, uint32_t k, cl_error_t *err)
{
    cl__err(err, "can never run: needs %u node%s of %u GPUs, the cluster has %u", nn,
            nn == 1 ? "" : "s", k, k <= c->gpn ? c->t->nnodes : 0);
    return -1;
}

static int resolve_shape(const cl_cluster_t *c, const cl_job_spec_t *s, uint32_t *nn,
                         uint32_t *k, cl_error_t *err)
{
    uint32_t g = c->gpn;
    if (s->nodes) {
        *nn = s->nodes;
        *k = s->gpus_per_node ? s->gpus_per_node : g;
    } else if (s->gpus) {
        uint32_t per = s->gpus_per_node ? s->gpus_per_node : g;
        if (s->gpus <= per && !s->gpus_per_node) {
            *nn = 1;
            *k = s->gpus;
        } else if (s->gpus % per) {
            cl__err(err, "%u GPUs is not a whole number of nodes of %u GPUs", s->gpus, per);
            return -1;
        } else {
            *nn = s->gpus / per;
            *k = per;
        }
    } else {
        cl__err(err, "a job needs a number of nodes or GPUs");
        return -1;
    }
    if (*k > g || *nn > c->t->nnodes) return never(c, *nn, *k, err);
    return 0;
}

/* A job larger than its tenant could ever hold by quota and borrowing waits forever. */
static int quota_fits(const cl_cluster_t *c, const cl_job_spec_t *s, uint64_t g,
                      cl_error_t *err)
{
    uint64_t m = cl__quota_max(c, s->tenant);
    if (g <= m) return 0;
    cl__err(err,
            "the job needs %llu GPUs; tenant '%s' may hold at most %llu (its quota, and what "
            "it may borrow)",
            (unsigned long long)g, c->tn[s->tenant].name, (unsigned long long)m);
    return -1;
}

static uint32_t slot_new(cl_cluster_t *c)
{
    if (c->free_slot == NIL) {
        uint32_t old = c->njobs_cap, cap = old ? old * 2 : 1024;
        c->jobs = cl__xrealloc(c->jobs, sizeof(job_t) * cap);
        for (uint32_t i = old; i < cap; i++) {
            c->jobs[i].live = 0;
            c->jobs[i].qnext = i + 1 < cap ? i + 1 : NIL;
        }
        c->free_slot = old;
        c->njobs_cap = cap;
    }
    uint32_t s = c->free_slot;
    c->free_slot = c->jobs[s].qnext;
    return s;
}

static int submit(cl_cluster_t *c, const cl_job_spec_t *s, cl_jobid_t id, cl_time_t now,
                  int check_quota, cl_error_t *err)
{
    uint32_t nn, k;
    if (id == 0 || id > UINT32_MAX) {
        cl__err(err, "job id %llu out of range", (unsigned long long)id);
        return -1;
    }
    if (cl__job(c, id)) {
        cl__err(err, "job id %llu is in use", (unsigned long long)id);
        return -1;
    }
    if (s->tenant >= c->ntn) {
        cl__err(err, "unknown tenant %u", s->tenant);
        return -1;
    }
    if (!(s->time_limit_s >= 0) || s->time_limit_s > 1e12) {
        cl__err(err, "time limit must be 0 (none) or a positive number of seconds");
        return -1;
    }
    if (s->power_w != 0 &&
        !(s->power_w >= c->pw.conf.gpu_min_w && s->power_w <= c->pw.conf.gpu_max_w)) {
        cl__err(err, "projected power %g W per GPU must be within the GPUs' limits %g..%g W",
                s->power_w, c->pw.conf.gpu_min_w, c->pw.conf.gpu_max_w);
        return -1;
    }
    if (resolve_shape(c, s, &nn, &k, err) < 0) return -1;
    if (check_quota && quota_fits(c, s, (uint64_t)nn * k, err) < 0) return -1;
    if (check_quota && cl__res_never(c, s, k, err) < 0) return -1;
    if (cl__deps_check(c, s, err) < 0) return -1;
    if (s->user && cl__user_slot(c, s->user, err) < 0) return -1;
    struct jcons *cons;
    if (cl__cons_make(c, s, nn, &cons, err) < 0) return -1;
    if (id >= c->id_cap) {
        uint64_t cap = c->id_cap ? c->id_cap : 1024;
        while (cap <= id)
            cap *= 2;
        c->id2slot = cl__xrealloc(c->id2slot, sizeof(uint32_t) * cap);
        memset(c->id2slot + c->id_cap, 0, sizeof(uint32_t) * (cap - c->id_cap));
        c->id_cap = cap;
    }
    uint32_t js = slot_new(c);
    job_t *j = &c->jobs[js];
    memset(j, 0, sizeof(*j));
    j->id = id;
    j->seq = c->seq++;
    j->tenant = s->tenant;
    j->user = s->user;
    j->prio = s->priority;
    j->nnodes = nn;
    j->k = k;
    j->limit = s->time_limit_s;
    j->max_sw = s->max_switches;
    j->max_restarts = s->max_restarts;
    j->preemptible = s->preemptible;
    j->power_w = (float)s->power_w;
    j->cpg = s->cpus_per_gpu;
    j->mpg = s->mem_per_gpu_mb;
    j->state = CL_JOB_PENDING;
    j->live = 1;
    j->submit = now;
    j->hpos = NIL;
    c->id2slot[id] = js + 1;
    if (id >= c->next_id) c->next_id = id + 1;
    j->cons = cons;
    j->excl = s->exclusive;
    cl__queue_push(c, js, 0);
    cl__pend(c, j, c->usable[cl__job_need(c, j) - 1] < nn ? CL_PEND_NODES : CL_PEND_NEW);
    cl__deps_attach(c, js, s);
    return 0;
}

int cl_job_submit_id(cl_cluster_t *c, const cl_job_spec_t *s, cl_jobid_t id, cl_time_t now,
                     cl_error_t *err)
{
    return submit(c, s, id, now, 0, err);
}

int cl_job_submit(cl_cluster_t *c, const cl_job_spec_t *s, cl_time_t now, cl_jobid_t *out,
                  cl_error_t *err)
{
    cl_jobid_t id = c->next_id;
    if (submit(c, s, id, now, 1, err) < 0) return -1;
    if (out) *out = id;
    return 0;
}

cl_jobid_t cl_job_next_id(const cl_cluster_t *c)
{
    return c->next_id;
}

void cl_job_set_next_id(cl_cluster_t *c, cl_jobid_t next)
{
    if (next > c->next_id) c->next_id = next;
}

static job_t *running_job(cl_cluster_t *c, cl_jobid_t id, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j) {
        cl__err(err, "no job %llu", (unsigned long long)id);
        return NULL;
    }
    if (j->state != CL_JOB_RUNNING) {
        cl__err(err, "job %llu is %s, not running", (unsigned long long)id,
                cl_job_state_name(j->state));
        return NULL;
    }
    return j;
}

int cl_job_finish(cl_cluster_t *c, cl_jobid_t id, bool success, cl_time_t now, cl_error_t *err)
{
    job_t *j = running_job(c, id, err);
    if (!j) return -1;
    cl__job_terminal(c, (uint32_t)(j - c->jobs), success ? CL_JOB_SUCCEEDED : CL_JOB_FAILED,
                     now);
    return 0;
}

int cl_job_cancel(cl_cluster_t *c, cl_jobid_t id, cl_time_t now, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j) {
        cl__err(err, "no job %llu", (unsigned long long)id);
        return -1;
    }
    if (j->state != CL_JOB_PENDING && j->state != CL_JOB_RUNNING) {
        cl__err(err, "job %llu already ended (%s)", (unsigned long long)id,
                cl_job_state_name(j->state));
        return -1;
    }
    cl__job_terminal(c, (uint32_t)(j - c->jobs), CL_JOB_CANCELLED, now);
    return 0;
}

int cl_job_forget(cl_cluster_t *c, cl_jobid_t id)
{
    job_t *j = cl__job(c, id);
    if (!j || j->state == CL_JOB_PENDING || j->state == CL_JOB_RUNNING) return -1;
    uint32_t js = (uint32_t)(j - c->jobs);
    cl__deps_free(j);
    cl__cons_free(j);
    c->id2slot[id] = 0;
    j->live = 0;
    j->qnext = c->free_slot;
    c->free_slot = js;
    return 0;
}

int cl_job_get(const cl_cluster_t *c, cl_jobid_t id, cl_job_info_t *o)
{
    const job_t *j = cl__job((cl_cluster_t *)c, id);
    if (!j) return -1;
    *o = (cl_job_info_t){.id = j->id,
                         .state = j->state,
                         .tenant = j->tenant,
                         .priority = j->prio,
                         .preemptible = j->preemptible,
                         .nodes = j->nnodes,
                         .gpus_per_node = j->k,
                         .time_limit_s = j->limit,
                         .max_switches = j->max_sw,
                         .max_restarts = j->max_restarts,
                         .restarts = j->restarts,
                         .incarnation = j->incarnation,
                         .preemptions = j->preemptions,
                         .user = j->user,
                         .submit_time = j->submit,
                         .start_time = j->start,
                         .end_time = j->end,
                         .power_w = cl__power_job_w(c, j),
                         .power_measured_w = j->measured_w,
                         .held = j->held,
                         .deps_waiting = cl__deps_waiting(j),
                         .cpus_per_gpu = j->cpg,
                         .mem_per_gpu_mb = j->mpg,
                         .dep_never = cl__deps_never(j)};
    cl__cons_info(j, o);
    return 0;
}

const cl_alloc_t *cl_job_alloc(const cl_cluster_t *c, cl_jobid_t id, size_t *n)
{
    const job_t *j = cl__job((cl_cluster_t *)c, id);
    if (!j || j->state != CL_JOB_RUNNING) {
        *n = 0;
        return NULL;
    }
    *n = j->nnodes;
    return j->alloc;
}

/* Walk the heap below entries already past due (the heap order prunes the rest). */
size_t cl_jobs_expired(const cl_cluster_t *c, cl_time_t now, cl_jobid_t *out, size_t max)
{
    size_t n = 0;
    uint32_t sp = 0, *stack = cl__xmalloc(sizeof(uint32_t) * (max + 2));
    if (c->nheap && max) stack[sp++] = 0;
    while (sp && n < max) {
        uint32_t i = stack[--sp];
        const job_t *j = &c->jobs[c->heap[i]];
        if (cl__deadline(j) > now) continue;
        out[n++] = c->heap[i]; /* slots while sorting, ids after */
        /* each entry taken pushes at most two: the stack never exceeds max + 2 */
        for (uint32_t ch = 2 * i + 1; ch <= 2 * i + 2 && ch < c->nheap; ch++)
            stack[sp++] = ch;
    }
    free(stack);
    for (size_t i = 1; i < n; i++) /* insertion sort: expiries are few at a time */
        for (size_t m = i;
             m > 0 && cl__deadline_before(c, (uint32_t)out[m], (uint32_t)out[m - 1]); m--) {
            cl_jobid_t tmp = out[m];
            out[m] = out[m - 1];
            out[m - 1] = tmp;
        }
    for (size_t i = 0; i < n; i++)
        out[i] = c->jobs[out[i]].id;
    return n;
}

cl_jobid_t cl_jobs_next(const cl_cluster_t *c, cl_jobid_t after)
{
    for (cl_jobid_t id = after + 1; id < c->id_cap && id < c->next_id; id++)
        if (c->id2slot[id]) return id;
    return 0;
}

int cl_job_start_on(cl_cluster_t *c, cl_jobid_t id, const cl_nodeid_t *nodes, size_t n,
                    uint32_t incarnation, cl_time_t now, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j || j->state != CL_JOB_PENDING) {
        cl__err(err, "job %llu is not pending", (unsigned long long)id);
        return -1;
    }
    if (n != j->nnodes) {
        cl__err(err, "job %llu needs %u nodes, %zu given", (unsigned long long)id, j->nnodes,
                n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (nodes[i] >= c->t->nnodes) {
            cl__err(err, "no node %u", nodes[i]);
            return -1;
        }
        const node_t *nd = &c->nodes[nodes[i]];
        if (nd->health != H_UP || cl__popc(cl__node_free(c, nd)) < j->k) {
            cl__err(err, "node %s cannot hold job %llu", cl_topo_node_name(c->t, nodes[i]),
                    (unsigned long long)id);
            return -1;
        }
        for (size_t m = 0; m < i; m++)
            if (nodes[m] == nodes[i]) {
                cl__err(err, "node %s given twice", cl_topo_node_name(c->t, nodes[i]));
                return -1;
            }
    }
    uint32_t js = (uint32_t)(j - c->jobs);
    c->nsel = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->nodes[nodes[i]].spare) {
            cl__spare_unlink(c, nodes[i]);
            cl__node_update(c, nodes[i]);
        }
        if (c->nsel == c->sel_cap) {
            c->sel_cap = c->sel_cap ? c->sel_cap * 2 : 1024;
            c->sel = cl__xrealloc(c->sel, sizeof(uint32_t) * c->sel_cap);
        }
        c->sel[c->nsel++] = nodes[i];
    }
    cl__queue_remove(c, js);
    cl__commit(c, js);
    cl__job_running(c, js, now);
    j->incarnation = incarnation;
    return 0;
}

const char *cl_job_state_name(cl_job_state_t s)
{
    static const char *n[] = {"pending", "running", "succeeded", "failed", "cancelled"};
    return (unsigned)s < 5 ? n[s] : "unknown";
}

int cl_job_pending(const cl_cluster_t *c, cl_jobid_t id, cl_pending_t *o)
{
    const job_t *j = cl__job((cl_cluster_t *)c, id);
    if (!j) return -1;
    *o = (cl_pending_t){CL_PEND_NONE, 0, 0};
    if (j->state != CL_JOB_PENDING) return 0;
    o->why = j->pend_pass == c->npass ? (cl_pend_t)j->pend_why : CL_PEND_PRIORITY;
    if (o->why == CL_PEND_RESERVED || o->why == CL_PEND_HELD) {
        o->job = c->resv_job;
        o->until = c->resv_shadow;
    }
    if (o->why == CL_PEND_RESV) o->job = cl__resv_blocking(c, j);
    return 0;
}

const char *cl_pend_name(cl_pend_t w)
{
    static const char *n[] = {"not pending",
                              "waiting for the scheduler's next pass",
                              "higher-priority jobs go first",
                              "not enough free GPUs",
                              "holds the reservation",
                              "held for another job's reservation",
                              "tenant quota reached",
                              "tenant budget spent",
                              "QOS limit on running jobs reached",
                              "the nodes it needs are drained, in maintenance or down",
                              "its projected power does not fit the power budget",
                              "held (a release lets it start)",
                              "waiting for its dependencies",
                              "its array runs as many tasks as its limit allows",
                              "free GPUs are not on nodes its nodelist, exclude or exclusive "
                              "allow",
                              "the nodes it could use are reserved",
                              "not enough free CPUs or memory where its GPUs are free"};
    return (unsigned)w < sizeof(n) / sizeof(n[0]) ? n[w] : "unknown";
}

const char *cl_action_name(cl_action_t a)
{
    static const char *n[] = {"start", "preempt", "restart", "requeue", "fail", "dep_never"};
    return (unsigned)a < 6 ? n[a] : "unknown";
}
