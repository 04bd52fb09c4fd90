/* backend.h - the agent's launch backends: what a Launch order becomes on a node. The process
 * backend (backend_proc.c) runs the ranks as processes through the launcher (launch.h), with
 * their logs in WORK/logs; the hollow backend (backend_hollow.c) runs nothing: a launch ends
 * after --hollow-run-ms, so that one agent can play thousands of nodes over the real
 * protocol for load tests of the real controller (as Kubernetes' kubemark does). The agent
 * (agent.c) is the same whichever backend it drives: Started, Exited, fencing and the exit
 * after an NVML poll are its business, not the backend's.
 *
 * A run is one launch (one incarnation of one job on one node). Its life cycle:
 *   start()    0 once the launch runs (processes: every rank has exec'd, so the agent may
 *              report Started) with the run in *out; later done(arg, end) is called exactly
 *              once, on the loop, when it is over (ag_run_end_t). -1 with err set when the
 *              launch cannot start or is refused (the ranks' uid: identity.h): nothing runs,
 *              done is never called, and a backend that keeps logs has written the reason
 *              into the log of the node's first rank (node_rank * ranks_per_node), which the
 *              agent reports as failed with exit 127.
 *   stop()     end the run early (SIGTERM, SIGKILL after a grace period); done follows, maybe
 *              from within stop() itself (the hollow backend). Does nothing after done.
 *   release()  free the run; may be called at any time: before done, whatever still runs
 *              is killed and done is never called.
 *   logs()     the log of global rank `rank` of job `job`, at most `max` bytes of it (its
 *              tail, or its head and tail) plus notes of at most AG_RANKLOG_NOTE_MAX bytes
 *              saying what was left out, if anything (ranklog.h): 0 with *data (caller
 *              frees) and *len, or -1 with err set (no such log, or a backend that keeps
 *              none). With follow (logs -f), the bytes from *at on instead, and *at moved
 *              past them (ag_ranklog_read_from()); else *at (at not NULL) is the log's size,
 *              where a follower would go on.
 *   destroy()  once every run is released. Accepts NULL. The loop must run afterwards for
 *              what the backend closes to close.
 *
 * The Launch passed to start() may be freed once start() returns. Not thread-safe: call
 * everything from the thread that runs the loop. */
#ifndef COLOSSUS_AGENT_BACKEND_H
#define COLOSSUS_AGENT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "colossus.pb-c.h"
#include "agent/ranklog.h"
#include "colossus/core.h" /* cl_error_t */

typedef struct ag_backend ag_backend_t;
typedef struct ag_run ag_run_t; /* each backend's own run, behind this name */

/* How a run ended. */
typedef struct ag_run_end {
    int result;      /* 0 when every rank exited 0, else the first failing rank's exit code or
                      * 128 + its signal */
    int failed_rank; /* that rank's global RANK, -1 when result is 0 */
    int signal;      /* the signal that killed it, 0 when it exited */
    double flops;    /* FLOPs the ranks reported (COLOSSUS_FLOPS_FILE, summed); 0: none */
    double energy_j; /* the backend's own figure (hollow: synthetic), or -1: the agent
                      * measures it (NVML counters) */
    bool oom;        /* the kernel's OOM killer killed a rank at the memory limit */
    uint64_t mem_limit_mb; /* that limit (the Launch's mem_per_gpu_mb x its GPUs) */
} ag_run_end_t;

typedef void ag_run_done_f(void *arg, const ag_run_end_t *end);

/* Adoption (issue 14): a run a previous agent left to its keeper. The backend makes the run,
 * asks the owner for the done callback's argument (the owner's record of the launch, made
 * from L), then adopts it: done follows as for a started run, maybe before adopt() returns
 * (a run that ended while no agent was there, or whose keeper is gone). */
typedef void *ag_adopt_f(void *arg, const Colossus__Launch *L, ag_run_t *run);

typedef struct ag_backend_ops {
    const char *name; /* "process", "hollow" */
    int (*start)(ag_backend_t *b, const Colossus__Launch *L, ag_run_done_f *done, void *arg,
                 ag_run_t **out, cl_error_t *err);
    void (*stop)(ag_backend_t *b, ag_run_t *r, const char *why, bool now);
    void (*release)(ag_backend_t *b, ag_run_t *r);
    /* issue 14, NULL where the backend keeps nothing (hollow): adopt every run a previous
     * agent left (returns how many; then what died agents left is swept), and hand every
     * run over (their releases from now on let them run on, for the next agent) */
    int (*adopt)(ag_backend_t *b, ag_run_done_f *done, ag_adopt_f *cb, void *arg);
    void (*handover)(ag_backend_t *b);
    int (*logs)(ag_backend_t *b, uint64_t job, uint32_t rank, size_t max, bool follow,
                uint64_t *at, uint8_t **data, size_t *len, cl_error_t *err);
    void (*destroy)(ag_backend_t *b);
} ag_backend_ops_t;

/* The first member of every backend. */
struct ag_backend {
    const ag_backend_ops_t *ops;
};

static inline const char *ag_backend_name(const ag_backend_t *b)
{
    return b->ops->name;
}

static inline int ag_backend_start(ag_backend_t *b, const Colossus__Launch *L,
                                   ag_run_done_f *done, void *arg, ag_run_t **out,
                                   cl_error_t *err)
{
    return b->ops->start(b, L, done, arg, out, err);
}

/* why: for the backend's log line, if it writes one. now: SIGKILL at once, no grace (ranks
 * frozen by a lapsed lease must never run again, not even to handle SIGTERM). */
static inline void ag_backend_stop(ag_backend_t *b, ag_run_t *r, const char *why, bool now)
{
    b->ops->stop(b, r, why, now);
}

static inline int ag_backend_adopt(ag_backend_t *b, ag_run_done_f *done, ag_adopt_f *cb,
                                   void *arg)
{
    return b->ops->adopt ? b->ops->adopt(b, done, cb, arg) : 0;
}

static inline void ag_backend_handover(ag_backend_t *b)
{
    if (b->ops->handover) b->ops->handover(b);
}

static inline void ag_backend_release(ag_backend_t *b, ag_run_t *r)
{
    if (r) b->ops->release(b, r);
}

static inline int ag_backend_logs(ag_backend_t *b, uint64_t job, uint32_t rank, size_t max,
                                  bool follow, uint64_t *at, uint8_t **data, size_t *len,
                                  cl_error_t *err)
{
    return b->ops->logs(b, job, rank, max, follow, at, data, len, err);
}

static inline void ag_backend_destroy(ag_backend_t *b)
{
    if (b) b->ops->destroy(b);
}

/* The process backend's rank logs (ranklog.h). */
typedef struct ag_proc_opts {
    uint64_t log_max;      /* bytes a rank's log keeps on disk (AG_RANKLOG_MIN or more); 0: no
                            * limit */
    uint32_t log_check_ms; /* how often running ranks' logs are looked at; 0: every
                            * AG_RANKLOG_CHECK_MS */
    bool log_no_punch;     /* act as on a file system that cannot punch holes (tests) */
    bool allow_root_jobs;  /* run ranks as uid 0 / gid 0 when a Launch asks (identity.h) */
    const char *log_root;  /* rank logs in LOG_ROOT/NODE (shared storage the controller reads
                            * when the node is gone); NULL: WORK/logs */
    const char *cgroup_v1_root; /* the cgroup v1 hierarchies for limits; NULL: /sys/fs/cgroup */
    /* issue 14: each launch's ranks under a keeper (keeper.h), recorded in WORK/keep so that a
     * later agent adopts them (adopt); lease_fd: the node's lease page (lease.h's
     * ag_lease_fd(); 0 or -1: none);
     * abandon_ms: keeper.h's (0: 30 s) */
    bool keep;
    int lease_fd;
    uint32_t abandon_ms;
} ag_proc_opts_t;

/* Ranks as processes, as the Launch's uid:gid (identity.h; o->allow_root_jobs), each node's
 * ranks under the Launch's CPU and memory limits (cglimit.h; not enforced where no cgroup can
 * be written: said once in the agent's log). Rank logs go
 * to WORK/logs/job<ID>.rank-<R>.log (or o->log_root/NODE/...; WORK/logs mode 0700, the agent's;
 * each log 0600, the job's user's; made with a pool of spare files: filepool.h), bounded to
 * o->log_max bytes each while their ranks run, looked at every o->log_check_ms and once more
 * when the launch ends (ranklog.h). Each launch has a per-node job directory WORK/jobs/<ID>
 * (WORK/jobs mode 0711: reachable, not listable; the job's directory 0700, the job's user's),
 * where its ranks' COLOSSUS_FLOPS_FILEs are, read, summed and removed when the launch ends (the
 * directory too once empty); it is the ranks' working directory when the submitter's does
 * not exist on this node. node_name is for messages ("no log for rank 3 of job 7 on node
 * n1"); ngpus sizes the pool; o NULL: a limit of AG_RANKLOG_MAX_DEFAULT, no root jobs.
 * Removes what agents that died left in their cgroups (cl_launch_sweep(); with o->keep, at
 * adopt(), sparing what was adopted). NULL with err set
 * when WORK/logs or WORK/jobs cannot be made or o->log_max is below AG_RANKLOG_MIN. */
ag_backend_t *ag_backend_proc_create(uv_loop_t *loop, const char *work_dir,
                                     const char *node_name, int ngpus, const ag_proc_opts_t *o,
                                     cl_error_t *err);

/* Simulated launches: each ends with success run_ms after it started, or at once with
 * 128 + SIGTERM of rank 0 when stopped. Keeps no logs. Each reports synthetic usage for the
 * time it ran: AG_HOLLOW_GPU_W watts and AG_HOLLOW_GPU_FLOPS FLOP/s per GPU of the Launch. */
#define AG_HOLLOW_GPU_W 700.0      /* an H100 SXM at its power limit, as in training */
#define AG_HOLLOW_GPU_FLOPS 400e12 /* 40% of its 989 TFLOP/s of dense BF16 */
ag_backend_t *ag_backend_hollow_create(uv_loop_t *loop, uint32_t run_ms);

#endif
