-- Savepoints nest as natively: ROLLBACK TO undoes exactly what followed
-- the savepoint (and keeps it open), RELEASE merges into the enclosing
-- level; a transaction reads its own writes through every access path
-- (point, IN, range, scan, both directions).  Expected output: the native
-- twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE a USING lsm(k INTEGER PRIMARY KEY, v);
CREATE VIRTUAL TABLE b USING lsm(x TEXT, y, PRIMARY KEY(x, y));
INSERT INTO a VALUES(1, 'one'), (2, 'two');
INSERT INTO b VALUES('p', 1);
BEGIN;
INSERT INTO a VALUES(3, 'three');
SAVEPOINT s1;
DELETE FROM a WHERE k = 1;
INSERT INTO b VALUES('q', 2);
SAVEPOINT s2;
UPDATE a SET v = 'TWO' WHERE k = 2;
INSERT INTO a(v) VALUES('auto');
SELECT * FROM a;
SELECT * FROM a WHERE k = 2;
SELECT * FROM a WHERE k IN (1, 2, 4);
SELECT * FROM a WHERE k > 1 ORDER BY k DESC;
SELECT * FROM b;
ROLLBACK TO s2;
SELECT * FROM a;
INSERT INTO a(v) VALUES('auto again');
SAVEPOINT s3;
DELETE FROM b;
SELECT count(*) FROM b;
RELEASE s3;
SELECT count(*) FROM b;
ROLLBACK TO s1;
SELECT * FROM a;
SELECT * FROM b;
SAVEPOINT s4;
INSERT INTO b VALUES('r', 3);
RELEASE s1;
SELECT * FROM b;
COMMIT;
SELECT * FROM a;
SELECT * FROM b;
-- A savepoint opens a transaction; ROLLBACK TO it keeps it open.
SAVEPOINT outer1;
INSERT INTO a VALUES(10, 'ten');
SAVEPOINT inner1;
INSERT INTO a VALUES(11, 'eleven');
ROLLBACK TO outer1;
SELECT * FROM a WHERE k >= 10;
INSERT INTO a VALUES(12, 'twelve');
RELEASE outer1;
SELECT * FROM a WHERE k >= 10;
-- ROLLBACK of the whole transaction from inside savepoints.
BEGIN;
SAVEPOINT x;
INSERT INTO a VALUES(20, 'twenty');
SAVEPOINT y;
INSERT INTO b VALUES('z', 26);
ROLLBACK;
SELECT * FROM a WHERE k >= 10;
SELECT * FROM b;
-- A failing statement inside nested savepoints undoes only itself.
BEGIN;
SAVEPOINT p;
INSERT INTO a VALUES(30, 'thirty');
INSERT INTO a VALUES(31, 'x'), (30, 'dup'), (32, 'y');
UPDATE a SET k = k + 1 WHERE k >= 12;
SELECT * FROM a WHERE k >= 10;
ROLLBACK TO p;
INSERT INTO a VALUES(33, 'thirty-three');
COMMIT;
SELECT * FROM a WHERE k >= 10;
-- Savepoints opened before the table's first write in the transaction.
BEGIN;
SAVEPOINT early;
SELECT count(*) FROM a;
SAVEPOINT later;
INSERT INTO a VALUES(40, 'forty');
ROLLBACK TO early;
INSERT INTO a VALUES(41, 'forty-one');
COMMIT;
SELECT * FROM a WHERE k >= 40;
