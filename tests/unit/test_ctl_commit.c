/* test_ctl_commit.c - the controller with the real committer (a worker thread, results back
 * through uv_async on a loop with no sockets) and the fault store holding the commit: while a
 * batch is held the loop keeps applying requests into the next batch, and no reply leaves
 * until its batch is written. */
#include <uv.h>

#include "ctl_test.h"
#include "store/committer.h"

typedef struct {
    t_ctl_t *t;
    cl_committer_t *cm;
    uv_loop_t loop;
} thr_t;

static int thr_commit(void *arg, cl_store_batch_t *b, uint64_t seq)
{
    thr_t *x = arg;
    return cl_committer_submit(x->cm, b, seq);
}

static void thr_log(void *arg, const char *line)
{
    t_log(((thr_t *)arg)->t, line);
}

static void thr_done(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                     const cl_error_t *err)
{
    thr_t *x = arg;
    ctl_committed(x->t->c, b, seq, ok, err);
}

/* Run the loop (and the fake clock with it) until cond() holds or about 5 s passed. */
static bool run_until(thr_t *x, bool (*cond)(thr_t *))
{
    for (int i = 0; i < 5000 && !cond(x); i++) {
        uv_run(&x->loop, UV_RUN_NOWAIT);
        t_advance(x->t, 1); /* timers and the end of a turn */
        usleep(1000);
    }
    return cond(x);
}

static t_sink_t *g_cli;

static bool two_replies(thr_t *x)
{
    (void)x;
    return g_cli->n >= 2;
}

static void test_held_commit_holds_replies(void **state)
{
    (void)state;
    thr_t x;
    t_ctl_t *t = t_setup(4, 8);
    x.t = t;
    assert_int_equal(uv_loop_init(&x.loop), 0);
    cl_error_t err;
    x.cm = cl_committer_create(&x.loop, t->store, thr_done, &x, &err);
    assert_non_null(x.cm);
    /* the controller again, with commits going to the worker */
    ctl_destroy(t->c);
    ctl_clock_t clock = {t_wall, t_mono, t};
    ctl_hooks_t hooks = {.commit = thr_commit, .log = thr_log, .arg = &x};
    cl_error_t e;
    cl_topo_shape_t sh = {.nodes = 4,
                          .gpus_per_node = 8,
                          .nodes_per_domain = 1,
                          .nodes_per_leaf = 8,
                          .leaves_per_pod = 8};
    cl_cluster_opts_t co;
    cl_cluster_opts_default(&co);
    t->c = ctl_create(&t->cfg, cl_cluster_create(cl_topo_create(&sh, "node", &e), &co, &e),
                      t->store, &clock, &hooks, &e);
    assert_non_null(t->c);

    cl_store_fault_hold(t->store);
    g_cli = t_sink(t, "cli");
    uint64_t r1 = t_submit(t, g_cli, 1, 1, 0);
    assert_int_equal(cl_store_fault_wait_entered(t->store, 1, 5000), 0); /* on the worker */
    uint64_t r2 = t_submit(t, g_cli, 1, 1, 0); /* applied while the first one is held */
    for (int i = 0; i < 50; i++) {
        uv_run(&x.loop, UV_RUN_NOWAIT);
        t_advance(t, 1);
        usleep(1000);
    }
    assert_int_equal(g_cli->n, 0); /* nothing before the write */
    assert_true(ctl_commit_in_flight(t->c));
    assert_true(ctl_pending_records(t->c) >= 2); /* the held batch and the growing one */
    assert_int_equal(cl_store_fault_written(t->store), 0);
    cl_store_fault_release(t->store);
    assert_true(run_until(&x, two_replies));
    assert_int_equal(g_cli->msgs[0]->response->req, r1);
    assert_int_equal(g_cli->msgs[1]->response->req, r2);
    assert_int_equal(cl_store_fault_written(t->store), 2);
    t_close(t, g_cli);
    cl_committer_destroy(x.cm);
    uv_run(&x.loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&x.loop), 0);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_commit_holds_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
