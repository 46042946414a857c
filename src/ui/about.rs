//! About & Help: the version and license, where Backstop keeps its config, catalog, log and archives (each with
//! Open folder), the appearance (system, light or dark), what each panel does, and the keyboard shortcuts, which
//! are handled here too.

use super::app::{BackstopApp, Tab};
use super::dialogs::DialogPurpose;
use crate::model::Trigger;
use crate::worker::JobRequest;
use egui::{Key, KeyboardShortcut, Modifiers, RichText};
use std::path::{Path, PathBuf};

/// The shortcuts for the main actions, as Help lists them.
pub const SHORTCUTS: &[(KeyboardShortcut, &str)] = &[
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::B),
        "Back up the selected profile now",
    ),
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::I),
        "Import backups…",
    ),
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::Num1),
        "Settings",
    ),
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::Num2),
        "Statistics",
    ),
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::Num3),
        "Actions",
    ),
    (
        KeyboardShortcut::new(Modifiers::COMMAND, Key::Num4),
        "History",
    ),
    (
        KeyboardShortcut::new(Modifiers::NONE, Key::F1),
        "About & Help",
    ),
];

/// What the window shows of each panel in Help.
const PANELS: &[(&str, &str)] = &[
    (
        "Settings",
        "the selected profile: its database, files folder, where archives are kept, the schedule and retention. \
         Changes are a draft until you Save.",
    ),
    (
        "Statistics",
        "how many backups there are, how big and how long they were, and the database as it is now.",
    ),
    (
        "Actions",
        "back up now, verify, prune by retention, import backups from other apps, run due backups.",
    ),
    (
        "History",
        "every backup: restore it (all of it, or chosen files), export, verify, pin, compare, delete; the restore \
         log with Undo, and the job log.",
    ),
];

/// Whether About & Help is open.
#[derive(Debug, Default)]
pub struct About {
    pub open: bool,
}

/// How a shortcut reads in Help ("Ctrl+B", "F1").
pub fn shortcut_text(ctx: &egui::Context, shortcut: &KeyboardShortcut) -> String {
    ctx.format_shortcut(shortcut)
}

impl BackstopApp {
    /// Handles the keyboard shortcuts of [`SHORTCUTS`] (not while a text field has the keyboard, except F1).
    pub(crate) fn shortcuts(&mut self, ctx: &egui::Context) {
        // Only a text field takes the keys for itself (a focused button does not).
        let typing = ctx.text_edit_focused();
        let pressed = |s: &KeyboardShortcut| ctx.input_mut(|i| i.consume_shortcut(s));
        for (shortcut, _) in SHORTCUTS {
            if shortcut.logical_key != Key::F1 && typing {
                continue;
            }
            if !pressed(shortcut) {
                continue;
            }
            match shortcut.logical_key {
                Key::B => {
                    if let Some(profile) = self.profile().cloned() {
                        let kind = self.backup_kind.get(&profile.name).copied();
                        self.submit(JobRequest::Backup {
                            profile: profile.name,
                            kind,
                            trigger: Trigger::Manual,
                        });
                    }
                }
                Key::I => self.open_dialog(DialogPurpose::Import),
                Key::Num1 => self.tab = Tab::Settings,
                Key::Num2 => self.tab = Tab::Statistics,
                Key::Num3 => self.tab = Tab::Actions,
                Key::Num4 => self.tab = Tab::History,
                Key::F1 => self.about.open = !self.about.open,
                _ => {}
            }
        }
    }

    /// The About & Help window, when open.
    pub(crate) fn about_window(&mut self, ctx: &egui::Context) {
        if !self.about.open {
            return;
        }
        let mut open = true;
        let mut to_open: Option<PathBuf> = None;
        egui::Window::new("About & Help")
            .open(&mut open)
            .default_width(560.0)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().max_height(520.0).show(ui, |ui| {
                    ui.heading(format!("Backstop {}", env!("CARGO_PKG_VERSION")));
                    ui.label(
                        "Backs up and restores SQLite, PostgreSQL and MySQL/MariaDB databases, and the folder of \
                         files that goes with them, into verified zip archives that open without Backstop.",
                    );
                    ui.label(
                        RichText::new(format!("License: {}", env!("CARGO_PKG_LICENSE"))).weak(),
                    );
                    ui.add_space(8.0);
                    ui.label(RichText::new("Where Backstop keeps things").strong());
                    let mut places: Vec<(&str, PathBuf, PathBuf)> = vec![
                        (
                            "Settings (config.toml)",
                            self.paths.config_file.clone(),
                            crate::fsutil::parent_of(&self.paths.config_file).to_path_buf(),
                        ),
                        (
                            "Catalog of backups",
                            self.paths.catalog_file.clone(),
                            crate::fsutil::parent_of(&self.paths.catalog_file).to_path_buf(),
                        ),
                        (
                            "Log and window state",
                            self.paths.state_dir.join("backstop.log"),
                            self.paths.state_dir.clone(),
                        ),
                    ];
                    match self.profile() {
                        Some(p) => places.push((
                            "Archives of this profile",
                            p.storage_dir.clone(),
                            p.storage_dir.clone(),
                        )),
                        None => places.push((
                            "Archives (default)",
                            self.paths.archives_dir.clone(),
                            self.paths.archives_dir.clone(),
                        )),
                    }
                    egui::Grid::new("about-places")
                        .num_columns(3)
                        .spacing([12.0, 4.0])
                        .show(ui, |ui| {
                            for (what, path, folder) in &places {
                                ui.label(*what);
                                ui.add(
                                    egui::Label::new(RichText::new(path.display().to_string()).monospace())
                                        .wrap(),
                                );
                                if ui
                                    .button("Open folder")
                                    .on_hover_text(folder.display().to_string())
                                    .clicked()
                                {
                                    to_open = Some(folder.clone());
                                }
                                ui.end_row();
                            }
                        });
                    ui.add_space(8.0);
                    ui.horizontal(|ui| {
                        ui.label(RichText::new("Appearance").strong());
                        let mut preference = ctx.options(|o| o.theme_preference);
                        for (choice, label) in [
                            (egui::ThemePreference::System, "Follow the system"),
                            (egui::ThemePreference::Light, "Light"),
                            (egui::ThemePreference::Dark, "Dark"),
                        ] {
                            ui.selectable_value(&mut preference, choice, label);
                        }
                        if preference != ctx.options(|o| o.theme_preference) {
                            ctx.set_theme(preference);
                        }
                    });
                    ui.add_space(8.0);
                    ui.label(RichText::new("The four panels").strong());
                    for (panel, what) in PANELS {
                        ui.horizontal_wrapped(|ui| {
                            ui.label(RichText::new(*panel).strong());
                            ui.label(*what);
                        });
                    }
                    ui.add_space(8.0);
                    ui.label(RichText::new("Keyboard shortcuts").strong());
                    egui::Grid::new("about-shortcuts")
                        .num_columns(2)
                        .spacing([16.0, 2.0])
                        .show(ui, |ui| {
                            let quit = (
                                super::quit::QUIT_SHORTCUT,
                                "Quit (asks first while a job runs)",
                            );
                            for (shortcut, what) in SHORTCUTS.iter().chain(std::iter::once(&quit)) {
                                ui.label(RichText::new(shortcut_text(ctx, shortcut)).monospace());
                                ui.label(*what);
                                ui.end_row();
                            }
                        });
                    ui.add_space(8.0);
                    ui.label(
                        RichText::new(
                            "Every archive holds a README that says how to restore it with the database's own \
                             tools, without Backstop. The command line does everything the window does: run \
                             `backstop --help`.",
                        )
                        .weak(),
                    );
                });
            });
        self.about.open = open;
        if let Some(folder) = to_open {
            self.open_folder(&folder);
        }
    }

    /// Opens `folder` in the desktop's file manager, or says why it could not.
    pub(crate) fn open_folder(&mut self, folder: &Path) {
        if let Err(why) = self.dialogs.open_folder(folder) {
            self.state.toast(
                super::state::ToastKind::Error,
                format!("Cannot open {}: {why}", folder.display()),
                std::time::Instant::now(),
            );
        }
    }
}
