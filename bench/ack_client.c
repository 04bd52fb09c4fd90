/* ack_client.c - acknowledged submissions per second from many clients at once: CLIENTS
 * processes, each with its own connection, each submitting PER_CLIENT jobs one at a time (a
 * submission waits for its acknowledgement, i.e. for the journal commit that holds it). The
 * jobs cannot run (the cluster has no agents: bench/ack.bash), so what is measured is the
 * control plane: request in, state change, group commit, reply out. Prints one JSON object.
 *
 *   ack_client HOST:PORT KEYFILE CLIENTS PER_CLIENT [WINDOW]
 *
 * WINDOW (default 1): submissions a client keeps outstanding; 1 is a client that waits for
 * each acknowledgement, more is a script or library that pipelines them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/client.h"
#include "util/util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void send_submit(cl_client_t *c, Colossus__Request *r)
{
    cl_error_t err;
    Colossus__Msg m = COLOSSUS__MSG__INIT;
    m.body_case = COLOSSUS__MSG__BODY_REQUEST;
    m.request = r;
    if (cl_client_send(c, &m, &err) < 0) {
        fprintf(stderr, "ack_client: send: %s\n", err.msg);
        exit(1);
    }
}

/* One client: per submissions with `window` outstanding, each latency (ms) into lat. 0 or 1. */
static int client(const char *addr, const uint8_t *key, int per, int window, double *lat)
{
    cl_error_t err;
    cl_client_t *c =
        cl_client_connect(addr, key, COLOSSUS__ROLE__ROLE_CLIENT, "ack-bench", 10000, &err);
    if (!c) {
        fprintf(stderr, "ack_client: connect: %s\n", err.msg);
        return 1;
    }
    char *av[] = {"true"};
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    s.nodes = 1;
    s.gpus_per_node = 1;
    s.argv = av;
    s.n_argv = 1;
    s.name = "ack";
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;
    double *sent = calloc((size_t)per, sizeof *sent);
    int next = 0, done = 0;
    while (done < per) {
        while (next < per && next - done < window) {
            r.req = (uint64_t)next + 1;
            sent[next++] = cl_now_ms();
            send_submit(c, &r);
        }
        Colossus__Msg *o;
        if (cl_client_recv(c, &o, 60000, &err) < 0) {
            fprintf(stderr, "ack_client: submit: %s\n", err.msg);
            return 1;
        }
        if (o->body_case != COLOSSUS__MSG__BODY_RESPONSE || !o->response->ok ||
            o->response->req < 1 || o->response->req > (uint64_t)per) {
            fprintf(stderr, "ack_client: submit: %s\n",
                    o->body_case == COLOSSUS__MSG__BODY_RESPONSE && o->response->error[0]
                        ? o->response->error
                        : "an answer that is not this submission's");
            return 1;
        }
        lat[o->response->req - 1] = cl_now_ms() - sent[o->response->req - 1];
        done++;
        cl_msg_free(o);
    }
    free(sent);
    cl_client_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6 || atoi(argv[3]) < 1 || atoi(argv[4]) < 1 ||
        (argc == 6 && atoi(argv[5]) < 1)) {
        fprintf(stderr, "usage: ack_client HOST:PORT KEYFILE CLIENTS PER_CLIENT [WINDOW]\n");
        return 2;
    }
    uint8_t key[CL_KEY_BYTES];
    cl_error_t err;
    if (cl_crypto_init() < 0 || cl_key_load(argv[2], key, &err) < 0) {
        fprintf(stderr, "ack_client: %s\n", err.msg);
        return 2;
    }
    int nc = atoi(argv[3]), per = atoi(argv[4]), window = argc == 6 ? atoi(argv[5]) : 1;
    size_t n = (size_t)nc * (size_t)per;
    double *lat =
        mmap(NULL, n * sizeof *lat, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (lat == MAP_FAILED) {
        perror("ack_client: mmap");
        return 1;
    }
    double t0 = cl_now_ms();
    for (int k = 0; k < nc; k++) {
        pid_t p = fork();
        if (p == 0) _exit(client(argv[1], key, per, window, lat + (size_t)k * (size_t)per));
        if (p < 0) {
            perror("ack_client: fork");
            return 1;
        }
    }
    int bad = 0, st;
    while (wait(&st) > 0)
        bad |= !WIFEXITED(st) || WEXITSTATUS(st);
    double t = (cl_now_ms() - t0) / 1e3;
    if (bad) return 1;
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("{\"clients\": %d, \"window\": %d, \"submissions\": %zu, \"seconds\": %.3f, "
           "\"acked_per_s\": %.0f, \"ack_ms_p50\": %.3f, \"ack_ms_p99\": %.3f}\n",
           nc, window, n, t, (double)n / t, lat[n / 2], lat[n * 99 / 100]);
    return 0;
}
