/* flags.c - getopt_long in the one style of every subcommand (flags.h). */
#include "util/flags.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

int cl_flags_fail(const cl_flags_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "colossus %s: ", f->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* Did getopt refuse "--name=value" because --name takes no value (optopt is its val)? */
static bool takes_no_value(const cl_flags_t *f, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "--", 2) || !eq) return false;
    for (const struct option *o = f->longs; o->name; o++)
        if (o->val == optopt && o->has_arg == no_argument &&
            !strncmp(o->name, arg + 2, eq - arg - 2)) /* getopt takes abbreviations */
            return true;
    return false;
}

const char *cl_flag_hint(const cl_flag_hint_t *hints, const char *arg)
{
    if (strncmp(arg, "--", 2)) return NULL;
    size_t n = strcspn(arg + 2, "=");
    for (const cl_flag_hint_t *h = hints; h && h->name; h++)
        if (strlen(h->name) == n && !strncmp(h->name, arg + 2, n)) return h->hint;
    return NULL;
}

static void unknown_long(cl_flags_t *f, const char *arg)
{
    const char *hint = cl_flag_hint(f->hints, arg);
    cl_flags_fail(f, "unknown option '%.*s'%s%s", (int)strcspn(arg, "="), arg, hint ? ": " : "",
                  hint ? hint : "");
}

/* Report what getopt refused. Unknown long options leave optopt 0 and the whole argument in
 * argv[optind - 1]; a short one is optopt (argv may hold it inside a cluster "-xy"). */
static void bad_flag(cl_flags_t *f, int argc, char **argv, int o)
{
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    bool is_long = !strncmp(arg, "--", 2);
    if (o == ':' && is_long)
        cl_flags_fail(f, "option '%s' needs a value", arg);
    else if (o == ':')
        cl_flags_fail(f, "option '-%c' needs a value", optopt);
    else if (optopt && takes_no_value(f, arg))
        cl_flags_fail(f, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
    else if (optopt > 0 && optopt < 256)
        cl_flags_fail(f, "unknown option '-%c'", optopt);
    else
        unknown_long(f, arg);
    f->usage(stderr);
    f->exit = 2;
}

/* getopt_long took long option ix: was it spelled out in full? Its text is the argument
 * before optind, or the one before that when its value was the next argument. */
static bool exact(cl_flags_t *f, int argc, char **argv, int ix)
{
    int at = optarg && optind >= 2 && optind - 1 < argc && optarg == argv[optind - 1]
                 ? optind - 2
                 : optind - 1;
    const char *arg = at >= 0 && at < argc ? argv[at] : "";
    const char *name = f->longs[ix].name;
    size_t n = strlen(name);
    if (!strncmp(arg, "--", 2) && !strncmp(arg + 2, name, n) &&
        (arg[2 + n] == '\0' || arg[2 + n] == '='))
        return true;
    unknown_long(f, arg);
    f->usage(stderr);
    f->exit = 2;
    return false;
}

int cl_flags_next(cl_flags_t *f, int argc, char **argv)
{
    if (!f->optstring[0]) {
        /* ':' first: a missing value comes back as ':' and getopt prints nothing itself */
        bool in_order = f->shorts[0] == '+';
        snprintf(f->optstring, sizeof f->optstring, "%s:%s", in_order ? "+" : "",
                 f->shorts + in_order);
        optind = 0; /* glibc: start afresh, also with another optstring */
        opterr = 0;
    }
    int ix = -1;
    int o = getopt_long(argc, argv, f->optstring, f->longs, &ix);
    if (ix >= 0 && o != '?' && o != ':' && !exact(f, argc, argv, ix)) return CL_FLAGS_DONE;
    if (o == 'h') {
        f->usage(stdout);
        f->exit = 0;
        return CL_FLAGS_DONE;
    }
    if (o == '?' || o == ':') {
        bad_flag(f, argc, argv, o);
        return CL_FLAGS_DONE;
    }
    return o;
}

int cl_flags_args(const cl_flags_t *f, int argc, char **argv, int min, int max,
                  const char *what)
{
    int n = argc - optind;
    if (n > max)
        cl_flags_fail(f, "unexpected argument '%s'", argv[optind + max]);
    else if (n < min)
        cl_flags_fail(f, "missing %s", what);
    else
        return 0;
    f->usage(stderr);
    return -1;
}
