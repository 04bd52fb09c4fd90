/* nodecmds.c - the node subcommands: nodes (a table with health columns, or the API's JSON),
 * drain, resume, node remove. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "api/jw.h"
#include "cli/args.h"
#include "cli/clictx.h"
#include "gpu/nvml.h"
#include "util/hostlist.h"
#include "util/util.h"

enum { OPT_REASON = CL_CLI_OPT_FIRST, OPT_CHECK, OPT_SUMMARY, OPT_STATE, OPT_POD, OPT_NODES };

static void usage_nodes(FILE *f)
{
    fprintf(f, "usage: colossus nodes [OPTIONS]\n"
               "List the nodes with their state, GPUs, health and jobs.\n"
               "  --json                  a JSON array of nodes (docs/api/README.md)\n"
               "  --summary               counts by state and reason, with their nodes as a\n"
               "                          hostlist (as Slurm's sinfo)\n"
               "  --state S[,S...]        only nodes in these states (up, down, draining,\n"
               "                          drained, maintenance)\n"
               "  --reason TEXT           only nodes whose reason contains TEXT\n"
               "  --pod POD               only the nodes of this pod (as `nodes` shows it)\n"
               "  --nodes HOSTLIST        only these nodes ('node[000-063],login1')\n"
               "Example: colossus nodes --summary --state down,drained\n");
    cl_cli_usage_common(f);
}

/* What `nodes` shows: the filters, each empty when not given. */
typedef struct node_filter {
    uint32_t states; /* bits of cl_node_state_t; 0: every state */
    const char *reason, *pod, *hosts;
} node_filter_t;

static const char *const node_states[] = {"up", "down", "draining", "drained",
                                          "maintenance"}; /* by cl_node_state_t */

static bool shown(const node_filter_t *w, const Colossus__NodeInfo *n)
{
    if (w->states) {
        int s = 0;
        while (s < 5 && strcmp(n->state, node_states[s]))
            s++;
        if (s == 5 || !(w->states & (1u << s))) return false;
    }
    if (w->reason && !strstr(n->reason ? n->reason : "", w->reason)) return false;
    if (w->pod && strcmp(n->pod ? n->pod : "", w->pod)) return false;
    return !w->hosts || cl_hostlist_match(w->hosts, n->name);
}

/* The table's health columns: HEALTH, TEMP_C (hottest GPU), POWER_W (sum), ECC (corrected/
 * uncorrected, summed over the GPUs); "-" where the node does not say. */
static const char health_head[] = "HEALTH          TEMP_C POWER_W ECC_C/U";

static void health_cols(const Colossus__NodeInfo *n)
{
    const char *h = n->health && n->health[0] ? n->health : "-";
    if (!strcmp(h, "none")) h = "ok";
    const Colossus__NodeHealth *t = n->telemetry;
    char temp[16] = "-", power[16] = "-", ecc[40] = "-";
    uint32_t tmax = 0, pw = 0, seen = 0;
    uint64_t ec = 0, eu = 0;
    for (size_t i = 0; t && i < t->n_gpus; i++) {
        const Colossus__GpuTelemetry *g = t->gpus[i];
        seen |= g->valid;
        if ((g->valid & CL_GPU_F_TEMP) && g->temp_c > tmax) tmax = g->temp_c;
        if (g->valid & CL_GPU_F_POWER) pw += g->power_mw;
        if (g->valid & CL_GPU_F_ECC) {
            ec += g->ecc_corrected;
            eu += g->ecc_uncorrected;
        }
    }
    if (seen & CL_GPU_F_TEMP) snprintf(temp, sizeof temp, "%u", tmax);
    if (seen & CL_GPU_F_POWER) snprintf(power, sizeof power, "%.0f", pw / 1000.0);
    if (seen & CL_GPU_F_ECC)
        snprintf(ecc, sizeof ecc, "%llu/%llu", (unsigned long long)ec, (unsigned long long)eu);
    cl_text_cell(stdout, h, 15);
    printf(" %6s %7s %-7s", temp, power, ecc);
}

static void print_table(const Colossus__Response *rs)
{
    Colossus__NodeInfo *const *v = rs->nodes;
    size_t count = rs->n_nodes;
    printf("%-5s %-20s %-9s %-5s %-5s %-9s %s %s\n", "ID", "NAME", "STATE", "GPUS", "FREE",
           "CONNECTED", health_head, "JOBS / REASON");
    for (size_t i = 0; i < count; i++) {
        const Colossus__NodeInfo *n = v[i];
        printf("%-5u ", n->id);
        cl_text_cell(stdout, n->name, 20);
        putchar(' ');
        cl_text_cell(stdout, n->state, 9);
        printf(" %-5u %-5u %-9s ", n->gpus, n->gpus_free, n->connected ? "yes" : "no");
        health_cols(n);
        for (size_t k = 0; k < n->n_jobs; k++)
            printf("%s%llu", k ? "," : " ", (unsigned long long)n->jobs[k]);
        if (n->reason[0]) {
            fputs(" (", stdout);
            cl_text_put(stdout, n->reason);
            putchar(')');
        }
        putchar('\n');
    }
}

static json_t *nodes_json(const Colossus__Response *rs)
{
    return cl_json_nodes(rs->nodes, rs->n_nodes);
}

/* ---- --summary: nodes by state and reason, as sinfo counts them ---- */

static int by_state_reason(const void *pa, const void *pb)
{
    const Colossus__NodeInfo *a = *(Colossus__NodeInfo *const *)pa;
    const Colossus__NodeInfo *b = *(Colossus__NodeInfo *const *)pb;
    int c = strcmp(a->state, b->state);
    return c ? c : strcmp(a->reason, b->reason);
}

/* One line of the summary (or object of its JSON): v[0..n), one state and reason. */
static json_t *summary_row(Colossus__NodeInfo *const *v, size_t n, bool json)
{
    const char **names = cl_xcalloc(n + 1, sizeof *names);
    uint64_t gpus = 0, free_gpus = 0;
    for (size_t i = 0; i < n; i++) {
        names[i] = v[i]->name;
        gpus += v[i]->gpus;
        free_gpus += v[i]->gpus_free;
    }
    char *hosts = cl_hostlist_compress(names, n);
    free(names);
    json_t *o = NULL;
    if (json) {
        cl_jw_t w; /* the writer's strings: a reason that is not UTF-8 still renders */
        cl_jw_tree(&w);
        cl_jw_obj(&w, NULL);
        cl_jw_str(&w, "state", v[0]->state);
        if (v[0]->reason[0])
            cl_jw_str(&w, "reason", v[0]->reason);
        else
            cl_jw_null(&w, "reason");
        cl_jw_int(&w, "nodes", (int64_t)n);
        cl_jw_int(&w, "gpus", (int64_t)gpus);
        cl_jw_int(&w, "gpus_free", (int64_t)free_gpus);
        cl_jw_str(&w, "nodelist", hosts);
        cl_jw_end(&w);
        o = cl_jw_root(&w);
    } else {
        cl_text_cell(stdout, v[0]->state, 11);
        printf(" %7zu %8llu %8llu  ", n, (unsigned long long)gpus,
               (unsigned long long)free_gpus);
        cl_text_cell(stdout, v[0]->reason[0] ? v[0]->reason : "-", 30);
        putchar(' ');
        cl_text_put(stdout, hosts);
        putchar('\n');
    }
    free(hosts);
    return o;
}

/* The summary of v[0..n) (sorted here); a JSON array when json, else printed. */
static json_t *summary(Colossus__NodeInfo **v, size_t n, bool json)
{
    qsort(v, n, sizeof *v, by_state_reason);
    json_t *a = json ? json_array() : NULL;
    if (!json)
        printf("%-11s %7s %8s %8s  %-30s %s\n", "STATE", "NODES", "GPUS", "FREE", "REASON",
               "NODELIST");
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && !by_state_reason(&v[i], &v[j]))
            j++;
        json_t *row = summary_row(v + i, j - i, json);
        if (a && json_array_append_new(a, row) < 0) cl_oom(0, __FILE__, __LINE__);
        i = j;
    }
    return a;
}

/* nodes' own options: --summary and the filters */
typedef struct nodes_opts {
    node_filter_t w;
    bool sum;
} nodes_opts_t;

static int nodes_opt(void *arg, const cl_flags_t *f, int o)
{
    nodes_opts_t *n = arg;
    cl_error_t err;
    switch (o) {
    case OPT_SUMMARY:
        n->sum = true;
        return 1;
    case OPT_STATE:
        return cl_cli_name_bits(f, "--state", optarg, "node state", node_states, 5,
                                &n->w.states)
                   ? -1
                   : 1;
    case OPT_REASON:
        n->w.reason = optarg;
        return 1;
    case OPT_POD:
        n->w.pod = optarg;
        return 1;
    case OPT_NODES:
        if (cl_hostlist_check(optarg, &err) < 0) {
            cl_flags_fail(f, "--nodes: %s", err.msg);
            return -1;
        }
        n->w.hosts = optarg;
        return 1;
    default:
        return 0;
    }
}

int cmd_nodes(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_JSON_OPT,
                                         {"summary", no_argument, 0, OPT_SUMMARY},
                                         {"state", required_argument, 0, OPT_STATE},
                                         {"reason", required_argument, 0, OPT_REASON},
                                         {"pod", required_argument, 0, OPT_POD},
                                         {"nodes", required_argument, 0, OPT_NODES},
                                         CL_CLI_COMMON_OPTS,
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "nodes"};
    cl_flags_t f = {.cmd = "nodes", .shorts = "h", .longs = opts, .usage = usage_nodes};
    nodes_opts_t no = {0};
    bool json = false;
    int rc;
    if (cl_cli_view_flags_own(&c, &f, argc, argv, 0, NULL, &json, NULL, &rc, nodes_opt, &no) <
        0)
        return rc;
    rc = 0;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    Colossus__Msg *m = cl_cli_ask(&c, &r, 30000);
    if (!m) return c.status;
    /* the nodes shown, in a response of their own (the message keeps and frees them all) */
    Colossus__Response view = *m->response;
    view.nodes = cl_xcalloc(m->response->n_nodes + 1, sizeof *view.nodes);
    view.n_nodes = 0;
    for (size_t i = 0; i < m->response->n_nodes; i++)
        if (shown(&no.w, m->response->nodes[i]))
            view.nodes[view.n_nodes++] = m->response->nodes[i];
    if (no.sum) {
        json_t *a = summary(view.nodes, view.n_nodes, json);
        if (a) rc = cl_cli_json_out(&c, a);
    } else if (json) {
        rc = cl_cli_json_out(&c, nodes_json(&view));
    } else {
        print_table(&view);
    }
    free(view.nodes);
    cl_msg_free(m);
    return rc;
}

static void usage_drain(FILE *f)
{
    fprintf(f, "usage: colossus drain [OPTIONS] NODE|POD|LEAF|HOSTLIST --reason TEXT\n"
               "       colossus drain [OPTIONS] NODE --check [--reason TEXT]\n"
               "Take nodes out of service: running jobs finish, no new job starts there.\n"
               "A pod or leaf (as `nodes` shows them) or a hostlist ('node[000-063]') names\n"
               "every node in it.\n"
               "  --reason TEXT           why, for the next admin (required without --check),\n"
               "                          at most 127 bytes\n"
               "  --check                 once the node is idle, run a full gpu check on it\n");
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: 0 draining, 1 not, 2 bad usage, 3 sent but not acknowledged\n"
               "(see colossus --help).\n");
}

static void usage_resume(FILE *f)
{
    fprintf(f, "usage: colossus resume [OPTIONS] NODE|POD|LEAF|HOSTLIST\n"
               "Return nodes to service (a node its GPU health took out must pass a gpu\n"
               "check first: the controller orders one when it is named alone).\n"
               "Example: colossus resume 'node[000-063]'\n");
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: 0 resumed, 1 not, 2 bad usage, 3 sent but not acknowledged\n"
               "(see colossus --help).\n");
}

static int node_admin(int argc, char **argv, bool drain)
{
    static const struct option drain_opts[] = {{"reason", required_argument, 0, OPT_REASON},
                                               {"check", no_argument, 0, OPT_CHECK},
                                               CL_CLI_COMMON_OPTS,
                                               {0, 0, 0, 0}};
    static const struct option resume_opts[] = {CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = drain ? "drain" : "resume"};
    cl_flags_t f = {.cmd = c.cmd,
                    .shorts = "h",
                    .longs = drain ? drain_opts : resume_opts,
                    .usage = drain ? usage_drain : usage_resume};
    bool check = false;
    const char *reason = NULL;
    int o;
    while ((o = cl_flags_next(&f, argc, argv)) != -1) {
        if (o == CL_FLAGS_DONE) return f.exit;
        if (o == OPT_CHECK)
            check = true;
        else if (o == OPT_REASON)
            reason = optarg;
        else
            cl_cli_common_opt(&c, o);
    }
    if (cl_flags_args(&f, argc, argv, 1, 1, "NODE (a node, a pod, a leaf or a hostlist)") < 0)
        return 2;
    if (drain && !check && (!reason || !reason[0]))
        return cl_flags_fail(&f, "--reason TEXT is required (say why, for the next admin)");
    if (reason && strlen(reason) > CL_CLI_REASON_MAX)
        return cl_flags_fail(&f,
                             "--reason is %zu bytes, longer than the %d the controller keeps",
                             strlen(reason), CL_CLI_REASON_MAX);
    Colossus__NodeAdmin na = COLOSSUS__NODE_ADMIN__INIT;
    na.node = argv[optind];
    na.reason = (char *)(reason ? reason : "");
    na.check = check;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = drain ? COLOSSUS__REQUEST__BODY_DRAIN : COLOSSUS__REQUEST__BODY_RESUME;
    if (drain)
        r.drain = &na;
    else
        r.resume = &na;
    /* A gpu check may run first (full: <= 60 s, the agent gives up at 120 s). */
    return cl_cli_change(&c, &r, 180000,
                         "the node may or may not have been %s (check with 'colossus nodes')",
                         drain ? "drained" : "resumed");
}

int cmd_drain(int argc, char **argv)
{
    return node_admin(argc, argv, true);
}

int cmd_resume(int argc, char **argv)
{
    return node_admin(argc, argv, false);
}

static void usage_remove(FILE *f)
{
    fprintf(f, "usage: colossus node remove [OPTIONS] NAME\n"
               "Forget a node name the controller keeps (admin; not while its agent is\n"
               "connected): a name registered by mistake, or a node gone for good.\n");
    cl_cli_usage_change(f, "removed");
}

static int node_remove(int argc, char **argv)
{
    static const struct option opts[] = {CL_CLI_COMMON_OPTS, {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "node remove"};
    cl_flags_t f = {.cmd = c.cmd, .shorts = "h", .longs = opts, .usage = usage_remove};
    int status;
    if (cl_cli_view_flags(&c, &f, argc, argv, 1, "NAME (a node name)", NULL, NULL, &status) < 0)
        return status;
    /* a node name's rules (Register): no comma, as in a hostlist */
    if (cl_arg_name(c.cmd, "the node name", argv[optind], ",", false) < 0) return 2;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODE_REMOVE;
    r.node_remove = argv[optind];
    return cl_cli_change(&c, &r, 30000,
                         "the node may or may not have been removed (check with 'colossus "
                         "nodes')");
}

int cmd_node(int argc, char **argv)
{
    static const cl_cli_sub_t subs[] = {
        {"remove", node_remove, "forget a node name (admin)"},
    };
    return cl_cli_dispatch("node", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
