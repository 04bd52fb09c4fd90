/* test_backend.c - the agent's launch backends (src/agent/backend.h): the process backend
 * (real ranks, rank logs, the reason of a launch that cannot start in the first rank's log,
 * the fallback working directory, stop) and the hollow backend (a timer per launch, stop ends
 * it at once, no logs). */
#include "launch_test.h"

#include "agent/backend.h"

struct ended {
    int calls, result, rank;
};

static void on_ended(void *arg, int result, int failed_rank)
{
    struct ended *e = arg;
    e->calls++;
    e->result = result;
    e->rank = failed_rank;
}

/* A launch order of one node: ranks local ranks on GPUs 0.., node_rank of nnodes. */
struct order {
    Colossus__Launch L;
    uint32_t gpus[8];
    char *argv[8];
    char *env[4];
};

static void order_init(struct order *o, uint64_t job, uint32_t ranks, uint32_t node_rank,
                       const char *script)
{
    colossus__launch__init(&o->L);
    o->L.job = job;
    o->L.incarnation = 1;
    o->L.node_rank = node_rank;
    o->L.nnodes = node_rank + 1;
    o->L.ranks_per_node = ranks;
    for (uint32_t i = 0; i < ranks; i++)
        o->gpus[i] = i;
    o->L.gpus = o->gpus;
    o->L.n_gpus = ranks;
    o->L.master_addr = "127.0.0.1";
    o->L.master_port = 29500;
    o->argv[0] = "/bin/sh";
    o->argv[1] = "-c";
    o->argv[2] = (char *)script;
    o->L.argv = o->argv;
    o->L.n_argv = 3;
    o->env[0] = "CL_BACKEND_TEST=1";
    o->L.env = o->env;
    o->L.n_env = 1;
    o->L.cwd = "";
    o->L.checkpoint_dir = "";
}

static ag_backend_t *proc_backend(struct fixture *f)
{
    cl_error_t err;
    ag_backend_t *b = ag_backend_proc_create(&f->loop, f->work, "n7", 2, &err);
    if (!b) fail_msg("proc backend: %s", err.msg);
    assert_string_equal(ag_backend_name(b), "process");
    return b;
}

static char *log_of(struct fixture *f, uint64_t job, uint32_t rank)
{
    char path[600];
    snprintf(path, sizeof path, "%s/logs/job%llu.rank-%u.log", f->work, (unsigned long long)job,
             rank);
    return slurp(path);
}

/* Two ranks run, their logs are served back by job and rank (the tail when asked for less). */
static void test_proc_run_and_logs(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 2, 1, "echo rank-$RANK-of-$WORLD_SIZE-$CL_BACKEND_TEST");
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.result, 0);
    assert_int_equal(e.rank, -1);
    ag_backend_stop(b, r, "after the end: nothing to do");
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, f->job_id, 3, 1 << 20, &data, &len, &err), 0);
    assert_int_equal(len, strlen("rank-3-of-4-1\n"));
    assert_memory_equal(data, "rank-3-of-4-1\n", len);
    free(data);
    assert_int_equal(ag_backend_logs(b, f->job_id, 2, 5, &data, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "-4-1\n", 5); /* the tail of "rank-2-of-4-1\n" */
    free(data);
    assert_int_equal(ag_backend_logs(b, f->job_id, 9, 100, &data, &len, &err), -1);
    assert_non_null(strstr(err.msg, "no log for rank 9"));
    assert_non_null(strstr(err.msg, "on node n7"));
    ag_backend_release(b, r);
    ag_backend_destroy(b);
    ag_backend_destroy(NULL);
}

/* A launch that cannot start: -1 with the reason, done never called, and the reason in the
 * log of the node's first rank (node_rank * ranks_per_node). */
static void test_proc_cannot_start(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 2, 3, "true");
    o.argv[0] = "no-such-command-colossus";
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
    assert_non_null(strstr(err.msg, "command not found"));
    char *text = log_of(f, f->job_id, 6);
    assert_non_null(text);
    assert_non_null(strstr(text, "colossus: cannot launch: launch: command not found"));
    free(text);
    /* An order the node cannot follow (GPUs and ranks disagree). */
    order_init(&o, f->job_id + 1000, 2, 0, "true");
    o.L.n_gpus = 1;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), -1);
    assert_non_null(strstr(err.msg, "bad launch order (2 ranks, 1 gpus, 3 args)"));
    text = log_of(f, f->job_id + 1000, 0);
    assert_non_null(text);
    assert_non_null(strstr(text, "colossus: cannot launch: bad launch order"));
    free(text);
    sleep_loop(&f->loop, 50);
    assert_int_equal(e.calls, 0);
    ag_backend_destroy(b);
}

/* Where the submitter's directory does not exist here, ranks run in WORK/jobs/<ID>. */
static void test_proc_cwd_fallback(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 1, 0, "pwd");
    o.L.cwd = "/nonexistent/colossus/dir";
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.result, 0);
    char want[600];
    snprintf(want, sizeof want, "%s/jobs/%llu\n", f->work, (unsigned long long)f->job_id);
    char *text = log_of(f, f->job_id, 0);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    ag_backend_release(b, r);
    ag_backend_destroy(b);
}

/* stop ends a running launch with SIGTERM; release before the end never calls done. */
static void test_proc_stop_and_release(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = proc_backend(f);
    struct order o;
    order_init(&o, f->job_id, 1, 0, "exec sleep 30");
    struct ended e = {0};
    ag_run_t *r = NULL;
    cl_error_t err;
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e, &r, &err), 0);
    ag_backend_stop(b, r, "test");
    ag_backend_stop(b, r, "test again"); /* idempotent */
    assert_true(run_until(&f->loop, &e.calls, 10000));
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.result, 128 + SIGTERM);
    assert_int_equal(e.rank, 0);
    ag_backend_release(b, r);
    struct ended e2 = {0};
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e2, &r, &err), 0);
    ag_backend_release(b, r);
    assert_int_equal(wait_job_procs(f->job_id, 0), 0);
    sleep_loop(&f->loop, 50);
    assert_int_equal(e2.calls, 0);
    ag_backend_destroy(b);
}

/* Hollow launches end after run_ms, or at once as 128 + SIGTERM of rank 0 when stopped. */
static void test_hollow(void **state)
{
    struct fixture *f = *state;
    ag_backend_t *b = ag_backend_hollow_create(&f->loop, 30);
    assert_string_equal(ag_backend_name(b), "hollow");
    struct order o;
    order_init(&o, 1, 8, 0, "never run");
    struct ended e1 = {0}, e2 = {0}, e3 = {0};
    ag_run_t *r1, *r2, *r3;
    cl_error_t err;
    uv_update_time(&f->loop); /* libuv timers count from the loop's time */
    uint64_t t0 = uv_hrtime();
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e1, &r1, &err), 0);
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e2, &r2, &err), 0);
    assert_int_equal(ag_backend_start(b, &o.L, on_ended, &e3, &r3, &err), 0);
    ag_backend_stop(b, r2, "test");
    assert_int_equal(e2.calls, 1); /* at once, from within stop */
    assert_int_equal(e2.result, 128 + SIGTERM);
    assert_int_equal(e2.rank, 0);
    ag_backend_release(b, r3); /* before its end: never reported */
    assert_true(run_until(&f->loop, &e1.calls, 5000));
    assert_true(uv_hrtime() - t0 >= 29 * 1000000ull);
    assert_int_equal(e1.result, 0);
    assert_int_equal(e1.rank, -1);
    ag_backend_stop(b, r1, "after the end");
    ag_backend_stop(b, r2, "again");
    sleep_loop(&f->loop, 50);
    assert_int_equal(e1.calls, 1);
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e3.calls, 0);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ag_backend_logs(b, 1, 0, 100, &data, &len, &err), -1);
    assert_string_equal(err.msg, "hollow nodes keep no logs");
    assert_null(data);
    ag_backend_release(b, r1);
    ag_backend_release(b, r2);
    ag_backend_release(b, NULL);
    ag_backend_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proc_run_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_cannot_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_cwd_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_stop_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hollow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
