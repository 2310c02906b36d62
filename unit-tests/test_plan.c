/*
** test_plan.c — unit tests for ext/plan.c, the lsm tables' query planner:
** which constraints a plan uses and in what argument order, when ORDER BY
** is served by the key order, when LIMIT/OFFSET are taken, the relative
** costs of the plan kinds, and key-prefix successors.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define MAXC 16

typedef struct fixture {
  lsmx_plan_cons c[MAXC];
  int n;
  lsmx_plan_order o[MAXC];
  int n_o;
  lsmx_plan_use use[MAXC];
  lsmx_plan plan;
} fixture;

static int add(fixture *f, int key_pos, int op) {
  lsmx_plan_cons *c = &f->c[f->n];
  c->key_pos = key_pos;
  c->op = op;
  c->usable = 1;
  c->in_list = 0;
  c->exact = 1;
  c->keeps_check = 0;
  return f->n++;
}

static void order(fixture *f, int key_pos, int desc) {
  f->o[f->n_o].key_pos = key_pos;
  f->o[f->n_o].desc = desc;
  f->n_o++;
}

static void best(fixture *f, int n_key, double rows, int offset_skip) {
  lsmx_plan_best(n_key, f->c, f->n, f->o, f->n_o, rows, offset_skip, f->use,
                 &f->plan);
}

START_TEST(plan_full_key_equality_is_a_unique_point) {
  fixture f = {0};
  int a = add(&f, 1, LSMX_OP_EQ);
  int b = add(&f, 0, LSMX_OP_EQ);
  best(&f, 2, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "point");
  ck_assert_int_eq(f.plan.unique, 1);
  ck_assert_int_eq(f.plan.rows, 1);
  ck_assert_int_eq(f.plan.n_eq, 2);
  /* Arguments in key order, whatever the constraint order. */
  ck_assert_int_eq(f.use[b].argv_index, 1);
  ck_assert_int_eq(f.use[a].argv_index, 2);
  ck_assert(f.use[a].omit && f.use[b].omit);
  ck_assert_int_eq(f.plan.idx_num, 0);
  ck_assert_int_eq(lsmx_plan_n_eq(f.plan.idx_num, 2), 2);
}
END_TEST

START_TEST(plan_prefix_and_bounds_make_a_range_with_ordered_arguments) {
  fixture f = {0};
  int hi = add(&f, 1, LSMX_OP_LE);
  int other = add(&f, -1, LSMX_OP_EQ);
  int eq = add(&f, 0, LSMX_OP_EQ);
  int lo = add(&f, 1, LSMX_OP_GT);
  int skip = add(&f, 2, LSMX_OP_GT);     /* not the next key column */
  best(&f, 3, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "range");
  ck_assert_int_eq(f.plan.unique, 0);
  ck_assert_int_eq(f.use[eq].argv_index, 1);
  ck_assert_int_eq(f.use[lo].argv_index, 2);
  ck_assert_int_eq(f.use[hi].argv_index, 3);
  ck_assert_int_eq(f.use[other].argv_index, 0);
  ck_assert_int_eq(f.use[skip].argv_index, 0);
  ck_assert_int_eq(f.use[other].omit, 0);
  ck_assert_int_eq(f.plan.idx_num,
                   LSMX_PLAN_LO | LSMX_PLAN_HI | LSMX_PLAN_HI_INCL);
  ck_assert_int_eq(lsmx_plan_n_eq(f.plan.idx_num, 3), 1);
}
END_TEST

START_TEST(plan_gaps_in_the_prefix_stop_it) {
  fixture f = {0};
  add(&f, 1, LSMX_OP_EQ);                /* column 0 is not fixed */
  best(&f, 2, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "scan");
  ck_assert_int_eq(f.use[0].argv_index, 0);
}
END_TEST

START_TEST(plan_unusable_constraints_are_ignored) {
  fixture f = {0};
  int eq = add(&f, 0, LSMX_OP_EQ);
  f.c[eq].usable = 0;
  best(&f, 1, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "scan");
  ck_assert_int_eq(f.use[eq].argv_index, 0);
}
END_TEST

START_TEST(plan_equality_beats_an_in_list_on_the_same_column) {
  fixture f = {0};
  int in = add(&f, 0, LSMX_OP_EQ);
  int eq = add(&f, 0, LSMX_OP_EQ);
  f.c[in].in_list = 1;
  best(&f, 1, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "point");
  ck_assert_int_eq(f.use[eq].argv_index, 1);
  ck_assert_int_eq(f.use[in].argv_index, 0);
}
END_TEST

START_TEST(plan_in_lists_are_handed_over_whole_and_keep_key_order) {
  fixture f = {0};
  int a = add(&f, 0, LSMX_OP_EQ);
  int b = add(&f, 1, LSMX_OP_EQ);
  f.c[a].in_list = 1;
  order(&f, 0, 1);
  order(&f, 1, 1);
  best(&f, 2, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "in");
  ck_assert_int_eq(f.plan.unique, 0);
  ck_assert_int_eq(f.use[a].in_all, 1);
  ck_assert_int_eq(f.use[b].in_all, 0);
  ck_assert_int_eq(f.plan.order_consumed, 1);
  ck_assert(f.plan.idx_num & LSMX_PLAN_DESC);
}
END_TEST

START_TEST(plan_order_by_follows_the_key_columns) {
  fixture f = {0};
  order(&f, 0, 0);
  order(&f, 1, 0);
  best(&f, 2, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 1);
  ck_assert(!(f.plan.idx_num & LSMX_PLAN_DESC));

  memset(&f, 0, sizeof f);               /* mixed directions */
  order(&f, 0, 0);
  order(&f, 1, 1);
  best(&f, 2, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 0);

  memset(&f, 0, sizeof f);               /* second key column first */
  order(&f, 1, 0);
  best(&f, 2, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 0);

  memset(&f, 0, sizeof f);               /* a non-key column */
  order(&f, -1, 0);
  best(&f, 2, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 0);

  memset(&f, 0, sizeof f);               /* after the whole key: anything */
  order(&f, 0, 1);
  order(&f, -1, 0);
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 1);
  ck_assert(f.plan.idx_num & LSMX_PLAN_DESC);

  memset(&f, 0, sizeof f);               /* the hidden key column */
  order(&f, LSMX_PLAN_RAWKEY_POS, 1);
  best(&f, 3, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 1);
}
END_TEST

START_TEST(plan_fixed_columns_drop_out_of_the_order) {
  fixture f = {0};
  add(&f, 0, LSMX_OP_EQ);
  order(&f, 1, 1);
  order(&f, 0, 0);                       /* constant: any direction */
  order(&f, 2, 1);
  best(&f, 3, 1000, 1);
  ck_assert_int_eq(f.plan.order_consumed, 1);
  ck_assert(f.plan.idx_num & LSMX_PLAN_DESC);
}
END_TEST

START_TEST(plan_limit_only_when_every_constraint_is_used) {
  fixture f = {0};
  int lo = add(&f, 0, LSMX_OP_GE);
  int lim = add(&f, 0, LSMX_OP_LIMIT);
  int off = add(&f, 0, LSMX_OP_OFFSET);
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.use[lo].argv_index, 1);
  ck_assert_int_eq(f.use[lim].argv_index, 2);
  ck_assert_int_eq(f.use[off].argv_index, 3);
  ck_assert_int_eq(f.use[off].omit, 1);
  ck_assert(f.plan.idx_num & LSMX_PLAN_LIMIT);
  ck_assert(f.plan.idx_num & LSMX_PLAN_OFFSET_SKIP);
  ck_assert_int_eq(lsmx_plan_n_eq(f.plan.idx_num, 3), 0);

  /* Without omit support: OFFSET is read but left to SQLite. */
  best(&f, 1, 1000, 0);
  ck_assert_int_eq(f.use[off].argv_index, 3);
  ck_assert_int_eq(f.use[off].omit, 0);
  ck_assert(!(f.plan.idx_num & LSMX_PLAN_OFFSET_SKIP));

  /* A bound SQLite checks again anyway: no LIMIT. */
  f.c[lo].keeps_check = 1;
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.use[lo].argv_index, 1);
  ck_assert_int_eq(f.use[lim].argv_index, 0);
  f.c[lo].keeps_check = 0;

  /* A constraint SQLite must still check: no LIMIT. */
  add(&f, -1, LSMX_OP_OTHER);
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.use[lim].argv_index, 0);
  ck_assert_int_eq(f.use[off].argv_index, 0);
  ck_assert(!(f.plan.idx_num & LSMX_PLAN_LIMIT));
}
END_TEST

START_TEST(plan_limit_not_taken_when_sqlite_sorts) {
  fixture f = {0};
  int lim = add(&f, 0, LSMX_OP_LIMIT);
  order(&f, -1, 0);
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.use[lim].argv_index, 0);
  memset(&f, 0, sizeof f);
  lim = add(&f, 0, LSMX_OP_LIMIT);
  order(&f, 0, 1);
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(f.use[lim].argv_index, 1);
}
END_TEST

START_TEST(plan_rawkey_equality_is_a_point) {
  fixture f = {0};
  int raw = add(&f, LSMX_PLAN_RAWKEY_POS, LSMX_OP_EQ);
  add(&f, 0, LSMX_OP_EQ);
  best(&f, 2, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "point");
  ck_assert(f.plan.idx_num & LSMX_PLAN_RAWKEY);
  ck_assert_int_eq(f.use[raw].argv_index, 1);
  ck_assert_int_eq(f.use[1].argv_index, 0);
}
END_TEST

START_TEST(plan_inexact_constraints_are_left_for_sqlite_to_check) {
  fixture f = {0};
  int a = add(&f, 0, LSMX_OP_EQ);
  int b = add(&f, 1, LSMX_OP_EQ);
  int lo = add(&f, 2, LSMX_OP_GT);
  int lim = add(&f, 0, LSMX_OP_LIMIT);
  f.c[b].exact = 0;
  best(&f, 3, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "range");
  /* Still used to narrow the read, but checked again by SQLite from the
  ** first inexact position on; so no LIMIT either. */
  ck_assert_int_eq(f.use[a].argv_index, 1);
  ck_assert_int_eq(f.use[a].omit, 1);
  ck_assert_int_eq(f.use[b].argv_index, 2);
  ck_assert_int_eq(f.use[b].omit, 0);
  ck_assert_int_eq(f.use[lo].argv_index, 3);
  ck_assert_int_eq(f.use[lo].omit, 0);
  ck_assert_int_eq(f.use[lim].argv_index, 0);
  ck_assert_int_eq(lsmx_plan_inexact_from(f.plan.idx_num), 1);
  ck_assert_int_eq(lsmx_plan_n_eq(f.plan.idx_num, 3), 2);

  memset(&f, 0, sizeof f);               /* an inexact `=` is not one row */
  a = add(&f, 0, LSMX_OP_EQ);
  f.c[a].exact = 0;
  order(&f, -1, 0);
  best(&f, 1, 1000, 1);
  ck_assert_str_eq(f.plan.kind, "point");
  ck_assert_int_eq(f.plan.unique, 0);
  ck_assert_int_eq(f.plan.order_consumed, 0);

  memset(&f, 0, sizeof f);               /* only a bound is inexact */
  lo = add(&f, 0, LSMX_OP_GE);
  f.c[lo].exact = 0;
  best(&f, 1, 1000, 1);
  ck_assert_int_eq(lsmx_plan_inexact_from(f.plan.idx_num), 0);
  ck_assert_int_eq(f.use[lo].omit, 0);

  memset(&f, 0, sizeof f);               /* all exact: no mark */
  add(&f, 0, LSMX_OP_GE);
  best(&f, 1, 1000, 1);
  ck_assert_int_gt(lsmx_plan_inexact_from(f.plan.idx_num), 64);
}
END_TEST

START_TEST(plan_costs_order_point_range_scan_at_any_size) {
  static const double sizes[] = {0, 1, 2, 10, 1000, 1e9};
  size_t i;
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    fixture p = {0}, r = {0}, r2 = {0}, s = {0};
    add(&p, 0, LSMX_OP_EQ);
    best(&p, 1, sizes[i], 1);
    add(&r, 0, LSMX_OP_GT);
    best(&r, 1, sizes[i], 1);
    add(&r2, 0, LSMX_OP_GT);
    add(&r2, 0, LSMX_OP_LT);
    best(&r2, 1, sizes[i], 1);
    best(&s, 1, sizes[i], 1);
    ck_assert_msg(p.plan.cost < r2.plan.cost, "size %g", sizes[i]);
    ck_assert_msg(r2.plan.cost < r.plan.cost, "size %g", sizes[i]);
    ck_assert_msg(r.plan.cost < s.plan.cost, "size %g", sizes[i]);
    ck_assert(s.plan.rows >= r.plan.rows && r.plan.rows >= 1);
  }
}
END_TEST

START_TEST(plan_key_successor_bounds_every_extension) {
  lsm_buffer b = {0};
  unsigned char x[3] = {0x25, 0x61, 0xFF};
  b.data = x;
  b.len = 3;
  b.cap = 3;
  ck_assert_int_eq(lsmx_key_successor(&b), 1);
  ck_assert_int_eq(b.len, 2);
  ck_assert_int_eq(x[0], 0x25);
  ck_assert_int_eq(x[1], 0x62);
  x[0] = 0xFF;
  x[1] = 0xFF;
  b.len = 2;
  ck_assert_int_eq(lsmx_key_successor(&b), 0);
  ck_assert_int_eq(b.len, 0);
  ck_assert_int_eq(lsmx_key_successor(&b), 0);
}
END_TEST

static Suite *plan_suite(void) {
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, plan_full_key_equality_is_a_unique_point);
  tcase_add_test(tc, plan_prefix_and_bounds_make_a_range_with_ordered_arguments);
  tcase_add_test(tc, plan_gaps_in_the_prefix_stop_it);
  tcase_add_test(tc, plan_unusable_constraints_are_ignored);
  tcase_add_test(tc, plan_equality_beats_an_in_list_on_the_same_column);
  tcase_add_test(tc, plan_in_lists_are_handed_over_whole_and_keep_key_order);
  tcase_add_test(tc, plan_order_by_follows_the_key_columns);
  tcase_add_test(tc, plan_fixed_columns_drop_out_of_the_order);
  tcase_add_test(tc, plan_limit_only_when_every_constraint_is_used);
  tcase_add_test(tc, plan_limit_not_taken_when_sqlite_sorts);
  tcase_add_test(tc, plan_rawkey_equality_is_a_point);
  tcase_add_test(tc, plan_inexact_constraints_are_left_for_sqlite_to_check);
  tcase_add_test(tc, plan_costs_order_point_range_scan_at_any_size);
  tcase_add_test(tc, plan_key_successor_bounds_every_extension);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(plan_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
