//! The History panel (backups with per-row actions, the restore log, the job log), the restore dialog, and the
//! confirmations for deleting, pruning and removing a profile.

use super::app::{BackstopApp, RestoreDialog};
use super::dialogs::DialogPurpose;
use super::state::{ToastKind, human_size};
use crate::archive::EntryType;
use crate::catalog::BackupRow;
use crate::jobs::{BackupRef, RestoreSpec, VerifyTarget};
use crate::model::{Kind, Status};
use crate::worker::{Inspection, JobRequest};
use egui::{Color32, RichText};
use egui_extras::{Column, TableBuilder};
use std::path::{Path, PathBuf};

/// The History panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryTab {
    /// The backups table.
    #[default]
    Backups,
    /// Restores.
    Restores,
    /// Jobs, with failures and their messages.
    Jobs,
}

/// Which column the backups table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// Id.
    Id,
    /// Created time.
    #[default]
    Created,
    /// Status.
    Status,
    /// Trigger.
    Trigger,
    /// Kind.
    Kind,
    /// Size.
    Size,
}

/// Sort column and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// Column.
    pub column: SortColumn,
    /// Newest or largest first.
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            column: SortColumn::Created,
            descending: true,
        }
    }
}

/// Orders rows for the table.
pub fn sort_rows(rows: &mut [BackupRow], sort: Sort) {
    rows.sort_by(|a, b| {
        let order = match sort.column {
            SortColumn::Id => a.id.cmp(&b.id),
            SortColumn::Created => a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
            SortColumn::Status => a.status.as_str().cmp(b.status.as_str()),
            SortColumn::Trigger => a.trigger.as_str().cmp(b.trigger.as_str()),
            SortColumn::Kind => a.kind.as_str().cmp(b.kind.as_str()),
            SortColumn::Size => a.size_bytes.cmp(&b.size_bytes),
        };
        if sort.descending {
            order.reverse()
        } else {
            order
        }
    });
}

fn status_color(status: Status) -> Color32 {
    match status {
        Status::Completed => Color32::from_rgb(40, 150, 80),
        Status::Running => Color32::from_rgb(60, 110, 190),
        Status::Failed | Status::Corrupted => Color32::from_rgb(200, 60, 60),
        Status::Cancelled | Status::Deleted => Color32::GRAY,
    }
}

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

/// Show's list of entries: path, type, size, mode (octal) and the link target or the checksum's start. Only
/// the rows on screen are built, so a files folder of tens of thousands of entries scrolls smoothly.
fn entries_table(ui: &mut egui::Ui, entries: &[crate::archive::ManifestEntry]) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    TableBuilder::new(ui)
        .id_salt("show-entries")
        .striped(true)
        .max_scroll_height(420.0)
        .column(
            Column::initial(340.0)
                .at_least(120.0)
                .resizable(true)
                .clip(true),
        )
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(70.0))
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(140.0))
        .header(20.0, |mut header| {
            for title in ["Path", "Type", "Size", "Mode", "Link target / SHA-256"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(row_height, entries.len(), |mut row| {
                let Some(e) = entries.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    // One line per row (the rows are laid out at a fixed height); elided paths show whole on hover.
                    ui.add(egui::Label::new(&e.path).truncate());
                });
                row.col(|ui| {
                    ui.label(match e.entry_type {
                        EntryType::File => "file",
                        EntryType::Dir => "folder",
                        EntryType::Symlink => "link",
                    });
                });
                row.col(|ui| {
                    ui.label(if e.entry_type == EntryType::Dir {
                        "-".to_string()
                    } else {
                        human_size(e.size)
                    });
                });
                row.col(|ui| {
                    ui.label(
                        RichText::new(
                            e.mode
                                .map(|m| format!("{:04o}", m & 0o7777))
                                .unwrap_or_else(|| "-".into()),
                        )
                        .monospace(),
                    );
                });
                row.col(|ui| {
                    match (&e.entry_type, &e.target) {
                        (EntryType::Symlink, Some(target)) => ui.label(format!("-> {target}")),
                        (EntryType::Dir, _) => ui.label(""),
                        _ => {
                            // By characters, never bytes: the text came from an archive.
                            let short: String = e.sha256.chars().take(16).collect();
                            ui.label(RichText::new(short).monospace())
                        }
                    };
                });
            });
        });
}

/// The restore dialog's "now versus in the backup" grid: database size and each table's rows.
fn restore_comparison(ui: &mut egui::Ui, inspection: &Inspection) {
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

/// "400 days ahead" beside a backup dated after now: its clock was ahead, and retention keeps it aside.
fn clock_ahead_badge(ui: &mut egui::Ui, row: &BackupRow) {
    if let Some(secs) = row.clock_ahead_secs {
        ui.label(
            RichText::new(format!("{} ahead", crate::retention::span_text(secs)))
                .color(Color32::WHITE)
                .background_color(Color32::from_rgb(190, 120, 0)),
        )
        .on_hover_text(
            "Dated after this computer's clock: the clock was ahead when it was taken, or has since gone back. \
             Retention keeps it, and it never takes the place of a current backup.",
        );
    }
}

/// "flagged" beside a backup the change check flagged, with its warnings on hover.
fn flagged_badge(ui: &mut egui::Ui, row: &BackupRow) {
    if !row.warnings.is_empty() {
        ui.label(
            RichText::new("flagged")
                .color(Color32::WHITE)
                .background_color(Color32::from_rgb(190, 120, 0)),
        )
        .on_hover_text(row.warnings.join("\n"));
    }
}

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl BackstopApp {
    pub(crate) fn history_panel(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.history_tab, HistoryTab::Backups, "Backups");
            ui.selectable_value(&mut self.history_tab, HistoryTab::Restores, "Restore log");
            ui.selectable_value(&mut self.history_tab, HistoryTab::Jobs, "Job log");
        });
        ui.separator();
        match self.history_tab {
            HistoryTab::Backups => self.backups_table(ui, &profile.name),
            HistoryTab::Restores => self.restore_log(ui, &profile.name),
            HistoryTab::Jobs => self.job_log(ui, &profile.name),
        }
    }

    fn undo_button(&mut self, ui: &mut egui::Ui, profile: &str) {
        let last = self
            .state
            .snapshot
            .restores
            .iter()
            .find(|r| r.profile == profile && !r.validate_only && r.outcome == "completed")
            .cloned();
        let Some(last) = last else { return };
        let Some(safety) = last.safety_backup_id else {
            return;
        };
        let available = self
            .state
            .snapshot
            .backups
            .iter()
            .any(|b| b.id == safety && b.status == Status::Completed);
        if available
            && ui
                .button(format!(
                    "Undo last restore (put back the state from just before {})",
                    local(last.started_at)
                ))
                .clicked()
        {
            self.restore(safety, false, true);
        }
    }

    fn backups_table(&mut self, ui: &mut egui::Ui, profile: &str) {
        self.undo_button(ui, profile);
        let mut rows: Vec<BackupRow> = self
            .state
            .snapshot
            .backups
            .iter()
            .filter(|b| b.profile == profile)
            .cloned()
            .collect();
        if rows.is_empty() {
            ui.label("No backups yet. Make one with Back up now in Actions.");
            return;
        }
        sort_rows(&mut rows, self.sort);
        let mut clicked_sort = None;
        let mut actions: Vec<(&'static str, BackupRow)> = Vec::new();
        // Narrow windows scroll sideways rather than hide the row actions.
        egui::ScrollArea::horizontal()
            .id_salt("backups-table")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .striped(true)
                    .column(Column::auto().at_least(40.0))
                    .column(Column::auto().at_least(150.0))
                    .column(Column::auto().at_least(90.0))
                    .column(Column::auto().at_least(80.0))
                    .column(Column::auto().at_least(70.0))
                    .column(Column::auto().at_least(80.0))
                    .column(Column::remainder())
                    .header(22.0, |mut header| {
                        for (title, column) in [
                            ("ID", SortColumn::Id),
                            ("Created", SortColumn::Created),
                            ("Status", SortColumn::Status),
                            ("Trigger", SortColumn::Trigger),
                            ("Kind", SortColumn::Kind),
                            ("Size", SortColumn::Size),
                        ] {
                            header.col(|ui| {
                                let arrow = if self.sort.column == column {
                                    if self.sort.descending {
                                        " (desc)"
                                    } else {
                                        " (asc)"
                                    }
                                } else {
                                    ""
                                };
                                if ui
                                    .button(RichText::new(format!("{title}{arrow}")).strong())
                                    .on_hover_text(format!("Sort by {title}"))
                                    .clicked()
                                {
                                    clicked_sort = Some(column);
                                }
                            });
                        }
                        header.col(|ui| {
                            ui.strong("Actions");
                        });
                    })
                    .body(|mut body| {
                        for row in &rows {
                            body.row(26.0, |mut table_row| {
                                table_row.col(|ui| {
                                    ui.label(row.id.to_string());
                                });
                                table_row.col(|ui| {
                                    ui.label(local(row.created_at));
                                    clock_ahead_badge(ui, row);
                                });
                                table_row.col(|ui| {
                                    let badge = RichText::new(row.status.as_str())
                                        .color(Color32::WHITE)
                                        .background_color(status_color(row.status));
                                    let response = ui.label(badge);
                                    if let Some(error) = &row.error {
                                        response.on_hover_text(error);
                                    }
                                    flagged_badge(ui, row);
                                });
                                table_row.col(|ui| {
                                    ui.label(format!(
                                        "{}{}",
                                        row.trigger,
                                        if row.pinned { " (pinned)" } else { "" }
                                    ));
                                });
                                table_row.col(|ui| {
                                    ui.label(row.kind.as_str());
                                });
                                table_row.col(|ui| {
                                    ui.label(
                                        row.size_bytes
                                            .map(human_size)
                                            .unwrap_or_else(|| "-".into()),
                                    );
                                });
                                table_row.col(|ui| {
                                    let usable = row.status == Status::Completed;
                                    ui.horizontal(|ui| {
                                        let id = row.id;
                                        if ui
                                            .add_enabled(usable, egui::Button::new("Restore…"))
                                            .on_hover_text(format!("Restore backup {id}"))
                                            .clicked()
                                        {
                                            actions.push(("restore", row.clone()));
                                        }
                                        if ui
                                            .add_enabled(usable, egui::Button::new("Export…"))
                                            .on_hover_text(format!("Export backup {id}"))
                                            .clicked()
                                        {
                                            actions.push(("export", row.clone()));
                                        }
                                        if ui
                                            .add_enabled(
                                                matches!(
                                                    row.status,
                                                    Status::Completed | Status::Corrupted
                                                ),
                                                egui::Button::new("Verify"),
                                            )
                                            .on_hover_text(format!("Verify backup {id}"))
                                            .clicked()
                                        {
                                            actions.push(("verify", row.clone()));
                                        }
                                        let pin = if row.pinned { "Unpin" } else { "Pin" };
                                        if ui
                                            .add_enabled(usable, egui::Button::new(pin))
                                            .on_hover_text(format!("{pin} backup {id}"))
                                            .clicked()
                                        {
                                            actions.push(("pin", row.clone()));
                                        }
                                        if ui
                                            .add_enabled(usable, egui::Button::new("Show"))
                                            .on_hover_text(format!("List what backup {id} holds"))
                                            .clicked()
                                        {
                                            actions.push(("show", row.clone()));
                                        }
                                        if ui
                                            .add_enabled(usable, egui::Button::new("Compare…"))
                                            .on_hover_text(format!(
                                                "Compare backup {id} with the one before it"
                                            ))
                                            .clicked()
                                        {
                                            actions.push(("compare", row.clone()));
                                        }
                                        if ui
                                            .add_enabled(!row.pinned, egui::Button::new("Delete…"))
                                            .on_hover_text(format!("Delete backup {id}"))
                                            .clicked()
                                        {
                                            actions.push(("delete", row.clone()));
                                        }
                                    });
                                });
                            });
                        }
                    });
            });

        if let Some(column) = clicked_sort {
            if self.sort.column == column {
                self.sort.descending = !self.sort.descending;
            } else {
                self.sort = Sort {
                    column,
                    descending: true,
                };
            }
        }
        for (action, row) in actions {
            match action {
                "restore" => self.open_restore(&row),
                "export" => {
                    let file_name = row
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    self.export_path.entry(row.id).or_insert_with(|| {
                        dirs::download_dir()
                            .or_else(dirs::home_dir)
                            .unwrap_or_default()
                            .join(&file_name)
                            .display()
                            .to_string()
                    });
                    self.open_dialog(DialogPurpose::Export {
                        id: row.id,
                        file_name,
                    });
                }
                "verify" => {
                    self.submit(JobRequest::Verify(VerifyTarget::One(BackupRef::Id(row.id))));
                }
                "pin" => {
                    self.submit(JobRequest::Pin {
                        id: row.id,
                        pinned: !row.pinned,
                    });
                }
                "delete" => self.delete_confirm = Some(row.id),
                "show" => {
                    self.state.shown = None;
                    self.show_open = Some(row.id);
                    self.submit(JobRequest::Show { id: row.id });
                }
                "compare" => {
                    // The newest completed backup of the profile taken before this one.
                    let before = rows
                        .iter()
                        .filter(|r| {
                            r.status == Status::Completed
                                && (r.created_at, r.id) < (row.created_at, row.id)
                        })
                        .max_by_key(|r| (r.created_at, r.id))
                        .map(|r| r.id);
                    match before {
                        Some(before) => {
                            self.state.diffed = None;
                            self.diff_open = Some((before, row.id));
                            self.submit(JobRequest::Diff { before, after: row.id });
                        }
                        None => self.state.toast(
                            ToastKind::Info,
                            format!("Backup {} is the oldest: there is nothing before it to compare with", row.id),
                            std::time::Instant::now(),
                        ),
                    }
                }
                _ => {}
            }
        }
        // Typed fallbacks for exports whose dialog did not answer (no desktop portal).
        let pending: Vec<(i64, String)> = self
            .export_path
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (id, mut path) in pending {
            ui.horizontal(|ui| {
                let label = ui.label(format!("Export backup {id} to:"));
                ui.text_edit_singleline(&mut path).labelled_by(label.id);
                if ui.button("Export").clicked() {
                    self.submit(JobRequest::Export {
                        id,
                        to: std::path::PathBuf::from(path.trim()),
                    });
                    self.export_path.remove(&id);
                } else if ui.button("Close").clicked() {
                    self.export_path.remove(&id);
                } else {
                    self.export_path.insert(id, path.clone());
                }
            });
        }
    }

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

    fn restore_log(&mut self, ui: &mut egui::Ui, profile: &str) {
        let rows: Vec<_> = self
            .state
            .snapshot
            .restores
            .iter()
            .filter(|r| r.profile == profile)
            .cloned()
            .collect();
        if rows.is_empty() {
            ui.label("No restores yet.");
        }
        egui::Grid::new("restore-log")
            .num_columns(4)
            .striped(true)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                for r in rows {
                    ui.label(local(r.started_at));
                    let color = if r.outcome == "completed" {
                        Color32::from_rgb(40, 150, 80)
                    } else {
                        Color32::from_rgb(200, 60, 60)
                    };
                    ui.label(
                        RichText::new(if r.validate_only {
                            format!("validate: {}", r.outcome)
                        } else {
                            r.outcome.clone()
                        })
                        .color(color),
                    );
                    ui.label(
                        r.backup_id
                            .map(|id| format!("backup {id}"))
                            .unwrap_or_else(|| r.archive_path.display().to_string()),
                    );
                    ui.label(r.message.unwrap_or_default());
                    ui.end_row();
                }
            });
    }

    fn job_log(&mut self, ui: &mut egui::Ui, profile: &str) {
        if !self.state.session_log.is_empty() {
            ui.label(RichText::new("This session").strong());
            for (kind, text) in self.state.session_log.iter().rev().take(50) {
                let color = match kind {
                    ToastKind::Error => Color32::from_rgb(200, 60, 60),
                    _ => ui.visuals().text_color(),
                };
                ui.label(RichText::new(text).color(color));
            }
            ui.separator();
        }
        ui.label(RichText::new("Job log").strong());
        egui::Grid::new("job-log")
            .num_columns(4)
            .striped(true)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                for j in self
                    .state
                    .snapshot
                    .jobs
                    .iter()
                    .filter(|j| j.profile.as_deref() == Some(profile))
                {
                    ui.label(local(j.started_at));
                    let color = match j.outcome.as_str() {
                        "completed" => Color32::from_rgb(40, 150, 80),
                        "failed" => Color32::from_rgb(200, 60, 60),
                        _ => Color32::GRAY,
                    };
                    ui.label(RichText::new(&j.outcome).color(color));
                    ui.label(&j.job);
                    ui.label(j.message.clone().unwrap_or_default());
                    ui.end_row();
                }
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
        self.restore_dialog = if open && !close { Some(dialog) } else { None };
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
        ui.horizontal(|ui| {
            if ui
                .button("Validate only")
                .on_hover_text("Check the backup completely without changing anything")
                .clicked()
            {
                self.restore_into(dialog.id, other.clone(), true, false, None, false);
                close = true;
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
        close
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
        ui.horizontal(|ui| {
            let label = ui.label("Restore into folder:");
            ui.add(
                egui::TextEdit::singleline(&mut dialog.destination)
                    .hint_text("a new or empty folder")
                    .desired_width(320.0),
            )
            .labelled_by(label.id);
            if ui.button("Choose folder…").clicked() {
                self.open_dialog(DialogPurpose::RestoreDestination);
            }
        });
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
                }));
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
        close
    }

    /// The Show and Compare windows.
    pub(crate) fn archive_windows(&mut self, ctx: &egui::Context) {
        if let Some(id) = self.show_open {
            let mut open = true;
            egui::Window::new(format!("Backup {id}"))
                .open(&mut open)
                .default_width(760.0)
                .show(ctx, |ui| {
                    match self.state.shown.as_ref().filter(|(shown, _)| *shown == id) {
                        None => {
                            ui.spinner();
                        }
                        Some((_, manifest)) => {
                            ui.label(format!(
                                "{} backup of {} ({}), taken {}",
                                manifest.kind,
                                manifest.profile,
                                manifest.trigger,
                                local(manifest.created_at)
                            ));
                            if let Some(db) = &manifest.database {
                                ui.label(format!(
                                    "{} database {} ({}), {} at backup time",
                                    db.engine,
                                    db.name,
                                    db.engine_version,
                                    human_size(db.size_bytes)
                                ));
                                for (table, rows) in &db.tables {
                                    ui.label(format!("table {table}: {rows} rows"));
                                }
                            }
                            for warning in &manifest.warnings {
                                ui.label(
                                    RichText::new(warning).color(Color32::from_rgb(190, 120, 0)),
                                );
                            }
                            ui.separator();
                            entries_table(ui, &manifest.entries);
                        }
                    }
                });
            if !open {
                self.show_open = None;
            }
        }
        if let Some((before, after)) = self.diff_open {
            let mut open = true;
            egui::Window::new(format!("Backup {before} to {after}"))
                .open(&mut open)
                .default_width(520.0)
                .show(ctx, |ui| {
                    match self
                        .state
                        .diffed
                        .as_ref()
                        .filter(|(b, a, _)| (*b, *a) == (before, after))
                    {
                        None => {
                            ui.spinner();
                        }
                        Some((_, _, diff)) => {
                            let (added, removed, changed) =
                                (diff.added.len(), diff.removed.len(), diff.changed.len());
                            ui.label(if added + removed + changed == 0 {
                                "The backups hold the same entries with the same content."
                                    .to_string()
                            } else {
                                format!("{added} added, {removed} removed, {changed} changed")
                            });
                            // Only the lines on screen are built (a files folder can differ in thousands).
                            let row_height = ui.text_style_height(&egui::TextStyle::Body);
                            egui::ScrollArea::vertical()
                                .id_salt("diff-entries")
                                .max_height(360.0)
                                .auto_shrink([false, true])
                                .show_rows(
                                    ui,
                                    row_height,
                                    added + removed + changed,
                                    |ui, range| {
                                        let lines = diff
                                            .added
                                            .iter()
                                            .map(|p| ("added", p))
                                            .chain(diff.removed.iter().map(|p| ("removed", p)))
                                            .chain(diff.changed.iter().map(|p| ("changed", p)));
                                        let (skip, take) = (range.start, range.len());
                                        for (what, path) in lines.skip(skip).take(take) {
                                            let line = format!("{what} {path}");
                                            ui.label(line);
                                        }
                                    },
                                );
                            ui.separator();
                            if let (Some(a), Some(b)) =
                                (diff.database_size_before, diff.database_size_after)
                            {
                                ui.label(format!(
                                    "database size: {} to {}",
                                    human_size(a),
                                    human_size(b)
                                ));
                            }
                            for (table, (a, b)) in &diff.tables {
                                ui.label(format!("table {table}: {a} to {b} rows"));
                            }
                        }
                    }
                });
            if !open {
                self.diff_open = None;
            }
        }
    }

    /// Confirmations: delete a backup, apply retention, remove a profile.
    pub(crate) fn confirm_windows(&mut self, ctx: &egui::Context) {
        if let Some(id) = self.delete_confirm {
            let mut decided = false;
            egui::Window::new("Delete backup?")
                .collapsible(false)
                .show(ctx, |ui| {
                    ui.label(format!(
                        "Backup {id} and its archive will be deleted. This cannot be undone."
                    ));
                    ui.horizontal(|ui| {
                        if ui.button(format!("Delete backup {id}")).clicked() {
                            self.submit(JobRequest::Delete { id });
                            decided = true;
                        }
                        if ui.button("Keep it").clicked() {
                            decided = true;
                        }
                    });
                });
            if decided {
                self.delete_confirm = None;
            }
        }
        if self.prune_confirm_open {
            let mut decided = false;
            egui::Window::new("Prune backups?")
                .collapsible(false)
                .default_width(520.0)
                .show(ctx, |ui| match self.state.prune_preview.clone() {
                    None => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Planning…");
                        });
                    }
                    Some(plan) => {
                        let doomed = plan.verdicts.iter().filter(|v| !v.keep).count();
                        egui::Grid::new("prune-plan")
                            .num_columns(3)
                            .striped(true)
                            .show(ui, |ui| {
                                for v in &plan.verdicts {
                                    ui.label(format!("backup {}", v.id));
                                    ui.label(if v.keep {
                                        RichText::new("keep")
                                    } else {
                                        RichText::new("delete")
                                            .color(Color32::from_rgb(200, 60, 60))
                                    });
                                    ui.label(&v.reason);
                                    ui.end_row();
                                }
                            });
                        ui.horizontal(|ui| {
                            if ui
                                .add_enabled(
                                    doomed > 0,
                                    egui::Button::new(format!("Delete {doomed} backup(s)")),
                                )
                                .clicked()
                            {
                                self.submit(JobRequest::Prune {
                                    profile: plan.profile.clone(),
                                    dry_run: false,
                                });
                                decided = true;
                            }
                            if ui.button("Cancel").clicked() {
                                decided = true;
                            }
                        });
                    }
                });
            if decided {
                self.prune_confirm_open = false;
                self.state.prune_preview = None;
            }
        }
        if let Some((profile, name)) = self.drop_copy_confirm.clone() {
            let mut decided = false;
            egui::Window::new("Delete database copy?").collapsible(false).show(ctx, |ui| {
                ui.label(format!("The database {name} (kept by an earlier restore) will be dropped from the server."));
                ui.horizontal(|ui| {
                    if ui.button(format!("Drop {name}")).clicked() {
                        self.submit(JobRequest::DropCopy { profile: profile.clone(), name: name.clone() });
                        self.details_asked.remove(&profile);
                        decided = true;
                    }
                    if ui.button("Keep it").clicked() {
                        decided = true;
                    }
                });
            });
            if decided {
                self.drop_copy_confirm = None;
            }
        }
        if let Some((name, mut delete_archives)) = self.remove_profile.clone() {
            let mut decided = false;
            egui::Window::new("Remove profile?")
                .collapsible(false)
                .show(ctx, |ui| {
                    ui.label(format!(
                        "Profile {name} will be removed from Backstop. Its database is not touched."
                    ));
                    ui.checkbox(&mut delete_archives, "Also delete its archives");
                    ui.horizontal(|ui| {
                        if ui.button(format!("Remove {name}")).clicked() {
                            self.submit(JobRequest::RemoveProfile {
                                name: name.clone(),
                                delete_archives,
                            });
                            decided = true;
                        }
                        if ui.button("Cancel").clicked() {
                            decided = true;
                        }
                    });
                });
            self.remove_profile = if decided {
                None
            } else {
                Some((name, delete_archives))
            };
        }
    }
}
