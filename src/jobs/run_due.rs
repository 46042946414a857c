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
