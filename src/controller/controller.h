/* controller.h - the controller as an object: the cluster's state and policy, driven by whoever
 * owns it (the daemon's libuv loop in ctl_server.c; unit tests with a fake clock and no
 * sockets). It does no I/O of its own: requests and agent messages come in through
 * ctl_request() and ctl_peer_msg(), every message out goes to a reply sink (ctl_sink_t), time
 * comes from the injected clock, journal writes go into batches that the owner commits
 * (ctl_hooks_t.commit) and reports back (ctl_committed()).
 *
 * Journal before acknowledge, for every sink: whatever a loop turn changes goes into the open
 * batch, and every message it causes (a reply, a Launch, a Stop) is held with that batch. The
 * batch closes at the end of the turn (ctl_turn_end()) and is handed to the committer unless
 * one is in flight (group commit: the next batch grows meanwhile). Only when the committer
 * says it is durable are its messages given to their sinks, in order. A batch that failed is
 * retried (nothing of it leaves); after cfg.commit_give_up_s of failures the controller stops
 * (ctl_stopped()), still without acknowledging anything of it.
 *
 * Not thread-safe: every call from the one thread that owns the object. */
#ifndef COLOSSUS_CONTROLLER_CONTROLLER_H
#define COLOSSUS_CONTROLLER_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"
#include "proto/frame.h"
#include "store/store.h"

typedef struct ctl ctl_t;

/* ---- the clock ---- */
typedef struct ctl_clock {
    double (*wall)(void *arg);      /* seconds since the epoch: job times, policy windows */
    uint64_t (*mono_ms)(void *arg); /* monotonic milliseconds: liveness deadlines */
    void *arg;
} ctl_clock_t;
extern const ctl_clock_t ctl_clock_real; /* cl_wall_s() and CLOCK_MONOTONIC */

/* ---- reply sinks ----
 * Where messages leave: a framed connection (an agent's or a client's), an HTTP request, a
 * test's recorder. Reference counted: whatever holds a sink beyond the call that gave it
 * (a waiter, a log fetch, a batch's held messages) takes a reference. The transport creates
 * it with one reference (its own), calls ctl_sink_closed() when its peer is gone and drops
 * its reference then; later deliveries to it are dropped. */
typedef struct ctl_sink ctl_sink_t;
typedef struct ctl_sink_ops {
    const char *proto; /* "colossus", "http", "test": logs */
    /* One packed Colossus__Msg, the batch that caused it durable. The sink copies what it
     * keeps (msg is the batch's). Never called once the sink is closed. */
    void (*deliver)(ctl_sink_t *s, const uint8_t *msg, size_t len);
    /* After a batch's messages are delivered: write what was delivered (NULL: nothing). */
    void (*flush)(ctl_sink_t *s);
    /* The last reference is gone: free the sink (and what embeds it). */
    void (*release)(ctl_sink_t *s);
    /* Optional: the bytes deliver is given for m, appended to out when m is sent (from the
     * controller's state as it is then; delivered, like a packed Msg, only after the batch is
     * durable). Without it, deliver is given m packed. The HTTP sink renders its pages'
     * items to JSON text here instead of packing what it would unpack again. */
    void (*encode)(ctl_sink_t *s, const Colossus__Msg *m, cl_buf_t *out);
    /* Its messages travel in frames (CL_FRAME_MAX): a job whose node list is too big for one
     * goes in parts (ctl_reply_big_job). The HTTP sink renders them whole in-process. */
    bool framed;
} ctl_sink_ops_t;

struct ctl_sink {
    const ctl_sink_ops_t *ops;
    uint32_t refs;
    bool closed;
    char peer[96]; /* who is at the other end, for logs ("127.0.0.1:4711") */
    /* controller's bookkeeping */
    bool touched; /* delivered to in this release; flush pending */
    struct ctl_sink *touched_next;
    uint32_t nnodes;   /* agent: nodes this sink carries */
    uint32_t nwaiters; /* client: `wait` requests parked on jobs */
    /* issue 16: a relay's connection vouches for the nodes it carries (Heartbeat.vouch):
     * they are alive while its frames come (ctl_nodes.c) */
    bool vouches, vsuspect, vdown; /* vouching; its deadline passed; its nodes declared */
    uint64_t vdeadline;            /* monotonic ms: suspected at */
    double last_seen;              /* wall seconds of its last frame */
};

/* Set up s (one reference, the caller's). ops and peer are copied in. */
void ctl_sink_init(ctl_sink_t *s, const ctl_sink_ops_t *ops, const char *peer);
void ctl_sink_ref(ctl_sink_t *s);
void ctl_sink_unref(ctl_sink_t *s); /* accepts NULL */

/* ---- who asks ----
 * Every operation and every agent message is given its caller, as the handshake established
 * it (ctl_authenticate()); what it may do is decided per request from the caller's user,
 * roles and credential as they are now (a revoked token or a disabled user stops working on
 * connections already open). docs/security.md, "Who may do what". */
typedef enum ctl_principal_kind {
    CTL_PRINCIPAL_NONE = 0,    /* not authenticated: no operation is allowed */
    CTL_PRINCIPAL_CLUSTER_KEY, /* proved the cluster key (the bootstrap credential): all */
    CTL_PRINCIPAL_USER,        /* a user, by token or JWT: that user's roles, within scope */
    CTL_PRINCIPAL_NODE,        /* a node credential: registers the nodes it names, only */
} ctl_principal_kind_t;

/* What a token allows, at most (the user's roles decide within it). */
typedef enum ctl_scope {
    CTL_SCOPE_READ = 1,   /* look: jobs, nodes, logs, history */
    CTL_SCOPE_SUBMIT = 2, /* and submit and cancel */
    CTL_SCOPE_ADMIN = 3,  /* everything the user's roles allow */
} ctl_scope_t;

typedef struct ctl_principal {
    ctl_principal_kind_t kind;
    char name[160]; /* for logs and audit: who, by what credential, from where */
    char user[64];  /* USER: the user's name */
    char cred[32];  /* TOKEN or NODE credential id; "" for the cluster key and JWTs */
    ctl_scope_t scope;
    double expires; /* when the credential stops being good (a JWT's exp); 0: never */
} ctl_principal_t;

/* A credential presented in a handshake (the transport checked the framing; ctl_auth.c
 * checks the rest). */
typedef struct ctl_auth_req {
    int kind;           /* Colossus__Credential__Kind: TOKEN, NODE or JWT */
    const char *id;     /* TOKEN, NODE */
    const uint8_t *sig; /* TOKEN, NODE: signature of transcript */
    size_t siglen;
    const uint8_t *transcript; /* 32 bytes (frame.h, cl_auth_transcript) */
    const char *jwt;           /* JWT, unsealed */
    bool agent;                /* the agent role is asked for */
    const char *peer;          /* address, for names and logs */
} ctl_auth_req_t;

/* Who a credential is, or -1 with why (a sentence for the peer and the log, never a secret). */
int ctl_authenticate(ctl_t *c, const ctl_auth_req_t *a, ctl_principal_t *who, cl_error_t *why);
/* Who a bearer token is (the REST API's Authorization header): the string `token create`
 * prints (its identity, when it names one, must be this controller's: ctl_set_identity), or
 * a JWT where JWTs are taken. The same checks as a handshake's; -1 with why (never the
 * secret). peer: the client's address, for names and logs. */
int ctl_authenticate_bearer(ctl_t *c, const char *token, const char *peer, ctl_principal_t *who,
                            cl_error_t *why);
/* Whether who, authenticated earlier, is still good now: its credential neither revoked
 * nor expired, its user there and enabled (what every request checks again). -1 with why. */
int ctl_principal_check(ctl_t *c, const ctl_principal_t *who, cl_error_t *why);
/* The role a principal has now, for AuthOk and whoami: "admin", "operator", "manager",
 * "user", "node" ("admin" for the cluster key). */
const char *ctl_principal_role(ctl_t *c, const ctl_principal_t *who);

/* ---- configuration and hooks ---- */
typedef struct ctl_config {
    uint32_t heartbeat_ms;      /* agents heartbeat this often */
    uint32_t dead_after_ms;     /* a node without a heartbeat this long is down */
    double keep_finished_s;     /* finished jobs stay in memory this long (then read back) */
    char checkpoint_root[2048]; /* root of COLOSSUS_CHECKPOINT_DIR, as the nodes see it */
    double commit_give_up_s;    /* a journal failing this long stops the controller (0: 30 s) */
    /* A site's OIDC provider (docs/security.md, "JWT"): tokens it signs are accepted when
     * jwt_key is set (a PEM public key, or an HMAC secret for HS256). */
    char jwt_issuer[256];   /* required "iss"; "" any */
    char jwt_audience[256]; /* required in "aud"; "" any */
    char jwt_claim[64];     /* the claim naming the user ("" : "sub") */
    char jwt_alg[16];       /* the one algorithm accepted ("": RS256 for a PEM key, else
                               HS256) */
    char *jwt_key;          /* owned by the caller; NULL: JWTs refused */
    size_t jwt_key_len;
    /* Retention (0: keep for ever): finished jobs, usage records and audit records older
     * than this are pruned from the journal; the usage rollups always stay. */
    double keep_jobs_s, keep_history_s, keep_audit_s;
    /* The MASTER_PORTs given out on a job's rank-0 node (0, 0: the defaults below). */
    uint32_t master_port_lo, master_port_hi;
    /* Where the agents keep rank logs on shared storage (agent --log-root: ROOT/NODE/...);
     * "" none. A log of a node that is not connected is read there (hooks.read_log). */
    char log_root[2048];
} ctl_config_t;
#define CTL_MASTER_PORT_LO 15000 /* below Linux's ephemeral range (32768-60999) */
#define CTL_MASTER_PORT_HI 29999

typedef struct ctl_hooks {
    /* Commit b (the batch numbered seq) durably; report with ctl_committed(), now or later,
     * on the owner's thread. Returns -1 when it cannot even start (then the controller
     * treats it as a failed commit). */
    int (*commit)(void *arg, cl_store_batch_t *b, uint64_t seq);
    /* One log line (NULL: cl_daemon_log("controller", ...)). */
    void (*log)(void *arg, const char *line);
    /* Read a rank log file off the loop (the daemon: libuv's thread pool) as an agent would
     * answer a LogFetch (at most max bytes: its tail or head and tail with notes, or with
     * follow the bytes from offset on) and report with ctl_log_read_done(id, ...) on the
     * owner's thread. NULL: logs of nodes that are not connected cannot be read. */
    void (*read_log)(void *arg, uint64_t id, const char *path, bool follow, uint64_t offset,
                     size_t max);
    void *arg;
} ctl_hooks_t;

/* Create the controller over cluster (ownership taken, also on failure) and store (borrowed;
 * must outlive it): every node down until it registers, the journal's nodes and jobs loaded
 * (jobs that were running wait for their agents: recovery). NULL with err on failure. */
ctl_t *ctl_create(const ctl_config_t *cfg, cl_cluster_t *cluster, cl_store_t *store,
                  const ctl_clock_t *clock, const ctl_hooks_t *hooks, cl_error_t *err);
/* Release everything; held messages of batches not yet durable are dropped (as in a crash:
 * nothing of them was acknowledged). Accepts NULL. */
void ctl_destroy(ctl_t *c);

/* ---- input ---- */
/* The read that hooks.read_log was asked for (id) ended: ok with data (len bytes, borrowed)
 * and size (where a follower goes on), or error (a sentence). */
void ctl_log_read_done(ctl_t *c, uint64_t id, bool ok, const char *error, const uint8_t *data,
                       size_t len, uint64_t size);
/* A client request from who, answered on reply (ctl_request takes what references it needs).
 * Requests are operations (ctl_ops.c): unknown ones and ones who may not do are answered with
 * an error. */
void ctl_request(ctl_t *c, const ctl_principal_t *who, const Colossus__Request *r,
                 ctl_sink_t *reply);
/* A message from an agent (or relay) connection of who (the cluster key or a node
 * credential): Register, Heartbeat, Exited, Started, LogData. -1 with why filled when the
 * message has no place on such a connection, or who may no longer send it (a revoked node
 * credential): the transport closes it. */
int ctl_peer_msg(ctl_t *c, const ctl_principal_t *who, ctl_sink_t *peer, const Colossus__Msg *m,
                 cl_error_t *why);
/* The transport lost s (agent or client): nodes it carried are unreachable from now on,
 * its waiters and log fetches are forgotten. The caller then drops its reference. */
void ctl_sink_closed(ctl_t *c, ctl_sink_t *s);

/* ---- time and turns ---- */
/* Run what is due at the clock's now: liveness deadlines (a node past its deadline becomes
 * a suspect, judged at the next ctl_turn_end(c, true)), time limits, pending failures,
 * forgetting finished jobs, the end of recovery, health check timeouts, commit retries. */
void ctl_timers(ctl_t *c);
/* Monotonic ms at which ctl_timers() has work next. */
uint64_t ctl_next_timer_ms(const ctl_t *c);
/* Suspects are waiting for this turn's input to be read (the owner should not block). */
bool ctl_has_suspects(const ctl_t *c);
/* End of a loop turn: judge suspects (after_io: this turn's input has been read), run the
 * scheduler if something changed, close the batch and hand it to the committer (or release
 * its messages at once when it holds no journal records and nothing is in flight). */
void ctl_turn_end(ctl_t *c, bool after_io);
/* The committer's answer for batch seq (b is the controller's again). */
void ctl_committed(ctl_t *c, cl_store_batch_t *b, uint64_t seq, bool ok, const cl_error_t *err);
/* The journal failed for longer than commit_give_up_s: the owner should exit (non-zero). */
bool ctl_stopped(const ctl_t *c);
/* Journal records of the open batch plus the one in flight, and whether one is in flight. */
size_t ctl_pending_records(const ctl_t *c);
bool ctl_commit_in_flight(const ctl_t *c);

/* The controller's identity public key (the server holds the secret half and signs AuthOk):
 * token create answers with it, so that a token names the controller it is for. */
void ctl_set_identity(ctl_t *c, const uint8_t pk[32]);

/* ---- facts for the owner ---- */
uint32_t ctl_node_slots(const ctl_t *c);
uint64_t ctl_cluster_id(const ctl_t *c); /* made with the journal, never 0 */
uint32_t ctl_gpus_per_node(const ctl_t *c);
const ctl_config_t *ctl_config(const ctl_t *c);

/* ---- /metrics (ctl_metrics.c, docs/metrics.md) ---- */
/* The daemon's own figures, which the object does not hold (ctl_server.c). */
typedef struct ctl_metrics_srv {
    uint64_t commits;     /* journal commits timed */
    double commit_s;      /* their time in the store, together */
    uint32_t connections; /* framed connections open (agents, CLI clients) */
} ctl_metrics_srv_t;
/* Whether who may read /metrics: an admin or operator (any scope: a read token is enough),
 * since the text holds every tenant's figures. 0, or -1 with why (a 403's sentence). */
int ctl_metrics_allowed(ctl_t *c, const ctl_principal_t *who, cl_error_t *why);
/* The metrics in the Prometheus text format 0.0.4, from the state as it is now (a walk of
 * the nodes and the live jobs); srv NULL: without the daemon's figures. The caller frees the
 * text (free()); *len its length, *nsamples (NULL: not wanted) its sample lines. */
char *ctl_metrics_render(ctl_t *c, const ctl_metrics_srv_t *srv, size_t *len,
                         uint64_t *nsamples);

/* ---- the watch feed (ctl_watch.c; docs/api/README.md, "Watch") ----
 * A job's every journaled change and a node's state changes as events. Each is held with the
 * batch that is open when it happens, as a reply is, and given to the watchers only once that
 * batch is durable, in order: a watcher never sees what the journal could still lose. A
 * watcher sees what its principal's lists show (jobs of its tenants; every node, with only
 * the jobs it may see). Nothing is rendered while nobody watches. */
#define CTL_WATCH_JOBS 1u
#define CTL_WATCH_NODES 2u
typedef struct ctl_watcher ctl_watcher_t;
struct ctl_watcher {
    ctl_principal_t who;
    unsigned kinds; /* CTL_WATCH_JOBS | CTL_WATCH_NODES */
    /* One event: its id (rising through this controller's run; the ids a watcher does not
     * see are gaps), kind "job" or "node", the object's JSON (api/json.h) on one line.
     * false: the watcher wants no more (the feed unlists it). */
    bool (*event)(ctl_watcher_t *w, uint64_t id, const char *kind, const char *json,
                  size_t len);
    /* The feed dropped w (unlisted already): its principal is no longer good, or the feed
     * overflowed (more events in one batch than it holds; the watcher should relist). */
    void (*end)(ctl_watcher_t *w, bool overflow, const char *why);
    /* the feed's */
    ctl_watcher_t *next, *prev;
    bool listed;
};
/* List w (who, kinds and the callbacks set) for the events of batches released from now on.
 * 0, or -1 with why (who is no longer good). */
int ctl_watch_add(ctl_t *c, ctl_watcher_t *w, cl_error_t *why);
void ctl_watch_remove(ctl_t *c, ctl_watcher_t *w); /* a watcher not listed: nothing */

#endif
