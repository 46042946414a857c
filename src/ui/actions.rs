//! The Actions panel: back up now, verify this profile or all profiles, prune (with its preview), import, run due backups.

use super::app::BackstopApp;
use super::dialogs::DialogPurpose;
use super::settings::kind_label;
use crate::jobs::VerifyTarget;
use crate::model::{Kind, Trigger};
use crate::worker::JobRequest;
use egui::RichText;
use std::path::PathBuf;

impl BackstopApp {
    pub(crate) fn actions_panel(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        ui.heading(format!("Actions for {}", profile.name));
        ui.add_space(6.0);
        let has_files = profile.files_dir.is_some();
        let mut kind = self.chosen_kind(&profile);
        let before = kind;
        // The main action, big, with the kind it makes beside it.
        ui.horizontal(|ui| {
            let accent = ui.visuals().selection;
            let button = egui::Button::new(
                RichText::new("Back up now")
                    .strong()
                    .size(20.0)
                    .color(accent.stroke.color),
            )
            .fill(accent.bg_fill)
            .min_size(egui::vec2(180.0, 44.0));
            if ui
                .add(button)
                .on_hover_text(format!("Back up {} now (Ctrl+B)", profile.name))
                .clicked()
            {
                self.submit(self.backup_now_request(&profile));
            }
            ui.add_space(8.0);
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.label("Kind:");
                    for choice in [Kind::Full, Kind::Database, Kind::Files] {
                        let needs_files = choice != Kind::Database;
                        ui.add_enabled_ui(has_files || !needs_files, |ui| {
                            ui.radio_value(&mut kind, choice, kind_label(choice))
                                .on_disabled_hover_text(
                                    "This profile has no files folder; set one in Settings",
                                );
                        });
                    }
                });
                match &profile.files_dir {
                    Some(dir) => {
                        let excludes = match profile.exclude.len() {
                            0 => String::new(),
                            1 => " (1 exclude pattern)".to_string(),
                            n => format!(" ({n} exclude patterns)"),
                        };
                        ui.add(
                            egui::Label::new(
                                RichText::new(format!("Files folder: {}{excludes}", dir.display()))
                                    .weak(),
                            )
                            .wrap(),
                        );
                    }
                    None => {
                        ui.label(
                            RichText::new("No files folder: backups hold the database only.")
                                .weak(),
                        );
                    }
                }
            });
        });
        if kind != before {
            self.backup_kind.insert(profile.name.clone(), kind);
        }
        ui.add_space(12.0);
        group(ui, "Check", |ui| {
            ui.horizontal_wrapped(|ui| {
                if ui
                    .button("Verify this profile")
                    .on_hover_text(format!(
                        "Re-read every archive of {} and check every checksum",
                        profile.name
                    ))
                    .clicked()
                {
                    self.submit(JobRequest::Verify(VerifyTarget::All(Some(
                        profile.name.clone(),
                    ))));
                }
                if self.state.snapshot.config.profiles.len() > 1
                    && ui
                        .button("Verify all profiles")
                        .on_hover_text(
                            "Re-read every archive of every profile and check every checksum",
                        )
                        .clicked()
                {
                    self.submit(JobRequest::Verify(VerifyTarget::All(None)));
                }
            });
        });
        group(ui, "Clean up", |ui| {
            if ui
                .button("Prune now…")
                .on_hover_text("Show what retention would delete, then ask")
                .clicked()
            {
                self.state.prune_preview = None;
                self.prune_confirm_open = true;
                self.submit(JobRequest::Prune {
                    profile: profile.name.clone(),
                    dry_run: true,
                });
            }
        });
        group(ui, "Bring in", |ui| {
            let mut import_field = None;
            ui.horizontal_wrapped(|ui| {
                if ui
                    .button("Import…")
                    .on_hover_text(
                        "Choose Backstop archives or SQLite files to add as uploaded backups",
                    )
                    .clicked()
                {
                    self.open_dialog(DialogPurpose::Import);
                }
                let label = ui.label("or a path:");
                let field = ui
                    .text_edit_singleline(&mut self.import_path)
                    .labelled_by(label.id);
                import_field = Some(field);
                if ui
                    .add_enabled(
                        !self.import_path.trim().is_empty(),
                        egui::Button::new("Import path"),
                    )
                    .clicked()
                {
                    let path = PathBuf::from(self.import_path.trim());
                    self.import_path.clear();
                    self.import(vec![path]);
                }
            });
            if let Some(field) = import_field {
                self.path_field_fallback(ui, &DialogPurpose::Import, &field);
            }
            ui.label(RichText::new("You can also drop archives onto the window.").weak());
        });
        group(ui, "Schedule", |ui| {
            if ui
                .button("Run due backups now")
                .on_hover_text(
                    "Start the automatic backup of every profile whose interval has passed",
                )
                .clicked()
            {
                self.run_due_now();
            }
        });
    }

    /// The kind last chosen for `profile` in Actions, as long as the profile can still make it; else its default.
    pub(crate) fn chosen_kind(&self, profile: &crate::config::Profile) -> Kind {
        let has_files = profile.files_dir.is_some();
        self.backup_kind
            .get(&profile.name)
            .copied()
            .filter(|k| has_files || *k == Kind::Database)
            .unwrap_or_else(|| profile.default_kind())
    }

    /// What "Back up now" runs for `profile` (the big button, and the tray's menu): a manual backup of the kind
    /// chosen in Actions.
    pub(crate) fn backup_now_request(&self, profile: &crate::config::Profile) -> JobRequest {
        JobRequest::Backup {
            profile: profile.name.clone(),
            kind: Some(self.chosen_kind(profile)),
            trigger: Trigger::Manual,
        }
    }

    /// Queues an automatic backup for every profile whose interval elapsed (like `backstop run-due`).
    pub(crate) fn run_due_now(&mut self) {
        let now = chrono::Utc::now();
        let due: Vec<String> = self
            .state
            .snapshot
            .config
            .profiles
            .iter()
            .filter(|p| {
                let last = self
                    .state
                    .snapshot
                    .stats
                    .get(&p.name)
                    .and_then(|s| s.last_automatic_at);
                crate::schedule::check(
                    last,
                    p.policy.auto_enabled,
                    p.policy.auto_interval_hours,
                    now,
                )
                .due
            })
            .map(|p| p.name.clone())
            .collect();
        if due.is_empty() {
            self.state.toast(
                super::state::ToastKind::Info,
                "No automatic backup is due",
                std::time::Instant::now(),
            );
        }
        for profile in due {
            let ticket = self.submit(JobRequest::Backup {
                profile: profile.clone(),
                kind: None,
                trigger: Trigger::Automatic,
            });
            self.state.automatic.insert(ticket, profile);
        }
    }
}

/// A titled group of secondary actions.
fn group(ui: &mut egui::Ui, title: &str, body: impl FnOnce(&mut egui::Ui)) {
    ui.add_space(4.0);
    ui.label(RichText::new(title).strong().size(15.0));
    ui.indent(title, body);
    ui.add_space(4.0);
}
