/* backend_hollow.c - the hollow launch backend (backend.h): a launch runs nothing and ends
 * after run_ms, or when stopped, with synthetic energy and FLOPs for the time it ran; for
 * hollow nodes, which keep no logs. */
#include "agent/backend.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/util.h"

typedef struct hollow {
    ag_backend_t base;
    uv_loop_t *loop;
    uint32_t run_ms;
} hollow_t;

typedef struct hollow_run {
    uv_timer_t timer; /* first: the close callback frees the run through it */
    ag_run_done_f *done;
    void *arg;
    uint64_t start_ms; /* the loop's time at the start */
    uint32_t gpus;
    bool over;
} hollow_run_t;

static void finish(hollow_run_t *r, int result, int rank)
{
    r->over = true;
    uv_timer_stop(&r->timer);
    double s = (double)(uv_now(r->timer.loop) - r->start_ms) / 1000.0; /* the loop's time */
    ag_run_end_t end = {.result = result,
                        .failed_rank = rank,
                        .flops = AG_HOLLOW_GPU_FLOPS * r->gpus * s,
                        .energy_j = AG_HOLLOW_GPU_W * r->gpus * s};
    r->done(r->arg, &end);
}

static void on_timer(uv_timer_t *t)
{
    finish(t->data, 0, -1);
}

static int hollow_start(ag_backend_t *b, const Colossus__Launch *L, ag_run_done_f *done,
                        void *arg, ag_run_t **out, cl_error_t *err)
{
    hollow_t *h = (hollow_t *)b;
    hollow_run_t *r = cl_xcalloc(1, sizeof *r);
    r->done = done;
    r->arg = arg;
    r->start_ms = uv_now(h->loop);
    r->gpus = (uint32_t)L->n_gpus;
    uv_timer_init(h->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, h->run_ms, 0);
    *out = (ag_run_t *)r;
    return 0;
}

static void hollow_stop(ag_backend_t *b, ag_run_t *run, const char *why, bool now)
{
    hollow_run_t *r = (hollow_run_t *)run;
    if (!r->over) finish(r, 128 + SIGTERM, 0);
}

static void run_closed(uv_handle_t *h)
{
    free(h); /* the run, whose first member is the timer */
}

static void hollow_release(ag_backend_t *b, ag_run_t *run)
{
    hollow_run_t *r = (hollow_run_t *)run;
    uv_close((uv_handle_t *)&r->timer, run_closed);
}

static int hollow_logs(ag_backend_t *b, uint64_t job, uint32_t rank, size_t max, bool follow,
                       uint64_t *at, uint8_t **data, size_t *len, cl_error_t *err)
{
    return cl_err(err, "hollow nodes keep no logs");
}

static void hollow_destroy(ag_backend_t *b)
{
    free(b);
}

static const ag_backend_ops_t hollow_ops = {
    .name = "hollow",
    .start = hollow_start,
    .stop = hollow_stop,
    .release = hollow_release,
    .logs = hollow_logs,
    .destroy = hollow_destroy,
};

ag_backend_t *ag_backend_hollow_create(uv_loop_t *loop, uint32_t run_ms)
{
    hollow_t *h = cl_xcalloc(1, sizeof *h);
    h->base.ops = &hollow_ops;
    h->loop = loop;
    h->run_ms = run_ms;
    return &h->base;
}
