//! The window and backups made while it is not looking: a backup by another process (the timer's `run-due`, the
//! CLI) appears in History without a click; a pause stops the window's scheduler and says so; the "On this
//! computer" switches act at once on real files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::desktop::{Launch, Places};
use backstop::model::Trigger;
use backstop::notify::RecordingNotifier;
use backstop::ui::dialogs::ScriptedDialogs;
use backstop::ui::{AppOptions, BackstopApp, Tab};
use common::{TestHome, wait_for_window};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::Path;

fn window(
    home: &TestHome,
    scheduler: bool,
    desktop: Option<Places>,
) -> Harness<'static, BackstopApp> {
    let paths = home.paths();
    let mut harness = Harness::builder()
        .with_size([1100.0, 1400.0])
        .build_eframe(move |cc| {
            BackstopApp::new(
                cc,
                AppOptions {
                    paths,
                    notifier: Box::new(RecordingNotifier::default()),
                    dialogs: Box::new(ScriptedDialogs::default()),
                    scheduler,
                    desktop,
                },
            )
        });
    wait_for_window(&mut harness, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    harness
}

fn click(harness: &mut Harness<'static, BackstopApp>, label: &str) {
    harness.get_by_label(label).click_accesskit();
    harness.step();
    harness.step();
}

/// The system timer's `run-due` (here the real binary's `backup`, another process) writes to the catalog; the
/// open window shows the new backup with nobody clicking anything: its idle worker notices the catalog changed.
#[test]
fn a_backup_made_by_another_process_appears_in_history_without_a_click() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 30, &[]);
    let mut w = window(&home, false, None);
    w.state_mut().tab = Tab::History;
    w.step();
    w.get_by_label_contains("No backups yet");
    assert!(w.query_by_label("Restore…").is_none());
    home.run_ok(&["run-due"]);
    wait_for_window(&mut w, "the timer's backup in History", &|app| {
        app.state.snapshot.backups.len() == 1
    });
    w.step();
    w.get_by_label("Restore…");
    assert!(w.query_by_label_contains("No backups yet").is_none());
    let row = &w.state().state.snapshot.backups[0];
    assert_eq!(row.trigger, Trigger::Automatic);
    assert!(
        w.state().state.running.is_none() && w.state().state.queue.is_empty(),
        "no job of the window's own brought it"
    );
    // A config saved by another process shows too (a profile added from the CLI).
    home.sqlite_profile("blog", 10, &[]);
    wait_for_window(&mut w, "the profile added from the CLI", &|app| {
        app.state.snapshot.config.profiles.len() == 2
    });
}

/// Paused, the window's scheduler starts no automatic backup of a profile that is due, and the banner says so;
/// its Resume button resumes, and the due backup starts.
#[test]
fn a_paused_window_starts_no_automatic_backup_until_resumed() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 30, &["--auto-hours", "1"]);
    home.run_ok(&["pause"]);
    let mut w = window(&home, true, None);
    assert!(w.state().scheduler_enabled());
    // The scheduler decides on the first frames after the snapshot: unpaused, the backup would be queued now.
    for _ in 0..20 {
        w.step();
    }
    assert!(w.state().state.running.is_none() && w.state().state.queue.is_empty());
    assert!(
        home.list_json().is_empty(),
        "no automatic backup while paused"
    );
    w.get_by_label("Automatic backups paused");
    click(&mut w, "Resume automatic backups");
    wait_for_window(&mut w, "the automatic backup after resuming", &|app| {
        app.state
            .snapshot
            .backups
            .iter()
            .any(|b| b.trigger == Trigger::Automatic)
    });
    assert!(!w.state().state.snapshot.config.settings.automatic_paused);
    assert!(w.query_by_label("Automatic backups paused").is_none());
    assert!(
        !w.state()
            .state
            .toasts
            .iter()
            .any(|t| t.text.contains("missed")),
        "a pause is not a closed window: no 'missed' message"
    );
}

fn is_checked(w: &Harness<'static, BackstopApp>, label: &str) -> bool {
    use egui_kittest::kittest::NodeT;
    w.get_by_label(label).accesskit_node().toggled() == Some(egui::accesskit::Toggled::True)
}

/// A home with one SQLite profile ("shop", automatic backups on) and desktop places in a temporary config home that
/// start this test build's binary.
fn shop_with_places() -> (TestHome, std::path::PathBuf, Places) {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let config_home = home.work().join("config home");
    let places = Places::under(
        &config_home,
        Launch {
            exe: Path::new(env!("CARGO_BIN_EXE_backstop")).to_path_buf(),
            backstop_home: Some(home.home()),
        },
    );
    (home, config_home, places)
}

/// Settings, On this computer: start at login writes and removes the real entry (in a temporary config home),
/// Pause and the close answer are saved at once, outside Save and Revert.
#[test]
fn on_this_computer_switches_act_at_once() {
    let (home, config_home, places) = shop_with_places();
    let mut w = window(&home, false, Some(places));
    w.state_mut().tab = Tab::Settings;
    w.step();
    w.get_by_label_contains("These switches act at once: they are not part of Save and Revert.");
    let login = "Start Backstop at login (hidden in the tray)";
    wait_for_window(&mut w, "the desktop state", &|app| {
        app.state.desktop.is_some()
    });
    w.step();
    assert!(!is_checked(&w, login));
    click(&mut w, login);
    let entry = config_home.join("autostart/io.github.backstop.Backstop.desktop");
    wait_for_window(&mut w, "the entry written", &|app| {
        app.state
            .desktop
            .as_ref()
            .is_some_and(|d| d.autostart.is_on())
            && app.state.desktop_tickets.is_empty()
    });
    assert!(entry.is_file());
    w.step();
    assert!(is_checked(&w, login));
    w.get_by_label_contains("On: Backstop starts hidden in the tray when you log in.");
    click(&mut w, login);
    wait_for_window(&mut w, "the entry removed", &|app| {
        app.state
            .desktop
            .as_ref()
            .is_some_and(|d| !d.autostart.is_on())
            && app.state.desktop_tickets.is_empty()
    });
    assert!(!entry.exists());
    click(&mut w, "Pause automatic backups");
    wait_for_window(&mut w, "the pause saved", &|app| {
        app.state.snapshot.config.settings.automatic_paused
    });
    assert!(home.run_ok(&["run-due"]).contains("paused"));
    click(&mut w, "Quit");
    wait_for_window(&mut w, "the close answer saved", &|app| {
        app.state.snapshot.config.settings.close_to_tray == Some(false)
    });
    w.get_by_label_contains("All changes are saved");
}

/// The close button with no tray and automatic backups on: the note offers to turn the system timer on before
/// quitting. Here no user manager can start it (the units land in a temporary config home that no manager reads),
/// so the window stays open and says why instead of quitting as if automatic backups would go on.
#[test]
fn the_no_tray_note_offers_the_system_timer_and_stays_open_when_it_cannot_start() {
    let (home, config_home, places) = shop_with_places();
    let mut w = window(&home, false, Some(places));
    w.state_mut().pretend_tray(false);
    wait_for_window(&mut w, "the desktop state read at launch", &|app| {
        app.state.desktop.is_some() && app.state.desktop_tickets.is_empty()
    });
    common::press_close_button(&mut w);
    w.get_by_label_contains("Automatic backups run only while Backstop is open");
    click(&mut w, "Use the system timer, then quit");
    wait_for_window(&mut w, "the timer job to end", &|app| {
        app.state.desktop_tickets.is_empty()
            && app
                .state
                .session_log
                .iter()
                .any(|(_, text)| text.contains("system timer"))
    });
    for _ in 0..5 {
        w.step();
    }
    assert!(
        !w.state().asked_to_close(),
        "the timer did not start, so the window stays open: {:?}",
        w.state().state.session_log
    );
    assert!(
        config_home
            .join("systemd/user/backstop-run-due.timer")
            .is_file(),
        "the units were written for the next login"
    );
}
