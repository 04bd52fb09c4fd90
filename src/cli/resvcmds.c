/* resvcmds.c - `colossus reserve`, `reserve list`, `reserve delete`: node reservations,
 * maintenance windows and dedicated capacity (issue 15, docs/reservations.md). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/json.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "cli/text.h"
#include "util/hostlist.h"
#include "util/util.h"
#include "util/when.h"

enum {
    OPT_NODES = CL_CLI_OPT_FIRST,
    OPT_POD,
    OPT_START,
    OPT_DURATION,
    OPT_TENANT,
    OPT_NAME,
};

static void usage_reserve(FILE *f)
{
    fprintf(f,
            "usage: colossus reserve (--nodes HOSTLIST | --pod POD) --start T --duration D\n"
            "                        [--tenant T] [--name N] [OPTIONS]\n"
            "       colossus reserve list [--json]\n"
            "       colossus reserve delete NAME|ID\n"
            "Reserve nodes for a window (Slurm's scontrol create reservation): without\n"
            "--tenant a maintenance window, no job runs on them during it; with one, only\n"
            "that tenant's jobs (and its sub-tenants') do. Before the window, a job does not\n"
            "start on them if its time limit would run into it; a job without a time limit\n"
            "always would. Running jobs are left alone. Operators and admins only.\n"
            "  --nodes HOSTLIST        the nodes, a Slurm hostlist (node[000-063])\n"
            "  --pod POD               or every node of a pod (colossus nodes shows them)\n"
            "  --start T               now, +DURATION (+1h, +30m), or a UTC time\n"
            "                          (2026-12-24, 2026-12-24T06:00, ...Z or +02:00)\n"
            "  --duration D            how long: 2h, 90m, 1d12h, 3600s (more than 0)\n"
            "  --tenant T              dedicated to tenant T (default: maintenance)\n"
            "  --name N                its name (default: resvID)\n"
            "Example: colossus reserve --nodes 'node[000-063]' --start +1h --duration 4h\n");
    cl_cli_usage_change(f, "reserved");
}

static void usage_list(FILE *f)
{
    fprintf(f, "usage: colossus reserve list [OPTIONS]\n"
               "The node reservations: name, id, state (waiting, active), window, tenant\n"
               "(- for maintenance), nodes.\n"
               "  --json                  a JSON array (docs/api/README.md, reservation)\n");
    cl_cli_usage_common(f);
}

static void usage_delete(FILE *f)
{
    fprintf(f, "usage: colossus reserve delete NAME|ID [OPTIONS]\n"
               "Delete a reservation: its nodes take any job again. Operators and admins "
               "only.\n");
    cl_cli_usage_change(f, "deleted");
}

/* now, +DURATION, now+DURATION, or a time as when.h reads it (a bare duration there means
 * "ago", which no reservation wants: refused below as in the past). */
static int parse_start(const char *s, double now, double *out, cl_error_t *err)
{
    const char *d = s[0] == '+' ? s + 1 : !strncmp(s, "now+", 4) ? s + 4 : NULL;
    if (d) {
        double dur;
        if (cl_parse_duration(d, &dur, err) < 0) return -1;
        *out = now + dur;
        return 0;
    }
    return cl_parse_time(s, now, out, err);
}

static int reserve_create(int argc, char **argv)
{
    static const struct option opts[] = {{"nodes", required_argument, 0, OPT_NODES},
                                         {"pod", required_argument, 0, OPT_POD},
                                         {"start", required_argument, 0, OPT_START},
                                         {"duration", required_argument, 0, OPT_DURATION},
                                         {"tenant", required_argument, 0, OPT_TENANT},
                                         {"name", required_argument, 0, OPT_NAME},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    const char *cmd = "reserve";
    cl_cli_t c = {.cmd = cmd};
    cl_flags_t f = {.cmd = cmd, .shorts = "h", .longs = opts, .usage = usage_reserve};
    Colossus__ReserveReq q = COLOSSUS__RESERVE_REQ__INIT;
    const char *start = NULL;
    bool has_dur = false;
    cl_error_t err;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        switch (o) {
        case OPT_NODES:
            if (cl_hostlist_check(optarg, &err) < 0)
                return cl_flags_fail(&f, "--nodes: %s", err.msg);
            q.nodes = optarg;
            break;
        case OPT_POD:
            if (cl_arg_name(cmd, "--pod", optarg, NULL, false) < 0) return 2;
            q.pod = optarg;
            break;
        case OPT_START:
            start = optarg;
            break;
        case OPT_DURATION:
            if (optarg[0] == '-' || cl_parse_duration(optarg, &q.duration_s, &err) < 0)
                return cl_flags_fail(&f,
                                     "--duration must be a positive duration (2h, 90m, "
                                     "3600s), not '%s'",
                                     optarg);
            if (!(q.duration_s > 0)) return cl_flags_fail(&f, "--duration must be more than 0");
            has_dur = true;
            break;
        case OPT_TENANT:
            if (cl_arg_name(cmd, "--tenant", optarg, NULL, false) < 0) return 2;
            q.tenant = optarg;
            break;
        case OPT_NAME:
            if (cl_arg_name(cmd, "--name", optarg, NULL, false) < 0) return 2;
            q.name = optarg;
            break;
        default:
            cl_cli_common_opt(&c, o);
        }
    }
    if (cl_flags_args(&f, argc, argv, 0, 0, NULL) < 0) return 2;
    if (!q.nodes[0] == !q.pod[0])
        return cl_flags_fail(&f, "give --nodes HOSTLIST or --pod POD");
    if (!start) return cl_flags_fail(&f, "--start is required (now, +1h, 2026-12-24T06:00)");
    if (!has_dur) return cl_flags_fail(&f, "--duration is required (2h, 90m, 3600s)");
    double now = cl_wall_s();
    if (parse_start(start, now, &q.start, &err) < 0)
        return cl_flags_fail(&f, "--start: %s", err.msg);
    if (!strcmp(start, "now")) q.start = now;
    if (q.start < now - 60)
        return cl_flags_fail(&f,
                             "--start '%s' is in the past: a new reservation starts now or "
                             "later",
                             start);
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_RESERVE;
    r.reserve = &q;
    return cl_cli_change(&c, &r, 30000,
                         "the reservation may or may not have been made (check with "
                         "'colossus reserve list')");
}

static void fmt_t(double t, char *buf, size_t len)
{
    cl_cli_fmt_local(t, buf, len);
}

static void print_list(const Colossus__Response *rs)
{
    printf("%-16s %-6s %-8s %-20s %-20s %-12s %-6s %s\n", "NAME", "ID", "STATE", "START", "END",
           "TENANT", "NODES", "NODELIST");
    for (size_t i = 0; i < rs->n_reservations; i++) {
        const Colossus__ReservationInfo *x = rs->reservations[i];
        char a[40], b[40];
        fmt_t(x->start, a, sizeof a);
        fmt_t(x->end, b, sizeof b);
        cl_text_cell(stdout, x->name, 16);
        printf(" %-6llu %-8s %-20s %-20s ", (unsigned long long)x->id, x->state, a, b);
        cl_text_cell(stdout, x->tenant[0] ? x->tenant : "-", 12);
        printf(" %-6u ", x->nnodes);
        cl_text_put(stdout, x->nodes);
        putchar('\n');
    }
}

static json_t *list_json(const Colossus__Response *rs)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rs->n_reservations; i++)
        json_array_append_new(a, cl_json_reservation(rs->reservations[i]));
    return a;
}

static int reserve_list(int argc, char **argv)
{
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_RESERVATIONS;
    r.reservations = true;
    return cl_cli_list("reserve list", argc, argv, usage_list, &r, list_json, print_list);
}

static int reserve_delete(int argc, char **argv)
{
    const char *cmd = "reserve delete";
    static const struct option opts[] = {CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = cmd};
    cl_flags_t f = {.cmd = cmd, .shorts = "h", .longs = opts, .usage = usage_delete};
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        cl_cli_common_opt(&c, o);
    }
    if (cl_flags_args(&f, argc, argv, 1, 1, "NAME|ID") < 0) return 2;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_RESERVE_DELETE;
    r.reserve_delete = argv[optind];
    return cl_cli_change(&c, &r, 30000,
                         "the reservation may or may not have been deleted (check with "
                         "'colossus reserve list')");
}

int cmd_reserve(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "list")) return reserve_list(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "delete")) return reserve_delete(argc - 1, argv + 1);
    return reserve_create(argc, argv);
}
