/* ctl_http.h - the REST API's transport, shared by its two files: ctl_http.c (libmicrohttpd on
 * the daemon's libuv loop, requests suspended until their answer is durable, bearer tokens)
 * and ctl_http_api.c (a route to a controller Request, the controller's Responses to JSON).
 * Internal to src/controller. */
#ifndef COLOSSUS_CONTROLLER_CTL_HTTP_H
#define COLOSSUS_CONTROLLER_CTL_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/rest.h"
#include "controller/ctl_srv.h"

typedef struct http_req http_req_t;

/* One HTTP request: its sink (the controller's view of it), what it asks, its body, and its
 * answer as it is built. Its references: the transport's (dropped when the HTTP library is
 * done with the request) and those the controller takes while it holds answers for it. */
struct http_req {
    ctl_sink_t sink; /* first: the sink is the request */
    struct srv_http *h;
    ctl_t *ctl;
    struct MHD_Connection *conn; /* NULL once the library is done with it */
    cl_rest_route_t route;
    cl_rest_list_t list;
    char tenant[65], user[65]; /* the list's filters (list points here) */
    ctl_principal_t who;
    cl_buf_t body;
    bool too_big;    /* the body passed CL_REST_BODY_MAX (what was read is dropped) */
    bool dispatched; /* given to the controller */
    bool suspended;  /* waiting for the controller's answer */
    bool done;       /* the answer (status, text) is complete */
    bool queued;     /* handed to the library */
    bool bad_token;  /* a 401 for a token given (not a missing one) */
    /* the answer */
    unsigned status;
    unsigned retry_after; /* 429: seconds (Retry-After) */
    char *text;
    size_t len;
    char allow[32];           /* 405: the methods the path takes */
    char location[64];        /* 201: the new object */
    char log_next[24];        /* logs with an offset: Colossus-Log-Offset, the next one */
    const char *content_type; /* NULL: application/json */
    json_t *items;            /* a service list's items so far; GET /nodes/NAME's node */
    cl_buf_t page;            /* GET /jobs, /nodes: the page's items as text so far */
    cl_rest_svc_t svc;        /* a service route's query parameters (ctl_http_svc.c) */
    uint8_t *seed;            /* POST /tokens: the new token's secret until answered */
    uint64_t last_id;         /* of the last item on the page */
    bool more;                /* more items match past the page (the controller says) */
    http_req_t *next, *prev;  /* suspended requests (srv_http.waiting) */
    struct http_watch *watch; /* GET /watch: its stream (ctl_http_watch.c) */
    /* more headers of the answer: {name, value}... {NULL} (static; the dashboard's files) */
    const char *const (*headers)[2];
};

/* ---- ctl_http.c: what the watch stream needs of the transport ---- */
/* Answer q 200 with an event stream whose bytes reader gives (the library's callback; cls
 * its argument), closed when it ends. */
void http_answer_stream(http_req_t *q, MHD_ContentReaderCallback reader, void *cls);
void http_stream_suspend(http_req_t *q); /* from the reader only (the library's rule) */
void http_stream_resume(http_req_t *q);  /* of a suspended one; the daemon runs next turn */
int http_conn_fd(http_req_t *q);         /* its socket; -1 unknown */
struct http_watchers **http_watchers_of(srv_http_t *h); /* the listener's streams */
uv_loop_t *http_loop(srv_http_t *h);

/* ---- ctl_http_watch.c ---- */
void http_watch_start(http_req_t *q);  /* GET /api/v1/watch (authenticated, kinds parsed) */
void http_watch_closed(http_req_t *q); /* the library is done with q */
void http_watch_stop(srv_http_t *h);   /* shutdown: every stream of h ends now */

/* ---- ctl_http_api.c ---- */
/* Give q (complete: headers, body) to the controller as its Request; or answer it at once
 * (a body that does not parse). */
void http_api_dispatch(http_req_t *q);
/* One Response of the controller for q, rendered into q's answer (parts of a list joined). */
void http_api_response(http_req_t *q, const Colossus__Response *rs);
/* The sink's encode for a Response: a part of a page of jobs or nodes written to out as text
 * (true); false for anything else (the sink packs it). */
bool http_api_encode(http_req_t *q, const Colossus__Response *rs, cl_buf_t *out);
/* A part that http_api_encode wrote, delivered: joined into q's page. */
void http_api_page_part(http_req_t *q, const uint8_t *p, size_t len);
/* q's answer: status and {"error": msg}. */
void http_answer_error(http_req_t *q, unsigned status, const char *msg);
/* q's answer: status and v (taken). */
void http_answer_json(http_req_t *q, unsigned status, json_t *v);

/* ---- ctl_http_svc.c: the service objects, accounting, logs, the API's description ---- */
/* q's query parameters (a service route): 0, or -1 with q answered 400. */
int http_svc_query(http_req_t *q, const cl_rest_kv_t *kv, size_t n);
/* As http_api_dispatch and http_api_response, for a service route. */
void http_svc_dispatch(http_req_t *q, Colossus__Request *r);
void http_svc_response(http_req_t *q, const Colossus__Response *rs);
/* What a service route holds beyond the request (a token's secret: wiped). */
void http_svc_release(http_req_t *q);
/* ---- ctl_http_web.c: the dashboard's files ---- */
/* The dashboard's directory, resolved (the caller frees it): given (--web-dir; NULL with err
 * when it is not a directory), else found beside the binary or in /usr/share (NULL without
 * one: no dashboard). */
char *http_web_root(const char *given, cl_error_t *err);
/* q's answer for path (cl_web_is): the file of root (NULL: no dashboard), or 404/405. */
void http_web_serve(http_req_t *q, const char *root, const char *path, const char *method);

#endif
