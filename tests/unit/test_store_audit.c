/* test_store_audit.c - the store conformance suite's audit cases beyond test_store_acct.c: the
 * log as groups (one commit's run of records by one who), their order, limits and bounds
 * across and inside groups, what a field may hold, and a prune's count of records, over every
 * backend (store_conformance.h). */
#include <math.h>

#include "store_conformance.h"
#include "util/util.h"

typedef struct seen {
    char text[4096]; /* "who@time" ... */
    size_t n;
} seen_t;

static int on_seen(const cl_store_audit_t *a, void *arg)
{
    seen_t *x = arg;
    size_t at = strlen(x->text);
    snprintf(x->text + at, sizeof x->text - at, "%s%s@%g", x->n ? " " : "", a->who, a->time);
    x->n++;
    return 0;
}

static const char *seen(cl_store_t *s, double since, double until, const char *who,
                        uint32_t limit, seen_t *x)
{
    memset(x, 0, sizeof *x);
    cl_store_audit_q_t q = {since, until, who, limit};
    cl_error_t err = {{0}};
    if (cl_store_audit_query(s, &q, on_seen, x, &err) < 0) fail_msg("audit: %s", err.msg);
    return x->text;
}

static void put(cl_store_batch_t *b, double t, const char *who)
{
    cl_store_batch_audit(b, &(cl_store_audit_t){t, who, "submit", "job", "", true});
}

/* One commit: alice at 100..109, bob at 105.5, alice at 110..112 (three groups); a second:
 * bob at 200. Groups come newest first by their newest record, each group's records newest
 * first, so bob's 105.5 (a group whose newest is older than alice's 109) comes after alice's
 * first run; limits count records across groups; since and until cut inside a group. */
static void test_audit_groups_interleaved(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    for (int t = 100; t < 110; t++)
        put(b, t, "alice");
    put(b, 105.5, "bob");
    for (int t = 110; t < 113; t++)
        put(b, t, "alice");
    commit_ok(s, b);
    cl_store_batch_clear(b);
    put(b, 200, "bob");
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    seen_t x;
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x),
                        "bob@200 alice@112 alice@111 alice@110 alice@109 alice@108 alice@107 "
                        "alice@106 alice@105 alice@104 alice@103 alice@102 alice@101 "
                        "alice@100 bob@105.5");
    assert_string_equal(seen(s, 0, 0, NULL, 5, &x),
                        "bob@200 alice@112 alice@111 alice@110 alice@109");
    assert_string_equal(seen(s, 0, 0, "alice", 4, &x),
                        "alice@112 alice@111 alice@110 alice@109");
    assert_string_equal(seen(s, 0, 0, "bob", 0, &x), "bob@200 bob@105.5");
    assert_string_equal(seen(s, 103, 111, NULL, 0, &x),
                        "alice@110 alice@109 alice@108 alice@107 alice@106 alice@105 "
                        "alice@104 alice@103 bob@105.5");
    assert_string_equal(seen(s, 103, 111, "alice", 3, &x), "alice@110 alice@109 alice@108");
    assert_string_equal(seen(s, 106, 0, "bob", 0, &x), "bob@200");
    assert_string_equal(seen(s, 112.5, 200, NULL, 0, &x), "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

static int on_op(const cl_store_audit_t *a, void *arg)
{
    strcat(arg, a->op);
    strcat(arg, " ");
    return 0;
}

/* Inside a group, records come newest first whatever their put order (a clock that stepped
 * back), and of equal times the later put first. */
static void test_audit_group_order(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    put(b, 30, "a");
    put(b, 10, "a");
    put(b, 20, "a");
    cl_store_batch_audit(b, &(cl_store_audit_t){5, "a", "first", "", "", true});
    cl_store_batch_audit(b, &(cl_store_audit_t){5, "a", "second", "", "", true});
    commit_ok(s, b);
    seen_t x;
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), "a@30 a@20 a@10 a@5 a@5");
    assert_string_equal(seen(s, 15, 0, NULL, 0, &x), "a@30 a@20");
    assert_string_equal(seen(s, 0, 20, NULL, 0, &x), "a@10 a@5 a@5");
    char ops[64] = "";
    cl_error_t err = {{0}};
    assert_int_equal(
        cl_store_audit_query(s, &(cl_store_audit_q_t){.until = 6}, on_op, ops, &err), 0);
    assert_string_equal(ops, "second first ");
    cl_store_batch_free(b);
    cl_store_close(s);
}

typedef struct recs {
    cl_store_audit_t a[8];
    char *mem[8][4];
    size_t n;
} recs_t;

static int on_rec(const cl_store_audit_t *a, void *arg)
{
    recs_t *g = arg;
    if (g->n == 8) return 1;
    g->a[g->n] = *a;
    const char *f[4] = {a->who, a->op, a->target, a->detail};
    for (int i = 0; i < 4; i++)
        g->mem[g->n][i] = cl_xstrdup(f[i]);
    g->a[g->n].who = g->mem[g->n][0];
    g->a[g->n].op = g->mem[g->n][1];
    g->a[g->n].target = g->mem[g->n][2];
    g->a[g->n].detail = g->mem[g->n][3];
    g->n++;
    return 0;
}

static void recs_free(recs_t *g)
{
    for (size_t k = 0; k < g->n; k++)
        for (int i = 0; i < 4; i++)
            free(g->mem[k][i]);
}

/* Every byte a field may hold comes back: tabs, newlines, CRs and backslashes (also ones that
 * look like an escape, and one at the end), quotes, braces and commas (an array literal's
 * syntax), UTF-8, empty fields; times to the microsecond
 * (the first one's seventh decimal is rounded off). */
static void test_audit_fields_roundtrip(void **st)
{
    static const cl_store_audit_t put_v[] = {
        {1712345678.1234567, "al\tice\n", "op\twith\ttabs", "job\n1\r\n", "\\t is not a tab\\",
         true},
        {1712345678.123456, "模型", "token create", "t-🚀 \"{a,b}\" NULL", "é\\\\n\t\\", false},
        {0.000001, "", "", "", "", true},
        {-5.25, "x", "\\", "\t", "\n", false},
    };
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    for (size_t i = 0; i < 4; i++)
        cl_store_batch_audit(b, &put_v[i]);
    commit_ok(s, b);
    cl_store_close(s);
    s = store_open();
    recs_t g = {0};
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_audit_query(s, &(cl_store_audit_q_t){0}, on_rec, &g, &err), 0);
    assert_int_equal(g.n, 4);
    for (size_t i = 0; i < 4; i++) { /* newest first: put order here */
        const cl_store_audit_t *w = &put_v[i], *a = &g.a[i];
        assert_true(a->time == (double)llround(w->time * 1e6) / 1e6);
        assert_string_equal(a->who, w->who);
        assert_string_equal(a->op, w->op);
        assert_string_equal(a->target, w->target);
        assert_string_equal(a->detail, w->detail);
        assert_int_equal(a->ok, w->ok);
    }
    recs_free(&g);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* Many records of one who in one commit (more text than one group holds) all come back, in
 * order, through several groups. */
static void test_audit_big_run(void **st)
{
    enum { N = 300 };
    char detail[1001];
    memset(detail, 'd', 1000);
    detail[1000] = 0;
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    for (int i = 0; i < N; i++)
        cl_store_batch_audit(b,
                             &(cl_store_audit_t){1000 + i, "one", "submit", "", detail, true});
    commit_ok(s, b);
    seen_t x, want = {0};
    for (int i = N - 1; i >= 0; i--)
        on_seen(&(cl_store_audit_t){.time = 1000 + i, .who = "one"}, &want);
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), want.text);
    assert_int_equal(x.n, N);
    seen(s, 0, 0, "one", 150, &x);
    assert_int_equal(x.n, 150);
    seen(s, 1010, 1290, NULL, 0, &x);
    assert_int_equal(x.n, 280);
    cl_store_batch_clear(b);
    cl_store_batch_prune(b, 0, 0, 1e12);
    commit_ok(s, b);
    assert_int_equal(s->pruned_audit, N);
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A prune counts the records it deleted, not the groups; a group whose newest record is past
 * the cut stays whole; the records of the pruning commit itself are pruned too. */
static void test_audit_prune_counts_records(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    put(b, 10, "a");
    put(b, 11, "a");
    put(b, 12, "a");
    put(b, 13, "b");
    put(b, 14, "a");
    commit_ok(s, b);
    cl_store_batch_clear(b);
    put(b, 90, "c");
    put(b, 110, "c");
    commit_ok(s, b);
    cl_store_batch_clear(b);
    put(b, 20, "d"); /* in the pruning commit, before its cut */
    put(b, 5000, "e");
    cl_store_batch_prune(b, 0, 0, 100);
    commit_ok(s, b);
    assert_int_equal(s->pruned_audit, 6);
    assert_false(s->prune_more);
    seen_t x;
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), "e@5000 c@110 c@90");
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A record whose time is not a number (it could not be ordered) or out of range fails its
 * commit, naming it; nothing of the batch stays. */
static void test_audit_nan_refused(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    put(b, 1, "a");
    put(b, NAN, "a");
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_non_null(strstr(err.msg, "audit record submit by a: its time is not a number"));
    seen_t x;
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), "");
    cl_store_batch_clear(b);
    put(b, 1, "a");
    put(b, 1e13, "a"); /* microseconds past 64 bits' reach */
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_non_null(strstr(err.msg, "audit record submit by a: its time is out of range"));
    assert_string_equal(seen(s, 0, 0, NULL, 0, &x), "");
    cl_store_batch_free(b);
    cl_store_close(s);
}

static const struct CMUnitTest cases[] = {
    CASE(test_audit_groups_interleaved),   CASE(test_audit_group_order),
    CASE(test_audit_fields_roundtrip),     CASE(test_audit_big_run),
    CASE(test_audit_prune_counts_records), CASE(test_audit_nan_refused),
};

int main(void)
{
    return run_backends(cases, sizeof cases / sizeof cases[0]);
}
