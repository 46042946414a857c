//! The database engines behind one trait. One file per engine under `engine/`.
//!
//! Contract: `backup` writes a consistent copy of the live database into the archive (never a raw file copy of a
//! live database) and returns what it recorded; `stage_restore` checks an archive's dump fully (integrity, row
//! counts and schema against the manifest) *without touching the live database*; only `StagedRestore::apply`
//! changes the live database, and it either fully happens or leaves it as it was.

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

    /// Extracts and fully checks the archive's database without touching the live one.
    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>>;
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

    /// Replaces the live database with the staged copy: all or nothing.
    fn apply(self: Box<Self>, job: &JobControl) -> Result<()>;
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
