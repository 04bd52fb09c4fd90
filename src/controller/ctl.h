/* ctl.h - the controller object's state and the functions its files share. Internal to
 * src/controller; the object's interface is controller.h. */
#ifndef COLOSSUS_CONTROLLER_CTL_H
#define COLOSSUS_CONTROLLER_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "colossus/core.h"
#include "controller/controller.h"
#include "proto/frame.h"
#include "store/store.h"
#include "util/util.h"

/* A FIFO of elem-byte elements in a ring that doubles when full (ctl_ring.c); set elem
 * before the first push. */
typedef struct ctl_ring {
    unsigned char *v;
    size_t elem, head, n, cap;
} ctl_ring_t;
void *ctl_ring_push(ctl_ring_t *r);        /* the new last element's slot */
void *ctl_ring_front(const ctl_ring_t *r); /* NULL when empty */
void ctl_ring_pop(ctl_ring_t *r);
void ctl_ring_free(ctl_ring_t *r);

/* One liveness deadline (see ctl_t.deadq). */
struct ctl_deadline {
    uint32_t node;
    uint64_t at; /* monotonic ms */
};

typedef struct ctl_node {
    uint32_t id;
    char name[64];
    bool bound;        /* an agent name owns this slot */
    bool alive;        /* heartbeating; up (or draining...) in the core */
    ctl_sink_t *conn;  /* carrying connection (a reference), NULL when none */
    uint64_t deadline; /* monotonic ms when it is suspected without a heartbeat; 0: none */
    char addr[64];
    uint32_t ngpus; /* GPUs the agent reported (capped to the topology) */
    bool drained;
    char reason[128];
    double last_seen;
    bool suspect;   /* its deadline passed; judged after this loop turn's input */
    bool vouched;   /* issue 16: conn vouches for it: alive while conn's frames come */
    char build[32]; /* issue 14: the agent's build (Register.build), "" not said */
    char via[128];  /* issue 16: the relays it registered through (Register.via), "" none */
} ctl_node_t;

typedef struct ctl_waiter {
    struct ctl_waiter *next;
    ctl_sink_t *sink; /* a reference */
    uint64_t req;
} ctl_waiter_t;

/* One run (incarnation) of a job, for its usage record (ctl_usage.c): made when it starts,
 * closed when it ends, journaled once every node reported its exit (energy, FLOPs) or
 * RUN_REPORT_WAIT_S after the end. */
typedef struct ctl_run {
    uint64_t job;
    uint32_t inc, nalloc, gpus, nreported;
    double start, end, deadline;
    const char *ended; /* static text: succeeded, failed, ... */
    char *nodes, *reason;
    int32_t exit_code;
    bool has_exit;
    double energy_j, flops;
    struct ctl_run *next_waiting;
    bool reported[]; /* per allocation position */
} ctl_run_t;

/* A job array (Slurm's --array): its tasks are jobs of consecutive ids from id (the array's
 * id) in index order, which share these strings (one copy for 100,000 tasks); freed with
 * the last task record that points here. The journal holds argv and env in the first task's
 * row only. */
typedef struct ctl_array {
    uint64_t id;
    uint32_t refs;  /* task records pointing here */
    uint32_t limit; /* most tasks running at once (--array ...%N); 0: none */
    char *text;     /* --array as submitted */
    char *name, *tenant, *cwd, *user, *output, *error, *dependency, *array, *nodelist, *exclude;
    char **argv, **env;
    size_t argc, envc;
} ctl_array_t;

typedef struct ctl_job {
    uint64_t id;
    uint64_t array_id;   /* a task of an array: the array's id; 0: not a task */
    uint32_t array_task; /* its index */
    ctl_array_t *arr;    /* a task's shared strings (its name, argv... are arr's); NULL: the
                            record owns its strings (also a task read back alone) */
    char *name, *tenant, *cwd;
    char *user;                    /* who submitted it ("" the cluster key) */
    uint32_t uid, gid;             /* its ranks run as these */
    uint32_t tenant_ix;            /* core tenant index */
    bool preemptible;              /* its user's QOS makes it preemptible */
    ctl_run_t *run;                /* the current run; NULL when none */
    ctl_run_t *run_done;           /* the last run that ended, waiting for its nodes' reports */
    double energy_j, flops, gpu_s; /* all runs journaled so far (gpu_s: ended runs) */
    char **argv, **env;
    size_t argc, envc;
    uint32_t nodes, gpus_per_node, max_restarts;
    uint32_t ntasks;       /* tasks per node; 0: one per GPU */
    uint32_t cpus_per_gpu; /* --cpus-per-gpu, --mem-per-gpu (MiB); 0: none asked */
    uint64_t mem_per_gpu_mb;
    bool cwd_strict;      /* cwd was asked (--chdir): never another directory */
    char *output, *error; /* --output, --error patterns (NULL none) */
    char *dependency;     /* --dependency as submitted (NULL none) */
    char *array;          /* a task: its array's --array; NULL: not a task */
    char *nodelist;       /* --nodelist, --exclude hostlists as submitted (NULL none) */
    char *exclude;
    bool exclusive;      /* --exclusive */
    char ended[16];      /* finished: how (succeeded, failed, cancelled, timeout, node_fail,
                          * budget, out_of_memory); "" while live */
    bool held;           /* pending and held: a release lets it start */
    double time_limit_s; /* 0: none */
    int32_t priority;
    cl_job_state_t state;
    uint32_t restarts_base; /* failure restarts before this controller run */
    uint32_t inc_base;      /* wire incarnation = inc_base + core incarnation */
    uint32_t inc;           /* current (or last) wire incarnation */
    uint32_t master_port;   /* the current run's MASTER_PORT; 0: not known (recovering) */
    int32_t exit_code;
    bool has_exit;
    double submit_time, start_time, end_time;
    uint32_t *alloc; /* node ids, rank order, of the current or last run */
    uint32_t nalloc;
    uint64_t *alloc_index; /* (node << 32 | position) sorted, for gangs of many nodes */
    bool *done;            /* per alloc entry: that node's ranks all exited 0 */
    uint32_t ndone;
    bool *started; /* per alloc entry: that node's ranks all exec'd (Started) */
    uint32_t nstarted;
    double running_time; /* every rank of this incarnation exec'd; 0: not yet */
    char reason[160];
    uint64_t journal_seq; /* batch holding its latest journal record */
    bool recovering;      /* running before a controller restart; not yet reconciled */
    bool *seen;           /* recovering: node reported the incarnation alive */
    int32_t *rec_code;    /* recovering: exit reported while the controller was away */
    uint64_t *rec_oom_mb; /* and its OOM kill's memory limit (0: none) */
    bool *rec_exited;
    ctl_waiter_t *waiters;
    /* A rank failed: the job is stopped, but it is only failed (a user error) once dead-after
     * has passed with all its nodes alive; a node of it declared down meanwhile makes it a
     * node failure (restart) instead, since a dying node takes its peers' ranks down too. */
    bool fail_pending;
    int32_t fail_code;
    bool fail_oom; /* that failure was the kernel's OOM killer at the memory limit */
    double fail_deadline;
    char fail_reason[160];
    struct ctl_job *fail_next; /* list of jobs with a pending failure */
    uint32_t power_mw;         /* per-GPU power limit sent to its nodes, mW (0: default) */
    uint64_t power_seq;        /* the PowerLimit that carried it (ctl_power.c) */
    double power_sum_w;        /* its measured W per GPU, summed over the samples so far */
    uint32_t power_samples;    /* (one every POWER_MEASURE_S while it runs, all runs) */
    float power_told_w;        /* the mean last given to the core (0: none yet) */
    double power_ramp_w;       /* its limits ramping up since its start: W per GPU now (0:
                                  not ramping) */
    uint32_t *power_nodes;     /* with a ramp in force at its start: the run's nodes and */
    uint64_t *power_gpus;      /* GPUs, held at the floor when it ends (ctl_power.c) */
    uint32_t power_nnodes;
    bool power_send; /* its first limit goes out even at the default (it takes
                        over held GPUs from the agent's floor burn) */
    /* issue 14: a job never runs twice at once. Its next incarnation's Launch waits until
     * every live node of the one before said it ended (Exited) or died (its lease froze its
     * ranks first: docs/standby.md, "Fencing") */
    uint32_t *await; /* node ids still running incarnation await_inc */
    uint32_t nawait, await_inc;
    bool launch_held;                      /* the current incarnation's Launch waits for them */
    double await_deadline;                 /* then it goes anyway (said in the log) */
    struct ctl_job *held_next, *held_prev; /* on c->held while launch_held */
} ctl_job_t;

/* What an agent gives stopped ranks between SIGTERM and SIGKILL (backend_proc.c's GRACE_MS):
 * a held Launch waits at most dead-after + this + 1 s for the incarnation before to end. */
#define CTL_STOP_GRACE_MS 3000
/* The recovery window after a start (docs/protocol.md): dead-after + 1.5 s, held open while
 * nodes go on registering, each this long, up to this much more in all. */
#define CTL_RECOVER_HOLD_S 1.0
#define CTL_LEAF_EVENT_NODES 4 /* nodes of one leaf down together: a network event */
#define CTL_RECOVER_HOLD_MAX_S 60.0

/* A log read from shared storage answers at most this much, as an agent does (agent.c). */
#define CTL_LOG_READ_MAX (3u << 20)

typedef struct ctl_logreq {
    struct ctl_logreq *next;
    uint64_t id;        /* our request id towards the agent */
    ctl_sink_t *client; /* a reference */
    uint64_t client_req;
    uint32_t node;
    bool file; /* read from the node's log directory on shared storage (--log-root) */
} ctl_logreq_t;

/* Messages a batch holds until it is durable: packed Colossus__Msg bytes in one arena, each
 * with its sink (a reference). */
typedef struct ctl_held {
    ctl_sink_t *sink;
    size_t off, len;
} ctl_held_t;

typedef struct ctl_batch {
    uint64_t seq;
    cl_store_batch_t *records;
    cl_buf_t bytes;
    ctl_held_t *held;
    size_t nheld, capheld;
    uint32_t writers; /* client write operations answered in it (see ctl_t.linger_target) */
} ctl_batch_t;

/* How a node failure was detected (ctl_counters_t.detections). */
typedef enum ctl_detect {
    CTL_DETECT_HEARTBEAT,     /* no heartbeat for dead-after */
    CTL_DETECT_AGENT_RESTART, /* its agent came back without ranks the controller runs there */
    CTL_DETECT_GPU_HEALTH,    /* a GPU health verdict that is a node failure, with jobs on it */
    CTL_DETECT_N,
} ctl_detect_t;

/* How a run ended (ctl_counters_t.run_gpu_s; the usage record's "ended"). */
#define CTL_RUN_ENDS 9
extern const char *const ctl_run_ends[CTL_RUN_ENDS]; /* succeeded, failed, ... (ctl_usage.c) */

#define CTL_PASS_BUCKETS 7 /* scheduling pass time: 100 us .. 100 s, decades */
#define CTL_XID_CODES 32   /* XID codes with a series of their own (docs/metrics.md) */

/* What /metrics counts (ctl_metrics.c), since this controller started: a few additions on
 * paths that do far more, never a walk. */
typedef struct ctl_counters {
    uint64_t submitted;
    uint64_t ended[CL_JOB_CANCELLED + 1];     /* by cl_job_state_t: finished states only */
    uint64_t decisions[CL_ACT_DEP_NEVER + 1]; /* by cl_action_t */
    uint64_t detections[CTL_DETECT_N];        /* node failures, by how they were found */
    uint64_t leaf_events; /* issue 16: a leaf's nodes lost together (ctl_nodes.c) */
    uint64_t passes;      /* scheduling passes */
    double pass_s;        /* their CPU time */
    uint64_t pass_le[CTL_PASS_BUCKETS + 1]; /* passes per bucket (not cumulative; last: +Inf) */
    /* XIDs as their reports arrive (ctl_metrics_xid): by code, the first CTL_XID_CODES codes
     * seen each with its own count (xid_n[CTL_XID_CODES]: every later code), and by pod */
    uint32_t xid_codes;
    uint64_t xid_code[CTL_XID_CODES], xid_n[CTL_XID_CODES + 1];
    uint64_t *xid_pod;              /* one per pod, allocated at the first XID */
    double run_gpu_s[CTL_RUN_ENDS]; /* GPU-seconds of the runs journaled, by how they ended */
    uint64_t renders;               /* /metrics rendered, and their CPU time */
    double render_s;
} ctl_counters_t;

struct ctl {
    ctl_config_t cfg;
    ctl_clock_t clock;
    ctl_hooks_t hooks;
    cl_cluster_t *cluster;
    cl_store_t *store;
    /* group commit (ctl_turn.c) */
    ctl_batch_t batch[2]; /* one open, one in flight (or idle) */
    ctl_batch_t *open, *flight;
    uint64_t next_seq, durable_seq;
    double commit_failing_since; /* 0: the journal is fine */
    double commit_retry_at;      /* wall s of the next retry of the failed batch; 0: none */
    /* Group commit of closed-loop clients (each waits for its reply before it asks again):
     * the batch that grew while the last one committed holds only the clients that were not
     * in that one, so handing it over at once keeps them in two cohorts that take turns, each
     * waiting two commits per request (measured: half the acknowledgements per second of
     * committing on the loop). So when a batch is durable, the clients whose writes it held
     * are expected back: the next batch waits, for at most CTL_LINGER_MS, until it holds
     * linger_target records. Agents do not wait for their acknowledgements: they are not
     * counted, and their traffic never lingers. */
    size_t linger_target;
    uint64_t linger_until; /* monotonic ms; 0: not lingering */
    uint32_t commit_failures;
    bool stopped;
    /* Nodes whose deadline passed this loop turn. libuv runs timers before it reads the
     * sockets, so after a long turn (a registration storm) heartbeats that did arrive are
     * still unread: a suspect is declared down only at the end of the turn, after the reads,
     * if no heartbeat cleared it (ctl_nodes_judge()). */
    uint32_t *suspects;
    size_t nsuspects, suspects_cap;
    /* Liveness deadlines: every heartbeat appends (node, now + dead_after) to a FIFO, which
     * stays sorted because every entry of a queue has the same duration; the owner's one
     * timer serves the earliest head (ctl_next_timer_ms()). An entry whose node was
     * heartbeated again since (its deadline moved) is stale and skipped. O(1) per heartbeat,
     * where one uv timer per node cost a heap update each (90% of the controller's CPU at
     * 100,000 hollow nodes). Queue 0: dead_after; queue 1: twice that, for the first
     * heartbeat after registration. */
    ctl_ring_t deadq[2]; /* of struct ctl_deadline */
    /* issue 16: the connections that vouch for their nodes (relays, Heartbeat.vouch; a
     * reference each): a node vouched for has no deadline of its own, its connection has one
     * (ctl_sink_t.vdeadline), so a relay's frame costs O(1) plus what changed */
    ctl_sink_t **vouchers;
    size_t nvouchers, vouchers_cap, nvsuspects;
    /* issue 16: nodes declared down lately, by leaf switch: CTL_LEAF_EVENT_NODES of one leaf
     * within two heartbeat periods are one network event, one log line (allocated at the
     * first node down) */
    struct ctl_leaf_down {
        double first; /* when the first of this run went down */
        uint32_t count;
        bool said;
    } * leaf_down;
    /* Finished jobs stay in memory keep_finished_s after their end (then `show`, `wait` and
     * `logs` read them from the journal): ids in the order they ended. */
    ctl_ring_t finished;     /* of uint64_t job ids */
    uint64_t next_tick_ms;   /* time limits, pending failures, purge, end of recovery */
    uint64_t next_health_ms; /* health check timeouts */
    ctl_node_t *nodes;
    uint32_t *name_tab, name_cap, next_free; /* name -> node id (ctl_nodes.c) */
    uint32_t nnodes;                         /* topology size */
    uint32_t gpus_per_node;
    ctl_job_t **jobs; /* indexed by id; ids are dense */
    uint64_t jobs_cap, max_id;
    ctl_logreq_t *logreqs;
    ctl_job_t *fail_pending; /* jobs whose rank failure waits for dead-after */
    ctl_job_t *held;         /* jobs whose Launch waits for the old incarnation's end */
    uint64_t next_logreq;
    bool sched_needed;
    bool sched_new;          /* jobs submitted since the last pass (ctl_turn_end) */
    uint64_t sched_last_ms;  /* when the last pass ran (monotonic) */
    bool recovering;         /* start-up window: waiting for agents before reconciling */
    uint64_t recover_unseen; /* nodes of recovering jobs not yet heard from (0: end early) */
    double recover_until;
    double recover_cap; /* the window is held open while nodes register, until this at most */
    uint64_t stale_fences; /* stale launches fenced on connections of many nodes (logging) */
    ctl_sink_t *touched;   /* sinks delivered to in the current release */
    struct ctl_health *health; /* GPU health of every node (ctl_health.c) */
    uint64_t cluster_id;       /* made with the journal; agents check it (Registered) */
    struct ctl_acct *acct;     /* users, QOS, credentials, tenants' settings (ctl_acct.h) */
    uint8_t identity[32];      /* the controller's identity public key (ctl_set_identity) */
    ctl_counters_t count;      /* for /metrics */
    uint32_t watchers;         /* listed watchers: 0, no event is made (ctl_watch.c) */
    struct ctl_feed *feed;     /* the watch feed, made with the first watcher */
    struct ctl_idem *idem;     /* submissions' idempotency keys (ctl_idem.c) */
    struct ctl_power *power;   /* budgets, cut, limits sent and their reports (ctl_power.c) */
    struct ctl_resv *resv;     /* node reservations (ctl_resv.c) */
};

/* ---- time and logs (ctl_turn.c) ---- */
double ctl_now(const ctl_t *c);       /* wall seconds, from the clock */
uint64_t ctl_mono_ms(const ctl_t *c); /* monotonic ms, from the clock */
void ctl_log(ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- messages out: held with the open batch (ctl_turn.c) ---- */
void ctl_send(ctl_t *c, ctl_sink_t *s, const Colossus__Msg *m);
void ctl_send_node(ctl_t *c, uint32_t node, const Colossus__Msg *m); /* unconnected: dropped */
void ctl_reply(ctl_t *c, ctl_sink_t *s, Colossus__Response *r);
void ctl_reply_error(ctl_t *c, ctl_sink_t *s, uint64_t req, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ctl_reply_ok(ctl_t *c, ctl_sink_t *s, uint64_t req, const char *text); /* text: NULL ok */
void ctl_reply_job(ctl_t *c, ctl_sink_t *s, uint64_t req, ctl_job_t *j);
/* Replies are cut in parts of at most about this many bytes (Response.more): no frame nears
 * CL_FRAME_MAX whatever the cluster's size. */
#define CTL_PART_BYTES (1u << 20)
/* head holds one job whose JobInfo is over CTL_PART_BYTES (its node list: a gang of 539,000
 * nodes names 5 MB): sent with the first of its nodes, then the rest of them in parts of
 * Response.job_nodes; the last part's `more` is more_after, its page_more page_more. */
void ctl_reply_big_job(ctl_t *c, ctl_sink_t *reply, Colossus__Response *head, bool more_after,
                       bool page_more);
/* ---- journal records: into the open batch (ctl_turn.c) ---- */
void ctl_journal_job(ctl_t *c, ctl_job_t *j);
void ctl_node_journal(ctl_t *c, ctl_node_t *n);
void ctl_journal_meta(ctl_t *c, const char *k, uint64_t v);

/* ---- nodes (ctl_nodes.c) ---- */
int ctl_nodes_init(ctl_t *c, cl_error_t *err);
void ctl_nodes_free(ctl_t *c);
/* who as ctl_peer_msg() let it through: the cluster key, or a usable node credential. */
void ctl_node_register(ctl_t *c, const ctl_principal_t *who, ctl_sink_t *conn,
                       const Colossus__Register *r);
/* Forget a node's name (node remove): not while its agent is connected or it holds a job.
 * The slot is free for another name; journaled. */
int ctl_node_remove(ctl_t *c, const char *name, cl_error_t *err);
void ctl_node_heartbeat(ctl_t *c, ctl_sink_t *conn, const Colossus__Heartbeat *hb);
void ctl_nodes_conn_closed(ctl_t *c, ctl_sink_t *conn);
/* issue 16: a relay's agents left it (Detach): conn carries those nodes no more. */
void ctl_nodes_detach(ctl_t *c, ctl_sink_t *conn, const Colossus__Detach *d);
void ctl_nodes_deadlines(ctl_t *c);               /* pop due deadlines into suspects */
uint64_t ctl_nodes_next_deadline(const ctl_t *c); /* 0: none */
void ctl_nodes_judge(ctl_t *c);
ctl_node_t *ctl_node_by_name(ctl_t *c, const char *name);
const char *ctl_node_state(ctl_t *c, const ctl_node_t *n);

/* ---- jobs (ctl_jobs.c) ---- */
/* What one submission may carry to its nodes (docs/security.md). */
#define CTL_SUBMIT_MAX_BYTES (1u << 20) /* argv, environment, cwd and name together */
#define CTL_SUBMIT_MAX_ARGS 4096        /* arguments; environment entries */
#define CTL_SUBMIT_MAX_STRING 131071    /* one argument or entry (MAX_ARG_STRLEN - 1) */
ctl_job_t *ctl_job_get(ctl_t *c, uint64_t id);
int ctl_job_insert(ctl_t *c, ctl_job_t *j);
void ctl_job_free(ctl_job_t *j);
/* Free the strings a record owns (not a task's shared ones). */
void ctl_job_strings_free(ctl_job_t *j);
void ctl_job_set_alloc(ctl_job_t *j, const uint32_t *ids, uint32_t n);
int ctl_job_alloc_pos(const ctl_job_t *j, uint32_t node);
struct ctl_caller;
/* A submission by k (its tenant, QOS and uid are the caller's: ctl_acct.h): 0, or -1 with a
 * sentence (-2: the input's own fault, as a --nodelist naming no node). */
int ctl_job_submit(ctl_t *c, const struct ctl_caller *k, const Colossus__SubmitReq *s,
                   uint64_t *id, cl_error_t *err);
/* Why a pending job does not run yet, as a sentence (the core's reason, formatted). */
/* j is no longer recovering (cancelled in the window): its unseen nodes stop counting. */
void ctl_job_unrecover(ctl_t *c, ctl_job_t *j);
/* A copy of v[0..n) with a NULL after it (submission, a journal row). */
char **ctl_strv_dup(const char *const *v, size_t n);
void ctl_job_pending_text(ctl_t *c, const ctl_job_t *j, char *buf, size_t len);
/* The core's spec of a job record (restore, a requeue of a job the core forgot); deps and
 * singleton from its --dependency (free *d with cl_depend_free). -1 with err when a
 * dependency names no job. */
struct cl_depend;
int ctl_job_spec(ctl_t *c, ctl_job_t *j, cl_job_spec_t *spec, struct cl_depend *d,
                 cl_error_t *err);
/* The core's dependencies of --dependency text for a job of k (NULL: from the journal: no
 * check of who may see the jobs named): each job the core no longer holds described by its
 * record, one k may not see or that never was refused as "no such job" (-2: bad input, as a
 * malformed text). */
int ctl_job_deps(ctl_t *c, const struct ctl_caller *k, const char *text, struct cl_depend *d,
                 cl_error_t *err);
/* The shared strings of array aid for a task record (a reference: ctl_array_unref), made
 * from its first task's record (in memory, else the journal's); NULL when there is none. */
ctl_array_t *ctl_array_of(ctl_t *c, uint64_t aid);
void ctl_array_unref(ctl_array_t *a);
/* Point j's strings at a (a reference taken over), freeing j's own. */
void ctl_job_share(ctl_job_t *j, ctl_array_t *a);
/* The tasks of the array whose first task is j, by state (O(tasks)): 0, or -1. */
int ctl_array_count(ctl_t *c, const ctl_job_t *j, Colossus__ArrayTasks *out);
/* Cancel every task of array aid that has not ended (the caller may: checked on aid). */
int ctl_array_cancel(ctl_t *c, uint64_t aid, const char *who, cl_error_t *err);
/* The core's group key of an array's tasks (its limit): apart from every name key. */
#define CTL_ARRAY_KEY(aid) ((uint64_t)(aid) | (1ull << 63))
/* A job's singleton key: its user and name (never 0). */
uint64_t ctl_name_key(const char *user, const char *name);
/* who: the canceller, as the job's reason names it ("cancelled by alice"). */
int ctl_job_cancel(ctl_t *c, uint64_t id, const char *who, cl_error_t *err);
/* Hold a pending job, or release a held one (journaled). */
int ctl_job_hold(ctl_t *c, uint64_t id, bool hold, cl_error_t *err);
/* A running job pends again (its ranks stopped; no failure restart counted), a finished one
 * too (Slurm's scontrol requeue); journaled. */
int ctl_job_requeue(ctl_t *c, uint64_t id, cl_error_t *err);
void ctl_job_exited(ctl_t *c, ctl_sink_t *conn, const Colossus__Exited *e);
void ctl_job_ranks_started(ctl_t *c, ctl_sink_t *conn, const Colossus__Started *s);
/* Tasks (ranks) on each node of j: --ntasks-per-node, else one per GPU (at least 1). */
static inline uint32_t ctl_job_tasks(const ctl_job_t *j)
{
    return j->ntasks ? j->ntasks : j->gpus_per_node ? j->gpus_per_node : 1;
}
/* sig: the signal that killed the failing rank (Exited.signal), 0 when it exited or unknown;
 * oom: the kernel's OOM killer did it at the launch's memory limit of limit_mb (the job then
 * ends out_of_memory). */
void ctl_job_node_exit(ctl_t *c, ctl_job_t *j, int pos, int code, int rank, int sig,
                       const char *why, bool oom, uint64_t limit_mb);
void ctl_send_exited_ack(ctl_t *c, ctl_sink_t *conn, uint32_t node, uint64_t job,
                         uint32_t incarnation);
void ctl_send_stop(ctl_t *c, ctl_job_t *j);
void ctl_apply(ctl_t *c, cl_decisions_t *d);
void ctl_schedule(ctl_t *c);
uint32_t ctl_job_restarts(ctl_t *c, ctl_job_t *j);
int ctl_tenant_index(ctl_t *c, const char *name, cl_error_t *err);
/* Fill out (borrowing j's strings); release with ctl_job_info_release(). */
void ctl_job_fill_info(ctl_t *c, ctl_job_t *j, Colossus__JobInfo *out);
void ctl_job_info_release(Colossus__JobInfo *out);
void ctl_jobs_tick(ctl_t *c);
void ctl_jobs_free(ctl_t *c);
void ctl_job_notify(ctl_t *c, ctl_job_t *j);
void ctl_sink_forget_waiters(ctl_t *c, ctl_sink_t *s);
/* A node went down: decisions from the core, carried out. */
void ctl_jobs_node_failed(ctl_t *c, ctl_node_t *n);

/* ---- the journal's view: recovery, reconciliation, fencing, old jobs (ctl_recover.c) ---- */
int ctl_jobs_recover(ctl_t *c, cl_error_t *err);
void ctl_jobs_reconcile(ctl_t *c);
/* Sends the Fence; returns how many jobs the controller runs there that the node no longer
 * has (its agent restarted): the caller handles those as a node failure. */
int ctl_jobs_fence(ctl_t *c, ctl_node_t *n, const Colossus__Register *r);
/* j's rank-0 node says (registering again) which MASTER_PORT its run was given: kept when it
 * is in the controller's range (ctl_jobs.c). */
void ctl_job_port_reported(ctl_t *c, ctl_job_t *j, uint32_t port);
/* A client's view of job id: the live record, or one read back from the journal for a
 * finished job no longer held (*transient set: release it with ctl_job_free()). */
ctl_job_t *ctl_job_lookup(ctl_t *c, uint64_t id, bool *transient);

/* ---- operations (ctl_ops.c) ---- */
/* A long list as Responses of at most ~1 MiB each, all but the last with `more` set. */
typedef enum ctl_part {
    CTL_PART_JOBS,
    CTL_PART_NODES,
    CTL_PART_TENANTS,
    CTL_PART_HISTORY,
    CTL_PART_AUDIT,
    CTL_PART_USERS,
    CTL_PART_TOKENS,
} ctl_part_t;
void ctl_reply_parts(ctl_t *c, ctl_sink_t *reply, uint64_t req, void **items, size_t n,
                     ctl_part_t kind);
void ctl_log_data(ctl_t *c, ctl_sink_t *conn, const Colossus__LogData *d);
void ctl_logreqs_conn_closed(ctl_t *c, ctl_sink_t *s);
void ctl_logreqs_free(ctl_t *c);

/* ---- the watch feed (ctl_watch.c): call only when c->watchers (one test while nobody
 * watches) ---- */
void ctl_watch_job(ctl_t *c, ctl_job_t *j);   /* its state as now, with the open batch */
void ctl_watch_node(ctl_t *c, ctl_node_t *n); /* the same for a node */
/* j left its nodes: those that are drained now (they were draining) */
void ctl_watch_job_left(ctl_t *c, const ctl_job_t *j);
void ctl_watch_free(ctl_t *c);
/* A node as the nodes list shows it to k (NULL: every job on it), into o; jobs: room for
 * 64 ids (ctl_ops.c). o borrows the controller's strings until its next change. */
void ctl_node_fill(ctl_t *c, const struct ctl_caller *k, ctl_node_t *nd, Colossus__NodeInfo *o,
                   uint64_t *jobs);

/* ---- GPU health (ctl_health.c, docs/health.md) ---- */
int ctl_health_init(ctl_t *c);
void ctl_health_free(ctl_t *c);
void ctl_health_register(ctl_t *c, ctl_node_t *n, const Colossus__Register *r);
void ctl_health_heartbeat(ctl_t *c, ctl_sink_t *conn, const Colossus__Heartbeat *hb);
/* Fill the health fields of o (borrowing the controller's data until the next call). */
void ctl_health_fill(ctl_t *c, ctl_node_t *n, Colossus__NodeInfo *o);
/* drain --check, and resume of a node whose health latched: true when handled (answered now
 * or once the node's gpu check ends); false for the plain admin path. */
bool ctl_health_admin(ctl_t *c, ctl_sink_t *reply, uint64_t req, const Colossus__NodeAdmin *a,
                      bool drain);
/* Whether n's GPU health latched it out (a resume needs its gpu check: ctl_health_admin). */
bool ctl_health_latched(ctl_t *c, ctl_node_t *n);
/* A rank failed on this node: true when the node's health makes it a node failure (handled:
 * the job restarts), false when the job is to blame. */
bool ctl_health_rank_failed(ctl_t *c, uint32_t node);
void ctl_health_conn_closed(ctl_t *c, ctl_sink_t *s);
void ctl_health_timer(ctl_t *c); /* every second: check timeouts, checks of nodes now idle */
/* The node's latest health report (NULL: none), for /metrics' aggregates. */
const Colossus__NodeHealth *ctl_health_telemetry(const ctl_t *c, uint32_t node);
/* The same, with its age in seconds (when it is not NULL). */
const Colossus__NodeHealth *ctl_health_telemetry_at(const ctl_t *c, uint32_t node, double *age);
/* ---- submissions' idempotency keys (ctl_idem.c) ---- */
#define CTL_IDEM_KEY_MAX 128
int ctl_idem_init(ctl_t *c, cl_error_t *err); /* the journal's keys (expired ones deleted) */
void ctl_idem_free(ctl_t *c);
/* A key as a submission may carry it: 0, or -1 with err saying what is wrong. */
int ctl_idem_check(const char *key, cl_error_t *err);
/* The job that k's submission with key made (true), if one did ("" never did). */
bool ctl_idem_find(ctl_t *c, const struct ctl_caller *k, const char *key, uint64_t *job);
/* Remember and journal (in the open batch: with the job) that key made job; "" nothing. */
void ctl_idem_put(ctl_t *c, const struct ctl_caller *k, const char *key, uint64_t job);
/* ---- power (ctl_power.c, docs/power.md) ---- */
int ctl_power_init(ctl_t *c, cl_error_t *err); /* the journal's budgets and cut, to the core */
void ctl_power_free(ctl_t *c);
void ctl_power_dirty(ctl_t *c); /* running jobs changed: limits computed again at the tick */
void ctl_power_tick(ctl_t *c);  /* the cut's end; limits that changed sent */
/* A job started (a run): its limits ramp up from the GPUs' minimum when a ramp is set. */
void ctl_power_job_started(ctl_t *c, ctl_job_t *j);
/* A job entered the core (submitted, recovered): its projection is the draw its (user, name)
 * was last measured at, if any. */
void ctl_power_job_new(ctl_t *c, ctl_job_t *j, uint64_t name_key); /* its spec's name_key */
/* A job ended: its measured draw is remembered (and journaled) for its name's next jobs. */
void ctl_power_job_ended(ctl_t *c, ctl_job_t *j);
/* j's run ended or stopped (requeued, preempted; ended calls it too): its GPUs are held at
 * the floor and ramped down at the allowed rate (docs/power.md). */
void ctl_power_job_released(ctl_t *c, ctl_job_t *j);
/* j's launch environment (Launch.env, *n entries): its own, and with a ramp in force the
 * stall signal COLOSSUS_POWER_STALL=burn unless it sets that itself (docs/power.md);
 * *extra: an array the caller frees (NULL: none; the strings are not copied). */
char **ctl_power_launch_env(ctl_t *c, const ctl_job_t *j, size_t *n, char ***extra);
void ctl_power_applied(ctl_t *c, ctl_sink_t *conn, const Colossus__PowerApplied *a);
struct cl_prom;
void ctl_power_metrics(ctl_t *c, struct cl_prom *p);
/* ---- node reservations and hostlists as node ids (ctl_resv.c, docs/reservations.md) ---- */
int ctl_resv_init(ctl_t *c, cl_error_t *err); /* the journal's reservations, to the core */
void ctl_resv_free(ctl_t *c);
void ctl_resv_tick(ctl_t *c); /* ended windows deleted */
/* A reservation's name by its core id; NULL: none. */
const char *ctl_resv_name(ctl_t *c, uint64_t id);
/* hostlist hl as node ids (malloc'd, *ids; the caller frees): -1 with a sentence naming
 * `what` for a malformed list or (strict) a name that is no node; not strict: such names are
 * left out. */
int ctl_hosts_ids(ctl_t *c, const char *what, const char *hl, bool strict, cl_nodeid_t **ids,
                  size_t *n, cl_error_t *err);
/* j's --exclusive, --nodelist and --exclude into spec (its lists valid until the next call). */
int ctl_job_cons_spec(ctl_t *c, const ctl_job_t *j, cl_job_spec_t *spec, bool strict,
                      cl_error_t *err);

/* The loop thread's CPU seconds (ctl_jobs.c): the cost of a pass or a render on the loop. */
double ctl_cpu_s(void);
/* Count an XID of a node's report (ctl_metrics_pod.c). */
void ctl_metrics_xid(ctl_t *c, uint32_t node, uint64_t code);
/* A free node slot for a new node of this NVLink domain key: in the topology domain that holds
 * the key's other nodes, else in an empty domain; CL_NO_NODE when the topology's domains are
 * single nodes, the key is "" or no slot fits (then any free slot will do). */
cl_nodeid_t ctl_health_domain_slot(ctl_t *c, const char *key);

#endif
