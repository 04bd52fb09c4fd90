/* test_store_parts.c - what is not the conformance suite (test_store.c, test_store_acct.c):
 * store URLs, groupings by name, the fault store's controls, and what only the SQLite backend
 * promises (a SIGKILL after commit keeps everything, the migrations of old journals, the audit
 * log's rows, reads through indexes, WAL, errors on open). */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/fault.h"
#include "store/sqlite_int.h"
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
    assert_int_equal(cl_store_load(s, 0, count_job, NULL, &n, &err), 0);
    return n;
}

/* ---- URLs ---- */

/* How a URL is shown: its password hidden wherever libpq takes one, nothing else changed. */
static void test_url_shown(void **st)
{
    static const char *const v[][2] = {
        {"postgresql://alice:s3cret@db:5432/c", "postgresql://alice:***@db:5432/c"},
        {"postgres://alice@db/c", "postgres://alice@db/c"},
        {"postgresql://db/c?password=s3cret&user=bob",
         "postgresql://db/c?password=***&user=bob"},
        {"postgresql://db/c?user=bob&password=s3cret",
         "postgresql://db/c?user=bob&password=***"},
        {"fault:postgresql://a:s3cret@h/d?x?", "fault:postgresql://a:***@h/d?x?"},
        {"postgresql://a:b:c@h/d", "postgresql://a:***@h/d"},
        {"postgresql://h/d?mypassword=x", "postgresql://h/d?mypassword=x"},
        {"host=db password=s3cret user=bob", "host=db password=*** user=bob"},
        {"sqlite:/var/lib/colossus", "sqlite:/var/lib/colossus"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[256];
        cl_store_url_shown(v[i][0], out, sizeof out);
        assert_string_equal(out, v[i][1]);
    }
    char small[12];
    cl_store_url_shown("postgresql://alice:s3cret@db/c", small, sizeof small);
    assert_string_equal(small, "postgresql:");
}

static void refused(const char *url, const char *want)
{
    cl_error_t err = {{0}};
    assert_null(cl_store_open(url, NULL, &err));
    if (!strstr(err.msg, want)) fail_msg("%s: '%s' does not say '%s'", url, err.msg, want);
    if (strstr(err.msg, "s3cret")) fail_msg("%s: '%s' shows the password", url, err.msg);
}

static void test_url_refused(void **st)
{
    /* PostgreSQL's: malformed (libpq says why), or nothing listens there (the password
     * never shown) */
    refused("postgresql://db.example/colossus?nosuchparam=1",
            "'postgresql://db.example/colossus?nosuchparam=1' is not a PostgreSQL URL: "
            "invalid URI query parameter: \"nosuchparam\"");
    refused("postgres://[::1/x", "is not a PostgreSQL URL: end of string reached");
    refused("postgresql://alice:s3cret@127.0.0.1:1/colossus",
            "store: cannot connect to postgresql://alice:***@127.0.0.1:1/colossus: ");
    refused(
        "postgresql:///colossus?host=127.0.0.1&port=1&password=s3cret&user=bob",
        "cannot connect to postgresql:///colossus?host=127.0.0.1&port=1&password=***&user=bob");
    refused("fault:postgresql://alice:s3cret@127.0.0.1:1/colossus?", /* the inner URL's */
            "cannot connect to postgresql://alice:***@127.0.0.1:1/colossus: ");
    refused("mysql://x", "'mysql://x' is not a store URL; use sqlite:DIR, postgresql://");
    refused("/var/lib/colossus", "'/var/lib/colossus' is not a store URL");
    refused("", "'' is not a store URL");
    refused("sqlite:", "names no directory");
    refused("fault:sqlite:/tmp/x?delay_ms=abc", "fault option delay_ms needs a number");
    refused("fault:sqlite:/tmp/x?delay_ms", "fault option delay_ms needs a number");
    refused("fault:sqlite:/tmp/x?fail_at=0", "fault option fail_at needs a number >= 1");
    refused("fault:sqlite:/tmp/x?retries=3", "unknown fault option 'retries'");
    refused("fault:mysql://x", "'mysql://x' is not a store URL");
    refused("fault:postgresql://h/db?sslmode=require&bad=1?", "is not a PostgreSQL URL");
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

/* The jobs table's columns before running_time (issue 9) */
#define OLD_JOB_COLUMNS                                                                        \
    "id INTEGER PRIMARY KEY, state INTEGER NOT NULL, name TEXT, tenant TEXT, cwd TEXT, "       \
    "reason TEXT, nodes INTEGER, gpus_per_node INTEGER, max_restarts INTEGER, time_limit_s "   \
    "REAL, priority INTEGER, restarts INTEGER, incarnation INTEGER, exit_code INTEGER, "       \
    "has_exit INTEGER, submit_time REAL, start_time REAL, end_time REAL, alloc TEXT, argv "    \
    "BLOB, env BLOB"

/* A journal as older code left it in this test's directory: its SQL, run; the path to it. */
static const char *old_journal(const char *sql)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    return path;
}

/* A journal written before jobs had running_time: opening it adds the column (0 for the old
 * rows) and keeps every job. */
static void test_old_journal_gains_running_time(void **st)
{
    old_journal("CREATE TABLE jobs(" OLD_JOB_COLUMNS ");"
                "INSERT INTO jobs(id, state, name, argv, env) VALUES(5, 1, 'old', X'', X'');");
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
    assert_int_equal(cl_store_load(s, 0, on_running_time, NULL, rt, &err), 0);
    assert_true(rt[5] == 0);
    assert_true(rt[6] == 1700000002.25);
    cl_store_close(s);
}

static int count_sum(const cl_store_sum_t *r, void *arg)
{
    ((uint64_t *)arg)[0]++;
    ((uint64_t *)arg)[1] += r->runs;
    return 0;
}

static int count_usage(const cl_store_usage_t *u, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static int count_audit(const cl_store_audit_t *a, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static uint64_t scans_since(cl_store_t *s, uint64_t *mark)
{
    uint64_t now = cl_store_sqlite_fullscan_steps(s, false), d = now - *mark;
    *mark = now;
    return d;
}

static bool has_index(const char *path, const char *name)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='index' AND name=?", -1,
                           &q, NULL),
        SQLITE_OK);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    bool have = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    sqlite3_close(db);
    return have;
}

/* One value of SQL on the journal in this test's directory, through a connection of its own. */
static int64_t sql_int(const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* A journal made by the code before issue 11 (its schema verbatim, a finished and a pending
 * job, a node, a meta key), and one of issue 11's first form (the same with every job's
 * state indexed by jobs_state_end): the first open moves the finished job into jobs_done
 * (indexed by end time), drops jobs_state_end, adds the accounting tables and keeps every
 * row; the new operations work on it; the next open changes nothing. */
static void old_journal_gains_issue11(bool state_index)
{
    /* issue 11's first form of the usage records: a rowid, a unique index, an index on the
     * ended state; a run of job 7 in it */
    static const char first_usage[] =
        "CREATE TABLE usage_records(seq INTEGER PRIMARY KEY, job INTEGER NOT NULL,"
        " incarnation INTEGER NOT NULL, name TEXT NOT NULL, tenant TEXT NOT NULL,"
        " user_name TEXT NOT NULL, nodes TEXT NOT NULL, ended TEXT NOT NULL, reason TEXT NOT "
        "NULL, gpus INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL NOT NULL,"
        " gpu_s REAL NOT NULL, energy_j REAL NOT NULL, flops REAL NOT NULL,"
        " exit_code INTEGER NOT NULL, has_exit INTEGER NOT NULL, UNIQUE(job, incarnation));"
        "CREATE INDEX usage_end ON usage_records(end_time);"
        "CREATE INDEX usage_ended_end ON usage_records(ended, end_time);"
        "INSERT INTO usage_records(job, incarnation, name, tenant, user_name, nodes, ended,"
        " reason, gpus, start_time, end_time, gpu_s, energy_j, flops, exit_code, has_exit)"
        " VALUES(7, 1, 'old', 't', 'u', 'gpu-0', 'succeeded', '', 1, 40, 50, 10, 0, 0, 0, 1);";
    char sql[4096];
    snprintf(sql, sizeof sql, "%s%s%s",
             "PRAGMA journal_mode=WAL;"
             "CREATE TABLE IF NOT EXISTS jobs(" OLD_JOB_COLUMNS
             ", running_time REAL NOT NULL DEFAULT 0);"
             "CREATE TABLE IF NOT EXISTS nodes(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT "
             "NULL, drained INTEGER, reason TEXT);"
             "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);"
             "INSERT INTO jobs(id, state, name, end_time, argv, env) VALUES"
             " (1, 2, 'done', 100, X'', X''), (2, 0, 'waiting', 0, X'', X'');"
             "INSERT INTO nodes VALUES(0, 'gpu-0', 1, 'fan');"
             "INSERT INTO meta VALUES('cluster_id', 42);",
             state_index ? "CREATE INDEX jobs_state_end ON jobs(state, end_time);" : "",
             state_index ? first_usage : "");
    const char *path = old_journal(sql);
    assert_int_equal(has_index(path, "jobs_state_end"), state_index);
    for (int pass = 0; pass < 2; pass++) {
        cl_error_t err = {{0}};
        cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
        if (!s) fail_msg("%s", err.msg);
        assert_int_equal(jobs_in(s), pass ? 3 : 2);
        int live = 0;
        assert_int_equal(cl_store_load(s, 150, count_job, NULL, &live, &err), 0);
        assert_int_equal(live, pass ? 2 : 1); /* the pending job (and job 3) */
        uint64_t v = 0, id = 0;
        assert_int_equal(cl_store_meta_get(s, "cluster_id", &v, &err), 1);
        assert_int_equal(v, 42);
        assert_int_equal(cl_store_job_id_max(s, &id, &err), 0);
        assert_int_equal(id, pass ? 3 : 2);
        if (!pass) {
            cl_store_batch_t *b = cl_store_batch_new();
            put_job(b, 3, CL_JOB_PENDING);
            cl_store_batch_usage(
                b, &(cl_store_usage_t){.job = 1, .incarnation = 1, .tenant = "t", .end = 100});
            cl_store_batch_obj(b, "tenant", "t", "x", 1);
            cl_store_batch_audit(b, &(cl_store_audit_t){1, "root", "up", "", "", true});
            assert_int_equal(cl_store_commit(s, b, &err), 0);
            cl_store_batch_free(b);
        }
        uint64_t sums[2] = {0};
        int hist = 0, audit = 0;
        assert_int_equal(cl_store_usage_query(s, &(cl_store_usage_q_t){CL_STORE_BY_TENANT},
                                              count_sum, sums, &err),
                         0);
        assert_int_equal(
            cl_store_history_query(s, &(cl_store_history_q_t){0}, count_usage, &hist, &err), 0);
        assert_int_equal(
            cl_store_audit_query(s, &(cl_store_audit_q_t){0}, count_audit, &audit, &err), 0);
        assert_int_equal(sums[1], 1);
        assert_int_equal(hist, state_index ? 2 : 1); /* and job 7's old run */
        assert_int_equal(audit, 1);
        cl_store_close(s);
        assert_false(has_index(path, "usage_ended_end"));
        assert_false(has_index(path, "jobs_state_end"));
        assert_true(has_index(path, "jobs_done_end"));
        assert_true(has_index(path, "usage_tenant_end"));
        assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done WHERE id=1"), 1);
        assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs"), 2); /* 2 and 3 */
    }
    /* the prune's statement on either form: job 7's run (ended at 50) goes, job 1's stays */
    cl_error_t err = {{0}};
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_prune(b, 0, 75, 0);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    assert_int_equal(s->pruned_usage, state_index ? 1 : 0);
    int hist = 0;
    assert_int_equal(
        cl_store_history_query(s, &(cl_store_history_q_t){0}, count_usage, &hist, &err), 0);
    assert_int_equal(hist, 1);
    cl_store_close(s);
}

static void test_old_journal_gains_issue11(void **st)
{
    old_journal_gains_issue11(false);
}

static void test_issue11_journal_moves_finished_jobs(void **st)
{
    old_journal_gains_issue11(true);
}

typedef struct audit_text {
    char text[512];
    int n;
} audit_text_t;

static int on_audit_text(const cl_store_audit_t *a, void *arg)
{
    audit_text_t *x = arg;
    size_t at = strlen(x->text);
    snprintf(x->text + at, sizeof x->text - at, "%s%s@%g:%s:%s:%s:%d", x->n++ ? " | " : "",
             a->who, a->time, a->op, a->target, a->detail, a->ok);
    return 0;
}

/* The audit log of a journal made before the groups (audit_log, a row per record, its two
 * indexes: the schema verbatim) moves into audit_groups on open, beside what the groups
 * already hold, and goes; the records read back the same, and the next open changes nothing. */
static void test_old_audit_log_moves(void **st)
{
    cl_error_t err = {{0}};
    cl_store_t *s = cl_store_open_sqlite(dir, true, &err);
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_audit(b, &(cl_store_audit_t){500, "new", "drain", "gpu-1", "fan", true});
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    cl_store_close(s);
    const char *path = old_journal(
        "CREATE TABLE IF NOT EXISTS audit_log(seq INTEGER PRIMARY KEY, time REAL NOT NULL,"
        " who TEXT NOT NULL, op TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL,"
        " ok INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS audit_time ON audit_log(time);"
        "CREATE INDEX IF NOT EXISTS audit_who_time ON audit_log(who, time);"
        "INSERT INTO audit_log(time,who,op,target,detail,ok) VALUES"
        " (100.25, 'alice', 'submit', 'job 1', '', 1),"
        " (200, 'bob', 'cancel', 'job 1', 'not' || char(9) || 'yours\\', 0),"
        " (200, 'alice', 'token create', 't-9', 'é' || char(10), 1);");
    assert_true(has_index(path, "audit_time"));
    const char *want = "new@500:drain:gpu-1:fan:1 | alice@200:token create:t-9:é\n:1 | "
                       "bob@200:cancel:job 1:not\tyours\\:0 | alice@100.25:submit:job 1::1";
    for (int pass = 0; pass < 2; pass++) {
        s = cl_store_open_sqlite(dir, true, &err);
        if (!s) fail_msg("%s", err.msg);
        audit_text_t x = {0};
        assert_int_equal(
            cl_store_audit_query(s, &(cl_store_audit_q_t){0}, on_audit_text, &x, &err), 0);
        assert_string_equal(x.text, want);
        x = (audit_text_t){0};
        assert_int_equal(cl_store_audit_query(s, &(cl_store_audit_q_t){.who = "alice"},
                                              on_audit_text, &x, &err),
                         0);
        assert_int_equal(x.n, 2);
        cl_store_close(s);
        assert_false(has_index(path, "audit_time"));
        assert_false(has_index(path, "audit_who_time"));
        assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE name='audit_log'"),
                         0);
        assert_int_equal(sql_int("SELECT count(*) FROM audit_groups"), 4);
    }
}

/* A group of one run of records by one who is one row; one longer than a group's text
 * limit (64 KiB) is several. */
static void test_audit_groups_rows(void **st)
{
    cl_store_t *s = open_url("sqlite:%s");
    cl_store_batch_t *b = cl_store_batch_new();
    char detail[1001];
    memset(detail, 'd', 1000);
    detail[1000] = 0;
    for (int i = 0; i < 300; i++)
        cl_store_batch_audit(b, &(cl_store_audit_t){i, "one", "submit", "", "", true});
    cl_store_batch_audit(b, &(cl_store_audit_t){300, "two", "submit", "", "", true});
    for (int i = 0; i < 200; i++)
        cl_store_batch_audit(b, &(cl_store_audit_t){400 + i, "one", "x", "", detail, true});
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    cl_store_close(s);
    assert_int_equal(sql_int("SELECT count(*) FROM audit_groups WHERE last_time < 400"), 2);
    assert_int_equal(sql_int("SELECT n FROM audit_groups WHERE last_time = 299"), 300);
    int64_t big = sql_int("SELECT count(*) FROM audit_groups WHERE first_time >= 400");
    assert_true(big >= 3 && big <= 4); /* 200 KB of text in groups of about 64 KiB */
    assert_int_equal(sql_int("SELECT sum(n) FROM audit_groups"), 501);
}

/* A group whose records text is not what the store writes makes the query fail, naming the
 * group (its seq), without reading past the text. */
static void test_audit_group_malformed(void **st)
{
    static const char *bad[] = {
        "'1\t1\tsubmit\tjob\t'",                      /* no newline at the end */
        "'1\t1\tsubmit\tjob\n'",                      /* 4 fields */
        "'1\t1\tsubmit\tjob\t\t\n'",                  /* 6 fields */
        "'x\t1\tsubmit\tjob\t\n'",                    /* time */
        "'1e\t1\tsubmit\tjob\t\n'",                   /* time */
        "'nan\t1\tsubmit\tjob\t\n'",                  /* time */
        "'1.5\t1\tsubmit\tjob\t\n'",                  /* time: microseconds are whole */
        "'99999999999999999999\t1\tsubmit\tjob\t\n'", /* time: past 64 bits */
        "'1\t2\tsubmit\tjob\t\n'",                    /* ok */
        "'1\t1\tsub\\mit\tjob\t\n'",                  /* escape */
        "'1\t1\tsubmit\tjob\t\\\n'",                  /* a lone backslash at the end */
        "'1\t1\tsubmit\tjob\t\n1\t1\tx\ty\tz\n'",     /* 2 lines, n = 1 */
        "''",
        "5",
        "CAST(X'31093109730974090A00' AS TEXT)", /* a NUL after the line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cl_store_t *s = open_url("sqlite:%s");
        cl_store_batch_t *b = cl_store_batch_new();
        cl_store_batch_audit(b, &(cl_store_audit_t){1, "a", "submit", "job", "", true});
        cl_error_t err = {{0}};
        assert_int_equal(cl_store_commit(s, b, &err), 0);
        cl_store_batch_free(b);
        int64_t seq = sql_int("SELECT max(seq) FROM audit_groups");
        char sql[256];
        snprintf(sql, sizeof sql,
                 "UPDATE audit_groups SET records=%s WHERE seq=%" PRId64 "; SELECT changes()",
                 bad[i], seq);
        old_journal(sql);
        audit_text_t x = {0};
        assert_int_equal(
            cl_store_audit_query(s, &(cl_store_audit_q_t){0}, on_audit_text, &x, &err), -1);
        char want[64];
        snprintf(want, sizeof want, "group %" PRId64 " is malformed", seq);
        if (!strstr(err.msg, want)) fail_msg("%s: %s", bad[i], err.msg);
        x = (audit_text_t){0}; /* a bound that leaves the groups out reads */
        assert_int_equal(cl_store_audit_query(s, &(cl_store_audit_q_t){.since = 1000},
                                              on_audit_text, &x, &err),
                         0);
        cl_store_close(s);
    }
}

/* The ids a load gives, as text ("1 2"), each with its state's first letter. */
static int on_id_state(const cl_store_job_t *j, void *arg)
{
    char *t = arg;
    size_t n = strlen(t);
    snprintf(t + n, 256 - n, "%s%" PRIu64 "%c", n ? " " : "", j->id,
             cl_job_state_name(j->state)[0]);
    return 0;
}

static const char *loaded(cl_store_t *s, char t[256])
{
    cl_error_t err = {{0}};
    t[0] = 0;
    assert_int_equal(cl_store_load(s, 0, on_id_state, NULL, t, &err), 0);
    return t;
}

static void commit_states(cl_store_t *s, const uint64_t *ids, const int *states, int n)
{
    cl_store_batch_t *b = cl_store_batch_new();
    for (int i = 0; i < n; i++)
        put_job(b, ids[i], states[i]);
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
}

/* A job's row is in one table only: a finished job stays in jobs until SQ_RECENT_MAX of them
 * are there, which one commit moves into jobs_done (so does a prune), and leaves jobs_done
 * when it is put live again (also after a reopen, which must learn the highest id there and
 * how many finished jobs wait in jobs); a load gives each job once, in id order, the
 * finished ones by their end time wherever they are. */
static void test_jobs_move_between_tables(void **st)
{
    cl_store_t *s = open_url("sqlite:%s");
    char t[256];
    commit_states(s, (uint64_t[]){1, 2, 3}, (int[]){CL_JOB_PENDING, CL_JOB_PENDING, 0}, 3);
    commit_states(s, (uint64_t[]){2}, (int[]){CL_JOB_SUCCEEDED}, 1);
    assert_string_equal(loaded(s, t), "1p 2s 3p");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs"), 3);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done"), 0);
    commit_states(s, (uint64_t[]){2, 4}, (int[]){CL_JOB_PENDING, CL_JOB_PENDING}, 2);
    assert_string_equal(loaded(s, t), "1p 2p 3p 4p");
    commit_states(s, (uint64_t[]){3}, (int[]){CL_JOB_FAILED}, 1);
    cl_store_close(s);
    s = open_url("sqlite:%s"); /* one finished job waits in jobs: counted again */
    commit_states(s, (uint64_t[]){3, 5}, (int[]){CL_JOB_RUNNING, CL_JOB_CANCELLED}, 2);
    assert_string_equal(loaded(s, t), "1p 2p 3r 4p 5c");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs"), 5);
    /* SQ_RECENT_MAX - 1 more finished jobs (a commit of fewer than SQ_RECENT_MAX jobs): with
     * 5, SQ_RECENT_MAX finished in jobs, and the commit moves them */
    cl_store_batch_t *b = cl_store_batch_new();
    for (uint64_t id = 6; id < 6 + SQ_RECENT_MAX - 1; id++)
        put_job(b, id, CL_JOB_SUCCEEDED);
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs"), 4);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done"), SQ_RECENT_MAX);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done WHERE id=5"), 1);
    cl_store_close(s);
    s = open_url("sqlite:%s"); /* learns the highest id in jobs_done */
    commit_states(s, (uint64_t[]){5, 7}, (int[]){CL_JOB_PENDING, CL_JOB_RUNNING}, 2);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done WHERE id IN (5, 7)"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs WHERE id IN (5, 7)"), 2);
    /* a finished job still in jobs: loaded by its end time */
    cl_store_batch_clear(b);
    cl_store_job_t j;
    mkjob(&j, 7, CL_JOB_FAILED);
    j.end_time = 1.8e9; /* after every other job's (mkjob's) */
    cl_store_batch_job(b, &j);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs WHERE id=7"), 1);
    int n[2] = {0};
    assert_int_equal(cl_store_load(s, 1.8e9, count_job, NULL, &n[0], &err), 0);
    assert_int_equal(cl_store_load(s, 1.8e9 + 0.5, count_job, NULL, &n[1], &err), 0);
    assert_int_equal(n[0] - n[1], 1);
    assert_int_equal(n[1], 5); /* 1 to 5, live */
    /* a prune sees it too (jobs_done first, then the cut) */
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 1.9e9, 0, 0);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs WHERE id=7"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs_done"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM jobs"), 5);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* The job ids a history query gives, as text ("3 2"). */
static int on_run_id(const cl_store_usage_t *u, void *arg)
{
    ids_append(arg, u->job);
    return 0;
}

static const char *runs(cl_store_t *s, cl_store_history_q_t q, char t[256])
{
    cl_error_t err = {{0}};
    t[0] = 0;
    assert_int_equal(cl_store_history_query(s, &q, on_run_id, t, &err), 0);
    return t;
}

/* Runs of jobs [from, to), each ending at ten times its id (end: that unless given), tenant a
 * for odd ids, b for even, in one commit. */
static void commit_runs(cl_store_t *s, uint64_t from, uint64_t to, double end)
{
    cl_store_batch_t *b = cl_store_batch_new();
    for (uint64_t id = from; id < to; id++)
        cl_store_batch_usage(b, &(cl_store_usage_t){.job = id,
                                                    .incarnation = 1,
                                                    .tenant = id % 2 ? "a" : "b",
                                                    .user = "u",
                                                    .ended = "succeeded",
                                                    .end = end > 0 ? end : 10.0 * (double)id,
                                                    .gpu_s = 1});
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
}

static uint64_t rollup_runs(cl_store_t *s, const char *tenant)
{
    uint64_t sums[2] = {0};
    cl_error_t err = {{0}};
    cl_store_usage_q_t uq = {.by = CL_STORE_BY_DAY, .tenant = tenant};
    assert_int_equal(cl_store_usage_query(s, &uq, count_sum, sums, &err), 0);
    return sums[1];
}

/* A run's record waits in usage_recent until SQ_RECENT_MAX are there, which one commit moves
 * into usage_records and adds to the rollups: history and usage read both, merged in order
 * and with their filters; a duplicate in either table changes nothing (rollups included); a
 * prune moves them first (the rollups keep what it cuts); a commit of SQ_RECENT_MAX runs or
 * more writes them into usage_records and the rollups itself. */
static void test_usage_recent_runs(void **st)
{
    cl_store_t *s = open_url("sqlite:%s");
    char t[256];
    commit_runs(s, 1, 4, 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_recent"), 3);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_records"), 0);
    assert_string_equal(runs(s, (cl_store_history_q_t){.limit = 2}, t), "3 2");
    assert_string_equal(runs(s, (cl_store_history_q_t){.tenant = "a"}, t), "3 1");
    commit_runs(s, 2, 3, 0);                   /* a duplicate of a recent run */
    assert_int_equal(rollup_runs(s, NULL), 3); /* not in the rollups yet: read from there */
    assert_int_equal(rollup_runs(s, "a"), 2);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_rollups"), 0);
    commit_runs(s, 4, SQ_RECENT_MAX + 1, 0); /* SQ_RECENT_MAX in all: moved */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_recent"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_records"), SQ_RECENT_MAX);
    assert_int_equal(sql_int("SELECT SUM(runs) FROM usage_rollups"), SQ_RECENT_MAX);
    commit_runs(s, 1, 2, 0); /* a duplicate of a moved one */
    assert_int_equal(rollup_runs(s, NULL), SQ_RECENT_MAX);
    commit_runs(s, 1000, 1001, 15); /* recent, between jobs 1 and 2 */
    commit_runs(s, 1001, 1002, 1e6);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_recent"), 2);
    assert_string_equal(runs(s, (cl_store_history_q_t){.until = 21}, t), "2 1000 1");
    char want[64];
    snprintf(want, sizeof want, "1001 %d %d", SQ_RECENT_MAX, SQ_RECENT_MAX - 1);
    assert_string_equal(runs(s, (cl_store_history_q_t){.limit = 3}, t), want);
    assert_string_equal(runs(s, (cl_store_history_q_t){.tenant = "b", .until = 50}, t),
                        "4 2 1000");
    assert_string_equal(runs(s, (cl_store_history_q_t){.job = 1000}, t), "1000");
    cl_store_close(s);
    s = open_url("sqlite:%s"); /* counts usage_recent's rows again */
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_prune(b, 0, 16, 0); /* job 1 (moved) and 1000 (recent) */
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    assert_int_equal(s->pruned_usage, 2);
    assert_string_equal(runs(s, (cl_store_history_q_t){.until = 31}, t), "3 2");
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_recent"), 0); /* moved first */
    commit_runs(s, 3000, 3001, 0);
    commit_runs(s, 2000, 2000 + SQ_RECENT_MAX, 0); /* many: where they stay */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM usage_recent"), 1);
    assert_int_equal(rollup_runs(s, NULL), 2 * SQ_RECENT_MAX + 3);
    cl_store_close(s);
}

/* What a statement stepped through in full scans, on a journal of many finished jobs, usage
 * and audit records: a start's load, history and audit with their common filters, none (or
 * the rows they gave, read in index order); a usage query, only rollup rows (a few, against
 * thousands of usage records); the commits of the records and of a prune, none. Fails when
 * an index is missing or SQLite stops using it. */
static void test_reads_use_indexes(void **st)
{
    enum { N = 3000 };
    cl_store_t *s = open_url("sqlite:%s");
    cl_store_batch_t *b = cl_store_batch_new();
    static const char *tenants[] = {"a", "b", "c"}, *users[] = {"u1", "u2", "u3", "u4"};
    for (uint64_t i = 1; i <= N; i++) {
        cl_store_job_t j;
        mkjob(&j, i, CL_JOB_SUCCEEDED);
        j.end_time = 1000 + (double)i;
        cl_store_batch_job(b, &j);
        cl_store_batch_usage(b, &(cl_store_usage_t){.job = i,
                                                    .incarnation = 1,
                                                    .tenant = tenants[i % 3],
                                                    .user = users[i % 4],
                                                    .ended = i % 10 ? "succeeded" : "failed",
                                                    .end = j.end_time,
                                                    .gpu_s = 1});
        cl_store_batch_audit(
            b, &(cl_store_audit_t){j.end_time, users[i % 4], "submit", "", "", true});
    }
    put_job(b, N + 1, CL_JOB_PENDING);
    put_job(b, N + 2, CL_JOB_RUNNING);
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    /* rows each read gave, and its full-scan steps */
    int n[8] = {0};
    uint64_t scans[8], mark = cl_store_sqlite_fullscan_steps(s, false), sums[2] = {0};
    assert_int_equal(cl_store_load(s, 1000 + N - 9, count_job, NULL, &n[0], &err), 0);
    scans[0] = scans_since(s, &mark);
    cl_store_history_q_t hq[] = {{.tenant = "b", .limit = 50},
                                 {.since = 1000 + N - 100, .user = "u2"},
                                 {.ended = "failed", .limit = 20},
                                 {.limit = 100}};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cl_store_history_query(s, &hq[i], count_usage, &n[i + 1], &err), 0);
        scans[i + 1] = scans_since(s, &mark);
    }
    cl_store_audit_q_t aq[] = {{.who = "u3", .limit = 30}, {.limit = 30}};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cl_store_audit_query(s, &aq[i], count_audit, &n[i + 5], &err), 0);
        scans[i + 5] = scans_since(s, &mark);
    }
    cl_store_usage_q_t uq = {.by = CL_STORE_BY_USER};
    assert_int_equal(cl_store_usage_query(s, &uq, count_sum, sums, &err), 0);
    scans[7] = scans_since(s, &mark);
    n[7] = (int)sums[0];
    static const char *what[] = {"load",          "history tenant", "history user since",
                                 "history state", "history limit",  "audit who",
                                 "audit limit",   "usage by user"};
    for (int i = 0; i < 8; i++)
        printf("%-20s %4d rows, %4" PRIu64 " full-scan steps\n", what[i], n[i], scans[i]);
    int want[] = {12, 50, 25, 20, 100, 30, 30};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(n[i], want[i]);
        /* at most the rows it gave; a state alone (a tenth of the runs here), the end times'
         * scan filtering: at most the runs that ended since the oldest it gave */
        assert_true(scans[i] <= (uint64_t)n[i] * (i == 3 ? 10 : 1));
    }
    assert_int_equal(n[7], 4);
    assert_int_equal(sums[1], N);
    assert_true(scans[7] <= 12); /* the rollups: one day, 12 (tenant, user) pairs */
    /* the commits: the records above, then a prune of every kind (the highest job id kept) */
    assert_int_equal(cl_store_sqlite_fullscan_steps(s, true), 0);
    b = cl_store_batch_new();
    cl_store_batch_prune(b, 1000 + 101, 1000 + 101, 1000 + 101);
    assert_int_equal(cl_store_commit(s, b, &err), 0);
    cl_store_batch_free(b);
    assert_int_equal(s->pruned_jobs + s->pruned_usage + s->pruned_audit, 300);
    printf("%-20s %4d rows, %4" PRIu64 " full-scan steps\n", "commits", 3 * N + 302,
           cl_store_sqlite_fullscan_steps(s, true));
    assert_int_equal(cl_store_sqlite_fullscan_steps(s, true), 0);
    cl_store_close(s);
}

static void test_by_parse(void **st)
{
    cl_store_by_t by = CL_STORE_BY_TENANT;
    cl_error_t err = {{0}};
    const char *names[] = {"tenant", "user", "day", "month"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cl_store_by_parse(names[i], &by, &err), 0);
        assert_int_equal(by, i);
    }
    assert_int_equal(cl_store_by_parse("week", &by, &err), -1);
    assert_string_equal(err.msg, "'week' is not a grouping: tenant, user, day or month");
    assert_int_equal(by, CL_STORE_BY_MONTH); /* untouched */
    assert_int_equal(cl_store_by_parse(NULL, &by, &err), -1);
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
        cmocka_unit_test(test_url_shown),
        cmocka_unit_test(test_url_refused),
        CASE(test_url_refused_creates_nothing),
        CASE(test_url_opens),
        CASE(test_fault_fail_window),
        CASE(test_fault_wait_times_out),
        CASE(test_fault_delay),
        CASE(test_kill9_keeps_committed),
        CASE(test_old_journal_gains_running_time),
        CASE(test_old_journal_gains_issue11),
        CASE(test_issue11_journal_moves_finished_jobs),
        CASE(test_old_audit_log_moves),
        CASE(test_audit_groups_rows),
        CASE(test_audit_group_malformed),
        CASE(test_jobs_move_between_tables),
        CASE(test_usage_recent_runs),
        CASE(test_reads_use_indexes),
        cmocka_unit_test(test_by_parse),
        CASE(test_open_error),
        CASE(test_reads_never_wait_for_writer),
        CASE(test_group_commit_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
