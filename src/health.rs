//! No silent failure: the warnings a profile's banner shows (and `backstop stats` prints). Pure, tested with
//! case tables.

use crate::catalog::BackupRow;
use crate::change;
use crate::jobs::DestInfo;
use crate::model::{Policy, Status, Trigger};
use chrono::{DateTime, Duration, Utc};

/// One warning about a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable key, so a notification is sent once per alert.
    pub key: String,
    /// What the banner says.
    pub text: String,
    /// The destination it is about, when it is about one: its fix is to check that destination and copy again
    /// ([`dest_fix`]; the window's Sync now).
    pub dest: Option<String>,
}

/// How long a destination may go without a backup before it counts as behind: a day.
pub const DEST_BEHIND_LIMIT: Duration = Duration::hours(24);

/// The alerts about a profile's destinations (`dests`: its own):
///
/// - copies to a destination are failing (a copy there whose latest try failed), with why; how far behind it is
///   rides along when that is more than [`DEST_BEHIND_LIMIT`];
/// - a destination is behind by more than [`DEST_BEHIND_LIMIT`] (its oldest waiting copy is of a backup older
///   than that) while nothing failed: copies wait and nothing copies them (the window closed, no timer).
///
/// One alert per destination at most. "Behind" counts from the waiting backup's time, as `dest list` does.
pub fn dest_alerts<'a>(
    dests: impl IntoIterator<Item = &'a DestInfo>,
    now: DateTime<Utc>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for d in dests {
        let behind = d
            .waiting_since
            .map(|t| now - t)
            .filter(|age| *age > DEST_BEHIND_LIMIT);
        let behind_words = |age: Duration| behind_words(age.num_seconds());
        if d.failed > 0 {
            let why = d.last_error.as_deref().unwrap_or("no reason recorded");
            out.push(Alert {
                key: format!("dest-failing-{}", d.name),
                text: match behind {
                    Some(age) => format!(
                        "Copies to {} are failing: {why} ({} behind)",
                        d.name,
                        behind_words(age)
                    ),
                    None => format!("Copies to {} are failing: {why}", d.name),
                },
                dest: Some(d.name.clone()),
            });
        } else if let (Some(age), Some(since)) = (behind, d.waiting_since) {
            out.push(Alert {
                key: format!("dest-behind-{}-{}", d.name, since.timestamp()),
                text: format!(
                    "Destination {} is {} behind: the oldest backup waiting to be copied there is from {}",
                    d.name,
                    behind_words(age),
                    since.format("%Y-%m-%d %H:%M UTC")
                ),
                dest: Some(d.name.clone()),
            });
        }
    }
    out
}

/// How far behind a destination is, in words: "under a minute", "3 hours", "2 days".
pub fn behind_words(secs: i64) -> String {
    if secs < 60 {
        "under a minute".to_string()
    } else {
        crate::retention::span_text(secs)
    }
}

/// The one thing to do about a destination's alert, in the terminal's words.
pub fn dest_fix(dest: &str) -> String {
    format!("check the destination: `backstop dest test {dest}`, then `backstop dest sync`")
}

/// The alerts for one profile's backups (oldest first, as the catalog lists them).
///
/// - no backup succeeded for twice the automatic interval (automatic backups on);
/// - the last backup job failed;
/// - the last backup was flagged by the change check (its stored `warnings`: data looks lost, retention paused);
/// - the last backup's size, or a table's row count, grew by more than `threshold_percent` since the one before.
///
/// A backup dated in the future is not proof of a recent success: staleness counts from the newest backup whose
/// date is not after `now`.
pub fn alerts(
    backups: &[BackupRow],
    policy: &Policy,
    threshold_percent: u32,
    now: DateTime<Utc>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let own: Vec<&BackupRow> = backups
        .iter()
        .filter(|b| matches!(b.trigger, Trigger::Manual | Trigger::Automatic))
        .collect();
    let finished: Vec<&&BackupRow> = own
        .iter()
        .filter(|b| {
            matches!(
                b.status,
                Status::Completed | Status::Failed | Status::Deleted | Status::Corrupted
            )
        })
        .collect();
    if let Some(last) = finished.iter().max_by_key(|b| b.id)
        && last.status == Status::Failed
    {
        out.push(Alert {
            key: format!("failed-{}", last.id),
            text: format!(
                "The last backup failed ({}): {}",
                last.created_at.format("%Y-%m-%d %H:%M UTC"),
                last.error.as_deref().unwrap_or("no reason recorded")
            ),
            dest: None,
        });
    }
    let good: Vec<&&BackupRow> = own
        .iter()
        .filter(|b| b.status == Status::Completed)
        .collect();
    if policy.auto_enabled {
        let limit = Duration::hours(2 * i64::from(policy.auto_interval_hours.max(1)));
        let last_good = good
            .iter()
            .filter(|b| crate::retention::clock_ahead_secs(b.created_at, now).is_none())
            .map(|b| b.created_at)
            .max();
        let stale = match last_good {
            Some(t) => now - t > limit,
            None => !finished.is_empty(),
        };
        if stale {
            out.push(Alert {
                key: format!("stale-{}", last_good.map(|t| t.timestamp()).unwrap_or(0)),
                text: match last_good {
                    Some(t) => format!(
                        "No backup has succeeded for {} hours (since {}), twice the automatic interval of {} h",
                        (now - t).num_hours(),
                        t.format("%Y-%m-%d %H:%M UTC"),
                        policy.auto_interval_hours
                    ),
                    None if !good.is_empty() => "Every completed backup is dated in the future (the clock was \
                        ahead when they were taken, or has gone back): no backup can be trusted to be recent"
                        .to_string(),
                    None => "No backup has succeeded yet".to_string(),
                },
                dest: None,
            });
        }
    }
    // "The last" and "the one before" by catalog order, not by time: clocks can be wrong.
    if let Some(last) = good.iter().max_by_key(|b| b.id) {
        if !last.warnings.is_empty() {
            out.push(Alert {
                key: format!("flagged-{}", last.id),
                text: format!(
                    "Backup {} was flagged: {}. Check that the data is what you expect; retention deletes nothing \
                     until a later backup is not flagged (or you prune by hand)",
                    last.id,
                    last.warnings.join("; ")
                ),
                dest: None,
            });
        }
        let before = good
            .iter()
            .filter(|b| b.id < last.id && b.kind == last.kind)
            .max_by_key(|b| b.id);
        if let Some(before) = before {
            let findings = change::compare(
                change::Measure::of(before),
                change::Measure::of(last),
                threshold_percent,
            );
            for finding in findings {
                // Losses are the backup job's call (stored above); growth is only news.
                if !finding.flags {
                    out.push(Alert {
                        key: finding.key,
                        text: format!("Backup {}: {}", last.id, finding.text),
                        dest: None,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn row(id: i64, hours_ago: i64, status: Status, size: u64, orders: u64) -> BackupRow {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        BackupRow {
            id,
            profile: "p".into(),
            kind: Kind::Database,
            trigger: Trigger::Automatic,
            status,
            path: PathBuf::from(format!("/b/{id}.zip")),
            size_bytes: Some(size),
            sha256: None,
            created_at: now - Duration::hours(hours_ago),
            finished_at: None,
            duration_ms: None,
            engine: None,
            engine_version: None,
            database_name: None,
            database_size_bytes: None,
            error: (status == Status::Failed).then(|| "database file not found".to_string()),
            pinned: false,
            tables: Some(BTreeMap::from([("orders".to_string(), orders)])),
            warnings: Vec::new(),
            clock_ahead_secs: None,
            copies: Vec::new(),
            encryption: None,
        }
    }

    /// A row the backup job flagged (the change check stored a warning).
    fn flagged(mut row: BackupRow) -> BackupRow {
        row.warnings = vec!["table 'orders' went from 1000 to 100 rows since backup 1".to_string()];
        row
    }

    #[test]
    fn alert_cases() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let policy = Policy::default(); // automatic every 24 h
        let ok = Status::Completed;
        let cases: Vec<(&str, Vec<BackupRow>, Vec<&str>)> = vec![
            ("no backups at all", vec![], vec![]),
            (
                "recent and steady",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 1100, 110)],
                vec![],
            ),
            (
                "last one failed",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, Status::Failed, 0, 0)],
                vec!["failed-2"],
            ),
            (
                "failed then succeeded",
                vec![row(1, 30, Status::Failed, 0, 0), row(2, 6, ok, 1000, 100)],
                vec![],
            ),
            (
                "stale: 49 h without success",
                vec![row(1, 49, ok, 1000, 100)],
                vec!["stale-"],
            ),
            (
                "47 h is within twice 24 h",
                vec![row(1, 47, ok, 1000, 100)],
                vec![],
            ),
            (
                "never succeeded, only failures",
                vec![row(1, 2, Status::Failed, 0, 0)],
                vec!["failed-1", "stale-0"],
            ),
            (
                "size halved: the job's call, not the banner's, so only a flagged row alerts",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 400, 100)],
                vec![],
            ),
            (
                "flagged by the backup job",
                vec![
                    row(1, 30, ok, 1000, 1000),
                    flagged(row(2, 6, ok, 1000, 100)),
                ],
                vec!["flagged-2"],
            ),
            (
                "a flagged backup followed by a clean one no longer alerts",
                vec![
                    row(1, 30, ok, 1000, 1000),
                    flagged(row(2, 20, ok, 1000, 100)),
                    row(3, 6, ok, 1000, 100),
                ],
                vec![],
            ),
            (
                "only a backup 400 days ahead: stale, it cannot be trusted to be recent",
                vec![row(1, -400 * 24, ok, 1000, 100)],
                vec!["stale-0"],
            ),
            (
                "a backup 400 days ahead does not hide 49 h without a current one",
                vec![row(1, 49, ok, 1000, 100), row(2, -400 * 24, ok, 1000, 100)],
                vec!["stale-"],
            ),
            (
                "size doubled and more",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 2600, 100)],
                vec!["size-2"],
            ),
            (
                "rows grew tenfold",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 1000, 1000)],
                vec!["rows-2-orders"],
            ),
            (
                "tiny table change ignored",
                vec![row(1, 30, ok, 1000, 2), row(2, 6, ok, 1000, 9)],
                vec![],
            ),
        ];
        for (name, rows, expected) in cases {
            let got = alerts(&rows, &policy, 50, now);
            let keys: Vec<&str> = got.iter().map(|a| a.key.as_str()).collect();
            assert_eq!(keys.len(), expected.len(), "case {name}: {keys:?}");
            for (k, e) in keys.iter().zip(&expected) {
                assert!(k.starts_with(e), "case {name}: {keys:?} vs {expected:?}");
            }
        }
        let off = Policy {
            auto_enabled: false,
            ..Policy::default()
        };
        assert!(
            alerts(&[row(1, 500, ok, 1, 1)], &off, 50, now).is_empty(),
            "no staleness alert without automatic backups"
        );
    }

    fn dest(
        name: &str,
        failed: usize,
        waiting_hours: Option<i64>,
        error: Option<&str>,
    ) -> DestInfo {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let waiting_since = waiting_hours.map(|h| now - Duration::hours(h));
        DestInfo {
            name: name.into(),
            profile: "p".into(),
            kind: "folder".into(),
            location: format!("folder /media/{name}"),
            keep_last: 7,
            max_age_days: 0,
            copied: 3,
            pending: usize::from(waiting_hours.is_some() && failed == 0),
            failed,
            last_copied_at: Some(now - Duration::hours(50)),
            last_error: error.map(str::to_string),
            behind_secs: waiting_since.map(|t| (now - t).num_seconds()),
            waiting_since,
            next_try_at: (failed > 0).then(|| now + Duration::minutes(4)),
            other_home: None,
        }
    }

    #[test]
    fn destination_alert_cases() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let gone = Some(
            "cannot reach destination usb (folder /media/usb is missing (is the drive mounted?))",
        );
        let cases: Vec<(&str, Vec<DestInfo>, Vec<&str>)> = vec![
            ("no destinations", vec![], vec![]),
            ("up to date", vec![dest("usb", 0, None, None)], vec![]),
            (
                "a copy waits for 2 hours: not behind yet",
                vec![dest("usb", 0, Some(2), None)],
                vec![],
            ),
            (
                "23 hours is within a day",
                vec![dest("usb", 0, Some(23), None)],
                vec![],
            ),
            (
                "a copy has waited 25 hours with no failure: behind",
                vec![dest("usb", 0, Some(25), None)],
                vec![
                    "Destination usb is 1 day behind: the oldest backup waiting to be copied there is from 2026-11-22 11:00 UTC",
                ],
            ),
            (
                "its latest try failed, an hour ago",
                vec![dest("usb", 1, Some(1), gone)],
                vec![
                    "Copies to usb are failing: cannot reach destination usb (folder /media/usb is missing (is the drive mounted?))",
                ],
            ),
            (
                "failing for three days: one alert, how far behind rides along",
                vec![dest("usb", 2, Some(72), gone)],
                vec![
                    "Copies to usb are failing: cannot reach destination usb (folder /media/usb is missing (is the drive mounted?)) (3 days behind)",
                ],
            ),
            (
                "two destinations apart: one fine, one failing with no reason kept",
                vec![dest("usb", 0, None, None), dest("s3", 1, Some(1), None)],
                vec!["Copies to s3 are failing: no reason recorded"],
            ),
        ];
        for (name, dests, expected) in cases {
            let got = dest_alerts(&dests, now);
            let texts: Vec<&str> = got.iter().map(|a| a.text.as_str()).collect();
            assert_eq!(texts, expected, "case {name}");
            for alert in &got {
                assert!(alert.key.starts_with("dest-"), "case {name}: {alert:?}");
                assert!(
                    alert.dest.is_some(),
                    "case {name}: the fix needs the destination"
                );
            }
        }
        assert_eq!(
            dest_fix("usb"),
            "check the destination: `backstop dest test usb`, then `backstop dest sync`"
        );
    }
}
