//! PostgreSQL's own formats: custom (`-Fc`), tar (`-Ft`), plain SQL and directory (`-Fd`) dumps, loaded into a
//! staging database on the profile's server through the PostgreSQL engine's import loader, then archived from
//! there like any backup.
//!
//! pg_restore reads a `-Fd` folder itself, so such a dump is first copied (from the path) or extracted (from a
//! tar or zip) into a private scratch folder under `state/tmp`, with the checks every imported entry passes: safe
//! flat names, only the files such a dump is made of, regular files only (links refused, a path's files opened
//! without following links), every byte counted against `settings.max_import_bytes`, the entry count against
//! `settings.max_import_entries`. The folder is removed when the import ends, whatever happens.

use super::budget::{Budget, BudgetReader, extract_to};
use super::containers::{EntryKind, check_entry_size, drain_entry, unsafe_entry};
use super::dates::created_time_of;
use super::detect::{self, normalize};
use super::staging::{Staging, Stored};
use super::{Found, Source};
use crate::archive;
use crate::config::{DatabaseConfig, ServerConfig};
use crate::engine;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::jobs::Context;
use crate::model::{EngineKind, Kind};
use crate::progress::JobControl;
use chrono::{DateTime, Utc};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A PostgreSQL dump (custom or tar format, or plain SQL checked and filtered line by line first), named `what` in
/// messages: decompressed into a private scratch file, loaded into a staging database on the profile's server as a
/// throwaway role that owns nothing else (see `engine::postgres::import_boundary`), then backed up from there, so
/// the archive is verified like any backup; the staging database and the role are dropped. What the check left
/// out is noted.
pub(super) fn import_dump(
    source: &Source,
    plain: bool,
    what: &str,
    job: &JobControl,
) -> Result<Stored> {
    let cfg = server_config(source, what)?;
    let created_at = created_time_of(source.file, source.name);
    let tmp = private_tmp(source.ctx)?;
    let staged = source.unpack(&tmp, job)?;
    let mut note = None;
    let filtered;
    let load = if plain {
        job.stage("checking SQL", None);
        let checked;
        (filtered, checked) = source.check_sql(&tmp, staged.path(), |input, output| {
            Ok(engine::pgsql_check::filter_plain_sql(
                input,
                output,
                &cfg.dbname,
            ))
        })?;
        note = checked.note();
        filtered.path()
    } else {
        staged.path()
    };
    let mut stored = load_pg_dump(source, cfg, load, plain, created_at, job)?;
    stored.notes.extend(note);
    Ok(stored)
}

/// The profile's PostgreSQL settings; a profile of another engine gets the one engine refusal
/// ([`Source::require_engine`]).
fn server_config<'p>(source: &Source<'p>, format: &str) -> Result<&'p ServerConfig> {
    match &source.profile.database {
        DatabaseConfig::Postgres(cfg) => Ok(cfg),
        _ => Err(source.other_engine(format, Some(EngineKind::Postgres))),
    }
}

/// The private folder for a job's scratch files (`state/tmp`), created when missing.
pub(super) fn private_tmp(ctx: &Context) -> Result<PathBuf> {
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
    cfg: &ServerConfig,
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
        .map_err(|e| source.load_error(e))?;
    staging.finish(source, Kind::Database, Some(database), job)
}

// ---------------------------------------------------------------------------------------------------------------
// Directory-format dumps

/// The format's name in messages (followed by where it came from: `folder`, `tar`, `tar.gz`, `zip`).
pub(super) const DIRECTORY_FORMAT: &str = "PostgreSQL directory-format dump";

/// Whether a container entry is named `toc.dat` (at any depth): the survey reads its first bytes.
pub(super) fn is_toc_name(raw: &str) -> bool {
    normalize(raw).rsplit('/').next() == Some("toc.dat")
}

/// Whether `dir` is a `pg_dump -Fd` folder: it holds a regular file `toc.dat` that starts like pg_dump's table
/// of contents.
pub(super) fn is_pg_folder(dir: &Path) -> bool {
    let toc = dir.join("toc.dat");
    if !std::fs::symlink_metadata(&toc).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::new();
    crate::files::open_no_follow(&toc)
        .and_then(|f| {
            f.take(detect::PG_DUMP_MAGIC.len() as u64)
                .read_to_end(&mut head)
        })
        .is_ok()
        && head == detect::PG_DUMP_MAGIC
}

/// How a directory-format dump found in a container is reported.
pub(super) fn container_found(tar: bool, gz: bool, top: Option<String>) -> Found {
    Found {
        detected: format!("{DIRECTORY_FORMAT} {}", detect::container_name(tar, gz)),
        unwrapped: top,
    }
}

/// A scratch folder, removed with everything in it on drop.
struct ScratchFolder(PathBuf);

impl Drop for ScratchFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory-format dump being extracted into a private scratch folder, entry by entry.
pub(super) struct PgFolder {
    dir: ScratchFolder,
    file: PathBuf,
    found: Found,
    entries: u64,
    max_entries: u64,
    has_toc: bool,
}

impl PgFolder {
    /// A new private scratch folder for the dump `found` names (its `unwrapped` top folder, if any, holds the
    /// dump's files). A profile of another engine is refused here, before anything is extracted.
    pub(super) fn new(source: &Source, found: Found) -> Result<PgFolder> {
        source.require_engine(&found.detected, Some(EngineKind::Postgres))?;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = private_tmp(source.ctx)?.join(format!(
            ".import-{}-{n}.pgdir{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        ));
        let _ = std::fs::remove_dir_all(&path);
        fsutil::create_private_dir(&path)?;
        Ok(PgFolder {
            dir: ScratchFolder(path),
            file: source.file.to_path_buf(),
            found,
            entries: 0,
            max_entries: source.ctx.config.settings.max_import_entries,
            has_toc: false,
        })
    }

    fn refused(&self, reason: impl Into<String>) -> Error {
        Error::refused(&self.file, reason)
    }

    /// Takes one entry: the root or the top folder's own entry is passed over; a file of the dump is checked and
    /// extracted; anything else refuses the whole import.
    pub(super) fn take(
        &mut self,
        raw: &str,
        kind: &EntryKind,
        data: &mut dyn Read,
        declared: Option<u64>,
        job: &JobControl,
    ) -> Result<()> {
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(self.refused(format!(
                "it has more than {} entries, the import limit (settings.max_import_entries)",
                self.max_entries
            )));
        }
        let name = normalize(raw).trim_end_matches('/');
        let inner = match &self.found.unwrapped {
            _ if name.is_empty() || name == "." => None,
            Some(top) if name == top => None,
            Some(top) => match name
                .strip_prefix(top.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(inner) => Some(inner),
                None => {
                    return Err(self.refused(format!(
                        "entry '{name}' lies outside the top folder '{top}/' (the file changed while it was read)"
                    )));
                }
            },
            None => Some(name),
        };
        let Some(inner) = inner else {
            return drain_entry(&self.file, raw, data, declared, job);
        };
        if let Some(reason) = archive::unsafe_name_reason(name) {
            return Err(self.refused(unsafe_entry(raw, reason)));
        }
        if let EntryKind::Refused(what) = kind {
            return Err(self.refused(format!(
                "entry '{name}' is {what}; a pg_dump directory-format dump holds only files"
            )));
        }
        if *kind == EntryKind::Dir || !detect::is_pg_directory_member(inner) {
            return Err(self.refused(format!(
                "entry '{name}' is not part of a pg_dump directory-format dump (toc.dat and its data files)"
            )));
        }
        let out = self.dir.0.join(inner);
        if std::fs::symlink_metadata(&out).is_ok() {
            return Err(self.refused(format!(
                "entry '{name}' appears twice (two entries with the same name; which one is meant?)"
            )));
        }
        let bytes = extract_to(&self.file, Some(name), data, &out, job)?;
        check_entry_size(&self.file, name, bytes, declared)?;
        if inner == "toc.dat" {
            self.has_toc = is_pg_folder(&self.dir.0);
        }
        Ok(())
    }

    /// Loads the extracted dump through the PostgreSQL engine's pg_restore loader and archives it; the scratch
    /// folder goes when this returns.
    pub(super) fn load(self, source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
        if !self.has_toc {
            return Err(self.refused(
                "it holds no pg_dump toc.dat: it is not a complete pg_dump directory-format dump",
            ));
        }
        let cfg = server_config(source, &self.found.detected)?;
        let created_at = created_time_of(source.file, source.name);
        let stored = load_pg_dump(source, cfg, &self.dir.0, false, created_at, job)?;
        Ok((self.found, stored))
    }
}

/// A `pg_dump -Fd` folder given as the path: its files copied into a private scratch folder (in name order,
/// opened without following links; a link or a sub-folder refuses the import), then loaded.
pub(super) fn import_folder(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let found = Found::named(format!("{DIRECTORY_FORMAT} folder"));
    let mut folder = PgFolder::new(source, found)?;
    let cannot = |e: std::io::Error| source.refused(format!("cannot read it: {e}"));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(source.file).map_err(cannot)? {
        names.push(entry.map_err(cannot)?.file_name());
    }
    names.sort();
    let budget = Budget::new(source.limit());
    job.stage("copying import", None);
    for os_name in names {
        job.check()?;
        let Some(name) = os_name.to_str() else {
            return Err(source.refused(format!(
                "entry '{}' has a name that is not UTF-8",
                os_name.to_string_lossy().escape_debug()
            )));
        };
        let path = source.file.join(name);
        let meta = std::fs::symlink_metadata(&path).map_err(cannot)?;
        let kind = if meta.is_file() {
            EntryKind::File
        } else if meta.is_dir() {
            EntryKind::Dir
        } else if meta.file_type().is_symlink() {
            EntryKind::Refused("a symbolic link".to_string())
        } else {
            EntryKind::Refused("not a regular file".to_string())
        };
        if kind != EntryKind::File {
            folder.take(name, &kind, &mut std::io::empty(), None, job)?;
            continue;
        }
        let input = crate::files::open_no_follow(&path).map_err(cannot)?;
        let mut data = BudgetReader::new(input, &budget);
        folder.take(name, &kind, &mut data, Some(meta.len()), job)?;
    }
    folder.load(source, job)
}
