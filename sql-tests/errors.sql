-- CREATE VIRTUAL TABLE arguments: a malformed one fails with a message
-- naming it and leaves nothing on disk; what the table cannot honour
-- (key collations other than BINARY, NOCASE, RTRIM; constraints it would
-- not enforce) is refused.  A table
-- whose directory disappeared reports it on every use and can be dropped.
.load ./lsm_vtab
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_sz=4096);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_size='64Q');
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, memtable_size=0);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, sync=sometimes);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, bloom_bits=65);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, block_size=16);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, cache_size='32X');
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, sync=full, sync=off);
CREATE VIRTUAL TABLE bad USING lsm(a PRIMARY KEY, b PRIMARY KEY);
CREATE VIRTUAL TABLE bad USING lsm(a, b PRIMARY KEY, PRIMARY KEY(a));
CREATE VIRTUAL TABLE bad USING lsm(a, PRIMARY KEY(a, zz));
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY COLLATE UNICODE, v);
CREATE VIRTUAL TABLE bad USING lsm(a, k TEXT COLLATE mine, v, PRIMARY KEY(a, k));
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v UNIQUE);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v DEFAULT 3);
CREATE VIRTUAL TABLE bad USING lsm(k INTEGER PRIMARY KEY AUTOINCREMENT, v);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v CHECK(v > 0));
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY DESC, v);
CREATE VIRTUAL TABLE bad USING lsm(k TEXT PRIMARY KEY, v, dir='sub/dir', bloom_bits=x);
CREATE VIRTUAL TABLE bad USING lsm();
.system test -d test.db-lsm/bad && echo bad-exists || echo bad-absent
.system test -d sub && echo sub-exists || echo sub-absent
SELECT name FROM sqlite_schema ORDER BY name;
-- A column named like the table: the command column is left out, the
-- column works as any other.
CREATE VIRTUAL TABLE t USING lsm(t TEXT PRIMARY KEY, v);
INSERT INTO t VALUES('flush', 1);
INSERT INTO t(t) VALUES('compact');
SELECT * FROM t;
-- A table whose directory has disappeared reports it on every use, and can
-- still be dropped.
CREATE VIRTUAL TABLE gone USING lsm(k PRIMARY KEY, v);
INSERT INTO gone VALUES(1, 'x');
.open test.db
.system rm -r test.db-lsm/gone
.load ./lsm_vtab
SELECT * FROM gone;
INSERT INTO gone VALUES(2, 'y');
SELECT * FROM lsm_stats('gone');
DROP TABLE gone;
SELECT name FROM sqlite_schema ORDER BY name;
