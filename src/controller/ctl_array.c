/* ctl_array.c - job arrays (Slurm's --array): one submission and one journal batch make a
 * job per task, consecutive ids in index order, sharing one copy of the command, the
 * environment and the other strings; the array's limit is the core's (a group of running
 * jobs); cancel of the array's id cancels every task. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/arrayspec.h"

/* The fields a task shares with its array (ctl_array_t has each of them too). */
/* clang-format off */
#define SHARED(X) X(name) X(tenant) X(cwd) X(user) X(output) X(error) X(dependency) X(array) \
                  X(nodelist) X(exclude) X(argv) X(env) X(argc) X(envc)
/* clang-format on */
#define TO_ARRAY(f) a->f = j->f;
#define TO_JOB(f) j->f = a->f;

/* j's strings become a new array's (one reference, j's). */
static ctl_array_t *array_from(ctl_job_t *j)
{
    ctl_array_t *a = cl_xcalloc(1, sizeof *a);
    a->id = j->array_id;
    a->refs = 1;
    SHARED(TO_ARRAY)
    cl_arrayspec_t spec;
    cl_error_t e;
    if (a->array && cl_arrayspec_parse(a->array, &spec, &e) == 0) a->limit = spec.limit;
    cl_arrayspec_free(&spec);
    j->arr = a;
    return a;
}

void ctl_array_unref(ctl_array_t *a)
{
    if (!a || --a->refs) return;
    ctl_job_t own = {0}, *j = &own; /* the strings back in a record, to free as its */
    SHARED(TO_JOB)
    ctl_job_strings_free(j);
    free(a);
}

void ctl_job_share(ctl_job_t *j, ctl_array_t *a)
{
    if (j->arr)
        ctl_array_unref(j->arr);
    else
        ctl_job_strings_free(j);
    j->arr = a;
    SHARED(TO_JOB)
}

ctl_array_t *ctl_array_of(ctl_t *c, uint64_t aid)
{
    ctl_job_t *f = ctl_job_get(c, aid);
    if (f && f->array_id == aid) {
        ctl_array_t *a = f->arr ? f->arr : array_from(f);
        a->refs++;
        return a;
    }
    bool transient;
    f = ctl_job_lookup(c, aid, &transient);
    if (!f || !transient || f->array_id != aid) {
        if (transient) ctl_job_free(f);
        return NULL;
    }
    ctl_array_t *a = array_from(f);
    a->refs++;
    ctl_job_free(f); /* its reference */
    return a;
}

int ctl_array_count(ctl_t *c, const ctl_job_t *j, Colossus__ArrayTasks *out)
{
    cl_arrayspec_t spec;
    cl_error_t e;
    if (!j->array || cl_arrayspec_parse(j->array, &spec, &e) < 0) {
        cl_arrayspec_free(&spec);
        return -1;
    }
    for (size_t i = 0; i < spec.n; i++) {
        const ctl_job_t *t = i ? ctl_job_get(c, j->id + i) : j;
        if (t && t->array_id == j->id && t->state == CL_JOB_PENDING)
            out->pending++;
        else if (t && t->array_id == j->id && t->state == CL_JOB_RUNNING)
            out->running++;
        else
            out->ended++; /* a task not in memory has ended */
    }
    cl_arrayspec_free(&spec);
    return 0;
}

int ctl_array_cancel(ctl_t *c, uint64_t aid, const char *who, cl_error_t *err)
{
    ctl_job_t *f = ctl_job_get(c, aid);
    bool transient = false;
    if (!f) f = ctl_job_lookup(c, aid, &transient);
    cl_arrayspec_t spec;
    int rc = f && f->array ? cl_arrayspec_parse(f->array, &spec, err) : -1;
    if (transient) ctl_job_free(f);
    if (rc < 0) return cl_err(err, "no job array %" PRIu64, aid);
    size_t n = 0;
    /* tasks not in memory have ended (they are forgotten only then) */
    for (size_t i = 0; i < spec.n; i++) {
        ctl_job_t *j = ctl_job_get(c, aid + i);
        cl_error_t e;
        if (j && j->array_id == aid && !cl_job_finished(j->state) &&
            ctl_job_cancel(c, aid + i, who, &e) == 0)
            n++;
    }
    cl_arrayspec_free(&spec);
    if (!n) return cl_err(err, "job %" PRIu64 " (an array) already ended: every task", aid);
    ctl_log(c, "array %" PRIu64 ": %zu tasks cancelled", aid, n);
    return 0;
}
