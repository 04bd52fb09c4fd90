/* json.h - the one JSON rendering of a job, a node and a tenant, shared by the CLI's --json
 * and the REST API. The field names, types and nullability are written down once, in
 * docs/api/schema.json ($defs job, node, tenant: JSON Schema draft 2020-12) and
 * docs/api/README.md; a field added or renamed here must be added or renamed there
 * (tests/integration/cli_json_schema.sh and tests/unit/test_api_json.c fail otherwise).
 *
 * Every function returns a new object (never NULL: allocation failure aborts, util.h) that
 * the caller owns and releases with json_decref(). The input is only read; it may come off
 * the wire (the CLI) or be filled by the controller (the API). Whatever it holds, the result
 * dumps as valid JSON: a NULL string is rendered "", bytes that are not UTF-8 become U+FFFD,
 * and a real that is not finite becomes null. */
#ifndef COLOSSUS_API_JSON_H
#define COLOSSUS_API_JSON_H

#include <stdio.h>

#include <jansson.h>

#include "colossus.pb-c.h"

/* A job (schema #/$defs/job): times null until they happen, exit_code null until it ended. */
json_t *cl_json_job(const Colossus__JobInfo *j);
/* A node (schema #/$defs/node), with its GPU health and telemetry (null where the node does
 * not watch its GPUs). */
json_t *cl_json_node(const Colossus__NodeInfo *n);
/* A tenant (schema #/$defs/tenant): shares, decayed usage, fair-share factor, its jobs. */
json_t *cl_json_tenant(const Colossus__TenantInfo *t);

/* JSON arrays of those renderings, in the order given: what `jobs --json`, `nodes --json` and
 * `tenants --json` print and what the API's list answers hold. */
json_t *cl_json_jobs(Colossus__JobInfo *const *v, size_t n);
json_t *cl_json_nodes(Colossus__NodeInfo *const *v, size_t n);
json_t *cl_json_tenants(Colossus__TenantInfo *const *v, size_t n);

/* The text form of the CLI's --json and the API: two-space indent, reals with 17
 * significant digits (they read back as the very same double), a final newline.
 * 0, or -1 when writing to f failed. */
int cl_json_write(FILE *f, const json_t *v);

#endif
