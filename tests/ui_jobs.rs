//! The window around its jobs, driven headless by egui_kittest with the real worker and real databases: quitting
//! while a job runs, the first automatic backup of a profile added in the window, and how often it notifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::model::{Kind, Status, Trigger};
use backstop::notify::RecordingNotifier;
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui::{Key, Modifiers, ViewportCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

/// The window on `home` (with or without its scheduler) once the worker's first snapshot arrived, and what it
/// notified.
fn open(home: &TestHome, scheduler: bool) -> (Harness<'static, BackstopApp>, RecordingNotifier) {
    let notifier = RecordingNotifier::default();
    let mut harness = common::window_with(home.paths(), scheduler, notifier.clone());
    wait(&mut harness, "the first snapshot", |app| {
        app.state.snapshot_received
    });
    (harness, notifier)
}

/// Steps frames until `done` holds (the worker runs on its own thread); fails after 120 s, a guard against a
/// hang, not a timing assertion.
fn wait(harness: &mut Harness<'_, BackstopApp>, what: &str, done: impl Fn(&BackstopApp) -> bool) {
    let start = Instant::now();
    loop {
        harness.step();
        if done(harness.state()) {
            harness.step();
            return;
        }
        let state = &harness.state().state;
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}; messages: {:?}; running: {:?}; queued: {:?}",
            state.session_log,
            state.running.as_ref().map(|r| &r.label),
            state.queue.iter().map(|q| &q.label).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn idle(harness: &mut Harness<'_, BackstopApp>) {
    wait(harness, "the worker to be idle", |app| {
        app.state.running.is_none() && app.state.queue.is_empty()
    });
}

/// Clicks through accesskit (a worker event between frames may move the layout), then lets it take effect.
fn click(harness: &mut Harness<'_, BackstopApp>, label: &str) {
    harness.get_by_label(label).click_accesskit();
    harness.step();
    harness.step();
}

fn type_into(harness: &mut Harness<'_, BackstopApp>, label: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .set_text_value_accesskit(text);
    harness.step();
    harness.step();
}

/// The window manager's close button; returns whether the window refused to close in that frame.
fn press_close_button(harness: &mut Harness<'_, BackstopApp>) -> bool {
    common::press_close_button(harness).contains(&ViewportCommand::CancelClose)
}

fn press_ctrl_q(harness: &mut Harness<'_, BackstopApp>) {
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Q);
    harness.step();
    harness.step();
}

fn shows(harness: &Harness<'_, BackstopApp>, label: &str) -> bool {
    harness.query_by_label(label).is_some()
}

/// Whether a backup (started by `trigger`, when given) completed.
fn completed(app: &BackstopApp, trigger: Option<Trigger>) -> bool {
    app.state
        .snapshot
        .backups
        .iter()
        .any(|b| b.status == Status::Completed && trigger.is_none_or(|t| b.trigger == t))
}

fn sent(notifier: &RecordingNotifier) -> Vec<(String, String)> {
    notifier.sent.lock().unwrap().clone()
}

#[test]
fn quitting_while_a_backup_runs_asks_and_a_cancelled_backup_is_no_failure_at_the_next_launch() {
    let home = TestHome::new();
    // Automatic backups off: closing with them on first says they stop (tests/ui_close.rs).
    home.sqlite_profile("big", 300_000, &["--no-auto"]);
    let (mut h, notifier) = open(&home, false);
    // Idle, the close button closes at once.
    assert!(!press_close_button(&mut h), "an idle window closes at once");
    assert!(!shows(&h, "Cancel the job and quit"));

    h.state_mut().tab = Tab::Actions;
    h.step();
    click(&mut h, "Back up now");
    wait(&mut h, "the backup to run", |app| {
        app.state.running.is_some()
    });
    assert!(
        press_close_button(&mut h),
        "the close button does not close the window while a backup runs"
    );
    h.get_by_label_contains("Manual backup of big (database) is running");
    click(&mut h, "Keep working");
    assert!(!shows(&h, "Cancel the job and quit"));
    let running = h
        .state()
        .state
        .running
        .clone()
        .expect("the backup still runs");
    assert!(
        !running.cancel.unwrap().is_cancelled(),
        "Keep working keeps the job"
    );
    assert!(!h.state().asked_to_close());

    press_ctrl_q(&mut h);
    assert!(!h.state().asked_to_close(), "Ctrl+Q asks first too");
    click(&mut h, "Cancel the job and quit");
    wait(&mut h, "the window to close", BackstopApp::asked_to_close);
    assert!(h.state().state.running.is_none() && h.state().state.queue.is_empty());
    drop(h);

    let rows = home.list_json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "cancelled", "{rows:?}");
    let left: Vec<String> = common::names_in(&home.home().join("archives").join("big"));
    assert!(
        left.is_empty(),
        "nothing is left of the cancelled backup: {left:?}"
    );
    assert!(
        sent(&notifier).is_empty(),
        "a cancel is no news: {:?}",
        sent(&notifier)
    );

    // The next launch: no banner, no notification, no word of an interrupted job.
    let (mut h, notifier) = open(&home, false);
    for _ in 0..5 {
        h.step();
    }
    for words in ["The last backup failed", "needs attention", "interrupted"] {
        assert!(h.query_by_label_contains(words).is_none(), "{words}");
    }
    let toasts: Vec<String> = h
        .state()
        .state
        .toasts
        .iter()
        .map(|t| t.text.clone())
        .collect();
    assert!(toasts.is_empty(), "{toasts:?}");
    assert!(sent(&notifier).is_empty(), "{:?}", sent(&notifier));
    let jobs = &h.state().state.snapshot.jobs;
    assert_eq!(jobs[0].outcome, "cancelled", "{jobs:?}");
    // Idle, Ctrl+Q closes at once.
    press_ctrl_q(&mut h);
    assert!(h.state().asked_to_close(), "Ctrl+Q closes an idle window");
}

fn add_profile_in_the_window(h: &mut Harness<'_, BackstopApp>, name: &str, db: &std::path::Path) {
    type_into(h, "New profile name", name);
    type_into(h, "Its SQLite database", db.to_str().unwrap());
    click(h, "Add profile");
    wait(h, "the new profile", |app| {
        app.state
            .snapshot
            .config
            .profiles
            .iter()
            .any(|p| p.name == name)
    });
}

fn automatic_rows(h: &Harness<'_, BackstopApp>) -> Vec<backstop::catalog::BackupRow> {
    h.state()
        .state
        .snapshot
        .backups
        .iter()
        .filter(|b| b.trigger == Trigger::Automatic)
        .cloned()
        .collect()
}

fn pending_automatic(h: &Harness<'_, BackstopApp>) -> Vec<String> {
    let state = &h.state().state;
    state
        .queue
        .iter()
        .map(|q| q.label.clone())
        .chain(state.running.iter().map(|r| r.label.clone()))
        .filter(|l| l.starts_with("Automatic"))
        .collect()
}

#[test]
fn a_profile_added_in_the_window_gets_its_first_automatic_backup_once_the_user_leaves_its_settings()
{
    let home = TestHome::new();
    let db = home.work().join("shop.sqlite3");
    backstop::demo::make_sample_database(&db, 2_000).unwrap();
    let media = home.work().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("logo.txt"), "logo").unwrap();
    let (mut h, _) = open(&home, true);
    add_profile_in_the_window(&mut h, "shop", &db);
    assert_eq!(
        pending_automatic(&h),
        Vec::<String>::new(),
        "no automatic backup starts before the user finished the profile"
    );
    // The user lands in the new profile's settings, told what to do next.
    assert_eq!(h.state().tab, Tab::Settings);
    assert_eq!(h.state().profile().unwrap().name, "shop");
    h.get_by_label("Back up now");
    type_into(&mut h, "Files folder (optional)", media.to_str().unwrap());
    click(&mut h, "Save");
    wait(&mut h, "the files folder saved", |app| {
        app.profile().is_some_and(|p| p.files_dir.is_some())
    });
    idle(&mut h);
    assert!(automatic_rows(&h).is_empty() && pending_automatic(&h).is_empty());

    // Leaving its settings: the first automatic backup starts, with the files folder just set.
    h.state_mut().tab = Tab::Actions;
    h.step();
    wait(&mut h, "the first automatic backup", |app| {
        completed(app, Some(Trigger::Automatic))
    });
    let rows = automatic_rows(&h);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0].kind,
        Kind::Full,
        "the files folder set in Settings is in it"
    );
}

#[test]
fn back_up_now_in_a_new_profiles_settings_is_manual_and_counts_as_its_first_backup() {
    let home = TestHome::new();
    let db = home.work().join("notes.sqlite3");
    backstop::demo::make_sample_database(&db, 500).unwrap();
    let (mut h, _) = open(&home, true);
    add_profile_in_the_window(&mut h, "notes", &db);
    click(&mut h, "Back up now");
    wait(&mut h, "the manual backup", |app| completed(app, None));
    idle(&mut h);
    h.state_mut().tab = Tab::History;
    for _ in 0..3 {
        h.step();
    }
    assert_eq!(pending_automatic(&h), Vec::<String>::new());
    let rows = h.state().state.snapshot.backups.clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].trigger, Trigger::Manual);
}

#[test]
fn a_profile_never_backed_up_is_still_backed_up_at_launch() {
    let home = TestHome::new();
    home.sqlite_profile("fresh", 10, &[]);
    let (mut h, _) = open(&home, true);
    wait(&mut h, "the launch-time automatic backup", |app| {
        completed(app, Some(Trigger::Automatic))
    });
}

#[test]
fn a_repeating_failure_notifies_once_then_again_when_it_changes_and_when_it_recovers() {
    let home = TestHome::new();
    let db = home.sqlite_profile("away", 10, &[]);
    let aside = home.work().join("away.sqlite3.aside");
    // The drive with the database is not mounted yet: the automatic backup fails and is retried.
    std::fs::rename(&db, &aside).unwrap();
    let (mut h, notifier) = open(&home, true);
    let failures = |app: &BackstopApp| {
        app.state
            .session_log
            .iter()
            .filter(|(_, t)| t.contains("failed: database file not found"))
            .count()
    };
    let any_failures = |app: &BackstopApp| {
        app.state
            .session_log
            .iter()
            .filter(|(_, t)| t.contains(" failed: "))
            .count()
    };
    wait(&mut h, "the first failure", |app| failures(app) == 1);
    idle(&mut h);
    h.state_mut().make_retries_due();
    wait(&mut h, "the retry's failure", |app| failures(app) == 2);
    idle(&mut h);
    // The same failure by hand.
    h.state_mut().tab = Tab::Actions;
    h.step();
    click(&mut h, "Back up now");
    wait(&mut h, "the manual failure", |app| failures(app) == 3);
    idle(&mut h);
    let so_far = sent(&notifier);
    assert_eq!(so_far.len(), 1, "one failure, one notification: {so_far:?}");
    assert!(so_far[0].0.contains("failed"), "{so_far:?}");

    // It changes: the file is back, but it is not a database.
    std::fs::write(&db, b"not a database at all").unwrap();
    click(&mut h, "Back up now");
    wait(&mut h, "the changed failure", |app| any_failures(app) == 4);
    idle(&mut h);
    let so_far = sent(&notifier);
    assert_eq!(so_far.len(), 2, "a changed failure notifies: {so_far:?}");
    assert!(
        !so_far[1].1.contains("database file not found"),
        "{so_far:?}"
    );

    // It recovers.
    std::fs::rename(&aside, &db).unwrap();
    click(&mut h, "Back up now");
    wait(&mut h, "the backup", |app| completed(app, None));
    idle(&mut h);
    let so_far = sent(&notifier);
    assert_eq!(so_far.len(), 3, "the recovery notifies: {so_far:?}");
    assert!(so_far[2].0.contains("backed up again"), "{so_far:?}");
}
