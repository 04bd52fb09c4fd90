/* attack.c - a hostile or faulty peer of the real protocol, for the attack tests
 * (tests/integration/attack_*.sh): floods of unauthenticated sockets, idle and slow peers,
 * forged peer names, submissions and drains built by hand (past the CLI's own checks), and a
 * well-behaved client that measures how long the controller takes to answer meanwhile.
 * 127.0.0.1 only (the tests' controllers listen there). Prints one JSON object.
 *
 *   attack flood ADDR N BYTES SECONDS    N sockets each claim a 4 MiB frame, send BYTES of it
 *   attack idle ADDR N SECONDS [reconnect]  N sockets that never send a byte (a wave; with
 *                                        reconnect, each one closed is opened again at once)
 *   attack authidle ADDR KEY N SECONDS   N authenticated connections that never ask anything
 *   attack slow ADDR KEY BYTE_MS         one frame sent a byte every BYTE_MS ms
 *   attack quiet ADDR KEY                authenticate, then send nothing
 *   attack peer ADDR KEY NAME            authenticate with Auth.peer = NAME (C escapes allowed)
 *   attack latency ADDR KEY N            N `nodes` requests, a fresh connection each
 *   attack submit ADDR KEY [name=S] [tenant=S] [argv_bytes=N] [env=S] [minutes=X]
 *   attack drain ADDR KEY NODE REASON_BYTES
 * Each connection-holding mode reconnects a socket the controller closed, and reports how many
 * it opened and how many the controller closed. */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/client.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "attack: %s: %s\n", what, why);
    exit(1);
}

static void max_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Unescape \n, \r, \t, \xHH in place. */
static char *unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        p++;
        if (*p == 'n')
            *o++ = '\n';
        else if (*p == 'r')
            *o++ = '\r';
        else if (*p == 't')
            *o++ = '\t';
        else if (*p == 'x' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else
            *o++ = *p;
    }
    *o = 0;
    return s;
}

/* ---- raw sockets that hold a connection open ---- */

typedef struct hold {
    int fd;
    size_t sent;
} hold_t;

static int raw_open(const char *addr)
{
    cl_error_t err;
    int fd = cl_tcp_connect(addr, 5000, &err);
    if (fd < 0) return -1;
    return fd;
}

/* N raw sockets for `seconds`: each sends `first` (and then `bytes` zeros, as the kernel takes
 * them) and is reopened when the controller closes it. */
static int hold_raw(const char *addr, int n, const uint8_t *first, size_t flen, size_t bytes,
                    double seconds, bool reconnect)
{
    max_fds();
    hold_t *h = calloc((size_t)n, sizeof *h);
    struct pollfd *pf = calloc((size_t)n, sizeof *pf);
    static uint8_t zeros[65536];
    uint64_t opened = 0, closed = 0;
    double end = now_s() + seconds;
    for (int i = 0; i < n; i++)
        h[i].fd = -1;
    bool first_round = true;
    while (now_s() < end) {
        for (int i = 0; i < n && (reconnect || first_round); i++) {
            if (h[i].fd >= 0) continue;
            h[i].fd = raw_open(addr);
            h[i].sent = 0;
            if (h[i].fd < 0) continue;
            opened++;
            if (flen && send(h[i].fd, first, flen, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                close(h[i].fd);
                h[i].fd = -1;
            }
        }
        first_round = false;
        for (int i = 0; i < n; i++) {
            pf[i].fd = h[i].fd;
            pf[i].events = POLLIN | (h[i].sent < bytes ? POLLOUT : 0);
        }
        if (poll(pf, (nfds_t)n, 100) < 0 && errno != EINTR) die("poll", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (h[i].fd < 0) continue;
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                char buf[4096];
                ssize_t r = recv(h[i].fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    close(h[i].fd);
                    h[i].fd = -1;
                    closed++;
                    continue;
                }
            }
            if ((pf[i].revents & POLLOUT) && h[i].sent < bytes) {
                size_t k = bytes - h[i].sent < sizeof zeros ? bytes - h[i].sent : sizeof zeros;
                ssize_t w = send(h[i].fd, zeros, k, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) h[i].sent += (size_t)w;
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (h[i].fd >= 0) close(h[i].fd);
    printf("{\"opened\": %llu, \"closed_by_peer\": %llu}\n", (unsigned long long)opened,
           (unsigned long long)closed);
    return 0;
}

/* ---- authenticated peers ---- */

static uint8_t key[CL_KEY_BYTES];

static cl_client_t *dial(const char *addr, const char *peer)
{
    cl_error_t err;
    cl_client_t *c =
        cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, peer, 5000, &err);
    if (!c) die("connect", err.msg);
    return c;
}

/* Wait for the controller to close c: seconds it took, and the Refused it sent, if any (the
 * client library records it: c->fail). */
static int until_closed(cl_client_t *c, double t0, double limit_s)
{
    cl_error_t err = {{0}};
    const char *why = "none";
    for (;;) {
        Colossus__Msg *m = NULL;
        int left = (int)((t0 + limit_s - now_s()) * 1000);
        if (left <= 0 || cl_client_recv(c, &m, left, &err) < 0) break;
        cl_msg_free(m);
    }
    if (c->fail.stage == CL_CLIENT_REFUSED) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &colossus__refused__why__descriptor, c->fail.why);
        why = v ? v->name : "?";
    }
    for (char *p = err.msg; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    double took = now_s() - t0;
    printf("{\"closed_after_s\": %.2f, \"refused\": \"%s\", \"reason\": \"%s\", \"timed_out\": "
           "%s}\n",
           took, why, c->fail.stage == CL_CLIENT_REFUSED ? err.msg : "",
           took >= limit_s ? "true" : "false");
    return 0;
}

static int slow(const char *addr, int byte_ms)
{
    cl_client_t *c = dial(addr, "slow");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REQUEST;
    m.request = &r;
    cl_buf_t b = {0};
    if (cl_frame_encode(&c->sess, &m, &b) < 0) die("encode", "frame");
    double t0 = now_s();
    for (size_t i = 0; i + 1 < b.len; i++) { /* never the last byte */
        if (send(c->fd, b.p + i, 1, MSG_NOSIGNAL) < 0) break;
        usleep((useconds_t)byte_ms * 1000);
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) break; /* the controller said something: it closes */
    }
    cl_buf_free(&b);
    return until_closed(c, t0, 120);
}

static int latency(const char *addr, int n)
{
    double *lat = calloc((size_t)n, sizeof *lat), worst = 0;
    int fail = 0;
    char last[300] = "";
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        cl_error_t err;
        cl_client_t *c =
            cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "latency", 10000, &err);
        Colossus__Msg *m = NULL;
        if (c) {
            Colossus__Request r = COLOSSUS__REQUEST__INIT;
            r.body_case = COLOSSUS__REQUEST__BODY_NODES;
            r.nodes = true;
            m = cl_client_call(c, &r, 10000, &err);
            cl_client_close(c);
        }
        if (!m || !m->response->ok) {
            fail++;
            snprintf(last, sizeof last, "%s", m ? m->response->error : err.msg);
        }
        cl_msg_free(m);
        lat[i] = (now_s() - t0) * 1000;
        if (lat[i] > worst) worst = lat[i];
    }
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && lat[j] < lat[j - 1]; j--) {
            double t = lat[j];
            lat[j] = lat[j - 1];
            lat[j - 1] = t;
        }
    for (char *p = last; *p; p++)
        if (*p == '"' || *p == '\\') *p = '\'';
    printf("{\"requests\": %d, \"failed\": %d, \"ms_p50\": %.2f, \"ms_p99\": %.2f, \"ms_max\": "
           "%.2f, \"last_error\": \"%s\"}\n",
           n, fail, lat[n / 2], lat[n * 99 / 100], worst, last);
    free(lat);
    return 0;
}

static int answer(Colossus__Msg *m, const char *err)
{
    if (!m) {
        printf("{\"ok\": false, \"error\": \"no answer: %s\"}\n", err);
        return 1;
    }
    char e[600];
    snprintf(e, sizeof e, "%s", m->response->error);
    for (char *p = e; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    printf("{\"ok\": %s, \"job\": %llu, \"error\": \"%s\"}\n",
           m->response->ok ? "true" : "false", (unsigned long long)m->response->job, e);
    int rc = m->response->ok ? 0 : 1;
    cl_msg_free(m);
    return rc;
}

static int submit(const char *addr, int argc, char **argv)
{
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    char *av[2] = {"sleep", "600"};
    char *envs[1];
    char *big = NULL;
    s.nodes = 1;
    s.gpus_per_node = 1;
    s.argv = av;
    s.n_argv = 2;
    s.name = "attack";
    for (int i = 0; i < argc; i++) {
        char *v = strchr(argv[i], '=');
        if (!v) die("submit", "arguments are KEY=VALUE");
        *v++ = 0;
        if (!strcmp(argv[i], "name"))
            s.name = unescape(v);
        else if (!strcmp(argv[i], "tenant"))
            s.tenant = unescape(v);
        else if (!strcmp(argv[i], "minutes"))
            s.time_limit_min = strtod(v, NULL);
        else if (!strcmp(argv[i], "env")) {
            envs[0] = unescape(v);
            s.env = envs;
            s.n_env = 1;
        } else if (!strcmp(argv[i], "argv_bytes")) {
            size_t n = strtoul(v, NULL, 10);
            big = malloc(n + 1);
            memset(big, 'a', n);
            big[n] = 0;
            av[0] = "true";
            av[1] = big;
        } else
            die("submit", "unknown key");
    }
    cl_client_t *c = dial(addr, "attack");
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;
    cl_error_t err;
    int rc = answer(cl_client_call(c, &r, 30000, &err), err.msg);
    cl_client_close(c);
    free(big);
    return rc;
}

static int drain(const char *addr, const char *node, size_t reason_bytes)
{
    char *reason = malloc(reason_bytes + 1);
    memset(reason, 'r', reason_bytes);
    reason[reason_bytes] = 0;
    Colossus__NodeAdmin a = COLOSSUS__NODE_ADMIN__INIT;
    a.node = (char *)node;
    a.reason = reason;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_DRAIN;
    r.drain = &a;
    cl_client_t *c = dial(addr, "attack");
    cl_error_t err;
    int rc = answer(cl_client_call(c, &r, 30000, &err), err.msg);
    cl_client_close(c);
    free(reason);
    return rc;
}

static int authidle(const char *addr, int n, double seconds)
{
    max_fds();
    cl_client_t **c = calloc((size_t)n, sizeof *c);
    int opened = 0;
    cl_error_t err;
    for (int i = 0; i < n; i++)
        if ((c[i] = cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "authidle", 5000,
                                      &err)))
            opened++;
    usleep((useconds_t)(seconds * 1e6));
    for (int i = 0; i < n; i++)
        cl_client_close(c[i]);
    printf("{\"opened\": %d, \"wanted\": %d, \"last_error\": \"%s\"}\n", opened, n,
           opened < n ? "see stderr" : "");
    if (opened < n) fprintf(stderr, "attack: authidle: %s\n", err.msg);
    return 0;
}

static void load_key(const char *path)
{
    cl_error_t err;
    if (cl_crypto_init() < 0 || cl_key_load(path, key, &err) < 0) die("key", err.msg);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: attack MODE ADDR ... (see tests/tools/attack.c)\n");
        return 2;
    }
    const char *mode = argv[1], *addr = argv[2];
    if (!strcmp(mode, "flood") && argc == 6) {
        uint8_t hdr[CL_FRAME_HDR] = {'C', 'L', 'S', '1', CL_PROTO_VERSION, 0, 0, 0};
        uint32_t n = CL_FRAME_MAX;
        hdr[8] = (uint8_t)(n >> 24), hdr[9] = (uint8_t)(n >> 16), hdr[10] = (uint8_t)(n >> 8),
        hdr[11] = (uint8_t)n;
        return hold_raw(addr, atoi(argv[3]), hdr, sizeof hdr, strtoul(argv[4], NULL, 10),
                        atof(argv[5]), true);
    }
    if (!strcmp(mode, "idle") && (argc == 5 || (argc == 6 && !strcmp(argv[5], "reconnect"))))
        return hold_raw(addr, atoi(argv[3]), NULL, 0, 0, atof(argv[4]), argc == 6);
    if (argc < 4) {
        fprintf(stderr, "attack: %s needs ADDR KEY ...\n", mode);
        return 2;
    }
    load_key(argv[3]);
    if (!strcmp(mode, "authidle") && argc == 6)
        return authidle(addr, atoi(argv[4]), atof(argv[5]));
    if (!strcmp(mode, "slow") && argc == 5) return slow(addr, atoi(argv[4]));
    if (!strcmp(mode, "quiet") && argc == 4)
        return until_closed(dial(addr, "quiet"), now_s(), 120);
    if (!strcmp(mode, "peer") && argc == 5) {
        cl_client_close(dial(addr, unescape(argv[4])));
        printf("{\"ok\": true}\n");
        return 0;
    }
    if (!strcmp(mode, "latency") && argc == 5) return latency(addr, atoi(argv[4]));
    if (!strcmp(mode, "submit")) return submit(addr, argc - 4, argv + 4);
    if (!strcmp(mode, "drain") && argc == 6)
        return drain(addr, argv[4], strtoul(argv[5], NULL, 10));
    fprintf(stderr, "attack: bad mode or arguments: %s\n", mode);
    return 2;
}
