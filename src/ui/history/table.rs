//! The backups table: sortable columns, status badges, per-row actions, and the undo of the last restore.

use super::badges::{badges, zone_name};
use super::local;
use crate::catalog::BackupRow;
use crate::jobs::{BackupRef, VerifyTarget};
use crate::model::Status;
use crate::ui::app::BackstopApp;
use crate::ui::dialogs::DialogPurpose;
use crate::ui::state::human_size;
use crate::worker::JobRequest;
use egui::RichText;
use egui_extras::{Column, TableBuilder};

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

impl BackstopApp {
    /// "Undo last restore": offered for the last restore that changed live data until a later backup or restore
    /// supersedes it (`jobs::undo_target`), across relaunches since it is read from the catalog.
    fn undo_button(&mut self, ui: &mut egui::Ui, profile: &str) {
        let snapshot = &self.state.snapshot;
        let Some(undo) = crate::jobs::undo_target(&snapshot.restores, &snapshot.backups, profile)
        else {
            return;
        };
        if ui
            .button(format!(
                "Undo last restore (put back the state from just before {})",
                local(undo.restored_at)
            ))
            .on_hover_text(format!(
                "Restores safety backup {}, taken just before that restore (itself after a new safety backup)",
                undo.safety_backup_id
            ))
            .clicked()
        {
            self.restore(undo.safety_backup_id, false, true);
        }
    }

    pub(super) fn backups_table(&mut self, ui: &mut egui::Ui, profile: &str) {
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
        // Where each backup is, for a profile with destinations (the worker looked at the disk, not this frame).
        let has_dests = self
            .state
            .snapshot
            .destinations
            .iter()
            .any(|d| d.profile == profile);
        let absent = &self.state.snapshot.archives_absent;
        let here: Vec<Option<bool>> = rows
            .iter()
            .map(|r| (has_dests || !r.copies.is_empty()).then(|| !absent.contains(&r.id)))
            .collect();
        let mut clicked_sort = None;
        let mut actions: Vec<(&'static str, BackupRow)> = Vec::new();
        // Narrow windows scroll sideways rather than hide the row actions.
        egui::ScrollArea::horizontal()
            .id_salt("backups-table")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .striped(true)
                    // Text, badges and buttons share one centre line in each row.
                    .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                    .column(Column::auto().at_least(40.0))
                    .column(Column::auto().at_least(150.0))
                    .column(Column::auto().at_least(150.0))
                    .column(Column::auto().at_least(70.0))
                    .column(Column::auto().at_least(80.0))
                    .column(Column::remainder())
                    .header(22.0, |mut header| {
                        let created = format!("Created ({})", zone_name());
                        for (title, column) in [
                            ("ID", SortColumn::Id),
                            (created.as_str(), SortColumn::Created),
                            ("Status", SortColumn::Status),
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
                        for (row, here) in rows.iter().zip(&here) {
                            body.row(26.0, |mut table_row| {
                                table_row.col(|ui| {
                                    ui.label(row.id.to_string());
                                });
                                table_row.col(|ui| {
                                    ui.label(local(row.created_at));
                                });
                                table_row.col(|ui| badges(ui, row, *here));
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
                                                "Compare backup {id} with another backup or the live database"
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
                "compare" => self.open_compare(&row),
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
            let mut field = None;
            ui.horizontal(|ui| {
                let label = ui.label(format!("Export backup {id} to:"));
                field = Some(ui.text_edit_singleline(&mut path).labelled_by(label.id));
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
            let purpose = self.no_dialog.as_ref().map(|(p, ..)| p.clone());
            if let (Some(field), Some(purpose @ DialogPurpose::Export { id: asked, .. })) =
                (field, purpose)
                && asked == id
            {
                self.path_field_fallback(ui, &purpose, &field);
            }
        }
    }
}
