# src/api/module.mk - the API's description in the binary: docs/api/openapi.json and
# docs/api/schema.json as C strings (build/gen/apidoc.c, src/api/apidoc.h), served by the
# controller at /api/v1/openapi.json and /api/v1/schema.json without a file at run time.
APIDOC_C := build/gen/apidoc.c
GEN_C += $(APIDOC_C)

$(APIDOC_C): docs/api/openapi.json docs/api/schema.json scripts/c-embed.sh
	@mkdir -p $(dir $@)
	sh scripts/c-embed.sh cl_apidoc_openapi docs/api/openapi.json \
		cl_apidoc_schema docs/api/schema.json >$@.tmp && mv $@.tmp $@
