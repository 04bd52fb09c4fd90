/* client.h - a blocking, authenticated connection to the controller, for the CLI, the client
 * library and the agent's connect step (the agent then hands the socket to its libuv loop).
 *
 * Every failure says what is known of the request it carried (cl_client_fail_t): nothing was
 * sent (no connection, a handshake that broke off), the controller refused us (its Refused
 * frame, with its reason: a wrong cluster key is said only when the controller says so), or a
 * request was sent and its answer never came (the connection closed, broke or timed out),
 * so its outcome is unknown. */
#ifndef COLOSSUS_PROTO_CLIENT_H
#define COLOSSUS_PROTO_CLIENT_H

#include "proto/cred.h"
#include "proto/frame.h"

/* Where a client's step failed. */
typedef enum cl_client_stage {
    CL_CLIENT_OK = 0,    /* no failure */
    CL_CLIENT_CONNECT,   /* no connection (bad address, unknown host, TCP refused or timed
                            out): nothing was sent */
    CL_CLIENT_HANDSHAKE, /* connected, but the handshake broke off without a refusal (closed,
                            timed out, a bad frame, the controller did not prove the key):
                            nothing was sent */
    CL_CLIENT_REFUSED,   /* the controller sent Refused before closing (fail.why) */
    CL_CLIENT_SEND,      /* a frame could not be written (too large, or the connection is
                            gone): the controller carries out whole frames only, so the request
                            in it was not carried out */
    CL_CLIENT_LOST,      /* authenticated, then the connection closed, broke, sent a bad frame
                            or timed out (fail.timed_out) */
} cl_client_stage_t;

typedef struct cl_client_fail {
    cl_client_stage_t stage;
    /* A request had been written whose answer had not come when it failed: its outcome is
     * unknown (it may have been carried out). Set with LOST and REFUSED. */
    bool sent;
    bool timed_out;             /* HANDSHAKE or LOST: our timeout, not the peer */
    Colossus__Refused__Why why; /* REFUSED: why the controller refused us */
} cl_client_fail_t;

typedef struct cl_client {
    int fd;
    cl_sess_t sess;
    cl_buf_t in;           /* bytes read; from in_off on, not yet decoded */
    size_t in_off;         /* of in, decoded already (moved out once per read, not per frame) */
    char addr[256];        /* "HOST:PORT" as given, for messages */
    bool authed;           /* the handshake is done */
    uint32_t unanswered;   /* requests sent whose last Response part has not come */
    cl_client_fail_t fail; /* the last failure of send, recv or call on this client */
    char user[128];        /* who the controller says we are (AuthOk.user; "" from an older
                              controller) */
    char role[16];         /* our cluster role there (AuthOk.role) */
} cl_client_t;

/* Connect to "HOST:PORT" and run the handshake as role. NULL with a sentence on failure (a
 * wrong cluster key only when the controller refuses the proof with Refused{WRONG_KEY}), and
 * where it failed in *fail (may be NULL; stage CONNECT, HANDSHAKE or REFUSED, sent false).
 * Caller closes the result with cl_client_close(). */
cl_client_t *cl_client_dial(const char *addr, const uint8_t key[CL_KEY_BYTES],
                            Colossus__Role role, const char *peer, int timeout_ms,
                            cl_client_fail_t *fail, cl_error_t *err);
/* cl_client_dial with any credential (cred.h): the cluster key, a user's token, a node
 * credential (both checked against the controller identity they carry) or a JWT (checked
 * against cred->identity, its pin: without one it fails before connecting). The controller
 * must show that identity in Hello and sign its key exchange with it (Hello.kx_sig) before
 * anything secret is sent. */
cl_client_t *cl_client_dial_cred(const char *addr, const cl_cred_t *cred, Colossus__Role role,
                                 const char *peer, int timeout_ms, cl_client_fail_t *fail,
                                 cl_error_t *err);
/* cl_client_dial without *fail. */
cl_client_t *cl_client_connect(const char *addr, const uint8_t key[CL_KEY_BYTES],
                               Colossus__Role role, const char *peer, int timeout_ms,
                               cl_error_t *err);
/* Send one message (a Request counts as unanswered until its last Response part is
 * received). 0, or -1 with a sentence and c->fail (SEND, or REFUSED when a Refused was
 * already waiting). */
int cl_client_send(cl_client_t *c, const Colossus__Msg *m, cl_error_t *err);
/* Receive one message; timeout_ms < 0 waits forever, 0 takes only what has arrived. 0, or -1
 * with a sentence and c->fail: the peer closed, broke, sent a bad frame, timed out, or sent
 * Refused (which is never returned as a message). Free *m with cl_msg_free(). */
int cl_client_recv(cl_client_t *c, Colossus__Msg **m, int timeout_ms, cl_error_t *err);
/* The bytes read from the controller but not yet decoded (a caller that takes the socket
 * over after the handshake, as the agent's session does, keeps them): *p, and how many. */
size_t cl_client_unread(const cl_client_t *c, const uint8_t **p);
/* Send a request and wait for its response (matched by req id, parts joined). Caller frees
 * the returned message with cl_msg_free(); NULL with a sentence and c->fail on failure (SEND:
 * the request was not carried out; LOST or REFUSED with fail.sent: its outcome is unknown). A
 * Response with ok false is an answer, not a failure. */
Colossus__Msg *cl_client_call(cl_client_t *c, Colossus__Request *req, int timeout_ms,
                              cl_error_t *err);
void cl_client_close(cl_client_t *c); /* accepts NULL */

/* What f says of the request, as a clause for a message (static text): "nothing was sent"
 * (CONNECT, HANDSHAKE, REFUSED before any request), "the request was not sent" (SEND), "the
 * request was sent but not acknowledged: its outcome is unknown" (fail.sent), else "". */
const char *cl_client_fail_known(const cl_client_fail_t *f);
/* A Refused reason in words: "wrong cluster key", "overloaded", "timed out", "bad input",
 * "shutting down", "credential refused", "no reason given" (OTHER or a value this build does
 * not know). */
const char *cl_refused_why_name(Colossus__Refused__Why why);

/* ---- several controllers (a leader and its standbys, docs/standby.md) ----
 * A controller address may be a list, "HOST:PORT,HOST:PORT,...": a standby does not listen
 * until it leads, so a client tries the addresses in turn and keeps the first that answers. */
/* The number of addresses in list (1 for one address), and the i-th of them into out (len
 * bytes; false when there is no i-th or it does not fit). */
size_t cl_addr_list_count(const char *list);
bool cl_addr_list_nth(const char *list, size_t i, char *out, size_t len);
/* Every address of list parses (cl_addr_parse), at most CL_ADDR_LIST_MAX of them: 0, or -1
 * with err naming the bad one. */
#define CL_ADDR_LIST_MAX 16
int cl_addr_list_check(const char *list, cl_error_t *err);
/* cl_client_dial_cred on each address of list in turn, starting at *next (then set to the
 * one that answered: give it again to start there), in rounds 100 ms apart (doubling to 1
 * s) until one answers or wait_ms has passed since the call (0: one round). An address that
 * refuses the connection, does not complete the handshake or refuses us as shutting down is
 * skipped; any other refusal (a wrong key, a credential refused) ends the tries at once. The
 * failure is the last address's (err, of a list, names the list, then that reason). next
 * may be NULL (start at the first). */
cl_client_t *cl_client_dial_list(const char *list, const cl_cred_t *cred, Colossus__Role role,
                                 const char *peer, int timeout_ms, int wait_ms, size_t *next,
                                 cl_client_fail_t *fail, cl_error_t *err);

/* Connect a TCP socket with a timeout; fd or -1 with a sentence. */
int cl_tcp_connect(const char *addr, int timeout_ms, cl_error_t *err);

#endif
