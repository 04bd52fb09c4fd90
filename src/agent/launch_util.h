/* launch_util.h - internal helpers of the rank launcher (launch.c): environment and argument
 * vectors, command lookup, directories, cgroup v2 files and /proc scans. Not a public API. */
#ifndef COLOSSUS_AGENT_LAUNCH_UTIL_H
#define COLOSSUS_AGENT_LAUNCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/launch.h"

/* NULL-terminated vectors of malloc'ed strings. Accepts NULL. */
void cl__strv_free(char **v);

/* The environment of local rank `local`: base (the agent's environ), then spec->env_extra,
 * then the launcher's variables; one entry per name, the last one wins. NULL when out of
 * memory. Caller frees with cl__strv_free(). */
char **cl__rank_env(const cl_launch_spec_t *s, uint32_t local, char *const *base);
/* Value of NAME in a NAME=VALUE vector, or NULL. */
const char *cl__env_get(char *const *env, const char *name);

/* The argument vector to spawn: argv itself, or, with a cgroup, a /bin/sh wrapper that
 * moves itself into the cgroup and then execs argv (so that nothing the rank forks can
 * start outside it). require: the wrapper exits 125 when it cannot join, instead of
 * running without the cgroup. Caller frees with cl__strv_free(). */
char **cl__rank_args(char *const *argv, const char *cgroup, int require);

/* 0 when cmd names an executable regular file, looked up as execvp() would in path
 * (NULL: the default PATH) with work_dir as the current directory; else -1. */
int cl__find_command(const char *cmd, const char *path, const char *work_dir);

/* mkdir -p. Returns 0 or -1 with errno. */
int cl__mkdir_p(const char *path, mode_t mode);

/* "<cgroup v2 mount>/colossus", created if missing. 0, or -1 when there is no writable
 * cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified. */
int cl__cgroup_default_parent(char *buf, size_t len);
/* 1 when path is on a cgroup v2 file system. */
int cl__is_cgroup2(const char *path);
/* See cl_launch_sweep(). */
int cl__cgroup_sweep(const char *parent);
/* mkdir the cgroup: 0 or an errno value. */
int cl__cgroup_make(const char *path);
/* Remove an empty cgroup: 0 or -1 with errno. */
int cl__cgroup_remove(const char *path);
/* 1 when a live process is in the cgroup (cgroup.events), 0 when none, -1 when unknown. */
int cl__cgroup_populated(const char *path);
/* Send sig to every process of the cgroup; SIGKILL goes through cgroup.kill when the
 * kernel has it (5.14+), which also catches processes forking meanwhile. */
void cl__cgroup_signal(const char *path, int sig);

/* live[i] = 1 when a process that is not a zombie belongs to process group groups[i]
 * (one scan of /proc). */
void cl__pgroups_live(const pid_t *groups, size_t n, int *live);

#endif
