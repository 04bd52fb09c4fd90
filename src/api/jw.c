/* jw.c - the JSON writer of jw.h. The text mode writes what jansson's dump writes for the
 * same values (its dump.c and strconv.c: strings escaped only where JSON requires it, \uXXXX
 * in upper-case hex for the other control characters; reals as "%.17g" with ".0" added to a
 * whole number and the exponent's '+' and leading zeros dropped). */
#include "api/jw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static inline void put(cl_jw_t *w, const void *p, size_t n)
{
    cl_buf_t *b = w->text;
    if (!n) return;
    if (b->cap - b->len < n && cl_buf_reserve(b, n) < 0) cl_oom(n, __FILE__, __LINE__);
    memcpy(b->p + b->len, p, n); /* a few bytes at a time: no call per piece */
    b->len += n;
}

static json_t *must(json_t *v)
{
    if (!v) cl_oom(0, __FILE__, __LINE__); /* the inputs are made valid: only memory fails */
    return v;
}

void cl_jw_tree(cl_jw_t *w)
{
    memset(w, 0, sizeof *w);
}

void cl_jw_text(cl_jw_t *w, cl_buf_t *b)
{
    memset(w, 0, sizeof *w);
    w->text = b;
}

json_t *cl_jw_root(cl_jw_t *w)
{
    json_t *r = w->root;
    w->root = NULL;
    return r;
}

/* tree: v into the open container (the reference is given), or as the root */
static void attach(cl_jw_t *w, const char *key, json_t *v)
{
    must(v);
    if (!w->depth) {
        if (w->root) json_decref(w->root);
        w->root = v;
        return;
    }
    json_t *c = w->open[w->depth - 1];
    int rc = json_is_array(c) ? json_array_append_new(c, v) : json_object_set_new(c, key, v);
    if (rc < 0) cl_oom(0, __FILE__, __LINE__);
}

/* text: the comma before a container's second and later values, and "key": */
static void prefix(cl_jw_t *w, const char *key)
{
    if (w->depth && w->items[w->depth - 1]++) put(w, ",", 1);
    if (!key) return;
    put(w, "\"", 1);
    put(w, key, strlen(key));
    put(w, "\":", 2);
}

static void open_one(cl_jw_t *w, const char *key, bool arr)
{
    cl_assert(w->depth < CL_JW_DEPTH); /* a rendering nests a fixed number of levels */
    if (w->text) {
        prefix(w, key);
        put(w, arr ? "[" : "{", 1);
        w->is_arr[w->depth] = arr;
        w->items[w->depth] = 0;
    } else {
        json_t *c = must(arr ? json_array() : json_object());
        attach(w, key, c); /* the parent (or the root) holds it; the writer borrows it */
        w->open[w->depth] = c;
    }
    w->depth++;
}

void cl_jw_obj(cl_jw_t *w, const char *key)
{
    open_one(w, key, false);
}

void cl_jw_arr(cl_jw_t *w, const char *key)
{
    open_one(w, key, true);
}

void cl_jw_end(cl_jw_t *w)
{
    cl_assert(w->depth > 0); /* an end closes what its rendering opened */
    w->depth--;
    if (w->text) put(w, w->is_arr[w->depth] ? "]" : "}", 1);
}

/* text: s's bytes, escaped as jansson escapes them; a byte that starts no valid UTF-8
 * sequence becomes U+FFFD (json.c's str() does the same for the tree) */
static void escaped(cl_jw_t *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    put(w, "\"", 1);
    while (*p) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            p++;
            continue;
        }
        uint32_t cp;
        size_t n = c < 0x80 ? 1 : (size_t)cl_utf8_seq(p, 4, &cp);
        if (c >= 0x80 && n) { /* a valid sequence: as it is */
            p += n;
            continue;
        }
        put(w, run, (size_t)(p - run));
        char seq[8];
        const char *t = seq;
        size_t tl = 2;
        switch (c) {
        case '"':
            t = "\\\"";
            break;
        case '\\':
            t = "\\\\";
            break;
        case '\b':
            t = "\\b";
            break;
        case '\f':
            t = "\\f";
            break;
        case '\n':
            t = "\\n";
            break;
        case '\r':
            t = "\\r";
            break;
        case '\t':
            t = "\\t";
            break;
        default:
            if (c < 0x20) {
                tl = (size_t)snprintf(seq, sizeof seq, "\\u%04X", c);
            } else { /* not UTF-8 */
                t = "\xEF\xBF\xBD";
                tl = 3;
            }
        }
        put(w, t, tl);
        run = ++p;
    }
    put(w, run, (size_t)(p - run));
    put(w, "\"", 1);
}

json_t *cl_jw_string(const char *s)
{
    if (!s) s = "";
    json_t *v = json_string(s);
    if (v) return v;
    /* Names and command lines come from users and agents, and protobuf-c does not check that
     * a string is UTF-8: jansson refuses such a string, so its bad bytes are replaced first */
    size_t len = strlen(s), o = 0;
    char *b = cl_xmalloc(len * 3 + 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        size_t n = (size_t)cl_utf8_seq(p, 4, &cp); /* what jansson accepts; a NUL ends it */
        if (n) {
            memcpy(b + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(b + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    v = json_stringn(b, o);
    free(b);
    return v;
}

void cl_jw_str(cl_jw_t *w, const char *key, const char *s)
{
    if (!s) s = "";
    if (!w->text) {
        attach(w, key, cl_jw_string(s));
        return;
    }
    prefix(w, key);
    escaped(w, s);
}

void cl_jw_int(cl_jw_t *w, const char *key, int64_t v)
{
    if (!w->text) {
        attach(w, key, json_integer((json_int_t)v));
        return;
    }
    prefix(w, key);
    char d[24], *e = d + sizeof d, *q = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--q = '-';
    put(w, q, (size_t)(e - q));
}

/* jansson's jsonp_dtostr at precision 17 */
static size_t real_text(char *b, size_t size, double v)
{
    size_t n = (size_t)snprintf(b, size, "%.17g", v);
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    char *start = strchr(b, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, n - (size_t)(end - b) + 1);
            n -= (size_t)(end - start);
        }
    }
    return n;
}

void cl_jw_real(cl_jw_t *w, const char *key, double v)
{
    if (!isfinite(v)) {
        cl_jw_null(w, key);
        return;
    }
    if (!w->text) {
        attach(w, key, json_real(v));
        return;
    }
    prefix(w, key);
    char b[40];
    put(w, b, real_text(b, sizeof b, v));
}

void cl_jw_bool(cl_jw_t *w, const char *key, bool v)
{
    if (!w->text) {
        attach(w, key, json_boolean(v));
        return;
    }
    prefix(w, key);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void cl_jw_null(cl_jw_t *w, const char *key)
{
    if (!w->text) {
        attach(w, key, json_null());
        return;
    }
    prefix(w, key);
    put(w, "null", 4);
}
