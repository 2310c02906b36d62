-- Every conflict mode on INSERT and UPDATE, in autocommit mode and inside
-- transactions: what is kept, the error, and changes().  Expected output:
-- the native twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE VIRTUAL TABLE log USING lsm(msg);
INSERT INTO kv VALUES('a', 1), ('c', 3);
SELECT changes(), total_changes();
-- Plain INSERT (ABORT): the failing statement leaves none of its rows.
INSERT INTO kv VALUES('b', 2), ('a', 10), ('d', 4);
SELECT * FROM kv;
INSERT INTO kv VALUES('b', 2), ('e', NULL), ('d', 4);
SELECT * FROM kv;
-- OR ABORT is the same.
INSERT OR ABORT INTO kv VALUES('b', 2), ('a', 10);
SELECT * FROM kv;
-- OR FAIL keeps the rows before the failing one.
INSERT OR FAIL INTO kv VALUES('b', 2), ('a', 10), ('d', 4);
SELECT * FROM kv;
SELECT changes();
-- OR IGNORE skips conflicting rows (and NOT NULL failures), keeps the rest.
INSERT OR IGNORE INTO kv VALUES('a', 10), ('d', 4), ('e', NULL), ('f', 6);
SELECT changes();
SELECT * FROM kv;
-- OR REPLACE and REPLACE INTO overwrite; a NOT NULL failure still aborts.
INSERT OR REPLACE INTO kv VALUES('a', 100), ('g', 7);
SELECT changes();
REPLACE INTO kv VALUES('b', 200);
INSERT OR REPLACE INTO kv VALUES('h', 8), ('c', NULL);
SELECT * FROM kv;
-- OR ROLLBACK rolls back the whole transaction.
BEGIN;
INSERT INTO kv VALUES('t1', 1);
INSERT INTO log VALUES('in transaction');
INSERT OR ROLLBACK INTO kv VALUES('t2', 2), ('a', 0);
SELECT * FROM kv WHERE k LIKE 't%';
SELECT count(*) FROM log;
COMMIT;
-- Inside a transaction: ABORT undoes only the failing statement.
BEGIN;
INSERT INTO kv VALUES('t3', 3);
INSERT INTO kv VALUES('t4', 4), ('a', 0), ('t5', 5);
INSERT OR FAIL INTO kv VALUES('t6', 6), ('a', 0), ('t7', 7);
INSERT OR IGNORE INTO kv VALUES('t8', 8), ('a', 0), ('t9', 9);
UPDATE kv SET v = v + 1000 WHERE k >= 't';
UPDATE kv SET k = 'a' WHERE k = 't3';
SELECT * FROM kv WHERE k >= 't';
COMMIT;
SELECT * FROM kv;
-- UPDATE with each mode, moving keys onto existing ones.
UPDATE kv SET k = 'b' WHERE k = 'a';
UPDATE OR FAIL kv SET k = k || 'x' WHERE k IN ('f', 'g', 'h', 't3');
SELECT * FROM kv;
UPDATE OR IGNORE kv SET k = 'a' WHERE k IN ('b', 'c', 'd');
SELECT changes();
SELECT * FROM kv;
UPDATE OR REPLACE kv SET k = 'a' WHERE k = 'b';
SELECT changes();
SELECT * FROM kv;
UPDATE kv SET v = NULL WHERE k = 'a';
UPDATE OR IGNORE kv SET v = NULL WHERE k = 'a';
UPDATE OR REPLACE kv SET v = NULL WHERE k = 'a';
SELECT * FROM kv;
BEGIN;
UPDATE OR ROLLBACK kv SET k = 'c' WHERE k = 'a';
SELECT * FROM kv;
ROLLBACK;
-- Composite key messages.
CREATE VIRTUAL TABLE c2 USING lsm(a, b, PRIMARY KEY(b, a));
INSERT INTO c2 VALUES(1, 2), (1, 2);
INSERT INTO c2 VALUES(1, NULL);
INSERT OR IGNORE INTO c2 VALUES(1, 2), (1, 2), (NULL, 3), (2, 2);
SELECT * FROM c2;
-- A rowid table.
INSERT INTO log(rowid, msg) VALUES(1, 'dup');
INSERT OR IGNORE INTO log(rowid, msg) VALUES(1, 'dup');
INSERT OR REPLACE INTO log(rowid, msg) VALUES(1, 'replaced');
SELECT rowid, * FROM log;
