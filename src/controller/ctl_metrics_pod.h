/* ctl_metrics_pod.h - /metrics aggregates by pod (docs/metrics.md, "By pod"): the GPUs'
 * latest telemetry summed per pod in the scrape's one pass over the nodes, and XIDs counted by
 * code and by pod as their reports reach the controller. The aggregator is pure (a node's
 * report in, a pod's sums out) so that bench/metrics_agg.c times it at 550,000 nodes. */
#ifndef COLOSSUS_CONTROLLER_CTL_METRICS_POD_H
#define COLOSSUS_CONTROLLER_CTL_METRICS_POD_H

#include <stdint.h>

#include "api/prom.h"
#include "colossus/core.h"
#include "controller/controller.h"
#include "proto/frame.h"

/* One pod's sums over the GPUs of its heartbeating nodes that have a telemetry sample. */
typedef struct ctl_podagg {
    uint64_t gpus;     /* GPUs with a sample (not lost) */
    double watts;      /* power draw, of the GPUs that report it */
    double temp_sum;   /* degrees C, of the ntemp GPUs that report it */
    uint32_t temp_max; /* the hottest */
    uint64_t ntemp;
    double util_sum; /* percent, of the nutil GPUs that report it */
    uint64_t nutil;
} ctl_podagg_t;

/* Add a node's latest report (NULL: none) to its pod's sums. */
void ctl_podagg_add(ctl_podagg_t *a, const Colossus__NodeHealth *h);
/* The pod families, for the pods of t with at least one GPU reporting (agg[pod]). */
void ctl_podagg_render(cl_prom_t *p, const cl_topo_t *t, const ctl_podagg_t *agg);
/* The XID counters: by code, and by pod. */
void ctl_metrics_xids(const ctl_t *c, cl_prom_t *p);

#endif
