/* iopat.c - --output and --error patterns (iopat.h). */
#include "util/iopat.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

int cl_iopat_check(const char *what, const char *pat, cl_error_t *err)
{
    size_t n = strlen(pat);
    if (!n) return cl_err(err, "%s must not be empty", what);
    if (n > CL_IOPAT_MAX)
        return cl_err(err, "%s is %zu bytes; the limit is %u", what, n, CL_IOPAT_MAX);
    if (!cl_utf8_valid(pat, n) || cl_has_control(pat))
        return cl_err(err, "%s holds a control character or is not UTF-8", what);
    for (const char *p = pat; *p; p++) {
        if (*p != '%') continue;
        char c = *++p;
        if (c && strchr("jtnNuxAa%", c)) continue;
        if (!c)
            return cl_err(err, "%s '%s' ends with a lone '%%' (write %%%% for one)", what, pat);
        return cl_err(
            err,
            "%s '%s': unknown pattern '%%%c' (%%j job, %%t task, %%n node index, %%N "
            "node name, %%u user, %%x job name, %%A array, %%a array task, %%%% a '%%')",
            what, pat, c);
    }
    return 0;
}

int cl_iopat_expand(const char *pat, const cl_iopat_vars_t *v, char *buf, size_t len)
{
    size_t at = 0;
    if (!len) return -1;
    buf[0] = '\0';
    for (const char *p = pat; *p; p++) {
        int n;
        size_t room = len - at;
        if (*p != '%') {
            n = snprintf(buf + at, room, "%c", *p);
        } else {
            switch (*++p) {
            case 'j':
                n = snprintf(buf + at, room, "%" PRIu64, v->job);
                break;
            case 't':
                n = snprintf(buf + at, room, "%" PRIu32, v->task);
                break;
            case 'n':
                n = snprintf(buf + at, room, "%" PRIu32, v->node_index);
                break;
            case 'N':
                n = snprintf(buf + at, room, "%s", v->node ? v->node : "");
                break;
            case 'u':
                n = snprintf(buf + at, room, "%s", v->user ? v->user : "");
                break;
            case 'x':
                n = snprintf(buf + at, room, "%s", v->name ? v->name : "");
                break;
            case 'A':
                n = snprintf(buf + at, room, "%" PRIu64, v->array_job ? v->array_job : v->job);
                break;
            case 'a':
                n = snprintf(buf + at, room, "%" PRIu32, v->array_task);
                break;
            case '%':
                n = snprintf(buf + at, room, "%%");
                break;
            default:
                return -1;
            }
        }
        if (n < 0 || (size_t)n >= room) return -1;
        at += (size_t)n;
    }
    return 0;
}
