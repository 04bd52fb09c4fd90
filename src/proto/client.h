/* client.h - a blocking, authenticated connection to the controller, for the CLI, the client
 * library and the agent's connect step (the agent then hands the socket to its libuv loop). */
#ifndef COLOSSUS_PROTO_CLIENT_H
#define COLOSSUS_PROTO_CLIENT_H

#include "proto/frame.h"

typedef struct cl_client {
    int fd;
    cl_sess_t sess;
    cl_buf_t in; /* bytes read but not yet decoded */
} cl_client_t;

/* Connect to "HOST:PORT" and run the handshake as role. NULL with a sentence on failure
 * ("wrong cluster key" when the controller refuses the proof). Caller closes the result. */
cl_client_t *cl_client_connect(const char *addr, const uint8_t key[CL_KEY_BYTES],
                               Colossus__Role role, const char *peer, int timeout_ms,
                               cl_error_t *err);
int cl_client_send(cl_client_t *c, const Colossus__Msg *m, cl_error_t *err);
/* Receive one message; timeout_ms < 0 waits forever. 0, or -1 with a sentence (the peer
 * closed, timed out, or sent a bad frame). Free *m with cl_msg_free(). */
int cl_client_recv(cl_client_t *c, Colossus__Msg **m, int timeout_ms, cl_error_t *err);
/* Send a request and wait for its response (matched by req id). Caller frees the returned
 * message with cl_msg_free(); NULL with a sentence on failure. */
Colossus__Msg *cl_client_call(cl_client_t *c, Colossus__Request *req, int timeout_ms,
                              cl_error_t *err);
void cl_client_close(cl_client_t *c);

/* Connect a TCP socket with a timeout; fd or -1 with a sentence. */
int cl_tcp_connect(const char *addr, int timeout_ms, cl_error_t *err);

#endif
