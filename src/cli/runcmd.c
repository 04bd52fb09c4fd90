/* runcmd.c - colossus run, as srun for a new job: submit it (submit's options and batch
 * script directives), print what its ranks write as they write it (as logs -f), cancel it on
 * Ctrl-C, and exit with the job's exit code. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/clictx.h"
#include "cli/submit.h"
#include "util/util.h"

static void usage_run(FILE *f)
{
    fprintf(f, "usage: colossus run [OPTIONS] [--] CMD ARGS...\n"
               "       colossus run [OPTIONS] SCRIPT [ARGS...]\n"
               "Run a gang job as srun does: queue it with submit's options (a SCRIPT's\n"
               "#COLOSSUS and #SBATCH lines too), print what its ranks write while it runs\n"
               "(with several ranks, each one's new output under '==> rank N <=='), and exit\n"
               "with its exit code. Ctrl-C cancels the job and waits for it to end; a second\n"
               "Ctrl-C leaves at once. The job's id goes to stderr.\n");
    cl_submit_usage_options(f);
    cl_cli_usage_common(f);
    fprintf(f, "Exit status: the job's exit code when it failed (1 when it has none, as after\n"
               "a time limit or a node failure), 0 when it succeeded, 130 when Ctrl-C\n"
               "cancelled it, 1 when it was cancelled otherwise or not queued, 2 bad usage.\n"
               "Example: colossus run -N 2 --gpus-per-node 8 -- python3 train.py\n");
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    if (interrupted < 2) interrupted++;
}

int cmd_run(int argc, char **argv)
{
    cl_cli_t c = {.cmd = "run"};
    uint64_t id;
    int rc = cl_submit_send(&c, argc, argv, usage_run, &id);
    if (rc) return rc < 0 ? 0 : rc;
    fprintf(stderr, "colossus run: job %llu\n", (unsigned long long)id);
    /* No SA_RESTART: a Ctrl-C cuts the wait between polls short. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cl_follow_t fw = {.interrupted = &interrupted, .exit_code = -1};
    rc = cl_cli_follow(&c, id, false, 0, &fw);
    cl_cli_close(&c);
    if (interrupted >= 2) {
        fprintf(stderr, "colossus run: left job %llu%s\n", (unsigned long long)id,
                fw.cancelled ? " (cancelled)" : "");
        return 130;
    }
    if (rc < 0) return c.status ? c.status : 1;
    if (!strcmp(fw.state, "succeeded")) return 0;
    if (!strcmp(fw.state, "cancelled")) return fw.cancelled ? 130 : 1;
    fprintf(stderr, "colossus run: job %llu %s%s", (unsigned long long)id, fw.state,
            fw.reason[0] ? ": " : "");
    cl_text_put(stderr, fw.reason);
    fputc('\n', stderr);
    return fw.exit_code > 0 && fw.exit_code < 256 ? fw.exit_code : 1;
}
