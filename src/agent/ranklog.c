/* ranklog.c - bounded rank logs (see ranklog.h): punch out the middle of a log past its limit,
 * or cut it back to its head where holes cannot be punched; read it back with notes. */
#include "agent/ranklog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define PAGE 4096u

ag_ranklog_limits_t ag_ranklog_limits(uint64_t max)
{
    uint64_t head = (max / 16) & ~(uint64_t)(PAGE - 1);
    if (head < PAGE) head = PAGE;
    return (ag_ranklog_limits_t){head, max > head ? max - head : 0};
}

/* 61234567 -> "61,234,567" (buf: 32 bytes). */
static const char *num(uint64_t v, char *buf)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

int ag_ranklog_open(ag_ranklog_t *t, const char *path, cl_error_t *err)
{
    /* Not O_APPEND: the fallback writes its note at the head's end (pwrite appends there). */
    *t = (ag_ranklog_t){.fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)};
    if (t->fd < 0) return cl_err(err, "%s: %s", path, strerror(errno));
    return 0;
}

void ag_ranklog_close(ag_ranklog_t *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
}

/* The file system's block, where punching frees whole blocks (a partial one is only zeroed,
 * which would show as NULs in the head). */
static uint64_t block_of(const struct stat *st)
{
    uint64_t b = (uint64_t)st->st_blksize;
    return b >= PAGE && b <= (1u << 20) && !(b & (b - 1)) ? b : PAGE;
}

/* Free the middle: [head, size - tail) rounded inwards to blocks, from the first data still
 * there (what earlier looks freed is skipped). 1 punched, 0 nothing to do, -1 with errno. */
static int punch(int fd, const struct stat *st, const ag_ranklog_limits_t *lim)
{
    uint64_t blk = block_of(st), size = (uint64_t)st->st_size;
    uint64_t start = (lim->head + blk - 1) & ~(blk - 1), end = (size - lim->tail) & ~(blk - 1);
    if (end <= start) return 0;
    off_t data = lseek(fd, (off_t)start, SEEK_DATA);
    if (data < 0 && errno == ENXIO) return 0; /* nothing but a hole after the head */
    if (data >= 0) {
        if ((uint64_t)data >= end) return 0; /* freed already */
        uint64_t from = (uint64_t)data & ~(blk - 1);
        if (from > start) start = from;
    }
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start,
                  (off_t)(end - start)) < 0)
        return -1;
    return 1;
}

/* The fallback: the note goes over the bytes after the head, then the file is cut after it,
 * so that whatever the rank appends meanwhile is cut and what it appends later follows the
 * note (bytes appended between the fstat and the cut are cut without being counted). */
static int truncate_back(ag_ranklog_t *t, uint64_t size, const ag_ranklog_limits_t *lim,
                         cl_error_t *err)
{
    uint64_t cut = size - lim->head;
    cut = cut > t->note_len ? cut - t->note_len : 0; /* our last note is not the rank's */
    char last = '\n', a[32], b[32], c[32], note[AG_RANKLOG_NOTE_MAX];
    if (pread(t->fd, &last, 1, (off_t)lim->head - 1) != 1) last = '\n';
    int n = snprintf(note, sizeof note,
                     "%s[colossus: %s bytes of this rank's output were cut here; this file "
                     "system cannot punch holes, so the log keeps its first %s bytes and what "
                     "the rank wrote since the last cut, up to %s bytes]\n",
                     last == '\n' ? "" : "\n", num(t->cut + cut, a), num(lim->head, b),
                     num(lim->tail, c));
    if (pwrite(t->fd, note, (size_t)n, (off_t)lim->head) != n ||
        ftruncate(t->fd, (off_t)(lim->head + (uint64_t)n)) < 0)
        return cl_err(err, "cannot cut the log back to its head: %s", strerror(errno));
    t->cut += cut;
    t->note_len = (size_t)n;
    return AG_RANKLOG_TRUNCATED;
}

int ag_ranklog_trim(ag_ranklog_t *t, const ag_ranklog_limits_t *lim, bool *can_punch,
                    cl_error_t *err)
{
    struct stat st;
    if (t->fd < 0) return AG_RANKLOG_NONE;
    if (fstat(t->fd, &st) < 0)
        return cl_err(err, "cannot look at the log: %s", strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    if (size <= lim->head + lim->tail) return AG_RANKLOG_NONE;
    if (*can_punch) {
        int rc = punch(t->fd, &st, lim);
        if (rc >= 0) return rc ? AG_RANKLOG_PUNCHED : AG_RANKLOG_NONE;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
            return cl_err(err, "cannot free the middle of the log: %s", strerror(errno));
        *can_punch = false;
    }
    return truncate_back(t, size, lim, err);
}

/* ------------------------------------------------------------------ reading ------------- */

/* Append [from, from + n) of fd to out at *at. */
static int read_range(int fd, uint64_t from, uint64_t n, uint8_t *out, size_t *at)
{
    while (n > 0) {
        ssize_t r = pread(fd, out + *at, n, (off_t)from);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break; /* shorter than fstat said (truncated meanwhile) */
        *at += (size_t)r, from += (uint64_t)r, n -= (uint64_t)r;
    }
    return 0;
}

static void put(uint8_t *out, size_t *at, const char *s)
{
    size_t n = strlen(s);
    memcpy(out + *at, s, n);
    *at += n;
}

/* The head [0, a), the marker where the middle was cut, the tail [from, size). */
static int read_cut(int fd, uint64_t size, uint64_t hole, uint64_t data, size_t max,
                    uint8_t *out, size_t *at)
{
    uint64_t a = hole < max / 4 ? hole : max / 4, kept_tail = size - data;
    uint64_t b = kept_tail < max - a ? kept_tail : max - a, from = size - b;
    char n1[32], n2[32], n3[32], n4[32], n5[32], n6[32], note[AG_RANKLOG_NOTE_MAX / 2];
    snprintf(note, sizeof note,
             "[colossus: showing the first %s and the last %s of the %s bytes this rank "
             "wrote]\n",
             num(a, n1), num(b, n2), num(size, n3));
    put(out, at, note);
    if (read_range(fd, 0, a, out, at) < 0) return -1;
    if (*at && out[*at - 1] != '\n') put(out, at, "\n");
    uint64_t left_out = from - a, cut = data - hole;
    if (left_out == cut)
        snprintf(note, sizeof note,
                 "[colossus: %s bytes of this rank's output were cut here; the log keeps "
                 "its first %s and last %s bytes]\n",
                 num(cut, n1), num(hole, n2), num(kept_tail, n3));
    else
        snprintf(note, sizeof note,
                 "[colossus: %s bytes of this rank's output are left out here: %s cut from "
                 "the log, which keeps its first %s and last %s bytes, and %s to fit this "
                 "reply of %s]\n",
                 num(left_out, n1), num(cut, n2), num(hole, n3), num(kept_tail, n4),
                 num(left_out - cut, n5), num(max, n6));
    put(out, at, note);
    return read_range(fd, from, b, out, at);
}

int ag_ranklog_read(const char *path, size_t max, uint8_t **data, size_t *len, cl_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        cl_err(err, "%s: %s", path, strerror(e));
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    /* Where the middle was punched out: the first hole and the data after it. A file system
     * without SEEK_HOLE reports none (the whole file is data). */
    off_t hole = lseek(fd, 0, SEEK_HOLE), after = -1;
    if (hole >= 0 && (uint64_t)hole < size) after = lseek(fd, hole, SEEK_DATA);
    if (after < 0) hole = (off_t)size, after = (off_t)size; /* no hole, or nothing after it */
    uint8_t *out = cl_xmalloc((size < max ? size : max) + AG_RANKLOG_NOTE_MAX + 1);
    size_t at = 0;
    int rc;
    if ((uint64_t)hole < size) {
        rc = read_cut(fd, size, (uint64_t)hole, (uint64_t)after, max, out, &at);
    } else if (size <= max) {
        rc = read_range(fd, 0, size, out, &at);
    } else {
        char n1[32], n2[32], note[AG_RANKLOG_NOTE_MAX / 2];
        snprintf(note, sizeof note,
                 "[colossus: showing the last %s of the %s bytes of this rank's log]\n",
                 num(max, n1), num(size, n2));
        put(out, &at, note);
        rc = read_range(fd, size - max, max, out, &at);
    }
    int e = errno;
    close(fd);
    if (rc < 0) {
        free(out);
        cl_err(err, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    *data = out;
    *len = at;
    return 0;
}

int ag_ranklog_read_from(const char *path, uint64_t *from, size_t max, uint8_t **data,
                         size_t *len, cl_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        cl_err(err, "%s: %s", path, strerror(e));
        if (fd >= 0) close(fd);
        errno = e;
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size, off = *from;
    uint8_t *out = cl_xmalloc(max + AG_RANKLOG_NOTE_MAX + 1);
    size_t at = 0;
    char n1[32], n2[32], note[AG_RANKLOG_NOTE_MAX];
    if (off > size) { /* cut back to its head (the fallback), or a new log in its place */
        snprintf(note, sizeof note,
                 "[colossus: this rank's log is now %s bytes, shorter than the %s already "
                 "shown: following it from its end]\n",
                 num(size, n1), num(off, n2));
        put(out, &at, note);
        off = size;
    } else if (off < size) {
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        uint64_t next = d >= 0 ? (uint64_t)d : errno == ENXIO ? size : off;
        if (next > size) next = size;
        if (next > off) { /* punched out (bound_logs) since it was last read */
            snprintf(note, sizeof note,
                     "[colossus: %s bytes of this rank's output were cut here before they "
                     "were shown]\n",
                     num(next - off, n1));
            put(out, &at, note);
            off = next;
        }
    }
    uint64_t n = size - off < max ? size - off : max;
    size_t before = at;
    int rc = read_range(fd, off, n, out, &at);
    int e = errno;
    close(fd);
    if (rc < 0) {
        free(out);
        cl_err(err, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    *from = off + (at - before);
    *data = out;
    *len = at;
    return 0;
}
