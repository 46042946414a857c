//! Quitting: Ctrl+Q, the tray's Quit, the window's close button (when `close.rs` leaves it to quitting) and stop
//! signals. While a job the user can see runs or waits, the
//! window asks first ("Cancel the job and quit" or "Keep working"); a job cancelled by quitting ends as a cancel
//! from the job bar does (recorded `cancelled`, nothing half-written kept), and the window closes once the worker
//! is idle. Quitting never leaves a job to be killed half-way and reported as a failure at the next launch.

use super::app::BackstopApp;
use egui::{Key, KeyboardShortcut, Modifiers, RichText, ViewportCommand};

/// Ctrl+Q (Cmd+Q on macOS).
pub(crate) const QUIT_SHORTCUT: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND, Key::Q);

/// Where the window is in quitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Quit {
    /// Not quitting.
    #[default]
    Open,
    /// The user asked to quit while a job runs; the window asks what to do.
    Asking,
    /// The jobs are being cancelled; the window closes once the worker is idle.
    Cancelling,
    /// The worker is saving the remembered close answer; the window closes once it is saved.
    Saving,
    /// The window asked the platform to close.
    Closing,
}

impl BackstopApp {
    /// Whether the window is not quitting (the scheduler starts nothing new otherwise).
    pub(crate) fn quit_is_open(&self) -> bool {
        self.quit == Quit::Open
    }

    /// Whether the window asked the platform to close (tests: the headless harness never closes).
    pub fn asked_to_close(&self) -> bool {
        self.quit == Quit::Closing
    }

    /// Whether a job the user can see in the job bar runs or waits (quick reads and saves are not asked about).
    fn job_in_hand(&self) -> bool {
        self.state
            .running
            .as_ref()
            .is_some_and(|r| r.cancel.is_some())
            || !self.state.queue.is_empty()
    }

    /// Once a frame, before drawing: the quit shortcut, the close button and stop signals.
    pub(crate) fn handle_quit(&mut self, ctx: &egui::Context) {
        let shortcut = ctx.input_mut(|i| i.consume_shortcut(&QUIT_SHORTCUT));
        let close_button = ctx.input(|i| i.viewport().close_requested());
        // SIGTERM, SIGHUP or SIGINT (a logout, a service manager): cancel without asking.
        if crate::signals::received().is_some() && self.quit != Quit::Closing {
            self.quit = Quit::Cancelling;
        }
        if shortcut && self.quit == Quit::Open {
            // Ctrl+Q always quits: no tray question.
            self.desktop.closing = None;
            self.quit_requested(ctx);
        } else if close_button
            && self.quit == Quit::Open
            && !self.close_button(ctx)
            && self.job_in_hand()
        {
            // Closing quits here (`close.rs` left it to quitting): a running job asks first; an idle window's close
            // button closes it by itself.
            self.quit = Quit::Asking;
        }
        // The job ended while the question was open: nothing is left to ask about.
        if self.quit == Quit::Asking && !self.job_in_hand() {
            self.close(ctx);
        }
        if close_button && matches!(self.quit, Quit::Asking | Quit::Cancelling | Quit::Saving) {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
        }
        if self.quit == Quit::Saving && self.desktop.saving.is_none() {
            self.close(ctx);
        }
        if self.quit == Quit::Cancelling {
            self.cancel_all();
            if self.state.running.is_none() && self.state.queue.is_empty() {
                self.close(ctx);
            }
        }
    }

    /// Cancels the running job and every queued one; each cleans up as a cancel from the job bar does.
    fn cancel_all(&self) {
        if let Some(cancel) = self.state.running.as_ref().and_then(|r| r.cancel.as_ref()) {
            cancel.cancel();
        }
        for queued in &self.state.queue {
            queued.cancel.cancel();
        }
    }

    /// Quit as Ctrl+Q does (also the tray's Quit): ask first while a job runs (showing a hidden window), else
    /// close.
    pub(crate) fn quit_requested(&mut self, ctx: &egui::Context) {
        if self.quit != Quit::Open {
            return;
        }
        if self.job_in_hand() {
            self.quit = Quit::Asking;
            if self.desktop.hidden {
                self.bring_forward(ctx);
            }
        } else {
            self.close(ctx);
        }
    }

    /// Closes the window, once a remembered answer the worker is saving is saved.
    fn close(&mut self, ctx: &egui::Context) {
        if self.desktop.saving.is_some() {
            self.quit = Quit::Saving;
            return;
        }
        self.quit = Quit::Closing;
        ctx.send_viewport_cmd(ViewportCommand::Close);
    }

    /// The question while a job runs, and the wait while it is cancelled.
    pub(crate) fn quit_dialog(&mut self, ctx: &egui::Context) {
        if !matches!(self.quit, Quit::Asking | Quit::Cancelling) {
            return;
        }
        let job = self
            .state
            .running
            .as_ref()
            .filter(|r| r.cancel.is_some())
            .map(|r| r.label.clone())
            .or_else(|| self.state.queue.first().map(|q| q.label.clone()))
            .unwrap_or_else(|| "A job".into());
        let waiting = self.state.queue.iter().filter(|q| q.label != job).count();
        let asking = self.quit == Quit::Asking;
        let mut choice = None;
        let modal = egui::Modal::new(egui::Id::unique("quit-while-a-job-runs")).show(ctx, |ui| {
            ui.set_max_width(440.0);
            if asking {
                ui.heading("Quit Backstop?");
                ui.label(format!("{job} is running."));
                if waiting > 0 {
                    ui.label(format!("{waiting} more job(s) are waiting."));
                }
                ui.label(
                    RichText::new(
                        "Quitting now cancels it: nothing half-written is kept, and it is recorded as \
                         cancelled, not as a failure.",
                    )
                    .weak(),
                );
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Cancel the job and quit").clicked() {
                        choice = Some(Quit::Cancelling);
                    }
                    if ui.button("Keep working").clicked() {
                        choice = Some(Quit::Open);
                    }
                });
            } else {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!(
                        "Cancelling {job}… Backstop closes as soon as it has stopped."
                    ));
                });
            }
        });
        // Escape or a click beside the question keeps working.
        if asking && choice.is_none() && modal.should_close() {
            choice = Some(Quit::Open);
        }
        if let Some(choice) = choice {
            self.quit = choice;
        }
    }
}
