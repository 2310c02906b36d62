#!/usr/bin/env python3
"""twin.py — check sql-tests against their native twins.

A test whose first lines contain "Expected output: the native twin's" is
run through the sqlite3 shell twice: as written (against lsm_vtab.so), and
with every CREATE VIRTUAL TABLE ... USING lsm(...) turned into the native
table SQLite users would have written instead — the same columns and key,
options dropped, WITHOUT ROWID unless the table has no PRIMARY KEY or an
INTEGER PRIMARY KEY (a rowid alias).  Both outputs must equal NAME.expected.

Usage: sql-tests/twin.py LSM_VTAB_SO [TEST.sql ...]   (default: all tests)
Exit status 0 when every twin test agrees.
"""
import os, re, subprocess, sys, tempfile, glob

MARK = "Expected output: the native twin's"

def split_args(s):
    out, depth, cur, q = [], 0, '', None
    for ch in s:
        if q:
            cur += ch
            if ch == q: q = None
            continue
        if ch in '\'"`[':
            q = ']' if ch == '[' else ch
            cur += ch
        elif ch == '(':
            depth += 1; cur += ch
        elif ch == ')':
            depth -= 1; cur += ch
        elif ch == ',' and depth == 0:
            out.append(cur.strip()); cur = ''
        else:
            cur += ch
    if cur.strip(): out.append(cur.strip())
    return out

def bare(name):
    return name.strip('"[]`').lower()

def is_integer_type(col_def):
    parts = col_def.split()
    return (len(parts) > 1 and parts[1].lower() == 'integer' and
            (len(parts) == 2 or parts[2].upper() in
             ('NOT', 'NULL', 'PRIMARY', 'COLLATE', 'CONSTRAINT')))

def native_create(name, body):
    args = [a for a in split_args(body) if not re.match(r'^\w+\s*=', a)]
    tpk = [a for a in args
           if re.match(r'(?i)^(constraint\s+\S+\s+)?primary\s+key\s*\(', a)]
    cols = [a for a in args if a not in tpk]
    pk_cols = [a for a in cols if re.search(r'(?i)\bprimary\s+key\b', a)]
    if not tpk and not pk_cols:
        rowid = True
    elif pk_cols:
        rowid = is_integer_type(pk_cols[0])
    else:
        keys = [k.strip() for k in re.search(r'\((.*)\)', tpk[0]).group(1).split(',')]
        rowid = False
        if len(keys) == 1:
            for a in cols:
                if bare(a.split()[0]) == bare(keys[0].split()[0]) and is_integer_type(a):
                    rowid = True
    sql = 'CREATE TABLE %s(%s)' % (name, ', '.join(args))
    return sql if rowid else sql + ' WITHOUT ROWID'

def to_native(src):
    # Keep line numbers: error messages name them.
    src = re.sub(r'(?m)^\.load .*$', '-- (load)', src)
    return re.sub(r'(?is)CREATE\s+VIRTUAL\s+TABLE\s+(\S+)\s+USING\s+lsm\s*\((.*?)\)\s*;',
                  lambda m: native_create(m.group(1), m.group(2)) + ';', src)

def run(sql, so):
    with tempfile.TemporaryDirectory() as d:
        if so:
            os.symlink(os.path.abspath(so), os.path.join(d, 'lsm_vtab.so'))
        p = subprocess.run(['sqlite3', '-batch', 'test.db'], input=sql.encode(),
                           cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return p.stdout.decode(errors='replace')

def main():
    so = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    tests = sys.argv[2:] or sorted(glob.glob(os.path.join(here, '*.sql')))
    bad = 0
    for t in tests:
        src = open(t).read()
        head = re.sub(r'\s*\n--\s*', ' ', src[:2000])
        if MARK not in head:
            continue
        exp = open(t[:-4] + '.expected').read()
        name = os.path.basename(t)
        before = bad
        for label, out in (('native', run(to_native(src), None)), ('lsm', run(src, so))):
            if out != exp:
                bad += 1
                print('DIFF %s (%s)' % (name, label))
                import difflib
                sys.stdout.writelines(difflib.unified_diff(
                    exp.splitlines(True), out.splitlines(True), 'expected', label))
        print('twin %s %s' % ('ok  ' if bad == before else 'FAIL', name))
    return 1 if bad else 0

if __name__ == '__main__':
    sys.exit(main())
