/* hostlist.c - Slurm-style host lists, checked and matched in place (hostlist.h). */
#include "util/hostlist.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

static bool name_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.';
}

/* One range of a bracket group: [p, end) is "LO" or "LO-HI". */
typedef struct range {
    unsigned long long lo, hi;
    size_t width; /* digits every match has (zero-padded LO), 0: any without leading zeros */
} range_t;

static int parse_num(const char *p, const char *end, unsigned long long *v, size_t *digits)
{
    *v = 0;
    *digits = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p) || *digits >= 18) return -1;
        *v = *v * 10 + (unsigned)(*p - '0');
        (*digits)++;
    }
    return *digits ? 0 : -1;
}

static int parse_range(const char *p, const char *end, range_t *r)
{
    const char *dash = memchr(p, '-', (size_t)(end - p));
    size_t dl, dh;
    if (parse_num(p, dash ? dash : end, &r->lo, &dl) < 0) return -1;
    r->hi = r->lo;
    if (dash && parse_num(dash + 1, end, &r->hi, &dh) < 0) return -1;
    if (r->hi < r->lo) return -1;
    r->width = p[0] == '0' && dl > 1 ? dl : 0;
    return 0;
}

/* Visit each entry (a span of s at bracket depth 0). */
typedef int entry_f(const char *p, const char *end, void *arg);

static int each_entry(const char *s, entry_f *f, void *arg)
{
    const char *p = s;
    int depth = 0;
    for (const char *q = s;; q++) {
        if (*q == '[') depth++;
        if (*q == ']') depth--;
        if ((*q == ',' && depth == 0) || !*q) {
            int rc = f(p, q, arg);
            if (rc) return rc;
            if (!*q) return 0;
            p = q + 1;
        }
    }
}

/* An entry's parts: prefix [group] suffix. */
typedef struct entry {
    const char *pre, *pre_end, *grp, *grp_end, *suf, *end;
} entry_t;

static int split_entry(const char *p, const char *end, entry_t *e)
{
    const char *lb = memchr(p, '[', (size_t)(end - p));
    e->pre = p;
    e->pre_end = lb ? lb : end;
    e->grp = e->grp_end = NULL;
    e->suf = e->end = end;
    if (lb) {
        const char *rb = memchr(lb, ']', (size_t)(end - lb));
        if (!rb) return -1;
        e->grp = lb + 1;
        e->grp_end = rb;
        e->suf = rb + 1;
        if (memchr(e->suf, '[', (size_t)(end - e->suf)) ||
            memchr(e->suf, ']', (size_t)(end - e->suf)))
            return -1;
    }
    for (const char *q = e->pre; q < e->pre_end; q++)
        if (!name_char(*q)) return -1;
    for (const char *q = e->suf; q < e->end; q++)
        if (!name_char(*q)) return -1;
    return e->pre_end > e->pre || e->grp ? 0 : -1;
}

/* Visit each range of a group. */
typedef int range_f(const range_t *r, void *arg);

static int each_range(const entry_t *e, range_f *f, void *arg)
{
    const char *p = e->grp;
    if (p == e->grp_end) return -1;
    for (const char *q = p;; q++) {
        if (q == e->grp_end || *q == ',') {
            range_t r;
            if (parse_range(p, q, &r) < 0) return -1;
            int rc = f(&r, arg);
            if (rc) return rc;
            if (q == e->grp_end) return 0;
            p = q + 1;
        }
    }
}

static int range_ok(const range_t *r, void *arg)
{
    (void)r;
    (void)arg;
    return 0;
}

static int entry_ok(const char *p, const char *end, void *arg)
{
    entry_t e;
    if (split_entry(p, end, &e) < 0) return -1;
    if (e.grp && each_range(&e, range_ok, NULL) < 0) return -1;
    (void)arg;
    return 0;
}

int cl_hostlist_check(const char *s, cl_error_t *err)
{
    size_t n = strlen(s);
    if (!n) return cl_err(err, "empty host list");
    if (n > CL_HOSTLIST_MAX)
        return cl_err(err, "host list too long (%zu bytes; at most %d)", n, CL_HOSTLIST_MAX);
    int depth = 0;
    for (const char *q = s; *q; q++) {
        depth += *q == '[' ? 1 : *q == ']' ? -1 : 0;
        if (depth < 0 || depth > 1)
            return cl_err(err, "host list '%.64s': unbalanced or nested brackets", s);
    }
    if (depth) return cl_err(err, "host list '%.64s': unbalanced brackets", s);
    if (each_entry(s, entry_ok, NULL) != 0)
        return cl_err(err,
                      "host list '%.64s' is malformed (expected names like node01 or "
                      "node[01-16,20], comma-separated)",
                      s);
    return 0;
}

/* ---- matching ---- */

typedef struct match {
    const char *name;
    unsigned long long v;
    size_t digits;
    bool lead0, hit;
} match_t;

static int range_hit(const range_t *r, void *arg)
{
    match_t *m = arg;
    bool width_ok = r->width ? m->digits == r->width : !m->lead0;
    if (width_ok && m->v >= r->lo && m->v <= r->hi) m->hit = true;
    return m->hit;
}

static int entry_hit(const char *p, const char *end, void *arg)
{
    match_t *m = arg;
    entry_t e;
    if (split_entry(p, end, &e) < 0) return 0;
    size_t n = strlen(m->name), pl = (size_t)(e.pre_end - e.pre), sl = (size_t)(e.end - e.suf);
    if (!e.grp) return n == pl && !memcmp(m->name, e.pre, n);
    if (n <= pl + sl || memcmp(m->name, e.pre, pl) || memcmp(m->name + n - sl, e.suf, sl))
        return 0;
    const char *mid = m->name + pl;
    size_t ml = n - pl - sl;
    if (parse_num(mid, mid + ml, &m->v, &m->digits) < 0) return 0;
    m->lead0 = ml > 1 && mid[0] == '0';
    m->hit = false;
    each_range(&e, range_hit, m);
    return m->hit;
}

bool cl_hostlist_contains(const char *s, const char *name)
{
    if (cl_hostlist_check(s, NULL) < 0 || !*name) return false;
    match_t m = {.name = name};
    return each_entry(s, entry_hit, &m) == 1;
}

/* ---- counting ---- */

static int range_count(const range_t *r, void *arg)
{
    size_t *n = arg, add = (size_t)(r->hi - r->lo + 1);
    *n = *n > SIZE_MAX - add ? SIZE_MAX : *n + add;
    return 0;
}

static int entry_count(const char *p, const char *end, void *arg)
{
    size_t *n = arg, k = 0;
    entry_t e;
    if (split_entry(p, end, &e) < 0) return -1;
    if (!e.grp)
        k = 1;
    else
        each_range(&e, range_count, &k);
    *n = *n > SIZE_MAX - k ? SIZE_MAX : *n + k;
    return 0;
}

size_t cl_hostlist_count(const char *s)
{
    if (cl_hostlist_check(s, NULL) < 0) return 0;
    size_t n = 0;
    each_entry(s, entry_count, &n);
    return n;
}
