//! Catalog rebuild from the archives' manifests.

use super::verify::read_sidecar;
use crate::archive::{self, ArchiveReader};
use crate::catalog::{BackupRow, Catalog};
use crate::config::{Config, Paths};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::lock::ProfileLock;
use crate::model::{Kind, Status, Trigger};
use crate::progress::JobControl;
use chrono::Utc;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a rebuild found.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// Archives catalogued as completed.
    pub archives: usize,
    /// Archives that could not be read (catalogued as corrupted).
    pub damaged: Vec<String>,
    /// Where the old catalog was moved.
    pub old_catalog: Option<PathBuf>,
}

/// Rebuilds the catalog from the manifests in every profile's storage folder (the archives are the truth).
/// The old catalog is kept beside it; its restore and job logs are carried over when it can be read.
pub fn rebuild_catalog(paths: &Paths, job: &JobControl) -> Result<RebuildReport> {
    paths.ensure()?;
    let config = Config::load(&paths.config_file)?;
    // An unplugged drive looks like a missing folder: rebuilding then would drop its backups from the catalog.
    if let Some(profile) = config.profiles.iter().find(|p| !p.storage_dir.is_dir()) {
        return Err(Error::JobFailed(format!(
            "profile {}'s storage folder {} is missing (is the drive mounted?); the catalog was not rebuilt, \
             since that profile's backups would drop out of it",
            profile.name,
            profile.storage_dir.display()
        )));
    }
    let mut locks = Vec::new();
    for profile in &config.profiles {
        locks.push(ProfileLock::acquire(paths, &profile.name)?);
    }
    // Held to the end: nobody opens (or creates) the catalog while it is replaced, and rebuilds run one at a time.
    let catalog_lock = crate::lock::FileLock::acquire(&paths.catalog_file)?;
    // Named with this process's id: if the rebuild is killed, the next start removes it (`leftovers`).
    let new_path = fsutil::temp_path(&paths.catalog_file);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = new_path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    // A rebuild that fails or is cancelled leaves no half-made catalog behind.
    let new_guard = TempGuard::new(new_path.clone());
    let mut report = RebuildReport {
        archives: 0,
        damaged: Vec::new(),
        old_catalog: None,
    };
    {
        let catalog = Catalog::open_locked(&new_path, &catalog_lock)?;
        let mut rows = Vec::new();
        let mut seen_dirs = std::collections::HashSet::new();
        for profile in &config.profiles {
            if !seen_dirs.insert(profile.storage_dir.clone()) {
                continue;
            }
            // A folder that cannot be read would drop its backups just as a missing one: stop.
            let entries = std::fs::read_dir(&profile.storage_dir)
                .ctx("cannot read the storage folder", &profile.storage_dir)?;
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.to_string_lossy();
                    (name.ends_with(".zip") || name.ends_with(".zip.age")) && p.is_file()
                })
                .collect();
            files.sort();
            let unlock = stored_unlock(paths, profile);
            for file in files {
                job.check()?;
                let mut row = if crate::crypto::is_age_file(&file) {
                    row_from_encrypted(&file, profile, unlock.as_ref(), &mut report)
                } else {
                    row_from_archive(&file, &profile.name, &mut report)
                };
                // A renamed profile's archives still carry the old name: they belong to the folder's profile.
                if !config.profiles.iter().any(|p| p.name == row.profile) {
                    row.profile = profile.name.clone();
                }
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.path.cmp(&b.path)));
        // Keep the ids (and job timings) the old catalog gave these archives, when it can still be read, so that
        // ids in scripts and in the restore log stay true.
        if paths.catalog_file.exists()
            && let Ok(old) = Catalog::open_locked(&paths.catalog_file, &catalog_lock)
            && let Ok(old_rows) = old.list(None, true)
        {
            let by_path: std::collections::HashMap<&Path, &BackupRow> = old_rows
                .iter()
                .filter(|r| matches!(r.status, Status::Completed | Status::Corrupted))
                .map(|r| (r.path.as_path(), r))
                .collect();
            for row in &mut rows {
                if let Some(old_row) = by_path.get(row.path.as_path()) {
                    row.id = old_row.id;
                    row.finished_at = old_row.finished_at;
                    row.duration_ms = old_row.duration_ms;
                }
            }
        }
        for row in &rows {
            catalog.insert_completed(row)?;
        }
        // An old catalog from before source hashes (or unreadable) has none to give: imports then count as new.
        if paths.catalog_file.exists() {
            let _ = catalog.copy_source_hashes_from(&paths.catalog_file);
        }
        if paths.catalog_file.exists() && catalog.copy_history_from(&paths.catalog_file).is_err() {
            report
                .damaged
                .push("the old catalog's restore and job logs could not be read".into());
        }
        // Leave a single self-contained file before the rename.
        catalog.into_single_file()?;
    }
    if paths.catalog_file.exists() {
        let old = old_catalog_path(&paths.catalog_file, Utc::now());
        fsutil::rename_no_replace(&paths.catalog_file, &old)?;
        for suffix in ["-wal", "-shm"] {
            let mut from = paths.catalog_file.clone().into_os_string();
            from.push(suffix);
            let mut to = old.clone().into_os_string();
            to.push(suffix);
            let _ = std::fs::rename(PathBuf::from(from), PathBuf::from(to));
        }
        report.old_catalog = Some(old);
    }
    let new_path = new_guard.keep();
    std::fs::rename(&new_path, &paths.catalog_file)
        .ctx("cannot put new catalog in place", &paths.catalog_file)?;
    fsutil::sync_dir(fsutil::parent_of(&paths.catalog_file))?;
    drop(catalog_lock);
    drop(locks);
    Ok(report)
}

/// A name for the old catalog a rebuild keeps, `catalog.sqlite3.old-<UTC stamp>[-N]`, that no file (nor its
/// `-wal` or `-shm`) uses yet: a saved copy is never overwritten, not even by a second rebuild in the same second.
fn old_catalog_path(catalog: &Path, now: chrono::DateTime<Utc>) -> PathBuf {
    let base = format!(
        "{}.old-{}",
        catalog.file_name().unwrap_or_default().to_string_lossy(),
        now.format("%Y%m%d_%H%M%S")
    );
    let taken = |path: &Path| {
        ["", "-wal", "-shm"].iter().any(|suffix| {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            std::fs::symlink_metadata(PathBuf::from(name)).is_ok()
        })
    };
    (1u32..)
        .map(|n| match n {
            1 => catalog.with_file_name(&base),
            n => catalog.with_file_name(format!("{base}-{n}")),
        })
        .find(|path| !taken(path))
        .unwrap_or_else(|| catalog.with_file_name(base))
}

/// What opens this profile's encrypted archives here: its stored passphrase, when it has one.
fn stored_unlock(paths: &Paths, profile: &crate::config::Profile) -> Option<crate::crypto::Unlock> {
    let enc = profile.encryption.as_ref()?;
    enc.passphrase_id.as_ref()?;
    let secrets = crate::secrets::Secrets::new(paths.secrets_dir());
    let passphrase = secrets
        .get(&format!("encrypt.{}", profile.name), enc.secret_store)
        .ok()?;
    Some(crate::crypto::Unlock::Passphrase(
        age::secrecy::SecretString::from(passphrase),
    ))
}

/// An encrypted archive's row: from its manifest when the stored passphrase opens it; otherwise (an older
/// passphrase, keys this machine does not hold) from its name, with a note, since its contents cannot be read.
fn row_from_encrypted(
    file: &Path,
    profile: &crate::config::Profile,
    unlock: Option<&crate::crypto::Unlock>,
    report: &mut RebuildReport,
) -> BackupRow {
    let name = file
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let manifest = unlock.and_then(|unlock| {
        let f = std::fs::File::open(file).ok()?;
        crate::crypto::manifest_of_encrypted(f, unlock, file).ok()
    });
    let mut row = BackupRow {
        id: 0,
        profile: profile.name.clone(),
        kind: Kind::Full,
        trigger: Trigger::Manual,
        status: Status::Completed,
        path: file.to_path_buf(),
        size_bytes: std::fs::metadata(file).map(|m| m.len()).ok(),
        sha256: read_sidecar(file),
        created_at: crate::import::created_time_of(file, &name),
        finished_at: None,
        duration_ms: None,
        engine: None,
        engine_version: None,
        database_name: None,
        database_size_bytes: None,
        error: None,
        pinned: archive::pin_marker_path(file).exists(),
        tables: None,
        warnings: Vec::new(),
        clock_ahead_secs: None,
        copies: Vec::new(),
        encryption: None,
    };
    match manifest {
        Some(m) => {
            report.archives += 1;
            row.kind = m.kind;
            row.trigger = m.trigger;
            row.created_at = m.created_at;
            row.engine = m.database.as_ref().map(|d| d.engine.to_string());
            row.engine_version = m.database.as_ref().map(|d| d.engine_version.clone());
            row.database_name = m.database.as_ref().map(|d| d.name.clone());
            row.database_size_bytes = m.database.as_ref().map(|d| d.size_bytes);
            row.tables = m.database.as_ref().map(|d| d.tables.clone());
            row.encryption = profile
                .encryption
                .as_ref()
                .map(crate::config::Encryption::key_label);
        }
        None => {
            report.archives += 1;
            let stem = name.trim_end_matches(".zip.age");
            let parts: Vec<&str> = stem.rsplitn(5, '_').collect();
            if let Some(trigger) = parts
                .first()
                .and_then(|t| t.split('-').next())
                .and_then(|t| t.parse().ok())
            {
                row.trigger = trigger;
            }
            if let Some(kind) = parts.get(3).and_then(|k| k.parse().ok()) {
                row.kind = kind;
            }
            report.damaged.push(format!(
                "{}: encrypted with a passphrase or key this machine does not hold; catalogued from its name \
                 (restore it with --passphrase-stdin or --identity)",
                file.display()
            ));
        }
    }
    row
}

fn row_from_archive(file: &Path, storage_profile: &str, report: &mut RebuildReport) -> BackupRow {
    let size = std::fs::metadata(file).map(|m| m.len()).ok();
    let pinned = archive::pin_marker_path(file).exists();
    let created_fallback = crate::import::created_time_of(
        file,
        &file.file_name().unwrap_or_default().to_string_lossy(),
    );
    match ArchiveReader::open(file) {
        Ok(reader) => {
            report.archives += 1;
            let m = reader.manifest;
            BackupRow {
                id: 0,
                profile: m.profile.clone(),
                kind: m.kind,
                trigger: m.trigger,
                status: Status::Completed,
                path: file.to_path_buf(),
                size_bytes: size,
                sha256: read_sidecar(file),
                created_at: m.created_at,
                finished_at: None,
                duration_ms: None,
                engine: m.database.as_ref().map(|d| d.engine.to_string()),
                engine_version: m.database.as_ref().map(|d| d.engine_version.clone()),
                database_name: m.database.as_ref().map(|d| d.name.clone()),
                database_size_bytes: m.database.as_ref().map(|d| d.size_bytes),
                error: None,
                pinned,
                tables: m.database.as_ref().map(|d| d.tables.clone()),
                // The change check's flags live in the catalog only; a rebuilt row starts unflagged.
                warnings: Vec::new(),
                clock_ahead_secs: None,
                copies: Vec::new(),
                encryption: None,
            }
        }
        Err(e) => {
            report.damaged.push(format!("{}: {e}", file.display()));
            BackupRow {
                id: 0,
                profile: storage_profile.to_string(),
                kind: Kind::Database,
                trigger: Trigger::Manual,
                status: Status::Corrupted,
                path: file.to_path_buf(),
                size_bytes: size,
                sha256: read_sidecar(file),
                created_at: created_fallback,
                finished_at: None,
                duration_ms: None,
                engine: None,
                engine_version: None,
                database_name: None,
                database_size_bytes: None,
                error: Some(e.to_string()),
                pinned,
                tables: None,
                warnings: Vec::new(),
                clock_ahead_secs: None,
                copies: Vec::new(),
                encryption: None,
            }
        }
    }
}
