/* sqlite.c - the SQLite (WAL) journal backend: one write transaction per group commit; open,
 * schema and its migrations, jobs, nodes and meta (the accounting half: sqlite_acct.c, the
 * audit log: sqlite_audit.c).
 *
 * Threads: two connections to DIR/colossus.db. The writer belongs to commit() (after open),
 * which may run on a worker thread (the committer's); the reader serves load(), job_get(),
 * meta_get() and the queries on the loop thread. In WAL mode the reader sees the last committed
 * state while a write transaction runs, and neither waits for the other. Each connection is
 * used by one thread at a time, so they are opened without SQLite's per-connection mutex
 * (SQLITE_OPEN_NOMUTEX); whoever hands the writer to another thread (the committer, under its
 * mutex) orders the memory. close() must not run while a commit does. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlite_int.h"
#include "store/store_int.h"
#include "util/util.h"

_Static_assert(CL_JOB_SUCCEEDED == 2 && CL_JOB_FAILED == 3 && CL_JOB_CANCELLED == 4,
               "SQ_FINISHED lists the finished states by number");
_Static_assert(offsetof(sq_store_t, id_floor_put) + sizeof(sqlite3_stmt *) ==
                   offsetof(sq_store_t, wr_all) + sizeof(((sq_store_t *)0)->wr_all),
               "wr_all covers every writer statement, the last one included");

int sq_fail(sqlite3 *db, cl_error_t *err, const char *what)
{
    return cl_err(err, "store: %s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

const char *sq_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

int sq_read_prepare(sq_store_t *s, const char *sql, sqlite3_stmt **st, const char *what,
                    cl_error_t *err)
{
    if (sqlite3_prepare_v2(s->rd, sql, -1, st, NULL) == SQLITE_OK) return 0;
    *st = NULL;
    return sq_fail(s->rd, err, what);
}

int sq_prepare_writer(sq_store_t *s, const sq_sql_t *v, size_t n, cl_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (sqlite3_prepare_v2(s->wr, v[i].sql, -1,
                               (sqlite3_stmt **)(void *)((char *)s + v[i].off),
                               NULL) != SQLITE_OK)
            return cl_err(err, "store: %.150s: %.90s", s->path, sqlite3_errmsg(s->wr));
    return 0;
}

void sq_count_scans(sq_store_t *s, sqlite3_stmt *st)
{
    s->wr_fullscans += (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
}

void sq_read_finalize(sq_store_t *s, sqlite3_stmt *st)
{
    if (st)
        s->fullscans += (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    sqlite3_finalize(st);
}

/* NUL-separated strings as one blob, at *at (advanced). */
static size_t strs_size(const char *const *v, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    return total;
}

static char *strs_join(char **at, const char *const *v, size_t n)
{
    char *start = *at;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]) + 1;
        memcpy(*at, v[i], l);
        *at += l;
    }
    return start;
}

/* ---- commit (the writer) ---- */

int sq_put_step(sq_commit_t *c, sqlite3_stmt *st, const char *fmt, ...)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) { /* the record's name only now: most records are written */
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        cl_err(c->err, "store: commit: %s: %s", what, sqlite3_errmsg(c->s->wr));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Into jobs, out of jobs_done, whatever its state: a job that finishes stays in jobs (one
 * row rewritten, where a move was a row out, a row and an index entry in) until a commit
 * moves SQ_RECENT_MAX finished jobs at once into jobs_done (sq_done_move), where they fill a
 * few pages of the table and its index. A batch of many jobs (a load) puts its finished
 * ones into jobs_done itself. */
static int put_job(void *arg, const cl_store_job_t *j)
{
    sq_commit_t *c = arg;
    sq_store_t *s = c->s;
    bool fin = cl_job_finished(j->state), done = fin && c->jobs_direct;
    sqlite3_stmt *st = done ? s->job_done_put : s->job_put,
                 *del = done ? s->job_del : s->job_done_del;
    size_t alen = strs_size(j->argv, j->argc), elen = strs_size(j->env, j->envc);
    if (alen + elen + 1 > s->blob_cap) {
        s->blob_cap = (alen + elen + 1) * 2;
        s->blob = cl_xrealloc(s->blob, s->blob_cap);
    }
    char *at = s->blob, *argv = strs_join(&at, j->argv, j->argc);
    char *env = strs_join(&at, j->env, j->envc);
    int i = 1;
    sqlite3_bind_int64(st, i++, (sqlite3_int64)j->id);
    sqlite3_bind_int(st, i++, j->state);
    sq_bind_str(st, i++, j->name);
    sq_bind_str(st, i++, j->tenant);
    sq_bind_str(st, i++, j->cwd);
    sq_bind_str(st, i++, j->reason);
    sqlite3_bind_int64(st, i++, j->nodes);
    sqlite3_bind_int64(st, i++, j->gpus_per_node);
    sqlite3_bind_int64(st, i++, j->max_restarts);
    sqlite3_bind_double(st, i++, j->time_limit_s);
    sqlite3_bind_int64(st, i++, j->priority);
    sqlite3_bind_int64(st, i++, j->restarts);
    sqlite3_bind_int64(st, i++, j->incarnation);
    sqlite3_bind_int64(st, i++, j->exit_code);
    sqlite3_bind_int(st, i++, j->has_exit);
    sqlite3_bind_double(st, i++, j->submit_time);
    sqlite3_bind_double(st, i++, j->start_time);
    sqlite3_bind_double(st, i++, j->end_time);
    sq_bind_str(st, i++, j->alloc);
    sqlite3_bind_blob(st, i++, argv, (int)alen, SQLITE_STATIC);
    sqlite3_bind_blob(st, i++, env, (int)elen, SQLITE_STATIC);
    sqlite3_bind_double(st, i++, j->running_time);
    sq_bind_str(st, i++, j->user);
    sqlite3_bind_int64(st, i++, j->uid);
    sqlite3_bind_int64(st, i++, j->gid);
    sqlite3_bind_double(st, i++, j->gpu_s);
    sqlite3_bind_double(st, i++, j->energy_j);
    sqlite3_bind_double(st, i++, j->flops);
    sqlite3_bind_int64(st, i++, j->ntasks);
    sqlite3_bind_int(st, i++, j->cwd_strict);
    sq_bind_str(st, i++, j->output);
    sq_bind_str(st, i++, j->error);
    sq_bind_str(st, i++, j->dependency);
    sqlite3_bind_int(st, i++, j->held);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)j->array_id);
    sqlite3_bind_int64(st, i++, j->array_task);
    sq_bind_str(st, i++, j->array);
    sq_bind_str(st, i++, j->ended);
    sqlite3_bind_int(st, i++, j->exclusive);
    sq_bind_str(st, i++, j->nodelist);
    sq_bind_str(st, i++, j->exclude);
    sqlite3_bind_int64(st, i++, j->cpus_per_gpu);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)j->mem_per_gpu_mb);
    if (sq_put_step(c, st, "job %" PRIu64, j->id) < 0) return -1;
    if (fin && !done) s->done_n++;
    if (done && j->id > s->done_id_max) s->done_id_max = j->id;
    /* A job put into jobs above every id in jobs_done (a submission) is in no other table. */
    if (!done && j->id > s->done_id_max) return 0;
    sqlite3_bind_int64(del, 1, (sqlite3_int64)j->id);
    return sq_put_step(c, del, "job %" PRIu64 " (out of the other table)", j->id);
}

int sq_done_move(sq_commit_t *c, bool force)
{
    sq_store_t *s = c->s;
    if (!s->done_n || (!force && s->done_n < SQ_RECENT_MAX)) return 0;
    if (sq_put_step(c, s->done_move, "the finished jobs' move") < 0 ||
        sq_put_step(c, s->done_clear, "the finished jobs' move (delete)") < 0)
        return -1;
    int rc = sqlite3_step(s->done_max);
    uint64_t max = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s->done_max, 0) : 0;
    sqlite3_reset(s->done_max);
    if (rc != SQLITE_ROW) return sq_fail(s->wr, c->err, "commit: the finished jobs' move");
    if (max > s->done_id_max) s->done_id_max = max;
    s->done_n = 0;
    return 0;
}

static int put_node(void *arg, const cl_store_node_t *n)
{
    sq_commit_t *c = arg;
    sqlite3_stmt *st = c->s->node_put;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->name, -1, SQLITE_STATIC); /* NOT NULL: a nameless node fails */
    sqlite3_bind_int(st, 3, n->drained);
    sq_bind_str(st, 4, n->reason);
    return sq_put_step(c, st, "node %" PRIu32, n->id);
}

static int put_meta(void *arg, const char *k, uint64_t v)
{
    sq_commit_t *c = arg;
    sqlite3_stmt *st = c->s->meta_put;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)v);
    return sq_put_step(c, st, "meta %.80s", k);
}

static const cl_store_visit_t sq_puts = {.job = put_job,
                                         .node = put_node,
                                         .meta = put_meta,
                                         .obj = sq_put_obj,
                                         .usage = sq_put_usage,
                                         .audit = sq_put_audit,
                                         .prune = sq_prune};

/* What was committed survives the loss of the journal's files, as far as it can: the writer
 * still holds them open. With the database file intact, the WAL (deleted or replaced: the
 * open one is still readable) is checkpointed into it, so a restart finds every committed
 * change; with the database file itself gone, the whole journal is copied to a new file
 * beside it (the backup API reads through the open connection). Says where in err. */
static void sq_rescue(sq_store_t *s, bool db_intact, char *where, size_t len)
{
    if (db_intact) {
        int logged = 0, ckpt = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->wr, NULL, SQLITE_CHECKPOINT_FULL, &logged, &ckpt);
        if (rc == SQLITE_OK)
            snprintf(where, len, "its %d pages were checkpointed into colossus.db", ckpt);
        else
            snprintf(where, len, "checkpointing it into colossus.db failed: %.80s",
                     sqlite3_errmsg(s->wr));
        return;
    }
    char to[4200];
    snprintf(to, sizeof to, "%s.rescued-%ld", s->path, (long)getpid());
    sqlite3 *dst = NULL;
    int rc = sqlite3_open(to, &dst);
    sqlite3_backup *b =
        rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", s->wr, "main") : NULL;
    if (b) {
        sqlite3_backup_step(b, -1);
        rc = sqlite3_backup_finish(b);
    }
    sqlite3_close(dst);
    const char *base = strrchr(to, '/') ? strrchr(to, '/') + 1 : to;
    snprintf(where, len,
             b && rc == SQLITE_OK ? "the journal was copied to %.60s beside it: put it back "
                                    "as colossus.db to restart"
                                  : "copying the journal to %.60s failed",
             base);
}

/* After a commit: the database, its WAL and its shared-memory index are still the files that
 * were opened (the WAL and the index exist while a connection is open in WAL mode). When one
 * was deleted or replaced, the commit went to a file nobody will read again: the store is
 * broken for good and says so (issue 10: a deleted -wal lost every acknowledged job), after
 * saving what it can (sq_rescue). */
static int sq_files_check(sq_store_t *s, cl_error_t *err)
{
    for (int i = 0; i < 3; i++) {
        sq_file_t *f = &s->files[i];
        char p[4200];
        snprintf(p, sizeof p, "%s%s", s->path, f->suffix);
        struct stat st;
        int gone = stat(p, &st) < 0;
        if (gone || (f->known && (st.st_dev != f->dev || st.st_ino != f->ino))) {
            s->base.broken = true;
            char where[400];
            sq_rescue(s, i > 0, where, sizeof where);
            return cl_err(err,
                          "store: fatal: %.90s was %s under the controller: nothing more is "
                          "acknowledged; %s",
                          p, gone ? "deleted" : "replaced", where);
        }
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->known = true;
    }
    return 0;
}

/* The moves read their small tables whole, by design: not counted as full scans. */
static bool whole_reads(const sq_store_t *s, const sqlite3_stmt *st)
{
    return st == s->recent_move || st == s->recent_rollup || st == s->done_move ||
           st == s->done_clear;
}

static int sq_commit(cl_store_t *bs, const cl_store_batch_t *b, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (s->base.broken) return cl_err(err, "store: fatal: the journal's files were replaced");
    if (sqlite3_exec(s->wr, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s->wr, err, "commit: begin");
    /* a batch of many runs or jobs (a load) writes them where they stay */
    sq_commit_t c = {.s = s,
                     .err = err,
                     .usage_direct = cl_store_batch_runs(b) >= SQ_RECENT_MAX,
                     .jobs_direct = cl_store_batch_jobs(b) >= SQ_RECENT_MAX};
    int rc = cl_store_batch_visit(b, &sq_puts, &c);
    if (rc == 0) rc = sq_audit_flush(&c); /* the last audit group, unless a prune wrote it */
    if (rc == 0) rc = sq_rollup_flush(&c);
    if (rc == 0) rc = sq_recent_move(&c, false);
    if (rc == 0) rc = sq_done_move(&c, false);
    for (size_t i = 0; i < sizeof s->wr_all / sizeof s->wr_all[0]; i++)
        if (!whole_reads(s, s->wr_all[i]))
            sq_count_scans(s, s->wr_all[i]);
        else
            sqlite3_stmt_status(s->wr_all[i], SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    if (rc == 0) {
        if (sqlite3_exec(s->wr, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
            s->base.pruned_jobs += c.pruned_jobs;
            s->base.pruned_usage += c.pruned_usage;
            s->base.pruned_audit += c.pruned_audit;
            if (c.pruned) s->base.prune_more = c.prune_more;
            return sq_files_check(s, err);
        }
        sq_fail(s->wr, err, "commit");
    }
    /* A failed COMMIT may leave the transaction open (SQLITE_BUSY): end it either way, so that
     * nothing of this batch stays and the next commit can begin (and moves the recent runs
     * and finished jobs, however many the rollback left). */
    if (!sqlite3_get_autocommit(s->wr)) sqlite3_exec(s->wr, "ROLLBACK", NULL, NULL, NULL);
    s->recent_n = s->done_n = SQ_RECENT_MAX;
    return -1;
}

/* ---- reads (the reader, loop thread) ---- */

/* Live jobs (pending, running) are in jobs, finished ones in jobs_done: a submission or a
 * start writes one row of a table without a secondary index, and only an end also writes the
 * jobs_done_end index (prunes and a start's recent finished jobs). One index over every job's
 * state would take an entry out and put one in at each change of state (issue 11's
 * jobs_state_end cost a tenth of the acknowledged submissions a second). */
#define JOB_COLS                                                                               \
    "id,state,name,tenant,cwd,reason,nodes,gpus_per_node,max_restarts,time_limit_s,"           \
    "priority,restarts,incarnation,exit_code,has_exit,submit_time,start_time,end_time,alloc,"  \
    "argv,env,running_time,user,uid,gid,gpu_s,energy_j,flops,ntasks,cwd_strict,output,error,"  \
    "dependency,held,array_id,array_task,array,ended,exclusive,nodelist,exclude,cpus_per_gpu," \
    "mem_per_gpu_mb"
#define JOB_SELECT(table) "SELECT " JOB_COLS " FROM " table
#define JOB_VALUES                                                                             \
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?" \
    ",?,?)"

static void job_row(sqlite3_stmt *st, cl_store_job_t *j)
{
    int i = 0;
    j->id = (uint64_t)sqlite3_column_int64(st, i++);
    j->state = sqlite3_column_int(st, i++);
    j->name = sq_text(st, i++);
    j->tenant = sq_text(st, i++);
    j->cwd = sq_text(st, i++);
    j->reason = sq_text(st, i++);
    j->nodes = (uint32_t)sqlite3_column_int64(st, i++);
    j->gpus_per_node = (uint32_t)sqlite3_column_int64(st, i++);
    j->max_restarts = (uint32_t)sqlite3_column_int64(st, i++);
    j->time_limit_s = sqlite3_column_double(st, i++);
    j->priority = (int32_t)sqlite3_column_int64(st, i++);
    j->restarts = (uint32_t)sqlite3_column_int64(st, i++);
    j->incarnation = (uint32_t)sqlite3_column_int64(st, i++);
    j->exit_code = (int32_t)sqlite3_column_int64(st, i++);
    j->has_exit = sqlite3_column_int(st, i++) != 0;
    j->submit_time = sqlite3_column_double(st, i++);
    j->start_time = sqlite3_column_double(st, i++);
    j->end_time = sqlite3_column_double(st, i++);
    j->alloc = sq_text(st, i++);
    const char *a = sqlite3_column_blob(st, i);
    size_t alen = (size_t)sqlite3_column_bytes(st, i++);
    const char *e = sqlite3_column_blob(st, i);
    size_t elen = (size_t)sqlite3_column_bytes(st, i++);
    j->running_time = sqlite3_column_double(st, i++);
    j->user = sq_text(st, i++);
    j->uid = (uint32_t)sqlite3_column_int64(st, i++);
    j->gid = (uint32_t)sqlite3_column_int64(st, i++);
    j->gpu_s = sqlite3_column_double(st, i++);
    j->energy_j = sqlite3_column_double(st, i++);
    j->flops = sqlite3_column_double(st, i++);
    j->ntasks = (uint32_t)sqlite3_column_int64(st, i++);
    j->cwd_strict = sqlite3_column_int(st, i++) != 0;
    j->output = sq_text(st, i++);
    j->error = sq_text(st, i++);
    j->dependency = sq_text(st, i++);
    j->held = sqlite3_column_int(st, i++) != 0;
    j->array_id = (uint64_t)sqlite3_column_int64(st, i++);
    j->array_task = (uint32_t)sqlite3_column_int64(st, i++);
    j->array = sq_text(st, i++);
    j->ended = sq_text(st, i++);
    j->exclusive = sqlite3_column_int(st, i++) != 0;
    j->nodelist = sq_text(st, i++);
    j->exclude = sq_text(st, i++);
    j->cpus_per_gpu = (uint32_t)sqlite3_column_int64(st, i++);
    j->mem_per_gpu_mb = (uint64_t)sqlite3_column_int64(st, i++);
    j->argv = cl__strs_split(a ? a : "", a ? alen : 0, &j->argc);
    j->env = cl__strs_split(e ? e : "", e ? elen : 0, &j->envc);
}

/* Call jf for each row of a and b (JOB_SELECTs, each in id order; b may be NULL), merged in
 * id order, until it returns non-zero. Returns the number of rows given to jf, or -1. */
static int emit_jobs(sq_store_t *s, sqlite3_stmt *a, sqlite3_stmt *b, cl_store_job_f *jf,
                     void *arg, cl_error_t *err)
{
    int stop = 0, rows = 0;
    int ra = sqlite3_step(a), rb = b ? sqlite3_step(b) : SQLITE_DONE;
    while (!stop && (ra == SQLITE_ROW || rb == SQLITE_ROW)) {
        bool from_a = ra == SQLITE_ROW && (rb != SQLITE_ROW || sqlite3_column_int64(a, 0) <=
                                                                   sqlite3_column_int64(b, 0));
        sqlite3_stmt *st = from_a ? a : b;
        cl_store_job_t j = {0};
        job_row(st, &j);
        stop = jf(&j, arg) != 0;
        rows++;
        free((void *)j.argv);
        free((void *)j.env);
        if (from_a)
            ra = sqlite3_step(a);
        else
            rb = sqlite3_step(b);
    }
    if (!stop &&
        ((ra != SQLITE_ROW && ra != SQLITE_DONE) || (rb != SQLITE_ROW && rb != SQLITE_DONE)))
        return sq_fail(s->rd, err, "read jobs");
    return rows;
}

static int load_nodes(sq_store_t *s, cl_store_node_f *nf, void *arg, cl_error_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sq_read_prepare(s, "SELECT id,name,drained,reason FROM nodes ORDER BY id", &st,
                        "load nodes", err) < 0)
        return -1;
    int stop = 0, rc;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cl_store_node_t n = {.id = (uint32_t)sqlite3_column_int64(st, 0),
                             .name = sq_text(st, 1),
                             .drained = sqlite3_column_int(st, 2) != 0,
                             .reason = sq_text(st, 3)};
        stop = nf(&n, arg) != 0;
    }
    if (!stop && rc != SQLITE_DONE) stop = sq_fail(s->rd, err, "load nodes");
    sq_read_finalize(s, st);
    return stop;
}

/* A start's jobs: the live table whole, and the finished jobs that ended at or after ?1, a
 * range of the jobs_done_end index (without it a start reads every row of a journal of
 * millions) sorted by id. "+id": ordering by the rowid itself would make SQLite prefer a full
 * scan in rowid order to the index range and one sort of the few rows it gives. Two
 * statements merged (emit_jobs): SQLite merges a UNION ALL by scanning both in id order. */
#define JOB_DONE_SINCE JOB_SELECT("jobs_done") " WHERE end_time >= ? ORDER BY +id"
/* jobs: the live ones and the finished ones not yet moved (fewer than SQ_RECENT_MAX) */
#define JOB_LIVE_SINCE                                                                         \
    JOB_SELECT("jobs") " WHERE state NOT IN " SQ_FINISHED " OR end_time >= ? ORDER BY id"

/* One read transaction for both tables: nodes and jobs from the same committed state. */
static int sq_load(cl_store_t *bs, double finished_since, cl_store_job_f *jf,
                   cl_store_node_f *nf, void *arg, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (sqlite3_exec(s->rd, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s->rd, err, "load");
    int stop = nf ? load_nodes(s, nf, arg, err) : 0;
    if (jf && !stop) {
        sqlite3_stmt *live = NULL, *done = NULL;
        bool all = !(finished_since > 0);
        if (sq_read_prepare(s, all ? JOB_SELECT("jobs") " ORDER BY id" : JOB_LIVE_SINCE, &live,
                            "load jobs", err) < 0 ||
            sq_read_prepare(s, all ? JOB_SELECT("jobs_done") " ORDER BY id" : JOB_DONE_SINCE,
                            &done, "load finished jobs", err) < 0)
            stop = -1;
        else {
            if (!all) sqlite3_bind_double(done, 1, finished_since);
            if (!all) sqlite3_bind_double(live, 1, finished_since);
            stop = emit_jobs(s, live, done, jf, arg, err) < 0 ? -1 : 0;
        }
        sq_read_finalize(s, live);
        sq_read_finalize(s, done);
    }
    sqlite3_exec(s->rd, "COMMIT", NULL, NULL, NULL); /* ends a read: nothing to lose */
    return stop < 0 ? -1 : 0;
}

/* One job by id (a finished job the controller no longer holds in memory). Prepared each
 * time, so that jf may read the store again. */
static int sq_job_get(cl_store_t *bs, uint64_t id, cl_store_job_f *jf, void *arg,
                      cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_stmt *st;
    if (sq_read_prepare(s,
                        JOB_SELECT("jobs") " WHERE id=?1 UNION ALL " JOB_SELECT(
                            "jobs_done") " WHERE id=?1 LIMIT 1",
                        &st, "get job", err) < 0)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int rc = emit_jobs(s, st, NULL, jf, arg, err);
    sq_read_finalize(s, st);
    return rc < 0 ? -1 : rc > 0;
}

/* The highest id in either table (its rowid: one B-tree descent each) or the highest a prune
 * may have deleted, whichever is higher. */
static int sq_job_id_max(cl_store_t *bs, uint64_t *id, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_stmt *st;
    if (sq_read_prepare(s,
                        "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM jobs UNION ALL "
                        "SELECT MAX(id) FROM jobs_done UNION ALL "
                        "SELECT v FROM meta WHERE k='" SQ_ID_FLOOR "')",
                        &st, "job id max", err) < 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *id = (uint64_t)sqlite3_column_int64(st, 0); /* NULL reads as 0 */
    sq_read_finalize(s, st);
    return rc == SQLITE_ROW ? 0 : sq_fail(s->rd, err, "job id max");
}

static int sq_meta_get(cl_store_t *bs, const char *k, uint64_t *v, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_bind_text(s->meta_get, 1, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->meta_get), found = 0;
    if (rc == SQLITE_ROW) {
        *v = (uint64_t)sqlite3_column_int64(s->meta_get, 0);
        found = 1;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) found = sq_fail(s->rd, err, "meta get");
    sqlite3_reset(s->meta_get); /* ends its read: the next get sees later commits */
    return found;
}

static void sq_close(cl_store_t *bs)
{
    sq_store_t *s = (sq_store_t *)bs;
    for (size_t i = 0; i < sizeof s->wr_all / sizeof s->wr_all[0]; i++)
        sqlite3_finalize(s->wr_all[i]);
    sqlite3_finalize(s->meta_get);
    sqlite3_close(s->rd);
    sqlite3_close(s->wr);
    free(s->blob);
    free(s->aud);
    free(s);
}

static const cl_store_ops_t sq_ops = {
    .name = "sqlite",
    .commit = sq_commit,
    .load = sq_load,
    .job_get = sq_job_get,
    .job_id_max = sq_job_id_max,
    .meta_get = sq_meta_get,
    .objs_load = sq_objs_load,
    .history = sq_history,
    .usage = sq_usage,
    .audit = sq_audit,
    .close = sq_close,
};

uint64_t cl_store_sqlite_fullscan_steps(cl_store_t *s, bool commits)
{
    cl_assert(s->ops == &sq_ops);
    return commits ? ((sq_store_t *)s)->wr_fullscans : ((sq_store_t *)s)->fullscans;
}

#define JOB_TABLE_COLS                                                                         \
    "(id INTEGER PRIMARY KEY, state INTEGER NOT NULL,"                                         \
    " name TEXT, tenant TEXT, cwd TEXT, reason TEXT, nodes INTEGER, gpus_per_node INTEGER,"    \
    " max_restarts INTEGER, time_limit_s REAL, priority INTEGER, restarts INTEGER,"            \
    " incarnation INTEGER, exit_code INTEGER, has_exit INTEGER, submit_time REAL,"             \
    " start_time REAL, end_time REAL, alloc TEXT, argv BLOB, env BLOB,"                        \
    " running_time REAL NOT NULL DEFAULT 0, user TEXT NOT NULL DEFAULT '',"                    \
    " uid INTEGER NOT NULL DEFAULT 0, gid INTEGER NOT NULL DEFAULT 0,"                         \
    " gpu_s REAL NOT NULL DEFAULT 0, energy_j REAL NOT NULL DEFAULT 0,"                        \
    " flops REAL NOT NULL DEFAULT 0, ntasks INTEGER NOT NULL DEFAULT 0,"                       \
    " cwd_strict INTEGER NOT NULL DEFAULT 0, output TEXT NOT NULL DEFAULT '',"                 \
    " error TEXT NOT NULL DEFAULT '', dependency TEXT NOT NULL DEFAULT '',"                    \
    " held INTEGER NOT NULL DEFAULT 0, array_id INTEGER NOT NULL DEFAULT 0,"                   \
    " array_task INTEGER NOT NULL DEFAULT 0, array TEXT NOT NULL DEFAULT '',"                  \
    " ended TEXT NOT NULL DEFAULT '', exclusive INTEGER NOT NULL DEFAULT 0,"                   \
    " nodelist TEXT NOT NULL DEFAULT '', exclude TEXT NOT NULL DEFAULT '',"                    \
    " cpus_per_gpu INTEGER NOT NULL DEFAULT 0, mem_per_gpu_mb INTEGER NOT NULL DEFAULT 0)"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs" JOB_TABLE_COLS ";"
    "CREATE TABLE IF NOT EXISTS nodes(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " drained INTEGER, reason TEXT);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);";

/* The finished jobs' table (see JOB_COLS), and the move of a journal's finished jobs into it
 * where they were in jobs (any journal made before: issue 11's first form indexed them there
 * with jobs_state_end). One transaction: a crash leaves the journal as it was. */
static const char jobs_done_schema[] = "CREATE TABLE IF NOT EXISTS jobs_done" JOB_TABLE_COLS ";"
                                       "CREATE INDEX IF NOT EXISTS jobs_done_end"
                                       " ON jobs_done(end_time);";
static const char jobs_done_move[] = "BEGIN IMMEDIATE;"
                                     "INSERT INTO jobs_done(" JOB_COLS ") SELECT " JOB_COLS
                                     " FROM jobs WHERE state IN " SQ_FINISHED ";"
                                     "DELETE FROM jobs WHERE state IN " SQ_FINISHED ";"
                                     "DROP INDEX IF EXISTS jobs_state_end;"
                                     "COMMIT;";

/* A journal written before jobs had these columns gains them (their defaults: unknown). */
static const char *const job_added[][2] = {
    {"running_time", "REAL NOT NULL DEFAULT 0"},
    {"user", "TEXT NOT NULL DEFAULT ''"},
    {"uid", "INTEGER NOT NULL DEFAULT 0"},
    {"gid", "INTEGER NOT NULL DEFAULT 0"},
    {"gpu_s", "REAL NOT NULL DEFAULT 0"},
    {"energy_j", "REAL NOT NULL DEFAULT 0"},
    {"flops", "REAL NOT NULL DEFAULT 0"},
    {"ntasks", "INTEGER NOT NULL DEFAULT 0"},
    {"cwd_strict", "INTEGER NOT NULL DEFAULT 0"},
    {"output", "TEXT NOT NULL DEFAULT ''"},
    {"error", "TEXT NOT NULL DEFAULT ''"},
    {"dependency", "TEXT NOT NULL DEFAULT ''"},
    {"held", "INTEGER NOT NULL DEFAULT 0"},
    {"array_id", "INTEGER NOT NULL DEFAULT 0"},
    {"array_task", "INTEGER NOT NULL DEFAULT 0"},
    {"array", "TEXT NOT NULL DEFAULT ''"},
    {"ended", "TEXT NOT NULL DEFAULT ''"},
    {"exclusive", "INTEGER NOT NULL DEFAULT 0"},
    {"nodelist", "TEXT NOT NULL DEFAULT ''"},
    {"exclude", "TEXT NOT NULL DEFAULT ''"},
    {"cpus_per_gpu", "INTEGER NOT NULL DEFAULT 0"},
    {"mem_per_gpu_mb", "INTEGER NOT NULL DEFAULT 0"},
};

static int add_job_columns(sqlite3 *db, const char *table, const char **missing)
{
    for (size_t k = 0; k < sizeof job_added / sizeof job_added[0]; k++) {
        char sql[160];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT %s FROM %s LIMIT 0", job_added[k][0], table);
        int have = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
        sqlite3_finalize(st);
        if (have) continue;
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, job_added[k][0],
                 job_added[k][1]);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            *missing = job_added[k][0];
            return -1;
        }
    }
    return 0;
}

int sq_has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* jobs_done, made (and the finished jobs moved into it) when the journal has none yet. */
static int jobs_done_table(sqlite3 *db)
{
    int had = sq_has_table(db, "jobs_done");
    if (had < 0 || sqlite3_exec(db, jobs_done_schema, NULL, NULL, NULL) != SQLITE_OK) return -1;
    if (had) return 0;
    if (sqlite3_exec(db, jobs_done_move, NULL, NULL, NULL) == SQLITE_OK) {
        /* The move went through the WAL (a journal of 10,000,000 jobs: 8 GB of it): into
         * the database now, and the WAL file cut back, rather than kept at that size. */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        return 0;
    }
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int sq_connect(const char *path, int flags, sqlite3 **db, cl_error_t *err)
{
    if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        return cl_err(err, "store: cannot open %.120s: %.80s", path,
                      *db ? sqlite3_errmsg(*db) : "out of memory");
    sqlite3_busy_timeout(*db, 5000);
    return 0;
}

/* The writer: WAL (checked: without it a commit would block the reader), sync, schema. */
static int sq_writer(sq_store_t *s, const char *path, bool sync_full, cl_error_t *err)
{
    if (sq_connect(path, SQLITE_OPEN_CREATE, &s->wr, err) < 0) return -1;
    sqlite3_stmt *st = NULL;
    int wal =
        sqlite3_prepare_v2(s->wr, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW &&
        !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    if (!wal)
        return cl_err(err, "store: %.150s: cannot use WAL mode: %.80s", path,
                      sqlite3_errmsg(s->wr));
    char sync[64];
    snprintf(sync, sizeof sync, "PRAGMA synchronous=%s;", sync_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(s->wr, sync, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->wr, schema, NULL, NULL, NULL) != SQLITE_OK)
        return cl_err(err, "store: %.150s: %.90s", path, sqlite3_errmsg(s->wr));
    const char *missing = "";
    if (add_job_columns(s->wr, "jobs", &missing) < 0)
        return cl_err(err, "store: %.100s: cannot add jobs.%s: %.80s", path, missing,
                      sqlite3_errmsg(s->wr));
    if (jobs_done_table(s->wr) < 0)
        return cl_err(err, "store: %.100s: cannot make the finished jobs' table: %.80s", path,
                      sqlite3_errmsg(s->wr));
    if (add_job_columns(s->wr, "jobs_done", &missing) < 0)
        return cl_err(err, "store: %.100s: cannot add jobs_done.%s: %.80s", path, missing,
                      sqlite3_errmsg(s->wr));
    if (sqlite3_prepare_v2(s->wr, "SELECT MAX(id) FROM jobs_done", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cl_err(err, "store: %.100s: %.80s", path, sqlite3_errmsg(s->wr));
    }
    s->done_id_max = (uint64_t)sqlite3_column_int64(st, 0); /* NULL (none): 0 */
    sqlite3_finalize(st);
    if (sqlite3_exec(s->wr, sq_acct_schema, NULL, NULL, NULL) != SQLITE_OK)
        return cl_err(err, "store: %.100s: cannot add the accounting tables: %.80s", path,
                      sqlite3_errmsg(s->wr));
    static const sq_sql_t puts[] = {
        {offsetof(sq_store_t, job_put),
         "INSERT OR REPLACE INTO jobs(" JOB_COLS ") " JOB_VALUES},
        {offsetof(sq_store_t, job_done_put),
         "INSERT OR REPLACE INTO jobs_done(" JOB_COLS ") " JOB_VALUES},
        {offsetof(sq_store_t, job_del), "DELETE FROM jobs WHERE id=?"},
        {offsetof(sq_store_t, job_done_del), "DELETE FROM jobs_done WHERE id=?"},
        {offsetof(sq_store_t, node_put),
         "INSERT OR REPLACE INTO nodes(id,name,drained,reason) VALUES(?,?,?,?)"},
        {offsetof(sq_store_t, meta_put), "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)"},
        {offsetof(sq_store_t, done_move),
         "INSERT OR REPLACE INTO jobs_done(" JOB_COLS ") SELECT " JOB_COLS
         " FROM jobs WHERE state IN " SQ_FINISHED},
        {offsetof(sq_store_t, done_clear), "DELETE FROM jobs WHERE state IN " SQ_FINISHED},
        {offsetof(sq_store_t, done_max), "SELECT MAX(id) FROM jobs_done"},
    };
    if (sq_prepare_writer(s, puts, sizeof puts / sizeof puts[0], err) < 0) return -1;
    if (sq_recent_count(s) < 0 ||
        sq_count(s, "SELECT COUNT(*) FROM jobs WHERE state IN " SQ_FINISHED, &s->done_n) < 0)
        return cl_err(err, "store: %.100s: %.80s", path, sqlite3_errmsg(s->wr));
    return sq_acct_prepare(s, err);
}

/* The reader: query_only, so that a read can never take the write lock from a commit. */
static int sq_reader(sq_store_t *s, const char *path, cl_error_t *err)
{
    if (sq_connect(path, 0, &s->rd, err) < 0) return -1;
    if (sqlite3_exec(s->rd, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->rd, "SELECT v FROM meta WHERE k=?", -1, &s->meta_get, NULL) !=
            SQLITE_OK)
        return cl_err(err, "store: %.150s: %.90s", path, sqlite3_errmsg(s->rd));
    return 0;
}

cl_store_t *cl_store_open_sqlite(const char *dir, bool sync_full, cl_error_t *err)
{
    if (!sqlite3_threadsafe()) {
        cl_err(err, "store: this SQLite is built without threads (SQLITE_THREADSAFE=0)");
        return NULL;
    }
    if (cl_mkdir_p(dir, 0700) < 0) {
        cl_err(err, "store: cannot create %.150s: %.80s", dir, strerror(errno));
        return NULL;
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/colossus.db", dir) >= sizeof path) {
        cl_err(err, "store: directory name too long: %.100s...", dir);
        return NULL;
    }
    sq_store_t *s = cl_xcalloc(1, sizeof *s);
    s->base.ops = &sq_ops;
    memcpy(s->path, path, sizeof s->path);
    s->files[0].suffix = "";
    s->files[1].suffix = "-wal";
    s->files[2].suffix = "-shm";
    if (sq_writer(s, path, sync_full, err) < 0 || sq_reader(s, path, err) < 0) {
        sq_close(&s->base);
        return NULL;
    }
    return &s->base;
}
