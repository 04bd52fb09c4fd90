/* test_agent_health.c - the agent's GPU health against the fake NVML on a private libuv loop:
 * polls off the loop reach the report (telemetry, XIDs with their actions), the action latches
 * and is repeated, a rank-failure poll runs after one already in flight, the NVLink domain,
 * pre-job holds when none is configured, no driver, destroy with a poll in flight. */
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

#include "agent/agent_health.h"
#include "gpu/nvml.h"

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
                           "gpu 0 fabric_state 3\n"
                           "gpu 0 fabric_status 0\n"
                           "gpu 0 fabric_cluster 00112233445566778899aabbccddeeff\n"
                           "gpu 0 fabric_clique 5\n"
                           "gpu 1 uuid GPU-one\n"
                           "gpu 1 power 410000\n"
                           "gpu 1 ecc_corr 0\n"
                           "gpu 1 ecc_unc 0\n"
                           "gpu 1 fabric_state 3\n"
                           "gpu 1 fabric_status 0\n"
                           "gpu 1 fabric_cluster 00112233445566778899aabbccddeeff\n"
                           "gpu 1 fabric_clique 5\n";

typedef struct fixture {
    uv_loop_t loop;
    ag_health_t *h;
    int urgent, ready, polled;
} fixture_t;

static void on_urgent(void *arg)
{
    ((fixture_t *)arg)->urgent++;
}

static void on_ready(void *arg)
{
    ((fixture_t *)arg)->ready++;
}

static void on_polled(void *arg)
{
    ((fixture_t *)arg)->polled++;
}

static int setup(void **state)
{
    snprintf(script, sizeof(script), "/tmp/test_agent_health.%d", (int)getpid());
    setenv("COLOSSUS_FAKE_NVML", script, 1);
    setenv(CL_NVML_ENV, fake_lib, 1);
    cl_nvml_close();
    put("w", base);
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    ag_health_opts_t o = {
        .at_start = AG_CHECK_OFF, .before_job = AG_CHECK_OFF, .poll_ms = 3600000};
    cl_error_t err;
    f->h = ag_health_create(&f->loop, &o, on_urgent, f, &err);
    assert_non_null(f->h);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ag_health_destroy(f->h);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* closes the handles, frees the monitor */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    cl_nvml_close();
    unlink(script);
    return 0;
}

/* Run the loop until a poll requested now has completed. */
static void poll_now(fixture_t *f)
{
    int before = f->polled;
    ag_health_poll_then(f->h, on_polled, f);
    while (f->polled == before)
        uv_run(&f->loop, UV_RUN_ONCE);
}

static void test_telemetry_report(void **state)
{
    fixture_t *f = *state;
    const struct cl_gpu_inv *inv;
    assert_int_equal(ag_health_inventory(f->h, &inv), 2);
    ag_health_start(f->h, on_ready, f);
    assert_int_equal(f->ready, 1); /* no start-up check configured: ready at once */
    poll_now(f);
    Colossus__NodeHealth *r = ag_health_report(f->h, 7, false);
    assert_non_null(r);
    assert_int_equal(r->node, 7);
    assert_string_equal(r->action, "none");
    assert_int_equal(r->gpus_expected, 2);
    assert_int_equal(r->gpus_found, 2);
    assert_int_equal(r->n_gpus, 2);
    assert_int_equal(r->gpus[0]->power_mw, 400000);
    assert_int_equal(r->gpus[0]->temp_c, 55);
    assert_true(r->gpus[0]->valid & CL_GPU_F_TEMP);
    assert_false(r->gpus[1]->valid & CL_GPU_F_TEMP); /* the script gives GPU 1 no temperature */
    assert_int_equal(r->gpus[1]->power_mw, 410000);
    assert_string_equal(r->check, "");
    assert_int_equal(r->n_xids, 0);
    ag_health_report_free(r);
    /* Nothing new until the next poll, unless forced (registration). */
    assert_null(ag_health_report(f->h, 7, false));
    r = ag_health_report(f->h, 7, true);
    assert_non_null(r);
    ag_health_report_free(r);
    assert_int_equal(f->urgent, 0);
}

static void test_xid_latches(void **state)
{
    fixture_t *f = *state;
    ag_health_start(f->h, on_ready, f);
    poll_now(f);
    ag_health_report_free(ag_health_report(f->h, 1, false));
    put("a", "event 1 13\nevent 0 79\n");
    poll_now(f);
    assert_int_equal(f->urgent, 1); /* worse: the controller must hear it now */
    Colossus__NodeHealth *r = ag_health_report(f->h, 1, false);
    assert_non_null(r);
    assert_string_equal(r->action, "drain-now");
    assert_non_null(strstr(r->reason, "GPU 0: XID 79"));
    assert_int_equal(r->n_xids, 2);
    assert_int_equal(r->xids[0]->gpu, 1);
    assert_int_equal(r->xids[0]->xid, 13);
    assert_string_equal(r->xids[0]->action, "none");
    assert_int_equal(r->xids[1]->xid, 79);
    assert_string_equal(r->xids[1]->action, "drain-now");
    ag_health_report_free(r);
    /* The next poll finds nothing new, yet the latched action is repeated; XIDs are not. */
    poll_now(f);
    r = ag_health_report(f->h, 1, false);
    assert_non_null(r);
    assert_string_equal(r->action, "drain-now");
    assert_int_equal(r->n_xids, 0);
    ag_health_report_free(r);
    /* A preventive XID does not lower it, nor call for an urgent report. */
    put("a", "event 0 32\n");
    poll_now(f);
    assert_int_equal(f->urgent, 1);
    r = ag_health_report(f->h, 1, false);
    assert_string_equal(r->action, "drain-now");
    assert_int_equal(r->n_xids, 1);
    assert_string_equal(r->xids[0]->action, "drain-after-job");
    ag_health_report_free(r);
}

static void test_poll_after_poll_in_flight(void **state)
{
    fixture_t *f = *state;
    ag_health_start(f->h, on_ready, f); /* starts a poll at once (timer at 0 ms) */
    uv_run(&f->loop, UV_RUN_NOWAIT);    /* the timer fires: a poll is in flight */
    put("a", "gpu 1 lost 1\n");         /* the rank dies of it now */
    poll_now(f);
    assert_int_equal(f->polled, 1);
    Colossus__NodeHealth *r = ag_health_report(f->h, 1, false);
    assert_non_null(r);
    assert_string_equal(r->action, "drain-now");
    assert_int_equal(r->gpus_found, 1);
    assert_true(r->gpus[1]->lost);
    ag_health_report_free(r);
}

static void test_domain_and_holds(void **state)
{
    fixture_t *f = *state;
    char key[80];
    assert_int_equal(ag_health_nvlink_domain(f->h, key, sizeof key), 1);
    assert_string_equal(key, "00112233-4455-6677-8899-aabbccddeeff/5");
    Colossus__Launch L = COLOSSUS__LAUNCH__INIT;
    L.job = 3;
    L.incarnation = 1;
    assert_false(ag_health_hold_launch(f->h, &L, NULL, NULL)); /* no pre-job check set */
    ag_health_drop_held(f->h, 0, 0, 0);                        /* nothing held: no-op */
}

static void test_destroy_with_poll_in_flight(void **state)
{
    fixture_t *f = *state;
    ag_health_start(f->h, on_ready, f);
    ag_health_poll_then(f->h, on_polled, f);
    ag_health_destroy(f->h); /* teardown runs the loop: the work ends, then it is freed */
    f->h = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->polled, 0); /* waiters are dropped, not called after destroy */
}

static void test_no_driver(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ag_health_opts_t o = {0};
    cl_error_t err;
    setenv(CL_NVML_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    cl_nvml_close();
    assert_null(ag_health_create(&loop, &o, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "no NVIDIA driver"));
    setenv(CL_NVML_ENV, fake_lib, 1);
    cl_nvml_close();
    put("w", "gpus 0\n");
    assert_null(ag_health_create(&loop, &o, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "no usable GPU"));
    uv_loop_close(&loop);
}

int main(void)
{
    const char *env = getenv("COLOSSUS_TEST_FAKE_NVML");
    if (!realpath(env ? env : "build/fakenvml/libnvidia-ml.so.1", fake_lib)) {
        fprintf(stderr, "test_agent_health: fake NVML not built\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_telemetry_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xid_latches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_after_poll_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_domain_and_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_poll_in_flight, setup, teardown),
        cmocka_unit_test(test_no_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
