/* power.c - GPU power limits on the node, and their restore (power.h). */
#include "agent/power.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml.h"
#include "util/util.h"

#define MAXG CL_NVML_MAX_GPUS
static const char *WHO = "agent";

struct ag_power {
    char path[PATH_MAX + 32];
    uint64_t job[MAXG]; /* the job whose limit GPU i has; 0: at its default */
    bool changed[MAXG]; /* a limit other than the default was set (restore it) */
};

/* The record, rewritten whole through a rename: one line "gpu I job J" per GPU changed. */
static void save(ag_power_t *p)
{
    char tmp[sizeof p->path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cl_daemon_log(WHO, "power: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    for (int i = 0; i < MAXG; i++)
        if (p->changed[i]) fprintf(f, "gpu %d job %llu\n", i, (unsigned long long)p->job[i]);
    if (fclose(f) != 0 || rename(tmp, p->path) != 0)
        cl_daemon_log(WHO, "power: cannot write %s: %s", p->path, strerror(errno));
}

static void restore(ag_power_t *p, int i, const char *why)
{
    cl_error_t err;
    if (cl_nvml_power_limit_set((uint32_t)i, 0, &err) < 0)
        cl_daemon_log(WHO, "power: GPU %d's default limit not restored (%s): %s", i, why,
                      err.msg);
    else
        cl_daemon_log(WHO, "power: GPU %d back to its default limit (%s)", i, why);
    p->changed[i] = false;
    p->job[i] = 0;
}

ag_power_t *ag_power_create(const char *work_dir)
{
    ag_power_t *p = cl_xcalloc(1, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s/power-limits", work_dir);
    FILE *f = fopen(p->path, "r");
    if (!f) return p;
    char line[128];
    int i, n = 0;
    unsigned long long job;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "gpu %d job %llu", &i, &job) == 2 && i >= 0 && i < MAXG) {
            restore(p, i, "left set by the agent's previous run");
            n++;
        }
    fclose(f);
    if (n) save(p);
    return p;
}

void ag_power_apply(ag_power_t *p, const Colossus__PowerLimit *o, Colossus__PowerApplied *out)
{
    colossus__power_applied__init(out);
    out->seq = o->seq;
    out->error = cl_xstrdup("");
    out->gpus = cl_xcalloc(o->n_gpus + 1, sizeof *out->gpus);
    for (size_t k = 0; k < o->n_gpus; k++) {
        uint32_t i = o->gpus[k]->index, mw = o->gpus[k]->limit_mw, def = 0, lo, hi;
        cl_error_t err = {{0}};
        int rc = i < MAXG ? 0 : cl_err(&err, "GPU %u: no such GPU", i);
        if (rc == 0) rc = cl_nvml_power_range(i, &def, &lo, &hi, &err);
        if (rc == 0 && mw && mw != def && !p->changed[i]) {
            p->changed[i] = true; /* recorded before NVML changes it: a crash restores it */
            p->job[i] = o->job;
            save(p);
        }
        if (rc == 0) rc = cl_nvml_power_limit_set(i, mw, &err);
        if (rc < 0) {
            if (!out->error[0]) {
                free(out->error);
                out->error = cl_xstrdup(err.msg);
            }
            cl_daemon_log(WHO, "power: job %llu: %s", (unsigned long long)o->job, err.msg);
            continue;
        }
        if (!mw || mw == def) {
            if (p->changed[i]) {
                p->changed[i] = false;
                p->job[i] = 0;
                save(p);
            }
        } else {
            p->job[i] = o->job;
        }
        Colossus__GpuLimit *g = cl_xmalloc(sizeof *g);
        colossus__gpu_limit__init(g);
        g->index = i;
        g->limit_mw = mw ? mw : def;
        out->gpus[out->n_gpus++] = g;
    }
    char lim[32] = "the default";
    if (o->n_gpus && o->gpus[0]->limit_mw)
        snprintf(lim, sizeof lim, "%.1f W", o->gpus[0]->limit_mw / 1e3);
    cl_daemon_log(WHO, "power: job %llu: limit %s on %zu of %zu GPUs",
                  (unsigned long long)o->job, lim, out->n_gpus, o->n_gpus);
}

void ag_power_applied_free(Colossus__PowerApplied *out)
{
    for (size_t i = 0; i < out->n_gpus; i++)
        free(out->gpus[i]);
    free(out->gpus);
    free(out->error);
}

void ag_power_job_ended(ag_power_t *p, uint64_t job)
{
    int n = 0;
    for (int i = 0; i < MAXG; i++)
        if (p->changed[i] && p->job[i] == job) {
            restore(p, i, "its job ended");
            n++;
        }
    if (n) save(p);
}

void ag_power_destroy(ag_power_t *p)
{
    if (!p) return;
    int e = errno, n = 0;
    for (int i = 0; i < MAXG; i++)
        if (p->changed[i]) {
            restore(p, i, "the agent stops");
            n++;
        }
    if (n) save(p);
    free(p);
    errno = e;
}
