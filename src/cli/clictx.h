/* clictx.h - what every client subcommand shares: the --controller/--token/--key/--identity
 * options, finding the controller (--controller, $COLOSSUS_CONTROLLER, the `colossus up`
 * directory) and the credential (cl_cli_resolve), connecting, and one request/response round
 * trip. */
#ifndef COLOSSUS_CLI_CLICTX_H
#define COLOSSUS_CLI_CLICTX_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "util/flags.h"
#include "cli/text.h"
#include "proto/client.h"

/* Exit statuses of the client commands (written down in `colossus --help`). */
enum {
    CL_EXIT_FAILED = 1,  /* not done: answered with an error, refused, or nothing was sent */
    CL_EXIT_USAGE = 2,   /* bad usage */
    CL_EXIT_UNKNOWN = 3, /* a change was sent but not acknowledged: its outcome is unknown */
};

/* The longest drain reason the controller keeps (ctl.h: a node's reason is 128 bytes); a
 * longer one is refused here rather than cut there. */
#define CL_CLI_REASON_MAX 127

/* How long a command given several controller addresses tries them (a failover: the standby
 * takes the lead in about 1 s, docs/standby.md), and retries a submission whose answer was
 * lost (with the same idempotency key: one job). */
#define CL_CLI_FAILOVER_MS 15000

typedef struct cl_cli {
    const char *cmd; /* subcommand name, for messages */
    const char *controller_opt, *key_opt, *token_opt, *identity_opt;
    char addr[256];   /* one address, or a list (a leader and its standbys) */
    size_t next_addr; /* of a list: the one that answered last (cl_client_dial_list) */
    cl_cred_t cred;   /* what we present: a token, a JWT or the cluster key */
    cl_client_t *conn;
    /* A command that changes something says here what its user should know and check when
     * its request was sent but not acknowledged ("it may or may not have been accepted (check
     * with 'colossus jobs --all')"); empty for a read, whose loss is a plain failure. */
    char unknown[320];
    int status; /* after a failure: CL_EXIT_FAILED, or CL_EXIT_UNKNOWN (see unknown) */
} cl_cli_t;

/* Long option values of the shared options; a command's own start at CL_CLI_OPT_FIRST. */
enum {
    CL_CLI_OPT_CONTROLLER = 1000,
    CL_CLI_OPT_KEY,
    CL_CLI_OPT_TOKEN,
    CL_CLI_OPT_IDENTITY,
    CL_CLI_OPT_JSON,
    CL_CLI_OPT_ALL,
    CL_CLI_OPT_FIRST
};
/* The options every client command takes, --help included (the table's end). */
#define CL_CLI_COMMON_OPTS                                                                     \
    {"controller", required_argument, 0, CL_CLI_OPT_CONTROLLER},                               \
        {"key", required_argument, 0, CL_CLI_OPT_KEY},                                         \
        {"token", required_argument, 0, CL_CLI_OPT_TOKEN},                                     \
        {"identity", required_argument, 0, CL_CLI_OPT_IDENTITY}, CL_FLAGS_HELP
#define CL_CLI_JSON_OPT                                                                        \
    {                                                                                          \
        "json", no_argument, 0, CL_CLI_OPT_JSON                                                \
    }
#define CL_CLI_ALL_OPT                                                                         \
    {                                                                                          \
        "all", no_argument, 0, CL_CLI_OPT_ALL                                                  \
    }
/* Take o if it is --controller, --key, --token or --identity (optarg); false for any other
 * option. */
bool cl_cli_common_opt(cl_cli_t *c, int o);
/* The usage lines of those options. */
void cl_cli_usage_common(FILE *f);
/* Those lines, then the exit statuses of a command that changes something ("Exit status: 0
 * DONE, 1 not, 2 bad usage, 3 sent but not acknowledged."). */
void cl_cli_usage_change(FILE *f, const char *done);

/* The options of a command that has none of its own but --json and --all (a view: jobs,
 * show, tenant show; or token revoke, node remove): those where its table has them (json
 * and all may be NULL where it has not), the common ones; then exactly nargs positional
 * arguments (what names them). 0 to go on, or -1 to stop with *status (0 after --help, 2
 * after bad usage). */
int cl_cli_view_flags(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, int nargs,
                      const char *what, bool *json, bool *all, int *status);
/* The same, with a command's own options (its filters) given to own: 1 taken, 0 not its own
 * (a common option), -1 refused (said already: bad usage). */
typedef int cl_cli_own_f(void *arg, const cl_flags_t *f, int opt);
int cl_cli_view_flags_own(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, int nargs,
                          const char *what, bool *json, bool *all, int *status,
                          cl_cli_own_f *own, void *arg);

/* The directory `colossus up` uses: $COLOSSUS_DIR, else ~/.colossus. 0, or -1 when it does
 * not fit in len, after saying so as "colossus CMD: ..." (quietly when cmd is NULL). */
int cl_cli_dir(const char *cmd, char *buf, size_t len);
/* Find the controller's address and load the credential; prints the problem and returns -1
 * with c->status when there is none to use (an address longer than 255 bytes is refused, not
 * cut: status 2 when --controller gave it).
 *
 * The credential is the first of: --token FILE (a token, node credential, JWT or cluster key
 * file), --key FILE (the cluster key), $COLOSSUS_TOKEN (the token itself), $COLOSSUS_KEY (a
 * key file), DIR/token when it exists, DIR/key, DIR being the `colossus up` directory
 * (cl_cli_dir). --token and --key together are bad usage (status 2). A file that cannot be
 * read or does not hold a credential is named in the message (status 1); a bad
 * $COLOSSUS_TOKEN is named as the variable, never printed.
 *
 * A JWT is a bearer credential: it is sent only to the controller identity pinned by the
 * first of --identity FILE, $COLOSSUS_IDENTITY (64 hex digits or a file), DIR/identity.pub
 * (a file as the controller writes STATE-DIR/identity.pub); without one it is refused here
 * (status 1), before anything is sent. A token names its controller itself. */
int cl_cli_resolve(cl_cli_t *c);
/* Connect to the resolved address: 0, or -1 with the reason in err and where it failed in
 * *fail. */
int cl_cli_dial(cl_cli_t *c, cl_client_fail_t *fail, cl_error_t *err);
/* Say a failed step on stderr, "colossus CMD: <what happened>; <what is known>" (the known
 * part from fail, or c->unknown when a change was sent and not acknowledged), and set
 * c->status. */
void cl_cli_fail(cl_cli_t *c, const cl_client_fail_t *fail, const cl_error_t *err);
/* cl_cli_resolve, then cl_cli_dial; prints the problem and returns -1 with c->status on
 * failure. */
int cl_cli_connect(cl_cli_t *c);
/* Send req, wait for the response; prints the problem and returns NULL with c->status on
 * failure or when the controller answered !ok (then prints its error, status 1). Caller
 * frees with cl_msg_free. */
Colossus__Msg *cl_cli_call(cl_cli_t *c, Colossus__Request *req, int timeout_ms);
/* Follow job id's rank logs until it ends (logs -f; jobcmds.c): every rank, each new part
 * under a header, or rank `rank` alone (one). With fw: once *fw->interrupted is set (Ctrl-C)
 * the job is cancelled, and followed on until it has ended (2: stop at once); fw->state and
 * fw->exit_code (-1: none) say how it ended. 0, or -1 with c->status. */
typedef struct cl_follow {
    volatile sig_atomic_t *interrupted;
    bool cancelled;
    char state[32];
    int exit_code;
    char reason[256];
} cl_follow_t;
int cl_cli_follow(cl_cli_t *c, uint64_t id, bool one, uint32_t rank, cl_follow_t *fw);
/* Connect, one round trip, close: cl_cli_connect + cl_cli_call + cl_cli_close. */
Colossus__Msg *cl_cli_ask(cl_cli_t *c, Colossus__Request *req, int timeout_ms);
/* One round trip of a request that changes something (timeout_ms), unknown filled from fmt
 * first (what to check when it was sent but not acknowledged). On success prints the
 * answer's data, a sentence from the controller, escaped, on a line of its own (nothing when
 * there is none) and returns 0; else the exit status (said already). */
int cl_cli_change(cl_cli_t *c, Colossus__Request *req, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "colossus CMD: <text>" on stderr, text from elsewhere (the controller) escaped (text.h). */
void cl_cli_say(const cl_cli_t *c, const char *text);
void cl_cli_close(cl_cli_t *c);
/* Parse a job id; prints and returns -1 when bad. */
int cl_cli_jobid(const cl_cli_t *c, const char *s, uint64_t *out);
/* A job as the job commands name it: an id, or ARRAY_TASK (Slurm's "12_7": task 7 of array
 * 12, looked up with one round trip). 0 with *out (and *task: it named a task), else the
 * exit status (said: 2 bad usage, else the lookup's). */
int cl_cli_job_ref(cl_cli_t *c, const char *s, uint64_t *out, bool *task);
/* The one job a show or wait answer carries; prints and returns NULL when it has none. */
Colossus__JobInfo *cl_cli_one_job(const cl_cli_t *c, const Colossus__Msg *m);

/* A list view's answer as JSON (api/json.h), or as text. */
typedef json_t *cl_cli_json_f(const Colossus__Response *rs);
typedef void cl_cli_text_f(const Colossus__Response *rs);
/* One round trip of req, its answer printed by to_json (json) or to_text; the exit status. */
int cl_cli_view(cl_cli_t *c, Colossus__Request *req, bool json, cl_cli_json_f *to_json,
                cl_cli_text_f *to_text);
/* A whole list command: its flags (--json and the common ones, no argument; usage prints
 * them), then cl_cli_view of req. The exit status. */
int cl_cli_list(const char *cmd, int argc, char **argv, void (*usage)(FILE *f),
                Colossus__Request *req, cl_cli_json_f *to_json, cl_cli_text_f *to_text);
/* A flag's comma-separated list of names (--state up,drained) as bits: name k of names[0..n)
 * sets bit k. 0, or the usage status (2) after saying which word is not one of them ("'%s' is
 * not a WHAT (the names)"). */
int cl_cli_name_bits(const cl_flags_t *f, const char *flag, const char *arg, const char *what,
                     const char *const *names, int n, uint32_t *out);
/* Print a JSON document (api/json.h's text form) on stdout and release it; 0, or 1 after
 * saying that stdout refused it. */
int cl_cli_json_out(const cl_cli_t *c, json_t *v);

#endif
