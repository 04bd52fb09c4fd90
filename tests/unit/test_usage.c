/* test_usage.c - what a launch used (src/agent/usage.h): the FLOPs files the ranks write (good
 * figures, bad ones, files that are not files), and the energy from the NVML counters of the
 * fake libnvidia-ml.so.1 (tests/fakenvml/), whose counter is the integral of its power. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/usage.h"
#include "gpu/nvml.h"

static char fake_lib[PATH_MAX];
static char dir[64], script[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_usage.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(script, sizeof script, "%s/nvml", dir);
    setenv("COLOSSUS_FAKE_NVML", script, 1);
    setenv(CL_NVML_ENV, fake_lib, 1);
    cl_nvml_close();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_nvml_close();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void put(const char *name, const char *text)
{
    char path[200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int flops_of(const char *name, double *v, cl_error_t *err)
{
    char path[200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ag_flops_read(path, true, geteuid(), v, err);
}

static void test_flops_good(void **state)
{
    struct {
        const char *text;
        double v;
    } good[] = {{"0", 0},
                {"123456789", 123456789.0},
                {"1.5e21\n", 1.5e21},
                {"  42 \r\n", 42},
                {"6.02E+23", 6.02e23},
                {"18446744073709551616", 18446744073709551616.0}}; /* past 2^64 */
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        put("f", good[i].text);
        double v = -1;
        cl_error_t err;
        assert_int_equal(flops_of("f", &v, &err), 1);
        assert_true(v == good[i].v);
    }
    double v = 7;
    cl_error_t err;
    assert_int_equal(flops_of("none", &v, &err), 0); /* no file: no figure */
    assert_true(v == 7);
}

static void test_flops_bad(void **state)
{
    const char *bad[] = {"",     "lots",  "12 13", "-5",    "nan",      "inf",
                         "0x10", "1e999", "12abc", "1e5e5", "\x01\x02", "1,000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put("f", bad[i]);
        double v = 7;
        cl_error_t err;
        assert_int_equal(flops_of("f", &v, &err), -1);
        assert_non_null(strstr(err.msg, ": not a decimal number of FLOPs ("));
        assert_true(v == 7);
    }
    char big[AG_FLOPS_FILE_MAX + 8];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    put("f", big);
    double v;
    cl_error_t err;
    assert_int_equal(flops_of("f", &v, &err), -1);
    assert_non_null(strstr(err.msg, "bytes, more than the 64 a FLOPs figure takes"));
}

/* What a job may plant at its FLOPs path instead of a file: not read (a FIFO would block the
 * agent, a link would make it read someone else's file). */
static void test_flops_not_files(void **state)
{
    char path[200], target[200];
    double v;
    cl_error_t err;
    snprintf(path, sizeof path, "%s/link", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    put("target", "99");
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(flops_of("link", &v, &err), -1);
    assert_non_null(strstr(err.msg, "a symbolic link, not a file"));
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(flops_of("fifo", &v, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(flops_of("sub", &v, &err), -1);
    /* Not the job's: refused when the owner is checked. */
    snprintf(path, sizeof path, "%s/target", dir);
    assert_int_equal(ag_flops_read(path, true, geteuid() + 1, &v, &err), -1);
    assert_non_null(strstr(err.msg, "not by the job's uid"));
    assert_int_equal(ag_flops_read(path, false, geteuid() + 1, &v, &err), 1);
    assert_true(v == 99);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fake's counter grows by power x time: 300 W + 100 W for ~0.3 s is ~120 J. */
static void test_energy_from_power(void **state)
{
    put("nvml", "gpus 3\ngpu 0 power 300000\ngpu 1 power 100000\ngpu 2 power 50000\n");
    uint32_t gpus[] = {0, 1};
    ag_energy_t e;
    double t0 = now_s();
    ag_energy_begin(&e, gpus, 2);
    assert_true(e.ok);
    sleep_ms(300);
    double j = ag_energy_end(&e);
    double t = now_s() - t0;
    assert_true(j >= 400.0 * 0.3 * 0.99);
    assert_true(j <= 400.0 * t * 1.01);
    /* The counters only grow; a new power counts from the call that read it on. */
    uint64_t a[2], b[2], c[2];
    assert_int_equal(cl_nvml_energy(gpus, 2, a, NULL), 0);
    put("nvml", "gpus 3\ngpu 0 power 0\ngpu 1 power 100000\n");
    assert_int_equal(cl_nvml_energy(gpus, 2, b, NULL), 0);
    sleep_ms(100);
    assert_int_equal(cl_nvml_energy(gpus, 2, c, NULL), 0);
    assert_true(b[0] >= a[0] && b[1] >= a[1]);
    assert_true(c[0] == b[0]);                        /* 0 W since b */
    assert_true(c[1] - b[1] >= 100 * 100 * 99 / 100); /* 100 W x 0.1 s, in mJ */
}

/* Unknown: 0 J. A GPU without a counter (no power, no energy), a GPU that is not there, no
 * driver, a counter that went back (driver reloaded). */
static void test_energy_unknown(void **state)
{
    put("nvml", "gpus 2\ngpu 0 power 300000\n");
    uint32_t both[] = {0, 1}, missing[] = {0, 5};
    ag_energy_t e;
    ag_energy_begin(&e, both, 2);
    assert_false(e.ok);
    assert_true(ag_energy_end(&e) == 0);
    cl_error_t err;
    uint64_t mj[2];
    assert_int_equal(cl_nvml_energy(both, 2, mj, &err), -1);
    assert_string_equal(err.msg, "GPU 1: no energy counter (not supported)");
    assert_int_equal(cl_nvml_energy(missing, 2, mj, &err), -1);
    assert_string_equal(err.msg, "no GPU 5 (NVML lists 2)");
    ag_energy_begin(&e, both, 0);
    assert_false(e.ok); /* no GPU: nothing to measure */
    put("nvml", "gpus 1\ngpu 0 energy 5000000\n");
    ag_energy_begin(&e, both, 1);
    assert_true(e.ok);
    put("nvml", "gpus 1\ngpu 0 energy 9000000\n");
    assert_true(ag_energy_end(&e) == 4000.0);
    put("nvml", "gpus 1\ngpu 0 energy 1000\n");
    assert_true(ag_energy_end(&e) == 0);
    cl_nvml_close();
    setenv(CL_NVML_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    ag_energy_begin(&e, both, 1);
    assert_false(e.ok);
}

int main(void)
{
    const char *env = getenv("COLOSSUS_TEST_FAKE_NVML");
    if (!realpath(env ? env : "build/fakenvml/libnvidia-ml.so.1", fake_lib)) {
        fprintf(stderr,
                "test_usage: fake NVML not built (make build/fakenvml/libnvidia-ml.so.1)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flops_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flops_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flops_not_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_energy_from_power, setup, teardown),
        cmocka_unit_test_setup_teardown(test_energy_unknown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
