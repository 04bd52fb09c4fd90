/* ctl_users.c - users, their roles and QOS, journaled; who a request's caller is now, and the
 * user, users, qos, qoses and whoami operations (ctl_acct.h, docs/security.md). */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/ctl_acct.h"

const char *ctl_role_name(ctl_role_t r)
{
    return r == CTL_ROLE_ADMIN ? "admin" : r == CTL_ROLE_OPERATOR ? "operator" : "";
}

static int role_parse(const char *s, ctl_role_t *r)
{
    if (!*s || !strcmp(s, "none") || !strcmp(s, "user"))
        *r = CTL_ROLE_NONE;
    else if (!strcmp(s, "operator"))
        *r = CTL_ROLE_OPERATOR;
    else if (!strcmp(s, "admin"))
        *r = CTL_ROLE_ADMIN;
    else
        return -1;
    return 0;
}

void ctl_journal_obj(ctl_t *c, const char *kind, const char *key, const ProtobufCMessage *m)
{
    if (!m) {
        cl_store_batch_obj(c->open->records, kind, key, NULL, 0);
        return;
    }
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = cl_xmalloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    cl_store_batch_obj(c->open->records, kind, key, buf, n);
    free(buf);
}

/* ---- the tables ---- */

ctl_user_t *ctl_user_find(ctl_t *c, const char *name)
{
    ctl_user_t *u = NULL;
    HASH_FIND_STR(c->acct->users, name, u);
    return u;
}

ctl_user_t *ctl_user_by_core_id(ctl_t *c, uint32_t id)
{
    return id && id < c->acct->next_user_id ? c->acct->by_core_id[id] : NULL;
}

ctl_qos_t *ctl_qos_find(ctl_t *c, const char *name)
{
    ctl_qos_t *q = NULL;
    HASH_FIND_STR(c->acct->qos, name, q);
    return q;
}

ctl_qos_t *ctl_user_qos(ctl_t *c, const ctl_user_t *u)
{
    ctl_qos_t *q = u && u->qos[0] ? ctl_qos_find(c, u->qos) : NULL;
    return q ? q : ctl_qos_find(c, CTL_QOS_DEFAULT);
}

static ctl_user_t *user_new(ctl_t *c, const char *name)
{
    ctl_acct_t *a = c->acct;
    ctl_user_t *u = cl_xcalloc(1, sizeof *u);
    u->name = cl_xstrdup(name);
    u->qos = cl_xstrdup("");
    if (a->next_user_id >= a->users_cap) {
        a->users_cap = a->users_cap ? a->users_cap * 2 : 64;
        a->by_core_id = cl_xrealloc(a->by_core_id, a->users_cap * sizeof *a->by_core_id);
    }
    u->core_id = a->next_user_id++;
    a->by_core_id[u->core_id] = u;
    HASH_ADD_KEYPTR(hh, a->users, u->name, strlen(u->name), u);
    return u;
}

static void user_free(ctl_user_t *u)
{
    free(u->name);
    free(u->qos);
    free(u->tenants);
    free(u);
}

static ctl_qos_t *qos_new(ctl_t *c, const char *name)
{
    ctl_qos_t *q = cl_xcalloc(1, sizeof *q);
    q->name = cl_xstrdup(name);
    HASH_ADD_KEYPTR(hh, c->acct->qos, q->name, strlen(q->name), q);
    return q;
}

static void qos_to_info(const ctl_qos_t *q, Colossus__QosInfo *o)
{
    colossus__qos_info__init(o);
    o->name = q->name;
    o->max_priority = q->max_priority;
    o->max_gpus_per_job = q->max_gpus_per_job;
    o->max_wall_s = q->max_wall_s;
    o->max_running_jobs = q->max_running;
    o->preemptible = q->preemptible;
}

static void qos_from_info(ctl_qos_t *q, const Colossus__QosInfo *o)
{
    q->max_priority = o->max_priority;
    q->max_gpus_per_job = o->max_gpus_per_job;
    q->max_wall_s = o->max_wall_s;
    q->max_running = o->max_running_jobs;
    q->preemptible = o->preemptible;
}

/* Every user of the QOS gets its running limit in the core. */
static void qos_apply(ctl_t *c, const ctl_qos_t *q)
{
    for (ctl_user_t *u = c->acct->users; u; u = u->hh.next)
        if (ctl_user_qos(c, u) == q)
            cl_user_limit_set(c->cluster, u->core_id, q->max_running, NULL);
}

/* Fill o from u (o's arrays are allocated: release with user_info_release). */
static void user_to_info(ctl_t *c, const ctl_user_t *u, Colossus__UserInfo *o)
{
    colossus__user_info__init(o);
    o->name = u->name;
    o->role = (char *)ctl_role_name(u->role);
    o->uid = u->uid;
    o->gid = u->gid;
    o->qos = u->qos;
    o->disabled = u->disabled;
    o->n_tenants = u->ntenants;
    o->tenants = cl_xcalloc(u->ntenants + 1, sizeof *o->tenants);
    for (uint32_t i = 0; i < u->ntenants; i++) {
        Colossus__UserTenant *t = cl_xmalloc(sizeof *t);
        colossus__user_tenant__init(t);
        t->tenant = (char *)cl_tenant_name(c->cluster, u->tenants[i].tenant);
        t->role = u->tenants[i].manager ? "manager" : "user";
        o->tenants[i] = t;
    }
}

static void user_info_release(Colossus__UserInfo *o)
{
    for (size_t i = 0; i < o->n_tenants; i++)
        free(o->tenants[i]);
    free(o->tenants);
    o->tenants = NULL;
    o->n_tenants = 0;
}

void ctl_user_journal(ctl_t *c, const ctl_user_t *u)
{
    Colossus__UserInfo o;
    user_to_info(c, u, &o);
    ctl_journal_obj(c, "user", u->name, &o.base);
    user_info_release(&o);
}

static void qos_journal(ctl_t *c, const ctl_qos_t *q)
{
    Colossus__QosInfo o;
    qos_to_info(q, &o);
    ctl_journal_obj(c, "qos", q->name, &o.base);
}

/* The tenant of one of a UserInfo's tenants: its core index, or -1 with why. */
static int user_tenant(ctl_t *c, const Colossus__UserTenant *t, cl_error_t *why)
{
    int ti = cl_tenant_find(c->cluster, t->tenant);
    if (ti < 0) return cl_err(why, "no tenant '%.64s'", t->tenant);
    if (t->role[0] && strcmp(t->role, "user") && strcmp(t->role, "manager"))
        return cl_err(why, "tenant role '%.32s' (user or manager)", t->role);
    return ti;
}

/* The tenants of a UserInfo into u: -1 with why (nothing changed) when one is unknown. */
static int set_tenants(ctl_t *c, ctl_user_t *u, const Colossus__UserInfo *o, cl_error_t *why)
{
    ctl_user_tenant_t *v = cl_xcalloc(o->n_tenants + 1, sizeof *v);
    uint32_t n = 0;
    for (size_t i = 0; i < o->n_tenants; i++) {
        const Colossus__UserTenant *t = o->tenants[i];
        int ti = user_tenant(c, t, why);
        if (ti < 0) {
            free(v);
            return -1;
        }
        uint32_t k = 0;
        while (k < n && v[k].tenant != (uint32_t)ti)
            k++;
        v[k].tenant = (uint32_t)ti;
        v[k].manager = !strcmp(t->role, "manager");
        if (k == n) n++;
    }
    free(u->tenants);
    u->tenants = v;
    u->ntenants = n;
    return 0;
}

/* ---- loading ---- */

static int load_user(ctl_t *c, const char *key, const void *val, size_t len, cl_error_t *err)
{
    Colossus__UserInfo *o = colossus__user_info__unpack(NULL, len, val);
    if (!o) return cl_err(err, "journal: user '%.64s' does not decode", key);
    ctl_user_t *u = ctl_user_find(c, o->name);
    if (!u) u = user_new(c, o->name);
    role_parse(o->role, &u->role);
    u->uid = o->uid;
    u->gid = o->gid;
    free(u->qos);
    u->qos = cl_xstrdup(o->qos);
    u->disabled = o->disabled;
    cl_error_t e;
    if (set_tenants(c, u, o, &e) < 0)
        ctl_log(c, "journal: user %s: %s (ignored)", u->name, e.msg);
    colossus__user_info__free_unpacked(o, NULL);
    return 0;
}

static int load_qos(ctl_t *c, const char *key, const void *val, size_t len, cl_error_t *err)
{
    Colossus__QosInfo *o = colossus__qos_info__unpack(NULL, len, val);
    if (!o) return cl_err(err, "journal: QOS '%.64s' does not decode", key);
    ctl_qos_t *q = ctl_qos_find(c, o->name);
    if (!q) q = qos_new(c, o->name);
    qos_from_info(q, o);
    colossus__qos_info__free_unpacked(o, NULL);
    return 0;
}

typedef struct load_ctx {
    ctl_t *c;
    const char *kind;
    cl_error_t *err;
} load_ctx_t;

static int load_obj(const char *kind, const char *key, const void *val, size_t len, void *arg)
{
    load_ctx_t *x = arg;
    if (!strcmp(kind, "tenant") || !strcmp(kind, "tenant_usage"))
        return ctl_tenants_load(x->c, kind, key, val, len, x->err);
    if (!strcmp(kind, "user")) return load_user(x->c, key, val, len, x->err);
    if (!strcmp(kind, "qos")) return load_qos(x->c, key, val, len, x->err);
    if (!strcmp(kind, "token")) return ctl_creds_load(x->c, key, val, len, x->err);
    return 0; /* a kind of a later version: kept in the journal, unused here */
}

int ctl_acct_init(ctl_t *c, cl_error_t *err)
{
    c->acct = cl_xcalloc(1, sizeof *c->acct);
    c->acct->next_user_id = 1;
    /* Tenants first (users name them), then QOS, users, tokens. */
    static const char *const order[] = {"tenant", "tenant_usage", "qos", "user", "token"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        load_ctx_t x = {c, order[i], err};
        err->msg[0] = 0;
        if (cl_store_objs_load(c->store, order[i], load_obj, &x, err) < 0 || err->msg[0])
            return -1;
    }
    if (!ctl_qos_find(c, CTL_QOS_DEFAULT)) {
        ctl_qos_t *q = qos_new(c, CTL_QOS_DEFAULT);
        q->max_priority = CTL_QOS_DEFAULT_MAX_PRIORITY;
        qos_journal(c, q);
    }
    for (ctl_qos_t *q = c->acct->qos; q; q = q->hh.next)
        qos_apply(c, q);
    return 0;
}

void ctl_acct_free(ctl_t *c)
{
    if (!c->acct) return;
    ctl_user_t *u, *ut;
    HASH_ITER(hh, c->acct->users, u, ut)
    {
        HASH_DEL(c->acct->users, u);
        user_free(u);
    }
    ctl_qos_t *q, *qt;
    HASH_ITER(hh, c->acct->qos, q, qt)
    {
        HASH_DEL(c->acct->qos, q);
        free(q->name);
        free(q);
    }
    ctl_creds_free(c);
    for (uint32_t i = 0; i < c->acct->ncohorts; i++)
        free(c->acct->cohorts[i]);
    free(c->acct->cohorts);
    free(c->acct->tenants);
    free(c->acct->by_core_id);
    free(c->acct);
    c->acct = NULL;
}

/* ---- callers ---- */

int ctl_caller_resolve(ctl_t *c, const ctl_principal_t *p, ctl_caller_t *k, cl_error_t *why)
{
    memset(k, 0, sizeof *k);
    k->p = p;
    k->scope = p->scope;
    switch (p->kind) {
    case CTL_PRINCIPAL_CLUSTER_KEY:
        k->admin = k->oper = k->sees_all = true;
        k->scope = CTL_SCOPE_ADMIN;
        return 0;
    case CTL_PRINCIPAL_USER: {
        if (p->cred[0]) {
            ctl_cred_t *cr = ctl_cred_find(c, p->cred);
            const char *bad = cr ? ctl_cred_unusable(c, cr) : "was deleted";
            if (bad) return cl_err(why, "token %s %s", p->cred, bad);
        }
        if (p->expires && ctl_now(c) >= p->expires)
            return cl_err(why, "the credential of this connection has expired");
        ctl_user_t *u = ctl_user_find(c, p->user);
        if (!u) return cl_err(why, "user %.64s no longer exists", p->user);
        if (u->disabled) return cl_err(why, "user %.64s is disabled", p->user);
        k->user = u;
        k->sees_all = u->role != CTL_ROLE_NONE;
        k->admin = u->role == CTL_ROLE_ADMIN && k->scope == CTL_SCOPE_ADMIN;
        k->oper = k->admin || (u->role == CTL_ROLE_OPERATOR && k->scope == CTL_SCOPE_ADMIN);
        return 0;
    }
    case CTL_PRINCIPAL_NODE:
        return cl_err(why, "a node credential is only for agents: it makes no requests");
    default:
        return cl_err(why, "not authenticated");
    }
}

bool ctl_caller_member(const ctl_caller_t *k, uint32_t tenant)
{
    if (!k->user) return k->admin;
    for (uint32_t i = 0; i < k->user->ntenants; i++)
        if (k->user->tenants[i].tenant == tenant) return true;
    return false;
}

bool ctl_caller_manages(const ctl_caller_t *k, uint32_t tenant)
{
    if (k->admin) return true;
    if (!k->user || k->scope < CTL_SCOPE_ADMIN) return false;
    for (uint32_t i = 0; i < k->user->ntenants; i++)
        if (k->user->tenants[i].tenant == tenant && k->user->tenants[i].manager) return true;
    return false;
}

bool ctl_caller_sees_tenant(ctl_t *c, const ctl_caller_t *k, uint32_t tenant)
{
    if (k->sees_all || ctl_caller_member(k, tenant)) return true;
    /* A manager of the parent sees its sub-tenants (seeing needs the role, not the
     * admin scope that acting as a manager needs); a plain member of the parent does not. */
    cl_tenant_conf_t conf;
    cl_tenant_get(c->cluster, tenant, &conf);
    if (conf.parent < 0 || !k->user) return false;
    for (uint32_t i = 0; i < k->user->ntenants; i++)
        if (k->user->tenants[i].tenant == (uint32_t)conf.parent && k->user->tenants[i].manager)
            return true;
    return false;
}

int ctl_caller_tenant(ctl_t *c, const ctl_caller_t *k, const char *name, cl_error_t *why)
{
    if (name[0]) {
        int t = cl_tenant_find(c->cluster, name);
        if (t < 0) return cl_err(why, "no tenant '%.64s'", name);
        if (!k->user || ctl_caller_member(k, (uint32_t)t)) return t;
        return cl_err(why, "user %s is not in tenant %.64s", k->user->name, name);
    }
    if (!k->user) return 0; /* the cluster key: "default" */
    if (!k->user->ntenants) return cl_err(why, "user %s is in no tenant", k->user->name);
    return (int)k->user->tenants[0].tenant;
}

/* ---- names ---- */

static int check_name(const char *what, const char *s, cl_error_t *why)
{
    size_t n = strlen(s);
    if (!n || n > 64) return cl_err(why, "%s name must be 1 to 64 characters", what);
    if (s[0] == '-' || s[0] == '.')
        return cl_err(why, "%s name '%.64s' must not start with '%c'", what, s, s[0]);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '@'))
            return cl_err(why, "%s name '%.64s': only letters, digits and - _ . @", what, s);
    }
    return 0;
}

static bool has_field(char *const *set, size_t n, const char *f)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(set[i], f)) return true;
    return false;
}

/* ---- user add / user set ---- */

/* A manager may only change which of its tenants a user is in (and the tenant role there). */
static int manager_tenants_ok(ctl_t *c, const ctl_caller_t *k, const ctl_user_t *u,
                              const Colossus__UserInfo *o, cl_error_t *why)
{
    /* Every tenant gained or lost, or whose role changes, must be one the caller manages. */
    for (size_t i = 0; i < o->n_tenants; i++) {
        int t = cl_tenant_find(c->cluster, o->tenants[i]->tenant);
        if (t < 0) return cl_err(why, "no tenant '%.64s'", o->tenants[i]->tenant);
        bool same = false;
        for (uint32_t j = 0; u && j < u->ntenants; j++)
            same |= u->tenants[j].tenant == (uint32_t)t &&
                    u->tenants[j].manager == !strcmp(o->tenants[i]->role, "manager");
        if (!same && !ctl_caller_manages(k, (uint32_t)t))
            return cl_err(why, "you do not manage tenant %.64s", o->tenants[i]->tenant);
    }
    for (uint32_t j = 0; u && j < u->ntenants; j++) {
        bool kept = false;
        for (size_t i = 0; i < o->n_tenants; i++)
            kept |= !strcmp(cl_tenant_name(c->cluster, u->tenants[j].tenant),
                            o->tenants[i]->tenant);
        if (!kept && !ctl_caller_manages(k, u->tenants[j].tenant))
            return cl_err(why, "you do not manage tenant %s",
                          cl_tenant_name(c->cluster, u->tenants[j].tenant));
    }
    return 0;
}

static int user_check(ctl_t *c, const ctl_caller_t *k, const Colossus__UserSpec *s,
                      ctl_user_t *u, cl_error_t *why)
{
    const Colossus__UserInfo *o = s->user;
    bool set_t = s->create || has_field(s->set, s->n_set, "tenants");
    for (size_t i = 0; i < s->n_set; i++) {
        const char *f = s->set[i];
        if (strcmp(f, "tenants") && strcmp(f, "role") && strcmp(f, "uid") && strcmp(f, "gid") &&
            strcmp(f, "qos") && strcmp(f, "disabled"))
            return cl_err(why, "user set: unknown field '%.32s'", f);
        if (!k->admin && strcmp(f, "tenants"))
            return cl_err(why, "only an admin may set a user's %s", f);
    }
    if (s->create && !k->admin) return cl_err(why, "only an admin may add users");
    ctl_role_t role;
    if ((s->create || has_field(s->set, s->n_set, "role")) && role_parse(o->role, &role) < 0)
        return cl_err(why, "cluster role '%.32s' (none, operator or admin)", o->role);
    if ((s->create || has_field(s->set, s->n_set, "qos")) && o->qos[0] &&
        !ctl_qos_find(c, o->qos))
        return cl_err(why, "no QOS '%.64s'", o->qos);
    if (set_t && !k->admin && manager_tenants_ok(c, k, u, o, why) < 0) return -1;
    for (size_t i = 0; set_t && i < o->n_tenants; i++)
        if (user_tenant(c, o->tenants[i], why) < 0) return -1;
    if (s->create && !o->n_tenants) return cl_err(why, "a user needs a tenant (--tenant)");
    return 0;
}

/* uid/gid of a new user: given, else the controller host's account of that name. */
static int user_ids(const Colossus__UserInfo *o, bool given, uint32_t *uid, uint32_t *gid,
                    cl_error_t *why)
{
    if (given) {
        *uid = o->uid;
        *gid = o->gid;
        return 0;
    }
    errno = 0;
    struct passwd *pw = getpwnam(o->name);
    if (!pw)
        return cl_err(why,
                      "no --uid/--gid given, and this host has no account '%.64s' to take "
                      "them from",
                      o->name);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

void ctl_op_user(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r, ctl_sink_t *reply)
{
    const Colossus__UserSpec *s = r->user;
    cl_error_t why;
    const char *op = k->op;
    const char *name = s->user ? s->user->name : "";
    ctl_user_t *u = s->user ? ctl_user_find(c, name) : NULL;
    bool ids_given = has_field(s->set, s->n_set, "uid") || has_field(s->set, s->n_set, "gid");
    uint32_t uid = 0, gid = 0;
    int rc = -1;
    if (!s->user)
        cl_err(&why, "no user given");
    else if (check_name("user", name, &why) == 0) {
        if (s->create && u)
            cl_err(&why, "user %s exists (change it with user set)", name);
        else if (!s->create && !u)
            cl_err(&why, "no user %.64s", name);
        else if (user_check(c, k, s, u, &why) == 0 &&
                 (!s->create || user_ids(s->user, ids_given, &uid, &gid, &why) == 0))
            rc = 0;
    }
    if (rc < 0) {
        ctl_audit(c, k, op, name, false, why.msg);
        ctl_reply_error(c, reply, r->req, "%s %s refused: %s", op, name, why.msg);
        return;
    }
    const Colossus__UserInfo *o = s->user;
    if (s->create) {
        u = user_new(c, name);
        u->uid = uid;
        u->gid = gid;
    }
    if (s->create || has_field(s->set, s->n_set, "tenants")) set_tenants(c, u, o, &why);
    if (s->create || has_field(s->set, s->n_set, "role")) role_parse(o->role, &u->role);
    if (!s->create && has_field(s->set, s->n_set, "uid")) u->uid = o->uid;
    if (!s->create && has_field(s->set, s->n_set, "gid")) u->gid = o->gid;
    if (s->create || has_field(s->set, s->n_set, "qos")) {
        free(u->qos);
        u->qos = cl_xstrdup(o->qos);
    }
    if (has_field(s->set, s->n_set, "disabled")) u->disabled = o->disabled;
    cl_user_limit_set(c->cluster, u->core_id, ctl_user_qos(c, u)->max_running, NULL);
    ctl_user_journal(c, u);
    char detail[160];
    snprintf(detail, sizeof detail, "uid %u gid %u role %s qos %s%s", u->uid, u->gid,
             ctl_role_name(u->role)[0] ? ctl_role_name(u->role) : "none",
             u->qos[0] ? u->qos : CTL_QOS_DEFAULT, u->disabled ? " disabled" : "");
    ctl_audit(c, k, op, name, true, detail);
    ctl_reply_ok(c, reply, r->req, NULL);
}

/* Who sees u in `user list`: admins and operators all; a manager the users of its tenants;
 * anyone else only itself. */
static bool sees_user(const ctl_caller_t *k, const ctl_user_t *u)
{
    if (k->sees_all || k->user == u) return true;
    if (!k->user) return false;
    for (uint32_t i = 0; i < u->ntenants; i++)
        for (uint32_t j = 0; j < k->user->ntenants; j++)
            if (k->user->tenants[j].manager &&
                k->user->tenants[j].tenant == u->tenants[i].tenant)
                return true;
    return false;
}

void ctl_op_users(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply)
{
    uint32_t n = HASH_COUNT(c->acct->users);
    Colossus__UserInfo **vp = ctl_items(n, sizeof **vp);
    size_t m = 0;
    for (ctl_user_t *u = c->acct->users; u; u = u->hh.next)
        if (sees_user(k, u)) user_to_info(c, u, vp[m++]);
    ctl_reply_parts(c, reply, r->req, (void **)vp, m, CTL_PART_USERS);
    for (size_t i = 0; i < m; i++)
        user_info_release(vp[i]);
    free(vp);
}

/* ---- QOS ---- */

void ctl_op_qos(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r, ctl_sink_t *reply)
{
    const Colossus__QosSpec *s = r->qos;
    const char *op = k->op;
    const char *name = s->qos ? s->qos->name : "";
    ctl_qos_t *q = s->qos ? ctl_qos_find(c, name) : NULL;
    cl_error_t why;
    int rc = -1;
    if (!k->admin)
        cl_err(&why, "only an admin may change QOS");
    else if (!s->qos)
        cl_err(&why, "no QOS given");
    else if (check_name("QOS", name, &why) < 0)
        ;
    else if (s->create && q)
        cl_err(&why, "QOS %s exists (change it with qos set)", name);
    else if (!s->create && !q)
        cl_err(&why, "no QOS %.64s", name);
    else if (!(s->qos->max_wall_s >= 0) || s->qos->max_wall_s > 1e9)
        cl_err(&why, "max wall time must be 0 (none) to 1e9 s");
    else
        rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_set; i++)
        if (strcmp(s->set[i], "max_priority") && strcmp(s->set[i], "max_gpus_per_job") &&
            strcmp(s->set[i], "max_wall_s") && strcmp(s->set[i], "max_running_jobs") &&
            strcmp(s->set[i], "preemptible"))
            rc = cl_err(&why, "qos set: unknown field '%.32s'", s->set[i]);
    if (rc < 0) {
        ctl_audit(c, k, op, name, false, why.msg);
        ctl_reply_error(c, reply, r->req, "%s %s refused: %s", op, name, why.msg);
        return;
    }
    if (s->create) {
        q = qos_new(c, name);
        qos_from_info(q, s->qos);
    } else {
        ctl_qos_t old = *q;
        qos_from_info(q, s->qos);
        if (!has_field(s->set, s->n_set, "max_priority")) q->max_priority = old.max_priority;
        if (!has_field(s->set, s->n_set, "max_gpus_per_job"))
            q->max_gpus_per_job = old.max_gpus_per_job;
        if (!has_field(s->set, s->n_set, "max_wall_s")) q->max_wall_s = old.max_wall_s;
        if (!has_field(s->set, s->n_set, "max_running_jobs")) q->max_running = old.max_running;
        if (!has_field(s->set, s->n_set, "preemptible")) q->preemptible = old.preemptible;
    }
    qos_apply(c, q);
    qos_journal(c, q);
    char detail[160];
    snprintf(detail, sizeof detail,
             "max priority %d, max GPUs per job %u, max wall %g s, max running %u%s",
             q->max_priority, q->max_gpus_per_job, q->max_wall_s, q->max_running,
             q->preemptible ? ", preemptible" : "");
    ctl_audit(c, k, op, name, true, detail);
    ctl_reply_ok(c, reply, r->req, NULL);
}

void ctl_op_qoses(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                  ctl_sink_t *reply)
{
    uint32_t n = HASH_COUNT(c->acct->qos);
    Colossus__QosInfo **vp = ctl_items(n, sizeof **vp);
    size_t m = 0;
    for (ctl_qos_t *q = c->acct->qos; q; q = q->hh.next)
        qos_to_info(q, vp[m++]);
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    rs.req = r->req;
    rs.ok = true;
    rs.qoses = vp;
    rs.n_qoses = m;
    ctl_reply(c, reply, &rs);
    free(vp);
}

void ctl_op_whoami(ctl_t *c, const ctl_caller_t *k, const Colossus__Request *r,
                   ctl_sink_t *reply)
{
    Colossus__Response rs = COLOSSUS__RESPONSE__INIT;
    Colossus__UserInfo o, *op = &o;
    rs.req = r->req;
    rs.ok = true;
    rs.principal = (char *)k->p->name;
    rs.role = (char *)ctl_principal_role(c, k->p);
    if (k->user) {
        user_to_info(c, k->user, &o);
        rs.users = &op;
        rs.n_users = 1;
    }
    ctl_reply(c, reply, &rs);
    if (k->user) user_info_release(&o);
}

const char *ctl_principal_role(ctl_t *c, const ctl_principal_t *who)
{
    if (who->kind == CTL_PRINCIPAL_CLUSTER_KEY) return "admin";
    if (who->kind == CTL_PRINCIPAL_NODE) return "node";
    ctl_user_t *u = who->kind == CTL_PRINCIPAL_USER ? ctl_user_find(c, who->user) : NULL;
    if (!u) return "";
    if (u->role != CTL_ROLE_NONE) return ctl_role_name(u->role);
    for (uint32_t i = 0; i < u->ntenants; i++)
        if (u->tenants[i].manager) return "manager";
    return "user";
}
