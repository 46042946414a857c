//! The database engines behind one trait. One file per engine under `engine/`.
//!
//! Contract: `backup` writes a consistent copy of the live database into the archive (never a raw file copy of a
//! live database) and returns what it recorded; `stage_restore` checks an archive's dump fully (integrity, row
//! counts and schema against the manifest) *without touching the live database*; only `StagedRestore::apply`
//! changes the live database, and it either fully happens or leaves it as it was.
//!
//! The seam: everything that differs between engines is here or in the engine's own file. [`Family`] holds what
//! an engine is without a database to talk to (its name, whether it lives on a server and the form that reaches
//! it, the README steps written into each archive, the start-up cleanup); [`Engine`] is one profile's database.
//! Outside `engine/` and `config.rs` (the config variant), nothing matches on the engine kind: adding an engine
//! is its file here, its `DatabaseConfig` variant and its word in `EngineKind`.

pub mod mysql;
pub mod pgsql_check;
pub mod postgres;
pub mod sqlite;

use crate::archive::{ArchiveReader, ArchiveWriter, DatabaseInfo};
use crate::config::{DatabaseConfig, Settings};
use crate::error::Result;
use crate::model::EngineKind;
use crate::progress::JobControl;
use std::collections::BTreeMap;
use std::path::Path;

/// One kind of database that Backstop can back up and restore.
pub trait Engine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// The live database, for messages ("sqlite /srv/app.db").
    fn describe(&self) -> String;

    /// Checks that the database can be reached now, with a message saying what to fix if not.
    fn preflight(&self) -> Result<()>;

    /// Size of the live database in bytes.
    fn size_bytes(&self) -> Result<u64>;

    /// Each table's row count in the live database now.
    fn table_counts(&self) -> Result<BTreeMap<String, u64>>;

    /// Writes a consistent copy of the live database into the archive; `scratch` is a folder for temporary files.
    fn backup(
        &self,
        writer: &mut ArchiveWriter,
        scratch: &Path,
        job: &JobControl,
    ) -> Result<DatabaseInfo>;

    /// Server facts for the Statistics panel and the restore dialog (server engines; empty for files).
    fn details(&self) -> Result<EngineDetails> {
        Ok(EngineDetails::default())
    }

    /// Drops a copy kept by an earlier restore (`<db>_pre_restore_<stamp>`); other names are refused.
    fn drop_copy(&self, name: &str) -> Result<()> {
        Err(crate::error::Error::Usage(format!(
            "{name}: this engine keeps no database copies"
        )))
    }

    /// "a new PostgreSQL database NAME on HOST:PORT": the words for a restore into another database, or None
    /// when the engine has no other databases to restore into (a SQLite file).
    fn describe_other(&self, _database: &str) -> Option<String> {
        None
    }

    /// Drops what killed jobs left on the server (staging databases, import roles), returning what it says to
    /// people. Called at start-up under the profile's lock, only when [`Family::scratch_pending`] says so.
    fn clean_scratch(&self) -> Vec<String> {
        Vec::new()
    }

    /// Extracts and fully checks the archive's database without touching the live one.
    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>>;
}

/// What all databases of one engine share: known without a database to talk to.
pub trait Family: Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Its name for people ("PostgreSQL").
    fn label(&self) -> &'static str;

    /// How a profile reaches its database: the fields of its form.
    fn connection(&self) -> Connection;

    /// Step 3 of the README written into each archive: how to check and restore the database entry `entry` with
    /// the engine's stock tools alone (`tool` is the dump tool's version the manifest recorded).
    fn readme_steps(&self, entry: &str, tool: Option<&str>) -> String;

    /// Whether a database without a single table is suspect (a SQLite file: a wrong path or a replaced file);
    /// an empty server database is a normal first state.
    fn empty_is_suspicious(&self) -> bool {
        false
    }

    /// The name prefix of the temporary files that hand its tools a password (`.pgpass-`, `.mycnf-`), followed by
    /// the owning process id: a start removes those a killed process left before anything else.
    fn secret_file_prefix(&self) -> Option<&'static str> {
        None
    }

    /// Whether killed jobs registered scratch objects (staging databases, roles) in the private `tmp` folder
    /// that the next start must drop with [`Engine::clean_scratch`]. Read without contacting the server.
    fn scratch_pending(&self, _tmp: &Path) -> bool {
        false
    }
}

/// How a profile reaches its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// A database file on this machine.
    File,
    /// A database on a server: host, port, user, database name, TLS mode and a stored password.
    Server(ServerFacts),
}

/// What the form of a server engine offers and expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFacts {
    /// The port its servers listen on by default.
    pub default_port: u16,
    /// The TLS modes its client tools know, in their words.
    pub tls_modes: &'static [&'static str],
    /// The mode a new profile starts with.
    pub default_tls: &'static str,
    /// What the form calls the TLS field ("SSL mode").
    pub tls_label: &'static str,
    /// What the server calls the one who connects ("role", "user").
    pub user_noun: &'static str,
}

impl Connection {
    /// The server's facts, for a server engine.
    pub fn server(self) -> Option<ServerFacts> {
        match self {
            Connection::File => None,
            Connection::Server(facts) => Some(facts),
        }
    }
}

/// The facts of one engine.
pub fn family(kind: EngineKind) -> &'static dyn Family {
    match kind {
        EngineKind::Sqlite => &sqlite::SqliteFamily,
        EngineKind::Postgres => &postgres::PostgresFamily,
        EngineKind::Mysql => &mysql::MysqlFamily,
    }
}

/// What a server says about the database, beyond its size.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineDetails {
    /// The server's version.
    pub server_version: Option<String>,
    /// The database's size now.
    pub database_size: Option<u64>,
    /// The largest tables with their total size in bytes, largest first.
    pub largest_tables: Vec<(String, u64)>,
    /// Copies kept by earlier restores (name, size in bytes), until the user deletes them.
    pub kept_copies: Vec<(String, u64)>,
    /// Sessions connected to the database now (a restore must end them to swap).
    pub other_sessions: Option<u64>,
}

/// How a restore may treat the server and the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Restore into this new database instead of the profile's (server engines).
    pub target_database: Option<String>,
    /// End other sessions on the target before the swap (the user agreed).
    pub terminate_sessions: bool,
    /// Only check: the staged copy is discarded.
    pub validate_only: bool,
}

/// What an engine needs besides its database config.
#[derive(Debug, Clone)]
pub struct EngineEnv {
    /// App settings (busy timeout).
    pub settings: Settings,
    /// Folder for temporary files (password files, dumps being restored).
    pub scratch: std::path::PathBuf,
    /// The profile's password, when it has one.
    pub password: Option<String>,
}

/// A checked copy of a backup, ready to replace the live database. Dropping it discards the copy.
pub trait StagedRestore {
    /// What will be replaced, for confirmations and reports.
    fn describe(&self) -> String;

    /// Replaces the live database with the staged copy: all or nothing. Returns the name the old content is kept
    /// under (`<db>_pre_restore_<stamp>` on a server) when the engine keeps it, so the restore can say so.
    fn apply(self: Box<Self>, job: &JobControl) -> Result<Option<String>>;
}

/// The engine for a profile's database.
pub fn open(database: &DatabaseConfig, env: &EngineEnv) -> Box<dyn Engine> {
    match database {
        DatabaseConfig::Sqlite { path } => Box::new(sqlite::SqliteEngine::new(
            path.clone(),
            std::time::Duration::from_secs(env.settings.busy_timeout_secs),
        )),
        DatabaseConfig::Postgres(cfg) => Box::new(postgres::PostgresEngine::new(
            cfg.clone(),
            env.password.clone(),
            env.scratch.clone(),
        )),
        DatabaseConfig::Mysql(cfg) => Box::new(mysql::MysqlEngine::new(
            cfg.clone(),
            env.password.clone(),
            env.scratch.clone(),
        )),
    }
}

/// A database or entry name made safe for an archive path: letters, digits, `.`, `-`, `_`.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('.').to_string();
    if cleaned.is_empty() {
        "database".to_string()
    } else {
        cleaned
    }
}

/// `n` random bytes from the operating system (for throwaway passwords and names).
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            crate::error::Error::Usage(format!("cannot read random bytes from /dev/urandom: {e}"))
        })?;
    Ok(bytes)
}

/// Every engine's [`Family::secret_file_prefix`].
pub fn secret_file_prefixes() -> impl Iterator<Item = &'static str> {
    EngineKind::ALL
        .iter()
        .filter_map(|kind| family(*kind).secret_file_prefix())
}
