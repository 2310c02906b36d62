-- Rowid tables: no PRIMARY KEY, or an INTEGER PRIMARY KEY, which is the
-- rowid under another name: NULL or omitted takes the largest + 1, text
-- and reals that are integers are converted, anything else is a datatype
-- mismatch; `rowid` and the column read the same value.  Expected output:
-- the native twin's (plain rowid tables).
.load ./lsm_vtab
CREATE VIRTUAL TABLE t USING lsm(id INTEGER PRIMARY KEY, name TEXT, score REAL);
INSERT INTO t VALUES(NULL, 'first', 1);
INSERT INTO t(name) VALUES('second');
INSERT INTO t VALUES(10, 'ten', '2.5');
INSERT INTO t VALUES('20', 'twenty', NULL);
INSERT INTO t VALUES(30.0, 'thirty', NULL);
INSERT INTO t VALUES(' 40 ', 'forty', NULL);
INSERT INTO t VALUES('4e1', 'forty again', NULL);
INSERT INTO t VALUES(NULL, 'after forty', NULL);
SELECT last_insert_rowid();
INSERT INTO t VALUES(2.5, 'real', NULL);
INSERT INTO t VALUES('x', 'text', NULL);
INSERT INTO t VALUES(x'01', 'blob', NULL);
INSERT INTO t VALUES('9223372036854775808', 'too big', NULL);
INSERT INTO t VALUES(10, 'dup', NULL);
INSERT INTO t(rowid, name) VALUES(10, 'dup by rowid');
INSERT INTO t(rowid, name) VALUES(50, 'by rowid');
SELECT rowid, id, typeof(id), name, score FROM t;
SELECT * FROM t WHERE id = 10;
SELECT * FROM t WHERE rowid = '20';
SELECT * FROM t WHERE id = 20.0;
SELECT * FROM t WHERE id = 20.5;
SELECT * FROM t WHERE id = 'x';
SELECT * FROM t WHERE id > 10 AND rowid < 50;
SELECT * FROM t WHERE id >= '20' ORDER BY rowid DESC;
SELECT * FROM t WHERE id > 'a';
SELECT * FROM t WHERE id < 2.5;
SELECT * FROM t WHERE id IN (50, '10', 2, 3.0, NULL);
SELECT id FROM t ORDER BY id DESC LIMIT 2;
-- Updates of the key, through either name.
UPDATE t SET id = 11 WHERE id = 10;
UPDATE t SET rowid = 12 WHERE id = 11;
UPDATE t SET id = '13' WHERE id = 12;
UPDATE t SET id = NULL WHERE id = 13;
UPDATE t SET rowid = NULL WHERE id = 13;
UPDATE t SET id = 'x' WHERE id = 13;
UPDATE t SET id = 2.5 WHERE id = 13;
UPDATE t SET id = 1 WHERE id = 13;
UPDATE OR IGNORE t SET id = 1 WHERE id = 13;
UPDATE OR REPLACE t SET id = 1 WHERE id = 13;
SELECT rowid, id, name FROM t;
DELETE FROM t WHERE id = 50;
INSERT INTO t(name) VALUES('after delete of max');
DELETE FROM t WHERE rowid > 40;
INSERT INTO t(name) VALUES('reuses');
SELECT rowid, id, name FROM t;
-- Negative and extreme rowids.
CREATE VIRTUAL TABLE r USING lsm(a);
INSERT INTO r(rowid, a) VALUES(-5, 'neg');
INSERT INTO r(a) VALUES('after neg');
INSERT INTO r(rowid, a) VALUES(-9223372036854775808, 'min');
INSERT INTO r(a) VALUES('after min');
SELECT rowid, a FROM r;
INSERT INTO r(rowid, a) VALUES(9223372036854775807, 'max');
INSERT INTO r(a) VALUES('random');
SELECT count(*) FROM r WHERE a = 'random' AND rowid > 0;
SELECT rowid, a FROM r WHERE a != 'random';
INSERT INTO r(rowid, a) VALUES(-5, 'dup');
INSERT OR REPLACE INTO r(rowid, a) VALUES(-5, 'replaced');
SELECT rowid, a FROM r WHERE rowid < 0;
-- A column that is INTEGER but not the key, and keys that are not aliases.
CREATE VIRTUAL TABLE n1 USING lsm(k INT PRIMARY KEY, v);
INSERT INTO n1 VALUES(NULL, 'null int key');
INSERT INTO n1 VALUES('x', 'text in int key');
SELECT * FROM n1;
CREATE VIRTUAL TABLE n2 USING lsm(k INTEGER, v, PRIMARY KEY(k));
INSERT INTO n2 VALUES(NULL, 'table-level integer pk');
INSERT INTO n2 VALUES('x', 'mismatch');
SELECT rowid, * FROM n2;
CREATE VIRTUAL TABLE n3 USING lsm(k integer primary key, v);
INSERT INTO n3(v) VALUES('lower case');
SELECT rowid, * FROM n3;
