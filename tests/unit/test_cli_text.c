/* test_cli_text.c - the CLI's one escape for untrusted text (cli/text.h): control bytes,
 * invalid UTF-8 of every kind and the Unicode controls that reorder or break lines are
 * written as \xHH, valid text as it is; table cells cut at whole characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/text.h"

static void safe_is(const char *in, const char *want)
{
    char *got = cl_text_safe(in);
    if (strcmp(got, want)) fail_msg("escape of '%s': '%s', wanted '%s'", in, got, want);
    free(got);
}

static void test_escapes(void **st)
{
    safe_is("plain name-1_x.y", "plain name-1_x.y");
    safe_is(NULL, "");
    safe_is("a\nb\tc\rd", "a\\x0ab\\x09c\\x0dd");
    safe_is("\x1b[31mred\x7f", "\\x1b[31mred\\x7f");
    safe_is("back\\slash", "back\\slash");
    /* valid UTF-8 stays: 2, 3 and 4 bytes */
    safe_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80",
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80");
    /* invalid: stray bytes, a cut sequence, overlong, surrogate, past U+10FFFF */
    safe_is("\xff\xfe", "\\xff\\xfe");
    safe_is("x\xe2\x82", "x\\xe2\\x82");
    safe_is("\xc0\xaf", "\\xc0\\xaf");
    safe_is("\xed\xa0\x80", "\\xed\\xa0\\x80");
    safe_is("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    safe_is("\xc3(", "\\xc3(");
    /* C1 controls, line and paragraph separators, bidi marks, overrides and isolates */
    safe_is("\xc2\x9b"
            "2J",
            "\\xc2\\x9b2J");
    safe_is("\xe2\x80\xa8", "\\xe2\\x80\\xa8");
    safe_is("a\xe2\x80\xae"
            "b",
            "a\\xe2\\x80\\xaeb");
    safe_is("\xe2\x81\xa6", "\\xe2\\x81\\xa6");
    safe_is("\xe2\x80\x8f", "\\xe2\\x80\\x8f");
    /* their neighbours are ordinary characters */
    safe_is("\xc2\xa0\xe2\x80\xaf\xe2\x81\xaa", "\xc2\xa0\xe2\x80\xaf\xe2\x81\xaa");
}

static char *cell(const char *s, int width)
{
    static char buf[256];
    memset(buf, 0, sizeof buf);
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cl_text_cell(f, s, width);
    fclose(f);
    return buf;
}

static void test_cells(void **st)
{
    assert_string_equal(cell("abc", 5), "abc  ");
    assert_string_equal(cell("abcdefgh", 5), "abcde");
    /* an escape counts its four columns and is never cut */
    assert_string_equal(cell("ab\ncd", 6), "ab\\x0a");
    assert_string_equal(cell("ab\ncd", 5), "ab   ");
    /* a multi-byte character is one column, never cut in the middle */
    assert_string_equal(cell("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "\xc3\xa9\xc3\xa9");
    assert_string_equal(cell("", 3), "   ");
    assert_string_equal(cell(NULL, 0), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
