/* trace.c - read a job trace CSV (job_id, submit_time_s, duration_s, num_gpus[, cluster])
 * for replay; every malformed line is refused as "FILE:LINE: what is wrong". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "util/util.h"

#define MAX_FIELDS 32

static int fail(cl_error_t *err, const char *file, size_t line, const char *fmt, ...)
{
    if (!err) return -1;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof(err->msg), "%s:%zu: %s", file, line, what);
    return -1;
}

/* Split one line (no newline) in place at commas; trims spaces and a trailing \r.
 * Returns the number of fields, or -1 with more than max fields. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    char *p = s;
    for (;;) {
        if (n == max) return -1;
        while (*p == ' ' || *p == '\t')
            p++;
        f[n++] = p;
        char *c = strchr(p, ',');
        char *end = c ? c : p + strlen(p);
        char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        *e = '\0';
        if (!c) return n;
        p = c + 1;
    }
}

static int parse_num(const char *s, double *out)
{
    if (!*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int cmp_submit(const void *a, const void *b)
{
    const cl_trace_job_t *x = a, *y = b;
    if (x->submit_s != y->submit_s) return x->submit_s < y->submit_s ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line; /* stable: file order */
}

/* The state of one parse: the header's columns, the jobs and the cluster names so far. */
typedef struct parse {
    const char *file, *cluster;
    cl_error_t *err;
    int col_submit, col_dur, col_gpus, col_id, col_cluster, ncols;
    cl_trace_job_t *v;
    size_t n, cap;
    char **cl;
    size_t ncl;
} parse_t;

/* The header line: which column holds what. */
static int parse_header(parse_t *ps, char **f, int nf, size_t line)
{
    for (int i = 0; i < nf; i++) {
        int *col = !strcmp(f[i], "submit_time_s") ? &ps->col_submit
                   : !strcmp(f[i], "duration_s")  ? &ps->col_dur
                   : !strcmp(f[i], "num_gpus")    ? &ps->col_gpus
                   : !strcmp(f[i], "job_id")      ? &ps->col_id
                   : !strcmp(f[i], "cluster")     ? &ps->col_cluster
                                                  : NULL;
        if (col && *col >= 0)
            return fail(ps->err, ps->file, line, "column '%s' appears twice", f[i]);
        if (col) *col = i;
    }
    const char *miss = ps->col_id < 0       ? "job_id"
                       : ps->col_submit < 0 ? "submit_time_s"
                       : ps->col_dur < 0    ? "duration_s"
                       : ps->col_gpus < 0   ? "num_gpus"
                                            : NULL;
    if (miss)
        return fail(ps->err, ps->file, line,
                    "header lacks column '%s' (need job_id, submit_time_s, "
                    "duration_s, num_gpus)",
                    miss);
    if (ps->cluster && ps->col_cluster < 0)
        return fail(ps->err, ps->file, line,
                    "--trace-cluster given but the file has no 'cluster' "
                    "column");
    ps->ncols = nf;
    return 0;
}

/* The index of a cluster name, added at its first appearance. */
static int cluster_index(parse_t *ps, const char *name, size_t line, uint32_t *out)
{
    uint32_t ci = 0;
    while (ci < ps->ncl && strcmp(ps->cl[ci], name))
        ci++;
    if (ci == ps->ncl) {
        if (ps->ncl == 4096)
            return fail(ps->err, ps->file, line, "more than 4096 distinct clusters");
        ps->cl = cl_xrealloc(ps->cl, (ps->ncl + 1) * sizeof(*ps->cl));
        ps->cl[ps->ncl++] = cl_xstrdup(name);
    }
    *out = ci;
    return 0;
}

/* One job line: checked, then kept unless it belongs to another cluster than the one asked. */
static int parse_job(parse_t *ps, char **f, int nf, size_t line)
{
    const char *file = ps->file;
    if (nf != ps->ncols)
        return fail(ps->err, file, line, "expected %d fields as in the header, found %d",
                    ps->ncols, nf);
    double sub, dur, g;
    if (!*f[ps->col_id]) return fail(ps->err, file, line, "empty job_id");
    if (parse_num(f[ps->col_submit], &sub) || sub < 0)
        return fail(ps->err, file, line, "submit_time_s '%.40s' is not a number >= 0",
                    f[ps->col_submit]);
    if (parse_num(f[ps->col_dur], &dur) || dur <= 0)
        return fail(ps->err, file, line, "duration_s '%.40s' is not a number > 0",
                    f[ps->col_dur]);
    if (parse_num(f[ps->col_gpus], &g) || g < 1 || g != floor(g) || g > 1e7)
        return fail(ps->err, file, line, "num_gpus '%.40s' is not a whole number >= 1",
                    f[ps->col_gpus]);
    if (ps->cluster && strcmp(f[ps->col_cluster], ps->cluster)) return 0;
    uint32_t ci = 0;
    if (ps->col_cluster >= 0 && cluster_index(ps, f[ps->col_cluster], line, &ci)) return -1;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 1024;
        ps->v = cl_xrealloc(ps->v, cap * sizeof(*ps->v));
        ps->cap = cap;
    }
    ps->v[ps->n++] = (cl_trace_job_t){sub, dur, (uint32_t)g, (uint32_t)line, ci};
    return 0;
}

/* Every line of buf (NUL-terminated, modified in place); *lines: how many were read. */
static int parse_lines(parse_t *ps, char *buf, size_t *lines)
{
    char *f[MAX_FIELDS];
    char *p = buf;
    size_t line = 0;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        line++;
        *lines = line;
        char *s = p;
        p = nl ? nl + 1 : p + strlen(p);
        if (!*s || (s[0] == '\r' && !s[1])) {
            if (line == 1) return fail(ps->err, ps->file, line, "missing header line");
            continue; /* blank line */
        }
        if (strchr(s, '"'))
            return fail(ps->err, ps->file, line, "quoted fields are not supported");
        int nf = split(s, f, MAX_FIELDS);
        if (nf < 0) return fail(ps->err, ps->file, line, "more than %d fields", MAX_FIELDS);
        if (line == 1 ? parse_header(ps, f, nf, line) : parse_job(ps, f, nf, line)) return -1;
    }
    return 0;
}

int cl_trace_parse(const char *text, size_t len, const char *file, const char *cluster,
                   cl_trace_t *out, cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, file, 1,
                    "empty file: expected a header line "
                    "job_id,submit_time_s,duration_s,num_gpus");
    char *buf = cl_xmalloc(len + 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        size_t line = 1;
        for (size_t i = 0; i < len && text[i]; i++)
            line += text[i] == '\n';
        free(buf);
        return fail(err, file, line, "NUL byte in a text file");
    }
    parse_t ps = {.file = file,
                  .cluster = cluster,
                  .err = err,
                  .col_submit = -1,
                  .col_dur = -1,
                  .col_gpus = -1,
                  .col_id = -1,
                  .col_cluster = -1};
    size_t line = 0;
    int rc = -1;
    if (parse_lines(&ps, buf, &line)) goto out;
    if (line == 0) {
        fail(err, file, 1, "missing header line");
        goto out;
    }
    if (ps.n == 0) {
        if (cluster)
            fail(err, file, line, "no jobs of cluster '%s' in the file", cluster);
        else
            fail(err, file, line, "no jobs in the file");
        goto out;
    }
    qsort(ps.v, ps.n, sizeof(*ps.v), cmp_submit);
    out->v = ps.v;
    out->n = ps.n;
    out->file = cl_xstrdup(file);
    out->clusters = ps.cl;
    out->nclusters = ps.ncl;
    ps.v = NULL;
    ps.cl = NULL;
    ps.ncl = 0;
    rc = 0;
out:
    for (size_t i = 0; i < ps.ncl; i++)
        free(ps.cl[i]);
    free(ps.cl);
    free(ps.v);
    free(buf);
    return rc;
}

int cl_trace_load(const char *path, const char *cluster, cl_trace_t *out, cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t len;
    char *buf = cl_read_file(path, &len, err);
    if (!buf) return -1;
    int rc = cl_trace_parse(buf, len, path, cluster, out, err);
    free(buf);
    return rc;
}

void cl_trace_free(cl_trace_t *t)
{
    if (!t) return;
    free(t->v);
    free(t->file);
    for (size_t i = 0; i < t->nclusters; i++)
        free(t->clusters[i]);
    free(t->clusters);
    memset(t, 0, sizeof(*t));
}
