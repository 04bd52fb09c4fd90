/* acctcmds.c - accounting and identity views: `colossus history` (finished runs, as sacct),
 * `colossus usage` (rollups, as sreport), `colossus audit` (who changed what), `colossus
 * whoami`; each as text or the API's JSON. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "util/util.h"

enum {
    OPT_SINCE = CL_CLI_OPT_FIRST,
    OPT_UNTIL,
    OPT_TENANT,
    OPT_USER,
    OPT_STATE,
    OPT_LIMIT,
    OPT_BY,
    OPT_JOB,
};

#define O_SINCE                                                                                \
    {                                                                                          \
        "since", required_argument, 0, OPT_SINCE                                               \
    }
#define O_UNTIL                                                                                \
    {                                                                                          \
        "until", required_argument, 0, OPT_UNTIL                                               \
    }
#define O_TENANT                                                                               \
    {                                                                                          \
        "tenant", required_argument, 0, OPT_TENANT                                             \
    }
#define O_USER                                                                                 \
    {                                                                                          \
        "user", required_argument, 0, OPT_USER                                                 \
    }
#define O_LIMIT                                                                                \
    {                                                                                          \
        "limit", required_argument, 0, OPT_LIMIT                                               \
    }

/* What the accounting views' command lines hold. */
typedef struct acct_args {
    Colossus__HistoryReq h; /* history, usage */
    bool json;
} acct_args_t;

static const char *const ended_words[] = {"succeeded",     "failed",    "cancelled", "timeout",
                                          "node_fail",     "preempted", "requeued",  "budget",
                                          "out_of_memory", NULL};
static const char *const by_words[] = {"tenant", "user", "day", "month", NULL};

static int acct_opt(cl_cli_t *c, int o, acct_args_t *a)
{
    const char *cmd = c->cmd;
    switch (o) {
    case OPT_SINCE:
        return cl_arg_time(cmd, "--since", optarg, &a->h.since);
    case OPT_UNTIL:
        return cl_arg_time(cmd, "--until", optarg, &a->h.until);
    case OPT_TENANT:
        a->h.tenant = optarg;
        return cl_arg_name(cmd, "--tenant", optarg, NULL, false);
    case OPT_USER:
        a->h.user = optarg;
        return cl_arg_name(cmd, "--user", optarg, NULL, false);
    case OPT_STATE:
        a->h.state = optarg;
        return cl_arg_oneof(cmd, "--state", optarg, ended_words);
    case OPT_LIMIT:
        return cl_flag_u32(cmd, "--limit", optarg, 1, 1000000, &a->h.limit);
    case OPT_BY:
        a->h.by = optarg;
        return cl_arg_oneof(cmd, "--by", optarg, by_words);
    case OPT_JOB:
        return cl_cli_jobid(c, optarg, &a->h.job);
    case CL_CLI_OPT_JSON:
        a->json = true;
        return 0;
    }
    cl_cli_common_opt(c, o);
    return 0;
}

/* Parse an accounting view's flags (no argument); 0, or -1 to stop with *status. */
static int acct_flags(cl_cli_t *c, cl_flags_t *f, int argc, char **argv, acct_args_t *a,
                      int *status)
{
    int o;
    *status = 2;
    while ((o = cl_flags_next(f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) {
            *status = f->exit;
            return -1;
        }
        if (acct_opt(c, o, a) < 0) return -1;
    }
    if (cl_flags_args(f, argc, argv, 0, 0, NULL) < 0) return -1;
    if (a->h.since > 0 && a->h.until > 0 && a->h.until <= a->h.since) {
        cl_flags_fail(f, "--until must be later than --since");
        return -1;
    }
    return 0;
}

static void usage_history(FILE *f)
{
    fprintf(f,
            "usage: colossus history [OPTIONS]\n"
            "Finished runs (every incarnation of every job, as sacct): job, incarnation,\n"
            "name, user, tenant, GPUs, start and end (UTC), elapsed time, GPU-hours, energy,\n"
            "how it ended, exit code or signal, nodes (and why it ended).\n"
            "  --since T               runs that ended at T or later; T is a date or time,\n"
            "                          2026-11-01, 2026-11-01T12:00 (UTC; or with Z or an\n"
            "                          offset, +02:00), now, or a time ago (7d, 12h, 30m)\n"
            "  --until T               runs that ended before T (default: now)\n"
            "  --tenant T              of one tenant\n"
            "  --user U                of one user\n"
            "  --state S               that ended so: succeeded, failed, cancelled, timeout,\n"
            "                          node_fail, preempted, requeued, budget or\n"
            "                          out_of_memory\n"
            "  --limit N               the newest N, 1..1000000 (default 1000)\n"
            "  --job N                 the runs of job N (its restarts: one per incarnation)\n"
            "  --json                  a JSON array of usage records (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

/* "3", "SIGKILL" (128 + 9 from a failed run), "-" when there is no code. */
static void exit_text(const Colossus__UsageRecord *r, char *buf, size_t len)
{
    int sig = cl_json_signal(r->ended, r->exit_code);
    const char *name = sig ? sigabbrev_np(sig) : NULL;
    if (sig && name)
        snprintf(buf, len, "SIG%s", name);
    else if (sig)
        snprintf(buf, len, "signal %d", sig);
    else if (cl_json_coded(r->ended))
        snprintf(buf, len, "%d", r->exit_code);
    else
        snprintf(buf, len, "-");
}

static void print_history(const Colossus__Response *rs)
{
    printf("%-8s %-4s %-16s %-12s %-12s %5s %-20s %-20s %11s %9s %8s %-10s %-8s %s\n", "JOB",
           "INC", "NAME", "USER", "TENANT", "GPUS", "START", "END", "ELAPSED", "GPU_H", "KWH",
           "ENDED", "EXIT", "NODES (REASON)");
    for (size_t i = 0; i < rs->n_history; i++) {
        const Colossus__UsageRecord *r = rs->history[i];
        char t0[40], t1[40], el[40], kwh[24] = "-", ex[24];
        cl_cli_fmt_utc(r->start, t0, sizeof t0);
        cl_cli_fmt_utc(r->end, t1, sizeof t1);
        if (r->start > 0 && r->end >= r->start)
            cl_cli_fmt_elapsed(r->end - r->start, el, sizeof el);
        else
            snprintf(el, sizeof el, "-");
        if (r->energy_j > 0) snprintf(kwh, sizeof kwh, "%.3f", r->energy_j / 3.6e6);
        exit_text(r, ex, sizeof ex);
        printf("%-8llu %-4u ", (unsigned long long)r->job, r->incarnation);
        cl_text_cell(stdout, r->name, 16);
        putchar(' ');
        cl_text_cell(stdout, r->user, 12);
        putchar(' ');
        cl_text_cell(stdout, r->tenant, 12);
        printf(" %5u %-20s %-20s %11s %9.2f %8s ", r->gpus, t0, t1, el, r->gpu_seconds / 3600,
               kwh);
        cl_text_cell(stdout, r->ended, 10);
        printf(" %-8s ", ex);
        cl_text_list(stdout, r->nodes, r->n_nodes);
        if (r->reason[0]) {
            fputs(" (", stdout);
            cl_text_put(stdout, r->reason);
            putchar(')');
        }
        putchar('\n');
    }
}

static json_t *history_json(const Colossus__Response *rs)
{
    return cl_json_history(rs->history, rs->n_history);
}

int cmd_history(int argc, char **argv)
{
    static const struct option opts[] = {O_SINCE,
                                         O_UNTIL,
                                         O_TENANT,
                                         O_USER,
                                         {"state", required_argument, 0, OPT_STATE},
                                         O_LIMIT,
                                         {"job", required_argument, 0, OPT_JOB},
                                         CL_CLI_JSON_OPT,
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "history"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_history};
    acct_args_t a = {.h = COLOSSUS__HISTORY_REQ__INIT};
    int status;
    if (acct_flags(&c, &f, argc, argv, &a, &status) < 0) return status;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_HISTORY;
    r.history = &a.h;
    return cl_cli_view(&c, &r, a.json, history_json, print_history);
}

static void usage_usage(FILE *f)
{
    fprintf(f,
            "usage: colossus usage [OPTIONS]\n"
            "GPU-hours, energy, FLOPs and runs per tenant, user, day or month (as sreport),\n"
            "from the controller's daily rollups: the range counts whole UTC days, from the\n"
            "start of --since's day to the end of --until's.\n"
            "  --since T               from T's day; T is a date or time, 2026-11-01,\n"
            "                          2026-11-01T12:00 (UTC; or with Z or an offset),\n"
            "                          now, or a time ago (7d, 12h, 30m) (default: the\n"
            "                          start of the journal)\n"
            "  --until T               to T's day (default: today)\n"
            "  --by tenant|user|day|month  one row per tenant (default), user, UTC day or\n"
            "                          UTC month\n"
            "  --tenant T              of one tenant\n"
            "  --user U                of one user\n"
            "  --json                  a JSON array of usage rows (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static const char *usage_by; /* the key column's name, for print_usage */

static void print_usage(const Colossus__Response *rs)
{
    char head[16];
    snprintf(head, sizeof head, "%s", usage_by);
    for (char *p = head; *p; p++)
        *p = (char)(*p - 'a' + 'A');
    printf("%-20s %12s %12s %14s %8s\n", head, "GPU_HOURS", "ENERGY_KWH", "FLOPS", "RUNS");
    for (size_t i = 0; i < rs->n_usage; i++) {
        const Colossus__UsageRow *u = rs->usage[i];
        char kwh[24] = "-", fl[32];
        if (u->energy_kwh > 0) snprintf(kwh, sizeof kwh, "%.3f", u->energy_kwh);
        cl_cli_fmt_flops(u->flops, fl, sizeof fl);
        cl_text_cell(stdout, u->key, 20);
        printf(" %12.2f %12s %14s %8llu\n", u->gpu_hours, kwh, fl, (unsigned long long)u->runs);
    }
}

static json_t *usage_json(const Colossus__Response *rs)
{
    return cl_json_usage(rs->usage, rs->n_usage);
}

int cmd_usage(int argc, char **argv)
{
    static const struct option opts[] = {O_SINCE,
                                         O_UNTIL,
                                         {"by", required_argument, 0, OPT_BY},
                                         O_TENANT,
                                         O_USER,
                                         CL_CLI_JSON_OPT,
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "usage"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_usage};
    acct_args_t a = {.h = COLOSSUS__HISTORY_REQ__INIT};
    a.h.by = "tenant";
    int status;
    if (acct_flags(&c, &f, argc, argv, &a, &status) < 0) return status;
    usage_by = a.h.by;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_USAGE;
    r.usage = &a.h;
    return cl_cli_view(&c, &r, a.json, usage_json, print_usage);
}

static void usage_audit(FILE *f)
{
    fprintf(f,
            "usage: colossus audit [OPTIONS]\n"
            "The audit log: every operation that changes something (or was refused), with\n"
            "when (UTC), who, what, on what, the outcome and its detail; oldest first.\n"
            "  --since T               from T: a date or time, 2026-11-01, 2026-11-01T12:00\n"
            "                          (UTC; or with Z or an offset), or a time ago (7d)\n"
            "  --user U                what one user did\n"
            "  --limit N               the newest N, 1..1000000 (default: the controller's)\n"
            "  --json                  a JSON array of audit records (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static void print_audit(const Colossus__Response *rs)
{
    printf("%-20s %-20s %-14s %-24s %-7s %s\n", "TIME", "WHO", "OP", "TARGET", "RESULT",
           "DETAIL");
    for (size_t i = 0; i < rs->n_audit; i++) {
        const Colossus__AuditRecord *a = rs->audit[i];
        char t[40];
        cl_cli_fmt_utc(a->time, t, sizeof t);
        printf("%-20s ", t);
        cl_text_cell(stdout, a->who, 20);
        putchar(' ');
        cl_text_cell(stdout, a->op, 14);
        putchar(' ');
        cl_text_cell(stdout, a->target, 24);
        printf(" %-7s ", a->ok ? "ok" : "refused");
        cl_text_put(stdout, a->detail);
        putchar('\n');
    }
}

static json_t *audit_json(const Colossus__Response *rs)
{
    return cl_json_audits(rs->audit, rs->n_audit);
}

int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        O_SINCE, O_USER, O_LIMIT, CL_CLI_JSON_OPT, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "audit"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_audit};
    acct_args_t a = {.h = COLOSSUS__HISTORY_REQ__INIT};
    int status;
    if (acct_flags(&c, &f, argc, argv, &a, &status) < 0) return status;
    Colossus__AuditReq q = COLOSSUS__AUDIT_REQ__INIT;
    q.since = a.h.since;
    q.user = a.h.user;
    q.limit = a.h.limit;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_AUDIT;
    r.audit = &q;
    return cl_cli_view(&c, &r, a.json, audit_json, print_audit);
}

static void usage_whoami(FILE *f)
{
    fprintf(f, "usage: colossus whoami [OPTIONS]\n"
               "Who the controller takes you for with the credential you present: the\n"
               "principal, its cluster role, and for a user its tenants (with its role in\n"
               "each), uid/gid and QOS.\n"
               "  --json                  a JSON object (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static void print_whoami(const Colossus__Response *rs)
{
    printf("%-11s", "principal:");
    cl_text_put(stdout, rs->principal);
    printf("\n%-11s", "role:");
    cl_text_put(stdout, rs->role[0] ? rs->role : "-");
    putchar('\n');
    if (!rs->n_users) return;
    const Colossus__UserInfo *u = rs->users[0];
    printf("%-11s", "tenants:");
    for (size_t k = 0; k < u->n_tenants; k++) {
        fputs(k ? ", " : "", stdout);
        cl_text_put(stdout, u->tenants[k]->tenant);
        printf(" (%s)", !strcmp(u->tenants[k]->role, "manager") ? "manager" : "user");
    }
    if (!u->n_tenants) putchar('-');
    printf("\n%-11s%u/%u\n%-11s", "uid/gid:", u->uid, u->gid, "qos:");
    cl_text_put(stdout, u->qos[0] ? u->qos : "(default)");
    putchar('\n');
    if (u->disabled) printf("%-11syes\n", "disabled:");
}

int cmd_whoami(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_WHOAMI;
    r.whoami = true;
    return cl_cli_list("whoami", argc, argv, usage_whoami, &r, cl_json_whoami, print_whoami);
}
