/* test_launch.c - unit tests of the rank launcher (src/agent/launch.c) with real processes:
 * /bin/sh scripts as ranks; environment, logs, failures, stop, orphans, cgroups, bad specs. */
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

static void on_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    struct done *d = arg;
    d->calls++;
    d->result = result;
    d->failed_rank = failed_rank;
    d->at = uv_hrtime();
    assert_int_equal(cl_launch_running(l), 0);
    if (d->stop_in_cb)
        cl_launch_stop(l); /* must be a no-op */
    if (d->destroy_in_cb)
        cl_launch_destroy(l);
}

static void never_called(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    (void)l, (void)result, (void)failed_rank, (void)arg;
    fail_msg("callback called");
}

struct fixture {
    uv_loop_t loop;
    char dir[256];     /* temporary root */
    char logs[300];    /* dir/logs */
    char work[300];    /* dir/work */
    char ckpt[300];    /* dir/ckpt */
    uint64_t job_id;   /* unique: marks the ranks' processes (COLOSSUS_JOB_ID) */
    cl_launch_t *held[8]; /* launchers the test has not released: teardown destroys them */
};

static uint64_t job_seq;

static int setup(void **state)
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

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

struct waiter {
    const int *flag;
    uint64_t deadline; /* uv_hrtime() */
    int expired;
};

/* Every few ms: stop the loop once the flag is set or the deadline passed. uv_stop() matters:
 * with libuv 1.44 a timer that fires at the start of an iteration does not keep the poll
 * that follows from blocking for ever. */
static void on_watch(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (*w->flag || uv_hrtime() >= w->deadline) {
        w->expired = !*w->flag;
        uv_stop(t->loop);
    }
}

static int scan_job_procs(uint64_t job, int sig);

/* Run the loop until it has nothing left to do, at most timeout_ms; 0 when it drained. */
static int drain(uv_loop_t *loop, int timeout_ms)
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

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* A test that failed half-way may have left launchers: destroy them. The loop must then
     * drain and close cleanly; if it does not (a bug), kill what is left so that a failing
     * test neither hangs nor leaves processes behind. */
    for (size_t i = 0; i < sizeof f->held / sizeof f->held[0]; i++)
        cl_launch_destroy(f->held[i]);
    int rc = drain(&f->loop, 10000);
    if (rc == 0)
        rc = uv_loop_close(&f->loop);
    if (rc) {
        scan_job_procs(f->job_id, SIGKILL);
        uv_walk(&f->loop, walk_close, NULL);
        drain(&f->loop, 2000);
        uv_loop_close(&f->loop);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

/* Run the loop until *flag is set or timeout_ms passed; returns 1 when *flag got set. */
static int run_until(uv_loop_t *loop, const int *flag, int timeout_ms)
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

static void sleep_loop(uv_loop_t *loop, int ms)
{
    int never = 0;
    run_until(loop, &never, ms);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Live (non-zombie) processes whose environment holds COLOSSUS_JOB_ID=job; with sig, also
 * send them sig. */
static int scan_job_procs(uint64_t job, int sig)
{
    char marker[64];
    int mlen = snprintf(marker, sizeof marker, "COLOSSUS_JOB_ID=%llu", (unsigned long long)job);
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    int count = 0;
    static char buf[1 << 16];
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        char st[512] = "";
        if (!fgets(st, sizeof st, fp))
            st[0] = '\0';
        fclose(fp);
        const char *p = strrchr(st, ')');
        if (!p || p[2] == 'Z' || p[2] == 'X')
            continue;
        snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n;) {
            const char *e = buf + i;
            size_t len = strnlen(e, (size_t)(n - i));
            if ((int)len == mlen && !memcmp(e, marker, len)) {
                count++;
                if (sig)
                    kill(atoi(de->d_name), sig);
            }
            i += (ssize_t)len + 1;
        }
    }
    closedir(d);
    return count;
}

static int count_job_procs(uint64_t job)
{
    return scan_job_procs(job, 0);
}

/* Wait (up to 3 s) for the job's processes to become count (after a kill, the kernel may
 * take a moment to deliver it). */
static int wait_job_procs(uint64_t job, int want)
{
    int n = 0;
    for (int i = 0; i < 300; i++) {
        n = count_job_procs(job);
        if (n == want)
            break;
        usleep(10000);
    }
    return n;
}

/* cl_launch_start(), remembering the launcher so that teardown can destroy it when the test
 * fails before release(). */
static int start(struct fixture *f, const cl_launch_spec_t *s, cl_launch_done_f *cb, void *arg,
                 cl_launch_t **out, char *err, size_t errlen)
{
    int rc = cl_launch_start(&f->loop, s, cb, arg, out, err, errlen);
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
static void forget(struct fixture *f, cl_launch_t *l)
{
    for (size_t i = 0; i < sizeof f->held / sizeof f->held[0]; i++)
        if (f->held[i] == l)
            f->held[i] = NULL;
}

static void release(struct fixture *f, cl_launch_t *l)
{
    forget(f, l);
    cl_launch_destroy(l);
}

static cl_launch_spec_t base_spec(struct fixture *f, uint32_t nranks, char *const *argv)
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

static int have_cgroup(void)
{
    char parent[1024];
    if (cl__cgroup_default_parent(parent, sizeof parent) < 0)
        return 0;
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/probe-%ld", parent, (long)getpid());
    if (cl__cgroup_make(probe) != 0)
        return 0;
    char procs[1200];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", probe);
    int ok = access(procs, W_OK) == 0;
    rmdir(probe);
    return ok;
}

static int env_has(const char *text, const char *entry)
{
    size_t n = strlen(entry);
    for (const char *p = text; (p = strstr(p, entry)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ tests --------------- */

/* Each rank sees the documented environment, runs in work_dir with /dev/null as stdin. */
static void test_environment(void **state)
{
    struct fixture *f = *state;
    setenv("CL_TEST_INHERITED", "yes", 1);
    setenv("CUDA_VISIBLE_DEVICES", "7", 1);   /* the agent's own: must not leak */
    setenv("COLOSSUS_RESTART", "42", 1);      /* likewise */
    char *argv[] = {"/bin/sh", "-c",
                    "env > \"$OUT/env-$RANK\"; pwd > \"$OUT/pwd-$RANK\";"
                    " cat > \"$OUT/stdin-$RANK\"; echo $$ $(ps -o pgid= -p $$) $(ps -o sid= -p $$)"
                    " > \"$OUT/ids-$RANK\"",
                    NULL};
    char out[300];
    snprintf(out, sizeof out, "OUT=%s", f->dir);
    char *extra[] = {out, "FOO=bar", "RANK=99", "FOO=baz", "CUDA_VISIBLE_DEVICES=9", NULL};
    uint32_t gpus[] = {5, 3};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.node_rank = 1;
    s.nnodes = 3;
    s.restart = 2;
    s.incarnation = 7;
    s.gpus = gpus;
    s.env_extra = extra;
    s.master_addr = "10.1.2.3";
    s.master_port = 12345;
    struct done d = {0};
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    unsetenv("CL_TEST_INHERITED");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("COLOSSUS_RESTART");
    assert_non_null(l);
    pid_t pids[2] = {cl_launch_pid(l, 0), cl_launch_pid(l, 1)};
    assert_true(pids[0] > 0 && pids[1] > 0);
    assert_int_equal(cl_launch_pid(l, 2), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, 0);
    assert_int_equal(d.failed_rank, -1);
    assert_int_equal(cl_launch_pid(l, 0), 0);
    assert_int_equal(cl_launch_stopping(l), 0);

    for (int local = 0; local < 2; local++) {
        int rank = 2 + local;
        char path[600], want[600];
        snprintf(path, sizeof path, "%s/env-%d", f->dir, rank);
        char *env = slurp(path);
        assert_non_null(env);
        snprintf(want, sizeof want, "COLOSSUS_JOB_ID=%llu", (unsigned long long)f->job_id);
        assert_true(env_has(env, want));
        assert_true(env_has(env, "COLOSSUS_RESTART=2"));
        assert_true(env_has(env, "COLOSSUS_INCARNATION=7"));
        snprintf(want, sizeof want, "COLOSSUS_CHECKPOINT_DIR=%s", f->ckpt);
        assert_true(env_has(env, want));
        snprintf(want, sizeof want, "RANK=%d", rank);
        assert_true(env_has(env, want));
        assert_true(env_has(env, "WORLD_SIZE=6"));
        snprintf(want, sizeof want, "LOCAL_RANK=%d", local);
        assert_true(env_has(env, want));
        assert_true(env_has(env, "LOCAL_WORLD_SIZE=2"));
        assert_true(env_has(env, "NODE_RANK=1"));
        assert_true(env_has(env, "MASTER_ADDR=10.1.2.3"));
        assert_true(env_has(env, "MASTER_PORT=12345"));
        assert_true(env_has(env, "CUDA_VISIBLE_DEVICES=5,3"));
        assert_true(env_has(env, "FOO=baz"));
        assert_false(env_has(env, "FOO=bar"));
        assert_true(env_has(env, "CL_TEST_INHERITED=yes"));
        assert_false(env_has(env, "RANK=99"));
        assert_null(strstr(env, "COLOSSUS_RESTART=42"));
        free(env);

        snprintf(path, sizeof path, "%s/pwd-%d", f->dir, rank);
        char *pwd = slurp(path);
        assert_non_null(pwd);
        char want_pwd[600];
        snprintf(want_pwd, sizeof want_pwd, "%s\n", f->work);
        assert_string_equal(pwd, want_pwd);
        free(pwd);

        snprintf(path, sizeof path, "%s/stdin-%d", f->dir, rank);
        char *in = slurp(path);
        assert_non_null(in);
        assert_string_equal(in, ""); /* /dev/null: cat ended at once */
        free(in);

        /* Its own session and process group: pid = pgid = sid. */
        snprintf(path, sizeof path, "%s/ids-%d", f->dir, rank);
        char *ids = slurp(path);
        assert_non_null(ids);
        long pid, pgid, sid;
        assert_int_equal(sscanf(ids, "%ld %ld %ld", &pid, &pgid, &sid), 3);
        assert_int_equal(pid, pids[local]);
        assert_int_equal(pgid, pid);
        assert_int_equal(sid, pid);
        free(ids);
    }
    struct stat st;
    assert_int_equal(stat(f->ckpt, &st), 0); /* created */
    release(f, l);
}

/* Without GPUs the ranks see CUDA_VISIBLE_DEVICES="" and no checkpoint variable when there is
 * no checkpoint directory. */
static void test_environment_defaults(void **state)
{
    struct fixture *f = *state;
    setenv("COLOSSUS_CHECKPOINT_DIR", "/agent/own", 1);
    char *argv[] = {"/bin/sh", "-c", "env > \"$0/env-$RANK\"", f->dir, NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.checkpoint_dir = NULL;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    unsetenv("COLOSSUS_CHECKPOINT_DIR");
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/env-0", f->dir);
    char *env = slurp(path);
    assert_non_null(env);
    assert_true(env_has(env, "CUDA_VISIBLE_DEVICES="));
    assert_null(strstr(env, "COLOSSUS_CHECKPOINT_DIR"));
    assert_true(env_has(env, "WORLD_SIZE=1"));
    free(env);
    release(f, l);
}

/* stdout and stderr of rank R land in LOG_DIR/rank-R.log, appended across launches. */
static void test_logs(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "echo out-$RANK-$COLOSSUS_RESTART; echo err-$RANK >&2", NULL};
    for (uint32_t restart = 0; restart < 2; restart++) {
        cl_launch_spec_t s = base_spec(f, 2, argv);
        s.node_rank = 1;
        s.nnodes = 2;
        s.restart = restart;
        struct done d = {0};
        cl_launch_t *l = NULL;
        char err[256];
        assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
        assert_true(run_until(&f->loop, &d.calls, 10000));
        assert_int_equal(d.result, 0);
        release(f, l);
    }
    for (int rank = 2; rank < 4; rank++) {
        char path[400], want[200];
        assert_int_equal(cl_launch_log_path(f->logs, (uint32_t)rank, path, sizeof path), 0);
        char *log = slurp(path);
        assert_non_null(log);
        snprintf(want, sizeof want, "out-%d-0\nerr-%d\nout-%d-1\nerr-%d\n", rank, rank, rank,
                 rank);
        assert_string_equal(log, want);
        free(log);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/rank-0.log", f->logs);
    assert_int_equal(access(path, F_OK), -1); /* ranks 0, 1 are on another node */
    char small[8];
    assert_int_equal(cl_launch_log_path("/some/long/dir", 3, small, sizeof small), -1);
}

/* A rank that exits non-zero stops the others and is reported. */
static void test_failure_stops_others(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "if [ \"$LOCAL_RANK\" = 1 ]; then sleep 0.2; exit 3; fi; exec sleep 60", NULL};
    cl_launch_spec_t s = base_spec(f, 3, argv);
    s.node_rank = 2;
    s.nnodes = 4;
    struct done d = {0};
    cl_launch_t *l = NULL;
    uint64_t t0 = uv_hrtime();
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_int_equal(cl_launch_running(l), 3);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, 3);
    assert_int_equal(d.failed_rank, 2 * 3 + 1);
    assert_int_equal(cl_launch_stopping(l), 1);
    /* The sleeping ranks died of SIGTERM, well before the grace period (2 s) ran out. */
    assert_true(d.at - t0 < 1500000000ull);
    assert_int_equal(count_job_procs(f->job_id), 0);
    release(f, l);
}

/* A rank killed by a signal reports 128 + signal. */
static void test_failure_signal(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "if [ $RANK = 0 ]; then kill -USR1 $$; fi; exec sleep 60",
                    NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 128 + SIGUSR1);
    assert_int_equal(d.failed_rank, 0);
    release(f, l);
}

/* The script of a rank whose child ignores SIGTERM (and, with setsid_child, leaves the rank's
 * process group). It writes the child's pid to $0/child-RANK. */
static char *const *ignoring_child_argv(struct fixture *f, int setsid_child)
{
    static char script[512];
    static char *argv[5];
    snprintf(script, sizeof script,
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

static void wait_children(struct fixture *f, int n)
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

/* Stop with grandchildren that ignore SIGTERM: TERM, then KILL after grace_ms, and nothing
 * of the job is left when the callback fires (process groups only). */
static void test_stop_term_ignoring_grandchild(void **state)
{
    struct fixture *f = *state;
    cl_launch_spec_t s = base_spec(f, 2, ignoring_child_argv(f, 0));
    s.grace_ms = 300;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_null(cl_launch_cgroup(l));
    wait_children(f, 2);
    assert_true(count_job_procs(f->job_id) >= 4); /* 2 ranks + 2 children (+ sleeps) */
    uint64_t t0 = uv_hrtime();
    cl_launch_stop(l);
    cl_launch_stop(l); /* idempotent */
    assert_int_equal(cl_launch_stopping(l), 1);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    uint64_t took = d.at - t0;
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, 128 + SIGTERM);
    /* The children needed SIGKILL: the callback waited for the grace period. */
    assert_true(took >= 300000000ull);
    assert_true(took < 3000000000ull);
    assert_int_equal(count_job_procs(f->job_id), 0);
    release(f, l);
}

/* grace_ms 0: SIGKILL at once, even for the rank itself. */
static void test_stop_grace_zero(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.grace_ms = 0;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    sleep_loop(&f->loop, 200);
    uint64_t t0 = uv_hrtime();
    cl_launch_stop(l);
    assert_true(run_until(&f->loop, &d.calls, 5000));
    assert_int_equal(d.result, 128 + SIGKILL);
    assert_true(d.at - t0 < 1000000000ull);
    assert_int_equal(count_job_procs(f->job_id), 0);
    release(f, l);
}

/* Ranks that all exit 0 but leave a child behind: the launch still ends with nothing left,
 * and reports success. */
static void test_success_leftovers_stopped(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "sleep 60 & echo started", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.grace_ms = 5000;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    assert_int_equal(d.failed_rank, -1);
    assert_int_equal(count_job_procs(f->job_id), 0);
    release(f, l);
}

/* The callback may destroy the launcher; a stop from the callback does nothing. */
static void test_destroy_in_callback(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/true", NULL};
    cl_launch_spec_t s = base_spec(f, 4, argv);
    struct done d = {.destroy_in_cb = 1, .stop_in_cb = 1};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    forget(f, l); /* destroyed by the callback */
    sleep_loop(&f->loop, 50);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, 0);
}

/* Destroy while running: everything is killed, the callback never fires, the loop drains. */
static void test_destroy_while_running(void **state)
{
    struct fixture *f = *state;
    char *const *argv = ignoring_child_argv(f, 0);
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.grace_ms = 60000;
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, never_called, NULL, &l, NULL, 0), 0);
    wait_children(f, 2);
    errno = 1234;
    release(f, l);
    assert_int_equal(errno, 1234);
    cl_launch_destroy(NULL);
    assert_int_equal(drain(&f->loop, 5000), 0); /* drains once everything is reaped */
    assert_int_equal(count_job_procs(f->job_id), 0);
}

/* Bad specs are refused with a message naming the problem, and start nothing. */
static void test_bad_spec(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
    char *missing[] = {"no-such-command-colossus", NULL};
    char *notexec[] = {"./file", NULL};
    char *noargs[] = {NULL};
    char *badenv[] = {"NOEQUALS", NULL};
    char *badenv2[] = {"=value", NULL};
    uint32_t dup_gpus[] = {1, 2, 1};
    /* file (not executable) for the notexec case */
    assert_int_equal(cl__mkdir_p(f->work, 0755), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/file", f->work);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\n", fp);
    fclose(fp);

    for (int c = 0; c < 16; c++) {
        cl_launch_spec_t s = base_spec(f, 3, argv);
        const char *want = NULL;
        switch (c) {
        case 0: s.local_ranks = 0; want = "local_ranks"; break;
        case 1: s.local_ranks = 5000; want = "local_ranks"; break;
        case 2: s.node_rank = 1; s.nnodes = 1; want = "node_rank"; break;
        case 3: s.nnodes = 0; want = "nnodes"; break;
        case 4: s.gpus = dup_gpus; want = "GPU 1 is listed twice"; break;
        case 5: s.master_addr = NULL; want = "master address"; break;
        case 6: s.master_port = 0; want = "master port"; break;
        case 7: s.argv = noargs; want = "no command"; break;
        case 8: s.argv = missing; want = "no-such-command-colossus"; break;
        case 9: s.argv = notexec; want = "./file"; break;
        case 10: s.env_extra = badenv; want = "'NOEQUALS' is not NAME=VALUE"; break;
        case 11: s.env_extra = badenv2; want = "'=value'"; break;
        case 12: s.grace_ms = -1; want = "grace"; break;
        case 13: s.log_dir = "/proc/no/such/dir"; want = "/proc/no/such/dir"; break;
        case 14: s.work_dir = NULL; want = "working directory"; break;
        case 15: s.cgroup_mode = (cl_launch_cgroup_mode_t)9; want = "cgroup mode"; break;
        }
        char err[256] = "unchanged";
        cl_launch_t *l = (cl_launch_t *)0x1;
        int rc = start(f, &s, never_called, NULL, &l, err, sizeof err);
        if (rc != -1 || !strstr(err, want))
            fail_msg("case %d: rc %d, error '%s' lacks '%s'", c, rc, err, want);
        assert_ptr_equal(l, (cl_launch_t *)0x1); /* untouched */
    }
    char err[64];
    assert_int_equal(start(f, NULL, on_done, NULL, NULL, err, sizeof err), -1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(count_job_procs(f->job_id), 0);
}

/* A command found through the ranks' PATH (from env_extra) and relative to work_dir. */
static void test_command_lookup(void **state)
{
    struct fixture *f = *state;
    char bin[400], script[500];
    snprintf(bin, sizeof bin, "%s/bin", f->dir);
    assert_int_equal(cl__mkdir_p(bin, 0755), 0);
    snprintf(script, sizeof script, "%s/hello-colossus", bin);
    FILE *fp = fopen(script, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\necho hello $RANK\n", fp);
    fclose(fp);
    chmod(script, 0755);
    char pathvar[500];
    snprintf(pathvar, sizeof pathvar, "PATH=/usr/bin:/bin:%s", bin);
    char *extra[] = {pathvar, NULL};
    char *argv[] = {"hello-colossus", NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.env_extra = extra;
    struct done d = {0};
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    char log[400];
    cl_launch_log_path(f->logs, 0, log, sizeof log);
    char *text = slurp(log);
    assert_non_null(text);
    assert_string_equal(text, "hello 0\n");
    free(text);

    /* ../bin/hello-colossus relative to work_dir */
    char *rel[] = {"../bin/hello-colossus", NULL};
    s = base_spec(f, 1, rel);
    memset(&d, 0, sizeof d);
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);

    assert_int_equal(cl__find_command("sh", NULL, "/"), 0);
    assert_int_equal(cl__find_command("sh", "/nonexistent", "/"), -1);
    assert_int_equal(cl__find_command("bin", "", "/"), -1); /* /bin is a directory */
}

/* A rank whose log file cannot be opened after others started: start fails, the started
 * ranks are killed and reaped, the callback never fires. */
static void test_partial_start_failure(void **state)
{
    struct fixture *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/rank-1.log", f->logs);
    assert_int_equal(cl__mkdir_p(path, 0755), 0); /* a directory: open() fails */
    char *argv[] = {"/bin/sh", "-c", "exec sleep 60", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, never_called, NULL, &l, err, sizeof err), -1);
    assert_null(l);
    assert_non_null(strstr(err, "rank-1.log"));
    assert_int_equal(drain(&f->loop, 5000), 0);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
}

/* The env vector helper: one entry per name, the last wins, own names cannot be overridden. */
static void test_rank_env_vector(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"x", NULL};
    char *base[] = {"A=1", "B=2", "RANK=5", "NOEQ", NULL};
    char *extra[] = {"B=3", "C=4", "B=5", "LOCAL_RANK=9", NULL};
    cl_launch_spec_t s = base_spec(f, 4, argv);
    s.env_extra = extra;
    s.node_rank = 0;
    char **env = cl__rank_env(&s, 3, base);
    assert_non_null(env);
    assert_string_equal(cl__env_get(env, "A"), "1");
    assert_string_equal(cl__env_get(env, "B"), "5");
    assert_string_equal(cl__env_get(env, "C"), "4");
    assert_string_equal(cl__env_get(env, "RANK"), "3");
    assert_string_equal(cl__env_get(env, "LOCAL_RANK"), "3");
    assert_null(cl__env_get(env, "NOEQ"));
    int nb = 0;
    for (char **e = env; *e; e++)
        nb += !strncmp(*e, "B=", 2);
    assert_int_equal(nb, 1);
    cl__strv_free(env);
}

/* cgroup v2: the ranks run in the launch's cgroup; a grandchild that ignores SIGTERM AND left
 * the rank's process group (setsid) is still killed; the cgroup is removed afterwards. */
static void test_cgroup_stop(void **state)
{
    struct fixture *f = *state;
    if (!have_cgroup())
        skip();
    cl_launch_spec_t s = base_spec(f, 2, ignoring_child_argv(f, 1));
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    s.grace_ms = 200;
    struct done d = {0};
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    const char *cg = cl_launch_cgroup(l);
    assert_non_null(cg);
    char cgpath[1024];
    snprintf(cgpath, sizeof cgpath, "%s", cg);
    wait_children(f, 2);
    /* Every rank and every child is in the cgroup, and the children left their groups. */
    char procs_path[1100];
    snprintf(procs_path, sizeof procs_path, "%s/cgroup.procs", cgpath);
    char *procs = slurp(procs_path);
    assert_non_null(procs);
    for (int i = 0; i < 2; i++) {
        char pid[32], path[400];
        snprintf(pid, sizeof pid, "%d\n", (int)cl_launch_pid(l, (uint32_t)i));
        assert_non_null(strstr(procs, pid));
        snprintf(path, sizeof path, "%s/child-%d", f->dir, i);
        char *child = slurp(path);
        assert_non_null(child);
        assert_non_null(strstr(procs, child));
        assert_int_equal(getpgid(atoi(child)), atoi(child)); /* own group: escaped */
        free(child);
    }
    free(procs);
    assert_int_equal(cl__cgroup_populated(cgpath), 1);
    cl_launch_stop(l);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 128 + SIGTERM);
    assert_int_equal(count_job_procs(f->job_id), 0);
    struct stat st;
    assert_int_equal(stat(cgpath, &st), -1); /* removed */
    assert_null(cl_launch_cgroup(l));
    release(f, l);
}

/* cgroup v2: ranks exit 0 and leave a daemon that left their process group: still stopped. */
static void test_cgroup_success_leftover(void **state)
{
    struct fixture *f = *state;
    if (!have_cgroup())
        skip();
    char *argv[] = {"/bin/sh", "-c", "setsid sleep 60 & echo ok", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    s.grace_ms = 200;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL, 0), 0);
    assert_non_null(cl_launch_cgroup(l));
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    assert_int_equal(count_job_procs(f->job_id), 0);
    release(f, l);
}

/* cgroup_mode REQUIRE with a parent that is not a cgroup: refused, nothing started. */
static void test_cgroup_require_fails(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/true", NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    s.cgroup_parent = "/proc/colossus-not-a-cgroup";
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, never_called, NULL, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "cgroup"));
    /* AUTO with the same parent falls back to process groups. */
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    struct done d = {0};
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    assert_null(cl_launch_cgroup(l));
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
}

/* A cgroup_parent that is a plain directory is not a cgroup: REQUIRE refuses it, AUTO runs
 * on process groups. */
static void test_cgroup_parent_not_cgroup(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/true", NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    s.cgroup_parent = f->dir;
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, never_called, NULL, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "not in a cgroup v2 hierarchy"));
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    struct done d = {0};
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    assert_null(cl_launch_cgroup(l));
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    DIR *dir = opendir(f->dir); /* nothing was created in it */
    assert_non_null(dir);
    struct dirent *de;
    while ((de = readdir(dir)))
        assert_null(strstr(de->d_name, "job"));
    closedir(dir);
}

/* A command that passes the lookup but cannot be executed (missing interpreter): without a
 * cgroup uv_spawn fails and start reports it; with the cgroup wrapper the rank exits 127. */
static void test_exec_failure(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(cl__mkdir_p(f->work, 0755), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/bad", f->work);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#!/nonexistent/interpreter\n", fp);
    fclose(fp);
    chmod(path, 0755);
    char *argv[] = {"./bad", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    cl_launch_t *l = NULL;
    char err[256];
    assert_int_equal(start(f, &s, never_called, NULL, &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot start rank 0 (./bad)"));
    assert_int_equal(drain(&f->loop, 5000), 0);
    if (!have_cgroup())
        return;
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    struct done d = {0};
    assert_int_equal(start(f, &s, on_done, &d, &l, err, sizeof err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 127);
    release(f, l);
}

/* cl_launch_sweep(): the cgroup of a launcher whose agent is gone is emptied and removed;
 * those of live agents and other directories stay. */
static void test_sweep(void **state)
{
    struct fixture *f = *state;
    (void)f;
    if (!have_cgroup())
        skip();
    char root[1024], parent[1200], dead[1300], live[1300], other[1300], procs[1400];
    assert_int_equal(cl__cgroup_default_parent(root, sizeof root), 0);
    snprintf(parent, sizeof parent, "%s/sweep-test-%ld", root, (long)getpid());
    assert_int_equal(cl__cgroup_make(parent), 0);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    snprintf(dead, sizeof dead, "%s/job5-inc1-node0-%ld-0", parent, (long)gone);
    snprintf(live, sizeof live, "%s/job5-inc1-node0-%ld-3", parent, (long)getpid());
    snprintf(other, sizeof other, "%s/not-a-launch-1-2", parent);
    assert_int_equal(cl__cgroup_make(dead), 0);
    assert_int_equal(cl__cgroup_make(live), 0);
    assert_int_equal(cl__cgroup_make(other), 0);
    /* a process left behind in the dead agent's cgroup */
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dead);
    pid_t orphan = fork();
    if (orphan == 0) {
        int fd = open(procs, O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1)
            _exit(99);
        execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(98);
    }
    for (int i = 0; i < 200 && cl__cgroup_populated(dead) != 1; i++)
        usleep(10000);
    assert_int_equal(cl__cgroup_populated(dead), 1);

    assert_int_equal(cl_launch_sweep(parent), 1);
    int st;
    assert_int_equal(waitpid(orphan, &st, 0), orphan);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    struct stat sb;
    assert_int_equal(stat(dead, &sb), -1);
    assert_int_equal(stat(live, &sb), 0);
    assert_int_equal(stat(other, &sb), 0);
    assert_int_equal(cl_launch_sweep(parent), 0);
    assert_int_equal(cl_launch_sweep("/nonexistent/colossus"), -1);
    rmdir(live);
    rmdir(other);
    assert_int_equal(rmdir(parent), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_stops_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_term_ignoring_grandchild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_grace_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_leftovers_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_start_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rank_env_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_success_leftover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_require_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_parent_not_cgroup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
