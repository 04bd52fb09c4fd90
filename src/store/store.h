/* store.h - the controller's journal: jobs, nodes, counters, the service objects (tenants,
 * users, QOS, tokens), usage records with their daily rollups, and the audit log, written in
 * batches (group commit) behind a vtable, so that SQLite (the embedded default) and PostgreSQL
 * (the HA issue) are interchangeable and pass one conformance suite (tests/unit/test_store.c).
 * Every operation is expressible in portable SQL (upserts with ON CONFLICT, LIMIT subqueries,
 * substr): a PostgreSQL backend needs no feature SQLite alone has.
 *
 * Journal before acknowledge: the controller records every change in the open batch
 * (cl_store_batch_*), closes the batch at the end of a loop turn and hands it to a committer
 * (committer.h: a worker thread, so that the loop goes on reading and applying while a batch
 * commits); only once that batch is durable do the replies and commands it caused leave.
 *
 * Threads: a backend's commit() may run on a worker thread while the reads (load(), job_get(),
 * meta_get(), the queries) run on the loop thread; it never runs twice at once. A backend
 * needs its own connection for each side (SQLite: a writer and a reader on the same WAL
 * file). */
#ifndef COLOSSUS_STORE_H
#define COLOSSUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"

/* One job as journaled. Strings and arrays are borrowed on put (the batch copies them), owned
 * by the store on load and get (valid during the callback only). */
typedef struct cl_store_job {
    uint64_t id;
    int state; /* cl_job_state_t */
    const char *name, *tenant, *cwd, *reason;
    uint32_t nodes, gpus_per_node, max_restarts;
    double time_limit_s; /* 0: none */
    int32_t priority;
    uint32_t restarts;    /* failure restarts so far */
    uint32_t incarnation; /* last launch's incarnation (fencing); monotonic over restarts */
    int32_t exit_code;
    bool has_exit;
    double submit_time, start_time, end_time; /* unix seconds; 0: not yet */
    double running_time; /* every rank of the current (or last) run exec'd; 0: not (known) */
    const char *alloc; /* node names of the current or last run, comma-separated, rank order */
    const char *const *argv;
    size_t argc;
    const char *const *env;
    size_t envc;
    /* issue 11: who submitted it (user name, the uid and gid its ranks run as) and what its
     * runs so far used (GPU-seconds, joules, FLOPs; 0: none known) */
    const char *user;
    uint32_t uid, gid;
    double gpu_s, energy_j, flops;
    /* issue 15: tasks per node (0: one per GPU), whether cwd was asked (--chdir: it must
     * exist on the nodes), the --output and --error patterns ("" none) */
    uint32_t ntasks;
    bool cwd_strict;
    /* --cpus-per-gpu, --mem-per-gpu (MiB); 0: none asked */
    uint32_t cpus_per_gpu;
    uint64_t mem_per_gpu_mb;
    const char *output, *error;
    /* --dependency as the controller normalised it ("" none), and a hold */
    const char *dependency;
    bool held;
    /* a task of an array: the array's id (its first task's), its index, and --array as
     * submitted; only the first task's record holds argv and env (the others: none) */
    uint64_t array_id;
    uint32_t array_task;
    const char *array;
    /* how a finished job ended: succeeded, failed, cancelled, timeout, node_fail, budget,
     * out_of_memory (the usage records' words); "" while it is live */
    const char *ended;
    /* --exclusive, and the --nodelist and --exclude hostlists ("" or NULL: none) */
    bool exclusive;
    const char *nodelist, *exclude;
} cl_store_job_t;

typedef struct cl_store_node {
    uint32_t id; /* compact node id */
    const char *name;
    bool drained; /* admin drain survives restarts */
    const char *reason;
} cl_store_node_t;

/* One run: one incarnation of one job, written once it ended (append-only). Strings as for
 * jobs (NULL reads back as ""). */
typedef struct cl_store_usage {
    uint64_t job;
    uint32_t incarnation;
    const char *name, *tenant, *user;
    const char *nodes; /* node names, comma-separated */
    /* why it ended: succeeded, failed, cancelled, timeout, node_fail, preempted, requeued,
     * budget (opaque to the store; the history query filters on it) */
    const char *ended;
    const char *reason;
    uint32_t gpus;
    double start, end; /* unix seconds */
    double gpu_s, energy_j, flops;
    int32_t exit_code;
    bool has_exit;
} cl_store_usage_t;

/* One audit record: who did what to what, when, and whether it was allowed and worked. who and
 * op must be set: a record without them fails its commit, as a nameless node does. */
typedef struct cl_store_audit {
    double time;
    const char *who, *op, *target, *detail;
    bool ok;
} cl_store_audit_t;

/* Retention (cl_store_batch_prune): a cut of 0 keeps everything of that kind. */
typedef struct cl_store_prune {
    double jobs_before;    /* finished jobs (succeeded, failed, cancelled) with end_time < */
    double history_before; /* usage records with end < */
    double audit_before;   /* audit records with time < */
} cl_store_prune_t;

/* Most rows one commit deletes of each kind (jobs, usage records, audit records), so that a
 * first prune of a journal that grew for months does not hold the committer (and every
 * acknowledgement behind it) for seconds: a row costs 5-20 us to delete with its indexes at
 * 10,000,000 jobs, so one commit's prune stays near 0.1 s (docs/benchmarks.md). What is
 * left goes in the next commits that prune (cl_store_t.prune_more says so). */
enum { CL_STORE_PRUNE_MAX = 2000 };

/* ---- batches: what one group commit writes, all or nothing ----
 * Built on the loop thread; every put copies what it is given (j must not point into b; a NULL
 * string stays NULL in the batch and reads back from a store as ""). A later put of the same
 * job id, node id, meta key or object (kind, key) in one batch replaces the earlier one (the
 * last write wins, as it would inside one transaction), so a job changed three times in a
 * loop turn is written once. Usage and audit records are appended, never replaced. A batch is
 * not thread-safe: one thread at a time uses it (the loop while it builds it, the committer's
 * worker while it commits). Allocation failure aborts (util.h). */
typedef struct cl_store_batch cl_store_batch_t;
cl_store_batch_t *cl_store_batch_new(void);
void cl_store_batch_job(cl_store_batch_t *b, const cl_store_job_t *j);
void cl_store_batch_node(cl_store_batch_t *b, const cl_store_node_t *n);
void cl_store_batch_meta(cl_store_batch_t *b, const char *k, uint64_t v);
/* A service object: len bytes of val (protobuf-packed, opaque here) under (kind, key); val
 * NULL deletes the object (deleting one that does not exist is no error). kind and key are
 * strings (not NULL: a bug, asserted); kinds are short names ("tenant", "user", "qos",
 * "token", "tenant_usage"). len 0 with a non-NULL val is an empty object, not a delete. */
void cl_store_batch_obj(cl_store_batch_t *b, const char *kind, const char *key, const void *val,
                        size_t len);
/* A usage record. The commit writes it unless the journal already has (job, incarnation)
 * (from this batch or an earlier one): a duplicate is ignored and not counted in the rollups.
 * In the same transaction the commit adds the run to its rollup: (the UTC day of u->end,
 * tenant, user) += gpu_s, energy_j, flops and one run. A run is attributed entirely to the
 * day it ended, also when it started days before. A duplicate that arrives after the first
 * record was pruned (history_before) is written again. */
void cl_store_batch_usage(cl_store_batch_t *b, const cl_store_usage_t *u);
void cl_store_batch_audit(cl_store_batch_t *b, const cl_store_audit_t *a);
/* Retention, done by the commit after everything else in the batch: delete finished jobs that
 * ended before jobs_before, usage records that ended before history_before and audit records
 * from before audit_before (0: keep that kind), at most CL_STORE_PRUNE_MAX of each kind per
 * commit (oldest first for usage and audit). Audit records go by groups (a commit's run of
 * records by one who), a group when its newest record is before the cut, and the limit counts
 * groups (pruned_audit: records). Rollups always stay. Several calls in one batch keep the
 * largest cut of each kind. cl_store_job_id_max() still counts pruned jobs. */
void cl_store_batch_prune(cl_store_batch_t *b, double jobs_before, double history_before,
                          double audit_before);
size_t cl_store_batch_size(const cl_store_batch_t *b); /* records after replacement (a prune
                                                        * is one) */
size_t cl_store_batch_puts(const cl_store_batch_t *b); /* puts before replacement */
size_t cl_store_batch_runs(const cl_store_batch_t *b); /* usage records */
size_t cl_store_batch_jobs(const cl_store_batch_t *b); /* job records */
/* What bounds the time of its commit: its records but the audit records (each one a line of
 * text added to its group's row, a fraction of another record's write: docs/benchmarks.md,
 * "Issue 11's regression, mended"; one rides with each operation's own records). */
size_t cl_store_batch_weight(const cl_store_batch_t *b);
void cl_store_batch_clear(cl_store_batch_t *b); /* empty it for reuse */
void cl_store_batch_free(cl_store_batch_t *b);  /* accepts NULL */
/* For backends: visit the records of a batch (jobs in put order, then nodes, meta and
 * objects, usage records, audit records, each in put order, then the prune if one was asked
 * for). An object's val is NULL for a delete. */
typedef struct cl_store_visit {
    int (*job)(void *arg, const cl_store_job_t *j);
    int (*node)(void *arg, const cl_store_node_t *n);
    int (*meta)(void *arg, const char *k, uint64_t v);
    int (*obj)(void *arg, const char *kind, const char *key, const void *val, size_t len);
    int (*usage)(void *arg, const cl_store_usage_t *u);
    int (*audit)(void *arg, const cl_store_audit_t *a);
    int (*prune)(void *arg, const cl_store_prune_t *p);
} cl_store_visit_t;
/* Stops at (and returns) the first non-zero return of a callback; 0 when all were visited. */
int cl_store_batch_visit(const cl_store_batch_t *b, const cl_store_visit_t *v, void *arg);

/* ---- queries (loop thread; what is committed) ---- */

/* History: usage records whose end is in [since, until) (0: no bound), of one tenant, user
 * and ended state when given (NULL or "": any), of one job when job is not 0, newest first (by
 * end), at most limit (0: all). Served by indexes on end, (tenant, end) and (user, end), and
 * for a job by the table's key (job, incarnation): the common filters never scan the table. */
typedef struct cl_store_history_q {
    double since, until;
    const char *tenant, *user, *ended;
    uint32_t limit;
    uint64_t job; /* 0: any */
} cl_store_history_q_t;

/* Usage: sums from the daily rollups, never from the usage records (so they survive pruning
 * and cost the same over 10,000,000 runs as over ten). Whole UTC days: a day counts, all of
 * it, when it overlaps [since, until) (0: no bound); a run counts on the day it ended. */
typedef enum cl_store_by {
    CL_STORE_BY_TENANT,
    CL_STORE_BY_USER,
    CL_STORE_BY_DAY,  /* key YYYY-MM-DD (UTC) */
    CL_STORE_BY_MONTH /* key YYYY-MM (UTC) */
} cl_store_by_t;
/* "tenant", "user", "day" or "month": 0, or -1 with err naming the four. */
int cl_store_by_parse(const char *s, cl_store_by_t *by, cl_error_t *err);

typedef struct cl_store_usage_q {
    cl_store_by_t by;
    double since, until;
    const char *tenant, *user; /* NULL or "": any */
} cl_store_usage_q_t;

typedef struct cl_store_sum {
    const char *key; /* the tenant, user, day or month */
    double gpu_s, energy_j, flops;
    uint64_t runs;
} cl_store_sum_t;

/* Audit: records with time in [since, until) (0: no bound), of one who (NULL or "": anyone),
 * newest first (by groups, as the prune: groups by their newest record, each group's records
 * newest first), at most limit records (0: all). */
typedef struct cl_store_audit_q {
    double since, until;
    const char *who;
    uint32_t limit;
} cl_store_audit_q_t;

typedef int cl_store_job_f(const cl_store_job_t *j, void *arg);
typedef int cl_store_node_f(const cl_store_node_t *n, void *arg);
typedef int cl_store_obj_f(const char *kind, const char *key, const void *val, size_t len,
                           void *arg);
typedef int cl_store_usage_f(const cl_store_usage_t *u, void *arg);
typedef int cl_store_sum_f(const cl_store_sum_t *r, void *arg);
typedef int cl_store_audit_f(const cl_store_audit_t *a, void *arg);

typedef struct cl_store cl_store_t;
/* cl_store_lead's word that another controller leads: holder names it (its `who`), once when
 * the wait begins and again when the holder changes. */
typedef void cl_store_wait_f(void *arg, const char *holder);
typedef struct cl_store_ops {
    const char *name;
    /* Write the whole batch durably, or nothing of it (then -1 with err). Any thread; never
     * given an empty batch (the dispatcher answers that). */
    int (*commit)(cl_store_t *s, const cl_store_batch_t *b, cl_error_t *err);
    /* Loop thread; they see what is committed. */
    int (*load)(cl_store_t *s, double finished_since, cl_store_job_f *jf, cl_store_node_f *nf,
                void *arg, cl_error_t *err);
    int (*job_get)(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg, cl_error_t *err);
    int (*job_id_max)(cl_store_t *s, uint64_t *id, cl_error_t *err);
    int (*meta_get)(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err);
    int (*objs_load)(cl_store_t *s, const char *kind, cl_store_obj_f *f, void *arg,
                     cl_error_t *err);
    int (*history)(cl_store_t *s, const cl_store_history_q_t *q, cl_store_usage_f *f, void *arg,
                   cl_error_t *err);
    int (*usage)(cl_store_t *s, const cl_store_usage_q_t *q, cl_store_sum_f *f, void *arg,
                 cl_error_t *err);
    int (*audit)(cl_store_t *s, const cl_store_audit_q_t *q, cl_store_audit_f *f, void *arg,
                 cl_error_t *err);
    void (*close)(cl_store_t *s); /* what was not committed is lost, as in a crash */
    /* Leadership (cl_store_lead, cl_store_lost); NULL: a store only one controller uses,
     * whose controller always leads (SQLite). */
    int (*lead)(cl_store_t *s, const char *who, cl_store_wait_f *waiting, void *arg,
                cl_error_t *err);
    bool (*lost)(cl_store_t *s, char *why, size_t len);
    bool (*fresh)(cl_store_t *s); /* cl_store_fresh; NULL: always */
} cl_store_ops_t;

struct cl_store {
    const cl_store_ops_t *ops;
    /* Counters of non-empty commits that succeeded, updated by cl_store_commit() on the
     * committing thread: read them from another thread only while no commit runs (the
     * committer keeps its own for the loop, committer.h). */
    uint64_t commits, records_committed, puts_committed;
    /* What the prunes of those commits deleted, and whether the last commit that pruned
     * stopped at CL_STORE_PRUNE_MAX of some kind (prune again to finish). Same rules. */
    uint64_t pruned_jobs, pruned_usage, pruned_audit;
    bool prune_more;
    /* Set by a backend whose journal can never be written again (its files were deleted or
     * replaced under it): a failed commit then means stop, not retry. Written by the
     * committing thread before it reports the failure. */
    bool broken;
};

typedef struct cl_store_opts {
    bool sync_full; /* SQLite: fsync every commit (survives power loss); else a commit
                     * survives a process crash but not a power cut */
} cl_store_opts_t;

/* Open the store a URL names (opts NULL: sync_full):
 *   sqlite:DIR          DIR/colossus.db in WAL mode (created, with DIR and its parents, when
 *                       missing)
 *   fault:URL[?OPTS]    the store URL names, behind the fault-injecting store (fault.h); OPTS
 *                       follow the last '?' (so an inner URL with a query of its own ends with
 *                       an empty one: fault:postgresql://h/db?sslmode=require?) and are
 *                       &-separated: delay_ms=N (every commit), fail_at=K (the K-th commit and
 *                       every later one fail; 1 when only fail_count is given), fail_count=N
 *                       (only N of them)
 *   postgresql://... or postgres://...
 *                       a PostgreSQL database (libpq's URL: user, password, host or a Unix
 *                       socket directory as ?host=DIR, port, database, libpq's parameters);
 *                       its schema is created or migrated (the colossus_schema table holds
 *                       its version; a newer one is refused). sync_full false: the writer's
 *                       synchronous_commit=off. An error names the URL, its password hidden.
 * NULL with a sentence naming the problem (a bad URL or option, a file that cannot be
 * opened); a refused URL or option creates nothing. */
cl_store_t *cl_store_open(const char *url, const cl_store_opts_t *opts, cl_error_t *err);
cl_store_t *cl_store_open_sqlite(const char *dir, bool sync_full, cl_error_t *err);
cl_store_t *cl_store_open_pg(const char *url, bool sync_full, cl_error_t *err);
/* url as messages may show it: a password in it (user:PASSWORD@, password=PASSWORD)
 * replaced by ***, cut to len - 1 bytes. */
void cl_store_url_shown(const char *url, char *out, size_t len);
/* For tests that a statement used an index: the rows the SQLite store's reads (commits: its
 * commits) stepped through in full table or index scans so far (SQLite's
 * SQLITE_STMTSTATUS_FULLSCAN_STEP, summed; the node table's load is one). The commits' count
 * is updated by the committing thread: read it while no commit runs. s must be a SQLite store
 * (another aborts). */
uint64_t cl_store_sqlite_fullscan_steps(cl_store_t *s, bool commits);

/* Dispatchers: the same contract for every backend. They return 0 (or 1: found) or -1 with
 * err filled. */
/* All of b durably or none of it. An empty batch is a no-op: 0, the backend not called, no
 * commit counted. b is only read. */
int cl_store_commit(cl_store_t *s, const cl_store_batch_t *b, cl_error_t *err);
/* Call nf for every node, then jf for every job, each in id order, all from one committed
 * state (either may be NULL); a callback returning non-zero stops the load (0 returned).
 * Finished jobs (succeeded, failed, cancelled) that ended before finished_since are left out
 * (0: every job); every other job is always given. Indexed: a journal of 10,000,000 finished
 * jobs gives its live ones without reading the others. */
int cl_store_load(cl_store_t *s, double finished_since, cl_store_job_f *jf, cl_store_node_f *nf,
                  void *arg, cl_error_t *err);
/* Call jf with job id if the journal has it committed (any job not yet pruned). Returns 1
 * (found), 0 or -1. */
int cl_store_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg,
                     cl_error_t *err);
/* *id = the highest job id ever committed, also when that job was since pruned or left out by
 * the load's finished_since (the next job id is above it), 0 when none. 0 or -1. */
int cl_store_job_id_max(cl_store_t *s, uint64_t *id, cl_error_t *err);
/* *v = the committed value of k. 1 (found), 0 (not found; *v untouched) or -1. Keys starting
 * "store:" are the store's own. */
int cl_store_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err);
/* Call f for every service object of kind (NULL: of every kind), by kind then key; val is
 * valid during the call only. A callback returning non-zero stops it (0 returned). */
int cl_store_objs_load(cl_store_t *s, const char *kind, cl_store_obj_f *f, void *arg,
                       cl_error_t *err);
/* The queries above (cl_store_history_q_t, cl_store_usage_q_t, cl_store_audit_q_t): f for
 * each row (history and audit newest first; usage sums ordered by key), a non-zero return
 * stops (0 returned). Strings are valid during the call only. */
int cl_store_history_query(cl_store_t *s, const cl_store_history_q_t *q, cl_store_usage_f *f,
                           void *arg, cl_error_t *err);
int cl_store_usage_query(cl_store_t *s, const cl_store_usage_q_t *q, cl_store_sum_f *f,
                         void *arg, cl_error_t *err);
int cl_store_audit_query(cl_store_t *s, const cl_store_audit_q_t *q, cl_store_audit_f *f,
                         void *arg, cl_error_t *err);
/* ---- leadership: standby controllers (docs/standby.md) ----
 * Several controllers may share one PostgreSQL journal; exactly one leads: the holder of the
 * lease, a row of the journal (holder, epoch, expiry by the server's clock) whose holder and
 * epoch every commit checks in its own transaction (a commit of a controller whose lease was
 * taken fails, and the store is then broken: no split brain, even for a controller that was
 * paused and resumed).
 *
 * cl_store_lead: block until this store holds the lease as who (a name for messages: host,
 * pid), trying every CL_STORE_LEASE_TRY_MS: the lease is free, expired (CL_STORE_LEASE_TTL_MS
 * without a renewal) or its holder's database session is gone (a controller killed: taken at
 * once). waiting (may be NULL) hears who holds it. Then a thread renews it every
 * CL_STORE_LEASE_RENEW_MS on its own connection. 0, or -1 with err (the store unreachable
 * stops the wait only at its first try). A store without leadership (SQLite, one controller)
 * returns 0 at once. Loop thread, once, before the state is loaded. Closing the store gives
 * the lease up (a standby takes it at its next try).
 *
 * cl_store_lost: whether the lease was lost (another controller took it: found by the
 * renewal or by a commit): then why says so, and no commit can succeed any more (the
 * controller steps down).
 * Any thread. false for a store without leadership. */
enum {
    CL_STORE_LEASE_TTL_MS = 1500,
    CL_STORE_LEASE_RENEW_MS = 300,
    CL_STORE_LEASE_TRY_MS = 100
};
int cl_store_lead(cl_store_t *s, const char *who, cl_store_wait_f *waiting, void *arg,
                  cl_error_t *err);
bool cl_store_lost(cl_store_t *s, char *why, size_t len);
/* Whether this store's lease is certainly still held now: not lost, and renewed recently
 * enough that no other controller can have taken it yet (by the renewal's send time, so
 * that a controller that was paused past the lease knows at once). What a leader checks
 * before it answers a heartbeat: an answer extends the node's lease (docs/standby.md,
 * "Fencing"). true for a store without leadership. Any thread. */
bool cl_store_fresh(cl_store_t *s);
/* Not while a commit runs (destroy the committer first). Accepts NULL. */
void cl_store_close(cl_store_t *s);

#endif
