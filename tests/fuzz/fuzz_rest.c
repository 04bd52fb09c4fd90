/* fuzz_rest.c - libFuzzer target for the REST API's parsers (src/api/rest.c): routes, list
 * query parameters (of the lists, the watch and the service routes), submission, drain, token
 * and tenant bodies, refusal statuses. No crash, leak or sanitizer report; a refusal names its
 * reason; what is accepted is within bounds (a page of 1..CL_REST_PAGE_MAX, a watch's kinds
 * jobs and/or nodes, a route's status 0, 404 or 405 with the methods it takes, a status in
 * 400..409 or 503).
 *
 * The input's first byte chooses the parser; the rest is its input: for a route, a method
 * and a path separated by a space; for a list, "key=value&key&..." pairs; for a body, the
 * JSON bytes themselves. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest.h"

static void check_refusal(int rc, const cl_error_t *err)
{
    if (rc < 0 && !err->msg[0]) abort(); /* a refusal says why */
}

static void route(const char *s)
{
    const char *sp = strchr(s, ' ');
    char method[16] = "";
    const char *path = s;
    if (sp && (size_t)(sp - s) < sizeof method) {
        memcpy(method, s, (size_t)(sp - s));
        path = sp + 1;
    }
    cl_rest_route_t r;
    char allow[32] = "";
    cl_error_t err = {{0}};
    int st = cl_rest_route(method, path, &r, allow, &err);
    if (st != 0 && st != 404 && st != 405) abort();
    if (st && !err.msg[0]) abort();
    if (st == 405 && !allow[0]) abort();
    if (!st &&
        (r.op == CL_REST_NODE || r.op == CL_REST_DRAIN || r.op == CL_REST_RESUME ||
         r.op == CL_REST_TENANT || r.op == CL_REST_TOKEN || r.op == CL_REST_TOKEN_REVOKE) &&
        (!r.node[0] || strlen(r.node) > CL_REST_NAME_MAX))
        abort();
}

static void list(char *s)
{
    cl_rest_kv_t kv[32];
    size_t n = 0;
    for (char *p = s; p && *p && n < 32;) {
        char *amp = strchr(p, '&');
        if (amp) *amp = 0;
        char *eq = strchr(p, '=');
        if (eq) *eq = 0;
        kv[n++] = (cl_rest_kv_t){p, eq ? eq + 1 : NULL};
        p = amp ? amp + 1 : NULL;
    }
    static const cl_rest_op_t ops[] = {CL_REST_JOBS, CL_REST_NODES, CL_REST_WATCH};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        cl_rest_list_t l;
        cl_error_t err = {{0}};
        int rc = cl_rest_list_parse(ops[i], kv, n, &l, &err);
        check_refusal(rc, &err);
        if (rc == 0 && (l.limit < 1 || l.limit > CL_REST_PAGE_MAX)) abort();
        /* a watch asks for jobs, nodes or both: never nothing, never more */
        if (rc == 0 && (!l.kinds || (l.kinds & ~(CL_REST_KIND_JOBS | CL_REST_KIND_NODES))))
            abort();
    }
    for (int op = CL_REST_TENANTS; op <= CL_REST_SCHEMA; op++) {
        cl_rest_svc_t v;
        cl_error_t err = {{0}};
        int rc = cl_rest_svc_parse((cl_rest_op_t)op, kv, n, 1.8e9, &v, &err);
        check_refusal(rc, &err);
        if (rc == 0 &&
            (v.limit > 1000000 || v.rank > 100000000 || !memchr(v.tenant, 0, 65) ||
             !memchr(v.user, 0, 65) || (v.since > 0 && v.until > 0 && v.until <= v.since)))
            abort();
    }
}

static void submit(const char *s, size_t len)
{
    Colossus__SubmitReq req = COLOSSUS__SUBMIT_REQ__INIT;
    json_t *doc = NULL;
    cl_error_t err = {{0}};
    int rc = cl_rest_submit_parse(s, len, &req, &doc, &err);
    check_refusal(rc, &err);
    if (rc == 0) {
        for (size_t i = 0; i < req.n_argv; i++)
            if (!req.argv[i]) abort();
        for (size_t i = 0; i < req.n_env; i++)
            if (!req.env[i]) abort();
        free(req.argv); /* the arrays are the parser's; their strings are doc's */
        free(req.env);
    } else if (doc) {
        abort(); /* nothing to release on failure */
    }
    json_decref(doc);
}

static void admin(const char *s, size_t len)
{
    const char *reason = NULL;
    json_t *doc = NULL;
    cl_error_t err = {{0}};
    int rc = cl_rest_admin_parse(s, len, &reason, &doc, &err);
    check_refusal(rc, &err);
    json_decref(doc);
}

static void token(const char *s, size_t len)
{
    Colossus__TokenReq t;
    json_t *doc = NULL;
    cl_error_t err = {{0}};
    int rc = cl_rest_token_parse(s, len, &t, &doc, &err);
    check_refusal(rc, &err);
    if (rc == 0 && (!t.user || !t.scope || t.expires_in_s < 0)) abort();
    if (rc < 0 && doc) abort();
    json_decref(doc);
    for (int set = 0; set < 2; set++) { /* tenant add, tenant set */
        Colossus__TenantSpec ts;
        doc = NULL;
        rc = cl_rest_tenant_parse(s, len, set ? "t" : NULL, &ts, &doc, &err);
        check_refusal(rc, &err);
        if (rc == 0 && (!ts.name[0] || ts.create == set || (set && !ts.n_set) ||
                        !(ts.shares >= 0) || ts.n_set > 9))
            abort();
        if (rc == 0) free(ts.set);
        if (rc < 0 && doc) abort();
        json_decref(doc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = malloc(size); /* the input after the selector, NUL-terminated */
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    switch (data[0] % 6) {
    case 0:
        route(s);
        break;
    case 1:
        list(s);
        break;
    case 2:
        submit((const char *)data + 1, size - 1);
        break;
    case 3:
        admin((const char *)data + 1, size - 1);
        break;
    case 4:
        token((const char *)data + 1, size - 1);
        break;
    default: {
        int st = cl_rest_error_status(s);
        if ((st < 400 || st > 409) && st != 503) abort();
        break;
    }
    }
    free(s);
    return 0;
}
