/* trace.c - read a job trace CSV (job_id, submit_time_s, duration_s, num_gpus[, cluster])
 * for replay; every malformed line is refused as "FILE:LINE: what is wrong". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

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

int cl_trace_parse(const char *text, size_t len, const char *file, const char *cluster,
                   cl_trace_t *out, cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, file, 1,
                    "empty file: expected a header line "
                    "job_id,submit_time_s,duration_s,num_gpus");
    char *buf = malloc(len + 1);
    if (!buf) return fail(err, file, 0, "out of memory");
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        size_t line = 1;
        for (size_t i = 0; i < len && text[i]; i++)
            line += text[i] == '\n';
        free(buf);
        return fail(err, file, line, "NUL byte in a text file");
    }
    int col_submit = -1, col_dur = -1, col_gpus = -1, col_id = -1, col_cluster = -1;
    int ncols = 0;
    size_t cap = 0, n = 0, line = 0;
    cl_trace_job_t *v = NULL;
    char **cl = NULL;
    size_t ncl = 0;
    char *f[MAX_FIELDS];
    char *p = buf;
    int rc = -1;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        line++;
        char *s = p;
        p = nl ? nl + 1 : p + strlen(p);
        if (!*s || (s[0] == '\r' && !s[1])) {
            if (line == 1) {
                fail(err, file, line, "missing header line");
                goto out;
            }
            continue; /* blank line */
        }
        if (strchr(s, '"')) {
            fail(err, file, line, "quoted fields are not supported");
            goto out;
        }
        int nf = split(s, f, MAX_FIELDS);
        if (nf < 0) {
            fail(err, file, line, "more than %d fields", MAX_FIELDS);
            goto out;
        }
        if (line == 1) {
            for (int i = 0; i < nf; i++) {
                int *col = !strcmp(f[i], "submit_time_s") ? &col_submit
                           : !strcmp(f[i], "duration_s")  ? &col_dur
                           : !strcmp(f[i], "num_gpus")    ? &col_gpus
                           : !strcmp(f[i], "job_id")      ? &col_id
                           : !strcmp(f[i], "cluster")     ? &col_cluster
                                                          : NULL;
                if (col && *col >= 0) {
                    fail(err, file, line, "column '%s' appears twice", f[i]);
                    goto out;
                }
                if (col) *col = i;
            }
            const char *miss = col_id < 0       ? "job_id"
                               : col_submit < 0 ? "submit_time_s"
                               : col_dur < 0    ? "duration_s"
                               : col_gpus < 0   ? "num_gpus"
                                                : NULL;
            if (miss) {
                fail(err, file, line,
                     "header lacks column '%s' (need job_id, submit_time_s, "
                     "duration_s, num_gpus)",
                     miss);
                goto out;
            }
            if (cluster && col_cluster < 0) {
                fail(err, file, line,
                     "--trace-cluster given but the file has no 'cluster' "
                     "column");
                goto out;
            }
            ncols = nf;
            continue;
        }
        if (nf != ncols) {
            fail(err, file, line, "expected %d fields as in the header, found %d", ncols, nf);
            goto out;
        }
        double sub, dur, g;
        if (!*f[col_id]) {
            fail(err, file, line, "empty job_id");
            goto out;
        }
        if (parse_num(f[col_submit], &sub) || sub < 0) {
            fail(err, file, line, "submit_time_s '%.40s' is not a number >= 0", f[col_submit]);
            goto out;
        }
        if (parse_num(f[col_dur], &dur) || dur <= 0) {
            fail(err, file, line, "duration_s '%.40s' is not a number > 0", f[col_dur]);
            goto out;
        }
        if (parse_num(f[col_gpus], &g) || g < 1 || g != floor(g) || g > 1e7) {
            fail(err, file, line, "num_gpus '%.40s' is not a whole number >= 1", f[col_gpus]);
            goto out;
        }
        if (cluster && strcmp(f[col_cluster], cluster)) continue;
        uint32_t ci = 0;
        if (col_cluster >= 0) {
            while (ci < ncl && strcmp(cl[ci], f[col_cluster]))
                ci++;
            if (ci == ncl) {
                char **ncv = ncl < 4096 ? realloc(cl, (ncl + 1) * sizeof(*cl)) : NULL;
                char *name = ncv ? strdup(f[col_cluster]) : NULL;
                if (ncv) cl = ncv;
                if (!name) {
                    fail(err, file, line,
                         ncl < 4096 ? "out of memory" : "more than 4096 distinct clusters");
                    goto out;
                }
                cl[ncl++] = name;
            }
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            cl_trace_job_t *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                fail(err, file, line, "out of memory");
                goto out;
            }
            v = nv;
        }
        v[n++] = (cl_trace_job_t){sub, dur, (uint32_t)g, (uint32_t)line, ci};
    }
    if (line == 0) {
        fail(err, file, 1, "missing header line");
        goto out;
    }
    if (n == 0) {
        if (cluster)
            fail(err, file, line, "no jobs of cluster '%s' in the file", cluster);
        else
            fail(err, file, line, "no jobs in the file");
        goto out;
    }
    qsort(v, n, sizeof(*v), cmp_submit);
    out->v = v;
    out->n = n;
    out->file = strdup(file);
    out->clusters = cl;
    out->nclusters = ncl;
    v = NULL;
    cl = NULL;
    ncl = 0;
    rc = 0;
out:
    for (size_t i = 0; i < ncl; i++)
        free(cl[i]);
    free(cl);
    free(v);
    free(buf);
    return rc;
}

int cl_trace_load(const char *path, const char *cluster, cl_trace_t *out, cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (err) snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    int bad = ferror(fp);
    fclose(fp);
    if (!buf || bad) {
        free(buf);
        if (err)
            snprintf(err->msg, sizeof(err->msg), "%s: %s", path,
                     buf ? "read error" : "out of memory");
        return -1;
    }
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
