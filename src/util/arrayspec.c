/* arrayspec.c - Slurm's --array parsed (arrayspec.h). */
#include "util/arrayspec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* A decimal number of the whole of [p, p+n), at most max: 0, or -1. */
static int number(const char *p, size_t n, uint32_t max, uint32_t *out)
{
    char buf[16];
    if (!n || n >= sizeof buf) return -1;
    memcpy(buf, p, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9') return -1;
    errno = 0;
    unsigned long v = strtoul(buf, NULL, 10);
    if (errno || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* One "A", "A-B" or "A-B:S" of len bytes at p, appended to a (cap: its room). */
static int range(const char *text, const char *p, size_t len, cl_arrayspec_t *a, size_t *cap,
                 cl_error_t *err)
{
    const char *dash = memchr(p, '-', len), *colon = memchr(p, ':', len);
    uint32_t lo, hi, step = 1;
    size_t ln = dash ? (size_t)(dash - p) : colon ? (size_t)(colon - p) : len;
    if (number(p, ln, CL_ARRAY_INDEX_MAX, &lo) < 0)
        return cl_err(err, "--array %.80s: '%.*s' is not a task index (0..%u)", text,
                      (int)(ln > 20 ? 20 : ln), p, CL_ARRAY_INDEX_MAX);
    hi = lo;
    if (dash) {
        const char *h = dash + 1;
        size_t hn = colon ? (size_t)(colon - h) : (size_t)(p + len - h);
        if (colon && colon < dash)
            return cl_err(err, "--array %.80s: a step before a range", text);
        if (number(h, hn, CL_ARRAY_INDEX_MAX, &hi) < 0)
            return cl_err(err, "--array %.80s: '%.*s' is not a task index (0..%u)", text,
                          (int)(hn > 20 ? 20 : hn), h, CL_ARRAY_INDEX_MAX);
        if (hi < lo)
            return cl_err(err, "--array %.80s: the range %u-%u ends below its start", text, lo,
                          hi);
    }
    if (colon) {
        if (!dash) return cl_err(err, "--array %.80s: a step needs a range (A-B:STEP)", text);
        const char *s = colon + 1;
        if (number(s, (size_t)(p + len - s), CL_ARRAY_INDEX_MAX, &step) < 0 || !step)
            return cl_err(err, "--array %.80s: the step must be a positive number", text);
    }
    size_t more = (hi - lo) / step + 1;
    if (a->n + more > CL_ARRAY_TASKS_MAX)
        return cl_err(err, "--array %.80s: more than %u tasks", text, CL_ARRAY_TASKS_MAX);
    if (a->n + more > *cap) {
        while (*cap < a->n + more)
            *cap = *cap ? *cap * 2 : 64;
        a->idx = cl_xrealloc(a->idx, *cap * sizeof *a->idx);
    }
    for (uint64_t t = lo; t <= hi; t += step)
        a->idx[a->n++] = (uint32_t)t;
    return 0;
}

int cl_arrayspec_parse(const char *text, cl_arrayspec_t *a, cl_error_t *err)
{
    memset(a, 0, sizeof *a);
    size_t len = strlen(text), cap = 0;
    const char *pct = memchr(text, '%', len);
    if (pct) {
        if (number(pct + 1, len - (size_t)(pct + 1 - text), CL_ARRAY_TASKS_MAX, &a->limit) <
                0 ||
            !a->limit)
            return cl_err(err, "--array %.80s: the limit after '%%' must be 1..%u", text,
                          CL_ARRAY_TASKS_MAX);
        len = (size_t)(pct - text);
    }
    if (!len) return cl_err(err, "--array %.80s: no task indices", text);
    for (const char *p = text, *end = text + len; p <= end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
        if (!n) return cl_err(err, "--array %.80s: an empty entry", text);
        if (range(text, p, n, a, &cap, err) < 0) return -1;
        if (!comma) break;
        p = comma + 1;
        if (p == end) return cl_err(err, "--array %.80s: an empty entry", text);
    }
    qsort(a->idx, a->n, sizeof *a->idx, cmp_u32);
    size_t m = 0;
    for (size_t i = 0; i < a->n; i++)
        if (!m || a->idx[m - 1] != a->idx[i]) a->idx[m++] = a->idx[i];
    a->n = m;
    return 0;
}

long cl_arrayspec_pos(const cl_arrayspec_t *a, uint32_t t)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->idx[mid] == t) return (long)mid;
        if (a->idx[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void cl_arrayspec_free(cl_arrayspec_t *a)
{
    free(a->idx);
    memset(a, 0, sizeof *a);
}
