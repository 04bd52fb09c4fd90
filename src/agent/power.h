/* power.h - the agent's GPU power limits (issue 13, docs/power.md): the controller's
 * PowerLimit orders applied through NVML (nvmlDeviceSetPowerManagementLimit), and every
 * limit it changed put back to the GPU's default (nvmlDeviceGetPowerManagementDefaultLimit)
 * when the job on that GPU ends, when the agent stops, and at the next start after a crash:
 * what it changed is written to WORK/power-limits before each change (write-ahead), so a
 * restarted agent knows which GPUs to restore.
 * The floor between runs: a job whose PowerLimit had hold_s > 0 leaves its GPUs, when it
 * ends, held at their draw by the burn-in library's floor burn (burn.h; limits only without
 * it) and the power limit, at the levels the controller's PowerHold orders then give, until
 * it releases them (draw 0), a job's PowerLimit takes them, or orders stop coming (for_s).
 * Loop thread only. */
#ifndef COLOSSUS_AGENT_POWER_H
#define COLOSSUS_AGENT_POWER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "colossus.pb-c.h"
#include "colossus/core.h"

typedef struct ag_power ag_power_t;

/* work_dir's record of a previous run is read and its GPUs restored (logged), then the
 * record is emptied. Never NULL (allocation failure aborts). */
ag_power_t *ag_power_create(const char *work_dir);
/* Apply o's limits (0: the default) to its GPUs for job o->job; *out (caller frees with
 * ag_power_applied_free) the limits now in force, error "" or the first GPU's refusal (the
 * others still applied). */
void ag_power_apply(ag_power_t *p, const Colossus__PowerLimit *o, Colossus__PowerApplied *out);
void ag_power_applied_free(Colossus__PowerApplied *out);
/* The job ended on this node: its GPUs held (armed by its PowerLimit) or back to their
 * default limits. */
void ag_power_job_ended(ag_power_t *p, uint64_t job);
/* The timer that releases holds whose orders stopped coming (the loop is not kept alive by
 * it). */
void ag_power_loop(ag_power_t *p, uv_loop_t *loop);
/* A PowerHold order for the GPUs job o->job left held. */
void ag_power_hold(ag_power_t *p, const Colossus__PowerHold *o);
/* Every GPU changed back to its default, then freed. Accepts NULL. */
void ag_power_destroy(ag_power_t *p);

#endif
