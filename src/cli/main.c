/* main.c - the colossus binary: one executable, one subcommand per tool (as git and flux). */
#include <stdio.h>
#include <string.h>

#include "cli/cmds.h"

/* Subcommands live in their modules; a module that is not linked in leaves its entry NULL
 * (weak reference), so the binary says so instead of failing to link. */
#define CMD(name, fn, help) {name, fn, help}
static const struct cmd {
    const char *name;
    cl_cmd_f *fn;
    const char *help;
} cmds[] = {
    CMD("up", cmd_up, "start a local cluster (controller + agents on 127.0.0.1)"),
    CMD("down", cmd_down, "stop the local cluster"),
    CMD("submit", cmd_submit, "submit a job: colossus submit [-N NODES] ... -- CMD ARGS"),
    CMD("jobs", cmd_jobs, "list jobs"),
    CMD("show", cmd_show, "show one job"),
    CMD("cancel", cmd_cancel, "cancel a job"),
    CMD("wait", cmd_wait, "wait for a job; exit 0 only if it succeeded"),
    CMD("logs", cmd_logs, "print a job's rank logs"),
    CMD("nodes", cmd_nodes, "list nodes with state and health"),
    CMD("drain", cmd_drain, "drain a node"),
    CMD("resume", cmd_resume, "return a node to service"),
    CMD("controller", cmd_controller, "run the controller daemon"),
    CMD("agent", cmd_agent, "run the node agent daemon"),
    CMD("keygen", cmd_keygen, "print a new cluster key"),
    CMD("gpu", cmd_gpu, "GPU inventory and burn-in checks (list, check)"),
    CMD("sim", cmd_sim, "simulate a cluster, its failures and its goodput"),
    CMD("bench", cmd_bench, "benchmarks (bench sched)"),
    CMD("topo", cmd_topo, "show a topology preset or a Slurm topology.conf"),
};

static void usage(FILE *f)
{
    fprintf(f, "usage: colossus COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (cmds[i].fn)
            fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nRun 'colossus COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name))
            continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "colossus: '%s' is not built into this binary\n", argv[1]);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "colossus: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
