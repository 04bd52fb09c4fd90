/* health.c - GPU health policy (pure): XID classes, error-counter thresholds, check results.
 * Each entry and threshold is justified, with its source, in docs/health.md. */
#include "gpu/health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const action_names[] = {"none", "drain-after-job", "drain-now", "keep-out"};

const char *cl_health_action_name(cl_health_action_t a)
{
    return (unsigned)a < 4 ? action_names[a] : "invalid";
}

int cl_health_action_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, action_names[i])) return i;
    return -1;
}

cl_health_action_t cl_health_worst(cl_health_action_t a, cl_health_action_t b)
{
    return a > b ? a : b;
}

int cl_health_is_node_failure(cl_health_action_t a)
{
    return a == CL_HEALTH_DRAIN_NOW || a == CL_HEALTH_KEEP_OUT;
}

static const struct xid {
    uint16_t xid;
    uint8_t cls;
    const char *desc;
} xids[] = {
    /* Application faults: the driver resets the faulting channel; the GPU is fine. */
    {8, CL_XID_APP, "GPU stopped processing (channel idle timeout)"},
    {13, CL_XID_APP, "graphics engine exception"},
    {31, CL_XID_APP, "GPU memory page fault"},
    {43, CL_XID_APP, "GPU stopped processing (channel reset)"},
    {68, CL_XID_APP, "video decoder exception"},
    {69, CL_XID_APP, "graphics engine class error"},
    /* Follow-ups and recoveries. */
    {45, CL_XID_INFO, "preemptive cleanup after a previous error"},
    {63, CL_XID_FATAL, "row remapping / page retirement recorded, reset needed to activate"},
    /* Hardware or firmware trouble that leaves running work intact. */
    {32, CL_XID_PREVENTIVE, "invalid or corrupted push buffer stream (PCIe)"},
    {38, CL_XID_PREVENTIVE, "driver firmware error"},
    {57, CL_XID_PREVENTIVE, "error programming video memory interface"},
    {61, CL_XID_PREVENTIVE, "internal micro-controller breakpoint/warning"},
    {121, CL_XID_PREVENTIVE, "C2C link corrected error"},
    /* The GPU cannot be trusted until reset or repair. */
    {48, CL_XID_FATAL, "double-bit ECC error"},
    {62, CL_XID_FATAL, "internal micro-controller halt"},
    {64, CL_XID_FATAL, "row remapping / page retirement failed"},
    {74, CL_XID_FATAL, "NVLink error"},
    {79, CL_XID_FATAL, "GPU has fallen off the bus"},
    {92, CL_XID_FATAL, "high single-bit ECC error rate"},
    {94, CL_XID_FATAL, "contained uncorrectable memory error"},
    {95, CL_XID_FATAL, "uncontained uncorrectable memory error"},
    {119, CL_XID_FATAL, "GSP RPC timeout"},
    {120, CL_XID_FATAL, "GSP error"},
    {140, CL_XID_FATAL, "unrecovered ECC error"},
    {154, CL_XID_FATAL, "GPU recovery action changed (reset or reboot required)"},
};

static const struct xid *find_xid(uint64_t xid)
{
    for (size_t i = 0; i < sizeof(xids) / sizeof(xids[0]); i++)
        if (xids[i].xid == xid) return &xids[i];
    return NULL;
}

cl_xid_class_t cl_health_xid_class(uint64_t xid)
{
    const struct xid *x = find_xid(xid);
    /* Unknown (including NVML's 999): not trusted, but not worth killing a job over. */
    return x ? (cl_xid_class_t)x->cls : CL_XID_PREVENTIVE;
}

const char *cl_health_xid_class_name(cl_xid_class_t c)
{
    static const char *const n[] = {"app", "info", "preventive", "fatal"};
    return (unsigned)c < 4 ? n[c] : "invalid";
}

const char *cl_health_xid_desc(uint64_t xid)
{
    const struct xid *x = find_xid(xid);
    return x ? x->desc : "unknown XID";
}

static cl_health_action_t class_action(cl_xid_class_t c)
{
    switch (c) {
    case CL_XID_FATAL:
        return CL_HEALTH_DRAIN_NOW;
    case CL_XID_PREVENTIVE:
        return CL_HEALTH_DRAIN_AFTER_JOB;
    default:
        return CL_HEALTH_NONE;
    }
}

cl_health_action_t cl_health_xid(uint32_t gpu, uint64_t xid, char *reason, size_t len)
{
    cl_xid_class_t c = cl_health_xid_class(xid);
    if (reason && len)
        snprintf(reason, len, "GPU %u: XID %llu (%s): %s", gpu, (unsigned long long)xid,
                 cl_health_xid_desc(xid), cl_health_xid_class_name(c));
    return class_action(c);
}

void cl_health_limits_default(cl_health_limits_t *lim)
{
    lim->window_s = 3600;
    lim->corr_after_job = 100;
    lim->corr_now = 10000;
    lim->retired_max = 60;
    lim->temp_after_job_c = 0;
}

void cl_health_gpu_init(cl_health_gpu_t *st)
{
    memset(st, 0, sizeof(*st));
}

/* Keep the worst action seen and the sentence that goes with it. */
struct verdict {
    cl_health_action_t action;
    char *reason;
    size_t len;
};

static void raise_to(struct verdict *v, cl_health_action_t a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void raise_to(struct verdict *v, cl_health_action_t a, const char *fmt, ...)
{
    if (a <= v->action) return;
    v->action = a;
    if (v->reason && v->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->reason, v->len, fmt, ap);
        va_end(ap);
    }
}

cl_health_action_t cl_health_sample(cl_health_gpu_t *st, const cl_health_limits_t *lim,
                                    const cl_gpu_sample_t *s, double now, char *reason,
                                    size_t len)
{
    struct verdict v = {CL_HEALTH_NONE, reason, len};
    unsigned g = s->index;
    if (reason && len) reason[0] = '\0';
    if (s->lost) {
        raise_to(&v, CL_HEALTH_DRAIN_NOW, "GPU %u: lost (NVML cannot reach it)", g);
        return v.action;
    }
    if (s->valid & CL_GPU_F_ECC) {
        uint64_t c = s->ecc_corrected;
        /* Volatile counters restart at a driver reload or GPU reset: a new baseline. */
        if (!st->have || c < st->last_corr || s->ecc_uncorrected < st->last_unc) {
            st->have = 1;
            st->t0 = st->t1 = now;
            st->c0 = st->c1 = c;
            st->last_unc = s->ecc_uncorrected;
        }
        if (s->ecc_uncorrected > st->last_unc)
            raise_to(&v, CL_HEALTH_DRAIN_NOW, "GPU %u: %llu new uncorrected ECC error(s)", g,
                     (unsigned long long)(s->ecc_uncorrected - st->last_unc));
        st->last_unc = s->ecc_uncorrected;
        st->last_corr = c;
        /* Growth since the older checkpoint: the errors of the last half-to-one window. It
         * is measured before the checkpoints move so that a burst is not split in two. */
        uint64_t grown = c - st->c0;
        double span = now - st->t0;
        if (lim->corr_now && grown >= lim->corr_now)
            raise_to(&v, CL_HEALTH_DRAIN_NOW,
                     "GPU %u: %llu corrected ECC errors in %.0f s (limit %llu per %.0f s)", g,
                     (unsigned long long)grown, span, (unsigned long long)lim->corr_now,
                     lim->window_s);
        else if (lim->corr_after_job && grown >= lim->corr_after_job)
            raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB,
                     "GPU %u: %llu corrected ECC errors in %.0f s (limit %llu per %.0f s)", g,
                     (unsigned long long)grown, span, (unsigned long long)lim->corr_after_job,
                     lim->window_s);
        if (now - st->t1 >= lim->window_s / 2) {
            st->t0 = st->t1, st->c0 = st->c1;
            st->t1 = now, st->c1 = c;
        }
    }
    if (s->valid & CL_GPU_F_REMAP) {
        if (s->remap_failure)
            raise_to(&v, CL_HEALTH_DRAIN_NOW,
                     "GPU %u: row remapping failed (no spare row left), repair needed", g);
        if (st->have_remap && s->remap_unc_rows > st->last_remap_unc)
            raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB,
                     "GPU %u: %u new row(s) remapped for uncorrectable errors", g,
                     s->remap_unc_rows - st->last_remap_unc);
        if (s->remap_pending)
            raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB,
                     "GPU %u: row remap pending, GPU reset needed to activate it", g);
        st->last_remap_unc = s->remap_unc_rows;
        st->have_remap = 1;
    }
    if (s->valid & CL_GPU_F_RETIRED) {
        if (s->retired_pending)
            raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB,
                     "GPU %u: page retirement pending, driver reload needed", g);
        uint32_t pages = s->retired_sbe + s->retired_dbe;
        if (lim->retired_max && pages >= lim->retired_max)
            raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB,
                     "GPU %u: %u retired pages (limit %u), repair due", g, pages,
                     lim->retired_max);
    }
    if ((s->valid & CL_GPU_F_TEMP) && lim->temp_after_job_c &&
        s->temp_c >= lim->temp_after_job_c)
        raise_to(&v, CL_HEALTH_DRAIN_AFTER_JOB, "GPU %u: temperature %u C (limit %u C)", g,
                 s->temp_c, lim->temp_after_job_c);
    return v.action;
}

cl_health_action_t cl_health_inventory(int expected, int found, char *reason, size_t len)
{
    if (reason && len) reason[0] = '\0';
    if (found >= expected) return CL_HEALTH_NONE;
    if (reason && len)
        snprintf(reason, len, "%d of %d GPUs missing", expected - (found < 0 ? 0 : found),
                 expected);
    return CL_HEALTH_DRAIN_NOW;
}

cl_health_action_t cl_health_check(int passed, const char *why, char *reason, size_t len)
{
    if (reason && len) reason[0] = '\0';
    if (passed) return CL_HEALTH_NONE;
    if (reason && len)
        snprintf(reason, len, "gpu check failed: %s", why && *why ? why : "no reason given");
    return CL_HEALTH_KEEP_OUT;
}
