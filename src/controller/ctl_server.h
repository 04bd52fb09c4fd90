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
    const char *proto; /* "colossus" (the framed protocol of docs/protocol.md) */
    const char *addr;  /* HOST:PORT; port 0: the kernel chooses */
} ctl_listen_t;

typedef struct ctl_server_opts {
    ctl_listen_t listen[CTL_MAX_LISTENERS];
    int nlisten;
    const char *address_file; /* the first listener's bound address is written here, or NULL */
    uint8_t key[CL_KEY_BYTES];
    bool commit_inline; /* commit on the loop thread (measurements): no worker */
} ctl_server_opts_t;

typedef struct ctl_server ctl_server_t;

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
