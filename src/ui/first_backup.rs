//! A profile added in the window: once the worker added it, the window selects it and opens its Settings so the
//! user can finish it (a files folder, the schedule), offers "Back up now" (a manual backup), and holds its first
//! automatic backup until the user leaves its settings (see `scheduler::first_automatic_waits`).

use super::app::{BackstopApp, Tab};
use crate::model::Trigger;
use crate::worker::{Event, JobRequest};
use egui::{Color32, RichText};
use std::time::Instant;

/// An "Add profile" the worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Adding {
    /// The job's ticket.
    ticket: u64,
    /// The new profile's name.
    name: String,
    /// Whether the worker added it (it shows once a snapshot lists it).
    done: bool,
}

impl BackstopApp {
    /// Asks the worker to add `profile`; the window opens its settings once it exists.
    pub(crate) fn add_profile(
        &mut self,
        profile: crate::config::Profile,
        password: Option<crate::worker::Password>,
    ) {
        let name = profile.name.clone();
        let ticket = self.submit(JobRequest::AddProfile(Box::new(profile), password));
        self.adding = Some(Adding {
            ticket,
            name,
            done: false,
        });
    }

    /// Watches the worker's events for the end of the "Add profile" job.
    pub(crate) fn watch_adding(&mut self, event: &Event) {
        if let (Some(adding), Event::Finished { ticket, result, .. }) =
            (self.adding.as_mut(), event)
            && *ticket == adding.ticket
        {
            if result.is_ok() {
                adding.done = true;
            } else {
                self.adding = None;
            }
        }
    }

    /// Once the added profile is in the snapshot: select it, open its settings, hold its first automatic backup.
    pub(crate) fn open_added_profile(&mut self, now: Instant) {
        let Some(adding) = self.adding.as_ref().filter(|a| a.done) else {
            return;
        };
        let name = adding.name.clone();
        if !self.profile_names().contains(&name) {
            return;
        }
        self.adding = None;
        self.selected = Some(name.clone());
        self.tab = Tab::Settings;
        self.scheduler.hold_first_automatic(&name, now);
    }

    /// Above the Settings of a profile just added: what to do next, and "Back up now".
    pub(crate) fn first_backup_note(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        if !self.scheduler.first_automatic_held(&profile.name) {
            return;
        }
        let unsaved = self.settings.unsaved(&profile.name) || self.settings.app.dirty();
        let color = Color32::from_rgb(60, 110, 190);
        egui::Frame::new()
            .fill(color.gamma_multiply(0.15))
            .inner_margin(8.0)
            .corner_radius(4.0)
            .show(ui, |ui| {
                ui.label(
                    RichText::new(format!(
                        "Profile {} was added. Finish it below (a files folder, the schedule) and Save.",
                        profile.name
                    ))
                    .strong(),
                );
                ui.label(format!(
                    "Its first automatic backup starts when you leave these settings, or in {} minutes. \
                     Or back it up now:",
                    super::scheduler::FIRST_AUTOMATIC_GRACE.as_secs() / 60
                ));
                let button = ui
                    .add_enabled(!unsaved, egui::Button::new(RichText::new("Back up now").strong()))
                    .on_disabled_hover_text("Save your changes first: the backup uses the saved settings");
                if button.clicked() {
                    self.submit(JobRequest::Backup {
                        profile: profile.name.clone(),
                        kind: None,
                        trigger: Trigger::Manual,
                    });
                }
            });
        ui.add_space(8.0);
    }
}
