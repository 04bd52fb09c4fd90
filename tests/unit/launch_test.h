/* launch_test.h - helpers shared by the launcher's unit tests (test_launch*.c): a fixture
 * with its own loop and temporary directory, loop runners, process scans. Header-only (static
 * inline) so that nothing is linked into the other unit tests. */
#ifndef COLOSSUS_TESTS_LAUNCH_TEST_H
#define COLOSSUS_TESTS_LAUNCH_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "agent/launch.h"
#include "agent/launch_util.h"

/* ------------------------------------------------------------------ helpers ------------- */

struct done {
    int calls;
    int result, failed_rank;
    int destroy_in_cb;
    int stop_in_cb;
    uint64_t at; /* uv_hrtime() of the callback */
};

static inline void on_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    struct done *d = arg;
    d->calls++;
    d->result = result;
    d->failed_rank = failed_rank;
    d->at = uv_hrtime();
    assert_int_equal(cl_launch_running(l), 0);
    if (d->stop_in_cb) cl_launch_stop(l); /* must be a no-op */
    if (d->destroy_in_cb) cl_launch_destroy(l);
}

static inline void never_called(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    (void)l, (void)result, (void)failed_rank, (void)arg;
    fail_msg("callback called");
}

struct fixture {
    uv_loop_t loop;
    char dir[256];        /* temporary root */
    char logs[300];       /* dir/logs */
    char work[300];       /* dir/work */
    char ckpt[300];       /* dir/ckpt */
    uint64_t job_id;      /* unique: marks the ranks' processes (COLOSSUS_JOB_ID) */
    cl_launch_t *held[8]; /* launchers the test has not released: teardown destroys them */
    char cg_parent[1300]; /* a cgroup the test made: teardown empties and removes it */
};

static uint64_t job_seq;

static inline int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/cl-launch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->logs, sizeof f->logs, "%s/logs", f->dir);
    snprintf(f->work, sizeof f->work, "%s/work", f->dir);
    snprintf(f->ckpt, sizeof f->ckpt, "%s/ckpt", f->dir);
    f->job_id = ((uint64_t)getpid() << 20) + ++job_seq;
    *state = f;
    return 0;
}

static inline void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

struct waiter {
    const int *flag;
    uint64_t deadline; /* uv_hrtime() */
    int expired;
};

/* Every few ms: stop the loop once the flag is set or the deadline passed. uv_stop() matters:
 * with libuv 1.44 a timer that fires at the start of an iteration does not keep the poll
 * that follows from blocking for ever. */
static inline void on_watch(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (*w->flag || uv_hrtime() >= w->deadline) {
        w->expired = !*w->flag;
        uv_stop(t->loop);
    }
}

static inline int scan_job_procs(uint64_t job, int sig);

/* Run the loop until it has nothing left to do, at most timeout_ms; 0 when it drained. */
static inline int drain(uv_loop_t *loop, int timeout_ms)
{
    int never = 0;
    struct waiter w = {&never, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, 0};
    uv_timer_t watch;
    uv_timer_init(loop, &watch);
    watch.data = &w;
    uv_timer_start(&watch, on_watch, 5, 5);
    uv_unref((uv_handle_t *)&watch); /* does not keep the loop alive by itself */
    while (!w.expired && uv_run(loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&watch, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.expired ? -1 : 0;
}

static inline int teardown(void **state)
{
    struct fixture *f = *state;
    /* A test that failed half-way may have left launchers: destroy them. The loop must then
     * drain and close cleanly; if it does not (a bug), kill what is left so that a failing
     * test neither hangs nor leaves processes behind. */
    for (size_t i = 0; i < sizeof f->held / sizeof f->held[0]; i++)
        cl_launch_destroy(f->held[i]);
    int rc = drain(&f->loop, 10000);
    if (rc == 0) rc = uv_loop_close(&f->loop);
    /* A safety net for failed tests only: a passing test has already checked that nothing
     * of its job is left. */
    scan_job_procs(f->job_id, SIGKILL);
    if (rc) {
        uv_walk(&f->loop, walk_close, NULL);
        drain(&f->loop, 2000);
        uv_loop_close(&f->loop);
    }
    if (f->cg_parent[0]) {
        cl_launch_sweep(f->cg_parent); /* the test's own agents are all dead by now */
        DIR *d = opendir(f->cg_parent);
        struct dirent *de;
        char sub[1600];
        while (d && (de = readdir(d))) {
            if (de->d_type != DT_DIR || de->d_name[0] == '.') continue;
            snprintf(sub, sizeof sub, "%s/%s", f->cg_parent, de->d_name);
            cl__cgroup_signal(sub, SIGKILL);
            usleep(100000);
            rmdir(sub);
        }
        if (d) closedir(d);
        rmdir(f->cg_parent);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* Run the loop until *flag is set or timeout_ms passed; returns 1 when *flag got set. */
static inline int run_until(uv_loop_t *loop, const int *flag, int timeout_ms)
{
    struct waiter w = {flag, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, 0};
    uv_timer_t watch;
    uv_timer_init(loop, &watch);
    watch.data = &w;
    uv_timer_start(&watch, on_watch, 5, 5);
    while (!*flag && !w.expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&watch, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag != 0;
}

static inline void sleep_loop(uv_loop_t *loop, int ms)
{
    int never = 0;
    run_until(loop, &never, ms);
}

static inline char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return NULL;
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Live (non-zombie) processes whose environment holds COLOSSUS_JOB_ID=job; with sig, also
 * send them sig. */
static inline int scan_job_procs(uint64_t job, int sig)
{
    char marker[64];
    int mlen = snprintf(marker, sizeof marker, "COLOSSUS_JOB_ID=%llu", (unsigned long long)job);
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    int count = 0;
    static char buf[1 << 16];
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        char st[512] = "";
        if (!fgets(st, sizeof st, fp)) st[0] = '\0';
        fclose(fp);
        const char *p = strrchr(st, ')');
        if (!p || p[2] == 'Z' || p[2] == 'X') continue;
        snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n;) {
            const char *e = buf + i;
            size_t len = strnlen(e, (size_t)(n - i));
            if ((int)len == mlen && !memcmp(e, marker, len)) {
                count++;
                if (sig) kill(atoi(de->d_name), sig);
            }
            i += (ssize_t)len + 1;
        }
    }
    closedir(d);
    return count;
}

static inline int count_job_procs(uint64_t job)
{
    return scan_job_procs(job, 0);
}

/* Wait (up to 3 s) for the job's processes to become count (after a kill, the kernel may
 * take a moment to deliver it). */
static inline int wait_job_procs(uint64_t job, int want)
{
    int n = 0;
    for (int i = 0; i < 300; i++) {
        n = count_job_procs(job);
        if (n == want) break;
        usleep(10000);
    }
    return n;
}

/* cl_launch_start(), remembering the launcher so that teardown can destroy it when the test
 * fails before release(). */
static inline int start(struct fixture *f, const cl_launch_spec_t *s, cl_launch_done_f *cb,
                        void *arg, cl_launch_t **out, cl_error_t *err)
{
    int rc = cl_launch_start(&f->loop, s, cb, arg, out, err);
    if (rc == 0) {
        size_t i = 0;
        while (f->held[i])
            i++;
        assert_true(i < sizeof f->held / sizeof f->held[0]);
        f->held[i] = *out;
    }
    return rc;
}

/* The test no longer holds l (destroyed elsewhere, e.g. by its callback). */
static inline void forget(struct fixture *f, cl_launch_t *l)
{
    for (size_t i = 0; i < sizeof f->held / sizeof f->held[0]; i++)
        if (f->held[i] == l) f->held[i] = NULL;
}

static inline void release(struct fixture *f, cl_launch_t *l)
{
    forget(f, l);
    cl_launch_destroy(l);
}

static inline cl_launch_spec_t base_spec(struct fixture *f, uint32_t nranks, char *const *argv)
{
    cl_launch_spec_t s;
    memset(&s, 0, sizeof s);
    s.job_id = f->job_id;
    s.incarnation = 1;
    s.restart = 0;
    s.node_rank = 0;
    s.nnodes = 1;
    s.local_ranks = nranks;
    s.master_addr = "127.0.0.1";
    s.master_port = 29500;
    s.argv = argv;
    s.work_dir = f->work;
    s.checkpoint_dir = f->ckpt;
    s.log_dir = f->logs;
    s.grace_ms = 2000;
    s.cgroup_mode = CL_LAUNCH_CGROUP_OFF;
    return s;
}

static inline int have_cgroup(void)
{
    char parent[1024];
    if (cl__cgroup_default_parent(parent, sizeof parent) < 0) return 0;
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/probe-%ld", parent, (long)getpid());
    if (cl__cgroup_make(probe) != 0) return 0;
    char procs[1200];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", probe);
    int ok = access(procs, W_OK) == 0;
    rmdir(probe);
    return ok;
}

static inline int env_has(const char *text, const char *entry)
{
    size_t n = strlen(entry);
    for (const char *p = text; (p = strstr(p, entry)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

/* The script of a rank whose child ignores SIGTERM (and, with setsid_child, leaves the rank's
 * process group). It writes the child's pid to $0/child-RANK. */
static inline char *const *ignoring_child_argv(struct fixture *f, int setsid_child)
{
    static char script[512];
    static char *argv[5];
    snprintf(
        script, sizeof script,
        "%s sh -c 'trap \"\" TERM; echo $$ > \"$0/child-$RANK.tmp\";"
        " mv \"$0/child-$RANK.tmp\" \"$0/child-$RANK\"; while :; do sleep 0.05; done' \"$0\" &"
        " wait",
        setsid_child ? "setsid" : "");
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = script;
    argv[3] = f->dir;
    argv[4] = NULL;
    return argv;
}

static inline void wait_children(struct fixture *f, int n)
{
    for (int rank = 0; rank < n; rank++) {
        char path[600];
        snprintf(path, sizeof path, "%s/child-%d", f->dir, rank);
        int tries = 0;
        while (access(path, F_OK) < 0 && tries++ < 500)
            sleep_loop(&f->loop, 10);
        assert_int_equal(access(path, F_OK), 0);
    }
}

/* Run a suite once per way of making a rank (launch_spawn.c): the default clone3 with
 * CLONE_VM|CLONE_VFORK, clone3 with fork semantics, and plain fork(). On x86-64 the first
 * must really be in effect afterwards (not silently stepped down). */
static inline int run_spawn_modes(const struct CMUnitTest *tests, size_t n)
{
    static const struct {
        int mode;
        const char *name;
    } modes[] = {{CL__SPAWN_VFORK, "spawn=vfork"},
                 {CL__SPAWN_CLONE3, "spawn=clone3"},
                 {CL__SPAWN_FORK, "spawn=fork"}};
    int rc = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cl__spawn_set_mode(modes[i].mode);
        rc |= _cmocka_run_group_tests(modes[i].name, tests, n, NULL, NULL);
        int in_effect = cl__spawn_set_mode(modes[i].mode);
#if defined(__x86_64__)
        if (in_effect != modes[i].mode) {
            fprintf(stderr, "%s: stepped down to mode %d\n", modes[i].name, in_effect);
            rc |= 1;
        }
#else
        (void)in_effect;
#endif
    }
    return rc;
}

#endif
