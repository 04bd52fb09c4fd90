/* rest_client.c - the REST API under load (bench/rest.bash): CONNS keep-alive HTTP/1.1
 * connections driven from one epoll loop, each with one request outstanding, for SECONDS;
 * or the walk of a paged list on one connection, following `next`. Prints one JSON object.
 *
 *   rest_client get  HOST:PORT TOKEN-FILE PATH CONNS SECONDS [IDS]
 *   rest_client post HOST:PORT TOKEN-FILE PATH CONNS SECONDS BODY
 *   rest_client walk HOST:PORT TOKEN-FILE PATH
 *
 * get: PATH may hold one %u, replaced by 1, 2, ... IDS in turn (GET /api/v1/jobs/%u). post:
 * BODY is sent each time (POST /api/v1/jobs: acknowledged submissions). walk: PATH (with its
 * ?limit=) then PATH&after=NEXT until `next` is null; items are counted by their "id" key
 * at the start of an object. A small client of its own (not libcurl): what it costs per
 * request is a few hundred bytes of parsing, so that the controller is what is measured on
 * a 2-core machine. Answers must have a Content-Length (libmicrohttpd's buffer answers). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

typedef struct conn {
    int fd;
    char *in;
    size_t len, cap;
    double sent; /* when the outstanding request went */
    bool busy;   /* a request is outstanding */
} conn_t;

typedef struct run {
    struct sockaddr_in addr;
    char token[2048];
    const char *path, *body;
    uint32_t ids, next_id;
    double *lat; /* ms, per answer */
    size_t nlat, cap;
    uint64_t status[6]; /* 1xx..5xx by hundreds; [0] other */
    uint64_t reconnects;
} run_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "rest_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(const run_t *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&r->addr, sizeof r->addr) < 0) die("connect");
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("send");
        p += w;
        n -= (size_t)w;
    }
}

/* One request on c: GET or POST of run's path (its %u the next id). */
static void request(run_t *r, conn_t *c, const char *path)
{
    char p[1024], req[4096];
    uint32_t id = r->ids ? 1 + r->next_id++ % r->ids : 0;
    snprintf(p, sizeof p, path, id);
    int n = r->body
                ? snprintf(req, sizeof req,
                           "POST %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           p, r->token, strlen(r->body), r->body)
                : snprintf(req, sizeof req,
                           "GET %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n\r\n",
                           p, r->token);
    if (n < 0 || (size_t)n >= sizeof req) {
        fprintf(stderr, "rest_client: the request is too long\n");
        exit(2);
    }
    c->sent = now_s();
    c->busy = true;
    send_all(c->fd, req, (size_t)n);
}

/* The length of the complete answer at the start of c->in (head and body), its status and
 * body; 0 while it is not all there. */
static size_t answer(conn_t *c, int *status, const char **body, size_t *blen)
{
    char *end = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - c->in) + 4, clen = 0;
    bool has_len = false;
    *status = atoi(c->in + 9);
    for (char *l = strstr(c->in, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Content-Length:", 15)) {
            clen = strtoull(l + 17, NULL, 10);
            has_len = true;
        } else if (!strncasecmp(l + 2, "Transfer-Encoding:", 18)) {
            fprintf(stderr, "rest_client: a chunked answer (not handled)\n");
            exit(1);
        }
    }
    if (!has_len && *status != 204 && *status != 304) {
        fprintf(stderr, "rest_client: an answer without Content-Length\n");
        exit(1);
    }
    if (c->len < head + clen) return 0;
    *body = c->in + head;
    *blen = clen;
    return head + clen;
}

/* Read what is there into c (not waiting); -1 when the server closed it. */
static int fill(conn_t *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 1 << 17;
            c->in = cl_xrealloc(c->in, c->cap + 1);
        }
        ssize_t n = recv(c->fd, c->in + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            c->in[c->len] = 0;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const run_t *r, double p)
{
    return r->nlat ? r->lat[(size_t)(p * (double)(r->nlat - 1))] : 0;
}

/* get, post: conns connections for secs seconds. */
static void load(run_t *r, int conns, double secs)
{
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    conn_t *cs = cl_xcalloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = dial(r);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) die("epoll_ctl");
    }
    double t0 = now_s(), stop = t0 + secs;
    for (int i = 0; i < conns; i++)
        request(r, &cs[i], r->path);
    /* past stop, the answers outstanding are waited for (30 s at most), so that the next
     * run does not start behind them */
    int outstanding = conns;
    struct epoll_event evs[256];
    while (outstanding && now_s() < stop + 30) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("epoll_wait");
        for (int e = 0; e < n; e++) {
            conn_t *c = evs[e].data.ptr;
            int closed = fill(c) < 0;
            int st;
            const char *b;
            size_t bl, used;
            while ((used = answer(c, &st, &b, &bl))) {
                double t = now_s();
                if (r->nlat == r->cap) {
                    r->cap = r->cap ? r->cap * 2 : 65536;
                    r->lat = cl_xrealloc(r->lat, r->cap * sizeof *r->lat);
                }
                r->lat[r->nlat++] = (t - c->sent) * 1e3;
                r->status[st >= 100 && st < 600 ? st / 100 : 0]++;
                memmove(c->in, c->in + used, c->len - used);
                c->len -= used;
                c->busy = false;
                if (t < stop)
                    request(r, c, r->path);
                else
                    outstanding--;
            }
            if (closed) { /* the server closed it (an error answer): a new connection */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = dial(r);
                c->len = 0;
                r->reconnects++;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
                if (now_s() < stop) {
                    request(r, c, r->path);
                } else if (c->busy) {
                    c->busy = false; /* its answer is lost */
                    outstanding--;
                }
            }
        }
    }
    double took = now_s() - t0;
    qsort(r->lat, r->nlat, sizeof *r->lat, cmp_double);
    printf("{\"mode\": \"%s\", \"path\": \"%s\", \"connections\": %d, \"seconds\": %.1f, "
           "\"answers\": %zu, \"per_s\": %.0f, \"p50_ms\": %.2f, \"p99_ms\": %.2f, "
           "\"max_ms\": %.2f, \"2xx\": %" PRIu64 ", \"4xx\": %" PRIu64 ", \"5xx\": %" PRIu64
           ", \"reconnects\": %" PRIu64 "}\n",
           r->body ? "post" : "get", r->path, conns, took, r->nlat, (double)r->nlat / took,
           pct(r, 0.5), pct(r, 0.99), pct(r, 1.0), r->status[2], r->status[4], r->status[5],
           r->reconnects);
    for (int i = 0; i < conns; i++) {
        close(cs[i].fd);
        free(cs[i].in);
    }
    free(cs);
    close(ep);
}

/* The items of a page (objects starting with "id") and its `next` (-1: null). */
static size_t page_items(const char *b, size_t n, long long *next)
{
    size_t items = 0;
    for (const char *p = b; (p = memmem(p, n - (size_t)(p - b), "{\"id\":", 6)); p += 6)
        items++;
    const char *k = NULL;
    for (const char *p = b; (p = memmem(p, n - (size_t)(p - b), "\"next\":", 7)); p += 7)
        k = p;
    *next = -1;
    if (k) {
        k += 7;
        while (*k == ' ')
            k++;
        if (*k >= '0' && *k <= '9') *next = strtoll(k, NULL, 10);
    }
    return items;
}

/* walk: the pages of a list, one after the other on one connection. */
static void walk(run_t *r)
{
    conn_t c = {.fd = dial(r)};
    size_t items = 0, bytes = 0;
    int pages = 0;
    double t0 = now_s(), slowest = 0;
    char path[1024];
    snprintf(path, sizeof path, "%s", r->path);
    for (;;) {
        request(r, &c, path);
        int st;
        const char *b;
        size_t bl, used;
        while (!(used = answer(&c, &st, &b, &bl))) {
            struct pollfd pf = {.fd = c.fd, .events = POLLIN};
            if (poll(&pf, 1, 60000) != 1) die("a page (no answer in 60 s)");
            if (fill(&c) < 0 && !answer(&c, &st, &b, &bl)) die("a page (closed)");
        }
        double t = now_s() - c.sent;
        if (t > slowest) slowest = t;
        if (st != 200) {
            fprintf(stderr, "rest_client: page %d: status %d: %.300s\n", pages + 1, st, b);
            exit(1);
        }
        long long next;
        items += page_items(b, bl, &next);
        bytes += bl;
        pages++;
        memmove(c.in, c.in + used, c.len - used);
        c.len -= used;
        if (next < 0) break;
        snprintf(path, sizeof path, "%s&after=%lld", r->path, next);
    }
    double took = now_s() - t0;
    printf(
        "{\"mode\": \"walk\", \"path\": \"%s\", \"items\": %zu, \"pages\": %d, \"bytes\": %zu, "
        "\"seconds\": %.3f, \"slowest_page_ms\": %.1f}\n",
        r->path, items, pages, bytes, took, slowest * 1e3);
    close(c.fd);
    free(c.in);
}

static void usage(void)
{
    fprintf(stderr, "usage: rest_client get HOST:PORT TOKEN-FILE PATH CONNS SECONDS [IDS]\n"
                    "       rest_client post HOST:PORT TOKEN-FILE PATH CONNS SECONDS BODY\n"
                    "       rest_client walk HOST:PORT TOKEN-FILE PATH\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 5) usage();
    const char *mode = argv[1];
    static run_t r;
    char host[64];
    const char *colon = strrchr(argv[2], ':');
    if (!colon || (size_t)(colon - argv[2]) >= sizeof host) usage();
    memcpy(host, argv[2], (size_t)(colon - argv[2]));
    host[colon - argv[2]] = 0;
    r.addr.sin_family = AF_INET;
    r.addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &r.addr.sin_addr) != 1) usage();
    FILE *f = fopen(argv[3], "r");
    if (!f || !fgets(r.token, sizeof r.token, f)) die(argv[3]);
    fclose(f);
    r.token[strcspn(r.token, "\r\n")] = 0;
    r.path = argv[4];
    if (!strcmp(mode, "walk") && argc == 5) {
        walk(&r);
        return 0;
    }
    if (argc < 7) usage();
    int conns = atoi(argv[5]);
    double secs = atof(argv[6]);
    if (conns < 1 || secs <= 0) usage();
    if (!strcmp(mode, "get") && argc <= 8) {
        r.ids = argc == 8 ? (uint32_t)strtoul(argv[7], NULL, 10) : 0;
    } else if (!strcmp(mode, "post") && argc == 8) {
        r.body = argv[7];
    } else {
        usage();
    }
    load(&r, conns, secs);
    free(r.lat);
    return 0;
}
