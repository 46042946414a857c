//! Reading back from destinations: a copy downloaded for a restore (checked against the catalog before it is
//! used), and the disaster case, a catalog rebuilt from what a destination holds.

use super::context::Context;
use super::copy::{connect, home_id};
use crate::archive;
use crate::catalog::{BackupRow, CopyStatus};
use crate::error::{Error, Result};
use crate::fsutil::{self, TempGuard};
use crate::lock::ProfileLock;
use crate::model::Status;
use crate::progress::JobControl;
use crate::storage::{self, RemoteObject};
use serde::Serialize;
use std::io::BufReader;

/// The error for a backup whose local archive is gone: names the destinations that hold a copy.
pub(super) fn local_archive_gone(row: &BackupRow) -> Error {
    let copies: Vec<&str> = row
        .copies
        .iter()
        .filter(|c| c.status == CopyStatus::Copied)
        .map(|c| c.dest.as_str())
        .collect();
    match copies.first() {
        Some(dest) => Error::Usage(format!(
            "the archive of backup {} is not here any more ({}); it has a checked copy at {}: restore from it \
             with `backstop restore {} --from {dest}`",
            row.id,
            row.path.display(),
            copies.join(", "),
            row.id
        )),
        None => Error::Usage(format!(
            "the archive of backup {} is not here any more ({}) and it has no copy at a destination",
            row.id,
            row.path.display()
        )),
    }
}

/// Downloads backup `id`'s copy at `dest` into a private temporary file and checks it against the SHA-256 the
/// catalog recorded; the file goes when the guard is dropped (or at the next start, after a kill).
pub(super) fn fetch_copy(
    ctx: &Context,
    id: i64,
    dest: &str,
    job: &JobControl,
) -> Result<TempGuard> {
    let row = ctx.catalog.get(id)?;
    let destination = ctx.config.destination(dest)?.clone();
    let copy = ctx
        .catalog
        .copy(id, dest)?
        .filter(|c| c.status == CopyStatus::Copied)
        .ok_or_else(|| no_copy(id, dest))?;
    let remote = connect(ctx, &destination)?;
    let dir = ctx.paths.tmp_dir();
    if !dir.is_dir() {
        fsutil::create_private_dir(&dir)?;
    }
    if let (Some(size), Some(available)) = (copy.size_bytes, fsutil::available_space(&dir))
        && available < size + (1 << 20)
    {
        return Err(Error::NoSpace {
            path: dir,
            needed: size + (1 << 20),
            available,
        });
    }
    let guard = fsutil::owned_temp(&dir, "download", "zip")?;
    let moved = remote.download_to(&copy.object, guard.path(), job)?;
    let expected = copy.sha256.as_deref().or(row.sha256.as_deref());
    if expected.is_some_and(|sha| sha != moved.sha256) {
        return Err(Error::DestinationFailed {
            dest: dest.to_string(),
            detail: format!(
                "the copy of backup {id} ({}) downloaded with SHA-256 {}, not the {} recorded when it was copied; \
                 it was not used. Try another destination's copy, or check the storage",
                copy.object,
                moved.sha256,
                expected.unwrap_or_default()
            ),
        });
    }
    Ok(guard)
}

/// The manifest of backup `row`'s copy at `dest`, read in place (the zip directory and the manifest entry).
pub(super) fn copy_manifest(
    ctx: &Context,
    row: &BackupRow,
    dest: &str,
    unlock: Option<&super::UnlockSpec>,
) -> Result<crate::archive::Manifest> {
    let destination = ctx.config.destination(dest)?.clone();
    let copy = ctx
        .catalog
        .copy(row.id, dest)?
        .filter(|c| c.status == CopyStatus::Copied)
        .ok_or_else(|| no_copy(row.id, dest))?;
    let remote = connect(ctx, &destination)?;
    let shown = std::path::PathBuf::from(format!("{dest}:{}", copy.object));
    let file = BufReader::with_capacity(256 << 10, remote.open(&copy.object)?);
    if storage::is_encrypted_name(&copy.object) {
        let unlock = super::encryption::unlock_for(
            ctx,
            &row.profile,
            row.encryption.as_deref(),
            unlock,
            &format!("the copy of backup {} at {dest}", row.id),
        )?;
        return crate::crypto::manifest_of_encrypted(file, &unlock, &shown);
    }
    archive::manifest_of(file, &shown)
}

fn no_copy(id: i64, dest: &str) -> Error {
    Error::Usage(format!(
        "backup {id} has no checked copy at {dest}; see its copies with `backstop list --json`, or what {dest} \
         holds with `backstop dest ls {dest}`"
    ))
}

/// What `catalog rebuild --from` found.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteRebuildReport {
    /// The destination.
    pub dest: String,
    /// Backups added to the catalog from the destination's manifests.
    pub added: Vec<i64>,
    /// Archives there that the catalog knew already.
    pub known: usize,
    /// Archives there that could not be read (name: why); they are not catalogued.
    pub damaged: Vec<String>,
    /// Whose folder it was, when another home had claimed it (machine, profile).
    pub took_over_from: Option<String>,
}

/// The disaster case: a (fresh) home with a profile and its destination reads every archive's manifest at the
/// destination (ranged reads: the zip directory and the manifest, not the whole archive), adds each backup the
/// catalog does not know as `completed` with a checked copy there, and claims the folder. Each backup can then
/// be restored with `restore ID --from DEST`.
pub fn rebuild_from(
    ctx: &Context,
    dest: &str,
    unlock: Option<&super::UnlockSpec>,
    job: &JobControl,
) -> Result<RemoteRebuildReport> {
    let destination = ctx.config.destination(dest)?.clone();
    let profile = ctx.config.profile(&destination.profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    let _dest_lock = ProfileLock::acquire(&ctx.paths, &format!("dest.{dest}"))?;
    ctx.logged("rebuild", Some(&profile.name), || {
        let report = rebuild_locked(ctx, &profile, &destination, unlock, job)?;
        let message = format!(
            "catalog rebuilt from {}: {} backup(s) added, {} known already, {} unreadable",
            report.dest,
            report.added.len(),
            report.known,
            report.damaged.len()
        );
        Ok((report, message))
    })
}

fn rebuild_locked(
    ctx: &Context,
    profile: &crate::config::Profile,
    destination: &storage::Destination,
    unlock: Option<&super::UnlockSpec>,
    job: &JobControl,
) -> Result<RemoteRebuildReport> {
    let remote = connect(ctx, destination)?;
    let mut report = RemoteRebuildReport {
        dest: destination.name.clone(),
        added: Vec::new(),
        known: 0,
        damaged: Vec::new(),
        took_over_from: None,
    };
    let home = home_id(ctx)?;
    match storage::read_marker(&remote)? {
        Some(m) if m.home_id == home && m.profile == profile.name => {}
        Some(m) => {
            report.took_over_from = Some(format!("machine {}, profile {}", m.machine, m.profile))
        }
        None => {}
    }
    let objects: Vec<RemoteObject> = remote
        .list()?
        .into_iter()
        .filter(|o| storage::is_archive_name(&o.name))
        .collect();
    let rows = ctx.catalog.list(Some(&profile.name), true)?;
    job.stage(
        &format!("reading manifests at {}", destination.name),
        Some(objects.len() as u64),
    );
    for (i, object) in objects.iter().enumerate() {
        job.check()?;
        job.progress(
            &format!("reading manifests at {}", destination.name),
            i as u64,
            Some(objects.len() as u64),
        );
        let local_path = profile.storage_dir.join(&object.name);
        if let Some(row) = rows
            .iter()
            .find(|r| r.path == local_path && r.status != Status::Deleted)
        {
            report.known += 1;
            if ctx.catalog.copy(row.id, &destination.name)?.is_none()
                && let Some(sha) = row.sha256.as_deref()
            {
                ctx.catalog.insert_copied(
                    row.id,
                    &destination.name,
                    &object.name,
                    object.size_bytes,
                    sha,
                    chrono::Utc::now(),
                )?;
            }
            continue;
        }
        let shown = std::path::PathBuf::from(format!("{}:{}", destination.name, object.name));
        let manifest = match remote.open(&object.name).and_then(|file| {
            let file = BufReader::with_capacity(256 << 10, file);
            if storage::is_encrypted_name(&object.name) {
                let unlock =
                    super::encryption::unlock_for(ctx, &profile.name, None, unlock, &object.name)?;
                crate::crypto::manifest_of_encrypted(file, &unlock, &shown)
            } else {
                archive::manifest_of(file, &shown)
            }
        }) {
            Ok(m) => m,
            Err(e) => {
                report.damaged.push(format!("{}: {e}", object.name));
                continue;
            }
        };
        let sidecar = remote
            .read_small(&storage::sidecar_name(&object.name), 4096)?
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .filter(|sha| archive::is_sha256_hex(sha));
        let Some(sha256) = sidecar else {
            report.damaged.push(format!(
                "{}: its .sha256 sidecar is missing or not a SHA-256, so the copy cannot be checked",
                object.name
            ));
            continue;
        };
        let row = BackupRow {
            id: 0,
            profile: profile.name.clone(),
            kind: manifest.kind,
            trigger: manifest.trigger,
            status: Status::Completed,
            path: local_path,
            size_bytes: Some(object.size_bytes),
            sha256: Some(sha256.clone()),
            created_at: manifest.created_at,
            finished_at: None,
            duration_ms: None,
            engine: manifest.database.as_ref().map(|d| d.engine.to_string()),
            engine_version: manifest.database.as_ref().map(|d| d.engine_version.clone()),
            database_name: manifest.database.as_ref().map(|d| d.name.clone()),
            database_size_bytes: manifest.database.as_ref().map(|d| d.size_bytes),
            error: None,
            pinned: false,
            tables: manifest.database.as_ref().map(|d| d.tables.clone()),
            warnings: Vec::new(),
            clock_ahead_secs: None,
            copies: Vec::new(),
            encryption: None,
        };
        let id = ctx.catalog.insert_completed(&row)?;
        ctx.catalog.insert_copied(
            id,
            &destination.name,
            &object.name,
            object.size_bytes,
            &sha256,
            object.modified.unwrap_or_else(chrono::Utc::now),
        )?;
        report.added.push(id);
    }
    storage::write_marker(&remote, &home, &profile.name)?;
    Ok(report)
}
