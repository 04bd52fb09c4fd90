/* fault.c - the fault-injecting store: another store behind it, its commits failed, delayed or
 * held on cue (fault.h). The controls run on any thread (a test's) while a commit runs on
 * another (the committer's worker); everything they share is under mu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "store/fault.h"
#include "util/util.h"

typedef struct fault_store {
    cl_store_t base;
    cl_store_t *inner;
    uv_mutex_t mu;
    uv_cond_t cv; /* hold released, a commit entered */
    /* under mu */
    bool hold;
    uint32_t delay_ms;
    uint64_t fail_from; /* commit number (1-based, in entry order) from which to fail */
    uint32_t fail_left; /* UINT32_MAX: no end */
    char why[128];
    uint64_t entered, written;
} fault_store_t;

static const cl_store_ops_t fault_ops;

static fault_store_t *fs(cl_store_t *s)
{
    if (s->ops != &fault_ops) { /* a control given a plain store: the test is wrong */
        fprintf(stderr, "store: a fault control called on a '%s' store\n", s->ops->name);
        abort();
    }
    return (fault_store_t *)s;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int fault_commit(cl_store_t *bs, const cl_store_batch_t *b, cl_error_t *err)
{
    fault_store_t *f = (fault_store_t *)bs;
    uv_mutex_lock(&f->mu);
    uint64_t n = ++f->entered;
    uv_cond_broadcast(&f->cv);
    while (f->hold)
        uv_cond_wait(&f->cv, &f->mu);
    uint32_t delay = f->delay_ms;
    bool fail = f->fail_left && n >= f->fail_from;
    if (fail && f->fail_left != UINT32_MAX) f->fail_left--;
    char why[sizeof f->why];
    memcpy(why, f->why, sizeof why);
    uv_mutex_unlock(&f->mu);
    if (delay) sleep_ms(delay);
    if (fail) return cl_err(err, "store: injected fault: %s", why);
    cl_store_t *in = f->inner;
    uint64_t pj = in->pruned_jobs, pu = in->pruned_usage, pa = in->pruned_audit;
    if (cl_store_commit(in, b, err) < 0) {
        bs->broken = in->broken; /* what the inner store says of itself holds */
        return -1;
    }
    bs->pruned_jobs += in->pruned_jobs - pj; /* so does what its prune did */
    bs->pruned_usage += in->pruned_usage - pu;
    bs->pruned_audit += in->pruned_audit - pa;
    bs->prune_more = in->prune_more;
    uv_mutex_lock(&f->mu);
    f->written++;
    uv_mutex_unlock(&f->mu);
    return 0;
}

static cl_store_t *inner(cl_store_t *s)
{
    return ((fault_store_t *)s)->inner;
}

static int fault_load(cl_store_t *s, double finished_since, cl_store_job_f *jf,
                      cl_store_node_f *nf, void *arg, cl_error_t *err)
{
    return cl_store_load(inner(s), finished_since, jf, nf, arg, err);
}

static int fault_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg,
                         cl_error_t *err)
{
    return cl_store_job_get(inner(s), id, jf, arg, err);
}

static int fault_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err)
{
    return cl_store_meta_get(inner(s), k, v, err);
}

static int fault_job_id_max(cl_store_t *s, uint64_t *id, cl_error_t *err)
{
    return cl_store_job_id_max(inner(s), id, err);
}

static int fault_objs_load(cl_store_t *s, const char *kind, cl_store_obj_f *f, void *arg,
                           cl_error_t *err)
{
    return cl_store_objs_load(inner(s), kind, f, arg, err);
}

static int fault_history(cl_store_t *s, const cl_store_history_q_t *q, cl_store_usage_f *f,
                         void *arg, cl_error_t *err)
{
    return cl_store_history_query(inner(s), q, f, arg, err);
}

static int fault_usage(cl_store_t *s, const cl_store_usage_q_t *q, cl_store_sum_f *f, void *arg,
                       cl_error_t *err)
{
    return cl_store_usage_query(inner(s), q, f, arg, err);
}

static int fault_audit(cl_store_t *s, const cl_store_audit_q_t *q, cl_store_audit_f *f,
                       void *arg, cl_error_t *err)
{
    return cl_store_audit_query(inner(s), q, f, arg, err);
}

static int fault_lead(cl_store_t *s, const char *who, cl_store_wait_f *waiting, void *arg,
                      cl_error_t *err)
{
    return cl_store_lead(inner(s), who, waiting, arg, err);
}

static bool fault_lost(cl_store_t *s, char *why, size_t len)
{
    return cl_store_lost(inner(s), why, len);
}

static void fault_close(cl_store_t *s)
{
    fault_store_t *f = (fault_store_t *)s;
    cl_store_close(f->inner);
    uv_cond_destroy(&f->cv);
    uv_mutex_destroy(&f->mu);
    free(f);
}

static const cl_store_ops_t fault_ops = {
    .name = "fault",
    .commit = fault_commit,
    .load = fault_load,
    .job_get = fault_job_get,
    .job_id_max = fault_job_id_max,
    .meta_get = fault_meta_get,
    .objs_load = fault_objs_load,
    .history = fault_history,
    .usage = fault_usage,
    .audit = fault_audit,
    .close = fault_close,
    .lead = fault_lead,
    .lost = fault_lost,
};

cl_store_t *cl_store_fault_wrap(cl_store_t *inner)
{
    fault_store_t *f = cl_xcalloc(1, sizeof *f);
    f->base.ops = &fault_ops;
    f->inner = inner;
    /* Linux's mutex and condition variable initialisers cannot fail; libuv aborts if they do */
    uv_mutex_init(&f->mu);
    uv_cond_init(&f->cv);
    return &f->base;
}

void cl_store_fault_fail(cl_store_t *s, uint32_t k, uint32_t count, const char *why)
{
    fault_store_t *f = fs(s);
    uv_mutex_lock(&f->mu);
    f->fail_from = f->entered + (k ? k : 1);
    f->fail_left = count;
    snprintf(f->why, sizeof f->why, "%s", why ? why : "as the test asks");
    uv_mutex_unlock(&f->mu);
}

void cl_store_fault_delay(cl_store_t *s, uint32_t ms)
{
    fault_store_t *f = fs(s);
    uv_mutex_lock(&f->mu);
    f->delay_ms = ms;
    uv_mutex_unlock(&f->mu);
}

static void set_hold(cl_store_t *s, bool hold)
{
    fault_store_t *f = fs(s);
    uv_mutex_lock(&f->mu);
    f->hold = hold;
    uv_cond_broadcast(&f->cv);
    uv_mutex_unlock(&f->mu);
}

void cl_store_fault_hold(cl_store_t *s)
{
    set_hold(s, true);
}

void cl_store_fault_release(cl_store_t *s)
{
    set_hold(s, false);
}

static uint64_t counter(cl_store_t *s, bool written)
{
    fault_store_t *f = fs(s);
    uv_mutex_lock(&f->mu);
    uint64_t v = written ? f->written : f->entered;
    uv_mutex_unlock(&f->mu);
    return v;
}

uint64_t cl_store_fault_entered(cl_store_t *s)
{
    return counter(s, false);
}

uint64_t cl_store_fault_written(cl_store_t *s)
{
    return counter(s, true);
}

int cl_store_fault_wait_entered(cl_store_t *s, uint64_t n, int timeout_ms)
{
    fault_store_t *f = fs(s);
    double deadline = cl_now_ms() + timeout_ms;
    int rc = 0;
    uv_mutex_lock(&f->mu);
    while (f->entered < n) {
        double left = deadline - cl_now_ms();
        if (left <= 0) {
            rc = -1;
            break;
        }
        uv_cond_timedwait(&f->cv, &f->mu, (uint64_t)(left * 1e6));
    }
    uv_mutex_unlock(&f->mu);
    return rc;
}
