/* store_conformance.h - the factory the store conformance suite (test_store.c,
 * test_store_acct.c) runs its cases over: every backend, each opened fresh in the test's
 * directory (the same directory reopens it). PostgreSQL (issue 14) adds a line to backends[]
 * and must pass the same cases (header only). */
#ifndef COLOSSUS_TEST_STORE_CONFORMANCE_H
#define COLOSSUS_TEST_STORE_CONFORMANCE_H

#include "store_helpers.h"

typedef struct backend {
    const char *name;
    const char *url_fmt; /* the store URL, %s the directory */
} backend_t;

static const backend_t backends[] = {
    {"sqlite", "sqlite:%s"},
    {"fault(sqlite)", "fault:sqlite:%s"},
};
static const backend_t *B;

/* The backend under test, fresh in this test's directory, or reopened there. */
static inline cl_store_t *store_open(void)
{
    char url[128];
    snprintf(url, sizeof url, B->url_fmt, dir);
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
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        B = &backends[i];
        failed += _cmocka_run_group_tests(B->name, cases, n, NULL, NULL);
    }
    return failed;
}

#define CASE(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

#endif
