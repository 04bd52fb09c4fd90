/* agent_health.h - the agent's side of GPU health (issue 5, docs/health.md): the NVML monitor
 * polled off the event loop, `colossus gpu check` at start, before jobs and on the controller's
 * order, and the NodeHealth reports the agent batches into its heartbeats.
 *
 * The agent latches the worst action since the last passing check (a fatal XID is one event,
 * not a state), so a report lost with a connection is repeated by the next one; the controller
 * latches too and journals it. A passing check clears the agent's latch. */
#ifndef COLOSSUS_AGENT_HEALTH_H
#define COLOSSUS_AGENT_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "colossus.pb-c.h"
#include "colossus/core.h" /* cl_error_t */

struct cl_gpu_inv; /* gpu/nvml.h */

typedef struct ag_health ag_health_t;

typedef enum { AG_CHECK_OFF = 0, AG_CHECK_QUICK = 1, AG_CHECK_FULL = 2 } ag_check_mode_t;

typedef struct ag_health_opts {
    ag_check_mode_t at_start;   /* gpu check before the agent first registers */
    ag_check_mode_t before_job; /* gpu check before every launch */
    uint32_t poll_ms;           /* NVML poll period (telemetry, XIDs, counters) */
    const char *links;          /* network links watched (links.h: auto, none, a list) */
    const char *sysfs_root;     /* where sysfs is ("/sys"; a test's tree) */
} ag_health_opts_t;

/* Called when something the controller must hear at once happened (the latched action got
 * worse, a check ended): the agent sends a heartbeat now. */
typedef void ag_health_urgent_f(void *arg);

/* Opens NVML and takes the inventory (the GPUs the node registers). NULL with err set when
 * NVML cannot be loaded or lists no usable GPU. Caller destroys. */
ag_health_t *ag_health_create(uv_loop_t *loop, const ag_health_opts_t *o,
                              ag_health_urgent_f *urgent, void *arg, cl_error_t *err);
/* Stops polling and closes its handles; a check in flight is killed. Accepts NULL. Run the
 * loop afterwards so that the handles close. */
void ag_health_destroy(ag_health_t *h);

/* The inventory taken at creation. */
int ag_health_inventory(const ag_health_t *h, const struct cl_gpu_inv **inv);
/* The node's NVLink domain (cl_gpu_nvlink_domain): 1 key set, 0 own domain, -1 unready. */
int ag_health_nvlink_domain(const ag_health_t *h, char *key, size_t len);

/* Run the start-up check (if configured) and start polling; ready(arg) once the check ended
 * (at once when none is configured). */
void ag_health_start(ag_health_t *h, void (*ready)(void *arg), void *arg);

/* Build the report for node id: the latest telemetry, the XIDs not yet reported, the latched
 * action and the last check. NULL only when nothing is new since the last report (unless
 * force). Free it with ag_health_report_free() once sent. */
Colossus__NodeHealth *ag_health_report(ag_health_t *h, uint32_t node, bool force);
void ag_health_report_free(Colossus__NodeHealth *r);

/* The controller ordered a check (seq is echoed in the report). One at a time: an order
 * while a check runs is answered by that check. */
void ag_health_check_order(ag_health_t *h, const Colossus__CheckOrder *o);

/* A rank ended badly: poll NVML now (so that an XID or a lost GPU that killed it reaches the
 * controller before the exit does), then call done(arg). */
void ag_health_poll_then(ag_health_t *h, void (*done)(void *arg), void *arg);

/* Pre-job check: if configured, hold the launch, run the check, and call go(L copy, arg) when
 * it passed (or could not run: a missing burn-in library does not keep jobs off the node); on
 * failure the launch is dropped (the node reports keep-out: the controller restarts the job
 * elsewhere as a node failure). Returns false when no pre-job check is configured (the caller
 * launches at once). */
typedef void ag_health_go_f(const Colossus__Launch *L, void *arg);
bool ag_health_hold_launch(ag_health_t *h, const Colossus__Launch *L, ag_health_go_f *go,
                           void *arg);
/* Forget held launches: a Stop of (node, job, incarnation <= inc), or all (fence: job 0). */
void ag_health_drop_held(ag_health_t *h, uint32_t node, uint64_t job, uint32_t inc);

#endif
