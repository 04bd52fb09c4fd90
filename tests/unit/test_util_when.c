/* test_util_when.c - durations and points in time as people write them (util/when.h) and
 * hostlists (util/hostlist.h): every form taken, and bad input refused with a sentence that
 * quotes it and names what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/hostlist.h"
#include "util/when.h"

static void dur_is(const char *s, double want)
{
    double v = -1;
    cl_error_t err = {{0}};
    if (cl_parse_duration(s, &v, &err) < 0) fail_msg("duration '%s': %s", s, err.msg);
    if (v != want) fail_msg("duration '%s': %g, wanted %g", s, v, want);
}

/* s is refused, *out untouched, and the message holds every one of the words. */
static void dur_bad(const char *s, const char *w1, const char *w2)
{
    double v = 42;
    cl_error_t err = {{0}};
    if (cl_parse_duration(s, &v, &err) == 0) fail_msg("duration '%s' taken: %g", s, v);
    if (v != 42) fail_msg("duration '%s': *out changed on failure", s);
    if (!strstr(err.msg, w1) || (w2 && !strstr(err.msg, w2)))
        fail_msg("duration '%s': message '%s' lacks '%s' / '%s'", s, err.msg, w1, w2 ? w2 : "");
}

static void test_durations(void **st)
{
    (void)st;
    dur_is("30d", 30 * 86400);
    dur_is("12h", 12 * 3600);
    dur_is("90m", 5400);
    dur_is("3600s", 3600);
    dur_is("3600", 3600);
    dur_is("0", 0);
    dur_is("1d12h", 86400 + 12 * 3600);
    dur_is("1h30m15s", 5415);
    dur_is("36500d", 3153600000.0);
    dur_bad("", "empty", NULL);
    dur_bad(NULL, "empty", NULL);
    dur_bad("5x", "'5x'", "unknown unit 'x'");
    dur_bad("1.5h", "'1.5h'", "whole numbers");
    dur_bad("1h30", "'1h30'", "without a unit");
    dur_bad("-5m", "'-5m'", "expected a number");
    dur_bad("h", "'h'", "expected a number");
    dur_bad("month", "'month'", "not a duration");
    dur_bad(" 5m", "' 5m'", NULL);
    dur_bad("36501d", "'36501d'", "100 years");
    dur_bad("9999999999999s", "too long", NULL);
}

static void time_is(const char *s, double now, double want)
{
    double v = -1;
    cl_error_t err = {{0}};
    if (cl_parse_time(s, now, &v, &err) < 0) fail_msg("time '%s': %s", s, err.msg);
    if (v != want) fail_msg("time '%s': %.3f, wanted %.3f", s, v, want);
}

static void time_bad(const char *s, const char *w1, const char *w2)
{
    double v = 42;
    cl_error_t err = {{0}};
    if (cl_parse_time(s, 1.8e9, &v, &err) == 0) fail_msg("time '%s' taken: %f", s, v);
    if (v != 42) fail_msg("time '%s': *out changed on failure", s);
    if (!strstr(err.msg, w1) || (w2 && !strstr(err.msg, w2)))
        fail_msg("time '%s': message '%s' lacks '%s' / '%s'", s, err.msg, w1, w2 ? w2 : "");
}

static void test_times(void **st)
{
    (void)st;
    const double nov1 = 1793491200; /* 2026-11-01T00:00:00Z */
    time_is("2026-11-01", 0, nov1);
    time_is("2026-11-01T12:00", 0, nov1 + 43200);
    time_is("2026-11-01 12:00:30", 0, nov1 + 43230);
    time_is("2026-11-01T12:00Z", 0, nov1 + 43200);
    time_is("2026-11-01T12:00+02:00", 0, nov1 + 36000);
    time_is("2026-11-01T12:00-0530", 0, nov1 + 43200 + 19800);
    time_is("2026-11-01T12:00:00+01", 0, nov1 + 39600);
    time_is("2024-02-29", 0, 1709164800); /* a leap day */
    time_is("1970-01-01", 0, 0);
    time_is("now", 1e9, 1e9);
    time_is("7d", 1e9, 1e9 - 7 * 86400);
    time_is("12h", 1e9, 1e9 - 43200);
    time_is("30m", 1e9, 1e9 - 1800);
    time_is("1d12h", 1e9, 1e9 - 129600);
    time_bad("", "empty", NULL);
    time_bad("3600", "'3600'", "give a unit");
    time_bad("yesterday", "'yesterday'", "not a time");
    time_bad("2026-13-01", "'2026-13-01'", "out of range");
    time_bad("2026-02-30", "'2026-02-30'", "no day 30 in month 2");
    time_bad("2025-02-29", "'2025-02-29'", "no day 29");
    time_bad("2026-11-1", "'2026-11-1'", "YYYY-MM-DD");
    time_bad("2026-11-01T25:00", "'2026-11-01T25:00'", "out of range");
    time_bad("2026-11-01T12", "'2026-11-01T12'", "HH:MM");
    time_bad("2026-11-01T12:00:5", "'2026-11-01T12:00:5'", "two digits");
    time_bad("2026-11-01Z", "'2026-11-01Z'", "a zone needs a time");
    time_bad("2026-11-01T12:00CET", "'2026-11-01T12:00CET'", "'CET' is not a zone");
    time_bad("2026-11-01T12:00+24:00", "'+24:00'", "out of range");
    time_bad("1969-12-31", "'1969-12-31'", "out of range");
    time_bad("1970-01-01T00:00+01:00", "before 1970", NULL);
    time_bad("7x", "'7x'", "unknown unit 'x'");
    time_bad("100000d", "100 years", NULL);
}

static void hl_ok(const char *s, uint64_t count)
{
    cl_error_t err = {{0}};
    if (cl_hostlist_check(s, &err) < 0) fail_msg("hostlist '%s': %s", s, err.msg);
    if (cl_hostlist_count(s) != count)
        fail_msg("hostlist '%s': %llu names, wanted %llu", s,
                 (unsigned long long)cl_hostlist_count(s), (unsigned long long)count);
}

static void hl_bad(const char *s, const char *w1, const char *w2)
{
    cl_error_t err = {{0}};
    if (cl_hostlist_check(s, &err) == 0) fail_msg("hostlist '%s' taken", s);
    if (cl_hostlist_count(s) != 0) fail_msg("hostlist '%s' counted", s);
    if (!strstr(err.msg, w1) || (w2 && !strstr(err.msg, w2)))
        fail_msg("hostlist '%s': message '%s' lacks '%s' / '%s'", s, err.msg, w1, w2 ? w2 : "");
}

static void compress_is(const char *const *names, size_t n, const char *want)
{
    char *got = cl_hostlist_compress(names, n);
    if (strcmp(got, want)) fail_msg("compressed to '%s', wanted '%s'", got, want);
    free(got);
}

static void test_hostlist_compress(void **st)
{
    (void)st;
    compress_is(NULL, 0, "");
    const char *one[] = {"node007"};
    compress_is(one, 1, "node007");
    const char *a[] = {"n03",       "n01",  "login1", "n02", "n05", "n01",
                       "gpu",       "gpu",  "n8",     "n9",  "n10", "rack1-n01",
                       "rack1-n02", "n098", "n099",   "n100"};
    compress_is(a, sizeof a / sizeof a[0],
                "gpu,login1,n[8-9],n[01-03,05,10],n[098-100],rack1-n[01-02]");
    /* every name is in what it compresses to, and nothing else: 2,000 names of 3 prefixes,
     * with gaps, some twice */
    enum { N = 2000 };
    char buf[N][24];
    const char *v[N];
    for (int i = 0; i < N; i++) {
        int k = (i * 7919) % 2200; /* 2,000 of 2,200 numbers, shuffled */
        snprintf(buf[i], sizeof buf[i], "%s%0*d", k < 700 ? "pod-x" : "node", k < 1500 ? 4 : 6,
                 k);
        v[i] = buf[i];
    }
    char *h = cl_hostlist_compress(v, N);
    cl_error_t err = {{0}};
    if (cl_hostlist_check(h, &err) < 0) fail_msg("%zu bytes: %.100s", strlen(h), err.msg);
    for (int i = 0; i < N; i++)
        assert_true(cl_hostlist_match(h, v[i]));
    assert_false(cl_hostlist_match(h, "node2999"));
    assert_false(cl_hostlist_match(h, "node0100")); /* pod-x0100 is */
    assert_false(cl_hostlist_match(h, "node"));
    /* as many names as distinct ones given */
    uint64_t distinct = 0;
    for (int i = 0; i < N; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(v[i], v[j]);
        distinct += !seen;
    }
    assert_int_equal(cl_hostlist_count(h), distinct);
    size_t total = 0;
    for (int i = 0; i < N; i++)
        total += strlen(v[i]) + 1;
    if (strlen(h) > total / 4) fail_msg("%zu bytes of %zu: %.300s", strlen(h), total, h);
    free(h);
}

typedef struct names {
    char all[4096];
    int n, stop_at;
} names_t;

static int put_name(const char *name, void *arg)
{
    names_t *x = arg;
    snprintf(x->all + strlen(x->all), sizeof x->all - strlen(x->all), "%s%s", x->n ? " " : "",
             name);
    return ++x->n == x->stop_at ? 7 : 0;
}

static void each_is(const char *s, const char *want)
{
    names_t x = {.stop_at = -1};
    cl_error_t err;
    if (cl_hostlist_each(s, put_name, &x, &err) != 0) fail_msg("'%s': %s", s, err.msg);
    if (strcmp(x.all, want)) fail_msg("'%s' expanded to '%s', wanted '%s'", s, x.all, want);
    assert_int_equal((uint64_t)x.n, cl_hostlist_count(s));
}

/* cl_hostlist_each: every name, in order, with Slurm's widths; a stop; bad input. */
static void test_hostlist_each(void **st)
{
    (void)st;
    each_is("n1", "n1");
    each_is("n[8-10],gpu", "n8 n9 n10 gpu");
    each_is("n[01-03,7]", "n01 n02 n03 n7");
    each_is("rack[1-2]-n[01-02]", "rack1-n01 rack1-n02 rack2-n01 rack2-n02");
    each_is("a,a,b[0]", "a a b0");
    each_is("node[000-002]x", "node000x node001x node002x");
    names_t x = {.stop_at = 2};
    cl_error_t err;
    assert_int_equal(cl_hostlist_each("n[1-9]", put_name, &x, &err), 7);
    assert_string_equal(x.all, "n1 n2");
    x = (names_t){.stop_at = -1};
    assert_int_equal(cl_hostlist_each("n[1-", put_name, &x, &err), -1);
    assert_int_equal(x.n, 0);
    assert_non_null(strstr(err.msg, "expected the end of the range"));
}

static void test_hostlist_syntax(void **st)
{
    (void)st;
    hl_ok("n1", 1);
    hl_ok("n[1-4,7],gpu01", 6);
    hl_ok("node[000000-549999]", 550000);
    hl_ok("rack[1-2]-n[01-18]", 36);
    hl_ok("[1-3]", 3);
    hl_ok("a,a", 2);
    hl_ok("n[5]", 1);
    hl_ok("caf\xc3\xa9[1-2]", 2);
    hl_ok("x[0-999999999][0-999999999]", 1000000000ull * 1000000000ull);
    hl_ok("x[0-999999999][0-999999999][0-999999999]", UINT64_MAX); /* saturates */
    hl_bad("", "empty hostlist", NULL);
    hl_bad(NULL, "empty hostlist", NULL);
    hl_bad("n1,,n2", "byte 3", "an empty name");
    hl_bad("n1,", "byte 3", "an empty name");
    hl_bad("n[4-1]", "byte 2", "runs backwards");
    hl_bad("n[1-", "expected the end of the range", NULL);
    hl_bad("n[1-4", "expected ',' or ']'", NULL);
    hl_bad("n[]", "expected a number", NULL);
    hl_bad("n[a]", "expected a number", NULL);
    hl_bad("n[1-4]]", "']' without '['", NULL);
    hl_bad("n1 n2", "a space", NULL);
    hl_bad("n\x01", "cannot hold", NULL);
    hl_bad("n[1-010]", "differ in width", NULL);
    hl_bad("n[1234567890]", "1 to 9 digits", NULL);
    hl_bad("n\xff", "not valid UTF-8", NULL);
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = 0;
    hl_bad(long_name, "64 bytes, longer than 63", NULL);
    memset(long_name, 'a', 60);
    strcpy(long_name + 60, "[1-1000]");
    hl_bad(long_name, "64 bytes", NULL);
    char huge[CL_HOSTLIST_MAX + 8];
    memset(huge, 'n', sizeof huge - 1);
    for (size_t i = 10; i < sizeof huge - 1; i += 11)
        huge[i] = ',';
    huge[sizeof huge - 1] = 0;
    hl_bad(huge, "longer than 4096", NULL);
}

static void test_hostlist_match(void **st)
{
    (void)st;
    const char *l = "n[1-4,7],gpu01,rack[1-2]-n[01-18],w[8-10]";
    const char *in[] = {"n1", "n4", "n7", "gpu01", "rack2-n18", "rack1-n01", "w8", "w10"};
    const char *out[] = {"n0",     "n5",  "n8",        "n01",      "gpu1",
                         "gpu001", "n",   "rack3-n01", "rack1-n1", "rack1-n19",
                         "w08",    "w11", "n1,n2",     "",         "rack1-n011"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        if (!cl_hostlist_match(l, in[i])) fail_msg("'%s' not in '%s'", in[i], l);
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++)
        if (cl_hostlist_match(l, out[i])) fail_msg("'%s' in '%s'", out[i], l);
    assert_false(cl_hostlist_match(l, NULL));
    assert_false(cl_hostlist_match("n[1-", "n1")); /* malformed: nothing matches */
    /* width from leading zeros; wider numbers print unpadded (n[01-100]: n99, n100) */
    assert_true(cl_hostlist_match("n[01-100]", "n100"));
    assert_true(cl_hostlist_match("n[01-100]", "n09"));
    assert_false(cl_hostlist_match("n[01-100]", "n9"));
    assert_true(cl_hostlist_match("node[000000-549999]", "node549999"));
    assert_false(cl_hostlist_match("node[000000-549999]", "node550000"));
    /* digits next to a group: the split that matches is found */
    assert_true(cl_hostlist_match("n[1-20]0", "n200"));
    assert_true(cl_hostlist_match("n[1-2][0-9]", "n15"));
    assert_true(cl_hostlist_match("n[1-2][0-9]", "n29"));
    assert_false(cl_hostlist_match("n[1-2][0-9]", "n3"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),         cmocka_unit_test(test_times),
        cmocka_unit_test(test_hostlist_syntax),   cmocka_unit_test(test_hostlist_match),
        cmocka_unit_test(test_hostlist_compress), cmocka_unit_test(test_hostlist_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
