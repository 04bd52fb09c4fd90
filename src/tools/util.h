/* util.h - small helpers for the command-line drivers (clock, PRNG, number parsing, RSS). */
#ifndef COLOSSUS_TOOLS_UTIL_H
#define COLOSSUS_TOOLS_UTIL_H

#include <stdint.h>

double cl_now_ms(void);
double cl_now_us(void);
/* splitmix64: a seeded, reproducible stream; *state advances. */
uint64_t cl_rand_next(uint64_t *state);
uint64_t cl_rand_below(uint64_t *state, uint64_t n); /* uniform in [0, n) */
/* Parse a whole decimal string in [lo, hi]: 0 on success, -1 if malformed or out of range. */
int cl_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
int cl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int cl_parse_double(const char *s, double lo, double hi, double *out);
/* Peak resident set size of this process in MB (VmHWM), or -1. */
double cl_peak_rss_mb(void);

#endif
