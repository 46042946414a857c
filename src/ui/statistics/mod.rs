//! The Statistics panel, read at a glance: a few big figures on top (`figures`), then archive size and backup
//! duration over one shared time axis with failures marked (`charts`). A single backup shows as values, not a
//! one-point chart; a profile with no backup says so and offers Back up now. Between the figures and the charts,
//! the profile's destinations (`destinations`: how far behind each is, Sync now); below, the server's facts
//! (server engines) and the remaining numbers, folded.

mod charts;
mod destinations;
mod figures;

pub use charts::{DURATION_CHART_ID, SIZE_CHART_ID, duration_words};

use super::app::BackstopApp;
use super::state::human_size;
use crate::catalog::BackupRow;
use crate::config::Profile;
use crate::jobs::Stats;
use crate::model::Trigger;
use crate::worker::JobRequest;
use charts::ChartData;
use chrono::Utc;
use egui::RichText;
use figures::DatabaseSize;

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "never".into())
}

/// A quiet frame around one block of the panel.
fn card_frame(ui: &egui::Ui) -> egui::Frame {
    egui::Frame::new()
        .fill(ui.visuals().faint_bg_color)
        .stroke(ui.visuals().widgets.noninteractive.bg_stroke)
        .corner_radius(8.0)
        .inner_margin(egui::Margin::same(14))
}

impl BackstopApp {
    pub(crate) fn statistics_panel(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        let Some(stats) = self.state.snapshot.stats.get(&profile.name).cloned() else {
            ui.label("Reading the catalog…");
            return;
        };
        let now = Utc::now();
        ui.heading(format!("Statistics of {}", profile.name));
        ui.add_space(6.0);
        if profile.database.is_server() {
            self.want_details(&profile);
        }
        let mine = |b: &&BackupRow| b.profile == profile.name;
        let empty = !self.state.snapshot.backups.iter().any(|b| mine(&b));
        if empty {
            self.no_backups_yet(ui, &profile);
        } else {
            let rows: Vec<&BackupRow> = self.state.snapshot.backups.iter().filter(mine).collect();
            let database = self.database_size(&profile, &stats);
            figures::show(ui, &figures::figures(&stats, &rows, database, now));
        }
        // Where the backups are besides here, read at a glance like the figures.
        let dests = destinations::rows(self.dests_of(&profile.name), now);
        if !dests.is_empty() {
            let busy = self.state.is_pending(
                &JobRequest::Sync {
                    profile: Some(profile.name.clone()),
                    force: true,
                }
                .label(),
            );
            match destinations::show(ui, &dests, busy) {
                Some(destinations::DestClick::Sync) => self.sync_now(Some(&profile.name)),
                Some(destinations::DestClick::Sheet) => {
                    self.submit(crate::worker::JobRequest::RecoverySheet {
                        profile: profile.name.clone(),
                    });
                }
                None => {}
            }
            ui.add_space(8.0);
        }
        if !empty {
            let rows: Vec<&BackupRow> = self.state.snapshot.backups.iter().filter(mine).collect();
            ui.add_space(8.0);
            over_time(ui, &ChartData::of(&rows, now));
        }
        if profile.database.is_server() {
            ui.add_space(12.0);
            self.server_facts(ui);
        }
        if !empty {
            ui.add_space(12.0);
            more_numbers(ui, &profile, &stats);
        }
    }

    /// The live database's size: the catalog's reading for a file, the server's answer for a server.
    fn database_size(&self, profile: &Profile, stats: &Stats) -> DatabaseSize {
        if let Some(bytes) = stats.database_size_bytes {
            return DatabaseSize::Known(bytes);
        }
        if !profile.database.is_server() {
            return DatabaseSize::Unknown;
        }
        match self.state.details.get(&profile.name) {
            Some((_, details)) => details
                .database_size
                .map_or(DatabaseSize::Unknown, DatabaseSize::Known),
            None => DatabaseSize::Asking,
        }
    }

    /// A profile without a single backup: say so, and offer the one button that changes it.
    fn no_backups_yet(&mut self, ui: &mut egui::Ui, profile: &Profile) {
        let mut back_up = false;
        card_frame(ui).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.vertical_centered(|ui| {
                ui.label(RichText::new("No backups yet").size(20.0).strong());
                ui.add_space(4.0);
                ui.label(match profile.files_dir {
                    Some(_) => {
                        "Back up now copies the database and the files folder into an archive and checks it."
                    }
                    None => "Back up now copies the database into an archive and checks it.",
                });
                ui.label(
                    RichText::new("The figures and charts of this panel start with the first backup.").weak(),
                );
                ui.add_space(8.0);
                back_up = ui
                    .button(RichText::new("Back up now").strong().size(16.0))
                    .clicked();
            });
        });
        if back_up {
            self.submit(JobRequest::Backup {
                profile: profile.name.clone(),
                kind: Some(profile.default_kind()),
                trigger: Trigger::Manual,
            });
        }
    }

    /// A server's version, largest tables and the copies earlier restores kept.
    fn server_facts(&self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile() else {
            return;
        };
        ui.label(RichText::new("Server").strong());
        let Some((_, details)) = self.state.details.get(&profile.name) else {
            ui.label(RichText::new("Asking the server…").weak());
            return;
        };
        card_frame(ui).show(ui, |ui| {
            ui.set_width(ui.available_width());
            egui::Grid::new("server-facts")
                .num_columns(3)
                .spacing([24.0, 6.0])
                .show(ui, |ui| {
                    ui.label(RichText::new("Server version").weak());
                    ui.label(details.server_version.clone().unwrap_or_default());
                    ui.label("");
                    ui.end_row();
                    for (i, (table, bytes)) in details.largest_tables.iter().enumerate() {
                        ui.label(RichText::new(if i == 0 { "Largest tables" } else { "" }).weak());
                        ui.label(table);
                        ui.label(human_size(*bytes));
                        ui.end_row();
                    }
                    ui.label(RichText::new("Kept copies").weak());
                    if details.kept_copies.is_empty() {
                        ui.label("none");
                        ui.label("");
                        ui.end_row();
                    }
                    for (i, (copy, bytes)) in details.kept_copies.iter().enumerate() {
                        if i > 0 {
                            ui.label("");
                        }
                        ui.label(copy);
                        ui.label(human_size(*bytes));
                        ui.end_row();
                    }
                });
            if !details.kept_copies.is_empty() {
                ui.label(
                    RichText::new(
                        "Earlier restores kept these copies of the database; History › Kept copies deletes them.",
                    )
                    .weak(),
                );
            }
        });
    }
}

/// The charts when two or more backups completed; else the one backup's values, or why there is nothing to chart.
fn over_time(ui: &mut egui::Ui, data: &ChartData) {
    if data.completed() >= 2 {
        charts::show(ui, data);
    } else {
        card_frame(ui).show(ui, |ui| {
            ui.set_width(ui.available_width());
            match data.single() {
                Some(point) => {
                    ui.label(RichText::new("The one backup so far").strong());
                    ui.add_space(4.0);
                    ui.horizontal(|ui| {
                        value(ui, &human_size(point.bytes), "archive size");
                        ui.add_space(32.0);
                        value(ui, &duration_words(point.ms), "to back up");
                    });
                    ui.add_space(4.0);
                    ui.label(
                        RichText::new(
                            "Charts of size and duration start with the second backup.",
                        )
                        .weak(),
                    );
                }
                None => {
                    ui.label(RichText::new("No completed backup to chart").strong());
                    ui.label(
                        RichText::new(
                            "The charts of size and duration start with the second completed backup made here \
                             (imported archives are not charted).",
                        )
                        .weak(),
                    );
                }
            }
        });
    }
    if data.left_out > 0 {
        ui.label(
            RichText::new(format!(
                "{} backup(s) dated in the future are left out of the charts (see History).",
                data.left_out
            ))
            .weak(),
        );
    }
}

/// A value in large type over its caption.
fn value(ui: &mut egui::Ui, text: &str, caption: &str) {
    ui.vertical(|ui| {
        ui.label(RichText::new(text).size(20.0).strong());
        ui.label(RichText::new(caption).weak());
    });
}

/// The numbers a glance does not need, folded: backups by trigger and status, sizes, the schedule, all-time
/// success.
fn more_numbers(ui: &mut egui::Ui, profile: &Profile, stats: &Stats) {
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    egui::CollapsingHeader::new("More numbers")
        .id_salt("statistics-more")
        .show(ui, |ui| {
            egui::Grid::new("statistics-more-grid")
                .num_columns(2)
                .spacing([24.0, 6.0])
                .show(ui, |ui| {
                    let row = |ui: &mut egui::Ui, name: &str, text: String| {
                        ui.label(RichText::new(name).weak());
                        ui.label(text);
                        ui.end_row();
                    };
                    row(ui, "Backups by trigger", join(&stats.by_trigger));
                    row(ui, "Backups by status", join(&stats.by_status));
                    row(
                        ui,
                        "Average archive size",
                        human_size(stats.average_size_bytes),
                    );
                    row(
                        ui,
                        "Success rate, all time",
                        stats
                            .success_rate_percent
                            .map(|r| format!("{r:.0} %"))
                            .unwrap_or_else(|| "no backups yet".into()),
                    );
                    row(ui, "Last automatic backup", when(stats.last_automatic_at));
                    row(
                        ui,
                        "Next automatic backup",
                        if profile.policy.auto_enabled {
                            when(stats.next_automatic_at)
                        } else {
                            "automatic backups are off".into()
                        },
                    );
                });
        });
}
