/* ctl_server.c - the controller daemon's loop: listeners (each bound to a protocol; the framed
 * protocol's connections are ctl_conns.c), the committer's worker thread, and the loop phases
 * that drive the controller's timers and turns. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent/ranklog.h"
#include "controller/ctl_srv.h"
#include "store/committer.h"

/* ---- listeners ---- */

static int framed_listen(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err);

/* Each protocol sets up its own listener: the framed protocol's is a libuv TCP handle whose
 * connections are ctl_conns.c's; HTTP's is the HTTP library's socket (ctl_http.c). */
typedef struct srv_proto {
    const char *name;
    int (*listen)(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err);
} srv_proto_t;

static const srv_proto_t protos[] = {
    {"colossus", framed_listen},
    {"http", srv_http_listen},
};

static int framed_listen(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err)
{
    srv_listener_t *l = &srv->listeners[srv->nlisteners];
    l->srv = srv;
    l->proto = cfg->proto;
    if (cl_uconn_listen(&srv->loop, &l->tcp, l, "listener", cfg->addr, srv_framed_accept,
                        l->bound, sizeof l->bound, err) < 0)
        return -1;
    srv->nlisteners++;
    return 0;
}

static int listen_on(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err)
{
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        if (!strcmp(protos[i].name, cfg->proto)) return protos[i].listen(srv, cfg, err);
    return cl_err(err, "listener %s: unknown protocol '%s'", cfg->addr, cfg->proto);
}

/* The first framed listener's address and the first HTTP listener's base URL, for those who
 * start the controller with port 0 (tests, `colossus up`). */
static int write_addresses(struct ctl_server *srv, cl_error_t *err)
{
    char line[320];
    if (srv->o.address_file && srv->nlisteners) {
        snprintf(line, sizeof line, "%s\n", srv->listeners[0].bound);
        if (cl_write_file_atomic(srv->o.address_file, line, err) < 0) return -1;
    }
    if (srv->o.http_address_file && srv->nhttp) {
        snprintf(line, sizeof line, "%s://%s\n", srv->o.http_cert_pem ? "https" : "http",
                 srv_http_bound(srv->http[0]));
        if (cl_write_file_atomic(srv->o.http_address_file, line, err) < 0) return -1;
    }
    return 0;
}

/* ---- commits ---- */

static void commit_took(struct ctl_server *srv, double us)
{
    srv->commit_us_avg += (us - srv->commit_us_avg) / 8;
    srv->commit_us_sum += us;
    srv->commits_timed++;
}

static bool on_loop(const struct ctl_server *srv, const cl_store_batch_t *b)
{
    switch (srv->o.commit) {
    case CTL_COMMIT_INLINE:
        return true;
    case CTL_COMMIT_THREAD:
        return false;
    case CTL_COMMIT_AUTO:
        break;
    }
    return srv->commit_us_avg < CTL_AUTO_INLINE_US &&
           cl_store_batch_weight(b) <= CTL_AUTO_INLINE_RECORDS;
}

/* A rank log read from shared storage (--log-root) on libuv's thread pool: the file may be
 * on NFS, and a slow server must not stall the loop. */
typedef struct log_read {
    uv_work_t w;
    struct ctl_server *srv;
    uint64_t id, offset, size;
    bool follow, ok;
    size_t max, len;
    uint8_t *data;
    cl_error_t err;
    char path[];
} log_read_t;

static void log_read_work(uv_work_t *w)
{
    log_read_t *r = w->data;
    uint64_t at = r->offset;
    r->ok =
        (r->follow ? ag_ranklog_read_from(r->path, &at, r->max, &r->data, &r->len, &r->err)
                   : ag_ranklog_read(r->path, r->max, &r->data, &r->len, &at, &r->err)) == 0;
    if (!r->ok && errno == ENOENT)
        cl_err(&r->err, "no log for this rank in %s (the node is not connected)", r->path);
    r->size = at;
}

static void log_read_after(uv_work_t *w, int status)
{
    log_read_t *r = w->data;
    if (status == 0 && r->srv->ctl)
        ctl_log_read_done(r->srv->ctl, r->id, r->ok, r->err.msg, r->data, r->len, r->size);
    free(r->data);
    free(r);
}

static void hook_read_log(void *arg, uint64_t id, const char *path, bool follow,
                          uint64_t offset, size_t max)
{
    struct ctl_server *srv = arg;
    size_t n = strlen(path) + 1;
    log_read_t *r = cl_xcalloc(1, sizeof *r + n);
    memcpy(r->path, path, n);
    r->w.data = r;
    r->srv = srv;
    r->id = id;
    r->follow = follow;
    r->offset = offset;
    r->max = max;
    if (uv_queue_work(&srv->loop, &r->w, log_read_work, log_read_after) < 0) {
        if (srv->ctl)
            ctl_log_read_done(srv->ctl, id, false, "cannot read the log now", NULL, 0, 0);
        free(r);
    }
}

static int hook_commit(void *arg, cl_store_batch_t *b, uint64_t seq)
{
    struct ctl_server *srv = arg;
    if (on_loop(srv, b)) {
        cl_error_t e;
        double t0 = cl_now_us();
        bool ok = cl_store_commit(srv->store, b, &e) == 0;
        commit_took(srv, cl_now_us() - t0);
        srv->commits_loop++;
        ctl_committed(srv->ctl, b, seq, ok, &e);
        return 0;
    }
    srv->commits_worker++;
    return cl_committer_submit(srv->committer, b, seq);
}

static void on_committed(void *arg, cl_store_batch_t *b, uint64_t seq, bool ok,
                         const cl_error_t *err)
{
    struct ctl_server *srv = arg;
    cl_committer_stats_t st;
    cl_committer_stats(srv->committer, &st);
    commit_took(srv, st.last_us);
    ctl_committed(srv->ctl, b, seq, ok, err);
}

/* ---- the loop's phases ---- */

static void on_timer(uv_timer_t *t);

static void rearm(struct ctl_server *srv)
{
    uint64_t due = ctl_next_timer_ms(srv->ctl);
    if (due == srv->armed_due) return;
    srv->armed_due = due;
    uint64_t now = ctl_clock_real.mono_ms(NULL);
    /* At least 1 ms: a timer restarted with 0 from its own callback would run again in the
     * same timer phase, forever (libuv does not advance its clock within the phase). */
    uv_timer_start(&srv->timer, on_timer, due > now ? due - now : 1, 0);
}

/* Another controller took the store's lease (docs/standby.md): this one can commit nothing
 * more, so it stops at once (exit 70) and says why; the agents and clients go to the new
 * leader. True when it did. */
static bool step_down(struct ctl_server *srv)
{
    char why[320];
    if (!cl_store_lost(srv->store, why, sizeof why)) return false;
    if (srv->rc != 70)
        cl_daemon_log("controller",
                      "lost the lead: %s; stepping down without acknowledging anything more "
                      "(exit 70; jobs keep running on the agents)",
                      why);
    srv->rc = 70;
    uv_stop(&srv->loop);
    return true;
}

static void on_lease(uv_timer_t *t)
{
    step_down(t->data);
}

static void stop_if_done(struct ctl_server *srv)
{
    ctl_t *c = srv->ctl;
    if (ctl_stopped(c)) {
        if (step_down(srv)) return;
        if (srv->rc != 70)
            cl_daemon_log("controller", "the journal cannot be written: exiting (jobs keep "
                                        "running on the agents; restart the controller once "
                                        "the store is fixed)");
        srv->rc = 70;
        uv_stop(&srv->loop);
    } else if (srv->quitting && !ctl_commit_in_flight(c) && !ctl_pending_records(c)) {
        uv_stop(&srv->loop);
    }
}

static void on_judge_idle(uv_idle_t *h)
{
    (void)h; /* only there to keep the poll of a turn with suspects from blocking */
}

static void on_timer(uv_timer_t *t)
{
    struct ctl_server *srv = t->data;
    srv->armed_due = 0;
    ctl_timers(srv->ctl);
    if (ctl_has_suspects(srv->ctl)) uv_idle_start(&srv->judge_idle, on_judge_idle);
    rearm(srv);
}

static void on_prepare(uv_prepare_t *p)
{
    struct ctl_server *srv = p->data;
    ctl_turn_end(srv->ctl, false);
    rearm(srv);
    stop_if_done(srv);
}

static void on_check(uv_check_t *p)
{
    struct ctl_server *srv = p->data;
    ctl_turn_end(srv->ctl, true); /* after this turn's reads: suspects are judged */
    uv_idle_stop(&srv->judge_idle);
    rearm(srv);
    stop_if_done(srv);
}

static void on_quit_timeout(uv_timer_t *t)
{
    struct ctl_server *srv = t->data;
    cl_daemon_log("controller", "the last journal commit did not end within 5 s: exiting");
    uv_stop(&srv->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ctl_server *srv = s->data;
    if (srv->quitting) return;
    cl_daemon_log("controller", "signal %d: exiting (jobs keep running on the agents)", signum);
    srv->quitting = true;
    for (int i = 0; i < srv->nlisteners; i++)
        uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
    srv->nlisteners = 0;
    for (int i = 0; i < srv->nhttp; i++)
        srv_http_quiesce(srv->http[i]);
    uv_timer_start(&srv->quit_timer, on_quit_timeout, 5000, 0);
}

/* ---- life cycle ---- */

ctl_server_t *ctl_server_create(const ctl_server_opts_t *o, cl_store_t *store, cl_error_t *err)
{
    struct ctl_server *srv = cl_xcalloc(1, sizeof *srv);
    srv->o = *o;
    srv->store = store;
    if (uv_loop_init(&srv->loop) < 0) {
        free(srv);
        cl_err(err, "cannot set up the event loop");
        return NULL;
    }
    if (o->commit != CTL_COMMIT_INLINE) {
        srv->committer = cl_committer_create(&srv->loop, store, on_committed, srv, err);
        if (!srv->committer) {
            uv_loop_close(&srv->loop);
            free(srv);
            return NULL;
        }
    }
    srv->hooks = (ctl_hooks_t){
        .commit = hook_commit, .log = NULL, .read_log = hook_read_log, .arg = srv};
    return srv;
}

const ctl_hooks_t *ctl_server_hooks(ctl_server_t *srv)
{
    return &srv->hooks;
}

int ctl_server_run(ctl_server_t *srv, ctl_t *c, cl_error_t *err)
{
    srv->ctl = c;
    signal(SIGPIPE, SIG_IGN);
    srv_conns_init(srv);
    for (int i = 0; i < srv->o.nlisten; i++)
        if (listen_on(srv, &srv->o.listen[i], err) < 0) return 1;
    if (write_addresses(srv, err) < 0) return 1;
    uv_prepare_init(&srv->loop, &srv->prepare);
    uv_check_init(&srv->loop, &srv->check);
    uv_idle_init(&srv->loop, &srv->judge_idle);
    uv_timer_init(&srv->loop, &srv->timer);
    uv_timer_init(&srv->loop, &srv->quit_timer);
    uv_timer_init(&srv->loop, &srv->sweep);
    uv_timer_init(&srv->loop, &srv->lease);
    srv->lease.data = srv;
    uv_timer_start(&srv->lease, on_lease, CL_STORE_LEASE_TRY_MS, CL_STORE_LEASE_TRY_MS);
    srv->prepare.data = srv->check.data = srv->timer.data = srv->quit_timer.data = srv;
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, srv_conns_sweep, SRV_SWEEP_MS, SRV_SWEEP_MS);
    uv_prepare_start(&srv->prepare, on_prepare);
    uv_check_start(&srv->check, on_check);
    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    const ctl_config_t *cfg = ctl_config(c);
    static const char *const modes[] = {
        [CTL_COMMIT_AUTO] = "on the loop while they are fast, else on a worker thread",
        [CTL_COMMIT_THREAD] = "on a worker thread",
        [CTL_COMMIT_INLINE] = "on the loop"};
    char where[2 * CTL_MAX_LISTENERS * 320] = "";
    for (int i = 0; i < srv->nlisteners; i++)
        snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s (%s)",
                 i ? ", " : "", srv->listeners[i].bound, srv->listeners[i].proto);
    for (int i = 0; i < srv->nhttp; i++)
        snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s://%s (http)",
                 where[0] ? ", " : "", srv->o.http_cert_pem ? "https" : "http",
                 srv_http_bound(srv->http[i]));
    cl_daemon_log("controller",
                  "listening on %s; %u node slots x %u GPUs; heartbeat %u ms, dead "
                  "after %u ms; journal commits %s",
                  where, ctl_node_slots(c), ctl_gpus_per_node(c), cfg->heartbeat_ms,
                  cfg->dead_after_ms, modes[srv->o.commit]);
    srv->rc = 0;
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    cl_daemon_log("controller",
                  "journal: %" PRIu64 " commits on the loop, %" PRIu64
                  " on the worker thread; recent commits took %.0f us",
                  srv->commits_loop, srv->commits_worker, srv->commit_us_avg);
    return srv->rc;
}

static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

void ctl_server_destroy(ctl_server_t *srv)
{
    if (!srv) return;
    cl_committer_destroy(srv->committer); /* waits for the batch in flight */
    srv->committer = NULL;
    /* Connections close through their own path (the controller is told, refs dropped);
     * their close callbacks unlink them as the loop runs them. Each is told why first. */
    srv_conns_refuse_all(srv, COLOSSUS__REFUSED__WHY__SHUTTING_DOWN,
                         "the controller is shutting down");
    for (int i = 0; i < srv->nhttp; i++)
        srv_http_stop(srv->http[i]); /* waiting requests answered 503 */
    srv->nhttp = 0;
    uv_run(&srv->loop, UV_RUN_NOWAIT);
    srv_conns_close_all(srv); /* those whose peer did not take the refusal yet */
    uv_run(&srv->loop, UV_RUN_NOWAIT);
    uv_walk(&srv->loop, close_all, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&srv->loop);
    free(srv);
}
