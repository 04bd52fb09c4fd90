/* identity.h - who a launch's ranks run as (Launch.uid, gid, user): the agent's policy and the
 * names the ranks see.
 *
 * Policy (docs/security.md):
 *   - uid 0 or gid 0 is refused unless the agent was started with --allow-root-jobs (a
 *     newcomer's single machine, run as root);
 *   - an agent that is not root can run ranks only as itself: a Launch for another uid or gid
 *     is refused (it could not switch to them);
 *   - uid or gid 4294967295 ((uid_t)-1, "unchanged" to the kernel) is refused.
 * Names: USER, LOGNAME and COLOSSUS_USER are Launch.user; where the controller sent none, the
 * name this node's passwd gives the uid, else the uid in decimal. HOME is the passwd entry's
 * home directory where this node has one (the user need not exist here: nothing requires it),
 * else the ranks' working directory (the caller's business). */
#ifndef COLOSSUS_AGENT_IDENTITY_H
#define COLOSSUS_AGENT_IDENTITY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "colossus/core.h" /* cl_error_t */

#define AG_USER_MAX 64   /* longest user name, bytes */
#define AG_PASSWD_TTL 30 /* seconds a passwd answer is kept */

typedef struct ag_identity_policy {
    bool allow_root; /* --allow-root-jobs */
    uid_t agent_uid; /* geteuid() of the agent */
    gid_t agent_gid; /* getegid() of the agent */
} ag_identity_policy_t;

typedef struct ag_identity {
    uid_t uid;
    gid_t gid;
    bool switch_ids;            /* the agent is root: each rank becomes uid:gid before exec */
    char user[AG_USER_MAX + 1]; /* USER, LOGNAME, COLOSSUS_USER */
    char home[PATH_MAX];        /* HOME from passwd, or "" (none on this node) */
} ag_identity_t;

/* The identity of job `job`'s ranks for a Launch of uid, gid and user (may be "" or NULL).
 * 0 with *out filled; -1 with a sentence in err that says why the launch is refused and how
 * an operator would allow it (for the job's first rank log and the agent's log). A user name
 * must be 1..AG_USER_MAX bytes of letters, digits, '.', '_', '-', '@' (not first: '-'), with
 * an optional '$' at the end (machine accounts). Looks the uid up in passwd (getpwuid_r):
 * that may ask a network directory, which is why it is done once per launch, and its answer
 * is kept for AG_PASSWD_TTL seconds per uid (a changed home is seen that much later). */
int ag_identity_resolve(const ag_identity_policy_t *p, uint64_t job, uint32_t uid, uint32_t gid,
                        const char *user, ag_identity_t *out, cl_error_t *err);

/* For tests: the passwd lookups made so far, and the time an answer is kept (0: none is;
 * setting it empties the cache). */
extern unsigned long ag_identity_lookups;
void ag_identity_cache_ttl(double seconds);

/* The policy of this process: its effective ids, and allow_root. */
ag_identity_policy_t ag_identity_policy_self(bool allow_root);

#endif
