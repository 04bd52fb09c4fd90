/* prom.h - the Prometheus text exposition format (0.0.4) written into a buffer: metric
 * families with their HELP and TYPE lines, samples with escaped label values. Pure: the
 * controller's /metrics (src/controller/ctl_metrics.c) and its unit tests use it. */
#ifndef COLOSSUS_API_PROM_H
#define COLOSSUS_API_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "proto/frame.h"

#define CL_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct cl_prom {
    cl_buf_t out;
    uint64_t nsamples; /* sample lines written */
} cl_prom_t;

/* A family's HELP and TYPE lines (type: "counter", "gauge", "summary", "histogram"). Its
 * samples follow with cl_prom_sample(); a family appears once. */
void cl_prom_family(cl_prom_t *p, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. labels: key, value pairs ended by NULL (NULL itself:
 * none); values are escaped (backslash, double quote, newline). Integral values up to 2^53
 * are written without an exponent. */
void cl_prom_sample(cl_prom_t *p, const char *name, const char *const *labels, double v);
/* The same with one label. */
void cl_prom_sample1(cl_prom_t *p, const char *name, const char *key, const char *val,
                     double v);
/* The text so far (NUL-terminated) and its length; the caller owns it (free()), p is empty
 * afterwards. */
char *cl_prom_take(cl_prom_t *p, size_t *len);
void cl_prom_free(cl_prom_t *p);

#endif
