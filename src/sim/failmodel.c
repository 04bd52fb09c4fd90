/* failmodel.c - per-component failure processes (rates from Llama 3's Table 5, see
 * ../shared/data/failure-model.md) and the sampler that draws them. */
#include <math.h>

#include "sim/sim.h"

/* Llama 3 (arXiv 2407.21783, Table 5): 419 unexpected interruptions in 54 days on
 * 2,048 nodes x 8 H100 = 21,233,664 GPU-hours, 2,654,208 node-hours. Each class's rate is
 * its count over that exposure. detect_s, where Colossus itself detects the failure, is its
 * own measured or configured bound (docs/benchmarks.md, "The real controller and agents"):
 * host: heartbeat loss, declared down within dead-after = 3 s at the controller's defaults
 * (measured 2.3-3.0 s); gpu/hbm: the agent's NVML watch reports an XID or a lost GPU at its
 * next poll, at most --health-poll-ms = 5 s (at once when a rank dies of it); network
 * (switch/cable): the agent's link watch (agent/links.c: carrier, InfiniBand/RoCE port
 * state, read every 500 ms) latches drain-now and reports at once; link lost -> node out
 * measured 0.11-0.54 s by tests/integration/net_link.sh (docs/benchmarks.md, "Issue 16:
 * goodput ablation"), so 1 s bounds it (ByteRobust's cited switch check was 60 s before it,
 * --net-detect-s 60). Where Colossus does not detect it itself, ByteRobust's active health
 * check (cited): driver hang 10 s. repair_h: our assumption (no cited figure). */
#define LLAMA_GPU_H 21233664.0
#define LLAMA_NODE_H 2654208.0
const cl_fail_class_t cl_fail_classes[CL_FAIL_CLASSES] = {
    /* faulty GPU 148, GPU SRAM 19, GPU system processor 17, thermal 6, SDC 6 */
    {"gpu", CL_SCOPE_GPU, false, 196 / LLAMA_GPU_H, 5, 24, 196},
    /* HBM3 72 */
    {"hbm", CL_SCOPE_GPU, false, 72 / LLAMA_GPU_H, 5, 24, 72},
    /* host maintenance 32, NIC 7, SSD 3, PSU 3, chassis 2, IO board 2, CPU 2, DRAM 2 */
    {"host", CL_SCOPE_NODE, true, 53 / LLAMA_NODE_H, 3, 12, 53},
    /* network switch/cable 35 */
    {"network", CL_SCOPE_NODE, false, 35 / LLAMA_GPU_H, 1, 4, 35},
    /* software bug 54, NCCL watchdog 7, dependency 2: the node is rebooted and checked */
    {"software", CL_SCOPE_NODE, false, 63 / LLAMA_GPU_H, 10, 0.25, 63},
};

double cl_fail_rate_per_h(uint64_t gpus, uint64_t nodes, double scale)
{
    double r = 0;
    for (int i = 0; i < CL_FAIL_CLASSES; i++)
        r += cl_fail_classes[i].rate_per_h *
             (double)(cl_fail_classes[i].per_node ? nodes : gpus);
    return r * scale;
}

void cl_fail_sampler_init(cl_fail_sampler_t *s, uint32_t nodes, uint32_t gpus_per_node,
                          double scale)
{
    s->nodes = nodes;
    s->gpus = (uint64_t)nodes * gpus_per_node;
    s->scale = scale;
    double acc = 0;
    for (int i = 0; i < CL_FAIL_CLASSES; i++) {
        const cl_fail_class_t *c = &cl_fail_classes[i];
        acc += c->rate_per_h * (double)(c->per_node ? s->nodes : s->gpus) * scale / 3600.0;
        s->cum[i] = acc;
    }
    s->total_per_s = acc;
    for (int i = 0; i < CL_FAIL_CLASSES; i++)
        s->cum[i] = acc > 0 ? s->cum[i] / acc : 1.0;
    s->cum[CL_FAIL_CLASSES - 1] = 1.0;
}

void cl_fail_sample(const cl_fail_sampler_t *s, cl_rng_t *r, double now, uint32_t gpus_per_node,
                    cl_fail_draw_t *out)
{
    if (s->total_per_s <= 0 || s->nodes == 0) {
        out->t = INFINITY;
        out->cls = 0;
        out->node = out->gpu = 0;
        return;
    }
    out->t = now + cl_rng_exp(r, 1.0 / s->total_per_s);
    double u = cl_rng_uniform(r);
    uint32_t k = 0;
    while (k + 1 < CL_FAIL_CLASSES && u >= s->cum[k])
        k++;
    out->cls = k;
    /* every node holds the same number of GPUs, so a uniform node is a uniform GPU's node */
    out->node = (uint32_t)cl_rng_below(r, s->nodes);
    out->gpu = (uint32_t)cl_rng_below(r, gpus_per_node ? gpus_per_node : 1);
}
