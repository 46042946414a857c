//! The restore log after a kill: what a restore that Backstop did not see to its end really did.
//!
//! A restore records each step in its catalog row before taking it (the safety backup's id as soon as it
//! exists, then `applying`, `applied`, `rolled_back` or `done`). The next start reads the newest `running` row of
//! a profile nobody works on and logs what happened: replaced, finished at the next start, rolled back, or
//! nothing changed, always with the safety backup that holds the state from before. A restore with a files
//! folder also has its journal (`jobs::restore_journal::recover_restore`), whose verdict comes in as [`Settled`].

use crate::config::Profile;
use crate::jobs::{Context, apply_database_of};
use crate::progress::{JobControl, NoProgress};

/// The live database is being replaced (one transaction: afterwards it is either the old or the new one).
pub const APPLYING: &str = "applying";
/// The live database was replaced; a files folder (if any) comes next.
pub const APPLIED: &str = "applied";
/// The files folder could not be put in place, and the database was put back from the safety backup.
pub const ROLLED_BACK: &str = "rolled_back";
/// Everything was replaced; only the log's last line was missing.
pub const DONE: &str = "done";

/// What became of a restore that Backstop did not see to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// It had replaced everything before Backstop stopped.
    Replaced,
    /// It was finished at this start, from the same archive.
    FinishedNow,
    /// It had changed nothing.
    Unchanged,
    /// The files folder could not be put in place and the database was put back from the safety backup.
    RolledBack,
    /// It could not be finished: what is where, for the user.
    Failed(String),
}

impl Settled {
    /// The log's outcome and message.
    fn outcome(&self) -> (&'static str, String) {
        match self {
            Settled::Replaced => (
                "completed",
                "replaced: the restore had finished when Backstop was stopped, before it could record that"
                    .into(),
            ),
            Settled::FinishedNow => (
                "completed",
                "finished at the next start: Backstop was stopped while this restore replaced the live data, and the next start finished it from the same archive"
                    .into(),
            ),
            Settled::Unchanged => (
                "failed",
                "nothing changed: Backstop was stopped before this restore replaced anything; the database was left as it was"
                    .into(),
            ),
            Settled::RolledBack => (
                "failed",
                "rolled back: the files folder could not be put in place, so the database was put back from the safety backup; nothing was changed"
                    .into(),
            ),
            Settled::Failed(said) => ("failed", said.clone()),
        }
    }
}

/// Logs what the newest `running` restore of `profile` did (the journal's verdict, when a files folder was
/// involved, else its last recorded step); finishes one killed while replacing the database. One sentence for
/// the user when there was such a restore and no journal spoke for it.
pub(crate) fn settle(ctx: &Context, profile: &Profile, journal: Option<Settled>) -> Option<String> {
    let row = ctx.catalog.interrupted_restore(&profile.name).ok()??;
    let from_journal = journal.is_some();
    let settled = journal.unwrap_or_else(|| match row.step.as_deref() {
        None => Settled::Unchanged,
        Some(APPLIED) | Some(DONE) => Settled::Replaced,
        Some(ROLLED_BACK) => Settled::RolledBack,
        // Killed during the one transaction that replaces the database: whether it committed is unknown, so
        // replace it again from the same archive (the user confirmed this restore, and it was checked).
        Some(_) => {
            let job = JobControl::new(&NoProgress, Default::default());
            match apply_database_of(ctx, profile, &row.archive_path, &job) {
                Ok(_) => Settled::FinishedNow,
                Err(e) => Settled::Failed(format!(
                    "Backstop was stopped while this restore replaced the database, and finishing it at the next start failed ({e})"
                )),
            }
        }
    });
    let (outcome, mut message) = settled.outcome();
    if !message.contains("safety backup ") {
        message.push_str(&match row.safety_backup_id {
            Some(id) => format!("; safety backup {id} holds the state from before"),
            None => "; no safety backup was taken".into(),
        });
    }
    let _ = ctx
        .catalog
        .finish_restore(row.id, outcome, row.safety_backup_id, &message);
    // The job log tells the same story.
    let _ = ctx
        .catalog
        .finish_interrupted_job(&profile.name, "restore", outcome, &message);
    (!from_journal).then(|| format!("restore {} of profile {}: {message}", row.id, profile.name))
}
