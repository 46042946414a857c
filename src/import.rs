//! Import: backups written by Backstop or by other apps become `uploaded` Backstop archives of a profile.
//!
//! Part of the job layer: [`crate::jobs::import_batch`] (or [`crate::jobs::import`], one file) takes the
//! profile's lock and calls [`import_locked`] for each file, which uses the jobs' [`Context`] and sealing. Every
//! input is untrusted.
//!
//! Recognised by content, never by name alone, in this order:
//! 1. a zip (`PK\3\4`): a Backstop archive when it is shaped like one (a manifest naming `backstop-archive`, or
//!    only `manifest.json`, `README.txt`, `database/…` and `files/…` entries), checked like a restore would;
//!    else a web app's backup zip (`database.sqlite3`, `media/`, `backup_metadata.json`), else a zip of a media
//!    folder alone;
//! 2. a gzip stream (`1f 8b`), by what its first decompressed bytes hold: a tar, a SQLite file, a PostgreSQL
//!    custom dump (`PGDMP`), or SQL text;
//! 3. the same four without gzip: a tar (`ustar` at offset 257), a bare SQLite file, a custom dump, SQL text.
//!
//! A tar whose first entry is pg_dump's `toc.dat` is a `pg_dump -Ft` dump; any other tar or zip is surveyed
//! first (its entry names, [`detect::Survey`]): a folder holding pg_dump's `toc.dat` and data files only is a
//! `pg_dump -Fd` dump, extracted into a private scratch folder and loaded like any PostgreSQL dump (such a
//! folder may also be given as the path); else it is files, with one rule for a single top folder.
//!
//! SQL text is a MySQL/MariaDB dump (named, and refused: Backstop has no such engine), a SQLite dump
//! (django-dbbackup's `SqliteConnector`, `.dump`) or a PostgreSQL plain dump; where the first statements fit
//! both of the last two, the profile's engine decides. Anything else is refused with the list of formats
//! Backstop reads.
//!
//! A file whose SHA-256 is already catalogued for the profile (as an archive's, or as the source of an earlier
//! import) is a duplicate: reported, not added again ([`batch`]).
//!
//! Containers (zip, tar) holding files are read in one pass (after the survey: a zip's central directory, a
//! tar's names read once) straight into the new archive's `.partial` file, which is their only staging: nothing
//! of them is written outside the storage folder, and any refusal deletes it. (PostgreSQL dumps are staged in
//! the private `state/tmp` for pg_restore and psql, removed when the import ends.) Each entry is
//! checked as restore checks them (no `..`, absolute or drive-letter paths, NUL, reserved names, duplicates,
//! no links or devices) and every byte is counted as it is decompressed against `settings.max_import_bytes`
//! (headers are never trusted); `settings.max_import_entries` bounds the entry count. A database part is
//! extracted to a scratch file beside the archive, opened by SQLite (so a `-wal` beside it is replayed into
//! that copy, never into anything of the user's), checkpointed, checked with `PRAGMA integrity_check`, and
//! archived through the SQLite engine like any backup. A foreign media folder becomes the archive's `files/`.
//!
//! One rule for engines: every database dump names its engine ([`Content::engine`]) and its format
//! ([`Content::format_name`]); a dump, a Backstop archive's database or a container's database of another engine
//! than the profile's is refused in one place (`Source::require_engine`), before anything is read further. Each
//! engine's loaders of its own formats are one file (`import/sqlite.rs`, `import/postgres.rs`), called from one
//! `match` (`load_dump`). The rest: `budget.rs` (reading limits), `dates.rs` (created times), `staging.rs` (the
//! new archive), `containers.rs`, `zip_file.rs` and `tar_file.rs` (zips and tars, Backstop archives among them).

pub mod batch;
mod budget;
mod containers;
mod dates;
pub mod detect;
mod mysql;
mod postgres;
mod sqlite;
pub mod sqlite_sql;
mod staging;
mod tar_file;
mod zip_file;

pub use containers::{DatabasePart, Layout, Place};
pub use dates::{created_time_of, name_timestamp, parse_backup_date};

use crate::catalog::BackupRow;
use crate::config::Profile;
use crate::engine::{self, sqlite::SQLITE_MAGIC};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::jobs::{Context, ImportReport};
use crate::model::{EngineKind, Status, Trigger};
use crate::progress::JobControl;
use budget::{Budget, BudgetReader};
use chrono::Utc;
use staging::Stored;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Instant;

/// What the refusal of an unknown file says Backstop reads.
pub const UNDERSTOOD_FORMATS: &str = "not a format Backstop understands: it reads Backstop archives (.zip); \
     SQLite database files (.sqlite, .sqlite3, .db) and gzipped ones (.db.gz); SQLite SQL text dumps \
     (django-dbbackup .dump); PostgreSQL custom dumps (.psql.bin, .dump), tar-format dumps (pg_dump -Ft), \
     directory-format dumps (pg_dump -Fd: the folder, or a tar or zip of it) and plain SQL dumps (.sql, .psql); \
     web-app backup zips (database.sqlite3, media/, backup_metadata.json); .tar.gz backups of a backup/ folder \
     (database/ and files/); zips and tars of a media folder (django-dbbackup mediabackup); dumps and tars may \
     be gzipped (.gz)";

/// How many leading bytes recognise a format (a tar header is 512; SQL needs its first statements).
const HEAD_BYTES: usize = 4096;
/// The gzip magic number.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// What the leading bytes of a file (or of a gzip stream's content) hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A zip file: a Backstop archive or a foreign one.
    Zip,
    /// A SQLite database file.
    Sqlite,
    /// A PostgreSQL custom-format dump.
    PgCustom,
    /// A tar archive.
    Tar,
    /// A SQLite SQL text dump.
    SqliteSql,
    /// A PostgreSQL plain SQL dump.
    PlainSql,
    /// A `pg_dump -Ft` tar.
    PgTar,
    /// A MySQL or MariaDB dump.
    Mysql(detect::MysqlFlavor),
}

/// Recognises content by its first bytes. SQL text that could be either dialect goes to the profile's engine.
pub fn sniff(head: &[u8], engine: EngineKind) -> Option<Content> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Some(Content::Zip);
    }
    if head.starts_with(SQLITE_MAGIC) {
        return Some(Content::Sqlite);
    }
    if head.starts_with(detect::PG_DUMP_MAGIC) {
        return Some(Content::PgCustom);
    }
    if detect::is_pg_tar(head) {
        return Some(Content::PgTar);
    }
    if head.get(257..262) == Some(b"ustar".as_slice()) {
        return Some(Content::Tar);
    }
    if let Some(flavor) = detect::mysql_dump(head) {
        return Some(Content::Mysql(flavor));
    }
    let sqlite_like = sqlite_sql::looks_like_sqlite_dump(head);
    let pg_like = engine::pgsql_check::looks_like_plain_sql(head);
    match (sqlite_like, pg_like) {
        (true, true) if engine == EngineKind::Postgres && !sqlite_only_syntax(head) => {
            Some(Content::PlainSql)
        }
        (true, _) => Some(Content::SqliteSql),
        (false, true) => Some(Content::PlainSql),
        (false, false) => None,
    }
}

/// Whether SQL text uses what only SQLite writes (django-dbbackup's `INSERT OR REPLACE`, `AUTOINCREMENT`, the
/// `sqlite_sequence` table), which settles SQL that could otherwise be either dialect.
fn sqlite_only_syntax(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    [
        "insert or replace into",
        "autoincrement",
        "without rowid",
        "sqlite_sequence",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

impl Content {
    /// The engine whose dump this is, which alone may load it: None for a container (zip, tar: what it holds
    /// is checked entry by entry).
    pub fn engine(self) -> Option<EngineKind> {
        match self {
            Content::Sqlite | Content::SqliteSql => Some(EngineKind::Sqlite),
            Content::PgCustom | Content::PgTar | Content::PlainSql => Some(EngineKind::Postgres),
            Content::Mysql(_) => Some(EngineKind::Mysql),
            Content::Zip | Content::Tar => None,
        }
    }

    /// Whether it is a database dump (loaded by its engine), not a container (zip, tar).
    pub fn is_dump(self) -> bool {
        !matches!(self, Content::Zip | Content::Tar)
    }

    /// The format's name in reports and refusals (a container is reported by what it turns out to hold).
    pub fn format_name(self) -> &'static str {
        match self {
            Content::Sqlite => "SQLite database",
            Content::SqliteSql => "SQLite SQL dump",
            Content::PgCustom => "PostgreSQL custom-format dump",
            Content::PgTar => "PostgreSQL tar-format dump",
            Content::PlainSql => "PostgreSQL plain SQL dump",
            Content::Mysql(flavor) => flavor.format_name(),
            Content::Zip => "zip",
            Content::Tar => "tar",
        }
    }
}

/// What importing one file came to.
#[derive(Debug)]
pub enum Imported {
    /// A new `uploaded` backup.
    New(Box<ImportReport>),
    /// The same content is already catalogued for the profile: nothing was added.
    Duplicate(batch::DuplicateReport),
}

/// What a file was recognised as, and the single top folder its import unwrapped (if any).
struct Found {
    detected: String,
    unwrapped: Option<String>,
}

impl Found {
    fn named(detected: impl Into<String>) -> Found {
        Found {
            detected: detected.into(),
            unwrapped: None,
        }
    }
}

/// Imports one file (or a `pg_dump -Fd` folder) into `profile`, whose lock the caller holds. A refused file adds
/// nothing; a file already catalogued for the profile is reported as a duplicate and adds nothing either.
pub(crate) fn import_locked(
    ctx: &Context,
    profile: &Profile,
    file: &Path,
    job: &JobControl,
) -> Result<Imported> {
    let start = Instant::now();
    let meta = std::fs::symlink_metadata(file)
        .map_err(|e| Error::refused(file, format!("cannot read it: {e}")))?;
    let source_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if meta.is_dir() {
        if !postgres::is_pg_folder(file) {
            return Err(Error::refused(
                file,
                "it is a folder, and not a pg_dump directory-format dump (it has no pg_dump toc.dat); \
                 give the backup files in it, or the folder to `backstop import` to import each of them",
            ));
        }
        fsutil::check_writable_dir(&profile.storage_dir)?;
        let source = Source {
            ctx,
            profile,
            file,
            name: &source_name,
            gz: false,
        };
        let sha256 = batch::source_sha256(file, job)?;
        if let Some(duplicate) = batch::duplicate_of(ctx, profile, file, &sha256)? {
            return Ok(Imported::Duplicate(duplicate));
        }
        let (found, stored) = postgres::import_folder(&source, job)?;
        return catalogue(&source, start, found, stored, sha256)
            .map(|r| Imported::New(Box::new(r)));
    }
    if !meta.is_file() {
        return Err(Error::refused(file, "not a regular file"));
    }
    fsutil::check_writable_dir(&profile.storage_dir)?;
    let mut head = Vec::new();
    File::open(file)
        .and_then(|f| f.take(HEAD_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| Error::refused(file, format!("cannot read it: {e}")))?;
    let gz = head.starts_with(&GZIP_MAGIC);
    let inner = if gz { gz_head(file) } else { head };
    let content = sniff(&inner, profile.database.engine()).filter(|c| !(gz && *c == Content::Zip));
    let Some(content) = content else {
        return Err(Error::refused(file, UNDERSTOOD_FORMATS));
    };
    let source = Source {
        ctx,
        profile,
        file,
        name: &source_name,
        gz,
    };
    if content.is_dump() {
        source.require_engine(&source.gzipped(content.format_name()), content.engine())?;
    }
    let sha256 = batch::source_sha256(file, job)?;
    if let Some(duplicate) = batch::duplicate_of(ctx, profile, file, &sha256)? {
        return Ok(Imported::Duplicate(duplicate));
    }
    let (found, stored) = match content {
        Content::Zip => zip_file::import_zip(&source, job)?,
        Content::Tar => tar_file::import_tar(&source, job)?,
        dump => {
            let found = Found::named(source.gzipped(dump.format_name()));
            let stored = load_dump(&source, dump, &found.detected, job)?;
            (found, stored)
        }
    };
    catalogue(&source, start, found, stored, sha256).map(|r| Imported::New(Box::new(r)))
}

/// Loads a database dump (`format` names it) with its engine's loader: one arm per engine, each in its own file
/// (`import/<engine>.rs`). The profile's engine was checked to be the dump's.
fn load_dump(source: &Source, dump: Content, format: &str, job: &JobControl) -> Result<Stored> {
    match dump {
        Content::Sqlite => sqlite::import_database_file(source, job),
        Content::SqliteSql => sqlite::import_sql_dump(source, job),
        Content::PgCustom | Content::PgTar => postgres::import_dump(source, false, format, job),
        Content::PlainSql => postgres::import_dump(source, true, format, job),
        Content::Mysql(_) => mysql::import_dump(source, format, job),
        Content::Zip | Content::Tar => Err(source.refused(UNDERSTOOD_FORMATS)),
    }
}

/// Records an import's sealed archive in the catalog, with the SHA-256 of what was imported (so the same file
/// imported again is found as a duplicate).
fn catalogue(
    source: &Source,
    start: Instant,
    found: Found,
    stored: Stored,
    source_sha256: String,
) -> Result<ImportReport> {
    let Stored {
        path,
        completion,
        manifest,
        notes,
    } = stored;
    let database = manifest.database.as_ref();
    let row = BackupRow {
        id: 0,
        profile: source.profile.name.clone(),
        kind: manifest.kind,
        trigger: Trigger::Uploaded,
        status: Status::Completed,
        path,
        size_bytes: Some(completion.size_bytes),
        sha256: Some(completion.sha256.clone()),
        created_at: manifest.created_at,
        finished_at: Some(Utc::now()),
        duration_ms: Some(start.elapsed().as_millis().min(u128::from(u64::MAX)) as u64),
        engine: database.map(|d| d.engine.to_string()),
        engine_version: database.map(|d| d.engine_version.clone()),
        database_name: database.map(|d| d.name.clone()),
        database_size_bytes: database.map(|d| d.size_bytes),
        error: None,
        pinned: false,
        tables: database.map(|d| d.tables.clone()),
        warnings: Vec::new(),
        clock_ahead_secs: crate::retention::clock_ahead_secs(manifest.created_at, Utc::now()),
        copies: Vec::new(),
        encryption: None,
    };
    let id = source.ctx.catalog.insert_uploaded(&row, &source_sha256)?;
    Ok(ImportReport {
        source: source.file.to_path_buf(),
        backup: BackupRow { id, ..row },
        detected: found.detected,
        unwrapped: found.unwrapped,
        source_sha256,
        notes,
    })
}

/// The file being imported and where it goes.
struct Source<'a> {
    ctx: &'a Context,
    profile: &'a Profile,
    file: &'a Path,
    /// The file's name (for the created time, the database's name and `imported_from`).
    name: &'a str,
    /// Whether the file is a gzip stream.
    gz: bool,
}

impl Source<'_> {
    fn limit(&self) -> u64 {
        self.ctx.config.settings.max_import_bytes
    }

    fn refused(&self, reason: impl Into<String>) -> Error {
        Error::refused(self.file, reason)
    }

    fn open<'b>(&self, budget: &'b Budget) -> Result<BudgetReader<'b, Box<dyn Read>>> {
        let input =
            File::open(self.file).map_err(|e| self.refused(format!("cannot read it: {e}")))?;
        let inner: Box<dyn Read> = if self.gz {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
                1 << 16,
                input,
            )))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, input))
        };
        Ok(BudgetReader::new(inner, budget))
    }

    /// Decompresses the file (every byte counted against `settings.max_import_bytes`) into a private scratch
    /// file in `tmp`, removed when the guard goes.
    fn unpack(&self, tmp: &Path, job: &JobControl) -> Result<crate::fsutil::TempGuard> {
        let staged = crate::fsutil::TempGuard::new(tmp.join(format!(
            ".import-{}.dump{}",
            std::process::id(),
            crate::fsutil::PARTIAL_SUFFIX
        )));
        let _ = std::fs::remove_file(staged.path());
        let limit = self.limit();
        if !self.gz && std::fs::metadata(self.file).is_ok_and(|m| m.len() > limit) {
            return Err(self.refused(format!(
                "it is larger than the import limit of {limit} bytes (settings.max_import_bytes)"
            )));
        }
        let budget = Budget::new(limit);
        let mut input = self.open(&budget)?;
        job.stage("unpacking import", None);
        budget::extract_to(self.file, None, &mut input, staged.path(), job)?;
        Ok(staged)
    }

    /// Runs a dump's SQL `check` over the unpacked file `staged`, writing what may run into a new private file in
    /// `tmp` (synced), removed when its guard goes. A refusal is the file's: "…; nothing was run".
    fn check_sql<T, R: std::fmt::Display>(
        &self,
        tmp: &Path,
        staged: &Path,
        check: impl FnOnce(
            &mut BufReader<File>,
            &mut std::io::BufWriter<File>,
        ) -> Result<std::result::Result<T, R>>,
    ) -> Result<(crate::fsutil::TempGuard, T)> {
        use crate::error::IoContext;
        let filtered = crate::fsutil::TempGuard::new(tmp.join(format!(
            ".import-{}.sql{}",
            std::process::id(),
            crate::fsutil::PARTIAL_SUFFIX
        )));
        let mut input = BufReader::new(File::open(staged).ctx("cannot read", staged)?);
        let mut output = std::io::BufWriter::new(fsutil::create_private(filtered.path())?);
        let checked = check(&mut input, &mut output)?
            .map_err(|refusal| self.refused(format!("{refusal}; nothing was run")))?;
        output
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .ctx("cannot write", filtered.path())?;
        Ok((filtered, checked))
    }

    /// An engine's error while loading the dump: the server's or the machine's problems keep their kind (a
    /// server that will serve again is transient); only what the dump itself caused is a refusal of the file.
    fn load_error(&self, e: Error) -> Error {
        match e {
            e @ (Error::Cancelled
            | Error::DiskFull(_)
            | Error::ServerUnreachable { .. }
            | Error::ServerUnavailable { .. }
            | Error::AuthFailed { .. }
            | Error::AccessDenied { .. }
            | Error::PrivilegeMissing { .. }
            | Error::TlsFailed { .. }
            | Error::ToolMissing { .. }) => e,
            other => self.refused(other.to_string()),
        }
    }

    /// A format's name as reports give it: `gzipped …` when the file is a gzip stream.
    fn gzipped(&self, format: &str) -> String {
        if self.gz {
            format!("gzipped {format}")
        } else {
            format.to_string()
        }
    }

    /// The one engine rule, for every dump, a Backstop archive's database and a container's database alike: a
    /// database in `format`, whose engine is `engine` (None: one Backstop has no engine for), is loaded only into a
    /// profile of that engine.
    fn require_engine(&self, format: &str, engine: Option<EngineKind>) -> Result<()> {
        match engine {
            Some(engine) if engine == self.profile.database.engine() => Ok(()),
            _ => Err(self.other_engine(format, engine)),
        }
    }

    /// The refusal of a database in `format` (of `engine`) for this profile, naming both engines.
    fn other_engine(&self, format: &str, engine: Option<EngineKind>) -> Error {
        let (profile, theirs) = (&self.profile.name, self.profile.database.engine());
        self.refused(match engine {
            Some(engine) => format!(
                "it holds a {format} ({engine}) but profile {profile} uses {theirs}; Backstop never loads a database \
                 into another engine: import it into a profile of a {} database",
                engine::family(engine).label()
            ),
            None => format!("it holds a {format} but profile {profile} uses {theirs}"),
        })
    }
}

/// The first bytes of a gzip stream's content (to recognise what is inside without unpacking it all).
fn gz_head(file: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    if let Ok(f) = File::open(file) {
        let _ = flate2::read::MultiGzDecoder::new(BufReader::new(f))
            .take(HEAD_BYTES as u64)
            .read_to_end(&mut head);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dump_names_its_engine_and_format() {
        use Content::*;
        #[rustfmt::skip]
        let cases = [
            (Sqlite, Some(EngineKind::Sqlite), "SQLite database"),
            (SqliteSql, Some(EngineKind::Sqlite), "SQLite SQL dump"),
            (PgCustom, Some(EngineKind::Postgres), "PostgreSQL custom-format dump"),
            (PgTar, Some(EngineKind::Postgres), "PostgreSQL tar-format dump"),
            (PlainSql, Some(EngineKind::Postgres), "PostgreSQL plain SQL dump"),
            (Mysql(detect::MysqlFlavor::Mariadb), Some(EngineKind::Mysql), "MariaDB dump"),
        ];
        for (content, engine, format) in cases {
            assert!(content.is_dump(), "{content:?}");
            assert_eq!(content.engine(), engine, "{content:?}");
            assert_eq!(content.format_name(), format);
        }
        assert!(!Zip.is_dump() && !Tar.is_dump());
    }

    #[test]
    fn content_is_recognised_by_its_first_bytes() {
        let mut tar = vec![0u8; 1024];
        tar[..5].copy_from_slice(b"a.txt");
        tar[257..263].copy_from_slice(b"ustar\0");
        let mut pg_tar = tar.clone();
        pg_tar[..7].copy_from_slice(b"toc.dat");
        pg_tar[512..517].copy_from_slice(b"PGDMP");
        use Content::*;
        use EngineKind::{Postgres, Sqlite as Lite};
        #[rustfmt::skip]
        let cases: [(&[u8], EngineKind, Option<Content>); 15] = [
            (b"PK\x03\x04rest", Lite, Some(Zip)),
            (b"PK\x05\x06", Lite, Some(Zip)),
            (b"SQLite format 3\0....", Postgres, Some(Sqlite)),
            (b"PGDMP\x01\x0e", Lite, Some(PgCustom)),
            (&tar, Lite, Some(Tar)),
            (&pg_tar, Lite, Some(PgTar)),
            // A MySQL/MariaDB dump is named as such, whatever the profile's engine.
            (b"-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\nCREATE TABLE `t` (x int);\n", Postgres, Some(Mysql(detect::MysqlFlavor::Mariadb))),
            (b"/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE t (x int);\n", Lite, Some(Mysql(detect::MysqlFlavor::Either))),
            (b"CREATE TABLE IF NOT EXISTS \"a\" (x);\n", Lite, Some(SqliteSql)),
            // Fits both dialects: the profile's engine decides, unless only SQLite writes it.
            (b"CREATE TABLE t (x int);\n", Postgres, Some(PlainSql)),
            (b"CREATE TABLE \"a\" (x);\nINSERT OR REPLACE INTO \"a\" VALUES(1);\n", Postgres, Some(SqliteSql)),
            (b"BEGIN TRANSACTION;\nCREATE TABLE t(x);\n", Lite, Some(SqliteSql)),
            (b"--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n", Lite, Some(PlainSql)),
            (b"\\restrict abc\nSET x = 1;\n", Postgres, Some(PlainSql)),
            (b"\x00\x01binary junk", Lite, None),
        ];
        for (head, engine, expected) in cases {
            assert_eq!(
                sniff(head, engine),
                expected,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
