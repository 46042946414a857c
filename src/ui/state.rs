//! The window's state, changed in one place: [`AppState::apply`] takes a worker [`Event`] and returns the
//! side effects to perform (notifications: at most one per job outcome, as `notifications` decides). Pure: no
//! I/O, time is a parameter; unit-tested below.

use super::notifications::{Notifications, Verdict};
use crate::jobs::PruneReport;
use crate::progress::CancelToken;
use crate::worker::{Event, Inspection, JobFailure, JobOutput, Snapshot, Ticket};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The job the worker is running now.
#[derive(Debug, Clone)]
pub struct RunningJob {
    /// Ticket id.
    pub ticket: u64,
    /// Label.
    pub label: String,
    /// Current stage.
    pub stage: String,
    /// Bytes done in this stage.
    pub done: u64,
    /// Bytes in this stage, when known.
    pub total: Option<u64>,
    /// When the stage began.
    pub stage_started: Instant,
    /// Its cancel token.
    pub cancel: Option<CancelToken>,
}

impl RunningJob {
    /// Bytes per second in this stage.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let secs = now.duration_since(self.stage_started).as_secs_f64();
        (secs > 0.2 && self.done > 0).then(|| self.done as f64 / secs)
    }

    /// Time left in this stage, from the rate so far.
    pub fn eta(&self, now: Instant) -> Option<Duration> {
        let rate = self.rate(now)?;
        let total = self.total?;
        (rate > 0.0 && total >= self.done)
            .then(|| Duration::from_secs_f64((total - self.done) as f64 / rate))
    }

    /// Fraction done, when the total is known.
    pub fn fraction(&self) -> Option<f32> {
        self.total
            .filter(|t| *t > 0)
            .map(|t| (self.done as f32 / t as f32).clamp(0.0, 1.0))
    }
}

/// A job waiting its turn.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Ticket id.
    pub ticket: u64,
    /// Label.
    pub label: String,
    /// Its cancel token.
    pub cancel: CancelToken,
}

/// How a toast looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    /// Something worked.
    Success,
    /// Something to know.
    Info,
    /// Something failed.
    Error,
}

/// A short message shown at the bottom right for a while (and kept in the session log).
#[derive(Debug, Clone)]
pub struct Toast {
    /// Look.
    pub kind: ToastKind,
    /// Text.
    pub text: String,
    /// When it appeared.
    pub born: Instant,
}

/// A side effect the window performs after applying an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a desktop notification.
    Notify {
        /// Title.
        summary: String,
        /// Text.
        body: String,
    },
    /// Open a file with the desktop's application for it (the recovery sheet in the browser).
    Open(std::path::PathBuf),
}

/// Everything the window shows that comes from jobs.
#[derive(Debug, Default)]
pub struct AppState {
    /// Catalog and config, as the worker last sent them.
    pub snapshot: Snapshot,
    /// Whether the worker sent a snapshot yet.
    pub snapshot_received: bool,
    /// The job running now.
    pub running: Option<RunningJob>,
    /// Jobs waiting, in order.
    pub queue: Vec<QueuedJob>,
    /// Messages on screen.
    pub toasts: Vec<Toast>,
    /// This session's messages (the job log shows them above the catalog's).
    pub session_log: Vec<(ToastKind, String)>,
    /// The restore dialog's comparison, once the worker read it.
    pub inspection: Option<Inspection>,
    /// The manifest shown by History's Show, once read.
    pub shown: Option<(i64, crate::archive::Manifest)>,
    /// History's Compare result: (older, newer, differences).
    pub diffed: Option<(i64, i64, crate::archive::ManifestDiff)>,
    /// The retention preview, once the worker planned it.
    pub prune_preview: Option<PruneReport>,
    /// Catch-up backups queued at launch: ticket → intervals missed.
    pub catch_up: HashMap<u64, (String, u32)>,
    /// Tickets of automatic backups whose failure may be retried: ticket → profile.
    pub automatic: HashMap<u64, String>,
    /// Automatic backups that ended since the scheduler last looked, in order: profile → None when it completed,
    /// or its failure (whose kind decides a retry, see `failure::retry_automatic`).
    pub automatic_outcomes: Vec<(String, Option<JobFailure>)>,
    /// Jobs whose outcome a dialog shows (the restore dialog's "Validate only"): ticket → None while it runs, then
    /// its report's message or its failure's.
    pub awaited: HashMap<u64, Option<Result<String, String>>>,
    /// Start at login and the system timer as last read (None: not read yet, or a change failed: read again).
    pub desktop: Option<crate::desktop::DesktopStatus>,
    /// Tickets of desktop jobs not finished yet.
    pub desktop_tickets: std::collections::HashSet<u64>,
    /// History's Kept copies: the copies restores of a profile kept, as last listed.
    pub kept: Option<crate::jobs::KeptReport>,
    /// Server databases' details, by profile, with when they were read.
    pub details: HashMap<String, (Instant, crate::engine::EngineDetails)>,
    /// What each submitted job's outcome is compared with for notifying: ticket → subject.
    pub subjects: HashMap<u64, String>,
    /// The failures notified and not recovered since.
    pub notifications: Notifications,
}

pub use crate::progress::human_size;

impl AppState {
    /// Records a job the window just submitted.
    pub fn queued(&mut self, ticket: &Ticket) {
        self.queue.push(QueuedJob {
            ticket: ticket.id,
            label: ticket.label.clone(),
            cancel: ticket.cancel.clone(),
        });
    }

    /// Adds a toast and a session-log line.
    pub fn toast(&mut self, kind: ToastKind, text: impl Into<String>, now: Instant) {
        let text = text.into();
        self.session_log.push((kind, text.clone()));
        self.toasts.push(Toast {
            kind,
            text,
            born: now,
        });
    }

    /// Drops toasts older than `ttl` (errors stay twice as long).
    pub fn expire_toasts(&mut self, now: Instant, ttl: Duration) {
        self.toasts.retain(|t| {
            let life = if t.kind == ToastKind::Error {
                ttl * 2
            } else {
                ttl
            };
            now.duration_since(t.born) < life
        });
    }

    /// Whether a job for this profile of this label is waiting or running.
    pub fn is_pending(&self, label: &str) -> bool {
        self.queue.iter().any(|q| q.label == label)
            || self.running.as_ref().is_some_and(|r| r.label == label)
    }

    /// Applies one worker event; returns what the window should do about it.
    pub fn apply(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        match event {
            Event::Snapshot(snapshot) => {
                self.snapshot = *snapshot;
                self.snapshot_received = true;
            }
            Event::Notice(text) => self.toast(ToastKind::Info, text, now),
            Event::Started { ticket, label } => {
                let cancel = self
                    .queue
                    .iter()
                    .find(|q| q.ticket == ticket)
                    .map(|q| q.cancel.clone());
                self.queue.retain(|q| q.ticket != ticket);
                self.running = Some(RunningJob {
                    ticket,
                    label,
                    stage: "starting".into(),
                    done: 0,
                    total: None,
                    stage_started: now,
                    cancel,
                });
            }
            Event::Progress { ticket, update } => {
                if let Some(running) = self.running.as_mut().filter(|r| r.ticket == ticket) {
                    if running.stage != update.stage {
                        running.stage = update.stage;
                        running.stage_started = now;
                    }
                    running.done = update.done;
                    running.total = update.total;
                }
            }
            Event::Finished {
                ticket,
                label,
                result,
            } => {
                self.queue.retain(|q| q.ticket != ticket);
                if self.running.as_ref().is_some_and(|r| r.ticket == ticket) {
                    self.running = None;
                }
                let subject = self
                    .subjects
                    .remove(&ticket)
                    .unwrap_or_else(|| label.clone());
                // A desktop change that failed left the files as they are now: read them again.
                if self.desktop_tickets.remove(&ticket) && result.is_err() {
                    self.desktop = None;
                }
                // A dialog that shows the outcome itself: the session log keeps it, no toast repeats it.
                if let Some(slot) = self.awaited.get_mut(&ticket) {
                    let (kind, verdict) = match &result {
                        Ok(JobOutput::Restore(report)) => {
                            (ToastKind::Success, Ok(report.message.clone()))
                        }
                        Ok(_) => (ToastKind::Success, Ok(String::new())),
                        Err(failure) => (ToastKind::Error, Err(failure.message.clone())),
                    };
                    let text = match &verdict {
                        Ok(message) => format!("{label}: {message}"),
                        Err(message) => format!("{label} failed: {message}"),
                    };
                    *slot = Some(verdict);
                    self.session_log.push((kind, text));
                }
                let shown_in_dialog = self.awaited.contains_key(&ticket);
                let catch_up = self.catch_up.remove(&ticket);
                let automatic = self.automatic.remove(&ticket);
                if let Some(profile) = automatic {
                    self.automatic_outcomes
                        .push((profile, result.as_ref().err().cloned()));
                }
                match result {
                    _ if shown_in_dialog => {}
                    Ok(output) => {
                        self.finished_ok(&label, &subject, output, catch_up, &mut effects, now)
                    }
                    Err(failure) => self.finished_err(&label, &subject, failure, &mut effects, now),
                }
            }
        }
        effects
    }

    fn finished_ok(
        &mut self,
        label: &str,
        subject: &str,
        output: JobOutput,
        catch_up: Option<(String, u32)>,
        effects: &mut Vec<Effect>,
        now: Instant,
    ) {
        match output {
            JobOutput::Backup(report) => {
                let mut text = format!(
                    "Backup of {} completed: {} in {:.1} s",
                    report.profile,
                    human_size(report.size_bytes),
                    report.duration_ms as f64 / 1000.0
                );
                match report.warnings.as_slice() {
                    [] => {}
                    [one] => text.push_str(&format!(" (warning: {one})")),
                    [first, ..] => text.push_str(&format!(
                        " ({} warnings, the first: {first}; see Show)",
                        report.warnings.len(),
                    )),
                }
                let recovered = self.notifications.succeeded(subject);
                let copies = self.notifications.copies(&report.copies);
                let (summary, body) = match report.flagged_text() {
                    // The change check thinks data was lost: say so louder than "backed up".
                    Some(flagged) => {
                        self.toast(
                            ToastKind::Error,
                            format!("Backup of {} flagged: {flagged}", report.profile),
                            now,
                        );
                        (
                            format!("Backstop: {} backed up, but flagged", report.profile),
                            flagged,
                        )
                    }
                    None => (
                        format!(
                            "Backstop: {} backed up{}",
                            report.profile,
                            if recovered.notifies() { " again" } else { "" }
                        ),
                        format!(
                            "{} in {:.1} s{}{}",
                            human_size(report.size_bytes),
                            report.duration_ms as f64 / 1000.0,
                            if report.pruned.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    "; {} old backup(s) removed by retention",
                                    report.pruned.len()
                                )
                            },
                            if recovered.notifies() {
                                "; the earlier failure is resolved"
                            } else {
                                ""
                            }
                        ),
                    ),
                };
                // The copies' news joins the backup's one notification.
                let summary = match copies.headline() {
                    Some(headline)
                        if !copies.failing.is_empty() && report.flagged_text().is_none() =>
                    {
                        format!("{summary}, but {headline}")
                    }
                    _ => summary,
                };
                let body = std::iter::once(body)
                    .chain(copies.lines())
                    .collect::<Vec<_>>()
                    .join("\n");
                effects.push(Effect::Notify { summary, body });
                self.toast(ToastKind::Success, text, now);
                self.backup_copies(&report.copies, now);
                if let Some((profile, missed)) = catch_up {
                    let text = if missed == 1 {
                        format!(
                            "1 automatic backup of {profile} was missed while Backstop was closed; one catch-up backup was made."
                        )
                    } else {
                        format!(
                            "{missed} automatic backups of {profile} were missed while Backstop was closed; one catch-up backup was made."
                        )
                    };
                    self.toast(ToastKind::Info, text, now);
                }
            }
            JobOutput::Restore(report) => {
                self.toast(ToastKind::Success, report.message.clone(), now);
                let recovered = self.notifications.succeeded(subject);
                if !report.validate_only {
                    effects.push(Effect::Notify {
                        summary: format!("Backstop: {} restored", report.profile),
                        body: report.message.clone(),
                    });
                } else if recovered.notifies() {
                    effects.push(recovered_notice(label));
                }
            }
            JobOutput::Verify(outcomes) => {
                let damaged: Vec<String> = outcomes
                    .iter()
                    .filter(|o| !o.report.ok())
                    .map(|o| {
                        format!(
                            "{}: {}",
                            o.id.map(|id| format!("backup {id}")).unwrap_or_else(|| o
                                .report
                                .path
                                .display()
                                .to_string()),
                            o.report.problems.join("; ")
                        )
                    })
                    .collect();
                if damaged.is_empty() {
                    if self.notifications.succeeded(subject).notifies() {
                        effects.push(recovered_notice(label));
                    }
                    let text = self.verified_text(&outcomes);
                    self.toast(ToastKind::Success, text, now);
                } else {
                    let text = format!(
                        "Damage found in {} backup(s): {}",
                        damaged.len(),
                        damaged.join(" | ")
                    );
                    // The same damage found again is no news.
                    if self.notifications.failed(subject, &text) == Verdict::NewFailure {
                        effects.push(Effect::Notify {
                            summary: "Backstop: damaged backup found".into(),
                            body: text.clone(),
                        });
                    }
                    self.toast(ToastKind::Error, text, now);
                }
                return;
            }
            JobOutput::Import(batch) => {
                for report in &batch.imported {
                    self.toast(
                        ToastKind::Success,
                        format!(
                            "Imported {} ({}) as backup {}{}",
                            report
                                .source
                                .file_name()
                                .unwrap_or_default()
                                .to_string_lossy(),
                            report.describe(),
                            report.backup.id,
                            report
                                .notes
                                .iter()
                                .map(|n| format!("; {n}"))
                                .collect::<String>()
                        ),
                        now,
                    );
                }
                // A duplicate is not a failure: the content is there already.
                for duplicate in &batch.duplicates {
                    self.toast(ToastKind::Info, duplicate.message(), now);
                }
                for skipped in &batch.skipped {
                    self.toast(ToastKind::Info, skipped.message.clone(), now);
                }
                for refused in &batch.refused {
                    self.toast(ToastKind::Error, refused.message.clone(), now);
                }
            }
            JobOutput::Export(path) => self.toast(
                ToastKind::Success,
                format!("Exported to {}", path.display()),
                now,
            ),
            JobOutput::Deleted(id) => {
                self.toast(ToastKind::Info, format!("Backup {id} deleted"), now)
            }
            JobOutput::Prune(report) => {
                if report.dry_run {
                    self.prune_preview = Some(report);
                } else {
                    let n = report.verdicts.iter().filter(|v| !v.keep).count();
                    self.toast(
                        ToastKind::Info,
                        format!("Retention deleted {n} backup(s) of {}", report.profile),
                        now,
                    );
                }
            }
            JobOutput::Pinned(id, pinned) => self.toast(
                ToastKind::Info,
                if pinned {
                    format!("Backup {id} pinned")
                } else {
                    format!("Backup {id} unpinned")
                },
                now,
            ),
            JobOutput::Inspect(inspection) => self.inspection = Some(*inspection),
            JobOutput::Shown(id, manifest) => self.shown = Some((id, *manifest)),
            JobOutput::Diffed(before, after, diff) => self.diffed = Some((before, after, *diff)),
            JobOutput::ConfigSaved => self.toast(ToastKind::Success, "Settings saved", now),
            JobOutput::ProfilesChanged(text) => self.toast(ToastKind::Success, text, now),
            JobOutput::Details(profile, details) => {
                self.details.insert(profile, (now, *details));
            }
            JobOutput::Kept(report) => self.kept = Some(*report),
            JobOutput::KeptDeleted(text) => self.toast(ToastKind::Info, text, now),
            JobOutput::Refreshed => {}
            JobOutput::RecoverySheet(path) => {
                self.toast(
                    ToastKind::Success,
                    format!("Recovery sheet written to {}: print it, or keep it away from this computer", path.display()),
                    now,
                );
                effects.push(Effect::Open(path));
            }
            JobOutput::Synced { reports, forced } => {
                if let Some(effect) = self.synced(&reports, forced, now) {
                    effects.push(effect);
                    // At most one notification per outcome: the copies' news is this one.
                    self.notifications.succeeded(subject);
                    return;
                }
            }
            JobOutput::Desktop(done, status) => {
                self.desktop = Some(*status);
                if !done.is_empty() {
                    self.toast(ToastKind::Success, done, now);
                }
            }
        }
        // Any other success gives back a failure notified before.
        if self.notifications.succeeded(subject).notifies() {
            effects.push(recovered_notice(label));
        }
    }

    /// "3 backup(s) of 2 profiles verified: all intact" (or "of shop"): what was verified, so that the words say
    /// whether one profile or all were checked.
    fn verified_text(&self, outcomes: &[crate::jobs::VerifyOutcome]) -> String {
        let mut profiles: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| {
                let id = o.id?;
                self.snapshot.backups.iter().find(|b| b.id == id)
            })
            .map(|b| b.profile.as_str())
            .collect();
        profiles.sort_unstable();
        profiles.dedup();
        let of = match profiles.as_slice() {
            [] => String::new(),
            [one] => format!(" of {one}"),
            many => format!(" of {} profiles", many.len()),
        };
        match outcomes.len() {
            0 => "There were no backups to verify".to_string(),
            n => format!("{n} backup(s){of} verified: all intact"),
        }
    }

    fn finished_err(
        &mut self,
        label: &str,
        subject: &str,
        failure: JobFailure,
        effects: &mut Vec<Effect>,
        now: Instant,
    ) {
        // A cancel is the user's own doing: no news, and it neither repeats nor ends a failure.
        if failure.cancelled {
            self.toast(
                ToastKind::Info,
                format!("{label}: cancelled; nothing was kept"),
                now,
            );
            return;
        }
        let text = format!("{label} failed: {}", failure.message);
        if self.notifications.failed(subject, &failure.message) == Verdict::NewFailure {
            effects.push(Effect::Notify {
                summary: format!("Backstop: {label} failed"),
                body: failure.message.clone(),
            });
        }
        self.toast(ToastKind::Error, text, now);
    }
}

/// The notification of a job that works again after a notified failure.
fn recovered_notice(label: &str) -> Effect {
    Effect::Notify {
        summary: format!("Backstop: {label} worked again"),
        body: "The earlier failure is resolved.".into(),
    }
}

mod copies;
#[cfg(test)]
mod tests;
