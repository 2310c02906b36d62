/*
** args.c — parsing of CREATE VIRTUAL TABLE ... USING lsm(...) arguments.
**
** SQLite hands xCreate/xConnect each argument as the raw text between the
** commas (commas inside parentheses do not split; the text is trimmed but
** may still hold comments).  Each argument is one of:
**
**   option              name=value                      (see args.h)
**   table constraint    [CONSTRAINT name] PRIMARY KEY(a, b ASC, ...)
**   column definition   name [type] [constraint...]
**
** A column definition is parsed the way SQLite parses one in CREATE TABLE,
** restricted to what the virtual table can honour:
**   - the name may be bare or quoted ("x", [x], `x`, 'x');
**   - the declared type is every word up to the first constraint keyword,
**     plus an optional "(n)" / "(n, m)"; its affinity follows SQLite's
**     rules (section 3.1 of the datatype documentation);
**   - PRIMARY KEY [ASC], NOT NULL, NULL, COLLATE name and CONSTRAINT name
**     are accepted; PRIMARY KEY DESC, conflict clauses, AUTOINCREMENT,
**     UNIQUE, CHECK, DEFAULT, REFERENCES and generated columns are
**     rejected with a message, because the table would silently not
**     enforce them.
** Composite PRIMARY KEY(...) lists are parsed into pk_cols; whether the
** table supports them is the virtual table's decision.
**
** Every string in lsmx_table_def and the error message are allocated with
** sqlite3_malloc() (freed by lsmx_table_def_free / sqlite3_free).
** Return codes are SQLite's: SQLITE_OK, SQLITE_ERROR for a bad argument,
** SQLITE_NOMEM.
*/
#include "sqlite_api.h"
#include "args.h"
#include "lsm.h"

#include <stdarg.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Tokenizer: just enough of SQLite's to split a column definition. */

enum {
  TK_EOF, TK_ID, TK_QID, TK_STR, TK_NUM, TK_LP, TK_RP, TK_COMMA, TK_OTHER,
  TK_BAD                     /* unterminated quote */
};

typedef struct token {
  int type;
  const char *z;             /* raw text, not NUL-terminated */
  size_t n;
} token;

typedef struct lexer {
  const char *z;             /* NUL-terminated argument */
  size_t pos;
} lexer;

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alpha(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
/* As SQLite: letters, '_' and any byte >= 0x80 start an identifier;
** digits and '$' may follow. */
static int is_id_start(unsigned char c) {
  return is_alpha(c) || c == '_' || c >= 0x80;
}
static int is_id_char(unsigned char c) {
  return is_id_start(c) || is_digit(c) || c == '$';
}
static unsigned char to_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive comparison of [a, a+na) with [b, b+nb). */
static int ci_equal(const char *a, size_t na, const char *b, size_t nb) {
  size_t i;
  if (na != nb) return 0;
  for (i = 0; i < na; i++) {
    if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i])) {
      return 0;
    }
  }
  return 1;
}

static int ci_contains(const char *hay, const char *needle) {
  size_t nh = strlen(hay), nn = strlen(needle), i;
  for (i = 0; i + nn <= nh; i++) {
    if (ci_equal(hay + i, nn, needle, nn)) return 1;
  }
  return 0;
}

static void skip_space(lexer *lx) {
  const char *z = lx->z;
  for (;;) {
    unsigned char c = (unsigned char)z[lx->pos];
    if (is_space(c)) {
      lx->pos++;
    } else if (c == '-' && z[lx->pos + 1] == '-') {
      while (z[lx->pos] && z[lx->pos] != '\n') lx->pos++;
    } else if (c == '/' && z[lx->pos + 1] == '*') {
      /* An unterminated comment runs to the end, as in SQLite. */
      lx->pos += 2;
      while (z[lx->pos] && !(z[lx->pos] == '*' && z[lx->pos + 1] == '/')) {
        lx->pos++;
      }
      if (z[lx->pos]) lx->pos += 2;
    } else {
      return;
    }
  }
}

/* Length of a quoted token starting at z (the opening quote), or 0 if
** it is not terminated.  A doubled closing quote is an escaped one, except
** for [...] which has no escape. */
static size_t quoted_len(const char *z) {
  char close = z[0] == '[' ? ']' : z[0];
  size_t i = 1;
  for (;;) {
    if (z[i] == '\0') return 0;
    if (z[i] == close) {
      if (close != ']' && z[i + 1] == close) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
}

static token next_token(lexer *lx) {
  token t;
  const char *z;
  unsigned char c;
  size_t n;

  skip_space(lx);
  z = lx->z + lx->pos;
  c = (unsigned char)z[0];
  t.z = z;
  t.n = 1;
  if (c == '\0') {
    t.type = TK_EOF;
    t.n = 0;
  } else if (c == '"' || c == '`' || c == '[' || c == '\'') {
    n = quoted_len(z);
    if (n == 0) {
      t.type = TK_BAD;
      t.n = strlen(z);
    } else {
      t.type = c == '\'' ? TK_STR : TK_QID;
      t.n = n;
    }
  } else if (is_id_start(c)) {
    n = 1;
    while (is_id_char((unsigned char)z[n])) n++;
    t.type = TK_ID;
    t.n = n;
  } else if (is_digit(c) || (c == '.' && is_digit((unsigned char)z[1]))) {
    /* Loose: digits, letters, '.', and a sign right after an exponent. */
    n = 1;
    for (;;) {
      unsigned char d = (unsigned char)z[n];
      if (is_id_char(d) || d == '.') {
        n++;
      } else if ((d == '+' || d == '-') && (z[n - 1] == 'e' || z[n - 1] == 'E')) {
        n++;
      } else {
        break;
      }
    }
    t.type = TK_NUM;
    t.n = n;
  } else if (c == '(') {
    t.type = TK_LP;
  } else if (c == ')') {
    t.type = TK_RP;
  } else if (c == ',') {
    t.type = TK_COMMA;
  } else {
    t.type = TK_OTHER;
  }
  lx->pos += t.n;
  return t;
}

static token peek_token(const lexer *lx) {
  lexer copy = *lx;
  return next_token(&copy);
}

static int is_kw(token t, const char *kw) {
  return t.type == TK_ID && ci_equal(t.z, t.n, kw, strlen(kw));
}

static int is_name(token t) {
  return t.type == TK_ID || t.type == TK_QID || t.type == TK_STR;
}

/* Words that end a declared type: the start of a column constraint. */
static int is_constraint_kw(token t) {
  static const char *const kws[] = {
    "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE",
    "REFERENCES", "GENERATED", "AS", "CONSTRAINT"
  };
  size_t i;
  for (i = 0; i < sizeof kws / sizeof kws[0]; i++) {
    if (is_kw(t, kws[i])) return 1;
  }
  return 0;
}

static char *dup_range(const char *z, size_t n) {
  char *s = sqlite3_malloc64(n + 1);
  if (s == NULL) return NULL;
  if (n) memcpy(s, z, n);
  s[n] = '\0';
  return s;
}

/* Copy [z, z+n) without its surrounding quotes, undoubling escaped ones.
** The caller has checked that z..n is a complete quoted token. */
static char *dup_unquoted(const char *z, size_t n) {
  char close = z[0] == '[' ? ']' : z[0];
  char *s = sqlite3_malloc64(n);
  size_t i, j = 0;
  if (s == NULL) return NULL;
  for (i = 1; i + 1 < n; i++) {
    s[j++] = z[i];
    if (close != ']' && z[i] == close) i++;   /* skip the doubled quote */
  }
  s[j] = '\0';
  return s;
}

/* The name a token stands for, as a new string. */
static char *token_name(token t) {
  if (t.type == TK_QID || t.type == TK_STR) return dup_unquoted(t.z, t.n);
  return dup_range(t.z, t.n);
}

/* ------------------------------------------------------------------ */
/* Parser state. */

typedef struct parser {
  lsmx_table_def *def;
  int rc;                        /* first error, latched */
  char *err;                     /* its message */
  int pk_seen;                   /* some PRIMARY KEY was given */
  int col_pk;                    /* column index of a column PRIMARY KEY, or -1 */
  char *tpk[64];                 /* names in a table PRIMARY KEY(...) */
  int n_tpk;
  unsigned opts_seen;            /* bit per option, to catch repeats */
} parser;

static void fail(parser *ps, const char *fmt, ...) {
  va_list ap;
  if (ps->rc != SQLITE_OK) return;
  va_start(ap, fmt);
  ps->err = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  ps->rc = ps->err ? SQLITE_ERROR : SQLITE_NOMEM;
}

static void fail_nomem(parser *ps) {
  if (ps->rc == SQLITE_OK) ps->rc = SQLITE_NOMEM;
}

/* ------------------------------------------------------------------ */
/* Sizes and option values. */

int64_t lsmx_parse_size(const char *text) {
  size_t n, i;
  int64_t v = 0, mult = 1;
  if (text == NULL) return -1;
  n = strlen(text);
  if (n >= 2 && (text[0] == '\'' || text[0] == '"')) {
    if (text[n - 1] != text[0]) return -1;
    text++;
    n -= 2;
  }
  if (n > 0) {
    switch (to_lower((unsigned char)text[n - 1])) {
      case 'k': mult = (int64_t)1 << 10; n--; break;
      case 'm': mult = (int64_t)1 << 20; n--; break;
      case 'g': mult = (int64_t)1 << 30; n--; break;
      default: break;
    }
  }
  if (n == 0) return -1;
  for (i = 0; i < n; i++) {
    int d;
    if (!is_digit((unsigned char)text[i])) return -1;
    d = text[i] - '0';
    if (v > (INT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > INT64_MAX / mult) return -1;
  return v * mult;
}

/* The option value: trimmed, and without quotes if it is a complete
** '...' or "..." string.  NULL and *bad set if quoting is broken. */
static char *option_value(parser *ps, const char *z, int *bad) {
  size_t n;
  char *s;
  *bad = 0;
  while (is_space((unsigned char)*z)) z++;
  n = strlen(z);
  while (n > 0 && is_space((unsigned char)z[n - 1])) n--;
  if (n > 0 && (z[0] == '\'' || z[0] == '"')) {
    if (quoted_len(z) != n) {
      *bad = 1;
      s = dup_range(z, n);               /* for the message */
    } else {
      s = dup_unquoted(z, n);
    }
  } else {
    s = dup_range(z, n);
  }
  if (s == NULL) fail_nomem(ps);
  return s;
}

static int ci_str(const char *a, const char *b) {
  return ci_equal(a, strlen(a), b, strlen(b));
}

enum { OPT_DIR, OPT_MEMTABLE, OPT_BLOOM, OPT_BLOCK, OPT_SYNC, OPT_BACKGROUND, OPT_CACHE };

static void parse_option(parser *ps, const char *name, size_t name_len,
                         const char *value_text) {
  static const char *const names[] = {
    "dir", "memtable_size", "bloom_bits", "block_size", "sync", "background", "cache_size"
  };
  lsmx_table_def *def = ps->def;
  char *opt = NULL, *val = NULL;
  int which = -1, bad = 0, i;
  int64_t size;

  opt = dup_range(name, name_len);
  if (opt == NULL) {
    fail_nomem(ps);
    goto done;
  }
  for (i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
    if (ci_str(opt, names[i])) which = i;
  }
  if (which < 0) {
    fail(ps, "lsm: unknown option '%s'", opt);
    goto done;
  }
  if (ps->opts_seen & (1u << which)) {
    fail(ps, "lsm: option %s given more than once", names[which]);
    goto done;
  }
  ps->opts_seen |= 1u << which;

  val = option_value(ps, value_text, &bad);
  if (val == NULL) goto done;
  if (!bad) {
    switch (which) {
      case OPT_DIR:
        if (val[0] == '\0') {
          bad = 1;
        } else {
          def->dir = val;
          val = NULL;
        }
        break;
      case OPT_MEMTABLE:
        size = lsmx_parse_size(val);
        if (size < 1) bad = 1;
        else def->memtable_size = size;
        break;
      case OPT_BLOCK:
        size = lsmx_parse_size(val);
        if (size < 256 || size > ((int64_t)64 << 20)) bad = 1;
        else def->block_size = size;
        break;
      case OPT_CACHE:
        /* 0 turns the block cache off. */
        size = lsmx_parse_size(val);
        if (size < 0 || size > ((int64_t)1 << 40)) bad = 1;
        else def->cache_size = size;
        break;
      case OPT_BLOOM:
        /* A plain count: no K/M/G suffix. */
        if (!is_digit((unsigned char)val[0]) ||
            !is_digit((unsigned char)val[strlen(val) - 1])) {
          bad = 1;
        } else {
          size = lsmx_parse_size(val);
          if (size < 0 || size > 64) bad = 1;
          else def->bloom_bits = (int)size;
        }
        break;
      case OPT_SYNC:
        if (ci_str(val, "off")) def->sync_mode = LSM_SYNC_OFF;
        else if (ci_str(val, "normal")) def->sync_mode = LSM_SYNC_NORMAL;
        else if (ci_str(val, "full")) def->sync_mode = LSM_SYNC_FULL;
        else bad = 1;
        break;
      case OPT_BACKGROUND:
        if (ci_str(val, "on") || strcmp(val, "1") == 0) def->background = 1;
        else if (ci_str(val, "off") || strcmp(val, "0") == 0) def->background = 0;
        else bad = 1;
        break;
      default:
        break;
    }
  }
  if (bad) fail(ps, "lsm: bad value for %s: '%s'", names[which], val);

done:
  sqlite3_free(opt);
  sqlite3_free(val);
}

/* ------------------------------------------------------------------ */
/* Column definitions and table constraints. */

/* SQLite's affinity rules, applied in this order to the declared type. */
static char type_affinity(const char *type) {
  if (ci_contains(type, "INT")) return 'D';
  if (ci_contains(type, "CHAR") || ci_contains(type, "CLOB") ||
      ci_contains(type, "TEXT")) {
    return 'B';
  }
  if (type[0] == '\0' || ci_contains(type, "BLOB")) return 'A';
  if (ci_contains(type, "REAL") || ci_contains(type, "FLOA") ||
      ci_contains(type, "DOUB")) {
    return 'E';
  }
  return 'C';
}

static int find_column(const lsmx_table_def *def, const char *name) {
  int i;
  for (i = 0; i < def->n_cols; i++) {
    if (ci_str(def->cols[i].name, name)) return i;
  }
  return -1;
}

static void free_column(lsmx_column *c) {
  sqlite3_free(c->name);
  sqlite3_free(c->type);
  sqlite3_free(c->collate);
  memset(c, 0, sizeof *c);
}

/* After the PRIMARY KEY of a column or a table: reject what we cannot
** honour.  Returns nonzero if it failed. */
static int reject_pk_suffix(parser *ps, lexer *lx, const char *arg) {
  token t = peek_token(lx);
  if (is_kw(t, "ON")) {
    fail(ps, "lsm: ON CONFLICT clauses are not supported: '%s'", arg);
    return 1;
  }
  if (is_kw(t, "AUTOINCREMENT")) {
    fail(ps, "lsm: AUTOINCREMENT is not supported: '%s'", arg);
    return 1;
  }
  return 0;
}

/* PRIMARY KEY ( name [COLLATE c] [ASC|DESC], ... ) — lexer is after KEY. */
static void parse_table_pk(parser *ps, lexer *lx, const char *arg) {
  token t;
  if (ps->pk_seen) {
    fail(ps, "lsm: more than one PRIMARY KEY");
    return;
  }
  ps->pk_seen = 1;
  if (next_token(lx).type != TK_LP) {
    fail(ps, "lsm: expected '(' after PRIMARY KEY in '%s'", arg);
    return;
  }
  for (;;) {
    char *name;
    t = next_token(lx);
    if (!is_name(t)) {
      fail(ps, "lsm: cannot parse PRIMARY KEY column list in '%s'", arg);
      return;
    }
    if (ps->n_tpk == (int)(sizeof ps->tpk / sizeof ps->tpk[0])) {
      fail(ps, "lsm: too many PRIMARY KEY columns (max 64)");
      return;
    }
    name = token_name(t);
    if (name == NULL) {
      fail_nomem(ps);
      return;
    }
    ps->tpk[ps->n_tpk++] = name;
    t = next_token(lx);
    if (is_kw(t, "COLLATE")) {
      /* lsmx_table_def has no place for a key-only collation, and the
      ** column's own COLLATE already says how its values compare. */
      fail(ps, "lsm: COLLATE inside PRIMARY KEY(...) is not supported; "
               "declare it on the column (column '%s')", name);
      return;
    }
    if (is_kw(t, "DESC")) {
      fail(ps, "lsm: PRIMARY KEY DESC is not supported (column '%s')", name);
      return;
    }
    if (is_kw(t, "ASC")) t = next_token(lx);
    if (t.type == TK_RP) break;
    if (t.type != TK_COMMA) {
      fail(ps, "lsm: cannot parse PRIMARY KEY column list in '%s'", arg);
      return;
    }
  }
  if (reject_pk_suffix(ps, lx, arg)) return;
  if (next_token(lx).type != TK_EOF) {
    fail(ps, "lsm: unexpected text after PRIMARY KEY(...) in '%s'", arg);
  }
}

/* If arg is a table constraint, parse it and return 1; else return 0. */
static int parse_table_constraint(parser *ps, const char *arg) {
  lexer lx;
  token t, t2;
  lx.z = arg;
  lx.pos = 0;
  t = next_token(&lx);
  t2 = peek_token(&lx);
  if (is_kw(t, "CONSTRAINT") && is_name(t2)) {
    lexer after = lx;
    next_token(&after);
    t2 = peek_token(&after);
    if (!(is_kw(t2, "PRIMARY") || is_kw(t2, "UNIQUE") || is_kw(t2, "CHECK") ||
          is_kw(t2, "FOREIGN"))) {
      return 0;                  /* not a table constraint */
    }
    lx = after;
    t = next_token(&lx);
    t2 = peek_token(&lx);
  }
  if (is_kw(t, "PRIMARY") && is_kw(t2, "KEY")) {
    next_token(&lx);
    parse_table_pk(ps, &lx, arg);
    return 1;
  }
  if ((is_kw(t, "UNIQUE") && t2.type == TK_LP) ||
      (is_kw(t, "CHECK") && t2.type == TK_LP) ||
      (is_kw(t, "FOREIGN") && is_kw(t2, "KEY"))) {
    fail(ps, "lsm: unsupported table constraint: '%s'", arg);
    return 1;
  }
  return 0;
}

static void parse_column(parser *ps, const char *arg) {
  lsmx_table_def *def = ps->def;
  lsmx_column c;
  lexer lx;
  token t;
  const char *type_start = NULL, *type_end = NULL;

  memset(&c, 0, sizeof c);
  c.pk_pos = -1;
  lx.z = arg;
  lx.pos = 0;

  t = next_token(&lx);
  if (!is_name(t) || is_constraint_kw(t)) {
    fail(ps, "lsm: cannot parse column definition '%s'", arg);
    goto done;
  }
  c.name = token_name(t);
  if (c.name == NULL) {
    fail_nomem(ps);
    goto done;
  }
  if (c.name[0] == '\0') {
    fail(ps, "lsm: empty column name in '%s'", arg);
    goto done;
  }

  /* Declared type: words up to a constraint keyword, then "(...)". */
  for (;;) {
    t = peek_token(&lx);
    if (!is_name(t) || is_constraint_kw(t)) break;
    next_token(&lx);
    if (type_start == NULL) type_start = t.z;
    type_end = t.z + t.n;
  }
  if (type_start != NULL && peek_token(&lx).type == TK_LP) {
    int depth = 0;
    do {
      t = next_token(&lx);
      if (t.type == TK_LP) depth++;
      else if (t.type == TK_RP) depth--;
      else if (t.type == TK_EOF || t.type == TK_BAD) {
        fail(ps, "lsm: unbalanced parentheses in '%s'", arg);
        goto done;
      }
    } while (depth > 0);
    type_end = t.z + t.n;
  }
  c.type = type_start ? dup_range(type_start, (size_t)(type_end - type_start))
                      : dup_range("", 0);
  if (c.type == NULL) {
    fail_nomem(ps);
    goto done;
  }
  c.affinity = type_affinity(c.type);

  /* Column constraints. */
  for (;;) {
    t = next_token(&lx);
    if (t.type == TK_EOF) break;
    if (is_kw(t, "CONSTRAINT")) {
      if (!is_name(next_token(&lx))) {
        fail(ps, "lsm: expected a constraint name in '%s'", arg);
        goto done;
      }
    } else if (is_kw(t, "PRIMARY")) {
      if (!is_kw(next_token(&lx), "KEY")) {
        fail(ps, "lsm: expected KEY after PRIMARY in '%s'", arg);
        goto done;
      }
      if (ps->pk_seen) {
        fail(ps, "lsm: more than one PRIMARY KEY");
        goto done;
      }
      ps->pk_seen = 1;
      ps->col_pk = def->n_cols;          /* this column's index once added */
      c.pk_pos = 0;
      t = peek_token(&lx);
      if (is_kw(t, "DESC")) {
        fail(ps, "lsm: PRIMARY KEY DESC is not supported (column '%s')",
             c.name);
        goto done;
      }
      if (is_kw(t, "ASC")) next_token(&lx);
      if (reject_pk_suffix(ps, &lx, arg)) goto done;
    } else if (is_kw(t, "NOT")) {
      if (!is_kw(next_token(&lx), "NULL")) {
        fail(ps, "lsm: expected NULL after NOT in '%s'", arg);
        goto done;
      }
      c.not_null = 1;
      if (reject_pk_suffix(ps, &lx, arg)) goto done;
    } else if (is_kw(t, "NULL")) {
      /* explicit nullability: nothing to record */
    } else if (is_kw(t, "COLLATE")) {
      t = next_token(&lx);
      if (!is_name(t)) {
        fail(ps, "lsm: expected a collation name in '%s'", arg);
        goto done;
      }
      sqlite3_free(c.collate);
      c.collate = token_name(t);
      if (c.collate == NULL) {
        fail_nomem(ps);
        goto done;
      }
    } else if (is_constraint_kw(t)) {
      fail(ps, "lsm: unsupported constraint %.*s on column '%s'", (int)t.n,
           t.z, c.name);
      goto done;
    } else {
      fail(ps, "lsm: unexpected '%.*s' in column definition '%s'", (int)t.n,
           t.z, arg);
      goto done;
    }
  }

  if (find_column(def, c.name) >= 0) {
    fail(ps, "lsm: duplicate column name: %s", c.name);
    goto done;
  }
  if (def->n_cols >= LSMX_MAX_COLUMNS) {
    fail(ps, "lsm: too many columns (max %d)", LSMX_MAX_COLUMNS);
    goto done;
  }
  {
    lsmx_column *cols = sqlite3_realloc64(
        def->cols, (sqlite3_uint64)(def->n_cols + 1) * sizeof *cols);
    if (cols == NULL) {
      fail_nomem(ps);
      goto done;
    }
    def->cols = cols;
    def->cols[def->n_cols++] = c;
    memset(&c, 0, sizeof c);             /* now owned by def */
  }

done:
  free_column(&c);
}

/* An option is an identifier followed by '='. */
static int is_option(const char *arg, const char **name, size_t *name_len,
                     const char **value) {
  lexer lx;
  token t, eq;
  lx.z = arg;
  lx.pos = 0;
  t = next_token(&lx);
  if (t.type != TK_ID) return 0;
  eq = next_token(&lx);
  if (eq.type != TK_OTHER || eq.z[0] != '=') return 0;
  *name = t.z;
  *name_len = t.n;
  *value = eq.z + 1;
  return 1;
}

/* Resolve the names of PRIMARY KEY(...) and fill pk_cols. */
static void finish_pk(parser *ps) {
  lsmx_table_def *def = ps->def;
  int k, j;
  if (ps->col_pk >= 0) {
    def->n_pk = 1;
    def->pk_cols[0] = ps->col_pk;
    return;
  }
  for (k = 0; k < ps->n_tpk; k++) {
    int idx = find_column(def, ps->tpk[k]);
    if (idx < 0) {
      fail(ps, "lsm: PRIMARY KEY names unknown column '%s'", ps->tpk[k]);
      return;
    }
    for (j = 0; j < k; j++) {
      if (def->pk_cols[j] == idx) {
        fail(ps, "lsm: column '%s' appears twice in PRIMARY KEY",
             def->cols[idx].name);
        return;
      }
    }
    def->pk_cols[k] = idx;
    def->cols[idx].pk_pos = k;
  }
  def->n_pk = ps->n_tpk;
}

int lsmx_args_parse(int argc, const char *const *argv, lsmx_table_def *def,
                    char **errmsg) {
  parser ps;
  int i;

  memset(def, 0, sizeof *def);
  def->memtable_size = -1;
  def->bloom_bits = -1;
  def->block_size = -1;
  def->cache_size = -1;
  def->sync_mode = -1;
  def->background = -1;
  *errmsg = NULL;

  memset(&ps, 0, sizeof ps);
  ps.def = def;
  ps.rc = SQLITE_OK;
  ps.col_pk = -1;

  for (i = 0; i < argc && ps.rc == SQLITE_OK; i++) {
    const char *arg = argv[i] ? argv[i] : "";
    const char *name, *value;
    size_t name_len;
    lexer lx;
    lx.z = arg;
    lx.pos = 0;
    if (peek_token(&lx).type == TK_EOF) {
      fail(&ps, "lsm: empty argument");
    } else if (is_option(arg, &name, &name_len, &value)) {
      parse_option(&ps, name, name_len, value);
    } else if (!parse_table_constraint(&ps, arg)) {
      parse_column(&ps, arg);
    }
  }
  if (ps.rc == SQLITE_OK && def->n_cols == 0) {
    fail(&ps, "lsm: no columns defined");
  }
  if (ps.rc == SQLITE_OK) finish_pk(&ps);

  for (i = 0; i < ps.n_tpk; i++) sqlite3_free(ps.tpk[i]);
  if (ps.rc != SQLITE_OK) {
    lsmx_table_def_free(def);
    *errmsg = ps.err;
  }
  return ps.rc;
}

void lsmx_table_def_free(lsmx_table_def *def) {
  int i;
  if (def == NULL) return;
  for (i = 0; i < def->n_cols; i++) free_column(&def->cols[i]);
  sqlite3_free(def->cols);
  sqlite3_free(def->dir);
  memset(def, 0, sizeof *def);
  def->memtable_size = -1;
  def->bloom_bits = -1;
  def->block_size = -1;
  def->cache_size = -1;
  def->sync_mode = -1;
  def->background = -1;
}
