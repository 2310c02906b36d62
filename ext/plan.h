/*
** plan.h — query planning for lsm tables, as pure functions.
**
** lsm_vtab.c's xBestIndex translates SQLite's sqlite3_index_info into the
** plain arrays below (a constraint on a key column becomes its position in
** the key; anything the key order cannot serve becomes position -1) and
** lsmx_plan_best() chooses how to read the table:
**
**   point  every key column fixed by `=` (or IS): one lookup
**   in     like point/range, but at least one key column has an IN (...)
**          list handed over all at once: one lookup (or one prefix range)
**          per combination of values, visited in key order
**   range  a prefix of the key columns fixed by `=`/IN, and optionally a
**          lower and/or upper bound on the next key column
**   scan   the whole table
**
** and whether the rows come out in the ORDER BY order (ascending or
** descending key order), and whether LIMIT / OFFSET can be applied by the
** cursor (only when the plan evaluates every constraint of the query, for
** SQLite offers them only then and re-checks nothing after the cursor).
**
** The plan travels to xFilter in idxNum (bits below) and in the xFilter
** arguments, which are, in order: one per fixed key column (positions
** 0 .. n_eq-1; an IN list is one argument), the lower bound, the upper
** bound, LIMIT, OFFSET — each present only when its bit says so.  n_eq is
** therefore argc minus the other arguments (lsmx_plan_n_eq).
**
** Key ranges: keys are concatenations of self-delimiting column encodings
** (key.h), so all keys whose first columns are fixed share a byte prefix
** and form one contiguous run in memcmp order; lsmx_key_successor() gives
** the first byte string after that run.
*/
#ifndef LSMX_PLAN_H
#define LSMX_PLAN_H

#include <stdint.h>
#include "../lsm/lsm.h"

#define LSMX_PLAN_MAX_KEY 64

/* idxNum bits. */
#define LSMX_PLAN_LO          0x001  /* lower bound on column n_eq */
#define LSMX_PLAN_LO_INCL     0x002  /* ... inclusive (>=) */
#define LSMX_PLAN_HI          0x004  /* upper bound on column n_eq */
#define LSMX_PLAN_HI_INCL     0x008  /* ... inclusive (<=) */
#define LSMX_PLAN_DESC        0x010  /* visit keys in descending order */
#define LSMX_PLAN_LIMIT       0x020  /* a LIMIT argument follows */
#define LSMX_PLAN_OFFSET      0x040  /* an OFFSET argument follows */
#define LSMX_PLAN_OFFSET_SKIP 0x080  /* the cursor skips OFFSET rows itself
                                        (SQLite was told to omit it) */
#define LSMX_PLAN_RAWKEY      0x100  /* one argument: the encoded key itself
                                        (constraint on the hidden key column) */
/* Bits 12..18: 1 + the first key position whose constraint is inexact
** (0: all exact).  The cursor may widen the values of inexact positions
** (and SQLite re-checks them), see lsmx_plan_cons.exact. */
#define LSMX_PLAN_INEXACT_SHIFT 12
#define LSMX_PLAN_INEXACT_MASK  0x7F

/* Constraint operators, as the planner sees them. */
enum {
  LSMX_OP_EQ,        /* = and IS */
  LSMX_OP_GT,
  LSMX_OP_GE,
  LSMX_OP_LT,
  LSMX_OP_LE,
  LSMX_OP_LIMIT,
  LSMX_OP_OFFSET,
  LSMX_OP_OTHER      /* anything the plan cannot evaluate */
};

/* key_pos of a constraint or ORDER BY term on the hidden column that
** holds the whole encoded key. */
#define LSMX_PLAN_RAWKEY_POS (-2)

typedef struct lsmx_plan_cons {
  int key_pos;       /* 0-based key column, -1 not usable as a key column
                        (not a key column, or a non-BINARY collation),
                        LSMX_PLAN_RAWKEY_POS */
  int op;            /* LSMX_OP_* */
  int usable;
  int in_list;       /* an `=` that is an IN (...) SQLite can hand over whole */
  int exact;         /* the cursor can evaluate it exactly: it may be
                        omitted.  Not so when the right-hand side may have
                        an affinity of its own (a column of another table)
                        that changes how SQLite compares it with a TEXT or
                        untyped key: the cursor then reads a superset and
                        SQLite checks each row. */
  int keeps_check;   /* SQLite may check it again whatever `omit` says (a
                        bound derived from a row-value comparison such as
                        (a, b) > (?, ?)): no LIMIT/OFFSET under it */
} lsmx_plan_cons;

typedef struct lsmx_plan_order {
  int key_pos;       /* as in lsmx_plan_cons */
  int desc;
} lsmx_plan_order;

/* Per-constraint decision. */
typedef struct lsmx_plan_use {
  int argv_index;    /* 0: not used, else 1-based xFilter argument */
  int omit;          /* the plan evaluates it exactly */
  int in_all;        /* hand the IN list over at once (sqlite3_vtab_in) */
} lsmx_plan_use;

typedef struct lsmx_plan {
  int idx_num;
  const char *kind;  /* "point", "in", "range", "scan" (static) */
  int n_eq;          /* fixed key columns */
  double cost;
  int64_t rows;
  int unique;        /* at most one row: SQLITE_INDEX_SCAN_UNIQUE */
  int order_consumed;
} lsmx_plan;

/* Choose the plan.  n_key: key columns (1 for rowid tables); table_rows:
** estimated rows in the table; offset_skip_ok: the SQLite in use honours
** `omit` on OFFSET (3.40+), so the cursor may skip the offset rows itself.
** use[] has n_cons entries and is filled. */
void lsmx_plan_best(int n_key, const lsmx_plan_cons *cons, int n_cons,
                    const lsmx_plan_order *order, int n_order,
                    double table_rows, int offset_skip_ok,
                    lsmx_plan_use *use, lsmx_plan *out);

/* The number of fixed key columns of a plan given the xFilter argc. */
int lsmx_plan_n_eq(int idx_num, int argc);

/* The first key position whose constraint is inexact (a large number when
** all are exact). */
int lsmx_plan_inexact_from(int idx_num);

/* Turn b into the smallest byte string greater than every string that
** starts with b (drop trailing 0xFF bytes, increment the last byte).
** Returns 0 when there is none (b empty or all 0xFF): "no upper bound". */
int lsmx_key_successor(lsm_buffer *b);

#endif /* LSMX_PLAN_H */
