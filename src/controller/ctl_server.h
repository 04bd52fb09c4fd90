/* ctl_server.h - the controller daemon around the controller object: one libuv loop, a list of
 * listeners (each bound to a protocol: the framed Colossus protocol today, HTTP with the API
 * issue), the journal committed on a worker thread (committer.h), the controller's timers and
 * turns, signals. No thread but the loop's touches the controller. */
#ifndef COLOSSUS_CONTROLLER_CTL_SERVER_H
#define COLOSSUS_CONTROLLER_CTL_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "controller/controller.h"

#define CTL_MAX_LISTENERS 8

typedef struct ctl_listen {
    /* "colossus" (the framed protocol of docs/protocol.md) or "http" (the REST API,
     * docs/api/README.md) */
    const char *proto;
    const char *addr; /* HOST:PORT; port 0: the kernel chooses */
} ctl_listen_t;

/* Where a batch is committed. On the committer's worker thread the loop goes on reading and
 * applying during the commit, at the cost of a hand-over of two thread wake-ups (tens of
 * microseconds on this project's VMs): most of a fast commit (SQLite on a local disk, about
 * 0.25 ms), and a loss for a client that waits for its answer. AUTO commits a batch on the
 * loop while the store's commits average under CTL_AUTO_INLINE_US and the batch holds at
 * most CTL_AUTO_INLINE_RECORDS records, audit records not counted (cl_store_batch_weight: the
 * loop is held up no longer than that), and hands
 * big batches (a registration storm) and a slow store (a loaded disk, a network store) to the
 * worker. Measured in docs/benchmarks.md ("Acknowledged submissions"): AUTO is as fast as
 * the better of the two in every case there. */
typedef enum ctl_commit_mode {
    CTL_COMMIT_AUTO = 0,
    CTL_COMMIT_THREAD, /* always on the worker */
    CTL_COMMIT_INLINE, /* always on the loop: no worker thread */
} ctl_commit_mode_t;
#define CTL_AUTO_INLINE_US 2000.0
#define CTL_AUTO_INLINE_RECORDS 1024

typedef struct ctl_server_opts {
    ctl_listen_t listen[CTL_MAX_LISTENERS];
    int nlisten;
    const char *address_file; /* the first listener's bound address is written here, or NULL */
    /* the first HTTP listener's base URL ("http://127.0.0.1:PORT") is written here, or NULL */
    const char *http_address_file;
    uint32_t http_idle_s;     /* an HTTP connection silent this long is closed; 0: 30 s */
    uint32_t http_max_conns;  /* connections of one HTTP listener; 0: 4096 */
    uint32_t http_max_per_ip; /* of those, from one address; 0: 1024 */
    /* HTTPS: the PEM texts of --http-cert and --http-key (ctl_http_tls_load), or NULL */
    char *http_cert_pem, *http_key_pem;
    uint32_t http_rate; /* requests a second of one principal, bursts of twice; 0: no limit */
    /* the dashboard's files (ctl_http_web.c); NULL: web/ beside the binary's directory, then
     * /usr/share/colossus/web */
    const char *web_dir;
    uint8_t key[CL_KEY_BYTES];
    /* The controller's Ed25519 identity (docs/security.md): tokens carry its public key, and
     * AuthOk is signed with it. */
    uint8_t identity_pk[32], identity_sk[64];
    ctl_commit_mode_t commit;  /* where batches are committed (below) */
    uint32_t frame_timeout_ms; /* a frame that began arriving ends within this; 0: 30 s */
    uint32_t idle_ms;          /* a connection with nothing in flight, silent; 0: 300 s */
} ctl_server_opts_t;

typedef struct ctl_server ctl_server_t;

/* Whether addr (HOST:PORT) may carry HTTP: an IP address, loopback unless tls (bearer
 * tokens must not cross a network in the clear). 0, or -1 with err saying so. */
int ctl_http_addr_check(const char *addr, bool tls, cl_error_t *err);
/* HTTPS for every HTTP listener: read the PEM files cert and key, once (no reload), into
 * o->http_cert_pem and http_key_pem, and check that the HTTP library has TLS and takes them (a
 * certificate and its key). 0, or -1 with err naming the file. */
int ctl_http_tls_load(ctl_server_opts_t *o, const char *cert, const char *key, cl_error_t *err);
/* Wipe and free what ctl_http_tls_load read. */
void ctl_http_tls_free(ctl_server_opts_t *o);
#define CTL_HTTP_RATE_DEFAULT 1000 /* --http-rate */

/* The loop and the committer (a worker thread over store, which must outlive the server).
 * NULL with err on failure. */
ctl_server_t *ctl_server_create(const ctl_server_opts_t *o, cl_store_t *store, cl_error_t *err);
/* The hooks to give ctl_create(): commits go to the server's committer, logs to stderr. */
const ctl_hooks_t *ctl_server_hooks(ctl_server_t *s);
/* Listen and run the controller until SIGTERM/SIGINT (returns 0) or until its journal fails
 * for good (70). 1 with err when a listener cannot be set up. The controller stays the
 * caller's (destroy it after ctl_server_destroy()). */
int ctl_server_run(ctl_server_t *s, ctl_t *c, cl_error_t *err);
/* Stop the committer (waiting for the batch in flight, whose messages are dropped), close
 * every connection and the loop. Accepts NULL. */
void ctl_server_destroy(ctl_server_t *s);

#endif
