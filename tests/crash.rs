//! Fault injection: `kill -9` of real backup and restore processes at many moments. After each kill, the next start
//! must leave every backup either absent or complete and verifiable, no partial file, and a live database that is
//! intact and holds either the old or the new state, never a mix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{TestHome, db_fingerprint};
use std::time::Duration;

/// Kill moments spread evenly over one uninterrupted run of the same job (copy, compress, verify, rename, catalog),
/// plus one right at the start and more near the end.
fn delays(full_run: Duration) -> Vec<Duration> {
    let mut out = vec![Duration::from_millis(1)];
    out.extend((1..=12).map(|k| full_run * k / 13));
    // The swap and the catalog update are at the end: look there more closely.
    out.extend((0..8).map(|k| full_run * (80 + 3 * k) / 100));
    // And one that lets the job finish even on a loaded machine.
    out.push(full_run * 3);
    out
}

/// Times one complete run of `args`.
fn time_run(home: &TestHome, args: &[&str]) -> Duration {
    let start = std::time::Instant::now();
    home.run_ok(args);
    start.elapsed()
}

fn partial_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect()
}

#[test]
fn kill_9_during_backups_never_leaves_a_half_archive() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 120_000, &["--keep-last", "100"]);
    let original = db_fingerprint(&db);
    let storage = home.home().join("archives").join("shop");
    let full = time_run(&home, &["backup"]);
    for delay in delays(full) {
        let mut child = home.spawn(&["backup"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // The next start reconciles: no running rows, no partial files, and every completed archive verifies.
        let rows = home.list_json();
        assert!(
            rows.iter().all(|r| r["status"] != "running"),
            "after {delay:?}: {rows:?}"
        );
        assert!(
            partial_files(&storage).is_empty(),
            "after {delay:?}: {:?}",
            partial_files(&storage)
        );
        home.run_ok(&["verify", "--all"]);
        for row in rows.iter().filter(|r| r["status"] == "failed") {
            assert!(
                !std::path::Path::new(row["path"].as_str().unwrap()).exists(),
                "a failed row has no archive"
            );
        }
        let leftovers: Vec<String> = std::fs::read_dir(db.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".restore-") || n.contains(".snapshot"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    assert_eq!(
        db_fingerprint(&db),
        original,
        "backups never change the live database"
    );
    // The killed process's lock died with it: a new backup runs at once and completes.
    home.backup("shop");
    let rows = home.list_json();
    assert!(rows.iter().any(|r| r["status"] == "completed"));
}

/// The restore log, newest first.
fn restore_log(home: &TestHome) -> Vec<serde_json::Value> {
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    log["restores"].as_array().unwrap().clone()
}

#[test]
fn kill_9_during_restores_leaves_the_old_or_the_new_database() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 120_000, &["--keep-last", "100"]);
    let backed_up = db_fingerprint(&db);
    home.backup("shop");
    let full = time_run(&home, &["restore", "1", "--yes", "--no-safety-backup"]);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("DELETE FROM orders WHERE id % 2 = 0; VACUUM;")
            .unwrap();
    }
    let changed = db_fingerprint(&db);
    let mut outcomes = (0, 0);
    for delay in delays(full) {
        // Put the changed state back before each attempt, so each kill interrupts a real swap.
        if db_fingerprint(&db) != changed {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute("DELETE FROM orders WHERE id % 2 = 0", [])
                .unwrap();
        }
        let restores_before = restore_log(&home).len();
        let mut child = home.spawn(&["restore", "1", "--yes", "--no-safety-backup"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        home.list_json();
        // The restore log tells what the killed restore did, as the database shows it.
        let log = restore_log(&home);
        let replaced = db_fingerprint(&db).0 == backed_up.0;
        if log.len() > restores_before {
            let message = log[0]["message"].as_str().unwrap_or_default();
            if replaced {
                assert_eq!(log[0]["outcome"], "completed", "after {delay:?}: {message}");
            } else {
                assert_eq!(log[0]["outcome"], "failed", "after {delay:?}: {message}");
                assert!(
                    message.starts_with("nothing changed"),
                    "after {delay:?}: {message}"
                );
            }
        } else {
            assert!(!replaced, "after {delay:?}: replaced without a log row");
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "after {delay:?}");
        drop(conn);
        let now = db_fingerprint(&db);
        if now.0 == backed_up.0 {
            outcomes.1 += 1;
        } else {
            assert_eq!(
                now.0, changed.0,
                "after {delay:?} the database is neither the old nor the new state"
            );
            outcomes.0 += 1;
        }
        let leftovers: Vec<String> = std::fs::read_dir(db.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "after {delay:?}: {leftovers:?}");
    }
    eprintln!(
        "restores killed before the swap: {}, after: {}",
        outcomes.0, outcomes.1
    );
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "kills must land both before and after the swap: {outcomes:?}"
    );
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    assert!(
        log["restores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "running"),
        "interrupted restores are marked failed"
    );
}

/// A full restore (database + files folder) killed at many moments: after the next start, the database and the
/// folder are both the old state or both the backup's, never one of each, and no staging folder is left.
#[test]
fn kill_9_during_full_restores_leaves_database_and_folder_matching() {
    let home = TestHome::new();
    let media = home.work().join("media");
    for d in 0..20 {
        let dir = media.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..15 {
            let body: Vec<u8> = (0..(20_000 + d * 997 + f * 131))
                .map(|i| (i * 7 + d * 13 + f) as u8)
                .collect();
            std::fs::write(dir.join(format!("f{f:02}.bin")), body).unwrap();
        }
    }
    let db = home.sqlite_profile(
        "shop",
        60_000,
        &["--keep-last", "100", "--files", media.to_str().unwrap()],
    );
    let backed_up = (db_fingerprint(&db).0, common::tree_snapshot(&media));
    home.backup("shop");
    let change = || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("DELETE FROM orders WHERE id % 2 = 0", [])
            .unwrap();
        std::fs::write(media.join("d00/f00.bin"), "changed").unwrap();
        std::fs::remove_file(media.join("d01/f01.bin")).ok();
    };
    change();
    let changed = (db_fingerprint(&db).0, common::tree_snapshot(&media));
    let full = time_run(&home, &["restore", "1", "--yes", "--no-safety-backup"]);
    let parent = media.parent().unwrap().to_path_buf();
    let tidy = || {
        for e in std::fs::read_dir(&parent).unwrap().flatten() {
            if e.file_name().to_string_lossy().contains(".pre_restore_") {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
    };
    tidy();
    let mut outcomes = (0, 0);
    // Every other moment, and always the last one, which lets the job finish even on a loaded machine.
    let all = delays(full);
    let mut picked: Vec<Duration> = all.iter().step_by(2).copied().collect();
    picked.extend(all.last().copied().filter(|_| all.len().is_multiple_of(2)));
    for delay in picked {
        change();
        assert_eq!(
            (db_fingerprint(&db).0, common::tree_snapshot(&media)),
            changed
        );
        let mut child = home.spawn(&["restore", "1", "--yes", "--no-safety-backup"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        home.list_json();
        let now = (db_fingerprint(&db).0, common::tree_snapshot(&media));
        if now == backed_up {
            outcomes.1 += 1;
        } else {
            assert!(
                now == changed,
                "after {delay:?} the database and the folder do not match one state (database restored: {}, folder restored: {})",
                now.0 == backed_up.0,
                now.1 == backed_up.1
            );
            outcomes.0 += 1;
        }
        let stray: Vec<String> = std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("backstop-restore"))
            .collect();
        assert!(stray.is_empty(), "after {delay:?}: {stray:?}");
        assert!(!home.home().join("state/restore-shop.json").exists());
        tidy();
    }
    eprintln!(
        "full restores killed before any change: {}, finished: {}",
        outcomes.0, outcomes.1
    );
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
}
