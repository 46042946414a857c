//! Retention on real archives: only after a verified backup, scoped per profile, dry run equal to reality.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestHome;
use std::path::PathBuf;

fn existing(rows: &[serde_json::Value]) -> Vec<i64> {
    rows.iter()
        .filter(|r| r["status"] == "completed")
        .map(|r| r["id"].as_i64().unwrap())
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
    let mut planned: Vec<i64> = plan["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["keep"] == false)
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    planned.sort();
    assert_eq!(planned, [1, 3, 4]);
    for verdict in plan["verdicts"].as_array().unwrap() {
        assert!(!verdict["reason"].as_str().unwrap().is_empty());
    }
    let done: serde_json::Value = serde_json::from_str(&home.run_ok(&["prune", "--json"])).unwrap();
    let mut deleted: Vec<i64> = done["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["keep"] == false)
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
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
    assert!(log.contains("beyond keep_last 2"), "{log}");
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
