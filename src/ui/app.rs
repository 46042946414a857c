//! The window: a profile picker, four panels, a job bar, toasts and banners, the scheduler, drag-and-drop.
//!
//! Widgets never change state while drawing: they submit [`JobRequest`]s to the worker, and once per frame
//! [`BackstopApp::logic`] drains the worker's events into [`AppState::apply`] in one place.

use super::dialogs::{DialogAnswer, DialogPurpose, Dialogs, NativeDialogs};
use super::settings::SettingsDraft;
use super::state::{AppState, Effect, ToastKind, human_size};
use crate::config::{Paths, Profile};
use crate::failure::{self, AUTOMATIC_RETRIES, Retry};
use crate::jobs::{BackupRef, RestoreSpec};
use crate::model::{Kind, Trigger};
use crate::notify::{DesktopNotifier, Notifier};
use crate::schedule;
use crate::worker::{JobRequest, Worker};
use chrono::Utc;
use egui::{Color32, RichText};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

/// The four panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    /// Profile fields and app settings.
    Settings,
    /// Numbers and the chart.
    Statistics,
    /// Back up, verify, prune, import, run due.
    Actions,
    /// Backups, restores and jobs.
    History,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Settings, Tab::Statistics, Tab::Actions, Tab::History];

    fn label(self) -> &'static str {
        match self {
            Tab::Settings => "Settings",
            Tab::Statistics => "Statistics",
            Tab::Actions => "Actions",
            Tab::History => "History",
        }
    }
}

/// What is remembered between launches (besides the window size, which eframe keeps).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Remembered {
    tab: Tab,
    profile: Option<String>,
}

const REMEMBERED_KEY: &str = "backstop";

/// How the window is put together; tests swap the notifier and dialogs for fakes and may turn the scheduler off.
pub struct AppOptions {
    /// Where state lives.
    pub paths: Paths,
    /// Desktop notifications.
    pub notifier: Box<dyn Notifier>,
    /// File dialogs.
    pub dialogs: Box<dyn Dialogs>,
    /// Whether this window runs automatic backups (at launch, every minute, after a clock jump).
    pub scheduler: bool,
}

impl AppOptions {
    /// The real parts: desktop notifications, native dialogs, the scheduler on.
    pub fn real(paths: Paths) -> Self {
        AppOptions {
            paths,
            notifier: Box::new(DesktopNotifier::start()),
            dialogs: Box::new(NativeDialogs),
            scheduler: true,
        }
    }
}

/// The restore dialog's inputs.
#[derive(Debug, Clone)]
pub struct RestoreDialog {
    /// Backup id.
    pub id: i64,
    /// Profile the backup belongs to.
    pub profile: String,
    /// The profile restored into: the backup's own unless the user picks another of the same engine.
    pub into: String,
    /// What the user typed to confirm.
    pub confirm: String,
    /// Take a safety backup first.
    pub safety: bool,
    /// Restore into a new database with this name instead (server profiles; empty: replace the profile's).
    pub to_database: String,
    /// End other sessions on the target before the swap.
    pub terminate_sessions: bool,
    /// "Restore chosen files instead": pick entries of the files folder and restore them into `destination`.
    pub chosen_files: bool,
    /// The backup's files folder, built once when the worker's inspection arrives (None until then).
    pub tree: Option<super::file_tree::FileTree>,
    /// The folder chosen files are restored into.
    pub destination: String,
    /// The ticket of the "Validate only" run whose verdict the dialog shows (in `AppState::awaited`).
    pub validation: Option<u64>,
}

/// Automatic-backup bookkeeping.
struct Scheduler {
    /// False when another window holds the scheduler lock.
    enabled: bool,
    /// Wall and monotonic time of the last check, to notice a wake from sleep.
    last_check: Option<(Instant, SystemTime)>,
    /// Whether the launch-time catch-up ran.
    launched: bool,
    /// The profile names at the last check: a new profile is checked at once.
    profiles_seen: Vec<String>,
    /// Retries of unreachable automatic backups: profile → (next try, attempts so far).
    retries: HashMap<String, (Instant, u32)>,
    /// Held while this window runs the scheduler.
    _lock: Option<File>,
}

/// The Backstop window.
pub struct BackstopApp {
    /// Job results and catalog data.
    pub state: AppState,
    worker: Worker,
    pub(crate) paths: Paths,
    notifier: Box<dyn Notifier>,
    dialogs: Box<dyn Dialogs>,
    dialog_tx: Sender<DialogAnswer>,
    dialog_rx: Receiver<DialogAnswer>,
    scheduler: Scheduler,
    /// The panel shown.
    pub tab: Tab,
    /// The profile picked at the top.
    pub selected: Option<String>,
    pub(crate) settings: SettingsDraft,
    pub(crate) new_profile: super::settings::NewProfileForm,
    pub(crate) remove_profile: Option<(String, bool)>,
    /// The open restore dialog.
    pub restore_dialog: Option<RestoreDialog>,
    pub(crate) delete_confirm: Option<i64>,
    pub(crate) prune_confirm_open: bool,
    /// The backup kind chosen in Actions, by profile (absent: the profile's default kind).
    pub(crate) backup_kind: HashMap<String, Kind>,
    pub(crate) import_path: String,
    pub(crate) export_path: HashMap<i64, String>,
    pub(crate) history_tab: super::history::HistoryTab,
    pub(crate) sort: super::history::Sort,
    notified_alerts: HashSet<String>,
    /// When each server profile's details were last asked for (at most once a minute).
    pub(crate) details_asked: HashMap<String, Instant>,
    pub(crate) drop_copy_confirm: Option<(String, String)>,
    /// A kept files folder waiting for the user's yes: (profile, folder).
    pub(crate) kept_folder_confirm: Option<(String, PathBuf)>,
    /// For which profile, and after which job, the kept copies were last asked for.
    pub(crate) kept_asked: Option<(String, Option<i64>)>,
    /// The backup whose Show window is open.
    pub(crate) show_open: Option<i64>,
    /// The open Compare window: a backup and what it is compared with.
    pub(crate) compare: Option<super::history::Compare>,
    notifications_problem_logged: bool,
}

impl BackstopApp {
    /// Builds the window's state and starts the worker thread.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        #[allow(
            clippy::panic,
            reason = "no window without its worker; eframe's creator cannot return an error, and the OS refusing a \
                      thread at start-up is not something the user's input can cause"
        )]
        let worker = match Worker::spawn(options.paths.clone(), repaint) {
            Ok(worker) => worker,
            Err(e) => panic!("Backstop cannot start its worker thread: {e}"),
        };
        let remembered: Option<Remembered> = cc
            .storage
            .and_then(|s| eframe::get_value(s, REMEMBERED_KEY));
        let (dialog_tx, dialog_rx) = channel();
        let scheduler_lock = if options.scheduler {
            take_scheduler_lock(&options.paths)
        } else {
            None
        };
        let mut app = BackstopApp {
            state: AppState::default(),
            worker,
            paths: options.paths,
            notifier: options.notifier,
            dialogs: options.dialogs,
            dialog_tx,
            dialog_rx,
            scheduler: Scheduler {
                enabled: options.scheduler && scheduler_lock.is_some(),
                last_check: None,
                launched: false,
                profiles_seen: Vec::new(),
                retries: HashMap::new(),
                _lock: scheduler_lock,
            },
            tab: remembered.as_ref().map(|r| r.tab).unwrap_or(Tab::Actions),
            selected: remembered.and_then(|r| r.profile),
            settings: SettingsDraft::default(),
            new_profile: Default::default(),
            remove_profile: None,
            restore_dialog: None,
            delete_confirm: None,
            prune_confirm_open: false,
            backup_kind: HashMap::new(),
            import_path: String::new(),
            export_path: HashMap::new(),
            history_tab: Default::default(),
            sort: Default::default(),
            notified_alerts: HashSet::new(),
            details_asked: HashMap::new(),
            drop_copy_confirm: None,
            kept_folder_confirm: None,
            kept_asked: None,
            show_open: None,
            compare: None,
            notifications_problem_logged: false,
        };
        if options.scheduler && !app.scheduler.enabled {
            app.state.toast(
                ToastKind::Info,
                "Another Backstop window is open: automatic backups run there, not in this one.",
                Instant::now(),
            );
        }
        app
    }

    /// The Settings panel's draft of the selected profile (tests edit it as a user would by typing).
    pub fn settings_draft_mut(&mut self) -> &mut super::settings::Draft {
        &mut self.settings.draft
    }

    /// The Settings panel's draft of the selected profile, as typed.
    pub fn settings_draft(&self) -> &super::settings::Draft {
        &self.settings.draft
    }

    /// Asks the worker for a server profile's details, at most once a minute.
    pub(crate) fn want_details(&mut self, profile: &Profile) {
        if !profile.database.is_server() {
            return;
        }
        let fresh = self
            .details_asked
            .get(&profile.name)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        if !fresh {
            self.details_asked
                .insert(profile.name.clone(), Instant::now());
            self.submit(JobRequest::Details {
                profile: profile.name.clone(),
            });
        }
    }

    /// Forgets when details were asked, so the next frame asks again (tests, and after a change).
    pub fn details_asked_clear(&mut self) {
        self.details_asked.clear();
    }

    /// Whether this window runs automatic backups.
    pub fn scheduler_enabled(&self) -> bool {
        self.scheduler.enabled
    }

    /// Makes every waiting retry due at the next frame (tests: the waits themselves are tested in `failure`).
    pub fn make_retries_due(&mut self) {
        let now = Instant::now();
        for (at, _) in self.scheduler.retries.values_mut() {
            *at = now;
        }
    }

    /// Queues a job on the worker and shows it in the queue.
    pub fn submit(&mut self, request: JobRequest) -> u64 {
        let visible = request.is_visible();
        let ticket = self.worker.submit(request);
        if visible {
            self.state.queued(&ticket);
        }
        ticket.id
    }

    /// Opens a file dialog; its answer arrives in a later frame.
    pub(crate) fn open_dialog(&self, purpose: DialogPurpose) {
        self.dialogs.open(purpose, self.dialog_tx.clone());
    }

    /// The names of all profiles, in config order.
    fn profile_names(&self) -> Vec<String> {
        self.state
            .snapshot
            .config
            .profiles
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// The selected profile, falling back to the first one.
    pub fn profile(&self) -> Option<&Profile> {
        let profiles = &self.state.snapshot.config.profiles;
        self.selected
            .as_ref()
            .and_then(|name| profiles.iter().find(|p| &p.name == name))
            .or_else(|| profiles.first())
    }

    /// Drains worker events and dialog answers, runs the scheduler: the one place state changes.
    fn drain(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        while let Some(event) = self.worker.try_recv() {
            for effect in self.state.apply(event, now) {
                self.perform(effect);
            }
        }
        while let Ok(answer) = self.dialog_rx.try_recv() {
            self.on_dialog(answer);
        }
        // The restore dialog's tree is built once, when the backup's entries arrive (they move into the tree).
        if let Some(dialog) = self.restore_dialog.as_mut()
            && dialog.tree.is_none()
            && let Some(inspection) = self.state.inspection.as_mut().filter(|i| i.id == dialog.id)
        {
            let entries = std::mem::take(&mut inspection.files);
            dialog.tree = Some(super::file_tree::FileTree::build(&entries));
        }
        if let Some(problem) = self.notifier.take_problem()
            && !self.notifications_problem_logged
        {
            self.notifications_problem_logged = true;
            self.state.session_log.push((ToastKind::Info, problem));
        }
        // Keep the selection on an existing profile.
        let names = self.profile_names();
        if self.selected.as_ref().is_none_or(|s| !names.contains(s)) {
            self.selected = names.first().cloned();
        }
        self.check_alerts();
        self.run_scheduler(now);
        self.state.expire_toasts(now, Duration::from_secs(8));
        // Wake up for the next scheduler minute and for toasts to expire, even with no input.
        ctx.request_repaint_after(Duration::from_secs(if self.state.toasts.is_empty() {
            30
        } else {
            1
        }));
    }

    fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Notify { summary, body } => {
                if self.state.snapshot.config.settings.notifications {
                    self.notifier.notify(&summary, &body);
                }
            }
        }
    }

    fn on_dialog(&mut self, answer: DialogAnswer) {
        if answer.paths.is_empty() {
            return;
        }
        let Some(first_path) = answer.paths.first().cloned() else {
            return;
        };
        let first = first_path.display().to_string();
        match answer.purpose {
            DialogPurpose::Import => self.import(answer.paths),
            DialogPurpose::Export { id, .. } => {
                self.submit(JobRequest::Export { id, to: first_path });
            }
            DialogPurpose::DatabaseFile => self
                .settings
                .set_path_field(super::settings::PathField::Database, first),
            DialogPurpose::FilesFolder => self
                .settings
                .set_path_field(super::settings::PathField::Files, first),
            DialogPurpose::StorageFolder => self
                .settings
                .set_path_field(super::settings::PathField::Storage, first),
            DialogPurpose::NewProfileDatabase => self.new_profile.database = first,
            DialogPurpose::RestoreDestination => {
                if let Some(dialog) = self.restore_dialog.as_mut() {
                    dialog.destination = first;
                }
            }
        }
    }

    /// Imports files into the selected profile (dialog, typed path or drag-and-drop).
    pub(crate) fn import(&mut self, files: Vec<PathBuf>) {
        match self.profile().map(|p| p.name.clone()) {
            Some(profile) => {
                self.submit(JobRequest::Import { files, profile });
            }
            None => self.state.toast(
                ToastKind::Error,
                "Create a profile first: imported archives belong to a profile",
                Instant::now(),
            ),
        }
    }

    /// Queues a restore of a backup (the dialog's Restore and Validate buttons, and Undo).
    pub(crate) fn restore(&mut self, id: i64, validate_only: bool, safety_backup: bool) {
        self.restore_with(id, validate_only, safety_backup, None, false);
    }

    /// Queues a restore with the server options of the restore dialog.
    pub(crate) fn restore_with(
        &mut self,
        id: i64,
        validate_only: bool,
        safety_backup: bool,
        target_database: Option<String>,
        terminate_sessions: bool,
    ) {
        self.restore_into(
            id,
            None,
            validate_only,
            safety_backup,
            target_database,
            terminate_sessions,
        );
    }

    /// A restore of backup `id` into profile `into` (None: the backup's own; another needs the user's consent,
    /// which the restore dialog's typed confirmation of that profile's name gives). Returns its ticket.
    pub(crate) fn restore_into(
        &mut self,
        id: i64,
        into: Option<String>,
        validate_only: bool,
        safety_backup: bool,
        target_database: Option<String>,
        terminate_sessions: bool,
    ) -> u64 {
        let allow_other_profile = into.is_some();
        self.submit(JobRequest::Restore(RestoreSpec {
            source: BackupRef::Id(id),
            profile: into,
            validate_only,
            safety_backup,
            target_database,
            terminate_sessions,
            only: Vec::new(),
            to: None,
            allow_other_profile,
        }))
    }

    fn check_alerts(&mut self) {
        let settings = self.state.snapshot.config.settings.clone();
        let mut fresh = Vec::new();
        for profile in &self.state.snapshot.config.profiles {
            let rows: Vec<_> = self
                .state
                .snapshot
                .backups
                .iter()
                .filter(|b| b.profile == profile.name)
                .cloned()
                .collect();
            for alert in crate::health::alerts(
                &rows,
                &profile.policy,
                settings.change_alert_percent,
                Utc::now(),
            ) {
                let key = format!("{}:{}", profile.name, alert.key);
                if self.notified_alerts.insert(key) {
                    fresh.push((profile.name.clone(), alert.text));
                }
            }
        }
        for (profile, text) in fresh {
            self.perform(Effect::Notify {
                summary: format!("Backstop: {profile} needs attention"),
                body: text,
            });
        }
    }

    /// Automatic backups: at launch (catch-up once), every minute, at once after the wall clock jumped
    /// (a wake from sleep), and retries with backoff when the database or storage was not reachable.
    fn run_scheduler(&mut self, now: Instant) {
        // Nothing to decide before the worker's first snapshot of the catalog arrived.
        if !self.scheduler.enabled || !self.state.snapshot_received {
            return;
        }
        let wall = SystemTime::now();
        let due_check = match self.scheduler.last_check {
            None => true,
            Some((mono, wall_then)) => {
                let mono_elapsed = now.duration_since(mono);
                let jumped =
                    schedule::clock_jumped(mono_elapsed, wall.duration_since(wall_then).ok());
                mono_elapsed >= Duration::from_secs(60) || jumped
            }
        };
        let names = self.profile_names();
        let due_check = due_check || names != self.scheduler.profiles_seen;
        // A renamed or removed profile's pending retry goes with it.
        self.scheduler.retries.retain(|p, _| names.contains(p));
        self.scheduler.profiles_seen = names;
        // Automatic backups that ended: a completed one ends its retries; a failure's kind decides the next try.
        for (profile, failure) in std::mem::take(&mut self.state.automatic_outcomes) {
            let Some(failure) = failure else {
                self.scheduler.retries.remove(&profile);
                continue;
            };
            let attempt = self.scheduler.retries.get(&profile).map_or(0, |r| r.1) + 1;
            match failure::retry_automatic(failure.kind, attempt) {
                Retry::After(wait) => {
                    self.scheduler
                        .retries
                        .insert(profile.clone(), (now + wait, attempt));
                    self.state.toast(
                        ToastKind::Info,
                        format!(
                            "{profile} is not reachable yet; the automatic backup will try again in {} s",
                            wait.as_secs()
                        ),
                        now,
                    );
                }
                Retry::GaveUp => {
                    self.state.toast(
                        ToastKind::Error,
                        format!(
                            "Automatic backup of {profile} gave up after {AUTOMATIC_RETRIES} retries: {}",
                            failure.message
                        ),
                        now,
                    );
                    self.scheduler.retries.remove(&profile);
                }
                Retry::Never => {
                    self.scheduler.retries.remove(&profile);
                }
            }
        }
        let retry_now: Vec<String> = self
            .scheduler
            .retries
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for profile in retry_now {
            if let Some(entry) = self.scheduler.retries.get_mut(&profile) {
                entry.0 = now + Duration::from_secs(24 * 3600);
            }
            self.queue_automatic(&profile, 0);
        }
        if !due_check {
            return;
        }
        self.scheduler.last_check = Some((now, wall));
        // Backups made by the CLI or a system timer (and their failures) show up within a minute.
        if self.state.running.is_none() && self.state.queue.is_empty() {
            self.submit(JobRequest::Refresh);
        }
        let launch = !self.scheduler.launched;
        self.scheduler.launched = true;
        let utc_now = Utc::now();
        let checks: Vec<(String, schedule::DueCheck)> = self
            .state
            .snapshot
            .config
            .profiles
            .iter()
            .map(|p| {
                let last = self
                    .state
                    .snapshot
                    .stats
                    .get(&p.name)
                    .and_then(|s| s.last_automatic_at);
                (
                    p.name.clone(),
                    schedule::check(
                        last,
                        p.policy.auto_enabled,
                        p.policy.auto_interval_hours,
                        utc_now,
                    ),
                )
            })
            .collect();
        for (profile, check) in checks {
            if !check.due || self.scheduler.retries.contains_key(&profile) {
                continue;
            }
            // Missed slots while the app was closed: the due one plus `missed` more; never on a first backup.
            let missed = if launch
                && self
                    .state
                    .snapshot
                    .stats
                    .get(&profile)
                    .and_then(|s| s.last_automatic_at)
                    .is_some()
            {
                check.missed + 1
            } else {
                0
            };
            self.queue_automatic(&profile, missed);
        }
    }

    fn queue_automatic(&mut self, profile: &str, missed: u32) {
        let request = JobRequest::Backup {
            profile: profile.to_string(),
            kind: None,
            trigger: Trigger::Automatic,
        };
        if self.state.is_pending(&request.label()) {
            return;
        }
        let ticket = self.submit(request);
        self.state.automatic.insert(ticket, profile.to_string());
        if missed > 0 {
            self.state
                .catch_up
                .insert(ticket, (profile.to_string(), missed));
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Backstop");
            ui.separator();
            let names: Vec<String> = self
                .state
                .snapshot
                .config
                .profiles
                .iter()
                .map(|p| p.name.clone())
                .collect();
            if !names.is_empty() {
                let current = self.profile().map(|p| p.name.clone()).unwrap_or_default();
                let label = ui.label("Profile:");
                egui::ComboBox::from_id_salt("profile-picker")
                    .selected_text(current.clone())
                    .show_ui(ui, |ui| {
                        for name in &names {
                            if ui.selectable_label(*name == current, name).clicked() {
                                self.selected = Some(name.clone());
                            }
                        }
                    })
                    .response
                    .labelled_by(label.id);
                if let Some(profile) = self.profile() {
                    ui.label(RichText::new(profile.database.describe()).weak());
                }
            }
        });
        if !self.state.snapshot.config.profiles.is_empty() {
            ui.horizontal(|ui| {
                for tab in Tab::ALL {
                    ui.selectable_value(&mut self.tab, tab, tab.label());
                }
            });
        }
    }

    fn banners(&mut self, ui: &mut egui::Ui) {
        let mut lines: Vec<(Color32, String)> = Vec::new();
        if let Some(error) = &self.state.snapshot.error {
            lines.push((Color32::from_rgb(200, 60, 60), error.clone()));
        }
        if let Some(profile) = self.profile() {
            let rows: Vec<_> = self
                .state
                .snapshot
                .backups
                .iter()
                .filter(|b| b.profile == profile.name)
                .cloned()
                .collect();
            let threshold = self.state.snapshot.config.settings.change_alert_percent;
            for alert in crate::health::alerts(&rows, &profile.policy, threshold, Utc::now()) {
                lines.push((Color32::from_rgb(190, 120, 0), alert.text));
            }
        }
        if !self.scheduler.enabled
            && self.scheduler._lock.is_none()
            && !self.state.snapshot.config.profiles.is_empty()
        {
            lines.push((
                Color32::from_rgb(90, 110, 160),
                "Automatic backups run in the other open Backstop window, not in this one.".into(),
            ));
        }
        for (color, text) in lines {
            egui::Frame::new()
                .fill(color.gamma_multiply(0.18))
                .inner_margin(6.0)
                .corner_radius(4.0)
                .show(ui, |ui| {
                    ui.label(RichText::new(text).color(color));
                });
        }
    }

    fn job_bar(&mut self, ui: &mut egui::Ui) {
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

    fn toasts(&mut self, ctx: &egui::Context) {
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

    fn drag_and_drop(&mut self, ctx: &egui::Context) {
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

    fn first_run(&mut self, ui: &mut egui::Ui) {
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

impl BackstopApp {
    /// SIGTERM, SIGHUP or SIGINT: cancel the running job and everything queued (each cleans up as a cancel from
    /// the job bar does), and close once the worker is idle, so that nothing is left half done.
    fn close_on_signal(&mut self, ctx: &egui::Context) {
        if crate::signals::received().is_none() {
            return;
        }
        if let Some(cancel) = self.state.running.as_ref().and_then(|r| r.cancel.as_ref()) {
            cancel.cancel();
        }
        for queued in &self.state.queue {
            queued.cancel.cancel();
        }
        if self.state.running.is_none() && self.state.queue.is_empty() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

fn take_scheduler_lock(paths: &Paths) -> Option<File> {
    paths.ensure().ok()?;
    let path = paths.state_dir.join("window.lock");
    let file = crate::fsutil::open_private(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        &path,
    )
    .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

impl eframe::App for BackstopApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain(ctx);
        self.close_on_signal(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("top").show(ui, |ui| {
            self.top_bar(ui);
            self.banners(ui);
        });
        egui::Panel::bottom("jobs").show(ui, |ui| {
            ui.add_space(4.0);
            self.job_bar(ui);
            ui.add_space(4.0);
        });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    if self.state.snapshot.config.profiles.is_empty() {
                        self.first_run(ui);
                        return;
                    }
                    match self.tab {
                        Tab::Settings => self.settings_panel(ui),
                        Tab::Statistics => self.statistics_panel(ui),
                        Tab::Actions => self.actions_panel(ui),
                        Tab::History => self.history_panel(ui),
                    }
                });
        });
        self.restore_window(&ctx);
        self.confirm_windows(&ctx);
        self.show_window(&ctx);
        self.compare_window(&ctx);
        self.toasts(&ctx);
        self.drag_and_drop(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(
            storage,
            REMEMBERED_KEY,
            &Remembered {
                tab: self.tab,
                profile: self.selected.clone(),
            },
        );
    }
}

/// Opens the window (what `backstop` with no subcommand does).
pub fn run(paths: Paths) -> Result<(), String> {
    paths.ensure().map_err(|e| e.to_string())?;
    let icon = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon-256.png")).ok();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Backstop")
        .with_app_id("io.github.backstop.Backstop")
        .with_inner_size([1200.0, 760.0])
        .with_min_inner_size([640.0, 420.0])
        .with_drag_and_drop(true);
    if let Some(icon) = icon {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        renderer: eframe::Renderer::Glow,
        persistence_path: Some(paths.state_dir.join("window")),
        ..Default::default()
    };
    eframe::run_native(
        "Backstop",
        options,
        Box::new(move |cc| {
            // A stop signal wakes the window, which then cancels its jobs and closes.
            let egui_ctx = cc.egui_ctx.clone();
            crate::signals::on_signal(move || egui_ctx.request_repaint());
            Ok(Box::new(BackstopApp::new(cc, AppOptions::real(paths))))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
