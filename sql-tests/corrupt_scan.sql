-- A table file with a damaged data block: a scan that reaches the block
-- fails with SQLITE_CORRUPT and a message naming the file and the block's
-- offset (the iterator's own message); reads that never touch the block
-- still work; integrity-check finds the damage too.  (background=off: file
-- numbers do not depend on the background thread's timing.)
.load ./lsm_vtab
CREATE VIRTUAL TABLE t USING lsm(k INTEGER PRIMARY KEY, v TEXT, block_size=256, background=off);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200)
INSERT INTO t SELECT i, printf('value %03d', i) FROM c;
INSERT INTO t(t) VALUES('flush');
.system ls test.db-lsm/t | grep -c 'sst$'
-- Reopening closes the engine (nothing cached); then one byte of the first
-- data block is flipped.
.open test.db
-- (The script runs without LD_PRELOAD: the sanitizer run preloads its
-- runtime, which dd does not want.)
.once corrupt.sh
SELECT 'for f in test.db-lsm/t/*.sst; do printf X | dd of=$f bs=1 seek=10 conv=notrunc 2>/dev/null; done';
.system env -u LD_PRELOAD sh corrupt.sh
.load ./lsm_vtab
SELECT v FROM t WHERE k = 200;
SELECT count(*) FROM t WHERE k > 150;
SELECT count(*) FROM t;
SELECT k FROM t WHERE k < 5 ORDER BY k DESC;
INSERT INTO t(t) VALUES('integrity-check');
-- The table still answers what it can.
SELECT v FROM t WHERE k = 199;
