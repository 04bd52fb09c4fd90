/* filepool.h - empty files made ahead of time in one directory, so that creating a file on a
 * launch's critical path is a rename instead of an inode allocation.
 *
 * Why: each rank needs its log file before it can exec. Creating a file costs whatever the
 * file system charges for a new inode: microseconds on a local journaled disk, milliseconds
 * on NFS, or on ext4 without a journal once many files were recently deleted (it scans past
 * every recently deleted inode; 0.66 ms per file measured on this project's VMs, see
 * docs/benchmarks.md). The pool keeps `target` spares named ".spare.<PID>.<SEQ>" in its
 * directory and makes new ones on libuv's thread pool after a launch has taken some.
 *
 * cl_filepool_open() of a path that exists opens it (appending: a restarted job's log goes
 * on); of one that does not, renames a spare to it (renameat2 RENAME_NOREPLACE, so a file
 * that appears meanwhile is never replaced); with no spare, or where the rename is refused
 * (another file system, no renameat2), it creates the file as open(O_CREAT) would.
 *
 * Not thread-safe: call everything from the loop's thread. */
#ifndef COLOSSUS_AGENT_FILEPOOL_H
#define COLOSSUS_AGENT_FILEPOOL_H

#include <sys/types.h>
#include <uv.h>

typedef struct cl_filepool cl_filepool_t;

/* A pool of `target` spares (1..1024) in dir, which must exist. Spares a dead agent left
 * there (".spare.*" of a pid that is not alive) are removed. NULL on bad arguments. The
 * first spares are made on the thread pool: the pool is usable at once. */
cl_filepool_t *cl_filepool_new(uv_loop_t *loop, const char *dir, unsigned target);

/* open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, mode) where path is in
 * the pool's directory; mode applies to files that open creates (spares are made 0600, a
 * log's mode, and set to mode when used). Returns the fd or -1 with errno. p may be NULL (plain
 * open). */
int cl_filepool_open(cl_filepool_t *p, const char *path, mode_t mode);

/* Spares ready now (tests, benchmarks). */
unsigned cl_filepool_ready(const cl_filepool_t *p);

/* Remove the spares and free the pool once a refill in flight has finished (the loop must
 * run for that). */
void cl_filepool_close(cl_filepool_t *p);

#endif
