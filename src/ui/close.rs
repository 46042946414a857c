//! The window's close button (Ctrl+Q always quits: `quit.rs`). With automatic backups on and a tray showing
//! Backstop, closing asks once whether to keep running in the tray (the answer is remembered in the config and can
//! be changed in Settings), then hides the window or quits as answered; the scheduler keeps running while hidden.
//! With no tray, closing quits, but the first time automatic backups are on the user is told that they then run
//! only while Backstop is open or through the system scheduler (remembered in `state/close-note-seen`).
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
/// on and not paused), whether a tray shows Backstop, the remembered answer (`close_to_tray`) and whether the
/// no-tray note was shown before (pure).
pub fn decide(
    automatic_on: bool,
    tray: bool,
    remembered: Option<bool>,
    told_no_tray: bool,
) -> CloseDecision {
    match (automatic_on, tray, remembered) {
        (true, true, None) => CloseDecision::Ask(CloseQuestion::Tray),
        (true, true, Some(true)) => CloseDecision::Hide,
        (true, false, _) if !told_no_tray => CloseDecision::Ask(CloseQuestion::NoTray),
        _ => CloseDecision::Quit,
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

    /// Forgets the save quitting waits for once the worker reports it done.
    pub(crate) fn watch_saving(&mut self, event: &crate::worker::Event) {
        if let crate::worker::Event::Finished { ticket, .. } = event
            && self.desktop.saving == Some(*ticket)
        {
            self.desktop.saving = None;
        }
    }

    /// The close question, when one is open.
    pub(crate) fn close_dialog(&mut self, ctx: &egui::Context) {
        let Some(question) = self.desktop.closing else {
            return;
        };
        let mut choice: Option<Option<bool>> = None;
        let modal = egui::Modal::new(egui::Id::unique("close-question")).show(ctx, |ui| {
            ui.set_max_width(460.0);
            match question {
                CloseQuestion::Tray => {
                    ui.heading("Keep Backstop running in the tray?");
                    ui.label(
                        "Automatic backups keep running while Backstop is in the tray; its icon shows whether \
                         your data is protected. Quitting stops them until Backstop is opened again.",
                    );
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
                    });
                }
                CloseQuestion::NoTray => {
                    ui.heading("Quit Backstop?");
                    ui.label(
                        "Automatic backups run only while Backstop is open, or through the system scheduler \
                         (Settings, On this computer).",
                    );
                    ui.add_space(6.0);
                    ui.horizontal(|ui| {
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
            // automatic on, tray, remembered, told
            ((true, true, None, false), Ask(Tray)),
            ((true, true, Some(true), false), Hide),
            ((true, true, Some(false), false), Quit),
            ((true, false, None, false), Ask(NoTray)),
            ((true, false, Some(true), false), Ask(NoTray)),
            ((true, false, None, true), Quit),
            ((false, true, None, false), Quit),
            ((false, true, Some(true), false), Quit),
            ((false, false, None, false), Quit),
        ];
        for ((automatic, tray, remembered, told), expected) in cases {
            assert_eq!(
                decide(automatic, tray, remembered, told),
                expected,
                "automatic {automatic}, tray {tray}, remembered {remembered:?}, told {told}"
            );
        }
    }
}
