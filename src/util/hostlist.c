/* hostlist.c - Slurm-style node lists, checked, counted and matched without expansion
 * (hostlist.h). */
#include "util/hostlist.h"

#include <stdio.h>
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
