/* ctl_watch.c - the watch feed (controller.h, docs/api/README.md "Watch"): a job's journaled
 * changes and a node's state changes become events held with the open batch as messages to
 * the feed's own sink, so that they leave exactly when the batch's replies do (after its
 * commit, in its order); on release the feed renders each once and gives it to every watcher
 * whose principal may see it, as the jobs and nodes lists would show it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "api/rest.h"
#include "controller/ctl_acct.h"

/* Event bytes one batch may hold for the watchers (a registration storm of 550,000 nodes
 * would be ~150 MB): past it the batch's later events are dropped and every watcher is told
 * it overflowed when the batch is released (it relists and reconnects). */
#define FEED_BATCH_MAX (16u << 20)

typedef struct ctl_feed {
    ctl_sink_t sink; /* first: the events' sink */
    ctl_t *c;
    ctl_watcher_t *head;
    uint64_t seq;      /* the last event's id */
    uint64_t open_seq; /* the batch open_bytes counts */
    size_t open_bytes;
    bool open_over; /* that batch passed FEED_BATCH_MAX: its marker is held */
} ctl_feed_t;

static void feed_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len);

static void feed_release(ctl_sink_t *s)
{
    free(s);
}

static const ctl_sink_ops_t feed_ops = {"watch", feed_deliver, NULL, feed_release, NULL, false};

/* ---- watchers ---- */

int ctl_watch_add(ctl_t *c, ctl_watcher_t *w, cl_error_t *why)
{
    ctl_caller_t k;
    if (ctl_caller_resolve(c, &w->who, &k, why) < 0) return -1;
    if (!c->feed) {
        c->feed = cl_xcalloc(1, sizeof *c->feed);
        ctl_sink_init(&c->feed->sink, &feed_ops, "watch feed");
        c->feed->c = c;
    }
    w->prev = NULL;
    w->next = c->feed->head;
    if (w->next) w->next->prev = w;
    c->feed->head = w;
    w->listed = true;
    c->watchers++;
    return 0;
}

void ctl_watch_remove(ctl_t *c, ctl_watcher_t *w)
{
    if (!w->listed) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->feed->head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->listed = false;
    c->watchers--;
}

void ctl_watch_free(ctl_t *c)
{
    if (!c->feed) return;
    while (c->feed->head)
        ctl_watch_remove(c, c->feed->head);
    c->feed->sink.closed = true;
    ctl_sink_unref(&c->feed->sink); /* the batches dropped theirs (ctl__batches_free) */
    c->feed = NULL;
}

/* ---- events in ---- */

/* Whether the open batch is past its bound (its later events are dropped: not even made). */
static bool batch_full(ctl_t *c)
{
    ctl_feed_t *f = c->feed;
    if (f->open_seq != c->open->seq) {
        f->open_seq = c->open->seq;
        f->open_bytes = 0;
        f->open_over = false;
    }
    return f->open_over;
}

/* r (one job or one node) held with the open batch, within the batch's bound. */
static void queue(ctl_t *c, Colossus__Response *r)
{
    ctl_feed_t *f = c->feed;
    if (batch_full(c)) return;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_RESPONSE;
    m.response = r;
    size_t n = colossus__msg__get_packed_size(&m);
    if (f->open_bytes + n > FEED_BATCH_MAX) {
        f->open_over = true;
        Colossus__Response over = COLOSSUS__RESPONSE__INIT;
        over.ok = false;
        over.error = "more events in one journal batch than the feed holds (16 MiB): list "
                     "again and watch again";
        m.response = &over;
        ctl_send(c, &f->sink, &m);
        return;
    }
    f->open_bytes += n;
    ctl_send(c, &f->sink, &m);
}

void ctl_watch_job(ctl_t *c, ctl_job_t *j)
{
    if (batch_full(c)) return;
    Colossus__JobInfo info, *ip = &info;
    ctl_job_fill_info(c, j, &info);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.ok = true;
    r.jobs = &ip;
    r.n_jobs = 1;
    queue(c, &r);
    ctl_job_info_release(&info);
}

void ctl_watch_node(ctl_t *c, ctl_node_t *n)
{
    if (batch_full(c)) return;
    Colossus__NodeInfo info, *ip = &info;
    uint64_t jobs[64];
    ctl_node_fill(c, NULL, n, &info, jobs);
    Colossus__Response r = COLOSSUS__RESPONSE__INIT;
    r.ok = true;
    r.nodes = &ip;
    r.n_nodes = 1;
    queue(c, &r);
}

void ctl_watch_job_left(ctl_t *c, const ctl_job_t *j)
{
    /* A node a job leaves is drained now only if it was draining (it held the job). */
    for (uint32_t i = 0; i < j->nalloc; i++) {
        cl_node_info_t info;
        if (cl_node_get(c->cluster, j->alloc[i], &info) == 0 && info.state == CL_NODE_DRAINED)
            ctl_watch_node(c, &c->nodes[j->alloc[i]]);
    }
}

/* ---- events out ---- */

/* v as one line (json.h's rendering, without the final newline); v released. */
static char *line(json_t *v, size_t *len)
{
    char *t = cl_rest_dump(v, len);
    json_decref(v);
    t[--*len] = 0;
    return t;
}

/* a node's line, written straight to text (api/jw.h) */
static char *node_line(const Colossus__NodeInfo *n, size_t *len)
{
    cl_buf_t b = {0};
    cl_json_node_text(&b, n);
    if (cl_buf_append(&b, "", 1) < 0) cl_oom(1, __FILE__, __LINE__);
    *len = b.len - 1;
    return (char *)b.p;
}

/* w's caller as it is now; false (w dropped) when its principal is no longer good. */
static bool caller(ctl_t *c, ctl_watcher_t *w, ctl_caller_t *k)
{
    cl_error_t why;
    if (ctl_caller_resolve(c, &w->who, k, &why) == 0) return true;
    ctl_watch_remove(c, w);
    w->end(w, false, why.msg);
    return false;
}

static void give(ctl_t *c, ctl_watcher_t *w, uint64_t id, const char *kind, const char *t,
                 size_t len)
{
    if (!w->event(w, id, kind, t, len)) ctl_watch_remove(c, w);
}

static void fan_job(ctl_t *c, ctl_feed_t *f, const Colossus__JobInfo *j)
{
    uint64_t id = ++f->seq;
    int t = cl_tenant_find(c->cluster, j->tenant);
    char *text = NULL;
    size_t len = 0;
    for (ctl_watcher_t *w = f->head, *next; w; w = next) {
        next = w->next;
        ctl_caller_t k;
        if (!(w->kinds & CTL_WATCH_JOBS) || !caller(c, w, &k)) continue;
        if (!k.sees_all && (t < 0 || !ctl_caller_sees_tenant(c, &k, (uint32_t)t))) continue;
        if (!text) text = line(cl_json_job(j), &len);
        give(c, w, id, "job", text, len);
    }
    free(text);
}

/* n's jobs that k may see, into vis (n->n_jobs of room): how many. */
static size_t visible_jobs(ctl_t *c, const ctl_caller_t *k, const Colossus__NodeInfo *n,
                           uint64_t *vis)
{
    size_t m = 0;
    for (size_t i = 0; i < n->n_jobs; i++) {
        ctl_job_t *j = k->sees_all ? NULL : ctl_job_get(c, n->jobs[i]);
        if (k->sees_all || (j && ctl_caller_sees_tenant(c, k, j->tenant_ix)))
            vis[m++] = n->jobs[i];
    }
    return m;
}

static void fan_node(ctl_t *c, ctl_feed_t *f, Colossus__NodeInfo *n)
{
    uint64_t id = ++f->seq;
    char *full = NULL;
    size_t flen = 0;
    uint64_t vis[64];
    for (ctl_watcher_t *w = f->head, *next; w; w = next) {
        next = w->next;
        ctl_caller_t k;
        if (!(w->kinds & CTL_WATCH_NODES) || !caller(c, w, &k)) continue;
        size_t nv = n->n_jobs <= 64 ? visible_jobs(c, &k, n, vis) : 0;
        if (nv == n->n_jobs) {
            if (!full) full = node_line(n, &flen);
            give(c, w, id, "node", full, flen);
            continue;
        }
        /* some of its jobs are other tenants': this watcher's own rendering */
        uint64_t *all = n->jobs;
        size_t nall = n->n_jobs, len;
        n->jobs = vis;
        n->n_jobs = nv;
        char *mine = node_line(n, &len);
        n->jobs = all;
        n->n_jobs = nall;
        give(c, w, id, "node", mine, len);
        free(mine);
    }
    free(full);
}

/* The batch's bound passed: every watcher is told and dropped. */
static void overflow_all(ctl_t *c, ctl_feed_t *f, const char *why)
{
    while (f->head) {
        ctl_watcher_t *w = f->head;
        ctl_watch_remove(c, w);
        w->end(w, true, why);
    }
}

/* One event, its batch durable. */
static void feed_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len)
{
    ctl_feed_t *f = (ctl_feed_t *)s;
    Colossus__Msg *m = colossus__msg__unpack(NULL, len, msg);
    if (!m) cl_oom(len, __FILE__, __LINE__); /* packed by queue(): only memory fails it */
    const Colossus__Response *r = m->response;
    if (m->body_case != COLOSSUS__MSG__BODY_RESPONSE)
        ; /* not one of ours */
    else if (!r->ok)
        overflow_all(f->c, f, r->error);
    else if (r->n_jobs)
        fan_job(f->c, f, r->jobs[0]);
    else if (r->n_nodes)
        fan_node(f->c, f, r->nodes[0]);
    colossus__msg__free_unpacked(m, NULL);
}
