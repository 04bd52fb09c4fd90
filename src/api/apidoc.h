/* apidoc.h - the API's description as the controller serves it (GET /api/v1/openapi.json and
 * /api/v1/schema.json): docs/api/openapi.json and docs/api/schema.json, embedded at build time
 * (the Makefile rule in src/api/module.mk writes build/gen/apidoc.c), so that what is served
 * is the file in the tree, byte for byte, with no file looked up at run time. */
#ifndef COLOSSUS_API_APIDOC_H
#define COLOSSUS_API_APIDOC_H

#include <stddef.h>

extern const char cl_apidoc_openapi[]; /* NUL-terminated */
extern const size_t cl_apidoc_openapi_len;
extern const char cl_apidoc_schema[];
extern const size_t cl_apidoc_schema_len;

#endif
