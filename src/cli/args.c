/* args.c - subcommand dispatch, option values and field lists of the service commands
 * (args.h). */
#include "cli/args.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "cli/text.h"
#include "util/hostlist.h"
#include "util/util.h"
#include "util/when.h"

static void list_subs(FILE *f, const char *cmd, const cl_cli_sub_t *subs, size_t n)
{
    fprintf(f, "usage: colossus %s SUBCOMMAND [OPTIONS]\n\nsubcommands:\n", cmd);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].help);
    fprintf(f, "\nRun 'colossus %s SUBCOMMAND --help' for its options.\n", cmd);
}

int cl_cli_dispatch(const char *cmd, int argc, char **argv, const cl_cli_sub_t *subs, size_t n)
{
    if (argc < 2) {
        fprintf(stderr, "colossus %s: which subcommand?\n", cmd);
        list_subs(stderr, cmd, subs, n);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        list_subs(stdout, cmd, subs, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], subs[i].name)) return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "colossus %s: unknown subcommand '", cmd);
    cl_text_put(stderr, argv[1]);
    fputs("'\n", stderr);
    list_subs(stderr, cmd, subs, n);
    return 2;
}

void cl_cli_vbad(const char *cmd, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "colossus %s: ", cmd);
    cl_text_put(stderr, msg);
    fputc('\n', stderr);
}

/* cl_cli_vbad(); -1. */
static int bad(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_cli_vbad(cmd, fmt, ap);
    va_end(ap);
    return -1;
}

int cl_arg_name(const char *cmd, const char *what, const char *s, const char *forbid,
                bool empty_ok)
{
    size_t n = strlen(s);
    if (!n && empty_ok) return 0;
    if (!n) return bad(cmd, "%s must not be empty", what);
    if (n > CL_CLI_NAME_MAX)
        return bad(cmd, "%s is %zu bytes, longer than the %d the controller keeps", what, n,
                   CL_CLI_NAME_MAX);
    if (!cl_utf8_valid(s, n)) return bad(cmd, "%s is not valid UTF-8", what);
    if (cl_has_control(s)) return bad(cmd, "%s holds a control character", what);
    const char *hit = forbid ? strpbrk(s, forbid) : NULL;
    if (hit) return bad(cmd, "%s must not hold '%c'", what, *hit);
    return 0;
}

int cl_arg_duration(const char *cmd, const char *flag, const char *s, double min_s, double *out)
{
    cl_error_t err;
    double v;
    if (cl_parse_duration(s, &v, &err) < 0) return bad(cmd, "%s: %s", flag, err.msg);
    if (v < min_s)
        return bad(cmd, "%s must be at least %g second%s, not '%s'", flag, min_s,
                   min_s == 1 ? "" : "s", s);
    *out = v;
    return 0;
}

int cl_arg_time(const char *cmd, const char *flag, const char *s, double *out)
{
    cl_error_t err;
    if (cl_parse_time(s, floor(cl_wall_s()), out, &err) < 0)
        return bad(cmd, "%s: %s", flag, err.msg);
    return 0;
}

int cl_arg_limit(const char *cmd, const char *flag, const char *s, const char *none_word,
                 long hi, int64_t *out)
{
    long v;
    if (!strcmp(s, none_word)) {
        *out = -1;
        return 0;
    }
    if (cl_parse_long(s, 0, hi, &v) < 0)
        return bad(cmd, "%s must be a number in 0..%ld or '%s', not '%s'", flag, hi, none_word,
                   s);
    *out = v;
    return 0;
}

int cl_arg_hostlist(const char *cmd, const char *flag, const char *s)
{
    cl_error_t err;
    if (cl_hostlist_check(s, &err) < 0) return bad(cmd, "%s: %s", flag, err.msg);
    return 0;
}

int cl_arg_oneof(const char *cmd, const char *flag, const char *s, const char *const *choices)
{
    for (size_t i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i])) return 0;
    char words[256] = "";
    size_t at = 0;
    for (size_t i = 0; choices[i] && at < sizeof words; i++)
        at += (size_t)snprintf(words + at, sizeof words - at, "%s%s",
                               i ? (choices[i + 1] ? ", " : " or ") : "", choices[i]);
    return bad(cmd, "%s must be %s, not '%s'", flag, words, s);
}

void cl_cli_set_add(cl_cli_set_t *s, const char *field)
{
    if (cl_cli_set_has(s, field)) return;
    cl_assert(s->n < CL_CLI_SET_MAX);
    s->v[s->n++] = (char *)field;
}

bool cl_cli_set_has(const cl_cli_set_t *s, const char *field)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], field)) return true;
    return false;
}

int cl_arg_switch(const char *cmd, cl_cli_set_t *set, const char *field, protobuf_c_boolean *v,
                  bool value, const char *yes, const char *no)
{
    if (cl_cli_set_has(set, field) && (bool)*v != value)
        return bad(cmd, "give %s or %s, not both", yes, no);
    *v = value;
    cl_cli_set_add(set, field);
    return 0;
}

static void fmt_time(double t, bool utc, char *buf, size_t len)
{
    if (!(t > 0) || !isfinite(t)) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    if (utc)
        gmtime_r(&s, &tm);
    else
        localtime_r(&s, &tm);
    strftime(buf, len, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

void cl_cli_fmt_utc(double t, char *buf, size_t len)
{
    fmt_time(t, true, buf, len);
}

void cl_cli_fmt_local(double t, char *buf, size_t len)
{
    fmt_time(t, false, buf, len);
}

void cl_cli_fmt_elapsed(double s, char *buf, size_t len)
{
    if (!(s >= 0) || !isfinite(s) || s > 1e12) {
        snprintf(buf, len, "-");
        return;
    }
    long long t = (long long)s, d = t / 86400;
    int h = (int)(t / 3600 % 24), m = (int)(t / 60 % 60), sec = (int)(t % 60);
    if (d)
        snprintf(buf, len, "%lld-%02d:%02d:%02d", d, h, m, sec);
    else
        snprintf(buf, len, "%02d:%02d:%02d", h, m, sec);
}

void cl_cli_fmt_flops(double flops, char *buf, size_t len)
{
    static const char *const si[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y", "R", "Q"};
    if (!(flops > 0) || !isfinite(flops)) {
        snprintf(buf, len, "-");
        return;
    }
    size_t k = 0;
    while (flops >= 999.95 && k + 1 < sizeof si / sizeof si[0]) {
        flops /= 1000;
        k++;
    }
    snprintf(buf, len, "%.*f %sFLOP", flops < 9.995 ? 1 : 0, flops, si[k]);
}
