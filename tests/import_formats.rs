//! Import of other apps' backups, on the real binary: each format is written the way its app writes it
//! (`tests/fixtures/foreign.py`), imported, restored into a profile whose database and files folder were changed,
//! and compared with what was put in. Then hostile and broken inputs: each refused with its message, nothing
//! catalogued, nothing written anywhere (the whole temporary tree is compared before and after).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{PgTestDb, TestHome, db_fingerprint, file_sha, foreign, psql, tree};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const P: &str = "app";

// ---------------------------------------------------------------------------------------------------------------
// Helpers

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// What a command printed, after its exit code was checked.
struct Ran {
    stdout: String,
    stderr: String,
}

fn run(home: &TestHome, args: &[&str], code: i32) -> Ran {
    let out = home.run(args);
    let ran = Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(
        out.status.code(),
        Some(code),
        "backstop {args:?}\nstdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    ran
}

#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

/// The files only (no folders) of a tree.
fn files_of(tree: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.iter()
        .filter(|(_, v)| *v != "dir")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A home with profile `app`: a live SQLite database and a files folder, both different from the source that
/// the foreign backups are made of; the source database and media folder are in `src/`.
struct World {
    home: TestHome,
    live_db: PathBuf,
    live_files: PathBuf,
    src_db: PathBuf,
    media: PathBuf,
    inputs: PathBuf,
}

impl World {
    fn new() -> World {
        let home = TestHome::new();
        let work = home.work();
        let src = work.join("src");
        std::fs::create_dir_all(&src).unwrap();
        let src_db = src.join("site.db");
        foreign("sample-db", &src_db, &[]);
        let media = src.join("media");
        make_media(&media);
        let live_db = work.join("live.sqlite3");
        backstop::demo::make_sample_database(&live_db, 50).unwrap();
        let live_files = work.join("files");
        std::fs::create_dir_all(live_files.join("old")).unwrap();
        std::fs::write(live_files.join("old/stale.txt"), b"before the restore\n").unwrap();
        run(
            &home,
            &[
                "profile",
                "add",
                P,
                "--sqlite",
                s(&live_db),
                "--files",
                s(&live_files),
                "--no-auto",
            ],
            0,
        );
        let inputs = home.dir.path().join("inputs");
        std::fs::create_dir_all(&inputs).unwrap();
        World {
            home,
            live_db,
            live_files,
            src_db,
            media,
            inputs,
        }
    }

    fn input(&self, name: &str) -> PathBuf {
        self.inputs.join(name)
    }

    /// Writes `format` into inputs/`name` from the source database and media folder (plus `extra` flags).
    fn fixture(&self, format: &str, name: &str, extra: &[&str]) -> PathBuf {
        let out = self.input(name);
        let mut args = vec!["--db", s(&self.src_db), "--media", s(&self.media)];
        args.extend_from_slice(extra);
        foreign(format, &out, &args);
        out
    }

    /// `import FILE --profile app` → the new catalog row (as `list --json` shows it) and what was detected.
    fn import(&self, file: &Path) -> (Value, String) {
        let before = self.home.list_json().len();
        let out = run(&self.home, &["import", s(file), "--profile", P], 0);
        let rows = self.home.list_json();
        assert_eq!(rows.len(), before + 1, "one new row");
        let row = rows
            .iter()
            .max_by_key(|r| r["id"].as_i64().unwrap())
            .unwrap()
            .clone();
        assert_eq!(row["trigger"], "uploaded");
        assert_eq!(row["status"], "completed");
        (row, out.stdout)
    }

    /// Changes the live database and empties the files folder, restores backup `id`, and returns nothing: the
    /// caller compares.
    fn restore(&self, row: &Value) {
        self.home.restore_row(row);
    }

    /// Puts different data in place (so a restore that did nothing would show).
    fn scramble(&self) {
        let conn = rusqlite::Connection::open(&self.live_db).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS scrambled(x); INSERT INTO scrambled VALUES (1);",
        )
        .unwrap();
        drop(conn);
        if self.live_files.exists() {
            backstop::files::remove_tree(&self.live_files);
        }
        std::fs::create_dir_all(self.live_files.join("junk")).unwrap();
        std::fs::write(self.live_files.join("junk/x.txt"), b"scrambled\n").unwrap();
    }

    #[track_caller]
    fn assert_database_is_source(&self) {
        assert_eq!(
            db_fingerprint(&self.live_db),
            db_fingerprint(&self.src_db),
            "the restored database equals the source"
        );
    }

    /// Rows equal the source's (schema text may differ: a SQL dump rewrites `CREATE TABLE` statements).
    #[track_caller]
    fn assert_rows_are_source(&self) {
        assert_eq!(
            db_fingerprint(&self.live_db).0,
            db_fingerprint(&self.src_db).0,
            "the restored rows equal the source's"
        );
    }

    /// The files folder equals the media folder: every path, folder and content.
    #[track_caller]
    fn assert_files_are_media(&self) {
        assert_eq!(tree(&self.live_files), tree(&self.media));
    }

    /// Every file of the media folder is back with its content (for formats that keep no folder entries).
    #[track_caller]
    fn assert_media_files_are_back(&self) {
        assert_eq!(
            files_of(&tree(&self.live_files)),
            files_of(&tree(&self.media))
        );
    }

    /// Everything under the test's temporary folder except the catalog and the logs, which record the refusal.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let state = self.home.home().join("state");
        let catalog = self.home.home().join("catalog.sqlite3");
        let mut all = tree(self.home.dir.path());
        all.retain(|rel, _| {
            let path = self.home.dir.path().join(rel);
            !path.starts_with(&state) && !path.to_string_lossy().starts_with(s(&catalog))
        });
        all
    }

    /// Imports `file`, expects a refusal (exit 1) whose message has every needle, and that nothing changed:
    /// no row, no file anywhere under the temporary folder (no `.partial`, no escaped entry).
    #[track_caller]
    fn assert_refused(&self, file: &Path, needles: &[&str]) -> String {
        let rows = self.home.list_json();
        let before = self.snapshot();
        let ran = run(&self.home, &["import", s(file), "--profile", P], 1);
        assert_has(&ran.stderr, &["was refused"]);
        assert_has(&ran.stderr, needles);
        assert_eq!(self.home.list_json(), rows, "nothing catalogued");
        assert_eq!(self.snapshot(), before, "nothing written anywhere");
        ran.stderr
    }
}

/// A media folder: nested folders, names with spaces and unicode, an empty file, an empty folder, a file stored
/// as it is (already compressed) and one that is not.
fn make_media(root: &Path) {
    let files: [(&str, &[u8]); 7] = [
        ("readme.txt", b"media root\n"),
        (
            "photos/2024/01/caf\u{e9} menu \u{2615}.txt",
            "caf\u{e9} \u{2615}\n".as_bytes(),
        ),
        (
            "photos/2024/01/cover photo.jpg",
            &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4],
        ),
        ("photos/empty.txt", b""),
        (
            "docs/\u{65e5}\u{672c}\u{8a9e}/\u{6587}\u{66f8} 1.txt",
            "\u{3053}\u{3093}\u{306b}\u{3061}\u{306f}\n".as_bytes(),
        ),
        ("docs/deep/er/still/leaf.bin", &[0u8, 1, 2, 255]),
        ("big.txt", &[b'x'; 100_000]),
    ];
    for (rel, bytes) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
}

/// Rows of `wal_only` in a database.
fn wal_only_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM wal_only", [], |r| r.get(0))
        .unwrap()
}

/// Sets `key = value` in config.toml's `[settings]`.
fn set_setting(home: &TestHome, key: &str, value: &str) {
    let path = home.home().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key} = ");
    assert!(text.lines().any(|l| l.starts_with(&prefix)), "{text}");
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// Formats: imported, restored, compared

#[test]
fn a_gzipped_sqlite_file_imports_and_restores() {
    let w = World::new();
    let file = w.fixture("db-gz", "site_20240115_093000.db.gz", &[]);
    let (row, out) = w.import(&file);
    assert_has(&out, &["gzipped SQLite database"]);
    assert_eq!(row["kind"], "database");
    assert_eq!(
        row["created_at"], "2024-01-15T09:30:00Z",
        "time from the name"
    );
    let files_before = tree(&w.live_files);
    w.restore(&row);
    w.assert_database_is_source();
    assert_eq!(
        tree(&w.live_files),
        files_before,
        "a database backup leaves the files folder"
    );
}

#[test]
fn a_web_app_zip_restores_database_and_media_with_the_metadata_time() {
    let w = World::new();
    // The metadata wins over the time in the name.
    let file = w.fixture(
        "zip-app",
        "site_20200101_000000.zip",
        &["--date", "2024-02-01T10:00:00+01:00"],
    );
    let (row, out) = w.import(&file);
    assert_has(&out, &["web-app backup zip"]);
    assert_eq!(row["kind"], "full");
    assert_eq!(
        row["created_at"], "2024-02-01T09:00:00Z",
        "backup_date, in UTC"
    );
    w.scramble();
    w.restore(&row);
    w.assert_database_is_source();
    w.assert_files_are_media();

    // A naive backup_date is UTC; a zip without folder entries brings the files back all the same.
    let naive = w.fixture(
        "zip-app",
        "naive.zip",
        &["--date", "2024-05-06T07:08:09", "--no-dir-entries"],
    );
    let (row, _) = w.import(&naive);
    assert_eq!(row["created_at"], "2024-05-06T07:08:09Z");
    w.scramble();
    w.restore(&row);
    w.assert_database_is_source();
    w.assert_media_files_are_back();
}

#[test]
fn a_tar_gz_with_a_wal_is_checkpointed_into_a_copy() {
    let w = World::new();
    let file = w.fixture(
        "targz-app",
        "site-backup_20240301_120000.tar.gz",
        &["--wal-rows", "37"],
    );
    let fixture_sha = file_sha(&file);
    let (row, out) = w.import(&file);
    assert_has(&out, &["web-app backup tar.gz"]);
    assert_eq!(row["kind"], "full");
    assert_eq!(row["created_at"], "2024-03-01T12:00:00Z");
    assert_eq!(
        file_sha(&file),
        fixture_sha,
        "the imported file is never changed"
    );
    w.scramble();
    w.restore(&row);
    assert_eq!(
        wal_only_rows(&w.live_db),
        37,
        "the rows only in the WAL came along"
    );
    let (mut restored, _) = db_fingerprint(&w.live_db);
    restored.remove("wal_only");
    assert_eq!(restored, db_fingerprint(&w.src_db).0, "and every other row");
    w.assert_files_are_media();
    // The archived database is a plain rollback-journal file: it opens anywhere without sidecars.
    let archive = PathBuf::from(row["path"].as_str().unwrap());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut header = [0u8; 20];
    std::io::Read::read_exact(
        &mut zip.by_name("database/site.sqlite3").unwrap(),
        &mut header,
    )
    .unwrap();
    assert_eq!((header[18], header[19]), (1, 1), "not in WAL mode");
}

#[test]
fn a_zip_of_a_media_folder_alone_restores_the_files_folder_only() {
    let w = World::new();
    let file = w.fixture("media-zip", "media.zip", &[]);
    let (row, out) = w.import(&file);
    assert_has(&out, &["(media folder zip)"]);
    assert_eq!(row["kind"], "files");
    let db_before = db_fingerprint(&w.live_db);
    w.scramble();
    let db_scrambled = db_fingerprint(&w.live_db);
    assert_ne!(db_before, db_scrambled);
    w.restore(&row);
    w.assert_files_are_media();
    assert_eq!(
        db_fingerprint(&w.live_db),
        db_scrambled,
        "a files backup leaves the database"
    );
    let shown = run(&w.home, &["show", &row["id"].to_string()], 0).stdout;
    assert!(!shown.contains("database/"), "{shown}");
}

#[test]
fn bare_sqlite_files_under_every_name_with_the_time_from_the_file() {
    let w = World::new();
    for name in ["copy.sqlite", "copy.sqlite3", "copy.db"] {
        // Each copy differs (the same file imported twice would be a duplicate).
        rusqlite::Connection::open(&w.src_db)
            .unwrap()
            .execute("INSERT INTO audit(what) VALUES (?1)", [name])
            .unwrap();
        let file = w.fixture("bare", name, &[]);
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(when)
            .unwrap();
        let (row, out) = w.import(&file);
        assert_has(&out, &["(SQLite database)"]);
        assert_eq!(
            row["created_at"], "2023-11-14T22:13:20Z",
            "no time in the name: the file's mtime"
        );
        w.scramble();
        w.restore(&row);
        w.assert_database_is_source();
    }
}

#[test]
fn a_multi_member_gzip_is_read_to_its_end() {
    let w = World::new();
    let file = w.input("site_20240102_030405.db.gz");
    foreign("multi-member-gz", &file, &["--db", s(&w.src_db)]);
    let (row, out) = w.import(&file);
    assert_has(&out, &["gzipped SQLite database"]);
    w.scramble();
    w.restore(&row);
    w.assert_database_is_source();
}

#[test]
fn django_dbbackup_sqlite_files_and_dumps() {
    let w = World::new();
    // 5.x default: a backup-API copy, gzipped; 5.x and 4.x SQL-text dumps, gzipped and not.
    #[rustfmt::skip]
    let cases = [
        ("dbbackup-sqlite-backup", "default-myhost-2024-03-01-101500.sqlite3.gz", &["--gzip"][..], "gzipped SQLite database", "2024-03-01T10:15:00Z"),
        ("dbbackup-sqlite", "default-myhost-2024-03-02-101500.dump.gz", &["--gzip"][..], "gzipped SQLite SQL dump", "2024-03-02T10:15:00Z"),
        ("dbbackup-sqlite", "default-myhost-2024-03-03-101500.dump", &[][..], "(SQLite SQL dump)", "2024-03-03T10:15:00Z"),
        ("dbbackup-sqlite", "default-myhost-2024-03-04-101500.dump", &["--variant", "v4"][..], "(SQLite SQL dump)", "2024-03-04T10:15:00Z"),
    ];
    for (format, name, extra, detected, created) in cases {
        let file = w.fixture(format, name, extra);
        let (row, out) = w.import(&file);
        assert_has(&out, &[detected]);
        assert_eq!(row["kind"], "database", "{name}");
        assert_eq!(
            row["created_at"], created,
            "{name}: django-dbbackup's time format"
        );
        w.scramble();
        w.restore(&row);
        w.assert_rows_are_source();
    }
}

#[test]
fn django_dbbackup_media_tars_restore_the_files_folder() {
    let w = World::new();
    for (name, extra, detected, created) in [
        (
            "myhost-2024-03-05-101500.tar.gz",
            &["--gzip"][..],
            "(media folder tar.gz)",
            "2024-03-05T10:15:00Z",
        ),
        (
            "myhost-2024-03-06-101500.tar",
            &[][..],
            "(media folder tar)",
            "2024-03-06T10:15:00Z",
        ),
    ] {
        let file = w.fixture("dbbackup-media", name, extra);
        let (row, out) = w.import(&file);
        assert_has(&out, &[detected]);
        assert_eq!(row["kind"], "files");
        assert_eq!(row["created_at"], created);
        w.scramble();
        w.restore(&row);
        // mediabackup stores files only (mtime 0, no folder entries): every file comes back.
        w.assert_media_files_are_back();
    }
}

#[test]
fn a_sqlite_dump_cannot_attach_vacuum_into_or_load_extensions() {
    let w = World::new();
    let outside = w.home.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.join("written.db");
    #[rustfmt::skip]
    let cases = [
        ("attach.dump", format!("CREATE TABLE t(x);\nATTACH DATABASE '{}' AS evil;\nCREATE TABLE evil.x(y);\n", target.display()), "ATTACH"),
        ("vacuum.dump", format!("CREATE TABLE t(x);\nINSERT INTO t VALUES (1);\nVACUUM INTO '{}';\n", target.display()), "VACUUM"),
        ("ext.dump", "CREATE TABLE t(x);\nSELECT load_extension('/tmp/evil.so');\n".to_string(), "load_extension"),
        ("trigger.dump", format!("CREATE TABLE t(x);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT load_extension('{}'); END;\nINSERT INTO t VALUES (1);\n", target.display()), "load_extension"),
    ];
    for (name, text, shown) in cases {
        let file = w.input(name);
        std::fs::write(&file, text).unwrap();
        w.assert_refused(&file, &["refused to run", shown]);
        assert!(!target.exists(), "{name} wrote {}", target.display());
    }
    // A few bytes of SQL that would build a huge database stop at the import limit.
    set_setting(&w.home, "max_import_bytes", "10000000");
    let file = w.input("grow.dump");
    std::fs::write(
        &file,
        "CREATE TABLE t(x);\nINSERT INTO t VALUES (zeroblob(4000000));\n\
         INSERT INTO t SELECT x FROM t;\nINSERT INTO t SELECT x FROM t;\nINSERT INTO t SELECT x FROM t;\n",
    )
    .unwrap();
    w.assert_refused(&file, &["import limit of 10000000 bytes"]);
    // Nor can one value take the memory: SQLite refuses a blob over 64 MiB before allocating it.
    let file = w.input("memory.dump");
    std::fs::write(
        &file,
        "CREATE TABLE t(x);\nINSERT INTO t VALUES (randomblob(2000000000));\n",
    )
    .unwrap();
    w.assert_refused(&file, &["too big"]);
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL dumps (the server on 127.0.0.1:5432, trust auth for postgres)

/// A fresh database for one test, dropped with any copies at the end.
struct PgDb(PgTestDb);

impl std::ops::Deref for PgDb {
    type Target = PgTestDb;

    fn deref(&self) -> &PgTestDb {
        &self.0
    }
}

impl PgDb {
    fn new(tag: &str) -> PgDb {
        PgDb(PgTestDb::new(&format!("bk_imp_{tag}")))
    }

    /// Each table's rows, hashed in a stable order.
    fn fingerprint(&self) -> String {
        psql(
            &self.name,
            "SELECT string_agg(t, ';' ORDER BY t) FROM (
               SELECT 'customers:' || count(*) || ':' || md5(coalesce(string_agg(c::text, '|' ORDER BY c::text), '')) AS t FROM customers c
               UNION ALL
               SELECT 'orders:' || count(*) || ':' || md5(coalesce(string_agg(o::text, '|' ORDER BY o::text), '')) FROM orders o) x",
        )
    }
}

#[test]
fn postgres_dumps_from_web_apps_and_django_dbbackup() {
    let home = TestHome::new();
    let db = PgDb::new("formats");
    psql(
        &db.name,
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, meta jsonb, avatar bytea);
         CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric, note text);
         INSERT INTO customers (name, meta, avatar) SELECT 'c ' || g || ' ü', jsonb_build_object('n', g), decode(md5(g::text), 'hex') FROM generate_series(1, 200) g;
         INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 200, g * 0.37, repeat('x', g % 20) FROM generate_series(1, 1000) g;",
    );
    home.add_pg_profile("pg", &db.name, &[]);
    let original = db.fingerprint();
    let inputs = home.work();
    #[rustfmt::skip]
    let cases = [
        ("sql-gz-pg", "shop_20250301_101500.sql.gz", &[][..], "gzipped PostgreSQL plain SQL dump", "2025-03-01T10:15:00Z"),
        ("dbbackup-pg-bin", "default-myhost-2025-03-02-101500.psql.bin", &[][..], "(PostgreSQL custom-format dump)", "2025-03-02T10:15:00Z"),
        ("dbbackup-pg-bin", "default-myhost-2025-03-03-101500.psql.bin.gz", &["--gzip"][..], "gzipped PostgreSQL custom-format dump", "2025-03-03T10:15:00Z"),
        ("dbbackup-pg-plain", "default-myhost-2025-03-04-101500.psql", &[][..], "(PostgreSQL plain SQL dump)", "2025-03-04T10:15:00Z"),
        ("dbbackup-pg-plain", "default-myhost-2025-03-05-101500.psql.gz", &["--gzip"][..], "gzipped PostgreSQL plain SQL dump", "2025-03-05T10:15:00Z"),
    ];
    for (format, name, extra, detected, created) in cases {
        let file = inputs.join(name);
        let mut args = vec!["--pg-db", db.name.as_str()];
        args.extend_from_slice(extra);
        foreign(format, &file, &args);
        let out = run(&home, &["import", s(&file), "--profile", "pg"], 0).stdout;
        assert_has(&out, &[detected]);
        let rows = home.list_json();
        let row = rows
            .iter()
            .max_by_key(|r| r["id"].as_i64().unwrap())
            .unwrap();
        assert_eq!(row["created_at"], created, "{name}");
        psql(
            &db.name,
            "DELETE FROM orders; UPDATE customers SET name = 'changed';",
        );
        assert_ne!(db.fingerprint(), original);
        home.restore_row(row);
        assert_eq!(db.fingerprint(), original, "restore of {name}");
    }

    // Engines must match: a SQLite dump into this profile, and a PostgreSQL dump into a SQLite profile.
    let sqlite_db = inputs.join("site.db");
    foreign("sample-db", &sqlite_db, &[]);
    let dump = inputs.join("default-myhost-2025-03-06-101500.dump");
    foreign("dbbackup-sqlite", &dump, &["--db", s(&sqlite_db)]);
    let err = run(&home, &["import", s(&dump), "--profile", "pg"], 1).stderr;
    assert_has(
        &err,
        &["SQLite SQL dump", "sqlite", "profile pg uses postgres"],
    );
    let live = inputs.join("live.sqlite3");
    backstop::demo::make_sample_database(&live, 10).unwrap();
    run(
        &home,
        &["profile", "add", "lite", "--sqlite", s(&live), "--no-auto"],
        0,
    );
    let pg_dump = inputs.join("shop_20250301_101500.sql.gz");
    let err = run(&home, &["import", s(&pg_dump), "--profile", "lite"], 1).stderr;
    assert_has(
        &err,
        &[
            "gzipped PostgreSQL plain SQL dump",
            "profile lite uses sqlite",
        ],
    );
    let zip = inputs.join("site.zip");
    let media = inputs.join("media");
    make_media(&media);
    foreign(
        "zip-app",
        &zip,
        &["--db", s(&sqlite_db), "--media", s(&media)],
    );
    let err = run(&home, &["import", s(&zip), "--profile", "pg"], 1).stderr;
    assert_has(&err, &["SQLite database", "profile pg uses postgres"]);
    assert_eq!(home.list_json().len(), 5, "refused imports add no row");
}

// ---------------------------------------------------------------------------------------------------------------
// Hostile and broken input

#[test]
fn a_zip_slip_entry_is_refused() {
    let w = World::new();
    let file = w.input("slip.zip");
    foreign("bad-zip-slip", &file, &[]);
    w.assert_refused(
        &file,
        &[
            "entry '../evil.txt' leaves the folder",
            "'..' path component",
        ],
    );
    assert!(!w.home.dir.path().join("evil.txt").exists());
    assert!(!w.inputs.parent().unwrap().join("evil.txt").exists());
}

#[test]
fn an_absolute_path_entry_is_refused() {
    let w = World::new();
    let file = w.input("abs.zip");
    let evil = Path::new("/tmp/evil.txt");
    let existed = evil.exists();
    foreign("bad-zip-abs", &file, &[]);
    w.assert_refused(&file, &["entry '/tmp/evil.txt' is an absolute path"]);
    assert_eq!(evil.exists(), existed, "/tmp/evil.txt");
}

#[test]
fn a_symlink_in_a_tar_and_a_file_written_through_it_are_refused() {
    let w = World::new();
    let outside = w.home.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    for name in ["link.tar", "link.tar.gz"] {
        let file = w.input(name);
        foreign("bad-tar-symlink", &file, &["--link-target", s(&outside)]);
        w.assert_refused(
            &file,
            &[
                "entry 'media/link' is a symbolic link",
                "only files and folders",
            ],
        );
        assert!(
            !outside.join("evil.txt").exists(),
            "{name} wrote through the link"
        );
    }
    // The default target, /tmp, as the hostile archive has it.
    let file = w.input("link-tmp.tar.gz");
    foreign("bad-tar-symlink", &file, &[]);
    w.assert_refused(&file, &["symbolic link"]);
}

#[test]
fn a_symlink_in_a_zip_and_a_file_written_through_it_are_refused() {
    let w = World::new();
    let outside = w.home.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let file = w.input("link.zip");
    foreign("bad-zip-symlink", &file, &["--link-target", s(&outside)]);
    w.assert_refused(&file, &["entry 'media/link' is a symbolic link"]);
    assert!(!outside.join("evil.txt").exists());
    assert_eq!(
        tree(&outside),
        BTreeMap::new(),
        "nothing created through the link"
    );
}

#[test]
fn duplicate_names_are_refused() {
    let w = World::new();
    let file = w.input("dup.zip");
    foreign("bad-zip-dup", &file, &[]);
    w.assert_refused(&file, &["entry 'media/a.txt' appears twice"]);

    // The same in a tar (tar would silently keep the last one).
    let tar = w.input("dup.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&tar).unwrap());
        for text in [&b"first\n"[..], &b"second\n"[..]] {
            let mut header = tar::Header::new_ustar();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, "a.txt", text).unwrap();
        }
        builder.finish().unwrap();
    }
    w.assert_refused(&tar, &["entry 'a.txt' appears twice"]);
}

#[test]
fn zip_and_gzip_bombs_stop_at_the_limit() {
    let w = World::new();
    set_setting(&w.home, "max_import_bytes", "5000000");
    let small = [
        ("bad-zip-bomb", "bomb.zip"),
        ("bad-gzip-bomb", "bomb.db.gz"),
    ];
    for (format, name) in small {
        let file = w.input(name);
        foreign(format, &file, &["--bomb-size", "40000000"]);
        assert!(
            std::fs::metadata(&file).unwrap().len() < 200_000,
            "a small file"
        );
        w.assert_refused(
            &file,
            &["import limit of 5000000 bytes", "decompression bomb"],
        );
    }
    // The generator's default bomb: 1 GiB of zeros in about 1 MB, stopped long before the end.
    for (format, name) in [("bad-zip-bomb", "gib.zip"), ("bad-gzip-bomb", "gib.db.gz")] {
        let file = w.input(name);
        foreign(format, &file, &[]);
        let start = std::time::Instant::now();
        w.assert_refused(&file, &["import limit of 5000000 bytes"]);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "stops early"
        );
    }
}

#[test]
fn too_many_entries_are_refused() {
    let w = World::new();
    set_setting(&w.home, "max_import_entries", "5");
    let zip = w.fixture("media-zip", "media.zip", &[]);
    w.assert_refused(&zip, &["more than 5 entries", "max_import_entries"]);
    let tar = w.fixture("dbbackup-media", "media.tar.gz", &["--gzip"]);
    w.assert_refused(&tar, &["more than 5 entries", "max_import_entries"]);
}

#[test]
fn a_truncated_tar_gz_is_refused() {
    let w = World::new();
    let file = w.input("cut.tar.gz");
    foreign(
        "bad-targz-truncated",
        &file,
        &["--db", s(&w.src_db), "--media", s(&w.media)],
    );
    w.assert_refused(&file, &["truncated", "cannot be read completely"]);

    // A plain tar cut between two entries: no end-of-archive marker.
    let whole = w.fixture("dbbackup-media", "whole.tar", &[]);
    let bytes = std::fs::read(&whole).unwrap();
    let second = {
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries = archive.entries().unwrap();
        entries.next().unwrap().unwrap();
        entries.next().unwrap().unwrap().raw_header_position() as usize
    };
    let cut = w.input("cut.tar");
    std::fs::write(&cut, &bytes[..second]).unwrap();
    w.assert_refused(&cut, &["truncated", "end-of-archive marker"]);
    // And one cut inside an entry's data.
    let cut = w.input("cut-data.tar");
    std::fs::write(&cut, &bytes[..second - 100]).unwrap();
    w.assert_refused(&cut, &["truncated"]);
}

#[test]
fn anything_else_is_refused_naming_the_formats_backstop_reads() {
    let w = World::new();
    let file = w.input("notes.txt");
    std::fs::write(&file, "just some notes\n").unwrap();
    w.assert_refused(
        &file,
        &[
            "not a format Backstop understands",
            "Backstop archives",
            "SQLite",
            "PostgreSQL",
            "django-dbbackup",
            ".tar.gz",
            "media folder",
        ],
    );
    let gz = w.input("notes.txt.gz");
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(b"\x00\x01\x02 binary stuff").unwrap();
        enc.finish().unwrap();
    }
    w.assert_refused(&gz, &["not a format Backstop understands"]);
    // A web-app zip with an entry that has no place in its layout.
    let zip = w.input("odd.zip");
    common::raw_zip(
        &zip,
        &[
            ("database.sqlite3", &std::fs::read(&w.src_db).unwrap()),
            ("notes/x.txt", b"x"),
        ],
    );
    w.assert_refused(
        &zip,
        &["entry 'notes/x.txt' is not part of this backup's layout"],
    );
}

/// One raw tar entry: name, type, data, link target.
type RawTarEntry<'a> = (&'a str, tar::EntryType, &'a [u8], &'a str);

/// Writes a tar from raw headers (names and link targets set byte by byte, as a hostile tool would).
fn raw_tar(path: &Path, entries: &[RawTarEntry]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_705_311_000);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.finish().unwrap();
}

#[test]
fn hard_links_devices_and_hidden_traversal_are_refused() {
    use tar::EntryType;
    let w = World::new();
    let ok: RawTarEntry = ("media/ok.txt", EntryType::Regular, b"fine\n", "");
    #[rustfmt::skip]
    let cases: [(&str, RawTarEntry, &str); 5] = [
        ("hardlink.tar", ("media/passwd", EntryType::Link, b"", "/etc/passwd"), "entry 'media/passwd' is a hard link"),
        ("fifo.tar", ("media/pipe", EntryType::Fifo, b"", ""), "entry 'media/pipe' is a named pipe"),
        ("device.tar", ("media/null", EntryType::Char, b"", ""), "entry 'media/null' is a device"),
        ("dotdot.tar", ("media/../../x.txt", EntryType::Regular, b"escaped\n", ""), "entry 'media/../../x.txt' leaves the folder"),
        ("beneath.tar", ("media/ok.txt/x.txt", EntryType::Regular, b"under a file\n", ""), "entry 'ok.txt/x.txt' lies beneath 'ok.txt', which is a file (names inside the top folder media/)"),
    ];
    for (name, bad, message) in cases {
        let file = w.input(name);
        raw_tar(&file, &[ok, bad]);
        w.assert_refused(&file, &[message]);
    }
    let passwd = file_sha(Path::new("/etc/passwd"));
    assert_eq!(file_sha(Path::new("/etc/passwd")), passwd);
    assert!(!w.home.dir.path().join("x.txt").exists());

    let zip = w.input("backslash.zip");
    common::raw_zip(&zip, &[("media\\..\\..\\evil.txt", b"x")]);
    w.assert_refused(
        &zip,
        &["entry 'media\\\\..\\\\..\\\\evil.txt' has an unsafe name (backslash in name)"],
    );
}
