/* test_gpu_nvml.c - the NVML loader against the fake libnvidia-ml.so.1 (tests/fakenvml/):
 * inventory, missing GPUs, telemetry, fabric, XID events, no driver, incomplete library. */
#include <dlfcn.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu/nvml.h"

static char fake_lib[PATH_MAX];
static char script[64];

static void write_script(const char *text)
{
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void append_script(const char *text)
{
    FILE *f = fopen(script, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(script, sizeof(script), "/tmp/test_gpu_nvml.%d", (int)getpid());
    setenv("COLOSSUS_FAKE_NVML", script, 1);
    setenv(CL_NVML_ENV, fake_lib, 1);
    cl_nvml_close();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_nvml_close();
    unlink(script);
    return 0;
}

static const char two_gpus[] = "# two H100s, the second in an NVLink fabric\n"
                               "gpus 2\n"
                               "gpu 0 name NVIDIA H100 80GB HBM3\n"
                               "gpu 0 uuid GPU-11111111-2222-3333-4444-555555555555\n"
                               "gpu 0 pci 00000000:19:00.0\n"
                               "gpu 0 mem_total 85520809984\n"
                               "gpu 0 mem_used 1048576\n"
                               "gpu 0 power_limit 700000\n"
                               "gpu 0 ecc 1\n"
                               "gpu 1 name NVIDIA H100 80GB HBM3\n"
                               "gpu 1 uuid GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n"
                               "gpu 1 pci 00000000:3B:00.0\n"
                               "gpu 1 mem_total 85520809984\n"
                               "gpu 1 power_limit 650000\n"
                               "gpu 1 ecc 0\n"
                               "gpu 1 fabric_state 3\n"
                               "gpu 1 fabric_status 0\n"
                               "gpu 1 fabric_clique 7\n"
                               "gpu 1 fabric_cluster 0123456789abcdef0123456789abcdef\n";

static void test_inventory(void **state)
{
    (void)state;
    write_script(two_gpus);
    cl_gpu_inv_t g[4];
    cl_error_t err = {""};
    assert_int_equal(cl_nvml_inventory(g, 4, &err), 2);
    assert_int_equal(g[0].index, 0);
    assert_string_equal(g[0].name, "NVIDIA H100 80GB HBM3");
    assert_string_equal(g[0].uuid, "GPU-11111111-2222-3333-4444-555555555555");
    assert_string_equal(g[0].pci_bus_id, "00000000:19:00.0");
    assert_true(g[0].mem_total_bytes == 85520809984ull);
    assert_int_equal(g[0].power_limit_mw, 700000);
    assert_int_equal(g[0].ecc_enabled, 1);
    assert_string_equal(g[0].clique, "");
    assert_int_equal(g[1].index, 1);
    assert_string_equal(g[1].pci_bus_id, "00000000:3B:00.0");
    assert_int_equal(g[1].power_limit_mw, 650000);
    assert_int_equal(g[1].ecc_enabled, 0);
    assert_string_equal(g[1].clique, "01234567-89ab-cdef-0123-456789abcdef/7");
    /* max smaller than the count: fills max, still answers the count */
    memset(g, 0, sizeof(g));
    assert_int_equal(cl_nvml_inventory(g, 1, &err), 2);
    assert_int_equal(g[0].index, 0);
    assert_string_equal(g[1].name, "");
}

static void test_inventory_unsupported_fields(void **state)
{
    (void)state;
    write_script("gpus 1\n");
    cl_gpu_inv_t g;
    assert_int_equal(cl_nvml_inventory(&g, 1, NULL), 1);
    assert_string_equal(g.name, "Fake GPU");
    assert_string_equal(g.uuid, "GPU-fake-00");
    assert_string_equal(g.pci_bus_id, "");
    assert_true(g.mem_total_bytes == 0);
    assert_int_equal(g.ecc_enabled, -1);
    assert_string_equal(g.clique, "");
}

static void test_no_gpus(void **state)
{
    (void)state;
    write_script("gpus 0\n");
    cl_error_t err = {""};
    assert_int_equal(cl_nvml_inventory(NULL, 0, &err), 0);
    assert_int_equal(cl_nvml_count(&err), 0);
    cl_gpu_sample_t s;
    assert_int_equal(cl_nvml_sample(0, &s, &err), -1);
    assert_non_null(strstr(err.msg, "no GPU 0"));
}

static void test_missing_gpu(void **state)
{
    (void)state;
    write_script(
        "gpus 3\ngpu 0 uuid GPU-a\ngpu 1 uuid GPU-b\ngpu 1 lost 1\ngpu 2 uuid GPU-c\n");
    cl_gpu_inv_t g[3];
    cl_error_t err;
    assert_int_equal(cl_nvml_count(&err), 3);
    assert_int_equal(cl_nvml_inventory(g, 3, &err), 2);
    assert_string_equal(g[0].uuid, "GPU-a");
    assert_int_equal(g[1].index, 2);
    assert_string_equal(g[1].uuid, "GPU-c");
    cl_gpu_sample_t s;
    assert_int_equal(cl_nvml_sample(1, &s, &err), 0);
    assert_int_equal(s.lost, 1);
    assert_int_equal(s.valid, 0);
    assert_int_equal(cl_nvml_sample(0, &s, &err), 0);
    assert_int_equal(s.lost, 0);
    /* the GPU comes back: the script is read on every call */
    write_script("gpus 3\n");
    assert_int_equal(cl_nvml_inventory(g, 3, &err), 3);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* As on Ampere and newer: the power usage is averaged over 1 s, the instantaneous field is
 * the power now (the fake NVML's model of both, docs/power.md). */
static void test_power_average(void **state)
{
    (void)state;
    write_script("gpus 1\ngpu 0 power 300000\n");
    cl_gpu_sample_t s;
    cl_error_t err;
    assert_int_equal(cl_nvml_sample(0, &s, &err), 0);
    assert_true((s.valid & CL_GPU_F_POWER) && (s.valid & CL_GPU_F_POWER_INSTANT));
    assert_int_equal(s.power_mw, 300000);
    assert_int_equal(s.power_instant_mw, 300000);
    append_script("gpu 0 power 600000\n"); /* a step up: now in the field, later in the mean */
    double t0 = mono();
    assert_int_equal(cl_nvml_sample(0, &s, &err), 0);
    assert_int_equal(s.power_instant_mw, 600000);
    assert_true(s.power_mw >= 300000 && s.power_mw < 450000);
    unsigned last = s.power_mw;
    while (s.power_mw < 600000 && mono() - t0 < 5) { /* the mean climbs, never falls */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(cl_nvml_sample(0, &s, &err), 0);
        assert_true(s.power_mw >= last && s.power_mw <= 600000);
        last = s.power_mw;
    }
    assert_int_equal(s.power_mw, 600000);
    assert_true(mono() - t0 >= 0.95); /* a one-second window, not the reading itself */
}

static void test_telemetry(void **state)
{
    (void)state;
    write_script("gpus 2\n"
                 "gpu 1 power 312345\n"
                 "gpu 1 energy 123456789012\n"
                 "gpu 1 temp 61\n"
                 "gpu 1 util_gpu 97\n"
                 "gpu 1 util_mem 42\n"
                 "gpu 1 mem_total 85520809984\n"
                 "gpu 1 mem_used 70000000000\n"
                 "gpu 1 sm_clock 1980\n"
                 "gpu 1 mem_clock 2619\n"
                 "gpu 1 ecc_corr 17\n"
                 "gpu 1 ecc_unc 2\n"
                 "gpu 1 remap_corr 3\n"
                 "gpu 1 remap_unc 1\n"
                 "gpu 1 remap_pending 1\n"
                 "gpu 1 remap_failure 0\n"
                 "gpu 1 retired_sbe 5\n"
                 "gpu 1 retired_dbe 2\n"
                 "gpu 1 retired_pending 1\n");
    cl_gpu_sample_t s;
    cl_error_t err;
    assert_int_equal(cl_nvml_sample(1, &s, &err), 0);
    assert_int_equal(s.index, 1);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.valid, CL_GPU_F_POWER | CL_GPU_F_ENERGY | CL_GPU_F_TEMP | CL_GPU_F_UTIL |
                                  CL_GPU_F_MEM | CL_GPU_F_CLOCKS | CL_GPU_F_ECC |
                                  CL_GPU_F_RETIRED | CL_GPU_F_REMAP | CL_GPU_F_POWER_INSTANT);
    assert_int_equal(s.power_mw, 312345);
    assert_int_equal(s.power_instant_mw, 312345);
    assert_true(s.energy_mj == 123456789012ull);
    assert_int_equal(s.temp_c, 61);
    assert_int_equal(s.util_gpu_pct, 97);
    assert_int_equal(s.util_mem_pct, 42);
    assert_true(s.mem_used_bytes == 70000000000ull);
    assert_true(s.mem_total_bytes == 85520809984ull);
    assert_int_equal(s.sm_clock_mhz, 1980);
    assert_int_equal(s.mem_clock_mhz, 2619);
    assert_int_equal(s.ecc_corrected, 17);
    assert_int_equal(s.ecc_uncorrected, 2);
    assert_int_equal(s.remap_corr_rows, 3);
    assert_int_equal(s.remap_unc_rows, 1);
    assert_int_equal(s.remap_pending, 1);
    assert_int_equal(s.remap_failure, 0);
    assert_int_equal(s.retired_sbe, 5);
    assert_int_equal(s.retired_dbe, 2);
    assert_int_equal(s.retired_pending, 1);

    /* GPU 0 reports nothing: every field unsupported, nothing made up */
    assert_int_equal(cl_nvml_sample(0, &s, &err), 0);
    assert_int_equal(s.valid, 0);
    assert_int_equal(s.power_mw, 0);
    assert_int_equal(s.lost, 0);

    /* values change between samples (the agent's telemetry follows them) */
    append_script("gpu 1 temp 88\ngpu 1 ecc_corr 1000\n");
    assert_int_equal(cl_nvml_sample(1, &s, &err), 0);
    assert_int_equal(s.temp_c, 88);
    assert_int_equal(s.ecc_corrected, 1000);
}

static void test_fabric(void **state)
{
    (void)state;
    write_script(two_gpus);
    cl_gpu_fabric_t f;
    cl_error_t err;
    assert_int_equal(cl_nvml_fabric(0, &f, &err), 0);
    assert_int_equal(f.supported, 0);
    assert_int_equal(cl_nvml_fabric(1, &f, &err), 0);
    assert_int_equal(f.supported, 1);
    assert_int_equal(f.state, 3);
    assert_int_equal(f.clique_id, 7);
    assert_string_equal(f.cluster_uuid, "01234567-89ab-cdef-0123-456789abcdef");
    /* registration still in progress: no clique in the inventory yet */
    append_script("gpu 1 fabric_state 2\n");
    cl_gpu_inv_t g[2];
    assert_int_equal(cl_nvml_inventory(g, 2, &err), 2);
    assert_string_equal(g[1].clique, "");
    /* completed but with an error status: not a clique either */
    append_script("gpu 1 fabric_state 3\ngpu 1 fabric_status 999\n");
    assert_int_equal(cl_nvml_inventory(g, 2, &err), 2);
    assert_string_equal(g[1].clique, "");
    assert_int_equal(cl_nvml_fabric(5, &f, &err), -1);
}

static void test_xid_events(void **state)
{
    (void)state;
    write_script("gpus 3\n"
                 "gpu 0 uuid GPU-zero\n"
                 "gpu 1 uuid GPU-one\n"
                 "gpu 1 events 0\n" /* cannot report XIDs */
                 "gpu 2 uuid GPU-two\n"
                 "event 0 79\n"
                 "event 1 48\n" /* not registered: never delivered */
                 "event 2 999\n");
    cl_error_t err;
    int reg = -1;
    cl_nvml_events_t *ev = cl_nvml_events_create(&reg, &err);
    assert_non_null(ev);
    assert_int_equal(reg, 2);
    cl_gpu_xid_t x;
    assert_int_equal(cl_nvml_events_wait(ev, 0, &x, &err), 1);
    assert_int_equal(x.index, 0);
    assert_string_equal(x.uuid, "GPU-zero");
    assert_int_equal(x.xid, 79);
    assert_int_equal(cl_nvml_events_wait(ev, 0, &x, &err), 1);
    assert_int_equal(x.index, 2);
    assert_string_equal(x.uuid, "GPU-two");
    assert_int_equal(x.xid, 999);
    assert_int_equal(cl_nvml_events_wait(ev, 0, &x, &err), 0);
    assert_int_equal(cl_nvml_events_wait(ev, 30, &x, &err), 0);
    /* an event written while the agent waits arrives */
    append_script("event 2 94\n");
    assert_int_equal(cl_nvml_events_wait(ev, 1000, &x, &err), 1);
    assert_int_equal(x.index, 2);
    assert_int_equal(x.xid, 94);
    cl_nvml_events_destroy(ev);
    cl_nvml_events_destroy(NULL);
}

static void test_no_driver(void **state)
{
    (void)state;
    setenv(CL_NVML_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    cl_error_t err = {""};
    cl_gpu_inv_t g[1];
    assert_int_equal(cl_nvml_inventory(g, 1, &err), -1);
    assert_non_null(strstr(err.msg, "no NVIDIA driver"));
    assert_non_null(strstr(err.msg, "/nonexistent/libnvidia-ml.so.1"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(cl_nvml_count(NULL), -1);
    cl_gpu_sample_t s;
    assert_int_equal(cl_nvml_sample(0, &s, &err), -1);
    assert_null(cl_nvml_events_create(NULL, &err));
    assert_int_equal(cl_nvml_open(&err), -1);
    assert_string_equal(cl_nvml_lib_path(), "/nonexistent/libnvidia-ml.so.1");
}

/* A library that is not there is not looked for again at every call (each dlopen that fails
 * searches every library directory; without a driver each launch asked twice): for the same
 * path only after 30 s, or after cl_nvml_close(); another path is tried at once. */
static void test_missing_library_not_searched_again(void **state)
{
    (void)state;
    write_script("gpus 1\n");
    char dir[] = "/tmp/test_gpu_nvml_lib.XXXXXX", path[PATH_MAX + 64], cmd[3 * PATH_MAX];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libnvidia-ml.so.1", dir);
    setenv(CL_NVML_ENV, path, 1);
    cl_error_t err = {""};
    assert_int_equal(cl_nvml_count(&err), -1);
    assert_non_null(strstr(err.msg, "cannot load"));
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fake_lib, path);
    assert_int_equal(system(cmd), 0); /* the library is there now */
    err.msg[0] = 0;
    assert_int_equal(cl_nvml_count(&err), -1); /* the same answer, not a second search */
    assert_non_null(strstr(err.msg, "cannot load"));
    setenv(CL_NVML_ENV, fake_lib, 1); /* another path: at once */
    assert_int_equal(cl_nvml_count(&err), 1);
    cl_nvml_close();
    setenv(CL_NVML_ENV, path, 1);
    assert_int_equal(cl_nvml_count(&err), 1); /* closed: looked for again */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_driver_not_loaded(void **state)
{
    (void)state;
    write_script("init 9\ngpus 1\n");
    cl_error_t err = {""};
    assert_int_equal(cl_nvml_inventory(NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "driver not loaded"));
    /* the driver comes up: the next call loads it */
    write_script("gpus 1\n");
    assert_int_equal(cl_nvml_inventory(NULL, 0, &err), 1);
}

static void test_incomplete_library(void **state)
{
    (void)state;
    setenv(CL_NVML_ENV, "libm.so.6", 1);
    cl_error_t err = {""};
    assert_int_equal(cl_nvml_open(&err), -1);
    assert_non_null(strstr(err.msg, "lacks nvmlInit_v2"));
}

/* The fake implements exactly the calls the loader resolves: no more, no fewer. */
static void test_fake_exports_exactly_the_symbols(void **state)
{
    (void)state;
    void *h = dlopen(fake_lib, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    int n = 0;
    for (const char *const *s = cl_nvml_symbols(); *s; s++, n++)
        assert_non_null(dlsym(h, *s));
    dlclose(h);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' | grep -c ' T nvml'", fake_lib);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int exported = -1;
    assert_int_equal(fscanf(p, "%d", &exported), 1);
    pclose(p);
    assert_int_equal(exported, n);
}

int main(void)
{
    const char *env = getenv("COLOSSUS_TEST_FAKE_NVML");
    if (!realpath(env ? env : "build/fakenvml/libnvidia-ml.so.1", fake_lib)) {
        fprintf(stderr,
                "test_gpu_nvml: fake NVML not built (make build/fakenvml/libnvidia-ml.so.1)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inventory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inventory_unsupported_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_gpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_gpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telemetry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_average, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fabric, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xid_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_driver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_not_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_library_not_searched_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_library, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_exports_exactly_the_symbols, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
