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
    if (cl_buf_reserve(&c->in, 65536) < 0) {
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
    size_t off = 0;
    while (!c->closing && off < c->in.len) {
        Colossus__Msg *m = NULL;
        cl_error_t err;
        ssize_t used = cl_frame_decode(&c->sess, c->in.p + off, c->in.len - off, &m, &err);
        if (used < 0) {
            cl_uconn_close(c, err.msg);
            return;
        }
        if (used == 0) break;
        off += (size_t)used;
        c->frames_in++;
        c->on_msg(c, m);
        cl_msg_free(m);
    }
    cl_buf_consume(&c->in, off);
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

int cl_uconn_send(cl_uconn_t *c, const Colossus__Msg *m)
{
    if (c->closing) return -1;
    if (cl_frame_encode(&c->sess, m, &c->out) < 0) {
        cl_uconn_close(c, "cannot encode an outgoing frame");
        return -1;
    }
    c->frames_out++;
    return 0;
}

int cl_uconn_send_packed(cl_uconn_t *c, const uint8_t *msg, size_t len)
{
    if (c->closing) return -1;
    if (cl_frame_encode_raw(&c->sess, msg, len, &c->out) < 0) {
        cl_uconn_close(c, "cannot encode an outgoing frame");
        return -1;
    }
    c->frames_out++;
    return 0;
}

static void on_write(uv_write_t *w, int status)
{
    cl_uconn_t *c = w->data;
    c->writing = false;
    c->inflight.len = 0;
    if (status < 0) {
        if (!c->closing) cl_uconn_close(c, uv_strerror(status));
        return;
    }
    if (c->out.len) cl_uconn_flush(c);
}

void cl_uconn_flush(cl_uconn_t *c)
{
    if (c->closing || c->writing || !c->out.len) return;
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

void cl_uconn_close(cl_uconn_t *c, const char *why)
{
    if (c->closing) return;
    c->closing = true;
    if (why) cl_daemon_log("conn", "closing connection %s: %s", c->peer, why);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}
