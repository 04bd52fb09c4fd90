/* session.h - a node carrier's session with the controller: one authenticated connection that
 * carries one node (an agent), many (a hollow agent) or the nodes of many agents (a relay,
 * issue 16), with their registration, compact ids, batched heartbeats and reconnection. The
 * agent and the relay both link it; what a node runs is the owner's business (callbacks).
 *
 * What the session does on its own:
 *   connect     cl_client_connect() as ROLE_AGENT (handshake bounded by connect_timeout_ms;
 *               the loop is blocked for at most that long), then the socket is handed to a
 *               cl_uconn_t on the owner's loop.
 *   reconnect   after a failed connect or a lost connection, after a delay that starts at
 *               100 ms and doubles up to 1 s; it is back to 100 ms once a node has registered.
 *               A connection that closes before any of its nodes registered (a refused
 *               registration) counts as a failed try. A failure is logged once per kind: the
 *               same sentence is not logged again until a node has registered.
 *   register    one Register per node, at most CL_SESSION_REG_WINDOW without a reply, the
 *               next ones as Registered replies come back. Why a window: the controller reads
 *               a connection in order, so a heartbeat queued behind 68,750 Registers would
 *               reach it seconds after the nodes registered first were due one (550,000
 *               hollow nodes flapped that way). Heartbeats thus keep flowing during a storm.
 *   ids         each Registered gives its node a compact id, which every later node message
 *               names; cl_session_node_index() maps it back in O(1) through a hash that
 *               survives ids changing (a controller with fresh state numbers nodes anew).
 *   heartbeats  from the first Registered of a connection on, every heartbeat_ms the
 *               controller gave, the first one at once: ONE Heartbeat frame listing every
 *               registered node of the session.
 *   refusal     a refused registration is logged; a session of a single node then closes the
 *               connection (and retries with the backoff), a session of many keeps the others.
 *   loss        when the connection is lost every node is unregistered (its id forgotten), and
 *               on the next connection every node registers again with what register_fill
 *               says then (the launches it still holds: the controller fences and reconciles
 *               from that).
 *
 * Callbacks (cl_session_ops_t), all on the loop, never from cl_session_create() nor
 * cl_session_destroy(), and none after cl_session_destroy() but the *_done that pairs with a
 * *_fill already called; any of them may call cl_session_destroy():
 *   register_fill(arg, node, r)  just before node's Register is queued. r comes initialised
 *               with handle, name and addr set; the owner sets the rest (GPUs, running
 *               launches, health, NVLink domain). What the owner points r at must stay valid
 *               until register_done(arg, node, r), called as soon as r is encoded (before any
 *               other callback): free it there. register_done may be NULL.
 *   heartbeat_fill(arg, hb)      just before a Heartbeat frame is queued; hb->nodes is set
 *               (hb->nodes[0] is the first registered node); the owner may add the health
 *               reports (hb->health), and may leave nodes out (compact hb->nodes in place
 *               and lower hb->n_nodes: a relay leaves out the nodes it has not heard from).
 * heartbeat_done(arg, hb) follows as register_done does. Both may be NULL. registered(arg,
 * node, r)     every successful Registered (r->ok), before node counts as registered: return
 * false to refuse this controller (the owner says why in its log; agent.c checks the cluster
 * identity, cluster_id.h). The session then closes the connection at once: nothing the
 * controller sent after r is delivered (its Fence included) and nothing more is sent to it; the
 * try counts as failed (the backoff grows) and the next ones are not logged as "connected".
 * Asked per node, so that a relay can answer for each agent's node (a refusal still closes the
 * whole connection). May be NULL (accept all). message(arg, node, m)        every controller
 * message but Registered. node is the index of the carried node the message names (Launch,
 * Stop, ExitedAck, Fence, LogFetch, CheckOrder), or -1 for a message that names no node or a
 * node this session does not carry (now). m is freed when the callback returns. Required.
 *   up(arg)                      connected, before the first Register is queued. May be NULL.
 *   down(arg)                    the connection is lost; every node is unregistered already
 *               and a reconnection is scheduled. Not called by cl_session_destroy(). May
 *               be NULL.
 *
 * Not thread-safe: call everything from the thread that runs the loop. */
#ifndef COLOSSUS_AGENT_SESSION_H
#define COLOSSUS_AGENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "colossus.pb-c.h"
#include "colossus/core.h" /* cl_error_t */
#include "proto/cred.h"

#define CL_SESSION_REG_WINDOW 512 /* Registers sent and not yet answered, at most */
#define CL_SESSION_NAME_MAX 63    /* longest node name */

typedef struct cl_session cl_session_t;

typedef struct cl_session_ops {
    void (*register_fill)(void *arg, int node, Colossus__Register *r);
    void (*register_done)(void *arg, int node, Colossus__Register *r);
    void (*heartbeat_fill)(void *arg, Colossus__Heartbeat *hb);
    void (*heartbeat_done)(void *arg, Colossus__Heartbeat *hb);
    void (*message)(void *arg, int node, const Colossus__Msg *m);
    void (*up)(void *arg);
    void (*down)(void *arg);
    bool (*registered)(void *arg, int node, const Colossus__Registered *r);
    /* issue 14, may be NULL: heartbeats then ask for HeartbeatAck, and each ack of the
     * leader renews the node-side lease to `until` (CLOCK_BOOTTIME ns: the acknowledged
     * heartbeat's send time plus cl_session_lease_ms()); a connection whose controller has
     * not answered for its dead-after is closed and the next address tried */
    void (*lease)(void *arg, uint64_t seq, uint64_t until);
    /* issue 16, may be NULL: a Registered that refused node (after the log line), before
     * the session decides what to do (a relay tells the agent behind it) */
    void (*refused)(void *arg, int node, const Colossus__Registered *r);
} cl_session_ops_t;

/* The lease's length for a controller's heartbeat period and dead-after: dead-after less
 * the larger of one period and a quarter of it, so that ranks freeze before the controller
 * may declare their node down (docs/standby.md, "Fencing"). */
uint32_t cl_session_lease_ms(uint32_t heartbeat_ms, uint32_t dead_after_ms);

/* Everything is copied by cl_session_create(). */
typedef struct cl_session_opts {
    /* "HOST:PORT", or a list "HOST:PORT,HOST:PORT" (a leader and its standbys, tried in
     * turn: client.h's cl_client_dial_list), required */
    const char *controller;
    const cl_cred_t *cred; /* a node credential or the cluster key, required */
    const char *peer; /* who we are, for the controller's log (the agent's name), or NULL */
    const char *who;  /* what this session's log lines start with; NULL: "agent" */
    int connect_timeout_ms; /* TCP connect and handshake, each; 0: 2000 */
    /* a carrier of many nodes even while it carries one (a relay): a refused registration
     * never closes the connection */
    bool many;
    /* heartbeats a period (1..16; 0: 1), all but the first carrying no node, only a seq for
     * the leader to ack (with ops.lease). A relay sends 4: an ack reaches the agents behind it
     * at most a quarter period after their heartbeat reached it, where the next full heartbeat
     * would take up to a period, per tier, off their lease (docs/relay.md). */
    uint32_t lease_beats;
    /* Registers sent and not yet answered, at most (0: CL_SESSION_REG_WINDOW). A relay's
     * Registers cross more hops, so more are on their way at once for the same rate. */
    uint32_t reg_window;
    /* With ops.lease: a path whose leader has not acked for the lease's length is left for
     * the next address at once (a timer, not the next heartbeat), where other sessions wait
     * for dead-after. An agent behind a relay whose host hung must register through another
     * path before the controller's deadline for that relay (dead-after) takes its node down
     * (issue 16, docs/relay.md); a relay keeps dead-after, since its leaving costs all its
     * nodes a registration. */
    bool leave_at_lease;
} cl_session_opts_t;

/* A session carrying no node yet, not connecting yet (cl_session_add_node(),
 * cl_session_start()). ops is copied. NULL with err set on bad options (no controller, no
 * credential, a controller address that does not parse, no message callback). Caller destroys.
 */
cl_session_t *cl_session_create(uv_loop_t *loop, const cl_session_opts_t *o,
                                const cl_session_ops_t *ops, void *arg, cl_error_t *err);

/* Carry one more node, named name (1..CL_SESSION_NAME_MAX characters, no commas). Returns its
 * index (0, 1, ... in the order added), or -1 with err set on a bad name. A node added while
 * connected registers on that connection (through the window). */
int cl_session_add_node(cl_session_t *s, const char *name, cl_error_t *err);

/* Carry node again, or not (issue 16: a relay whose agent left). Not carried, it is not
 * registered on a new connection nor heartbeated, and if it is registered now the
 * controller is told (Detach: not down, free to register through another path) in the next
 * Detach: one frame for all the nodes dropped since the last, sent by
 * cl_session_detach_flush() and before any Register or heartbeat. Carried again, it
 * registers on this connection (through the window), after the others waiting. */
void cl_session_carry(cl_session_t *s, int node, bool carried);
void cl_session_detach_flush(cl_session_t *s);
bool cl_session_carried(const cl_session_t *s, int node);

/* Start connecting (the first try at the next loop turn). Idempotent. */
void cl_session_start(cl_session_t *s);

/* Queue m on the connection and flush it. 0, or -1 when not connected: m is not sent (the
 * owner says what still matters when its nodes register again). */
int cl_session_send(cl_session_t *s, const Colossus__Msg *m);

/* Send a heartbeat now (health news that must not wait for the period), when connected and a
 * node is registered; the period is not reset. */
void cl_session_heartbeat_now(cl_session_t *s);

/* --- queries --- */
int cl_session_nodes(const cl_session_t *s); /* nodes carried */
const char *cl_session_node_name(const cl_session_t *s, int node);
/* true with *id = node's compact id while it is registered on the current connection. */
bool cl_session_node_id(const cl_session_t *s, int node, uint32_t *id);
/* The index of the registered node with compact id `id`, or -1. O(1). */
int cl_session_node_index(const cl_session_t *s, uint32_t id);
bool cl_session_connected(const cl_session_t *s);
/* This end's IPv4 address on the first connection ("" before it): where the carried nodes'
 * ranks are reachable (Register.addr). */
const char *cl_session_addr(const cl_session_t *s);
/* The delay before the next reconnection try, in ms (100 .. 1000). */
int cl_session_retry_ms(const cl_session_t *s);
/* Registers sent on this connection and not yet answered (0 .. CL_SESSION_REG_WINDOW). */
int cl_session_reg_outstanding(const cl_session_t *s);

/* Close the connection (quietly) and the timers; no callback is called afterwards (see
 * above) and s must not be used again. The memory is released once the loop has closed the
 * handles (run it). Accepts NULL; preserves errno. */
void cl_session_destroy(cl_session_t *s);

#endif
