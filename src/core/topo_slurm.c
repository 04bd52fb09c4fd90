/* topo_slurm.c - read Slurm's topology.conf (tree plugin) into a Colossus topology. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

#define MAX_EXPAND (1u << 22) /* nodes one file may name in all: 4M, 7x Colossus 2 */

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
    int32_t pod;   /* for leaves: index of the pod switch, -1 none */
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
    if (width)
        *width = (int)(*r - a);
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
                if (range_bound(&r, rb, &lo, &width, item, end, why, wl) < 0)
                    return -1;
                hi = lo;
                if (r < rb && *r == '-') {
                    r++;
                    if (range_bound(&r, rb, &hi, NULL, item, end, why, wl) < 0)
                        return -1;
                }
                if (r < rb && *r != ',') {
                    snprintf(why, wl, "bad range in '%.*s': unexpected '%c'", (int)(end - item),
                             item, *r);
                    return -1;
                }
                if (r < rb)
                    r++;
                if (hi < lo) {
                    snprintf(why, wl, "bad range in '%.*s': %lu is below %lu", (int)(end - item),
                             item, hi, lo);
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
        if (*s == ',')
            s++;
    }
    return 0;
}

static int find_sw(sw_t *sws, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) /* switches number in the thousands at most */
        if (!strcmp(sws[i].name, name))
            return (int)i;
    return -1;
}

cl_topo_t *cl_topo_parse_slurm(const char *text, size_t len, const char *file, uint32_t gpn,
                               cl_error_t *err)
{
    sw_t *sws = NULL;
    uint32_t nsw = 0, swcap = 0;
    cl_topo_t *t = NULL;
    uint64_t budget = MAX_EXPAND;
    char why[200];
    int lineno = 0, bad_line = 0;
    const char *p = text, *end = text + len;
    if (!file)
        file = "topology.conf";

    while (p < end && !bad_line) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        lineno++;
        char *line = strndup(p, (size_t)(eol - p));
        p = eol + 1;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        line[strcspn(line, "\r")] = 0;
        sw_t cur = {.pod = -1, .line = lineno};
        int have_nodes = 0, have_kids = 0;
        char *save = NULL;
        for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq || eq == tok || !eq[1]) {
                snprintf(why, sizeof(why), "expected KEY=VALUE, got '%s'", tok);
                goto bad;
            }
            *eq = 0;
            const char *val = eq + 1;
            if (!strcasecmp(tok, "SwitchName")) {
                if (cur.name) {
                    snprintf(why, sizeof(why), "SwitchName given twice");
                    goto bad;
                }
                cur.name = cl__xstrdup(val);
            } else if (!strcasecmp(tok, "Nodes")) {
                have_nodes = 1;
                if (hostlist_expand(val, &cur.nodes, &budget, why, sizeof(why)) < 0)
                    goto bad;
            } else if (!strcasecmp(tok, "Switches")) {
                have_kids = 1;
                if (hostlist_expand(val, &cur.kids, &budget, why, sizeof(why)) < 0)
                    goto bad;
            } else if (!strcasecmp(tok, "LinkSpeed")) {
                /* accepted and ignored: placement is by hop count, not speed */
            } else {
                snprintf(why, sizeof(why), "unknown key '%s' (expected SwitchName, Nodes, "
                         "Switches or LinkSpeed)", tok);
                goto bad;
            }
        }
        if (!cur.name && (have_nodes || have_kids)) {
            snprintf(why, sizeof(why), "line has no SwitchName=");
            goto bad;
        }
        if (cur.name) {
            if (have_nodes && have_kids) {
                snprintf(why, sizeof(why), "switch '%s' has both Nodes= and Switches=",
                         cur.name);
                goto bad;
            }
            if (!have_nodes && !have_kids) {
                snprintf(why, sizeof(why), "switch '%s' has neither Nodes= nor Switches=",
                         cur.name);
                goto bad;
            }
            if (find_sw(sws, nsw, cur.name) >= 0) {
                snprintf(why, sizeof(why), "switch '%s' defined twice", cur.name);
                goto bad;
            }
            if (nsw == swcap) {
                swcap = swcap ? swcap * 2 : 64;
                sws = cl__xrealloc(sws, sizeof(sw_t) * swcap);
            }
            sws[nsw++] = cur;
            free(line);
            continue;
        }
        free(line);
        continue;
    bad:
        free(cur.name);
        strv_free(&cur.nodes);
        strv_free(&cur.kids);
        free(line);
        bad_line = lineno;
    }
    if (bad_line) {
        cl__err(err, "%s:%d: %s", file, bad_line, why);
        goto out;
    }
    if (nsw == 0) {
        cl__err(err, "%s: no switches defined", file);
        goto out;
    }
    /* Link pods to leaves. */
    for (uint32_t i = 0; i < nsw; i++) {
        int leaves = 0, spines = 0;
        for (uint32_t k = 0; k < sws[i].kids.n; k++) {
            int j = find_sw(sws, nsw, sws[i].kids.v[k]);
            if (j < 0) {
                cl__err(err, "%s:%d: switch '%s' lists unknown switch '%s'", file, sws[i].line,
                        sws[i].name, sws[i].kids.v[k]);
                goto out;
            }
            if (sws[j].nodes.n) {
                leaves++;
                if (sws[j].pod >= 0) {
                    cl__err(err, "%s:%d: leaf switch '%s' is already under switch '%s'", file,
                            sws[i].line, sws[j].name, sws[sws[j].pod].name);
                    goto out;
                }
                sws[j].pod = (int32_t)i;
            } else {
                spines++;
            }
        }
        if (leaves && spines) {
            cl__err(err, "%s:%d: switch '%s' mixes leaf switches and upper switches", file,
                    sws[i].line, sws[i].name);
            goto out;
        }
        sws[i].is_pod = leaves > 0;
    }
    /* Order: pods in file order with their leaves in listed order, then leaves without a
     * parent, each a pod of its own. */
    uint32_t nleaves = 0, npods = 0, nnodes = 0;
    for (uint32_t i = 0; i < nsw; i++)
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
        for (uint32_t i = 0; i < nsw; i++) {
            uint32_t nk = pass == 0 ? (sws[i].is_pod ? sws[i].kids.n : 0)
                                    : (sws[i].nodes.n && sws[i].pod < 0 ? 1 : 0);
            if (!nk)
                continue;
            pnames[npods] = cl__xstrdup(sws[i].name);
            for (uint32_t k = 0; k < nk; k++) {
                uint32_t j = pass == 0 ? (uint32_t)find_sw(sws, nsw, sws[i].kids.v[k]) : i;
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
    t = cl__topo_build(nleaves, ln, lp, npods, gpn, 1, names, lnames, pnames, NULL, err);
    if (!t) {
        if (err) {
            char tmp[sizeof(err->msg) * 2];
            snprintf(tmp, sizeof(tmp), "%s: %s", file, err->msg);
            tmp[sizeof(err->msg) - 1] = 0;
            memcpy(err->msg, tmp, sizeof(err->msg));
        }
        for (uint32_t i = 0; i < nleaves; i++) {
            free(lnames[i]);
            if (i < npods)
                free(pnames[i]);
        }
        free(lnames);
        free(pnames);
    }
    free(ln);
    free(lp);
    free(names);
out:
    for (uint32_t i = 0; i < nsw; i++) {
        free(sws[i].name);
        strv_free(&sws[i].nodes);
        strv_free(&sws[i].kids);
    }
    free(sws);
    return t;
}
