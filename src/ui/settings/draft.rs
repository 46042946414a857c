//! The Settings form's drafts: what the user typed for each profile (and its server connection) and for the
//! app-wide settings, what each started from, and the checks that need nothing but the typed text (the disk's are
//! `ui::disk_checks`).
//!
//! Each profile keeps its own draft while another is shown: picking another profile in the list loses nothing,
//! and the list marks the profiles with unsaved changes.

use crate::config::{DatabaseConfig, Location, Profile, ServerConfig, Settings};
use crate::model::{Kind, NumberRange, Policy};
use crate::worker::SettingsEdit;
use std::collections::{BTreeMap, HashMap};
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

/// The editable text of one profile.
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
    pub(super) fn of(cfg: &ServerConfig) -> ServerDraft {
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
    pub(super) fn apply(&self, cfg: &mut ServerConfig) {
        cfg.host = self.host.trim().to_string();
        cfg.port = self.port.trim().parse().unwrap_or(cfg.port);
        cfg.user = self.user.trim().to_string();
        cfg.dbname = self.dbname.trim().to_string();
        cfg.sslmode = self.sslmode.trim().to_string();
    }

    /// Why the typed port is not a port, if it is not.
    pub(super) fn port_problem(&self) -> Option<String> {
        match self.port.trim().parse::<u16>() {
            Ok(p) if p > 0 => None,
            _ => Some("must be a port number (1-65535)".into()),
        }
    }
}

impl Draft {
    /// The draft of a saved profile.
    pub fn of(profile: &Profile) -> Draft {
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
        }
    }

    /// Field → why it is not acceptable, for the draft of `profile`, as far as the typed text tells (what only
    /// the disk can tell is asked apart, off the drawing thread). Cheap enough for every frame. The numbers are
    /// checked as typed; the rest by the check `profile add`/`edit` use.
    pub fn problems(&self, profile: &Profile) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        for (field, text, range) in [
            ("keep_last", &self.keep_last, Policy::KEEP_LAST),
            ("max_age_days", &self.max_age_days, Policy::MAX_AGE_DAYS),
            ("keep_daily", &self.keep_daily, Policy::KEEP_DAILY),
            ("keep_weekly", &self.keep_weekly, Policy::KEEP_WEEKLY),
            ("keep_monthly", &self.keep_monthly, Policy::KEEP_MONTHLY),
            ("auto_hours", &self.auto_hours, Policy::AUTO_INTERVAL_HOURS),
            ("compression", &self.compression, Policy::COMPRESSION_LEVEL),
        ] {
            if let Err(e) = number(text, range) {
                out.insert(field, e);
            }
        }
        if let Some(problem) = self.server.as_ref().and_then(ServerDraft::port_problem) {
            out.insert("port", problem);
        }
        for (field, problem) in crate::jobs::typed_problems(&self.apply(profile)) {
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

    /// The profile this draft describes (saved only when `problems()` is empty).
    pub fn apply(&self, profile: &Profile) -> Profile {
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
        profile
    }

    /// The parts of the form where this draft differs from `saved`, by their headings in the window ("Name" for the
    /// name, which sits above the sections), in the form's order.
    pub fn changed_sections(&self, saved: &Draft) -> Vec<&'static str> {
        let parts = [
            ("Name", self.name != saved.name),
            (
                "Database",
                self.database != saved.database
                    || self.server != saved.server
                    || !self.new_password.0.is_empty(),
            ),
            (
                "Files folder",
                self.files != saved.files
                    || self.exclude != saved.exclude
                    || self.default_kind != saved.default_kind,
            ),
            (
                "Storage",
                self.storage != saved.storage || self.compression != saved.compression,
            ),
            (
                "Schedule",
                self.auto_enabled != saved.auto_enabled || self.auto_hours != saved.auto_hours,
            ),
            (
                "Retention",
                self.keep_last != saved.keep_last
                    || self.max_age_days != saved.max_age_days
                    || self.keep_daily != saved.keep_daily
                    || self.keep_weekly != saved.keep_weekly
                    || self.keep_monthly != saved.keep_monthly,
            ),
        ];
        parts
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(title, _)| title)
            .collect()
    }

    /// Fills a path field from a dialog answer.
    pub fn set_path_field(&mut self, field: PathField, value: String) {
        match field {
            PathField::Database => self.database = value,
            PathField::Files => self.files = value,
            PathField::Storage => self.storage = value,
        }
    }
}

/// Why `text` is not a whole number in `range`: the same ranges as the config file's and the CLI flags' (one
/// table, in `model` and `config`).
fn number(text: &str, range: NumberRange) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if n < range.min => Err(format!("must be at least {}", range.min)),
        Ok(n) if n > range.max => Err(format!("must be at most {}", range.max)),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number".into()),
    }
}

/// The editable text of the settings that hold for all profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppDraft {
    /// Desktop notifications on.
    pub notifications: bool,
    /// Change alert threshold (%).
    pub alert_percent: String,
}

impl AppDraft {
    /// The draft of the saved settings.
    pub fn of(settings: &Settings) -> AppDraft {
        AppDraft {
            notifications: settings.notifications,
            alert_percent: settings.change_alert_percent.to_string(),
        }
    }

    /// Field → why it is not acceptable.
    pub fn problems(&self) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        if let Err(e) = number(&self.alert_percent, Settings::CHANGE_ALERT_PERCENT) {
            out.insert("alert_percent", e);
        }
        out
    }

    /// The change to the saved settings this draft describes (saved only when `problems()` is empty).
    pub fn edit(&self, settings: &Settings) -> SettingsEdit {
        SettingsEdit {
            notifications: self.notifications,
            change_alert_percent: self
                .alert_percent
                .trim()
                .parse()
                .unwrap_or(settings.change_alert_percent),
        }
    }
}

/// A draft and the saved state it started from.
#[derive(Debug, Clone, Default)]
pub struct Edited<T> {
    /// The saved state, as a draft.
    pub saved: T,
    /// What the user typed.
    pub draft: T,
}

impl<T: Clone + PartialEq> Edited<T> {
    /// A draft of `saved`, unchanged.
    pub fn of(saved: T) -> Edited<T> {
        Edited {
            draft: saved.clone(),
            saved,
        }
    }

    /// Whether the user changed anything.
    pub fn dirty(&self) -> bool {
        self.draft != self.saved
    }

    /// Follows the saved state as it is now (after a save landed, or a change made elsewhere): an untouched draft
    /// becomes the new state; what the user typed stays (a save that failed loses nothing), and is no longer
    /// unsaved once the saved state equals it.
    pub fn follow(&mut self, saved: T) {
        if self.saved != saved {
            if !self.dirty() {
                self.draft = saved.clone();
            }
            self.saved = saved;
        }
    }

    /// Throws what was typed away.
    pub fn revert(&mut self) {
        self.draft = self.saved.clone();
    }
}

/// Every draft of the Settings panel: one per profile whose Settings were shown, and the app-wide one.
#[derive(Debug, Clone, Default)]
pub struct SettingsDrafts {
    /// Profile name → its draft.
    pub profiles: HashMap<String, Edited<Draft>>,
    /// The settings for all profiles.
    pub app: Edited<AppDraft>,
    /// The "add a destination" form and the encryption fields (Copies elsewhere).
    pub dest_form: super::DestForm,
}

impl SettingsDrafts {
    /// The draft of `profile`, following its saved state (made on first use).
    pub fn profile(&mut self, profile: &Profile) -> &mut Edited<Draft> {
        let saved = Draft::of(profile);
        let edited = self
            .profiles
            .entry(profile.name.clone())
            .or_insert_with(|| Edited::of(saved.clone()));
        edited.follow(saved);
        edited
    }

    /// Whether the profile named `name` holds changes not saved yet.
    pub fn unsaved(&self, name: &str) -> bool {
        self.profiles.get(name).is_some_and(Edited::dirty)
    }

    /// Forgets the drafts of profiles that are gone (removed, or renamed elsewhere).
    pub fn keep_only(&mut self, names: &[String]) {
        self.profiles.retain(|name, _| names.contains(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EngineKind;

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
            encryption: None,
        };
        let mut draft = Draft::of(&profile);
        assert_eq!(draft.default_kind, None);
        // A kind chosen without a files folder is not stored: such a profile backs up its database.
        draft.default_kind = Some(Kind::Files);
        draft.exclude = " cache/** \n\n*.tmp\n".into();
        let saved = draft.apply(&profile);
        assert_eq!(saved.exclude, ["cache/**", "*.tmp"]);
        assert_eq!(saved.default_kind, None);
        draft.files = dir.path().display().to_string();
        let saved = draft.apply(&profile);
        assert_eq!(saved.files_dir.as_deref(), Some(dir.path()));
        assert_eq!(saved.default_kind, Some(Kind::Files));
        assert_eq!(saved.default_kind(), Kind::Files);
        // Round trip: the saved profile's draft is what was typed (blank lines gone).
        assert_eq!(Draft::of(&saved).exclude, "cache/**\n*.tmp");
    }

    #[test]
    fn a_draft_follows_the_saved_state_only_where_the_user_typed_nothing() {
        // (typed, saved now) → (draft after, unsaved after)
        let cases = [
            // Untouched: follows a change made elsewhere.
            (None, "7", "7", false),
            // Typed: stays, and is still unsaved.
            (Some("3"), "7", "3", true),
            // Typed and then saved: the saved state now equals it.
            (Some("3"), "3", "3", false),
            // Typed, the save failed: nothing is lost.
            (Some("3"), "10", "3", true),
        ];
        for (typed, saved_now, after, unsaved) in cases {
            let saved = |keep: &str| Draft {
                keep_last: keep.into(),
                ..Draft::default()
            };
            let mut edited = Edited::of(saved("10"));
            if let Some(typed) = typed {
                edited.draft.keep_last = typed.into();
            }
            edited.follow(saved(saved_now));
            assert_eq!(edited.draft.keep_last, after, "{typed:?} {saved_now}");
            assert_eq!(edited.dirty(), unsaved, "{typed:?} {saved_now}");
        }
        let mut drafts = SettingsDrafts::default();
        drafts
            .profiles
            .insert("shop".into(), Edited::of(Draft::default()));
        drafts.profiles.get_mut("shop").unwrap().draft.keep_last = "3".into();
        assert!(drafts.unsaved("shop") && !drafts.unsaved("blog"));
        drafts.keep_only(&["blog".into()]);
        assert!(
            !drafts.unsaved("shop"),
            "a removed profile's draft goes with it"
        );
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
            encryption: None,
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
        // Whether the folder exists is the disk's to say, asked apart (off the drawing thread).
        assert!(!problems.contains_key("files"), "{problems:?}");
        let on_disk = crate::jobs::ProfilePaths::of(&bad.apply(&profile)).problems();
        assert!(
            on_disk
                .iter()
                .any(|(field, p)| *field == "files" && p.contains("does not exist")),
            "{on_disk:?}"
        );
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
