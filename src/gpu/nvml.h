/* nvml.h - GPU inventory, telemetry, XID events and fabric info from NVML, loaded at run time.
 *
 * libnvidia-ml.so.1 is opened with dlopen on first use and never linked, so the binary runs
 * on machines with no driver. $COLOSSUS_NVML_LIB names the library to load instead (the tests
 * point it at their fake NVML, or at a missing file to play a driverless machine).
 *
 * Conventions: functions that can fail return -1 (or NULL) and fill err (when it is not NULL)
 * with a one-line sentence; nothing is allocated on failure. All functions are thread-safe (one
 * lock around NVML), but cl_nvml_events_wait() holds it only while polling. */
#ifndef COLOSSUS_GPU_NVML_H
#define COLOSSUS_GPU_NVML_H

#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

#ifdef __cplusplus
extern "C" {
#endif

#define CL_NVML_ENV "COLOSSUS_NVML_LIB"
#define CL_NVML_MAX_GPUS 64

/* One GPU as discovered. clique is "" when the hardware reports no NVLink fabric, otherwise
 * "<cluster uuid>/<clique id>" (see cl_nvml_fabric()). */
typedef struct cl_gpu_inv {
    uint32_t index;
    char name[96];
    char uuid[96];
    char pci_bus_id[32];
    uint64_t mem_total_bytes;
    uint32_t power_limit_mw;
    int ecc_enabled; /* 1 on, 0 off, -1 not reported */
    char clique[64];
} cl_gpu_inv_t;

/* Open NVML (idempotent): load the library and nvmlInit_v2. 0 on success; -1 with err set
 * when the library is missing or the driver does not answer. */
int cl_nvml_open(cl_error_t *err);
/* nvmlShutdown and dlclose; the next call opens it again (the tests swap libraries). */
void cl_nvml_close(void);
/* The library path that was (or will be) tried first. */
const char *cl_nvml_lib_path(void);

/* Number of GPUs (>= 0), filling at most max entries; -1 with err set when NVML cannot be
 * loaded (no driver). A GPU that NVML lists but cannot open (lost, off the bus) is skipped,
 * so the result is the number of usable GPUs; cl_nvml_count() gives the number listed. */
int cl_nvml_inventory(cl_gpu_inv_t *out, int max, cl_error_t *err);
/* Number of GPUs NVML lists, usable or not; -1 with err set without a driver. */
int cl_nvml_count(cl_error_t *err);

/* Which fields of a sample the GPU answered (the others read 0). */
enum {
    CL_GPU_F_POWER = 1u << 0,
    CL_GPU_F_ENERGY = 1u << 1,
    CL_GPU_F_TEMP = 1u << 2,
    CL_GPU_F_UTIL = 1u << 3,
    CL_GPU_F_MEM = 1u << 4,
    CL_GPU_F_CLOCKS = 1u << 5,
    CL_GPU_F_ECC = 1u << 6,            /* ecc_corrected / ecc_uncorrected (volatile) */
    CL_GPU_F_RETIRED = 1u << 7,        /* retired pages (Volta and older) */
    CL_GPU_F_REMAP = 1u << 8,          /* row remapping (Ampere and newer) */
    CL_GPU_F_LIMIT = 1u << 9,          /* power_limit_mw and power_default_mw */
    CL_GPU_F_POWER_INSTANT = 1u << 10, /* power_instant_mw */
};

/* One telemetry sample of one GPU. */
typedef struct cl_gpu_sample {
    uint32_t index;
    uint32_t valid;        /* CL_GPU_F_* bits */
    int lost;              /* 1: NVML says the GPU is lost or cannot open it */
    uint32_t power_mw;     /* board power draw (averaged over 1 s on Ampere and newer) */
    uint64_t energy_mj;    /* total energy since the driver loaded, millijoules */
    uint32_t temp_c;       /* GPU core temperature */
    uint32_t util_gpu_pct; /* percent of time a kernel ran, last sample period */
    uint32_t util_mem_pct; /* percent of time memory was read or written */
    uint64_t mem_used_bytes;
    uint64_t mem_total_bytes;
    uint32_t sm_clock_mhz;
    uint32_t mem_clock_mhz;
    uint64_t ecc_corrected; /* volatile counts: since the last driver load / GPU reset */
    uint64_t ecc_uncorrected;
    uint32_t retired_sbe;      /* pages retired for multiple single-bit errors */
    uint32_t retired_dbe;      /* pages retired for double-bit errors */
    int retired_pending;       /* a retirement waits for the next driver load */
    uint32_t remap_corr_rows;  /* rows remapped for correctable errors */
    uint32_t remap_unc_rows;   /* rows remapped for uncorrectable errors */
    int remap_pending;         /* a remap waits for a GPU reset */
    int remap_failure;         /* a remap failed: no spare row left */
    uint32_t power_limit_mw;   /* the power limit in force */
    uint32_t power_default_mw; /* the GPU's default power limit */
    uint32_t power_instant_mw; /* board power draw now (NVML_FI_DEV_POWER_INSTANT) */
} cl_gpu_sample_t;

/* Sample GPU `index` (NVML numbering). Fields the GPU does not support are left 0 and their
 * bit clear. A lost GPU gives 0 with out->lost = 1. -1 with err set without a driver or for
 * an index past the GPU count. */
int cl_nvml_sample(uint32_t index, cl_gpu_sample_t *out, cl_error_t *err);

/* The total-energy counters of n GPUs (nvmlDeviceGetTotalEnergyConsumption: millijoules since
 * the driver loaded, Volta and newer), read under one hold of the lock, so that a launch's
 * start and end cost one short wait each even while the monitor polls. 0 with mj[i] the
 * counter of GPU index[i]; -1 with err naming the first GPU that has no counter, is lost or
 * does not exist, or when there is no driver (mj is then undefined). */
int cl_nvml_energy(const uint32_t *index, size_t n, uint64_t *mj, cl_error_t *err);

/* Power limits (issue 13). The GPU's default limit and the range it accepts
 * (nvmlDeviceGetPowerManagementDefaultLimit, ...LimitConstraints), mW: 0, or -1 with err. */
int cl_nvml_power_range(uint32_t index, uint32_t *def_mw, uint32_t *min_mw, uint32_t *max_mw,
                        cl_error_t *err);
/* Set GPU index's power limit to mw (nvmlDeviceSetPowerManagementLimit; root only on a real
 * driver); 0 means its default. Refused with err, nothing changed, for a limit outside the
 * GPU's constraints (the sentence names them) or when NVML refuses. */
int cl_nvml_power_limit_set(uint32_t index, uint32_t mw, cl_error_t *err);

/* NVLink fabric of a GPU (nvmlDeviceGetGpuFabricInfo). */
typedef struct cl_gpu_fabric {
    int supported;   /* 0: the GPU has no fabric (PCIe, HGX H100 without NVSwitch FM) */
    int state;       /* 0 not supported, 1 not started, 2 in progress, 3 completed */
    uint32_t status; /* NVML return code of the registration, valid when completed */
    uint32_t clique_id;
    char cluster_uuid[40]; /* 8-4-4-4-12 hex, "" when all zero */
} cl_gpu_fabric_t;

/* 0 and *out filled (supported = 0 when NVML says Not Supported); -1 with err set. */
int cl_nvml_fabric(uint32_t index, cl_gpu_fabric_t *out, cl_error_t *err);

/* XID (critical error) events from every GPU that can report them. */
typedef struct cl_nvml_events cl_nvml_events_t;

typedef struct cl_gpu_xid {
    uint32_t index; /* NVML index of the GPU, UINT32_MAX when unknown */
    char uuid[96];
    uint64_t xid; /* 999 = unknown XID (NVML's convention) */
} cl_gpu_xid_t;

/* Create an event set and register XID events on every usable GPU that supports them.
 * *registered (when not NULL) gets the number of GPUs registered. Caller destroys.
 * NULL with err set without a driver. */
cl_nvml_events_t *cl_nvml_events_create(int *registered, cl_error_t *err);
/* Wait up to timeout_ms (0: poll) for one event: 1 with *out filled, 0 on timeout, -1 with
 * err set on error. */
int cl_nvml_events_wait(cl_nvml_events_t *ev, unsigned timeout_ms, cl_gpu_xid_t *out,
                        cl_error_t *err);
/* Accepts NULL. */
void cl_nvml_events_destroy(cl_nvml_events_t *ev);

/* The NVLink domain of a node from its inventory (pure). 1 with key = the GPUs' common
 * "<cluster uuid>/<clique id>": the node belongs to that multi-node NVLink domain (NVL72 and
 * the like), and every node with the same key is in it. 0 with key "": no GPU reports a fabric,
 * so the node is its own domain (HGX H100, PCIe). -1: the GPUs disagree, or only some have
 * registered with the fabric (fabric manager still starting, or a GPU out of its partition);
 * the agent should report the node unready for multi-node NVLink placement. */
int cl_gpu_nvlink_domain(const cl_gpu_inv_t *g, int n, char *key, size_t len);

/* The NVML symbols this loader resolves, NULL-terminated (the tests check that the fake NVML
 * implements each of them). */
const char *const *cl_nvml_symbols(void);

#ifdef __cplusplus
}
#endif
#endif
