-- Key columns of every declared affinity: the values a native WITHOUT
-- ROWID table would store (affinity applied), in SQLite's order (NULL <
-- numbers < TEXT < BLOB, integers and reals compared by value), found by
-- point lookups and ranges exactly as natively.  Expected output: the
-- native twin's.
.load ./lsm_vtab
.mode list
CREATE VIRTUAL TABLE t_int USING lsm(k INT PRIMARY KEY, v);
CREATE VIRTUAL TABLE t_real USING lsm(k REAL PRIMARY KEY, v);
CREATE VIRTUAL TABLE t_num USING lsm(k NUMERIC PRIMARY KEY, v);
CREATE VIRTUAL TABLE t_text USING lsm(k TEXT PRIMARY KEY, v);
CREATE VIRTUAL TABLE t_blob USING lsm(k BLOB PRIMARY KEY, v);
CREATE VIRTUAL TABLE t_none USING lsm(k PRIMARY KEY, v);
CREATE TEMP TABLE vals(id INTEGER PRIMARY KEY, x);
INSERT INTO vals(x) VALUES (1), (-1), (0), (2.5), (3.0), ('4'), ('4.0'), ('  5 '), ('1e2'),
  ('0x10'), ('abc'), ('ABC'), (''), (x'00'), (x''), (x'3130'), ('10'), (10), (10.0), (1e300),
  (-1e300), (9223372036854775807), (-9223372036854775808), ('9223372036854775808'),
  (9007199254740993), ('-0'), (-0.0), ('a' || char(0) || 'b'), ('12abc'), ('1.5e'), ('.5'), ('5.');
INSERT OR IGNORE INTO t_int SELECT x, id FROM vals;
INSERT OR IGNORE INTO t_real SELECT x, id FROM vals;
INSERT OR IGNORE INTO t_num SELECT x, id FROM vals;
INSERT OR IGNORE INTO t_text SELECT x, id FROM vals;
INSERT OR IGNORE INTO t_blob SELECT x, id FROM vals;
INSERT OR IGNORE INTO t_none SELECT x, id FROM vals;
SELECT 'int', quote(k), typeof(k), v FROM t_int;
SELECT 'real', quote(k), typeof(k), v FROM t_real;
SELECT 'num', quote(k), typeof(k), v FROM t_num;
SELECT 'text', quote(k), typeof(k), v FROM t_text;
SELECT 'blob', quote(k), typeof(k), v FROM t_blob;
SELECT 'none', quote(k), typeof(k), v FROM t_none;
-- Descending order.
SELECT group_concat(v, ' ') FROM (SELECT v FROM t_none ORDER BY k DESC);
SELECT group_concat(v, ' ') FROM (SELECT v FROM t_num ORDER BY k DESC);
-- Duplicates after affinity: 1 and 1.0 and '1' are one key.
INSERT INTO t_int VALUES('1', 'dup');
INSERT INTO t_num VALUES(1.0, 'dup');
INSERT INTO t_real VALUES('3', 'dup');
INSERT INTO t_text VALUES(10, 'dup');
INSERT INTO t_none VALUES(2.5, 'dup');
INSERT INTO t_none VALUES('2.5', 'not a dup');
-- Point lookups with values of every type.
SELECT 'eq-int', v FROM t_int WHERE k = '4';
SELECT 'eq-int', v FROM t_int WHERE k = 4.0;
SELECT 'eq-int', v FROM t_int WHERE k = 2.5;
SELECT 'eq-real', v FROM t_real WHERE k = 3;
SELECT 'eq-real', v FROM t_real WHERE k = '2.5';
SELECT 'eq-real', v FROM t_real WHERE k = 9007199254740993;
SELECT 'eq-num', v FROM t_num WHERE k = '100';
SELECT 'eq-num', v FROM t_num WHERE k = ' 5';
SELECT 'eq-text', v FROM t_text WHERE k = 10;
SELECT 'eq-text', v FROM t_text WHERE k = 2.5;
SELECT 'eq-text', v FROM t_text WHERE k = x'3130';
SELECT 'eq-blob', v FROM t_blob WHERE k = '10';
SELECT 'eq-blob', v FROM t_blob WHERE k = x'3130';
SELECT 'eq-none', v FROM t_none WHERE k = '4';
SELECT 'eq-none', v FROM t_none WHERE k = 4;
SELECT 'eq-none', v FROM t_none WHERE k = 10;
SELECT 'eq-none', v FROM t_none WHERE k = NULL;
SELECT 'eq-none', v FROM t_none WHERE k IS NULL;
SELECT 'eq-none', v FROM t_none WHERE k = 'a' || char(0) || 'b';
-- Ranges with values of every type.
SELECT 'rng-int', group_concat(v, ' ') FROM t_int WHERE k > '3' AND k <= 100;
SELECT 'rng-int', group_concat(v, ' ') FROM t_int WHERE k >= 'a';
SELECT 'rng-real', group_concat(v, ' ') FROM t_real WHERE k BETWEEN -1 AND '4';
SELECT 'rng-num', group_concat(v, ' ') FROM t_num WHERE k < '0x10';
SELECT 'rng-text', group_concat(v, ' ') FROM t_text WHERE k > 1 AND k < 5;
SELECT 'rng-text', group_concat(v, ' ') FROM t_text WHERE k >= 'a';
SELECT 'rng-blob', group_concat(v, ' ') FROM t_blob WHERE k > 3;
SELECT 'rng-blob', group_concat(v, ' ') FROM t_blob WHERE k < 'a';
SELECT 'rng-none', group_concat(v, ' ') FROM t_none WHERE k > 2.5 AND k < x'00';
SELECT 'rng-none', group_concat(v, ' ') FROM t_none WHERE k >= '' ORDER BY k DESC;
SELECT 'rng-none', group_concat(v, ' ') FROM t_none WHERE k < 0;
SELECT 'rng-none', group_concat(v, ' ') FROM t_none WHERE k > NULL;
SELECT 'rng-none', group_concat(v, ' ') FROM t_none WHERE k > -1e301 AND k < 1e301;
-- Non-key columns get their affinity too.
CREATE VIRTUAL TABLE cols USING lsm(id INT PRIMARY KEY, i INTEGER, r REAL, n NUMERIC, t TEXT, b BLOB, x);
INSERT INTO cols SELECT id, x, x, x, x, x, x FROM vals;
SELECT id, quote(i), quote(r), quote(n), quote(t), quote(b), quote(x) FROM cols;
