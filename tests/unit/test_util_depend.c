/* test_util_depend.c - Slurm's --dependency and --array as parsed (util/depend.h,
 * util/arrayspec.h): every form taken, bad ones refused naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/arrayspec.h"
#include "util/depend.h"

static void depend_forms(void **state)
{
    (void)state;
    cl_depend_t d;
    cl_error_t err;
    assert_int_equal(
        cl_depend_parse("afterok:12:13,afterany:7,afternotok:9,singleton", &d, &err), 0);
    assert_int_equal(d.n, 4);
    assert_true(d.singleton);
    assert_int_equal(d.v[0].type, CL_DEP_AFTEROK);
    assert_int_equal(d.v[0].job, 12);
    assert_int_equal(d.v[1].job, 13);
    assert_int_equal(d.v[2].type, CL_DEP_AFTERANY);
    assert_int_equal(d.v[3].type, CL_DEP_AFTERNOTOK);
    assert_int_equal(d.v[3].ended, CL_JOB_PENDING);
    cl_depend_free(&d);
    assert_int_equal(cl_depend_parse("singleton", &d, &err), 0);
    assert_int_equal(d.n, 0);
    assert_true(d.singleton);
    cl_depend_free(&d);
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"", "empty"},
        {"after:1", "'after' is not a dependency type"},
        {"afterok", "afterok needs job ids"},
        {"afterok:", "an empty or too long job id"},
        {"afterok:1:", "an empty or too long job id"},
        {"afterok:0", "'0' is not a job id"},
        {"afterok:-1", "'-1' is not a job id"},
        {"afterok:1x", "'1x' is not a job id"},
        {"afterok:99999999999", "is not a job id"},
        {"afterok:1?afterany:2", "'?' (any one of) is not supported"},
        {"afterok:1,", "an empty entry"},
        {",singleton", "an empty entry"},
        {"singletonx", "'singletonx' is not a dependency type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cl_error_t e = {{0}};
        assert_int_equal(cl_depend_parse(bad[i].text, &d, &e), -1);
        cl_depend_free(&d);
        if (!strstr(e.msg, bad[i].says)) fail_msg("'%s': %s", bad[i].text, e.msg);
    }
}

static void array_forms(void **state)
{
    (void)state;
    cl_arrayspec_t a;
    cl_error_t err;
    assert_int_equal(cl_arrayspec_parse("0-99%8", &a, &err), 0);
    assert_int_equal(a.n, 100);
    assert_int_equal(a.limit, 8);
    assert_int_equal(a.idx[99], 99);
    assert_int_equal(cl_arrayspec_pos(&a, 57), 57);
    cl_arrayspec_free(&a);
    assert_int_equal(cl_arrayspec_parse("0-15:4", &a, &err), 0);
    assert_int_equal(a.n, 4);
    assert_int_equal(a.idx[3], 12);
    assert_int_equal(a.limit, 0);
    assert_int_equal(cl_arrayspec_pos(&a, 8), 2);
    assert_int_equal(cl_arrayspec_pos(&a, 9), -1);
    cl_arrayspec_free(&a);
    /* a list, out of order and overlapping: ascending, each task once */
    assert_int_equal(cl_arrayspec_parse("5-7,1,3,6,2-3%2", &a, &err), 0);
    uint32_t want[] = {1, 2, 3, 5, 6, 7};
    assert_int_equal(a.n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(a.idx[i], want[i]);
    assert_int_equal(a.limit, 2);
    cl_arrayspec_free(&a);
    assert_int_equal(cl_arrayspec_parse("0-99999", &a, &err), 0);
    assert_int_equal(a.n, 100000);
    cl_arrayspec_free(&a);
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"5-1", "the range 5-1 ends below its start"},
        {"", "no task indices"},
        {"%4", "no task indices"},
        {"0-9%0", "the limit after '%' must be"},
        {"0-9%x", "the limit after '%' must be"},
        {"0-9:0", "the step must be a positive number"},
        {"0:2", "a step needs a range"},
        {"a-3", "'a' is not a task index"},
        {"1,,2", "an empty entry"},
        {"1,", "an empty entry"},
        {"-3", "is not a task index"},
        {"0-10000000", "is not a task index"},
        {"0-1999999", "more than 1000000 tasks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cl_error_t e = {{0}};
        assert_int_equal(cl_arrayspec_parse(bad[i].text, &a, &e), -1);
        cl_arrayspec_free(&a);
        if (!strstr(e.msg, bad[i].says)) fail_msg("'%s': %s", bad[i].text, e.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(depend_forms),
        cmocka_unit_test(array_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
