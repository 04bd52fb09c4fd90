/* topo_slurm.c - read Slurm's topology.conf (tree plugin) into a Colossus topology. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

/* Nodes one file may name in all: 2M, nearly 4x Colossus 2. Found by libFuzzer at 4M: a
 * file of 3.8M names took 1 GB to parse into a topology (under ASan; 2M take 0.6 GB). */
#define MAX_EXPAND (1u << 21)

typedef struct strv {
    char **v;
    uint32_t n, cap;
} strv_t;

static void strv_push(strv_t *s, char *p)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = cl__xrealloc(s->v, sizeof(char *) * s->cap);
    }
    s->v[s->n++] = p;
}

static void strv_free(strv_t *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

typedef struct sw {
    char *name;
    int line;
    strv_t nodes, kids;
    int32_t pod; /* for leaves: index of the pod switch, -1 none */
    uint8_t is_pod;
} sw_t;

/* One bound of a hostlist range at *r (advanced past it): at most 9 digits, so that the
 * expansion loop cannot wrap. width gets the digit count (zero padding) when not NULL. */
static int range_bound(const char **r, const char *rb, unsigned long *v, int *width,
                       const char *item, const char *end, char *why, size_t wl)
{
    const char *a = *r;
    while (*r < rb && isdigit((unsigned char)**r))
        (*r)++;
    if (*r == a) {
        snprintf(why, wl, "bad range in '%.*s': expected a number", (int)(end - item), item);
        return -1;
    }
    if (*r - a > 9) {
        snprintf(why, wl, "bad range in '%.*s': number longer than 9 digits", (int)(end - item),
                 item);
        return -1;
    }
    if (width) *width = (int)(*r - a);
    *v = strtoul(a, NULL, 10);
    return 0;
}

/* Expand a Slurm hostlist ("gpu[0001-0004,0010],login1") appending to out.
 * Returns 0, or -1 with why set. */
static int hostlist_expand(const char *s, strv_t *out, uint64_t *budget, char *why, size_t wl)
{
    while (*s) {
        const char *item = s;
        const char *lb = NULL, *rb = NULL;
        while (*s && *s != ',' && *s != '[')
            s++;
        if (*s == '[') {
            lb = s;
            while (*s && *s != ']')
                s++;
            if (*s != ']') {
                snprintf(why, wl, "unclosed '[' in hostlist '%s'", item);
                return -1;
            }
            rb = s++;
            while (*s && *s != ',') {
                if (*s == '[') {
                    snprintf(why, wl, "more than one [range] in one host name in '%s'", item);
                    return -1;
                }
                s++;
            }
        }
        const char *end = s;
        if (end == item) {
            snprintf(why, wl, "empty host name in hostlist");
            return -1;
        }
        if (!lb) {
            if (!(*budget)--) {
                snprintf(why, wl, "hostlist names more than %u nodes", MAX_EXPAND);
                return -1;
            }
            strv_push(out, strndup(item, (size_t)(end - item)));
        } else {
            int plen = (int)(lb - item);
            const char *suf = rb + 1;
            int slen = (int)(end - suf), width = 0;
            const char *r = lb + 1;
            while (r < rb) {
                unsigned long lo, hi;
                if (range_bound(&r, rb, &lo, &width, item, end, why, wl) < 0) return -1;
                hi = lo;
                if (r < rb && *r == '-') {
                    r++;
                    if (range_bound(&r, rb, &hi, NULL, item, end, why, wl) < 0) return -1;
                }
                if (r < rb && *r != ',') {
                    snprintf(why, wl, "bad range in '%.*s': unexpected '%c'", (int)(end - item),
                             item, *r);
                    return -1;
                }
                if (r < rb) r++;
                if (hi < lo) {
                    snprintf(why, wl, "bad range in '%.*s': %lu is below %lu",
                             (int)(end - item), item, hi, lo);
                    return -1;
                }
                if (hi - lo >= *budget) {
                    snprintf(why, wl, "hostlist names more than %u nodes", MAX_EXPAND);
                    return -1;
                }
                *budget -= hi - lo + 1;
                for (unsigned long v = lo; v <= hi; v++) {
                    char buf[256];
                    int n = snprintf(buf, sizeof(buf), "%.*s%0*lu%.*s", plen, item, width, v,
                                     slen, suf);
                    if (n < 0 || n >= (int)sizeof(buf)) {
                        snprintf(why, wl, "host name too long in '%.*s'", (int)(end - item),
                                 item);
                        return -1;
                    }
                    strv_push(out, cl__xstrdup(buf));
                }
            }
        }
        if (*s == ',') s++;
    }
    return 0;
}

static int find_sw(sw_t *sws, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) /* switches number in the thousands at most */
        if (!strcmp(sws[i].name, name)) return (int)i;
    return -1;
}

typedef struct swlist {
    sw_t *v;
    uint32_t n, cap;
} swlist_t;

static void sw_free(sw_t *w)
{
    free(w->name);
    strv_free(&w->nodes);
    strv_free(&w->kids);
}

/* One KEY=VALUE token of a line into cur. -1 with why. */
static int parse_token(char *tok, sw_t *cur, int *have_nodes, int *have_kids, uint64_t *budget,
                       char *why, size_t wl)
{
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1]) {
        snprintf(why, wl, "expected KEY=VALUE, got '%s'", tok);
        return -1;
    }
    *eq = 0;
    const char *val = eq + 1;
    if (!strcasecmp(tok, "SwitchName")) {
        if (cur->name) {
            snprintf(why, wl, "SwitchName given twice");
            return -1;
        }
        cur->name = cl__xstrdup(val);
        return 0;
    }
    if (!strcasecmp(tok, "Nodes")) {
        *have_nodes = 1;
        return hostlist_expand(val, &cur->nodes, budget, why, wl);
    }
    if (!strcasecmp(tok, "Switches")) {
        *have_kids = 1;
        return hostlist_expand(val, &cur->kids, budget, why, wl);
    }
    if (!strcasecmp(tok, "LinkSpeed"))
        return 0; /* accepted and ignored: placement is by hop count, not speed */
    snprintf(why, wl, "unknown key '%s' (expected SwitchName, Nodes, Switches or LinkSpeed)",
             tok);
    return -1;
}

/* One line (comments stripped) into the list of switches. -1 with why. */
static int parse_line(char *line, int lineno, swlist_t *sws, uint64_t *budget, char *why,
                      size_t wl)
{
    sw_t cur = {.pod = -1, .line = lineno};
    int have_nodes = 0, have_kids = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
        if (parse_token(tok, &cur, &have_nodes, &have_kids, budget, why, wl) < 0) goto bad;
    if (!cur.name) {
        if (!have_nodes && !have_kids) return 0; /* a blank or comment line */
        snprintf(why, wl, "line has no SwitchName=");
        goto bad;
    }
    if (have_nodes && have_kids) {
        snprintf(why, wl, "switch '%s' has both Nodes= and Switches=", cur.name);
        goto bad;
    }
    if (!have_nodes && !have_kids) {
        snprintf(why, wl, "switch '%s' has neither Nodes= nor Switches=", cur.name);
        goto bad;
    }
    if (find_sw(sws->v, sws->n, cur.name) >= 0) {
        snprintf(why, wl, "switch '%s' defined twice", cur.name);
        goto bad;
    }
    if (sws->n == sws->cap) {
        sws->cap = sws->cap ? sws->cap * 2 : 64;
        sws->v = cl__xrealloc(sws->v, sizeof(sw_t) * sws->cap);
    }
    sws->v[sws->n++] = cur;
    return 0;
bad:
    sw_free(&cur);
    return -1;
}

/* Every line of the file. -1 with err "FILE:LINE: why". */
static int read_switches(const char *text, size_t len, const char *file, swlist_t *sws,
                         cl_error_t *err)
{
    uint64_t budget = MAX_EXPAND;
    char why[200];
    int lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        lineno++;
        char *line = strndup(p, (size_t)(eol - p));
        CL_ASSERT(line != NULL);
        p = eol + 1;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        line[strcspn(line, "\r")] = 0;
        int rc = parse_line(line, lineno, sws, &budget, why, sizeof(why));
        free(line);
        if (rc < 0) {
            cl__err(err, "%s:%d: %s", file, lineno, why);
            return -1;
        }
    }
    if (sws->n == 0) {
        cl__err(err, "%s: no switches defined", file);
        return -1;
    }
    return 0;
}

/* Link pods to leaves: a switch listing leaf switches is a pod. */
static int link_pods(swlist_t *l, const char *file, cl_error_t *err)
{
    sw_t *sws = l->v;
    for (uint32_t i = 0; i < l->n; i++) {
        int leaves = 0, spines = 0;
        for (uint32_t k = 0; k < sws[i].kids.n; k++) {
            int j = find_sw(sws, l->n, sws[i].kids.v[k]);
            if (j < 0) {
                cl__err(err, "%s:%d: switch '%s' lists unknown switch '%s'", file, sws[i].line,
                        sws[i].name, sws[i].kids.v[k]);
                return -1;
            }
            if (sws[j].nodes.n) {
                leaves++;
                if (sws[j].pod >= 0) {
                    cl__err(err, "%s:%d: leaf switch '%s' is already under switch '%s'", file,
                            sws[i].line, sws[j].name, sws[sws[j].pod].name);
                    return -1;
                }
                sws[j].pod = (int32_t)i;
            } else {
                spines++;
            }
        }
        if (leaves && spines) {
            cl__err(err, "%s:%d: switch '%s' mixes leaf switches and upper switches", file,
                    sws[i].line, sws[i].name);
            return -1;
        }
        sws[i].is_pod = leaves > 0;
    }
    return 0;
}

/* The topology in order: pods in file order with their leaves in listed order, then leaves
 * without a parent, each a pod of its own. */
static cl_topo_t *build(const swlist_t *l, uint32_t gpn, const char *file, cl_error_t *err)
{
    const sw_t *sws = l->v;
    uint32_t nleaves = 0, npods = 0, nnodes = 0;
    for (uint32_t i = 0; i < l->n; i++)
        if (sws[i].nodes.n) {
            nleaves++;
            nnodes += sws[i].nodes.n;
        }
    uint32_t *ln = cl__xmalloc(sizeof(uint32_t) * nleaves);
    uint32_t *lp = cl__xmalloc(sizeof(uint32_t) * nleaves);
    char **names = cl__xmalloc(sizeof(char *) * nnodes);
    char **lnames = cl__xmalloc(sizeof(char *) * nleaves);
    char **pnames = cl__xmalloc(sizeof(char *) * nleaves);
    uint32_t li = 0, ni = 0;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < l->n; i++) {
            uint32_t nk = pass == 0 ? (sws[i].is_pod ? sws[i].kids.n : 0)
                                    : (sws[i].nodes.n && sws[i].pod < 0 ? 1 : 0);
            if (!nk) continue;
            pnames[npods] = cl__xstrdup(sws[i].name);
            for (uint32_t k = 0; k < nk; k++) {
                uint32_t j = pass == 0 ? (uint32_t)find_sw(l->v, l->n, sws[i].kids.v[k]) : i;
                ln[li] = sws[j].nodes.n;
                lp[li] = npods;
                lnames[li] = cl__xstrdup(sws[j].name);
                for (uint32_t m = 0; m < sws[j].nodes.n; m++)
                    names[ni++] = sws[j].nodes.v[m];
                li++;
            }
            npods++;
        }
    CL_ASSERT(li == nleaves && ni == nnodes);
    cl_topo_t *t =
        cl__topo_build(nleaves, ln, lp, npods, gpn, 1, names, lnames, pnames, NULL, err);
    if (!t) {
        if (err) {
            char tmp[sizeof(err->msg) * 2];
            snprintf(tmp, sizeof(tmp), "%s: %s", file, err->msg);
            tmp[sizeof(err->msg) - 1] = 0;
            memcpy(err->msg, tmp, sizeof(err->msg));
        }
        for (uint32_t i = 0; i < nleaves; i++) {
            free(lnames[i]);
            if (i < npods) free(pnames[i]);
        }
        free(lnames);
        free(pnames);
    }
    free(ln);
    free(lp);
    free(names);
    return t;
}

cl_topo_t *cl_topo_parse_slurm(const char *text, size_t len, const char *file, uint32_t gpn,
                               cl_error_t *err)
{
    swlist_t sws = {0};
    cl_topo_t *t = NULL;
    if (!file) file = "topology.conf";
    if (read_switches(text, len, file, &sws, err) == 0 && link_pods(&sws, file, err) == 0)
        t = build(&sws, gpn, file, err);
    for (uint32_t i = 0; i < sws.n; i++)
        sw_free(&sws.v[i]);
    free(sws.v);
    return t;
}
