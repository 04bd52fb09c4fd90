/* test_util_iopat.c - --output/--error patterns (util/iopat.h): every pattern expanded, bad
 * ones refused naming the problem, an expansion that does not fit refused; and the
 * variables that never reach a job (util/jobenv.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/iopat.h"
#include "util/jobenv.h"

static void test_expand(void **state)
{
    (void)state;
    cl_iopat_vars_t v = {
        .job = 42, .task = 7, .node_index = 3, .node = "n9", .user = "ann", .name = "train"};
    char buf[64];
    cl_error_t err;
    const char *pat = "/o/%x-%j.%t.%n.%N.%u.%%";
    assert_int_equal(cl_iopat_check("--output", pat, &err), 0);
    assert_int_equal(cl_iopat_expand(pat, &v, buf, sizeof buf), 0);
    assert_string_equal(buf, "/o/train-42.7.3.n9.ann.%");
    assert_int_equal(cl_iopat_expand("plain", &v, buf, sizeof buf), 0);
    assert_string_equal(buf, "plain");
    assert_int_equal(cl_iopat_expand("%x%x%x%x%x%x%x%x%x%x%x%x%x", &v, buf, 60), -1);
    assert_int_equal(cl_iopat_expand("%j", &v, buf, 2), -1); /* "42" needs 3 bytes */
    assert_int_equal(cl_iopat_expand("%j", &v, buf, 3), 0);
    /* arrays: %A the array's id, %a the task; outside an array the job id and 0 */
    assert_int_equal(cl_iopat_check("--output", "o.%A_%a", &err), 0);
    assert_int_equal(cl_iopat_expand("o.%A_%a", &v, buf, sizeof buf), 0);
    assert_string_equal(buf, "o.42_0");
    v.array_job = 40;
    v.array_task = 15;
    assert_int_equal(cl_iopat_expand("o.%A_%a.%j", &v, buf, sizeof buf), 0);
    assert_string_equal(buf, "o.40_15.42");
}

static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *says;
    } bad[] = {
        {"", "must not be empty"},
        {"o.%q", "unknown pattern '%q'"},
        {"o.%", "ends with a lone '%'"},
        {"o\n", "control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cl_error_t err = {{0}};
        assert_int_equal(cl_iopat_check("--output", bad[i].pat, &err), -1);
        if (!strstr(err.msg, bad[i].says)) fail_msg("'%s': %s", bad[i].pat, err.msg);
    }
    char big[CL_IOPAT_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cl_error_t err;
    assert_int_equal(cl_iopat_check("--error", big, &err), -1);
    assert_non_null(strstr(err.msg, "the limit is 4095"));
}

static void test_secret_names(void **state)
{
    (void)state;
    const char *yes[] = {"COLOSSUS_TOKEN", "COLOSSUS_KEY", "COLOSSUS_IDENTITY",
                         "COLOSSUS_TOKEN_FILE", "COLOSSUS_X_FILE"};
    const char *no[] = {"COLOSSUS_CONTROLLER", "COLOSSUS_KEYS", "COLOSSUS_FILE", "TOKEN",
                        "COLOSSUS_TOKENX",     "HOME"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(cl_env_secret_name(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (cl_env_secret_name(no[i], strlen(no[i]))) fail_msg("%s taken for a secret", no[i]);
    assert_true(cl_env_secret_name("COLOSSUS_KEY=/k", 12)); /* the name of an entry */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_secret_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
