/* webpath.h - the dashboard's static files (web/, served by src/controller/ctl_http_web.c):
 * which file a request's path names, and its content type. Pure: no I/O, so that the checks
 * that keep a request inside the web directory are unit-tested (tests/unit/test_web_path.c).
 * Symbolic links out of the directory are the server's to refuse (it resolves the file). */
#ifndef COLOSSUS_API_WEBPATH_H
#define COLOSSUS_API_WEBPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "colossus/core.h"

#define CL_WEB_PREFIX "/web/"
#define CL_WEB_PATH_MAX 256 /* a file's path under the web directory, NUL included */

/* Whether path (decoded, without the query) is the dashboard's: "/" or under /web/. */
bool cl_web_is(const char *path);

/* The file path names, relative to the web directory: "/" is "index.html", "/web/a/b.js"
 * is "a/b.js". 0 with rel; or -1 with err for a path that is not a plain relative file
 * name: a segment "." or "..", an empty one ("//", a trailing "/"), a hidden one (".x"), a
 * '%' (a double-encoded "%2e%2e"), a '\', a control byte, a name over CL_WEB_PATH_MAX. */
int cl_web_path(const char *path, char rel[CL_WEB_PATH_MAX], cl_error_t *err);

/* The Content-Type of a file by its extension (application/octet-stream if unknown). */
const char *cl_web_content_type(const char *rel);

#endif
