//! The SQL dump loader's cases: splitting, both layers of checks, the three dump flavours and the limits.

use super::*;
use rusqlite::types::Value;
use std::io::{BufReader, Cursor};
use std::path::Path;
use std::process::{Command, Stdio};

/// Makes a database with foreign keys, an index, a view, a two-statement
/// trigger, awkward text, blobs, NULLs, an oddly named table, 10k rows,
/// sqlite_sequence and sqlite_stat1.
const MAKE_DB: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.executescript('''
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL);
CREATE TABLE child(id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
    body TEXT, data BLOB, score REAL, n INTEGER);
CREATE TABLE audit(id INTEGER PRIMARY KEY, child_id INTEGER REFERENCES child(id), note TEXT);
CREATE TABLE "odd ""name""" ("col; 1" TEXT, [col 2] INTEGER, `col'3` BLOB);
CREATE INDEX child_parent ON child(parent_id, score);
CREATE VIEW child_summary AS
    SELECT p.name, count(c.id) AS n, total(c.score) AS total
    FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id;
CREATE TRIGGER child_audit AFTER INSERT ON child BEGIN
    INSERT INTO audit(child_id, note) VALUES (new.id, 'inserted; id=' || new.id);
    UPDATE parent SET created = coalesce(created, 0) + 1 WHERE id = new.parent_id;
END;
''')
texts = ["plain", "semi;colon", "it's quoted", 'double "quote"', "two\nlines\r\nand CRLF",
         "unicode \u017c\u00f3\u0142\u0107 \u65e5\u672c\u8a9e \U0001f389", "", "-- not a comment",
         "/* not a comment */", "END; CREATE TRIGGER x", "BEGIN TRANSACTION;", "back\\slash",
         "tab\there", "x'00'"]
con.executemany("INSERT INTO parent(id, name, created) VALUES (?, ?, ?)",
    [(i, "parent %d %s" % (i, texts[i % len(texts)]), None if i % 3 else i / 7) for i in range(1, 101)])
rows = []
for i in range(10000):
    body = None if i % 11 == 0 else texts[i % len(texts)] + str(i)
    data = None if i % 5 == 0 else bytes((i * 7 + k) % 256 for k in range(i % 40))
    score = None if i % 13 == 0 else i * 0.1 - 333.3
    n = [0, -1, 2**63 - 1, -2**63, i * i][i % 5]
    rows.append((i % 100 + 1, body, data, score, n))
con.executemany("INSERT INTO child(parent_id, body, data, score, n) VALUES (?, ?, ?, ?, ?)", rows)
con.executemany('INSERT INTO "odd ""name""" VALUES (?, ?, ?)',
    [(texts[i % len(texts)], i, bytes([i])) for i in range(50)])
con.execute("DELETE FROM child WHERE id % 1000 = 0")
con.execute("ANALYZE")
con.commit()
"#;

/// Writes `iterdump()` output, one statement per line, as Python users do.
const ITERDUMP: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], 'w', encoding='utf-8', newline='\n') as f:
    for line in con.iterdump():
        f.write('%s\n' % line)
"#;

/// Writes the format of django-dbbackup's SqliteConnector: no transaction,
/// CREATE TABLE IF NOT EXISTS, and every index/trigger/view after each table.
const DBBACKUP_DUMP: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
out = open(sys.argv[2], 'wb')
tables = con.execute("SELECT name, type, sql FROM sqlite_master "
                     "WHERE sql NOT NULL AND type == 'table' ORDER BY name").fetchall()
others = con.execute("SELECT name, type, sql FROM sqlite_master "
                     "WHERE sql NOT NULL AND type IN ('index', 'trigger', 'view')").fetchall()
for name, _, sql in tables:
    if name.startswith('sqlite_'):
        continue
    sql = sql.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS')
    sql = sql.replace('\n    ', '').replace('\n)', ')')
    out.write(('%s;\n' % sql).encode())
    ident = name.replace('"', '""')
    cols = [str(r[1]) for r in con.execute('PRAGMA table_info("%s")' % ident)]
    values = ",".join("'||quote(\"%s\")||'" % c.replace('"', '""') for c in cols)
    q = "SELECT 'INSERT INTO \"%s\" VALUES(%s)' FROM \"%s\"" % (ident, values, ident)
    for (row,) in con.execute(q):
        out.write(('%s;\n' % row).encode())
    for _, _, other in others:
        if other.startswith('CREATE INDEX'):
            other = other.replace('CREATE INDEX', 'CREATE INDEX IF NOT EXISTS')
        out.write(('%s;\n' % other).encode())
"#;

/// For each case on stdin (separated by \x1e), prints the byte length of
/// the shortest prefix sqlite3_complete() accepts, or -1.
const COMPLETE: &str = r#"
import sqlite3, sys
for case in sys.stdin.buffer.read().decode('utf-8').split('\x1e'):
    found = -1
    for i in range(1, len(case) + 1):
        if sqlite3.complete_statement(case[:i]):
            found = len(case[:i].encode('utf-8'))
            break
    print(found)
"#;

fn python(script: &str, args: &[&Path]) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be on PATH");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn load_with(text: &[u8], limits: &Limits) -> (Connection, Result<LoadReport, SqlDumpError>) {
    let mut conn = Connection::open_in_memory().unwrap();
    let result = load_sql_dump(&mut Cursor::new(text), &mut conn, limits, &mut |_| true);
    (conn, result)
}

fn load_keep(text: &str) -> (Connection, Result<LoadReport, SqlDumpError>) {
    load_with(text.as_bytes(), &Limits::default())
}

fn load(text: &str) -> Result<LoadReport, SqlDumpError> {
    load_keep(text).1
}

/// Loads `sql` with `{dir}` replaced by a fresh temp dir, and checks that
/// nothing was written into that dir.
fn load_touching_nothing(sql: &str) -> Result<LoadReport, SqlDumpError> {
    let dir = tempfile::tempdir().unwrap();
    let sql = sql.replace("{dir}", &dir.path().display().to_string());
    let result = load(&sql);
    let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(created.is_empty(), "files were created: {created:?}");
    result
}

fn assert_refused(result: Result<LoadReport, SqlDumpError>, line: u64, needle: &str) {
    match result {
        Err(SqlDumpError::Refused {
            line: got_line,
            statement,
            reason,
        }) => {
            assert_eq!(got_line, line, "statement {statement:?}, reason {reason:?}");
            let both = format!("{statement} {reason}").to_lowercase();
            assert!(both.contains(needle), "{needle:?} not in {both:?}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn table_names(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    stmt.query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn table_rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
    rows(
        conn,
        &format!("SELECT * FROM {} ORDER BY rowid", quote_ident(table)),
    )
}

/// Every table of `original` (optionally without sqlite_* ones) has the
/// same rows in `loaded`, and the schema matches.
fn assert_same_data(original: &Connection, loaded: &Connection, internal_tables: bool) {
    let mut compared = 0;
    for table in table_names(original) {
        let internal = table.starts_with("sqlite_");
        if table == "sqlite_stat4" || (internal && !internal_tables) {
            continue;
        }
        let want = table_rows(original, &table);
        let got = table_rows(loaded, &table);
        assert_eq!(want.len(), got.len(), "row count of {table}");
        assert!(want == got, "rows of {table} differ");
        compared += want.len();
    }
    assert!(compared > 10_000, "only {compared} rows compared");
    let schema = "SELECT type, name, tbl_name FROM sqlite_master \
                      WHERE name NOT LIKE 'sqlite%' ORDER BY type, name";
    assert_eq!(rows(original, schema), rows(loaded, schema));
    let view = "SELECT * FROM child_summary ORDER BY name";
    assert_eq!(rows(original, view), rows(loaded, view));
}

/// The trigger from MAKE_DB works in the loaded database.
fn assert_trigger_fires(conn: &Connection) {
    let before: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch("INSERT INTO child(parent_id, body) VALUES (1, 'new')")
        .unwrap();
    let after: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, before + 1);
}

fn make_db(dir: &Path) -> (std::path::PathBuf, Connection) {
    let path = dir.join("original.db");
    python(MAKE_DB, &[&path]);
    let conn = Connection::open(&path).unwrap();
    (path, conn)
}

#[test]
fn iterdump_round_trip_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (db, original) = make_db(dir.path());
    let dump = dir.path().join("dump.sql");
    python(ITERDUMP, &[&db, &dump]);
    let size = std::fs::metadata(&dump).unwrap().len();

    let mut loaded = Connection::open(dir.path().join("loaded.db")).unwrap();
    let mut input = BufReader::new(std::fs::File::open(&dump).unwrap());
    let mut calls = Vec::new();
    let report = load_sql_dump(&mut input, &mut loaded, &Limits::default(), &mut |n| {
        calls.push(n);
        true
    })
    .unwrap();
    assert_eq!(report.bytes, size);
    assert!(report.statements > 10_000, "{report:?}");
    assert_eq!(calls.last(), Some(&size));
    assert!(calls.windows(2).all(|w| w[0] <= w[1]));
    assert_same_data(&original, &loaded, true);
    assert_trigger_fires(&loaded);

    // The same dump read 7 bytes at a time, so every construct straddles
    // chunk boundaries.
    let mut tiny = BufReader::with_capacity(7, std::fs::File::open(&dump).unwrap());
    let mut loaded = Connection::open_in_memory().unwrap();
    let again = load_sql_dump(&mut tiny, &mut loaded, &Limits::default(), &mut |_| true).unwrap();
    assert_eq!(again, report);
    assert_same_data(&original, &loaded, true);
}

#[test]
fn dbbackup_dump_with_repeated_and_early_schema_statements_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (db, original) = make_db(dir.path());
    let dump = dir.path().join("dbbackup.sql");
    python(DBBACKUP_DUMP, &[&db, &dump]);
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        text.starts_with("CREATE TABLE IF NOT EXISTS"),
        "not the dbbackup format"
    );
    assert!(!text.contains("\nCOMMIT;"), "not the dbbackup format");
    assert!(looks_like_sqlite_dump(text.as_bytes()));

    let mut loaded = Connection::open(dir.path().join("loaded.db")).unwrap();
    let mut input = BufReader::new(std::fs::File::open(&dump).unwrap());
    let report = load_sql_dump(&mut input, &mut loaded, &Limits::default(), &mut |_| true).unwrap();
    assert!(report.statements > 10_000, "{report:?}");
    assert_same_data(&original, &loaded, false);
    assert_trigger_fires(&loaded);
}

#[test]
fn create_index_on_a_table_that_never_comes_is_reported() {
    let (_conn, result) = load_keep(
        "CREATE TABLE a(x);\nCREATE INDEX IF NOT EXISTS i ON missing(x);\nINSERT INTO a VALUES(1);\n",
    );
    match result {
        Err(SqlDumpError::Sql { line, message, .. }) => {
            assert_eq!(line, 2);
            assert!(message.contains("no such table"), "{message}");
        }
        other => panic!("expected Sql, got {other:?}"),
    }
}

#[test]
fn sqlite3_shell_dump_loads() {
    let dump = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n\
            CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT);\n\
            INSERT INTO a VALUES(1,replace('x\\ny','\\n',char(10)));\n\
            INSERT INTO a VALUES(2,'q''s');\n\
            ANALYZE sqlite_schema;\n\
            INSERT INTO sqlite_stat1 VALUES('a',NULL,'2');\n\
            DELETE FROM sqlite_sequence;\n\
            INSERT INTO sqlite_sequence VALUES('a',2);\n\
            CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE a SET t = CASE WHEN new.id > 1 \
            THEN 'big' ELSE 'small' END; END;\n\
            COMMIT;\n";
    assert!(looks_like_sqlite_dump(dump.as_bytes()));
    let (conn, result) = load_keep(dump);
    assert_eq!(result.unwrap().statements, 11);
    let texts = rows(&conn, "SELECT t FROM a ORDER BY id");
    assert_eq!(
        texts,
        vec![
            vec![Value::Text("x\ny".into())],
            vec![Value::Text("q's".into())]
        ]
    );
    conn.execute_batch("INSERT INTO a(t) VALUES('z')").unwrap();
    let t: String = conn
        .query_row("SELECT t FROM a WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(t, "big");
}

#[test]
fn splitter_agrees_with_sqlite3_complete() {
    let cases = [
        "SELECT 1;",
        "SELECT 'a;b';",
        "SELECT \"a;b\";",
        "SELECT [a;b];",
        "SELECT `a;b`;",
        "SELECT 1 -- c;\n;",
        "SELECT 1 /* ; */;",
        "SELECT 1 /*/ ; */ ;",
        "SELECT 'it''s;';",
        ";",
        "  \n ;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES(1); UPDATE c SET x=1; END;",
        "create temp trigger t after insert on a begin select 1; end ;",
        "CREATE TEMPORARY TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
        "EXPLAIN CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; END;",
        "CREATE TABLE trigger(x); SELECT 1;",
        "CREATE TABLE t(\"end\"); ",
        "CREATE VIEW v AS SELECT 1;",
        "CREATE TRIGGER t BEGIN SELECT 1; END",
        "INSERT INTO t VALUES('unterminated;",
        "SELECT 1 -- trailing comment",
        "SELECT x'00ff';",
        "SELECT '\u{17c}\u{f3}\u{142}\u{107};\u{65e5}'; SELECT 2;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END -- c\n;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; ENDX; END;",
        "SELECT 1 - -1;",
        "SELECT 2/3;",
        "CREATE -- c\n TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
        "CREATE/**/TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;END;",
        "CREATE TEMP VIEW v AS SELECT 1; SELECT 2;",
        "explain select 1;",
        "SELECT $a;",
        "\u{b}SELECT 1;",
        "CREATE TRIGGER \"t;\" AFTER INSERT ON [a;] BEGIN SELECT ';'; END;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; SELECT 2;",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; /* END; */ END;",
        "SELECT 'a' /* unterminated ;",
        "SELECT [bracket ;",
    ];
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(COMPLETE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be on PATH");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(cases.join("\u{1e}").as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let expected: Vec<i64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(expected.len(), cases.len());
    for (case, want) in cases.iter().zip(expected) {
        let got = match Splitter::new().scan(case.as_bytes()) {
            Scan::Cut(i) => i64::try_from(i).unwrap() + 1,
            Scan::More => -1,
            Scan::Nul(_) => panic!("NUL in {case:?}"),
        };
        assert_eq!(got, want, "case {case:?}");
    }
}

#[test]
fn statements_split_across_tiny_chunks() {
    let dump = "BEGIN TRANSACTION;\n-- a comment; with a semicolon\n\
            CREATE TABLE \"t;1\"([a;b] TEXT, `c;d` BLOB);\n\
            /* block; comment */ INSERT INTO \"t;1\" VALUES('x;y''z\n\u{17c}\u{f3}\u{142}\u{107} \u{1f389};', X'00FF');\n\
            CREATE TRIGGER tr AFTER INSERT ON \"t;1\" BEGIN\n  INSERT INTO \"t;1\" VALUES('trig;1', NULL);\n\
              DELETE FROM \"t;1\" WHERE [a;b] = 'never;';\nEND;\n\
            COMMIT;\n";
    for capacity in [1, 2, 3, 7, 13] {
        let mut conn = Connection::open_in_memory().unwrap();
        let mut input = BufReader::with_capacity(capacity, dump.as_bytes());
        let report =
            load_sql_dump(&mut input, &mut conn, &Limits::default(), &mut |_| true).unwrap();
        assert_eq!(report.statements, 5, "capacity {capacity}");
        assert_eq!(report.bytes, dump.len() as u64);
        let got = table_rows(&conn, "t;1");
        assert_eq!(
            got,
            vec![vec![
                Value::Text("x;y'z\n\u{17c}\u{f3}\u{142}\u{107} \u{1f389};".into()),
                Value::Blob(vec![0, 255])
            ]]
        );
        conn.execute_batch("INSERT INTO \"t;1\" VALUES('n', NULL)")
            .unwrap();
        assert_eq!(table_rows(&conn, "t;1").len(), 3);
    }
}

#[test]
fn refuses_attach_and_creates_no_file() {
    let result = load_touching_nothing(
        "BEGIN TRANSACTION;\nCREATE TABLE a(x);\nATTACH DATABASE '{dir}/evil.db' AS e;\nCOMMIT;\n",
    );
    assert_refused(result, 3, "attach");
    let result = load_touching_nothing("/* hidden */ -- x\n  detach e;");
    assert_refused(result, 2, "detach");
}

#[test]
fn refuses_vacuum_into_and_creates_no_file() {
    let result = load_touching_nothing("CREATE TABLE a(x);\nVACUUM INTO '{dir}/evil.db';\n");
    assert_refused(result, 2, "vacuum");
    let result = load_touching_nothing("EXPLAIN vacuum into '{dir}/evil.db';");
    assert_refused(result, 1, "vacuum");
    assert_refused(load("VACUUM;"), 1, "vacuum");
}

#[test]
fn authorizer_alone_blocks_vacuum_into_and_attach() {
    // Bypass the keyword check to prove the second layer holds on its own.
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.db");
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE a(x); INSERT INTO a VALUES (1);")
        .unwrap();
    let denials = Denials::default();
    let session = Session::open(&mut conn, &denials).unwrap();
    for sql in [
        format!("VACUUM INTO '{}'", evil.display()),
        format!("ATTACH DATABASE '{}' AS e", evil.display()),
    ] {
        let error = run_one(session.conn, &sql).unwrap_err();
        let denied = denials.take().unwrap();
        assert!(denied.contains("ATTACH"), "{denied} ({error})");
        assert!(!evil.exists(), "{sql} created a file");
    }
    drop(session);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn refuses_load_extension_and_file_functions() {
    let result = load_touching_nothing("SELECT load_extension('{dir}/evil.so');");
    assert_refused(result, 1, "not authorized: function load_extension()");
    // Shell-only functions do not exist here at all.
    assert!(
        matches!(load("SELECT writefile('x', 'y');"), Err(SqlDumpError::Sql { message, .. }) if message.contains("no such function")),
    );
    assert_refused(
        load("SELECT fts3_tokenizer('simple');"),
        1,
        "fts3_tokenizer",
    );
}

#[test]
fn refuses_load_extension_inside_a_trigger_when_it_would_fire() {
    let result = load_touching_nothing(
        "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
             SELECT load_extension('{dir}/evil.so');\nEND;\nINSERT INTO a VALUES(1);\n",
    );
    assert_refused(result, 5, "load_extension");
}

#[test]
fn attach_inside_a_trigger_body_never_runs() {
    let result = load_touching_nothing(
        "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN ATTACH '{dir}/evil.db' AS e; END;\n\
             INSERT INTO a VALUES(1);\n",
    );
    match result {
        Err(SqlDumpError::Sql { line, .. } | SqlDumpError::Refused { line, .. }) => {
            assert_eq!(line, 2);
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn refuses_pragmas_not_on_the_allow_list() {
    assert_refused(load("PRAGMA journal_mode=OFF;"), 1, "journal_mode");
    let result = load_touching_nothing("PRAGMA temp_store_directory = '{dir}';");
    assert_refused(result, 1, "temp_store_directory");
    assert_refused(load("PRAGMA main . \"synchronous\" = 0;"), 1, "synchronous");
    assert_refused(load("pragma table_info('x');"), 1, "table_info");
    // Hidden in a table-valued function: only the authorizer sees it.
    assert_refused(
        load("SELECT * FROM pragma_journal_mode;"),
        1,
        "not authorized: pragma journal_mode",
    );
}

#[test]
fn allows_the_pragmas_dumps_write() {
    let (conn, result) = load_keep(
        "PRAGMA foreign_keys=OFF;\nPRAGMA main.user_version = 7;\nPRAGMA application_id=42;\n\
             PRAGMA defer_foreign_keys=ON;\nPRAGMA page_size=4096;\nPRAGMA encoding='UTF-8';\n\
             PRAGMA auto_vacuum=NONE;\n",
    );
    assert_eq!(result.unwrap().statements, 7);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 7);
}

#[test]
fn refuses_writable_schema_and_schema_table_writes() {
    let dump = "BEGIN TRANSACTION;\nPRAGMA writable_schema=ON;\n\
            INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql)VALUES('table','f','f',0,\
            'CREATE VIRTUAL TABLE f USING fts5(x)');\nPRAGMA writable_schema=OFF;\nCOMMIT;\n";
    assert_refused(load(dump), 2, "virtual tables");
    assert_refused(
        load("INSERT INTO \"sqlite_schema\" VALUES('table','x','x',0,'CREATE TABLE x(a)');"),
        1,
        "schema table",
    );
    assert_refused(
        load("UPDATE OR IGNORE main.sqlite_master SET sql = 'x';"),
        1,
        "schema table",
    );
    assert_refused(load("DELETE FROM [sqlite_master];"), 1, "schema table");
}

#[test]
fn refuses_dot_commands() {
    let result = load_touching_nothing(
        "CREATE TABLE a(x);\n\n.shell touch '{dir}/pwned'\nINSERT INTO a VALUES(1);\n",
    );
    assert_refused(result, 3, "dot-command");
    assert_refused(load(".load /tmp/x/evil.so\n"), 1, "dot-command");
    assert_refused(load("  .system rm -rf /"), 1, "dot-command");
}

#[test]
fn refuses_recursive_queries() {
    let (_conn, result) = load_keep(
        "CREATE TABLE a(x);\nWITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)\n\
             INSERT INTO a SELECT n FROM c;\n",
    );
    assert_refused(result, 2, "recursive");
}

#[test]
fn refuses_bare_rollback_but_allows_savepoints() {
    let (_conn, result) =
        load_keep("BEGIN TRANSACTION;\nCREATE TABLE a(x);\nROLLBACK; -- due to errors\n");
    assert_refused(result, 3, "rolls back");
    let (conn, result) = load_keep(
        "BEGIN;\nCREATE TABLE a(x);\nSAVEPOINT s;\nINSERT INTO a VALUES(1);\n\
             ROLLBACK TRANSACTION TO SAVEPOINT s;\nRELEASE s;\nCOMMIT;\n",
    );
    result.unwrap();
    assert!(table_rows(&conn, "a").is_empty());
}

#[test]
fn statement_longer_than_the_limit_is_too_long() {
    let mut dump = String::from("CREATE TABLE a(x);\n\nINSERT INTO a VALUES('");
    dump.push_str(&"x".repeat(10_000));
    dump.push_str("');\n");
    let limits = Limits {
        max_statement_bytes: 4096,
    };
    let (_conn, result) = load_with(dump.as_bytes(), &limits);
    match result {
        Err(SqlDumpError::TooLong { line, limit }) => {
            assert_eq!((line, limit), (3, 4096));
        }
        other => panic!("expected TooLong, got {other:?}"),
    }
    // A "statement" that never ends, as in a file that is not a dump.
    let endless = vec![b'a'; 50_000];
    let (_conn, result) = load_with(&endless, &limits);
    assert!(matches!(result, Err(SqlDumpError::TooLong { line: 1, .. })));
    // The limit is per statement, not per file.
    let (_conn, result) = load_with(
        dump.replace(&"x".repeat(10_000), "x").repeat(50).as_bytes(),
        &limits,
    );
    assert!(
        matches!(result, Err(SqlDumpError::Sql { .. })),
        "{result:?}"
    );
}

#[test]
fn binary_input_is_not_sql() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        })
        .collect();
    let (_conn, result) = load_with(&garbage, &Limits::default());
    assert!(
        matches!(result, Err(SqlDumpError::NotSql { .. })),
        "{result:?}"
    );
    assert!(!looks_like_sqlite_dump(&garbage));

    let mut database = b"SQLite format 3\0".to_vec();
    database.extend_from_slice(&[0x10, 0x00, 0x01, 0x01]);
    let (_conn, result) = load_with(&database, &Limits::default());
    match result {
        Err(SqlDumpError::NotSql { line, reason }) => {
            assert_eq!(line, 1);
            assert!(reason.contains("database file"), "{reason}");
        }
        other => panic!("expected NotSql, got {other:?}"),
    }
    let (_conn, result) = load_with(b"\x1f\x8b\x08\x00\x00\x00", &Limits::default());
    assert!(
        matches!(&result, Err(SqlDumpError::NotSql { reason, .. }) if reason.contains("gzip")),
        "{result:?}"
    );
}

#[test]
fn bad_utf8_and_nul_report_their_line() {
    let mut dump =
        b"CREATE TABLE a(x);\nINSERT INTO a VALUES('ok');\nINSERT INTO a VALUES('".to_vec();
    dump.extend_from_slice(b"\xff\xfe');\n");
    let (_conn, result) = load_with(&dump, &Limits::default());
    assert!(
        matches!(result, Err(SqlDumpError::NotSql { line: 3, .. })),
        "{result:?}"
    );
    let (_conn, result) = load_with(b"CREATE TABLE a(x);\n\nSELECT '\0';", &Limits::default());
    assert!(
        matches!(result, Err(SqlDumpError::NotSql { line: 3, .. })),
        "{result:?}"
    );
    // A character cut off by the end of the file.
    let (_conn, result) = load_with(b"SELECT '\xc5", &Limits::default());
    assert!(
        matches!(result, Err(SqlDumpError::NotSql { .. })),
        "{result:?}"
    );
}

#[test]
fn progress_false_cancels_and_cleans_up() {
    let mut dump = String::from("BEGIN TRANSACTION;\nCREATE TABLE t(x);\n");
    let row = format!("INSERT INTO t VALUES('{}');\n", "r".repeat(100));
    while dump.len() < 3 * 1024 * 1024 {
        dump.push_str(&row);
    }
    dump.push_str("COMMIT;\n");
    let mut conn = Connection::open_in_memory().unwrap();
    let mut calls = 0;
    let result = load_sql_dump(
        &mut Cursor::new(dump.as_bytes()),
        &mut conn,
        &Limits::default(),
        &mut |bytes| {
            calls += 1;
            assert!(bytes >= PROGRESS_STEP);
            false
        },
    );
    assert!(matches!(result, Err(SqlDumpError::Cancelled)), "{result:?}");
    assert_eq!(calls, 1);
    assert!(conn.is_autocommit(), "transaction left open");
    assert!(table_names(&conn).is_empty(), "cancelled work was kept");

    // Progress is reported regularly on a full run.
    let mut seen = Vec::new();
    let report = load_sql_dump(
        &mut Cursor::new(dump.as_bytes()),
        &mut conn,
        &Limits::default(),
        &mut |bytes| {
            seen.push(bytes);
            true
        },
    )
    .unwrap();
    assert!(seen.len() >= 3, "{seen:?}");
    assert_eq!(seen.last(), Some(&report.bytes));
}

#[test]
fn connection_settings_are_restored_afterwards() {
    for dump in [
        "CREATE TABLE a(x);",
        "ATTACH 'x' AS y;",
        "BEGIN; CREATE TABLE b(x);",
    ] {
        let (conn, _) = load_keep(dump);
        conn.execute_batch("PRAGMA cache_size = 100; SELECT * FROM pragma_journal_mode;")
            .unwrap();
        assert!(!conn.db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE).unwrap());
        // The bundled SQLite enforces foreign keys by default; that comes back.
        assert!(
            conn.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY)
                .unwrap()
        );
        assert!(conn.is_autocommit());
    }
}

#[test]
fn dump_ending_inside_its_transaction_is_truncated() {
    let (conn, result) =
        load_keep("BEGIN TRANSACTION;\nCREATE TABLE a(x);\nINSERT INTO a VALUES(1);\n");
    match result {
        Err(SqlDumpError::Io(error)) => {
            assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
            assert!(error.to_string().contains("truncated"), "{error}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(table_names(&conn).is_empty());
}

#[test]
fn last_statement_without_semicolon_runs() {
    let (conn, result) = load_keep("CREATE TABLE a(x);\nINSERT INTO a VALUES(1) -- no semicolon");
    assert_eq!(result.unwrap().statements, 2);
    assert_eq!(table_rows(&conn, "a").len(), 1);
    let (_conn, result) = load_keep("CREATE TABLE a(x);\n  -- only a comment\n\n");
    assert_eq!(result.unwrap().statements, 1);
    let (_conn, result) = load_keep("CREATE TABLE a(x);\nINSERT INTO a VALUES('cut off");
    assert!(
        matches!(result, Err(SqlDumpError::Sql { line: 2, .. })),
        "{result:?}"
    );
    let result = load("CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;");
    assert!(
        matches!(result, Err(SqlDumpError::Sql { line: 2, .. })),
        "{result:?}"
    );
}

#[test]
fn sql_errors_name_the_line_and_statement() {
    let (_conn, result) = load_keep(
        "BEGIN TRANSACTION;\nCREATE TABLE a(x PRIMARY KEY);\n\n  INSERT INTO a VALUES(1);\n\
             INSERT INTO a\n  VALUES(1);\nCOMMIT;\n",
    );
    match result {
        Err(SqlDumpError::Sql {
            line,
            statement,
            message,
        }) => {
            assert_eq!(line, 5);
            assert_eq!(statement, "INSERT INTO a   VALUES(1);");
            assert!(message.contains("UNIQUE"), "{message}");
        }
        other => panic!("expected Sql, got {other:?}"),
    }
    let long = format!("SELECT {};", "1 + ".repeat(40));
    assert_eq!(excerpt(&long).chars().count(), 81);
}

#[test]
fn byte_order_mark_is_skipped() {
    let dump = "\u{feff}BEGIN TRANSACTION;\nCREATE TABLE a(x);\nCOMMIT;\n";
    assert!(looks_like_sqlite_dump(dump.as_bytes()));
    let (_conn, result) = load_keep(dump);
    let report = result.unwrap();
    assert_eq!(report.statements, 3);
    assert_eq!(report.bytes, dump.len() as u64);
}

#[test]
fn looks_like_sqlite_dump_recognises_dumps() {
    let yes: [&[u8]; 6] = [
        b"BEGIN TRANSACTION;\nCREATE TABLE a(x);\n",
        b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE",
        b"CREATE TABLE IF NOT EXISTS \"django_migrations\" (\"id\" integer);\n",
        b"\xEF\xBB\xBF  -- a dump\n/* made by hand */\nBEGIN;\n",
        b"begin transaction;\ncreate table \"\xc5\xbc",
        b"BEGIN TRANSACTION;\nCREATE TABLE t(x TEXT);\nINSERT INTO t VALUES('\xc5",
    ];
    for head in yes {
        assert!(
            looks_like_sqlite_dump(head),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
    let no: [&[u8]; 9] = [
            b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.2\n\
              SET statement_timeout = 0;\n",
            b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.x (id integer);\n",
            b"-- MySQL dump 10.13  Distrib 8.0.36\n/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `x` (id int);\n",
            b"-- MariaDB dump 10.19\nCREATE TABLE `x` (id int);\n",
            b"SQLite format 3\0\x10\x00\x01\x01",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
            b"",
            b"INSERT INTO a VALUES(1);",
            b"PRAGMA foreign_keys=OFF;\nATTACH 'x' AS y;",
        ];
    for head in no {
        assert!(
            !looks_like_sqlite_dump(head),
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn keyword_check_reads_leading_keywords_like_sqlite() {
    assert_eq!(analyse(" \u{b} /* c */ -- d\n ;"), Ok(Lead::Empty));
    assert_eq!(analyse("COMMIT;"), Ok(Lead::Transaction));
    assert_eq!(analyse("end transaction;"), Ok(Lead::Transaction));
    assert_eq!(analyse("PRAGMA \"foreign_keys\" = OFF"), Ok(Lead::Pragma));
    assert_eq!(
        analyse("CREATE UNIQUE INDEX IF NOT EXISTS main.\"my \"\"idx\"\"\" ON t(x)"),
        Ok(Lead::CreateObject(SchemaObject {
            kind: "index",
            name: "my \"idx\"".into()
        }))
    );
    assert_eq!(
        analyse("CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END"),
        Ok(Lead::Other)
    );
    assert_eq!(
        analyse("INSERT INTO sqlite_sequence VALUES('a', 1)"),
        Ok(Lead::Other)
    );
    assert!(analyse("REPLACE INTO 'sqlite_temp_master' VALUES(1)").is_err());
    assert!(analyse("EXPLAIN QUERY PLAN ATTACH 'x' AS y").is_err());
    assert!(analyse("\"VACUUM\"").is_ok());
}
