-- EXPLAIN QUERY PLAN for each query shape.  The plan reads
--   INDEX <idxNum>:<kind>
-- kind: point (whole key fixed by =), in (IN lists on key columns, one
-- lookup or prefix range per combination, in key order), range (a fixed
-- key prefix and/or bounds on the next key column), scan.  idxNum bits:
-- 1 lower bound, 2 ... inclusive, 4 upper bound, 8 ... inclusive,
-- 16 descending, 32 LIMIT, 64 OFFSET, 128 OFFSET skipped by the scan,
-- 256 lookup by the hidden encoded key, and 4096 * (p + 1) when the
-- constraints on key columns p and later are not literals on a TEXT or
-- untyped key (parameters, other tables' columns, IN lists): their own
-- affinity may change how SQLite compares them, so the scan reads a
-- superset and SQLite checks those constraints again.  No "USE TEMP
-- B-TREE FOR ORDER BY" means the key order served the ORDER BY.  LIMIT and
-- OFFSET reach the scan only on SQLite versions that offer them safely
-- (ext/quirks.h); 3.40 does not, so the plans below keep them in SQLite.
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v);
CREATE VIRTUAL TABLE r USING lsm(id INTEGER PRIMARY KEY, x);
CREATE VIRTUAL TABLE c USING lsm(a, b, c, v, PRIMARY KEY(a, b, c));
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1000)
INSERT INTO kv SELECT printf('k%04d', i), i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1000)
INSERT INTO r SELECT i, i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<1000)
INSERT INTO c SELECT i % 10, i % 7, i, i FROM n;
.print -- point lookups
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k = 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k IS 'a';
EXPLAIN QUERY PLAN SELECT * FROM r WHERE id = 5;
EXPLAIN QUERY PLAN SELECT * FROM r WHERE rowid = 5;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1 AND b = 2 AND c = 3;
.print -- ranges
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k > 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k >= 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k < 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k <= 'a';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k BETWEEN 'a' AND 'b';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k > 'a' AND k < 'b' ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM r WHERE rowid BETWEEN 1 AND 5 ORDER BY id DESC;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1 AND b = 2;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1 AND b > 2;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1 AND b = 2 AND c >= 3 AND c <= 9;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a > 1;
.print -- IN lists
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k IN ('a', 'b');
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k IN ('a', 'b') ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM r WHERE id IN (SELECT x FROM r WHERE x < 3);
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a IN (1, 2) AND b = 3 AND c IN (4, 5);
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a IN (1, 2) AND b > 3 ORDER BY a, b;
.print -- scans and ORDER BY
EXPLAIN QUERY PLAN SELECT * FROM kv;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY k;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY k DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY v;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY k, v;
EXPLAIN QUERY PLAN SELECT * FROM c ORDER BY a, b, c;
EXPLAIN QUERY PLAN SELECT * FROM c ORDER BY a DESC, b DESC;
EXPLAIN QUERY PLAN SELECT * FROM c ORDER BY a, b DESC;
EXPLAIN QUERY PLAN SELECT * FROM c ORDER BY b;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 5 ORDER BY b, c;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 5 AND b = 1 ORDER BY c DESC;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE v = 3;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k = 'a' COLLATE NOCASE;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k LIKE 'k1%';
.print -- LIMIT and OFFSET
EXPLAIN QUERY PLAN SELECT * FROM kv LIMIT 5;
EXPLAIN QUERY PLAN SELECT * FROM kv LIMIT 5 OFFSET 10;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k > 'k05' ORDER BY k DESC LIMIT 5 OFFSET 10;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE v > 5 LIMIT 5;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY v LIMIT 5;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a IN (1, 2) LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM r WHERE id > ?1 LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM r WHERE id >= ?1 LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE (a, b) > (1, 2) LIMIT 3;
.print -- parameters
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k = ?1;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE k > ?1 AND k < 'x';
EXPLAIN QUERY PLAN SELECT * FROM r WHERE id = ?1;
EXPLAIN QUERY PLAN SELECT * FROM c WHERE a = 1 AND b = ?1;
.print -- joins: the inner table is looked up by key
EXPLAIN QUERY PLAN SELECT * FROM r JOIN kv ON kv.k = r.x;
EXPLAIN QUERY PLAN SELECT * FROM kv JOIN r ON r.id = kv.v WHERE kv.k < 'k0100';
EXPLAIN QUERY PLAN SELECT * FROM c AS c1 JOIN c AS c2 ON c2.a = c1.b AND c2.b = c1.a AND c2.c = c1.c;
