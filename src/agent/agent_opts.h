/* agent_opts.h - `colossus agent`'s command line (agent_opts.c). */
#ifndef COLOSSUS_AGENT_AGENT_OPTS_H
#define COLOSSUS_AGENT_AGENT_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent_health.h"
#include "colossus/core.h" /* CL_MAX_GPUS_PER_NODE */

#define AG_MAX_GPUS CL_MAX_GPUS_PER_NODE /* --fake-gpus, and NVML's that are registered */

/* What the command line asks for. */
typedef struct ag_opts {
    const char *controller, *keyfile, *node_token, *name, *work;
    uint32_t fake_gpus;             /* 0: NVML */
    uint32_t hollow, hollow_run_ms; /* hollow: nodes carried (0: one real node) */
    uint32_t rank_log_mib;          /* a rank log's limit on disk, MiB; 0: none */
    bool allow_root_jobs;           /* run ranks as uid/gid 0 when a Launch asks */
    /* issue 15: what the node offers jobs (Register.cpus, mem_mb); 0: none said (no limit) */
    uint32_t cpus;
    uint64_t mem_mb;
    bool cpus_set, mem_set; /* given: else the machine's (a real agent's), none (hollow) */
    const char *log_root;   /* rank logs in LOG_ROOT/NAME (shared storage); NULL: WORK/logs */
    bool no_keepers;        /* issue 14: ranks are the agent's children (die with it) */
    uint32_t abandon_ms;    /* keeper.h's; 0: its default */
    ag_health_opts_t health;
} ag_opts_t;

/* 0 to run, else the exit status (-1: --help was answered, exit 0; 2 after bad usage). */
int ag_parse_args(int argc, char **argv, ag_opts_t *o);

#endif
