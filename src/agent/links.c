/* links.c - network links from sysfs (links.h). A few small reads a poll: no netlink socket,
 * no privileges, and a test points root at a tree of its own. */
#include "agent/links.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct link {
    char name[96];  /* eth0, or mlx5_0/1 */
    char path[640]; /* the file that says up or down */
    bool ib;        /* an InfiniBand/RoCE port: state "4: ACTIVE" */
    bool watched;   /* listed, or seen up once (auto) */
    bool down;      /* at the last poll */
} link_t;

struct ag_links {
    link_t *v;
    size_t n, cap;
};

static void add(ag_links_t *l, const char *name, const char *path, bool ib, bool watched)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = cl_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    link_t *k = &l->v[l->n++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    snprintf(k->path, sizeof k->path, "%s", path);
    k->ib = ib;
    k->watched = watched;
}

/* The file's first line, or -1 (gone, or unreadable: carrier of an interface set down reads
 * EINVAL). */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *ok = fgets(buf, (int)len, f);
    fclose(f);
    if (!ok) return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* Up: an interface's carrier 1, an IB port ACTIVE (state "4: ACTIVE"). */
static bool is_up(const link_t *k, char *seen, size_t len)
{
    char b[64];
    if (read_line(k->path, b, sizeof b) < 0) {
        snprintf(seen, len, "no carrier");
        return false;
    }
    snprintf(seen, len, "%s", k->ib ? b : (!strcmp(b, "1") ? "carrier" : "no carrier"));
    return k->ib ? !strncmp(b, "4", 1) : !strcmp(b, "1");
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void add_net(ag_links_t *l, const char *root, const char *name, bool watched)
{
    char p[640];
    snprintf(p, sizeof p, "%.300s/class/net/%.255s/carrier", root, name);
    add(l, name, p, false, watched);
}

static void add_ib(ag_links_t *l, const char *root, const char *dev, const char *port,
                   bool watched)
{
    char p[640], name[96];
    snprintf(p, sizeof p, "%.300s/class/infiniband/%.100s/ports/%.100s/state", root, dev, port);
    snprintf(name, sizeof name, "%.60s/%.30s", dev, port);
    add(l, name, p, true, watched);
}

static void discover(ag_links_t *l, const char *root)
{
    char p[400];
    snprintf(p, sizeof p, "%.300s/class/net", root);
    DIR *d = opendir(p);
    for (struct dirent *e; d && (e = readdir(d));) {
        char dev[800];
        if (e->d_name[0] == '.') continue;
        snprintf(dev, sizeof dev, "%s/%.255s/device", p,
                 e->d_name); /* physical, not lo or a bridge */
        if (exists(dev)) add_net(l, root, e->d_name, false);
    }
    if (d) closedir(d);
    snprintf(p, sizeof p, "%.300s/class/infiniband", root);
    d = opendir(p);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char ports[800];
        snprintf(ports, sizeof ports, "%s/%.255s/ports", p, e->d_name);
        DIR *pd = opendir(ports);
        for (struct dirent *q; pd && (q = readdir(pd));)
            if (q->d_name[0] != '.') add_ib(l, root, e->d_name, q->d_name, false);
        if (pd) closedir(pd);
    }
    if (d) closedir(d);
}

ag_links_t *ag_links_open(const char *root, const char *spec, cl_error_t *err)
{
    if (!spec || !strcmp(spec, "none")) return NULL;
    ag_links_t *l = cl_xcalloc(1, sizeof *l);
    if (!strcmp(spec, "auto")) {
        discover(l, root);
        return l;
    }
    char *copy = cl_xstrdup(spec), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *slash = strchr(t, '/');
        if (!*t || strlen(t) > 60 ||
            (slash && (slash == t || !slash[1] || strchr(slash + 1, '/')))) {
            cl_err(err,
                   "--links: '%.64s' is not an interface (eth0) or an InfiniBand port "
                   "(mlx5_0/1)",
                   t);
            goto fail;
        }
        if (slash) {
            *slash = 0;
            add_ib(l, root, t, slash + 1, true);
        } else {
            add_net(l, root, t, true);
        }
        char dir[640];
        snprintf(dir, sizeof dir, "%s", l->v[l->n - 1].path);
        *strrchr(dir, '/') = 0;
        if (!exists(dir)) {
            cl_err(err, "--links: no %s %s (%s)", slash ? "InfiniBand port" : "interface",
                   l->v[l->n - 1].name, dir);
            goto fail;
        }
    }
    free(copy);
    return l;
fail:
    free(copy);
    ag_links_free(l);
    return NULL;
}

void ag_links_free(ag_links_t *l)
{
    if (!l) return;
    free(l->v);
    free(l);
}

size_t ag_links_count(const ag_links_t *l)
{
    return l ? l->n : 0;
}

int ag_links_poll(ag_links_t *l, char *why, size_t len)
{
    size_t off = 0;
    int bad = 0;
    if (len) why[0] = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        link_t *k = &l->v[i];
        char seen[64];
        bool up = is_up(k, seen, sizeof seen);
        if (up) k->watched = true; /* auto: watched once seen up */
        k->down = k->watched && !up;
        if (!k->down) continue;
        bad = 1;
        if (off < len)
            off += (size_t)snprintf(why + off, len - off, "%snetwork link %s down (%s)",
                                    off ? "; " : "", k->name, seen);
    }
    return bad;
}
