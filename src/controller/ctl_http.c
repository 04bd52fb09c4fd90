/* ctl_http.c - the controller's HTTP listeners (the REST API, docs/api/README.md): a
 * libmicrohttpd daemon per listener in its external-loop mode, driven from the daemon's libuv
 * loop (its epoll descriptor under a uv_poll, uv timers from its timeout), so that no thread
 * but the loop's touches the controller. A request is an operation (ctl_request) with the
 * request as its reply sink; it waits suspended until the controller releases its answer,
 * which is when the batch that holds it is durable (journal before acknowledge). Bearer
 * tokens are checked once and then cached by hash (re-checked cheaply at every request). */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "api/prom.h"
#include "api/webpath.h"
#include "controller/ctl_http.h"

/* libmicrohttpd, dlopened by the first HTTP listener: linked, it (and GnuTLS, with its
 * eight libraries) would load into every CLI command, and `colossus --help` took twice as
 * long (docs/benchmarks.md, "Issue 11's regression, mended"). Its calls go through ml. */
#define MHD_LIB "libmicrohttpd.so.12"
static struct {
    void *so;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
    __typeof__(MHD_resume_connection) *resume_connection;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_get_connection_info) *get_connection_info;
    __typeof__(MHD_suspend_connection) *suspend_connection;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
} ml;

static int mhd_load(cl_error_t *err)
{
    if (ml.so) return 0;
    void *so = dlopen(MHD_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        return cl_err(err, "--http needs %s (Debian: libmicrohttpd12): %.200s", MHD_LIB,
                      dlerror());
#define SYM(f)                                                                                 \
    if (!(ml.f = (__typeof__(ml.f))dlsym(so, "MHD_" #f))) {                                    \
        dlclose(so);                                                                           \
        return cl_err(err, "%s has no MHD_%s (another version?)", MHD_LIB, #f);                \
    }
    SYM(run)
    SYM(get_timeout)
    SYM(create_response_from_buffer)
    SYM(add_response_header)
    SYM(queue_response)
    SYM(destroy_response)
    SYM(resume_connection)
    SYM(lookup_connection_value)
    SYM(get_connection_values)
    SYM(get_connection_info)
    SYM(suspend_connection)
    SYM(start_daemon)
    SYM(get_daemon_info)
    SYM(stop_daemon)
    SYM(quiesce_daemon)
#undef SYM
    ml.so = so;
    return 0;
}

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
    int open_handles; /* the three above not yet closed */
    char bound[300];
    http_req_t *waiting; /* suspended requests */
    char *web_root;      /* the dashboard's files (ctl_http_web.c); NULL: none */
    auth_slot_t *auth;   /* AUTH_SLOTS, made on first use */
};

/* ---- driving the daemon from the loop ---- */

static void on_idle(uv_idle_t *i);
static void on_timer(uv_timer_t *t);

/* Run what the daemon has to do now and wake up when it has more: at once (idle: the
 * loop's poll does not block), after its timeout, or when its descriptor is readable. */
static void run_daemon(srv_http_t *h)
{
    ml.run(h->d);
    MHD_UNSIGNED_LONG_LONG ms;
    if (ml.get_timeout(h->d, &ms) != MHD_YES) {
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
    struct MHD_Response *r =
        ml.create_response_from_buffer(q->len, q->text, MHD_RESPMEM_MUST_FREE);
    if (!r) cl_oom(q->len, __FILE__, __LINE__);
    q->text = NULL; /* the library's now */
    ml.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                           q->content_type ? q->content_type : "application/json");
    if (q->status == 401)
        ml.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                               q->bad_token
                                   ? "Bearer realm=\"colossus\", error=\"invalid_token\""
                                   : "Bearer realm=\"colossus\"");
    if (q->status == 405) ml.add_response_header(r, MHD_HTTP_HEADER_ALLOW, q->allow);
    if (q->status == 201) ml.add_response_header(r, MHD_HTTP_HEADER_LOCATION, q->location);
    for (const char *const(*hd)[2] = q->headers; hd && (*hd)[0]; hd++)
        ml.add_response_header(r, (*hd)[0], (*hd)[1]);
    ml.queue_response(q->conn, q->status, r);
    ml.destroy_response(r);
    if (q->suspended) {
        unlist(q);
        ml.resume_connection(q->conn);
        uv_idle_start(&q->h->idle, on_idle);
    }
}

/* ---- the sink ---- */

static http_req_t *of_sink(ctl_sink_t *s)
{
    return (http_req_t *)s; /* sink is the first member */
}

static void http_deliver(ctl_sink_t *s, const uint8_t *msg, size_t len)
{
    http_req_t *q = of_sink(s);
    Colossus__Msg *m = colossus__msg__unpack(NULL, len, msg);
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
    free(q->text);
    json_decref(q->items);
    free(q);
}

static const ctl_sink_ops_t http_ops = {"http", http_deliver, http_flush, http_release};

/* The library is done with the request (answered, or the client went away, or shutdown). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    srv_http_t *h = cls;
    http_req_t *q = *con_cls;
    if (!q) return;
    *con_cls = NULL;
    unlist(q);
    q->conn = NULL;
    if (q->dispatched && !q->done && h->srv->ctl) ctl_sink_closed(h->srv->ctl, &q->sink);
    q->sink.closed = true;
    ctl_sink_unref(&q->sink); /* the transport's reference */
}

/* ---- bearer tokens ---- */

/* Who token is, from the cache or the controller: 0, or -1 with why. */
static int bearer(srv_http_t *h, const char *token, const char *peer, ctl_principal_t *who,
                  cl_error_t *why)
{
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
        ml.lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    cl_error_t why;
    if (!v) {
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
    if (bearer(q->h, v, q->sink.peer, &q->who, &why) < 0) {
        char msg[sizeof why.msg + 32];
        snprintf(msg, sizeof msg, "not authenticated: %s", why.msg);
        http_answer_error(q, 401, msg);
        return -1;
    }
    return 0;
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
    ml.get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, one_arg, &g);
    if (g.over) {
        http_answer_error(q, 400, "more than 16 query parameters");
        return -1;
    }
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
    if (authenticate(q) < 0) return;
    const char *cl =
        ml.lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
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
        ml.get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    char ip[64] = "?";
    if (sa && sa->sa_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
        snprintf(out, len, "%s:%d", ip, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
        snprintf(out, len, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    } else {
        snprintf(out, len, "?");
    }
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
        begin(q, url, method);
        if (q->done) send_answer(q);
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        if (!q->too_big && q->body.len + *upload_size <= CL_REST_BODY_MAX)
            cl_buf_append(&q->body, upload, *upload_size);
        else
            q->too_big = true; /* a chunked body without a length: counted as it comes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->dispatched) return MHD_YES; /* resumed before its answer: cannot happen */
    if (q->too_big)
        http_answer_error(q, 413, "the body is larger than the limit of 1 MiB");
    else
        http_api_dispatch(q);
    if (q->done) {
        send_answer(q);
        return MHD_YES;
    }
    ml.suspend_connection(conn); /* until the controller's answer is durable */
    q->suspended = true;
    q->next = h->waiting;
    if (h->waiting) h->waiting->prev = q;
    h->waiting = q;
    return MHD_YES;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    srv_http_t *h = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    cl_daemon_log("http", "%s: %s", h->bound, line);
}

/* ---- listeners ---- */

int ctl_http_addr_check(const char *addr, cl_error_t *err)
{
    char host[256];
    int port;
    if (cl_addr_parse(addr, host, sizeof host, &port, err) < 0) return -1;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        if ((ntohl(a4.s_addr) >> 24) == 127) return 0;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6)) return 0;
    } else {
        return cl_err(err, "--http %s: '%s' is not an IP address", addr, host);
    }
    return cl_err(err,
                  "--http %s: only a loopback address (127.0.0.1, ::1) for now: TLS is not "
                  "there yet, and tokens must not cross a network in the clear",
                  addr);
}

int srv_http_listen(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err)
{
    if (ctl_http_addr_check(cfg->addr, err) < 0) return -1;
    if (mhd_load(err) < 0) return -1;
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
    const ctl_server_opts_t *o = &srv->o;
    unsigned timeout = o->http_idle_s ? o->http_idle_s : SRV_HTTP_IDLE_S;
    unsigned max = o->http_max_conns ? o->http_max_conns : SRV_HTTP_MAX_CONNS;
    unsigned per_ip = o->http_max_per_ip ? o->http_max_per_ip : SRV_HTTP_MAX_PER_IP;
    h->d = ml.start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h, /* first */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_CONNECTION_LIMIT, max, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_HTTP_CONN_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *ep =
        h->d ? ml.get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    const union MHD_DaemonInfo *bp =
        h->d ? ml.get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!ep || !bp) {
        if (h->d) ml.stop_daemon(h->d);
        free(h->web_root);
        free(h);
        return cl_err(err, "cannot listen on %s (HTTP): the address is taken or not local",
                      cfg->addr);
    }
    snprintf(h->bound, sizeof h->bound, v6 ? "[%s]:%u" : "%s:%u", host, bp->port);
    uv_poll_init(&srv->loop, &h->poll, ep->epoll_fd);
    uv_timer_init(&srv->loop, &h->timer);
    uv_idle_init(&srv->loop, &h->idle);
    h->poll.data = h->timer.data = h->idle.data = h;
    h->open_handles = 3;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
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
    MHD_socket fd = ml.quiesce_daemon(h->d); /* no new connections; open ones go on */
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

static void handle_closed(uv_handle_t *hd)
{
    srv_http_t *h = hd->data;
    if (--h->open_handles == 0) {
        free(h->web_root);
        free(h->auth);
        free(h);
    }
}

void srv_http_stop(srv_http_t *h)
{
    /* the library must resume every suspended request before it stops */
    while (h->waiting) {
        http_req_t *q = h->waiting;
        if (h->srv->ctl) ctl_sink_closed(h->srv->ctl, &q->sink);
        http_answer_error(q, 503, "the controller is shutting down");
        send_answer(q); /* unlists q */
    }
    ml.run(h->d); /* what can go out now does */
    ml.stop_daemon(h->d);
    if (h->auth) sodium_memzero(h->auth, AUTH_SLOTS * sizeof *h->auth);
    uv_close((uv_handle_t *)&h->poll, handle_closed);
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    uv_close((uv_handle_t *)&h->idle, handle_closed);
}
