-- UPDATE of any column, key columns included (the row moves), DELETE with
-- any WHERE, and statements that read the table they write: each sees the
-- table as of its start.  Expected output: the native twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE t USING lsm(k INT PRIMARY KEY, v TEXT, n REAL, memtable_size=2048);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200)
INSERT INTO t SELECT i, 'v' || i, i * 0.5 FROM c;
-- Reads its own table: terminates, doubles the table.
INSERT INTO t SELECT k + 1000, v || '+', n FROM t;
SELECT count(*), min(k), max(k), sum(n) FROM t;
-- Moving every key up by one collides with the next row: fails as a whole.
UPDATE t SET k = k + 1;
SELECT count(*), min(k), max(k) FROM t;
-- Moving them far enough works; so does negating them.
UPDATE t SET k = k + 5000 WHERE k > 1000;
UPDATE t SET k = -k WHERE k <= 200;
SELECT count(*), min(k), max(k), sum(k) FROM t;
SELECT * FROM t WHERE k BETWEEN -3 AND 6001 ORDER BY k;
UPDATE t SET k = k - 1, v = upper(v) WHERE k > 6195;
SELECT * FROM t WHERE k > 6190;
UPDATE t SET n = n * 2, v = NULL WHERE k % 50 = 0;
SELECT * FROM t WHERE k % 50 = 0;
-- DELETE with WHERE on keys, on other columns, with subqueries on itself.
DELETE FROM t WHERE v LIKE '%7+';
DELETE FROM t WHERE k IN (SELECT k - 1 FROM t WHERE k < 0);
SELECT count(*), sum(k) FROM t;
DELETE FROM t WHERE k = (SELECT max(k) FROM t);
DELETE FROM t WHERE n > (SELECT avg(n) FROM t) AND k > 0;
SELECT count(*), sum(k), min(k), max(k) FROM t;
UPDATE t SET v = (SELECT count(*) FROM t) WHERE k < -195;
SELECT * FROM t WHERE k < -190;
-- Self-join inserts.
CREATE VIRTUAL TABLE s USING lsm(a INTEGER PRIMARY KEY, b);
INSERT INTO s VALUES(1, 'x'), (2, 'y'), (3, 'z');
INSERT INTO s(b) SELECT s1.b || s2.b FROM s AS s1, s AS s2 WHERE s1.a < s2.a ORDER BY 1;
SELECT * FROM s;
INSERT INTO s SELECT a + 10, b FROM s WHERE a IN (SELECT a FROM s WHERE a > 3);
SELECT * FROM s;
UPDATE s SET a = a + 100 WHERE a > (SELECT min(a) FROM s WHERE a > 10);
SELECT * FROM s;
DELETE FROM s WHERE EXISTS (SELECT 1 FROM s AS o WHERE o.a = s.a + 100);
SELECT * FROM s;
-- Composite key updated into itself and into another prefix.
CREATE VIRTUAL TABLE c USING lsm(a, b, v, PRIMARY KEY(a, b));
INSERT INTO c VALUES(1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c');
UPDATE c SET a = a + 1;
UPDATE c SET a = a + 10, b = b * 10;
SELECT * FROM c;
UPDATE c SET b = 0 WHERE a = 11;
UPDATE c SET b = 5 WHERE a = 11 AND b = 10;
SELECT * FROM c;
