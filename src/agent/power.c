/* power.c - GPU power limits on the node, their restore, and the floor between runs (the
 * burn that holds an ended job's GPUs at a draw the controller brings down stepwise; power.h).
 */
#include "agent/power.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/check.h"
#include "gpu/nvml.h"
#include "util/util.h"

#define MAXG CL_NVML_MAX_GPUS
#define HOLD_TICK_MS 100 /* a hold whose orders stopped coming is released this soon after */
static const char *WHO = "agent";

/* GPU i held between runs: at draw w (W) for the ended job until `until` (cl_now_ms) unless
 * an order follows. */
struct hold {
    bool on;
    uint64_t job;
    double w, until;
};

struct ag_power {
    char path[PATH_MAX + 32];
    uint64_t job[MAXG]; /* the job whose limit GPU i has; 0: at its default */
    bool changed[MAXG]; /* a limit other than the default was set (restore it) */
    /* armed by the job's PowerLimit (hold_s > 0): held at its end */
    uint64_t arm_job[MAXG];
    double arm_s[MAXG];
    uint32_t idle_mw; /* the controller's idle draw, the low end of the burn's calibration */
    struct hold hold[MAXG];
    uv_timer_t *timer; /* releases holds whose orders stopped; NULL before ag_power_loop */
    /* the burn-in library's floor burn (burn.h), opened at the first hold */
    bool burn_tried;
    void *burn_h;
    cl_burn_floor_f *floor;
    char uuid[MAXG][96];
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

/* ---- the floor between runs ---- */

/* The burn library, once: without it (no CUDA, no library) holds are kept by limits only. */
static void burn_open(ag_power_t *p)
{
    if (p->burn_tried) return;
    p->burn_tried = true;
    char path[PATH_MAX];
    cl_error_t err;
    cl_gpu_inv_t *inv = cl_xcalloc(MAXG, sizeof *inv);
    int n = cl_nvml_inventory(inv, MAXG, &err);
    for (int k = 0; k < n; k++)
        if (inv[k].index < MAXG)
            snprintf(p->uuid[inv[k].index], sizeof p->uuid[0], "%s", inv[k].uuid);
    free(inv);
    if (cl_burn_lib_path(path, sizeof path, &err) == 0 &&
        !(p->burn_h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        snprintf(err.msg, sizeof err.msg, "%s", dlerror());
    if (!p->burn_h) {
        cl_daemon_log(WHO,
                      "power: no burn library (%s): the floor between runs is held by "
                      "power limits only",
                      err.msg);
        return;
    }
    cl_burn_abi_f *abi = (cl_burn_abi_f *)dlsym(p->burn_h, "cl_burn_abi");
    p->floor = (cl_burn_floor_f *)dlsym(p->burn_h, "cl_burn_floor");
    if (!abi || abi() != CL_BURN_ABI || !p->floor) {
        cl_daemon_log(WHO, "power: %s has no floor burn of ABI %d: limits only", path,
                      CL_BURN_ABI);
        p->floor = NULL;
    }
}

static void burn_set(ag_power_t *p, int i, double x)
{
    if (!p->floor || !p->uuid[i][0]) return;
    char e[256] = "";
    if (p->floor(p->uuid[i], x, e, sizeof e) < 0)
        cl_daemon_log(WHO, "power: GPU %d: the floor burn at %.2f: %s", i, x, e);
}

/* GPU i to draw w: above its minimum limit, the burn flat out and the limit at w; below it,
 * the limit at the minimum and the burn's intensity calibrated linearly between the idle
 * draw and the largest limit (idle + x (max - idle) = w). */
static void hold_apply(ag_power_t *p, int i, double w)
{
    uint32_t def = 0, lo = 0, hi = 0;
    cl_error_t err;
    if (cl_nvml_power_range((uint32_t)i, &def, &lo, &hi, &err) < 0) {
        cl_daemon_log(WHO, "power: GPU %d cannot be held: %s", i, err.msg);
        return;
    }
    double idle = p->idle_mw / 1e3, lim = w * 1e3, x = 1;
    if (lim > hi) lim = hi;
    if (lim < lo) {
        lim = lo;
        x = hi / 1e3 > idle ? (w - idle) / (hi / 1e3 - idle) : 0;
        if (x < 0) x = 0;
    }
    uint32_t mw = (uint32_t)(lim + 0.5);
    if (mw != def && !(p->changed[i] && p->job[i] == p->hold[i].job)) {
        p->changed[i] = true; /* written before NVML changes it, as any limit */
        p->job[i] = p->hold[i].job;
        save(p);
    }
    if (cl_nvml_power_limit_set((uint32_t)i, mw, &err) < 0)
        cl_daemon_log(WHO, "power: GPU %d held at %.0f W: %s", i, w, err.msg);
    burn_set(p, i, x);
    p->hold[i].w = w;
}

/* The hold of GPU i ends: the burn stopped; the default limit back unless a job took it. */
static void hold_end(ag_power_t *p, int i, bool restore_limit, const char *why)
{
    if (!p->hold[i].on) return;
    burn_set(p, i, 0);
    p->hold[i].on = false;
    if (restore_limit && p->changed[i]) {
        restore(p, i, why);
        save(p);
    } else if (restore_limit) {
        cl_daemon_log(WHO, "power: GPU %d released (%s)", i, why);
    }
}

static void on_hold_tick(uv_timer_t *t)
{
    ag_power_t *p = t->data;
    double now = cl_now_ms();
    for (int i = 0; i < MAXG; i++)
        if (p->hold[i].on && now >= p->hold[i].until)
            hold_end(p, i, true, "no order from the controller in time");
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void ag_power_loop(ag_power_t *p, uv_loop_t *loop)
{
    p->timer = cl_xcalloc(1, sizeof *p->timer);
    uv_timer_init(loop, p->timer);
    p->timer->data = p;
    uv_timer_start(p->timer, on_hold_tick, HOLD_TICK_MS, HOLD_TICK_MS);
    uv_unref((uv_handle_t *)p->timer); /* the loop's end is not held up by it */
}

void ag_power_hold(ag_power_t *p, const Colossus__PowerHold *o)
{
    if (o->idle_mw) p->idle_mw = o->idle_mw;
    double until = cl_now_ms() + (o->for_s > 0 ? o->for_s : 10) * 1e3;
    int n = 0;
    for (int i = 0; i < MAXG; i++) {
        if (!p->hold[i].on || p->hold[i].job != o->job) continue;
        n++;
        if (!o->draw_mw) {
            hold_end(p, i, true, "the controller's ramp down ended");
            continue;
        }
        p->hold[i].until = until;
        /* never raised: the controller's level starts above what the job drew, and the
         * GPU stays where it is until the level passes below it */
        double w = o->draw_mw / 1e3;
        hold_apply(p, i, w < p->hold[i].w ? w : p->hold[i].w);
    }
    if (n && o->draw_mw)
        cl_daemon_log(WHO, "power: job %llu's %d GPUs held at %.0f W",
                      (unsigned long long)o->job, n, o->draw_mw / 1e3);
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
        if (rc == 0) {
            hold_end(p, (int)i, false, ""); /* a job runs on it again: the hold hands over */
            p->arm_job[i] = o->job;
            p->arm_s[i] = o->hold_s;
            if (o->idle_mw) p->idle_mw = o->idle_mw;
            if (o->hold_s > 0) burn_open(p); /* now rather than in the gap at its end */
        }
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

/* GPU i's draw at its job's end: the last second's mean (still the job's), within the
 * limit in force; the limit itself when NVML does not say. */
static double draw_now(int i)
{
    cl_gpu_sample_t s;
    cl_error_t err;
    if (cl_nvml_sample((uint32_t)i, &s, &err) < 0 || s.lost) return 0;
    double lim = (s.valid & CL_GPU_F_LIMIT) ? s.power_limit_mw / 1e3 : 0;
    double w = (s.valid & CL_GPU_F_POWER) ? s.power_mw / 1e3 : lim;
    return lim > 0 && w > lim ? lim : w;
}

void ag_power_job_ended(ag_power_t *p, uint64_t job)
{
    int n = 0, held = 0;
    double w0 = 0;
    for (int i = 0; i < MAXG; i++) {
        if (p->arm_job[i] == job && p->arm_s[i] > 0 && !p->hold[i].on) {
            double w = draw_now(i);
            p->arm_job[i] = 0;
            if (w > p->idle_mw / 1e3) { /* held at its draw until the controller's orders */
                p->hold[i] = (struct hold){true, job, w, cl_now_ms() + p->arm_s[i] * 1e3};
                hold_apply(p, i, w);
                held++;
                w0 = w;
                continue;
            }
        }
        if (p->arm_job[i] == job) p->arm_job[i] = 0;
        if (p->changed[i] && p->job[i] == job && !p->hold[i].on) {
            restore(p, i, "its job ended");
            n++;
        }
    }
    if (n) save(p);
    if (held)
        cl_daemon_log(WHO,
                      "power: job %llu ended: %d GPUs held at %.0f W (the floor between "
                      "runs) until the controller's ramp down",
                      (unsigned long long)job, held, w0);
}

void ag_power_destroy(ag_power_t *p)
{
    if (!p) return;
    int e = errno, n = 0;
    for (int i = 0; i < MAXG; i++)
        hold_end(p, i, false, "");
    for (int i = 0; i < MAXG; i++)
        if (p->changed[i]) {
            restore(p, i, "the agent stops");
            n++;
        }
    if (n) save(p);
    if (p->timer) uv_close((uv_handle_t *)p->timer, timer_closed);
    if (p->burn_h) dlclose(p->burn_h);
    free(p);
    errno = e;
}
