/* agent_opts.c - `colossus agent`'s options: the usage text, parsing and checks. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_opts.h"
#include "agent/ranklog.h"
#include "agent/session.h"
#include "proto/client.h"
#include "proto/frame.h"
#include "util/flags.h"
#include "util/units.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: colossus agent --controller HOST:PORT[,HOST:PORT...] --node-token FILE\n"
        "                      --name NAME\n"
        "                      --work-dir DIR\n"
        "       (several --controller addresses: a leader and its standbys, tried in turn)\n"
        "       (--node-token FILE: a node credential, 'colossus node-token create'; or\n"
        "        --key FILE: the cluster key, the bootstrap credential)\n"
        "       [--fake-gpus N]                    N fake GPUs instead of NVML's (1..%d)\n"
        "       [--hollow N [--hollow-run-ms MS]]  play N simulated nodes NAME-0.. on one\n"
        "                                          connection (needs --fake-gpus)\n"
        "       [--check-at-start off|quick|full]  gpu check before registering (quick)\n"
        "       [--check-before-job off|quick|full] gpu check before every launch (off)\n"
        "       [--health-poll-ms N]               NVML telemetry and XID poll period "
        "(5000)\n"
        "       [--links auto|none|LIST]           network links watched (every 500 ms): a\n"
        "                                          lost one takes the node out (drain-now);\n"
        "                                          auto: physical interfaces and InfiniBand\n"
        "                                          ports once seen up; LIST: eth0,mlx5_0/1\n"
        "       [--sysfs-root DIR]                 where sysfs is (/sys)\n"
        "       [--rank-log-max MIB]               most a rank's log keeps on disk (%llu; 0:\n"
        "                                          no limit): its first MIB/16 and its last\n"
        "                                          bytes, the middle cut (checked every %d "
        "s)\n"
        "       [--allow-root-jobs]                run ranks as root (uid 0 or gid 0) when a\n"
        "                                          job's user is root: for a single machine\n"
        "                                          run by root; refused by default\n"
        "       [--cpus N]                         CPUs jobs may use here (default: the\n"
        "                                          online CPUs; hollow nodes: none said; 0:\n"
        "                                          no limit)\n"
        "       [--mem SIZE]                       memory jobs may use here, 64G, 512M...\n"
        "                                          (default: MemTotal; hollow: none; 0: no\n"
        "                                          limit)\n"
        "       [--log-root DIR]                   rank logs in DIR/NAME/ (shared storage\n"
        "                                          the controller reads when this node is\n"
        "                                          gone; default: WORK/logs)\n"
        "       [--no-keepers]                     ranks are the agent's children: they die\n"
        "                                          with it (default: each launch has a keeper\n"
        "                                          process, so that an agent restarted,\n"
        "                                          upgraded (SIGUSR2) or killed adopts them)\n"
        "       [--abandon-ms MS]                  ranks frozen by a lapsed lease this long\n"
        "                                          with no agent are killed (default 30000)\n",
        AG_MAX_GPUS, AG_RANKLOG_MAX_DEFAULT >> 20, AG_RANKLOG_CHECK_MS / 1000);
}

static int check_mode(const char *opt, const char *s, ag_check_mode_t *out)
{
    if (!strcmp(s, "off"))
        *out = AG_CHECK_OFF;
    else if (!strcmp(s, "quick"))
        *out = AG_CHECK_QUICK;
    else if (!strcmp(s, "full"))
        *out = AG_CHECK_FULL;
    else {
        fprintf(stderr, "colossus agent: %s must be off, quick or full, not '%s'\n", opt, s);
        return -1;
    }
    return 0;
}

enum {
    OPT_CONTROLLER = 1000,
    OPT_KEY,
    OPT_NAME,
    OPT_WORK_DIR,
    OPT_FAKE_GPUS,
    OPT_HOLLOW,
    OPT_HOLLOW_RUN_MS,
    OPT_CHECK_AT_START,
    OPT_CHECK_BEFORE_JOB,
    OPT_HEALTH_POLL_MS,
    OPT_LINKS,
    OPT_SYSFS_ROOT,
    OPT_RANK_LOG_MAX,
    OPT_ALLOW_ROOT_JOBS,
    OPT_NODE_TOKEN,
    OPT_CPUS,
    OPT_MEM,
    OPT_LOG_ROOT,
    OPT_NO_KEEPERS,
    OPT_ABANDON_MS,
};

/* One option; 0, or -1 after printing what is wrong. */
static int parse_opt(int opt, ag_opts_t *o)
{
    switch (opt) {
    case OPT_CONTROLLER:
        o->controller = optarg;
        return 0;
    case OPT_KEY:
        o->keyfile = optarg;
        return 0;
    case OPT_NAME:
        o->name = optarg;
        return 0;
    case OPT_WORK_DIR:
        o->work = optarg;
        return 0;
    case OPT_FAKE_GPUS:
        return cl_flag_u32("agent", "--fake-gpus", optarg, 1, AG_MAX_GPUS, &o->fake_gpus);
    case OPT_HOLLOW:
        return cl_flag_u32("agent", "--hollow", optarg, 1, 100000, &o->hollow);
    case OPT_HOLLOW_RUN_MS:
        return cl_flag_u32("agent", "--hollow-run-ms", optarg, 0, 86400000, &o->hollow_run_ms);
    case OPT_CHECK_AT_START:
        return check_mode("--check-at-start", optarg, &o->health.at_start);
    case OPT_CHECK_BEFORE_JOB:
        return check_mode("--check-before-job", optarg, &o->health.before_job);
    case OPT_HEALTH_POLL_MS:
        return cl_flag_u32("agent", "--health-poll-ms", optarg, 50, 3600000,
                           &o->health.poll_ms);
    case OPT_LINKS:
        o->health.links = optarg;
        return 0;
    case OPT_SYSFS_ROOT:
        o->health.sysfs_root = optarg;
        return 0;
    case OPT_RANK_LOG_MAX:
        return cl_flag_u32("agent", "--rank-log-max", optarg, 0, 1u << 20, &o->rank_log_mib);
    case OPT_ALLOW_ROOT_JOBS:
        o->allow_root_jobs = true;
        return 0;
    case OPT_NODE_TOKEN:
        o->node_token = optarg;
        return 0;
    case OPT_CPUS:
        o->cpus_set = true;
        return cl_flag_u32("agent", "--cpus", optarg, 0, 1u << 20, &o->cpus);
    case OPT_MEM: {
        cl_error_t err;
        o->mem_set = true;
        if (!strcmp(optarg, "0")) {
            o->mem_mb = 0;
            return 0;
        }
        if (cl_parse_mem_mb(optarg, &o->mem_mb, &err) == 0) return 0;
        fprintf(stderr, "colossus agent: --mem: %s\n", err.msg);
        return -1;
    }
    case OPT_NO_KEEPERS:
        o->no_keepers = true;
        return 0;
    case OPT_ABANDON_MS:
        return cl_flag_u32("agent", "--abandon-ms", optarg, 100, 86400000u, &o->abandon_ms);
    case OPT_LOG_ROOT:
        if (optarg[0] != '/') {
            fprintf(stderr, "colossus agent: --log-root must be an absolute path, not '%s'\n",
                    optarg);
            return -1;
        }
        o->log_root = optarg;
        return 0;
    default:
        return -1;
    }
}

int ag_parse_args(int argc, char **argv, ag_opts_t *o)
{
    static const struct option longs[] = {
        {"controller", required_argument, 0, OPT_CONTROLLER},
        {"key", required_argument, 0, OPT_KEY},
        {"name", required_argument, 0, OPT_NAME},
        {"work-dir", required_argument, 0, OPT_WORK_DIR},
        {"fake-gpus", required_argument, 0, OPT_FAKE_GPUS},
        {"hollow", required_argument, 0, OPT_HOLLOW},
        {"hollow-run-ms", required_argument, 0, OPT_HOLLOW_RUN_MS},
        {"check-at-start", required_argument, 0, OPT_CHECK_AT_START},
        {"check-before-job", required_argument, 0, OPT_CHECK_BEFORE_JOB},
        {"health-poll-ms", required_argument, 0, OPT_HEALTH_POLL_MS},
        {"links", required_argument, 0, OPT_LINKS},
        {"sysfs-root", required_argument, 0, OPT_SYSFS_ROOT},
        {"rank-log-max", required_argument, 0, OPT_RANK_LOG_MAX},
        {"allow-root-jobs", no_argument, 0, OPT_ALLOW_ROOT_JOBS},
        {"node-token", required_argument, 0, OPT_NODE_TOKEN},
        {"cpus", required_argument, 0, OPT_CPUS},
        {"mem", required_argument, 0, OPT_MEM},
        {"log-root", required_argument, 0, OPT_LOG_ROOT},
        {"no-keepers", no_argument, 0, OPT_NO_KEEPERS},
        {"abandon-ms", required_argument, 0, OPT_ABANDON_MS},
        CL_FLAGS_HELP,
        {0, 0, 0, 0}};
    *o = (ag_opts_t){.health = {.at_start = AG_CHECK_QUICK, .poll_ms = 5000},
                     .rank_log_mib = AG_RANKLOG_MAX_DEFAULT >> 20};
    cl_flags_t f = {.cmd = "agent", .shorts = "h", .longs = longs, .usage = usage};
    int c;
    while ((c = cl_flags_next(&f, argc, argv)) != -1) {
        if (c == CL_FLAGS_DONE) return f.exit ? f.exit : -1;
        if (parse_opt(c, o) < 0) return 2;
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    if (!o->controller || (!o->keyfile && !o->node_token) || !o->name || !o->work) {
        fprintf(stderr, "colossus agent: --controller, --node-token (or --key), --name and "
                        "--work-dir are required\n");
        usage(stderr);
        return 2;
    }
    if (o->keyfile && o->node_token) {
        fprintf(stderr, "colossus agent: give --node-token or --key, not both\n");
        return 2;
    }
    if (o->hollow && !o->fake_gpus) {
        fprintf(stderr,
                "colossus agent: --hollow needs --fake-gpus N (the GPUs of each node)\n");
        return 2;
    }
    if (!o->name[0] || strlen(o->name) > CL_SESSION_NAME_MAX || strchr(o->name, ',')) {
        fprintf(stderr, "colossus agent: --name must be 1..%d characters without commas\n",
                CL_SESSION_NAME_MAX);
        return 2;
    }
    cl_error_t err;
    if (strlen(o->controller) > 255 || cl_addr_list_check(o->controller, &err) < 0) {
        if (strlen(o->controller) > 255) cl_err(&err, "longer than 255 bytes");
        fprintf(stderr, "colossus agent: --controller: %s\n", err.msg);
        return 2;
    }
    return 0;
}
