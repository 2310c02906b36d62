#!/bin/sh
# bench/run.sh — the benchmark suites: every target, one after the
# other, on fresh directories; prints one table with the targets side by
# side, the ratio vtab/native, and the issue's targets checked.
#
#   sh bench/run.sh [--n 1000000] [--targets "engine vtab native ..."]
#                   [--reads min(N, 1000000)] [--dir build/bench-data]
#                   [--ext PATH] [--bin PATH] [--suite standard|large|stalls]
#                   [--keep] [--verbose] [BENCH FLAGS...]
#
# Per target three processes (one store each, so peak RSS is per target and
# per sequence):
#   seq   fillseq
#   main  fillrandom overwrite readrandom readmissing seekrandom readseq
#         readreverse readwhilewriting deleterandom
#   1txn  fill1txn (fillrandom with all rows in one transaction)
# --suite large (the default when N is above 2M) runs per target main with
#   only the workloads issue 4 sets targets for (fillrandom readrandom
#   readmissing seekrandom readseq readreverse), then 1txn: fillseq,
#   overwrite, readwhilewriting and deleterandom would add an hour to the
#   10M run for no target.
# --suite stalls runs instead one process per target:
#   stalls  fillrandom with single-row commits (--batch 1 unless given):
#           p99 and max latency per commit, and the time writers spent
#           slowed down or stopped by the engine (write stalls ms)
# Targets: engine, vtab, native always; leveldb and rocksdb when Debian's
# libleveldb-dev / librocksdb-dev are installed.
#
# Without --bin the bench programs are built here into build/bench/ (cc
# $CFLAGS, default -O2 -g) from bench/*.c and lsm/*.c: bench for engine,
# vtab and native, bench-peers with the peers it finds (so the peers'
# libraries do not count in the other targets' RSS); without --ext an
# lsm_vtab.so is built the same way, so a plain `sh bench/run.sh` measures
# the sources as they are.  Other flags go to
# every bench process (see `build/bench/bench --help`): --batch,
# --sync, --key-size, --value-size, --memtable-mb, --cache-mb, --threads,
# --write-rate, --vtab-opts ...  Exits non-zero if a run failed.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

n=1000000
reads=""
dir=build/bench-data
targets=""
ext=""
bin=""
keep=0
verbose=0
memtable_mb=4
cache_mb=32
suite=""
extra=""

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --n) n=$2; shift 2 ;;
    --reads) reads=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --ext) ext=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --verbose) verbose=1; shift ;;
    --suite) suite=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --replace-fill) extra="$extra $1"; shift ;;
    --memtable-mb) memtable_mb=$2; extra="$extra $1 $(quote "$2")"; shift 2 ;;
    --cache-mb) cache_mb=$2; extra="$extra $1 $(quote "$2")"; shift 2 ;;
    --*) [ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
         extra="$extra $1 $(quote "$2")"; shift 2 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
have_leveldb=0; have_rocksdb=0
have_pkg libleveldb-dev && [ -f /usr/include/leveldb/c.h ] && have_leveldb=1
have_pkg librocksdb-dev && [ -f /usr/include/rocksdb/c.h ] && have_rocksdb=1

if [ -z "$targets" ]; then
  targets="engine vtab native"
  [ $have_leveldb = 1 ] && targets="$targets leveldb"
  [ $have_rocksdb = 1 ] && targets="$targets rocksdb"
fi

# Read workloads measure a rate per operation: a million operations are
# plenty, and reads=N would make the 10M run take hours.
case $n in
  *[kK]) n=$((${n%?} * 1000)) ;;
  *[mM]) n=$((${n%?} * 1000000)) ;;
esac
case $n in
  ''|*[!0-9]*) echo "run.sh: --n wants a number of rows, not '$n'" >&2; exit 2 ;;
esac
if [ -z "$suite" ]; then
  suite=standard
  [ "$n" -gt 2000000 ] && suite=large
fi
main_wl=fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readreverse,readwhilewriting,deleterandom
case $suite in
  standard) procs="seq main 1txn" ;;
  large) procs="main 1txn"
         main_wl=fillrandom,readrandom,readmissing,seekrandom,readseq,readreverse ;;
  stalls) procs="stalls"; extra="--batch 1 $extra" ;;   # a later --batch wins
  *) echo "run.sh: --suite is standard, large or stalls, not '$suite'" >&2; exit 2 ;;
esac
if [ -z "$reads" ]; then
  reads=$n
  [ "$n" -gt 1000000 ] && reads=1000000
fi

CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
LTO=${LTO--flto=auto}       # the extension is built as the Makefile builds it
WARN="-Wall -Wextra -Wno-unused-parameter"
mkdir -p build/bench "$dir" || exit 2

# Rebuild $1 when a source is newer or the compile line changed.
stale() {
  out=$1; line=$2; shift 2
  [ -f "$out" ] && [ -f "$out.cmd" ] || return 0
  [ "$(cat "$out.cmd")" = "$line" ] || return 0
  [ -z "$(find "$@" -name '*.[ch]' -newer "$out" 2>/dev/null | head -n 1)" ] || return 0
  return 1
}

# Two programs: bench (engine, vtab, native) and bench-peers (leveldb,
# rocksdb).  Linking the peers' C++ libraries into every process would add
# their loaded, relocated code (8.5 MiB measured) to the peak RSS of targets
# that never use them.
build_bench() {
  out=$1; defs=$2; libs=$3
  # An engine without the block cache option yet.
  grep -q 'cache_size' lsm/lsm.h || defs="$defs -DBENCH_LSM_NO_CACHE"
  # An engine without the write-stall counters yet.
  grep -q 'stop_micros' lsm/lsm.h || defs="$defs -DBENCH_LSM_NO_STALLS"
  line="$CC -std=c11 -D_GNU_SOURCE $CFLAGS $WARN -Ilsm -Iext $defs bench/*.c lsm/*.c -lsqlite3 $libs -lxxhash -lpthread -lm"
  if stale "$out" "$line" bench lsm; then
    echo "building $out" >&2
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE $CFLAGS $WARN -Ilsm -Iext $defs bench/*.c lsm/*.c \
        -lsqlite3 $libs -lxxhash -lpthread -lm -o "$out" || exit 2
    echo "$line" > "$out.cmd"
  fi
}
peer_bin=$bin
if [ -z "$bin" ]; then
  bin=build/bench/bench
  build_bench "$bin" "" ""
  defs=""; libs=""
  [ $have_leveldb = 1 ] && { defs="$defs -DBENCH_HAVE_LEVELDB"; libs="$libs -lleveldb"; }
  [ $have_rocksdb = 1 ] && { defs="$defs -DBENCH_HAVE_ROCKSDB"; libs="$libs -lrocksdb"; }
  peer_bin=$bin
  if [ -n "$defs" ]; then
    case " $targets " in
      *" leveldb "*|*" rocksdb "*) peer_bin=build/bench/bench-peers
                                   build_bench "$peer_bin" "$defs" "$libs" ;;
    esac
  fi
fi
case " $targets " in *" vtab "*) ;; *) ext=${ext:-./lsm_vtab.so} ;; esac   # not used
if [ -z "$ext" ]; then
  ext=build/bench/lsm_vtab.so
  line="$CC -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -shared $CFLAGS $LTO $WARN -Ilsm -Iext -I. lsm_vtab.c ext/*.c lsm/*.c -lxxhash -lpthread -lm"
  if stale "$ext" "$line" lsm ext lsm_vtab.c; then
    echo "building $ext" >&2
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -shared $CFLAGS $LTO $WARN -Ilsm -Iext -I. lsm_vtab.c \
        ext/*.c lsm/*.c -lxxhash -lpthread -lm -o "$ext" || exit 2
    echo "$line" > "$ext.cmd"
  fi
fi
ext=$(readlink -f "$ext" || echo "$ext")

results="$dir/results.txt"
: > "$results"
status=0
start=$(date +%s)
for t in $targets; do
  for proc in $procs; do
    case $proc in
      stalls) wl=fillrandom ;;
      seq) wl=fillseq ;;
      main) wl=$main_wl ;;
      1txn) wl=fill1txn ;;
    esac
    db="$dir/$t-$proc"
    log="$dir/$t-$proc.log"
    rm -rf "$db"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    case $t in leveldb|rocksdb) tbin=$peer_bin ;; *) tbin=$bin ;; esac
    eval "\"$tbin\" --target $t --db \"$db\" --n $n --reads $reads --ext \"$ext\" --label $proc --benchmarks $wl $extra" \
      >> "$results" 2> "$log"
    rc=$?
    t1=$(date +%s)
    if [ $rc != 0 ]; then
      status=1
      echo "bench: $t $proc failed (exit $rc), see $log:" >&2
      grep '^bench:' "$log" | head -n 5 >&2
    else
      echo "bench: $t $proc done in $((t1 - t0)) s" >&2
    fi
    [ $verbose = 1 ] && cat "$log" >&2
    [ $keep = 1 ] || rm -rf "$db"
  done
done
end=$(date +%s)

sqlite_version=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1)
echo
echo "bench: N=$n, $(grep -m1 '^# target' "$results" | sed 's/^# target=[a-z]* n=[0-9]* //'), $(nproc 2>/dev/null || echo '?') CPUs, SQLite $sqlite_version, $((end - start)) s"
echo "writes: latency per committed batch; reads: per operation (per row for readseq/readreverse)"
awk -v targets="$targets" -v suite="$suite" -v budget_mib="$((memtable_mb + cache_mb))" \
  -f bench/table.awk "$results"
exit $status
