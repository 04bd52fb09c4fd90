/* hostlist.h - node name lists in Slurm's hostlist syntax ("gpu[001-128,130],login1",
 * "rack[1-2]-n[01-18]"), checked and matched without expanding them: a node credential for
 * 550,000 nodes stays one short string, and asking whether a name is in it costs the length
 * of the string, not the number of names.
 *
 * Syntax: comma-separated items; an item is literal text and bracket groups; a group holds
 * comma-separated numbers and ranges LO-HI (LO <= HI, at most 9 digits). A number written
 * with leading zeros sets the width: n[01-10] is n01..n10, n[8-10] is n8, n9, n10 (as
 * Slurm). Literal text is UTF-8 without spaces, control characters, ',', '[' or ']'. Every
 * name it stands for is 1..63 bytes (a node name's limit). */
#ifndef COLOSSUS_UTIL_HOSTLIST_H
#define COLOSSUS_UTIL_HOSTLIST_H

#include <stdbool.h>
#include <stdint.h>

#include "colossus/core.h"

/* The longest hostlist string taken. */
#define CL_HOSTLIST_MAX 4096

/* 0 when s is a well-formed hostlist, else -1 with a sentence naming the problem and where
 * (byte offset) in err. */
int cl_hostlist_check(const char *s, cl_error_t *err);
/* How many names s stands for (a name listed twice counts twice); 0 when s is malformed. */
uint64_t cl_hostlist_count(const char *s);
/* Whether name is one of the names s stands for; false when s is malformed. */
bool cl_hostlist_match(const char *s, const char *name);

/* Call f with each name s stands for, in order (a name listed twice: twice), until f returns
 * nonzero (that value is returned). -1 with a sentence in err when s is malformed (f never
 * called). Cost: the names, not the cluster. */
typedef int cl_hostlist_name_f(const char *name, void *arg);
int cl_hostlist_each(const char *s, cl_hostlist_name_f *f, void *arg, cl_error_t *err);

/* The names v[0..n) as one hostlist (malloc'd): names that differ only in a trailing number of
 * the same width (node007, node008) share a bracket group of ranges ("node[007-008]"); the
 * groups sorted by prefix, their numbers ascending; a name listed twice written once; a name
 * without a trailing number as it is. "" for none. The result stands for exactly the names
 * given (cl_hostlist_match) when they are node names. */
char *cl_hostlist_compress(const char *const *names, size_t n);

#endif
