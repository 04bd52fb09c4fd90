/* uvconn.h - one framed, authenticated connection on a libuv loop: reads and decodes frames,
 * buffers outgoing frames until flushed, closes itself (with a log line) on a bad frame. */
#ifndef COLOSSUS_PROTO_UVCONN_H
#define COLOSSUS_PROTO_UVCONN_H

#include <uv.h>

#include "proto/frame.h"
#include "util/util.h"

typedef struct cl_uconn cl_uconn_t;
/* A decoded message; it is freed when the callback returns. The callback may close c. */
typedef void cl_uconn_msg_f(cl_uconn_t *c, Colossus__Msg *m);
/* The connection is closed; the owner may free it now. */
typedef void cl_uconn_close_f(cl_uconn_t *c);

struct cl_uconn {
    uv_tcp_t tcp;
    cl_sess_t sess;
    cl_buf_t in, out, inflight;
    uv_write_t wreq;
    bool writing, closing, queued; /* queued: on the owner's flush list */
    cl_uconn_msg_f *on_msg;
    cl_uconn_close_f *on_close;
    void *data;
    char peer[96];
    uint64_t frames_in, frames_out;
};

/* Set up (uv_tcp_init) before accept or uv_tcp_open; callbacks must be set. */
int cl_uconn_init(uv_loop_t *loop, cl_uconn_t *c, cl_uconn_msg_f *on_msg,
                  cl_uconn_close_f *on_close, void *data);
int cl_uconn_start(cl_uconn_t *c); /* start reading; fills peer from the socket */
/* Queue m; nothing is written until cl_uconn_flush(). -1 if the connection is closing. */
int cl_uconn_send(cl_uconn_t *c, const Colossus__Msg *m);
/* Queue one frame of an already packed Colossus__Msg; as cl_uconn_send(). */
int cl_uconn_send_packed(cl_uconn_t *c, const uint8_t *msg, size_t len);
void cl_uconn_flush(cl_uconn_t *c);
/* Close, logging why (NULL: quietly). on_close runs later, once. */
void cl_uconn_close(cl_uconn_t *c, const char *why);

#endif
