/* text.c - escaping of untrusted text in the CLI's views (text.h). */
#include "cli/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/util.h"

static bool escaped(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x200e ||
           c == 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* The next piece of output for the text at p into out (at most 16 bytes, NUL-terminated):
 * one character, or the escapes of one; returns the input bytes it stands for (0 at the
 * end) and its width in columns in *cols. */
static size_t piece(const char *p, char out[17], int *cols)
{
    const unsigned char *u = (const unsigned char *)p;
    uint32_t c;
    if (!*u) return 0;
    int n = cl_utf8_seq(u, 4, &c); /* a NUL ends a sequence */
    if (n && !escaped(c)) {
        memcpy(out, p, (size_t)n);
        out[n] = 0;
        *cols = 1;
        return (size_t)n;
    }
    if (!n) n = 1; /* a byte of invalid UTF-8 */
    for (int i = 0; i < n; i++)
        snprintf(out + 4 * i, 5, "\\x%02x", u[i]);
    *cols = 4 * n;
    return (size_t)n;
}

char *cl_text_safe(const char *s)
{
    size_t cap = 64, len = 0, used;
    char *o = cl_xmalloc(cap), buf[17];
    int cols;
    for (const char *p = s ? s : ""; (used = piece(p, buf, &cols)); p += used) {
        size_t n = strlen(buf);
        if (len + n + 1 > cap) o = cl_xrealloc(o, cap = 2 * (len + n + 1));
        memcpy(o + len, buf, n);
        len += n;
    }
    o[len] = 0;
    return o;
}

void cl_text_put(FILE *f, const char *s)
{
    char buf[17];
    int cols;
    size_t used;
    for (const char *p = s ? s : ""; (used = piece(p, buf, &cols)); p += used)
        fputs(buf, f);
}

void cl_text_cell(FILE *f, const char *s, int width)
{
    char buf[17];
    int cols, at = 0;
    size_t used;
    for (const char *p = s ? s : ""; (used = piece(p, buf, &cols)); p += used) {
        if (at + cols > width) break;
        fputs(buf, f);
        at += cols;
    }
    fprintf(f, "%*s", width - at, "");
}

void cl_text_list(FILE *f, char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', f);
        cl_text_put(f, v[i]);
    }
    if (!n) fputc('-', f);
}
