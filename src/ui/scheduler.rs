//! The window's scheduler: automatic backups at launch (one catch-up), every minute, at once after a wake from
//! sleep, retries with backoff when a database or storage is not reachable, and the first automatic backup of a
//! profile added in the window, which waits until the user has finished setting it up. Nothing starts while
//! `settings.automatic_paused` is set.
//!
//! Copies to destinations that wait (a failed copy whose retry is due, a copy queued and not made) are retried by
//! the same once-a-minute check, when no job runs or waits: the backoff after failures is the copies' own
//! (`jobs::backoff`, kept in the catalog), so the window, `run-due` and `dest sync` share it.
//!
//! The decisions are pure (`schedule::check`, `failure::retry_automatic`, [`first_automatic_waits`],
//! [`copies_due`]); this file only applies them to the window's state once a frame.

use super::app::{BackstopApp, Tab};
use super::state::ToastKind;
use crate::catalog::BackupRow;
use crate::config::Paths;
use crate::failure::{self, AUTOMATIC_RETRIES, Retry};
use crate::model::{Status, Trigger};
use crate::schedule;
use crate::worker::JobRequest;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fs::File;
use std::time::{Duration, Instant, SystemTime};

/// How long the first automatic backup of a profile added in the window waits while the user stays in its
/// settings: long enough to choose a files folder and a schedule, short enough that a forgotten window still
/// protects the new profile the same day.
pub const FIRST_AUTOMATIC_GRACE: Duration = Duration::from_secs(5 * 60);

/// Whether the first automatic backup of a profile added in the window at `added` still waits: only while the
/// user stays in its settings, and never longer than [`FIRST_AUTOMATIC_GRACE`].
pub fn first_automatic_waits(added: Instant, now: Instant, in_its_settings: bool) -> bool {
    in_its_settings && now.saturating_duration_since(added) < FIRST_AUTOMATIC_GRACE
}

/// Whether copies wait that a retry would try now: a failed copy whose wait is over, or a copy queued at a
/// destination that is not waiting out a failure (one that is fails again at once: its wait counts).
pub fn copies_due(dests: &[crate::jobs::DestInfo], now: DateTime<Utc>) -> bool {
    dests.iter().any(|d| match d.next_try_at {
        Some(at) => at <= now,
        None => d.pending > 0,
    })
}

/// A profile added in this window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    /// Added at this instant; the user may still be setting it up, so no automatic backup yet.
    Held(Instant),
    /// The user left its settings or the grace passed: its schedule runs, counted from its first backup of any
    /// kind (a "Back up now" during the setup is its first backup, not a reason for a second one at once).
    Released,
}

/// Automatic-backup bookkeeping.
pub(crate) struct Scheduler {
    /// False when another window holds the scheduler lock.
    enabled: bool,
    /// Wall and monotonic time of the last check, to notice a wake from sleep.
    last_check: Option<(Instant, SystemTime)>,
    /// Whether the launch-time catch-up ran.
    launched: bool,
    /// The profile names at the last check: a new profile is checked at once.
    profiles_seen: Vec<String>,
    /// Retries of unreachable automatic backups: profile → (next try, attempts so far).
    retries: HashMap<String, (Instant, u32)>,
    /// Profiles added in this window, by name.
    added: HashMap<String, Added>,
    /// Held while this window runs the scheduler.
    lock: Option<File>,
}

impl Scheduler {
    /// The scheduler of a window; `wanted` false (tests) or another window holding the lock leave it off.
    pub(crate) fn start(paths: &Paths, wanted: bool) -> Scheduler {
        let lock = if wanted {
            take_scheduler_lock(paths)
        } else {
            None
        };
        Scheduler {
            enabled: wanted && lock.is_some(),
            last_check: None,
            launched: false,
            profiles_seen: Vec::new(),
            retries: HashMap::new(),
            added: HashMap::new(),
            lock,
        }
    }

    /// Whether this window runs automatic backups.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether automatic backups run in another window (this one has no lock).
    pub(crate) fn elsewhere(&self) -> bool {
        !self.enabled && self.lock.is_none()
    }

    /// Holds the first automatic backup of a profile just added in this window.
    pub(crate) fn hold_first_automatic(&mut self, profile: &str, now: Instant) {
        self.added.insert(profile.to_string(), Added::Held(now));
    }

    /// Whether the first automatic backup of `profile` is held for its setup.
    pub(crate) fn first_automatic_held(&self, profile: &str) -> bool {
        matches!(self.added.get(profile), Some(Added::Held(_)))
    }

    /// Makes every waiting retry due now.
    pub(crate) fn make_retries_due(&mut self, now: Instant) {
        for (at, _) in self.retries.values_mut() {
            *at = now;
        }
    }

    /// Releases the holds whose wait is over; true when one was released (its profile is checked at once).
    fn release_first_automatic(&mut self, now: Instant, editing: Option<&str>) -> bool {
        let mut released = false;
        for (name, added) in self.added.iter_mut() {
            if let Added::Held(at) = *added
                && !first_automatic_waits(at, now, editing == Some(name.as_str()))
            {
                *added = Added::Released;
                released = true;
            }
        }
        released
    }

    /// Keeps the records of added profiles across a rename: when one of them vanished from the profiles and one
    /// new name appeared, that is its new name.
    fn follow_renames(&mut self, names: &[String]) {
        let vanished: Vec<String> = self
            .added
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        let appeared: Vec<&String> = names
            .iter()
            .filter(|n| !self.profiles_seen.contains(n) && !self.added.contains_key(*n))
            .collect();
        if let ([old], [new]) = (vanished.as_slice(), appeared.as_slice())
            && let Some(added) = self.added.remove(old)
        {
            self.added.insert((*new).clone(), added);
        }
    }
}

/// The newest completed manual or automatic backup of `profile`: the base of the schedule of a profile added in
/// the window that has no automatic backup yet.
fn newest_own_backup(backups: &[BackupRow], profile: &str) -> Option<DateTime<Utc>> {
    backups
        .iter()
        .filter(|b| b.profile == profile && b.status == Status::Completed)
        .filter(|b| matches!(b.trigger, Trigger::Manual | Trigger::Automatic))
        .map(|b| b.created_at)
        .max()
}

impl BackstopApp {
    /// Automatic backups: at launch (catch-up once), every minute, at once after the wall clock jumped
    /// (a wake from sleep), and retries with backoff when the database or storage was not reachable.
    pub(crate) fn run_scheduler(&mut self, now: Instant) {
        // Holds end even in a window that runs no scheduler, so that its note about them goes.
        let names = self.profile_names();
        self.scheduler.follow_renames(&names);
        let editing = match self.tab {
            Tab::Settings => self.profile().map(|p| p.name.clone()),
            _ => None,
        };
        let released = self
            .scheduler
            .release_first_automatic(now, editing.as_deref());
        // Nothing to decide before the worker's first snapshot of the catalog arrived, nor while quitting.
        if !self.scheduler.enabled || !self.state.snapshot_received || !self.quit_is_open() {
            self.scheduler.profiles_seen = names;
            return;
        }
        // Paused (the tray, Settings or `backstop pause`): nothing automatic starts, retries included. On resume
        // the check runs at once, as an ordinary check: the pause is not "missed while Backstop was closed".
        if self.state.snapshot.config.settings.automatic_paused {
            self.scheduler.retries.clear();
            self.scheduler.last_check = None;
            self.scheduler.launched = true;
            self.scheduler.profiles_seen = names;
            return;
        }
        let wall = SystemTime::now();
        let due_check = match self.scheduler.last_check {
            None => true,
            Some((mono, wall_then)) => {
                let mono_elapsed = now.duration_since(mono);
                let jumped =
                    schedule::clock_jumped(mono_elapsed, wall.duration_since(wall_then).ok());
                mono_elapsed >= Duration::from_secs(60) || jumped
            }
        };
        let due_check = due_check || released || names != self.scheduler.profiles_seen;
        // A renamed or removed profile's pending retry goes with it.
        self.scheduler.retries.retain(|p, _| names.contains(p));
        self.scheduler.profiles_seen = names;
        self.settle_automatic_outcomes(now);
        let retry_now: Vec<String> = self
            .scheduler
            .retries
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for profile in retry_now {
            if let Some(entry) = self.scheduler.retries.get_mut(&profile) {
                entry.0 = now + Duration::from_secs(24 * 3600);
            }
            self.queue_automatic(&profile, 0);
        }
        if !due_check {
            return;
        }
        // Backups made by the CLI or the system timer need no refresh here: the idle worker notices them
        // (`worker::WATCH_EVERY`) and sends a snapshot, which the due check below reads.
        self.scheduler.last_check = Some((now, wall));
        let launch = !self.scheduler.launched;
        self.scheduler.launched = true;
        for (profile, missed) in self.due_profiles(launch, Utc::now()) {
            self.queue_automatic(&profile, missed);
        }
        // A backup queued above copies after itself; otherwise waiting copies go when nothing else runs.
        let idle = self.state.running.is_none() && self.state.queue.is_empty();
        if idle && copies_due(&self.state.snapshot.destinations, Utc::now()) {
            let request = JobRequest::Sync {
                profile: None,
                force: false,
            };
            if !self.state.is_pending(&request.label()) {
                self.submit(request);
            }
        }
    }

    /// Automatic backups that ended: a completed one ends its retries; a failure's kind decides the next try.
    fn settle_automatic_outcomes(&mut self, now: Instant) {
        for (profile, failure) in std::mem::take(&mut self.state.automatic_outcomes) {
            let Some(failure) = failure else {
                self.scheduler.retries.remove(&profile);
                continue;
            };
            let attempt = self.scheduler.retries.get(&profile).map_or(0, |r| r.1) + 1;
            match failure::retry_automatic(failure.kind, attempt) {
                Retry::After(wait) => {
                    self.scheduler
                        .retries
                        .insert(profile.clone(), (now + wait, attempt));
                    self.state.toast(
                        ToastKind::Info,
                        format!(
                            "{profile} is not reachable yet; the automatic backup will try again in {} s",
                            wait.as_secs()
                        ),
                        now,
                    );
                }
                Retry::GaveUp => {
                    self.state.toast(
                        ToastKind::Error,
                        format!(
                            "Automatic backup of {profile} gave up after {AUTOMATIC_RETRIES} retries: {}",
                            failure.message
                        ),
                        now,
                    );
                    self.scheduler.retries.remove(&profile);
                }
                Retry::Never => {
                    self.scheduler.retries.remove(&profile);
                }
            }
        }
    }

    /// The profiles whose automatic backup is due, with how many slots were missed while the window was closed
    /// (counted at launch only, and never on a first backup). A profile added in the window is skipped while its
    /// first automatic backup is held, and its schedule counts from its first backup of any kind.
    fn due_profiles(&self, launch: bool, now: DateTime<Utc>) -> Vec<(String, u32)> {
        let snapshot = &self.state.snapshot;
        let mut due = Vec::new();
        for p in &snapshot.config.profiles {
            if self.scheduler.retries.contains_key(&p.name)
                || self.scheduler.first_automatic_held(&p.name)
            {
                continue;
            }
            let last_automatic = snapshot
                .stats
                .get(&p.name)
                .and_then(|s| s.last_automatic_at);
            let base = match self.scheduler.added.get(&p.name) {
                Some(_) => last_automatic.or_else(|| newest_own_backup(&snapshot.backups, &p.name)),
                None => last_automatic,
            };
            let check = schedule::check(
                base,
                p.policy.auto_enabled,
                p.policy.auto_interval_hours,
                now,
            );
            if !check.due {
                continue;
            }
            // Missed slots while the app was closed: the due one plus `missed` more.
            let missed = if launch && last_automatic.is_some() {
                check.missed + 1
            } else {
                0
            };
            due.push((p.name.clone(), missed));
        }
        due
    }

    fn queue_automatic(&mut self, profile: &str, missed: u32) {
        let request = JobRequest::Backup {
            profile: profile.to_string(),
            kind: None,
            trigger: Trigger::Automatic,
        };
        if self.state.is_pending(&request.label()) {
            return;
        }
        let ticket = self.submit(request);
        self.state.automatic.insert(ticket, profile.to_string());
        if missed > 0 {
            self.state
                .catch_up
                .insert(ticket, (profile.to_string(), missed));
        }
    }
}

fn take_scheduler_lock(paths: &Paths) -> Option<File> {
    paths.ensure().ok()?;
    let path = paths.state_dir.join("window.lock");
    let file = crate::fsutil::open_private(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        &path,
    )
    .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_automatic_backup_waits_only_while_the_user_is_in_its_settings_and_not_for_long() {
        let added = Instant::now();
        let cases = [
            ("just added, in its settings", 0, true, true),
            ("four minutes in its settings", 4 * 60, true, true),
            ("five minutes in its settings", 5 * 60, true, false),
            ("an hour in its settings", 3600, true, false),
            ("left its settings at once", 0, false, false),
            ("left its settings after a minute", 60, false, false),
        ];
        for (what, secs, in_its_settings, waits) in cases {
            let now = added + Duration::from_secs(secs);
            assert_eq!(
                first_automatic_waits(added, now, in_its_settings),
                waits,
                "{what}"
            );
        }
    }

    #[test]
    fn copies_are_retried_when_their_wait_is_over_or_they_were_never_tried() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let minutes = chrono::Duration::minutes;
        let dest = |pending: usize, failed: usize, next_try_at: Option<DateTime<Utc>>| {
            crate::jobs::DestInfo {
                name: "usb".into(),
                profile: "shop".into(),
                kind: "folder".into(),
                location: "/media/usb".into(),
                keep_last: 7,
                max_age_days: 0,
                copied: 2,
                pending,
                failed,
                last_copied_at: None,
                last_error: None,
                behind_secs: None,
                waiting_since: None,
                next_try_at,
                other_home: None,
            }
        };
        let cases = [
            ("no destinations", vec![], false),
            ("up to date", vec![dest(0, 0, None)], false),
            ("a copy queued, never tried", vec![dest(1, 0, None)], true),
            (
                "a failure waits 4 more minutes",
                vec![dest(0, 1, Some(now + minutes(4)))],
                false,
            ),
            (
                "a queued copy behind a failure that waits: it would fail too",
                vec![dest(3, 1, Some(now + minutes(4)))],
                false,
            ),
            (
                "the wait is over",
                vec![dest(0, 1, Some(now - minutes(1)))],
                true,
            ),
            (
                "one of two destinations is due",
                vec![dest(0, 0, None), dest(0, 1, Some(now))],
                true,
            ),
        ];
        for (what, dests, due) in cases {
            assert_eq!(copies_due(&dests, now), due, "{what}");
        }
    }

    #[test]
    fn a_held_profile_is_released_once_and_follows_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mut scheduler = Scheduler::start(&paths, false);
        let t0 = Instant::now();
        scheduler.profiles_seen = vec!["old".into()];
        scheduler.hold_first_automatic("shop", t0);
        scheduler.profiles_seen.push("shop".into());
        assert!(!scheduler.release_first_automatic(t0, Some("shop")));
        scheduler.follow_renames(&["old".into(), "shop-db".into()]);
        assert!(scheduler.first_automatic_held("shop-db"));
        assert!(!scheduler.first_automatic_held("shop"));
        assert!(scheduler.release_first_automatic(t0, Some("old")));
        assert!(!scheduler.first_automatic_held("shop-db"));
        assert!(
            !scheduler.release_first_automatic(t0, None),
            "released once"
        );
    }
}
