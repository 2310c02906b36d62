#!/bin/sh
# fuzz/run.sh — build the libFuzzer targets and run each one for a while.
#
#   sh fuzz/run.sh [--results FILE] [SECONDS]
#                              run every target for SECONDS (default 10) and
#                              print one summary line per target, then a
#                              "coverage: fuzz: ..." line; exit 1 if any
#                              target crashed, leaked or failed to build.
#                              With --results, also append one line per
#                              target, "fuzz/<target> <passed> <failed>", to
#                              FILE (the format of make test's summary)
#   sh fuzz/run.sh --seeds     regenerate the committed seed corpora
#                              (fuzz/corpus/<target>/) with fuzz/gen_seeds.c
#
# Targets (one program each, see the comment at the top of each file):
#   fuzz_sst       SSTable reader: open, scans, seeks, gets, integrity check
#   fuzz_wal       write-ahead log replay and the batch decoder
#   fuzz_manifest  manifest reader and database recovery (lsm_open)
#   fuzz_key       order-preserving key decoder (round trip)
#   fuzz_row       row decoder
#   fuzz_args      CREATE VIRTUAL TABLE argument parser
#
# Needs clang with libFuzzer (Debian: clang and libclang-rt-14-dev, or the
# unversioned libclang-rt-dev).  Everything is built under build/fuzz/
# (objects rebuilt when their source is newer).  The committed seeds are
# only read; inputs the fuzzers find go to build/fuzz/corpus/<target>/ and
# crashes to build/fuzz/crashes/<target>-crash-* (replay one with
# build/fuzz/<target> FILE).  FUZZ_CC overrides the compiler.
set -u
cd "$(dirname "$0")/.."
CC=${FUZZ_CC:-clang}
OUT=build/fuzz
TARGETS="fuzz_sst fuzz_wal fuzz_manifest fuzz_key fuzz_row fuzz_args"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter -Ilsm -Iext -Iunit-tests -fno-omit-frame-pointer"
SAN="address,undefined"
LIBS="-lxxhash -lpthread -lm"
EXT_LIBS="-lsqlite3"

mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/crashes"

# compile SRC into an object under build/fuzz/obj if it is out of date;
# prints the object's path.
compile() {
  src=$1
  obj="$OUT/obj/$(echo "$src" | tr '/' '_' | sed 's/\.c$/.o/')"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find lsm ext fuzz unit-tests -name '*.h' -newer "$obj" 2>/dev/null | head -n 1)" ]; then
    $CC $CFLAGS -fsanitize=fuzzer-no-link,$SAN -fno-sanitize-recover=undefined -c "$src" -o "$obj" || return 1
  fi
  echo "$obj"
}

if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' |
    $CC -x c -fsanitize=fuzzer - -o "$OUT/probe" >/dev/null 2>&1; then
  echo "fuzz: $CC cannot build libFuzzer targets; install clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)"
  echo "coverage: fuzz: not run (no libFuzzer), 1 failure"
  if [ "${1:-}" = "--results" ]; then echo "fuzz 0 1" >> "$2"; fi
  exit 1
fi
rm -f "$OUT/probe"

LSM_OBJS=""
for src in lsm/*.c; do
  o=$(compile "$src") || { echo "fuzz: cannot compile $src"; exit 1; }
  LSM_OBJS="$LSM_OBJS $o"
done
EXT_OBJS=""
for src in lsm/coding.c ext/key.c ext/row.c ext/args.c unit-tests/ext_test_support.c; do
  o=$(compile "$src") || { echo "fuzz: cannot compile $src"; exit 1; }
  EXT_OBJS="$EXT_OBJS $o"
done

build() {
  t=$1
  case $t in
    fuzz_key|fuzz_row|fuzz_args) deps="$EXT_OBJS"; libs="$EXT_LIBS $LIBS" ;;
    *) deps="$LSM_OBJS"; libs="$LIBS" ;;
  esac
  o=$(compile "fuzz/$t.c") || return 1
  $CC -fsanitize=fuzzer,$SAN -o "$OUT/$t" "$o" $deps $libs
}

if [ "${1:-}" = "--seeds" ]; then
  cc -std=c11 -D_GNU_SOURCE -O1 -g -Ilsm -Iext -Iunit-tests fuzz/gen_seeds.c lsm/*.c \
    ext/key.c ext/row.c ext/args.c unit-tests/ext_test_support.c -lsqlite3 $LIBS \
    -o "$OUT/gen_seeds" || exit 1
  rm -rf fuzz/corpus && "$OUT/gen_seeds" fuzz/corpus || exit 1
  echo "fuzz: seeds written to fuzz/corpus/: $(find fuzz/corpus -type f | wc -l) files"
  exit 0
fi

RESULTS=""
if [ "${1:-}" = "--results" ]; then
  RESULTS=$2
  shift 2
fi
SECS=${1:-10}
# Scratch space of the targets that need real files (fuzz_manifest).
FUZZ_TMPDIR=$(mktemp -d /dev/shm/lsm-fuzz-XXXXXX 2>/dev/null || mktemp -d)
export FUZZ_TMPDIR
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT
total_runs=0
failures=0
n=0
for t in $TARGETS; do
  n=$((n + 1))
  if ! build "$t" >"$OUT/$t.build.log" 2>&1; then
    echo "fuzz: $t: FAILED to build"; cat "$OUT/$t.build.log"
    failures=$((failures + 1))
    [ -n "$RESULTS" ] && echo "fuzz/$t 0 1" >> "$RESULTS"
    continue
  fi
  case $t in
    fuzz_sst|fuzz_wal) maxlen=65536 ;;
    fuzz_manifest) maxlen=8192 ;;
    *) maxlen=1024 ;;
  esac
  mkdir -p "$OUT/corpus/$t"
  before=$(ls "$OUT/corpus/$t" | wc -l)
  "$OUT/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=$maxlen \
    -print_final_stats=1 -artifact_prefix="$OUT/crashes/$t-" \
    "$OUT/corpus/$t" "fuzz/corpus/$t" >"$OUT/$t.log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -n 1)
  runs=${runs:-0}
  total_runs=$((total_runs + runs))
  after=$(ls "$OUT/corpus/$t" | wc -l)
  seeds=$(ls "fuzz/corpus/$t" | wc -l)
  if [ $rc -ne 0 ]; then
    failures=$((failures + 1))
    art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$OUT/$t.log" | tail -n 1)
    echo "fuzz: $t: FAILED after $runs runs (exit $rc)${art:+, input saved as $art}"
    grep -E 'ERROR|SUMMARY|^ +#[0-9]+ +0x|Assertion|runtime error' "$OUT/$t.log" | head -n 25
    [ -n "$RESULTS" ] && echo "fuzz/$t 0 1" >> "$RESULTS"
  else
    echo "fuzz: $t: $runs runs in $SECS s, no crash, corpus $seeds seeds + $after found ($((after - before)) new)"
    [ -n "$RESULTS" ] && echo "fuzz/$t 1 0" >> "$RESULTS"
  fi
done
echo "coverage: fuzz: $n targets x $SECS s, $total_runs runs, $failures failures"
[ $failures -eq 0 ]
