//! History at a glance (issue 12 §2), through the real window with egui_kittest: each backup's status and what is
//! special about it as badges that explain themselves on hover (pinned, uploaded, safety, failed with its whole
//! error), the Created column naming its time zone, and the Actions panel's main action above its grouped rest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::ui::dialogs::ScriptedDialogs;
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn open(home: &TestHome) -> Harness<'static, BackstopApp> {
    common::window_ready(home.paths(), [1366.0, 800.0], ScriptedDialogs::default())
}

/// Hovers the node labelled `label` (the only one) and steps past the tooltip delay.
fn hover(w: &mut Harness<'static, BackstopApp>, label: &str) {
    w.get_by_label(label).hover();
    for _ in 0..60 {
        w.step();
    }
}

#[test]
fn history_shows_badges_that_explain_themselves_and_the_time_zone() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 50, &["--no-auto"]);
    // 1: a manual backup, pinned.
    home.backup("shop");
    home.run_ok(&["pin", "1"]);
    // 2: a copy of the database brought in by import (uploaded).
    let copy = home.work().join("copy.sqlite3");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!(".backup '{}'", copy.display()))
        .status()
        .unwrap();
    assert!(status.success());
    home.run_ok(&["import", "--profile", "shop", copy.to_str().unwrap()]);
    // 3: the safety backup a restore takes first.
    home.run_ok(&["restore", "1", "--yes"]);
    // 4: a backup that failed: the database went away.
    std::fs::rename(&db, db.with_extension("away")).unwrap();
    let out = home.run(&["backup", "--profile", "shop"]);
    assert_ne!(out.status.code(), Some(0));
    let rows = home.ctx().catalog.list(Some("shop"), true).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let error = rows
        .iter()
        .find_map(|r| r.error.clone())
        .expect("the failed backup records why");

    let mut w = open(&home);
    w.state_mut().tab = Tab::History;
    w.run();

    // The zone the times are in is named in the column header.
    w.get_by_label_contains("Created (UTC");

    // One badge each, and each says what it means on hover.
    for (badge, meaning) in [
        ("pinned", "Retention never deletes it"),
        ("uploaded", "Brought in by Import"),
        ("safety", "Taken just before a restore"),
    ] {
        hover(&mut w, badge);
        w.get_by_label_contains(meaning);
    }
    assert_eq!(w.get_all_by_label("completed").count(), 3);

    // The failed row's badge holds the whole error on hover, not a cut version.
    assert!(
        error.contains('\n'),
        "a message of more than one line: {error}"
    );
    hover(&mut w, "failed");
    w.get_by_label_contains(&format!("A backup made by hand that failed:\n{error}"));
}

#[test]
fn the_main_action_is_big_and_the_rest_are_grouped() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &["--no-auto"]);
    let mut w = open(&home);
    w.state_mut().tab = Tab::Actions;
    w.run();
    let main = w.get_by_label("Back up now").rect();
    for label in [
        "Verify this profile",
        "Prune now…",
        "Import…",
        "Run due backups now",
    ] {
        let other = w.get_by_label(label).rect();
        assert!(
            main.height() > other.height() * 1.4,
            "Back up now ({main:?}) should stand out from {label} ({other:?})"
        );
    }
    for group in ["Check", "Clean up", "Bring in", "Schedule"] {
        w.get_by_label(group);
    }
}
