/* test_util_list.c - comma-separated names (util/util.h: cl_list_has, cl_list_repeat), as a
 * relay chain (Register.via) is checked: whole items only, empty items name nothing, and the
 * first item that repeats an earlier one is the one found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/util.h"

static void test_has(void **st)
{
    (void)st;
    assert_true(cl_list_has("ra,rb,rc", "ra"));
    assert_true(cl_list_has("ra,rb,rc", "rb"));
    assert_true(cl_list_has("ra,rb,rc", "rc"));
    assert_true(cl_list_has("ra", "ra"));
    assert_true(cl_list_has(",ra,", "ra"));
    /* whole items only: no prefix, suffix or part of one */
    assert_false(cl_list_has("ra,rb,rc", "r"));
    assert_false(cl_list_has("ra,rb,rc", "rb,rc"));
    assert_false(cl_list_has("rab,xra", "ra"));
    assert_false(cl_list_has("ra,rb", "rab"));
    assert_false(cl_list_has("", "ra"));
    /* an empty name is in no list, even one with empty items */
    assert_false(cl_list_has("", ""));
    assert_false(cl_list_has("ra,,rb", ""));
}

/* cl_list_repeat(list) finds the item at offset `at` (-1: none), `len` bytes long. */
static void repeat_is(const char *list, int at, size_t len)
{
    size_t n = 999;
    const char *p = cl_list_repeat(list, &n);
    if (at < 0) {
        if (p) fail_msg("'%s': found '%s' repeated", list, p);
        if (n != 999) fail_msg("'%s': *len set with nothing found", list);
        return;
    }
    if (!p) fail_msg("'%s': no repeat found", list);
    if (p - list != at || n != len)
        fail_msg("'%s': found offset %d length %zu, wanted %d %zu", list, (int)(p - list), n,
                 at, len);
}

static void test_repeat(void **st)
{
    (void)st;
    repeat_is("", -1, 0);
    repeat_is("ra", -1, 0);
    repeat_is("ra,rb,rc", -1, 0);
    repeat_is("ra,rb,ra", 6, 2);
    repeat_is("ra,ra", 3, 2);
    /* the first item that repeats one before it, not the first item repeated later */
    repeat_is("x,y,y,x", 4, 1);
    /* whole items: "ab" is not "a" */
    repeat_is("ab,a,b", -1, 0);
    repeat_is("ab,a,ab", 5, 2);
    /* empty items are no names: never a repeat, and skipped over */
    repeat_is("ra,,rb,,", -1, 0);
    repeat_is(",ra,,ra", 5, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_has),
        cmocka_unit_test(test_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
