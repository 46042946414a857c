//! Statistics and history.

use super::context::Context;
use super::profile::engine_for;
use crate::catalog::{BackupRow, JobRow, RestoreRow};
use crate::engine;
use crate::error::Result;
use crate::model::{Status, Trigger};
use crate::schedule;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// The most recent backup job of any outcome but deleted (a deleted backup is gone, not the last one).
    pub last_backup: Option<BackupRow>,
    /// When the last automatic backup was taken.
    pub last_automatic_at: Option<DateTime<Utc>>,
    /// When the next automatic backup falls due.
    pub next_automatic_at: Option<DateTime<Utc>>,
    /// Completed backups over finished backup jobs (manual, automatic, safety), in percent.
    pub success_rate_percent: Option<f64>,
    /// The backup jobs of the last [`RECENT_DAYS`] days: how many finished, how many succeeded.
    pub last_30_days: Outcomes,
    /// The profile's destinations: what each holds and how far behind it is (`health::dest_alerts` judges them).
    pub destinations: Vec<super::DestInfo>,
}

/// How many days [`Stats::last_30_days`] looks back.
pub const RECENT_DAYS: i64 = 30;

/// How many backup jobs finished and how many of them succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Jobs that ended (cancelled ones and imported archives are not jobs that could fail).
    pub finished: u64,
    /// Those that completed (a backup deleted or found corrupted since still completed).
    pub succeeded: u64,
}

impl Outcomes {
    /// Counts the finished backup jobs among `rows`.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a BackupRow>) -> Outcomes {
        let mut outcomes = Outcomes::default();
        for row in rows {
            if row.trigger == Trigger::Uploaded
                || matches!(row.status, Status::Running | Status::Cancelled)
            {
                continue;
            }
            outcomes.finished += 1;
            if matches!(
                row.status,
                Status::Completed | Status::Deleted | Status::Corrupted
            ) {
                outcomes.succeeded += 1;
            }
        }
        outcomes
    }

    /// How many failed.
    pub fn failed(&self) -> u64 {
        self.finished.saturating_sub(self.succeeded)
    }

    /// "29 of 30 succeeded", or "no backups" when none finished.
    pub fn words(&self) -> String {
        if self.finished == 0 {
            "no backups".to_string()
        } else {
            format!("{} of {} succeeded", self.succeeded, self.finished)
        }
    }
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
    let is_server = profile.database.is_server();
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
    let jobs = Outcomes::of(&all);
    let since = now - Duration::days(RECENT_DAYS);
    let last_30_days = Outcomes::of(all.iter().filter(|r| r.created_at > since));
    let last_automatic_at = ctx.catalog.last_automatic(&profile.name)?;
    let due = schedule::check(
        last_automatic_at,
        profile.policy.auto_enabled,
        profile.policy.auto_interval_hours,
        now,
    );
    let last_backup = live
        .iter()
        .copied()
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
        success_rate_percent: if jobs.finished == 0 {
            None
        } else {
            Some(100.0 * jobs.succeeded as f64 / jobs.finished as f64)
        },
        last_30_days,
        destinations: ctx
            .config
            .destinations_of(&profile.name)
            .map(|d| super::dest::info(ctx, d))
            .collect::<Result<_>>()?,
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
