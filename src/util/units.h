/* units.h - quantities with units as operators type them: power ("700MW", "550 kW", "none")
 * and percentages ("30%"), for `colossus power` and the REST API; memory sizes ("64G")
 * for submit and the agent's inventory. */
#ifndef COLOSSUS_UTIL_UNITS_H
#define COLOSSUS_UTIL_UNITS_H

#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

/* A power: a number (decimal, > 0) and a unit of W, kW, MW or GW (case as written, spaces
 * allowed between), or "none" (*w = 0). 0 with *w in watts; -1 with err naming the problem
 * (no unit, an unknown unit, not a number, not above 0, more than 100 GW). */
int cl_parse_watts(const char *s, double *w, cl_error_t *err);
/* A percentage of 0 < p <= 100 with or without its '%': 0 with *pct; -1 with err. */
int cl_parse_pct(const char *s, double *pct, cl_error_t *err);
/* A ramp rate: "3.85MW/s" (into *w_per_s) or "0.5%/s" (into *pct, of a budget), "none" (both
 * 0); the other is set to 0. */
int cl_parse_ramp(const char *s, double *w_per_s, double *pct, cl_error_t *err);
/* A memory size as Slurm's --mem takes it: a whole number with an optional unit K, M, G or T
 * (binary: 1G = 1024M; upper or lower case, an optional B: "10G", "512MB", "2t"); no unit is
 * megabytes. 0 with *mb in MiB, rounded up (1K is 1 MB); -1 with err naming the problem (not
 * a number, an unknown unit such as "10XB", 0, more than 1 EiB). */
int cl_parse_mem_mb(const char *s, uint64_t *mb, cl_error_t *err);
/* w as "700 MW", "1.5 kW", "200 W" into buf (3 significant digits at least). */
const char *cl_fmt_watts(double w, char *buf, size_t len);

#endif
