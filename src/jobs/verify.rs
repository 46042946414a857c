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
        let report = if row.path.is_file() && crate::crypto::is_age_file(&row.path) {
            verify_encrypted(ctx, &row, job)?
        } else if row.path.is_file() {
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
    let (path, row) = match which {
        BackupRef::Id(id) => {
            let row = ctx.catalog.get(*id)?;
            (row.path.clone(), Some(row))
        }
        BackupRef::Path(path) => (path.clone(), None),
    };
    // An archive that is gone here (deleted, or a catalog rebuilt from a destination) is read at its copy.
    if let Some(row) = &row
        && !path.exists()
        && let Some(copy) = row
            .copies
            .iter()
            .find(|c| c.status == crate::catalog::CopyStatus::Copied)
    {
        return super::remote::copy_manifest(ctx, row, &copy.dest, None);
    }
    if crate::crypto::is_age_file(&path) {
        let profile = row
            .as_ref()
            .map(|r| r.profile.clone())
            .or_else(|| ctx.config.select(None).ok().map(|p| p.name.clone()))
            .unwrap_or_default();
        let unlock = super::encryption::unlock_for(
            ctx,
            &profile,
            row.as_ref().and_then(|r| r.encryption.as_deref()),
            None,
            &path.display().to_string(),
        )?;
        let file = std::fs::File::open(&path)
            .map_err(|e| crate::error::Error::io("cannot open archive", &path, e))?;
        return crate::crypto::manifest_of_encrypted(file, &unlock, &path);
    }
    Ok(ArchiveReader::open(&path)?.manifest)
}

/// Verifies an encrypted archive: its file's SHA-256 against the catalog always; its contents too when this
/// machine can open it (the profile's current passphrase), decrypted into a private temporary file.
fn verify_encrypted(ctx: &Context, row: &BackupRow, job: &JobControl) -> Result<VerifyReport> {
    let whole = crate::progress::sha256_file(&row.path, job)?;
    let mut problems = Vec::new();
    if row.sha256.as_deref().is_some_and(|sha| sha != whole.sha256) {
        problems.push(
            "the encrypted archive's SHA-256 differs from the one recorded when it was written"
                .to_string(),
        );
    }
    let mut report = VerifyReport {
        path: row.path.clone(),
        entries_checked: 0,
        bytes_checked: 0,
        archive_sha256: Some(whole.sha256),
        problems,
    };
    if !report.problems.is_empty() {
        return Ok(report);
    }
    let what = format!("backup {}", row.id);
    if let Ok(unlock) =
        super::encryption::unlock_for(ctx, &row.profile, row.encryption.as_deref(), None, &what)
    {
        let plain = super::encryption::decrypt_to_temp(ctx, &row.path, &unlock, None, job)?;
        let inner = archive::verify(plain.path(), None, job)?;
        report.entries_checked = inner.entries_checked;
        report.bytes_checked = inner.bytes_checked;
        report.problems = inner.problems;
    }
    Ok(report)
}

/// How two backups differ (files added, removed and changed; database size; row counts), from their manifests.
pub fn diff(ctx: &Context, before: &BackupRef, after: &BackupRef) -> Result<archive::ManifestDiff> {
    Ok(archive::diff_manifests(
        &show(ctx, before)?,
        &show(ctx, after)?,
    ))
}
