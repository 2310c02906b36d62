-- Transactions: a transaction reads its own writes, ROLLBACK discards them,
-- COMMIT keeps them; savepoints and failing statements undo exactly their
-- part.  DROP TABLE removes the table's directory.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v, memtable_size=4096);
INSERT INTO kv VALUES('base', 0);
BEGIN;
INSERT INTO kv VALUES('a', 1), ('b', 2);
UPDATE kv SET v = v + 100 WHERE k = 'base';
DELETE FROM kv WHERE k = 'b';
SELECT * FROM kv;
SELECT v FROM kv WHERE k = 'a';
SELECT count(*) FROM kv WHERE k = 'b';
SELECT k FROM kv ORDER BY k DESC;
ROLLBACK;
SELECT * FROM kv;
BEGIN;
INSERT INTO kv VALUES('a', 1), ('b', 2);
UPDATE kv SET v = v + 100 WHERE k = 'base';
COMMIT;
SELECT * FROM kv;
-- A failing statement inside a transaction undoes only itself.
BEGIN;
INSERT INTO kv VALUES('c', 3);
INSERT INTO kv VALUES('d', 4), ('a', 'duplicate'), ('e', 5);
UPDATE kv SET k = 'b' WHERE k = 'c';
SELECT * FROM kv;
COMMIT;
SELECT * FROM kv;
-- Savepoints.
BEGIN;
INSERT INTO kv VALUES('s0', 0);
SAVEPOINT one;
INSERT INTO kv VALUES('s1', 1);
SAVEPOINT two;
INSERT INTO kv VALUES('s2', 2);
DELETE FROM kv WHERE k = 'a';
ROLLBACK TO two;
SELECT k FROM kv WHERE k >= 'a' AND k < 't';
INSERT INTO kv VALUES('s3', 3);
RELEASE two;
ROLLBACK TO one;
SELECT k FROM kv WHERE k >= 'a' AND k < 't';
INSERT INTO kv VALUES('s4', 4);
COMMIT;
SELECT k FROM kv WHERE k >= 'a' AND k < 't';
-- A SAVEPOINT outside BEGIN starts a transaction; ROLLBACK TO it undoes
-- everything but leaves it open.
SAVEPOINT outer_sp;
INSERT INTO kv VALUES('t1', 1);
ROLLBACK TO outer_sp;
INSERT INTO kv VALUES('t2', 2);
RELEASE outer_sp;
SELECT k FROM kv WHERE k >= 't';
-- A big transaction that is larger than the memtable, then rolled back.
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<500)
INSERT INTO kv SELECT printf('big%04d', i), zeroblob(100) FROM c;
SELECT count(*) FROM kv;
ROLLBACK;
SELECT count(*) FROM kv;
-- Committed data survives a reopen; rolled back data does not.
.open test.db
.load ./lsm_vtab
SELECT * FROM kv;
.system test -d test.db-lsm/kv && echo dir-exists || echo dir-absent
DROP TABLE kv;
.system test -d test.db-lsm/kv && echo dir-exists || echo dir-absent
.system test -d test.db-lsm && echo parent-exists || echo parent-absent
SELECT count(*) FROM sqlite_schema;
