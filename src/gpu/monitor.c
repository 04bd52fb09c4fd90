/* monitor.c - the agent's GPU watch: NVML samples and XID events through the health policy. */
#include "gpu/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct cl_gpu_monitor {
    cl_health_limits_t lim;
    int n;
    cl_gpu_inv_t inv[CL_NVML_MAX_GPUS];
    cl_health_gpu_t st[CL_NVML_MAX_GPUS];
    cl_nvml_events_t *ev; /* NULL when no GPU can report XIDs */
};

cl_gpu_monitor_t *cl_gpu_monitor_create(const cl_health_limits_t *lim, cl_error_t *err)
{
    cl_gpu_monitor_t *m = cl_xcalloc(1, sizeof(*m));
    if (lim)
        m->lim = *lim;
    else
        cl_health_limits_default(&m->lim);
    int n = cl_nvml_inventory(m->inv, CL_NVML_MAX_GPUS, err);
    if (n < 0) {
        free(m);
        return NULL;
    }
    m->n = n < CL_NVML_MAX_GPUS ? n : CL_NVML_MAX_GPUS;
    for (int i = 0; i < m->n; i++)
        cl_health_gpu_init(&m->st[i]);
    m->ev = cl_nvml_events_create(NULL, NULL);
    return m;
}

int cl_gpu_monitor_inventory(const cl_gpu_monitor_t *m, const cl_gpu_inv_t **inv)
{
    *inv = m->inv;
    return m->n;
}

/* Keep the worst action and its sentence. */
static void consider(cl_gpu_node_health_t *out, cl_health_action_t a, const char *reason)
{
    if (a > out->action) {
        out->action = a;
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
}

int cl_gpu_monitor_poll(cl_gpu_monitor_t *m, double now, cl_gpu_node_health_t *out,
                        cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->expected = m->n;
    char reason[256];
    /* XIDs first: a fatal one explains whatever the counters show next. */
    cl_gpu_xid_t x;
    int r;
    while (m->ev && (r = cl_nvml_events_wait(m->ev, 0, &x, err)) != 0) {
        if (r < 0) return -1;
        cl_health_action_t a = cl_health_xid(x.index, x.xid, reason, sizeof(reason));
        if (out->nxids < CL_GPU_MONITOR_MAX_XIDS) {
            out->xids[out->nxids] = x;
            out->xid_action[out->nxids++] = a;
        }
        consider(out, a, reason);
    }
    int found = 0;
    for (int i = 0; i < m->n; i++) {
        cl_gpu_sample_t *s = &out->samples[out->nsamples];
        if (cl_nvml_sample(m->inv[i].index, s, NULL) < 0) {
            /* NVML lists fewer GPUs than at start: this one is gone. */
            memset(s, 0, sizeof(*s));
            s->index = m->inv[i].index;
            s->lost = 1;
        }
        out->nsamples++;
        found += !s->lost;
        cl_health_action_t a =
            cl_health_sample(&m->st[i], &m->lim, s, now, reason, sizeof(reason));
        consider(out, a, reason);
    }
    out->found = found;
    cl_health_action_t a = cl_health_inventory(m->n, found, reason, sizeof(reason));
    consider(out, a, reason);
    return 0;
}

void cl_gpu_monitor_destroy(cl_gpu_monitor_t *m)
{
    if (!m) return;
    cl_nvml_events_destroy(m->ev);
    free(m);
}
