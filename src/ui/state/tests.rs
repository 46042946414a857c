//! `AppState::apply`, case by case.

use super::*;
use crate::progress::ProgressUpdate;

fn ticket(id: u64, label: &str) -> Ticket {
    Ticket {
        id,
        label: label.into(),
        cancel: CancelToken::new(),
    }
}

#[test]
fn a_job_moves_from_queue_to_running_to_done() {
    let t0 = Instant::now();
    let mut state = AppState::default();
    state.queued(&ticket(1, "Manual backup of shop"));
    state.queued(&ticket(2, "Verify the backups of all profiles"));
    assert_eq!(state.queue.len(), 2);
    state.apply(
        Event::Started {
            ticket: 1,
            label: "Manual backup of shop".into(),
        },
        t0,
    );
    assert_eq!(state.queue.len(), 1);
    assert!(
        state.running.as_ref().unwrap().cancel.is_some(),
        "the running job keeps its cancel token"
    );
    state.apply(
        Event::Progress {
            ticket: 1,
            update: ProgressUpdate {
                stage: "compressing database".into(),
                done: 50,
                total: Some(100),
            },
        },
        t0 + Duration::from_secs(1),
    );
    let running = state.running.as_ref().unwrap();
    assert_eq!(running.fraction(), Some(0.5));
    let later = t0 + Duration::from_secs(2);
    assert!(running.rate(later).unwrap() > 0.0);
    assert!(running.eta(later).is_some());
    let effects = state.apply(
        Event::Finished {
            ticket: 1,
            label: "Manual backup of shop".into(),
            result: Err(JobFailure::of(&crate::Error::DatabaseMissing(
                "/x.db".into(),
            ))),
        },
        later,
    );
    assert!(state.running.is_none());
    assert_eq!(effects.len(), 1, "a failure notifies");
    assert_eq!(state.toasts.last().unwrap().kind, ToastKind::Error);
    assert!(
        state
            .toasts
            .last()
            .unwrap()
            .text
            .contains("database file not found")
    );
}

#[test]
fn a_flagged_backup_notifies_that_it_is_flagged_and_why() {
    let now = Instant::now();
    let report = |skipped: Option<&str>| crate::jobs::BackupReport {
        id: 2,
        profile: "shop".into(),
        path: "/b/2.zip".into(),
        size_bytes: 1000,
        sha256: String::new(),
        duration_ms: 100,
        database_size_bytes: 4096,
        pruned: Vec::new(),
        warnings: vec!["table 'orders' went from 400 to 40 rows since backup 1".into()],
        retention_skipped: skipped.map(str::to_string),
        copies: Vec::new(),
    };
    let cases = [
        (
            Some("retention deleted nothing: backup 2 was flagged"),
            "Backstop: shop backed up, but flagged",
            "from 400 to 40 rows since backup 1; retention deleted nothing",
            ToastKind::Error,
        ),
        (
            None,
            "Backstop: shop backed up",
            "1000 B",
            ToastKind::Success,
        ),
    ];
    for (skipped, summary, body, toast) in cases {
        let mut state = AppState::default();
        let effects = state.apply(
            Event::Finished {
                ticket: 1,
                label: "Manual backup of shop".into(),
                result: Ok(JobOutput::Backup(Box::new(report(skipped)))),
            },
            now,
        );
        let notified: Vec<(String, String)> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Notify { summary, body } => Some((summary, body)),
                Effect::Open(_) => None,
            })
            .collect();
        assert_eq!(notified.len(), 1, "{skipped:?}: one notification");
        assert_eq!(notified[0].0, summary);
        assert!(notified[0].1.contains(body), "{notified:?}");
        assert_eq!(state.toasts[0].kind, toast, "{skipped:?}");
    }
}

#[test]
fn an_outcome_a_dialog_shows_fills_its_slot_and_raises_no_toast_or_notification() {
    let mut state = AppState::default();
    let now = Instant::now();
    state.awaited.insert(4, None);
    let effects = state.apply(
        Event::Finished {
            ticket: 4,
            label: "Validate backup 1".into(),
            result: Err(JobFailure::of(&crate::Error::DatabaseMissing(
                "/x.db".into(),
            ))),
        },
        now,
    );
    assert!(effects.is_empty() && state.toasts.is_empty());
    assert!(matches!(state.awaited.get(&4), Some(Some(Err(m))) if m.contains("not found")));
    assert!(
        state.session_log[0]
            .1
            .starts_with("Validate backup 1 failed")
    );
}

#[test]
fn a_cancelled_job_says_so_and_does_not_notify() {
    let mut state = AppState::default();
    let now = Instant::now();
    state.queued(&ticket(3, "Manual backup of shop"));
    let effects = state.apply(
        Event::Finished {
            ticket: 3,
            label: "Manual backup of shop".into(),
            result: Err(JobFailure::of(&crate::Error::Cancelled)),
        },
        now,
    );
    assert!(effects.is_empty());
    assert!(state.queue.is_empty());
    assert!(state.toasts[0].text.contains("cancelled"));
}

#[test]
fn progress_of_another_ticket_is_ignored_and_toasts_expire() {
    let now = Instant::now();
    let mut state = AppState::default();
    state.apply(
        Event::Started {
            ticket: 7,
            label: "x".into(),
        },
        now,
    );
    state.apply(
        Event::Progress {
            ticket: 8,
            update: ProgressUpdate {
                stage: "s".into(),
                done: 9,
                total: None,
            },
        },
        now,
    );
    assert_eq!(state.running.as_ref().unwrap().done, 0);
    state.toast(ToastKind::Info, "hello", now);
    state.toast(ToastKind::Error, "bad", now);
    state.expire_toasts(now + Duration::from_secs(6), Duration::from_secs(5));
    assert_eq!(state.toasts.len(), 1, "errors stay longer");
    assert_eq!(
        state.session_log.len(),
        2,
        "the session log keeps everything"
    );
}

#[test]
fn automatic_outcomes_keep_the_failure_kind_for_the_scheduler() {
    let now = Instant::now();
    let mut state = AppState::default();
    let server = crate::Error::ServerUnreachable {
        server: "127.0.0.1:1".into(),
        detail: "Connection refused".into(),
    };
    for (ticket, result) in [
        (4, Err(JobFailure::of(&server))),
        (
            5,
            Err(JobFailure::of(&crate::Error::damaged(
                std::path::Path::new("/a.zip"),
                "bad checksum",
            ))),
        ),
    ] {
        state.automatic.insert(ticket, "shop".into());
        state.apply(
            Event::Finished {
                ticket,
                label: "Automatic backup of shop".into(),
                result,
            },
            now,
        );
    }
    // A manual backup's failure is not the scheduler's business.
    state.apply(
        Event::Finished {
            ticket: 6,
            label: "Manual backup of shop".into(),
            result: Err(JobFailure::of(&server)),
        },
        now,
    );
    let kinds: Vec<_> = state
        .automatic_outcomes
        .iter()
        .map(|(p, f)| (p.as_str(), f.as_ref().map(|f| f.kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("shop", Some(crate::failure::ErrorKind::Transient)),
            ("shop", Some(crate::failure::ErrorKind::JobFailed)),
        ]
    );
    assert!(state.automatic.is_empty());
}

#[test]
fn a_repeating_backup_failure_notifies_once_until_it_changes_or_recovers() {
    let now = Instant::now();
    let mut state = AppState::default();
    let backup = |trigger| JobRequest::Backup {
        profile: "shop".into(),
        kind: None,
        trigger,
    };
    let down = crate::Error::ServerUnreachable {
        server: "127.0.0.1:1".into(),
        detail: "Connection refused".into(),
    };
    let report = crate::jobs::BackupReport {
        id: 4,
        profile: "shop".into(),
        path: "/b/4.zip".into(),
        size_bytes: 1000,
        sha256: String::new(),
        duration_ms: 100,
        database_size_bytes: 4096,
        pruned: Vec::new(),
        warnings: Vec::new(),
        retention_skipped: None,
        copies: Vec::new(),
    };
    use crate::model::Trigger::{Automatic, Manual};
    use crate::worker::JobRequest;
    let outcomes: Vec<(JobRequest, Result<JobOutput, JobFailure>, Option<&str>)> = vec![
        (
            backup(Automatic),
            Err(JobFailure::of(&down)),
            Some("Automatic backup of shop failed"),
        ),
        (backup(Automatic), Err(JobFailure::of(&down)), None),
        (
            backup(Automatic),
            Err(JobFailure::of(&crate::Error::Cancelled)),
            None,
        ),
        (backup(Manual), Err(JobFailure::of(&down)), None),
        (
            backup(Manual),
            Err(JobFailure::of(&crate::Error::DatabaseMissing(
                "/x.db".into(),
            ))),
            Some("Manual backup of shop failed"),
        ),
        (
            backup(Automatic),
            Ok(JobOutput::Backup(Box::new(report.clone()))),
            Some("shop backed up again"),
        ),
        (
            backup(Automatic),
            Ok(JobOutput::Backup(Box::new(report))),
            Some("shop backed up"),
        ),
    ];
    for (ticket, (request, result, notified)) in (1..).zip(outcomes) {
        state
            .subjects
            .insert(ticket, crate::ui::notifications::subject(&request));
        let effects = state.apply(
            Event::Finished {
                ticket,
                label: request.label(),
                result,
            },
            now,
        );
        let summaries: Vec<String> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Notify { summary, .. } => Some(summary),
                Effect::Open(_) => None,
            })
            .collect();
        match notified {
            Some(words) => {
                assert_eq!(summaries.len(), 1, "outcome {ticket}: {summaries:?}");
                assert!(
                    summaries[0].ends_with(words),
                    "outcome {ticket}: {summaries:?}"
                );
            }
            None => assert!(summaries.is_empty(), "outcome {ticket}: {summaries:?}"),
        }
    }
    assert_eq!(
        state.toasts.len(),
        7,
        "the window still shows every outcome"
    );
}

#[test]
fn copies_join_their_jobs_one_notification_and_repeat_failures_stay_quiet() {
    let now = Instant::now();
    let mut state = AppState::default();
    let gone =
        "cannot reach destination usb (folder /media/usb is missing (is the drive mounted?))";
    let sync = |copied: &[i64], failed: bool| crate::jobs::DestSync {
        dest: "usb".into(),
        copied: copied.to_vec(),
        failed: if failed {
            vec![(7, gone.to_string())]
        } else {
            Vec::new()
        },
        waiting: Vec::new(),
        pruned: Vec::new(),
        error: failed.then(|| gone.to_string()),
        retention_skipped: None,
        resumed_bytes: 0,
    };
    let backup = |id: i64, copies: Vec<crate::jobs::DestSync>| {
        Ok(JobOutput::Backup(Box::new(crate::jobs::BackupReport {
            id,
            profile: "shop".into(),
            path: format!("/b/{id}.zip").into(),
            size_bytes: 1000,
            sha256: String::new(),
            duration_ms: 100,
            database_size_bytes: 4096,
            pruned: Vec::new(),
            warnings: Vec::new(),
            retention_skipped: None,
            copies,
        })))
    };
    let synced = |reports, forced| Ok(JobOutput::Synced { reports, forced });
    // Each outcome: its label, result, the one notification's summary (None: none), whether an error toast shows.
    type Outcome = (
        &'static str,
        Result<JobOutput, JobFailure>,
        Option<&'static str>,
        bool,
    );
    let outcomes: Vec<Outcome> = vec![
        (
            "Manual backup of shop",
            backup(7, vec![sync(&[], true)]),
            Some("Backstop: shop backed up, but copying to usb failed"),
            true,
        ),
        (
            "Retry waiting copies",
            synced(vec![sync(&[], true)], false),
            None,
            false,
        ),
        (
            "Automatic backup of shop",
            backup(8, vec![sync(&[], true)]),
            Some("Backstop: shop backed up"),
            true,
        ),
        (
            "Copy the backups of shop to its destinations",
            synced(vec![sync(&[8, 7], false)], true),
            Some("Backstop: copies to usb work again"),
            false,
        ),
        (
            "Retry waiting copies",
            synced(vec![sync(&[], false)], false),
            None,
            false,
        ),
    ];
    for (ticket, (label, result, summary, error_toast)) in (1..).zip(outcomes) {
        let toasts = state.toasts.len();
        let effects = state.apply(
            Event::Finished {
                ticket,
                label: label.into(),
                result,
            },
            now,
        );
        let notified: Vec<(String, String)> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Notify { summary, body } => Some((summary, body)),
                Effect::Open(_) => None,
            })
            .collect();
        match summary {
            Some(summary) => {
                assert_eq!(notified.len(), 1, "outcome {ticket}: {notified:?}");
                assert_eq!(notified[0].0, summary, "outcome {ticket}");
            }
            None => assert!(notified.is_empty(), "outcome {ticket}: {notified:?}"),
        }
        if ticket == 1 {
            assert!(notified[0].1.contains(gone), "{notified:?}");
        }
        let errors = state.toasts[toasts..]
            .iter()
            .filter(|t| t.kind == ToastKind::Error)
            .count();
        assert_eq!(
            errors > 0,
            error_toast,
            "outcome {ticket}: {:?}",
            state.toasts
        );
    }
    assert!(
        state
            .session_log
            .iter()
            .any(|(_, text)| text.starts_with("Copying to usb failed")),
        "a quiet retry still leaves its line in the session log"
    );
}
