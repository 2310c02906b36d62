-- The example session of the README, then enough data through a 4 KiB
-- memtable that it is flushed to many tables and compacted, checked before
-- and after reopening the database.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v TEXT, memtable_size=4096);
INSERT INTO kv VALUES('user:1','alice'), ('user:2','bob');
UPDATE kv SET v='alice_updated' WHERE k='user:1';
DELETE FROM kv WHERE k='user:2';
SELECT * FROM kv WHERE k BETWEEN 'user:0' AND 'user:9';
-- 2000 rows with 100-byte values, 50 rows per statement (each commit
-- overflows the memtable).
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<50) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 51 UNION ALL SELECT i+1 FROM c WHERE i<100) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 101 UNION ALL SELECT i+1 FROM c WHERE i<150) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 151 UNION ALL SELECT i+1 FROM c WHERE i<200) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 201 UNION ALL SELECT i+1 FROM c WHERE i<250) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 251 UNION ALL SELECT i+1 FROM c WHERE i<300) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 301 UNION ALL SELECT i+1 FROM c WHERE i<350) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 351 UNION ALL SELECT i+1 FROM c WHERE i<400) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 401 UNION ALL SELECT i+1 FROM c WHERE i<450) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 451 UNION ALL SELECT i+1 FROM c WHERE i<500) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 501 UNION ALL SELECT i+1 FROM c WHERE i<550) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 551 UNION ALL SELECT i+1 FROM c WHERE i<600) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 601 UNION ALL SELECT i+1 FROM c WHERE i<650) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 651 UNION ALL SELECT i+1 FROM c WHERE i<700) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 701 UNION ALL SELECT i+1 FROM c WHERE i<750) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 751 UNION ALL SELECT i+1 FROM c WHERE i<800) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 801 UNION ALL SELECT i+1 FROM c WHERE i<850) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 851 UNION ALL SELECT i+1 FROM c WHERE i<900) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 901 UNION ALL SELECT i+1 FROM c WHERE i<950) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 951 UNION ALL SELECT i+1 FROM c WHERE i<1000) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1001 UNION ALL SELECT i+1 FROM c WHERE i<1050) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1051 UNION ALL SELECT i+1 FROM c WHERE i<1100) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1101 UNION ALL SELECT i+1 FROM c WHERE i<1150) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1151 UNION ALL SELECT i+1 FROM c WHERE i<1200) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1201 UNION ALL SELECT i+1 FROM c WHERE i<1250) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1251 UNION ALL SELECT i+1 FROM c WHERE i<1300) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1301 UNION ALL SELECT i+1 FROM c WHERE i<1350) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1351 UNION ALL SELECT i+1 FROM c WHERE i<1400) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1401 UNION ALL SELECT i+1 FROM c WHERE i<1450) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1451 UNION ALL SELECT i+1 FROM c WHERE i<1500) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1501 UNION ALL SELECT i+1 FROM c WHERE i<1550) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1551 UNION ALL SELECT i+1 FROM c WHERE i<1600) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1601 UNION ALL SELECT i+1 FROM c WHERE i<1650) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1651 UNION ALL SELECT i+1 FROM c WHERE i<1700) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1701 UNION ALL SELECT i+1 FROM c WHERE i<1750) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1751 UNION ALL SELECT i+1 FROM c WHERE i<1800) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1801 UNION ALL SELECT i+1 FROM c WHERE i<1850) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1851 UNION ALL SELECT i+1 FROM c WHERE i<1900) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1901 UNION ALL SELECT i+1 FROM c WHERE i<1950) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
WITH RECURSIVE c(i) AS (SELECT 1951 UNION ALL SELECT i+1 FROM c WHERE i<2000) INSERT INTO kv SELECT printf('key%05d', i), printf('%0100d', i) FROM c;
-- Overwrites and deletes spread over the flushed tables.
DELETE FROM kv WHERE k >= 'key00500' AND k < 'key00600';
UPDATE kv SET v = 'updated:' || substr(v, 96) WHERE k >= 'key01500' AND k < 'key01510';
DELETE FROM kv WHERE k = 'key00042';
INSERT INTO kv VALUES('key00042', 'reinserted');
.system ls test.db-lsm/kv | grep -q sst && echo has-tables
-- 40 overflowing commits, yet fewer tables: compaction merged them.
.system test $(ls test.db-lsm/kv | grep -c sst) -lt 40 && echo compacted
SELECT count(*), min(k), max(k) FROM kv;
SELECT sum(length(v)), sum(CAST(substr(v, 90) AS INTEGER)) FROM kv WHERE k LIKE 'key%';
SELECT count(*) FROM kv WHERE k >= 'key00100' AND k < 'key00200';
SELECT count(*) FROM kv WHERE k > 'key00450' AND k <= 'key00650';
SELECT count(*) FROM kv WHERE k > 'key01990';
SELECT count(*) FROM kv WHERE k < 'key00011';
SELECT k, substr(v, 95) FROM kv WHERE k BETWEEN 'key00998' AND 'key01002';
SELECT k, v FROM kv WHERE k >= 'key01498' AND k < 'key01503';
SELECT k FROM kv ORDER BY k DESC LIMIT 4;
SELECT k FROM kv WHERE k < 'key00600' ORDER BY k DESC LIMIT 3;
SELECT v FROM kv WHERE k = 'key00042';
SELECT count(*) FROM kv WHERE k = 'key00550';
SELECT * FROM kv WHERE k = 'user:1';
-- Reopen: the same answers from disk.
.open test.db
.load ./lsm_vtab
SELECT count(*), min(k), max(k) FROM kv;
SELECT sum(length(v)), sum(CAST(substr(v, 90) AS INTEGER)) FROM kv WHERE k LIKE 'key%';
SELECT count(*) FROM kv WHERE k >= 'key00100' AND k < 'key00200';
SELECT count(*) FROM kv WHERE k > 'key00450' AND k <= 'key00650';
SELECT count(*) FROM kv WHERE k > 'key01990';
SELECT count(*) FROM kv WHERE k < 'key00011';
SELECT k, substr(v, 95) FROM kv WHERE k BETWEEN 'key00998' AND 'key01002';
SELECT k, v FROM kv WHERE k >= 'key01498' AND k < 'key01503';
SELECT k FROM kv ORDER BY k DESC LIMIT 4;
SELECT k FROM kv WHERE k < 'key00600' ORDER BY k DESC LIMIT 3;
SELECT v FROM kv WHERE k = 'key00042';
SELECT count(*) FROM kv WHERE k = 'key00550';
SELECT * FROM kv WHERE k = 'user:1';
