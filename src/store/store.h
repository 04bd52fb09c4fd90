/* store.h - the controller's journal: jobs, nodes and a few counters, written in batches (group
 * commit) behind a vtable, so that SQLite (the embedded default) and PostgreSQL (the HA issue)
 * are interchangeable and pass one conformance suite (tests/unit/test_store.c).
 *
 * Journal before acknowledge: the controller records every change in the open batch
 * (cl_store_batch_*), closes the batch at the end of a loop turn and hands it to a committer
 * (committer.h: a worker thread, so that the loop goes on reading and applying while a batch
 * commits); only once that batch is durable do the replies and commands it caused leave.
 *
 * Threads: a backend's commit() may run on a worker thread while load(), job_get() and
 * meta_get() run on the loop thread; it never runs twice at once. A backend needs its own
 * connection for each side (SQLite: a writer and a reader on the same WAL file). */
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
} cl_store_job_t;

typedef struct cl_store_node {
    uint32_t id; /* compact node id */
    const char *name;
    bool drained; /* admin drain survives restarts */
    const char *reason;
} cl_store_node_t;

/* ---- batches: what one group commit writes, all or nothing ----
 * Built on the loop thread; every put copies what it is given (j must not point into b; a NULL
 * string stays NULL in the batch and reads back from a store as ""). A later put of the same
 * job id, node id or meta key in one batch replaces the earlier one (the last write wins, as
 * it would inside one transaction), so a job changed three times in a loop turn is written
 * once. A batch is not thread-safe: one thread at a time uses it (the loop while it builds
 * it, the committer's worker while it commits). Allocation failure aborts (util.h). */
typedef struct cl_store_batch cl_store_batch_t;
cl_store_batch_t *cl_store_batch_new(void);
void cl_store_batch_job(cl_store_batch_t *b, const cl_store_job_t *j);
void cl_store_batch_node(cl_store_batch_t *b, const cl_store_node_t *n);
void cl_store_batch_meta(cl_store_batch_t *b, const char *k, uint64_t v);
size_t cl_store_batch_size(const cl_store_batch_t *b); /* records after replacement */
size_t cl_store_batch_puts(const cl_store_batch_t *b); /* puts before replacement */
void cl_store_batch_clear(cl_store_batch_t *b);        /* empty it for reuse */
void cl_store_batch_free(cl_store_batch_t *b);         /* accepts NULL */
/* For backends: visit the records of a batch (jobs in put order, then nodes, then meta). */
typedef struct cl_store_visit {
    int (*job)(void *arg, const cl_store_job_t *j);
    int (*node)(void *arg, const cl_store_node_t *n);
    int (*meta)(void *arg, const char *k, uint64_t v);
} cl_store_visit_t;
/* Stops at (and returns) the first non-zero return of a callback; 0 when all were visited. */
int cl_store_batch_visit(const cl_store_batch_t *b, const cl_store_visit_t *v, void *arg);

typedef int cl_store_job_f(const cl_store_job_t *j, void *arg);
typedef int cl_store_node_f(const cl_store_node_t *n, void *arg);

typedef struct cl_store cl_store_t;
typedef struct cl_store_ops {
    const char *name;
    /* Write the whole batch durably, or nothing of it (then -1 with err). Any thread; never
     * given an empty batch (the dispatcher answers that). */
    int (*commit)(cl_store_t *s, const cl_store_batch_t *b, cl_error_t *err);
    /* Loop thread; they see what is committed. */
    int (*load)(cl_store_t *s, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                cl_error_t *err);
    int (*job_get)(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg, cl_error_t *err);
    int (*meta_get)(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err);
    void (*close)(cl_store_t *s); /* what was not committed is lost, as in a crash */
} cl_store_ops_t;

struct cl_store {
    const cl_store_ops_t *ops;
    /* Counters of non-empty commits that succeeded, updated by cl_store_commit() on the
     * committing thread: read them from another thread only while no commit runs (the
     * committer keeps its own for the loop, committer.h). */
    uint64_t commits, records_committed, puts_committed;
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
 *   postgresql://...    refused for now with a sentence saying so (issue 14 adds it)
 * NULL with a sentence naming the problem (a bad URL or option, a file that cannot be
 * opened); a refused URL or option creates nothing. */
cl_store_t *cl_store_open(const char *url, const cl_store_opts_t *opts, cl_error_t *err);
cl_store_t *cl_store_open_sqlite(const char *dir, bool sync_full, cl_error_t *err);

/* Dispatchers: the same contract for every backend. They return 0 (or 1: found) or -1 with
 * err filled. */
/* All of b durably or none of it. An empty batch is a no-op: 0, the backend not called, no
 * commit counted. b is only read. */
int cl_store_commit(cl_store_t *s, const cl_store_batch_t *b, cl_error_t *err);
/* Call nf for every node, then jf for every job, each in id order, all from one committed
 * state (either may be NULL); a callback returning non-zero stops the load (0 returned). */
int cl_store_load(cl_store_t *s, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                  cl_error_t *err);
/* Call jf with job id if the journal has it committed. Returns 1 (found), 0 or -1. */
int cl_store_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg,
                     cl_error_t *err);
/* *v = the committed value of k. 1 (found), 0 (not found; *v untouched) or -1. */
int cl_store_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err);
/* Not while a commit runs (destroy the committer first). Accepts NULL. */
void cl_store_close(cl_store_t *s);

#endif
