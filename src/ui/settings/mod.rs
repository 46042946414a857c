//! The Settings panel: the selected profile edited as a draft (Save and Revert appear only when it differs),
//! inline validation with the reason beside each field, app-wide settings, the switches that act at once ("On
//! this computer": start at login, the system timer, pause, closing), and adding or removing profiles.
//! The drafts themselves, and the checks that need only the typed text, are in `draft`.

mod computer;
mod destinations;
mod draft;
mod form;
mod sections;

pub use destinations::{DestForm, DestKind};
pub use draft::{AppDraft, Draft, Edited, PathField, ServerDraft, SettingsDrafts};

use super::app::BackstopApp;
use super::dialogs::DialogPurpose;
use super::disk_checks::Form;
use crate::config::{DatabaseConfig, Location, Profile, ServerConfig, Settings};
use crate::engine::{Connection, ServerFacts};
use crate::jobs::ProfilePaths;
use crate::model::{EngineKind, Kind};
use crate::worker::JobRequest;
use egui::RichText;
use form::{Note, field, form_label, password_field, path_field, problem_line};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The "add a profile" form.
#[derive(Debug, Clone)]
pub struct NewProfileForm {
    /// Name.
    pub name: String,
    /// The engine of the new profile's database.
    pub engine: EngineKind,
    /// Database file path (file engines).
    pub database: String,
    /// Connection fields (server engines), started from the engine's defaults.
    pub server: ServerDraft,
    /// Password (optional).
    pub password: crate::worker::Password,
}

impl Default for NewProfileForm {
    fn default() -> Self {
        NewProfileForm::of(EngineKind::Sqlite)
    }
}

impl NewProfileForm {
    /// An empty form for an engine, with its default port and TLS mode.
    fn of(engine: EngineKind) -> NewProfileForm {
        let server = match crate::engine::family(engine).connection() {
            Connection::Server(facts) => ServerDraft::of(&ServerConfig::new(&facts)),
            Connection::File => ServerDraft::default(),
        };
        NewProfileForm {
            name: String::new(),
            engine,
            database: String::new(),
            server,
            password: Default::default(),
        }
    }

    /// The profile the form describes, stored in `storage` unless the user changes it later.
    fn profile(&self, storage: PathBuf) -> Option<Profile> {
        let location = match crate::engine::family(self.engine).connection() {
            Connection::File => Location::File(PathBuf::from(self.database.trim())),
            Connection::Server(facts) => {
                let mut cfg = ServerConfig::new(&facts);
                self.server.apply(&mut cfg);
                Location::Server(cfg)
            }
        };
        Some(Profile {
            name: self.name.trim().to_string(),
            database: DatabaseConfig::new(self.engine, location)?,
            files_dir: None,
            exclude: Vec::new(),
            default_kind: None,
            storage_dir: storage,
            policy: Default::default(),
            encryption: None,
        })
    }
}

/// A server connection field: its label, its problem's key, and where the draft and the saved state hold it.
type ServerField = (
    &'static str,
    &'static str,
    fn(&mut ServerDraft) -> &mut String,
    fn(&ServerDraft) -> &String,
);

/// The rows of a server's connection fields, worded for its engine, each marked when it differs from `saved`.
pub(super) fn server_fields(
    ui: &mut egui::Ui,
    typed: &mut ServerDraft,
    saved: Option<&ServerDraft>,
    facts: &ServerFacts,
    problem: &dyn Fn(&str) -> Option<String>,
) {
    let fields: [ServerField; 4] = [
        ("Host", "host", |d| &mut d.host, |d| &d.host),
        ("Port", "port", |d| &mut d.port, |d| &d.port),
        ("User", "user", |d| &mut d.user, |d| &d.user),
        ("Database", "dbname", |d| &mut d.dbname, |d| &d.dbname),
    ];
    for (label, key, value, was) in fields {
        let changed = saved.map(was).filter(|was| *was != value(typed));
        field(
            ui,
            label,
            value(typed),
            problem(key).as_ref(),
            None,
            Note {
                changed: changed.map(String::as_str),
                help: None,
            },
        );
    }
    let changed = saved
        .map(|s| s.sslmode.as_str())
        .filter(|was| *was != typed.sslmode);
    let label = form_label(ui, facts.tls_label, changed);
    egui::ComboBox::from_id_salt(("tls-mode", facts.tls_label))
        .selected_text(typed.sslmode.clone())
        .show_ui(ui, |ui| {
            for mode in facts.tls_modes {
                ui.selectable_value(&mut typed.sslmode, (*mode).to_string(), *mode);
            }
        })
        .response
        .labelled_by(label.id);
}

/// What the Save button saves, in words: "Unsaved changes to profile shop (Retention) and to the settings of all
/// profiles (Notifications)".
fn unsaved_summary(name: &str, edited: &Edited<Draft>, app: &Edited<AppDraft>) -> String {
    let mut parts = Vec::new();
    let profile = edited.draft.changed_sections(&edited.saved);
    if !profile.is_empty() {
        parts.push(format!("to profile {name} ({})", profile.join(", ")));
    }
    if app.dirty() {
        parts.push("to the settings of all profiles (Notifications)".to_string());
    }
    format!("Unsaved changes {}", parts.join(" and "))
}

/// How a backup kind reads in the window.
pub(crate) fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Full => "Full (database and files folder)",
        Kind::Database => "Database only",
        Kind::Files => "Files folder only",
    }
}

impl BackstopApp {
    pub(crate) fn settings_panel(&mut self, ui: &mut egui::Ui) {
        let Some(profile) = self.profile().cloned() else {
            return;
        };
        let settings = self.state.snapshot.config.settings.clone();
        // This profile's draft (kept while other profiles are shown) and the app-wide one, following what was
        // saved; edited here and put back at the end of the frame.
        let mut edited = self.settings.profile(&profile).clone();
        self.settings.app.follow(AppDraft::of(&settings));
        let mut app = self.settings.app.clone();
        let mut problems = edited.draft.problems(&profile);
        problems.extend(app.draft.problems());
        // What only the disk can tell, from the disk-check thread (asked when the paths change).
        let disk = self.disk_checks.problems(
            Form::Settings,
            &ProfilePaths::of(&edited.draft.apply(&profile)),
        );
        for (field, problem) in disk.problems {
            problems.entry(field).or_insert(problem);
        }
        // One row whatever it holds: a note appearing must not move the ids of the fields below (their focus).
        ui.horizontal(|ui| {
            ui.heading(format!("Profile {}", profile.name));
            if disk.checking {
                ui.label(RichText::new("Checking its paths on the disk…").weak());
            }
        });
        // Save and Revert above the form, saying what they save; one row whatever it holds (as above).
        ui.horizontal_wrapped(|ui| {
            if edited.dirty() || app.dirty() {
                let save = ui.add_enabled(problems.is_empty(), egui::Button::new("Save"));
                if save.clicked() {
                    self.save_settings(&profile, &settings, &mut edited, &mut app);
                }
                if ui.button("Revert").clicked() {
                    edited.revert();
                    app.revert();
                }
                ui.add(egui::Label::new(unsaved_summary(&profile.name, &edited, &app)).wrap());
                if !problems.is_empty() {
                    problem_line(ui, "Fix the fields marked in red to save");
                }
            } else {
                ui.label(RichText::new("All changes are saved").weak());
            }
        });
        ui.add_space(4.0);
        let saved_name = edited.saved.name.clone();
        let note = Note::of(&edited.draft.name, &saved_name, None);
        // Indented as the sections' rows are, so that its field lines up with theirs.
        ui.horizontal(|ui| {
            ui.add_space(ui.spacing().indent);
            field(
                ui,
                "Name",
                &mut edited.draft.name,
                problems.get("name"),
                None,
                note,
            )
        });
        self.profile_sections(ui, &profile, &mut edited, &problems);
        self.copies_elsewhere(ui, &profile);
        sections::notifications(ui, &mut app, &problems);
        self.on_this_computer(ui);
        self.settings.profiles.insert(profile.name.clone(), edited);
        self.settings.app = app;
        if profile.database.is_server() {
            self.want_details(&profile);
            let copies = self
                .state
                .details
                .get(&profile.name)
                .map(|(_, d)| d.kept_copies.clone())
                .unwrap_or_default();
            if !copies.is_empty() {
                ui.separator();
                ui.heading("Copies kept by restores");
                ui.label(
                    RichText::new(
                        "Each restore keeps the database it replaced, until you delete it.",
                    )
                    .weak(),
                );
                for (name, bytes) in copies {
                    ui.horizontal(|ui| {
                        ui.label(format!("{name} ({})", super::state::human_size(bytes)));
                        if ui.button(format!("Delete {name}…")).clicked() {
                            self.drop_copy_confirm = Some((profile.name.clone(), name.clone()));
                        }
                    });
                }
            }
        }
        ui.separator();
        ui.heading("Add a profile");
        self.new_profile_form(ui);
        ui.separator();
        if ui
            .button(format!("Remove profile {}…", profile.name))
            .clicked()
        {
            self.remove_profile = Some((profile.name.clone(), false));
        }
    }

    /// Queues the save of `profile`'s draft (and of the app-wide draft, if it changed). The drafts stay as typed
    /// until the saved config shows them (a save that fails loses nothing); only the password is cleared, sent.
    fn save_settings(
        &mut self,
        profile: &Profile,
        settings: &Settings,
        edited: &mut Edited<Draft>,
        app: &mut Edited<AppDraft>,
    ) {
        let updated = edited.draft.apply(profile);
        if updated.name != profile.name {
            self.submit(JobRequest::RenameProfile {
                old: profile.name.clone(),
                new: updated.name.clone(),
            });
            // Shown once the rename landed.
            self.select_when_listed(&updated.name);
        }
        let password = std::mem::take(&mut edited.draft.new_password);
        let name = updated.name.clone();
        self.submit(JobRequest::SaveProfile {
            profile: Box::new(updated),
            settings: app.dirty().then(|| app.draft.edit(settings)),
        });
        if !password.0.is_empty() {
            self.submit(JobRequest::SetPassword {
                profile: name,
                password,
            });
        }
    }

    pub(crate) fn new_profile_form(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for kind in EngineKind::ALL {
                let family = crate::engine::family(*kind);
                let text = match family.connection() {
                    Connection::File => format!("{} file", family.label()),
                    Connection::Server(_) => format!("{} server", family.label()),
                };
                let chosen = self.new_profile.engine == *kind;
                if ui.selectable_label(chosen, text).clicked() && !chosen {
                    let name = std::mem::take(&mut self.new_profile.name);
                    self.new_profile = NewProfileForm::of(*kind);
                    self.new_profile.name = name;
                }
            }
        });
        let form = self.new_profile.clone();
        let storage = self.paths.default_storage(form.name.trim());
        let candidate = form.profile(storage);
        let mut problems: BTreeMap<&'static str, String> = candidate
            .as_ref()
            .map(|p| crate::jobs::typed_problems(p).into_iter().collect())
            .unwrap_or_default();
        // What only the disk can tell, from the disk-check thread (asked when the paths change).
        if let Some(candidate) = &candidate {
            let disk = self
                .disk_checks
                .problems(Form::NewProfile, &ProfilePaths::of(candidate));
            for (field, problem) in disk.problems {
                problems.entry(field).or_insert(problem);
            }
        }
        let server = crate::engine::family(form.engine).connection().server();
        if let Some(problem) = server.and(form.server.port_problem()) {
            problems.insert("port", problem);
        }
        // Say what is wrong only once the user started typing in that field.
        // (A field that is chosen rather than typed, the TLS mode, always shows its problem.)
        let typed = |key: &str| match key {
            "name" => !form.name.is_empty(),
            "database" => !form.database.is_empty(),
            "host" => !form.server.host.is_empty(),
            "port" => !form.server.port.is_empty(),
            "user" => !form.server.user.is_empty(),
            "dbname" => !form.server.dbname.is_empty(),
            _ => true,
        };
        let shown = |key: &str| problems.get(key).filter(|_| typed(key)).cloned();
        ui.vertical(|ui| {
            let f = &mut self.new_profile;
            field(
                ui,
                "New profile name",
                &mut f.name,
                shown("name").as_ref(),
                None,
                Note::default(),
            );
            if let Some(facts) = server {
                server_fields(ui, &mut f.server, None, &facts, &shown);
                password_field(
                    ui,
                    "Password (optional)",
                    &mut f.password.0,
                    Note::default(),
                );
            } else {
                let (choose, text) = path_field(
                    ui,
                    &format!("Its {} database", crate::engine::family(f.engine).label()),
                    &mut f.database,
                    shown("database").as_ref(),
                    Some("Choose file…"),
                    Note::default(),
                );
                if choose {
                    self.open_dialog(DialogPurpose::NewProfileDatabase);
                }
                self.path_field_fallback(ui, &DialogPurpose::NewProfileDatabase, &text);
            }
        });
        let ready = problems.is_empty() && candidate.is_some();
        if ui
            .add_enabled(ready, egui::Button::new("Add profile"))
            .clicked()
            && let Some(profile) = candidate
        {
            let password = Some(form.password.clone()).filter(|p| !p.0.is_empty());
            self.add_profile(profile, password);
            self.new_profile = NewProfileForm::default();
        }
    }
}
