#!/bin/sh
# Sum the "suite passed failed" lines of a results file into the one line
# `make test` ends with, and exit non-zero if anything failed.
results=$1
if [ ! -s "$results" ]; then echo "0 passed, 1 failed"; exit 1; fi
awk '{ p += $2; f += $3 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$results"
