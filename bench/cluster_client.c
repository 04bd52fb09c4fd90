/* cluster_client.c - the client-library half of bench/cluster.bash: trivial 1-GPU jobs
 * (`true`) through one connection to a running controller. Prints one JSON object.
 *
 *   cluster_client HOST:PORT CREDFILE N
 *
 * CREDFILE: the cluster key or a user's token (cred.h: any credential a client presents), so
 * that bench/cluster.bash measures what a token costs beside the key.
 * 1. N submissions pipelined; the time until every one is acknowledged (journaled);
 * 2. a `wait` for each of them, pipelined; the time from the first submission until the last
 *    job has ended (run as a real process on some agent and journaled): jobs completed/s;
 * 3. N/10 submissions one at a time (each waits for its acknowledgement, one journal commit
 *    each), and the time until those jobs have ended too;
 * 4. 200 connections, one after another, each with its handshake and one `whoami`: the cost
 *    of a client command's authentication. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/client.h"
#include "proto/cred.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "cluster_client: %s: %s\n", what, err);
    exit(1);
}

static void send_req(cl_client_t *c, Colossus__Request *r)
{
    cl_error_t err;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REQUEST;
    m.request = r;
    if (cl_client_send(c, &m, &err) < 0) die("send", err.msg);
}

/* The next response; exits on anything else, a refusal, or a job that did not succeed. */
static Colossus__Msg *recv_resp(cl_client_t *c)
{
    cl_error_t err;
    Colossus__Msg *o;
    if (cl_client_recv(c, &o, 120000, &err) < 0) die("receive", err.msg);
    if (o->body_case != COLOSSUS__MSG__BODY_RESPONSE) die("receive", "not a response");
    if (!o->response->ok) die("refused", o->response->error);
    return o;
}

/* Wait for jobs ids[0..n): pipelined `wait` requests; every job must have succeeded. */
static void wait_all(cl_client_t *c, const uint64_t *ids, int n, uint64_t req0)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WAIT;
    for (int i = 0; i < n; i++) {
        r.req = req0 + (uint64_t)i;
        r.wait = ids[i];
        send_req(c, &r);
    }
    for (int i = 0; i < n; i++) {
        Colossus__Msg *o = recv_resp(c);
        Colossus__Response *rs = o->response;
        if (rs->n_jobs != 1 || strcmp(rs->jobs[0]->state, "succeeded") != 0) {
            fprintf(stderr, "cluster_client: job %llu ended %s\n",
                    rs->n_jobs ? (unsigned long long)rs->jobs[0]->id : 0ull,
                    rs->n_jobs ? rs->jobs[0]->state : "?");
            exit(1);
        }
        cl_msg_free(o);
    }
}

/* 4: a connection, its handshake and one whoami, `times` times; ms per connection. */
static double handshakes(const char *addr, const cl_cred_t *cred, int times)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WHOAMI;
    r.whoami = true;
    r.req = 1;
    cl_error_t err;
    double t0 = now();
    for (int i = 0; i < times; i++) {
        cl_client_t *c = cl_client_dial_cred(addr, cred, COLOSSUS__ROLE__ROLE_CLIENT, "bench",
                                             5000, NULL, &err);
        if (!c) die("connect", err.msg);
        Colossus__Msg *o = cl_client_call(c, &r, 10000, &err);
        if (!o) die("whoami", err.msg);
        if (!o->response->ok) die("whoami", o->response->error);
        cl_msg_free(o);
        cl_client_close(c);
    }
    return (now() - t0) * 1000 / times;
}

int main(int argc, char **argv)
{
    cl_cred_t cred;
    cl_error_t err;
    if (argc != 4 || atoi(argv[3]) < 10) {
        fprintf(stderr, "usage: cluster_client HOST:PORT CREDFILE N (N >= 10)\n");
        return 2;
    }
    if (cl_crypto_init() < 0 || cl_cred_load(argv[2], &cred, &err) < 0)
        die("credential", err.msg);
    cl_client_t *c = cl_client_dial_cred(argv[1], &cred, COLOSSUS__ROLE__ROLE_CLIENT, "bench",
                                         5000, NULL, &err);
    if (!c) die("connect", err.msg);
    int n = atoi(argv[3]), k = n / 10;
    uint64_t *ids = calloc((size_t)n, sizeof *ids);
    if (!ids) die("memory", "out of memory");

    char *av[] = {"true"};
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    s.nodes = 1;
    s.gpus_per_node = 1;
    s.argv = av;
    s.n_argv = 1;
    s.name = "bench";
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;

    /* 1 and 2: pipelined */
    double t0 = now();
    for (int i = 0; i < n; i++) {
        r.req = (uint64_t)i + 1;
        send_req(c, &r);
    }
    for (int i = 0; i < n; i++) {
        Colossus__Msg *o = recv_resp(c);
        if (o->response->req < 1 || o->response->req > (uint64_t)n) die("receive", "bad req");
        ids[o->response->req - 1] = o->response->job;
        cl_msg_free(o);
    }
    double t_ack = now() - t0;
    wait_all(c, ids, n, (uint64_t)n + 1);
    double t_done = now() - t0;

    /* 3: one at a time */
    t0 = now();
    for (int i = 0; i < k; i++) {
        r.req = 2 * (uint64_t)n + 1 + (uint64_t)i;
        Colossus__Msg *o = cl_client_call(c, &r, 60000, &err);
        if (!o) die("submit", err.msg);
        if (!o->response->ok) die("refused", o->response->error);
        ids[i] = o->response->job;
        cl_msg_free(o);
    }
    double t_serial = now() - t0;
    wait_all(c, ids, k, 3 * (uint64_t)n + 1);
    double t_serial_done = now() - t0;
    cl_client_close(c);
    free(ids);
    double hs_ms = handshakes(argv[1], &cred, 200);
    printf(
        "{\"credential\": \"%s\", \"jobs\": %d, \"acked_s\": %.4f, \"acked_per_s\": %.0f, "
        "\"completed_s\": %.4f, \"completed_per_s\": %.0f, \"serial_jobs\": %d, "
        "\"serial_ack_ms\": %.3f, \"serial_acked_per_s\": %.0f, \"serial_completed_s\": %.4f, "
        "\"connect_whoami_ms\": %.3f}\n",
        cred.kind == CL_CRED_KEY ? "cluster key" : "token", n, t_ack, n / t_ack, t_done,
        n / t_done, k, t_serial * 1000 / k, k / t_serial, t_serial_done, hs_ms);
    cl_cred_clear(&cred);
    return 0;
}
