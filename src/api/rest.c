/* rest.c - the REST API's pure parts: routes, list parameters, submission bodies, the status
 * of a refusal (rest.h). */
#include "api/rest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cred.h"
#include "util/arrayspec.h"
#include "util/depend.h"
#include "util/hostlist.h"
#include "util/iopat.h"
#include "util/units.h"
#include "util/util.h"
#include "util/when.h"

/* ---- routes ---- */

#define SEG_ID "{id}"     /* a job id */
#define SEG_NAME "{name}" /* a node or tenant name */
#define SEG_TOKEN "{tok}" /* a token id: tk- or nd- and 16 hex digits */

typedef struct route_pat {
    const char *seg[3];
    struct {
        const char *method;
        cl_rest_op_t op;
    } m[2];
} route_pat_t;

static const route_pat_t routes[] = {
    {{"whoami"}, {{"GET", CL_REST_WHOAMI}}},
    {{"jobs"}, {{"GET", CL_REST_JOBS}, {"POST", CL_REST_SUBMIT}}},
    {{"jobs", SEG_ID}, {{"GET", CL_REST_JOB}, {"DELETE", CL_REST_CANCEL}}},
    {{"jobs", SEG_ID, "cancel"}, {{"POST", CL_REST_CANCEL}}},
    {{"jobs", SEG_ID, "hold"}, {{"POST", CL_REST_HOLD}}},
    {{"jobs", SEG_ID, "release"}, {{"POST", CL_REST_RELEASE}}},
    {{"jobs", SEG_ID, "requeue"}, {{"POST", CL_REST_REQUEUE}}},
    {{"nodes"}, {{"GET", CL_REST_NODES}}},
    {{"nodes", SEG_NAME}, {{"GET", CL_REST_NODE}}},
    {{"nodes", SEG_NAME, "drain"}, {{"POST", CL_REST_DRAIN}}},
    {{"nodes", SEG_NAME, "resume"}, {{"POST", CL_REST_RESUME}}},
    {{"watch"}, {{"GET", CL_REST_WATCH}}},
    {{"jobs", SEG_ID, "logs"}, {{"GET", CL_REST_LOGS}}},
    {{"tenants"}, {{"GET", CL_REST_TENANTS}, {"POST", CL_REST_TENANT_ADD}}},
    {{"tenants", SEG_NAME}, {{"GET", CL_REST_TENANT}, {"PATCH", CL_REST_TENANT_SET}}},
    {{"users"}, {{"GET", CL_REST_USERS}}},
    {{"qos"}, {{"GET", CL_REST_QOS}}},
    {{"tokens"}, {{"GET", CL_REST_TOKENS}, {"POST", CL_REST_TOKEN_CREATE}}},
    {{"tokens", SEG_TOKEN}, {{"GET", CL_REST_TOKEN}, {"DELETE", CL_REST_TOKEN_REVOKE}}},
    {{"usage"}, {{"GET", CL_REST_USAGE}}},
    {{"history"}, {{"GET", CL_REST_HISTORY}}},
    {{"audit"}, {{"GET", CL_REST_AUDIT}}},
    {{"power"}, {{"GET", CL_REST_POWER}}},
    {{"power", "budget"}, {{"POST", CL_REST_POWER_BUDGET}}},
    {{"power", "cut"}, {{"POST", CL_REST_POWER_CUT}}},
    {{"power", "restore"}, {{"POST", CL_REST_POWER_RESTORE}}},
    {{"power", "ramp"}, {{"POST", CL_REST_POWER_RAMP}}},
    {{"openapi.json"}, {{"GET", CL_REST_OPENAPI}}},
    {{"schema.json"}, {{"GET", CL_REST_SCHEMA}}},
};

/* Split p ("a/b/c") into at most 3 segments of at most CL_REST_NAME_MAX bytes; -1 when it
 * has more, an empty one (a doubled or trailing '/'), or one too long. */
static int split(const char *p, char seg[3][CL_REST_NAME_MAX + 1], size_t *n)
{
    *n = 0;
    for (;;) {
        size_t w = strcspn(p, "/");
        if (!w || w > CL_REST_NAME_MAX || *n == 3) return -1;
        memcpy(seg[*n], p, w);
        seg[(*n)++][w] = 0;
        if (!p[w]) return 0;
        p += w + 1;
    }
}

static bool seg_match(const char *pat, const char *seg)
{
    return !strcmp(pat, SEG_ID) || !strcmp(pat, SEG_NAME) || !strcmp(pat, SEG_TOKEN) ||
           !strcmp(pat, seg);
}

int cl_rest_route(const char *method, const char *path, cl_rest_route_t *r, char allow[32],
                  cl_error_t *err)
{
    char seg[3][CL_REST_NAME_MAX + 1];
    size_t n, plen = strlen(CL_REST_PREFIX);
    memset(r, 0, sizeof *r);
    allow[0] = 0;
    if (strncmp(path, CL_REST_PREFIX "/", plen + 1) || split(path + plen + 1, seg, &n) < 0) {
        cl_err(err, "no resource %.200s (the API is under " CL_REST_PREFIX "/)", path);
        return 404;
    }
    /* HEAD is GET without the body (the HTTP library drops it) */
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route_pat_t *p = &routes[i];
        size_t k = 0;
        while (k < 3 && p->seg[k] && k < n && seg_match(p->seg[k], seg[k]))
            k++;
        if (k != n || (k < 3 && p->seg[k])) continue;
        for (size_t j = 0; j < n; j++) {
            if (!strcmp(p->seg[j], SEG_ID) &&
                cl_parse_u64(seg[j], 1, UINT64_MAX, &r->job) < 0) {
                cl_err(err, "no job '%s' (a job id is a whole number from 1)", seg[j]);
                return 404;
            }
            if (!strcmp(p->seg[j], SEG_TOKEN) && !cl_cred_id_valid(seg[j])) {
                cl_err(err, "no token '%.40s' (a token id is tk- or nd- and 16 hex digits)",
                       seg[j]);
                return 404;
            }
            if (!strcmp(p->seg[j], SEG_NAME) || !strcmp(p->seg[j], SEG_TOKEN))
                snprintf(r->node, sizeof r->node, "%.128s", seg[j]);
        }
        for (size_t j = 0; j < 2 && p->m[j].method; j++) {
            if (!strcmp(m, p->m[j].method)) {
                r->op = p->m[j].op;
                r->body = r->op == CL_REST_SUBMIT || r->op == CL_REST_DRAIN ||
                          r->op == CL_REST_RESUME || r->op == CL_REST_TOKEN_CREATE ||
                          r->op == CL_REST_TENANT_ADD || r->op == CL_REST_TENANT_SET ||
                          r->op == CL_REST_POWER_BUDGET || r->op == CL_REST_POWER_CUT ||
                          r->op == CL_REST_POWER_RESTORE || r->op == CL_REST_POWER_RAMP;
                return 0;
            }
            snprintf(allow + strlen(allow), 32 - strlen(allow), "%s%s", j ? ", " : "",
                     p->m[j].method);
        }
        cl_err(err, "%.16s is not a method of %.200s (it takes %s)", method, path, allow);
        return 405;
    }
    cl_err(err, "no resource %.200s", path);
    return 404;
}

/* ---- list parameters ---- */

static int state_bit(cl_rest_op_t op, const char *s, size_t len)
{
    for (int i = 0; i < 8; i++) {
        const char *name = op == CL_REST_JOBS
                               ? (i <= CL_JOB_CANCELLED ? cl_job_state_name(i) : NULL)
                               : (i <= CL_NODE_MAINT ? cl_node_state_name(i) : NULL);
        if (name && strlen(name) == len && !strncmp(name, s, len)) return i;
    }
    return -1;
}

/* "running" or "pending,running": the bits of those states. */
static int parse_states(cl_rest_op_t op, const char *v, uint32_t *bits, cl_error_t *err)
{
    *bits = 0;
    for (const char *p = v;;) {
        size_t w = strcspn(p, ",");
        int b = state_bit(op, p, w);
        if (b < 0)
            return cl_err(err, "query parameter 'state': '%.*s' is not a %s state (%s)",
                          (int)(w > 40 ? 40 : w), p, op == CL_REST_JOBS ? "job" : "node",
                          op == CL_REST_JOBS ? "pending, running, succeeded, failed, cancelled"
                                             : "up, down, draining, drained, maintenance");
        *bits |= 1u << b;
        if (!p[w]) return 0;
        p += w + 1;
    }
}

static int parse_bool(const char *key, const char *v, bool *out, cl_error_t *err)
{
    if (!v || !strcmp(v, "") || !strcmp(v, "true") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else
        return cl_err(err, "query parameter '%s' must be true or false, not '%.40s'", key, v);
    return 0;
}

/* A watch's "kinds": "jobs", "nodes" or both, comma-separated. */
static int parse_kinds(const char *v, uint32_t *kinds, cl_error_t *err)
{
    *kinds = 0;
    for (const char *p = v;;) {
        size_t w = strcspn(p, ",");
        if (w == 4 && !strncmp(p, "jobs", 4))
            *kinds |= CL_REST_KIND_JOBS;
        else if (w == 5 && !strncmp(p, "nodes", 5))
            *kinds |= CL_REST_KIND_NODES;
        else
            return cl_err(err,
                          "query parameter 'kinds': '%.*s' is not a kind of event (jobs, "
                          "nodes)",
                          (int)(w > 40 ? 40 : w), p);
        if (!p[w]) return 0;
        p += w + 1;
    }
}

static int one_param(cl_rest_op_t op, const cl_rest_kv_t *kv, cl_rest_list_t *l,
                     cl_error_t *err)
{
    const char *k = kv->key, *v = kv->value ? kv->value : "";
    bool jobs = op == CL_REST_JOBS;
    if (op == CL_REST_WATCH) {
        if (strcmp(k, "kinds")) return cl_err(err, "unknown query parameter '%.64s'", k);
        return parse_kinds(v, &l->kinds, err);
    }
    if (!strcmp(k, "limit")) {
        if (cl_parse_u32(v, 1, CL_REST_PAGE_MAX, &l->limit) < 0)
            return cl_err(err, "query parameter 'limit' must be a number in 1..%u, not '%.40s'",
                          CL_REST_PAGE_MAX, v);
    } else if (!strcmp(k, "after")) {
        if (cl_parse_u64(v, 0, jobs ? UINT64_MAX : UINT32_MAX, &l->after) < 0)
            return cl_err(err,
                          "query parameter 'after' must be a %s id (the 'next' of the page "
                          "before), not '%.40s'",
                          jobs ? "job" : "node", v);
        l->has_after = true;
    } else if (!strcmp(k, "state")) {
        if (parse_states(op, v, &l->states, err) < 0) return -1;
    } else if (jobs && !strcmp(k, "all")) {
        if (parse_bool(k, kv->value, &l->all, err) < 0) return -1;
    } else if (jobs && (!strcmp(k, "tenant") || !strcmp(k, "user"))) {
        *(!strcmp(k, "tenant") ? &l->tenant : &l->user) = v;
    } else {
        return cl_err(err, "unknown query parameter '%.64s'", k);
    }
    return 0;
}

int cl_rest_list_parse(cl_rest_op_t op, const cl_rest_kv_t *q, size_t n, cl_rest_list_t *l,
                       cl_error_t *err)
{
    cl_rest_list_t out = {.limit = CL_REST_PAGE_DEFAULT,
                          .kinds = CL_REST_KIND_JOBS | CL_REST_KIND_NODES};
    bool list = op == CL_REST_JOBS || op == CL_REST_NODES || op == CL_REST_WATCH;
    for (size_t i = 0; i < n; i++) {
        if (!list) return cl_err(err, "unknown query parameter '%.64s'", q[i].key);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(q[i].key, q[j].key))
                return cl_err(err, "query parameter '%.64s' is given twice", q[i].key);
        if (one_param(op, &q[i], &out, err) < 0) return -1;
    }
    /* a finished state is only found among finished jobs */
    if (op == CL_REST_JOBS && (out.states & ~((1u << CL_JOB_PENDING) | (1u << CL_JOB_RUNNING))))
        out.all = true;
    *l = out;
    return 0;
}

void cl_rest_list_req(const cl_rest_list_t *l, Colossus__ListReq *p)
{
    colossus__list_req__init(p);
    p->after = l->after;
    p->has_after = l->has_after;
    p->limit = l->limit;
    p->states = l->states; /* the bits are the core's state numbers (state_bit) */
    p->tenant = (char *)(l->tenant ? l->tenant : "");
    p->user = (char *)(l->user ? l->user : "");
    p->all = l->all;
}

/* ---- the service routes' parameters ---- */

/* A time as --since takes it, or seconds since the epoch. */
static int parse_when(const char *key, const char *v, double now, double *out, cl_error_t *err)
{
    cl_error_t e;
    if (cl_parse_double(v, 0, 253402300799.0, out) == 0 || cl_parse_time(v, now, out, &e) == 0)
        return 0;
    return cl_err(err,
                  "query parameter '%s': '%.40s' is not a time (seconds since the epoch, "
                  "2026-11-01, 2026-11-01T12:00Z, now, or a time ago: 7d, 12h)",
                  key, v);
}

/* One of words[1..] (words[0] says which, for the error). */
static int parse_word(const char *key, const char *v, const char *const *words, char *out,
                      size_t cap, cl_error_t *err)
{
    for (size_t i = 1; words[i]; i++)
        if (!strcmp(v, words[i])) {
            snprintf(out, cap, "%s", v);
            return 0;
        }
    return cl_err(err, "query parameter '%s': '%.40s' is not one of %s", key, v, words[0]);
}

static int parse_name(const char *key, const char *v, char *out, size_t cap, cl_error_t *err)
{
    if (!v[0] || strlen(v) >= cap)
        return cl_err(err, "query parameter '%s' must be a name of 1 to %zu bytes", key,
                      cap - 1);
    snprintf(out, cap, "%s", v);
    return 0;
}

/* The parameters each service route takes: a bit per name of svc_keys. */
enum {
    K_SINCE = 1,
    K_UNTIL = 2,
    K_TENANT = 4,
    K_USER = 8,
    K_STATE = 16,
    K_LIMIT = 32,
    K_BY = 64,
    K_RANK = 128,
    K_JOB = 256,
    K_OFFSET = 512
};

static unsigned svc_keys(cl_rest_op_t op)
{
    switch (op) {
    case CL_REST_USAGE:
        return K_SINCE | K_UNTIL | K_TENANT | K_USER | K_BY;
    case CL_REST_HISTORY:
        return K_SINCE | K_UNTIL | K_TENANT | K_USER | K_STATE | K_LIMIT | K_JOB;
    case CL_REST_AUDIT:
        return K_SINCE | K_USER | K_LIMIT;
    case CL_REST_LOGS:
        return K_RANK | K_OFFSET;
    default:
        return 0;
    }
}

static const char *const ended_words[] = {
    "succeeded, failed, cancelled, timeout, node_fail, preempted, requeued, budget or "
    "out_of_memory",
    "succeeded",
    "failed",
    "cancelled",
    "timeout",
    "node_fail",
    "preempted",
    "requeued",
    "budget",
    "out_of_memory",
    NULL};
static const char *const by_words[] = {
    "tenant, user, day or month", "tenant", "user", "day", "month", NULL};

static int svc_param(unsigned keys, const cl_rest_kv_t *kv, double now, cl_rest_svc_t *s,
                     cl_error_t *err)
{
    const char *k = kv->key, *v = kv->value ? kv->value : "";
    if ((keys & K_SINCE) && !strcmp(k, "since")) return parse_when(k, v, now, &s->since, err);
    if ((keys & K_UNTIL) && !strcmp(k, "until")) return parse_when(k, v, now, &s->until, err);
    if ((keys & K_TENANT) && !strcmp(k, "tenant"))
        return parse_name(k, v, s->tenant, sizeof s->tenant, err);
    if ((keys & K_USER) && !strcmp(k, "user"))
        return parse_name(k, v, s->user, sizeof s->user, err);
    if ((keys & K_STATE) && !strcmp(k, "state"))
        return parse_word(k, v, ended_words, s->state, sizeof s->state, err);
    if ((keys & K_BY) && !strcmp(k, "by"))
        return parse_word(k, v, by_words, s->by, sizeof s->by, err);
    if ((keys & K_LIMIT) && !strcmp(k, "limit")) {
        if (cl_parse_u32(v, 1, 1000000, &s->limit) < 0)
            return cl_err(err,
                          "query parameter 'limit' must be a number in 1..1000000, not "
                          "'%.40s'",
                          v);
        return 0;
    }
    if ((keys & K_JOB) && !strcmp(k, "job")) {
        if (cl_parse_u64(v, 1, UINT64_MAX, &s->job) < 0)
            return cl_err(err,
                          "query parameter 'job' must be a job id (a positive number), not "
                          "'%.40s'",
                          v);
        return 0;
    }
    if ((keys & K_RANK) && !strcmp(k, "rank")) {
        if (cl_parse_u32(v, 0, 100000000, &s->rank) < 0)
            return cl_err(err,
                          "query parameter 'rank' must be a number in 0..100000000, not "
                          "'%.40s'",
                          v);
        s->has_rank = true;
        return 0;
    }
    if ((keys & K_OFFSET) && !strcmp(k, "offset")) {
        char *end;
        errno = 0;
        unsigned long long o = strtoull(v, &end, 10);
        if (!*v || *end || errno || v[0] == '-' || o > (1ull << 62))
            return cl_err(err,
                          "query parameter 'offset' must be a byte offset in 0..2^62, not "
                          "'%.40s'",
                          v);
        s->offset = o;
        s->has_offset = true;
        return 0;
    }
    return cl_err(err, "unknown query parameter '%.64s'", k);
}

int cl_rest_svc_parse(cl_rest_op_t op, const cl_rest_kv_t *q, size_t n, double now,
                      cl_rest_svc_t *s, cl_error_t *err)
{
    cl_rest_svc_t out = {.since = 0};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(q[i].key, q[j].key))
                return cl_err(err, "query parameter '%.64s' is given twice", q[i].key);
        if (svc_param(svc_keys(op), &q[i], now, &out, err) < 0) return -1;
    }
    if (out.since > 0 && out.until > 0 && out.until <= out.since)
        return cl_err(err, "query parameter 'until' must be later than 'since'");
    *s = out;
    return 0;
}

/* ---- bodies ---- */

static json_t *load_object(const char *body, size_t len, cl_error_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        cl_err(err, "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
    else if (!json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
        cl_err(err, "the body must be a JSON object");
    }
    return doc;
}

/* An integer field in [lo, hi] (absent: *out unchanged). */
static int int_field(json_t *doc, const char *key, long lo, long hi, long *out, cl_error_t *err)
{
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return cl_err(err, "field '%s' must be an integer in %ld..%ld", key, lo, hi);
    *out = (long)json_integer_value(v);
    return 0;
}

static int str_field(json_t *doc, const char *key, char **out, cl_error_t *err)
{
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    if (!json_is_string(v)) return cl_err(err, "field '%s' must be a string", key);
    *out = (char *)json_string_value(v);
    return 0;
}

static int bool_field(json_t *doc, const char *key, protobuf_c_boolean *out, cl_error_t *err)
{
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return cl_err(err, "field '%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* An array of strings (absent: n 0); *out allocated (caller frees). */
static int strv_field(json_t *doc, const char *key, char ***out, size_t *n, cl_error_t *err)
{
    json_t *v = json_object_get(doc, key);
    *out = NULL;
    *n = 0;
    if (!v) return 0;
    if (!json_is_array(v)) return cl_err(err, "field '%s' must be an array of strings", key);
    char **a = cl_xcalloc(json_array_size(v) + 1, sizeof *a);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            free(a);
            return cl_err(err, "field '%s': item %zu is not a string", key, i);
        }
        a[i] = (char *)json_string_value(e);
    }
    *out = a;
    *n = json_array_size(v);
    return 0;
}

static const char *const submit_fields[] = {"argv",
                                            "name",
                                            "tenant",
                                            "num_nodes",
                                            "gpus_per_node",
                                            "priority",
                                            "env",
                                            "time_limit_min",
                                            "cwd",
                                            "max_restarts",
                                            "ntasks_per_node",
                                            "chdir",
                                            "output",
                                            "error",
                                            "qos",
                                            "dependency",
                                            "hold",
                                            "array",
                                            "exclusive",
                                            "nodelist",
                                            "exclude",
                                            "cpus_per_gpu",
                                            "mem_per_gpu_mb"};

static int unknown_field(json_t *doc, const char *const *known, size_t n, cl_error_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(key, known[i]))
            i++;
        if (i == n) {
            char shown[65];
            size_t k = 0;
            for (; key[k] && k < 64; k++) /* the name is the client's: no control bytes */
                shown[k] = (unsigned char)key[k] < 0x20 || key[k] == 0x7f ? '?' : key[k];
            shown[k] = 0;
            return cl_err(err, "unknown field '%s'", shown);
        }
    }
    return 0;
}

/* The fields of issue 15, as colossus submit's Slurm options. */
static int slurm_fields_parse(json_t *doc, Colossus__SubmitReq *s, cl_error_t *err)
{
    long nt = 0, cpg = 0, mpg = 0;
    char *chdir = "";
    cl_error_t why;
    if (int_field(doc, "ntasks_per_node", 1, 64, &nt, err) < 0 ||
        str_field(doc, "chdir", &chdir, err) < 0 ||
        str_field(doc, "output", &s->output, err) < 0 ||
        str_field(doc, "error", &s->error, err) < 0 ||
        str_field(doc, "qos", &s->qos, err) < 0 ||
        str_field(doc, "dependency", &s->dependency, err) < 0 ||
        bool_field(doc, "hold", &s->hold, err) < 0 ||
        str_field(doc, "array", &s->array, err) < 0 ||
        bool_field(doc, "exclusive", &s->exclusive, err) < 0 ||
        str_field(doc, "nodelist", &s->nodelist, err) < 0 ||
        str_field(doc, "exclude", &s->exclude, err) < 0 ||
        int_field(doc, "cpus_per_gpu", 1, 1024, &cpg, err) < 0 ||
        int_field(doc, "mem_per_gpu_mb", 1, 1L << 40, &mpg, err) < 0)
        return -1;
    s->cpus_per_gpu = (uint32_t)cpg;
    s->mem_per_gpu_mb = (uint64_t)mpg;
    for (int k = 0; k < 2; k++) { /* Slurm hostlists; the controller names unknown nodes */
        const char *f = k ? "exclude" : "nodelist", *v = k ? s->exclude : s->nodelist;
        if (json_object_get(doc, f) && cl_hostlist_check(v, &why) < 0)
            return cl_err(err, "field '%s': %s", f, why.msg);
    }
    if (json_object_get(doc, "nodelist") && !json_object_get(doc, "num_nodes") &&
        cl_hostlist_count(s->nodelist) <= 1000000) /* Slurm's -w without -N */
        s->nodes = (uint32_t)cl_hostlist_count(s->nodelist);
    if (json_object_get(doc, "array")) {
        cl_arrayspec_t as;
        int rc = cl_arrayspec_parse(s->array, &as, &why);
        cl_arrayspec_free(&as);
        if (rc < 0) return cl_err(err, "field 'array': %s", why.msg);
    }
    if (json_object_get(doc, "dependency")) {
        cl_depend_t d;
        int rc = cl_depend_parse(s->dependency, &d, &why);
        cl_depend_free(&d);
        if (rc < 0) return cl_err(err, "field 'dependency': %s", why.msg);
    }
    s->ntasks_per_node = (uint32_t)nt;
    if (json_object_get(doc, "chdir")) {
        if (chdir[0] != '/') return cl_err(err, "field 'chdir' must be an absolute path");
        if (json_object_get(doc, "cwd"))
            return cl_err(err, "give field 'chdir' or 'cwd', not both");
        s->cwd = chdir;
        s->cwd_strict = true;
    }
    for (int k = 0; k < 2; k++) {
        const char *f = k ? "error" : "output", *v = k ? s->error : s->output;
        if (json_object_get(doc, f) && cl_iopat_check(f, v, &why) < 0)
            return cl_err(err, "field '%s': %s", f, why.msg);
    }
    return 0;
}

static int submit_fields_parse(json_t *doc, Colossus__SubmitReq *s, cl_error_t *err)
{
    long nodes = 1, gpn = 0, prio = 0, maxr = 3;
    if (unknown_field(doc, submit_fields, sizeof submit_fields / sizeof submit_fields[0], err) <
            0 ||
        int_field(doc, "num_nodes", 1, 1000000, &nodes, err) < 0 ||
        int_field(doc, "gpus_per_node", 1, 64, &gpn, err) < 0 ||
        int_field(doc, "priority", -1000000, 1000000, &prio, err) < 0 ||
        int_field(doc, "max_restarts", 0, 1000, &maxr, err) < 0 ||
        str_field(doc, "name", &s->name, err) < 0 ||
        str_field(doc, "tenant", &s->tenant, err) < 0 ||
        str_field(doc, "cwd", &s->cwd, err) < 0)
        return -1;
    s->nodes = (uint32_t)nodes;
    s->gpus_per_node = (uint32_t)gpn;
    s->priority = (int32_t)prio;
    s->max_restarts = (uint32_t)maxr;
    json_t *tl = json_object_get(doc, "time_limit_min");
    if (tl && !json_is_null(tl)) {
        double m = json_number_value(tl);
        if (!json_is_number(tl) || !(m * 60 >= 1) || m > 525600)
            return cl_err(err, "field 'time_limit_min' must be a number of minutes from "
                               "0.0167 (1 s) to 525600, or null (no limit)");
        s->time_limit_min = m;
    }
    if (s->cwd[0] && s->cwd[0] != '/')
        return cl_err(err, "field 'cwd' must be an absolute path");
    return slurm_fields_parse(doc, s, err);
}

int cl_rest_submit_parse(const char *body, size_t len, Colossus__SubmitReq *s, json_t **doc,
                         cl_error_t *err)
{
    colossus__submit_req__init(s);
    json_t *d = load_object(body, len, err);
    if (!d) return -1;
    char **argv = NULL, **env = NULL;
    size_t nargv = 0, nenv = 0;
    if (submit_fields_parse(d, s, err) < 0 || strv_field(d, "argv", &argv, &nargv, err) < 0 ||
        strv_field(d, "env", &env, &nenv, err) < 0 ||
        (!nargv && cl_err(err, "field 'argv' is required: the command and its arguments, "
                               "a non-empty array of strings") < 0) ||
        (!argv[0][0] && cl_err(err, "field 'argv': the command (item 0) is empty") < 0)) {
        free(argv);
        free(env);
        json_decref(d);
        colossus__submit_req__init(s);
        return -1;
    }
    s->argv = argv;
    s->n_argv = nargv;
    s->env = env;
    s->n_env = nenv;
    if (!s->name[0]) { /* as the CLI: the command's base name */
        const char *b = strrchr(argv[0], '/');
        s->name = (char *)(b && b[1] ? b + 1 : argv[0]);
    }
    *doc = d;
    return 0;
}

/* An empty body, or only white space. */
static bool blank(const char *body, size_t len)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    return i == len;
}

int cl_rest_admin_parse(const char *body, size_t len, const char **reason, json_t **doc,
                        cl_error_t *err)
{
    static const char *const known[] = {"reason"};
    *reason = NULL;
    *doc = NULL;
    if (blank(body, len)) return 0;
    json_t *d = load_object(body, len, err);
    if (!d) return -1;
    char *r = "";
    if (unknown_field(d, known, 1, err) < 0 || str_field(d, "reason", &r, err) < 0) {
        json_decref(d);
        return -1;
    }
    *reason = r;
    *doc = d;
    return 0;
}

/* A number field of at least lo (absent: *out unchanged); -1 with err otherwise. */
static int num_field(json_t *doc, const char *key, double lo, double hi, double *out,
                     cl_error_t *err)
{
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x) || x < lo || x > hi)
        return cl_err(err, "field '%s' must be a number from %g to %g", key, lo, hi);
    *out = x;
    return 0;
}

int cl_rest_power_parse(cl_rest_op_t op, const char *body, size_t len, Colossus__PowerSpec *s,
                        json_t **doc, cl_error_t *err)
{
    static const char *const budget_known[] = {"budget_w", "budget", "pod", "leaf"};
    static const char *const cut_known[] = {"cut_pct", "for_s"};
    static const char *const ramp_known[] = {"ramp_w_per_s", "ramp_pct", "ramp"};
    colossus__power_spec__init(s);
    *doc = NULL;
    s->op = op == CL_REST_POWER_BUDGET ? COLOSSUS__POWER_SPEC__OP__BUDGET
            : op == CL_REST_POWER_CUT  ? COLOSSUS__POWER_SPEC__OP__CUT
            : op == CL_REST_POWER_RAMP ? COLOSSUS__POWER_SPEC__OP__RAMP
                                       : COLOSSUS__POWER_SPEC__OP__RESTORE;
    if (blank(body, len)) {
        if (op == CL_REST_POWER_RESTORE) return 0;
        return cl_err(err, op == CL_REST_POWER_BUDGET
                               ? "a body is required: {\"budget_w\": W} or {\"budget\": "
                                 "\"700MW\"}, and \"pod\" for a pod's or \"leaf\" for a leaf's"
                           : op == CL_REST_POWER_RAMP
                               ? "a body is required: {\"ramp_w_per_s\": W}, {\"ramp_pct\": P} "
                                 "or {\"ramp\": \"400W/s\"} (0 or \"none\": no ramp)"
                               : "a body is required: {\"cut_pct\": P} (0 < P <= 100)");
    }
    json_t *d = load_object(body, len, err);
    if (!d) return -1;
    int rc = 0;
    if (op == CL_REST_POWER_BUDGET) {
        char *text = NULL;
        bool has_w = json_object_get(d, "budget_w") != NULL;
        rc = unknown_field(d, budget_known, 4, err);
        if (rc == 0) rc = num_field(d, "budget_w", 0, 1e11, &s->budget_w, err);
        if (rc == 0) rc = str_field(d, "pod", &s->pod, err);
        if (rc == 0) rc = str_field(d, "leaf", &s->leaf, err);
        if (rc == 0 && json_object_get(d, "budget")) {
            rc = str_field(d, "budget", &text, err);
            if (rc == 0 && has_w) rc = cl_err(err, "give 'budget_w' or 'budget', not both");
            cl_error_t why;
            if (rc == 0 && cl_parse_watts(text, &s->budget_w, &why) < 0)
                rc = cl_err(err, "field 'budget': %.200s", why.msg);
        } else if (rc == 0 && !has_w) {
            rc = cl_err(err,
                        "field 'budget_w' (W, 0: none) or 'budget' (\"700MW\") is required");
        }
    } else if (op == CL_REST_POWER_CUT) {
        rc = unknown_field(d, cut_known, 2, err);
        if (rc == 0 && !json_object_get(d, "cut_pct"))
            rc = cl_err(err, "field 'cut_pct' is required (0 < P <= 100)");
        if (rc == 0) rc = num_field(d, "cut_pct", 0, 100, &s->cut_pct, err);
        if (rc == 0 && !(s->cut_pct > 0))
            rc = cl_err(err, "field 'cut_pct' must be more than 0 (POST /power/restore lifts a "
                             "cut)");
        if (rc == 0) rc = num_field(d, "for_s", 0, 366 * 86400.0, &s->for_s, err);
    } else if (op == CL_REST_POWER_RAMP) {
        char *text = NULL;
        int given = !!json_object_get(d, "ramp_w_per_s") + !!json_object_get(d, "ramp_pct") +
                    !!json_object_get(d, "ramp");
        rc = unknown_field(d, ramp_known, 3, err);
        if (rc == 0 && given != 1)
            rc = cl_err(err, "give one of 'ramp_w_per_s', 'ramp_pct' or 'ramp'");
        if (rc == 0) rc = num_field(d, "ramp_w_per_s", 0, 1e11, &s->ramp_w_per_s, err);
        if (rc == 0) rc = num_field(d, "ramp_pct", 0, 100, &s->ramp_pct, err);
        if (rc == 0) rc = str_field(d, "ramp", &text, err);
        cl_error_t why;
        if (rc == 0 && text && cl_parse_ramp(text, &s->ramp_w_per_s, &s->ramp_pct, &why) < 0)
            rc = cl_err(err, "field 'ramp': %.200s", why.msg);
    } else {
        rc = unknown_field(d, NULL, 0, err);
    }
    if (rc < 0) {
        json_decref(d);
        colossus__power_spec__init(s);
        return -1;
    }
    *doc = d;
    return 0;
}

int cl_rest_token_parse(const char *body, size_t len, Colossus__TokenReq *t, json_t **doc,
                        cl_error_t *err)
{
    static const char *const known[] = {"user", "scope", "expires_in_s"};
    colossus__token_req__init(t);
    *doc = NULL;
    if (blank(body, len)) return 0;
    json_t *d = load_object(body, len, err);
    if (!d) return -1;
    json_t *ex = json_object_get(d, "expires_in_s");
    double e = ex ? json_number_value(ex) : 0;
    if (unknown_field(d, known, 3, err) < 0 || str_field(d, "user", &t->user, err) < 0 ||
        str_field(d, "scope", &t->scope, err) < 0 ||
        (t->scope[0] && strcmp(t->scope, "read") && strcmp(t->scope, "submit") &&
         strcmp(t->scope, "admin") &&
         cl_err(err, "field 'scope' must be read, submit or admin") < 0) ||
        (ex && !json_is_null(ex) &&
         (!json_is_number(ex) || !(e >= 1) || e > CL_DURATION_MAX_S) &&
         cl_err(err, "field 'expires_in_s' must be a number of seconds from 1 to 100 years, "
                     "or null (never)") < 0)) {
        json_decref(d);
        colossus__token_req__init(t);
        return -1;
    }
    t->expires_in_s = ex && json_is_number(ex) ? e : 0;
    *doc = d;
    return 0;
}

/* ---- tenants ---- */

#define GPUS_MAX 100000000L /* the most GPUs a quota or limit names (as the CLI) */

static const char *const tenant_fields[] = {
    "name",         "parent",     "shares",           "quota_gpus",    "cohort",
    "borrow_limit", "lend_limit", "budget_gpu_hours", "budget_period", "budget_stop"};

/* A GPU count or null (-1: TenantSpec's none, no limit, all). */
static int gpus_field(json_t *v, const char *key, int64_t *out, cl_error_t *err)
{
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > GPUS_MAX)
        return cl_err(err, "field '%s' must be a number of GPUs in 0..%ld, or null", key,
                      GPUS_MAX);
    *out = json_integer_value(v);
    return 0;
}

/* A name or null ("": none). */
static int name_field(json_t *v, const char *key, char **out, cl_error_t *err)
{
    if (json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v) || !json_string_length(v))
        return cl_err(err, "field '%s' must be a non-empty string, or null (none)", key);
    *out = (char *)json_string_value(v);
    return 0;
}

static int tenant_field(const char *k, json_t *v, Colossus__TenantSpec *t, cl_error_t *err)
{
    double d;
    cl_error_t e;
    if (!strcmp(k, "parent")) return name_field(v, k, &t->parent, err);
    if (!strcmp(k, "cohort")) return name_field(v, k, &t->cohort, err);
    if (!strcmp(k, "quota_gpus")) return gpus_field(v, k, &t->quota_gpus, err);
    if (!strcmp(k, "borrow_limit")) return gpus_field(v, k, &t->borrow_limit, err);
    if (!strcmp(k, "lend_limit")) return gpus_field(v, k, &t->lend_limit, err);
    if (!strcmp(k, "shares")) {
        if (!json_is_number(v) || !((t->shares = json_number_value(v)) > 0) || t->shares > 1e6)
            return cl_err(err, "field 'shares' must be a number in (0, 1000000]");
    } else if (!strcmp(k, "budget_gpu_hours")) {
        t->budget_gpu_hours = json_is_null(v) ? 0 : json_number_value(v);
        if ((!json_is_null(v) && !json_is_number(v)) || !(t->budget_gpu_hours >= 0) ||
            t->budget_gpu_hours > 1e12)
            return cl_err(err, "field 'budget_gpu_hours' must be a number in 0..1e12, or null");
    } else if (!strcmp(k, "budget_period")) {
        t->budget_period = json_is_null(v) ? "" : (char *)json_string_value(v);
        if (!json_is_null(v) && (!json_is_string(v) ||
                                 (strcmp(t->budget_period, "month") &&
                                  (cl_parse_duration(t->budget_period, &d, &e) < 0 || d < 1))))
            return cl_err(err, "field 'budget_period' must be month, a duration (30d, 12h), "
                               "or null (a fixed grant)");
    } else if (!strcmp(k, "budget_stop")) {
        if (!json_is_boolean(v))
            return cl_err(err, "field 'budget_stop' must be true or false");
        t->budget_stop = json_is_true(v);
    }
    return 0;
}

int cl_rest_tenant_parse(const char *body, size_t len, const char *name,
                         Colossus__TenantSpec *t, json_t **doc, cl_error_t *err)
{
    colossus__tenant_spec__init(t);
    *doc = NULL;
    bool create = !name;
    json_t *d = load_object(body, len, err);
    if (!d) return -1;
    /* what a new tenant has unless told otherwise, as `tenant add` */
    if (create) {
        t->shares = 1;
        t->quota_gpus = t->borrow_limit = t->lend_limit = -1;
    }
    t->create = create;
    t->set = cl_xcalloc(sizeof tenant_fields / sizeof tenant_fields[0], sizeof *t->set);
    const char *k;
    json_t *v;
    int rc =
        unknown_field(d, tenant_fields, sizeof tenant_fields / sizeof tenant_fields[0], err);
    json_object_foreach(d, k, v)
    {
        if (rc < 0) break;
        if (!strcmp(k, "name")) {
            rc = create ? str_field(d, "name", &t->name, err)
                        : cl_err(err, "field 'name': a tenant is renamed by no request (its "
                                      "name is the path's)");
            continue;
        }
        rc = tenant_field(k, v, t, err);
        t->set[t->n_set++] = (char *)k;
    }
    if (rc == 0 && create && !t->name[0])
        rc = cl_err(err, "field 'name' is required: the new tenant's name");
    if (rc == 0 && !create && !t->n_set)
        rc = cl_err(err, "nothing to change: give at least one field");
    if (rc == 0 && create && !(t->budget_gpu_hours > 0) &&
        (t->budget_stop || t->budget_period[0]))
        rc = cl_err(err, "field 'budget_period' or 'budget_stop' needs 'budget_gpu_hours' "
                         "(more than 0)");
    if (rc < 0) {
        free(t->set);
        json_decref(d);
        colossus__tenant_spec__init(t);
        return -1;
    }
    if (!create) t->name = (char *)name;
    *doc = d;
    return 0;
}

/* ---- refusals ---- */

int cl_rest_error_status(const char *msg)
{
    if (strstr(msg, ": permission denied: ") || strstr(msg, " is another user's") ||
        strstr(msg, " is not in tenant ") || strstr(msg, " what QOS ") ||
        strstr(msg, " than QOS ") || !strncmp(msg, "audit: only ", 12) ||
        strstr(msg, " refused: only an admin may ") ||
        (!strncmp(msg, "token ", 6) &&
         (strstr(msg, " refused: only ") || strstr(msg, "-scoped credential cannot make"))))
        return 403;
    if (!strncmp(msg, "no job ", 7) || !strncmp(msg, "no node named ", 14) ||
        !strncmp(msg, "no tenant ", 10) || !strncmp(msg, "no log for rank ", 16) ||
        !strncmp(msg, "token revoke refused: no token ", 31) ||
        (!strncmp(msg, "tenant set ", 11) && strstr(msg, " refused: no tenant ") &&
         !strstr(msg, "(the parent)")))
        return 404;
    if (!strncmp(msg, "tenant add ", 11) && strstr(msg, " exists (change it with tenant set)"))
        return 409;
    if (!strncmp(msg, "job ", 4) &&
        (strstr(msg, " already ") || strstr(msg, " has not run yet") ||
         strstr(msg, ": only a pending job can be ") || strstr(msg, " is not held") ||
         strstr(msg, " is pending already") || strstr(msg, " can never be satisfied") ||
         strstr(msg, " is being reconciled ")))
        return 409;
    if (!strncmp(msg, "node ", 5) &&
        (strstr(msg, ") is not connected") || strstr(msg, " went away before sending the log")))
        return 503;
    return 400;
}

char *cl_rest_dump(const json_t *v, size_t *len)
{
    char *text = json_dumps(v, CL_REST_DUMP_FLAGS);
    if (!text) cl_oom(0, __FILE__, __LINE__);
    size_t n = strlen(text);
    char *out = cl_xrealloc(text, n + 2);
    memcpy(out + n, "\n", 2);
    *len = n + 1;
    return out;
}

char *cl_rest_error_body(const char *msg, size_t *len)
{
    json_t *s = json_string(msg);
    if (!s) { /* not UTF-8 (a name the client sent, repeated): its high bytes as '?' */
        char *t = cl_xstrdup(msg);
        for (char *p = t; *p; p++)
            if ((unsigned char)*p >= 0x80) *p = '?';
        s = json_string(t);
        free(t);
    }
    json_t *o = json_object();
    if (!o || !s || json_object_set_new(o, "error", s) < 0) cl_oom(0, __FILE__, __LINE__);
    char *out = cl_rest_dump(o, len);
    json_decref(o);
    return out;
}
