/* fakenvml.c - a fake libnvidia-ml.so.1 for tests: the NVML calls Colossus uses, answering from
 * a script of values named by $COLOSSUS_FAKE_NVML (re-read on every call, so a test changes
 * values by rewriting the file while a daemon runs).
 *
 * Script, one setting a line, '#' starts a comment:
 *   init N                 nvmlInit_v2 returns N (e.g. 9: driver not loaded); default 0
 *   gpus N                 nvmlDeviceGetCount_v2 answers N (at most 16)
 *   gpu I KEY VALUE        a value of GPU I; a key never given answers NVML_ERROR_NOT_SUPPORTED
 *   event I XID            an XID event on GPU I, delivered once, in file order
 * Keys: name (rest of the line), uuid, pci, mem_total, mem_used, power_limit, ecc (0/1), power,
 * energy, temp, util_gpu, util_mem, sm_clock, mem_clock, ecc_corr, ecc_unc, retired_sbe,
 * retired_dbe, retired_pending, remap_corr, remap_unc, remap_pending, remap_failure,
 * fabric_state, fabric_status, fabric_clique, fabric_cluster (32 hex digits), events (0: the
 * GPU cannot report XIDs), lost (1: every call on it answers NVML_ERROR_GPU_IS_LOST).
 * Remap and retired-page fields count as supported once any of their keys is given.
 * The total-energy counter of a GPU with `power` and no `energy` is, as on a real board, the
 * integral of its power over time (millijoules, from the first call of this process on): the
 * power read from the script at one call counts until the next call, so a test that sets a
 * power and lets time pass sees the counter grow by power x time, never backwards. `energy E`
 * instead pins the counter to E (a test of the telemetry's figures).
 * Power limits (issue 13): `power_min`, `power_max` and `power_default` (mW) are the GPU's
 * limit constraints and default limit; with them nvmlDeviceSetPowerManagementLimit takes a
 * limit in [min, max] (else NVML_ERROR_INVALID_ARGUMENT, nothing changed) and keeps it in a
 * state file, $COLOSSUS_FAKE_NVML_STATE or else the script's path + ".state", one line
 * "gpu I limit MW" per GPU whose limit is not the default, so that the limit outlives the
 * process as a real driver's does (a test reads what an agent set, also after kill -9).
 * The limit in force caps the power a GPU reports: `power` is what its load would draw, the
 * reading is the lesser of it and the limit (and the energy counter integrates that).
 * As on Ampere and newer, nvmlDeviceGetPowerUsage (and the field NVML_FI_DEV_POWER_AVERAGE)
 * answers that power averaged over the last second, the field NVML_FI_DEV_POWER_INSTANT the
 * power now: a change of the script's `power` (or of the limit) shows at once in the
 * instantaneous field and over one second in the average (before its first reading the GPU
 * counts as having drawn that first power all along).
 * The floor burn (issue 13): the fake burn library's cl_burn_floor writes the state file's
 * path + ".burn", one line "UUID INTENSITY PID" per GPU burning (while PID lives: a burn dies
 * with its process); a GPU burning at intensity x draws
 * its load's power p plus x of the rest up to its largest limit (power_max, else its default
 * limit): p + x (max - p), capped by the limit in force as any load.
 * Without $COLOSSUS_FAKE_NVML the library plays a machine with no GPU. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/nvml_abi.h"

#define API __attribute__((visibility("default")))
#define MAXG 16

enum key {
    K_MEM_TOTAL,
    K_MEM_USED,
    K_POWER_LIMIT,
    K_ECC,
    K_POWER,
    K_ENERGY,
    K_TEMP,
    K_UTIL_GPU,
    K_UTIL_MEM,
    K_SM_CLOCK,
    K_MEM_CLOCK,
    K_ECC_CORR,
    K_ECC_UNC,
    K_RETIRED_SBE,
    K_RETIRED_DBE,
    K_RETIRED_PENDING,
    K_REMAP_CORR,
    K_REMAP_UNC,
    K_REMAP_PENDING,
    K_REMAP_FAILURE,
    K_FABRIC_STATE,
    K_FABRIC_STATUS,
    K_FABRIC_CLIQUE,
    K_EVENTS,
    K_LOST,
    K_POWER_MIN,
    K_POWER_MAX,
    K_POWER_DEFAULT,
    K_N
};
static const char *const key_names[K_N] = {
    "mem_total",       "mem_used",      "power_limit",   "ecc",           "power",
    "energy",          "temp",          "util_gpu",      "util_mem",      "sm_clock",
    "mem_clock",       "ecc_corr",      "ecc_unc",       "retired_sbe",   "retired_dbe",
    "retired_pending", "remap_corr",    "remap_unc",     "remap_pending", "remap_failure",
    "fabric_state",    "fabric_status", "fabric_clique", "events",        "lost",
    "power_min",       "power_max",     "power_default"};

struct gpu {
    char name[96], uuid[96], pci[32];
    int has_name, has_uuid, has_pci, has_cluster;
    unsigned char cluster[16];
    int has[K_N];
    unsigned long long v[K_N];
};

static struct {
    int init_rc;
    unsigned ngpus;
    struct gpu g[MAXG];
    unsigned nevents;
    unsigned ev_gpu[256];
    unsigned long long ev_xid[256];
} S;

/* The limit set on each GPU (0: the default), from the state file. */
static unsigned limit_mw[MAXG];

static const char *state_path(char *buf, size_t len)
{
    const char *st = getenv("COLOSSUS_FAKE_NVML_STATE"), *sc = getenv("COLOSSUS_FAKE_NVML");
    if (st && *st) return st;
    if (!sc || !*sc) return NULL;
    snprintf(buf, len, "%s.state", sc);
    return buf;
}

static void read_state(void)
{
    char buf[4096];
    const char *path = state_path(buf, sizeof buf);
    memset(limit_mw, 0, sizeof limit_mw);
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char line[128];
    unsigned i, mw;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "gpu %u limit %u", &i, &mw) == 2 && i < MAXG) limit_mw[i] = mw;
    fclose(f);
}

/* Rewritten whole through a rename, so that a reader never sees half of it. */
static int write_state(void)
{
    char buf[4096], tmp[4200];
    const char *path = state_path(buf, sizeof buf);
    if (!path) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    for (unsigned i = 0; i < MAXG; i++)
        if (limit_mw[i]) fprintf(f, "gpu %u limit %u\n", i, limit_mw[i]);
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

/* The burn's intensity on each GPU (0: none), from the burn file. */
static double burn_x[MAXG];

static const char *uuid_of(const struct gpu *g, unsigned i, char *buf, size_t len);

static void read_burn(void)
{
    char buf[4096], path[4200];
    const char *st = state_path(buf, sizeof buf);
    memset(burn_x, 0, sizeof burn_x);
    if (!st) return;
    snprintf(path, sizeof path, "%s.burn", st);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[256], u[128], mine[96];
    double x;
    long pid;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %lf %ld", u, &x, &pid) == 3 && pid > 0 &&
            (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            for (unsigned i = 0; i < S.ngpus; i++)
                if (!strcmp(uuid_of(&S.g[i], i, mine, sizeof mine), u)) burn_x[i] = x;
    fclose(f);
}

/* The limit in force: the one set, else the default (power_default, else power_limit). */
static unsigned limit_of(const struct gpu *g, unsigned i)
{
    if (limit_mw[i]) return limit_mw[i];
    if (g->has[K_POWER_DEFAULT]) return (unsigned)g->v[K_POWER_DEFAULT];
    return g->has[K_POWER_LIMIT] ? (unsigned)g->v[K_POWER_LIMIT] : 0;
}

/* The power a GPU reports: its load's (and its burn's), capped by the limit in force. */
static unsigned power_of(const struct gpu *g, unsigned i)
{
    unsigned p = (unsigned)g->v[K_POWER], lim = limit_of(g, i);
    unsigned full = g->has[K_POWER_MAX] ? (unsigned)g->v[K_POWER_MAX] : limit_of(g, i);
    if (burn_x[i] > 0 && full > p) p += (unsigned)(burn_x[i] * (full - p) + 0.5);
    return lim && p > lim ? lim : p;
}

/* The energy integral of each GPU, kept outside S: (power at the last load) x (time since). */
static double energy_acc_mj[MAXG];
static unsigned power_then_mw[MAXG];
static int power_known[MAXG];
static struct timespec then;

static int initialised;
static int registered[MAXG]; /* kept outside S, which load() rebuilds on every call */
static unsigned delivered;   /* events handed out so far, in file order */
static int event_set;        /* the one event set this fake hands out */

/* Add the energy used since the last load at the power that load read. */
static void integrate(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - then.tv_sec) + (double)(now.tv_nsec - then.tv_nsec) / 1e9;
    if (then.tv_sec == 0 && then.tv_nsec == 0) dt = 0;
    then = now;
    for (unsigned i = 0; i < MAXG; i++)
        if (power_known[i] && dt > 0) energy_acc_mj[i] += (double)power_then_mw[i] * dt;
}

/* Each GPU's power since its first reading: the changes, newest last, for the 1 s average. */
#define HIST 64
static struct {
    double t;
    unsigned mw;
} hist[MAXG][HIST];
static unsigned hist_n[MAXG];

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The power just read counts from now until the next load. */
static void note_power(void)
{
    double now = mono_s();
    for (unsigned i = 0; i < MAXG; i++) {
        power_known[i] = i < S.ngpus && S.g[i].has[K_POWER];
        power_then_mw[i] = power_known[i] ? power_of(&S.g[i], i) : 0;
        if (!power_known[i] || (hist_n[i] && hist[i][hist_n[i] - 1].mw == power_then_mw[i]))
            continue;
        if (hist_n[i] == HIST) { /* the oldest change goes */
            memmove(&hist[i][0], &hist[i][1], (HIST - 1) * sizeof hist[i][0]);
            hist_n[i]--;
        }
        hist[i][hist_n[i]].t = now;
        hist[i][hist_n[i]++].mw = power_then_mw[i];
    }
}

/* GPU i's power averaged over the last second, mW. */
static unsigned power_avg(unsigned i)
{
    double now = mono_s(), from = now - 1, end = now, mj = 0;
    for (unsigned k = hist_n[i]; k-- > 0;) {
        double start = k ? hist[i][k].t : from; /* the first power: all along */
        if (start < from) start = from;
        if (end > start) mj += (double)hist[i][k].mw * (end - start);
        end = start;
        if (start <= from) break;
    }
    return (unsigned)(mj + 0.5);
}

static void read_script(void)
{
    memset(&S, 0, sizeof(S));
    const char *path = getenv("COLOSSUS_FAKE_NVML");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n#")] = '\0';
        char word[32], key[32];
        unsigned idx;
        unsigned long long val;
        int off = 0;
        if (sscanf(line, "%31s", word) != 1) continue;
        if (!strcmp(word, "init") && sscanf(line, "%*s %d", &S.init_rc) == 1) continue;
        if (!strcmp(word, "gpus") && sscanf(line, "%*s %u", &S.ngpus) == 1) {
            if (S.ngpus > MAXG) S.ngpus = MAXG;
            continue;
        }
        if (!strcmp(word, "event") && sscanf(line, "%*s %u %llu", &idx, &val) == 2) {
            if (S.nevents < 256) {
                S.ev_gpu[S.nevents] = idx;
                S.ev_xid[S.nevents++] = val;
            }
            continue;
        }
        if (strcmp(word, "gpu") || sscanf(line, "%*s %u %31s %n", &idx, key, &off) != 2 ||
            idx >= MAXG || !off)
            continue;
        struct gpu *g = &S.g[idx];
        const char *rest = line + off;
        if (!strcmp(key, "name")) {
            snprintf(g->name, sizeof(g->name), "%s", rest);
            g->has_name = 1;
        } else if (!strcmp(key, "uuid")) {
            snprintf(g->uuid, sizeof(g->uuid), "%s", rest);
            g->has_uuid = 1;
        } else if (!strcmp(key, "pci")) {
            snprintf(g->pci, sizeof(g->pci), "%s", rest);
            g->has_pci = 1;
        } else if (!strcmp(key, "fabric_cluster")) {
            for (int i = 0; i < 16 && sscanf(rest + 2 * i, "%2hhx", &g->cluster[i]) == 1; i++)
                ;
            g->has_cluster = 1;
        } else {
            for (int k = 0; k < K_N; k++)
                if (!strcmp(key, key_names[k]) && sscanf(rest, "%llu", &val) == 1) {
                    g->has[k] = 1;
                    g->v[k] = val;
                }
        }
    }
    fclose(f);
}

/* Every call re-reads the script; the events thread calls it too, outside the loader's lock:
 * one at a time, so that the energy integral only grows. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static void load(void)
{
    pthread_mutex_lock(&load_lock);
    integrate(); /* at the power of the script as last read */
    read_script();
    read_state();
    read_burn();
    note_power();
    pthread_mutex_unlock(&load_lock);
}

/* Handles are pointers into a static array, as real NVML's are opaque pointers. */
static char handles[MAXG];

static struct gpu *dev(nvmlDevice_t d, nvmlReturn_t *r)
{
    load();
    *r = NVML_SUCCESS;
    if (!initialised) {
        *r = NVML_ERROR_UNINITIALIZED;
        return NULL;
    }
    char *p = (char *)d;
    if (p < handles || p >= handles + MAXG || (unsigned)(p - handles) >= S.ngpus) {
        *r = NVML_ERROR_INVALID_ARGUMENT;
        return NULL;
    }
    struct gpu *g = &S.g[p - handles];
    if (g->has[K_LOST] && g->v[K_LOST]) {
        *r = NVML_ERROR_GPU_IS_LOST;
        return NULL;
    }
    return g;
}

#define DEV(g, d)                                                                              \
    nvmlReturn_t r_;                                                                           \
    struct gpu *g = dev(d, &r_);                                                               \
    if (!g) return r_;

/* Answer one numeric key, or NOT_SUPPORTED when the script never set it. */
#define ANSWER(g, k, out)                                                                      \
    do {                                                                                       \
        if (!(out)) return NVML_ERROR_INVALID_ARGUMENT;                                        \
        if (!(g)->has[k]) return NVML_ERROR_NOT_SUPPORTED;                                     \
        *(out) = (g)->v[k];                                                                    \
        return NVML_SUCCESS;                                                                   \
    } while (0)

API nvmlReturn_t nvmlInit_v2(void)
{
    load();
    if (S.init_rc) return S.init_rc;
    initialised = 1;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlShutdown(void)
{
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    initialised = 0;
    delivered = 0; /* a test re-opening NVML with a new script starts from its first event */
    memset(registered, 0, sizeof(registered));
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    load();
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = S.ngpus;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *d)
{
    load();
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (!d || index >= S.ngpus) return NVML_ERROR_INVALID_ARGUMENT;
    if (S.g[index].has[K_LOST] && S.g[index].v[K_LOST]) return NVML_ERROR_GPU_IS_LOST;
    *d = (nvmlDevice_t)&handles[index];
    return NVML_SUCCESS;
}

static nvmlReturn_t put_str(const char *s, char *out, unsigned int len)
{
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(s) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
    DEV(g, d);
    return put_str(g->has_name ? g->name : "Fake GPU", name, len);
}

static const char *uuid_of(const struct gpu *g, unsigned i, char *buf, size_t len)
{
    if (g->has_uuid) return g->uuid;
    snprintf(buf, len, "GPU-fake-%02u", i);
    return buf;
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len)
{
    DEV(g, d);
    char def[64];
    return put_str(uuid_of(g, (unsigned)(g - S.g), def, sizeof def), uuid, len);
}

API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    DEV(g, d);
    if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has_pci) return NVML_ERROR_NOT_SUPPORTED;
    memset(pci, 0, sizeof(*pci));
    snprintf(pci->busId, sizeof(pci->busId), "%s", g->pci);
    unsigned dom = 0, bus = 0, devn = 0;
    sscanf(g->pci, "%x:%x:%x", &dom, &bus, &devn);
    pci->domain = dom, pci->bus = bus, pci->device = devn;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    DEV(g, d);
    if (!m) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_MEM_TOTAL]) return NVML_ERROR_NOT_SUPPORTED;
    m->total = g->v[K_MEM_TOTAL];
    m->used = g->v[K_MEM_USED];
    m->free = m->total > m->used ? m->total - m->used : 0;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw)
{
    DEV(g, d);
    if (!mw) return NVML_ERROR_INVALID_ARGUMENT;
    if (!limit_of(g, (unsigned)(g - S.g))) return NVML_ERROR_NOT_SUPPORTED;
    *mw = limit_of(g, (unsigned)(g - S.g));
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *mw)
{
    return nvmlDeviceGetEnforcedPowerLimit(d, mw);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *mw)
{
    DEV(g, d);
    ANSWER(g, K_POWER_DEFAULT, mw);
}

API nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t d, unsigned int *lo,
                                                              unsigned int *hi)
{
    DEV(g, d);
    if (!lo || !hi) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_POWER_MIN] || !g->has[K_POWER_MAX]) return NVML_ERROR_NOT_SUPPORTED;
    *lo = (unsigned)g->v[K_POWER_MIN];
    *hi = (unsigned)g->v[K_POWER_MAX];
    return NVML_SUCCESS;
}

/* As NVML: a limit outside the constraints is refused; the default's value clears the
 * state line (the limit is the default again). */
API nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t d, unsigned int mw)
{
    DEV(g, d);
    if (!g->has[K_POWER_MIN] || !g->has[K_POWER_MAX] || !g->has[K_POWER_DEFAULT])
        return NVML_ERROR_NOT_SUPPORTED;
    if (mw < g->v[K_POWER_MIN] || mw > g->v[K_POWER_MAX]) return NVML_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&load_lock);
    integrate(); /* the energy so far at the old limit */
    limit_mw[g - S.g] = mw == g->v[K_POWER_DEFAULT] ? 0 : mw;
    int rc = write_state();
    note_power();
    pthread_mutex_unlock(&load_lock);
    return rc == 0 ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

API nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t d, nvmlEnableState_t *cur,
                                      nvmlEnableState_t *pend)
{
    DEV(g, d);
    if (!cur || !pend) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_ECC]) return NVML_ERROR_NOT_SUPPORTED;
    *cur = *pend = g->v[K_ECC] ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    DEV(g, d);
    if (!mw) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_POWER]) return NVML_ERROR_NOT_SUPPORTED;
    *mw = power_avg((unsigned)(g - S.g));
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int count, nvmlFieldValue_t *values)
{
    DEV(g, d);
    if (count < 0 || (count && !values)) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned i = (unsigned)(g - S.g);
    for (int k = 0; k < count; k++) {
        nvmlFieldValue_t *f = &values[k];
        f->timestamp = (long long)(mono_s() * 1e6);
        f->latencyUsec = 0;
        f->nvmlReturn = NVML_SUCCESS;
        f->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
        if (!g->has[K_POWER] || (f->fieldId != NVML_FI_DEV_POWER_INSTANT &&
                                 f->fieldId != NVML_FI_DEV_POWER_AVERAGE))
            f->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        else
            f->value.uiVal =
                f->fieldId == NVML_FI_DEV_POWER_INSTANT ? power_of(g, i) : power_avg(i);
    }
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *mj)
{
    DEV(g, d);
    if (!mj) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_ENERGY] && g->has[K_POWER]) {
        *mj = (unsigned long long)energy_acc_mj[g - S.g];
        return NVML_SUCCESS;
    }
    ANSWER(g, K_ENERGY, mj);
}

API nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *t)
{
    DEV(g, d);
    if (sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
    ANSWER(g, K_TEMP, t);
}

API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
    DEV(g, d);
    if (!u) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_UTIL_GPU]) return NVML_ERROR_NOT_SUPPORTED;
    u->gpu = g->v[K_UTIL_GPU];
    u->memory = g->v[K_UTIL_MEM];
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *mhz)
{
    DEV(g, d);
    if (type == NVML_CLOCK_SM) ANSWER(g, K_SM_CLOCK, mhz);
    if (type == NVML_CLOCK_MEM) ANSWER(g, K_MEM_CLOCK, mhz);
    return NVML_ERROR_INVALID_ARGUMENT;
}

API nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int errtype, int countertype,
                                             unsigned long long *count)
{
    DEV(g, d);
    if (countertype != NVML_VOLATILE_ECC && countertype != NVML_AGGREGATE_ECC)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (errtype == NVML_MEMORY_ERROR_TYPE_CORRECTED) ANSWER(g, K_ECC_CORR, count);
    if (errtype == NVML_MEMORY_ERROR_TYPE_UNCORRECTED) ANSWER(g, K_ECC_UNC, count);
    return NVML_ERROR_INVALID_ARGUMENT;
}

static int has_retired(const struct gpu *g)
{
    return g->has[K_RETIRED_SBE] || g->has[K_RETIRED_DBE] || g->has[K_RETIRED_PENDING];
}

API nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t d, int cause, unsigned int *count,
                                           unsigned long long *addrs)
{
    DEV(g, d);
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    if (!has_retired(g)) return NVML_ERROR_NOT_SUPPORTED;
    unsigned n =
        (unsigned)
            g->v[cause == NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR ? K_RETIRED_DBE
                                                                          : K_RETIRED_SBE];
    /* As NVML: a buffer too small for the pages answers the count and INSUFFICIENT_SIZE. */
    unsigned room = *count;
    *count = n;
    if (room < n) return NVML_ERROR_INSUFFICIENT_SIZE;
    for (unsigned i = 0; addrs && i < n; i++)
        addrs[i] = 0x1000ull * (i + 1);
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t d, nvmlEnableState_t *p)
{
    DEV(g, d);
    if (!p) return NVML_ERROR_INVALID_ARGUMENT;
    if (!has_retired(g)) return NVML_ERROR_NOT_SUPPORTED;
    *p = g->v[K_RETIRED_PENDING] ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t d, unsigned int *corr,
                                           unsigned int *unc, unsigned int *pending,
                                           unsigned int *failed)
{
    DEV(g, d);
    if (!corr || !unc || !pending || !failed) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_REMAP_CORR] && !g->has[K_REMAP_UNC] && !g->has[K_REMAP_PENDING] &&
        !g->has[K_REMAP_FAILURE])
        return NVML_ERROR_NOT_SUPPORTED;
    *corr = g->v[K_REMAP_CORR], *unc = g->v[K_REMAP_UNC];
    *pending = g->v[K_REMAP_PENDING], *failed = g->v[K_REMAP_FAILURE];
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetGpuFabricInfo(nvmlDevice_t d, nvmlGpuFabricInfo_t *fi)
{
    DEV(g, d);
    if (!fi) return NVML_ERROR_INVALID_ARGUMENT;
    if (!g->has[K_FABRIC_STATE]) return NVML_ERROR_NOT_SUPPORTED;
    memset(fi, 0, sizeof(*fi));
    memcpy(fi->clusterUuid, g->cluster, sizeof(fi->clusterUuid));
    fi->status = (nvmlReturn_t)g->v[K_FABRIC_STATUS];
    fi->cliqueId = (unsigned)g->v[K_FABRIC_CLIQUE];
    fi->state = (unsigned char)g->v[K_FABRIC_STATE];
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types)
{
    DEV(g, d);
    if (!types) return NVML_ERROR_INVALID_ARGUMENT;
    *types = g->has[K_EVENTS] && !g->v[K_EVENTS] ? 0 : nvmlEventTypeXidCriticalError | 0x3ull;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (!set) return NVML_ERROR_INVALID_ARGUMENT;
    *set = (nvmlEventSet_t)&event_set;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                          nvmlEventSet_t set)
{
    DEV(g, d);
    if (set != (nvmlEventSet_t)&event_set) return NVML_ERROR_INVALID_ARGUMENT;
    if (g->has[K_EVENTS] && !g->v[K_EVENTS]) return NVML_ERROR_NOT_SUPPORTED;
    if (types & nvmlEventTypeXidCriticalError) registered[g - S.g] = 1;
    return NVML_SUCCESS;
}

API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                     unsigned int timeout_ms)
{
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (set != (nvmlEventSet_t)&event_set || !data) return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned waited = 0;; waited += 10) {
        load();
        while (delivered < S.nevents) {
            unsigned i = delivered++;
            unsigned gi = S.ev_gpu[i];
            if (gi >= S.ngpus || !registered[gi])
                continue; /* as NVML: events on GPUs not registered are not seen */
            memset(data, 0, sizeof(*data));
            data->device = (nvmlDevice_t)&handles[gi];
            data->eventType = nvmlEventTypeXidCriticalError;
            data->eventData = S.ev_xid[i];
            data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFFu;
            return NVML_SUCCESS;
        }
        if (waited >= timeout_ms) return NVML_ERROR_TIMEOUT;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    if (set != (nvmlEventSet_t)&event_set) return NVML_ERROR_INVALID_ARGUMENT;
    memset(registered, 0, sizeof(registered));
    return NVML_SUCCESS;
}
