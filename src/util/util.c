/* util.c - helpers shared outside the core (see util.h). */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- allocation ---- */

void cl_oom(size_t n, const char *file, int line)
{
    /* No allocation here: stdio on stderr is unbuffered. */
    fprintf(stderr,
            "colossus: out of memory allocating %zu bytes at %s:%d; aborting (the "
            "journal and the agents recover what was acknowledged)\n",
            n, file, line);
    abort();
}

void *cl_xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p) cl_oom(n, file, line);
    return p;
}

void *cl_xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cl_oom(n * size, file, line);
    return p;
}

void *cl_xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) cl_oom(n, file, line);
    return q;
}

char *cl_xstrdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *d = cl_xmalloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

void cl_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "colossus: invariant broken: %s (%s:%d); aborting\n", expr, file, line);
    abort();
}

/* ---- clocks ---- */

double cl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double cl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double cl_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- splitmix64 ---- */

uint64_t cl_rand_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t cl_rand_below(uint64_t *s, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, r; /* reject the biased tail */
    do
        r = cl_rand_next(s);
    while (r >= lim);
    return r % n;
}

/* ---- numbers ---- */

int cl_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cl_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v;
    if (cl_parse_u64(s, lo, hi, &v) < 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

int cl_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s || *s == ' ' || *s == '+') return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cl_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s || *s == ' ') return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* ---- flags ---- */

int cl_flag_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out)
{
    if (cl_parse_long(s, lo, hi, out) == 0) return 0;
    fprintf(stderr, "colossus %s: %s must be a number in %ld..%ld, not '%s'\n", cmd, flag, lo,
            hi, s);
    return -1;
}

int cl_flag_u32(const char *cmd, const char *flag, const char *s, uint32_t lo, uint32_t hi,
                uint32_t *out)
{
    if (cl_parse_u32(s, lo, hi, out) == 0) return 0;
    fprintf(stderr, "colossus %s: %s must be a number in %u..%u, not '%s'\n", cmd, flag, lo, hi,
            s);
    return -1;
}

int cl_flag_double(const char *cmd, const char *flag, const char *s, double lo, double hi,
                   double *out)
{
    if (cl_parse_double(s, lo, hi, out) == 0) return 0;
    fprintf(stderr, "colossus %s: %s must be a number in [%g, %g], not '%s'\n", cmd, flag, lo,
            hi, s);
    return -1;
}

/* ---- text from the outside ---- */

int cl_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned c = p[0];
    int len = c < 0x80             ? 1
              : (c & 0xe0) == 0xc0 ? 2
              : (c & 0xf0) == 0xe0 ? 3
              : (c & 0xf8) == 0xf0 ? 4
                                   : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t v = len == 1 ? c : c & (0x7f >> len);
    for (int k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0; /* also stops at a NUL */
        v = v << 6 | (p[k] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

bool cl_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    uint32_t cp;
    for (size_t i = 0, len; i < n; i += len)
        if (!(len = (size_t)cl_utf8_seq(s + i, n - i, &cp))) return false;
    return true;
}

bool cl_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

/* ---- comma-separated names ---- */

/* Whether list[0..end) has an item that is the n bytes at name (n > 0). */
static bool list_has_n(const char *list, const char *end, const char *name, size_t n)
{
    for (const char *p = list; p < end;) {
        const char *e = memchr(p, ',', (size_t)(end - p));
        if (!e) e = end;
        if ((size_t)(e - p) == n && !memcmp(p, name, n)) return true;
        p = e + 1;
    }
    return false;
}

bool cl_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    return n && list_has_n(list, list + strlen(list), name, n);
}

const char *cl_list_repeat(const char *list, size_t *len)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n && list_has_n(list, p, p, n)) {
            *len = n;
            return p;
        }
        p += n;
        if (*p) p++;
    }
    return NULL;
}

/* ---- files ---- */

static int is_dir(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (S_ISDIR(st.st_mode)) return 0;
    errno = ENOTDIR;
    return -1;
}

/* The whole path first: on a launch's directories (made for every job) the parents exist,
 * and each mkdir() of a component is a walk from the root. Its parents one by one only when
 * that fails for want of one. */
int cl_mkdir_p(const char *path, mode_t mode)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        errno = len ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    if (mkdir(path, mode) == 0) return 0;
    if (errno == EEXIST) return is_dir(path);
    if (errno != ENOENT) return -1;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST) return -1;
            *p = c;
            if (!c) break;
        }
    }
    return is_dir(path);
}

char *cl_read_file(const char *path, size_t *len, cl_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cl_err(err, "%.200s: %.40s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = cl_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= (64u << 20)) {
                cl_err(err, "%.200s: larger than 64 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = cl_xrealloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        cl_err(err, "%.200s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* PATH.tmp, then a rename over path. A secret is created 0600 (never through a link or a file
 * someone put there: O_EXCL after removing what is there) and synced before the rename. */
static int write_atomic(const char *path, const char *text, bool secret, cl_error_t *err)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return cl_err(err, "%.200s: path too long", path);
    if (secret) unlink(tmp);
    int fd = secret ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                    : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return cl_err(err, "cannot write %.200s: %.40s", path, strerror(errno));
    size_t n = strlen(text);
    int e = 0;
    errno = 0;
    if ((secret && fchmod(fd, 0600) < 0) || write(fd, text, n) != (ssize_t)n ||
        (secret && fsync(fd) < 0))
        e = errno ? errno : EIO;
    if (close(fd) < 0 && !e) e = errno;
    if (!e && rename(tmp, path) < 0) e = errno;
    if (e) {
        unlink(tmp);
        return cl_err(err, "cannot write %.200s: %.40s", path, strerror(e));
    }
    return 0;
}

int cl_write_file_atomic(const char *path, const char *text, cl_error_t *err)
{
    return write_atomic(path, text, false, err);
}

int cl_write_secret_file(const char *path, const char *text, cl_error_t *err)
{
    return write_atomic(path, text, true, err);
}

/* ---- memory ---- */

double cl_peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double mb = -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6)) {
            mb = strtod(line + 6, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return mb;
}

/* ---- logs and errors ---- */

void cl_daemon_log(const char *who, const char *fmt, ...)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* The second's text is made once a second (a daemon logs a few lines a job); per thread,
     * as any thread may log. */
    static __thread time_t ts_sec = -1;
    static __thread char ts[32];
    if (tv.tv_sec != ts_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        ts_sec = tv.tv_sec;
    }
    char line[1024], safe[4 * sizeof line];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *text = line;
    for (const unsigned char *p = (const unsigned char *)line; *p; p++)
        if (*p < 0x20 || *p == 0x7f) { /* control bytes are written as \xNN */
            size_t o = (size_t)(p - (const unsigned char *)line);
            memcpy(safe, line, o);
            for (; *p; p++) {
                if (*p < 0x20 || *p == 0x7f)
                    o += (size_t)snprintf(safe + o, sizeof safe - o, "\\x%02x", *p);
                else
                    safe[o++] = (char)*p;
            }
            safe[o] = 0;
            text = safe;
            break;
        }
    fprintf(stderr, "%s.%03dZ %s: %s\n", ts, (int)(tv.tv_usec / 1000), who, text);
}

int cl_err(cl_error_t *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
