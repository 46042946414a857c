//! Foreign containers (zips and tars of other apps' backups) made into a Backstop archive in one pass: how a
//! layout's entries map onto the archive ([`Layout`], [`Place`]), the checks every entry passes before anything
//! of it is kept ([`Checker`]), and the unpacker that stores files, extracts the SQLite database's parts to
//! scratch and finishes the archive ([`Unpacker`]). Reading zips and tars is in `zip_file.rs` and `tar_file.rs`.

use super::Source;
use super::budget::{ErrorTrap, extract_to, read_failure};
use super::detect::{self, normalize};
use super::sqlite::{ScratchDb, archive_scratch_db, prepare_scratch_db};
use super::staging::{Staging, Stored};
use crate::archive::{self, EntryMeta, FILES_PREFIX};
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::model::{EngineKind, Kind};
use crate::progress::{CopyError, JobControl, copy_hashing};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

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
    pub(super) fn describe(self, tar: bool, gz: bool) -> String {
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
pub(super) enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// Links, devices, pipes and the like: never imported; the text says which.
    Refused(String),
}

/// Why an entry name is unsafe, worded for the user.
pub(super) fn unsafe_entry(name: &str, reason: &str) -> String {
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

/// The checks every entry of a foreign container passes, in order, before anything of it is kept.
pub(super) struct Checker<'s> {
    source: &'s Source<'s>,
    layout: Layout,
    /// The single top folder unwrapped (its content is the media folder's).
    unwrap: Option<String>,
    max_entries: u64,
    entries: u64,
    seen: HashSet<String>,
}

impl<'s> Checker<'s> {
    /// The checks of a container of `layout` whose single top folder `unwrap` (if any) is unwrapped.
    pub(super) fn new(
        source: &'s Source<'s>,
        layout: Layout,
        unwrap: Option<String>,
    ) -> Checker<'s> {
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
    pub(super) fn check(&mut self, raw: &str, kind: &EntryKind) -> Result<Option<(String, Place)>> {
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
                .require_engine("SQLite database", Some(EngineKind::Sqlite))?;
        }
        Ok(Some((key, place)))
    }
}

/// Reads a container entry's data to its end (counted, dropped): a tar's next header comes after it.
pub(super) fn drain_entry(
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
pub(super) fn check_entry_size(
    file: &Path,
    key: &str,
    read: u64,
    declared: Option<u64>,
) -> Result<()> {
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
pub(super) struct Unpacker<'s> {
    source: &'s Source<'s>,
    checker: Checker<'s>,
    staging: Staging,
    has_files: bool,
    /// Database parts extracted to scratch files, in the order met.
    database: Vec<(DatabasePart, ScratchDb)>,
}

impl<'s> Unpacker<'s> {
    /// An unpacker writing into `staging`.
    pub(super) fn new(
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
    pub(super) fn take(
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
                let scratch = ScratchDb::in_storage(self.source, "part");
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
    pub(super) fn finish(mut self, job: &JobControl) -> Result<Stored> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
