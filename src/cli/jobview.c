/* jobview.c - the job views: `jobs` (a table, or a JSON array) and `show` (one job's fields,
 * or its JSON object); the JSON is the API's rendering (api/json.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "util/hostlist.h"
#include "util/util.h"

static void usage_jobs(FILE *f)
{
    fprintf(f, "usage: colossus jobs [OPTIONS]\n"
               "List the pending and running jobs, with why a pending one waits (as squeue).\n"
               "  --all                   finished jobs too (those the controller keeps)\n"
               "  --state S[,S...]        only jobs in these states (pending, running,\n"
               "                          succeeded, failed, cancelled; a finished one\n"
               "                          implies --all)\n"
               "  --tenant T              only the jobs of tenant T\n"
               "  --user U                only the jobs of user U\n"
               "  --name NAME             only the jobs named NAME\n"
               "  -j, --jobs ID[_T]       only job ID, or every task of array ID; ID_T: task\n"
               "                          T of array ID (as squeue -j)\n"
               "  --json                  a JSON array of jobs (docs/api/README.md)\n"
               "Columns: GPUS is the job's total; ELAPSED its current run's time\n"
               "([D-]HH:MM:SS); ALLOCATION its nodes as a hostlist.\n"
               "Example: colossus jobs --state running --user alice\n");
    cl_cli_usage_common(f);
}

enum { OPT_STATE = CL_CLI_OPT_FIRST, OPT_TENANT, OPT_USER, OPT_NAME };

/* What `jobs` shows: the filters, each NULL or 0 when not given. */
typedef struct job_filter {
    uint32_t states; /* bits of cl_job_state_t */
    const char *tenant, *user, *name;
    uint64_t job; /* -j: 0 any; else that job or array */
    int64_t task; /* -j ID_T: T; -1 none */
} job_filter_t;

static const char *const job_states[] = {"pending", "running", "succeeded", "failed",
                                         "cancelled"}; /* by cl_job_state_t */

static int job_state_of(const char *s)
{
    for (int k = CL_JOB_PENDING; k <= CL_JOB_CANCELLED; k++)
        if (!strcmp(s, job_states[k])) return k;
    return -1;
}

static bool job_shown(const job_filter_t *w, const Colossus__JobInfo *j)
{
    int k = job_state_of(j->state);
    if (w->states && (k < 0 || !(w->states & (1u << k)))) return false;
    if (w->tenant && strcmp(j->tenant, w->tenant)) return false;
    if (w->user && strcmp(j->user, w->user)) return false;
    if (w->job && w->task >= 0 &&
        (j->array_job_id != w->job || j->array_task_id != (uint64_t)w->task))
        return false;
    if (w->job && w->task < 0 && j->id != w->job && j->array_job_id != w->job) return false;
    return !w->name || !strcmp(j->name, w->name);
}

/* A duration as Slurm's squeue prints it: [D-]HH:MM:SS. */
static void fmt_elapsed(double s, char *b, size_t len)
{
    if (!(s >= 0)) s = 0;
    unsigned long long t = (unsigned long long)s, d = t / 86400;
    if (d)
        snprintf(b, len, "%llu-%02llu:%02llu:%02llu", d, t / 3600 % 24, t / 60 % 60, t % 60);
    else
        snprintf(b, len, "%02llu:%02llu:%02llu", t / 3600, t / 60 % 60, t % 60);
}

static void usage_show(FILE *f)
{
    fprintf(f, "usage: colossus show [OPTIONS] JOB\n"
               "Show one job, finished or not: its user, why it waits (pending), the\n"
               "GPU-hours and energy its runs used so far, and its runs: each incarnation's\n"
               "start, end, how it ended and why, and nodes (as `history --job JOB`).\n"
               "  --json                  the job as a JSON object (docs/api/README.md)\n");
    cl_cli_usage_common(f);
}

/* "label:        value\n" with the value escaped. */
static void field(const char *label, const char *value)
{
    printf("%-14s", label);
    cl_text_put(stdout, value);
    putchar('\n');
}

static void print_job(const Colossus__JobInfo *j)
{
    char t1[32], t2[32], t3[32], t4[32];
    cl_cli_fmt_local(j->submit_time, t1, sizeof t1);
    cl_cli_fmt_local(j->start_time, t2, sizeof t2);
    cl_cli_fmt_local(j->end_time, t3, sizeof t3);
    cl_cli_fmt_local(j->running_time, t4, sizeof t4);
    printf("id:           %llu\n", (unsigned long long)j->id);
    if (j->array_job_id)
        printf("array task:   %llu_%u (of --array %s)\n", (unsigned long long)j->array_job_id,
               j->array_task_id, j->array);
    if (j->array_tasks)
        printf("array:        %u tasks: %u pending, %u running, %u ended\n",
               j->array_tasks->pending + j->array_tasks->running + j->array_tasks->ended,
               j->array_tasks->pending, j->array_tasks->running, j->array_tasks->ended);
    field("name:", j->name);
    field("state:", j->state);
    if (j->ended[0] && strcmp(j->ended, j->state)) field("ended:", j->ended); /* timeout... */
    field("tenant:", j->tenant);
    field("user:", j->user[0] ? j->user : "-");
    printf("priority:     %d\nshape:        %u nodes x %u GPUs", j->priority, j->nnodes,
           j->gpus_per_node);
    if (j->ntasks_per_node && j->ntasks_per_node != j->gpus_per_node)
        printf(", %u task%s a node", j->ntasks_per_node, j->ntasks_per_node > 1 ? "s" : "");
    if (j->cpus_per_gpu || j->mem_per_gpu_mb) {
        printf("\nper GPU:      ");
        if (j->cpus_per_gpu)
            printf("%u CPUs%s", j->cpus_per_gpu, j->mem_per_gpu_mb ? ", " : "");
        if (j->mem_per_gpu_mb) printf("%llu MB", (unsigned long long)j->mem_per_gpu_mb);
        printf(" (--cpus-per-gpu, --mem-per-gpu: placed and enforced)");
    }
    printf("\nnodes:        ");
    cl_text_list(stdout, j->nodes, j->n_nodes);
    printf("\nrestarts:     %u (max %u)\nincarnation:  %u\n", j->restarts, j->max_restarts,
           j->incarnation);
    if (j->has_exit_code) printf("exit code:    %d\n", j->exit_code);
    if (j->time_limit_s > 0) printf("time limit:   %g min\n", j->time_limit_s / 60);
    if (j->cwd[0]) field(j->cwd_strict ? "chdir:" : "workdir:", j->cwd);
    if (j->output[0]) field("output:", j->output);
    if (j->error[0]) field("error:", j->error);
    if (j->dependency[0]) field("dependency:", j->dependency);
    if (j->held) field("held:", "yes (colossus release lets it start)");
    if (j->exclusive) field("exclusive:", "yes (no other job on its nodes)");
    if (j->nodelist[0]) field("nodelist:", j->nodelist);
    if (j->exclude[0]) field("exclude:", j->exclude);
    if (j->reason[0]) field("reason:", j->reason);
    if (!strcmp(j->state, "pending") && j->pending_reason[0])
        field("why pending:", j->pending_reason);
    printf("usage:        %.2f GPU-hours", j->gpu_seconds / 3600);
    if (j->energy_j > 0) printf(", %.3f kWh", j->energy_j / 3.6e6);
    printf(" so far\n");
    if (j->power_w > 0) {
        printf("power:        %.0f W per GPU projected", j->power_w);
        if (j->power_measured_w > 0) printf(" (its measured mean)");
        printf("\n");
    }
    printf("submitted:    %s\nstarted:      %s (placed; ranks running: %s)\n"
           "ended:        %s\ncommand:     ",
           t1, t2, t4, t3);
    for (size_t i = 0; i < j->n_argv; i++) {
        putchar(' ');
        cl_text_put(stdout, j->argv[i]);
    }
    putchar('\n');
}

static void print_table(const Colossus__Response *rs)
{
    printf("%-8s %-20s %-12s %-13s %-6s %-6s %-11s %-8s %s\n", "ID", "NAME", "USER", "STATE",
           "NODES", "GPUS", "ELAPSED", "RESTARTS", "ALLOCATION (REASON)");
    double now = cl_wall_s();
    for (size_t i = 0; i < rs->n_jobs; i++) {
        const Colossus__JobInfo *j = rs->jobs[i];
        char id[48];
        if (j->array_job_id) /* a task as squeue shows it: ARRAY_TASK */
            snprintf(id, sizeof id, "%llu_%u", (unsigned long long)j->array_job_id,
                     j->array_task_id);
        else
            snprintf(id, sizeof id, "%llu", (unsigned long long)j->id);
        printf("%-8s ", id);
        cl_text_cell(stdout, j->name, 20);
        putchar(' ');
        cl_text_cell(stdout, j->user[0] ? j->user : "-", 12);
        putchar(' ');
        /* a finished job's distinct end (timeout, node_fail), as squeue/sacct show it */
        cl_text_cell(stdout, j->ended[0] ? j->ended : j->state, 13); /* out_of_memory */
        char el[32] = "-";
        if (j->start_time > 0)
            fmt_elapsed((j->end_time > 0 ? j->end_time : now) - j->start_time, el, sizeof el);
        printf(" %-6u %-6llu %-11s %-8u ", j->nnodes,
               (unsigned long long)j->nnodes * j->gpus_per_node, el, j->restarts);
        /* as squeue's NODELIST(REASON): where it runs, or why it waits */
        if (!strcmp(j->state, "pending") && j->pending_reason[0]) {
            putchar('(');
            cl_text_put(stdout, j->pending_reason);
            putchar(')');
        } else {
            char *h = cl_hostlist_compress((const char *const *)j->nodes, j->n_nodes);
            cl_text_put(stdout, h);
            free(h);
        }
        putchar('\n');
    }
}

static json_t *jobs_json(const Colossus__Response *rs)
{
    return cl_json_jobs(rs->jobs, rs->n_jobs);
}

/* -j ID or ID_T: 1, or -1 (said). */
static int jobs_ref(const cl_flags_t *f, const char *v, job_filter_t *w)
{
    const char *us = strchr(v, '_');
    char head[24];
    size_t n = us ? (size_t)(us - v) : strlen(v);
    uint64_t t = 0;
    w->task = -1;
    if (n && n < sizeof head) {
        memcpy(head, v, n);
        head[n] = 0;
        if (cl_parse_u64(head, 1, UINT64_MAX, &w->job) == 0 &&
            (!us || cl_parse_u64(us + 1, 0, UINT32_MAX, &t) == 0)) {
            if (us) w->task = (int64_t)t;
            return 1;
        }
    }
    fprintf(stderr, "colossus %s: -j '%s' is not a job (ID, or ARRAY_TASK as 12_7)\n", f->cmd,
            v);
    return -1;
}

/* jobs' own options: its filters */
static int jobs_opt(void *arg, const cl_flags_t *f, int o)
{
    job_filter_t *w = arg;
    if (o == OPT_STATE)
        return cl_cli_name_bits(f, "--state", optarg, "job state", job_states, 5, &w->states)
                   ? -1
                   : 1;
    if (o == OPT_TENANT)
        w->tenant = optarg;
    else if (o == OPT_USER)
        w->user = optarg;
    else if (o == OPT_NAME)
        w->name = optarg;
    else if (o == 'j')
        return jobs_ref(f, optarg, w);
    else
        return 0;
    return 1;
}

int cmd_jobs(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT,
                                         CL_CLI_ALL_OPT,
                                         {"state", required_argument, 0, OPT_STATE},
                                         {"tenant", required_argument, 0, OPT_TENANT},
                                         {"user", required_argument, 0, OPT_USER},
                                         {"name", required_argument, 0, OPT_NAME},
                                         {"jobs", required_argument, 0, 'j'},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "jobs"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "hj:", .longs = opts, .usage = usage_jobs};
    bool json = false, all = false;
    job_filter_t w = {.task = -1};
    int rc;
    if (cl_cli_view_flags_own(&c, &f, argc, argv, 0, NULL, &json, &all, &rc, jobs_opt, &w) < 0)
        return rc;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_JOBS_ALL;
    r.jobs_all = all || (w.states & ~((1u << CL_JOB_PENDING) | (1u << CL_JOB_RUNNING)));
    Colossus__Msg *m = cl_cli_ask(&c, &r, 30000);
    if (!m) return c.status;
    Colossus__Response view = *m->response; /* the jobs shown; the message frees them all */
    view.jobs = cl_xcalloc(m->response->n_jobs + 1, sizeof *view.jobs);
    view.n_jobs = 0;
    for (size_t i = 0; i < m->response->n_jobs; i++)
        if (job_shown(&w, m->response->jobs[i]))
            view.jobs[view.n_jobs++] = m->response->jobs[i];
    rc = 0;
    if (json)
        rc = cl_cli_json_out(&c, jobs_json(&view));
    else
        print_table(&view);
    free(view.jobs);
    cl_msg_free(m);
    return rc;
}

static int by_incarnation(const void *a, const void *b)
{
    const Colossus__UsageRecord *x = *(Colossus__UsageRecord *const *)a,
                                *y = *(Colossus__UsageRecord *const *)b;
    return (x->incarnation > y->incarnation) - (x->incarnation < y->incarnation);
}

static void run_line(uint32_t inc, double start, double end, const char *ended,
                     const char *const *nodes, size_t n, const char *reason)
{
    char t0[32], t1[32];
    cl_cli_fmt_local(start, t0, sizeof t0);
    if (end > 0)
        cl_cli_fmt_local(end, t1, sizeof t1);
    else
        snprintf(t1, sizeof t1, "-");
    printf("  %-4u %-20s %-20s ", inc, t0, t1);
    cl_text_cell(stdout, ended, 13);
    putchar(' ');
    cl_text_list(stdout, (char **)nodes, n);
    if (reason && reason[0]) {
        fputs(" (", stdout);
        cl_text_put(stdout, reason);
        putchar(')');
    }
    putchar('\n');
}

/* The job's runs, oldest first, from its usage records (the journal's history); the current
 * run, or the last one whose record waits for its nodes' reports, from the job itself. A
 * controller that cannot answer leaves the list out. */
static void print_runs(cl_cli_t *c, const Colossus__JobInfo *j)
{
    if (!j->incarnation) return;
    Colossus__HistoryReq h = COLOSSUS__HISTORY_REQ__INIT;
    h.job = j->id;
    h.since = j->submit_time > 1 ? j->submit_time - 1 : 0;
    h.limit = 100000;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_HISTORY;
    r.history = &h;
    cl_error_t err;
    Colossus__Msg *m = c->conn ? cl_client_call(c->conn, &r, 30000, &err) : NULL;
    const Colossus__Response *rs = m && m->response->ok ? m->response : NULL;
    size_t n = rs ? rs->n_history : 0;
    if (n) qsort(rs->history, n, sizeof *rs->history, by_incarnation);
    printf("runs:\n  %-4s %-20s %-20s %-13s %s\n", "INC", "START", "END", "ENDED",
           "NODES (REASON)");
    bool last = false;
    for (size_t i = 0; i < n; i++) {
        const Colossus__UsageRecord *u = rs->history[i];
        run_line(u->incarnation, u->start, u->end, u->ended, (const char *const *)u->nodes,
                 u->n_nodes, u->reason);
        last |= u->incarnation == j->incarnation;
    }
    if (!last) { /* running, or its record is not journaled yet */
        bool run = !strcmp(j->state, "running");
        run_line(j->incarnation, j->start_time, run ? 0 : j->end_time,
                 run ? "running" : j->state, (const char *const *)j->nodes, j->n_nodes,
                 run ? "" : j->reason);
    }
    if (n && rs->history[0]->start > 0 && rs->history[0]->start < j->start_time) {
        char t[32];
        cl_cli_fmt_local(rs->history[0]->start, t, sizeof t);
        printf("first start:  %s (incarnation %u)\n", t, rs->history[0]->incarnation);
    }
    cl_msg_free(m);
}

int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT, CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "show"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_show};
    bool json = false;
    int status;
    uint64_t id;
    if (cl_cli_view_flags(&c, &f, argc, argv, 1, "JOB (a job id)", &json, NULL, &status) < 0)
        return status;
    bool task;
    status = cl_cli_job_ref(&c, argv[optind], &id, &task);
    if (status) return status;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_SHOW;
    r.show = id;
    if (cl_cli_connect(&c) < 0) return c.status;
    Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
    Colossus__JobInfo *j = m ? cl_cli_one_job(&c, m) : NULL;
    int rc = j ? 0 : m ? 1 : c.status;
    if (j && json) {
        rc = cl_cli_json_out(&c, cl_json_job(j));
    } else if (j) {
        print_job(j);
        print_runs(&c, j);
    }
    cl_msg_free(m);
    cl_cli_close(&c);
    return rc;
}
