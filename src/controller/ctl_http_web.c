/* ctl_http_web.c - the dashboard's static files (web/: index.html, map.js, app.js,
 * style.css; docs/dashboard.md) on the controller's HTTP listeners, at "/" and under /web/.
 * They hold no data and need no token: the page asks the REST API for everything, with the
 * token the user gives it. A file is read at each request (a few tens of KiB; an edited file
 * is served at once), from a directory resolved once: --web-dir, else web/ beside the
 * binary's directory (bin/../web in a checkout), else /usr/share/colossus/web. A request
 * stays inside it: the path's checks are cl_web_path's (api/webpath.h), and the file is
 * resolved (realpath) and must still be under the directory, so that a symbolic link cannot
 * lead out of it. */
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/webpath.h"
#include "controller/ctl_http.h"

#define WEB_FILE_MAX (8u << 20) /* a larger file is not one of the dashboard's */
#define WEB_SYSTEM_DIR "/usr/share/colossus/web"

/* The headers of every file: revalidated at each load (a new controller serves new files),
 * nothing loaded from elsewhere (no CDN; the API is this origin), not framed by another site.
 */
static const char *const web_headers[][2] = {
    {"Cache-Control", "no-cache"},
    {"X-Content-Type-Options", "nosniff"},
    {"Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
     "form-action 'none'"},
    {"Referrer-Policy", "no-referrer"},
    {NULL, NULL},
};

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *http_web_root(const char *given, cl_error_t *err)
{
    char buf[PATH_MAX], *r;
    if (given) {
        if (!is_dir(given) || !(r = realpath(given, NULL))) {
            cl_err(err, "--web-dir %.200s: not a directory", given);
            return NULL;
        }
        return r;
    }
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 8);
    if (n > 0) {
        buf[n] = 0;
        char *bin = dirname(buf); /* .../bin */
        char beside[PATH_MAX + 8];
        snprintf(beside, sizeof beside, "%s/../web", bin);
        if (is_dir(beside) && (r = realpath(beside, NULL))) return r;
    }
    if (is_dir(WEB_SYSTEM_DIR) && (r = realpath(WEB_SYSTEM_DIR, NULL))) return r;
    return NULL; /* no dashboard: its paths answer 404 saying so */
}

static void web_error(http_req_t *q, unsigned status, const char *msg)
{
    size_t n = strlen(msg);
    free(q->text);
    q->text = cl_xmalloc(n + 2);
    memcpy(q->text, msg, n);
    q->text[n] = '\n';
    q->text[n + 1] = 0;
    q->len = n + 1;
    q->content_type = "text/plain; charset=utf-8";
    q->headers = web_headers;
    q->status = status;
    q->done = true;
}

void http_web_serve(http_req_t *q, const char *root, const char *path, const char *method)
{
    char rel[CL_WEB_PATH_MAX], msg[PATH_MAX + 300];
    cl_error_t err;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        snprintf(q->allow, sizeof q->allow, "GET, HEAD");
        snprintf(msg, sizeof msg, "%.16s is not a method of the dashboard's files (GET, HEAD)",
                 method);
        web_error(q, 405, msg);
        return;
    }
    if (!root) {
        web_error(q, 404,
                  "no dashboard: the controller found no web directory (give it --web-dir DIR; "
                  "it looks beside its binary, ../web, then in " WEB_SYSTEM_DIR ")");
        return;
    }
    if (cl_web_path(path, rel, &err) < 0) {
        web_error(q, 404, err.msg);
        return;
    }
    char full[PATH_MAX + CL_WEB_PATH_MAX + 2];
    snprintf(full, sizeof full, "%s/%s", root, rel);
    char *real = realpath(full, NULL);
    size_t rl = strlen(root);
    struct stat st;
    if (!real || strncmp(real, root, rl) || real[rl] != '/' || stat(real, &st) < 0 ||
        !S_ISREG(st.st_mode) || (size_t)st.st_size > WEB_FILE_MAX) {
        free(real);
        snprintf(msg, sizeof msg, "no such file: /web/%s", rel);
        web_error(q, 404, msg);
        return;
    }
    size_t len;
    char *text = cl_read_file(real, &len, &err);
    free(real);
    if (!text) {
        cl_daemon_log("http", "dashboard: %s", err.msg);
        web_error(q, 404, "no such file (it cannot be read)");
        return;
    }
    free(q->text);
    q->text = text;
    q->len = len;
    q->content_type = cl_web_content_type(rel);
    q->headers = web_headers;
    q->status = 200;
    q->done = true;
}
