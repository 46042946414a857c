//! Importing several paths at once, and the duplicate rule.
//!
//! A path that is a folder (and not a `pg_dump -Fd` dump) stands for the files in it, in name order, not
//! recursing; django-dbbackup's `<backup>.metadata` sidecars beside the backups they describe are skipped.
//! Each file is imported on its own: one refusal does not stop the others, and every outcome is reported —
//! imported, duplicate, refused (with its reason) or skipped.
//!
//! Duplicates: the SHA-256 that identifies an import is that of the file exactly as given (a gzip's compressed
//! bytes, a Backstop archive's whole file; for a `pg_dump -Fd` folder, the SHA-256 of its file names each
//! followed by the SHA-256 of the file). It is kept with the new backup (`source_sha256`). A file whose SHA-256
//! is a completed backup's archive SHA-256 (an exported archive imported back) or the source SHA-256 of an
//! earlier import into the same profile is a duplicate: reported with that backup's id, not added again.

use crate::config::Profile;
use crate::error::{Error, Result};
use crate::jobs::{Context, ImportReport};
use crate::progress::{JobControl, sha256_file};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A file whose content is already catalogued for the profile.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateReport {
    /// The file given.
    pub source: PathBuf,
    /// The backup that already holds it.
    pub backup_id: i64,
    /// That backup's archive.
    pub path: PathBuf,
    /// The SHA-256 they share.
    pub sha256: String,
}

impl DuplicateReport {
    /// Why nothing was added, without the file's name.
    pub fn reason(&self) -> String {
        format!(
            "already catalogued as backup {} (same SHA-256 {}): not imported again",
            self.backup_id, self.sha256
        )
    }

    /// One line for people.
    pub fn message(&self) -> String {
        format!("{} is {}", self.source.display(), self.reason())
    }
}

/// A file that was not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedReport {
    /// The file given.
    pub source: PathBuf,
    /// Why.
    pub reason: String,
    /// The whole message for people (`FILE was refused: REASON`).
    #[serde(skip)]
    pub message: String,
}

/// Everything one `import` of several paths came to (the `import --json` object).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportBatch {
    /// New `uploaded` backups.
    pub imported: Vec<ImportReport>,
    /// Files already catalogued.
    pub duplicates: Vec<DuplicateReport>,
    /// Files refused, with their reasons.
    pub refused: Vec<RefusedReport>,
    /// Files passed over in a folder (django-dbbackup `.metadata` sidecars), with the reason.
    pub skipped: Vec<RefusedReport>,
}

/// The SHA-256 that identifies what is imported from `path` (see the module's note).
pub fn source_sha256(path: &Path, job: &JobControl) -> Result<String> {
    if !path.is_dir() {
        return Ok(sha256_file(path, job)?.sha256);
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| Error::io("cannot read", path, e))? {
        let entry = entry.map_err(|e| Error::io("cannot read", path, e))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name());
        }
    }
    names.sort();
    let mut listing = String::new();
    for name in names {
        let sha = sha256_file(&path.join(&name), job)?.sha256;
        listing.push_str(&format!("{}\0{sha}\n", name.to_string_lossy()));
    }
    Ok(crate::progress::sha256_hex(listing.as_bytes()))
}

/// The duplicate report for `file` when its SHA-256 is already catalogued for the profile.
pub fn duplicate_of(
    ctx: &Context,
    profile: &Profile,
    file: &Path,
    sha256: &str,
) -> Result<Option<DuplicateReport>> {
    Ok(ctx
        .catalog
        .find_catalogued(&profile.name, sha256)?
        .map(|row| DuplicateReport {
            source: file.to_path_buf(),
            backup_id: row.id,
            path: row.path,
            sha256: sha256.to_string(),
        }))
}

/// Whether `file` is a django-dbbackup sidecar: `<backup>.metadata` beside the backup `<backup>` it describes.
pub fn is_metadata_sidecar(file: &Path) -> bool {
    let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.strip_suffix(".metadata")
        .filter(|backup| !backup.is_empty())
        .is_some_and(|backup| file.with_file_name(backup).is_file())
}

/// Why a django-dbbackup sidecar is passed over (None: `file` is not one).
fn sidecar_skip(file: &Path) -> Option<String> {
    is_metadata_sidecar(file).then(|| {
        "a django-dbbackup .metadata sidecar of the backup beside it, not a backup".to_string()
    })
}

/// The files a path given to `import` stands for: itself, or (a folder that is not a `pg_dump -Fd` dump) what is
/// in it in name order, each with why it is skipped, if it is (sidecars, sub-folders, links).
pub fn expand(path: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    if !path.is_dir() {
        // A sidecar named on the command line (`import backups/*`) is passed over just the same.
        return Ok(vec![(path.to_path_buf(), sidecar_skip(path))]);
    }
    if super::postgres::is_pg_folder(path) {
        return Ok(vec![(path.to_path_buf(), None)]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| Error::io("cannot read", path, e))? {
        let entry = entry.map_err(|e| Error::io("cannot read", path, e))?;
        let file = entry.path();
        let file_type = entry.file_type().ok();
        // Sub-folders are not entered, except a pg_dump -Fd dump, which is one backup.
        let skip = if file_type.is_some_and(|t| t.is_file()) {
            sidecar_skip(&file)
        } else if super::postgres::is_pg_folder(&file) {
            None
        } else if file_type.is_some_and(|t| t.is_dir()) {
            Some(
                "a folder inside the folder (folders are not entered: give it as a path)"
                    .to_string(),
            )
        } else {
            Some("not a regular file".to_string())
        };
        files.push((file, skip));
    }
    files.sort();
    Ok(files)
}

/// Imports every path through `import_one` (which imports and logs one file into the profile whose lock the
/// caller holds); a refusal or failure is recorded and the next file goes on. Cancel and usage errors stop the
/// batch.
pub fn run(
    paths: &[PathBuf],
    import_one: &mut dyn FnMut(&Path) -> Result<super::Imported>,
) -> Result<ImportBatch> {
    let mut batch = ImportBatch::default();
    for path in paths {
        let files = match expand(path) {
            Ok(files) if files.is_empty() => {
                let empty = Error::refused(path, "it is a folder with no files in it to import");
                batch.refused.push(RefusedReport::of(path, &empty));
                continue;
            }
            Ok(files) => files,
            Err(e) => {
                batch.refused.push(RefusedReport::of(path, &e));
                continue;
            }
        };
        for (file, skip) in files {
            if let Some(reason) = skip {
                batch.skipped.push(RefusedReport {
                    message: format!("{} was skipped: {reason}", file.display()),
                    source: file,
                    reason,
                });
                continue;
            }
            match import_one(&file) {
                Ok(super::Imported::New(report)) => batch.imported.push(*report),
                Ok(super::Imported::Duplicate(duplicate)) => batch.duplicates.push(duplicate),
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) if e.exit_code() == 2 => return Err(e),
                Err(e) => batch.refused.push(RefusedReport::of(&file, &e)),
            }
        }
    }
    Ok(batch)
}

impl RefusedReport {
    /// The report of `source`'s refusal (the reason without the "FILE was refused:" its message starts with).
    fn of(source: &Path, e: &Error) -> RefusedReport {
        RefusedReport {
            source: source.to_path_buf(),
            reason: match e {
                Error::Refused { reason, .. } => reason.clone(),
                other => other.to_string(),
            },
            message: e.to_string(),
        }
    }
}
