//! Copies to destinations: every completed backup that a destination's retention would keep is queued there,
//! copied (streamed, then read back whole and its size and SHA-256 compared with the catalog's), and the
//! destination's copies its retention no longer keeps are deleted there. A failed copy never touches the local
//! backup: it is recorded with why and tried again later with backoff (1 minute doubling to 6 hours).
//!
//! A destination's copying holds the lock `dest.<name>` (not the profile's lock: a long upload must not hold up
//! the next backup). An archive that local retention deletes during its upload is still read to its end through
//! the open file on Unix; on other systems the copy fails and is dropped, as one whose archive is gone.

use super::context::Context;
use crate::catalog::{BackupRow, CopyRow, CopyStatus};
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::failure::ErrorKind;
use crate::lock::ProfileLock;
use crate::model::{Status, Trigger};
use crate::progress::JobControl;
use crate::retention;
use crate::storage::{self, Destination, Remote};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What a sync did at one destination.
#[derive(Debug, Clone, Serialize)]
pub struct DestSync {
    /// The destination.
    pub dest: String,
    /// Backups copied now (ids).
    pub copied: Vec<i64>,
    /// Backups whose copy failed now (id, why).
    pub failed: Vec<(i64, String)>,
    /// Backups still waiting (a failure's wait is not over, or the destination could not be reached).
    pub waiting: Vec<i64>,
    /// Copies deleted there by its retention (ids).
    pub pruned: Vec<i64>,
    /// Why nothing was copied at all, when the destination could not be used.
    pub error: Option<String>,
    /// Why its retention deleted nothing, when it was held back.
    pub retention_skipped: Option<String>,
    /// Bytes of the copies made now that an earlier, interrupted try had sent already (not sent again).
    pub resumed_bytes: u64,
}

impl DestSync {
    fn new(dest: &str) -> DestSync {
        DestSync {
            dest: dest.to_string(),
            copied: Vec::new(),
            failed: Vec::new(),
            waiting: Vec::new(),
            pruned: Vec::new(),
            error: None,
            retention_skipped: None,
            resumed_bytes: 0,
        }
    }

    /// A destination whose sync could not run at all.
    pub fn failed(dest: &str, why: &str) -> DestSync {
        DestSync {
            error: Some(why.to_string()),
            ..DestSync::new(dest)
        }
    }

    /// One line for the job log and the CLI.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} copied", self.copied.len())];
        if !self.failed.is_empty() {
            parts.push(format!("{} failed", self.failed.len()));
        }
        if !self.waiting.is_empty() {
            parts.push(format!("{} waiting", self.waiting.len()));
        }
        if !self.pruned.is_empty() {
            parts.push(format!(
                "{} deleted there by its retention",
                self.pruned.len()
            ));
        }
        let mut text = format!("{}: {}", self.dest, parts.join(", "));
        if let Some(e) = &self.error {
            text.push_str(&format!(" ({e})"));
        } else if let Some((id, why)) = self.failed.first() {
            text.push_str(&format!(" (backup {id}: {why})"));
        }
        text
    }
}

/// How long a failed copy waits before the next try: 1 minute, doubling per failure, at most 6 hours.
pub fn backoff(attempts: u32) -> Duration {
    let minutes = 1i64 << attempts.min(9);
    Duration::minutes(minutes.min(6 * 60))
}

/// Copies what is pending at every destination of `profile` (all profiles when None). `force` ignores the
/// waits after failures (`dest sync`, a click in the window); automatic runs (`run-due`, after a backup) keep
/// them. A destination that fails never stops the others; the outcome of each is in the report.
pub fn sync(
    ctx: &Context,
    profile: Option<&str>,
    force: bool,
    job: &JobControl,
) -> Result<Vec<DestSync>> {
    if let Some(name) = profile {
        ctx.config.profile(name)?;
    }
    let dests: Vec<Destination> = ctx
        .config
        .destinations
        .iter()
        .filter(|d| profile.is_none_or(|p| d.profile == p))
        .cloned()
        .collect();
    let mut reports = Vec::new();
    for dest in &dests {
        job.check()?;
        let profile = ctx.config.profile(&dest.profile)?.clone();
        let report = sync_one(ctx, &profile, dest, force, job)?;
        ctx.log(
            "copy",
            Some(&profile.name),
            outcome_word(&report),
            &report.summary(),
        );
        reports.push(report);
    }
    Ok(reports)
}

fn outcome_word(report: &DestSync) -> &'static str {
    if report.error.is_some() || !report.failed.is_empty() {
        "failed"
    } else {
        "ok"
    }
}

/// The backups a destination should hold: those its retention keeps among the profile's completed backups
/// (and those deleted here whose copy is there), newest first.
fn wanted(
    profile: &Profile,
    dest: &Destination,
    rows: &[BackupRow],
    copies: &HashMap<i64, CopyRow>,
    now: DateTime<Utc>,
) -> Vec<retention::Verdict> {
    let summaries: Vec<retention::BackupSummary> = rows
        .iter()
        .filter(|r| r.trigger != Trigger::Safety)
        .filter(|r| match r.status {
            Status::Completed => true,
            Status::Deleted => copies
                .get(&r.id)
                .is_some_and(|c| c.status == CopyStatus::Copied),
            _ => false,
        })
        .map(|r| retention::BackupSummary {
            id: r.id,
            created_at: r.created_at,
            trigger: r.trigger,
            status: Status::Completed,
            pinned: r.pinned,
        })
        .collect();
    retention::plan(&summaries, &dest_policy(profile, dest), now)
}

/// The destination's retention: the profile's, with its own `keep_last` and `max_age_days` where it has them.
pub fn dest_policy(profile: &Profile, dest: &Destination) -> crate::model::Policy {
    crate::model::Policy {
        keep_last: dest.keep_last.unwrap_or(profile.policy.keep_last),
        max_age_days: dest.max_age_days.unwrap_or(profile.policy.max_age_days),
        ..profile.policy.clone()
    }
}

/// Queues the copies a destination's retention wants and that it has no row for yet (after each backup, when a
/// destination is added, before each sync).
pub fn queue(ctx: &Context, profile: &Profile, dest: &Destination) -> Result<Vec<i64>> {
    let rows = ctx.catalog.list(Some(&profile.name), true)?;
    let copies = copies_by_backup(ctx, &dest.name)?;
    let mut queued = Vec::new();
    for verdict in wanted(profile, dest, &rows, &copies, Utc::now()) {
        if !verdict.keep || copies.contains_key(&verdict.id) {
            continue;
        }
        let Some(row) = rows.iter().find(|r| r.id == verdict.id) else {
            continue;
        };
        if row.status != Status::Completed {
            continue;
        }
        if ctx
            .catalog
            .queue_copy(row.id, &dest.name, &copy_name(profile, row))?
        {
            queued.push(row.id);
        }
    }
    Ok(queued)
}

fn copies_by_backup(ctx: &Context, dest: &str) -> Result<HashMap<i64, CopyRow>> {
    Ok(ctx
        .catalog
        .copies(Some(dest))?
        .into_iter()
        .map(|c| (c.backup_id, c))
        .collect())
}

/// The name of a backup's copy at a destination: the archive's, with `.age` when only copies are encrypted.
fn copy_name(profile: &Profile, row: &BackupRow) -> String {
    let name = object_name(row);
    let encrypt_copy = profile.encryption.as_ref().is_some_and(|e| e.offsite_only);
    if encrypt_copy && !storage::is_encrypted_name(&name) {
        format!("{name}{}", crate::crypto::AGE_SUFFIX)
    } else {
        name
    }
}

/// The name of a backup's copy: the archive's file name.
pub fn object_name(row: &BackupRow) -> String {
    row.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Connects to a destination with its secret from the secret store.
pub fn connect(ctx: &Context, dest: &Destination) -> Result<Remote> {
    let secret = if dest.target.has_secret() {
        let secrets = crate::secrets::Secrets::new(ctx.paths.secrets_dir());
        Some(secrets.get(&dest.secret_account(), dest.secret_store)?)
    } else {
        None
    };
    Remote::connect(dest, secret.as_deref())
}

/// The home id, set once (under the config's lock) the first time a destination needs it.
pub fn home_id(ctx: &Context) -> Result<String> {
    if let Some(id) = &ctx.config.settings.home_id {
        return Ok(id.clone());
    }
    let (mut config, _lock) = crate::config::Config::load_for_update(&ctx.paths.config_file)?;
    let id = match &config.settings.home_id {
        Some(id) => id.clone(),
        None => {
            let id = storage::new_home_id();
            config.settings.home_id = Some(id.clone());
            config.save(&ctx.paths.config_file)?;
            id
        }
    };
    Ok(id)
}

fn sync_one(
    ctx: &Context,
    profile: &Profile,
    dest: &Destination,
    force: bool,
    job: &JobControl,
) -> Result<DestSync> {
    let mut report = DestSync::new(&dest.name);
    let _lock = match ProfileLock::acquire(&ctx.paths, &format!("dest.{}", dest.name)) {
        Ok(lock) => lock,
        Err(Error::ProfileBusy(_)) => {
            report.error = Some("another Backstop process is copying to it now".into());
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    queue(ctx, profile, dest)?;
    let now = Utc::now();
    let rows = ctx.catalog.list(Some(&profile.name), true)?;
    let by_id: HashMap<i64, &BackupRow> = rows.iter().map(|r| (r.id, r)).collect();
    let copies = copies_by_backup(ctx, &dest.name)?;
    let verdicts = wanted(profile, dest, &rows, &copies, now);
    let kept: HashSet<i64> = verdicts.iter().filter(|v| v.keep).map(|v| v.id).collect();
    // Newest first: when the network is slow or flaky, the newest backup gets off the machine first.
    let mut todo: Vec<&CopyRow> = copies
        .values()
        .filter(|c| {
            matches!(
                c.status,
                CopyStatus::Pending | CopyStatus::Copying | CopyStatus::Failed
            )
        })
        .collect();
    todo.sort_by_key(|c| std::cmp::Reverse(by_id.get(&c.backup_id).map(|r| (r.created_at, r.id))));
    let mut remote: Option<Remote> = None;
    for copy in todo {
        let Some(row) = by_id.get(&copy.backup_id) else {
            continue;
        };
        if !kept.contains(&row.id) || row.status != Status::Completed || !row.path.is_file() {
            // Retention moved past it, or the local archive is gone before it was copied: nothing to copy.
            if let (Some(remote), Some((upload_id, _))) = (remote.as_ref(), &copy.upload) {
                remote.abort_upload(&copy.object, upload_id);
            }
            ctx.catalog.copy_pruned(row.id, &dest.name)?;
            continue;
        }
        if !force && copy.status == CopyStatus::Failed && copy.next_try_at.is_some_and(|t| t > now)
        {
            report.waiting.push(row.id);
            continue;
        }
        if report.error.is_some() {
            report.waiting.push(row.id);
            continue;
        }
        job.check()?;
        if remote.is_none() {
            match open_claimed(ctx, profile, dest) {
                Ok(r) => remote = Some(r),
                Err(e) if e.kind() == ErrorKind::Cancelled => return Err(e),
                Err(e) => {
                    let why = e.to_string();
                    ctx.catalog.copy_started(row.id, &dest.name)?;
                    ctx.catalog.copy_failed(
                        row.id,
                        &dest.name,
                        &why,
                        now + backoff(copy.attempts),
                    )?;
                    report.failed.push((row.id, why.clone()));
                    report.error = Some(why);
                    continue;
                }
            }
        }
        let Some(remote) = remote.as_ref() else {
            continue;
        };
        ctx.catalog.copy_started(row.id, &dest.name)?;
        let memory = CatalogMemory {
            ctx,
            backup_id: row.id,
            dest: &dest.name,
            saved: copy.upload.clone(),
        };
        match copy_one(ctx, profile, remote, row, &copy.object, &memory, job) {
            Ok(done) => {
                ctx.catalog.copy_done(
                    row.id,
                    &dest.name,
                    done.moved.size_bytes,
                    &done.moved.sha256,
                    Utc::now(),
                )?;
                report.resumed_bytes += done.resumed_bytes;
                report.copied.push(row.id);
            }
            Err(e) if e.kind() == ErrorKind::Cancelled => {
                ctx.catalog.copy_pending(row.id, &dest.name)?;
                return Err(e);
            }
            Err(e) => {
                let why = e.to_string();
                ctx.catalog.copy_failed(
                    row.id,
                    &dest.name,
                    &why,
                    Utc::now() + backoff(copy.attempts),
                )?;
                // A destination out of reach fails every copy the same way: the rest wait for the next try.
                if e.kind() == ErrorKind::Transient {
                    report.error = Some(why.clone());
                }
                report.failed.push((row.id, why));
            }
        }
    }
    if report.error.is_none() {
        prune_dest(
            ctx,
            profile,
            dest,
            &rows,
            &verdicts,
            remote.as_ref(),
            &mut report,
        )?;
    }
    Ok(report)
}

/// Connects and makes sure the folder is this home's and profile's.
fn open_claimed(ctx: &Context, profile: &Profile, dest: &Destination) -> Result<Remote> {
    let remote = connect(ctx, dest)?;
    storage::claim(&remote, &home_id(ctx)?, &profile.name)?;
    Ok(remote)
}

/// The catalog as the memory of a resumable upload.
struct CatalogMemory<'a> {
    ctx: &'a Context,
    backup_id: i64,
    dest: &'a str,
    saved: Option<(String, u64)>,
}

impl storage::UploadMemory for CatalogMemory<'_> {
    fn saved(&self) -> Option<(String, u64)> {
        self.saved.clone()
    }

    fn remember(&self, upload: Option<(&str, u64)>) -> Result<()> {
        self.ctx
            .catalog
            .set_copy_upload(self.backup_id, self.dest, upload)
    }
}

/// Uploads one archive and its sidecar, then reads the copy back whole: it counts only when its size and
/// SHA-256 are the catalog's. Large archives go to S3 in parts that a later try resumes.
fn copy_one(
    ctx: &Context,
    profile: &Profile,
    remote: &Remote,
    row: &BackupRow,
    object: &str,
    memory: &CatalogMemory,
    job: &JobControl,
) -> Result<storage::Resumed> {
    // "Encrypt off-site copies only": the copy is encrypted into a private temporary file first (a new file key
    // each time, so such an upload starts over rather than resuming parts of another encryption).
    let local_encrypted = super::encryption::is_encrypted_name(&row.path);
    let encrypted_copy = if storage::is_encrypted_name(object) && !local_encrypted {
        Some(encrypt_for_copy(ctx, profile, row, job)?)
    } else {
        None
    };
    let (source, expected, size) = match &encrypted_copy {
        Some((guard, size, sha)) => (guard.path().to_path_buf(), Some(sha.clone()), Some(*size)),
        None => (row.path.clone(), row.sha256.clone(), row.size_bytes),
    };
    if encrypted_copy.is_some()
        && let Some((upload_id, _)) = memory.saved.as_ref()
    {
        remote.abort_upload(object, upload_id);
        memory
            .ctx
            .catalog
            .set_copy_upload(memory.backup_id, memory.dest, None)?;
    }
    let (sent, resumed_bytes) = match (expected.as_deref(), size) {
        (Some(sha), Some(size)) if remote.resumes(size) && encrypted_copy.is_none() => {
            let done = remote.upload_resumable(&source, object, sha, memory, job)?;
            (done.moved, done.resumed_bytes)
        }
        _ => (remote.upload(&source, object, expected.as_deref(), job)?, 0),
    };
    drop(encrypted_copy);
    let sidecar = format!("{}  {object}\n", sent.sha256);
    remote.write_small(&storage::sidecar_name(object), sidecar.as_bytes())?;
    let back = remote.hash(object, job)?;
    if back != sent || size.is_some_and(|s| s != back.size_bytes) {
        return Err(Error::DestinationFailed {
            dest: remote.name().to_string(),
            detail: format!(
                "the copy of backup {} read back as {} bytes with SHA-256 {}, not {} bytes with {}; it does not \
                 count and is tried again",
                row.id, back.size_bytes, back.sha256, sent.size_bytes, sent.sha256
            ),
        });
    }
    Ok(storage::Resumed {
        moved: back,
        resumed_bytes,
    })
}

/// The local (plain) archive encrypted for a destination into a private temporary file, after its SHA-256 was
/// checked against the catalog: the file, its size and SHA-256.
fn encrypt_for_copy(
    ctx: &Context,
    profile: &Profile,
    row: &BackupRow,
    job: &JobControl,
) -> Result<(crate::fsutil::TempGuard, u64, String)> {
    let Some((how, _)) = super::encryption::encrypt_for(ctx, profile, true)? else {
        return Err(Error::Usage(format!(
            "the copy of backup {} is to be encrypted but profile {} has no encryption any more; it was not copied",
            row.id, profile.name
        )));
    };
    let plain = crate::progress::sha256_file(&row.path, job)?;
    if row.sha256.as_deref().is_some_and(|sha| sha != plain.sha256) {
        return Err(Error::damaged(
            &row.path,
            "its SHA-256 differs from the one recorded when it was written; it was not copied",
        ));
    }
    let guard = crate::fsutil::owned_temp(&ctx.paths.tmp_dir(), "encrypt", "zip.age")?;
    let path = guard.path().to_path_buf();
    let (size, sha) = crate::crypto::encrypt_file(&row.path, &path, &how, job)?;
    Ok((guard, size, sha))
}

/// Deletes at the destination the copies its retention no longer keeps (only copies this catalog made: never
/// an object it does not know). Held back, as local retention is, while the newest backup is flagged by the
/// change check: a backup that looks wrong never pushes good copies out.
fn prune_dest(
    ctx: &Context,
    profile: &Profile,
    dest: &Destination,
    rows: &[BackupRow],
    verdicts: &[retention::Verdict],
    remote: Option<&Remote>,
    report: &mut DestSync,
) -> Result<()> {
    let newest = verdicts
        .first()
        .and_then(|v| rows.iter().find(|r| r.id == v.id));
    if let Some(newest) = newest
        && !newest.warnings.is_empty()
    {
        report.retention_skipped = Some(format!(
            "backup {} was flagged by the change check; copies at {} are deleted after a backup that is not",
            newest.id, dest.name
        ));
        return Ok(());
    }
    let copies = copies_by_backup(ctx, &dest.name)?;
    let doomed: Vec<&retention::Verdict> = retention::deletions(verdicts)
        .filter(|v| {
            copies
                .get(&v.id)
                .is_some_and(|c| c.status == CopyStatus::Copied)
        })
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    let owned;
    let remote = match remote {
        Some(r) => r,
        None => {
            owned = match open_claimed(ctx, profile, dest) {
                Ok(r) => r,
                Err(e) => {
                    report.retention_skipped = Some(e.to_string());
                    return Ok(());
                }
            };
            &owned
        }
    };
    for verdict in doomed {
        let Some(copy) = copies.get(&verdict.id) else {
            continue;
        };
        remote.delete(&copy.object)?;
        remote.delete(&storage::sidecar_name(&copy.object))?;
        ctx.catalog.copy_pruned(verdict.id, &dest.name)?;
        ctx.log(
            "prune",
            Some(&profile.name),
            "deleted",
            &format!(
                "copy of backup {} at {}: {}",
                verdict.id, dest.name, verdict.reason
            ),
        );
        report.pruned.push(verdict.id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_six_hours() {
        assert_eq!(backoff(0), Duration::minutes(1));
        assert_eq!(backoff(1), Duration::minutes(2));
        assert_eq!(backoff(5), Duration::minutes(32));
        assert_eq!(backoff(9), Duration::minutes(360));
        assert_eq!(backoff(100), Duration::minutes(360));
    }
}
