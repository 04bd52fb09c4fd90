/* submit.h - colossus submit's parts (submit.c: options and command line; submit_script.c:
 * a batch script's directives and the exported environment). */
#ifndef COLOSSUS_CLI_SUBMIT_H
#define COLOSSUS_CLI_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/clictx.h"

/* submit's own long options (beside the short ones, which are their letters). */
enum {
    OPT_GPN = CL_CLI_OPT_FIRST + 100,
    OPT_NTASKS,
    OPT_PRIO,
    OPT_TLIMIT,
    OPT_MAXR,
    OPT_EXPORT,
    OPT_HOLD,
    OPT_REQUEUE,    /* --requeue: restarted after a node failure (the default) */
    OPT_NO_REQUEUE, /* --no-requeue: never (--max-restarts 0) */
    OPT_EXCLUSIVE,
    OPT_CPG, /* --cpus-per-gpu */
    OPT_MPG, /* --mem-per-gpu */
};

/* A submission being put together: the request, and what its strings point into. */
typedef struct cl_submit {
    Colossus__SubmitReq s;
    const char *export_; /* --export, NULL: ALL */
    char *cwd;           /* this process's working directory */
    char *argv0;         /* a script's absolute path, or NULL */
    char **args;         /* the command with argv0 first, or NULL */
    size_t n_env_own;    /* s.env entries made here (freed) */
    char **lines;        /* the script's directive lines, which option values point into */
    char *shebang;       /* a script's first line after "#!", or NULL */
    bool sbatch;         /* it has #SBATCH lines: one task a node unless asked (Slurm's) */
    bool nodes_set;      /* -N was given: else a --nodelist's count (Slurm's) */
    char *interp[2];     /* its interpreter and argument, run explicitly when the script is
                            not executable (sbatch takes such a script too) */
    size_t nlines;
    void (*usage)(FILE *f); /* --help's text: NULL, submit's (colossus run has its own) */
} cl_submit_t;

/* The whole command line (and the script's directives) into x: 0 to send x->s, -1 to stop
 * with status 0 (--help), else the exit status (said). Free x with cl_submit_free(). */
int cl_submit_parse(cl_cli_t *c, int argc, char **argv, cl_submit_t *x);
void cl_submit_free(cl_submit_t *x);
/* Parse (usage: --help's text, NULL for submit's) and queue the job, connected to the
 * controller: 0 with *id and c still connected (the caller closes it), -1 to stop with status
 * 0 (--help), else the exit status (said; c closed). */
int cl_submit_send(cl_cli_t *c, int argc, char **argv, void (*usage)(FILE *f), uint64_t *id);
/* The options' part of submit's --help (run prints it under its own usage lines). */
void cl_submit_usage_options(FILE *f);

/* One option o with its value arg onto x: 0, or 2 (bad usage, said). */
int cl_submit_opt(cl_cli_t *c, int o, const char *arg, cl_submit_t *x);
/* The options of the command line and #COLOSSUS (sbatch false) or of #SBATCH: the table and
 * the letters of the short ones that take a value. */
const struct option *cl_submit_longs(bool sbatch, const char **shorts);
const cl_flag_hint_t *cl_submit_hints(void);

/* path's directives onto x when it is a script (a regular file here starting with "#!"):
 * 1 when it is one, 0 when not, -1 after saying which line is wrong. */
int cl_submit_script(cl_cli_t *c, const char *path, cl_submit_t *x);

/* x->s.env from this process's environment and x->export_: 0, or 2 (said: it would not fit
 * a submission). */
int cl_submit_env(cl_submit_t *x);

/* What a submission may carry (the controller's limits, ctl.h): the command, environment,
 * working directory and name together, their number, one string. */
#define CL_SUBMIT_MAX_BYTES (1u << 20)
#define CL_SUBMIT_MAX_ARGS 4096
#define CL_SUBMIT_MAX_STRING 131071

#endif
