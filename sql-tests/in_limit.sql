-- IN (...) on the key (a series of point lookups, in key order), and
-- LIMIT / OFFSET (applied by the scan when nothing else filters, on SQLite
-- versions that allow it), in every combination with ranges, ORDER BY and
-- other constraints, including filters SQLite keeps to itself (a column
-- compared with another).  Expected output: the native twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE t USING lsm(k INT PRIMARY KEY, v, memtable_size=1024);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<100)
INSERT INTO t SELECT i * 2, 'v' || i FROM c;
SELECT k FROM t WHERE k IN (8, 2, 4, 8, 5, '6', 7.0, 400, NULL, 'x');
SELECT k FROM t WHERE k IN (8, 2, 4, 8, 5, '6') ORDER BY k DESC;
SELECT k FROM t WHERE k IN (SELECT k * 2 FROM t WHERE k < 10);
SELECT k FROM t WHERE k IN ();
SELECT k FROM t WHERE k IN (NULL);
SELECT k FROM t WHERE k NOT IN (SELECT k FROM t WHERE k > 6);
SELECT k FROM t WHERE k IN (2, 4, 6, 8) AND v > 'v2';
SELECT k FROM t WHERE k IN (2, 4, 6, 8) LIMIT 2;
SELECT k FROM t WHERE k IN (2, 4, 6, 8) ORDER BY k DESC LIMIT 2 OFFSET 1;
SELECT k FROM t WHERE k IN (2, 4, 6, 8) AND k > 3;
SELECT k FROM t WHERE k IN (2, 4, 6, 8) AND k IN (4, 8, 10);
SELECT count(*) FROM t AS a WHERE a.k IN (SELECT b.k + 2 FROM t AS b);
-- LIMIT and OFFSET.
SELECT k FROM t LIMIT 3;
SELECT k FROM t LIMIT 3 OFFSET 5;
SELECT k FROM t ORDER BY k DESC LIMIT 3 OFFSET 5;
SELECT k FROM t LIMIT 0;
SELECT k FROM t LIMIT -1 OFFSET 197;
SELECT k FROM t LIMIT 2 OFFSET -3;
SELECT k FROM t LIMIT 5 OFFSET 198;
SELECT k FROM t LIMIT 3, 2;
SELECT k FROM t WHERE k > 50 LIMIT 3;
SELECT k FROM t WHERE k > 50 AND k <= 60 LIMIT 10 OFFSET 2;
SELECT k FROM t WHERE k < 50 ORDER BY k DESC LIMIT 3 OFFSET 1;
SELECT k FROM t WHERE k = 20 LIMIT 1 OFFSET 0;
SELECT k FROM t WHERE k = 20 LIMIT 1 OFFSET 1;
SELECT k, v FROM t WHERE v LIKE 'v1%' LIMIT 3 OFFSET 2;
SELECT k FROM t WHERE k > 50 AND v < 'v5' LIMIT 3;
SELECT k FROM t ORDER BY v LIMIT 3 OFFSET 1;
SELECT k FROM t WHERE k > 150 OR k < 5 LIMIT 3;
SELECT DISTINCT k % 3 FROM t LIMIT 2;
SELECT count(*) FROM (SELECT k FROM t LIMIT 10 OFFSET 95);
SELECT k FROM t LIMIT (SELECT 2) OFFSET (SELECT count(*) FROM t) - 3;
.param set :lim 2
.param set :off 4
SELECT k FROM t LIMIT :lim OFFSET :off;
SELECT k FROM t LIMIT 'x';
SELECT k FROM t LIMIT 2.5;
SELECT k FROM t LIMIT '2';
SELECT k FROM t WHERE k >= 2 * length(v) LIMIT 3 OFFSET 1;
SELECT k FROM t WHERE length(v) * 40 > k ORDER BY k DESC LIMIT 3 OFFSET 2;
SELECT k FROM t WHERE k > 0 UNION ALL SELECT k FROM t WHERE k < 10 LIMIT 3 OFFSET 99;
-- Composite keys: IN on any prefix column, with ranges and ORDER BY.
CREATE VIRTUAL TABLE c USING lsm(a, b, v, PRIMARY KEY(a, b));
WITH RECURSIVE x(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM x WHERE i<29)
INSERT INTO c SELECT i / 6, i % 6, i FROM x;
SELECT v FROM c WHERE a IN (3, 1) AND b IN (5, 0, 2);
SELECT v FROM c WHERE a IN (3, 1) AND b IN (5, 0, 2) ORDER BY a DESC, b DESC;
SELECT v FROM c WHERE a IN (3, 1) AND b > 3;
SELECT v FROM c WHERE a IN (4, 0, 2) ORDER BY a, b LIMIT 4 OFFSET 3;
SELECT v FROM c WHERE a = 2 AND b IN (4, 1) ORDER BY b DESC;
SELECT v FROM c WHERE a IN (1, 2) AND b = 3;
SELECT v FROM c WHERE b IN (1, 2) AND a < 2;
SELECT v FROM c WHERE a >= 3 LIMIT 4;
SELECT v FROM c WHERE a = 1 AND b >= 2 ORDER BY b DESC LIMIT 2;
