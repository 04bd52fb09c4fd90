/* main.c - the colossus binary: one executable, one subcommand per tool (as git and flux). */
#include <stdio.h>
#include <string.h>

#include "cli/cmds.h"

#ifndef CL_VERSION
#define CL_VERSION "0.dev" /* the Makefile sets it from git describe */
#endif

/* Subcommands live in their modules; a module that is not linked in leaves its entry NULL
 * (weak reference), so the binary says so instead of failing to link. */
static const struct cmd {
    const char *name;
    cl_cmd_f *fn;
    const char *help;
} cmds[] = {
    {"up", cmd_up, "start a local cluster (controller + agents on 127.0.0.1)"},
    {"down", cmd_down, "stop the local cluster"},
    {"submit", cmd_submit, "submit a job: colossus submit [-N NODES] ... -- CMD ARGS"},
    {"run", cmd_run, "run a job as srun: its output here, Ctrl-C cancels, its exit code"},
    {"jobs", cmd_jobs, "list jobs"},
    {"show", cmd_show, "show one job"},
    {"cancel", cmd_cancel, "cancel a job"},
    {"hold", cmd_hold, "hold a pending job"},
    {"release", cmd_release, "release a held job"},
    {"requeue", cmd_requeue, "a running or finished job pends again"},
    {"wait", cmd_wait, "wait for a job; exit 0 only if it succeeded"},
    {"logs", cmd_logs, "print a job's rank logs"},
    {"nodes", cmd_nodes, "list nodes with state and health"},
    {"drain", cmd_drain, "drain a node"},
    {"resume", cmd_resume, "return a node to service"},
    {"node", cmd_node, "node remove: forget a node name (admin)"},
    {"upgrade", cmd_upgrade, "roll a new agent build across nodes, keeping their jobs"},
    {"tenants", cmd_tenants, "list tenants with their fair share and usage"},
    {"tenant", cmd_tenant, "tenants: add, set, list, show (quota, cohort, budget)"},
    {"user", cmd_user, "users: add, set, list (tenants, roles, uid/gid, QOS)"},
    {"qos", cmd_qos, "QOS, named limits of jobs: add, set, list"},
    {"token", cmd_token, "tokens: create (printed once), list, revoke"},
    {"node-token", cmd_node_token, "node credentials for agents: create"},
    {"history", cmd_history, "finished runs with GPU-hours and energy (as sacct)"},
    {"usage", cmd_usage, "GPU-hours, energy, FLOPs per tenant, user, day, month"},
    {"audit", cmd_audit, "who changed what, when, with what outcome"},
    {"whoami", cmd_whoami, "who the controller takes you for"},
    {"power", cmd_power, "power: show, budget set, cut, restore (budgets and GPU limits)"},
    {"reserve", cmd_reserve, "reserve nodes for a window; reserve list, reserve delete"},
    {"controller", cmd_controller, "run the controller daemon"},
    {"agent", cmd_agent, "run the node agent daemon"},
    {"relay", cmd_relay, "carry many agents' nodes to the controller over one connection"},
    {"keygen", cmd_keygen, "print a new cluster key"},
    {"gpu", cmd_gpu, "GPU inventory and burn-in checks (list, check)"},
    {"sim", cmd_sim, "simulate a cluster, its failures and its goodput"},
    {"bench", cmd_bench, "benchmarks (bench sched)"},
    {"topo", cmd_topo, "show a topology preset or a Slurm topology.conf"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: colossus COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (cmds[i].fn) fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f,
            "\nRun 'colossus help COMMAND' (or 'colossus COMMAND --help') for a command's\n"
            "options; 'man colossus-COMMAND' where the manual pages are installed (make man).\n"
            "\nExit status of the client commands (all but up, down, controller, agent,\n"
            "keygen, gpu, sim, bench, topo):\n"
            "  0  done\n"
            "  1  not done: the controller answered with an error or refused us (its reason\n"
            "     is printed: a wrong cluster key only when it says so), or it could not be\n"
            "     reached and nothing was sent\n"
            "  2  bad usage\n"
            "  3  a command that changes something (submit, cancel, hold, release, requeue,\n"
            "     drain, resume, node remove, tenant/user/qos add and set, token create and\n"
            "     revoke, node-token create): the request was sent but not acknowledged\n"
            "     (the connection was lost or timed out first): it may or may not have been\n"
            "     carried out; the message says what to check\n"
            "  wait also exits 1 when the job failed or was cancelled, 124 after --timeout.\n");
}

static int run(const char *name, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(name, cmds[i].name)) continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "colossus: '%s' is not built into this binary\n", name);
            return 2;
        }
        return cmds[i].fn(argc, argv);
    }
    fprintf(stderr, "colossus: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}

/* colossus help COMMAND [SUBCOMMAND]: what COMMAND [SUBCOMMAND] --help prints. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return 0;
    }
    if (argc > 4) {
        fprintf(stderr, "colossus help: one command (and its subcommand), not %d words\n",
                argc - 2);
        return 2;
    }
    char *v[4] = {argv[2], argc == 4 ? argv[3] : "--help", "--help", NULL};
    return run(argv[2], argc == 4 ? 3 : 2, v);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("colossus %s\n", CL_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help")) return help(argc, argv);
    return run(argv[1], argc - 1, argv + 1);
}
