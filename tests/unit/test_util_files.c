/* test_util_files.c - cl_mkdir_p (util/util.h): what exists is left alone, what is missing
 * is made with all its parents, and a file in the way is an error, not a directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"

static char root[256];

static int setup(void **st)
{
    (void)st;
    snprintf(root, sizeof root, "%s/cl-mkdir-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *path)
{
    struct stat s;
    assert_int_equal(stat(path, &s), 0);
    assert_true(S_ISDIR(s.st_mode));
    return s.st_mode & 07777;
}

static void test_makes_parents_and_keeps_what_exists(void **st)
{
    (void)st;
    char p[400], q[400];
    snprintf(p, sizeof p, "%s/a/b/c", root);
    mode_t um = umask(0);
    assert_int_equal(cl_mkdir_p(p, 0750), 0);
    assert_int_equal(mode_of(p), 0750);
    snprintf(q, sizeof q, "%s/a", root);
    assert_int_equal(mode_of(q), 0750); /* the parents it made have the mode too */
    /* existing: left as it is (its mode is not changed) */
    assert_int_equal(chmod(p, 0700), 0);
    assert_int_equal(cl_mkdir_p(p, 0755), 0);
    assert_int_equal(mode_of(p), 0700);
    /* a new leaf under existing parents, with a trailing slash */
    snprintf(q, sizeof q, "%s/a/b/d/", root);
    assert_int_equal(cl_mkdir_p(q, 0755), 0);
    assert_int_equal(mode_of(q), 0755);
    umask(um);
}

static void test_a_file_in_the_way(void **st)
{
    (void)st;
    char f[400], p[400];
    snprintf(f, sizeof f, "%s/file", root);
    int fd = open(f, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    errno = 0;
    assert_int_equal(cl_mkdir_p(f, 0755), -1); /* the path itself */
    assert_int_equal(errno, ENOTDIR);
    snprintf(p, sizeof p, "%s/file/x/y", root); /* a parent */
    errno = 0;
    assert_int_equal(cl_mkdir_p(p, 0755), -1);
    assert_int_equal(errno, ENOTDIR);
    errno = 0;
    assert_int_equal(cl_mkdir_p("", 0755), -1);
    assert_int_equal(errno, ENOENT);
}

/* A daemon's log line: "YYYY-MM-DDTHH:MM:SS.mmmZ who: text", control bytes as \\xNN, one
 * line each, the same second's text reused and a new second's made. */
static void test_daemon_log_lines(void **st)
{
    (void)st;
    char path[300];
    snprintf(path, sizeof path, "%s/log", root);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    cl_daemon_log("ctl", "job %d started", 7);
    cl_daemon_log("ctl", "a\nb\x1b[0m\x7f end");
    sleep(1);
    cl_daemon_log("agent", "plain");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char l[3][256];
    for (int i = 0; i < 3; i++)
        assert_non_null(fgets(l[i], sizeof l[i], f));
    assert_null(fgets(l[0], sizeof l[0], f)); /* three lines, no more */
    fclose(f);
    const char *want[] = {" ctl: job 7 started\n", " ctl: a\\x0ab\\x1b[0m\\x7f end\n",
                          " agent: plain\n"};
    for (int i = 0; i < 3; i++) {
        int y, mo, d, h, mi, s, ms, n = 0;
        assert_int_equal(
            sscanf(l[i], "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &ms, &n),
            7);
        assert_int_equal(n, 24);
        assert_string_equal(l[i] + n, want[i]);
    }
    assert_true(strncmp(l[0], l[2], 19) != 0); /* a second later: the second's text moved */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_makes_parents_and_keeps_what_exists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_file_in_the_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_log_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
