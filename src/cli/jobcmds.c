/* jobcmds.c - the job subcommands that act on jobs: cancel, hold, release, requeue, wait,
 * logs (submit is in
 * submit.c; the views, jobs and show, are in jobview.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/clictx.h"
#include "util/util.h"

enum { OPT_TIMEOUT = CL_CLI_OPT_FIRST, OPT_RANK, OPT_FOLLOW };

/* cancel, hold, release, requeue: one job, one request, the same exit statuses. */
static const struct job_act {
    const char *cmd, *about, *done;
    Colossus__Request__BodyCase body;
} job_acts[] = {
    {"cancel", "Cancel a job: its ranks get TERM, then KILL after the grace period.",
     "cancelled", COLOSSUS__REQUEST__BODY_CANCEL},
    {"hold",
     "Hold a pending job: it does not start until 'colossus release JOB' (as Slurm's\n"
     "scontrol hold). Its owner, its tenant's manager, an operator or an admin may.\n"
     "Example: colossus hold 42",
     "held", COLOSSUS__REQUEST__BODY_HOLD},
    {"release",
     "Release a held job (submitted with --hold, or held since): it may start.\n"
     "Example: colossus release 42",
     "released", COLOSSUS__REQUEST__BODY_RELEASE},
    {"requeue",
     "Requeue a job (as Slurm's scontrol requeue): a running one is stopped (its ranks\n"
     "get TERM, then KILL) and pends again, not counted as a failure restart; a\n"
     "finished one pends again. Its owner, its tenant's manager, an operator or an\n"
     "admin may. Example: colossus requeue 42",
     "requeued", COLOSSUS__REQUEST__BODY_REQUEUE},
};
static const struct job_act *job_act_now;

static void usage_job_act(FILE *f)
{
    fprintf(f, "usage: colossus %s [OPTIONS] JOB\n%s\n", job_act_now->cmd, job_act_now->about);
    cl_cli_usage_common(f);
    fprintf(f,
            "Exit status: 0 %s, 1 not, 2 bad usage, 3 sent but not acknowledged\n"
            "(see colossus --help).\n",
            job_act_now->done);
}

static void usage_wait(FILE *f)
{
    fprintf(f,
            "usage: colossus wait [OPTIONS] JOB\n"
            "Wait for a job to end, across controller restarts; exit 0 only if it\n"
            "succeeded (1 if it failed or was cancelled, 124 after --timeout).\n"
            "  --timeout SECONDS       give up after SECONDS, 1..100000000 (default: never)\n");
    cl_cli_usage_common(f);
}

/* Parse "[options] JOB" for cancel and wait (--timeout only in wait's table). 0, or -1 when
 * the command stops here with *status (0 after --help, 2 after bad usage). */
static int one_job(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, uint64_t *id,
                   long *timeout_s, int *status, bool *task)
{
    int o;
    *status = 2;
    while ((o = cl_flags_next(f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *status = f->exit;
            return -1;
        }
        if (o == OPT_TIMEOUT) {
            if (cl_flag_long(c->cmd, "--timeout", optarg, 1, 100000000, timeout_s) < 0)
                return -1;
        } else {
            cl_cli_common_opt(c, o);
        }
    }
    if (cl_flags_args(f, argc, argv, 1, 1, "JOB (a job id, or ARRAY_TASK)") < 0) return -1;
    *status = cl_cli_job_ref(c, argv[optind], id, task);
    return *status ? -1 : 0;
}

static int job_act(int argc, char **argv, const struct job_act *a)
{
    static const struct option opts[] = {CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = a->cmd};
    job_act_now = a;
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_job_act};
    uint64_t id;
    long unused;
    int status;
    bool task;
    if (one_job(&c, &f, argc, argv, &id, &unused, &status, &task) < 0) return status;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = a->body;
    switch (a->body) {
    case COLOSSUS__REQUEST__BODY_HOLD:
        r.hold = id;
        break;
    case COLOSSUS__REQUEST__BODY_RELEASE:
        r.release = id;
        break;
    case COLOSSUS__REQUEST__BODY_REQUEUE:
        r.requeue = id;
        break;
    default: /* 12_0 is task 0 alone; 12 the whole array */
        if (task) r.body_case = COLOSSUS__REQUEST__BODY_CANCEL_TASK;
        *(task ? &r.cancel_task : &r.cancel) = id;
    }
    snprintf(c.unknown, sizeof c.unknown,
             "job %llu may or may not have been %s (check with 'colossus show %llu')",
             (unsigned long long)id, a->done, (unsigned long long)id);
    Colossus__Msg *m = cl_cli_ask(&c, &r, 30000);
    if (!m) return c.status;
    cl_msg_free(m);
    return 0;
}

int cmd_cancel(int argc, char **argv)
{
    return job_act(argc, argv, &job_acts[0]);
}

int cmd_hold(int argc, char **argv)
{
    return job_act(argc, argv, &job_acts[1]);
}

int cmd_release(int argc, char **argv)
{
    return job_act(argc, argv, &job_acts[2]);
}

int cmd_requeue(int argc, char **argv)
{
    return job_act(argc, argv, &job_acts[3]);
}

/* The answer to wait: print how the job ended; 0 if it succeeded. */
static int wait_done(cl_cli_t *c, uint64_t id, Colossus__Msg *m)
{
    Colossus__Response *rs = m->response;
    Colossus__JobInfo *j = rs->ok ? cl_cli_one_job(c, m) : NULL;
    if (!rs->ok) cl_cli_say(c, rs->error);
    if (!j) {
        cl_msg_free(m);
        return 1;
    }
    int ok = !strcmp(j->state, "succeeded");
    printf("job %llu ", (unsigned long long)id);
    cl_text_put(stdout, j->state);
    if (j->has_exit_code) printf(" (exit code %d)", j->exit_code);
    if (j->reason[0]) {
        fputs(": ", stdout);
        cl_text_put(stdout, j->reason);
    }
    putchar('\n');
    cl_msg_free(m);
    return ok ? 0 : 1;
}

/* One Wait round trip of at most left_ms (< 0: no limit): 0 with *m, or -1 after saying why
 * (quietly when the time was up) with *stop set when retrying cannot help. */
static int wait_once(cl_cli_t *c, uint64_t id, double left_ms, Colossus__Msg **m, bool *stop)
{
    cl_error_t err;
    cl_client_fail_t fail;
    *m = NULL;
    if (cl_cli_dial(c, &fail, &err) == 0) {
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_WAIT;
        r.wait = id;
        /* A call waits at most an hour (a timeout is an int of ms): then a new one. */
        int ms = left_ms < 0 ? -1 : left_ms < 1 ? 1 : left_ms > 3.6e6 ? 3600000 : (int)left_ms;
        *m = cl_client_call(c->conn, &r, ms, &err);
        fail = c->conn->fail;
        cl_cli_close(c);
        if (*m) return 0;
    }
    *stop = fail.stage == CL_CLIENT_REFUSED && fail.why == COLOSSUS__REFUSED__WHY__WRONG_KEY;
    if (*stop)
        cl_cli_fail(c, &fail, &err);
    else if (!fail.timed_out || fail.stage != CL_CLIENT_LOST) {
        fputs("colossus wait: ", stderr);
        cl_text_put(stderr, err.msg);
        fputs("; retrying\n", stderr);
    }
    return -1;
}

/* Waits across controller restarts: a lost connection is retried until the timeout. */
int cmd_wait(int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, 0, OPT_TIMEOUT}, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "wait"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_wait};
    uint64_t id;
    long timeout_s = 0;
    int status;
    bool task;
    if (one_job(&c, &f, argc, argv, &id, &timeout_s, &status, &task) < 0) return status;
    /* Nothing to retry without an address or a key. */
    if (cl_cli_resolve(&c) < 0) return c.status;
    double deadline = timeout_s ? cl_now_ms() + (double)timeout_s * 1000 : 0;
    for (;;) {
        Colossus__Msg *m;
        bool stop = false;
        double t0 = cl_now_ms();
        if (wait_once(&c, id, deadline ? deadline - t0 : -1, &m, &stop) == 0)
            return wait_done(&c, id, m);
        if (stop) return c.status;
        if (deadline && cl_now_ms() >= deadline) {
            fprintf(stderr, "colossus wait: job %llu did not finish within %ld s\n",
                    (unsigned long long)id, timeout_s);
            return 124;
        }
        if (cl_now_ms() - t0 < 500) usleep(500000); /* not after an hour-long call */
    }
}

static void usage_logs(FILE *f)
{
    fprintf(f, "usage: colossus logs [OPTIONS] JOB\n"
               "Print a job's rank logs (every rank, each under a header, or one).\n"
               "  --rank R                only rank R, 0..100000000\n"
               "  -f, --follow            keep printing what the ranks write until the job\n"
               "                          ends, as tail -f (a pending job is waited for; a\n"
               "                          restart's new ranks are followed from their start)\n"
               "Example: colossus logs -f --rank 0 42\n");
    cl_cli_usage_common(f);
}

static int fetch_log(cl_cli_t *c, uint64_t id, uint32_t rank, bool header)
{
    Colossus__LogFetch q = COLOSSUS__LOG_FETCH__INIT;
    q.job = id;
    q.rank = rank;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_LOGS;
    r.logs = &q;
    Colossus__Msg *m = cl_cli_call(c, &r, 30000);
    if (!m) return -1;
    if (header) printf("==> rank %u <==\n", rank); /* the log itself is printed as it is */
    if (m->response->data.len)                     /* an empty log has no data (NULL) */
        fwrite(m->response->data.data, 1, m->response->data.len, stdout);
    cl_msg_free(m);
    return 0;
}

/* Every rank's log, one after the other: the job's shape says how many there are. */
static int fetch_all_logs(cl_cli_t *c, uint64_t id)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = id;
    Colossus__Msg *m = cl_cli_call(c, &r, 30000);
    Colossus__JobInfo *j = m ? cl_cli_one_job(c, m) : NULL;
    if (!j) {
        cl_msg_free(m);
        return -1;
    }
    uint32_t per = j->ntasks_per_node ? j->ntasks_per_node : j->gpus_per_node;
    uint32_t world = j->nnodes * per;
    if (j->output[0]) { /* its ranks' output is in files on their nodes, not in these logs */
        fputs("colossus logs: the job's output goes to --output ", stderr);
        cl_text_put(stderr, j->output);
        fputs(" on its nodes; its rank logs hold only what colossus says\n", stderr);
    }
    cl_msg_free(m);
    int rc = 0;
    for (uint32_t i = 0; i < world && rc == 0; i++)
        rc = fetch_log(c, id, i, world > 1);
    return rc;
}

/* ---- logs -f ---- */

enum { FOLLOW_POLL_US = 250000 };

/* A state after which the job's ranks write nothing more. */
static bool ended(const char *state)
{
    return strcmp(state, "pending") && strcmp(state, "running") && strcmp(state, "held");
}

static Colossus__JobInfo *show_job(cl_cli_t *c, uint64_t id, Colossus__Msg **m)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = id;
    *m = cl_cli_call(c, &r, 30000);
    Colossus__JobInfo *j = *m ? cl_cli_one_job(c, *m) : NULL;
    if (!j) {
        cl_msg_free(*m);
        *m = NULL;
    }
    return j;
}

/* What rank `rank` wrote from *off on, printed (under a header when the ranks printed last
 * was another one and there are several), *off moved on; until a reply is not full. 0, or -1
 * when the controller or the node said no (printed once per rank and error: the node may be
 * on its way back). */
static int follow_rank(cl_cli_t *c, uint64_t id, uint32_t rank, bool header, uint64_t *off,
                       int *last, char **said)
{
    for (;;) {
        Colossus__LogFetch q = COLOSSUS__LOG_FETCH__INIT;
        q.job = id;
        q.rank = rank;
        q.from_offset = true;
        q.offset = *off;
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_LOGS;
        r.logs = &q;
        cl_error_t err;
        Colossus__Msg *m = cl_client_call(c->conn, &r, 30000, &err);
        if (!m) {
            cl_cli_fail(c, &c->conn->fail, &err);
            return -2; /* the connection is gone */
        }
        if (!m->response->ok) { /* the node is away, say: said once, tried again */
            const char *why = m->response->error;
            if (!*said || strcmp(*said, why)) {
                fprintf(stderr, "colossus logs: rank %u: ", rank);
                cl_text_put(stderr, why);
                fputc('\n', stderr);
                free(*said);
                *said = cl_xstrdup(why);
            }
            cl_msg_free(m);
            return -1;
        }
        size_t n = m->response->data.len;
        if (n) {
            if (header && *last != (int)rank)
                printf("%s==> rank %u <==\n", *last >= 0 ? "\n" : "", rank);
            fwrite(m->response->data.data, 1, n, stdout);
            fflush(stdout);
            *last = (int)rank;
        }
        bool more = m->response->log_size > *off && n >= (1u << 20); /* a full reply */
        *off = m->response->log_size;
        cl_msg_free(m);
        if (!more) return 0;
    }
}

/* The per-rank strings of a follow: the errors said and the nodes followed (either NULL). */
static void ranks_free(char **said, char **node_of, uint32_t n)
{
    for (uint32_t i = 0; said && i < n; i++) {
        free(said[i]);
        free(node_of[i]);
    }
    free(said);
    free(node_of);
}

/* The connection went away under a follow (its controller died or stepped down): with a
 * list of controllers (a leader and its standbys), the one that answers next within
 * CL_CLI_FAILOVER_MS takes the follow on from the same offsets (docs/standby.md). false:
 * one address, or none answered (said). */
static bool follow_redial(cl_cli_t *c)
{
    size_t n = cl_addr_list_count(c->addr);
    const cl_client_fail_t *f = c->conn ? &c->conn->fail : NULL;
    if (n < 2 || !f ||
        !(f->stage == CL_CLIENT_LOST || f->stage == CL_CLIENT_SEND ||
          (f->stage == CL_CLIENT_REFUSED && f->why == COLOSSUS__REFUSED__WHY__SHUTTING_DOWN)))
        return false;
    cl_cli_close(c);
    c->next_addr = (c->next_addr + 1) % n; /* the one that failed, last */
    cl_error_t err;
    cl_client_fail_t f2;
    if (cl_cli_dial(c, &f2, &err) < 0) {
        cl_cli_fail(c, &f2, &err);
        return false;
    }
    c->status = 0;
    fprintf(stderr, "colossus %s: following on through the controller that leads now\n",
            c->cmd);
    return true;
}

int cl_cli_follow(cl_cli_t *c, uint64_t id, bool one, uint32_t rank, cl_follow_t *fw)
{
    uint64_t *off = NULL;
    char **said = NULL, **node_of = NULL; /* per rank: an error said, the node followed */
    uint32_t world = 0, inc = 0;
    int last = -1, rc = 0;
    bool waiting_said = false;
    for (;;) {
        if (fw && fw->interrupted && *fw->interrupted >= 2) break; /* a second Ctrl-C: now */
        if (fw && fw->interrupted && *fw->interrupted && !fw->cancelled) {
            fw->cancelled = true;
            fprintf(stderr, "colossus %s: cancelling job %llu\n", c->cmd,
                    (unsigned long long)id);
            Colossus__Request cr = COLOSSUS__REQUEST__INIT;
            cr.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
            cr.cancel = id;
            cl_error_t err;
            Colossus__Msg *cm = cl_client_call(c->conn, &cr, 30000, &err);
            if (cm && !cm->response->ok) {
                fprintf(stderr, "colossus %s: ", c->cmd);
                cl_text_put(stderr, cm->response->error);
                fputc('\n', stderr);
            }
            cl_msg_free(cm);
        }
        Colossus__Msg *m;
        Colossus__JobInfo *j = show_job(c, id, &m);
        if (!j) {
            if (follow_redial(c)) continue;
            rc = -1;
            break;
        }
        bool done = ended(j->state);
        if (done && fw) {
            snprintf(fw->state, sizeof fw->state, "%s", j->state);
            fw->exit_code = j->has_exit_code ? j->exit_code : -1;
            snprintf(fw->reason, sizeof fw->reason, "%s", j->reason);
        }
        uint32_t per = j->ntasks_per_node ? j->ntasks_per_node : j->gpus_per_node;
        uint32_t w = j->nnodes * per;
        bool ran = j->n_nodes > 0;
        if (!ran && !done) {
            if (!waiting_said)
                fprintf(stderr, "colossus %s: job %llu has not started: waiting\n", c->cmd,
                        (unsigned long long)id);
            waiting_said = true;
        } else if (ran) {
            if (one && rank >= w) {
                fprintf(stderr, "colossus logs: job %llu has ranks 0..%u, not %u\n",
                        (unsigned long long)id, w - 1, rank);
                cl_msg_free(m);
                rc = -1;
                c->status = 1;
                break;
            }
            if (!off || w != world || j->incarnation != inc) {
                if (off && j->incarnation != inc)
                    fprintf(stderr,
                            "colossus %s: job %llu restarted (incarnation %u): following its "
                            "new ranks' logs\n",
                            c->cmd, (unsigned long long)id, j->incarnation);
                /* A rank still on its node writes on at the end of the same log (the agent
                 * appends a restart's output): it goes on from where it was. One on another
                 * node starts that node's log from its beginning. */
                uint64_t *next = cl_xcalloc(w ? w : 1, sizeof *next);
                char **nodes = cl_xcalloc(w ? w : 1, sizeof *nodes);
                for (uint32_t i = 0; i < w; i++) {
                    const char *nd = per && i / per < j->n_nodes ? j->nodes[i / per] : "";
                    nodes[i] = cl_xstrdup(nd);
                    if (off && i < world && w == world && !strcmp(node_of[i], nd))
                        next[i] = off[i];
                }
                ranks_free(said, node_of, world);
                free(off);
                world = w;
                inc = j->incarnation;
                off = next;
                node_of = nodes;
                said = cl_xcalloc(world ? world : 1, sizeof *said);
                last = -1;
            }
            for (uint32_t i = one ? rank : 0; i < (one ? rank + 1 : world); i++)
                if (follow_rank(c, id, i, !one && world > 1, &off[i], &last, &said[i]) == -2) {
                    if (follow_redial(c)) break; /* the rest at the next round */
                    rc = -1;
                    done = true;
                    break;
                }
        }
        cl_msg_free(m);
        if (done) break;
        usleep(FOLLOW_POLL_US);
    }
    ranks_free(said, node_of, world);
    free(off);
    return rc;
}

int cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {{"rank", required_argument, 0, OPT_RANK},
                                         {"follow", no_argument, 0, 'f'},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "logs"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "hf", .longs = opts, .usage = usage_logs};
    uint32_t rank = 0;
    bool one = false, follow = false;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (o == OPT_RANK) {
            if (cl_flag_u32(c.cmd, "--rank", optarg, 0, 100000000, &rank) < 0) return 2;
            one = true;
        } else if (o == 'f') {
            follow = true;
        } else {
            cl_cli_common_opt(&c, o);
        }
    }
    uint64_t id;
    bool task;
    if (cl_flags_args(&f, argc, argv, 1, 1, "JOB (a job id, or ARRAY_TASK)") < 0) return 2;
    int st = cl_cli_job_ref(&c, argv[optind], &id, &task);
    if (st) return st;
    if (cl_cli_connect(&c) < 0) return c.status;
    int rc = follow ? cl_cli_follow(&c, id, one, rank, NULL)
             : one  ? fetch_log(&c, id, rank, false)
                    : fetch_all_logs(&c, id);
    cl_cli_close(&c);
    return rc ? c.status : 0;
}
