//! Backup: a consistent copy written as an archive, verified, renamed into place; retention afterwards.

use super::context::{Context, millis};
use super::profile::engine_for;
use super::prune::prune_locked;
use crate::archive::{self, ArchiveWriter, Manifest};
use crate::catalog::Completion;
use crate::config::Profile;
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::fsutil::{self, TempGuard};
use crate::lock::ProfileLock;
use crate::model::{Kind, Status, Trigger};
use crate::progress::JobControl;
use crate::{change, retention};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to back up.
#[derive(Debug, Clone)]
pub struct BackupSpec {
    /// The profile (None: the only one).
    pub profile: Option<String>,
    /// The kind (None: the profile's default).
    pub kind: Option<Kind>,
    /// What started it.
    pub trigger: Trigger,
}

/// What a backup produced.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// Catalog id.
    pub id: i64,
    /// Profile name.
    pub profile: String,
    /// The archive.
    pub path: PathBuf,
    /// Archive size.
    pub size_bytes: u64,
    /// Archive SHA-256.
    pub sha256: String,
    /// How long it took.
    pub duration_ms: u64,
    /// Size of the live database.
    pub database_size_bytes: u64,
    /// Backups deleted by retention afterwards.
    pub pruned: Vec<retention::Verdict>,
    /// Things skipped or changed while reading the files folder (also in the manifest), then what the change
    /// check flagged (also in the catalog).
    pub warnings: Vec<String>,
    /// Why the retention run after this backup deleted nothing, when the change check flagged it.
    pub retention_skipped: Option<String>,
    /// The copies to the profile's destinations made after it (a failed copy never fails the backup: it waits
    /// and is tried again).
    pub copies: Vec<super::copy::DestSync>,
}

impl BackupReport {
    /// For a flagged backup, what a notification says: the warnings, then why retention deleted nothing.
    pub fn flagged_text(&self) -> Option<String> {
        let why = self.retention_skipped.as_ref()?;
        Some(format!("{}; {why}", self.warnings.join("; ")))
    }
}

/// Backs up a profile: consistent copy, archive written as `.partial`, fsynced, verified, renamed; only then
/// `completed`; then retention (not after a safety backup).
pub fn backup(ctx: &Context, spec: &BackupSpec, job: &JobControl) -> Result<BackupReport> {
    let profile = ctx.config.select(spec.profile.as_deref())?.clone();
    let kind = resolve_kind(&profile, spec.kind)?;
    let lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    let mut report = ctx.logged("backup", Some(&profile.name), || {
        let report = backup_locked(ctx, &profile, kind, spec.trigger, job)?;
        let message = format!(
            "{} backup {} written: {} ({} bytes, {} ms){}",
            spec.trigger,
            report.id,
            report.path.display(),
            report.size_bytes,
            report.duration_ms,
            if report.pruned.is_empty() {
                String::new()
            } else {
                format!("; retention deleted {} old backup(s)", report.pruned.len())
            }
        ) + &report
            .retention_skipped
            .iter()
            .map(|why| format!("; {why}"))
            .collect::<String>()
            + &report
                .warnings
                .iter()
                .map(|w| format!("; warning: {w}"))
                .collect::<String>();
        Ok((report, message))
    })?;
    drop(lock);
    report.copies = copy_after(ctx, &profile, job);
    Ok(report)
}

/// Copies the new backup (and anything else pending) to the profile's destinations, after the backup's lock is
/// released. Nothing here fails the backup: a cancel leaves the copies pending, an error is reported per
/// destination.
fn copy_after(ctx: &Context, profile: &Profile, job: &JobControl) -> Vec<super::copy::DestSync> {
    if ctx.config.destinations_of(&profile.name).next().is_none() {
        return Vec::new();
    }
    match super::copy::sync(ctx, Some(&profile.name), false, job) {
        Ok(reports) => reports,
        Err(e) => {
            let why = if matches!(e, Error::Cancelled) {
                "copying was cancelled; the copies wait for the next sync".to_string()
            } else {
                e.to_string()
            };
            ctx.log("copy", Some(&profile.name), "failed", &why);
            ctx.config
                .destinations_of(&profile.name)
                .map(|d| super::copy::DestSync::failed(&d.name, &why))
                .collect()
        }
    }
}

fn resolve_kind(profile: &Profile, kind: Option<Kind>) -> Result<Kind> {
    let kind = kind.unwrap_or_else(|| profile.default_kind());
    if kind != Kind::Database && profile.files_dir.is_none() {
        return Err(Error::Usage(format!(
            "--kind {kind} needs a files folder and profile {} has none; add one with `backstop profile edit {} --files DIR`, or use --kind database",
            profile.name, profile.name
        )));
    }
    Ok(kind)
}

/// The backup itself, for a caller that already holds the profile's lock (restore's safety backup).
pub(super) fn backup_locked(
    ctx: &Context,
    profile: &Profile,
    kind: Kind,
    trigger: Trigger,
    job: &JobControl,
) -> Result<BackupReport> {
    let start = Instant::now();
    let storage = &profile.storage_dir;
    fsutil::check_writable_dir(storage)?;
    // Microseconds: what the catalog stores, so the manifest and the catalog agree exactly.
    let created_at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    // An encrypted profile's archive is `<name>.zip.age`: the zip never gets its plain name on disk.
    let encryption = super::encryption::encrypt_for(ctx, profile, false)?;
    let path =
        archive::unique_archive_path(storage, &profile.name, kind, created_at, trigger, |p| {
            ctx.catalog.path_known(p)
        });
    let path = match &encryption {
        Some(_) => PathBuf::from(format!("{}{}", path.display(), crate::crypto::AGE_SUFFIX)),
        None => path,
    };
    let id = ctx
        .catalog
        .insert_running(&profile.name, kind, trigger, created_at, &path)?;
    let out = ArchiveOut {
        path: &path,
        created_at,
        encrypt: encryption.as_ref().map(|(how, _)| how),
    };
    let result = write_backup(ctx, profile, kind, trigger, &out, job);
    match result {
        Ok((mut done, database_size_bytes, mut warnings)) => {
            done.encryption = encryption.map(|(_, label)| label);
            done.warnings = change_flags(ctx, profile, kind, trigger, id, &done)?;
            ctx.catalog.complete(id, &path, &done)?;
            if matches!(trigger, Trigger::Manual | Trigger::Automatic) {
                for dest in ctx.config.destinations_of(&profile.name) {
                    if let Err(e) = super::copy::queue(ctx, profile, dest) {
                        ctx.log(
                            "copy",
                            Some(&profile.name),
                            "failed",
                            &format!("{}: {e}", dest.name),
                        );
                    }
                }
            }
            let (pruned, retention_skipped) = retention_after(ctx, profile, trigger, id, &done)?;
            warnings.extend(done.warnings);
            Ok(BackupReport {
                id,
                profile: profile.name.clone(),
                path,
                size_bytes: done.size_bytes,
                sha256: done.sha256,
                duration_ms: millis(start),
                database_size_bytes,
                pruned,
                warnings,
                retention_skipped,
                copies: Vec::new(),
            })
        }
        Err(e) => {
            // A stop signal may reach a child tool first (a terminal's Ctrl-C goes to the whole process group).
            let status = if matches!(e, Error::Cancelled) || job.cancel.is_cancelled() {
                Status::Cancelled
            } else {
                Status::Failed
            };
            ctx.catalog
                .end_unsuccessful(id, status, &e.to_string(), millis(start))?;
            Err(e)
        }
    }
}

/// Where a new archive goes, its time stamp, and how it is encrypted.
struct ArchiveOut<'a> {
    path: &'a Path,
    created_at: DateTime<Utc>,
    encrypt: Option<&'a crate::crypto::Encrypt>,
}

/// Writes and verifies the archive; returns what the catalog records. Any error leaves no file behind.
fn write_backup(
    ctx: &Context,
    profile: &Profile,
    kind: Kind,
    trigger: Trigger,
    out: &ArchiveOut,
    job: &JobControl,
) -> Result<(Completion, u64, Vec<String>)> {
    let (path, created_at, encrypt) = (out.path, out.created_at, out.encrypt);
    let start = Instant::now();
    let with_database = kind != Kind::Files;
    resolve_kind(profile, Some(kind))?;
    let folder = match (kind, &profile.files_dir) {
        (Kind::Full | Kind::Files, Some(dir)) => {
            let mut excludes = files::Excludes::new(&profile.exclude)?;
            let mut inside = vec![profile.storage_dir.clone()];
            inside.extend(profile.database.file().map(Path::to_path_buf));
            excludes.also_skip(dir, &inside);
            Some((dir.clone(), excludes))
        }
        _ => None,
    };
    let engine = if with_database {
        let engine = engine_for(ctx, profile)?;
        engine.preflight()?;
        Some(engine)
    } else {
        None
    };
    let db_size = match &engine {
        Some(engine) => engine.size_bytes()?,
        None => 0,
    };
    // Measured once: for the free-space check here and the progress total while archiving.
    let files_size = match &folder {
        Some((dir, excludes)) => files::measure(dir, excludes)?.0,
        None => 0,
    };
    let needed = db_size + db_size / 4 + files_size + (1 << 20);
    if let Some(available) = fsutil::available_space(&profile.storage_dir)
        && available < needed
    {
        return Err(Error::NoSpace {
            path: profile.storage_dir.clone(),
            needed,
            available,
        });
    }
    let partial = TempGuard::new(fsutil::partial_path(path));
    let mut writer =
        ArchiveWriter::create(partial.path(), profile.policy.compression_level, created_at)?;
    let database = match &engine {
        Some(engine) => Some(engine.backup(&mut writer, &profile.storage_dir, job)?),
        None => None,
    };
    // What the engine warned about (a table a consistent dump cannot freeze) goes to the job log as well.
    let mut warnings = writer.warnings().to_vec();
    // A restore's safety backup must work whatever state the database is in; the user's own backups must not.
    if let (Some(engine), Some(info)) = (&engine, &database)
        && matches!(trigger, Trigger::Manual | Trigger::Automatic)
        && let Some(problem) = change::source_problem(engine.kind(), db_size, &info.tables)
    {
        return Err(Error::SourceUnusable {
            what: engine.describe(),
            problem,
        });
    }
    let summary = match &folder {
        Some((dir, excludes)) => Some(files::backup_folder(
            dir,
            excludes,
            files_size,
            &mut writer,
            job,
        )?),
        None => None,
    };
    let manifest = Manifest {
        format: archive::FORMAT_NAME.to_string(),
        format_version: archive::FORMAT_VERSION,
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        profile: profile.name.clone(),
        kind,
        trigger,
        created_at,
        database: database.clone(),
        entries: Vec::new(),
        imported_from: None,
        warnings: Vec::new(),
    };
    writer.add_bytes(
        archive::README_NAME,
        archive::readme_text(&manifest).as_bytes(),
        job,
    )?;
    writer.finish(manifest)?;
    let completion = seal_with(partial, path, encrypt, job)?;
    Ok((
        Completion {
            duration_ms: millis(start),
            engine: database.as_ref().map(|d| d.engine.to_string()),
            engine_version: database.as_ref().map(|d| d.engine_version.clone()),
            database_name: database.as_ref().map(|d| d.name.clone()),
            database_size_bytes: database.as_ref().map(|d| d.size_bytes),
            tables: database.map(|d| d.tables),
            ..completion
        },
        db_size,
        {
            warnings.extend(summary.map(|s| s.warnings).unwrap_or_default());
            warnings
        },
    ))
}

/// What the change check flags in a new manual or automatic backup, compared with the most recently recorded
/// completed one of the same profile and kind (by id, not by time: clocks can be wrong).
fn change_flags(
    ctx: &Context,
    profile: &Profile,
    kind: Kind,
    trigger: Trigger,
    id: i64,
    done: &Completion,
) -> Result<Vec<String>> {
    if !matches!(trigger, Trigger::Manual | Trigger::Automatic) {
        return Ok(Vec::new());
    }
    let rows = ctx.catalog.list(Some(&profile.name), false)?;
    let previous = rows
        .iter()
        .filter(|r| {
            r.id != id
                && r.status == Status::Completed
                && r.kind == kind
                && matches!(r.trigger, Trigger::Manual | Trigger::Automatic)
        })
        .max_by_key(|r| r.id);
    let Some(previous) = previous else {
        return Ok(Vec::new());
    };
    let findings = change::compare(
        change::Measure::of(previous),
        change::Measure {
            id,
            size_bytes: Some(done.size_bytes),
            tables: done.tables.as_ref(),
        },
        ctx.config.settings.change_alert_percent,
    );
    Ok(change::flag_warnings(&findings))
}

/// The retention run after a completed backup (none after a safety or uploaded one): the backups it deleted, or
/// why it deleted nothing when the change check flagged the new backup.
fn retention_after(
    ctx: &Context,
    profile: &Profile,
    trigger: Trigger,
    id: i64,
    done: &Completion,
) -> Result<(Vec<retention::Verdict>, Option<String>)> {
    if !matches!(trigger, Trigger::Manual | Trigger::Automatic) {
        return Ok((Vec::new(), None));
    }
    if !done.warnings.is_empty() {
        let why = format!(
            "retention deleted nothing: backup {id} was flagged by the change check; it runs again after a \
             backup that is not flagged, or prune by hand (`backstop prune`, or Prune in the window's Actions)"
        );
        ctx.log(
            "prune",
            Some(&profile.name),
            "skipped",
            &format!("{why} ({})", done.warnings.join("; ")),
        );
        return Ok((Vec::new(), Some(why)));
    }
    let pruned = prune_locked(ctx, profile, false, Some(id))?
        .verdicts
        .into_iter()
        .filter(|v| !v.keep)
        .collect();
    Ok((pruned, None))
}

/// Verifies a finished `.partial` archive by reading it back, renames it into place and writes its sidecar.
pub(crate) fn seal(partial: TempGuard, path: &Path, job: &JobControl) -> Result<Completion> {
    seal_with(partial, path, None, job)
}

/// `seal`, encrypting the verified archive first when `encrypt` says so: the plain zip is verified, encrypted into
/// `<path>.enc.partial` (fsynced), the encrypted file checked (decrypted again and compared with the plain zip's
/// SHA-256 when a passphrase can; re-read and hashed when it is encrypted to keys this machine cannot open), and
/// only that is renamed to `path`; the plain zip never gets a final name and is deleted.
pub(crate) fn seal_with(
    partial: TempGuard,
    path: &Path,
    encrypt: Option<&crate::crypto::Encrypt>,
    job: &JobControl,
) -> Result<Completion> {
    let Some(how) = encrypt else {
        return seal_plain(partial, path, job);
    };
    let plain_sha = verify_partial(&partial, path, job)?;
    let sealed = TempGuard::new(fsutil::partial_path(&PathBuf::from(format!(
        "{}.enc",
        path.display()
    ))));
    let (size_bytes, sha256) =
        crate::crypto::encrypt_file(partial.path(), sealed.path(), how, job)?;
    job.stage("checking the encrypted archive", Some(size_bytes));
    let check = match how {
        crate::crypto::Encrypt::Passphrase(p) => {
            let file = std::fs::File::open(sealed.path()).ctx("cannot read", sealed.path())?;
            let mut reader = crate::crypto::decrypting_reader(
                file,
                &crate::crypto::Unlock::Passphrase(p.clone()),
                "the new archive",
            )?;
            match crate::progress::copy_hashing(
                &mut reader,
                &mut std::io::sink(),
                u64::MAX,
                job,
                "checking the encrypted archive",
                Some(size_bytes),
            ) {
                Ok(copied) => copied.sha256 == plain_sha,
                Err(crate::progress::CopyError::Cancelled) => return Err(Error::Cancelled),
                Err(_) => false,
            }
        }
        crate::crypto::Encrypt::Recipients(_) => {
            crate::progress::sha256_file(sealed.path(), job)?.sha256 == sha256
        }
    };
    if !check {
        return Err(Error::damaged(
            path,
            "the encrypted archive did not read back as written; nothing was kept",
        ));
    }
    fsutil::rename_no_replace(sealed.path(), path)?;
    sealed.keep();
    drop(partial);
    archive::write_sidecar(path, &sha256)?;
    Ok(Completion {
        size_bytes,
        sha256,
        ..Completion::default()
    })
}

/// Reads a finished `.partial` archive back completely; its SHA-256 when every check passed.
fn verify_partial(partial: &TempGuard, path: &Path, job: &JobControl) -> Result<String> {
    job.stage("verifying archive", None);
    let report = archive::verify(partial.path(), None, job)?;
    if !report.ok() {
        return Err(Error::damaged(
            path,
            format!(
                "verification after writing failed: {}",
                report.problems.join("; ")
            ),
        ));
    }
    Ok(report.archive_sha256.unwrap_or_default())
}

fn seal_plain(partial: TempGuard, path: &Path, job: &JobControl) -> Result<Completion> {
    let sha256 = verify_partial(&partial, path, job)?;
    let size_bytes = std::fs::metadata(partial.path())
        .ctx("cannot read", partial.path())?
        .len();
    fsutil::rename_no_replace(partial.path(), path)?;
    partial.keep();
    archive::write_sidecar(path, &sha256)?;
    Ok(Completion {
        size_bytes,
        sha256,
        ..Completion::default()
    })
}
