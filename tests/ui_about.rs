//! The window's About & Help, its keyboard shortcuts, and what the buttons that open a file dialog do on a desktop
//! where no dialog can open (issue 12 §1.5): driven through the real window with egui_kittest.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::model::Trigger;
use backstop::ui::dialogs::ScriptedDialogs;
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn open(home: &TestHome, dialogs: ScriptedDialogs) -> Harness<'static, BackstopApp> {
    common::window_ready(home.paths(), [1100.0, 800.0], dialogs)
}

#[test]
fn about_and_help_says_where_things_live_and_opens_the_archive_folder() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    let dialogs = ScriptedDialogs::default();
    let mut w = open(&home, dialogs.clone());
    w.get_by_label("About & Help").click_accesskit();
    w.run();
    w.get_by_label(&format!("Backstop {}", env!("CARGO_PKG_VERSION")));
    let paths = home.paths();
    w.get_by_label(&paths.config_file.display().to_string());
    w.get_by_label(&paths.catalog_file.display().to_string());
    let storage = w.state().profile().unwrap().storage_dir.clone();
    w.get_by_label(&storage.display().to_string());
    w.get_by_label("Ctrl+B");
    w.get_by_label("Back up the selected profile now");
    // The appearance: the system's, light or dark (eframe keeps the choice).
    w.get_by_label("Follow the system").click_accesskit();
    w.run();
    assert_eq!(
        w.ctx.options(|o| o.theme_preference),
        egui::ThemePreference::System
    );
    w.get_by_label("Dark").click_accesskit();
    w.run();
    assert_eq!(
        w.ctx.options(|o| o.theme_preference),
        egui::ThemePreference::Dark
    );
    assert!(w.ctx.theme() == egui::Theme::Dark);
    w.get_by_label("Light").click_accesskit();
    w.run();
    assert_eq!(w.ctx.theme(), egui::Theme::Light);
    // The fourth "Open folder" is the profile's archives.
    let buttons: Vec<_> = w.get_all_by_label("Open folder").collect();
    assert_eq!(buttons.len(), 4);
    buttons[3].click_accesskit();
    w.run();
    assert_eq!(*dialogs.opened.lock().unwrap(), vec![storage]);
    // F1 closes it again.
    w.key_press(Key::F1);
    w.run();
    assert!(w.query_by_label("Keyboard shortcuts").is_none());
    w.key_press(Key::F1);
    w.run();
    w.get_by_label("Keyboard shortcuts");
}

#[test]
fn shortcuts_switch_panels_and_back_up_the_selected_profile() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    let mut w = open(&home, ScriptedDialogs::default());
    for (key, tab) in [
        (Key::Num4, Tab::History),
        (Key::Num1, Tab::Settings),
        (Key::Num2, Tab::Statistics),
        (Key::Num3, Tab::Actions),
    ] {
        w.key_press_modifiers(Modifiers::COMMAND, key);
        w.run();
        assert_eq!(w.state().tab, tab, "{key:?}");
    }
    // A focused button does not take the keys (only a text field does).
    w.get_by_label("Back up now").focus();
    w.run();
    w.key_press_modifiers(Modifiers::COMMAND, Key::Num4);
    w.run();
    assert_eq!(w.state().tab, Tab::History, "with a button focused");
    w.key_press_modifiers(Modifiers::COMMAND, Key::B);
    common::wait_for_window(&mut w, "the backup", &|app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && app.state.snapshot.backups.len() == 1
    });
    let row = &w.state().state.snapshot.backups[0];
    assert_eq!(row.trigger, Trigger::Manual);
    assert_eq!(row.profile, "shop");
}

#[test]
fn without_a_file_dialog_import_says_so_and_its_path_field_takes_the_cursor() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    let dialogs = ScriptedDialogs {
        unavailable: Some("no file dialog can open here (no portal in this test)".into()),
        ..Default::default()
    };
    let mut w = open(&home, dialogs.clone());
    w.state_mut().tab = Tab::Actions;
    w.run();
    assert!(
        !w.get_by_role_and_label(Role::TextInput, "or a path:")
            .is_focused()
    );
    w.get_by_label("Import…").click_accesskit();
    w.run();
    w.get_by_label(
        "No file dialog can open here (no portal in this test): type the path here instead.",
    );
    assert!(
        w.get_by_role_and_label(Role::TextInput, "or a path:")
            .is_focused()
    );
    assert_eq!(
        *dialogs.asked.lock().unwrap(),
        vec![backstop::ui::dialogs::DialogPurpose::Import]
    );
    // Typing the path clears the note.
    w.get_by_role_and_label(Role::TextInput, "or a path:")
        .type_text("/tmp/x");
    w.run();
    assert!(
        w.query_by_label_contains("type the path here instead")
            .is_none()
    );
}

#[test]
fn without_a_file_dialog_export_offers_its_typed_path_with_the_cursor_in_it() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    home.backup("shop");
    let dialogs = ScriptedDialogs {
        unavailable: Some("no file dialog can open here (no portal in this test)".into()),
        ..Default::default()
    };
    let mut w = open(&home, dialogs);
    w.state_mut().tab = Tab::History;
    w.run();
    w.get_by_label("Export…").click_accesskit();
    w.run();
    let field = w.get_by_role_and_label(Role::TextInput, "Export backup 1 to:");
    assert!(field.is_focused());
    w.get_by_label_contains("type the path here instead");
    let target = home.work().join("exported.zip");
    w.get_by_role_and_label(Role::TextInput, "Export backup 1 to:")
        .type_text(&format!("{}", target.display()));
    w.run();
    assert!(
        w.query_by_label_contains("type the path here instead")
            .is_none()
    );
}

#[test]
fn without_a_file_dialog_the_settings_choose_buttons_hand_over_to_their_path_fields() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    let dialogs = ScriptedDialogs {
        unavailable: Some("no file dialog can open here (no portal in this test)".into()),
        ..Default::default()
    };
    let mut w = open(&home, dialogs);
    w.state_mut().tab = Tab::Settings;
    w.run();
    for (button, field) in [
        ("Choose files folder…", "Files folder (optional)"),
        ("Choose storage folder…", "Storage folder"),
        ("Choose database…", "SQLite database"),
    ] {
        w.get_by_label(button).click_accesskit();
        w.run();
        assert!(
            w.get_by_role_and_label(Role::TextInput, field).is_focused(),
            "{field} has the cursor"
        );
        assert_eq!(
            w.get_all_by_label_contains("type the path here instead")
                .count(),
            1,
            "{field}"
        );
    }
}

#[test]
fn history_and_settings_open_the_archive_folder() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--no-auto"]);
    let dialogs = ScriptedDialogs::default();
    let mut w = open(&home, dialogs.clone());
    let storage = w.state().profile().unwrap().storage_dir.clone();
    for tab in [Tab::History, Tab::Settings] {
        w.state_mut().tab = tab;
        w.run();
        w.get_by_label("Open archive folder").click_accesskit();
        w.run();
    }
    assert_eq!(
        *dialogs.opened.lock().unwrap(),
        vec![storage.clone(), storage]
    );
}
