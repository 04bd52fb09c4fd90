/* fuzz_trace.c - libFuzzer target for the trace CSV reader: never crashes or leaks, refuses
 * with "FILE:LINE: ..." or returns jobs that are valid and sorted. (In a subdirectory so the
 * binary's src/ * / *.c wildcard does not link it.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks a cluster filter, so that path is fuzzed too */
    const char *cluster = size && (data[0] & 1) ? "c1" : NULL;
    cl_trace_t t;
    cl_error_t err;
    memset(&err, 0, sizeof(err));
    if (cl_trace_parse((const char *)data, size, "fuzz.csv", cluster, &t, &err)) {
        if (strncmp(err.msg, "fuzz.csv:", 9)) abort();
        if (t.v || t.n) abort();
        return 0;
    }
    if (!t.n || !t.v) abort();
    for (size_t i = 0; i < t.n; i++) {
        const cl_trace_job_t *j = &t.v[i];
        if (!(j->submit_s >= 0) || !(j->duration_s > 0) || j->gpus < 1 || j->line < 2) abort();
        if (i && t.v[i - 1].submit_s > j->submit_s) abort();
        if (t.nclusters && j->cluster >= t.nclusters) abort();
    }
    cl_trace_free(&t);
    return 0;
}
