# lsm_vtab — build, set-up and test entry points.
#
#   make demo    install missing packages, build lsm_vtab.so, run a short SQL session
#   make test    install missing packages, then every unit, crash and SQL test,
#                then the same unit and SQL tests under ASan+UBSan; ends with
#                "N passed, N failed" and fails if anything failed
#   make asan    only the sanitizer run
#   make clean
#
# Everything is built under build/ (build/asan/ for the sanitizer build).

CC      ?= cc
PKGS    := libsqlite3-dev sqlite3 libxxhash-dev check pkg-config
WARN    := -Wall -Wextra -Wno-unused-parameter
CFLAGS  ?= -O2 -g
# -fvisibility=hidden: the extension exports only sqlite3_lsmvtab_init, so
# calls between its files are direct (no PLT) and can be optimised.
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) -Ilsm -Iext -I.
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LSM_SRC := $(sort $(wildcard lsm/*.c))
EXT_SRC := $(sort $(wildcard ext/*.c))
HDRS    := $(wildcard lsm/*.h ext/*.h unit-tests/*.h)
UNIT_SRC := $(sort $(wildcard unit-tests/test_*.c))
UNIT_HELPERS := $(filter-out $(UNIT_SRC),$(wildcard unit-tests/*.c))

CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -pthread)

.PHONY: all demo test asan clean setup unit sql crash summary-reset bench bench-peers bench-stalls \
        concurrency \
        fuzz fuzz-short torture setup-fuzz difftest fuzz-sql
.SECONDARY:

all: setup lsm_vtab.so

# ---------------------------------------------------------------- set-up
# Installs what is missing when run as root; otherwise says what to install.
setup: build/.setup-ok
build/.setup-ok:
	@missing=""; for p in $(PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing packages:$$missing"; \
	    echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p build && touch $@

# The fuzzers need clang's libFuzzer runtime; kept apart so `make demo`
# stays light.
FUZZ_PKGS := clang libclang-rt-14-dev
setup-fuzz: build/.setup-fuzz-ok
build/.setup-fuzz-ok: | build/.setup-ok
	@missing=""; for p in $(FUZZ_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing packages:$$missing"; \
	    echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
	@touch $@

# ---------------------------------------------------------------- builds
# $(1) = output dir, $(2) = extra flags
define objs
$(patsubst %.c,$(1)/%.o,$(LSM_SRC) $(EXT_SRC))
endef

build/%.o: %.c $(HDRS) | build/.setup-ok
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

build/asan/%.o: %.c $(HDRS) | build/.setup-ok
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -c $< -o $@

LIB_OBJS      := $(call objs,build)
ASAN_LIB_OBJS := $(call objs,build/asan)

# The extension is compiled as one link-time-optimised unit: the module's
# per-row calls into the engine (iterator steps, key and value accessors)
# are then inlined across files, about 90 fewer instructions per scanned row
# (README "Performance").  The unit tests link the plain objects above.
# LTO= turns it off.
LTO ?= -flto=auto
lsm_vtab.so: lsm_vtab.c $(LSM_SRC) $(EXT_SRC) $(HDRS) | build/.setup-ok
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LTO) -shared -o $@ lsm_vtab.c $(LSM_SRC) $(EXT_SRC) \
	  -lxxhash -lpthread -lm

build/asan/lsm_vtab.so: build/asan/lsm_vtab.o $(ASAN_LIB_OBJS)
	$(CC) -shared $(SAN) -o $@ $^ -lxxhash -lpthread -lm

# Each unit-tests/test_X.c is one Check program linked with the engine,
# the ext/ helpers, the shared test helpers and libsqlite3.
UNIT_BINS      := $(patsubst unit-tests/%.c,build/unit/%,$(UNIT_SRC))
ASAN_UNIT_BINS := $(patsubst unit-tests/%.c,build/asan/unit/%,$(UNIT_SRC))
UNIT_HELPER_OBJS      := $(patsubst %.c,build/%.o,$(UNIT_HELPERS))
ASAN_UNIT_HELPER_OBJS := $(patsubst %.c,build/asan/%.o,$(UNIT_HELPERS))

# test_oom fails the Nth allocation by wrapping the allocator at link time
# (unit-tests/test_oom.c defines the __wrap_ functions).
OOM_LDWRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=strdup
build/unit/test_oom: LDWRAP := $(OOM_LDWRAP)
build/asan/unit/test_oom: LDWRAP := $(OOM_LDWRAP)

# test_sql_oom links the extension itself (lsm_vtab.o, which defines the
# sqlite3_api pointer that ext_test_support.o would define again; nor
# check_main.o, which needs ext_test_support.o) and wraps
# the allocator like test_oom; it also fails SQLite's allocations (through
# sqlite3_config).  Explicit rules: they take precedence over the pattern
# rules below.
SQL_OOM_HELPERS      := $(filter-out %/ext_test_support.o %/check_main.o,$(UNIT_HELPER_OBJS))
ASAN_SQL_OOM_HELPERS := $(filter-out %/ext_test_support.o %/check_main.o,$(ASAN_UNIT_HELPER_OBJS))

build/unit/test_sql_oom: unit-tests/test_sql_oom.c build/lsm_vtab.o $(LIB_OBJS) $(SQL_OOM_HELPERS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< build/lsm_vtab.o $(LIB_OBJS) $(SQL_OOM_HELPERS) $(OOM_LDWRAP) $(CHECK_LIBS) -lsqlite3 -lxxhash -lpthread -lm

build/asan/unit/test_sql_oom: unit-tests/test_sql_oom.c build/asan/lsm_vtab.o $(ASAN_LIB_OBJS) $(ASAN_SQL_OOM_HELPERS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ $< build/asan/lsm_vtab.o $(ASAN_LIB_OBJS) $(ASAN_SQL_OOM_HELPERS) $(OOM_LDWRAP) $(CHECK_LIBS) -lsqlite3 -lxxhash -lpthread -lm

build/unit/%: unit-tests/%.c $(LIB_OBJS) $(UNIT_HELPER_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(UNIT_HELPER_OBJS) $(LDWRAP) $(CHECK_LIBS) -lsqlite3 -lxxhash -lpthread -lm

build/asan/unit/%: unit-tests/%.c $(ASAN_LIB_OBJS) $(ASAN_UNIT_HELPER_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -o $@ $< $(ASAN_LIB_OBJS) $(ASAN_UNIT_HELPER_OBJS) $(LDWRAP) $(CHECK_LIBS) -lsqlite3 -lxxhash -lpthread -lm

# ---------------------------------------------------------------- demo
demo: setup lsm_vtab.so
	@sh scripts/demo.sh

# ---------------------------------------------------------------- tests
# Each suite appends "suite passed failed" lines to build/results; the
# summary sums them.
RESULTS := build/results

summary-reset:
	@mkdir -p build && rm -f $(RESULTS)

unit: setup $(UNIT_BINS)
	@sh scripts/run-unit.sh build/unit $(RESULTS) $(UNIT_BINS)

sql: setup lsm_vtab.so
	@sh sql-tests/run.sh ./lsm_vtab.so $(RESULTS) sql

# The differential test: seeded random SQL on an lsm table and its native
# twin, stopping at the first difference (sql-tests/difftest.md).  make test
# runs a fixed set of seeds; make fuzz-sql new seeds for SECONDS.
DIFFTEST_SEEDS ?= 1-24
DIFFTEST_OPS ?= 1000
build/difftest: sql-tests/difftest.c | build/.setup-ok
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< -lsqlite3

difftest: setup lsm_vtab.so build/difftest
	@mkdir -p build; if build/difftest --so ./lsm_vtab.so --seeds $(DIFFTEST_SEEDS) --ops $(DIFFTEST_OPS) > build/difftest.log 2>&1; \
	then tail -n 1 build/difftest.log; \
	  echo "difftest $$(tail -n 1 build/difftest.log | sed -E 's/^difftest: ([0-9]+) seeds.*/\1/') 0" >> $(RESULTS); \
	else cat build/difftest.log; echo "difftest 0 1" >> $(RESULTS); exit 1; fi

# Connections of several threads, then of several processes, reading and
# writing one table, every read checked (sql-tests/concurrency.c; with
# processes it also fails if a read ever gets SQLITE_BUSY or if not all
# processes but one committed something).
CONC_OPS ?= 2000
build/concurrency: sql-tests/concurrency.c | build/.setup-ok
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< -lsqlite3 -lpthread

concurrency: setup lsm_vtab.so build/concurrency
	@mkdir -p build; status=0; \
	for mode in --threads --procs; do \
	  if build/concurrency --so ./lsm_vtab.so $$mode 4 --ops $(CONC_OPS) > build/concurrency.log 2>&1; \
	  then tail -n 1 build/concurrency.log; echo "concurrency$$mode 1 0" >> $(RESULTS); \
	  else cat build/concurrency.log; echo "concurrency$$mode 0 1" >> $(RESULTS); status=1; fi; \
	done; exit $$status

SECONDS ?= 300
fuzz-sql: setup lsm_vtab.so build/difftest
	@build/difftest --so ./lsm_vtab.so --seconds $(SECONDS)

# Unit, SQL and differential tests under AddressSanitizer (with
# LeakSanitizer) and UndefinedBehaviorSanitizer; the sqlite3 shell and the
# difftest load the instrumented extension with the ASan runtime preloaded.
# Every suite always runs.
ASAN_PRELOAD = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=1
asan: setup $(ASAN_UNIT_BINS) build/asan/lsm_vtab.so build/difftest build/concurrency
	@status=0; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh scripts/run-unit.sh build/asan/unit $(RESULTS) $(ASAN_UNIT_BINS) || status=1; \
	$(ASAN_PRELOAD) sh sql-tests/run.sh ./build/asan/lsm_vtab.so $(RESULTS) sql-asan || status=1; \
	if $(ASAN_PRELOAD) build/difftest --so ./build/asan/lsm_vtab.so --seeds 1-6 --ops 500 \
	     > build/difftest-asan.log 2>&1; then \
	  tail -n 1 build/difftest-asan.log; echo "difftest-asan 6 0" >> $(RESULTS); \
	else cat build/difftest-asan.log; echo "difftest-asan 0 1" >> $(RESULTS); status=1; fi; \
	for mode in --threads --procs; do \
	  if $(ASAN_PRELOAD) build/concurrency --so ./build/asan/lsm_vtab.so $$mode 4 --ops 1000 \
	       > build/concurrency-asan.log 2>&1; then \
	    tail -n 1 build/concurrency-asan.log; echo "concurrency-asan$$mode 1 0" >> $(RESULTS); \
	  else cat build/concurrency-asan.log; echo "concurrency-asan$$mode 0 1" >> $(RESULTS); status=1; fi; \
	done; \
	exit $$status

test: summary-reset
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory unit || echo "unit-make 0 1" >> $(RESULTS)
	@$(MAKE) --no-print-directory sql || echo "sql-make 0 1" >> $(RESULTS)
	@$(MAKE) --no-print-directory difftest || grep -q '^difftest' $(RESULTS) || echo "difftest-make 0 1" >> $(RESULTS)
	@$(MAKE) --no-print-directory concurrency || grep -q '^concurrency' $(RESULTS) || echo "concurrency-make 0 1" >> $(RESULTS)
	@$(MAKE) --no-print-directory asan || echo "asan-make 0 1" >> $(RESULTS)
	@$(MAKE) --no-print-directory fuzz-short || grep -q '^fuzz' $(RESULTS) || echo "fuzz-make 0 1" >> $(RESULTS)
	@sh scripts/summary.sh $(RESULTS)

# ---------------------------------------------------------------- fuzzing, torture
# make fuzz: every libFuzzer target for FUZZ_SECONDS each; make test runs
# them for a few seconds.  make torture: the fault, power-loss, corruption
# and SQL out-of-memory loops over every point of a longer script, then long
# fuzz runs.
FUZZ_SECONDS ?= 120
fuzz: setup setup-fuzz
	@sh fuzz/run.sh $(FUZZ_SECONDS)

fuzz-short: setup setup-fuzz
	@sh fuzz/run.sh --results $(RESULTS) 3

TORTURE_BINS := build/unit/test_faults build/unit/test_powerloss build/unit/test_corruption \
                build/unit/test_sql_oom
torture: summary-reset
	@$(MAKE) --no-print-directory setup setup-fuzz $(TORTURE_BINS)
	@LSM_TORTURE=1 sh scripts/run-unit.sh build/unit $(RESULTS) $(TORTURE_BINS) || true
	@sh fuzz/run.sh --results $(RESULTS) $${TORTURE_FUZZ_SECONDS:-600} || true
	@sh scripts/summary.sh $(RESULTS)

# ---------------------------------------------------------------- benchmark
# make bench: the standard suite, N=1000000 rows (N=10000000 make bench for
# the large run); leveldb/rocksdb columns when their -dev packages are
# installed, which make bench-peers does.
BENCH_PEER_PKGS := libleveldb-dev librocksdb-dev

bench: setup lsm_vtab.so
	@CC="$(CC)" CFLAGS="$(CFLAGS)" sh bench/run.sh --n $(or $(N),1000000) --ext ./lsm_vtab.so $(BENCH_FLAGS)

# make bench-stalls: fillrandom with single-row commits (N=5000000 by
# default) on the vtab target: p99/max commit latency and write stalls.
bench-stalls: setup lsm_vtab.so
	@CC="$(CC)" CFLAGS="$(CFLAGS)" sh bench/run.sh --suite stalls --targets "$(or $(TARGETS),vtab)" \
	  --n $(or $(N),5000000) --ext ./lsm_vtab.so $(BENCH_FLAGS)

bench-peers: setup
	@missing=""; for p in $(BENCH_PEER_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else echo "missing packages:$$missing"; echo "install them with: sudo apt-get install$$missing"; exit 1; fi; \
	fi
	@$(MAKE) --no-print-directory bench

clean:
	rm -rf build lsm_vtab.so
