/* batch.c - the records of one group commit: an owned copy of every put, the last put of a job
 * id, node id, meta key or object replacing the earlier one in place, usage and audit records
 * appended (store.h).
 *
 * Hot path: the controller puts a job several times a loop turn at over 1,000 jobs/s, and a
 * gang's alloc string reaches ~700 KB at 65,536 nodes. So each record is copied into one
 * allocation of its own slot, which a replacement or a later batch reuses (no malloc once the
 * batch has warmed up), and an index by id finds the record to replace in O(1). Clearing keeps
 * all of it; the index is emptied in O(1) by bumping its generation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/util.h"

/* Every record starts with its buffer, so that clearing and freeing treat them alike. */
typedef struct bbuf {
    char *mem;
    size_t cap;
} bbuf_t;

typedef struct bjob {
    bbuf_t buf;
    cl_store_job_t j; /* its strings and arrays point into buf */
} bjob_t;

typedef struct bnode {
    bbuf_t buf;
    cl_store_node_t n;
} bnode_t;

typedef struct bmeta {
    bbuf_t buf; /* the key */
    uint64_t v;
} bmeta_t;

typedef struct bobj {
    bbuf_t buf;       /* kind, key, then the value */
    const void *val;  /* into buf; NULL: a delete */
    size_t len, klen; /* of the value; of the kind with its NUL */
} bobj_t;

typedef struct busage {
    bbuf_t buf;
    cl_store_usage_t u;
} busage_t;

typedef struct baudit {
    bbuf_t buf;
    cl_store_audit_t a;
} baudit_t;

/* Open addressing with linear probing; a slot is in use when its gen is the index's. */
typedef struct bslot {
    uint64_t key; /* job id, node id, or a meta key's or an object's hash */
    uint32_t idx; /* into the record array */
    uint32_t gen;
} bslot_t;

typedef struct bindex {
    bslot_t *v;
    uint32_t cap, n, gen;
} bindex_t;

/* The records of one kind, in first-put order, and their index. */
typedef struct brecs {
    void *v;                   /* bjob_t, bnode_t, bmeta_t, bobj_t, busage_t or baudit_t */
    size_t n, init, cap, elem; /* in use; with a buffer (reusable); allocated; record size */
    bindex_t ix;               /* unused for usage and audit records (appended) */
} brecs_t;

/* Record slots past KEEP_SLOTS lose their buffers on clear, so that one huge turn (a mass
 * cancel) does not pin its memory for the daemon's life. */
enum { KEEP_SLOTS = 4096 };

enum { KINDS = 6 }; /* jobs, nodes, meta, objects, usage, audit */

struct cl_store_batch {
    union {
        struct {
            brecs_t jobs, nodes, meta, objs, usage, audit;
        };
        brecs_t all[KINDS]; /* each kind, for what treats them alike */
    };
    bool pruning;
    cl_store_prune_t prune;
    size_t puts;
};

#define JOB(b, i) (&((bjob_t *)(b)->jobs.v)[i])
#define NODE(b, i) (&((bnode_t *)(b)->nodes.v)[i])
#define META(b, i) (&((bmeta_t *)(b)->meta.v)[i])
#define OBJ(b, i) (&((bobj_t *)(b)->objs.v)[i])
#define USAGE(b, i) (&((busage_t *)(b)->usage.v)[i])
#define AUDIT(b, i) (&((baudit_t *)(b)->audit.v)[i])

_Static_assert(offsetof(cl_store_batch_t, audit) + sizeof(brecs_t) ==
                   offsetof(cl_store_batch_t, all) + sizeof(((cl_store_batch_t *)0)->all),
               "all covers every kind");

cl_store_batch_t *cl_store_batch_new(void)
{
    static const size_t elem[] = {sizeof(bjob_t), sizeof(bnode_t),  sizeof(bmeta_t),
                                  sizeof(bobj_t), sizeof(busage_t), sizeof(baudit_t)};
    _Static_assert(sizeof elem / sizeof elem[0] == KINDS, "one record size a kind");
    cl_store_batch_t *b = cl_xcalloc(1, sizeof *b);
    for (size_t k = 0; k < KINDS; k++) {
        b->all[k].elem = elem[k];
        b->all[k].ix.gen = 1;
    }
    return b;
}

static uint64_t hash_id(uint64_t id)
{
    return cl_rand_next(&id); /* splitmix64's finaliser: ids are dense, slots must not be */
}

#define FNV_BASIS 1469598103934665603ull

/* FNV-1a of s and its NUL, from h (FNV_BASIS to start), so that ("ab","c") != ("a","bc") */
static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h * 1099511628211ull;
}

static void ix_grow(bindex_t *x)
{
    uint32_t cap = x->cap ? x->cap * 2 : 64;
    bslot_t *v = cl_xcalloc(cap, sizeof *v);
    for (uint32_t i = 0; i < x->cap; i++) {
        if (x->v[i].gen != x->gen) continue;
        uint32_t k = (uint32_t)hash_id(x->v[i].key) & (cap - 1);
        while (v[k].gen == 1)
            k = (k + 1) & (cap - 1);
        v[k] = x->v[i];
        v[k].gen = 1;
    }
    free(x->v);
    x->v = v;
    x->cap = cap;
    x->gen = 1;
}

/* The record index of key, or UINT32_MAX with *slot set to where it goes. same() tells a
 * record with an equal key apart from a hash collision (meta keys); NULL when key is exact. */
static uint32_t ix_find(bindex_t *x, uint64_t key, bool (*same)(const void *, uint32_t),
                        const void *ctx, bslot_t **slot)
{
    if ((x->n + 1) * 2 > x->cap) ix_grow(x);
    uint32_t k = (uint32_t)hash_id(key) & (x->cap - 1);
    for (; x->v[k].gen == x->gen; k = (k + 1) & (x->cap - 1))
        if (x->v[k].key == key && (!same || same(ctx, x->v[k].idx))) return x->v[k].idx;
    *slot = &x->v[k];
    return UINT32_MAX;
}

static void ix_add(bindex_t *x, bslot_t *slot, uint64_t key, uint32_t idx)
{
    *slot = (bslot_t){.key = key, .idx = idx, .gen = x->gen};
    x->n++;
}

static void ix_clear(bindex_t *x)
{
    x->n = 0;
    if (++x->gen == 0) { /* wrapped after 2^32 clears: stale slots could look live */
        memset(x->v, 0, (size_t)x->cap * sizeof *x->v);
        x->gen = 1;
    }
}

/* A record slot's buffer of at least need bytes; its old content is not kept. */
static char *slot_mem(bbuf_t *b, size_t need)
{
    if (need > b->cap) {
        free(b->mem);
        b->cap = need + need / 4 + 64;
        b->mem = cl_xmalloc(b->cap);
    }
    return b->mem;
}

/* A new record at the end of r (its slot's buffer kept from an earlier use); may move the
 * records. */
static uint32_t rec_append(brecs_t *r)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        r->v = cl_xrealloc(r->v, ncap * r->elem);
        memset((char *)r->v + r->cap * r->elem, 0, (ncap - r->cap) * r->elem);
        r->cap = ncap;
    }
    uint32_t i = (uint32_t)r->n++;
    if (r->n > r->init) r->init = r->n;
    return i;
}

/* The index of key's record in r: the one there, or a new one at the end. same(): see
 * ix_find(). */
static uint32_t rec_of(brecs_t *r, uint64_t key, bool (*same)(const void *, uint32_t),
                       const void *ctx, bool *fresh)
{
    bslot_t *slot = NULL;
    uint32_t i = ix_find(&r->ix, key, same, ctx, &slot);
    *fresh = i == UINT32_MAX;
    if (!*fresh) return i;
    i = rec_append(r);
    ix_add(&r->ix, slot, key, i);
    return i;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy s to *at and advance it; NULL stays NULL. */
static const char *str_put(char **at, const char *s)
{
    if (!s) return NULL;
    size_t l = strlen(s) + 1;
    char *r = *at;
    memcpy(r, s, l);
    *at += l;
    return r;
}

/* Room for pre bytes at the start of buf (the caller's; aligned, as malloc's memory is), then
 * the n strings that the fields f point to, copied there, each field pointed at its copy (NULL
 * stays NULL). Returns the buffer. */
static char *strs_copy(bbuf_t *buf, size_t pre, const char **const *f, size_t n)
{
    size_t need = pre + 1; /* +1: an empty record has an address */
    for (size_t i = 0; i < n; i++)
        need += str_size(*f[i]);
    char *mem = slot_mem(buf, need), *at = mem + pre;
    for (size_t i = 0; i < n; i++)
        *f[i] = str_put(&at, *f[i]);
    return mem;
}

/* strs_copy() of the fields listed (their addresses). */
#define COPY_STRS(buf, pre, ...)                                                               \
    strs_copy(buf, pre, (const char **[]){__VA_ARGS__},                                        \
              sizeof((const char **[]){__VA_ARGS__}) / sizeof(const char **))

static size_t strv_size(const char *const *v, size_t n)
{
    size_t total = n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        total += str_size(v[i] ? v[i] : "");
    return total;
}

/* The array goes at *parr (aligned, advanced), its strings at *at (advanced). */
static const char *const *strv_put(char **parr, char **at, const char *const *v, size_t n)
{
    const char **out = (const char **)(void *)*parr;
    *parr += n * sizeof(char *);
    for (size_t i = 0; i < n; i++)
        out[i] = str_put(at, v[i] ? v[i] : "");
    return out;
}

static void job_copy(bjob_t *r, const cl_store_job_t *j)
{
    /* the pointer arrays first (aligned), then their strings, then the other strings */
    size_t arrs = (j->argc + j->envc) * sizeof(char *);
    size_t vecs = strv_size(j->argv, j->argc) + strv_size(j->env, j->envc);
    r->j = *j;
    char *parr = COPY_STRS(&r->buf, vecs, &r->j.name, &r->j.tenant, &r->j.cwd, &r->j.reason,
                           &r->j.alloc, &r->j.user, &r->j.output, &r->j.error, &r->j.dependency,
                           &r->j.array, &r->j.ended, &r->j.nodelist, &r->j.exclude);
    char *at = parr + arrs;
    r->j.argv = strv_put(&parr, &at, j->argv, j->argc);
    r->j.env = strv_put(&parr, &at, j->env, j->envc);
}

void cl_store_batch_job(cl_store_batch_t *b, const cl_store_job_t *j)
{
    bool fresh;
    uint32_t i = rec_of(&b->jobs, j->id, NULL, NULL, &fresh); /* may move the records */
    job_copy(JOB(b, i), j);
    b->puts++;
}

void cl_store_batch_node(cl_store_batch_t *b, const cl_store_node_t *n)
{
    bool fresh;
    uint32_t i = rec_of(&b->nodes, n->id, NULL, NULL, &fresh);
    bnode_t *r = NODE(b, i);
    r->n = *n;
    COPY_STRS(&r->buf, 0, &r->n.name, &r->n.reason);
    b->puts++;
}

struct meta_key {
    const cl_store_batch_t *b;
    const char *k;
};

static bool meta_same(const void *ctx, uint32_t idx)
{
    const struct meta_key *m = ctx;
    return !strcmp(META(m->b, idx)->buf.mem, m->k);
}

void cl_store_batch_meta(cl_store_batch_t *b, const char *k, uint64_t v)
{
    bool fresh;
    struct meta_key mk = {b, k};
    uint32_t i = rec_of(&b->meta, hash_str(FNV_BASIS, k), meta_same, &mk, &fresh);
    bmeta_t *r = META(b, i);
    if (fresh) memcpy(slot_mem(&r->buf, strlen(k) + 1), k, strlen(k) + 1);
    r->v = v;
    b->puts++;
}

struct obj_key {
    const cl_store_batch_t *b;
    const char *kind, *key;
};

static bool obj_same(const void *ctx, uint32_t idx)
{
    const struct obj_key *o = ctx;
    const bobj_t *r = OBJ(o->b, idx);
    return !strcmp(r->buf.mem, o->kind) && !strcmp(r->buf.mem + r->klen, o->key);
}

void cl_store_batch_obj(cl_store_batch_t *b, const char *kind, const char *key, const void *val,
                        size_t len)
{
    cl_assert(kind && key);
    bool fresh;
    struct obj_key ok = {b, kind, key};
    uint32_t i =
        rec_of(&b->objs, hash_str(hash_str(FNV_BASIS, kind), key), obj_same, &ok, &fresh);
    bobj_t *r = OBJ(b, i);
    size_t kl = strlen(kind) + 1, yl = strlen(key) + 1;
    if (!val) len = 0;
    char *at = slot_mem(&r->buf, kl + yl + len + 1); /* +1: an empty value has an address */
    memcpy(at, kind, kl);
    memcpy(at + kl, key, yl);
    if (len) memcpy(at + kl + yl, val, len);
    r->val = val ? at + kl + yl : NULL;
    r->len = len;
    r->klen = kl;
    b->puts++;
}

void cl_store_batch_usage(cl_store_batch_t *b, const cl_store_usage_t *u)
{
    uint32_t i = rec_append(&b->usage); /* may move the records: before USAGE() reads them */
    busage_t *r = USAGE(b, i);
    r->u = *u;
    COPY_STRS(&r->buf, 0, &r->u.name, &r->u.tenant, &r->u.user, &r->u.nodes, &r->u.ended,
              &r->u.reason);
    b->puts++;
}

void cl_store_batch_audit(cl_store_batch_t *b, const cl_store_audit_t *a)
{
    uint32_t i = rec_append(&b->audit);
    baudit_t *r = AUDIT(b, i);
    r->a = *a;
    COPY_STRS(&r->buf, 0, &r->a.who, &r->a.op, &r->a.target, &r->a.detail);
    b->puts++;
}

static double later(double a, double b)
{
    return a > b ? a : b;
}

void cl_store_batch_prune(cl_store_batch_t *b, double jobs_before, double history_before,
                          double audit_before)
{
    cl_store_prune_t *p = &b->prune;
    if (!b->pruning) *p = (cl_store_prune_t){0};
    p->jobs_before = later(p->jobs_before, jobs_before);
    p->history_before = later(p->history_before, history_before);
    p->audit_before = later(p->audit_before, audit_before);
    b->pruning = true;
    b->puts++;
}

size_t cl_store_batch_size(const cl_store_batch_t *b)
{
    size_t n = b->pruning;
    for (size_t k = 0; k < KINDS; k++)
        n += b->all[k].n;
    return n;
}

size_t cl_store_batch_weight(const cl_store_batch_t *b)
{
    return cl_store_batch_size(b) - b->audit.n;
}

size_t cl_store_batch_runs(const cl_store_batch_t *b)
{
    return b->usage.n;
}

size_t cl_store_batch_jobs(const cl_store_batch_t *b)
{
    return b->jobs.n;
}

size_t cl_store_batch_puts(const cl_store_batch_t *b)
{
    return b->puts;
}

/* Empty r; the buffers of its records from keep on go (see KEEP_SLOTS). */
static void recs_clear(brecs_t *r, size_t keep)
{
    r->n = 0;
    ix_clear(&r->ix);
    for (; r->init > keep; r->init--) {
        bbuf_t *buf = (bbuf_t *)(void *)((char *)r->v + (r->init - 1) * r->elem);
        free(buf->mem);
        *buf = (bbuf_t){0};
    }
}

static void recs_free(brecs_t *r)
{
    recs_clear(r, 0);
    free(r->v);
    free(r->ix.v);
}

void cl_store_batch_clear(cl_store_batch_t *b)
{
    for (size_t k = 0; k < KINDS; k++)
        recs_clear(&b->all[k], KEEP_SLOTS);
    b->pruning = false;
    b->puts = 0;
}

void cl_store_batch_free(cl_store_batch_t *b)
{
    if (!b) return;
    for (size_t k = 0; k < KINDS; k++)
        recs_free(&b->all[k]);
    free(b);
}

int cl_store_batch_visit(const cl_store_batch_t *b, const cl_store_visit_t *v, void *arg)
{
    int rc = 0;
    for (size_t i = 0; !rc && v->job && i < b->jobs.n; i++)
        rc = v->job(arg, &JOB(b, i)->j);
    for (size_t i = 0; !rc && v->node && i < b->nodes.n; i++)
        rc = v->node(arg, &NODE(b, i)->n);
    for (size_t i = 0; !rc && v->meta && i < b->meta.n; i++)
        rc = v->meta(arg, META(b, i)->buf.mem, META(b, i)->v);
    for (size_t i = 0; !rc && v->obj && i < b->objs.n; i++) {
        const bobj_t *o = OBJ(b, i);
        rc = v->obj(arg, o->buf.mem, o->buf.mem + o->klen, o->val, o->len);
    }
    for (size_t i = 0; !rc && v->usage && i < b->usage.n; i++)
        rc = v->usage(arg, &USAGE(b, i)->u);
    for (size_t i = 0; !rc && v->audit && i < b->audit.n; i++)
        rc = v->audit(arg, &AUDIT(b, i)->a);
    if (!rc && v->prune && b->pruning) rc = v->prune(arg, &b->prune);
    return rc;
}
