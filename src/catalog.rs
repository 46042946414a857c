//! The catalog: a SQLite database of backups, restores and job runs.
//!
//! The archives are the truth; the catalog is an index and a history that `rebuild` can make again from the
//! manifests. A backup row starts `running` and becomes `completed` only after its archive was verified and renamed.

use crate::error::{Error, Result};
use crate::lock::FileLock;
use crate::model::{Kind, Status, Trigger};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE backups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        profile TEXT NOT NULL,
        kind TEXT NOT NULL,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        path TEXT NOT NULL,
        size_bytes INTEGER,
        sha256 TEXT,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        duration_ms INTEGER,
        engine TEXT,
        engine_version TEXT,
        database_name TEXT,
        database_size_bytes INTEGER,
        error TEXT,
        pinned INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX backups_profile ON backups(profile, created_at);
    CREATE TABLE restores (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        profile TEXT NOT NULL,
        backup_id INTEGER,
        archive_path TEXT NOT NULL,
        safety_backup_id INTEGER,
        validate_only INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL,
        message TEXT
    );
    CREATE TABLE job_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job TEXT NOT NULL,
        profile TEXT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL,
        message TEXT
    );",
    // 2: each table's row count at backup time, for the "row count changed a lot" alert.
    "ALTER TABLE backups ADD COLUMN tables_json TEXT;",
    // 3: what the change check flagged in a backup (a JSON list of sentences; NULL when nothing).
    "ALTER TABLE backups ADD COLUMN warnings_json TEXT;",
    // 4: how far a restore got (applying, applied, rolled_back, done), so that the next start can log what a
    // restore that Backstop did not see to its end really did.
    "ALTER TABLE restores ADD COLUMN step TEXT;",
    // 5: the SHA-256 of the file an `uploaded` backup was imported from, so the same file imported again is
    // reported as a duplicate.
    "ALTER TABLE backups ADD COLUMN source_sha256 TEXT;
     CREATE INDEX backups_sha256 ON backups(profile, sha256);
     CREATE INDEX backups_source_sha256 ON backups(profile, source_sha256);",
    // 6: copies at destinations (catalog/copies.rs).
    "CREATE TABLE copies (
        backup_id INTEGER NOT NULL,
        dest TEXT NOT NULL,
        status TEXT NOT NULL,
        object TEXT NOT NULL,
        size_bytes INTEGER,
        sha256 TEXT,
        copied_at TEXT,
        error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT,
        upload_id TEXT,
        part_size INTEGER,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (backup_id, dest)
    );
    ALTER TABLE backups ADD COLUMN encryption TEXT;",
];

mod copies;
pub use copies::{CopyRow, CopyStatus};

/// One backup as the catalog records it (also the `list --json` object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupRow {
    /// Catalog id.
    pub id: i64,
    /// Profile name.
    pub profile: String,
    /// full, database or files.
    pub kind: Kind,
    /// manual, automatic, uploaded or safety.
    pub trigger: Trigger,
    /// running, completed, failed, cancelled, corrupted or deleted.
    pub status: Status,
    /// The archive's path.
    pub path: PathBuf,
    /// The archive's size in bytes.
    pub size_bytes: Option<u64>,
    /// SHA-256 of the whole archive file.
    pub sha256: Option<String>,
    /// When the backup was taken (UTC).
    pub created_at: DateTime<Utc>,
    /// When the job ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long the job took.
    pub duration_ms: Option<u64>,
    /// The database engine.
    pub engine: Option<String>,
    /// The engine's version.
    pub engine_version: Option<String>,
    /// The database's name.
    pub database_name: Option<String>,
    /// Size of the live database at backup time.
    pub database_size_bytes: Option<u64>,
    /// Why the job failed.
    pub error: Option<String>,
    /// Pinned backups are never deleted by retention.
    pub pinned: bool,
    /// Each table's row count at backup time (when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<std::collections::BTreeMap<String, u64>>,
    /// What the change check flagged (size or a table's rows dropped, a table gone); empty when nothing. A flagged
    /// backup stopped the retention run after it.
    pub warnings: Vec<String>,
    /// How many seconds after now the backup is dated, when the clock was ahead as it was taken (or has since
    /// jumped back); computed when read, never stored.
    pub clock_ahead_secs: Option<i64>,
    /// Its copies at destinations (`list --json` field `copies`): pending, copying, copied or failed.
    pub copies: Vec<CopyRow>,
    /// How its archive is encrypted: `passphrase:<key id>` or `recipients:<key hash>`; None: not encrypted here.
    pub encryption: Option<String>,
}

#[cfg(test)]
impl BackupRow {
    /// A row of profile `shop` for unit tests: archive `/b/<id>.zip`, nothing else known.
    pub(crate) fn for_test(
        id: i64,
        created_at: DateTime<Utc>,
        kind: Kind,
        trigger: Trigger,
        status: Status,
    ) -> BackupRow {
        BackupRow {
            id,
            profile: "shop".into(),
            kind,
            trigger,
            status,
            path: PathBuf::from(format!("/b/{id}.zip")),
            size_bytes: None,
            sha256: None,
            created_at,
            finished_at: None,
            duration_ms: None,
            engine: None,
            engine_version: None,
            database_name: None,
            database_size_bytes: None,
            error: None,
            pinned: false,
            tables: None,
            warnings: Vec::new(),
            clock_ahead_secs: None,
            copies: Vec::new(),
            encryption: None,
        }
    }
}

/// One restore in the restore log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoreRow {
    /// Catalog id.
    pub id: i64,
    /// Profile name.
    pub profile: String,
    /// The backup restored from, if it was in the catalog.
    pub backup_id: Option<i64>,
    /// The archive restored from.
    pub archive_path: PathBuf,
    /// The safety backup taken just before.
    pub safety_backup_id: Option<i64>,
    /// Whether only validation ran.
    pub validate_only: bool,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// running, completed, failed or cancelled.
    pub outcome: String,
    /// What happened, in words.
    pub message: Option<String>,
    /// How far it got (`restore_log::APPLYING`, `APPLIED`, `ROLLED_BACK`, `DONE`); `None` when it never began to
    /// replace the profile's live data (validation, chosen files into a folder, a new database, an early stop).
    pub step: Option<String>,
}

impl RestoreRow {
    /// Whether this restore replaced the profile's live database or files folder (a completed restore that got
    /// past replacing them). Restoring chosen files into a folder, or into a new database, changes nothing live.
    pub fn changed_live_data(&self) -> bool {
        self.outcome == "completed"
            && !self.validate_only
            && self
                .step
                .as_deref()
                // `restore_log::ROLLED_BACK`, spelled here because the catalog sits below the jobs.
                .is_some_and(|step| step != "rolled_back")
    }
}

/// A restore still `running` in the log: what the next start needs to tell what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct InterruptedRestore {
    /// Catalog id of the restore.
    pub id: i64,
    /// The archive it restored from.
    pub archive_path: PathBuf,
    /// The safety backup it took, if it got that far.
    pub safety_backup_id: Option<i64>,
    /// The last step it recorded (None: it changed nothing yet).
    pub step: Option<String>,
}

/// One job in the job log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRow {
    /// Catalog id.
    pub id: i64,
    /// backup, restore, verify, import, export, delete, prune.
    pub job: String,
    /// Profile, when the job had one.
    pub profile: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// running, completed, failed or cancelled.
    pub outcome: String,
    /// What happened, in words.
    pub message: Option<String>,
}

/// Fields a completed backup records.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// Archive size.
    pub size_bytes: u64,
    /// Archive SHA-256.
    pub sha256: String,
    /// Job duration.
    pub duration_ms: u64,
    /// Engine name.
    pub engine: Option<String>,
    /// Engine version.
    pub engine_version: Option<String>,
    /// Database name.
    pub database_name: Option<String>,
    /// Live database size.
    pub database_size_bytes: Option<u64>,
    /// Row counts at backup time.
    pub tables: Option<std::collections::BTreeMap<String, u64>>,
    /// What the change check flagged.
    pub warnings: Vec<String>,
    /// How the archive is encrypted (its key label), when it is.
    pub encryption: Option<String>,
}

/// An open catalog.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// Which file was opened (device and inode), to notice when `catalog rebuild` put another in its place.
    identity: Option<(u64, u64)>,
}

/// The device and inode of `path`, where the platform has them.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn parse_word<T: std::str::FromStr<Err = String>>(text: &str) -> rusqlite::Result<T> {
    text.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// The stored form of a backup's warnings: NULL when there are none.
fn warnings_json(warnings: &[String]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    serde_json::to_string(warnings).ok()
}

const BACKUP_COLUMNS: &str = "id, profile, kind, trigger, status, path, size_bytes, sha256, created_at, \
    finished_at, duration_ms, engine, engine_version, database_name, database_size_bytes, error, pinned, tables_json, warnings_json, \
    encryption";

fn backup_from_row(row: &Row) -> rusqlite::Result<BackupRow> {
    let opt_ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    let opt_u64 = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
    };
    let created_at = parse_ts(&row.get::<_, String>(8)?)?;
    Ok(BackupRow {
        id: row.get(0)?,
        profile: row.get(1)?,
        kind: parse_word(&row.get::<_, String>(2)?)?,
        trigger: parse_word(&row.get::<_, String>(3)?)?,
        status: parse_word(&row.get::<_, String>(4)?)?,
        path: PathBuf::from(row.get::<_, String>(5)?),
        size_bytes: opt_u64(6)?,
        sha256: row.get(7)?,
        created_at,
        finished_at: opt_ts(9)?,
        duration_ms: opt_u64(10)?,
        engine: row.get(11)?,
        engine_version: row.get(12)?,
        database_name: row.get(13)?,
        database_size_bytes: opt_u64(14)?,
        error: row.get(15)?,
        pinned: row.get::<_, i64>(16)? != 0,
        tables: row
            .get::<_, Option<String>>(17)?
            .and_then(|text| serde_json::from_str(&text).ok()),
        warnings: row
            .get::<_, Option<String>>(18)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
        clock_ahead_secs: crate::retention::clock_ahead_secs(created_at, Utc::now()),
        copies: Vec::new(),
        encryption: row.get(19)?,
    })
}

impl Catalog {
    /// Opens (creating if needed) and migrates the catalog at `path` under its lock (`<catalog>.lock`): several
    /// processes starting at once on a new home take turns at creating the schema instead of racing on it (and
    /// the losers being told their catalog may be damaged).
    pub fn open(path: &Path) -> Result<Catalog> {
        let lock = FileLock::acquire(path)?;
        Catalog::open_locked(path, &lock)
    }

    /// Opens (creating if needed) and migrates the catalog at `path` while the caller holds the lock that covers
    /// it (`catalog rebuild` holds the catalog's lock throughout, and its new catalog is its own file).
    pub fn open_locked(path: &Path, _lock: &FileLock) -> Result<Catalog> {
        // A new catalog is private from its first byte (SQLite gives its journal and WAL the same mode).
        if !path.exists() {
            drop(crate::fsutil::create_private(path));
        }
        let conn = Connection::open(path).map_err(|e| Error::Catalog {
            path: path.to_path_buf(),
            message: format!("cannot open: {e}"),
        })?;
        let mut catalog = Catalog {
            conn,
            path: path.to_path_buf(),
            identity: file_identity(path),
        };
        catalog.setup().map_err(|e| Error::Catalog {
            path: path.to_path_buf(),
            message: format!(
                "cannot be used ({e}); if it is damaged, move it aside with `backstop catalog rebuild`"
            ),
        })?;
        Ok(catalog)
    }

    fn setup(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(Duration::from_secs(30))?;
        self.conn
            .pragma_update(None, "journal_mode", "WAL")
            .or_else(|_| Ok::<_, rusqlite::Error>(()))?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "catalog schema version {version} is newer than this Backstop knows ({}); upgrade Backstop",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Whether the file at the catalog's path is no longer the one this connection has open (`catalog rebuild` in
    /// another process moved it aside and put a new one in its place): the holder should open it again, or its
    /// writes would go to the copy kept aside.
    pub fn is_replaced(&self) -> bool {
        self.identity.is_some() && file_identity(&self.path) != self.identity
    }

    /// SQLite's `PRAGMA data_version`: it changes when another connection (another process: the CLI, the system
    /// timer's `run-due`) committed to the catalog since this one last looked; never for this connection's own
    /// writes. The window's worker polls it to show backups it did not make.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |row| row.get(0))
            .map_err(|e| self.err(e))
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::Catalog {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Records a backup that is starting; returns its id.
    pub fn insert_running(
        &self,
        profile: &str,
        kind: Kind,
        trigger: Trigger,
        created_at: DateTime<Utc>,
        path: &Path,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO backups (profile, kind, trigger, status, path, created_at) VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
                params![profile, kind.as_str(), trigger.as_str(), path.to_string_lossy(), ts(created_at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Inserts a finished backup found on disk (import, rebuild); a positive `row.id` is kept (rebuild keeps ids).
    pub fn insert_completed(&self, row: &BackupRow) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO backups (id, profile, kind, trigger, status, path, size_bytes, sha256, created_at, finished_at, \
                 duration_ms, engine, engine_version, database_name, database_size_bytes, error, pinned, tables_json, warnings_json, \
                 encryption) VALUES (?17, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?18, ?19, ?20)",
                params![
                    row.profile,
                    row.kind.as_str(),
                    row.trigger.as_str(),
                    row.status.as_str(),
                    row.path.to_string_lossy(),
                    row.size_bytes.map(|v| v as i64),
                    row.sha256,
                    ts(row.created_at),
                    row.finished_at.map(ts),
                    row.duration_ms.map(|v| v as i64),
                    row.engine,
                    row.engine_version,
                    row.database_name,
                    row.database_size_bytes.map(|v| v as i64),
                    row.error,
                    row.pinned as i64,
                    (row.id > 0).then_some(row.id),
                    row.tables.as_ref().and_then(|t| serde_json::to_string(t).ok()),
                    warnings_json(&row.warnings),
                    row.encryption,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records an imported backup (a completed `uploaded` row) with the SHA-256 of the file it was imported
    /// from, in one transaction; returns its id.
    pub fn insert_uploaded(&self, row: &BackupRow, source_sha256: &str) -> Result<i64> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let id = self.insert_completed(row)?;
        tx.execute(
            "UPDATE backups SET source_sha256 = ?2 WHERE id = ?1",
            params![id, source_sha256],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// The profile's backup that already holds content with this SHA-256: an archive whose own SHA-256 it is,
    /// or an import of a file with it. Only backups whose archive is intact count (`completed`): after a
    /// deletion, a failure or damage, importing the file again is how it comes back.
    pub fn find_catalogued(&self, profile: &str, sha256: &str) -> Result<Option<BackupRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {BACKUP_COLUMNS} FROM backups WHERE profile = ?1 AND status = 'completed' \
                     AND (sha256 = ?2 OR source_sha256 = ?2) ORDER BY id LIMIT 1"
                ),
                params![profile, sha256],
                backup_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Marks a backup completed with what it recorded; its path may have changed from `.partial` to final.
    pub fn complete(&self, id: i64, path: &Path, done: &Completion) -> Result<()> {
        self.conn
            .execute(
                "UPDATE backups SET status = 'completed', path = ?2, size_bytes = ?3, sha256 = ?4, finished_at = ?5, \
                 duration_ms = ?6, engine = ?7, engine_version = ?8, database_name = ?9, database_size_bytes = ?10, \
                 tables_json = ?11, warnings_json = ?12, encryption = ?13, error = NULL WHERE id = ?1",
                params![
                    id,
                    path.to_string_lossy(),
                    done.size_bytes as i64,
                    done.sha256,
                    ts(Utc::now()),
                    done.duration_ms as i64,
                    done.engine,
                    done.engine_version,
                    done.database_name,
                    done.database_size_bytes.map(|v| v as i64),
                    done.tables.as_ref().and_then(|t| serde_json::to_string(t).ok()),
                    warnings_json(&done.warnings),
                    done.encryption,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ends a running backup as failed or cancelled, with the reason.
    pub fn end_unsuccessful(
        &self,
        id: i64,
        status: Status,
        error: &str,
        duration_ms: u64,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE backups SET status = ?2, error = ?3, finished_at = ?4, duration_ms = ?5 WHERE id = ?1",
                params![id, status.as_str(), error, ts(Utc::now()), duration_ms as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Sets a backup's status (corrupted after a failed verify, deleted, completed again after a good verify).
    pub fn set_status(&self, id: i64, status: Status, error: Option<&str>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE backups SET status = ?2, error = ?3 WHERE id = ?1",
                params![id, status.as_str(), error],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Pins or unpins a backup.
    pub fn set_pinned(&self, id: i64, pinned: bool) -> Result<()> {
        self.conn
            .execute(
                "UPDATE backups SET pinned = ?2 WHERE id = ?1",
                params![id, pinned as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One backup by id.
    pub fn get(&self, id: i64) -> Result<BackupRow> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {BACKUP_COLUMNS} FROM backups WHERE id = ?1"),
                [id],
                backup_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(Error::UnknownBackup(id))?;
        let mut rows = [row];
        self.attach_copies(&mut rows)?;
        let [row] = rows;
        Ok(row)
    }

    /// The backup row whose archive is at `path`, if any (not deleted).
    pub fn find_by_path(&self, path: &Path) -> Result<Option<BackupRow>> {
        self.conn
            .query_row(
                &format!("SELECT {BACKUP_COLUMNS} FROM backups WHERE path = ?1 AND status != 'deleted' ORDER BY id DESC LIMIT 1"),
                [path.to_string_lossy()],
                backup_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Whether any row, whatever its status, names this archive path.
    pub fn path_known(&self, path: &Path) -> bool {
        self.conn
            .query_row(
                "SELECT 1 FROM backups WHERE path = ?1 LIMIT 1",
                [path.to_string_lossy()],
                |_| Ok(()),
            )
            .optional()
            .ok()
            .flatten()
            .is_some()
    }

    /// Backups oldest first (created time, then id); `deleted` ones only when asked.
    pub fn list(&self, profile: Option<&str>, include_deleted: bool) -> Result<Vec<BackupRow>> {
        let sql = format!(
            "SELECT {BACKUP_COLUMNS} FROM backups WHERE (?1 IS NULL OR profile = ?1) AND (?2 OR status != 'deleted') \
             ORDER BY created_at, id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map(params![profile, include_deleted], backup_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        drop(stmt);
        self.attach_copies(&mut rows)?;
        Ok(rows)
    }

    /// Backups still marked `running` (a crash left them, or another process is writing them now).
    pub fn running(&self) -> Result<Vec<BackupRow>> {
        Ok(self
            .list(None, false)?
            .into_iter()
            .filter(|b| b.status == Status::Running)
            .collect())
    }

    /// The created time of the most recently recorded completed automatic backup of a profile.
    pub fn last_automatic(&self, profile: &str) -> Result<Option<DateTime<Utc>>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT created_at FROM backups WHERE profile = ?1 AND trigger = 'automatic' \
                 AND status IN ('completed', 'corrupted', 'deleted') AND sha256 IS NOT NULL ORDER BY id DESC LIMIT 1",
                [profile],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        text.map(|t| parse_ts(&t))
            .transpose()
            .map_err(|e| self.err(e))
    }

    /// Records a restore that is starting; returns its id.
    pub fn insert_restore(
        &self,
        profile: &str,
        backup_id: Option<i64>,
        archive_path: &Path,
        validate_only: bool,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO restores (profile, backup_id, archive_path, validate_only, started_at, outcome) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
                params![profile, backup_id, archive_path.to_string_lossy(), validate_only as i64, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a restore with its outcome.
    pub fn finish_restore(
        &self,
        id: i64,
        outcome: &str,
        safety_backup_id: Option<i64>,
        message: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE restores SET outcome = ?2, safety_backup_id = ?3, message = ?4, finished_at = ?5 WHERE id = ?1",
                params![id, outcome, safety_backup_id, message, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records how far the running restore of `profile` got (the profile's lock makes it the only one); a
    /// `None` leaves that field as it was.
    pub fn note_restore(
        &self,
        profile: &str,
        step: Option<&str>,
        safety_backup_id: Option<i64>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE restores SET step = coalesce(?2, step), safety_backup_id = coalesce(?3, safety_backup_id) \
                 WHERE id = (SELECT max(id) FROM restores WHERE profile = ?1 AND outcome = 'running')",
                params![profile, step, safety_backup_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Ends the newest `running` job named `job` of `profile` (at start-up: one Backstop did not see to its end).
    pub fn finish_interrupted_job(
        &self,
        profile: &str,
        job: &str,
        outcome: &str,
        message: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE job_runs SET outcome = ?3, message = ?4, finished_at = ?5 \
                 WHERE id = (SELECT max(id) FROM job_runs WHERE profile = ?1 AND job = ?2 AND outcome = 'running')",
                params![profile, job, outcome, message, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest restore of `profile` still `running` (at start-up: one Backstop did not see to its end).
    pub fn interrupted_restore(&self, profile: &str) -> Result<Option<InterruptedRestore>> {
        self.conn
            .query_row(
                "SELECT id, archive_path, safety_backup_id, step FROM restores \
                 WHERE profile = ?1 AND outcome = 'running' ORDER BY id DESC LIMIT 1",
                params![profile],
                |row| {
                    Ok(InterruptedRestore {
                        id: row.get(0)?,
                        archive_path: PathBuf::from(row.get::<_, String>(1)?),
                        safety_backup_id: row.get(2)?,
                        step: row.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The restore log, newest first.
    pub fn restores(&self, profile: Option<&str>) -> Result<Vec<RestoreRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, profile, backup_id, archive_path, safety_backup_id, validate_only, started_at, finished_at, \
                 outcome, message, step FROM restores WHERE (?1 IS NULL OR profile = ?1) ORDER BY id DESC",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![profile], |row| {
            Ok(RestoreRow {
                id: row.get(0)?,
                profile: row.get(1)?,
                backup_id: row.get(2)?,
                archive_path: PathBuf::from(row.get::<_, String>(3)?),
                safety_backup_id: row.get(4)?,
                validate_only: row.get::<_, i64>(5)? != 0,
                started_at: parse_ts(&row.get::<_, String>(6)?)?,
                finished_at: row
                    .get::<_, Option<String>>(7)?
                    .map(|t| parse_ts(&t))
                    .transpose()?,
                outcome: row.get(8)?,
                message: row.get(9)?,
                step: row.get(10)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Records a job that is starting; returns its id.
    pub fn start_job(&self, job: &str, profile: Option<&str>) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO job_runs (job, profile, started_at, outcome) VALUES (?1, ?2, ?3, 'running')",
                params![job, profile, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a job with its outcome and message.
    pub fn finish_job(&self, id: i64, outcome: &str, message: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE job_runs SET outcome = ?2, message = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, outcome, message, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The job log, newest first.
    pub fn jobs(&self, profile: Option<&str>, limit: usize) -> Result<Vec<JobRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, job, profile, started_at, finished_at, outcome, message FROM job_runs \
                 WHERE (?1 IS NULL OR profile = ?1) ORDER BY id DESC LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![profile, limit as i64], |row| {
            Ok(JobRow {
                id: row.get(0)?,
                job: row.get(1)?,
                profile: row.get(2)?,
                started_at: parse_ts(&row.get::<_, String>(3)?)?,
                finished_at: row
                    .get::<_, Option<String>>(4)?
                    .map(|t| parse_ts(&t))
                    .transpose()?,
                outcome: row.get(5)?,
                message: row.get(6)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.err(e))
    }

    /// Marks `running` jobs and restores of a profile as failed (the process that ran them is gone).
    pub fn fail_stale_runs(&self, profile: &str, message: &str) -> Result<()> {
        let now = ts(Utc::now());
        self.conn
            .execute(
                "UPDATE job_runs SET outcome = 'failed', message = ?2, finished_at = ?3 WHERE profile = ?1 AND outcome = 'running'",
                params![profile, message, now],
            )
            .and_then(|_| {
                self.conn.execute(
                    "UPDATE restores SET outcome = 'failed', message = ?2, finished_at = ?3 WHERE profile = ?1 AND outcome = 'running'",
                    params![profile, message, now],
                )
            })
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Moves every row of a profile to its new name.
    pub fn rename_profile(&self, old: &str, new: &str) -> Result<()> {
        for table in ["backups", "restores", "job_runs"] {
            self.conn
                .execute(
                    &format!("UPDATE {table} SET profile = ?2 WHERE profile = ?1"),
                    params![old, new],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Closes the catalog as one self-contained file (WAL checkpointed, rollback journal), ready to be moved.
    pub fn into_single_file(self) -> Result<()> {
        let path = self.path.clone();
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
            .map_err(|e| Error::Catalog {
                path: path.clone(),
                message: format!("cannot checkpoint: {e}"),
            })?;
        self.conn.close().map_err(|(_, e)| Error::Catalog {
            path,
            message: format!("cannot close: {e}"),
        })
    }

    /// Copies the source SHA-256 of imported backups from another catalog, matched by archive path (used by
    /// rebuild, so a file imported before the rebuild is still found as a duplicate).
    pub fn copy_source_hashes_from(&self, old: &Path) -> Result<()> {
        let result = self
            .conn
            .execute("ATTACH DATABASE ?1 AS old", [old.to_string_lossy()])
            .and_then(|_| {
                self.conn.execute_batch(
                    "UPDATE backups SET source_sha256 = (SELECT o.source_sha256 FROM old.backups o \
                     WHERE o.path = backups.path AND o.source_sha256 IS NOT NULL ORDER BY o.id DESC LIMIT 1) \
                     WHERE trigger = 'uploaded';",
                )
            });
        let _ = self.conn.execute_batch("DETACH DATABASE old");
        result.map_err(|e| self.err(e))
    }

    /// Copies the restore log and job log from another catalog (used by rebuild to keep history).
    pub fn copy_history_from(&self, old: &Path) -> Result<()> {
        let result = self
            .conn
            .execute("ATTACH DATABASE ?1 AS old", [old.to_string_lossy()])
            .and_then(|_| {
                self.conn.execute_batch(
                    "INSERT INTO restores SELECT * FROM old.restores; INSERT INTO job_runs SELECT * FROM old.job_runs;",
                )
            });
        let _ = self.conn.execute_batch("DETACH DATABASE old");
        result.map_err(|e| self.err(e))
    }
}
