/* cluster_id.c - the cluster identity an agent belongs to, and whether a controller is of it
 * (see cluster_id.h). */
#include "agent/cluster_id.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/util.h"

#define REFUSAL_LOG_MS 60000.0 /* a refusal that goes on is logged again after this long */

static const char *WHO = "agent";

ag_cluster_verdict_t ag_cluster_decide(uint64_t known, uint64_t offered, size_t held)
{
    if (!offered || offered == known) return AG_CLUSTER_ACCEPT;
    if (!known || !held) return AG_CLUSTER_ADOPT;
    return AG_CLUSTER_REFUSE;
}

static bool file_gone(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 && errno == ENOENT;
}

int ag_cluster_load(ag_cluster_t *c, const char *work_dir, cl_error_t *err)
{
    memset(c, 0, sizeof *c);
    if ((size_t)snprintf(c->path, sizeof c->path, "%s/cluster-id", work_dir) >= sizeof c->path)
        return cl_err(err, "work dir %.100s...: path too long", work_dir);
    if (file_gone(c->path)) return 0;
    size_t len;
    char *text = cl_read_file(c->path, &len, err), *end = NULL;
    if (!text) return -1;
    bool ok = len == 16 || (len == 17 && text[16] == '\n');
    for (int i = 0; ok && i < 16; i++)
        ok = isxdigit((unsigned char)text[i]);
    unsigned long long id = ok ? strtoull(text, &end, 16) : 0;
    ok = ok && id;
    free(text);
    if (!ok) return cl_err(err, "%s holds no cluster id (16 hex digits)", c->path);
    c->id = id;
    return 0;
}

bool ag_cluster_differs(const ag_cluster_t *c, uint64_t offered)
{
    return offered && c->id && offered != c->id;
}

static void adopt(ag_cluster_t *c, uint64_t offered, const char *controller)
{
    char text[32];
    cl_error_t err;
    snprintf(text, sizeof text, "%016llx\n", (unsigned long long)offered);
    if (cl_write_file_atomic(c->path, text, &err) < 0)
        cl_daemon_log(WHO, "cannot store the cluster id (kept in memory only): %s", err.msg);
    if (!c->id)
        cl_daemon_log(WHO, "joined cluster %016llx of the controller at %s (stored in %s)",
                      (unsigned long long)offered, controller, c->path);
    else
        cl_daemon_log(WHO,
                      "the controller at %s is cluster %016llx, not %016llx: this agent "
                      "holds no launch of the old one, so it joins the new one (stored in %s)",
                      controller, (unsigned long long)offered, (unsigned long long)c->id,
                      c->path);
    c->id = offered;
}

static void log_refusal(ag_cluster_t *c, uint64_t offered, size_t held, size_t running,
                        const char *controller)
{
    double now = cl_now_ms();
    c->refusals++;
    if (c->refusing == offered && now - c->refused_log_ms < REFUSAL_LOG_MS) return;
    char again[64] = "";
    if (c->refusing == offered)
        snprintf(again, sizeof again, " (still: %u tries refused)", c->refusals);
    cl_daemon_log(WHO,
                  "REFUSING the controller at %s%s: it is cluster %016llx, but this agent "
                  "holds %zu launch%s (%zu running) of cluster %016llx; their ranks keep "
                  "running and none of this controller's orders (its fence included) is "
                  "obeyed; retrying, in case cluster %016llx's controller comes back. To join "
                  "the new cluster instead (its fence then stops those ranks), remove %s or "
                  "restart this agent",
                  controller, again, (unsigned long long)offered, held, held == 1 ? "" : "es",
                  running, (unsigned long long)c->id, (unsigned long long)c->id, c->path);
    if (c->refusing != offered) c->refusals = 1;
    c->refusing = offered;
    c->refused_log_ms = now;
}

bool ag_cluster_check(ag_cluster_t *c, uint64_t offered, size_t held, size_t running,
                      const char *controller)
{
    ag_cluster_verdict_t v = ag_cluster_decide(c->id, offered, held);
    if (v == AG_CLUSTER_REFUSE && file_gone(c->path)) {
        cl_daemon_log(WHO, "%s was removed: the agent leaves cluster %016llx", c->path,
                      (unsigned long long)c->id);
        c->id = 0;
        v = AG_CLUSTER_ADOPT;
    }
    if (v == AG_CLUSTER_REFUSE) {
        log_refusal(c, offered, held, running, controller);
        return false;
    }
    if (c->refusing) {
        if (offered == c->id)
            cl_daemon_log(WHO, "the controller at %s is cluster %016llx again: accepted",
                          controller, (unsigned long long)c->id);
        c->refusing = 0;
        c->refusals = 0;
    }
    if (v == AG_CLUSTER_ADOPT) adopt(c, offered, controller);
    if (!offered && !c->told_no_id) {
        cl_daemon_log(WHO,
                      "the controller at %s sends no cluster id (an older controller): its "
                      "orders are obeyed without knowing which cluster it is",
                      controller);
        c->told_no_id = true;
    }
    if (offered) c->told_no_id = false;
    return true;
}
