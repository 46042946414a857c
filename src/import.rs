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

pub mod batch;
pub mod detect;
mod pg_directory;
pub mod sqlite_sql;

use crate::archive::{
    self, ArchiveReader, ArchiveWriter, DatabaseInfo, EntryMeta, FILES_PREFIX, Manifest,
};
use crate::catalog::{BackupRow, Completion};
use crate::config::Profile;
use crate::engine::{self, sqlite::SQLITE_MAGIC};
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::fsutil::{self, TempGuard};
use crate::jobs::{Context, ImportReport};
use crate::model::{EngineKind, Kind, Status, Trigger};
use crate::progress::{CopyError, JobControl, copy_hashing};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
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
/// The largest `backup_metadata.json` read.
const MAX_METADATA_BYTES: u64 = 1 << 20;
/// The most bytes a tar reader may consume between two entries (PAX and GNU long-name headers are held in
/// memory by the tar crate, so they are bounded here).
const MAX_TAR_HEADER_BYTES: u64 = 1 << 20;

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

/// An archive written by an import, sealed in place.
struct Stored {
    path: PathBuf,
    completion: Completion,
    manifest: Manifest,
    /// What the user should know about what was left out.
    notes: Vec<String>,
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
        if !pg_directory::is_pg_folder(file) {
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
        let (found, stored) = pg_directory::import_folder(&source, job)?;
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
    let engine_kind = profile.database.engine();
    let content = sniff(&inner, engine_kind).filter(|c| !(gz && *c == Content::Zip));
    let Some(content) = content else {
        return Err(Error::refused(file, UNDERSTOOD_FORMATS));
    };
    let zipped = if gz { "gzipped " } else { "" };
    if let Content::Mysql(flavor) = content {
        return Err(mysql_refusal(file, profile, flavor, zipped));
    }
    let source = Source {
        ctx,
        profile,
        file,
        name: &source_name,
        gz,
    };
    let sha256 = batch::source_sha256(file, job)?;
    if let Some(duplicate) = batch::duplicate_of(ctx, profile, file, &sha256)? {
        return Ok(Imported::Duplicate(duplicate));
    }
    let (found, stored) = match content {
        Content::Zip => import_zip(&source, job)?,
        Content::Tar => import_tar(&source, job)?,
        Content::Sqlite => (
            Found::named(format!("{zipped}SQLite database")),
            import_sqlite_file(&source, job)?,
        ),
        Content::SqliteSql => (
            Found::named(format!("{zipped}SQLite SQL dump")),
            import_sqlite_sql(&source, job)?,
        ),
        Content::Mysql(flavor) => return Err(mysql_refusal(file, profile, flavor, zipped)),
        Content::PgCustom | Content::PgTar | Content::PlainSql => {
            let format = match content {
                Content::PgCustom => "PostgreSQL custom-format dump",
                Content::PgTar => "PostgreSQL tar-format dump",
                _ => "PostgreSQL plain SQL dump",
            };
            let found = Found::named(format!("{zipped}{format}"));
            let stored =
                import_pg_dump(&source, content == Content::PlainSql, &found.detected, job)?;
            (found, stored)
        }
    };
    catalogue(&source, start, found, stored, sha256).map(|r| Imported::New(Box::new(r)))
}

/// The refusal of a MySQL/MariaDB dump, naming both engines.
fn mysql_refusal(
    file: &Path,
    profile: &Profile,
    flavor: detect::MysqlFlavor,
    zipped: &str,
) -> Error {
    Error::refused(
        file,
        format!(
            "it is a {zipped}{} (engine {}), but profile {} uses {}; Backstop has no MySQL/MariaDB engine and \
             never loads such a dump into another engine",
            flavor.format_name(),
            flavor.engine_name(),
            profile.name,
            profile.database.engine()
        ),
    )
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

    /// The file's content, decompressed when it is a gzip stream (every member of a multi-member one), every
    /// byte counted against the import limit.
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

    /// Refuses a database of another engine than the profile's, naming both.
    fn require_engine(&self, engine: EngineKind, what: &str) -> Result<()> {
        let theirs = self.profile.database.engine();
        if theirs == engine {
            Ok(())
        } else {
            Err(self.refused(format!(
                "it holds {what} ({engine}) but profile {} uses {theirs}",
                self.profile.name
            )))
        }
    }

    /// A scratch file in the storage folder, removed when the guard drops (and by start-up clean-up after a
    /// crash: its name is one of Backstop's own `.import-*.partial`).
    fn scratch(&self, tag: &str) -> ScratchDb {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.profile.storage_dir.join(format!(
            ".import-{}-{n}-{tag}{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        ));
        let _ = std::fs::remove_file(&path);
        ScratchDb::new(path)
    }
}

/// A scratch SQLite file and its sidecars, all removed on drop.
struct ScratchDb {
    main: TempGuard,
    _sidecars: Vec<TempGuard>,
}

impl ScratchDb {
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

    fn path(&self) -> &Path {
        self.main.path()
    }

    /// The path of a sidecar (`-wal`, `-journal`) that SQLite looks for beside this file.
    fn sidecar(&self, suffix: &str) -> PathBuf {
        let mut name = self.path().to_path_buf().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading untrusted streams

/// The bytes an import may decompress, counted as they come out.
struct Budget {
    limit: u64,
    used: Cell<u64>,
    /// Where the current stretch between two tar entries began (None: reading an entry's data).
    between_entries: Cell<Option<u64>>,
}

impl Budget {
    fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: Cell::new(0),
            between_entries: Cell::new(None),
        }
    }
}

/// Why a [`BudgetReader`] stopped.
#[derive(Debug)]
enum Overrun {
    /// More bytes than `settings.max_import_bytes`.
    Limit(u64),
    /// A tar extension header larger than [`MAX_TAR_HEADER_BYTES`].
    Header,
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overrun::Limit(limit) => write!(f, "more than {limit} bytes"),
            Overrun::Header => write!(f, "a tar header larger than {MAX_TAR_HEADER_BYTES} bytes"),
        }
    }
}

impl std::error::Error for Overrun {}

/// Counts every byte read against a [`Budget`]; fails once it is spent.
struct BudgetReader<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<'b, R: Read> BudgetReader<'b, R> {
    fn new(inner: R, budget: &'b Budget) -> Self {
        BudgetReader { inner, budget }
    }
}

impl<R: Read> Read for BudgetReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.budget.used.get() + n as u64;
        self.budget.used.set(used);
        if used > self.budget.limit {
            return Err(std::io::Error::other(Overrun::Limit(self.budget.limit)));
        }
        if let Some(start) = self.budget.between_entries.get()
            && used - start > MAX_TAR_HEADER_BYTES
        {
            return Err(std::io::Error::other(Overrun::Header));
        }
        Ok(n)
    }
}

/// Keeps the first read error of a reader handed to code that would turn it into its own error.
struct ErrorTrap<'r> {
    inner: &'r mut dyn Read,
    error: Option<std::io::Error>,
}

impl<'r> ErrorTrap<'r> {
    fn new(inner: &'r mut dyn Read) -> Self {
        ErrorTrap { inner, error: None }
    }
}

impl Read for ErrorTrap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
        }
    }
}

/// The refusal for a stream that could not be read: over the limit, truncated, or damaged.
fn read_failure(file: &Path, entry: Option<&str>, e: std::io::Error) -> Error {
    if let Some(overrun) = e.get_ref().and_then(|i| i.downcast_ref::<Overrun>()) {
        return match overrun {
            Overrun::Limit(limit) => Error::refused(
                file,
                format!(
                    "it unpacks to more than the import limit of {limit} bytes (settings.max_import_bytes); a decompression bomb?"
                ),
            ),
            Overrun::Header => Error::refused(
                file,
                format!(
                    "it has a tar extension header larger than {MAX_TAR_HEADER_BYTES} bytes; the file is damaged or hostile"
                ),
            ),
        };
    }
    let at = entry.map_or(String::new(), |name| format!(" at entry '{name}'"));
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::refused(
            file,
            format!(
                "it is truncated: its data ends early{at} ({e}), so it cannot be read completely"
            ),
        )
    } else {
        Error::refused(
            file,
            format!("it cannot be read completely{at} ({e}); it may be truncated or damaged"),
        )
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

/// Streams `reader` into a new private file `out`, every byte counted by the reader's budget.
fn extract_to(
    file: &Path,
    entry: Option<&str>,
    reader: &mut dyn Read,
    out: &Path,
    job: &JobControl,
) -> Result<u64> {
    let mut target = fsutil::create_private(out)?;
    let copied = copy_hashing(reader, &mut target, u64::MAX, job, "unpacking import", None)
        .map_err(|e| match e {
            CopyError::Read(e) => read_failure(file, entry, e),
            CopyError::Write(e) => Error::io("cannot write the imported copy", out, e),
            CopyError::TooLarge(_) => Error::refused(file, "it is too large"),
            CopyError::Cancelled => Error::Cancelled,
        })?;
    target.sync_all().ctx("cannot sync", out)?;
    Ok(copied.bytes)
}

// ---------------------------------------------------------------------------------------------------------------
// Created time

/// A time in the file name: `_YYYYMMDD_HHMMSS` (or with dashes), or django-dbbackup's `YYYY-MM-DD-HHMMSS`; read
/// as UTC.
pub fn name_timestamp(name: &str) -> Option<DateTime<Utc>> {
    let chars: Vec<char> = name.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let number = |from: usize, len: usize| -> Option<u32> {
        chars
            .get(from..from + len)?
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    };
    // (pattern, year, month, day, hour, minute, second offsets): `D` a digit, `-` a dash or underscore.
    const PATTERNS: [(&str, [usize; 6]); 2] = [
        ("DDDDDDDD-DDDDDD", [0, 4, 6, 9, 11, 13]),
        ("DDDD-DD-DD-DDDDDD", [0, 5, 8, 11, 13, 15]),
    ];
    for start in 0..chars.len() {
        if start > 0 && digit_at(start - 1) {
            continue;
        }
        for (pattern, at) in PATTERNS {
            let fits = pattern.chars().enumerate().all(|(i, p)| match p {
                'D' => digit_at(start + i),
                _ => matches!(chars.get(start + i), Some('-' | '_')),
            });
            if !fits || digit_at(start + pattern.len()) {
                continue;
            }
            let field = |k: usize, len: usize| number(start + at.get(k)?, len);
            let date = NaiveDate::from_ymd_opt(field(0, 4)? as i32, field(1, 2)?, field(2, 2)?);
            let time = date.and_then(|d| d.and_hms_opt(field(3, 2)?, field(4, 2)?, field(5, 2)?));
            if let Some(t) = time {
                return Some(t.and_utc());
            }
        }
    }
    None
}

/// A time in the file name (see [`name_timestamp`]), else the file's modification time.
pub fn created_time_of(file: &Path, name: &str) -> DateTime<Utc> {
    name_timestamp(name).unwrap_or_else(|| {
        std::fs::metadata(file)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now())
    })
}

/// An ISO 8601 time with or without an offset (without one it is UTC).
pub fn parse_backup_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Microseconds, as the catalog keeps them, so the manifest and the catalog agree exactly.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 6)
}

// ---------------------------------------------------------------------------------------------------------------
// Writing the new archive

/// The new archive being written: a `.partial` in the storage folder (deleted unless sealed). Its final name
/// depends on the kind, known only at the end of a container's single pass.
struct Staging {
    partial: TempGuard,
    writer: ArchiveWriter,
    created_at: DateTime<Utc>,
}

impl Staging {
    fn new(source: &Source, created_at: DateTime<Utc>) -> Result<Staging> {
        let created_at = micros(created_at);
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = TempGuard::new(source.profile.storage_dir.join(format!(
            ".import-{}-{n}.zip{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        )));
        let _ = std::fs::remove_file(partial.path());
        let writer = ArchiveWriter::create(
            partial.path(),
            source.profile.policy.compression_level,
            created_at,
        )?;
        Ok(Staging {
            partial,
            writer,
            created_at,
        })
    }

    /// Adds the README and the manifest, verifies the file, and renames it to its final name.
    fn finish(
        mut self,
        source: &Source,
        kind: Kind,
        database: Option<DatabaseInfo>,
        job: &JobControl,
    ) -> Result<Stored> {
        let manifest = Manifest {
            format: archive::FORMAT_NAME.to_string(),
            format_version: archive::FORMAT_VERSION,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
            profile: source.profile.name.clone(),
            kind,
            trigger: Trigger::Uploaded,
            created_at: self.created_at,
            database,
            entries: Vec::new(),
            imported_from: Some(source.name.to_string()),
            warnings: Vec::new(),
        };
        self.writer.add_bytes(
            archive::README_NAME,
            archive::readme_text(&manifest).as_bytes(),
            job,
        )?;
        let manifest = self.writer.finish(manifest)?;
        let path = archive::unique_archive_path(
            &source.profile.storage_dir,
            &source.profile.name,
            kind,
            self.created_at,
            Trigger::Uploaded,
            |p| source.ctx.catalog.path_known(p),
        );
        let completion = crate::jobs::seal(self.partial, &path, job)?;
        Ok(Stored {
            path,
            completion,
            manifest,
            notes: Vec::new(),
        })
    }
}

/// Opens a scratch SQLite copy (ours, so read-write): a `-wal` beside it is replayed and checkpointed into it,
/// it becomes a plain rollback-journal file, and it must pass `PRAGMA integrity_check`.
fn prepare_scratch_db(file: &Path, scratch: &Path, what: &str) -> Result<()> {
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
fn archive_scratch_db(
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

// ---------------------------------------------------------------------------------------------------------------
// Single-file databases and dumps

/// A bare or gzipped SQLite file: copied into scratch (bounded, counted while decompressing; a bare file through
/// SQLite read-only so rows in its WAL come along), checked, and archived through the SQLite engine.
fn import_sqlite_file(source: &Source, job: &JobControl) -> Result<Stored> {
    source.require_engine(EngineKind::Sqlite, "a SQLite database")?;
    let created_at = created_time_of(source.file, source.name);
    let scratch = source.scratch("db");
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
    prepare_scratch_db(source.file, scratch.path(), source.name)?;
    let mut staging = Staging::new(source, created_at)?;
    let database = archive_scratch_db(
        source,
        &mut staging.writer,
        &scratch,
        stem_of(source.name),
        job,
    )?;
    staging.finish(source, Kind::Database, Some(database), job)
}

/// A SQLite SQL text dump (django-dbbackup's `SqliteConnector`, iterdump, the sqlite3 shell's `.dump`), run into
/// a fresh scratch database with ATTACH, VACUUM INTO, extension loading and unsafe PRAGMAs refused (such a file
/// could otherwise write anywhere), then checked and archived like a SQLite file.
fn import_sqlite_sql(source: &Source, job: &JobControl) -> Result<Stored> {
    source.require_engine(EngineKind::Sqlite, "a SQLite SQL dump")?;
    let created_at = created_time_of(source.file, source.name);
    let scratch = source.scratch("sql");
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
    prepare_scratch_db(source.file, scratch.path(), source.name)?;
    let mut staging = Staging::new(source, created_at)?;
    let database = archive_scratch_db(
        source,
        &mut staging.writer,
        &scratch,
        stem_of(source.name),
        job,
    )?;
    staging.finish(source, Kind::Database, Some(database), job)
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

/// A PostgreSQL dump (custom or tar format, or plain SQL checked and filtered line by line first), named `what` in
/// messages: decompressed into a private scratch file, loaded into a staging database on the profile's server as a
/// throwaway role that owns nothing else (see `engine::postgres::import_boundary`), then backed up from there, so
/// the archive is verified like any backup; the staging database and the role are dropped. What the check left
/// out is noted.
fn import_pg_dump(source: &Source, plain: bool, what: &str, job: &JobControl) -> Result<Stored> {
    let cfg = postgres_config(source, what)?;
    let created_at = created_time_of(source.file, source.name);
    let tmp = private_tmp(source.ctx)?;
    let staged = TempGuard::new(tmp.join(format!(
        ".import-{}.dump{}",
        std::process::id(),
        fsutil::PARTIAL_SUFFIX
    )));
    let _ = std::fs::remove_file(staged.path());
    let limit = source.limit();
    if !source.gz && std::fs::metadata(source.file).is_ok_and(|m| m.len() > limit) {
        return Err(source.refused(format!(
            "it is larger than the import limit of {limit} bytes (settings.max_import_bytes)"
        )));
    }
    let budget = Budget::new(limit);
    let mut input = source.open(&budget)?;
    job.stage("unpacking import", None);
    extract_to(source.file, None, &mut input, staged.path(), job)?;
    let filtered = TempGuard::new(tmp.join(format!(
        ".import-{}.sql{}",
        std::process::id(),
        fsutil::PARTIAL_SUFFIX
    )));
    let mut note = None;
    let load = if plain {
        job.stage("checking SQL", None);
        let mut input =
            BufReader::new(File::open(staged.path()).ctx("cannot read", staged.path())?);
        let mut output = std::io::BufWriter::new(fsutil::create_private(filtered.path())?);
        let checked = engine::pgsql_check::filter_plain_sql(&mut input, &mut output, &cfg.dbname)
            .map_err(|refusal| source.refused(format!("{refusal}; nothing was run")))?;
        output
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .ctx("cannot write", filtered.path())?;
        note = checked.note();
        filtered.path()
    } else {
        staged.path()
    };
    let mut stored = load_pg_dump(source, cfg, load, plain, created_at, job)?;
    stored.notes.extend(note);
    Ok(stored)
}

/// The profile's PostgreSQL settings, or the refusal of a PostgreSQL dump (`what`) for another engine.
fn postgres_config<'p>(source: &Source<'p>, what: &str) -> Result<&'p crate::config::ServerConfig> {
    match &source.profile.database {
        crate::config::DatabaseConfig::Postgres(cfg) => Ok(cfg),
        other => Err(source.refused(format!(
            "it is a {what} (postgres) but profile {} uses {}",
            source.profile.name,
            other.engine()
        ))),
    }
}

/// The private folder for a job's scratch files (`state/tmp`), created when missing.
fn private_tmp(ctx: &Context) -> Result<PathBuf> {
    let tmp = ctx.paths.tmp_dir();
    if !tmp.is_dir() {
        fsutil::create_private_dir(&tmp)?;
    }
    Ok(tmp)
}

/// Loads a staged PostgreSQL dump (a file pg_restore or psql reads, or a `pg_dump -Fd` folder) into a staging
/// database through the PostgreSQL engine's import loader, and archives what it holds.
fn load_pg_dump(
    source: &Source,
    cfg: &crate::config::ServerConfig,
    dump: &Path,
    plain: bool,
    created_at: DateTime<Utc>,
    job: &JobControl,
) -> Result<Stored> {
    let ctx = source.ctx;
    let password = if cfg.has_password {
        Some(crate::jobs::read_password(ctx, source.profile, cfg)?)
    } else {
        None
    };
    let pg = engine::postgres::PostgresEngine::new(cfg.clone(), password, private_tmp(ctx)?);
    let mut staging = Staging::new(source, created_at)?;
    let database = pg
        .import_dump(dump, plain, &mut staging.writer, job)
        .map_err(|e| match e {
            e @ (Error::Cancelled
            | Error::DiskFull(_)
            | Error::ServerUnreachable { .. }
            | Error::AuthFailed { .. }) => e,
            other => source.refused(other.to_string()),
        })?;
    staging.finish(source, Kind::Database, Some(database), job)
}

// ---------------------------------------------------------------------------------------------------------------
// Backstop archives

/// Whether a zip is shaped like a Backstop archive (then it is read as one, with every check of a restore):
/// its manifest names the format, or it holds nothing but Backstop's own entries.
fn looks_like_backstop(names: &[String], manifest_head: Option<&[u8]>) -> bool {
    if manifest_head.is_some_and(|head| {
        head.windows(archive::FORMAT_NAME.len())
            .any(|w| w == archive::FORMAT_NAME.as_bytes())
    }) {
        return true;
    }
    let ours = |n: &String| {
        n == archive::MANIFEST_NAME
            || n == archive::README_NAME
            || n.starts_with("database/")
            || n.starts_with(FILES_PREFIX)
    };
    names.iter().all(ours)
        && names
            .iter()
            .any(|n| n == archive::MANIFEST_NAME || n.starts_with("database/"))
}

/// Checks a Backstop archive fully, then re-packs it (entries copied raw, without recompressing) with a new
/// manifest naming this profile and the `uploaded` trigger.
fn import_archive(source: &Source, job: &JobControl) -> Result<Stored> {
    let (ctx, profile, file) = (source.ctx, source.profile, source.file);
    let mut reader = ArchiveReader::open(file)?;
    let total = reader
        .manifest
        .entries
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(e.size));
    if total > source.limit() {
        return Err(source.refused(format!(
            "it would unpack to {total} bytes, more than the import limit of {} (settings.max_import_bytes)",
            source.limit()
        )));
    }
    if reader.manifest.entries.len() as u64 > ctx.config.settings.max_import_entries {
        return Err(source
            .refused("it has more entries than the import limit (settings.max_import_entries)"));
    }
    if let Some(db) = &reader.manifest.database {
        source.require_engine(db.engine, &format!("a {} database", db.engine))?;
    }
    files::check_entries(&files::entries_of(&reader.manifest.entries), false).map_err(
        |e| match e {
            Error::Usage(reason) | Error::JobFailed(reason) => source.refused(reason),
            other => other,
        },
    )?;
    // Check every entry's checksum (and a database's integrity) before anything is stored.
    let entries = reader.manifest.entries.clone();
    for entry in &entries {
        reader.check_entry(&entry.path, job, "checking archive")?;
    }
    if let Some(info) = reader.manifest.database.clone()
        && info.engine == EngineKind::Sqlite
    {
        let scratch_target = profile
            .storage_dir
            .join(format!(".import-check-{}.sqlite3", std::process::id()));
        let probe =
            engine::sqlite::SqliteEngine::new(scratch_target, std::time::Duration::from_secs(1));
        // stage_restore into a scratch target checks integrity, schema and row counts, then the copy is dropped.
        drop(engine::Engine::stage_restore(
            &probe,
            &mut reader,
            &info,
            &engine::RestoreOptions::default(),
            job,
        )?);
    }
    let mut manifest = reader.manifest.clone();
    manifest.profile = profile.name.clone();
    manifest.trigger = Trigger::Uploaded;
    manifest.imported_from = Some(source.name.to_string());
    let path = archive::unique_archive_path(
        &profile.storage_dir,
        &profile.name,
        manifest.kind,
        manifest.created_at,
        Trigger::Uploaded,
        |p| ctx.catalog.path_known(p),
    );
    let partial = TempGuard::new(fsutil::partial_path(&path));
    let mut writer = ArchiveWriter::create(
        partial.path(),
        profile.policy.compression_level,
        manifest.created_at,
    )?;
    for entry in entries.iter().filter(|e| e.path != archive::README_NAME) {
        writer.copy_raw(&mut reader, entry)?;
    }
    writer.add_bytes(
        archive::README_NAME,
        archive::readme_text(&manifest).as_bytes(),
        job,
    )?;
    let manifest = writer.finish(manifest)?;
    let completion = crate::jobs::seal(partial, &path, job)?;
    Ok(Stored {
        path,
        completion,
        manifest,
        notes: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Foreign containers: layouts

/// How a foreign container's entries map onto a Backstop archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A web app's backup zip: `database.sqlite3`, `media/…`, `backup_metadata.json`.
    AppZip,
    /// A web app's backup tar: `backup/database/<name>.db` (with `-wal`/`-shm`) and `backup/files/…`.
    AppTar,
    /// A media folder alone: every entry is a file or folder of it.
    Media,
}

/// The part of a database a container entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabasePart {
    /// The database file itself (its file name).
    Main(String),
    /// A `-wal` beside the named file: replayed into the scratch copy.
    Wal(String),
    /// A `-shm` beside the named file: rebuilt by SQLite, never trusted, so dropped.
    Shm(String),
    /// A rollback `-journal` beside the named file: rolled back by SQLite in the scratch copy.
    Journal(String),
}

/// Where one entry of a foreign container goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A folder of the layout itself (`backup/`): nothing to keep.
    Skip,
    /// The media folder's own entry (`media/`): the backup holds a files folder, maybe empty.
    FilesRoot,
    /// A file or folder of the media folder, by its path inside it.
    Media(String),
    /// A part of the database.
    Database(DatabasePart),
    /// `backup_metadata.json`.
    Metadata,
}

impl Layout {
    /// The layout of a foreign zip from its entry names (a zip of a `media/` folder alone is a media folder
    /// whose top folder is unwrapped, by the rule zips and tars share: [`detect::Survey::single_top_folder`]).
    pub fn of_zip(names: &[String]) -> Layout {
        let app = |n: &String| n == "database.sqlite3" || n == "backup_metadata.json";
        if names.iter().any(app) {
            Layout::AppZip
        } else {
            Layout::Media
        }
    }

    /// The layout of a foreign tar from its first entry's name.
    pub fn of_tar(first: &str) -> Layout {
        let first = first.trim_end_matches('/');
        if first == "backup"
            || first.starts_with("backup/database/")
            || first.starts_with("backup/files/")
            || first == "backup/database"
            || first == "backup/files"
        {
            Layout::AppTar
        } else {
            Layout::Media
        }
    }

    /// What the layout is called in reports.
    fn describe(self, tar: bool, gz: bool) -> String {
        let container = detect::container_name(tar, gz);
        match self {
            Layout::AppZip => {
                "web-app backup zip (database.sqlite3, media/, backup_metadata.json)".to_string()
            }
            Layout::AppTar => {
                format!("web-app backup {container} (backup/database/, backup/files/)")
            }
            Layout::Media => format!("media folder {container}"),
        }
    }

    /// Where the entry `name` (safe, without a trailing `/`) goes, or why it has no place.
    pub fn place(self, name: &str, is_dir: bool) -> std::result::Result<Place, String> {
        let unplaced = |parts: &str| {
            format!(
                "entry '{name}' is not part of this backup's layout ({parts}); Backstop does not know where it belongs"
            )
        };
        match self {
            Layout::Media => Ok(Place::Media(name.to_string())),
            Layout::AppZip => match name {
                "database.sqlite3" if !is_dir => {
                    Ok(Place::Database(DatabasePart::Main(name.to_string())))
                }
                "backup_metadata.json" if !is_dir => Ok(Place::Metadata),
                "media" if is_dir => Ok(Place::FilesRoot),
                _ => match name.strip_prefix("media/") {
                    Some(rel) => Ok(Place::Media(rel.to_string())),
                    None => Err(unplaced("database.sqlite3, media/, backup_metadata.json")),
                },
            },
            Layout::AppTar => {
                const PARTS: &str = "backup/database/, backup/files/";
                if is_dir && matches!(name, "backup" | "backup/database") {
                    return Ok(Place::Skip);
                }
                if is_dir && name == "backup/files" {
                    return Ok(Place::FilesRoot);
                }
                if let Some(rel) = name.strip_prefix("backup/files/") {
                    return Ok(Place::Media(rel.to_string()));
                }
                match name.strip_prefix("backup/database/") {
                    Some(file) if !is_dir && !file.contains('/') => {
                        let part = if let Some(base) = file.strip_suffix("-wal") {
                            DatabasePart::Wal(base.to_string())
                        } else if let Some(base) = file.strip_suffix("-shm") {
                            DatabasePart::Shm(base.to_string())
                        } else if let Some(base) = file.strip_suffix("-journal") {
                            DatabasePart::Journal(base.to_string())
                        } else {
                            DatabasePart::Main(file.to_string())
                        };
                        Ok(Place::Database(part))
                    }
                    _ => Err(unplaced(PARTS)),
                }
            }
        }
    }
}

/// What kind of thing a container entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    /// Links, devices, pipes and the like: never imported; the text says which.
    Refused(String),
}

/// Why an entry name is unsafe, worded for the user.
fn unsafe_entry(name: &str, reason: &str) -> String {
    let what = if name.trim_end_matches('/').split('/').any(|p| p == "..") {
        "leaves the folder ('..' path component)".to_string()
    } else if reason == "absolute path" {
        "is an absolute path (it would be written outside the folder)".to_string()
    } else if reason == "drive-letter path" {
        "has a drive letter (it would be written outside the folder)".to_string()
    } else {
        format!("has an unsafe name ({reason})")
    };
    format!("entry '{}' {what}", name.escape_debug())
}

use detect::normalize;

// ---------------------------------------------------------------------------------------------------------------
// Foreign containers: the single pass

/// The checks every entry of a foreign container passes, in order, before anything of it is kept.
struct Checker<'s> {
    source: &'s Source<'s>,
    layout: Layout,
    /// The single top folder unwrapped (its content is the media folder's).
    unwrap: Option<String>,
    max_entries: u64,
    entries: u64,
    seen: HashSet<String>,
}

impl<'s> Checker<'s> {
    fn new(source: &'s Source<'s>, layout: Layout, unwrap: Option<String>) -> Checker<'s> {
        Checker {
            source,
            layout,
            unwrap,
            max_entries: source.ctx.config.settings.max_import_entries,
            entries: 0,
            seen: HashSet::new(),
        }
    }

    fn refused(&self, reason: impl Into<String>) -> Error {
        self.source.refused(reason)
    }

    /// Counts an entry against the limit, checks its name and kind and finds its place (None: the root folder
    /// entry `./`); refuses the whole import on any problem.
    fn check(&mut self, raw: &str, kind: &EntryKind) -> Result<Option<(String, Place)>> {
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(self.refused(format!(
                "it has more than {} entries, the import limit (settings.max_import_entries)",
                self.max_entries
            )));
        }
        let name = normalize(raw);
        if name.is_empty() || name == "." {
            return Ok(None);
        }
        if let Some(reason) = archive::unsafe_name_reason(name) {
            return Err(self.refused(unsafe_entry(raw, reason)));
        }
        let key = name.trim_end_matches('/').to_string();
        if let EntryKind::Refused(what) = kind {
            return Err(self.refused(format!(
                "entry '{key}' is {what}; imported archives may hold only files and folders (a link could point outside the folder and be written through)"
            )));
        }
        if !self.seen.insert(key.clone()) {
            return Err(self.refused(format!(
                "entry '{key}' appears twice (two entries with the same name; which one is meant?)"
            )));
        }
        let is_dir = *kind == EntryKind::Dir;
        let place = match &self.unwrap {
            Some(top) if key == *top && is_dir => Ok(Place::FilesRoot),
            Some(top) => match key.strip_prefix(top.as_str()).and_then(|r| r.strip_prefix('/')) {
                Some(inner) => self.layout.place(inner, is_dir),
                // The survey saw every entry inside the top folder: the file changed since.
                None => Err(format!(
                    "entry '{key}' lies outside the top folder '{top}/' (the file changed while it was read)"
                )),
            },
            None => self.layout.place(&key, is_dir),
        }
        .map_err(|reason| self.refused(reason))?;
        if let Place::Database(_) = place {
            self.source
                .require_engine(EngineKind::Sqlite, "a SQLite database")?;
        }
        Ok(Some((key, place)))
    }
}

/// Reads a container entry's data to its end (counted, dropped): a tar's next header comes after it.
fn drain_entry(
    file: &Path,
    key: &str,
    data: &mut dyn Read,
    declared: Option<u64>,
    job: &JobControl,
) -> Result<()> {
    let copied = copy_hashing(
        data,
        &mut std::io::sink(),
        u64::MAX,
        job,
        "unpacking import",
        None,
    )
    .map_err(|e| match e {
        CopyError::Read(e) => read_failure(file, Some(key), e),
        CopyError::Cancelled => Error::Cancelled,
        CopyError::Write(_) | CopyError::TooLarge(_) => Error::refused(file, "it is too large"),
    })?;
    check_entry_size(file, key, copied.bytes, declared)
}

/// A container entry holds the bytes its header declares (fewer: the file is truncated).
fn check_entry_size(file: &Path, key: &str, read: u64, declared: Option<u64>) -> Result<()> {
    match declared {
        Some(size) if size != read => Err(Error::refused(
            file,
            format!(
                "it is truncated: entry '{key}' holds {read} of the {size} bytes its header declares"
            ),
        )),
        _ => Ok(()),
    }
}

/// One foreign container being unpacked into a new archive.
struct Unpacker<'s> {
    source: &'s Source<'s>,
    checker: Checker<'s>,
    staging: Staging,
    has_files: bool,
    /// Database parts extracted to scratch files, in the order met.
    database: Vec<(DatabasePart, ScratchDb)>,
}

impl<'s> Unpacker<'s> {
    fn new(
        source: &'s Source<'s>,
        layout: Layout,
        unwrap: Option<String>,
        staging: Staging,
    ) -> Unpacker<'s> {
        Unpacker {
            source,
            checker: Checker::new(source, layout, unwrap),
            staging,
            has_files: false,
            database: Vec::new(),
        }
    }

    fn refused(&self, reason: impl Into<String>) -> Error {
        self.source.refused(reason)
    }

    /// Takes one entry: checked, then stored in the archive, extracted to scratch, or read and dropped.
    /// `declared` is the size the container's header gives (a tar's must match what is read); `hint` the size it
    /// says, trusted only to choose zip64 for a large entry.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        raw: &str,
        kind: EntryKind,
        data: &mut dyn Read,
        declared: Option<u64>,
        hint: u64,
        meta: EntryMeta,
        job: &JobControl,
    ) -> Result<()> {
        let Some((key, place)) = self.checker.check(raw, &kind)? else {
            return self.drain(raw, data, declared, job);
        };
        match place {
            Place::Skip | Place::Metadata => self.drain(&key, data, declared, job),
            Place::FilesRoot => {
                self.has_files = true;
                self.drain(&key, data, declared, job)
            }
            Place::Media(rel) => {
                self.has_files = true;
                let name = format!("{FILES_PREFIX}{rel}");
                if kind == EntryKind::Dir {
                    self.staging.writer.add_dir(&name, meta)?;
                    return self.drain(&key, data, declared, job);
                }
                let mut trap = ErrorTrap::new(data);
                let added = self.staging.writer.add_file(
                    &name,
                    &mut trap,
                    declared.unwrap_or(hint),
                    !files::already_compressed(&rel),
                    meta,
                    job,
                    "unpacking import",
                );
                if let Some(e) = trap.error.take() {
                    return Err(read_failure(self.source.file, Some(&key), e));
                }
                let copied = added?;
                self.check_size(&key, copied.bytes, declared)
            }
            Place::Database(part) => {
                let scratch = self.source.scratch("part");
                job.stage("unpacking database", declared);
                let bytes = extract_to(self.source.file, Some(&key), data, scratch.path(), job)?;
                self.check_size(&key, bytes, declared)?;
                if let DatabasePart::Shm(_) = part {
                    // Rebuilt by SQLite from the WAL; a foreign one is never trusted.
                    return Ok(());
                }
                self.database.push((part, scratch));
                Ok(())
            }
        }
    }

    fn drain(
        &self,
        key: &str,
        data: &mut dyn Read,
        declared: Option<u64>,
        job: &JobControl,
    ) -> Result<()> {
        drain_entry(self.source.file, key, data, declared, job)
    }

    fn check_size(&self, key: &str, read: u64, declared: Option<u64>) -> Result<()> {
        check_entry_size(self.source.file, key, read, declared)
    }

    /// After the last entry: the database replayed and checked, every files entry checked together (no path
    /// through a file), and the archive finished with the kind the container turned out to hold.
    fn finish(mut self, job: &JobControl) -> Result<Stored> {
        let database = match self.assemble_database()? {
            Some((scratch, name)) => {
                job.stage("checking database", None);
                prepare_scratch_db(self.source.file, scratch.path(), &name)?;
                let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
                Some(archive_scratch_db(
                    self.source,
                    &mut self.staging.writer,
                    &scratch,
                    stem,
                    job,
                )?)
            }
            None => None,
        };
        let entries = files::entries_of(self.staging.writer.entries());
        files::check_entries(&entries, false).map_err(|e| match e {
            // Named as in the media folder, not as in the new archive.
            Error::Usage(reason) | Error::JobFailed(reason) => {
                let reason = reason.replacen(&format!("entry '{FILES_PREFIX}"), "entry '", 1);
                match &self.checker.unwrap {
                    Some(top) => {
                        self.refused(format!("{reason} (names inside the top folder {top}/)"))
                    }
                    None => self.refused(reason),
                }
            }
            other => other,
        })?;
        let kind = match (database.is_some(), self.has_files) {
            (true, true) => Kind::Full,
            (true, false) => Kind::Database,
            (false, true) => Kind::Files,
            (false, false) => {
                return Err(self
                    .refused("it holds neither a database nor files: there is nothing to import"));
            }
        };
        self.staging.finish(self.source, kind, database, job)
    }

    /// The one database file with its `-wal` and `-journal` put beside it, as SQLite expects them.
    fn assemble_database(&mut self) -> Result<Option<(ScratchDb, String)>> {
        let parts = std::mem::take(&mut self.database);
        let mains: Vec<&String> = parts
            .iter()
            .filter_map(|(p, _)| match p {
                DatabasePart::Main(name) => Some(name),
                _ => None,
            })
            .collect();
        let main_name = match mains.as_slice() {
            [] => {
                return match parts.first() {
                    Some((part, _)) => Err(self.refused(format!(
                        "it holds a SQLite sidecar file ({part:?}) but no database file"
                    ))),
                    None => Ok(None),
                };
            }
            [one] => (*one).clone(),
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                return Err(self.refused(format!(
                    "it holds more than one database ({}); Backstop imports one database per backup",
                    names.join(", ")
                )));
            }
        };
        let mut main = None;
        let mut sidecars = Vec::new();
        for (part, scratch) in parts {
            match part {
                DatabasePart::Main(_) => main = Some(scratch),
                DatabasePart::Wal(base) | DatabasePart::Journal(base) if base != main_name => {
                    return Err(self.refused(format!(
                        "its database folder holds a sidecar of '{base}', which is not its database '{main_name}'"
                    )));
                }
                DatabasePart::Wal(_) => sidecars.push(("-wal", scratch)),
                DatabasePart::Journal(_) => sidecars.push(("-journal", scratch)),
                DatabasePart::Shm(_) => {}
            }
        }
        let Some(main) = main else {
            return Ok(None);
        };
        for (suffix, scratch) in sidecars {
            let to = main.sidecar(suffix);
            std::fs::rename(scratch.path(), &to).ctx("cannot move the imported copy", &to)?;
        }
        Ok(Some((main, main_name)))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Foreign containers: zip

/// A zip: a Backstop archive (checked like a restore would) or a foreign layout, unpacked in one pass after every
/// entry's name and kind passed a pre-scan of the central directory.
fn import_zip(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let file = source.file;
    let open = || -> Result<zip::ZipArchive<BufReader<File>>> {
        let input = File::open(file).map_err(|e| source.refused(format!("cannot read it: {e}")))?;
        zip::ZipArchive::new(BufReader::new(input)).map_err(|e| {
            Error::damaged(
                file,
                format!(
                    "not a readable zip file ({e}); it may be truncated or not a Backstop archive"
                ),
            )
        })
    };
    let mut zip = open()?;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Error::damaged(file, format!("entry #{i} is unreadable: {e}")))?;
        names.push(
            entry
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned()),
        );
    }
    let manifest_head = zip.by_name(archive::MANIFEST_NAME).ok().map(|entry| {
        let mut head = Vec::new();
        let _ = entry.take(8192).read_to_end(&mut head);
        head
    });
    if looks_like_backstop(&names, manifest_head.as_deref()) {
        drop(zip);
        return Ok((
            Found::named("Backstop archive"),
            import_archive(source, job)?,
        ));
    }

    // Pre-scan: nothing is written before every entry passed.
    if zip.has_duplicate_names() {
        let which = duplicate_zip_name(file, zip.central_directory_start())
            .map_or("two entries".to_string(), |n| format!("entry '{n}'"));
        return Err(source.refused(format!(
            "{which} appears twice (two entries with the same name; which one is meant?)"
        )));
    }
    if zip.has_overlapping_files().unwrap_or(true) {
        return Err(
            source.refused("entries overlap inside the file (a zip bomb or a tampered zip)")
        );
    }
    let max_entries = source.ctx.config.settings.max_import_entries;
    if zip.len() as u64 > max_entries {
        return Err(source.refused(format!(
            "it has more than {max_entries} entries, the import limit (settings.max_import_entries)"
        )));
    }
    let layout = Layout::of_zip(&names);
    let mut kinds = Vec::with_capacity(zip.len());
    for (i, name) in names.iter().enumerate() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Error::damaged(file, format!("entry #{i} is unreadable: {e}")))?;
        if entry.encrypted() {
            return Err(source.refused(format!(
                "entry '{name}' is encrypted; Backstop cannot check what it holds"
            )));
        }
        kinds.push(zip_entry_kind(&entry));
    }
    let mut unwrap = None;
    if layout == Layout::Media {
        let mut survey = detect::Survey::default();
        for (i, (name, kind)) in names.iter().zip(&kinds).enumerate() {
            let toc = *kind == EntryKind::File && pg_directory::is_toc_name(name) && {
                let mut head = Vec::new();
                let entry = zip
                    .by_index(i)
                    .map_err(|e| source.refused(format!("entry '{name}' is unreadable: {e}")))?;
                let _ = entry
                    .take(detect::PG_DUMP_MAGIC.len() as u64)
                    .read_to_end(&mut head);
                head == detect::PG_DUMP_MAGIC
            };
            survey.add(name, *kind == EntryKind::Dir, toc);
        }
        match survey.holds() {
            detect::Holds::PgDirectory { top } => {
                let found = pg_directory::container_found(false, false, top);
                let mut folder = pg_directory::PgFolder::new(source, found)?;
                let budget = Budget::new(source.limit());
                job.stage("unpacking import", None);
                for (i, (name, kind)) in names.iter().zip(&kinds).enumerate() {
                    job.check()?;
                    let mut entry = zip.by_index(i).map_err(|e| {
                        source.refused(format!("entry '{name}' is unreadable: {e}"))
                    })?;
                    let mut data = BudgetReader::new(&mut entry, &budget);
                    folder.take(name, kind, &mut data, None, job)?;
                }
                return folder.load(source, job);
            }
            detect::Holds::Files { unwrap: top } => unwrap = top,
        }
    }
    {
        let mut probe = Checker::new(source, layout, unwrap.clone());
        for (name, kind) in names.iter().zip(&kinds) {
            probe.check(name, kind)?;
        }
    }
    let created_at = match layout {
        Layout::AppZip => metadata_time(&mut zip, source)?,
        _ => None,
    }
    .unwrap_or_else(|| created_time_of(file, source.name));

    let staging = Staging::new(source, created_at)?;
    let mut unpacker = Unpacker::new(source, layout, unwrap.clone(), staging);
    let budget = Budget::new(source.limit());
    job.stage("unpacking import", None);
    for (i, (name, kind)) in names.iter().zip(kinds).enumerate() {
        job.check()?;
        let mut entry = zip
            .by_index(i)
            .map_err(|e| source.refused(format!("entry '{name}' is unreadable: {e}")))?;
        let meta = zip_meta(&entry);
        let hint = entry.size();
        let mut data = BudgetReader::new(&mut entry, &budget);
        unpacker.take(name, kind, &mut data, None, hint, meta, job)?;
    }
    let found = Found {
        detected: layout.describe(false, false),
        unwrapped: unwrap,
    };
    Ok((found, unpacker.finish(job)?))
}

/// A zip entry's kind from its name and Unix mode.
fn zip_entry_kind<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryKind {
    if entry.is_symlink() {
        return EntryKind::Refused("a symbolic link".to_string());
    }
    let file_type = entry.unix_mode().map_or(0, |m| m & 0o170000);
    match file_type {
        0o040000 => EntryKind::Dir,
        0 | 0o100000 if entry.is_dir() => EntryKind::Dir,
        0 | 0o100000 => EntryKind::File,
        0o020000 | 0o060000 => EntryKind::Refused("a device".to_string()),
        0o010000 => EntryKind::Refused("a named pipe".to_string()),
        0o140000 => EntryKind::Refused("a socket".to_string()),
        other => EntryKind::Refused(format!("of unknown type {other:o}")),
    }
}

/// A zip entry's mode (Unix-made zips only) and time (extended timestamp, else the DOS time read as this
/// machine's local time, as unzip does; the DOS default 1980-01-01 00:00 means unknown).
fn zip_meta<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryMeta {
    let mode = (entry.system() == zip::System::Unix)
        .then(|| entry.unix_mode())
        .flatten()
        .map(|m| m & 0o7777);
    let extended = entry.extra_data_fields().find_map(|field| match field {
        zip::extra_fields::ExtraField::ExtendedTimestamp(t) => t.mod_time(),
        _ => None,
    });
    let mtime = match extended {
        Some(secs) => DateTime::from_timestamp(i64::from(secs), 0),
        None => entry.last_modified().and_then(|t| {
            let date = NaiveDate::from_ymd_opt(
                i32::from(t.year()),
                u32::from(t.month()),
                u32::from(t.day()),
            )?;
            let local = date.and_hms_opt(
                u32::from(t.hour()),
                u32::from(t.minute()),
                u32::from(t.second()),
            )?;
            if local == NaiveDate::from_ymd_opt(1980, 1, 1)?.and_hms_opt(0, 0, 0)? {
                return None;
            }
            local
                .and_local_timezone(chrono::Local)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }),
    };
    EntryMeta { mtime, mode }
}

/// `backup_metadata.json`'s `backup_date`, if the zip has one that parses.
fn metadata_time(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    source: &Source,
) -> Result<Option<DateTime<Utc>>> {
    let Ok(entry) = zip.by_name("backup_metadata.json") else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    entry
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_failure(source.file, Some("backup_metadata.json"), e))?;
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(source.refused(format!(
            "entry 'backup_metadata.json' is larger than {MAX_METADATA_BYTES} bytes"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        source.refused(format!(
            "entry 'backup_metadata.json' is not valid JSON: {e}"
        ))
    })?;
    match value.get("backup_date") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => match parse_backup_date(text) {
            Some(t) => Ok(Some(t)),
            None => Err(source.refused(format!(
                "backup_metadata.json has a backup_date Backstop cannot read: '{text}' (expected ISO 8601)"
            ))),
        },
        Some(other) => Err(source.refused(format!(
            "backup_metadata.json has a backup_date that is not a text: {other}"
        ))),
    }
}

/// The first name that appears twice in a zip's raw central directory (the zip crate keeps only one of them).
fn duplicate_zip_name(file: &Path, central_directory_start: u64) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut input = File::open(file).ok()?;
    input.seek(SeekFrom::Start(central_directory_start)).ok()?;
    let mut bytes = Vec::new();
    input.take(64 << 20).read_to_end(&mut bytes).ok()?;
    let mut seen = HashSet::new();
    let mut at = 0usize;
    while bytes.get(at..at + 4) == Some(b"PK\x01\x02".as_slice()) {
        let u16_at = |i: usize| -> Option<usize> {
            Some(usize::from(u16::from_le_bytes([
                *bytes.get(at + i)?,
                *bytes.get(at + i + 1)?,
            ])))
        };
        let (name_len, extra_len, comment_len) = (u16_at(28)?, u16_at(30)?, u16_at(32)?);
        let name = bytes.get(at + 46..at + 46 + name_len)?;
        if !seen.insert(name.to_vec()) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}

// ---------------------------------------------------------------------------------------------------------------
// Foreign containers: tar

/// One entry of a tar as [`walk_tar`] hands it over: its raw name, kind, metadata, the size its header gives,
/// and its data (to be read to its end).
struct TarItem<'a> {
    raw: &'a str,
    kind: EntryKind,
    meta: EntryMeta,
    size: u64,
    data: &'a mut dyn Read,
}

/// Reads a tar or tar.gz once, from the start: every byte counted against the import limit while
/// decompressing, archive-wide PAX records skipped, each entry handed to `visit` (which reads its data to its
/// size; less means truncated), the end-of-archive marker required and what follows it read (so a damaged gzip
/// end is noticed). Returns whether the tar had any entry.
fn walk_tar(
    source: &Source,
    job: &JobControl,
    visit: &mut dyn FnMut(TarItem<'_>) -> Result<()>,
) -> Result<bool> {
    let file = source.file;
    let budget = Budget::new(source.limit());
    let input = source.open(&budget)?;
    let mut tar = tar::Archive::new(input);
    let not_tar = |e: std::io::Error| {
        if e.get_ref().is_some_and(|i| i.is::<Overrun>())
            || e.kind() == std::io::ErrorKind::UnexpectedEof
        {
            read_failure(file, None, e)
        } else {
            source.refused(format!(
                "it is not a readable tar archive ({e}); it may be truncated or damaged"
            ))
        }
    };
    let mut entries = tar.entries().map_err(not_tar)?;
    let mut any = false;
    let mut end_of_last = 0u64;
    loop {
        job.check()?;
        budget.between_entries.set(Some(budget.used.get()));
        let next = entries.next();
        budget.between_entries.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(not_tar)?;
        let raw_name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            source.refused(format!(
                "entry '{}' has a name that is not UTF-8",
                String::from_utf8_lossy(e.as_bytes()).escape_debug()
            ))
        })?;
        let header = entry.header();
        let size = entry.size();
        if header.entry_type().is_pax_global_extensions() {
            // Archive-wide PAX records (`git archive` writes its commit id there): nothing to import.
            if size > MAX_TAR_HEADER_BYTES {
                return Err(source.refused(format!(
                    "it has a tar extension header larger than {MAX_TAR_HEADER_BYTES} bytes; the file is damaged or hostile"
                )));
            }
            end_of_last = entry
                .raw_file_position()
                .saturating_add(size.div_ceil(512).saturating_mul(512));
            std::io::copy(&mut entry, &mut std::io::sink())
                .map_err(|e| read_failure(file, None, e))?;
            continue;
        }
        let header_size = header.size().unwrap_or(size);
        if header_size != 0 && header_size != size {
            return Err(source.refused(format!(
                "entry '{raw_name}' has two different sizes ({header_size} in its header, {size} in its PAX record)"
            )));
        }
        let kind = tar_entry_kind(header.entry_type());
        let meta = EntryMeta {
            mtime: header
                .mtime()
                .ok()
                .filter(|t| *t > 0)
                .and_then(|t| DateTime::from_timestamp(i64::try_from(t).ok()?, 0)),
            mode: header.mode().ok().map(|m| m & 0o7777),
        };
        any = true;
        end_of_last = entry
            .raw_file_position()
            .saturating_add(size.div_ceil(512).saturating_mul(512));
        visit(TarItem {
            raw: &raw_name,
            kind,
            meta,
            size,
            data: &mut entry,
        })?;
    }
    // Without the end-of-archive marker (a zero block) the tar stopped at a header boundary: cut short.
    let consumed = budget.used.get();
    if any && consumed < end_of_last.saturating_add(512) {
        return Err(source
            .refused("it is truncated: the tar archive ends without its end-of-archive marker"));
    }
    // Read what follows (padding, the gzip trailer and any further member) so a damaged end is noticed.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| read_failure(file, None, e))?;
    Ok(any)
}

/// A tar or tar.gz: surveyed in a first pass (names only, every byte counted), then read again to do what the
/// survey found: a `pg_dump -Fd` folder extracted and loaded as a database dump, or files unpacked straight
/// into the new archive (its single top folder unwrapped by the rule zips share).
fn import_tar(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let mut survey = detect::Survey::default();
    let mut first = None;
    let max_entries = source.ctx.config.settings.max_import_entries;
    job.stage("reading import", None);
    let any = walk_tar(source, job, &mut |item| {
        if survey.entries.len() as u64 >= max_entries {
            return Err(source.refused(format!(
                "it has more than {max_entries} entries, the import limit (settings.max_import_entries)"
            )));
        }
        let name = normalize(item.raw).trim_end_matches('/');
        if first.is_none() && !name.is_empty() && name != "." {
            first = Some(name.to_string());
        }
        let mut head = Vec::new();
        let toc = item.kind == EntryKind::File && pg_directory::is_toc_name(item.raw);
        if toc {
            item.data
                .take(detect::PG_DUMP_MAGIC.len() as u64)
                .read_to_end(&mut head)
                .map_err(|e| read_failure(source.file, Some(item.raw), e))?;
        }
        survey.add(
            item.raw,
            item.kind == EntryKind::Dir,
            toc && head == detect::PG_DUMP_MAGIC,
        );
        let declared = item.size.saturating_sub(head.len() as u64);
        drain_entry(source.file, item.raw, item.data, Some(declared), job)
    })?;
    if !any {
        return Err(source.refused("it is an empty tar archive: there is nothing to import"));
    }
    let layout = Layout::of_tar(first.as_deref().unwrap_or(""));
    let holds = match layout {
        Layout::Media => survey.holds(),
        _ => detect::Holds::Files { unwrap: None },
    };
    job.stage("unpacking import", None);
    let unwrap = match holds {
        detect::Holds::PgDirectory { top } => {
            let found = pg_directory::container_found(true, source.gz, top);
            let mut folder = pg_directory::PgFolder::new(source, found)?;
            walk_tar(source, job, &mut |item| {
                folder.take(item.raw, &item.kind, item.data, Some(item.size), job)
            })?;
            return folder.load(source, job);
        }
        detect::Holds::Files { unwrap } => unwrap,
    };
    let created_at = created_time_of(source.file, source.name);
    let mut unpacker = Unpacker::new(
        source,
        layout,
        unwrap.clone(),
        Staging::new(source, created_at)?,
    );
    walk_tar(source, job, &mut |item| {
        unpacker.take(
            item.raw,
            item.kind,
            item.data,
            Some(item.size),
            item.size,
            item.meta,
            job,
        )
    })?;
    let found = Found {
        detected: layout.describe(true, source.gz),
        unwrapped: unwrap,
    };
    Ok((found, unpacker.finish(job)?))
}

/// A tar entry's kind from its type flag.
fn tar_entry_kind(t: tar::EntryType) -> EntryKind {
    if t.is_file() || t.is_contiguous() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Refused("a symbolic link".to_string())
    } else if t.is_hard_link() {
        EntryKind::Refused("a hard link".to_string())
    } else if t.is_character_special() || t.is_block_special() {
        EntryKind::Refused("a device".to_string())
    } else if t.is_fifo() {
        EntryKind::Refused("a named pipe".to_string())
    } else if t.is_gnu_sparse() {
        EntryKind::Refused("a sparse file (not supported)".to_string())
    } else {
        EntryKind::Refused(format!(
            "of an unsupported tar entry type ({:?})",
            t.as_byte() as char
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn timestamps_in_names() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().ok();
        #[rustfmt::skip]
        let cases = [
            ("shop_20250301_101500.sql.gz", t("2025-03-01T10:15:00Z")),
            ("app-20240115-093000.db.gz", t("2024-01-15T09:30:00Z")),
            ("default-myhost-2024-01-15-093000.psql.bin", t("2024-01-15T09:30:00Z")),
            ("myhost-2024-01-15-093000.tar.gz", t("2024-01-15T09:30:00Z")),
            ("host1-2024-01-15_093000.dump", t("2024-01-15T09:30:00Z")),
            ("host12024-01-15-093000.dump", None),
            ("x_20251399_101500.db", None),
            ("x_120250301_101500.db", None),
            ("media.zip", None),
        ];
        for (name, expected) in cases {
            assert_eq!(name_timestamp(name), expected, "{name}");
        }
    }

    #[test]
    fn backup_dates_with_and_without_offsets() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().ok();
        #[rustfmt::skip]
        let cases = [
            ("2024-01-15T09:30:00+00:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T10:30:00+01:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T09:30:00Z", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T09:30:00.250000", t("2024-01-15T09:30:00.25Z")),
            ("2024-01-15 09:30:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15 10:30:00+01:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15", t("2024-01-15T00:00:00Z")),
            ("yesterday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_backup_date(text), expected, "{text}");
        }
    }

    #[test]
    fn layouts_place_entries() {
        use DatabasePart::*;
        let names = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Layout::of_zip(&names(&["database.sqlite3", "media/", "media/a.txt"])),
            Layout::AppZip
        );
        // A zip of `media/` alone is a media folder whose top folder the survey unwraps.
        assert_eq!(
            Layout::of_zip(&names(&["media/a.txt", "media/b/"])),
            Layout::Media
        );
        assert_eq!(
            Layout::of_zip(&names(&["a.txt", "media/b.txt"])),
            Layout::Media
        );
        assert_eq!(Layout::of_tar("backup/"), Layout::AppTar);
        assert_eq!(Layout::of_tar("backup/files/x.txt"), Layout::AppTar);
        assert_eq!(Layout::of_tar("backup/x.txt"), Layout::Media);
        assert_eq!(Layout::of_tar("photos/a.jpg"), Layout::Media);

        #[rustfmt::skip]
        let cases: [(Layout, &str, bool, std::result::Result<Place, ()>); 14] = [
            (Layout::AppZip, "database.sqlite3", false, Ok(Place::Database(Main("database.sqlite3".into())))),
            (Layout::AppZip, "backup_metadata.json", false, Ok(Place::Metadata)),
            (Layout::AppZip, "media", true, Ok(Place::FilesRoot)),
            (Layout::AppZip, "media/a/b.txt", false, Ok(Place::Media("a/b.txt".into()))),
            (Layout::AppZip, "other.txt", false, Err(())),
            (Layout::AppTar, "backup", true, Ok(Place::Skip)),
            (Layout::AppTar, "backup/database", true, Ok(Place::Skip)),
            (Layout::AppTar, "backup/files", true, Ok(Place::FilesRoot)),
            (Layout::AppTar, "backup/files/a", true, Ok(Place::Media("a".into()))),
            (Layout::AppTar, "backup/database/app.db", false, Ok(Place::Database(Main("app.db".into())))),
            (Layout::AppTar, "backup/database/app.db-wal", false, Ok(Place::Database(Wal("app.db".into())))),
            (Layout::AppTar, "backup/database/app.db-shm", false, Ok(Place::Database(Shm("app.db".into())))),
            (Layout::AppTar, "backup/other", false, Err(())),
            (Layout::Media, "a/b c/d.txt", false, Ok(Place::Media("a/b c/d.txt".into()))),
        ];
        for (layout, name, dir, expected) in cases {
            assert_eq!(
                layout.place(name, dir).map_err(|_| ()),
                expected,
                "{layout:?} {name}"
            );
        }
    }

    #[test]
    fn unsafe_names_are_worded_for_people() {
        assert_eq!(
            unsafe_entry("../evil.txt", "'.' or '..' path component"),
            "entry '../evil.txt' leaves the folder ('..' path component)"
        );
        assert_eq!(
            unsafe_entry("/tmp/evil.txt", "absolute path"),
            "entry '/tmp/evil.txt' is an absolute path (it would be written outside the folder)"
        );
        assert_eq!(
            unsafe_entry("a/./b", "'.' or '..' path component"),
            "entry 'a/./b' has an unsafe name ('.' or '..' path component)"
        );
    }

    #[test]
    fn budget_counts_and_stops() {
        let budget = Budget::new(10);
        let data = vec![7u8; 25];
        let mut reader = BudgetReader::new(data.as_slice(), &budget);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert!(matches!(
            err.get_ref().and_then(|i| i.downcast_ref::<Overrun>()),
            Some(Overrun::Limit(10))
        ));
    }
}
