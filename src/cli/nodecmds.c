/* nodecmds.c - the node subcommands: nodes, drain, resume. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/clictx.h"
#include "cli/nodehealth.h"

enum { OPT_CONTROLLER = 1000, OPT_KEY, OPT_JSON, OPT_REASON, OPT_CHECK };

int cmd_nodes(int argc, char **argv)
{
    static const struct option opts[] = {{"controller", required_argument, 0, OPT_CONTROLLER},
                                         {"key", required_argument, 0, OPT_KEY},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cl_cli_t c = {.cmd = "nodes"};
    bool json = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_CONTROLLER: c.controller_opt = optarg; break;
        case OPT_KEY: c.key_opt = optarg; break;
        case OPT_JSON: json = true; break;
        case 'h': printf("usage: colossus nodes [--json]\n"); return 0;
        default: fprintf(stderr, "usage: colossus nodes [--json]\n"); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "colossus nodes: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cl_cli_connect(&c) < 0)
        return 1;
    Colossus__Request r = COLOSSUS__REQUEST__INIT;
    r.body_case = COLOSSUS__REQUEST__BODY_NODES;
    r.nodes = true;
    Colossus__Msg *m = cl_cli_call(&c, &r, 30000);
    cl_cli_close(&c);
    if (!m)
        return 1;
    Colossus__Response *rs = m->response;
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < rs->n_nodes; i++) {
            Colossus__NodeInfo *n = rs->nodes[i];
            json_t *jobs = json_array();
            for (size_t k = 0; k < n->n_jobs; k++)
                json_array_append_new(jobs, json_integer((json_int_t)n->jobs[k]));
            json_t *no = json_pack("{s:i, s:s, s:s, s:i, s:i, s:o, s:s, s:b}", "id", (int)n->id,
                                  "name", n->name, "state", n->state, "gpus", (int)n->gpus,
                                  "gpus_free", (int)n->gpus_free, "jobs", jobs, "reason",
                                  n->reason, "connected", n->connected);
            cl_cli_node_health_json(n, no);
            json_array_append_new(a, no);
        }
        json_dumpf(a, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(a);
    } else {
        printf("%-5s %-20s %-9s %-5s %-5s %-9s %s %s\n", "ID", "NAME", "STATE", "GPUS", "FREE",
               "CONNECTED", cl_cli_node_health_head, "JOBS / REASON");
        for (size_t i = 0; i < rs->n_nodes; i++) {
            Colossus__NodeInfo *n = rs->nodes[i];
            char hc[128];
            cl_cli_node_health_cols(n, hc, sizeof hc);
            printf("%-5u %-20.20s %-9s %-5u %-5u %-9s %s", n->id, n->name, n->state, n->gpus,
                   n->gpus_free, n->connected ? "yes" : "no", hc);
            for (size_t k = 0; k < n->n_jobs; k++)
                printf("%s%llu", k ? "," : " ", (unsigned long long)n->jobs[k]);
            if (n->reason[0])
                printf(" (%s)", n->reason);
            putchar('\n');
        }
    }
    cl_msg_free(m);
    return 0;
}

static int node_admin(int argc, char **argv, bool drain)
{
    static const struct option opts[] = {{"controller", required_argument, 0, OPT_CONTROLLER},
                                         {"key", required_argument, 0, OPT_KEY},
                                         {"reason", required_argument, 0, OPT_REASON},
                                         {"check", no_argument, 0, OPT_CHECK},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *usage = drain ? "usage: colossus drain NODE --reason TEXT\n"
                                "       colossus drain NODE --check [--reason TEXT]   drain, then a "
                                "full gpu check once the node is idle"
                              : "usage: colossus resume NODE   (a node its GPU health took out "
                                "must pass a gpu check first)";
    bool check = false;
    cl_cli_t c = {.cmd = drain ? "drain" : "resume"};
    const char *reason = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_CONTROLLER: c.controller_opt = optarg; break;
        case OPT_KEY: c.key_opt = optarg; break;
        case OPT_REASON:
        case OPT_CHECK:
            if (drain) {
                if (o == OPT_CHECK)
                    check = true;
                else
                    reason = optarg;
                break;
            }
            /* fall through */
        default: fprintf(stderr, "%s\n", usage); return 2;
        case 'h': printf("%s\n", usage); return 0;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "%s\n", usage);
        return 2;
    }
    if (drain && !check && (!reason || !reason[0])) {
        fprintf(stderr, "colossus drain: --reason TEXT is required (say why, for the next admin)\n");
        return 2;
    }
    if (cl_cli_connect(&c) < 0)
        return 1;
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
    Colossus__Msg *m = cl_cli_call(&c, &r, 180000);
    cl_cli_close(&c);
    if (!m)
        return 1;
    if (m->response->data.len)
        printf("%.*s\n", (int)m->response->data.len, (const char *)m->response->data.data);
    cl_msg_free(m);
    return 0;
}

int cmd_drain(int argc, char **argv)
{
    return node_admin(argc, argv, true);
}

int cmd_resume(int argc, char **argv)
{
    return node_admin(argc, argv, false);
}
