//! The context every job runs in: the config, the catalog, the start-up reconciliation and the job log.

use super::profile::engine_for;
use super::restore_journal::recover_restore;
use crate::archive;
use crate::catalog::{BackupRow, Catalog, Completion};
use crate::config::{Config, Paths, Profile};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::lock::ProfileLock;
use crate::model::Status;
use crate::progress::JobControl;
use chrono::Utc;
use std::io::Write;
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
            // The server first (a swap a kill interrupted is finished or undone, so the database is whole), then
            // the restore log, which may finish the user's confirmed restore from its archive.
            let scratch = clean_server_scratch(self, profile);
            self.recovered.extend(scratch);
            if let Some(message) = recover_restore(self, profile) {
                self.recovered.push(message);
            }
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

/// Drops the staging databases and import roles that killed jobs of a server profile left on its server (see
/// `engine::postgres::scratch`). Only called with the profile's lock held; the server is contacted only when a
/// job registered something it did not drop, and briefly (an unreachable server is reported, not waited for).
fn clean_server_scratch(ctx: &Context, profile: &Profile) -> Vec<String> {
    let Some(cfg) = profile.database.server() else {
        return Vec::new();
    };
    if !profile
        .database
        .family()
        .scratch_pending(&ctx.paths.tmp_dir())
    {
        return Vec::new();
    }
    match engine_for(ctx, profile) {
        Ok(engine) => engine.clean_scratch(),
        Err(e) => vec![format!(
            "could not check for staging databases left on {}:{} by an interrupted job of profile {} ({e})",
            cfg.host, cfg.port, profile.name
        )],
    }
}

pub(super) fn millis(start: Instant) -> u64 {
    start.elapsed().as_millis().min(u128::from(u64::MAX)) as u64
}
