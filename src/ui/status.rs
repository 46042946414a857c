//! The status header every panel starts with, and the coloured dot the profile list shows: a profile's state
//! ([`crate::status`]) in words and colour, with the one button that fixes it.

use super::app::{BackstopApp, Tab};
use crate::config::Profile;
use crate::model::Trigger;
use crate::status::{Fix, ProfileStatus, Tone, Working};
use crate::worker::JobRequest;
use egui::{Color32, RichText};

/// The colour of a state, readable on light and dark backgrounds.
pub fn tone_color(tone: Tone, dark: bool) -> Color32 {
    match (tone, dark) {
        (Tone::Protected, false) => Color32::from_rgb(30, 130, 60),
        (Tone::Protected, true) => Color32::from_rgb(90, 200, 120),
        (Tone::Working, false) => Color32::from_rgb(30, 100, 190),
        (Tone::Working, true) => Color32::from_rgb(110, 170, 255),
        (Tone::Attention, false) => Color32::from_rgb(190, 90, 0),
        (Tone::Attention, true) => Color32::from_rgb(255, 170, 70),
        (Tone::Unprotected, false) => Color32::from_rgb(110, 110, 110),
        (Tone::Unprotected, true) => Color32::from_rgb(170, 170, 170),
    }
}

/// A filled dot of the state's colour, as tall as a line of text.
pub fn dot(ui: &mut egui::Ui, tone: Tone) -> egui::Response {
    let size = ui.text_style_height(&egui::TextStyle::Body);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let color = tone_color(tone, ui.visuals().dark_mode);
    ui.painter()
        .circle_filled(rect.center(), size * 0.32, color);
    response
}

/// Draws the header for `status`: the dot, the headline in the state's colour, the detail (wrapped), a progress bar
/// while a job runs, and the fix's button. Returns the fix when its button was clicked.
pub fn header(ui: &mut egui::Ui, status: &ProfileStatus, fraction: Option<f32>) -> Option<Fix> {
    let color = tone_color(status.tone, ui.visuals().dark_mode);
    let mut clicked = None;
    egui::Frame::new()
        .fill(color.gamma_multiply(0.12))
        .stroke(egui::Stroke::new(1.0, color.gamma_multiply(0.5)))
        .inner_margin(egui::Margin::symmetric(10, 8))
        .corner_radius(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                dot(ui, status.tone);
                ui.label(
                    RichText::new(&status.headline)
                        .strong()
                        .size(16.0)
                        .color(color),
                );
                if let Some(fix) = status.fix {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.button(RichText::new(fix.label()).strong()).clicked() {
                            clicked = Some(fix);
                        }
                    });
                }
            });
            if !status.detail.is_empty() {
                ui.add(egui::Label::new(first_upper(&status.detail)).wrap());
            }
            if status.tone == Tone::Working {
                let bar = match fraction {
                    Some(f) => egui::ProgressBar::new(f),
                    None => egui::ProgressBar::new(0.0).animate(true),
                };
                ui.add(bar.desired_height(6.0));
            }
        });
    clicked
}

fn first_upper(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What a job does to a profile's data, for the status header ("Backing up"), when it works on one profile.
pub fn working_on(
    request: &JobRequest,
    snapshot_profile_of: impl Fn(i64) -> Option<String>,
) -> Option<(String, &'static str)> {
    match request {
        JobRequest::Backup { profile, .. } => Some((profile.clone(), "Backing up")),
        JobRequest::Import { profile, .. } => Some((profile.clone(), "Importing")),
        JobRequest::Sync {
            profile: Some(profile),
            ..
        } => Some((profile.clone(), "Copying to its destinations")),
        JobRequest::Prune {
            profile,
            dry_run: false,
        } => Some((profile.clone(), "Pruning old backups")),
        JobRequest::Restore(spec) if !spec.validate_only => {
            let from = match &spec.source {
                crate::jobs::BackupRef::Id(id) => snapshot_profile_of(*id),
                _ => None,
            };
            spec.profile.clone().or(from).map(|p| (p, "Restoring"))
        }
        _ => None,
    }
}

impl BackstopApp {
    /// The state of `profile` now.
    pub(crate) fn status_of(&self, profile: &Profile) -> ProfileStatus {
        self.status_and_alerts(profile).0
    }

    /// The state of `profile` now, and the warnings it was judged by.
    pub(crate) fn status_and_alerts(
        &self,
        profile: &Profile,
    ) -> (ProfileStatus, Vec<crate::health::Alert>) {
        let rows = self.rows_of(profile);
        let alerts = self.alerts_in(&rows, profile);
        let last_automatic = self
            .state
            .snapshot
            .stats
            .get(&profile.name)
            .and_then(|s| s.last_automatic_at);
        let working = self.state.running.as_ref().and_then(|running| {
            let (name, doing) = self.working.get(&running.ticket)?;
            (*name == profile.name).then(|| Working {
                doing: (*doing).to_string(),
                fraction: running.fraction(),
            })
        });
        let status = crate::status::profile_status(
            &rows,
            &profile.policy,
            &alerts,
            last_automatic,
            working.as_ref(),
            self.state.snapshot.config.settings.automatic_paused,
            chrono::Utc::now(),
        );
        (status, alerts)
    }

    /// The selected profile's status header, and what its button does.
    pub(crate) fn status_header(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        let status = self.status_of(&profile);
        let fraction = self.state.running.as_ref().and_then(|r| r.fraction());
        match header(ui, &status, fraction) {
            Some(Fix::FirstBackup | Fix::TryAgain) => {
                let kind = self.backup_kind.get(&profile.name).copied();
                self.submit(JobRequest::Backup {
                    profile: profile.name.clone(),
                    kind,
                    trigger: Trigger::Manual,
                });
            }
            Some(Fix::OpenHistory) => self.tab = Tab::History,
            Some(Fix::SyncNow) => self.sync_now(Some(&profile.name)),
            None => {}
        }
    }
}
