//! The Statistics panel: counts, sizes, last and next backups, success rate, and a chart of archive size and
//! duration over time.

use super::app::BackstopApp;
use super::state::human_size;
use crate::model::Status;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "never".into())
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
        ui.heading(format!("Statistics of {}", profile.name));
        egui::Grid::new("stats")
            .num_columns(2)
            .spacing([16.0, 6.0])
            .striped(true)
            .show(ui, |ui| {
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
                ui.label("Backups by trigger");
                ui.label(join(&stats.by_trigger));
                ui.end_row();
                ui.label("Backups by status");
                ui.label(join(&stats.by_status));
                ui.end_row();
                ui.label("Total size of archives");
                ui.label(human_size(stats.total_size_bytes));
                ui.end_row();
                ui.label("Average archive size");
                ui.label(human_size(stats.average_size_bytes));
                ui.end_row();
                ui.label("Database size now");
                let server_size = self
                    .state
                    .details
                    .get(&profile.name)
                    .and_then(|(_, d)| d.database_size);
                ui.label(
                    stats
                        .database_size_bytes
                        .or(server_size)
                        .map(human_size)
                        .unwrap_or_else(|| "cannot be read".into()),
                );
                ui.end_row();
                ui.label("Last backup");
                ui.label(match &stats.last_backup {
                    Some(b) => format!(
                        "{} · {} · {:.1} s · {}",
                        when(Some(b.created_at)),
                        b.status,
                        b.duration_ms.unwrap_or(0) as f64 / 1000.0,
                        match (&b.error, b.warnings.as_slice()) {
                            (Some(error), _) => error.clone(),
                            (None, []) => "ok".to_string(),
                            (None, warnings) => format!("flagged: {}", warnings.join("; ")),
                        }
                    ),
                    None => "never".into(),
                });
                ui.end_row();
                ui.label("Last automatic backup");
                ui.label(when(stats.last_automatic_at));
                ui.end_row();
                ui.label("Next automatic backup");
                ui.label(if profile.policy.auto_enabled {
                    when(stats.next_automatic_at)
                } else {
                    "automatic backups are off".into()
                });
                ui.end_row();
                ui.label("Success rate");
                ui.label(
                    stats
                        .success_rate_percent
                        .map(|r| format!("{r:.0}%"))
                        .unwrap_or_else(|| "no backups yet".into()),
                );
                ui.end_row();
            });
        if profile.database.is_server() {
            self.want_details(&profile);
            match self.state.details.get(&profile.name) {
                Some((_, details)) => {
                    egui::Grid::new("server-stats")
                        .num_columns(2)
                        .spacing([16.0, 6.0])
                        .striped(true)
                        .show(ui, |ui| {
                            ui.label("Server version");
                            ui.label(details.server_version.clone().unwrap_or_default());
                            ui.end_row();
                            for (table, bytes) in &details.largest_tables {
                                ui.label(format!("Large table {table}"));
                                ui.label(human_size(*bytes));
                                ui.end_row();
                            }
                        });
                }
                None => {
                    ui.label("Asking the server…");
                }
            }
        }
        ui.add_space(10.0);
        let rows: Vec<_> = self
            .state
            .snapshot
            .backups
            .iter()
            .filter(|b| b.profile == profile.name && b.status == Status::Completed)
            .collect();
        // A backup dated in the future (a clock that was ahead) would stretch the time axis over years.
        let ahead = rows.iter().filter(|b| b.clock_ahead_secs.is_some()).count();
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|b| b.clock_ahead_secs.is_none())
            .collect();
        if ahead > 0 {
            ui.label(format!(
                "{ahead} backup(s) dated in the future are left out of the charts (see History)."
            ));
        }
        let Some(base) = rows.iter().map(|b| b.created_at.timestamp()).min() else {
            ui.label("The chart appears after the first backup.");
            return;
        };
        // Hours since the first backup: plot coordinates stay small, so the lines stay sharp.
        let points: Vec<[f64; 3]> = rows
            .iter()
            .map(|b| {
                [
                    (b.created_at.timestamp() - base) as f64 / 3600.0,
                    b.size_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0),
                    b.duration_ms.unwrap_or(0) as f64 / 1000.0,
                ]
            })
            .collect();
        let format_time = move |mark: egui_plot::GridMark,
                                _range: &std::ops::RangeInclusive<f64>| {
            chrono::DateTime::from_timestamp(base + (mark.value * 3600.0) as i64, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        };
        for (title, id, series, index) in [
            (
                "Archive size (MiB) over time",
                "size-plot",
                "archive size (MiB)",
                1,
            ),
            (
                "Backup duration (s) over time",
                "duration-plot",
                "duration (s)",
                2,
            ),
        ] {
            ui.label(title);
            let values: Vec<[f64; 2]> = points
                .iter()
                .filter_map(|p| Some([*p.first()?, *p.get(index)?]))
                .collect();
            Plot::new(id)
                .height(150.0)
                .legend(Legend::default())
                .x_axis_formatter(format_time)
                .include_y(0.0)
                .allow_scroll(false)
                .show(ui, |plot| {
                    plot.line(Line::new(series, PlotPoints::from(values.clone())));
                    plot.points(Points::new(series, PlotPoints::from(values)).radius(3.0));
                });
        }
    }
}
