/* webpath.c - which dashboard file a request names, and its type (webpath.h). */
#include "api/webpath.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

bool cl_web_is(const char *path)
{
    return !strcmp(path, "/") || !strncmp(path, CL_WEB_PREFIX, strlen(CL_WEB_PREFIX));
}

/* One segment of a file's path (between slashes, len bytes): a name, not ".", ".." or a
 * hidden file, of bytes that need no decoding. */
static bool good_segment(const char *s, size_t len)
{
    if (!len || s[0] == '.') return false; /* "", ".", "..", ".hidden" */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '%' || ch == '\\' || ch == ':') return false;
    }
    return true;
}

int cl_web_path(const char *path, char rel[CL_WEB_PATH_MAX], cl_error_t *err)
{
    const char *r;
    if (!strcmp(path, "/"))
        r = "index.html";
    else if (!strncmp(path, CL_WEB_PREFIX, strlen(CL_WEB_PREFIX)))
        r = path + strlen(CL_WEB_PREFIX);
    else
        return cl_err(err, "%.200s is not a file of the dashboard (they are under /web/)",
                      path);
    if (strlen(r) >= CL_WEB_PATH_MAX)
        return cl_err(err, "no such file: the name is over %d bytes", CL_WEB_PATH_MAX - 1);
    for (const char *p = r;;) {
        size_t w = strcspn(p, "/");
        if (!good_segment(p, w))
            return cl_err(err,
                          "no such file: '%.200s' (a file's path has no '.', '..', hidden, "
                          "empty or encoded parts)",
                          r);
        if (!p[w]) break;
        p += w + 1;
    }
    snprintf(rel, CL_WEB_PATH_MAX, "%s", r);
    return 0;
}

const char *cl_web_content_type(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(rel, '.'), *slash = strrchr(rel, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}
