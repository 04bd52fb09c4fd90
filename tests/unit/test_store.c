/* test_store.c - the SQLite journal: round trip, group commit atomicity, crash (SIGKILL) after
 * commit keeps everything, uncommitted puts vanish, nodes and meta survive reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "store/store.h"

static char dir[64];

static int setup(void **st)
{
    snprintf(dir, sizeof dir, "/tmp/cl-store-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **st)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void mkjob(cl_store_job_t *j, uint64_t id, int state)
{
    static const char *argv[] = {"python3", "train.py", "--lr", ""};
    static const char *env[] = {"A=1"};
    memset(j, 0, sizeof *j);
    j->id = id;
    j->state = state;
    j->name = "train";
    j->tenant = "default";
    j->cwd = "/tmp";
    j->nodes = 2;
    j->gpus_per_node = 4;
    j->max_restarts = 3;
    j->restarts = 1;
    j->incarnation = 2;
    j->priority = -5;
    j->time_limit_s = 90.5;
    j->submit_time = 1000.5;
    j->running_time = 1002.25;
    j->alloc = "a,b";
    j->argv = argv;
    j->argc = 4;
    j->env = env;
    j->envc = 1;
}

typedef struct seen {
    int jobs, nodes;
    uint64_t last_id;
    int last_state;
    size_t argc;
    char arg3[8], name[32], alloc[32];
} seen_t;

static int on_job(const cl_store_job_t *j, void *arg)
{
    seen_t *s = arg;
    s->jobs++;
    s->last_id = j->id;
    s->last_state = j->state;
    s->argc = j->argc;
    snprintf(s->arg3, sizeof s->arg3, "%s", j->argc > 3 ? j->argv[3] : "?");
    snprintf(s->alloc, sizeof s->alloc, "%s", j->alloc);
    assert_int_equal(j->priority, -5);
    assert_int_equal(j->incarnation, 2);
    assert_true(j->time_limit_s == 90.5);
    assert_true(j->running_time == 1002.25);
    return 0;
}

static int on_running_time(const cl_store_job_t *j, void *arg)
{
    double *rt = arg;
    if (j->id < 8) rt[j->id] = j->running_time;
    return 0;
}

static int on_node(const cl_store_node_t *n, void *arg)
{
    seen_t *s = arg;
    s->nodes++;
    snprintf(s->name, sizeof s->name, "%s", n->name);
    return 0;
}

static void test_roundtrip(void **st)
{
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    assert_non_null(s);
    cl_store_job_t j;
    mkjob(&j, 7, CL_JOB_RUNNING);
    assert_int_equal(cl_store_job_put(s, &j, &err), 0);
    cl_store_node_t n = {.id = 3, .name = "gpu-a", .drained = true, .reason = "fan"};
    assert_int_equal(cl_store_node_put(s, &n, &err), 0);
    assert_int_equal(cl_store_meta_put(s, "next_job", 8, &err), 0);
    assert_int_equal(cl_store_commit(s, &err), 0);
    assert_int_equal(s->commits, 1);
    assert_int_equal(s->puts_committed, 3);
    /* a second put of the same id replaces it */
    j.state = CL_JOB_SUCCEEDED;
    assert_int_equal(cl_store_job_put(s, &j, &err), 0);
    assert_int_equal(cl_store_commit(s, &err), 0);
    cl_store_close(s);

    s = cl_store_open_sqlite(dir, false, &err);
    assert_non_null(s);
    seen_t seen = {0};
    assert_int_equal(cl_store_load(s, on_job, on_node, &seen, &err), 0);
    assert_int_equal(seen.jobs, 1);
    assert_int_equal(seen.last_state, CL_JOB_SUCCEEDED);
    assert_int_equal(seen.argc, 4);
    assert_string_equal(seen.arg3, ""); /* empty argument kept */
    assert_string_equal(seen.alloc, "a,b");
    assert_int_equal(seen.nodes, 1);
    assert_string_equal(seen.name, "gpu-a");
    uint64_t v = 0;
    assert_int_equal(cl_store_meta_get(s, "next_job", &v, &err), 1);
    assert_int_equal(v, 8);
    assert_int_equal(cl_store_meta_get(s, "nope", &v, &err), 0);
    cl_store_close(s);
}

static void test_uncommitted_lost(void **st)
{
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    cl_store_job_t j;
    mkjob(&j, 1, CL_JOB_PENDING);
    assert_int_equal(cl_store_job_put(s, &j, &err), 0);
    assert_int_equal(cl_store_commit(s, &err), 0);
    mkjob(&j, 2, CL_JOB_PENDING);
    assert_int_equal(cl_store_job_put(s, &j, &err), 0);
    cl_store_close(s); /* no commit */
    s = cl_store_open_sqlite(dir, true, &err);
    seen_t seen = {0};
    assert_int_equal(cl_store_load(s, on_job, NULL, &seen, &err), 0);
    assert_int_equal(seen.jobs, 1);
    assert_int_equal(seen.last_id, 1);
    cl_store_close(s);
}

/* A child commits batches and is SIGKILLed at a random moment; every batch it reported as
 * committed (through a pipe, after commit returned) must be there, and no batch half there. */
static void test_kill9_keeps_committed(void **st)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        cl_error_t err;
        cl_store_t *s = cl_store_open_sqlite(dir, false, &err);
        for (uint64_t b = 0;; b++) {
            for (uint64_t k = 0; k < 10; k++) {
                cl_store_job_t j;
                mkjob(&j, b * 10 + k + 1, CL_JOB_PENDING);
                if (cl_store_job_put(s, &j, &err) < 0)
                    _exit(2);
            }
            if (cl_store_commit(s, &err) < 0)
                _exit(3);
            if (write(pfd[1], &b, sizeof b) != sizeof b)
                _exit(4);
        }
    }
    close(pfd[1]);
    uint64_t b, last = 0;
    int got = 0;
    while (got < 30 && read(pfd[0], &b, sizeof b) == sizeof b) {
        last = b;
        got++;
    }
    kill(pid, SIGKILL);
    while (read(pfd[0], &b, sizeof b) == sizeof b)
        last = b;
    int status;
    waitpid(pid, &status, 0);
    close(pfd[0]);
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, false, &err);
    assert_non_null(s);
    seen_t seen = {0};
    assert_int_equal(cl_store_load(s, on_job, NULL, &seen, &err), 0);
    assert_true((uint64_t)seen.jobs >= (last + 1) * 10);
    assert_int_equal(seen.jobs % 10, 0);
    assert_int_equal(seen.last_id, (uint64_t)seen.jobs);
    cl_store_close(s);
}

static void test_group_commit_rate(void **st)
{
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (uint64_t i = 0; i < 20000; i++) {
        cl_store_job_t j;
        mkjob(&j, i + 1, CL_JOB_PENDING);
        assert_int_equal(cl_store_job_put(s, &j, &err), 0);
        if (i % 1000 == 999)
            assert_int_equal(cl_store_commit(s, &err), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double dt = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("store: 20000 job records in 20 group commits (fsync each): %.0f records/s\n",
           20000 / dt);
    assert_int_equal(s->commits, 20);
    cl_store_close(s);
}

/* A journal written before jobs had running_time: opening it adds the column (0 for the old
 * rows) and keeps every job. */
static void test_old_journal_gains_running_time(void **st)
{
    char path[128];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE jobs(id INTEGER PRIMARY KEY, state INTEGER NOT NULL, name "
                     "TEXT, tenant TEXT, cwd TEXT, reason TEXT, nodes INTEGER, gpus_per_node "
                     "INTEGER, max_restarts INTEGER, time_limit_s REAL, priority INTEGER, "
                     "restarts INTEGER, incarnation INTEGER, exit_code INTEGER, has_exit "
                     "INTEGER, submit_time REAL, start_time REAL, end_time REAL, alloc TEXT, "
                     "argv BLOB, env BLOB);"
                     "INSERT INTO jobs(id, state, name, argv, env) VALUES(5, 1, 'old', X'', X'');",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    assert_non_null(s);
    cl_store_job_t j;
    mkjob(&j, 6, CL_JOB_RUNNING);
    assert_int_equal(cl_store_job_put(s, &j, &err), 0);
    assert_int_equal(cl_store_commit(s, &err), 0);
    cl_store_close(s);
    s = cl_store_open_sqlite(dir, true, &err); /* the column exists now: no second ALTER */
    assert_non_null(s);
    double rt[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    assert_int_equal(cl_store_load(s, on_running_time, NULL, rt, &err), 0);
    assert_true(rt[5] == 0);
    assert_true(rt[6] == 1002.25);
    cl_store_close(s);
}

static void test_open_error(void **st)
{
    cl_error_t err;
    assert_null(cl_store_open_sqlite("/proc/nonexistent/x", true, &err));
    assert_non_null(strstr(err.msg, "cannot create"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_keeps_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_journal_gains_running_time, setup, teardown),
        cmocka_unit_test(test_open_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
