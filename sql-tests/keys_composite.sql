-- Composite keys, PRIMARY KEY(a, b, ...) in any column order: ordered by
-- the key columns lexicographically, each with its own affinity; NULL in
-- any key column is a NOT NULL error; duplicates name every key column;
-- lookups and ranges on a key prefix.  Expected output: the native twin's
-- (the same tables WITHOUT ROWID).
.load ./lsm_vtab
CREATE VIRTUAL TABLE ev USING lsm(dev TEXT, ts INTEGER, val REAL, note, PRIMARY KEY(dev, ts));
INSERT INTO ev VALUES('b', 2, 1.5, 'x'), ('a', 10, 2, 'y'), ('a', 9, 3, NULL), ('b', '1', '4', 'z'),
  ('c', -1, 1e10, NULL);
INSERT INTO ev VALUES('a', 10.0, 0, 'dup');
INSERT INTO ev VALUES(NULL, 1, 0, 'null dev');
INSERT INTO ev VALUES('d', NULL, 0, 'null ts');
INSERT OR IGNORE INTO ev VALUES('a', 9, 0, 'ignored'), ('a', 11, 0, 'kept');
INSERT INTO ev VALUES(1, 1, 1, 'number dev');
SELECT * FROM ev;
SELECT * FROM ev ORDER BY dev DESC, ts DESC;
SELECT * FROM ev ORDER BY dev, ts;
SELECT * FROM ev ORDER BY dev DESC;
SELECT * FROM ev ORDER BY ts;
SELECT dev, ts FROM ev WHERE dev = 'a';
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts = 10;
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts = '10';
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts > 9;
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts >= 9 AND ts < 11;
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts BETWEEN 9 AND 10 ORDER BY ts DESC;
SELECT dev, ts FROM ev WHERE dev > 'a' AND dev <= 'b';
SELECT dev, ts FROM ev WHERE dev >= 'b';
SELECT dev, ts FROM ev WHERE ts = 2;
SELECT dev, ts FROM ev WHERE dev = 'zz';
SELECT dev, ts FROM ev WHERE dev = 'a' AND ts = 'x';
SELECT dev, ts FROM ev WHERE dev IN ('c', 'a') AND ts IN (11, -1, 9, 10);
SELECT dev, ts FROM ev WHERE dev IN ('c', 'a') ORDER BY dev DESC, ts DESC;
SELECT dev, ts FROM ev WHERE dev IN ('b', 'a') AND ts > 9;
-- Updates of key columns move the row; onto an existing key they conflict.
UPDATE ev SET ts = ts + 100 WHERE dev = 'b';
UPDATE ev SET dev = 'a' WHERE dev = 'c';
UPDATE ev SET ts = 10 WHERE dev = 'a' AND ts = 9;
UPDATE OR REPLACE ev SET ts = 10 WHERE dev = 'a' AND ts = 9;
UPDATE ev SET note = 'changed' WHERE dev = 'a' AND ts = 10;
SELECT * FROM ev;
DELETE FROM ev WHERE dev = 'a' AND ts < 11;
SELECT * FROM ev;
-- Three columns, key order different from column order, mixed affinities.
CREATE VIRTUAL TABLE k3 USING lsm(v, c BLOB, b TEXT, a NUMERIC, PRIMARY KEY(a, b, c));
INSERT INTO k3 VALUES(1, x'01', 'x', 1), (2, x'00', 'x', 1), (3, x'01', 'w', 1),
  (5, 'text', 2, 0.5), (6, 7, '7', '7'), (7, 7, 8, 7.0);
INSERT INTO k3 VALUES(4, x'01', 'x', '1.0');
INSERT OR REPLACE INTO k3 VALUES(8, x'00', 'x', '1');
SELECT v, quote(a), quote(b), quote(c) FROM k3;
SELECT v FROM k3 WHERE a = 1 AND b = 'x';
SELECT v FROM k3 WHERE a = 1 AND b = 'x' AND c > x'00';
SELECT v FROM k3 WHERE a = '7' AND b = 7 AND c = 7;
SELECT v FROM k3 WHERE a = 1 ORDER BY a, b DESC, c DESC;
-- A column named like the key helper: still a plain column.
CREATE VIRTUAL TABLE odd USING lsm("__lsm_key", x, PRIMARY KEY(x, "__lsm_key"));
INSERT INTO odd VALUES('k', 'x'), ('j', 'x');
SELECT * FROM odd;
DELETE FROM odd WHERE "__lsm_key" = 'j';
SELECT * FROM odd;
