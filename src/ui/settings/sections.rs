//! The sections of a profile's Settings (Database, Files folder, Storage, Schedule, Retention) and the app-wide
//! Notifications: each field marked when it differs from what is saved, with a line of help giving its default,
//! and the retention section saying in plain words what the typed numbers would keep.

use super::draft::{AppDraft, Draft, Edited};
use super::form::{
    Note, checkbox, field, form_label, help_line, multiline_field, password_field, path_field,
    section,
};
use super::{kind_label, server_fields};
use crate::config::{Profile, Settings};
use crate::model::{Kind, Policy};
use crate::ui::app::BackstopApp;
use crate::ui::dialogs::DialogPurpose;
use crate::worker::JobRequest;
use egui::RichText;
use std::collections::BTreeMap;

/// Field → why it is not acceptable, as the panel found it.
type Problems = BTreeMap<&'static str, String>;

impl BackstopApp {
    /// The sections of `profile`'s form, edited in `edited`.
    pub(super) fn profile_sections(
        &mut self,
        ui: &mut egui::Ui,
        profile: &Profile,
        edited: &mut Edited<Draft>,
        problems: &Problems,
    ) {
        let defaults = Policy::default();
        let Edited { saved, draft: d } = edited;
        section(ui, "Database", |ui| {
            let facts = profile.database.family().connection().server();
            if let (Some(typed), Some(facts)) = (d.server.as_mut(), facts) {
                server_fields(ui, typed, saved.server.as_ref(), &facts, &|key| {
                    problems.get(key).cloned()
                });
                let typed_password = (!d.new_password.0.is_empty()).then_some("kept");
                password_field(
                    ui,
                    "Password (leave empty to keep)",
                    &mut d.new_password.0,
                    Note {
                        changed: typed_password,
                        help: None,
                    },
                );
                let stored = profile
                    .database
                    .server()
                    .is_some_and(|cfg| cfg.has_password);
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(if stored {
                            "A password is stored (keyring or file)."
                        } else {
                            "No password stored."
                        })
                        .weak(),
                    );
                    if ui
                        .button("Test connection")
                        .on_hover_text("Connect with the saved settings and report")
                        .clicked()
                    {
                        self.submit(JobRequest::TestConnection {
                            profile: profile.name.clone(),
                        });
                    }
                });
            } else {
                let note = Note::of(&d.database, &saved.database, None);
                let (choose, text) = path_field(
                    ui,
                    &format!("{} database", profile.database.family().label()),
                    &mut d.database,
                    problems.get("database"),
                    Some("Choose database…"),
                    note,
                );
                if choose {
                    self.open_dialog(DialogPurpose::DatabaseFile);
                }
                self.path_field_fallback(ui, &DialogPurpose::DatabaseFile, &text);
            }
        });
        section(ui, "Files folder", |ui| {
            let note = Note::of(
                &d.files,
                &saved.files,
                Some(
                    "Backed up beside the database (uploads, attachments). Default: none, the database only.",
                ),
            );
            let (choose, text) = path_field(
                ui,
                "Files folder (optional)",
                &mut d.files,
                problems.get("files"),
                Some("Choose files folder…"),
                note,
            );
            if choose {
                self.open_dialog(DialogPurpose::FilesFolder);
            }
            self.path_field_fallback(ui, &DialogPurpose::FilesFolder, &text);
            let note = Note::of(
                &d.exclude,
                &saved.exclude,
                Some("Default: nothing is left out."),
            );
            multiline_field(
                ui,
                "Leave out of the files folder (one glob per line)",
                &mut d.exclude,
                problems.get("exclude"),
                "cache/**\n*.tmp",
                note,
            );
            default_kind_row(ui, d, saved);
        });
        section(ui, "Storage", |ui| {
            let storage_help = format!(
                "Where the archives are written. Default: {}",
                self.paths.default_storage(&profile.name).display()
            );
            let note = Note::of(&d.storage, &saved.storage, Some(&storage_help));
            let (choose, text) = path_field(
                ui,
                "Storage folder",
                &mut d.storage,
                problems.get("storage"),
                Some("Choose storage folder…"),
                note,
            );
            if choose {
                self.open_dialog(DialogPurpose::StorageFolder);
            }
            self.path_field_fallback(ui, &DialogPurpose::StorageFolder, &text);
            if ui
                .button("Open archive folder")
                .on_hover_text(profile.storage_dir.display().to_string())
                .clicked()
            {
                self.open_folder(&profile.storage_dir);
            }
            let help = format!(
                "0 stores without packing, 9 packs tightest and slowest. Default: {}.",
                defaults.compression_level
            );
            let note = Note::of(&d.compression, &saved.compression, Some(&help));
            field(
                ui,
                "Compression level (0-9)",
                &mut d.compression,
                problems.get("compression"),
                None,
                note,
            );
        });
        section(ui, "Schedule", |ui| {
            checkbox(
                ui,
                &mut d.auto_enabled,
                "Automatic backups",
                saved.auto_enabled,
                "Backs up on its own when a backup is due (also from cron or a timer running backstop run-due). Default: on.",
            );
            let help = format!(
                "Counted from the last automatic backup. Default: {} hours.",
                defaults.auto_interval_hours
            );
            let note = Note::of(&d.auto_hours, &saved.auto_hours, Some(&help));
            field(
                ui,
                "Every (hours)",
                &mut d.auto_hours,
                problems.get("auto_hours"),
                None,
                note,
            );
        });
        section(ui, "Retention", |ui| {
            // What the typed numbers would keep (a number not typed right yet counts as its saved value).
            let policy = d.apply(profile).policy;
            ui.add(egui::Label::new(crate::retention::describe(&policy)).wrap());
            ui.add_space(2.0);
            let keep_last = format!(
                "How many backups to keep at most (the kept ones named above come on top). Default: {}.",
                defaults.keep_last
            );
            let max_age = format!(
                "Counted from the newest backup. Default: {} days.",
                defaults.max_age_days
            );
            let off = "Default: 0 (none).";
            for (label, key, value, was, help) in [
                (
                    "Keep at most (backups)",
                    "keep_last",
                    &mut d.keep_last,
                    &saved.keep_last,
                    keep_last.as_str(),
                ),
                (
                    "Delete older than (days, 0 = never)",
                    "max_age_days",
                    &mut d.max_age_days,
                    &saved.max_age_days,
                    max_age.as_str(),
                ),
                (
                    "Also keep one per day for (days)",
                    "keep_daily",
                    &mut d.keep_daily,
                    &saved.keep_daily,
                    off,
                ),
                (
                    "Also keep one per week for (weeks)",
                    "keep_weekly",
                    &mut d.keep_weekly,
                    &saved.keep_weekly,
                    off,
                ),
                (
                    "Also keep one per month for (months)",
                    "keep_monthly",
                    &mut d.keep_monthly,
                    &saved.keep_monthly,
                    off,
                ),
            ] {
                let note = Note::of(value, was, Some(help));
                field(ui, label, value, problems.get(key), None, note);
            }
        });
    }
}

/// The "Default backup kind" row: a choice that means something only with a files folder.
fn default_kind_row(ui: &mut egui::Ui, d: &mut Draft, saved: &Draft) {
    let has_files = !d.files.trim().is_empty();
    let changed = (d.default_kind != saved.default_kind)
        .then(|| kind_label(saved.default_kind.unwrap_or(Kind::Full)));
    ui.horizontal(|ui| {
        let label = form_label(ui, "Default backup kind", changed);
        ui.vertical(|ui| {
            ui.add_enabled_ui(has_files, |ui| {
                // Without a files folder every backup holds the database only.
                let shown = if has_files {
                    d.default_kind.unwrap_or(Kind::Full)
                } else {
                    Kind::Database
                };
                egui::ComboBox::from_id_salt("default-kind")
                    .selected_text(kind_label(shown))
                    .show_ui(ui, |ui| {
                        for kind in [Kind::Full, Kind::Database, Kind::Files] {
                            if ui
                                .selectable_label(shown == kind, kind_label(kind))
                                .clicked()
                            {
                                d.default_kind = Some(kind);
                            }
                        }
                    })
                    .response
                    .labelled_by(label.id)
                    .on_disabled_hover_text(
                        "Without a files folder every backup holds the database only",
                    );
            });
            help_line(
                ui,
                "What a backup holds unless you choose otherwise. Default: Full.",
            );
        });
    });
}

/// The settings for all profiles: desktop notifications and the change alert.
pub(super) fn notifications(ui: &mut egui::Ui, app: &mut Edited<AppDraft>, problems: &Problems) {
    let defaults = Settings::default();
    let Edited { saved, draft: d } = app;
    section(ui, "Notifications", |ui| {
        help_line(ui, "These hold for all profiles.");
        checkbox(
            ui,
            &mut d.notifications,
            "Desktop notifications",
            saved.notifications,
            "Say on the desktop how backups went. Default: on.",
        );
        let help = format!(
            "Compared with the previous backup. Default: {} %.",
            defaults.change_alert_percent
        );
        let note = Note::of(&d.alert_percent, &saved.alert_percent, Some(&help));
        field(
            ui,
            "Warn when size or row count changes by more than (%)",
            &mut d.alert_percent,
            problems.get("alert_percent"),
            None,
            note,
        );
    });
}
