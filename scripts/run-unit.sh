#!/bin/sh
# Run Check unit-test programs; append "name passed failed" per program to
# the results file.  Usage: run-unit.sh BINDIR RESULTS BIN...
# Check's summary line is "NN%: Checks: C, Failures: F, Errors: E".
bindir=$1; results=$2; shift 2
status=0
for bin in "$@"; do
  name=$(basename "$bin")
  out=$(mktemp)
  # Each program works in its own scratch directory.
  tmp=$(mktemp -d)
  (cd "$tmp" && CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120} "$OLDPWD/$bin") >"$out" 2>&1
  rc=$?
  rm -rf "$tmp"
  line=$(grep -E '^[0-9]+%: Checks: ' "$out" | tail -n 1)
  if [ -n "$line" ]; then
    checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    bad=$((fails + errs))
    good=$((checks - bad))
  else
    good=0; bad=1
  fi
  if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then bad=1; fi
  if [ $bad -ne 0 ]; then
    status=1
    echo "FAIL $bindir/$name"; cat "$out"
  else
    echo "ok   $bindir/$name ($good checks)"
    grep '^coverage: ' "$out" | sed 's/^/       /'
  fi
  echo "$bindir/$name $good $bad" >> "$results"
  rm -f "$out"
done
exit $status
