//! The files ("media") folder: walk it into an archive, restore it into a sibling folder and swap, or restore
//! chosen entries into another folder.
//!
//! Backup walks without following links (a link is stored as a link), skips sockets, pipes and devices with a
//! warning, honours the profile's exclude globs, streams each file (re-read once if it changed while being read)
//! and stores already-compressed formats as they are. Restore checks every entry before anything is written,
//! extracts into a fresh folder beside the target, verifies each checksum on the way, creates links last (so
//! nothing is ever written through one), and only then swaps the folders by rename.

use crate::archive::{
    ArchiveReader, ArchiveWriter, EntryMeta, EntryType, FILES_PREFIX, ManifestEntry,
};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::progress::JobControl;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

/// File name extensions whose content is already compressed: stored without deflating again.
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "heif", "jxl", "mp4", "m4v", "mov", "mkv",
    "webm", "avi", "mp3", "m4a", "aac", "ogg", "oga", "opus", "flac", "zip", "gz", "tgz", "bz2",
    "xz", "zst", "7z", "rar", "lz4", "br", "jar", "apk", "docx", "xlsx", "pptx", "odt", "ods",
    "odp", "epub", "pdf", "woff", "woff2",
];

/// Whether a file's name says its content is already compressed.
pub fn already_compressed(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        COMPRESSED_EXTENSIONS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(ext))
    })
}

/// The profile's exclude patterns. A pattern with a `/` matches the path relative to the folder (`cache/**`,
/// `media/tmp/*.part`, `/build`); one without matches a name at any depth (`*.tmp`, `.DS_Store`). `*` stays within one
/// folder, `**` crosses folders. An excluded folder is skipped whole.
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    by_path: Vec<glob::Pattern>,
    by_name: Vec<glob::Pattern>,
    exact: std::collections::HashSet<String>,
}

impl Excludes {
    /// Compiles the patterns; a bad one is a usage error naming it.
    pub fn new(patterns: &[String]) -> Result<Excludes> {
        let mut out = Excludes::default();
        for raw in patterns {
            let anchored = raw.trim().starts_with('/');
            let text = raw.trim().trim_start_matches('/');
            if text.is_empty() {
                continue;
            }
            let text = text.strip_suffix('/').unwrap_or(text);
            let pattern = glob::Pattern::new(text).map_err(|e| {
                Error::Usage(format!("exclude pattern '{raw}' is not a valid glob: {e}"))
            })?;
            if anchored || text.contains('/') {
                out.by_path.push(pattern);
            } else {
                out.by_name.push(pattern);
            }
        }
        Ok(out)
    }

    /// Also leaves out these paths (and what is under them) if they lie inside `root`: the database file of a
    /// profile that keeps it inside its files folder (it is backed up consistently by its engine, never copied raw
    /// while live) and its `-wal`, `-shm` and `-journal` files.
    pub fn also_skip(&mut self, root: &Path, paths: &[PathBuf]) {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        for path in paths {
            let path = path.canonicalize().unwrap_or_else(|_| path.clone());
            if let Ok(rel) = path.strip_prefix(&root)
                && let Some(rel) = rel.to_str()
                && !rel.is_empty()
            {
                let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    self.exact.insert(format!("{rel}{suffix}"));
                }
            }
        }
    }

    /// Whether `rel` (a path relative to the folder, `/`-separated) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        if self.exact.contains(rel) {
            return true;
        }
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.by_name.iter().any(|p| p.matches_with(name, options))
            || self.by_path.iter().any(|p| p.matches_with(rel, options))
    }
}

/// What a folder backup stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FilesSummary {
    /// Regular files stored.
    pub files: u64,
    /// Folders stored (empty ones included).
    pub dirs: u64,
    /// Symbolic links stored (as links).
    pub links: u64,
    /// Bytes of file content stored.
    pub bytes: u64,
    /// Things skipped or changed, one sentence each (also in the manifest's warnings).
    pub warnings: Vec<String>,
}

/// Size and file count of a folder, walked the way [`backup_folder`] walks it (for progress and free space).
pub fn measure(root: &Path, excludes: &Excludes) -> Result<(u64, u64)> {
    let mut bytes = 0;
    let mut files = 0;
    walk(root, excludes, &mut |item| {
        if let Item::File { meta, .. } = item {
            bytes += meta.len();
            files += 1;
        }
        Ok(())
    })?;
    Ok((bytes, files))
}

/// One thing found by the walk.
enum Item<'a> {
    Dir {
        rel: &'a str,
        meta: &'a Metadata,
    },
    File {
        rel: &'a str,
        path: &'a Path,
        meta: &'a Metadata,
    },
    Link {
        rel: &'a str,
        path: &'a Path,
        meta: &'a Metadata,
    },
    Skipped {
        rel: &'a str,
        why: String,
    },
}

/// Walks `root` depth first in name order without following links, calling `visit` for each item.
fn walk(root: &Path, excludes: &Excludes, visit: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Error::FilesFolderMissing(root.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::FilesFolderMissing(root.to_path_buf()));
        }
        Err(e) => return Err(Error::io("cannot read the files folder", root, e)),
    }
    // A stack of folders still to list, each with its relative path ("" for the root).
    let mut stack: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let mut children: Vec<(String, PathBuf)> = Vec::new();
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            // Deleted between being listed and being read: nothing to keep.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !rel_dir.is_empty() => {
                visit(Item::Skipped {
                    rel: &rel_dir,
                    why: "it was deleted during the backup".into(),
                })?;
                continue;
            }
            Err(e) => return Err(unreadable(&dir, e)),
        };
        for entry in listing {
            let entry = entry.map_err(|e| unreadable(&dir, e))?;
            let path = entry.path();
            match entry.file_name().into_string() {
                Ok(name) => children.push((name, path)),
                Err(raw) => visit(Item::Skipped {
                    rel: &join_rel(&rel_dir, &raw.to_string_lossy()),
                    why: "its name is not valid UTF-8".into(),
                })?,
            }
        }
        children.sort();
        let mut subdirs = Vec::new();
        for (name, path) in children {
            let rel = join_rel(&rel_dir, &name);
            if excludes.excluded(&rel) {
                continue;
            }
            if let Some(reason) = crate::archive::unsafe_name_reason(&rel) {
                visit(Item::Skipped {
                    rel: &rel,
                    why: format!("its name cannot be stored portably ({reason})"),
                })?;
                continue;
            }
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                // Deleted between listing and looking: nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(unreadable(&path, e)),
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                visit(Item::Dir {
                    rel: &rel,
                    meta: &meta,
                })?;
                subdirs.push((path, rel));
            } else if kind.is_file() {
                visit(Item::File {
                    rel: &rel,
                    path: &path,
                    meta: &meta,
                })?;
            } else if kind.is_symlink() {
                visit(Item::Link {
                    rel: &rel,
                    path: &path,
                    meta: &meta,
                })?;
            } else {
                visit(Item::Skipped {
                    rel: &rel,
                    why: "it is a socket, pipe or device, not a file".into(),
                })?;
            }
        }
        // Popped in reverse, so folders are visited in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::JobFailed(format!(
        "cannot read {} in the files folder: {e}; fix its permissions or add it to the profile's exclude patterns",
        path.display()
    ))
}

fn meta_of(meta: &Metadata) -> EntryMeta {
    EntryMeta {
        mtime: meta.modified().ok().map(DateTime::<Utc>::from),
        mode: mode_of(meta),
    }
}

#[cfg(unix)]
fn mode_of(meta: &Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &Metadata) -> Option<u32> {
    None
}

/// Writes the folder `root` into the archive under `files/`: folders, files (streamed, checksummed) and links.
/// Memory stays flat whatever the sizes: one buffer per file, and the manifest's one line per entry.
/// `total` is the folder's size as [`measure`] found it, for progress.
pub fn backup_folder(
    root: &Path,
    excludes: &Excludes,
    total: u64,
    writer: &mut ArchiveWriter,
    job: &JobControl,
) -> Result<FilesSummary> {
    job.stage("archiving files", Some(total));
    let mut summary = FilesSummary::default();
    // The folder itself, so its mode (a private 0700 folder stays private) and time come back too.
    let root_meta = std::fs::metadata(root).ctx("cannot read the files folder", root)?;
    writer.add_dir(FILES_PREFIX, meta_of(&root_meta))?;
    walk(root, excludes, &mut |item| {
        job.check()?;
        match item {
            Item::Dir { rel, meta } => {
                writer.add_dir(&format!("{FILES_PREFIX}{rel}/"), meta_of(meta))?;
                summary.dirs += 1;
            }
            Item::File { rel, path, meta } => {
                job.set_offset(summary.bytes);
                if let Some(bytes) = archive_file(rel, path, meta, writer, job, &mut summary)? {
                    summary.files += 1;
                    summary.bytes += bytes;
                }
            }
            Item::Link { rel, path, meta } => {
                let target = std::fs::read_link(path).map_err(|e| unreadable(path, e))?;
                match target.to_str() {
                    Some(target) => {
                        writer.add_symlink(
                            &format!("{FILES_PREFIX}{rel}"),
                            target,
                            meta_of(meta),
                        )?;
                        summary.links += 1;
                    }
                    None => skip(
                        &mut summary,
                        writer,
                        rel,
                        "its link target is not valid UTF-8",
                    ),
                }
            }
            Item::Skipped { rel, why } => skip(&mut summary, writer, rel, &why),
        }
        Ok(())
    })?;
    Ok(summary)
}

fn skip(summary: &mut FilesSummary, writer: &mut ArchiveWriter, rel: &str, why: &str) {
    let warning = format!("skipped files/{rel}: {why}");
    writer.warn(warning.clone());
    summary.warnings.push(warning);
}

/// Streams one file into the archive. If its size or modification time changed while it was read, it is read
/// once more; if it changes again, the second copy is kept with a warning. `None`: it vanished meanwhile.
fn archive_file(
    rel: &str,
    path: &Path,
    listed: &Metadata,
    writer: &mut ArchiveWriter,
    job: &JobControl,
    summary: &mut FilesSummary,
) -> Result<Option<u64>> {
    let name = format!("{FILES_PREFIX}{rel}");
    let compress = !already_compressed(rel);
    let mut before = listed.clone();
    for attempt in 0..2 {
        let mut file = match open_regular(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skip(summary, writer, rel, "it was deleted during the backup");
                return Ok(None);
            }
            Err(e) => return Err(unreadable(path, e)),
        };
        let copied = writer.add_file(
            &name,
            &mut file,
            before.len(),
            compress,
            meta_of(&before),
            job,
            "archiving files",
        )?;
        let after = file.metadata().map_err(|e| unreadable(path, e))?;
        let steady = after.len() == copied.bytes
            && before.len() == copied.bytes
            && after.modified().ok() == before.modified().ok();
        if steady {
            return Ok(Some(copied.bytes));
        }
        if attempt == 0 {
            writer.abort_last()?;
            before = after;
            continue;
        }
        let warning = format!(
            "files/{rel} changed while it was read, twice; the archive holds the {} bytes read the second time",
            copied.bytes
        );
        writer.warn(warning.clone());
        summary.warnings.push(warning);
        return Ok(Some(copied.bytes));
    }
    Ok(None)
}

/// Opens a file for reading, refusing anything that is not (or no longer) a regular file.
fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = open_no_follow(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it was replaced by something that is not a file during the backup",
        ));
    }
    Ok(file)
}

#[cfg(unix)]
pub(crate) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn open_no_follow(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

// ---------------------------------------------------------------------------------------------------------------
// Restore

/// The files-folder entries of a manifest, in archive order.
pub fn entries_of(entries: &[ManifestEntry]) -> Vec<ManifestEntry> {
    entries
        .iter()
        .filter(|e| e.path.starts_with(FILES_PREFIX) && e.path.len() > FILES_PREFIX.len())
        .cloned()
        .collect()
}

/// The record of the files folder itself (`files/`), with its mode and time, if the archive has one.
pub fn root_of(entries: &[ManifestEntry]) -> Option<&ManifestEntry> {
    entries
        .iter()
        .find(|e| e.path == FILES_PREFIX && e.entry_type == EntryType::Dir)
}

/// The entries selected by `--only` paths: each names an entry or a folder (with or without the `files/`
/// prefix); a folder selects everything under it. A path that selects nothing is a usage error naming it.
pub fn select(entries: &[ManifestEntry], only: &[String]) -> Result<Vec<ManifestEntry>> {
    let mut wanted: Vec<String> = Vec::new();
    for raw in only {
        let path = raw.trim().trim_start_matches("./").trim_end_matches('/');
        let candidates = [path.to_string(), format!("{FILES_PREFIX}{path}")];
        let hit = candidates.iter().find(|c| {
            entries.iter().any(|e| {
                e.path.trim_end_matches('/') == c.as_str() || e.path.starts_with(&format!("{c}/"))
            })
        });
        match hit {
            Some(c) => wanted.push(c.clone()),
            None => {
                return Err(Error::Usage(format!(
                    "the backup holds no entry '{raw}'; see `backstop show ID` for what it holds"
                )));
            }
        }
    }
    Ok(entries
        .iter()
        .filter(|e| e.path != FILES_PREFIX)
        .filter(|e| {
            let p = e.path.trim_end_matches('/');
            wanted
                .iter()
                .any(|w| p == w || p.starts_with(&format!("{w}/")))
        })
        .cloned()
        .collect())
}

/// Where an entry goes below a destination folder: its path under `files/` (or, for any other entry, its name).
fn relative_target(entry: &ManifestEntry) -> &str {
    let path = entry.path.trim_end_matches('/');
    match path.strip_prefix(FILES_PREFIX) {
        Some(rel) => rel,
        None => path.rsplit('/').next().unwrap_or(path),
    }
}

/// Checks entries before anything is written: safe names, no path through a link or a file, no two entries for
/// one path (case-insensitively too when the destination folds case).
pub fn check_entries(entries: &[ManifestEntry], case_insensitive: bool) -> Result<()> {
    let mut types: HashMap<&str, EntryType> = HashMap::new();
    let mut folded: HashMap<String, &str> = HashMap::new();
    for entry in entries {
        let rel = relative_target(entry);
        if let Some(reason) = crate::archive::unsafe_name_reason(rel) {
            return Err(Error::JobFailed(format!(
                "the archive cannot be restored safely: entry '{}': {reason}",
                entry.path
            )));
        }
        if types.insert(rel, entry.entry_type).is_some() {
            return Err(Error::JobFailed(format!(
                "entry '{}' appears twice",
                entry.path
            )));
        }
        if case_insensitive && let Some(other) = folded.insert(rel.to_lowercase(), rel) {
            return Err(Error::JobFailed(format!(
                "entries '{other}' and '{rel}' differ only in case, and the destination's file system does not tell them apart; restore one of them with --only into another folder"
            )));
        }
    }
    for entry in entries {
        let rel = relative_target(entry);
        let mut ancestor = rel;
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            match types.get(parent) {
                Some(EntryType::Symlink) => {
                    return Err(Error::JobFailed(format!(
                        "entry '{}' lies beneath the link '{parent}'; writing it would go through the link, so the archive is refused",
                        entry.path
                    )));
                }
                Some(EntryType::File) => {
                    return Err(Error::JobFailed(format!(
                        "entry '{}' lies beneath '{parent}', which is a file",
                        entry.path
                    )));
                }
                _ => {}
            }
            ancestor = parent;
        }
    }
    Ok(())
}

/// Whether the file system holding `dir` (which must exist and be writable) folds case.
pub fn folds_case(dir: &Path) -> Result<bool> {
    let probe = dir.join(format!(".backstop-case-probe-{}", std::process::id()));
    let _ = std::fs::remove_file(&probe);
    fsutil::create_private(&probe)?;
    let upper = dir.join(format!(".BACKSTOP-CASE-PROBE-{}", std::process::id()));
    let folds = std::fs::symlink_metadata(&upper).is_ok();
    let _ = std::fs::remove_file(&probe);
    Ok(folds)
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Extracted {
    /// Regular files written.
    pub files: u64,
    /// Folders created.
    pub dirs: u64,
    /// Links created.
    pub links: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Extracts `entries` below `dest` (a fresh, empty folder): folders and files first, every file checked against
/// its SHA-256 as it is written, then links, then folder modes and times (deepest first, so a read-only folder is
/// filled before it is closed). The caller has run [`check_entries`].
pub fn extract(
    reader: &mut ArchiveReader,
    entries: &[ManifestEntry],
    dest: &Path,
    top_dir_modes: bool,
    job: &JobControl,
) -> Result<Extracted> {
    let total = entries
        .iter()
        .filter(|e| e.entry_type == EntryType::File)
        .fold(0u64, |sum, e| sum.saturating_add(e.size));
    job.stage("restoring files", Some(total));
    let mut done = Extracted::default();
    let mut dirs: BTreeMap<PathBuf, &ManifestEntry> = BTreeMap::new();
    let mut known = RealDirs::new(dest);
    for entry in entries {
        job.check()?;
        let rel = relative_target(entry);
        let target = dest.join(rel);
        match entry.entry_type {
            EntryType::Dir => {
                known.ensure(rel)?;
                if top_dir_modes || rel.contains('/') {
                    dirs.insert(target, entry);
                }
                done.dirs += 1;
            }
            EntryType::File => {
                known.ensure_parent(rel)?;
                let mut out = create_new_private(&target)?;
                job.set_offset(done.bytes);
                let bytes =
                    reader.extract_entry(&entry.path, &mut out, &target, job, "restoring files")?;
                apply_file_meta(&out, &target, entry)?;
                drop(out);
                done.files += 1;
                done.bytes = done.bytes.saturating_add(bytes);
            }
            EntryType::Symlink => {}
        }
    }
    // Links last, each under folders checked to be real folders: nothing is ever written through a link.
    for entry in entries
        .iter()
        .filter(|e| e.entry_type == EntryType::Symlink)
    {
        let rel = relative_target(entry);
        let target = dest.join(rel);
        known.ensure_parent(rel)?;
        // The link text comes from the manifest, checked against the entry's checksum.
        reader.check_entry(&entry.path, job, "restoring files")?;
        let link = entry.target.clone().unwrap_or_default();
        make_symlink(&link, &target)?;
        done.links += 1;
    }
    for (path, entry) in dirs.iter().rev() {
        apply_meta(path, entry)?;
    }
    sync_tree(dest)?;
    Ok(done)
}

/// Folders below a destination that were checked (or made) to be real folders, never links or files.
struct RealDirs<'a> {
    dest: &'a Path,
    checked: std::collections::HashSet<String>,
}

impl<'a> RealDirs<'a> {
    fn new(dest: &'a Path) -> Self {
        RealDirs {
            dest,
            checked: std::collections::HashSet::new(),
        }
    }

    fn ensure_parent(&mut self, rel: &str) -> Result<()> {
        match rel.rsplit_once('/') {
            Some((parent, _)) => self.ensure(parent),
            None => Ok(()),
        }
    }

    /// Makes each folder of `rel` in turn, refusing any that exists as something other than a real folder
    /// (a link, on a file system that folds case or normalises names, could otherwise lead outside).
    fn ensure(&mut self, rel: &str) -> Result<()> {
        let mut path = self.dest.to_path_buf();
        let mut so_far = String::new();
        for part in rel.split('/') {
            path.push(part);
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            if self.checked.contains(&so_far) {
                continue;
            }
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(Error::JobFailed(format!(
                        "the archive cannot be restored safely: {} already exists as a link or a file where a folder must go; nothing was put in place",
                        path.display()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // 0700 until its own mode is applied, after everything below it was written.
                    #[cfg_attr(not(unix), allow(unused_mut))]
                    let mut builder = std::fs::DirBuilder::new();
                    #[cfg(unix)]
                    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                    builder.create(&path).ctx("cannot create folder", &path)?;
                }
                Err(e) => return Err(Error::io("cannot read", &path, e)),
            }
            self.checked.insert(so_far.clone());
        }
        Ok(())
    }
}

/// Creates a new file readable by its owner only while it is written (its own mode is set afterwards); an
/// existing name, even a dangling link, is an error.
fn create_new_private(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).ctx("cannot create file", path)
}

/// Makes everything written below `dest` durable before it is swapped in: one `syncfs` on Linux (thousands of
/// per-file fsyncs would dominate a restore of many small files), each file and folder elsewhere.
#[cfg(target_os = "linux")]
fn sync_tree(dest: &Path) -> Result<()> {
    let dir = File::open(dest).ctx("cannot open", dest)?;
    rustix::fs::syncfs(&dir).map_err(|e| Error::io("cannot sync", dest, e.into()))
}

#[cfg(not(target_os = "linux"))]
fn sync_tree(dest: &Path) -> Result<()> {
    let mut stack = vec![dest.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ctx("cannot read", &dir)?.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => File::open(&path)
                    .and_then(|f| f.sync_all())
                    .ctx("cannot sync", &path)?,
                _ => {}
            }
        }
        fsutil::sync_dir(&dir)?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_symlink(link: &str, at: &Path) -> Result<()> {
    std::os::unix::fs::symlink(link, at).ctx("cannot create link", at)
}

#[cfg(not(unix))]
fn make_symlink(_link: &str, at: &Path) -> Result<()> {
    Err(Error::JobFailed(format!(
        "{} is a symbolic link, which this platform's restore does not create",
        at.display()
    )))
}

/// Puts back an open file's (or folder's) modification time, then its mode.
fn apply_file_meta(file: &File, path: &Path, entry: &ManifestEntry) -> Result<()> {
    if let Some(mtime) = entry.mtime {
        file.set_modified(mtime.into())
            .ctx("cannot set the modification time of", path)?;
    }
    #[cfg(unix)]
    if let Some(mode) = entry.mode {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(restored_mode(mode)))
            .ctx("cannot set the mode of", path)?;
    }
    Ok(())
}

/// The mode a restore gives: the recorded permissions and sticky bit, never setuid or setgid (an archive can come
/// from anywhere, and a restore often runs as root).
#[cfg(unix)]
fn restored_mode(mode: u32) -> u32 {
    mode & 0o1777
}

/// Puts back a folder's modification time, then its mode (a mode without read permission would stop the first).
fn apply_meta(path: &Path, entry: &ManifestEntry) -> Result<()> {
    apply_file_meta(&File::open(path).ctx("cannot open", path)?, path, entry)
}

/// A files folder restored into a sibling folder, verified, waiting to be swapped in.
#[derive(Debug)]
pub struct StagedFolder {
    /// The live folder it replaces.
    pub live: PathBuf,
    /// The fresh folder beside it.
    pub staging: PathBuf,
    /// Where the live folder goes when swapped out.
    pub pre_restore: PathBuf,
    /// What was extracted.
    pub extracted: Extracted,
}

/// The staging folder's name prefix beside the live folder: `.<name>.backstop-restore-<stamp>`.
pub fn staging_prefix(live: &Path) -> String {
    format!(
        ".{}.backstop-restore-",
        live.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Checks that `live` can be swapped by rename: its parent exists and it is not a mount point.
pub fn preflight_swap(live: &Path) -> Result<()> {
    let parent = fsutil::parent_of(live);
    if !parent.is_dir() {
        return Err(Error::JobFailed(format!(
            "the files folder's parent {} does not exist; create it first (nothing was changed)",
            parent.display()
        )));
    }
    #[cfg(unix)]
    if let (Ok(here), Ok(above)) = (std::fs::metadata(live), std::fs::metadata(parent)) {
        use std::os::unix::fs::MetadataExt;
        if here.dev() != above.dev() {
            return Err(Error::JobFailed(format!(
                "the files folder {} is a mount point, so it cannot be swapped by rename; restore into another folder with --only files --to DIR and copy from there (nothing was changed)",
                live.display()
            )));
        }
    }
    Ok(())
}

/// Extracts `entries` into a new folder beside `live` and verifies them; nothing live is touched.
pub fn stage_folder(
    reader: &mut ArchiveReader,
    entries: &[ManifestEntry],
    root: Option<&ManifestEntry>,
    live: &Path,
    job: &JobControl,
) -> Result<StagedFolder> {
    preflight_swap(live)?;
    let parent = fsutil::parent_of(live);
    let stamp = Utc::now().format("%Y%m%d_%H%M%S").to_string();
    let staging = parent.join(format!("{}{stamp}", staging_prefix(live)));
    if std::fs::symlink_metadata(&staging).is_ok() {
        remove_tree(&staging);
    }
    // Private while it fills; the folder's own mode is put back at the end.
    fsutil::create_private_dir(&staging)?;
    let guard = DirGuard(Some(staging.clone()));
    check_entries(entries, folds_case(&staging)?)?;
    let needed = entries
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(e.size));
    if let Some(available) = fsutil::available_space(parent)
        && available < needed + (16 << 20)
    {
        return Err(Error::NoSpace {
            path: parent.to_path_buf(),
            needed,
            available,
        });
    }
    let extracted = extract(reader, entries, &staging, true, job)?;
    match root {
        Some(root) => apply_meta(&staging, root)?,
        // An archive without the folder's own record: keep the live folder's mode.
        None => {
            if let Ok(meta) = std::fs::metadata(live) {
                std::fs::set_permissions(&staging, meta.permissions())
                    .ctx("cannot set the mode of", &staging)?;
            }
        }
    }
    // A second restore in the same second must not collide with the folder the first one kept.
    let name = live.file_name().unwrap_or_default().to_string_lossy();
    let pre_restore = (1..)
        .map(|n| match n {
            1 => parent.join(format!("{name}.pre_restore_{stamp}")),
            n => parent.join(format!("{name}.pre_restore_{stamp}-{n}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| parent.join(format!("{name}.pre_restore_{stamp}-x")));
    guard.keep();
    Ok(StagedFolder {
        live: live.to_path_buf(),
        staging,
        pre_restore,
        extracted,
    })
}

impl StagedFolder {
    /// Moves the live folder aside (kept as `<folder>.pre_restore_<stamp>`) and the restored one into its place.
    /// Returns where the old folder went, if there was one. On failure the live folder is put back.
    pub fn swap(&self) -> Result<Option<PathBuf>> {
        crate::fsutil::failpoint("files-swap")?;
        let parent = fsutil::parent_of(&self.live);
        let had_live = std::fs::symlink_metadata(&self.live).is_ok();
        if had_live {
            fsutil::rename_no_replace(&self.live, &self.pre_restore)?;
        }
        if let Err(e) = fsutil::rename_no_replace(&self.staging, &self.live) {
            if had_live && let Err(back) = std::fs::rename(&self.pre_restore, &self.live) {
                return Err(Error::JobFailed(format!(
                    "the restored folder could not be moved into place ({e}), and the live folder could not be moved back ({back}): it is now {}; move it back to {} by hand",
                    self.pre_restore.display(),
                    self.live.display()
                )));
            }
            return Err(e);
        }
        // Both renames happened; a failed directory sync does not undo them.
        let _ = fsutil::sync_dir(parent);
        Ok(had_live.then(|| self.pre_restore.clone()))
    }

    /// Throws the staging folder away (validate-only, or a failure elsewhere).
    pub fn discard(self) {
        remove_tree(&self.staging);
    }
}

/// Removes a folder tree even where restored modes made parts of it read-only.
pub fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    make_folders_writable(path);
    let _ = std::fs::remove_dir_all(path);
}

/// Gives every folder of a tree mode 0700, so that what is inside can be removed.
#[cfg(unix)]
fn make_folders_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(listing) = std::fs::read_dir(&dir) {
            for entry in listing.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
}

/// Elsewhere a restore sets no modes, so nothing it made blocks a removal.
#[cfg(not(unix))]
fn make_folders_writable(_path: &Path) {}

/// Removes a folder on drop unless kept.
struct DirGuard(Option<PathBuf>);

impl DirGuard {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            remove_tree(&path);
        }
    }
}

/// Restores chosen entries into `dest` (created if needed) without touching anything that exists there: all are
/// extracted into a hidden folder inside `dest` and verified, then moved into place; a name that already exists
/// in `dest` stops the restore before anything is written.
pub fn restore_selected(
    reader: &mut ArchiveReader,
    entries: &[ManifestEntry],
    dest: &Path,
    job: &JobControl,
) -> Result<Extracted> {
    if !dest.exists() {
        fsutil::create_private_dir(dest)?;
    }
    if !std::fs::metadata(dest).ctx("cannot read", dest)?.is_dir() {
        return Err(Error::Usage(format!("{} is not a folder", dest.display())));
    }
    // The top-level names the selection creates in dest.
    let mut tops: Vec<&str> = entries
        .iter()
        .map(|e| relative_target(e).split('/').next().unwrap_or_default())
        .collect();
    tops.sort_unstable();
    tops.dedup();
    if let Some(existing) = tops
        .iter()
        .find(|t| std::fs::symlink_metadata(dest.join(t)).is_ok())
    {
        return Err(Error::Usage(format!(
            "{} already exists; restore into an empty folder (nothing was written)",
            dest.join(existing).display()
        )));
    }
    let staging = dest.join(format!(".backstop-restore-{}", std::process::id()));
    if std::fs::symlink_metadata(&staging).is_ok() {
        remove_tree(&staging);
    }
    fsutil::create_private_dir(&staging)?;
    let guard = DirGuard(Some(staging.clone()));
    check_entries(entries, folds_case(&staging)?)?;
    // Top-level folders get their modes after the move: a read-only folder cannot be moved to another parent.
    let extracted = extract(reader, entries, &staging, false, job)?;
    for top in &tops {
        fsutil::rename_no_replace(&staging.join(top), &dest.join(top))?;
    }
    for entry in entries
        .iter()
        .filter(|e| e.entry_type == EntryType::Dir && !relative_target(e).contains('/'))
    {
        apply_meta(&dest.join(relative_target(entry)), entry)?;
    }
    fsutil::sync_dir(dest)?;
    drop(guard);
    Ok(extracted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, entry_type: EntryType) -> ManifestEntry {
        ManifestEntry {
            entry_type,
            ..ManifestEntry::plain(path, 0, crate::archive::EMPTY_SHA256)
        }
    }

    #[test]
    fn excludes_match_names_anywhere_and_paths_from_the_top() {
        let ex = Excludes::new(&["cache/**".into(), "*.tmp".into(), "/build/".into()]).unwrap();
        let cases = [
            ("cache/a.png", true),
            ("cache/thumbs/a.png", true),
            ("cache", false),
            ("photos/cache/a.png", false),
            ("x.tmp", true),
            ("deep/er/x.tmp", true),
            ("x.tmpl", false),
            ("build", true),
            ("src/build", false),
        ];
        for (path, excluded) in cases {
            assert_eq!(ex.excluded(path), excluded, "{path}");
        }
        assert!(Excludes::new(&["[oops".into()]).is_err());
    }

    #[test]
    fn compressed_formats_are_known_by_extension() {
        assert!(already_compressed("a/b/photo.JPG"));
        assert!(already_compressed("backup.tar.gz"));
        assert!(!already_compressed("notes.txt"));
        assert!(!already_compressed("Makefile"));
    }

    #[test]
    fn entries_through_links_or_files_and_case_twins_are_refused() {
        let link = [
            entry("files/link", EntryType::Symlink),
            entry("files/link/evil.txt", EntryType::File),
        ];
        let err = check_entries(&link, false).unwrap_err().to_string();
        assert!(err.contains("beneath the link 'link'"), "{err}");
        let file = [
            entry("files/a", EntryType::File),
            entry("files/a/b", EntryType::File),
        ];
        assert!(
            check_entries(&file, false)
                .unwrap_err()
                .to_string()
                .contains("which is a file")
        );
        let twins = [
            entry("files/Readme.txt", EntryType::File),
            entry("files/README.txt", EntryType::File),
        ];
        assert!(
            check_entries(&twins, false).is_ok(),
            "fine where case matters"
        );
        let err = check_entries(&twins, true).unwrap_err().to_string();
        assert!(err.contains("differ only in case"), "{err}");
        let fine = [
            entry("files/d/", EntryType::Dir),
            entry("files/d/x", EntryType::File),
            entry("files/l", EntryType::Symlink),
        ];
        assert!(check_entries(&fine, false).is_ok());
    }

    #[test]
    fn select_takes_entries_and_folders_with_or_without_the_prefix() {
        let all = [
            entry("files/", EntryType::Dir),
            entry("database/shop.sqlite3", EntryType::File),
            entry("files/photos/", EntryType::Dir),
            entry("files/photos/a.jpg", EntryType::File),
            entry("files/photos2/b.jpg", EntryType::File),
            entry("files/run.sh", EntryType::File),
        ];
        let paths = |only: &[&str]| -> Vec<String> {
            let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
            select(&all, &only)
                .unwrap()
                .into_iter()
                .map(|e| e.path)
                .collect()
        };
        assert_eq!(paths(&["photos"]), ["files/photos/", "files/photos/a.jpg"]);
        assert_eq!(paths(&["files/run.sh"]), ["files/run.sh"]);
        assert_eq!(paths(&["database/shop.sqlite3"]), ["database/shop.sqlite3"]);
        assert_eq!(paths(&["files"]).len(), 4);
        assert!(select(&all, &["nope".into()]).is_err());
    }
}
