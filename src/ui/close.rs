//! The window's close button (Ctrl+Q always quits: `quit.rs`). With automatic backups on and a tray showing
//! Backstop, closing asks once whether to keep running in the tray (the answer is remembered in the config and can
//! be changed in Settings), then hides the window or quits as answered; the scheduler keeps running while hidden.
//! With no tray, closing quits, but the first time automatic backups are on (and the system timer does not run
//! them) the user is told that they then run only while Backstop is open or through the system timer, which the
//! note offers to turn on before quitting (remembered in `state/close-note-seen`).
//! A job running still asks first (`quit.rs`) whenever closing quits.

use super::app::BackstopApp;
use crate::config::Paths;
use crate::worker::{AppFlag, JobRequest};
use egui::{RichText, ViewportCommand};

/// The question the close button opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseQuestion {
    /// "Keep Backstop running in the tray?"
    Tray,
    /// No tray: automatic backups stop when Backstop closes.
    NoTray,
}

/// What the close button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseDecision {
    /// Hide the window in the tray.
    Hide,
    /// Hold the close and ask.
    Ask(CloseQuestion),
    /// Quit (asking first while a job runs).
    Quit,
}

/// What the close button does, from whether any automatic backup would run (`automatic_on`: a profile's schedule
/// on and not paused), whether a tray shows Backstop, the remembered answer (`close_to_tray`), whether the
/// no-tray note was shown before, and whether the system timer runs automatic backups with the window closed
/// (then quitting stops nothing, and the note would be wrong) (pure).
pub fn decide(
    automatic_on: bool,
    tray: bool,
    remembered: Option<bool>,
    told_no_tray: bool,
    timer_runs: bool,
) -> CloseDecision {
    match (automatic_on, tray, remembered) {
        (true, true, None) => CloseDecision::Ask(CloseQuestion::Tray),
        (true, true, Some(true)) => CloseDecision::Hide,
        (true, false, _) if !told_no_tray && !timer_runs => {
            CloseDecision::Ask(CloseQuestion::NoTray)
        }
        _ => CloseDecision::Quit,
    }
}

/// What "Keep Backstop running in the tray?" says about quitting: with the system timer running, quitting leaves
/// automatic backups to it rather than stopping them (pure).
pub fn tray_question_words(timer_runs: bool) -> &'static str {
    if timer_runs {
        "Backstop keeps watch from the tray; its icon shows whether your data is protected. Quitting closes it; \
         the system timer still runs automatic backups."
    } else {
        "Automatic backups keep running while Backstop is in the tray; its icon shows whether your data is \
         protected. Quitting stops them until Backstop is opened again."
    }
}

/// Where the no-tray note's "seen" mark lives.
fn told_file(paths: &Paths) -> std::path::PathBuf {
    paths.state_dir.join("close-note-seen")
}

/// Whether the no-tray note was shown before.
pub(crate) fn told_no_tray(paths: &Paths) -> bool {
    told_file(paths).exists()
}

impl BackstopApp {
    /// Whether closing would stop automatic backups: a profile's schedule is on and they are not paused.
    fn automatic_on(&self) -> bool {
        let config = &self.state.snapshot.config;
        !config.settings.automatic_paused && config.profiles.iter().any(|p| p.policy.auto_enabled)
    }

    /// The close button was pressed while the window is open: hides it or holds the close for a question (true,
    /// the close is cancelled), or leaves it to quitting (false).
    pub(crate) fn close_button(&mut self, ctx: &egui::Context) -> bool {
        let decision = decide(
            self.automatic_on(),
            self.desktop.tray.shown(),
            self.state.snapshot.config.settings.close_to_tray,
            self.desktop.told_no_tray,
            self.timer_runs(),
        );
        match decision {
            CloseDecision::Quit => false,
            CloseDecision::Hide => {
                ctx.send_viewport_cmd(ViewportCommand::CancelClose);
                self.hide_window(ctx);
                true
            }
            CloseDecision::Ask(question) => {
                ctx.send_viewport_cmd(ViewportCommand::CancelClose);
                self.desktop.closing = Some(question);
                true
            }
        }
    }

    /// Whether the system timer runs automatic backups while the window is closed (as last read).
    fn timer_runs(&self) -> bool {
        self.state
            .desktop
            .as_ref()
            .is_some_and(|d| d.timer.enabled && d.timer.active)
    }

    /// Whether the no-tray note can offer to turn the system timer on (this system has it, and it is off).
    fn timer_offered(&self) -> bool {
        self.desktop_places.is_some()
            && self
                .state
                .desktop
                .as_ref()
                .is_some_and(|d| !d.timer.unavailable && !d.timer.is_on())
    }

    /// Remembers what closing does (the worker saves it; quitting waits for the save).
    fn remember_close_answer(&mut self, keep_in_tray: bool) {
        let ticket = self.submit(JobRequest::SetFlag(AppFlag::CloseToTray(Some(
            keep_in_tray,
        ))));
        self.desktop.saving = Some(ticket);
    }

    /// Notes that the no-tray note was shown (a small mark in `state/`; failing to write it only means the note
    /// shows once more).
    fn remember_told(&mut self) {
        self.desktop.told_no_tray = true;
        let _ = crate::fsutil::atomic_write(&told_file(&self.paths), b"");
    }

    /// Forgets the save quitting waits for once the worker reports it done; when it failed (the system timer
    /// could not be turned on), the window stays open with the failure in view instead of quitting.
    pub(crate) fn watch_saving(&mut self, event: &crate::worker::Event) {
        if let crate::worker::Event::Finished { ticket, result, .. } = event
            && self.desktop.saving == Some(*ticket)
        {
            self.desktop.saving = None;
            if result.is_err()
                && matches!(
                    self.quit,
                    super::quit::Quit::Saving | super::quit::Quit::Asking
                )
            {
                self.quit = super::quit::Quit::Open;
            }
        }
    }

    /// The close question, when one is open.
    pub(crate) fn close_dialog(&mut self, ctx: &egui::Context) {
        let Some(question) = self.desktop.closing else {
            return;
        };
        let mut choice: Option<Option<bool>> = None;
        let mut use_timer = false;
        let timer_offered = self.timer_offered();
        let timer_runs = self.timer_runs();
        let modal = egui::Modal::new(egui::Id::unique("close-question")).show(ctx, |ui| {
            ui.set_max_width(460.0);
            match question {
                CloseQuestion::Tray => {
                    ui.heading("Keep Backstop running in the tray?");
                    ui.label(tray_question_words(timer_runs));
                    ui.label(
                        RichText::new(
                            "Backstop remembers your answer; change it in Settings, On this computer.",
                        )
                        .weak(),
                    );
                    ui.add_space(6.0);
                    ui.horizontal(|ui| {
                        if ui.button("Keep running in the tray").clicked() {
                            choice = Some(Some(true));
                        }
                        if ui.button("Quit").clicked() {
                            choice = Some(Some(false));
                        }
                        // Neither: the window stays open and nothing is remembered (as Escape).
                        if ui.button("Cancel").clicked() {
                            choice = Some(None);
                        }
                    });
                }
                CloseQuestion::NoTray => {
                    ui.heading("Quit Backstop?");
                    ui.label(
                        "Automatic backups run only while Backstop is open, or through the system timer \
                         (Settings, On this computer), which checks every 15 minutes for backups that are due, \
                         with the window closed, and catches up after sleep.",
                    );
                    ui.add_space(6.0);
                    ui.horizontal(|ui| {
                        if timer_offered && ui.button("Use the system timer, then quit").clicked() {
                            use_timer = true;
                            choice = Some(Some(false));
                        }
                        if ui.button("Quit").clicked() {
                            choice = Some(Some(false));
                        }
                        if ui.button("Keep open").clicked() {
                            choice = Some(Some(true));
                        }
                    });
                }
            }
        });
        // Escape or a click beside the question keeps the window open, and nothing is remembered.
        if choice.is_none() && modal.should_close() {
            choice = Some(None);
        }
        let Some(answer) = choice else {
            return;
        };
        self.desktop.closing = None;
        match (question, answer) {
            (_, None) => {}
            (CloseQuestion::Tray, Some(true)) => {
                self.remember_close_answer(true);
                self.hide_window(ctx);
            }
            (CloseQuestion::Tray, Some(false)) => {
                self.remember_close_answer(false);
                self.quit_requested(ctx);
            }
            (CloseQuestion::NoTray, Some(keep_open)) => {
                self.remember_told();
                if use_timer {
                    // Quitting waits for the timer to be on; should that fail, the window stays open and says why.
                    self.desktop.saving =
                        self.desktop_job(crate::desktop::DesktopChange::SystemTimer(true));
                }
                if !keep_open {
                    self.quit_requested(ctx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_close_button_does() {
        use CloseDecision::*;
        use CloseQuestion::*;
        let cases = [
            // automatic on, tray, remembered, told, timer runs
            ((true, true, None, false, false), Ask(Tray)),
            ((true, true, Some(true), false, false), Hide),
            ((true, true, Some(false), false, false), Quit),
            ((true, false, None, false, false), Ask(NoTray)),
            ((true, false, Some(true), false, false), Ask(NoTray)),
            ((true, false, None, true, false), Quit),
            ((true, false, None, false, true), Quit),
            ((true, true, Some(true), false, true), Hide),
            ((false, true, None, false, false), Quit),
            ((false, true, Some(true), false, false), Quit),
            ((false, false, None, false, false), Quit),
        ];
        for ((automatic, tray, remembered, told, timer), expected) in cases {
            assert_eq!(
                decide(automatic, tray, remembered, told, timer),
                expected,
                "automatic {automatic}, tray {tray}, remembered {remembered:?}, told {told}, timer {timer}"
            );
        }
    }

    /// With the system timer running, the tray question never says that quitting stops automatic backups.
    #[test]
    fn the_tray_question_knows_the_timer() {
        assert!(tray_question_words(false).contains("Quitting stops them"));
        assert!(!tray_question_words(true).contains("stops"));
        assert!(
            tray_question_words(true).contains("the system timer still runs automatic backups")
        );
    }
}
