//! The History panel's restore log and job log.

use super::local;
use crate::ui::app::BackstopApp;
use crate::ui::state::ToastKind;
use egui::{Color32, RichText};

impl BackstopApp {
    pub(super) fn restore_log(&mut self, ui: &mut egui::Ui, profile: &str) {
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
                    let message = r.message.unwrap_or_default();
                    ui.add(egui::Label::new(message.as_str()).wrap())
                        .on_hover_text(message.as_str());
                    ui.end_row();
                }
            });
    }

    pub(super) fn job_log(&mut self, ui: &mut egui::Ui, profile: &str) {
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
                    let message = j.message.clone().unwrap_or_default();
                    ui.add(egui::Label::new(message.as_str()).wrap())
                        .on_hover_text(message.as_str());
                    ui.end_row();
                }
            });
    }
}
