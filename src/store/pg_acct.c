/* pg_acct.c - the PostgreSQL backend's accounting half: service objects, usage records and
 * their daily rollups, the audit log, retention, and the queries over them (store.h). The
 * same tables and keys as the SQLite backend's (sqlite_acct.c): rollups keyed by the UTC day
 * as text (YYYY-MM-DD, a month its first 7 characters), in the "C" collation so that keys
 * order as bytes, as SQLite orders them. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/pg_int.h"
#include "store/pg_lib.h"
#include "store/store_int.h"
#include "util/util.h"

/* A group is written once it holds this many records, so that a query's group and a prune's
 * unit both stay small (SQLite's: 64 KB of text). */
enum { AUD_GROUP_MAX = 1000 };
/* The largest time taken: as SQLite's (microseconds within 64 bits). */
#define AUD_TIME_MAX 9e12

#define USAGE_COLS                                                                             \
    "job,incarnation,name,tenant,user_name,nodes,ended,reason,gpus,start_time,end_time,gpu_s," \
    "energy_j,flops,exit_code,has_exit"

/* A rollup's upsert: the sums added to the key's. */
#define ROLLUP_ADD                                                                             \
    " ON CONFLICT(day,tenant,user_name) DO UPDATE SET"                                         \
    " gpu_s=usage_rollups.gpu_s+excluded.gpu_s,"                                               \
    " energy_j=usage_rollups.energy_j+excluded.energy_j,"                                      \
    " flops=usage_rollups.flops+excluded.flops, runs=usage_rollups.runs+excluded.runs"

const char pg_acct_session[] =
    "CREATE TEMP TABLE IF NOT EXISTS usage_new(day text NOT NULL, tenant text NOT NULL,"
    " user_name text NOT NULL, gpu_s float8 NOT NULL, energy_j float8 NOT NULL,"
    " flops float8 NOT NULL)";

const pg_stmt_t pg_acct_stmts[] = {
    {"obj_put", "INSERT INTO service_objects(kind,k,v) VALUES($1,$2,$3::bytea)"
                " ON CONFLICT(kind,k) DO UPDATE SET v=excluded.v"},
    {"obj_del", "DELETE FROM service_objects WHERE kind=$1 AND k=$2"},
    /* the record, and only when it is new (a duplicate inserts nothing, so the second INSERT
     * gets no row) its share of its day's rollup into usage_new: one statement, no answer to
     * wait for. The commit sums usage_new into the rollups at its end (rollup_flush): one
     * upsert a key, not one a run (a run each made 1,000 versions of one hot row a commit). */
    {"usage_put",
     "WITH ins AS (INSERT INTO usage_records(" USAGE_COLS ") VALUES($1::int8,$2::int8,$3,$4,"
     "$5,$6,$7,$8,$9::int8,$10::float8,$11::float8,$12::float8,$13::float8,$14::float8,"
     "$15::int8,$16::bool) ON CONFLICT(job,incarnation) DO NOTHING"
     " RETURNING tenant,user_name,gpu_s,energy_j,flops)"
     " INSERT INTO usage_new(day,tenant,user_name,gpu_s,energy_j,flops)"
     " SELECT $17::text,tenant,user_name,gpu_s,energy_j,flops FROM ins"},
    {"rollup_flush", "INSERT INTO usage_rollups(day,tenant,user_name,gpu_s,energy_j,flops,runs)"
                     " SELECT day,tenant,user_name,SUM(gpu_s),SUM(energy_j),SUM(flops),COUNT(*)"
                     " FROM usage_new GROUP BY day,tenant,user_name" ROLLUP_ADD},
    {"rollup_clear", "DELETE FROM usage_new"},
    /* a group and its records in one statement: the records as arrays (audit_array), one
     * row each by unnest, i their put order */
    {"audit_put",
     "WITH g AS (INSERT INTO audit_groups(first_time,last_time,who,n)"
     " VALUES($1::float8,$2::float8,$3,$4::int8) RETURNING seq)"
     " INSERT INTO audit_records(seq,i,time,ok,op,target,detail)"
     " SELECT g.seq,u.o-1,u.t,u.k,u.op,u.tg,u.d FROM g, unnest($5::float8[],$6::bool[],"
     "$7::text[],$8::text[],$9::text[]) WITH ORDINALITY AS u(t,k,op,tg,d,o)"},
    /* the highest id the prune after it may delete (GREATEST: SQLite's two-argument max) */
    {"id_floor_put", "INSERT INTO meta(k,v) SELECT 'store:job_id_max', max(id) FROM jobs"
                     " HAVING max(id) IS NOT NULL"
                     " ON CONFLICT(k) DO UPDATE SET v=GREATEST(meta.v, excluded.v)"},
    {"prune_jobs", "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN (2,3,4)"
                   " AND end_time < $1::float8 ORDER BY end_time LIMIT $2::int8)"},
    {"prune_usage",
     "DELETE FROM usage_records WHERE (job, incarnation) IN (SELECT job, incarnation"
     " FROM usage_records WHERE end_time < $1::float8 ORDER BY end_time LIMIT $2::int8)"},
    /* oldest groups first, by their newest record; their records go with them (CASCADE) */
    {"prune_audit",
     "DELETE FROM audit_groups WHERE seq IN (SELECT seq FROM audit_groups"
     " WHERE last_time < $1::float8 ORDER BY last_time LIMIT $2::int8) RETURNING n"},
};
const size_t pg_acct_nstmts = sizeof pg_acct_stmts / sizeof pg_acct_stmts[0];

/* ---- commit ---- */

int pg_put_obj(void *arg, const char *kind, const char *key, const void *val, size_t len)
{
    pg_commit_t *c = arg;
    pg_params_t p = {.n = 0};
    pg_p_text(&p, kind);
    pg_p_text(&p, key);
    if (val) pg_p_bytes(&p, val, len);
    char what[96];
    snprintf(what, sizeof what, "object %.40s %.40s", kind, key);
    return pg_send(c, val ? "obj_put" : "obj_del", &p, PG_OK, what);
}

int pg_put_usage(void *arg, const cl_store_usage_t *u)
{
    pg_commit_t *c = arg;
    pg_params_t p = {.n = 0};
    char day[16];
    cl__utc_day(u->end, day);
    pg_p_i64(&p, (int64_t)u->job);
    pg_p_i64(&p, u->incarnation);
    pg_p_text(&p, u->name);
    pg_p_text(&p, u->tenant);
    pg_p_text(&p, u->user);
    pg_p_text(&p, u->nodes);
    pg_p_text(&p, u->ended);
    pg_p_text(&p, u->reason);
    pg_p_i64(&p, u->gpus);
    pg_p_f64(&p, u->start);
    pg_p_f64(&p, u->end);
    pg_p_f64(&p, u->gpu_s);
    pg_p_f64(&p, u->energy_j);
    pg_p_f64(&p, u->flops);
    pg_p_i64(&p, u->exit_code);
    pg_p_bool(&p, u->has_exit);
    pg_p_text(&p, day);
    char what[48];
    snprintf(what, sizeof what, "usage of job %" PRIu64, u->job);
    c->runs++;
    return pg_send(c, "usage_put", &p, PG_OK, what);
}

int pg_rollup_flush(pg_commit_t *c)
{
    if (!c->runs) return 0;
    c->runs = 0;
    if (pg_send(c, "rollup_flush", NULL, PG_OK, "usage rollups") < 0) return -1;
    return pg_send(c, "rollup_clear", NULL, PG_OK, "usage rollups (clear)");
}

/* The k-th field (0 time, 1 ok, 2 op, 3 target, 4 detail) of the group's records as one
 * PostgreSQL array literal, NUL-ended, at its offset in c->arr: {"a","b\"c"}: every element
 * quoted, a quote and a backslash escaped, so that no value is ever read as syntax. */
static size_t audit_array(pg_commit_t *c, int k)
{
    size_t at = c->arr_len;
    pg_arr_put(c, "{", 1);
    for (size_t i = 0; i < c->naud; i++) {
        const cl_store_audit_t *a = c->aud[i];
        if (i) pg_arr_put(c, ",", 1);
        if (k == 0) /* to the microsecond, as SQLite's */
            pg_arr_num(c, "%.17g", (double)llround(a->time * 1e6) / 1e6);
        else if (k == 1)
            pg_arr_put(c, a->ok ? "t" : "f", 1);
        else
            pg_arr_str(c, k == 2 ? a->op : k == 3 ? a->target : a->detail);
    }
    pg_arr_put(c, "}", 2); /* and its NUL */
    return at;
}

int pg_audit_flush(pg_commit_t *c)
{
    if (!c->naud) return 0;
    double first = c->aud[0]->time, last = first;
    for (size_t i = 1; i < c->naud; i++) { /* put order is not always time order */
        if (c->aud[i]->time < first) first = c->aud[i]->time;
        if (c->aud[i]->time > last) last = c->aud[i]->time;
    }
    c->arr_len = 0;
    size_t at[5];
    for (int k = 0; k < 5; k++)
        at[k] = audit_array(c, k);
    pg_params_t p = {.n = 0};
    pg_p_f64(&p, first);
    pg_p_f64(&p, last);
    pg_p_text(&p, c->aud[0]->who);
    pg_p_i64(&p, (int64_t)c->naud);
    for (int k = 0; k < 5; k++)
        pg_p_text(&p, c->arr + at[k]);
    char what[96];
    snprintf(what, sizeof what, "audit group of %zu records by %.40s", c->naud, c->aud[0]->who);
    c->naud = 0;
    return pg_send(c, "audit_put", &p, PG_OK, what);
}

/* Kept (the batch's record) in the group being built, which is written first when who
 * changes or it is full. */
int pg_put_audit(void *arg, const cl_store_audit_t *a)
{
    pg_commit_t *c = arg;
    if (!a->who || !a->op || !(fabs(a->time) <= AUD_TIME_MAX)) {
        c->failed = true;
        return cl_err(c->err, "store: commit: audit record %.40s by %.40s: %s",
                      a->op ? a->op : "(no op)", a->who ? a->who : "(nobody)",
                      !a->who || !a->op    ? "who and op must be set"
                      : a->time != a->time ? "its time is not a number"
                                           : "its time is out of range");
    }
    if (c->naud && (strcmp(c->aud[0]->who, a->who) || c->naud >= AUD_GROUP_MAX) &&
        pg_audit_flush(c) < 0)
        return -1;
    if (c->naud == c->aud_cap) {
        c->aud_cap = c->aud_cap ? c->aud_cap * 2 : 16;
        c->aud = cl_xrealloc(c->aud, c->aud_cap * sizeof *c->aud);
    }
    c->aud[c->naud++] = a;
    return 0;
}

static int prune_one(pg_commit_t *c, const char *name, double before, pg_want_t want,
                     const char *what)
{
    if (!(before > 0)) return 0;
    pg_params_t p = {.n = 0};
    pg_p_f64(&p, before);
    pg_p_i64(&p, CL_STORE_PRUNE_MAX);
    return pg_send(c, name, &p, want, what);
}

int pg_prune(void *arg, const cl_store_prune_t *p)
{
    pg_commit_t *c = arg;
    c->pruned = true;
    /* the prune sees the jobs and audit records before it */
    if (pg_jobs_flush(c) < 0 || pg_audit_flush(c) < 0) return -1;
    if (p->jobs_before > 0 && pg_send(c, "id_floor_put", NULL, PG_OK, "prune job id") < 0)
        return -1;
    if (prune_one(c, "prune_jobs", p->jobs_before, PG_COUNT_JOBS, "prune jobs") < 0 ||
        prune_one(c, "prune_usage", p->history_before, PG_COUNT_USAGE, "prune usage") < 0 ||
        prune_one(c, "prune_audit", p->audit_before, PG_COUNT_GROUPS, "prune audit") < 0)
        return -1;
    return 0;
}

/* ---- queries (the reader) ---- */

/* A query with the conditions that apply (a filter not given adds nothing) and their
 * values as parameters $1, $2... */
typedef struct qb {
    char sql[1024];
    size_t len;
    bool where;
    pg_params_t p;
    char days[2][16];
} qb_t;

static void qb_add(qb_t *q, const char *s)
{
    size_t l = strlen(s);
    cl_assert(q->len + l < sizeof q->sql); /* the fixed texts below fit */
    memcpy(q->sql + q->len, s, l + 1);
    q->len += l;
}

/* cond with "$N" for its value's place (printf's %d) */
static void qb_cond(qb_t *q, const char *cond)
{
    char c[128];
    qb_add(q, q->where ? " AND " : " WHERE ");
    snprintf(c, sizeof c, cond, q->p.n + 1);
    qb_add(q, c);
    q->where = true;
}

static void qb_text_always(qb_t *q, const char *cond, const char *v)
{
    qb_cond(q, cond);
    pg_p_text(&q->p, v);
}

static void qb_text(qb_t *q, const char *cond, const char *v)
{
    if (v && *v) qb_text_always(q, cond, v);
}

static void qb_real(qb_t *q, const char *cond, double v)
{
    if (!(v > 0)) return; /* 0: no bound */
    qb_cond(q, cond);
    pg_p_f64(&q->p, v);
}

static void qb_limit(qb_t *q, uint32_t limit)
{
    if (!limit) return;
    char c[32];
    snprintf(c, sizeof c, " LIMIT $%d::int8", q->p.n + 1);
    qb_add(q, c);
    pg_p_i64(&q->p, limit);
}

int pg_objs_load(cl_store_t *bs, const char *kind, cl_store_obj_f *f, void *arg,
                 cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    qb_t q = {.len = 0};
    qb_add(&q, "SELECT kind,k,v FROM service_objects");
    if (kind) qb_text_always(&q, "kind=$%d", kind); /* "" is a kind like any other here */
    qb_add(&q, " ORDER BY kind,k");
    PGresult *r = pg_read(s, q.sql, &q.p, "load objects", err);
    if (!r) return -1;
    for (int row = 0; row < pq.ntuples(r); row++)
        if (f(pg_str(r, row, 0), pg_str(r, row, 1), pq.getvalue(r, row, 2),
              (size_t)pq.getlength(r, row, 2), arg))
            break;
    pq.clear(r);
    return 0;
}

int pg_history(cl_store_t *bs, const cl_store_history_q_t *hq, cl_store_usage_f *f, void *arg,
               cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    qb_t q = {.len = 0};
    qb_add(&q, "SELECT " USAGE_COLS " FROM usage_records");
    if (hq->job) {
        qb_cond(&q, "job=$%d::int8");
        pg_p_i64(&q.p, (int64_t)hq->job);
    }
    qb_real(&q, "end_time>=$%d::float8", hq->since);
    qb_real(&q, "end_time<$%d::float8", hq->until);
    qb_text(&q, "tenant=$%d", hq->tenant);
    qb_text(&q, "user_name=$%d", hq->user);
    qb_text(&q, "ended=$%d", hq->ended);
    qb_add(&q, " ORDER BY end_time DESC, job DESC, incarnation DESC");
    qb_limit(&q, hq->limit);
    PGresult *r = pg_read(s, q.sql, &q.p, "history", err);
    if (!r) return -1;
    for (int row = 0; row < pq.ntuples(r); row++) {
        int i = 0;
        cl_store_usage_t u = {0};
        u.job = (uint64_t)pg_i64(r, row, i++);
        u.incarnation = (uint32_t)pg_i64(r, row, i++);
        u.name = pg_str(r, row, i++);
        u.tenant = pg_str(r, row, i++);
        u.user = pg_str(r, row, i++);
        u.nodes = pg_str(r, row, i++);
        u.ended = pg_str(r, row, i++);
        u.reason = pg_str(r, row, i++);
        u.gpus = (uint32_t)pg_i64(r, row, i++);
        u.start = pg_f64(r, row, i++);
        u.end = pg_f64(r, row, i++);
        u.gpu_s = pg_f64(r, row, i++);
        u.energy_j = pg_f64(r, row, i++);
        u.flops = pg_f64(r, row, i++);
        u.exit_code = (int32_t)pg_i64(r, row, i++);
        u.has_exit = pg_bool(r, row, i++);
        if (f(&u, arg)) break;
    }
    pq.clear(r);
    return 0;
}

int pg_usage(cl_store_t *bs, const cl_store_usage_q_t *uq, cl_store_sum_f *f, void *arg,
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
    pg_store_t *s = (pg_store_t *)bs;
    qb_t q = {.len = 0};
    qb_add(&q, "SELECT ");
    qb_add(&q, keys[uq->by]);
    qb_add(&q, ",SUM(gpu_s),SUM(energy_j),SUM(flops),SUM(runs)::int8 FROM usage_rollups");
    /* whole days: from the one since falls in, to before the first that starts at or after
     * until */
    if (uq->since > 0) {
        cl__utc_day(uq->since, q.days[0]);
        qb_text(&q, "day>=$%d", q.days[0]);
    }
    if (uq->until > 0) {
        cl__utc_day(ceil(uq->until / 86400.0) * 86400.0, q.days[1]);
        qb_text(&q, "day<$%d", q.days[1]);
    }
    qb_text(&q, "tenant=$%d", uq->tenant);
    qb_text(&q, "user_name=$%d", uq->user);
    qb_add(&q, " GROUP BY 1 ORDER BY 1");
    PGresult *r = pg_read(s, q.sql, &q.p, "usage", err);
    if (!r) return -1;
    for (int row = 0; row < pq.ntuples(r); row++) {
        cl_store_sum_t sum = {.key = pg_str(r, row, 0),
                              .gpu_s = pg_f64(r, row, 1),
                              .energy_j = pg_f64(r, row, 2),
                              .flops = pg_f64(r, row, 3),
                              .runs = (uint64_t)pg_i64(r, row, 4)};
        if (f(&sum, arg)) break;
    }
    pq.clear(r);
    return 0;
}

int pg_audit(cl_store_t *bs, const cl_store_audit_q_t *aq, cl_store_audit_f *f, void *arg,
             cl_error_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    qb_t q = {.len = 0};
    qb_add(&q, "SELECT g.who,r.time,r.ok,r.op,r.target,r.detail FROM audit_groups g"
               " JOIN audit_records r ON r.seq=g.seq");
    /* a group with a record in [since, until) (its bounds: the index's range), and of it
     * the records in it */
    if (aq->since > 0) {
        qb_real(&q, "g.last_time>=$%d::float8", aq->since);
        qb_cond(&q, "r.time>=$%d::float8");
        pg_p_f64(&q.p, aq->since);
    }
    if (aq->until > 0) {
        qb_real(&q, "g.first_time<$%d::float8", aq->until);
        qb_cond(&q, "r.time<$%d::float8");
        pg_p_f64(&q.p, aq->until);
    }
    qb_text(&q, "g.who=$%d", aq->who);
    /* groups by their newest record, each group's records newest first (of equal times,
     * the later put first) */
    qb_add(&q, " ORDER BY g.last_time DESC, g.seq DESC, r.time DESC, r.i DESC");
    qb_limit(&q, aq->limit);
    PGresult *r = pg_read(s, q.sql, &q.p, "audit", err);
    if (!r) return -1;
    for (int row = 0; row < pq.ntuples(r); row++) {
        cl_store_audit_t a = {.who = pg_str(r, row, 0),
                              .time = pg_f64(r, row, 1),
                              .ok = pg_bool(r, row, 2),
                              .op = pg_str(r, row, 3),
                              .target = pg_str(r, row, 4),
                              .detail = pg_str(r, row, 5)};
        if (f(&a, arg)) break;
    }
    pq.clear(r);
    return 0;
}
