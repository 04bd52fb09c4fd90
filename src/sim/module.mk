# src/sim/module.mk - the simulator's extra targets: a libFuzzer binary for the trace reader
# (run by tests/integration/sim_fuzz_trace.sh).
SIM_FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -fsanitize=fuzzer,address,undefined

build/fuzz/fuzz_trace: src/sim/fuzz/fuzz_trace.c src/sim/trace.c src/util/util.c src/sim/sim.h \
		include/colossus/core.h src/util/util.h
	@mkdir -p build/fuzz
	clang $(SIM_FUZZ_CFLAGS) -o $@ src/sim/fuzz/fuzz_trace.c src/sim/trace.c src/util/util.c -lm

CHECK_TARGETS += build/fuzz/fuzz_trace
