//! The Settings panel: the selected profile edited as a draft (Save and Revert appear only when it differs),
//! inline validation with the reason beside each field, app-wide settings, and adding or removing profiles.

use super::app::BackstopApp;
use super::dialogs::DialogPurpose;
use crate::config::{Config, DatabaseConfig, Location, Profile, ServerConfig, Settings};
use crate::engine::{Connection, ServerFacts};
use crate::model::{EngineKind, Kind, Policy};
use crate::worker::JobRequest;
use egui::{Color32, RichText};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which path field a dialog fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathField {
    /// The SQLite database file.
    Database,
    /// The files folder.
    Files,
    /// The storage folder.
    Storage,
}

/// The editable text of one profile and the app settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// Profile name.
    pub name: String,
    /// SQLite database path.
    pub database: String,
    /// Files folder (empty: none).
    pub files: String,
    /// Exclude globs, one per line.
    pub exclude: String,
    /// What a backup holds when no kind is asked for (None: full; used only with a files folder).
    pub default_kind: Option<Kind>,
    /// Storage folder.
    pub storage: String,
    /// Policy fields as typed.
    pub keep_last: String,
    /// Max age in days.
    pub max_age_days: String,
    /// Daily, weekly, monthly keeps.
    pub keep_daily: String,
    /// Weekly keeps.
    pub keep_weekly: String,
    /// Monthly keeps.
    pub keep_monthly: String,
    /// Automatic backups on.
    pub auto_enabled: bool,
    /// Interval in hours.
    pub auto_hours: String,
    /// Deflate level.
    pub compression: String,
    /// Desktop notifications on.
    pub notifications: bool,
    /// Change alert threshold (%).
    pub alert_percent: String,
    /// Connection fields, for a server profile.
    pub server: Option<ServerDraft>,
    /// A new password typed in the masked field (empty: keep the stored one).
    pub new_password: crate::worker::Password,
}

/// The connection fields of a server profile, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerDraft {
    /// Host.
    pub host: String,
    /// Port.
    pub port: String,
    /// Role.
    pub user: String,
    /// Database name.
    pub dbname: String,
    /// TLS mode, in the engine's words.
    pub sslmode: String,
}

impl ServerDraft {
    /// The fields of a saved server config.
    fn of(cfg: &ServerConfig) -> ServerDraft {
        ServerDraft {
            host: cfg.host.clone(),
            port: cfg.port.to_string(),
            user: cfg.user.clone(),
            dbname: cfg.dbname.clone(),
            sslmode: cfg.sslmode.clone(),
        }
    }

    /// Puts the typed fields into a server config (a port that is not a number keeps the old one: the form's own
    /// check names it).
    fn apply(&self, cfg: &mut ServerConfig) {
        cfg.host = self.host.trim().to_string();
        cfg.port = self.port.trim().parse().unwrap_or(cfg.port);
        cfg.user = self.user.trim().to_string();
        cfg.dbname = self.dbname.trim().to_string();
        cfg.sslmode = self.sslmode.trim().to_string();
    }

    /// Why the typed port is not a port, if it is not.
    fn port_problem(&self) -> Option<String> {
        match self.port.trim().parse::<u16>() {
            Ok(p) if p > 0 => None,
            _ => Some("must be a port number (1-65535)".into()),
        }
    }
}

impl Draft {
    /// The draft of a saved profile and settings.
    pub fn of(profile: &Profile, settings: &Settings) -> Draft {
        let database = profile
            .database
            .file()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        let server = profile.database.server().map(ServerDraft::of);
        let p = &profile.policy;
        Draft {
            name: profile.name.clone(),
            database,
            server,
            new_password: Default::default(),
            files: profile
                .files_dir
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            exclude: profile.exclude.join("\n"),
            default_kind: profile.default_kind,
            storage: profile.storage_dir.display().to_string(),
            keep_last: p.keep_last.to_string(),
            max_age_days: p.max_age_days.to_string(),
            keep_daily: p.keep_daily.to_string(),
            keep_weekly: p.keep_weekly.to_string(),
            keep_monthly: p.keep_monthly.to_string(),
            auto_enabled: p.auto_enabled,
            auto_hours: p.auto_interval_hours.to_string(),
            compression: p.compression_level.to_string(),
            notifications: settings.notifications,
            alert_percent: settings.change_alert_percent.to_string(),
        }
    }

    /// Field → why it is not acceptable, for the draft of `profile`. Empty when the draft can be saved. The
    /// numbers are checked as typed; the rest by the one check `profile add`/`edit` use.
    pub fn problems(&self, profile: &Profile) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        // The same ranges as the config file's and the CLI flags' (one table, in `model` and `config`).
        let number = |text: &str, range: crate::model::NumberRange| -> Result<u64, String> {
            match text.trim().parse::<u64>() {
                Ok(n) if n < range.min => Err(format!("must be at least {}", range.min)),
                Ok(n) if n > range.max => Err(format!("must be at most {}", range.max)),
                Ok(n) => Ok(n),
                Err(_) => Err("must be a whole number".into()),
            }
        };
        for (field, text, range) in [
            ("keep_last", &self.keep_last, Policy::KEEP_LAST),
            ("max_age_days", &self.max_age_days, Policy::MAX_AGE_DAYS),
            ("keep_daily", &self.keep_daily, Policy::KEEP_DAILY),
            ("keep_weekly", &self.keep_weekly, Policy::KEEP_WEEKLY),
            ("keep_monthly", &self.keep_monthly, Policy::KEEP_MONTHLY),
            ("auto_hours", &self.auto_hours, Policy::AUTO_INTERVAL_HOURS),
            ("compression", &self.compression, Policy::COMPRESSION_LEVEL),
            (
                "alert_percent",
                &self.alert_percent,
                Settings::CHANGE_ALERT_PERCENT,
            ),
        ] {
            if let Err(e) = number(text, range) {
                out.insert(field, e);
            }
        }
        if let Some(problem) = self.server.as_ref().and_then(ServerDraft::port_problem) {
            out.insert("port", problem);
        }
        let (candidate, _) = self.apply(profile, &Settings::default());
        for (field, problem) in crate::jobs::profile_problems(&candidate) {
            // The policy's numbers were checked as typed above.
            if field != "policy" {
                out.entry(field).or_insert(problem);
            }
        }
        out
    }

    /// The exclude patterns typed, one per line, blank lines left out.
    pub fn exclude_patterns(&self) -> Vec<String> {
        self.exclude
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The profile and settings this draft describes (call only when `problems()` is empty).
    pub fn apply(&self, profile: &Profile, settings: &Settings) -> (Profile, Settings) {
        let n = |text: &str, default: u32| text.trim().parse::<u32>().unwrap_or(default);
        let mut profile = profile.clone();
        profile.name = self.name.trim().to_string();
        match (&self.server, profile.database.server_mut()) {
            (Some(typed), Some(cfg)) => typed.apply(cfg),
            _ => {
                let kind = profile.database.engine();
                let file = Location::File(PathBuf::from(self.database.trim()));
                if let Some(database) = DatabaseConfig::new(kind, file) {
                    profile.database = database;
                }
            }
        }
        profile.files_dir =
            (!self.files.trim().is_empty()).then(|| PathBuf::from(self.files.trim()));
        profile.exclude = self.exclude_patterns();
        // Without a files folder every backup is a database backup: the stored choice is kept for later.
        if profile.files_dir.is_some() {
            profile.default_kind = self.default_kind;
        }
        profile.storage_dir = PathBuf::from(self.storage.trim());
        let p = &mut profile.policy;
        p.keep_last = n(&self.keep_last, p.keep_last);
        p.max_age_days = n(&self.max_age_days, p.max_age_days);
        p.keep_daily = n(&self.keep_daily, p.keep_daily);
        p.keep_weekly = n(&self.keep_weekly, p.keep_weekly);
        p.keep_monthly = n(&self.keep_monthly, p.keep_monthly);
        p.auto_enabled = self.auto_enabled;
        p.auto_interval_hours = n(&self.auto_hours, p.auto_interval_hours);
        p.compression_level = n(&self.compression, p.compression_level);
        let mut settings = settings.clone();
        settings.notifications = self.notifications;
        settings.change_alert_percent = n(&self.alert_percent, settings.change_alert_percent);
        (profile, settings)
    }
}

/// The draft being edited, and what it started from.
#[derive(Debug, Clone, Default)]
pub struct SettingsDraft {
    /// The profile the draft belongs to.
    pub profile: Option<String>,
    /// The saved state, as a draft.
    pub saved: Draft,
    /// What the user typed.
    pub draft: Draft,
}

impl SettingsDraft {
    /// Fills a path field from a dialog answer.
    pub fn set_path_field(&mut self, field: PathField, value: String) {
        match field {
            PathField::Database => self.draft.database = value,
            PathField::Files => self.draft.files = value,
            PathField::Storage => self.draft.storage = value,
        }
    }

    /// Whether the user changed anything.
    pub fn dirty(&self) -> bool {
        self.draft != self.saved
    }
}

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
    ui.allocate_ui_with_layout(
        egui::vec2(300.0, 20.0),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_min_width(300.0);
            ui.label(text)
        },
    )
    .inner
}

/// A masked password row.
fn password_field(ui: &mut egui::Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        let label = form_label(ui, label);
        ui.add(
            egui::TextEdit::singleline(value)
                .password(true)
                .desired_width(380.0),
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
        ui.add(egui::TextEdit::singleline(value).desired_width(380.0))
            .labelled_by(label.id);
        if let Some(text) = button {
            clicked = ui.button(text).clicked();
        }
        if let Some(problem) = problem {
            ui.label(RichText::new(problem).color(Color32::from_rgb(200, 60, 60)));
        }
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
            ui.add(
                egui::TextEdit::multiline(value)
                    .desired_rows(3)
                    .desired_width(380.0)
                    .hint_text(hint),
            )
            .labelled_by(label.id);
            if let Some(problem) = problem {
                ui.label(RichText::new(problem).color(Color32::from_rgb(200, 60, 60)));
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
        let saved = Draft::of(&profile, &settings);
        // A new selection, or a save that landed: start from the saved state again.
        if self.settings.profile.as_deref() != Some(&profile.name)
            || (self.settings.saved != saved && !self.settings.dirty())
        {
            self.settings = SettingsDraft {
                profile: Some(profile.name.clone()),
                saved: saved.clone(),
                draft: saved,
            };
        }
        let problems = self.settings.draft.problems(&profile);
        ui.heading(format!("Profile {}", profile.name));
        ui.vertical(|ui| {
            let d = &mut self.settings.draft;
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
            let d = &mut self.settings.draft;
            if field(
                ui,
                "Files folder (optional)",
                &mut d.files,
                problems.get("files"),
                Some("Choose files folder…"),
            ) {
                self.open_dialog(DialogPurpose::FilesFolder);
            }
            let d = &mut self.settings.draft;
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
            let d = &mut self.settings.draft;
            if field(
                ui,
                "Storage folder",
                &mut d.storage,
                problems.get("storage"),
                Some("Choose storage folder…"),
            ) {
                self.open_dialog(DialogPurpose::StorageFolder);
            }
            let d = &mut self.settings.draft;
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
            let d = &mut self.settings.draft;
            ui.checkbox(&mut d.notifications, "Desktop notifications");
            field(
                ui,
                "Warn when size or row count changes by more than (%)",
                &mut d.alert_percent,
                problems.get("alert_percent"),
                None,
            );
        });
        if self.settings.dirty() {
            ui.horizontal(|ui| {
                let save = ui.add_enabled(problems.is_empty(), egui::Button::new("Save"));
                if !problems.is_empty() {
                    ui.label(
                        RichText::new("Fix the fields marked in red to save")
                            .color(Color32::from_rgb(200, 60, 60)),
                    );
                }
                if save.clicked() {
                    self.save_settings(&profile, &settings);
                }
                if ui.button("Revert").clicked() {
                    self.settings.draft = self.settings.saved.clone();
                }
            });
        }
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

    fn save_settings(&mut self, profile: &Profile, settings: &Settings) {
        let draft = self.settings.draft.clone();
        let (mut updated, new_settings) = draft.apply(profile, settings);
        if draft.name != profile.name {
            self.submit(JobRequest::RenameProfile {
                old: profile.name.clone(),
                new: draft.name.clone(),
            });
            self.selected = Some(draft.name.clone());
            updated.name = draft.name.clone();
        }
        let mut config: Config = self.state.snapshot.config.clone();
        config.settings = new_settings;
        for p in config.profiles.iter_mut() {
            if p.name == profile.name {
                *p = updated.clone();
            }
        }
        self.submit(JobRequest::SaveConfig(Box::new(config)));
        if !draft.new_password.0.is_empty() {
            self.submit(JobRequest::SetPassword {
                profile: updated.name.clone(),
                password: draft.new_password.clone(),
            });
        }
        let mut draft = draft;
        draft.new_password = Default::default();
        self.settings.saved = draft.clone();
        self.settings.draft.new_password = Default::default();
        self.settings.profile = Some(updated.name);
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
            .map(|p| crate::jobs::profile_problems(p).into_iter().collect())
            .unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draft_carries_excludes_and_the_default_kind_into_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile {
            name: "shop".into(),
            database: DatabaseConfig::Sqlite {
                path: dir.path().join("a.sqlite3"),
            },
            files_dir: None,
            exclude: Vec::new(),
            default_kind: None,
            storage_dir: dir.path().to_path_buf(),
            policy: Default::default(),
        };
        let settings = Settings::default();
        let mut draft = Draft::of(&profile, &settings);
        assert_eq!(draft.default_kind, None);
        // A kind chosen without a files folder is not stored: such a profile backs up its database.
        draft.default_kind = Some(Kind::Files);
        draft.exclude = " cache/** \n\n*.tmp\n".into();
        let (saved, _) = draft.apply(&profile, &settings);
        assert_eq!(saved.exclude, ["cache/**", "*.tmp"]);
        assert_eq!(saved.default_kind, None);
        draft.files = dir.path().display().to_string();
        let (saved, _) = draft.apply(&profile, &settings);
        assert_eq!(saved.files_dir.as_deref(), Some(dir.path()));
        assert_eq!(saved.default_kind, Some(Kind::Files));
        assert_eq!(saved.default_kind(), Kind::Files);
        // Round trip: the saved profile's draft is what was typed (blank lines gone).
        assert_eq!(Draft::of(&saved, &settings).exclude, "cache/**\n*.tmp");
    }

    #[test]
    fn draft_problems_name_each_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.sqlite3");
        std::fs::write(&db, b"").unwrap();
        let good = Draft {
            name: "shop".into(),
            database: db.display().to_string(),
            files: String::new(),
            exclude: "cache/**\n\n*.tmp".into(),
            default_kind: None,
            storage: dir.path().display().to_string(),
            keep_last: "10".into(),
            max_age_days: "30".into(),
            keep_daily: "0".into(),
            keep_weekly: "0".into(),
            keep_monthly: "0".into(),
            auto_enabled: true,
            auto_hours: "24".into(),
            compression: "6".into(),
            notifications: true,
            alert_percent: "50".into(),
            server: None,
            new_password: Default::default(),
        };
        let profile = Profile {
            name: "shop".into(),
            database: DatabaseConfig::Sqlite { path: db.clone() },
            files_dir: None,
            exclude: Vec::new(),
            default_kind: None,
            storage_dir: dir.path().to_path_buf(),
            policy: Default::default(),
        };
        assert!(
            good.problems(&profile).is_empty(),
            "{:?}",
            good.problems(&profile)
        );
        let bad = Draft {
            name: "a b".into(),
            auto_hours: "0".into(),
            keep_last: "0".into(),
            compression: "12".into(),
            // A missing storage folder is made by the save; a relative one is refused.
            storage: "backups".into(),
            files: "/nonexistent/folder".into(),
            ..good.clone()
        };
        let problems = bad.problems(&profile);
        assert_eq!(problems["auto_hours"], "must be at least 1");
        assert_eq!(problems["keep_last"], "must be at least 1");
        assert_eq!(problems["compression"], "must be at most 9");
        assert_eq!(problems["storage"], "use an absolute folder path");
        assert!(problems["files"].contains("does not exist"));
        assert!(problems["name"].contains("invalid profile name"));
        let bad_glob = Draft {
            exclude: "cache/**\n[".into(),
            files: "relative/media".into(),
            ..good.clone()
        };
        let problems = bad_glob.problems(&profile);
        assert!(
            problems["exclude"].contains("exclude pattern '[' is not a valid glob"),
            "{problems:?}"
        );
        assert_eq!(problems["files"], "use an absolute folder path");
        let pg = Draft {
            server: Some(ServerDraft {
                host: "".into(),
                port: "70000".into(),
                user: "".into(),
                dbname: "shop".into(),
                sslmode: "maybe".into(),
            }),
            database: String::new(),
            ..good
        };
        let pg_profile = Profile {
            database: DatabaseConfig::Postgres(ServerConfig::new(
                &crate::engine::family(EngineKind::Postgres)
                    .connection()
                    .server()
                    .unwrap(),
            )),
            ..profile.clone()
        };
        let problems = pg.problems(&pg_profile);
        assert!(
            problems.contains_key("host")
                && problems.contains_key("user")
                && !problems.contains_key("database")
        );
        assert_eq!(problems["port"], "must be a port number (1-65535)");
        assert!(problems["sslmode"].starts_with("one of disable"));
        assert_eq!(
            format!("{:?}", crate::worker::Password("hunter2".into())),
            "***"
        );
    }
}
