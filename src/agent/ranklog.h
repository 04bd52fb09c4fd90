/* ranklog.h - bounded rank logs: a rank writes straight into its log file (the agent is not in
 * the data path: a chatty rank costs the agent no CPU and never waits for it); the agent looks
 * at the file every few seconds and, once it holds more than the limit, keeps its head and its
 * tail and frees the middle. `logs` reads it back with a line where the middle was cut.
 *
 * How: fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) of the middle, on block-aligned
 * offsets (ext4, xfs, btrfs, tmpfs, NFS 4.2). The file's apparent size keeps growing (it is
 * what the rank wrote in all: the rank writes with O_APPEND at the end), its disk use does
 * not; the hole is where the cut is, found again with SEEK_HOLE/SEEK_DATA when read. Between
 * two looks a rank may write more: disk use is bounded by the limit plus what a rank writes
 * in one check period.
 *
 * Where the file system cannot punch holes (EOPNOTSUPP), copying the tail into a fresh file
 * is not possible under a rank that keeps writing into the old one; the fallback writes a
 * line saying how much was cut right after the head and cuts the file after that line
 * (ftruncate: the rank's O_APPEND writes go on at the new end). The log then keeps its head
 * and what the rank wrote since the last cut (0 .. tail bytes), not always a full tail.
 *
 * Not thread-safe: one tracker per file, used from one thread. */
#ifndef COLOSSUS_AGENT_RANKLOG_H
#define COLOSSUS_AGENT_RANKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colossus/core.h" /* cl_error_t */

#define AG_RANKLOG_MAX_DEFAULT (16ull << 20) /* bytes a rank's log keeps on disk */
#define AG_RANKLOG_MIN (64u << 10)           /* smallest limit: 4 KiB of head, 60 of tail */
#define AG_RANKLOG_CHECK_MS 2000             /* how often the agent looks */
#define AG_RANKLOG_NOTE_MAX 512              /* notes ag_ranklog_read() adds, at most */

/* What a log keeps: its first `head` and its last `tail` bytes (head + tail = the limit). */
typedef struct ag_ranklog_limits {
    uint64_t head, tail;
} ag_ranklog_limits_t;

/* The split of a limit of max bytes (AG_RANKLOG_MIN or more): the head is max / 16 rounded
 * down to 4 KiB (1 MiB of the default 16 MiB), the tail the rest. */
ag_ranklog_limits_t ag_ranklog_limits(uint64_t max);

/* One open log file being bounded. */
typedef struct ag_ranklog {
    int fd;          /* O_RDWR, or -1 */
    uint64_t cut;    /* truncate fallback: bytes of output cut so far */
    size_t note_len; /* truncate fallback: length of the note it appended last */
} ag_ranklog_t;

/* Open path (a log that exists) for bounding: 0, or -1 with err set (t->fd stays -1). */
int ag_ranklog_open(ag_ranklog_t *t, const char *path, cl_error_t *err);
/* Close; accepts a tracker that is not open. */
void ag_ranklog_close(ag_ranklog_t *t);

/* What one look did. */
typedef enum ag_ranklog_cut {
    AG_RANKLOG_NONE = 0, /* within the limit: nothing done */
    AG_RANKLOG_PUNCHED,  /* the middle was freed */
    AG_RANKLOG_TRUNCATED /* the truncate fallback ran */
} ag_ranklog_cut_t;

/* Bound the log: when it holds more than lim allows, punch its middle out, or with *punch
 * false cut it back to its head (the fallback). *punch is set to false, and the fallback
 * used, when the file system answers EOPNOTSUPP (the caller logs that once). Returns what
 * was done, or -1 with err set. */
int ag_ranklog_trim(ag_ranklog_t *t, const ag_ranklog_limits_t *lim, bool *punch,
                    cl_error_t *err);

/* Read the log at path for `logs`: at most max bytes of it, with notes (at most
 * AG_RANKLOG_NOTE_MAX bytes in all) wherever something is left out:
 *   - a first line "[colossus: showing N of the M bytes ...]" when the reply is not the
 *     whole of what the rank wrote;
 *   - where the middle was punched out, a line "[colossus: X bytes of this rank's output
 *     were cut here; ...]" between the head and the tail.
 * A log that fits is returned as it is. 0 with *data (caller frees) and *len; -1 with err
 * set ("PATH: why"; errno kept, ENOENT for no such log). */
int ag_ranklog_read(const char *path, size_t max, uint8_t **data, size_t *len, cl_error_t *err);
/* For following a log (logs -f): at most max bytes of it from *from on, and *from moved past
 * them (the next call's). Where the bytes from *from were punched out meanwhile, a note says
 * how many were cut and the read goes on at the next data; a log now shorter than *from (cut
 * back, or a new one) gets a note and is followed from its end. 0 with *data (caller frees)
 * and *len, possibly 0; -1 as ag_ranklog_read(). */
int ag_ranklog_read_from(const char *path, uint64_t *from, size_t max, uint8_t **data,
                         size_t *len, cl_error_t *err);

#endif
