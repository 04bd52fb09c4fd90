/* test_core_quota.c - tenants' configuration, nominal quotas, cohorts (borrowing, lending,
 * reclaim), budgets, per-user running limits and the half-life guard, one rule a test. */
#include <math.h>
#include <stdio.h>

#include "core_helpers.h"

/* A job of `gpus` GPUs on one node (gpus <= the node's) or of whole nodes. */
static cl_jobid_t job(cl_cluster_t *c, int tenant, uint32_t nodes, uint32_t gpn, bool pre,
                      double now)
{
    cl_job_spec_t s = {.nodes = nodes,
                       .gpus_per_node = gpn,
                       .tenant = (uint32_t)tenant,
                       .preemptible = pre,
                       .max_restarts = 3};
    cl_jobid_t id;
    cl_error_t err;
    if (cl_job_submit(c, &s, now, &id, &err) < 0) fail_msg("submit: %s", err.msg);
    return id;
}

static cl_pend_t why(cl_cluster_t *c, cl_jobid_t id)
{
    cl_pending_t p;
    assert_int_equal(cl_job_pending(c, id, &p), 0);
    return p.why;
}

static int tenant(cl_cluster_t *c, const char *name, uint64_t quota, uint32_t cohort)
{
    int t = cl_tenant_add(c, name, 1, NULL);
    assert_true(t > 0);
    cl_tenant_conf_t f;
    cl_tenant_conf_default(&f);
    f.quota_gpus = quota;
    f.cohort = cohort;
    cl_error_t err;
    if (cl_tenant_set(c, (uint32_t)t, &f, &err) < 0) fail_msg("set: %s", err.msg);
    return t;
}

static void set_conf(cl_cluster_t *c, int t, const cl_tenant_conf_t *f)
{
    cl_error_t err;
    if (cl_tenant_set(c, (uint32_t)t, f, &err) < 0) fail_msg("set: %s", err.msg);
}

static uint64_t gpus_of(cl_cluster_t *c, int t)
{
    cl_tenant_state_t st;
    assert_int_equal(cl_tenant_state(c, (uint32_t)t, 0, &st), 0);
    return st.gpus_running;
}

static size_t count(const cl_decisions_t *d, cl_action_t a)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->v[i].action == a;
    return n;
}

/* Every refusal names the rule and changes nothing. */
static void conf_validation(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_tenant_conf_t f, g, d;
    cl_tenant_conf_default(&d);
    assert_true(d.shares == 1 && d.parent == -1 && d.quota_gpus == CL_UNLIMITED &&
                d.cohort == 0 && d.borrow_limit == CL_UNLIMITED &&
                d.lend_limit == CL_UNLIMITED && d.budget_gpu_s == 0 && !d.budget_stop);
    int p = cl_tenant_add(c, "p", 2, NULL), s = cl_tenant_add(c, "s", 1, NULL),
        q = cl_tenant_add(c, "q", 1, NULL);
    assert_int_equal(cl_tenant_get(c, (uint32_t)p, &f), 0);
    assert_true(f.shares == 2 && f.parent == -1 && f.quota_gpus == CL_UNLIMITED);
    f.quota_gpus = 16;
    set_conf(c, p, &f);
    cl_tenant_conf_default(&f);
    f.parent = p;
    f.quota_gpus = 8;
    set_conf(c, s, &f);
    cl_error_t err;
#define REFUSED(tt, want)                                                                      \
    do {                                                                                       \
        cl_tenant_conf_t before;                                                               \
        cl_tenant_get(c, (uint32_t)(tt), &before);                                             \
        assert_int_equal(cl_tenant_set(c, (uint32_t)(tt), &g, &err), -1);                      \
        if (!strstr(err.msg, want)) fail_msg("'%s' lacks '%s'", err.msg, want);                \
        cl_tenant_conf_t after;                                                                \
        cl_tenant_get(c, (uint32_t)(tt), &after);                                              \
        assert_memory_equal(&before, &after, sizeof(before));                                  \
    } while (0)
    cl_tenant_conf_default(&g);
    g.parent = q;
    REFUSED(q, "cannot be its own parent");
    g.parent = s;
    REFUSED(q, "is itself a sub-tenant");
    g.parent = q;
    REFUSED(p, "has sub-tenants");
    g.parent = p;
    g.cohort = 3;
    REFUSED(q, "lends and borrows through its parent 'p'");
    g.cohort = 0;
    g.borrow_limit = 4;
    REFUSED(q, "lends and borrows through its parent");
    g.borrow_limit = CL_UNLIMITED;
    g.quota_gpus = 17;
    REFUSED(q, "above its parent 'p''s 16");
    cl_tenant_get(c, (uint32_t)p, &g);
    g.quota_gpus = 4;
    REFUSED(p, "sub-tenant 's' has a quota of 8 GPUs, above 4");
    cl_tenant_conf_default(&g);
    g.cohort = 1;
    REFUSED(q, "a cohort member needs a quota");
    cl_tenant_conf_default(&g);
    g.shares = 0;
    REFUSED(q, "shares must be a positive number");
    cl_tenant_conf_default(&g);
    g.quota_gpus = 1ull << 50;
    REFUSED(q, "at most");
    cl_tenant_conf_default(&g);
    g.budget_gpu_s = -1;
    REFUSED(q, "budget must be 0");
    g.budget_gpu_s = NAN;
    REFUSED(q, "budget must be 0");
    cl_tenant_conf_default(&g);
    g.parent = 99;
    REFUSED(q, "no parent tenant 99");
    assert_int_equal(cl_tenant_set(c, 77, &g, &err), -1);
    assert_non_null(strstr(err.msg, "no tenant 77"));
    /* a parent cannot change while the tenant runs jobs */
    cl_decisions_t dd = {0};
    job(c, q, 1, 8, false, 0);
    cl_schedule(c, 0, &dd);
    cl_tenant_conf_default(&g);
    g.parent = p;
    REFUSED(q, "its parent can change only while it runs none");
    checked(c);
    cl_decisions_free(&dd);
    cl_cluster_destroy(c);
}

/* Without a cohort a tenant never exceeds its quota; too big a job is refused at submit. */
static void quota_alone(void **st)
{
    cl_cluster_t *c = mk(8, 8, 1, 8, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 16, 0);
    cl_decisions_t d = {0};
    cl_jobid_t j1 = job(c, a, 1, 8, false, 0), j2 = job(c, a, 1, 8, false, 0),
               j3 = job(c, a, 1, 8, false, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, j1), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, j2), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, j3), CL_JOB_PENDING);
    assert_int_equal(why(c, j3), CL_PEND_QUOTA);
    assert_int_equal(gpus_of(c, a), 16);
    cl_job_finish(c, j1, true, 2, NULL);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, j3), CL_JOB_RUNNING);
    cl_job_spec_t big = {.nodes = 3, .tenant = (uint32_t)a};
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &big, 3, NULL, &err), -1);
    assert_string_equal(err.msg, "the job needs 24 GPUs; tenant 'a' may hold at most 16 (its "
                                 "quota, and what it may borrow)");
    /* recovery of a journaled job skips the quota check */
    assert_int_equal(cl_job_submit_id(c, &big, 500, 3, &err), 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A sub-tenant's jobs count against its own cap and its parent's quota. */
static void sub_tenants(void **st)
{
    cl_cluster_t *c = mk(8, 8, 1, 8, 1, 0, CL_POLICY_FAIRSHARE);
    int p = tenant(c, "p", 24, 0), s = cl_tenant_add(c, "s", 1, NULL);
    cl_tenant_conf_t f;
    cl_tenant_conf_default(&f);
    f.parent = p;
    f.quota_gpus = 16;
    set_conf(c, s, &f);
    cl_decisions_t d = {0};
    cl_jobid_t s1 = job(c, s, 1, 8, false, 0), s2 = job(c, s, 1, 8, false, 0),
               s3 = job(c, s, 1, 8, false, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, s1), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, s2), CL_JOB_RUNNING);
    assert_int_equal(why(c, s3), CL_PEND_QUOTA); /* its own cap of 16 */
    cl_tenant_state_t ts;
    cl_tenant_state(c, (uint32_t)p, 1, &ts);
    assert_int_equal(ts.gpus_running, 16);
    assert_int_equal(ts.gpus_own, 0);
    cl_tenant_state(c, (uint32_t)s, 1, &ts);
    assert_int_equal(ts.gpus_own, 16);
    assert_int_equal(ts.jobs_running, 2);
    assert_int_equal(ts.jobs_pending, 1);
    cl_jobid_t p1 = job(c, p, 1, 8, false, 2), p2 = job(c, p, 1, 8, false, 2);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, p1), CL_JOB_RUNNING);
    assert_int_equal(why(c, p2), CL_PEND_QUOTA); /* 16 of s + 8 = the parent's 24 */
    /* a sub-tenant's job larger than its cap can never start */
    cl_job_spec_t big = {.nodes = 3, .tenant = (uint32_t)s};
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &big, 3, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "tenant 's' may hold at most 16"));
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Borrowing up to the borrow limit, out of what others lend (lend limit), never more in
 * total than is lendable; a tenant outside the cohort keeps to its quota. */
static void borrowing(void **st)
{
    cl_cluster_t *c = mk(16, 8, 1, 16, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 8, 1), b = tenant(c, "b", 16, 1), e = tenant(c, "e", 8, 1),
        x = tenant(c, "x", 8, 0);
    cl_tenant_conf_t f;
    cl_tenant_get(c, (uint32_t)b, &f);
    f.lend_limit = 8; /* b keeps 8 of its 16 */
    set_conf(c, b, &f);
    cl_tenant_get(c, (uint32_t)a, &f);
    f.borrow_limit = 4;
    set_conf(c, a, &f);
    cl_decisions_t d = {0};
    cl_jobid_t ja[5];
    for (int i = 0; i < 5; i++)
        ja[i] = job(c, a, 1, 4, false, i);
    cl_schedule(c, 10, &d);
    /* a: 8 of quota + 4 borrowed (its limit), not more */
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(c, ja[i]), CL_JOB_RUNNING);
    assert_int_equal(why(c, ja[3]), CL_PEND_QUOTA);
    cl_tenant_state_t ts;
    cl_tenant_state(c, (uint32_t)a, 10, &ts);
    assert_int_equal(ts.borrowed, 4);
    /* e borrows the remaining 4 of b's 8 lendable (e's own 8 first), then no more */
    cl_jobid_t je[4];
    for (int i = 0; i < 4; i++)
        je[i] = job(c, e, 1, 4, false, 11);
    cl_schedule(c, 12, &d);
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(c, je[i]), CL_JOB_RUNNING);
    assert_int_equal(why(c, je[3]), CL_PEND_QUOTA);
    /* b keeps what it did not lend: its own 16 fit, with a and e borrowing 8 */
    cl_jobid_t jb[5];
    for (int i = 0; i < 5; i++)
        jb[i] = job(c, b, 1, 4, false, 13);
    cl_schedule(c, 14, &d);
    /* b uses the 8 it does not lend; a third job would take lent quota back, and reclaim
     * finds nothing preemptible */
    for (int i = 0; i < 2; i++)
        assert_int_equal(state_of(c, jb[i]), CL_JOB_RUNNING);
    assert_int_equal(why(c, jb[2]), CL_PEND_QUOTA);
    /* x has no cohort: its quota and nothing more, though the cluster is half empty */
    cl_jobid_t jx[3];
    for (int i = 0; i < 3; i++)
        jx[i] = job(c, x, 1, 4, false, 15);
    cl_schedule(c, 16, &d);
    assert_int_equal(state_of(c, jx[1]), CL_JOB_RUNNING);
    assert_int_equal(why(c, jx[2]), CL_PEND_QUOTA);
    assert_int_equal(count(&d, CL_ACT_PREEMPT), 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A lender asking for its quota preempts the borrowers' preemptible jobs, newest first, as
 * few as it needs, in the same pass; and none if even all would not do. */
static void reclaim(void **st)
{
    cl_cluster_t *c = mk(8, 8, 1, 8, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 32, 1), b = tenant(c, "b", 24, 1), e = tenant(c, "e", 8, 1);
    cl_decisions_t d = {0};
    cl_jobid_t je = job(c, e, 1, 8, true, 0); /* e within its quota: never a victim */
    cl_schedule(c, 0, &d);
    cl_jobid_t jb[7];
    for (int i = 0; i < 7; i++) { /* b borrows 32 of a's quota, started at 1..7 */
        jb[i] = job(c, b, 1, 8, true, 1 + i);
        cl_schedule(c, 1 + i, &d);
        assert_int_equal(state_of(c, jb[i]), CL_JOB_RUNNING);
    }
    cl_tenant_state_t ts;
    cl_tenant_state(c, (uint32_t)b, 8, &ts);
    assert_int_equal(ts.borrowed, 32);
    cl_jobid_t ja = job(c, a, 2, 8, false, 9);
    cl_decisions_clear(&d);
    cl_schedule(c, 10, &d);
    assert_int_equal(state_of(c, ja), CL_JOB_RUNNING);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.v[0].action, CL_ACT_PREEMPT);
    assert_int_equal(d.v[1].action, CL_ACT_PREEMPT);
    assert_int_equal(d.v[2].action, CL_ACT_START);
    assert_int_equal(state_of(c, jb[6]), CL_JOB_PENDING); /* the newest two */
    assert_int_equal(state_of(c, jb[5]), CL_JOB_PENDING);
    for (int i = 0; i < 5; i++)
        assert_int_equal(state_of(c, jb[i]), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, je), CL_JOB_RUNNING);
    /* the preempted borrowers wait on quota now: a's 16 + e's 8 + b's 40 = 64 */
    assert_int_equal(why(c, jb[6]), CL_PEND_QUOTA);
    checked(c);
    /* b borrows 16, of which only one 8-GPU job is preemptible: a's next 16 need 16 back,
     * so nothing is preempted */
    cl_job_finish(c, ja, true, 11, NULL);
    for (int i = 1; i < 7; i++)
        cl_job_cancel(c, jb[i], 11, NULL);
    cl_jobid_t fix[4];
    for (int i = 0; i < 4; i++)
        fix[i] = job(c, b, 1, 8, false, 12);
    cl_schedule(c, 12, &d); /* b: jb[0] (preemptible) + 4 fixed = 40 of 24 */
    for (int i = 0; i < 4; i++)
        assert_int_equal(state_of(c, fix[i]), CL_JOB_RUNNING);
    cl_jobid_t filler = job(c, a, 2, 8, false, 13); /* a at 16 of 32, 16 idle */
    cl_schedule(c, 13, &d);
    assert_int_equal(state_of(c, filler), CL_JOB_RUNNING);
    cl_jobid_t ja2 = job(c, a, 2, 8, false, 14); /* a to 32 */
    cl_decisions_clear(&d);
    cl_schedule(c, 14, &d);
    assert_int_equal(why(c, ja2), CL_PEND_QUOTA);
    assert_int_equal(d.n, 0);
    assert_int_equal(state_of(c, jb[0]), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Newest first across the cohort: two borrowers' jobs interleaved in time. */
static void reclaim_newest_across(void **st)
{
    cl_cluster_t *c = mk(8, 8, 1, 8, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 32, 1), b = tenant(c, "b", 8, 1), e = tenant(c, "e", 8, 1);
    cl_decisions_t d = {0};
    cl_jobid_t jb[3], je[3];
    for (int i = 0; i < 3; i++) { /* b at 1, 3, 5; e at 2, 4, 6: each borrows 16 */
        jb[i] = job(c, b, 1, 8, true, 1 + 2 * i);
        cl_schedule(c, 1 + 2 * i, &d);
        je[i] = job(c, e, 1, 8, true, 2 + 2 * i);
        cl_schedule(c, 2 + 2 * i, &d);
    }
    cl_jobid_t ja = job(c, a, 2, 8, false, 7);
    cl_schedule(c, 7, &d);
    assert_int_equal(state_of(c, ja), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, je[2]), CL_JOB_PENDING);
    assert_int_equal(state_of(c, jb[2]), CL_JOB_PENDING);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(state_of(c, jb[i]), CL_JOB_RUNNING);
        assert_int_equal(state_of(c, je[i]), CL_JOB_RUNNING);
    }
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Victims released on the way that the gang needs neither for quota nor for nodes keep
 * running: the two newest (4 GPUs each, sharing nodes) free quota but no whole node. */
static void reclaim_only_needed(void **st)
{
    cl_cluster_t *c = mk(3, 8, 1, 3, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 16, 1), b = tenant(c, "b", 8, 1);
    cl_decisions_t d = {0};
    cl_jobid_t v3 = job(c, b, 1, 8, true, 1);
    cl_schedule(c, 1, &d);
    cl_jobid_t nx = job(c, b, 1, 4, false, 2);
    cl_schedule(c, 2, &d);
    cl_jobid_t v1 = job(c, b, 1, 4, true, 3);
    cl_schedule(c, 3, &d);
    cl_jobid_t ny = job(c, b, 1, 4, false, 4);
    cl_schedule(c, 4, &d);
    cl_jobid_t v2 = job(c, b, 1, 4, true, 5);
    cl_schedule(c, 5, &d);
    assert_int_equal(gpus_of(c, b), 24);
    cl_jobid_t ja = job(c, a, 1, 8, false, 6);
    cl_decisions_clear(&d);
    cl_schedule(c, 6, &d);
    assert_int_equal(state_of(c, ja), CL_JOB_RUNNING);
    assert_int_equal(count(&d, CL_ACT_PREEMPT), 1);
    assert_int_equal(state_of(c, v3), CL_JOB_PENDING);
    assert_int_equal(state_of(c, v1), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, v2), CL_JOB_RUNNING);
    (void)nx;
    (void)ny;
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A tenant moved into a cohort with jobs running: counters follow, and its jobs started
 * before the move are reclaimed like any other. */
static void join_cohort_running(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 16, 0), b = tenant(c, "b", 16, 0);
    cl_decisions_t d = {0};
    cl_jobid_t jb[2];
    for (int i = 0; i < 2; i++)
        jb[i] = job(c, b, 1, 8, true, i);
    cl_schedule(c, 1, &d);
    cl_tenant_conf_t f;
    cl_tenant_get(c, (uint32_t)a, &f);
    f.quota_gpus = 8;
    f.cohort = 5;
    set_conf(c, a, &f);
    cl_tenant_get(c, (uint32_t)b, &f);
    f.quota_gpus = 8; /* lowered under its use: nothing stops, b now borrows 8 of a's */
    f.cohort = 5;
    set_conf(c, b, &f);
    checked(c);
    cl_tenant_state_t ts;
    cl_tenant_state(c, (uint32_t)b, 2, &ts);
    assert_int_equal(ts.borrowed, 8);
    cl_jobid_t ja = job(c, a, 1, 8, false, 3);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, ja), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, jb[1]), CL_JOB_PENDING);
    assert_int_equal(state_of(c, jb[0]), CL_JOB_RUNNING);
    checked(c);
    /* leaving the cohort: b keeps to its quota again */
    cl_tenant_get(c, (uint32_t)b, &f);
    f.cohort = 0;
    set_conf(c, b, &f);
    checked(c);
    cl_schedule(c, 4, &d);
    assert_int_equal(why(c, jb[1]), CL_PEND_QUOTA);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Priority preemption never starts a job over its quota. */
static void preempt_respects_quota(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 8, 0);
    cl_decisions_t d = {0};
    cl_jobid_t low[3];
    for (int i = 0; i < 3; i++)
        low[i] = job(c, 0, 1, 8, true, 0);
    cl_jobid_t mine = job(c, a, 1, 8, false, 0);
    cl_schedule(c, 0, &d); /* the cluster is full: 3 preemptible + a's 8 */
    cl_job_spec_t hi = {.nodes = 1, .tenant = (uint32_t)a, .priority = 10};
    cl_jobid_t h;
    cl_job_submit(c, &hi, 1, &h, NULL);
    cl_decisions_clear(&d);
    cl_schedule(c, 1, &d);
    assert_int_equal(why(c, h), CL_PEND_QUOTA);
    assert_int_equal(d.n, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(c, low[i]), CL_JOB_RUNNING);
    /* within its quota it does preempt */
    cl_job_cancel(c, h, 2, NULL);
    cl_job_finish(c, mine, true, 2, NULL);
    job(c, 0, 1, 8, false, 2);
    cl_schedule(c, 2, &d); /* full again, a at 0 */
    cl_job_submit(c, &hi, 3, &h, NULL);
    cl_decisions_clear(&d);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    assert_int_equal(count(&d, CL_ACT_PREEMPT), 1);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Budget spent: new jobs pend; running ones finish; a new period lets them start. */
static void budget_pends(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    int a = cl_tenant_add(c, "a", 1, NULL);
    cl_tenant_conf_t f;
    cl_tenant_get(c, (uint32_t)a, &f);
    f.budget_gpu_s = 3600;
    set_conf(c, a, &f);
    cl_decisions_t d = {0};
    cl_jobid_t j1 = job(c, a, 1, 8, false, 0);
    cl_schedule(c, 0, &d);
    assert_true(cl_next_wakeup(c, 0) == CL_TIME_INF); /* it does not stop: nothing to do */
    cl_jobid_t j2 = job(c, a, 1, 8, false, 400);
    cl_schedule(c, 400, &d);
    assert_int_equal(state_of(c, j2), CL_JOB_RUNNING); /* 3,200 of 3,600 used */
    cl_jobid_t j3 = job(c, a, 1, 8, false, 430);
    cl_schedule(c, 430, &d); /* 3,200 + 16 x 30 = 3,680 */
    assert_int_equal(why(c, j3), CL_PEND_BUDGET);
    assert_int_equal(state_of(c, j1), CL_JOB_RUNNING);
    cl_tenant_state_t ts;
    cl_tenant_state(c, (uint32_t)a, 500, &ts);
    assert_true(fabs(ts.budget_used_gpu_s - (3200 + 16 * 100)) < 1e-6);
    assert_true(ts.budget_spent);
    cl_error_t err;
    assert_int_equal(cl_tenant_budget_set(c, (uint32_t)a, 0, 500, &err), 0);
    cl_schedule(c, 500, &d);
    assert_int_equal(state_of(c, j3), CL_JOB_RUNNING);
    assert_int_equal(cl_tenant_budget_set(c, (uint32_t)a, -1, 500, &err), -1);
    assert_int_equal(cl_tenant_budget_set(c, 99, 0, 500, &err), -1);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* budget_stop: the pass at cl_next_wakeup stops the jobs (a sub-tenant's too, counting
 * against its parent's budget), even at Unix-time magnitudes where rounding bites. */
static void budget_stops(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    int p = cl_tenant_add(c, "p", 1, NULL), s = cl_tenant_add(c, "s", 1, NULL);
    cl_tenant_conf_t f;
    cl_tenant_get(c, (uint32_t)p, &f);
    f.budget_gpu_s = 1000.0 / 3;
    f.budget_stop = true;
    set_conf(c, p, &f);
    cl_tenant_get(c, (uint32_t)s, &f);
    f.parent = p;
    set_conf(c, s, &f);
    double t0 = 1.7e9 + 0.123;
    cl_tenant_budget_set(c, (uint32_t)p, 0, t0, NULL);
    cl_decisions_t d = {0};
    cl_jobid_t jp = job(c, p, 1, 3, false, t0), js = job(c, s, 1, 5, true, t0);
    cl_schedule(c, t0, &d);
    assert_int_equal(state_of(c, jp), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, js), CL_JOB_RUNNING);
    cl_time_t w = cl_next_wakeup(c, t0);
    assert_true(fabs(w - (t0 + 1000.0 / 3 / 8)) < 1e-5);
    cl_decisions_clear(&d);
    cl_schedule(c, w, &d);
    assert_int_equal(count(&d, CL_ACT_PREEMPT), 2);
    assert_int_equal(count(&d, CL_ACT_START), 0);
    assert_int_equal(why(c, jp), CL_PEND_BUDGET);
    assert_int_equal(why(c, js), CL_PEND_BUDGET);
    assert_true(cl_next_wakeup(c, w) == CL_TIME_INF);
    cl_job_info_t ji;
    cl_job_get(c, js, &ji);
    assert_int_equal(ji.preemptions, 1);
    /* a pass just after: still spent, nothing starts (no sliver from rounding) */
    cl_decisions_clear(&d);
    cl_schedule(c, w + 1e-6, &d);
    assert_int_equal(d.n, 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A user at its running limit waits with the QOS reason. */
static void user_limits(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_error_t err;
    assert_int_equal(cl_user_limit_set(c, 7, 2, &err), 0);
    cl_decisions_t d = {0};
    cl_jobid_t id[3];
    for (int i = 0; i < 3; i++) {
        cl_job_spec_t s = {.nodes = 1, .user = 7};
        assert_int_equal(cl_job_submit(c, &s, 0, &id[i], &err), 0);
    }
    cl_job_spec_t other = {.nodes = 1, .user = 8};
    cl_jobid_t o;
    cl_job_submit(c, &other, 0, &o, NULL);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, id[0]), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, id[1]), CL_JOB_RUNNING);
    assert_int_equal(why(c, id[2]), CL_PEND_QOS);
    assert_int_equal(state_of(c, o), CL_JOB_RUNNING);
    cl_job_info_t ji;
    cl_job_get(c, id[0], &ji);
    assert_int_equal(ji.user, 7);
    assert_int_equal(cl_user_limit_set(c, 7, 0, &err), 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, id[2]), CL_JOB_RUNNING);
    assert_int_equal(cl_user_limit_set(c, 0, 1, &err), -1);
    assert_int_equal(cl_user_limit_set(c, CL_USER_MAX + 1, 1, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    cl_job_spec_t bad = {.nodes = 1, .user = CL_USER_MAX + 1};
    assert_int_equal(cl_job_submit(c, &bad, 2, NULL, &err), -1);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* kueue#11134: no half-life that silently turns fair share off, zero included. */
static void halflife_guard(void **st)
{
    double bad[] = {0, -1, NAN, INFINITY};
    for (int i = 0; i < 4; i++) {
        cl_topo_shape_t s = {4, 8, 1, 4, 1};
        cl_topo_t *t = cl_topo_create(&s, "n", NULL);
        cl_cluster_opts_t o;
        cl_cluster_opts_default(&o);
        o.fairshare_halflife_s = bad[i];
        cl_error_t err;
        assert_null(cl_cluster_create(t, &o, &err));
        assert_non_null(strstr(err.msg, "fair-share half-life must be a positive, finite"));
    }
    cl_topo_shape_t s = {4, 8, 1, 4, 1};
    cl_cluster_opts_t zero;
    memset(&zero, 0, sizeof(zero)); /* a driver that forgot the defaults */
    assert_null(cl_cluster_create(cl_topo_create(&s, "n", NULL), &zero, NULL));
    cl_cluster_opts_t o;
    cl_cluster_opts_default(&o);
    assert_true(o.fairshare_halflife_s == 7 * 86400.0);
}

/* Usage restored from a journal decays from the time it was taken. */
static void usage_restore(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    int a = cl_tenant_add(c, "a", 1, NULL), b = cl_tenant_add(c, "b", 1, NULL);
    cl_error_t err;
    double h = 7 * 86400.0;
    assert_int_equal(cl_tenant_usage_set(c, (uint32_t)a, 1e6, 1000, &err), 0);
    assert_true(fabs(cl_tenant_usage(c, (uint32_t)a, 1000 + h) - 5e5) < 1e-3);
    assert_true(cl_tenant_factor(c, (uint32_t)b, 1000 + h) >
                cl_tenant_factor(c, (uint32_t)a, 1000 + h));
    assert_int_equal(cl_tenant_usage_set(c, (uint32_t)a, -5, 0, &err), -1);
    assert_int_equal(cl_tenant_usage_set(c, (uint32_t)a, INFINITY, 0, &err), -1);
    assert_int_equal(cl_tenant_usage_set(c, 42, 0, 0, &err), -1);
    /* the restored usage orders the queue: b (none) before a */
    cl_decisions_t d = {0};
    cl_job_spec_t sa = {.nodes = 4, .tenant = (uint32_t)a},
                  sb = {.nodes = 4, .tenant = (uint32_t)b};
    cl_jobid_t ja, jb;
    cl_job_submit(c, &sa, 2000, &ja, NULL);
    cl_job_submit(c, &sb, 2001, &jb, NULL);
    cl_schedule(c, 2002, &d);
    assert_int_equal(state_of(c, jb), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, ja), CL_JOB_PENDING);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* volcano#4684: failed nodes take capacity, not quota; only a tenant whose jobs no longer
 * fit waits, and for resources, not for its quota. */
static void capacity_loss(void **st)
{
    cl_cluster_t *c = mk(8, 8, 1, 8, 1, 0, CL_POLICY_FAIRSHARE);
    int a = tenant(c, "a", 32, 0), b = tenant(c, "b", 32, 0);
    cl_decisions_t d = {0};
    for (int i = 0; i < 3; i++) {
        job(c, a, 1, 8, false, 0);
        job(c, b, 1, 8, false, 0);
    }
    cl_schedule(c, 0, &d);
    /* two free nodes; one fails */
    for (cl_nodeid_t n = 0; n < 8; n++) {
        cl_node_info_t ni;
        cl_node_get(c, n, &ni);
        if (ni.njobs == 0) {
            cl_node_fail(c, n, 1, &d, NULL);
            break;
        }
    }
    cl_jobid_t ja = job(c, a, 1, 8, false, 2);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, ja), CL_JOB_RUNNING); /* a's quota is whole */
    cl_jobid_t jb = job(c, b, 1, 8, false, 3);
    cl_schedule(c, 3, &d);
    /* no room, but its quota is whole: it gets the reservation, it does not wait on quota */
    assert_int_equal(why(c, jb), CL_PEND_RESERVED);
    cl_tenant_conf_t f;
    cl_tenant_get(c, (uint32_t)b, &f);
    assert_int_equal(f.quota_gpus, 32);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_validation),
        cmocka_unit_test(quota_alone),
        cmocka_unit_test(sub_tenants),
        cmocka_unit_test(borrowing),
        cmocka_unit_test(reclaim),
        cmocka_unit_test(reclaim_newest_across),
        cmocka_unit_test(reclaim_only_needed),
        cmocka_unit_test(join_cohort_running),
        cmocka_unit_test(preempt_respects_quota),
        cmocka_unit_test(budget_pends),
        cmocka_unit_test(budget_stops),
        cmocka_unit_test(user_limits),
        cmocka_unit_test(halflife_guard),
        cmocka_unit_test(usage_restore),
        cmocka_unit_test(capacity_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
