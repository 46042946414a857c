//! The status header (issue 12 §2): each state of a profile in words, through the real window with egui_kittest —
//! not protected yet with the first backup one click away, protected, at work with its progress, needing attention
//! with the button that tries again, and another profile's state in the profile list.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::model::{Status, Trigger};
use backstop::ui::BackstopApp;
use backstop::ui::dialogs::ScriptedDialogs;
use common::TestHome;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn open(home: &TestHome) -> Harness<'static, BackstopApp> {
    common::window_ready(home.paths(), [1100.0, 800.0], ScriptedDialogs::default())
}

fn idle(w: &mut Harness<'static, BackstopApp>, rows: usize) {
    common::wait_for_window(w, "the job", &|app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && app.state.snapshot.backups.len() == rows
    });
}

#[test]
fn the_header_says_each_state_and_offers_its_one_fix() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200, &["--no-auto"]);
    let mut w = open(&home);
    w.get_by_label("Not protected yet");
    w.get_by_label("No backup yet, and automatic backups are off");

    w.get_by_label("Make the first backup").click_accesskit();
    idle(&mut w, 1);
    assert_eq!(w.state().state.snapshot.backups[0].trigger, Trigger::Manual);
    w.get_by_label("Protected");
    w.get_by_label("Last backup just now, verified; automatic backups are off");
    assert!(w.query_by_label("Make the first backup").is_none());

    // The database goes away: the backup fails, and the header says so with the button that tries again.
    let moved = db.with_extension("away");
    std::fs::rename(&db, &moved).unwrap();
    w.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    idle(&mut w, 2);
    assert_eq!(w.state().state.snapshot.backups[1].status, Status::Failed);
    w.get_by_label("Needs attention");
    w.get_by_label_contains("The last backup failed");
    std::fs::rename(&moved, &db).unwrap();
    w.get_by_label("Back up again now").click_accesskit();
    idle(&mut w, 3);
    w.get_by_label("Protected");
    assert!(w.query_by_label("Needs attention").is_none());
}

#[test]
fn the_header_shows_a_running_backup_of_its_profile_with_its_progress() {
    let home = TestHome::new();
    home.sqlite_profile("big", 300_000, &["--no-auto"]);
    let mut w = open(&home);
    w.get_by_label("Make the first backup").click_accesskit();
    common::wait_for_window(&mut w, "the backup to run", &|app| {
        app.state.running.is_some()
    });
    w.get_by_label_contains("Backing up…");
    idle(&mut w, 1);
    w.get_by_label("Protected");
}
