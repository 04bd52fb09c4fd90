/* committer.c - group commit on a worker thread, the result back on the loop through uv_async
 * (committer.h).
 *
 * The loop thread and the worker share only the fields under mu: the submitted batch, the
 * result and the stop flag. uv_async_send() may coalesce wake-ups, which is harmless here:
 * there is at most one result to collect. */
#include <stdlib.h>
#include <string.h>

#include "store/committer.h"
#include "util/util.h"

struct cl_committer {
    uv_async_t async;
    cl_store_t *store;
    cl_committed_f *cb;
    void *arg;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* under mu */
    cl_store_batch_t *todo; /* submitted, not yet taken by the worker */
    bool done, stop;        /* done: a result waits for the loop */
    int rc;
    cl_error_t err;
    double commit_us;
    /* loop thread only */
    cl_store_batch_t *inflight;
    uint64_t seq;
    double submitted_us;
    cl_committer_stats_t stats;
};

static void worker(void *arg)
{
    cl_committer_t *c = arg;
    uv_mutex_lock(&c->mu);
    for (;;) {
        while (!c->todo && !c->stop)
            uv_cond_wait(&c->cv, &c->mu);
        if (!c->todo) break; /* stop, and nothing submitted is left */
        cl_store_batch_t *b = c->todo;
        c->todo = NULL;
        uv_mutex_unlock(&c->mu);
        cl_error_t err = {{0}};
        double t0 = cl_now_us();
        int rc = cl_store_commit(c->store, b, &err);
        double us = cl_now_us() - t0;
        uv_mutex_lock(&c->mu);
        c->rc = rc;
        c->err = err;
        c->commit_us = us;
        c->done = true;
        uv_async_send(&c->async);
    }
    uv_mutex_unlock(&c->mu);
}

static void on_async(uv_async_t *a)
{
    cl_committer_t *c = a->data;
    uv_mutex_lock(&c->mu);
    bool done = c->done;
    int rc = c->rc;
    cl_error_t err = c->err;
    double us = c->commit_us;
    c->done = false;
    uv_mutex_unlock(&c->mu);
    if (!done || !c->inflight) return;
    cl_store_batch_t *b = c->inflight;
    c->inflight = NULL;
    cl_committer_stats_t *st = &c->stats;
    if (rc == 0) {
        st->commits++;
        st->records += cl_store_batch_size(b);
        st->puts += cl_store_batch_puts(b);
    } else {
        st->failures++;
    }
    st->last_us = us;
    st->total_us += us;
    if (us > st->max_us) st->max_us = us;
    st->last_wait_us = cl_now_us() - c->submitted_us;
    st->total_wait_us += st->last_wait_us;
    /* Last: the callback may submit again, or destroy the committer. */
    c->cb(c->arg, b, c->seq, rc == 0, rc == 0 ? NULL : &err);
}

/* Let the worker finish what was submitted, then end it. */
static void stop_worker(cl_committer_t *c)
{
    uv_mutex_lock(&c->mu);
    c->stop = true;
    uv_cond_signal(&c->cv);
    uv_mutex_unlock(&c->mu);
    uv_thread_join(&c->thread);
}

cl_committer_t *cl_committer_create(uv_loop_t *loop, cl_store_t *s, cl_committed_f *cb,
                                    void *arg, cl_error_t *err)
{
    cl_committer_t *c = cl_xcalloc(1, sizeof *c);
    c->store = s;
    c->cb = cb;
    c->arg = arg;
    int rc = uv_mutex_init(&c->mu);
    if (rc < 0) goto fail;
    if ((rc = uv_cond_init(&c->cv)) < 0) goto fail_mu;
    /* The thread first: undoing it needs no loop turn, undoing an async handle would. The
     * worker touches the handle only after a submit, which needs create to have returned. */
    if ((rc = uv_thread_create(&c->thread, worker, c)) < 0) goto fail_cv;
    if ((rc = uv_async_init(loop, &c->async, on_async)) < 0) {
        stop_worker(c);
        goto fail_cv;
    }
    c->async.data = c;
    return c;
fail_cv:
    uv_cond_destroy(&c->cv);
fail_mu:
    uv_mutex_destroy(&c->mu);
fail:
    cl_err(err, "store: cannot start the commit thread: %s", uv_strerror(rc));
    free(c);
    return NULL;
}

int cl_committer_submit(cl_committer_t *c, cl_store_batch_t *b, uint64_t seq)
{
    if (c->inflight) return -1;
    c->inflight = b;
    c->seq = seq;
    c->submitted_us = cl_now_us();
    uv_mutex_lock(&c->mu);
    c->todo = b;
    uv_cond_signal(&c->cv);
    uv_mutex_unlock(&c->mu);
    return 0;
}

bool cl_committer_busy(const cl_committer_t *c)
{
    return c->inflight != NULL;
}

void cl_committer_stats(const cl_committer_t *c, cl_committer_stats_t *out)
{
    *out = c->stats;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void cl_committer_destroy(cl_committer_t *c)
{
    if (!c) return;
    stop_worker(c);     /* after the batch in flight, if any, committed or failed */
    c->inflight = NULL; /* the caller's, who gave it (it may be one of a pair it reuses) */
    uv_cond_destroy(&c->cv);
    uv_mutex_destroy(&c->mu);
    uv_close((uv_handle_t *)&c->async, on_closed);
}
