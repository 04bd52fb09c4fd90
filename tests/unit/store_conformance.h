/* store_conformance.h - the factory the store conformance suite (test_store.c,
 * test_store_acct.c) runs its cases over: every backend, each opened fresh in the test's
 * directory (the same directory reopens it). PostgreSQL (issue 14) adds a line to backends[]
 * and must pass the same cases (header only). */
#ifndef COLOSSUS_TEST_STORE_CONFORMANCE_H
#define COLOSSUS_TEST_STORE_CONFORMANCE_H

#include <errno.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store_helpers.h"

typedef struct backend {
    const char *name;
    const char *url_fmt; /* the store URL, %s the directory (pg: the database's URL) */
    bool pg;
} backend_t;

static const backend_t backends[] = {
    {"sqlite", "sqlite:%s", false},
    {"fault(sqlite)", "fault:sqlite:%s", false},
};
/* With COLOSSUS_TEST_PG_SOCK (the Unix socket directory of a throwaway server that
 * tests/run.sh starts: tests/pg_server.bash) the cases run against PostgreSQL instead, in a
 * database of this process's own, emptied before each case (a fresh store) and kept within it
 * (a reopen finds what was committed). */
static const backend_t pg_backends[] = {
    {"postgresql", "%s", true},
    {"fault(postgresql)", "fault:%s?", true},
};
static const backend_t *B;
static char pg_url[512];

/* This process's database on the server, made the first time. */
static inline void pg_db(void)
{
    if (pg_url[0]) return;
    const char *sock = getenv("COLOSSUS_TEST_PG_SOCK");
    char name[64], admin[400];
    snprintf(name, sizeof name, "cl_%.32s_%ld", program_invocation_short_name, (long)getpid());
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) *p = '_';
    snprintf(admin, sizeof admin, "postgresql:///postgres?host=%s&user=colossus", sock);
    PGconn *db = PQconnectdb(admin);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(db));
    PQclear(r);
    PQfinish(db);
    snprintf(pg_url, sizeof pg_url, "postgresql:///%s?host=%s&user=colossus", name, sock);
}

/* A fresh directory, and for PostgreSQL an empty database (every table dropped). */
static inline int conf_setup(void **st)
{
    dir_setup(st);
    if (!B->pg) return 0;
    pg_db();
    PGconn *db = PQconnectdb(pg_url);
    PGresult *r = PQexec(db, "SET client_min_messages=warning;"
                             "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("reset: %s", PQerrorMessage(db));
    PQclear(r);
    PQfinish(db);
    return 0;
}

/* The backend under test, fresh in this test's directory, or reopened there. */
static inline cl_store_t *store_open(void)
{
    char url[640];
    snprintf(url, sizeof url, B->url_fmt, B->pg ? pg_url : dir);
    cl_error_t err = {{0}};
    cl_store_t *s = cl_store_open(url, &(cl_store_opts_t){.sync_full = true}, &err);
    if (!s) fail_msg("%s: %s", url, err.msg);
    return s;
}

static inline void commit_ok(cl_store_t *s, const cl_store_batch_t *b)
{
    cl_error_t err = {{0}};
    if (cl_store_commit(s, b, &err) < 0) fail_msg("commit: %s", err.msg);
}

/* Every case against every backend; the number of failures. */
static inline int run_backends(const struct CMUnitTest *cases, size_t n)
{
    int failed = 0;
    bool pg = getenv("COLOSSUS_TEST_PG_SOCK") != NULL;
    const backend_t *v = pg ? pg_backends : backends;
    size_t nv =
        pg ? sizeof pg_backends / sizeof pg_backends[0] : sizeof backends / sizeof backends[0];
    for (size_t i = 0; i < nv; i++) {
        B = &v[i];
        printf("backend: %s\n", B->name);
        failed += _cmocka_run_group_tests(B->name, cases, n, NULL, NULL);
    }
    return failed;
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, conf_setup, dir_teardown)

#endif
