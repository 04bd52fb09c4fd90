/* cluster_id.h - the cluster's identity as an agent knows it, so that a controller started on
 * a new, empty journal (another identity) cannot fence the launches the agent runs for the
 * cluster it belongs to.
 *
 * The controller makes an id when its journal is created and sends it in every Registered
 * (cluster_id; 0 from a controller older than this). The agent keeps the id it belongs to in
 * WORK/cluster-id (16 hex digits, written atomically) and on each Registered decides:
 *   offered 0 (an older controller)        accept, as before identities existed;
 *   no id known yet                         adopt the offered one and store it;
 *   the same id                             accept;
 *   another id, the agent holds launches    refuse this controller: its ranks keep running,
 *     (running, or exited and not yet       and none of its orders is obeyed (the session
 *     acknowledged)                         closes the connection before what follows the
 *                                           Registered); the session retries with its backoff,
 *                                           since the right controller may come back;
 *   another id, the agent holds nothing     adopt the new id (logged) and go on.
 * An operator who wants the agent in the new cluster removes WORK/cluster-id (read again
 * before each refusal: the next try then joins, and the new controller's fence stops the old
 * ranks) or restarts the agent (its ranks end with it, so it holds nothing).
 *
 * One file per agent: a hollow agent's nodes all belong to one cluster. A relay (issue 16)
 * would keep no id of its own and pass the decision down: each agent behind it decides for
 * its own node with its own file, per node, as the session's registered() hook is called. */
#ifndef COLOSSUS_AGENT_CLUSTER_ID_H
#define COLOSSUS_AGENT_CLUSTER_ID_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

typedef enum ag_cluster_verdict {
    AG_CLUSTER_ACCEPT, /* obey this controller; the known id is unchanged */
    AG_CLUSTER_ADOPT,  /* obey it and belong to its cluster from now on */
    AG_CLUSTER_REFUSE, /* another cluster while launches of ours are held */
} ag_cluster_verdict_t;

/* The rule above; known 0: none known. */
ag_cluster_verdict_t ag_cluster_decide(uint64_t known, uint64_t offered, size_t held);

typedef struct ag_cluster {
    char path[PATH_MAX + 16]; /* WORK/cluster-id */
    uint64_t id;              /* the cluster this agent belongs to; 0: none yet */
    uint64_t refusing;        /* the id of the controller refused last; 0: none */
    double refused_log_ms;    /* when the refusal was last logged (cl_now_ms) */
    unsigned refusals;        /* tries refused since then */
    bool told_no_id;          /* "sends no cluster id" is logged once */
} ag_cluster_t;

/* Read WORK/cluster-id (none: id 0). -1 with err set when it exists but cannot be read or
 * holds no id: c is then set up with id 0 (the next adoption writes the file anew). */
int ag_cluster_load(ag_cluster_t *c, const char *work_dir, cl_error_t *err);

/* True when an id is offered that differs from the one known: the caller then counts what it
 * holds for ag_cluster_check() (a hollow agent's launches are many; don't count them for
 * each of its nodes' Registered). */
bool ag_cluster_differs(const ag_cluster_t *c, uint64_t offered);

/* The decision on a Registered from the controller at `controller` carrying `offered`, while
 * the agent holds `held` launches, `running` of them still running (both may be 0 when
 * ag_cluster_differs() is false). Adopting stores the id; refusing logs a line at the first
 * refusal of an id and then at most once a minute. True to accept the controller. */
bool ag_cluster_check(ag_cluster_t *c, uint64_t offered, size_t held, size_t running,
                      const char *controller);

#endif
