/* ctl_http_guard.c - the HTTP listeners' deadline for a request to arrive and their rate
 * limit (ctl_http_guard.h). */
#include "controller/ctl_http_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "util/util.h"

struct http_track {
    http_track_t *prev, *next;
    bool listed;
    int fd;
    uint64_t deadline_ms;
};

void http_guard_init(http_guard_t *g, uint64_t window_ms, uint32_t per_s)
{
    *g = (http_guard_t){.window_ms = window_ms, .per_s = per_s};
    if (per_s) {
        uint64_t seed;
        randombytes_buf(&seed, sizeof seed);
        /* 4,096 sets of 4: 16,384 principals and addresses, 384 KiB */
        g->rate = cl_rate_create(per_s, 2.0 * per_s, 4096, seed);
    }
}

void http_guard_free(http_guard_t *g)
{
    cl_rate_destroy(g->rate);
    g->rate = NULL;
}

static void unlink_track(http_guard_t *g, http_track_t *t)
{
    if (!t->listed) return;
    if (t->prev)
        t->prev->next = t->next;
    else
        g->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        g->tail = t->prev;
    t->prev = t->next = NULL;
    t->listed = false;
}

/* deadlines are now + window, so appending keeps the list in their order */
static void arm(http_guard_t *g, http_track_t *t, uint64_t now_ms)
{
    unlink_track(g, t);
    t->deadline_ms = now_ms + g->window_ms;
    t->prev = g->tail;
    if (g->tail)
        g->tail->next = t;
    else
        g->head = t;
    g->tail = t;
    t->listed = true;
}

http_track_t *http_guard_open(http_guard_t *g, int fd, uint64_t now_ms)
{
    http_track_t *t = cl_xcalloc(1, sizeof *t);
    t->fd = fd;
    arm(g, t, now_ms);
    return t;
}

void http_guard_whole(http_guard_t *g, http_track_t *t)
{
    if (t) unlink_track(g, t);
}

void http_guard_next(http_guard_t *g, http_track_t *t, uint64_t now_ms)
{
    if (t) arm(g, t, now_ms);
}

void http_guard_close(http_guard_t *g, http_track_t *t)
{
    if (!t) return;
    unlink_track(g, t);
    free(t);
}

unsigned http_guard_sweep(http_guard_t *g, uint64_t now_ms)
{
    unsigned n = 0;
    while (g->head && g->head->deadline_ms <= now_ms) {
        http_track_t *t = g->head;
        unlink_track(g, t);
        /* not close(): the descriptor stays the library's until it sees the end and closes
         * it, so that no other connection can get its number meanwhile */
        shutdown(t->fd, SHUT_RDWR);
        n++;
    }
    g->slow += n;
    return n;
}

bool http_guard_rate(http_guard_t *g, const char *key, uint64_t now_ms, unsigned *retry_s)
{
    uint64_t ms;
    if (!g->rate || cl_rate_take(g->rate, key, strlen(key), now_ms, &ms)) return true;
    *retry_s = (unsigned)((ms + 999) / 1000);
    return false;
}

void http_guard_ip_key(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(out, len, "ip:%s", ip);
    } else if (sa && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            inet_ntop(AF_INET, a.s6_addr + 12, ip, sizeof ip);
            snprintf(out, len, "ip:%s", ip);
            return;
        }
        memset(a.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &a, ip, sizeof ip);
        snprintf(out, len, "ip6:%s/64", ip);
    } else {
        snprintf(out, len, "ip:?");
    }
}
