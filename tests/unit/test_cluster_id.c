/* test_cluster_id.c - the agent's cluster identity (src/agent/cluster_id.h): the decision on
 * each Registered, WORK/cluster-id read at start and written when an id is adopted, the
 * log lines of each case (a refusal once, then at most once a minute), and the operator's
 * way out (removing the file). Independent of the controller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cluster_id.h"
#include "util/util.h"

#define OURS 0x00c0ffee12345678ull
#define THEIRS 0x7e57000000000abcull

struct fx {
    char dir[256], file[300];
    char log[64];
    int logfd, saved;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/cl-cid-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->file, sizeof f->file, "%s/cluster-id", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->file);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The agent's log lines (stderr) between capture() and captured(); caller frees. */
static void capture(struct fx *f)
{
    snprintf(f->log, sizeof f->log, "/tmp/cl-test-cid-XXXXXX");
    f->logfd = mkstemp(f->log);
    assert_true(f->logfd >= 0);
    fflush(stderr);
    f->saved = dup(2);
    dup2(f->logfd, 2);
}

static char *captured(struct fx *f)
{
    fflush(stderr);
    dup2(f->saved, 2);
    close(f->saved);
    char *buf = calloc(1, 16384);
    ssize_t n = pread(f->logfd, buf, 16383, 0);
    assert_true(n >= 0);
    close(f->logfd);
    unlink(f->log);
    fputs(buf, stderr); /* in the test's output too */
    return buf;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* The agent belongs to `id`, and WORK/cluster-id says so. */
static void assert_stored(struct fx *f, const ag_cluster_t *c, uint64_t id)
{
    cl_error_t err;
    size_t len;
    char want[32], *text = cl_read_file(f->file, &len, &err);
    snprintf(want, sizeof want, "%016llx\n", (unsigned long long)id);
    assert_true(c->id == id);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

/* Load from an empty work dir and join cluster OURS. */
static void join_ours(struct fx *f, ag_cluster_t *c)
{
    cl_error_t err;
    assert_int_equal(ag_cluster_load(c, f->dir, &err), 0);
    assert_true(ag_cluster_check(c, OURS, 0, 0, "h:1"));
}

static void test_decide(void **state)
{
    (void)state;
    /* an older controller: accepted whatever is known or held */
    assert_int_equal(ag_cluster_decide(0, 0, 0), AG_CLUSTER_ACCEPT);
    assert_int_equal(ag_cluster_decide(OURS, 0, 5), AG_CLUSTER_ACCEPT);
    /* none known yet: adopted, even while holding launches (of an older controller) */
    assert_int_equal(ag_cluster_decide(0, OURS, 0), AG_CLUSTER_ADOPT);
    assert_int_equal(ag_cluster_decide(0, OURS, 3), AG_CLUSTER_ADOPT);
    /* the same */
    assert_int_equal(ag_cluster_decide(OURS, OURS, 3), AG_CLUSTER_ACCEPT);
    /* another: refused while holding launches, adopted when holding none */
    assert_int_equal(ag_cluster_decide(OURS, THEIRS, 1), AG_CLUSTER_REFUSE);
    assert_int_equal(ag_cluster_decide(OURS, THEIRS, 0), AG_CLUSTER_ADOPT);
}

/* No file: none known; the first id is adopted, stored and read back by the next start. */
static void test_adopt_store_load(void **state)
{
    struct fx *f = *state;
    ag_cluster_t c;
    cl_error_t err;
    assert_int_equal(ag_cluster_load(&c, f->dir, &err), 0);
    assert_true(c.id == 0);
    assert_false(ag_cluster_differs(&c, OURS));
    capture(f);
    assert_true(ag_cluster_check(&c, OURS, 0, 0, "10.0.0.1:7000"));
    assert_true(ag_cluster_check(&c, OURS, 0, 0, "10.0.0.1:7000")); /* the same: quiet */
    char *log = captured(f);
    char want[600];
    snprintf(want, sizeof want,
             "agent: joined cluster 00c0ffee12345678 of the controller at 10.0.0.1:7000 "
             "(stored in %s)\n",
             f->file);
    assert_non_null(strstr(log, want));
    assert_int_equal(count(log, "agent: "), 1);
    free(log);
    assert_stored(f, &c, OURS);
    ag_cluster_t again;
    assert_int_equal(ag_cluster_load(&again, f->dir, &err), 0);
    assert_true(again.id == OURS);
    assert_true(ag_cluster_differs(&again, THEIRS));
    assert_false(ag_cluster_differs(&again, OURS));
    assert_false(ag_cluster_differs(&again, 0));
}

/* A file that holds no id is an error (the caller logs it and goes on with none). */
static void test_bad_file(void **state)
{
    struct fx *f = *state;
    static const char *bad[] = {"",
                                "xyz\n",
                                "00c0ffee1234567\n",
                                "00c0ffee123456789\n",
                                "0000000000000000\n",
                                "00c0ffee12345678\njunk",
                                "0x0c0ffee1234567\n",
                                " 0c0ffee12345678\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *fp = fopen(f->file, "w");
        fputs(bad[i], fp);
        fclose(fp);
        ag_cluster_t c;
        cl_error_t err;
        assert_int_equal(ag_cluster_load(&c, f->dir, &err), -1);
        char want[400];
        snprintf(want, sizeof want, "%s holds no cluster id (16 hex digits)", f->file);
        assert_string_equal(err.msg, want);
        assert_true(c.id == 0);
    }
    FILE *fp = fopen(f->file, "w");
    fputs("00C0FFEE12345678", fp); /* no newline, upper case: still an id */
    fclose(fp);
    ag_cluster_t c;
    cl_error_t err;
    assert_int_equal(ag_cluster_load(&c, f->dir, &err), 0);
    assert_true(c.id == OURS);
}

/* Another cluster's controller while launches are held: refused with one loud line (not one
 * per try); the right one coming back is accepted and said so; the file is unchanged. */
static void test_refuse_then_back(void **state)
{
    struct fx *f = *state;
    ag_cluster_t c;
    cl_error_t err;
    assert_int_equal(ag_cluster_load(&c, f->dir, &err), 0);
    capture(f);
    assert_true(ag_cluster_check(&c, OURS, 0, 0, "127.0.0.1:7000"));
    for (int i = 0; i < 5; i++)
        assert_false(ag_cluster_check(&c, THEIRS, 2, 1, "127.0.0.1:7000"));
    c.refused_log_ms -= 61000; /* a minute later, it is said again */
    assert_false(ag_cluster_check(&c, THEIRS, 2, 1, "127.0.0.1:7000"));
    assert_false(ag_cluster_check(&c, THEIRS, 2, 1, "127.0.0.1:7000"));
    assert_true(ag_cluster_check(&c, OURS, 2, 1, "127.0.0.1:7000"));
    char *log = captured(f);
    char want[1200];
    snprintf(want, sizeof want,
             "agent: REFUSING the controller at 127.0.0.1:7000: it is cluster "
             "7e57000000000abc, but this agent holds 2 launches (1 running) of cluster "
             "00c0ffee12345678; their ranks keep running and none of this controller's "
             "orders (its fence included) is obeyed; retrying, in case cluster "
             "00c0ffee12345678's controller comes back. To join the new cluster instead "
             "(its fence then stops those ranks), remove %s or restart this agent\n",
             f->file);
    assert_non_null(strstr(log, want));
    assert_int_equal(count(log, "REFUSING"), 2);
    assert_non_null(strstr(log, "agent: REFUSING the controller at 127.0.0.1:7000 (still: 6 "
                                "tries refused): it is cluster 7e57000000000abc"));
    assert_non_null(strstr(log, "agent: the controller at 127.0.0.1:7000 is cluster "
                                "00c0ffee12345678 again: accepted\n"));
    free(log);
    assert_stored(f, &c, OURS);
}

/* Holding nothing, another cluster's controller is joined (logged, stored). */
static void test_switch_when_idle(void **state)
{
    struct fx *f = *state;
    ag_cluster_t c;
    join_ours(f, &c);
    capture(f);
    assert_true(ag_cluster_check(&c, THEIRS, 0, 0, "h:1"));
    char *log = captured(f);
    char want[600];
    snprintf(want, sizeof want,
             "agent: the controller at h:1 is cluster 7e57000000000abc, not 00c0ffee12345678: "
             "this agent holds no launch of the old one, so it joins the new one (stored in "
             "%s)\n",
             f->file);
    assert_non_null(strstr(log, want));
    free(log);
    assert_stored(f, &c, THEIRS);
}

/* The operator's way into the new cluster: remove the file; the next try joins it. */
static void test_file_removed(void **state)
{
    struct fx *f = *state;
    ag_cluster_t c;
    join_ours(f, &c);
    capture(f);
    assert_false(ag_cluster_check(&c, THEIRS, 1, 1, "h:1"));
    assert_int_equal(unlink(f->file), 0);
    assert_true(ag_cluster_check(&c, THEIRS, 1, 1, "h:1"));
    char *log = captured(f);
    char want[600];
    snprintf(want, sizeof want,
             "agent: %s was removed: the agent leaves cluster 00c0ffee12345678\n", f->file);
    assert_non_null(strstr(log, want));
    assert_non_null(
        strstr(log, "agent: joined cluster 7e57000000000abc of the controller at h:1"));
    free(log);
    assert_stored(f, &c, THEIRS);
}

/* An older controller (id 0): accepted whatever is held, said once, the id kept. */
static void test_older_controller(void **state)
{
    struct fx *f = *state;
    ag_cluster_t c;
    cl_error_t err;
    assert_int_equal(ag_cluster_load(&c, f->dir, &err), 0);
    capture(f);
    assert_true(ag_cluster_check(&c, 0, 0, 0, "old:1"));
    assert_true(ag_cluster_check(&c, 0, 0, 0, "old:1"));
    assert_true(ag_cluster_check(&c, OURS, 0, 0, "new:1"));
    assert_true(ag_cluster_check(&c, 0, 3, 3, "old:1"));
    char *log = captured(f);
    assert_int_equal(count(log, "agent: the controller at old:1 sends no cluster id (an older "
                                "controller): its orders are obeyed without knowing which "
                                "cluster it is\n"),
                     2); /* once, and again after a controller that had one */
    free(log);
    assert_true(c.id == OURS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test_setup_teardown(test_adopt_store_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch_when_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_controller, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
