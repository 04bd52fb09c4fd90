/* depend.h - Slurm's --dependency as Colossus takes it, read by the CLI (for an early error)
 * and by the controller (at submit, and again from the journal at recovery): one parser.
 *
 *   afterok:ID[:ID...]     start after each ID succeeded (never, if one did not)
 *   afterany:ID[:ID...]    start after each ID ended, however
 *   afternotok:ID[:ID...]  start after each ID failed or was cancelled (never, if one
 *                          succeeded)
 *   singleton              start only while no other job of the same user and name runs
 *
 * Several, separated by ',', must all hold. Slurm's '?' (any of) and its other types
 * (after, aftercorr, aftersem) are refused, naming them. */
#ifndef COLOSSUS_UTIL_DEPEND_H
#define COLOSSUS_UTIL_DEPEND_H

#include <stdbool.h>
#include <stddef.h>

#include "colossus/core.h"

#define CL_DEPEND_MAX 1024 /* job ids in one --dependency */

typedef struct cl_depend {
    cl_dep_t *v; /* [n], ended = CL_JOB_PENDING (the caller fills it) */
    size_t n;
    bool singleton;
} cl_depend_t;

/* Parse text into *d (zeroed first; free with cl_depend_free, also after a failure). -1 with
 * a sentence naming the bad part. */
int cl_depend_parse(const char *text, cl_depend_t *d, cl_error_t *err);
void cl_depend_free(cl_depend_t *d);

#endif
