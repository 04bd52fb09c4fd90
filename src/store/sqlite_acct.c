/* sqlite_acct.c - the SQLite backend's accounting half: service objects, usage records and
 * their daily rollups, the audit log's schema (its code: sqlite_audit.c), retention, and the
 * queries over them (store.h).
 *
 * Portable SQL only (upserts with ON CONFLICT, deletes through LIMIT subqueries, substr), so
 * that the PostgreSQL backend can say the same. Rollups are keyed by the UTC day as text
 * (YYYY-MM-DD): a month is its first 7 characters, and a range of days is a range of keys. */
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "store/sqlite_int.h"
#include "store/store_int.h"
#include "util/util.h"

/* A usage record's columns, as the tables hold them and the statements list them. */
#define USAGE_COLS                                                                             \
    "job,incarnation,name,tenant,user_name,nodes,ended,reason,gpus,start_time,end_time,gpu_s," \
    "energy_j,flops,exit_code,has_exit"
#define USAGE_TABLE_COLS "(job INTEGER NOT NULL," USAGE_TABLE_REST
#define USAGE_TABLE_REST                                                                       \
    " incarnation INTEGER NOT NULL, name TEXT NOT NULL, tenant TEXT NOT NULL,"                 \
    " user_name TEXT NOT NULL, nodes TEXT NOT NULL, ended TEXT NOT NULL, reason TEXT NOT "     \
    "NULL,"                                                                                    \
    " gpus INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL NOT NULL,"                \
    " gpu_s REAL NOT NULL, energy_j REAL NOT NULL, flops REAL NOT NULL,"                       \
    " exit_code INTEGER NOT NULL, has_exit INTEGER NOT NULL, PRIMARY KEY(job, incarnation))"   \
    " WITHOUT ROWID;"

/* Column names avoid PostgreSQL's reserved words (user). The indexes are what the queries and
 * the prune need, and no more (each is a page written by every commit that writes into it):
 * history by end time alone or with a tenant or a user, newest first (the key (job,
 * incarnation) orders ties: it ends every index entry); with an ended state alone, the scan
 * of end times filters (a state is a tenth of the runs or fewer, found in a few thousand
 * rows; docs/benchmarks.md). usage_records is keyed by (job, incarnation) itself, WITHOUT
 * ROWID, so that a record is one B-tree insert where a rowid and a unique index were two (a
 * journal of the first form keeps its rowid table, which the same statements read).
 * A run's record goes first into usage_recent (the same key, no other index, and the UTC day
 * of its end: one page a commit, where the table, its three indexes and the day's rollup
 * were five), and a commit moves SQ_RECENT_MAX of them at once into usage_records and adds
 * them to their rollups, filling a few pages of each index (docs/benchmarks.md, "Issue 11's
 * job rate in bulk"); history and usage read both. Usage by day range
 * alone or with a tenant or a user; audit groups (sqlite_audit.c: one row per run of one
 * commit's records by the same who, first_time and last_time the earliest and latest of its
 * records, n of them in records' text) by their newest record alone or with who. */
const char sq_acct_schema[] =
    "CREATE TABLE IF NOT EXISTS service_objects(kind TEXT NOT NULL, k TEXT NOT NULL,"
    " v BLOB NOT NULL, PRIMARY KEY(kind, k));"
    "CREATE TABLE IF NOT EXISTS usage_records" USAGE_TABLE_COLS
    "CREATE INDEX IF NOT EXISTS usage_end ON usage_records(end_time);"
    "CREATE INDEX IF NOT EXISTS usage_tenant_end ON usage_records(tenant, end_time);"
    "CREATE INDEX IF NOT EXISTS usage_user_end ON usage_records(user_name, end_time);"
    "DROP INDEX IF EXISTS usage_ended_end;" /* the first form's */
    "CREATE TABLE IF NOT EXISTS usage_recent(day TEXT NOT NULL, job INTEGER NOT "
    "NULL," USAGE_TABLE_REST
    "CREATE TABLE IF NOT EXISTS usage_rollups(day TEXT NOT NULL, tenant TEXT NOT NULL,"
    " user_name TEXT NOT NULL, gpu_s REAL NOT NULL, energy_j REAL NOT NULL,"
    " flops REAL NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY(day, tenant, user_name));"
    "CREATE INDEX IF NOT EXISTS rollups_tenant ON usage_rollups(tenant, day);"
    "CREATE INDEX IF NOT EXISTS rollups_user ON usage_rollups(user_name, day);"
    "CREATE TABLE IF NOT EXISTS audit_groups(seq INTEGER PRIMARY KEY,"
    " first_time REAL NOT NULL, last_time REAL NOT NULL, who TEXT NOT NULL,"
    " n INTEGER NOT NULL, records TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_groups_last ON audit_groups(last_time);"
    "CREATE INDEX IF NOT EXISTS audit_groups_who_last ON audit_groups(who, last_time);";

/* A rollup's upsert: the sums added to the key's. */
#define ROLLUP_ADD                                                                             \
    " ON CONFLICT(day,tenant,user_name) DO UPDATE SET"                                         \
    " gpu_s=usage_rollups.gpu_s+excluded.gpu_s,"                                               \
    " energy_j=usage_rollups.energy_j+excluded.energy_j,"                                      \
    " flops=usage_rollups.flops+excluded.flops, runs=usage_rollups.runs+excluded.runs"

/* A usage record's values, numbered (the put's NOT EXISTS names the key again). */
#define USAGE_PARAMS "?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16"

int sq_acct_prepare(sq_store_t *s, cl_error_t *err)
{
    static const sq_sql_t st[] = {
        {offsetof(sq_store_t, obj_put), "INSERT INTO service_objects(kind,k,v) VALUES(?,?,?)"
                                        " ON CONFLICT(kind,k) DO UPDATE SET v=excluded.v"},
        {offsetof(sq_store_t, obj_del), "DELETE FROM service_objects WHERE kind=? AND k=?"},
        {offsetof(sq_store_t, usage_put),
         "INSERT INTO usage_records(" USAGE_COLS ") SELECT " USAGE_PARAMS
         " WHERE NOT EXISTS (SELECT 1 FROM usage_recent WHERE job=?1 AND incarnation=?2)"
         " ON CONFLICT(job,incarnation) DO NOTHING"},
        {offsetof(sq_store_t, recent_put),
         "INSERT INTO usage_recent(" USAGE_COLS ",day) SELECT " USAGE_PARAMS ",?17"
         " WHERE NOT EXISTS (SELECT 1 FROM usage_records WHERE job=?1 AND incarnation=?2)"
         " ON CONFLICT(job,incarnation) DO NOTHING"},
        {offsetof(sq_store_t, recent_rollup),
         "INSERT INTO usage_rollups(day,tenant,user_name,gpu_s,energy_j,flops,runs)"
         " SELECT day,tenant,user_name,SUM(gpu_s),SUM(energy_j),SUM(flops),COUNT(*)"
         " FROM usage_recent WHERE true GROUP BY day,tenant,user_name" ROLLUP_ADD},
        /* WHERE true: an upsert's SELECT needs a WHERE (SQLite's grammar) */
        {offsetof(sq_store_t, recent_move),
         "INSERT INTO usage_records(" USAGE_COLS ") SELECT " USAGE_COLS " FROM usage_recent"
         " WHERE true ON CONFLICT(job,incarnation) DO NOTHING"},
        {offsetof(sq_store_t, recent_clear), "DELETE FROM usage_recent"},
        {offsetof(sq_store_t, rollup_put),
         "INSERT INTO usage_rollups(day,tenant,user_name,gpu_s,energy_j,flops,runs)"
         " VALUES(?,?,?,?,?,?,?)" ROLLUP_ADD},
        {offsetof(sq_store_t, prune_jobs),
         "DELETE FROM jobs_done WHERE id IN (SELECT id FROM jobs_done WHERE end_time < ?1"
         " ORDER BY end_time LIMIT ?2)"},
        {offsetof(sq_store_t, prune_usage),
         "DELETE FROM usage_records WHERE (job, incarnation) IN (SELECT job, incarnation"
         " FROM usage_records WHERE end_time < ?1 ORDER BY end_time LIMIT ?2)"},
        /* the highest id that the prune after it may delete (SQLite's two-argument max is
         * PostgreSQL's GREATEST). MAX(id) alone in a scalar subquery is one descent of the
         * rowid B-tree; next to another column in one SELECT it was a scan of a whole index
         * (0.5 s a commit at 10,000,000 jobs) */
        {offsetof(sq_store_t, id_floor_put),
         "INSERT INTO meta(k,v) SELECT '" SQ_ID_FLOOR "', (SELECT MAX(id) FROM jobs_done)"
         " WHERE EXISTS (SELECT 1 FROM jobs_done)"
         " ON CONFLICT(k) DO UPDATE SET v=MAX(meta.v, excluded.v)"},
    };
    if (sq_prepare_writer(s, st, sizeof st / sizeof st[0], err) < 0) return -1;
    return sq_audit_prepare(s, err);
}

/* ---- commit ---- */

int sq_put_obj(void *arg, const char *kind, const char *key, const void *val, size_t len)
{
    sq_commit_t *c = arg;
    sqlite3_stmt *st = val ? c->s->obj_put : c->s->obj_del;
    sq_bind_str(st, 1, kind);
    sq_bind_str(st, 2, key);
    if (val) sqlite3_bind_blob64(st, 3, val, len, SQLITE_STATIC); /* val non-NULL: not NULL */
    return sq_put_step(c, st, "object %.40s %.80s", kind, key);
}

int sq_rollup_flush(sq_commit_t *c)
{
    sqlite3_stmt *st = c->s->rollup_put;
    for (uint32_t i = 0; i < c->nshares; i++) {
        const struct sq_share *r = &c->shares[i];
        sq_bind_str(st, 1, r->day);
        sq_bind_str(st, 2, r->tenant);
        sq_bind_str(st, 3, r->user);
        sqlite3_bind_double(st, 4, r->gpu_s);
        sqlite3_bind_double(st, 5, r->energy_j);
        sqlite3_bind_double(st, 6, r->flops);
        sqlite3_bind_int64(st, 7, r->runs);
        if (sq_put_step(c, st, "rollup of %s for %.64s", r->day, r->tenant) < 0) return -1;
    }
    c->nshares = 0;
    return 0;
}

/* u's share of its day's rollup, added to the commit's sums. */
static int share_add(sq_commit_t *c, const cl_store_usage_t *u)
{
    char day[16];
    cl__utc_day(u->end, day);
    uint32_t i = 0;
    while (i < c->nshares &&
           (strcmp(c->shares[i].day, day) || strcmp(c->shares[i].tenant, u->tenant) ||
            strcmp(c->shares[i].user, u->user)))
        i++;
    if (i == SQ_SHARES) {
        if (sq_rollup_flush(c) < 0) return -1;
        i = 0;
    }
    struct sq_share *r = &c->shares[i];
    if (i == c->nshares) {
        *r = (struct sq_share){.tenant = u->tenant, .user = u->user};
        memcpy(r->day, day, sizeof day);
        c->nshares++;
    }
    r->gpu_s += u->gpu_s;
    r->energy_j += u->energy_j;
    r->flops += u->flops;
    r->runs++;
    return 0;
}

/* The record, and (only when it is new: a duplicate (job, incarnation) changes nothing) its
 * share of its day's rollup. */
int sq_put_usage(void *arg, const cl_store_usage_t *u)
{
    sq_commit_t *c = arg;
    sqlite3_stmt *st = c->usage_direct ? c->s->usage_put : c->s->recent_put;
    int i = 1;
    sqlite3_bind_int64(st, i++, (sqlite3_int64)u->job);
    sqlite3_bind_int64(st, i++, u->incarnation);
    sq_bind_str(st, i++, u->name);
    sq_bind_str(st, i++, u->tenant);
    sq_bind_str(st, i++, u->user);
    sq_bind_str(st, i++, u->nodes);
    sq_bind_str(st, i++, u->ended);
    sq_bind_str(st, i++, u->reason);
    sqlite3_bind_int64(st, i++, u->gpus);
    sqlite3_bind_double(st, i++, u->start);
    sqlite3_bind_double(st, i++, u->end);
    sqlite3_bind_double(st, i++, u->gpu_s);
    sqlite3_bind_double(st, i++, u->energy_j);
    sqlite3_bind_double(st, i++, u->flops);
    sqlite3_bind_int64(st, i++, u->exit_code);
    sqlite3_bind_int(st, i++, u->has_exit);
    char day[16];
    if (!c->usage_direct) {
        cl__utc_day(u->end, day);
        sq_bind_str(st, i++, day);
    }
    if (sq_put_step(c, st, "usage of job %" PRIu64, u->job) < 0) return -1;
    if (sqlite3_changes(c->s->wr) == 0) return 0; /* a duplicate */
    if (c->usage_direct) return share_add(c, u);
    c->s->recent_n++; /* its rollup share: at the move */
    return 0;
}

int sq_recent_move(sq_commit_t *c, bool force)
{
    sq_store_t *s = c->s;
    if (!s->recent_n || (!force && s->recent_n < SQ_RECENT_MAX)) return 0;
    if (sq_put_step(c, s->recent_rollup, "usage: the recent runs' rollups") < 0 ||
        sq_put_step(c, s->recent_move, "usage: the recent runs' move") < 0 ||
        sq_put_step(c, s->recent_clear, "usage: the recent runs' move (delete)") < 0)
        return -1;
    s->recent_n = 0;
    return 0;
}

int sq_count(sq_store_t *s, const char *sql, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->wr, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *n = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int sq_recent_count(sq_store_t *s)
{
    return sq_count(s, "SELECT COUNT(*) FROM usage_recent", &s->recent_n);
}

/* Delete at most CL_STORE_PRUNE_MAX rows of before (0: none); *n = how many went. */
static int prune_one(sq_commit_t *c, sqlite3_stmt *st, double before, const char *what,
                     uint64_t *n)
{
    *n = 0;
    if (!(before > 0)) return 0;
    sqlite3_bind_double(st, 1, before);
    sqlite3_bind_int(st, 2, CL_STORE_PRUNE_MAX);
    if (sq_put_step(c, st, "prune %s", what) < 0) return -1;
    *n = (uint64_t)sqlite3_changes(c->s->wr);
    if (*n >= CL_STORE_PRUNE_MAX) c->prune_more = true;
    return 0;
}

int sq_prune(void *arg, const cl_store_prune_t *p)
{
    sq_commit_t *c = arg;
    c->pruned = true;
    if (sq_audit_flush(c) < 0) return -1; /* the prune sees the audit records before it */
    /* and the finished jobs in jobs_done, the recent runs in usage_records (and their
     * rollups), where it looks (and the id floor with them) */
    if ((p->jobs_before > 0 && sq_done_move(c, true) < 0) ||
        (p->history_before > 0 && sq_recent_move(c, true) < 0))
        return -1;
    if (p->jobs_before > 0 && sq_put_step(c, c->s->id_floor_put, "prune job id") < 0) return -1;
    if (prune_one(c, c->s->prune_jobs, p->jobs_before, "jobs", &c->pruned_jobs) < 0 ||
        prune_one(c, c->s->prune_usage, p->history_before, "usage", &c->pruned_usage) < 0 ||
        sq_prune_audit(c, p->audit_before) < 0)
        return -1;
    return 0;
}

/* ---- queries (the reader) ---- */

/* A query with the conditions that apply (a filter not given adds nothing, so that SQLite
 * picks the index of those that are) and their values, bound on prepare. */
typedef struct qb {
    char sql[1024];
    size_t len;
    bool where; /* has its WHERE */
    int n;
    struct {
        enum { QB_TEXT, QB_REAL, QB_INT } type;
        const char *text;
        double real;
        int64_t i;
    } arg[16];
    char days[2][16];
} qb_t;

static void qb_add(qb_t *q, const char *s)
{
    size_t l = strlen(s);
    cl_assert(q->len + l < sizeof q->sql); /* the fixed texts below fit */
    memcpy(q->sql + q->len, s, l + 1);
    q->len += l;
}

static void qb_cond(qb_t *q, const char *cond)
{
    qb_add(q, q->where ? " AND " : " WHERE ");
    qb_add(q, cond);
    q->where = true;
}

/* cond with a text value; always (kind), or only when v is a filter (NULL or "": none) */
static void qb_text_always(qb_t *q, const char *cond, const char *v)
{
    qb_cond(q, cond);
    q->arg[q->n].type = QB_TEXT;
    q->arg[q->n++].text = v;
}

static void qb_text(qb_t *q, const char *cond, const char *v)
{
    if (v && *v) qb_text_always(q, cond, v);
}

static void qb_real(qb_t *q, const char *cond, double v)
{
    if (!(v > 0)) return; /* 0: no bound */
    qb_cond(q, cond);
    q->arg[q->n].type = QB_REAL;
    q->arg[q->n++].real = v;
}

/* cond with an integer value, only when v is a filter (0: none) */
static void qb_int(qb_t *q, const char *cond, uint64_t v)
{
    if (!v) return;
    qb_cond(q, cond);
    q->arg[q->n].type = QB_INT;
    q->arg[q->n++].i = (int64_t)v;
}

static void qb_limit(qb_t *q, uint32_t limit)
{
    if (!limit) return;
    qb_add(q, " LIMIT ?");
    q->arg[q->n].type = QB_INT;
    q->arg[q->n++].i = limit;
}

/* The caller's callback, for the row functions below. */
struct emit_ctx {
    union {
        cl_store_obj_f *obj;
        cl_store_usage_f *usage;
        cl_store_sum_f *sum;
    } f;
    void *arg;
};

/* Prepare q, bind its values and step it to its end, each row to emit (non-zero: stop); 0 or
 * -1. Prepared each time, so that a callback may read the store again. */
static int qb_run(sq_store_t *s, qb_t *q, int (*emit)(sqlite3_stmt *, const struct emit_ctx *),
                  const struct emit_ctx *e, const char *what, cl_error_t *err)
{
    sqlite3_stmt *st;
    if (sq_read_prepare(s, q->sql, &st, what, err) < 0) return -1;
    for (int i = 0; i < q->n; i++)
        if (q->arg[i].type == QB_TEXT)
            sqlite3_bind_text(st, i + 1, q->arg[i].text, -1, SQLITE_STATIC);
        else if (q->arg[i].type == QB_REAL)
            sqlite3_bind_double(st, i + 1, q->arg[i].real);
        else
            sqlite3_bind_int64(st, i + 1, q->arg[i].i);
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
        stop = emit(st, e);
    int out = !stop && rc != SQLITE_DONE ? sq_fail(s->rd, err, what) : 0;
    sq_read_finalize(s, st);
    return out;
}

static int emit_obj(sqlite3_stmt *st, const struct emit_ctx *e)
{
    const void *v = sqlite3_column_blob(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);
    return e->f.obj(sq_text(st, 0), sq_text(st, 1), v ? v : "", len, e->arg);
}

int sq_objs_load(cl_store_t *bs, const char *kind, cl_store_obj_f *f, void *arg,
                 cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    qb_t q = {0};
    qb_add(&q, "SELECT kind,k,v FROM service_objects");
    if (kind) qb_text_always(&q, "kind=?", kind); /* "" is a kind like any other here */
    qb_add(&q, " ORDER BY kind,k");
    struct emit_ctx e = {.f.obj = f, .arg = arg};
    return qb_run(s, &q, emit_obj, &e, "load objects", err);
}

static int emit_usage(sqlite3_stmt *st, const struct emit_ctx *e)
{
    int i = 0;
    cl_store_usage_t u = {0};
    u.job = (uint64_t)sqlite3_column_int64(st, i++);
    u.incarnation = (uint32_t)sqlite3_column_int64(st, i++);
    u.name = sq_text(st, i++);
    u.tenant = sq_text(st, i++);
    u.user = sq_text(st, i++);
    u.nodes = sq_text(st, i++);
    u.ended = sq_text(st, i++);
    u.reason = sq_text(st, i++);
    u.gpus = (uint32_t)sqlite3_column_int64(st, i++);
    u.start = sqlite3_column_double(st, i++);
    u.end = sqlite3_column_double(st, i++);
    u.gpu_s = sqlite3_column_double(st, i++);
    u.energy_j = sqlite3_column_double(st, i++);
    u.flops = sqlite3_column_double(st, i++);
    u.exit_code = (int32_t)sqlite3_column_int64(st, i++);
    u.has_exit = sqlite3_column_int(st, i++) != 0;
    return e->f.usage(&u, e->arg);
}

/* q's text from at to end and its first n values again, at its end: a UNION ALL's second arm
 * with the first's conditions. */
static void qb_again(qb_t *q, size_t at, size_t end, int n)
{
    cl_assert(q->len + (end - at) < sizeof q->sql &&
              q->n + n <= (int)(sizeof q->arg / sizeof q->arg[0]));
    memcpy(q->sql + q->len, q->sql + at, end - at);
    q->len += end - at;
    q->sql[q->len] = 0;
    for (int i = 0; i < n; i++)
        q->arg[q->n++] = q->arg[i];
}

#define HISTORY_SELECT "SELECT " USAGE_COLS " FROM "

int sq_history(cl_store_t *bs, const cl_store_history_q_t *hq, cl_store_usage_f *f, void *arg,
               cl_error_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    qb_t q = {0};
    qb_add(&q, HISTORY_SELECT "usage_records");
    size_t at = q.len;
    /* A job's runs are a range of the key (a few rows): the unary + keeps SQLite from
     * choosing the tenant's or user's index (all of their runs) for the other filters,
     * which it does otherwise (the controller always gives a tenant). */
    bool j = hq->job != 0;
    qb_int(&q, "job=?", hq->job);
    qb_real(&q, j ? "+end_time>=?" : "end_time>=?", hq->since);
    qb_real(&q, j ? "+end_time<?" : "end_time<?", hq->until);
    qb_text(&q, j ? "+tenant=?" : "tenant=?", hq->tenant);
    qb_text(&q, j ? "+user_name=?" : "user_name=?", hq->user);
    qb_text(&q, "ended=?", hq->ended);
    /* and the recent runs (fewer than SQ_RECENT_MAX, read whole): SQLite merges the two arms
     * in the order asked for, each read in it (usage_records by its index), up to the limit */
    size_t end = q.len;
    int n = q.n;
    qb_add(&q, " UNION ALL " HISTORY_SELECT "usage_recent");
    qb_again(&q, at, end, n);
    qb_add(&q, " ORDER BY end_time DESC, job DESC, incarnation DESC");
    qb_limit(&q, hq->limit);
    struct emit_ctx e = {.f.usage = f, .arg = arg};
    return qb_run(s, &q, emit_usage, &e, "history", err);
}

static int emit_sum(sqlite3_stmt *st, const struct emit_ctx *e)
{
    cl_store_sum_t r = {.key = sq_text(st, 0),
                        .gpu_s = sqlite3_column_double(st, 1),
                        .energy_j = sqlite3_column_double(st, 2),
                        .flops = sqlite3_column_double(st, 3),
                        .runs = (uint64_t)sqlite3_column_int64(st, 4)};
    return e->f.sum(&r, e->arg);
}

int sq_usage(cl_store_t *bs, const cl_store_usage_q_t *uq, cl_store_sum_f *f, void *arg,
             cl_error_t *err)
{
    static const char *const keys[] = {
        [CL_STORE_BY_TENANT] = "tenant",
        [CL_STORE_BY_USER] = "user_name",
        [CL_STORE_BY_DAY] = "day",
        [CL_STORE_BY_MONTH] = "substr(day,1,7)",
    };
    if ((unsigned)uq->by >= sizeof keys / sizeof keys[0])
        return cl_err(err, "store: usage: no such grouping (%d)", (int)uq->by);
    sq_store_t *s = (sq_store_t *)bs;
    qb_t q = {0};
    qb_add(&q, "SELECT ");
    qb_add(&q, keys[uq->by]);
    /* the rollups, and the recent runs not yet in them (fewer than SQ_RECENT_MAX, read
     * whole), each arm with the filters */
    qb_add(&q, ",SUM(gpu_s),SUM(energy_j),SUM(flops),SUM(runs) FROM ("
               "SELECT day,tenant,user_name,gpu_s,energy_j,flops,runs FROM usage_rollups");
    size_t at = q.len;
    /* whole days: from the one since falls in, to before the first that starts at or after
     * until */
    if (uq->since > 0) {
        cl__utc_day(uq->since, q.days[0]);
        qb_text(&q, "day>=?", q.days[0]);
    }
    if (uq->until > 0) {
        cl__utc_day(ceil(uq->until / 86400.0) * 86400.0, q.days[1]);
        qb_text(&q, "day<?", q.days[1]);
    }
    qb_text(&q, "tenant=?", uq->tenant);
    qb_text(&q, "user_name=?", uq->user);
    size_t end = q.len;
    int n = q.n;
    qb_add(&q,
           " UNION ALL SELECT day,tenant,user_name,gpu_s,energy_j,flops,1 FROM usage_recent");
    qb_again(&q, at, end, n);
    qb_add(&q, ")");
    qb_add(&q, " GROUP BY 1 ORDER BY 1");
    struct emit_ctx e = {.f.sum = f, .arg = arg};
    return qb_run(s, &q, emit_sum, &e, "usage", err);
}
