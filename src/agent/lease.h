/* lease.h - the node's lease (issue 14, docs/standby.md "Fencing"): one shared page in
 * WORK/keep/lease holding the time (CLOCK_BOOTTIME, ns) until which the node's ranks may run.
 * The agent writes it when a leading controller answers a heartbeat (HeartbeatAck): the send
 * time of that heartbeat plus the lease's length, shorter than the controller's dead-after,
 * so that a node cut off freezes its ranks before the controller may run them elsewhere. The
 * keepers (keeper.h) map the same page and freeze their ranks once it lies in the past; 0 in
 * it means no lease is in force (a controller that does not answer heartbeats: never frozen).
 * Shared memory and not a message: a keeper whose agent is gone, stopped or killed must still
 * see the lease run out. */
#ifndef COLOSSUS_AGENT_LEASE_H
#define COLOSSUS_AGENT_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

typedef struct ag_lease ag_lease_t;

/* Open (making it when missing, mode 0600) dir/lease and map it. NULL with err. The value
 * found is kept: a restarted agent's ranks stay as the last agent left them. */
ag_lease_t *ag_lease_open(const char *dir, cl_error_t *err);
void ag_lease_close(ag_lease_t *l); /* accepts NULL */
/* The page's file, open (above 2, close-on-exec), for the keepers to map (launch.h's
 * spec->lease_fd); -1 for NULL. */
int ag_lease_fd(const ag_lease_t *l);
/* Valid until `until` (boot ns). */
void ag_lease_renew(ag_lease_t *l, uint64_t until);
/* Whether the lease is in force and past (the ranks are, or are about to be, frozen). */
bool ag_lease_lapsed(const ag_lease_t *l);
uint64_t ag_lease_now(void); /* CLOCK_BOOTTIME in ns */

#endif
