/* iopat.h - the file name patterns of --output and --error, as Slurm writes them, read by the
 * CLI and the controller (checked at submit) and by the agent (expanded for each task at
 * launch): one parser, so all three agree on what a pattern means.
 *
 *   %j  the job id          %t  the task (its global RANK)
 *   %n  the node's index in the job (NODE_RANK)      %N  the node's name
 *   %u  the user's name     %x  the job's name        %%  a '%'
 *
 *   %A  the array's id (the job id when not in an array)
 *   %a  the task's index in its array (0 when not in an array)
 *
 * Any other '%' is an error. A relative
 * pattern is relative to the job's working directory. */
#ifndef COLOSSUS_UTIL_IOPAT_H
#define COLOSSUS_UTIL_IOPAT_H

#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"

/* The longest pattern taken (and the longest expansion: PATH_MAX - 1). */
#define CL_IOPAT_MAX 4095

/* What a pattern is expanded with. */
typedef struct cl_iopat_vars {
    uint64_t job;
    uint32_t task, node_index;
    const char *node, *user, *name; /* NULL: "" */
    uint64_t array_job;             /* 0: not an array task (%A is the job id, %a 0) */
    uint32_t array_task;
} cl_iopat_vars_t;

/* what: "--output" for messages. 0, or -1 with err naming the problem. "" is not a
 * pattern (the caller decides whether one was given). */
int cl_iopat_check(const char *what, const char *pat, cl_error_t *err);

/* The pattern (checked) expanded into buf: 0, or -1 when it does not fit len (or is bad). */
int cl_iopat_expand(const char *pat, const cl_iopat_vars_t *v, char *buf, size_t len);

#endif
