//! Which job outcomes are worth a desktop notification. Pure; `AppState::apply` asks it once per job outcome, so
//! an outcome never notifies twice.
//!
//! - A failure notifies the first time; the same failure again (an automatic retry, the next scheduled try, a
//!   "Back up now" that meets the same wall) stays quiet, since the window still shows it; a different failure
//!   notifies, and so does the first success after a notified failure ("backed up again").
//! - Failures are compared per subject: a profile's backups (manual or automatic) are one subject, any other job
//!   is its own label.
//! - The banner's alerts (the last backup failed, no backup for twice the interval, flagged, grown) never notify:
//!   they restate outcomes that whoever ran the job notified already (this window, or `run-due`), and the
//!   window shows them when it opens.
//! - Copies to a destination are a subject of their own ("copies to NAME"), judged from each job's copy reports
//!   (a backup's, a sync's) by the same rules: a failure notifies once per change and its recovery once
//!   ([`Notifications::copies`]); what they tell joins the job's one notification ([`CopyNews`]).

use crate::jobs::DestSync;
use crate::worker::JobRequest;
use std::collections::HashMap;

/// What a job's outcome is compared with: a profile's backups are one subject, any other job its label.
pub fn subject(request: &JobRequest) -> String {
    match request {
        JobRequest::Backup { profile, .. } => format!("backup of {profile}"),
        other => other.label(),
    }
}

/// What an outcome means for notifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A first failure of its subject, or one that differs from the failure notified last: notify.
    NewFailure,
    /// The failure notified last for this subject, again: stay quiet.
    SameFailure,
    /// A success after a notified failure, which it gives back: notify that it recovered.
    Recovered(String),
    /// A success with no failure before it: notify only if the job's success is news by itself.
    Success,
}

impl Verdict {
    /// Whether this outcome notifies whatever the job.
    pub fn notifies(&self) -> bool {
        matches!(self, Verdict::NewFailure | Verdict::Recovered(_))
    }
}

/// The failure last notified for each subject that has not recovered since.
#[derive(Debug, Default)]
pub struct Notifications {
    failing: HashMap<String, String>,
}

impl Notifications {
    /// A job of `subject` failed with `message`.
    pub fn failed(&mut self, subject: &str, message: &str) -> Verdict {
        match self
            .failing
            .insert(subject.to_string(), message.to_string())
        {
            Some(before) if before == message => Verdict::SameFailure,
            _ => Verdict::NewFailure,
        }
    }

    /// A job of `subject` succeeded.
    pub fn succeeded(&mut self, subject: &str) -> Verdict {
        match self.failing.remove(subject) {
            Some(before) => Verdict::Recovered(before),
            None => Verdict::Success,
        }
    }

    /// What a job's copy reports (one per destination) change: a destination whose copies newly fail (or fail
    /// otherwise than before), one whose copies work again. A destination that only waited (its retry not due,
    /// another process copying, a cancel) or had nothing to copy changes nothing.
    pub fn copies(&mut self, reports: &[DestSync]) -> CopyNews {
        let mut news = CopyNews::default();
        for report in reports {
            let subject = copy_subject(&report.dest);
            match copy_outcome(report) {
                Some(Err(why)) => {
                    let verdict = self.failed(&subject, &why);
                    if verdict == Verdict::NewFailure {
                        news.failing.push((report.dest.clone(), why));
                    }
                }
                Some(Ok(())) => {
                    let verdict = self.succeeded(&subject);
                    if verdict.notifies() {
                        news.recovered.push(report.dest.clone());
                    }
                }
                None => {}
            }
        }
        news
    }
}

/// The subject of a destination's copies.
pub fn copy_subject(dest: &str) -> String {
    format!("copies to {dest}")
}

/// What one destination's report says: Err(why) when a copy failed, Ok when copies were made and none failed,
/// None when nothing was decided (nothing to copy, retries not due, another process copying, cancelled).
pub fn copy_outcome(report: &DestSync) -> Option<Result<(), String>> {
    if let Some((_, why)) = report.failed.first() {
        return Some(Err(why.clone()));
    }
    (!report.copied.is_empty()).then_some(Ok(()))
}

/// What one job's copies tell the user, for its one notification.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyNews {
    /// Destinations whose copies newly fail, with why.
    pub failing: Vec<(String, String)>,
    /// Destinations whose copies work again after a notified failure.
    pub recovered: Vec<String>,
}

impl CopyNews {
    /// Nothing worth a notification.
    pub fn is_empty(&self) -> bool {
        self.failing.is_empty() && self.recovered.is_empty()
    }

    /// "copying to usb failed", "copying to usb and s3 failed", "copies to usb work again" (None: no news).
    pub fn headline(&self) -> Option<String> {
        let names = |v: Vec<&str>| match v.as_slice() {
            [] => String::new(),
            [one] => (*one).to_string(),
            [first @ .., last] => format!("{} and {last}", first.join(", ")),
        };
        if !self.failing.is_empty() {
            let failing = names(self.failing.iter().map(|(d, _)| d.as_str()).collect());
            return Some(format!("copying to {failing} failed"));
        }
        (!self.recovered.is_empty()).then(|| {
            let recovered = names(self.recovered.iter().map(String::as_str).collect());
            format!("copies to {recovered} work again")
        })
    }

    /// The lines for a notification's body: each failure with why, each recovery.
    pub fn lines(&self) -> Vec<String> {
        self.failing
            .iter()
            .map(|(dest, why)| format!("Copying to {dest} failed: {why}"))
            .chain(
                self.recovered
                    .iter()
                    .map(|dest| format!("Copies to {dest} work again")),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome: Err(message) or Ok.
    type Outcome = Result<(), &'static str>;
    /// A case: what it shows, the outcomes by subject, and which of them notify.
    type Case = (&'static str, Vec<(&'static str, Outcome)>, Vec<bool>);

    fn verdicts(outcomes: &[(&str, Outcome)]) -> Vec<bool> {
        let mut notifications = Notifications::default();
        outcomes
            .iter()
            .map(|(subject, outcome)| match outcome {
                Err(message) => notifications.failed(subject, message),
                Ok(()) => notifications.succeeded(subject),
            })
            .map(|v| v.notifies())
            .collect()
    }

    #[test]
    fn a_failure_notifies_once_then_when_it_changes_or_recovers() {
        let down = Err("cannot reach the database server");
        let gone = Err("database file not found");
        let cases: Vec<Case> = vec![
            (
                "the field report: a failure and its two retries",
                vec![
                    ("backup of shop", down),
                    ("backup of shop", down),
                    ("backup of shop", down),
                ],
                vec![true, false, false],
            ),
            (
                "it changes, then changes back",
                vec![
                    ("backup of shop", down),
                    ("backup of shop", gone),
                    ("backup of shop", down),
                ],
                vec![true, true, true],
            ),
            (
                "it recovers, and a later failure is news again",
                vec![
                    ("backup of shop", down),
                    ("backup of shop", Ok(())),
                    ("backup of shop", Ok(())),
                    ("backup of shop", down),
                ],
                vec![true, true, false, true],
            ),
            (
                "subjects are apart",
                vec![
                    ("backup of shop", down),
                    ("backup of blog", down),
                    ("backup of blog", Ok(())),
                ],
                vec![true, true, true],
            ),
            (
                "successes alone are not news here",
                vec![("backup of shop", Ok(())), ("Verify all backups", Ok(()))],
                vec![false, false],
            ),
        ];
        for (what, outcomes, expected) in cases {
            assert_eq!(verdicts(&outcomes), expected, "{what}");
        }
    }

    fn report(dest: &str, copied: &[i64], failed: Option<&str>, waiting: &[i64]) -> DestSync {
        DestSync {
            dest: dest.into(),
            copied: copied.to_vec(),
            failed: failed
                .map(|why| vec![(9, why.to_string())])
                .unwrap_or_default(),
            waiting: waiting.to_vec(),
            pruned: Vec::new(),
            error: failed.map(str::to_string),
            retention_skipped: None,
            resumed_bytes: 0,
        }
    }

    #[test]
    fn copy_failures_notify_once_per_change_and_recover_once() {
        let gone = Some("folder /media/usb is missing (is the drive mounted?)");
        let denied = Some("destination usb refused access");
        // Each step: the reports of one job (a backup's copies or a sync), and the headline it gives.
        type Step = (Vec<DestSync>, Option<&'static str>);
        let cases: Vec<(&str, Vec<Step>)> = vec![
            (
                "copies that work are no news",
                vec![
                    (vec![report("usb", &[1], None, &[])], None),
                    (vec![report("usb", &[], None, &[])], None),
                ],
            ),
            (
                "the drive unplugged: once, then quiet while it stays so, then once when it is back",
                vec![
                    (
                        vec![report("usb", &[], gone, &[1])],
                        Some("copying to usb failed"),
                    ),
                    (vec![report("usb", &[], gone, &[1, 2])], None),
                    (vec![report("usb", &[], None, &[1, 2])], None),
                    (
                        vec![report("usb", &[3, 2, 1], None, &[])],
                        Some("copies to usb work again"),
                    ),
                    (vec![report("usb", &[4], None, &[])], None),
                ],
            ),
            (
                "another failure is news again",
                vec![
                    (
                        vec![report("usb", &[], gone, &[])],
                        Some("copying to usb failed"),
                    ),
                    (
                        vec![report("usb", &[], denied, &[])],
                        Some("copying to usb failed"),
                    ),
                ],
            ),
            (
                "destinations are apart, and several fail in one line",
                vec![
                    (
                        vec![report("usb", &[], gone, &[]), report("s3", &[], gone, &[])],
                        Some("copying to usb and s3 failed"),
                    ),
                    (
                        vec![report("usb", &[], gone, &[]), report("s3", &[5], None, &[])],
                        Some("copies to s3 work again"),
                    ),
                ],
            ),
            (
                "a failure outweighs a recovery in the headline",
                vec![
                    (
                        vec![report("usb", &[], gone, &[])],
                        Some("copying to usb failed"),
                    ),
                    (
                        vec![
                            report("usb", &[6], None, &[]),
                            report("s3", &[], denied, &[]),
                        ],
                        Some("copying to s3 failed"),
                    ),
                ],
            ),
            (
                "another process copying (an error without a failed copy) decides nothing",
                vec![(
                    vec![DestSync::failed(
                        "usb",
                        "another Backstop process is copying to it now",
                    )],
                    None,
                )],
            ),
        ];
        for (what, steps) in cases {
            let mut notifications = Notifications::default();
            for (i, (reports, headline)) in steps.into_iter().enumerate() {
                let news = notifications.copies(&reports);
                assert_eq!(news.headline().as_deref(), headline, "{what}, step {i}");
                assert_eq!(news.is_empty(), headline.is_none(), "{what}, step {i}");
            }
        }
        let news = CopyNews {
            failing: vec![("usb".into(), "folder missing".into())],
            recovered: vec!["s3".into()],
        };
        assert_eq!(
            news.lines(),
            [
                "Copying to usb failed: folder missing",
                "Copies to s3 work again"
            ]
        );
    }

    #[test]
    fn backups_are_one_subject_per_profile_whatever_started_them() {
        let backup = |trigger, kind| JobRequest::Backup {
            profile: "shop".into(),
            kind,
            trigger,
        };
        use crate::model::{Kind, Trigger};
        assert_eq!(
            subject(&backup(Trigger::Automatic, None)),
            subject(&backup(Trigger::Manual, Some(Kind::Full)))
        );
        assert_eq!(subject(&JobRequest::Delete { id: 3 }), "Delete backup 3");
    }
}
