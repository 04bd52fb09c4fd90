/* test_core_fail.c - node and GPU failures, hot spares, requeue, drain and maintenance. */
#include "core_helpers.h"

/* 2 pods x 2 leaves x 4 nodes, 2 GPUs each; 25% spares = 2 per pod (one per leaf). */
static cl_cluster_t *mk_sp(void)
{
    return mk(16, 2, 1, 4, 2, 0.25, CL_POLICY_FAIRSHARE);
}

static void spares_reserved(void **st)
{
    cl_cluster_t *c = mk_sp();
    cl_stats_t s;
    cl_cluster_stats(c, &s);
    assert_int_equal(s.spares_free, 4);
    assert_int_equal(s.spares_target, 4);
    /* spread: one per leaf, the leaf's last node */
    cl_node_info_t ni;
    for (cl_nodeid_t n = 3; n < 16; n += 4) {
        cl_node_get(c, n, &ni);
        assert_true(ni.spare);
    }
    /* ordinary jobs never take them: 12 nodes usable */
    cl_decisions_t d = {0};
    cl_jobid_t j = sub(c, 13, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, j), CL_JOB_PENDING);
    cl_job_cancel(c, j, 0, NULL);
    j = sub(c, 12, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, j), CL_JOB_RUNNING);
    for (cl_nodeid_t n = 3; n < 16; n += 4) {
        cl_node_get(c, n, &ni);
        assert_true(ni.spare);
        assert_int_equal(ni.njobs, 0);
    }
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void swap_same_leaf_then_pod(void **st)
{
    cl_cluster_t *c = mk_sp();
    cl_decisions_t d = {0};
    cl_jobid_t j = sub(c, 12, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    cl_decisions_clear(&d);
    assert_int_equal(cl_node_fail(c, 1, 10, &d, NULL), 0); /* leaf 0 */
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].action, CL_ACT_RESTART);
    assert_int_equal(d.v[0].node_old, 1);
    assert_int_equal(d.v[0].node_new, 3); /* spare of the same leaf */
    assert_int_equal(d.v[0].incarnation, 2);
    cl_job_info_t ji;
    cl_job_get(c, j, &ji);
    assert_int_equal(ji.restarts, 1);
    assert_int_equal(ji.state, CL_JOB_RUNNING);
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(c, j, &n);
    int has3 = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(a[i].node, 1);
        has3 |= a[i].node == 3;
    }
    assert_true(has3);
    /* leaf 0 has no spare left: the next failure there takes leaf 1's (same pod) */
    cl_decisions_clear(&d);
    cl_node_fail(c, 0, 20, &d, NULL);
    assert_int_equal(d.v[0].action, CL_ACT_RESTART);
    assert_int_equal(d.v[0].node_new, 7);
    /* pod 0 is out of spares: the next failure in pod 0 requeues */
    cl_decisions_clear(&d);
    cl_node_fail(c, 2, 30, &d, NULL);
    assert_int_equal(d.v[0].action, CL_ACT_REQUEUE);
    cl_job_get(c, j, &ji);
    assert_int_equal(ji.state, CL_JOB_PENDING);
    assert_int_equal(ji.restarts, 3);
    checked(c);
    /* max restarts (3) reached: once the nodes are back and it runs, the next failure
     * fails the job */
    for (cl_nodeid_t r = 0; r < 3; r++)
        cl_node_recover(c, r, 35, NULL);
    cl_schedule(c, 40, &d);
    cl_job_get(c, j, &ji);
    assert_int_equal(ji.state, CL_JOB_RUNNING);
    assert_int_equal(ji.incarnation, 4);
    cl_decisions_clear(&d);
    cl_node_fail(c, cl_job_alloc(c, j, &n)[0].node, 50, &d, NULL);
    assert_int_equal(d.v[0].action, CL_ACT_FAIL);
    assert_int_equal(state_of(c, j), CL_JOB_FAILED);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void refill_on_recover(void **st)
{
    cl_cluster_t *c = mk_sp();
    cl_decisions_t d = {0};
    cl_jobid_t j = sub(c, 12, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    cl_node_fail(c, 1, 10, &d, NULL); /* takes spare 3 */
    cl_stats_t s;
    cl_cluster_stats(c, &s);
    assert_int_equal(s.spares_free, 3);
    assert_int_equal(s.nodes_down, 1);
    cl_node_recover(c, 1, 100, NULL); /* comes back: becomes pod 0's spare again */
    cl_cluster_stats(c, &s);
    assert_int_equal(s.spares_free, 4);
    cl_node_info_t ni;
    cl_node_get(c, 1, &ni);
    assert_int_equal(ni.state, CL_NODE_UP);
    assert_true(ni.spare);
    (void)j;
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void gpu_failure(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 4, 0, 0, 0);
    cl_schedule(c, 0, &d);
    size_t n;
    cl_nodeid_t node = cl_job_alloc(c, a, &n)[0].node;
    cl_decisions_clear(&d);
    assert_int_equal(cl_gpu_fail(c, node, 7, 1, &d, NULL), 0); /* an idle GPU */
    assert_int_equal(d.n, 0);
    cl_node_info_t ni;
    cl_node_get(c, node, &ni);
    assert_int_equal(__builtin_popcountll(ni.free), 3);
    assert_int_equal(ni.state, CL_NODE_UP);
    cl_gpu_fail(c, node, 0, 2, &d, NULL); /* the job's GPU: no spares, so requeue */
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].action, CL_ACT_REQUEUE);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    cl_error_t err;
    assert_int_equal(cl_gpu_fail(c, node, 8, 1, &d, &err), -1);
    assert_non_null(strstr(err.msg, "no GPU 8"));
    assert_int_equal(cl_node_fail(c, 99, 1, &d, &err), -1);
    assert_non_null(strstr(err.msg, "no node 99"));
    cl_node_recover(c, node, 4, NULL);
    cl_node_get(c, node, &ni);
    assert_int_equal(ni.failed, 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void drain_states(void **st)
{
    cl_cluster_t *c = mk(2, 8, 1, 2, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_nodeid_t n0 = 0;
    cl_jobid_t a = sub(c, 1, 4, 0, 0, 0);
    cl_job_start_on(c, a, &n0, 1, 1, 0, NULL);
    cl_node_drain(c, 0, 1, NULL);
    cl_node_info_t ni;
    cl_node_get(c, 0, &ni);
    assert_int_equal(ni.state, CL_NODE_DRAINING);
    cl_jobid_t b = sub(c, 1, 4, 0, 0, 1); /* must not land on node 0 */
    cl_schedule(c, 1, &d);
    size_t n;
    assert_int_equal(cl_job_alloc(c, b, &n)[0].node, 1);
    cl_job_finish(c, a, true, 2, NULL);
    cl_node_get(c, 0, &ni);
    assert_int_equal(ni.state, CL_NODE_DRAINED);
    cl_node_maintenance(c, 0, 3, NULL);
    cl_node_get(c, 0, &ni);
    assert_int_equal(ni.state, CL_NODE_MAINT);
    cl_node_resume(c, 0, 4, NULL);
    cl_node_get(c, 0, &ni);
    assert_int_equal(ni.state, CL_NODE_UP);
    cl_stats_t s;
    cl_cluster_stats(c, &s);
    assert_int_equal(s.gpus_free, 12);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spares_reserved),   cmocka_unit_test(swap_same_leaf_then_pod),
        cmocka_unit_test(refill_on_recover), cmocka_unit_test(gpu_failure),
        cmocka_unit_test(drain_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
