/* keeper.h - the keeper of one launch (issue 14): a small process, one per launch, that is the
 * parent of the launch's ranks instead of the agent, so that the agent can be restarted,
 * upgraded or killed with -9 while the ranks run on, and a later agent on the same work
 * directory adopts them (launch.h, cl_launch_adopt()). As Slurm's slurmstepd and containerd's
 * shims do; why this design: docs/standby.md, "Rolling upgrades".
 *
 * The keeper is forked from a zygote (keeper.c: a process forked once from the agent, handed
 * each launch over a socket; without one, from the agent, twice), so it is never the agent's
 * child: an agent that re-executes itself or dies leaves it to init. It ignores the signals an
 * operator sends an agent (only SIGKILL ends it), shows itself as "colossus-keep" (comm and
 * command line), closes every descriptor but what the ranks' spawn needs, spawns the ranks
 * (launch_spawn.c, as the agent would), and then only:
 *   - reaps them and keeps their exit statuses, which it tells the agent connected to it;
 *   - listens on an abstract Unix socket (SOCK_SEQPACKET) named after the launch, where a
 *     new agent connects and is told everything again (pids, exits, frozen or not);
 *   - enforces the node's lease (docs/standby.md, "Fencing"): a shared page, written by the
 *     agent, holds the time (CLOCK_BOOTTIME, ns) until which a leading controller has
 *     answered; past it the keeper freezes the ranks (cgroup.freeze, or SIGSTOP of their
 *     process groups without a cgroup) and thaws them when the lease is renewed. Frozen
 *     longer than abandon_ms, they are killed (cgroup.kill, or SIGKILL of their groups);
 *   - exits once every rank is reaped and an agent acknowledged their statuses (CL_KEEP_ACK),
 *     or, with no agent, abandon_ms after the last rank ended, writing the statuses to
 *     exit_name in the keep directory first (a later agent reports them from there).
 * Stopping the ranks (SIGTERM, SIGKILL after a grace period) stays the agent's business: it
 * signals their process groups and cgroup itself.
 *
 * The wire: one struct cl_keep_msg per packet, keeper -> agent; one byte CL_KEEP_ACK agent ->
 * keeper. A new agent talks to an old keeper: keep this layout stable (append fields only
 * into text's room, bump CL_KEEP_VERSION when a field's meaning changes). */
#ifndef COLOSSUS_AGENT_KEEPER_H
#define COLOSSUS_AGENT_KEEPER_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/launch_util.h"

#define CL_KEEP_VERSION 1
#define CL_KEEP_ACK 'A'

enum cl_keep_type {
    CL_KEEP_PID = 1, /* index, pid: local rank index runs as pid */
    CL_KEEP_EXIT,    /* index, code, sig: it was reaped (code: exit code or 128 + sig) */
    CL_KEEP_FROZEN,  /* frozen: 1 the ranks are frozen (lease lapsed), 0 thawed */
    CL_KEEP_SYNC,    /* the state so far is told (after the PIDs, exits and FROZEN) */
    CL_KEEP_FAIL,    /* the ranks could not start: text says why (index: the rank) */
};

struct cl_keep_msg {
    uint32_t version, type, index;
    int32_t pid, code, sig, frozen;
    char text[228];
};

typedef struct cl_keep_args {
    const struct cl__spawn_req *reqs; /* one per local rank */
    uint32_t n;
    uint32_t first_rank; /* the global RANK of reqs[0] (for messages) */
    const char *name;    /* the abstract socket's name (no leading NUL), < 100 bytes */
    const char *cgroup;  /* the launch's cgroup v2 directory, or NULL */
    int lease_fd;        /* the lease page's file (expiry, CLOCK_BOOTTIME ns), mapped by the
                          * keeper; 0 or -1, or 0 in it: no lease in force (never frozen) */
    uint32_t abandon_ms; /* see above; 0: 30 s */
    int keep_dir_fd;     /* where exit_name is written, or -1 */
    const char *exit_name;
    const char *title; /* the command line ps shows after the binary's name, or NULL */
} cl_keep_args_t;

/* Where the agent's arguments lie (its cmd_agent's argc, argv), which a keeper overwrites
 * with its title: `pgrep -f "colossus agent"` then finds agents, not keepers. */
void cl__keep_title_area(int argc, char **argv);

/* Start the keeper and, through it, the ranks. 0 when every rank has exec'd: pids[i] is
 * rank i's, *fd the agent's end of the connection (SOCK_SEQPACKET, close-on-exec,
 * non-blocking); the keeper has told pids and SYNC on it. -1 with err when a rank could not
 * start (the keeper killed the others and exited) or the keeper could not be made. The
 * launch's cgroup keeps the agent's pid in its name: cl_launch_sweep() spares the cgroups
 * whose processes are a live keeper's children. */
int cl__keep_spawn(const cl_keep_args_t *a, pid_t *pids, int *fd, cl_error_t *err);

/* Stop the zygote the keepers are forked from (keeper.c), if one runs: before the agent
 * re-executes itself (its keepers are not affected). */
void cl__keep_zygote_stop(void);

/* Connect to the keeper called name: the fd (as above), or -1 with err (none listens). */
int cl__keep_connect(const char *name, cl_error_t *err);

/* The descriptor the spawn uses for the ranks' stdin (launch_spawn.c), opened when needed:
 * the keeper keeps it open. */
int cl__devnull(void);

#endif
