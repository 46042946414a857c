//! The top of the window: the profile list and the panel tabs. The list marks each profile with what waits for
//! the user even while another profile is shown: Settings not saved yet, and warnings (the last backup failed, no
//! backup for too long, a flagged backup, copies to a destination failing or behind: what its banner would say).
//! Profiles that need attention are named beside the list too, one click from their banner.

use super::app::{BackstopApp, Tab};
use crate::config::Profile;
use crate::health::Alert;
use crate::status::Tone;
use chrono::Utc;
use egui::{Color32, RichText, WidgetInfo};

/// The colour of "needs attention", as the status header has it.
fn attention(ui: &egui::Ui) -> Color32 {
    super::status::tone_color(Tone::Attention, ui.visuals().dark_mode)
}

/// What the profile list says about one profile.
struct ProfileMark {
    name: String,
    tone: Tone,
    unsaved: bool,
    alerts: Vec<Alert>,
}

impl BackstopApp {
    /// The warnings of a profile, as its banner shows them.
    pub(crate) fn alerts_of(&self, profile: &Profile) -> Vec<Alert> {
        self.alerts_in(&self.rows_of(profile), profile)
    }

    /// The catalog rows of a profile.
    pub(crate) fn rows_of(&self, profile: &Profile) -> Vec<crate::catalog::BackupRow> {
        self.state
            .snapshot
            .backups
            .iter()
            .filter(|b| b.profile == profile.name)
            .cloned()
            .collect()
    }

    /// The warnings `rows` (a profile's rows) give.
    pub(crate) fn alerts_in(
        &self,
        rows: &[crate::catalog::BackupRow],
        profile: &Profile,
    ) -> Vec<Alert> {
        let threshold = self.state.snapshot.config.settings.change_alert_percent;
        let now = Utc::now();
        let mut alerts = crate::health::alerts(rows, &profile.policy, threshold, now);
        alerts.extend(crate::health::dest_alerts(
            self.dests_of(&profile.name),
            now,
        ));
        alerts
    }

    /// The destinations of a profile, as the worker last saw them.
    pub(crate) fn dests_of<'a>(
        &'a self,
        profile: &'a str,
    ) -> impl Iterator<Item = &'a crate::jobs::DestInfo> + 'a {
        self.state
            .snapshot
            .destinations
            .iter()
            .filter(move |d| d.profile == profile)
    }

    /// Copies what waits to the destinations of `profile` (all when None) now, retry waits ignored: the Sync now
    /// buttons. Nothing is queued twice.
    pub(crate) fn sync_now(&mut self, profile: Option<&str>) {
        let request = crate::worker::JobRequest::Sync {
            profile: profile.map(str::to_string),
            force: true,
        };
        if !self.state.is_pending(&request.label()) {
            self.submit(request);
        }
    }

    fn profile_marks(&self) -> Vec<ProfileMark> {
        self.state
            .snapshot
            .config
            .profiles
            .iter()
            .map(|p| {
                // One pass over the profile's rows for both its dot and its warnings (every frame).
                let (status, alerts) = self.status_and_alerts(p);
                ProfileMark {
                    name: p.name.clone(),
                    tone: status.tone,
                    unsaved: self.settings.unsaved(&p.name),
                    alerts,
                }
            })
            .collect()
    }

    pub(crate) fn top_bar(&mut self, ui: &mut egui::Ui) {
        let marks = self.profile_marks();
        let mut picked: Option<String> = None;
        ui.horizontal_wrapped(|ui| {
            ui.heading("Backstop");
            ui.separator();
            self.profile_list(ui, &marks, &mut picked);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .button("About & Help")
                    .on_hover_text("Version, where files live, appearance, shortcuts (F1)")
                    .clicked()
                {
                    self.about.open = !self.about.open;
                }
            });
        });
        if let Some(name) = picked {
            self.selected = Some(name);
        }
        if !marks.is_empty() {
            ui.horizontal(|ui| {
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.tab, tab, tab.label());
                }
            });
        }
    }

    /// The list, the selected profile's database, and the other profiles that need attention.
    fn profile_list(&self, ui: &mut egui::Ui, marks: &[ProfileMark], picked: &mut Option<String>) {
        if marks.is_empty() {
            return;
        }
        let current = self.profile().map(|p| p.name.clone()).unwrap_or_default();
        let label = ui.label("Profile:");
        if let Some(mark) = marks.iter().find(|m| m.name == current) {
            super::status::dot(ui, mark.tone);
        }
        egui::ComboBox::from_id_salt("profile-picker")
            .selected_text(current.clone())
            .show_ui(ui, |ui| {
                for mark in marks {
                    ui.horizontal(|ui| {
                        super::status::dot(ui, mark.tone);
                        if ui
                            .selectable_label(mark.name == current, &mark.name)
                            .clicked()
                        {
                            *picked = Some(mark.name.clone());
                        }
                        mark_labels(ui, mark);
                    });
                }
            })
            .response
            .labelled_by(label.id);
        if let Some(profile) = self.profile() {
            ui.label(RichText::new(profile.database.describe()).weak());
        }
        // The others that need attention, without opening the list (the selected one has its banner).
        for mark in marks
            .iter()
            .filter(|m| m.name != current && !m.alerts.is_empty())
        {
            let button = egui::Button::new(
                RichText::new(format!("{} needs attention", mark.name)).color(attention(ui)),
            )
            .small();
            if ui
                .add(button)
                .on_hover_text(alert_lines(&mark.alerts))
                .clicked()
            {
                *picked = Some(mark.name.clone());
            }
        }
    }
}

/// A profile's marks in the list, each read out with the profile's name ("shop: unsaved changes").
fn mark_labels(ui: &mut egui::Ui, mark: &ProfileMark) {
    let say = |ui: &mut egui::Ui, text: RichText, what: &str, hover: Option<String>| {
        let spoken = format!("{}: {what}", mark.name);
        let response = ui.label(text);
        response.widget_info(|| WidgetInfo::labeled(egui::Role::Label, true, &spoken));
        if let Some(hover) = hover {
            response.on_hover_text(hover);
        }
    };
    if mark.unsaved {
        say(
            ui,
            RichText::new("unsaved changes").italics().weak(),
            "unsaved changes",
            Some("Its Settings hold changes not saved yet".into()),
        );
    }
    if !mark.alerts.is_empty() {
        say(
            ui,
            RichText::new("needs attention").color(attention(ui)),
            "needs attention",
            Some(alert_lines(&mark.alerts)),
        );
    }
}

fn alert_lines(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .map(|a| a.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
