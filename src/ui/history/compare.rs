//! The Compare window: a backup against any other backup of its profile (what entries were added, removed or
//! changed, the database's size and each table's rows), or against the live database now (its size and rows).

use super::local;
use super::restore_dialog::restore_comparison;
use crate::archive::ManifestDiff;
use crate::catalog::BackupRow;
use crate::model::{Kind, Status};
use crate::ui::app::BackstopApp;
use crate::ui::state::{ToastKind, human_size};
use crate::worker::JobRequest;

/// What a backup is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareWith {
    /// Another backup of the same profile.
    Backup(i64),
    /// The profile's live database as it is now.
    Live,
}

/// The open Compare window: backup `id` against `with`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compare {
    /// The backup whose Compare was clicked.
    pub id: i64,
    /// What it is compared with, chosen in the window.
    pub with: CompareWith,
}

/// The other completed backups of `row`'s profile, newest first.
fn others<'a>(backups: &'a [BackupRow], row: &BackupRow) -> Vec<&'a BackupRow> {
    let mut others: Vec<&BackupRow> = backups
        .iter()
        .filter(|b| b.profile == row.profile && b.id != row.id && b.status == Status::Completed)
        .collect();
    others.sort_by_key(|b| std::cmp::Reverse((b.created_at, b.id)));
    others
}

/// What Compare starts with: the backup just before, else the one just after, else the live database (when the
/// backup holds one).
fn default_with(backups: &[BackupRow], row: &BackupRow) -> Option<CompareWith> {
    let others = others(backups, row);
    let key = (row.created_at, row.id);
    let before = others.iter().find(|b| (b.created_at, b.id) < key);
    let after = others.iter().rev().find(|b| (b.created_at, b.id) > key);
    before
        .or(after)
        .map(|b| CompareWith::Backup(b.id))
        .or((row.kind != Kind::Files).then_some(CompareWith::Live))
}

fn describe(with: CompareWith, backups: &[BackupRow]) -> String {
    match with {
        CompareWith::Live => "the live database now".to_string(),
        CompareWith::Backup(id) => match backups.iter().find(|b| b.id == id) {
            Some(b) => format!("backup {id}, {} ({})", local(b.created_at), b.trigger),
            None => format!("backup {id}"),
        },
    }
}

/// The lines of a comparison of two backups.
fn diff_lines(ui: &mut egui::Ui, diff: &ManifestDiff) {
    let (added, removed, changed) = (diff.added.len(), diff.removed.len(), diff.changed.len());
    ui.label(if added + removed + changed == 0 {
        "The backups hold the same entries with the same content.".to_string()
    } else {
        format!("{added} added, {removed} removed, {changed} changed")
    });
    // Only the lines on screen are built (a files folder can differ in thousands).
    let row_height = ui.text_style_height(&egui::TextStyle::Body);
    egui::ScrollArea::vertical()
        .id_salt("diff-entries")
        .max_height(360.0)
        .auto_shrink([false, true])
        .show_rows(ui, row_height, added + removed + changed, |ui, range| {
            let lines = diff
                .added
                .iter()
                .map(|p| ("added", p))
                .chain(diff.removed.iter().map(|p| ("removed", p)))
                .chain(diff.changed.iter().map(|p| ("changed", p)));
            for (what, path) in lines.skip(range.start).take(range.len()) {
                ui.label(format!("{what} {path}"));
            }
        });
    ui.separator();
    if let (Some(a), Some(b)) = (diff.database_size_before, diff.database_size_after) {
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

impl BackstopApp {
    /// History's Compare: opens the window on the backup just before `row` (or after it, or the live database).
    pub(super) fn open_compare(&mut self, row: &BackupRow) {
        match default_with(&self.state.snapshot.backups, row) {
            Some(with) => self.compare_with(row.id, with),
            None => self.state.toast(
                ToastKind::Info,
                format!(
                    "Backup {} is the only backup of {} and holds no database: there is nothing to compare it with",
                    row.id, row.profile
                ),
                std::time::Instant::now(),
            ),
        }
    }

    /// Shows backup `id` against `with`, asking the worker for what it needs.
    fn compare_with(&mut self, id: i64, with: CompareWith) {
        self.compare = Some(Compare { id, with });
        match with {
            CompareWith::Backup(other) => {
                let created = |id: i64| {
                    self.state
                        .snapshot
                        .backups
                        .iter()
                        .find(|b| b.id == id)
                        .map(|b| (b.created_at, b.id))
                };
                let (before, after) = if created(other) < created(id) {
                    (other, id)
                } else {
                    (id, other)
                };
                self.state.diffed = None;
                self.submit(JobRequest::Diff { before, after });
            }
            CompareWith::Live => {
                self.state.inspection = None;
                self.submit(JobRequest::Inspect { id, into: None });
            }
        }
    }

    /// The Compare window, with its "Compare with" choice.
    pub(crate) fn compare_window(&mut self, ctx: &egui::Context) {
        let Some(compare) = self.compare else {
            return;
        };
        let backups = &self.state.snapshot.backups;
        let Some(row) = backups.iter().find(|b| b.id == compare.id).cloned() else {
            self.compare = None;
            return;
        };
        let mut choices: Vec<(CompareWith, String)> = others(backups, &row)
            .into_iter()
            .map(|b| {
                (
                    CompareWith::Backup(b.id),
                    describe(CompareWith::Backup(b.id), backups),
                )
            })
            .collect();
        if row.kind != Kind::Files {
            choices.push((CompareWith::Live, describe(CompareWith::Live, backups)));
        }
        let current = describe(compare.with, backups);
        let mut chosen = compare.with;
        let mut open = true;
        egui::Window::new(format!("Compare backup {}", row.id))
            .open(&mut open)
            .default_width(560.0)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    let label = ui.label("Compare with");
                    egui::ComboBox::from_id_salt("compare-with")
                        .selected_text(current)
                        .width(300.0)
                        .show_ui(ui, |ui| {
                            for (with, text) in &choices {
                                ui.selectable_value(&mut chosen, *with, text);
                            }
                        })
                        .response
                        .labelled_by(label.id);
                });
                ui.separator();
                match compare.with {
                    CompareWith::Backup(other) => self.backup_pair(ui, row.id, other),
                    CompareWith::Live => self.against_live(ui, &row),
                }
            });
        if !open {
            self.compare = None;
        } else if chosen != compare.with {
            self.compare_with(row.id, chosen);
        }
    }

    fn backup_pair(&self, ui: &mut egui::Ui, id: i64, other: i64) {
        let diff = self
            .state
            .diffed
            .as_ref()
            .filter(|(b, a, _)| (*b, *a) == (id, other) || (*b, *a) == (other, id));
        match diff {
            None => {
                ui.spinner();
            }
            Some((before, after, diff)) => {
                ui.label(format!("From backup {before} to backup {after}:"));
                diff_lines(ui, diff);
            }
        }
    }

    fn against_live(&self, ui: &mut egui::Ui, row: &BackupRow) {
        let inspection = self
            .state
            .inspection
            .as_ref()
            .filter(|i| i.id == row.id && i.profile == row.profile);
        match inspection {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Reading the live database…");
                });
            }
            Some(inspection) => {
                ui.label(format!(
                    "Backup {} ({}) against {} now:",
                    row.id,
                    local(row.created_at),
                    inspection.target
                ));
                restore_comparison(ui, inspection);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trigger;

    fn row(id: i64, minute: u32, kind: Kind, status: Status) -> BackupRow {
        let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 5, 1, 12, minute, 0);
        BackupRow::for_test(
            id,
            at.single().unwrap_or_default(),
            kind,
            Trigger::Manual,
            status,
        )
    }

    #[test]
    fn compare_starts_with_the_backup_before_else_after_else_the_live_database() {
        use CompareWith::{Backup, Live};
        use Kind::{Database, Files};
        use Status::{Completed, Failed};
        let rows = vec![
            row(1, 0, Database, Completed),
            row(2, 10, Database, Failed),
            row(3, 20, Database, Completed),
            row(4, 30, Database, Completed),
        ];
        let cases = [
            ("the one before", &rows[3], Some(Backup(3))),
            ("a failed one is skipped", &rows[2], Some(Backup(1))),
            ("the oldest: the one after", &rows[0], Some(Backup(3))),
        ];
        for (name, clicked, expected) in cases {
            assert_eq!(default_with(&rows, clicked), expected, "{name}");
        }
        let alone = [row(7, 0, Database, Completed)];
        assert_eq!(default_with(&alone, &alone[0]), Some(Live));
        let files = [row(8, 0, Files, Completed)];
        assert_eq!(default_with(&files, &files[0]), None);
    }
}
