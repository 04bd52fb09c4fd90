/* test_sim_run.c - the simulator driving the core: frontier ETTR against the closed form for
 * exponential failures, containment, exact accounting without failures, trace replay with
 * the queue policies, determinism, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim.h"

/* A small HGX cluster with fixed recovery times (so Daly's formula applies exactly) and
 * repairs fast enough that spares never run out. */
static void small(cl_sim_config_t *c, cl_sim_policy_t p)
{
    cl_sim_config_default(c, p);
    c->preset = "hgx";
    c->nodes = 64;
    c->gpus_per_node = 8;
    c->detect_s = 30;
    c->restart_s = 60;
    c->ckpt_interval_s = 600;
    c->ckpt_cost_s = 10;
    c->spares_pct = 10;
    c->replica_gpus = 0;
    c->failure_scale = 100;
    c->repair_scale = 0.01;
    c->days = 200;
}

static void check_sane(const cl_sim_result_t *r)
{
    assert_true(r->utilization >= 0 && r->utilization <= 1 + 1e-9);
    assert_true(r->goodput >= 0 && r->goodput <= r->utilization + 1e-9);
    assert_true(r->useful_gpu_s <= r->alloc_gpu_s * (1 + 1e-9));
    assert_true(r->interruptions <= r->failures * 64);
    assert_int_equal(r->core_refusals, 0);
}

/* Hot-spare restarts in place: ETTR within 0.01 of Daly's expectation (the run sees ~5,000
 * failures; the sampling sd of the ETTR is ~0.002). */
static void frontier_closed_form(void **st)
{
    cl_sim_config_t c;
    small(&c, CL_SIM_COLOSSUS);
    cl_sim_result_t r;
    cl_error_t err;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    check_sane(&r);
    assert_true(r.frontier_interruptions > 3000);
    assert_int_equal(r.frontier_gpus, 57 * 8); /* 64 nodes less 10% spares, rounded up */
    double m = 3600.0 / cl_fail_rate_per_h(57 * 8, 57, 100);
    double want = 1.0 / cl_daly_walltime_ratio(600, 10, m, 30 + 60);
    assert_true(fabs(r.daly_ettr - want) < 1e-9);
    if (fabs(r.ettr - want) > 0.01) {
        print_error("ettr %f, Daly %f\n", r.ettr, want);
        fail();
    }
    assert_true(r.restarts_in_place > 3000 && r.requeues == 0);
    cl_sim_result_free(&r);

    /* the same through the queue (no hot spares): requeued, placed on free nodes */
    c.hot_spares = false;
    c.days = 100;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    check_sane(&r);
    assert_true(r.requeues > 1500 && r.restarts_in_place == 0);
    if (fabs(r.ettr - want) > 0.012) {
        print_error("requeue: ettr %f, Daly %f\n", r.ettr, want);
        fail();
    }
    cl_sim_result_free(&r);

    /* a longer checkpoint interval costs what the formula says it costs */
    c.hot_spares = true;
    c.ckpt_interval_s = 3000;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    double want2 = 1.0 / cl_daly_walltime_ratio(3000, 10, m, 90);
    assert_true(want2 < want - 0.03);
    assert_true(fabs(r.ettr - want2) < 0.012);
    cl_sim_result_free(&r);
}

/* Containment: survivors stall stall_s per failure, one replica is out for restart_s. */
static void frontier_contained(void **st)
{
    cl_sim_config_t c;
    small(&c, CL_SIM_COLOSSUS);
    c.replica_gpus = 57 * 8 / 3 + 1; /* share 0.335 */
    c.stall_s = 20;
    c.restart_s = 300;
    c.ckpt_interval_s = 0; /* auto */
    c.ckpt_cost_s = 1;
    cl_sim_result_t r;
    cl_error_t err;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    check_sane(&r);
    assert_true(r.contained > 3000);
    double m = 3600.0 / cl_fail_rate_per_h(57 * 8, 57, 100);
    double share = (double)c.replica_gpus / (57 * 8);
    double eff = r.ckpt_interval_s / (r.ckpt_interval_s + 1);
    double want = exp(-20 / m) * (1 - share * 300 / m) * eff;
    assert_true(fabs(r.daly_ettr - want) < 1e-9);
    if (fabs(r.ettr - want) > 0.01) {
        print_error("contained: ettr %f, expected %f\n", r.ettr, want);
        fail();
    }
    /* containment beats whole-job restarts with the same recovery times */
    c.replica_gpus = 0;
    cl_sim_result_t w;
    assert_int_equal(cl_sim_run(&c, &w, &err), 0);
    assert_true(r.ettr > w.ettr + 0.05);
    cl_sim_result_free(&r);
    cl_sim_result_free(&w);
}

/* Without failures everything is exact: one launch, then cycles of tau work + delta. */
static void no_failures_exact(void **st)
{
    cl_sim_config_t c;
    small(&c, CL_SIM_NAIVE);
    c.failure_scale = 0;
    c.days = 1;
    cl_sim_result_t r;
    cl_error_t err;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    assert_int_equal(r.failures, 0);
    /* 86400 - 60 (launch) = 86340 s: 141 cycles of 610 s (86010 s), then 330 s of work */
    double work = 141 * 600 + 330;
    assert_true(fabs(r.ettr - work / 86400) < 1e-12);
    assert_int_equal(r.frontier_gpus, 57 * 8);           /* 10% headroom */
    assert_true(fabs(r.utilization - 57.0 / 64) < 1e-9); /* held from t=0, launch included */
    assert_true(fabs(r.goodput - work * 57 / (86400 * 64)) < 1e-9);
    double ef = work * 456 / 86400 * 989e12 * 0.40 / 1e18;
    assert_true(fabs(r.sustained_exaflops - ef) < 1e-12);
    cl_sim_result_free(&r);
    /* the auto interval without failures: no checkpoint within the run, only the launch */
    c.ckpt_interval_s = 0;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    assert_true(fabs(r.ettr - (86400 - 60) / 86400.0) < 1e-12);
    assert_true(r.ckpt_interval_s == 1e9);
    cl_sim_result_free(&r);
}

/* Plot samples are interval averages: they add up to the run's figures. */
static void plot_samples(void **st)
{
    cl_sim_config_t c;
    small(&c, CL_SIM_COLOSSUS);
    c.failure_scale = 0;
    c.days = 2;
    c.plot_points = 96;
    cl_sim_result_t r;
    cl_error_t err;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    assert_int_equal(r.nsamples, 96);
    double u = 0, g = 0;
    for (size_t i = 0; i < r.nsamples; i++) {
        assert_true(fabs(r.samples[i].t - 2 * 86400.0 * (double)(i + 1) / 96) < 1e-6);
        u += r.samples[i].util / 96;
        g += r.samples[i].goodput / 96;
    }
    assert_true(fabs(u - r.utilization) < 1e-9); /* no failures: up GPUs constant */
    /* computing GPU-time = work + checkpoint cycles' stalls excluded, as goodput (to within
     * the work of the last, unfinished cycle) */
    assert_true(fabs(g - r.goodput) < 0.002);
    cl_sim_result_free(&r);
    c.failure_scale = 100;
    c.days = 10;
    c.replica_gpus = 64;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    uint64_t f = 0;
    for (size_t i = 0; i < r.nsamples; i++) {
        f += r.samples[i].failures;
        assert_true(r.samples[i].goodput <= r.samples[i].util + 1e-9);
    }
    assert_int_equal(f, r.failures);
    cl_sim_result_free(&r);
}

/* After every event the core passes its own consistency check and agrees with the simulator
 * on the allocated GPUs: mixed workloads under heavy failure rates, with and without hot
 * spares, both policies, several seeds. */
static void core_consistency(void **st)
{
    for (int k = 0; k < 6; k++) {
        cl_sim_config_t c;
        cl_sim_config_default(&c, k % 2 ? CL_SIM_NAIVE : CL_SIM_COLOSSUS);
        c.preset = k % 3 == 2 ? "nvl72" : "hgx";
        c.nodes = 72;
        c.gpus_per_node = k % 3 == 2 ? 4 : 8;
        c.workload = CL_WL_MIXED;
        c.failure_scale = 300;
        c.repair_scale = 0.05;
        c.days = 3;
        c.seed = (uint64_t)k + 1;
        c.replica_gpus = 64;
        c.spares_pct = 10;
        c.mixed_frontier = 0.5;
        c.hot_spares = k < 4;
        c.check_core = true;
        cl_sim_result_t r;
        cl_error_t err;
        if (cl_sim_run(&c, &r, &err)) {
            print_error("run %d: %s\n", k, err.msg);
            fail();
        }
        assert_true(r.failures > 50 && r.jobs_completed > 5);
        cl_sim_result_free(&r);
    }
}

static cl_trace_t make_trace(const char *csv)
{
    cl_trace_t t;
    cl_error_t err;
    assert_int_equal(cl_trace_parse(csv, strlen(csv), "q.csv", NULL, &t, &err), 0);
    return t;
}

/* Queue policies on a 2-node cluster: a whole-cluster job blocks FIFO; backfill lets a short
 * job through without delaying it. */
static void trace_queue_policies(void **st)
{
    cl_trace_t t = make_trace("job_id,submit_time_s,duration_s,num_gpus\n"
                              "a,0,1000,8\n"   /* one node, 0..1000 */
                              "b,10,1000,16\n" /* both nodes: waits for a */
                              "c,20,500,8\n"); /* fits beside a, ends before a does */
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_NAIVE);
    c.preset = "hgx";
    c.nodes = 2;
    c.gpus_per_node = 8;
    c.workload = CL_WL_TRACE;
    c.trace = &t;
    c.spares_pct = 0;
    c.failure_scale = 0;
    c.restart_s = 0;
    c.ckpt_interval_s = 1e9;
    c.days = 1;
    cl_sim_result_t r;
    cl_error_t err;
    c.queue = CL_POLICY_FIFO;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    assert_int_equal(r.jobs_completed, 3);
    assert_true(r.ettr < 0);
    /* FIFO: a 0-1000, b 1000-2000, c 2000-2500: JCTs 1000, 1990, 2480; waits 0, 990, 1980 */
    assert_true(fabs(r.mean_jct_s - (1000 + 1990 + 2480) / 3.0) < 1e-9);
    assert_true(fabs(r.p99_wait_s - 1980) < 1e-9);
    cl_sim_result_free(&r);
    c.queue = CL_POLICY_BACKFILL;
    assert_int_equal(cl_sim_run(&c, &r, &err), 0);
    /* backfill: c runs 20-520 beside a; b still starts at 1000 */
    assert_int_equal(r.jobs_completed, 3);
    assert_true(fabs(r.mean_jct_s - (1000 + 1990 + 500) / 3.0) < 1e-9);
    assert_true(fabs(r.p99_wait_s - 990) < 1e-9);
    cl_sim_result_free(&r);
    cl_trace_free(&t);

    /* a job larger than the cluster is refused with its line */
    t = make_trace("job_id,submit_time_s,duration_s,num_gpus\na,0,10,8\nb,1,10,64\n");
    assert_int_equal(cl_sim_run(&c, &r, &err), -1);
    assert_string_equal(err.msg, "q.csv:3: job needs 64 GPUs; the simulated cluster has 16");
    cl_trace_free(&t);
}

/* Fair share among the trace's clusters as tenants: a short job of a tenant that has used
 * nothing goes ahead of the queued jobs of a tenant that has; as one tenant it waits. */
static void trace_fairshare_tenants(void **st)
{
    char csv[2048] = "job_id,submit_time_s,duration_s,num_gpus,cluster\n";
    for (int i = 0; i < 10; i++)
        snprintf(csv + strlen(csv), sizeof(csv) - strlen(csv), "a%d,%d,1000,8,A\n", i, i);
    strcat(csv, "b,10,100,8,B\n");
    cl_trace_t t = make_trace(csv);
    assert_int_equal(t.nclusters, 2);
    assert_string_equal(t.clusters[1], "B");
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_NAIVE);
    c.preset = "hgx";
    c.nodes = 1;
    c.gpus_per_node = 8;
    c.workload = CL_WL_TRACE;
    c.trace = &t;
    c.spares_pct = 0;
    c.failure_scale = 0;
    c.restart_s = 0;
    c.ckpt_interval_s = 1e9;
    c.days = 1;
    cl_sim_result_t fs, bf, one;
    cl_error_t err;
    c.trace_tenants = true;
    c.queue = CL_POLICY_FAIRSHARE;
    assert_int_equal(cl_sim_run(&c, &fs, &err), 0);
    c.queue = CL_POLICY_BACKFILL;
    assert_int_equal(cl_sim_run(&c, &bf, &err), 0);
    c.trace_tenants = false;
    c.queue = CL_POLICY_FAIRSHARE;
    assert_int_equal(cl_sim_run(&c, &one, &err), 0);
    assert_int_equal(fs.jobs_completed, 11);
    /* backfill: b ends at 10100 (JCT 10090); fair share: b runs 1000-1100 (JCT 1090) and
     * a1..a9 end 100 s later each: 8100 s less in all */
    assert_true(fabs((bf.mean_jct_s - fs.mean_jct_s) * 11 - 8100) < 1e-6);
    assert_true(fabs(one.mean_jct_s - bf.mean_jct_s) < 1e-9); /* one tenant: no difference */
    assert_int_equal(fs.ntenants, 3);                         /* default, A, B */
    assert_int_equal(one.ntenants, 0);
    cl_sim_result_free(&fs);
    cl_sim_result_free(&bf);
    cl_sim_result_free(&one);
    cl_trace_free(&t);
}

static char *json_of(const cl_sim_config_t *c)
{
    cl_sim_result_t r;
    cl_error_t err;
    assert_int_equal(cl_sim_run(c, &r, &err), 0);
    /* real seconds, not the 10 simulated days; the one field that differs between equal runs */
    assert_true(r.elapsed_s > 0 && r.elapsed_s < 60);
    assert_true(r.sim_s == c->days * 86400);
    r.elapsed_s = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cl_sim_json(f, c, &r);
    fclose(f);
    cl_sim_result_free(&r);
    return buf;
}

/* Same seed and flags: byte-identical JSON (elapsed_s apart); another seed: another run. */
static void determinism(void **st)
{
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_COLOSSUS);
    c.preset = "hgx";
    c.nodes = 256;
    c.gpus_per_node = 8;
    c.workload = CL_WL_MIXED;
    c.failure_scale = 50;
    c.days = 10;
    c.replica_gpus = 256;
    c.plot_points = 50;
    char *a = json_of(&c), *b = json_of(&c);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\"jobs_completed\":"));
    assert_null(strstr(a, "\"jobs_completed\":0,"));
    c.seed = 2;
    char *d = json_of(&c);
    assert_string_not_equal(a, d);
    free(a);
    free(b);
    free(d);
}

static void refusals(void **st)
{
    cl_sim_config_t c;
    cl_sim_result_t r;
    cl_error_t err;
    cl_sim_config_default(&c, CL_SIM_COLOSSUS);
    c.preset = "nope";
    assert_int_equal(cl_sim_run(&c, &r, &err), -1);
    assert_true(strlen(err.msg) > 0);
    cl_sim_config_default(&c, CL_SIM_COLOSSUS);
    c.preset = "hgx";
    c.nodes = 1;
    c.gpus_per_node = 8;
    c.spares_pct = 50;
    assert_int_equal(cl_sim_run(&c, &r, &err), -1);
    assert_non_null(strstr(err.msg, "no nodes left for the frontier job"));
    c.workload = CL_WL_TRACE;
    c.spares_pct = 0;
    assert_int_equal(cl_sim_run(&c, &r, &err), -1);
    assert_string_equal(err.msg, "--workload trace needs --trace FILE.csv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frontier_closed_form),
        cmocka_unit_test(frontier_contained),
        cmocka_unit_test(no_failures_exact),
        cmocka_unit_test(trace_queue_policies),
        cmocka_unit_test(determinism),
        cmocka_unit_test(refusals),
        cmocka_unit_test(trace_fairshare_tenants),
        cmocka_unit_test(plot_samples),
        cmocka_unit_test(core_consistency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
