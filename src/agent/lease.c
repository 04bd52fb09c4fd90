/* lease.c - the node's lease page (lease.h). */
#include "agent/lease.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/launch_util.h" /* cl__high_fd() */
#include "util/util.h"

struct ag_lease {
    volatile uint64_t *page;
    int fd; /* kept open: the keepers map the page from it (keeper.h) */
};

uint64_t ag_lease_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

ag_lease_t *ag_lease_open(const char *dir, cl_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/lease", dir);
    int fd = cl__high_fd(open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd < 0) {
        cl_err(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (st.st_size < 4096 && ftruncate(fd, 4096) < 0)) {
        cl_err(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        cl_err(err, "%s: mmap: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    ag_lease_t *l = cl_xcalloc(1, sizeof *l);
    l->page = p;
    l->fd = fd;
    /* A time past what this boot can have written is another boot's: no lease then. */
    if (__atomic_load_n(l->page, __ATOMIC_ACQUIRE) > ag_lease_now() + 86400ull * 1000000000u)
        __atomic_store_n(l->page, 0, __ATOMIC_RELEASE);
    return l;
}

void ag_lease_close(ag_lease_t *l)
{
    if (!l) return;
    munmap((void *)l->page, 4096);
    close(l->fd);
    free(l);
}

int ag_lease_fd(const ag_lease_t *l)
{
    return l ? l->fd : -1;
}

void ag_lease_renew(ag_lease_t *l, uint64_t until)
{
    if (!l) return;
    __atomic_store_n(l->page, until, __ATOMIC_RELEASE);
}

bool ag_lease_lapsed(const ag_lease_t *l)
{
    if (!l) return false;
    uint64_t until = __atomic_load_n(l->page, __ATOMIC_ACQUIRE);
    return until != 0 && ag_lease_now() > until;
}
