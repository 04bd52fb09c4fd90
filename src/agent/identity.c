/* identity.c - who a launch's ranks run as (see identity.h): refusals, names, HOME. */
#include "agent/identity.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

ag_identity_policy_t ag_identity_policy_self(bool allow_root)
{
    return (ag_identity_policy_t){allow_root, geteuid(), getegid()};
}

/* A name a shell, a log line and an environment entry take as it is (see identity.h). */
static bool good_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AG_USER_MAX || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '@' || (c == '$' && i == n - 1);
        if (!ok) return false;
    }
    return true;
}

/* This node's passwd entry of uid, looked up (getpwuid_r): its name and home when it has
 * one (both "" if not). */
static void passwd_lookup(uid_t uid, char *name, size_t nlen, char *home, size_t hlen)
{
    name[0] = home[0] = '\0';
    ag_identity_lookups++;
    long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t len = sz > 0 && sz < (1 << 20) ? (size_t)sz : 16384;
    char *buf = cl_xmalloc(len);
    struct passwd pw, *got = NULL;
    if (getpwuid_r(uid, &pw, buf, len, &got) == 0 && got) {
        if (pw.pw_name && good_name(pw.pw_name)) snprintf(name, nlen, "%s", pw.pw_name);
        if (pw.pw_dir && pw.pw_dir[0] == '/' && strlen(pw.pw_dir) < hlen)
            snprintf(home, hlen, "%s", pw.pw_dir);
    }
    free(buf);
}

/* The last answers, one a uid, kept for ttl seconds: a node runs the jobs of a few users at a
 * time, and each launch would otherwise read nsswitch.conf and passwd (6 system calls) or ask
 * a network directory, as nscd would spare it. */
#define PW_CACHE 8
static struct {
    uid_t uid;
    double until; /* CLOCK_MONOTONIC seconds; 0: empty */
    char name[AG_USER_MAX + 1];
    char home[PATH_MAX];
} pw_cache[PW_CACHE];
static double pw_ttl = AG_PASSWD_TTL;
unsigned long ag_identity_lookups;

void ag_identity_cache_ttl(double seconds)
{
    pw_ttl = seconds;
    for (size_t i = 0; i < PW_CACHE; i++)
        pw_cache[i].until = 0;
}

static void passwd_of(uid_t uid, char *name, size_t nlen, char *home, size_t hlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    size_t slot = 0;
    for (size_t i = 0; i < PW_CACHE; i++) {
        if (pw_cache[i].until > now && pw_cache[i].uid == uid) {
            snprintf(name, nlen, "%s", pw_cache[i].name);
            snprintf(home, hlen, "%s", pw_cache[i].home);
            return;
        }
        if (pw_cache[i].until < pw_cache[slot].until) slot = i; /* the oldest goes */
    }
    passwd_lookup(uid, name, nlen, home, hlen);
    if (pw_ttl <= 0) return;
    pw_cache[slot].uid = uid;
    pw_cache[slot].until = now + pw_ttl;
    snprintf(pw_cache[slot].name, sizeof pw_cache[slot].name, "%s", name);
    snprintf(pw_cache[slot].home, sizeof pw_cache[slot].home, "%s", home);
}

int ag_identity_resolve(const ag_identity_policy_t *p, uint64_t job, uint32_t uid, uint32_t gid,
                        const char *user, ag_identity_t *out, cl_error_t *err)
{
    unsigned long long j = (unsigned long long)job;
    if (uid == UINT32_MAX || gid == UINT32_MAX)
        return cl_err(err, "job %llu: uid %u gid %u: %u is not a valid id", j, uid, gid,
                      UINT32_MAX);
    if ((uid == 0 || gid == 0) && !p->allow_root)
        return cl_err(err,
                      "refused: job %llu would run as uid %u gid %u, and this agent runs no "
                      "ranks as root (uid 0 or gid 0) unless it was started with "
                      "--allow-root-jobs",
                      j, uid, gid);
    if (p->agent_uid != 0 && (uid != p->agent_uid || gid != p->agent_gid))
        return cl_err(err,
                      "refused: job %llu would run as uid %u gid %u, but this agent runs as "
                      "uid %u gid %u and is not root: it can run ranks only as uid %u gid %u",
                      j, uid, gid, (unsigned)p->agent_uid, (unsigned)p->agent_gid,
                      (unsigned)p->agent_uid, (unsigned)p->agent_gid);
    if (user && *user && !good_name(user))
        return cl_err(err,
                      "refused: job %llu: its user name (%zu bytes) is not 1..%d letters, "
                      "digits, '.', '_', '-', '@'",
                      j, strlen(user), AG_USER_MAX);
    ag_identity_t id = {.uid = uid, .gid = gid, .switch_ids = p->agent_uid == 0};
    char name[AG_USER_MAX + 1];
    passwd_of(uid, name, sizeof name, id.home, sizeof id.home);
    if (user && *user)
        snprintf(id.user, sizeof id.user, "%s", user);
    else if (name[0])
        snprintf(id.user, sizeof id.user, "%s", name);
    else
        snprintf(id.user, sizeof id.user, "%u", uid);
    *out = id;
    return 0;
}
