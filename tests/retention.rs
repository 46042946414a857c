//! Retention on real archives: only after a verified backup, scoped per profile, dry run equal to reality.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::TestHome;
use std::path::PathBuf;

fn existing(rows: &[serde_json::Value]) -> Vec<i64> {
    rows.iter()
        .filter(|r| r["status"] == "completed")
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// The ids a `prune --json` report deletes (or would, in a dry run).
fn deleted_ids(report: &serde_json::Value) -> Vec<i64> {
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["keep"] == false)
        .map(|v| v["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_failed_backup_deletes_nothing() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 20, &["--keep-last", "2"]);
    home.backup("shop");
    home.backup("shop");
    let before = home.list_json();
    assert_eq!(existing(&before), [1, 2]);
    // The next backup fails (the database is gone): retention must not run.
    std::fs::rename(&db, db.with_extension("moved")).unwrap();
    home.run_code(&["backup"], 1);
    let after = home.list_json();
    assert_eq!(existing(&after), [1, 2], "nothing deleted after a failure");
    assert_eq!(after[2]["status"], "failed");
    for row in &before {
        assert!(PathBuf::from(row["path"].as_str().unwrap()).is_file());
    }
}

#[test]
fn retention_is_scoped_to_one_profile_even_in_a_shared_folder() {
    let home = TestHome::new();
    let shared = home.work().join("shared-storage");
    let shared = shared.to_str().unwrap();
    home.sqlite_profile("a", 10, &["--keep-last", "1", "--storage", shared]);
    home.sqlite_profile("b", 10, &["--keep-last", "5", "--storage", shared]);
    home.backup("b");
    home.backup("b");
    home.backup("a");
    home.backup("a");
    let rows = home.list_json();
    let status = |profile: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["profile"] == profile)
            .map(|r| r["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(status("a"), ["deleted", "completed"]);
    assert_eq!(
        status("b"),
        ["completed", "completed"],
        "profile b's backups are not a's to prune"
    );
}

#[test]
fn the_dry_run_plan_is_what_prune_then_does() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--keep-last", "10"]);
    for _ in 0..6 {
        home.backup("shop");
    }
    home.run_ok(&["pin", "2"]);
    home.run_ok(&["profile", "edit", "shop", "--keep-last", "2"]);
    let plan: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["prune", "--dry-run", "--json"])).unwrap();
    let mut planned = deleted_ids(&plan);
    planned.sort();
    assert_eq!(planned, [1, 3, 4]);
    for verdict in plan["verdicts"].as_array().unwrap() {
        assert!(!verdict["reason"].as_str().unwrap().is_empty());
    }
    let done: serde_json::Value = serde_json::from_str(&home.run_ok(&["prune", "--json"])).unwrap();
    let mut deleted = deleted_ids(&done);
    deleted.sort();
    assert_eq!(deleted, planned);
    assert_eq!(existing(&home.list_json()), [2, 5, 6]);
    // Every deletion is logged with its reason.
    let log = std::fs::read_to_string(home.home().join("state").join("backstop.log")).unwrap();
    assert_eq!(
        log.matches("prune profile=shop deleted").count(),
        3,
        "{log}"
    );
    assert!(log.contains("not among the 2 newest"), "{log}");
}

#[test]
fn uploaded_and_young_safety_backups_are_kept() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 10, &["--keep-last", "1"]);
    home.backup("shop");
    home.run_ok(&["restore", "1", "--yes"]);
    let copy = home.work().join("copy.sqlite3");
    std::fs::copy(&db, &copy).unwrap();
    home.run_ok(&["import", copy.to_str().unwrap()]);
    home.backup("shop");
    home.backup("shop");
    let rows = home.list_json();
    let by_trigger = |t: &str| -> Vec<&str> {
        rows.iter()
            .filter(|r| r["trigger"] == t)
            .map(|r| r["status"].as_str().unwrap())
            .collect()
    };
    assert_eq!(by_trigger("safety"), ["completed"]);
    assert_eq!(by_trigger("uploaded"), ["completed"]);
    assert_eq!(by_trigger("manual"), ["deleted", "deleted", "completed"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Clocks: the real binary under `faketime` (Debian package `faketime`, installed by .ci/run).

/// `list --json --all` as the binary sees it at `offset`.
fn list_at(home: &TestHome, offset: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&String::from_utf8_lossy(
        &home.run_at(offset, &["list", "--json", "--all"]).stdout,
    ))
    .unwrap()
}

/// `run-due --json` as the binary sees it at `offset`.
fn run_due_at(home: &TestHome, offset: &str) -> serde_json::Value {
    serde_json::from_slice(&home.run_at(offset, &["run-due", "--json"]).stdout).unwrap()
}

/// Whole hours from `now` to the time in the first profile's "not due until …" reason.
fn hours_until_next(due: &serde_json::Value, now: chrono::DateTime<chrono::Utc>) -> i64 {
    let reason = due[0]["reason"].as_str().unwrap();
    let next = reason
        .strip_prefix("not due until ")
        .unwrap_or_else(|| panic!("{reason}"));
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    (next.with_timezone(&chrono::Utc) - now).num_hours()
}

fn ahead(rows: &[serde_json::Value], id: i64) -> Option<i64> {
    let row = rows.iter().find(|r| r["id"] == id).unwrap();
    row["clock_ahead_secs"].as_i64()
}

#[test]
fn a_backup_dated_in_the_future_never_displaces_current_backups() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 20, &["--keep-last", "1", "--auto-hours", "24"]);
    // 1: an automatic backup taken while the clock was 400 days ahead.
    let out = home.run_at("+400d", &["run-due"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up"));

    // Back at the right time: each new backup survives the retention run after it, printed path and all.
    for id in 2..=3 {
        let path = home.backup("shop");
        assert!(
            path.is_file(),
            "backup {id} deleted itself: {}",
            path.display()
        );
        assert_eq!(
            existing(&home.list_json()),
            [id, 1],
            "keep-last 1 keeps {id}"
        );
    }
    home.run_ok(&["profile", "edit", "shop", "--keep-last", "3"]);
    for _ in 4..=6 {
        home.backup("shop");
    }
    let rows = home.list_json();
    // keep-last 3 keeps three current backups; the future one uses none of their slots and is kept too.
    assert_eq!(existing(&rows), [4, 5, 6, 1]);
    let days_ahead = ahead(&rows, 1).expect("backup 1 is flagged") as f64 / 86_400.0;
    assert!((399.9..=400.1).contains(&days_ahead), "{days_ahead}");
    for id in [4, 5, 6] {
        assert_eq!(ahead(&rows, id), None, "backup {id} is current");
        assert!(
            rows.iter()
                .any(|r| r["id"] == id && r["clock_ahead_secs"].is_null())
        );
    }
    // The age base ignores the future one: max-age 1 day does not delete today's backups.
    home.run_ok(&["profile", "edit", "shop", "--max-age-days", "1"]);
    home.backup("shop");
    assert_eq!(existing(&home.list_json()), [5, 6, 7, 1]);

    // The schedule is not fooled: the last automatic backup is in the future, so one is due now (not in 400
    // days), and after it the next falls due one interval from now.
    let due: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["run-due", "--json"])).unwrap();
    assert_eq!(due[0]["due"], true, "{due}");
    assert!(due[0]["backup"]["path"].is_string(), "{due}");
    let due: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["run-due", "--json"])).unwrap();
    assert_eq!(due[0]["due"], false, "{due}");
    let hours = hours_until_next(&due, chrono::Utc::now());
    assert!((23..=24).contains(&hours), "{due}");
    assert!(db.is_file());
}

/// The clock runs 400 days ahead while a backup is taken (the visual review's case): `max_age_days` must not age
/// every earlier backup out against that clock. Ages count from the newest backup before the one just made.
#[test]
fn a_clock_ahead_while_a_backup_runs_does_not_age_the_earlier_backups_out() {
    let home = TestHome::new();
    home.sqlite_profile(
        "shop",
        20,
        &["--keep-last", "10", "--max-age-days", "30", "--no-auto"],
    );
    home.backup("shop");
    home.backup("shop");
    home.run_at("+400d", &["backup", "--profile", "shop"]);
    assert_eq!(
        existing(&home.list_json()),
        [1, 2, 3],
        "the two real backups survive the run under the wrong clock"
    );
    // Back at the right time, backup 3 is flagged as dated in the future, and the next backup keeps everything too.
    home.backup("shop");
    let rows = home.list_json();
    assert!(ahead(&rows, 3).is_some(), "{rows:#?}");
    assert_eq!(existing(&rows).len(), 4);
}

#[test]
fn when_the_clock_jumps_back_the_backup_just_made_survives_and_nothing_current_is_lost() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &["--keep-last", "1", "--auto-hours", "24"]);
    // 1: automatic, at the right time. Then the clock jumps back a day: 1 now looks 1 day ahead, so an automatic
    // backup is due at once (not in two days), and 2 is made "yesterday".
    home.run_ok(&["run-due"]);
    let due = run_due_at(&home, "-1d");
    assert_eq!(due[0]["due"], true, "{due}");
    let path = std::path::PathBuf::from(due[0]["backup"]["path"].as_str().unwrap());
    assert!(path.is_file(), "the backup just made was deleted");
    // The schedule now counts from 2: nothing due until a day after the (shifted) clock's now.
    let due = run_due_at(&home, "-1d");
    assert_eq!(due[0]["due"], false, "{due}");
    let hours = hours_until_next(&due, chrono::Utc::now() - chrono::Duration::days(1));
    assert!((23..=24).contains(&hours), "{due}");
    let rows = list_at(&home, "-1d");
    assert_eq!(
        existing(&rows),
        [2, 1],
        "neither the new one nor the 'future' one is deleted"
    );
    let hours = ahead(&rows, 1).expect("backup 1 is ahead of this clock") as f64 / 3600.0;
    assert!((23.9..=24.1).contains(&hours), "{hours}");
    assert_eq!(ahead(&rows, 2), None);

    // A jump back smaller than the skew tolerance: 3 is older than 2 by its stamp but is the one just made.
    home.backup("shop");
    let out = home.run_at("-2m", &["backup", "--profile", "shop"]);
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_file(), "the backup just made was deleted");
    let rows = home.list_json();
    assert_eq!(existing(&rows), [4, 3], "{rows:#?}");
}

// ---------------------------------------------------------------------------------------------------------------
// Sources that are not a database, and backups the change check flags.

#[test]
fn an_empty_file_a_non_database_and_a_schema_less_database_fail_and_delete_nothing() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 20, &["--keep-last", "1"]);
    let good = home.backup("shop");
    let cases: [(&str, &dyn Fn(), &str); 3] = [
        ("0 bytes", &|| std::fs::write(&db, b"").unwrap(), "0 bytes"),
        (
            "not a database",
            &|| std::fs::write(&db, "id,name\n1,ann\n".repeat(200)).unwrap(),
            "not a SQLite database",
        ),
        (
            "no tables left",
            &|| {
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch(
                    "DROP VIEW order_totals; DROP TABLE orders; DROP TABLE products; DROP TABLE customers;",
                )
                .unwrap();
            },
            "no tables",
        ),
    ];
    for (name, damage, message) in cases {
        let _ = std::fs::remove_file(db.with_extension("sqlite3-wal"));
        let _ = std::fs::remove_file(db.with_extension("sqlite3-shm"));
        damage();
        let out = home.run(&["backup", "--profile", "shop"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {name}: {stderr}");
        assert!(stderr.contains(message), "case {name}: {stderr}");
        assert!(good.is_file(), "case {name}: the good backup was deleted");
        let rows = home.list_json();
        assert_eq!(existing(&rows), [1], "case {name}");
        assert_eq!(rows.last().unwrap()["status"], "failed", "case {name}");
        // A fresh database for the next case.
        std::fs::remove_file(&db).unwrap();
        backstop::demo::make_sample_database(&db, 20).unwrap();
    }
}

#[test]
fn a_flagged_backup_completes_with_warnings_and_retention_deletes_nothing_until_a_clean_one() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 400, &["--keep-last", "1", "--no-auto"]);
    home.backup("shop");
    // 90% of the orders vanish and a table is dropped.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; DELETE FROM orders WHERE id % 10 != 0; DROP VIEW order_totals; DROP TABLE products;",
    )
        .unwrap();
    drop(conn);
    let (report, stderr) = home.backup_json("shop");
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("orders") && w.contains("400") && w.contains("40")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("products") && w.contains("gone")),
        "{warnings:?}"
    );
    assert_eq!(report["pruned"].as_array().unwrap().len(), 0);
    let note = report["retention_skipped"].as_str().unwrap();
    assert!(note.contains("flagged"), "{note}");
    assert!(
        stderr.contains("warning:") && stderr.contains("orders"),
        "{stderr}"
    );
    assert!(stderr.contains("retention deleted nothing"), "{stderr}");
    let rows = home.list_json();
    assert_eq!(
        existing(&rows),
        [1, 2],
        "nothing deleted after a flagged backup"
    );
    assert_eq!(rows[0]["warnings"], serde_json::json!([]));
    assert_eq!(
        rows[1]["warnings"].as_array().unwrap().len(),
        warnings.len()
    );
    let log = std::fs::read_to_string(home.home().join("state").join("backstop.log")).unwrap();
    assert!(log.contains("retention deleted nothing"), "{log}");

    // Plain output says so too; the next one is compared with the flagged one, is not flagged, and retention
    // runs again.
    let out = home.run(&["backup", "--profile", "shop"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    assert_eq!(existing(&home.list_json()), [3]);

    // A flagged automatic backup: run-due says so and keeps everything; an explicit prune still works.
    home.run_ok(&["profile", "edit", "shop", "--auto"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM orders WHERE id > 50;")
        .unwrap();
    drop(conn);
    let out = home.run(&["run-due"]);
    assert_eq!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("flagged") && all.contains("orders"), "{all}");
    assert_eq!(existing(&home.list_json()), [3, 4]);
    let pruned: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["prune", "--json"])).unwrap();
    assert_eq!(deleted_ids(&pruned), [3]);
    assert_eq!(existing(&home.list_json()), [4]);
}
