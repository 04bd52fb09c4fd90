/* util.h - helpers every module outside the core shares: the allocation policy (cl_x*), clocks,
 * a reproducible PRNG, number and flag parsing, files and directories, and the daemon log line.
 *
 * Conventions (docs/architecture.md, "Errors and allocation"):
 * - A function that can fail for a reason a person must read returns -1 (or NULL) and fills a
 *   cl_error_t (core.h) with one sentence naming the problem; it has no other effect then.
 * - Memory: outside the core, allocation failure is not an error path. cl_xmalloc() and its
 *   kin log one line naming the size and the caller and abort(): a daemon that cannot allocate
 *   is restarted and recovers from its journal (controller) or re-registers and reconciles
 *   (agent), which loses nothing acknowledged; silently dropping the work instead (a launch
 *   never reported, an empty Fence) loses jobs. The core keeps its own contract (core.h). */
#ifndef COLOSSUS_UTIL_UTIL_H
#define COLOSSUS_UTIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "colossus/core.h"

/* ---- allocation: never NULL (see above) ---- */
#define cl_xmalloc(n) cl_xmalloc_at((n), __FILE__, __LINE__)
#define cl_xcalloc(n, size) cl_xcalloc_at((n), (size), __FILE__, __LINE__)
#define cl_xrealloc(p, n) cl_xrealloc_at((p), (n), __FILE__, __LINE__)
#define cl_xstrdup(s) cl_xstrdup_at((s), __FILE__, __LINE__)
void *cl_xmalloc_at(size_t n, const char *file, int line);
void *cl_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *cl_xrealloc_at(void *p, size_t n, const char *file, int line);
char *cl_xstrdup_at(const char *s, const char *file, int line);
/* The report and abort() behind them, for allocations made another way (protobuf-c). */
void cl_oom(size_t n, const char *file, int line) __attribute__((noreturn));

/* An invariant that cannot break without a bug: a crash with a report, not silent corruption.
 */
#define cl_assert(e) ((e) ? (void)0 : cl_assert_fail(#e, __FILE__, __LINE__))
void cl_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* ---- clocks ---- */
double cl_now_ms(void); /* monotonic */
double cl_now_us(void); /* monotonic */
double cl_wall_s(void); /* seconds since the epoch */

/* ---- splitmix64: a seeded, reproducible stream; *state advances ---- */
uint64_t cl_rand_next(uint64_t *state);
uint64_t cl_rand_below(uint64_t *state, uint64_t n); /* uniform in [0, n) */

/* ---- numbers: a whole decimal string in [lo, hi]; 0, or -1 if malformed or out of range ----
 */
int cl_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
int cl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
int cl_parse_long(const char *s, long lo, long hi, long *out);
int cl_parse_double(const char *s, double lo, double hi, double *out);

/* ---- flags: the one way every subcommand reads a numeric option ----
 * On a bad value these print "colossus CMD: FLAG must be a number in LO..HI, not 'S'" (or
 * "... in [LO, HI]" for reals) on stderr and return -1; the caller exits with status 2. */
int cl_flag_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
int cl_flag_u32(const char *cmd, const char *flag, const char *s, uint32_t lo, uint32_t hi,
                uint32_t *out);
int cl_flag_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                   double *out);

/* ---- text from the outside ---- */
/* The UTF-8 sequence at p (at most n bytes; a NUL ends it too): its length 1-4 and its code
 * point in *cp, or 0 when it is not valid (an overlong form, a surrogate, above U+10FFFF, cut
 * short). */
int cl_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp);
/* s (n bytes) is valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
bool cl_utf8_valid(const char *s, size_t n);
/* s has a control character (below 0x20, or 0x7f): it would forge a log line or break a
 * table. */
bool cl_has_control(const char *s);

/* ---- comma-separated names ("a,b,c"; an empty item names nothing) ---- */
/* Whether list has name as one of its items. */
bool cl_list_has(const char *list, const char *name);
/* The first item of list that repeats an earlier one (its length in *len), or NULL. */
const char *cl_list_repeat(const char *list, size_t *len);

/* ---- files ---- */
/* mkdir -p: make path and its parents (mode for each new one). 0, or -1 with errno (ENOTDIR
 * when path exists and is not a directory). */
int cl_mkdir_p(const char *path, mode_t mode);
/* A whole file (at most 64 MiB) in memory, NUL-terminated; *len without the NUL. Caller frees.
 * NULL with "PATH: why" in err. */
char *cl_read_file(const char *path, size_t *len, cl_error_t *err);
/* Write text to path atomically (PATH.tmp, then rename). 0, or -1 with "PATH: why" in err. */
int cl_write_file_atomic(const char *path, const char *text, cl_error_t *err);
/* The same for a secret (a key, a token): mode 0600 from its creation, synced before the
 * rename. */
int cl_write_secret_file(const char *path, const char *text, cl_error_t *err);

/* ---- memory of this process ---- */
double cl_peak_rss_mb(void); /* VmHWM in MB, or -1 */

/* ---- logs ---- */
/* One log line on stderr: "2026-01-01T00:00:00.123Z who: message". Control characters in the
 * message (a newline in a peer-supplied string) are written as \xHH, so that no input can
 * forge a line. */
void cl_daemon_log(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fill err with a formatted sentence; returns -1 (for `return cl_err(err, ...)`). */
int cl_err(cl_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
