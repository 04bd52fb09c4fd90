# module.mk (core) - the libFuzzer target for the topology reader, built with clang.
CORE_SRCS := $(wildcard src/core/*.c)
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer,address,undefined

build/fuzz/fuzz_topo: tests/fuzz-core/fuzz_topo.c $(CORE_SRCS) $(wildcard src/core/*.h) include/colossus/core.h
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ tests/fuzz-core/fuzz_topo.c $(CORE_SRCS) -lm

CHECK_TARGETS += build/fuzz/fuzz_topo
