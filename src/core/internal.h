/* internal.h - the core's private structures, shared by the files of src/core only. */
#ifndef COLOSSUS_CORE_INTERNAL_H
#define COLOSSUS_CORE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "colossus/core.h"

#define NIL UINT32_MAX

/* Crash with a report when an invariant breaks (Redis's serverAssert): silent corruption
 * of cluster state is worse than a restart from the journal. */
#define CL_ASSERT(x) ((x) ? (void)0 : cl__assert_fail(#x, __FILE__, __LINE__))
_Noreturn void cl__assert_fail(const char *expr, const char *file, int line);

void cl__err(cl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void *cl__xmalloc(size_t n);
void *cl__xcalloc(size_t n, size_t size);
void *cl__xrealloc(void *p, size_t n);
char *cl__xstrdup(const char *s);

/* ------------------------------------------------------------------ topology */
enum { LV_DOM = 1, LV_LEAF = 2, LV_POD = 3, LV_CLUSTER = 4 };

struct cl_topo {
    uint32_t nnodes, gpn;
    uint32_t nlv[4];     /* entities per level: [1] domains, [2] leaves, [3] pods */
    uint32_t *first[4];  /* [lv][e]..[lv][e+1]: e's children (nodes for domains) */
    uint32_t *parent[4]; /* [0] node->domain, [1] domain->leaf, [2] leaf->pod */
    uint32_t cap[4];     /* largest entity in nodes per level */
    char *names;         /* node names, NUL-separated */
    uint32_t *name_off;
    char **leaf_names, **pod_names;
    uint32_t *hash; /* node name -> id, open addressing, NIL = empty */
    uint32_t hmask;
};

uint32_t cl__topo_node_level(const cl_topo_t *t, cl_nodeid_t n, int lv);
uint32_t cl__topo_nodes_in(const cl_topo_t *t, int lv, uint32_t e);
/* Build a topology from explicit arrays (used by the presets and the Slurm parser).
 * leaf_nodes[l] = nodes of leaf l; pod_of_leaf[l]; names may be NULL (generated). */
cl_topo_t *cl__topo_build(uint32_t nleaves, const uint32_t *leaf_nodes,
                          const uint32_t *pod_of_leaf, uint32_t npods, uint32_t gpn,
                          uint32_t nodes_per_domain, char **node_names, char **leaf_names,
                          char **pod_names, const char *prefix, cl_error_t *err);

/* -------------------------------------------------------------------- nodes */
enum { H_UP = 0, H_DOWN = 1 };
enum { A_NONE = 0, A_DRAIN = 1, A_MAINT = 2 };

typedef struct node {
    uint64_t alloc;        /* GPUs held by jobs */
    uint64_t failed;       /* failed GPUs */
    uint32_t jprev, jnext; /* list of eligible nodes with exactly j free GPUs, 0<j<gpn */
    uint32_t sprev, snext; /* pod's free-spare list */
    uint8_t health, admin, spare, reserved;
    uint8_t hidden; /* out of placement for a moment: its pod has no power for the gang */
    uint8_t eff;    /* free GPUs as the index counts them (0 when not eligible) */
    uint8_t usable; /* healthy GPUs if up and not drained or in maintenance, else 0 */
    uint8_t excl;   /* an exclusive job runs here: no other job may */
    uint16_t xhide; /* out of placement for one job: its --exclude, or reservations that
                       block it (constraint.c); 0 outside a pass */
} node_t;

/* One level of the free-capacity index (domains, leaves or pods), per GPU threshold k:
 * cnt = eligible nodes with >= k free GPUs; entities are linked into buckets by cnt, both
 * globally and under their parent, so a search for "smallest entity with >= N" or
 * "children largest first" walks buckets, never the cluster. Bucket 0 is not linked. */
typedef struct level {
    uint32_t n, cap, nparents;
    uint32_t *cnt;           /* [k-1][n] */
    uint32_t *gprev, *gnext; /* global bucket links [k-1][n] */
    uint32_t *ghead;         /* [k-1][cap+1] */
    uint32_t *pprev, *pnext; /* parent bucket links [k-1][n] (absent for pods) */
    uint32_t *phead;         /* [k-1][nparents][cap+1] */
} level_t;

/* --------------------------------------------------------------------- jobs */
typedef struct job {
    cl_jobid_t id;
    uint64_t seq; /* submit order */
    uint32_t tenant, user;
    int32_t prio;
    uint32_t nnodes, k;
    uint32_t max_sw, max_restarts, restarts, incarnation, preemptions;
    double limit;
    cl_time_t submit, start, end;
    uint32_t qprev, qnext; /* pending list, or running-preemptible list of its level */
    uint32_t tprev, tnext; /* running: its tenant's (preemptible or not) running jobs */
    uint32_t hpos;         /* running heap position */
    uint32_t pend_pass;    /* pending: pend_why is valid while this is the cluster's npass
                              (mod 2^32: a job unvisited for exactly 2^32 passes reads a
                              stale reason); running: the pass that started it */
    uint8_t state, preemptible, requeued, live;
    uint8_t pend_why;   /* cl_pend_t */
    uint8_t held;       /* a hold: it waits until released */
    uint8_t singleton;  /* starts only while no other job of its name_key runs */
    uint8_t excl;       /* --exclusive */
    cl_alloc_t *alloc;  /* nnodes entries while running */
    uint64_t name_key;  /* the driver's key of (user, name); 0: none */
    uint64_t group_key; /* its array's key when it has a limit (group_max); 0: none */
    uint32_t group_max;
    struct jdeps *deps; /* its dependencies and dependents (deps.c); NULL: none (most) */
    struct jcons *cons; /* its --nodelist/--exclude (constraint.c); NULL: none (most) */
    /* float: watts need no more, and job_t grows by 8 bytes only. A running job counts
     * cl__power_job_w() in the power counters: whatever changes that recounts them. */
    float power_w;    /* stated projection per GPU, W (0: the class default) */
    float measured_w; /* the driver's measurement, W (0: none) */
    uint32_t cpg;     /* CPUs and MiB each of its GPUs needs on its node (res.c); 0: none */
    uint64_t mpg;
} job_t;

static inline uint64_t cl__job_gpus(const job_t *j)
{
    return (uint64_t)j->nnodes * j->k;
}

typedef struct plevel { /* one priority value */
    int32_t prio;
    uint32_t rq_head, rq_tail; /* requeued jobs: served first */
    uint32_t *t_head, *t_tail; /* per tenant FIFO (one list, [0], unless fair share) */
    uint32_t rp_head, rp_tail; /* running preemptible jobs, by start */
    uint64_t npending, nrun_preempt;
} plevel_t;

typedef struct tenant {
    char *name;
    cl_tenant_conf_t conf;
    double usage, last;    /* decayed fair-share usage, as of last */
    uint64_t running_gpus; /* its own running jobs' GPUs (fair share) */
    uint64_t tree_gpus;    /* with its sub-tenants' (quota, budget) */
    uint64_t npending, nrunning;
    uint32_t nsub;         /* sub-tenants (a top-level tenant) */
    uint32_t cohort;       /* index into c->co, NIL: none (top level only) */
    int64_t slack;         /* its term of the cohort's slack: min(lendable, quota - tree) */
    double bused, bat;     /* budget GPU-seconds used, integrated up to time bat */
    uint32_t rhead, rtail; /* its running jobs that are not preemptible, by start */
    uint32_t phead, ptail; /* its running preemptible jobs, by start */
    uint32_t rfail_pass;   /* a reclaim for rfail_g GPUs failed in that pass */
    uint64_t rfail_g;
    uint8_t spent; /* per pass: 1 its own budget is spent, 2 its parent's */
    double factor; /* fair share: set by cl__tenant_factors */
} tenant_t;

/* A cohort: top-level tenants lending each other idle quota. slack = the sum of the
 * members' min(lendable, quota - used) = total lendable - total borrowed (>= 0 unless a
 * configuration change over-committed it). Kept in O(1) per start and stop. */
typedef struct cohort {
    uint32_t id; /* the driver's number */
    uint32_t members;
    int64_t slack;
    uint64_t lend_total; /* sum of the members' min(lend_limit, quota) */
} cohort_t;

typedef struct user {
    uint32_t max_running, running;
} user_t;

enum { Q_OK, Q_FAIL, Q_RECLAIM }; /* cl__quota_check */

typedef struct pod_spares {
    uint32_t head, nfree, target;
} pod_spares_t;

/* Power (power.c): budgets, the cut, and the projected draw of running jobs by level. */
/* One kind of level below the site with budgets: the pods, or the leaves (rows). */
typedef struct power_lv {
    int kind;               /* LV_POD or LV_LEAF */
    uint32_t n;             /* levels of that kind */
    double *budget;         /* [n] 0: none */
    double *jobs_w;         /* [n] running jobs' projected W */
    uint64_t *alloc, *gpus; /* [n] */
    uint64_t *scratch;      /* [n] GPUs of a candidate gang, zero between uses */
    double *held_x;         /* [n] held GPUs' draw above idle (counted always) */
    uint32_t nbudgets;      /* levels with a budget */
} power_lv_t;
enum { PW_POD = 0, PW_LEAF = 1, PW_NLV = 2 };

typedef struct power {
    cl_power_conf_t conf;
    double cut_pct;
    double jobs_w;  /* running jobs' projected W, site */
    uint64_t alloc; /* allocated GPUs, site */
    power_lv_t lv[PW_NLV];
    /* the floor between runs (cl_power_hold): each held GPU's draw above idle, W
     * ([node * gpn + g], NULL until the first hold), their sum at the site, how many */
    float *hold_x;
    double held_x;
    uint64_t nheld;
    /* a re-placement that failed this pass (rfail_pass): a gang at least as large, with
     * nodes of at least as many GPUs at as much power, fails too (only a preemption frees
     * power in a pass: such a job then waits a pass more) */
    uint32_t rfail_pass, rfail_k, rfail_nn;
    double rfail_w;
} power_t;

struct cl_cluster {
    cl_topo_t *t;
    cl_cluster_opts_t o;
    uint32_t gpn;
    uint64_t allmask;
    node_t *nodes;
    uint32_t *gpu_job; /* [node*gpn+g] job slot + 1, 0 = free */
    level_t lv[4];     /* [1..3] */
    uint64_t *tot;     /* [k-1]: eligible nodes with >= k free */
    uint32_t *jhead;   /* [j]: eligible nodes with exactly j free, 0<j<gpn */
    pod_spares_t *spares;
    uint32_t spares_target_total;

    job_t *jobs;
    uint32_t njobs_cap, free_slot; /* free slots chained through qnext */
    uint32_t *id2slot;             /* job id -> slot + 1 */
    uint64_t id_cap;
    cl_jobid_t next_id;
    uint64_t seq;
    uint64_t npending, nrunning;

    plevel_t *pl; /* sorted by prio, highest first */
    uint32_t npl;
    tenant_t *tn;
    uint32_t ntn;
    cohort_t *co;
    uint32_t nco;
    user_t *users; /* [user id] */
    uint32_t nusers;
    uint64_t *usable;   /* [k-1]: nodes up, not drained or in maintenance, >= k healthy GPUs */
    uint32_t npass;     /* passes so far, mod 2^32 (pending reasons are valid for the last) */
    cl_time_t pass_now; /* the last pass's time (which reservation a CL_PEND_RESV names) */
    uint32_t nbudget;   /* tenants with a budget */
    uint8_t spent_any;  /* the last pass found a budget spent */

    uint32_t *heap; /* running jobs by deadline (start + limit) */
    uint32_t nheap, heap_cap;

    /* scratch */
    uint32_t *sel;
    uint32_t nsel, sel_cap;
    uint32_t *rel; /* virtually released jobs */
    uint32_t nrel, rel_cap;

    /* last pass */
    cl_jobid_t resv_job;
    cl_time_t resv_shadow;
    uint32_t *resv;
    uint32_t nresv, resv_cap;
    uint64_t *resv_ge; /* [k-1]: reserved nodes with >= k free GPUs when reserved */
    struct nresv *nr;  /* node reservations (constraint.c) */
    uint32_t nnr, nr_cap;
    uint64_t *rhid_ge; /* [k-1]: nodes with >= k free hidden by applied reservations */
    cl_jobid_t *bf;
    uint32_t nbf, bf_cap;

    power_t pw;

    /* deps.c: jobs whose dependency can never be satisfied, cancelled by the next pass; and
     * running jobs per name key (open addressing, for singletons) */
    cl_jobid_t *dead;
    uint32_t ndead, dead_cap;
    uint64_t *skey;
    uint32_t *scnt;
    uint32_t smask, sused;

    /* res.c: nodes' CPUs and memory (NULL until a node has an inventory; 0: no limit), how
     * many nodes have one, and whether the last cl__place_res failed for them alone */
    uint32_t *inv_cpus;
    uint64_t *inv_mem;
    uint8_t *inv_rep;    /* the node reported (cl_node_set_inventory) */
    uint32_t ninv, nrep; /* nodes with an inventory; nodes that reported */
    uint8_t res_short;
    /* The last search that found no nodes with the CPUs and memory (res.c): a job asking at
     * least as much in the same mode fails too while no node gained room (res_epoch, which
     * index.c raises whenever a node's free GPUs grow and res.c when an inventory changes) */
    uint64_t res_epoch, res_fail_epoch;
    uint32_t res_fail_nn, res_fail_k, res_fail_cpg, res_fail_sw;
    uint64_t res_fail_mpg;
    uint8_t res_fail_dom;
    uint32_t res_cursor;        /* where the last one-node job's search found its node */
    uint32_t res_ent_cursor[2]; /* the leaf [0] or domain [1] the last gang's search took */
    uint32_t res_need;          /* free GPUs a node needs for the job being placed */
};

static inline uint32_t cl__popc(uint64_t x)
{
    return (uint32_t)__builtin_popcountll(x);
}
static inline uint64_t cl__node_free(const cl_cluster_t *c, const node_t *n)
{
    return c->allmask & ~n->alloc & ~n->failed;
}
static inline job_t *cl__job(cl_cluster_t *c, cl_jobid_t id)
{
    if (id == 0 || id >= c->id_cap || !c->id2slot[id]) return NULL;
    return &c->jobs[c->id2slot[id] - 1];
}

/* res.c: placement with CPUs and memory (cl__place for nodes of `need` free GPUs, then the
 * nodes checked); 0 or -1, with c->res_short set when only CPUs or memory were missing.
 * cl__place_job (constraint.c) calls it with the job's constraints applied. */
int cl__place_res(cl_cluster_t *c, const job_t *j, uint32_t need);
int cl__res_never(const cl_cluster_t *c, const cl_job_spec_t *s, uint32_t k, cl_error_t *err);
/* Node id has room for j's CPUs and memory there (a hot spare's check). */
int cl__res_fits(const cl_cluster_t *c, uint32_t id, const job_t *j);
void cl__res_free(cl_cluster_t *c);
int cl__res_check(const cl_cluster_t *c);

/* index.c */
int cl__index_init(cl_cluster_t *c);
void cl__index_free(cl_cluster_t *c);
uint32_t cl__node_eff(const cl_cluster_t *c, const node_t *n);
uint32_t cl__node_usable(const cl_cluster_t *c, const node_t *n);
void cl__node_usable_update(cl_cluster_t *c, cl_nodeid_t id);
void cl__node_update(cl_cluster_t *c, cl_nodeid_t id); /* re-derive eff and fix the index */
uint32_t cl__bucket_head(const cl_cluster_t *c, int lv, uint32_t k, uint32_t parent,
                         uint32_t cnt);
uint32_t cl__cnt(const cl_cluster_t *c, int lv, uint32_t k, uint32_t e);

/* place.c: choose nodes for a gang without changing anything (result in c->sel). */
int cl__place(cl_cluster_t *c, uint32_t nnodes, uint32_t k, uint32_t max_sw);
void cl__sel_push(cl_cluster_t *c, uint32_t n);

/* constraint.c: a job's placement constraints and the node reservations. */
/* Place job j (c->sel) honouring its --exclusive, --nodelist, --exclude and the node
 * reservations that block it at now; 0 on success. */
int cl__place_job(cl_cluster_t *c, const job_t *j, cl_time_t now);
/* The GPU threshold a job's nodes need: all of them for an exclusive job. */
static inline uint32_t cl__job_need(const cl_cluster_t *c, const job_t *j)
{
    return j->excl ? c->gpn : j->k;
}
/* Why a job that cl__place_job could not place waits, when its constraints are the
 * reason (counts only); CL_PEND_NONE when they are not. */
cl_pend_t cl__cons_why(const cl_cluster_t *c, const job_t *j, cl_time_t now);
/* May running job j use node n (a hot spare) until its deadline? */
int cl__node_allowed(const cl_cluster_t *c, const job_t *j, cl_nodeid_t n, cl_time_t now);
/* Is node n on j's nodelist (if it has one) and off its exclude list? */
int cl__node_allowed_list(const job_t *j, cl_nodeid_t n);
/* End of a pass: every reservation's hiding lifted. */
void cl__resv_unapply_all(cl_cluster_t *c);
/* A job's --nodelist/--exclude as the core keeps them (*out NULL: none), or -1 with a
 * sentence for lists that name a node out of range or leave fewer than nn nodes. */
int cl__cons_make(const cl_cluster_t *c, const cl_job_spec_t *s, uint32_t nn,
                  struct jcons **out, cl_error_t *err);
void cl__cons_free(job_t *j);
void cl__cons_info(const job_t *j, cl_job_info_t *o);
void cl__resv_free(cl_cluster_t *c);
cl_time_t cl__resv_wakeup(const cl_cluster_t *c, cl_time_t now);
/* The first reservation that blocks j at the last pass (CL_PEND_RESV's), 0: none now. Asked
 * rather than kept: a job record stays 8 bytes smaller. */
cl_jobid_t cl__resv_blocking(const cl_cluster_t *c, const job_t *j);
/* Take k GPUs on each selected node for job slot js (rank order = selection order). */
void cl__commit(cl_cluster_t *c, uint32_t js);
/* Take the k lowest free GPUs of a node for job slot js / give GPUs back; both re-index. */
uint64_t cl__node_take(cl_cluster_t *c, cl_nodeid_t id, uint32_t k, uint32_t js);
void cl__node_give(cl_cluster_t *c, cl_nodeid_t id, uint64_t gpus);

/* spares.c */
void cl__spares_init(cl_cluster_t *c);
void cl__spare_refill(cl_cluster_t *c, uint32_t pod);
void cl__spare_unlink(cl_cluster_t *c, cl_nodeid_t n);
/* A spare that running job j may use (cl__node_allowed), near node `near`. */
cl_nodeid_t cl__spare_take(cl_cluster_t *c, cl_nodeid_t near, const job_t *j, cl_time_t now);

/* jobs.c */
void cl__heap_push(cl_cluster_t *c, uint32_t js);
void cl__heap_remove(cl_cluster_t *c, uint32_t js);
double cl__deadline(const job_t *j);
/* Running-job order by deadline (start + limit), then id: the heap's and the reservation's. */
int cl__deadline_before(const cl_cluster_t *c, uint32_t a, uint32_t b);
void cl__job_running(cl_cluster_t *c, uint32_t js, cl_time_t now);
void cl__job_release(cl_cluster_t *c, uint32_t js, cl_time_t now);
void cl__job_release_norefill(cl_cluster_t *c, uint32_t js, cl_time_t now);
void cl__job_requeue(cl_cluster_t *c, uint32_t js, cl_time_t now);
void cl__job_terminal(cl_cluster_t *c, uint32_t js, cl_job_state_t st, cl_time_t now);
void cl__decide(cl_decisions_t *d, const job_t *j, cl_action_t a, cl_nodeid_t o, cl_nodeid_t n);

/* deps.c */
/* Check spec's dependencies before a submission changes anything (-1 with err). */
int cl__deps_check(const cl_cluster_t *c, const cl_job_spec_t *s, cl_error_t *err);
/* Attach the checked dependencies to the new job js. */
void cl__deps_attach(cl_cluster_t *c, uint32_t js, const cl_job_spec_t *s);
/* js ended: resolve the jobs waiting for it. */
void cl__deps_ended(cl_cluster_t *c, uint32_t js);
/* Why js may not start for its hold, its dependencies or its singleton peer (CL_PEND_NONE:
 * none of those). */
cl_pend_t cl__deps_block(const cl_cluster_t *c, const job_t *j);
/* Start of a pass: cancel the jobs whose dependency can never be satisfied. */
void cl__deps_dead(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out);
/* A running job of name_key starts (+1) or stops (-1). */
void cl__skey_add(cl_cluster_t *c, uint64_t key, int d);
void cl__deps_free(job_t *j);
cl_jobid_t cl__deps_never(const job_t *j);
uint32_t cl__deps_waiting(const job_t *j);
void cl__deps_destroy(cl_cluster_t *c);

/* queue.c */
void cl__queue_push(cl_cluster_t *c, uint32_t js, int at_head);
void cl__queue_remove(cl_cluster_t *c, uint32_t js);
uint32_t cl__plevel(cl_cluster_t *c, int32_t prio);
void cl__rp_push(cl_cluster_t *c, uint32_t js);
void cl__rp_remove(cl_cluster_t *c, uint32_t js);
/* Doubly linked lists of job slots through a pair of link fields (qprev/qnext, ...). */
void cl__list_push(job_t *jobs, size_t off, uint32_t *head, uint32_t *tail, uint32_t js);
void cl__list_remove(job_t *jobs, size_t off, uint32_t *head, uint32_t *tail, uint32_t js);
#define CL_LINK_Q offsetof(job_t, qprev)
#define CL_LINK_T offsetof(job_t, tprev)

/* tenant.c */
void cl__tenant_advance(cl_cluster_t *c, uint32_t t, cl_time_t now);
/* Advance every tenant's usage to now and set its fair-share factor (tn[].factor). */
void cl__tenant_factors(cl_cluster_t *c, cl_time_t now);
static inline uint32_t cl__top(const cl_cluster_t *c, uint32_t t)
{
    int32_t p = c->tn[t].conf.parent;
    return p < 0 ? t : (uint32_t)p;
}
/* A job starts (on = 1) or stops holding its GPUs at now: usage and budget integrals, the
 * quota counters, its tenant's running list, its cohort's, its user's count. */
void cl__tenant_run(cl_cluster_t *c, uint32_t js, cl_time_t now, int on);
/* Quota counters only (no time passes): for "what if these jobs had ended". */
void cl__tenant_hold(cl_cluster_t *c, uint32_t t, int64_t gpus);
/* Could a job of tenant t start on g more GPUs, quota-wise? Q_OK, Q_FAIL, or Q_RECLAIM (it
 * fits its own nominal quota but the cohort's is lent out). O(1). */
int cl__quota_check(const cl_cluster_t *c, uint32_t t, uint64_t g);
/* The most GPUs a job of tenant t could ever get by quota (CL_UNLIMITED: no quota). */
uint64_t cl__quota_max(const cl_cluster_t *c, uint32_t t);
/* Start of a pass: mark tenants whose budget is spent, stop the jobs of those whose policy
 * says so (decisions appended). */
void cl__budgets(cl_cluster_t *c, cl_time_t now, cl_decisions_t *out);
/* Make room for user id u (grows the table); 0, or -1 if out of range. */
int cl__user_slot(cl_cluster_t *c, uint32_t u, cl_error_t *err);
static inline int cl__user_blocked(const cl_cluster_t *c, const job_t *j)
{
    const user_t *u = j->user ? &c->users[j->user] : NULL;
    return u && u->max_running && u->running >= u->max_running;
}
static inline void cl__pend(cl_cluster_t *c, job_t *j, cl_pend_t why)
{
    j->pend_why = (uint8_t)why;
    j->pend_pass = c->npass;
}

/* power.c */
void cl__power_init(cl_cluster_t *c);
void cl__power_free(cl_cluster_t *c);
/* A job starts (on = 1, after its allocation is committed) or stops holding its GPUs. */
void cl__power_run(cl_cluster_t *c, uint32_t js, int on);
/* Would the job fit the site's budget / the pods' budgets on the nodes in c->sel? */
int cl__power_site_ok(const cl_cluster_t *c, const job_t *j);
int cl__power_pods_ok(cl_cluster_t *c, const job_t *j);
/* The gang was placed (c->sel) over a pod's budget: place it again without the pods that
 * cannot take one of its nodes. 1: c->sel now fits every pod's budget. */
int cl__power_replace(cl_cluster_t *c, const job_t *j, cl_time_t now);
/* Running job js's node `from` is swapped for `to` (a hot spare): its k GPUs' power moves
 * between their pods and leaves. O(1). */
void cl__power_move(cl_cluster_t *c, uint32_t js, cl_nodeid_t from, cl_nodeid_t to);
/* One node of job j (its k GPUs at its projection) fits leaf's budget (or it has none):
 * where a hot spare from another leaf may go. */
int cl__power_leaf_room(const cl_cluster_t *c, uint32_t leaf, const job_t *j);
double cl__power_job_w(const cl_cluster_t *c, const job_t *j);
/* Recount the power counters from the running jobs (cl_cluster_check). */
int cl__power_check(const cl_cluster_t *c, cl_error_t *err);

/* preempt.c: "what if these jobs had ended" and stopping them for a gang. */
void cl__virt_release(cl_cluster_t *c, uint32_t js, int hold);
void cl__virt_restore(cl_cluster_t *c, uint32_t js, int hold);
void cl__start(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out, int bf);
/* Preempt preemptible jobs of priority levels below li until the gang fits. 1: started. */
int cl__try_preempt(cl_cluster_t *c, uint32_t li, uint32_t js, cl_time_t now,
                    cl_decisions_t *out);
/* A lender's job: preempt borrowers' preemptible jobs in its cohort, newest first, until it
 * fits its quota and the nodes. 1: started (bf: behind the reservation). */
int cl__try_reclaim(cl_cluster_t *c, uint32_t js, cl_time_t now, cl_decisions_t *out, int bf);

#endif
