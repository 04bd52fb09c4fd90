/* test_store_acct.c - the store conformance suite, issue 11's half: service objects, usage
 * records and their daily rollups, audit records, retention, a start's finished_since and the
 * highest job id, over every backend (store_conformance.h). */
#include <time.h>

#include "store/fault.h"
#include "store_conformance.h"
#include "util/util.h"

/* unix seconds of a UTC date and time */
static double utc(int y, int mo, int d, int h, int mi, double s)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (double)timegm(&tm) + s;
}

/* A usage record with every field set to something a wrong column would change. */
static cl_store_usage_t mkusage(uint64_t job, uint32_t inc, const char *tenant,
                                const char *user, double end, double gpu_s)
{
    return (cl_store_usage_t){.job = job,
                              .incarnation = inc,
                              .name = "train-模型-🚀",
                              .tenant = tenant,
                              .user = user,
                              .nodes = "gpu-1,gpu-2",
                              .ended = "succeeded",
                              .reason = "node gpu-3 lost: Xid 79",
                              .gpus = 16,
                              .start = end - 3600.5,
                              .end = end,
                              .gpu_s = gpu_s,
                              .energy_j = gpu_s * 2,
                              .flops = gpu_s * 3,
                              .exit_code = -9,
                              .has_exit = true};
}

/* ---- what the queries gave, owned ---- */

typedef struct hrow {
    uint64_t job;
    uint32_t inc;
    double end, gpu_s;
    char tenant[32], user[32], ended[32];
} hrow_t;

typedef struct hist {
    hrow_t r[64];
    size_t n;
    size_t stop_after;      /* the callback returns 1 after this many (0: never) */
    cl_store_usage_t first; /* the first row, its strings not kept */
    char first_name[64], first_nodes[64], first_reason[64];
} hist_t;

static int on_hist(const cl_store_usage_t *u, void *arg)
{
    hist_t *h = arg;
    assert_true(h->n < 64);
    if (!h->n) {
        h->first = *u;
        snprintf(h->first_name, sizeof h->first_name, "%s", u->name);
        snprintf(h->first_nodes, sizeof h->first_nodes, "%s", u->nodes);
        snprintf(h->first_reason, sizeof h->first_reason, "%s", u->reason);
    }
    hrow_t *r = &h->r[h->n++];
    r->job = u->job;
    r->inc = u->incarnation;
    r->end = u->end;
    r->gpu_s = u->gpu_s;
    snprintf(r->tenant, sizeof r->tenant, "%s", u->tenant);
    snprintf(r->user, sizeof r->user, "%s", u->user);
    snprintf(r->ended, sizeof r->ended, "%s", u->ended);
    return h->stop_after && h->n >= h->stop_after;
}

static void history(cl_store_t *s, const cl_store_history_q_t *q, hist_t *h)
{
    size_t stop = h->stop_after;
    memset(h, 0, sizeof *h);
    h->stop_after = stop;
    cl_error_t err = {{0}};
    if (cl_store_history_query(s, q, on_hist, h, &err) < 0) fail_msg("history: %s", err.msg);
}

/* The jobs (job*10 + incarnation) a history gave, in order, as a string: "11 21 32". */
static const char *hist_ids(const hist_t *h)
{
    static char out[512];
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < h->n; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, "%s%" PRIu64, i ? " " : "",
                               h->r[i].job * 10 + h->r[i].inc);
    return out;
}

typedef struct sums {
    char text[512]; /* "key:gpu_s/runs key:gpu_s/runs" */
    size_t n;
    double energy, flops;
} sums_t;

static int on_sum(const cl_store_sum_t *r, void *arg)
{
    sums_t *s = arg;
    size_t at = strlen(s->text);
    snprintf(s->text + at, sizeof s->text - at, "%s%s:%g/%" PRIu64, s->n ? " " : "", r->key,
             r->gpu_s, r->runs);
    s->n++;
    s->energy += r->energy_j;
    s->flops += r->flops;
    return 0;
}

static const char *usage_by(cl_store_t *s, cl_store_by_t by, double since, double until,
                            const char *tenant, const char *user, sums_t *out)
{
    memset(out, 0, sizeof *out);
    cl_store_usage_q_t q = {by, since, until, tenant, user};
    cl_error_t err = {{0}};
    if (cl_store_usage_query(s, &q, on_sum, out, &err) < 0) fail_msg("usage: %s", err.msg);
    return out->text;
}

typedef struct audits {
    char text[1024]; /* "op@time by who ok|refused" ... */
    size_t n;
} audits_t;

static int on_audit(const cl_store_audit_t *a, void *arg)
{
    audits_t *x = arg;
    size_t at = strlen(x->text);
    snprintf(x->text + at, sizeof x->text - at, "%s%s@%g:%s:%s:%s:%s", x->n ? " " : "", a->op,
             a->time, a->who, a->target, a->detail, a->ok ? "ok" : "refused");
    x->n++;
    return 0;
}

static const char *audit_q(cl_store_t *s, double since, double until, const char *who,
                           uint32_t limit, audits_t *x)
{
    memset(x, 0, sizeof *x);
    cl_store_audit_q_t q = {since, until, who, limit};
    cl_error_t err = {{0}};
    if (cl_store_audit_query(s, &q, on_audit, x, &err) < 0) fail_msg("audit: %s", err.msg);
    return x->text;
}

typedef struct objs {
    char text[512]; /* "kind/key=len:hex ..." */
    size_t n;
    int stop_after;
} objs_t;

static int on_obj(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    objs_t *o = arg;
    assert_non_null(val); /* an existing object, empty or not, has a value */
    size_t at = strlen(o->text);
    at += (size_t)snprintf(o->text + at, sizeof o->text - at, "%s%s/%s=%zu:", o->n ? " " : "",
                           kind, key, len);
    for (size_t i = 0; i < len && at < sizeof o->text - 3; i++)
        at += (size_t)snprintf(o->text + at, sizeof o->text - at, "%02x",
                               ((const uint8_t *)val)[i]);
    o->n++;
    return o->stop_after && (int)o->n >= o->stop_after;
}

static const char *objs_of(cl_store_t *s, const char *kind, objs_t *o)
{
    int stop = o->stop_after;
    memset(o, 0, sizeof *o);
    o->stop_after = stop;
    cl_error_t err = {{0}};
    if (cl_store_objs_load(s, kind, on_obj, o, &err) < 0) fail_msg("objs: %s", err.msg);
    return o->text;
}

/* ---- service objects ---- */

/* The last put of a (kind, key) in a batch wins; kinds keep keys apart; values are bytes
 * (NULs, an empty one); objs_load gives them by kind then key, of one kind or all; they
 * survive a reopen. */
static void test_objs_last_write_wins(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_obj(b, "tenant", "b", "\x01\x00\x02", 3);
    cl_store_batch_obj(b, "tenant", "a", "old", 3);
    cl_store_batch_obj(b, "user", "a", "", 0); /* empty, not a delete */
    cl_store_batch_obj(b, "tenant", "a", "\xff", 1);
    cl_store_batch_obj(b, "qos", "normal", "q", 1);
    assert_int_equal(cl_store_batch_size(b), 4);
    assert_int_equal(cl_store_batch_puts(b), 5);
    commit_ok(s, b);
    for (int pass = 0; pass < 2; pass++) {
        objs_t o = {0};
        assert_string_equal(objs_of(s, NULL, &o),
                            "qos/normal=1:71 tenant/a=1:ff tenant/b=3:010002 user/a=0:");
        assert_string_equal(objs_of(s, "tenant", &o), "tenant/a=1:ff tenant/b=3:010002");
        assert_string_equal(objs_of(s, "token", &o), "");
        o.stop_after = 2;
        assert_string_equal(objs_of(s, NULL, &o), "qos/normal=1:71 tenant/a=1:ff");
        cl_store_close(s);
        s = store_open();
    }
    /* a later batch replaces a committed value */
    cl_store_batch_clear(b);
    cl_store_batch_obj(b, "tenant", "b", "new", 3);
    commit_ok(s, b);
    objs_t o = {0};
    assert_string_equal(objs_of(s, "tenant", &o), "tenant/a=1:ff tenant/b=3:6e6577");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* val NULL deletes: a committed object, one put earlier in the same batch, one that does not
 * exist (no error); a put after a delete in one batch stands. */
static void test_objs_delete(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_obj(b, "token", "t1", "x", 1);
    cl_store_batch_obj(b, "token", "t2", "y", 1);
    cl_store_batch_obj(b, "token", "t3", "z", 1);
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_obj(b, "token", "t1", NULL, 0);    /* committed: deleted */
    cl_store_batch_obj(b, "token", "t4", "w", 1);     /* put, then */
    cl_store_batch_obj(b, "token", "t4", NULL, 7);    /* deleted in the same batch */
    cl_store_batch_obj(b, "token", "never", NULL, 0); /* no such object */
    cl_store_batch_obj(b, "token", "t2", NULL, 0);    /* deleted, then */
    cl_store_batch_obj(b, "token", "t2", "back", 4);  /* put again */
    cl_store_batch_obj(b, "tenant", "t3", NULL, 0);   /* another kind's key */
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    objs_t o = {0};
    assert_string_equal(objs_of(s, NULL, &o), "token/t2=4:6261636b token/t3=1:7a");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- usage records and rollups ---- */

/* Every field of a usage record reads back from the history; NULL strings read as "". */
static void test_usage_roundtrip(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_usage_t u = mkusage(7, 3, "équipe", "ünal", 1700000099.75, 123.5);
    cl_store_batch_usage(b, &u);
    cl_store_batch_usage(b, &(cl_store_usage_t){.job = 8, .incarnation = 1, .end = 5});
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_int_equal(h.n, 2);
    const cl_store_usage_t *g = &h.first;
    assert_int_equal(g->job, 7);
    assert_int_equal(g->incarnation, 3);
    assert_string_equal(h.first_name, u.name);
    assert_string_equal(h.r[0].tenant, "équipe");
    assert_string_equal(h.r[0].user, "ünal");
    assert_string_equal(h.first_nodes, "gpu-1,gpu-2");
    assert_string_equal(h.r[0].ended, "succeeded");
    assert_string_equal(h.first_reason, u.reason);
    assert_int_equal(g->gpus, 16);
    assert_true(g->start == u.start && g->end == u.end);
    assert_true(g->gpu_s == 123.5 && g->energy_j == 247 && g->flops == 370.5);
    assert_int_equal(g->exit_code, -9);
    assert_true(g->has_exit);
    assert_int_equal(h.r[1].job, 8);
    assert_string_equal(h.r[1].tenant, "");
    assert_string_equal(h.r[1].ended, "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A second record of one (job, incarnation), in the same batch or a later one, is ignored:
 * the first stays, and the rollups count the run once. */
static void test_usage_duplicates_ignored(void **st)
{
    cl_store_t *s = store_open();
    double day = utc(2026, 3, 10, 12, 0, 0);
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_usage_t u = mkusage(1, 1, "A", "u1", day, 100);
    cl_store_batch_usage(b, &u);
    u.gpu_s = 999; /* the same run again, in the same batch */
    cl_store_batch_usage(b, &u);
    cl_store_usage_t u2 = mkusage(1, 2, "A", "u1", day + 1, 10); /* the next incarnation */
    cl_store_batch_usage(b, &u2);
    assert_int_equal(cl_store_batch_size(b), 3); /* appended: the store tells them apart */
    commit_ok(s, b);
    cl_store_batch_clear(b);
    u.gpu_s = 555; /* and in a later batch, next to a new record */
    cl_store_batch_usage(b, &u);
    cl_store_batch_usage(
        b,
        &(cl_store_usage_t){
            .job = 2, .incarnation = 1, .tenant = "A", .user = "u1", .end = day, .gpu_s = 1});
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    sums_t x;
    assert_string_equal(usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, NULL, &x), "A:111/3");
    assert_true(x.energy == 220 && x.flops == 330);
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_string_equal(hist_ids(&h), "12 21 11");          /* ties: the later written first */
    assert_true(h.r[0].gpu_s == 10 && h.r[2].gpu_s == 100); /* the first record stayed */
    history(s, &(cl_store_history_q_t){.until = day + 0.5, .tenant = "A"}, &h);
    assert_int_equal(h.n, 2);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* One commit of 200 runs over 40 (tenant, user) keys, each key's runs spread through the batch
 * (a store may sum a commit's rollup shares before it writes them: more keys than it holds at
 * once, and the same key before and after that): every sum and count exact. */
static void test_rollups_many_keys_one_commit(void **st)
{
    cl_store_t *s = store_open();
    double day = utc(2026, 5, 1, 8, 0, 0);
    cl_store_batch_t *b = cl_store_batch_new();
    char tenants[40][16], users[40][16];
    for (int k = 0; k < 40; k++) {
        snprintf(tenants[k], sizeof tenants[k], "T%02d", k % 20);
        snprintf(users[k], sizeof users[k], "u%02d", k);
    }
    for (int i = 0; i < 200; i++) {
        int k = (i * 7) % 40;
        cl_store_usage_t u = mkusage((uint64_t)i + 1, 1, tenants[k], users[k], day + i, k + 1);
        cl_store_batch_usage(b, &u);
    }
    commit_ok(s, b);
    sums_t x;
    usage_by(s, CL_STORE_BY_USER, 0, 0, NULL, NULL, &x);
    assert_int_equal(x.n, 40);
    for (int k = 0; k < 40; k++) {
        char want[64];
        snprintf(want, sizeof want, "%.15s:%d/5", users[k], 5 * (k + 1));
        assert_non_null(strstr(x.text, want));
    }
    usage_by(s, CL_STORE_BY_TENANT, 0, 0, "T03", NULL, &x); /* users 3 and 23 */
    assert_string_equal(x.text, "T03:140/10");
    usage_by(s, CL_STORE_BY_DAY, 0, 0, NULL, NULL, &x);
    assert_string_equal(x.text, "2026-05-01:4100/200");
    assert_true(x.energy == 8200 && x.flops == 12300);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* Rollups per (UTC day, tenant, user): a run counts, all of it, on the day it ended (one that
 * started three days before too); 23:59:59.5 and 00:00:00 fall on two days; months group by
 * YYYY-MM; since and until select whole days (every day that overlaps [since, until)). */
static void test_rollups_day_boundaries(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_usage_t us[] = {
        mkusage(1, 1, "A", "u1", utc(2026, 1, 30, 23, 59, 59.5), 10),
        mkusage(2, 1, "A", "u1", utc(2026, 1, 31, 0, 0, 0), 20),
        mkusage(3, 1, "A", "u2", utc(2026, 1, 31, 23, 59, 59), 40),
        mkusage(4, 1, "B", "u1", utc(2026, 2, 1, 0, 0, 0.25), 80),
        mkusage(5, 1, "B", "u3", utc(2026, 2, 1, 12, 0, 0), 160),
    };
    us[1].start = utc(2026, 1, 28, 0, 0, 0);
    for (size_t i = 0; i < 5; i++) {
        cl_store_batch_usage(b, &us[i]);
        if (i == 2) { /* two commits: the second adds to rows the first made */
            commit_ok(s, b);
            cl_store_batch_clear(b);
        }
    }
    commit_ok(s, b);
    sums_t x;
    assert_string_equal(usage_by(s, CL_STORE_BY_DAY, 0, 0, NULL, NULL, &x),
                        "2026-01-30:10/1 2026-01-31:60/2 2026-02-01:240/2");
    assert_true(x.energy == 620 && x.flops == 930);
    assert_string_equal(usage_by(s, CL_STORE_BY_MONTH, 0, 0, NULL, NULL, &x),
                        "2026-01:70/3 2026-02:240/2");
    assert_string_equal(usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, NULL, &x),
                        "A:70/3 B:240/2");
    assert_string_equal(usage_by(s, CL_STORE_BY_USER, 0, 0, NULL, NULL, &x),
                        "u1:110/3 u2:40/1 u3:160/1");
    /* since in the middle of the 31st: all of the 31st */
    assert_string_equal(
        usage_by(s, CL_STORE_BY_DAY, utc(2026, 1, 31, 12, 0, 0), 0, NULL, NULL, &x),
        "2026-01-31:60/2 2026-02-01:240/2");
    /* until at midnight: not the day that starts there; a second later: all of it */
    assert_string_equal(
        usage_by(s, CL_STORE_BY_DAY, 0, utc(2026, 2, 1, 0, 0, 0), NULL, NULL, &x),
        "2026-01-30:10/1 2026-01-31:60/2");
    assert_string_equal(
        usage_by(s, CL_STORE_BY_MONTH, 0, utc(2026, 2, 1, 0, 0, 1), NULL, NULL, &x),
        "2026-01:70/3 2026-02:240/2");
    assert_string_equal(usage_by(s, CL_STORE_BY_TENANT, utc(2026, 1, 31, 0, 0, 0),
                                 utc(2026, 1, 31, 0, 0, 1), NULL, NULL, &x),
                        "A:60/2");
    /* filters */
    assert_string_equal(usage_by(s, CL_STORE_BY_DAY, 0, 0, "B", NULL, &x), "2026-02-01:240/2");
    assert_string_equal(usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, "u1", &x), "A:30/2 B:80/1");
    assert_string_equal(usage_by(s, CL_STORE_BY_USER, 0, 0, "A", "u2", &x), "u2:40/1");
    assert_string_equal(usage_by(s, CL_STORE_BY_USER, 0, 0, "C", "", &x), "");
    cl_store_usage_q_t bad = {.by = (cl_store_by_t)9};
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_usage_query(s, &bad, on_sum, &x, &err), -1);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* History: end in [since, until), tenant, user, ended state, any mix; newest first (ties in
 * the order written, the later first); a limit; a callback that stops. */
static void test_history_filters(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    static const struct {
        uint64_t job;
        const char *tenant, *user, *ended;
        double end;
    } rs[] = {
        {1, "A", "u1", "succeeded", 100}, {2, "A", "u2", "failed", 200},
        {3, "B", "u1", "failed", 300},    {4, "B", "u3", "timeout", 400},
        {5, "A", "u1", "cancelled", 400}, {6, "A", "u1", "failed", 500},
    };
    for (size_t i = 0; i < 6; i++) {
        cl_store_usage_t u = mkusage(rs[i].job, 1, rs[i].tenant, rs[i].user, rs[i].end, 1);
        u.ended = rs[i].ended;
        cl_store_batch_usage(b, &u);
    }
    commit_ok(s, b);
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_string_equal(hist_ids(&h), "61 51 41 31 21 11");
    history(s, &(cl_store_history_q_t){.since = 200, .until = 400}, &h);
    assert_string_equal(hist_ids(&h), "31 21");
    history(s, &(cl_store_history_q_t){.since = 400}, &h);
    assert_string_equal(hist_ids(&h), "61 51 41");
    history(s, &(cl_store_history_q_t){.tenant = "A"}, &h);
    assert_string_equal(hist_ids(&h), "61 51 21 11");
    history(s, &(cl_store_history_q_t){.user = "u1"}, &h);
    assert_string_equal(hist_ids(&h), "61 51 31 11");
    history(s, &(cl_store_history_q_t){.ended = "failed"}, &h);
    assert_string_equal(hist_ids(&h), "61 31 21");
    history(s, &(cl_store_history_q_t){.tenant = "A", .user = "u1", .ended = "failed"}, &h);
    assert_string_equal(hist_ids(&h), "61");
    history(s, &(cl_store_history_q_t){.until = 500, .user = "u1", .limit = 2}, &h);
    assert_string_equal(hist_ids(&h), "51 31");
    history(s, &(cl_store_history_q_t){.tenant = "", .user = "", .ended = "", .limit = 1}, &h);
    assert_string_equal(hist_ids(&h), "61");
    history(s, &(cl_store_history_q_t){.tenant = "C"}, &h);
    assert_int_equal(h.n, 0);
    h.stop_after = 3;
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_string_equal(hist_ids(&h), "61 51 41");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* History of one job: its runs (every incarnation, newest first), none of another job's (a
 * neighbour of the key's range on either side, one ending between its runs), with the other
 * filters too; a job with no runs gives none. */
static void test_history_job(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    static const struct {
        uint64_t job;
        uint32_t inc;
        const char *tenant, *ended;
        double end;
    } rs[] = {
        {1, 1, "A", "succeeded", 100}, {2, 1, "A", "node_fail", 150},
        {3, 1, "B", "failed", 250},    {2, 2, "A", "requeued", 200},
        {2, 3, "A", "succeeded", 300}, {4, 1, "A", "failed", 400},
        {20, 1, "A", "failed", 500},
    };
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        cl_store_usage_t u = mkusage(rs[i].job, rs[i].inc, rs[i].tenant, "u1", rs[i].end, 1);
        u.ended = rs[i].ended;
        cl_store_batch_usage(b, &u);
    }
    commit_ok(s, b);
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){.job = 2}, &h);
    assert_string_equal(hist_ids(&h), "23 22 21");
    assert_string_equal(h.r[1].ended, "requeued");
    history(s, &(cl_store_history_q_t){.job = 2, .tenant = "A", .user = "u1"}, &h);
    assert_string_equal(hist_ids(&h), "23 22 21");
    history(s, &(cl_store_history_q_t){.job = 2, .tenant = "B"}, &h);
    assert_int_equal(h.n, 0);
    history(s, &(cl_store_history_q_t){.job = 2, .since = 150, .until = 300}, &h);
    assert_string_equal(hist_ids(&h), "22 21");
    history(s, &(cl_store_history_q_t){.job = 2, .ended = "succeeded"}, &h);
    assert_string_equal(hist_ids(&h), "23");
    history(s, &(cl_store_history_q_t){.job = 2, .limit = 1}, &h);
    assert_string_equal(hist_ids(&h), "23");
    history(s, &(cl_store_history_q_t){.job = 3}, &h);
    assert_string_equal(hist_ids(&h), "31");
    history(s, &(cl_store_history_q_t){.job = 5}, &h);
    assert_int_equal(h.n, 0);
    history(s, &(cl_store_history_q_t){0}, &h); /* 0: every job */
    assert_int_equal(h.n, 7);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- audit ---- */

static void test_audit_query(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_audit(b, &(cl_store_audit_t){10, "alice", "submit", "job 1", "", true});
    cl_store_batch_audit(b,
                         &(cl_store_audit_t){20, "bob", "cancel", "job 1", "not yours", false});
    cl_store_batch_audit(b, &(cl_store_audit_t){.time = 30, .who = "admin", .op = "drain"});
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_audit(b, &(cl_store_audit_t){30, "alice", "token create", "t-9", "é", true});
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    audits_t x;
    assert_string_equal(audit_q(s, 0, 0, NULL, 0, &x),
                        "token create@30:alice:t-9:é:ok drain@30:admin:::refused "
                        "cancel@20:bob:job 1:not yours:refused submit@10:alice:job 1::ok");
    assert_string_equal(audit_q(s, 20, 0, NULL, 0, &x),
                        "token create@30:alice:t-9:é:ok drain@30:admin:::refused "
                        "cancel@20:bob:job 1:not yours:refused");
    assert_string_equal(audit_q(s, 0, 30, "", 0, &x),
                        "cancel@20:bob:job 1:not yours:refused submit@10:alice:job 1::ok");
    assert_string_equal(audit_q(s, 0, 0, "alice", 0, &x),
                        "token create@30:alice:t-9:é:ok submit@10:alice:job 1::ok");
    assert_string_equal(audit_q(s, 0, 0, NULL, 2, &x),
                        "token create@30:alice:t-9:é:ok drain@30:admin:::refused");
    assert_string_equal(audit_q(s, 11, 0, "alice", 1, &x), "token create@30:alice:t-9:é:ok");
    assert_string_equal(audit_q(s, 0, 0, "carol", 0, &x), "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- all or nothing, with the new records ---- */

/* What a batch of every kind leaves (or, failed, must not). */
static cl_store_batch_t *every_kind(void)
{
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_job_t j;
    mkjob(&j, 5, CL_JOB_SUCCEEDED);
    cl_store_batch_job(b, &j);
    cl_store_batch_obj(b, "tenant", "new", "v", 1);
    cl_store_batch_obj(b, "tenant", "old", NULL, 0);
    cl_store_usage_t u = mkusage(5, 1, "A", "u1", 5000, 50);
    cl_store_batch_usage(b, &u);
    cl_store_batch_audit(b, &(cl_store_audit_t){5000, "alice", "submit", "job 5", "", true});
    cl_store_batch_prune(b, 0, 0, 150); /* the audit record at 100 */
    return b;
}

static void commit_before(cl_store_t *s)
{
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_obj(b, "tenant", "old", "o", 1);
    cl_store_usage_t u = mkusage(1, 1, "A", "u1", 100, 7);
    cl_store_batch_usage(b, &u);
    cl_store_batch_audit(b, &(cl_store_audit_t){100, "root", "up", "", "", true});
    commit_ok(s, b);
    cl_store_batch_free(b);
}

/* after: the batch from every_kind() is in; else only commit_before()'s state */
static void assert_every_kind(cl_store_t *s, bool after)
{
    got_job_t g = {0};
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_job_get(s, 5, on_got, &g, &err), after);
    got_free(&g);
    objs_t o = {0};
    assert_string_equal(objs_of(s, NULL, &o), after ? "tenant/new=1:76" : "tenant/old=1:6f");
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_string_equal(hist_ids(&h), after ? "51 11" : "11");
    sums_t x;
    assert_string_equal(usage_by(s, CL_STORE_BY_USER, 0, 0, NULL, NULL, &x),
                        after ? "u1:57/2" : "u1:7/1");
    audits_t a;
    assert_string_equal(audit_q(s, 0, 0, NULL, 0, &a),
                        after ? "submit@5000:alice:job 5::ok" : "up@100:root:::ok");
}

/* An injected commit failure leaves nothing of a batch: not its objects (puts or deletes),
 * usage records, rollups, audit records or prune; the same batch commits after. */
static void test_failed_commit_leaves_no_record(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(store_open());
    commit_before(s);
    cl_store_batch_t *b = every_kind();
    cl_store_fault_fail(s, 1, 1, "disk full");
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_string_equal(err.msg, "store: injected fault: disk full");
    assert_int_equal(s->pruned_audit, 0);
    assert_every_kind(s, false);
    commit_ok(s, b);
    assert_every_kind(s, true);
    assert_int_equal(s->pruned_audit, 1);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A batch the backend refuses at its last record (an audit record without who) leaves none
 * of what it wrote before in that transaction (a job, objects, a usage record and its rollup,
 * an audit record); the error names the record. */
static void test_failed_commit_midway_records(void **st)
{
    cl_store_t *s = store_open();
    commit_before(s);
    cl_store_batch_t *b = every_kind();
    cl_store_batch_audit(b, &(cl_store_audit_t){.time = 6000, .op = "cancel"});
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_non_null(strstr(err.msg, "audit record cancel by (nobody)"));
    assert_every_kind(s, false);
    cl_store_close(s);
    s = store_open();
    assert_every_kind(s, false);
    cl_store_batch_free(b);
    b = every_kind();
    commit_ok(s, b); /* without the bad record; its usage counted once */
    assert_every_kind(s, true);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- retention ---- */

static void put_job_at(cl_store_batch_t *b, uint64_t id, int state, double end)
{
    cl_store_job_t j;
    mkjob(&j, id, state);
    j.end_time = end;
    cl_store_batch_job(b, &j);
}

static int on_id(const cl_store_job_t *j, void *arg)
{
    ids_append(arg, j->id);
    return 0;
}

static const char *ids_loaded(cl_store_t *s, double finished_since, char out[256])
{
    out[0] = 0;
    cl_error_t err = {{0}};
    if (cl_store_load(s, finished_since, on_id, NULL, out, &err) < 0)
        fail_msg("load: %s", err.msg);
    return out;
}

static int on_nothing(const cl_store_job_t *j, void *arg)
{
    return 0;
}

/* 1: job_get finds the job; 0: it does not */
static int job_found(cl_store_t *s, uint64_t id)
{
    cl_error_t err = {{0}};
    int rc = cl_store_job_get(s, id, on_nothing, NULL, &err);
    if (rc < 0) fail_msg("job_get: %s", err.msg);
    return rc;
}

static int on_node_name(const cl_store_node_t *n, void *arg)
{
    char *out = arg;
    size_t at = strlen(out);
    snprintf(out + at, 256 - at, "%s%s", at ? " " : "", n->name);
    return 0;
}

static uint64_t id_max(cl_store_t *s)
{
    uint64_t id = 77;
    cl_error_t err = {{0}};
    if (cl_store_job_id_max(s, &id, &err) < 0) fail_msg("job_id_max: %s", err.msg);
    return id;
}

/* A prune deletes finished jobs that ended before its cut (not pending or running ones,
 * whatever their end_time), usage records that ended before and audit records from before
 * theirs (a commit's run of records by one who as a whole, when its newest is); the rollups
 * stay; a cut of 0 keeps that kind; the highest job id is kept. */
static void test_prune(void **st)
{
    cl_store_t *s = store_open();
    assert_int_equal(id_max(s), 0);
    cl_store_batch_t *b = cl_store_batch_new();
    put_job_at(b, 1, CL_JOB_SUCCEEDED, 100);
    put_job_at(b, 2, CL_JOB_FAILED, 200);
    put_job_at(b, 3, CL_JOB_CANCELLED, 999.5);
    put_job_at(b, 4, CL_JOB_SUCCEEDED, 1000); /* at the cut: stays */
    put_job_at(b, 5, CL_JOB_PENDING, 0);
    put_job_at(b, 6, CL_JOB_RUNNING, 0);
    put_job_at(b, 7, CL_JOB_PENDING, 50);   /* requeued: an old end_time, still live */
    put_job_at(b, 9, CL_JOB_SUCCEEDED, 10); /* the highest id, pruned */
    double ends[] = {500, 999, 1000, 2000};
    for (uint64_t i = 0; i < 4; i++) {
        cl_store_usage_t u = mkusage(i + 1, 1, i % 2 ? "B" : "A", "u", ends[i], 10.0 * (i + 1));
        cl_store_batch_usage(b, &u);
    }
    cl_store_batch_audit(b, &(cl_store_audit_t){10, "a", "x", "", "", true});
    cl_store_batch_audit(b, &(cl_store_audit_t){20, "a", "y", "", "", true});
    commit_ok(s, b);
    /* the prune takes whole groups (one commit's run of records by one who): these two stay
     * with their newest, which is past the cut */
    cl_store_batch_clear(b);
    cl_store_batch_audit(b, &(cl_store_audit_t){60, "b", "v", "", "", true});
    cl_store_batch_audit(b, &(cl_store_audit_t){150, "b", "w", "", "", true});
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_audit(b, &(cl_store_audit_t){3000, "a", "z", "", "", true});
    commit_ok(s, b);
    assert_int_equal(id_max(s), 9);
    sums_t before, after;
    usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, NULL, &before);
    assert_string_equal(before.text, "A:40/2 B:60/2");
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 0, 0, 0); /* keeps everything, commits all the same */
    assert_int_equal(cl_store_batch_size(b), 1);
    commit_ok(s, b);
    char ids[256];
    assert_string_equal(ids_loaded(s, 0, ids), "1 2 3 4 5 6 7 9");
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 1000, 1000, 100);
    commit_ok(s, b);
    assert_int_equal(s->pruned_jobs, 4);
    assert_int_equal(s->pruned_usage, 2);
    assert_int_equal(s->pruned_audit, 2);
    assert_false(s->prune_more);
    cl_store_close(s);
    s = store_open();
    assert_string_equal(ids_loaded(s, 0, ids), "4 5 6 7");
    assert_int_equal(job_found(s, 1), 0);
    assert_int_equal(id_max(s), 9); /* the next job is 10, as before the prune */
    hist_t h = {0};
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_string_equal(hist_ids(&h), "41 31");
    audits_t x;
    assert_string_equal(audit_q(s, 0, 0, NULL, 0, &x),
                        "z@3000:a:::ok w@150:b:::ok v@60:b:::ok");
    usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, NULL, &after);
    assert_string_equal(after.text, before.text); /* from the rollups */
    /* only usage records, all of them: the rollups still answer */
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 0, 1e12, 0);
    commit_ok(s, b);
    history(s, &(cl_store_history_q_t){0}, &h);
    assert_int_equal(h.n, 0);
    assert_string_equal(ids_loaded(s, 0, ids), "4 5 6 7");
    usage_by(s, CL_STORE_BY_TENANT, 0, 0, NULL, NULL, &after);
    assert_string_equal(after.text, before.text);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A prune stops at CL_STORE_PRUNE_MAX rows of a kind per commit (audit: groups, here of one
 * record each, as who alternates), oldest first, and says there is more; the next commit that
 * prunes goes on. */
static void test_prune_bounded(void **st)
{
    enum { N = CL_STORE_PRUNE_MAX + 5 };
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    for (int i = 0; i < N; i++)
        cl_store_batch_audit(b,
                             &(cl_store_audit_t){N - i, i % 2 ? "b" : "a", "op", "", "", true});
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 0, 0, 1e12);
    commit_ok(s, b);
    assert_int_equal(s->pruned_audit, CL_STORE_PRUNE_MAX);
    assert_true(s->prune_more);
    audits_t x, want = {0};
    for (int t = N; t > CL_STORE_PRUNE_MAX; t--) /* the newest stay */
        on_audit(&(cl_store_audit_t){t, (N - t) % 2 ? "b" : "a", "op", "", "", true}, &want);
    assert_string_equal(audit_q(s, 0, 0, NULL, 0, &x), want.text);
    assert_int_equal(x.n, 5);
    commit_ok(s, b);
    assert_int_equal(s->pruned_audit, N);
    assert_false(s->prune_more);
    assert_string_equal(audit_q(s, 0, 0, NULL, 0, &x), "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- a controller start ---- */

/* load(finished_since): every job that is not finished (any end_time, any other state), and
 * the finished ones that ended at or after it, in id order; job_get still finds the others. */
static void test_load_finished_since(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    put_job_at(b, 7, CL_JOB_SUCCEEDED, 5000);
    put_job_at(b, 1, CL_JOB_PENDING, 0);
    put_job_at(b, 2, CL_JOB_RUNNING, 0);
    put_job_at(b, 3, CL_JOB_SUCCEEDED, 100);
    put_job_at(b, 4, CL_JOB_FAILED, 5000);
    put_job_at(b, 5, CL_JOB_CANCELLED, 4999.9);
    put_job_at(b, 6, CL_JOB_PENDING, 100);
    put_job_at(b, 8, 7, 1); /* a state this store does not know is not finished */
    cl_store_batch_node(b, &(cl_store_node_t){.id = 0, .name = "n0"});
    commit_ok(s, b);
    char ids[256];
    assert_string_equal(ids_loaded(s, 5000, ids), "1 2 4 6 7 8");
    assert_string_equal(ids_loaded(s, 0, ids), "1 2 3 4 5 6 7 8");
    assert_string_equal(ids_loaded(s, 1e12, ids), "1 2 6 8");
    assert_int_equal(job_found(s, 3), 1);
    assert_int_equal(job_found(s, 5), 1);
    assert_int_equal(id_max(s), 8);
    char nodes[256] = "";
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_load(s, 5000, NULL, on_node_name, nodes, &err), 0);
    assert_string_equal(nodes, "n0");
    cl_store_batch_free(b);
    cl_store_close(s);
}

static const struct CMUnitTest cases[] = {
    CASE(test_objs_last_write_wins),
    CASE(test_objs_delete),
    CASE(test_usage_roundtrip),
    CASE(test_usage_duplicates_ignored),
    CASE(test_rollups_day_boundaries),
    CASE(test_rollups_many_keys_one_commit),
    CASE(test_history_filters),
    CASE(test_history_job),
    CASE(test_audit_query),
    CASE(test_failed_commit_leaves_no_record),
    CASE(test_failed_commit_midway_records),
    CASE(test_prune),
    CASE(test_prune_bounded),
    CASE(test_load_finished_since),
};

int main(void)
{
    return run_backends(cases, sizeof cases / sizeof cases[0]);
}
