/*
** plan.c — query planning for lsm tables (plan.h).
**
** Pure functions: no SQLite calls, no engine calls, so unit tests can feed
** them any combination of constraints.
**
** Choice.  Every usable `=` on key columns 0, 1, ... fixes a prefix of the
** key (an `=` beats an IN on the same column); a lower and an upper bound
** on the first key column that is not fixed narrow the run further.  More
** fixed columns and bounds are always at least as good, so the plan is
** the greedy one; SQLite compares the costs of the plans it gets for
** different sets of usable constraints (joins).
**
** Cost model (units: one entry visited ~ one unit).  N = table rows,
** seek = 1 + log2(N + 1) for positioning in the merged levels.
**   point   cost seek, 1 row
**   range   fixed column selectivity 1/10 each, bound 1/4 each:
**           rows = N * sel, cost = seek + (N + 1) * sel
**   in      as point / range, times IN_GUESS lookups per IN list (low:
**           SQLite turns `k = 1 OR k = 2` into an IN as well as a
**           MULTI-INDEX OR of two points, and a native table takes the IN,
**           which visits the values in key order; so must we)
**   scan    cost seek + N + 1, N rows
** so that for any N a point is cheaper than a range, and a range cheaper
** than a scan.
**
** Omitting.  A constraint the plan uses is evaluated exactly by the cursor
** (values get the key column's affinity and are compared in SQLite's
** order), so SQLite is told to omit it; that is also what a native index
** does.  Except from the first inexact one on (lsmx_plan_cons.exact): the
** cursor then reads a superset and SQLite checks every row.  LIMIT and OFFSET are taken only when every other constraint is
** used and the ORDER BY (if any) is served by the key order: SQLite offers
** them whenever the WHERE clause and ORDER BY are about this table alone,
** but a row the cursor counts must be a row SQLite outputs, in order.
*/
#include "plan.h"

#include <math.h>
#include <string.h>

#define IN_GUESS 1.5

static int is_bound(int op) {
  return op == LSMX_OP_GT || op == LSMX_OP_GE || op == LSMX_OP_LT ||
         op == LSMX_OP_LE;
}

/* Does the plan's key order serve the ORDER BY?  fixed[p]: key column p
** has a single value.  Sets *desc. */
static int order_served(int n_key, const int *fixed,
                        const lsmx_plan_order *order, int n_order,
                        int *desc) {
  int expected = 0, dir = -1, covered = 0, i;

  while (expected < n_key && fixed[expected]) expected++;
  if (expected == n_key) covered = 1;
  for (i = 0; i < n_order && !covered; i++) {
    int q = order[i].key_pos;
    if (q >= 0 && fixed[q]) continue;           /* constant: any order */
    if (q == LSMX_PLAN_RAWKEY_POS) {
      /* Ordering by the whole encoded key is key order. */
      if (dir >= 0 && dir != order[i].desc) return 0;
      dir = order[i].desc;
      covered = 1;
      break;
    }
    if (q != expected) return 0;
    if (dir >= 0 && dir != order[i].desc) return 0;
    dir = order[i].desc;
    expected++;
    while (expected < n_key && fixed[expected]) expected++;
    if (expected == n_key) covered = 1;       /* the key is unique */
  }
  (void)covered;
  *desc = dir == 1;
  return 1;
}

void lsmx_plan_best(int n_key, const lsmx_plan_cons *cons, int n_cons,
                    const lsmx_plan_order *order, int n_order,
                    double table_rows, int offset_skip_ok,
                    lsmx_plan_use *use, lsmx_plan *out) {
  int eq[LSMX_PLAN_MAX_KEY];       /* chosen constraint per fixed column */
  int fixed[LSMX_PLAN_MAX_KEY];    /* column has exactly one value */
  int n_eq = 0, lo = -1, hi = -1, raw = -1, limit = -1, offset = -1;
  int inexact = -1;
  int n_in = 0, argv = 1, used = 0, n_other = 0, i, p, desc = 0;
  double n = table_rows < 0 ? 0 : table_rows;
  double seek = 1.0 + log2(n + 1.0), rows, cost, sel = 1.0;

  memset(out, 0, sizeof *out);
  for (i = 0; i < n_cons; i++) {
    use[i].argv_index = 0;
    use[i].omit = 0;
    use[i].in_all = 0;
  }
  if (n_key > LSMX_PLAN_MAX_KEY) n_key = LSMX_PLAN_MAX_KEY;
  for (p = 0; p < n_key; p++) {
    eq[p] = -1;
    fixed[p] = 0;
  }

  /* The hidden key column: `__key = ?` is a point lookup on its own. */
  for (i = 0; i < n_cons; i++) {
    if (cons[i].usable && cons[i].key_pos == LSMX_PLAN_RAWKEY_POS &&
        cons[i].op == LSMX_OP_EQ && !cons[i].in_list) {
      raw = i;
      break;
    }
  }

  if (raw < 0) {
    /* Fixed prefix: an `=` per column, else an IN list. */
    for (p = 0; p < n_key; p++) {
      int best = -1;
      for (i = 0; i < n_cons; i++) {
        const lsmx_plan_cons *c = &cons[i];
        if (!c->usable || c->key_pos != p || c->op != LSMX_OP_EQ) continue;
        if (best < 0 || (cons[best].in_list && !c->in_list)) best = i;
      }
      if (best < 0) break;
      eq[p] = best;
      fixed[p] = !cons[best].in_list;
      if (cons[best].in_list) n_in++;
      n_eq++;
    }
    /* Bounds on the next column. */
    if (n_eq < n_key) {
      for (i = 0; i < n_cons; i++) {
        const lsmx_plan_cons *c = &cons[i];
        if (!c->usable || c->key_pos != n_eq || !is_bound(c->op)) continue;
        if ((c->op == LSMX_OP_GT || c->op == LSMX_OP_GE) && lo < 0) lo = i;
        if ((c->op == LSMX_OP_LT || c->op == LSMX_OP_LE) && hi < 0) hi = i;
      }
    }
  }

  /* Positions from the first inexact constraint on are not omitted. */
  for (p = 0; p < n_eq && inexact < 0; p++) {
    if (!cons[eq[p]].exact) inexact = p;
  }
  if (inexact < 0 && ((lo >= 0 && !cons[lo].exact) ||
                      (hi >= 0 && !cons[hi].exact))) {
    inexact = n_eq;
  }
  if (inexact >= 0) {
    out->idx_num |= (inexact + 1) << LSMX_PLAN_INEXACT_SHIFT;
    /* A widened value is no longer one value: such a column orders the
    ** rows like an IN list does. */
    for (p = inexact; p < n_eq; p++) fixed[p] = 0;
  }

  /* Arguments, in the order xFilter expects them. */
  if (raw >= 0) {
    use[raw].argv_index = argv++;
    use[raw].omit = 1;
    used++;
    out->idx_num |= LSMX_PLAN_RAWKEY;
  }
  for (p = 0; p < n_eq; p++) {
    use[eq[p]].argv_index = argv++;
    use[eq[p]].omit = inexact < 0 || p < inexact;
    use[eq[p]].in_all = cons[eq[p]].in_list;
    if (use[eq[p]].omit) used++;
  }
  if (lo >= 0) {
    use[lo].argv_index = argv++;
    use[lo].omit = inexact < 0;
    if (use[lo].omit) used++;
    out->idx_num |= LSMX_PLAN_LO;
    if (cons[lo].op == LSMX_OP_GE) out->idx_num |= LSMX_PLAN_LO_INCL;
  }
  if (hi >= 0) {
    use[hi].argv_index = argv++;
    use[hi].omit = inexact < 0;
    if (use[hi].omit) used++;
    out->idx_num |= LSMX_PLAN_HI;
    if (cons[hi].op == LSMX_OP_LE) out->idx_num |= LSMX_PLAN_HI_INCL;
  }

  /* Order. */
  if (raw >= 0) {
    out->order_consumed = 1;                  /* at most one row */
  } else if (n_order > 0) {
    out->order_consumed = order_served(n_key, fixed, order, n_order, &desc);
    if (out->order_consumed && desc) out->idx_num |= LSMX_PLAN_DESC;
  }

  /* LIMIT / OFFSET, when nothing is left for SQLite to filter or sort. */
  for (i = 0; i < n_cons; i++) {
    if (cons[i].op == LSMX_OP_LIMIT) {
      if (cons[i].usable && limit < 0) limit = i;
    } else if (cons[i].op == LSMX_OP_OFFSET) {
      if (cons[i].usable && offset < 0) offset = i;
    } else {
      n_other++;
    }
  }
  for (i = 0; i < n_cons; i++) {
    if (use[i].argv_index > 0 && cons[i].keeps_check) used = -1;
  }
  if (limit >= 0 && used == n_other && (n_order == 0 || out->order_consumed)) {
    use[limit].argv_index = argv++;
    use[limit].omit = 1;
    out->idx_num |= LSMX_PLAN_LIMIT;
    if (offset >= 0) {
      /* Taken as an argument either way: the cursor must know it to
      ** return LIMIT + OFFSET rows when SQLite skips the offset itself. */
      use[offset].argv_index = argv++;
      out->idx_num |= LSMX_PLAN_OFFSET;
      if (offset_skip_ok) {
        use[offset].omit = 1;
        out->idx_num |= LSMX_PLAN_OFFSET_SKIP;
      }
    }
  }

  /* Kind, cost, rows. */
  out->n_eq = n_eq;
  if (raw >= 0 || (n_eq == n_key && n_in == 0)) {
    out->kind = "point";
    /* One row at most: SQLite may then stop after the first (one-pass
    ** UPDATE and DELETE); not so when the cursor reads a superset. */
    out->unique = inexact < 0;
    rows = 1;
    cost = seek;
  } else {
    double lookups = pow(IN_GUESS, n_in);
    if (n_eq == n_key) {
      rows = lookups;
      cost = lookups * seek;
    } else {
      for (p = 0; p < n_eq; p++) sel *= 0.1;
      if (lo >= 0) sel *= 0.25;
      if (hi >= 0) sel *= 0.25;
      /* (n + 1): strictly between a point and a scan even when empty. */
      rows = n * sel * lookups;
      cost = lookups * (seek + (n + 1) * sel);
    }
    if (n_in > 0) out->kind = "in";
    else if (n_eq > 0 || lo >= 0 || hi >= 0) out->kind = "range";
    else out->kind = "scan";
    if (rows < 1) rows = 1;
  }
  out->rows = (int64_t)rows;
  out->cost = cost;
}

int lsmx_plan_n_eq(int idx_num, int argc) {
  int other = 0;
  if (idx_num & LSMX_PLAN_RAWKEY) other++;
  if (idx_num & LSMX_PLAN_LO) other++;
  if (idx_num & LSMX_PLAN_HI) other++;
  if (idx_num & LSMX_PLAN_LIMIT) other++;
  if (idx_num & LSMX_PLAN_OFFSET) other++;
  return argc > other ? argc - other : 0;
}

int lsmx_plan_inexact_from(int idx_num) {
  int v = (idx_num >> LSMX_PLAN_INEXACT_SHIFT) & LSMX_PLAN_INEXACT_MASK;
  return v == 0 ? 1 << 20 : v - 1;
}

int lsmx_key_successor(lsm_buffer *b) {
  while (b->len > 0 && b->data[b->len - 1] == 0xFF) b->len--;
  if (b->len == 0) return 0;
  b->data[b->len - 1]++;
  return 1;
}
