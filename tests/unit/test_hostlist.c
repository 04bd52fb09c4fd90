/* test_hostlist.c - host lists (util/hostlist.h): what is well-formed, what a list contains
 * (zero-padded widths, suffixes, several entries) and how many hosts it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/hostlist.h"

static void test_check(void **st)
{
    (void)st;
    cl_error_t e;
    const char *good[] = {"n1",          "node[1-4]",        "n[01-16,20]",
                          "gpu01,gpu02", "r2-n[001-128]-ib", "a.b_c-d",
                          "n[7]",        "x[1-2],y[3-4],z"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (cl_hostlist_check(good[i], &e) < 0) fail_msg("'%s' refused: %s", good[i], e.msg);
    const char *bad[] = {"",       "n[",     "n]",       "n[1-",     "n[4-1]",
                         "n[a-b]", "n[[1]]", "n[1]x[2]", "bad name", "n[1-2],",
                         ",n1",    "n[]",    "n;rm",     "[1-2]x/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (cl_hostlist_check(bad[i], &e) == 0) fail_msg("'%s' accepted", bad[i]);
        assert_true(e.msg[0] != 0);
    }
}

static void test_contains(void **st)
{
    (void)st;
    assert_true(cl_hostlist_contains("n1", "n1"));
    assert_false(cl_hostlist_contains("n1", "n10"));
    assert_true(cl_hostlist_contains("node[1-4]", "node3"));
    assert_false(cl_hostlist_contains("node[1-4]", "node5"));
    assert_false(cl_hostlist_contains("node[1-4]", "node03")); /* no padding in the list */
    assert_true(cl_hostlist_contains("n[01-16,20]", "n07"));
    assert_true(cl_hostlist_contains("n[01-16,20]", "n20"));
    assert_false(cl_hostlist_contains("n[01-16,20]", "n7"));
    assert_false(cl_hostlist_contains("n[01-16,20]", "n17"));
    assert_true(cl_hostlist_contains("r2-n[001-128]-ib", "r2-n128-ib"));
    assert_false(cl_hostlist_contains("r2-n[001-128]-ib", "r2-n128"));
    assert_true(cl_hostlist_contains("gpu01,n[1-2]", "n2"));
    assert_true(cl_hostlist_contains("gpu01,n[1-2]", "gpu01"));
    assert_false(cl_hostlist_contains("gpu01,n[1-2]", "gpu1"));
    assert_false(cl_hostlist_contains("n[1-2]", "n"));
    assert_false(cl_hostlist_contains("n[1-2]", "n1x"));
    assert_false(cl_hostlist_contains("n[", "n1")); /* malformed lists contain nothing */
    assert_false(cl_hostlist_contains("n1", ""));
}

static void test_count(void **st)
{
    (void)st;
    assert_int_equal(cl_hostlist_count("n1"), 1);
    assert_int_equal(cl_hostlist_count("n[1-4],gpu[01-16,20],x"), 4 + 17 + 1);
    assert_int_equal(cl_hostlist_count("n[1-100000]"), 100000);
    assert_int_equal(cl_hostlist_count("n[4-1]"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
