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
