/* test_core_power.c - power as a resource in the core: admission at the site, at pods and
 * at leaves,
 * the power pending reason, cuts, measured power, bad figures, and the per-GPU limits. */
#include <math.h>
#include <stdlib.h>

#include "core_helpers.h"

static cl_pend_t why(cl_cluster_t *c, cl_jobid_t id)
{
    cl_pending_t p;
    assert_int_equal(cl_job_pending(c, id, &p), 0);
    return p.why;
}

/* min 200 W, max 700 W, idle 0 (so the figures are the jobs'), a site budget. */
static void power_conf(cl_cluster_t *c, double site_w, double admit)
{
    cl_power_conf_t p;
    cl_power_conf_default(&p);
    p.gpu_idle_w = 0;
    p.site_budget_w = site_w;
    p.admit_frac = admit;
    cl_error_t err;
    if (cl_power_set(c, &p, &err) < 0) fail_msg("power: %s", err.msg);
}

static cl_jobid_t sub_w(cl_cluster_t *c, uint32_t nodes, int32_t prio, double w, double now)
{
    cl_job_spec_t s = {.nodes = nodes, .priority = prio, .power_w = w, .max_restarts = 3};
    cl_jobid_t id;
    cl_error_t err;
    if (cl_job_submit(c, &s, now, &id, &err) < 0) fail_msg("submit: %s", err.msg);
    return id;
}

/* 4 nodes x 8 GPUs; one node at 700 W is 5,600 W. A 12,800 W budget takes two, and one
 * more node at 200 W. */
static void site_admission(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    power_conf(c, 12800, 1);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0), b = sub(c, 1, 8, 0, 0, 0), x = sub(c, 1, 8, 0, 0, 0);
    cl_jobid_t small = sub_w(c, 1, 0, 200, 0); /* 8 x 200 W fits the 1,600 W left */
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, x), CL_JOB_PENDING);
    assert_int_equal(why(c, x), CL_PEND_POWER);
    assert_string_equal(cl_pend_name(CL_PEND_POWER),
                        "its projected power does not fit the power budget");
    assert_int_equal(state_of(c, small), CL_JOB_RUNNING);
    cl_power_level_t lv;
    assert_int_equal(cl_power_level(c, -1, &lv), 0);
    assert_true(fabs(lv.draw_w - 12800) < 1e-6);
    assert_true(fabs(lv.headroom_w) < 1e-6);
    assert_int_equal(lv.gpus_alloc, 24);
    /* a job's end frees its power: the waiting one starts */
    assert_int_equal(cl_job_finish(c, a, true, 2, NULL), 0);
    assert_int_equal(cl_job_finish(c, small, true, 2, NULL), 0);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, x), CL_JOB_RUNNING);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* admit_frac 0.8: jobs count at 80% of their projection: three nodes (3 x 5,600 x 0.8 =
 * 13,440 W) fit a 13,440 W budget, a fourth does not. */
static void oversubscription(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    power_conf(c, 13440, 0.8);
    cl_decisions_t d = {0};
    cl_jobid_t j[4];
    for (int i = 0; i < 4; i++)
        j[i] = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_of(c, j[i]), CL_JOB_RUNNING);
    assert_int_equal(why(c, j[3]), CL_PEND_POWER);
    /* the limits hold the oversubscription: 13,440 W over 24 GPUs = 560 W each */
    cl_power_limit_t *lim;
    int sh = -1;
    size_t n = cl_power_limits(c, &lim, &sh);
    assert_int_equal(n, 3);
    assert_int_equal(sh, 0);
    for (size_t i = 0; i < n; i++)
        assert_true(fabs(lim[i].w - 560) < 1e-6);
    free(lim);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

typedef int budget_set_f(cl_cluster_t *c, uint32_t i, double w, cl_error_t *err);
typedef uint32_t level_of_f(const cl_topo_t *t, cl_nodeid_t n);

static int level_get(const cl_cluster_t *c, bool leaf, uint32_t i, cl_power_level_t *lv)
{
    return leaf ? cl_power_leaf_level(c, i, lv) : cl_power_level(c, i, lv);
}

/* Two pods (or two leaves of one pod) of 2 nodes x 8 GPUs, 6,000 W each, idle 0. */
static cl_cluster_t *two_levels(bool leaf, budget_set_f **set, level_of_f **of)
{
    cl_cluster_t *c = mk(4, 8, 1, leaf ? 2 : 1, 2, 0, CL_POLICY_BACKFILL);
    const cl_topo_t *t = cl_cluster_topo(c);
    assert_int_equal(leaf ? cl_topo_leaves(t) : cl_topo_pods(t), 2);
    *set = leaf ? cl_power_leaf_budget_set : cl_power_pod_budget_set;
    *of = leaf ? cl_topo_node_leaf : cl_topo_node_pod;
    power_conf(c, 0, 1);
    cl_error_t err;
    assert_int_equal((*set)(c, 0, 6000, &err), 0);
    assert_int_equal((*set)(c, 1, 6000, &err), 0);
    return c;
}

/* Two pods (or two leaves of one pod) of two nodes, each holding one node's worth of power:
 * the pass places the second job in the other one, and a third (no room anywhere) waits for
 * power; a two-node gang fits neither until one's budget is lifted, then runs there. */
static void level_admission(bool leaf)
{
    budget_set_f *set;
    level_of_f *of;
    cl_cluster_t *c = two_levels(leaf, &set, &of);
    const cl_topo_t *t = cl_cluster_topo(c);
    cl_error_t err;
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0), b = sub(c, 1, 8, 0, 0, 0), x = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    assert_int_equal(why(c, x), CL_PEND_POWER);
    size_t na, nb;
    const cl_alloc_t *aa = cl_job_alloc(c, a, &na), *ab = cl_job_alloc(c, b, &nb);
    assert_int_not_equal(of(t, aa[0].node), of(t, ab[0].node));
    for (uint32_t p = 0; p < 2; p++) {
        cl_power_level_t lv;
        assert_int_equal(level_get(c, leaf, p, &lv), 0);
        assert_true(fabs(lv.draw_w - 5600) < 1e-6);
        assert_true(fabs(lv.budget_w - 6000) < 1e-6);
        assert_true(fabs(lv.headroom_w - 400) < 1e-6);
        assert_int_equal(lv.gpus, 16);
        assert_int_equal(lv.gpus_alloc, 8);
    }
    cl_power_level_t none;
    assert_int_equal(level_get(c, leaf, 2, &none), -1);
    /* a two-node gang that would put 2 x 5,600 W in either never starts there */
    assert_int_equal(cl_job_cancel(c, x, 2, NULL), 0);
    uint32_t bl = of(t, ab[0].node);
    assert_int_equal(cl_job_finish(c, b, true, 2, NULL), 0);
    cl_jobid_t g = sub(c, 2, 8, 0, 0, 3);
    cl_schedule(c, 4, &d);
    assert_int_equal(why(c, g), CL_PEND_POWER);
    assert_int_equal(set(c, bl, 0, &err), 0); /* none where b was */
    cl_schedule(c, 5, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    size_t ng;
    const cl_alloc_t *ag = cl_job_alloc(c, g, &ng);
    for (size_t i = 0; i < ng; i++)
        assert_int_equal(of(t, ag[i].node), bl);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void pod_admission(void **st)
{
    level_admission(false);
}

static void leaf_admission(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 2, 2, 0, CL_POLICY_BACKFILL);
    assert_int_equal(cl_topo_pods(cl_cluster_topo(c)), 1);
    assert_int_equal(cl_topo_leaf_pod(cl_cluster_topo(c), 1), 0);
    cl_cluster_destroy(c);
    level_admission(true);
}

/* Three leaves of two nodes: a leaf whose budget holds one job has room for no more; a
 * 2-node gang the pass would have put partly there is placed again in the other leaves.
 * The limits: a leaf's budget (after a cut) binds the job in it. */
static void leaf_replace_and_limits(void **st)
{
    cl_cluster_t *c = mk(6, 8, 1, 2, 3, 0, CL_POLICY_BACKFILL);
    const cl_topo_t *t = cl_cluster_topo(c);
    power_conf(c, 0, 1);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    size_t na;
    uint32_t aleaf = cl_topo_node_leaf(t, cl_job_alloc(c, a, &na)[0].node);
    cl_error_t err;
    assert_int_equal(cl_power_leaf_budget_set(c, aleaf, 6000, &err), 0);
    cl_jobid_t g = sub(c, 2, 8, 0, 0, 1);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, g), CL_JOB_RUNNING);
    size_t ng;
    const cl_alloc_t *ag = cl_job_alloc(c, g, &ng);
    for (size_t i = 0; i < ng; i++)
        assert_int_not_equal(cl_topo_node_leaf(t, ag[i].node), aleaf);
    /* the leaf's budget binds a's limit: a 20% cut leaves 4,800 W for its 8 GPUs (600 W);
     * g, where no leaf has a budget, keeps 700 W */
    assert_int_equal(cl_power_cut(c, 20, &err), 0);
    cl_power_limit_t *lim;
    size_t n = cl_power_limits(c, &lim, NULL);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_true(fabs(lim[i].w - (lim[i].job == a ? 600 : 700)) < 1e-6);
    free(lim);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* A cut lowers every budget: new jobs wait, running ones keep going (capped by the
 * limits), and restoring lets the waiting job start. */
static void cut_and_restore(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    power_conf(c, 22400, 1);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 2, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    cl_error_t err;
    assert_int_equal(cl_power_cut(c, 30, &err), 0);
    assert_true(cl_power_cut_pct(c) == 30);
    cl_jobid_t b = sub(c, 1, 8, 0, 0, 2);
    cl_schedule(c, 3, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    assert_int_equal(why(c, b), CL_PEND_POWER);
    cl_power_level_t lv;
    cl_power_level(c, -1, &lv);
    assert_true(fabs(lv.limit_w - 15680) < 1e-6);
    /* the running job's limit: 15,680 W over its 16 GPUs = 980 -> its 700 W projection */
    cl_power_limit_t *lim;
    assert_int_equal(cl_power_limits(c, &lim, NULL), 1);
    assert_true(fabs(lim[0].w - 700) < 1e-6);
    free(lim);
    assert_int_equal(cl_power_cut(c, 60, &err), 0); /* 8,960 W: 560 W each */
    assert_int_equal(cl_power_limits(c, &lim, NULL), 1);
    assert_true(fabs(lim[0].w - 560) < 1e-6);
    free(lim);
    assert_int_equal(cl_power_cut(c, 0, &err), 0);
    cl_schedule(c, 4, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Bad figures are refused with a sentence and change nothing. */
static void bad_values(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 1, 2, 0, CL_POLICY_BACKFILL);
    power_conf(c, 10000, 1);
    cl_error_t err;
    cl_power_conf_t p, before;
    cl_power_get(c, &before);
    p = before;
    p.site_budget_w = 6000; /* 32 GPUs x 200 W = 6,400 W */
    assert_int_equal(cl_power_set(c, &p, &err), -1);
    assert_non_null(strstr(err.msg, "below its 32 GPUs' minimum power limits (6400 W"));
    p = before;
    p.gpu_min_w = 0;
    assert_int_equal(cl_power_set(c, &p, &err), -1);
    p = before;
    p.admit_frac = 0.1;
    assert_int_equal(cl_power_set(c, &p, &err), -1);
    assert_non_null(strstr(err.msg, "admission fraction"));
    p = before;
    p.site_budget_w = NAN;
    assert_int_equal(cl_power_set(c, &p, &err), -1);
    cl_power_get(c, &p);
    assert_true(p.site_budget_w == 10000);
    assert_int_equal(cl_power_cut(c, 101, &err), -1);
    assert_non_null(strstr(err.msg, "between 0% and 100%"));
    assert_int_equal(cl_power_cut(c, -1, &err), -1);
    /* 10,000 W x 0.5 = 5,000 W < 6,400 W */
    assert_int_equal(cl_power_cut(c, 50, &err), -1);
    assert_non_null(strstr(err.msg, "after the cut"));
    assert_true(cl_power_cut_pct(c) == 0);
    assert_int_equal(cl_power_pod_budget_set(c, 0, 3000, &err), -1); /* 16 x 200 */
    assert_non_null(strstr(err.msg, "pod"));
    assert_int_equal(cl_power_pod_budget_set(c, 2, 9000, &err), -1);
    assert_non_null(strstr(err.msg, "no pod 2"));
    /* a leaf (one node, 8 GPUs): below 1,600 W, no such leaf, not a number */
    assert_int_equal(cl_power_leaf_budget_set(c, 0, 1500, &err), -1);
    assert_non_null(
        strstr(err.msg, "leaf leaf00000 budget 1500 W is below its 8 GPUs' minimum"));
    assert_int_equal(cl_power_leaf_budget_set(c, 4, 9000, &err), -1);
    assert_non_null(strstr(err.msg, "no leaf 4"));
    assert_int_equal(cl_power_leaf_budget_set(c, 0, NAN, &err), -1);
    assert_int_equal(cl_power_leaf_budget_set(c, 0, -5, &err), -1);
    cl_power_level_t lv;
    assert_int_equal(cl_power_leaf_level(c, 0, &lv), 0);
    assert_true(lv.budget_w == 0); /* nothing changed */
    /* a cut that would take a leaf's budget below its floor is refused */
    assert_int_equal(cl_power_leaf_budget_set(c, 0, 2000, &err), 0);
    assert_int_equal(cl_power_cut(c, 30, &err), -1);
    assert_non_null(strstr(err.msg, "leaf"));
    assert_true(cl_power_cut_pct(c) == 0);
    /* a stated projection outside the GPUs' limits */
    cl_job_spec_t s = {.nodes = 1, .power_w = 800};
    assert_int_equal(cl_job_submit(c, &s, 0, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "projected power 800 W"));
    s.power_w = 100;
    assert_int_equal(cl_job_submit(c, &s, 0, NULL, &err), -1);
    cl_jobid_t j = sub(c, 1, 8, 0, 0, 0);
    assert_int_equal(cl_job_power_measured(c, j, 0, &err), -1);
    assert_int_equal(cl_job_power_measured(c, j, 900, &err), -1);
    assert_int_equal(cl_job_power_measured(c, 99, 500, &err), -1);
    cl_cluster_destroy(c);
}

/* A measured figure replaces the projection, also for a running job's counters. */
static void measured(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    power_conf(c, 12000, 1);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0), b = sub(c, 1, 8, 0, 0, 0), x = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(why(c, x), CL_PEND_POWER);
    cl_error_t err;
    assert_int_equal(cl_job_power_measured(c, a, 400, &err), 0);
    assert_int_equal(cl_job_power_measured(c, b, 400, &err), 0);
    cl_job_info_t ji;
    cl_job_get(c, a, &ji);
    assert_true(ji.power_w == 400 && ji.power_measured_w == 400);
    cl_power_level_t lv;
    cl_power_level(c, -1, &lv);
    assert_true(fabs(lv.draw_w - 6400) < 1e-6);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, x), CL_JOB_RUNNING);
    assert_int_equal(cl_job_finish(c, a, true, 3, NULL), 0);
    cl_power_level(c, -1, &lv);
    assert_true(fabs(lv.draw_w - 8800) < 1e-6);
    /* b's 400 W is what it is sure of, not its cap: the 3,200 W left raise it to 700 W (a job
     * measured under a cap would otherwise be held there for good) */
    cl_jobid_t run[4] = {0};
    assert_int_equal(cl_jobs_running(c, run, 1), 2); /* the count, one id written */
    assert_int_equal(cl_jobs_running(c, run, 4), 2);
    assert_true((run[0] == b && run[1] == x) || (run[0] == x && run[1] == b));
    cl_power_limit_t *lim = NULL;
    size_t nl = cl_power_limits(c, &lim, NULL);
    assert_int_equal(nl, 2);
    for (size_t i = 0; i < nl; i++)
        assert_true(fabs(lim[i].w - 700) < 1e-6);
    free(lim);
    /* a new class default: the running job on it (x) counts it at once */
    cl_power_conf_t p;
    cl_power_get(c, &p);
    p.default_w = 500;
    assert_int_equal(cl_power_set(c, &p, &err), 0);
    cl_power_level(c, -1, &lv);
    assert_true(fabs(lv.draw_w - (3200 + 4000)) < 1e-6);
    assert_int_equal(cl_job_power_measured(c, x, 650, &err), 0); /* b 400 + x 650 of 12,000 */
    assert_int_equal(cl_power_cut(c, 40, &err), 0); /* 7,200 W: the floors 3,200, 4,000 left */
    nl = cl_power_limits(c, &lim, NULL);
    assert_int_equal(nl, 2); /* evenly to b's 400 W (3,200), the 800 left to x: 500 W */
    for (size_t i = 0; i < nl; i++)
        assert_true(fabs(lim[i].w - (lim[i].job == b ? 400 : 500)) < 1e-6);
    free(lim);
    assert_int_equal(cl_power_cut(c, 0, &err), 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* Ramps: the site's limits grow by the step in all, evenly per GPU; a job at its target
 * leaves its share to the others; a cut is never delayed. */
static void ramp(void **st)
{
    double target[3] = {700, 300, 700}, cur[3] = {200, 200, 650};
    uint64_t gpus[3] = {8, 8, 4};
    /* 20 GPUs below target: +50 each until job 2 is at 700 (1,000 W), +50 more for jobs 0
     * and 1 until job 1 is at 300 (800 W), the 2,200 W left to job 0's 8 GPUs: +275 */
    assert_int_equal(cl_power_ramp(target, gpus, cur, 3, 4000), 1);
    assert_true(fabs(cur[1] - 300) < 1e-9 && fabs(cur[2] - 700) < 1e-9);
    assert_true(fabs(cur[0] - 575) < 1e-9);
    assert_int_equal(cl_power_ramp(target, gpus, cur, 3, 0), 1); /* no time, no change */
    assert_true(fabs(cur[0] - 575) < 1e-9);
    assert_int_equal(cl_power_ramp(target, gpus, cur, 3, 1e6), 0);
    assert_true(fabs(cur[0] - 700) < 1e-9);
    target[0] = 400; /* a cut: at once */
    assert_int_equal(cl_power_ramp(target, gpus, cur, 3, 0), 0);
    assert_true(fabs(cur[0] - 400) < 1e-9);
    (void)st;
}

static double plan1(const cl_power_plan_in_t *in, const cl_power_job_t *jobs, size_t n,
                    double *lim)
{
    cl_error_t err;
    int r = cl_power_plan(in, jobs, n, lim, &err);
    if (r < 0) fail_msg("plan: %s", err.msg);
    return r;
}

/* By priority, then evenly, never below the minimum, pods respected. */
static void plan_priority_even(void **st)
{
    uint32_t p0 = 0, p1 = 1;
    uint64_t g100 = 100, g50 = 50;
    cl_power_job_t jobs[] = {
        {.priority = 10, .want_w = 700, .pods = &p0, .gpus = &g100, .npods = 1},
        {.priority = 0, .want_w = 700, .pods = &p0, .gpus = &g100, .npods = 1},
        {.priority = 0, .want_w = 300, .pods = &p1, .gpus = &g50, .npods = 1},
        {.priority = 0, .want_w = 700, .pods = &p1, .gpus = &g50, .npods = 1},
    };
    double pods[2] = {INFINITY, INFINITY};
    cl_power_plan_in_t in = {.site_w = 150000, .pod_w = pods, .npods = 2, .min_w = 200};
    double lim[4];
    /* floors: 300 GPUs x 200 = 60,000; 90,000 left. Priority 10 takes 50,000 (to 700 W);
     * then 40,000 over 200 GPUs evenly: the 300 W job stops at 300 (5,000), the other two
     * share 35,000 over 150 GPUs: +233.3 */
    assert_true(plan1(&in, jobs, 4, lim) == 0);
    assert_true(fabs(lim[0] - 700) < 1e-6);
    assert_true(fabs(lim[2] - 300) < 1e-6);
    assert_true(fabs(lim[1] - (200 + 35000.0 / 150)) < 1e-6);
    assert_true(fabs(lim[3] - lim[1]) < 1e-6);
    /* a pod budget binds before the site: pod 1's 25,000 W is 100 x 250 W, evenly; the
     * site's rest goes to the job in pod 0 (200 + 50 + 30,000 / 100) */
    pods[1] = 25000;
    assert_true(plan1(&in, jobs, 4, lim) == 0);
    assert_true(fabs(lim[3] - 250) < 1e-6);
    assert_true(fabs(lim[2] - 250) < 1e-6);
    assert_true(fabs(lim[1] - 550) < 1e-6);
    assert_true(fabs(lim[0] - 700) < 1e-6);
    /* budgets below every GPU at its minimum: all at the minimum, reported */
    in.site_w = 50000;
    assert_true(plan1(&in, jobs, 4, lim) == 1);
    for (int i = 0; i < 4; i++)
        assert_true(lim[i] == 200);
    uint32_t bad = 5;
    cl_power_job_t wrong = {.want_w = 700, .pods = &bad, .gpus = &g50, .npods = 1};
    cl_error_t err;
    assert_int_equal(cl_power_plan(&in, &wrong, 1, lim, &err), -1);
    /* a leaf binds before its pod and the site: leaf 0 of pod 1 holds job 3's 50 GPUs at
     * 20,000 W (400 W each); job 2 beside it in pod 1 (another leaf) gets the rest */
    in.site_w = 150000;
    pods[1] = INFINITY;
    uint32_t l0 = 0, l1 = 1;
    double leaves[2] = {20000, INFINITY};
    jobs[2].leaves = &l1, jobs[2].leaf_gpus = &g50, jobs[2].nleaves = 1;
    jobs[3].leaves = &l0, jobs[3].leaf_gpus = &g50, jobs[3].nleaves = 1;
    in.leaf_w = leaves;
    in.nleaves = 2;
    assert_true(plan1(&in, jobs, 4, lim) == 0);
    assert_true(fabs(lim[3] - 400) < 1e-6);
    assert_true(fabs(lim[2] - 300) < 1e-6);
    assert_true(fabs(lim[0] - 700) < 1e-6);
    /* without leaves in the input (nleaves 0) a job naming one is refused */
    in.nleaves = 0;
    assert_int_equal(cl_power_plan(&in, jobs, 4, lim, &err), -1);
    assert_non_null(strstr(err.msg, "no leaf"));
}

static void perf_curve(void **st)
{
    assert_true(cl_power_perf(1.0) == 1.0);
    assert_true(cl_power_perf(1.2) == 1.0);
    /* the measured points (Zeus, A40, BERT): 225 of 300 W keeps 94.02%, 200 W 88.46% */
    assert_true(fabs(cl_power_perf(0.75) - 0.9402) < 1e-9);
    assert_true(fabs(cl_power_perf(2.0 / 3) - 0.8846) < 1e-9);
    assert_true(fabs(cl_power_perf(0.7) -
                     (0.8846 + (0.7 - 2.0 / 3) / (0.75 - 2.0 / 3) * (0.9402 - 0.8846))) < 1e-9);
    assert_true(cl_power_perf(0.8) < cl_power_perf(0.9));
    assert_true(cl_power_perf(0) == 0);
}

/* The floor between runs: GPUs held by the controller's burn count at their hold, not
 * idle, at the site until the hold ends or a job takes them over. */
static void holds_site(void **st)
{
    cl_cluster_t *c = mk(4, 8, 1, 4, 1, 0, CL_POLICY_BACKFILL);
    power_conf(c, 12800, 1);
    cl_error_t err;
    assert_int_equal(cl_power_hold(c, 0, 0xff, 700, &err), 0);
    assert_int_equal(cl_power_hold(c, 1, 0xff, 700, &err), 0);
    uint64_t ng = 0;
    assert_true(fabs(cl_power_held_w(c, &ng) - 11200) < 1e-6);
    assert_int_equal(ng, 16);
    cl_power_level_t lv;
    assert_int_equal(cl_power_level(c, -1, &lv), 0);
    assert_true(fabs(lv.draw_w - 11200) < 1e-6);
    assert_true(fabs(lv.headroom_w - 1600) < 1e-6);
    checked(c);
    /* 11,200 W held + 5,600 W over 12,800 W: the job waits for power (free GPUs else) */
    cl_decisions_t d = {0};
    cl_jobid_t b = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(why(c, b), CL_PEND_POWER);
    /* the holds ramp down to 300 W: 4,800 + 5,600 W fit */
    assert_int_equal(cl_power_hold(c, 0, 0xff, 300, &err), 0);
    assert_int_equal(cl_power_hold(c, 1, 0xff, 300, &err), 0);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    size_t na;
    const cl_alloc_t *ab = cl_job_alloc(c, b, &na);
    /* a job on held GPUs took them over; a GPU a job runs on is never held */
    double want = ab[0].node <= 1 ? 2400 : 4800;
    assert_true(fabs(cl_power_held_w(c, NULL) - want) < 1e-6);
    assert_int_equal(cl_power_hold(c, ab[0].node, 0xff, 700, &err), 0);
    assert_true(fabs(cl_power_held_w(c, NULL) - want) < 1e-6);
    checked(c);
    /* ended (at idle): nothing held */
    assert_int_equal(cl_power_hold(c, 0, 0xff, 0, &err), 0);
    assert_int_equal(cl_power_hold(c, 1, 0xff, 0, &err), 0);
    assert_true(cl_power_held_w(c, &ng) == 0 && ng == 0);
    /* bad input: nothing changed */
    assert_int_equal(cl_power_hold(c, 9, 1, 300, &err), -1);
    assert_non_null(strstr(err.msg, "no node"));
    assert_int_equal(cl_power_hold(c, 0, 1, 701, &err), -1);
    assert_int_equal(cl_power_hold(c, 0, 0x100, 300, &err), -1);
    assert_true(cl_power_held_w(c, NULL) == 0);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

/* The same in pods and leaves: two levels of 2 nodes with 6,000 W each; a node held at
 * 700 W in one leaves it no room, so with the other level full a job waits for power. */
static void holds_level(bool leaf)
{
    budget_set_f *set;
    level_of_f *of;
    cl_cluster_t *c = two_levels(leaf, &set, &of);
    const cl_topo_t *t = cl_cluster_topo(c);
    cl_error_t err;
    uint32_t hl = of(t, 0);
    assert_int_equal(cl_power_hold(c, 0, 0xff, 700, &err), 0);
    cl_power_level_t lv;
    assert_int_equal(level_get(c, leaf, hl, &lv), 0);
    assert_true(fabs(lv.draw_w - 5600) < 1e-6);
    assert_true(fabs(lv.headroom_w - 400) < 1e-6);
    cl_decisions_t d = {0};
    cl_jobid_t a = sub(c, 1, 8, 0, 0, 0), b = sub(c, 1, 8, 0, 0, 0);
    cl_schedule(c, 1, &d);
    assert_int_equal(state_of(c, a), CL_JOB_RUNNING);
    size_t na;
    const cl_alloc_t *aa = cl_job_alloc(c, a, &na);
    assert_int_not_equal(of(t, aa[0].node), hl); /* placed away from the held level */
    assert_int_equal(why(c, b), CL_PEND_POWER);
    checked(c);
    /* the hold ends: b starts in the level that was held */
    assert_int_equal(cl_power_hold(c, 0, 0xff, 0, &err), 0);
    cl_schedule(c, 2, &d);
    assert_int_equal(state_of(c, b), CL_JOB_RUNNING);
    const cl_alloc_t *ab = cl_job_alloc(c, b, &na);
    assert_int_equal(of(t, ab[0].node), hl);
    checked(c);
    cl_decisions_free(&d);
    cl_cluster_destroy(c);
}

static void holds_pod(void **st)
{
    holds_level(false);
}

static void holds_leaf(void **st)
{
    holds_level(true);
}

/* splitmix64: a reproducible stream for the random test */
static uint64_t rnd(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void within_budgets(cl_cluster_t *c, uint32_t npods)
{
    for (int64_t lv = -1; lv < (int64_t)npods; lv++) {
        cl_power_level_t l;
        assert_int_equal(cl_power_level(c, lv, &l), 0);
        if (l.budget_w > 0 && l.headroom_w < -1e-6)
            fail_msg("level %lld: %.1f W drawn, headroom %.1f W", (long long)lv, l.draw_w,
                     l.headroom_w);
    }
    uint32_t nleaves = cl_topo_leaves(cl_cluster_topo(c));
    for (uint32_t f = 0; f < nleaves; f++) {
        cl_power_level_t l;
        assert_int_equal(cl_power_leaf_level(c, f, &l), 0);
        if (l.budget_w > 0 && l.headroom_w < -1e-6)
            fail_msg("leaf %u: %.1f W drawn, headroom %.1f W", f, l.draw_w, l.headroom_w);
    }
}

/* Random gangs of random power over 4 pods with random budgets, ends and node failures (hot
 * spares swap in place, in the same pod): after every pass no level is over its budget, the
 * counters recount exactly, and a job pending for power would not fit its site budget or
 * was refused by a pod. */
static void random_budgets(void **st)
{
    uint64_t seed = 13, power_pending = 0, running = 0;
    for (int round = 0; round < 20; round++) {
        cl_cluster_t *c = mk(64, 8, 1, 4, 4, 0.07, CL_POLICY_BACKFILL);
        uint32_t npods = cl_topo_pods(cl_cluster_topo(c));
        assert_int_equal(npods, 4);
        double site = 64 * 8 * 200 + (double)(rnd(&seed) % (64 * 8 * 500));
        power_conf(c, site, 0.8 + 0.2 * (double)(rnd(&seed) % 3) / 2);
        cl_error_t err;
        for (uint32_t p = 0; p < npods; p++)
            if (rnd(&seed) % 2)
                assert_int_equal(
                    cl_power_pod_budget_set(
                        c, p, 16 * 8 * 200 + (double)(rnd(&seed) % (16 * 8 * 500)), &err),
                    0);
        uint32_t nleaves = cl_topo_leaves(cl_cluster_topo(c)); /* 16 of 4 nodes */
        for (uint32_t f = 0; f < nleaves; f++)
            if (rnd(&seed) % 3 == 0)
                assert_int_equal(
                    cl_power_leaf_budget_set(
                        c, f, 4 * 8 * 200 + (double)(rnd(&seed) % (4 * 8 * 500)), &err),
                    0);
        cl_decisions_t d = {0};
        cl_jobid_t live[512];
        size_t nlive = 0;
        for (int step = 0; step < 300; step++) {
            uint64_t r = rnd(&seed) % 10;
            if (r < 5 && nlive < 512) {
                live[nlive++] = sub_w(c, 1 + (uint32_t)(rnd(&seed) % 6), 0,
                                      200 + (double)(rnd(&seed) % 501), step);
            } else if (r < 8 && nlive) {
                size_t i = rnd(&seed) % nlive;
                if (state_of(c, live[i]) == CL_JOB_RUNNING)
                    cl_job_finish(c, live[i], true, step, NULL);
                else
                    cl_job_cancel(c, live[i], step, NULL);
                live[i] = live[--nlive];
            } else {
                cl_nodeid_t n = (cl_nodeid_t)(rnd(&seed) % 64);
                cl_node_info_t ni;
                cl_node_get(c, n, &ni);
                if (ni.state == CL_NODE_DOWN)
                    cl_node_recover(c, n, step, NULL);
                else
                    cl_node_fail(c, n, step, &d, NULL);
            }
            cl_schedule(c, step + 0.5, &d);
            within_budgets(c, npods);
            checked(c);
            for (size_t i = 0; i < nlive; i++) {
                power_pending +=
                    state_of(c, live[i]) == CL_JOB_PENDING && why(c, live[i]) == CL_PEND_POWER;
                running += state_of(c, live[i]) == CL_JOB_RUNNING;
            }
        }
        cl_decisions_free(&d);
        cl_cluster_destroy(c);
    }
    /* the budgets bound: jobs both ran and waited for power */
    assert_true(power_pending > 1000);
    assert_true(running > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(site_admission),
        cmocka_unit_test(oversubscription),
        cmocka_unit_test(pod_admission),
        cmocka_unit_test(leaf_admission),
        cmocka_unit_test(leaf_replace_and_limits),
        cmocka_unit_test(cut_and_restore),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(measured),
        cmocka_unit_test(ramp),
        cmocka_unit_test(plan_priority_even),
        cmocka_unit_test(perf_curve),
        cmocka_unit_test(holds_site),
        cmocka_unit_test(holds_pod),
        cmocka_unit_test(holds_leaf),
        cmocka_unit_test(random_budgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
