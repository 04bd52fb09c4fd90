/* hostlist.h - Slurm-style host lists ("n[1-4,07],gpu01,rack2-n[001-128]"): checked and
 * matched without expanding them, so that a node credential for 100,000 nodes costs a few
 * bytes and a registration a scan of the list's text. */
#ifndef COLOSSUS_UTIL_HOSTLIST_H
#define COLOSSUS_UTIL_HOSTLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "colossus/core.h"

#define CL_HOSTLIST_MAX 4096 /* longest list accepted */

/* 0 when s is a well-formed host list: comma-separated entries, each a name of letters,
 * digits, '-', '_' and '.' with at most one bracket group of comma-separated numbers or
 * ranges LO-HI (LO <= HI; a zero-padded LO fixes the width), e.g. "n[01-16,20]-ib". -1 with
 * a sentence naming the problem. */
int cl_hostlist_check(const char *s, cl_error_t *err);
/* Whether name is one of the hosts s lists (s well-formed; false otherwise). */
bool cl_hostlist_contains(const char *s, const char *name);
/* How many hosts s lists (saturating at SIZE_MAX); 0 for a malformed list. */
size_t cl_hostlist_count(const char *s);

#endif
