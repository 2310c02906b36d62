#!/bin/sh
# SQL test runner: each sql-tests/NAME.sql runs through the sqlite3 shell
# against a fresh on-disk database, in a scratch directory where
# ./lsm_vtab.so is the extension under test; its output (stdout and stderr
# interleaved) must equal sql-tests/NAME.expected.  A failure shows a diff.
# Usage: run.sh SO_PATH RESULTS SUITE_NAME [TEST...]
so=$(readlink -f "$1"); results=$2; suite=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
[ $# -gt 0 ] || set -- "$here"/*.sql
pass=0; fail=0
for t in "$@"; do
  name=$(basename "$t" .sql)
  exp="$here/$name.expected"
  tmp=$(mktemp -d)
  ln -s "$so" "$tmp/lsm_vtab.so"
  (cd "$tmp" && stdbuf -o0 -e0 sqlite3 -batch test.db < "$here/$name.sql") > "$tmp/actual" 2>&1
  if [ -f "$exp" ] && diff -u "$exp" "$tmp/actual" > "$tmp/diff"; then
    pass=$((pass + 1)); echo "ok   $suite/$name"
  else
    fail=$((fail + 1)); echo "FAIL $suite/$name"
    if [ -f "$exp" ]; then cat "$tmp/diff"; else echo "(no $exp)"; cat "$tmp/actual"; fi
  fi
  rm -rf "$tmp"
done
echo "$suite $pass $fail" >> "$results"
[ $fail -eq 0 ]
