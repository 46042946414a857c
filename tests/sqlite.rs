//! SQLite round trips against real database files: consistency under concurrent writers, restores while other
//! connections hold the file open, cancel, and the WAL page-size case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::jobs::{self, BackupRef, BackupSpec, RestoreSpec};
use backstop::model::{Status, Trigger};
use backstop::progress::{CancelToken, JobControl, ProgressSink, ProgressUpdate};
use common::{TestHome, db_fingerprint, quiet_job};
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
fn restore_brings_back_every_row_and_the_schema() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 5_000, &[]);
    {
        let conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 42).unwrap();
        conn.execute_batch(
            "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n);
             INSERT INTO kinds (i, r, t, b, n) VALUES (9223372036854775807, 1.5e300, 'ünïcødé ✓', x'00FF10', NULL);
             CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN SELECT 1; END;",
        )
        .unwrap();
    }
    let original = db_fingerprint(&db);
    home.backup("shop");

    // Damage the live database in every way an app might.
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "DELETE FROM orders WHERE id % 3 = 0; UPDATE customers SET name = 'x'; DROP TABLE kinds;
             CREATE TABLE junk (x); INSERT INTO junk VALUES (1);",
        )
        .unwrap();
    }
    assert_ne!(db_fingerprint(&db), original);

    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(
        db_fingerprint(&db),
        original,
        "restored data differs from the original"
    );
    let conn = Connection::open(&db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 42, "user_version must survive the round trip");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // The restore took a safety backup of the damaged state first, and it restores too.
    let rows = home.list_json();
    let safety = rows
        .iter()
        .find(|r| r["trigger"] == "safety")
        .expect("a safety backup row");
    assert_eq!(safety["status"], "completed");
}

#[test]
fn backup_is_consistent_while_another_process_commits_100_transactions_a_second() {
    let home = TestHome::new();
    let db = home.sqlite_profile("busy", 150_000, &[]);
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE ticks (id INTEGER PRIMARY KEY, payload TEXT);
             CREATE TABLE totals (n INTEGER NOT NULL); INSERT INTO totals VALUES (0);",
        )
        .unwrap();
    }
    // Another process: one sqlite3 client per transaction, each inserting a tick and bumping the total together.
    let stop = home.work().join("stop");
    let script = format!(
        "i=0; while [ ! -e '{stop}' ] && [ $i -lt 3000 ]; do \
           sqlite3 '{db}' 'PRAGMA busy_timeout=5000; BEGIN IMMEDIATE; INSERT INTO ticks(payload) VALUES (hex(randomblob(64))); UPDATE totals SET n = n + 1; COMMIT;' >/dev/null || exit 1; \
           i=$((i+1)); sleep 0.01; done",
        stop = stop.display(),
        db = db.display()
    );
    let mut writer = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let count = |db: &Path| -> (i64, i64) {
        let conn = Connection::open(db).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row(
            "SELECT (SELECT count(*) FROM ticks), (SELECT n FROM totals)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    // Let the writer get going.
    let start = Instant::now();
    while count(&db).0 < 20 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = count(&db).0;
    let archive = home.backup("busy");
    let after = count(&db).0;
    std::fs::write(&stop, b"").unwrap();
    assert!(
        writer.wait().unwrap().success(),
        "the writer process failed"
    );
    assert!(
        after > before,
        "the writer kept committing during the backup ({before} -> {after})"
    );

    let copy = home.work().join("copy.sqlite3");
    extract_db(&archive, &copy);
    let conn = Connection::open(&copy).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (ticks, total) = count(&copy);
    assert_eq!(ticks, total, "the copy is torn: ticks and totals disagree");
    assert!(
        ticks >= before && ticks <= after,
        "copy holds {ticks} ticks, outside {before}..={after}"
    );
    // The copy is a plain file that opens anywhere without sidecars.
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
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
fn restore_recreates_a_missing_database_without_a_safety_backup() {
    let home = TestHome::new();
    let db = home.sqlite_profile("gone", 500, &[]);
    let original = db_fingerprint(&db);
    home.backup("gone");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    home.run_ok(&["restore", "1", "--yes"]);
    assert_eq!(db_fingerprint(&db), original);
    assert!(home.list_json().iter().all(|r| r["trigger"] != "safety"));
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
fn validate_only_checks_everything_and_changes_nothing() {
    let home = TestHome::new();
    let db = home.sqlite_profile("check", 1_000, &[]);
    home.backup("check");
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    let damaged = db_fingerprint(&db);
    let ctx = home.ctx();
    let report = jobs::restore(
        &ctx,
        &RestoreSpec {
            source: BackupRef::Id(1),
            profile: None,
            validate_only: true,
            safety_backup: true,
            target_database: None,
            terminate_sessions: false,
            only: Vec::new(),
            to: None,
            allow_other_profile: false,
        },
        &quiet_job(),
    )
    .unwrap();
    assert!(report.validate_only);
    assert_eq!(report.tables["orders"], 1_000);
    assert!(
        report.message.contains("nothing was changed"),
        "{}",
        report.message
    );
    assert_eq!(db_fingerprint(&db), damaged);
    assert_eq!(
        ctx.catalog.list(None, true).unwrap().len(),
        1,
        "no safety backup for a validation"
    );
    let log = ctx.catalog.restores(None).unwrap();
    assert_eq!(log.len(), 1);
    assert!(log[0].validate_only);
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
    let n: i64 = Connection::open(&copy)
        .unwrap()
        .query_row("SELECT count(*) FROM late", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
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
