//! SQLite beyond the engine conformance suite (tests/conformance.rs): restores while other connections hold the
//! file open, cancel, the WAL and hot-journal cases, the WAL page-size case, and no raw copies of a live file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::jobs::{self, BackupSpec};
use backstop::model::{Status, Trigger};
use backstop::progress::{CancelToken, JobControl, ProgressSink, ProgressUpdate};
use common::{TestHome, db_fingerprint};
use rusqlite::Connection;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Extracts the database entry of an archive to `dest` with the zip crate (as `unzip` would).
fn extract_db(archive: &Path, dest: &Path) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let name = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .find(|n| n.starts_with("database/"))
        .unwrap();
    let mut entry = zip.by_name(&name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    std::fs::write(dest, bytes).unwrap();
}

#[test]
fn restore_while_another_connection_holds_the_database_open() {
    let home = TestHome::new();
    let db = home.sqlite_profile("open", 2_000, &[]);
    let original = db_fingerprint(&db);
    home.backup("open");

    let holder = Connection::open(&db).unwrap();
    holder
        .execute("DELETE FROM orders WHERE id > 100", [])
        .unwrap();
    let n: i64 = holder
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);

    home.run_ok(&["restore", "1", "--yes"]);
    // The connection that stayed open now reads the restored data: the file was written through SQLite, not replaced.
    let n: i64 = holder
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2_000);
    drop(holder);
    assert_eq!(db_fingerprint(&db), original);
}

#[test]
fn restore_into_a_wal_database_with_another_page_size() {
    let home = TestHome::new();
    let db = home.sqlite_profile("pages", 1_000, &[]);
    let original = db_fingerprint(&db);
    home.backup("pages");
    // Recreate the live database in WAL mode with 8 KiB pages (the archive has 4 KiB pages).
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA page_size = 8192; CREATE TABLE t (x); PRAGMA journal_mode = WAL;",
        )
        .unwrap();
        let size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(size, 8192);
    }
    home.run_ok(&["restore", "1", "--yes", "--no-safety-backup"]);
    assert_eq!(db_fingerprint(&db), original);
}

/// The conformance suite's "restore into another database" case has no SQLite form: the CLI refuses it, says what
/// to do instead, and changes nothing.
#[test]
fn restore_into_another_database_is_refused_for_sqlite() {
    let home = TestHome::new();
    let db = home.sqlite_profile("other", 500, &[]);
    home.backup("other");
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    let before = db_fingerprint(&db);
    let err = home.run_err(&["restore", "1", "--yes", "--to-database", "copy"], 2);
    assert!(
        err.contains("--to-database is for server databases") && err.contains("unzip"),
        "{err}"
    );
    assert_eq!(db_fingerprint(&db), before);
    assert_eq!(home.list_json().len(), 1, "no safety backup");
    let names = common::names_in(&home.work());
    assert!(
        names.iter().all(|n| n.starts_with("other.sqlite3")),
        "no staging file, no copy: {names:?}"
    );
}

/// Cancels the job once the database copy is made, before it is compressed into the archive.
struct CancelOnFirstReport(CancelToken);

impl ProgressSink for CancelOnFirstReport {
    fn update(&self, update: &ProgressUpdate) {
        if update.stage == "checking copy" {
            self.0.cancel();
        }
    }
}

#[test]
fn cancelled_backup_leaves_no_archive_and_a_cancelled_row() {
    let home = TestHome::new();
    home.sqlite_profile("stop", 20_000, &[]);
    let ctx = home.ctx();
    let token = CancelToken::new();
    let sink = CancelOnFirstReport(token.clone());
    let job = JobControl::new(&sink, token);
    let spec = BackupSpec {
        profile: Some("stop".into()),
        kind: None,
        trigger: Trigger::Manual,
    };
    let err = jobs::backup(&ctx, &spec, &job).unwrap_err();
    assert!(matches!(err, backstop::Error::Cancelled), "{err}");
    let rows = ctx.catalog.list(None, true).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::Cancelled);
    let storage = home.home().join("archives").join("stop");
    let leftovers: Vec<_> = std::fs::read_dir(&storage)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
}

#[test]
fn rows_that_live_only_in_the_wal_are_in_the_backup() {
    let home = TestHome::new();
    let db = home.sqlite_profile("wal", 100, &[]);
    // A writer that never checkpoints and stays open: its committed rows exist only in shop.sqlite3-wal.
    let writer = Connection::open(&db).unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    writer
        .execute_batch("CREATE TABLE late (x); INSERT INTO late VALUES (1), (2), (3);")
        .unwrap();
    let wal = std::fs::metadata(format!("{}-wal", db.display()))
        .unwrap()
        .len();
    assert!(wal > 0, "the rows are in the WAL");
    let archive = home.backup("wal");
    let copy = home.work().join("copy.sqlite3");
    extract_db(&archive, &copy);
    let conn = Connection::open(&copy).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM late", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    // The copy of a WAL database is a plain file that opens anywhere without sidecars.
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    drop(writer);
}

#[test]
fn a_hot_journal_left_by_a_killed_writer_is_rolled_back_before_the_copy() {
    let home = TestHome::new();
    let db = home.sqlite_profile("hot", 5_000, &[]);
    Connection::open(&db)
        .unwrap()
        .pragma_update(None, "journal_mode", "DELETE")
        .unwrap();
    let committed = db_fingerprint(&db);
    // A writer in rollback-journal mode spills a big uncommitted change into the file, then is killed.
    let sql = "PRAGMA cache_size = 1; BEGIN; UPDATE orders SET comment = hex(randomblob(300)); \
               WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000000) SELECT count(*) FROM c;";
    let mut writer = Command::new("sqlite3")
        .arg(&db)
        .arg(sql)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let journal = std::path::PathBuf::from(format!("{}-journal", db.display()));
    let start = Instant::now();
    while std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) < 64 * 1024
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert!(journal.exists(), "the killed writer left a hot journal");

    let archive = home.backup("hot");
    let copy = home.work().join("copy.sqlite3");
    extract_db(&archive, &copy);
    assert_eq!(
        db_fingerprint(&copy).0,
        committed.0,
        "the backup holds the committed state only"
    );
    assert!(
        !journal.exists() || std::fs::metadata(&journal).unwrap().len() == 0,
        "SQLite recovered the database"
    );
}

#[test]
fn audit_no_raw_copies_of_a_live_database() {
    // The only ways Backstop reads a live database are SQLite's own (VACUUM INTO, the backup API): no byte copies.
    let mut offenders = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                if line.contains("fs::copy(")
                    || line.contains("File::open(&self.path")
                    || line.contains("File::open(&self.target")
                {
                    offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "raw file access to a database: {offenders:#?}"
    );
}
