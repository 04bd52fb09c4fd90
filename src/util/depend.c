/* depend.c - Slurm's --dependency parsed (depend.h). */
#include "util/depend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const struct {
    const char *name;
    cl_dep_type_t type;
} types[] = {
    {"afterok", CL_DEP_AFTEROK},
    {"afterany", CL_DEP_AFTERANY},
    {"afternotok", CL_DEP_AFTERNOTOK},
};

/* One "type:ID[:ID...]" of len bytes at p. */
static int parse_one(const char *p, size_t len, cl_depend_t *d, cl_error_t *err)
{
    if (len == 9 && !memcmp(p, "singleton", 9)) {
        d->singleton = true;
        return 0;
    }
    size_t tl = strcspn(p, ":");
    if (tl > len) tl = len;
    int t = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == tl && !memcmp(p, types[i].name, tl)) t = (int)i;
    if (t < 0)
        return cl_err(err,
                      "--dependency: '%.*s' is not a dependency type this cluster takes "
                      "(afterok, afterany, afternotok with job ids, or singleton)",
                      (int)(tl > 40 ? 40 : tl), p);
    if (tl == len)
        return cl_err(err, "--dependency: %s needs job ids (%s:ID)", types[t].name,
                      types[t].name);
    for (size_t at = tl; at < len;) {
        at++; /* the ':' */
        size_t w = strcspn(p + at, ":");
        if (at + w > len) w = len - at;
        char num[24];
        if (!w || w >= sizeof num)
            return cl_err(err, "--dependency: %s: an empty or too long job id", types[t].name);
        memcpy(num, p + at, w);
        num[w] = 0;
        char *end;
        errno = 0;
        unsigned long long id = strtoull(num, &end, 10);
        if (*end || num[0] < '0' || num[0] > '9' || errno || id == 0 || id > UINT32_MAX)
            return cl_err(err, "--dependency: %s: '%s' is not a job id", types[t].name, num);
        if (d->n == CL_DEPEND_MAX)
            return cl_err(err, "--dependency: more than %d job ids", CL_DEPEND_MAX);
        d->v = cl_xrealloc(d->v, (d->n + 1) * sizeof *d->v);
        d->v[d->n++] = (cl_dep_t){types[t].type, id, CL_JOB_PENDING};
        at += w;
    }
    return 0;
}

int cl_depend_parse(const char *text, cl_depend_t *d, cl_error_t *err)
{
    memset(d, 0, sizeof *d);
    if (!text[0]) return cl_err(err, "--dependency: empty");
    if (strchr(text, '?'))
        return cl_err(err, "--dependency: '?' (any one of) is not supported: separate with "
                           "',' (all of)");
    for (const char *p = text;;) {
        size_t len = strcspn(p, ",");
        if (!len) return cl_err(err, "--dependency: an empty entry in '%.80s'", text);
        if (parse_one(p, len, d, err) < 0) return -1;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

void cl_depend_free(cl_depend_t *d)
{
    free(d->v);
    memset(d, 0, sizeof *d);
}
