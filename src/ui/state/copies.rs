//! What the copies to destinations a job made mean for the window: toasts, and the job's one notification
//! (`notifications::Notifications::copies` decides what is news).

use super::{AppState, Effect, ToastKind};
use crate::jobs::DestSync;
use std::time::Instant;

impl AppState {
    /// A backup's copies: a toast for each destination whose copy failed (copies that worked show as "off-site"
    /// in History; what is news joined the backup's notification).
    pub(super) fn backup_copies(&mut self, reports: &[DestSync], now: Instant) {
        for report in reports {
            if let Some((_, why)) = report.failed.first() {
                self.toast(ToastKind::Error, failed_text(report, why), now);
            }
        }
    }

    /// A sync's outcome: a toast per destination (an automatic retry that fails the same way again only in the
    /// session log: the banner says it), and its notification, when there is news.
    pub(super) fn synced(
        &mut self,
        reports: &[DestSync],
        forced: bool,
        now: Instant,
    ) -> Option<Effect> {
        let news = self.notifications.copies(reports);
        if reports.is_empty() && forced {
            self.toast(ToastKind::Info, "There are no destinations to copy to", now);
        }
        for report in reports {
            if let Some((_, why)) = report.failed.first() {
                let text = failed_text(report, why);
                if forced || news.failing.iter().any(|(d, _)| *d == report.dest) {
                    self.toast(ToastKind::Error, text, now);
                } else {
                    self.session_log.push((ToastKind::Error, text));
                }
            } else if !report.copied.is_empty() {
                let mut text = format!(
                    "Copied {} backup(s) to {}",
                    report.copied.len(),
                    report.dest
                );
                if !report.pruned.is_empty() {
                    text.push_str(&format!(
                        "; {} old copy(ies) deleted there by its retention",
                        report.pruned.len()
                    ));
                }
                self.toast(ToastKind::Success, text, now);
            } else if forced {
                let text = match &report.error {
                    Some(why) => format!("{}: {why}", report.dest),
                    None => format!("{} is up to date", report.dest),
                };
                self.toast(ToastKind::Info, text, now);
            }
        }
        let headline = news.headline()?;
        Some(Effect::Notify {
            summary: format!("Backstop: {headline}"),
            body: news.lines().join("\n"),
        })
    }
}

/// "Copying to usb failed: why; 2 more wait for the next try".
fn failed_text(report: &DestSync, why: &str) -> String {
    let mut text = format!("Copying to {} failed: {why}", report.dest);
    match report.failed.len().saturating_sub(1) + report.waiting.len() {
        0 => {}
        1 => text.push_str("; 1 more waits for the next try"),
        more => text.push_str(&format!("; {more} more wait for the next try")),
    }
    text
}
