/* usage.h - what a launch used, for its Exited: the energy of its GPUs (NVML total-energy
 * counters read at its start and at its end) and the FLOPs its ranks reported in their
 * COLOSSUS_FLOPS_FILE (docs/protocol.md). */
#ifndef COLOSSUS_AGENT_USAGE_H
#define COLOSSUS_AGENT_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "colossus/core.h" /* cl_error_t, CL_MAX_GPUS_PER_NODE */

#define AG_FLOPS_FILE_MAX 64 /* bytes of a FLOPs file read, at most */

/* A rank's FLOPs file: one decimal number, the FLOPs the rank has executed so far ("1234",
 * "1.5e21"), optionally surrounded by white space; finite and not negative. Opened without
 * following a symbolic link and without blocking (a FIFO, a device or a link the job planted
 * there is refused, not read); with check_owner, a file not owned by uid is refused (a hard
 * link to someone else's file). 1 with *flops; 0 when there is no such file; -1 with err
 * saying what is wrong with it (for a log line: the content itself is never quoted). */
int ag_flops_read(const char *path, bool check_owner, uid_t uid, double *flops,
                  cl_error_t *err);

/* The energy counters of a launch's GPUs. */
typedef struct ag_energy {
    uint32_t n;
    bool ok; /* every counter was read at the start */
    uint32_t gpu[CL_MAX_GPUS_PER_NODE];
    uint64_t mj[CL_MAX_GPUS_PER_NODE];
} ag_energy_t;

/* Read the counters of GPUs gpus[0..n) (NVML indices) at a launch's start (n is capped at
 * CL_MAX_GPUS_PER_NODE). e->ok is false when NVML or a GPU's counter cannot be read: the
 * launch's energy is then unknown. Blocks for a few NVML calls (see cl_nvml_energy()). */
void ag_energy_begin(ag_energy_t *e, const uint32_t *gpus, size_t n);
/* Joules the GPUs used since ag_energy_begin(): the growth of every counter, summed; 0 when
 * unknown (a counter missing at the start or now, or one that went back: the driver was
 * reloaded meanwhile). */
double ag_energy_end(const ag_energy_t *e);

#endif
