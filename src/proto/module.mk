# src/proto/module.mk - the libFuzzer targets for the frame decoder, the credential string
# parser and the REST API's parsers (src/api/rest.c, with the core for its state names, when.c
# for times and cred.c for token ids;
# here, after src/core/module.mk has set CORE_SRCS) (clang), built before tests.
FUZZ_FRAME := build/fuzz/fuzz_frame
FUZZ_CRED := build/fuzz/fuzz_cred
FUZZ_REST := build/fuzz/fuzz_rest
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild/gen $(PKGCFLAGS)

$(FUZZ_FRAME): tests/fuzz/fuzz_frame.c src/proto/frame.c src/util/util.c build/gen/colossus.pb-c.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -lsodium -lprotobuf-c

$(FUZZ_CRED): tests/fuzz/fuzz_cred.c src/proto/cred.c src/proto/frame.c src/util/util.c build/gen/colossus.pb-c.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -lsodium -lprotobuf-c

$(FUZZ_REST): tests/fuzz/fuzz_rest.c src/api/rest.c src/util/units.c src/util/util.c src/util/when.c src/util/iopat.c src/util/jobenv.c src/util/depend.c src/util/arrayspec.c src/util/hostlist.c src/proto/cred.c src/proto/frame.c build/gen/colossus.pb-c.c $(CORE_SRCS) | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -ljansson -lprotobuf-c -lsodium -lm

.PHONY: fuzz-frame fuzz-cred fuzz-rest
fuzz-frame: $(FUZZ_FRAME)
	./$(FUZZ_FRAME) -max_total_time=60 -timeout=5 build/fuzz/corpus-frame

fuzz-cred: $(FUZZ_CRED)
	./$(FUZZ_CRED) -max_total_time=60 -timeout=5 build/fuzz/corpus-cred

fuzz-rest: $(FUZZ_REST)
	./$(FUZZ_REST) -max_total_time=60 -timeout=5 build/fuzz/corpus-rest

CHECK_TARGETS += $(FUZZ_FRAME) $(FUZZ_CRED) $(FUZZ_REST)
