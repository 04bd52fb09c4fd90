/* core.h - the pure scheduling core: topology, cluster state, jobs, queue policy,
 * placement and failure handling. No I/O, no clock, no threads, no globals: time is an
 * argument, events go in, decisions come out. The controller, the simulator, the
 * benchmarks and the tests all drive this same code.
 *
 * Conventions: functions that can fail return -1 (or NULL) and fill a cl_error_t with a
 * sentence when one is given; on failure nothing changed. Destroy functions accept NULL.
 * The same sequence of calls always gives the same decisions. */
#ifndef COLOSSUS_CORE_H
#define COLOSSUS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef double cl_time_t; /* seconds on the driver's clock (real or virtual) */
typedef uint64_t cl_jobid_t;
typedef uint32_t cl_nodeid_t;

#define CL_MAX_GPUS_PER_NODE 64
#define CL_NO_NODE UINT32_MAX
#define CL_TIME_INF 1e300
#define CL_UNLIMITED UINT64_MAX /* a quota or limit that is not set */

typedef struct cl_error {
    char msg[256];
} cl_error_t;

/* ---------------------------------------------------------------- topology --------------
 * GPU -> node -> NVLink domain -> leaf switch -> pod (spine block) -> cluster.
 * Node ids are dense, 0..nodes-1, numbered so that every domain, leaf and pod holds a
 * contiguous range of them. */
typedef struct cl_topo cl_topo_t;

typedef struct cl_topo_shape {
    uint32_t nodes;            /* total nodes */
    uint32_t gpus_per_node;    /* 1..CL_MAX_GPUS_PER_NODE */
    uint32_t nodes_per_domain; /* NVLink domain size in nodes (1: the node is the domain) */
    uint32_t nodes_per_leaf;   /* multiple of nodes_per_domain */
    uint32_t leaves_per_pod;
} cl_topo_shape_t;

/* Build a regular tree; the last domain/leaf/pod may be partial.
 * Node names are "<prefix>NNNNNN" (prefix "node" when NULL). Caller destroys. */
cl_topo_t *cl_topo_create(const cl_topo_shape_t *shape, const char *prefix, cl_error_t *err);

/* Presets: "colossus2" (550,000 nodes x 2 H100), "hgx" (8 GPUs per node, domain = node),
 * "nvl72" (domains of 18 nodes x 4 GPUs). nodes/gpus_per_node of 0 keep the preset's. */
cl_topo_t *cl_topo_preset(const char *name, uint32_t nodes, uint32_t gpus_per_node,
                          cl_error_t *err);
/* Fill *shape with a preset's shape without building it. */
int cl_topo_preset_shape(const char *name, uint32_t nodes, uint32_t gpus_per_node,
                         cl_topo_shape_t *shape, cl_error_t *err);

/* Parse Slurm's topology.conf from memory (the caller reads the file). Switches with
 * Nodes= are leaves; a switch whose Switches= lists leaves is a pod; higher switches are
 * the cluster. A leaf with no parent is a pod of its own. Every node becomes its own
 * NVLink domain. Errors read "FILENAME:LINE: what is wrong". */
cl_topo_t *cl_topo_parse_slurm(const char *text, size_t len, const char *filename,
                               uint32_t gpus_per_node, cl_error_t *err);

void cl_topo_destroy(cl_topo_t *t);

uint32_t cl_topo_nodes(const cl_topo_t *t);
uint32_t cl_topo_gpus_per_node(const cl_topo_t *t);
uint64_t cl_topo_gpus(const cl_topo_t *t);
uint32_t cl_topo_domains(const cl_topo_t *t);
uint32_t cl_topo_leaves(const cl_topo_t *t);
uint32_t cl_topo_pods(const cl_topo_t *t);
uint32_t cl_topo_node_domain(const cl_topo_t *t, cl_nodeid_t n);
uint32_t cl_topo_node_leaf(const cl_topo_t *t, cl_nodeid_t n);
uint32_t cl_topo_node_pod(const cl_topo_t *t, cl_nodeid_t n);
uint32_t cl_topo_domain_nodes_max(const cl_topo_t *t); /* largest domain, in nodes */
const char *cl_topo_node_name(const cl_topo_t *t, cl_nodeid_t n);
const char *cl_topo_leaf_name(const cl_topo_t *t, uint32_t leaf);
const char *cl_topo_pod_name(const cl_topo_t *t, uint32_t pod);
uint32_t cl_topo_leaf_pod(const cl_topo_t *t, uint32_t leaf); /* the pod a leaf is in */
/* Node id for a name, or CL_NO_NODE. O(1). */
cl_nodeid_t cl_topo_find_node(const cl_topo_t *t, const char *name);

/* ------------------------------------------------------------------ cluster -------------- */
typedef struct cl_cluster cl_cluster_t;

typedef enum cl_queue_policy {
    CL_POLICY_FAIRSHARE, /* priority, then tenant fair share, then submit order; EASY backfill
                          */
    CL_POLICY_BACKFILL,  /* priority, then submit order; EASY backfill */
    CL_POLICY_FIFO,      /* priority, then submit order; the first gang that cannot start
                            blocks every job behind it */
} cl_queue_policy_t;

typedef struct cl_cluster_opts {
    cl_queue_policy_t policy;    /* default CL_POLICY_FAIRSHARE */
    double spare_fraction;       /* hot-spare reserve per pod, 0..0.5 (default 0) */
    double fairshare_halflife_s; /* usage decay half-life (default 7 days); positive and
                                    finite: 0 is refused, never read as "default" */
    uint32_t backfill_short_max; /* short backfill jobs allowed onto reserved nodes per pass
                                    (default 64); bounds the cost of a pass */
} cl_cluster_opts_t;

void cl_cluster_opts_default(cl_cluster_opts_t *o);

/* Takes ownership of topo (also on failure). Caller destroys the result. */
cl_cluster_t *cl_cluster_create(cl_topo_t *topo, const cl_cluster_opts_t *opts,
                                cl_error_t *err);
void cl_cluster_destroy(cl_cluster_t *c);
const cl_topo_t *cl_cluster_topo(const cl_cluster_t *c);

/* Tenants. Tenant 0, "default" with 1 share, always exists. Returns the index or -1.
 * The new tenant has cl_tenant_conf_default() with these shares. */
int cl_tenant_add(cl_cluster_t *c, const char *name, double shares, cl_error_t *err);
int cl_tenant_find(const cl_cluster_t *c, const char *name);
uint32_t cl_tenant_count(const cl_cluster_t *c);
const char *cl_tenant_name(const cl_cluster_t *c, uint32_t tenant);
double cl_tenant_shares(const cl_cluster_t *c, uint32_t tenant); /* 0 for no such tenant */
/* Decayed usage in GPU-seconds as of now, and the fair-share factor in (0,1]:
 * 2^-(usage share / allotted share), as Slurm's classic fair share. */
double cl_tenant_usage(cl_cluster_t *c, uint32_t tenant, cl_time_t now);
double cl_tenant_factor(cl_cluster_t *c, uint32_t tenant, cl_time_t now);
/* Restore the decayed usage the driver journaled (after a restart): usage_gpu_s as of time
 * at. Refused (-1) for no such tenant or a negative or non-finite figure. */
int cl_tenant_usage_set(cl_cluster_t *c, uint32_t tenant, double usage_gpu_s, cl_time_t at,
                        cl_error_t *err);

/* Quotas, borrowing and budgets (Kueue's nominal quota and cohorts, Slurm's GrpTRESMins).
 * A job of tenant t needing g GPUs starts only if t stays within its quota (a sub-tenant:
 * its own cap and its parent's quota, which its jobs count against), or, for a top-level
 * tenant in a cohort, if it borrows at most borrow_limit GPUs beyond its quota out of what
 * the other members have idle and lend (min(lend_limit, idle quota)), the total borrowed
 * in the cohort never above the total lendable. A tenant without a cohort never exceeds
 * its quota. Quotas are absolute figures, never scaled by the capacity that is up: a lost
 * node blocks only the tenants whose jobs no longer fit (volcano#4684). Placement on nodes
 * is a separate check after this one. A lender whose job fits its own quota but not the
 * cohort's lendable total (its quota is lent out) reclaims: the pass preempts the
 * borrowers' preemptible jobs in the cohort, newest first, as few as the job needs, and
 * starts it in the same pass (none if even all of them would not do). */
typedef struct cl_tenant_conf {
    double shares;  /* fair-share allotment, > 0 */
    int32_t parent; /* -1: top level; else a top-level tenant whose quota, cohort and budget
                       this sub-tenant's jobs also count against (one level only) */
    uint64_t quota_gpus;   /* nominal quota; CL_UNLIMITED: none. A sub-tenant's is a cap inside
                              its parent's */
    uint32_t cohort;       /* 0: none; top-level tenants with the same cohort lend and borrow;
                              a member needs a quota */
    uint64_t borrow_limit; /* most GPUs beyond its quota it may borrow; CL_UNLIMITED: any */
    uint64_t lend_limit;   /* most GPUs of its idle quota the cohort may borrow; CL_UNLIMITED:
                              all of it */
    double budget_gpu_s;   /* GPU-seconds per budget period (the driver's); 0: none */
    bool budget_stop;      /* when spent, its running jobs stop (CL_ACT_PREEMPT, requeued,
                              pending with CL_PEND_BUDGET) rather than finish */
} cl_tenant_conf_t;

/* One share, top level, no quota, no cohort, no limits, no budget: the behaviour of a
 * tenant before quotas existed. */
void cl_tenant_conf_default(cl_tenant_conf_t *conf);
/* Replace a tenant's configuration. Refused with a sentence, nothing changed: a parent
 * that is not a top-level tenant or is the tenant itself; a tenant with sub-tenants made a
 * sub-tenant; a parent changed while the tenant runs jobs; a cohort, borrow or lend limit
 * on a sub-tenant; a cohort member without a quota; a sub-tenant's quota above its
 * parent's (or a parent's below a sub-tenant's); figures out of range. A lowered quota
 * stops nothing: jobs running over it finish, and new ones wait. */
int cl_tenant_set(cl_cluster_t *c, uint32_t tenant, const cl_tenant_conf_t *conf,
                  cl_error_t *err);
int cl_tenant_get(const cl_cluster_t *c, uint32_t tenant, cl_tenant_conf_t *conf);

typedef struct cl_tenant_state {
    uint64_t gpus_running; /* what its quota and budget count: its jobs' GPUs, a parent's
                              with its sub-tenants' */
    uint64_t gpus_own;     /* its own jobs' GPUs */
    uint64_t borrowed;     /* GPUs beyond its nominal quota now (a top-level tenant; else 0) */
    uint64_t jobs_pending, jobs_running; /* its own jobs */
    double budget_used_gpu_s; /* in the period, as of now (a parent's with its sub-tenants') */
    bool budget_spent;        /* its own budget, or its parent's */
} cl_tenant_state_t;
/* The tenant's counters as of now (read only, O(1)); -1 for no such tenant. */
int cl_tenant_state(const cl_cluster_t *c, uint32_t tenant, cl_time_t now,
                    cl_tenant_state_t *st);

/* Budgets: the core integrates each tenant's running GPUs over time; the driver owns the
 * calendar. At a new period it sets 0; after a restart, the journaled figure. Spent: new
 * jobs of the tenant (or of its sub-tenants) pend with CL_PEND_BUDGET, and with
 * budget_stop the next pass stops its running jobs. Refused for no such tenant or a
 * negative or non-finite figure. */
int cl_tenant_budget_set(cl_cluster_t *c, uint32_t tenant, double used_gpu_s, cl_time_t now,
                         cl_error_t *err);
/* The earliest time at which a pass would decide something without any event in between:
 * a running budget with budget_stop running out (now, if one is spent and still runs), or
 * a node reservation's window ending. CL_TIME_INF if none. O(tenants + reservations). The
 * driver runs a pass then. */
cl_time_t cl_next_wakeup(const cl_cluster_t *c, cl_time_t now);

/* Per-user running limit (a QOS's max running jobs): a job whose user already runs
 * max_running jobs pends with CL_PEND_QOS. user: the driver's dense small id, 1..
 * CL_USER_MAX; max_running 0: no limit. */
#define CL_USER_MAX 16777215u
int cl_user_limit_set(cl_cluster_t *c, uint32_t user, uint32_t max_running, cl_error_t *err);

/* -------------------------------------------------------------------- power -------------
 * Power is a resource with a budget at the site and, where set, at each pod and each leaf
 * (a row of racks under one leaf switch), in watts. A
 * running job counts its GPUs times its projected power per GPU (measured when the driver
 * says, else stated in its spec, else the class default); an unallocated GPU counts
 * gpu_idle_w. A job starts only when, at the site and at every pod and leaf it would use,
 *   admit_frac * (running jobs' projected W + its own) + idle GPUs' W <= budget * (1 - cut)
 * (admit_frac < 1 oversubscribes: jobs are admitted as if capped to that fraction of their
 * projection, and cl_power_limits caps them there, as Google's Thunderbolt does). A job that
 * does not fit pends with CL_PEND_POWER. The pod and leaf checks apply to the nodes the pass
 * chose (a gang is placed again away from the levels it would overfill);
 * a start by preemption or reclaim checks the site only. A cut stops nothing: it lowers the
 * budgets that admission and cl_power_limits use. */
typedef struct cl_power_conf {
    double site_budget_w; /* 0: none */
    double gpu_min_w;     /* the GPUs' minimum power limit (NVML constraints), > 0 */
    double gpu_max_w;     /* their default (and largest) limit, >= gpu_min_w */
    double gpu_idle_w;    /* an unallocated GPU's draw, 0..gpu_max_w */
    double default_w;     /* class default projected power per GPU, gpu_min_w..gpu_max_w */
    double admit_frac;    /* gpu_min_w/gpu_max_w..1 */
} cl_power_conf_t;

/* H100 SXM: 200..700 W, idle 70 W, default projection 700 W, admit_frac 1, no budget. */
void cl_power_conf_default(cl_power_conf_t *p);
/* Replace the configuration. Refused with a sentence, nothing changed: figures out of
 * range, or a site budget (after the cut in force) below the GPUs' minimum limits plus
 * nothing else (gpus * gpu_min_w). Running jobs keep running; those on the class default
 * count the new one from then on. O(jobs). */
int cl_power_set(cl_cluster_t *c, const cl_power_conf_t *p, cl_error_t *err);
void cl_power_get(const cl_cluster_t *c, cl_power_conf_t *p);
/* A pod's budget, W (0: none). Refused below its GPUs' minimum limits (after the cut). */
int cl_power_pod_budget_set(cl_cluster_t *c, uint32_t pod, double budget_w, cl_error_t *err);
/* A leaf's budget, W (0: none): the same rules at the leaf level. */
int cl_power_leaf_budget_set(cl_cluster_t *c, uint32_t leaf, double budget_w, cl_error_t *err);
/* A grid request: every budget lowered by pct percent (0 restores). Refused for pct outside
 * 0..100 or one that takes a budget below its GPUs' minimum limits. */
int cl_power_cut(cl_cluster_t *c, double pct, cl_error_t *err);
double cl_power_cut_pct(const cl_cluster_t *c);
/* The measured draw per GPU of a job (the driver's average over its run), W, > 0 and at
 * most gpu_max_w; from then on the scheduler counts it instead of the projection (also for
 * the job's later runs). -1 for no such job or a bad figure. */
int cl_job_power_measured(cl_cluster_t *c, cl_jobid_t id, double w_per_gpu, cl_error_t *err);

/* The floor between runs (issue 13's smoothing): GPUs gpus (a mask) of node, free of jobs,
 * held at w W each by the controller's burn (w <= gpu_idle_w: the hold ends). Admission
 * counts a held GPU at w instead of gpu_idle_w at every level (site, pod, leaf) until its
 * hold ends or a job starts on it (the job takes it over: its projection counts instead).
 * A GPU a job runs on is not held. -1 for no such node or GPU, or w outside 0..gpu_max_w. */
int cl_power_hold(cl_cluster_t *c, cl_nodeid_t node, uint64_t gpus, double w, cl_error_t *err);
/* The held GPUs' draw, W, and how many (*gpus, may be NULL). */
double cl_power_held_w(const cl_cluster_t *c, uint64_t *gpus);

typedef struct cl_power_level {
    double budget_w;   /* as set (0: none) */
    double limit_w;    /* budget after the cut (0: none) */
    double draw_w;     /* projected: running jobs plus idle GPUs (held ones at their hold) */
    double headroom_w; /* limit - admit_frac * jobs' W - idle W (INFINITY: no budget) */
    uint64_t gpus, gpus_alloc;
} cl_power_level_t;
/* pod -1: the site; else that pod. -1 for no such pod. O(1). */
int cl_power_level(const cl_cluster_t *c, int64_t pod, cl_power_level_t *out);
/* That leaf's level; -1 for no such leaf. O(1). While no leaf has a budget the leaves'
 * draws are not counted (their jobs' W and GPUs read 0; the first budget recounts them). */
int cl_power_leaf_level(const cl_cluster_t *c, uint32_t leaf, cl_power_level_t *out);

/* Relative throughput of a training step under a power limit of frac of the GPU's default
 * (piecewise linear through a measured sweep, Zeus NSDI'23's A40 BERT trace, docs/power.md;
 * 1 at frac >= 1). */
double cl_power_perf(double frac);

/* Per-GPU power limits: the budgets (after the cut), less the idle GPUs' draw, shared among
 * running jobs by priority, then evenly: every GPU at least min_w; the highest priority
 * raised first, its jobs together (equal limits, each at most its projection) until they
 * reach their projections or a level's budget is used; then the next priority. With max_w,
 * what is left is then shared the same way up to max_w: a projection is what a job is sure
 * of, not a cap, so a job measured under a cap is not held there once the budget allows
 * more (its measured draw feeds its projection). One limit per job (a gang runs at the pace
 * of its slowest GPU). A pure function of its input. */
typedef struct cl_power_job {
    int32_t priority;
    double want_w;        /* its projection per GPU (the most it gets) */
    const uint32_t *pods; /* the pods it has GPUs in */
    const uint64_t *gpus; /* its GPUs in each */
    uint32_t npods;
    const uint32_t *leaves;    /* the leaves it has GPUs in (none: nleaves 0) */
    const uint64_t *leaf_gpus; /* its GPUs in each */
    uint32_t nleaves;
} cl_power_job_t;
typedef struct cl_power_plan_in {
    double site_w;       /* budget for the jobs at the site (INFINITY: none) */
    const double *pod_w; /* [npods] budget for the jobs in each pod (INFINITY: none) */
    uint32_t npods;
    const double *leaf_w; /* [nleaves] the same for each leaf (NULL: none) */
    uint32_t nleaves;
    double min_w;
    double max_w; /* the GPUs' largest limit: a second round raises jobs to it (0: none) */
} cl_power_plan_in_t;
/* Writes limit_w[i] for jobs[i]. 0, or 1 when the budgets do not cover every GPU at min_w
 * (every job then gets min_w: no limit can go lower). -1 for bad input (a pod or leaf out of
 * range). */
int cl_power_plan(const cl_power_plan_in_t *in, const cl_power_job_t *jobs, size_t n,
                  double *limit_w, cl_error_t *err);

/* Ramps (issue 13's smoothing): raise the per-GPU limits cur[i] of jobs that are ramping up
 * toward their targets target[i] (W per GPU; jobs of gpus[i] GPUs) so that the site's limits
 * grow by at most step_w in all (the allowed ramp rate times the time since the last step):
 * evenly per GPU, a job that reaches its target leaving its share to the others (progressive
 * filling). A cur above its target is lowered to it at once (a ramp never delays a cut).
 * Returns how many jobs are still below their targets. A pure function of its input. */
size_t cl_power_ramp(const double *target, const uint64_t *gpus, double *cur, size_t n,
                     double step_w);

typedef struct cl_power_limit {
    cl_jobid_t job;
    double w; /* per GPU */
} cl_power_limit_t;
/* cl_power_plan over the running jobs with the cluster's budgets, cut and admit_frac.
 * Returns the number of entries (one per running job, in id order) in a new array the
 * caller frees (*out; NULL when none); *short_out (may be NULL) as cl_power_plan's 1. */
size_t cl_power_limits(const cl_cluster_t *c, cl_power_limit_t **out, int *short_out);

/* --------------------------------------------------------------------- jobs -------------- */
typedef enum cl_job_state {
    CL_JOB_PENDING,
    CL_JOB_RUNNING,
    CL_JOB_SUCCEEDED,
    CL_JOB_FAILED,
    CL_JOB_CANCELLED,
} cl_job_state_t;

typedef struct cl_job_spec {
    uint32_t nodes;         /* gang size in nodes; 0: derive from gpus */
    uint32_t gpus_per_node; /* 0: all GPUs of each node */
    uint32_t gpus;          /* total GPUs, used when nodes == 0: <= one node's GPUs gives
                               one node, else a multiple of gpus_per_node whole nodes */
    uint32_t tenant;
    int32_t priority; /* higher runs first */
    bool preemptible;
    double time_limit_s;   /* 0: none */
    uint32_t max_switches; /* most leaf switches the gang may span; 0: any */
    uint32_t max_restarts;
    uint32_t user;  /* 0: none; else the driver's dense small id (cl_user_limit_set) */
    double power_w; /* projected power per GPU the user states, W; 0: the class default
                       (cl_power_conf_t.default_w); else gpu_min_w..gpu_max_w */
    /* Slurm's --dependency: every entry must hold before the job may start (see cl_dep_t) */
    const struct cl_dep *deps;
    uint32_t ndeps;
    bool singleton;    /* starts only while no other job of its name_key runs (singleton) */
    uint64_t name_key; /* the driver's key of (user, job name); 0: none (never a singleton's
                          peer) */
    bool hold;         /* submitted held: pends with CL_PEND_HOLD until cl_job_hold(false) */
    /* A job array's limit (Slurm's --array ...%N): at most group_max jobs of group_key (the
     * driver's key of the array, never a name_key) run at once; group_max 0: no limit */
    uint64_t group_key;
    uint32_t group_max;
    /* Placement constraints (Slurm's --exclusive, -w/--nodelist, -x/--exclude; see
     * cl_resv_add for reservations). exclusive: no other job on its nodes while it runs,
     * and it takes only nodes with no job and every GPU healthy and free. nodelist: its
     * nodes all come from these (nnodelist >= its node count); exclude: none from these.
     * The core copies both (duplicates dropped); NULL/0: no constraint. */
    bool exclusive;
    const cl_nodeid_t *nodelist;
    uint32_t nnodelist;
    const cl_nodeid_t *exclude;
    uint32_t nexclude;
    /* CPUs and memory (MiB) each GPU of the job needs on its node (Slurm's --cpus-per-gpu,
     * --mem-per-gpu); 0: none. Placed only where the node's inventory (cl_node_set_inventory)
     * has room; refused at submit when every node has an inventory and none is enough. */
    uint32_t cpus_per_gpu;
    uint64_t mem_per_gpu_mb;
} cl_job_spec_t;

/* A dependency (Slurm's afterok, afterany, afternotok). When the job waited for ends, the
 * entry is satisfied (afterok: it succeeded; afternotok: it failed or was cancelled;
 * afterany: either) or can never be: the next pass then cancels the dependent job with
 * CL_ACT_DEP_NEVER (Slurm's kill_invalid_depend), and the jobs that depend on that one in
 * turn. A job the core no longer holds (forgotten, or finished before a restart) is
 * described by the driver's journal: `ended` is its end state; CL_JOB_PENDING when the
 * driver knows no such job (refused: "no job N"). */
typedef enum cl_dep_type {
    CL_DEP_AFTEROK = 1,
    CL_DEP_AFTERANY,
    CL_DEP_AFTERNOTOK,
} cl_dep_type_t;
typedef struct cl_dep {
    cl_dep_type_t type;
    cl_jobid_t job;
    cl_job_state_t ended;
} cl_dep_t;

typedef struct cl_job_info {
    cl_jobid_t id;
    cl_job_state_t state;
    uint32_t tenant;
    int32_t priority;
    bool preemptible;
    uint32_t nodes, gpus_per_node;
    double time_limit_s;
    uint32_t max_switches, max_restarts;
    uint32_t restarts;    /* failure restarts so far */
    uint32_t incarnation; /* launches so far; every start or restart adds one (fencing) */
    uint32_t preemptions; /* by priority, reclaim or a spent budget */
    uint32_t user;
    cl_time_t submit_time, start_time, end_time; /* start: of the current/last run */
    double power_w;          /* projected power per GPU the scheduler counts (measured if
                                set, else stated, else the class default), W */
    double power_measured_w; /* the driver's measurement (cl_job_power_measured); 0: none */
    bool held;               /* waits for cl_job_hold(false) */
    uint32_t deps_waiting;   /* dependencies not yet satisfied */
    cl_jobid_t dep_never;    /* a dependency that can never be satisfied (0: none) */
    bool exclusive;
    uint32_t nnodelist, nexclude; /* the sizes of its constraint lists (duplicates dropped) */
    uint32_t cpus_per_gpu;        /* as submitted */
    uint64_t mem_per_gpu_mb;
} cl_job_info_t;

typedef struct cl_alloc {
    cl_nodeid_t node;
    uint64_t gpus; /* bit mask of the node's GPUs held */
} cl_alloc_t;

/* Submit: validates the spec against the cluster and the tenant. A job that can never run
 * is refused with "can never run: needs N nodes of K GPUs, the cluster has M" (M: nodes
 * with at least K GPUs), one larger than its tenant's quota plus borrowing limit with a
 * sentence saying so; an unknown tenant or user, a bad GPU count too. A job that fits only
 * counting nodes that are down, drained or in maintenance is accepted and pends with
 * CL_PEND_NODES. Ids are assigned 1, 2, 3...; */
int cl_job_submit(cl_cluster_t *c, const cl_job_spec_t *spec, cl_time_t now, cl_jobid_t *id_out,
                  cl_error_t *err);
/* Submit with a given id (recovery from a journal); the id must be unused. The quota check
 * is skipped: a journaled job stays even if its tenant's quota was lowered since. */
int cl_job_submit_id(cl_cluster_t *c, const cl_job_spec_t *spec, cl_jobid_t id, cl_time_t now,
                     cl_error_t *err);
/* Next id cl_job_submit will assign; settable after recovery (must exceed every id). */
cl_jobid_t cl_job_next_id(const cl_cluster_t *c);
void cl_job_set_next_id(cl_cluster_t *c, cl_jobid_t next);

/* Start a pending job on exactly these nodes (recovery/reconcile of a job that is known to
 * be running there). Fails without change if a node cannot hold it. */
int cl_job_start_on(cl_cluster_t *c, cl_jobid_t id, const cl_nodeid_t *nodes, size_t n,
                    uint32_t incarnation, cl_time_t now, cl_error_t *err);

/* Running -> succeeded or failed (a user error: no restart). Releases its GPUs. */
int cl_job_finish(cl_cluster_t *c, cl_jobid_t id, bool success, cl_time_t now, cl_error_t *err);
/* Pending or running -> cancelled. */
int cl_job_cancel(cl_cluster_t *c, cl_jobid_t id, cl_time_t now, cl_error_t *err);
/* Drop a finished job's record. */
int cl_job_forget(cl_cluster_t *c, cl_jobid_t id);
/* Hold (a pending job: it does not start until released) or release (a held job). Refused
 * with a sentence for a job that is not pending, or not held for a release. */
int cl_job_hold(cl_cluster_t *c, cl_jobid_t id, bool hold, cl_error_t *err);
/* Requeue (Slurm's scontrol requeue): a running job gives back its GPUs and pends at the head
 * of its priority (the driver stops its ranks); a finished one pends again. Neither counts as
 * a failure restart nor a preemption. hold: it pends held. Refused for a pending job and for
 * one whose dependency can never be satisfied. A finished job the core has forgotten is the
 * driver's to submit again (cl_job_submit_id). */
int cl_job_requeue(cl_cluster_t *c, cl_jobid_t id, bool hold, cl_time_t now, cl_error_t *err);

int cl_job_get(const cl_cluster_t *c, cl_jobid_t id, cl_job_info_t *out);
/* The running job's allocation in rank order (node rank i = element i); NULL if none.
 * Valid until the next call that changes the cluster. */
const cl_alloc_t *cl_job_alloc(const cl_cluster_t *c, cl_jobid_t id, size_t *n);
/* Running jobs whose time limit has passed at now, oldest deadline first; returns count
 * written (at most max). The driver stops them and calls cl_job_finish(.., false). */
size_t cl_jobs_expired(const cl_cluster_t *c, cl_time_t now, cl_jobid_t *out, size_t max);
/* Iterate live jobs (any state not forgotten): pass 0 first, then the returned cursor;
 * returns 0 at the end. */
cl_jobid_t cl_jobs_next(const cl_cluster_t *c, cl_jobid_t after);
/* The running jobs, in no set order: up to max ids into out; returns how many run (a walk of
 * the tenants' running lists: O(running jobs), not O(jobs)). */
size_t cl_jobs_running(const cl_cluster_t *c, cl_jobid_t *out, size_t max);

/* ---------------------------------------------------------------- decisions -------------- */
typedef enum cl_action {
    CL_ACT_START,     /* job starts on its allocation (incarnation given) */
    CL_ACT_PREEMPT,   /* job stopped and back in the queue: for a higher-priority gang, for a
                         lender reclaiming its quota, or because its tenant's budget is spent
                         (budget_stop) */
    CL_ACT_RESTART,   /* failure: restart in place, node_old swapped for hot spare node_new */
    CL_ACT_REQUEUE,   /* failure: stopped, back at the head of its priority */
    CL_ACT_FAIL,      /* failure with max restarts reached: job failed */
    CL_ACT_DEP_NEVER, /* pending job cancelled: a dependency can never be satisfied
                         (cl_job_info_t.dep_never says which) */
} cl_action_t;

typedef struct cl_decision {
    cl_jobid_t job;
    cl_action_t action;
    uint32_t incarnation;           /* the job's incarnation after the decision */
    cl_nodeid_t node_old, node_new; /* RESTART only; else CL_NO_NODE */
} cl_decision_t;

/* A growable list the core appends to; caller owns it. Zero-initialise, then free with
 * cl_decisions_free(). */
typedef struct cl_decisions {
    cl_decision_t *v;
    size_t n, cap;
} cl_decisions_t;
void cl_decisions_clear(cl_decisions_t *d);
void cl_decisions_free(cl_decisions_t *d);

/* One scheduling pass over the pending queue at time now: first stop the running jobs of
 * tenants whose budget is spent (budget_stop); then order by priority, requeued first,
 * tenant fair share, submit order; a job whose tenant's budget is spent, whose user is at
 * its running limit or that does not fit its quota waits (a lender reclaims borrowed
 * quota first); start every gang that fits; preempt preemptible lower-priority jobs for a
 * gang that otherwise cannot start; else reserve for the first blocked gang (EASY) and
 * backfill behind it without delaying the reservation. Every job the pass visits gets its
 * pending reason. Appends decisions to out; returns the number appended. */
size_t cl_schedule(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out);

/* Whether a pass now could start a job that the last pass left pending, were only jobs
 * added since: a node has a free GPU, a job runs that a pass may preempt, or a cohort's
 * lender may reclaim. When none holds, a submission changes nothing a pass would do but its
 * own pending reason (CL_PEND_NEW until a pass), and the driver may leave the pass (a walk
 * of every pending job) for the next event. Conservative: true where unsure. */
int cl_sched_may_start(const cl_cluster_t *c);

/* Why a job is pending, as of the last pass: set for every job the pass visits, O(1)
 * each; a job the pass did not reach (it stopped early) has CL_PEND_PRIORITY. */
typedef enum cl_pend {
    CL_PEND_NONE,       /* not pending */
    CL_PEND_NEW,        /* no pass since submit */
    CL_PEND_PRIORITY,   /* higher-priority (or earlier) jobs go first */
    CL_PEND_RESOURCES,  /* not enough free GPUs */
    CL_PEND_RESERVED,   /* it holds the reservation: starts at `until` at the latest */
    CL_PEND_HELD,       /* held for job `job`'s reservation until `until` */
    CL_PEND_QUOTA,      /* its tenant's quota (and the cohort's lendable quota) is used */
    CL_PEND_BUDGET,     /* its tenant's budget is spent */
    CL_PEND_QOS,        /* its user runs as many jobs as the limit allows */
    CL_PEND_NODES,      /* the nodes it needs are drained, in maintenance or down */
    CL_PEND_POWER,      /* its projected power does not fit the site's or a pod's budget */
    CL_PEND_HOLD,       /* held by its user or an admin (cl_job_hold) */
    CL_PEND_DEPENDENCY, /* waits for its dependencies, or (singleton) for a job of its name */
    CL_PEND_ARRAY,      /* its array runs as many tasks as its limit allows (%N) */
    CL_PEND_CONSTRAINT, /* free GPUs exist, but not on nodes its --nodelist, --exclude or
                           --exclusive allow */
    CL_PEND_RESV,       /* nodes it could use are in a reservation (`job`: the
                           reservation's id) that it may not use, or would run into */
    CL_PEND_CPUMEM,     /* the free GPUs are there, but not with the CPUs or memory it asks */
} cl_pend_t;

typedef struct cl_pending {
    cl_pend_t why;
    cl_jobid_t job;  /* RESERVED: the job itself; HELD: the reservation's job; RESV: the
                        node reservation's id (cl_resv_spec_t.id); else 0 */
    cl_time_t until; /* RESERVED, HELD: the reservation's shadow time (CL_TIME_INF when the
                        running jobs it waits for have no time limit); else 0 */
} cl_pending_t;
/* O(1); -1 for no such job. */
int cl_job_pending(const cl_cluster_t *c, cl_jobid_t id, cl_pending_t *out);
/* A short phrase ("not enough free GPUs"); the driver adds job ids and times. */
const char *cl_pend_name(cl_pend_t why);

/* The reservation the last pass made: job (0 if none), its shadow start time, and the
 * nodes reserved for it (valid until the next pass). */
typedef struct cl_reservation {
    cl_jobid_t job;
    cl_time_t shadow;
    const cl_nodeid_t *nodes;
    size_t n;
} cl_reservation_t;
void cl_reservation_get(const cl_cluster_t *c, cl_reservation_t *r);
/* Jobs the last pass started behind the reservation (backfilled). */
const cl_jobid_t *cl_backfilled(const cl_cluster_t *c, size_t *n);

/* ------------------------------------------------------------ node reservations ----------
 * A window [start, end) on a set of nodes (Slurm's scontrol create reservation): for
 * maintenance (tenant -1: no job may use them in the window) or dedicated capacity (only
 * the jobs of that tenant, or of its sub-tenants, may). Outside the window's tenant, a job
 * does not start on a node whose window it would run into: it would run into it if
 * now + its time limit > start, and a job without a time limit always would (Slurm's rule
 * for a partition without MaxTime). Placement, backfill, preemption and hot-spare swaps
 * all honour it; a job already running when the window opens is left alone (the driver
 * drains or cancels it). An ended window blocks nothing; the driver deletes it. Cost: per
 * job placed, the nodes of the reservations that block it (applied once per pass while
 * successive jobs are blocked by the same ones), never the cluster. */
typedef struct cl_resv_spec {
    uint64_t id; /* the driver's, nonzero, unique */
    cl_time_t start, end;
    int32_t tenant;           /* -1: maintenance; else the tenant it is for */
    const cl_nodeid_t *nodes; /* copied (duplicates dropped) */
    size_t n;
} cl_resv_spec_t;
/* Refused with a sentence, nothing changed: id 0 or in use, end <= start (or not finite),
 * no nodes or a node out of range, an unknown tenant. */
int cl_resv_add(cl_cluster_t *c, const cl_resv_spec_t *r, cl_error_t *err);
/* -1 for no such reservation. */
int cl_resv_remove(cl_cluster_t *c, uint64_t id);
uint32_t cl_resv_count(const cl_cluster_t *c);

/* --------------------------------------------------------------------- nodes ------------- */
typedef enum cl_node_state {
    CL_NODE_UP,
    CL_NODE_DOWN,
    CL_NODE_DRAINING, /* no new work; jobs still running */
    CL_NODE_DRAINED,
    CL_NODE_MAINT,
} cl_node_state_t;

typedef struct cl_node_info {
    cl_node_state_t state;
    bool spare;      /* a free node held in the hot-spare reserve */
    uint64_t free;   /* healthy unallocated GPUs (bit mask) */
    uint64_t failed; /* failed GPUs */
    uint32_t njobs;
} cl_node_info_t;

int cl_node_get(const cl_cluster_t *c, cl_nodeid_t n, cl_node_info_t *out);
/* A node's CPUs and memory (MiB) for jobs, as its agent registered them (reported); 0: none
 * said, no limit. The use is what its running jobs' GPUs ask (cl_job_spec_t.cpus_per_gpu...).
 * A submission is refused when some node reported, every node that reported has an inventory
 * and none is enough; a node that did not report (reported false: a free slot, a node not
 * registered yet) is not counted. Takes effect at the next pass; a smaller inventory than its
 * running jobs hold stops nothing. */
void cl_node_set_inventory(cl_cluster_t *c, cl_nodeid_t n, bool reported, uint32_t cpus,
                           uint64_t mem_mb);
typedef struct cl_node_res {
    uint32_t cpus;
    uint64_t mem_mb;
    uint64_t cpus_used, mem_used_mb;
} cl_node_res_t;
/* 0 with *out, or -1 for no such node. O(GPUs of the node). */
int cl_node_inventory(const cl_cluster_t *c, cl_nodeid_t n, cl_node_res_t *out);
/* Up to max distinct running jobs on the node; returns the count. */
size_t cl_node_jobs(const cl_cluster_t *c, cl_nodeid_t n, cl_jobid_t *out, size_t max);

/* A node failure: the node goes down and each job on it is restarted in place on a hot
 * spare of the same leaf or pod, else requeued, else failed (max restarts). */
int cl_node_fail(cl_cluster_t *c, cl_nodeid_t n, cl_time_t now, cl_decisions_t *out,
                 cl_error_t *err);
/* One GPU fails: its job (if any) is handled as for a node failure; the node stays up
 * with one GPU fewer. */
int cl_gpu_fail(cl_cluster_t *c, cl_nodeid_t n, uint32_t gpu, cl_time_t now,
                cl_decisions_t *out, cl_error_t *err);
/* Down -> up (all GPUs healthy again); refills the pod's spares if short. */
int cl_node_recover(cl_cluster_t *c, cl_nodeid_t n, cl_time_t now, cl_error_t *err);
/* Admin: drain (no new work; drained once empty), maintenance (drain, then held for
 * maintenance), resume (back to up). Valid on any node that is not down. */
int cl_node_drain(cl_cluster_t *c, cl_nodeid_t n, cl_time_t now, cl_error_t *err);
int cl_node_maintenance(cl_cluster_t *c, cl_nodeid_t n, cl_time_t now, cl_error_t *err);
int cl_node_resume(cl_cluster_t *c, cl_nodeid_t n, cl_time_t now, cl_error_t *err);

/* ---------------------------------------------------------------- inspection ------------- */
typedef struct cl_stats {
    uint32_t nodes, nodes_up, nodes_down, nodes_draining, nodes_drained, nodes_maint;
    uint32_t spares_free, spares_target;
    uint64_t gpus, gpus_free, gpus_alloc, gpus_failed;
    uint64_t jobs_pending, jobs_running;
} cl_stats_t;
void cl_cluster_stats(const cl_cluster_t *c, cl_stats_t *st);

/* Recompute every counter, index and allocation from scratch and compare: 0 if all agree,
 * else -1 with the first disagreement. O(cluster); for tests. */
int cl_cluster_check(const cl_cluster_t *c, cl_error_t *err);

const char *cl_job_state_name(cl_job_state_t s);
/* Succeeded, failed or cancelled: a job that never runs again. */
static inline bool cl_job_finished(cl_job_state_t s)
{
    return s == CL_JOB_SUCCEEDED || s == CL_JOB_FAILED || s == CL_JOB_CANCELLED;
}
const char *cl_node_state_name(cl_node_state_t s);
const char *cl_action_name(cl_action_t a);

#ifdef __cplusplus
}
#endif
#endif
