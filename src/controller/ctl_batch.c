/* ctl_batch.c - journal before acknowledge: the open batch's journal records and the messages
 * it holds, group commit (one batch in flight while the next grows), release of a durable
 * batch's messages to their sinks, and what happens when a commit fails (retry, then stop). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"

/* ---- sinks ---- */

void ctl_sink_init(ctl_sink_t *s, const ctl_sink_ops_t *ops, const char *peer)
{
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->refs = 1;
    snprintf(s->peer, sizeof s->peer, "%s", peer ? peer : "?");
}

void ctl_sink_ref(ctl_sink_t *s)
{
    s->refs++;
}

void ctl_sink_unref(ctl_sink_t *s)
{
    if (s && --s->refs == 0) s->ops->release(s);
}

/* ---- batches ---- */

static void batch_init(ctl_batch_t *b)
{
    memset(b, 0, sizeof *b);
    b->records = cl_store_batch_new();
}

/* Held messages kept for reuse at most: a registration storm or a gang of 65,536 nodes
 * fills one batch with hundreds of thousands of messages, whose buffers would otherwise stay
 * for the daemon's life (measured: +30 to 50 MB after 550,000 hollow nodes registered). */
#define KEEP_HELD_BYTES (4u << 20)
#define KEEP_HELD 65536

/* Drop the held messages (their references) and the records: empty for reuse. */
static void batch_reset(ctl_batch_t *b)
{
    for (size_t i = 0; i < b->nheld; i++)
        ctl_sink_unref(b->held[i].sink);
    b->nheld = 0;
    b->writers = 0;
    b->bytes.len = 0;
    if (b->bytes.cap > KEEP_HELD_BYTES) cl_buf_free(&b->bytes);
    if (b->capheld > KEEP_HELD) {
        free(b->held);
        b->held = NULL;
        b->capheld = 0;
    }
    cl_store_batch_clear(b->records);
}

void ctl__batches_init(ctl_t *c)
{
    batch_init(&c->batch[0]);
    batch_init(&c->batch[1]);
    c->open = &c->batch[0];
    c->flight = NULL;
    c->open->seq = c->next_seq = 1;
}

void ctl__batches_free(ctl_t *c)
{
    for (int i = 0; i < 2; i++) {
        batch_reset(&c->batch[i]);
        cl_store_batch_free(c->batch[i].records);
        cl_buf_free(&c->batch[i].bytes);
        free(c->batch[i].held);
    }
}

static ctl_batch_t *other(ctl_t *c, ctl_batch_t *b)
{
    return b == &c->batch[0] ? &c->batch[1] : &c->batch[0];
}

/* ---- messages out ---- */

void ctl_send(ctl_t *c, ctl_sink_t *s, const Colossus__Msg *m)
{
    if (!s || s->closed) return; /* its peer is gone: nothing can reach it */
    ctl_batch_t *b = c->open;
    size_t at = b->bytes.len, n;
    if (s->ops->encode) {
        s->ops->encode(s, m, &b->bytes);
        n = b->bytes.len - at;
        b->bytes.len = at;
    } else {
        n = colossus__msg__get_packed_size(m);
        if (cl_buf_reserve(&b->bytes, n) < 0) cl_oom(n, __FILE__, __LINE__);
        colossus__msg__pack(m, b->bytes.p + b->bytes.len);
    }
    if (b->nheld == b->capheld) {
        b->capheld = b->capheld ? 2 * b->capheld : 256;
        b->held = cl_xrealloc(b->held, b->capheld * sizeof *b->held);
    }
    ctl_sink_ref(s);
    b->held[b->nheld++] = (ctl_held_t){s, b->bytes.len, n};
    b->bytes.len += n;
}

void ctl_send_node(ctl_t *c, uint32_t node, const Colossus__Msg *m)
{
    /* A node that is not connected gets nothing: when it comes back it registers again and
     * is fenced and reconciled from the controller's state, and one that does not come back
     * is declared down after dead-after. */
    if (node < c->nnodes && c->nodes[node].conn) ctl_send(c, c->nodes[node].conn, m);
}

void ctl_reply(ctl_t *c, ctl_sink_t *s, Colossus__Response *r)
{
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = r;
    ctl_send(c, s, &m);
}

void ctl_reply_error(ctl_t *c, ctl_sink_t *s, uint64_t req, const char *fmt, ...)
{
    char err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, sizeof err, fmt, ap);
    va_end(ap);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = false;
    r.error = err;
    ctl_reply(c, s, &r);
}

void ctl_reply_ok(ctl_t *c, ctl_sink_t *s, uint64_t req, const char *text)
{
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = true;
    r.data.data = (uint8_t *)text;
    r.data.len = text ? strlen(text) : 0;
    ctl_reply(c, s, &r);
}

void ctl_reply_job(ctl_t *c, ctl_sink_t *s, uint64_t req, ctl_job_t *j)
{
    Colossus__JobInfo info, *ip = &info;
    ctl_job_fill_info(c, j, &info);
    Colossus__ArrayTasks at = COLOSSUS__ARRAY_TASKS__INIT;
    if (j->array_id && j->array_id == j->id && ctl_array_count(c, j, &at) == 0)
        info.array_tasks = &at; /* the array's id names the whole array */
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.req = req;
    r.ok = true;
    r.job = j->id;
    r.jobs = &ip;
    r.n_jobs = 1;
    if (colossus__job_info__get_packed_size(&info) > CTL_PART_BYTES)
        ctl_reply_big_job(c, s, &r, false, false);
    else
        ctl_reply(c, s, &r);
    ctl_job_info_release(&info);
}

/* ---- journal records ---- */

void ctl_journal_job(ctl_t *c, ctl_job_t *j)
{
    /* The allocation by node names, whole: a gang of 65,536 nodes is ~700 KB. */
    size_t cap = 1;
    for (uint32_t i = 0; i < j->nalloc; i++)
        cap += strlen(c->nodes[j->alloc[i]].name) + 1;
    char *alloc = cl_xmalloc(cap);
    size_t off = 0;
    alloc[0] = 0;
    for (uint32_t i = 0; i < j->nalloc; i++) {
        size_t l = strlen(c->nodes[j->alloc[i]].name);
        if (i) alloc[off++] = ',';
        memcpy(alloc + off, c->nodes[j->alloc[i]].name, l + 1);
        off += l;
    }
    cl_store_job_t sj = {
        .id = j->id,
        .state = j->state,
        .name = j->name,
        .tenant = j->tenant,
        .cwd = j->cwd,
        .reason = j->reason,
        .nodes = j->nodes,
        .gpus_per_node = j->gpus_per_node,
        .max_restarts = j->max_restarts,
        .time_limit_s = j->time_limit_s,
        .priority = j->priority,
        /* restarts as seen now: the core's count on top of the base (a finished job's too:
         * its record outlives the core's, which the controller forgets) */
        .restarts = ctl_job_restarts(c, j),
        .incarnation = j->inc,
        .exit_code = j->exit_code,
        .has_exit = j->has_exit,
        .submit_time = j->submit_time,
        .start_time = j->start_time,
        .end_time = j->end_time,
        .running_time = j->running_time,
        .alloc = alloc,
        .argv = (const char *const *)j->argv,
        .argc = j->argc,
        .env = (const char *const *)j->env,
        .envc = j->envc,
        .user = j->user,
        .uid = j->uid,
        .gid = j->gid,
        .energy_j = j->energy_j,
        .flops = j->flops,
        .gpu_s = j->gpu_s,
        .ntasks = j->ntasks,
        .cpus_per_gpu = j->cpus_per_gpu,
        .mem_per_gpu_mb = j->mem_per_gpu_mb,
        .cwd_strict = j->cwd_strict,
        .output = j->output,
        .error = j->error,
        .dependency = j->dependency,
        .held = j->held,
        .array_id = j->array_id,
        .array_task = j->array_task,
        .array = j->array,
        .ended = j->ended,
        .exclusive = j->exclusive,
        .nodelist = j->nodelist,
        .exclude = j->exclude,
    };
    if (j->array_id && j->id != j->array_id) {
        sj.argc = sj.envc = 0; /* an array's other tasks: its first task's row holds them */
        sj.argv = sj.env = NULL;
    }
    cl_store_batch_job(c->open->records, &sj);
    j->journal_seq = c->open->seq;
    free(alloc);
    if (c->watchers) ctl_watch_job(c, j); /* released with this record's batch */
}

void ctl_node_journal(ctl_t *c, ctl_node_t *n)
{
    cl_store_node_t sn = {
        .id = n->id, .name = n->name, .drained = n->drained, .reason = n->reason};
    cl_store_batch_node(c->open->records, &sn);
}

void ctl_journal_meta(ctl_t *c, const char *k, uint64_t v)
{
    cl_store_batch_meta(c->open->records, k, v);
}

size_t ctl_pending_records(const ctl_t *c)
{
    return cl_store_batch_size(c->open->records) +
           (c->flight ? cl_store_batch_size(c->flight->records) : 0);
}

bool ctl_commit_in_flight(const ctl_t *c)
{
    return c->flight != NULL;
}

/* ---- release ---- */

/* b is durable (or needs no durability): give its messages to their sinks, in order, then
 * flush each sink once. */
static void release(ctl_t *c, ctl_batch_t *b)
{
    c->touched = NULL;
    for (size_t i = 0; i < b->nheld; i++) {
        ctl_sink_t *s = b->held[i].sink;
        if (s->closed) continue;
        s->ops->deliver(s, b->bytes.p + b->held[i].off, b->held[i].len);
        if (!s->touched && s->ops->flush) {
            s->touched = true;
            ctl_sink_ref(s);
            s->touched_next = c->touched;
            c->touched = s;
        }
    }
    while (c->touched) {
        ctl_sink_t *s = c->touched;
        c->touched = s->touched_next;
        s->touched = false;
        if (!s->closed) s->ops->flush(s);
        ctl_sink_unref(s);
    }
    if (b->seq > c->durable_seq) c->durable_seq = b->seq;
    batch_reset(b);
}

#define CTL_LINGER_MS 1

/* b (in flight) to the committer; one that refuses it fails the commit at once. */
static void hand_over(ctl_t *c, ctl_batch_t *b)
{
    if (c->hooks.commit(c->hooks.arg, b->records, b->seq) < 0) {
        cl_error_t e;
        cl_err(&e, "the committer refused the batch");
        ctl_committed(c, b->records, b->seq, false, &e);
    }
}

/* Hand the open batch to the committer, or release it at once when it holds no records
 * (what it says is already durable: the batch before it has been released). */
static void start_commit(ctl_t *c)
{
    ctl_batch_t *b = c->open;
    if (c->flight || c->stopped || c->commit_retry_at) return;
    size_t n = cl_store_batch_size(b->records);
    if (n == 0) {
        if (b->nheld) release(c, b);
        return;
    }
    if (n < c->linger_target && c->linger_until && ctl_mono_ms(c) < c->linger_until)
        return; /* see ctl_t.linger_target; ctl_timers() comes back at linger_until */
    c->linger_until = 0;
    c->flight = b;
    c->open = other(c, b);
    c->open->seq = ++c->next_seq;
    hand_over(c, b);
}

void ctl__batch_flush(ctl_t *c)
{
    start_commit(c);
}

#define RETRY_MIN_S 0.05
#define RETRY_MAX_S 2.0

void ctl_committed(ctl_t *c, cl_store_batch_t *records, uint64_t seq, bool ok,
                   const cl_error_t *err)
{
    ctl_batch_t *b = c->flight;
    if (!b || b->seq != seq || b->records != records) {
        ctl_log(c, "journal: result for batch %" PRIu64 " that is not in flight; ignored", seq);
        return;
    }
    if (ok) {
        if (c->commit_failures)
            ctl_log(c, "journal: batch %" PRIu64 " committed after %u failed attempts", seq,
                    c->commit_failures);
        c->commit_failures = 0;
        c->commit_failing_since = 0;
        c->flight = NULL;
        c->linger_target = cl_store_batch_size(c->open->records) + b->writers;
        c->linger_until = b->writers ? ctl_mono_ms(c) + CTL_LINGER_MS : 0;
        release(c, b);
        start_commit(c); /* what grew meanwhile */
        return;
    }
    /* Nothing of b is durable, so nothing of it leaves; it stays in flight and is retried. */
    double now = ctl_now(c);
    if (!c->commit_failures) c->commit_failing_since = now;
    c->commit_failures++;
    double give_up = c->cfg.commit_give_up_s > 0 ? c->cfg.commit_give_up_s : 30;
    if (c->store->broken) {
        ctl_log(c,
                "journal: commit of batch %" PRIu64 " (%zu records) failed: %s; stopping at "
                "once without acknowledging any of it",
                seq, cl_store_batch_size(records), err ? err->msg : "?");
        c->stopped = true;
        return;
    }
    if (now - c->commit_failing_since >= give_up) {
        ctl_log(c,
                "journal: commit of batch %" PRIu64 " (%zu records) failed: %s; failing for "
                "%.1f s: stopping without acknowledging any of it",
                seq, cl_store_batch_size(records), err ? err->msg : "?",
                now - c->commit_failing_since);
        c->stopped = true;
        return;
    }
    double wait = RETRY_MIN_S;
    for (uint32_t i = 1; i < c->commit_failures && wait < RETRY_MAX_S; i++)
        wait *= 2;
    if (wait > RETRY_MAX_S) wait = RETRY_MAX_S;
    if (c->commit_failures == 1 || (c->commit_failures & (c->commit_failures - 1)) == 0)
        ctl_log(c,
                "journal: commit of batch %" PRIu64 " (%zu records) failed: %s; nothing of "
                "it was acknowledged; retrying in %.0f ms (attempt %u)",
                seq, cl_store_batch_size(records), err ? err->msg : "?", wait * 1000,
                c->commit_failures + 1);
    c->commit_retry_at = now + wait;
}

uint64_t ctl__batch_next_ms(const ctl_t *c)
{
    return cl_store_batch_size(c->open->records) ? c->linger_until : 0;
}

/* A failed batch whose retry is due goes to the committer again; a batch that lingered long
 * enough goes now. */
void ctl__batch_retry(ctl_t *c)
{
    if (c->linger_until && ctl_mono_ms(c) >= c->linger_until) {
        c->linger_until = 0;
        start_commit(c);
    }
    if (!c->commit_retry_at || c->stopped || ctl_now(c) < c->commit_retry_at) return;
    c->commit_retry_at = 0;
    hand_over(c, c->flight);
}
