/* store.c - backend-independent dispatch of the journal interface and the store URLs
 * (store.h), and the helpers the backends share (store_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <time.h>

#include "store/fault.h"
#include "store/store_int.h"
#include "store/store.h"
#include "util/util.h"

int cl_store_commit(cl_store_t *s, const cl_store_batch_t *b, cl_error_t *err)
{
    if (!cl_store_batch_size(b)) return 0;
    if (s->ops->commit(s, b, err) < 0) return -1;
    s->commits++;
    s->records_committed += cl_store_batch_size(b);
    s->puts_committed += cl_store_batch_puts(b);
    return 0;
}

int cl_store_load(cl_store_t *s, double finished_since, cl_store_job_f *jf, cl_store_node_f *nf,
                  void *arg, cl_error_t *err)
{
    return s->ops->load(s, finished_since, jf, nf, arg, err);
}

int cl_store_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg, cl_error_t *err)
{
    return s->ops->job_get(s, id, jf, arg, err);
}

int cl_store_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err)
{
    return s->ops->meta_get(s, k, v, err);
}

int cl_store_job_id_max(cl_store_t *s, uint64_t *id, cl_error_t *err)
{
    return s->ops->job_id_max(s, id, err);
}

int cl_store_objs_load(cl_store_t *s, const char *kind, cl_store_obj_f *f, void *arg,
                       cl_error_t *err)
{
    return s->ops->objs_load(s, kind, f, arg, err);
}

int cl_store_history_query(cl_store_t *s, const cl_store_history_q_t *q, cl_store_usage_f *f,
                           void *arg, cl_error_t *err)
{
    return s->ops->history(s, q, f, arg, err);
}

int cl_store_usage_query(cl_store_t *s, const cl_store_usage_q_t *q, cl_store_sum_f *f,
                         void *arg, cl_error_t *err)
{
    return s->ops->usage(s, q, f, arg, err);
}

int cl_store_audit_query(cl_store_t *s, const cl_store_audit_q_t *q, cl_store_audit_f *f,
                         void *arg, cl_error_t *err)
{
    return s->ops->audit(s, q, f, arg, err);
}

int cl_store_lead(cl_store_t *s, const char *who, cl_store_wait_f *waiting, void *arg,
                  cl_error_t *err)
{
    return s->ops->lead ? s->ops->lead(s, who, waiting, arg, err) : 0;
}

bool cl_store_lost(cl_store_t *s, char *why, size_t len)
{
    return s->ops->lost && s->ops->lost(s, why, len);
}

bool cl_store_fresh(cl_store_t *s)
{
    return !s->ops->fresh || s->ops->fresh(s);
}

int cl_store_by_parse(const char *s, cl_store_by_t *by, cl_error_t *err)
{
    static const char *const names[] = {
        [CL_STORE_BY_TENANT] = "tenant",
        [CL_STORE_BY_USER] = "user",
        [CL_STORE_BY_DAY] = "day",
        [CL_STORE_BY_MONTH] = "month",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (s && !strcmp(s, names[i])) {
            *by = (cl_store_by_t)i;
            return 0;
        }
    return cl_err(err, "'%.40s' is not a grouping: tenant, user, day or month", s ? s : "");
}

const char **cl__strs_split(const char *b, size_t len, size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < len; i++)
        cnt += b[i] == 0;
    const char **v = cl_xcalloc(cnt + 1, sizeof *v);
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len && k < cnt; i++)
        if (b[i] == 0) {
            v[k++] = b + start;
            start = i + 1;
        }
    *n = cnt;
    return v;
}

void cl__utc_day(double t, char out[16])
{
    double lim = 253402300799.0; /* 9999-12-31T23:59:59Z */
    time_t tt = (time_t)(t > 0 ? (t < lim ? floor(t) : lim) : 0);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Append n bytes of v to out (len bytes, *o used), cut at its end. */
static void put_n(char *out, size_t len, size_t *o, const char *v, size_t n)
{
    if (*o + 1 >= len) return;
    if (n > len - 1 - *o) n = len - 1 - *o;
    memcpy(out + *o, v, n);
    *o += n;
    out[*o] = 0;
}

void cl_store_url_shown(const char *url, char *out, size_t len)
{
    size_t o = 0;
    const char *p = url, *a = strstr(url, "://");
    out[0] = 0;
    if (a) { /* scheme://user:PASSWORD@host */
        a += 3;
        const char *end = a + strcspn(a, "/?"), *at = memrchr(a, '@', (size_t)(end - a));
        const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
        if (colon) {
            put_n(out, len, &o, url, (size_t)(colon + 1 - url));
            put_n(out, len, &o, "***", 3);
            p = at;
        }
    }
    while (*p) { /* ?password=PASSWORD&..., password=PASSWORD in a key=value string */
        const char *pw = strstr(p, "password=");
        if (!pw) {
            put_n(out, len, &o, p, strlen(p));
            break;
        }
        bool key = pw == url || strchr("?& ", pw[-1]);
        put_n(out, len, &o, p, (size_t)(pw + 9 - p));
        p = pw + 9;
        if (key) {
            put_n(out, len, &o, "***", 3);
            p += strcspn(p, "& ");
        }
    }
}

void cl_store_close(cl_store_t *s)
{
    if (s) s->ops->close(s);
}

static const char forms[] =
    "sqlite:DIR, postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DB][?PARAM=VALUE...] or "
    "fault:URL?delay_ms=N&fail_at=K&fail_count=N";

typedef struct fault_opts {
    uint32_t delay_ms, fail_at, fail_count;
    bool fail;
} fault_opts_t;

/* "delay_ms=N&fail_at=K&fail_count=N" (any of them, any order). */
static int fault_opts(const char *url, const char *q, fault_opts_t *o, cl_error_t *err)
{
    *o = (fault_opts_t){.fail_at = 1, .fail_count = UINT32_MAX};
    char buf[256];
    if (strlen(q) >= sizeof buf)
        return cl_err(err, "store: %.200s: the fault options are too long", url);
    memcpy(buf, q, strlen(q) + 1);
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        uint32_t v, lo = 0, *dst = NULL;
        if (eq) *eq = 0;
        if (!strcmp(kv, "delay_ms"))
            dst = &o->delay_ms;
        else if (!strcmp(kv, "fail_at"))
            dst = &o->fail_at, lo = 1, o->fail = true;
        else if (!strcmp(kv, "fail_count"))
            dst = &o->fail_count, o->fail = true;
        else
            return cl_err(err,
                          "store: %.200s: unknown fault option '%.40s' (delay_ms, fail_at, "
                          "fail_count)",
                          url, kv);
        if (!eq || cl_parse_u32(eq + 1, lo, UINT32_MAX, &v) < 0)
            return cl_err(err,
                          "store: %.200s: fault option %s needs a number >= %u, not '%.40s'",
                          url, kv, lo, eq ? eq + 1 : "");
        *dst = v;
    }
    return 0;
}

/* fault:INNER?OPTS. The options follow the last '?', so an inner URL with a query of its
 * own is written with an empty one after it (fault:postgresql://h/db?sslmode=require?). */
static cl_store_t *open_fault(const char *url, const cl_store_opts_t *opts, cl_error_t *err)
{
    const char *inner = url + strlen("fault:"), *q = strrchr(inner, '?');
    size_t ilen = q ? (size_t)(q - inner) : strlen(inner);
    fault_opts_t fo;
    if (fault_opts(url, q ? q + 1 : "", &fo, err) < 0) return NULL;
    char *iurl = cl_xmalloc(ilen + 1);
    memcpy(iurl, inner, ilen);
    iurl[ilen] = 0;
    cl_store_t *s = cl_store_open(iurl, opts, err);
    free(iurl);
    if (!s) return NULL;
    s = cl_store_fault_wrap(s);
    cl_store_fault_delay(s, fo.delay_ms);
    if (fo.fail) cl_store_fault_fail(s, fo.fail_at, fo.fail_count, "as the store URL asks");
    return s;
}

cl_store_t *cl_store_open(const char *url, const cl_store_opts_t *opts, cl_error_t *err)
{
    cl_store_opts_t dflt = {.sync_full = true};
    if (!opts) opts = &dflt;
    if (!strncmp(url, "sqlite:", 7)) {
        if (!url[7]) {
            cl_err(err, "store: '%.200s' names no directory (sqlite:DIR)", url);
            return NULL;
        }
        return cl_store_open_sqlite(url + 7, opts->sync_full, err);
    }
    if (!strncmp(url, "fault:", 6)) return open_fault(url, opts, err);
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        return cl_store_open_pg(url, opts->sync_full, err);
    }
    cl_err(err, "store: '%.200s' is not a store URL; use %s", url, forms);
    return NULL;
}
