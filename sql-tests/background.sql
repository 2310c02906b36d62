-- The background option: by default a table flushes and compacts on its
-- engine's background thread; background=off does it inline, in the commit
-- that finds the memtable full, so the counters below are exact.  Either
-- way the rows are the same.
.load ./lsm_vtab
CREATE VIRTUAL TABLE inl USING lsm(k INTEGER PRIMARY KEY, v TEXT, memtable_size='8K', background=off);
CREATE VIRTUAL TABLE bg USING lsm(k INTEGER PRIMARY KEY, v TEXT, memtable_size='8K');
-- Two commits each: the second finds the memtable full and switches it.
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<1000)
INSERT INTO inl SELECT i, printf('value %05d %.*c', i, i % 40, 'x') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1001 UNION ALL SELECT i+1 FROM c WHERE i<2000)
INSERT INTO inl SELECT i, printf('value %05d %.*c', i, i % 40, 'x') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<1000)
INSERT INTO bg SELECT i, printf('value %05d %.*c', i, i % 40, 'x') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1001 UNION ALL SELECT i+1 FROM c WHERE i<2000)
INSERT INTO bg SELECT i, printf('value %05d %.*c', i, i % 40, 'x') FROM c;
-- Inline: the second commit flushed the first one's memtable before it
-- returned.  Neither table's writers stalled.
SELECT sum(files), min(flushes), min(memtable_entries) FROM lsm_stats('inl');
SELECT min(slowdown_count), min(stop_count) FROM lsm_stats('inl');
SELECT min(slowdown_count), min(stop_count) FROM lsm_stats('bg');
INSERT INTO inl(inl) VALUES('compact');
INSERT INTO bg(bg) VALUES('compact');
SELECT count(*), sum(length(v)) FROM inl;
SELECT count(*), sum(length(v)) FROM bg;
SELECT count(*) FROM inl JOIN bg USING(k) WHERE inl.v = bg.v;
INSERT INTO inl(inl) VALUES('integrity-check');
INSERT INTO bg(bg) VALUES('integrity-check');
-- Values: on / off, 1 / 0; anything else is refused.
CREATE VIRTUAL TABLE t1 USING lsm(k, background=1);
CREATE VIRTUAL TABLE t2 USING lsm(k, background='OFF');
CREATE VIRTUAL TABLE t3 USING lsm(k, background=sometimes);
