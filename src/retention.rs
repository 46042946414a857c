//! Retention: which completed backups of one profile to keep and which to delete.
//!
//! `plan` is pure: it looks at a snapshot of one profile's catalog rows and the policy and says, for every
//! completed backup, keep or delete and why. The caller deletes archives and logs the reasons; the same reasons
//! are what `prune --dry-run` prints, so they are written for users.
//!
//! Vocabulary used below: the *series* is the completed manual, automatic and old safety backups that are not
//! pinned, newest first. `keep_last` ranks and the daily/weekly/monthly rules walk this series; pinned, uploaded
//! and young safety backups sit outside it so they never use up a slot of those rules.
//!
//! Clocks: a time later than now is never trusted. A backup dated in the future (taken while the clock was ahead,
//! or seen after the clock jumped back) is kept but sits outside the series, so it never takes the place of a
//! current backup in keep-last, the day/week/month rules or the age limit, and it is not "the newest backup".
//! The backup a retention run follows (`plan_after`) is never deleted by it, whatever the clocks say.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::model::{Policy, Status, Trigger};

/// Safety backups are taken just before a restore; keeping them a week lets a user undo a restore they regret
/// even if ordinary rotation would have dropped them.
const SAFETY_GRACE: Duration = Duration::days(7);

/// Clocks on different machines (or after an NTP correction) disagree by a little; only a backup further ahead
/// than this is treated as future-dated.
const FUTURE_TOLERANCE: Duration = Duration::minutes(5);

const NEWEST_REASON: &str = "newest completed backup (always kept)";

const JUST_MADE_REASON: &str = "the backup just made (never deleted by the retention run after it)";

/// How many seconds ahead of `now` a backup is dated, when that is more than ordinary skew; `None` for a backup
/// that is not in the future. `list --json` shows it as `clock_ahead_secs`, History as a badge.
pub fn clock_ahead_secs(created_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let ahead = created_at.signed_duration_since(now);
    (ahead > FUTURE_TOLERANCE).then(|| ahead.num_seconds())
}

/// A span of seconds in the largest unit a user reads at a glance, rounded: "400 days", "3 hours", "12 minutes"
/// (a backup made 400 days ahead reads "400 days" a few seconds later too).
pub fn span_text(secs: i64) -> String {
    let unit_secs = match secs.abs() {
        s if s >= 86_400 => 86_400,
        s if s >= 3_600 => 3_600,
        _ => 60,
    };
    let n = (secs.abs() + unit_secs / 2) / unit_secs;
    let unit = match unit_secs {
        86_400 => "day",
        3_600 => "hour",
        _ => "minute",
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// One backup as retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSummary {
    /// Catalog id of the backup.
    pub id: i64,
    /// When the backup was taken (UTC).
    pub created_at: DateTime<Utc>,
    /// What started the backup.
    pub trigger: Trigger,
    /// Where the backup is in its life; only completed backups get a verdict.
    pub status: Status,
    /// Whether the user pinned the backup so retention never deletes it.
    pub pinned: bool,
}

/// What retention decided for one backup, and why (the reason is shown to users in `prune --dry-run` and logs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// Catalog id of the backup.
    pub id: i64,
    /// `true` to keep the archive, `false` to delete it.
    pub keep: bool,
    /// The rule that decided, in words a user can read.
    pub reason: String,
}

/// Why a completed backup sits outside the series and is kept regardless of the count and age rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    Pinned,
    Uploaded,
    /// Dated this many seconds after now.
    Future(i64),
    YoungSafety,
}

impl Protection {
    fn reason(self) -> String {
        match self {
            Protection::Pinned => "pinned".to_string(),
            Protection::Uploaded => "uploaded (only deleted by hand)".to_string(),
            // Deleting data on the strength of a wrong clock is the one mistake retention must not make, so it
            // waits until the clocks agree; meanwhile the backup holds no slot a current backup needs.
            Protection::Future(secs) => format!(
                "dated {} in the future (clock ahead when it was taken?); kept, and counted neither among the newest nor by age",
                span_text(secs)
            ),
            Protection::YoungSafety => "safety backup younger than 7 days".to_string(),
        }
    }
}

/// Where a completed backup stands: protected, or at a 0-based slot of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Protected(Protection),
    Series(usize),
}

/// The protection of a backup, or `None` for a manual, automatic or old safety backup (a series member).
fn protection(
    backup: &BackupSummary,
    now: DateTime<Utc>,
    age_base: DateTime<Utc>,
) -> Option<Protection> {
    if backup.pinned {
        return Some(Protection::Pinned);
    }
    match backup.trigger {
        // Imported archives cannot be recreated by Backstop, so only the user removes them.
        Trigger::Uploaded => Some(Protection::Uploaded),
        _ if clock_ahead_secs(backup.created_at, now).is_some() => Some(Protection::Future(
            backup.created_at.signed_duration_since(now).num_seconds(),
        )),
        Trigger::Safety if age_base.signed_duration_since(backup.created_at) < SAFETY_GRACE => {
            Some(Protection::YoungSafety)
        }
        Trigger::Manual | Trigger::Automatic | Trigger::Safety => None,
    }
}

/// The policy in plain words, for people who never read the config: "Keeps the 10 newest backups, and deletes
/// backups more than 30 days older than the newest one. Pinned and uploaded backups are kept too, safety backups
/// for 7 days, and the newest backup always."
pub fn describe(policy: &Policy) -> String {
    let plural = |n: u32, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let mut keeps = vec![match policy.keep_last {
        1 => "the newest backup".to_string(),
        n => format!("the {n} newest backups"),
    }];
    for (n, per, unit) in [
        (policy.keep_daily, "day", "day"),
        (policy.keep_weekly, "week", "week"),
        (policy.keep_monthly, "month", "month"),
    ] {
        if n > 0 {
            keeps.push(format!("one per {per} for {}", plural(n, unit)));
        }
    }
    let list = match keeps.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    let age = match policy.max_age_days {
        0 => String::new(),
        days => format!(
            ", and deletes backups more than {} older than the newest one",
            plural(days, "day")
        ),
    };
    format!(
        "Keeps {list}{age}. Pinned and uploaded backups are kept too, safety backups for {} days, and the newest \
         backup always.",
        SAFETY_GRACE.num_days()
    )
}

/// Decide which of one profile's backups to keep (`prune`, and its dry run). Pure.
///
/// Returns one verdict per completed backup, newest first (created_at desc, then id desc, a future-dated backup
/// placed as if taken now); backups in any other status are left out because there is no archive to delete.
pub fn plan(backups: &[BackupSummary], policy: &Policy, now: DateTime<Utc>) -> Vec<Verdict> {
    plan_after(backups, policy, now, None)
}

/// `plan` for the retention run that follows backup `just_made`, which it never deletes: not even when the clock
/// jumped back by less than the skew tolerance, so that an older-looking stamp ranks it behind the others.
pub fn plan_after(
    backups: &[BackupSummary],
    policy: &Policy,
    now: DateTime<Utc>,
    just_made: Option<i64>,
) -> Vec<Verdict> {
    let mut completed: Vec<&BackupSummary> = backups
        .iter()
        .filter(|backup| backup.status == Status::Completed)
        .collect();
    // As if taken now: a future-dated backup is never ordered before a current one.
    let placed = |backup: &BackupSummary| match clock_ahead_secs(backup.created_at, now) {
        Some(_) => now,
        None => backup.created_at,
    };
    // Ties fall back to the id so the order (and so "newest") never depends on input order.
    completed.sort_by(|a, b| placed(b).cmp(&placed(a)).then_with(|| b.id.cmp(&a.id)));
    // The newest backup whose date can be trusted; a future-dated one is kept anyway.
    let newest = completed
        .iter()
        .position(|backup| clock_ahead_secs(backup.created_at, now).is_none());
    // Ages count from the newest trusted backup before the one just made (restic's `--keep-within` counts from
    // the newest snapshot), never from a clock later than that: a clock that ran ahead while a backup was taken
    // cannot age every earlier backup out at once, and backups that stopped for a while are not aged by the gap.
    // An old backup therefore goes one backup later than the wall clock alone would say.
    let age_base = completed
        .iter()
        .filter(|b| Some(b.id) != just_made && clock_ahead_secs(b.created_at, now).is_none())
        .map(|b| b.created_at)
        .max()
        .map_or(now, |newest| newest.min(now));

    let mut series: Vec<&BackupSummary> = Vec::new();
    let mut places: Vec<Place> = Vec::with_capacity(completed.len());
    for backup in &completed {
        match protection(backup, now, age_base) {
            Some(protection) => places.push(Place::Protected(protection)),
            None => {
                places.push(Place::Series(series.len()));
                series.push(backup);
            }
        }
    }

    let daily = bucket_keeps(&series, policy.keep_daily, |t| {
        t.format("%Y-%m-%d").to_string()
    });
    let weekly = bucket_keeps(&series, policy.keep_weekly, |t| {
        // ISO week-numbering year, not the calendar year: 2027-01-01 belongs to 2026-W53.
        let week = t.iso_week();
        format!("{}-W{:02}", week.year(), week.week())
    });
    let monthly = bucket_keeps(&series, policy.keep_monthly, |t| {
        t.format("%Y-%m").to_string()
    });
    let rules = BucketKeeps {
        daily: &daily,
        weekly: &weekly,
        monthly: &monthly,
    };

    completed
        .iter()
        .zip(places)
        .enumerate()
        .map(|(index, (backup, place))| {
            let (keep, reason) = match place {
                // Whatever else the policy says, a profile never ends up with no backup at all (e.g. after
                // the machine was off for longer than max_age_days). It still holds its series slot, if any.
                _ if Some(index) == newest => (true, NEWEST_REASON.to_string()),
                _ if Some(backup.id) == just_made => (true, JUST_MADE_REASON.to_string()),
                Place::Protected(protection) => (true, protection.reason()),
                Place::Series(slot) => decide_rotated(backup, slot, policy, &rules, age_base),
            };
            Verdict {
                id: backup.id,
                keep,
                reason,
            }
        })
        .collect()
}

/// The bucket label (day, week or month) under which each series member is kept, per rule.
struct BucketKeeps<'a> {
    daily: &'a [Option<String>],
    weekly: &'a [Option<String>],
    monthly: &'a [Option<String>],
}

/// Like restic's `--keep-daily` and friends: walking the series newest first, the first backup of each new
/// bucket is kept until `limit` distinct buckets have been kept. Returns, per series member, the bucket label
/// if this rule keeps it.
fn bucket_keeps(
    series: &[&BackupSummary],
    limit: u32,
    label: impl Fn(DateTime<Utc>) -> String,
) -> Vec<Option<String>> {
    let mut kept = 0u32;
    let mut previous: Option<String> = None;
    series
        .iter()
        .map(|backup| {
            if kept >= limit {
                return None;
            }
            let bucket = label(backup.created_at);
            // The series is sorted by time and every label is monotonic in time, so buckets are contiguous
            // and comparing with the previous label is enough to spot a new one.
            if previous.as_deref() == Some(bucket.as_str()) {
                return None;
            }
            kept += 1;
            previous = Some(bucket.clone());
            Some(bucket)
        })
        .collect()
}

/// Verdict for a series member that is not the newest backup; `slot` is its 0-based place in the series.
fn decide_rotated(
    backup: &BackupSummary,
    slot: usize,
    policy: &Policy,
    rules: &BucketKeeps<'_>,
    age_base: DateTime<Utc>,
) -> (bool, String) {
    let rank = slot + 1;
    let age = age_base.signed_duration_since(backup.created_at);
    // The age limit wins over every count rule: it is the user's promise that nothing older survives.
    // Future-dated backups are not series members, so an age is never negative here.
    if policy.max_age_days > 0 && age > Duration::days(i64::from(policy.max_age_days)) {
        return (
            false,
            format!(
                "older than {} days ({} days old)",
                policy.max_age_days,
                age.num_days()
            ),
        );
    }
    if u32::try_from(rank).is_ok_and(|rank| rank <= policy.keep_last) {
        return (
            true,
            format!("among {} (#{rank})", newest_words(policy.keep_last)),
        );
    }
    let bucket = |keeps: &[Option<String>]| keeps.get(slot).cloned().flatten();
    if let Some(day) = bucket(rules.daily) {
        return (
            true,
            format!(
                "newest of day {day} (one kept per day, for {} days)",
                policy.keep_daily
            ),
        );
    }
    if let Some(week) = bucket(rules.weekly) {
        return (
            true,
            format!(
                "newest of week {week} (one kept per week, for {} weeks)",
                policy.keep_weekly
            ),
        );
    }
    if let Some(month) = bucket(rules.monthly) {
        return (
            true,
            format!(
                "newest of month {month} (one kept per month, for {} months)",
                policy.keep_monthly
            ),
        );
    }
    (
        false,
        format!(
            "not among {} (#{rank}), and no day, week or month rule keeps it",
            newest_words(policy.keep_last)
        ),
    )
}

/// "the newest" or "the 3 newest".
fn newest_words(n: u32) -> String {
    match n {
        1 => "the newest".to_string(),
        n => format!("the {n} newest"),
    }
}

/// The verdicts that delete a backup (keep == false), in the order given.
pub fn deletions(verdicts: &[Verdict]) -> impl Iterator<Item = &Verdict> {
    verdicts.iter().filter(|verdict| !verdict.keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-20T12:00:00Z";

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at(NOW)
    }

    /// A completed, unpinned backup taken at an RFC 3339 time.
    fn bk(id: i64, when: &str, trigger: Trigger) -> BackupSummary {
        BackupSummary {
            id,
            created_at: at(when),
            trigger,
            status: Status::Completed,
            pinned: false,
        }
    }

    /// A completed, unpinned backup taken exactly `days` days before NOW.
    fn days_ago(id: i64, days: i64, trigger: Trigger) -> BackupSummary {
        BackupSummary {
            id,
            created_at: now() - Duration::days(days),
            trigger,
            status: Status::Completed,
            pinned: false,
        }
    }

    fn with_status(mut backup: BackupSummary, status: Status) -> BackupSummary {
        backup.status = status;
        backup
    }

    fn pinned(mut backup: BackupSummary) -> BackupSummary {
        backup.pinned = true;
        backup
    }

    fn policy(keep_last: u32, max_age_days: u32) -> Policy {
        Policy {
            keep_last,
            max_age_days,
            ..Policy::default()
        }
    }

    struct Case {
        name: &'static str,
        policy: Policy,
        now: DateTime<Utc>,
        backups: Vec<BackupSummary>,
        /// (id, keep, reason), newest first.
        expect: Vec<(i64, bool, &'static str)>,
    }

    use Trigger::{Automatic, Manual, Safety, Uploaded};

    const BEYOND_1_2: &str = "not among the newest (#2), and no day, week or month rule keeps it";
    const BEYOND_1_3: &str = "not among the newest (#3), and no day, week or month rule keeps it";
    const BEYOND_1_4: &str = "not among the newest (#4), and no day, week or month rule keeps it";
    const BEYOND_1_5: &str = "not among the newest (#5), and no day, week or month rule keeps it";
    const BEYOND_1_6: &str = "not among the newest (#6), and no day, week or month rule keeps it";

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "empty input",
                policy: Policy::default(),
                now: now(),
                backups: vec![],
                expect: vec![],
            },
            Case {
                name: "only failed, running, cancelled backups give no verdicts",
                policy: Policy::default(),
                now: now(),
                backups: vec![
                    with_status(days_ago(1, 3, Manual), Status::Failed),
                    with_status(days_ago(2, 2, Automatic), Status::Cancelled),
                    with_status(days_ago(3, 0, Automatic), Status::Running),
                ],
                expect: vec![],
            },
            Case {
                name: "single backup is kept even when older than max_age",
                policy: policy(10, 30),
                now: now(),
                backups: vec![days_ago(1, 100, Manual)],
                expect: vec![(1, true, NEWEST_REASON)],
            },
            Case {
                name: "keep_last 3 of 5",
                policy: policy(3, 0),
                now: now(),
                backups: vec![
                    days_ago(1, 5, Automatic),
                    days_ago(2, 4, Automatic),
                    days_ago(3, 3, Manual),
                    days_ago(4, 2, Automatic),
                    days_ago(5, 1, Automatic),
                ],
                expect: vec![
                    (5, true, NEWEST_REASON),
                    (4, true, "among the 3 newest (#2)"),
                    (3, true, "among the 3 newest (#3)"),
                    (
                        2,
                        false,
                        "not among the 3 newest (#4), and no day, week or month rule keeps it",
                    ),
                    (
                        1,
                        false,
                        "not among the 3 newest (#5), and no day, week or month rule keeps it",
                    ),
                ],
            },
            Case {
                name: "max_age removes an old backup even inside keep_last",
                policy: policy(10, 30),
                now: now(),
                backups: vec![
                    days_ago(1, 45, Manual),
                    days_ago(2, 10, Automatic),
                    days_ago(3, 1, Automatic),
                ],
                // Ages count from the newest backup (1 day ago).
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the 10 newest (#2)"),
                    (1, false, "older than 30 days (44 days old)"),
                ],
            },
            Case {
                name: "exactly max_age days old is not older than max_age",
                policy: policy(10, 30),
                now: now(),
                backups: vec![days_ago(1, 30, Manual), days_ago(2, 1, Automatic)],
                expect: vec![
                    (2, true, NEWEST_REASON),
                    (1, true, "among the 10 newest (#2)"),
                ],
            },
            Case {
                name: "machine off 60 days: ages count from the newest backup, so the gap ages nothing out",
                policy: policy(10, 30),
                now: now(),
                backups: vec![
                    days_ago(1, 63, Automatic),
                    days_ago(2, 62, Automatic),
                    days_ago(3, 61, Manual),
                    days_ago(4, 60, Automatic),
                ],
                expect: vec![
                    (4, true, NEWEST_REASON),
                    (3, true, "among the 10 newest (#2)"),
                    (2, true, "among the 10 newest (#3)"),
                    (1, true, "among the 10 newest (#4)"),
                ],
            },
            Case {
                name: "pinned backups are kept and use no keep_last slot",
                policy: policy(2, 30),
                now: now(),
                backups: vec![
                    pinned(days_ago(1, 400, Manual)),
                    days_ago(2, 3, Manual),
                    pinned(days_ago(3, 2, Automatic)),
                    days_ago(4, 1, Automatic),
                ],
                expect: vec![
                    (4, true, NEWEST_REASON),
                    (3, true, "pinned"),
                    (2, true, "among the 2 newest (#2)"),
                    (1, true, "pinned"),
                ],
            },
            Case {
                name: "uploaded backups are kept and use no keep_last slot",
                policy: policy(2, 30),
                now: now(),
                backups: vec![
                    days_ago(1, 500, Uploaded),
                    days_ago(2, 3, Automatic),
                    days_ago(3, 2, Uploaded),
                    days_ago(4, 1, Manual),
                ],
                expect: vec![
                    (4, true, NEWEST_REASON),
                    (3, true, "uploaded (only deleted by hand)"),
                    (2, true, "among the 2 newest (#2)"),
                    (1, true, "uploaded (only deleted by hand)"),
                ],
            },
            Case {
                name: "newest uploaded backup is kept as newest and is not in the series",
                policy: policy(1, 0),
                now: now(),
                backups: vec![
                    days_ago(1, 3, Manual),
                    days_ago(2, 2, Manual),
                    days_ago(3, 1, Uploaded),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the newest (#1)"),
                    (1, false, BEYOND_1_2),
                ],
            },
            Case {
                name: "safety backup 3 days old is kept outside keep_last",
                policy: policy(1, 0),
                now: now(),
                backups: vec![
                    days_ago(1, 4, Manual),
                    days_ago(2, 3, Safety),
                    days_ago(3, 1, Manual),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "safety backup younger than 7 days"),
                    (1, false, BEYOND_1_2),
                ],
            },
            Case {
                name: "safety backup 10 days old is deleted when beyond keep_last",
                policy: policy(2, 0),
                now: now(),
                backups: vec![
                    days_ago(1, 10, Safety),
                    days_ago(2, 2, Automatic),
                    days_ago(3, 1, Automatic),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the 2 newest (#2)"),
                    (
                        1,
                        false,
                        "not among the 2 newest (#3), and no day, week or month rule keeps it",
                    ),
                ],
            },
            Case {
                name: "safety backup exactly 7 days old is an ordinary candidate",
                policy: policy(2, 0),
                now: now(),
                backups: vec![
                    days_ago(1, 9, Manual),
                    days_ago(2, 7, Safety),
                    days_ago(3, 0, Automatic),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the 2 newest (#2)"),
                    (
                        1,
                        false,
                        "not among the 2 newest (#3), and no day, week or month rule keeps it",
                    ),
                ],
            },
            Case {
                name: "keep_daily keeps the newest of each of 3 days across 10 backups on 4 days",
                policy: Policy {
                    keep_daily: 3,
                    ..policy(1, 0)
                },
                now: now(),
                backups: vec![
                    bk(1, "2026-11-16T08:00:00Z", Automatic),
                    bk(2, "2026-11-16T20:00:00Z", Automatic),
                    bk(3, "2026-11-18T07:00:00Z", Automatic),
                    bk(4, "2026-11-18T12:00:00Z", Manual),
                    bk(5, "2026-11-18T23:59:59Z", Automatic),
                    bk(6, "2026-11-19T08:00:00Z", Automatic),
                    bk(7, "2026-11-19T18:00:00Z", Automatic),
                    bk(8, "2026-11-20T00:00:00Z", Automatic),
                    bk(9, "2026-11-20T10:00:00Z", Manual),
                    bk(10, "2026-11-20T11:00:00Z", Automatic),
                ],
                expect: vec![
                    // The newest also uses up the slot of its day, 2026-11-20.
                    (10, true, NEWEST_REASON),
                    (9, false, BEYOND_1_2),
                    (8, false, BEYOND_1_3),
                    (
                        7,
                        true,
                        "newest of day 2026-11-19 (one kept per day, for 3 days)",
                    ),
                    (6, false, BEYOND_1_5),
                    (
                        5,
                        true,
                        "newest of day 2026-11-18 (one kept per day, for 3 days)",
                    ),
                    (
                        4,
                        false,
                        "not among the newest (#7), and no day, week or month rule keeps it",
                    ),
                    (
                        3,
                        false,
                        "not among the newest (#8), and no day, week or month rule keeps it",
                    ),
                    // Three days are already kept, so 2026-11-16 gets nothing.
                    (
                        2,
                        false,
                        "not among the newest (#9), and no day, week or month rule keeps it",
                    ),
                    (
                        1,
                        false,
                        "not among the newest (#10), and no day, week or month rule keeps it",
                    ),
                ],
            },
            Case {
                name: "keep_weekly keeps the newest of each of 2 ISO weeks",
                policy: Policy {
                    keep_weekly: 2,
                    ..policy(1, 0)
                },
                now: now(),
                backups: vec![
                    bk(1, "2026-11-03T09:00:00Z", Automatic),
                    bk(2, "2026-11-10T09:00:00Z", Automatic),
                    bk(3, "2026-11-12T09:00:00Z", Automatic),
                    bk(4, "2026-11-17T09:00:00Z", Automatic),
                    bk(5, "2026-11-20T09:00:00Z", Automatic),
                ],
                expect: vec![
                    (5, true, NEWEST_REASON),
                    (4, false, BEYOND_1_2),
                    (
                        3,
                        true,
                        "newest of week 2026-W46 (one kept per week, for 2 weeks)",
                    ),
                    (2, false, BEYOND_1_4),
                    (1, false, BEYOND_1_5),
                ],
            },
            Case {
                name: "keep_weekly labels early January by its ISO year",
                policy: Policy {
                    keep_weekly: 3,
                    ..policy(1, 0)
                },
                now: at("2027-01-10T12:00:00Z"),
                backups: vec![
                    bk(1, "2026-12-30T09:00:00Z", Automatic),
                    bk(2, "2027-01-02T09:00:00Z", Automatic),
                    bk(3, "2027-01-09T09:00:00Z", Automatic),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (
                        2,
                        true,
                        "newest of week 2026-W53 (one kept per week, for 3 weeks)",
                    ),
                    (1, false, BEYOND_1_3),
                ],
            },
            Case {
                name: "keep_monthly keeps the newest of each of 3 months",
                policy: Policy {
                    keep_monthly: 3,
                    ..policy(1, 0)
                },
                now: now(),
                backups: vec![
                    bk(1, "2026-08-01T09:00:00Z", Automatic),
                    bk(2, "2026-09-15T09:00:00Z", Automatic),
                    bk(3, "2026-10-05T09:00:00Z", Automatic),
                    bk(4, "2026-10-30T09:00:00Z", Automatic),
                    bk(5, "2026-11-02T09:00:00Z", Automatic),
                    bk(6, "2026-11-19T09:00:00Z", Automatic),
                ],
                expect: vec![
                    (6, true, NEWEST_REASON),
                    (5, false, BEYOND_1_2),
                    (
                        4,
                        true,
                        "newest of month 2026-10 (one kept per month, for 3 months)",
                    ),
                    (3, false, BEYOND_1_4),
                    (
                        2,
                        true,
                        "newest of month 2026-09 (one kept per month, for 3 months)",
                    ),
                    (1, false, BEYOND_1_6),
                ],
            },
            Case {
                name: "max_age wins over keep_monthly",
                policy: Policy {
                    keep_monthly: 6,
                    ..policy(1, 30)
                },
                now: now(),
                backups: vec![days_ago(1, 45, Automatic), days_ago(2, 1, Automatic)],
                expect: vec![
                    (2, true, NEWEST_REASON),
                    (1, false, "older than 30 days (44 days old)"),
                ],
            },
            Case {
                name: "keep_last wins the reason over keep_daily",
                policy: Policy {
                    keep_daily: 7,
                    ..policy(2, 0)
                },
                now: now(),
                backups: vec![days_ago(1, 2, Automatic), days_ago(2, 1, Automatic)],
                expect: vec![
                    (2, true, NEWEST_REASON),
                    (1, true, "among the 2 newest (#2)"),
                ],
            },
            Case {
                name: "ties in created_at are ordered by id, larger id newest",
                policy: policy(2, 0),
                now: now(),
                backups: vec![
                    bk(5, "2026-11-20T10:00:00Z", Manual),
                    bk(6, "2026-11-19T10:00:00Z", Automatic),
                    bk(7, "2026-11-20T10:00:00Z", Automatic),
                ],
                expect: vec![
                    (7, true, NEWEST_REASON),
                    (5, true, "among the 2 newest (#2)"),
                    (
                        6,
                        false,
                        "not among the 2 newest (#3), and no day, week or month rule keeps it",
                    ),
                ],
            },
            Case {
                name: "failed, running, deleted backups are ignored and never counted toward keep_last",
                policy: policy(3, 0),
                now: now(),
                backups: vec![
                    with_status(days_ago(8, 9, Manual), Status::Corrupted),
                    with_status(days_ago(6, 4, Automatic), Status::Deleted),
                    days_ago(1, 3, Automatic),
                    days_ago(2, 2, Automatic),
                    days_ago(3, 1, Automatic),
                    with_status(bk(4, "2026-11-20T06:00:00Z", Automatic), Status::Failed),
                    with_status(bk(7, "2026-11-20T09:00:00Z", Manual), Status::Cancelled),
                    with_status(bk(5, "2026-11-20T11:59:00Z", Automatic), Status::Running),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the 3 newest (#2)"),
                    (1, true, "among the 3 newest (#3)"),
                ],
            },
        ]
    }

    #[test]
    fn plan_cases() {
        let cases = cases();
        assert!(cases.len() >= 15, "too few cases: {}", cases.len());
        for case in cases {
            let got: Vec<(i64, bool, String)> = plan(&case.backups, &case.policy, case.now)
                .into_iter()
                .map(|v| (v.id, v.keep, v.reason))
                .collect();
            let want: Vec<(i64, bool, String)> = case
                .expect
                .iter()
                .map(|(id, keep, reason)| (*id, *keep, reason.to_string()))
                .collect();
            assert_eq!(got, want, "case: {}", case.name);
        }
    }

    /// Clock anomalies: `just_made` is the backup the retention run follows (None: an explicit prune).
    struct ClockCase {
        name: &'static str,
        policy: Policy,
        just_made: Option<i64>,
        backups: Vec<BackupSummary>,
        /// (id, keep, reason), newest first.
        expect: Vec<(i64, bool, &'static str)>,
    }

    const AHEAD_400_DAYS: &str = "dated 400 days in the future (clock ahead when it was taken?); kept, and counted neither among the newest nor by age";
    const AHEAD_1_DAY: &str = "dated 1 day in the future (clock ahead when it was taken?); kept, and counted neither among the newest nor by age";

    fn clock_cases() -> Vec<ClockCase> {
        vec![
            ClockCase {
                name: "keep-last 1: a backup 400 days ahead does not make the new one delete itself",
                policy: policy(1, 0),
                just_made: Some(3),
                backups: vec![
                    bk(1, "2027-12-25T12:00:00Z", Automatic),
                    days_ago(2, 1, Manual),
                    bk(3, NOW, Manual),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (1, true, AHEAD_400_DAYS),
                    (2, false, BEYOND_1_2),
                ],
            },
            ClockCase {
                name: "keep-last 3 keeps three current backups besides the future one",
                policy: policy(3, 0),
                just_made: Some(5),
                backups: vec![
                    bk(1, "2027-12-25T12:00:00Z", Automatic),
                    days_ago(2, 3, Manual),
                    days_ago(3, 2, Manual),
                    days_ago(4, 1, Manual),
                    bk(5, NOW, Automatic),
                ],
                expect: vec![
                    (5, true, NEWEST_REASON),
                    (1, true, AHEAD_400_DAYS),
                    (4, true, "among the 3 newest (#2)"),
                    (3, true, "among the 3 newest (#3)"),
                    (
                        2,
                        false,
                        "not among the 3 newest (#4), and no day, week or month rule keeps it",
                    ),
                ],
            },
            ClockCase {
                name: "explicit prune: the future one is not the newest, the newest current one is",
                policy: policy(1, 0),
                just_made: None,
                backups: vec![
                    days_ago(2, 2, Manual),
                    days_ago(3, 1, Manual),
                    bk(9, "2027-12-25T12:00:00Z", Automatic),
                ],
                expect: vec![
                    (9, true, AHEAD_400_DAYS),
                    (3, true, NEWEST_REASON),
                    (2, false, BEYOND_1_2),
                ],
            },
            ClockCase {
                name: "max_age: the future one is not aged, current ones are aged from the newest before the one just made",
                policy: policy(5, 10),
                just_made: Some(3),
                backups: vec![
                    days_ago(1, 20, Manual),
                    days_ago(4, 5, Manual),
                    bk(2, "2027-12-25T12:00:00Z", Manual),
                    bk(3, NOW, Manual),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, AHEAD_400_DAYS),
                    (4, true, "among the 5 newest (#2)"),
                    (1, false, "older than 10 days (15 days old)"),
                ],
            },
            ClockCase {
                // The clock ran 400 days ahead while backup 3 was taken: "now" is that wrong clock. The earlier
                // backups are aged from the newest of them, not from it, so none goes.
                name: "a clock ahead while a backup is taken does not age the earlier backups out",
                policy: policy(5, 30),
                just_made: Some(3),
                backups: vec![
                    days_ago(1, 410, Manual),
                    days_ago(2, 400, Automatic),
                    bk(3, NOW, Manual),
                ],
                expect: vec![
                    (3, true, NEWEST_REASON),
                    (2, true, "among the 5 newest (#2)"),
                    (1, true, "among the 5 newest (#3)"),
                ],
            },
            ClockCase {
                name: "keep_daily walks current backups only",
                policy: Policy {
                    keep_daily: 2,
                    ..policy(1, 0)
                },
                just_made: Some(4),
                backups: vec![
                    days_ago(1, 2, Manual),
                    days_ago(2, 1, Manual),
                    bk(3, "2026-11-25T12:00:00Z", Manual),
                    bk(4, NOW, Manual),
                ],
                expect: vec![
                    (4, true, NEWEST_REASON),
                    (
                        3,
                        true,
                        "dated 5 days in the future (clock ahead when it was taken?); kept, and counted neither among the newest nor by age",
                    ),
                    (
                        2,
                        true,
                        "newest of day 2026-11-19 (one kept per day, for 2 days)",
                    ),
                    (1, false, BEYOND_1_3),
                ],
            },
            ClockCase {
                name: "clock jumped back a day: the backup made 'yesterday' is kept, today's looks ahead and is kept",
                policy: policy(1, 0),
                just_made: Some(2),
                backups: vec![days_ago(1, -1, Manual), bk(2, NOW, Manual)],
                expect: vec![(2, true, NEWEST_REASON), (1, true, AHEAD_1_DAY)],
            },
            ClockCase {
                name: "clock jumped back 2 minutes (within tolerance): the backup just made still survives",
                policy: policy(1, 0),
                just_made: Some(2),
                backups: vec![bk(1, "2026-11-20T12:02:00Z", Manual), bk(2, NOW, Manual)],
                expect: vec![(1, true, NEWEST_REASON), (2, true, JUST_MADE_REASON)],
            },
            ClockCase {
                name: "a future-dated safety backup is kept as future, not as young",
                policy: policy(1, 0),
                just_made: Some(2),
                backups: vec![bk(1, "2027-12-25T12:00:00Z", Safety), bk(2, NOW, Manual)],
                expect: vec![(2, true, NEWEST_REASON), (1, true, AHEAD_400_DAYS)],
            },
            ClockCase {
                name: "a pinned future backup says pinned",
                policy: policy(1, 0),
                just_made: Some(2),
                backups: vec![
                    pinned(bk(1, "2027-12-25T12:00:00Z", Manual)),
                    bk(2, NOW, Manual),
                ],
                expect: vec![(2, true, NEWEST_REASON), (1, true, "pinned")],
            },
            ClockCase {
                name: "up to 5 minutes ahead is ordinary skew: a current backup holding the newest place",
                policy: policy(1, 0),
                just_made: None,
                backups: vec![
                    days_ago(1, 1, Manual),
                    bk(2, "2026-11-20T12:05:00Z", Manual),
                ],
                expect: vec![(2, true, NEWEST_REASON), (1, false, BEYOND_1_2)],
            },
            ClockCase {
                name: "only future-dated backups: all kept",
                policy: policy(1, 0),
                just_made: None,
                backups: vec![
                    bk(1, "2027-12-24T12:00:00Z", Manual),
                    bk(2, "2027-12-25T12:00:00Z", Manual),
                ],
                expect: vec![
                    (2, true, AHEAD_400_DAYS),
                    (
                        1,
                        true,
                        "dated 399 days in the future (clock ahead when it was taken?); kept, and counted neither among the newest nor by age",
                    ),
                ],
            },
        ]
    }

    #[test]
    fn plan_clock_cases() {
        for case in clock_cases() {
            let got: Vec<(i64, bool, String)> =
                plan_after(&case.backups, &case.policy, now(), case.just_made)
                    .into_iter()
                    .map(|v| (v.id, v.keep, v.reason))
                    .collect();
            let want: Vec<(i64, bool, String)> = case
                .expect
                .iter()
                .map(|(id, keep, reason)| (*id, *keep, reason.to_string()))
                .collect();
            assert_eq!(got, want, "case: {}", case.name);
        }
    }

    #[test]
    fn describe_says_the_policy_in_plain_words() {
        let cases = [
            (
                policy(10, 30),
                "Keeps the 10 newest backups, and deletes backups more than 30 days older than the newest one. \
                 Pinned and uploaded backups are kept too, safety backups for 7 days, and the newest backup always.",
            ),
            (
                Policy {
                    keep_daily: 7,
                    keep_weekly: 1,
                    ..policy(1, 0)
                },
                "Keeps the newest backup, one per day for 7 days and one per week for 1 week. Pinned and uploaded \
                 backups are kept too, safety backups for 7 days, and the newest backup always.",
            ),
            (
                Policy {
                    keep_monthly: 12,
                    ..policy(2, 1)
                },
                "Keeps the 2 newest backups and one per month for 12 months, and deletes backups more than 1 day \
                 older than the newest one. Pinned and uploaded backups are kept too, safety backups for 7 days, \
                 and the newest backup always.",
            ),
        ];
        for (policy, expected) in cases {
            assert_eq!(describe(&policy), expected);
        }
    }

    #[test]
    fn clock_ahead_and_span_text() {
        assert_eq!(span_text(400 * 86_400 - 5), "400 days");
        let cases: [(&str, Option<i64>, &str); 5] = [
            ("2026-11-20T12:00:00Z", None, ""),
            ("2026-11-20T12:05:00Z", None, ""),
            ("2026-11-20T12:05:01Z", Some(301), "5 minutes"),
            ("2026-11-20T13:00:00Z", Some(3600), "1 hour"),
            ("2027-12-25T12:00:00Z", Some(400 * 86_400), "400 days"),
        ];
        for (when, secs, text) in cases {
            let got = clock_ahead_secs(at(when), now());
            assert_eq!(got, secs, "{when}");
            assert_eq!(got.map(span_text).unwrap_or_default(), text, "{when}");
        }
        assert_eq!(clock_ahead_secs(at("2026-11-19T12:00:00Z"), now()), None);
    }

    #[test]
    fn plan_is_deterministic_and_covers_exactly_the_completed_ids() {
        let policy = Policy {
            keep_daily: 5,
            keep_weekly: 3,
            keep_monthly: 2,
            ..policy(4, 40)
        };
        let statuses = Status::ALL;
        let triggers = Trigger::ALL;
        // A varied but fixed history: every status and trigger, some pins, some same-time ties.
        let backups: Vec<BackupSummary> = (1..=60)
            .map(|id: i64| {
                let index = usize::try_from(id).unwrap();
                BackupSummary {
                    id,
                    created_at: now() - Duration::hours((id * 37) % 1500),
                    trigger: triggers[index % triggers.len()],
                    status: statuses[(index * 7) % statuses.len()],
                    pinned: id % 11 == 0,
                }
            })
            .collect();
        let reversed: Vec<BackupSummary> = backups.iter().rev().cloned().collect();

        let first = plan(&backups, &policy, now());
        assert_eq!(first, plan(&backups, &policy, now()), "same input twice");
        assert_eq!(first, plan(&reversed, &policy, now()), "reversed input");

        let mut got: Vec<i64> = first.iter().map(|v| v.id).collect();
        let mut want: Vec<i64> = backups
            .iter()
            .filter(|b| b.status == Status::Completed)
            .map(|b| b.id)
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        assert!(!want.is_empty(), "fixture should have completed backups");
        assert_eq!(got, want, "verdict ids are the completed ids");
        assert!(
            first.iter().any(|v| !v.keep) && first.iter().any(|v| v.keep),
            "fixture should exercise both outcomes"
        );
    }

    #[test]
    fn deletions_yields_only_deletes_in_order() {
        let verdicts = [(1, true), (2, false), (3, true), (4, false)].map(|(id, keep)| Verdict {
            id,
            keep,
            reason: String::new(),
        });
        let cases: [(&str, &[Verdict], Vec<i64>); 3] = [
            ("empty", &[], vec![]),
            ("mixed", &verdicts, vec![2, 4]),
            ("all kept", &verdicts[..1], vec![]),
        ];
        for (name, input, want) in cases {
            let got: Vec<i64> = deletions(input).map(|v| v.id).collect();
            assert_eq!(got, want, "case: {name}");
        }
    }
}
