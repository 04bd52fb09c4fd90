/* test_sim_parts.c - the simulator's parts: PRNG, event queue, failure sampler (rates
 * recovered within statistical bounds), Young/Daly formulas and the trace CSV reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/sim.h"

static void rng_reproducible(void **st)
{
    cl_rng_t a, b, c;
    cl_rng_seed(&a, 42);
    cl_rng_seed(&b, 42);
    cl_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = cl_rng_next(&a);
        assert_true(x == cl_rng_next(&b));
        differ += x != cl_rng_next(&c);
    }
    assert_true(differ > 990);
    /* the first output for seed 0 pins the algorithm (xoshiro256** over splitmix64) */
    cl_rng_seed(&a, 0);
    uint64_t first = cl_rng_next(&a);
    cl_rng_seed(&b, 0);
    assert_true(first == cl_rng_next(&b));
    assert_true(first != 0);
}

static void rng_distributions(void **st)
{
    cl_rng_t r;
    cl_rng_seed(&r, 7);
    const int n = 200000;
    double sum = 0, sumexp = 0;
    uint32_t bins[10] = {0};
    for (int i = 0; i < n; i++) {
        double u = cl_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        sum += u;
        double e = cl_rng_exp(&r, 5.0);
        assert_true(e >= 0 && isfinite(e));
        sumexp += e;
        uint64_t k = cl_rng_below(&r, 10);
        assert_true(k < 10);
        bins[k]++;
    }
    /* mean of U(0,1): sd of the mean is sqrt(1/12/n) ~ 0.00065 */
    assert_true(fabs(sum / n - 0.5) < 0.004);
    /* mean of Exp(5): sd of the mean is 5/sqrt(n) ~ 0.011 */
    assert_true(fabs(sumexp / n - 5.0) < 0.06);
    for (int k = 0; k < 10; k++) /* expected 20000, sd ~134 */
        assert_true(abs((int)bins[k] - 20000) < 800);
}

static void eventq_order(void **st)
{
    cl_eventq_t q;
    cl_eventq_init(&q);
    cl_event_t e;
    assert_false(cl_eventq_pop(&q, &e));
    assert_null(cl_eventq_peek(&q));
    cl_rng_t r;
    cl_rng_seed(&r, 3);
    const int n = 20000;
    for (int i = 0; i < n; i++) /* coarse times: many ties */
        cl_eventq_push(&q, (double)cl_rng_below(&r, 500), 1, 0, (uint64_t)i, 0);
    double last = -1;
    uint64_t last_b = 0;
    int popped = 0;
    while (cl_eventq_pop(&q, &e)) {
        assert_true(e.t >= last);
        if (e.t == last) /* ties come out in insertion order */
            assert_true(e.b > last_b);
        last = e.t;
        last_b = e.b;
        popped++;
    }
    assert_int_equal(popped, n);
    /* interleaved pushes and pops */
    cl_eventq_push(&q, 5, 0, 0, 1, 0);
    cl_eventq_push(&q, 1, 0, 0, 2, 0);
    assert_int_equal(cl_eventq_peek(&q)->b, 2);
    assert_true(cl_eventq_pop(&q, &e) && e.b == 2);
    cl_eventq_push(&q, 3, 0, 0, 3, 0);
    cl_eventq_push(&q, 5, 0, 0, 4, 0);
    assert_true(cl_eventq_pop(&q, &e) && e.b == 3);
    assert_true(cl_eventq_pop(&q, &e) && e.b == 1);
    assert_true(cl_eventq_pop(&q, &e) && e.b == 4 && e.t == 5);
    assert_false(cl_eventq_pop(&q, &e));
    cl_eventq_free(&q);
}

/* Draw many failures and recover each class's rate: counts within 5 sigma of Poisson. */
static void sampler_rates(void **st)
{
    const uint32_t nodes = 1000, gpn = 8;
    const double scale = 500;
    cl_fail_sampler_t s;
    cl_fail_sampler_init(&s, nodes, gpn, scale);
    cl_rng_t r;
    cl_rng_seed(&r, 11);
    uint64_t count[CL_FAIL_CLASSES] = {0}, low_half = 0;
    const int n = 200000;
    double t = 0;
    cl_fail_draw_t d;
    for (int i = 0; i < n; i++) {
        cl_fail_sample(&s, &r, t, gpn, &d);
        assert_true(d.t > t);
        assert_true(d.node < nodes && d.gpu < gpn && d.cls < CL_FAIL_CLASSES);
        t = d.t;
        count[d.cls]++;
        low_half += d.node < nodes / 2;
    }
    double hours = t / 3600.0;
    double total = 0;
    for (int c = 0; c < CL_FAIL_CLASSES; c++) {
        const cl_fail_class_t *fc = &cl_fail_classes[c];
        double units = fc->per_node ? nodes : (double)nodes * gpn;
        double expect = fc->rate_per_h * units * scale * hours;
        total += expect;
        double rate = (double)count[c] / (units * scale * hours);
        assert_true(fabs((double)count[c] - expect) < 5 * sqrt(expect) + 5);
        /* and the recovered rate per unit-hour is within 5% of the model */
        assert_true(fabs(rate / fc->rate_per_h - 1) < 0.05);
    }
    assert_true(fabs(total - n) < 5 * sqrt(n));
    assert_true(fabs((double)low_half - n / 2.0) < 5 * sqrt(n / 4.0));
    /* the model totals Llama 3's 1.97e-5 per GPU-hour on 8-GPU hosts */
    double per_gpu_h = cl_fail_rate_per_h(16384, 2048, 1.0) / 16384;
    assert_true(fabs(per_gpu_h - 1.973e-5) < 0.01e-5);
    /* and 419 interruptions in 54 days on 16,384 GPUs */
    assert_true(fabs(cl_fail_rate_per_h(16384, 2048, 1.0) * 54 * 24 - 419) < 0.5);
    /* no failures at scale 0 */
    cl_fail_sampler_init(&s, nodes, gpn, 0);
    cl_fail_sample(&s, &r, 0, gpn, &d);
    assert_true(isinf(d.t));
}

/* Issue 16: the colossus policy's detection per class, the network class from the agent's
 * link watch (500 ms poll; tests/integration/net_link.sh measured link lost -> node out in
 * 0.11-0.54 s), and its overrides; the hot-spare reserve of the goodput target. */
static void detection_times(void **st)
{
    cl_sim_config_t c;
    cl_sim_config_default(&c, CL_SIM_COLOSSUS);
    assert_string_equal(cl_fail_classes[CL_FAIL_NETWORK].name, "network");
    double net = cl_sim_detect_s(&c, CL_FAIL_NETWORK);
    assert_true(net >= 0.5 && net <= 1.0);
    for (uint32_t k = 0; k < CL_FAIL_CLASSES; k++)
        if (k != CL_FAIL_NETWORK) assert_true(net < cl_sim_detect_s(&c, k));
    assert_true(c.spares_pct <= 2 && c.hot_spares);
    c.net_detect_s = 60;
    assert_true(cl_sim_detect_s(&c, CL_FAIL_NETWORK) == 60);
    assert_true(cl_sim_detect_s(&c, 0) == cl_fail_classes[0].detect_s);
    c.detect_s = 7;
    for (uint32_t k = 0; k < CL_FAIL_CLASSES; k++)
        assert_true(cl_sim_detect_s(&c, k) == 7);
    cl_sim_config_default(&c, CL_SIM_NAIVE);
    assert_true(cl_sim_detect_s(&c, CL_FAIL_NETWORK) == 600 && c.spares_pct == 5);
}

static void daly_young(void **st)
{
    assert_true(fabs(cl_young_interval(0.59, 11135) - sqrt(2 * 0.59 * 11135)) < 1e-9);
    /* Daly eq. 37 by hand for delta = 60, M = 3600 */
    double x = 60.0 / 7200.0;
    double want = sqrt(2 * 60.0 * 3600) * (1 + sqrt(x) / 3 + x / 9) - 60;
    assert_true(fabs(cl_daly_interval(60, 3600) - want) < 1e-9);
    assert_true(cl_daly_interval(9000, 3600) == 3600);
    /* Daly's interval is near the minimum of the expected wall time */
    double tau = cl_daly_interval(60, 3600);
    double best = cl_daly_walltime_ratio(tau, 60, 3600, 300);
    assert_true(best < cl_daly_walltime_ratio(tau * 0.7, 60, 3600, 300));
    assert_true(best < cl_daly_walltime_ratio(tau * 1.4, 60, 3600, 300));
    /* without failures the only cost is the checkpoint stall */
    assert_true(fabs(cl_daly_walltime_ratio(100, 1, 1e15, 500) - 1.01) < 1e-6);
    /* a closed-form value: M=1000, R=100, tau=200, delta=10 */
    double v = 1000 * exp(0.1) * (exp(0.21) - 1) / 200;
    assert_true(fabs(cl_daly_walltime_ratio(200, 10, 1000, 100) - v) < 1e-12);
}

static int parse(const char *text, const char *cluster, cl_trace_t *t, cl_error_t *err)
{
    return cl_trace_parse(text, strlen(text), "t.csv", cluster, t, err);
}

static void trace_good(void **st)
{
    cl_trace_t t;
    cl_error_t err;
    const char *csv = "job_id,submit_time_s,duration_s,num_gpus,cluster\r\n"
                      "a,100,600,1,c1\r\n"
                      "b,0,1200.5,8,c2\r\n"
                      "\r\n"
                      "c,50,700,64,c1\r\n";
    assert_int_equal(parse(csv, NULL, &t, &err), 0);
    assert_int_equal(t.n, 3);
    assert_true(t.v[0].submit_s == 0 && t.v[0].gpus == 8 && t.v[0].duration_s == 1200.5);
    assert_int_equal(t.v[0].line, 3);
    assert_true(t.v[1].submit_s == 50 && t.v[1].gpus == 64 && t.v[1].line == 5);
    assert_true(t.v[2].submit_s == 100);
    assert_int_equal(t.nclusters, 2);
    assert_string_equal(t.clusters[0], "c1"); /* in order of appearance in the file */
    assert_string_equal(t.clusters[1], "c2");
    assert_true(t.v[0].cluster == 1 && t.v[1].cluster == 0 && t.v[2].cluster == 0);
    cl_trace_free(&t);
    assert_int_equal(parse(csv, "c1", &t, &err), 0);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.v[0].gpus, 64);
    cl_trace_free(&t);
    /* columns in another order, no cluster column, no final newline */
    assert_int_equal(
        parse("num_gpus,job_id,duration_s,submit_time_s\n4,x,10,3", NULL, &t, &err), 0);
    assert_true(t.n == 1 && t.v[0].gpus == 4 && t.v[0].duration_s == 10 &&
                t.v[0].submit_s == 3);
    cl_trace_free(&t);
    cl_trace_free(NULL);
}

static void expect_error(const char *csv, const char *cluster, const char *msg)
{
    cl_trace_t t;
    cl_error_t err;
    memset(&err, 0, sizeof(err));
    assert_int_equal(parse(csv, cluster, &t, &err), -1);
    if (strncmp(err.msg, msg, strlen(msg))) {
        print_error("got '%s', want prefix '%s'\n", err.msg, msg);
        fail();
    }
    assert_null(t.v);
}

static void trace_malformed(void **st)
{
    const char *h = "job_id,submit_time_s,duration_s,num_gpus\n";
    char buf[512];
#define BAD(body, msg)                                                                         \
    do {                                                                                       \
        snprintf(buf, sizeof(buf), "%s%s", h, body);                                           \
        expect_error(buf, NULL, msg);                                                          \
    } while (0)
    BAD("a,0,10,1\nb,zero,10,1\n", "t.csv:3: submit_time_s 'zero' is not a number");
    BAD("a,0,10,1\nb,-5,10,1\n", "t.csv:3: submit_time_s '-5' is not a number >= 0");
    BAD("a,0,0,1\n", "t.csv:2: duration_s '0' is not a number > 0");
    BAD("a,0,abc,1\n", "t.csv:2: duration_s 'abc'");
    BAD("a,0,10,0\n", "t.csv:2: num_gpus '0' is not a whole number >= 1");
    BAD("a,0,10,1.5\n", "t.csv:2: num_gpus '1.5'");
    BAD("a,0,10,\n", "t.csv:2: num_gpus ''");
    BAD("a,0,10\n", "t.csv:2: expected 4 fields as in the header, found 3");
    BAD("a,0,10,1,9\n", "t.csv:2: expected 4 fields as in the header, found 5");
    BAD("a,0,10,1\n\n,1,10,1\n", "t.csv:4: empty job_id");
    BAD("\"a\",0,10,1\n", "t.csv:2: quoted fields are not supported");
    BAD("a,0,1e999,1\n", "t.csv:2: duration_s '1e999'");
    BAD("", "t.csv:1: no jobs in the file");
#undef BAD
    expect_error("", NULL, "t.csv:1: empty file");
    expect_error("\njob_id\n", NULL, "t.csv:1: missing header line");
    expect_error("job_id,submit_time_s,num_gpus\na,1,1\n", NULL,
                 "t.csv:1: header lacks column 'duration_s'");
    expect_error("job_id,submit_time_s,duration_s,num_gpus,num_gpus\n", NULL,
                 "t.csv:1: column 'num_gpus' appears twice");
    expect_error("job_id,submit_time_s,duration_s,num_gpus\na,0,1,1\n", "c1",
                 "t.csv:1: --trace-cluster given but the file has no 'cluster' column");
    expect_error("job_id,submit_time_s,duration_s,num_gpus,cluster\na,0,1,1,c1\n", "c9",
                 "t.csv:2: no jobs of cluster 'c9'");
    const char nul[] = "job_id,submit_time_s,duration_s,num_gpus\na,0,1\0,1\n";
    cl_trace_t t;
    cl_error_t err;
    assert_int_equal(cl_trace_parse(nul, sizeof(nul) - 1, "t.csv", NULL, &t, &err), -1);
    assert_string_equal(err.msg, "t.csv:2: NUL byte in a text file");
}

static void trace_load_file(void **st)
{
    char path[] = "/tmp/test_sim_traceXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *csv = "job_id,submit_time_s,duration_s,num_gpus\na,0,10,1\nb,5,x,1\n";
    assert_int_equal(write(fd, csv, strlen(csv)), (ssize_t)strlen(csv));
    close(fd);
    cl_trace_t t;
    cl_error_t err;
    assert_int_equal(cl_trace_load(path, NULL, &t, &err), -1);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: duration_s 'x' is not a number > 0", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    assert_int_equal(cl_trace_load("/nonexistent/x.csv", NULL, &t, &err), -1);
    assert_string_equal(err.msg, "/nonexistent/x.csv: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rng_reproducible), cmocka_unit_test(rng_distributions),
        cmocka_unit_test(eventq_order),     cmocka_unit_test(sampler_rates),
        cmocka_unit_test(daly_young),       cmocka_unit_test(trace_good),
        cmocka_unit_test(detection_times),  cmocka_unit_test(trace_malformed),
        cmocka_unit_test(trace_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
