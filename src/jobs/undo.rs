//! Which restore "Undo last restore" puts back (pure: the catalog's rows in, a decision out).
//!
//! The undo is offered for the last restore of a profile that changed its live data, for as long as nothing
//! later supersedes it: a later restore that changed live data (then that one is the last), or a later manual or
//! automatic backup (the live data moved on, and undoing would throw that away). Restores that changed nothing
//! live (validation, chosen files into a folder, a new database, a failure) are not "the last restore". The undo
//! restores the safety backup taken just before, so a restore without one, or whose safety backup is gone, can
//! not be undone.

use crate::catalog::{BackupRow, RestoreRow};
use crate::model::{Status, Trigger};
use chrono::{DateTime, Utc};

/// The restore an undo would reverse, and the safety backup that holds the state from just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    /// The restore's id in the restore log.
    pub restore_id: i64,
    /// When the restore started.
    pub restored_at: DateTime<Utc>,
    /// The safety backup to restore.
    pub safety_backup_id: i64,
}

/// The undo offered for `profile`, if any. `restores` and `backups` are the catalog's rows of any profiles, in
/// any order.
pub fn undo_target(restores: &[RestoreRow], backups: &[BackupRow], profile: &str) -> Option<Undo> {
    let last = restores
        .iter()
        .filter(|r| r.profile == profile && r.changed_live_data())
        .max_by_key(|r| r.id)?;
    let safety = last.safety_backup_id?;
    let kept = backups
        .iter()
        .any(|b| b.id == safety && b.status == Status::Completed);
    // The profile's lock keeps backups and restores apart, so a backup that started after the restore started
    // also started after it ended.
    let superseded = backups.iter().any(|b| {
        b.profile == profile
            && matches!(b.trigger, Trigger::Manual | Trigger::Automatic)
            && b.status == Status::Completed
            && b.created_at > last.started_at
    });
    (kept && !superseded).then_some(Undo {
        restore_id: last.id,
        restored_at: last.started_at,
        safety_backup_id: safety,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::restore_log::{APPLIED, DONE, ROLLED_BACK};

    fn at(minute: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 5, 1, 12, minute, 0).unwrap()
    }

    fn backup(id: i64, minute: u32, trigger: Trigger, status: Status) -> BackupRow {
        BackupRow::for_test(id, at(minute), Kind::Database, trigger, status)
    }

    /// A restore log row: (id, minute, outcome, step, safety backup, validate only).
    fn restore(
        id: i64,
        minute: u32,
        outcome: &str,
        step: Option<&str>,
        safety: Option<i64>,
        validate_only: bool,
    ) -> RestoreRow {
        RestoreRow {
            id,
            profile: "shop".into(),
            backup_id: Some(1),
            archive_path: "/b/1.zip".into(),
            safety_backup_id: safety,
            validate_only,
            started_at: at(minute),
            finished_at: Some(at(minute)),
            outcome: outcome.into(),
            message: None,
            step: step.map(str::to_string),
        }
    }

    #[test]
    fn undo_is_offered_for_the_last_restore_that_changed_live_data() {
        use Status::{Completed, Deleted};
        use Trigger::{Automatic, Manual, Safety, Uploaded};
        let base = || {
            vec![
                backup(1, 0, Manual, Completed),
                backup(2, 10, Safety, Completed),
            ]
        };
        let restored = || restore(1, 10, "completed", Some(APPLIED), Some(2), false);
        /// (what, the restore log, the backups, the restore an undo reverses)
        type Case = (&'static str, Vec<RestoreRow>, Vec<BackupRow>, Option<i64>);
        let cases: Vec<Case> = vec![
            ("no restore", vec![], base(), None),
            (
                "a restore with its safety backup",
                vec![restored()],
                base(),
                Some(1),
            ),
            (
                "a files-folder restore (step done)",
                vec![restore(1, 10, "completed", Some(DONE), Some(2), false)],
                base(),
                Some(1),
            ),
            (
                "chosen files into a folder after it change nothing live",
                vec![restored(), restore(2, 20, "completed", None, None, false)],
                base(),
                Some(1),
            ),
            (
                "a validation after it changes nothing",
                vec![restored(), restore(2, 20, "completed", None, None, true)],
                base(),
                Some(1),
            ),
            (
                "a failed or rolled back restore after it changes nothing",
                vec![
                    restored(),
                    restore(2, 20, "failed", Some(APPLIED), None, false),
                    restore(3, 30, "completed", Some(ROLLED_BACK), Some(4), false),
                ],
                base(),
                Some(1),
            ),
            (
                "a later restore that changed live data is the one undone",
                vec![
                    restored(),
                    restore(2, 20, "completed", Some(APPLIED), Some(3), false),
                ],
                [base(), vec![backup(3, 20, Safety, Completed)]].concat(),
                Some(2),
            ),
            (
                "a later restore without a safety backup cannot be undone, and hides the earlier one",
                vec![
                    restored(),
                    restore(2, 20, "completed", Some(APPLIED), None, false),
                ],
                base(),
                None,
            ),
            (
                "a later manual backup supersedes it",
                vec![restored()],
                [base(), vec![backup(3, 30, Manual, Completed)]].concat(),
                None,
            ),
            (
                "a later automatic backup supersedes it",
                vec![restored()],
                [base(), vec![backup(3, 30, Automatic, Completed)]].concat(),
                None,
            ),
            (
                "a later failed backup or an import does not",
                vec![restored()],
                [
                    base(),
                    vec![
                        backup(3, 30, Automatic, Status::Failed),
                        backup(4, 31, Uploaded, Completed),
                    ],
                ]
                .concat(),
                Some(1),
            ),
            (
                "a deleted safety backup cannot be restored",
                vec![restored()],
                vec![
                    backup(1, 0, Manual, Completed),
                    backup(2, 10, Safety, Deleted),
                ],
                None,
            ),
        ];
        for (name, restores, backups, expected) in cases {
            let got = undo_target(&restores, &backups, "shop").map(|u| u.restore_id);
            assert_eq!(got, expected, "{name}");
            assert_eq!(undo_target(&restores, &backups, "other"), None, "{name}");
        }
    }
}
