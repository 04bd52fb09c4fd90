/* rate.c - token buckets by key in a bounded, set-associative table (rate.h). */
#include "util/rate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

typedef struct entry {
    uint64_t key; /* the key's hash; 0: empty */
    uint64_t last_ms;
    double tokens; /* at last_ms */
} entry_t;

struct cl_rate {
    double per_ms, burst;
    uint64_t seed;
    uint32_t mask; /* sets - 1 */
    entry_t *e;    /* sets * CL_RATE_WAYS */
};

cl_rate_t *cl_rate_create(double per_s, double burst, uint32_t sets, uint64_t seed)
{
    uint32_t n = 1;
    while (n < sets && n < (1u << 24))
        n <<= 1;
    cl_rate_t *r = cl_xcalloc(1, sizeof *r);
    r->per_ms = per_s / 1000.0;
    r->burst = burst < 1 ? 1 : burst;
    r->seed = seed;
    r->mask = n - 1;
    r->e = cl_xcalloc((size_t)n * CL_RATE_WAYS, sizeof *r->e);
    return r;
}

void cl_rate_destroy(cl_rate_t *r)
{
    if (!r) return;
    free(r->e);
    free(r);
}

/* FNV-1a, then a finaliser (splitmix64's) over it and the seed: keys are names and
 * addresses, short; the seed keeps their sets unpredictable. Never 0 (the empty mark). */
static uint64_t hash(const cl_rate_t *r, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= r->seed;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

/* e's tokens at now (the clock may not go back: an earlier now refills nothing) */
static double refilled(const cl_rate_t *r, const entry_t *e, uint64_t now_ms)
{
    double t =
        e->tokens + (now_ms > e->last_ms ? (double)(now_ms - e->last_ms) : 0) * r->per_ms;
    return t < r->burst ? t : r->burst;
}

bool cl_rate_take(cl_rate_t *r, const void *key, size_t len, uint64_t now_ms,
                  uint64_t *retry_ms)
{
    uint64_t k = hash(r, key, len);
    entry_t *set = &r->e[(size_t)((k >> 32) & r->mask) * CL_RATE_WAYS], *e = NULL,
            *victim = NULL;
    double best = -1;
    for (int i = 0; i < CL_RATE_WAYS && !e; i++) {
        if (set[i].key == k) {
            e = &set[i];
        } else {
            double t = set[i].key ? refilled(r, &set[i], now_ms) : r->burst + 1;
            if (t > best) best = t, victim = &set[i];
        }
    }
    if (!e) {
        e = victim;
        *e = (entry_t){.key = k, .last_ms = now_ms, .tokens = r->burst};
    }
    e->tokens = refilled(r, e, now_ms);
    if (now_ms > e->last_ms) e->last_ms = now_ms;
    if (e->tokens >= 1 - 1e-9) {
        e->tokens -= 1;
        return true;
    }
    double ms = ceil((1 - e->tokens) / r->per_ms - 1e-6); /* 0.99 / 0.01 is 1.0000000001 */
    *retry_ms = ms < 1 ? 1 : (uint64_t)ms;
    return false;
}

size_t cl_rate_used(const cl_rate_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i <= r->mask; i++)
        for (int w = 0; w < CL_RATE_WAYS; w++)
            n += r->e[i * CL_RATE_WAYS + w].key != 0;
    return n;
}
