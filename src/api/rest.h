/* rest.h - the REST API's pure parts, shared by the controller's HTTP transport
 * (src/controller/ctl_http.c) and its unit tests: routes (method and path to an operation),
 * query parameters of the list resources (filters and pagination), a submission's JSON body
 * to a SubmitReq, and the HTTP status of a controller's refusal. No I/O, no HTTP library:
 * docs/api/README.md ("REST API") is the contract. */
#ifndef COLOSSUS_API_REST_H
#define COLOSSUS_API_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "colossus.pb-c.h"
#include "colossus/core.h"

#define CL_REST_PREFIX "/api/v1"
#define CL_REST_BODY_MAX (1u << 20) /* a request body larger than this is a 413 */
#define CL_REST_PAGE_DEFAULT 1000   /* items of a list page when no limit is given */
#define CL_REST_PAGE_MAX 10000
#define CL_REST_NAME_MAX 128 /* a node name in a path */

typedef enum cl_rest_op {
    CL_REST_WHOAMI,
    CL_REST_JOBS,    /* GET /jobs */
    CL_REST_JOB,     /* GET /jobs/{id} */
    CL_REST_SUBMIT,  /* POST /jobs */
    CL_REST_CANCEL,  /* POST /jobs/{id}/cancel, DELETE /jobs/{id} */
    CL_REST_NODES,   /* GET /nodes */
    CL_REST_NODE,    /* GET /nodes/{name} */
    CL_REST_DRAIN,   /* POST /nodes/{name}/drain */
    CL_REST_RESUME,  /* POST /nodes/{name}/resume */
    CL_REST_WATCH,   /* GET /watch: the event stream */
    CL_REST_HOLD,    /* POST /jobs/{id}/hold */
    CL_REST_RELEASE, /* POST /jobs/{id}/release */
    CL_REST_REQUEUE, /* POST /jobs/{id}/requeue */
    /* the service objects and accounting (src/controller/ctl_http_svc.c) */
    CL_REST_TENANTS,       /* GET /tenants */
    CL_REST_TENANT,        /* GET /tenants/{name} */
    CL_REST_TENANT_ADD,    /* POST /tenants */
    CL_REST_TENANT_SET,    /* PATCH /tenants/{name} */
    CL_REST_USERS,         /* GET /users */
    CL_REST_QOS,           /* GET /qos */
    CL_REST_TOKENS,        /* GET /tokens */
    CL_REST_TOKEN_CREATE,  /* POST /tokens */
    CL_REST_TOKEN,         /* GET /tokens/{id} */
    CL_REST_TOKEN_REVOKE,  /* DELETE /tokens/{id} */
    CL_REST_USAGE,         /* GET /usage */
    CL_REST_HISTORY,       /* GET /history */
    CL_REST_AUDIT,         /* GET /audit */
    CL_REST_LOGS,          /* GET /jobs/{id}/logs */
    CL_REST_POWER,         /* GET /power */
    CL_REST_POWER_BUDGET,  /* POST /power/budget */
    CL_REST_POWER_CUT,     /* POST /power/cut */
    CL_REST_POWER_RESTORE, /* POST /power/restore */
    CL_REST_POWER_RAMP,    /* POST /power/ramp */
    CL_REST_OPENAPI,       /* GET /openapi.json: public (no token) */
    CL_REST_SCHEMA,        /* GET /schema.json: public */
} cl_rest_op_t;

/* Whether op is one of the service routes (ctl_http_svc.c: its own query parameters), and
 * whether it is answered without a credential (the API's description). */
#define cl_rest_op_svc(op) ((op) >= CL_REST_TENANTS)
#define cl_rest_op_public(op) ((op) == CL_REST_OPENAPI || (op) == CL_REST_SCHEMA)

/* The kinds of events a watch asks for (its `kinds` parameter; default both). */
#define CL_REST_KIND_JOBS 1u
#define CL_REST_KIND_NODES 2u

typedef struct cl_rest_route {
    cl_rest_op_t op;
    uint64_t job;                    /* JOB, CANCEL */
    char node[CL_REST_NAME_MAX + 1]; /* NODE, DRAIN, RESUME; the tenant of TENANT, the
                                      * token id of TOKEN and TOKEN_REVOKE */
    bool body; /* takes a JSON body (SUBMIT, DRAIN, RESUME, TOKEN_CREATE, TENANT_ADD, _SET) */
} cl_rest_route_t;

/* The route of method and path (decoded, without the query). 0; or the HTTP status (404 for
 * a path that names nothing, 405 for a method the path does not take) with err, and for 405
 * the methods it takes in allow ("GET, POST"). */
int cl_rest_route(const char *method, const char *path, cl_rest_route_t *r, char allow[32],
                  cl_error_t *err);

/* A list's filters and page, from its query parameters. */
typedef struct cl_rest_list {
    uint32_t limit;  /* items on the page, 1..CL_REST_PAGE_MAX */
    uint64_t after;  /* with has_after: only items whose id is above this (the cursor) */
    bool has_after;  /* (node ids start at 0) */
    uint32_t states; /* bit (1 << state) per cl_job_state_t / cl_node_state_t; 0: any */
    bool all;        /* jobs: finished ones too (implied by a finished state) */
    const char *tenant, *user; /* jobs: only these ("" or NULL: any); borrowed */
    uint32_t kinds;            /* watch: CL_REST_KIND_* (never 0) */
} cl_rest_list_t;

/* One query parameter. */
typedef struct cl_rest_kv {
    const char *key, *value; /* value NULL: given without '=' */
} cl_rest_kv_t;

/* The filters and page of op's list (JOBS, NODES) from its query parameters, or the kinds
 * of a WATCH ("kinds=jobs,nodes"); every other op takes none. 0, or -1 with err naming the
 * parameter (unknown, repeated, bad value). The strings are borrowed from q. */
int cl_rest_list_parse(cl_rest_op_t op, const cl_rest_kv_t *q, size_t n, cl_rest_list_t *l,
                       cl_error_t *err);
/* l as the controller's page request (Request.jobs_page, nodes_page), which applies the
 * filters and the page; p's strings are l's. */
void cl_rest_list_req(const cl_rest_list_t *l, Colossus__ListReq *p);

/* The query parameters of a service route (docs/api/README.md): usage and history take
 * since, until, tenant, user (history: state, limit, job; usage: by), audit since, user, limit,
 * logs rank and offset; the others none. Times are what the CLI's --since takes (cl_parse_time:
 * a date, a time, "now", "7d" ago, against now) or seconds since the epoch. Strings are copied.
 */
typedef struct cl_rest_svc {
    double since, until; /* 0: not given */
    uint32_t limit;      /* 0: the controller's default */
    uint32_t rank;
    bool has_rank;
    uint64_t offset; /* logs: the bytes from here on (logs -f), when has_offset */
    bool has_offset;
    char tenant[65], user[65];
    char state[16]; /* history: how a run ended (succeeded, failed, ...) */
    char by[8];     /* usage: tenant (default), user, day, month */
    uint64_t job;   /* history: the runs of one job (0: any) */
} cl_rest_svc_t;

/* 0, or -1 with err naming the parameter (unknown, repeated, a bad value). */
int cl_rest_svc_parse(cl_rest_op_t op, const cl_rest_kv_t *q, size_t n, double now,
                      cl_rest_svc_t *s, cl_error_t *err);

/* The body of POST /power/budget ({"budget_w": W} or {"budget": "700MW"}, "pod" for a pod's),
 * POST /power/cut ({"cut_pct": P, "for_s": S}) or POST /power/restore (empty or {}) into s
 * (strings borrowed from *doc: release it with json_decref after the request is sent). 0, or
 * -1 with err naming the field. */
int cl_rest_power_parse(cl_rest_op_t op, const char *body, size_t len, Colossus__PowerSpec *s,
                        json_t **doc, cl_error_t *err);
/* A token's body (POST /tokens): {"user": NAME, "scope": "read"|"submit"|"admin",
 * "expires_in_s": SECONDS}, each optional; or empty. The strings of *t point into *doc (the
 * caller's: json_decref() it; NULL for an empty body); its public key is the caller's to set.
 * 0, or -1 with err naming the field. */
int cl_rest_token_parse(const char *body, size_t len, Colossus__TokenReq *t, json_t **doc,
                        cl_error_t *err);

/* A tenant's body: POST /tenants (create: "name" required) or PATCH /tenants/{name} (name,
 * from the path: only the fields given change, at least one). The fields are the tenant
 * object's (schema #/$defs/tenant): parent, shares, quota_gpus, cohort, borrow_limit,
 * lend_limit, budget_gpu_hours, budget_period, budget_stop, null meaning none (no parent,
 * quota, cohort, limit or budget; all of its quota lent). *t's strings point into *doc (the
 * caller's: json_decref() it); t->set is allocated (the caller frees it). 0, or -1 with err
 * naming the field. */
int cl_rest_tenant_parse(const char *body, size_t len, const char *name,
                         Colossus__TenantSpec *t, json_t **doc, cl_error_t *err);

/* A submission's body (docs/api/README.md, "POST /api/v1/jobs"): the SubmitReq in *s, whose
 * strings and arrays point into *doc (the parsed body, the caller's: json_decref() it after
 * the request is made; on failure nothing to release). 0, or -1 with err naming the field. */
int cl_rest_submit_parse(const char *body, size_t len, Colossus__SubmitReq *s, json_t **doc,
                         cl_error_t *err);
/* A drain or resume body: {"reason": "..."} or empty ("": no reason). reason points into
 * *doc (NULL when the body was empty). 0, or -1 with err. */
int cl_rest_admin_parse(const char *body, size_t len, const char **reason, json_t **doc,
                        cl_error_t *err);

/* The HTTP status of a refusal the controller answered with this sentence (Response.error):
 * 403 for a permission denied or a policy (another user's job, a tenant the user is not in,
 * a QOS limit, "only an admin may" add a tenant or touch another user's token, another
 * user's audit records), 404 for a job, node, tenant, token or rank log that is not there
 * (another tenant's job is "no job N" as well), 409 for a job that already ended (cancel) or
 * has not run yet (logs) and a tenant that exists (add), 503 for a log whose node is not
 * connected, 400 otherwise. */
int cl_rest_error_status(const char *msg);

/* v as the API's text: compact, reals with 17 significant digits (they read back as the
 * same double), a final newline; *len its length. The caller frees it (free()). */
char *cl_rest_dump(const json_t *v, size_t *len);
#define CL_REST_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17)) /* jansson's, for that */
/* {"error": msg} as that text (a msg that is not UTF-8 has its high bytes as '?'). */
char *cl_rest_error_body(const char *msg, size_t *len);

#endif
