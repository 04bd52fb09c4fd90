/* test_util_units.c - power and percentages as operators type them (util/units.h): every
 * unit taken, and bad input (no unit, an unknown one, not a number, out of range) refused with
 * a sentence that names what is wrong, *out untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "util/units.h"

static void w_is(const char *s, double want)
{
    double v = -1;
    cl_error_t err = {{0}};
    if (cl_parse_watts(s, &v, &err) < 0) fail_msg("power '%s': %s", s, err.msg);
    if (v != want) fail_msg("power '%s': %g, wanted %g", s, v, want);
}

static void w_bad(const char *s, const char *words)
{
    double v = 42;
    cl_error_t err = {{0}};
    if (cl_parse_watts(s, &v, &err) == 0) fail_msg("power '%s' taken: %g", s, v);
    if (v != 42) fail_msg("power '%s': *out changed on failure", s);
    if (!strstr(err.msg, words)) fail_msg("power '%s': '%s' lacks '%s'", s, err.msg, words);
}

static void test_watts(void **st)
{
    (void)st;
    w_is("700MW", 700e6);
    w_is("700 MW", 700e6);
    w_is("1.5GW", 1.5e9);
    w_is("550kW", 550e3);
    w_is("200W", 200);
    w_is("none", 0);
    w_bad("700", "'700' has no unit: say W, kW, MW or GW");
    w_bad("700XW", "unknown unit 'XW'");
    w_bad("700mw", "unknown unit 'mw'");
    w_bad("MW", "is not a power");
    w_bad("", "is not a power");
    w_bad(" 7MW", "is not a power");
    w_bad("-5MW", "more than 0 W");
    w_bad("0W", "more than 0 W");
    w_bad("200GW", "more than 100 GW");
    w_bad("nanMW", "is not a power");
    w_bad("infMW", "is not a power");
}

static void pct_bad(const char *s, const char *words)
{
    double v = 42;
    cl_error_t err = {{0}};
    if (cl_parse_pct(s, &v, &err) == 0) fail_msg("pct '%s' taken: %g", s, v);
    if (v != 42 || !strstr(err.msg, words)) fail_msg("pct '%s': %g '%s'", s, v, err.msg);
}

static void test_pct(void **st)
{
    (void)st;
    double v = 0;
    cl_error_t err;
    assert_int_equal(cl_parse_pct("30%", &v, &err), 0);
    assert_true(v == 30);
    assert_int_equal(cl_parse_pct("100", &v, &err), 0);
    assert_true(v == 100);
    assert_int_equal(cl_parse_pct("0.5%", &v, &err), 0);
    assert_true(v == 0.5);
    pct_bad("150%", "outside 0-100%");
    pct_bad("0%", "outside 0-100%");
    pct_bad("-3%", "outside 0-100%");
    pct_bad("30%%", "is not a percentage");
    pct_bad("abc", "is not a percentage");
    pct_bad("30 %", "is not a percentage");
}

static void test_ramp(void **st)
{
    (void)st;
    double w, p;
    cl_error_t err;
    assert_int_equal(cl_parse_ramp("400W/s", &w, &p, &err), 0);
    assert_true(w == 400 && p == 0);
    assert_int_equal(cl_parse_ramp("3.85MW/s", &w, &p, &err), 0);
    assert_true(fabs(w - 3.85e6) < 1e-3 && p == 0);
    assert_int_equal(cl_parse_ramp("0.5%/s", &w, &p, &err), 0);
    assert_true(w == 0 && p == 0.5);
    assert_int_equal(cl_parse_ramp("none", &w, &p, &err), 0);
    assert_true(w == 0 && p == 0);
    const char *bad[][2] = {{"400W", "is not a ramp rate"}, {"400/s", "has no unit"},
                            {"400XW/s", "unknown unit"},    {"0%/s", "more than 0"},
                            {"150%/s", "at most 100%/s"},   {"/s", "is not a ramp rate"},
                            {"%/s", "more than 0"},         {"-4W/s", "more than 0 W"},
                            {"x%/s", "more than 0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cl_parse_ramp(bad[i][0], &w, &p, &err) == 0) fail_msg("ramp '%s' taken", bad[i][0]);
        if (!strstr(err.msg, bad[i][1])) fail_msg("ramp '%s': %s", bad[i][0], err.msg);
    }
}

/* Memory sizes as Slurm's --mem-per-gpu takes them: binary units, MB when none, rounded up;
 * a unit it does not know (10XB) and 0 refused, naming the input. */
static void test_mem(void **st)
{
    (void)st;
    struct {
        const char *s;
        uint64_t mb;
    } ok[] = {{"512", 512},    {"512M", 512},   {"512MB", 512}, {"10G", 10240}, {"10g", 10240},
              {"10GB", 10240}, {"1T", 1048576}, {"2048K", 2},   {"1K", 1},      {"1kb", 1}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        cl_error_t err = {{0}};
        if (cl_parse_mem_mb(ok[i].s, &v, &err) < 0) fail_msg("mem '%s': %s", ok[i].s, err.msg);
        if (v != ok[i].mb)
            fail_msg("mem '%s': %llu, wanted %llu", ok[i].s, (unsigned long long)v,
                     (unsigned long long)ok[i].mb);
    }
    struct {
        const char *s, *words;
    } bad[] = {{"10XB", "unknown unit 'XB'"},
               {"10GX", "unknown unit"},
               {"", "not a memory"},
               {"G", "not a memory"},
               {"-1G", "not a memory"},
               {"0", "of 0"},
               {"1.5G", "unknown unit"},
               {"99999999999999T", "more than 1 EiB"},
               {"99999999999999999999999", "too large"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        cl_error_t err = {{0}};
        if (cl_parse_mem_mb(bad[i].s, &v, &err) == 0) fail_msg("mem '%s' taken", bad[i].s);
        if (v != 42) fail_msg("mem '%s': *out changed on failure", bad[i].s);
        if (!strstr(err.msg, bad[i].words))
            fail_msg("mem '%s': '%s' lacks '%s'", bad[i].s, err.msg, bad[i].words);
    }
}

static void test_fmt(void **st)
{
    (void)st;
    char b[32];
    assert_string_equal(cl_fmt_watts(700e6, b, sizeof b), "700 MW");
    assert_string_equal(cl_fmt_watts(2200, b, sizeof b), "2.2 kW");
    assert_string_equal(cl_fmt_watts(550, b, sizeof b), "550 W");
    assert_string_equal(cl_fmt_watts(1.1e9, b, sizeof b), "1.1 GW");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watts), cmocka_unit_test(test_pct), cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_ramp),  cmocka_unit_test(test_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
