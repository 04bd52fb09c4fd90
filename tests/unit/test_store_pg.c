/* test_store_pg.c - what the PostgreSQL backend does beyond the conformance suite (which
 * test_store*.c run on it too): its schema version table, a newer version refused, two
 * stores opening a new database at once migrate it once, a database that does not exist is
 * an error naming it, and connections the server dropped are regained by the next commit and
 * read. Needs the throwaway server of tests/run.sh's pg pass (COLOSSUS_TEST_PG_SOCK). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "store_conformance.h"
#include "store/store.h"

static PGconn *admin(void)
{
    PGconn *db = PQconnectdb(pg_url);
    if (PQstatus(db) != CONNECTION_OK) fail_msg("%s: %s", pg_url, PQerrorMessage(db));
    return db;
}

/* The first value of sql's first row, as an integer. */
static long long sql_int(const char *sql)
{
    PGconn *db = admin();
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(db));
    long long v = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(db);
    return v;
}

static void put_job(cl_store_t *s, uint64_t id, int *rc, cl_error_t *err)
{
    cl_store_job_t j;
    mkjob(&j, id, CL_JOB_PENDING);
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_job(b, &j);
    *rc = cl_store_commit(s, b, err);
    cl_store_batch_free(b);
}

static int found(const cl_store_job_t *j, void *arg)
{
    return 0;
}

static void test_schema_version(void **st)
{
    cl_store_t *s = store_open();
    cl_store_close(s);
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_schema"), 1);
    assert_int_equal(sql_int("SELECT version FROM colossus_schema"), 5);
    s = store_open(); /* again: nothing to migrate, still one row */
    cl_store_close(s);
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_schema"), 1);
    /* a newer build's journal: refused, left as it is */
    sql_int("UPDATE colossus_schema SET version=99");
    cl_error_t err = {{0}};
    assert_null(cl_store_open(pg_url, NULL, &err));
    if (!strstr(err.msg, "the journal's schema is version 99, newer than this build's 5: "
                         "refusing it"))
        fail_msg("%s", err.msg);
    assert_int_equal(sql_int("SELECT version FROM colossus_schema"), 99);
    /* a journal of version 1 (before issue 15's columns), with a job: migrated, kept */
    sql_int("UPDATE colossus_schema SET version=5");
    s = store_open();
    int rc = 0;
    put_job(s, 7, &rc, &err);
    assert_int_equal(rc, 0);
    cl_store_close(s);
    sql_int("ALTER TABLE jobs DROP COLUMN dependency, DROP COLUMN held, DROP COLUMN array_id,"
            " DROP COLUMN array_task, DROP COLUMN array_spec, DROP COLUMN ended,"
            " DROP COLUMN exclusive, DROP COLUMN nodelist, DROP COLUMN exclude,"
            " DROP COLUMN cpus_per_gpu, DROP COLUMN mem_per_gpu_mb");
    sql_int("DROP TABLE colossus_lease; DROP FUNCTION colossus_lease_take;"
            " DROP FUNCTION colossus_lease_renew; DROP FUNCTION colossus_lease_check");
    sql_int("UPDATE colossus_schema SET version=1");
    cl_store_close(store_open());
    assert_int_equal(sql_int("SELECT version FROM colossus_schema"), 5);
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder=''"), 1);
    assert_int_equal(
        sql_int("SELECT count(*) FROM jobs WHERE id=7 AND dependency='' AND NOT held"
                " AND array_id=0 AND array_spec='' AND NOT exclusive AND nodelist=''"
                " AND exclude='' AND cpus_per_gpu=0 AND mem_per_gpu_mb=0"),
        1);
    /* a journal of version 3 (before the node constraints): migrated to 5 */
    sql_int("ALTER TABLE jobs DROP COLUMN exclusive, DROP COLUMN nodelist, DROP COLUMN exclude,"
            " DROP COLUMN cpus_per_gpu, DROP COLUMN mem_per_gpu_mb");
    sql_int("UPDATE colossus_schema SET version=3");
    cl_store_close(store_open());
    assert_int_equal(sql_int("SELECT version FROM colossus_schema"), 5);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE id=7 AND NOT exclusive"), 1);
    /* a journal of version 4 (before CPUs and memory): migrated to 5 */
    sql_int("ALTER TABLE jobs DROP COLUMN cpus_per_gpu, DROP COLUMN mem_per_gpu_mb");
    sql_int("UPDATE colossus_schema SET version=4");
    cl_store_close(store_open());
    assert_int_equal(sql_int("SELECT version FROM colossus_schema"), 5);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE id=7 AND cpus_per_gpu=0"), 1);
}

static void *open_one(void *arg)
{
    cl_error_t err = {{0}};
    cl_store_t *s = cl_store_open(pg_url, NULL, &err);
    if (!s) fprintf(stderr, "open: %s\n", err.msg);
    cl_store_close(s);
    return s ? arg : NULL;
}

/* The migration runs under an advisory lock: the second store waits and finds it done. */
static void test_two_opens_migrate_once(void **st)
{
    pthread_t t[4];
    void *ok[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, open_one, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &ok[i]);
        assert_non_null(ok[i]);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_schema"), 1);
}

static void test_no_such_database(void **st)
{
    char url[600];
    snprintf(url, sizeof url, "postgresql:///cl_nonexistent?host=%s&user=colossus",
             getenv("COLOSSUS_TEST_PG_SOCK"));
    cl_error_t err = {{0}};
    assert_null(cl_store_open(url, NULL, &err));
    if (!strstr(err.msg, "store: cannot connect to postgresql:///cl_nonexistent?") ||
        !strstr(err.msg, "database \"cl_nonexistent\" does not exist"))
        fail_msg("%s", err.msg);
}

/* The server drops both connections (a restart, a failover of the database): the commit that
 * finds it out fails and says why (nothing of it is acknowledged), the next one connects
 * again and commits; a read as well. */
static void test_connection_lost_regained(void **st)
{
    cl_store_t *s = store_open();
    cl_error_t err = {{0}};
    int rc;
    put_job(s, 1, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
                             "pg_stat_activity WHERE datname=current_database() AND "
                             "pid<>pg_backend_pid()) t"),
                     2);
    put_job(s, 2, &rc, &err);
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, "store: ") || !strstr(err.msg, "terminating connection"))
        fail_msg("commit on a dropped connection: %s", err.msg);
    put_job(s, 2, &rc, &err);
    if (rc) fail_msg("commit after the drop: %s", err.msg);
    int got = cl_store_job_get(s, 2, found, NULL, &err);
    if (got < 0) got = cl_store_job_get(s, 2, found, NULL, &err); /* the read that finds it */
    if (got != 1) fail_msg("job 2 after the drop: %d %s", got, err.msg);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs"), 2);
    cl_store_close(s);
}

static void heard(void *arg, const char *holder)
{
    snprintf(arg, 64, "%s", holder);
}

struct leader {
    cl_store_t *s;
    const char *who;
    char heard[64];
    int rc;
    atomic_bool done;
};

static void *lead_one(void *arg)
{
    struct leader *l = arg;
    cl_error_t err = {{0}};
    l->rc = cl_store_lead(l->s, l->who, heard, l->heard, &err);
    if (l->rc) fprintf(stderr, "lead: %s\n", err.msg);
    atomic_store(&l->done, true);
    return NULL;
}

/* What a standby sees when the leader stops renewing (sql makes it so, again and again: the
 * leader's renewer undoes it every 300 ms) until l has taken the lease. */
static void take_while(struct leader *l, pthread_t t, const char *sql)
{
    for (int i = 0; i < 200 && !atomic_load(&l->done); i++) {
        sql_int(sql);
        usleep(20 * 1000);
    }
    pthread_join(t, NULL);
    assert_int_equal(l->rc, 0);
}

/* Standby controllers: one leads; a second waits (hearing who leads) until the lease is
 * free; a leader whose lease was taken can commit nothing more and says why; a clean close
 * gives the lease up; a holder whose session is gone (its controller killed) loses it at the
 * next try without waiting for the expiry. */
static void test_lease(void **st)
{
    cl_store_t *a = store_open(), *b = store_open();
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_lead(a, "ctl-a", NULL, NULL, &err), 0);
    assert_false(cl_store_lost(a, NULL, 0));
    int rc;
    put_job(a, 1, &rc, &err);
    assert_int_equal(rc, 0);
    struct leader lb = {.s = b, .who = "ctl-b"};
    pthread_t t;
    pthread_create(&t, NULL, lead_one, &lb);
    usleep(2000 * 1000); /* past the expiry the renewals keep away: b still waits */
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder='ctl-a'"), 1);
    put_job(a, 2, &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(lb.heard, "ctl-a");
    /* the lease taken from a (as a standby does once a's renewals stop) */
    take_while(&lb, t, "UPDATE colossus_lease SET expires='-infinity'");
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder='ctl-b'"), 1);
    put_job(a, 3, &rc, &err);
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, "the lease is no longer this controller's (ctl-a"))
        fail_msg("%s", err.msg);
    assert_true(a->broken);
    char why[300] = "";
    assert_true(cl_store_lost(a, why, sizeof why));
    if (!strstr(why, "no longer this controller's")) fail_msg("%s", why);
    put_job(b, 3, &rc, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs WHERE id=3"), 1);
    cl_store_close(a); /* lost: gives nothing up */
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder='ctl-b'"), 1);
    cl_store_close(b); /* gives it up */
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder=''"), 1);
    /* a holder whose session is gone: taken at once, its renewer finds out */
    a = store_open();
    b = store_open();
    assert_int_equal(cl_store_lead(a, "ctl-a2", NULL, NULL, &err), 0);
    struct leader lb2 = {.s = b, .who = "ctl-b2"};
    pthread_create(&t, NULL, lead_one, &lb2);
    take_while(&lb2, t, "UPDATE colossus_lease SET backend=0"); /* no such session */
    for (int i = 0; i < 50 && !cl_store_lost(a, why, sizeof why); i++)
        usleep(20 * 1000);
    if (!strstr(why, "another controller took the lease")) fail_msg("%s", why);
    cl_store_close(a);
    cl_store_close(b);
    assert_int_equal(sql_int("SELECT count(*) FROM colossus_lease WHERE holder=''"), 1);
}

int main(void)
{
    if (!getenv("COLOSSUS_TEST_PG_SOCK")) {
        printf("no PostgreSQL server: set COLOSSUS_TEST_PG_SOCK (tests/run.sh does)\n");
        return 77;
    }
    static const struct CMUnitTest cases[] = {
        CASE(test_schema_version),
        CASE(test_two_opens_migrate_once),
        CASE(test_no_such_database),
        CASE(test_connection_lost_regained),
        CASE(test_lease),
    };
    B = &pg_backends[0];
    return _cmocka_run_group_tests("postgresql", cases, sizeof cases / sizeof cases[0], NULL,
                                   NULL);
}
