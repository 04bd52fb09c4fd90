/* rate.h - token buckets by key in a bounded table (the REST API's rate limit, ctl_http.c):
 * O(1) a take, a fixed memory, the clock given by the caller (tests use a fake one). */
#ifndef COLOSSUS_UTIL_RATE_H
#define COLOSSUS_UTIL_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cl_rate cl_rate_t;

/* Buckets of `burst` tokens refilled at per_s tokens a second (both > 0), in `sets` sets
 * (rounded up to a power of two) of CL_RATE_WAYS entries. seed keys the hash of the keys, so
 * that nobody picks keys that share a set. */
#define CL_RATE_WAYS 4
/* The caller destroys it with cl_rate_destroy(). */
cl_rate_t *cl_rate_create(double per_s, double burst, uint32_t sets, uint64_t seed);
void cl_rate_destroy(cl_rate_t *r); /* accepts NULL */

/* One request of key (len bytes) at now_ms: true if its bucket had a token (taken), else
 * false with *retry_ms the wait until it has one (at least 1). A key not in the table gets a
 * full bucket, in an empty entry of its set or in place of the entry whose bucket is the
 * fullest (refilled to now): an entry idle for burst/per_s seconds is full, so forgetting it
 * changes nothing; that is how entries expire. */
bool cl_rate_take(cl_rate_t *r, const void *key, size_t len, uint64_t now_ms,
                  uint64_t *retry_ms);

/* Entries in use (tests). */
size_t cl_rate_used(const cl_rate_t *r);

#endif
