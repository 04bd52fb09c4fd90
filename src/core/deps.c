/* deps.c - what else may keep a pending job from starting: its hold, its dependencies
 * (Slurm's afterok, afterany, afternotok, resolved when the job waited for ends, so that a
 * pass checks each job in O(1)) and singleton (no other running job of its user and name) and
 * its array's limit of running tasks; and requeue of a running or finished job. */
#include <string.h>

#include "core/internal.h"

typedef struct jdep {
    cl_jobid_t job;
    uint8_t type, done;
} jdep_t;

/* Made only for a job with dependencies or dependents: most jobs have none. */
typedef struct jdeps {
    uint32_t n, wait;  /* its dependencies; those not yet satisfied */
    cl_jobid_t never;  /* one that can never be satisfied; 0: none */
    jdep_t *e;         /* [n] */
    cl_jobid_t *after; /* ids of jobs waiting for this one (ids never repeat: a stale one
                          is found by lookup) */
    uint32_t nafter, cap_after;
} jdeps_t;

static jdeps_t *deps_of(job_t *j)
{
    if (!j->deps) j->deps = cl__xcalloc(1, sizeof(jdeps_t));
    return j->deps;
}

void cl__deps_free(job_t *j)
{
    if (!j->deps) return;
    free(j->deps->e);
    free(j->deps->after);
    free(j->deps);
    j->deps = NULL;
}

void cl__deps_destroy(cl_cluster_t *c)
{
    for (uint32_t i = 0; i < c->njobs_cap; i++)
        if (c->jobs[i].live) cl__deps_free(&c->jobs[i]);
    free(c->dead);
    free(c->skey);
    free(c->scnt);
}

/* Whether a dependency of this type is satisfied by a job that ended in state st. */
static int satisfied(uint8_t type, cl_job_state_t st)
{
    switch (type) {
    case CL_DEP_AFTEROK:
        return st == CL_JOB_SUCCEEDED;
    case CL_DEP_AFTERNOTOK:
        return st != CL_JOB_SUCCEEDED;
    default: /* CL_DEP_AFTERANY */
        return 1;
    }
}

int cl__deps_check(const cl_cluster_t *c, const cl_job_spec_t *s, cl_error_t *err)
{
    if (s->ndeps && !s->deps) {
        cl__err(err, "%u dependencies given without their list", s->ndeps);
        return -1;
    }
    for (uint32_t i = 0; i < s->ndeps; i++) {
        const cl_dep_t *d = &s->deps[i];
        if (d->type < CL_DEP_AFTEROK || d->type > CL_DEP_AFTERNOTOK) {
            cl__err(err, "unknown dependency type %d", (int)d->type);
            return -1;
        }
        if (!cl__job((cl_cluster_t *)c, d->job) && !cl_job_finished(d->ended)) {
            cl__err(err, "dependency on job %llu: no such job", (unsigned long long)d->job);
            return -1;
        }
    }
    if (s->group_max && !s->group_key) {
        cl__err(err, "an array limit needs an array key");
        return -1;
    }
    if (s->singleton && !s->name_key) {
        cl__err(err, "a singleton job needs a name key");
        return -1;
    }
    return 0;
}

static void mark_never(cl_cluster_t *c, job_t *j, cl_jobid_t on)
{
    if (j->deps->never) return; /* already listed */
    j->deps->never = on;
    if (c->ndead == c->dead_cap) {
        c->dead_cap = c->dead_cap ? c->dead_cap * 2 : 16;
        c->dead = cl__xrealloc(c->dead, sizeof(cl_jobid_t) * c->dead_cap);
    }
    c->dead[c->ndead++] = j->id;
}

/* Entry e of j is decided by its job's end in state st. */
static void resolve(cl_cluster_t *c, job_t *j, jdep_t *e, cl_job_state_t st)
{
    e->done = 1;
    if (satisfied(e->type, st))
        j->deps->wait--;
    else
        mark_never(c, j, e->job);
}

void cl__deps_attach(cl_cluster_t *c, uint32_t js, const cl_job_spec_t *s)
{
    job_t *j = &c->jobs[js];
    j->held = s->hold;
    j->singleton = s->singleton;
    j->name_key = s->name_key;
    j->group_key = s->group_max ? s->group_key : 0;
    j->group_max = s->group_max;
    if (!s->ndeps) return;
    jdeps_t *x = deps_of(j);
    x->e = cl__xcalloc(s->ndeps, sizeof(jdep_t));
    x->n = x->wait = s->ndeps;
    for (uint32_t i = 0; i < s->ndeps; i++) {
        const cl_dep_t *d = &s->deps[i];
        jdep_t *e = &x->e[i];
        e->job = d->job;
        e->type = (uint8_t)d->type;
        job_t *on = cl__job(c, d->job);
        if (!on) {
            resolve(c, j, e, d->ended);
        } else if (cl_job_finished(on->state)) {
            resolve(c, j, e, on->state);
        } else {
            jdeps_t *o = deps_of(on);
            if (o->nafter == o->cap_after) {
                o->cap_after = o->cap_after ? o->cap_after * 2 : 4;
                o->after = cl__xrealloc(o->after, sizeof(cl_jobid_t) * o->cap_after);
            }
            o->after[o->nafter++] = j->id;
        }
    }
}

void cl__deps_ended(cl_cluster_t *c, uint32_t js)
{
    job_t *j = &c->jobs[js];
    jdeps_t *x = j->deps;
    if (!x || !x->nafter) return;
    for (uint32_t i = 0; i < x->nafter; i++) {
        job_t *w = cl__job(c, x->after[i]);
        if (!w || w->state != CL_JOB_PENDING || !w->deps) continue;
        for (uint32_t k = 0; k < w->deps->n; k++) {
            jdep_t *e = &w->deps->e[k];
            if (e->job == j->id && !e->done) resolve(c, w, e, (cl_job_state_t)j->state);
        }
    }
    free(x->after); /* decided: a requeue of this job does not undo them */
    x->after = NULL;
    x->nafter = x->cap_after = 0;
}

/* ---------------------------------------------------- running jobs by name key */
static uint32_t skey_slot(const cl_cluster_t *c, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    uint32_t i = (uint32_t)(h >> 32) & c->smask;
    while (c->scnt[i] && c->skey[i] != key)
        i = (i + 1) & c->smask;
    return i;
}

static void skey_grow(cl_cluster_t *c)
{
    uint32_t old = c->smask ? c->smask + 1 : 0, cap = old ? old * 2 : 64;
    uint64_t *ok = c->skey;
    uint32_t *oc = c->scnt;
    c->skey = cl__xcalloc(cap, sizeof(uint64_t));
    c->scnt = cl__xcalloc(cap, sizeof(uint32_t));
    c->smask = cap - 1;
    for (uint32_t i = 0; i < old; i++)
        if (oc[i]) {
            uint32_t s = skey_slot(c, ok[i]);
            c->skey[s] = ok[i];
            c->scnt[s] = oc[i];
        }
    free(ok);
    free(oc);
}

static uint32_t skey_running(const cl_cluster_t *c, uint64_t key)
{
    if (!c->smask) return 0;
    return c->scnt[skey_slot(c, key)];
}

void cl__skey_add(cl_cluster_t *c, uint64_t key, int d)
{
    if (!key) return;
    if (d > 0 && (c->sused + 1) * 2 > (c->smask ? c->smask + 1 : 0)) skey_grow(c);
    uint32_t i = skey_slot(c, key);
    if (d > 0) {
        if (!c->scnt[i]++) {
            c->skey[i] = key;
            c->sused++;
        }
        return;
    }
    CL_ASSERT(c->scnt[i] > 0);
    if (--c->scnt[i]) return;
    c->sused--;
    /* backward-shift deletion: no tombstones, probes stay short */
    for (uint32_t j = (i + 1) & c->smask; c->scnt[j]; j = (j + 1) & c->smask) {
        uint32_t home = (uint32_t)((c->skey[j] * 0x9e3779b97f4a7c15ull) >> 32) & c->smask;
        if (((j - home) & c->smask) >= ((j - i) & c->smask)) {
            c->skey[i] = c->skey[j];
            c->scnt[i] = c->scnt[j];
            c->scnt[j] = 0;
            i = j;
        }
    }
}

/* ------------------------------------------------------------ the pass */
cl_pend_t cl__deps_block(const cl_cluster_t *c, const job_t *j)
{
    if (j->held) return CL_PEND_HOLD;
    if (j->deps && (j->deps->wait || j->deps->never)) return CL_PEND_DEPENDENCY;
    if (j->singleton && skey_running(c, j->name_key)) return CL_PEND_DEPENDENCY;
    if (j->group_max && skey_running(c, j->group_key) >= j->group_max) return CL_PEND_ARRAY;
    return CL_PEND_NONE;
}

void cl__deps_dead(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out)
{
    /* a cancel here may list more (its own dependents): the list grows as it is walked */
    for (uint32_t i = 0; i < c->ndead; i++) {
        job_t *j = cl__job(c, c->dead[i]);
        if (!j || j->state != CL_JOB_PENDING || !j->deps || !j->deps->never) continue;
        cl__job_terminal(c, (uint32_t)(j - c->jobs), CL_JOB_CANCELLED, now);
        cl__decide(out, j, CL_ACT_DEP_NEVER, CL_NO_NODE, CL_NO_NODE);
    }
    c->ndead = 0;
}

/* ------------------------------------------------------------ public API */
int cl_job_hold(cl_cluster_t *c, cl_jobid_t id, bool hold, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j) {
        cl__err(err, "no job %llu", (unsigned long long)id);
        return -1;
    }
    if (j->state != CL_JOB_PENDING) {
        cl__err(err, "job %llu is %s: only a pending job can be %s", (unsigned long long)id,
                cl_job_state_name(j->state), hold ? "held" : "released");
        return -1;
    }
    if (!hold && !j->held) {
        cl__err(err, "job %llu is not held", (unsigned long long)id);
        return -1;
    }
    j->held = hold;
    return 0;
}

int cl_job_requeue(cl_cluster_t *c, cl_jobid_t id, bool hold, cl_time_t now, cl_error_t *err)
{
    job_t *j = cl__job(c, id);
    if (!j) {
        cl__err(err, "no job %llu", (unsigned long long)id);
        return -1;
    }
    if (j->state == CL_JOB_PENDING) {
        cl__err(err, "job %llu is pending already", (unsigned long long)id);
        return -1;
    }
    if (j->deps && j->deps->never) {
        cl__err(err, "job %llu: its dependency on job %llu can never be satisfied",
                (unsigned long long)id, (unsigned long long)j->deps->never);
        return -1;
    }
    uint32_t js = (uint32_t)(j - c->jobs);
    if (j->state == CL_JOB_RUNNING) {
        cl__job_requeue(c, js, now);
    } else {
        j->state = CL_JOB_PENDING;
        j->end = 0;
        cl__queue_push(c, js, 0);
    }
    j->held = hold;
    cl__pend(c, j, CL_PEND_NEW);
    return 0;
}

cl_jobid_t cl__deps_never(const job_t *j)
{
    return j->deps ? j->deps->never : 0;
}

uint32_t cl__deps_waiting(const job_t *j)
{
    return j->deps ? j->deps->wait : 0;
}
