/* sqlite.c - the SQLite (WAL) journal backend: one write transaction per group commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/store.h"

typedef struct sq_store {
    cl_store_t base;
    sqlite3 *db;
    sqlite3_stmt *job_put, *node_put, *meta_put, *meta_get;
    bool in_txn;
} sq_store_t;

static int sq_fail(sq_store_t *s, cl_error_t *err, const char *what)
{
    if (err)
        snprintf(err->msg, sizeof err->msg, "store: %s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

static int sq_begin(sq_store_t *s, cl_error_t *err)
{
    if (s->in_txn)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s, err, "begin");
    s->in_txn = true;
    return 0;
}

/* NUL-separated strings as one blob. */
static char *join_strs(const char *const *v, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    char *b = malloc(total ? total : 1);
    if (!b)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]) + 1;
        memcpy(b + off, v[i], l);
        off += l;
    }
    *len = total;
    return b;
}

static const char **split_strs(const char *b, size_t len, size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < len; i++)
        cnt += b[i] == 0;
    const char **v = calloc(cnt + 1, sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0, start = 0;
    for (size_t i = 0; i < len && k < cnt; i++)
        if (b[i] == 0) {
            v[k++] = b + start;
            start = i + 1;
        }
    *n = cnt;
    return v;
}

static int sq_job_put(cl_store_t *bs, const cl_store_job_t *j, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (sq_begin(s, err) < 0)
        return -1;
    sqlite3_stmt *st = s->job_put;
    size_t alen = 0, elen = 0;
    char *argv = join_strs(j->argv, j->argc, &alen), *env = join_strs(j->env, j->envc, &elen);
    if (!argv || !env) {
        free(argv);
        free(env);
        snprintf(err->msg, sizeof err->msg, "store: out of memory");
        return -1;
    }
    int i = 1;
    sqlite3_bind_int64(st, i++, (sqlite3_int64)j->id);
    sqlite3_bind_int(st, i++, j->state);
    sqlite3_bind_text(st, i++, j->name ? j->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, j->tenant ? j->tenant : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, j->cwd ? j->cwd : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, j->reason ? j->reason : "", -1, SQLITE_STATIC);
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
    sqlite3_bind_text(st, i++, j->alloc ? j->alloc : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, i++, argv, (int)alen, SQLITE_STATIC);
    sqlite3_bind_blob(st, i++, env, (int)elen, SQLITE_STATIC);
    sqlite3_bind_double(st, i++, j->running_time);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(argv);
    free(env);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, err, "job put");
}

static int sq_node_put(cl_store_t *bs, const cl_store_node_t *n, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (sq_begin(s, err) < 0)
        return -1;
    sqlite3_stmt *st = s->node_put;
    sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, n->drained);
    sqlite3_bind_text(st, 4, n->reason ? n->reason : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, err, "node put");
}

static int sq_meta_put(cl_store_t *bs, const char *k, uint64_t v, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (sq_begin(s, err) < 0)
        return -1;
    sqlite3_bind_text(s->meta_put, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->meta_put, 2, (sqlite3_int64)v);
    int rc = sqlite3_step(s->meta_put);
    sqlite3_reset(s->meta_put);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, err, "meta put");
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
    sqlite3_reset(s->meta_get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_fail(s, err, "meta get");
    return found;
}

static int sq_commit(cl_store_t *bs, cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (!s->in_txn)
        return 0;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sq_fail(s, err, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = false;
        return -1;
    }
    s->in_txn = false;
    return 0;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? t : "";
}

#define JOB_SELECT                                                                        \
    "SELECT id,state,name,tenant,cwd,reason,nodes,gpus_per_node,max_restarts,time_limit_s,"  \
    "priority,restarts,incarnation,exit_code,has_exit,submit_time,start_time,end_time,alloc," \
    "argv,env,running_time FROM jobs"

/* Call jf for each row of st (a JOB_SELECT) until it returns non-zero. Returns the number
 * of rows given to jf, or -1. */
static int emit_jobs(sqlite3_stmt *st, cl_store_job_f *jf, void *arg, cl_error_t *err)
{
    int stop = 0, rows = 0;
    while (!stop && sqlite3_step(st) == SQLITE_ROW) {
        cl_store_job_t j = {0};
        int i = 0;
        j.id = (uint64_t)sqlite3_column_int64(st, i++);
        j.state = sqlite3_column_int(st, i++);
        j.name = col_text(st, i++);
        j.tenant = col_text(st, i++);
        j.cwd = col_text(st, i++);
        j.reason = col_text(st, i++);
        j.nodes = (uint32_t)sqlite3_column_int64(st, i++);
        j.gpus_per_node = (uint32_t)sqlite3_column_int64(st, i++);
        j.max_restarts = (uint32_t)sqlite3_column_int64(st, i++);
        j.time_limit_s = sqlite3_column_double(st, i++);
        j.priority = (int32_t)sqlite3_column_int64(st, i++);
        j.restarts = (uint32_t)sqlite3_column_int64(st, i++);
        j.incarnation = (uint32_t)sqlite3_column_int64(st, i++);
        j.exit_code = (int32_t)sqlite3_column_int64(st, i++);
        j.has_exit = sqlite3_column_int(st, i++) != 0;
        j.submit_time = sqlite3_column_double(st, i++);
        j.start_time = sqlite3_column_double(st, i++);
        j.end_time = sqlite3_column_double(st, i++);
        j.alloc = col_text(st, i++);
        const char *a = sqlite3_column_blob(st, i);
        size_t alen = (size_t)sqlite3_column_bytes(st, i++);
        const char *e = sqlite3_column_blob(st, i);
        size_t elen = (size_t)sqlite3_column_bytes(st, i++);
        j.running_time = sqlite3_column_double(st, i++);
        const char **av = split_strs(a ? a : "", a ? alen : 0, &j.argc);
        const char **ev = split_strs(e ? e : "", e ? elen : 0, &j.envc);
        if (!av || !ev) {
            free(av);
            free(ev);
            snprintf(err->msg, sizeof err->msg, "store: out of memory");
            return -1;
        }
        j.argv = av;
        j.env = ev;
        stop = jf(&j, arg);
        rows++;
        free(av);
        free(ev);
    }
    return rows;
}

static int sq_load(cl_store_t *bs, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                   cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_stmt *st = NULL;
    int stop = 0;
    if (nf) {
        if (sqlite3_prepare_v2(s->db, "SELECT id,name,drained,reason FROM nodes ORDER BY id", -1,
                               &st, NULL) != SQLITE_OK)
            return sq_fail(s, err, "load nodes");
        while (!stop && sqlite3_step(st) == SQLITE_ROW) {
            cl_store_node_t n = {.id = (uint32_t)sqlite3_column_int64(st, 0),
                                 .name = col_text(st, 1),
                                 .drained = sqlite3_column_int(st, 2) != 0,
                                 .reason = col_text(st, 3)};
            stop = nf(&n, arg);
        }
        sqlite3_finalize(st);
    }
    if (jf && !stop) {
        if (sqlite3_prepare_v2(s->db, JOB_SELECT " ORDER BY id", -1, &st, NULL) != SQLITE_OK)
            return sq_fail(s, err, "load jobs");
        int rc = emit_jobs(st, jf, arg, err);
        sqlite3_finalize(st);
        return rc < 0 ? -1 : 0;
    }
    return 0;
}

/* One job by id (a finished job the controller no longer holds in memory). */
static int sq_job_get(cl_store_t *bs, uint64_t id, cl_store_job_f *jf, void *arg,
                      cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, JOB_SELECT " WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, err, "get job");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int rc = emit_jobs(st, jf, arg, err);
    sqlite3_finalize(st);
    return rc;
}

static void sq_close(cl_store_t *bs)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (s->in_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(s->job_put);
    sqlite3_finalize(s->node_put);
    sqlite3_finalize(s->meta_put);
    sqlite3_finalize(s->meta_get);
    sqlite3_close(s->db);
    free(s);
}

static const cl_store_ops_t sq_ops = {
    .name = "sqlite",
    .job_put = sq_job_put,
    .job_get = sq_job_get,
    .node_put = sq_node_put,
    .meta_put = sq_meta_put,
    .meta_get = sq_meta_get,
    .commit = sq_commit,
    .load = sq_load,
    .close = sq_close,
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, state INTEGER NOT NULL,"
    " name TEXT, tenant TEXT, cwd TEXT, reason TEXT, nodes INTEGER, gpus_per_node INTEGER,"
    " max_restarts INTEGER, time_limit_s REAL, priority INTEGER, restarts INTEGER,"
    " incarnation INTEGER, exit_code INTEGER, has_exit INTEGER, submit_time REAL,"
    " start_time REAL, end_time REAL, alloc TEXT, argv BLOB, env BLOB,"
    " running_time REAL NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS nodes(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " drained INTEGER, reason TEXT);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);";

/* A journal written before jobs had running_time gains the column (0: unknown). */
static int add_running_time(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int have = sqlite3_prepare_v2(db, "SELECT running_time FROM jobs LIMIT 0", -1, &st, NULL) ==
               SQLITE_OK;
    sqlite3_finalize(st);
    if (have) return 0;
    return sqlite3_exec(db, "ALTER TABLE jobs ADD COLUMN running_time REAL NOT NULL DEFAULT 0",
                        NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : -1;
}

cl_store_t *cl_store_open_sqlite(const char *dir, bool sync_full, cl_error_t *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err->msg, sizeof err->msg, "store: cannot create %.150s: %.80s", dir, strerror(errno));
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/colossus.db", dir);
    sq_store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err->msg, sizeof err->msg, "store: out of memory");
        return NULL;
    }
    s->base.ops = &sq_ops;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err->msg, sizeof err->msg, "store: cannot open %.120s: %.80s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char pragmas[160];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;",
             sync_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err->msg, sizeof err->msg, "store: %.150s: %.90s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (add_running_time(s->db) < 0) {
        snprintf(err->msg, sizeof err->msg, "store: %.100s: cannot add jobs.running_time: %.80s",
                 path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO jobs(id,state,name,tenant,cwd,reason,nodes,"
                           "gpus_per_node,max_restarts,time_limit_s,priority,restarts,"
                           "incarnation,exit_code,has_exit,submit_time,start_time,end_time,alloc,"
                           "argv,env,running_time) "
                           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &s->job_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO nodes(id,name,drained,reason) "
                                  "VALUES(?,?,?,?)",
                           -1, &s->node_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)", -1,
                           &s->meta_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k=?", -1, &s->meta_get, NULL) !=
            SQLITE_OK) {
        snprintf(err->msg, sizeof err->msg, "store: %.150s: %.90s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    return &s->base;
fail:
    sq_close(&s->base);
    return NULL;
}
