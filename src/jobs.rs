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
use crate::{change, restore_log, retention, schedule};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
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
        // First, before anything can fail: password and temporary files of Backstop processes that are gone.
        let swept = crate::leftovers::sweep(&paths);
        let config = Config::load(&paths.config_file)?;
        let catalog = Catalog::open(&paths.catalog_file)?;
        let mut ctx = Context {
            paths,
            config,
            catalog,
            recovered: swept,
        };
        ctx.reconcile()?;
        Ok(ctx)
    }

    /// Saves the config atomically and keeps it in memory.
    pub fn save_config(&mut self, config: Config) -> Result<()> {
        // Never in the middle of another process's read-change-write of the same file.
        let _lock = crate::lock::FileLock::acquire(&self.paths.config_file)?;
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
        // Partial files of jobs that are gone were removed by `leftovers::sweep` before this.
        for profile in &profiles {
            if !locked.contains_key(&profile.name) {
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
        if let Ok(mut file) =
            fsutil::open_private(std::fs::OpenOptions::new().create(true).append(true), &path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// Runs `body` as a logged job: a job-log row, a log-file line, the outcome recorded either way.
    pub(crate) fn logged<T>(
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
    if let Some(problem) = profile.problems().first() {
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
    let (mut config, _config_lock) = Config::load_for_update(&paths.config_file)?;
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

/// Removes a profile from the config, and its stored password; its archives stay unless `delete_archives`.
/// Returns archives deleted.
pub fn remove_profile(paths: &Paths, name: &str, delete_archives: bool) -> Result<usize> {
    let (mut config, config_lock) = Config::load_for_update(&paths.config_file)?;
    let profile = config.profile(name)?.clone();
    let _lock = ProfileLock::acquire(paths, name)?;
    // The password goes first: if it cannot (a locked keyring), nothing is removed and nothing is left behind.
    let secrets = crate::secrets::Secrets::new(paths.secrets_dir());
    let deleted = match secret_store_of(&profile) {
        Some(store) => {
            let password = secrets.get(name, store).ok();
            secrets
                .delete(name, store)
                .map_err(|e| secret_not_followed(name, ("removed", "deleted"), e))?;
            password.map(|password| (store, password))
        }
        None => None,
    };
    config.profiles.retain(|p| p.name != name);
    if let Err(e) = config.save(&paths.config_file) {
        if let Some((store, password)) = deleted {
            let _ = secrets.set(name, store, &password);
        }
        return Err(e);
    }
    drop(config_lock);
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
    // Read, change and write the config under its lock (another process may have changed it since `ctx` read it).
    let (mut config, config_lock) = Config::load_for_update(&ctx.paths.config_file)?;
    if config.profiles.iter().any(|p| p.name == new) {
        return Err(Error::Usage(format!(
            "a profile named '{new}' already exists"
        )));
    }
    let Some(profile) = config.profiles.iter_mut().find(|p| p.name == old) else {
        return Err(config.profile(old).err().unwrap_or(Error::NoProfiles));
    };
    profile.name = new.to_string();
    // The password moves first: if it cannot (a locked keyring), nothing is renamed and nothing is stranded.
    let store = secret_store_of(profile);
    let secrets = crate::secrets::Secrets::new(ctx.paths.secrets_dir());
    if let Some(store) = store {
        secrets
            .rename(old, new, store)
            .map_err(|e| secret_not_followed(old, ("renamed", "moved"), e))?;
    }
    let renamed = ctx
        .catalog
        .rename_profile(old, new)
        .and_then(|()| config.save(&ctx.paths.config_file))
        .map(|()| ctx.config = config);
    drop(config_lock);
    if renamed.is_err()
        && let Some(store) = store
    {
        let _ = secrets.rename(new, old, store);
    }
    renamed
}

/// Where a profile's password is kept, when it may have one: a server profile with a stored password, or whose
/// store is a file (a stale file is cleaned up too; a keyring without a password is never asked).
pub(crate) fn secret_store_of(profile: &Profile) -> Option<crate::secrets::SecretStore> {
    match &profile.database {
        crate::config::DatabaseConfig::Postgres(cfg)
            if cfg.has_password || cfg.secret_store == crate::secrets::SecretStore::File =>
        {
            Some(cfg.secret_store)
        }
        _ => None,
    }
}

/// A profile change refused because its password could not follow it (`change` the profile's, `follow` the
/// password's: "renamed" and "moved", "removed" and "deleted").
fn secret_not_followed(
    profile: &str,
    (change, follow): (&str, &str),
    e: crate::secrets::SecretError,
) -> Error {
    Error::Usage(format!(
        "profile {profile} was not {change}: its stored password could not be {follow}: {e}"
    ))
}

/// A profile's stored password (keyring, or the 0600 file the user chose); never prompts.
pub(crate) fn read_password(
    ctx: &Context,
    profile: &Profile,
    cfg: &crate::config::PostgresConfig,
) -> Result<String> {
    use crate::secrets::SecretError;
    crate::secrets::Secrets::new(ctx.paths.secrets_dir())
        .get(&profile.name, cfg.secret_store)
        .map_err(|e| match e {
            // The store itself failed while a job ran: the job failed (exit 1); the configuration is fine.
            SecretError::KeyringUnavailable(_)
            | SecretError::Keyring(_)
            | SecretError::Io { .. } => Error::JobFailed(e.to_string()),
            other => other.into(),
        })
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
    /// Things skipped or changed while reading the files folder (also in the manifest), then what the change
    /// check flagged (also in the catalog).
    pub warnings: Vec<String>,
    /// Why the retention run after this backup deleted nothing, when the change check flagged it.
    pub retention_skipped: Option<String>,
}

impl BackupReport {
    /// For a flagged backup, what a notification says: the warnings, then why retention deleted nothing.
    pub fn flagged_text(&self) -> Option<String> {
        let why = self.retention_skipped.as_ref()?;
        Some(format!("{}. {why}", self.warnings.join("; ")))
    }
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
        Ok((mut done, database_size_bytes, mut warnings)) => {
            done.warnings = change_flags(ctx, profile, kind, trigger, id, &done)?;
            ctx.catalog.complete(id, &path, &done)?;
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
             backup that is not flagged, or prune by hand with `backstop prune`"
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
    /// Consent to restoring a backup of one profile into another (same engine only).
    pub allow_other_profile: bool,
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
    // The archive's own word on what it is; an archive outside the catalog is read for it.
    let manifest = ArchiveReader::open(&archive_path)?.manifest;
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
                return Err(Error::JobFailed(format!(
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
        match backup_locked(ctx, profile, kind, Trigger::Safety, job).and_then(|safety| {
            // In the log at once: a restore Backstop does not see to its end still names it.
            ctx.catalog
                .note_restore(&profile.name, None, Some(safety.id))
                .map(|()| safety)
        }) {
            Ok(safety) => *safety_id = Some(safety.id),
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
    // The log learns each step before it happens, so that the next start can tell what a killed restore did.
    if db_applied
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
    if let Some(staged) = staged_db
        && let Err(e) = staged.apply(job)
    {
        if let Some(journal) = &journal {
            journal.remove();
        }
        discard(staged_folder);
        return Err(e);
    }
    if db_applied {
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
) -> Result<String> {
    let Some(id) = safety_id else {
        return Err(Error::JobFailed(
            "no safety backup was taken (--no-safety-backup), so the restored database stays"
                .into(),
        ));
    };
    let row = ctx.catalog.get(id)?;
    apply_database_of(ctx, profile, &row.path, job)?;
    Ok(format!(
        "; the database was put back from the safety backup ({id}, which holds the state from before)"
    ))
}

/// Replaces the profile's live database with the one in `archive` (checked and staged first, as any restore).
pub(crate) fn apply_database_of(
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
        .ok_or_else(|| Error::JobFailed(format!("{} holds no database", archive.display())))?;
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
        let json = serde_json::to_vec_pretty(&record).map_err(|e| {
            Error::JobFailed(format!("internal: cannot encode restore journal: {e}"))
        })?;
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
    let mut settled = None;
    let said = journal.map(|journal| {
        let (how, said) = finish_restore(ctx, profile, &journal);
        let _ = std::fs::remove_file(&path);
        keep = Some(journal.staging.clone());
        settled = Some(how);
        said
    });
    // The restore log says what really happened, and which safety backup holds the state from before.
    let logged = restore_log::settle(ctx, profile, settled);
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
    said.or(logged).or_else(|| {
        (removed > 0).then(|| {
            format!(
                "a restore of profile {} was interrupted before it changed anything; its temporary folder was removed",
                profile.name
            )
        })
    })
}

fn finish_restore(
    ctx: &Context,
    profile: &Profile,
    journal: &RestoreJournal,
) -> (restore_log::Settled, String) {
    use restore_log::Settled;
    let name = &journal.profile;
    let undo = journal
        .safety_backup_id
        .map_or("(none was taken)".to_string(), |id| id.to_string());
    let swapped = !journal.staging.is_dir() && journal.live.is_dir();
    if swapped {
        return (
            Settled::Replaced,
            format!("a restore of profile {name} was interrupted at its very end; it had finished"),
        );
    }
    if !journal.staging.is_dir() {
        let said = format!(
            "a restore of profile {name} was interrupted and its restored files are gone; restore safety backup {undo} to return to the state before"
        );
        return (Settled::Failed(said.clone()), said);
    }
    if journal.step == Some(JournalStep::Applying) {
        // Whether the database was replaced is unknown: replace it (again) from the same archive.
        let job = JobControl::new(&crate::progress::NoProgress, Default::default());
        if let Err(e) = apply_database_of(ctx, profile, &journal.archive, &job) {
            files::remove_tree(&journal.staging);
            let said = format!(
                "a restore of profile {name} was interrupted while its database was being replaced, and finishing it failed ({e}); restore safety backup {undo} to return to the state before"
            );
            return (Settled::Failed(said.clone()), said);
        }
    }
    let folder = files::StagedFolder {
        live: journal.live.clone(),
        staging: journal.staging.clone(),
        pre_restore: journal.pre_restore.clone(),
        extracted: files::Extracted::default(),
    };
    match folder.swap() {
        Ok(_) => (
            Settled::FinishedNow,
            format!(
                "a restore of profile {name} was interrupted before it finished; it has now been finished (database and files folder from {})",
                journal.archive.display()
            ),
        ),
        Err(e) => {
            let said = format!(
                "a restore of profile {name} was interrupted and its files folder could not be put in place ({e}); the restored files are in {}",
                journal.staging.display()
            );
            (Settled::Failed(said.clone()), said)
        }
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

/// The SHA-256 a `.sha256` sidecar records: only 64 lowercase hex digits count (the file is not trusted, and only
/// its first line is read).
fn read_sidecar(archive: &Path) -> Option<String> {
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

// ---------------------------------------------------------------------------------------------------------------
// Import

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
        return prune_locked(ctx, &profile, true, None);
    }
    ctx.logged("prune", Some(&profile.name), || {
        let report = prune_locked(ctx, &profile, false, None)?;
        let n = report.verdicts.iter().filter(|v| !v.keep).count();
        Ok((report, format!("retention deleted {n} backup(s)")))
    })
}

/// `just_made`: the backup this run follows, which it never deletes (None for an explicit prune).
fn prune_locked(
    ctx: &Context,
    profile: &Profile,
    dry_run: bool,
    just_made: Option<i64>,
) -> Result<PruneReport> {
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
    let verdicts = retention::plan_after(&summaries, &profile.policy, Utc::now(), just_made);
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
            }
        }
    }
}
