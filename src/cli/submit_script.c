/* submit_script.c - what colossus submit reads besides its command line: the directives at
 * the top of a batch script (#COLOSSUS and #SBATCH lines, as sbatch reads them: up to the
 * first line that is neither a comment nor blank), and the environment it exports. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/submit.h"
#include "util/jobenv.h"
#include "util/util.h"

extern char **environ;

#define MAX_LINES 10000 /* a script's head read for directives, at most */
#define MAX_WORDS 64    /* words of one directive */

/* Slurm's sbatch options colossus knows but does not have yet: named as such. */
static const char *const not_yet[] = {
    "mem",          "mem-per-cpu", "cpus-per-task", "partition",  "ntasks",
    "gres",         "gpus",        "gpus-per-task", "mail-type",  "mail-user",
    "constraint",   "begin",       "signal",        "open-mode",  "reservation",
    "wait",         "wrap",        "nice",          "time-min",   "licenses",
    "distribution", "switches",    "network",       "overcommit", "oversubscribe",
    "comment",      NULL};
static const char not_yet_short[] = "cpnGCH"; /* -H: --hold is taken (long only) */

typedef struct where {
    const char *file;
    size_t line;
    const char *text; /* the whole line */
} where_t;

static int said(const where_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int said(const where_t *w, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("colossus submit: ", stderr);
    cl_text_put(stderr, w->file);
    fprintf(stderr, ":%zu: ", w->line);
    cl_text_put(stderr, w->text);
    fputs(": ", stderr);
    cl_text_put(stderr, msg);
    fputs(" (nothing was queued)\n", stderr);
    return -1;
}

/* The words of a directive's options, in place: split at blanks, '...' and "..." quoted, up
 * to an unquoted '#' that starts a word (a comment). n words, or -1 (said). */
static int words(char *s, char **w, const where_t *at)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        if (!*s || *s == '#') return n;
        if (n == MAX_WORDS) return said(at, "more than %d words", MAX_WORDS);
        char *out = s;
        w[n++] = out;
        char q = 0;
        for (; *s && (q || (*s != ' ' && *s != '\t' && *s != '\r')); s++) {
            if (!q && (*s == '\'' || *s == '"'))
                q = *s;
            else if (q && *s == q)
                q = 0;
            else
                *out++ = *s;
        }
        if (q) return said(at, "a quote (%c) is not closed", q);
        bool end = !*s;
        *out = '\0';
        if (end) return n;
        s++;
    }
}

static int lookup(const struct option *t, const char *name, size_t n)
{
    for (int i = 0; t[i].name; i++)
        if (strlen(t[i].name) == n && !strncmp(t[i].name, name, n)) return i;
    return -1;
}

static bool is_not_yet(const char *name, size_t n)
{
    for (size_t i = 0; not_yet[i]; i++)
        if (strlen(not_yet[i]) == n && !strncmp(not_yet[i], name, n)) return true;
    return false;
}

/* One long option at w[*i] ("--name=value" or "--name value"): its id and value. */
static int long_word(const struct option *t, bool sbatch, char **w, int n, int *i,
                     const char **val, const where_t *at)
{
    const char *a = w[*i] + 2, *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    int k = lookup(t, a, len);
    if (k < 0 || t[k].val == 'h' ||
        (t[k].val >= CL_CLI_OPT_CONTROLLER && t[k].val < CL_CLI_OPT_FIRST)) {
        const char *hint = cl_flag_hint(cl_submit_hints(), w[*i]);
        if (sbatch && is_not_yet(a, len))
            return said(at, "--%.*s is not supported by colossus yet%s%s", (int)len, a,
                        hint ? ": " : "", hint ? hint : "");
        return said(at, "unknown option '--%.*s'%s%s", (int)len, a, hint ? ": " : "",
                    hint ? hint : "");
    }
    if (t[k].has_arg == no_argument) {
        if (eq) return said(at, "option '--%s' takes no value", t[k].name);
        *val = NULL;
    } else if (eq) {
        *val = eq + 1;
    } else {
        if (*i + 1 >= n) return said(at, "option '--%s' needs a value", t[k].name);
        *val = w[++*i];
    }
    return t[k].val;
}

/* One short option at w[*i] ("-N2" or "-N 2"). */
static int short_word(const char *shorts, bool sbatch, char **w, int n, int *i,
                      const char **val, const where_t *at)
{
    char ch = w[*i][1];
    if (!strchr(shorts, ch) || ch == ':' || ch == '+' || ch == 'h') {
        if (sbatch && strchr(not_yet_short, ch))
            return said(at, "-%c is not supported by colossus yet", ch);
        return said(at, "unknown option '-%c'", ch);
    }
    if (w[*i][2]) {
        *val = w[*i] + 2;
    } else {
        if (*i + 1 >= n) return said(at, "option '-%c' needs a value", ch);
        *val = w[++*i];
    }
    return ch;
}

/* The options of one directive line (after its "#SBATCH" or "#COLOSSUS") onto x. */
static int directive(cl_cli_t *c, char *opts, bool sbatch, cl_submit_t *x, const where_t *at)
{
    char *w[MAX_WORDS];
    int n = words(opts, w, at);
    if (n < 0) return -1;
    const char *shorts;
    const struct option *t = cl_submit_longs(sbatch, &shorts);
    for (int i = 0; i < n; i++) {
        const char *val = NULL;
        int o;
        if (!strncmp(w[i], "--", 2) && w[i][2])
            o = long_word(t, sbatch, w, n, &i, &val, at);
        else if (w[i][0] == '-' && w[i][1] && w[i][1] != '-')
            o = short_word(shorts, sbatch, w, n, &i, &val, at);
        else
            return said(at, "'%s' is not an option", w[i]);
        if (o < 0) return -1;
        if (cl_submit_opt(c, o, val, x)) return said(at, "the value above is refused");
    }
    return 0;
}

/* Which directive a line is: its options (after the tag), or NULL. */
static char *tagged(char *line, bool *sbatch)
{
    static const char *const tags[] = {"#SBATCH", "#COLOSSUS"};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(tags[k]);
        if (!strncmp(line, tags[k], n) &&
            (line[n] == ' ' || line[n] == '\t' || line[n] == '\0' || line[n] == '\r')) {
            *sbatch = k == 0;
            return line + n;
        }
    }
    return NULL;
}

static bool blank_or_comment(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return !*s || *s == '#';
}

int cl_submit_script(cl_cli_t *c, const char *path, cl_submit_t *x)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    if (!f) return 0; /* a command found in PATH on the nodes, not a script here */
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t len;
    int rc = 0;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
        (len = getline(&line, &cap, f)) < 2 || strncmp(line, "#!", 2)) {
        free(line);
        fclose(f);
        return 0;
    }
    if (line[len - 1] == '\n') line[--len] = '\0';
    x->shebang = cl_xstrdup(line + 2);
    for (no = 2; rc == 0 && no < MAX_LINES && (len = getline(&line, &cap, f)) >= 0; no++) {
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (!blank_or_comment(line)) break;
        bool sbatch;
        char *opts = tagged(line, &sbatch);
        if (!opts) continue;
        x->sbatch |= sbatch;
        /* Values point into the line: kept until the submission is sent. */
        x->lines = cl_xrealloc(x->lines, (x->nlines + 1) * sizeof *x->lines);
        x->lines[x->nlines++] = cl_xstrdup(line);
        char *copy = cl_xstrdup(line);
        where_t at = {path, no, copy};
        rc = directive(c, x->lines[x->nlines - 1] + (opts - line), sbatch, x, &at);
        free(copy);
    }
    free(line);
    fclose(f);
    return rc < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------ environment --------- */

static void env_add(cl_submit_t *x, char *entry, size_t *cap)
{
    if (x->s.n_env + 1 >= *cap) {
        *cap = *cap ? *cap * 2 : 64;
        x->s.env = cl_xrealloc(x->s.env, *cap * sizeof *x->s.env);
    }
    x->s.env[x->s.n_env++] = entry;
    x->n_env_own = x->s.n_env;
}

/* An item of --export: "NAME=VALUE" as it is, "NAME" with this process's value (none: not
 * exported, as Slurm does). */
static void export_item(cl_submit_t *x, const char *item, size_t len, size_t *cap)
{
    char *e = cl_xmalloc(len + 1);
    memcpy(e, item, len);
    e[len] = '\0';
    if (strchr(e, '=')) {
        env_add(x, e, cap);
        return;
    }
    const char *v = getenv(e);
    if (v) {
        char *kv = cl_xmalloc(len + strlen(v) + 2);
        sprintf(kv, "%s=%s", e, v);
        env_add(x, kv, cap);
    }
    free(e);
}

static int env_fits(const cl_submit_t *x)
{
    size_t bytes = strlen(x->s.name) + strlen(x->s.cwd), big = 0, bi = 0;
    for (size_t i = 0; i < x->s.n_argv; i++)
        bytes += strlen(x->s.argv[i]) + 1;
    for (size_t i = 0; i < x->s.n_env; i++) {
        size_t n = strlen(x->s.env[i]);
        bytes += n + 1;
        if (n > big) big = n, bi = i;
    }
    int nl = x->s.n_env ? (int)strcspn(x->s.env[bi], "=") : 0;
    if (x->s.n_env > CL_SUBMIT_MAX_ARGS)
        fprintf(stderr,
                "colossus submit: the environment has %zu variables; a job takes at most "
                "%u (narrow it with --export)\n",
                x->s.n_env, CL_SUBMIT_MAX_ARGS);
    else if (big > CL_SUBMIT_MAX_STRING)
        fprintf(stderr,
                "colossus submit: environment variable %.*s is %zu bytes; the limit is "
                "%u (Linux's MAX_ARG_STRLEN; leave it out with --export)\n",
                nl, x->s.env[bi], big, CL_SUBMIT_MAX_STRING);
    else if (bytes > CL_SUBMIT_MAX_BYTES)
        fprintf(stderr,
                "colossus submit: the command and its environment take %zu bytes; a job "
                "takes at most %u (1 MiB); the largest variable is %.*s (%zu bytes): "
                "narrow it with --export\n",
                bytes, CL_SUBMIT_MAX_BYTES, nl, x->s.env[bi], big);
    else
        return 0;
    return 2;
}

int cl_submit_env(cl_submit_t *x)
{
    const char *ex = x->export_ ? x->export_ : "ALL";
    size_t cap = 0;
    bool all = !strncmp(ex, "ALL", 3) && (ex[3] == '\0' || ex[3] == ',');
    for (char **e = environ; all && e && *e; e++) {
        size_t n = strcspn(*e, "=");
        if ((*e)[n] == '=' && n && !cl_env_secret_name(*e, n)) env_add(x, cl_xstrdup(*e), &cap);
    }
    if (strcmp(ex, "NONE") && strcmp(ex, "ALL")) {
        const char *p = all ? ex + 4 : ex;
        while (*p) {
            size_t len = strcspn(p, ",");
            export_item(x, p, len, &cap);
            p += len + (p[len] == ',');
        }
    }
    return env_fits(x);
}
