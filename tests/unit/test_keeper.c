/* test_keeper.c - unit tests of the launch keeper (keeper.h, issue 14): ranks under a keeper
 * report their exits as the agent's own did; a launch let go (cl_launch_detach) runs on and
 * is adopted by name (cl_launch_adopt), with the exits that came meanwhile; a lapsed lease
 * freezes the ranks and a renewed one thaws them, and frozen past abandon_ms they are killed;
 * with no agent, the keeper leaves the statuses in its exit file and goes. */
#include "launch_test.h"

#include <sys/mman.h>
#include <time.h>

#include "agent/keeper.h"

static uint64_t boot_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The spec of base_spec() with a keeper named after the test's job. */
static cl_launch_spec_t kept_spec(struct fixture *f, uint32_t n, char *const *argv, char *name,
                                  size_t len)
{
    cl_launch_spec_t s = base_spec(f, n, argv);
    snprintf(name, len, "colossus-keep-test:%llu", (unsigned long long)f->job_id);
    s.keeper_name = name;
    s.keep_dir_fd = -1;
    return s;
}

/* Rank RANK exits with code RANK once DIR/go exists. */
static char *const *exit_on_go_argv(struct fixture *f)
{
    static char script[600];
    snprintf(script, sizeof script,
             "while [ ! -e '%s/go' ]; do sleep 0.02; done; exit $((RANK * 5))", f->dir);
    static char *argv[] = {"/bin/sh", "-c", script, NULL};
    return argv;
}

/* Whether the keeper called name goes (nobody answers there) within 2 s. */
static int keeper_gone(const char *name)
{
    cl_error_t err;
    for (int i = 0; i < 200; i++) {
        int fd = cl__keep_connect(name, &err);
        if (fd < 0) return 1;
        close(fd);
        usleep(10000);
    }
    return 0;
}

static void go(struct fixture *f)
{
    char path[400];
    snprintf(path, sizeof path, "%s/go", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
}

static void test_kept_exits(void **state)
{
    struct fixture *f = *state;
    char name[96];
    cl_launch_spec_t s = kept_spec(f, 2, exit_on_go_argv(f), name, sizeof name);
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_int_equal(cl_launch_running(l), 2);
    pid_t p0 = cl_launch_pid(l, 0);
    assert_true(p0 > 0);
    assert_int_equal(getpgid(p0), p0); /* its own group, as without a keeper */
    /* not our child: the keeper is its parent */
    assert_int_equal(waitpid(p0, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    go(f);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 5);
    assert_int_equal(d.failed_rank, 1);
    release(f, l);
    assert_true(keeper_gone(name)); /* acknowledged: it went */
    assert_int_equal(count_job_procs(f->job_id), 0);
}

/* Let go and adopted: the same ranks, and what they did meanwhile. */
static void test_kept_detach_adopt(void **state)
{
    struct fixture *f = *state;
    char name[96];
    cl_launch_spec_t s = kept_spec(f, 2, exit_on_go_argv(f), name, sizeof name);
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    pid_t p0 = cl_launch_pid(l, 0), p1 = cl_launch_pid(l, 1);
    forget(f, l);
    cl_launch_detach(l);
    drain(&f->loop, 2000);
    assert_int_equal(d.calls, 0);
    assert_int_equal(kill(p0, 0), 0); /* they run on (their pids: a count of the job's */
    assert_int_equal(kill(p1, 0), 0); /* processes would count their sleeps too) */
    go(f);                            /* rank 1 exits 5 while no one listens */
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
    cl_launch_adopt_t a = {
        .local_ranks = 2, .first_rank = 0, .keeper_name = name, .grace_ms = 200};
    struct done d2 = {0};
    cl_launch_t *l2 = NULL;
    assert_int_equal(cl_launch_adopt(&f->loop, &a, on_done, &d2, &l2, &err), 0);
    f->held[0] = l2;
    assert_int_equal(d2.calls, 0); /* never from within adopt */
    assert_true(run_until(&f->loop, &d2.calls, 10000));
    assert_int_equal(d2.result, 5);
    assert_int_equal(d2.failed_rank, 1);
    assert_int_equal(d.calls, 0);
    assert_int_equal(kill(p1, 0), -1); /* that rank is gone */
    release(f, l2);
    /* nobody at a name that never was */
    assert_int_equal(cl__keep_connect("colossus-keep-test:none", &err), -1);
    assert_non_null(strstr(err.msg, "gone"));
}

/* Adopted while running: later exits come to the new owner; a stop reaches the ranks. */
static void test_kept_adopt_then_stop(void **state)
{
    struct fixture *f = *state;
    char name[96];
    static char *argv[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
    cl_launch_spec_t s = kept_spec(f, 2, argv, name, sizeof name);
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    forget(f, l);
    cl_launch_detach(l);
    drain(&f->loop, 2000);
    cl_launch_adopt_t a = {.local_ranks = 2, .keeper_name = name, .grace_ms = 200};
    struct done d2 = {0};
    cl_launch_t *l2 = NULL;
    assert_int_equal(cl_launch_adopt(&f->loop, &a, on_done, &d2, &l2, &err), 0);
    f->held[0] = l2;
    assert_int_equal(cl_launch_running(l2), 2);
    cl_launch_stop(l2);
    assert_true(run_until(&f->loop, &d2.calls, 10000));
    assert_int_equal(d2.result, 128 + SIGTERM);
    release(f, l2);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* A lapsed lease freezes; renewed, it thaws; frozen past abandon_ms: killed. */
static void test_kept_lease(void **state)
{
    struct fixture *f = *state;
    char name[96], out[400], script[600];
    snprintf(out, sizeof out, "%s/ticks", f->dir);
    snprintf(script, sizeof script, "while :; do echo x >> '%s'; sleep 0.01; done", out);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    cl_launch_spec_t s = kept_spec(f, 1, argv, name, sizeof name);
    /* a file the keeper maps, as the agent's lease page is (lease.c) */
    int lfd = cl__high_fd(memfd_create("lease", MFD_CLOEXEC));
    assert_true(lfd > 2);
    assert_int_equal(ftruncate(lfd, 4096), 0);
    uint64_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    assert_true(page != MAP_FAILED);
    __atomic_store_n(page, boot_ns() + 300000000u, __ATOMIC_RELEASE); /* 300 ms */
    s.lease_fd = lfd;
    s.abandon_ms = 700;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    sleep_loop(&f->loop, 200);
    assert_true(file_size(out) > 0); /* runs */
    sleep_loop(&f->loop, 250);       /* lapsed at 300 ms, frozen within 50 */
    assert_int_equal(cl_launch_frozen(l), 1);
    size_t a = file_size(out);
    sleep_loop(&f->loop, 200);
    assert_int_equal(file_size(out), a); /* frozen: nothing written */
    __atomic_store_n(page, boot_ns() + 10000000000u, __ATOMIC_RELEASE);
    sleep_loop(&f->loop, 200);
    assert_int_equal(cl_launch_frozen(l), 0);
    assert_true(file_size(out) > a);                     /* thawed */
    __atomic_store_n(page, boot_ns(), __ATOMIC_RELEASE); /* lapses now */
    assert_true(run_until(&f->loop, &d.calls, 5000));    /* killed at ~700 ms */
    assert_int_equal(d.result, 128 + SIGKILL);
    release(f, l);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
    munmap(page, 4096);
    close(lfd);
}

/* No agent for abandon_ms after the ranks ended: the statuses go to the exit file. */
static void test_kept_exit_file(void **state)
{
    struct fixture *f = *state;
    char name[96];
    cl_launch_spec_t s = kept_spec(f, 2, exit_on_go_argv(f), name, sizeof name);
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    s.keep_dir_fd = dfd;
    s.keep_exit_name = "test.exit";
    s.abandon_ms = 200;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    forget(f, l);
    cl_launch_detach(l);
    drain(&f->loop, 2000);
    close(dfd);
    go(f);
    char path[400];
    snprintf(path, sizeof path, "%s/test.exit", f->dir);
    char *text = NULL;
    for (int i = 0; i < 300 && !(text = slurp(path)); i++)
        usleep(10000);
    assert_non_null(text);
    assert_string_equal(text, "0 0 0\n1 5 0\n");
    free(text);
    assert_true(keeper_gone(name));
}

/* A rank that cannot start: no keeper left, the error names the rank and why. */
static void test_kept_start_failure(void **state)
{
    struct fixture *f = *state;
    char name[96];
    static char *argv[] = {"/bin/true", NULL};
    cl_launch_spec_t s = kept_spec(f, 1, argv, name, sizeof name);
    s.output = "no/such/dir/out"; /* opened by the child in work_dir: fails */
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, never_called, NULL, &l, &err), -1);
    assert_non_null(strstr(err.msg, "cannot start rank 0"));
    assert_non_null(strstr(err.msg, "--output"));
    drain(&f->loop, 2000);
    assert_true(keeper_gone(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_detach_adopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_adopt_then_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_exit_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_start_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
