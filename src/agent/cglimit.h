/* cglimit.h - a launch's CPU and memory limits in the kernel's cgroups (issue 15), and how
 * to tell afterwards that its ranks were OOM-killed at the limit.
 *
 * Where: cgroup v2 first, in the launch's own cgroup (launch.c makes it for containment):
 * memory.max (memory.swap.max 0) and cpu.max, when those controllers are enabled for it (the
 * agent enables them on its colossus/ parent where the hierarchy lets it). Else cgroup v1,
 * in colossus/<NAME> of the memory and cpu hierarchies (memory.limit_in_bytes and
 * memory.memsw.limit_in_bytes; cpu.cfs_quota_us over cpu.cfs_period_us), which the ranks
 * join before exec (the fds of cl_cglimit_procs_fds()). A hybrid host (systemd's: v2 for
 * containment, v1 for memory) takes v2 for what it can and v1 for the rest. Where neither
 * can be written the limit is not enforced: the caller says so once (placement still counts
 * it).
 *
 * OOM: v2 memory.events oom_kill, v1 memory.oom_control oom_kill; else (an older kernel) a
 * rank killed by SIGKILL with memory.failcnt above 0 (v1) or memory.events max above 0 (v2).
 *
 * Not thread-safe; everything on the agent's loop, blocking file writes of a few bytes. */
#ifndef COLOSSUS_AGENT_CGLIMIT_H
#define COLOSSUS_AGENT_CGLIMIT_H

#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

typedef struct cl_cglimit cl_cglimit_t;

/* Limits for one launch: mem_mb MiB (0: none) and cpu_milli thousandths of a CPU (0: none).
 * v2_cgroup: the launch's cgroup v2 directory, or NULL; name: its name, used for the v1
 * groups. Always returns a limit object (caller destroys it); *enforced says whether every
 * limit asked was written somewhere, and err (when not all) why not. v1_root: the directory
 * holding the v1 hierarchies (NULL: /sys/fs/cgroup; tests give their own). */
cl_cglimit_t *cl_cglimit_apply(const char *v2_cgroup, const char *name, uint64_t mem_mb,
                               uint32_t cpu_milli, const char *v1_root, int *enforced,
                               cl_error_t *err);
/* The v1 groups' cgroup.procs, open for writing (close-on-exec), for a child to write "0"
 * into before it execs: up to 2 fds into fds, their count returned. */
int cl_cglimit_procs_fds(const cl_cglimit_t *g, int fds[2]);
/* After the ranks are gone: 1 when the kernel's OOM killer killed in the group at its memory
 * limit (killed_by_sigkill: the failing rank died of SIGKILL, for the fallback), else 0. */
int cl_cglimit_oom(const cl_cglimit_t *g, int killed_by_sigkill);
/* The memory limit asked, MiB (0: none). */
uint64_t cl_cglimit_mem_mb(const cl_cglimit_t *g);
/* Close the fds and remove the v1 groups (empty once the ranks are gone). Accepts NULL. */
void cl_cglimit_destroy(cl_cglimit_t *g);
/* Remove the v1 groups of agents that are gone (their pid in the name, as launch cgroups);
 * for the agent's start. Returns how many were removed. */
int cl_cglimit_sweep(const char *v1_root);

#endif
