/* test_store.c - the store conformance suite: the contract of store.h and committer.h for jobs,
 * nodes and meta, written once over a factory (store_conformance.h) and run against every
 * backend: SQLite, and the fault store wrapping SQLite with nothing armed. The accounting
 * half (objects, usage, audit, retention) is test_store_acct.c. */
#include <pthread.h>
#include <stdatomic.h>

#include <uv.h>

#include "store/committer.h"
#include "store/fault.h"
#include "store_conformance.h"
#include "util/util.h"

/* One job in its own batch, committed. */
static void commit_job(cl_store_t *s, uint64_t id, int state)
{
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_job_t j;
    mkjob(&j, id, state);
    cl_store_batch_job(b, &j);
    commit_ok(s, b);
    cl_store_batch_free(b);
}

/* The committed state of job id: its state, or -1 when the store has no such job. */
static int on_state(const cl_store_job_t *j, void *arg)
{
    *(int *)arg = j->state;
    return 0;
}

static int state_of(cl_store_t *s, uint64_t id)
{
    int state = -1;
    cl_error_t err = {{0}};
    int rc = cl_store_job_get(s, id, on_state, &state, &err);
    if (rc < 0) fail_msg("job_get: %s", err.msg);
    assert_int_equal(rc, state >= 0);
    return state;
}

/* What a load saw, in order. */
typedef struct loaded {
    uint64_t ids[64];
    size_t njobs;
    size_t total; /* every job, also past ids[] */
    uint32_t nodes[16];
    bool drained[16];
    char reason[16][32];
    size_t nnodes;
    int stop_after;    /* a callback returns 1 after this many jobs (0: never) */
    bool stop_at_node; /* the node callback returns 1 */
} loaded_t;

static int on_load_job(const cl_store_job_t *j, void *arg)
{
    loaded_t *l = arg;
    if (l->njobs < 64) l->ids[l->njobs++] = j->id;
    l->total++;
    return l->stop_after && (int)l->total >= l->stop_after;
}

static int on_load_node(const cl_store_node_t *n, void *arg)
{
    loaded_t *l = arg;
    assert_true(l->nnodes < 16);
    l->nodes[l->nnodes] = n->id;
    l->drained[l->nnodes] = n->drained;
    snprintf(l->reason[l->nnodes], sizeof l->reason[0], "%s", n->reason);
    l->nnodes++;
    return l->stop_at_node;
}

static void load(cl_store_t *s, loaded_t *l)
{
    memset(l, 0, sizeof *l);
    cl_error_t err = {{0}};
    if (cl_store_load(s, 0, on_load_job, on_load_node, l, &err) < 0)
        fail_msg("load: %s", err.msg);
}

/* The two states the cases below tell apart: old (job 1 pending) is committed first; new
 * (job 1 running, job 2 pending, meta m = 5) is one batch on top. */
static cl_store_batch_t *old_then_new(cl_store_t *s)
{
    commit_job(s, 1, CL_JOB_PENDING);
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_job_t j;
    mkjob(&j, 1, CL_JOB_RUNNING);
    cl_store_batch_job(b, &j);
    mkjob(&j, 2, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    cl_store_batch_meta(b, "m", 5);
    return b;
}

static void assert_state(cl_store_t *s, bool new)
{
    assert_int_equal(state_of(s, 1), new ? CL_JOB_RUNNING : CL_JOB_PENDING);
    assert_int_equal(state_of(s, 2), new ? CL_JOB_PENDING : -1);
    loaded_t l;
    load(s, &l);
    assert_int_equal(l.njobs, new ? 2 : 1);
    uint64_t v = 0;
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_meta_get(s, "m", &v, &err), new);
    assert_int_equal(v, new ? 5 : 0);
}

/* ---- records ---- */

static void check_roundtrip(cl_store_t *s, const cl_store_job_t *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        got_job_t g = {0};
        cl_error_t err = {{0}};
        assert_int_equal(cl_store_job_get(s, jobs[i].id, on_got, &g, &err), 1);
        assert_job_equal(&g, &jobs[i]);
        got_free(&g);
    }
}

typedef struct all_got {
    got_job_t g[4];
    size_t n;
} all_got_t;

static int on_all(const cl_store_job_t *j, void *arg)
{
    all_got_t *a = arg;
    assert_true(a->n < 4);
    got_set(&a->g[a->n++], j);
    return 0;
}

/* Every field of a job through commit, job_get and load, before and after reopening: empty
 * strings in argv and env, unicode names, a gang's 700 KB alloc, no argv at all, NULL
 * strings (read back as ""). */
static void test_job_roundtrip(void **st)
{
    cl_store_t *s = store_open();
    cl_store_job_t jobs[3];
    mkjob(&jobs[0], 7, CL_JOB_RUNNING);
    char *alloc = long_alloc(65536);
    assert_true(strlen(alloc) > 700000);
    mkjob(&jobs[1], 8, CL_JOB_PENDING);
    jobs[1].alloc = alloc;
    jobs[1].has_exit = false;
    jobs[1].exit_code = 0;
    memset(&jobs[2], 0, sizeof jobs[2]); /* no strings, no argv, no env */
    jobs[2].id = 9;
    jobs[2].state = CL_JOB_FAILED;
    jobs[2].priority = INT32_MIN;
    jobs[2].exit_code = INT32_MAX;
    jobs[2].incarnation = UINT32_MAX;
    cl_store_batch_t *b = cl_store_batch_new();
    for (size_t i = 0; i < 3; i++)
        cl_store_batch_job(b, &jobs[i]);
    commit_ok(s, b);
    cl_store_batch_free(b); /* the store keeps nothing of the batch */
    for (int pass = 0; pass < 2; pass++) {
        check_roundtrip(s, jobs, 3);
        all_got_t a = {0};
        cl_error_t err = {{0}};
        assert_int_equal(cl_store_load(s, 0, on_all, NULL, &a, &err), 0);
        assert_int_equal(a.n, 3);
        for (size_t i = 0; i < 3; i++) {
            assert_job_equal(&a.g[i], &jobs[i]);
            got_free(&a.g[i]);
        }
        cl_store_close(s);
        s = store_open();
    }
    assert_int_equal(state_of(s, 10), -1); /* absent: 0, and jf not called */
    cl_store_close(s);
    free(alloc);
}

/* load gives jobs and nodes in id order, whatever the order of the puts and batches; a
 * callback returning non-zero stops it. */
static void test_load_order(void **st)
{
    cl_store_t *s = store_open();
    uint64_t order[] = {5, 1, 40, 3, 2};
    cl_store_batch_t *b = cl_store_batch_new();
    for (size_t i = 0; i < 5; i++) {
        cl_store_job_t j;
        mkjob(&j, order[i], CL_JOB_PENDING);
        cl_store_batch_job(b, &j);
        if (i == 2) { /* two batches */
            commit_ok(s, b);
            cl_store_batch_clear(b);
        }
    }
    cl_store_batch_node(b, &(cl_store_node_t){.id = 9, .name = "n9"});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 0, .name = "n0"});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 4, .name = "n4"});
    commit_ok(s, b);
    cl_store_batch_free(b);
    loaded_t l;
    load(s, &l);
    uint64_t want[] = {1, 2, 3, 5, 40};
    assert_int_equal(l.njobs, 5);
    assert_memory_equal(l.ids, want, sizeof want);
    assert_int_equal(l.nnodes, 3);
    assert_int_equal(l.nodes[0], 0);
    assert_int_equal(l.nodes[1], 4);
    assert_int_equal(l.nodes[2], 9);
    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_load(s, 0, on_load_job, NULL, &l, &err), 0);
    assert_int_equal(l.total, 2);
    memset(&l, 0, sizeof l);
    l.stop_at_node = true; /* nodes come first: stopping there loads no job */
    assert_int_equal(cl_store_load(s, 0, on_load_job, on_load_node, &l, &err), 0);
    assert_int_equal(l.nnodes, 1);
    assert_int_equal(l.total, 0);
    cl_store_close(s);
}

/* A node put again (another batch) replaces the row with the same id; load with jf NULL. */
static void test_node_replace(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_node(
        b, &(cl_store_node_t){.id = 2, .name = "gpu-b", .drained = true, .reason = "fan"});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 1, .name = "gpu-a"});
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_node(b, &(cl_store_node_t){.id = 2, .name = "gpu-b", .reason = "resumed"});
    commit_ok(s, b);
    cl_store_batch_free(b);
    cl_store_close(s);
    s = store_open();
    loaded_t l = {0};
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_load(s, 0, NULL, on_load_node, &l, &err), 0);
    assert_int_equal(l.nnodes, 2);
    assert_int_equal(l.nodes[1], 2);
    assert_false(l.drained[1]);
    assert_string_equal(l.reason[1], "resumed");
    assert_string_equal(l.reason[0], ""); /* NULL reads back as "" */
    cl_store_close(s);
}

static void test_meta(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_batch_meta(b, "next_job", 8);
    cl_store_batch_meta(b, "health:gpu-é", UINT64_MAX); /* all 64 bits */
    commit_ok(s, b);
    cl_store_batch_clear(b);
    cl_store_batch_meta(b, "next_job", 9);
    commit_ok(s, b);
    cl_store_batch_free(b);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t v = 0;
        cl_error_t err = {{0}};
        assert_int_equal(cl_store_meta_get(s, "next_job", &v, &err), 1);
        assert_int_equal(v, 9);
        assert_int_equal(cl_store_meta_get(s, "health:gpu-é", &v, &err), 1);
        assert_true(v == UINT64_MAX);
        v = 77;
        assert_int_equal(cl_store_meta_get(s, "nope", &v, &err), 0);
        assert_int_equal(v, 77); /* untouched */
        cl_store_close(s);
        s = store_open();
    }
    cl_store_close(s);
}

/* Inside one batch the last put of a job, node or meta key wins; one record each. */
static void test_last_write_wins(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    cl_store_job_t j;
    char *alloc = long_alloc(1000);
    mkjob(&j, 7, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    j.state = CL_JOB_RUNNING;
    j.alloc = alloc; /* grows */
    cl_store_batch_job(b, &j);
    mkjob(&j, 3, CL_JOB_PENDING);
    cl_store_batch_job(b, &j);
    mkjob(&j, 7, CL_JOB_SUCCEEDED); /* shrinks again */
    j.reason = "done";
    cl_store_batch_job(b, &j);
    cl_store_batch_node(b, &(cl_store_node_t){.id = 1, .name = "a", .drained = true});
    cl_store_batch_node(b, &(cl_store_node_t){.id = 1, .name = "a", .reason = "back"});
    cl_store_batch_meta(b, "k", 1);
    cl_store_batch_meta(b, "k", 2);
    assert_int_equal(cl_store_batch_size(b), 4);
    assert_int_equal(cl_store_batch_puts(b), 8);
    commit_ok(s, b);
    assert_int_equal(s->commits, 1);
    assert_int_equal(s->records_committed, 4);
    assert_int_equal(s->puts_committed, 8);
    cl_store_batch_free(b);
    got_job_t g = {0};
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_job_get(s, 7, on_got, &g, &err), 1);
    assert_job_equal(&g, &j);
    got_free(&g);
    loaded_t l;
    load(s, &l);
    assert_int_equal(l.njobs, 2);
    assert_int_equal(l.nnodes, 1);
    assert_false(l.drained[0]);
    assert_string_equal(l.reason[0], "back");
    uint64_t v = 0;
    assert_int_equal(cl_store_meta_get(s, "k", &v, &err), 1);
    assert_int_equal(v, 2);
    cl_store_close(s);
    free(alloc);
}

/* A batch not committed is lost on close, as in a crash; a cleared batch commits nothing. */
static void test_uncommitted_lost(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = old_then_new(s);
    cl_store_close(s); /* b never committed */
    s = store_open();
    assert_state(s, false);
    cl_store_batch_clear(b);
    commit_ok(s, b);
    assert_state(s, false);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* Committing an empty batch succeeds, writes nothing and counts no commit. */
static void test_empty_commit(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = cl_store_batch_new();
    commit_ok(s, b);
    assert_int_equal(s->commits, 0);
    assert_int_equal(cl_store_batch_size(b), 0);
    commit_job(s, 1, CL_JOB_PENDING);
    assert_int_equal(s->commits, 1);
    commit_ok(s, b);
    assert_int_equal(s->commits, 1);
    loaded_t l;
    load(s, &l);
    assert_int_equal(l.njobs, 1);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- concurrency: commits on another thread ---- */

typedef struct bg_commit {
    pthread_t t;
    cl_store_t *s;
    cl_store_batch_t *b;
    int rc;
    cl_error_t err;
    atomic_bool done;
} bg_commit_t;

static void *bg_run(void *arg)
{
    bg_commit_t *c = arg;
    c->rc = cl_store_commit(c->s, c->b, &c->err);
    atomic_store(&c->done, true);
    return NULL;
}

static void bg_start(bg_commit_t *c, cl_store_t *s, cl_store_batch_t *b)
{
    c->s = s;
    c->b = b;
    atomic_init(&c->done, false);
    assert_int_equal(pthread_create(&c->t, NULL, bg_run, c), 0);
}

static void bg_join(bg_commit_t *c)
{
    assert_int_equal(pthread_join(c->t, NULL), 0);
    if (c->rc < 0) fail_msg("commit on the thread: %s", c->err.msg);
}

/* While a commit runs on another thread (held in the fault store), load, job_get and
 * meta_get on this one see the old committed state; after release, the new. */
static void test_reads_see_committed(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cl_store_batch_t *b = old_then_new(s);
    cl_store_fault_hold(s);
    bg_commit_t c;
    bg_start(&c, s, b);
    assert_int_equal(cl_store_fault_wait_entered(s, 2, 10000), 0);
    /* Held, it cannot finish meanwhile: read for a while (a hold that does not hold would
     * let the commit end within this time, as it does below) */
    for (double t0 = cl_now_ms(); cl_now_ms() - t0 < 100;)
        assert_state(s, false);
    assert_false(atomic_load(&c.done));
    assert_int_equal(cl_store_fault_written(s), 1);
    cl_store_fault_release(s);
    bg_join(&c);
    assert_int_equal(cl_store_fault_written(s), 2);
    assert_state(s, true);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* While a big batch commits on another thread, loads on this one see all of it or none of
 * it, never a part. */
static void test_no_partial_batch(void **st)
{
    enum { N = 3000 };
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cl_store_batch_t *b = cl_store_batch_new();
    for (uint64_t id = 1; id <= N; id++) {
        cl_store_job_t j;
        mkjob(&j, id, CL_JOB_PENDING);
        cl_store_batch_job(b, &j);
    }
    cl_store_fault_hold(s); /* so that the loads below start before the commit does */
    bg_commit_t c;
    bg_start(&c, s, b);
    assert_int_equal(cl_store_fault_wait_entered(s, 1, 10000), 0);
    cl_store_fault_release(s);
    size_t polls = 0, none = 0;
    for (bool last = false; !last; polls++) {
        last = atomic_load(&c.done); /* one more load after the commit returned */
        loaded_t l;
        load(s, &l);
        if (l.total != 0 && l.total != N)
            fail_msg("a load saw %zu of the %d jobs of one batch", l.total, N);
        none += l.total == 0;
    }
    bg_join(&c);
    loaded_t l;
    load(s, &l);
    assert_int_equal(l.total, N);
    printf("%s: %zu loads during the commit, %zu of them before it\n", B->name, polls, none);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- failures ---- */

/* An injected failure writes nothing of its batch; the next commit works. */
static void test_failed_commit_injected(void **st)
{
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cl_store_batch_t *b = old_then_new(s);
    cl_store_batch_node(b, &(cl_store_node_t){.id = 0, .name = "n0"});
    cl_store_fault_fail(s, 1, 1, "disk on fire");
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_string_equal(err.msg, "store: injected fault: disk on fire");
    assert_int_equal(s->commits, 1);
    assert_state(s, false);
    loaded_t l;
    load(s, &l);
    assert_int_equal(l.nnodes, 0);
    commit_ok(s, b); /* the same batch again: the fault was for one commit */
    assert_state(s, true);
    assert_int_equal(cl_store_fault_entered(s), 3);
    assert_int_equal(cl_store_fault_written(s), 2);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* A batch the backend itself refuses half-way (a node without a name) leaves nothing of it,
 * not even the records before; the error names the record; the store commits again after. */
static void test_failed_commit_midway(void **st)
{
    cl_store_t *s = store_open();
    cl_store_batch_t *b = old_then_new(s); /* visited: jobs, the node, meta */
    cl_store_batch_node(b, &(cl_store_node_t){.id = 4, .name = NULL});
    cl_error_t err = {{0}};
    assert_int_equal(cl_store_commit(s, b, &err), -1);
    assert_non_null(strstr(err.msg, "node 4"));
    assert_int_equal(s->commits, 1);
    assert_state(s, false);
    commit_job(s, 3, CL_JOB_PENDING);
    assert_int_equal(state_of(s, 3), CL_JOB_PENDING);
    cl_store_close(s);
    s = store_open();
    assert_int_equal(state_of(s, 2), -1);
    assert_int_equal(state_of(s, 3), CL_JOB_PENDING);
    cl_store_batch_free(b);
    cl_store_close(s);
}

/* ---- the committer ---- */

typedef struct cm_test {
    uv_loop_t loop;
    uv_timer_t guard;
    bool timed_out;
    cl_store_t *s;
    cl_committer_t *cm;
    cl_store_batch_t *batches[4];
    int calls, want_calls;
    uint64_t next_seq;
    bool last_ok;
    char last_err[256];
    cl_store_batch_t *last_batch;
    bool resubmit_failed, destroy_at_end;
} cm_test_t;

static void on_guard(uv_timer_t *t)
{
    ((cm_test_t *)t->data)->timed_out = true;
}

static void cm_init(cm_test_t *T, cl_store_t *s, cl_committed_f *cb)
{
    memset(T, 0, sizeof *T);
    assert_int_equal(uv_loop_init(&T->loop), 0);
    uv_timer_init(&T->loop, &T->guard);
    T->guard.data = T;
    uv_timer_start(&T->guard, on_guard, 20000, 0);
    uv_unref((uv_handle_t *)&T->guard);
    T->s = s;
    cl_error_t err = {{0}};
    T->cm = cl_committer_create(&T->loop, s, cb, T, &err);
    if (!T->cm) fail_msg("committer: %s", err.msg);
    for (int i = 0; i < 4; i++)
        T->batches[i] = cl_store_batch_new();
}

/* Run the loop until the callback was called n times in all (bounded by the guard). */
static void cm_run(cm_test_t *T, int n)
{
    while (T->calls < n && !T->timed_out)
        uv_run(&T->loop, UV_RUN_ONCE);
    assert_false(T->timed_out);
    assert_int_equal(T->calls, n);
}

static void cm_fini(cm_test_t *T)
{
    cl_committer_destroy(T->cm); /* NULL when a callback destroyed it */
    uv_close((uv_handle_t *)&T->guard, NULL);
    uv_run(&T->loop, UV_RUN_NOWAIT); /* lets libuv release the committer */
    assert_int_equal(uv_loop_close(&T->loop), 0);
    for (int i = 0; i < 4; i++)
        cl_store_batch_free(T->batches[i]);
    cl_store_close(T->s);
}

static void fill(cl_store_batch_t *b, uint64_t first, int n, int state)
{
    for (int k = 0; k < n; k++) {
        cl_store_job_t j;
        mkjob(&j, first + (uint64_t)k, state);
        cl_store_batch_job(b, &j);
    }
}

/* Each callback checks it came on the loop thread in submit order, then submits the next
 * batch itself; the last one destroys the committer from inside its callback. */
static pthread_t loop_thread;

static void on_chain(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                     const cl_error_t *err)
{
    cm_test_t *T = arg;
    assert_true(pthread_equal(pthread_self(), loop_thread));
    assert_true(ok);
    assert_null(err);
    assert_int_equal(seq, T->next_seq);
    assert_ptr_equal(b, T->batches[seq % 4]);
    assert_false(cl_committer_busy(T->cm));
    T->calls++;
    T->next_seq++;
    if (T->calls == T->want_calls) {
        cl_committer_stats_t stats;
        cl_committer_stats(T->cm, &stats);
        assert_int_equal(stats.commits, T->want_calls);
        assert_int_equal(stats.failures, 0);
        assert_int_equal(stats.records, (uint64_t)T->want_calls * 10);
        assert_true(stats.total_us > 0 && stats.max_us >= stats.last_us);
        assert_true(stats.total_wait_us >= stats.total_us);
        cl_committer_destroy(T->cm);
        T->cm = NULL;
        return;
    }
    cl_store_batch_t *nb = T->batches[T->next_seq % 4];
    cl_store_batch_clear(nb);
    fill(nb, T->next_seq * 10 + 1, 10, CL_JOB_PENDING);
    assert_int_equal(cl_committer_submit(T->cm, nb, T->next_seq), 0);
    assert_true(cl_committer_busy(T->cm));
}

static void test_committer_in_order(void **st)
{
    cm_test_t T;
    loop_thread = pthread_self();
    cm_init(&T, store_open(), on_chain);
    T.want_calls = 20;
    fill(T.batches[0], 1, 10, CL_JOB_PENDING);
    assert_int_equal(cl_committer_submit(T.cm, T.batches[0], 0), 0);
    cm_run(&T, 20);
    assert_null(T.cm);
    loaded_t l;
    load(T.s, &l);
    assert_int_equal(l.total, 200);
    cm_fini(&T);
}

static void on_record(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                      const cl_error_t *err)
{
    cm_test_t *T = arg;
    T->calls++;
    T->last_ok = ok;
    T->last_batch = b;
    T->next_seq = seq;
    snprintf(T->last_err, sizeof T->last_err, "%s", ok ? "" : err->msg);
    if (!ok && T->resubmit_failed) /* the controller's retry: the same batch again */
        assert_int_equal(cl_committer_submit(T->cm, b, seq + 100), 0);
}

/* A second submit while one is in flight is refused and changes nothing. */
static void test_committer_busy(void **st)
{
    cm_test_t T;
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cm_init(&T, s, on_record);
    fill(T.batches[0], 1, 3, CL_JOB_PENDING);
    fill(T.batches[1], 4, 3, CL_JOB_PENDING);
    assert_false(cl_committer_busy(T.cm));
    cl_store_fault_hold(s);
    assert_int_equal(cl_committer_submit(T.cm, T.batches[0], 1), 0);
    assert_true(cl_committer_busy(T.cm));
    assert_int_equal(cl_committer_submit(T.cm, T.batches[1], 2), -1);
    assert_int_equal(cl_store_fault_wait_entered(s, 1, 10000), 0);
    for (double t0 = cl_now_ms(); cl_now_ms() - t0 < 50;) /* held: no callback comes */
        uv_run(&T.loop, UV_RUN_NOWAIT);
    assert_int_equal(T.calls, 0);
    assert_true(cl_committer_busy(T.cm));
    assert_int_equal(state_of(s, 1), -1);
    cl_store_fault_release(s);
    cm_run(&T, 1);
    assert_true(T.last_ok);
    assert_ptr_equal(T.last_batch, T.batches[0]);
    assert_int_equal(T.next_seq, 1);
    assert_false(cl_committer_busy(T.cm));
    assert_int_equal(state_of(s, 4), -1); /* the refused submit wrote nothing */
    assert_int_equal(cl_committer_submit(T.cm, T.batches[1], 2), 0);
    cm_run(&T, 2);
    assert_ptr_equal(T.last_batch, T.batches[1]);
    assert_int_equal(state_of(s, 4), CL_JOB_PENDING);
    assert_int_equal(cl_store_fault_entered(s), 2);
    cm_fini(&T);
}

/* A failed commit comes back !ok with the cause; the batch resubmitted from the callback
 * commits. */
static void test_committer_failure(void **st)
{
    cm_test_t T;
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cm_init(&T, s, on_record);
    T.resubmit_failed = true;
    fill(T.batches[0], 1, 5, CL_JOB_PENDING);
    cl_store_fault_fail(s, 1, 1, "no space left on device");
    assert_int_equal(cl_committer_submit(T.cm, T.batches[0], 7), 0);
    cm_run(&T, 1);
    assert_false(T.last_ok);
    assert_string_equal(T.last_err, "store: injected fault: no space left on device");
    assert_true(cl_committer_busy(T.cm)); /* resubmitted */
    cm_run(&T, 2);
    assert_true(T.last_ok);
    assert_int_equal(T.next_seq, 107);
    cl_committer_stats_t stats;
    cl_committer_stats(T.cm, &stats);
    assert_int_equal(stats.commits, 1);
    assert_int_equal(stats.failures, 1);
    assert_int_equal(state_of(s, 5), CL_JOB_PENDING);
    cm_fini(&T);
}

/* Destroy with a batch in flight waits for it (here: committed, after the delay), calls no
 * callback and leaves the batch to its owner (ASan sees a double free or a leak otherwise). */
static void test_committer_destroy_inflight(void **st)
{
    cm_test_t T;
    cl_store_t *s = cl_store_fault_wrap(store_open());
    cm_init(&T, s, on_record);
    cl_store_batch_t *b = cl_store_batch_new();
    fill(b, 1, 5, CL_JOB_PENDING);
    cl_store_fault_delay(s, 200);
    assert_int_equal(cl_committer_submit(T.cm, b, 1), 0);
    assert_int_equal(cl_store_fault_wait_entered(s, 1, 10000), 0);
    assert_int_equal(cl_store_fault_written(s), 0);
    cl_committer_destroy(T.cm);
    T.cm = NULL;
    assert_int_equal(cl_store_fault_written(s), 1); /* destroy waited */
    uv_run(&T.loop, UV_RUN_NOWAIT);
    assert_int_equal(T.calls, 0);
    assert_int_equal(state_of(s, 5), CL_JOB_PENDING);
    cl_store_batch_free(b);
    cl_committer_destroy(NULL);
    cm_fini(&T);
}

/* Destroy right after submit: the worker may not have taken the batch yet; it is committed
 * all the same (a submitted batch is in flight). */
static void test_committer_destroy_submitted(void **st)
{
    cm_test_t T;
    cm_init(&T, store_open(), on_record);
    cl_store_batch_t *b = cl_store_batch_new();
    fill(b, 1, 5, CL_JOB_PENDING);
    assert_int_equal(cl_committer_submit(T.cm, b, 1), 0);
    cl_committer_destroy(T.cm);
    T.cm = NULL;
    assert_int_equal(T.calls, 0);
    assert_int_equal(state_of(T.s, 5), CL_JOB_PENDING);
    cl_store_batch_free(b);
    cm_fini(&T);
}

/* A committer with nothing in flight is destroyed at once. */
static void test_committer_destroy_idle(void **st)
{
    cm_test_t T;
    cm_init(&T, store_open(), on_record);
    fill(T.batches[0], 1, 1, CL_JOB_PENDING);
    assert_int_equal(cl_committer_submit(T.cm, T.batches[0], 1), 0);
    cm_run(&T, 1);
    cm_fini(&T); /* destroys it idle */
}

static const struct CMUnitTest cases[] = {
    CASE(test_job_roundtrip),
    CASE(test_load_order),
    CASE(test_node_replace),
    CASE(test_meta),
    CASE(test_last_write_wins),
    CASE(test_uncommitted_lost),
    CASE(test_empty_commit),
    CASE(test_reads_see_committed),
    CASE(test_no_partial_batch),
    CASE(test_failed_commit_injected),
    CASE(test_failed_commit_midway),
    CASE(test_committer_in_order),
    CASE(test_committer_busy),
    CASE(test_committer_failure),
    CASE(test_committer_destroy_inflight),
    CASE(test_committer_destroy_submitted),
    CASE(test_committer_destroy_idle),
};

int main(void)
{
    return run_backends(cases, sizeof cases / sizeof cases[0]);
}
