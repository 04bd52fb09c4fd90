/* committer.h - group commit on a worker thread: the controller's loop hands over a closed
 * batch and goes on reading and applying (into the next batch) while this one commits; the
 * result comes back on the loop (uv_async), where the controller releases what the batch
 * caused (replies, commands) or, on failure, decides to retry or stop.
 *
 * One batch is in flight at a time: cl_committer_submit() while one is in flight fails. */
#ifndef COLOSSUS_STORE_COMMITTER_H
#define COLOSSUS_STORE_COMMITTER_H

#include <uv.h>

#include "store/store.h"

typedef struct cl_committer cl_committer_t;

/* On the loop thread, once the batch submitted with seq has committed (ok, err NULL) or failed
 * (!ok, err says why; nothing of it is durable). The batch is the caller's again: free it,
 * reuse it, or submit it again. The callback may call cl_committer_submit() (the committer is
 * idle by then) and cl_committer_destroy(). */
typedef void cl_committed_f(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                            const cl_error_t *err);

/* Start the worker thread. NULL with err on failure. The store must outlive the committer. */
cl_committer_t *cl_committer_create(uv_loop_t *loop, cl_store_t *s, cl_committed_f *cb,
                                    void *arg, cl_error_t *err);
/* Hand b (ownership until the callback; the loop must not touch it meanwhile) to the worker.
 * Loop thread. -1 when one is in flight (then nothing happens). */
int cl_committer_submit(cl_committer_t *c, cl_store_batch_t *b, uint64_t seq);
bool cl_committer_busy(const cl_committer_t *c); /* a batch is in flight */

/* What the committer did, for benchmarks and logs; loop thread (updated before each
 * callback). */
typedef struct cl_committer_stats {
    uint64_t commits, failures;         /* batches committed, batches failed */
    uint64_t records, puts;             /* of the committed ones: after, before replacement */
    double last_us, total_us, max_us;   /* in the store's commit, on the worker */
    double last_wait_us, total_wait_us; /* from submit to the callback, on the loop */
} cl_committer_stats_t;
void cl_committer_stats(const cl_committer_t *c, cl_committer_stats_t *out);

/* Wait for the batch in flight to commit or fail (its callback is NOT called; the batch stays
 * the caller's, who gave it: the controller reuses a pair of batches), stop the thread and
 * close the async handle. The committer's memory is released when libuv has closed the handle:
 * by the loop's next turn (uv_run(loop, UV_RUN_NOWAIT) after uv_run returned). Loop thread;
 * accepts NULL. */
void cl_committer_destroy(cl_committer_t *c);

#endif
