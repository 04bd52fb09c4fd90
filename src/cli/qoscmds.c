/* qoscmds.c - `colossus qos add|set|list`: named limit sets a user's jobs run under (max
 * priority, GPUs per job, wall time, running jobs; preemptible or not). */
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "util/util.h"

enum {
    OPT_MAXPRIO = CL_CLI_OPT_FIRST,
    OPT_MAXGPUS,
    OPT_MAXWALL,
    OPT_MAXRUN,
    OPT_PREEMPT,
    OPT_NO_PREEMPT,
};

static void usage_spec(FILE *f, bool add)
{
    fprintf(f, "usage: colossus qos %s NAME [OPTIONS]\n%s", add ? "add" : "set",
            add ? "Create a QOS. Unless given: no priority cap, no limits, not preemptible.\n"
                : "Change a QOS: only the options given change.\n");
    fprintf(f,
            "  --max-priority N        the highest --priority its jobs may ask,\n"
            "                          -1000000..1000000\n"
            "  --max-gpus-per-job N|none  GPUs one job may hold, 1..100000000\n"
            "  --max-wall DURATION|none   the longest time limit its jobs may have (30d,\n"
            "                          12h, 90m, 3600s, seconds)\n"
            "  --max-running N|none    running jobs per user, 1..10000000\n"
            "  --preemptible           its jobs may be preempted (to give a lender its quota\n"
            "                          back, or for higher priority)\n"
            "  --no-preemptible        they may not\n");
    cl_cli_usage_change(f, "done");
}

static void usage_add(FILE *f)
{
    usage_spec(f, true);
}

static void usage_set(FILE *f)
{
    usage_spec(f, false);
}

/* A limit of 1..hi or "none" into *out as QosInfo keeps it (0: none); 0, or -1 (bad, said).
 * QosInfo's 0 is "no limit", so a limit of 0, which would let nothing run, is refused. */
static int qos_limit(const char *cmd, const char *flag, long hi, uint32_t *out)
{
    int64_t lim;
    if (cl_arg_limit(cmd, flag, optarg, "none", hi, &lim) < 0) return -1;
    if (lim == 0) {
        fprintf(stderr, "colossus %s: %s must be at least 1 (or none), not '0'\n", cmd, flag);
        return -1;
    }
    *out = lim < 0 ? 0 : (uint32_t)lim;
    return 0;
}

/* One option into q (its field named in set); 0, or -1 (bad, said). */
static int qos_opt(cl_cli_t *c, int o, Colossus__QosInfo *q, cl_cli_set_t *set)
{
    const char *cmd = c->cmd;
    long v;
    switch (o) {
    case OPT_MAXPRIO:
        cl_cli_set_add(set, "max_priority");
        if (cl_flag_long(cmd, "--max-priority", optarg, -1000000, 1000000, &v) < 0) return -1;
        q->max_priority = (int32_t)v;
        return 0;
    case OPT_MAXGPUS:
        cl_cli_set_add(set, "max_gpus_per_job");
        return qos_limit(cmd, "--max-gpus-per-job", 100000000L, &q->max_gpus_per_job);
    case OPT_MAXRUN:
        cl_cli_set_add(set, "max_running_jobs");
        return qos_limit(cmd, "--max-running", 10000000L, &q->max_running_jobs);
    case OPT_MAXWALL:
        cl_cli_set_add(set, "max_wall_s");
        q->max_wall_s = 0;
        return strcmp(optarg, "none")
                   ? cl_arg_duration(cmd, "--max-wall", optarg, 1, &q->max_wall_s)
                   : 0;
    case OPT_PREEMPT:
    case OPT_NO_PREEMPT:
        return cl_arg_switch(cmd, set, "preemptible", &q->preemptible, o == OPT_PREEMPT,
                             "--preemptible", "--no-preemptible");
    }
    cl_cli_common_opt(c, o);
    return 0;
}

static int qos_spec(int argc, char **argv, bool add)
{
    static const struct option opts[] = {
        {"max-priority", required_argument, 0, OPT_MAXPRIO},
        {"max-gpus-per-job", required_argument, 0, OPT_MAXGPUS},
        {"max-wall", required_argument, 0, OPT_MAXWALL},
        {"max-running", required_argument, 0, OPT_MAXRUN},
        {"preemptible", no_argument, 0, OPT_PREEMPT},
        {"no-preemptible", no_argument, 0, OPT_NO_PREEMPT},
        CL_CLI_COMMON_OPTS,
        {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = add ? "qos add" : "qos set"};
    cl_flags_t f = {
        .cmd = c.cmd, .shorts = "h", .longs = opts, .usage = add ? usage_add : usage_set};
    Colossus__QosInfo q = COLOSSUS__QOS_INFO__INIT;
    cl_cli_set_t set = {0};
    q.max_priority = 1000000; /* a new QOS caps no priority unless told */
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (qos_opt(&c, o, &q, &set) < 0) return 2;
    }
    if (cl_flags_args(&f, argc, argv, 1, 1, "NAME (the QOS's name)") < 0) return 2;
    q.name = argv[optind];
    if (cl_arg_name(c.cmd, "the QOS name", q.name, NULL, false) < 0) return 2;
    if (!add && !set.n)
        return cl_flags_fail(&f, "nothing to change: give at least one option (see --help)");
    Colossus__QosSpec s = COLOSSUS__QOS_SPEC__INIT;
    s.qos = &q;
    s.create = add;
    s.set = set.v;
    s.n_set = set.n;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_QOS;
    r.qos = &s;
    return cl_cli_change(&c, &r, 30000,
                         "QOS %s may or may not have been %s (check with 'colossus qos list')",
                         q.name, add ? "created" : "changed");
}

static int qos_add(int argc, char **argv)
{
    return qos_spec(argc, argv, true);
}

static int qos_set(int argc, char **argv)
{
    return qos_spec(argc, argv, false);
}

static void usage_list(FILE *f)
{
    fprintf(f, "usage: colossus qos list [OPTIONS]\n"
               "List the QOS with their limits (\"-\": none).\n"
               "  --json                  a JSON array of QOS (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

static void print_qoses(const Colossus__Response *rs)
{
    printf("%-20s %12s %16s %12s %11s %s\n", "NAME", "MAX_PRIORITY", "MAX_GPUS_PER_JOB",
           "MAX_WALL", "MAX_RUNNING", "PREEMPTIBLE");
    for (size_t i = 0; i < rs->n_qoses; i++) {
        const Colossus__QosInfo *q = rs->qoses[i];
        char gpus[16] = "-", wall[32] = "-", run[16] = "-";
        if (q->max_gpus_per_job) snprintf(gpus, sizeof gpus, "%u", q->max_gpus_per_job);
        if (q->max_wall_s > 0) cl_cli_fmt_elapsed(q->max_wall_s, wall, sizeof wall);
        if (q->max_running_jobs) snprintf(run, sizeof run, "%u", q->max_running_jobs);
        cl_text_cell(stdout, q->name, 20);
        printf(" %12d %16s %12s %11s %s\n", q->max_priority, gpus, wall, run,
               q->preemptible ? "yes" : "no");
    }
}

static json_t *qoses_json(const Colossus__Response *rs)
{
    return cl_json_qoses(rs->qoses, rs->n_qoses);
}

static int qos_list(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_QOSES;
    r.qoses = true;
    return cl_cli_list("qos list", argc, argv, usage_list, &r, qoses_json, print_qoses);
}

int cmd_qos(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"add", qos_add, "create a QOS"},
        {"set", qos_set, "change a QOS (only the options given)"},
        {"list", qos_list, "list the QOS"},
    };
    return cl_cli_dispatch("qos", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
