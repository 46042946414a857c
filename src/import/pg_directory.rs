//! `pg_dump -Fd` dumps: a folder of `toc.dat` and data files, given as a path or found in a tar or zip.
//!
//! pg_restore reads the folder itself, so it is first copied (from the path) or extracted (from the container)
//! into a private scratch folder under `state/tmp`, with the checks every imported entry passes: safe flat
//! names, only the files such a dump is made of, regular files only (links refused, a path's files opened
//! without following links), every byte counted against `settings.max_import_bytes`, the entry count against
//! `settings.max_import_entries`. The folder is removed when the import ends, whatever happens.

use super::{
    Budget, BudgetReader, EntryKind, Found, Source, Stored, check_entry_size, created_time_of,
    detect, drain_entry, extract_to, load_pg_dump, normalize, postgres_config, private_tmp,
    unsafe_entry,
};
use crate::archive;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::progress::JobControl;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The format's name in messages (followed by where it came from: `folder`, `tar`, `tar.gz`, `zip`).
pub(super) const FORMAT_NAME: &str = "PostgreSQL directory-format dump";

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
        detected: format!("{FORMAT_NAME} {}", detect::container_name(tar, gz)),
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
        postgres_config(source, &found.detected)?;
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
        let cfg = postgres_config(source, &self.found.detected)?;
        let created_at = created_time_of(source.file, source.name);
        let stored = load_pg_dump(source, cfg, &self.dir.0, false, created_at, job)?;
        Ok((self.found, stored))
    }
}

/// A `pg_dump -Fd` folder given as the path: its files copied into a private scratch folder (in name order,
/// opened without following links; a link or a sub-folder refuses the import), then loaded.
pub(super) fn import_folder(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let found = Found::named(format!("{FORMAT_NAME} folder"));
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
