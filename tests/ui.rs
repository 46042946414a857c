//! The real window (`BackstopApp`) driven headless by egui_kittest through its labels, with the real worker
//! thread, real databases and archives. Only the notification daemon and the native dialogs are fakes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use backstop::model::Status;
use backstop::notify::RecordingNotifier;
use backstop::ui::dialogs::ScriptedDialogs;
use backstop::ui::{AppOptions, BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Window<'a> {
    harness: Harness<'a, BackstopApp>,
    notifier: RecordingNotifier,
    dialogs: ScriptedDialogs,
}

fn open(home: &TestHome) -> Window<'static> {
    open_with(home, false)
}

/// The window on `home`, with or without its scheduler, after the worker's first snapshot arrived.
fn open_with(home: &TestHome, scheduler: bool) -> Window<'static> {
    let notifier = RecordingNotifier::default();
    let dialogs = ScriptedDialogs::default();
    let paths = home.paths();
    let (n, d) = (notifier.clone(), dialogs.clone());
    let harness = Harness::builder()
        .with_size([1100.0, 800.0])
        .build_eframe(move |cc| {
            BackstopApp::new(
                cc,
                AppOptions {
                    paths,
                    notifier: Box::new(n),
                    dialogs: Box::new(d),
                    scheduler,
                },
            )
        });
    let mut window = Window {
        harness,
        notifier,
        dialogs,
    };
    window.wait_for("the first snapshot", |app| app.state.snapshot_received);
    window
}

impl Window<'_> {
    /// The text of the first toast containing `needle`, waiting for it.
    fn toast(&mut self, needle: &str) -> String {
        self.wait_for(&format!("a message with {needle:?}"), |app| {
            app.state.toasts.iter().any(|t| t.text.contains(needle))
        });
        self.harness
            .state()
            .state
            .toasts
            .iter()
            .find(|t| t.text.contains(needle))
            .map(|t| t.text.clone())
            .unwrap_or_default()
    }
}

impl Window<'_> {
    /// Steps frames until `done` holds (the worker runs on its own thread), or fails after 30 s.
    fn wait_for(&mut self, what: &str, done: impl Fn(&BackstopApp) -> bool) {
        let start = Instant::now();
        loop {
            self.harness.step();
            if done(self.harness.state()) {
                self.harness.step();
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn idle(&mut self) {
        self.wait_for("the worker to be idle", |app| {
            app.state.running.is_none() && app.state.queue.is_empty()
        });
    }

    fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).click();
        self.harness.step();
    }

    fn type_into(&mut self, label: &str, text: &str) {
        let node = self.harness.get_by_role_and_label(Role::TextInput, label);
        node.focus();
        node.type_text(text);
        self.harness.step();
        self.harness.step();
    }

    fn rows(&self) -> Vec<backstop::catalog::BackupRow> {
        self.harness.state().state.snapshot.backups.clone()
    }
}

fn sample_db(home: &TestHome, name: &str, orders: u64) -> PathBuf {
    let db = home.work().join(format!("{name}.sqlite3"));
    backstop::demo::make_sample_database(&db, orders).unwrap();
    db
}

#[test]
fn first_run_create_a_profile_then_back_up_now() {
    let home = TestHome::new();
    let db = sample_db(&home, "shop", 2_000);
    let mut w = open(&home);
    w.harness.get_by_label("Welcome to Backstop");
    w.type_into("New profile name", "shop");
    w.type_into("Its SQLite database", db.to_str().unwrap());
    w.click("Add profile");
    w.wait_for("the profile", |app| {
        app.state.snapshot.config.profiles.len() == 1
    });
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.harness.get_by_label("Actions for shop");

    w.click("Back up now");
    // The job bar shows the job while the worker runs it, then a row appears in History.
    w.wait_for("the job to start", |app| {
        app.state.running.is_some() || !app.state.snapshot.backups.is_empty()
    });
    w.idle();
    w.wait_for("the new row", |app| app.state.snapshot.backups.len() == 1);
    assert_eq!(w.rows()[0].status, Status::Completed);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label("completed");
    w.harness.state_mut().tab = Tab::Statistics;
    w.harness.step();
    w.harness.get_by_label("manual: 1");
    w.harness.get_by_label("completed: 1");
    let sent = w.notifier.sent.lock().unwrap().clone();
    assert!(
        sent.iter()
            .any(|(summary, _)| summary.contains("shop backed up")),
        "{sent:?}"
    );
}

#[test]
fn the_job_bar_shows_a_running_backup_with_progress_and_cancel_leaves_no_completed_row() {
    let home = TestHome::new();
    home.sqlite_profile("big", 300_000, &[]);
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.click("Back up now");
    w.wait_for("the job bar", |app| app.state.running.is_some());
    w.harness.get_by_label_contains("Manual backup of big");
    w.harness.get_by_label("Cancel").click();
    w.harness.step();
    w.idle();
    w.wait_for("the cancelled row", |app| {
        app.state.snapshot.backups.len() == 1
    });
    let rows = w.rows();
    assert_eq!(rows[0].status, Status::Cancelled, "{rows:?}");
    let storage = home.home().join("archives").join("big");
    let files: Vec<_> = std::fs::read_dir(storage)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        files.is_empty(),
        "nothing is left of a cancelled backup: {files:?}"
    );
    assert!(
        w.harness
            .state()
            .state
            .toasts
            .iter()
            .any(|t| t.text.contains("cancelled"))
    );
}

#[test]
fn restore_stays_disabled_until_the_profile_name_is_typed() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 1_000, &[]);
    home.backup("shop");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 10", [])
        .unwrap();
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label("Restore…").click_accesskit();
    w.wait_for("the comparison", |app| app.state.inspection.is_some());
    // Now and in the backup, side by side.
    w.harness.get_by_label("orders (rows)");
    w.harness.get_by_label("10");
    assert_eq!(
        w.harness.get_all_by_label("1000").count(),
        3,
        "customers now and in the backup, orders in the backup"
    );
    let restore = w.harness.get_by_role_and_label(Role::Button, "Restore");
    assert!(
        restore.accesskit_node().is_disabled(),
        "Restore must wait for the typed confirmation"
    );
    w.type_into("Type the profile name (shop) to confirm:", "sho");
    assert!(
        w.harness
            .get_by_role_and_label(Role::Button, "Restore")
            .accesskit_node()
            .is_disabled()
    );
    w.type_into("Type the profile name (shop) to confirm:", "p");
    let restore = w.harness.get_by_role_and_label(Role::Button, "Restore");
    assert!(!restore.accesskit_node().is_disabled());
    restore.click();
    w.harness.step();
    w.idle();
    w.wait_for("the restore log", |app| {
        !app.state.snapshot.restores.is_empty()
    });
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1000);
    // The safety backup was taken, and History offers to undo the restore.
    assert!(
        w.rows()
            .iter()
            .any(|r| r.trigger == backstop::model::Trigger::Safety)
    );
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label_contains("Undo last restore").click();
    w.harness.step();
    w.idle();
    w.wait_for("the undo", |app| app.state.snapshot.restores.len() == 2);
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n, 10,
        "undo puts back the state from just before the restore"
    );
}

#[test]
fn invalid_settings_show_their_reason_and_do_not_save() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let config_before = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Settings;
    w.harness.step();
    assert!(
        w.harness.query_by_label("Save").is_none(),
        "Save appears only when the draft differs"
    );
    let field = w
        .harness
        .get_by_role_and_label(Role::TextInput, "Every (hours)");
    field.focus();
    w.harness.step();
    // Replace "24" with "0".
    w.harness.state_mut().settings_draft_mut().auto_hours = "0".into();
    w.harness.step();
    w.harness.get_by_label("must be at least 1");
    let save = w.harness.get_by_role_and_label(Role::Button, "Save");
    assert!(save.accesskit_node().is_disabled());
    w.harness
        .get_by_label("Fix the fields marked in red to save");
    w.harness.get_by_label("Revert").click();
    w.harness.step();
    w.harness.step();
    assert!(w.harness.query_by_label("Save").is_none());
    // A valid change saves through the worker.
    w.harness.state_mut().settings_draft_mut().keep_last = "3".into();
    w.harness.step();
    w.click("Save");
    w.wait_for("the saved config", |app| {
        app.state.snapshot.config.profiles[0].policy.keep_last == 3
    });
    let config_after = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    assert_ne!(config_before, config_after);
    assert!(config_after.contains("keep_last = 3"), "{config_after}");
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropped_archives_are_imported_and_bad_files_are_refused_with_a_message() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 200, &[]);
    let archive = home.backup("shop");
    let copy = home.work().join("from-elsewhere.zip");
    std::fs::copy(&archive, &copy).unwrap();
    let junk = home.work().join("notes.txt");
    std::fs::write(&junk, "not a backup").unwrap();
    let mut w = open(&home);
    w.wait_for("the first row", |app| app.state.snapshot.backups.len() == 1);

    w.harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(copy.clone())));
    w.harness.step();
    w.idle();
    w.wait_for("the uploaded row", |app| {
        app.state.snapshot.backups.len() == 2
    });
    assert_eq!(w.rows()[1].trigger, backstop::model::Trigger::Uploaded);

    w.harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(junk.clone())));
    w.harness.step();
    w.idle();
    w.wait_for("the refusal", |app| {
        app.state
            .toasts
            .iter()
            .any(|t| t.text.contains("notes.txt"))
    });
    let toast = w
        .harness
        .state()
        .state
        .toasts
        .iter()
        .find(|t| t.text.contains("notes.txt"))
        .unwrap()
        .text
        .clone();
    assert!(
        toast.contains("not a format Backstop understands"),
        "{toast}"
    );
    w.harness.get_by_label_contains("notes.txt was refused");
    assert_eq!(w.rows().len(), 2, "a refused file adds nothing");
}

#[test]
fn import_and_export_through_the_dialogs() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 100, &[]);
    home.backup("shop");
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    let bare = home.work().join("old_20250101_000000.sqlite3");
    std::fs::copy(&db, &bare).unwrap();
    w.dialogs.answers.lock().unwrap().push_back(vec![bare]);
    w.click("Import…");
    w.idle();
    w.wait_for("the imported row", |app| {
        app.state.snapshot.backups.len() == 2
    });
    let exported = home.work().join("exported.zip");
    w.dialogs
        .answers
        .lock()
        .unwrap()
        .push_back(vec![exported.clone()]);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness
        .get_all_by_label("Export…")
        .next()
        .unwrap()
        .click_accesskit();
    w.harness.step();
    w.idle();
    w.wait_for("the export", |_| exported.is_file());
    assert!(PathBuf::from(format!("{}.sha256", exported.display())).is_file());
    let asked = w.dialogs.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "{asked:?}");
}

#[test]
fn prune_shows_the_plan_with_reasons_and_asks_first() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--keep-last", "10"]);
    for _ in 0..3 {
        home.backup("shop");
    }
    home.run_ok(&["profile", "edit", "shop", "--keep-last", "1"]);
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.click("Prune now…");
    w.wait_for("the plan", |app| app.state.prune_preview.is_some());
    w.harness
        .get_by_label("newest completed backup (always kept)");
    assert_eq!(
        w.rows()
            .iter()
            .filter(|r| r.status == Status::Completed)
            .count(),
        3,
        "nothing deleted before asking"
    );
    w.click("Delete 2 backup(s)");
    w.idle();
    w.wait_for("the deletions", |app| {
        app.state
            .snapshot
            .backups
            .iter()
            .filter(|r| r.status == Status::Completed)
            .count()
            == 1
    });
}

#[test]
fn the_launch_catches_up_missed_automatic_backups_once() {
    let home = TestHome::new();
    home.sqlite_profile("auto", 10, &["--auto-hours", "1"]);
    home.run_ok(&["run-due"]);
    // Pretend the last automatic backup was 3.5 hours ago: three slots were missed while the app was closed.
    let catalog = home.home().join("catalog.sqlite3");
    let conn = rusqlite::Connection::open(&catalog).unwrap();
    let then = (chrono::Utc::now() - chrono::Duration::minutes(210))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    conn.execute("UPDATE backups SET created_at = ?1", [then])
        .unwrap();
    drop(conn);
    let mut w = open_with(&home, true);
    let text = w.toast("missed");
    assert_eq!(
        text,
        "3 automatic backups of auto were missed while Backstop was closed; one catch-up backup was made."
    );
    w.wait_for("the catch-up backup", |app| {
        app.state
            .snapshot
            .backups
            .iter()
            .filter(|b| b.trigger == backstop::model::Trigger::Automatic)
            .count()
            == 2
    });
    w.idle();
    let automatic = w
        .rows()
        .iter()
        .filter(|b| b.trigger == backstop::model::Trigger::Automatic)
        .count();
    assert_eq!(
        automatic, 2,
        "one catch-up backup, not one per missed interval"
    );
    assert!(w.harness.state().scheduler_enabled());
    // A second window does not run a second scheduler.
    let second = open_with(&home, true);
    assert!(!second.harness.state().scheduler_enabled());
    assert!(
        second
            .harness
            .state()
            .state
            .toasts
            .iter()
            .any(|t| t.text.contains("Another Backstop window is open"))
    );
}

#[test]
fn an_unreachable_database_is_retried_with_backoff_and_the_user_is_told() {
    let home = TestHome::new();
    let db = home.sqlite_profile("away", 10, &[]);
    // The drive with the database is not mounted yet.
    std::fs::remove_file(&db).unwrap();
    let mut w = open_with(&home, true);
    let toast = w.toast("not reachable yet");
    assert!(toast.contains("try again in 60 s"), "{toast}");
    let failed = w.toast("database file not found");
    assert!(
        failed.contains("Automatic backup of away"),
        "the failure itself is shown too: {failed}"
    );
    let sent = w.notifier.sent.lock().unwrap().clone();
    assert!(
        sent.iter().any(|(s, _)| s.contains("failed")),
        "a failure notifies: {sent:?}"
    );
    // The banner names the failed backup.
    w.harness.step();
    w.harness.get_by_label_contains("The last backup failed");
}

#[test]
fn history_shows_an_archive_and_compares_it_with_the_one_before() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 500, &[]);
    home.backup("shop");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 300", [])
        .unwrap();
    home.backup("shop");
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    // Rows are newest first: the first Compare compares backup 2 with backup 1.
    w.harness
        .get_all_by_label("Compare…")
        .next()
        .unwrap()
        .click_accesskit();
    w.wait_for("the comparison", |app| app.state.diffed.is_some());
    w.harness.get_by_label("changed database/shop.sqlite3");
    w.harness.get_by_label("table orders: 500 to 300 rows");
    w.harness
        .get_all_by_label("Show")
        .next()
        .unwrap()
        .click_accesskit();
    w.wait_for("the manifest", |app| app.state.shown.is_some());
    w.harness.get_by_label("table orders: 300 rows");
    w.harness.get_by_label("database/shop.sqlite3");
    // The oldest backup has nothing before it.
    w.harness
        .get_all_by_label("Compare…")
        .nth(1)
        .unwrap()
        .click_accesskit();
    w.harness.step();
    w.harness.step();
    assert!(
        w.harness
            .state()
            .state
            .toasts
            .iter()
            .any(|t| t.text.contains("is the oldest"))
    );
}
