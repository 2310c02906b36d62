# bench/table.awk — turns the "row <target> <workload> <metric> <value>"
# lines of bench runs into one table: a row per (workload, metric), a
# column per target (in the order of -v targets="engine vtab ..."), then
# vtab/native; then the issue's targets, each PASS/FAIL/n/a.
# -v budget_mib=M is the lsm memory budget (memtable + cache) for the RSS
# target; -v suite=stalls (run.sh --suite stalls) leaves the targets out.  Lines not starting with "row" are ignored.

function label(m) {
  if (m == "ops_s") return "ops/s"
  if (m == "MB_s") return "MB/s"
  if (m == "p50_us") return "p50 us"
  if (m == "p99_us") return "p99 us"
  if (m == "max_us") return "max us"
  if (m == "found_pct") return "found %"
  if (m == "wamp") return "write-amp engine"
  if (m == "wamp_io") return "write-amp write()"
  if (m == "space_amp") return "space-amp"
  if (m == "bloom_probes_op") return "bloom probes/op"
  if (m == "bloom_neg_pct") return "bloom negative %"
  if (m == "cache_hit_pct") return "cache hit %"
  if (m == "writer_rows_s") return "writer rows/s"
  if (m == "stall_ms") return "write stalls ms"
  if (m == "slowdowns") return "slowed writes"
  if (m == "stops") return "stopped writes"
  if (m == "disk_MiB") return "disk MiB"
  if (m == "rss_MiB") return "peak RSS MiB"
  return m
}

function wlabel(w) {
  if (w == "end:seq") return "end fillseq"
  if (w == "end:main") return "end main"
  if (w == "end:1txn") return "end fill1txn"
  if (w == "end:stalls") return "end fillrandom"
  return w
}

function isnum(v) { return v ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ }

function fmt(v,   a) {
  if (v == "") return "-"
  if (!isnum(v)) return v
  a = v < 0 ? -v : v
  if (a >= 100) return sprintf("%.0f", v)
  if (a >= 10) return sprintf("%.1f", v)
  return sprintf("%.2f", v)
}

function get(t, w, m) { return ((t, w, m) in val) ? val[t, w, m] : "" }

function ratio(a, b) {
  if (!isnum(a) || !isnum(b) || b + 0 == 0) return ""
  return (a + 0) / (b + 0)
}

# One line of the target checks.
function check(what, r, want,   verdict) {
  if (r == "") verdict = "n/a"
  else verdict = (r + 0 >= want) ? "PASS" : "FAIL"
  printf "  %-44s %9s  (>= %s)  %s\n", what, (r == "" ? "-" : sprintf("%.2fx", r)), want, verdict
}

$1 == "row" {
  t = $2; w = $3; m = $4
  val[t, w, m] = $5
  if (!(w in wseen)) {
    wseen[w] = 1
    if (w ~ /^end:/) ends[++nends] = w
    else wl[++nwl] = w
  }
  # A single-workload process: its end rows would repeat that workload's.
  if ((w == "end:seq" || w == "end:1txn" || w == "end:stalls") && m != "disk_MiB" && m != "rss_MiB") next
  if (!((w, m) in mseen)) { mseen[w, m] = 1; metrics[w, ++nm[w]] = m }
}

END {
  nt = split(targets, tg, " ")
  for (i = 1; i <= nwl; i++) order[++no] = wl[i]
  for (i = 1; i <= nends; i++) order[++no] = ends[i]
  has_ratio = (targets ~ /(^| )vtab( |$)/) && (targets ~ /(^| )native( |$)/)

  printf "%-17s %-18s", "workload", "metric"
  for (j = 1; j <= nt; j++) printf " %10s", tg[j]
  if (has_ratio) printf " %11s", "vtab/native"
  printf "\n"
  width = 36 + 11 * nt + (has_ratio ? 12 : 0)
  line = ""; for (i = 0; i < width; i++) line = line "-"
  print line
  for (i = 1; i <= no; i++) {
    w = order[i]
    for (k = 1; k <= nm[w]; k++) {
      m = metrics[w, k]
      printf "%-17s %-18s", (k == 1 ? wlabel(w) : ""), label(m)
      for (j = 1; j <= nt; j++) printf " %10s", fmt(get(tg[j], w, m))
      if (has_ratio) {
        r = ratio(get("vtab", w, m), get("native", w, m))
        printf " %11s", (r == "" ? "-" : sprintf("%.2fx", r))
      }
      printf "\n"
    }
  }
  print line

  # Sanity: every existing key found, no absent key found.
  for (j = 1; j <= nt; j++) {
    f = get(tg[j], "readrandom", "found_pct")
    if (f != "" && f + 0 != 100) printf "WARNING: %s readrandom found only %s%% of existing keys\n", tg[j], f
    f = get(tg[j], "readmissing", "found_pct")
    if (f != "" && f + 0 != 0) printf "WARNING: %s readmissing found %s%% of absent keys\n", tg[j], f
    f = get(tg[j], "readwhilewriting", "found_pct")
    if (f != "" && f + 0 != 100) printf "WARNING: %s readwhilewriting found only %s%% of existing keys\n", tg[j], f
  }

  if (suite == "stalls") exit
  print "targets (issue 4):"
  check("fillrandom vtab/native", ratio(get("vtab", "fillrandom", "ops_s"), get("native", "fillrandom", "ops_s")), 15)
  check("fill1txn (one transaction) vtab/native", ratio(get("vtab", "fill1txn", "ops_s"), get("native", "fill1txn", "ops_s")), 2)
  check("readrandom vtab/native", ratio(get("vtab", "readrandom", "ops_s"), get("native", "readrandom", "ops_s")), 0.8)
  check("readmissing vtab/native", ratio(get("vtab", "readmissing", "ops_s"), get("native", "readmissing", "ops_s")), 1.5)
  check("readseq vtab/native", ratio(get("vtab", "readseq", "ops_s"), get("native", "readseq", "ops_s")), 0.8)
  check("readreverse vtab/native", ratio(get("vtab", "readreverse", "ops_s"), get("native", "readreverse", "ops_s")), 0.8)
  check("seekrandom vtab/native", ratio(get("vtab", "seekrandom", "ops_s"), get("native", "seekrandom", "ops_s")), 0.8)
  check("fillrandom engine/leveldb", ratio(get("engine", "fillrandom", "ops_s"), get("leveldb", "fillrandom", "ops_s")), 1.0)
  check("readrandom engine/leveldb", ratio(get("engine", "readrandom", "ops_s"), get("leveldb", "readrandom", "ops_s")), 1.0)
  rss = get("vtab", "end:main", "rss_MiB")
  limit = budget_mib + 32
  if (rss == "") verdict = "n/a"
  else verdict = (rss + 0 <= limit) ? "PASS" : "FAIL"
  printf "  %-44s %9s  (<= %d MiB)  %s\n", "peak RSS vtab, main sequence (MiB)", fmt(rss), limit, verdict
}
