#!/bin/sh
# make demo: a short SQL session against a real on-disk lsm table.
set -e
dir=build/demo
rm -rf "$dir" && mkdir -p "$dir"
cp lsm_vtab.so "$dir/"
cd "$dir"
echo "-- sqlite3 $dir/app.db"
sqlite3 -batch -echo app.db <<'SQL'
.load ./lsm_vtab
CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v TEXT, memtable_size=65536);
INSERT INTO kv VALUES('user:1','alice'), ('user:2','bob');
UPDATE kv SET v='alice_updated' WHERE k='user:1';
DELETE FROM kv WHERE k='user:2';
SELECT * FROM kv WHERE k BETWEEN 'user:0' AND 'user:9';
SQL
echo "-- reopened:"
sqlite3 -batch -echo app.db <<'SQL'
.load ./lsm_vtab
SELECT * FROM kv;
SQL
echo "-- files on disk:"
ls -l app.db-lsm/kv
