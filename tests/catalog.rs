//! The catalog: crash leftovers are reconciled on the next start, and the archives rebuild it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::catalog::Catalog;
use backstop::model::{Kind, Status, Trigger};
use chrono::Utc;
use common::TestHome;
use std::path::PathBuf;

#[test]
fn a_crash_while_writing_leaves_a_failed_row_and_no_partial_file() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &[]);
    let good = home.backup("shop");
    let storage = good.parent().unwrap().to_path_buf();
    // What a kill -9 during a backup leaves: a running row and a half-written .partial (and a snapshot file).
    let final_path = storage.join("shop_database_20260101_000000_manual.zip");
    {
        let catalog = Catalog::open(&home.paths().catalog_file).unwrap();
        catalog
            .insert_running(
                "shop",
                Kind::Database,
                Trigger::Manual,
                Utc::now(),
                &final_path,
            )
            .unwrap();
    }
    let partial = storage.join("shop_database_20260101_000000_manual.zip.partial");
    std::fs::write(&partial, b"PK\x03\x04 half an archive").unwrap();
    let snapshot = storage.join(".shop.12345.snapshot.partial");
    std::fs::write(&snapshot, b"SQLite format 3\0...").unwrap();
    let unrelated = storage.join("notes.partial");
    std::fs::write(&unrelated, b"not ours").unwrap();

    let out = home.run(&["list", "--json", "--all"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted") && err.contains("marked failed"),
        "{err}"
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[1]["status"], "failed");
    assert!(rows[1]["error"].as_str().unwrap().contains("interrupted"));
    assert_eq!(
        rows[0]["status"], "completed",
        "the older backup is untouched"
    );
    assert!(
        !partial.exists() && !snapshot.exists(),
        "stray partial files are removed"
    );
    assert!(
        unrelated.exists(),
        "files that are not Backstop's are never removed"
    );
    assert!(good.is_file());
}

#[test]
fn a_crash_after_the_rename_completes_the_verified_archive() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &[]);
    let good = home.backup("shop");
    // The archive reached its final name but the process died before the catalog said completed.
    let renamed = good.with_file_name("shop_database_20260101_000000_manual.zip");
    std::fs::copy(&good, &renamed).unwrap();
    {
        let catalog = Catalog::open(&home.paths().catalog_file).unwrap();
        catalog
            .insert_running(
                "shop",
                Kind::Database,
                Trigger::Manual,
                Utc::now(),
                &renamed,
            )
            .unwrap();
    }
    let rows = home.list_json();
    assert_eq!(rows[1]["status"], "completed");
    assert!(PathBuf::from(format!("{}.sha256", renamed.display())).is_file());
    home.run_ok(&["verify", "2"]);
}

#[test]
fn a_running_row_of_a_live_job_is_left_alone() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    {
        let catalog = Catalog::open(&home.paths().catalog_file).unwrap();
        catalog
            .insert_running(
                "shop",
                Kind::Database,
                Trigger::Manual,
                Utc::now(),
                &home.work().join("x.zip"),
            )
            .unwrap();
    }
    let lock = backstop::lock::ProfileLock::acquire(&home.paths(), "shop").unwrap();
    let rows = home.list_json();
    assert_eq!(
        rows[0]["status"], "running",
        "another process holds the profile: its row is live"
    );
    drop(lock);
    let rows = home.list_json();
    assert_eq!(rows[0]["status"], "failed");
}

#[test]
fn rebuild_restores_the_catalog_from_the_archives() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200, &[]);
    home.backup("shop");
    home.backup("shop");
    home.run_ok(&["pin", "1"]);
    home.run_ok(&["restore", "2", "--yes"]);
    let before = home.list_json();
    assert_eq!(before.len(), 3);

    // With the old catalog readable, a rebuild keeps every id.
    home.run_ok(&["catalog", "rebuild"]);
    let kept = home.list_json();
    for (a, b) in before.iter().zip(&kept) {
        for field in ["id", "path", "sha256", "created_at", "duration_ms"] {
            assert_eq!(a[field], b[field], "{field}");
        }
    }

    // Lose the catalog entirely.
    let catalog = home.paths().catalog_file;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", catalog.display()));
    }
    assert_eq!(home.list_json().len(), 0);
    let out = home.run_ok(&["catalog", "rebuild"]);
    assert!(out.contains("3 archive(s)"), "{out}");
    let after = home.list_json();
    assert_eq!(after.len(), 3);
    for (a, b) in before.iter().zip(&after) {
        for field in [
            "profile",
            "kind",
            "trigger",
            "status",
            "path",
            "size_bytes",
            "sha256",
            "created_at",
        ] {
            assert_eq!(a[field], b[field], "{field}");
        }
    }
    assert_eq!(after[0]["pinned"], true, "pins survive a rebuild");
    home.run_ok(&["verify", "--all"]);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    home.run_ok(&["restore", "1", "--yes"]);
}

#[test]
fn a_damaged_catalog_says_to_rebuild_and_rebuild_fixes_it() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    home.backup("shop");
    home.backup("shop");
    let catalog = home.paths().catalog_file;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", catalog.display()));
    }
    std::fs::write(&catalog, vec![0x42u8; 8192]).unwrap();
    let out = home.run(&["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("catalog rebuild"), "{err}");
    let out = home.run_ok(&["catalog", "rebuild"]);
    assert!(
        out.contains("2 archive(s)") && out.contains("old catalog was kept"),
        "{out}"
    );
    assert_eq!(home.list_json().len(), 2);
    home.run_ok(&["verify", "--all"]);
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let home = TestHome::new();
    let path = home.work().join("catalog.sqlite3");
    let catalog = Catalog::open(&path).unwrap();
    let id = catalog
        .insert_running("p", Kind::Database, Trigger::Manual, Utc::now(), &path)
        .unwrap();
    drop(catalog);
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.get(id).unwrap().status, Status::Running);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Catalog::open(&path).err().unwrap().to_string();
    assert!(err.contains("newer than this Backstop knows"), "{err}");
}

#[test]
fn a_shared_folder_is_not_cleaned_while_another_profile_writes_to_it() {
    let home = TestHome::new();
    let shared = home.work().join("shared");
    let shared_arg = shared.to_str().unwrap().to_string();
    home.sqlite_profile("a", 10, &["--storage", &shared_arg]);
    home.sqlite_profile("b", 10, &["--storage", &shared_arg]);
    // Profile b is busy writing an archive in the shared folder.
    let lock = backstop::lock::ProfileLock::acquire(&home.paths(), "b").unwrap();
    let in_progress = shared.join("b_database_20260101_000000_manual.zip.partial");
    std::fs::write(&in_progress, b"being written").unwrap();
    home.list_json();
    assert!(
        in_progress.exists(),
        "another profile's live partial file must survive start-up"
    );
    drop(lock);
    home.list_json();
    assert!(
        !in_progress.exists(),
        "once nobody holds the folder, the stray partial goes"
    );
}

/// Several processes starting at once on a new home all create (or find) the same catalog: none is told its
/// catalog may be damaged, and the catalog is whole afterwards.
#[test]
fn processes_starting_at_once_on_a_new_home_share_one_catalog() {
    for round in 0..10 {
        let home = TestHome::new();
        for (code, stderr) in home.run_at_once(&[&["list", "--json"][..]; 8]) {
            assert_eq!(code, Some(0), "round {round}: {stderr}");
            assert!(stderr.is_empty(), "round {round}: {stderr}");
        }
        let version: i64 = rusqlite::Connection::open(home.paths().catalog_file)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 6, "round {round}");
        assert!(home.list_json().is_empty());
    }
}

/// Several processes starting at once on a catalog of an older schema: one migrates it, the others wait for it and
/// then use it; every row is still there.
#[test]
fn processes_starting_at_once_on_an_old_catalog_migrate_it_once() {
    for round in 0..5 {
        let home = TestHome::new();
        home.sqlite_profile("shop", 20, &[]);
        home.backup("shop");
        {
            // What the first schema looked like: none of the later columns, user_version 1.
            let conn = rusqlite::Connection::open(home.paths().catalog_file).unwrap();
            conn.execute_batch(
                "DROP INDEX backups_sha256; DROP INDEX backups_source_sha256;
                 ALTER TABLE backups DROP COLUMN source_sha256; ALTER TABLE restores DROP COLUMN step;
                 ALTER TABLE backups DROP COLUMN warnings_json; ALTER TABLE backups DROP COLUMN tables_json;
                 DROP TABLE copies; ALTER TABLE backups DROP COLUMN encryption; PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        for (code, stderr) in home.run_at_once(&[&["list", "--json"][..]; 8]) {
            assert_eq!(code, Some(0), "round {round}: {stderr}");
            assert!(stderr.is_empty(), "round {round}: {stderr}");
        }
        let rows = home.list_json();
        assert_eq!(rows.len(), 1, "round {round}");
        assert_eq!(rows[0]["status"], "completed");
    }
}

/// A profile's storage folder that is missing (an unplugged drive) stops the rebuild before anything changes: it
/// would otherwise drop that profile's backups from the catalog.
#[test]
fn rebuild_refuses_while_a_storage_folder_is_missing() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    home.backup("shop");
    let drive = home.work().join("usb-drive");
    std::fs::create_dir_all(&drive).unwrap();
    let storage = drive.join("backstop");
    home.sqlite_profile("offsite", 50, &["--storage", storage.to_str().unwrap()]);
    home.backup("offsite");
    let before = home.list_json();
    assert_eq!(before.len(), 2);
    let catalog = home.paths().catalog_file;
    let catalog_bytes = std::fs::read(&catalog).unwrap();
    let unplugged = home.work().join("usb-drive-unplugged");
    std::fs::rename(&drive, &unplugged).unwrap();

    let out = home.run(&["catalog", "rebuild"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("offsite")
            && stderr.contains(storage.to_str().unwrap())
            && stderr.contains("mounted"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&catalog).unwrap(), catalog_bytes);
    assert_eq!(home.list_json(), before);
    let names: Vec<String> = std::fs::read_dir(home.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".old-") || n.ends_with(".partial")),
        "{names:?}"
    );

    // Plugged back in, the rebuild runs and finds both profiles' backups.
    std::fs::rename(&unplugged, &drive).unwrap();
    let out = home.run_ok(&["catalog", "rebuild"]);
    assert!(out.contains("2 archive(s)"), "{out}");
}

/// The old catalog a rebuild keeps is never overwritten: not by a second rebuild in the same second, nor by a file
/// already named as this second's copy would be.
#[test]
fn rebuilds_never_overwrite_a_saved_catalog() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    home.backup("shop");
    let old_copies = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(home.home())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with("catalog.sqlite3.old-")
                    && !name.ends_with("-wal")
                    && !name.ends_with("-shm")
            })
            .collect();
        v.sort();
        v
    };
    // Whatever second the rebuilds below run in, its name is already taken by a copy that must survive.
    let now = Utc::now();
    let mut sentinels = Vec::new();
    for s in 0..300 {
        let stamp = (now + chrono::Duration::seconds(s)).format("%Y%m%d_%H%M%S");
        let path = home.home().join(format!("catalog.sqlite3.old-{stamp}"));
        std::fs::write(&path, format!("saved copy {s}")).unwrap();
        sentinels.push(path);
    }
    let before = old_copies().len();
    let first = home.run_ok(&["catalog", "rebuild"]);
    let second = home.run_ok(&["catalog", "rebuild"]);
    let after = old_copies();
    assert_eq!(after.len(), before + 2, "{first}{second}{after:?}");
    for (s, path) in sentinels.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            format!("saved copy {s}"),
            "{}",
            path.display()
        );
    }
    // Each kept copy is a whole catalog that still lists the backup.
    for path in after.iter().filter(|p| !sentinels.contains(p)) {
        let conn = rusqlite::Connection::open(path).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM backups", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "{}", path.display());
    }
    assert_eq!(home.list_json().len(), 1);
}
