//! The History panel: its tabs (backups, the restore log, the job log, kept copies), and what opens from it.
//!
//! - `table`: the backups table with its per-row actions and the undo of the last restore.
//! - `badges`: the status badges of the backups table.
//! - `logs`: the restore log and the job log.
//! - `kept`: the copies restores kept (folders, server databases, safety backups), with Delete.
//! - `restore_dialog`: the restore dialog (whole backup or chosen files).
//! - `show`: the Show window (what a backup holds).
//! - `compare`: the Compare window (a backup against any other backup, or the live database).
//! - `confirm`: the confirmations for deleting a backup, pruning, dropping a kept copy, removing a profile.

mod badges;
mod compare;
mod confirm;
mod kept;
mod logs;
mod restore_dialog;
mod show;
mod table;

pub use compare::{Compare, CompareWith};
pub use restore_dialog::destination_problem;
pub use table::{Sort, SortColumn, sort_rows};

use super::app::BackstopApp;
use crate::model::Status;
use egui::Color32;

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
    /// What restores kept of what they replaced.
    Kept,
}

pub(super) fn status_color(status: Status) -> Color32 {
    match status {
        Status::Completed => Color32::from_rgb(40, 150, 80),
        Status::Running => Color32::from_rgb(60, 110, 190),
        Status::Failed | Status::Corrupted => Color32::from_rgb(200, 60, 60),
        Status::Cancelled | Status::Deleted => Color32::GRAY,
    }
}

/// A time in the local zone, to the second.
pub(super) fn local(t: chrono::DateTime<chrono::Utc>) -> String {
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
            ui.selectable_value(&mut self.history_tab, HistoryTab::Kept, "Kept copies");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .button("Open archive folder")
                    .on_hover_text(profile.storage_dir.display().to_string())
                    .clicked()
                {
                    self.open_folder(&profile.storage_dir);
                }
            });
        });
        ui.separator();
        match self.history_tab {
            HistoryTab::Backups => self.backups_table(ui, &profile.name),
            HistoryTab::Restores => self.restore_log(ui, &profile.name),
            HistoryTab::Jobs => self.job_log(ui, &profile.name),
            HistoryTab::Kept => self.kept_copies(ui, &profile.name),
        }
    }
}
