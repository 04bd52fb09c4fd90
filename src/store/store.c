/* store.c - backend-independent dispatch of the journal interface (see store.h). */
#include "store/store.h"

int cl_store_job_put(cl_store_t *s, const cl_store_job_t *j, cl_error_t *err)
{
    if (s->ops->job_put(s, j, err) < 0)
        return -1;
    s->puts_pending++;
    return 0;
}

int cl_store_node_put(cl_store_t *s, const cl_store_node_t *n, cl_error_t *err)
{
    if (s->ops->node_put(s, n, err) < 0)
        return -1;
    s->puts_pending++;
    return 0;
}

int cl_store_meta_put(cl_store_t *s, const char *k, uint64_t v, cl_error_t *err)
{
    if (s->ops->meta_put(s, k, v, err) < 0)
        return -1;
    s->puts_pending++;
    return 0;
}

int cl_store_meta_get(cl_store_t *s, const char *k, uint64_t *v, cl_error_t *err)
{
    return s->ops->meta_get(s, k, v, err);
}

int cl_store_commit(cl_store_t *s, cl_error_t *err)
{
    if (!s->puts_pending)
        return 0;
    if (s->ops->commit(s, err) < 0)
        return -1;
    s->commits++;
    s->puts_committed += s->puts_pending;
    s->puts_pending = 0;
    return 0;
}

int cl_store_load(cl_store_t *s, cl_store_job_f *jf, cl_store_node_f *nf, void *arg,
                  cl_error_t *err)
{
    return s->ops->load(s, jf, nf, arg, err);
}

int cl_store_job_get(cl_store_t *s, uint64_t id, cl_store_job_f *jf, void *arg,
                     cl_error_t *err)
{
    return s->ops->job_get(s, id, jf, arg, err);
}

void cl_store_close(cl_store_t *s)
{
    if (s)
        s->ops->close(s);
}
