//! Settings in sections (issue 12 §2), through the real window with egui_kittest: the form's sections by their
//! headings, Save and Revert above the form with what they save, a changed field marked until it is reverted, a
//! line of help with each field's default, and the retention section's plain words following the typed numbers.
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

fn open_settings(home: &TestHome) -> Harness<'static, BackstopApp> {
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let mut w = common::window_ready(home.paths(), [1100.0, 800.0], ScriptedDialogs::default());
    w.state_mut().tab = Tab::Settings;
    w.run();
    w
}

/// Replaces the text of the field labelled `label`, as a user selecting it and typing would.
fn set_field(w: &mut Harness<'static, BackstopApp>, label: &str, text: &str) {
    w.get_by_role_and_label(Role::TextInput, label)
        .set_text_value_accesskit(text);
    w.run();
}

#[test]
fn the_settings_form_is_in_sections_each_with_help() {
    let home = TestHome::new();
    let w = open_settings(&home);
    for heading in [
        "Database",
        "Files folder",
        "Storage",
        "Schedule",
        "Retention",
        "Notifications",
    ] {
        w.get_by_label(heading);
    }
    // The fields keep their labels inside their sections.
    for field in [
        "Name",
        "SQLite database",
        "Files folder (optional)",
        "Storage folder",
        "Every (hours)",
        "Keep at most (backups)",
        "Compression level (0-9)",
    ] {
        w.get_by_role_and_label(Role::TextInput, field);
    }
    // Defaults explained in a line of help each.
    w.get_by_label_contains("Default: 24 hours");
    w.get_by_label_contains("Default: 10");
    w.get_by_label_contains("Default: 6");
    // Nothing changed: no Save, and the bar says so.
    assert!(w.query_by_label("Save").is_none());
    w.get_by_label("All changes are saved");
}

#[test]
fn a_changed_field_is_marked_until_reverted_and_the_bar_names_what_save_saves() {
    let home = TestHome::new();
    let mut w = open_settings(&home);
    assert!(
        w.query_by_label("Keep at most (backups): changed")
            .is_none()
    );
    set_field(&mut w, "Keep at most (backups)", "3");
    w.get_by_label("Keep at most (backups): changed");
    assert!(
        w.query_by_label("Every (hours): changed").is_none(),
        "only the changed field is marked"
    );
    // The bar above the form says what Save saves, and sits above the first section.
    let bar_top = w
        .get_by_label_contains("Unsaved changes to profile shop (Retention)")
        .rect()
        .top();
    let save = w.get_by_role_and_label(Role::Button, "Save");
    assert!(save.rect().top() < w.get_by_label("Database").rect().top());
    assert!(bar_top < w.get_by_label("Database").rect().top());
    w.get_by_label("Revert").click_accesskit();
    w.run();
    assert!(
        w.query_by_label("Keep at most (backups): changed")
            .is_none()
    );
    assert!(w.query_by_label("Save").is_none());
    w.get_by_label("All changes are saved");
}

#[test]
fn the_retention_line_follows_the_typed_numbers() {
    let home = TestHome::new();
    let mut w = open_settings(&home);
    w.get_by_label_contains("Keeps the 10 newest backups");
    set_field(&mut w, "Keep at most (backups)", "4");
    w.get_by_label_contains("Keeps the 4 newest backups");
    assert!(
        w.query_by_label_contains("Keeps the 10 newest backups")
            .is_none()
    );
    set_field(&mut w, "Also keep one per week for (weeks)", "2");
    w.get_by_label_contains("one per week for 2 weeks");
    // A number that is not one yet: the line says what the saved policy keeps, and the field says what is wrong.
    set_field(&mut w, "Keep at most (backups)", "x");
    w.get_by_label("must be a whole number");
}
