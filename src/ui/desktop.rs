//! The window's place on the desktop: shown or hidden in the tray, brought forward when a second `backstop`
//! starts (`crate::instance`), the tray's menu carried out, and a file given on the command line offered for import.
//!
//! Requests from the tray and from a second `backstop` arrive over channels (their threads request a repaint);
//! [`BackstopApp::desktop_frame`] applies them once a frame from `logic()`, which eframe runs even while the window
//! is hidden, so the scheduler keeps working in the tray.

use super::app::BackstopApp;
use super::tray::{Tray, TrayEvent, TrayView};
use crate::config::Paths;
use crate::instance::{self, Request};
use crate::worker::{AppFlag, JobRequest};
use egui::{RichText, ViewportCommand};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// How long a window started with `--hidden` waits for the tray before it shows itself (otherwise nobody could
/// reach it).
pub const TRAY_WAIT: Duration = Duration::from_secs(5);

/// How `backstop` was started (the command line's `--hidden` and `FILE`).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Start hidden in the tray (only where a tray answers).
    pub hidden: bool,
    /// A file to offer for import.
    pub file: Option<PathBuf>,
}

/// The window's desktop state.
pub struct Desktop {
    /// The tray icon (or none).
    pub(crate) tray: Tray,
    /// Whether the window is hidden in the tray.
    pub(crate) hidden: bool,
    /// Requests from second `backstop`s.
    requests: Option<Receiver<Request>>,
    /// Keeps `state/instance.json` while the window runs.
    served: Option<instance::Served>,
    /// A file offered for import, waiting for the user's answer.
    pub(crate) offer: Option<PathBuf>,
    /// The close question open, if any.
    pub(crate) closing: Option<super::close::CloseQuestion>,
    /// Whether the user was told once that automatic backups stop when the window closes (no tray).
    pub(crate) told_no_tray: bool,
    /// A remembered answer the worker is saving: quitting waits for it.
    pub(crate) saving: Option<u64>,
    /// Frames left in which a window started hidden hides itself again: eframe shows every window after its first
    /// painted frame, whatever the viewport builder said.
    hide_frames: u8,
}

impl Desktop {
    /// A window with no tray and no instance listener (what the headless tests get).
    pub(crate) fn headless(paths: &Paths) -> Desktop {
        Desktop {
            tray: Tray::none(false),
            hidden: false,
            requests: None,
            served: None,
            offer: None,
            closing: None,
            told_no_tray: super::close::told_no_tray(paths),
            saving: None,
            hide_frames: 0,
        }
    }
}

impl BackstopApp {
    /// The real desktop parts: the tray, the listener for second `backstop`s (already bound, so that one started
    /// meanwhile waits for this window rather than opening another) and the launch options.
    pub fn attach_desktop(
        &mut self,
        ctx: &egui::Context,
        launch: Launch,
        listener: Option<instance::Instance>,
    ) {
        let repaint_ctx = ctx.clone();
        self.desktop.tray = Tray::start(std::sync::Arc::new(move || repaint_ctx.request_repaint()));
        self.desktop.hidden = launch.hidden;
        self.desktop.hide_frames = if launch.hidden { 3 } else { 0 };
        self.desktop.offer = launch.file;
        if let Some(listener) = listener {
            let (tx, rx) = std::sync::mpsc::channel();
            let wake = ctx.clone();
            match listener.serve(move |request| {
                let _ = tx.send(request);
                wake.request_repaint();
            }) {
                Ok(served) => {
                    self.desktop.requests = Some(rx);
                    self.desktop.served = Some(served);
                }
                Err(e) => self.state.session_log.push((
                    super::state::ToastKind::Info,
                    format!("A second Backstop cannot reach this window: {e}"),
                )),
            }
        }
    }

    /// Pretends the desktop has a tray (`true`) or has none: the headless tests of the close question.
    pub fn pretend_tray(&mut self, present: bool) {
        self.desktop.tray = Tray::none(present);
    }

    /// Whether the window is hidden in the tray.
    pub fn hidden_in_tray(&self) -> bool {
        self.desktop.hidden
    }

    /// The file offered for import, while the offer is open.
    pub fn import_offer(&self) -> Option<&std::path::Path> {
        self.desktop.offer.as_deref()
    }

    /// Offers `file` for import, as `backstop FILE` does (tests).
    pub fn offer_import(&mut self, file: PathBuf) {
        self.desktop.offer = Some(file);
    }

    /// Makes the window visible, unminimised and focused.
    pub(crate) fn bring_forward(&mut self, ctx: &egui::Context) {
        self.desktop.hidden = false;
        ctx.send_viewport_cmd(ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(ViewportCommand::Focus);
    }

    /// Hides the window in the tray; `logic()` and the scheduler keep running.
    pub(crate) fn hide_window(&mut self, ctx: &egui::Context) {
        self.desktop.hidden = true;
        ctx.send_viewport_cmd(ViewportCommand::Visible(false));
    }

    /// Once a frame, from `logic()`: second `backstop`s, the tray's menu, and what the tray shows.
    pub(crate) fn desktop_frame(&mut self, ctx: &egui::Context) {
        let requests: Vec<Request> = self
            .desktop
            .requests
            .as_ref()
            .map(|rx| rx.try_iter().collect())
            .unwrap_or_default();
        for request in requests {
            self.bring_forward(ctx);
            if let Request::Open(file) = request {
                self.desktop.offer = Some(file);
            }
        }
        for event in self.desktop.tray.poll() {
            match event {
                TrayEvent::Open => self.bring_forward(ctx),
                TrayEvent::BackUp(profile) => {
                    let found = self
                        .state
                        .snapshot
                        .config
                        .profiles
                        .iter()
                        .find(|p| p.name == profile)
                        .cloned();
                    if let Some(found) = found {
                        self.submit(self.backup_now_request(&found));
                    }
                }
                TrayEvent::Pause(paused) => {
                    self.submit(JobRequest::SetFlag(AppFlag::AutomaticPaused(paused)));
                }
                TrayEvent::Quit => self.quit_requested(ctx),
                TrayEvent::Ready
                | TrayEvent::HostBack
                | TrayEvent::Unavailable(_)
                | TrayEvent::HostGone => {}
            }
        }
        if self.desktop.hidden && self.desktop.hide_frames > 0 {
            self.desktop.hide_frames -= 1;
            ctx.send_viewport_cmd(ViewportCommand::Visible(false));
            ctx.request_repaint();
        }
        // A hidden window with no tray to bring it back shows itself.
        if let Some(since) = self.desktop.tray.starting_since()
            && since.elapsed() >= TRAY_WAIT
        {
            self.desktop
                .tray
                .give_up("the desktop's tray did not answer in time");
        }
        if self.desktop.hidden
            && !self.desktop.tray.shown()
            && self.desktop.tray.starting_since().is_none()
        {
            self.bring_forward(ctx);
        }
        if self.desktop.hidden && self.desktop.tray.starting_since().is_some() {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
        if self.desktop.tray.wants_views() && self.state.snapshot_received {
            let view = self.tray_view();
            self.desktop.tray.show(view);
        }
    }

    /// What the tray shows now: every profile's state summed up, the profiles, whether automatic backups pause.
    fn tray_view(&self) -> TrayView {
        let config = &self.state.snapshot.config;
        let statuses: Vec<(String, crate::status::ProfileStatus)> = config
            .profiles
            .iter()
            .map(|p| (p.name.clone(), self.status_of(p)))
            .collect();
        let paused = config.settings.automatic_paused;
        TrayView {
            overall: crate::status::overall(&statuses, paused),
            profiles: config.profiles.iter().map(|p| p.name.clone()).collect(),
            paused,
        }
    }

    /// The offer of a file given on the command line (or by a second `backstop`): import it into a profile, or not.
    pub(crate) fn import_offer_dialog(&mut self, ctx: &egui::Context) {
        let Some(file) = self.desktop.offer.clone() else {
            return;
        };
        if !self.state.snapshot_received {
            return;
        }
        let names = self.profile_names();
        let mut selected = self.profile().map(|p| p.name.clone());
        let mut answer = None;
        let modal = egui::Modal::new(egui::Id::unique("import-offer")).show(ctx, |ui| {
            ui.set_max_width(480.0);
            ui.heading("Import this file?");
            ui.add(egui::Label::new(RichText::new(file.display().to_string()).monospace()).wrap());
            ui.add_space(6.0);
            if names.is_empty() {
                ui.label(
                    "Create a profile first: imported backups belong to a profile. Then drop the file on the \
                     window, or use Import… in Actions.",
                );
                if ui.button("Close").clicked() {
                    answer = Some(false);
                }
                return;
            }
            if names.len() > 1 {
                ui.horizontal(|ui| {
                    ui.label("Into profile:");
                    egui::ComboBox::from_id_salt("import-offer-profile")
                        .selected_text(selected.clone().unwrap_or_default())
                        .show_ui(ui, |ui| {
                            for name in &names {
                                ui.selectable_value(&mut selected, Some(name.clone()), name);
                            }
                        });
                });
            } else if let Some(name) = &selected {
                ui.label(format!("It becomes an uploaded backup of {name}."));
            }
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button("Import").clicked() {
                    answer = Some(true);
                }
                if ui.button("Not now").clicked() {
                    answer = Some(false);
                }
            });
        });
        if selected != self.profile().map(|p| p.name.clone()) {
            self.selected = selected;
        }
        if answer.is_none() && modal.should_close() {
            answer = Some(false);
        }
        match answer {
            Some(true) => {
                self.desktop.offer = None;
                self.import(vec![file]);
            }
            Some(false) => self.desktop.offer = None,
            None => {}
        }
    }
}
