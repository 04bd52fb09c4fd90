/* test_rate.c - the token buckets of src/util/rate.c on a fake clock: a burst, the refill and
 * the wait it gives, keys apart, a clock going back, and the bounded table (a full set keeps
 * its emptied buckets and forgets the fullest, which changes nothing for it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/rate.h"

static bool take(cl_rate_t *r, const char *key, uint64_t now, uint64_t *retry)
{
    return cl_rate_take(r, key, strlen(key), now, retry);
}

static void test_burst_and_refill(void **state)
{
    (void)state;
    cl_rate_t *r = cl_rate_create(10, 20, 64, 7); /* 10/s, a burst of 20 */
    uint64_t retry = 0, t = 1000000;
    for (int i = 0; i < 20; i++)
        assert_true(take(r, "alice", t, &retry));
    assert_false(take(r, "alice", t, &retry));
    assert_int_equal(retry, 100); /* a token every 100 ms */
    assert_false(take(r, "alice", t + 99, &retry));
    assert_int_equal(retry, 1);
    assert_true(take(r, "alice", t + 100, &retry));
    assert_false(take(r, "alice", t + 100, &retry));
    /* a second later: 10 tokens, not more */
    int n = 0;
    while (take(r, "alice", t + 1100, &retry))
        n++;
    assert_int_equal(n, 10);
    /* long idle: refilled to the burst, not beyond */
    n = 0;
    while (take(r, "alice", t + 1000000, &retry))
        n++;
    assert_int_equal(n, 20);
    cl_rate_destroy(r);
}

static void test_keys_apart(void **state)
{
    (void)state;
    cl_rate_t *r = cl_rate_create(1, 2, 64, 7);
    uint64_t retry, t = 5000;
    assert_true(take(r, "alice", t, &retry));
    assert_true(take(r, "alice", t, &retry));
    assert_false(take(r, "alice", t, &retry));
    assert_int_equal(retry, 1000);
    assert_true(take(r, "bob", t, &retry)); /* another principal is served meanwhile */
    assert_true(take(r, "127.0.0.1", t, &retry));
    /* the clock going back refills nothing and breaks nothing */
    assert_false(take(r, "alice", t - 4000, &retry));
    assert_true(take(r, "alice", t + 1000, &retry));
    cl_rate_destroy(r);
}

static void test_bounded(void **state)
{
    (void)state;
    /* one set: CL_RATE_WAYS entries in all */
    cl_rate_t *r = cl_rate_create(1, 2, 1, 7);
    uint64_t retry, t = 10000;
    assert_true(take(r, "flood", t, &retry));
    assert_true(take(r, "flood", t, &retry));
    assert_false(take(r, "flood", t, &retry));
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "other-%d", i);
        assert_true(take(r, k, t, &retry)); /* each new key: a full bucket */
    }
    assert_int_equal(cl_rate_used(r), CL_RATE_WAYS);
    /* the emptied bucket was never the fullest: still empty */
    assert_false(take(r, "flood", t, &retry));
    /* once idle burst/rate seconds it is full, as a forgotten one would be */
    assert_true(take(r, "flood", t + 2000, &retry));
    assert_true(take(r, "flood", t + 2000, &retry));
    assert_false(take(r, "flood", t + 2000, &retry));
    cl_rate_destroy(r);
    cl_rate_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_keys_apart),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
