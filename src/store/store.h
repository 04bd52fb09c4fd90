/* store.h - the controller's journal: jobs and nodes, written in batches (group commit) behind
 * a vtable so that SQLite (embedded default) and PostgreSQL (later) are interchangeable.
 *
 * Journal before acknowledge: the controller puts every change, calls cl_store_commit() once per
 * loop turn, and only then lets the replies and commands caused by those changes leave. */
#ifndef COLOSSUS_STORE_H
#define COLOSSUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"

/* One job as journaled. Strings and arrays are borrowed on put, owned by the store's loader
 * on load (valid during the callback only). */
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
    const char *alloc;    /* node names of the current or last run, comma-separated, rank order */
    const char *const *argv;
    size_t argc;
    const char *const *env;
    size_t envc;
} cl_store_job_t;

typedef struct cl_store_node {
    uint32_t id; /* compact node id */
    const char *name;
    bool drained;         /* admin drain survives restarts */
    const char *reason;
} cl_store_node_t;

typedef int cl_store_job_f(const cl_store_job_t *j, void *arg);
typedef int cl_store_node_f(const cl_store_node_t *n, void *arg);

typedef struct cl_store cl_store_t;
typedef struct cl_store_ops {
    const char *name;
    int (*job_put)(cl_store_t *s, const cl_store_job_t *j, cl_error_t *err);
    int (*node_put)(cl_store_t *s, const cl_store_node_t *n, cl_error_t *err);
    int (*meta_put)(cl_store_t *s, const char *k, uint64_t v, cl_error_t *err);
    int (*meta_get)(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err); /* 1 found */
    int (*commit)(cl_store_t *s, cl_error_t *err);
    int (*load)(cl_store_t *s, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                cl_error_t *err);
    int (*job_get)(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg, cl_error_t *err);
    void (*close)(cl_store_t *s); /* uncommitted puts are lost, as in a crash */
} cl_store_ops_t;

struct cl_store {
    const cl_store_ops_t *ops;
    uint64_t puts_pending; /* puts since the last commit */
    uint64_t commits, puts_committed;
};

/* Open (creating) DIR/colossus.db in WAL mode. sync_full: fsync every commit (survives power
 * loss); otherwise a commit survives a process crash but not a power cut. Caller closes. */
cl_store_t *cl_store_open_sqlite(const char *dir, bool sync_full, cl_error_t *err);

/* Dispatchers: the same contract for every backend. All return 0 or -1 with err filled. */
int cl_store_job_put(cl_store_t *s, const cl_store_job_t *j, cl_error_t *err);
int cl_store_node_put(cl_store_t *s, const cl_store_node_t *n, cl_error_t *err);
int cl_store_meta_put(cl_store_t *s, const char *k, uint64_t v, cl_error_t *err);
int cl_store_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err);
/* Make every put since the last commit durable, all or nothing. A no-op when none. */
int cl_store_commit(cl_store_t *s, cl_error_t *err);
/* Call jf for every job (id order) and nf for every node; a callback returning non-zero stops. */
int cl_store_load(cl_store_t *s, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                  cl_error_t *err);
/* Call jf with job id if the journal has it (puts not yet committed included). Returns 1
 * (found), 0 (not found) or -1. */
int cl_store_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg,
                     cl_error_t *err);
void cl_store_close(cl_store_t *s);

#endif
