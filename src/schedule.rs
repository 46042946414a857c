//! Schedule: whether an automatic backup is due, judged from the wall clock.
//!
//! Pure: the caller passes `now` and the last automatic backup's time, so the window scheduler and
//! `backstop run-due` make the same decision and tests need no clock.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// Whether an automatic backup is due, and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCheck {
    /// Whether an automatic backup should start now.
    pub due: bool,
    /// Whole intervals that elapsed with no automatic backup, beyond the one that is due now (0 when on time). Used for "2 automatic backups were missed while Backstop was closed; one catch-up backup was made."
    pub missed: u32,
    /// When the next automatic backup falls due (None when automatic backups are off).
    pub next_at: Option<DateTime<Utc>>,
    /// Short reason for logs: "never backed up", "interval of 24 h elapsed", "not due until …", "automatic backups are off", "last automatic backup is dated in the future (clock moved backwards); backing up now".
    pub reason: String,
}

/// Decide from the wall clock whether an automatic backup is due. `last_automatic` is the created time of the most recently *recorded* (by catalog insertion order, not max time) completed automatic backup.
///
/// Using the most recently recorded backup rather than the latest timestamp is what lets one backup taken
/// after the clock moved backwards become the new base, instead of the schedule stalling until the clock
/// catches up with the bad timestamp.
pub fn check(
    last_automatic: Option<DateTime<Utc>>,
    auto_enabled: bool,
    interval_hours: u32,
    now: DateTime<Utc>,
) -> DueCheck {
    if !auto_enabled {
        return DueCheck {
            due: false,
            missed: 0,
            next_at: None,
            reason: "automatic backups are off".to_string(),
        };
    }
    // Validation elsewhere forbids 0; a zero interval here would divide by zero and back up on every check.
    let hours = interval_hours.max(1);
    let interval = Duration::hours(i64::from(hours));

    let Some(last) = last_automatic else {
        return due_now(0, "never backed up".to_string(), now);
    };

    let elapsed = now.signed_duration_since(last);
    // A last backup a few minutes ahead is ordinary clock skew (an NTP correction, a catalog written on another
    // machine) and counts as on time; further ahead, the clock moved backwards (or was ahead when it was taken).
    if crate::retention::clock_ahead_secs(last, now).is_some() {
        // Waiting for the clock to reach the bad timestamp could mean no backups for a long time.
        return due_now(
            0,
            "last automatic backup is dated in the future (clock moved backwards); backing up now"
                .to_string(),
            now,
        );
    }
    if elapsed >= interval {
        // Only one catch-up backup is made however many intervals were missed: several copies of the same
        // data taken back to back would be worth no more than one, and would push older backups out.
        // Whole seconds are exact here because the interval is a whole number of hours.
        let intervals = elapsed.num_seconds() / interval.num_seconds();
        let missed = u32::try_from(intervals.saturating_sub(1)).unwrap_or(u32::MAX);
        return due_now(missed, format!("interval of {hours} h elapsed"), now);
    }

    // Only reachable for timestamps near chrono's limits; saying "due" there is safer than never.
    let Some(next_at) = last.checked_add_signed(interval) else {
        return due_now(0, format!("interval of {hours} h elapsed"), now);
    };
    DueCheck {
        due: false,
        missed: 0,
        next_at: Some(next_at),
        reason: format!(
            "not due until {}",
            next_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    }
}

fn due_now(missed: u32, reason: String, now: DateTime<Utc>) -> DueCheck {
    DueCheck {
        due: true,
        missed,
        next_at: Some(now),
        reason,
    }
}

/// How far the wall clock may run ahead of the monotonic clock before we call it a wake from sleep.
pub const WAKE_SLACK: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether the machine slept (or the wall clock was changed) between two checks: the monotonic clock stops during
/// suspend on Linux and macOS while the wall clock does not, so wall time that ran ahead (or backwards) says so.
/// `wall_elapsed` is `None` when the wall clock went backwards.
pub fn clock_jumped(
    mono_elapsed: std::time::Duration,
    wall_elapsed: Option<std::time::Duration>,
) -> bool {
    match wall_elapsed {
        Some(wall) => wall > mono_elapsed + WAKE_SLACK,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const NOW: &str = "2026-11-20T12:00:00Z";

    struct Case {
        name: &'static str,
        last: Option<&'static str>,
        enabled: bool,
        interval_hours: u32,
        due: bool,
        missed: u32,
        next_at: Option<&'static str>,
        reason: &'static str,
    }

    const CASES: &[Case] = &[
        Case {
            name: "automatic backups off",
            last: Some("2026-11-01T12:00:00Z"),
            enabled: false,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: None,
            reason: "automatic backups are off",
        },
        Case {
            name: "off and never backed up is still off",
            last: None,
            enabled: false,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: None,
            reason: "automatic backups are off",
        },
        Case {
            name: "never backed up",
            last: None,
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 0,
            next_at: Some(NOW),
            reason: "never backed up",
        },
        Case {
            name: "one second under the interval",
            last: Some("2026-11-19T12:00:01Z"),
            enabled: true,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: Some("2026-11-20T12:00:01Z"),
            reason: "not due until 2026-11-20T12:00:01Z",
        },
        Case {
            name: "exactly one interval",
            last: Some("2026-11-19T12:00:00Z"),
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 0,
            next_at: Some(NOW),
            reason: "interval of 24 h elapsed",
        },
        Case {
            name: "just under two intervals is still one due, none missed",
            last: Some("2026-11-18T12:00:01Z"),
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 0,
            next_at: Some(NOW),
            reason: "interval of 24 h elapsed",
        },
        Case {
            name: "3.5 intervals elapsed misses 2",
            last: Some("2026-11-20T05:00:00Z"),
            enabled: true,
            interval_hours: 2,
            due: true,
            missed: 2,
            next_at: Some(NOW),
            reason: "interval of 2 h elapsed",
        },
        Case {
            name: "laptop asleep 3 days with a 24 h interval",
            last: Some("2026-11-17T12:00:00Z"),
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 2,
            next_at: Some(NOW),
            reason: "interval of 24 h elapsed",
        },
        Case {
            name: "clock moved backwards 2 h",
            last: Some("2026-11-20T14:00:00Z"),
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 0,
            next_at: Some(NOW),
            reason: "last automatic backup is dated in the future (clock moved backwards); backing up now",
        },
        Case {
            // The clock was 400 days ahead when it was taken: waiting for the clock to reach it would stop
            // automatic backups for 400 days. The catch-up backup made now becomes the base.
            name: "last automatic backup 400 days ahead is due now, not in 400 days",
            last: Some("2027-12-25T12:00:00Z"),
            enabled: true,
            interval_hours: 24,
            due: true,
            missed: 0,
            next_at: Some(NOW),
            reason: "last automatic backup is dated in the future (clock moved backwards); backing up now",
        },
        Case {
            name: "1 minute of backwards skew is not due",
            last: Some("2026-11-20T12:01:00Z"),
            enabled: true,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: Some("2026-11-21T12:01:00Z"),
            reason: "not due until 2026-11-21T12:01:00Z",
        },
        Case {
            name: "exactly 5 minutes of backwards skew is still tolerated",
            last: Some("2026-11-20T12:05:00Z"),
            enabled: true,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: Some("2026-11-21T12:05:00Z"),
            reason: "not due until 2026-11-21T12:05:00Z",
        },
        Case {
            name: "next_at is last plus interval",
            last: Some("2026-11-20T09:30:00Z"),
            enabled: true,
            interval_hours: 6,
            due: false,
            missed: 0,
            next_at: Some("2026-11-20T15:30:00Z"),
            reason: "not due until 2026-11-20T15:30:00Z",
        },
        Case {
            name: "backed up this instant",
            last: Some(NOW),
            enabled: true,
            interval_hours: 24,
            due: false,
            missed: 0,
            next_at: Some("2026-11-21T12:00:00Z"),
            reason: "not due until 2026-11-21T12:00:00Z",
        },
        Case {
            name: "interval 0 is treated as 1 hour",
            last: Some("2026-11-20T11:30:00Z"),
            enabled: true,
            interval_hours: 0,
            due: false,
            missed: 0,
            next_at: Some("2026-11-20T12:30:00Z"),
            reason: "not due until 2026-11-20T12:30:00Z",
        },
        Case {
            name: "interval 0 elapsed counts hours",
            last: Some("2026-11-20T09:00:00Z"),
            enabled: true,
            interval_hours: 0,
            due: true,
            missed: 2,
            next_at: Some(NOW),
            reason: "interval of 1 h elapsed",
        },
    ];

    #[test]
    fn check_cases() {
        let now = at(NOW);
        for case in CASES {
            let got = check(case.last.map(at), case.enabled, case.interval_hours, now);
            let want = DueCheck {
                due: case.due,
                missed: case.missed,
                next_at: case.next_at.map(at),
                reason: case.reason.to_string(),
            };
            assert_eq!(got, want, "case: {}", case.name);
        }
    }

    #[test]
    fn not_due_means_next_at_is_in_the_future_and_due_means_now() {
        // Sweep last-backup offsets around the interval boundary to check the invariants tie together.
        let now = at(NOW);
        let cases: [(&str, u32); 3] = [("hourly", 1), ("daily", 24), ("weekly", 168)];
        for (name, hours) in cases {
            for minutes_ago in (-4..=i64::from(hours) * 60 * 3).step_by(7) {
                let last = now - Duration::minutes(minutes_ago);
                let got = check(Some(last), true, hours, now);
                let next_at = got.next_at.unwrap();
                if got.due {
                    assert_eq!(next_at, now, "case: {name}, {minutes_ago} min ago");
                } else {
                    assert!(next_at > now, "case: {name}, {minutes_ago} min ago");
                    assert_eq!(got.missed, 0, "case: {name}, {minutes_ago} min ago");
                }
            }
        }
    }

    #[test]
    fn clock_jump_cases() {
        use std::time::Duration as D;
        let cases = [
            (
                "steady minute",
                D::from_secs(60),
                Some(D::from_secs(60)),
                false,
            ),
            (
                "small drift",
                D::from_secs(60),
                Some(D::from_secs(150)),
                false,
            ),
            (
                "woke after 3 hours asleep",
                D::from_secs(60),
                Some(D::from_secs(3 * 3600 + 60)),
                true,
            ),
            ("wall clock moved backwards", D::from_secs(60), None, true),
            (
                "busy machine, late tick",
                D::from_secs(300),
                Some(D::from_secs(300)),
                false,
            ),
        ];
        for (name, mono, wall, want) in cases {
            assert_eq!(clock_jumped(mono, wall), want, "case {name}");
        }
    }
}
