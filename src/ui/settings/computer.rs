//! The Settings section "On this computer", for all profiles: start at login, the system timer, pause, and what
//! closing the window does. Its switches act at once through the worker (they are not part of the draft's Save and
//! Revert), and show the state read back from the disk and `systemctl`, not what was last clicked.

use super::form::{help_line, section};
use crate::desktop::DesktopChange;
use crate::ui::app::BackstopApp;
use crate::worker::{AppFlag, JobRequest};
use chrono::Utc;
use egui::RichText;
use std::time::{Duration, Instant};

/// How long the timer's state (its next run) is shown before it is read again while the section is open.
const DESKTOP_FRESH: Duration = Duration::from_secs(60);

impl BackstopApp {
    /// Queues a desktop job and remembers its ticket (the state is read again should it fail); None where this
    /// window has no desktop places (tests).
    pub(crate) fn desktop_job(&mut self, change: DesktopChange) -> Option<u64> {
        let places = self.desktop_places.clone()?;
        let ticket = self.submit(JobRequest::Desktop {
            places: Box::new(places),
            change,
        });
        self.state.desktop_tickets.insert(ticket);
        self.desktop_asked = Some(Instant::now());
        Some(ticket)
    }

    /// The section "On this computer".
    pub(super) fn on_this_computer(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        let stale = self
            .desktop_asked
            .is_none_or(|at| now.saturating_duration_since(at) >= DESKTOP_FRESH);
        if self.desktop_places.is_some()
            && self.state.desktop_tickets.is_empty()
            && (self.state.desktop.is_none() || stale)
        {
            let _ = self.desktop_job(DesktopChange::Status);
        }
        let settings = self.state.snapshot.config.settings.clone();
        let status = self.state.desktop.clone();
        let busy = !self.state.desktop_tickets.is_empty();
        let mut asked = None;
        let mut flag = None;
        section(ui, "On this computer", |ui| {
            help_line(
                ui,
                "For all profiles. These switches act at once: they are not part of Save and Revert.",
            );
            match (&status, self.desktop_places.is_some()) {
                (_, false) => help_line(
                    ui,
                    "Start at login and the system timer are not offered here.",
                ),
                (None, true) => help_line(
                    ui,
                    "Reading the state of start at login and the system timer…",
                ),
                (Some(status), true) => {
                    let mut login = status.autostart.is_on();
                    ui.add_enabled_ui(!busy, |ui| {
                        if ui
                            .checkbox(&mut login, "Start Backstop at login (hidden in the tray)")
                            .changed()
                        {
                            asked = Some(DesktopChange::StartAtLogin(login));
                        }
                    });
                    help_line(ui, &status.autostart.words());
                    let mut timer = status.timer.is_on();
                    ui.add_enabled_ui(!busy, |ui| {
                        if ui
                            .checkbox(
                                &mut timer,
                                "Run automatic backups even when Backstop is closed",
                            )
                            .changed()
                        {
                            asked = Some(DesktopChange::SystemTimer(timer));
                        }
                    });
                    help_line(ui, &status.timer.words(Utc::now()));
                }
            }
            let mut paused = settings.automatic_paused;
            if ui
                .checkbox(&mut paused, "Pause automatic backups")
                .changed()
            {
                flag = Some(AppFlag::AutomaticPaused(paused));
            }
            help_line(
                ui,
                "Neither this window nor the system timer starts an automatic backup while paused; backups you ask \
                 for still run.",
            );
            ui.horizontal_wrapped(|ui| {
                ui.label("When I close the window:");
                for (answer, words) in [
                    (None, "Ask"),
                    (Some(true), "Keep running in the tray"),
                    (Some(false), "Quit"),
                ] {
                    if ui.radio(settings.close_to_tray == answer, words).clicked()
                        && settings.close_to_tray != answer
                    {
                        flag = Some(AppFlag::CloseToTray(answer));
                    }
                }
            });
            ui.label(
                RichText::new(
                    "On a laptop, turn on the system timer: it runs with the window closed and catches up on a check \
                     missed during sleep as soon as the computer wakes.",
                )
                .weak(),
            );
        });
        if let Some(change) = asked {
            let _ = self.desktop_job(change);
        }
        if let Some(flag) = flag {
            self.submit(JobRequest::SetFlag(flag));
        }
    }
}
