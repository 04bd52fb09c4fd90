# src/proto/module.mk - the libFuzzer targets for the frame decoder and the credential string
# parser (clang), built before tests.
FUZZ_FRAME := build/fuzz/fuzz_frame
FUZZ_CRED := build/fuzz/fuzz_cred
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild/gen $(PKGCFLAGS)

$(FUZZ_FRAME): tests/fuzz/fuzz_frame.c src/proto/frame.c src/util/util.c build/gen/colossus.pb-c.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -lsodium -lprotobuf-c

$(FUZZ_CRED): tests/fuzz/fuzz_cred.c src/proto/cred.c src/proto/frame.c src/util/util.c build/gen/colossus.pb-c.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -lsodium -lprotobuf-c

.PHONY: fuzz-frame fuzz-cred
fuzz-frame: $(FUZZ_FRAME)
	./$(FUZZ_FRAME) -max_total_time=60 -timeout=5 build/fuzz/corpus-frame

fuzz-cred: $(FUZZ_CRED)
	./$(FUZZ_CRED) -max_total_time=60 -timeout=5 build/fuzz/corpus-cred

CHECK_TARGETS += $(FUZZ_FRAME) $(FUZZ_CRED)
