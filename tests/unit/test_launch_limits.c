/* test_launch_limits.c - a launch's CPU and memory limits (issue 15, agent/cglimit.c): the
 * ranks run under memory and CPU limits where a memory controller can be written (cgroup v2
 * memory, or v1 as root: this host is hybrid, memory on v1), a rank that allocates past the
 * limit is OOM-killed and the launch says so (cl_launch_oom), one within it is not; where no
 * cgroup can take the limits the ranks still run and the launch says why; the v1 groups of
 * dead agents are swept. The tests that need a writable memory controller skip elsewhere. */
#include "launch_test.h"

#include "agent/cglimit.h"

static int v1_memory(void)
{
    return access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0;
}

static void need_limits(void)
{
    if (v1_memory() || have_cgroup()) return;
    print_message("skip: no writable memory cgroup (v1 as root, or v2 with memory)\n");
    skip();
}

static char *const *sh(struct fixture *f, const char *script)
{
    static char *argv[4];
    (void)f;
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = (char *)script;
    argv[3] = NULL;
    return argv;
}

/* A rank that allocates 256 MB under a 48 MB limit: killed (SIGKILL) and reported OOM; the
 * limit is in its cgroup while it runs (the rank prints it). */
static void test_oom_kill(void **state)
{
    struct fixture *f = *state;
    need_limits();
    if (access("/usr/bin/python3", X_OK) < 0) skip();
    cl_launch_spec_t s = base_spec(f, 1,
                                   sh(f, "exec python3 -c 'x = bytearray(256 << 20); "
                                         "print(\"survived\")'"));
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    s.mem_limit_mb = 48;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    if (!cl_launch_limits_enforced(l, &err)) fail_msg("not enforced: %s", err.msg);
    assert_true(run_until(&f->loop, &d.calls, 20000));
    assert_int_equal(d.result, 128 + SIGKILL);
    assert_int_equal(cl_launch_failed_signal(l), SIGKILL);
    assert_int_equal(cl_launch_oom(l), 1);
    release(f, l);
}

/* Within its limit: no OOM; the limits read from inside the rank are the ones asked. */
static void test_within_limit(void **state)
{
    struct fixture *f = *state;
    need_limits();
    cl_launch_spec_t s =
        base_spec(f, 1,
                  sh(f, "m=$(sed -n 's/^[0-9]*:memory:\\(.*\\)/\\1/p' /proc/self/cgroup);"
                        "u=$(sed -n 's/^0::\\(.*\\)/\\1/p' /proc/self/cgroup);"
                        "cat /sys/fs/cgroup/memory$m/memory.limit_in_bytes 2>/dev/null ||"
                        " cat /sys/fs/cgroup$u/memory.max 2>/dev/null ||"
                        " cat /sys/fs/cgroup/unified$u/memory.max"));
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    s.mem_limit_mb = 100;
    s.cpu_limit_milli = 1500;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    assert_int_equal(cl_launch_oom(l), 0);
    char path[1200];
    cl_launch_log_path(f->logs, NULL, 0, path, sizeof path);
    char *out = slurp(path);
    assert_non_null(out);
    if (strcmp(out, "104857600\n")) fail_msg("the rank's memory limit: %s", out);
    free(out);
    release(f, l);
}

/* No cgroup can take the limits (v2 off, a v1 root without hierarchies): the ranks run, and
 * the launch says the limits are not enforced, and why. */
static void test_not_enforced(void **state)
{
    struct fixture *f = *state;
    cl_launch_spec_t s = base_spec(f, 2, sh(f, "exit 0"));
    s.mem_limit_mb = 64;
    s.cpu_limit_milli = 1000;
    s.cgroup_v1_root = f->dir; /* no memory/ or cpu/ hierarchy there */
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err = {{0}};
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_int_equal(cl_launch_limits_enforced(l, &err), 0);
    if (!strstr(err.msg, "cannot write a memory limit in any cgroup (v2 none, v1 under ") ||
        !strstr(err.msg, "the ranks run without it"))
        fail_msg("%s", err.msg);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    assert_int_equal(cl_launch_oom(l), 0);
    release(f, l);
    /* no limit asked: enforced (nothing to enforce) */
    s.mem_limit_mb = 0;
    s.cpu_limit_milli = 0;
    d = (struct done){0};
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_int_equal(cl_launch_limits_enforced(l, NULL), 1);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    release(f, l);
}

/* The v1 groups of an agent that died are removed; a live agent's (ours) are kept. */
static void test_sweep_v1(void **state)
{
    (void)state;
    if (!v1_memory()) {
        print_message("skip: cgroup v1 memory is not writable here\n");
        skip();
    }
    mkdir("/sys/fs/cgroup/memory/colossus", 0755);
    char dead[256], live[256];
    /* pid 4194304 is above the kernel's pid_max: never alive */
    snprintf(dead, sizeof dead, "/sys/fs/cgroup/memory/colossus/job1-inc1-node0-4194304-0");
    snprintf(live, sizeof live, "/sys/fs/cgroup/memory/colossus/job1-inc1-node0-%ld-0",
             (long)getpid());
    assert_int_equal(mkdir(dead, 0755), 0);
    assert_int_equal(mkdir(live, 0755), 0);
    assert_true(cl_cglimit_sweep(NULL) >= 1);
    struct stat st;
    assert_int_equal(stat(dead, &st), -1);
    assert_int_equal(stat(live, &st), 0);
    rmdir(live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oom_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_within_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_v1, setup, teardown),
    };
    return run_spawn_modes(tests, sizeof tests / sizeof tests[0]);
}
