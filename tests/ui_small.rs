//! The window at 800x600 (issue 12 §1.7): every Settings button on screen, the profile-name error wrapped inside
//! the window, log messages wrapped with the whole text on hover, and History's wide rows reachable by a scroll bar.
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
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

const WIDTH: f32 = 800.0;

fn open_small(home: &TestHome) -> Harness<'static, BackstopApp> {
    common::window_ready(home.paths(), [WIDTH, 600.0], ScriptedDialogs::default())
}

fn inside(rect: egui::Rect, what: &str) {
    assert!(
        rect.right() <= WIDTH + 0.5 && rect.left() >= 0.0,
        "{what} is cut off at {WIDTH} points: {rect:?}"
    );
}

#[test]
fn settings_fit_800_points_and_their_problems_wrap() {
    let home = TestHome::new();
    home.sqlite_profile(
        "shop",
        10,
        &["--no-auto", "--files", home.work().to_str().unwrap()],
    );
    let mut w = open_small(&home);
    w.state_mut().tab = Tab::Settings;
    w.run();
    for button in [
        "Choose database…",
        "Choose files folder…",
        "Choose storage folder…",
    ] {
        inside(w.get_by_label(button).rect(), button);
    }
    // A long problem wraps under its field instead of running off the window.
    let name = w.get_by_role_and_label(Role::TextInput, "Name");
    name.focus();
    name.type_text(" with spaces and / slashes that are not allowed in a profile name at all");
    w.run();
    let problem = w.get_by_label_contains("invalid profile name");
    inside(problem.rect(), "the name's problem");
}

#[test]
fn log_messages_wrap_and_history_rows_scroll() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 10, &["--no-auto"]);
    home.backup("shop");
    // A failure with a long message in the job log.
    std::fs::remove_file(&db).unwrap();
    let out = home.run(&["backup", "--profile", "shop"]);
    assert_eq!(out.status.code(), Some(1));
    let mut w = open_small(&home);
    w.state_mut().tab = Tab::History;
    w.run();
    w.get_by_label("Job log").click_accesskit();
    w.run();
    // The job log's message and the status header's line both wrap inside the window.
    let messages: Vec<_> = w
        .get_all_by_label_contains("database file not found")
        .collect();
    assert!(messages.len() >= 2, "{}", messages.len());
    for message in messages {
        inside(message.rect(), "a message about the failure");
    }
    w.get_by_label("Backups").click_accesskit();
    w.run();
    // The last button of a row lies beyond 800 points: it is reached by the table's scroll bar, not lost.
    let delete = w.get_all_by_label("Delete…").next().unwrap();
    assert!(
        delete.rect().right() > WIDTH,
        "the row fits now: update this test"
    );
    w.get_all_by_role(Role::ScrollBar)
        .next()
        .expect("a horizontal scroll bar");
}
