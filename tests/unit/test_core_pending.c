/* test_core_pending.c - why a job is pending: each reason the pass gives, the lazy
 * "higher-priority first" for jobs it does not reach, and refusal of jobs that can never run.
 */
#include "core_helpers.h"

static cl_pending_t pend(cl_cluster_t *c, cl_jobid_t id)
{
    cl_pending_t p;
    assert_int_equal(cl_job_pending(c, id, &p), 0);
    return p;
}

static void new_priority_resources(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FIFO);
    cl_decisions_t d = {0};
    cl_jobid_t r = sub(c, 2, 8, 0, 1000, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(pend(c, r).why, CL_PEND_NONE);
    cl_jobid_t big = sub(c, 3, 8, 0, 100, 1), small = sub(c, 1, 8, 0, 10, 2);
    assert_int_equal(pend(c, big).why, CL_PEND_NEW);
    assert_int_equal(pend(c, small).why, CL_PEND_NEW);
    cl_schedule(c, 3, &d);
    /* FIFO: the first that cannot start blocks; the pass never reaches the one behind */
    assert_int_equal(pend(c, big).why, CL_PEND_RESOURCES);
    assert_int_equal(pend(c, small).why, CL_PEND_PRIORITY);
    cl_pending_t none;
    assert_int_equal(cl_job_pending(c, 999, &none), -1);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* The reserved job starts at the shadow time at the latest; a job that would fit on the
 * nodes held for it is held; one that would not fit anyway waits for resources. */
static void reserved_and_held(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    cl_decisions_t d = {0};
    sub(c, 2, 8, 0, 1000, 0);
    sub(c, 1, 8, 0, 5000, 0);
    cl_schedule(c, 0, &d);
    cl_jobid_t top = sub(c, 3, 8, 0, 100, 10);
    cl_jobid_t lng = sub(c, 1, 8, 0, 2000, 11);
    cl_jobid_t two = sub(c, 2, 8, 0, 2000, 12);
    cl_jobid_t sht = sub(c, 1, 8, 0, 500, 13);
    cl_schedule(c, 20, &d);
    cl_pending_t p = pend(c, top);
    assert_int_equal(p.why, CL_PEND_RESERVED);
    assert_int_equal(p.job, top);
    assert_true(p.until == 1000);
    p = pend(c, lng);
    assert_int_equal(p.why, CL_PEND_HELD);
    assert_int_equal(p.job, top);
    assert_true(p.until == 1000);
    assert_int_equal(pend(c, two).why, CL_PEND_RESOURCES);
    assert_int_equal(pend(c, sht).why, CL_PEND_NONE); /* backfilled */
    assert_int_equal(state_of(c, sht), CL_JOB_RUNNING);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Drained, down or maintenance nodes: a job that fits only counting them says so, at
 * submit already, and gets no reservation; one that can never fit is refused. */
static void nodes_and_never(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_node_drain(c, 0, 0, NULL);
    cl_node_maintenance(c, 1, 0, NULL);
    cl_jobid_t j = sub(c, 3, 8, 0, 0, 1);
    assert_int_equal(pend(c, j).why, CL_PEND_NODES);
    cl_schedule(c, 2, &d);
    assert_int_equal(pend(c, j).why, CL_PEND_NODES);
    cl_reservation_t rv;
    cl_reservation_get(c, &rv);
    assert_int_equal(rv.job, 0);
    /* a failed GPU makes a node short of 8 healthy GPUs too */
    cl_node_resume(c, 0, 3, NULL);
    cl_gpu_fail(c, 2, 5, 3, &d, NULL);
    cl_schedule(c, 3, &d);
    assert_int_equal(pend(c, j).why, CL_PEND_NODES);
    cl_node_recover(c, 2, 4, NULL);
    cl_schedule(c, 4, &d);
    assert_int_equal(state_of(c, j), CL_JOB_RUNNING);
    cl_job_spec_t s = {.nodes = 5};
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &s, 5, NULL, &err), -1);
    assert_string_equal(err.msg, "can never run: needs 5 nodes of 8 GPUs, the cluster has 4");
    cl_job_spec_t wide = {.nodes = 1, .gpus_per_node = 16};
    assert_int_equal(cl_job_submit(c, &wide, 5, NULL, &err), -1);
    assert_string_equal(err.msg, "can never run: needs 1 node of 16 GPUs, the cluster has 0");
    assert_int_equal(cl_job_submit_id(c, &s, 77, 5, &err), -1); /* recovery alike */
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Reasons set in one pass are not reported after the next one if it did not visit the
 * job: a job behind a FIFO block goes back to "higher-priority first". */
static void reasons_expire(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FIFO);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 0, &d);
    cl_jobid_t b = sub(c, 2, 8, 0, 0, 1);
    cl_schedule(c, 1, &d);
    assert_int_equal(pend(c, b).why, CL_PEND_RESOURCES);
    cl_jobid_t hi;
    cl_job_spec_t s = {.nodes = 2, .priority = 5};
    cl_job_submit(c, &s, 2, &hi, NULL);
    cl_schedule(c, 2, &d);
    assert_int_equal(pend(c, hi).why, CL_PEND_RESOURCES);
    assert_int_equal(pend(c, b).why, CL_PEND_PRIORITY);
    (void)a;
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void names(void **st)
{
    for (int i = CL_PEND_NONE; i <= CL_PEND_NODES; i++) {
        const char *n = cl_pend_name((cl_pend_t)i);
        assert_true(n && *n && strcmp(n, "unknown"));
        for (int k = 0; k < i; k++)
            assert_true(strcmp(n, cl_pend_name((cl_pend_t)k)));
    }
    assert_string_equal(cl_pend_name((cl_pend_t)99), "unknown");
    assert_string_equal(cl_pend_name(CL_PEND_RESOURCES), "not enough free GPUs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_priority_resources),
        cmocka_unit_test(reserved_and_held),
        cmocka_unit_test(nodes_and_never),
        cmocka_unit_test(reasons_expire),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
