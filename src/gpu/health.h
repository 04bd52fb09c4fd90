/* health.h - GPU health policy: what an XID, an error counter or a failed check does to a node.
 *
 * Pure: no I/O, no clock, no globals; time is an argument and the caller keeps the per-GPU
 * state. The agent feeds it NVML samples and XID events and sends the resulting action and
 * reason to the controller; the controller uses cl_health_is_node_failure() to decide whether a
 * rank that died is a node failure (the job restarts) or the user's error. The policy and the
 * sources of every class and threshold are in docs/health.md. */
#ifndef COLOSSUS_GPU_HEALTH_H
#define COLOSSUS_GPU_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "gpu/nvml.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ordered by severity: cl_health_worst() of two actions is the larger. */
typedef enum cl_health_action {
    CL_HEALTH_NONE = 0,            /* healthy */
    CL_HEALTH_DRAIN_AFTER_JOB = 1, /* preventive: take no new job; drain when the running job
                                      ends; back after `colossus resume` and a passing check */
    CL_HEALTH_DRAIN_NOW = 2,       /* node failure: stop the node's job now (the gang restarts
                                      elsewhere) and drain */
    CL_HEALTH_KEEP_OUT = 3,        /* a gpu check failed: out of service until a check passes */
} cl_health_action_t;

/* "none", "drain-after-job", "drain-now", "keep-out". */
const char *cl_health_action_name(cl_health_action_t a);
/* Parse the names above; -1 for anything else. */
int cl_health_action_parse(const char *name);
cl_health_action_t cl_health_worst(cl_health_action_t a, cl_health_action_t b);
/* 1 when a rank that dies on a node in this state is counted as a node failure (the job is
 * restarted and not charged to the user): drain-now and keep-out. */
int cl_health_is_node_failure(cl_health_action_t a);

/* ---------------------------------------------------------------- XID ----------------------
 */
typedef enum cl_xid_class {
    CL_XID_APP = 0,        /* the application's own fault (bad address, illegal instruction):
                              nothing wrong with the node */
    CL_XID_INFO = 1,       /* follows another XID or reports a recovery: recorded only */
    CL_XID_PREVENTIVE = 2, /* hardware or firmware trouble that leaves running work intact, and
                              any XID this table does not know: drain after the job */
    CL_XID_FATAL = 3,      /* the GPU cannot be trusted until it is reset or repaired: drain
                              now, node failure */
} cl_xid_class_t;

cl_xid_class_t cl_health_xid_class(uint64_t xid);
/* "app", "info", "preventive", "fatal". */
const char *cl_health_xid_class_name(cl_xid_class_t c);
/* A short description of a known XID ("double-bit ECC error"), "unknown XID" otherwise. */
const char *cl_health_xid_desc(uint64_t xid);
/* The action an XID calls for; reason (when not NULL) gets e.g.
 * "GPU 3: XID 79 (GPU has fallen off the bus): fatal". */
cl_health_action_t cl_health_xid(uint32_t gpu, uint64_t xid, char *reason, size_t len);

/* ---------------------------------------------------------------- counters -----------------
 */
typedef struct cl_health_limits {
    double window_s;           /* corrected-error rate window (default 3600 s) */
    uint64_t corr_after_job;   /* corrected ECC errors within a window -> drain after job */
    uint64_t corr_now;         /* corrected ECC errors within a window -> drain now */
    uint32_t retired_max;      /* retired pages (SBE + DBE) at which a GPU is due for repair */
    uint32_t temp_after_job_c; /* core temperature -> drain after job; 0 = not judged */
} cl_health_limits_t;

/* Defaults of docs/health.md: 3600 s, 100, 10000, 60, 0. */
void cl_health_limits_default(cl_health_limits_t *lim);

/* Per-GPU state the caller keeps between samples (plain data; zero it with _init). */
typedef struct cl_health_gpu {
    int have;
    double t0, t1;   /* window checkpoints: t0 older, t1 newer */
    uint64_t c0, c1; /* corrected count at t0, t1 */
    uint64_t last_corr;
    uint64_t last_unc; /* uncorrected count at the last sample */
    int have_remap;
    uint32_t last_remap_unc;
} cl_health_gpu_t;

void cl_health_gpu_init(cl_health_gpu_t *st);

/* Judge one sample taken at `now` (seconds, any monotonic origin, non-decreasing per GPU).
 * Returns the worst action it calls for; reason gets the sentence for the worst one ("" when
 * none). Counters that go down (driver reload, GPU reset) start a new baseline.
 * Rules, worst first: GPU lost, uncorrected ECC errors grew, row remapping failed, corrected
 * errors >= corr_now within a window -> drain now; corrected errors >= corr_after_job within a
 * window, a row remap or page retirement pending, rows remapped for uncorrectable errors grew,
 * retired pages >= retired_max, temperature >= temp_after_job_c -> drain after job. */
cl_health_action_t cl_health_sample(cl_health_gpu_t *st, const cl_health_limits_t *lim,
                                    const cl_gpu_sample_t *s, double now, char *reason,
                                    size_t len);

/* ---------------------------------------------------------------- node-level ---------------
 */
/* A node that registered `expected` GPUs and now finds `found` usable ones. */
cl_health_action_t cl_health_inventory(int expected, int found, char *reason, size_t len);
/* The result of `colossus gpu check`: failed -> keep out, with why in the reason. */
cl_health_action_t cl_health_check(int passed, const char *why, char *reason, size_t len);

#ifdef __cplusplus
}
#endif
#endif
