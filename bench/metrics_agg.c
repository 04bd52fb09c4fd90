/* metrics_agg.c - the cost of /metrics' aggregates by pod at Colossus 2 size with every node
 * reporting telemetry (the hollow agents of bench/metrics.bash report none): 550,000 nodes'
 * latest reports (2 GPUs each, unpacked one by one as the controller keeps them, allocated in
 * a shuffled order so that the walk does not follow the heap) summed per pod and rendered, as
 * one scrape's pass does. Prints one JSON object.
 * Usage: metrics_agg [NODES [REPEATS]]   (bench/metrics.bash runs it) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/prom.h"
#include "controller/ctl_metrics_pod.h"
#include "gpu/nvml.h"
#include "util/util.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The report of node i, packed and unpacked like the controller's owned copy. */
static Colossus__NodeHealth *report(uint32_t i)
{
    Colossus__GpuTelemetry g[2], *gp[2];
    for (uint32_t k = 0; k < 2; k++) {
        colossus__gpu_telemetry__init(&g[k]);
        g[k].index = k;
        g[k].valid = CL_GPU_F_POWER | CL_GPU_F_ENERGY | CL_GPU_F_TEMP | CL_GPU_F_UTIL |
                     CL_GPU_F_MEM | CL_GPU_F_CLOCKS | CL_GPU_F_ECC | CL_GPU_F_REMAP;
        g[k].power_mw = 300000 + (i * 7 + k) % 400000;
        g[k].energy_mj = 123456789ull * (i + 1);
        g[k].temp_c = 30 + (i + k) % 60;
        g[k].util_gpu_pct = (i * 3 + k) % 101;
        g[k].mem_total_bytes = 85520809984ull;
        g[k].mem_used_bytes = 1000000000ull + i;
        g[k].sm_clock_mhz = 1980;
        gp[k] = &g[k];
    }
    Colossus__NodeHealth h = COLOSSUS__NODE_HEALTH__INIT;
    h.node = i;
    h.action = "none";
    h.gpus = gp;
    h.n_gpus = 2;
    h.gpus_expected = h.gpus_found = 2;
    uint8_t buf[512];
    size_t len = colossus__node_health__pack(&h, buf);
    Colossus__NodeHealth *copy = colossus__node_health__unpack(NULL, len, buf);
    if (!copy) cl_oom(len, __FILE__, __LINE__);
    return copy;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    uint32_t nodes = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 550000;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1 || reps > 1000) reps = 20;
    cl_error_t err;
    cl_topo_t *t = cl_topo_preset("colossus2", nodes, 2, &err);
    if (!t) {
        fprintf(stderr, "metrics_agg: %s\n", err.msg);
        return 2;
    }
    nodes = cl_topo_nodes(t);
    Colossus__NodeHealth **h = cl_xcalloc(nodes, sizeof *h);
    uint32_t *order = cl_xmalloc(nodes * sizeof *order);
    for (uint32_t i = 0; i < nodes; i++)
        order[i] = i;
    srand(12);
    for (uint32_t i = nodes - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rand() % (i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (uint32_t i = 0; i < nodes; i++)
        h[order[i]] = report(order[i]);
    uint32_t npods = cl_topo_pods(t);
    double *ms = cl_xcalloc((size_t)reps, sizeof *ms);
    uint64_t samples = 0;
    size_t bytes = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        ctl_podagg_t *agg = cl_xcalloc(npods, sizeof *agg);
        for (uint32_t i = 0; i < nodes; i++)
            ctl_podagg_add(&agg[cl_topo_node_pod(t, i)], h[i]);
        cl_prom_t p = {0};
        ctl_podagg_render(&p, t, agg);
        samples = p.nsamples;
        char *text = cl_prom_take(&p, &bytes);
        free(text);
        free(agg);
        ms[r] = (now_s() - t0) * 1e3;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    printf(
        "{\"bench\": \"metrics_agg\", \"nodes\": %u, \"pods\": %u, \"leaves\": %u, "
        "\"gpus_reporting\": %llu, \"repeats\": %d, \"pod_samples\": %llu, "
        "\"pod_bytes\": %zu, \"pass_ms\": {\"min\": %.1f, \"median\": %.1f, \"max\": %.1f}}\n",
        nodes, npods, cl_topo_leaves(t), (unsigned long long)nodes * 2, reps,
        (unsigned long long)samples, bytes, ms[0], ms[reps / 2], ms[reps - 1]);
    for (uint32_t i = 0; i < nodes; i++)
        colossus__node_health__free_unpacked(h[i], NULL);
    free(h);
    free(order);
    free(ms);
    cl_topo_destroy(t);
    return 0;
}
