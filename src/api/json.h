/* json.h - the one JSON rendering of each object of the API (a job, a node, a tenant, a user,
 * a QOS, a token, a usage record, a usage row, an audit record, whoami's answer), shared by
 * the CLI's --json and the REST API. The field names, types and nullability are written down
 * once, in docs/api/schema.json ($defs: JSON Schema draft 2020-12) and docs/api/README.md; a
 * field added or renamed here must be added or renamed there (tests/unit/test_api_json.c,
 * tests/integration/cli_json_schema.sh and cli_service.sh fail otherwise).
 *
 * Every function returns a new object (never NULL: allocation failure aborts, util.h) that
 * the caller owns and releases with json_decref(). The input is only read; it may come off
 * the wire (the CLI) or be filled by the controller (the API). Whatever it holds, the result
 * dumps as valid JSON: a NULL string is rendered "", bytes that are not UTF-8 become U+FFFD,
 * and a real that is not finite becomes null. */
#ifndef COLOSSUS_API_JSON_H
#define COLOSSUS_API_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "colossus.pb-c.h"
#include "proto/frame.h"

/* A job (schema #/$defs/job): times null until they happen, exit_code null until it ended. */
json_t *cl_json_job(const Colossus__JobInfo *j);
/* A node reservation (reserve list --json). */
json_t *cl_json_reservation(const Colossus__ReservationInfo *r);
/* A node (schema #/$defs/node), with its GPU health and telemetry (null where the node does
 * not watch its GPUs). */
json_t *cl_json_node(const Colossus__NodeInfo *n);
/* The same node as compact text appended to b: byte for byte json_dumps(cl_json_node(n),
 * CL_REST_DUMP_FLAGS), without the tree (api/jw.h; what the REST API's node pages use). */
void cl_json_node_text(cl_buf_t *b, const Colossus__NodeInfo *n);
/* A tenant (schema #/$defs/tenant): shares, decayed usage, fair-share factor, its jobs, its
 * quota, cohort and borrowing, its GPU-hour budget. */
json_t *cl_json_tenant(const Colossus__TenantInfo *t);
/* What is left of a tenant's budget in this period, in GPU-hours (never below 0). */
double cl_json_budget_left(const Colossus__TenantInfo *t);
/* A user (#/$defs/user): its tenants with its role in each, cluster role, uid/gid, QOS. */
json_t *cl_json_user(const Colossus__UserInfo *u);
/* A QOS (#/$defs/qos): its limits, null where there is none. */
json_t *cl_json_qos(const Colossus__QosInfo *q);
/* A token or node credential as the controller lists it (#/$defs/token): never a secret. */
json_t *cl_json_token(const Colossus__TokenInfo *t);
/* One run of a job (#/$defs/usage_record), as `history` lists them. */
json_t *cl_json_usage_record(const Colossus__UsageRecord *r);
/* The signal that killed a failed run's rank (its exit code 128 + N), or 0. */
int cl_json_signal(const char *ended, int32_t exit_code);
/* Whether a run that ended so has a rank's exit code: only one that ended by itself
 * (succeeded or failed). */
bool cl_json_coded(const char *ended);
/* One row of `usage` (#/$defs/usage_row). */
json_t *cl_json_usage_row(const Colossus__UsageRow *r);
/* One audit record (#/$defs/audit_record). */
json_t *cl_json_audit(const Colossus__AuditRecord *a);
/* whoami's answer (#/$defs/whoami): the principal, its cluster role, its user (or null). */
json_t *cl_json_whoami(const Colossus__Response *rs);
/* The power tree (#/$defs/power, `power show --json`, GET /power): the site's fields at the
 * top, levels[] one per pod with the same fields, caps[] the limits in force, apply the
 * latest change's delivery (null before the first). */
json_t *cl_json_power(const Colossus__PowerInfo *p);

/* JSON arrays of those renderings, in the order given: what the list commands' --json print
 * (jobs, nodes, tenant list, user list, qos list, token list, history, usage, audit) and
 * what the API's list answers hold. */
json_t *cl_json_jobs(Colossus__JobInfo *const *v, size_t n);
json_t *cl_json_nodes(Colossus__NodeInfo *const *v, size_t n);
json_t *cl_json_tenants(Colossus__TenantInfo *const *v, size_t n);
json_t *cl_json_users(Colossus__UserInfo *const *v, size_t n);
json_t *cl_json_qoses(Colossus__QosInfo *const *v, size_t n);
json_t *cl_json_tokens(Colossus__TokenInfo *const *v, size_t n);
json_t *cl_json_history(Colossus__UsageRecord *const *v, size_t n);
json_t *cl_json_usage(Colossus__UsageRow *const *v, size_t n);
json_t *cl_json_audits(Colossus__AuditRecord *const *v, size_t n);

/* The text form of the CLI's --json and the API: two-space indent, reals with 17
 * significant digits (they read back as the very same double), a final newline.
 * 0, or -1 when writing to f failed. */
int cl_json_write(FILE *f, const json_t *v);

#endif
