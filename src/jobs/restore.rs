//! Restore: plan, validate, take a safety backup, then swap; any failure leaves the live database as it was.

use super::backup::backup_locked;
use super::context::Context;
use super::profile::engine_for;
use super::restore_journal::{JournalStep, RestoreJournal};
use crate::archive::{self, ArchiveReader};
use crate::catalog::BackupRow;
use crate::config::Profile;
use crate::engine;
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::fsutil;
use crate::lock::ProfileLock;
use crate::model::{Kind, Status, Trigger};
use crate::progress::JobControl;
use crate::restore_log;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which backup: a catalog id or an archive path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRef {
    /// A catalog id.
    Id(i64),
    /// An archive file.
    Path(PathBuf),
}

impl BackupRef {
    /// Digits only: an id; anything else: a path.
    pub fn parse(text: &str) -> BackupRef {
        match text.parse::<i64>() {
            Ok(id) if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) => {
                BackupRef::Id(id)
            }
            _ => BackupRef::Path(PathBuf::from(text)),
        }
    }
}

/// What to restore and how.
#[derive(Debug, Clone)]
pub struct RestoreSpec {
    /// The backup.
    pub source: BackupRef,
    /// The profile to restore into (None: the backup's, or the only one).
    pub profile: Option<String>,
    /// Check everything, change nothing.
    pub validate_only: bool,
    /// Take a safety backup of the current database first.
    pub safety_backup: bool,
    /// Restore into this new database instead (server engines); the original is not touched.
    pub target_database: Option<String>,
    /// End other sessions on the target before the swap.
    pub terminate_sessions: bool,
    /// Restore only these entries (paths or folders in the archive) into `to`, nothing live touched.
    pub only: Vec<String>,
    /// The folder `only` restores into.
    pub to: Option<PathBuf>,
    /// Consent to restoring a backup of one profile into another (same engine only).
    pub allow_other_profile: bool,
    /// Restore from this destination's copy (downloaded and checked first), also when the local archive is gone.
    pub from: Option<String>,
    /// What opens an encrypted archive when the stored passphrase does not (an old passphrase, a private key).
    pub unlock: Option<super::UnlockSpec>,
}

/// What a restore did (or would do, for validate-only).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Profile name.
    pub profile: String,
    /// The backup's catalog id, if it has one.
    pub backup_id: Option<i64>,
    /// The archive.
    pub archive: PathBuf,
    /// What was (or would be) replaced.
    pub target: String,
    /// Only validation ran.
    pub validate_only: bool,
    /// The safety backup taken before the swap.
    pub safety_backup_id: Option<i64>,
    /// When the backup was taken.
    pub backup_created_at: DateTime<Utc>,
    /// Row counts in the backup.
    pub tables: BTreeMap<String, u64>,
    /// One sentence for the user.
    pub message: String,
}

/// The archive and profile a restore would use, resolved before asking the user to confirm.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The profile restored into.
    pub profile: Profile,
    /// The backup's catalog row, if any.
    pub row: Option<BackupRow>,
    /// The archive file.
    pub archive: PathBuf,
    /// What would be replaced.
    pub target: String,
    /// The profile whose backup it is (another than `profile` only with `allow_other_profile`).
    pub owner: String,
    /// Whether the archive's whole-file SHA-256 was already checked against the catalog (a downloaded or
    /// decrypted archive is checked as it is read).
    pub archive_checked: bool,
}

/// Resolves a restore's source and target without changing anything.
pub fn plan_restore(ctx: &Context, spec: &RestoreSpec) -> Result<RestorePlan> {
    plan_restore_from(ctx, spec, None)
}

/// `plan_restore`, reading the archive at `fetched` (a destination's copy, downloaded) instead of the local one.
fn plan_restore_from(
    ctx: &Context,
    spec: &RestoreSpec,
    fetched: Option<&std::path::Path>,
) -> Result<RestorePlan> {
    let (row, archive_path) = match &spec.source {
        BackupRef::Id(id) => {
            let row = ctx.catalog.get(*id)?;
            match row.status {
                Status::Completed => {}
                // Deleted here by retention or by hand, but its copy at a destination is there.
                Status::Deleted if spec.from.is_some() => {}
                Status::Corrupted => {
                    return Err(Error::damaged(
                        &row.path,
                        format!(
                            "backup {id} failed verification earlier ({}); restore refused",
                            row.error.clone().unwrap_or_default()
                        ),
                    ));
                }
                other => {
                    return Err(Error::Usage(format!(
                        "backup {id} is {other}; only completed backups can be restored"
                    )));
                }
            }
            let path = match (fetched, &spec.from) {
                (Some(fetched), _) => fetched.to_path_buf(),
                // Planned from the copy's manifest, read in place; the restore downloads it.
                (None, Some(_)) => row.path.clone(),
                (None, None) => {
                    if !row.path.exists() {
                        return Err(super::remote::local_archive_gone(&row));
                    }
                    row.path.clone()
                }
            };
            (Some(row), path)
        }
        BackupRef::Path(_) if spec.from.is_some() => {
            return Err(Error::Usage(
                "--from restores a backup by its id (see `backstop dest ls NAME`), not a file"
                    .into(),
            ));
        }
        BackupRef::Path(path) => {
            if !path.exists() {
                return Err(Error::Usage(format!("no such archive: {}", path.display())));
            }
            let row = ctx.catalog.find_by_path(path)?;
            (row, path.clone())
        }
    };
    // The archive's own word on what it is; an archive outside the catalog is read for it.
    let manifest = match (fetched, &spec.from, &row) {
        (None, Some(dest), Some(row)) => {
            super::remote::copy_manifest(ctx, row, dest, spec.unlock.as_ref())?
        }
        (None, None, _) if super::encryption::is_encrypted_name(&archive_path) => {
            let owner = key_owner(ctx, spec, row.as_ref());
            let unlock = super::encryption::unlock_for(
                ctx,
                &owner,
                row.as_ref().and_then(|r| r.encryption.as_deref()),
                spec.unlock.as_ref(),
                &what_of(row.as_ref(), &archive_path),
            )?;
            let file =
                std::fs::File::open(&archive_path).ctx("cannot open archive", &archive_path)?;
            crate::crypto::manifest_of_encrypted(file, &unlock, &archive_path)?
        }
        _ => ArchiveReader::open(&archive_path)?.manifest,
    };
    // Whose backup it is: the catalog's row (an import re-homes an archive), else the manifest's profile.
    let owner = row
        .as_ref()
        .map(|r| r.profile.clone())
        .unwrap_or_else(|| manifest.profile.clone());
    let profile = match &spec.profile {
        None if ctx.config.profile(&owner).is_err() => {
            return Err(Error::OtherProfile {
                archive: archive_path.clone(),
                owner,
                target: None,
            });
        }
        None => ctx.config.profile(&owner)?.clone(),
        Some(name) => ctx.config.profile(name)?.clone(),
    };
    if profile.name != owner && !spec.allow_other_profile {
        return Err(Error::OtherProfile {
            archive: archive_path.clone(),
            owner,
            target: Some(profile.name.clone()),
        });
    }
    if let Some(db) = &manifest.database
        && db.engine != profile.database.engine()
    {
        return Err(Error::refused(
            &archive_path,
            format!(
                "it holds a {} database (a backup of profile {owner}) but profile {} is a {} profile; a backup \
                 can only be restored into a profile of the same engine",
                db.engine,
                profile.name,
                profile.database.engine()
            ),
        ));
    }
    let engine = engine_for(ctx, &profile)?;
    let target = spec
        .target_database
        .as_deref()
        .and_then(|name| engine.describe_other(name))
        .unwrap_or_else(|| engine.describe());
    // What kind of backup it is: the catalog knows; an archive outside it says so in its manifest.
    let kind = match &row {
        Some(row) => row.kind,
        None => manifest.kind,
    };
    let folder = match (&profile.files_dir, &spec.target_database) {
        (Some(dir), None) if spec.only.is_empty() && kind != Kind::Database => {
            Some(format!("the files folder {}", dir.display()))
        }
        _ => None,
    };
    let target = match (kind, folder) {
        (Kind::Files, Some(folder)) => folder,
        (_, Some(folder)) => format!("{target} and {folder}"),
        (_, None) => target,
    };
    Ok(RestorePlan {
        profile,
        row,
        archive: archive_path,
        target,
        owner,
        archive_checked: fetched.is_some(),
    })
}

/// The profile whose passphrase or keys open the archive: the backup's, else the one asked for, else the only one.
fn key_owner(ctx: &Context, spec: &RestoreSpec, row: Option<&BackupRow>) -> String {
    row.map(|r| r.profile.clone())
        .or_else(|| spec.profile.clone())
        .or_else(|| ctx.config.select(None).ok().map(|p| p.name.clone()))
        .unwrap_or_default()
}

/// How a backup is named in messages: "backup N", or the archive's file name.
fn what_of(row: Option<&BackupRow>, path: &std::path::Path) -> String {
    match row {
        Some(row) => format!("backup {}", row.id),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The decrypted copy of an encrypted source (the local archive, or the copy `fetched` from a destination), or
/// None when it is not encrypted.
fn decrypt_source(
    ctx: &Context,
    spec: &RestoreSpec,
    fetched: Option<&std::path::Path>,
    job: &JobControl,
) -> Result<Option<crate::fsutil::TempGuard>> {
    let row = match &spec.source {
        BackupRef::Id(id) => Some(ctx.catalog.get(*id)?),
        BackupRef::Path(_) => None,
    };
    let path = match (fetched, &spec.source, &row) {
        (Some(f), _, _) => f.to_path_buf(),
        (None, BackupRef::Path(p), _) => p.clone(),
        (None, BackupRef::Id(_), Some(row)) => row.path.clone(),
        (None, BackupRef::Id(_), None) => return Ok(None),
    };
    if !crate::crypto::is_age_file(&path) {
        return Ok(None);
    }
    let owner = key_owner(ctx, spec, row.as_ref());
    let label = row.as_ref().and_then(|r| r.encryption.clone());
    let unlock = super::encryption::unlock_for(
        ctx,
        &owner,
        label.as_deref(),
        spec.unlock.as_ref(),
        &what_of(row.as_ref(), &path),
    )?;
    // A download was checked as it came; a local archive is checked now, against the catalog.
    let expected = match fetched {
        Some(_) => None,
        None => row.as_ref().and_then(|r| r.sha256.clone()),
    };
    super::encryption::decrypt_to_temp(ctx, &path, &unlock, expected.as_deref(), job).map(Some)
}

/// Restores a backup: validate everything (checksums, manifest, integrity, row counts), take a safety backup,
/// then swap. Any failure leaves the live database exactly as it was.
pub fn restore(ctx: &Context, spec: &RestoreSpec, job: &JobControl) -> Result<RestoreReport> {
    // A destination's copy is downloaded (and checked) into a private temporary file first; it is removed when
    // the restore ends, whatever happened.
    let fetched = match (&spec.from, &spec.source) {
        (Some(dest), BackupRef::Id(id)) => Some(super::remote::fetch_copy(ctx, *id, dest, job)?),
        _ => None,
    };
    // An encrypted archive (here, or the copy just downloaded) is decrypted into a private temporary file first,
    // its SHA-256 checked against the catalog as it is read.
    let decrypted = decrypt_source(ctx, spec, fetched.as_ref().map(|f| f.path()), job)?;
    let plan = plan_restore_from(
        ctx,
        spec,
        decrypted.as_ref().or(fetched.as_ref()).map(|f| f.path()),
    )?;
    let profile = plan.profile.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    let job_name = if spec.validate_only {
        "validate"
    } else {
        "restore"
    };
    ctx.logged(job_name, Some(&profile.name), || {
        let restore_id = ctx.catalog.insert_restore(
            &profile.name,
            plan.row.as_ref().map(|r| r.id),
            &plan.archive,
            spec.validate_only,
        )?;
        let mut safety_id = None;
        let result = restore_locked(ctx, &plan, spec, job, &mut safety_id);
        match &result {
            Ok(report) => {
                ctx.catalog
                    .finish_restore(restore_id, "completed", safety_id, &report.message)?
            }
            Err(e) => {
                let outcome = if matches!(e, Error::Cancelled) || job.cancel.is_cancelled() {
                    "cancelled"
                } else {
                    "failed"
                };
                ctx.catalog.finish_restore(
                    restore_id,
                    outcome,
                    safety_id,
                    &match e {
                        Error::JobFailed(_) => e.to_string(),
                        _ => format!("{e}; the database was left as it was"),
                    },
                )?;
            }
        }
        result.map(|r| {
            let message = r.message.clone();
            (r, message)
        })
    })
}

fn restore_locked(
    ctx: &Context,
    plan: &RestorePlan,
    spec: &RestoreSpec,
    job: &JobControl,
    safety_id: &mut Option<i64>,
) -> Result<RestoreReport> {
    let profile = &plan.profile;
    job.stage("checking archive", None);
    if let Some(expected) = plan
        .row
        .as_ref()
        .and_then(|r| r.sha256.as_deref())
        .filter(|_| !plan.archive_checked)
    {
        let whole = crate::progress::sha256_file(&plan.archive, job)?;
        if whole.sha256 != expected {
            if let Some(row) = &plan.row {
                ctx.catalog.set_status(
                    row.id,
                    Status::Corrupted,
                    Some("archive checksum mismatch"),
                )?;
            }
            return Err(Error::damaged(
                &plan.archive,
                "the archive's SHA-256 differs from the one recorded when it was written; restore refused",
            ));
        }
    }
    let mut reader = ArchiveReader::open(&plan.archive)?;
    let manifest = reader.manifest.clone();
    let when = manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC");
    let report =
        |target: String, validate_only: bool, safety: Option<i64>, message: String| RestoreReport {
            profile: profile.name.clone(),
            backup_id: plan.row.as_ref().map(|r| r.id),
            archive: plan.archive.clone(),
            target,
            validate_only,
            safety_backup_id: safety,
            backup_created_at: manifest.created_at,
            tables: manifest
                .database
                .as_ref()
                .map(|d| d.tables.clone())
                .unwrap_or_default(),
            message,
        };
    if !spec.only.is_empty() {
        let target = restore_chosen(&mut reader, spec, job)?;
        return Ok(report(target.clone(), spec.validate_only, None, target));
    }
    let info = manifest.database.clone();
    let folder_entries = files::entries_of(&manifest.entries);
    if spec.target_database.is_some() && info.is_none() {
        return Err(Error::Usage(
            "--to-database restores a database, and this backup holds only a files folder".into(),
        ));
    }
    let live_folder = match (manifest.kind, &profile.files_dir) {
        (Kind::Database, _) => None,
        // Into another database: the live database and its files folder both stay as they are.
        _ if spec.target_database.is_some() => None,
        (_, Some(dir)) => Some(dir.clone()),
        (kind, None) => {
            return Err(Error::Usage(format!(
                "this {kind} backup holds a files folder but profile {} has none; add one with `backstop profile edit {} --files DIR`, or restore chosen files with --only files --to DIR",
                profile.name, profile.name
            )));
        }
    };
    let engine = match &info {
        Some(info) => {
            let engine = engine_for(ctx, profile)?;
            if info.engine != engine.kind() {
                return Err(Error::Usage(format!(
                    "the archive holds a {} database but profile {} uses {}",
                    info.engine,
                    profile.name,
                    engine.kind()
                )));
            }
            Some(engine)
        }
        None => None,
    };
    // Entries that are neither the dump nor the folder's (the README) are checked here; the dump and each file
    // are checked as they are extracted.
    for entry in manifest.entries.iter().filter(|e| {
        info.as_ref().is_none_or(|i| i.entry != e.path)
            && !e.path.starts_with(archive::FILES_PREFIX)
    }) {
        reader.check_entry(&entry.path, job, "checking archive")?;
    }
    if let Some(live) = &live_folder {
        files::preflight_swap(live)?;
    }
    let options = engine::RestoreOptions {
        target_database: spec.target_database.clone(),
        terminate_sessions: spec.terminate_sessions,
        validate_only: spec.validate_only,
    };
    let staged_db = match (&engine, &info) {
        (Some(engine), Some(info)) => {
            Some(engine.stage_restore(&mut reader, info, &options, job)?)
        }
        _ => None,
    };
    let staged_folder = match &live_folder {
        Some(live) => Some(files::stage_folder(
            &mut reader,
            &folder_entries,
            files::root_of(&manifest.entries),
            live,
            job,
        )?),
        None => None,
    };
    let target = [
        staged_db.as_ref().map(|s| s.describe()),
        live_folder
            .as_ref()
            .map(|l| format!("the files folder {}", l.display())),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" and ");
    let folder_summary = staged_folder.as_ref().map(|f| {
        format!(
            "{} files ({})",
            f.extracted.files,
            crate::progress::human_size(f.extracted.bytes)
        )
    });
    if spec.validate_only {
        if let Some(folder) = staged_folder {
            folder.discard();
        }
        let mut checked = Vec::new();
        if let Some(info) = &info {
            checked.push(format!(
                "{} tables, {} rows, integrity check ok",
                info.tables.len(),
                info.tables.values().sum::<u64>()
            ));
        }
        checked.extend(folder_summary);
        return Ok(report(
            target.clone(),
            true,
            None,
            format!(
                "validated: the backup from {when} is intact ({}); a restore would replace {target}; nothing was changed",
                checked.join("; ")
            ),
        ));
    }
    let discard = |folder: Option<files::StagedFolder>| {
        if let Some(folder) = folder {
            folder.discard();
        }
    };
    if let Err(e) = job.check() {
        discard(staged_folder);
        return Err(e);
    }
    // A missing database has nothing to keep; any other problem reading it stops the restore here. A restore into
    // another database replaces nothing, so it keeps nothing either.
    let db_live = match (&engine, &spec.target_database) {
        (Some(engine), None) => match engine.preflight() {
            Ok(()) => true,
            Err(Error::DatabaseMissing(_) | Error::RemoteDatabaseMissing { .. }) => false,
            Err(e) => {
                discard(staged_folder);
                return Err(Error::JobFailed(format!(
                    "the current database cannot be read, so no safety backup can be taken and nothing was restored: {e}"
                )));
            }
        },
        _ => false,
    };
    let folder_live = live_folder.as_ref().is_some_and(|l| l.is_dir());
    let safety_kind = match (db_live, folder_live) {
        (true, true) => Some(Kind::Full),
        (true, false) => Some(Kind::Database),
        (false, true) => Some(Kind::Files),
        (false, false) => None,
    };
    let mut safety_size = None;
    if spec.safety_backup
        && let Some(kind) = safety_kind
    {
        job.stage("taking safety backup", None);
        match backup_locked(ctx, profile, kind, Trigger::Safety, job).and_then(|safety| {
            // In the log at once: a restore Backstop does not see to its end still names it.
            ctx.catalog
                .note_restore(&profile.name, None, Some(safety.id))
                .map(|()| safety)
        }) {
            Ok(safety) => {
                *safety_id = Some(safety.id);
                safety_size = Some(safety.size_bytes);
            }
            Err(e) => {
                discard(staged_folder);
                return Err(match e {
                    Error::Cancelled => Error::Cancelled,
                    other => Error::JobFailed(format!(
                        "the safety backup of the current state failed, so nothing was restored: {other}"
                    )),
                });
            }
        }
    }
    if let Err(e) = job.check() {
        discard(staged_folder);
        return Err(e);
    }
    let journal = staged_folder
        .as_ref()
        .map(|f| RestoreJournal::new(ctx, profile, &plan.archive, f, *safety_id));
    if let Some(journal) = &journal
        && staged_db.is_some()
        && let Err(e) = journal.write(JournalStep::Applying)
    {
        discard(staged_folder);
        return Err(e);
    }
    let db_applied = staged_db.is_some();
    // The log learns each step before it happens, so that the next start can tell what a killed restore did. A
    // restore into a new database replaces nothing of the profile's, so it records no step: the next start must
    // never finish it into the live database, and the window's undo does not count it as a change.
    let replaces_live_db = db_applied && spec.target_database.is_none();
    if replaces_live_db
        && let Err(e) = ctx
            .catalog
            .note_restore(&profile.name, Some(restore_log::APPLYING), None)
    {
        if let Some(journal) = &journal {
            journal.remove();
        }
        discard(staged_folder);
        return Err(e);
    }
    // Test hooks (only `<step>:abort` means anything here): a crash just before and just after the replacement.
    let _ = fsutil::failpoint("restore-apply");
    let mut kept_database = None;
    if let Some(staged) = staged_db {
        match staged.apply(job) {
            Ok(kept) => kept_database = kept,
            Err(e) => {
                if let Some(journal) = &journal {
                    journal.remove();
                }
                discard(staged_folder);
                return Err(e);
            }
        }
    }
    if replaces_live_db {
        let _ = ctx
            .catalog
            .note_restore(&profile.name, Some(restore_log::APPLIED), None);
        let _ = fsutil::failpoint("restore-applied");
    }
    let mut kept_folder = None;
    if let Some(folder) = staged_folder {
        let swapped = match &journal {
            Some(journal) => journal.write(JournalStep::DatabaseApplied),
            None => Ok(()),
        }
        .and_then(|()| folder.swap());
        match swapped {
            Ok(old) => {
                kept_folder = old;
                let _ = ctx
                    .catalog
                    .note_restore(&profile.name, Some(restore_log::DONE), None);
            }
            Err(e) => {
                let rolled_back = if db_applied {
                    rollback_database(ctx, profile, *safety_id, job)
                } else {
                    Ok(String::new())
                };
                if db_applied && rolled_back.is_ok() {
                    let _ = ctx.catalog.note_restore(
                        &profile.name,
                        Some(restore_log::ROLLED_BACK),
                        None,
                    );
                }
                // The journal goes first: a crash from here on leaves only a stray staging folder to remove.
                if let Some(journal) = &journal {
                    journal.remove();
                }
                folder.discard();
                let unchanged = if matches!(e, Error::JobFailed(_)) {
                    ""
                } else {
                    "; nothing was changed"
                };
                return Err(match rolled_back {
                    Ok(how) => Error::JobFailed(format!(
                        "the files folder could not be put in place ({e}){how}{unchanged}"
                    )),
                    Err(again) => Error::JobFailed(format!(
                        "the files folder could not be put in place ({e}), and the database could not be put back ({again}); restore safety backup {} to return to the state before",
                        safety_id.map_or("(none)".to_string(), |id| id.to_string())
                    )),
                });
            }
        }
        if let Some(journal) = &journal {
            journal.remove();
        }
    }
    let mut message = if plan.owner == profile.name {
        format!("restored {target} from the backup of {when}")
    } else {
        format!(
            "restored {target} from the backup of profile {} taken {when}",
            plan.owner
        )
    };
    if let Some(summary) = folder_summary {
        message.push_str(&format!(" ({summary})"));
    }
    let kept = Kept {
        safety: safety_id.zip(safety_size),
        folder: kept_folder,
        database: kept_database,
    };
    let nothing_there = safety_kind.is_none() && spec.target_database.is_none();
    message.push_str(&kept.sentence(spec.target_database.is_some(), nothing_there));
    Ok(report(target, false, *safety_id, message))
}

/// What a restore kept of the state it replaced: the safety backup (id, size), the files folder moved aside, the
/// database copy a server engine keeps.
struct Kept {
    safety: Option<(i64, u64)>,
    folder: Option<PathBuf>,
    database: Option<String>,
}

impl Kept {
    /// "; safety backup 4 (1.2 MiB) holds the state from just before; the previous files folder is kept as …
    /// until you delete it": every restore's message says what it kept, or that it kept nothing and why.
    fn sentence(&self, into_new_database: bool, nothing_there: bool) -> String {
        let mut parts = Vec::new();
        if let Some((id, size)) = self.safety {
            parts.push(format!(
                "safety backup {id} ({}) holds the state from just before",
                crate::progress::human_size(size)
            ));
        }
        if let Some(folder) = &self.folder {
            parts.push(format!(
                "the previous files folder is kept as {} until you delete it",
                folder.display()
            ));
        }
        if let Some(name) = &self.database {
            parts.push(format!(
                "the previous database is kept as {name} until you delete it"
            ));
        }
        let nothing = if into_new_database {
            "nothing of the profile's was replaced, so nothing was kept"
        } else if nothing_there {
            "there was nothing there before, so nothing was kept"
        } else {
            "no safety backup was taken, so nothing of the previous state was kept"
        };
        match parts.is_empty() {
            true => format!("; {nothing}"),
            false => format!("; {}", parts.join("; ")),
        }
    }
}

/// `restore --only PATH... --to DIR`: the chosen entries into another folder, nothing live touched.
fn restore_chosen(
    reader: &mut ArchiveReader,
    spec: &RestoreSpec,
    job: &JobControl,
) -> Result<String> {
    let Some(to) = &spec.to else {
        return Err(Error::Usage(
            "--only needs --to DIR: the folder to restore the chosen entries into".into(),
        ));
    };
    let entries: Vec<archive::ManifestEntry> = reader
        .manifest
        .entries
        .iter()
        .filter(|e| e.path != archive::README_NAME)
        .cloned()
        .collect();
    let chosen = files::select(&entries, &spec.only)?;
    if spec.validate_only {
        for entry in &chosen {
            reader.check_entry(&entry.path, job, "checking archive")?;
        }
        return Ok(format!(
            "validated: the {} chosen entries are intact; nothing was written",
            chosen.len()
        ));
    }
    let done = files::restore_selected(reader, &chosen, to, job)?;
    Ok(format!(
        "restored {} files, {} folders and {} links ({}) into {}; nothing live was changed, so nothing was kept",
        done.files,
        done.dirs,
        done.links,
        crate::progress::human_size(done.bytes),
        to.display()
    ))
}

/// Puts the database back from the safety backup after a later step of a full restore failed.
fn rollback_database(
    ctx: &Context,
    profile: &Profile,
    safety_id: Option<i64>,
    job: &JobControl,
) -> Result<String> {
    let Some(id) = safety_id else {
        return Err(Error::JobFailed(
            "no safety backup was taken (--no-safety-backup), so the restored database stays"
                .into(),
        ));
    };
    let row = ctx.catalog.get(id)?;
    let kept = apply_database_of(ctx, profile, &row.path, job)?;
    Ok(format!(
        "; the database was put back from the safety backup ({id}, which holds the state from before){}",
        kept.map(|name| format!(", and the restored one is kept as {name} until you delete it"))
            .unwrap_or_default()
    ))
}

/// Replaces the profile's live database with the one in `archive` (checked and staged first, as any restore);
/// returns the name the replaced content is kept under, when the engine keeps it.
pub(crate) fn apply_database_of(
    ctx: &Context,
    profile: &Profile,
    archive: &Path,
    job: &JobControl,
) -> Result<Option<String>> {
    let mut reader = ArchiveReader::open(archive)?;
    let info = reader
        .manifest
        .database
        .clone()
        .ok_or_else(|| Error::JobFailed(format!("{} holds no database", archive.display())))?;
    let engine = engine_for(ctx, profile)?;
    let staged =
        engine.stage_restore(&mut reader, &info, &engine::RestoreOptions::default(), job)?;
    staged.apply(job)
}

#[cfg(test)]
mod tests {
    use super::Kept;

    #[test]
    fn every_restore_says_what_it_kept_or_why_nothing() {
        let kept = |safety, folder: Option<&str>, database: Option<&str>| Kept {
            safety,
            folder: folder.map(Into::into),
            database: database.map(Into::into),
        };
        let cases = [
            (
                kept(Some((4, 2048)), Some("/m.pre_restore_1"), None),
                false,
                false,
                "; safety backup 4 (2.0 KiB) holds the state from just before; the previous files folder is kept \
                 as /m.pre_restore_1 until you delete it",
            ),
            (
                kept(None, None, Some("shop_pre_restore_1")),
                false,
                false,
                "; the previous database is kept as shop_pre_restore_1 until you delete it",
            ),
            (
                kept(None, None, None),
                false,
                false,
                "; no safety backup was taken, so nothing of the previous state was kept",
            ),
            (
                kept(None, None, None),
                false,
                true,
                "; there was nothing there before, so nothing was kept",
            ),
            (
                kept(None, None, None),
                true,
                true,
                "; nothing of the profile's was replaced, so nothing was kept",
            ),
        ];
        for (kept, into_new, nothing_there, expected) in cases {
            assert_eq!(kept.sentence(into_new, nothing_there), expected);
        }
    }
}
