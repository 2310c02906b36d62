-- ALTER TABLE ... RENAME TO keeps the data (the default directory follows
-- the name, after a note that lets a rolled-back rename find it; an
-- explicit dir= stays), DROP TABLE removes the directory and the notes.
-- A new table may take the old name; a directory holding the data of a
-- rolled-back rename is not handed to another table.
-- Neither is allowed while another connection has the table open.
.load ./lsm_vtab
CREATE VIRTUAL TABLE a USING lsm(k INTEGER PRIMARY KEY, v);
CREATE VIRTUAL TABLE b USING lsm(k TEXT PRIMARY KEY, v, dir='bdata');
CREATE VIRTUAL TABLE c USING lsm(x, y, PRIMARY KEY(x, y));
INSERT INTO a VALUES(1, 'one'), (2, 'two');
INSERT INTO b VALUES('x', 1);
INSERT INTO c VALUES(1, 2);
ALTER TABLE a RENAME TO a2;
.system test -d test.db-lsm/a2 && echo a2-dir || echo a2-missing
.system test -d test.db-lsm/a && echo a-dir || echo a-gone
.system ls -A test.db-lsm
SELECT * FROM a2;
INSERT INTO a2(v) VALUES('three');
INSERT INTO a2(a2) VALUES('flush');
SELECT * FROM a2;
ALTER TABLE b RENAME TO b2;
.system test -d bdata && echo bdata-stays
SELECT * FROM b2;
-- The new name's directory is in the way.
.system mkdir -p test.db-lsm/c2
ALTER TABLE c RENAME TO c2;
SELECT name FROM sqlite_schema ORDER BY name;
SELECT * FROM c;
.system rmdir test.db-lsm/c2
-- Uncommitted writes to the table.
BEGIN;
INSERT INTO c VALUES(3, 4);
ALTER TABLE c RENAME TO c3;
ROLLBACK;
ALTER TABLE c RENAME TO c3;
SELECT * FROM c3;
-- Reopen: the renamed tables come back with their data.
.open test.db
.load ./lsm_vtab
SELECT * FROM a2;
SELECT * FROM b2;
SELECT * FROM c3;
-- Another connection has the table open.
.connection 1
.open test.db
.load ./lsm_vtab
SELECT count(*) FROM a2;
.connection 0
ALTER TABLE a2 RENAME TO a3;
DROP TABLE a2;
.connection close 1
ALTER TABLE a2 RENAME TO a3;
SELECT * FROM a3;
-- DROP removes the directories (and the default parent when empty).
DROP TABLE a3;
.system test -d test.db-lsm/a3 && echo a3-dir || echo a3-gone
DROP TABLE b2;
.system test -d bdata && echo bdata-dir || echo bdata-gone
.system test -d test.db-lsm && echo parent-dir || echo parent-gone
DROP TABLE c3;
.system test -d test.db-lsm && echo parent-dir || echo parent-gone
SELECT count(*) FROM sqlite_schema;
-- A table dropped and created again starts empty.
CREATE VIRTUAL TABLE a USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO a VALUES(1, 'new');
DROP TABLE a;
CREATE VIRTUAL TABLE a USING lsm(k INTEGER PRIMARY KEY, v);
SELECT count(*) FROM a;
-- Rename, then a new table under the old name: two tables, two directories.
INSERT INTO a VALUES(7, 'seven');
ALTER TABLE a RENAME TO old_a;
CREATE VIRTUAL TABLE a USING lsm(k INTEGER PRIMARY KEY, v);
INSERT INTO a VALUES(1, 'fresh');
SELECT 'a', * FROM a;
SELECT 'old_a', * FROM old_a;
.system ls -A test.db-lsm
-- A rename SQLite rolled back after the module moved the directory (as when
-- it runs out of memory reloading the schema), simulated: the directory
-- and its note as xRename leaves them, the schema still says old_a.
.open test.db
.system mv test.db-lsm/old_a test.db-lsm/moved && printf moved > test.db-lsm/.alias-old_a
.load ./lsm_vtab
SELECT 'old_a', * FROM old_a;
CREATE VIRTUAL TABLE moved USING lsm(k, v);
ALTER TABLE old_a RENAME TO moved;
SELECT 'moved', * FROM moved;
.system ls -A test.db-lsm
