/* sqlite_int.h - what the SQLite backend's files share: the store object, the accounting half
 * (sqlite_acct.c: service objects, usage records and rollups, retention and their queries) and
 * the audit log (sqlite_audit.c) that sqlite.c's open, commit and close call. Internal to
 * src/store. */
#ifndef COLOSSUS_STORE_SQLITE_INT_H
#define COLOSSUS_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "store/store.h"

/* A file of the journal as opened: if the path stops naming it (deleted, replaced), what is
 * committed through the open descriptors is gone at the next restart. */
typedef struct sq_file {
    const char *suffix; /* "", "-wal", "-shm" */
    dev_t dev;
    ino_t ino;
    bool known;
} sq_file_t;

typedef struct sq_store {
    cl_store_t base;
    char path[4096]; /* DIR/colossus.db */
    sq_file_t files[3];
    sqlite3 *wr, *rd;
    /* writer's (sqlite.c's, then sqlite_acct.c's); wr_all: each of them, for close and the
     * full-scan count */
    union {
        struct {
            sqlite3_stmt *job_put, *job_done_put, *job_del, *job_done_del, *node_put, *meta_put;
            sqlite3_stmt *obj_put, *obj_del, *usage_put, *rollup_put, *audit_put;
            sqlite3_stmt *prune_jobs, *prune_usage, *prune_audit;
            sqlite3_stmt *recent_put, *recent_move, *recent_clear, *recent_rollup;
            sqlite3_stmt *done_move, *done_clear, *done_max;
            sqlite3_stmt *id_floor_put;
        };
        sqlite3_stmt *wr_all[22];
    };
    /* reader's */
    sqlite3_stmt *meta_get;
    char *blob; /* writer's: argv and env of one job */
    /* writer's: no job above this id has been put finished (raised by a commit that then
     * failed, it only makes a later live put delete what is not there) */
    uint64_t done_id_max;
    size_t blob_cap;
    /* writer's: rows in usage_recent (sqlite_acct.c), or more (after a failed commit: the
     * next one moves what is there) */
    uint32_t recent_n;
    /* writer's: finished jobs still in jobs (sqlite.c), or more, as recent_n */
    uint32_t done_n;
    char *aud; /* writer's: the text of the audit group being built, kept across commits */
    size_t aud_cap;
    /* full-scan steps (cl_store_sqlite_fullscan_steps): of the reader's statements; of the
     * writer's, counted after each commit on the committing thread */
    uint64_t fullscans, wr_fullscans;
} sq_store_t;

/* Rollup keys one commit sums before it writes them (more: it writes and starts again). */
#define SQ_SHARES 16

/* One commit in progress: the visit callbacks' argument. */
typedef struct sq_commit {
    sq_store_t *s;
    cl_error_t *err;
    bool pruned, prune_more;
    bool usage_direct; /* a batch of many runs: its usage records into usage_records itself */
    bool jobs_direct;  /* a batch of many jobs: the finished ones into jobs_done itself */
    uint64_t pruned_jobs, pruned_usage, pruned_audit;
    /* the audit group being built (sqlite_audit.c): its who (the batch's string), records,
     * earliest and latest time, and length of its text in s->aud */
    const char *aud_who;
    uint32_t aud_n;
    double aud_first, aud_last;
    size_t aud_len;
    /* this commit's shares of the daily rollups, summed per (day, tenant, user) and written
     * at its end (sq_rollup_flush): one upsert a key, not one a run (strings: the batch's) */
    struct sq_share {
        char day[16];
        const char *tenant, *user;
        double gpu_s, energy_j, flops;
        uint32_t runs;
    } shares[SQ_SHARES];
    uint32_t nshares;
} sq_commit_t;

/* The meta key under which a prune keeps the highest job id it may have deleted. */
#define SQ_ID_FLOOR "store:job_id_max"

/* The job states a prune and finished_since call finished (CL_JOB_SUCCEEDED, _FAILED,
 * _CANCELLED; checked in sqlite.c). */
#define SQ_FINISHED "(2,3,4)"

/* A writer statement: where it goes in sq_store_t (offsetof) and its SQL. */
typedef struct sq_sql {
    size_t off;
    const char *sql;
} sq_sql_t;

/* "store: WHAT: SQLite's reason"; -1 */
int sq_fail(sqlite3 *db, cl_error_t *err, const char *what);
/* Whether db has the table name: 1, 0, or -1 (the question failed: sqlite3_errmsg). */
int sq_has_table(sqlite3 *db, const char *name);
/* Prepare n writer statements; -1 with "store: PATH: SQLite's reason" on failure. */
int sq_prepare_writer(sq_store_t *s, const sq_sql_t *v, size_t n, cl_error_t *err);
/* Bind v as text; NULL as "" (the columns read back NULL as "" anyway). */
static inline void sq_bind_str(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}
/* Step a bound writer statement and make it ready for the next record; a failure names the
 * record (fmt and what follows: "job %" PRIu64, its id). */
int sq_put_step(sq_commit_t *c, sqlite3_stmt *st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A reader statement of sql (err names what on failure), and its end (counting its full-scan
 * steps). */
int sq_read_prepare(sq_store_t *s, const char *sql, sqlite3_stmt **st, const char *what,
                    cl_error_t *err);
void sq_read_finalize(sq_store_t *s, sqlite3_stmt *st);
/* Add a writer statement's full-scan steps to wr_fullscans (and reset its count). */
void sq_count_scans(sq_store_t *s, sqlite3_stmt *st);
/* A column's text, "" for NULL. */
const char *sq_text(sqlite3_stmt *st, int i);

/* sqlite_acct.c */
extern const char sq_acct_schema[];
int sq_acct_prepare(sq_store_t *s, cl_error_t *err); /* the writer's statements */
int sq_put_obj(void *arg, const char *kind, const char *key, const void *val, size_t len);
int sq_put_usage(void *arg, const cl_store_usage_t *u);
/* Write the commit's summed rollup shares (before its COMMIT). 0 or -1 with c->err. */
int sq_rollup_flush(sq_commit_t *c);
/* Runs in usage_recent that make a commit move them into usage_records (sq_recent_move). */
#define SQ_RECENT_MAX 128
/* Before a COMMIT: usage_recent's rows into usage_records and their rollups, when there are
 * SQ_RECENT_MAX of them or (force) any. 0 or -1 with c->err. */
int sq_recent_move(sq_commit_t *c, bool force);
/* The count sql gives, into *n, on the writer. 0 or -1. */
int sq_count(sq_store_t *s, const char *sql, uint32_t *n);
/* usage_recent's rows (at open). 0 or -1. */
int sq_recent_count(sq_store_t *s);
/* The finished jobs in jobs into jobs_done: when there are SQ_RECENT_MAX of them, or (force)
 * any. 0 or -1 with c->err. */
int sq_done_move(sq_commit_t *c, bool force);
int sq_prune(void *arg, const cl_store_prune_t *p);
int sq_objs_load(cl_store_t *bs, const char *kind, cl_store_obj_f *f, void *arg,
                 cl_error_t *err);
int sq_history(cl_store_t *bs, const cl_store_history_q_t *q, cl_store_usage_f *f, void *arg,
               cl_error_t *err);
int sq_usage(cl_store_t *bs, const cl_store_usage_q_t *q, cl_store_sum_f *f, void *arg,
             cl_error_t *err);

/* sqlite_audit.c */
/* The audit statements, then the move of an older journal's audit_log into audit_groups. */
int sq_audit_prepare(sq_store_t *s, cl_error_t *err);
/* Append a record to the group being built, flushing the group first when who changes. */
int sq_put_audit(void *arg, const cl_store_audit_t *a);
/* Write the group being built (none: nothing); before a prune and the COMMIT. */
int sq_audit_flush(sq_commit_t *c);
/* Delete whole groups whose newest record is before before, oldest first, at most
 * CL_STORE_PRUNE_MAX groups; c->pruned_audit = the records they held. */
int sq_prune_audit(sq_commit_t *c, double before);
int sq_audit(cl_store_t *bs, const cl_store_audit_q_t *q, cl_store_audit_f *f, void *arg,
             cl_error_t *err);

#endif
