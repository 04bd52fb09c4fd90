/* ctl_acct.h - the service inside the controller (issue 11): users and their roles, QOS,
 * credentials, the tenants' service settings, who may do what, audit and usage records.
 * Internal to src/controller: ctl_auth.c (credentials), ctl_users.c (users, QOS, callers),
 * ctl_tenants.c (tenants, budgets, fair-share usage), ctl_usage.c (usage, history, audit).
 *
 * Everything here is journaled as store objects (store.h: cl_store_batch_obj) whose values
 * are packed protobuf messages of colossus.proto: "user" UserInfo, "qos" QosInfo, "token"
 * TokenInfo (public key included), "tenant" TenantInfo (its settings), "tenant_usage"
 * TenantInfo (decayed usage and budget used, as of usage_at). */
#ifndef COLOSSUS_CONTROLLER_CTL_ACCT_H
#define COLOSSUS_CONTROLLER_CTL_ACCT_H

#include <stdbool.h>
#include <stdint.h>

#include <uthash.h>

#include "controller/ctl.h"
#include "proto/cred.h"

/* A user's cluster role; tenant roles are per tenant (ctl_user_tenant_t.manager). */
typedef enum ctl_role {
    CTL_ROLE_NONE = 0,
    CTL_ROLE_OPERATOR, /* nodes: drain, resume, maintenance, node credentials; sees all */
    CTL_ROLE_ADMIN,    /* everything */
} ctl_role_t;

typedef struct ctl_user_tenant {
    uint32_t tenant; /* core tenant index */
    bool manager;
} ctl_user_tenant_t;

typedef struct ctl_user {
    UT_hash_handle hh;
    char *name;
    uint32_t core_id; /* the core's user id (per-user running limits), 1.. */
    ctl_role_t role;
    uint32_t uid, gid;
    char *qos; /* "" the default QOS */
    bool disabled;
    ctl_user_tenant_t *tenants;
    uint32_t ntenants;
    uint32_t running; /* jobs of this user running now (QOS max running is the core's) */
} ctl_user_t;

typedef struct ctl_qos {
    UT_hash_handle hh;
    char *name;
    int32_t max_priority;
    uint32_t max_gpus_per_job; /* 0: no limit */
    double max_wall_s;         /* 0: no limit */
    uint32_t max_running;      /* per user; 0: no limit */
    bool preemptible;
} ctl_qos_t;
#define CTL_QOS_DEFAULT "normal"
#define CTL_QOS_DEFAULT_MAX_PRIORITY 100

typedef struct ctl_cred {
    UT_hash_handle hh;
    char id[CL_CRED_ID_MAX + 1];
    uint8_t pk[CL_SIGN_PK_BYTES];
    char *user;  /* a token's user; NULL for a node credential */
    char *nodes; /* a node credential's host list */
    ctl_scope_t scope;
    double created, expires; /* expires 0: never */
    bool revoked;
} ctl_cred_t;

/* A tenant's service settings beside what the core keeps (cl_tenant_conf_t). */
typedef struct ctl_tenant {
    char cohort[64];
    char budget_period[32]; /* "month", a duration ("30d"), "" a fixed grant */
    double period_start;    /* unix s: the current budget period began */
    double budget_gpu_h;    /* per period; 0: none */
    bool budget_stop;
    double usage_saved_at;  /* when its usage was last journaled */
    double gpu_s, energy_j; /* of the runs journaled since this controller started (/metrics) */
} ctl_tenant_t;

typedef struct ctl_acct {
    ctl_user_t *users; /* by name */
    ctl_user_t **by_core_id;
    uint32_t next_user_id, users_cap;
    ctl_qos_t *qos;        /* by name */
    ctl_cred_t *creds;     /* by id */
    ctl_tenant_t *tenants; /* by core tenant index */
    uint32_t ntenants;
    char **cohorts; /* cohort names; core cohort id = index + 1 */
    uint32_t ncohorts;
    ctl_run_t *waiting;     /* ended runs waiting for their nodes' reports */
    double next_usage_save; /* wall s */
    double next_prune;      /* wall s */
    double next_period_end; /* the earliest end of a tenant's budget period */
} ctl_acct_t;

/* Who is asking, resolved for one request: the principal as it is now. */
typedef struct ctl_caller {
    const ctl_principal_t *p;
    ctl_user_t *user; /* USER; NULL for the cluster key */
    bool admin;       /* the cluster key, or an admin user with an admin-scoped credential */
    bool oper;        /* admin, or an operator with an admin-scoped credential */
    bool sees_all;    /* an admin or operator (any scope): reads every tenant's records */
    ctl_scope_t scope;
    const char *op; /* the operation as the audit log names it ("tenant add"): ctl_ops.c */
} ctl_caller_t;

/* ---- ctl_ops.c ---- */
/* A listing's items for ctl_reply_parts: n pointers, each to its own zeroed item of size
 * bytes, in one block (one free()). */
void *ctl_items(size_t n, size_t size);
/* Whether k sees job j in the job list (all: finished ones too). */
bool ctl_job_listed(ctl_t *c, const ctl_caller_t *k, const ctl_job_t *j, bool all);
/* As ctl_reply_parts, for a page (ListReq): its last part says whether more items match. */
void ctl_reply_page(ctl_t *c, ctl_sink_t *reply, uint64_t req, void **items, size_t n,
                    ctl_part_t kind, bool page_more);

/* ---- ctl_resv.c: reserve, reserve list, reserve delete ---- */
void ctl_op_reserve(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply);
void ctl_op_reservations(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply);
void ctl_op_reserve_delete(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                           ctl_sink_t *reply);

/* ---- ctl_pages.c: a page of the job or node list (ListReq) from its cursor ---- */
void ctl_op_jobs_page(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                      ctl_sink_t *reply);
void ctl_op_nodes_page(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply);

/* ---- ctl_users.c ---- */
/* Journal an object (a packed message m; NULL deletes it) into the open batch. */
void ctl_journal_obj(ctl_t *c, const char *kind, const char *key, const ProtobufCMessage *m);
int ctl_acct_init(ctl_t *c, cl_error_t *err); /* tables, default QOS; load the journal's */
void ctl_acct_free(ctl_t *c);
ctl_user_t *ctl_user_find(ctl_t *c, const char *name);
ctl_user_t *ctl_user_by_core_id(ctl_t *c, uint32_t id);
ctl_qos_t *ctl_qos_find(ctl_t *c, const char *name);
ctl_qos_t *ctl_user_qos(ctl_t *c, const ctl_user_t *u); /* the user's, or the default */
const char *ctl_role_name(ctl_role_t r);
/* The caller of one request; -1 with why when its credential or user no longer allows
 * anything (revoked, expired, disabled, deleted). */
int ctl_caller_resolve(ctl_t *c, const ctl_principal_t *p, ctl_caller_t *k, cl_error_t *why);
bool ctl_caller_member(const ctl_caller_t *k, uint32_t tenant); /* in the tenant (or its
                                                                   parent's) */
bool ctl_caller_manages(const ctl_caller_t *k, uint32_t tenant);
bool ctl_caller_sees_tenant(ctl_t *c, const ctl_caller_t *k, uint32_t tenant);
/* The tenant a submission goes to: the one named (one of the caller's), else the caller's
 * only one, else its first; -1 with why. */
int ctl_caller_tenant(ctl_t *c, const ctl_caller_t *k, const char *name, cl_error_t *why);
void ctl_op_user(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                 ctl_sink_t *reply);
void ctl_op_users(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply);
void ctl_op_qos(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r, ctl_sink_t *reply);
void ctl_op_qoses(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply);
void ctl_op_whoami(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply);
/* Journal a user's current record. */
void ctl_user_journal(ctl_t *c, const ctl_user_t *u);

/* ---- ctl_auth.c ---- */
const char *ctl_scope_name(ctl_scope_t s); /* "read", "submit" or "admin" */
/* Load libjwt (once): a controller given --jwt-key calls it at its start so that a missing
 * library stops it with a sentence. 0, or -1 with err. */
int ctl_jwt_load(cl_error_t *err);
int ctl_creds_load(ctl_t *c, const char *key, const void *val, size_t len, cl_error_t *err);
void ctl_creds_free(ctl_t *c);
ctl_cred_t *ctl_cred_find(ctl_t *c, const char *id);
/* Whether a credential is good now (not revoked, not expired): NULL, or why not. */
const char *ctl_cred_unusable(ctl_t *c, const ctl_cred_t *cr);
void ctl_op_token_create(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply);
void ctl_op_tokens(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply);
void ctl_op_token_revoke(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                         ctl_sink_t *reply);

/* ---- ctl_tenants.c ---- */
int ctl_tenants_load(ctl_t *c, const char *kind, const char *key, const void *val, size_t len,
                     cl_error_t *err);
ctl_tenant_t *ctl_tenant_ext(ctl_t *c, uint32_t tenant);
void ctl_tenants_tick(ctl_t *c); /* budget periods, journaled usage */
/* Journal the tenant's settings. */
void ctl_tenant_journal(ctl_t *c, uint32_t tenant);
/* Journal the tenant's fair-share usage and budget used as of now. */
void ctl_tenant_usage_journal(ctl_t *c, uint32_t tenant);
void ctl_op_tenant(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply);
void ctl_op_tenant_show(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                        ctl_sink_t *reply);
void ctl_op_tenants(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply);

/* ---- ctl_power.c ---- */
void ctl_op_power_show(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                       ctl_sink_t *reply);
void ctl_op_power(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply);
/* The audit log's name of a power change ("power cut") and its target. */
const char *ctl_power_op_label(const Colossus__Request *r, char *target, size_t len);

/* ---- ctl_usage.c ---- */
/* Who the caller is, as the audit log and a job's reason name it: the user, "cluster key",
 * "node credential ID", or "controller" (k NULL). May return buf. */
const char *ctl_caller_name(const ctl_caller_t *k, char *buf, size_t len);
/* One audit record into the open batch, and a log line when it is a refusal. */
void ctl_audit(ctl_t *c, const ctl_caller_t *k, const char *op, const char *target, bool ok,
               const char *detail);
/* A run of j began (j->inc, j->alloc set). */
void ctl_run_begin(ctl_t *c, ctl_job_t *j);
/* The run of j ended (ended: succeeded, failed, cancelled, timeout, node_fail, preempted,
 * requeued, budget): its usage record is journaled once its nodes reported. */
void ctl_usage_run_ended(ctl_t *c, ctl_job_t *j, const char *ended);
/* A node's exit report of incarnation inc (position pos in its allocation). */
void ctl_usage_exit_report(ctl_t *c, ctl_job_t *j, uint32_t inc, int pos, double energy_j,
                           double flops);
/* j leaves memory: what it still holds is journaled. */
void ctl_usage_job_free(ctl_t *c, ctl_job_t *j);
void ctl_usage_tick(ctl_t *c); /* retention */
void ctl_op_history(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                    ctl_sink_t *reply);
void ctl_op_usage(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply);
void ctl_op_audit(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply);

#endif
