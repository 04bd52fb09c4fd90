/* test_core_sched.c - queue policy: priority, fair share, EASY backfill, FIFO, preemption. */
#include <math.h>

#include "core_helpers.h"

static void priority_first(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t lo = sub(c, 4, 8, 0, 0, 0), hi = sub(c, 4, 8, 5, 0, 1);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, hi), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, lo), CL_JOB_PENDING);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].job, hi);
    assert_int_equal(d.v[0].action, CL_ACT_START);
    assert_int_equal(d.v[0].incarnation, 1);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void fair_share(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    int a = cl_tenant_add(c, "a", 1, NULL), b = cl_tenant_add(c, "b", 1, NULL);
    assert_int_equal(cl_tenant_add(c, "a", 1, NULL), -1);
    cl_decisions_t d = {0};
    cl_job_spec_t s = {.nodes = 2, .tenant = (uint32_t)a};
    cl_jobid_t ja;
    cl_job_submit(c, &s, 0, &ja, NULL);
    cl_schedule(c, 0, &d);
    cl_job_finish(c, ja, true, 3600, NULL); /* a used 16 GPU-hours */
    double h = 7 * 86400.0, want = 16 * (h / M_LN2) * (1 - exp2(-3600 / h));
    assert_true(fabs(cl_tenant_usage(c, (uint32_t)a, 3600) - want) < 1e-6 * want);
    /* usage halves over a half-life with nothing running */
    assert_true(fabs(cl_tenant_usage(c, (uint32_t)a, 3600 + h) - want / 2) < 1e-6 * want);
    assert_true(cl_tenant_factor(c, (uint32_t)b, 3600 + h) >
                cl_tenant_factor(c, (uint32_t)a, 3600 + h));
    /* a submitted first, but b has used nothing: b goes first */
    cl_jobid_t a2, b2;
    cl_job_submit(c, &s, 3700, &a2, NULL);
    s.tenant = (uint32_t)b;
    cl_job_submit(c, &s, 3800, &b2, NULL);
    cl_schedule(c, 3900, &d);
    assert_int_equal(state_of(c, b2), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, a2), CL_JOB_PENDING);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* The top job gets a reservation at the earliest deadline that frees enough nodes; a short
 * job backfills, a long one that would delay it does not, and the top job starts on time. */
static void easy_backfill(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    cl_decisions_t d = {0};
    cl_jobid_t r1 = sub(c, 2, 8, 0, 1000, 0); /* ends by 1000 */
    cl_jobid_t r2 = sub(c, 1, 8, 0, 5000, 0); /* ends by 5000 */
    cl_schedule(c, 0, &d);
    cl_jobid_t top = sub(c, 3, 8, 0, 100, 10);  /* needs 3: shadow = 1000 */
    cl_jobid_t lng = sub(c, 1, 8, 0, 2000, 11); /* would hold a reserved node past 1000 */
    cl_jobid_t sht = sub(c, 1, 8, 0, 500, 12);  /* ends at 520 < 1000: may backfill */
    cl_schedule(c, 20, &d);
    cl_reservation_t rv;
    cl_reservation_get(c, &rv);
    assert_int_equal(rv.job, top);
    assert_true(rv.shadow == 1000);
    assert_int_equal(rv.n, 3);
    assert_int_equal(state_of(c, top), CL_JOB_PENDING);
    assert_int_equal(state_of(c, lng), CL_JOB_PENDING);
    assert_int_equal(state_of(c, sht), CL_JOB_RUNNING);
    size_t nb;
    const cl_jobid_t *bf = cl_backfilled(c, &nb);
    assert_int_equal(nb, 1);
    assert_int_equal(bf[0], sht);
    /* The running jobs end by their limits: the top job starts at the shadow time. */
    cl_job_finish(c, sht, true, 520, NULL);
    cl_job_finish(c, r1, true, 1000, NULL);
    cl_schedule(c, 1000, &d);
    assert_int_equal(state_of(c, top), CL_JOB_RUNNING);
    cl_job_info_t ji;
    cl_job_get(c, top, &ji);
    assert_true(ji.start_time == 1000);
    assert_int_equal(state_of(c, lng), CL_JOB_PENDING);
    (void)r2;
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void fifo_blocks(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FIFO);
    cl_decisions_t d = {0};
    cl_jobid_t r = sub(c, 2, 8, 0, 1000, 0);
    cl_schedule(c, 0, &d);
    cl_jobid_t big = sub(c, 3, 8, 0, 100, 1), small = sub(c, 1, 8, 0, 10, 2);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, big), CL_JOB_PENDING);
    assert_int_equal(state_of(c, small), CL_JOB_PENDING); /* would backfill, FIFO says no */
    cl_job_finish(c, r, true, 5, NULL);
    cl_schedule(c, 5, &d);
    assert_int_equal(state_of(c, big), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, small), CL_JOB_RUNNING);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Whether a pass could start anything were only jobs submitted (cl_sched_may_start): idle
 * GPUs, a preemptible running job or a cohort say yes; a cluster full of jobs that cannot be
 * preempted says no, and a submission does not change that. */
static void may_start(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    assert_true(cl_sched_may_start(c)); /* idle */
    cl_jobid_t a = sub(c, 2, 8, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_false(cl_sched_may_start(c)); /* every GPU taken */
    cl_jobid_t b = sub(c, 1, 1, 5, 0, 1);
    assert_false(cl_sched_may_start(c));
    cl_schedule(c, 1, &d); /* and a pass indeed starts nothing */
    assert_int_equal(state_of(c, b), CL_JOB_PENDING);
    assert_int_equal(cl_job_finish(c, a, true, 2, NULL), 0);
    assert_true(cl_sched_may_start(c)); /* GPUs free again */
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    /* the rest of the GPUs to a preemptible job: a higher priority may take them */
    cl_job_spec_t p = {.nodes = 2, .gpus_per_node = 7, .priority = 0, .preemptible = true};
    cl_jobid_t v;
    assert_int_equal(cl_job_submit(c, &p, 3, &v, NULL), 0);
    cl_job_spec_t q = {.nodes = 1, .gpus_per_node = 1, .priority = 0};
    cl_jobid_t w;
    assert_int_equal(cl_job_submit(c, &q, 3, &w, NULL), 0);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, v), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, w), CL_JOB_RUNNING);
    assert_true(cl_sched_may_start(c)); /* full, but v may be preempted */
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
    /* full of jobs that cannot be preempted, with a cohort: a lender may reclaim */
    c = mk(1, 8, 1, 1, 1, 0, CL_POLICY_FAIRSHARE);
    a = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_false(cl_sched_may_start(c));
    int t = cl_tenant_add(c, "lender", 1, NULL);
    assert_true(t > 0);
    cl_tenant_conf_t f;
    cl_tenant_conf_default(&f);
    f.quota_gpus = 4;
    f.cohort = 1;
    cl_error_t err;
    if (cl_tenant_set(c, (uint32_t)t, &f, &err) < 0) fail_msg("set: %s", err.msg);
    assert_true(cl_sched_may_start(c));
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void preemption(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_job_spec_t p = {.nodes = 1, .priority = 0, .preemptible = true};
    cl_jobid_t v[4];
    for (int i = 0; i < 4; i++) {
        cl_job_submit(c, &p, i, &v[i], NULL);
        cl_schedule(c, i, &d); /* start times 0,1,2,3 */
    }
    cl_job_spec_t keep = {.nodes = 1, .priority = 0};
    cl_jobid_t k;
    cl_job_submit(c, &keep, 4, &k, NULL);
    cl_job_spec_t hi = {.nodes = 2, .priority = 10};
    cl_jobid_t h;
    cl_job_submit(c, &hi, 5, &h, NULL);
    cl_decisions_clear(&d);
    cl_schedule(c, 6, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    /* the two latest-started preemptible jobs are the victims, only them */
    assert_int_equal(state_of(c, v[3]), CL_JOB_PENDING);
    assert_int_equal(state_of(c, v[2]), CL_JOB_PENDING);
    assert_int_equal(state_of(c, v[1]), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, v[0]), CL_JOB_RUNNING);
    int npre = 0;
    for (size_t i = 0; i < d.n; i++)
        npre += d.v[i].action == CL_ACT_PREEMPT;
    assert_int_equal(npre, 2);
    cl_job_info_t ji;
    cl_job_get(c, v[3], &ji);
    assert_int_equal(ji.preemptions, 1);
    /* a non-preemptible job never is */
    cl_job_spec_t hi2 = {.nodes = 3, .priority = 10};
    cl_jobid_t h2;
    cl_job_submit(c, &hi2, 7, &h2, NULL);
    cl_schedule(c, 8, &d);
    assert_int_equal(state_of(c, h2), CL_JOB_PENDING);
    assert_int_equal(state_of(c, v[0]), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void time_limits(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 100, 0), b = sub(c, 1, 8, 0, 50, 0),
               e = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 10, &d);
    cl_jobid_t out[8];
    assert_int_equal(cl_jobs_expired(c, 59, out, 8), 0);
    assert_int_equal(cl_jobs_expired(c, 60, out, 8), 1);
    assert_int_equal(out[0], b);
    assert_int_equal(cl_jobs_expired(c, 1e9, out, 8), 2);
    assert_int_equal(out[0], b);
    assert_int_equal(out[1], a);
    (void)e;
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void cancel_and_ids(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0), b = sub(c, 2, 8, 0, 0, 0);
    assert_int_equal(b, a + 1);
    cl_schedule(c, 0, &d);
    cl_error_t err;
    assert_int_equal(cl_job_cancel(c, b, 1, NULL), 0);
    assert_int_equal(state_of(c, b), CL_JOB_CANCELLED);
    assert_int_equal(cl_job_cancel(c, b, 1, &err), -1);
    assert_non_null(strstr(err.msg, "already ended"));
    assert_int_equal(cl_job_finish(c, 999, true, 1, &err), -1);
    assert_non_null(strstr(err.msg, "no job 999"));
    assert_int_equal(cl_job_forget(c, a), -1); /* still running */
    assert_int_equal(cl_job_forget(c, b), 0);
    assert_int_equal(cl_jobs_next(c, 0), a);
    assert_int_equal(cl_jobs_next(c, a), 0);
    cl_job_spec_t s = {.nodes = 1};
    assert_int_equal(cl_job_submit_id(c, &s, a, 2, &err), -1);
    assert_int_equal(cl_job_submit_id(c, &s, 500, 2, &err), 0);
    assert_int_equal(cl_job_next_id(c), 501);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priority_first), cmocka_unit_test(fair_share),
        cmocka_unit_test(easy_backfill),  cmocka_unit_test(fifo_blocks),
        cmocka_unit_test(may_start),      cmocka_unit_test(preemption),
        cmocka_unit_test(time_limits),    cmocka_unit_test(cancel_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
