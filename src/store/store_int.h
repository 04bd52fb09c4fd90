/* store_int.h - helpers the journal's backends share (sqlite*.c, pg*.c). Internal to
 * src/store. */
#ifndef COLOSSUS_STORE_INT_H
#define COLOSSUS_STORE_INT_H

#include <stddef.h>

/* The NUL-ended strings of b (len bytes: a job's argv or env as journaled, one NUL after
 * each) as an array of *n pointers into b, NULL-ended; the caller frees the array (not the
 * strings). */
const char **cl__strs_split(const char *b, size_t len, size_t *n);

/* The UTC day of t as YYYY-MM-DD, a rollup's key; times outside year 1970..9999 take the
 * nearest end. */
void cl__utc_day(double t, char out[16]);

#endif
