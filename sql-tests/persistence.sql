-- Data survives closing and reopening the database with each sync mode,
-- with the default and an explicit directory, and across a RENAME.
.load ./lsm_vtab
CREATE VIRTUAL TABLE full_t USING lsm(k INTEGER PRIMARY KEY, v TEXT, sync=full);
CREATE VIRTUAL TABLE off_t USING lsm(k INTEGER PRIMARY KEY, v TEXT, sync=off, memtable_size=2048);
CREATE VIRTUAL TABLE normal_t USING lsm(a TEXT, b BLOB, sync=normal, dir='data/normal', bloom_bits=4, block_size=1024);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<300)
INSERT INTO full_t SELECT i, 'full ' || i FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<300)
INSERT INTO off_t SELECT i, 'off ' || i FROM c;
INSERT INTO normal_t VALUES('x', x'0102'), ('y', NULL), (NULL, x'');
DELETE FROM full_t WHERE k % 3 = 0;
UPDATE off_t SET v = 'changed' WHERE k BETWEEN 100 AND 109;
.system test -d data/normal && echo normal-in-data-dir
SELECT count(*), sum(k) FROM full_t;
SELECT count(*), sum(k), count(*) FILTER (WHERE v = 'changed') FROM off_t;
SELECT rowid, a, quote(b) FROM normal_t;
.open test.db
.load ./lsm_vtab
SELECT count(*), sum(k) FROM full_t;
SELECT count(*), sum(k), count(*) FILTER (WHERE v = 'changed') FROM off_t;
SELECT rowid, a, quote(b) FROM normal_t;
SELECT * FROM full_t WHERE k BETWEEN 1 AND 8;
SELECT * FROM off_t WHERE k > 295;
-- Writes after a reopen go on from the replayed state.
INSERT INTO normal_t(a) VALUES('after reopen');
INSERT INTO full_t VALUES(3, 'three again');
INSERT INTO full_t VALUES(4, 'four again');
-- RENAME moves the default directory along.
ALTER TABLE off_t RENAME TO off_renamed;
.system test -d test.db-lsm/off_renamed && echo renamed-dir-exists || echo no-renamed-dir
.system test -d test.db-lsm/off_t && echo old-dir-exists || echo old-dir-absent
.open test.db
.load ./lsm_vtab
SELECT rowid, a, quote(b) FROM normal_t;
SELECT * FROM full_t WHERE k BETWEEN 1 AND 8;
SELECT count(*), sum(k) FROM off_renamed;
DROP TABLE normal_t;
.system test -d data/normal && echo normal-exists || echo normal-absent
