//! Human output: terminal progress, the parts of tables and reports shared by commands, JSON, and the
//! confirmation prompt.

use super::output;
use crate::error::{Error, Result};
use crate::jobs;
use crate::progress::{ProgressSink, ProgressUpdate, human_size};
use chrono::Utc;
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Shows progress on stderr when it is a terminal.
pub(super) struct TerminalProgress;

impl ProgressSink for TerminalProgress {
    fn update(&self, u: &ProgressUpdate) {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let line = match u.total {
            Some(total) if total > 0 => format!(
                "\r{}: {:.1} / {:.1} MiB ({:.0}%)   ",
                u.stage,
                mib(u.done),
                mib(total),
                100.0 * u.done as f64 / total as f64
            ),
            _ => format!("\r{}: {:.1} MiB   ", u.stage, mib(u.done)),
        };
        let mut err = std::io::stderr();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }
}

/// The plain `list` notes for a backup dated in the future or flagged by the change check.
pub(super) fn row_marks(row: &crate::catalog::BackupRow) -> String {
    let mut marks = String::new();
    if let Some(secs) = row.clock_ahead_secs {
        marks.push_str(&format!(
            "  (dated {} ahead: clock?)",
            crate::retention::span_text(secs)
        ));
    }
    if !row.warnings.is_empty() {
        marks.push_str(&format!("  (flagged: {})", row.warnings.join("; ")));
    }
    marks
}

pub(super) fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::JobFailed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// The diff with nothing in it but the same sizes (to say "no difference").
pub(super) fn archive_diff_empty(
    diff: &crate::archive::ManifestDiff,
) -> crate::archive::ManifestDiff {
    crate::archive::ManifestDiff {
        database_size_before: diff.database_size_before,
        database_size_after: diff.database_size_before,
        ..Default::default()
    }
}

pub(super) fn print_stats(s: &jobs::Stats) {
    let when = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    println!("Profile {}", s.profile);
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  backups by trigger: {}", join(&s.by_trigger));
    println!("  backups by status:  {}", join(&s.by_status));
    println!(
        "  total size: {}, average {}",
        human_size(s.total_size_bytes),
        human_size(s.average_size_bytes)
    );
    println!(
        "  database size now: {}",
        s.database_size_bytes
            .map(human_size)
            .unwrap_or_else(|| "unreadable".into())
    );
    match &s.last_backup {
        Some(b) => println!(
            "  last backup: {} ({}, {}, {:.1} s)",
            b.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            b.status,
            b.trigger,
            b.duration_ms.unwrap_or(0) as f64 / 1000.0
        ),
        None => println!("  last backup: never"),
    }
    println!("  last automatic backup: {}", when(s.last_automatic_at));
    println!("  next automatic backup: {}", when(s.next_automatic_at));
    if let Some(rate) = s.success_rate_percent {
        println!("  success rate: {rate:.0}%");
    }
    println!("  last 30 days: {}", s.last_30_days.words());
    print_destinations(&s.destinations, Utc::now());
    if let Some(details) = &s.details {
        if let Some(version) = &details.server_version {
            println!("  server version: {version}");
        }
        for (table, bytes) in &details.largest_tables {
            println!("  large table: {table} ({})", human_size(*bytes));
        }
        for (copy, bytes) in &details.kept_copies {
            println!(
                "  copy kept by a restore: {copy} ({}); delete it when you no longer need it",
                human_size(*bytes)
            );
        }
    }
}

/// A profile's destinations in `stats`: one line each, then what the banner would say about them, with the fix.
fn print_destinations(dests: &[jobs::DestInfo], now: chrono::DateTime<Utc>) {
    for d in dests {
        let behind = match d.waiting_since {
            Some(t) => format!(
                "behind by {}",
                crate::health::behind_words((now - t).num_seconds())
            ),
            None => "up to date".into(),
        };
        let last = d
            .last_copied_at
            .map(|t| format!("last copied {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
            .unwrap_or_else(|| "nothing copied yet".into());
        println!(
            "  destination {} ({} {}): {} copied, {} waiting, {} failed; {last}; {behind}",
            d.name, d.kind, d.location, d.copied, d.pending, d.failed
        );
    }
    for alert in crate::health::dest_alerts(dests, now) {
        let fix = alert
            .dest
            .as_deref()
            .map(|d| format!("; {}", crate::health::dest_fix(d)))
            .unwrap_or_default();
        println!("  alert: {}{fix}", alert.text);
    }
}

pub(super) fn confirm_restore(plan: &jobs::RestorePlan) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::ConsentRequired {
            target: plan.target.clone(),
        });
    }
    let when = plan
        .row
        .as_ref()
        .map(|r| r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| plan.archive.display().to_string());
    eprintln!("This replaces {} with the backup from {when}.", plan.target);
    if plan.owner != plan.profile.name {
        eprintln!(
            "It is a backup of profile {}: {}'s data will be replaced with {}'s.",
            plan.owner, plan.profile.name, plan.owner
        );
    }
    eprintln!("A safety backup of the current state is taken first (unless --no-safety-backup).");
    eprint!("Type the profile name ({}) to confirm: ", plan.profile.name);
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Usage(format!("cannot read the confirmation: {e}")))?;
    if answer.trim() == plan.profile.name {
        Ok(())
    } else {
        Err(Error::Usage(
            "restore cancelled: the name typed did not match; nothing was changed".into(),
        ))
    }
}
