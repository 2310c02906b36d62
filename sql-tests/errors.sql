-- Constraint errors carry SQLite's own messages; bad CREATE arguments fail
-- with a message naming the argument and leave nothing on disk; a table
-- can be opened by one connection of a process at a time.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v TEXT, n INTEGER NOT NULL);
INSERT INTO kv VALUES('a', 'first', 1);
-- Duplicate key: the statement fails as a whole.
INSERT INTO kv VALUES('a', 'second', 2);
INSERT INTO kv VALUES('b', 'b', 2), ('a', 'again', 3), ('c', 'c', 4);
SELECT * FROM kv;
-- A number given for a TEXT key is the same key as its text.
INSERT INTO kv VALUES(1, 'one', 1);
INSERT INTO kv VALUES('1', 'one again', 1);
UPDATE kv SET k = 'a' WHERE k = '1';
-- NULL key, NULL in a NOT NULL column.
INSERT INTO kv VALUES(NULL, 'null key', 5);
INSERT INTO kv VALUES('d', 'null n', NULL);
UPDATE kv SET n = NULL WHERE k = 'a';
-- OR IGNORE skips, and does not count the row as a change.
INSERT OR IGNORE INTO kv VALUES('a', 'ignored', 9), ('e', 'new', 9), (NULL, 'x', 9);
SELECT changes();
INSERT OR FAIL INTO kv VALUES('f', 'kept', 10), ('a', 'fails', 11), ('g', 'never', 12);
SELECT * FROM kv ORDER BY k;
-- Malformed arguments.
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_sz=4096);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_size='64Q');
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_size=0);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, sync=sometimes);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, bloom_bits=65);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, block_size=16);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, sync=full, sync=off);
CREATE VIRTUAL TABLE bad USING lsm(a, b, PRIMARY KEY(a, b));
CREATE VIRTUAL TABLE bad USING lsm(a PRIMARY KEY, b PRIMARY KEY);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY COLLATE NOCASE, v);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, dir='sub/dir', bloom_bits=x);
CREATE VIRTUAL TABLE bad USING lsm();
.system test -d test.db-lsm/bad && echo bad-exists || echo bad-absent
.system test -d sub && echo sub-exists || echo sub-absent
SELECT name FROM sqlite_schema ORDER BY name;
-- The same table from two connections of this process: the one that has
-- it open keeps it, the other gets SQLITE_BUSY.
SELECT count(*) FROM kv;
.connection 1
.open test.db
.load ./lsm_vtab
SELECT count(*) FROM kv;
.connection 0
.connection close 1
SELECT count(*) FROM kv;
-- Closing a connection releases its tables.
.open test.db
.load ./lsm_vtab
SELECT count(*) FROM kv;
-- A table whose directory has disappeared reports it on every use, and can
-- still be dropped.
CREATE VIRTUAL TABLE gone USING lsm(k PRIMARY KEY, v);
INSERT INTO gone VALUES(1, 'x');
.open test.db
.system rm -r test.db-lsm/gone
.load ./lsm_vtab
SELECT * FROM gone;
INSERT INTO gone VALUES(2, 'y');
DROP TABLE gone;
SELECT name FROM sqlite_schema ORDER BY name;
