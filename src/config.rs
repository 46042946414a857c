//! Where Backstop keeps its state, and the profiles and settings in `config.toml`.
//!
//! `BACKSTOP_HOME=<dir>` puts the config, the catalog, the default archive folders and the state folder under one
//! folder; without it the config goes to the platform config dir and the rest to the platform data dir.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::model::{EngineKind, Kind, NumberRange, Policy};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The environment variable that puts all of Backstop's state under one folder.
pub const HOME_ENV: &str = "BACKSTOP_HOME";

/// Every location Backstop reads or writes, resolved once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `config.toml`: profiles and settings.
    pub config_file: PathBuf,
    /// `catalog.sqlite3`: the history of backups, restores and jobs.
    pub catalog_file: PathBuf,
    /// Default parent of each profile's storage folder (`archives/<profile>/`).
    pub archives_dir: PathBuf,
    /// Window state, locks and logs.
    pub state_dir: PathBuf,
}

impl Paths {
    /// All state under one folder (what `BACKSTOP_HOME` selects).
    pub fn under(home: &Path) -> Paths {
        Paths {
            config_file: home.join("config.toml"),
            catalog_file: home.join("catalog.sqlite3"),
            archives_dir: home.join("archives"),
            state_dir: home.join("state"),
        }
    }

    /// Resolves the locations from `BACKSTOP_HOME`, else the platform's config and data folders.
    pub fn from_env() -> Result<Paths> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            let home = PathBuf::from(home);
            let home = if home.is_absolute() {
                home
            } else {
                std::env::current_dir()
                    .ctx("cannot read the current folder", &home)?
                    .join(home)
            };
            return Ok(Paths::under(&home));
        }
        let config = dirs::config_dir().ok_or_else(|| {
            Error::Usage(format!(
                "cannot find the platform config folder; set {HOME_ENV}=<dir> to choose where Backstop keeps its state"
            ))
        })?;
        let data = dirs::data_dir().ok_or_else(|| {
            Error::Usage(format!(
                "cannot find the platform data folder; set {HOME_ENV}=<dir> to choose where Backstop keeps its state"
            ))
        })?;
        let data = data.join("backstop");
        Ok(Paths {
            config_file: config.join("backstop").join("config.toml"),
            catalog_file: data.join("catalog.sqlite3"),
            archives_dir: data.join("archives"),
            state_dir: data.join("state"),
        })
    }

    /// Folder of lock files, one per profile.
    pub fn locks_dir(&self) -> PathBuf {
        self.state_dir.join("locks")
    }

    /// Folder of password files (only for profiles whose user chose file storage over the keyring).
    pub fn secrets_dir(&self) -> PathBuf {
        fsutil::parent_of(&self.state_dir).join("secrets")
    }

    /// Folder for temporary files of running jobs (password files, dumps being restored).
    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }

    /// The default storage folder for a profile.
    pub fn default_storage(&self, profile: &str) -> PathBuf {
        self.archives_dir.join(profile)
    }

    /// Creates the state folders (0700) if they are missing.
    pub fn ensure(&self) -> Result<()> {
        for dir in [
            fsutil::parent_of(&self.config_file),
            fsutil::parent_of(&self.catalog_file),
            self.state_dir.as_path(),
            self.locks_dir().as_path(),
        ] {
            if !dir.is_dir() {
                fsutil::create_private_dir(dir)?;
            }
        }
        Ok(())
    }
}

/// Application-wide settings (the `[settings]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long to wait for another program's lock on a SQLite database before giving up.
    pub busy_timeout_secs: u64,
    /// Largest total uncompressed size accepted from an imported file.
    pub max_import_bytes: u64,
    /// Most entries accepted in an imported archive.
    pub max_import_entries: u64,
    /// Whether to send desktop notifications.
    pub notifications: bool,
    /// Warn when a backup's size or a table's row count changes by more than this percentage.
    pub change_alert_percent: u32,
    /// Automatic backups paused (the tray's "Pause automatic backups"): neither the window's scheduler nor
    /// `run-due` starts one until they are resumed. Backups the user asks for still run.
    pub automatic_paused: bool,
    /// What closing the window does while automatic backups are on and a tray shows Backstop: `None` asks once;
    /// `Some(true)` keeps Backstop running in the tray; `Some(false)` quits.
    pub close_to_tray: Option<bool>,
    /// This Backstop home's id, written into every destination it uses, so that two homes sharing a bucket
    /// never take each other's folder (set when the first destination is added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_id: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            busy_timeout_secs: 10,
            max_import_bytes: 64 << 30,
            max_import_entries: 100_000,
            notifications: true,
            change_alert_percent: 50,
            automatic_paused: false,
            close_to_tray: None,
            home_id: None,
        }
    }
}

impl Settings {
    /// `busy_timeout_secs`: up to a day (SQLite counts the wait in milliseconds in an `int`: at most 24.8 days).
    pub const BUSY_TIMEOUT_SECS: NumberRange = NumberRange::new("busy_timeout_secs", 0, 86_400);
    /// `max_import_bytes`: 1 MiB to 1 PiB.
    pub const MAX_IMPORT_BYTES: NumberRange =
        NumberRange::new("max_import_bytes", 1 << 20, 1 << 50);
    /// `max_import_entries`: up to ten million.
    pub const MAX_IMPORT_ENTRIES: NumberRange =
        NumberRange::new("max_import_entries", 1, 10_000_000);
    /// `change_alert_percent`.
    pub const CHANGE_ALERT_PERCENT: NumberRange =
        NumberRange::new("change_alert_percent", 1, 100_000);

    /// Why these settings cannot be used, if they cannot: each number outside its range, named.
    pub fn problems(&self) -> Vec<String> {
        [
            (Self::BUSY_TIMEOUT_SECS, self.busy_timeout_secs),
            (Self::MAX_IMPORT_BYTES, self.max_import_bytes),
            (Self::MAX_IMPORT_ENTRIES, self.max_import_entries),
            (Self::CHANGE_ALERT_PERCENT, self.change_alert_percent.into()),
        ]
        .iter()
        .filter_map(|(range, value)| range.check(*value).err())
        .collect()
    }
}

/// Which database a profile backs up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "engine", rename_all = "lowercase", deny_unknown_fields)]
pub enum DatabaseConfig {
    /// A SQLite database file.
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A database on a PostgreSQL server. The password is never here: it lives in the keyring or a 0600 file.
    Postgres(ServerConfig),
    /// A database on a MySQL or MariaDB server. The password is never here either.
    Mysql(ServerConfig),
}

/// How to reach a database on a server (PostgreSQL, MySQL/MariaDB): the fields every server engine shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Server host name or address (or a socket folder).
    pub host: String,
    /// Server port.
    #[serde(default = "default_pg_port")]
    pub port: u16,
    /// Role to connect as.
    pub user: String,
    /// Database name.
    pub dbname: String,
    /// libpq SSL mode (disable, allow, prefer, require, verify-ca, verify-full).
    #[serde(default = "default_sslmode")]
    pub sslmode: String,
    /// Whether a password is stored for this profile (in the keyring or a file, see `secret_store`).
    #[serde(default)]
    pub has_password: bool,
    /// Where the password is stored: `keyring` (default) or `file`.
    #[serde(default)]
    pub secret_store: crate::secrets::SecretStore,
}

impl ServerConfig {
    /// `port`: 0 is no port.
    pub const PORT: NumberRange = NumberRange::new("port", 1, 65535);
}

fn default_pg_port() -> u16 {
    5432
}

fn default_sslmode() -> String {
    "prefer".to_string()
}

impl DatabaseConfig {
    /// The database config of an engine, from where its database is; None when the engine does not reach its
    /// databases that way (a server's fields for a file engine, or the reverse).
    pub fn new(kind: EngineKind, location: Location) -> Option<DatabaseConfig> {
        match (kind, location) {
            (EngineKind::Sqlite, Location::File(path)) => Some(DatabaseConfig::Sqlite { path }),
            (EngineKind::Postgres, Location::Server(cfg)) => Some(DatabaseConfig::Postgres(cfg)),
            (EngineKind::Mysql, Location::Server(cfg)) => Some(DatabaseConfig::Mysql(cfg)),
            _ => None,
        }
    }

    /// The engine this database uses.
    pub fn engine(&self) -> EngineKind {
        match self {
            DatabaseConfig::Sqlite { .. } => EngineKind::Sqlite,
            DatabaseConfig::Postgres(_) => EngineKind::Postgres,
            DatabaseConfig::Mysql(_) => EngineKind::Mysql,
        }
    }

    /// How to reach the server, for the server engines; None for a database file.
    pub fn server(&self) -> Option<&ServerConfig> {
        match self {
            DatabaseConfig::Sqlite { .. } => None,
            DatabaseConfig::Postgres(cfg) | DatabaseConfig::Mysql(cfg) => Some(cfg),
        }
    }

    /// The same, to change it.
    pub fn server_mut(&mut self) -> Option<&mut ServerConfig> {
        match self {
            DatabaseConfig::Sqlite { .. } => None,
            DatabaseConfig::Postgres(cfg) | DatabaseConfig::Mysql(cfg) => Some(cfg),
        }
    }

    /// The database file, for the file engines; None for a server database.
    pub fn file(&self) -> Option<&Path> {
        match self {
            DatabaseConfig::Sqlite { path } => Some(path),
            DatabaseConfig::Postgres(_) | DatabaseConfig::Mysql(_) => None,
        }
    }

    /// The engine's facts (its name, its form).
    pub fn family(&self) -> &'static dyn crate::engine::Family {
        crate::engine::family(self.engine())
    }

    /// Whether the database lives on a server (and so has sessions, kept copies and a password).
    pub fn is_server(&self) -> bool {
        self.server().is_some()
    }

    /// A short description for people ("sqlite /srv/app.db", "postgres shop on 127.0.0.1:5432 as app").
    pub fn describe(&self) -> String {
        match (self.file(), self.server()) {
            (Some(path), _) => format!("{} {}", self.engine(), path.display()),
            (None, Some(s)) => format!(
                "{} {} on {}:{} as {}",
                self.engine(),
                s.dbname,
                s.host,
                s.port,
                s.user
            ),
            (None, None) => self.engine().to_string(),
        }
    }

    /// What is wrong with where this database is, by field (the Settings form's keys: `database` for a file;
    /// `host`, `port`, `user`, `dbname`, `sslmode` for a server), without looking at the disk or the server (a
    /// config naming a file that is gone still loads: restoring it is how it comes back).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(path) = self.file() {
            if path.as_os_str().is_empty() {
                out.push(("database", "choose the database file".to_string()));
            } else if !path.is_absolute() {
                out.push(("database", "use an absolute path".to_string()));
            }
        }
        if let (Some(s), Some(facts)) = (self.server(), self.family().connection().server()) {
            if s.host.trim().is_empty() {
                out.push((
                    "host",
                    "enter the server's host name or address".to_string(),
                ));
            }
            if let Err(problem) = ServerConfig::PORT.check(s.port.into()) {
                out.push(("port", problem));
            }
            if s.user.trim().is_empty() {
                out.push((
                    "user",
                    format!("enter the {} to connect as", facts.user_noun),
                ));
            }
            if s.dbname.trim().is_empty() {
                out.push(("dbname", "enter the database name".to_string()));
            }
            if !facts.tls_modes.contains(&s.sslmode.as_str()) {
                out.push(("sslmode", format!("one of {}", facts.tls_modes.join(", "))));
            }
        }
        out
    }
}

/// Where a database is, as its engine reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on this machine.
    File(PathBuf),
    /// A database on a server.
    Server(ServerConfig),
}

impl ServerConfig {
    /// The connection fields a new profile of a server engine starts with: the engine's port and TLS mode.
    pub fn new(facts: &crate::engine::ServerFacts) -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: facts.default_port,
            user: String::new(),
            dbname: String::new(),
            sslmode: facts.default_tls.into(),
            has_password: false,
            secret_store: Default::default(),
        }
    }
}

/// One database (and optional files folder) that Backstop keeps safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Letters, digits and `-`.
    pub name: String,
    /// The database.
    pub database: DatabaseConfig,
    /// The folder of user files ("media") that goes with the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_dir: Option<PathBuf>,
    /// Glob patterns of paths in the files folder to leave out (`cache/**`, `*.tmp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// What a backup holds when no kind is asked for (None: full with a files folder, else database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_kind: Option<Kind>,
    /// Where this profile's archives are written.
    pub storage_dir: PathBuf,
    /// Retention and automatic backups.
    #[serde(default)]
    pub policy: Policy,
    /// Encryption of its archives (`profile edit --encrypt-…`); None: not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// A profile's encryption (`[profile.encryption]`): a passphrase (in the secret store under `encrypt.<profile>`) or
/// recipient public keys, for every archive or only for the copies at destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// The current passphrase's key id (`p1`, `p2`, …: a new one with every new passphrase), so each backup says
    /// which passphrase opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_id: Option<String>,
    /// When the current passphrase was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_set_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Recipient public keys (`age1…`, `ssh-ed25519 …`): archives are encrypted to them; this machine need not
    /// hold the key that decrypts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// Only the copies at destinations are encrypted; the archives here stay as they are.
    #[serde(default)]
    pub offsite_only: bool,
    /// Where the passphrase is kept.
    #[serde(default)]
    pub secret_store: crate::secrets::SecretStore,
}

impl Encryption {
    /// What a backup encrypted this way records: `passphrase:<id>` or `recipients:<8 hex of their hash>`.
    pub fn key_label(&self) -> String {
        match &self.passphrase_id {
            Some(id) => format!("passphrase:{id}"),
            None => {
                let joined = self.recipients.join("\n");
                let digest = crate::progress::sha256_hex(joined.as_bytes());
                format!("recipients:{}", digest.get(..8).unwrap_or_default())
            }
        }
    }

    /// Why it cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match (&self.passphrase_id, self.recipients.is_empty()) {
            (Some(_), false) => {
                Some("encryption has both a passphrase and recipients; choose one".into())
            }
            (None, true) => Some("encryption has neither a passphrase nor recipients".into()),
            (Some(id), true)
                if id.is_empty()
                    || id.len() > 16
                    || !id.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                Some(format!("encryption passphrase_id '{id}' is not a key id"))
            }
            (None, false) => crate::crypto::check_recipients(&self.recipients).err(),
            _ => None,
        }
    }
}

impl Profile {
    /// Why this profile's numbers cannot be used, if they cannot: the policy's and the server port's, named.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.policy.problems();
        problems.extend(self.encryption.as_ref().and_then(Encryption::problem));
        problems.extend(
            self.database
                .problems()
                .into_iter()
                .map(|(field, problem)| match field {
                    "port" => problem,
                    _ => format!("{field}: {problem}"),
                }),
        );
        problems
    }

    /// The kind used when none is given: the profile's choice, else full with a files folder, else database.
    pub fn default_kind(&self) -> Kind {
        match (self.default_kind, &self.files_dir) {
            (Some(kind), Some(_)) => kind,
            (_, Some(_)) => Kind::Full,
            (_, None) => Kind::Database,
        }
    }
}

/// Checks a profile name: letters, digits and `-`, so `_` can separate the parts of archive names.
pub fn validate_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid profile name '{name}': use letters, digits and '-' (at most 64, not starting with '-')"
        )))
    }
}

/// The whole `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Application-wide settings.
    #[serde(default)]
    pub settings: Settings,
    /// The profiles, in the order the user added them.
    #[serde(default, rename = "profile")]
    pub profiles: Vec<Profile>,
    /// Where copies of the profiles' backups go (`backstop dest add`).
    #[serde(default, rename = "destination", skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<crate::storage::Destination>,
}

impl Config {
    /// Reads the config file; a missing file is an empty config, a broken one an error naming file and line.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            // Unreadable is a configuration problem (exit 2), like invalid: the user must fix the file.
            Err(e) => {
                return Err(Error::ConfigUnreadable {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        };
        Config::parse(&text).map_err(|message| Error::ConfigInvalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Reads the config for a read-change-write: the returned lock (on `config.toml.lock`) is to be held until the
    /// changed config is saved, so two processes changing it at once never lose each other's change.
    pub fn load_for_update(path: &Path) -> Result<(Config, crate::lock::FileLock)> {
        let dir = fsutil::parent_of(path);
        if !dir.is_dir() {
            fsutil::create_private_dir(dir)?;
        }
        let lock = crate::lock::FileLock::acquire(path)?;
        Ok((Config::load(path)?, lock))
    }

    /// Parses and checks config text; the error names the line and the problem.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        config.check()?;
        Ok(config)
    }

    /// Problems a parsed config can still have: bad names, duplicates, numbers out of range.
    fn check(&self) -> Result<(), String> {
        if let Some(problem) = self.settings.problems().first() {
            return Err(format!("[settings] {problem}"));
        }
        let mut seen = std::collections::HashSet::new();
        for profile in &self.profiles {
            validate_profile_name(&profile.name).map_err(|e| e.to_string())?;
            if !seen.insert(profile.name.as_str()) {
                return Err(format!("profile '{}' is defined twice", profile.name));
            }
            if let Some(problem) = profile.problems().first() {
                return Err(format!("profile '{}': {problem}", profile.name));
            }
        }
        let mut dest_names = std::collections::HashSet::new();
        for dest in &self.destinations {
            if !dest_names.insert(dest.name.as_str()) {
                return Err(format!("destination '{}' is defined twice", dest.name));
            }
            if let Some(problem) = dest.problems().first() {
                return Err(format!("destination '{}': {problem}", dest.name));
            }
            if !seen.contains(dest.profile.as_str()) {
                return Err(format!(
                    "destination '{}' belongs to profile '{}', which does not exist",
                    dest.name, dest.profile
                ));
            }
        }
        Ok(())
    }

    /// The destination with this name.
    pub fn destination(&self, name: &str) -> Result<&crate::storage::Destination> {
        self.destinations
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::UnknownDestination {
                name: name.to_string(),
                known: if self.destinations.is_empty() {
                    "none".to_string()
                } else {
                    self.destinations
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// The destinations of one profile.
    pub fn destinations_of<'a>(
        &'a self,
        profile: &'a str,
    ) -> impl Iterator<Item = &'a crate::storage::Destination> + 'a {
        self.destinations
            .iter()
            .filter(move |d| d.profile == profile)
    }

    /// Writes the config atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.check().map_err(Error::Usage)?;
        let text = toml::to_string_pretty(self)
            .map_err(|e| Error::JobFailed(format!("cannot write config: {e}")))?;
        let dir = fsutil::parent_of(path);
        if !dir.is_dir() {
            fsutil::create_private_dir(dir)?;
        }
        let header = "# Backstop configuration. Edit with care: `backstop profile ...` rewrites this file.\n";
        fsutil::atomic_write(path, format!("{header}{text}").as_bytes())
    }

    /// The profile with this name.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::UnknownProfile {
                name: name.to_string(),
                known: self.known_names(),
            })
    }

    /// The named profile, or the only profile when no name is given.
    pub fn select(&self, name: Option<&str>) -> Result<&Profile> {
        match (name, self.profiles.as_slice()) {
            (Some(name), _) => self.profile(name),
            (None, []) => Err(Error::NoProfiles),
            (None, [only]) => Ok(only),
            (None, _) => Err(Error::ProfileAmbiguous {
                known: self.known_names(),
            }),
        }
    }

    fn known_names(&self) -> String {
        if self.profiles.is_empty() {
            return "none".to_string();
        }
        self.profiles
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_line_and_problem() {
        let text =
            "[settings]\nbusy_timeout_secs = 10\n[[profile]]\nname = \"a\"\nstorage_dir = 5\n";
        let err = Config::parse(text).unwrap_err();
        assert!(err.contains("line 5"), "{err}");
        assert!(
            err.contains("storage_dir") || err.contains("invalid type"),
            "{err}"
        );
    }

    #[test]
    fn profile_names_are_checked() {
        for good in ["shop", "shop-2", "A1"] {
            assert!(validate_profile_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a_b", "a b", "-x", "ü", "../x"] {
            assert!(validate_profile_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trip_and_defaults() {
        let text = r#"
[[profile]]
name = "shop"
storage_dir = "/backups/shop"
[profile.database]
engine = "sqlite"
path = "/srv/shop.db"
[profile.policy]
keep_last = 3
"#;
        let config = Config::parse(text).unwrap();
        let profile = config.select(None).unwrap();
        assert_eq!(profile.policy.keep_last, 3);
        assert_eq!(profile.policy.max_age_days, 30);
        assert_eq!(profile.default_kind(), Kind::Database);
        let again = Config::parse(&toml::to_string_pretty(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }

    /// Every number in the config, out of range at either end, is refused naming its key and the allowed range.
    #[test]
    fn every_config_number_is_range_checked() {
        let sqlite = "[[profile]]\nname = \"a\"\nstorage_dir = \"/x\"\n[profile.database]\nengine = \"sqlite\"\npath = \"/a.db\"\n";
        let postgres = "[[profile]]\nname = \"a\"\nstorage_dir = \"/x\"\n[profile.database]\nengine = \"postgres\"\nhost = \"h\"\nuser = \"u\"\ndbname = \"d\"\n";
        let settings = |line: &str| format!("[settings]\n{line}\n{sqlite}");
        let policy = |line: &str| format!("{sqlite}[profile.policy]\n{line}\n");
        let cases: Vec<(String, &str)> = vec![
            (
                settings("busy_timeout_secs = 2147484"),
                "busy_timeout_secs = 2147484 is out of range (allowed: 0 to 86400)",
            ),
            (
                settings("busy_timeout_secs = 18446744073709551615"),
                "busy_timeout_secs",
            ),
            (
                settings("max_import_bytes = 1048575"),
                "max_import_bytes = 1048575 is out of range (allowed: 1048576 to 1125899906842624)",
            ),
            (
                settings("max_import_bytes = 1125899906842625"),
                "max_import_bytes",
            ),
            (
                settings("max_import_entries = 0"),
                "max_import_entries = 0 is out of range (allowed: 1 to 10000000)",
            ),
            (
                settings("max_import_entries = 10000001"),
                "max_import_entries",
            ),
            (
                settings("change_alert_percent = 0"),
                "change_alert_percent = 0 is out of range (allowed: 1 to 100000)",
            ),
            (
                settings("change_alert_percent = 100001"),
                "change_alert_percent",
            ),
            (
                policy("keep_last = 0"),
                "profile 'a': keep_last = 0 is out of range (allowed: 1 to 100000)",
            ),
            (policy("keep_last = 100001"), "keep_last"),
            (
                policy("max_age_days = 4294967295"),
                "max_age_days = 4294967295 is out of range (allowed: 0 to 100000)",
            ),
            (policy("keep_daily = 100001"), "keep_daily"),
            (policy("keep_weekly = 100001"), "keep_weekly"),
            (policy("keep_monthly = 100001"), "keep_monthly"),
            (
                policy("auto_interval_hours = 0"),
                "auto_interval_hours = 0 is out of range (allowed: 1 to 8760)",
            ),
            (policy("auto_interval_hours = 8761"), "auto_interval_hours"),
            (
                policy("compression_level = 10"),
                "compression_level = 10 is out of range (allowed: 0 to 9)",
            ),
            (
                format!("{postgres}port = 0\n"),
                "port = 0 is out of range (allowed: 1 to 65535)",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::parse(&text).unwrap_err();
            assert!(err.contains(expected), "{text}\n=> {err}");
        }
        // Both ends of every range are allowed.
        for (line, ok) in [
            ("[settings]\nbusy_timeout_secs = 0", true),
            ("[settings]\nbusy_timeout_secs = 86400", true),
            ("[settings]\nmax_import_bytes = 1125899906842624", true),
        ] {
            assert_eq!(
                Config::parse(&format!("{line}\n{sqlite}")).is_ok(),
                ok,
                "{line}"
            );
        }
        for line in [
            "keep_last = 1",
            "max_age_days = 100000",
            "auto_interval_hours = 8760",
            "compression_level = 0",
        ] {
            assert!(Config::parse(&policy(line)).is_ok(), "{line}");
        }
    }

    #[test]
    fn duplicate_profiles_are_refused() {
        let one = "[[profile]]\nname = \"a\"\nstorage_dir = \"/x\"\n[profile.database]\nengine = \"sqlite\"\npath = \"/a.db\"\n";
        let err = Config::parse(&format!("{one}{one}")).unwrap_err();
        assert!(err.contains("defined twice"), "{err}");
    }
}
