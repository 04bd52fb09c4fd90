/* when.h - durations ("30d", "12h", "90m", "3600s", "1d12h", plain seconds) and points in
 * time (ISO dates and times in UTC or with an offset, "now", or a duration ago), as the CLI
 * reads them (--expires, --period, --max-wall, --since, --until) and as the controller reads
 * a tenant's budget period: one parser, so both sides agree on what a string means.
 *
 * Both fill err with a sentence that quotes the input and says what is wrong with it, and
 * leave *out alone on failure. */
#ifndef COLOSSUS_UTIL_WHEN_H
#define COLOSSUS_UTIL_WHEN_H

#include "colossus/core.h"

/* The longest duration taken: 100 years of 365 days. */
#define CL_DURATION_MAX_S 3153600000.0

/* A duration: whole numbers each followed by a unit (d = 86,400 s, h, m, s), one or more
 * ("1d12h"), or a plain whole number of seconds. 0 is "0"; at most CL_DURATION_MAX_S.
 * 0 with the seconds in *out, or -1. */
int cl_parse_duration(const char *s, double *out, cl_error_t *err);

/* A point in time, seconds since the epoch:
 *   2026-11-01                 midnight UTC
 *   2026-11-01T12:00[:30]      UTC ('T' or one space between date and time)
 *   ...Z, ...+02:00, ...-0530  with a zone: Z, or an offset +-HH[:MM] / +-HHMM
 *   now                        now
 *   7d, 12h, 30m, 1d12h        that long before now (a unit is required: "3600" alone is
 *                              not a time)
 * The year is 1970..9999; the date must exist (2026-02-30 does not). 0, or -1. */
int cl_parse_time(const char *s, double now, double *out, cl_error_t *err);

#endif
