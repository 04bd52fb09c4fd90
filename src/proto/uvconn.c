/* uvconn.c - framed connections on libuv (see uvconn.h). */
#include "proto/uvconn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    cl_uconn_t *c = h->data;
    /* Before authentication a frame is a few hundred bytes: no 64 KiB buffer per socket. */
    size_t want = c->sess.max_body < CL_FRAME_MAX
                      ? CL_HANDSHAKE_MAX + CL_FRAME_HDR + CL_FRAME_MAC
                      : 65536;
    if (cl_buf_reserve(&c->in, want) < 0) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = (char *)c->in.p + c->in.len;
    buf->len = c->in.cap - c->in.len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cl_uconn_t *c = s->data;
    if (nread == UV_ENOBUFS) {
        cl_uconn_close(c, "out of memory");
        return;
    }
    if (nread < 0) {
        cl_uconn_close(c, nread == UV_EOF ? NULL : uv_strerror((int)nread));
        return;
    }
    c->in.len += (size_t)nread;
    uint64_t now = uv_now(s->loop);
    c->last_rx_ms = now;
    size_t off = 0;
    while (!c->closing && off < c->in.len) {
        Colossus__Msg *m = NULL;
        cl_error_t err;
        ssize_t used = cl_frame_decode(&c->sess, c->in.p + off, c->in.len - off, &m, &err);
        if (used < 0) {
            if (c->on_bad) {
                c->on_bad(c, err.msg);
                cl_uconn_close(c, NULL);
            } else {
                cl_uconn_close(c, err.msg);
            }
            return;
        }
        if (used == 0) break;
        off += (size_t)used;
        c->frames_in++;
        c->on_msg(c, m);
        cl_msg_free(m);
    }
    cl_buf_consume(&c->in, off);
    if (off) /* a frame ended: what is left, if anything, is a frame that begins now */
        c->partial_since_ms = c->in.len ? now : 0;
    else if (!c->partial_since_ms)
        c->partial_since_ms = now;
}

int cl_uconn_init(uv_loop_t *loop, cl_uconn_t *c, cl_uconn_msg_f *on_msg,
                  cl_uconn_close_f *on_close, void *data)
{
    memset(c, 0, sizeof *c);
    c->on_msg = on_msg;
    c->on_close = on_close;
    c->data = data;
    c->tcp.data = c;
    snprintf(c->peer, sizeof c->peer, "?");
    return uv_tcp_init(loop, &c->tcp);
}

int cl_uconn_start(cl_uconn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[64] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            uv_ip4_name(in, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(in6, ip, sizeof ip);
            port = ntohs(in6->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void cl_sockaddr_name(const struct sockaddr *sa, char *out, size_t len)
{
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

int cl_uconn_listen(uv_loop_t *loop, uv_tcp_t *t, void *data, const char *what,
                    const char *addr, uv_connection_cb on_conn, char *bound, size_t len,
                    cl_error_t *err)
{
    char host[256];
    int port;
    if (cl_addr_parse(addr, host, sizeof host, &port, err) < 0) return -1;
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) < 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) < 0)
        return cl_err(err, "%s %s: '%s' is not an IP address", what, addr, host);
    uv_tcp_init(loop, t);
    t->data = data;
    int rc = uv_tcp_bind(t, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)t, 1024, on_conn);
    if (rc < 0) return cl_err(err, "cannot listen on %s: %s", addr, uv_strerror(rc));
    struct sockaddr_storage b = {0};
    int blen = sizeof b;
    uv_tcp_getsockname(t, (struct sockaddr *)&b, &blen);
    cl_sockaddr_name((struct sockaddr *)&b, bound, len);
    return 0;
}

/* After a frame was queued: a peer that lets too much pile up is closed. */
static int check_out(cl_uconn_t *c)
{
    c->frames_out++;
    if (c->max_out && c->out.len + c->inflight.len > c->max_out) {
        char why[120];
        snprintf(why, sizeof why, "the peer reads too slowly: %zu MiB wait to be written",
                 (c->out.len + c->inflight.len) >> 20);
        cl_uconn_close(c, why);
        return -1;
    }
    return 0;
}

/* A frame that cannot be encoded (over the frame limit) is dropped with a log line; the
 * connection goes on: it may carry other nodes' work (a relay, a hollow agent). */
static int dropped(cl_uconn_t *c, size_t len)
{
    cl_daemon_log("conn", "dropping a %zu-byte message to %s: over the %u-byte frame limit",
                  len, c->peer, CL_FRAME_MAX);
    return -1;
}

int cl_uconn_send(cl_uconn_t *c, const Colossus__Msg *m)
{
    if (c->closing || c->refusing) return -1;
    if (cl_frame_encode(&c->sess, m, &c->out) < 0)
        return dropped(c, colossus__msg__get_packed_size(m));
    return check_out(c);
}

int cl_uconn_send_packed(cl_uconn_t *c, const uint8_t *msg, size_t len)
{
    if (c->closing || c->refusing) return -1;
    if (cl_frame_encode_raw(&c->sess, msg, len, &c->out) < 0) return dropped(c, len);
    return check_out(c);
}

static void on_write(uv_write_t *w, int status)
{
    cl_uconn_t *c = w->data;
    c->writing = false;
    c->inflight.len = 0;
    if (status < 0) {
        if (!c->closing) cl_uconn_close(c, c->refusing ? NULL : uv_strerror(status));
        return;
    }
    if (c->out.len)
        cl_uconn_flush(c);
    else if (c->refusing)
        cl_uconn_close(c, NULL); /* the Refused is out */
}

void cl_uconn_flush(cl_uconn_t *c)
{
    if (c->closing || c->writing || !c->out.len) return;
    /* (a refusing connection still flushes: its last frame is the Refused) */
    cl_buf_t t = c->inflight;
    c->inflight = c->out;
    c->out = t;
    c->out.len = 0;
    uv_buf_t b = uv_buf_init((char *)c->inflight.p, (unsigned)c->inflight.len);
    c->wreq.data = c;
    c->writing = true;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        c->writing = false;
        cl_uconn_close(c, uv_strerror(rc));
    }
}

static void on_closed(uv_handle_t *h)
{
    cl_uconn_t *c = h->data;
    cl_buf_free(&c->in);
    cl_buf_free(&c->out);
    cl_buf_free(&c->inflight);
    c->on_close(c);
}

/* Append the frame of Refused{why, reason} to out. 0, or -1. */
static int encode_refused(cl_uconn_t *c, Colossus__Refused__Why why, const char *reason,
                          cl_buf_t *out)
{
    Colossus__Refused r = COLOSSUS__REFUSED__INIT;
    r.why = why;
    r.reason = (char *)reason;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REFUSED;
    m.refused = &r;
    return cl_frame_encode(&c->sess, &m, out);
}

void cl_uconn_refuse(cl_uconn_t *c, Colossus__Refused__Why why, const char *reason)
{
    if (c->closing || c->refusing) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (encode_refused(c, why, reason, &c->out) < 0) {
        cl_uconn_close(c, NULL);
        return;
    }
    c->refusing = true;
    c->max_out = 0;         /* the refusal itself is never what closes it */
    if (c->writing) return; /* written after what is in flight; on_write closes */
    cl_uconn_flush(c);
    if (!c->writing) cl_uconn_close(c, NULL);
}

void cl_uconn_refuse_now(cl_uconn_t *c, Colossus__Refused__Why why, const char *reason)
{
    if (c->closing) return;
    cl_buf_t b = {0};
    if (!c->writing && !c->out.len && encode_refused(c, why, reason, &b) == 0) {
        uv_buf_t ub = uv_buf_init((char *)b.p, (unsigned)b.len);
        uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
    }
    cl_buf_free(&b);
    cl_uconn_close(c, NULL);
}

void cl_uconn_close(cl_uconn_t *c, const char *why)
{
    if (c->closing) return;
    c->closing = true;
    if (why) cl_daemon_log("conn", "closing connection %s: %s", c->peer, why);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* ---- the server's side of the handshake ---- */

static void send_now(cl_uconn_t *c, const Colossus__Msg *m)
{
    if (cl_uconn_send(c, m) == 0) cl_uconn_flush(c);
}

void cl_uconn_hello(cl_uconn_t *c, uint8_t nonce[CL_NONCE_BYTES], const uint8_t *kx_pk,
                    const uint8_t *identity_pk, const uint8_t *identity_sk)
{
    cl_hello_t hb;
    send_now(c, cl_hello_make(&hb, nonce, kx_pk, identity_pk, identity_sk));
}

int cl_uconn_key_proof(cl_uconn_t *c, const char *who, const uint8_t key[CL_KEY_BYTES],
                       const uint8_t nonce[CL_NONCE_BYTES], const Colossus__Auth *a,
                       uint8_t proof[32])
{
    if (a->proof.len != 32) return 0;
    cl_auth_proof(key, "colossus-client", nonce, a->nonce.data, proof);
    if (!cl_auth_equal(proof, a->proof.data, 32)) {
        cl_daemon_log(who, "refused %s (%.60s): wrong cluster key", c->peer, a->peer);
        cl_uconn_refuse(c, COLOSSUS__REFUSED__WHY__WRONG_KEY,
                        "wrong cluster key: the proof does not match");
        return -1;
    }
    cl_auth_proof(key, "colossus-server", nonce, a->nonce.data, proof);
    return 1;
}

void cl_uconn_auth_ok(cl_uconn_t *c, Colossus__AuthOk *ok, const uint8_t session[CL_KEY_BYTES],
                      const uint8_t nonce[CL_NONCE_BYTES],
                      const uint8_t peer_nonce[CL_NONCE_BYTES])
{
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_AUTH_OK;
    m.auth_ok = ok;
    send_now(c, &m);
    cl_sess_rekey(&c->sess, session, nonce, peer_nonce);
}
