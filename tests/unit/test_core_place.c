/* test_core_place.c - gang placement: all or nothing, fewest switches, domains, best fit. */
#include "core_helpers.h"

static void gang_all_or_nothing(void **st)
{
    cl_cluster_t *c = mk(8, 4, 1, 4, 2, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 6, 4, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    cl_jobid_t b = sub(c, 3, 4, 0, 0, 1); /* only 2 nodes left: must not start partly */
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, b), CL_JOB_PENDING);
    size_t n;
    assert_null(cl_job_alloc(c, b, &n));
    cl_stats_t s;
    cl_cluster_stats(c, &s);
    assert_int_equal(s.gpus_alloc, 24);
    cl_job_finish(c, a, true, 2, NULL);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void fewest_leaves(void **st)
{
    /* 4 leaves of 4 nodes, 2 leaves per pod. */
    cl_cluster_t *c = mk(16, 2, 1, 4, 2, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    /* Occupy one node in each of leaves 0, 1 and 2: leaf 3 stays whole. */
    cl_nodeid_t busy[] = {0, 4, 8};
    for (int i = 0; i < 3; i++) {
        cl_jobid_t j = sub(c, 1, 2, 0, 0, 0);
        assert_int_equal(cl_job_start_on(c, j, &busy[i], 1, 1, 0, NULL), 0);
    }
    cl_jobid_t g = sub(c, 4, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    assert_int_equal(leaves_of(c, g), 1); /* the whole leaf, not 3 partial ones */
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(c, g, &n);
    assert_int_equal(cl_topo_node_leaf(cl_cluster_topo(c), a[0].node), 3);
    /* 6 nodes: a 3-node leaf and a 3-node leaf of the same pod beat crossing pods. */
    cl_jobid_t h = sub(c, 6, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    assert_int_equal(leaves_of(c, h), 2);
    a = cl_job_alloc(c, h, &n);
    uint32_t pod = cl_topo_node_pod(cl_cluster_topo(c), a[0].node);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cl_topo_node_pod(cl_cluster_topo(c), a[i].node), pod);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void max_switches(void **st)
{
    cl_cluster_t *c = mk(8, 2, 1, 4, 2, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_nodeid_t n0 = 0;
    cl_jobid_t j = sub(c, 1, 2, 0, 0, 0);
    assert_int_equal(cl_job_start_on(c, j, &n0, 1, 1, 0, NULL), 0);
    cl_nodeid_t n4 = 4;
    j = sub(c, 1, 2, 0, 0, 0);
    assert_int_equal(cl_job_start_on(c, j, &n4, 1, 1, 0, NULL), 0);
    cl_job_spec_t s = {.nodes = 4, .max_switches = 1};
    cl_jobid_t g;
    assert_int_equal(cl_job_submit(c, &s, 0, &g, NULL), 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g), CL_JOB_PENDING); /* 6 free, but 3 per leaf */
    /* (g now holds a reservation on a whole leaf; without it g2 may start) */
    assert_int_equal(cl_job_cancel(c, g, 0, NULL), 0);
    s.max_switches = 2;
    cl_jobid_t g2;
    assert_int_equal(cl_job_submit(c, &s, 0, &g2, NULL), 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g2), CL_JOB_RUNNING);
    assert_int_equal(leaves_of(c, g2), 2);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void domain_never_split(void **st)
{
    /* NVL-style: domains of 4 nodes x 4 GPUs, two domains per leaf. */
    cl_cluster_t *c = mk(8, 4, 4, 8, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_nodeid_t a[] = {0, 1}, b[] = {4};
    cl_jobid_t x = sub(c, 2, 4, 0, 0, 0), y = sub(c, 1, 4, 0, 0, 0);
    assert_int_equal(cl_job_start_on(c, x, a, 2, 1, 0, NULL), 0);
    assert_int_equal(cl_job_start_on(c, y, b, 1, 1, 0, NULL), 0);
    /* 5 free nodes (2 + 3) but no domain has 4: a 4-node job fits a domain, so waits. */
    cl_jobid_t g = sub(c, 4, 4, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g), CL_JOB_PENDING);
    /* A 3-node job goes to the domain with exactly 3 free (best fit). */
    cl_jobid_t h = sub(c, 3, 4, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, h), CL_JOB_RUNNING);
    size_t n;
    const cl_alloc_t *al = cl_job_alloc(c, h, &n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cl_topo_node_domain(cl_cluster_topo(c), al[i].node), 1);
    cl_job_finish(c, y, true, 1, NULL);
    cl_schedule(c, 1, &d); /* domain 1 now has 1 free, domain 0 has 2: still waits */
    assert_int_equal(state_of(c, g), CL_JOB_PENDING);
    cl_job_finish(c, x, true, 2, NULL);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    al = cl_job_alloc(c, g, &n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cl_topo_node_domain(cl_cluster_topo(c), al[i].node), 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void best_fit_packs(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 6, 0, 0, 0); /* leaves 2 free on its node */
    cl_schedule(c, 0, &d);
    cl_jobid_t b = sub(c, 1, 2, 0, 0, 0); /* must go onto that node, not a fresh one */
    cl_schedule(c, 0, &d);
    size_t n;
    cl_nodeid_t na = cl_job_alloc(c, a, &n)[0].node, nb = cl_job_alloc(c, b, &n)[0].node;
    assert_int_equal(na, nb);
    cl_stats_t s;
    cl_cluster_stats(c, &s);
    assert_int_equal(s.gpus_free, 24);
    /* total-GPU requests: 16 GPUs -> 2 whole nodes; 3 GPUs -> 1 node x 3; 12 refused */
    cl_job_spec_t sp = {.gpus = 16};
    cl_jobid_t g;
    assert_int_equal(cl_job_submit(c, &sp, 0, &g, NULL), 0);
    cl_job_info_t ji;
    cl_job_get(c, g, &ji);
    assert_int_equal(ji.nodes, 2);
    assert_int_equal(ji.gpus_per_node, 8);
    sp.gpus = 3;
    assert_int_equal(cl_job_submit(c, &sp, 0, &g, NULL), 0);
    cl_job_get(c, g, &ji);
    assert_int_equal(ji.nodes, 1);
    assert_int_equal(ji.gpus_per_node, 3);
    cl_error_t err;
    sp.gpus = 12;
    assert_int_equal(cl_job_submit(c, &sp, 0, &g, &err), -1);
    assert_non_null(strstr(err.msg, "whole number of nodes"));
    cl_job_spec_t big = {.nodes = 5};
    assert_int_equal(cl_job_submit(c, &big, 0, &g, &err), -1);
    assert_non_null(strstr(err.msg, "cluster has 4"));
    cl_job_spec_t none = {0};
    assert_int_equal(cl_job_submit(c, &none, 0, &g, &err), -1);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gang_all_or_nothing), cmocka_unit_test(fewest_leaves),
        cmocka_unit_test(max_switches),        cmocka_unit_test(domain_never_split),
        cmocka_unit_test(best_fit_packs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
