/* ctl.h - the controller daemon's state, owned by its single libuv loop: the core cluster,
 * the journal, connections, nodes and jobs. Internal to src/controller. */
#ifndef COLOSSUS_CONTROLLER_CTL_H
#define COLOSSUS_CONTROLLER_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "colossus/core.h"
#include "proto/uvconn.h"
#include "store/store.h"

typedef struct ctl ctl_t;

typedef enum { CONN_HANDSHAKE, CONN_AGENT, CONN_CLIENT } ctl_conn_kind_t;

typedef struct ctl_conn {
    cl_uconn_t u;         /* first: a cl_uconn_t * is a ctl_conn_t * */
    ctl_t *ctl;
    ctl_conn_kind_t kind;
    uint8_t nonce[CL_NONCE_BYTES];
    uv_timer_t auth_timer;
    struct ctl_conn *next, *prev;      /* all connections */
    struct ctl_conn *dirty_next;       /* has output waiting for the next flush */
    bool dirty;
    uint32_t nnodes;                   /* nodes this connection carries */
    uint32_t nwaiters;                 /* `wait` requests parked on jobs */
} ctl_conn_t;

/* A FIFO of elem-byte elements in a ring that doubles when full (ctl_ring.c); set elem
 * before the first push. */
typedef struct ctl_ring {
    unsigned char *v;
    size_t elem, head, n, cap;
} ctl_ring_t;
void *ctl_ring_push(ctl_ring_t *r); /* the new last element's slot */
void *ctl_ring_front(const ctl_ring_t *r); /* NULL when empty */
void ctl_ring_pop(ctl_ring_t *r);

/* One liveness deadline (see ctl_t.deadq). */
struct ctl_deadline {
    uint32_t node;
    uint64_t at; /* loop ms */
};

typedef struct ctl_node {
    ctl_t *ctl;
    uint32_t id;
    char name[64];
    bool bound;            /* an agent name owns this slot */
    bool alive;            /* heartbeating; up (or draining...) in the core */
    ctl_conn_t *conn;      /* carrying connection, NULL when none */
    uint64_t deadline;     /* loop ms when it is suspected without a heartbeat; 0: none */
    char addr[64];
    uint32_t ngpus;        /* GPUs the agent reported (capped to the topology) */
    bool drained;
    char reason[128];
    double last_seen;
    bool suspect;          /* its dead timer fired; judged after this loop turn's input */
} ctl_node_t;

typedef struct ctl_waiter {
    struct ctl_waiter *next;
    ctl_conn_t *conn;
    uint64_t req;
} ctl_waiter_t;

typedef struct ctl_job {
    uint64_t id;
    char *name, *tenant, *cwd;
    char **argv, **env;
    size_t argc, envc;
    uint32_t nodes, gpus_per_node, max_restarts;
    double time_limit_s; /* 0: none */
    int32_t priority;
    cl_job_state_t state;
    uint32_t restarts_base; /* failure restarts before this controller run */
    uint32_t inc_base;      /* wire incarnation = inc_base + core incarnation */
    uint32_t inc;           /* current (or last) wire incarnation */
    int32_t exit_code;
    bool has_exit;
    double submit_time, start_time, end_time;
    uint32_t *alloc;        /* node ids, rank order, of the current or last run */
    uint32_t nalloc;
    uint64_t *alloc_index;  /* (node << 32 | position) sorted, for gangs of many nodes */
    bool *done;             /* per alloc entry: that node's ranks all exited 0 */
    uint32_t ndone;
    bool *started;          /* per alloc entry: that node's ranks all exec'd (Started) */
    uint32_t nstarted;
    double running_time;    /* every rank of this incarnation exec'd; 0: not yet */
    char reason[160];
    bool recovering;        /* running before a controller restart; not yet reconciled */
    bool *seen;             /* recovering: node reported the incarnation alive */
    int32_t *rec_code;      /* recovering: exit reported while the controller was away */
    bool *rec_exited;
    ctl_waiter_t *waiters;
    /* A rank failed: the job is stopped, but it is only failed (a user error) once dead-after
     * has passed with all its nodes alive; a node of it declared down meanwhile makes it a
     * node failure (restart) instead, since a dying node takes its peers' ranks down too. */
    bool fail_pending;
    int32_t fail_code;
    double fail_deadline;
    char fail_reason[160];
    struct ctl_job *fail_next; /* list of jobs with a pending failure */
} ctl_job_t;

typedef struct ctl_logreq {
    struct ctl_logreq *next;
    uint64_t id;            /* our request id towards the agent */
    ctl_conn_t *client;     /* NULL once the client went away */
    uint64_t client_req;
    uint32_t node;
} ctl_logreq_t;

struct ctl {
    uv_loop_t *loop;
    cl_cluster_t *cluster;
    cl_store_t *store;
    cl_store_batch_t *batch; /* this loop turn's journal records, committed at its end */
    uint8_t key[CL_KEY_BYTES];
    char state_dir[2048], ckpt_root[2048];
    uint32_t hb_ms, dead_ms;
    uv_tcp_t listener;
    uv_prepare_t prepare;
    uv_check_t check;
    /* Nodes whose dead timer fired this loop turn. libuv runs timers before it reads the
     * sockets, so after a long turn (a registration storm) heartbeats that did arrive are
     * still unread: a suspect is declared down only in the check phase, after the reads,
     * if no heartbeat cleared it (ctl_nodes_judge()). The idle handle makes that turn's
     * poll non-blocking. */
    uint32_t *suspects;
    size_t nsuspects, suspects_cap;
    uv_idle_t judge_idle;
    /* Liveness deadlines: every heartbeat appends (node, now + dead_after) to a FIFO, which
     * stays sorted because every entry of a queue has the same duration; one timer serves
     * the earliest head. An entry whose node was heartbeated again since (its deadline
     * moved) is stale and skipped. O(1) per heartbeat, where one uv timer per node cost a
     * heap update each (90% of the controller's CPU at 100,000 hollow nodes). Queue 0:
     * dead_after; queue 1: twice that, for the first heartbeat after registration. */
    ctl_ring_t deadq[2]; /* of struct ctl_deadline */
    uv_timer_t dead_timer;
    uint64_t dead_due; /* when dead_timer fires, loop ms; 0: not running */
    /* Finished jobs stay in memory keep_finished_s after their end (then `show`, `wait` and
     * `logs` read them from the journal): ids in the order they ended. */
    double keep_finished_s;
    ctl_ring_t finished; /* of uint64_t job ids */
    uv_timer_t tick;        /* time limits, end of recovery */
    uv_signal_t sigterm, sigint;
    ctl_conn_t *conns, *dirty;
    ctl_node_t *nodes;
    uint32_t *name_tab, name_cap, next_free; /* name -> node id (ctl_nodes.c) */
    uint32_t nnodes;        /* topology size */
    uint32_t gpus_per_node;
    ctl_job_t **jobs;       /* indexed by id; ids are dense */
    uint64_t jobs_cap, max_id;
    ctl_logreq_t *logreqs;
    ctl_job_t *fail_pending; /* jobs whose rank failure waits for dead-after */
    uint64_t next_logreq;
    bool sched_needed;
    bool recovering;        /* start-up window: waiting for agents before reconciling */
    double recover_until;
    uint64_t stats_frames_bad;
    const char *who;
    struct ctl_health *health; /* GPU health of every node (ctl_health.c) */
};

/* Seconds since the epoch (the core's clock in the daemon). */
double ctl_now(void);

/* ---- connections (ctl_main.c) ---- */
void ctl_send(ctl_conn_t *c, Colossus__Msg *m);
void ctl_send_node(ctl_t *c, uint32_t node, Colossus__Msg *m); /* dropped when not connected */
void ctl_fatal(ctl_t *c, const char *what, const cl_error_t *err) __attribute__((noreturn));

/* ---- nodes (ctl_nodes.c) ---- */
int ctl_nodes_init(ctl_t *c);
void ctl_node_register(ctl_t *c, ctl_conn_t *conn, const Colossus__Register *r);
void ctl_node_heartbeat(ctl_t *c, ctl_conn_t *conn, const Colossus__Heartbeat *hb);
void ctl_nodes_conn_closed(ctl_t *c, ctl_conn_t *conn);
void ctl_nodes_judge(ctl_t *c);
ctl_node_t *ctl_node_by_name(ctl_t *c, const char *name);
void ctl_node_journal(ctl_t *c, ctl_node_t *n);

/* ---- jobs (ctl_jobs.c) ---- */
ctl_job_t *ctl_job_get(ctl_t *c, uint64_t id);
int ctl_job_submit(ctl_t *c, const Colossus__SubmitReq *s, uint64_t *id, char *err, size_t len);
int ctl_job_cancel(ctl_t *c, uint64_t id, char *err, size_t len);
void ctl_job_exited(ctl_t *c, ctl_conn_t *conn, const Colossus__Exited *e);
/* A client's view of job id: the live record, or one read back from the journal for a
 * finished job no longer held (*transient set: release it with ctl_job_release()). */
ctl_job_t *ctl_job_lookup(ctl_t *c, uint64_t id, bool *transient);
void ctl_job_release(ctl_job_t *j);
void ctl_job_ranks_started(ctl_t *c, ctl_conn_t *conn, const Colossus__Started *s);
void ctl_apply(ctl_t *c, cl_decisions_t *d);
void ctl_schedule(ctl_t *c);
void ctl_journal_job(ctl_t *c, ctl_job_t *j);
/* Fill out (borrowing j's strings); release with ctl_job_info_release(). */
void ctl_job_fill_info(ctl_t *c, ctl_job_t *j, Colossus__JobInfo *out);
void ctl_job_info_release(Colossus__JobInfo *out);
void ctl_jobs_tick(ctl_t *c);
int ctl_jobs_recover(ctl_t *c, cl_error_t *err);
void ctl_jobs_reconcile(ctl_t *c);
/* The launches a (re)registering node may keep, given what it reports running. */
/* Sends the Fence; returns how many jobs the controller runs there that the node no longer
 * has (its agent restarted): the caller handles those as a node failure. */
int ctl_jobs_fence(ctl_t *c, ctl_node_t *n, const Colossus__Register *r);
/* A node went down: decisions from the core, carried out. */
void ctl_jobs_node_failed(ctl_t *c, ctl_node_t *n);
void ctl_job_notify(ctl_t *c, ctl_job_t *j);
void ctl_conn_forget_waiters(ctl_t *c, ctl_conn_t *conn);
const char *ctl_state_name(cl_job_state_t s);

/* ---- client requests (ctl_req.c) ---- */
void ctl_request(ctl_t *c, ctl_conn_t *conn, const Colossus__Request *r);
void ctl_log_data(ctl_t *c, ctl_conn_t *conn, const Colossus__LogData *d);
void ctl_respond_error(ctl_conn_t *conn, uint64_t req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ctl_respond_job(ctl_t *c, ctl_conn_t *conn, uint64_t req, ctl_job_t *j);

/* ---- GPU health (ctl_health.c, docs/health.md) ---- */
int ctl_health_init(ctl_t *c);
void ctl_health_register(ctl_t *c, ctl_node_t *n, const Colossus__Register *r);
void ctl_health_heartbeat(ctl_t *c, ctl_conn_t *conn, const Colossus__Heartbeat *hb);
/* Fill the health fields of o (borrowing the controller's data until the next loop turn). */
void ctl_health_fill(ctl_t *c, ctl_node_t *n, Colossus__NodeInfo *o);
/* drain --check, and resume of a node whose health latched: true when handled (answered now
 * or once the node's gpu check ends); false for the plain admin path. */
bool ctl_health_admin(ctl_t *c, ctl_conn_t *conn, uint64_t req, const Colossus__NodeAdmin *a,
                      bool drain);
/* A rank failed on this node: true when the node's health makes it a node failure (handled:
 * the job restarts), false when the job is to blame. */
bool ctl_health_rank_failed(ctl_t *c, uint32_t node);
void ctl_health_conn_closed(ctl_t *c, ctl_conn_t *conn);
/* A free node slot for a new node of this NVLink domain key: in the topology domain that holds
 * the key's other nodes, else in an empty domain; CL_NO_NODE when the topology's domains are
 * single nodes, the key is "" or no slot fits (then any free slot will do). */
cl_nodeid_t ctl_health_domain_slot(ctl_t *c, const char *key);

#endif
