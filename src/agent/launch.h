/* launch.h - the rank launcher of the node agent: starts one job's local ranks on this node
 * and supervises them on the agent's libuv loop (spawn, logs, environment, failure, stop).
 *
 * One cl_launch_t is one incarnation of one job on this node: local_ranks processes, each
 * the leader of its own session and process group (setsid), all of them in one cgroup v2
 * per job+incarnation+launch when the cgroup v2 hierarchy is writable, so that stopping
 * the job leaves nothing behind, even processes that ignore SIGTERM or setsid themselves.
 * Without cgroups the launcher falls back to signalling each rank's process group; a
 * process that leaves its group (setsid, setpgid) then escapes and is not waited for.
 *
 * How: clone3 + exec (not uv_spawn, which cannot put a child in a cgroup); the child is born
 * in the launch's cgroup (CLONE_INTO_CGROUP; where the kernel lacks it, fork() and the child
 * joins the cgroup before exec), resets every signal to its default and unblocks them, calls
 * setsid(), redirects stdio and chdirs before exec, so the rank and whatever it forks are in
 * the cgroup from their first instruction (launch_spawn.c). The ranks are reaped on the loop
 * through a uv_signal_t on SIGCHLD with waitpid() on their own pids only, so the agent's other
 * children (uv_spawn's too) are untouched. The agent must not set SIGCHLD to SIG_IGN nor
 * call waitpid(-1).
 * Cgroups are named "job<ID>-inc<INCARNATION>-node<NODE_RANK>-<AGENT PID>-<SEQ>" under
 * cgroup_parent; cl_launch_sweep() removes those of agents that died.
 *
 * Life cycle:
 *   cl_launch_start()  starts every rank, or none: on failure (bad spec, command not found
 *                      or not executable, cannot join a required cgroup...) nothing is left
 *                      running, err says why, and the callback is never called.
 *   ...                the first rank that exits non-zero (or dies of a signal) makes the
 *                      launcher stop the other ranks; when every rank has exited 0 the
 *                      launcher still stops what they left behind (daemonised children).
 *   cl_launch_stop()   SIGTERM to every rank's process group and to every process of the
 *                      cgroup, SIGKILL (cgroup.kill) after grace_ms.
 *   done callback      fires exactly once, on the loop, after every rank process has been
 *                      reaped and nothing of the launch is left alive (cgroup empty and
 *                      removed, or no live process left in any rank's process group).
 *   cl_launch_destroy()  may be called from the callback, or at any time before it: then
 *                      whatever still runs gets SIGKILL, the callback is never called, and
 *                      the memory is released once the loop has reaped the processes.
 *
 * Each rank's environment is the agent's environment, then spec->env_extra (NAME=VALUE,
 * later entries win), then the variables below, which always win:
 *   COLOSSUS_JOB_ID, COLOSSUS_RESTART, COLOSSUS_INCARNATION, COLOSSUS_CHECKPOINT_DIR,
 *   RANK = node_rank * local_ranks + local rank, WORLD_SIZE = nnodes * local_ranks,
 *   LOCAL_RANK, LOCAL_WORLD_SIZE = local_ranks, NODE_RANK, MASTER_ADDR, MASTER_PORT,
 *   CUDA_VISIBLE_DEVICES = the job's GPUs on this node, comma separated, the same list for
 *   every local rank (each picks entry LOCAL_RANK, as under Slurm); "" when gpus is NULL.
 * COLOSSUS_CHECKPOINT_DIR is only set when checkpoint_dir is given. With spec->user: USER,
 * LOGNAME and COLOSSUS_USER = user; with spec->home: HOME = home; with spec->flops_dir:
 * COLOSSUS_FLOPS_FILE = the rank's file there (cl_launch_flops_path()), where a job writes
 * the FLOPs it has executed (docs/protocol.md). These win over env_extra and the agent's.
 *
 * Who the ranks run as: with spec->set_ids, each child sets its supplementary groups to just
 * gid, then its real, effective and saved gid and uid (raw system calls: nothing asks NSS, so
 * the user need not exist on this node), checks that it cannot become root again (when uid is
 * not 0), and only then asks for PR_SET_PDEATHSIG (a change of credentials clears it) and
 * execs. The agent must be root for that, or uid and gid must be its own (nothing changes).
 * Without set_ids the ranks run as the agent.
 *
 * stdin is /dev/null; stdout and stderr of rank RANK go, appended, to
 * log_dir/[log_prefix]rank-RANK.log (see cl_launch_log_path()), mode 0600, owned by uid:gid
 * with set_ids; with spec->output, stdout (and stderr, unless spec->error) goes instead to
 * that pattern expanded for the rank, appended (made mode 0644), opened by the child as the
 * job's user once it is in work_dir (a path the user names is never opened as root); a file
 * that cannot be opened fails the launch with the reason. The working directory is work_dir
 * (with work_dir_strict it must exist: the launch fails, naming it, where it does not). log_dir
 * is created (mode 0700, with parents) if missing; work_dir, checkpoint_dir and flops_dir are
 * created if missing with their parents mode 0755 and themselves mode 0700, owned by uid:gid
 * with set_ids (a directory that exists is left as it is).
 *
 * Not thread-safe: call everything from the thread that runs the loop. */
#ifndef COLOSSUS_AGENT_LAUNCH_H
#define COLOSSUS_AGENT_LAUNCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "colossus/core.h" /* cl_error_t */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cl_launch cl_launch_t;

/* Whether to put the ranks in a cgroup v2 (cgroup_mode of cl_launch_spec_t). */
typedef enum cl_launch_cgroup_mode {
    CL_LAUNCH_CGROUP_AUTO = 0, /* use one when the hierarchy is writable, else groups */
    CL_LAUNCH_CGROUP_OFF,      /* process groups only */
    CL_LAUNCH_CGROUP_REQUIRE,  /* fail cl_launch_start() when no cgroup can be made */
} cl_launch_cgroup_mode_t;

/* Everything is copied by cl_launch_start(): the spec and what it points to may be freed
 * as soon as it returns. */
typedef struct cl_launch_spec {
    uint64_t job_id;
    uint32_t incarnation;       /* fencing number of this launch (COLOSSUS_INCARNATION) */
    uint32_t restart;           /* COLOSSUS_RESTART: 0 on the first run, then 1, 2, ... */
    uint32_t node_rank, nnodes; /* this node's index in the job, and the job's node count */
    uint32_t local_ranks;       /* ranks (tasks) on this node, 1..1024 */
    const uint32_t *gpus;       /* ngpus distinct GPU indices on this node, or NULL */
    uint32_t ngpus;             /* entries of gpus; 0: local_ranks (one GPU per rank) */
    const char *master_addr;    /* rendezvous of rank 0 (MASTER_ADDR), required */
    uint16_t master_port;       /* MASTER_PORT, required (non-zero) */
    char *const *argv;          /* the command, NULL-terminated; argv[0] is looked up in the
                                 * ranks' PATH (relative to work_dir when it has a '/') */
    char *const *env_extra;     /* NULL-terminated "NAME=VALUE" list, or NULL */
    const char *work_dir;       /* working directory of the ranks, required */
    int work_dir_strict;        /* 1: it must exist (--chdir): never made, else an error */
    const char *output;         /* stdout pattern (util/iopat.h), relative to work_dir, or
                                 * NULL: the rank log */
    const char *error;          /* stderr pattern, or NULL: with stdout */
    const char *node_name;      /* %N of the patterns, or NULL */
    const char *job_name;       /* %x of the patterns, or NULL */
    uint64_t array_job_id; /* a task of an array: the array's id (%A, COLOSSUS_ARRAY_JOB_ID,
                              SLURM_ARRAY_JOB_ID); 0: not a task */
    uint32_t array_task;   /* its index (%a, COLOSSUS_ARRAY_TASK_ID, SLURM_ARRAY_TASK_ID) */
    const char *checkpoint_dir; /* COLOSSUS_CHECKPOINT_DIR, or NULL */
    const char *flops_dir;      /* where COLOSSUS_FLOPS_FILE points, or NULL: not set */
    int set_ids;                /* 1: the ranks run as uid:gid (see above) */
    uid_t uid;
    gid_t gid;
    const char *user;       /* USER, LOGNAME, COLOSSUS_USER of the ranks, or NULL: inherited */
    const char *home;       /* HOME of the ranks, or NULL: inherited */
    const char *log_dir;    /* where rank-RANK.log files go, required */
    const char *log_prefix; /* put before "rank-" in their names (e.g. "job42."), or NULL */
    struct cl_filepool *log_pool; /* spare files in log_dir (filepool.h), or NULL */
    int grace_ms;                 /* SIGTERM -> SIGKILL delay on stop; 0: SIGKILL at once */
    cl_launch_cgroup_mode_t cgroup_mode;
    const char *cgroup_parent; /* cgroup v2 directory under which the launch's cgroup is
                                * made; NULL: "colossus" under the cgroup v2 mount
                                * (/sys/fs/cgroup or /sys/fs/cgroup/unified) */
    int survive_agent;         /* 0: each rank's process gets SIGKILL when the agent dies
                                * (PR_SET_PDEATHSIG), so that no unsupervised rank runs on
                                * beside the job's next incarnation; what those ranks
                                * forked is removed by cl_launch_sweep() at the next agent
                                * start (cgroups only). 1: ranks outlive the agent. */
    /* issue 15: the launch's memory (MiB) and CPU (thousandths of a CPU) limits, 0: none;
     * written in cgroup v2 or v1 (cglimit.h, under cgroup_v1_root, NULL: /sys/fs/cgroup).
     * Where no cgroup can take them the ranks still run (cl_launch_limits_enforced()). */
    uint64_t mem_limit_mb;
    uint32_t cpu_limit_milli;
    const char *cgroup_v1_root;
    /* issue 14: with keeper_name, the ranks' parent is a keeper process (keeper.h), not the
     * agent: they outlive the agent (survive_agent is then ignored) and a later agent adopts
     * them (cl_launch_adopt()). keeper_name is its abstract socket's name; lease_fd the
     * node's lease page, a file the keeper maps (lease.h; 0 or -1: none); abandon_ms,
     * keep_dir_fd and keep_exit_name as in keeper.h. */
    const char *keeper_name;
    int lease_fd;
    uint32_t abandon_ms;
    int keep_dir_fd;
    const char *keep_exit_name;
    const char *keeper_title; /* what ps shows of the keeper, or NULL */
} cl_launch_spec_t;

/* What a later agent knows of a launch whose keeper runs on (cl_launch_adopt()). */
typedef struct cl_launch_adopt {
    uint32_t local_ranks; /* as the launch's spec */
    uint32_t first_rank;  /* the global RANK of its local rank 0 */
    const char *keeper_name;
    const char *cgroup; /* its cgroup directory, or NULL on process groups */
    int grace_ms;
} cl_launch_adopt_t;

/* Called once when the launch is over (see the life cycle above). result: 0 when every
 * rank exited 0; else the exit code of the first rank that failed, or 128 + the signal
 * that killed it. failed_rank: that rank's global RANK, or -1 when result is 0. After
 * cl_launch_stop() the result says how the ranks ended (usually 128 + SIGTERM): the caller
 * knows that it asked for the stop. l is still valid; the callback may destroy it. */
typedef void cl_launch_done_f(cl_launch_t *l, int result, int failed_rank, void *arg);

/* Start the ranks. On success returns 0 and stores a new launcher in *out, which the caller
 * must release with cl_launch_destroy(). On failure returns -1, writes a sentence naming
 * the problem into err (when err is not NULL), leaves no process running and never calls
 * cb. Out of memory is not a failure: it aborts (util.h's allocation policy). */
int cl_launch_start(uv_loop_t *loop, const cl_launch_spec_t *spec, cl_launch_done_f *cb,
                    void *arg, cl_launch_t **out, cl_error_t *err);

/* Take over a launch that an agent before this one started with a keeper: connect to its
 * keeper, which tells the ranks' pids and whatever exits it has seen. Then the launch is as
 * if started here (stop, destroy, the callback; the callback is never called from within
 * this function). -1 with err when the keeper is gone: the caller then reads what it left
 * (keeper.h, exit_name). CPU and memory limits stay in force but OOM kills are not told. */
int cl_launch_adopt(uv_loop_t *loop, const cl_launch_adopt_t *a, cl_launch_done_f *cb,
                    void *arg, cl_launch_t **out, cl_error_t *err);

/* Let go of a launch without stopping it: with a keeper, the ranks run on under it and a
 * later agent adopts them; without one this is cl_launch_destroy(). Never calls the callback;
 * the memory is released once the loop has closed the handles. */
void cl_launch_detach(cl_launch_t *l);

/* 1 while the keeper says the ranks are frozen (the node's lease lapsed), else 0. */
int cl_launch_frozen(const cl_launch_t *l);

/* Stop every rank at once: SIGKILL, no grace (a frozen launch that must never run again). */
void cl_launch_kill(cl_launch_t *l);

/* Stop every rank: SIGTERM now, SIGKILL after grace_ms. Idempotent; does nothing once the
 * callback has fired. The callback fires when everything is reaped. */
void cl_launch_stop(cl_launch_t *l);

/* Release the launcher; accepts NULL and preserves errno. See the life cycle above. */
void cl_launch_destroy(cl_launch_t *l);

/* Remove what launchers of agents that are gone left behind: every launch cgroup under
 * cgroup_parent (NULL: the default one) whose agent process no longer exists (its pid is
 * in the name) is emptied with SIGKILL and removed. Cgroups of live agents, this one
 * included, are not touched. For the agent to call when it starts (an agent killed with
 * -9 cannot clean up; its ranks would otherwise run on unsupervised). Returns how many
 * were removed, or -1 when cgroup_parent cannot be read. Blocks for at most ~1 s per
 * cgroup that does not empty at once. */
int cl_launch_sweep(const char *cgroup_parent);
/* The same, but never the cgroups whose directories are listed in keep (NULL-terminated):
 * those of adopted launches, whose keepers live on. */
int cl_launch_sweep_except(const char *cgroup_parent, char *const *keep);

/* --- queries (for the agent's reports and for tests) --- */

/* Ranks whose process has not been reaped yet. */
uint32_t cl_launch_running(const cl_launch_t *l);
/* Process id of local rank i (also its process group and session id), or 0 once it has
 * been reaped or when i is out of range. */
pid_t cl_launch_pid(const cl_launch_t *l, uint32_t local_rank);
/* The launch's cgroup directory, or NULL when it runs on process groups only. */
const char *cl_launch_cgroup(const cl_launch_t *l);
/* 1 once cl_launch_stop() or cl_launch_destroy() was called or a rank failed, else 0 (also
 * while what successful ranks left behind is being stopped). */
int cl_launch_stopping(const cl_launch_t *l);
/* The signal that killed the failed rank (the callback's failed_rank), 0 when it exited (a
 * result of 128 + N may be an exit code too). */
int cl_launch_failed_signal(const cl_launch_t *l);

/* 1 when every limit the spec asked is in a cgroup (or none was asked); else 0 with why in
 * err (when not NULL). */
int cl_launch_limits_enforced(const cl_launch_t *l, cl_error_t *err);
/* Once the callback has fired: 1 when the kernel's OOM killer killed a rank (or what it
 * forked) at the launch's memory limit, else 0. */
int cl_launch_oom(const cl_launch_t *l);

/* Path of the log file of global rank `rank` under log_dir: "LOG_DIR/PREFIXrank-RANK.log"
 * (prefix may be NULL). Returns 0, or -1 when buf is too small. */
int cl_launch_log_path(const char *log_dir, const char *prefix, uint32_t rank, char *buf,
                       size_t len);

/* Path of the FLOPs file of global rank `rank` of incarnation `incarnation` under dir:
 * "DIR/flops.inc<INCARNATION>.rank-<RANK>". Returns 0, or -1 when buf is too small. */
int cl_launch_flops_path(const char *dir, uint32_t incarnation, uint32_t rank, char *buf,
                         size_t len);

#ifdef __cplusplus
}
#endif

#endif
