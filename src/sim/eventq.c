/* eventq.c - the simulator's event queue: a binary min-heap on (time, sequence), so that
 * events at the same instant come out in insertion order and runs are reproducible. */
#include <stdlib.h>

#include "sim/sim.h"
#include "util/util.h"

static inline bool before(const cl_event_t *a, const cl_event_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void cl_eventq_init(cl_eventq_t *q)
{
    q->v = NULL;
    q->n = q->cap = 0;
    q->seq = 0;
}

void cl_eventq_free(cl_eventq_t *q)
{
    free(q->v);
    cl_eventq_init(q);
}

void cl_eventq_push(cl_eventq_t *q, double t, uint32_t type, uint32_t a, uint64_t b, uint64_t c)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        q->v = cl_xrealloc(q->v, cap * sizeof(*q->v));
        q->cap = cap;
    }
    cl_event_t e = {.t = t, .seq = q->seq++, .type = type, .a = a, .b = b, .c = c};
    size_t i = q->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&e, &q->v[p])) break;
        q->v[i] = q->v[p];
        i = p;
    }
    q->v[i] = e;
}

const cl_event_t *cl_eventq_peek(const cl_eventq_t *q)
{
    return q->n ? &q->v[0] : NULL;
}

bool cl_eventq_pop(cl_eventq_t *q, cl_event_t *out)
{
    if (!q->n) return false;
    *out = q->v[0];
    cl_event_t last = q->v[--q->n];
    size_t i = 0, n = q->n;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const cl_event_t *best = &last;
        if (l < n && before(&q->v[l], best)) {
            m = l;
            best = &q->v[l];
        }
        if (l + 1 < n && before(&q->v[l + 1], best)) m = l + 1;
        if (m == i) break;
        q->v[i] = q->v[m];
        i = m;
    }
    if (n) q->v[i] = last;
    return true;
}
