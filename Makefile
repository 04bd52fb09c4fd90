# Colossus - one binary (bin/colossus), its unit tests, sanitizer build and benchmarks.
# Sources are found by directory; a module may add rules in src/<module>/module.mk.

CC      ?= cc
PKGS    := libuv libprotobuf-c sqlite3 libsodium jansson fftw3
# libjwt, libmicrohttpd and libpq: their headers here; the controller dlopens each when it
# takes JWTs, serves HTTP or opens a postgresql:// store (linked, they would load OpenSSL,
# GnuTLS or Kerberos into every CLI command); the unit tests link libjwt to sign JWTs and
# libpq to set up the PostgreSQL store's databases
PKGCFLAGS := $(shell pkg-config --cflags $(PKGS) libjwt libmicrohttpd libpq 2>/dev/null)
PKGLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
JWTLIBS   := $(shell pkg-config --libs libjwt 2>/dev/null)
PQLIBS    := $(shell pkg-config --libs libpq 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -Iinclude -Isrc -Ibuild/gen $(PKGCFLAGS) -MMD -MP
LDLIBS  := $(PKGLIBS) -ldl -lpthread -lm
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Generated protobuf-c codecs (src/proto/*.proto -> build/gen/*.pb-c.[ch]).
PROTOS   := $(wildcard src/proto/*.proto)
GEN_C    := $(patsubst src/proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
GEN_H    := $(GEN_C:.c=.h)

LIB_SRCS  = $(filter-out src/cli/main.c,$(wildcard src/*/*.c)) $(GEN_C)
MAIN_SRC  = src/cli/main.c
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
TEST_SUPPORT = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
BENCH_SRCS = $(wildcard bench/*.c)
TOOL_SRCS = $(wildcard tests/tools/*.c)
TOOL_BINS = $(patsubst tests/tools/%.c,build/tools/%,$(TOOL_SRCS))

obj = $(patsubst %.c,build/$(1)/%.o,$(2))

LIB_OBJS  = $(call obj,obj,$(LIB_SRCS))
ASAN_OBJS = $(call obj,asan,$(LIB_SRCS))
UNIT_BINS = $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
ASAN_BINS = $(patsubst tests/unit/%.c,build/tests-asan/%,$(UNIT_SRCS))

.PHONY: all check test unit asan demo man bench bench-cluster bench-hollow bench-tree bench-power bench-metrics bench-ack bench-usage bench-rest bench-pg bench-pg-start bench-failover bench-array clean deps fmt fmt-check fuzz
all: bin/colossus

# Modules may append to these.
CHECK_TARGETS :=
EXTRA_TARGETS :=
-include $(wildcard src/*/module.mk)

all: $(EXTRA_TARGETS)

deps:
	@./scripts/install-deps.sh

build/gen/%.pb-c.c build/gen/%.pb-c.h: src/proto/%.proto
	@mkdir -p build/gen
	protoc-c --proto_path=src/proto --c_out=build/gen $<

build/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

build/libcolossus.a: $(LIB_OBJS)
	@rm -f $@
	ar rcsP $@ $(filter %.o,$^)

build/libcolossus-asan.a: $(ASAN_OBJS)
	@rm -f $@
	ar rcsP $@ $(filter %.o,$^)

# `colossus --version`: the checkout's git describe (0.dev outside one)
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.dev)
build/obj/src/cli/main.o build/asan/src/cli/main.o: ALL_CFLAGS += -DCL_VERSION='"$(VERSION)"'

# A manual page per command, from its --help (help2man; scripts/man.sh)
man: bin/colossus
	sh scripts/man.sh bin/colossus build/man

bin/colossus: build/obj/src/cli/main.o $(LIB_OBJS)
	@mkdir -p bin
	$(CC) $(CFLAGS) -rdynamic -o $@ $(filter %.o %.a,$^) $(LDLIBS)

bin/colossus-asan: build/asan/src/cli/main.o $(ASAN_OBJS)
	@mkdir -p bin
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -rdynamic -o $@ $(filter %.o %.a,$^) $(LDLIBS)

build/tests/%: tests/unit/%.c $(call obj,obj,$(TEST_SUPPORT)) build/libcolossus.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS) $(JWTLIBS) $(PQLIBS) -lcmocka

build/tests-asan/%: tests/unit/%.c $(call obj,asan,$(TEST_SUPPORT)) build/libcolossus-asan.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS) $(JWTLIBS) $(PQLIBS) -lcmocka

unit: $(UNIT_BINS) $(TOOL_BINS)
asan: $(ASAN_BINS) bin/colossus-asan

# The whole suite: installs what it needs, builds, runs unit tests (plain and ASan+UBSan),
# integration tests and bounded fuzzing, and ends with "N passed, N failed".
check: deps
	$(MAKE) fmt-check
	$(MAKE) all unit asan $(BENCH_BINS) $(TOOL_BINS) $(CHECK_TARGETS)
	./tests/run.sh

test: check

# The main job: see README.
demo: deps
	$(MAKE) all
	./scripts/demo.sh

bench: all
	./bin/colossus bench sched --preset colossus2 --json

# Issue 3's cluster benchmark (a local 4-agent cluster; about a minute): bench/cluster.bash.
BENCH_BINS = $(patsubst bench/%.c,build/bench/%,$(BENCH_SRCS))
build/bench/%: bench/%.c build/libcolossus.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< build/libcolossus.a -o $@ $(LDLIBS)

# Programs the integration tests drive (tests/tools/*.c: clients of the real protocol that
# play attackers and faulty peers), built by make check.
build/tools/%: tests/tools/%.c build/libcolossus.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< build/libcolossus.a -o $@ $(LDLIBS)

bench-cluster: all $(BENCH_BINS)
	bash bench/cluster.bash

# Acknowledged submissions per second from 1, 8 and 32 clients (no agents; about 20 s).
bench-ack: all $(BENCH_BINS)
	bash bench/ack.bash

# Issue 14: acknowledged submissions a second with the journal on PostgreSQL against SQLite
# (bench/ack.bash on each; about a minute), and a controller start from 1,000,000 journaled
# jobs on each (bench/pg_start.bash; a few minutes, ~2 GB in $TMPDIR). Both start their own
# throwaway PostgreSQL server (tests/pg_server.bash).
bench-pg: all $(BENCH_BINS)
	bash bench/pg_ack.bash

bench-pg-start: all build/bench/journal_fill
	bash bench/pg_start.bash

# Issue 14's standby controllers: 50 kill -9 of the leader under a steady submission load,
# each timed from the kill to the first acknowledgement by the new leader; lost and
# duplicated acknowledged submissions counted (bench/failover.bash; about 2 minutes).
bench-failover: all
	bash bench/failover.bash $(FAILOVER_ARGS)

# The journal at 10,000,000 finished jobs: load, usage/history/audit queries, a start's load,
# a prune (issue 11; ~10 GB in $TMPDIR, deleted after; see docs/benchmarks.md).
bench-usage: build/bench/usage_bench
	./build/bench/usage_bench $(USAGE_BENCH_ARGS)

# The controller at Colossus 2 size: 550,000 hollow nodes (about 30 s, ~3 GB).
bench-hollow: all
	bash bench/hollow.bash

# 550,000 hollow nodes behind two tiers of relays (issue 16; ~2.5 minutes, ~3 GB):
# registration, heartbeat CPU, a 539,000-node gang, a relay killed, a controller restart.
bench-tree: all
	bash bench/tree.bash $(TREE_ARGS)

# A 30% power cut reaching 550,000 hollow nodes: time from the request to each node's report
# that it applied the limit (issue 13; ~5 minutes, ~3 GB; POWER_ARGS="8 12500" for 100,000).
bench-power: all
	bash bench/power.bash $(POWER_ARGS)

# /metrics at 550,000 hollow nodes, scraped every second (issue 12; ~3 minutes, ~3 GB).
bench-metrics: all build/bench/metrics_agg
	bash bench/metrics.bash

# The REST API with 64 keep-alive clients while 100,000 hollow nodes heartbeat: GET a job,
# a page of 1,000 jobs, POST submissions, the node list paged (about a minute; REST_ARGS="550000
# 8" for Colossus 2's size): bench/rest.bash.
bench-rest: all build/bench/rest_client
	bash bench/rest.bash $(REST_ARGS)

# One submission of a 100,000-task job array to the real controller (issue 15; ~1 minute):
# bench/array.bash (ARRAY_TASKS= for another size).
bench-array: all
	bash bench/array.bash $(ARRAY_TASKS)

# Every C file follows .clang-format (make fmt rewrites them).
FMT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	@clang-format --dry-run --Werror $(FMT_FILES) && echo "fmt-check: $(words $(FMT_FILES)) files follow .clang-format"

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
