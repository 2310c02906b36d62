-- Commands through the hidden column named like the table (the FTS5
-- convention): flush, compact, integrity-check (which finds a damaged
-- table file and names it); and lsm_stats('t'), one row per level, from
-- which flushes, compactions and write amplification can be read.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v, memtable_size='1M');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<500)
INSERT INTO kv SELECT printf('k%04d', i), printf('%050d', i) FROM n;
-- The hidden column reads as NULL and is not part of SELECT *.
SELECT kv, typeof(kv) FROM kv LIMIT 1;
SELECT count(*) FROM pragma_table_info('kv');
SELECT * FROM kv WHERE k = 'k0001';
-- Everything is in the memtable.
SELECT count(*), sum(files), sum(entries), min(memtable_entries), min(user_bytes) > 0,
       min(wal_bytes) >= min(user_bytes), min(flushes) FROM lsm_stats('kv');
SELECT level, files, entries, tombstones, bytes FROM lsm_stats('kv');
INSERT INTO kv(kv) VALUES('flush');
SELECT changes();
SELECT level, files, entries, tombstones, bytes > 0 FROM lsm_stats('kv') WHERE files > 0;
SELECT min(memtable_entries), min(flushes), min(flush_bytes) > 0 FROM lsm_stats('kv');
DELETE FROM kv WHERE k < 'k0101';
INSERT INTO kv(kv) VALUES('flush');
SELECT level, files, entries, tombstones FROM lsm_stats('kv') WHERE files > 0;
INSERT INTO kv(kv) VALUES('compact');
SELECT sum(files), sum(entries), sum(tombstones), min(compactions) > 0,
       min(compact_write_bytes) > 0, min(compact_read_bytes) > 0 FROM lsm_stats('kv');
SELECT count(*) FROM lsm_stats('kv') WHERE files > 0 AND level = 0;
-- Write amplification, as SQL.
SELECT (wal_bytes + flush_bytes + compact_write_bytes) * 1.0 / user_bytes > 1
  FROM lsm_stats('kv') LIMIT 1;
-- Write stalls: none, the memtable never filled (flush commands do not stall).
SELECT slowdown_count, slowdown_micros, stop_count, stop_micros FROM lsm_stats('kv') LIMIT 1;
-- Reads still see the data; the check passes.
SELECT count(*), min(k), max(k) FROM kv;
INSERT INTO kv(kv) VALUES('integrity-check');
-- Bloom filters: lookups of absent keys are mostly answered by them.
SELECT count(*) FROM kv WHERE k IN ('k0150a', 'k0250a', 'k0350a', 'k0450a', 'k0451a', 'k0200');
SELECT min(bloom_probes) > 0, min(bloom_negatives) > 0 FROM lsm_stats('kv');
-- Commands inside a transaction act on the committed data; the
-- transaction goes on.
BEGIN;
INSERT INTO kv VALUES('late', 'x');
INSERT INTO kv(kv) VALUES('flush');
SELECT count(*) FROM kv;
COMMIT;
SELECT count(*) FROM kv;
-- Unknown commands, stats of what is not an lsm table.
INSERT INTO kv(kv) VALUES('vacuum');
INSERT INTO kv(kv) VALUES(NULL);
SELECT count(*) FROM kv;
SELECT * FROM lsm_stats('nope');
CREATE TABLE plain(a);
SELECT * FROM lsm_stats('plain');
SELECT * FROM lsm_stats();
-- Another schema, and a table not yet used by this connection.
ATTACH 'aux.db' AS aux;
CREATE VIRTUAL TABLE aux.t2 USING lsm(a INTEGER PRIMARY KEY, b);
INSERT INTO aux.t2(b) VALUES('x'), ('y');
SELECT count(*), sum(entries) + min(memtable_entries) FROM lsm_stats('t2', 'aux');
SELECT count(*) FROM lsm_stats('t2');
.open test.db
.load ./lsm_vtab
SELECT sum(entries) FROM lsm_stats('kv');
-- A damaged table file: integrity-check names the file and the offset, and
-- fails with SQLITE_CORRUPT.  (Run by another process, which opens the
-- table beside this one; the file's number depends on when the background
-- thread took its numbers, so it is masked.)
INSERT INTO kv(kv) VALUES('compact');
.once corrupt.sh
SELECT 'f=$(ls test.db-lsm/kv/*.sst | head -n 1); printf XXXXXXXX | dd of=$f bs=1 seek=40 conv=notrunc 2>/dev/null';
.system env -u LD_PRELOAD sh corrupt.sh
.system sqlite3 test.db ".load ./lsm_vtab" "INSERT INTO kv(kv) VALUES('integrity-check')" 2>&1 | sed -E 's/[0-9]{6}[.]sst/NNNNNN.sst/'
