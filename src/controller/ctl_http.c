/* ctl_http.c - the controller's HTTP listeners (the REST API, docs/api/README.md): a
 * libmicrohttpd daemon per listener in its external-loop mode, driven from the daemon's libuv
 * loop (its epoll descriptor under a uv_poll, uv timers from its timeout), so that no thread
 * but the loop's touches the controller. A request is an operation (ctl_request) with the
 * request as its reply sink; it waits suspended until the controller releases its answer,
 * which is when the batch that holds it is durable (journal before acknowledge). Bearer
 * tokens are checked once and then cached by hash (re-checked cheaply at every request).
 * HTTPS is the library's (GnuTLS); the deadline for a request to arrive and the rate limit
 * are ctl_http_guard.c's. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "api/prom.h"
#include "api/webpath.h"
#include "controller/ctl_http.h"
#include "controller/ctl_http_lib.h"
#include "controller/ctl_http_guard.h"
#include "controller/ctl_http_tls.h"

/* The bearer cache: a token string's hash to its principal. An entry is used for at most
 * AUTH_TTL_MS and checked again at every use (ctl_principal_check: revoked, expired, user
 * disabled), so that a request pays a hash and a few lookups, not an Ed25519 signature and
 * its verification (about 70 us on this project's VMs). Direct-mapped: a collision replaces. */
#define AUTH_SLOTS 512
#define AUTH_TTL_MS 60000

typedef struct auth_slot {
    uint8_t key[crypto_generichash_BYTES];
    uint64_t until_ms; /* 0: empty */
    ctl_principal_t who;
} auth_slot_t;

#define MAX_QUERY 16 /* query parameters of one request */

struct srv_http {
    struct ctl_server *srv;
    struct MHD_Daemon *d;
    uv_poll_t poll;   /* the daemon's epoll descriptor */
    uv_timer_t timer; /* the daemon's next timeout */
    uv_idle_t idle;   /* the daemon has work now (a resumed request): run it this turn */
    int open_handles; /* the three above and sweep, not yet closed */
    char bound[300];
    http_req_t *waiting; /* suspended requests */
    char *web_root;      /* the dashboard's files (ctl_http_web.c); NULL: none */
    auth_slot_t *auth;   /* AUTH_SLOTS, made on first use */
    uv_timer_t sweep;    /* requests that take too long to arrive (guard) */
    http_guard_t guard;
    char last_log[200]; /* the library's last complaint (a TLS start that failed) */
    uint64_t log_window_ms, log_lines, log_left_out; /* on_log */
    bool closed_some; /* a connection closed in this run of the library */

    /* its watch streams (ctl_http_watch.c) */
    struct http_watchers *watchers;
};

/* ---- driving the daemon from the loop ---- */

static void on_idle(uv_idle_t *i);
static void on_timer(uv_timer_t *t);

/* Run what the daemon has to do now and wake up when it has more: at once (idle: the
 * loop's poll does not block), after its timeout, or when its descriptor is readable. */
static void run_daemon(srv_http_t *h)
{
    mhd.run(h->d);
    /* A connection closed at the connection limit: the library takes its listening socket
     * back into its epoll set only at the start of a run, and nothing else may come to start
     * one (the new connections wait in the backlog, unseen), so run it again at once. */
    if (h->closed_some) {
        h->closed_some = false;
        mhd.run(h->d);
    }
    MHD_UNSIGNED_LONG_LONG ms;
    if (mhd.get_timeout(h->d, &ms) != MHD_YES) {
        uv_idle_stop(&h->idle);
        uv_timer_stop(&h->timer);
    } else if (ms == 0) {
        uv_timer_stop(&h->timer);
        uv_idle_start(&h->idle, on_idle);
    } else {
        uv_idle_stop(&h->idle);
        uv_timer_start(&h->timer, on_timer, ms, 0);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_daemon(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run_daemon(t->data);
}

static void on_idle(uv_idle_t *i)
{
    run_daemon(i->data);
}

/* The guard's record of conn (ctl_http_guard.h), or NULL. */
static http_track_t *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        conn ? mhd.get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return ci ? ci->socket_context : NULL;
}

/* ---- the answer ---- */

static void unlist(http_req_t *q)
{
    if (!q->suspended) return;
    srv_http_t *h = q->h;
    if (q->prev)
        q->prev->next = q->next;
    else
        h->waiting = q->next;
    if (q->next) q->next->prev = q->prev;
    q->next = q->prev = NULL;
    q->suspended = false;
}

/* Hand q's answer to the library; a suspended request is resumed, and the daemon run on the
 * next loop turn (never from here: this may be the controller's release of a batch). */
static void send_answer(http_req_t *q)
{
    if (q->queued || !q->conn) return;
    q->queued = true;
    http_guard_whole(&q->h->guard, track_of(q->conn)); /* the answer is the library's to send */
    struct MHD_Response *r =
        mhd.create_response_from_buffer(q->len, q->text, MHD_RESPMEM_MUST_FREE);
    if (!r) cl_oom(q->len, __FILE__, __LINE__);
    q->text = NULL; /* the library's now */
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            q->content_type ? q->content_type : "application/json");
    if (q->status == 401)
        mhd.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                q->bad_token
                                    ? "Bearer realm=\"colossus\", error=\"invalid_token\""
                                    : "Bearer realm=\"colossus\"");
    if (q->status == 405) mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, q->allow);
    if (q->status == 201) mhd.add_response_header(r, MHD_HTTP_HEADER_LOCATION, q->location);
    if (q->log_next[0]) mhd.add_response_header(r, "Colossus-Log-Offset", q->log_next);
    if (q->status == 429) {
        char s[16];
        snprintf(s, sizeof s, "%u", q->retry_after);
        mhd.add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    for (const char *const(*hd)[2] = q->headers; hd && (*hd)[0]; hd++)
        mhd.add_response_header(r, (*hd)[0], (*hd)[1]);
    mhd.queue_response(q->conn, q->status, r);
    mhd.destroy_response(r);
    if (q->suspended) {
        unlist(q);
        mhd.resume_connection(q->conn);
        uv_idle_start(&q->h->idle, on_idle);
    }
}

/* ---- streams (the watch: ctl_http_watch.c) ---- */

void http_answer_stream(http_req_t *q, MHD_ContentReaderCallback reader, void *cls)
{
    struct MHD_Response *r =
        mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, cls, NULL);
    if (!r) cl_oom(16384, __FILE__, __LINE__);
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close"); /* when it ends */
    mhd.queue_response(q->conn, 200, r);
    mhd.destroy_response(r);
    q->status = 200;
    q->done = q->queued = true;
}

void http_stream_suspend(http_req_t *q)
{
    mhd.suspend_connection(q->conn);
}

void http_stream_resume(http_req_t *q)
{
    mhd.resume_connection(q->conn);
    uv_idle_start(&q->h->idle, on_idle); /* the daemon runs on the next turn */
}

int http_conn_fd(http_req_t *q)
{
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

struct http_watchers **http_watchers_of(srv_http_t *h)
{
    return &h->watchers;
}

uv_loop_t *http_loop(srv_http_t *h)
{
    return &h->srv->loop;
}

/* ---- the sink ---- */

static http_req_t *of_sink(ctl_sink_t *s)
{
    return (http_req_t *)s; /* sink is the first member */
}

/* What the sink's encode wrote: a tag, then a page's part as text or a packed Msg. */
enum { PART_TEXT = 'T', PART_PACKED = 'P' };

static void http_encode(ctl_sink_t *s, const Colossus__Msg *m, cl_buf_t *out)
{
    http_req_t *q = of_sink(s);
    size_t at = out->len;
    uint8_t tag = PART_TEXT;
    if (cl_buf_append(out, &tag, 1) < 0) cl_oom(1, __FILE__, __LINE__);
    if (m->body_case == COLOSSUS__MSG__BODY_RESPONSE && http_api_encode(q, m->response, out))
        return;
    out->p[at] = PART_PACKED;
    size_t n = colossus__msg__get_packed_size(m);
    if (cl_buf_reserve(out, n) < 0) cl_oom(n, __FILE__, __LINE__);
    colossus__msg__pack(m, out->p + out->len);
    out->len += n;
}

static void http_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len)
{
    http_req_t *q = of_sink(s);
    if (!len) return;
    if (msg[0] == PART_TEXT) {
        http_api_page_part(q, msg + 1, len - 1);
        return;
    }
    Colossus__Msg *m = colossus__msg__unpack(NULL, len - 1, msg + 1);
    if (m && m->body_case == COLOSSUS__MSG__BODY_RESPONSE) http_api_response(q, m->response);
    if (m) colossus__msg__free_unpacked(m, NULL);
}

static void http_flush(ctl_sink_t *s)
{
    http_req_t *q = of_sink(s);
    if (q->done && !s->closed) send_answer(q);
}

static void http_release(ctl_sink_t *s)
{
    http_req_t *q = of_sink(s);
    cl_buf_free(&q->body);
    http_svc_release(q);
    free(q->text);
    json_decref(q->items);
    cl_buf_free(&q->page);
    free(q);
}

static const ctl_sink_ops_t http_ops = {"http",       http_deliver, http_flush,
                                        http_release, http_encode,  false};

/* The library is done with the request (answered, or the client went away, or shutdown). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    srv_http_t *h = cls;
    http_req_t *q = *con_cls;
    http_guard_next(&h->guard, track_of(conn), uv_now(&h->srv->loop)); /* the next request's */
    if (!q) return;
    *con_cls = NULL;
    unlist(q);
    if (q->watch) http_watch_closed(q);
    q->conn = NULL;
    if (q->dispatched && !q->done && h->srv->ctl) ctl_sink_closed(h->srv->ctl, &q->sink);
    q->sink.closed = true;
    ctl_sink_unref(&q->sink); /* the transport's reference */
}

/* ---- bearer tokens ---- */

/* key (a principal, an address) over its rate: q answered 429 saying whose (true). */
static bool over_rate(http_req_t *q, const char *key, const char *whose)
{
    srv_http_t *h = q->h;
    unsigned retry;
    if (http_guard_rate(&h->guard, key, uv_now(&h->srv->loop), &retry)) return false;
    char msg[256];
    snprintf(msg, sizeof msg,
             "rate limit: more than %u requests a second (bursts of %u) from %.160s; retry "
             "after %u s",
             h->guard.per_s, 2 * h->guard.per_s, whose, retry);
    http_answer_error(q, 429, msg);
    q->retry_after = retry;
    return true;
}

static bool peer_over_rate(http_req_t *q)
{
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char key[80];
    http_guard_ip_key(ci ? ci->client_addr : NULL, key, sizeof key);
    return over_rate(q, key, "this address before authentication");
}

/* Who token is, from the cache or the controller: 0, -1 with why, or -2 answered (a token
 * to verify from an address over its rate: forged tokens cost a signature check each). */
static int bearer(srv_http_t *h, const char *token, http_req_t *q, ctl_principal_t *who,
                  cl_error_t *why)
{
    const char *peer = q->sink.peer;
    ctl_t *c = h->srv->ctl;
    uint8_t key[crypto_generichash_BYTES];
    crypto_generichash(key, sizeof key, (const uint8_t *)token, strlen(token), NULL, 0);
    if (!h->auth) h->auth = cl_xcalloc(AUTH_SLOTS, sizeof *h->auth);
    uint32_t ix;
    memcpy(&ix, key, sizeof ix);
    auth_slot_t *e = &h->auth[ix % AUTH_SLOTS];
    uint64_t now = uv_now(&h->srv->loop);
    if (e->until_ms > now && sodium_memcmp(e->key, key, sizeof key) == 0) {
        if (ctl_principal_check(c, &e->who, why) < 0) {
            e->until_ms = 0;
            return -1;
        }
        *who = e->who;
    } else {
        if (peer_over_rate(q)) return -2;
        if (ctl_authenticate_bearer(c, token, peer, who, why) < 0) return -1;
        memcpy(e->key, key, sizeof key);
        e->who = *who;
        e->until_ms = now + AUTH_TTL_MS;
    }
    /* the name says where this request is from, not where the token was first seen */
    char *at = strrchr(who->name, '@');
    if (at) snprintf(at, sizeof who->name - (size_t)(at - who->name), "@%.64s", peer);
    return 0;
}

/* The request's credential: 0 with q->who, or -1 with q answered 401. */
static int authenticate(http_req_t *q)
{
    const char *v =
        mhd.lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    cl_error_t why;
    if (!v) {
        if (peer_over_rate(q)) return -1;
        http_answer_error(q, 401,
                          "no credential: send 'Authorization: Bearer TOKEN' (a token from "
                          "'colossus token create')");
        return -1;
    }
    q->bad_token = true;
    if (strncasecmp(v, "Bearer ", 7)) {
        http_answer_error(q, 401, "the Authorization header must be 'Bearer TOKEN'");
        return -1;
    }
    v += 7;
    while (*v == ' ')
        v++;
    int rc = bearer(q->h, v, q, &q->who, &why);
    if (rc == -2) return -1;
    if (rc < 0) {
        char msg[sizeof why.msg + 32];
        snprintf(msg, sizeof msg, "not authenticated: %s", why.msg);
        http_answer_error(q, 401, msg);
        return -1;
    }
    /* per user (all of a user's tokens together), else per credential */
    char key[200], whose[200];
    const ctl_principal_t *w = &q->who;
    snprintf(key, sizeof key, "%d:%s", (int)w->kind,
             w->user[0]   ? w->user
             : w->cred[0] ? w->cred
                          : w->name);
    snprintf(whose, sizeof whose, "%s%s", w->user[0] ? "user " : "",
             w->user[0] ? w->user : w->name);
    return over_rate(q, key, whose) ? -1 : 0;
}

/* ---- a request ---- */

typedef struct query {
    cl_rest_kv_t kv[MAX_QUERY];
    size_t n;
    bool over;
} query_t;

static enum MHD_Result one_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    query_t *g = cls;
    if (g->n == MAX_QUERY) {
        g->over = true;
        return MHD_NO;
    }
    g->kv[g->n++] = (cl_rest_kv_t){key, value};
    return MHD_YES;
}

/* The list's query parameters, copied out of the library's buffers: 0, or -1 answered. */
static int parse_query(http_req_t *q)
{
    query_t g = {.n = 0};
    cl_error_t err;
    mhd.get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, one_arg, &g);
    if (g.over) {
        http_answer_error(q, 400, "more than 16 query parameters");
        return -1;
    }
    if (cl_rest_op_svc(q->route.op)) return http_svc_query(q, g.kv, g.n);
    if (cl_rest_list_parse(q->route.op, g.kv, g.n, &q->list, &err) < 0) {
        http_answer_error(q, 400, err.msg);
        return -1;
    }
    const char *t = q->list.tenant ? q->list.tenant : "", *u = q->list.user ? q->list.user : "";
    if (strlen(t) >= sizeof q->tenant || strlen(u) >= sizeof q->user) {
        http_answer_error(q, 400, "query parameter 'tenant' or 'user' longer than 64 bytes");
        return -1;
    }
    snprintf(q->tenant, sizeof q->tenant, "%s", t);
    snprintf(q->user, sizeof q->user, "%s", u);
    q->list.tenant = q->tenant;
    q->list.user = q->user;
    return 0;
}

/* GET /metrics (docs/metrics.md): rendered now, on the loop, for an admin or operator. */
static void metrics(http_req_t *q, const char *method)
{
    cl_error_t err;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        snprintf(q->allow, sizeof q->allow, "GET");
        http_answer_error(q, 405, "/metrics takes GET");
        return;
    }
    if (authenticate(q) < 0) return;
    ctl_t *c = q->h->srv->ctl;
    if (ctl_metrics_allowed(c, &q->who, &err) < 0) {
        http_answer_error(q, 403, err.msg);
        return;
    }
    struct ctl_server *srv = q->h->srv;
    ctl_metrics_srv_t s = {.commits = srv->commits_timed,
                           .commit_s = srv->commit_us_sum * 1e-6,
                           .connections = srv->nconns};
    free(q->text);
    q->text = ctl_metrics_render(c, &s, &q->len, NULL);
    q->content_type = CL_PROM_CONTENT_TYPE;
    q->status = 200;
    q->done = true;
}

/* The headers are in: the route, the credential, the size of the body and the query. The
 * answer is queued at once for a refusal (the library then drops the body and closes). */
static void begin(http_req_t *q, const char *url, const char *method)
{
    cl_error_t err;
    if (!strcmp(url, "/metrics")) {
        metrics(q, method);
        return;
    }
    if (cl_web_is(url)) { /* the dashboard's files: no token (they hold no data) */
        http_web_serve(q, q->h->web_root, url, method);
        return;
    }
    int st = cl_rest_route(method, url, &q->route, q->allow, &err);
    if (st) {
        http_answer_error(q, (unsigned)st, err.msg);
        return;
    }
    if (!cl_rest_op_public(q->route.op) && authenticate(q) < 0) return;
    const char *cl =
        mhd.lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (cl && cl_parse_u64(cl, 0, UINT64_MAX, &n) == 0 && n > CL_REST_BODY_MAX) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is %" PRIu64 " bytes; the limit is %u (1 MiB)", n,
                 CL_REST_BODY_MAX);
        http_answer_error(q, 413, msg);
        return;
    }
    parse_query(q);
}

static void peer_name(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    cl_sockaddr_name(ci ? ci->client_addr : NULL, out, len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    srv_http_t *h = cls;
    http_req_t *q = *con_cls;
    if (!q) {
        q = cl_xcalloc(1, sizeof *q);
        char peer[96];
        peer_name(conn, peer, sizeof peer);
        ctl_sink_init(&q->sink, &http_ops, peer);
        q->h = h;
        q->ctl = h->srv->ctl;
        q->conn = conn;
        *con_cls = q;
        /* the headers are in; without a body the request is whole (an answer that goes on,
         * a stream, is not cut by the deadline whoever queues it) */
        if (!mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_CONTENT_LENGTH) &&
            !mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_TRANSFER_ENCODING))
            http_guard_whole(&h->guard, track_of(conn));
        begin(q, url, method);
        if (q->done) send_answer(q);
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (q->too_big || q->body.len + *upload_size > CL_REST_BODY_MAX)
            q->too_big = true; /* a chunked body without a length: counted as it comes */
        else if (cl_buf_append(&q->body, upload, *upload_size) < 0)
            cl_oom(*upload_size, __FILE__, __LINE__);
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->dispatched) return MHD_YES; /* resumed before its answer: cannot happen */
    http_guard_whole(&h->guard, track_of(conn));
    if (q->too_big)
        http_answer_error(q, 413, "the body is larger than the limit of 1 MiB");
    else
        http_api_dispatch(q);
    if (q->done) {
        send_answer(q);
        return MHD_YES;
    }
    mhd.suspend_connection(conn); /* until the controller's answer is durable */
    q->suspended = true;
    q->next = h->waiting;
    if (h->waiting) h->waiting->prev = q;
    h->waiting = q;
    return MHD_YES;
}

/* The library's complaints, the first LOG_BURST of every 10 s (a flood of sockets over a
 * limit is a line each: it must not become a flood of log lines), then how many were left out.
 */
#define LOG_BURST 10
static void log_window(srv_http_t *h, uint64_t now)
{
    if (now - h->log_window_ms < 10000) return;
    if (h->log_left_out)
        cl_daemon_log("http", "%s: %" PRIu64 " more lines of the HTTP library left out",
                      h->bound, h->log_left_out);
    h->log_window_ms = now;
    h->log_lines = h->log_left_out = 0;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    srv_http_t *h = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    snprintf(h->last_log, sizeof h->last_log, "%.199s", line);
    log_window(h, uv_now(&h->srv->loop));
    if (h->log_lines++ < LOG_BURST)
        cl_daemon_log("http", "%s: %s", h->bound, line);
    else
        h->log_left_out++;
}

/* A connection opens or closes: the guard's record of it (its request's deadline). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    srv_http_t *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
            *socket_context = http_guard_open(&h->guard, ci->connect_fd, uv_now(&h->srv->loop));
    } else {
        http_guard_close(&h->guard, *socket_context);
        *socket_context = NULL;
        h->closed_some = true;
    }
}

/* Twice a second: connections whose request has not arrived whole within the idle timeout
 * are shut down (a line in the log every 10 s at most says how many). */
static void on_sweep(uv_timer_t *t)
{
    srv_http_t *h = t->data;
    uint64_t now = uv_now(&h->srv->loop);
    if (http_guard_sweep(&h->guard, now)) uv_idle_start(&h->idle, on_idle);
    if (h->guard.slow && now - h->guard.slow_logged_ms >= 10000) {
        cl_daemon_log("http",
                      "%s: closed %" PRIu64 " connections whose request did not arrive whole "
                      "within %" PRIu64 " s",
                      h->bound, h->guard.slow, h->guard.window_ms / 1000);
        h->guard.slow = 0;
        h->guard.slow_logged_ms = now;
    }
    log_window(h, now);
}

/* ---- TLS ---- */

static enum MHD_Result refuse_all(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    return MHD_NO;
}

static void probe_log(void *cls, const char *fmt, va_list ap)
{
    char *last = cls;
    vsnprintf(last, 200, fmt, ap);
    last[strcspn(last, "\n")] = 0;
}

int ctl_http_tls_load(ctl_server_opts_t *o, const char *cert, const char *key, cl_error_t *err)
{
    if (ctl_mhd_load(err) < 0) return -1;
    if (mhd.is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return cl_err(err, "--http-cert: this %s was built without TLS (GnuTLS)", MHD_LIB);
    char *c = http_pem_read("--http-cert", cert, "CERTIFICATE", err), *k = NULL;
    if (c) k = http_pem_read("--http-key", key, "PRIVATE KEY", err);
    if (!k) {
        free(c);
        return -1;
    }
    /* the library's own check, without a socket: a certificate GnuTLS takes, and the key
     * that goes with it */
    char last[200] = "no reason given";
    struct MHD_Daemon *d = mhd.start_daemon(
        MHD_USE_TLS | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL, refuse_all,
        NULL, MHD_OPTION_EXTERNAL_LOGGER, probe_log, last, MHD_OPTION_HTTPS_MEM_KEY, k,
        MHD_OPTION_HTTPS_MEM_CERT, c, MHD_OPTION_END);
    if (!d) {
        sodium_memzero(k, strlen(k));
        free(k);
        free(c);
        return cl_err(err,
                      "--http-cert %s and --http-key %s: not a certificate and its private "
                      "key (%s)",
                      cert, key, last);
    }
    mhd.stop_daemon(d);
    o->http_cert_pem = c;
    o->http_key_pem = k;
    return 0;
}

/* ---- listeners ---- */

int srv_http_listen(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err)
{
    const ctl_server_opts_t *o = &srv->o;
    bool tls = o->http_cert_pem != NULL;
    if (ctl_http_addr_check(cfg->addr, tls, err) < 0) return -1;
    if (ctl_mhd_load(err) < 0) return -1;
    if (srv->nhttp == CTL_MAX_LISTENERS) return cl_err(err, "too many HTTP listeners");
    char host[256];
    int port;
    cl_addr_parse(cfg->addr, host, sizeof host, &port, err);
    struct sockaddr_storage sa;
    bool v6 = uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) < 0;
    if (v6) uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa);
    cl_error_t werr = {{0}};
    char *web = http_web_root(srv->o.web_dir, &werr);
    if (!web && werr.msg[0]) return cl_err(err, "%s", werr.msg);
    srv_http_t *h = cl_xcalloc(1, sizeof *h);
    h->srv = srv;
    h->web_root = web;
    snprintf(h->bound, sizeof h->bound, "%s", cfg->addr);
    unsigned timeout = o->http_idle_s ? o->http_idle_s : SRV_HTTP_IDLE_S;
    unsigned max = o->http_max_conns ? o->http_max_conns : SRV_HTTP_MAX_CONNS;
    unsigned per_ip = o->http_max_per_ip ? o->http_max_per_ip : SRV_HTTP_MAX_PER_IP;
    http_guard_init(&h->guard, timeout * 1000ull, o->http_rate);
    /* the certificate and key options last: MHD_OPTION_END ends the list early without TLS */
    h->d = mhd.start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
            (tls ? MHD_USE_TLS : 0),
        0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h, /* first */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_CONNECTION_LIMIT, max, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_HTTP_CONN_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, o->http_key_pem,
        MHD_OPTION_HTTPS_MEM_CERT, o->http_cert_pem, MHD_OPTION_END);
    const union MHD_DaemonInfo *ep =
        h->d ? mhd.get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    const union MHD_DaemonInfo *bp =
        h->d ? mhd.get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!ep || !bp) {
        if (h->d) mhd.stop_daemon(h->d);
        http_guard_free(&h->guard);
        cl_err(err, "cannot listen on %s (HTTP%s): the address is taken or not local (%s)",
               cfg->addr, tls ? "S" : "", h->last_log[0] ? h->last_log : "no reason given");
        free(h->web_root);
        free(h);
        return -1;
    }
    snprintf(h->bound, sizeof h->bound, v6 ? "[%s]:%u" : "%s:%u", host, bp->port);
    uv_poll_init(&srv->loop, &h->poll, ep->epoll_fd);
    uv_timer_init(&srv->loop, &h->timer);
    uv_idle_init(&srv->loop, &h->idle);
    uv_timer_init(&srv->loop, &h->sweep);
    h->poll.data = h->timer.data = h->idle.data = h->sweep.data = h;
    h->open_handles = 4;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    uv_timer_start(&h->sweep, on_sweep, 500, 500);
    run_daemon(h);
    srv->http[srv->nhttp++] = h;
    return 0;
}

const char *srv_http_bound(const srv_http_t *h)
{
    return h->bound;
}

void srv_http_quiesce(srv_http_t *h)
{
    MHD_socket fd = mhd.quiesce_daemon(h->d); /* no new connections; open ones go on */
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

static void handle_closed(uv_handle_t *hd)
{
    srv_http_t *h = hd->data;
    if (--h->open_handles == 0) {
        http_guard_free(&h->guard);
        free(h->web_root);
        free(h->auth);
        free(h);
    }
}

void srv_http_stop(srv_http_t *h)
{
    http_watch_stop(h); /* resumed, to end: the library stops no suspended connection */
    /* the library must resume every suspended request before it stops */
    while (h->waiting) {
        http_req_t *q = h->waiting;
        if (h->srv->ctl) ctl_sink_closed(h->srv->ctl, &q->sink);
        http_answer_error(q, 503, "the controller is shutting down");
        send_answer(q); /* unlists q */
    }
    mhd.run(h->d); /* what can go out now does */
    mhd.stop_daemon(h->d);
    if (h->auth) sodium_memzero(h->auth, AUTH_SLOTS * sizeof *h->auth);
    uv_close((uv_handle_t *)&h->poll, handle_closed);
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    uv_close((uv_handle_t *)&h->idle, handle_closed);
    uv_close((uv_handle_t *)&h->sweep, handle_closed);
}
