//! The real window (`BackstopApp`) driven headless by egui_kittest through its labels, with the real worker
//! thread, real databases and archives. Only the notification daemon and the native dialogs are fakes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

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
                    desktop: None,
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
    /// Steps frames until `done` holds (the worker runs on its own thread), or fails after 120 s (a guard against a hang, not a timing assertion: a loaded machine is slow).
    fn wait_for(&mut self, what: &str, done: impl Fn(&BackstopApp) -> bool) {
        let start = Instant::now();
        loop {
            self.harness.step();
            if done(self.harness.state()) {
                self.harness.step();
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "timed out waiting for {what}; messages: {:?}",
                self.harness
                    .state()
                    .state
                    .toasts
                    .iter()
                    .map(|t| t.text.clone())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn idle(&mut self) {
        self.wait_for("the worker to be idle", |app| {
            app.state.running.is_none() && app.state.queue.is_empty()
        });
    }

    /// Clicks the widget labelled `label`; the click lands in the first frame, what it changed shows in the second.
    fn click(&mut self, label: &str) {
        // Through accesskit, not the pointer: a worker event that lands between frames may move the layout.
        self.harness.get_by_label(label).click_accesskit();
        self.harness.step();
        self.harness.step();
    }

    fn type_into(&mut self, label: &str, text: &str) {
        let node = self.harness.get_by_role_and_label(Role::TextInput, label);
        node.focus();
        node.type_text(text);
        self.harness.step();
        self.harness.step();
    }

    /// Types a new name for the selected profile in Settings and saves.
    fn rename_in_settings(&mut self, new: &str) {
        self.harness.state_mut().tab = Tab::Settings;
        self.harness.step();
        self.harness
            .get_by_role_and_label(Role::TextInput, "Name")
            .set_text_value_accesskit(new);
        self.harness.step();
        self.harness.step();
        self.click("Save");
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
    w.harness.get_by_label("1 of 1 succeeded");
    w.harness.get_by_label("1 archive");
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
    let db = home.sqlite_profile("big", 300_000, &[]);
    // The backup waits for the database, which the test holds locked (a rollback journal keeps readers out; a long
    // busy timeout makes the backup wait, not fail), so that Cancel always comes while it runs, however loaded
    // the machine is.
    let config_file = home.home().join("config.toml");
    let mut cfg = backstop::config::Config::load(&config_file).unwrap();
    cfg.settings.busy_timeout_secs = 3600;
    cfg.save(&config_file).unwrap();
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE")
        .unwrap();
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.click("Back up now");
    w.wait_for("the job bar", |app| app.state.running.is_some());
    w.harness.get_by_label_contains("Manual backup of big");
    w.harness.get_by_label("Cancel").click_accesskit();
    w.harness.step();
    w.idle();
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
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

impl Window<'_> {
    /// Drops a file onto the window and waits until the worker is done with it.
    fn drop_file(&mut self, path: &Path) {
        self.harness
            .input_mut()
            .dropped_files
            .push(Arc::new(Dropped(path.to_path_buf())));
        self.harness.step();
        self.idle();
    }
}

#[test]
fn dropped_archives_are_imported_and_bad_files_are_refused_with_a_message() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 200, &[]);
    let archive = home.backup("shop");
    // An archive made on another machine; a copy of this profile's own backup is a duplicate.
    let elsewhere = TestHome::new();
    elsewhere.sqlite_profile("shop", 50, &[]);
    let copy = home.work().join("from-elsewhere.zip");
    std::fs::copy(elsewhere.backup("shop"), &copy).unwrap();
    let own = home.work().join("own-copy.zip");
    std::fs::copy(&archive, &own).unwrap();
    let junk = home.work().join("notes.txt");
    std::fs::write(&junk, "not a backup").unwrap();
    let mut w = open(&home);
    w.wait_for("the first row", |app| app.state.snapshot.backups.len() == 1);

    w.drop_file(&own);
    w.toast("already catalogued as backup 1");
    assert_eq!(w.rows().len(), 1, "a duplicate adds nothing");

    w.drop_file(&copy);
    w.wait_for("the uploaded row", |app| {
        app.state.snapshot.backups.len() == 2
    });
    assert_eq!(w.rows()[1].trigger, backstop::model::Trigger::Uploaded);

    w.drop_file(&junk);
    let toast = w.toast("notes.txt");
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
    // The oldest backup has nothing before it: it is compared with the one after it.
    w.harness
        .get_all_by_label("Compare…")
        .nth(1)
        .unwrap()
        .click_accesskit();
    w.wait_for("the comparison of the oldest", |app| {
        app.state
            .diffed
            .as_ref()
            .is_some_and(|d| (d.0, d.1) == (1, 2))
    });
    w.harness.get_by_label("table orders: 500 to 300 rows");
}

/// A profile whose sample database comes with a files folder (`work/<name>-files`: `a.txt`, `photos/b.jpg`,
/// `photos/c.jpg`), made through the CLI; returns the database and the folder.
fn files_profile(home: &TestHome, name: &str) -> (PathBuf, PathBuf) {
    let db = sample_db(home, name, 50);
    let files = home.work().join(format!("{name}-files"));
    std::fs::create_dir_all(files.join("photos")).unwrap();
    std::fs::write(files.join("a.txt"), "alpha").unwrap();
    std::fs::write(files.join("photos/b.jpg"), "bravo bytes").unwrap();
    std::fs::write(files.join("photos/c.jpg"), "charlie bytes").unwrap();
    home.run_ok(&[
        "profile",
        "add",
        name,
        "--sqlite",
        db.to_str().unwrap(),
        "--files",
        files.to_str().unwrap(),
    ]);
    (db, files)
}

/// Everything under `dir` (folders too), relative, sorted: "nothing else was written" checks.
fn everything_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_checked(w: &Window<'_>, label: &str) -> bool {
    w.harness.get_by_label(label).accesskit_node().toggled() == Some(egui::accesskit::Toggled::True)
}

#[test]
fn actions_back_up_the_chosen_kind_and_offer_files_kinds_only_with_a_files_folder() {
    let home = TestHome::new();
    files_profile(&home, "media");
    home.sqlite_profile("plain", 10, &[]);
    let mut w = open(&home);
    w.harness.state_mut().selected = Some("media".into());
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    assert!(
        is_checked(&w, "Full (database and files folder)"),
        "a profile with a files folder backs up everything by default"
    );
    w.click("Files folder only");
    assert!(is_checked(&w, "Files folder only"));
    w.click("Back up now");
    w.idle();
    w.wait_for("the new row", |app| app.state.snapshot.backups.len() == 1);
    let row = w.rows()[0].clone();
    assert_eq!(row.status, Status::Completed, "{row:?}");
    assert_eq!(row.kind, backstop::model::Kind::Files);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label("files");

    // Without a files folder only the database kind can be chosen.
    w.harness.state_mut().selected = Some("plain".into());
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.harness.step();
    assert!(is_checked(&w, "Database only"));
    for kind in ["Full (database and files folder)", "Files folder only"] {
        assert!(
            w.harness.get_by_label(kind).accesskit_node().is_disabled(),
            "{kind} needs a files folder"
        );
    }
}

#[test]
fn chosen_files_are_restored_into_another_folder_and_nothing_live_changes() {
    let home = TestHome::new();
    let (db, files) = files_profile(&home, "media");
    home.backup("media");
    let live_before = common::tree_snapshot(&files);
    let db_before = common::file_sha(&db);
    let dest = home.work().join("restored");
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    assert_eq!(w.rows()[0].kind, backstop::model::Kind::Full);
    w.harness.get_by_label("Restore…").click_accesskit();
    w.wait_for("the files tree", |app| {
        app.restore_dialog
            .as_ref()
            .is_some_and(|d| d.tree.is_some())
    });
    w.click("Restore chosen files instead");
    // The tree starts closed: the top level only.
    w.harness.get_by_label("photos/");
    w.harness.get_by_label("a.txt");
    assert!(w.harness.query_by_label("b.jpg").is_none());
    w.click("Open photos");
    w.click("b.jpg");
    w.harness.get_by_label_contains("1 file(s) chosen");
    let restore = w
        .harness
        .get_by_role_and_label(Role::Button, "Restore chosen files");
    assert!(
        restore.accesskit_node().is_disabled(),
        "the destination is still missing"
    );
    w.dialogs
        .answers
        .lock()
        .unwrap()
        .push_back(vec![dest.clone()]);
    w.click("Choose folder…");
    w.wait_for("the chosen folder", |app| {
        app.restore_dialog
            .as_ref()
            .is_some_and(|d| !d.destination.is_empty())
    });
    assert_eq!(
        w.dialogs.asked.lock().unwrap().last(),
        Some(&backstop::ui::dialogs::DialogPurpose::RestoreDestination)
    );
    w.click("Restore chosen files");
    let toast = w.toast("restored 1 files");
    assert!(toast.contains(dest.to_str().unwrap()), "{toast}");
    assert!(w.harness.state().restore_dialog.is_none());
    assert_eq!(everything_under(&dest), ["photos", "photos/b.jpg"]);
    assert_eq!(
        std::fs::read_to_string(dest.join("photos/b.jpg")).unwrap(),
        "bravo bytes"
    );
    assert_eq!(common::tree_snapshot(&files), live_before);
    assert_eq!(common::file_sha(&db), db_before);
}

#[test]
fn compare_lists_an_added_file_and_show_lists_modes_and_link_targets() {
    use std::os::unix::fs::PermissionsExt;
    let home = TestHome::new();
    let (_, files) = files_profile(&home, "media");
    home.backup("media");
    std::fs::write(files.join("photos/new.jpg"), "new").unwrap();
    std::fs::set_permissions(
        files.join("photos/new.jpg"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("a.txt", files.join("latest")).unwrap();
    home.backup("media");
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness
        .get_all_by_label("Compare…")
        .next()
        .unwrap()
        .click_accesskit();
    w.wait_for("the comparison", |app| app.state.diffed.is_some());
    w.harness.get_by_label("added files/photos/new.jpg");
    w.harness.get_by_label("added files/latest");
    w.harness.get_by_label_contains("database size:");
    w.harness
        .get_all_by_label("Show")
        .next()
        .unwrap()
        .click_accesskit();
    w.wait_for("the manifest", |app| app.state.shown.is_some());
    w.harness.get_by_label("files/photos/new.jpg");
    w.harness.get_by_label("0640");
    w.harness.get_by_label("-> a.txt");
}

#[test]
fn settings_edit_the_files_folder_excludes_and_default_kind_and_refuse_a_bad_glob() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let files = home.work().join("media");
    std::fs::create_dir_all(&files).unwrap();
    let config_file = home.home().join("config.toml");
    let config_before = std::fs::read_to_string(&config_file).unwrap();
    let mut w = open(&home);
    w.harness.state_mut().tab = Tab::Settings;
    w.harness.step();
    let kind = w
        .harness
        .get_by_role_and_label(Role::ComboBox, "Default backup kind");
    assert!(
        kind.accesskit_node().is_disabled(),
        "the default kind needs a files folder"
    );
    w.dialogs
        .answers
        .lock()
        .unwrap()
        .push_back(vec![files.clone()]);
    w.click("Choose files folder…");
    w.wait_for("the chosen folder", |app| {
        !app.settings_draft().files.is_empty()
    });
    let exclude = "Leave out of the files folder (one glob per line)";
    let field = w
        .harness
        .get_by_role_and_label(Role::MultilineTextInput, exclude);
    field.focus();
    field.type_text("cache/**\n[");
    w.harness.step();
    w.harness.step();
    w.harness
        .get_by_label_contains("exclude pattern '[' is not a valid glob");
    assert!(
        w.harness
            .get_by_role_and_label(Role::Button, "Save")
            .accesskit_node()
            .is_disabled()
    );
    assert_eq!(
        std::fs::read_to_string(&config_file).unwrap(),
        config_before,
        "nothing was saved"
    );
    w.harness
        .get_by_role_and_label(Role::MultilineTextInput, exclude)
        .set_text_value_accesskit("cache/**\n*.tmp");
    w.harness.step();
    w.harness.step();
    assert!(
        w.harness
            .query_by_label_contains("is not a valid glob")
            .is_none()
    );
    w.harness
        .get_by_role_and_label(Role::ComboBox, "Default backup kind")
        .click();
    w.harness.step();
    w.harness.step();
    // Through accesskit, not the pointer: a late worker event may move the layout between frames.
    w.harness
        .get_by_label("Files folder only")
        .click_accesskit();
    w.harness.step();
    w.harness.step();
    w.harness
        .get_by_role_and_label(Role::Button, "Save")
        .click_accesskit();
    w.harness.step();
    w.wait_for("the saved config", |app| {
        app.state.snapshot.config.profiles[0].files_dir.is_some()
    });
    let saved = backstop::config::Config::load(&config_file).unwrap();
    let profile = &saved.profiles[0];
    assert_eq!(profile.files_dir.as_deref(), Some(files.as_path()));
    assert_eq!(profile.exclude, ["cache/**", "*.tmp"]);
    assert_eq!(profile.default_kind, Some(backstop::model::Kind::Files));

    // The worker checks what it saves too: a bad glob sent around the form is refused.
    let mut config = saved.clone();
    config.profiles[0].exclude = vec!["[".into()];
    w.harness
        .state_mut()
        .submit(backstop::worker::JobRequest::SaveConfig(Box::new(config)));
    let toast = w.toast("Save settings failed");
    assert!(toast.contains("not a valid glob"), "{toast}");
    assert_eq!(backstop::config::Config::load(&config_file).unwrap(), saved);
}

/// Issue 10 item 5: the restore dialog can put one profile's backup into another profile of the same engine, but
/// only after saying whose data replaces whose and with the target profile's name typed.
#[test]
fn restoring_into_another_profile_names_both_and_needs_the_targets_name() {
    let home = TestHome::new();
    let db_a = home.sqlite_profile("alpha", 50, &[]);
    let db_b = home.sqlite_profile("beta", 120, &[]);
    home.backup("alpha");
    let before_a = common::db_fingerprint(&db_a);
    let mut w = open(&home);
    w.harness.state_mut().selected = Some("alpha".into());
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label("Restore…").click_accesskit();
    w.wait_for("the comparison", |app| app.state.inspection.is_some());
    // Choose beta in the "Restore into profile" box.
    w.harness
        .get_by_role_and_label(Role::ComboBox, "Restore into profile")
        .click();
    w.harness.step();
    w.harness.step();
    w.harness.get_all_by_label("beta").last().unwrap().click();
    w.harness.step();
    w.harness.step();
    w.harness.get_by_label(
        "This is a backup of profile alpha. Restoring it into profile beta replaces beta's data with alpha's.",
    );
    w.wait_for("beta's comparison", |app| {
        app.state
            .inspection
            .as_ref()
            .is_some_and(|i| i.profile == "beta")
    });
    // Typing the backup's own profile does not confirm; the target's name does.
    w.type_into("Type the profile name (beta) to confirm:", "alpha");
    assert!(
        w.harness
            .get_by_role_and_label(Role::Button, "Restore")
            .accesskit_node()
            .is_disabled()
    );
    w.harness
        .state_mut()
        .restore_dialog
        .as_mut()
        .unwrap()
        .confirm
        .clear();
    w.type_into("Type the profile name (beta) to confirm:", "beta");
    w.harness
        .get_by_role_and_label(Role::Button, "Restore")
        .click();
    w.harness.step();
    w.idle();
    w.wait_for("the restore log", |app| {
        !app.state.snapshot.restores.is_empty()
    });
    assert_eq!(
        common::db_fingerprint(&db_b),
        before_a,
        "beta now holds alpha's data"
    );
    assert_eq!(
        common::db_fingerprint(&db_a),
        before_a,
        "alpha is untouched"
    );
}

#[test]
fn history_badges_a_backup_dated_ahead_and_a_flagged_one_and_the_banner_says_so() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 400, &["--no-auto"]);
    // 1: taken while the clock was 400 days ahead; 2: after 90% of the orders vanished (flagged).
    home.run_at("+400d", &["backup", "--profile", "shop"]);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 40", [])
        .unwrap();
    home.backup("shop");
    let mut w = open(&home);
    w.harness
        .get_by_label_contains("Backup 2 was flagged: table 'orders' went from 400 to 40 rows");
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.get_by_label("400 days ahead");
    w.harness.get_by_label("flagged");
}

/// An archive with a crafted manifest (a checksum that is not hex, with a two-byte character where the entry
/// table cut it) found by `catalog rebuild`: History lists it as corrupted and draws without crashing, Show is
/// not offered for it, and Verify says why it is refused.
#[test]
fn a_crafted_archive_after_rebuild_is_listed_as_corrupted_not_a_crash() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &[]);
    let real = home.backup("shop");
    let crafted = real.with_file_name("shop_database_20300101_000000_manual.zip");
    common::with_manifest(&real, &crafted, |m| {
        m["entries"][0]["sha256"] = serde_json::json!(format!("a{}b", "é".repeat(31)));
    });
    std::fs::remove_file(&real).unwrap();
    home.run_ok(&["catalog", "rebuild"]);
    let mut w = open(&home);
    assert_eq!(
        w.rows().iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![Status::Corrupted]
    );
    w.harness.state_mut().tab = Tab::History;
    w.harness.step();
    w.harness.step();
    assert!(
        w.harness
            .get_by_label("Show")
            .accesskit_node()
            .is_disabled()
    );
    w.harness.get_by_label("Verify").click_accesskit();
    let message = w.toast("sha256");
    assert!(message.contains("64 lowercase hex digits"), "{message}");
    assert!(w.harness.state().state.shown.is_none());
}

/// `catalog rebuild` run from the CLI while the window is open replaces the catalog file: the window's next job
/// uses the new catalog, so its backup is in the history everyone reads (not in the copy kept aside).
#[test]
fn the_window_follows_a_catalog_rebuilt_from_the_cli() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    home.backup("shop");
    let mut w = open(&home);
    let out = home.run_ok(&["catalog", "rebuild"]);
    assert!(out.contains("old catalog was kept"), "{out}");
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.click("Back up now");
    w.wait_for("the second backup", |app| {
        app.state.running.is_none() && app.state.snapshot.backups.len() == 2
    });
    let rows = home.list_json();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:?}");
}

/// A database owned by the password role, with 50 notes; dropped with the guard.
struct PasswordDb(String);

impl PasswordDb {
    fn new(tag: &str) -> PasswordDb {
        common::password_role();
        let name = format!("bk_{tag}_{}", std::process::id());
        common::psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        common::psql("postgres", &format!("CREATE DATABASE {name}"));
        common::notes_for_password_role(&name, 50);
        PasswordDb(name)
    }
}

impl Drop for PasswordDb {
    fn drop(&mut self) {
        common::psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
        );
    }
}

#[test]
fn renaming_a_profile_in_settings_moves_its_password_and_removing_it_deletes_it() {
    let db = PasswordDb::new("uirename");
    let home = TestHome::new();
    let out = home.run_with_stdin(
        &[
            "profile",
            "add",
            "pg",
            "--postgres",
            "--user",
            common::PW_ROLE,
            "--dbname",
            &db.0,
            "--password-stdin",
            "--secret-store",
            "file",
            "--no-auto",
        ],
        &format!("{}\n", common::PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secrets = home.home().join("secrets");
    let mut w = open(&home);
    w.rename_in_settings("pg-new");
    w.wait_for("the renamed profile", |app| {
        app.state.snapshot.config.profiles[0].name == "pg-new"
            && app.state.running.is_none()
            && app.state.queue.is_empty()
    });
    assert_eq!(
        std::fs::read_to_string(secrets.join("pg-new.secret")).unwrap(),
        common::PASSWORD
    );
    assert!(
        !secrets.join("pg.secret").exists(),
        "nothing stays under the old name"
    );

    // The renamed profile backs up with its stored password.
    w.harness.state_mut().tab = Tab::Actions;
    w.harness.step();
    w.click("Back up now");
    w.wait_for("the backup", |app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && !app.state.snapshot.backups.is_empty()
    });
    let rows = w.rows();
    assert_eq!(
        rows[0].status,
        Status::Completed,
        "{:?}",
        w.harness.state().state.session_log
    );
    assert_eq!(rows[0].profile, "pg-new");

    // Removing the profile deletes its password.
    w.harness.state_mut().tab = Tab::Settings;
    w.harness.step();
    // The button sits below the fold of the Settings panel: pressed through accessibility, as a screen reader would.
    w.harness
        .get_by_label("Remove profile pg-new…")
        .click_accesskit();
    w.harness.step();
    w.harness.step();
    w.click("Remove pg-new");
    w.wait_for("the removal", |app| {
        app.state.snapshot.config.profiles.is_empty()
    });
    assert!(
        !secrets.join("pg-new.secret").exists(),
        "the password went with the profile"
    );
    assert_eq!(
        std::fs::read_dir(&secrets).unwrap().count(),
        0,
        "no secret file is left"
    );
}

#[test]
fn an_unreachable_postgres_server_is_retried_by_the_scheduler() {
    let home = TestHome::new();
    // Nothing listens on port 1: the server looks down, as one still starting after a reboot.
    home.postgres_profile("down", "1", "x", &[]);
    let mut w = open_with(&home, true);
    let failed = w.toast("cannot reach the database server at 127.0.0.1:1");
    assert!(failed.contains("Automatic backup of down"), "{failed}");
    let toast = w.toast("not reachable yet");
    assert!(toast.contains("try again in 60 s"), "{toast}");
    // The wait passes: the scheduler runs the backup again, which fails the same way and waits twice as long.
    w.harness.state_mut().make_retries_due();
    let toast = w.toast("try again in 120 s");
    assert!(toast.starts_with("down is not reachable yet"), "{toast}");
    w.wait_for("the first try and one retry in the catalog", |app| {
        app.state
            .snapshot
            .backups
            .iter()
            .filter(|b| {
                b.trigger == backstop::model::Trigger::Automatic && b.status == Status::Failed
            })
            .count()
            == 2
    });
}

#[test]
fn a_rename_whose_password_cannot_move_changes_nothing_and_the_save_after_it_is_refused() {
    let probe = backstop::secrets::Secrets::new(PathBuf::from("/nonexistent"))
        .get("backstop-probe", backstop::secrets::SecretStore::Keyring);
    if !matches!(
        probe,
        Err(backstop::secrets::SecretError::KeyringUnavailable(_))
    ) {
        eprintln!(
            "note: a Secret Service answers here; the locked-keyring case is not reproducible"
        );
        return;
    }
    let home = TestHome::new();
    home.postgres_profile("pg", "5432", "x", &["--no-auto"]);
    // Its password is in the keyring, which does not answer.
    home.mark_passwords_stored();
    let config_file = home.home().join("config.toml");
    let before = std::fs::read_to_string(&config_file).unwrap();
    let mut w = open(&home);
    w.rename_in_settings("pg-new");
    let rename = w.toast("Rename profile pg to pg-new failed");
    assert!(
        rename.contains("profile pg was not renamed") && rename.contains("keyring unavailable"),
        "{rename}"
    );
    let save = w.toast("Save settings failed");
    assert!(save.contains("nothing was saved"), "{save}");
    w.idle();
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), before);
}
