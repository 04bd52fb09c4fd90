/* test_launch_train.c - examples/train.py through the rank launcher: two launchers on one loop
 * play 2 nodes x 2 ranks (gloo over 127.0.0.1); a run stopped mid-way with cl_launch_stop()
 * and restarted with restart=1 resumes from its checkpoint and ends with exactly the
 * parameters of an uninterrupted run. Skipped (reported as SKIP) without python3-torch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "agent/launch.h"

#define PYTHON "/usr/bin/python3"
#define STEPS "100"

struct node_done {
    int calls, result;
};

static void on_done(cl_launch_t *l, int result, int failed_rank, void *arg)
{
    (void)l, (void)failed_rank;
    struct node_done *d = arg;
    d->calls++;
    d->result = result;
}

struct waiter {
    int (*ready)(void *);
    void *arg;
    uint64_t deadline;
    int hit, expired;
};

static void on_watch(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (w->ready(w->arg))
        w->hit = 1;
    else if (uv_hrtime() >= w->deadline)
        w->expired = 1;
    else
        return;
    uv_stop(t->loop); /* libuv 1.44: keeps the next poll from blocking */
}

/* Run the loop until ready(arg) holds (checked every 20 ms) or timeout_ms passed. */
static int run_until(uv_loop_t *loop, int (*ready)(void *), void *arg, int timeout_ms)
{
    struct waiter w = {ready, arg, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, 0, 0};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_watch, 20, 20);
    while (!w.hit && !w.expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.hit;
}

struct job {
    struct node_done d[2];
    cl_launch_t *l[2];
};

static int job_done(void *arg)
{
    struct job *j = arg;
    return j->d[0].calls && j->d[1].calls;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Start the 2 x 2 job: one launcher per "node", all on this loop. */
static void start_job(uv_loop_t *loop, struct job *j, const char *dir, const char *tag,
                      const char *ckpt, uint32_t restart, char *const *extra)
{
    static char *argv[] = {PYTHON, "examples/train.py", NULL};
    char cwd[512], logs[700];
    assert_non_null(getcwd(cwd, sizeof cwd));
    uint16_t port = free_port();
    memset(j, 0, sizeof *j);
    for (uint32_t node = 0; node < 2; node++) {
        uint32_t gpus[2] = {node * 2, node * 2 + 1};
        snprintf(logs, sizeof logs, "%s/logs-%s", dir, tag);
        cl_launch_spec_t s = {
            .job_id = 77,
            .incarnation = restart + 1,
            .restart = restart,
            .node_rank = node,
            .nnodes = 2,
            .local_ranks = 2,
            .gpus = gpus,
            .master_addr = "127.0.0.1",
            .master_port = port,
            .argv = argv,
            .env_extra = extra,
            .work_dir = cwd,
            .checkpoint_dir = ckpt,
            .log_dir = logs,
            .grace_ms = 5000,
            .cgroup_mode = CL_LAUNCH_CGROUP_AUTO,
        };
        cl_error_t err;
        if (cl_launch_start(loop, &s, on_done, &j->d[node], &j->l[node], &err))
            fail_msg("start node %u: %s", node, err.msg);
    }
}

static void end_job(struct job *j)
{
    cl_launch_destroy(j->l[0]);
    cl_launch_destroy(j->l[1]);
    j->l[0] = j->l[1] = NULL;
}

struct fixture {
    uv_loop_t loop;
    struct job j;
    char dir[64];
};

static int never(void *arg)
{
    (void)arg;
    return 0;
}

/* Run the loop until nothing is left in it (at most timeout_ms). */
static void drain(uv_loop_t *loop, int timeout_ms)
{
    struct waiter w = {never, NULL, uv_hrtime() + (uint64_t)timeout_ms * 1000000u, 0, 0};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_watch, 20, 20);
    uv_unref((uv_handle_t *)&t);
    while (!w.expired && uv_run(loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/cl-launch-train-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

/* Also after a failure: destroying the launchers kills every rank, and the loop reaps them. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    end_job(&f->j);
    drain(&f->loop, 10000);
    int rc = uv_loop_close(&f->loop);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    assert_int_equal(rc, 0);
    return 0;
}

static json_t *load_final(const char *ckpt)
{
    char path[700];
    snprintf(path, sizeof path, "%s/final.json", ckpt);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) fail_msg("%s: %s", path, jerr.text);
    return j;
}

struct ckpt_watch {
    char log[800];
    int step;
};

/* The last "checkpoint step=N" in rank 0's log is at least 20. */
static int checkpoint_reached(void *arg)
{
    struct ckpt_watch *c = arg;
    FILE *f = fopen(c->log, "r");
    if (!f) return 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "checkpoint step=");
        if (p) c->step = atoi(p + 16);
    }
    fclose(f);
    return c->step >= 20;
}

static void dump_logs(const char *dir)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "tail -n 5 %s/logs-*/rank-*.log >&2", dir);
    if (system(cmd) != 0) fprintf(stderr, "(no logs)\n");
}

static void test_train_stop_and_resume(void **state)
{
    struct fixture *f = *state;
    uv_loop_t *loop = &f->loop;
    struct job *j = &f->j;
    const char *dir = f->dir;
    if (system(PYTHON " -c 'import torch' >/dev/null 2>&1") != 0) {
        print_message("skip: python3-torch is not installed (scripts/install-deps.sh)\n");
        skip();
    }
    if (access("examples/train.py", R_OK) != 0)
        fail_msg("run from the repository root: examples/train.py not found");
    char ref[700], run[700];
    snprintf(ref, sizeof ref, "%s/ckpt-ref", dir);
    snprintf(run, sizeof run, "%s/ckpt-run", dir);
    char *fast[] = {"TRAIN_STEPS=" STEPS, "TRAIN_TIMEOUT=60", NULL};
    char *slow[] = {"TRAIN_STEPS=" STEPS, "TRAIN_TIMEOUT=60", "TRAIN_STEP_SLEEP=0.05", NULL};

    /* 1. reference */
    start_job(loop, j, dir, "ref", ref, 0, fast);
    if (!run_until(loop, job_done, j, 60000)) {
        dump_logs(dir);
        fail_msg("reference run did not finish");
    }
    assert_int_equal(j->d[0].result, 0);
    assert_int_equal(j->d[1].result, 0);
    end_job(j);

    /* 2. slowed run, stopped by the launcher once a checkpoint at step >= 20 exists */
    struct ckpt_watch cw = {.step = 0};
    snprintf(cw.log, sizeof cw.log, "%s/logs-run/rank-0.log", dir);
    start_job(loop, j, dir, "run", run, 0, slow);
    if (!run_until(loop, checkpoint_reached, &cw, 60000)) {
        dump_logs(dir);
        fail_msg("no checkpoint at step 20 in time");
    }
    cl_launch_stop(j->l[0]);
    cl_launch_stop(j->l[1]);
    assert_true(run_until(loop, job_done, j, 20000));
    assert_int_not_equal(j->d[0].result, 0); /* stopped: SIGTERM, or an error from gloo */
    end_job(j);
    char path[800];
    snprintf(path, sizeof path, "%s/final.json", run);
    assert_int_equal(access(path, F_OK), -1);

    /* 3. restart */
    start_job(loop, j, dir, "restart", run, 1, fast);
    if (!run_until(loop, job_done, j, 60000)) {
        dump_logs(dir);
        fail_msg("restarted run did not finish");
    }
    assert_int_equal(j->d[0].result, 0);
    assert_int_equal(j->d[1].result, 0);
    end_job(j);

    json_t *a = load_final(ref), *b = load_final(run);
    assert_int_equal(json_integer_value(json_object_get(a, "resumed_from")), 0);
    json_int_t resumed = json_integer_value(json_object_get(b, "resumed_from"));
    if (resumed < cw.step || resumed >= atoi(STEPS))
        fail_msg("resumed from step %lld, checkpoint was at %d", (long long)resumed, cw.step);
    assert_int_equal(json_integer_value(json_object_get(b, "restart")), 1);
    assert_int_equal(json_integer_value(json_object_get(b, "world_size")), 4);
    assert_true(json_equal(json_object_get(a, "params"), json_object_get(b, "params")));
    json_decref(a);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_train_stop_and_resume, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
