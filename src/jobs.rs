//! Every job Backstop runs: backup, restore, verify, import, export, delete, prune, pin, run-due, stats.
//!
//! The CLI and the window build a spec and call these functions; nothing here knows who is listening. Each job
//! takes its profile's lock, reports through a [`JobControl`], and records itself in the catalog and the log.

use crate::archive::{self, ArchiveReader, ArchiveWriter, Manifest, VerifyReport};
use crate::catalog::{BackupRow, Catalog, Completion, JobRow, RestoreRow};
use crate::config::{Config, Paths, Profile};
use crate::engine;
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::fsutil::{self, TempGuard};
use crate::lock::ProfileLock;
use crate::model::{Kind, Status, Trigger};
use crate::progress::JobControl;
use crate::{retention, schedule};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything a job needs: where state lives, the config and the open catalog.
pub struct Context {
    /// Resolved locations.
    pub paths: Paths,
    /// The loaded config.
    pub config: Config,
    /// The open catalog.
    pub catalog: Catalog,
    /// What the start-up reconciliation did, for the user.
    pub recovered: Vec<String>,
}

impl Context {
    /// Loads the config, opens the catalog and finishes what a crash left behind.
    pub fn open(paths: Paths) -> Result<Context> {
        paths.ensure()?;
        let config = Config::load(&paths.config_file)?;
        let catalog = Catalog::open(&paths.catalog_file)?;
        let mut ctx = Context {
            paths,
            config,
            catalog,
            recovered: Vec::new(),
        };
        ctx.reconcile()?;
        Ok(ctx)
    }

    /// Saves the config atomically and keeps it in memory.
    pub fn save_config(&mut self, config: Config) -> Result<()> {
        config.save(&self.paths.config_file)?;
        self.config = config;
        Ok(())
    }

    /// After a crash: `running` rows of profiles nobody works on now are finished or failed, and stray
    /// `.partial` files are removed. A profile whose lock is held by a live job is left alone.
    fn reconcile(&mut self) -> Result<()> {
        let profiles: Vec<Profile> = self.config.profiles.clone();
        // Take every lock that is free; a profile whose lock is held belongs to a live job.
        let mut locked = std::collections::HashMap::new();
        for profile in &profiles {
            if let Ok(lock) = ProfileLock::acquire(&self.paths, &profile.name) {
                locked.insert(profile.name.clone(), lock);
            }
        }
        let mut dirs: BTreeMap<PathBuf, bool> = BTreeMap::new();
        for profile in &profiles {
            let free = locked.contains_key(&profile.name);
            for dir in std::iter::once(profile.storage_dir.clone()).chain(sqlite_dir(profile)) {
                let all_free = dirs.entry(dir).or_insert(true);
                *all_free &= free;
            }
            if !free {
                continue;
            }
            for row in self
                .catalog
                .running()?
                .into_iter()
                .filter(|r| r.profile == profile.name)
            {
                let message = self.recover_row(&row)?;
                self.recovered.push(message);
            }
            if let Some(message) = recover_restore(self, profile) {
                self.recovered.push(message);
            }
            let scratch = clean_server_scratch(self, profile);
            self.recovered.extend(scratch);
            self.catalog.fail_stale_runs(
                &profile.name,
                "interrupted: Backstop stopped before this job finished",
            )?;
        }
        // A folder shared by several profiles is cleaned only when none of them has a job running.
        for (dir, all_free) in dirs {
            if all_free {
                remove_partials(&dir);
            }
        }
        Ok(())
    }

    /// A backup row left `running`: if its archive was already renamed into place and verifies, it is complete;
    /// otherwise it failed and any partial file goes.
    fn recover_row(&self, row: &BackupRow) -> Result<String> {
        let partial = fsutil::partial_path(&row.path);
        let _ = std::fs::remove_file(&partial);
        if row.path.is_file() {
            let job = JobControl::new(&crate::progress::NoProgress, Default::default());
            let report = archive::verify(&row.path, None, &job)?;
            if report.ok()
                && let Some(sha) = &report.archive_sha256
            {
                archive::write_sidecar(&row.path, sha)?;
                let size = std::fs::metadata(&row.path).map(|m| m.len()).unwrap_or(0);
                self.catalog.complete(
                    row.id,
                    &row.path,
                    &Completion {
                        size_bytes: size,
                        sha256: sha.clone(),
                        ..Completion::default()
                    },
                )?;
                return Ok(format!(
                    "backup {} of profile {} was interrupted after its archive was written; it verified and is now completed",
                    row.id, row.profile
                ));
            }
            let _ = std::fs::remove_file(&row.path);
        }
        self.catalog.end_unsuccessful(
            row.id,
            Status::Failed,
            "interrupted: Backstop stopped before this backup finished",
            0,
        )?;
        Ok(format!(
            "backup {} of profile {} was interrupted (Backstop stopped while writing it); it is marked failed",
            row.id, row.profile
        ))
    }

    /// Appends a line to `state/backstop.log` (best effort: a full disk must not fail the job twice).
    pub fn log(&self, job: &str, profile: Option<&str>, outcome: &str, message: &str) {
        let line = format!(
            "{} {job} profile={} {outcome}: {}\n",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            profile.unwrap_or("-"),
            message.replace('\n', " | ")
        );
        let path = self.paths.state_dir.join("backstop.log");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// Runs `body` as a logged job: a job-log row, a log-file line, the outcome recorded either way.
    fn logged<T>(
        &self,
        job: &str,
        profile: Option<&str>,
        body: impl FnOnce() -> Result<(T, String)>,
    ) -> Result<T> {
        let id = self.catalog.start_job(job, profile)?;
        match body() {
            Ok((value, message)) => {
                self.catalog.finish_job(id, "completed", &message)?;
                self.log(job, profile, "completed", &message);
                Ok(value)
            }
            Err(e) => {
                let outcome = if matches!(e, Error::Cancelled) {
                    "cancelled"
                } else {
                    "failed"
                };
                let _ = self.catalog.finish_job(id, outcome, &e.to_string());
                self.log(job, profile, outcome, &e.to_string());
                Err(e)
            }
        }
    }
}

fn sqlite_dir(profile: &Profile) -> Option<PathBuf> {
    match &profile.database {
        crate::config::DatabaseConfig::Sqlite { path } => {
            Some(fsutil::parent_of(path).to_path_buf())
        }
        crate::config::DatabaseConfig::Postgres(_) => None,
    }
}

/// Removes Backstop's own `.partial` files (never anything else) from a folder.
/// Drops the staging databases and import roles that killed jobs of a PostgreSQL profile left on its server
/// (see `engine::postgres::scratch`). Only called with the profile's lock held; the server is contacted only when
/// a job registered something it did not drop, and briefly (an unreachable server is reported, not waited for).
fn clean_server_scratch(ctx: &Context, profile: &Profile) -> Vec<String> {
    let crate::config::DatabaseConfig::Postgres(cfg) = &profile.database else {
        return Vec::new();
    };
    let tmp = ctx.paths.tmp_dir();
    if !engine::postgres::scratch_pending(&tmp) {
        return Vec::new();
    }
    let password = if cfg.has_password {
        match read_password(ctx, profile, cfg) {
            Ok(password) => Some(password),
            Err(e) => {
                return vec![format!(
                    "could not check for staging databases left on {}:{} by an interrupted job of profile {} ({e})",
                    cfg.host, cfg.port, profile.name
                )];
            }
        }
    } else {
        None
    };
    engine::postgres::PostgresEngine::new(cfg.clone(), password, tmp).clean_scratch()
}

fn remove_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // An import's scratch SQLite copy may leave its sidecars too (`.import-…partial-wal`).
        let scratch_sidecar = name.starts_with(".import-")
            && ["-wal", "-shm", "-journal"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| base.ends_with(fsutil::PARTIAL_SUFFIX))
            });
        let ours = scratch_sidecar
            || name.ends_with(fsutil::PARTIAL_SUFFIX)
                && (name.ends_with(&format!(".zip{}", fsutil::PARTIAL_SUFFIX))
                    || name.contains(".snapshot")
                    || name.contains(".restore-")
                    || name.contains(".import-"));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn millis(start: Instant) -> u64 {
    start.elapsed().as_millis().min(u128::from(u64::MAX)) as u64
}

// ---------------------------------------------------------------------------------------------------------------
// Profiles

/// The engine of a profile's database, with its password (if it has one) read from where it is stored.
pub fn engine_for(ctx: &Context, profile: &Profile) -> Result<Box<dyn engine::Engine>> {
    let password = match &profile.database {
        crate::config::DatabaseConfig::Postgres(cfg) if cfg.has_password => {
            Some(read_password(ctx, profile, cfg)?)
        }
        _ => None,
    };
    Ok(engine::open(
        &profile.database,
        &engine::EngineEnv {
            settings: ctx.config.settings.clone(),
            scratch: ctx.paths.state_dir.join("tmp"),
            password,
        },
    ))
}

/// Checks a profile before it is saved, and creates its storage folder (only adding or editing a profile may:
/// a scheduled backup never creates a missing storage folder, which is how an unmounted drive looks).
pub fn prepare_profile(profile: &Profile) -> Result<()> {
    crate::config::validate_profile_name(&profile.name)?;
    if let Some(problem) = profile.policy.problems().first() {
        return Err(Error::Usage(problem.clone()));
    }
    if let Some(files) = &profile.files_dir
        && !files.is_dir()
    {
        return Err(Error::Usage(format!(
            "files folder {} does not exist",
            files.display()
        )));
    }
    files::Excludes::new(&profile.exclude)?;
    if let Some(files) = &profile.files_dir {
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        if profile.storage_dir.starts_with(files)
            || canon(&profile.storage_dir).starts_with(canon(files))
        {
            return Err(Error::Usage(format!(
                "the storage folder {} is inside the files folder {}: every backup would hold the ones before it; choose a storage folder outside it",
                profile.storage_dir.display(),
                files.display()
            )));
        }
    }
    if !profile.storage_dir.exists() {
        fsutil::create_private_dir(&profile.storage_dir)?;
    }
    fsutil::check_writable_dir(&profile.storage_dir)
}

/// Makes the sample database and the `demo` profile if they are missing; returns what it did, for people.
pub fn ensure_demo(paths: &Paths) -> Result<Vec<String>> {
    paths.ensure()?;
    let mut done = Vec::new();
    let mut config = Config::load(&paths.config_file)?;
    let demo_dir = fsutil::parent_of(&paths.state_dir).join("demo");
    let db = demo_dir.join("shop.sqlite3");
    if !db.exists() {
        fsutil::create_private_dir(&demo_dir)?;
        crate::demo::make_sample_database(&db, 20_000)
            .map_err(|e| Error::sqlite("cannot create the demo database", e))?;
        done.push(format!("created a sample database: {}", db.display()));
    }
    let media = demo_dir.join("media");
    if !media.exists() {
        crate::demo::make_sample_media(&media)
            .ctx("cannot create the demo media folder", &media)?;
        done.push(format!(
            "created a sample files folder: {}",
            media.display()
        ));
    }
    if !config.profiles.iter().any(|p| p.name == "demo") {
        let profile = Profile {
            name: "demo".into(),
            database: crate::config::DatabaseConfig::Sqlite { path: db },
            files_dir: Some(media),
            exclude: vec!["cache/**".into()],
            default_kind: None,
            storage_dir: paths.default_storage("demo"),
            policy: crate::model::Policy::default(),
        };
        prepare_profile(&profile)?;
        config.profiles.push(profile);
        config.save(&paths.config_file)?;
        done.push(format!(
            "created profile demo (config: {})",
            paths.config_file.display()
        ));
    }
    Ok(done)
}

/// Removes a profile from the config; its archives stay unless `delete_archives`. Returns archives deleted.
pub fn remove_profile(paths: &Paths, name: &str, delete_archives: bool) -> Result<usize> {
    let mut config = Config::load(&paths.config_file)?;
    config.profile(name)?;
    let _lock = ProfileLock::acquire(paths, name)?;
    config.profiles.retain(|p| p.name != name);
    config.save(&paths.config_file)?;
    let mut removed = 0;
    if delete_archives {
        let catalog = Catalog::open(&paths.catalog_file)?;
        for row in catalog.list(Some(name), false)? {
            delete_files_of(&catalog, &row, "profile removed with its archives")?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Renames a profile in the config and in the catalog. Archives keep their file names and their manifests the old
/// name; a catalog rebuild assigns the archives in a profile's storage folder to that profile.
pub fn rename_profile(ctx: &mut Context, old: &str, new: &str) -> Result<()> {
    crate::config::validate_profile_name(new)?;
    if ctx.config.profiles.iter().any(|p| p.name == new) {
        return Err(Error::Usage(format!(
            "a profile named '{new}' already exists"
        )));
    }
    let _old_lock = ProfileLock::acquire(&ctx.paths, old)?;
    let _new_lock = ProfileLock::acquire(&ctx.paths, new)?;
    let mut config = ctx.config.clone();
    let Some(profile) = config.profiles.iter_mut().find(|p| p.name == old) else {
        return Err(ctx.config.profile(old).err().unwrap_or(Error::NoProfiles));
    };
    profile.name = new.to_string();
    ctx.catalog.rename_profile(old, new)?;
    ctx.save_config(config)
}

/// A profile's stored password (keyring, or the 0600 file the user chose); never prompts.
pub(crate) fn read_password(
    ctx: &Context,
    profile: &Profile,
    cfg: &crate::config::PostgresConfig,
) -> Result<String> {
    crate::secrets::Secrets::new(ctx.paths.secrets_dir())
        .get(&profile.name, cfg.secret_store)
        .map_err(Into::into)
}

// ---------------------------------------------------------------------------------------------------------------
// Backup

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
    /// Things skipped or changed while reading the files folder (also in the manifest).
    pub warnings: Vec<String>,
}

/// Backs up a profile: consistent copy, archive written as `.partial`, fsynced, verified, renamed; only then
/// `completed`; then retention (not after a safety backup).
pub fn backup(ctx: &Context, spec: &BackupSpec, job: &JobControl) -> Result<BackupReport> {
    let profile = ctx.config.select(spec.profile.as_deref())?.clone();
    let kind = resolve_kind(&profile, spec.kind)?;
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    ctx.logged("backup", Some(&profile.name), || {
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
            .warnings
            .iter()
            .map(|w| format!("; warning: {w}"))
            .collect::<String>();
        Ok((report, message))
    })
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
fn backup_locked(
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
    let path =
        archive::unique_archive_path(storage, &profile.name, kind, created_at, trigger, |p| {
            ctx.catalog.path_known(p)
        });
    let id = ctx
        .catalog
        .insert_running(&profile.name, kind, trigger, created_at, &path)?;
    let result = write_backup(ctx, profile, kind, trigger, created_at, &path, job);
    match result {
        Ok((done, database_size_bytes, warnings)) => {
            ctx.catalog.complete(id, &path, &done)?;
            let pruned = if matches!(trigger, Trigger::Manual | Trigger::Automatic) {
                prune_locked(ctx, profile, false)?
                    .verdicts
                    .into_iter()
                    .filter(|v| !v.keep)
                    .collect()
            } else {
                Vec::new()
            };
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
            })
        }
        Err(e) => {
            let status = if matches!(e, Error::Cancelled) {
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

/// Writes and verifies the archive; returns what the catalog records. Any error leaves no file behind.
fn write_backup(
    ctx: &Context,
    profile: &Profile,
    kind: Kind,
    trigger: Trigger,
    created_at: DateTime<Utc>,
    path: &Path,
    job: &JobControl,
) -> Result<(Completion, u64, Vec<String>)> {
    let start = Instant::now();
    let with_database = kind != Kind::Files;
    resolve_kind(profile, Some(kind))?;
    let folder = match (kind, &profile.files_dir) {
        (Kind::Full | Kind::Files, Some(dir)) => {
            let mut excludes = files::Excludes::new(&profile.exclude)?;
            let mut inside = vec![profile.storage_dir.clone()];
            if let crate::config::DatabaseConfig::Sqlite { path } = &profile.database {
                inside.push(path.clone());
            }
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
    let completion = seal(partial, path, job)?;
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
        summary.map(|s| s.warnings).unwrap_or_default(),
    ))
}

/// Verifies a finished `.partial` archive by reading it back, renames it into place and writes its sidecar.
pub(crate) fn seal(partial: TempGuard, path: &Path, job: &JobControl) -> Result<Completion> {
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
    let sha256 = report.archive_sha256.unwrap_or_default();
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

// ---------------------------------------------------------------------------------------------------------------
// Restore

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
}

/// Resolves a restore's source and target without changing anything.
pub fn plan_restore(ctx: &Context, spec: &RestoreSpec) -> Result<RestorePlan> {
    let (row, archive_path) = match &spec.source {
        BackupRef::Id(id) => {
            let row = ctx.catalog.get(*id)?;
            match row.status {
                Status::Completed => {}
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
            let path = row.path.clone();
            (Some(row), path)
        }
        BackupRef::Path(path) => {
            if !path.exists() {
                return Err(Error::Usage(format!("no such archive: {}", path.display())));
            }
            let row = ctx.catalog.find_by_path(path)?;
            (row, path.clone())
        }
    };
    let profile_name = match (&spec.profile, &row) {
        (Some(name), Some(row)) if *name != row.profile => {
            return Err(Error::Usage(format!(
                "backup {} belongs to profile {}, not {name}; import the archive into {name} first",
                row.id, row.profile
            )));
        }
        (Some(name), _) => Some(name.clone()),
        (None, Some(row)) => Some(row.profile.clone()),
        (None, None) => None,
    };
    let profile = ctx.config.select(profile_name.as_deref())?.clone();
    let target = match (&spec.target_database, &profile.database) {
        (Some(name), crate::config::DatabaseConfig::Postgres(cfg)) => {
            format!(
                "a new PostgreSQL database {name} on {}:{}",
                cfg.host, cfg.port
            )
        }
        _ => engine_for(ctx, &profile)?.describe(),
    };
    // What kind of backup it is: the catalog knows; an archive outside it says so in its manifest.
    let kind = match &row {
        Some(row) => row.kind,
        None => ArchiveReader::open(&archive_path)
            .map(|r| r.manifest.kind)
            .unwrap_or(Kind::Database),
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
    })
}

/// Restores a backup: validate everything (checksums, manifest, integrity, row counts), take a safety backup,
/// then swap. Any failure leaves the live database exactly as it was.
pub fn restore(ctx: &Context, spec: &RestoreSpec, job: &JobControl) -> Result<RestoreReport> {
    let plan = plan_restore(ctx, spec)?;
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
                let outcome = if matches!(e, Error::Cancelled) {
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
    if let Some(expected) = plan.row.as_ref().and_then(|r| r.sha256.as_deref()) {
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
    // A missing database has nothing to keep; any other problem reading it stops the restore here.
    let db_live = match &engine {
        Some(engine) => match engine.preflight() {
            Ok(()) => true,
            Err(Error::DatabaseMissing(_) | Error::RemoteDatabaseMissing { .. }) => false,
            Err(e) => {
                discard(staged_folder);
                return Err(Error::Usage(format!(
                    "the current database cannot be read, so no safety backup can be taken and nothing was restored: {e}"
                )));
            }
        },
        None => false,
    };
    let folder_live = live_folder.as_ref().is_some_and(|l| l.is_dir());
    let safety_kind = match (db_live, folder_live) {
        (true, true) => Some(Kind::Full),
        (true, false) => Some(Kind::Database),
        (false, true) => Some(Kind::Files),
        (false, false) => None,
    };
    if spec.safety_backup
        && let Some(kind) = safety_kind
    {
        job.stage("taking safety backup", None);
        match backup_locked(ctx, profile, kind, Trigger::Safety, job) {
            Ok(safety) => *safety_id = Some(safety.id),
            Err(e) => {
                discard(staged_folder);
                return Err(match e {
                    Error::Cancelled => Error::Cancelled,
                    other => Error::Usage(format!(
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
    if let Some(staged) = staged_db
        && let Err(e) = staged.apply(job)
    {
        if let Some(journal) = &journal {
            journal.remove();
        }
        discard(staged_folder);
        return Err(e);
    }
    let mut kept_folder = None;
    if let Some(folder) = staged_folder {
        let swapped = match &journal {
            Some(journal) => journal.write(JournalStep::DatabaseApplied),
            None => Ok(()),
        }
        .and_then(|()| folder.swap());
        match swapped {
            Ok(old) => kept_folder = old,
            Err(e) => {
                let rolled_back = if db_applied {
                    rollback_database(ctx, profile, *safety_id, job)
                } else {
                    Ok("")
                };
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
    let mut message = format!("restored {target} from the backup of {when}");
    if let Some(summary) = folder_summary {
        message.push_str(&format!(" ({summary})"));
    }
    if let Some(id) = safety_id {
        message.push_str(&format!(
            "; safety backup {id} holds the state from just before"
        ));
    }
    if let Some(old) = kept_folder {
        message.push_str(&format!(
            "; the previous files folder is kept as {} until you delete it",
            old.display()
        ));
    }
    Ok(report(target, false, *safety_id, message))
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
        "restored {} files, {} folders and {} links ({}) into {}",
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
) -> Result<&'static str> {
    let Some(id) = safety_id else {
        return Err(Error::Usage(
            "no safety backup was taken (--no-safety-backup), so the restored database stays"
                .into(),
        ));
    };
    let row = ctx.catalog.get(id)?;
    apply_database_of(ctx, profile, &row.path, job)?;
    Ok("; the database was put back from the safety backup")
}

/// Replaces the profile's live database with the one in `archive` (checked and staged first, as any restore).
fn apply_database_of(
    ctx: &Context,
    profile: &Profile,
    archive: &Path,
    job: &JobControl,
) -> Result<()> {
    let mut reader = ArchiveReader::open(archive)?;
    let info = reader
        .manifest
        .database
        .clone()
        .ok_or_else(|| Error::Usage(format!("{} holds no database", archive.display())))?;
    let engine = engine_for(ctx, profile)?;
    let staged =
        engine.stage_restore(&mut reader, &info, &engine::RestoreOptions::default(), job)?;
    staged.apply(job)
}

/// How far a restore that involves the files folder got when the journal was last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum JournalStep {
    /// Both parts staged and checked, the safety backup taken; the database is being replaced.
    Applying,
    /// The database (if any) was replaced; the files folder is being swapped in.
    DatabaseApplied,
}

/// `state/restore-<profile>.json`: what a restore with a files folder was doing, so that a crash between replacing
/// the database and swapping the folder (or between the swap's two renames) is finished on the next start.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct RestoreJournal {
    #[serde(skip)]
    path: PathBuf,
    profile: String,
    step: Option<JournalStep>,
    archive: PathBuf,
    live: PathBuf,
    staging: PathBuf,
    pre_restore: PathBuf,
    safety_backup_id: Option<i64>,
}

impl RestoreJournal {
    fn new(
        ctx: &Context,
        profile: &Profile,
        archive: &Path,
        folder: &files::StagedFolder,
        safety: Option<i64>,
    ) -> Self {
        RestoreJournal {
            path: journal_path(&ctx.paths, &profile.name),
            profile: profile.name.clone(),
            step: None,
            archive: archive.to_path_buf(),
            live: folder.live.clone(),
            staging: folder.staging.clone(),
            pre_restore: folder.pre_restore.clone(),
            safety_backup_id: safety,
        }
    }

    fn write(&self, step: JournalStep) -> Result<()> {
        let record = RestoreJournal {
            step: Some(step),
            ..self.clone()
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::Usage(format!("internal: cannot encode restore journal: {e}")))?;
        fsutil::atomic_write(&self.path, &json)
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn journal_path(paths: &Paths, profile: &str) -> PathBuf {
    paths.state_dir.join(format!("restore-{profile}.json"))
}

/// Finishes a restore of `profile` that a crash interrupted (the user confirmed it, and everything it needs was
/// staged and checked before anything changed), and removes staging folders a crash left before that point.
/// One sentence for the user, if there was anything to do.
fn recover_restore(ctx: &Context, profile: &Profile) -> Option<String> {
    let path = journal_path(&ctx.paths, &profile.name);
    let journal = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RestoreJournal>(&bytes).ok());
    let mut keep = None;
    let said = journal.map(|journal| {
        let said = finish_restore(ctx, profile, &journal);
        let _ = std::fs::remove_file(&path);
        keep = Some(journal.staging.clone());
        said
    });
    let _ = std::fs::remove_file(&path);
    // Staging folders of restores that died before their journal said anything changed.
    let mut removed = 0;
    if let Some(live) = &profile.files_dir
        && let Ok(listing) = std::fs::read_dir(fsutil::parent_of(live))
    {
        let prefix = files::staging_prefix(live);
        for entry in listing.flatten() {
            // A staging folder the journal's message points the user to is theirs to look at.
            if entry.file_name().to_string_lossy().starts_with(&prefix)
                && keep.as_ref().is_none_or(|k| *k != entry.path())
            {
                files::remove_tree(&entry.path());
                removed += 1;
            }
        }
    }
    said.or_else(|| {
        (removed > 0).then(|| {
            format!(
                "a restore of profile {} was interrupted before it changed anything; its temporary folder was removed",
                profile.name
            )
        })
    })
}

fn finish_restore(ctx: &Context, profile: &Profile, journal: &RestoreJournal) -> String {
    let name = &journal.profile;
    let undo = journal
        .safety_backup_id
        .map_or("(none was taken)".to_string(), |id| id.to_string());
    let swapped = !journal.staging.is_dir() && journal.live.is_dir();
    if swapped {
        return format!(
            "a restore of profile {name} was interrupted at its very end; it had finished"
        );
    }
    if !journal.staging.is_dir() {
        return format!(
            "a restore of profile {name} was interrupted and its restored files are gone; restore safety backup {undo} to return to the state before"
        );
    }
    if journal.step == Some(JournalStep::Applying) {
        // Whether the database was replaced is unknown: replace it (again) from the same archive.
        let job = JobControl::new(&crate::progress::NoProgress, Default::default());
        if let Err(e) = apply_database_of(ctx, profile, &journal.archive, &job) {
            files::remove_tree(&journal.staging);
            return format!(
                "a restore of profile {name} was interrupted while its database was being replaced, and finishing it failed ({e}); restore safety backup {undo} to return to the state before"
            );
        }
    }
    let folder = files::StagedFolder {
        live: journal.live.clone(),
        staging: journal.staging.clone(),
        pre_restore: journal.pre_restore.clone(),
        extracted: files::Extracted::default(),
    };
    match folder.swap() {
        Ok(_) => format!(
            "a restore of profile {name} was interrupted before it finished; it has now been finished (database and files folder from {})",
            journal.archive.display()
        ),
        Err(e) => format!(
            "a restore of profile {name} was interrupted and its files folder could not be put in place ({e}); the restored files are in {}",
            journal.staging.display()
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Verify

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

fn read_sidecar(archive: &Path) -> Option<String> {
    let text = std::fs::read_to_string(archive::sidecar_path(archive)).ok()?;
    text.split_whitespace().next().map(str::to_string)
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

// ---------------------------------------------------------------------------------------------------------------
// Import

/// What one imported file became.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The file given.
    pub source: PathBuf,
    /// The new backup's catalog row.
    pub backup: BackupRow,
    /// What the file was recognised as.
    pub detected: String,
    /// What the user should know: what an import left out of the file (pg_dump's `--create` preamble, owners).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Imports a file as an `uploaded` backup of a profile: a Backstop archive, or another app's backup recognised
/// by its content (see [`crate::import`]). It is checked fully before it is catalogued; a refused file adds
/// nothing.
pub fn import(
    ctx: &Context,
    file: &Path,
    profile: Option<&str>,
    job: &JobControl,
) -> Result<ImportReport> {
    let profile = ctx.config.select(profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    ctx.logged("import", Some(&profile.name), || {
        let report = crate::import::import_locked(ctx, &profile, file, job)?;
        let message = format!(
            "imported {} ({}) as backup {}",
            file.display(),
            report.detected,
            report.backup.id
        );
        Ok((report, message))
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Export, delete, pin

/// Copies a completed backup's archive to `to` (a file, or a folder to put it in), checking its SHA-256 on the way;
/// written as a temporary file, fsynced, renamed. A sidecar `.sha256` goes beside it.
pub fn export(ctx: &Context, id: i64, to: &Path, job: &JobControl) -> Result<PathBuf> {
    let row = ctx.catalog.get(id)?;
    if row.status != Status::Completed {
        return Err(Error::Usage(format!(
            "backup {id} is {}; only completed backups can be exported",
            row.status
        )));
    }
    let dest = if to.is_dir() {
        to.join(row.path.file_name().unwrap_or_default())
    } else {
        to.to_path_buf()
    };
    if dest.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; choose another name",
            dest.display()
        )));
    }
    ctx.logged("export", Some(&row.profile), || {
        let partial = TempGuard::new(fsutil::partial_path(&dest));
        let mut input = std::fs::File::open(&row.path).ctx("cannot read archive", &row.path)?;
        let total = input.metadata().ok().map(|m| m.len());
        let mut out = fsutil::create_private(partial.path())?;
        let copied =
            crate::progress::copy_hashing(&mut input, &mut out, u64::MAX, job, "exporting", total)
                .map_err(|e| match e {
                    crate::progress::CopyError::Read(e) => {
                        Error::io("cannot read archive", &row.path, e)
                    }
                    crate::progress::CopyError::Write(e) => {
                        Error::io("cannot write the copy", &dest, e)
                    }
                    crate::progress::CopyError::TooLarge(_) => {
                        Error::damaged(&row.path, "too large")
                    }
                    crate::progress::CopyError::Cancelled => Error::Cancelled,
                })?;
        if Some(&copied.sha256) != row.sha256.as_ref() {
            ctx.catalog
                .set_status(id, Status::Corrupted, Some("archive checksum mismatch"))?;
            return Err(Error::damaged(
                &row.path,
                "its SHA-256 differs from the one recorded; not exported",
            ));
        }
        out.sync_all().ctx("cannot sync", partial.path())?;
        drop(out);
        fsutil::rename_no_replace(partial.path(), &dest)?;
        partial.keep();
        archive::write_sidecar(&dest, &copied.sha256)?;
        Ok((
            dest.clone(),
            format!("exported backup {id} to {}", dest.display()),
        ))
    })
}

/// Deletes a backup: the catalog row is marked `deleted` first, then the archive and its sidecars are removed.
pub fn delete(ctx: &Context, id: i64) -> Result<BackupRow> {
    let row = ctx.catalog.get(id)?;
    if row.status == Status::Deleted {
        return Err(Error::Usage(format!("backup {id} is already deleted")));
    }
    if row.pinned {
        return Err(Error::Usage(format!(
            "backup {id} is pinned; unpin it first (`backstop unpin {id}`)"
        )));
    }
    let _lock = ProfileLock::acquire(&ctx.paths, &row.profile)?;
    ctx.logged("delete", Some(&row.profile), || {
        delete_files(ctx, &row, "deleted by the user")?;
        Ok((
            row.clone(),
            format!("deleted backup {id} ({})", row.path.display()),
        ))
    })
}

fn delete_files(ctx: &Context, row: &BackupRow, reason: &str) -> Result<()> {
    delete_files_of(&ctx.catalog, row, reason)
}

/// Marks the row `deleted` first, then removes the archive and its sidecars (a crash in between leaves a
/// deleted row whose file a later rebuild would bring back, never a completed row without its file).
fn delete_files_of(catalog: &Catalog, row: &BackupRow, reason: &str) -> Result<()> {
    catalog.set_status(row.id, Status::Deleted, Some(reason))?;
    for path in [
        archive::sidecar_path(&row.path),
        archive::pin_marker_path(&row.path),
        row.path.clone(),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot delete", &path, e)),
        }
    }
    fsutil::sync_dir(fsutil::parent_of(&row.path))
}

/// Pins (never deleted by retention) or unpins a backup; the pin is also a `.pinned` file beside the archive.
pub fn pin(ctx: &Context, id: i64, pinned: bool) -> Result<BackupRow> {
    let row = ctx.catalog.get(id)?;
    if row.status == Status::Deleted {
        return Err(Error::Usage(format!("backup {id} is deleted")));
    }
    let marker = archive::pin_marker_path(&row.path);
    if pinned {
        fsutil::atomic_write(&marker, b"")?;
    } else {
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove pin marker", &marker, e)),
        }
    }
    ctx.catalog.set_pinned(id, pinned)?;
    ctx.catalog.get(id)
}

// ---------------------------------------------------------------------------------------------------------------
// Prune

/// Retention's plan for a profile, and whether it was carried out.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Profile name.
    pub profile: String,
    /// Only planned, nothing deleted.
    pub dry_run: bool,
    /// One verdict per completed backup, newest first.
    pub verdicts: Vec<retention::Verdict>,
}

/// Applies the profile's retention policy (or only shows it with `dry_run`).
pub fn prune(ctx: &Context, profile: Option<&str>, dry_run: bool) -> Result<PruneReport> {
    let profile = ctx.config.select(profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    if dry_run {
        return prune_locked(ctx, &profile, true);
    }
    ctx.logged("prune", Some(&profile.name), || {
        let report = prune_locked(ctx, &profile, false)?;
        let n = report.verdicts.iter().filter(|v| !v.keep).count();
        Ok((report, format!("retention deleted {n} backup(s)")))
    })
}

fn prune_locked(ctx: &Context, profile: &Profile, dry_run: bool) -> Result<PruneReport> {
    let rows = ctx.catalog.list(Some(&profile.name), false)?;
    let summaries: Vec<retention::BackupSummary> = rows
        .iter()
        .map(|r| retention::BackupSummary {
            id: r.id,
            created_at: r.created_at,
            trigger: r.trigger,
            status: r.status,
            pinned: r.pinned,
        })
        .collect();
    let verdicts = retention::plan(&summaries, &profile.policy, Utc::now());
    if !dry_run {
        for verdict in retention::deletions(&verdicts) {
            if let Some(row) = rows.iter().find(|r| r.id == verdict.id) {
                delete_files(ctx, row, &format!("retention: {}", verdict.reason))?;
                ctx.log(
                    "prune",
                    Some(&profile.name),
                    "deleted",
                    &format!(
                        "backup {} ({}): {}",
                        row.id,
                        row.path.display(),
                        verdict.reason
                    ),
                );
            }
        }
    }
    Ok(PruneReport {
        profile: profile.name.clone(),
        dry_run,
        verdicts,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Run due

/// What `run-due` did for one profile.
#[derive(Debug, Clone, Serialize)]
pub struct DueOutcome {
    /// Profile name.
    pub profile: String,
    /// Whether a backup was due.
    pub due: bool,
    /// Intervals missed beyond the one due now.
    pub missed: u32,
    /// Why (not) due.
    pub reason: String,
    /// The backup made, if one was due and it worked.
    pub backup: Option<BackupReport>,
    /// Why the backup failed, if it did.
    pub error: Option<String>,
}

/// Runs every automatic backup that is due (for cron, systemd timers and Task Scheduler).
pub fn run_due(ctx: &Context, job: &JobControl, now: DateTime<Utc>) -> Result<Vec<DueOutcome>> {
    let mut outcomes = Vec::new();
    for profile in &ctx.config.profiles {
        let last = ctx.catalog.last_automatic(&profile.name)?;
        let check = schedule::check(
            last,
            profile.policy.auto_enabled,
            profile.policy.auto_interval_hours,
            now,
        );
        let mut outcome = DueOutcome {
            profile: profile.name.clone(),
            due: check.due,
            missed: check.missed,
            reason: check.reason.clone(),
            backup: None,
            error: None,
        };
        if check.due {
            let spec = BackupSpec {
                profile: Some(profile.name.clone()),
                kind: None,
                trigger: Trigger::Automatic,
            };
            match backup(ctx, &spec, job) {
                Ok(report) => outcome.backup = Some(report),
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => outcome.error = Some(e.to_string()),
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

// ---------------------------------------------------------------------------------------------------------------
// Stats

/// Numbers about a profile's backups.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Profile name.
    pub profile: String,
    /// Backups (not deleted) by trigger.
    pub by_trigger: BTreeMap<String, u64>,
    /// Backups (not deleted) by status.
    pub by_status: BTreeMap<String, u64>,
    /// Total size of completed archives.
    pub total_size_bytes: u64,
    /// Average size of a completed archive.
    pub average_size_bytes: u64,
    /// Size of the live database now (None when it cannot be read, or was not asked).
    pub database_size_bytes: Option<u64>,
    /// Server version, largest tables, kept copies (server engines, when asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<engine::EngineDetails>,
    /// The most recent backup job of any outcome.
    pub last_backup: Option<BackupRow>,
    /// When the last automatic backup was taken.
    pub last_automatic_at: Option<DateTime<Utc>>,
    /// When the next automatic backup falls due.
    pub next_automatic_at: Option<DateTime<Utc>>,
    /// Completed backups over finished backup jobs (manual, automatic, safety), in percent.
    pub success_rate_percent: Option<f64>,
}

/// Computes a profile's statistics.
///
/// With `ask_server`, server engines are asked for their size and details (a round trip that waits for an
/// unreachable server); the window's snapshots pass false and ask separately.
pub fn stats(
    ctx: &Context,
    profile: Option<&str>,
    now: DateTime<Utc>,
    ask_server: bool,
) -> Result<Stats> {
    let profile = ctx.config.select(profile)?;
    let is_server = profile.database.engine() != crate::model::EngineKind::Sqlite;
    let (database_size_bytes, details) = if is_server && !ask_server {
        (None, None)
    } else {
        let engine = engine_for(ctx, profile)?;
        (
            engine.size_bytes().ok(),
            if is_server {
                engine.details().ok()
            } else {
                None
            },
        )
    };
    let all = ctx.catalog.list(Some(&profile.name), true)?;
    let live: Vec<&BackupRow> = all.iter().filter(|r| r.status != Status::Deleted).collect();
    let mut by_trigger = BTreeMap::new();
    let mut by_status = BTreeMap::new();
    for row in &live {
        *by_trigger.entry(row.trigger.to_string()).or_insert(0) += 1;
        *by_status.entry(row.status.to_string()).or_insert(0) += 1;
    }
    let completed: Vec<&&BackupRow> = live
        .iter()
        .filter(|r| r.status == Status::Completed)
        .collect();
    let total: u64 = completed.iter().filter_map(|r| r.size_bytes).sum();
    let jobs: Vec<&BackupRow> = all
        .iter()
        .filter(|r| {
            r.trigger != Trigger::Uploaded
                && r.status != Status::Running
                && r.status != Status::Cancelled
        })
        .collect();
    let good = jobs
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                Status::Completed | Status::Deleted | Status::Corrupted
            )
        })
        .count();
    let last_automatic_at = ctx.catalog.last_automatic(&profile.name)?;
    let due = schedule::check(
        last_automatic_at,
        profile.policy.auto_enabled,
        profile.policy.auto_interval_hours,
        now,
    );
    let last_backup = all
        .iter()
        .filter(|r| r.trigger != Trigger::Uploaded)
        .max_by_key(|r| r.id)
        .cloned();
    Ok(Stats {
        profile: profile.name.clone(),
        by_trigger,
        by_status,
        total_size_bytes: total,
        average_size_bytes: if completed.is_empty() {
            0
        } else {
            total / completed.len() as u64
        },
        database_size_bytes,
        details,
        last_backup,
        last_automatic_at,
        next_automatic_at: due.next_at,
        success_rate_percent: if jobs.is_empty() {
            None
        } else {
            Some(100.0 * good as f64 / jobs.len() as f64)
        },
    })
}

/// The restore log and job log, for `backstop log`.
pub fn history(
    ctx: &Context,
    profile: Option<&str>,
    limit: usize,
) -> Result<(Vec<RestoreRow>, Vec<JobRow>)> {
    Ok((
        ctx.catalog.restores(profile)?,
        ctx.catalog.jobs(profile, limit)?,
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// Catalog rebuild

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
    let mut locks = Vec::new();
    for profile in &config.profiles {
        locks.push(ProfileLock::acquire(paths, &profile.name)?);
    }
    let new_path = fsutil::partial_path(&paths.catalog_file);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = new_path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let mut report = RebuildReport {
        archives: 0,
        damaged: Vec::new(),
        old_catalog: None,
    };
    {
        let catalog = Catalog::open(&new_path)?;
        let mut rows = Vec::new();
        let mut seen_dirs = std::collections::HashSet::new();
        for profile in &config.profiles {
            if !seen_dirs.insert(profile.storage_dir.clone()) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&profile.storage_dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "zip") && p.is_file())
                .collect();
            files.sort();
            for file in files {
                job.check()?;
                let mut row = row_from_archive(&file, &profile.name, &mut report);
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
        if let Ok(old) = Catalog::open(&paths.catalog_file)
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
        if paths.catalog_file.exists() && catalog.copy_history_from(&paths.catalog_file).is_err() {
            report
                .damaged
                .push("the old catalog's restore and job logs could not be read".into());
        }
        // Leave a single self-contained file before the rename.
        catalog.into_single_file()?;
    }
    if paths.catalog_file.exists() {
        let stamp = Utc::now().format("%Y%m%d_%H%M%S");
        let old = paths
            .catalog_file
            .with_file_name(format!("catalog.sqlite3.old-{stamp}"));
        std::fs::rename(&paths.catalog_file, &old)
            .ctx("cannot move old catalog aside", &paths.catalog_file)?;
        for suffix in ["-wal", "-shm"] {
            let mut from = paths.catalog_file.clone().into_os_string();
            from.push(suffix);
            let mut to = old.clone().into_os_string();
            to.push(suffix);
            let _ = std::fs::rename(PathBuf::from(from), PathBuf::from(to));
        }
        report.old_catalog = Some(old);
    }
    std::fs::rename(&new_path, &paths.catalog_file)
        .ctx("cannot put new catalog in place", &paths.catalog_file)?;
    fsutil::sync_dir(fsutil::parent_of(&paths.catalog_file))?;
    drop(locks);
    Ok(report)
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
            }
        }
    }
}
