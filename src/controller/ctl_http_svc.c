/* ctl_http_svc.c - the REST API's service routes (docs/api/README.md): tenants, users, QOS,
 * tokens (list, create, revoke), usage, history, audit and a job's rank logs, each the
 * operation the CLI sends (src/cli/tenantcmds.c, usercmds.c, qoscmds.c, tokencmds.c,
 * acctcmds.c, jobcmds.c) with the HTTP request as its sink, answered with the shared JSON
 * renderings (api/json.h); and the API's description, served without a credential. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/apidoc.h"
#include "api/json.h"
#include "controller/ctl_http.h"
#include "proto/cred.h"

int http_svc_query(http_req_t *q, const cl_rest_kv_t *kv, size_t n)
{
    cl_error_t err;
    if (cl_rest_svc_parse(q->route.op, kv, n, floor(cl_wall_s()), &q->svc, &err) < 0) {
        http_answer_error(q, 400, err.msg);
        return -1;
    }
    return 0;
}

/* The API's description: the files of docs/api, as built in. */
static void answer_doc(http_req_t *q, const char *text, size_t len)
{
    free(q->text);
    q->text = cl_xmalloc(len + 1);
    memcpy(q->text, text, len + 1);
    q->len = len;
    q->status = 200;
    q->done = true;
}

/* POST /tokens: the key pair is made here, as `token create` makes it in the CLI; the
 * controller keeps the public key, and the secret lives in q only until the answer that
 * shows it once is rendered. */
static void dispatch_token_create(http_req_t *q, Colossus__Request *r)
{
    Colossus__TokenReq t;
    json_t *doc;
    cl_error_t err;
    if (cl_rest_token_parse(q->body.p ? (char *)q->body.p : "", q->body.len, &t, &doc, &err) <
        0) {
        http_answer_error(q, 400, err.msg);
        return;
    }
    cl_cred_t cred;
    uint8_t pk[CL_SIGN_PK_BYTES];
    cl_cred_new(&cred, CL_CRED_TOKEN, pk);
    q->seed = cl_xmalloc(CL_SIGN_SEED_BYTES);
    memcpy(q->seed, cred.seed, CL_SIGN_SEED_BYTES);
    cl_cred_clear(&cred);
    t.public_key.data = pk;
    t.public_key.len = sizeof pk;
    r->body_case = COLOSSUS__REQUEST__BODY_TOKEN_CREATE;
    r->token_create = &t;
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
    json_decref(doc);
}

/* POST /tenants, PATCH /tenants/{name}: tenant add and tenant set. */
static void dispatch_tenant(http_req_t *q, Colossus__Request *r)
{
    Colossus__TenantSpec t;
    json_t *doc;
    cl_error_t err;
    const char *name = q->route.op == CL_REST_TENANT_SET ? q->route.node : NULL;
    if (cl_rest_tenant_parse(q->body.p ? (char *)q->body.p : "", q->body.len, name, &t, &doc,
                             &err) < 0) {
        http_answer_error(q, 400, err.msg);
        return;
    }
    if (!name) /* for the answer (a set's name is the path's already) */
        snprintf(q->route.node, sizeof q->route.node, "%s", t.name);
    r->body_case = COLOSSUS__REQUEST__BODY_TENANT;
    r->tenant = &t;
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
    free(t.set);
    json_decref(doc);
}

/* PUT /power/budget, POST /power/cut, POST /power/restore. */
static void dispatch_power(http_req_t *q, Colossus__Request *r)
{
    Colossus__PowerSpec s;
    json_t *doc;
    cl_error_t err;
    if (cl_rest_power_parse(q->route.op, q->body.p ? (char *)q->body.p : "", q->body.len, &s,
                            &doc, &err) < 0) {
        http_answer_error(q, 400, err.msg);
        return;
    }
    r->body_case = COLOSSUS__REQUEST__BODY_POWER;
    r->power = &s;
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
    json_decref(doc);
}

void http_svc_dispatch(http_req_t *q, Colossus__Request *r)
{
    Colossus__HistoryReq h = COLOSSUS__HISTORY_REQ__INIT;
    Colossus__AuditReq a = COLOSSUS__AUDIT_REQ__INIT;
    Colossus__LogFetch lf = COLOSSUS__LOG_FETCH__INIT;
    const cl_rest_svc_t *s = &q->svc;
    h.since = a.since = s->since;
    h.until = s->until;
    h.tenant = (char *)s->tenant;
    h.user = a.user = (char *)s->user;
    h.state = (char *)s->state;
    h.by = (char *)s->by;
    h.limit = a.limit = s->limit;
    h.job = s->job;
    bool list = true;
    switch (q->route.op) {
    case CL_REST_OPENAPI:
        answer_doc(q, cl_apidoc_openapi, cl_apidoc_openapi_len);
        return;
    case CL_REST_SCHEMA:
        answer_doc(q, cl_apidoc_schema, cl_apidoc_schema_len);
        return;
    case CL_REST_TOKEN_CREATE:
        dispatch_token_create(q, r);
        return;
    case CL_REST_TENANT_ADD:
    case CL_REST_TENANT_SET:
        dispatch_tenant(q, r);
        return;
    case CL_REST_POWER_BUDGET:
    case CL_REST_POWER_CUT:
    case CL_REST_POWER_RESTORE:
    case CL_REST_POWER_RAMP:
        dispatch_power(q, r);
        return;
    case CL_REST_POWER:
        r->body_case = COLOSSUS__REQUEST__BODY_POWER_SHOW;
        r->power_show = true;
        list = false;
        break;
    case CL_REST_TENANTS:
        r->body_case = COLOSSUS__REQUEST__BODY_TENANTS;
        r->tenants = true;
        break;
    case CL_REST_TENANT:
        r->body_case = COLOSSUS__REQUEST__BODY_TENANT_SHOW;
        r->tenant_show = q->route.node;
        list = false;
        break;
    case CL_REST_USERS:
        r->body_case = COLOSSUS__REQUEST__BODY_USERS;
        r->users = true;
        break;
    case CL_REST_QOS:
        r->body_case = COLOSSUS__REQUEST__BODY_QOSES;
        r->qoses = true;
        break;
    case CL_REST_TOKENS:
    case CL_REST_TOKEN:
        r->body_case = COLOSSUS__REQUEST__BODY_TOKENS;
        r->tokens = true;
        break;
    case CL_REST_TOKEN_REVOKE:
        r->body_case = COLOSSUS__REQUEST__BODY_TOKEN_REVOKE;
        r->token_revoke = q->route.node;
        list = false;
        break;
    case CL_REST_USAGE:
        r->body_case = COLOSSUS__REQUEST__BODY_USAGE;
        r->usage = &h;
        break;
    case CL_REST_HISTORY:
        r->body_case = COLOSSUS__REQUEST__BODY_HISTORY;
        r->history = &h;
        break;
    case CL_REST_AUDIT:
        r->body_case = COLOSSUS__REQUEST__BODY_AUDIT;
        r->audit = &a;
        break;
    case CL_REST_LOGS:
        lf.job = q->route.job;
        lf.rank = s->rank;
        lf.from_offset = s->has_offset;
        lf.offset = s->offset;
        r->body_case = COLOSSUS__REQUEST__BODY_LOGS;
        r->logs = &lf;
        list = false;
        break;
    default:
        http_answer_error(q, 500, "no service route");
        return;
    }
    if (list && !(q->items = json_array())) cl_oom(0, __FILE__, __LINE__);
    q->dispatched = true;
    ctl_request(q->ctl, &q->who, r, &q->sink);
}

/* The items of one part of a list answer, rendered onto q->items. */
static void list_items(http_req_t *q, const Colossus__Response *rs)
{
    json_t *v = q->items;
    int rc = 0;
    for (size_t i = 0; i < rs->n_tenants; i++)
        rc |= json_array_append_new(v, cl_json_tenant(rs->tenants[i]));
    for (size_t i = 0; i < rs->n_users; i++)
        rc |= json_array_append_new(v, cl_json_user(rs->users[i]));
    for (size_t i = 0; i < rs->n_qoses; i++)
        rc |= json_array_append_new(v, cl_json_qos(rs->qoses[i]));
    for (size_t i = 0; i < rs->n_tokens; i++)
        if (q->route.op == CL_REST_TOKENS || !strcmp(rs->tokens[i]->id, q->route.node))
            rc |= json_array_append_new(v, cl_json_token(rs->tokens[i]));
    for (size_t i = 0; i < rs->n_usage; i++)
        rc |= json_array_append_new(v, cl_json_usage_row(rs->usage[i]));
    for (size_t i = 0; i < rs->n_history; i++)
        rc |= json_array_append_new(v, cl_json_usage_record(rs->history[i]));
    for (size_t i = 0; i < rs->n_audit; i++)
        rc |= json_array_append_new(v, cl_json_audit(rs->audit[i]));
    if (rc) cl_oom(0, __FILE__, __LINE__);
}

/* The key of a list's answer, {"KEY": [...]}. */
static const char *list_key(cl_rest_op_t op)
{
    switch (op) {
    case CL_REST_TENANTS:
        return "tenants";
    case CL_REST_USERS:
        return "users";
    case CL_REST_QOS:
        return "qos";
    case CL_REST_TOKENS:
        return "tokens";
    case CL_REST_USAGE:
        return "usage";
    case CL_REST_HISTORY:
        return "history";
    default:
        return "audit";
    }
}

static void list_end(http_req_t *q)
{
    json_t *items = q->items;
    q->items = NULL;
    if (q->route.op == CL_REST_TOKEN) { /* one of the list, by its id */
        json_t *one = json_array_get(items, 0);
        if (one) {
            http_answer_json(q, 200, json_incref(one));
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "no token %s", q->route.node);
            http_answer_error(q, 404, msg);
        }
        json_decref(items);
        return;
    }
    json_t *o = json_object();
    if (!o || json_object_set_new(o, list_key(q->route.op), items) < 0)
        cl_oom(0, __FILE__, __LINE__);
    http_answer_json(q, 200, o);
}

/* The answer to POST /tokens: the token string, once, and the token as listed. */
static void token_made(http_req_t *q, const Colossus__Response *rs)
{
    const Colossus__TokenInfo *t = rs->n_tokens ? rs->tokens[0] : NULL;
    if (!t || !cl_cred_id_valid(t->id) || rs->identity.len != CL_SIGN_PK_BYTES || !q->seed) {
        http_answer_error(q, 500, "the controller answered without the token's id");
        return;
    }
    cl_cred_t cred = {.kind = CL_CRED_TOKEN};
    char s[CL_CRED_STR_MAX + 1];
    snprintf(cred.id, sizeof cred.id, "%s", t->id);
    memcpy(cred.seed, q->seed, CL_SIGN_SEED_BYTES);
    memcpy(cred.identity, rs->identity.data, CL_SIGN_PK_BYTES);
    cl_assert(cl_cred_format(&cred, s, sizeof s) == 0);
    cl_cred_clear(&cred);
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "token", json_string(s)) < 0 ||
        json_object_set_new(o, "info", cl_json_token(t)) < 0)
        cl_oom(0, __FILE__, __LINE__);
    sodium_memzero(s, sizeof s);
    snprintf(q->location, sizeof q->location, CL_REST_PREFIX "/tokens/%.32s", t->id);
    http_answer_json(q, 201, o); /* the dumped text holds the secret: the library frees it */
    http_svc_release(q);
}

void http_svc_response(http_req_t *q, const Colossus__Response *rs)
{
    switch (q->route.op) {
    case CL_REST_TENANT:
        if (rs->n_tenants)
            http_answer_json(q, 200, cl_json_tenant(rs->tenants[0]));
        else
            http_answer_error(q, 500, "the controller answered without the tenant");
        return;
    case CL_REST_TOKEN_CREATE:
        token_made(q, rs);
        return;
    case CL_REST_POWER:
    case CL_REST_POWER_BUDGET:
    case CL_REST_POWER_CUT:
    case CL_REST_POWER_RESTORE:
    case CL_REST_POWER_RAMP:
        if (rs->power)
            http_answer_json(q, 200, cl_json_power(rs->power));
        else
            http_answer_error(q, 500, "the controller answered without the power tree");
        return;
    case CL_REST_TOKEN_REVOKE:
    case CL_REST_TENANT_ADD:
    case CL_REST_TENANT_SET: {
        bool add = q->route.op == CL_REST_TENANT_ADD;
        json_t *o = json_object();
        if (!o || json_object_set_new(o, q->route.op == CL_REST_TOKEN_REVOKE ? "id" : "name",
                                      json_string(q->route.node)) < 0)
            cl_oom(0, __FILE__, __LINE__);
        if (add)
            snprintf(q->location, sizeof q->location, CL_REST_PREFIX "/tenants/%.40s",
                     q->route.node);
        http_answer_json(q, add ? 201 : 200, o);
        return;
    }
    case CL_REST_LOGS: /* the log's bytes as the rank wrote them, as `colossus logs` prints */
        free(q->text);
        q->text = cl_xmalloc(rs->data.len + 1);
        if (rs->data.len) memcpy(q->text, rs->data.data, rs->data.len);
        q->len = rs->data.len;
        q->content_type = "text/plain; charset=utf-8";
        /* where a follower goes on: the next request's offset */
        snprintf(q->log_next, sizeof q->log_next, "%llu", (unsigned long long)rs->log_size);
        q->status = 200;
        q->done = true;
        return;
    default:
        if (!q->items) return;
        list_items(q, rs);
        if (!rs->more) list_end(q);
        return;
    }
}

void http_svc_release(http_req_t *q)
{
    if (!q->seed) return;
    sodium_memzero(q->seed, CL_SIGN_SEED_BYTES);
    free(q->seed);
    q->seed = NULL;
}
