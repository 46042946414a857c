//! Run due: every automatic backup that is due.

use super::backup::{BackupReport, BackupSpec, backup};
use super::context::Context;
use crate::error::{Error, Result};
use crate::model::Trigger;
use crate::progress::JobControl;
use crate::schedule;
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// Why a due backup was not started without it being a failure: another job (the window, another
    /// `run-due`) holds the profile's lock; the next run checks again.
    pub skipped: Option<String>,
    /// Copies to destinations made in this run when no backup was made (retries of failed copies, copies queued
    /// by another process); a backup's own copies are in its report.
    pub copies: Vec<super::copy::DestSync>,
}

/// What `run-due` says when `settings.automatic_paused` is set (the tray's or the window's Pause).
pub const PAUSED: &str =
    "automatic backups are paused (resume them in the window or with `backstop resume`)";

/// Runs every automatic backup that is due (for cron, systemd timers and Task Scheduler). While automatic
/// backups are paused it starts none: every profile's outcome says so. A profile another job holds (the window
/// backing it up) is skipped with a note, not failed: its backup is being made, or the next run makes it.
pub fn run_due(ctx: &Context, job: &JobControl, now: DateTime<Utc>) -> Result<Vec<DueOutcome>> {
    let mut outcomes = Vec::new();
    if ctx.config.settings.automatic_paused {
        return Ok(ctx
            .config
            .profiles
            .iter()
            .map(|profile| DueOutcome {
                profile: profile.name.clone(),
                due: false,
                missed: 0,
                reason: PAUSED.into(),
                backup: None,
                error: None,
                skipped: None,
                copies: Vec::new(),
            })
            .collect());
    }
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
            skipped: None,
            copies: Vec::new(),
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
                Err(Error::ProfileBusy(_)) => {
                    let why = "another Backstop job (the open window, or another run-due) is working on this \
                               profile; not started, the next run checks again"
                        .to_string();
                    ctx.log("run-due", Some(&profile.name), "skipped", &why);
                    outcome.skipped = Some(why);
                }
                Err(e) => outcome.error = Some(e.to_string()),
            }
        }
        // Copies waiting for their retry (a destination that was down, a failed check) go now when their wait is
        // over; a backup made above already copied.
        if outcome.backup.is_none() && ctx.config.destinations_of(&profile.name).next().is_some() {
            match super::copy::sync(ctx, Some(&profile.name), false, job) {
                Ok(copies) => outcome.copies = copies,
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => {
                    outcome.copies = ctx
                        .config
                        .destinations_of(&profile.name)
                        .map(|d| super::copy::DestSync::failed(&d.name, &e.to_string()))
                        .collect()
                }
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Pauses (true) or resumes automatic backups for the window's scheduler and `run-due` alike
/// (`settings.automatic_paused`, read-change-write under the config's lock). Returns whether it changed.
pub fn set_automatic_paused(paths: &crate::config::Paths, paused: bool) -> Result<bool> {
    let (mut config, _lock) = crate::config::Config::load_for_update(&paths.config_file)?;
    if config.settings.automatic_paused == paused {
        return Ok(false);
    }
    config.settings.automatic_paused = paused;
    config.save(&paths.config_file)?;
    Ok(true)
}
