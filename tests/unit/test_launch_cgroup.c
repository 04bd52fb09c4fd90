/* test_launch_cgroup.c - unit tests of the rank launcher's cgroup v2 path (skipped where the
 * hierarchy is not writable), the sweep of dead agents' cgroups, exec failures, signal
 * dispositions and the reaping of the agent's other children. */
#include "launch_test.h"

/* The cgroup v2 tests need a hierarchy this process may write (root, or a delegated
 * subtree); elsewhere they skip, saying why, and tests/run.sh reports the binary as SKIP. */
static void need_cgroup(void)
{
    if (have_cgroup()) return;
    print_message(
        "skip: no writable cgroup v2 hierarchy (needs root or a delegated subtree)\n");
    skip();
}

/* cgroup v2: the ranks run in the launch's cgroup; a grandchild that ignores SIGTERM AND left
 * the rank's process group (setsid) is still killed; the cgroup is removed afterwards. */
static void test_cgroup_stop(void **state)
{
    struct fixture *f = *state;
    need_cgroup();
    cl_launch_spec_t s = base_spec(f, 2, ignoring_child_argv(f, 1));
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    s.grace_ms = 200;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
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
    need_cgroup();
    char *argv[] = {"/bin/sh", "-c", "setsid sleep 60 & echo ok", NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    s.grace_ms = 200;
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
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
    cl_error_t err;
    assert_int_equal(start(f, &s, never_called, NULL, &l, &err), -1);
    assert_non_null(strstr(err.msg, "cgroup"));
    /* AUTO with the same parent falls back to process groups. */
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    struct done d = {0};
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
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
    cl_error_t err;
    assert_int_equal(start(f, &s, never_called, NULL, &l, &err), -1);
    assert_non_null(strstr(err.msg, "not in a cgroup v2 hierarchy"));
    s.cgroup_mode = CL_LAUNCH_CGROUP_AUTO;
    struct done d = {0};
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
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

/* A command that passes the lookup but cannot be executed (missing interpreter): start
 * fails with the reason, with and without a cgroup, and leaves nothing behind. */
static void test_exec_failure(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(cl_mkdir_p(f->work, 0755), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/bad", f->work);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("#!/nonexistent/interpreter\n", fp);
    fclose(fp);
    chmod(path, 0755);
    char *argv[] = {"./bad", NULL};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !have_cgroup()) break;
        cl_launch_spec_t s = base_spec(f, 2, argv);
        s.cgroup_mode = k ? CL_LAUNCH_CGROUP_REQUIRE : CL_LAUNCH_CGROUP_OFF;
        cl_launch_t *l = NULL;
        cl_error_t err;
        assert_int_equal(start(f, &s, never_called, NULL, &l, &err), -1);
        if (!strstr(err.msg, "cannot start rank 0 (./bad): cannot execute: No such file"))
            fail_msg("case %d: %s", k, err.msg);
        assert_int_equal(drain(&f->loop, 5000), 0);
    }
    /* A script without #! runs with /bin/sh, as under execvp(). */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("echo shebangless $RANK\n", fp);
    fclose(fp);
    cl_launch_spec_t s = base_spec(f, 1, argv);
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    char log[600];
    cl_launch_log_path(f->logs, NULL, 0, log, sizeof log);
    char *text = slurp(log);
    assert_non_null(text);
    assert_string_equal(text, "shebangless 0\n");
    free(text);
}

/* cl_launch_sweep(): the cgroup of a launcher whose agent is gone is emptied and removed;
 * those of live agents and other directories stay. */
static void test_sweep(void **state)
{
    struct fixture *f = *state;
    need_cgroup();
    char root[1024], dead[1400], live[1400], other[1400], procs[1500];
    char *parent = f->cg_parent;
    assert_int_equal(cl__cgroup_default_parent(root, sizeof root), 0);
    snprintf(parent, sizeof f->cg_parent, "%s/sweep-test-%ld", root, (long)getpid());
    assert_int_equal(cl__cgroup_make(parent), 0);
    pid_t gone = fork();
    if (gone == 0) _exit(0);
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
        if (fd < 0 || write(fd, "0", 1) != 1) _exit(99);
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
    parent[0] = '\0';
}

/* In a cgroup from its first instruction (joined before exec), with the environment whole,
 * names that sh would drop (A.B) included. */
static void test_cgroup_environment(void **state)
{
    struct fixture *f = *state;
    need_cgroup();
    char *argv[] = {"/bin/sh", "-c", "sed -n 's/^0:://p' /proc/$$/cgroup > \"$0/cg-$RANK\"",
                    f->dir, NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    struct done d = {0};
    cl_launch_t *l = NULL;
    cl_error_t err;
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    char name[300];
    const char *slash = strrchr(cl_launch_cgroup(l), '/');
    assert_non_null(slash);
    snprintf(name, sizeof name, "%s\n", slash);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    for (int rank = 0; rank < 2; rank++) {
        char path[600];
        snprintf(path, sizeof path, "%s/cg-%d", f->dir, rank);
        char *cg = slurp(path);
        assert_non_null(cg);
        size_t n = strlen(cg), m = strlen(name);
        int ok = n >= m && !strcmp(cg + n - m, name);
        if (!ok) fprintf(stderr, "rank %d runs in cgroup %s, not in %s", rank, cg, name);
        free(cg);
        assert_true(ok);
    }

    char *env_argv[] = {"/usr/bin/env", NULL};
    char *odd[] = {"PLAIN_NAME=1", "A.B=2", "C-D=3", NULL};
    s = base_spec(f, 1, env_argv);
    s.cgroup_mode = CL_LAUNCH_CGROUP_REQUIRE;
    s.env_extra = odd;
    memset(&d, 0, sizeof d);
    assert_int_equal(start(f, &s, on_done, &d, &l, &err), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    release(f, l);
    char log[600];
    cl_launch_log_path(f->logs, NULL, 0, log, sizeof log);
    char *env = slurp(log);
    assert_non_null(env);
    int ok = env_has(env, "PLAIN_NAME=1") && env_has(env, "A.B=2") && env_has(env, "C-D=3") &&
             env_has(env, "WORLD_SIZE=1");
    free(env);
    assert_true(ok);
}

/* Signals the agent ignores or blocks are not inherited by the ranks. */
static void test_signal_dispositions_reset(void **state)
{
    struct fixture *f = *state;
    struct sigaction ign, old_usr2, old_pipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGUSR2, &ign, &old_usr2);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    char *argv[] = {"/bin/sh", "-c", "if [ $RANK = 0 ]; then kill -USR2 $$; fi; exec sleep 60",
                    NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    struct done d = {0};
    cl_launch_t *l = NULL;
    int rc = start(f, &s, on_done, &d, &l, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    assert_int_equal(rc, 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 128 + SIGUSR2); /* not ignored */
    assert_int_equal(d.failed_rank, 0);
    assert_true(d.at > 0);
    assert_int_equal(count_job_procs(f->job_id), 0); /* rank 1 died of SIGTERM: unblocked */
    release(f, l);
}

/* The agent's other children are not reaped by the launcher (it waits for its own pids). */
static void test_other_children_untouched(void **state)
{
    struct fixture *f = *state;
    pid_t other = fork();
    if (other == 0) {
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
        _exit(99);
    }
    char *argv[] = {"/bin/sh", "-c", "sleep 0.3", NULL};
    cl_launch_spec_t s = base_spec(f, 1, argv);
    struct done d = {0};
    cl_launch_t *l = NULL;
    assert_int_equal(start(f, &s, on_done, &d, &l, NULL), 0);
    assert_true(run_until(&f->loop, &d.calls, 10000));
    assert_int_equal(d.result, 0);
    int st;
    assert_int_equal(waitpid(other, &st, 0), other); /* still ours to reap */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    release(f, l);
}

static int proc_gone(pid_t pid) /* no such process, or a zombie */
{
    char path[64], st[512] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return 1;
    if (!fgets(st, sizeof st, fp)) st[0] = '\0';
    fclose(fp);
    const char *p = strrchr(st, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

/* The "agent" for test_agent_death: a child process running one launcher until killed. */
static void __attribute__((noreturn))
agent_child(struct fixture *f, const char *parent, int survive)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop)) _exit(90);
    char *argv[] = {"/bin/sh", "-c",
                    "sleep 60 & echo $$ $! > \"$0/pids-$RANK.tmp\";"
                    " mv \"$0/pids-$RANK.tmp\" \"$0/pids-$RANK\"; wait",
                    f->dir, NULL};
    cl_launch_spec_t s = base_spec(f, 2, argv);
    s.cgroup_mode = parent ? CL_LAUNCH_CGROUP_REQUIRE : CL_LAUNCH_CGROUP_OFF;
    s.cgroup_parent = parent;
    s.survive_agent = survive;
    struct done d = {0};
    cl_launch_t *l;
    cl_error_t err;
    if (cl_launch_start(&loop, &s, on_done, &d, &l, &err)) {
        fprintf(stderr, "agent child: %s\n", err.msg);
        _exit(91);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(92); /* not reached: killed while the ranks run */
}

/* kill -9 of the agent: by default the ranks die with it (and, with a cgroup, the sweep of
 * the next agent removes what they forked); with survive_agent they run on. */
static void test_agent_death(void **state)
{
    struct fixture *f = *state;
    char root[1024];
    char *parent = f->cg_parent;
    int cg = have_cgroup();
    if (cg) {
        assert_int_equal(cl__cgroup_default_parent(root, sizeof root), 0);
        snprintf(parent, sizeof f->cg_parent, "%s/agent-death-test-%ld", root, (long)getpid());
        assert_int_equal(cl__cgroup_make(parent), 0);
    }
    for (int survive = 0; survive < 2; survive++) {
        pid_t agent = fork();
        assert_true(agent >= 0);
        if (agent == 0) agent_child(f, cg ? parent : NULL, survive);
        long rank_pid[2], child_pid[2];
        for (int rank = 0; rank < 2; rank++) {
            char path[600];
            snprintf(path, sizeof path, "%s/pids-%d", f->dir, rank);
            for (int i = 0; i < 500 && access(path, F_OK) < 0; i++)
                usleep(10000);
            char *text = slurp(path);
            assert_non_null(text);
            assert_int_equal(sscanf(text, "%ld %ld", &rank_pid[rank], &child_pid[rank]), 2);
            free(text);
            unlink(path);
        }
        kill(agent, SIGKILL);
        assert_int_equal(waitpid(agent, NULL, 0), agent);
        for (int rank = 0; rank < 2; rank++) {
            int i = 0;
            while (!proc_gone((pid_t)rank_pid[rank]) && i++ < 200)
                usleep(10000);
            if (survive)
                assert_false(proc_gone((pid_t)rank_pid[rank]));
            else
                assert_true(proc_gone((pid_t)rank_pid[rank]));
            assert_false(proc_gone((pid_t)child_pid[rank])); /* not the rank's own child */
        }
        if (cg) {
            /* The next agent's sweep removes all of it. */
            assert_int_equal(cl_launch_sweep(parent), 1);
            for (int rank = 0; rank < 2; rank++) {
                int i = 0;
                while (!proc_gone((pid_t)child_pid[rank]) && i++ < 200)
                    usleep(10000);
                assert_true(proc_gone((pid_t)child_pid[rank]));
                assert_true(proc_gone((pid_t)rank_pid[rank]));
            }
        } else {
            scan_job_procs(f->job_id, SIGKILL);
        }
    }
    if (cg) {
        assert_int_equal(rmdir(parent), 0);
        parent[0] = '\0';
    }
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cgroup_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_success_leftover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_require_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_parent_not_cgroup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroup_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_dispositions_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_children_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_death, setup, teardown),
    };
    return run_spawn_modes(tests, sizeof tests / sizeof tests[0]);
}
