/* test_core_res.c - CPUs and memory beside GPUs (issue 15, core/res.c): jobs placed only where
 * the node's inventory has room for their --cpus-per-gpu and --mem-per-gpu, the pending reason
 * when only those are missing, a job no reported node could hold refused at submit, nodes
 * without an inventory taking anything, a gang moved off the leaf the GPU index would choose,
 * a hot spare with the CPUs taken, and a randomized run that keeps every node within its
 * inventory. */
#include <stdio.h>

#include "core_helpers.h"

static cl_jobid_t sub_res(cl_cluster_t *c, uint32_t nodes, uint32_t gpn, uint32_t cpg,
                          uint64_t mpg, double now)
{
    cl_job_spec_t s = {.nodes = nodes,
                       .gpus_per_node = gpn,
                       .max_restarts = 3,
                       .cpus_per_gpu = cpg,
                       .mem_per_gpu_mb = mpg};
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

/* After a pass at now: id waits for CPUs or memory, and the counts hold. */
static void waits_cpumem(cl_cluster_t *c, cl_jobid_t id, double now, cl_decisions_t *d)
{
    cl_schedule(c, now, d);
    assert_int_equal(state_of(c, id), CL_JOB_PENDING);
    assert_int_equal(why(c, id), CL_PEND_CPUMEM);
    checked(c);
}

/* CPUs and memory with the placement constraints (--nodelist, --exclude, --exclusive):
 * both hold; a listed node without the CPUs is not taken, the reason says CPUs. */
static void with_constraints(void **st)
{
    cl_cluster_t *c = mk(4, 4, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    for (cl_nodeid_t n = 0; n < 4; n++)
        cl_node_set_inventory(c, n, true, n == 3 ? 16 : 4, 64 * 1024);
    cl_nodeid_t list[2] = {0, 1}, ex[1] = {3};
    cl_jobid_t id;
    cl_error_t err;
    /* 8 CPUs: only node 3 has them, and it is not in its list */
    cl_job_spec_t s = {.nodes = 1,
                       .gpus_per_node = 2,
                       .cpus_per_gpu = 4,
                       .max_restarts = 3,
                       .nodelist = list,
                       .nnodelist = 2};
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), 0);
    waits_cpumem(c, id, 0, &d);
    cl_job_cancel(c, id, 1, NULL);
    /* the same, excluded from node 3: nowhere else */
    s.nodelist = NULL, s.nnodelist = 0, s.exclude = ex, s.nexclude = 1;
    assert_int_equal(cl_job_submit(c, &s, 1, &id, &err), 0);
    waits_cpumem(c, id, 1, &d);
    cl_job_cancel(c, id, 2, NULL);
    /* exclusive, with 8 CPUs: node 3, and nothing else beside it */
    s.exclude = NULL, s.nexclude = 0, s.exclusive = true;
    assert_int_equal(cl_job_submit(c, &s, 2, &id, &err), 0);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, id), CL_JOB_RUNNING);
    assert_int_equal(node_of(c, id, 0), 3);
    cl_jobid_t b = sub_res(c, 1, 1, 1, 0, 2);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_true(node_of(c, b, 0) != 3);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A job goes where its CPUs fit, and the node's use is what its jobs' GPUs ask. */
static void places_by_cpus(void **st)
{
    cl_cluster_t *c = mk(4, 4, 1, 4, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    for (cl_nodeid_t n = 0; n < 4; n++)
        cl_node_set_inventory(c, n, true, n == 2 ? 16 : 4, 64 * 1024);
    cl_jobid_t a = sub_res(c, 1, 2, 4, 1024, 0); /* 8 CPUs: only node 2 */
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(node_of(c, a, 0), 2);
    cl_node_res_t r;
    assert_int_equal(cl_node_inventory(c, 2, &r), 0);
    assert_int_equal(r.cpus, 16);
    assert_int_equal(r.mem_mb, 64 * 1024);
    assert_int_equal(r.cpus_used, 8);
    assert_int_equal(r.mem_used_mb, 2048);
    /* a job that asks nothing is not held back, and holds nothing */
    cl_jobid_t b = sub(c, 1, 2, 0, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_int_equal(cl_node_inventory(c, node_of(c, b, 0), &r), 0);
    assert_true(r.cpus_used <= 8);
    checked(c);
    cl_job_finish(c, a, true, 1, NULL);
    assert_int_equal(cl_node_inventory(c, 2, &r), 0);
    assert_int_equal(r.cpus_used, 0);
    assert_int_equal(cl_node_inventory(c, 99, &r), -1);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Free GPUs but not CPUs (or memory): CL_PEND_CPUMEM, and it starts once they are free. */
static void pending_cpumem(void **st)
{
    cl_cluster_t *c = mk(1, 4, 1, 1, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_node_set_inventory(c, 0, true, 4, 1000);
    cl_jobid_t a = sub_res(c, 1, 1, 3, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    cl_jobid_t b = sub_res(c, 1, 1, 2, 0, 1); /* 3 GPUs free, 1 CPU */
    cl_jobid_t b2 = sub_res(c, 1, 1, 2, 0, 1);
    waits_cpumem(c, b, 1, &d);
    assert_int_equal(why(c, b2), CL_PEND_HELD); /* the one node is b's reservation */
    assert_string_equal(cl_pend_name(CL_PEND_CPUMEM),
                        "not enough free CPUs or memory where its GPUs are free");
    cl_job_finish(c, a, true, 2, NULL); /* room again: both fit (2 + 2 CPUs of 4) */
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, b2), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A job no reported node can hold is refused; a node that reported no inventory, or one
 * that has not reported, does not make anyone refused. */
static void refused_at_submit(void **st)
{
    cl_cluster_t *c = mk(3, 4, 1, 3, 1, 0, CL_POLICY_FAIRSHARE);
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 2, .cpus_per_gpu = 10};
    cl_jobid_t id;
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), 0); /* nobody reported */
    cl_node_set_inventory(c, 0, true, 16, 0);
    cl_node_set_inventory(c, 1, true, 8, 0);
    s.cpus_per_gpu = 8; /* 16 CPUs a node: node 0 has them */
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), 0);
    s.cpus_per_gpu = 10; /* 20 CPUs a node: nobody has them */
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), -1);
    if (!strstr(err.msg, "can never run: needs 20 CPUs and 0 MB of memory on each node (2 "
                         "GPUs x --cpus-per-gpu 10, --mem-per-gpu 0 MB); no node has that "
                         "much (at most 16 CPUs, 0 MB)"))
        fail_msg("%s", err.msg);
    s.cpus_per_gpu = 0;
    s.mem_per_gpu_mb = 1; /* memory: nobody said any, so no limit */
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), 0);
    /* a node that reports none takes anything */
    s.cpus_per_gpu = 10;
    cl_node_set_inventory(c, 2, true, 0, 0);
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), 0);
    /* ... until it is gone (a free slot) */
    cl_node_set_inventory(c, 2, false, 0, 0);
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), -1);
    checked(c);
    cl_cluster_destroy(c);
}

/* The GPU index picks the leaf it likes; its nodes lack CPUs: the gang goes to the leaf
 * whose nodes have them, whole, and never splits an NVLink domain it fits. */
static void slow_path_leaf(void **st)
{
    /* 8 nodes x 4 GPUs, leaves of 4, one pod */
    cl_cluster_t *c = mk(8, 4, 1, 4, 2, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    for (cl_nodeid_t n = 0; n < 8; n++)
        cl_node_set_inventory(c, n, true, n < 4 ? 2 : 32, 0);
    /* a partly used leaf 0 (3 whole nodes left: the best fit for 3) is the index's choice,
     * where CPUs are short */
    cl_nodeid_t busy = 0;
    cl_jobid_t x = sub(c, 1, 1, 0, 0, 0);
    assert_int_equal(cl_job_start_on(c, x, &busy, 1, 1, 0, NULL), 0);
    cl_jobid_t g = sub_res(c, 3, 4, 1, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    assert_int_equal(leaves_of(c, g), 1);
    for (size_t i = 0; i < 3; i++)
        assert_true(node_of(c, g, i) >= 4);
    /* 2 more nodes of leaf 1 do not exist: across leaves is not possible, it waits */
    waits_cpumem(c, sub_res(c, 2, 4, 1, 0, 0), 0, &d);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* NVLink domains: a gang that fits one domain is placed in one, CPUs or not. */
static void slow_path_domain(void **st)
{
    /* 8 nodes x 2 GPUs, domains of 4, one leaf */
    cl_cluster_t *c = mk(8, 2, 4, 8, 1, 0, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    for (cl_nodeid_t n = 0; n < 8; n++) /* domain 0: one node short of CPUs */
        cl_node_set_inventory(c, n, true, n == 1 ? 1 : 8, 0);
    cl_jobid_t g = sub_res(c, 4, 2, 2, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    for (size_t i = 0; i < 4; i++)
        assert_true(node_of(c, g, i) >= 4);            /* domain 1, whole */
    waits_cpumem(c, sub_res(c, 4, 2, 2, 0, 0), 0, &d); /* domain 0 lacks node 1's CPUs */
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A hot-spare restart takes a spare with the CPUs, not the first one. */
static void spare_with_cpus(void **st)
{
    cl_cluster_t *c = mk(4, 4, 1, 4, 1, 0.5, CL_POLICY_FAIRSHARE);
    cl_decisions_t d = {0};
    cl_nodeid_t spares[4], ns = 0, other = 0;
    for (cl_nodeid_t n = 0; n < 4; n++) {
        cl_node_info_t ni;
        cl_node_get(c, n, &ni);
        if (ni.spare) spares[ns++] = n;
    }
    assert_int_equal(ns, 2);
    for (cl_nodeid_t n = 0; n < 4; n++) /* the first spare is short of CPUs */
        cl_node_set_inventory(c, n, true, n == spares[0] ? 1 : 16, 0);
    cl_jobid_t j = sub_res(c, 1, 4, 2, 0, 0);
    cl_schedule(c, 0, &d);
    assert_int_equal(state_of(c, j), CL_JOB_RUNNING);
    cl_nodeid_t on = node_of(c, j, 0);
    assert_int_equal(cl_node_fail(c, on, 1, &d, NULL), 0);
    assert_int_equal(state_of(c, j), CL_JOB_RUNNING);
    other = node_of(c, j, 0);
    assert_int_equal(other, spares[1]);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Random submissions (with and without CPUs and memory), ends, cancels, node failures and
 * recoveries, drains and passes: after each, cl_cluster_check (every node within its
 * inventory, the counts right) holds, and each running job's nodes hold its needs. */
static void randomized(void **st)
{
    cl_cluster_t *c = mk(24, 4, 1, 6, 2, 0.10, CL_POLICY_BACKFILL);
    for (cl_nodeid_t n = 0; n < 24; n++)
        cl_node_set_inventory(c, n, true, 16, 32768);
    uint64_t seed = 15, starts = 0, cpumem = 0, refused = 0, digest = 14695981039346656037ull;
    cl_jobid_t live[512];
    size_t nlive = 0;
    cl_decisions_t d = {0};
    double now = 0;
    for (int ev = 0; ev < 20000; ev++) {
        now += (double)(rng_next(&seed) % 20);
        uint64_t r = rng_next(&seed) % 100;
        cl_decisions_clear(&d);
        if (r < 35 && nlive < 512) {
            cl_job_spec_t s = {.nodes = 1 + (uint32_t)(rng_next(&seed) % 3),
                               .gpus_per_node = 1 + (uint32_t)(rng_next(&seed) % 4),
                               .max_restarts = 2,
                               .time_limit_s = 50 + (double)(rng_next(&seed) % 500)};
            if (rng_next(&seed) % 3) {
                s.cpus_per_gpu = (uint32_t)(rng_next(&seed) % 6);
                s.mem_per_gpu_mb = rng_next(&seed) % 3 ? 0 : 1024 * (rng_next(&seed) % 10);
            }
            cl_jobid_t id;
            bool fits = s.gpus_per_node * s.cpus_per_gpu <= 16 &&
                        s.gpus_per_node * s.mem_per_gpu_mb <= 32768;
            int ok = cl_job_submit(c, &s, now, &id, NULL) == 0;
            if (ok != fits)
                fail_msg("event %d: a job that %s was %s", ev, fits ? "fits" : "does not fit",
                         ok ? "taken" : "refused");
            refused += !ok;
            if (ok) live[nlive++] = id;
        } else if (r < 55 && nlive) {
            size_t i = rng_next(&seed) % nlive;
            cl_job_info_t ji;
            if (cl_job_get(c, live[i], &ji) == 0 && ji.state == CL_JOB_RUNNING)
                cl_job_finish(c, live[i], true, now, NULL);
            else
                cl_job_cancel(c, live[i], now, NULL);
            live[i] = live[--nlive];
        } else if (r < 60) {
            cl_node_fail(c, (cl_nodeid_t)(rng_next(&seed) % 24), now, &d, NULL);
        } else if (r < 66) {
            cl_node_recover(c, (cl_nodeid_t)(rng_next(&seed) % 24), now, NULL);
        } else {
            cl_jobid_t ex[64];
            size_t ne = cl_jobs_expired(c, now, ex, 64);
            for (size_t i = 0; i < ne; i++)
                cl_job_finish(c, ex[i], false, now, NULL);
            cl_schedule(c, now, &d);
            for (size_t i = 0; i < d.n; i++) {
                starts += d.v[i].action == CL_ACT_START;
                digest = (digest ^ (d.v[i].job * 31 + d.v[i].action)) * 1099511628211ull;
            }
            for (size_t i = 0; i < nlive; i++) {
                cl_pending_t p;
                if (cl_job_pending(c, live[i], &p) == 0 && p.why == CL_PEND_CPUMEM) cpumem++;
            }
        }
        /* forget what ended */
        for (size_t i = 0; i < nlive;) {
            cl_job_info_t ji;
            if (cl_job_get(c, live[i], &ji) < 0 ||
                (ji.state != CL_JOB_PENDING && ji.state != CL_JOB_RUNNING))
                live[i] = live[--nlive];
            else
                i++;
        }
        cl_error_t err;
        if (cl_cluster_check(c, &err) < 0) fail_msg("event %d: %s", ev, err.msg);
        for (cl_nodeid_t n = 0; n < 24; n++) {
            cl_node_res_t res;
            cl_node_inventory(c, n, &res);
            if (res.cpus_used > 16 || res.mem_used_mb > 32768)
                fail_msg("event %d: node %u holds %llu CPUs, %llu MB", ev, n,
                         (unsigned long long)res.cpus_used,
                         (unsigned long long)res.mem_used_mb);
        }
    }
    printf("%llu starts, %llu pending for CPUs or memory at a pass, %llu refused; decisions "
           "%016llx\n",
           (unsigned long long)starts, (unsigned long long)cpumem, (unsigned long long)refused,
           (unsigned long long)digest);
    assert_true(starts > 500 && cpumem > 10 && refused > 10);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(places_by_cpus),  cmocka_unit_test(with_constraints),
        cmocka_unit_test(pending_cpumem),  cmocka_unit_test(refused_at_submit),
        cmocka_unit_test(slow_path_leaf),  cmocka_unit_test(slow_path_domain),
        cmocka_unit_test(spare_with_cpus), cmocka_unit_test(randomized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
