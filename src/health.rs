//! No silent failure: the warnings a profile's banner shows. Pure, tested with a case table.

use crate::catalog::BackupRow;
use crate::model::{Policy, Status, Trigger};
use chrono::{DateTime, Duration, Utc};

/// Changes smaller than this many rows never alert, whatever the percentage (a table going from 2 to 5 rows).
const MIN_ROW_CHANGE: u64 = 10;

/// One warning about a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable key, so a notification is sent once per alert.
    pub key: String,
    /// What the banner says.
    pub text: String,
}

fn percent_change(before: u64, after: u64) -> f64 {
    if before == 0 {
        return if after == 0 { 0.0 } else { f64::INFINITY };
    }
    (after as f64 - before as f64).abs() * 100.0 / before as f64
}

/// The alerts for one profile's backups (oldest first, as the catalog lists them).
///
/// - no backup succeeded for twice the automatic interval (automatic backups on);
/// - the last backup job failed;
/// - the last backup's size, or a table's row count, changed by more than `threshold_percent` since the one before.
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
        });
    }
    let good: Vec<&&BackupRow> = own
        .iter()
        .filter(|b| b.status == Status::Completed)
        .collect();
    if policy.auto_enabled {
        let limit = Duration::hours(2 * i64::from(policy.auto_interval_hours.max(1)));
        let last_good = good.iter().map(|b| b.created_at).max();
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
                    None => "No backup has succeeded yet".to_string(),
                },
            });
        }
    }
    let mut by_time: Vec<&&BackupRow> = good.clone();
    by_time.sort_by_key(|b| (b.created_at, b.id));
    if let [.., before, after] = by_time.as_slice() {
        let threshold = f64::from(threshold_percent);
        if let (Some(a), Some(b)) = (before.size_bytes, after.size_bytes)
            && percent_change(a, b) > threshold
        {
            out.push(Alert {
                key: format!("size-{}", after.id),
                text: format!(
                    "Backup {} is {:.0}% {} than the one before ({} to {} bytes): check that the data is what you expect",
                    after.id,
                    percent_change(a, b).min(9999.0),
                    if b < a { "smaller" } else { "larger" },
                    a,
                    b
                ),
            });
        }
        if let (Some(old), Some(new)) = (&before.tables, &after.tables) {
            for (table, &n_old) in old {
                let n_new = new.get(table).copied().unwrap_or(0);
                if n_old.abs_diff(n_new) >= MIN_ROW_CHANGE
                    && percent_change(n_old, n_new) > threshold
                {
                    out.push(Alert {
                        key: format!("rows-{}-{table}", after.id),
                        text: format!(
                            "Table '{table}' went from {n_old} to {n_new} rows between backups {} and {}",
                            before.id, after.id
                        ),
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
        }
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
                "size halved and more",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 400, 100)],
                vec!["size-2"],
            ),
            (
                "size doubled and more",
                vec![row(1, 30, ok, 1000, 100), row(2, 6, ok, 2600, 100)],
                vec!["size-2"],
            ),
            (
                "rows dropped 90%",
                vec![row(1, 30, ok, 1000, 1000), row(2, 6, ok, 1000, 100)],
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
}
