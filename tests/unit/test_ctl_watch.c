/* test_ctl_watch.c - the controller's watch feed (controller.h, ctl_watch.c): no event before
 * the batch that holds its change is committed, events in order with ids rising by one, a
 * watcher given only the kinds it asked for, node events for a drain and a node declared
 * down, a watcher that declines is unlisted, and a batch holding more events than the feed's
 * bound overflows every watcher instead of growing without end. */
#include <jansson.h>

#include "ctl_test.h"

#define W_MAX 256

typedef struct rec {
    ctl_watcher_t w; /* first */
    int n;
    uint64_t id[W_MAX];
    char kind[W_MAX][8];
    char state[W_MAX][16];
    char name[W_MAX][64];
    uint64_t commits[W_MAX]; /* store commits written when it came */
    int ends;
    bool overflow;
    int decline_after; /* >0: false after this many events */
    t_ctl_t *t;
} rec_t;

static bool rec_event(ctl_watcher_t *w, uint64_t id, const char *kind, const char *json,
                      size_t len)
{
    rec_t *r = (rec_t *)w;
    assert_true(r->n < W_MAX);
    assert_int_equal(strlen(json), len); /* one line, no newline */
    assert_null(strchr(json, '\n'));
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    assert_non_null(o);
    r->id[r->n] = id;
    snprintf(r->kind[r->n], sizeof r->kind[0], "%s", kind);
    snprintf(r->state[r->n], sizeof r->state[0], "%s",
             json_string_value(json_object_get(o, "state")));
    json_t *nm = json_object_get(o, "name");
    snprintf(r->name[r->n], sizeof r->name[0], "%s", nm ? json_string_value(nm) : "");
    r->commits[r->n] = cl_store_fault_written(r->t->store);
    r->n++;
    json_decref(o);
    return !r->decline_after || r->n < r->decline_after;
}

static void rec_end(ctl_watcher_t *w, bool overflow, const char *why)
{
    rec_t *r = (rec_t *)w;
    assert_non_null(why);
    r->ends++;
    r->overflow = overflow;
}

static rec_t *rec_add(t_ctl_t *t, unsigned kinds)
{
    rec_t *r = cl_xcalloc(1, sizeof *r);
    r->w.who = t_admin;
    r->w.kinds = kinds;
    r->w.event = rec_event;
    r->w.end = rec_end;
    r->t = t;
    cl_error_t err;
    assert_int_equal(ctl_watch_add(t->c, &r->w, &err), 0);
    return r;
}

/* Commit (manual mode) until nothing is in flight (past the linger of a batch that waits
 * for its clients' next writes). */
static void commit_all(t_ctl_t *t)
{
    while (t_commit(t))
        t_advance(t, 2);
}

static void node_admin(t_ctl_t *t, t_sink_t *cli, const char *node, bool drain)
{
    Colossus__NodeAdmin a = COLOSSUS__NODE_ADMIN__INIT;
    a.node = (char *)node;
    a.reason = drain ? "fan" : "";
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = drain ? COLOSSUS__REQUEST__BODY_DRAIN : COLOSSUS__REQUEST__BODY_RESUME;
    *(drain ? &r.drain : &r.resume) = &a;
    t_request(t, cli, &r);
}

static void test_events_after_commit(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(4, 8);
    t_sink_t *a = t_agent(t, "n1", 8);
    t_sink_t *cli = t_sink(t, "cli");
    rec_t *all = rec_add(t, CTL_WATCH_JOBS | CTL_WATCH_NODES);
    rec_t *jobs = rec_add(t, CTL_WATCH_JOBS);
    t->manual = true;

    uint64_t req = t_submit(t, cli, 1, 8, 0);
    assert_true(t->has_pending);
    assert_int_equal(all->n, 0); /* its batch is not durable: nothing leaves */
    assert_null(t_response(cli, req));
    uint64_t before = cl_store_fault_written(t->store);
    commit_all(t);
    Colossus__Msg *m = t_response(cli, req);
    assert_non_null(m);
    uint64_t job = m->response->job;
    colossus__msg__free_unpacked(m, NULL);
    assert_true(all->n >= 2);
    assert_string_equal(all->kind[0], "job");
    assert_string_equal(all->state[0], "pending");
    assert_true(all->commits[0] > before); /* delivered after its commit, never before */
    assert_string_equal(all->state[all->n - 1], "running");
    for (int i = 1; i < all->n; i++)
        assert_true(all->id[i] == all->id[i - 1] + 1); /* one watcher sees all: no gaps */

    /* a drain while the job runs: the node is draining; the job's end makes it drained */
    int n0 = all->n;
    node_admin(t, cli, "n1", true);
    assert_int_equal(all->n, n0);
    commit_all(t);
    assert_int_equal(all->n, n0 + 1);
    assert_string_equal(all->kind[n0], "node");
    assert_string_equal(all->name[n0], "n1");
    assert_string_equal(all->state[n0], "draining");
    t->manual = false;
    t_exited(t, a, job, 1, 0, 0);
    assert_string_equal(all->state[all->n - 2], "succeeded");
    assert_string_equal(all->kind[all->n - 1], "node");
    assert_string_equal(all->state[all->n - 1], "drained");
    node_admin(t, cli, "n1", false);
    assert_string_equal(all->state[all->n - 1], "up");

    /* the jobs-only watcher saw the same job events, no node event */
    int nj = 0;
    for (int i = 0; i < all->n; i++)
        nj += !strcmp(all->kind[i], "job");
    assert_int_equal(jobs->n, nj);
    for (int i = 0; i < jobs->n; i++)
        assert_string_equal(jobs->kind[i], "job");

    /* a node without heartbeats is declared down: one node event */
    n0 = all->n;
    t_advance(t, t->cfg.dead_after_ms * 3);
    assert_true(all->n > n0);
    assert_string_equal(all->kind[all->n - 1], "node");
    assert_string_equal(all->state[all->n - 1], "down");

    ctl_watch_remove(t->c, &all->w);
    ctl_watch_remove(t->c, &all->w); /* twice: nothing */
    ctl_watch_remove(t->c, &jobs->w);
    n0 = all->n;
    t_submit(t, cli, 1, 1, 0);
    assert_int_equal(all->n, n0); /* unlisted: nothing more */
    assert_int_equal(all->ends + jobs->ends, 0);
    free(all);
    free(jobs);
    t_close(t, cli);
    t_close(t, a);
    t_teardown(t);
}

static void test_decline(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *cli = t_sink(t, "cli");
    rec_t *r = rec_add(t, CTL_WATCH_JOBS);
    r->decline_after = 1;
    t_submit(t, cli, 1, 1, 0);
    t_submit(t, cli, 1, 1, 0);
    assert_int_equal(r->n, 1);
    assert_false(r->w.listed);
    assert_int_equal(r->ends, 0);
    free(r);
    t_close(t, cli);
    t_teardown(t);
}

/* More than the feed's 16 MiB of events in one batch: the batch's later events are not held
 * (the batch stays bounded) and every watcher is told it overflowed. */
static void test_batch_bound(void **state)
{
    (void)state;
    t_ctl_t *t = t_setup(2, 8);
    t_sink_t *cli = t_sink(t, "cli");
    rec_t *r = rec_add(t, CTL_WATCH_JOBS);
    t->manual = true;
    t_submit(t, cli, 1, 8, 0); /* in flight: the next submissions share one open batch */
    assert_true(t->has_pending);
    static char big[7][120001];
    char *argv[8] = {"train"};
    for (int i = 0; i < 7; i++) {
        memset(big[i], 'x', sizeof big[i] - 1);
        argv[i + 1] = big[i];
    }
    for (int k = 0; k < 24; k++) { /* 24 x 840 KB */
        Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
        s.nodes = 1; /* no node is up: they stay pending */
        s.gpus_per_node = 8;
        s.argv = argv;
        s.n_argv = 8;
        s.cwd = "/work";
        Colossus__Request rq = COLOSSUS__REQUEST__INIT;
        rq.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
        rq.submit = &s;
        rq.req = ++t->next_req;
        ctl_request(t->c, &t_admin, &rq, &cli->sink);
    }
    commit_all(t);
    assert_int_equal(r->ends, 1);
    assert_true(r->overflow);
    assert_false(r->w.listed);
    assert_true(r->n >= 1 && r->n < 25); /* not all 25: the second batch stopped at 16 MiB */
    free(r);
    t_close(t, cli);
    t_teardown(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_after_commit),
        cmocka_unit_test(test_decline),
        cmocka_unit_test(test_batch_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
