//! Prune: a profile's retention policy applied.

use super::context::Context;
use super::manage::delete_files;
use crate::config::Profile;
use crate::error::Result;
use crate::lock::ProfileLock;
use crate::retention;
use chrono::Utc;
use serde::Serialize;

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
pub(super) fn prune_locked(
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
