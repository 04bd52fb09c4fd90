/* jobcmds.c - the job subcommands: submit, jobs, show, cancel, wait, logs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/clictx.h"

enum { OPT_CONTROLLER = 1000, OPT_KEY, OPT_JSON, OPT_ALL, OPT_RANK, OPT_NAME, OPT_TENANT,
       OPT_PRIO, OPT_TLIMIT, OPT_MAXR, OPT_GPN, OPT_TIMEOUT };

#define COMMON_OPTS                                                                            \
    {"controller", required_argument, 0, OPT_CONTROLLER}, {"key", required_argument, 0, OPT_KEY}, \
        {"help", no_argument, 0, 'h'}

static int parse_u32(const char *cmd, const char *opt, const char *s, long lo, long hi,
                     long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "colossus %s: %s must be a number in %ld..%ld, not '%s'\n", cmd, opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int common_opt(cl_cli_t *c, int o)
{
    if (o == OPT_CONTROLLER)
        c->controller_opt = optarg;
    else if (o == OPT_KEY)
        c->key_opt = optarg;
    else
        return -1;
    return 0;
}

int cmd_submit(int argc, char **argv)
{
    static const struct option opts[] = {
        COMMON_OPTS,
        {"nodes", required_argument, 0, 'N'},
        {"gpus-per-node", required_argument, 0, OPT_GPN},
        {"name", required_argument, 0, OPT_NAME},
        {"tenant", required_argument, 0, OPT_TENANT},
        {"priority", required_argument, 0, OPT_PRIO},
        {"time-limit", required_argument, 0, OPT_TLIMIT},
        {"max-restarts", required_argument, 0, OPT_MAXR},
        {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "submit"};
    Colossus__SubmitReq s = COLOSSUS__SUBMIT_REQ__INIT;
    s.nodes = 1;
    s.max_restarts = 3;
    long v;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+N:h", opts, NULL)) != -1) {
        switch (o) {
        case 'N':
            if (parse_u32("submit", "-N", optarg, 1, 1000000, &v) < 0)
                return 2;
            s.nodes = (uint32_t)v;
            break;
        case OPT_GPN:
            if (parse_u32("submit", "--gpus-per-node", optarg, 1, 64, &v) < 0)
                return 2;
            s.gpus_per_node = (uint32_t)v;
            break;
        case OPT_NAME: s.name = optarg; break;
        case OPT_TENANT: s.tenant = optarg; break;
        case OPT_PRIO:
            if (parse_u32("submit", "--priority", optarg, -1000000, 1000000, &v) < 0)
                return 2;
            s.priority = (int32_t)v;
            break;
        case OPT_TLIMIT: {
            char *end;
            double m = strtod(optarg, &end);
            if (*end || end == optarg || !(m > 0) || m > 525600) {
                fprintf(stderr, "colossus submit: --time-limit must be minutes in (0, 525600], "
                                "not '%s'\n", optarg);
                return 2;
            }
            s.time_limit_min = m;
            break;
        }
        case OPT_MAXR:
            if (parse_u32("submit", "--max-restarts", optarg, 0, 1000, &v) < 0)
                return 2;
            s.max_restarts = (uint32_t)v;
            break;
        case 'h':
            printf("usage: colossus submit [-N NODES] [--gpus-per-node G] [--name NAME] "
                   "[--tenant T] [--priority P] [--time-limit MIN] [--max-restarts R] -- CMD "
                   "ARGS...\n");
            return 0;
        default:
            if (common_opt(&c, o) < 0) {
                fprintf(stderr, "usage: colossus submit [options] -- CMD ARGS...\n");
                return 2;
            }
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "colossus submit: no command given (colossus submit [options] -- CMD "
                        "ARGS...)\n");
        return 2;
    }
    s.argv = argv + optind;
    s.n_argv = (size_t)(argc - optind);
    char cwd[4096];
    s.cwd = getcwd(cwd, sizeof cwd) ? cwd : "";
    if (!s.name[0]) {
        const char *b = strrchr(s.argv[0], '/');
        s.name = (char *)(b ? b + 1 : s.argv[0]);
    }
    if (cl_cli_connect(&c) < 0)
        return 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SUBMIT;
    r.submit = &s;
    Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
    cl_cli_close(&c);
    if (!m)
        return 1;
    printf("%llu\n", (unsigned long long)m->response->job);
    cl_msg_free(m);
    return 0;
}

static json_t *time_json(double t)
{
    return t > 0 ? json_real(t) : json_null();
}

static json_t *job_json(const Colossus__JobInfo *j)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < j->n_nodes; i++)
        json_array_append_new(nodes, json_string(j->nodes[i]));
    json_t *av = json_array();
    for (size_t i = 0; i < j->n_argv; i++)
        json_array_append_new(av, json_string(j->argv[i]));
    return json_pack("{s:I, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:s, s:i, s:i, s:i, s:i, "
                     "s:i, s:o, s:s, s:o, s:o}",
                     "id", (json_int_t)j->id, "name", j->name, "state", j->state, "restarts",
                     (int)j->restarts, "nodes", nodes, "exit_code",
                     j->has_exit_code ? json_integer(j->exit_code) : json_null(), "submit_time",
                     time_json(j->submit_time), "start_time", time_json(j->start_time),
                     "end_time", time_json(j->end_time), "tenant", j->tenant, "priority",
                     (int)j->priority, "num_nodes", (int)j->nnodes, "gpus_per_node",
                     (int)j->gpus_per_node, "incarnation", (int)j->incarnation, "max_restarts",
                     (int)j->max_restarts, "argv", av, "reason", j->reason, "time_limit_min",
                     j->time_limit_s > 0 ? json_real(j->time_limit_s / 60) : json_null(),
                     "running_time", time_json(j->running_time));
}

static void fmt_time(double t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void join_nodes(const Colossus__JobInfo *j, char *buf, size_t len)
{
    buf[0] = 0;
    size_t off = 0;
    for (size_t i = 0; i < j->n_nodes && off + 2 < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", j->nodes[i]);
    if (!j->n_nodes)
        snprintf(buf, len, "-");
}

static int show_or_jobs(int argc, char **argv, bool show)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"all", no_argument, 0, OPT_ALL},
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = show ? "show" : "jobs"};
    bool json = false, all = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == OPT_JSON)
            json = true;
        else if (o == OPT_ALL && !show)
            all = true;
        else if (o == 'h') {
            printf(show ? "usage: colossus show JOB [--json]\n"
                        : "usage: colossus jobs [--all] [--json]\n");
            return 0;
        } else if (common_opt(&c, o) < 0) {
            fprintf(stderr, show ? "usage: colossus show JOB [--json]\n"
                                 : "usage: colossus jobs [--all] [--json]\n");
            return 2;
        }
    }
    uint64_t id = 0;
    if (show) {
        if (optind + 1 != argc) {
            fprintf(stderr, "usage: colossus show JOB [--json]\n");
            return 2;
        }
        if (cl_cli_jobid(&c, argv[optind], &id) < 0)
            return 2;
    } else if (optind != argc) {
        fprintf(stderr, "colossus jobs: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cl_cli_connect(&c) < 0)
        return 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    if (show) {
        r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
        r.show = id;
    } else {
        r.body_case = COLOSSUS__REQUEST__BODY_JOBS_ALL;
        r.jobs_all = all;
    }
    Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
    cl_cli_close(&c);
    if (!m)
        return 1;
    Colossus__Response *rs = m->response;
    char nodes[4096], t1[32], t2[32], t3[32], t4[32];
    if (json) {
        json_t *out = show ? job_json(rs->jobs[0]) : json_array();
        if (!show)
            for (size_t i = 0; i < rs->n_jobs; i++)
                json_array_append_new(out, job_json(rs->jobs[i]));
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        putchar('\n');
        json_decref(out);
    } else if (show) {
        Colossus__JobInfo *j = rs->jobs[0];
        join_nodes(j, nodes, sizeof nodes);
        fmt_time(j->submit_time, t1, sizeof t1);
        fmt_time(j->start_time, t2, sizeof t2);
        fmt_time(j->end_time, t3, sizeof t3);
        fmt_time(j->running_time, t4, sizeof t4);
        printf("id:           %llu\nname:         %s\nstate:        %s\ntenant:       %s\n"
               "priority:     %d\nshape:        %u nodes x %u GPUs\nnodes:        %s\n"
               "restarts:     %u (max %u)\nincarnation:  %u\n",
               (unsigned long long)j->id, j->name, j->state, j->tenant, j->priority, j->nnodes,
               j->gpus_per_node, nodes, j->restarts, j->max_restarts, j->incarnation);
        if (j->has_exit_code)
            printf("exit code:    %d\n", j->exit_code);
        if (j->time_limit_s > 0)
            printf("time limit:   %g min\n", j->time_limit_s / 60);
        if (j->reason[0])
            printf("reason:       %s\n", j->reason);
        printf("submitted:    %s\nstarted:      %s (placed; ranks running: %s)\n"
               "ended:        %s\ncommand:     ",
               t1, t2, t4, t3);
        for (size_t i = 0; i < j->n_argv; i++)
            printf(" %s", j->argv[i]);
        putchar('\n');
    } else {
        printf("%-8s %-20s %-10s %-6s %-5s %-8s %s\n", "ID", "NAME", "STATE", "NODES", "GPUS",
               "RESTARTS", "ALLOCATION");
        for (size_t i = 0; i < rs->n_jobs; i++) {
            Colossus__JobInfo *j = rs->jobs[i];
            join_nodes(j, nodes, sizeof nodes);
            printf("%-8llu %-20.20s %-10s %-6u %-5u %-8u %s\n", (unsigned long long)j->id,
                   j->name, j->state, j->nnodes, j->gpus_per_node, j->restarts, nodes);
        }
    }
    cl_msg_free(m);
    return 0;
}

int cmd_jobs(int argc, char **argv)
{
    return show_or_jobs(argc, argv, false);
}

int cmd_show(int argc, char **argv)
{
    return show_or_jobs(argc, argv, true);
}

/* Parse "[common options] JOB" for cancel and wait. */
static int one_job(cl_cli_t *c, int argc, char **argv, const char *usage, uint64_t *id,
                   long *timeout_s)
{
    static const struct option opts[] = {COMMON_OPTS, {"timeout", required_argument, 0, OPT_TIMEOUT},
                                         {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            printf("%s\n", usage);
            return 1;
        }
        if (o == OPT_TIMEOUT && timeout_s) {
            if (parse_u32(c->cmd, "--timeout", optarg, 1, 100000000, timeout_s) < 0)
                return -1;
            continue;
        }
        if (common_opt(c, o) < 0) {
            fprintf(stderr, "%s\n", usage);
            return -1;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s\n", usage);
        return -1;
    }
    return cl_cli_jobid(c, argv[optind], id);
}

int cmd_cancel(int argc, char **argv)
{
    cl_cli_t c = {.cmd = "cancel"};
    uint64_t id;
    int rc = one_job(&c, argc, argv, "usage: colossus cancel JOB", &id, NULL);
    if (rc)
        return rc < 0 ? 2 : 0;
    if (cl_cli_connect(&c) < 0)
        return 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_CANCEL;
    r.cancel = id;
    Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
    cl_cli_close(&c);
    if (!m)
        return 1;
    cl_msg_free(m);
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits across controller restarts: a lost connection is retried until the timeout. */
int cmd_wait(int argc, char **argv)
{
    cl_cli_t c = {.cmd = "wait"};
    uint64_t id;
    long timeout_s = 0;
    int rc = one_job(&c, argc, argv, "usage: colossus wait JOB [--timeout SECONDS]", &id,
                     &timeout_s);
    if (rc)
        return rc < 0 ? 2 : 0;
    double deadline = timeout_s ? mono_s() + (double)timeout_s : 0;
    for (;;) {
        if (cl_cli_connect(&c) == 0) {
            Colossus__Request r = COLOSSUS__REQUEST__INIT;
            r.body_case = COLOSSUS__REQUEST__BODY_WAIT;
            r.wait = id;
            cl_error_t err;
            int left = deadline ? (int)((deadline - mono_s()) * 1000) : -1;
            if (deadline && left <= 0)
                left = 1;
            Colossus__Msg *m = cl_client_call(c.conn, &r, left, &err);
            cl_cli_close(&c);
            if (m) {
                Colossus__Response *rs = m->response;
                if (!rs->ok) {
                    fprintf(stderr, "colossus wait: %s\n", rs->error);
                    cl_msg_free(m);
                    return 1;
                }
                Colossus__JobInfo *j = rs->jobs[0];
                int ok = !strcmp(j->state, "succeeded");
                printf("job %llu %s", (unsigned long long)id, j->state);
                if (j->has_exit_code)
                    printf(" (exit code %d)", j->exit_code);
                if (j->reason[0])
                    printf(": %s", j->reason);
                putchar('\n');
                cl_msg_free(m);
                return ok ? 0 : 1;
            }
            if (strstr(err.msg, "timed out") && deadline && mono_s() >= deadline) {
                fprintf(stderr, "colossus wait: job %llu did not finish within %ld s\n",
                        (unsigned long long)id, timeout_s);
                return 124;
            }
            fprintf(stderr, "colossus wait: %s; retrying\n", err.msg);
        }
        if (deadline && mono_s() >= deadline) {
            fprintf(stderr, "colossus wait: job %llu did not finish within %ld s\n",
                    (unsigned long long)id, timeout_s);
            return 124;
        }
        usleep(500000);
    }
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
    if (!m)
        return -1;
    if (header)
        printf("==> rank %u <==\n", rank);
    fwrite(m->response->data.data, 1, m->response->data.len, stdout);
    cl_msg_free(m);
    return 0;
}

int cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {"rank", required_argument, 0, OPT_RANK},
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "logs"};
    long rank = -1;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (o == 'h') {
            printf("usage: colossus logs JOB [--rank R]\n");
            return 0;
        }
        if (o == OPT_RANK) {
            if (parse_u32("logs", "--rank", optarg, 0, 100000000, &rank) < 0)
                return 2;
        } else if (common_opt(&c, o) < 0) {
            fprintf(stderr, "usage: colossus logs JOB [--rank R]\n");
            return 2;
        }
    }
    uint64_t id;
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: colossus logs JOB [--rank R]\n");
        return 2;
    }
    if (cl_cli_jobid(&c, argv[optind], &id) < 0)
        return 2;
    if (cl_cli_connect(&c) < 0)
        return 1;
    int rc = 0;
    if (rank >= 0) {
        rc = fetch_log(&c, id, (uint32_t)rank, false);
    } else {
        Colossus__Request r = COLOSSUS__REQUEST__INIT;
        r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
        r.show = id;
        Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
        if (!m) {
            cl_cli_close(&c);
            return 1;
        }
        uint32_t world = m->response->jobs[0]->nnodes * m->response->jobs[0]->gpus_per_node;
        cl_msg_free(m);
        for (uint32_t i = 0; i < world && rc == 0; i++)
            rc = fetch_log(&c, id, i, world > 1);
    }
    cl_cli_close(&c);
    return rc ? 1 : 0;
}
