//! The archive: one zip file per backup, with `manifest.json`, a `README.txt` and the database dump.
//!
//! Writing: [`ArchiveWriter`] streams entries into `<name>.partial`, hashing each; [`ArchiveWriter::finish`] adds
//! the manifest, fsyncs, and the caller verifies the file with [`verify`] before renaming it into place.
//! Reading: [`ArchiveReader::open`] checks the container (names, duplicates, manifest) before any entry is read, and
//! every read counts bytes against the size the manifest declares, so a tampered or bomb archive stops early.

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::model::{EngineKind, Kind, Trigger};
use crate::progress::{Copied, CopyError, JobControl, copy_hashing};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

mod check;

/// The archive format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` field of every Backstop manifest.
pub const FORMAT_NAME: &str = "backstop-archive";
/// Name of the manifest entry.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the how-to-restore entry.
pub const README_NAME: &str = "README.txt";
/// Largest manifest accepted: about 200 bytes per file, so room for over a million files.
const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Files-folder entries live under this prefix.
pub const FILES_PREFIX: &str = "files/";

/// What the archive says about the database it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// The engine that wrote the dump.
    #[serde(deserialize_with = "check::engine")]
    pub engine: EngineKind,
    /// The engine's version at backup time (SQLite library version, server version).
    pub engine_version: String,
    /// The database's name (a SQLite file's stem, a server database's name).
    pub name: String,
    /// The archive entry holding the dump (`database/<name>.sqlite3`).
    pub entry: String,
    /// Size of the live database at backup time, in bytes.
    pub size_bytes: u64,
    /// Each table's row count at backup time.
    pub tables: BTreeMap<String, u64>,
    /// SHA-256 of the schema text at backup time.
    pub schema_sha256: String,
    /// The dump tool's version (`pg_dump --version`), for engines that use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// What a restore needs to re-create a missing PostgreSQL database (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PgDatabaseSettings>,
}

/// A PostgreSQL database's own properties at backup time, as `pg_dump --create` would record them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgDatabaseSettings {
    /// The owning role.
    pub owner: String,
    /// The encoding (`UTF8`).
    pub encoding: String,
    /// `LC_COLLATE`.
    pub lc_collate: String,
    /// `LC_CTYPE`.
    pub lc_ctype: String,
    /// `libc`, `icu` or `builtin` (servers before 15 have no choice: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_provider: Option<String>,
    /// The ICU (or builtin) locale, when that provider is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_locale: Option<String>,
    /// `ALTER DATABASE … SET` settings as `name=value`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

/// What an entry is: a regular file (the default, left out of the JSON), a folder or a symbolic link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file: its bytes are the entry's content.
    #[default]
    File,
    /// A folder (a zip directory entry, `path` ends with `/`); kept so empty folders come back.
    Dir,
    /// A symbolic link: the entry's content is the link's target, never what it points to.
    Symlink,
}

impl EntryType {
    fn is_file(&self) -> bool {
        *self == EntryType::File
    }
}

/// One entry of the archive with its size and checksum; files-folder entries also keep their metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path inside the zip.
    pub path: String,
    /// Uncompressed size in bytes (a link: its target's length; a folder: 0).
    pub size: u64,
    /// SHA-256 of the uncompressed bytes, lowercase hex (a link: of its target text).
    pub sha256: String,
    /// File, folder or link.
    #[serde(default, rename = "type", skip_serializing_if = "EntryType::is_file")]
    pub entry_type: EntryType,
    /// Modification time of the original (files folder entries).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "check::mtime"
    )]
    pub mtime: Option<DateTime<Utc>>,
    /// Unix mode bits of the original (permissions, setuid/setgid/sticky), files folder entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// A link's target, as written in the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl ManifestEntry {
    /// A regular file's record with no metadata (database dumps, the README).
    pub fn plain(path: &str, size: u64, sha256: &str) -> ManifestEntry {
        ManifestEntry {
            path: path.to_string(),
            size,
            sha256: sha256.to_string(),
            entry_type: EntryType::File,
            mtime: None,
            mode: None,
            target: None,
        }
    }
}

/// The metadata kept with a files-folder entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryMeta {
    /// Modification time.
    pub mtime: Option<DateTime<Utc>>,
    /// Unix mode bits.
    pub mode: Option<u32>,
}

/// `manifest.json`: what the archive is and the checksum of every entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The archive format version.
    pub format_version: u32,
    /// The Backstop version that wrote it.
    pub app_version: String,
    /// The profile the backup belongs to.
    pub profile: String,
    /// What it holds.
    #[serde(deserialize_with = "check::kind")]
    pub kind: Kind,
    /// What started it.
    #[serde(deserialize_with = "check::trigger")]
    pub trigger: Trigger,
    /// When the backup was taken (UTC).
    #[serde(deserialize_with = "check::created_at")]
    pub created_at: DateTime<Utc>,
    /// The database, for `full` and `database` backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    /// Every entry except the manifest itself.
    pub entries: Vec<ManifestEntry>,
    /// Where an imported backup came from (its original file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
    /// Things the user should know about this backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Manifest {
    /// The entry record for `path`.
    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

/// The archive file name for a backup: `<profile>_<kind>_<YYYYMMDD_HHMMSS>_<trigger>[-N].zip` (UTC).
pub fn archive_name(
    profile: &str,
    kind: Kind,
    created_at: DateTime<Utc>,
    trigger: Trigger,
    n: u32,
) -> String {
    let suffix = if n > 1 {
        format!("-{n}")
    } else {
        String::new()
    };
    format!(
        "{profile}_{kind}_{}_{trigger}{suffix}.zip",
        created_at.format("%Y%m%d_%H%M%S")
    )
}

/// A name in `dir` that no archive (finished or partial) uses yet, and that `taken` (the catalog's rows, even
/// failed ones) does not know: a path always names one backup.
pub fn unique_archive_path(
    dir: &Path,
    profile: &str,
    kind: Kind,
    created_at: DateTime<Utc>,
    trigger: Trigger,
    taken: impl Fn(&Path) -> bool,
) -> PathBuf {
    (1..)
        .map(|n| dir.join(archive_name(profile, kind, created_at, trigger, n)))
        .find(|p| !p.exists() && !fsutil::partial_path(p).exists() && !taken(p))
        .unwrap_or_else(|| dir.join("unreachable.zip"))
}

/// The `sha256sum` sidecar beside an archive.
pub fn sidecar_path(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    archive.with_file_name(name)
}

/// The pin marker beside an archive (pins survive a catalog rebuild).
pub fn pin_marker_path(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().unwrap_or_default().to_os_string();
    name.push(".pinned");
    archive.with_file_name(name)
}

/// Writes `<archive>.sha256` in `sha256sum` format, atomically.
pub fn write_sidecar(archive: &Path, sha256: &str) -> Result<()> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fsutil::atomic_write(
        &sidecar_path(archive),
        format!("{sha256}  {name}\n").as_bytes(),
    )
}

/// Whether `text` is a SHA-256 as Backstop writes it: exactly 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why an entry name cannot be written to disk safely, if it cannot.
pub fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("NUL byte in name");
    }
    if name.contains('\\') {
        return Some("backslash in name");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    let bytes = name.as_bytes();
    if matches!(bytes, [drive, b':', ..] if drive.is_ascii_alphabetic()) {
        return Some("drive-letter path");
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for part in trimmed.split('/') {
        match part {
            "" => return Some("empty path component"),
            "." | ".." => return Some("'.' or '..' path component"),
            _ => {}
        }
        // Device names only mean something on Windows; elsewhere `aux.js` is an ordinary file.
        if !cfg!(windows) {
            continue;
        }
        let stem = part.split('.').next().unwrap_or(part).to_ascii_uppercase();
        let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
            || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.len() == 4
                && stem.as_bytes().get(3).is_some_and(u8::is_ascii_digit));
        if reserved {
            return Some("reserved device name");
        }
    }
    None
}

/// zip's timestamp for `t` (DOS time, two-second resolution).
fn zip_time(t: DateTime<Utc>) -> zip::DateTime {
    zip::DateTime::from_date_and_time(
        t.year().clamp(1980, 2107) as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second().min(58) as u8,
    )
    .unwrap_or_default()
}

/// Streams entries into a new `.partial` zip file.
pub struct ArchiveWriter {
    zip: ZipWriter<BufWriter<File>>,
    path: PathBuf,
    entries: Vec<ManifestEntry>,
    level: u32,
    created_at: DateTime<Utc>,
    warnings: Vec<String>,
}

/// SHA-256 of no bytes (a folder entry's checksum).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl ArchiveWriter {
    /// Creates `path` (which must not exist; 0600) for writing.
    pub fn create(path: &Path, compression_level: u32, created_at: DateTime<Utc>) -> Result<Self> {
        let file = fsutil::create_private(path)?;
        Ok(ArchiveWriter {
            zip: ZipWriter::new(BufWriter::with_capacity(1 << 20, file)),
            path: path.to_path_buf(),
            entries: Vec::new(),
            level: compression_level.min(9),
            created_at,
            warnings: Vec::new(),
        })
    }

    fn options(&self, size_hint: u64, compress: bool) -> SimpleFileOptions {
        let method = if compress && self.level > 0 {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let level = (method == CompressionMethod::Deflated).then_some(i64::from(self.level));
        SimpleFileOptions::default()
            .compression_method(method)
            .compression_level(level)
            .unix_permissions(0o600)
            .last_modified_time(zip_time(self.created_at))
            // Zip64 headers when the entry may pass 4 GiB (deflate can grow incompressible data a little).
            .large_file(size_hint >= 0xF000_0000)
    }

    /// Options for a files-folder entry: its own mode and time, so `unzip` puts them back too.
    fn meta_options(&self, size_hint: u64, compress: bool, meta: EntryMeta) -> SimpleFileOptions {
        let mut options = self.options(size_hint, compress);
        if let Some(mode) = meta.mode {
            options = options.unix_permissions(mode & 0o777);
        }
        if let Some(mtime) = meta.mtime {
            options = options.last_modified_time(zip_time(mtime));
        }
        options
    }

    fn check_name(name: &str) -> Result<()> {
        match unsafe_name_reason(name) {
            Some(reason) => Err(Error::JobFailed(format!(
                "internal: bad entry name {name}: {reason}"
            ))),
            None => Ok(()),
        }
    }

    /// Streams `reader` into the entry `name`, hashing it; `size_hint` chooses zip64 for large entries.
    pub fn add_stream(
        &mut self,
        name: &str,
        reader: &mut dyn Read,
        size_hint: u64,
        job: &JobControl,
        stage: &str,
    ) -> Result<Copied> {
        let options = self.options(size_hint, true);
        self.write_entry(name, options, reader, size_hint, job, stage)
    }

    /// Streams a files-folder file into the entry `name` with its metadata; `compress: false` stores it as it is
    /// (for data that is already compressed).
    #[allow(clippy::too_many_arguments)]
    pub fn add_file(
        &mut self,
        name: &str,
        reader: &mut dyn Read,
        size_hint: u64,
        compress: bool,
        meta: EntryMeta,
        job: &JobControl,
        stage: &str,
    ) -> Result<Copied> {
        let options = self.meta_options(size_hint, compress, meta);
        let copied = self.write_entry(name, options, reader, size_hint, job, stage)?;
        if let Some(last) = self.entries.last_mut() {
            last.mtime = meta.mtime;
            last.mode = meta.mode;
        }
        Ok(copied)
    }

    fn write_entry(
        &mut self,
        name: &str,
        options: SimpleFileOptions,
        reader: &mut dyn Read,
        size_hint: u64,
        job: &JobControl,
        stage: &str,
    ) -> Result<Copied> {
        Self::check_name(name)?;
        self.zip
            .start_file(name, options)
            .map_err(|e| zip_write_error(&self.path, e))?;
        let path = self.path.clone();
        let copied = copy_hashing(reader, &mut self.zip, u64::MAX, job, stage, Some(size_hint))
            .map_err(|e| match e {
                CopyError::Read(e) => Error::io("cannot read the data to archive", &path, e),
                CopyError::Write(e) => Error::io("cannot write archive", &path, e),
                CopyError::TooLarge(_) => Error::damaged(&path, "entry too large"),
                CopyError::Cancelled => Error::Cancelled,
            })?;
        self.entries
            .push(ManifestEntry::plain(name, copied.bytes, &copied.sha256));
        Ok(copied)
    }

    /// Adds a folder entry (`name` ends with `/`), so empty folders and folder modes come back.
    pub fn add_dir(&mut self, name: &str, meta: EntryMeta) -> Result<()> {
        Self::check_name(name)?;
        let name = if name.ends_with('/') {
            name.to_string()
        } else {
            format!("{name}/")
        };
        let options = self.meta_options(0, false, meta);
        self.zip
            .add_directory(name.as_str(), options)
            .map_err(|e| zip_write_error(&self.path, e))?;
        self.entries.push(ManifestEntry {
            entry_type: EntryType::Dir,
            mtime: meta.mtime,
            mode: meta.mode,
            ..ManifestEntry::plain(&name, 0, EMPTY_SHA256)
        });
        Ok(())
    }

    /// Adds a symbolic link entry: the link itself (its target text), never what it points to.
    pub fn add_symlink(&mut self, name: &str, target: &str, meta: EntryMeta) -> Result<()> {
        Self::check_name(name)?;
        let options = self.meta_options(target.len() as u64, false, meta);
        self.zip
            .add_symlink(name, target, options)
            .map_err(|e| zip_write_error(&self.path, e))?;
        let sha = crate::progress::sha256_hex(target.as_bytes());
        self.entries.push(ManifestEntry {
            entry_type: EntryType::Symlink,
            mtime: meta.mtime,
            mode: None,
            target: Some(target.to_string()),
            ..ManifestEntry::plain(name, target.len() as u64, &sha)
        });
        Ok(())
    }

    /// Takes back the entry written last (a file that changed while it was read, to be read again).
    pub fn abort_last(&mut self) -> Result<()> {
        self.zip
            .abort_file()
            .map_err(|e| zip_write_error(&self.path, e))?;
        self.entries.pop();
        Ok(())
    }

    /// Records a warning to go into the manifest.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// The warnings recorded so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a small entry from memory.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8], job: &JobControl) -> Result<Copied> {
        self.add_stream(
            name,
            &mut &bytes[..],
            bytes.len() as u64,
            job,
            "writing archive",
        )
    }

    /// Copies an entry from another archive as it is stored (no recompression), keeping its manifest record.
    pub fn copy_raw(&mut self, reader: &mut ArchiveReader, record: &ManifestEntry) -> Result<()> {
        let source = reader.path().to_path_buf();
        let entry = reader
            .zip_mut()
            .by_name_raw(record.path.as_bytes())
            .map_err(|e| {
                Error::damaged(
                    &source,
                    format!("entry '{}' is unreadable: {e}", record.path),
                )
            })?;
        self.zip
            .raw_copy_file(entry)
            .map_err(|e| zip_write_error(&self.path, e))?;
        self.entries.push(record.clone());
        Ok(())
    }

    /// The entries written so far.
    pub fn entries(&self) -> &[ManifestEntry] {
        &self.entries
    }

    /// Writes the manifest (with the recorded entries) last, closes the zip and fsyncs the file.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<Manifest> {
        manifest.entries = std::mem::take(&mut self.entries);
        manifest.warnings.append(&mut self.warnings);
        // Streamed into the entry: a manifest of many files is never held twice in memory. It stays far below
        // 4 GiB (see MAX_MANIFEST_BYTES), so it needs no zip64 header.
        let options = self.options(0, true);
        self.zip
            .start_file(MANIFEST_NAME, options)
            .map_err(|e| zip_write_error(&self.path, e))?;
        let mut out = BufWriter::with_capacity(64 << 10, &mut self.zip);
        serde_json::to_writer_pretty(&mut out, &manifest)
            .map_err(std::io::Error::from)
            .and_then(|()| out.flush())
            .ctx("cannot write archive", &self.path)?;
        drop(out);
        let writer = self
            .zip
            .finish()
            .map_err(|e| zip_write_error(&self.path, e))?;
        let file = writer
            .into_inner()
            .map_err(|e| Error::io("cannot write archive", &self.path, e.into_error()))?;
        file.sync_all().ctx("cannot sync archive", &self.path)?;
        Ok(manifest)
    }
}

fn zip_write_error(path: &Path, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) => Error::io("cannot write archive", path, io),
        other => Error::damaged(path, format!("cannot write zip: {other}")),
    }
}

/// The README written into every archive: how to restore it with stock tools alone.
pub fn readme_text(manifest: &Manifest) -> String {
    let mut text = format!(
        "Backstop archive (format {FORMAT_NAME} v{FORMAT_VERSION})\n\
         Profile: {}\nKind: {}\nTrigger: {}\nCreated: {} (UTC)\n\n\
         This is an ordinary zip file. manifest.json lists every entry with its size and SHA-256.\n\n\
         Restore without Backstop:\n\
         1. Check the archive:     sha256sum -c <archive>.zip.sha256   and   unzip -t <archive>.zip\n\
         2. Unpack it:             unzip <archive>.zip -d restored\n",
        manifest.profile,
        manifest.kind,
        manifest.trigger,
        manifest.created_at.to_rfc3339(),
    );
    if let Some(db) = &manifest.database {
        text.push_str(
            &crate::engine::family(db.engine).readme_steps(&db.entry, db.tool_version.as_deref()),
        );
    }
    if manifest.kind != Kind::Database {
        text.push_str(
            "4. The files folder is under restored/files/ (modes, times and symbolic links included when\n\
             \x20  unpacked by Info-ZIP unzip on Linux or macOS). Move the live folder aside, then put it in place:\n\
             \x20                        mv /path/to/media /path/to/media.old && mv restored/files /path/to/media\n",
        );
    }
    text.push_str("\nWith Backstop: backstop import <archive>.zip, then backstop restore ID\n");
    text
}

/// An opened archive whose container and manifest passed the structural checks.
pub struct ArchiveReader {
    zip: ZipArchive<BufReader<File>>,
    path: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Where each entry's record is in `manifest.entries`: one lookup per entry, not a scan (a folder of many
    /// files would otherwise make reading quadratic).
    index: std::collections::HashMap<String, usize>,
}

impl std::fmt::Debug for ArchiveReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReader")
            .field("path", &self.path)
            .finish()
    }
}

impl ArchiveReader {
    /// Opens an archive and checks its structure before any entry is extracted:
    /// a zip, no duplicate or unsafe names, no links, a readable manifest of a known version that lists
    /// exactly the entries present with their sizes.
    pub fn open(path: &Path) -> Result<ArchiveReader> {
        let meta = std::fs::symlink_metadata(path).ctx("cannot open archive", path)?;
        if !meta.is_file() {
            return Err(Error::refused(path, "not a regular file"));
        }
        let file = File::open(path).ctx("cannot open archive", path)?;
        let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| match e {
            zip::result::ZipError::Io(io) => Error::io("cannot read archive", path, io),
            other => Error::damaged(
                path,
                format!("not a readable zip file ({other}); it may be truncated or not a Backstop archive"),
            ),
        })?;
        if zip.has_duplicate_names() {
            return Err(Error::damaged(
                path,
                "two entries have the same name (a tampered archive); refusing to read it",
            ));
        }
        if zip.has_overlapping_files().unwrap_or(true) {
            return Err(Error::damaged(
                path,
                "entries overlap inside the file (a zip bomb or tampered archive)",
            ));
        }
        let mut names = HashSet::new();
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| Error::damaged(path, format!("entry #{i} is unreadable: {e}")))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if let Some(reason) = unsafe_name_reason(&name) {
                return Err(Error::damaged(
                    path,
                    format!("unsafe entry name '{name}': {reason}"),
                ));
            }
            // A link is only ever a files-folder entry; it is restored as a link, never written through.
            if entry.is_symlink() && !name.starts_with(FILES_PREFIX) {
                return Err(Error::damaged(
                    path,
                    format!("entry '{name}' is a link outside files/; refusing it"),
                ));
            }
            if entry.encrypted() {
                return Err(Error::damaged(path, format!("entry '{name}' is encrypted")));
            }
            // Names that differ only in case are fine on Linux; restoring them onto a case-insensitive file
            // system is refused there (see `files`). The database entries, though, are ours and never do.
            if !name.starts_with(FILES_PREFIX) && !names.insert(name.to_lowercase()) {
                return Err(Error::damaged(
                    path,
                    format!("two entries map to the same path '{name}' (differing only in case)"),
                ));
            }
        }
        let manifest = read_manifest(&mut zip, path)?;
        let mut reader = ArchiveReader {
            zip,
            path: path.to_path_buf(),
            manifest,
            index: std::collections::HashMap::new(),
        };
        reader.check_listing()?;
        Ok(reader)
    }

    /// The archive's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry present is listed in the manifest with the same size, and vice versa.
    fn check_listing(&mut self) -> Result<()> {
        let ArchiveReader {
            zip,
            path,
            manifest,
            index,
        } = self;
        // Each path was checked with the other fields (`check::manifest`).
        for (i, entry) in manifest.entries.iter().enumerate() {
            if index.insert(entry.path.clone(), i).is_some() {
                return Err(Error::damaged(
                    path,
                    format!("manifest lists '{}' twice", entry.path),
                ));
            }
        }
        let mut seen = vec![false; manifest.entries.len()];
        for i in 0..zip.len() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| Error::damaged(path, format!("entry #{i} is unreadable: {e}")))?;
            let name = entry.name().unwrap_or_default();
            if name == MANIFEST_NAME {
                continue;
            }
            let actual = if entry.is_dir() {
                EntryType::Dir
            } else if entry.is_symlink() {
                EntryType::Symlink
            } else {
                EntryType::File
            };
            let Some(&at) = index.get(name.as_ref()) else {
                // Folder entries written by other zip tools are harmless; Backstop lists its own.
                if actual == EntryType::Dir {
                    continue;
                }
                return Err(Error::damaged(
                    path,
                    format!("entry '{name}' is not listed in the manifest"),
                ));
            };
            let Some(record) = manifest.entries.get(at) else {
                continue;
            };
            if record.entry_type != actual {
                return Err(Error::damaged(
                    path,
                    format!(
                        "entry '{name}' is a {actual:?} but the manifest says {:?}",
                        record.entry_type
                    )
                    .to_lowercase(),
                ));
            }
            if record.size != entry.size() {
                return Err(Error::damaged(
                    path,
                    format!(
                        "entry '{name}' is {} bytes but the manifest says {}",
                        entry.size(),
                        record.size
                    ),
                ));
            }
            if let Some(seen) = seen.get_mut(at) {
                *seen = true;
            }
        }
        if let Some(missing) = seen
            .iter()
            .zip(&manifest.entries)
            .find_map(|(seen, entry)| (!seen).then_some(entry))
        {
            return Err(Error::damaged(
                path,
                format!("entry '{}' listed in the manifest is missing", missing.path),
            ));
        }
        if let Some(db) = &manifest.database
            && !index.contains_key(db.entry.as_str())
        {
            return Err(Error::damaged(
                path,
                format!("the manifest's database entry '{}' is missing", db.entry),
            ));
        }
        Ok(())
    }

    /// Streams one entry into `out`, checking its size and SHA-256 against the manifest as it goes.
    /// Never writes more than the manifest declares (a bomb stops at that size).
    pub fn extract_entry(
        &mut self,
        name: &str,
        out: &mut dyn Write,
        out_path: &Path,
        job: &JobControl,
        stage: &str,
    ) -> Result<u64> {
        let record = self
            .index
            .get(name)
            .and_then(|&i| self.manifest.entries.get(i))
            .cloned()
            .ok_or_else(|| {
                Error::damaged(&self.path, format!("no entry '{name}' in the manifest"))
            })?;
        let path = self.path.clone();
        let mut entry = self
            .zip
            .by_name(name)
            .map_err(|e| Error::damaged(&path, format!("entry '{name}' is unreadable: {e}")))?;
        let copied = copy_hashing(&mut entry, out, record.size, job, stage, Some(record.size))
            .map_err(|e| match e {
                CopyError::Read(io)
                    if io.kind() == std::io::ErrorKind::InvalidData
                        || io.kind() == std::io::ErrorKind::UnexpectedEof
                        || io.kind() == std::io::ErrorKind::InvalidInput
                        || io.kind() == std::io::ErrorKind::Other =>
                {
                    Error::damaged(&path, format!("entry '{name}' is damaged: {io}"))
                }
                CopyError::Read(io) => Error::io("cannot read archive", &path, io),
                CopyError::Write(io) => Error::io("cannot write the extracted entry", out_path, io),
                CopyError::TooLarge(limit) => Error::damaged(
                    &path,
                    format!(
                        "entry '{name}' holds more than the {limit} bytes its manifest declares"
                    ),
                ),
                CopyError::Cancelled => Error::Cancelled,
            })?;
        if copied.bytes != record.size {
            return Err(Error::damaged(
                &path,
                format!(
                    "entry '{name}' is {} bytes, the manifest says {}",
                    copied.bytes, record.size
                ),
            ));
        }
        if copied.sha256 != record.sha256 {
            return Err(Error::damaged(
                &path,
                format!("entry '{name}' does not match its SHA-256 in the manifest"),
            ));
        }
        Ok(copied.bytes)
    }

    /// Reads one entry completely and checks its size and SHA-256 against the manifest, keeping nothing.
    pub fn check_entry(&mut self, name: &str, job: &JobControl, stage: &str) -> Result<u64> {
        self.extract_entry(
            name,
            &mut std::io::sink(),
            Path::new("(nowhere)"),
            job,
            stage,
        )
    }

    /// Gives the archive's raw entries to a writer that copies them without recompressing.
    pub fn zip_mut(&mut self) -> &mut ZipArchive<BufReader<File>> {
        &mut self.zip
    }
}

/// Reads and checks only the manifest of an archive behind any seekable reader (a destination's copy, read in
/// ranges: the zip's central directory and the manifest entry, not the whole archive). `path` names it in errors.
/// Restoring still opens the whole archive with [`ArchiveReader::open`], which checks everything.
pub fn manifest_of<R: Read + std::io::Seek>(reader: R, path: &Path) -> Result<Manifest> {
    let mut zip = ZipArchive::new(reader).map_err(|e| {
        Error::damaged(
            path,
            format!("not a readable zip file ({e}); it may be truncated or not a Backstop archive"),
        )
    })?;
    read_manifest(&mut zip, path)
}

fn read_manifest<R: Read + std::io::Seek>(
    zip: &mut ZipArchive<R>,
    path: &Path,
) -> Result<Manifest> {
    let mut entry = zip.by_name(MANIFEST_NAME).map_err(|_| {
        Error::damaged(
            path,
            "no manifest.json inside; this is not a Backstop archive (or it is incomplete)",
        )
    })?;
    if entry.size() > MAX_MANIFEST_BYTES {
        return Err(Error::damaged(path, "manifest.json is implausibly large"));
    }
    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::damaged(path, format!("manifest.json is damaged: {e}")))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Error::damaged(path, "manifest.json is implausibly large"));
    }
    // Look at the version first, so a newer format gets its own message rather than a field error. The probe reads
    // two fields and skips the rest without building it (a huge manifest must not become a huge JSON tree).
    #[derive(Deserialize)]
    struct Head {
        #[serde(default)]
        format: Option<String>,
        #[serde(default)]
        format_version: Option<u64>,
    }
    let head: Head = serde_json::from_slice(&bytes)
        .map_err(|e| Error::damaged(path, format!("manifest.json is not valid JSON: {e}")))?;
    if head.format.as_deref() != Some(FORMAT_NAME) {
        return Err(Error::damaged(
            path,
            "manifest.json is not a Backstop manifest",
        ));
    }
    match head.format_version {
        Some(v) if v > u64::from(FORMAT_VERSION) => {
            return Err(Error::refused(
                path,
                format!(
                    "it uses archive format version {v}, newer than this Backstop understands ({FORMAT_VERSION}); upgrade Backstop to read it"
                ),
            ));
        }
        Some(_) => {}
        None => return Err(Error::damaged(path, "manifest.json has no format_version")),
    }
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::damaged(path, format!("manifest.json is malformed: {e}")))?;
    // The one boundary: every field is checked here, before anything uses the manifest.
    check::manifest(&manifest)
        .map_err(|problem| Error::damaged(path, format!("manifest.json: {problem}")))?;
    Ok(manifest)
}

/// How two backups differ, from their manifests alone (no entry is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestDiff {
    /// Entries only in the newer archive.
    pub added: Vec<String>,
    /// Entries only in the older archive.
    pub removed: Vec<String>,
    /// Entries in both whose content (SHA-256) differs.
    pub changed: Vec<String>,
    /// Live database size at the first backup.
    pub database_size_before: Option<u64>,
    /// Live database size at the second backup.
    pub database_size_after: Option<u64>,
    /// Tables whose row count differs: name → (before, after); a missing table counts as 0.
    pub tables: BTreeMap<String, (u64, u64)>,
}

/// Compares two manifests: entries added, removed and changed (the README and the database dump's own name are
/// compared like any entry), the database size change and each table's row count change.
pub fn diff_manifests(before: &Manifest, after: &Manifest) -> ManifestDiff {
    let skip = |path: &str| path == README_NAME;
    let old: BTreeMap<&str, &str> = before
        .entries
        .iter()
        .filter(|e| !skip(&e.path))
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    let new: BTreeMap<&str, &str> = after
        .entries
        .iter()
        .filter(|e| !skip(&e.path))
        .map(|e| (e.path.as_str(), e.sha256.as_str()))
        .collect();
    let mut diff = ManifestDiff {
        database_size_before: before.database.as_ref().map(|d| d.size_bytes),
        database_size_after: after.database.as_ref().map(|d| d.size_bytes),
        ..ManifestDiff::default()
    };
    for (path, sha) in &new {
        match old.get(path) {
            None => diff.added.push(path.to_string()),
            Some(old_sha) if old_sha != sha => diff.changed.push(path.to_string()),
            Some(_) => {}
        }
    }
    diff.removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .map(|p| p.to_string())
        .collect();
    let empty = BTreeMap::new();
    let t_old = before
        .database
        .as_ref()
        .map(|d| &d.tables)
        .unwrap_or(&empty);
    let t_new = after.database.as_ref().map(|d| &d.tables).unwrap_or(&empty);
    for name in t_old.keys().chain(t_new.keys()) {
        let (a, b) = (
            t_old.get(name).copied().unwrap_or(0),
            t_new.get(name).copied().unwrap_or(0),
        );
        if a != b {
            diff.tables.insert(name.clone(), (a, b));
        }
    }
    diff
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The archive checked.
    pub path: PathBuf,
    /// Entries whose checksums were checked.
    pub entries_checked: usize,
    /// Uncompressed bytes read.
    pub bytes_checked: u64,
    /// SHA-256 of the whole archive file.
    pub archive_sha256: Option<String>,
    /// Each problem found, naming the entry; empty when the archive is good.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether the archive is intact.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Re-reads an archive completely: structure, manifest, every entry's size and SHA-256, and the whole file's
/// SHA-256 (against `expected_sha256` when given, e.g. from the catalog or the sidecar). Damage is a report, not an error;
/// only a cancel or an I/O failure of the reader is an error.
pub fn verify(
    path: &Path,
    expected_sha256: Option<&str>,
    job: &JobControl,
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        path: path.to_path_buf(),
        entries_checked: 0,
        bytes_checked: 0,
        archive_sha256: None,
        problems: Vec::new(),
    };
    match crate::progress::sha256_file(path, job) {
        Ok(whole) => {
            if let Some(expected) = expected_sha256
                && expected != whole.sha256
            {
                report.problems.push(format!(
                    "the archive file's SHA-256 {} differs from the recorded {expected}",
                    whole.sha256
                ));
            }
            report.archive_sha256 = Some(whole.sha256);
        }
        Err(Error::Cancelled) => return Err(Error::Cancelled),
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
    }
    let mut reader = match ArchiveReader::open(path) {
        Ok(reader) => reader,
        Err(e) => {
            report
                .problems
                .push(strip_path_prefix(&e.to_string(), path));
            return Ok(report);
        }
    };
    let names: Vec<String> = reader
        .manifest
        .entries
        .iter()
        .map(|e| e.path.clone())
        .collect();
    for name in names {
        match reader.check_entry(&name, job, "verifying archive") {
            Ok(bytes) => {
                report.entries_checked += 1;
                report.bytes_checked += bytes;
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => report
                .problems
                .push(strip_path_prefix(&e.to_string(), path)),
        }
    }
    Ok(report)
}

/// Removes the leading "archive <path> is damaged: " so that a report lists problems, not paths.
fn strip_path_prefix(message: &str, path: &Path) -> String {
    let damaged = format!("archive {} is damaged: ", path.display());
    let refused = format!("{} was refused: ", path.display());
    message
        .strip_prefix(&damaged)
        .or_else(|| message.strip_prefix(&refused))
        .unwrap_or(message)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sortable() {
        let t = DateTime::parse_from_rfc3339("2025-11-24T03:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            archive_name("shop", Kind::Database, t, Trigger::Manual, 1),
            "shop_database_20251124_031500_manual.zip"
        );
        assert_eq!(
            archive_name("shop", Kind::Full, t, Trigger::Automatic, 2),
            "shop_full_20251124_031500_automatic-2.zip"
        );
    }

    #[test]
    fn manifests_diff_by_entry_checksum_and_row_counts() {
        let t = Utc::now();
        let entry = |p: &str, sha: &str| ManifestEntry::plain(p, 1, sha);
        let db = |size: u64, rows: &[(&str, u64)]| DatabaseInfo {
            engine: EngineKind::Sqlite,
            engine_version: String::new(),
            name: "shop".into(),
            entry: "database/shop.sqlite3".into(),
            size_bytes: size,
            tables: rows.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            schema_sha256: String::new(),
            tool_version: None,
            postgres: None,
        };
        let manifest = |entries: Vec<ManifestEntry>, database: DatabaseInfo| Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            app_version: "0".into(),
            profile: "p".into(),
            kind: Kind::Full,
            trigger: Trigger::Manual,
            created_at: t,
            database: Some(database),
            entries,
            imported_from: None,
            warnings: vec![],
        };
        let a = manifest(
            vec![
                entry("database/shop.sqlite3", "1"),
                entry("files/a.txt", "a"),
                entry("files/gone.txt", "g"),
                entry(README_NAME, "r1"),
            ],
            db(100, &[("orders", 10), ("old", 3)]),
        );
        let b = manifest(
            vec![
                entry("database/shop.sqlite3", "2"),
                entry("files/a.txt", "a"),
                entry("files/new.txt", "n"),
                entry(README_NAME, "r2"),
            ],
            db(150, &[("orders", 12), ("fresh", 1)]),
        );
        let d = diff_manifests(&a, &b);
        assert_eq!(d.added, ["files/new.txt"]);
        assert_eq!(d.removed, ["files/gone.txt"]);
        assert_eq!(d.changed, ["database/shop.sqlite3"]);
        assert_eq!(
            (d.database_size_before, d.database_size_after),
            (Some(100), Some(150))
        );
        assert_eq!(d.tables["orders"], (10, 12));
        assert_eq!(d.tables["old"], (3, 0));
        assert_eq!(d.tables["fresh"], (0, 1));
        assert_eq!(
            diff_manifests(&a, &a),
            ManifestDiff {
                database_size_before: Some(100),
                database_size_after: Some(100),
                ..Default::default()
            }
        );
    }

    #[test]
    fn unsafe_names_are_named() {
        let cases = [
            ("../evil", Some("'.' or '..' path component")),
            ("a/../../x", Some("'.' or '..' path component")),
            ("/etc/passwd", Some("absolute path")),
            ("C:\\x", Some("backslash in name")),
            ("C:x", Some("drive-letter path")),
            ("..\\x", Some("backslash in name")),
            (
                "files/COM1",
                cfg!(windows).then_some("reserved device name"),
            ),
            (
                "files/nul.txt",
                cfg!(windows).then_some("reserved device name"),
            ),
            ("a\0b", Some("NUL byte in name")),
            ("a//b", Some("empty path component")),
            ("", Some("empty name")),
            ("database/app.sqlite3", None),
            ("files/dir/", None),
            ("files/com10", None),
        ];
        for (name, expected) in cases {
            assert_eq!(unsafe_name_reason(name), expected, "case {name:?}");
        }
    }
}
