//! The window's close button, driven headless by egui_kittest with the real worker (issue 13 §4): with a tray and
//! automatic backups on it asks once whether to keep running in the tray and remembers the answer; with no tray it
//! says once that automatic backups then stop; a running job still asks first whenever closing quits; Ctrl+Q
//! always quits. The harness has no session bus, so the tray's presence is pretended (`pretend_tray`); the real
//! tray is tested with the real binary in tests/desktop.rs. Also the offer of a file given on the command line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::config::Config;
use backstop::model::{Status, Trigger};
use backstop::notify::RecordingNotifier;
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui::{Key, Modifiers, ViewportCommand};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};

const TRAY_QUESTION: &str = "Keep Backstop running in the tray?";
const NO_TRAY_NOTE: &str = "Automatic backups run only while Backstop is open";

/// The window on `home` (no scheduler) once the worker's first snapshot arrived, with or without a tray.
fn open(home: &TestHome, tray: bool) -> Harness<'static, BackstopApp> {
    let mut harness = common::window_with(home.paths(), false, RecordingNotifier::default());
    harness.state_mut().pretend_tray(tray);
    wait(&mut harness, "the first snapshot", |app| {
        app.state.snapshot_received
    });
    harness
}

/// Steps frames until `done` holds; fails after 120 s, a guard against a hang, not a timing assertion.
fn wait(harness: &mut Harness<'_, BackstopApp>, what: &str, done: impl Fn(&BackstopApp) -> bool) {
    let start = Instant::now();
    loop {
        harness.step();
        if done(harness.state()) {
            harness.step();
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}; messages: {:?}",
            harness.state().state.session_log
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn click(harness: &mut Harness<'_, BackstopApp>, label: &str) {
    harness.get_by_label(label).click_accesskit();
    harness.step();
    harness.step();
}

fn shows(harness: &Harness<'_, BackstopApp>, label: &str) -> bool {
    harness.query_by_label_contains(label).is_some()
}

fn close_to_tray(home: &TestHome) -> Option<bool> {
    Config::load(&home.paths().config_file)
        .unwrap()
        .settings
        .close_to_tray
}

#[test]
fn with_a_tray_closing_asks_once_and_keep_running_hides_the_window() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let mut h = open(&home, true);
    let commands = common::press_close_button(&mut h);
    assert!(
        commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(shows(&h, TRAY_QUESTION));
    assert!(shows(&h, "Automatic backups keep running"));
    assert!(!h.state().hidden_in_tray());

    // Cancel: the window stays as it was, nothing is remembered, and the next close asks again.
    click(&mut h, "Cancel");
    assert!(!shows(&h, TRAY_QUESTION));
    assert!(!h.state().hidden_in_tray() && !h.state().asked_to_close());
    assert_eq!(close_to_tray(&home), None);
    common::press_close_button(&mut h);
    assert!(shows(&h, TRAY_QUESTION));

    click(&mut h, "Keep running in the tray");
    assert!(h.state().hidden_in_tray());
    assert!(!h.state().asked_to_close());
    wait(&mut h, "the answer to be saved", |app| {
        app.state.snapshot.config.settings.close_to_tray == Some(true)
    });
    assert_eq!(close_to_tray(&home), Some(true), "remembered in the config");

    // Asked once: the next close hides without a question.
    let commands = common::press_close_button(&mut h);
    assert!(
        commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(
        commands.contains(&ViewportCommand::Visible(false)),
        "{commands:?}"
    );
    assert!(!shows(&h, TRAY_QUESTION));
    assert!(h.state().hidden_in_tray());
}

#[test]
fn a_remembered_keep_running_hides_without_asking_and_ctrl_q_still_quits() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let mut config = Config::load(&home.paths().config_file).unwrap();
    config.settings.close_to_tray = Some(true);
    config.save(&home.paths().config_file).unwrap();
    let mut h = open(&home, true);
    let commands = common::press_close_button(&mut h);
    assert!(
        commands.contains(&ViewportCommand::Visible(false)),
        "{commands:?}"
    );
    assert!(
        commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(!shows(&h, TRAY_QUESTION));
    assert!(h.state().hidden_in_tray());

    h.key_press_modifiers(Modifiers::COMMAND, Key::Q);
    h.step();
    h.step();
    assert!(h.state().asked_to_close(), "Ctrl+Q quits, no tray question");
}

#[test]
fn answering_quit_is_remembered_and_quits_once_saved() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let mut h = open(&home, true);
    common::press_close_button(&mut h);
    click(&mut h, "Quit");
    wait(&mut h, "the window to close", BackstopApp::asked_to_close);
    assert!(!h.state().hidden_in_tray());
    assert_eq!(
        close_to_tray(&home),
        Some(false),
        "saved before the window closed"
    );
    drop(h);
    // Remembered: the next window quits at once.
    let mut h = open(&home, true);
    let commands = common::press_close_button(&mut h);
    assert!(
        !commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(!shows(&h, TRAY_QUESTION));
}

#[test]
fn with_no_tray_closing_quits_after_saying_once_that_automatic_backups_stop() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let mut h = open(&home, false);
    let commands = common::press_close_button(&mut h);
    assert!(
        commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(shows(&h, NO_TRAY_NOTE));
    assert!(shows(&h, "Settings, On this computer"));
    click(&mut h, "Keep open");
    assert!(!shows(&h, NO_TRAY_NOTE));
    assert!(!h.state().asked_to_close() && !h.state().hidden_in_tray());

    // Told once: the close button now quits (the window lets the platform close it).
    let commands = common::press_close_button(&mut h);
    assert!(
        !commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(!shows(&h, NO_TRAY_NOTE));
    drop(h);
    let mut h = open(&home, false);
    let commands = common::press_close_button(&mut h);
    assert!(
        !commands.contains(&ViewportCommand::CancelClose),
        "told once, across launches: {commands:?}"
    );

    // Without automatic backups there is nothing to tell.
    let other = TestHome::new();
    other.sqlite_profile("blog", 10, &["--no-auto"]);
    let mut h = open(&other, false);
    let commands = common::press_close_button(&mut h);
    assert!(
        !commands.contains(&ViewportCommand::CancelClose),
        "{commands:?}"
    );
    assert!(!shows(&h, NO_TRAY_NOTE));
}

#[test]
fn a_running_job_still_asks_first_when_closing_quits() {
    let home = TestHome::new();
    home.sqlite_profile("big", 300_000, &[]);
    let mut h = open(&home, true);
    h.state_mut().tab = Tab::Actions;
    h.step();
    click(&mut h, "Back up now");
    wait(&mut h, "the backup to run", |app| {
        app.state.running.is_some()
    });
    common::press_close_button(&mut h);
    assert!(shows(&h, TRAY_QUESTION));
    click(&mut h, "Quit");
    assert!(
        shows(&h, "Cancel the job and quit"),
        "the job's question comes next"
    );
    assert!(!h.state().asked_to_close());
    click(&mut h, "Cancel the job and quit");
    wait(&mut h, "the window to close", BackstopApp::asked_to_close);
    assert_eq!(close_to_tray(&home), Some(false));
}

#[test]
fn a_file_given_on_the_command_line_is_offered_for_import() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let other = home.work().join("other.sqlite3");
    let db = rusqlite::Connection::open(&other).unwrap();
    db.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('a'), ('b');")
        .unwrap();
    drop(db);
    let mut h = open(&home, false);
    h.state_mut().offer_import(other.clone());
    h.step();
    h.step();
    assert!(shows(&h, "Import this file?"));
    assert!(shows(&h, "other.sqlite3"));
    assert!(shows(&h, "uploaded backup of shop"));
    click(&mut h, "Import");
    assert!(h.state().import_offer().is_none());
    wait(&mut h, "the import", |app| {
        app.state
            .snapshot
            .backups
            .iter()
            .any(|b| b.trigger == Trigger::Uploaded && b.status == Status::Completed)
    });

    // "Not now" leaves it.
    h.state_mut().offer_import(other);
    h.step();
    h.step();
    click(&mut h, "Not now");
    assert!(!shows(&h, "Import this file?"));
    assert!(h.state().import_offer().is_none());
}

#[test]
fn with_no_profile_the_offer_says_to_create_one_first() {
    let home = TestHome::new();
    let file = home.work().join("shop_full_20261203_120000_manual.zip");
    std::fs::write(&file, b"not looked at before a profile exists").unwrap();
    let mut h = open(&home, false);
    h.state_mut().offer_import(file);
    h.step();
    h.step();
    assert!(shows(&h, "Import this file?"));
    assert!(shows(
        &h,
        "Create a profile first: imported backups belong to a profile. Then drop the file on the window, or use \
         Import… in Actions."
    ));
    click(&mut h, "Close");
    assert!(!shows(&h, "Import this file?"));
    assert!(h.state().import_offer().is_none());
}
