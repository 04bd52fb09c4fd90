/* test_core_constraint.c - --exclusive, --nodelist, --exclude and node reservations in the
 * core: placement, backfill and hot spares honour them, and a job they hold says so. */
#include <stdio.h>

#include "core_helpers.h"

static cl_jobid_t sub_spec(cl_cluster_t *c, cl_job_spec_t s, double now)
{
    cl_jobid_t id;
    cl_error_t err;
    if (s.max_restarts == 0) s.max_restarts = 3;
    if (cl_job_submit(c, &s, now, &id, &err) < 0) fail_msg("submit: %s", err.msg);
    return id;
}

static cl_pending_t pend_of(cl_cluster_t *c, cl_jobid_t id)
{
    cl_pending_t p;
    assert_int_equal(cl_job_pending(c, id, &p), 0);
    return p;
}

static void pass(cl_cluster_t *c, double now)
{
    cl_decisions_t d = {0};
    cl_schedule(c, now, &d);
    cl_decisions_free(&d);
    checked(c);
}

/* No other job joins an exclusive one's node, and it takes only a node without jobs. */
static void exclusive(void **st)
{
    cl_cluster_t *c = mk(2, 4, 1, 2, 1, 0, CL_POLICY_BACKFILL);
    cl_jobid_t a = sub(c, 1, 1, 0, 0, 0);
    pass(c, 0);
    cl_jobid_t b =
        sub_spec(c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .exclusive = 1}, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_int_not_equal(node_of(c, a, 0), node_of(c, b, 0));
    cl_job_info_t ji;
    assert_int_equal(cl_job_get(c, b, &ji), 0);
    assert_true(ji.exclusive);
    /* three more 1-GPU jobs: they share a's node, never b's, and the third waits */
    cl_jobid_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = sub(c, 1, 1, 0, 0, 0);
    pass(c, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(node_of(c, x[i], 0), node_of(c, a, 0));
    assert_int_equal(state_of(c, x[3]), CL_JOB_PENDING);
    /* an exclusive job while every node has a job: it waits, and says why */
    for (int i = 1; i < 4; i++)
        assert_int_equal(cl_job_cancel(c, x[i], 0, NULL), 0);
    cl_jobid_t e =
        sub_spec(c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .exclusive = 1}, 0);
    cl_jobid_t e2 =
        sub_spec(c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .exclusive = 1}, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, e), CL_JOB_PENDING);
    assert_int_equal(pend_of(c, e).why, CL_PEND_RESERVED); /* waits for b's node */
    assert_int_equal(pend_of(c, e2).why, CL_PEND_CONSTRAINT);
    /* b ends: e takes its node */
    assert_int_equal(cl_job_finish(c, b, true, 1, NULL), 0);
    pass(c, 1);
    assert_int_equal(state_of(c, e), CL_JOB_RUNNING);
    cl_cluster_destroy(c);
}

static void nodelist_exclude(void **st)
{
    cl_cluster_t *c = mk(8, 2, 1, 4, 2, 0, CL_POLICY_BACKFILL);
    cl_nodeid_t list[] = {5, 6, 6, 7}, ex[] = {0, 1};
    cl_jobid_t a = sub_spec(
        c, (cl_job_spec_t){.nodes = 2, .gpus_per_node = 2, .nodelist = list, .nnodelist = 4},
        0);
    cl_jobid_t b = sub_spec(
        c, (cl_job_spec_t){.nodes = 4, .gpus_per_node = 2, .exclude = ex, .nexclude = 2}, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    for (size_t i = 0; i < 2; i++)
        assert_true(node_of(c, a, i) >= 5);
    for (size_t i = 0; i < 4; i++)
        assert_true(node_of(c, b, i) >= 2);
    cl_job_info_t ji;
    assert_int_equal(cl_job_get(c, a, &ji), 0);
    assert_int_equal(ji.nnodelist, 3); /* the duplicate dropped */
    /* its list is taken: it waits although nodes 0 and 1 are free, and says why */
    cl_jobid_t w = sub_spec(
        c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 2, .nodelist = list, .nnodelist = 4},
        0);
    cl_jobid_t w2 = sub_spec(
        c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 2, .nodelist = list, .nnodelist = 4},
        0);
    pass(c, 0);
    assert_int_equal(state_of(c, w), CL_JOB_PENDING);
    assert_int_equal(pend_of(c, w).why, CL_PEND_RESERVED); /* the first waits for a's nodes */
    assert_int_equal(state_of(c, w2), CL_JOB_PENDING);
    assert_int_equal(pend_of(c, w2).why, CL_PEND_CONSTRAINT);
    /* refused: a node out of range, a list smaller than the gang */
    cl_nodeid_t bad[] = {3, 99};
    cl_job_spec_t s = {.nodes = 1, .gpus_per_node = 1, .nodelist = bad, .nnodelist = 2};
    cl_jobid_t id;
    cl_error_t err;
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), -1);
    assert_non_null(strstr(err.msg, "node 99"));
    s = (cl_job_spec_t){.nodes = 3, .gpus_per_node = 1, .nodelist = list, .nnodelist = 2};
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), -1);
    assert_non_null(strstr(err.msg, "can never run"));
    cl_nodeid_t most[] = {0, 1, 2, 3, 4, 5, 6};
    s = (cl_job_spec_t){.nodes = 2, .gpus_per_node = 1, .exclude = most, .nexclude = 7};
    assert_int_equal(cl_job_submit(c, &s, 0, &id, &err), -1);
    checked(c);
    cl_cluster_destroy(c);
}

static void resv_add(cl_cluster_t *c, uint64_t id, double start, double end, int32_t tenant,
                     const cl_nodeid_t *nodes, size_t n)
{
    cl_resv_spec_t r = {id, start, end, tenant, nodes, n};
    cl_error_t err;
    if (cl_resv_add(c, &r, &err) < 0) fail_msg("resv: %s", err.msg);
}

/* A maintenance window keeps every job off its nodes while it is open, and before it
 * every job that would run into it; a job without a time limit always would. */
static void window_rules(void **st)
{
    cl_cluster_t *c = mk(2, 1, 1, 2, 1, 0, CL_POLICY_BACKFILL);
    cl_nodeid_t both[] = {0, 1};
    resv_add(c, 7, 100, 200, -1, both, 2);
    assert_true(cl_next_wakeup(c, 0) == 200);
    cl_jobid_t longj = sub(c, 1, 1, 0, 150, 0), nolim = sub(c, 1, 1, 0, 0, 0);
    cl_jobid_t shortj = sub(c, 1, 1, 0, 50, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, shortj), CL_JOB_RUNNING); /* ends at 50, before 100 */
    assert_int_equal(state_of(c, longj), CL_JOB_PENDING);
    assert_int_equal(state_of(c, nolim), CL_JOB_PENDING);
    cl_pending_t p = pend_of(c, longj);
    assert_int_equal(p.why, CL_PEND_RESV);
    assert_int_equal(p.job, 7);
    assert_int_equal(pend_of(c, nolim).why, CL_PEND_RESV);
    assert_int_equal(cl_job_finish(c, shortj, true, 50, NULL), 0);
    /* inside the window: not even a short job */
    cl_jobid_t tiny = sub(c, 1, 1, 0, 10, 120);
    pass(c, 120);
    assert_int_equal(state_of(c, tiny), CL_JOB_PENDING);
    assert_int_equal(pend_of(c, tiny).why, CL_PEND_RESV);
    /* once it has ended, the nodes are everyone's again (first come, first served) */
    pass(c, 200);
    assert_int_equal(state_of(c, longj), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, nolim), CL_JOB_RUNNING);
    assert_true(cl_next_wakeup(c, 200) == CL_TIME_INF);
    assert_int_equal(cl_resv_remove(c, 7), 0);
    assert_int_equal(cl_resv_remove(c, 7), -1);
    cl_cluster_destroy(c);
}

/* Dedicated capacity: only its tenant's jobs (and its sub-tenants') use the nodes, at any
 * time; a delete gives them back. */
static void tenant_window(void **st)
{
    cl_cluster_t *c = mk(2, 1, 1, 2, 1, 0, CL_POLICY_BACKFILL);
    int t = cl_tenant_add(c, "team", 1, NULL);
    assert_true(t > 0);
    cl_nodeid_t n1[] = {1};
    resv_add(c, 3, 0, 1000, t, n1, 1);
    cl_jobid_t o1 = sub(c, 1, 1, 0, 0, 0), o2 = sub(c, 1, 1, 0, 0, 0);
    cl_jobid_t o3 = sub(c, 1, 1, 0, 0, 0);
    pass(c, 10);
    assert_int_equal(state_of(c, o1), CL_JOB_RUNNING);
    assert_int_equal(node_of(c, o1, 0), 0);
    assert_int_equal(state_of(c, o2), CL_JOB_PENDING); /* holds the EASY reservation */
    assert_int_equal(state_of(c, o3), CL_JOB_PENDING);
    assert_int_equal(pend_of(c, o3).why, CL_PEND_RESV);
    assert_int_equal(pend_of(c, o3).job, 3);
    cl_jobid_t mine =
        sub_spec(c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .tenant = t}, 10);
    pass(c, 10);
    assert_int_equal(state_of(c, mine), CL_JOB_RUNNING);
    assert_int_equal(node_of(c, mine, 0), 1);
    assert_int_equal(cl_job_finish(c, mine, true, 20, NULL), 0);
    assert_int_equal(cl_resv_remove(c, 3), 0);
    pass(c, 20);
    assert_int_equal(state_of(c, o2), CL_JOB_RUNNING);
    cl_cluster_destroy(c);
}

/* A pass that stops early once no GPU is left sees the GPUs of the windows it hid for other
 * jobs: the window's tenant's job behind them still starts. */
static void window_not_a_full_cluster(void **st)
{
    cl_error_t err;
    cl_topo_shape_t sh = {3, 1, 1, 3, 1};
    cl_cluster_opts_t o;
    cl_cluster_opts_default(&o);
    o.policy = CL_POLICY_BACKFILL;
    o.backfill_short_max = 1;
    cl_cluster_t *c = cl_cluster_create(cl_topo_create(&sh, "n", &err), &o, &err);
    assert_non_null(c);
    int t = cl_tenant_add(c, "team", 1, NULL);
    cl_jobid_t r0 = sub(c, 1, 1, 0, 100, 0), r1 = sub(c, 1, 1, 0, 100, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, r0), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, r1), CL_JOB_RUNNING);
    cl_nodeid_t free_node = 0;
    while (free_node == node_of(c, r0, 0) || free_node == node_of(c, r1, 0))
        free_node++;
    resv_add(c, 5, 0, 1000, t, &free_node, 1);
    cl_jobid_t a = sub(c, 1, 1, 0, 0, 10);  /* reserves r0's node (EASY) */
    cl_jobid_t s = sub(c, 1, 1, 0, 50, 10); /* a short one: fills the backfill queue */
    cl_jobid_t mine =
        sub_spec(c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .tenant = t}, 10);
    pass(c, 10);
    assert_int_equal(pend_of(c, a).why, CL_PEND_RESERVED);
    assert_int_equal(state_of(c, s), CL_JOB_PENDING);
    assert_int_equal(state_of(c, mine), CL_JOB_RUNNING);
    assert_int_equal(node_of(c, mine, 0), free_node);
    cl_cluster_destroy(c);
}

/* The reservation a job's reason names is one on nodes it may use. */
static void reason_names_its_window(void **st)
{
    cl_cluster_t *c = mk(2, 1, 1, 2, 1, 0, CL_POLICY_BACKFILL);
    cl_nodeid_t n0 = 0, n1 = 1;
    resv_add(c, 1, 100, 200, -1, &n0, 1);
    resv_add(c, 2, 100, 200, -1, &n1, 1);
    cl_jobid_t j = sub_spec(
        c, (cl_job_spec_t){.nodes = 1, .gpus_per_node = 1, .nodelist = &n1, .nnodelist = 1}, 0);
    pass(c, 0);
    cl_pending_t p = pend_of(c, j);
    assert_int_equal(p.why, CL_PEND_RESV);
    assert_int_equal(p.job, 2);
    cl_cluster_destroy(c);
}

/* EASY backfill does not put a job into a window it would run into. */
static void backfill_window(void **st)
{
    cl_cluster_t *c = mk(4, 1, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    cl_jobid_t run = sub(c, 2, 1, 5, 1000, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, run), CL_JOB_RUNNING);
    cl_nodeid_t n3[1];
    for (n3[0] = 0; n3[0] == node_of(c, run, 0) || n3[0] == node_of(c, run, 1); n3[0]++)
        ;
    resv_add(c, 9, 100, 200, -1, n3, 1); /* one of the two free nodes */
    /* reserved: waits for run (shadow 1000); short, so no window stops its reservation */
    cl_jobid_t big = sub(c, 4, 1, 5, 10, 0);
    cl_jobid_t bf1 = sub(c, 1, 1, 0, 500, 0), bf2 = sub(c, 1, 1, 0, 500, 0);
    pass(c, 0);
    assert_int_equal(state_of(c, big), CL_JOB_PENDING);
    assert_int_equal(state_of(c, bf1), CL_JOB_RUNNING); /* backfilled on a free node, */
    assert_int_not_equal(node_of(c, bf1, 0), n3[0]);    /* not the one in the window */
    assert_int_equal(state_of(c, bf2), CL_JOB_PENDING);
    size_t nb;
    cl_backfilled(c, &nb);
    assert_int_equal(nb, 1);
    cl_cluster_destroy(c);
}

/* A hot spare in a window the job would run into is not swapped in: it requeues. */
static void spare_window(void **st)
{
    for (int with = 0; with < 2; with++) {
        cl_cluster_t *c = mk(3, 1, 1, 3, 1, 0.34, CL_POLICY_BACKFILL);
        cl_jobid_t j = sub(c, 2, 1, 0, 0, 0);
        pass(c, 0);
        assert_int_equal(state_of(c, j), CL_JOB_RUNNING);
        cl_nodeid_t spare = 2;
        cl_node_info_t ni;
        assert_int_equal(cl_node_get(c, spare, &ni), 0);
        assert_true(ni.spare);
        if (with) resv_add(c, 1, 50, 60, -1, &spare, 1);
        cl_decisions_t d = {0};
        assert_int_equal(cl_node_fail(c, node_of(c, j, 0), 10, &d, NULL), 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.v[0].action, with ? CL_ACT_REQUEUE : CL_ACT_RESTART);
        cl_decisions_free(&d);
        checked(c);
        cl_cluster_destroy(c);
    }
}

static void resv_refused(void **st)
{
    cl_cluster_t *c = mk(4, 1, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    cl_nodeid_t ok[] = {1}, bad[] = {4};
    cl_error_t err;
    cl_resv_spec_t r = {1, 10, 10, -1, ok, 1};
    assert_int_equal(cl_resv_add(c, &r, &err), -1); /* empty window */
    r = (cl_resv_spec_t){1, 10, 20, -1, bad, 1};
    assert_int_equal(cl_resv_add(c, &r, &err), -1);
    assert_non_null(strstr(err.msg, "node 4"));
    r = (cl_resv_spec_t){1, 10, 20, 5, ok, 1};
    assert_int_equal(cl_resv_add(c, &r, &err), -1);
    r = (cl_resv_spec_t){1, 10, 20, -1, ok, 0};
    assert_int_equal(cl_resv_add(c, &r, &err), -1);
    r = (cl_resv_spec_t){1, 10, 20, -1, ok, 1};
    assert_int_equal(cl_resv_add(c, &r, &err), 0);
    assert_int_equal(cl_resv_add(c, &r, &err), -1); /* the id is taken */
    assert_int_equal(cl_resv_count(c), 1);
    cl_cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exclusive),
        cmocka_unit_test(nodelist_exclude),
        cmocka_unit_test(window_rules),
        cmocka_unit_test(tenant_window),
        cmocka_unit_test(backfill_window),
        cmocka_unit_test(spare_window),
        cmocka_unit_test(window_not_a_full_cluster),
        cmocka_unit_test(reason_names_its_window),
        cmocka_unit_test(resv_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
