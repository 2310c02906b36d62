-- One table seen by several connections of this process (they share one
-- engine) and by other processes (each opens its own beside it).  A
-- connection's uncommitted writes are its own; a writer holds the table's
-- write lock until COMMIT or ROLLBACK, so a second writer, of this process
-- or another, gets SQLITE_BUSY naming the table (after its busy timeout).
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v);
INSERT INTO kv VALUES('a', 1);
.connection 1
.open test.db
.load ./lsm_vtab
SELECT * FROM kv;
-- Connection 0 writes in a transaction: connection 1 still reads the
-- committed table, and cannot write (SQLite's own lock on test.db).
.connection 0
BEGIN;
INSERT INTO kv VALUES('b', 2);
SELECT * FROM kv;
.connection 1
SELECT * FROM kv;
INSERT INTO kv VALUES('c', 3);
.connection 0
COMMIT;
.connection 1
SELECT * FROM kv;
INSERT INTO kv VALUES('c', 3);
BEGIN;
DELETE FROM kv WHERE k = 'a';
.connection 0
SELECT * FROM kv;
.connection 1
ROLLBACK;
.connection 0
SELECT * FROM kv;
-- Another process opens the table while this one has it, and sees every
-- commit.
.system sqlite3 test.db ".load ./lsm_vtab" "SELECT * FROM kv" 2>&1
-- And after every connection of this process has let go of it.
.connection close 1
.open other.db
.system sqlite3 test.db ".load ./lsm_vtab" "SELECT * FROM kv" 2>&1
.open test.db
.load ./lsm_vtab
-- The same directory used by tables of two database files: here only the
-- lsm write lock keeps the writers apart.
CREATE VIRTUAL TABLE s USING lsm(k INTEGER PRIMARY KEY, v, dir='shared');
INSERT INTO s VALUES(1, 'from test.db');
BEGIN;
INSERT INTO s VALUES(2, 'pending');
.connection 2
.open other.db
.load ./lsm_vtab
CREATE VIRTUAL TABLE s2 USING lsm(k INTEGER PRIMARY KEY, v, dir='shared');
SELECT * FROM s2;
INSERT INTO s2 VALUES(3, 'from other.db');
.timeout 200
INSERT INTO s2 VALUES(3, 'from other.db');
.connection 0
COMMIT;
.connection 2
INSERT INTO s2 VALUES(3, 'from other.db');
INSERT INTO s2 VALUES(2, 'dup');
SELECT * FROM s2;
.connection 0
SELECT * FROM s;
-- last_insert_rowid and uniqueness see the other connection's commits.
INSERT INTO s(v) VALUES('next');
SELECT last_insert_rowid();
.connection 2
SELECT * FROM s2 WHERE k > 3;
-- Another process writing the shared directory while this one holds its
-- write lock gets SQLITE_BUSY naming the other process; after the COMMIT
-- its write goes through, and this process sees it.
.connection 0
BEGIN;
INSERT INTO s VALUES(10, 'held');
.system sqlite3 other.db ".load ./lsm_vtab" "INSERT INTO s2 VALUES(11, 'other process')" 2>&1
COMMIT;
.system sqlite3 other.db ".load ./lsm_vtab" "INSERT INTO s2 VALUES(11, 'other process')" "SELECT * FROM s2 WHERE k >= 10" 2>&1
SELECT * FROM s WHERE k >= 10;
