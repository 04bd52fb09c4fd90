/* hostlist.c - Slurm-style node lists, checked, counted and matched without expansion
 * (hostlist.h). */
#include "util/hostlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define NAME_MAX_BYTES 63

typedef struct range {
    uint32_t lo, hi;
    int width; /* leading zeros: every number is printed with at least this many digits */
} range_t;

static bool literal_ok(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != ',' && c != '[' && c != ']';
}

/* A number of 1..9 digits at *p; its length in *len. */
static bool number(const char **p, uint32_t *v, int *len)
{
    int n = 0;
    *v = 0;
    while ((*p)[n] >= '0' && (*p)[n] <= '9' && n < 10) {
        *v = *v * 10 + (uint32_t)((*p)[n] - '0');
        n++;
    }
    if (n == 0 || n > 9) return false;
    *p += n;
    *len = n;
    return true;
}

static int ndigits(uint32_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* One range of a group at *p (after '[' or ','), and the ',' or ']' after it: 1 when the
 * group goes on, 0 at its ']', -1 on a malformed range (err says where in s). */
static int next_range(const char *s, const char **p, range_t *r, cl_error_t *err)
{
    int llen, hlen;
    const char *at = *p;
    if (!number(p, &r->lo, &llen))
        return cl_err(err, "'%s' at byte %td: expected a number of 1 to 9 digits in [...]", s,
                      at - s);
    r->hi = r->lo;
    hlen = llen;
    r->width = at[0] == '0' && llen > 1 ? llen : 0;
    if (**p == '-') {
        const char *h = ++*p;
        if (!number(p, &r->hi, &hlen))
            return cl_err(err, "'%s' at byte %td: expected the end of the range", s, h - s);
        if (h[0] == '0' && hlen > 1 && hlen != llen)
            return cl_err(err, "'%s' at byte %td: '%.*s' and '%.*s' differ in width", s, at - s,
                          llen, at, hlen, h);
        if (r->hi < r->lo)
            return cl_err(err, "'%s' at byte %td: the range %u-%u runs backwards", s, at - s,
                          r->lo, r->hi);
    }
    if (**p == ',' || **p == ']') return *(*p)++ == ',';
    return cl_err(err, "'%s' at byte %td: expected ',' or ']' in [...]", s, *p - s);
}

/* Walk one item (to the next top-level ',' or the end): check it, and give its number of
 * names (saturating) and the longest name's length. Returns the end of the item, or NULL. */
static const char *item(const char *s, const char *p, uint64_t *count, int *longest,
                        cl_error_t *err)
{
    uint64_t n = 1;
    int len = 0;
    const char *start = p;
    while (*p && *p != ',') {
        if (*p == '[') {
            p++;
            uint64_t names = 0;
            int wide = 0, more;
            range_t r;
            do {
                if ((more = next_range(s, &p, &r, err)) < 0) return NULL;
                names += (uint64_t)r.hi - r.lo + 1;
                int w = ndigits(r.hi) > r.width ? ndigits(r.hi) : r.width;
                if (w > wide) wide = w;
            } while (more);
            n = names && n > UINT64_MAX / names ? UINT64_MAX : n * names;
            len += wide;
        } else if (literal_ok((unsigned char)*p)) {
            p++;
            len++;
        } else {
            cl_err(err, "'%s' at byte %td: %s", s, p - s,
                   *p == ']'   ? "']' without '['"
                   : *p == ' ' ? "a space (separate names with ',')"
                               : "a character a node name cannot hold");
            return NULL;
        }
    }
    if (p == start) {
        cl_err(err, "'%s' at byte %td: an empty name", s, p - s);
        return NULL;
    }
    *count = n;
    *longest = len;
    return p;
}

/* Check the whole list; the number of names in *count. */
static int walk(const char *s, uint64_t *count, cl_error_t *err)
{
    size_t len = strlen(s);
    if (!len) return cl_err(err, "an empty hostlist");
    if (len > CL_HOSTLIST_MAX)
        return cl_err(err, "the hostlist is %zu bytes, longer than %d", len, CL_HOSTLIST_MAX);
    if (!cl_utf8_valid(s, len)) return cl_err(err, "the hostlist is not valid UTF-8");
    uint64_t total = 0;
    for (const char *p = s;;) {
        uint64_t n;
        int longest;
        const char *at = p;
        if (!(p = item(s, p, &n, &longest, err))) return -1;
        if (longest > NAME_MAX_BYTES)
            return cl_err(err, "'%s' at byte %td: a name of %d bytes, longer than %d", s,
                          at - s, longest, NAME_MAX_BYTES);
        total = total > UINT64_MAX - n ? UINT64_MAX : total + n;
        if (!*p) break;
        p++; /* the ',' */
    }
    *count = total;
    return 0;
}

int cl_hostlist_check(const char *s, cl_error_t *err)
{
    uint64_t n;
    return walk(s ? s : "", &n, err);
}

uint64_t cl_hostlist_count(const char *s)
{
    uint64_t n;
    cl_error_t err;
    return s && walk(s, &n, &err) == 0 ? n : 0;
}

/* The names of one item p..end (checked), the text before it in buf[0..blen). */
static int expand(const char *s, const char *p, const char *end, char *buf, size_t blen,
                  cl_hostlist_name_f *f, void *arg)
{
    while (p < end && *p != '[')
        buf[blen++] = *p++;
    if (p == end) {
        buf[blen] = 0;
        return f(buf, arg);
    }
    const char *close = strchr(p, ']');
    cl_error_t e;
    range_t r;
    int more;
    for (const char *q = p + 1; (more = next_range(s, &q, &r, &e)) >= 0;) {
        for (uint64_t v = r.lo; v <= r.hi; v++) {
            int n =
                snprintf(buf + blen, NAME_MAX_BYTES + 12 - blen, "%0*u", r.width, (unsigned)v);
            int rc = expand(s, close + 1, end, buf, blen + (size_t)n, f, arg);
            if (rc) return rc;
        }
        if (!more) break;
    }
    return 0;
}

int cl_hostlist_each(const char *s, cl_hostlist_name_f *f, void *arg, cl_error_t *err)
{
    if (cl_hostlist_check(s, err) < 0) return -1;
    char buf[NAME_MAX_BYTES + 12];
    for (const char *p = s; *p;) {
        const char *e = p;
        for (int depth = 0; *e && (depth || *e != ','); e++)
            depth += *e == '[' ? 1 : *e == ']' ? -1 : 0;
        int rc = expand(s, p, e, buf, 0, f, arg);
        if (rc) return rc;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* The positions of name reachable after a group, from those reachable before it (bit i:
 * name[0..i) matched). */
static uint64_t group_step(const char **p, const char *name, size_t nlen, uint64_t reach)
{
    uint64_t next = 0;
    range_t r;
    cl_error_t err;
    int more;
    do {
        if ((more = next_range(*p, p, &r, &err)) < 0) return 0; /* checked before */
        for (size_t i = 0; i <= nlen; i++) {
            if (!(reach >> i & 1)) continue;
            uint32_t v = 0;
            for (size_t k = 1; k <= 9 && i + k <= nlen; k++) {
                char c = name[i + k - 1];
                if (c < '0' || c > '9') break;
                v = v * 10 + (uint32_t)(c - '0');
                char buf[16];
                int w = snprintf(buf, sizeof buf, "%0*u", r.width, v);
                if (v >= r.lo && v <= r.hi && (size_t)w == k && !memcmp(buf, name + i, k))
                    next |= 1ull << (i + k);
            }
        }
    } while (more);
    return next;
}

bool cl_hostlist_match(const char *s, const char *name)
{
    uint64_t n;
    cl_error_t err;
    size_t nlen = name ? strlen(name) : 0;
    if (!s || nlen == 0 || nlen > NAME_MAX_BYTES || walk(s, &n, &err) < 0) return false;
    /* Each item as a pattern over the name, the set of matched prefixes as a bit mask. */
    for (const char *p = s;;) {
        uint64_t reach = 1;
        while (*p && *p != ',') {
            if (*p == '[') {
                p++;
                reach = group_step(&p, name, nlen, reach);
            } else {
                uint64_t next = 0;
                for (size_t i = 0; i < nlen; i++)
                    if ((reach >> i & 1) && name[i] == *p) next |= 1ull << (i + 1);
                reach = next;
                p++;
            }
        }
        if (reach >> nlen & 1) return true;
        if (!*p) return false;
        p++;
    }
}

/* ---- compressing a list of names ---- */

typedef struct hl_name {
    const char *s;
    size_t plen;  /* the prefix before the trailing number; the whole name without one */
    int width;    /* the trailing number's digits; 0 without one */
    uint32_t num; /* its value */
} hl_name_t;

/* The trailing number of s (1..9 digits after a prefix a hostlist can write), if any. */
static void split(const char *s, hl_name_t *o)
{
    size_t len = strlen(s), k = len;
    while (k > 0 && s[k - 1] >= '0' && s[k - 1] <= '9')
        k--;
    o->s = s;
    o->plen = len;
    o->width = 0;
    o->num = 0;
    if (k == len || len - k > 9) return;
    for (size_t i = 0; i < k; i++)
        if (!literal_ok((unsigned char)s[i])) return;
    o->plen = k;
    o->width = (int)(len - k);
    for (size_t i = k; i < len; i++)
        o->num = o->num * 10 + (uint32_t)(s[i] - '0');
}

static int by_prefix_width_num(const void *pa, const void *pb)
{
    const hl_name_t *a = pa, *b = pb;
    size_t n = a->plen < b->plen ? a->plen : b->plen;
    int c = memcmp(a->s, b->s, n);
    if (c) return c;
    if (a->plen != b->plen) return a->plen < b->plen ? -1 : 1;
    if (a->width != b->width) return a->width < b->width ? -1 : 1;
    if (!a->width) return strcmp(a->s, b->s);
    return a->num < b->num ? -1 : a->num > b->num;
}

static bool same_group(const hl_name_t *a, const hl_name_t *b)
{
    return a->width && a->width == b->width && a->plen == b->plen &&
           !memcmp(a->s, b->s, a->plen);
}

typedef struct hl_out {
    char *p;
    size_t len, cap;
} hl_out_t;

static void put(hl_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(hl_out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
    va_end(ap);
    cl_assert(n >= 0);
    if (!o->p || o->len + (size_t)n >= o->cap) {
        o->cap = 2 * (o->len + (size_t)n) + 64;
        o->p = cl_xrealloc(o->p, o->cap);
        va_start(ap, fmt);
        vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t)n;
}

/* v[0..n): one group (same prefix and width), numbers ascending, duplicates possible */
static void put_group(hl_out_t *o, const hl_name_t *v, size_t n)
{
    size_t distinct = 1;
    for (size_t i = 1; i < n; i++)
        distinct += v[i].num != v[i - 1].num;
    put(o, "%.*s%s", (int)v[0].plen, v[0].s, distinct > 1 ? "[" : "");
    int w = v[0].width;
    bool first = true;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1].num <= v[j].num + 1)
            j++;
        put(o, "%s%0*u", first ? "" : ",", w, v[i].num);
        if (v[j].num != v[i].num) put(o, "-%0*u", w, v[j].num);
        first = false;
        i = j + 1;
    }
    if (distinct > 1) put(o, "]");
}

char *cl_hostlist_compress(const char *const *names, size_t n)
{
    hl_name_t *v = cl_xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        split(names[i], &v[i]);
    qsort(v, n, sizeof *v, by_prefix_width_num);
    hl_out_t o = {0};
    put(&o, "%s", "");
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && same_group(&v[i], &v[j]))
            j++;
        if (o.len) put(&o, ",");
        if (v[i].width)
            put_group(&o, v + i, j - i);
        else
            put(&o, "%s", v[i].s);
        /* a literal name listed twice is written once */
        while (!v[i].width && j < n && !v[j].width && !strcmp(v[j].s, v[i].s))
            j++;
        i = j;
    }
    free(v);
    return o.p;
}
