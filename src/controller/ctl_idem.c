/* ctl_idem.c - submissions' idempotency keys (SubmitReq.idempotency_key): a client that
 * lost the answer to a submission (the leader died or stepped down with it in flight) sends
 * it again with the same key, and gets the job the first one made instead of a second job.
 *
 * A key is its submitter's (the user, "" for the cluster key): two users' keys never meet.
 * Each is journaled with its job, in the same batch (a service object of kind "idem": the
 * key, the job id and the time), so that a standby that takes over knows it, and it is kept
 * CTL_IDEM_KEEP_S (a retry comes within seconds; a day covers a client that slept). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"
#include "util/util.h"

#define CTL_IDEM_KEEP_S 86400.0
#define IDEM_KIND "idem"

typedef struct idem_entry {
    char *key; /* "USER KEY"; NULL: empty slot */
    uint64_t job;
    double time;
} idem_entry_t;

struct ctl_idem {
    idem_entry_t *v;
    size_t cap, n; /* open addressing, cap a power of two, at most half full */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static idem_entry_t *slot(struct ctl_idem *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->v[i].key && strcmp(m->v[i].key, key))
        i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

static void put(struct ctl_idem *m, const char *key, uint64_t job, double t)
{
    if (2 * (m->n + 1) > m->cap) {
        struct ctl_idem g = {.cap = m->cap ? m->cap * 2 : 64};
        g.v = cl_xcalloc(g.cap, sizeof *g.v);
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].key) *slot(&g, m->v[i].key) = m->v[i];
        free(m->v);
        m->v = g.v;
        m->cap = g.cap;
    }
    idem_entry_t *e = slot(m, key);
    if (!e->key) {
        e->key = cl_xstrdup(key);
        m->n++;
    }
    e->job = job;
    e->time = t;
}

static void full_key(const ctl_caller_t *k, const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s %s", k->user ? k->user->name : "", key);
}

struct load {
    ctl_t *c;
    double now;
};

static int load_one(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    struct load *l = arg;
    uint64_t job;
    double t;
    if (len != 16) return 0; /* not ours to read: left */
    memcpy(&job, val, 8);
    memcpy(&t, (const char *)val + 8, 8);
    if (t < l->now - CTL_IDEM_KEEP_S)
        cl_store_batch_obj(l->c->open->records, IDEM_KIND, key, NULL, 0); /* expired */
    else
        put(l->c->idem, key, job, t);
    return 0;
}

int ctl_idem_init(ctl_t *c, cl_error_t *err)
{
    c->idem = cl_xcalloc(1, sizeof *c->idem);
    struct load l = {c, ctl_now(c)};
    return cl_store_objs_load(c->store, IDEM_KIND, load_one, &l, err);
}

void ctl_idem_free(ctl_t *c)
{
    if (!c->idem) return;
    for (size_t i = 0; i < c->idem->cap; i++)
        free(c->idem->v[i].key);
    free(c->idem->v);
    free(c->idem);
    c->idem = NULL;
}

int ctl_idem_check(const char *key, cl_error_t *err)
{
    size_t n = strlen(key);
    if (n > CTL_IDEM_KEY_MAX)
        return cl_err(err, "idempotency key of %zu bytes: at most %d", n, CTL_IDEM_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if (key[i] <= ' ' || key[i] > '~')
            return cl_err(err, "idempotency key: printable ASCII without spaces only");
    return 0;
}

bool ctl_idem_find(ctl_t *c, const ctl_caller_t *k, const char *key, uint64_t *job)
{
    char fk[CTL_IDEM_KEY_MAX + 160];
    if (!key[0] || !c->idem->cap) return false;
    full_key(k, key, fk, sizeof fk);
    idem_entry_t *e = slot(c->idem, fk);
    if (!e->key || e->time < ctl_now(c) - CTL_IDEM_KEEP_S) return false;
    *job = e->job;
    return true;
}

void ctl_idem_put(ctl_t *c, const ctl_caller_t *k, const char *key, uint64_t job)
{
    char fk[CTL_IDEM_KEY_MAX + 160];
    if (!key[0]) return;
    full_key(k, key, fk, sizeof fk);
    double now = ctl_now(c);
    put(c->idem, fk, job, now);
    char val[16];
    memcpy(val, &job, 8);
    memcpy(val + 8, &now, 8);
    cl_store_batch_obj(c->open->records, IDEM_KIND, fk, val, sizeof val); /* with the job */
}
