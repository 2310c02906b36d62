-- Keys compared with values that carry an affinity of their own (columns
-- of other tables, subqueries), with parameters, and with row values: the
-- comparison follows SQLite's rules for the pair (datatype3.html 4.2), not
-- just the key's affinity.  Expected output: the native twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE tk USING lsm(k TEXT PRIMARY KEY, v);
CREATE VIRTUAL TABLE uk USING lsm(k PRIMARY KEY, v);
CREATE VIRTUAL TABLE nk USING lsm(k NUMERIC PRIMARY KEY, v);
INSERT INTO tk VALUES('8', 'eight'), ('08', 'zero eight'), ('8.0', 'eight point'), (' 8', 'space eight'),
  ('', 'empty'), ('abc', 'letters'), ('9', 'nine'), ('10', 'ten'), (x'38', 'blob');
INSERT INTO uk SELECT k, v FROM tk;
INSERT INTO uk VALUES(8, 'int eight'), (8.5, 'real'), (-1, 'minus one');
INSERT INTO nk VALUES(8, 'eight'), ('9', 'nine'), ('abc', 'letters'), (x'38', 'blob');
CREATE TABLE other(i INTEGER, t TEXT, n, r REAL, b BLOB);
INSERT INTO other VALUES(8, '8', 8, 8.0, '8'), (9, '9', '9', 9.0, x'38');
-- Texts a numeric column keeps as text (they do not look like numbers),
-- some sorting among the texts that do; and an infinite real.
INSERT INTO other VALUES('+x', ' 8x', '', '', '-'), (1e999, 'Inf', 1e999, -1e999, 'z');
INSERT INTO tk VALUES('+', 'plus'), ('Inf', 'inf'), ('-Inf', 'minus inf'), ('zz', 'zz');
INSERT INTO uk VALUES('+', 'plus'), (1e999, 'real inf'), ('Inf', 'text inf');
-- Joins: each key compared with columns of every affinity.
SELECT 'tk=i', o.i, t.v FROM other AS o JOIN tk AS t ON t.k = o.i ORDER BY 2, 3;
SELECT 'tk=t', o.t, t.v FROM other AS o JOIN tk AS t ON t.k = o.t ORDER BY 2, 3;
SELECT 'tk=n', o.n, t.v FROM other AS o JOIN tk AS t ON t.k = o.n ORDER BY 2, 3;
SELECT 'tk=r', o.r, t.v FROM other AS o JOIN tk AS t ON t.k = o.r ORDER BY 2, 3;
SELECT 'tk=b', o.b, t.v FROM other AS o JOIN tk AS t ON t.k = o.b ORDER BY 2, 3;
SELECT 'tk<i', o.i, t.v FROM other AS o JOIN tk AS t ON t.k < o.i ORDER BY 2, 3;
SELECT 'tk>i', o.i, t.v FROM other AS o JOIN tk AS t ON t.k > o.i ORDER BY 2, 3;
SELECT 'tk<n', o.n, t.v FROM other AS o JOIN tk AS t ON t.k < o.n ORDER BY 2, 3;
SELECT 'tk>=t', o.t, t.v FROM other AS o JOIN tk AS t ON t.k >= o.t ORDER BY 2, 3;
SELECT 'uk=i', o.i, u.v FROM other AS o JOIN uk AS u ON u.k = o.i ORDER BY 2, 3;
SELECT 'uk=t', o.t, u.v FROM other AS o JOIN uk AS u ON u.k = o.t ORDER BY 2, 3;
SELECT 'uk=n', o.n, u.v FROM other AS o JOIN uk AS u ON u.k = o.n ORDER BY 2, 3;
SELECT 'uk<=i', o.i, u.v FROM other AS o JOIN uk AS u ON u.k <= o.i ORDER BY 2, 3;
SELECT 'uk>r', o.r, u.v FROM other AS o JOIN uk AS u ON u.k > o.r ORDER BY 2, 3;
SELECT 'nk=t', o.t, x.v FROM other AS o JOIN nk AS x ON x.k = o.t ORDER BY 2, 3;
SELECT 'tk<=i', o.i, t.v FROM other AS o JOIN tk AS t ON t.k <= o.i ORDER BY 2, 3;
SELECT 'tk<r', o.r, t.v FROM other AS o JOIN tk AS t ON t.k < o.r ORDER BY 2, 3;
SELECT 'tk>r', o.r, t.v FROM other AS o JOIN tk AS t ON t.k > o.r ORDER BY 2, 3;
SELECT 'uk<i', o.i, u.v FROM other AS o JOIN uk AS u ON u.k < o.i ORDER BY 2, 3;
SELECT 'uk=r', o.r, u.v FROM other AS o JOIN uk AS u ON u.k = o.r ORDER BY 2, 3;
SELECT 'tk=i', o.i, t.v FROM other AS o JOIN tk AS t ON t.k = o.i WHERE o.i > 100 ORDER BY 2, 3;
SELECT 'nk=b', o.b, x.v FROM other AS o JOIN nk AS x ON x.k = o.b ORDER BY 2, 3;
-- Subqueries.
SELECT 'in-i', v FROM tk WHERE k IN (SELECT i FROM other) ORDER BY 2;
SELECT 'in-t', v FROM tk WHERE k IN (SELECT t FROM other) ORDER BY 2;
SELECT 'in-list', v FROM tk WHERE k IN (8, 9) ORDER BY 2;
SELECT 'in-i', v FROM uk WHERE k IN (SELECT i FROM other) ORDER BY 2;
SELECT 'in-list', v FROM uk WHERE k IN (8, '9') ORDER BY 2;
SELECT 'eq-sub', v FROM tk WHERE k = (SELECT i FROM other WHERE i = 8) ORDER BY 2;
SELECT 'eq-sub', v FROM uk WHERE k = (SELECT r FROM other WHERE i = 8) ORDER BY 2;
-- Parameters have no affinity: like literals.
.param set :i 8
SELECT 'param', v FROM tk WHERE k = :i ORDER BY 2;
SELECT 'param', v FROM tk WHERE k = CAST(:i AS TEXT) ORDER BY 2;
SELECT 'param', v FROM uk WHERE k = :i ORDER BY 2;
SELECT 'param', v FROM uk WHERE k > CAST(:i AS TEXT) ORDER BY 2;
-- Writes through such comparisons.
UPDATE tk SET v = v || '!' WHERE k = (SELECT i FROM other WHERE i = 8);
DELETE FROM uk WHERE k = (SELECT n FROM other WHERE i = 9);
SELECT * FROM tk ORDER BY k;
SELECT * FROM uk ORDER BY k;
-- Row values.
CREATE VIRTUAL TABLE c USING lsm(a INT, b TEXT, v, PRIMARY KEY(a, b));
INSERT INTO c VALUES(1, 'a', 1), (1, 'b', 2), (2, 'a', 3), (2, 'b', 4), (3, 'a', 5);
SELECT v FROM c WHERE (a, b) > (1, 'b') ORDER BY a, b;
SELECT v FROM c WHERE (a, b) > (1, 'a') ORDER BY a, b LIMIT 2 OFFSET 1;
SELECT v FROM c WHERE (a, b) <= (2, 'a') ORDER BY a DESC, b DESC LIMIT 2;
SELECT v FROM c WHERE (a, b) = (2, 'b');
SELECT v FROM c WHERE (a, b) IN (VALUES(1, 'b'), (3, 'a'));
