//! SQLite's own formats: a database file (bare or gzipped) and a SQL text dump (django-dbbackup's
//! `SqliteConnector`, iterdump, the sqlite3 shell's `.dump`), each made into a checked scratch database in the
//! storage folder and archived through the SQLite engine like any backup. The scratch-database helpers here also
//! serve the database part of a foreign container.

use super::Source;
use super::budget::{Budget, ErrorTrap, extract_to, read_failure};
use super::dates::created_time_of;
use super::sqlite_sql;
use super::staging::{Staging, Stored};
use crate::archive::{ArchiveWriter, DatabaseInfo};
use crate::engine::{self, sqlite::SQLITE_MAGIC};
use crate::error::{Error, Result};
use crate::fsutil::{self, TempGuard};
use crate::model::Kind;
use crate::progress::JobControl;
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// A scratch SQLite file and its sidecars, all removed on drop.
pub(super) struct ScratchDb {
    main: TempGuard,
    _sidecars: Vec<TempGuard>,
}

impl ScratchDb {
    /// A scratch file in the storage folder, removed when the guard drops (and by start-up clean-up after a
    /// crash: its name is one of Backstop's own `.import-*.partial`).
    pub(super) fn in_storage(source: &Source, tag: &str) -> ScratchDb {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = source.profile.storage_dir.join(format!(
            ".import-{}-{n}-{tag}{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        ));
        let _ = std::fs::remove_file(&path);
        ScratchDb::new(path)
    }

    fn new(path: PathBuf) -> ScratchDb {
        let sidecars = ["-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                TempGuard::new(PathBuf::from(name))
            })
            .collect();
        ScratchDb {
            main: TempGuard::new(path),
            _sidecars: sidecars,
        }
    }

    /// The scratch database's path.
    pub(super) fn path(&self) -> &Path {
        self.main.path()
    }

    /// The path of a sidecar (`-wal`, `-journal`) that SQLite looks for beside this file.
    pub(super) fn sidecar(&self, suffix: &str) -> PathBuf {
        let mut name = self.path().to_path_buf().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    }
}

/// Opens a scratch SQLite copy (ours, so read-write): a `-wal` beside it is replayed and checkpointed into it,
/// it becomes a plain rollback-journal file, and it must pass `PRAGMA integrity_check`.
pub(super) fn prepare_scratch_db(file: &Path, scratch: &Path, what: &str) -> Result<()> {
    let cannot = |e: rusqlite::Error| Error::refused(file, format!("SQLite cannot read it: {e}"));
    let conn = rusqlite::Connection::open_with_flags(
        scratch,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    // An untrusted schema must not run functions with side effects, nor edit the schema table.
    conn.pragma_update(None, "trusted_schema", "OFF")
        .map_err(cannot)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(cannot)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(cannot)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(cannot)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(Error::refused(
            file,
            format!("SQLite cannot take its copy out of {mode} mode"),
        ));
    }
    engine::sqlite::check_integrity(&conn, what, false)
        .map_err(|e| Error::refused(file, e.to_string()))
}

/// Archives a checked scratch SQLite copy through the SQLite engine, under `name`.
pub(super) fn archive_scratch_db(
    source: &Source,
    writer: &mut ArchiveWriter,
    scratch: &ScratchDb,
    name: &str,
    job: &JobControl,
) -> Result<DatabaseInfo> {
    let engine = engine::sqlite::SqliteEngine::new(
        scratch.path().to_path_buf(),
        std::time::Duration::from_secs(1),
    )
    .named(name);
    engine::Engine::backup(&engine, writer, &source.profile.storage_dir, job)
}

/// The database's name from a file name: up to the first dot (`default-host-2024-01-15-093000.dump.gz`).
fn stem_of(name: &str) -> &str {
    name.split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("database")
}

/// A bare or gzipped SQLite file: copied into scratch (bounded, counted while decompressing; a bare file through
/// SQLite read-only so rows in its WAL come along), checked, and archived through the SQLite engine.
pub(super) fn import_database_file(source: &Source, job: &JobControl) -> Result<Stored> {
    let created_at = created_time_of(source.file, source.name);
    let scratch = ScratchDb::in_storage(source, "db");
    let limit = source.limit();
    if source.gz {
        let budget = Budget::new(limit);
        let mut input = source.open(&budget)?;
        job.stage("unpacking import", None);
        extract_to(source.file, None, &mut input, scratch.path(), job)?;
    } else {
        let size = std::fs::metadata(source.file).map(|m| m.len()).unwrap_or(0);
        if size > limit {
            return Err(source.refused(format!(
                "it is larger than the import limit of {limit} bytes (settings.max_import_bytes)"
            )));
        }
        engine::sqlite::copy_read_only(source.file, scratch.path(), job).map_err(|e| match e {
            e @ (Error::Cancelled | Error::DiskFull(_) | Error::NoSpace { .. }) => e,
            other => source.refused(format!("SQLite cannot read it: {other}")),
        })?;
    }
    let mut head = [0u8; 16];
    File::open(scratch.path())
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|_| source.refused("it does not hold a SQLite database"))?;
    if &head != SQLITE_MAGIC {
        return Err(source.refused("it does not hold a SQLite database"));
    }
    archive_single(source, &scratch, created_at, job)
}

/// Checks the scratch copy of a single-file import and archives it as a database backup named after the file.
fn archive_single(
    source: &Source,
    scratch: &ScratchDb,
    created_at: DateTime<Utc>,
    job: &JobControl,
) -> Result<Stored> {
    prepare_scratch_db(source.file, scratch.path(), source.name)?;
    let mut staging = Staging::new(source, created_at)?;
    let database = archive_scratch_db(
        source,
        &mut staging.writer,
        scratch,
        stem_of(source.name),
        job,
    )?;
    staging.finish(source, Kind::Database, Some(database), job)
}

/// A SQLite SQL text dump (django-dbbackup's `SqliteConnector`, iterdump, the sqlite3 shell's `.dump`), run into
/// a fresh scratch database with ATTACH, VACUUM INTO, extension loading and unsafe PRAGMAs refused (such a file
/// could otherwise write anywhere), then checked and archived like a SQLite file.
pub(super) fn import_sql_dump(source: &Source, job: &JobControl) -> Result<Stored> {
    let created_at = created_time_of(source.file, source.name);
    let scratch = ScratchDb::in_storage(source, "sql");
    let limit = source.limit();
    let budget = Budget::new(limit);
    let mut input = source.open(&budget)?;
    let mut trap = ErrorTrap::new(&mut input);
    let mut reader = BufReader::with_capacity(1 << 16, &mut trap);
    let total = (!source.gz)
        .then(|| std::fs::metadata(source.file).ok().map(|m| m.len()))
        .flatten();
    job.stage("loading SQL dump", total);
    let loaded = {
        let mut conn = fresh_bounded_database(scratch.path(), limit, job)?;
        sqlite_sql::load_sql_dump(
            &mut reader,
            &mut conn,
            &sqlite_sql::Limits::default(),
            &mut |bytes| {
                job.progress("loading SQL dump", bytes, total);
                !job.cancel.is_cancelled()
            },
        )
    };
    drop(reader);
    if let Some(e) = trap.error.take() {
        return Err(read_failure(source.file, None, e));
    }
    match loaded {
        Ok(_) => {}
        Err(sqlite_sql::SqlDumpError::Cancelled) => return Err(Error::Cancelled),
        Err(_) if job.cancel.is_cancelled() => return Err(Error::Cancelled),
        Err(sqlite_sql::SqlDumpError::Io(e)) => return Err(read_failure(source.file, None, e)),
        Err(sqlite_sql::SqlDumpError::Sql {
            line,
            statement,
            message,
        }) if message.contains("database or disk is full") => {
            return Err(source.refused(format!(
                "line {line}: `{statement}` would grow the database past the import limit of {limit} bytes \
                 (settings.max_import_bytes), or the disk is full ({message}); nothing was kept"
            )));
        }
        Err(other) => {
            return Err(source.refused(format!("{other}; nothing was kept")));
        }
    }
    archive_single(source, &scratch, created_at, job)
}

/// Creates the empty scratch database a SQL dump runs into, bounded: its page size is fixed (a dump's
/// `PRAGMA page_size` no longer applies once the file exists) and it may not grow past `limit` bytes, so a small
/// dump cannot build a huge file (`zeroblob`, doubling `INSERT … SELECT`); a cancel interrupts a long statement.
fn fresh_bounded_database(
    path: &Path,
    limit: u64,
    job: &JobControl,
) -> Result<rusqlite::Connection> {
    let cannot = |e| Error::sqlite("cannot create the import's scratch database", e);
    // Private from its first byte (SQLite gives its journal the same mode).
    drop(fsutil::create_private(path)?);
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    conn.execute_batch(
        "PRAGMA page_size = 4096; CREATE TABLE backstop_probe(x); DROP TABLE backstop_probe;",
    )
    .map_err(cannot)?;
    // One value (or row) may not pass 64 MiB, so `randomblob(2e9)` cannot take the memory either.
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, 64 << 20)
        .map_err(cannot)?;
    let pages = (limit / 4096).max(16);
    conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
        .map_err(cannot)?;
    let cancel = job.cancel.clone();
    conn.progress_handler(100_000, Some(move || cancel.is_cancelled()))
        .map_err(cannot)?;
    Ok(conn)
}
