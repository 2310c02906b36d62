-- Key columns declared COLLATE NOCASE or RTRIM: keys equal under the
-- collation are one key (a duplicate conflicts, REPLACE replaces), order
-- and lookups follow the collation, and the text reads back as written.
-- Expected output: the native twin's.
.load ./lsm_vtab
CREATE VIRTUAL TABLE n USING lsm(k TEXT COLLATE NOCASE PRIMARY KEY, v);
INSERT INTO n VALUES('Apple', 1), ('banana', 2), ('CHERRY', 3), ('apple pie', 4), ('_x', 5), ('[y', 6), ('Zed', 7);
INSERT INTO n VALUES('APPLE', 10);
INSERT OR IGNORE INTO n VALUES('BANANA', 20);
INSERT OR REPLACE INTO n VALUES('cherry', 30);
INSERT INTO n VALUES(12, 'number'), (x'41', 'blob'), ('ÄBC', 'non-ascii'), ('äbc', 'non-ascii lower');
SELECT * FROM n;
SELECT * FROM n ORDER BY k DESC;
SELECT v FROM n WHERE k = 'aPPLE';
SELECT v FROM n WHERE k = 'apple' COLLATE BINARY;
SELECT v FROM n WHERE k IN ('ZED', 'Banana', 'nope');
SELECT v FROM n WHERE k > 'B' AND k <= 'cherry';
SELECT v FROM n WHERE k >= '[' ORDER BY k;
SELECT v FROM n WHERE k LIKE 'ap%';
SELECT v FROM n WHERE k GLOB 'A*';
UPDATE n SET k = 'BANANA' WHERE k = 'banana';
UPDATE n SET k = 'zed' WHERE k = 'apple';
UPDATE OR REPLACE n SET k = 'zed' WHERE k = 'apple';
UPDATE n SET v = v + 100 WHERE k = 'ZED';
DELETE FROM n WHERE k = 'CHERRY';
SELECT * FROM n;
SELECT k, count(*) FROM n GROUP BY k;
CREATE VIRTUAL TABLE r USING lsm(k TEXT COLLATE RTRIM PRIMARY KEY, v);
INSERT INTO r VALUES('a', 1), ('b  ', 2), (' c', 3), ('a b', 4);
INSERT INTO r VALUES('a   ', 10);
INSERT OR REPLACE INTO r VALUES('b', 20);
SELECT quote(k), v FROM r;
SELECT v FROM r WHERE k = 'a  ';
SELECT v FROM r WHERE k > 'a ' ORDER BY k DESC;
-- In a composite key.
CREATE VIRTUAL TABLE c USING lsm(a TEXT COLLATE NOCASE, b INT, v, PRIMARY KEY(a, b));
INSERT INTO c VALUES('x', 1, 'x1'), ('X', 2, 'X2'), ('y', 1, 'y1');
INSERT INTO c VALUES('X', 1, 'dup');
SELECT * FROM c;
SELECT v FROM c WHERE a = 'X' AND b >= 1;
SELECT v FROM c WHERE a = 'x' COLLATE BINARY;
-- NOCASE compares only up to the first NUL byte of either side, then the
-- lengths: 'a\0b' and 'A\0c' are one key, 'a\0' sorts after 'a'.
CREATE VIRTUAL TABLE z USING lsm(k TEXT COLLATE NOCASE PRIMARY KEY, v);
INSERT INTO z VALUES(CAST(x'610062' AS TEXT), 1), ('A', 2), (CAST(x'4100' AS TEXT), 3), ('ab', 4), (CAST(x'00' AS TEXT), 5), ('', 6), (CAST(x'6162006161' AS TEXT), 7);
INSERT INTO z VALUES(CAST(x'410063' AS TEXT), 8);
INSERT OR REPLACE INTO z VALUES(CAST(x'41006300' AS TEXT), 9);
SELECT hex(k), v FROM z;
SELECT hex(k), v FROM z ORDER BY k DESC;
SELECT v FROM z WHERE k = CAST(x'410078' AS TEXT);
SELECT v FROM z WHERE k > CAST(x'6100' AS TEXT) AND k < 'AC';
SELECT v FROM z WHERE k IN (CAST(x'6100' AS TEXT), 'a', CAST(x'61004100' AS TEXT));
