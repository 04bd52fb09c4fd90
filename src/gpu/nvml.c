/* nvml.c - run-time NVML loader: inventory, telemetry, fabric info and XID events. */
#include "gpu/nvml.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/nvml_abi.h"
#include "util/util.h"

#define DEFAULT_LIB "libnvidia-ml.so.1"
/* Where the driver container toolkit puts it when the loader cache does not know it. */
#define FALLBACK_LIB "/usr/local/nvidia/lib64/libnvidia-ml.so.1"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *lib;  /* dlopen handle, NULL when closed */
static int inited; /* nvmlInit_v2 succeeded */

#define DECLARE(name, params) static nvmlReturn_t(*p_##name) params;
CL_NVML_FUNCS(DECLARE)
#undef DECLARE

static const char *const symbol_names[] = {
#define NAME(name, params) #name,
    CL_NVML_FUNCS(NAME)
#undef NAME
        NULL};

const char *const *cl_nvml_symbols(void)
{
    return symbol_names;
}

static const char *nvml_strerror(nvmlReturn_t r)
{
    switch (r) {
    case NVML_SUCCESS:
        return "success";
    case NVML_ERROR_UNINITIALIZED:
        return "NVML not initialised";
    case NVML_ERROR_INVALID_ARGUMENT:
        return "invalid argument";
    case NVML_ERROR_NOT_SUPPORTED:
        return "not supported";
    case NVML_ERROR_NO_PERMISSION:
        return "no permission";
    case NVML_ERROR_NOT_FOUND:
        return "not found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
        return "buffer too small";
    case NVML_ERROR_DRIVER_NOT_LOADED:
        return "NVIDIA driver not loaded";
    case NVML_ERROR_TIMEOUT:
        return "timeout";
    case NVML_ERROR_GPU_IS_LOST:
        return "GPU is lost";
    default:
        return "NVML error";
    }
}

const char *cl_nvml_lib_path(void)
{
    const char *env = getenv(CL_NVML_ENV);
    return env && *env ? env : DEFAULT_LIB;
}

/* A library that could not be loaded is tried again for the same path only NVML_RETRY_MS
 * later: a dlopen that fails searches every library directory (tens of
 * microseconds and a dozen system calls), and without a driver (fake GPUs, a CPU node) every
 * launch asked twice, for its energy at start and end. */
#define NVML_RETRY_MS 30000.0
static double failed_at = -1; /* cl_now_ms() of the last failure; -1: none */
static int open_lib(const char *path, bool from_env, cl_error_t *err);
static char failed_path[256], failed_why[sizeof(((cl_error_t *)0)->msg)];

static int open_locked(cl_error_t *err)
{
    if (inited) return 0;
    const char *env = getenv(CL_NVML_ENV);
    const char *path = env && *env ? env : DEFAULT_LIB;
    if (failed_at >= 0 && cl_now_ms() - failed_at < NVML_RETRY_MS && !strcmp(path, failed_path))
        return cl_err(err, "%s", failed_why);
    cl_error_t why = {{0}};
    int rc = open_lib(path, env && *env, &why);
    failed_at = rc == -2 ? cl_now_ms() : -1; /* a library there whose driver is not up yet:
                                                 asked again at once, as that costs little */
    if (rc == 0) return 0;
    snprintf(failed_path, sizeof failed_path, "%s", path);
    snprintf(failed_why, sizeof failed_why, "%s", why.msg);
    return cl_err(err, "%s", why.msg);
}

/* 0, -1 with err (loaded, unusable: no symbol, nvmlInit failed), or -2 with err (no library
 * at path). */
static int open_lib(const char *path, bool from_env, cl_error_t *err)
{
    if (!lib) {
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib && !from_env) lib = dlopen(FALLBACK_LIB, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char *why = dlerror();
            cl_err(err, "no NVIDIA driver: cannot load %s (%s)", path, why ? why : "not found");
            return -2;
        }
    }
    /* Resolve everything up front: a library lacking one of them is refused as a whole,
     * rather than failing half-way through a telemetry sample. */
#define RESOLVE(name, params)                                                                  \
    p_##name = (nvmlReturn_t(*) params)dlsym(lib, #name);                                      \
    if (!p_##name) {                                                                           \
        cl_err(err, "no usable NVIDIA driver: %s lacks %s (driver too old?)", path, #name);    \
        goto fail;                                                                             \
    }
    CL_NVML_FUNCS(RESOLVE)
#undef RESOLVE
    nvmlReturn_t r = p_nvmlInit_v2();
    if (r != NVML_SUCCESS) {
        cl_err(err, "no NVIDIA driver: nvmlInit failed (%s, NVML error %d)", nvml_strerror(r),
               r);
        goto fail;
    }
    inited = 1;
    return 0;
fail:
    dlclose(lib);
    lib = NULL;
    return -1;
}

int cl_nvml_open(cl_error_t *err)
{
    pthread_mutex_lock(&lock);
    int rc = open_locked(err);
    pthread_mutex_unlock(&lock);
    return rc;
}

void cl_nvml_close(void)
{
    pthread_mutex_lock(&lock);
    if (inited) p_nvmlShutdown();
    inited = 0;
    failed_at = -1; /* the next open tries again */
    if (lib) dlclose(lib);
    lib = NULL;
    pthread_mutex_unlock(&lock);
}

static int count_locked(unsigned *n, cl_error_t *err)
{
    if (open_locked(err) < 0) return -1;
    nvmlReturn_t r = p_nvmlDeviceGetCount_v2(n);
    if (r != NVML_SUCCESS) {
        cl_err(err, "nvmlDeviceGetCount failed: %s", nvml_strerror(r));
        return -1;
    }
    if (*n > CL_NVML_MAX_GPUS) *n = CL_NVML_MAX_GPUS;
    return 0;
}

int cl_nvml_count(cl_error_t *err)
{
    unsigned n = 0;
    pthread_mutex_lock(&lock);
    int rc = count_locked(&n, err);
    pthread_mutex_unlock(&lock);
    return rc < 0 ? -1 : (int)n;
}

/* Copy an NVML string, always terminated, whatever the library wrote. */
static void copy_str(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t n = strnlen(src, srclen);
    if (n >= dstlen) n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void format_uuid(const unsigned char u[16], char *out, size_t outlen)
{
    int zero = 1;
    for (int i = 0; i < 16; i++)
        zero &= u[i] == 0;
    if (zero) {
        out[0] = '\0';
        return;
    }
    snprintf(out, outlen,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

static void fabric_locked(nvmlDevice_t dev, cl_gpu_fabric_t *out)
{
    nvmlGpuFabricInfo_t fi;
    memset(&fi, 0, sizeof(fi));
    memset(out, 0, sizeof(*out));
    if (p_nvmlDeviceGetGpuFabricInfo(dev, &fi) != NVML_SUCCESS ||
        fi.state == NVML_GPU_FABRIC_STATE_NOT_SUPPORTED)
        return;
    out->supported = 1;
    out->state = fi.state;
    out->status = (uint32_t)fi.status;
    out->clique_id = fi.cliqueId;
    format_uuid(fi.clusterUuid, out->cluster_uuid, sizeof(out->cluster_uuid));
}

static int inv_one_locked(unsigned i, cl_gpu_inv_t *g)
{
    nvmlDevice_t dev;
    if (p_nvmlDeviceGetHandleByIndex_v2(i, &dev) != NVML_SUCCESS) return -1;
    memset(g, 0, sizeof(*g));
    g->index = i;
    char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    memset(buf, 0, sizeof(buf));
    if (p_nvmlDeviceGetName(dev, buf, sizeof(buf)) != NVML_SUCCESS)
        return -1; /* a GPU that cannot say its name is not usable */
    copy_str(g->name, sizeof(g->name), buf, sizeof(buf));
    memset(buf, 0, sizeof(buf));
    if (p_nvmlDeviceGetUUID(dev, buf, sizeof(buf)) != NVML_SUCCESS) return -1;
    copy_str(g->uuid, sizeof(g->uuid), buf, sizeof(buf));
    nvmlPciInfo_t pci;
    memset(&pci, 0, sizeof(pci));
    if (p_nvmlDeviceGetPciInfo_v3(dev, &pci) == NVML_SUCCESS)
        copy_str(g->pci_bus_id, sizeof(g->pci_bus_id), pci.busId, sizeof(pci.busId));
    nvmlMemory_t mem;
    if (p_nvmlDeviceGetMemoryInfo(dev, &mem) == NVML_SUCCESS) g->mem_total_bytes = mem.total;
    unsigned mw;
    if (p_nvmlDeviceGetEnforcedPowerLimit(dev, &mw) == NVML_SUCCESS) g->power_limit_mw = mw;
    nvmlEnableState_t cur, pend;
    g->ecc_enabled = p_nvmlDeviceGetEccMode(dev, &cur, &pend) == NVML_SUCCESS
                         ? cur == NVML_FEATURE_ENABLED
                         : -1;
    cl_gpu_fabric_t fab;
    fabric_locked(dev, &fab);
    if (fab.supported && fab.state == NVML_GPU_FABRIC_STATE_COMPLETED && fab.status == 0)
        snprintf(g->clique, sizeof(g->clique), "%s/%u",
                 fab.cluster_uuid[0] ? fab.cluster_uuid : "0", fab.clique_id);
    return 0;
}

int cl_nvml_inventory(cl_gpu_inv_t *out, int max, cl_error_t *err)
{
    unsigned n = 0;
    int got = 0;
    pthread_mutex_lock(&lock);
    if (count_locked(&n, err) < 0) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        cl_gpu_inv_t g;
        if (inv_one_locked(i, &g) < 0) continue;
        if (got < max && out) out[got] = g;
        got++;
    }
    pthread_mutex_unlock(&lock);
    return got;
}

/* The handle of GPU index of the n that NVML lists: -1 when it is past them, else 0 with *why
 * the handle's status. */
static int handle_of(uint32_t index, unsigned n, nvmlDevice_t *dev, nvmlReturn_t *why,
                     cl_error_t *err)
{
    if (index >= n) {
        cl_err(err, "no GPU %u (NVML lists %u)", index, n);
        return -1;
    }
    *why = p_nvmlDeviceGetHandleByIndex_v2(index, dev);
    return 0;
}

static int handle_locked(uint32_t index, nvmlDevice_t *dev, nvmlReturn_t *why, cl_error_t *err)
{
    unsigned n = 0;
    if (count_locked(&n, err) < 0) return -1;
    return handle_of(index, n, dev, why, err);
}

static int range_locked(nvmlDevice_t dev, uint32_t index, uint32_t *def, uint32_t *lo,
                        uint32_t *hi, cl_error_t *err)
{
    unsigned d, l, h;
    nvmlReturn_t r = p_nvmlDeviceGetPowerManagementDefaultLimit(dev, &d);
    if (r == NVML_SUCCESS) r = p_nvmlDeviceGetPowerManagementLimitConstraints(dev, &l, &h);
    if (r != NVML_SUCCESS)
        return cl_err(err, "GPU %u: no power limit range (%s)", index, nvml_strerror(r));
    *def = d, *lo = l, *hi = h;
    return 0;
}

int cl_nvml_power_range(uint32_t index, uint32_t *def_mw, uint32_t *min_mw, uint32_t *max_mw,
                        cl_error_t *err)
{
    nvmlDevice_t dev = NULL;
    nvmlReturn_t r;
    pthread_mutex_lock(&lock);
    int rc = handle_locked(index, &dev, &r, err);
    if (rc == 0 && r != NVML_SUCCESS) rc = cl_err(err, "GPU %u: %s", index, nvml_strerror(r));
    if (rc == 0) rc = range_locked(dev, index, def_mw, min_mw, max_mw, err);
    pthread_mutex_unlock(&lock);
    return rc;
}

int cl_nvml_power_limit_set(uint32_t index, uint32_t mw, cl_error_t *err)
{
    nvmlDevice_t dev = NULL;
    nvmlReturn_t r;
    uint32_t def, lo, hi;
    pthread_mutex_lock(&lock);
    int rc = handle_locked(index, &dev, &r, err);
    if (rc == 0 && r != NVML_SUCCESS) rc = cl_err(err, "GPU %u: %s", index, nvml_strerror(r));
    if (rc == 0) rc = range_locked(dev, index, &def, &lo, &hi, err);
    if (rc == 0 && !mw) mw = def;
    if (rc == 0 && (mw < lo || mw > hi))
        rc = cl_err(err, "GPU %u takes a power limit of %.1f-%.1f W, not %.1f W", index,
                    lo / 1e3, hi / 1e3, mw / 1e3);
    if (rc == 0 && (r = p_nvmlDeviceSetPowerManagementLimit(dev, mw)) != NVML_SUCCESS)
        rc = cl_err(err, "GPU %u: setting its power limit to %.1f W failed: %s", index,
                    mw / 1e3, nvml_strerror(r));
    pthread_mutex_unlock(&lock);
    return rc;
}

int cl_nvml_sample(uint32_t index, cl_gpu_sample_t *s, cl_error_t *err)
{
    nvmlDevice_t dev = NULL;
    nvmlReturn_t r;
    pthread_mutex_lock(&lock);
    if (handle_locked(index, &dev, &r, err) < 0) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    memset(s, 0, sizeof(*s));
    s->index = index;
    if (r != NVML_SUCCESS) {
        s->lost = 1;
        pthread_mutex_unlock(&lock);
        return 0;
    }
    unsigned u, u2;
    unsigned long long ull, ull2;
    if ((r = p_nvmlDeviceGetPowerUsage(dev, &u)) == NVML_SUCCESS)
        s->power_mw = u, s->valid |= CL_GPU_F_POWER;
    if (r == NVML_ERROR_GPU_IS_LOST) s->lost = 1;
    if (p_nvmlDeviceGetTotalEnergyConsumption(dev, &ull) == NVML_SUCCESS)
        s->energy_mj = ull, s->valid |= CL_GPU_F_ENERGY;
    nvmlFieldValue_t fv = {.fieldId = NVML_FI_DEV_POWER_INSTANT};
    if (p_nvmlDeviceGetFieldValues(dev, 1, &fv) == NVML_SUCCESS &&
        fv.nvmlReturn == NVML_SUCCESS && fv.valueType == NVML_VALUE_TYPE_UNSIGNED_INT)
        s->power_instant_mw = fv.value.uiVal, s->valid |= CL_GPU_F_POWER_INSTANT;
    if (p_nvmlDeviceGetPowerManagementLimit(dev, &u) == NVML_SUCCESS &&
        p_nvmlDeviceGetPowerManagementDefaultLimit(dev, &u2) == NVML_SUCCESS)
        s->power_limit_mw = u, s->power_default_mw = u2, s->valid |= CL_GPU_F_LIMIT;
    if (p_nvmlDeviceGetTemperature(dev, NVML_TEMPERATURE_GPU, &u) == NVML_SUCCESS)
        s->temp_c = u, s->valid |= CL_GPU_F_TEMP;
    nvmlUtilization_t ut;
    if (p_nvmlDeviceGetUtilizationRates(dev, &ut) == NVML_SUCCESS)
        s->util_gpu_pct = ut.gpu, s->util_mem_pct = ut.memory, s->valid |= CL_GPU_F_UTIL;
    nvmlMemory_t mem;
    if (p_nvmlDeviceGetMemoryInfo(dev, &mem) == NVML_SUCCESS)
        s->mem_used_bytes = mem.used, s->mem_total_bytes = mem.total, s->valid |= CL_GPU_F_MEM;
    if (p_nvmlDeviceGetClockInfo(dev, NVML_CLOCK_SM, &u) == NVML_SUCCESS &&
        p_nvmlDeviceGetClockInfo(dev, NVML_CLOCK_MEM, &u2) == NVML_SUCCESS)
        s->sm_clock_mhz = u, s->mem_clock_mhz = u2, s->valid |= CL_GPU_F_CLOCKS;
    if (p_nvmlDeviceGetTotalEccErrors(dev, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC,
                                      &ull) == NVML_SUCCESS &&
        p_nvmlDeviceGetTotalEccErrors(dev, NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
                                      NVML_VOLATILE_ECC, &ull2) == NVML_SUCCESS)
        s->ecc_corrected = ull, s->ecc_uncorrected = ull2, s->valid |= CL_GPU_F_ECC;
    /* Page counts only: addresses are not needed, so a zero-sized query returns the count. */
    unsigned sbe = 0, dbe = 0;
    nvmlEnableState_t pend;
    nvmlReturn_t r1 = p_nvmlDeviceGetRetiredPages(
        dev, NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS, &sbe, NULL);
    nvmlReturn_t r2 = p_nvmlDeviceGetRetiredPages(
        dev, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, &dbe, NULL);
    if ((r1 == NVML_SUCCESS || r1 == NVML_ERROR_INSUFFICIENT_SIZE) &&
        (r2 == NVML_SUCCESS || r2 == NVML_ERROR_INSUFFICIENT_SIZE) &&
        p_nvmlDeviceGetRetiredPagesPendingStatus(dev, &pend) == NVML_SUCCESS) {
        s->retired_sbe = sbe, s->retired_dbe = dbe;
        s->retired_pending = pend == NVML_FEATURE_ENABLED;
        s->valid |= CL_GPU_F_RETIRED;
    }
    unsigned corr, unc, pending, failed;
    if (p_nvmlDeviceGetRemappedRows(dev, &corr, &unc, &pending, &failed) == NVML_SUCCESS) {
        s->remap_corr_rows = corr, s->remap_unc_rows = unc;
        s->remap_pending = pending != 0, s->remap_failure = failed != 0;
        s->valid |= CL_GPU_F_REMAP;
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

int cl_nvml_energy(const uint32_t *index, size_t n, uint64_t *mj, cl_error_t *err)
{
    unsigned listed = 0;
    pthread_mutex_lock(&lock);
    int rc = n ? count_locked(&listed, err) : 0; /* once for the n GPUs */
    for (size_t i = 0; i < n && rc == 0; i++) {
        nvmlDevice_t dev = NULL;
        nvmlReturn_t r;
        unsigned long long v = 0;
        if (handle_of(index[i], listed, &dev, &r, err) < 0)
            rc = -1;
        else if (r != NVML_SUCCESS ||
                 (r = p_nvmlDeviceGetTotalEnergyConsumption(dev, &v)) != NVML_SUCCESS)
            rc = cl_err(err, "GPU %u: no energy counter (%s)", index[i], nvml_strerror(r));
        else
            mj[i] = v;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int cl_nvml_fabric(uint32_t index, cl_gpu_fabric_t *out, cl_error_t *err)
{
    nvmlDevice_t dev = NULL;
    nvmlReturn_t r;
    pthread_mutex_lock(&lock);
    if (handle_locked(index, &dev, &r, err) < 0) {
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (r != NVML_SUCCESS) {
        pthread_mutex_unlock(&lock);
        cl_err(err, "GPU %u: %s", index, nvml_strerror(r));
        return -1;
    }
    fabric_locked(dev, out);
    pthread_mutex_unlock(&lock);
    return 0;
}

struct cl_nvml_events {
    nvmlEventSet_t set;
    unsigned n;
    nvmlDevice_t dev[CL_NVML_MAX_GPUS];
    uint32_t index[CL_NVML_MAX_GPUS];
    char uuid[CL_NVML_MAX_GPUS][96];
};

cl_nvml_events_t *cl_nvml_events_create(int *registered, cl_error_t *err)
{
    unsigned n = 0;
    pthread_mutex_lock(&lock);
    if (count_locked(&n, err) < 0) {
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    cl_nvml_events_t *ev = cl_xcalloc(1, sizeof(*ev));
    nvmlReturn_t r = p_nvmlEventSetCreate(&ev->set);
    if (r != NVML_SUCCESS) {
        pthread_mutex_unlock(&lock);
        free(ev);
        cl_err(err, "nvmlEventSetCreate failed: %s", nvml_strerror(r));
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        nvmlDevice_t dev;
        unsigned long long types = 0;
        if (p_nvmlDeviceGetHandleByIndex_v2(i, &dev) != NVML_SUCCESS ||
            p_nvmlDeviceGetSupportedEventTypes(dev, &types) != NVML_SUCCESS ||
            !(types & nvmlEventTypeXidCriticalError) ||
            p_nvmlDeviceRegisterEvents(dev, nvmlEventTypeXidCriticalError, ev->set) !=
                NVML_SUCCESS)
            continue;
        char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "";
        if (p_nvmlDeviceGetUUID(dev, buf, sizeof(buf)) == NVML_SUCCESS)
            copy_str(ev->uuid[ev->n], sizeof(ev->uuid[0]), buf, sizeof(buf));
        ev->dev[ev->n] = dev;
        ev->index[ev->n] = i;
        ev->n++;
    }
    pthread_mutex_unlock(&lock);
    if (registered) *registered = (int)ev->n;
    return ev;
}

int cl_nvml_events_wait(cl_nvml_events_t *ev, unsigned timeout_ms, cl_gpu_xid_t *out,
                        cl_error_t *err)
{
    nvmlEventData_t d;
    memset(&d, 0, sizeof(d));
    /* NVML's wait is thread-safe on its own; the lock would stall telemetry for timeout_ms. */
    nvmlReturn_t r = p_nvmlEventSetWait_v2(ev->set, &d, timeout_ms);
    if (r == NVML_ERROR_TIMEOUT) return 0;
    if (r != NVML_SUCCESS) {
        cl_err(err, "nvmlEventSetWait failed: %s", nvml_strerror(r));
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->index = UINT32_MAX;
    for (unsigned i = 0; i < ev->n; i++)
        if (ev->dev[i] == d.device) {
            out->index = ev->index[i];
            memcpy(out->uuid, ev->uuid[i], sizeof(out->uuid));
        }
    out->xid = d.eventType == nvmlEventTypeXidCriticalError ? d.eventData : 0;
    return 1;
}

void cl_nvml_events_destroy(cl_nvml_events_t *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&lock);
    if (inited) p_nvmlEventSetFree(ev->set);
    pthread_mutex_unlock(&lock);
    free(ev);
}
