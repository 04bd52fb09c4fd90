/* flags.h - the one flag style of every subcommand: getopt_long with its errors said in our
 * words ("colossus CMD: unknown option '--x'"), -h/--help printing the usage to stdout (exit
 * 0), a bad flag printing the problem and the usage to stderr (exit 2), and positional
 * arguments counted with the unexpected one named. Numbers go through cl_flag_* (util.h).
 * Long options match exactly: getopt_long's abbreviations ("--time" for "--time-limit") are
 * refused as unknown options, with the command's hint for that name when it has one.
 *
 *     cl_flags_t f = {.cmd = "jobs", .shorts = "h", .longs = opts, .usage = usage};
 *     while ((o = cl_flags_next(&f, argc, argv)) != -1)
 *         switch (o) {
 *         case CL_FLAGS_DONE: return f.exit;   // help shown, or a bad flag reported
 *         ...
 *         }
 *     if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
 */
#ifndef COLOSSUS_UTIL_FLAGS_H
#define COLOSSUS_UTIL_FLAGS_H

#include <getopt.h>
#include <stdio.h>

/* Returned by cl_flags_next when the command should stop with status f->exit. */
#define CL_FLAGS_DONE (-2)
/* The --help entry every options table ends with (before the zero entry); shorts has 'h'. */
#define CL_FLAGS_HELP                                                                          \
    {                                                                                          \
        "help", no_argument, 0, 'h'                                                            \
    }

/* What to say about an option a command does not have ("gpus": what Slurm's --gpus means
 * here instead). */
typedef struct cl_flag_hint {
    const char *name; /* without "--" */
    const char *hint;
} cl_flag_hint_t;

typedef struct cl_flags {
    const char *cmd;            /* for messages: "submit", "bench sched" */
    const char *shorts;         /* getopt's short options ('+' first: stop at the first
                                   argument, as submit's command line needs) */
    const struct option *longs; /* ends with CL_FLAGS_HELP and a zero entry */
    void (*usage)(FILE *f);     /* the synopsis and options */
    int exit;                   /* with CL_FLAGS_DONE: 0 after --help, 2 after a bad flag */
    const struct cl_flag_hint *hints; /* said after "unknown option '--NAME'"; ends with {0} */
    char optstring[64];               /* internal */
} cl_flags_t;

/* The next option, as getopt_long returns it (optarg set), -1 after the last one, or
 * CL_FLAGS_DONE after handling -h/--help (usage on stdout, exit 0) or an unknown option, a
 * missing value or a value given to a flag that takes none (the problem and the usage on
 * stderr, exit 2). The first call resets getopt (optind). */
int cl_flags_next(cl_flags_t *f, int argc, char **argv);

/* After the options: the positional arguments are argv[optind..argc). 0 when there are
 * min..max of them; else -1 after "colossus CMD: unexpected argument 'X'" or "colossus CMD:
 * missing WHAT" (and the usage) on stderr. */
int cl_flags_args(const cl_flags_t *f, int argc, char **argv, int min, int max,
                  const char *what);

/* "colossus CMD: <message>" on stderr; returns 2, the exit status of bad usage. */
int cl_flags_fail(const cl_flags_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The hint of hints (ends with {0}; may be NULL) for an option "--NAME[=value]" (arg), or
 * NULL. */
const char *cl_flag_hint(const cl_flag_hint_t *hints, const char *arg);

#endif
