/* cluster_bench_submit.c - submission throughput through the client library: N pipelined and
 * N/10 one-at-a-time acknowledged (journaled) submissions on one connection. Built and run by
 * tests/integration/cluster_bench.bash: cluster_bench_submit HOST:PORT KEYFILE N */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "proto/client.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint8_t key[CL_KEY_BYTES];
    char err[512];
    if (argc != 4 || atoi(argv[3]) < 10) {
        fprintf(stderr, "usage: cluster_bench_submit HOST:PORT KEYFILE N (N >= 10)\n");
        return 2;
    }
    if (cl_crypto_init() < 0 || cl_key_load(argv[2], key, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cl_client_t *c = cl_client_connect(argv[1], key, COLOSSUS__ROLE__ROLE_CLIENT, "bench", 5000,
                                       err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n = atoi(argv[3]);
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
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REQUEST;
    m.request = &r;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        r.req = (uint64_t)i + 1;
        if (cl_client_send(c, &m, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        Colossus__Msg *o;
        if (cl_client_recv(c, &o, 60000, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (o->body_case != COLOSSUS__MSG__BODY_RESPONSE || !o->response->ok) {
            fprintf(stderr, "submission refused\n");
            return 1;
        }
        cl_msg_free(o);
    }
    double t1 = now();
    printf("pipelined: %d submissions acknowledged (journaled) in %.3f s: %.0f/s\n", n, t1 - t0,
           n / (t1 - t0));
    int k = n / 10;
    t0 = now();
    for (int i = 0; i < k; i++) {
        Colossus__Msg *o = cl_client_call(c, &r, 60000, err, sizeof err);
        if (!o || !o->response->ok) {
            fprintf(stderr, "%s\n", o ? o->response->error : err);
            return 1;
        }
        cl_msg_free(o);
    }
    t1 = now();
    printf("one at a time: %d in %.3f s: %.0f/s (%.2f ms per acknowledged submission)\n", k,
           t1 - t0, k / (t1 - t0), (t1 - t0) * 1000 / k);
    cl_client_close(c);
    return 0;
}
