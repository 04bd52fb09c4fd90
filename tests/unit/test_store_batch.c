/* test_store_batch.c - batches (store.h): owned copies, the last put of an id or key wins in
 * place, usage and audit records appended, prunes combined, visiting order, clearing for
 * reuse, growth. No backend involved. */
#include "store_helpers.h"
#include "util/util.h"

/* Everything a visit saw, owned. */
typedef struct seen {
    got_job_t jobs[8];
    size_t njobs;
    uint64_t job_ids[32];
    size_t nids;
    uint32_t node_ids[8];
    char node_name[8][16];
    bool reason_null[8];
    size_t nnodes;
    char meta_k[8][32];
    uint64_t meta_v[8];
    size_t nmeta;
    int stop_at; /* return 7 from the stop_at-th callback (1-based; 0: never) */
    int calls;
} seen_t;

static int stop_here(seen_t *s)
{
    return ++s->calls == s->stop_at ? 7 : 0;
}

static int v_job(void *arg, const cl_store_job_t *j)
{
    seen_t *s = arg;
    if (s->njobs < 8) got_set(&s->jobs[s->njobs++], j);
    if (s->nids < 32) s->job_ids[s->nids++] = j->id;
    return stop_here(s);
}

static int v_node(void *arg, const cl_store_node_t *n)
{
    seen_t *s = arg;
    assert_true(s->nnodes < 8);
    s->node_ids[s->nnodes] = n->id;
    snprintf(s->node_name[s->nnodes], sizeof s->node_name[0], "%s", n->name);
    s->reason_null[s->nnodes] = n->reason == NULL;
    s->nnodes++;
    return stop_here(s);
}

static int v_meta(void *arg, const char *k, uint64_t v)
{
    seen_t *s = arg;
    assert_true(s->nmeta < 8);
    snprintf(s->meta_k[s->nmeta], sizeof s->meta_k[0], "%s", k);
    s->meta_v[s->nmeta++] = v;
    return stop_here(s);
}

static const cl_store_visit_t all = {.job = v_job, .node = v_node, .meta = v_meta};

static void seen_free(seen_t *s)
{
    for (size_t i = 0; i < s->njobs; i++)
        got_free(&s->jobs[i]);
}

/* A put copies: what the caller's buffers hold afterwards does not matter. */
static void test_put_copies(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    char name[] = "first", arg0[] = "run", env0[] = "X=1", alloc[] = "n1,n2";
    const char *argv[] = {arg0, ""}, *env[] = {env0};
    cl_store_job_t j, want;
    mkjob(&j, 3, CL_JOB_PENDING);
    j.name = name;
    j.argv = argv;
    j.argc = 2;
    j.env = env;
    j.envc = 1;
    j.alloc = alloc;
    want = j;
    const char *wargv[] = {"run", ""}, *wenv[] = {"X=1"};
    want.name = "first";
    want.argv = wargv;
    want.env = wenv;
    want.alloc = "n1,n2";
    cl_store_batch_job(b, &j);
    memset(name, 'z', sizeof name - 1);
    memset(arg0, 'z', sizeof arg0 - 1);
    memset(env0, 'z', sizeof env0 - 1);
    memset(alloc, 'z', sizeof alloc - 1);
    argv[1] = "changed";
    char nname[] = "gpu-1";
    cl_store_batch_node(b, &(cl_store_node_t){.id = 1, .name = nname});
    nname[0] = 'X';
    char key[] = "health:a";
    cl_store_batch_meta(b, key, 1);
    key[0] = 'X';
    seen_t s = {0};
    assert_int_equal(cl_store_batch_visit(b, &all, &s), 0);
    assert_int_equal(s.njobs, 1);
    assert_job_equal(&s.jobs[0], &want);
    assert_string_equal(s.node_name[0], "gpu-1");
    assert_true(s.reason_null[0]); /* NULL stays NULL in a batch */
    assert_string_equal(s.meta_k[0], "health:a");
    seen_free(&s);
    cl_store_batch_free(b);
}

/* Later puts of an id replace the record where it is (visit order is first-put order), its
 * content grown or shrunk; size counts records, puts every put. */
static void test_replace_in_place(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_job_t j;
    char *big = long_alloc(65536);
    mkjob(&j, 9, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    mkjob(&j, 4, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    mkjob(&j, 9, CL_JOB_RUNNING);
    j.alloc = big; /* grows past the slot */
    cl_store_batch_job(b, &j);
    mkjob(&j, 9, CL_JOB_CANCELLED);
    j.argc = j.envc = 0; /* shrinks */
    j.reason = "cancelled by alice";
    cl_store_job_t last = j;
    cl_store_batch_job(b, &j);
    cl_store_batch_node(b, &(cl_store_node_t){.id = 5, .name = "a", .reason = "x"});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 2, .name = "b"});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 5, .name = "a2"});
    cl_store_batch_meta(b, "k1", 1);
    cl_store_batch_meta(b, "k2", 2);
    cl_store_batch_meta(b, "k1", 3);
    assert_int_equal(cl_store_batch_size(b), 6);
    assert_int_equal(cl_store_batch_puts(b), 10);
    seen_t s = {0};
    assert_int_equal(cl_store_batch_visit(b, &all, &s), 0);
    assert_int_equal(s.njobs, 2);
    assert_int_equal(s.job_ids[0], 9);
    assert_int_equal(s.job_ids[1], 4);
    assert_job_equal(&s.jobs[0], &last);
    assert_int_equal(s.nnodes, 2);
    assert_int_equal(s.node_ids[0], 5);
    assert_string_equal(s.node_name[0], "a2");
    assert_true(s.reason_null[0]);
    assert_int_equal(s.nmeta, 2);
    assert_string_equal(s.meta_k[0], "k1");
    assert_int_equal(s.meta_v[0], 3);
    assert_int_equal(s.meta_v[1], 2);
    seen_free(&s);
    cl_store_batch_free(b);
    free(big);
}

typedef struct tally {
    uint64_t n, sum_ids, sum_states;
    uint64_t metas, sum_v;
} tally_t;

static int t_job(void *arg, const cl_store_job_t *j)
{
    tally_t *t = arg;
    t->n++;
    t->sum_ids += j->id;
    t->sum_states += (uint64_t)j->state;
    return 0;
}

static int t_meta(void *arg, const char *k, uint64_t v)
{
    tally_t *t = arg;
    t->metas++;
    t->sum_v += v;
    char want[32];
    snprintf(want, sizeof want, "health:gpu-%" PRIu64, v);
    assert_string_equal(k, want);
    return 0;
}

/* Many ids (the index grows many times), each put twice: one record each, the second put's. */
static void test_many_ids(void **st)
{
    enum { N = 20000 };
    cl_store_batch_t *b = cl_store_batch_new();
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t id = 1; id <= N; id++) {
            cl_store_job_t j;
            mkjob(&j, id * 7919, pass ? CL_JOB_RUNNING : CL_JOB_PENDING);
            cl_store_batch_job(b, &j);
            char k[32];
            snprintf(k, sizeof k, "health:gpu-%" PRIu64, id);
            cl_store_batch_meta(b, k, pass ? id : 0);
        }
    assert_int_equal(cl_store_batch_size(b), 2 * N);
    assert_int_equal(cl_store_batch_puts(b), 4 * N);
    tally_t t = {0};
    assert_int_equal(
        cl_store_batch_visit(b, &(cl_store_visit_t){.job = t_job, .meta = t_meta}, &t), 0);
    assert_int_equal(t.n, N);
    assert_int_equal(t.sum_ids, 7919ull * N * (N + 1) / 2);
    assert_int_equal(t.sum_states, (uint64_t)CL_JOB_RUNNING * N);
    assert_int_equal(t.metas, N);
    assert_int_equal(t.sum_v, (uint64_t)N * (N + 1) / 2);
    cl_store_batch_free(b);
}

/* A cleared batch is empty and forgets its ids: a put of an old id is a new record. Big
 * batches (more slots than are kept) shrink back. */
static void test_clear_reuse(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    for (int round = 0; round < 4; round++) {
        uint64_t n = round == 2 ? 10000 : 3; /* one round past the slots kept on clear */
        for (uint64_t id = 1; id <= n; id++) {
            cl_store_job_t j;
            mkjob(&j, id, round);
            cl_store_batch_job(b, &j);
            cl_store_batch_node(b, &(cl_store_node_t){.id = (uint32_t)id, .name = "n"});
        }
        cl_store_batch_meta(b, "k", (uint64_t)round);
        assert_int_equal(cl_store_batch_size(b), 2 * n + 1);
        assert_int_equal(cl_store_batch_puts(b), 2 * n + 1);
        tally_t t = {0};
        assert_int_equal(cl_store_batch_visit(b, &(cl_store_visit_t){.job = t_job}, &t), 0);
        assert_int_equal(t.n, n);
        assert_int_equal(t.sum_states, (uint64_t)round * n);
        cl_store_batch_clear(b);
        assert_int_equal(cl_store_batch_size(b), 0);
        assert_int_equal(cl_store_batch_puts(b), 0);
        seen_t s = {0};
        assert_int_equal(cl_store_batch_visit(b, &all, &s), 0);
        assert_int_equal(s.calls, 0);
    }
    cl_store_batch_free(b);
    cl_store_batch_free(NULL);
}

/* visit stops at a callback's non-zero and returns it; NULL callbacks skip their records. */
static void test_visit_stops(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    for (uint64_t id = 1; id <= 3; id++) {
        cl_store_job_t j;
        mkjob(&j, id, CL_JOB_PENDING);
        cl_store_batch_job(b, &j);
    }
    cl_store_batch_node(b, &(cl_store_node_t){.id = 1, .name = "n"});
    cl_store_batch_meta(b, "k", 1);
    seen_t s = {.stop_at = 2};
    assert_int_equal(cl_store_batch_visit(b, &all, &s), 7);
    assert_int_equal(s.calls, 2);
    seen_free(&s);
    memset(&s, 0, sizeof s);
    s.stop_at = 4; /* the node */
    assert_int_equal(cl_store_batch_visit(b, &all, &s), 7);
    assert_int_equal(s.nmeta, 0);
    seen_free(&s);
    memset(&s, 0, sizeof s);
    assert_int_equal(cl_store_batch_visit(b, &(cl_store_visit_t){.meta = v_meta}, &s), 0);
    assert_int_equal(s.calls, 1);
    cl_store_batch_free(b);
}

/* What a visit of the issue 11 records saw, as text. */
typedef struct seen11 {
    char text[1024];
    int stop_at, calls;
} seen11_t;

static int add11(seen11_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add11(seen11_t *s, const char *fmt, ...)
{
    size_t at = strlen(s->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text + at, sizeof s->text - at, fmt, ap);
    va_end(ap);
    return ++s->calls == s->stop_at ? 9 : 0;
}

static int v_obj(void *arg, const char *kind, const char *key, const void *val, size_t len)
{
    return add11(arg, "obj %s/%s=%.*s%s;", kind, key, (int)len, val ? (const char *)val : "",
                 val ? "" : "(deleted)");
}

static int v_usage(void *arg, const cl_store_usage_t *u)
{
    return add11(arg, "usage %" PRIu64 ".%u %s %s %s %s %s %s %g;", u->job, u->incarnation,
                 u->name ? u->name : "NULL", u->tenant ? u->tenant : "NULL",
                 u->user ? u->user : "NULL", u->nodes ? u->nodes : "NULL",
                 u->ended ? u->ended : "NULL", u->reason ? u->reason : "NULL", u->gpu_s);
}

static int v_audit(void *arg, const cl_store_audit_t *a)
{
    return add11(arg, "audit %g %s %s %s %s %d;", a->time, a->who ? a->who : "NULL",
                 a->op ? a->op : "NULL", a->target ? a->target : "NULL",
                 a->detail ? a->detail : "NULL", a->ok);
}

static int v_prune(void *arg, const cl_store_prune_t *p)
{
    return add11(arg, "prune %g %g %g;", p->jobs_before, p->history_before, p->audit_before);
}

static int v_job11(void *arg, const cl_store_job_t *j)
{
    return add11(arg, "job %" PRIu64 ";", j->id);
}

static const cl_store_visit_t all11 = {
    .job = v_job11, .obj = v_obj, .usage = v_usage, .audit = v_audit, .prune = v_prune};

/* Objects: the last put of a (kind, key) wins in place (a delete is a put); usage and audit
 * records are appended, copied, NULL strings kept NULL; prunes keep the largest cut of each
 * kind; the visit comes after jobs, nodes and meta, the prune last. */
static void test_issue11_records(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    char kind[] = "tenant", key[] = "acme", val[] = "v1", name[] = "run", who[] = "alice";
    cl_store_batch_prune(b, 5, 0, 7);
    cl_store_batch_obj(b, kind, key, val, 2);
    cl_store_batch_obj(b, "user", "acme", "u", 1);   /* another kind, the same key */
    cl_store_batch_obj(b, "tenan", "tacme", "x", 1); /* the same letters, another split */
    cl_store_batch_usage(b, &(cl_store_usage_t){.job = 3,
                                                .incarnation = 1,
                                                .name = name,
                                                .tenant = "t",
                                                .user = "u",
                                                .nodes = "a,b",
                                                .ended = "failed",
                                                .gpu_s = 1.5});
    cl_store_batch_usage(b, &(cl_store_usage_t){.job = 3, .incarnation = 1}); /* kept too */
    cl_store_batch_audit(b, &(cl_store_audit_t){2, who, "submit", "job 3", "d", true});
    cl_store_batch_audit(b, &(cl_store_audit_t){.time = 1});
    cl_store_batch_obj(b, "tenant", "acme", NULL, 0); /* replaces the first object */
    cl_store_batch_prune(b, 4, 6, 0);
    cl_store_job_t j;
    mkjob(&j, 1, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    memset(kind, 'z', sizeof kind - 1);
    memset(key, 'z', sizeof key - 1);
    memset(val, 'z', sizeof val - 1);
    memset(name, 'z', sizeof name - 1);
    memset(who, 'z', sizeof who - 1);
    assert_int_equal(cl_store_batch_size(b), 1 + 3 + 2 + 2 + 1);
    assert_int_equal(cl_store_batch_weight(b), 1 + 3 + 2 + 1); /* not the 2 audit records */
    assert_int_equal(cl_store_batch_puts(b), 11);
    seen11_t s = {0};
    assert_int_equal(cl_store_batch_visit(b, &all11, &s), 0);
    assert_string_equal(s.text, "job 1;obj tenant/acme=(deleted);obj user/acme=u;"
                                "obj tenan/tacme=x;usage 3.1 run t u a,b failed NULL 1.5;"
                                "usage 3.1 NULL NULL NULL NULL NULL NULL 0;"
                                "audit 2 alice submit job 3 d 1;audit 1 NULL NULL NULL NULL 0;"
                                "prune 5 6 7;");
    memset(&s, 0, sizeof s);
    s.stop_at = 5; /* the first usage record */
    assert_int_equal(cl_store_batch_visit(b, &all11, &s), 9);
    assert_null(strstr(s.text, "audit"));
    cl_store_batch_clear(b);
    assert_int_equal(cl_store_batch_size(b), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(cl_store_batch_visit(b, &all11, &s), 0);
    assert_string_equal(s.text, "");
    cl_store_batch_prune(b, 0, 1, 0);               /* a cleared batch forgets the old cuts */
    cl_store_batch_obj(b, "tenant", "acme", "", 0); /* empty, not deleted */
    assert_int_equal(cl_store_batch_visit(b, &all11, &s), 0);
    assert_string_equal(s.text, "obj tenant/acme=;prune 0 1 0;");
    cl_store_batch_free(b);
}

/* Many objects and usage records, over the slots kept on clear: all there after growth. */
static void test_issue11_many(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    for (int round = 0; round < 2; round++) {
        for (int pass = 0; pass < 2; pass++)
            for (uint64_t i = 0; i < 6000; i++) {
                char k[32];
                snprintf(k, sizeof k, "t%" PRIu64, i);
                cl_store_batch_obj(b, "tenant", k, pass ? "new" : "old", 3);
                cl_store_batch_usage(b, &(cl_store_usage_t){.job = i, .name = k});
            }
        assert_int_equal(cl_store_batch_size(b), 6000 + 12000);
        seen11_t s = {0};
        s.stop_at = 6000; /* the last object */
        assert_int_equal(cl_store_batch_visit(b, &(cl_store_visit_t){.obj = v_obj}, &s), 9);
        assert_null(strstr(s.text, "old"));
        cl_store_batch_clear(b);
    }
    cl_store_batch_free(b);
}

/* The loop thread's cost: a job put three times a turn, 1,000 jobs a turn (printed). */
static void test_put_cost(void **st)
{
    cl_store_batch_t *b = cl_store_batch_new();
    double t0 = cl_now_us();
    uint64_t puts = 0;
    for (int turn = 0; turn < 100; turn++) {
        for (int again = 0; again < 3; again++)
            for (uint64_t id = 1; id <= 1000; id++) {
                cl_store_job_t j;
                mkjob(&j, (uint64_t)turn * 1000 + id, again);
                cl_store_batch_job(b, &j);
                puts++;
            }
        assert_int_equal(cl_store_batch_size(b), 1000);
        cl_store_batch_clear(b);
    }
    printf("batch: %.0f ns a job put (%" PRIu64 " puts, 1,000 jobs x 3 a turn)\n",
           (cl_now_us() - t0) * 1e3 / (double)puts, puts);
    cl_store_batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_copies),      cmocka_unit_test(test_replace_in_place),
        cmocka_unit_test(test_many_ids),        cmocka_unit_test(test_clear_reuse),
        cmocka_unit_test(test_visit_stops),     cmocka_unit_test(test_put_cost),
        cmocka_unit_test(test_issue11_records), cmocka_unit_test(test_issue11_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
