/* usage.c - a launch's energy (NVML counters at its start and end) and its ranks' reported
 * FLOPs (bounded, careful reads of files the job controls). */
#include "agent/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/nvml.h"
#include "util/util.h"

int ag_flops_read(const char *path, bool check_owner, uid_t uid, double *flops, cl_error_t *err)
{
    /* The job owns the directory: what is at path is whatever it put there. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return cl_err(err, "%s: %s", path,
                      errno == ELOOP ? "a symbolic link, not a file" : strerror(errno));
    }
    struct stat st;
    char buf[AG_FLOPS_FILE_MAX + 1];
    ssize_t n = -1;
    int rc = -1;
    if (fstat(fd, &st) < 0)
        cl_err(err, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        cl_err(err, "%s: not a regular file", path);
    else if (check_owner && st.st_uid != uid)
        cl_err(err, "%s: owned by uid %u, not by the job's uid %u", path, (unsigned)st.st_uid,
               (unsigned)uid);
    else if (st.st_size > AG_FLOPS_FILE_MAX)
        cl_err(err, "%s: %lld bytes, more than the %d a FLOPs figure takes", path,
               (long long)st.st_size, AG_FLOPS_FILE_MAX);
    else if ((n = read(fd, buf, AG_FLOPS_FILE_MAX)) < 0)
        cl_err(err, "%s: %s", path, strerror(errno));
    else
        rc = 0;
    close(fd);
    if (rc < 0) return -1;
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    while (end && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    /* strtod also takes "nan", "inf" and hex: a figure is a finite decimal number. */
    bool decimal = strspn(buf, " \t\r\n0123456789.eE+-") == (size_t)n;
    if (end == buf || !end || *end || errno == ERANGE || !decimal || !isfinite(v) || v < 0)
        return cl_err(err, "%s: not a decimal number of FLOPs (%zd bytes)", path, n);
    *flops = v;
    return 1;
}

void ag_energy_begin(ag_energy_t *e, const uint32_t *gpus, size_t n)
{
    memset(e, 0, sizeof *e);
    e->n = (uint32_t)(n < CL_MAX_GPUS_PER_NODE ? n : CL_MAX_GPUS_PER_NODE);
    if (e->n) memcpy(e->gpu, gpus, e->n * sizeof *gpus);
    e->ok = e->n > 0 && cl_nvml_energy(e->gpu, e->n, e->mj, NULL) == 0;
}

double ag_energy_end(const ag_energy_t *e)
{
    uint64_t now[CL_MAX_GPUS_PER_NODE];
    if (!e->ok || cl_nvml_energy(e->gpu, e->n, now, NULL) < 0) return 0;
    uint64_t mj = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        if (now[i] < e->mj[i]) return 0;
        mj += now[i] - e->mj[i];
    }
    return (double)mj / 1000.0;
}
