/* jw.h - a JSON writer with two outputs: a jansson tree, or compact text appended to a
 * buffer. A rendering written once against it (json.c's node) gives either, and the text is
 * byte for byte what jansson's json_dumps of the tree prints with CL_REST_DUMP_FLAGS
 * (JSON_COMPACT | JSON_REAL_PRECISION(17); tests/unit/test_api_json.c compares the two). The
 * text form exists for lists of hundreds of thousands of objects (the REST API's node pages),
 * where building and dumping a tree per object was most of the cost.
 *
 * The writer's input is made valid as json.c's renderings promise: a NULL string is "", bytes
 * that are not UTF-8 become U+FFFD, a real that is not finite is null. Keys are the caller's
 * literals (printable ASCII, no escaping). Allocation failure aborts (util.h). */
#ifndef COLOSSUS_API_JW_H
#define COLOSSUS_API_JW_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "proto/frame.h"

#define CL_JW_DEPTH 8 /* nesting a rendering may use */

typedef struct cl_jw {
    cl_buf_t *text;              /* text: appended here; NULL: a tree */
    json_t *root;                /* tree: the first value written */
    json_t *open[CL_JW_DEPTH];   /* tree: the containers being filled */
    bool is_arr[CL_JW_DEPTH];    /* text: what each open container closes with */
    uint32_t items[CL_JW_DEPTH]; /* text: values written into each (a comma before the next) */
    uint32_t depth;
} cl_jw_t;

/* A writer building a tree (cl_jw_root takes it), or appending text to b. */
void cl_jw_tree(cl_jw_t *w);
void cl_jw_text(cl_jw_t *w, cl_buf_t *b);
/* The tree written (a new reference the caller owns), NULL in text mode or if none. */
json_t *cl_jw_root(cl_jw_t *w);

/* A jansson string of s (NULL: ""), its bytes that start no valid UTF-8 sequence replaced by
 * U+FFFD, as the text form writes them. NULL only when memory runs out. */
json_t *cl_jw_string(const char *s);

/* Each value goes into the open object under key, into the open array (key NULL), or is the
 * top value (key NULL, nothing open). */
void cl_jw_obj(cl_jw_t *w, const char *key);
void cl_jw_arr(cl_jw_t *w, const char *key);
void cl_jw_end(cl_jw_t *w); /* closes the innermost open object or array */
void cl_jw_str(cl_jw_t *w, const char *key, const char *s);
void cl_jw_int(cl_jw_t *w, const char *key, int64_t v);
void cl_jw_real(cl_jw_t *w, const char *key, double v);
void cl_jw_bool(cl_jw_t *w, const char *key, bool v);
void cl_jw_null(cl_jw_t *w, const char *key);

#endif
