//! The window: a profile picker, four panels, a job bar, toasts and banners, drag-and-drop (the scheduler and
//! quitting have files of their own).
//!
//! Widgets never change state while drawing: they submit [`JobRequest`]s to the worker, and once per frame
//! [`BackstopApp::logic`] drains the worker's events into [`AppState::apply`] in one place.

use super::dialogs::{DialogAnswer, DialogPurpose, Dialogs, NativeDialogs};
use super::disk_checks::{DiskChecks, HeldDiskChecks};
use super::settings::SettingsDrafts;
use super::state::{AppState, Effect, ToastKind};
use crate::config::{Paths, Profile};
use crate::jobs::{BackupRef, RestoreSpec};
use crate::model::Kind;
use crate::notify::{DesktopNotifier, Notifier};
use crate::worker::{JobRequest, Worker};
use egui::RichText;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

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
    pub(crate) const ALL: [Tab; 4] = [Tab::Settings, Tab::Statistics, Tab::Actions, Tab::History];

    pub(crate) fn label(self) -> &'static str {
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
    /// Where "On this computer" writes the autostart entry and the timer's units, and what they start (`None`:
    /// those switches are not offered).
    pub desktop: Option<crate::desktop::Places>,
}

impl AppOptions {
    /// The real parts: desktop notifications, native dialogs, the scheduler on.
    pub fn real(paths: Paths) -> Self {
        AppOptions {
            paths,
            notifier: Box::new(DesktopNotifier::start()),
            dialogs: Box::new(NativeDialogs),
            scheduler: true,
            desktop: crate::desktop::Places::from_env().ok(),
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

/// The Backstop window.
pub struct BackstopApp {
    /// Job results and catalog data.
    pub state: AppState,
    worker: Worker,
    pub(crate) paths: Paths,
    notifier: Box<dyn Notifier>,
    pub(crate) dialogs: Box<dyn Dialogs>,
    dialog_tx: Sender<DialogAnswer>,
    dialog_rx: Receiver<DialogAnswer>,
    pub(crate) scheduler: super::scheduler::Scheduler,
    /// Where the window is in quitting (Ctrl+Q or the close button while a job runs asks first).
    pub(crate) quit: super::quit::Quit,
    /// The profile being added in the window, whose settings open once it exists.
    pub(crate) adding: Option<super::first_backup::Adding>,
    /// The panel shown.
    pub tab: Tab,
    /// The profile picked at the top.
    pub selected: Option<String>,
    /// Every profile's Settings draft, and the app-wide one.
    pub settings: SettingsDrafts,
    /// The forms' disk checks, on a thread of their own.
    pub(crate) disk_checks: DiskChecks,
    /// A profile to select once the config lists it (one being renamed).
    select_when_listed: Option<String>,
    /// Whether the window had the focus in the last frame (getting it back looks at the disk again).
    focused: Option<bool>,
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
    /// About & Help.
    pub(crate) about: super::about::About,
    /// The profile each queued or running job works on, and how the status header says it ("Backing up").
    pub(crate) working: HashMap<u64, (String, &'static str)>,
    /// The dialog that could not open (no portal) and why: its typed path field says so and takes the cursor.
    pub(crate) no_dialog: Option<(DialogPurpose, String, bool)>,
    /// Where "On this computer" writes its files (see [`AppOptions::desktop`]).
    pub(crate) desktop_places: Option<crate::desktop::Places>,
    /// When the desktop state (autostart, timer) was last asked for.
    pub(crate) desktop_asked: Option<Instant>,
    /// The tray, hiding and showing, second `backstop`s and the import offer.
    pub(crate) desktop: super::desktop::Desktop,
}

impl BackstopApp {
    /// Builds the window's state and starts the worker thread.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        let ctx = cc.egui_ctx.clone();
        let repaint: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
        let disk_checks = DiskChecks::start(repaint.clone());
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
        let scheduler = super::scheduler::Scheduler::start(&options.paths, options.scheduler);
        let desktop = super::desktop::Desktop::headless(&options.paths);
        let mut app = BackstopApp {
            state: AppState::default(),
            worker,
            paths: options.paths,
            notifier: options.notifier,
            dialogs: options.dialogs,
            dialog_tx,
            dialog_rx,
            scheduler,
            quit: Default::default(),
            adding: None,
            tab: remembered.as_ref().map(|r| r.tab).unwrap_or(Tab::Actions),
            selected: remembered.and_then(|r| r.profile),
            settings: SettingsDrafts::default(),
            disk_checks,
            select_when_listed: None,
            focused: None,
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
            details_asked: HashMap::new(),
            drop_copy_confirm: None,
            kept_folder_confirm: None,
            kept_asked: None,
            show_open: None,
            compare: None,
            notifications_problem_logged: false,
            about: Default::default(),
            working: HashMap::new(),
            no_dialog: None,
            desktop_places: options.desktop,
            desktop_asked: None,
            desktop,
        };
        // Solid scroll bars, shown whenever something does not fit: at 800x600 a wide row (History's buttons) must
        // visibly scroll, not be cut off.
        cc.egui_ctx
            .all_styles_mut(|style| style.spacing.scroll = egui::style::ScrollStyle::solid());
        // BACKSTOP_THEME=light|dark starts in that appearance (screenshots); otherwise the saved choice, else the
        // system's.
        match std::env::var("BACKSTOP_THEME").as_deref() {
            Ok("light") => cc.egui_ctx.set_theme(egui::ThemePreference::Light),
            Ok("dark") => cc.egui_ctx.set_theme(egui::ThemePreference::Dark),
            _ => {}
        }
        if options.scheduler && !app.scheduler.enabled() {
            app.state.toast(
                ToastKind::Info,
                "Another Backstop window is open: automatic backups run there, not in this one.",
                Instant::now(),
            );
        }
        // Whether the system timer runs automatic backups decides what closing the window says (`close.rs`).
        let _ = app.desktop_job(crate::desktop::DesktopChange::Status);
        app
    }

    /// The Settings panel's draft of the selected profile (tests edit it as a user would by typing).
    pub fn settings_draft_mut(&mut self) -> &mut super::settings::Draft {
        let name = self.profile().map(|p| p.name.clone()).unwrap_or_default();
        &mut self.settings.profiles.entry(name).or_default().draft
    }

    /// The Settings panel's draft of the selected profile, as typed.
    pub fn settings_draft(&self) -> super::settings::Draft {
        self.profile()
            .and_then(|p| self.settings.profiles.get(&p.name))
            .map(|edited| edited.draft.clone())
            .unwrap_or_default()
    }

    /// Holds the forms' disk checks until the returned value is dropped, as a drive that does not answer would.
    pub fn hold_disk_checks(&self) -> HeldDiskChecks {
        self.disk_checks.hold()
    }

    /// How many times the Settings checks looked at storage folder `storage` on the disk (tests).
    pub fn disk_looks_at(&self, storage: &std::path::Path) -> u64 {
        self.disk_checks.looks_at(storage)
    }

    /// Selects `name` once the config lists it (a profile being renamed).
    pub(crate) fn select_when_listed(&mut self, name: &str) {
        self.select_when_listed = Some(name.to_string());
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
        self.scheduler.enabled()
    }

    /// Makes every waiting retry due at the next frame (tests: the waits themselves are tested in `failure`).
    pub fn make_retries_due(&mut self) {
        self.scheduler.make_retries_due(Instant::now());
    }

    /// Queues a job on the worker and shows it in the queue.
    pub fn submit(&mut self, request: JobRequest) -> u64 {
        let visible = request.is_visible();
        let subject = super::notifications::subject(&request);
        let working = super::status::working_on(&request, |id| {
            self.state
                .snapshot
                .backups
                .iter()
                .find(|b| b.id == id)
                .map(|b| b.profile.clone())
        });
        let ticket = self.worker.submit(request);
        self.state.subjects.insert(ticket.id, subject);
        if let Some(working) = working {
            // Tickets of jobs long done are forgotten; a few hundred entries at most.
            if self.working.len() > 256 {
                self.working.clear();
            }
            self.working.insert(ticket.id, working);
        }
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
    pub(crate) fn profile_names(&self) -> Vec<String> {
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
        let mut new_snapshot = false;
        while let Some(event) = self.worker.try_recv() {
            self.watch_adding(&event);
            self.watch_saving(&event);
            new_snapshot |= matches!(event, crate::worker::Event::Snapshot(_));
            for effect in self.state.apply(event, now) {
                self.perform(effect);
            }
        }
        // A job may have made or removed a folder, and the user may have fixed a path in another program while
        // the window was in the background: the forms look at the disk again then (and when a path changes).
        let focused = ctx.input(|i| i.viewport().focused);
        if new_snapshot || (focused == Some(true) && self.focused == Some(false)) {
            self.disk_checks.look_again();
        }
        self.focused = focused;
        self.disk_checks.poll();
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
        self.open_added_profile(now);
        // Keep the selection on an existing profile, once the worker said which exist: the profile remembered
        // from the last launch is kept until then.
        let names = self.profile_names();
        if let Some(wanted) = self
            .select_when_listed
            .take_if(|wanted| names.contains(wanted))
        {
            self.selected = Some(wanted);
        } else if self.state.running.is_none() && self.state.queue.is_empty() {
            // The rename failed: nothing to wait for.
            self.select_when_listed = None;
        }
        if self.state.snapshot_received && self.selected.as_ref().is_none_or(|s| !names.contains(s))
        {
            self.selected = names.first().cloned();
        }
        if new_snapshot {
            self.settings.keep_only(&names);
        }
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
            Effect::Open(path) => self.open_folder(&path),
        }
    }

    fn on_dialog(&mut self, answer: DialogAnswer) {
        if let Some(why) = answer.unavailable {
            let mut text = why;
            if let Some(first) = text.get(..1) {
                text = format!(
                    "{}{}",
                    first.to_uppercase(),
                    text.get(1..).unwrap_or_default()
                );
            }
            self.no_dialog = Some((
                answer.purpose,
                format!("{text}: type the path here instead."),
                true,
            ));
            return;
        }
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
                // The dialog answered: its typed fallback row is no longer needed.
                self.export_path.remove(&id);
                self.submit(JobRequest::Export { id, to: first_path });
            }
            DialogPurpose::DatabaseFile => self
                .settings_draft_mut()
                .set_path_field(super::settings::PathField::Database, first),
            DialogPurpose::FilesFolder => self
                .settings_draft_mut()
                .set_path_field(super::settings::PathField::Files, first),
            DialogPurpose::StorageFolder => self
                .settings_draft_mut()
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
    pub fn restore_into(
        &mut self,
        id: i64,
        into: Option<String>,
        validate_only: bool,
        safety_backup: bool,
        target_database: Option<String>,
        terminate_sessions: bool,
    ) -> u64 {
        let allow_other_profile = into.is_some();
        let from = self.copy_to_restore_from(id);
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
            from,
            unlock: None,
        }))
    }

    /// The destination to restore backup `id` from: None while its archive is here; else the first destination
    /// with a checked copy (a catalog rebuilt from a destination, an archive deleted here).
    pub fn copy_to_restore_from(&self, id: i64) -> Option<String> {
        if !self.state.snapshot.archives_absent.contains(&id) {
            return None;
        }
        let row = self.state.snapshot.backups.iter().find(|r| r.id == id)?;
        row.copies
            .iter()
            .find(|c| c.status == crate::catalog::CopyStatus::Copied)
            .map(|c| c.dest.clone())
    }
}

impl eframe::App for BackstopApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain(ctx);
        self.desktop_frame(ctx);
        self.handle_quit(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("top").show(ui, |ui| {
            self.top_bar(ui);
            ui.add_space(4.0);
            self.status_header(ui);
            self.banners(ui);
            ui.add_space(2.0);
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
                        Tab::Settings => {
                            self.first_backup_note(ui);
                            self.settings_panel(ui);
                        }
                        Tab::Statistics => self.statistics_panel(ui),
                        Tab::Actions => self.actions_panel(ui),
                        Tab::History => self.history_panel(ui),
                    }
                });
        });
        self.shortcuts(&ctx);
        self.about_window(&ctx);
        self.restore_window(&ctx);
        self.confirm_windows(&ctx);
        self.show_window(&ctx);
        self.compare_window(&ctx);
        self.toasts(&ctx);
        self.drag_and_drop(&ctx);
        self.import_offer_dialog(&ctx);
        self.close_dialog(&ctx);
        self.quit_dialog(&ctx);
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

/// Opens the window (what `backstop` with no subcommand does, when no window is open yet): `launch` says whether
/// it starts hidden in the tray and which file it offers for import.
pub fn run(paths: Paths, launch: super::desktop::Launch) -> Result<(), String> {
    paths.ensure().map_err(|e| e.to_string())?;
    // Bound before the window opens, so that a second `backstop` started meanwhile finds this one.
    let listener = match crate::instance::Instance::bind(&paths) {
        Ok(listener) => Some(listener),
        Err(e) => {
            eprintln!("note: a second Backstop will not find this window: {e}");
            None
        }
    };
    let icon = eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon-256.png")).ok();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Backstop")
        .with_app_id(crate::APP_ID)
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
            let mut app = BackstopApp::new(cc, AppOptions::real(paths));
            app.attach_desktop(&cc.egui_ctx, launch, listener);
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}

impl BackstopApp {
    /// After the typed path field of `purpose` was drawn (`field`): when that dialog could not open, the field takes
    /// the cursor once and a line under it says why; typing in it clears that.
    pub(crate) fn path_field_fallback(
        &mut self,
        ui: &mut egui::Ui,
        purpose: &DialogPurpose,
        field: &egui::Response,
    ) {
        let Some((which, text, focus)) = self.no_dialog.as_mut() else {
            return;
        };
        if which != purpose {
            return;
        }
        if field.changed() {
            self.no_dialog = None;
            return;
        }
        if *focus {
            field.request_focus();
            *focus = false;
        }
        ui.label(RichText::new(text.as_str()).color(ui.visuals().warn_fg_color));
    }
}
