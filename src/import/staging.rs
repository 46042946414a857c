//! The new archive an import writes: staged as a `.partial` in the storage folder (deleted unless sealed),
//! finished with its README and a manifest naming the profile and the `uploaded` trigger, verified and renamed.

use super::Source;
use super::dates::micros;
use crate::archive::{self, ArchiveWriter, DatabaseInfo, Manifest};
use crate::catalog::Completion;
use crate::error::Result;
use crate::fsutil::{self, TempGuard};
use crate::model::{Kind, Trigger};
use crate::progress::JobControl;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// An archive written by an import, sealed in place.
pub(super) struct Stored {
    /// Where the sealed archive is.
    pub(super) path: PathBuf,
    /// Its size and SHA-256.
    pub(super) completion: Completion,
    /// Its manifest.
    pub(super) manifest: Manifest,
    /// What the user should know about what was left out.
    pub(super) notes: Vec<String>,
}

/// The new archive being written: a `.partial` in the storage folder (deleted unless sealed). Its final name
/// depends on the kind, known only at the end of a container's single pass.
pub(super) struct Staging {
    partial: TempGuard,
    /// The archive being written.
    pub(super) writer: ArchiveWriter,
    created_at: DateTime<Utc>,
}

impl Staging {
    /// Starts a new archive for `source`, created at `created_at` (kept to the microsecond).
    pub(super) fn new(source: &Source, created_at: DateTime<Utc>) -> Result<Staging> {
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
    pub(super) fn finish(
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
