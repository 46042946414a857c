//! SQLite as the conformance suite drives it: a database file in a folder of its own, the `sqlite3` shell for
//! the writer and the dumps.

use crate::common::{self, Fingerprint, TestHome};
use crate::{FileSubject, OwnDump, PROFILE, Subject};
use rusqlite::Connection;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A SQLite database file for one test, in `work/db/`, with a profile for it.
pub struct SqliteSubject {
    home: TestHome,
    path: PathBuf,
}

impl SqliteSubject {
    fn open(&self) -> Connection {
        let conn = Connection::open(&self.path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }

    /// Runs the `sqlite3` shell on the database with `args`; panics with its stderr when it fails.
    fn shell(&self, args: &[&str]) -> String {
        let out = Command::new("sqlite3")
            .arg(&self.path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the sqlite3 shell runs");
        assert!(
            out.status.success(),
            "sqlite3 {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Each table's row count and the hash of its rows sorted (so the order rows come in does not matter).
fn tables_of(conn: &Connection, tables: &[String]) -> BTreeMap<String, (u64, String)> {
    let mut out = BTreeMap::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut texts = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let mut text = String::new();
            for i in 0..columns {
                let value: rusqlite::types::Value = row.get(i).unwrap();
                text.push_str(&format!("{value:?}\u{1}"));
            }
            texts.push(text);
        }
        texts.sort();
        let mut hasher = sha2::Sha256::new();
        for text in &texts {
            hasher.update(text.as_bytes());
            hasher.update(b"\n");
        }
        out.insert(
            table.clone(),
            (texts.len() as u64, hex::encode(hasher.finalize())),
        );
    }
    out
}

impl Subject for SqliteSubject {
    const ENGINE: &'static str = "sqlite";
    const SERVER: bool = false;

    fn fresh(tag: &str) -> Self {
        let home = TestHome::new();
        let dir = home.work().join("db");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{tag}.sqlite3"));
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);")
            .unwrap();
        home.run_ok(&[
            "profile",
            "add",
            PROFILE,
            "--sqlite",
            path.to_str().unwrap(),
            "--no-auto",
        ]);
        SqliteSubject { home, path }
    }

    fn home(&self) -> &TestHome {
        &self.home
    }

    fn fill_rich(&self) {
        backstop::demo::make_sample_database(&self.path, 30_000).unwrap();
        let conn = self.open();
        conn.pragma_update(None, "user_version", 42).unwrap();
        conn.execute_batch(
            "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n,
                 CHECK (i IS NULL OR i <> 0));
             INSERT INTO kinds (i, r, t, b, n) VALUES
                 (9223372036854775807, 1.5e300, 'ünïcødé ✓ 日本語 עברית', x'00FF10', NULL),
                 (-9223372036854775808, -0.0, '', x'', 'mixed'),
                 (1, 2.5, 'line
break', zeroblob(1000), 3.25);
             CREATE TABLE tags (name TEXT PRIMARY KEY, uses INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
             INSERT INTO tags VALUES ('a', 1), ('b', 2), ('ç', 3);
             CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL);
             CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN
                 INSERT INTO audit (what) VALUES ('order ' || OLD.id); END;
             CREATE UNIQUE INDEX kinds_t ON kinds(t) WHERE t <> '';
             CREATE VIEW big_orders AS SELECT * FROM orders WHERE quantity > 2;
             INSERT INTO audit (what) SELECT 'seed ' || id FROM customers LIMIT 50;",
        )
        .unwrap();
    }

    fn damage(&self) {
        self.open()
            .execute_batch(
                "DELETE FROM orders WHERE id % 3 = 0; UPDATE customers SET name = 'x';
                 DROP TABLE IF EXISTS kinds; DROP VIEW IF EXISTS big_orders;
                 CREATE TABLE IF NOT EXISTS junk (x); INSERT INTO junk VALUES (1);",
            )
            .unwrap();
    }

    fn create_accounts(&self) {
        self.open()
            .execute_batch(&format!(
                "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
                 INSERT INTO accounts VALUES (1, {b}), (2, {b});
                 CREATE TABLE transfers (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);",
                b = crate::OPENING_BALANCE
            ))
            .unwrap();
    }

    fn start_writer(&self, stop: &Path) -> Vec<Child> {
        // Another process: one sqlite3 client per transfer, about 100 a second. It also stops when the test's
        // folder is gone (a test that failed before stopping it).
        let script = format!(
            "while [ -d '{dir}' ] && [ ! -e '{stop}' ]; do \
               sqlite3 '{db}' 'PRAGMA busy_timeout=10000; BEGIN IMMEDIATE; \
                 INSERT INTO transfers (amount) VALUES (abs(random()) % 100 + 1); \
                 UPDATE accounts SET balance = balance - (SELECT amount FROM transfers WHERE id = last_insert_rowid()) WHERE id = 1; \
                 UPDATE accounts SET balance = balance + (SELECT amount FROM transfers WHERE id = last_insert_rowid()) WHERE id = 2; \
                 COMMIT;' >/dev/null || exit 1; \
               sleep 0.01; done",
            dir = stop.parent().unwrap().display(),
            stop = stop.display(),
            db = self.path.display()
        );
        vec![
            Command::new("bash")
                .arg("-c")
                .arg(script)
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        ]
    }

    fn exec(&self, sql: &str) {
        self.open().execute_batch(sql).unwrap();
    }

    fn ints(&self, sql: &str) -> Vec<i64> {
        let conn = self.open();
        let mut stmt = conn.prepare(sql).unwrap();
        let columns = stmt.column_count();
        stmt.query_row([], |row| (0..columns).map(|i| row.get(i)).collect())
            .unwrap()
    }

    fn fingerprint(&self) -> Fingerprint {
        let conn =
            Connection::open_with_flags(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut schema = String::new();
        let mut tables = Vec::new();
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let (kind, name): (String, String) = (row.get(0).unwrap(), row.get(1).unwrap());
            let (table, sql): (String, String) = (row.get(2).unwrap(), row.get(3).unwrap());
            schema.push_str(&format!("{kind} {name} on {table}: {sql}\n"));
            if kind == "table" {
                tables.push(name);
            }
        }
        drop(rows);
        drop(stmt);
        for pragma in ["user_version", "application_id", "integrity_check"] {
            let value: rusqlite::types::Value = conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .unwrap();
            schema.push_str(&format!("{pragma}: {value:?}\n"));
        }
        (tables_of(&conn, &tables), schema)
    }

    fn drop_database(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }

    fn exists(&self) -> bool {
        self.path.exists()
    }

    fn leftovers(&self) -> Vec<String> {
        let name = self
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        common::names_in(self.path.parent().unwrap())
            .into_iter()
            .filter(|n| ![name.clone(), format!("{name}-wal"), format!("{name}-shm")].contains(n))
            .collect()
    }

    fn kept_copies(&self) -> Vec<String> {
        Vec::new()
    }

    fn check_dump_with_own_tools(&self, unzipped: &Path, manifest: &serde_json::Value) {
        let entry = manifest["database"]["entry"].as_str().unwrap();
        let file = unzipped.join(entry);
        let sqlite3 = |sql: &str| {
            let out = Command::new("sqlite3")
                .arg(&file)
                .arg(sql)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(sqlite3("PRAGMA integrity_check"), "ok");
        // A plain file that opens anywhere, without sidecars.
        assert_eq!(sqlite3("PRAGMA journal_mode"), "delete");
        for (table, rows) in manifest["database"]["tables"].as_object().unwrap() {
            assert_eq!(
                sqlite3(&format!("SELECT count(*) FROM \"{table}\"")),
                rows.to_string(),
                "{table} as sqlite3 reads it"
            );
        }
    }

    fn load_failure_words(&self) -> Vec<String> {
        vec!["integrity_check".into()]
    }

    fn own_dumps(&self, dir: &Path) -> Vec<OwnDump> {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("shop_20250301_101500.sqlite3");
        self.shell(&[&format!(".backup '{}'", file.display())]);
        let sql = dir.join("shop_20250302_101500.sql");
        std::fs::write(&sql, self.shell(&[".dump"])).unwrap();
        common::sh(dir, "gzip -6 -c shop_20250302_101500.sql > shop.sql.gz");
        common::sh(dir, "gzip -6 -c shop_20250301_101500.sqlite3 > app.db.gz");
        vec![
            OwnDump {
                path: file,
                detected: "SQLite database",
                created_at: Some("2025-03-01T10:15:00Z"),
            },
            OwnDump {
                path: sql,
                detected: "SQLite SQL dump",
                created_at: Some("2025-03-02T10:15:00Z"),
            },
            OwnDump {
                path: dir.join("shop.sql.gz"),
                detected: "gzipped SQLite SQL dump",
                created_at: None,
            },
            OwnDump {
                path: dir.join("app.db.gz"),
                detected: "gzipped SQLite database",
                created_at: None,
            },
        ]
    }
}

impl FileSubject for SqliteSubject {
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}
