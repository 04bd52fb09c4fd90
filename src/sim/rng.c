/* rng.c - the simulator's own PRNG (xoshiro256**, seeded by splitmix64): reproducible
 * on every platform, unlike rand(). */
#include <math.h>

#include "sim/sim.h"
#include "util/util.h"

void cl_rng_seed(cl_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = cl_rand_next(&x); /* splitmix64 */
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t cl_rng_next(cl_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cl_rng_uniform(cl_rng_t *r)
{
    return (double)(cl_rng_next(r) >> 11) * 0x1.0p-53;
}

double cl_rng_exp(cl_rng_t *r, double mean)
{
    /* 1 - u lies in (0, 1], so the log is finite */
    return -mean * log(1.0 - cl_rng_uniform(r));
}

uint64_t cl_rng_below(cl_rng_t *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased */
    uint64_t x = cl_rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = cl_rng_next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
