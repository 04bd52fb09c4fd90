/* ctl_metrics_pod.c - /metrics aggregates by pod (docs/metrics.md, "By pod"): GPU power,
 * temperature and utilisation summed per pod from the nodes' latest telemetry (the scrape's
 * one pass over the nodes feeds ctl_podagg_add), and XIDs counted by code and by pod as the
 * reports carrying them arrive (ctl_metrics_xid), so that a burst is never lost between two
 * scrapes the way a gauge of the last XID would lose it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"
#include "controller/ctl_metrics_pod.h"
#include "gpu/nvml.h"

#define P "colossus_"

void ctl_metrics_xid(ctl_t *c, uint32_t node, uint64_t code)
{
    ctl_counters_t *k = &c->count;
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    if (!k->xid_pod) k->xid_pod = cl_xcalloc(cl_topo_pods(t), sizeof *k->xid_pod);
    if (node < c->nnodes) k->xid_pod[cl_topo_node_pod(t, node)]++;
    /* The codes in ascending order (a few dozen exist: a linear search is the cheap one). */
    uint32_t i = 0;
    while (i < k->xid_codes && k->xid_code[i] < code)
        i++;
    if (i < k->xid_codes && k->xid_code[i] == code) {
        k->xid_n[i]++;
    } else if (k->xid_codes < CTL_XID_CODES) {
        memmove(&k->xid_code[i + 1], &k->xid_code[i], (k->xid_codes - i) * sizeof *k->xid_code);
        memmove(&k->xid_n[i + 1], &k->xid_n[i], (k->xid_codes - i) * sizeof *k->xid_n);
        k->xid_code[i] = code;
        k->xid_n[i] = 1;
        k->xid_codes++;
    } else {
        k->xid_n[CTL_XID_CODES]++; /* code="other": the label set stays bounded */
    }
}

void ctl_podagg_add(ctl_podagg_t *a, const Colossus__NodeHealth *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_gpus; i++) {
        const Colossus__GpuTelemetry *g = h->gpus[i];
        if (g->lost) continue;
        a->gpus++;
        if (g->valid & CL_GPU_F_POWER) a->watts += g->power_mw / 1000.0;
        if (g->valid & CL_GPU_F_TEMP) {
            a->temp_sum += g->temp_c;
            a->ntemp++;
            if (g->temp_c > a->temp_max) a->temp_max = g->temp_c;
        }
        if (g->valid & CL_GPU_F_UTIL) {
            a->util_sum += g->util_gpu_pct;
            a->nutil++;
        }
    }
}

void ctl_podagg_render(cl_prom_t *p, const cl_topo_t *t, const ctl_podagg_t *agg)
{
    uint32_t n = cl_topo_pods(t);
#define PODS(fam, type, help, cond, expr)                                                      \
    do {                                                                                       \
        cl_prom_family(p, P fam, type, help);                                                  \
        for (uint32_t i = 0; i < n; i++) {                                                     \
            const ctl_podagg_t *a = &agg[i];                                                   \
            if (a->gpus && (cond))                                                             \
                cl_prom_sample1(p, P fam, "pod", cl_topo_pod_name(t, i), (double)(expr));      \
        }                                                                                      \
    } while (0)
    PODS("pod_gpus_reporting", "gauge",
         "GPUs of the pod's heartbeating nodes whose latest telemetry has a sample (pods with "
         "one).",
         1, a->gpus);
    PODS("pod_power_watts", "gauge", "Power draw of the pod's reporting GPUs, summed.", 1,
         a->watts);
    PODS("pod_gpu_temperature_max_celsius", "gauge", "The hottest reporting GPU of the pod.",
         a->ntemp, a->temp_max);
    PODS("pod_gpu_temperature_mean_celsius", "gauge",
         "Mean temperature of the pod's reporting GPUs.", a->ntemp, a->temp_sum / a->ntemp);
    PODS("pod_gpu_utilization_ratio", "gauge",
         "Mean GPU utilisation (NVML's, 0 to 1) of the pod's reporting GPUs.", a->nutil,
         a->util_sum / 100.0 / a->nutil);
#undef PODS
}

void ctl_metrics_xids(const ctl_t *c, cl_prom_t *p)
{
    const ctl_counters_t *k = &c->count;
    cl_prom_family(p, P "gpu_xid_total", "counter",
                   "XIDs the nodes reported since the controller started, by code (codes "
                   "beyond the first 32 seen: code=\"other\").");
    char code[24];
    for (uint32_t i = 0; i < k->xid_codes; i++) {
        snprintf(code, sizeof code, "%llu", (unsigned long long)k->xid_code[i]);
        cl_prom_sample1(p, P "gpu_xid_total", "code", code, (double)k->xid_n[i]);
    }
    if (k->xid_n[CTL_XID_CODES])
        cl_prom_sample1(p, P "gpu_xid_total", "code", "other", (double)k->xid_n[CTL_XID_CODES]);
    cl_prom_family(p, P "pod_xid_total", "counter",
                   "XIDs the pod's nodes reported since the controller started (pods with "
                   "one).");
    const cl_topo_t *t = cl_cluster_topo(c->cluster);
    for (uint32_t i = 0; k->xid_pod && i < cl_topo_pods(t); i++)
        if (k->xid_pod[i])
            cl_prom_sample1(p, P "pod_xid_total", "pod", cl_topo_pod_name(t, i),
                            (double)k->xid_pod[i]);
}
