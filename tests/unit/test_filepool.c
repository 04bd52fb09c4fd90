/* test_filepool.c - spare files renamed into place: the pool fills on the thread pool, a new
 * path takes a spare, an existing path is appended to and keeps the spares, a vanished
 * spare or a missing directory falls back to a plain create, spares of dead agents are
 * swept, close removes the spares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/filepool.h"

static char dir[64];
static uv_loop_t loop;

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/cl-filepool-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(uv_loop_init(&loop), 0);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Files in dir whose names start with prefix. */
static int count(const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static void write_str(int fd, const char *s)
{
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
}

static void read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_fill_take_append_close(void **state)
{
    cl_filepool_t *p = cl_filepool_new(&loop, dir, 4);
    assert_non_null(p);
    uv_run(&loop, UV_RUN_DEFAULT); /* the first refill */
    assert_int_equal(cl_filepool_ready(p), 4);
    assert_int_equal(count(".spare."), 4);

    char path[128], buf[64];
    snprintf(path, sizeof path, "%s/job1.rank-0.log", dir);
    write_str(cl_filepool_open(p, path, 0644), "one\n");
    assert_int_equal(cl_filepool_ready(p), 3); /* a spare became the file */
    int n = count(".spare."); /* 4 once the refill, already queued, has made its spare */
    assert_true(n == 3 || n == 4);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    uv_run(&loop, UV_RUN_DEFAULT); /* topped up again */
    assert_int_equal(cl_filepool_ready(p), 4);

    /* an existing file is appended to; no spare is used */
    write_str(cl_filepool_open(p, path, 0644), "two\n");
    read_file(path, buf, sizeof buf);
    assert_string_equal(buf, "one\ntwo\n");
    assert_int_equal(cl_filepool_ready(p), 4);

    /* the mode asked for is applied to a renamed spare */
    snprintf(path, sizeof path, "%s/private.log", dir);
    write_str(cl_filepool_open(p, path, 0600), "x");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    uv_run(&loop, UV_RUN_DEFAULT);
    cl_filepool_close(p);
    assert_int_equal(count(".spare."), 0);
    assert_int_equal(count("job1.rank-0.log"), 1);
}

static void test_fallbacks(void **state)
{
    cl_filepool_t *p = cl_filepool_new(&loop, dir, 2);
    assert_non_null(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(cl_filepool_ready(p), 2);
    /* someone removed the spares: the file is still made, the dead spare dropped */
    char cmd[128], path[128];
    snprintf(cmd, sizeof cmd, "rm -f %s/.spare.*", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/a.log", dir);
    write_str(cl_filepool_open(p, path, 0644), "a");
    assert_int_equal(access(path, F_OK), 0);
    /* a directory that does not exist: open's error, as open(2) gives it */
    snprintf(path, sizeof path, "%s/no/such/dir.log", dir);
    errno = 0;
    assert_int_equal(cl_filepool_open(p, path, 0644), -1);
    assert_int_equal(errno, ENOENT);
    /* no pool: a plain create */
    snprintf(path, sizeof path, "%s/b.log", dir);
    write_str(cl_filepool_open(NULL, path, 0644), "b");
    assert_int_equal(access(path, F_OK), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cl_filepool_close(p);
    assert_int_equal(count(".spare."), 0);
}

static void test_sweep_and_close_in_flight(void **state)
{
    /* spares of a dead agent go; those of a live process (ours, pid 1) stay */
    char path[128];
    snprintf(path, sizeof path, "%s/.spare.999999999.7", dir);
    write_str(open(path, O_WRONLY | O_CREAT, 0644), "");
    snprintf(path, sizeof path, "%s/.spare.1.7", dir);
    write_str(open(path, O_WRONLY | O_CREAT, 0644), "");
    cl_filepool_t *p = cl_filepool_new(&loop, dir, 3);
    assert_non_null(p);
    assert_int_equal(count(".spare.999999999."), 0);
    assert_int_equal(count(".spare.1."), 1);
    /* closed while its first refill runs: freed by the refill's end, spares removed */
    cl_filepool_close(p);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(count(".spare."), 1); /* pid 1's */
    assert_null(cl_filepool_new(&loop, dir, 0));
    assert_null(cl_filepool_new(&loop, dir, 5000));
    assert_null(cl_filepool_new(&loop, "", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fill_take_append_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_and_close_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
