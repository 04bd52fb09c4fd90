/* ctl_http_guard.h - the HTTP listeners' defences that are not the HTTP library's: a request
 * must arrive whole within the idle timeout (a client trickling its headers a byte a second is
 * never idle), and a rate limit per principal and, before authentication, per source address
 * (src/util/rate.c). Internal to src/controller (ctl_http.c). */
#ifndef COLOSSUS_CONTROLLER_CTL_HTTP_GUARD_H
#define COLOSSUS_CONTROLLER_CTL_HTTP_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/rate.h"

typedef struct http_track http_track_t;

typedef struct http_guard {
    http_track_t *head, *tail; /* connections with a request on its way, by deadline */
    uint64_t window_ms;        /* how long a request may take to arrive */
    uint64_t slow, slow_logged_ms;
    cl_rate_t *rate; /* NULL: no rate limit */
    uint32_t per_s;
} http_guard_t;

/* per_s: requests a second of one principal (a burst of twice that); 0: no limit. */
void http_guard_init(http_guard_t *g, uint64_t window_ms, uint32_t per_s);
void http_guard_free(http_guard_t *g);

/* A new connection (fd) at now: its first request must be whole by now + window. */
http_track_t *http_guard_open(http_guard_t *g, int fd, uint64_t now_ms);
/* Its request is whole (or answered): no deadline. */
void http_guard_whole(http_guard_t *g, http_track_t *t);
/* Its request ended: the next one on the connection must be whole by now + window. */
void http_guard_next(http_guard_t *g, http_track_t *t, uint64_t now_ms);
/* The connection is gone. */
void http_guard_close(http_guard_t *g, http_track_t *t);
/* Shut down (the library then closes them) the connections past their deadline; how many. */
unsigned http_guard_sweep(http_guard_t *g, uint64_t now_ms);

/* One request of key at now: true when it may go on, else false with *retry_s (>= 1). */
bool http_guard_rate(http_guard_t *g, const char *key, uint64_t now_ms, unsigned *retry_s);
/* The rate key of a source address: "ip:A.B.C.D", or "ip6:" and an IPv6 address's /64 (one
 * host has a /64 to pick addresses from). */
void http_guard_ip_key(const struct sockaddr *sa, char *out, size_t len);

#endif
