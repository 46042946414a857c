//! The Settings panel: the selected profile edited as a draft (Save and Revert appear only when it differs),
//! inline validation with the reason beside each field, app-wide settings, and adding or removing profiles.
//! The drafts themselves, and the checks that need only the typed text, are in `draft`.

mod draft;

pub use draft::{AppDraft, Draft, Edited, PathField, ServerDraft, SettingsDrafts};

use super::app::BackstopApp;
use super::dialogs::DialogPurpose;
use super::disk_checks::Form;
use crate::config::{DatabaseConfig, Location, Profile, ServerConfig, Settings};
use crate::engine::{Connection, ServerFacts};
use crate::jobs::ProfilePaths;
use crate::model::{EngineKind, Kind};
use crate::worker::JobRequest;
use egui::{Color32, RichText};
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
        })
    }
}

/// The rows of a server's connection fields, worded for its engine.
fn server_fields(
    ui: &mut egui::Ui,
    typed: &mut ServerDraft,
    facts: &ServerFacts,
    problem: &dyn Fn(&str) -> Option<String>,
) {
    field(ui, "Host", &mut typed.host, problem("host").as_ref(), None);
    field(ui, "Port", &mut typed.port, problem("port").as_ref(), None);
    field(ui, "User", &mut typed.user, problem("user").as_ref(), None);
    field(
        ui,
        "Database",
        &mut typed.dbname,
        problem("dbname").as_ref(),
        None,
    );
    let label = form_label(ui, facts.tls_label);
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

/// The fixed-width label that starts every form row (so the fields line up).
fn form_label(ui: &mut egui::Ui, text: &str) -> egui::Response {
    let width = label_width(ui);
    ui.allocate_ui_with_layout(
        egui::vec2(width, 20.0),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_width(width);
            ui.set_max_width(width);
            ui.add(egui::Label::new(text).wrap())
        },
    )
    .inner
}

/// The labels' column: 300 points, less in a narrow window (labels wrap then).
fn label_width(ui: &egui::Ui) -> f32 {
    (ui.available_width() * 0.32).clamp(150.0, 300.0)
}

/// A text field's width beside a label (and a button of about `button` points): 380 points, less in a narrow
/// window, so that the row's button stays on screen.
fn field_width(ui: &egui::Ui, button: f32) -> f32 {
    (ui.available_width() - button - 16.0).clamp(140.0, 380.0)
}

/// A field's problem in red under it, wrapped to the window.
fn problem_line(ui: &mut egui::Ui, problem: &str) {
    ui.add(egui::Label::new(RichText::new(problem).color(Color32::from_rgb(200, 60, 60))).wrap());
}

/// A masked password row.
fn password_field(ui: &mut egui::Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        let label = form_label(ui, label);
        let width = field_width(ui, 0.0);
        ui.add(
            egui::TextEdit::singleline(value)
                .password(true)
                .desired_width(width),
        )
        .labelled_by(label.id);
    });
}

/// One form row: a label, a text field labelled by it, an optional button, and the field's problem in red.
/// Returns whether the button was clicked.
fn field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    problem: Option<&String>,
    button: Option<&str>,
) -> bool {
    let mut clicked = false;
    ui.horizontal(|ui| {
        let label = form_label(ui, label);
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                let width = field_width(ui, if button.is_some() { 150.0 } else { 0.0 });
                ui.add(egui::TextEdit::singleline(value).desired_width(width))
                    .labelled_by(label.id);
                if let Some(text) = button {
                    clicked = ui.button(text).clicked();
                }
            });
            if let Some(problem) = problem {
                problem_line(ui, problem);
            }
        });
    });
    clicked
}

/// A multi-line form row: a label, the text labelled by it, and the field's problem in red below.
fn multiline_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    problem: Option<&String>,
    hint: &str,
) {
    ui.horizontal(|ui| {
        let label = form_label(ui, label);
        ui.vertical(|ui| {
            let width = field_width(ui, 0.0);
            ui.add(
                egui::TextEdit::multiline(value)
                    .desired_rows(3)
                    .desired_width(width)
                    .hint_text(hint),
            )
            .labelled_by(label.id);
            if let Some(problem) = problem {
                problem_line(ui, problem);
            }
        });
    });
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
        ui.vertical(|ui| {
            let d = &mut edited.draft;
            field(ui, "Name", &mut d.name, problems.get("name"), None);
            let facts = profile.database.family().connection().server();
            if let (Some(typed), Some(facts)) = (d.server.as_mut(), facts) {
                server_fields(ui, typed, &facts, &|key| problems.get(key).cloned());
                password_field(ui, "Password (leave empty to keep)", &mut d.new_password.0);
                let stored = profile
                    .database
                    .server()
                    .is_some_and(|cfg| cfg.has_password);
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(if stored {
                            "A password is stored (keyring or file)."
                        } else {
                            "No password stored."
                        })
                        .weak(),
                    );
                    if ui
                        .button("Test connection")
                        .on_hover_text("Connect with the saved settings and report")
                        .clicked()
                    {
                        self.submit(JobRequest::TestConnection {
                            profile: profile.name.clone(),
                        });
                    }
                });
            } else if field(
                ui,
                &format!("{} database", profile.database.family().label()),
                &mut d.database,
                problems.get("database"),
                Some("Choose database…"),
            ) {
                self.open_dialog(DialogPurpose::DatabaseFile);
            }
            let d = &mut edited.draft;
            if field(
                ui,
                "Files folder (optional)",
                &mut d.files,
                problems.get("files"),
                Some("Choose files folder…"),
            ) {
                self.open_dialog(DialogPurpose::FilesFolder);
            }
            let d = &mut edited.draft;
            multiline_field(
                ui,
                "Leave out of the files folder (one glob per line)",
                &mut d.exclude,
                problems.get("exclude"),
                "cache/**\n*.tmp",
            );
            let has_files = !d.files.trim().is_empty();
            ui.horizontal(|ui| {
                let label = form_label(ui, "Default backup kind");
                ui.add_enabled_ui(has_files, |ui| {
                    // Without a files folder every backup holds the database only.
                    let shown = if has_files {
                        d.default_kind.unwrap_or(Kind::Full)
                    } else {
                        Kind::Database
                    };
                    egui::ComboBox::from_id_salt("default-kind")
                        .selected_text(kind_label(shown))
                        .show_ui(ui, |ui| {
                            for kind in [Kind::Full, Kind::Database, Kind::Files] {
                                if ui
                                    .selectable_label(shown == kind, kind_label(kind))
                                    .clicked()
                                {
                                    d.default_kind = Some(kind);
                                }
                            }
                        })
                        .response
                        .labelled_by(label.id)
                        .on_disabled_hover_text(
                            "Without a files folder every backup holds the database only",
                        );
                });
            });
            let d = &mut edited.draft;
            if field(
                ui,
                "Storage folder",
                &mut d.storage,
                problems.get("storage"),
                Some("Choose storage folder…"),
            ) {
                self.open_dialog(DialogPurpose::StorageFolder);
            }
            let d = &mut edited.draft;
            field(
                ui,
                "Keep at most (backups)",
                &mut d.keep_last,
                problems.get("keep_last"),
                None,
            );
            field(
                ui,
                "Delete older than (days, 0 = never)",
                &mut d.max_age_days,
                problems.get("max_age_days"),
                None,
            );
            field(
                ui,
                "Also keep one per day for (days)",
                &mut d.keep_daily,
                problems.get("keep_daily"),
                None,
            );
            field(
                ui,
                "Also keep one per week for (weeks)",
                &mut d.keep_weekly,
                problems.get("keep_weekly"),
                None,
            );
            field(
                ui,
                "Also keep one per month for (months)",
                &mut d.keep_monthly,
                problems.get("keep_monthly"),
                None,
            );
            ui.checkbox(&mut d.auto_enabled, "Automatic backups");
            field(
                ui,
                "Every (hours)",
                &mut d.auto_hours,
                problems.get("auto_hours"),
                None,
            );
            field(
                ui,
                "Compression level (0-9)",
                &mut d.compression,
                problems.get("compression"),
                None,
            );
        });
        ui.separator();
        ui.heading("All profiles");
        ui.vertical(|ui| {
            let d = &mut app.draft;
            ui.checkbox(&mut d.notifications, "Desktop notifications");
            field(
                ui,
                "Warn when size or row count changes by more than (%)",
                &mut d.alert_percent,
                problems.get("alert_percent"),
                None,
            );
        });
        if edited.dirty() || app.dirty() {
            ui.horizontal(|ui| {
                let save = ui.add_enabled(problems.is_empty(), egui::Button::new("Save"));
                if !problems.is_empty() {
                    ui.label(
                        RichText::new("Fix the fields marked in red to save")
                            .color(Color32::from_rgb(200, 60, 60)),
                    );
                }
                if save.clicked() {
                    self.save_settings(&profile, &settings, &mut edited, &mut app);
                }
                if ui.button("Revert").clicked() {
                    edited.revert();
                    app.revert();
                }
            });
        }
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
            );
            if let Some(facts) = server {
                server_fields(ui, &mut f.server, &facts, &shown);
                password_field(ui, "Password (optional)", &mut f.password.0);
            } else if field(
                ui,
                &format!("Its {} database", crate::engine::family(f.engine).label()),
                &mut f.database,
                shown("database").as_ref(),
                Some("Choose file…"),
            ) {
                self.open_dialog(DialogPurpose::NewProfileDatabase);
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
