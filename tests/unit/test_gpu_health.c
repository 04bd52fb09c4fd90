/* test_gpu_health.c - the GPU health policy: every XID class, every counter threshold, the
 * window, counter resets, inventory and check results; the NVLink domain of a node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/health.h"

static void test_action_names(void **state)
{
    (void)state;
    for (int a = CL_HEALTH_NONE; a <= CL_HEALTH_KEEP_OUT; a++)
        assert_int_equal(cl_health_action_parse(cl_health_action_name((cl_health_action_t)a)),
                         a);
    assert_string_equal(cl_health_action_name(CL_HEALTH_DRAIN_AFTER_JOB), "drain-after-job");
    assert_int_equal(cl_health_action_parse("drain"), -1);
    assert_int_equal(cl_health_action_parse(NULL), -1);
    assert_string_equal(cl_health_action_name((cl_health_action_t)9), "invalid");
    assert_int_equal(cl_health_worst(CL_HEALTH_DRAIN_NOW, CL_HEALTH_DRAIN_AFTER_JOB),
                     CL_HEALTH_DRAIN_NOW);
    assert_int_equal(cl_health_worst(CL_HEALTH_NONE, CL_HEALTH_KEEP_OUT), CL_HEALTH_KEEP_OUT);
    assert_false(cl_health_is_node_failure(CL_HEALTH_NONE));
    assert_false(cl_health_is_node_failure(CL_HEALTH_DRAIN_AFTER_JOB));
    assert_true(cl_health_is_node_failure(CL_HEALTH_DRAIN_NOW));
    assert_true(cl_health_is_node_failure(CL_HEALTH_KEEP_OUT));
}

static void expect_xids(const int *list, size_t n, cl_xid_class_t cls, cl_health_action_t act)
{
    char reason[160];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cl_health_xid_class((uint64_t)list[i]), cls);
        assert_int_equal(cl_health_xid(3, (uint64_t)list[i], reason, sizeof(reason)), act);
        assert_non_null(strstr(reason, "GPU 3: XID "));
        assert_non_null(strstr(reason, cl_health_xid_class_name(cls)));
    }
}

static void test_xid_fatal(void **state)
{
    (void)state;
    static const int fatal[] = {48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140, 154};
    expect_xids(fatal, sizeof(fatal) / sizeof(fatal[0]), CL_XID_FATAL, CL_HEALTH_DRAIN_NOW);
    char reason[160];
    cl_health_xid(0, 79, reason, sizeof(reason));
    assert_string_equal(reason, "GPU 0: XID 79 (GPU has fallen off the bus): fatal");
}

static void test_xid_preventive(void **state)
{
    (void)state;
    static const int prev[] = {32, 38, 57, 61, 121};
    expect_xids(prev, sizeof(prev) / sizeof(prev[0]), CL_XID_PREVENTIVE,
                CL_HEALTH_DRAIN_AFTER_JOB);
}

static void test_xid_app_and_info(void **state)
{
    (void)state;
    static const int app[] = {8, 13, 31, 43, 68, 69};
    expect_xids(app, sizeof(app) / sizeof(app[0]), CL_XID_APP, CL_HEALTH_NONE);
    static const int info[] = {45};
    expect_xids(info, 1, CL_XID_INFO, CL_HEALTH_NONE);
}

static void test_xid_unknown(void **state)
{
    (void)state;
    static const int unknown[] = {0, 1, 200, 999, 65535};
    expect_xids(unknown, sizeof(unknown) / sizeof(unknown[0]), CL_XID_PREVENTIVE,
                CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(cl_health_xid_desc(999), "unknown XID");
    assert_int_equal(cl_health_xid_class(1ull << 40), CL_XID_PREVENTIVE);
    assert_int_equal(cl_health_xid(1, 48, NULL, 0), CL_HEALTH_DRAIN_NOW);
}

static cl_gpu_sample_t ecc_sample(uint64_t corr, uint64_t unc)
{
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.index = 2;
    s.valid = CL_GPU_F_ECC;
    s.ecc_corrected = corr;
    s.ecc_uncorrected = unc;
    return s;
}

struct fixture {
    cl_health_gpu_t st;
    cl_health_limits_t lim;
    char reason[200];
};

static cl_health_action_t feed(struct fixture *f, cl_gpu_sample_t s, double t)
{
    return cl_health_sample(&f->st, &f->lim, &s, t, f->reason, sizeof(f->reason));
}

static void init(struct fixture *f)
{
    cl_health_gpu_init(&f->st);
    cl_health_limits_default(&f->lim);
}

static void test_defaults(void **state)
{
    (void)state;
    cl_health_limits_t l;
    cl_health_limits_default(&l);
    assert_true(l.window_s == 3600);
    assert_int_equal(l.corr_after_job, 100);
    assert_int_equal(l.corr_now, 10000);
    assert_int_equal(l.retired_max, 60);
    assert_int_equal(l.temp_after_job_c, 0);
}

static void test_healthy_and_baseline(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    /* errors that were there before we started watching are the baseline, not growth */
    assert_int_equal(feed(&f, ecc_sample(5000, 3), 0), CL_HEALTH_NONE);
    assert_string_equal(f.reason, "");
    assert_int_equal(feed(&f, ecc_sample(5010, 3), 60), CL_HEALTH_NONE);
}

static void test_uncorrected_growth_drains_now(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    feed(&f, ecc_sample(0, 0), 0);
    assert_int_equal(feed(&f, ecc_sample(0, 1), 5), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(f.reason, "GPU 2: 1 new uncorrected ECC error(s)");
    /* no new ones: healthy again as far as this sample goes (the drain is the caller's state)
     */
    assert_int_equal(feed(&f, ecc_sample(0, 1), 10), CL_HEALTH_NONE);
}

static void test_corrected_thresholds(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    feed(&f, ecc_sample(0, 0), 0);
    assert_int_equal(feed(&f, ecc_sample(99, 0), 60), CL_HEALTH_NONE);
    assert_int_equal(feed(&f, ecc_sample(100, 0), 120), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_non_null(strstr(f.reason, "100 corrected ECC errors in 120 s"));
    assert_int_equal(feed(&f, ecc_sample(9999, 0), 180), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_int_equal(feed(&f, ecc_sample(10000, 0), 240), CL_HEALTH_DRAIN_NOW);
    assert_non_null(strstr(f.reason, "limit 10000 per 3600 s"));
}

/* A steady rate below the limit never trips it, however long it runs; a rate above it does
 * even when it straddles the window's checkpoints. */
static void test_corrected_window_rate(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    uint64_t c = 0;
    for (int min = 0; min <= 48 * 60; min += 5, c += 7) /* 84 per hour */
        assert_int_equal(feed(&f, ecc_sample(c, 0), min * 60.0), CL_HEALTH_NONE);
    init(&f);
    c = 0;
    cl_health_action_t worst = CL_HEALTH_NONE;
    for (int min = 0; min <= 3 * 60; min += 5, c += 10) /* 120 per hour */
        worst = cl_health_worst(worst, feed(&f, ecc_sample(c, 0), min * 60.0));
    assert_int_equal(worst, CL_HEALTH_DRAIN_AFTER_JOB);
}

static void test_counter_reset_rebases(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    feed(&f, ecc_sample(90, 4), 0);
    /* a GPU reset zeroes the volatile counters: neither an alarm nor a negative growth */
    assert_int_equal(feed(&f, ecc_sample(0, 0), 30), CL_HEALTH_NONE);
    assert_int_equal(feed(&f, ecc_sample(50, 0), 60), CL_HEALTH_NONE);
    assert_int_equal(feed(&f, ecc_sample(100, 0), 90), CL_HEALTH_DRAIN_AFTER_JOB);
}

static void test_lost_gpu(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.index = 5;
    s.lost = 1;
    assert_int_equal(feed(&f, s, 0), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(f.reason, "GPU 5: lost (NVML cannot reach it)");
}

static cl_gpu_sample_t remap_sample(uint32_t corr, uint32_t unc, int pending, int failure)
{
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.index = 1;
    s.valid = CL_GPU_F_REMAP;
    s.remap_corr_rows = corr;
    s.remap_unc_rows = unc;
    s.remap_pending = pending;
    s.remap_failure = failure;
    return s;
}

static void test_remap(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    assert_int_equal(feed(&f, remap_sample(2, 1, 0, 0), 0), CL_HEALTH_NONE);
    assert_int_equal(feed(&f, remap_sample(2, 2, 0, 0), 10), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(f.reason, "GPU 1: 1 new row(s) remapped for uncorrectable errors");
    assert_int_equal(feed(&f, remap_sample(2, 2, 1, 0), 20), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(f.reason, "GPU 1: row remap pending, GPU reset needed to activate it");
    assert_int_equal(feed(&f, remap_sample(2, 2, 1, 1), 30), CL_HEALTH_DRAIN_NOW);
    assert_non_null(strstr(f.reason, "row remapping failed"));
    /* pending from the very first sample counts: it needs a reset whatever we saw before */
    init(&f);
    assert_int_equal(feed(&f, remap_sample(0, 0, 1, 0), 0), CL_HEALTH_DRAIN_AFTER_JOB);
}

static void test_retired_pages(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.valid = CL_GPU_F_RETIRED;
    s.retired_sbe = 40;
    s.retired_dbe = 19;
    assert_int_equal(feed(&f, s, 0), CL_HEALTH_NONE);
    s.retired_dbe = 20;
    assert_int_equal(feed(&f, s, 1), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(f.reason, "GPU 0: 60 retired pages (limit 60), repair due");
    s.retired_dbe = 0;
    s.retired_pending = 1;
    assert_int_equal(feed(&f, s, 2), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_non_null(strstr(f.reason, "page retirement pending"));
}

static void test_temperature(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.valid = CL_GPU_F_TEMP;
    s.temp_c = 120;
    assert_int_equal(feed(&f, s, 0), CL_HEALTH_NONE); /* not judged by default */
    f.lim.temp_after_job_c = 90;
    s.temp_c = 89;
    assert_int_equal(feed(&f, s, 1), CL_HEALTH_NONE);
    s.temp_c = 90;
    assert_int_equal(feed(&f, s, 2), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(f.reason, "GPU 0: temperature 90 C (limit 90 C)");
}

/* Fields the GPU did not answer are never judged, whatever they hold. */
static void test_invalid_fields_ignored(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    cl_gpu_sample_t s;
    memset(&s, 0, sizeof(s));
    s.ecc_uncorrected = 50;
    s.remap_failure = 1;
    s.retired_pending = 1;
    s.temp_c = 200;
    f.lim.temp_after_job_c = 90;
    assert_int_equal(feed(&f, s, 0), CL_HEALTH_NONE);
}

/* The worst of several findings wins and names itself. */
static void test_worst_reason_wins(void **state)
{
    (void)state;
    struct fixture f;
    init(&f);
    cl_gpu_sample_t s = ecc_sample(0, 0);
    s.valid |= CL_GPU_F_REMAP;
    feed(&f, s, 0);
    s.ecc_corrected = 150; /* after job */
    s.remap_pending = 1;   /* after job */
    s.ecc_uncorrected = 2; /* now */
    assert_int_equal(feed(&f, s, 10), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(f.reason, "GPU 2: 2 new uncorrected ECC error(s)");
}

static void test_inventory_and_check(void **state)
{
    (void)state;
    char reason[128];
    assert_int_equal(cl_health_inventory(8, 8, reason, sizeof(reason)), CL_HEALTH_NONE);
    assert_string_equal(reason, "");
    assert_int_equal(cl_health_inventory(8, 9, reason, sizeof(reason)), CL_HEALTH_NONE);
    assert_int_equal(cl_health_inventory(8, 7, reason, sizeof(reason)), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(reason, "1 of 8 GPUs missing");
    assert_int_equal(cl_health_inventory(8, -1, reason, sizeof(reason)), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(reason, "8 of 8 GPUs missing");
    assert_int_equal(cl_health_check(1, NULL, reason, sizeof(reason)), CL_HEALTH_NONE);
    assert_int_equal(
        cl_health_check(0, "GPU 1: memory test: 3 bad word(s)", reason, sizeof(reason)),
        CL_HEALTH_KEEP_OUT);
    assert_string_equal(reason, "gpu check failed: GPU 1: memory test: 3 bad word(s)");
    assert_int_equal(cl_health_check(0, "", reason, sizeof(reason)), CL_HEALTH_KEEP_OUT);
    assert_string_equal(reason, "gpu check failed: no reason given");
}

static void test_nvlink_domain(void **state)
{
    (void)state;
    cl_gpu_inv_t g[4];
    memset(g, 0, sizeof(g));
    char key[64] = "x";
    assert_int_equal(cl_gpu_nvlink_domain(g, 4, key, sizeof(key)), 0);
    assert_string_equal(key, "");
    for (int i = 0; i < 4; i++)
        strcpy(g[i].clique, "0123-abcd/7");
    assert_int_equal(cl_gpu_nvlink_domain(g, 4, key, sizeof(key)), 1);
    assert_string_equal(key, "0123-abcd/7");
    strcpy(g[2].clique, "0123-abcd/8");
    assert_int_equal(cl_gpu_nvlink_domain(g, 4, key, sizeof(key)), -1);
    g[2].clique[0] = '\0';
    assert_int_equal(cl_gpu_nvlink_domain(g, 4, key, sizeof(key)), -1);
    assert_int_equal(cl_gpu_nvlink_domain(g, 0, key, sizeof(key)), 0);
    assert_int_equal(cl_gpu_nvlink_domain(g, 2, NULL, 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_xid_fatal),
        cmocka_unit_test(test_xid_preventive),
        cmocka_unit_test(test_xid_app_and_info),
        cmocka_unit_test(test_xid_unknown),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_healthy_and_baseline),
        cmocka_unit_test(test_uncorrected_growth_drains_now),
        cmocka_unit_test(test_corrected_thresholds),
        cmocka_unit_test(test_corrected_window_rate),
        cmocka_unit_test(test_counter_reset_rebases),
        cmocka_unit_test(test_lost_gpu),
        cmocka_unit_test(test_remap),
        cmocka_unit_test(test_retired_pages),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_invalid_fields_ignored),
        cmocka_unit_test(test_worst_reason_wins),
        cmocka_unit_test(test_inventory_and_check),
        cmocka_unit_test(test_nvlink_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
