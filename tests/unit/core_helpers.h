/* core_helpers.h - small builders shared by the core's unit tests (header only). */
#ifndef COLOSSUS_TEST_CORE_HELPERS_H
#define COLOSSUS_TEST_CORE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "colossus/core.h"

static inline cl_cluster_t *mk(uint32_t nodes, uint32_t gpn, uint32_t npd, uint32_t npl,
                               uint32_t lpp, double spares, cl_queue_policy_t pol)
{
    cl_error_t err;
    cl_topo_shape_t s = {nodes, gpn, npd, npl, lpp};
    cl_topo_t *t = cl_topo_create(&s, "n", &err);
    if (!t) fail_msg("topo: %s", err.msg);
    cl_cluster_opts_t o;
    cl_cluster_opts_default(&o);
    o.spare_fraction = spares;
    o.policy = pol;
    cl_cluster_t *c = cl_cluster_create(t, &o, &err);
    if (!c) fail_msg("cluster: %s", err.msg);
    return c;
}

static inline cl_jobid_t sub(cl_cluster_t *c, uint32_t nodes, uint32_t gpn, int32_t prio,
                             double limit, double now)
{
    cl_job_spec_t s = {.nodes = nodes,
                       .gpus_per_node = gpn,
                       .priority = prio,
                       .time_limit_s = limit,
                       .max_restarts = 3};
    cl_jobid_t id;
    cl_error_t err;
    if (cl_job_submit(c, &s, now, &id, &err) < 0) fail_msg("submit: %s", err.msg);
    return id;
}

static inline cl_job_state_t state_of(cl_cluster_t *c, cl_jobid_t id)
{
    cl_job_info_t ji;
    assert_int_equal(cl_job_get(c, id, &ji), 0);
    return ji.state;
}

/* The node of node rank `rank` of running job id. */
static inline cl_nodeid_t node_of(cl_cluster_t *c, cl_jobid_t id, size_t rank)
{
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(c, id, &n);
    assert_non_null(a);
    assert_true(rank < n);
    return a[rank].node;
}

static inline void checked(cl_cluster_t *c)
{
    cl_error_t err;
    if (cl_cluster_check(c, &err) < 0) fail_msg("invariant: %s", err.msg);
}

/* Number of distinct leaves a running job spans. */
static inline uint32_t leaves_of(cl_cluster_t *c, cl_jobid_t id)
{
    size_t n;
    const cl_alloc_t *a = cl_job_alloc(c, id, &n);
    uint32_t seen[4096], ns = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = cl_topo_node_leaf(cl_cluster_topo(c), a[i].node), k = 0;
        while (k < ns && seen[k] != l)
            k++;
        if (k == ns && ns < 4096) seen[ns++] = l;
    }
    return ns;
}

#endif
