-- Writes to a table while a cursor on it is open, in the same statement:
-- a SELECT on the lsm table feeds a native helper table whose triggers
-- write the lsm table (DELETE ahead of the cursor, UPDATE of keys, INSERT
-- behind and ahead).  Each cursor sees the table as of its start, so the
-- outer scan visits exactly the rows that existed when it began, and the
-- writes all land.  (A native table's cursor would see some of the
-- writes: that part is not compared with a native twin.)
.load ./lsm_vtab
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v, memtable_size=1024);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<20)
INSERT INTO t SELECT i, 'v' || i FROM n;
CREATE TEMP TABLE seen(k, v);
CREATE TEMP TRIGGER del_next AFTER INSERT ON seen BEGIN
  DELETE FROM t WHERE k = NEW.k + 1;
  UPDATE t SET v = v || '+' WHERE k = NEW.k + 2;
  INSERT INTO t VALUES(NEW.k + 100, 'new');
END;
-- In autocommit mode: one statement, one transaction.
INSERT INTO seen SELECT k, v FROM t WHERE k <= 20;
SELECT count(*), group_concat(k) FROM seen;
SELECT count(*), min(k), max(k) FROM t;
SELECT k, v FROM t WHERE k <= 20;
-- Inside a transaction (the cursor's view includes the transaction's own
-- earlier writes), descending, over a range.
DELETE FROM seen;
DROP TRIGGER del_next;
CREATE TEMP TRIGGER move_up AFTER INSERT ON seen BEGIN
  UPDATE t SET k = k + 1000 WHERE k = NEW.k;
  INSERT INTO t VALUES(NEW.k + 2000, 'copy');
END;
BEGIN;
INSERT INTO t VALUES(50, 'fifty');
INSERT INTO seen SELECT k, v FROM t WHERE k BETWEEN 40 AND 110 ORDER BY k DESC;
SELECT count(*), group_concat(k) FROM seen;
SELECT group_concat(k) FROM t WHERE k BETWEEN 40 AND 110;
SELECT group_concat(k) FROM t WHERE k > 1000 AND k < 2000;
SELECT count(*) FROM t WHERE k > 2000;
ROLLBACK;
SELECT count(*), min(k), max(k) FROM t;
-- A self-join whose inner lookups see the writes made so far.
DELETE FROM seen;
DROP TRIGGER move_up;
CREATE TEMP TRIGGER del_partner AFTER INSERT ON seen BEGIN
  DELETE FROM t WHERE k = NEW.v;
END;
INSERT INTO seen SELECT a.k, b.k FROM t AS a JOIN t AS b ON b.k = a.k + 100 WHERE a.k < 10;
SELECT group_concat(k || ':' || v) FROM seen;
SELECT count(*) FROM t WHERE k > 100;
-- IN lists while the same rows are deleted, outside and inside a
-- transaction that has written.
DELETE FROM seen;
DROP TRIGGER del_partner;
INSERT INTO t VALUES(3, 'three'), (5, 'five'), (7, 'seven');
CREATE TEMP TRIGGER del_all AFTER INSERT ON seen BEGIN
  DELETE FROM t WHERE k IN (1, 3, 5, 7);
END;
INSERT INTO seen SELECT k, v FROM t WHERE k IN (1, 3, 5, 7);
SELECT group_concat(k) FROM seen;
SELECT count(*) FROM t WHERE k IN (1, 3, 5, 7);
DELETE FROM seen;
BEGIN;
INSERT INTO t VALUES(1, 'one'), (3, 'three'), (5, 'five'), (7, 'seven');
INSERT INTO seen SELECT k, v FROM t WHERE k IN (7, 5, 3, 1) ORDER BY k DESC;
SELECT group_concat(k) FROM seen;
SELECT count(*) FROM t WHERE k IN (1, 3, 5, 7);
COMMIT;
