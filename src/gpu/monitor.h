/* monitor.h - the agent's GPU watch: NVML telemetry and XID events of one node, judged by the
 * health policy (health.h) into one node-level action with its reason.
 *
 * The agent creates one monitor at start (after `gpu check --quick`) and polls it every few
 * seconds; each poll returns the telemetry to send to the controller and the worst action the
 * new evidence calls for. The caller (agent/controller) latches actions: a drain stays until
 * `colossus resume`, whatever later polls say. A poll makes NVML calls (a few milliseconds per
 * GPU) and never blocks on events, but it is I/O: run it off the event loop (uv_queue_work). */
#ifndef COLOSSUS_GPU_MONITOR_H
#define COLOSSUS_GPU_MONITOR_H

#include <stddef.h>

#include "gpu/health.h"
#include "gpu/nvml.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CL_GPU_MONITOR_MAX_XIDS 32

typedef struct cl_gpu_monitor cl_gpu_monitor_t;

/* What one poll found. */
typedef struct cl_gpu_node_health {
    cl_health_action_t action; /* worst action this poll's evidence calls for */
    char reason[256];          /* the sentence for it, "" for none */
    int expected;              /* GPUs the node had when the monitor was created */
    int found;                 /* usable GPUs now */
    int nsamples;
    cl_gpu_sample_t samples[CL_NVML_MAX_GPUS]; /* one per GPU of the inventory, index order */
    int nxids; /* XID events since the last poll (at most the array's size) */
    cl_gpu_xid_t xids[CL_GPU_MONITOR_MAX_XIDS];
    cl_health_action_t xid_action[CL_GPU_MONITOR_MAX_XIDS]; /* the action of each */
} cl_gpu_node_health_t;

/* Take the inventory (the GPUs the node is expected to keep) and register for XID events.
 * lim NULL: cl_health_limits_default(). NULL with err set without a driver. Caller destroys. */
cl_gpu_monitor_t *cl_gpu_monitor_create(const cl_health_limits_t *lim, cl_error_t *err);
/* The inventory taken at creation (n entries, n = return value). */
int cl_gpu_monitor_inventory(const cl_gpu_monitor_t *m, const cl_gpu_inv_t **inv);
/* Poll at time `now` (seconds, monotonic): fills *out and returns 0. A GPU NVML no longer
 * answers for (or a driver that went away) shows as lost samples and a drain-now. -1 with err
 * set only when the XID event wait itself fails. */
int cl_gpu_monitor_poll(cl_gpu_monitor_t *m, double now, cl_gpu_node_health_t *out,
                        cl_error_t *err);
/* Accepts NULL. Does not close NVML (other users may hold it). */
void cl_gpu_monitor_destroy(cl_gpu_monitor_t *m);

#ifdef __cplusplus
}
#endif
#endif
