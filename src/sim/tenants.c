/* tenants.c - `colossus sim --tenants FILE`: tenants with shares, quotas, cohorts, limits and
 * budgets (JSON), mapped to values of the trace's cluster column, and set up in the core. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine.h"
#include "util/util.h"

static int fail(cl_error_t *err, const char *file, const char *fmt, ...)
{
    if (!err) return -1;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(err->msg, sizeof(err->msg), "%.50s: %s", file, what);
    return -1;
}

void cl_sim_tenants_free(cl_sim_tenants_t *ts)
{
    if (!ts) return;
    for (size_t i = 0; i < ts->n; i++) {
        cl_sim_tenant_t *t = &ts->v[i];
        free(t->name);
        free(t->parent);
        free(t->cohort);
        for (size_t k = 0; k < t->nclusters; k++)
            free(t->clusters[k]);
        free(t->clusters);
    }
    free(ts->v);
    free(ts->file);
    memset(ts, 0, sizeof(*ts));
}

/* A number of GPUs: a whole number >= 0, or null for none (CL_UNLIMITED). */
static int gpus_of(json_t *v, const char *file, const char *tn, const char *key, uint64_t *out,
                   cl_error_t *err)
{
    if (!v || json_is_null(v)) return 0; /* keeps the default */
    double d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d != floor(d) || d > 1e12)
        return fail(err, file, "tenant '%s': %s must be a whole number of GPUs or null", tn,
                    key);
    *out = (uint64_t)d;
    return 0;
}

static int number_of(json_t *v, const char *file, const char *tn, const char *key, double lo,
                     double *out, cl_error_t *err)
{
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= lo) || !isfinite(json_number_value(v)))
        return fail(err, file, "tenant '%s': %s must be a number >= %g", tn, key, lo);
    *out = json_number_value(v);
    return 0;
}

static int string_of(json_t *v, const char *file, const char *tn, const char *key, char **out,
                     cl_error_t *err)
{
    if (!v) return 0;
    if (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) > 64)
        return fail(err, file, "tenant '%s': %s must be a name of 1 to 64 characters", tn, key);
    *out = cl_xstrdup(json_string_value(v));
    return 0;
}

static int clusters_of(json_t *v, const char *file, cl_sim_tenant_t *t, cl_error_t *err)
{
    if (!v) return 0;
    if (!json_is_array(v) || !json_array_size(v))
        return fail(err, file, "tenant '%s': clusters must be a list of names", t->name);
    t->clusters = cl_xcalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return fail(err, file, "tenant '%s': clusters must be a list of names", t->name);
        t->clusters[t->nclusters++] = cl_xstrdup(json_string_value(x));
    }
    return 0;
}

static const char *const keys[] = {
    "name",       "parent",   "shares",           "quota_gpus",  "cohort",      "borrow_limit",
    "lend_limit", "clusters", "budget_gpu_hours", "budget_stop", "preemptible",
};

/* One tenant object of the file. */
static int tenant_of(json_t *o, const char *file, size_t idx, cl_sim_tenant_t *t,
                     cl_error_t *err)
{
    cl_tenant_conf_default(&t->conf);
    if (!json_is_object(o)) return fail(err, file, "tenants[%zu] is not an object", idx);
    json_t *nm = json_object_get(o, "name");
    if (!json_is_string(nm) || !*json_string_value(nm) || strlen(json_string_value(nm)) > 64)
        return fail(err, file, "tenants[%zu] needs a name of 1 to 64 characters", idx);
    t->name = cl_xstrdup(json_string_value(nm));
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], key))
            k++;
        if (k == sizeof(keys) / sizeof(keys[0]))
            return fail(err, file, "tenant '%s': unknown key '%s'", t->name, key);
    }
    double hours = 0;
    json_t *stop = json_object_get(o, "budget_stop"), *pre = json_object_get(o, "preemptible");
    if ((stop && !json_is_boolean(stop)) || (pre && !json_is_boolean(pre)))
        return fail(err, file, "tenant '%s': budget_stop and preemptible are true or false",
                    t->name);
    t->conf.budget_stop = json_is_true(stop);
    t->preemptible = json_is_true(pre);
    if (number_of(json_object_get(o, "shares"), file, t->name, "shares", 1e-9, &t->conf.shares,
                  err) ||
        gpus_of(json_object_get(o, "quota_gpus"), file, t->name, "quota_gpus",
                &t->conf.quota_gpus, err) ||
        gpus_of(json_object_get(o, "borrow_limit"), file, t->name, "borrow_limit",
                &t->conf.borrow_limit, err) ||
        gpus_of(json_object_get(o, "lend_limit"), file, t->name, "lend_limit",
                &t->conf.lend_limit, err) ||
        number_of(json_object_get(o, "budget_gpu_hours"), file, t->name, "budget_gpu_hours", 0,
                  &hours, err) ||
        string_of(json_object_get(o, "parent"), file, t->name, "parent", &t->parent, err) ||
        string_of(json_object_get(o, "cohort"), file, t->name, "cohort", &t->cohort, err) ||
        clusters_of(json_object_get(o, "clusters"), file, t, err))
        return -1;
    t->conf.budget_gpu_s = hours * 3600.0;
    return 0;
}

/* Names unique, parents and cohorts known, each trace cluster mapped once. */
static int resolve(cl_sim_tenants_t *ts, const char *file, cl_error_t *err)
{
    for (size_t i = 0; i < ts->n; i++) {
        cl_sim_tenant_t *t = &ts->v[i];
        for (size_t k = 0; k < i; k++)
            if (!strcmp(ts->v[k].name, t->name))
                return fail(err, file, "tenant '%s' appears twice", t->name);
        t->conf.parent = -1;
        if (t->parent) {
            size_t p = 0;
            while (p < ts->n && strcmp(ts->v[p].name, t->parent))
                p++;
            if (p == ts->n)
                return fail(err, file, "tenant '%s': parent '%s' is not in the file", t->name,
                            t->parent);
            t->conf.parent = (int32_t)p; /* an index into the file until set up */
        }
        t->conf.cohort = 0;
        if (t->cohort) { /* cohorts are numbered 1, 2... in order of appearance */
            size_t k = 0;
            while (k < i && (!ts->v[k].cohort || strcmp(ts->v[k].cohort, t->cohort)))
                k++;
            t->conf.cohort = k < i ? ts->v[k].conf.cohort : ++ts->ncohorts;
        }
        for (size_t c = 0; c < t->nclusters; c++)
            for (size_t k = 0; k <= i; k++)
                for (size_t d = 0; d < (k == i ? c : ts->v[k].nclusters); d++)
                    if (!strcmp(ts->v[k].clusters[d], t->clusters[c]))
                        return fail(err, file, "cluster '%s' is mapped to two tenants",
                                    t->clusters[c]);
    }
    return 0;
}

int cl_sim_tenants_parse(const char *text, size_t len, const char *file, cl_sim_tenants_t *out,
                         cl_error_t *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return fail(err, file, "line %d: %s", je.line, je.text);
    int rc = -1;
    json_t *list = json_object_get(root, "tenants"), *period;
    const char *key;
    json_t *v;
    if (!json_is_object(root) || !json_is_array(list) || !json_array_size(list)) {
        fail(err, file, "wants {\"tenants\": [{\"name\": ...}, ...]}");
        goto out;
    }
    json_object_foreach(root, key,
                        v) if (strcmp(key, "tenants") && strcmp(key, "budget_period_days"))
    {
        fail(err, file, "unknown key '%s' (known: tenants, budget_period_days)", key);
        goto out;
    }
    period = json_object_get(root, "budget_period_days");
    if (period && (!json_is_number(period) || !(json_number_value(period) > 0))) {
        fail(err, file, "budget_period_days must be a number > 0");
        goto out;
    }
    out->budget_period_s = period ? json_number_value(period) * 86400.0 : 0;
    out->v = cl_xcalloc(json_array_size(list), sizeof(cl_sim_tenant_t));
    out->file = cl_xstrdup(file);
    for (size_t i = 0; i < json_array_size(list); i++) {
        out->n++;
        if (tenant_of(json_array_get(list, i), file, i, &out->v[i], err)) goto out;
    }
    rc = resolve(out, file, err);
out:
    json_decref(root);
    if (rc) cl_sim_tenants_free(out);
    return rc;
}

int cl_sim_tenants_load(const char *path, cl_sim_tenants_t *out, cl_error_t *err)
{
    size_t len;
    char *buf = cl_read_file(path, &len, err);
    if (!buf) return -1;
    int rc = cl_sim_tenants_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

/* The core's tenants from the file: top-level ones first (a sub-tenant's cap is checked
 * against its parent's quota), then the map of trace clusters (unmapped: the default). */
int cl__sim_tenants_setup(cl_cluster_t *cl, const cl_sim_tenants_t *ts, char **clusters,
                          size_t nclusters, uint32_t *tenant_of, bool *preemptible,
                          cl_error_t *err)
{
    const char *file = ts->file ? ts->file : "tenants";
    uint32_t *idx = cl_xcalloc(ts->n ? ts->n : 1, sizeof(uint32_t));
    int rc = -1;
    cl_error_t e;
    for (size_t i = 0; i < ts->n; i++) {
        int t = cl_tenant_find(cl, ts->v[i].name);
        if (t < 0 && (t = cl_tenant_add(cl, ts->v[i].name, ts->v[i].conf.shares, &e)) < 0) {
            fail(err, file, "%s", e.msg);
            goto out;
        }
        idx[i] = (uint32_t)t;
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < ts->n; i++) {
            cl_tenant_conf_t f = ts->v[i].conf;
            if ((f.parent >= 0) != pass) continue;
            if (f.parent >= 0) f.parent = (int32_t)idx[f.parent];
            if (cl_tenant_set(cl, idx[i], &f, &e) < 0) {
                fail(err, file, "%s", e.msg);
                goto out;
            }
            preemptible[idx[i]] = ts->v[i].preemptible;
        }
    for (size_t c = 0; c < nclusters; c++) {
        tenant_of[c] = 0;
        for (size_t i = 0; i < ts->n; i++) {
            const cl_sim_tenant_t *t = &ts->v[i];
            int hit = !t->nclusters && !strcmp(t->name, clusters[c]);
            for (size_t k = 0; k < t->nclusters && !hit; k++)
                hit = !strcmp(t->clusters[k], clusters[c]);
            if (hit) tenant_of[c] = idx[i];
        }
    }
    rc = 0;
out:
    free(idx);
    return rc;
}
