//! A profile's state in one line, as the window's status header and its profile list say it: protected, at work,
//! needing attention (with the one thing to do about it), or not protected yet. Pure: the caller passes the
//! catalog rows, the policy, the banner's alerts, what the worker is doing, whether automatic backups are paused and
//! the time.
//!
//! The words follow Pika Backup and Déjà Dup: one look says whether the data is safe ("Protected — last backup
//! 3 h ago, verified; next in 21 h"); the details stay one click away.

use crate::catalog::BackupRow;
use crate::health::Alert;
use crate::model::{Policy, Status, Trigger};
use chrono::{DateTime, Duration, Utc};

/// How the state should feel: its colour and icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// The latest backup is good and recent enough.
    Protected,
    /// A job runs for the profile.
    Working,
    /// Something needs the user.
    Attention,
    /// Nothing is wrong, but nothing protects the data yet.
    Unprotected,
}

/// The one action that moves the profile towards protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Take the first backup now.
    FirstBackup,
    /// Take a backup now, after a failure or too long without one.
    TryAgain,
    /// Look at the backup in History (a flagged one: is the data what you expect?).
    OpenHistory,
    /// Copy what waits to the profile's destinations now, without waiting for the next retry.
    SyncNow,
}

impl Fix {
    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Fix::FirstBackup => "Make the first backup",
            Fix::TryAgain => "Back up again now",
            Fix::OpenHistory => "Open History",
            Fix::SyncNow => "Sync now",
        }
    }
}

/// What a running job of the profile looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct Working {
    /// The job's verb phrase, capitalised: "Backing up", "Restoring", "Verifying".
    pub doing: String,
    /// How far it is, 0..=1, when known.
    pub fraction: Option<f32>,
}

/// A profile's state.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileStatus {
    pub tone: Tone,
    /// "Protected", "Backing up… 62 %", "Needs attention", "Not protected yet".
    pub headline: String,
    /// The line after it: when the last backup was, when the next is, or what is wrong.
    pub detail: String,
    pub fix: Option<Fix>,
}

impl ProfileStatus {
    /// Headline and detail in one line.
    pub fn line(&self) -> String {
        if self.detail.is_empty() {
            self.headline.clone()
        } else {
            format!("{} — {}", self.headline, self.detail)
        }
    }
}

/// The state of one profile. `backups`: its catalog rows; `alerts`: what its banner says
/// ([`crate::health::alerts`]); `last_automatic`: the time the schedule counts from; `working`: its running job;
/// `paused`: automatic backups are paused for every profile (`settings.automatic_paused`), so none is coming.
pub fn profile_status(
    backups: &[BackupRow],
    policy: &Policy,
    alerts: &[Alert],
    last_automatic: Option<DateTime<Utc>>,
    working: Option<&Working>,
    paused: bool,
    now: DateTime<Utc>,
) -> ProfileStatus {
    if let Some(w) = working {
        let headline = match w.fraction {
            Some(f) => format!("{}… {:.0} %", w.doing, (f.clamp(0.0, 1.0) * 100.0).floor()),
            None => format!("{}…", w.doing),
        };
        return ProfileStatus {
            tone: Tone::Working,
            headline,
            detail: last_backup_words(backups, now),
            fix: None,
        };
    }
    if let Some(alert) = alerts.first() {
        let flagged = alert.key.starts_with("flagged-");
        let more = match alerts.len() {
            1 => String::new(),
            n => format!(" (and {} more below)", n - 1),
        };
        return ProfileStatus {
            tone: Tone::Attention,
            headline: "Needs attention".into(),
            detail: format!("{}{more}", lowercase_first(&alert.text)),
            fix: Some(if flagged {
                Fix::OpenHistory
            } else if alert.dest.is_some() {
                Fix::SyncNow
            } else {
                Fix::TryAgain
            }),
        };
    }
    if last_good(backups, now).is_none() {
        let detail = if policy.auto_enabled && paused {
            "no backup yet, and automatic backups are paused".to_string()
        } else if policy.auto_enabled {
            "no backup yet; the first automatic one comes soon".to_string()
        } else {
            "no backup yet, and automatic backups are off".to_string()
        };
        return ProfileStatus {
            tone: Tone::Unprotected,
            headline: "Not protected yet".into(),
            detail,
            fix: Some(Fix::FirstBackup),
        };
    }
    let check = crate::schedule::check(
        last_automatic,
        policy.auto_enabled,
        policy.auto_interval_hours,
        now,
    );
    let next = match check.next_at {
        None => "automatic backups are off".to_string(),
        Some(_) if paused => "automatic backups are paused".to_string(),
        Some(at) if at <= now => "the next automatic one is due now".to_string(),
        Some(at) => format!("next in {}", span(at - now)),
    };
    ProfileStatus {
        tone: Tone::Protected,
        headline: "Protected".into(),
        detail: format!("{}; {next}", last_backup_words(backups, now)),
        fix: None,
    }
}

/// The newest completed backup the user made (manual or automatic) whose date is not in the future.
fn last_good(backups: &[BackupRow], now: DateTime<Utc>) -> Option<&BackupRow> {
    backups
        .iter()
        .filter(|b| {
            b.status == Status::Completed
                && matches!(b.trigger, Trigger::Manual | Trigger::Automatic)
                && b.created_at <= now + Duration::minutes(1)
        })
        .max_by_key(|b| (b.created_at, b.id))
}

/// "last backup 3 h ago, verified" (every completed backup was read back and checked when it was sealed).
fn last_backup_words(backups: &[BackupRow], now: DateTime<Utc>) -> String {
    match last_good(backups, now) {
        Some(b) => format!("last backup {}, verified", ago(now - b.created_at)),
        None => "no backup yet".to_string(),
    }
}

/// "just now", "12 min ago", "3 h ago", "2 days ago".
pub fn ago(d: Duration) -> String {
    if d < Duration::minutes(1) {
        "just now".to_string()
    } else {
        format!("{} ago", span(d))
    }
}

/// "12 min", "3 h", "2 days" (rounded down; at least 1 min).
pub fn span(d: Duration) -> String {
    let minutes = d.num_minutes().max(1);
    if minutes < 60 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{} h", minutes / 60)
    } else {
        format!("{} days", minutes / (24 * 60))
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    let first_word = text.split_whitespace().next().unwrap_or_default();
    // Keep "PostgreSQL", "SQLite" and the like: only a word that is lower case after its capital is lowered.
    let plain_word = first_word
        .chars()
        .skip(1)
        .all(|c| !c.is_alphabetic() || c.is_lowercase());
    match chars.next() {
        Some(c) if c.is_uppercase() && plain_word => c.to_lowercase().chain(chars).collect(),
        _ => text.to_string(),
    }
}

/// Every profile's state in one: what the tray's icon and tooltip say.
#[derive(Debug, Clone, PartialEq)]
pub struct Overall {
    /// The colour of the tray's mark.
    pub tone: Tone,
    /// The tooltip's words: "All 2 profiles are protected", "shop: Backing up… 62 %", "shop needs attention: …".
    pub words: String,
}

/// Sums up `profiles` (name and state, in config order): a running job first (its profile and how far), then the
/// first profile that needs attention, then one not protected yet; otherwise all are protected. `paused` (the
/// tray's "Pause automatic backups") is said after it.
pub fn overall(profiles: &[(String, ProfileStatus)], paused: bool) -> Overall {
    let first = |tone: Tone| profiles.iter().find(|(_, s)| s.tone == tone);
    let (tone, words) = if profiles.is_empty() {
        (Tone::Unprotected, "No profile yet".to_string())
    } else if let Some((name, status)) = first(Tone::Working) {
        (Tone::Working, format!("{name}: {}", status.headline))
    } else if let Some((name, status)) = first(Tone::Attention) {
        (
            Tone::Attention,
            format!("{name} needs attention: {}", status.detail),
        )
    } else if let Some((name, _)) = first(Tone::Unprotected) {
        (Tone::Unprotected, format!("{name} is not protected yet"))
    } else if let [(name, _)] = profiles {
        (Tone::Protected, format!("{name} is protected"))
    } else {
        (
            Tone::Protected,
            format!("All {} profiles are protected", profiles.len()),
        )
    };
    let words = if paused {
        format!("{words}\nAutomatic backups are paused")
    } else {
        words
    };
    Overall { tone, words }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use chrono::TimeZone;

    fn row(id: i64, trigger: Trigger, status: Status, at: DateTime<Utc>) -> BackupRow {
        BackupRow {
            id,
            profile: "p".into(),
            kind: Kind::Full,
            trigger,
            status,
            path: format!("/a/{id}.zip").into(),
            size_bytes: Some(100),
            sha256: Some("x".into()),
            created_at: at,
            finished_at: Some(at),
            duration_ms: Some(1),
            engine: None,
            engine_version: None,
            database_name: None,
            database_size_bytes: None,
            error: None,
            pinned: false,
            tables: None,
            warnings: Vec::new(),
            clock_ahead_secs: None,
            copies: Vec::new(),
            encryption: None,
        }
    }

    fn policy(auto: bool) -> Policy {
        Policy {
            auto_enabled: auto,
            auto_interval_hours: 24,
            ..Policy::default()
        }
    }

    /// Name, rows, automatic backups on, alerts, running job, and the expected tone, line and fix.
    type Case<'a> = (
        &'a str,
        Vec<BackupRow>,
        bool,
        Vec<Alert>,
        Option<&'a Working>,
        Tone,
        &'a str,
        Option<Fix>,
    );

    #[test]
    fn each_state_in_words() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let h = Duration::hours;
        let good = row(1, Trigger::Automatic, Status::Completed, now - h(3));
        let alert = Alert {
            key: "failed-2".into(),
            text: "The last backup failed (…): cannot reach the database server".into(),
            dest: None,
        };
        let flagged = Alert {
            key: "flagged-3".into(),
            text: "Backup 3 was flagged".into(),
            dest: None,
        };
        let copies = Alert {
            key: "dest-failing-usb".into(),
            text: "Copies to usb are failing: folder /media/usb is missing".into(),
            dest: Some("usb".into()),
        };
        let working = Working {
            doing: "Backing up".into(),
            fraction: Some(0.625),
        };
        let deleted = row(5, Trigger::Manual, Status::Deleted, now - h(1));
        let future = row(6, Trigger::Manual, Status::Completed, now + h(30));
        let uploaded = row(7, Trigger::Uploaded, Status::Completed, now - h(1));
        let cases: Vec<Case> = vec![
            (
                "protected",
                vec![good.clone()],
                true,
                vec![],
                None,
                Tone::Protected,
                "Protected — last backup 3 h ago, verified; next in 21 h",
                None,
            ),
            (
                "protected, manual only",
                vec![good.clone()],
                false,
                vec![],
                None,
                Tone::Protected,
                "Protected — last backup 3 h ago, verified; automatic backups are off",
                None,
            ),
            (
                "working",
                vec![good.clone()],
                true,
                vec![],
                Some(&working),
                Tone::Working,
                "Backing up… 62 % — last backup 3 h ago, verified",
                None,
            ),
            (
                "failed",
                vec![good.clone()],
                true,
                vec![alert.clone()],
                None,
                Tone::Attention,
                "Needs attention — the last backup failed (…): cannot reach the database server",
                Some(Fix::TryAgain),
            ),
            (
                "two alerts",
                vec![good.clone()],
                true,
                vec![flagged.clone(), alert.clone()],
                None,
                Tone::Attention,
                "Needs attention — backup 3 was flagged (and 1 more below)",
                Some(Fix::OpenHistory),
            ),
            (
                "copies failing",
                vec![good.clone()],
                true,
                vec![copies],
                None,
                Tone::Attention,
                "Needs attention — copies to usb are failing: folder /media/usb is missing",
                Some(Fix::SyncNow),
            ),
            (
                "nothing yet",
                vec![],
                true,
                vec![],
                None,
                Tone::Unprotected,
                "Not protected yet — no backup yet; the first automatic one comes soon",
                Some(Fix::FirstBackup),
            ),
            // A deleted backup, one dated in the future and an uploaded one prove nothing.
            (
                "no proof",
                vec![deleted, future, uploaded],
                false,
                vec![],
                None,
                Tone::Unprotected,
                "Not protected yet — no backup yet, and automatic backups are off",
                Some(Fix::FirstBackup),
            ),
        ];
        for (name, rows, auto, alerts, working, tone, line, fix) in cases {
            let last_auto = rows
                .iter()
                .filter(|r| r.trigger == Trigger::Automatic)
                .map(|r| r.created_at)
                .max();
            let s = profile_status(
                &rows,
                &policy(auto),
                &alerts,
                last_auto,
                working,
                false,
                now,
            );
            assert_eq!(s.tone, tone, "{name}");
            assert_eq!(s.line(), line, "{name}");
            assert_eq!(s.fix, fix, "{name}");
        }
    }

    /// Paused, no automatic backup is coming: the status never promises the next one (it said "next in 23 h"
    /// beside the banner saying automatic backups are paused).
    #[test]
    fn paused_promises_no_next_backup() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let good = row(
            1,
            Trigger::Automatic,
            Status::Completed,
            now - Duration::hours(3),
        );
        let cases = [
            (
                vec![good.clone()],
                true,
                "Protected — last backup 3 h ago, verified; automatic backups are paused",
            ),
            (
                vec![good.clone()],
                false,
                "Protected — last backup 3 h ago, verified; automatic backups are off",
            ),
            (
                vec![],
                true,
                "Not protected yet — no backup yet, and automatic backups are paused",
            ),
            (
                vec![],
                false,
                "Not protected yet — no backup yet, and automatic backups are off",
            ),
        ];
        for (rows, auto, line) in cases {
            let last_auto = rows.first().map(|r: &BackupRow| r.created_at);
            let s = profile_status(&rows, &policy(auto), &[], last_auto, None, true, now);
            assert_eq!(s.line(), line, "automatic {auto}");
        }
    }

    #[test]
    fn spans() {
        let m = Duration::minutes;
        assert_eq!(ago(Duration::seconds(20)), "just now");
        assert_eq!(ago(m(12)), "12 min ago");
        assert_eq!(ago(m(60 * 47 + 59)), "47 h ago");
        assert_eq!(ago(m(60 * 72)), "3 days ago");
        assert_eq!(lowercase_first("PostgreSQL is down"), "PostgreSQL is down");
        assert_eq!(lowercase_first("No backup"), "no backup");
    }

    #[test]
    fn the_tray_sums_up_every_profile() {
        let status = |tone: Tone, headline: &str, detail: &str| ProfileStatus {
            tone,
            headline: headline.into(),
            detail: detail.into(),
            fix: None,
        };
        let protected = status(Tone::Protected, "Protected", "last backup 3 h ago");
        let working = status(Tone::Working, "Backing up… 62 %", "");
        let attention = status(Tone::Attention, "Needs attention", "the last backup failed");
        let unprotected = status(Tone::Unprotected, "Not protected yet", "no backup yet");
        let p = |name: &str, s: &ProfileStatus| (name.to_string(), s.clone());
        let cases = [
            ("none", vec![], false, Tone::Unprotected, "No profile yet"),
            (
                "one protected",
                vec![p("shop", &protected)],
                false,
                Tone::Protected,
                "shop is protected",
            ),
            (
                "all protected",
                vec![p("shop", &protected), p("blog", &protected)],
                false,
                Tone::Protected,
                "All 2 profiles are protected",
            ),
            (
                "a job runs, even beside a problem",
                vec![p("shop", &attention), p("blog", &working)],
                false,
                Tone::Working,
                "blog: Backing up… 62 %",
            ),
            (
                "attention names the profile",
                vec![
                    p("shop", &protected),
                    p("blog", &attention),
                    p("wiki", &unprotected),
                ],
                false,
                Tone::Attention,
                "blog needs attention: the last backup failed",
            ),
            (
                "not protected yet",
                vec![p("shop", &protected), p("wiki", &unprotected)],
                false,
                Tone::Unprotected,
                "wiki is not protected yet",
            ),
            (
                "paused",
                vec![p("shop", &protected)],
                true,
                Tone::Protected,
                "shop is protected\nAutomatic backups are paused",
            ),
        ];
        for (what, profiles, paused, tone, words) in cases {
            let sum = overall(&profiles, paused);
            assert_eq!(sum.tone, tone, "{what}");
            assert_eq!(sum.words, words, "{what}");
        }
    }
}
