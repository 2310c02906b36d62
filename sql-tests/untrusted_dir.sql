-- Untrusted database files: a schema's dir= may not leave the database
-- file's directory (absolute paths, "..", symbolic links out) unless the
-- application opts in per connection with lsm_allow_any_dir(1).
.load ./lsm_vtab
CREATE VIRTUAL TABLE a USING lsm(k PRIMARY KEY, v, dir='/tmp/lsm-vtab-hostile');
CREATE VIRTUAL TABLE b USING lsm(k PRIMARY KEY, v, dir='../escaped');
CREATE VIRTUAL TABLE c USING lsm(k PRIMARY KEY, v, dir='in/../../escaped');
.system ln -s .. up
CREATE VIRTUAL TABLE d USING lsm(k PRIMARY KEY, v, dir='up/escaped');
.system test -e ../escaped && echo escaped || echo nothing-created-outside
-- Inside the directory, relative paths (even through "." and a symlink that
-- stays inside) are fine.
.system mkdir -p real && ln -s real inside
CREATE VIRTUAL TABLE e USING lsm(k PRIMARY KEY, v, dir='./inside/e');
INSERT INTO e VALUES(1, 'ok');
SELECT * FROM e;
-- The application may opt in; a schema cannot call the function.
CREATE TABLE n(x);
CREATE TRIGGER t_opt AFTER INSERT ON n BEGIN SELECT lsm_allow_any_dir(1); END;
INSERT INTO n VALUES(1);
DROP TRIGGER t_opt;
INSERT INTO e VALUES(2, 'x');
SELECT lsm_allow_any_dir(1);
CREATE VIRTUAL TABLE f USING lsm(k PRIMARY KEY, v, dir='up/lsm-vtab-outside-f');
INSERT INTO f VALUES(1, 'outside');
SELECT * FROM f;
SELECT lsm_allow_any_dir(0);
-- A database whose schema names an outside directory: reopened without the
-- opt-in, the table refuses to open.
.open test.db
.load ./lsm_vtab
SELECT * FROM f;
SELECT * FROM e;
SELECT lsm_allow_any_dir(1);
DROP TABLE f;
.system test -e ../lsm-vtab-outside-f && echo still-there || echo removed
