/* pg.c - the PostgreSQL journal backend (libpq): open, the schema and its versioned
 * migrations, one transaction per group commit sent as a pipeline, jobs, nodes and meta (the
 * accounting half: pg_acct.c).
 *
 * Threads: two connections to the database. The writer belongs to commit(), which may run on
 * the committer's worker thread; the reader serves load(), job_get(), meta_get() and the
 * queries on the loop thread. A read sees what was committed when it began (each statement
 * in autocommit, a load in one REPEATABLE READ transaction), never a commit half done.
 *
 * Why a pipeline: a commit of a few hundred records would otherwise wait a round trip per
 * statement; in pipeline mode (libpq 14) every statement of the batch is sent at once and the
 * answers read after, so that a commit costs about one round trip and the server's work. A
 * sync point every PG_SYNC_EVERY statements reads the answers so far (inside the one
 * transaction: BEGIN is explicit), so that neither side's buffers fill with the other's
 * unread bytes. */
#include <endian.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/pg_int.h"
#include "store/pg_lib.h"
#include "store/store_int.h"
#include "util/util.h"

_Static_assert(CL_JOB_SUCCEEDED == 2 && CL_JOB_FAILED == 3 && CL_JOB_CANCELLED == 4,
               "PG_FINISHED lists the finished states by number");
#define PG_FINISHED "(2,3,4)"
/* The meta key under which a prune keeps the highest job id it may have deleted. */
#define PG_ID_FLOOR "store:job_id_max"

enum { PG_SYNC_EVERY = 256, PG_FETCH = 5000 };

/* ---- parameters and results ---- */

static void p_bin(pg_params_t *p, const void *v, int len)
{
    cl_assert(p->n < PG_PARAMS_MAX);
    memcpy(p->num[p->n], v, (size_t)len);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = len;
    p->fmt[p->n++] = 1;
}

void pg_p_i64(pg_params_t *p, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    p_bin(p, &be, 8);
}

void pg_p_f64(pg_params_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    u = htobe64(u);
    p_bin(p, &u, 8);
}

void pg_p_bool(pg_params_t *p, bool v)
{
    char b = v ? 1 : 0;
    p_bin(p, &b, 1);
}

void pg_p_text(pg_params_t *p, const char *v)
{
    cl_assert(p->n < PG_PARAMS_MAX);
    p->v[p->n] = v ? v : "";
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

void pg_p_bytes(pg_params_t *p, const void *v, size_t len)
{
    cl_assert(p->n < PG_PARAMS_MAX);
    p->v[p->n] = len ? v : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
    if (pq.getisnull(r, row, col)) return 0;
    const char *v = pq.getvalue(r, row, col);
    int len = pq.getlength(r, row, col);
    if (len == 4) {
        uint32_t u;
        memcpy(&u, v, 4);
        return (int32_t)be32toh(u);
    }
    uint64_t u = 0;
    if (len == 8) memcpy(&u, v, 8);
    return (int64_t)be64toh(u);
}

double pg_f64(const PGresult *r, int row, int col)
{
    if (pq.getisnull(r, row, col) || pq.getlength(r, row, col) != 8) return 0;
    uint64_t u;
    memcpy(&u, pq.getvalue(r, row, col), 8);
    u = be64toh(u);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

bool pg_bool(const PGresult *r, int row, int col)
{
    return !pq.getisnull(r, row, col) && pq.getvalue(r, row, col)[0] != 0;
}

const char *pg_str(const PGresult *r, int row, int col)
{
    return pq.getisnull(r, row, col) ? "" : pq.getvalue(r, row, col); /* NUL-ended by libpq */
}

/* PostgreSQL's message in one line (libpq's ends with a newline, may span several). */
static void one_line(const char *m, char *out, size_t len)
{
    snprintf(out, len, "%s", m && *m ? m : "unknown error");
    for (char *p = out; *p; p++)
        if (*p == '\n') *p = *(p + 1) ? ' ' : 0;
}

int pg_fail(pg_store_t *s, PGconn *db, cl_error_t *err, const char *what)
{
    char m[200];
    one_line(db ? pq.errorMessage(db) : "out of memory", m, sizeof m);
    return cl_err(err, "store: %.40s: %s: %s", s->shown, what, m);
}

static int res_fail(pg_store_t *s, const PGresult *r, PGconn *db, cl_error_t *err,
                    const char *what)
{
    const char *pm = r ? pq.resultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!pm) return pg_fail(s, db, err, what);
    char m[200];
    one_line(pm, m, sizeof m);
    return cl_err(err, "store: %s: %s", what, m);
}

PGresult *pg_read(pg_store_t *s, const char *sql, const pg_params_t *p, const char *what,
                  cl_error_t *err)
{
    /* a reader the server dropped connects again (the read that found it dropped failed) */
    if (pq.status(s->rd) != CONNECTION_OK) {
        pq.reset(s->rd);
        if (pq.status(s->rd) != CONNECTION_OK) {
            pg_fail(s, s->rd, err, what);
            return NULL;
        }
    }
    PGresult *r = pq.execParams(s->rd, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
                                p ? p->len : NULL, p ? p->fmt : NULL, 1);
    ExecStatusType st = pq.resultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    res_fail(s, r, s->rd, err, what);
    pq.clear(r);
    return NULL;
}

/* ---- the schema ---- */

/* Column names avoid PostgreSQL's reserved words (user). Jobs are one table; two partial
 * indexes serve a start's load (the live jobs by id, the finished ones by end time) and the
 * prune, so that a journal of 1,000,000 finished jobs gives its live ones without reading
 * the others. The accounting tables are those of the SQLite backend (sqlite_acct.c), audit
 * records one row each under their group (one commit's run of records by one who). */
#define JOB_COLS                                                                               \
    "id,state,name,tenant,cwd,reason,nodes,gpus_per_node,max_restarts,time_limit_s,"           \
    "priority,restarts,incarnation,exit_code,has_exit,submit_time,start_time,end_time,alloc,"  \
    "argv,env,running_time,user_name,uid,gid,gpu_s,energy_j,flops,ntasks,cwd_strict,output,"   \
    "error,dependency,held,array_id,array_task,array_spec,ended,exclusive,nodelist,exclude,"   \
    "cpus_per_gpu,mem_per_gpu_mb"

static const char schema_v1[] =
    "CREATE TABLE jobs(id int8 PRIMARY KEY, state int8 NOT NULL, name text NOT NULL,"
    " tenant text NOT NULL, cwd text NOT NULL, reason text NOT NULL, nodes int8 NOT NULL,"
    " gpus_per_node int8 NOT NULL, max_restarts int8 NOT NULL, time_limit_s float8 NOT NULL,"
    " priority int8 NOT NULL, restarts int8 NOT NULL, incarnation int8 NOT NULL,"
    " exit_code int8 NOT NULL, has_exit bool NOT NULL, submit_time float8 NOT NULL,"
    " start_time float8 NOT NULL, end_time float8 NOT NULL, alloc text NOT NULL,"
    " argv bytea NOT NULL, env bytea NOT NULL, running_time float8 NOT NULL,"
    " user_name text NOT NULL, uid int8 NOT NULL, gid int8 NOT NULL, gpu_s float8 NOT NULL,"
    " energy_j float8 NOT NULL, flops float8 NOT NULL, ntasks int8 NOT NULL,"
    " cwd_strict bool NOT NULL, output text NOT NULL, error text NOT NULL);"
    "CREATE INDEX jobs_live ON jobs(id) WHERE state NOT IN " PG_FINISHED ";"
    "CREATE INDEX jobs_done_end ON jobs(end_time) WHERE state IN " PG_FINISHED ";"
    "CREATE TABLE nodes(id int8 PRIMARY KEY, name text COLLATE \"C\" UNIQUE NOT NULL, drained "
    "bool NOT NULL,"
    " reason text NOT NULL);"
    "CREATE TABLE meta(k text PRIMARY KEY, v int8 NOT NULL);"
    "CREATE TABLE service_objects(kind text COLLATE \"C\" NOT NULL,"
    " k text COLLATE \"C\" NOT NULL, v bytea NOT NULL,"
    " PRIMARY KEY(kind, k));"
    "CREATE TABLE usage_records(job int8 NOT NULL, incarnation int8 NOT NULL,"
    " name text NOT NULL, tenant text NOT NULL, user_name text NOT NULL, nodes text NOT NULL,"
    " ended text NOT NULL, reason text NOT NULL, gpus int8 NOT NULL,"
    " start_time float8 NOT NULL, end_time float8 NOT NULL, gpu_s float8 NOT NULL,"
    " energy_j float8 NOT NULL, flops float8 NOT NULL, exit_code int8 NOT NULL,"
    " has_exit bool NOT NULL, PRIMARY KEY(job, incarnation));"
    "CREATE INDEX usage_end ON usage_records(end_time);"
    "CREATE INDEX usage_tenant_end ON usage_records(tenant, end_time);"
    "CREATE INDEX usage_user_end ON usage_records(user_name, end_time);"
    "CREATE TABLE usage_rollups(day text COLLATE \"C\" NOT NULL,"
    " tenant text COLLATE \"C\" NOT NULL, user_name text COLLATE \"C\" NOT NULL,"
    " gpu_s float8 NOT NULL, energy_j float8 NOT NULL,"
    " flops float8 NOT NULL, runs int8 NOT NULL, PRIMARY KEY(day, tenant, user_name));"
    "CREATE INDEX rollups_tenant ON usage_rollups(tenant, day);"
    "CREATE INDEX rollups_user ON usage_rollups(user_name, day);"
    "CREATE TABLE audit_groups(seq int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " first_time float8 NOT NULL, last_time float8 NOT NULL, who text NOT NULL,"
    " n int8 NOT NULL);"
    "CREATE INDEX audit_groups_last ON audit_groups(last_time);"
    "CREATE INDEX audit_groups_who_last ON audit_groups(who, last_time);"
    "CREATE TABLE audit_records(seq int8 NOT NULL REFERENCES audit_groups ON DELETE CASCADE,"
    " i int8 NOT NULL, time float8 NOT NULL, ok bool NOT NULL, op text NOT NULL,"
    " target text NOT NULL, detail text NOT NULL, PRIMARY KEY(seq, i));";

/* Version 2: issue 15's dependencies, holds, arrays and how a job ended (sqlite.c's job
 * columns; --array is array_spec: ARRAY is a reserved word here). */
static const char schema_v2[] =
    "ALTER TABLE jobs ADD COLUMN dependency text NOT NULL DEFAULT '',"
    " ADD COLUMN held bool NOT NULL DEFAULT false, ADD COLUMN array_id int8 NOT NULL DEFAULT 0,"
    " ADD COLUMN array_task int8 NOT NULL DEFAULT 0, ADD COLUMN array_spec text NOT NULL "
    "DEFAULT '', ADD COLUMN ended text NOT NULL DEFAULT '';";

/* Version 3: the lease of standby controllers (pg_lease.c's pg_schema_lease). */

/* Version 4: issue 15's node constraints (--exclusive, --nodelist, --exclude; sqlite.c's
 * columns). */
static const char schema_v4[] =
    "ALTER TABLE jobs ADD COLUMN exclusive bool NOT NULL DEFAULT false,"
    " ADD COLUMN nodelist text NOT NULL DEFAULT '', ADD COLUMN exclude text NOT NULL DEFAULT "
    "'';";

/* Version 5: issue 15's CPUs and memory per GPU (--cpus-per-gpu, --mem-per-gpu in MiB). */
static const char schema_v5[] =
    "ALTER TABLE jobs ADD COLUMN cpus_per_gpu int8 NOT NULL DEFAULT 0,"
    " ADD COLUMN mem_per_gpu_mb int8 NOT NULL DEFAULT 0;";

/* migrations[v] takes a journal at schema version v to v+1; the last is this build's. A
 * later version is refused (a newer build wrote it). */
static const char *const migrations[] = {schema_v1, schema_v2, pg_schema_lease, schema_v4,
                                         schema_v5};
#define PG_SCHEMA_VERSION ((int64_t)(sizeof migrations / sizeof migrations[0]))

/* The schema version table, and every migration the journal lacks, in one transaction under
 * an advisory lock (two controllers starting at once migrate once). */
static int migrate(pg_store_t *s, cl_error_t *err)
{
    static const char lock[] =
        "BEGIN; SELECT pg_advisory_xact_lock(7305183414);" /* a key of our own */
        "CREATE TABLE IF NOT EXISTS colossus_schema(version int8 NOT NULL);";
    PGresult *r = pq.exec(s->wr, lock);
    int ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
    pq.clear(r);
    if (!ok) goto fail;
    r = pq.execParams(s->wr, "SELECT max(version), count(*) FROM colossus_schema", 0, NULL,
                      NULL, NULL, NULL, 1);
    if (pq.resultStatus(r) != PGRES_TUPLES_OK) {
        pq.clear(r);
        goto fail;
    }
    int64_t v = pg_i64(r, 0, 0), rows = pg_i64(r, 0, 1);
    pq.clear(r);
    if (v > PG_SCHEMA_VERSION) {
        pq.clear(pq.exec(s->wr, "ROLLBACK"));
        return cl_err(err,
                      "store: %.60s: the journal's schema is version %" PRId64
                      ", newer than this build's %" PRId64 ": refusing it",
                      s->shown, v, PG_SCHEMA_VERSION);
    }
    for (int64_t k = v; k < PG_SCHEMA_VERSION; k++) {
        r = pq.exec(s->wr, migrations[k]);
        ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
        pq.clear(r);
        if (!ok) {
            char what[64];
            snprintf(what, sizeof what, "schema migration to version %" PRId64, k + 1);
            pg_fail(s, s->wr, err, what);
            pq.clear(pq.exec(s->wr, "ROLLBACK"));
            return -1;
        }
    }
    char ver[24];
    snprintf(ver, sizeof ver, "%" PRId64, PG_SCHEMA_VERSION);
    const char *vals[] = {ver};
    r = pq.execParams(s->wr,
                      rows ? "UPDATE colossus_schema SET version=$1::int8"
                           : "INSERT INTO colossus_schema(version) VALUES($1::int8)",
                      1, NULL, vals, NULL, NULL, 0);
    ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
    pq.clear(r);
    if (ok) {
        r = pq.exec(s->wr, "COMMIT");
        ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
        pq.clear(r);
    }
    if (ok) return 0;
fail:
    pg_fail(s, s->wr, err, "schema");
    if (pq.transactionStatus(s->wr) != PQTRANS_IDLE) pq.clear(pq.exec(s->wr, "ROLLBACK"));
    return -1;
}

/* ---- commit (the writer) ---- */

/* Read the answers to everything sent, then the sync point's. -1 when the connection broke
 * (c->err says so); a statement that failed sets c->failed and c->err (its first). */
static int drain(pg_commit_t *c)
{
    PGconn *db = c->s->wr;
    for (size_t i = 0; i < c->nsent; i++) {
        PGresult *r = pq.getResult(db);
        if (!r) {
            if (!c->failed) pg_fail(c->s, db, c->err, "commit");
            c->failed = true;
            return -1;
        }
        ExecStatusType st = pq.resultStatus(r);
        const struct pg_sent *w = &c->sent[i];
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            uint64_t n = strtoull(pq.cmdTuples(r), NULL, 10);
            if (w->want == PG_COUNT_JOBS) c->pruned_jobs = n;
            if (w->want == PG_COUNT_USAGE) c->pruned_usage = n;
            if (w->want == PG_COUNT_GROUPS)
                for (int k = 0; k < pq.ntuples(r); k++)
                    c->pruned_audit += (uint64_t)pg_i64(r, k, 0);
            if (w->want != PG_OK && n >= CL_STORE_PRUNE_MAX) c->prune_more = true;
        } else if (st != PGRES_PIPELINE_ABORTED && !c->failed) {
            const char *code = pq.resultErrorField(r, PG_DIAG_SQLSTATE);
            c->lease_lost = code && !strcmp(code, PG_LEASE_LOST);
            char what[128];
            snprintf(what, sizeof what, "commit: %s", w->what);
            res_fail(c->s, r, db, c->err, what);
            c->failed = true;
        } else if (!c->failed) {
            cl_err(c->err, "store: commit: %s: aborted", w->what); /* cannot happen */
            c->failed = true;
        }
        pq.clear(r);
        while ((r = pq.getResult(db))) /* the end of this statement's answers */
            pq.clear(r);
    }
    c->nsent = 0;
    PGresult *r = pq.getResult(db);
    int ok = r && pq.resultStatus(r) == PGRES_PIPELINE_SYNC;
    pq.clear(r);
    if (!ok) {
        if (!c->failed) pg_fail(c->s, db, c->err, "commit: sync");
        c->failed = true;
        return -1;
    }
    return 0;
}

static int sync_drain(pg_commit_t *c)
{
    if (pq.pipelineSync(c->s->wr) != 1) {
        if (!c->failed) pg_fail(c->s, c->s->wr, c->err, "commit: sync");
        c->failed = true;
        return -1;
    }
    return drain(c);
}

int pg_send(pg_commit_t *c, const char *name, const pg_params_t *p, pg_want_t want,
            const char *what)
{
    if (c->failed) return -1;
    if (c->nsent == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->sent = cl_xrealloc(c->sent, c->cap * sizeof *c->sent);
    }
    int ok = name ? pq.sendQueryPrepared(c->s->wr, name, p ? p->n : 0, p ? p->v : NULL,
                                         p ? p->len : NULL, p ? p->fmt : NULL, 1)
                  : pq.sendQueryParams(c->s->wr, what, 0, NULL, NULL, NULL, NULL, 1);
    if (!ok) {
        pg_fail(c->s, c->s->wr, c->err, "commit: send");
        c->failed = true;
        return -1;
    }
    struct pg_sent *w = &c->sent[c->nsent++];
    w->want = want;
    snprintf(w->what, sizeof w->what, "%s", what);
    if (c->nsent >= PG_SYNC_EVERY && sync_drain(c) < 0) return -1;
    return c->failed ? -1 : 0;
}

/* ---- jobs: many rows a statement ----
 * A commit's jobs go PG_JOBS_STMT at a time in one upsert over unnest() of one array per
 * column, so that a burst of submissions costs the server one statement, not one a job (a
 * statement costs it ~30 us here whatever its size: one a job held the acknowledged
 * submissions a second near 20,000). Each array is a PostgreSQL array literal, sent as a
 * parameter: every element quoted and escaped (pg_arr_str), so no value is read as syntax. */
enum { PG_JOBS_STMT = 1000 };

void pg_arr_put(pg_commit_t *c, const char *v, size_t n)
{
    if (c->arr_len + n + 1 > c->arr_cap) {
        c->arr_cap = (c->arr_len + n + 1) * 2;
        c->arr = cl_xrealloc(c->arr, c->arr_cap);
    }
    memcpy(c->arr + c->arr_len, v, n);
    c->arr_len += n;
    c->arr[c->arr_len] = 0;
}

void pg_arr_str(pg_commit_t *c, const char *v)
{
    pg_arr_put(c, "\"", 1);
    for (v = v ? v : ""; *v;) {
        size_t run = strcspn(v, "\"\\");
        pg_arr_put(c, v, run);
        v += run;
        if (*v) {
            pg_arr_put(c, "\\", 1);
            pg_arr_put(c, v++, 1);
        }
    }
    pg_arr_put(c, "\"", 1);
}

void pg_arr_num(pg_commit_t *c, const char *fmt, ...)
{
    char num[48];
    va_list ap;
    va_start(ap, fmt);
    int l = vsnprintf(num, sizeof num, fmt, ap);
    va_end(ap);
    pg_arr_put(c, num, (size_t)l);
}

/* NUL-separated strings as a bytea element: "\\x" and their hex (one NUL after each). */
static void arr_strv(pg_commit_t *c, const char *const *v, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    pg_arr_put(c, "\"\\\\x", 4);
    for (size_t i = 0; i < n; i++)
        for (const unsigned char *p = (const unsigned char *)v[i];; p++) {
            char h[2] = {hex[*p >> 4], hex[*p & 15]};
            pg_arr_put(c, h, 2);
            if (!*p) break;
        }
    pg_arr_put(c, "\"", 1);
}

/* JOB_COLS, in order: how each is read from a job. */
typedef enum { J_U64, J_INT, J_U32, J_I32, J_F64, J_BOOL, J_STR, J_ARGV, J_ENV } jcol_t;
#define JC(t, f)                                                                               \
    {                                                                                          \
        t, offsetof(cl_store_job_t, f)                                                         \
    }
static const struct {
    jcol_t t;
    size_t off;
} job_cols[] = {
    JC(J_U64, id),
    JC(J_INT, state),
    JC(J_STR, name),
    JC(J_STR, tenant),
    JC(J_STR, cwd),
    JC(J_STR, reason),
    JC(J_U32, nodes),
    JC(J_U32, gpus_per_node),
    JC(J_U32, max_restarts),
    JC(J_F64, time_limit_s),
    JC(J_I32, priority),
    JC(J_U32, restarts),
    JC(J_U32, incarnation),
    JC(J_I32, exit_code),
    JC(J_BOOL, has_exit),
    JC(J_F64, submit_time),
    JC(J_F64, start_time),
    JC(J_F64, end_time),
    JC(J_STR, alloc),
    JC(J_ARGV, argv),
    JC(J_ENV, env),
    JC(J_F64, running_time),
    JC(J_STR, user),
    JC(J_U32, uid),
    JC(J_U32, gid),
    JC(J_F64, gpu_s),
    JC(J_F64, energy_j),
    JC(J_F64, flops),
    JC(J_U32, ntasks),
    JC(J_BOOL, cwd_strict),
    JC(J_STR, output),
    JC(J_STR, error),
    JC(J_STR, dependency),
    JC(J_BOOL, held),
    JC(J_U64, array_id),
    JC(J_U32, array_task),
    JC(J_STR, array),
    JC(J_STR, ended),
    JC(J_BOOL, exclusive),
    JC(J_STR, nodelist),
    JC(J_STR, exclude),
    JC(J_U32, cpus_per_gpu),
    JC(J_U64, mem_per_gpu_mb),
};
#undef JC
#define JOB_NCOLS 43
_Static_assert(sizeof job_cols / sizeof job_cols[0] == JOB_NCOLS, "one a column of JOB_COLS");

static void arr_job_field(pg_commit_t *c, const cl_store_job_t *j, int k)
{
    const char *f = (const char *)j + job_cols[k].off;
#define AS(type) (*(const type *)(const void *)f)
    switch (job_cols[k].t) {
    case J_U64:
        return pg_arr_num(c, "%" PRIu64, AS(uint64_t));
    case J_INT:
        return pg_arr_num(c, "%d", AS(int));
    case J_U32:
        return pg_arr_num(c, "%" PRIu32, AS(uint32_t));
    case J_I32:
        return pg_arr_num(c, "%" PRId32, AS(int32_t));
    case J_F64:
        return pg_arr_num(c, "%.17g", AS(double));
    case J_BOOL:
        return pg_arr_put(c, AS(bool) ? "t" : "f", 1);
    case J_STR:
        return pg_arr_str(c, AS(const char *));
    case J_ARGV:
        return arr_strv(c, j->argv, j->argc);
    case J_ENV:
        return arr_strv(c, j->env, j->envc);
    }
#undef AS
}

/* The jobs gathered so far, in one statement (none: nothing). */
static int jobs_flush(pg_commit_t *c)
{
    if (!c->njobs) return 0;
    c->arr_len = 0;
    size_t at[JOB_NCOLS];
    for (int k = 0; k < JOB_NCOLS; k++) {
        at[k] = c->arr_len;
        pg_arr_put(c, "{", 1);
        for (size_t i = 0; i < c->njobs; i++) {
            if (i) pg_arr_put(c, ",", 1);
            arr_job_field(c, c->jobs[i], k);
        }
        pg_arr_put(c, "}", 2); /* and its NUL */
    }
    pg_params_t p = {.n = 0};
    for (int k = 0; k < JOB_NCOLS; k++)
        pg_p_text(&p, c->arr + at[k]);
    char what[64];
    snprintf(what, sizeof what, "jobs %" PRIu64 "..%" PRIu64 " (%zu)", c->jobs[0]->id,
             c->jobs[c->njobs - 1]->id, c->njobs);
    c->njobs = 0;
    return pg_send(c, "jobs_put", &p, PG_OK, what);
}

static int put_job(void *arg, const cl_store_job_t *j)
{
    pg_commit_t *c = arg;
    if (c->njobs == c->jobs_cap) {
        c->jobs_cap = c->jobs_cap ? c->jobs_cap * 2 : 64;
        c->jobs = cl_xrealloc(c->jobs, c->jobs_cap * sizeof *c->jobs);
    }
    c->jobs[c->njobs++] = j; /* the batch's: valid until the commit ends */
    return c->njobs >= PG_JOBS_STMT ? jobs_flush(c) : 0;
}

int pg_jobs_flush(pg_commit_t *c)
{
    return jobs_flush(c);
}

/* A node's name is unique: a put under another id takes the name from the node that had it
 * (as SQLite's INSERT OR REPLACE does). A nameless node fails (NOT NULL). */
static int put_node(void *arg, const cl_store_node_t *n)
{
    pg_commit_t *c = arg;
    pg_params_t p = {.n = 0};
    pg_p_i64(&p, n->id);
    if (n->name)
        pg_p_text(&p, n->name);
    else
        p.v[p.n] = NULL, p.len[p.n] = 0, p.fmt[p.n++] = 0; /* SQL NULL */
    pg_params_t q = p;                                     /* id and name */
    pg_p_bool(&p, n->drained);
    pg_p_text(&p, n->reason);
    char what[40];
    snprintf(what, sizeof what, "node %" PRIu32, n->id);
    if (pg_send(c, "node_free_name", &q, PG_OK, what) < 0) return -1;
    return pg_send(c, "node_put", &p, PG_OK, what);
}

static int put_meta(void *arg, const char *k, uint64_t v)
{
    pg_commit_t *c = arg;
    pg_params_t p = {.n = 0};
    pg_p_text(&p, k);
    pg_p_i64(&p, (int64_t)v);
    char what[96];
    snprintf(what, sizeof what, "meta %.80s", k);
    return pg_send(c, "meta_put", &p, PG_OK, what);
}

static const cl_store_visit_t pg_puts = {.job = put_job,
                                         .node = put_node,
                                         .meta = put_meta,
                                         .obj = pg_put_obj,
                                         .usage = pg_put_usage,
                                         .audit = pg_put_audit,
                                         .prune = pg_prune};

#define JOB_UPDATE                                                                             \
    " ON CONFLICT(id) DO UPDATE SET state=excluded.state,name=excluded.name,"                  \
    "tenant=excluded.tenant,cwd=excluded.cwd,reason=excluded.reason,nodes=excluded.nodes,"     \
    "gpus_per_node=excluded.gpus_per_node,max_restarts=excluded.max_restarts,"                 \
    "time_limit_s=excluded.time_limit_s,priority=excluded.priority,"                           \
    "restarts=excluded.restarts,incarnation=excluded.incarnation,"                             \
    "exit_code=excluded.exit_code,has_exit=excluded.has_exit,"                                 \
    "submit_time=excluded.submit_time,start_time=excluded.start_time,"                         \
    "end_time=excluded.end_time,alloc=excluded.alloc,argv=excluded.argv,env=excluded.env,"     \
    "running_time=excluded.running_time,user_name=excluded.user_name,uid=excluded.uid,"        \
    "gid=excluded.gid,gpu_s=excluded.gpu_s,energy_j=excluded.energy_j,flops=excluded.flops,"   \
    "ntasks=excluded.ntasks,cwd_strict=excluded.cwd_strict,output=excluded.output,"            \
    "error=excluded.error,dependency=excluded.dependency,held=excluded.held,"                  \
    "array_id=excluded.array_id,array_task=excluded.array_task,array_spec=excluded.array_"     \
    "spec,ended=excluded.ended,exclusive=excluded.exclusive,nodelist=excluded.nodelist,"       \
    "exclude=excluded.exclude,cpus_per_gpu=excluded.cpus_per_gpu,"                             \
    "mem_per_gpu_mb=excluded.mem_per_gpu_mb"

static const pg_stmt_t core_stmts[] = {
    {"jobs_put",
     "INSERT INTO jobs(" JOB_COLS ") SELECT * FROM unnest($1::int8[],$2::int8[],$3::text[],"
     "$4::text[],$5::text[],$6::text[],$7::int8[],$8::int8[],$9::int8[],$10::float8[],"
     "$11::int8[],$12::int8[],$13::int8[],$14::int8[],$15::bool[],$16::float8[],"
     "$17::float8[],$18::float8[],$19::text[],$20::bytea[],$21::bytea[],$22::float8[],"
     "$23::text[],$24::int8[],$25::int8[],$26::float8[],$27::float8[],$28::float8[],"
     "$29::int8[],$30::bool[],$31::text[],$32::text[],$33::text[],$34::bool[],$35::int8[],"
     "$36::int8[],$37::text[],$38::text[],$39::bool[],$40::text[],$41::text[],$42::int8[],"
     "$43::int8[])" JOB_UPDATE},
    {"node_free_name", "DELETE FROM nodes WHERE name=$2 AND id<>$1::int8"},
    {"node_put", "INSERT INTO nodes(id,name,drained,reason) VALUES($1::int8,$2,$3::bool,$4)"
                 " ON CONFLICT(id) DO UPDATE SET name=excluded.name,drained=excluded.drained,"
                 "reason=excluded.reason"},
    {"meta_put",
     "INSERT INTO meta(k,v) VALUES($1,$2::int8) ON CONFLICT(k) DO UPDATE SET v=excluded.v"},
    {"lease_check", "SELECT colossus_lease_check($1, $2::int8)"},
};

static int prepare(pg_store_t *s, const pg_stmt_t *v, size_t n, cl_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *r = pq.prepare(s->wr, v[i].name, v[i].sql, 0, NULL);
        int ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            char what[64];
            snprintf(what, sizeof what, "prepare %s", v[i].name);
            res_fail(s, r, s->wr, err, what);
        }
        pq.clear(r);
        if (!ok) return -1;
    }
    return 0;
}

static int writer_setup(pg_store_t *s, cl_error_t *err)
{
    /* not sync_full: a commit survives the controller's crash, not the server's (as SQLite's
     * synchronous=NORMAL survives a crash but not a power cut) */
    PGresult *r = pq.exec(s->wr, s->sync_full ? "SET synchronous_commit=on"
                                              : "SET synchronous_commit=off");
    int ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
    pq.clear(r);
    if (ok) {
        r = pq.exec(s->wr, pg_acct_session);
        ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
        pq.clear(r);
    }
    /* a commit that stalls inside its transaction (its controller paused) is ended by the
     * server, so that it cannot hold the lease's row lock past the lease (pg_lease.c) */
    if (ok) {
        r = pq.exec(s->wr, "SET idle_in_transaction_session_timeout='1s'");
        ok = pq.resultStatus(r) == PGRES_COMMAND_OK;
        pq.clear(r);
    }
    if (!ok) return pg_fail(s, s->wr, err, "settings");
    if (prepare(s, core_stmts, sizeof core_stmts / sizeof core_stmts[0], err) < 0) return -1;
    return prepare(s, pg_acct_stmts, pg_acct_nstmts, err);
}

/* A writer whose connection broke (the server restarted, a network cut) connects again
 * before the next commit, so that a committer that retries regains the journal. */
static int writer_ready(pg_store_t *s, cl_error_t *err)
{
    if (pq.status(s->wr) == CONNECTION_OK) return 0;
    pq.reset(s->wr);
    if (pq.status(s->wr) != CONNECTION_OK) return pg_fail(s, s->wr, err, "reconnect");
    return writer_setup(s, err);
}

static int pg_commit(cl_store_t *bs, const cl_store_batch_t *b, cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    if (writer_ready(s, err) < 0) return -1;
    pg_commit_t c = {.s = s, .err = err};
    if (pq.enterPipelineMode(s->wr) != 1) return pg_fail(s, s->wr, err, "commit: pipeline");
    if (pg_send(&c, NULL, NULL, PG_OK, "BEGIN") == 0 && pg_lease_check(&c) == 0 &&
        cl_store_batch_visit(b, &pg_puts, &c) == 0 && jobs_flush(&c) == 0 &&
        pg_audit_flush(&c) == 0 && pg_rollup_flush(&c) == 0)
        pg_send(&c, NULL, NULL, PG_OK, "COMMIT");
    bool broken = pq.status(s->wr) != CONNECTION_OK;
    if (!broken) {
        if (sync_drain(&c) < 0 && pq.status(s->wr) != CONNECTION_OK) broken = true;
        pq.exitPipelineMode(s->wr);
    }
    /* A failed statement leaves the transaction aborted after the sync: end it, so that
     * nothing of this batch stays and the next commit can begin. */
    if (!broken && pq.transactionStatus(s->wr) != PQTRANS_IDLE)
        pq.clear(pq.exec(s->wr, "ROLLBACK"));
    free(c.sent);
    free(c.jobs);
    free(c.aud);
    free(c.arr);
    if (c.lease_lost) { /* another controller leads: this one can never commit again */
        pg_lease_mark_lost(s, err->msg);
        s->base.broken = true;
    }
    if (c.failed) return -1;
    s->base.pruned_jobs += c.pruned_jobs;
    s->base.pruned_usage += c.pruned_usage;
    s->base.pruned_audit += c.pruned_audit;
    if (c.pruned) s->base.prune_more = c.prune_more;
    return 0;
}

/* ---- reads (the reader, loop thread) ---- */

/* jf for each row of r (JOB_COLS); 1 when it stopped. */
static int emit_jobs(const PGresult *r, cl_store_job_f *jf, void *arg)
{
    for (int row = 0; row < pq.ntuples(r); row++) {
        cl_store_job_t j = {0};
        int i = 0;
        j.id = (uint64_t)pg_i64(r, row, i++);
        j.state = (int)pg_i64(r, row, i++);
        j.name = pg_str(r, row, i++);
        j.tenant = pg_str(r, row, i++);
        j.cwd = pg_str(r, row, i++);
        j.reason = pg_str(r, row, i++);
        j.nodes = (uint32_t)pg_i64(r, row, i++);
        j.gpus_per_node = (uint32_t)pg_i64(r, row, i++);
        j.max_restarts = (uint32_t)pg_i64(r, row, i++);
        j.time_limit_s = pg_f64(r, row, i++);
        j.priority = (int32_t)pg_i64(r, row, i++);
        j.restarts = (uint32_t)pg_i64(r, row, i++);
        j.incarnation = (uint32_t)pg_i64(r, row, i++);
        j.exit_code = (int32_t)pg_i64(r, row, i++);
        j.has_exit = pg_bool(r, row, i++);
        j.submit_time = pg_f64(r, row, i++);
        j.start_time = pg_f64(r, row, i++);
        j.end_time = pg_f64(r, row, i++);
        j.alloc = pg_str(r, row, i++);
        const char **argv =
            cl__strs_split(pq.getvalue(r, row, i), (size_t)pq.getlength(r, row, i), &j.argc);
        i++;
        const char **env =
            cl__strs_split(pq.getvalue(r, row, i), (size_t)pq.getlength(r, row, i), &j.envc);
        i++;
        j.argv = argv;
        j.env = env;
        j.running_time = pg_f64(r, row, i++);
        j.user = pg_str(r, row, i++);
        j.uid = (uint32_t)pg_i64(r, row, i++);
        j.gid = (uint32_t)pg_i64(r, row, i++);
        j.gpu_s = pg_f64(r, row, i++);
        j.energy_j = pg_f64(r, row, i++);
        j.flops = pg_f64(r, row, i++);
        j.ntasks = (uint32_t)pg_i64(r, row, i++);
        j.cwd_strict = pg_bool(r, row, i++);
        j.output = pg_str(r, row, i++);
        j.error = pg_str(r, row, i++);
        j.dependency = pg_str(r, row, i++);
        j.held = pg_bool(r, row, i++);
        j.array_id = (uint64_t)pg_i64(r, row, i++);
        j.array_task = (uint32_t)pg_i64(r, row, i++);
        j.array = pg_str(r, row, i++);
        j.ended = pg_str(r, row, i++);
        j.exclusive = pg_bool(r, row, i++);
        j.nodelist = pg_str(r, row, i++);
        j.exclude = pg_str(r, row, i++);
        j.cpus_per_gpu = (uint32_t)pg_i64(r, row, i++);
        j.mem_per_gpu_mb = (uint64_t)pg_i64(r, row, i++);
        int stop = jf(&j, arg);
        free(argv);
        free(env);
        if (stop) return 1;
    }
    return 0;
}

static int load_nodes(pg_store_t *s, cl_store_node_f *nf, void *arg, cl_error_t *err)
{
    PGresult *r = pg_read(s, "SELECT id,name,drained,reason FROM nodes ORDER BY id", NULL,
                          "load nodes", err);
    if (!r) return -1;
    int stop = 0;
    for (int row = 0; row < pq.ntuples(r) && !stop; row++) {
        cl_store_node_t n = {.id = (uint32_t)pg_i64(r, row, 0),
                             .name = pg_str(r, row, 1),
                             .drained = pg_bool(r, row, 2),
                             .reason = pg_str(r, row, 3)};
        stop = nf(&n, arg) != 0;
    }
    pq.clear(r);
    return stop;
}

/* The jobs through a cursor, PG_FETCH rows at a time: a journal of 1,000,000 jobs is never
 * one result in memory, and jf may read the store between fetches. */
static int load_jobs(pg_store_t *s, double finished_since, cl_store_job_f *jf, void *arg,
                     cl_error_t *err)
{
    char cur[32], sql[1024];
    snprintf(cur, sizeof cur, "cl_load_%" PRIu32, s->cursors++);
    pg_params_t p = {.n = 0};
    if (finished_since > 0) {
        /* two ranges of the partial indexes: the live jobs, the recently finished */
        snprintf(sql, sizeof sql,
                 "DECLARE %s NO SCROLL CURSOR FOR SELECT " JOB_COLS
                 " FROM (SELECT * FROM jobs WHERE state NOT IN " PG_FINISHED
                 " UNION ALL SELECT * FROM jobs WHERE state IN " PG_FINISHED
                 " AND end_time >= $1::float8) j ORDER BY id",
                 cur);
        pg_p_f64(&p, finished_since);
    } else
        snprintf(sql, sizeof sql,
                 "DECLARE %s NO SCROLL CURSOR FOR SELECT " JOB_COLS " FROM jobs ORDER BY id",
                 cur);
    PGresult *r = pg_read(s, sql, &p, "load jobs", err);
    if (!r) return -1;
    pq.clear(r);
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM %s", PG_FETCH, cur);
    int stop = 0;
    while (!stop) {
        if (!(r = pg_read(s, fetch, NULL, "load jobs", err))) return -1;
        int rows = pq.ntuples(r);
        stop = emit_jobs(r, jf, arg);
        pq.clear(r);
        if (rows < PG_FETCH) break;
    }
    snprintf(sql, sizeof sql, "CLOSE %s", cur);
    if (!(r = pg_read(s, sql, NULL, "load jobs", err))) return -1;
    pq.clear(r);
    return stop;
}

/* One read transaction for both tables: nodes and jobs from the same committed state. */
static int pg_load(cl_store_t *bs, double finished_since, cl_store_job_f *jf,
                   cl_store_node_f *nf, void *arg, cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    PGresult *r =
        pg_read(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, "load", err);
    if (!r) return -1;
    pq.clear(r);
    int stop = nf ? load_nodes(s, nf, arg, err) : 0;
    if (jf && !stop) stop = load_jobs(s, finished_since, jf, arg, err);
    pq.clear(pq.exec(s->rd, stop < 0 ? "ROLLBACK" : "COMMIT")); /* ends a read */
    return stop < 0 ? -1 : 0;
}

static int pg_job_get(cl_store_t *bs, uint64_t id, cl_store_job_f *jf, void *arg,
                      cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    pg_params_t p = {.n = 0};
    pg_p_i64(&p, (int64_t)id);
    PGresult *r =
        pg_read(s, "SELECT " JOB_COLS " FROM jobs WHERE id=$1::int8", &p, "get job", err);
    if (!r) return -1;
    int found = pq.ntuples(r) > 0;
    emit_jobs(r, jf, arg);
    pq.clear(r);
    return found;
}

/* The highest id in jobs (one descent of its key) or the highest a prune may have deleted. */
static int pg_job_id_max(cl_store_t *bs, uint64_t *id, cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    PGresult *r = pg_read(s,
                          "SELECT COALESCE(GREATEST((SELECT max(id) FROM jobs),"
                          " (SELECT v FROM meta WHERE k='" PG_ID_FLOOR "')), 0)::int8",
                          NULL, "job id max", err);
    if (!r) return -1;
    *id = (uint64_t)pg_i64(r, 0, 0);
    pq.clear(r);
    return 0;
}

static int pg_meta_get(cl_store_t *bs, const char *k, uint64_t *v, cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    pg_params_t p = {.n = 0};
    pg_p_text(&p, k);
    PGresult *r = pg_read(s, "SELECT v FROM meta WHERE k=$1", &p, "meta get", err);
    if (!r) return -1;
    int found = pq.ntuples(r) > 0;
    if (found) *v = (uint64_t)pg_i64(r, 0, 0);
    pq.clear(r);
    return found;
}

static void pg_close(cl_store_t *bs)
{
    pg_store_t *s = (pg_store_t *)bs;
    pg_lease_release(s);
    pq.finish(s->wr);
    pq.finish(s->rd);
    free(s->url);
    free(s);
}

static const cl_store_ops_t pg_ops = {
    .name = "postgresql",
    .commit = pg_commit,
    .load = pg_load,
    .job_get = pg_job_get,
    .job_id_max = pg_job_id_max,
    .meta_get = pg_meta_get,
    .objs_load = pg_objs_load,
    .history = pg_history,
    .usage = pg_usage,
    .audit = pg_audit,
    .close = pg_close,
    .lead = pg_lease_lead,
    .lost = pg_lease_lost,
    .fresh = pg_lease_fresh,
};

/* ---- open ---- */

static void quiet(void *arg, const char *message) {}

PGconn *pg_connect(pg_store_t *s, cl_error_t *err)
{
    /* a host that does not answer fails in 10 s unless the URL says otherwise (the URL's
     * connect_timeout comes after, so it wins) */
    const char *kw[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *val[] = {"10", "colossus", s->url, NULL};
    PGconn *db = pq.connectdbParams(kw, val, 1);
    if (pq.status(db) != CONNECTION_OK) {
        char m[200];
        one_line(db ? pq.errorMessage(db) : "out of memory", m, sizeof m);
        cl_err(err, "store: cannot connect to %.100s: %s", s->shown, m);
        pq.finish(db);
        return NULL;
    }
    pq.setNoticeProcessor(db, quiet, NULL); /* "already exists, skipping" and the like */
    return db;
}

cl_store_t *cl_store_open_pg(const char *url, bool sync_full, cl_error_t *err)
{
    if (cl_pq_load(err) < 0) return NULL;
    char shown[256];
    cl_store_url_shown(url, shown, sizeof shown);
    char *perr = NULL;
    PQconninfoOption *opts = pq.conninfoParse(url, &perr);
    if (!opts) {
        char m[160];
        one_line(perr ? perr : "out of memory", m, sizeof m);
        pq.freemem(perr);
        cl_err(err, "store: '%.80s' is not a PostgreSQL URL: %s", shown, m);
        return NULL;
    }
    pq.conninfoFree(opts);
    pg_store_t *s = cl_xcalloc(1, sizeof *s);
    s->base.ops = &pg_ops;
    memcpy(s->shown, shown, sizeof shown);
    s->url = cl_xmalloc(strlen(url) + 1);
    memcpy(s->url, url, strlen(url) + 1);
    s->sync_full = sync_full;
    if (!(s->wr = pg_connect(s, err)) || migrate(s, err) < 0 || writer_setup(s, err) < 0 ||
        !(s->rd = pg_connect(s, err))) {
        pg_close(&s->base);
        return NULL;
    }
    return &s->base;
}
