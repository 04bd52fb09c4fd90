# src/proto/module.mk - the libFuzzer target for the frame decoder (clang), built before tests.
FUZZ_FRAME := build/fuzz/fuzz_frame
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Ibuild/gen $(PKGCFLAGS)

$(FUZZ_FRAME): tests/fuzz/fuzz_frame.c src/proto/frame.c src/util/util.c build/gen/colossus.pb-c.c | $(GEN_H)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $^ -lsodium -lprotobuf-c

.PHONY: fuzz-frame
fuzz-frame: $(FUZZ_FRAME)
	./$(FUZZ_FRAME) -max_total_time=60 -timeout=5 build/fuzz/corpus-frame

CHECK_TARGETS += $(FUZZ_FRAME)
