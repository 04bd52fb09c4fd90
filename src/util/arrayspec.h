/* arrayspec.h - Slurm's --array as Colossus takes it, read by the CLI (an early error) and
 * the controller (at submit, and from the journal at recovery): one parser.
 *
 *   0-99       tasks 0 to 99          0-15:4   0, 4, 8, 12 (a step)
 *   1,3,5-7    a list of those        0-99%8   at most 8 of them running at once
 *
 * Indices are 0..CL_ARRAY_INDEX_MAX; a task named twice is one task. */
#ifndef COLOSSUS_UTIL_ARRAYSPEC_H
#define COLOSSUS_UTIL_ARRAYSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h"

#define CL_ARRAY_TASKS_MAX 1000000u /* tasks in one array */
#define CL_ARRAY_INDEX_MAX 9999999u /* the highest index */

typedef struct cl_arrayspec {
    uint32_t *idx; /* [n] the task indices, ascending */
    size_t n;
    uint32_t limit; /* most tasks running at once; 0: no limit */
} cl_arrayspec_t;

/* Parse text into *a (zeroed first; free with cl_arrayspec_free, also after a failure): 0,
 * or -1 with a sentence naming the bad part ("--array 5-1: ..."). */
int cl_arrayspec_parse(const char *text, cl_arrayspec_t *a, cl_error_t *err);
/* The position of task index t in a (its offset from the array's first job id), or -1. */
long cl_arrayspec_pos(const cl_arrayspec_t *a, uint32_t t);
void cl_arrayspec_free(cl_arrayspec_t *a);

#endif
