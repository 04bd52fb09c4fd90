/* ctl_srv.h - the controller daemon's own state, shared by its loop (ctl_server.c) and its
 * framed connections (ctl_conns.c). Internal to src/controller. */
#ifndef COLOSSUS_CONTROLLER_CTL_SRV_H
#define COLOSSUS_CONTROLLER_CTL_SRV_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "controller/ctl_server.h"
#include "proto/uvconn.h"
#include "store/committer.h"
#include "util/util.h"

/* Limits on connections (docs/security.md says why these). */
#define SRV_AUTH_TIMEOUT_MS 10000  /* a peer proves the key within this, or goes */
#define SRV_FRAME_TIMEOUT_MS 30000 /* a frame that began arriving ends within this */
#define SRV_IDLE_MS 300000         /* a connection with nothing in flight, silent this long */
#define SRV_MAX_OUT (512u << 20)   /* bytes waiting to be written to one peer */
#define SRV_MAX_UNAUTH 1024        /* unauthenticated connections (at most a quarter of fds) */
#define SRV_MAX_UNAUTH_PER_ADDR 64 /* of those, from one address */
#define SRV_SWEEP_MS 1000          /* how often the timeouts are looked at */
/* HTTP (ctl_http.c; the options in ctl_server_opts_t override the first three) */
#define SRV_HTTP_IDLE_S 30         /* a connection silent this long (mid-request too) goes */
#define SRV_HTTP_MAX_CONNS 4096    /* connections of one HTTP listener */
#define SRV_HTTP_MAX_PER_IP 1024   /* of those, from one address */
#define SRV_HTTP_CONN_MEMORY 65536 /* a request's headers and line: more is a 431 */

typedef struct srv_conn srv_conn_t;
typedef struct srv_http srv_http_t;

typedef struct srv_listener {
    struct ctl_server *srv;
    const char *proto;
    uv_tcp_t tcp;
    char bound[300];
} srv_listener_t;

struct ctl_server {
    uv_loop_t loop;
    ctl_t *ctl;
    cl_store_t *store;
    cl_committer_t *committer;
    ctl_hooks_t hooks;
    ctl_server_opts_t o;
    srv_listener_t listeners[CTL_MAX_LISTENERS];
    int nlisteners;
    srv_http_t *http[CTL_MAX_LISTENERS]; /* HTTP listeners (their own sockets) */
    int nhttp;
    srv_conn_t *conns;                /* every framed connection */
    srv_conn_t *unauth, *unauth_tail; /* those not authenticated yet, oldest first */
    uint32_t nconns, nunauth, max_unauth;
    uint64_t shed, unauth_closed, shed_logged_ms; /* since the last log line about them */
    uint64_t unauth_window_ms, unauth_logged;     /* lines about them in this 10 s */
    uint64_t emfile, emfile_logged_ms;
    unsigned long fd_limit;
    uv_timer_t sweep;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t judge_idle; /* keeps the poll of a turn with suspects from blocking */
    uv_timer_t timer;     /* the controller's next timer (ctl_next_timer_ms()) */
    uint64_t armed_due;
    uv_signal_t sigterm, sigint;
    uv_timer_t quit_timer; /* bounds the wait for the last commit on shutdown */
    uv_timer_t lease;      /* looks whether the store's lease was lost (standby controllers) */
    bool quitting;
    int rc;
    /* commits: the moving average of their time in the store, and where they ran */
    double commit_us_avg;
    uint64_t commits_loop, commits_worker;
    double commit_us_sum; /* of every commit timed (/metrics) */
    uint64_t commits_timed;
};

/* ---- framed connections (ctl_conns.c) ---- */
/* The listener's connection callback of the "colossus" protocol. */
void srv_framed_accept(uv_stream_t *listener, int status);
/* Raise the descriptor limit to its hard limit and size the unauthenticated bound by it. */
void srv_conns_init(struct ctl_server *srv);
/* Every SRV_SWEEP_MS: slow frames, idle connections, the log of what was shed. */
void srv_conns_sweep(uv_timer_t *t);
/* Say why to every connection and close it (shutdown). */
void srv_conns_refuse_all(struct ctl_server *srv, Colossus__Refused__Why why,
                          const char *reason);
void srv_conns_close_all(struct ctl_server *srv);

/* ---- HTTP listeners (ctl_http.c) ---- */
/* Serve the REST API on cfg->addr (a loopback address: ctl_http_addr_check) on srv's loop.
 * 0, or -1 with err. */
int srv_http_listen(struct ctl_server *srv, const ctl_listen_t *cfg, cl_error_t *err);
const char *srv_http_bound(const srv_http_t *h); /* "127.0.0.1:PORT" */
/* Take no new connections (shutdown); requests on open ones go on. */
void srv_http_quiesce(srv_http_t *h);
/* Answer every waiting request 503, stop the daemon; h is freed once the loop has closed its
 * handles (ctl_server_destroy runs it). */
void srv_http_stop(srv_http_t *h);

#endif
