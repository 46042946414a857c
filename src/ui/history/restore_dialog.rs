//! The restore dialog: the whole backup (what is replaced, now versus in the backup, the safety backup, the
//! typed confirmation, "Restore into profile") or chosen files of its files folder into another folder.

use super::local;
use crate::archive::EntryType;
use crate::catalog::BackupRow;
use crate::jobs::{BackupRef, RestoreSpec};
use crate::model::Kind;
use crate::ui::app::{BackstopApp, RestoreDialog};
use crate::ui::dialogs::DialogPurpose;
use crate::ui::state::human_size;
use crate::worker::{Inspection, JobRequest};
use egui::{Color32, RichText};
use std::path::{Path, PathBuf};

/// Why chosen files cannot be restored into `text` (None: they can; the job itself refuses names that exist).
pub fn destination_problem(text: &str) -> Option<String> {
    let text = text.trim();
    let path = Path::new(text);
    if text.is_empty() {
        Some("choose the folder to restore into".into())
    } else if !path.is_absolute() {
        Some("use an absolute folder path".into())
    } else if path.exists() && !path.is_dir() {
        Some("this is a file, not a folder".into())
    } else {
        None
    }
}

/// The restore dialog's "now versus in the backup" grid: database size and each table's rows.
pub(super) fn restore_comparison(ui: &mut egui::Ui, inspection: &Inspection) {
    if let Some(name) = &inspection.missing_database {
        ui.label(
            RichText::new(format!(
                "The database {name} is missing and will be created by the restore (with the owner, encoding and settings the backup recorded)."
            ))
            .color(Color32::from_rgb(190, 120, 0)),
        );
    }
    if let Some(error) = &inspection.now_error {
        ui.label(
            RichText::new(format!("The current database cannot be read: {error}"))
                .color(Color32::from_rgb(190, 120, 0)),
        );
    }
    egui::Grid::new("restore-compare")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            ui.strong("");
            ui.strong("Now");
            ui.strong("In the backup");
            ui.end_row();
            ui.label("Database size");
            ui.label(
                inspection
                    .now_database_size
                    .map(human_size)
                    .unwrap_or_else(|| "-".into()),
            );
            ui.label(human_size(inspection.backup_database_size));
            ui.end_row();
            let mut tables: Vec<&String> = inspection
                .backup_tables
                .keys()
                .chain(inspection.now_tables.keys())
                .collect();
            tables.sort();
            tables.dedup();
            for table in tables {
                ui.label(format!("{table} (rows)"));
                ui.label(
                    inspection
                        .now_tables
                        .get(table)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                ui.label(
                    inspection
                        .backup_tables
                        .get(table)
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                );
                ui.end_row();
            }
        });
}

impl BackstopApp {
    pub(crate) fn open_restore(&mut self, row: &BackupRow) {
        self.state.inspection = None;
        self.restore_dialog = Some(RestoreDialog {
            id: row.id,
            profile: row.profile.clone(),
            into: row.profile.clone(),
            confirm: String::new(),
            safety: true,
            to_database: String::new(),
            terminate_sessions: false,
            chosen_files: false,
            tree: None,
            destination: String::new(),
            validation: None,
        });
        if let Some(profile) = self
            .state
            .snapshot
            .config
            .profiles
            .iter()
            .find(|p| p.name == row.profile)
            .cloned()
        {
            self.details_asked.remove(&profile.name);
            self.want_details(&profile);
        }
        self.submit(JobRequest::Inspect {
            id: row.id,
            into: None,
        });
    }

    /// The restore dialog: what will be replaced, now versus in the backup, Validate only, the safety-backup
    /// checkbox, and Restore enabled only once the profile name is typed. A backup with a files folder also
    /// offers "Restore chosen files instead": a tree of its files folder and a folder to restore them into.
    pub(crate) fn restore_window(&mut self, ctx: &egui::Context) {
        // Taken out while drawn (and put back): the tree may hold tens of thousands of entries.
        let Some(mut dialog) = self.restore_dialog.take() else {
            return;
        };
        let mut open = true;
        let mut close = false;
        egui::Window::new(format!("Restore backup {}", dialog.id))
            .open(&mut open)
            .collapsible(false)
            .default_width(560.0)
            .show(ctx, |ui| {
                let has_files = dialog.tree.as_ref().is_some_and(|t| !t.is_empty());
                if has_files {
                    ui.horizontal(|ui| {
                        ui.selectable_value(
                            &mut dialog.chosen_files,
                            false,
                            "Restore the whole backup",
                        );
                        ui.selectable_value(
                            &mut dialog.chosen_files,
                            true,
                            "Restore chosen files instead",
                        );
                    });
                    ui.separator();
                } else {
                    dialog.chosen_files = false;
                }
                close = if dialog.chosen_files {
                    self.chosen_files_form(ui, &mut dialog)
                } else {
                    self.whole_restore_form(ui, &mut dialog)
                };
            });
        if open && !close {
            self.restore_dialog = Some(dialog);
        } else if let Some(ticket) = dialog.validation {
            self.state.awaited.remove(&ticket);
        }
    }

    /// The whole-backup restore: the comparison, server options, safety backup, typed confirmation. Returns
    /// whether the dialog is done.
    fn whole_restore_form(&mut self, ui: &mut egui::Ui, dialog: &mut RestoreDialog) -> bool {
        let mut close = false;
        self.restore_into_choice(ui, dialog);
        match self
            .state
            .inspection
            .clone()
            .filter(|i| i.id == dialog.id && i.profile == dialog.into)
        {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the backup and the current database…");
                });
            }
            Some(inspection) => {
                let files = inspection
                    .files_dir
                    .as_ref()
                    .map(|d| format!("the files folder {}", d.display()))
                    .unwrap_or_else(|| "the files folder".into());
                let replaced = match inspection.kind {
                    Kind::Database => inspection.target.clone(),
                    Kind::Full => format!("{} and {files}", inspection.target),
                    Kind::Files => files,
                };
                ui.label(RichText::new(format!("This replaces {replaced}")).strong());
                ui.label(format!(
                    "with the backup taken {}.",
                    local(inspection.backup_created_at)
                ));
                if inspection.kind != Kind::Files {
                    restore_comparison(ui, &inspection);
                }
            }
        }
        ui.add_space(6.0);
        let server = self
            .state
            .snapshot
            .config
            .profiles
            .iter()
            .find(|p| p.name == dialog.into)
            .is_some_and(|p| p.database.is_server());
        if server {
            if let Some((_, details)) = self.state.details.get(&dialog.into)
                && let Some(n) = details.other_sessions
            {
                ui.label(format!("{n} session(s) are connected to the database now."));
            }
            ui.checkbox(
                &mut dialog.terminate_sessions,
                "End other sessions on the database before the swap",
            );
            ui.horizontal(|ui| {
                let label = ui.label("Or restore into a new database named:");
                ui.text_edit_singleline(&mut dialog.to_database)
                    .labelled_by(label.id);
            });
        }
        ui.checkbox(
            &mut dialog.safety,
            "Take a safety backup of the current database first",
        );
        let label = ui.label(format!(
            "Type the profile name ({}) to confirm:",
            dialog.into
        ));
        ui.text_edit_singleline(&mut dialog.confirm)
            .labelled_by(label.id);
        let other = Some(dialog.into.clone()).filter(|into| *into != dialog.profile);
        let validating = dialog
            .validation
            .is_some_and(|t| matches!(self.state.awaited.get(&t), Some(None)));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!validating, egui::Button::new("Validate only"))
                .on_hover_text(
                    "Check the backup completely without changing anything; the verdict shows here",
                )
                .clicked()
            {
                if let Some(old) = dialog.validation.take() {
                    self.state.awaited.remove(&old);
                }
                let ticket = self.restore_into(dialog.id, other.clone(), true, false, None, false);
                self.state.awaited.insert(ticket, None);
                dialog.validation = Some(ticket);
            }
            let confirmed = dialog.confirm.trim() == dialog.into;
            if ui
                .add_enabled(
                    confirmed,
                    egui::Button::new(RichText::new("Restore").strong()),
                )
                .clicked()
            {
                let target = Some(dialog.to_database.trim().to_string()).filter(|t| !t.is_empty());
                self.restore_into(
                    dialog.id,
                    other.clone(),
                    false,
                    dialog.safety,
                    target,
                    dialog.terminate_sessions,
                );
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
        if let Some(ticket) = dialog.validation {
            self.validation_verdict(ui, ticket);
        }
        close
    }

    /// What "Validate only" found, inside the dialog: a spinner while it runs, then its verdict.
    fn validation_verdict(&self, ui: &mut egui::Ui, ticket: u64) {
        match self.state.awaited.get(&ticket) {
            Some(None) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(
                        "Validating: every checksum, then the database as a restore would load it…",
                    );
                });
            }
            Some(Some(Ok(message))) => {
                ui.label(RichText::new(message).color(Color32::from_rgb(40, 150, 80)));
            }
            Some(Some(Err(message))) => {
                ui.label(
                    RichText::new(format!("Validation failed: {message}"))
                        .color(Color32::from_rgb(200, 60, 60)),
                );
            }
            None => {}
        }
    }

    /// "Restore into profile": offered when other profiles of the same engine exist. Choosing another one asks
    /// the worker for that profile's comparison and says plainly whose data replaces whose; the typed
    /// confirmation then asks for the target's name.
    fn restore_into_choice(&mut self, ui: &mut egui::Ui, dialog: &mut RestoreDialog) {
        let profiles = &self.state.snapshot.config.profiles;
        let Some(engine) = profiles
            .iter()
            .find(|p| p.name == dialog.profile)
            .map(|p| p.database.engine())
        else {
            return;
        };
        // A backup with a files folder goes only into a profile that has one.
        let needs_folder = self
            .state
            .snapshot
            .backups
            .iter()
            .find(|b| b.id == dialog.id)
            .is_some_and(|b| b.kind != Kind::Database);
        let same_engine: Vec<String> = profiles
            .iter()
            .filter(|p| p.database.engine() == engine)
            .filter(|p| !needs_folder || p.files_dir.is_some())
            .map(|p| p.name.clone())
            .collect();
        if same_engine.len() < 2 {
            return;
        }
        let before = dialog.into.clone();
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Restore into profile")
                .selected_text(&dialog.into)
                .show_ui(ui, |ui| {
                    for name in &same_engine {
                        ui.selectable_value(&mut dialog.into, name.clone(), name);
                    }
                });
        });
        if dialog.into != before {
            dialog.confirm.clear();
            self.state.inspection = None;
            let into = Some(dialog.into.clone()).filter(|into| *into != dialog.profile);
            if let Some(profile) = profiles.iter().find(|p| p.name == dialog.into).cloned() {
                self.details_asked.remove(&profile.name);
                self.want_details(&profile);
            }
            self.submit(JobRequest::Inspect {
                id: dialog.id,
                into,
            });
        }
        if dialog.into != dialog.profile {
            ui.label(
                RichText::new(format!(
                    "This is a backup of profile {}. Restoring it into profile {} replaces {}'s data with {}'s.",
                    dialog.profile, dialog.into, dialog.into, dialog.profile
                ))
                .strong()
                .color(Color32::from_rgb(200, 120, 0)),
            );
        }
        ui.separator();
    }

    /// "Restore chosen files instead": the files folder as a tree with checkboxes, a destination folder, and the
    /// button. Nothing live is touched, so no typed confirmation. Returns whether the dialog is done.
    fn chosen_files_form(&mut self, ui: &mut egui::Ui, dialog: &mut RestoreDialog) -> bool {
        let Some(tree) = dialog.tree.as_mut() else {
            return false;
        };
        ui.label(
            "The chosen files and folders are written into the folder below, under their paths in the files \
             folder. Nothing else is touched.",
        );
        ui.add_space(4.0);
        let mut opened: Vec<(usize, bool)> = Vec::new();
        let mut checked: Vec<(usize, bool)> = Vec::new();
        let indent = 18.0;
        let row_height = ui.spacing().interact_size.y;
        // Only the rows on screen are built; closed folders have no rows at all.
        egui::ScrollArea::vertical()
            .id_salt("restore-tree")
            .max_height(320.0)
            .auto_shrink([false, true])
            .show_rows(ui, row_height, tree.visible().len(), |ui, range| {
                for &i in tree.visible().get(range).unwrap_or(&[]) {
                    let Some(node) = tree.node(i) else {
                        continue;
                    };
                    ui.horizontal(|ui| {
                        ui.set_min_height(row_height);
                        ui.add_space(node.depth as f32 * indent);
                        if node.is_dir() {
                            let open = node.open;
                            // A +/- of the same width as the gap of a file row, so the checkboxes line up.
                            let (rect, response) = ui.allocate_exact_size(
                                egui::vec2(indent, row_height),
                                egui::Sense::click(),
                            );
                            let visuals = ui.style().interact(&response);
                            ui.painter().rect_filled(
                                rect.shrink(1.0),
                                visuals.corner_radius,
                                visuals.weak_bg_fill,
                            );
                            ui.painter().text(
                                rect.center(),
                                egui::Align2::CENTER_CENTER,
                                if open { "-" } else { "+" },
                                egui::FontId::monospace(14.0),
                                visuals.text_color(),
                            );
                            // Found by "Open photos" / "Close photos" (the button shows only + or -).
                            let name = node.name.clone();
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(
                                    egui::Role::Button,
                                    true,
                                    format!("{} {name}", if open { "Close" } else { "Open" }),
                                )
                            });
                            if response.clicked() {
                                opened.push((i, !open));
                            }
                        } else {
                            ui.allocate_exact_size(
                                egui::vec2(indent, row_height),
                                egui::Sense::hover(),
                            );
                        }
                        let text = match (node.entry_type, &node.target) {
                            (EntryType::Dir, _) => format!("{}/", node.name),
                            (EntryType::Symlink, Some(target)) => {
                                format!("{} -> {target}", node.name)
                            }
                            _ => node.name.clone(),
                        };
                        let mut value = node.checked;
                        if ui
                            .add(egui::Checkbox::new(&mut value, text).indeterminate(node.partial))
                            .on_hover_text(&node.path)
                            .changed()
                        {
                            checked.push((i, value));
                        }
                        let size = if node.is_dir() {
                            format!("{} file(s), {}", node.files, human_size(node.size))
                        } else {
                            human_size(node.size)
                        };
                        ui.label(RichText::new(size).weak());
                    });
                }
            });
        for (i, open) in opened {
            tree.set_open(i, open);
        }
        for (i, value) in checked {
            tree.set_checked(i, value);
        }
        let (files, bytes) = tree.chosen_summary();
        let only: Vec<String> = tree.chosen().to_vec();
        ui.label(if only.is_empty() {
            "Check the files and folders to restore.".to_string()
        } else {
            format!("{files} file(s) chosen, {}", human_size(bytes))
        });
        ui.add_space(4.0);
        let field = ui
            .horizontal(|ui| {
                let label = ui.label("Restore into folder:");
                let field = ui
                    .add(
                        egui::TextEdit::singleline(&mut dialog.destination)
                            .hint_text("a new or empty folder")
                            .desired_width(320.0),
                    )
                    .labelled_by(label.id);
                if ui.button("Choose folder…").clicked() {
                    self.open_dialog(DialogPurpose::RestoreDestination);
                }
                field
            })
            .inner;
        self.path_field_fallback(ui, &DialogPurpose::RestoreDestination, &field);
        let problem = destination_problem(&dialog.destination);
        if let Some(problem) = problem.as_ref().filter(|_| !dialog.destination.is_empty()) {
            ui.label(RichText::new(problem).color(Color32::from_rgb(200, 60, 60)));
        }
        let mut close = false;
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !only.is_empty() && problem.is_none(),
                    egui::Button::new(RichText::new("Restore chosen files").strong()),
                )
                .clicked()
            {
                self.submit(JobRequest::Restore(RestoreSpec {
                    source: BackupRef::Id(dialog.id),
                    profile: None,
                    validate_only: false,
                    safety_backup: false,
                    target_database: None,
                    terminate_sessions: false,
                    only: only.clone(),
                    to: Some(PathBuf::from(dialog.destination.trim())),
                    allow_other_profile: false,
                    from: self.copy_to_restore_from(dialog.id),
                    unlock: None,
                }));
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
        close
    }
}
