//! The window's frame around the panels: the banners, the job bar, toasts, drag-and-drop and the first-run page.

use super::app::BackstopApp;
use super::state::{ToastKind, human_size};
use crate::worker::JobRequest;
use egui::{Color32, RichText};
use std::path::PathBuf;
use std::time::Instant;

impl BackstopApp {
    pub(super) fn banners(&mut self, ui: &mut egui::Ui) {
        // Each line: its colour, its words, and the destination whose Sync now it offers.
        let mut lines: Vec<(Color32, String, Option<String>)> = Vec::new();
        if let Some(error) = &self.state.snapshot.error {
            lines.push((Color32::from_rgb(200, 60, 60), error.clone(), None));
        }
        let profile = self.profile().map(|p| p.name.clone());
        if let Some(profile) = self.profile() {
            // The first one is the status header's.
            for alert in self.alerts_of(profile).into_iter().skip(1) {
                lines.push((Color32::from_rgb(190, 120, 0), alert.text, alert.dest));
            }
        }
        let paused = self.state.snapshot.config.settings.automatic_paused;
        if paused && !self.state.snapshot.config.profiles.is_empty() {
            let color = Color32::from_rgb(190, 120, 0);
            egui::Frame::new()
                .fill(color.gamma_multiply(0.18))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(
                            RichText::new("Automatic backups paused")
                                .strong()
                                .color(color),
                        );
                        ui.label(
                            RichText::new(
                                "No automatic backup starts, here or from the system timer.",
                            )
                            .color(color),
                        );
                        if ui.button("Resume automatic backups").clicked() {
                            self.submit(JobRequest::SetFlag(
                                crate::worker::AppFlag::AutomaticPaused(false),
                            ));
                        }
                    });
                });
        }
        if self.scheduler.elsewhere() && !self.state.snapshot.config.profiles.is_empty() {
            lines.push((
                Color32::from_rgb(90, 110, 160),
                "Automatic backups run in the other open Backstop window, not in this one.".into(),
                None,
            ));
        }
        let mut sync = false;
        for (color, text, dest) in lines {
            egui::Frame::new()
                .fill(color.gamma_multiply(0.18))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| match dest {
                    None => {
                        ui.label(RichText::new(text).color(color));
                    }
                    // A destination's alert offers its fix beside it.
                    Some(dest) => {
                        ui.horizontal_wrapped(|ui| {
                            ui.label(RichText::new(text).color(color));
                            sync |= ui
                                .button("Sync now")
                                .on_hover_text(sync_hover(&dest))
                                .clicked();
                        });
                    }
                });
        }
        if sync {
            self.sync_now(profile.as_deref());
        }
    }

    pub(super) fn job_bar(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        if let Some(running) = self.state.running.clone() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(RichText::new(&running.label).strong());
                ui.label(format!("· {}", running.stage));
                let mut text = human_size(running.done);
                if let Some(total) = running.total {
                    text = format!("{text} of {}", human_size(total));
                }
                if let Some(rate) = running.rate(now) {
                    text = format!("{text} · {}/s", human_size(rate as u64));
                }
                if let Some(eta) = running.eta(now) {
                    text = format!("{text} · {} s left", eta.as_secs());
                }
                let bar = match running.fraction() {
                    Some(f) => egui::ProgressBar::new(f).text(text).desired_width(260.0),
                    None => egui::ProgressBar::new(0.0)
                        .animate(true)
                        .text(text)
                        .desired_width(260.0),
                };
                ui.add(bar);
                if let Some(cancel) = &running.cancel
                    && ui.button("Cancel").clicked()
                {
                    cancel.cancel();
                }
            });
        } else {
            ui.label(RichText::new("Idle").weak());
        }
        if !self.state.queue.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label("Queued:");
                for queued in self.state.queue.clone() {
                    ui.label(&queued.label);
                    if ui
                        .small_button("remove")
                        .on_hover_text(format!("Remove {} from the queue", queued.label))
                        .clicked()
                    {
                        queued.cancel.cancel();
                    }
                }
            });
        }
    }

    pub(super) fn toasts(&mut self, ctx: &egui::Context) {
        if self.state.toasts.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -56.0])
            .show(ctx, |ui| {
                ui.set_max_width(460.0);
                for toast in &self.state.toasts {
                    let color = match toast.kind {
                        ToastKind::Success => Color32::from_rgb(40, 150, 80),
                        ToastKind::Info => Color32::from_rgb(60, 110, 190),
                        ToastKind::Error => Color32::from_rgb(200, 60, 60),
                    };
                    egui::Frame::popup(ui.style())
                        .stroke(egui::Stroke::new(1.5, color))
                        .show(ui, |ui| {
                            ui.label(&toast.text);
                        });
                }
            });
    }

    pub(super) fn drag_and_drop(&mut self, ctx: &egui::Context) {
        let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if hovering {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop"),
            ));
            painter.rect_filled(screen, 0.0, Color32::from_black_alpha(170));
            painter.text(
                screen.center(),
                egui::Align2::CENTER_CENTER,
                "Drop archives to import",
                egui::FontId::proportional(28.0),
                Color32::WHITE,
            );
        }
        if !dropped.is_empty() {
            self.import(dropped);
        }
    }

    pub(super) fn first_run(&mut self, ui: &mut egui::Ui) {
        ui.add_space(20.0);
        ui.heading("Welcome to Backstop");
        ui.label("Backstop keeps your databases safe in verified archives and gives them back when something breaks.");
        ui.add_space(12.0);
        if ui
            .button("Create a demo profile with a sample database")
            .clicked()
        {
            self.submit(JobRequest::CreateDemo);
        }
        ui.add_space(12.0);
        ui.label(RichText::new("Or back up your own SQLite database:").strong());
        self.new_profile_form(ui);
    }
}

/// What a Sync now button beside a destination's alert does.
fn sync_hover(dest: &str) -> String {
    format!(
        "Copy what waits to {dest} (and the profile's other destinations) now, without waiting for the next \
         retry. Is the drive plugged in, the server reachable? `backstop dest test {dest}` checks it."
    )
}
