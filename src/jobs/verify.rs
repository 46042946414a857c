//! Verify, show and diff: archives read back and compared.

use super::context::Context;
use super::restore::BackupRef;
use crate::archive::{self, ArchiveReader, Manifest, VerifyReport};
use crate::catalog::BackupRow;
use crate::error::Result;
use crate::model::Status;
use crate::progress::JobControl;
use serde::Serialize;
use std::io::Read;
use std::path::Path;

/// One verified backup.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutcome {
    /// Catalog id, when the archive is in the catalog.
    pub id: Option<i64>,
    /// What was found.
    #[serde(flatten)]
    pub report: VerifyReport,
}

/// Which archives to verify.
#[derive(Debug, Clone)]
pub enum VerifyTarget {
    /// One backup or archive file.
    One(BackupRef),
    /// Every completed or corrupted backup (of one profile, or all).
    All(Option<String>),
}

/// Re-reads archives and checks every checksum; damage marks the backup `corrupted` (and a good re-check of a
/// corrupted backup marks it `completed` again).
pub fn verify(
    ctx: &Context,
    target: &VerifyTarget,
    job: &JobControl,
) -> Result<Vec<VerifyOutcome>> {
    let rows: Vec<Option<BackupRow>> = match target {
        VerifyTarget::One(BackupRef::Id(id)) => vec![Some(ctx.catalog.get(*id)?)],
        VerifyTarget::One(BackupRef::Path(path)) => {
            if let Some(row) = ctx.catalog.find_by_path(path)? {
                vec![Some(row)]
            } else {
                let report = archive::verify(path, read_sidecar(path).as_deref(), job)?;
                return Ok(vec![VerifyOutcome { id: None, report }]);
            }
        }
        VerifyTarget::All(profile) => {
            if let Some(name) = profile {
                ctx.config.profile(name)?;
            }
            ctx.catalog
                .list(profile.as_deref(), false)?
                .into_iter()
                .filter(|r| matches!(r.status, Status::Completed | Status::Corrupted))
                .map(Some)
                .collect()
        }
    };
    let mut outcomes = Vec::new();
    for row in rows.into_iter().flatten() {
        let report = if row.path.is_file() {
            archive::verify(&row.path, row.sha256.as_deref(), job)?
        } else {
            VerifyReport {
                path: row.path.clone(),
                entries_checked: 0,
                bytes_checked: 0,
                archive_sha256: None,
                problems: vec!["the archive file is missing".to_string()],
            }
        };
        if report.ok() && row.status == Status::Corrupted {
            ctx.catalog.set_status(row.id, Status::Completed, None)?;
        } else if !report.ok() && row.status == Status::Completed {
            ctx.catalog
                .set_status(row.id, Status::Corrupted, Some(&report.problems.join("; ")))?;
        }
        let outcome = if report.ok() { "completed" } else { "failed" };
        ctx.log(
            "verify",
            Some(&row.profile),
            outcome,
            &format!(
                "backup {}: {}",
                row.id,
                if report.ok() {
                    "ok".to_string()
                } else {
                    report.problems.join("; ")
                }
            ),
        );
        outcomes.push(VerifyOutcome {
            id: Some(row.id),
            report,
        });
    }
    Ok(outcomes)
}

/// The SHA-256 a `.sha256` sidecar records: only 64 lowercase hex digits count (the file is not trusted, and only
/// its first line is read).
pub(super) fn read_sidecar(archive: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(archive::sidecar_path(archive))
        .and_then(|file| file.take(4096).read_to_end(&mut head))
        .ok()?;
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace()
        .next()
        .filter(|sha| archive::is_sha256_hex(sha))
        .map(str::to_string)
}

/// Reads an archive's manifest (after the same structural checks as a restore), by id or path.
pub fn show(ctx: &Context, which: &BackupRef) -> Result<Manifest> {
    let path = match which {
        BackupRef::Id(id) => ctx.catalog.get(*id)?.path,
        BackupRef::Path(path) => path.clone(),
    };
    Ok(ArchiveReader::open(&path)?.manifest)
}

/// How two backups differ (files added, removed and changed; database size; row counts), from their manifests.
pub fn diff(ctx: &Context, before: &BackupRef, after: &BackupRef) -> Result<archive::ManifestDiff> {
    Ok(archive::diff_manifests(
        &show(ctx, before)?,
        &show(ctx, after)?,
    ))
}
