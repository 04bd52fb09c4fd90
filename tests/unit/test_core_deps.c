/* test_core_deps.c - dependencies (afterok, afterany, afternotok, several at once, chains
 * that can never be satisfied), singleton, holds and requeue in the core. */
#include "core_helpers.h"

static cl_pend_t why(cl_cluster_t *c, cl_jobid_t id)
{
    cl_pending_t p;
    assert_int_equal(cl_job_pending(c, id, &p), 0);
    return p.why;
}

static cl_jobid_t sub_dep(cl_cluster_t *c, const cl_dep_t *deps, uint32_t n, double now)
{
    cl_job_spec_t s = {
        .nodes = 1, .gpus_per_node = 1, .max_restarts = 1, .deps = deps, .ndeps = n};
    cl_jobid_t id;
    cl_error_t err;
    if (cl_job_submit(c, &s, now, &id, &err) < 0) fail_msg("submit: %s", err.msg);
    return id;
}

static size_t count(const cl_decisions_t *d, cl_action_t a)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->v[i].action == a;
    return n;
}

static void afterok_waits_then_starts(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 1, 0, 0, 0), b = sub(c, 1, 1, 0, 0, 0);
    cl_dep_t deps[] = {{CL_DEP_AFTEROK, a, CL_JOB_PENDING}, {CL_DEP_AFTERANY, b, 0}};
    cl_jobid_t x = sub_dep(c, deps, 2, 1);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, x), CL_JOB_PENDING);
    assert_int_equal(why(c, x), CL_PEND_DEPENDENCY);
    cl_job_info_t ji;
    cl_job_get(c, x, &ji);
    assert_int_equal(ji.deps_waiting, 2);
    assert_int_equal(cl_job_finish(c, a, true, 3, NULL), 0);
    cl_schedule(c, 4, &d);
    assert_int_equal(why(c, x), CL_PEND_DEPENDENCY);          /* b still runs: both must hold */
    assert_int_equal(cl_job_finish(c, b, false, 5, NULL), 0); /* afterany: any end */
    cl_decisions_clear(&d);
    cl_schedule(c, 6, &d);
    assert_int_equal(state_of(c, x), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* afterok on a job that fails can never be satisfied: the dependent is cancelled by the
 * next pass, and so is the job that depends on it (a chain). afternotok starts. */
static void never_satisfied_chain(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FIFO);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 1, 0, 0, 0);
    cl_dep_t d1 = {CL_DEP_AFTEROK, a, 0}, d3 = {CL_DEP_AFTERNOTOK, a, 0};
    cl_jobid_t x = sub_dep(c, &d1, 1, 0);
    cl_dep_t d2 = {CL_DEP_AFTERANY, x, 0};
    cl_jobid_t y = sub_dep(c, &d2, 1, 0), z = sub_dep(c, &d3, 1, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(cl_job_finish(c, a, false, 2, NULL), 0);
    cl_decisions_clear(&d);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, x), CL_JOB_CANCELLED);
    assert_int_equal(state_of(c, y), CL_JOB_RUNNING); /* afterany: cancelled is an end */
    assert_int_equal(state_of(c, z), CL_JOB_RUNNING);
    assert_int_equal(count(&d, CL_ACT_DEP_NEVER), 1);
    cl_job_info_t ji;
    cl_job_get(c, x, &ji);
    assert_int_equal(ji.dep_never, a);
    /* a chain of afterok: cancelled together, in one pass */
    cl_jobid_t p = sub(c, 1, 1, 0, 0, 4);
    cl_dep_t e1 = {CL_DEP_AFTEROK, p, 0};
    cl_jobid_t q = sub_dep(c, &e1, 1, 4);
    cl_dep_t e2 = {CL_DEP_AFTEROK, q, 0};
    cl_jobid_t r = sub_dep(c, &e2, 1, 4);
    assert_int_equal(cl_job_cancel(c, p, 5, NULL), 0);
    cl_decisions_clear(&d);
    cl_schedule(c, 6, &d);
    assert_int_equal(state_of(c, q), CL_JOB_CANCELLED);
    assert_int_equal(state_of(c, r), CL_JOB_CANCELLED);
    assert_int_equal(count(&d, CL_ACT_DEP_NEVER), 2);
    /* a job that can never be satisfied is not requeued */
    cl_error_t err;
    assert_int_equal(cl_job_requeue(c, q, false, 7, &err), -1);
    assert_non_null(strstr(err.msg, "can never be satisfied"));
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A dependency on a job the core does not hold: the driver's journal says how it ended;
 * without that, refused and nothing changes. */
static void forgotten_and_unknown(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_error_t err;
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 1, .ndeps = 1};
    cl_dep_t bad = {CL_DEP_AFTEROK, 77, CL_JOB_PENDING};
    s.deps = &bad;
    cl_jobid_t next = cl_job_next_id(c);
    assert_int_equal(cl_job_submit(c, &s, 0, NULL, &err), -1);
    assert_string_equal(err.msg, "dependency on job 77: no such job");
    assert_int_equal(cl_job_next_id(c), next);
    cl_dep_t okd = {CL_DEP_AFTEROK, 77, CL_JOB_SUCCEEDED},
             nok = {CL_DEP_AFTEROK, 78, CL_JOB_FAILED};
    cl_jobid_t x = sub_dep(c, &okd, 1, 0), y = sub_dep(c, &nok, 1, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, x), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, y), CL_JOB_CANCELLED);
    cl_dep_t ty = {(cl_dep_type_t)9, x, 0};
    s.deps = &ty;
    assert_int_equal(cl_job_submit(c, &s, 0, NULL, &err), -1);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* singleton: one running job of a name key at a time, also two submitted in one pass; a
 * job of the key without singleton counts as running too. */
static void singleton_one_at_a_time(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 1, .singleton = true, .name_key = 42};
    cl_jobid_t a, b, other;
    assert_int_equal(cl_job_submit(c, &s, 0, &a, NULL), 0);
    assert_int_equal(cl_job_submit(c, &s, 0, &b, NULL), 0);
    s.name_key = 43;
    assert_int_equal(cl_job_submit(c, &s, 0, &other, NULL), 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, b), CL_JOB_PENDING);
    assert_int_equal(why(c, b), CL_PEND_DEPENDENCY);
    assert_int_equal(state_of(c, other), CL_JOB_RUNNING);
    assert_int_equal(cl_job_finish(c, a, true, 2, NULL), 0);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    /* a plain job of key 43 runs: a singleton of 43 waits for it */
    s.singleton = false;
    cl_jobid_t plain, single;
    assert_int_equal(cl_job_finish(c, other, true, 4, NULL), 0);
    assert_int_equal(cl_job_submit(c, &s, 4, &plain, NULL), 0);
    cl_schedule(c, 5, &d);
    s.singleton = true;
    assert_int_equal(cl_job_submit(c, &s, 5, &single, NULL), 0);
    cl_schedule(c, 6, &d);
    assert_int_equal(why(c, single), CL_PEND_DEPENDENCY);
    assert_int_equal(cl_job_cancel(c, plain, 7, NULL), 0);
    cl_schedule(c, 8, &d);
    assert_int_equal(state_of(c, single), CL_JOB_RUNNING);
    s.name_key = 0;
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &s, 8, NULL, &err), -1);
    /* many keys: the table grows and shrinks and stays right */
    s.singleton = false;
    cl_jobid_t ids[200];
    for (int i = 0; i < 200; i++) {
        s.name_key = 1000 + (uint64_t)i;
        s.gpus_per_node = 0;
        s.gpus = 1;
        s.nodes = 0;
        assert_int_equal(cl_job_submit(c, &s, 9, &ids[i], NULL), 0);
    }
    cl_schedule(c, 10, &d);
    for (int i = 0; i < 200; i++)
        if (state_of(c, ids[i]) == CL_JOB_RUNNING) cl_job_finish(c, ids[i], true, 11, NULL);
    cl_schedule(c, 12, &d);
    for (int i = 0; i < 200; i++)
        if (!cl_job_finished(state_of(c, ids[i]))) cl_job_cancel(c, ids[i], 13, NULL);
    s.singleton = true;
    s.name_key = 1005;
    s.gpus = 0;
    s.nodes = 1;
    s.gpus_per_node = 1;
    cl_jobid_t last;
    assert_int_equal(cl_job_submit(c, &s, 14, &last, NULL), 0);
    cl_schedule(c, 15, &d);
    assert_int_equal(state_of(c, last), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void hold_release_requeue(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_error_t err;
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 8, .hold = true, .max_restarts = 2};
    cl_jobid_t h;
    assert_int_equal(cl_job_submit(c, &s, 0, &h, NULL), 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(why(c, h), CL_PEND_HOLD);
    cl_job_info_t ji;
    cl_job_get(c, h, &ji);
    assert_true(ji.held);
    assert_int_equal(cl_job_hold(c, h, false, NULL), 0);
    assert_int_equal(cl_job_hold(c, h, false, &err), -1);
    assert_string_equal(err.msg, "job 1 is not held");
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    assert_int_equal(cl_job_hold(c, h, true, &err), -1);
    assert_string_equal(err.msg, "job 1 is running: only a pending job can be held");
    /* requeue a running job: GPUs back, pending, no restart counted; it starts again */
    assert_int_equal(cl_job_requeue(c, h, false, 3, NULL), 0);
    assert_int_equal(state_of(c, h), CL_JOB_PENDING);
    cl_job_get(c, h, &ji);
    assert_int_equal(ji.restarts, 0);
    assert_int_equal(ji.preemptions, 0);
    assert_int_equal(cl_job_requeue(c, h, false, 3, &err), -1);
    assert_string_equal(err.msg, "job 1 is pending already");
    checked(c);
    cl_decisions_clear(&d);
    cl_schedule(c, 4, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    cl_job_get(c, h, &ji);
    assert_int_equal(ji.incarnation, 2);
    /* requeue a finished job, held */
    assert_int_equal(cl_job_finish(c, h, true, 5, NULL), 0);
    assert_int_equal(cl_job_requeue(c, h, true, 6, NULL), 0);
    cl_schedule(c, 7, &d);
    assert_int_equal(why(c, h), CL_PEND_HOLD);
    assert_int_equal(cl_job_hold(c, h, false, NULL), 0);
    cl_schedule(c, 8, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    assert_int_equal(cl_job_hold(c, 99, true, &err), -1);
    assert_int_equal(cl_job_requeue(c, 99, true, 9, &err), -1);
    assert_string_equal(cl_pend_name(CL_PEND_HOLD), "held (a release lets it start)");
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* An array's limit: at most group_max jobs of its group key run at once. */
static void array_limit(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FIFO);
    cl_decisions_t d = {0};
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 1, .group_key = 9, .group_max = 2};
    cl_jobid_t ids[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(cl_job_submit(c, &s, 0, &ids[i], NULL), 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, ids[0]), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, ids[1]), CL_JOB_RUNNING);
    for (int i = 2; i < 5; i++)
        assert_int_equal(why(c, ids[i]), CL_PEND_ARRAY);
    assert_int_equal(cl_job_finish(c, ids[0], true, 2, NULL), 0);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, ids[2]), CL_JOB_RUNNING);
    assert_int_equal(why(c, ids[3]), CL_PEND_ARRAY);
    s.group_key = 0;
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &s, 3, NULL, &err), -1);
    assert_string_equal(err.msg, "an array limit needs an array key");
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(afterok_waits_then_starts), cmocka_unit_test(never_satisfied_chain),
        cmocka_unit_test(forgotten_and_unknown),     cmocka_unit_test(singleton_one_at_a_time),
        cmocka_unit_test(hold_release_requeue),      cmocka_unit_test(array_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
