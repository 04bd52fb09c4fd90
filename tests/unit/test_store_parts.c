/* test_store_parts.c - what is not the conformance suite (test_store.c): store URLs, the fault
 * store's controls, and what only the SQLite backend promises (a SIGKILL after commit keeps
 * everything, the running_time migration, WAL, errors on open). */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/fault.h"
#include "store_helpers.h"
#include "util/util.h"

static cl_store_t *open_url(const char *fmt)
{
    char url[256];
    snprintf(url, sizeof url, fmt, dir);
    cl_error_t err = {{0}};
    cl_store_t *s = cl_store_open(url, NULL, &err);
    if (!s) fail_msg("%s: %s", url, err.msg);
    return s;
}

static void put_job(cl_store_batch_t *b, uint64_t id, int state)
{
    cl_store_job_t j;
    mkjob(&j, id, state);
    cl_store_batch_job(b, &j);
}

static int count_job(const cl_store_job_t *j, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static int jobs_in(cl_store_t *s)
{
    int n = 0;
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_load(s, count_job, NULL, &n, &err), 0);
    return n;
}

/* ---- URLs ---- */

static void refused(const char *url, const char *want)
{
    cl_error_t err = {{0}};
    assert_null(cl_store_open(url, NULL, &err));
    if (!strstr(err.msg, want)) fail_msg("%s: '%s' does not say '%s'", url, err.msg, want);
}

static void test_url_refused(void **st)
{
    refused("postgresql://db.example/colossus",
            "postgresql:// is not supported yet (issue 14)");
    refused("postgres://db", "not supported yet");
    refused("mysql://x", "'mysql://x' is not a store URL; use sqlite:DIR or fault:URL?");
    refused("/var/lib/colossus", "'/var/lib/colossus' is not a store URL");
    refused("", "'' is not a store URL");
    refused("sqlite:", "names no directory");
    refused("fault:sqlite:/tmp/x?delay_ms=abc", "fault option delay_ms needs a number");
    refused("fault:sqlite:/tmp/x?delay_ms", "fault option delay_ms needs a number");
    refused("fault:sqlite:/tmp/x?fail_at=0", "fault option fail_at needs a number >= 1");
    refused("fault:sqlite:/tmp/x?retries=3", "unknown fault option 'retries'");
    refused("fault:mysql://x", "'mysql://x' is not a store URL");
    refused("fault:postgresql://h/db?sslmode=require?", "not supported yet");
}

/* A refused URL has no side effect: the directory it names is not created. */
static void test_url_refused_creates_nothing(void **st)
{
    char url[128], sub[96];
    snprintf(sub, sizeof sub, "%s/never", dir);
    snprintf(url, sizeof url, "fault:sqlite:%s?fail_count=x", sub);
    cl_error_t err = {{0}};
    assert_null(cl_store_open(url, NULL, &err));
    struct stat sb;
    assert_int_equal(stat(sub, &sb), -1);
}

/* sqlite:DIR creates DIR and its parents; fault: with options arms them. */
static void test_url_opens(void **st)
{
    cl_store_t *s = open_url("sqlite:%s/a/b");
    cl_store_batch_t *b = cl_store_batch_new();
    put_job(b, 1, CL_JOB_PENDING);
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_close(s);
    /* the 2nd and 3rd commits fail, the others are delayed 1 ms */
    s = open_url("fault:sqlite:%s/a/b?fail_at=2&delay_ms=1&fail_count=2");
    assert_int_equal(jobs_in(s), 1);
    int rcs[5];
    for (int i = 0; i < 5; i++) {
        cl_store_batch_clear(b);
        put_job(b, (uint64_t)i + 10, CL_JOB_PENDING);
        rcs[i] = cl_store_commit(s, b, &err);
    }
    assert_int_equal(rcs[0], 0);
    assert_int_equal(rcs[1], -1);
    assert_int_equal(rcs[2], -1);
    assert_int_equal(rcs[3], 0);
    assert_int_equal(rcs[4], 0);
    assert_string_equal(err.msg, "store: injected fault: as the store URL asks");
    assert_int_equal(jobs_in(s), 4);
    cl_store_close(s);
    s = open_url("fault:sqlite:%s/a/b?fail_count=1"); /* from the first */
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_close(s);
    s = open_url("fault:fault:sqlite:%s/a/b?"); /* nested, empty options */
    assert_int_equal(jobs_in(s), 4);
    cl_store_close(s);
    cl_store_batch_free(b);
}

/* ---- the fault store's controls ---- */

static void test_fault_fail_window(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(open_url("sqlite:%s"));
    cl_store_batch_t *b = cl_store_batch_new();
    put_job(b, 1, CL_JOB_PENDING);
    cl_error_t err = {{0}};
    cl_store_fault_fail(s, 2, 3, "x"); /* commits 2, 3, 4 of those to come */
    int want[] = {0, -1, -1, -1, 0, 0};
    for (int i = 0; i < 6; i++)
        assert_int_equal(cl_store_commit(s, b, &err), want[i]);
    cl_store_fault_fail(s, 1, UINT32_MAX, NULL); /* all from now on */
    for (int i = 0; i < 3; i++)
        assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_string_equal(err.msg, "store: injected fault: as the test asks");
    cl_store_fault_fail(s, 1, 0, NULL); /* disarmed */
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_int_equal(cl_store_fault_entered(s), 10);
    assert_int_equal(cl_store_fault_written(s), 4);
    cl_store_batch_clear(b); /* an empty batch does not reach the fault store */
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_int_equal(cl_store_fault_entered(s), 10);
    cl_store_batch_free(b);
    cl_store_close(s);
}

static void test_fault_wait_times_out(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(open_url("sqlite:%s"));
    double t0 = cl_now_ms();
    assert_int_equal(cl_store_fault_wait_entered(s, 1, 50), -1);
    assert_true(cl_now_ms() - t0 >= 49);
    assert_int_equal(cl_store_fault_wait_entered(s, 0, 50), 0);
    cl_store_close(s);
}

static void test_fault_delay(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(open_url("sqlite:%s"));
    cl_store_batch_t *b = cl_store_batch_new();
    put_job(b, 1, CL_JOB_PENDING);
    cl_store_fault_delay(s, 100);
    double t0 = cl_now_ms();
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_true(cl_now_ms() - t0 >= 99);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- SQLite only ---- */

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
        cl_store_batch_t *b = cl_store_batch_new();
        for (uint64_t n = 0;; n++) {
            cl_store_batch_clear(b);
            for (uint64_t k = 0; k < 10; k++)
                put_job(b, n * 10 + k + 1, CL_JOB_PENDING);
            if (cl_store_commit(s, b, &err) < 0) _exit(3);
            if (write(pfd[1], &n, sizeof n) != sizeof n) _exit(4);
        }
    }
    close(pfd[1]);
    uint64_t n, last = 0;
    int got = 0;
    while (got < 30 && read(pfd[0], &n, sizeof n) == sizeof n) {
        last = n;
        got++;
    }
    kill(pid, SIGKILL);
    while (read(pfd[0], &n, sizeof n) == sizeof n)
        last = n;
    int status;
    waitpid(pid, &status, 0);
    close(pfd[0]);
    assert_int_equal(got, 30);
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, false, &err);
    assert_non_null(s);
    int jobs = jobs_in(s);
    assert_true((uint64_t)jobs >= (last + 1) * 10);
    assert_int_equal(jobs % 10, 0);
    cl_store_close(s);
}

static int on_running_time(const cl_store_job_t *j, void *arg)
{
    double *rt = arg;
    if (j->id < 8) rt[j->id] = j->running_time;
    return 0;
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
        sqlite3_exec(
            db,
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
    cl_store_batch_t *b = cl_store_batch_new();
    put_job(b, 6, CL_JOB_RUNNING);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    cl_store_close(s);
    s = cl_store_open_sqlite(dir, true, &err); /* the column exists now: no second ALTER */
    assert_non_null(s);
    double rt[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    assert_int_equal(cl_store_load(s, on_running_time, NULL, rt, &err), 0);
    assert_true(rt[5] == 0);
    assert_true(rt[6] == 1700000002.25);
    cl_store_close(s);
}

static void test_open_error(void **st)
{
    cl_error_t err;
    assert_null(cl_store_open_sqlite("/proc/nonexistent/x", true, &err));
    assert_non_null(strstr(err.msg, "cannot create /proc/nonexistent/x"));
    char path[128];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    assert_int_equal(cl_write_file_atomic(path, "not a database, but text", &err), 0);
    assert_null(cl_store_open_sqlite(dir, true, &err));
    assert_non_null(strstr(err.msg, path));
}

/* The journal is in WAL mode, and reads do not wait for a writer holding the write lock (as
 * the committer's worker does for the length of a commit). */
static void test_reads_never_wait_for_writer(void **st)
{
    cl_store_t *s = open_url("sqlite:%s");
    cl_store_batch_t *b = cl_store_batch_new();
    put_job(b, 1, CL_JOB_PENDING);
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; DELETE FROM jobs;", NULL, NULL, NULL),
                     SQLITE_OK);
    double t0 = cl_now_ms();
    assert_int_equal(jobs_in(s), 1); /* the committed state, not the open delete */
    uint64_t v;
    assert_int_equal(cl_store_meta_get(s, "x", &v, &err), 0);
    assert_true(cl_now_ms() - t0 < 1000); /* the busy timeout is 5 s */
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(jobs_in(s), 0);
    cl_store_batch_free(b);
    cl_store_close(s);
}

static void test_group_commit_rate(void **st)
{
    cl_error_t err;
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    cl_store_batch_t *b = cl_store_batch_new();
    double t0 = cl_now_us();
    for (uint64_t i = 0; i < 20000; i++) {
        put_job(b, i + 1, CL_JOB_PENDING);
        if (i % 1000 == 999) {
            assert_int_equal(cl_store_commit(s, b, &err), 0);
            cl_store_batch_clear(b);
        }
    }
    double dt = (cl_now_us() - t0) / 1e6;
    printf("store: 20000 job records in 20 group commits (fsync each): %.0f records/s\n",
           20000 / dt);
    assert_int_equal(s->commits, 20);
    assert_int_equal(s->records_committed, 20000);
    cl_store_batch_free(b);
    cl_store_close(s);
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_refused),
        CASE(test_url_refused_creates_nothing),
        CASE(test_url_opens),
        CASE(test_fault_fail_window),
        CASE(test_fault_wait_times_out),
        CASE(test_fault_delay),
        CASE(test_kill9_keeps_committed),
        CASE(test_old_journal_gains_running_time),
        CASE(test_open_error),
        CASE(test_reads_never_wait_for_writer),
        CASE(test_group_commit_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
