/* ctl_http_watch.c - GET /api/v1/watch (docs/api/README.md, "Watch"): the controller's watch
 * feed (controller.h) as Server-Sent Events. Each stream is a watcher with its own buffer of
 * unsent bytes, which the HTTP library pulls from through a content reader; with nothing to
 * send the connection is suspended (the library then neither polls nor times it out) and
 * resumed when an event or a keepalive comes. Since a suspended connection's socket is not
 * watched by the library, the stream watches it for the peer's close (a uv_poll), so that a
 * client gone stops counting against the connection limits at once. A stream whose unsent
 * bytes would pass WATCH_MAX_UNSENT (a client that does not read) gets a last `overflow`
 * event and ends. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_http.h"

#define WATCH_MAX_UNSENT (4u << 20) /* a stream's unsent bytes */
#define WATCH_TICK_MS 5000          /* the keepalive timer's period */
#define WATCH_QUIET_MS 9000         /* quiet this long at a tick: a keepalive (gaps <= 14 s) */
#define WATCH_KEEP_BUF 65536        /* a drained buffer larger than this is freed */

typedef struct http_watch http_watch_t;

/* A listener's streams and their keepalive timer (running while there are streams). */
struct http_watchers {
    uv_timer_t tick;
    http_watch_t *head;
    bool closing;
};

struct http_watch {
    ctl_watcher_t w; /* first: the feed's watcher is the stream */
    http_req_t *q;
    struct http_watchers *all;
    cl_buf_t out;     /* bytes of whole events; those from off on not yet taken */
    size_t off;       /* by the library */
    bool suspended;   /* waiting for bytes */
    bool ending;      /* no more events: the stream ends once out is taken */
    uint64_t sent_ms; /* when bytes were last queued */
    uv_poll_t gone;   /* the peer's close (UV_DISCONNECT); its data is the stream */
    bool polled;      /* gone was started (closed with the stream) */
    http_watch_t *next, *prev;
};

static uint64_t now_ms(http_watch_t *s)
{
    return uv_now(http_loop(s->q->h));
}

/* More to send: wake the library if it waits. */
static void kick(http_watch_t *s)
{
    s->sent_ms = now_ms(s);
    if (!s->suspended) return;
    s->suspended = false;
    http_stream_resume(s->q);
}

static void append(http_watch_t *s, const void *p, size_t n)
{
    if (s->off && s->off >= s->out.len / 2) { /* the part taken goes */
        cl_buf_consume(&s->out, s->off);
        s->off = 0;
    }
    if (cl_buf_append(&s->out, p, n) < 0) cl_oom(n, __FILE__, __LINE__);
}

/* The last event (`overflow` or `error`, data {"error": why}); the stream ends after it. An
 * overflow drops what the client has not begun to take, so that the event reaches it next. */
static void finish(http_watch_t *s, const char *event, const char *why)
{
    if (s->ending) return;
    if (!strcmp(event, "overflow")) {
        cl_daemon_log("http", "watch of %s: %s; closing it", s->q->who.name, why);
        size_t cut = s->off;
        const uint8_t *p = s->out.p;
        if (cut && !(cut >= 2 && p[cut - 1] == '\n' && p[cut - 2] == '\n')) {
            /* mid-event: keep the rest of that one (every unit ends "\n\n") */
            const uint8_t *e = memmem(p + cut - 1, s->out.len - cut + 1, "\n\n", 2);
            cut = e ? (size_t)(e - p) + 2 : s->out.len;
        }
        s->out.len = cut;
    }
    size_t n;
    char *body = cl_rest_error_body(why, &n); /* one line and its newline */
    char head[48];
    int hn = snprintf(head, sizeof head, "event: %s\ndata: ", event);
    append(s, head, (size_t)hn);
    append(s, body, n);
    append(s, "\n", 1);
    free(body);
    s->ending = true;
    kick(s);
}

/* ---- the feed's callbacks ---- */

static bool on_event(ctl_watcher_t *w, uint64_t id, const char *kind, const char *json,
                     size_t len)
{
    http_watch_t *s = (http_watch_t *)w;
    if (s->ending) return false;
    char head[64];
    int hn = snprintf(head, sizeof head, "id: %" PRIu64 "\nevent: %s\ndata: ", id, kind);
    if (s->out.len - s->off + (size_t)hn + len + 2 > WATCH_MAX_UNSENT) {
        finish(s, "overflow",
               "the client did not keep up (4 MiB of events unsent): list again and watch "
               "again");
        return false;
    }
    append(s, head, (size_t)hn);
    append(s, json, len);
    append(s, "\n\n", 2);
    kick(s);
    return true;
}

static void on_end(ctl_watcher_t *w, bool overflow, const char *why)
{
    finish((http_watch_t *)w, overflow ? "overflow" : "error", why);
}

/* ---- the library's side ---- */

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    http_watch_t *s = cls;
    size_t have = s->out.len - s->off;
    if (have) {
        size_t n = have < max ? have : max;
        memcpy(buf, s->out.p + s->off, n);
        s->off += n;
        if (s->off == s->out.len) {
            s->off = s->out.len = 0;
            if (s->out.cap > WATCH_KEEP_BUF) cl_buf_free(&s->out);
        }
        return (ssize_t)n;
    }
    if (s->ending) return MHD_CONTENT_READER_END_OF_STREAM;
    s->suspended = true; /* until kick() */
    http_stream_suspend(s->q);
    return 0;
}

/* The peer closed (or reset) its end: end the stream, so that the library, resumed, finds
 * the socket gone and closes it. */
static void on_gone(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    http_watch_t *s = p->data;
    uv_poll_stop(p);
    if (s->w.listed) ctl_watch_remove(s->q->ctl, &s->w);
    s->ending = true;
    kick(s);
}

static void stream_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Every WATCH_TICK_MS: a keepalive for each stream quiet for long enough, and the end of
 * those whose credential is no longer good (revoked, expired: events check it too, but a
 * quiet stream has none). */
static void on_tick(uv_timer_t *t)
{
    struct http_watchers *all = t->data;
    uint64_t now = uv_now(t->loop);
    static const char ka[] = ": keepalive\n\n";
    for (http_watch_t *s = all->head; s; s = s->next) {
        cl_error_t why;
        if (s->ending) continue;
        if (ctl_principal_check(s->q->ctl, &s->w.who, &why) < 0) {
            ctl_watch_remove(s->q->ctl, &s->w);
            finish(s, "error", why.msg);
        } else if (now - s->sent_ms >= WATCH_QUIET_MS) {
            append(s, ka, sizeof ka - 1);
            kick(s);
        }
    }
}

static void tick_closed(uv_handle_t *h)
{
    free(h->data);
}

void http_watch_start(http_req_t *q)
{
    struct http_watchers **slot = http_watchers_of(q->h);
    http_watch_t *s = cl_xcalloc(1, sizeof *s);
    s->w.who = q->who;
    s->w.kinds = (q->list.kinds & CL_REST_KIND_JOBS ? CTL_WATCH_JOBS : 0) |
                 (q->list.kinds & CL_REST_KIND_NODES ? CTL_WATCH_NODES : 0);
    s->w.event = on_event;
    s->w.end = on_end;
    s->q = q;
    cl_error_t why;
    if (ctl_watch_add(q->ctl, &s->w, &why) < 0) {
        free(s);
        char msg[sizeof why.msg + 32];
        snprintf(msg, sizeof msg, "not authenticated: %s", why.msg);
        http_answer_error(q, 401, msg);
        return;
    }
    if (!*slot) {
        *slot = cl_xcalloc(1, sizeof **slot);
        uv_timer_init(http_loop(q->h), &(*slot)->tick);
        (*slot)->tick.data = *slot;
    }
    struct http_watchers *all = *slot;
    s->all = all;
    s->next = all->head;
    if (s->next) s->next->prev = s;
    all->head = s;
    if (!uv_is_active((uv_handle_t *)&all->tick))
        uv_timer_start(&all->tick, on_tick, WATCH_TICK_MS, WATCH_TICK_MS);
    q->watch = s;
    static const char hello[] = ": watching\n\n"; /* the headers leave with it at once */
    append(s, hello, sizeof hello - 1);
    s->sent_ms = now_ms(s);
    int fd = http_conn_fd(q);
    if (fd >= 0 && uv_poll_init(http_loop(q->h), &s->gone, fd) == 0) {
        s->gone.data = s;
        s->polled = true;
        uv_poll_start(&s->gone, UV_DISCONNECT, on_gone);
    }
    http_answer_stream(q, reader, s);
}

void http_watch_closed(http_req_t *q)
{
    http_watch_t *s = q->watch;
    q->watch = NULL;
    ctl_watch_remove(q->ctl, &s->w);
    struct http_watchers *all = s->all;
    if (s->prev)
        s->prev->next = s->next;
    else
        all->head = s->next;
    if (s->next) s->next->prev = s->prev;
    if (!all->head && !all->closing) uv_timer_stop(&all->tick);
    cl_buf_free(&s->out);
    if (s->polled) /* before the library closes the socket: stop watching it now */
        uv_close((uv_handle_t *)&s->gone, stream_closed);
    else
        free(s);
}

void http_watch_stop(srv_http_t *h)
{
    struct http_watchers *all = *http_watchers_of(h);
    if (!all) return;
    *http_watchers_of(h) = NULL;
    for (http_watch_t *s = all->head; s; s = s->next) {
        ctl_watch_remove(s->q->ctl, &s->w);
        s->ending = true;
        kick(s);
    }
    all->closing = true;
    uv_close((uv_handle_t *)&all->tick, tick_closed);
}
