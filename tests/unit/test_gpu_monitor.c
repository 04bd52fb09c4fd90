/* test_gpu_monitor.c - the agent's GPU watch against the fake NVML: telemetry passed through,
 * each XID class and counter threshold giving its action, a GPU lost, the driver gone. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu/monitor.h"

static char fake_lib[PATH_MAX];
static char script[64];

static void put(const char *mode, const char *text)
{
    FILE *f = fopen(script, mode);
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char base[] = "gpus 2\n"
                           "gpu 0 uuid GPU-zero\n"
                           "gpu 0 power 400000\n"
                           "gpu 0 temp 55\n"
                           "gpu 0 ecc_corr 0\n"
                           "gpu 0 ecc_unc 0\n"
                           "gpu 1 uuid GPU-one\n"
                           "gpu 1 power 410000\n"
                           "gpu 1 ecc_corr 0\n"
                           "gpu 1 ecc_unc 0\n"
                           "gpu 1 remap_pending 0\n";

static int setup(void **state)
{
    snprintf(script, sizeof(script), "/tmp/test_gpu_monitor.%d", (int)getpid());
    setenv("COLOSSUS_FAKE_NVML", script, 1);
    setenv(CL_NVML_ENV, fake_lib, 1);
    cl_nvml_close();
    put("w", base);
    cl_error_t err;
    cl_gpu_monitor_t *m = cl_gpu_monitor_create(NULL, &err);
    assert_non_null(m);
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    cl_gpu_monitor_destroy(*state);
    cl_nvml_close();
    unlink(script);
    return 0;
}

static cl_gpu_node_health_t h;

static cl_health_action_t poll_at(void **state, double now)
{
    cl_error_t err;
    assert_int_equal(cl_gpu_monitor_poll(*state, now, &h, &err), 0);
    return h.action;
}

static void test_healthy_telemetry(void **state)
{
    const cl_gpu_inv_t *inv;
    assert_int_equal(cl_gpu_monitor_inventory(*state, &inv), 2);
    assert_string_equal(inv[1].uuid, "GPU-one");
    assert_int_equal(poll_at(state, 0), CL_HEALTH_NONE);
    assert_string_equal(h.reason, "");
    assert_int_equal(h.expected, 2);
    assert_int_equal(h.found, 2);
    assert_int_equal(h.nsamples, 2);
    assert_int_equal(h.samples[0].power_mw, 400000);
    assert_int_equal(h.samples[0].temp_c, 55);
    assert_int_equal(h.samples[1].power_mw, 410000);
    assert_int_equal(h.nxids, 0);
    put("a", "gpu 0 power 650000\n");
    poll_at(state, 5); /* now in the instantaneous field; the 1 s average follows */
    assert_int_equal(h.samples[0].power_instant_mw, 650000);
    assert_true(h.samples[0].power_mw >= 400000 && h.samples[0].power_mw < 650000);
}

static void test_fatal_xid(void **state)
{
    poll_at(state, 0);
    put("a", "event 1 79\n");
    assert_int_equal(poll_at(state, 5), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(h.reason, "GPU 1: XID 79 (GPU has fallen off the bus): fatal");
    assert_int_equal(h.nxids, 1);
    assert_int_equal(h.xids[0].xid, 79);
    assert_string_equal(h.xids[0].uuid, "GPU-one");
    assert_int_equal(h.xid_action[0], CL_HEALTH_DRAIN_NOW);
    /* delivered once: the next poll has no new evidence */
    assert_int_equal(poll_at(state, 10), CL_HEALTH_NONE);
    assert_int_equal(h.nxids, 0);
}

static void test_each_xid_class(void **state)
{
    put("a", "event 0 13\n");
    assert_int_equal(poll_at(state, 0), CL_HEALTH_NONE);
    assert_int_equal(h.nxids, 1);
    assert_int_equal(h.xid_action[0], CL_HEALTH_NONE);
    put("a", "event 0 45\n");
    assert_int_equal(poll_at(state, 1), CL_HEALTH_NONE);
    put("a", "event 0 61\n");
    assert_int_equal(poll_at(state, 2), CL_HEALTH_DRAIN_AFTER_JOB);
    put("a", "event 0 12345\n");
    assert_int_equal(poll_at(state, 3), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_non_null(strstr(h.reason, "unknown XID"));
    static const int fatal[] = {48, 63, 64, 74, 79, 92, 94, 95};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        char line[32];
        snprintf(line, sizeof(line), "event 1 %d\n", fatal[i]);
        put("a", line);
        assert_int_equal(poll_at(state, 4 + (double)i), CL_HEALTH_DRAIN_NOW);
    }
    /* several at once: the worst wins, every one is listed */
    put("a", "event 0 13\nevent 1 94\nevent 0 61\n");
    assert_int_equal(poll_at(state, 20), CL_HEALTH_DRAIN_NOW);
    assert_int_equal(h.nxids, 3);
    assert_non_null(strstr(h.reason, "XID 94"));
}

static void test_counters(void **state)
{
    poll_at(state, 0);
    put("a", "gpu 0 ecc_corr 150\n");
    assert_int_equal(poll_at(state, 60), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_non_null(strstr(h.reason, "GPU 0: 150 corrected ECC errors"));
    put("a", "gpu 1 remap_pending 1\n");
    assert_int_equal(poll_at(state, 120), CL_HEALTH_DRAIN_AFTER_JOB);
    put("a", "gpu 1 ecc_unc 1\n");
    assert_int_equal(poll_at(state, 180), CL_HEALTH_DRAIN_NOW);
    assert_string_equal(h.reason, "GPU 1: 1 new uncorrected ECC error(s)");
}

static void test_gpu_lost_and_gone(void **state)
{
    poll_at(state, 0);
    put("a", "gpu 1 lost 1\n");
    assert_int_equal(poll_at(state, 5), CL_HEALTH_DRAIN_NOW);
    assert_int_equal(h.found, 1);
    assert_int_equal(h.samples[1].lost, 1);
    /* NVML now lists a single GPU: the second is missing */
    put("w", "gpus 1\n");
    assert_int_equal(poll_at(state, 10), CL_HEALTH_DRAIN_NOW);
    assert_int_equal(h.found, 1);
    assert_int_equal(h.samples[1].lost, 1);
}

static void test_limits_and_no_driver(void **state)
{
    (void)state;
    cl_health_limits_t lim;
    cl_health_limits_default(&lim);
    lim.temp_after_job_c = 50;
    cl_error_t err;
    cl_gpu_monitor_t *m = cl_gpu_monitor_create(&lim, &err);
    assert_non_null(m);
    void *s2 = m;
    assert_int_equal(poll_at(&s2, 0), CL_HEALTH_DRAIN_AFTER_JOB);
    assert_string_equal(h.reason, "GPU 0: temperature 55 C (limit 50 C)");
    cl_gpu_monitor_destroy(m);
    cl_gpu_monitor_destroy(NULL);
    cl_nvml_close();
    setenv(CL_NVML_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    assert_null(cl_gpu_monitor_create(NULL, &err));
    assert_non_null(strstr(err.msg, "no NVIDIA driver"));
}

int main(void)
{
    const char *env = getenv("COLOSSUS_TEST_FAKE_NVML");
    if (!realpath(env ? env : "build/fakenvml/libnvidia-ml.so.1", fake_lib)) {
        fprintf(stderr, "test_gpu_monitor: fake NVML not built\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy_telemetry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_xid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_xid_class, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpu_lost_and_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_no_driver, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
