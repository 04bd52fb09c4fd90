/* filepool.c - spare empty files, renamed into place (see filepool.h). */
#include "agent/filepool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define SPARE_PREFIX ".spare."

struct cl_filepool {
    uv_loop_t *loop;
    char *dir;
    pid_t pid;
    unsigned target;
    uint64_t *ring; /* sequence numbers of the ready spares, oldest first */
    unsigned head, count;
    uint64_t next_seq;
    int refilling, closing;
    uv_work_t work; /* the refill in flight: spares w_first .. w_first + w_n - 1 */
    uint64_t w_first;
    unsigned w_n, w_made;
};

static void spare_path(const cl_filepool_t *p, uint64_t seq, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" SPARE_PREFIX "%ld.%" PRIu64, p->dir, (long)p->pid, seq);
}

/* Thread pool: make the spares; stop at the first failure (disk full, directory gone). */
static void refill_work(uv_work_t *w)
{
    cl_filepool_t *p = w->data;
    char path[4200];
    p->w_made = 0;
    for (unsigned i = 0; i < p->w_n; i++) {
        spare_path(p, p->w_first + i, path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) break;
        close(fd);
        p->w_made++;
    }
}

static void pool_free(cl_filepool_t *p)
{
    char path[4200];
    for (unsigned i = 0; i < p->count; i++) {
        spare_path(p, p->ring[(p->head + i) % p->target], path, sizeof path);
        unlink(path);
    }
    free(p->ring);
    free(p->dir);
    free(p);
}

static void refill(cl_filepool_t *p);

static void refill_done(uv_work_t *w, int status)
{
    cl_filepool_t *p = w->data;
    p->refilling = 0;
    for (unsigned i = 0; i < p->w_made && p->count < p->target; i++)
        p->ring[(p->head + p->count++) % p->target] = p->w_first + i;
    if (p->closing) {
        pool_free(p);
        return;
    }
    if (status == 0 && p->w_made == p->w_n) refill(p); /* taken meanwhile: top up */
}

static void refill(cl_filepool_t *p)
{
    if (p->refilling || p->closing || p->count >= p->target) return;
    p->w_first = p->next_seq;
    p->w_n = p->target - p->count;
    p->next_seq += p->w_n;
    p->work.data = p;
    if (uv_queue_work(p->loop, &p->work, refill_work, refill_done) == 0) p->refilling = 1;
}

/* Remove ".spare.<PID>.*" of agents that are gone. */
static void sweep(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[4200];
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, SPARE_PREFIX, strlen(SPARE_PREFIX)) != 0) continue;
        char *end;
        long pid = strtol(de->d_name + strlen(SPARE_PREFIX), &end, 10);
        if (pid <= 0 || *end != '.' || (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}

cl_filepool_t *cl_filepool_new(uv_loop_t *loop, const char *dir, unsigned target)
{
    if (!loop || !dir || !*dir || target < 1 || target > 1024 || strlen(dir) > 4000)
        return NULL;
    cl_filepool_t *p = cl_xcalloc(1, sizeof *p);
    p->ring = cl_xcalloc(target, sizeof *p->ring);
    p->dir = cl_xstrdup(dir);
    p->loop = loop;
    p->pid = getpid();
    p->target = target;
    sweep(dir);
    refill(p);
    return p;
}

int cl_filepool_open(cl_filepool_t *p, const char *path, mode_t mode)
{
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY;
    if (p && p->count > 0) {
        char spare[4200];
        spare_path(p, p->ring[p->head], spare, sizeof spare);
        if (renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
            p->head = (p->head + 1) % p->target;
            p->count--;
            refill(p);
            if ((mode & 07777) != 0600) chmod(path, mode & 07777);
            return open(path, flags);
        }
        if (errno != EEXIST) {
            /* This spare cannot serve (gone, another file system, no renameat2 here, or
             * the target's directory is missing): drop it, create the file the plain way.
             * (EEXIST: the file is there, append to it; the spare stays.) */
            unlink(spare);
            p->head = (p->head + 1) % p->target;
            p->count--;
        }
    }
    if (p) refill(p);
    return open(path, flags | O_CREAT, mode);
}

unsigned cl_filepool_ready(const cl_filepool_t *p)
{
    return p ? p->count : 0;
}

void cl_filepool_close(cl_filepool_t *p)
{
    if (!p) return;
    if (p->refilling) {
        p->closing = 1; /* refill_done() frees it */
        return;
    }
    pool_free(p);
}
