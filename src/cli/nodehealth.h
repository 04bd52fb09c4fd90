/* nodehealth.h - how `colossus nodes` shows a node's GPU health and telemetry (JSON, table). */
#ifndef COLOSSUS_CLI_NODEHEALTH_H
#define COLOSSUS_CLI_NODEHEALTH_H

#include <stddef.h>

#include <jansson.h>

#include "colossus.pb-c.h"

/* Add "health", "health_reason", "nvlink_domain", "telemetry" and "xids" to a node's JSON
 * object (null where the node does not watch its GPUs). */
void cl_cli_node_health_json(const Colossus__NodeInfo *n, json_t *obj);
/* The table's health columns: HEALTH, TEMP_C (hottest GPU), POWER_W (sum), ECC (corrected/
 * uncorrected, summed over the GPUs). */
void cl_cli_node_health_cols(const Colossus__NodeInfo *n, char *buf, size_t len);
extern const char cl_cli_node_health_head[];

#endif
