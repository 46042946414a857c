//! The import jobs (the detection and checks of a file are in the top-level [`crate::import`]).

use super::context::Context;
use crate::catalog::BackupRow;
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::lock::ProfileLock;
use crate::progress::JobControl;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What one imported file became.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file given.
    pub source: PathBuf,
    /// The new backup's catalog row.
    pub backup: BackupRow,
    /// What the file was recognised as, named exactly ("PostgreSQL plain SQL dump", "media folder tar.gz").
    pub detected: String,
    /// What the user should know: what an import left out of the file (pg_dump's `--create` preamble, owners).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The single top folder of a zip or tar that was unwrapped (its content became the files folder or dump).
    pub unwrapped: Option<String>,
    /// The SHA-256 of the file as given (what identifies it as a duplicate if it is imported again).
    pub source_sha256: String,
}

impl ImportReport {
    /// What was found, for people: the format, and the top folder unwrapped if one was.
    pub fn describe(&self) -> String {
        match &self.unwrapped {
            Some(top) => format!(
                "{}, {}",
                self.detected,
                crate::import::detect::unwrapped_note(top)
            ),
            None => self.detected.clone(),
        }
    }
}

/// Imports a file as an `uploaded` backup of a profile: a Backstop archive, or another app's backup recognised
/// by its content (see [`crate::import`]). It is checked fully before it is catalogued; a refused file adds
/// nothing, and so does a file already catalogued (refused here as a duplicate; [`import_batch`] reports it).
pub fn import(
    ctx: &Context,
    file: &Path,
    profile: Option<&str>,
    job: &JobControl,
) -> Result<ImportReport> {
    let profile = ctx.config.select(profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    match import_logged(ctx, &profile, file, job)? {
        crate::import::Imported::New(report) => Ok(*report),
        crate::import::Imported::Duplicate(duplicate) => Err(Error::refused(
            file,
            format!("it is {}", duplicate.reason()),
        )),
    }
}

/// Imports every path (a folder stands for the backup files in it) into a profile under one lock, and reports
/// what each file became: imported, duplicate, refused with its reason, or skipped (see
/// [`crate::import::batch`]).
pub fn import_batch(
    ctx: &Context,
    paths: &[PathBuf],
    profile: Option<&str>,
    job: &JobControl,
) -> Result<crate::import::batch::ImportBatch> {
    let profile = ctx.config.select(profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    crate::import::batch::run(paths, &mut |file| import_logged(ctx, &profile, file, job))
}

/// One file's import, in the job log.
fn import_logged(
    ctx: &Context,
    profile: &Profile,
    file: &Path,
    job: &JobControl,
) -> Result<crate::import::Imported> {
    ctx.logged("import", Some(&profile.name), || {
        let imported = crate::import::import_locked(ctx, profile, file, job)?;
        let message = match &imported {
            crate::import::Imported::New(report) => format!(
                "imported {} ({}) as backup {}",
                file.display(),
                report.describe(),
                report.backup.id
            ),
            crate::import::Imported::Duplicate(duplicate) => duplicate.message(),
        };
        Ok((imported, message))
    })
}
