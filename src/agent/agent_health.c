/* agent_health.c - the agent's GPU health: NVML monitor polled off the loop (uv_queue_work),
 * `colossus gpu check` run as a child process (CUDA stays out of the agent, and a burn-in that
 * crashes does not take the agent with it), latched action, and the NodeHealth reports. */
#include "agent/agent_health.h"
#include "gpu/nvml.h"

#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/links.h"
#include "gpu/monitor.h"
#include "proto/uvconn.h"

#define XQ_MAX 64             /* XIDs kept for the next report */
#define CHECK_LIMIT_MS 120000 /* a burn-in that runs longer than this failed */
#define OUT_MAX (1u << 20)    /* most bytes of a check's output kept */
#define LINK_POLL_MS 500      /* network links read this often: a lost one latched in < 1 s */

static const char *WHO = "agent";

typedef struct waiter {
    struct waiter *next;
    void (*done)(void *arg);
    void *arg;
} waiter_t;

typedef struct held {
    struct held *next;
    Colossus__Launch *L; /* unpacked copy, owned */
    ag_health_go_f *go;
    void *arg;
} held_t;

typedef struct outbuf {
    uv_pipe_t pipe;
    char *p;
    size_t len;
} outbuf_t;

struct ag_health {
    uv_loop_t *loop;
    ag_health_opts_t o;
    ag_health_urgent_f *urgent;
    void *urgent_arg;
    cl_gpu_monitor_t *mon;
    const cl_gpu_inv_t *inv;
    int ninv;
    bool closing;
    int refs; /* open handles + work in flight; freed at 0 once closing */

    /* network links (links.h) */
    ag_links_t *links;
    uv_timer_t link_timer;

    /* polling */
    uv_timer_t poll_timer;
    uv_work_t work;
    bool polling;
    cl_gpu_node_health_t res; /* written by the worker thread only while polling */
    double poll_now;
    int poll_rc;
    cl_error_t poll_err;
    waiter_t *wait_cur, *wait_next;

    /* what the next report carries */
    cl_gpu_node_health_t last;
    bool have_last, fresh;
    double last_time;
    struct {
        uint32_t gpu;
        uint64_t xid;
        cl_health_action_t a;
        double t;
    } xq[XQ_MAX];
    int nxq;
    cl_health_action_t latched;
    char reason[256];

    /* gpu check */
    bool checking;
    ag_check_mode_t check_mode;
    uint64_t run_seq, queued_seq;
    uv_process_t proc;
    outbuf_t out, err;
    uv_timer_t check_timer;
    int check_pending; /* exit + two EOFs still to come */
    int64_t exit_status;
    int term_signal;
    bool timed_out;
    char check[16], check_reason[512];
    double check_time;
    uint64_t check_seq;
    void (*ready)(void *arg);
    void *ready_arg;
    held_t *held;
};

static void maybe_free(ag_health_t *h)
{
    if (!h->closing || h->refs > 0) return;
    cl_gpu_monitor_destroy(h->mon);
    ag_links_free(h->links);
    free(h->out.p);
    free(h->err.p);
    while (h->held) {
        held_t *x = h->held;
        h->held = x->next;
        colossus__launch__free_unpacked(x->L, NULL);
        free(x);
    }
    free(h);
}

static void on_handle_closed(uv_handle_t *hd)
{
    ag_health_t *h = hd->data;
    h->refs--;
    maybe_free(h);
}

static void hclose(ag_health_t *h, uv_handle_t *hd)
{
    if (!uv_is_closing(hd)) {
        hd->data = h;
        uv_close(hd, on_handle_closed);
    }
}

/* Latch a worse action; the controller hears of it at once. */
static void latch(ag_health_t *h, cl_health_action_t a, const char *reason)
{
    if (a <= h->latched) return;
    h->latched = a;
    snprintf(h->reason, sizeof h->reason, "%s", reason);
    cl_daemon_log(WHO, "GPU health: %s: %s", cl_health_action_name(a), reason);
    h->fresh = true;
    if (h->urgent) h->urgent(h->urgent_arg);
}

/* ------------------------------------------------------------------ polling -------------- */

static void poll_work(uv_work_t *w)
{
    ag_health_t *h = w->data;
    h->poll_rc = cl_gpu_monitor_poll(h->mon, h->poll_now, &h->res, &h->poll_err);
}

static void start_poll(ag_health_t *h);

static void poll_done(uv_work_t *w, int status)
{
    ag_health_t *h = w->data;
    h->polling = false;
    h->refs--;
    if (h->closing) {
        maybe_free(h);
        return;
    }
    if (status == 0 && h->poll_rc == 0) {
        h->last = h->res;
        h->have_last = true;
        h->fresh = true;
        h->last_time = cl_wall_s();
        for (int i = 0; i < h->res.nxids; i++) {
            const cl_gpu_xid_t *x = &h->res.xids[i];
            cl_daemon_log(WHO, "GPU %d: XID %llu (%s, class %s): %s",
                          x->index == UINT32_MAX ? -1 : (int)x->index,
                          (unsigned long long)x->xid, cl_health_xid_desc(x->xid),
                          cl_health_xid_class_name(cl_health_xid_class(x->xid)),
                          cl_health_action_name(h->res.xid_action[i]));
            if (h->nxq == XQ_MAX) { /* keep the newest */
                memmove(h->xq, h->xq + 1, (XQ_MAX - 1) * sizeof h->xq[0]);
                h->nxq--;
            }
            h->xq[h->nxq].gpu = x->index;
            h->xq[h->nxq].xid = x->xid;
            h->xq[h->nxq].a = h->res.xid_action[i];
            h->xq[h->nxq].t = h->last_time;
            h->nxq++;
        }
        latch(h, h->res.action, h->res.reason);
    } else if (status == 0) {
        cl_daemon_log(WHO, "GPU monitor: %s", h->poll_err.msg);
    }
    waiter_t *w0 = h->wait_cur;
    h->wait_cur = NULL;
    while (w0) {
        waiter_t *n = w0->next;
        w0->done(w0->arg);
        free(w0);
        w0 = n;
    }
    if (h->wait_next) {
        h->wait_cur = h->wait_next;
        h->wait_next = NULL;
        start_poll(h);
    }
}

static void start_poll(ag_health_t *h)
{
    if (h->polling || h->closing) return;
    h->work.data = h;
    h->poll_now = cl_now_ms() / 1000.0;
    if (uv_queue_work(h->loop, &h->work, poll_work, poll_done) == 0) {
        h->polling = true;
        h->refs++;
    }
}

static void on_poll_timer(uv_timer_t *t)
{
    start_poll(t->data);
}

/* A watched link that is down takes the node out now: its job restarts elsewhere (the
 * controller's drain-now), not after a hung collective or the heartbeat timeout. */
static void on_link_timer(uv_timer_t *t)
{
    ag_health_t *h = t->data;
    char why[400];
    if (ag_links_poll(h->links, why, sizeof why)) latch(h, CL_HEALTH_DRAIN_NOW, why);
}

void ag_health_poll_then(ag_health_t *h, void (*done)(void *arg), void *arg)
{
    waiter_t *w = cl_xcalloc(1, sizeof *w);
    w->done = done;
    w->arg = arg;
    if (h->polling) { /* that poll may have read the events already: one more after it */
        w->next = h->wait_next;
        h->wait_next = w;
    } else {
        w->next = h->wait_cur;
        h->wait_cur = w;
        start_poll(h);
    }
}

/* ------------------------------------------------------------------ gpu check ------------ */

static void out_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    static char scratch[65536]; /* loop thread only; pipe_read copies it out */
    (void)hd;
    (void)suggested;
    buf->base = scratch;
    buf->len = sizeof scratch;
}

static void check_finish(ag_health_t *h);

static void check_part_done(ag_health_t *h)
{
    if (--h->check_pending == 0) check_finish(h);
}

/* The two pipes and the process report to their owner through these small trampolines. */
static void part_closed(uv_handle_t *hd)
{
    ag_health_t *h = hd->data;
    h->refs--;
    if (h->closing) {
        maybe_free(h);
        return;
    }
    check_part_done(h);
}

static void pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    ag_health_t *h = s->data;
    outbuf_t *o = (uv_pipe_t *)s == &h->out.pipe ? &h->out : &h->err;
    if (n > 0) {
        if (o->len + (size_t)n <= OUT_MAX) {
            o->p = cl_xrealloc(o->p, o->len + (size_t)n + 1);
            memcpy(o->p + o->len, buf->base, (size_t)n);
            o->len += (size_t)n;
            o->p[o->len] = 0;
        }
    } else if (n < 0) {
        uv_read_stop(s);
        uv_close((uv_handle_t *)s, part_closed);
    }
}

static void proc_exit(uv_process_t *p, int64_t status, int sig)
{
    ag_health_t *h = p->data;
    h->exit_status = status;
    h->term_signal = sig;
    uv_timer_stop(&h->check_timer);
    uv_close((uv_handle_t *)p, part_closed);
}

static void on_check_timeout(uv_timer_t *t)
{
    ag_health_t *h = t->data;
    if (!h->checking) return;
    h->timed_out = true;
    uv_process_kill(&h->proc, SIGKILL);
}

/* Failed GPUs of a `gpu check --json` output: "GPU i: reason; ...". */
static void failed_gpus(const char *json, char *out, size_t len)
{
    out[0] = 0;
    json_error_t je;
    json_t *root = json ? json_loads(json, 0, &je) : NULL;
    json_t *gpus = root ? json_object_get(root, "gpus") : NULL;
    size_t i, off = 0;
    json_t *g;
    json_array_foreach(gpus, i, g)
    {
        if (json_is_true(json_object_get(g, "passed")) || off + 8 >= len) continue;
        const char *r = json_string_value(json_object_get(g, "reason"));
        off += (size_t)snprintf(out + off, len - off, "%sGPU %d: %s", off ? "; " : "",
                                (int)json_integer_value(json_object_get(g, "index")),
                                r && r[0] ? r : "failed");
        if (off >= len) off = len - 1;
    }
    json_decref(root);
}

static void first_line(const char *s, char *out, size_t len)
{
    if (!s) s = "";
    size_t n = strcspn(s, "\n");
    snprintf(out, len, "%.*s", (int)n, s);
}

static void check_finish(ag_health_t *h)
{
    h->checking = false;
    h->check_time = cl_wall_s();
    h->check_seq = h->queued_seq ? h->queued_seq : h->run_seq;
    h->queued_seq = 0;
    const char *mode = h->check_mode == AG_CHECK_FULL ? "full" : "quick";
    int verdict; /* 1 passed, 0 failed, -1 could not check */
    char why[400];
    if (h->timed_out) {
        verdict = 0;
        snprintf(why, sizeof why, "gpu check --%s did not finish within %d s", mode,
                 CHECK_LIMIT_MS / 1000);
    } else if (h->term_signal) {
        verdict = 0;
        snprintf(why, sizeof why, "gpu check --%s died of signal %d", mode, h->term_signal);
    } else if (h->exit_status == 0) {
        verdict = 1;
        why[0] = 0;
    } else if (h->exit_status == 1) {
        verdict = 0;
        failed_gpus(h->out.p, why, sizeof why);
        if (!why[0]) first_line(h->err.p, why, sizeof why);
        if (!why[0]) snprintf(why, sizeof why, "gpu check --%s failed", mode);
    } else {
        verdict = -1;
        first_line(h->err.p, why, sizeof why);
        if (!why[0])
            snprintf(why, sizeof why, "gpu check --%s exited with %lld", mode,
                     (long long)h->exit_status);
    }
    free(h->out.p);
    free(h->err.p);
    h->out.p = h->err.p = NULL;
    h->out.len = h->err.len = 0;
    snprintf(h->check, sizeof h->check, "%s",
             verdict > 0    ? "passed"
             : verdict == 0 ? "failed"
                            : "unavailable");
    snprintf(h->check_reason, sizeof h->check_reason, "%s", why);
    cl_daemon_log(WHO, "gpu check --%s %s%s%s", mode, h->check, why[0] ? ": " : "", why);
    if (verdict > 0) {
        /* A passing check clears the latch; the next poll judges the GPUs afresh. */
        h->latched = CL_HEALTH_NONE;
        h->reason[0] = 0;
    } else if (verdict == 0) {
        char reason[600];
        cl_health_check(0, why, reason, sizeof reason);
        if (CL_HEALTH_KEEP_OUT > h->latched) {
            h->latched = CL_HEALTH_KEEP_OUT;
            snprintf(h->reason, sizeof h->reason, "%.255s", reason);
        }
    }
    h->fresh = true;
    held_t *x = h->held;
    h->held = NULL;
    while (x) {
        held_t *n = x->next;
        if (verdict != 0)
            x->go(x->L, x->arg);
        else
            cl_daemon_log(WHO,
                          "job %llu incarnation %u not launched: the pre-job gpu check "
                          "failed",
                          (unsigned long long)x->L->job, x->L->incarnation);
        colossus__launch__free_unpacked(x->L, NULL);
        free(x);
        x = n;
    }
    if (h->urgent) h->urgent(h->urgent_arg);
    if (h->ready) {
        void (*r)(void *) = h->ready;
        h->ready = NULL;
        r(h->ready_arg);
    }
}

/* Start `colossus gpu check --MODE --json` (this very binary). */
static void run_check(ag_health_t *h, ag_check_mode_t mode, uint64_t seq)
{
    if (h->checking) {
        if (seq) h->queued_seq = seq;
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *mflag = mode == AG_CHECK_FULL ? "--full" : "--quick";
    h->check_mode = mode;
    h->run_seq = seq;
    h->timed_out = false;
    h->term_signal = 0;
    h->exit_status = 0;
    if (n <= 0) {
        h->exit_status = 2;
        h->err.p = cl_xstrdup("cannot find the colossus binary (/proc/self/exe)");
        h->checking = true;
        check_finish(h);
        return;
    }
    exe[n] = 0;
    char *args[] = {exe, "gpu", "check", (char *)mflag, "--json", NULL};
    uv_pipe_init(h->loop, &h->out.pipe, 0);
    uv_pipe_init(h->loop, &h->err.pipe, 0);
    h->out.pipe.data = h->err.pipe.data = h;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&h->out.pipe;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&h->err.pipe;
    uv_process_options_t po = {0};
    /* this very binary, even when an upgrade replaced the file at its path (readlink then
     * says "(deleted)") and the agent has not re-executed yet */
    po.file = "/proc/self/exe";
    po.args = args;
    po.exit_cb = proc_exit;
    po.stdio = stdio;
    po.stdio_count = 3;
    h->proc.data = h;
    h->refs += 3;
    h->checking = true;
    int rc = uv_spawn(h->loop, &h->proc, &po);
    if (rc < 0) {
        /* libuv wants the process handle closed even when spawn failed */
        h->exit_status = 2;
        char m[200];
        snprintf(m, sizeof m, "cannot start gpu check: %s", uv_strerror(rc));
        h->err.p = cl_xstrdup(m);
        h->check_pending = 3;
        uv_close((uv_handle_t *)&h->proc, part_closed);
        uv_close((uv_handle_t *)&h->out.pipe, part_closed);
        uv_close((uv_handle_t *)&h->err.pipe, part_closed);
        return;
    }
    h->check_pending = 3;
    cl_daemon_log(WHO, "gpu check %s started (pid %d)", mflag, h->proc.pid);
    uv_read_start((uv_stream_t *)&h->out.pipe, out_alloc, pipe_read);
    uv_read_start((uv_stream_t *)&h->err.pipe, out_alloc, pipe_read);
    uv_timer_start(&h->check_timer, on_check_timeout, CHECK_LIMIT_MS, 0);
}

void ag_health_check_order(ag_health_t *h, const Colossus__CheckOrder *o)
{
    cl_daemon_log(WHO, "the controller orders a gpu check (%s)", o->full ? "full" : "quick");
    run_check(h, o->full ? AG_CHECK_FULL : AG_CHECK_QUICK, o->seq ? o->seq : 1);
}

bool ag_health_hold_launch(ag_health_t *h, const Colossus__Launch *L, ag_health_go_f *go,
                           void *arg)
{
    if (h->o.before_job == AG_CHECK_OFF) return false;
    size_t len = colossus__launch__get_packed_size(L);
    uint8_t *buf = cl_xmalloc(len ? len : 1);
    held_t *x = cl_xcalloc(1, sizeof *x);
    colossus__launch__pack(L, buf);
    x->L = colossus__launch__unpack(NULL, len, buf);
    free(buf);
    if (!x->L) /* what we packed ourselves: only memory can be missing */
        cl_oom(len, __FILE__, __LINE__);
    x->go = go;
    x->arg = arg;
    x->next = h->held;
    h->held = x;
    cl_daemon_log(WHO, "job %llu incarnation %u: pre-job gpu check first",
                  (unsigned long long)L->job, L->incarnation);
    run_check(h, h->o.before_job, 0);
    return true;
}

void ag_health_drop_held(ag_health_t *h, uint32_t node, uint64_t job, uint32_t inc)
{
    for (held_t **p = &h->held; *p;) {
        held_t *x = *p;
        if (x->L->node == node &&
            (job == 0 || (x->L->job == job && x->L->incarnation <= inc))) {
            *p = x->next;
            colossus__launch__free_unpacked(x->L, NULL);
            free(x);
        } else {
            p = &x->next;
        }
    }
}

/* ------------------------------------------------------------------ reports -------------- */

Colossus__NodeHealth *ag_health_report(ag_health_t *h, uint32_t node, bool force)
{
    if (!h->fresh && !force) return NULL;
    int ng = h->have_last ? h->last.nsamples : 0;
    Colossus__NodeHealth *r = cl_xcalloc(1, sizeof *r);
    /* Element arrays only when non-empty: ag_health_report_free() finds them as v[0]. */
    Colossus__GpuTelemetry *g = ng ? cl_xcalloc((size_t)ng, sizeof *g) : NULL;
    Colossus__GpuTelemetry **gp = cl_xcalloc((size_t)ng + 1, sizeof *gp);
    Colossus__XidEvent *x = h->nxq ? cl_xcalloc((size_t)h->nxq, sizeof *x) : NULL;
    Colossus__XidEvent **xp = cl_xcalloc((size_t)h->nxq + 1, sizeof *xp);
    colossus__node_health__init(r);
    r->node = node;
    r->action = (char *)cl_health_action_name(h->latched);
    r->reason = h->reason;
    r->time = h->have_last ? h->last_time : cl_wall_s();
    r->gpus_expected = (uint32_t)h->ninv;
    r->gpus_found = h->have_last ? (uint32_t)h->last.found : (uint32_t)h->ninv;
    r->check = h->checking ? "running" : h->check;
    r->check_reason = h->check_reason;
    r->check_time = h->check_time;
    r->check_seq = h->check_seq;
    for (int i = 0; i < ng; i++) {
        const cl_gpu_sample_t *s = &h->last.samples[i];
        colossus__gpu_telemetry__init(&g[i]);
        g[i].index = s->index;
        g[i].valid = s->valid;
        g[i].lost = s->lost;
        g[i].power_mw = s->power_mw;
        g[i].energy_mj = s->energy_mj;
        g[i].temp_c = s->temp_c;
        g[i].util_gpu_pct = s->util_gpu_pct;
        g[i].util_mem_pct = s->util_mem_pct;
        g[i].mem_used_bytes = s->mem_used_bytes;
        g[i].mem_total_bytes = s->mem_total_bytes;
        g[i].sm_clock_mhz = s->sm_clock_mhz;
        g[i].mem_clock_mhz = s->mem_clock_mhz;
        g[i].ecc_corrected = s->ecc_corrected;
        g[i].ecc_uncorrected = s->ecc_uncorrected;
        g[i].retired_pages = s->retired_sbe + s->retired_dbe;
        g[i].retired_pending = s->retired_pending;
        g[i].remapped_rows = s->remap_corr_rows + s->remap_unc_rows;
        g[i].remapped_rows_unc = s->remap_unc_rows;
        g[i].remap_pending = s->remap_pending;
        g[i].remap_failure = s->remap_failure;
        g[i].power_limit_mw = s->power_limit_mw;
        g[i].power_default_mw = s->power_default_mw;
        g[i].power_instant_mw = s->power_instant_mw;
        gp[i] = &g[i];
    }
    r->gpus = gp;
    r->n_gpus = (size_t)ng;
    for (int i = 0; i < h->nxq; i++) {
        colossus__xid_event__init(&x[i]);
        x[i].gpu = h->xq[i].gpu;
        x[i].xid = h->xq[i].xid;
        x[i].action = (char *)cl_health_action_name(h->xq[i].a);
        x[i].time = h->xq[i].t;
        xp[i] = &x[i];
    }
    r->xids = xp;
    r->n_xids = (size_t)h->nxq;
    h->nxq = 0; /* reported (once: a lost report still leaves the latch) */
    h->fresh = false;
    return r;
}

void ag_health_report_free(Colossus__NodeHealth *r)
{
    if (!r) return;
    if (r->n_gpus) free(r->gpus[0]);
    free(r->gpus);
    if (r->n_xids) free(r->xids[0]);
    free(r->xids);
    free(r);
}

/* ------------------------------------------------------------------ life ----------------- */

ag_health_t *ag_health_create(uv_loop_t *loop, const ag_health_opts_t *o,
                              ag_health_urgent_f *urgent, void *arg, cl_error_t *err)
{
    ag_health_t *h = cl_xcalloc(1, sizeof *h);
    h->mon = cl_gpu_monitor_create(NULL, err);
    if (!h->mon) {
        free(h);
        return NULL;
    }
    h->ninv = cl_gpu_monitor_inventory(h->mon, &h->inv);
    if (h->ninv <= 0) {
        cl_err(err, "NVML lists no usable GPU");
        cl_gpu_monitor_destroy(h->mon);
        free(h);
        return NULL;
    }
    h->loop = loop;
    h->o = *o;
    if (!h->o.poll_ms) h->o.poll_ms = 5000;
    h->urgent = urgent;
    h->urgent_arg = arg;
    h->links = ag_links_open(o->sysfs_root ? o->sysfs_root : "/sys",
                             o->links ? o->links : "auto", err);
    if (!h->links && o->links && strcmp(o->links, "none") && strcmp(o->links, "auto")) {
        cl_gpu_monitor_destroy(h->mon);
        free(h);
        return NULL;
    }
    uv_timer_init(loop, &h->poll_timer);
    uv_timer_init(loop, &h->check_timer);
    uv_timer_init(loop, &h->link_timer);
    h->poll_timer.data = h->check_timer.data = h->link_timer.data = h;
    h->refs = 3;
    return h;
}

int ag_health_inventory(const ag_health_t *h, const cl_gpu_inv_t **inv)
{
    *inv = h->inv;
    return h->ninv;
}

int ag_health_nvlink_domain(const ag_health_t *h, char *key, size_t len)
{
    return cl_gpu_nvlink_domain(h->inv, h->ninv, key, len);
}

void ag_health_start(ag_health_t *h, void (*ready)(void *arg), void *arg)
{
    uv_timer_start(&h->poll_timer, on_poll_timer, 0, h->o.poll_ms);
    if (ag_links_count(h->links)) {
        cl_daemon_log(WHO, "watching %zu network link%s (sysfs, every %d ms)",
                      ag_links_count(h->links), ag_links_count(h->links) == 1 ? "" : "s",
                      LINK_POLL_MS);
        uv_timer_start(&h->link_timer, on_link_timer, 0, LINK_POLL_MS);
    }
    if (h->o.at_start == AG_CHECK_OFF) {
        ready(arg);
        return;
    }
    h->ready = ready;
    h->ready_arg = arg;
    run_check(h, h->o.at_start, 0);
}

void ag_health_destroy(ag_health_t *h)
{
    if (!h || h->closing) return;
    h->closing = true;
    uv_timer_stop(&h->poll_timer);
    uv_timer_stop(&h->check_timer);
    uv_timer_stop(&h->link_timer);
    hclose(h, (uv_handle_t *)&h->poll_timer);
    hclose(h, (uv_handle_t *)&h->check_timer);
    hclose(h, (uv_handle_t *)&h->link_timer);
    if (h->checking && !uv_is_closing((uv_handle_t *)&h->proc))
        uv_process_kill(&h->proc, SIGKILL); /* its exit closes the rest */
    for (waiter_t *w = h->wait_cur, *n; w; w = n) {
        n = w->next;
        free(w);
    }
    for (waiter_t *w = h->wait_next, *n; w; w = n) {
        n = w->next;
        free(w);
    }
    h->wait_cur = h->wait_next = NULL;
    maybe_free(h);
}
