//! History's Kept copies: every copy restores and undos kept of what they replaced (files folders moved aside,
//! databases renamed aside on a server, safety backups), with size and age, each with Delete.

use crate::jobs::{KeptCopy, KeptWhat};
use crate::ui::app::BackstopApp;
use crate::ui::state::human_size;
use crate::worker::JobRequest;
use chrono::{DateTime, Utc};
use egui::{Color32, RichText};

/// "just now", "3 hours ago", or "-" when unknown.
fn age(kept_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match kept_at.map(|t| now.signed_duration_since(t).num_seconds()) {
        None => "-".to_string(),
        Some(secs) if secs < 60 => "just now".to_string(),
        Some(secs) => format!("{} ago", crate::retention::span_text(secs)),
    }
}

fn kind_of(copy: &KeptCopy) -> &'static str {
    match copy.what {
        KeptWhat::Folder(_) => "Files folder",
        KeptWhat::Database(_) => "Database",
        KeptWhat::SafetyBackup(_) => "Safety backup",
    }
}

impl BackstopApp {
    /// Asks the worker for the profile's kept copies when the tab is shown for another profile, or a job has run
    /// since (a restore keeps copies, a delete removes them; listing runs no logged job, so it asks once).
    fn want_kept(&mut self, profile: &str) {
        let key = (
            profile.to_string(),
            self.state.snapshot.jobs.first().map(|j| j.id),
        );
        if self.kept_asked.as_ref() != Some(&key) {
            self.kept_asked = Some(key);
            self.submit(JobRequest::KeptCopies {
                profile: profile.to_string(),
            });
        }
    }

    pub(super) fn kept_copies(&mut self, ui: &mut egui::Ui, profile: &str) {
        self.want_kept(profile);
        let Some(report) = self.state.kept.clone().filter(|k| k.profile == profile) else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for kept copies…");
            });
            return;
        };
        let total: u64 = report.copies.iter().filter_map(|c| c.size_bytes).sum();
        ui.label(format!(
            "Each restore keeps what it replaced: the files folder it moved aside and the database a server \
             keeps stay until you delete them, the safety backup it took first at least 7 days. Together: {}.",
            human_size(total)
        ));
        for problem in &report.problems {
            ui.label(RichText::new(problem).color(Color32::from_rgb(190, 120, 0)));
        }
        if report.copies.is_empty() {
            ui.label("Nothing is kept.");
            return;
        }
        let undo = crate::jobs::undo_target(
            &self.state.snapshot.restores,
            &self.state.snapshot.backups,
            profile,
        )
        .map(|u| u.safety_backup_id);
        let pinned = |id: i64| {
            self.state
                .snapshot
                .backups
                .iter()
                .any(|b| b.id == id && b.pinned)
        };
        let now = Utc::now();
        let mut delete = None;
        egui::Grid::new("kept-copies")
            .num_columns(5)
            .striped(true)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                for title in ["What", "Name", "Size", "Kept", ""] {
                    ui.strong(title);
                }
                ui.end_row();
                for copy in &report.copies {
                    ui.label(kind_of(copy));
                    let name = ui.label(copy.name());
                    if let KeptWhat::Folder(path) = &copy.what {
                        name.on_hover_text(path.display().to_string());
                    }
                    ui.label(
                        copy.size_bytes
                            .map(human_size)
                            .unwrap_or_else(|| "-".into()),
                    );
                    ui.label(age(copy.kept_at, now));
                    let (enabled, why) = match copy.what {
                        KeptWhat::SafetyBackup(id) if pinned(id) => (
                            false,
                            "Pinned: unpin it in Backups to delete it".to_string(),
                        ),
                        KeptWhat::SafetyBackup(id) if undo == Some(id) => (
                            true,
                            "Undo last restore puts this back; deleting it takes the undo away"
                                .to_string(),
                        ),
                        _ => (true, format!("Delete {}", copy.name())),
                    };
                    if ui
                        .add_enabled(enabled, egui::Button::new("Delete…"))
                        .on_hover_text(&why)
                        .on_disabled_hover_text(&why)
                        .clicked()
                    {
                        delete = Some(copy.what.clone());
                    }
                    ui.end_row();
                }
            });
        match delete {
            Some(KeptWhat::Folder(path)) => {
                self.kept_folder_confirm = Some((profile.to_string(), path));
            }
            Some(KeptWhat::Database(name)) => {
                self.drop_copy_confirm = Some((profile.to_string(), name));
            }
            Some(KeptWhat::SafetyBackup(id)) => self.delete_confirm = Some(id),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 5, 1, 12, 0, 0).single();
        let now = now.unwrap_or_default();
        let ago = |secs: i64| age(Some(now - chrono::Duration::seconds(secs)), now);
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(3 * 60), "3 minutes ago");
        assert_eq!(ago(26 * 3600), "1 day ago");
        assert_eq!(age(None, now), "-");
    }
}
