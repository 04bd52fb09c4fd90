/* client.c - blocking authenticated connection (see client.h). */
#include "proto/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/util.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cl_tcp_connect(const char *addr, int timeout_ms, cl_error_t *err)
{
    char host[256], port[16];
    int p;
    if (cl_addr_parse(addr, host, sizeof host, &p, err) < 0) return -1;
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        cl_err(err, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&pfd, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errno = soerr ? soerr : ETIMEDOUT;
        }
        cl_err(err, "cannot connect to %s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int cl_client_send(cl_client_t *c, const Colossus__Msg *m, cl_error_t *err)
{
    cl_buf_t b = {0};
    if (cl_frame_encode(&c->sess, m, &b) < 0) {
        cl_err(err, "cannot encode message: %s", strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = send(c->fd, b.p + off, b.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cl_err(err, "cannot send to controller: %s", strerror(errno));
            cl_buf_free(&b);
            return -1;
        }
        off += (size_t)w;
    }
    cl_buf_free(&b);
    return 0;
}

int cl_client_recv(cl_client_t *c, Colossus__Msg **m, int timeout_ms, cl_error_t *err)
{
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        if (c->in.len) {
            ssize_t used = cl_frame_decode(&c->sess, c->in.p, c->in.len, m, err);
            if (used < 0) return -1;
            if (used > 0) {
                cl_buf_consume(&c->in, (size_t)used);
                return 0;
            }
        }
        int wait = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                cl_err(err, "timed out waiting for the controller");
                return -1;
            }
            wait = (int)left;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) continue;
        if (cl_buf_reserve(&c->in, 65536) < 0) {
            cl_err(err, "out of memory");
            return -1;
        }
        ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cl_err(err, "connection to the controller closed%s%s", r < 0 ? ": " : "",
                   r < 0 ? strerror(errno) : "");
            return -1;
        }
        c->in.len += (size_t)r;
    }
}

cl_client_t *cl_client_connect(const char *addr, const uint8_t key[CL_KEY_BYTES],
                               Colossus__Role role, const char *peer, int timeout_ms,
                               cl_error_t *err)
{
    int fd = cl_tcp_connect(addr, timeout_ms, err);
    if (fd < 0) return NULL;
    cl_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        cl_err(err, "out of memory");
        return NULL;
    }
    c->fd = fd;
    cl_sess_init_handshake(&c->sess, false);
    Colossus__Msg *m = NULL;
    cl_error_t e2;
    if (cl_client_recv(c, &m, timeout_ms, &e2) < 0) {
        cl_err(err, "handshake with %s failed: %s", addr, e2.msg);
        goto fail;
    }
    if (m->body_case != COLOSSUS__MSG__BODY_HELLO || m->hello->nonce.len != CL_NONCE_BYTES) {
        cl_err(err, "handshake with %s failed: expected a hello", addr);
        goto fail;
    }
    uint8_t sn[CL_NONCE_BYTES], cn[CL_NONCE_BYTES], proof[32];
    memcpy(sn, m->hello->nonce.data, CL_NONCE_BYTES);
    cl_msg_free(m);
    m = NULL;
    randombytes_buf(cn, sizeof cn);
    cl_auth_proof(key, "colossus-client", sn, cn, proof);
    Colossus__Auth auth = COLOSSUS__AUTH__INIT;
    auth.role = role;
    auth.nonce.data = cn;
    auth.nonce.len = sizeof cn;
    auth.proof.data = proof;
    auth.proof.len = sizeof proof;
    auth.peer = (char *)(peer ? peer : "");
    Colossus__Msg out = COLOSSUS__MSG__INIT;
    out.body_case = COLOSSUS__MSG__BODY_AUTH;
    out.auth = &auth;
    if (cl_client_send(c, &out, err) < 0) goto fail;
    if (cl_client_recv(c, &m, timeout_ms, &e2) < 0) {
        cl_err(err, "the controller at %s refused us: wrong cluster key? (%s)", addr, e2.msg);
        goto fail;
    }
    if (m->body_case == COLOSSUS__MSG__BODY_REFUSED) {
        cl_err(err, "the controller at %s refused us: %s", addr, m->refused->reason);
        goto fail;
    }
    cl_auth_proof(key, "colossus-server", sn, cn, proof);
    if (m->body_case != COLOSSUS__MSG__BODY_AUTH_OK || m->auth_ok->proof.len != 32 ||
        !cl_auth_equal(m->auth_ok->proof.data, proof, 32)) {
        cl_err(err, "the controller at %s did not prove the cluster key", addr);
        goto fail;
    }
    cl_msg_free(m);
    cl_sess_rekey(&c->sess, key, sn, cn);
    return c;
fail:
    cl_msg_free(m);
    cl_client_close(c);
    return NULL;
}

/* Move the jobs, nodes and tenants of a following part (Response.more) to the end of the
 * first's. */
static int grow(void ***v, size_t n, size_t add)
{
    if (!add) return 0;
    void **nv = realloc(*v, (n + add) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    return 0;
}

static int join_parts(Colossus__Response *to, Colossus__Response *from)
{
    if (grow((void ***)&to->jobs, to->n_jobs, from->n_jobs) < 0 ||
        grow((void ***)&to->nodes, to->n_nodes, from->n_nodes) < 0 ||
        grow((void ***)&to->tenants, to->n_tenants, from->n_tenants) < 0)
        return -1;
    for (size_t i = 0; i < from->n_jobs; i++)
        to->jobs[to->n_jobs++] = from->jobs[i];
    for (size_t i = 0; i < from->n_nodes; i++)
        to->nodes[to->n_nodes++] = from->nodes[i];
    for (size_t i = 0; i < from->n_tenants; i++)
        to->tenants[to->n_tenants++] = from->tenants[i];
    from->n_jobs = from->n_nodes = from->n_tenants = 0; /* now owned by `to` */
    return 0;
}

Colossus__Msg *cl_client_call(cl_client_t *c, Colossus__Request *req, int timeout_ms,
                              cl_error_t *err)
{
    static uint64_t next_req = 1;
    req->req = next_req++;
    Colossus__Msg out = COLOSSUS__MSG__INIT;
    out.body_case = COLOSSUS__MSG__BODY_REQUEST;
    out.request = req;
    if (cl_client_send(c, &out, err) < 0) return NULL;
    Colossus__Msg *first = NULL;
    for (;;) {
        Colossus__Msg *m = NULL;
        if (cl_client_recv(c, &m, timeout_ms, err) < 0) {
            cl_msg_free(first);
            return NULL;
        }
        if (m->body_case != COLOSSUS__MSG__BODY_RESPONSE || m->response->req != req->req) {
            cl_msg_free(m);
            continue;
        }
        if (!first) {
            first = m;
        } else if (join_parts(first->response, m->response) < 0) {
            cl_msg_free(m);
            cl_msg_free(first);
            cl_err(err, "out of memory");
            return NULL;
        } else {
            first->response->more = m->response->more;
            cl_msg_free(m);
        }
        if (!first->response->more || !first->response->ok) return first;
    }
}

void cl_client_close(cl_client_t *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    cl_buf_free(&c->in);
    sodium_memzero(&c->sess, sizeof c->sess);
    free(c);
}
