/* ctl_ring.c - a FIFO of fixed-size elements in a ring that doubles when full (the
 * controller's liveness deadlines and its finished jobs). */
#include <stdlib.h>
#include <string.h>

#include "controller/ctl.h"

void *ctl_ring_push(ctl_ring_t *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        unsigned char *v = cl_xmalloc(cap * r->elem);
        for (size_t i = 0; i < r->n; i++)
            memcpy(v + i * r->elem, r->v + ((r->head + i) % r->cap) * r->elem, r->elem);
        free(r->v);
        r->v = v;
        r->cap = cap;
        r->head = 0;
    }
    return r->v + ((r->head + r->n++) % r->cap) * r->elem;
}

void *ctl_ring_front(const ctl_ring_t *r)
{
    return r->n ? r->v + r->head * r->elem : NULL;
}

void ctl_ring_pop(ctl_ring_t *r)
{
    if (!r->n) return;
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

void ctl_ring_free(ctl_ring_t *r)
{
    free(r->v);
    r->v = NULL;
    r->n = r->cap = r->head = 0;
}
