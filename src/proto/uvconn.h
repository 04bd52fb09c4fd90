/* uvconn.h - one framed, authenticated connection on a libuv loop: reads and decodes frames,
 * buffers outgoing frames until flushed, closes itself (with a log line) on a bad frame.
 *
 * Bounds: a frame body is at most sess.max_body (CL_HANDSHAKE_MAX until the session is
 * rekeyed, then CL_FRAME_MAX), so an unauthenticated peer holds at most ~2 KiB here; the
 * frames waiting to be written are at most max_out bytes (a peer that does not read is
 * closed); the owner reads last_rx_ms and partial_since_ms to time out idle and slow peers. */
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
/* A bad frame arrived (why says what): the connection closes; the owner logs it as it sees
 * fit (NULL: one log line each). */
typedef void cl_uconn_bad_f(cl_uconn_t *c, const char *why);

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
    size_t max_out;            /* 0: no bound on what waits to be written */
    uint64_t last_rx_ms;       /* loop time of the last bytes read */
    uint64_t partial_since_ms; /* loop time the frame being read began; 0: none */
    bool refusing;             /* a Refused is being written; closed once it is */
    cl_uconn_bad_f *on_bad;    /* optional */
};

/* Set up (uv_tcp_init) before accept or uv_tcp_open; callbacks must be set. */
int cl_uconn_init(uv_loop_t *loop, cl_uconn_t *c, cl_uconn_msg_f *on_msg,
                  cl_uconn_close_f *on_close, void *data);
int cl_uconn_start(cl_uconn_t *c); /* start reading; fills peer from the socket */
/* A socket address as text: "IP:PORT", "[IP]:PORT" for IPv6; "?" for NULL or another
 * family. */
void cl_sockaddr_name(const struct sockaddr *sa, char *out, size_t len);
/* Listen on addr ("HOST:PORT", HOST an IP address; port 0: the kernel chooses) with t, set up
 * here (uv_tcp_init, then t->data = data), on_conn called for each connection; bound gets the
 * address bound (cl_sockaddr_name). -1 with a sentence naming addr as `what` ("--listen",
 * "listener") on failure; t is set up then unless addr is not an IP address. */
int cl_uconn_listen(uv_loop_t *loop, uv_tcp_t *t, void *data, const char *what,
                    const char *addr, uv_connection_cb on_conn, char *bound, size_t len,
                    cl_error_t *err);
/* Queue m; nothing is written until cl_uconn_flush(). -1 if the connection is closing. */
int cl_uconn_send(cl_uconn_t *c, const Colossus__Msg *m);
/* Queue one frame of an already packed Colossus__Msg; as cl_uconn_send(). */
int cl_uconn_send_packed(cl_uconn_t *c, const uint8_t *msg, size_t len);
void cl_uconn_flush(cl_uconn_t *c);
/* Close, logging why (NULL: quietly). on_close runs later, once. */
void cl_uconn_close(cl_uconn_t *c, const char *why);
/* Say why and close: a Refused{why, reason} frame is written first (with the session's key:
 * the public one during the handshake), reading stops at once, and the connection closes once
 * the frame is written. Nothing is logged: the owner decides what to log (one line per
 * refusal of an authenticated peer, a count per burst of unauthenticated ones). */
void cl_uconn_refuse(cl_uconn_t *c, Colossus__Refused__Why why, const char *reason);
/* The same, but closing at once (its descriptor is free when this returns): the Refused is
 * written only if the socket takes it right away (uv_try_write). For shedding under load. */
void cl_uconn_refuse_now(cl_uconn_t *c, Colossus__Refused__Why why, const char *reason);

/* ---- the server's side of the handshake (docs/protocol.md), each frame sent at once ---- */
/* The Hello (cl_hello_make: its fresh nonce written to nonce). A cluster-key-only server
 * (a relay) passes three NULLs. */
void cl_uconn_hello(cl_uconn_t *c, uint8_t nonce[CL_NONCE_BYTES], const uint8_t *kx_pk,
                    const uint8_t *identity_pk, const uint8_t *identity_sk);
/* The cluster key's challenge-response: a's proof checked against key and the Hello's nonce.
 * 1: it matches, and proof holds the server's own for AuthOk.proof; 0: a's proof is
 * malformed and nothing is sent (the caller refuses it as other bad input); -1: the wrong
 * key, refused here (WRONG_KEY) and logged as `who`. */
int cl_uconn_key_proof(cl_uconn_t *c, const char *who, const uint8_t key[CL_KEY_BYTES],
                       const uint8_t nonce[CL_NONCE_BYTES], const Colossus__Auth *a,
                       uint8_t proof[32]);
/* The handshake is done: ok (its proof or signature, user and role filled) goes out, then the
 * session key derived from session and both nonces takes over (cl_sess_rekey). */
void cl_uconn_auth_ok(cl_uconn_t *c, Colossus__AuthOk *ok, const uint8_t session[CL_KEY_BYTES],
                      const uint8_t nonce[CL_NONCE_BYTES],
                      const uint8_t peer_nonce[CL_NONCE_BYTES]);

#endif
