-- Rowid tables, key types and their order, range scans, query plans.
.load ./lsm_vtab
-- A table without PRIMARY KEY is a rowid table.
CREATE VIRTUAL TABLE log USING lsm(msg TEXT, level INTEGER);
INSERT INTO log VALUES('start', 1), ('step', 2);
INSERT INTO log(rowid, msg, level) VALUES(10, 'ten', 3);
INSERT INTO log VALUES('after ten', '4');
SELECT last_insert_rowid();
SELECT rowid, msg, level, typeof(level) FROM log;
INSERT INTO log(rowid, msg) VALUES(10, 'again');
INSERT INTO log(rowid, msg) VALUES('x', 'bad rowid');
INSERT OR REPLACE INTO log(rowid, msg, level) VALUES(10, 'replaced', 5);
SELECT rowid, msg, level FROM log WHERE rowid = 10;
SELECT rowid, msg FROM log WHERE rowid >= 2 AND rowid < 11;
SELECT rowid, msg FROM log WHERE rowid > 1 ORDER BY rowid DESC;
UPDATE log SET rowid = 20 WHERE rowid = 11;
DELETE FROM log WHERE rowid = 20;
INSERT INTO log(msg) VALUES('max+1');
SELECT rowid, msg FROM log;
-- Rowid assignment as SQLite does it: largest + 1 (negative ones too), and
-- once the largest possible rowid is taken, a random unused one.
CREATE VIRTUAL TABLE ids USING lsm(a);
INSERT INTO ids(rowid, a) VALUES(-5, 'neg');
INSERT INTO ids(a) VALUES('after neg');
INSERT INTO ids(rowid, a) VALUES(9223372036854775807, 'max');
INSERT INTO ids(a) VALUES('random');
SELECT count(*) FROM ids WHERE rowid > 0 AND rowid < 9223372036854775807 AND a = 'random';
UPDATE ids SET rowid = NULL WHERE a = 'neg';
SELECT rowid, a FROM ids WHERE a != 'random';
-- INSERT OR REPLACE on a keyed table.
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v);
INSERT INTO kv VALUES('a', 1), ('b', 2);
INSERT OR REPLACE INTO kv VALUES('a', 10), ('c', 30);
REPLACE INTO kv VALUES('b', 20);
SELECT * FROM kv;
-- Keys of every type, in SQLite's order: numbers (integers and reals
-- compared by value), then text, then blobs.
CREATE VIRTUAL TABLE mixed USING lsm(k PRIMARY KEY, v);
INSERT INTO mixed VALUES(10, 'int 10'), (-3, 'int -3'), (2.5, 'real 2.5'),
  (3.0, 'real 3.0'), (9223372036854775807, 'max int'),
  (-9223372036854775808, 'min int'), (-1e300, 'real -1e300'),
  ('10', 'text 10'), ('', 'empty text'), ('a', 'text a'), ('B', 'text B'),
  (x'00', 'blob 00'), (x'', 'empty blob'), (x'ff01', 'blob ff01'),
  ('a' || char(0) || 'b', 'text with NUL');
INSERT INTO mixed VALUES(3, 'int 3');
SELECT quote(k), hex(k), typeof(k), v FROM mixed;
SELECT v FROM mixed ORDER BY k DESC;
SELECT v FROM mixed WHERE k > 2.5 AND k <= 10;
SELECT v FROM mixed WHERE k >= 2.5 AND k < 10;
SELECT v FROM mixed WHERE k < 0;
SELECT v FROM mixed WHERE k > 'a';
SELECT v FROM mixed WHERE k >= x'00' ORDER BY k DESC;
SELECT v FROM mixed WHERE k = 3;
SELECT v FROM mixed WHERE k = x'ff01';
SELECT v FROM mixed WHERE k IN (10, '10', 2.5, 'zz');
-- Column affinity is applied as a native table would.
CREATE VIRTUAL TABLE ints USING lsm(k INTEGER PRIMARY KEY, v REAL, t TEXT);
INSERT INTO ints VALUES('7', 1, 2), (8.0, '2.5', 3.5), ('x', 'y', NULL);
SELECT k, typeof(k), v, typeof(v), t, typeof(t) FROM ints;
SELECT k FROM ints WHERE k = '7';
SELECT k FROM ints WHERE k >= 7.5;
-- Query plans: point lookup, range (idxNum flags: 2 lower bound, 4 lower
-- inclusive, 8 upper bound, 16 upper inclusive, 32 descending), full scan;
-- ORDER BY on the key is done by the scan itself (no temp b-tree).
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k = 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k > 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k >= 'a' AND k <= 'c';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k < 'c' ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY k;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY v;
EXPLAIN QUERY PLAN SELECT * FROM log WHERE rowid = 10;
EXPLAIN QUERY PLAN SELECT * FROM log WHERE rowid BETWEEN 1 AND 5 ORDER BY rowid DESC;
SELECT k FROM kv ORDER BY k DESC;
SELECT k FROM kv WHERE k < 'c' ORDER BY k DESC;
