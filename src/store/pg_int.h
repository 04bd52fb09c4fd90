/* pg_int.h - what the PostgreSQL backend's files share: the store object, the parameters of
 * a statement (binary, so that a double and a 64-bit integer go exactly and unparsed), the
 * commit's pipeline, and the accounting half (pg_acct.c) that pg.c's commit calls. Internal
 * to src/store. */
#ifndef COLOSSUS_STORE_PG_INT_H
#define COLOSSUS_STORE_PG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store/store.h"

typedef struct pg_store {
    cl_store_t base;
    char shown[256]; /* the URL as errors name it: its password hidden */
    char *url;
    bool sync_full;
    PGconn *wr, *rd;        /* the committer's, the loop's */
    uint32_t cursors;       /* reader's: the cursors declared so far (a name each) */
    struct pg_lease *lease; /* the lease once led (pg_lease.c); NULL: never asked to lead */
} pg_store_t;

/* The values of one statement's parameters: text as text, everything else binary. */
enum { PG_PARAMS_MAX = 48 };
typedef struct pg_params {
    const char *v[PG_PARAMS_MAX];
    int len[PG_PARAMS_MAX], fmt[PG_PARAMS_MAX];
    char num[PG_PARAMS_MAX][8];
    int n;
} pg_params_t;

void pg_p_i64(pg_params_t *p, int64_t v);
void pg_p_f64(pg_params_t *p, double v);
void pg_p_bool(pg_params_t *p, bool v);
void pg_p_text(pg_params_t *p, const char *v); /* NULL as "" */
void pg_p_bytes(pg_params_t *p, const void *v, size_t len);

/* A binary result's columns (the types the schema gives them). */
int64_t pg_i64(const PGresult *r, int row, int col);
double pg_f64(const PGresult *r, int row, int col);
bool pg_bool(const PGresult *r, int row, int col);
const char *pg_str(const PGresult *r, int row, int col); /* "" for NULL */

/* How a pipelined statement's result is read when it comes. */
typedef enum pg_want {
    PG_OK,           /* it worked */
    PG_COUNT_JOBS,   /* rows it deleted: pruned jobs */
    PG_COUNT_USAGE,  /* rows it deleted: pruned usage records */
    PG_COUNT_GROUPS, /* rows it returned (groups), the sum of their n: pruned audit records */
} pg_want_t;

/* One commit in progress: the statements sent and not yet answered, what the prune found. */
typedef struct pg_commit {
    pg_store_t *s;
    cl_error_t *err;
    bool failed;
    bool lease_lost; /* a statement failed with PG_LEASE_LOST: another controller leads */
    struct pg_sent {
        pg_want_t want;
        char what[96];
    } * sent;
    size_t nsent, cap;
    bool pruned, prune_more;
    size_t runs; /* usage records put (their shares wait in usage_new) */
    uint64_t pruned_jobs, pruned_usage, pruned_audit;
    /* the audit group being built: its records (the batch's) until its flush */
    const cl_store_audit_t **aud;
    size_t naud, aud_cap;
    const cl_store_job_t **jobs; /* gathered for one statement (the batch's) */
    size_t njobs, jobs_cap;
    char *arr; /* the array literals of one statement (pg_arr_*) */
    size_t arr_len, arr_cap;
} pg_commit_t;

/* Send the prepared statement name with p's values (name NULL: what is the SQL itself,
 * without parameters: BEGIN, COMMIT); what names it if it fails. 0, or -1 with c->err (and
 * c->failed). The values are copied: p may be reused at once. */
int pg_send(pg_commit_t *c, const char *name, const pg_params_t *p, pg_want_t want,
            const char *what);
/* The commit's array literal text: n bytes of v; a string element, quoted and escaped; a
 * number element as printf writes it. */
void pg_arr_put(pg_commit_t *c, const char *v, size_t n);
void pg_arr_str(pg_commit_t *c, const char *v);
void pg_arr_num(pg_commit_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The jobs gathered so far, written (before a prune looks at them). */
int pg_jobs_flush(pg_commit_t *c);
/* A new connection to s->url (a host that does not answer fails in 10 s); NULL with err. */
PGconn *pg_connect(pg_store_t *s, cl_error_t *err);
/* "store: WHAT: PostgreSQL's reason"; -1 */
int pg_fail(pg_store_t *s, PGconn *db, cl_error_t *err, const char *what);
/* The reader's statement with p's values, results binary; NULL with err naming what. */
PGresult *pg_read(pg_store_t *s, const char *sql, const pg_params_t *p, const char *what,
                  cl_error_t *err);

/* pg_lease.c: the lease (store.h's leadership). The SQLSTATE colossus_lease_check raises
 * when the caller does not hold the lease; the schema's version 3 (the table, the functions).
 */
#define PG_LEASE_LOST "CL001"
extern const char pg_schema_lease[];
int pg_lease_lead(cl_store_t *bs, const char *who, cl_store_wait_f *waiting, void *arg,
                  cl_error_t *err);
bool pg_lease_lost(cl_store_t *bs, char *why, size_t len);
bool pg_lease_fresh(cl_store_t *bs);
/* The commit's check, sent after its BEGIN when the store leads (else nothing). */
int pg_lease_check(pg_commit_t *c);
/* A commit refused for want of the lease: the lease is lost for good (why: the server's). */
void pg_lease_mark_lost(pg_store_t *s, const char *why);
/* Stop the renewer and give the lease up (a standby takes it at once). Accepts none held. */
void pg_lease_release(pg_store_t *s);

/* pg_acct.c */
/* The writer's statements of the accounting half: names and SQL. */
typedef struct pg_stmt {
    const char *name, *sql;
} pg_stmt_t;
extern const pg_stmt_t pg_acct_stmts[];
extern const size_t pg_acct_nstmts;
int pg_put_obj(void *arg, const char *kind, const char *key, const void *val, size_t len);
int pg_put_usage(void *arg, const cl_store_usage_t *u);
int pg_put_audit(void *arg, const cl_store_audit_t *a);
int pg_audit_flush(pg_commit_t *c); /* the group being built (none: nothing) */
/* The usage records' shares, summed into their rollups (none: nothing). */
int pg_rollup_flush(pg_commit_t *c);
/* The writer session's own table of the commit's rollup shares (before the statements). */
extern const char pg_acct_session[];
int pg_prune(void *arg, const cl_store_prune_t *p);
int pg_objs_load(cl_store_t *bs, const char *kind, cl_store_obj_f *f, void *arg,
                 cl_error_t *err);
int pg_history(cl_store_t *bs, const cl_store_history_q_t *q, cl_store_usage_f *f, void *arg,
               cl_error_t *err);
int pg_usage(cl_store_t *bs, const cl_store_usage_q_t *q, cl_store_sum_f *f, void *arg,
             cl_error_t *err);
int pg_audit(cl_store_t *bs, const cl_store_audit_q_t *q, cl_store_audit_f *f, void *arg,
             cl_error_t *err);

#endif
