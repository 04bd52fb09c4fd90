/* launch_util.h - internal helpers of the rank launcher (launch.c): environment and argument
 * vectors, command lookup, directories, cgroup v2 files and /proc scans. Not a public API. */
#ifndef COLOSSUS_AGENT_LAUNCH_UTIL_H
#define COLOSSUS_AGENT_LAUNCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/launch.h"
#include "util/util.h"

/* NULL-terminated vectors of malloc'ed strings. Accepts NULL. */
void cl__strv_free(char **v);

/* The environment of local rank `local`: base (the agent's environ), then spec->env_extra,
 * then the launcher's variables; one entry per name, the last one wins. Never NULL (cl_xmalloc
 * policy, util.h). Caller frees with cl__strv_free(). */
char **cl__rank_env(const cl_launch_spec_t *s, uint32_t local, char *const *base);
/* Value of NAME in a NAME=VALUE vector, or NULL. */
const char *cl__env_get(char *const *env, const char *name);
/* The PATH the ranks get: env_extra's last, else base's (NULL: none). */
const char *cl__launch_path(const cl_launch_spec_t *s, char *const *base);

/* Where cmd is, looked up as execvp() would in path (NULL: the default PATH) with work_dir
 * as the current directory: 0 with the executable regular file's path in buf, else -1. */
int cl__find_command(const char *cmd, const char *path, const char *work_dir, char *buf,
                     size_t len);

/* One process to start (see cl__spawn()). Every fd must be above 2. */
struct cl__spawn_req {
    const char *path;     /* the executable (already looked up) */
    char *const *argv;    /* argv[0] is the name as the user gave it */
    char *const *sh_argv; /* {"/bin/sh", path, argv[1], ...}: for a script without #! */
    char *const *env;
    const char *cwd;
    int log_fd;           /* becomes stdout and stderr; stdin is /dev/null */
    const char *out_path; /* or stdout goes here (opened by the child in cwd), or NULL */
    const char *err_path; /* and stderr here, or NULL: with stdout */
    int cgroup_fd;        /* the cgroup's cgroup.procs open for writing, or -1 */
    int cgroup_dir_fd;    /* the cgroup's directory (born into it by clone3), or -1 */
    int cgroup_required;  /* fail when the child cannot join the cgroup */
    const int *limit_fds; /* cgroup v1 groups' cgroup.procs to join too (cglimit.h) */
    int nlimit_fds;
    int parent_death_kill; /* SIGKILL the child when the parent dies (PR_SET_PDEATHSIG) */
    pid_t parent;          /* getpid() of the parent */
    int set_ids;           /* become uid:gid (groups: just gid) before exec; needs root */
    uid_t uid;
    gid_t gid;
};

/* fork + exec in a new session (setsid), signals reset to default and unblocked, in the
 * cgroup before exec: born there through clone3(CLONE_INTO_CGROUP) when the kernel has it
 * (Linux 5.7), else moved there by the child. Returns the pid once the child has exec'd, or
 * -1 with a sentence in err (the child, if any, is then reaped). The caller must reap the
 * pid. */
pid_t cl__spawn(const struct cl__spawn_req *q, cl_error_t *err);
/* How children are made (see launch_spawn.c): the best the system has by default; tests
 * force the slower paths. Returns the previous mode. */
enum { CL__SPAWN_FORK = 0, CL__SPAWN_CLONE3 = 1, CL__SPAWN_VFORK = 2 };
int cl__spawn_set_mode(int mode);
/* cl__spawn() in two halves, so that several children can exec at once: begin forks and
 * returns the pid (or -1 with err) and the fd on which end waits for the exec; end returns
 * 0, or -1 with err once it has reaped the child that could not exec. */
pid_t cl__spawn_begin(const struct cl__spawn_req *q, int *report_fd, cl_error_t *err);
int cl__spawn_end(pid_t pid, int report_fd, cl_error_t *err);

/* Make directory path when it is missing: its missing parents mode 0755, itself mode 0700 and,
 * when own, owned by uid:gid. A directory that exists is left as it is. 0, or -1 with errno
 * (ENOTDIR when path exists and is not a directory); on failure the directory is not left
 * half made (no directory of the wrong owner). */
int cl__mkdir_owned(const char *path, int own, uid_t uid, gid_t gid);

/* fd itself when it is above 2 (or negative), else a close-on-exec duplicate above 2 (fd is
 * then closed). */
int cl__high_fd(int fd);

/* "<cgroup v2 mount>/colossus", created if missing. 0, or -1 when there is no writable
 * cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified. */
int cl__cgroup_default_parent(char *buf, size_t len);
/* 1 when path is on a cgroup v2 file system. */
int cl__is_cgroup2(const char *path);
/* The agent pid in a launch cgroup's name "job<id>-inc<n>-node<n>-<pid>-<seq>", or 0. */
long cl__cgroup_name_pid(const char *name);
/* See cl_launch_sweep(). */
int cl__cgroup_sweep(const char *parent, char *const *keep);
/* mkdir the cgroup: 0 or an errno value. */
int cl__cgroup_make(const char *path);
/* Write text into the existing file path (a cgroup's): 0, or -1 with errno. */
int cl__write_file(const char *path, const char *text);
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
