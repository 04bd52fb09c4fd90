/* test_launch.c - unit tests of the rank launcher (src/agent/launch.c) with real processes:
 * /bin/sh scripts as ranks; environment, logs, failures, stop, orphans, bad specs. */
#include "launch_test.h"

/* ------------------------------------------------------------------ tests --------------- */

/* Each rank sees the documented environment, runs in work_dir with /dev/null as stdin. */
static void test_environment(void **state)
{
    struct fixture *f = *state;
    setenv("CL_TEST_INHERITED", "yes", 1);
    setenv("CUDA_VISIBLE_DEVICES", "7", 1); /* the agent's own: must not leak */
    setenv("COLOSSUS_RESTART", "42", 1);    /* likewise */
    char *argv[] = {
        "/bin/sh", "-c",
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
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
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
    char *argv[] = {"/bin/sh", "-c", "echo out-$RANK-$COLOSSUS_RESTART; echo err-$RANK >&2",
                    NULL};
    for (uint32_t restart = 0; restart < 2; restart++) {
        cl_launch_spec_t s = base_spec(f, 2, argv);
        s.node_rank = 1;
        s.nnodes = 2;
        s.restart = restart;
        struct done d = {0};
        cl_launch_t *l = NULL;
        cl_error_t err;
        assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
        assert_true(run_until(&f->loop, &d.calls, 10000));
        assert_int_equal(d.result, 0);
        release(f, l);
    }
    for (int rank = 2; rank < 4; rank++) {
        char path[400], want[200];
        assert_int_equal(cl_launch_log_path(f->logs, NULL, (uint32_t)rank, path, sizeof path),
                         0);
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
    assert_int_equal(cl_launch_log_path("/some/long/dir", NULL, 3, small, sizeof small), -1);
}

/* A rank that exits non-zero stops the others and is reported. */
static void test_failure_stops_others(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c",
                    "if [ \"$LOCAL_RANK\" = 1 ]; then sleep 0.2; exit 3; fi; exec sleep 60",
                    NULL};
    cl_launch_spec_t s = base_spec(f, 3, argv);
    s.node_rank = 2;
    s.nnodes = 4;
    s.grace_ms = 5000;
    struct done d = {0};
    cl_launch_t *l = NULL;
    uint64_t t0 = uv_hrtime();
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    assert_int_equal(cl_launch_running(l), 3);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, 3);
    assert_int_equal(d.failed_rank, 2 * 3 + 1);
    assert_int_equal(cl_launch_stopping(l), 1);
    /* The sleeping ranks died of SIGTERM, well before the grace period (5 s) ran out. */
    assert_true(d.at - t0 < 4000000000ull);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 128 + SIGUSR1);
    assert_int_equal(d.failed_rank, 0);
    release(f, l);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    sleep_loop(&f->loop, 200);
    uint64_t t0 = uv_hrtime();
    cl_launch_stop(l);
    assert_true(run_until(&f->loop, &d.calls, 5000));
    assert_int_equal(d.result, 128 + SIGKILL);
    assert_true(d.at - t0 < 3000000000ull);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    assert_int_equal(d.failed_rank, -1);
    assert_int_equal(cl_launch_stopping(l), 0);
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
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
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
    assert_int_equal(start(f, &s, never_called, NULL, &l, NULL), 0);
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
    assert_int_equal(cl_mkdir_p(f->work, 0755), 0);
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
        case 0:
            s.local_ranks = 0;
            want = "local_ranks";
            break;
        case 1:
            s.local_ranks = 5000;
            want = "local_ranks";
            break;
        case 2:
            s.node_rank = 1;
            s.nnodes = 1;
            want = "node_rank";
            break;
        case 3:
            s.nnodes = 0;
            want = "nnodes";
            break;
        case 4:
            s.gpus = dup_gpus;
            want = "GPU 1 is listed twice";
            break;
        case 5:
            s.master_addr = NULL;
            want = "master address";
            break;
        case 6:
            s.master_port = 0;
            want = "master port";
            break;
        case 7:
            s.argv = noargs;
            want = "no command";
            break;
        case 8:
            s.argv = missing;
            want = "no-such-command-colossus";
            break;
        case 9:
            s.argv = notexec;
            want = "./file";
            break;
        case 10:
            s.env_extra = badenv;
            want = "'NOEQUALS' is not NAME=VALUE";
            break;
        case 11:
            s.env_extra = badenv2;
            want = "'=value'";
            break;
        case 12:
            s.grace_ms = -1;
            want = "grace";
            break;
        case 13:
            s.log_dir = "/proc/no/such/dir";
            want = "/proc/no/such/dir";
            break;
        case 14:
            s.work_dir = NULL;
            want = "working directory";
            break;
        case 15:
            s.cgroup_mode = (cl_launch_cgroup_mode_t)9;
            want = "cgroup mode";
            break;
        }
        cl_error_t err = {"unchanged"};
        cl_launch_t *l = (cl_launch_t *)0x1;
        int rc = start(f, &s, never_called, NULL, &l, &err);
        if (rc != -1 || !strstr(err.msg, want))
            fail_msg("case %d: rc %d, error '%s' lacks '%s'", c, rc, err.msg, want);
        assert_ptr_equal(l, (cl_launch_t *)0x1); /* untouched */
    }
    cl_error_t err;
    assert_int_equal(start(f, NULL, on_done, NULL, NULL, &err), -1);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(count_job_procs(f->job_id), 0);
}

/* A command found through the ranks' PATH (from env_extra) and relative to work_dir. */
static void test_command_lookup(void **state)
{
    struct fixture *f = *state;
    char bin[400], script[500];
    snprintf(bin, sizeof bin, "%s/bin", f->dir);
    assert_int_equal(cl_mkdir_p(bin, 0755), 0);
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
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    char log[400];
    cl_launch_log_path(f->logs, NULL, 0, log, sizeof log);
    char *text = slurp(log);
    assert_non_null(text);
    assert_string_equal(text, "hello 0\n");
    free(text);

    /* ../bin/hello-colossus relative to work_dir */
    char *rel[] = {"../bin/hello-colossus", NULL};
    s = base_spec(f, 1, rel);
    memset(&d, 0, sizeof d);
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);

    char found[256];
    assert_int_equal(cl__find_command("sh", NULL, "/", found, sizeof found), 0);
    assert_string_equal(found + strlen(found) - 3, "/sh");
    assert_int_equal(access(found, X_OK), 0);
    assert_int_equal(cl__find_command("sh", "/nonexistent", "/", found, sizeof found), -1);
    assert_int_equal(cl__find_command("bin", "", "/", found, sizeof found), -1); /* a dir */
    assert_int_equal(cl__find_command("sh", "bin", "/", found, sizeof found), 0);
    assert_string_equal(found, "//bin/sh");
}

/* A rank whose log file cannot be opened after others started: start fails, the started
 * ranks are killed and reaped, the callback never fires. */
static void test_partial_start_failure(void **state)
{
    struct fixture *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/rank-1.log", f->logs);
    assert_int_equal(cl_mkdir_p(path, 0755), 0); /* a directory: open() fails */
    char *argv[] = {"/bin/sh", "-c", "exec sleep 60", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, never_called, NULL, &l, &err), -1);
    assert_null(l);
    assert_non_null(strstr(err.msg, "rank-1.log"));
    assert_int_equal(drain(&f->loop, 5000), 0);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
}

/* The env vector helper: one entry per name, the last wins, own names cannot be overridden. */
static void test_rank_env_vector(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"x", NULL};
    char *base[] = {"A=1", "B=2", "RANK=5", "NOEQ", "D=1", "PATH=/b", "D=2", NULL};
    char *extra[] = {"B=3", "C=4", "B=5", "LOCAL_RANK=9", "PATH=/x", "PATH=/y", NULL};
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
    assert_string_equal(cl__env_get(env, "D"), "2");
    assert_string_equal(cl__env_get(env, "PATH"), "/y");
    int nb = 0, nd = 0, np = 0;
    for (char **e = env; *e; e++) {
        nb += !strncmp(*e, "B=", 2);
        nd += !strncmp(*e, "D=", 2);
        np += !strncmp(*e, "PATH=", 5);
    }
    assert_int_equal(nb, 1);
    assert_int_equal(nd, 1);
    assert_int_equal(np, 1);
    cl__strv_free(env);
    /* The command is looked up in the PATH the ranks get. */
    assert_string_equal(cl__launch_path(&s, base), "/y");
    s.env_extra = NULL;
    assert_string_equal(cl__launch_path(&s, base), "/b");
    env = cl__rank_env(&s, 0, base);
    assert_string_equal(cl__env_get(env, "PATH"), "/b");
    assert_string_equal(cl__env_get(env, "B"), "2");
    cl__strv_free(env);
}

/* The ranks' user and FLOPs file: USER, LOGNAME, COLOSSUS_USER, HOME and COLOSSUS_FLOPS_FILE
 * are the launcher's when the spec names them (no job can pose as another user); without a
 * user the agent's USER and HOME pass through. */
static void test_rank_env_user(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"x", NULL};
    char *base[] = {"USER=root", "LOGNAME=root", "HOME=/root", "COLOSSUS_USER=x", NULL};
    char *extra[] = {"USER=mallory", "HOME=/tmp", "COLOSSUS_FLOPS_FILE=/etc/passwd", NULL};
    cl_launch_spec_t s = base_spec(f, 4, argv);
    s.env_extra = extra;
    s.node_rank = 2;
    s.nnodes = 3;
    s.incarnation = 7;
    s.user = "alice";
    s.home = "/home/alice";
    s.flops_dir = "/w/jobs/9";
    char **env = cl__rank_env(&s, 1, base);
    assert_string_equal(cl__env_get(env, "USER"), "alice");
    assert_string_equal(cl__env_get(env, "LOGNAME"), "alice");
    assert_string_equal(cl__env_get(env, "COLOSSUS_USER"), "alice");
    assert_string_equal(cl__env_get(env, "HOME"), "/home/alice");
    assert_string_equal(cl__env_get(env, "COLOSSUS_FLOPS_FILE"), "/w/jobs/9/flops.inc7.rank-9");
    cl__strv_free(env);
    s.user = s.home = s.flops_dir = NULL;
    env = cl__rank_env(&s, 1, base);
    assert_string_equal(cl__env_get(env, "USER"), "mallory"); /* as any variable */
    assert_string_equal(cl__env_get(env, "HOME"), "/tmp");
    assert_null(cl__env_get(env, "COLOSSUS_USER"));
    assert_null(cl__env_get(env, "COLOSSUS_FLOPS_FILE"));
    cl__strv_free(env);
    char buf[40];
    assert_int_equal(cl_launch_flops_path("/d", 1, 2, buf, sizeof buf), 0);
    assert_string_equal(buf, "/d/flops.inc1.rank-2");
    assert_int_equal(cl_launch_flops_path("/d", 1, 2, buf, 10), -1);
}

/* The directories the launcher makes for the ranks are 0700 (their parents 0755), the logs'
 * 0700, each log 0600; with set_ids as root, the ranks' directories and logs are theirs. A
 * directory that exists is left as it is. */
static void test_dirs_and_log_modes(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
    char ckpt[400], flops[400];
    snprintf(ckpt, sizeof ckpt, "%s/root/ckpt", f->dir);
    snprintf(flops, sizeof flops, "%s/flops", f->dir);
    cl_launch_spec_t s = base_spec(f, 1, argv);
    s.checkpoint_dir = ckpt;
    s.flops_dir = flops;
    bool root = geteuid() == 0;
    if (root) {
        assert_int_equal(chmod(f->dir, 0711), 0);
        s.set_ids = 1;
        s.uid = 54321;
        s.gid = 54322;
    }
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    uid_t u = root ? 54321 : geteuid();
    gid_t g = root ? 54322 : getegid();
    struct {
        const char *path;
        uid_t uid;
        gid_t gid;
        mode_t mode;
    } want[] = {{f->work, u, g, 0700},
                {ckpt, u, g, 0700},
                {flops, u, g, 0700},
                {f->logs, geteuid(), getegid(), 0700},
                {NULL, geteuid(), getegid(), 0755},
                {NULL, u, g, 0600}};
    char parent[400], log[500];
    snprintf(parent, sizeof parent, "%s/root", f->dir);
    want[4].path = parent;
    assert_int_equal(cl_launch_log_path(f->logs, NULL, 0, log, sizeof log), 0);
    want[5].path = log;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct stat st;
        assert_int_equal(stat(want[i].path, &st), 0);
        if (st.st_uid != want[i].uid || st.st_gid != want[i].gid ||
            (st.st_mode & 07777) != want[i].mode)
            fail_msg("%s: %u:%u %04o, not %u:%u %04o", want[i].path, (unsigned)st.st_uid,
                     (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777), (unsigned)want[i].uid,
                     (unsigned)want[i].gid, (unsigned)want[i].mode);
    }
    release(f, l);
    /* An existing directory keeps its mode and owner. */
    assert_int_equal(chmod(ckpt, 0750), 0);
    d.calls = 0;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    struct stat st;
    assert_int_equal(stat(ckpt, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    release(f, l);
    /* Bad ids are refused before anything starts. */
    s.set_ids = 1;
    s.uid = (uid_t)-1;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), -1);
    assert_string_equal(err.msg, "launch: uid and gid must not be 4294967295");
    if (!root) { /* not root: only oneself */
        s.uid = geteuid() + 1;
        assert_int_equal(start(f, &s, on_done, &d, &l, &err), -1);
        assert_non_null(strstr(err.msg, "not root: it cannot run ranks as uid"));
    }
}

/* As root the ranks run as uid:gid with gid their only group, in whichever way children are
 * made (run_spawn_modes() runs this under each), in a cgroup where there is one. */
static void test_ids_switched(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        printf("skip: not root: ranks cannot run as another user\n");
        skip();
    }
    assert_int_equal(chmod(f->dir, 0711), 0);
    char *argv[] = {"/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G) $RANK", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.set_ids = 1;
    s.uid = 54321;
    s.gid = 54330;
    s.cgroup_mode = have_cgroup() ? CL_LAUNCH_CGROUP_AUTO : CL_LAUNCH_CGROUP_OFF;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    if (start(f, &s, on_done, &d, &l, &err) < 0) fail_msg("%s", err.msg);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    for (uint32_t rank = 0; rank < 2; rank++) {
        char path[500], want[64];
        assert_int_equal(cl_launch_log_path(f->logs, NULL, rank, path, sizeof path), 0);
        snprintf(want, sizeof want, "54321 54330 54330 %u\n", rank);
        char *text = slurp(path);
        assert_non_null(text);
        assert_string_equal(text, want);
        free(text);
    }
}

/* cl__mkdir_owned(): a new directory is 0700 and the owner's even when the umask cut the
 * mode (the quick path, an lstat, must not accept it then); an existing file is ENOTDIR. */
static void test_mkdir_owned(void **state)
{
    struct fixture *f = *state;
    char a[400], b[400], c[400];
    snprintf(a, sizeof a, "%s/a", f->dir);
    snprintf(b, sizeof b, "%s/b", f->dir);
    snprintf(c, sizeof c, "%s/c", f->dir);
    struct stat st;
    mode_t old = umask(0);
    assert_int_equal(cl__mkdir_owned(a, 1, geteuid(), getegid()), 0);
    umask(0700);
    int rc = cl__mkdir_owned(b, 0, 0, 0);
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(stat(a, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(stat(b, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(cl__mkdir_owned(a, 0, 0, 0), 0); /* exists: left as it is */
    FILE *fp = fopen(c, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(cl__mkdir_owned(c, 0, 0, 0), -1);
    assert_int_equal(errno, ENOTDIR);
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
        cmocka_unit_test_setup_teardown(test_rank_env_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirs_and_log_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_switched, setup, teardown),
    };
    return run_spawn_modes(tests, sizeof tests / sizeof tests[0]);
}
