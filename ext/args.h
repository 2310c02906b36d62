/*
** args.h — parsing of CREATE VIRTUAL TABLE ... USING lsm(...) arguments.
**
** Arguments are column definitions ("k TEXT PRIMARY KEY", "v BLOB",
** "PRIMARY KEY(a, b)") and options ("name=value").  An argument is an option
** when it starts with an identifier followed by '='.  Options:
**
**   dir='path'            relative to the database file's directory
**   memtable_size=N       bytes, or '64K' / '4M' / '1G' quoted (K = 1024)
**   bloom_bits=N          0..64
**   sync=off|normal|full  quoted or bare
**   block_size=N          like memtable_size, 256 .. 64M
**   cache_size=N          like memtable_size, 0 .. 1T: the block cache's
**                         budget (data blocks plus the open tables' index
**                         blocks and bloom filters); 0 turns it off
**   background=on|off     flushes and compactions on the engine's thread
**                         (on, the default) or inline in the commit that
**                         fills the memtable (off); also 1|0
**
** Anything malformed fails with a message naming the argument:
** "lsm: bad value for memtable_size: '64Q'", "lsm: unknown option
** 'memtable_sz'", "lsm: more than one PRIMARY KEY".
*/
#ifndef LSMX_ARGS_H
#define LSMX_ARGS_H

#include <stdint.h>

#define LSMX_MAX_COLUMNS 2000

typedef struct lsmx_column {
  char *name;          /* unquoted name */
  char *type;          /* declared type text as written ("" if none) */
  char affinity;       /* 'A' BLOB/none, 'B' TEXT, 'C' NUMERIC, 'D' INTEGER,
                          'E' REAL: SQLite's rules on the declared type */
  int pk_pos;          /* position in the primary key (0-based), -1 if not */
  char *collate;       /* COLLATE name if given, else NULL */
  int not_null;
} lsmx_column;

typedef struct lsmx_table_def {
  lsmx_column *cols;
  int n_cols;
  int n_pk;            /* 0: no PRIMARY KEY, implicit rowid */
  int pk_cols[64];     /* column indexes of the key, in key order */
  char *dir;           /* dir= value or NULL */
  int64_t memtable_size;   /* -1 = default */
  int bloom_bits;          /* -1 = default */
  int64_t block_size;      /* -1 = default */
  int64_t cache_size;      /* -1 = default */
  int sync_mode;           /* -1 = default, else LSM_SYNC_* */
  int background;          /* -1 = default, else 0 or 1 */
} lsmx_table_def;

/* Parse argv[0..argc-1] (the arguments inside the parentheses, as SQLite
** hands them to xCreate after the module, database and table names).
** On failure returns nonzero and sets *errmsg (sqlite3_malloc()ed). */
int lsmx_args_parse(int argc, const char *const *argv, lsmx_table_def *def,
                    char **errmsg);
void lsmx_table_def_free(lsmx_table_def *def);

/* Parse a size: decimal digits with an optional K/M/G suffix (1024-based,
** case-insensitive), optionally in single or double quotes.  -1 if bad. */
int64_t lsmx_parse_size(const char *text);

#endif /* LSMX_ARGS_H */
