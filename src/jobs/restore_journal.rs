//! The restore journal: a restore with a files folder that a crash interrupted is finished on the next start.

use super::context::Context;
use super::restore::apply_database_of;
use crate::config::{Paths, Profile};
use crate::error::{Error, Result};
use crate::files;
use crate::fsutil;
use crate::progress::JobControl;
use crate::restore_log;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How far a restore that involves the files folder got when the journal was last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum JournalStep {
    /// Both parts staged and checked, the safety backup taken; the database is being replaced.
    Applying,
    /// The database (if any) was replaced; the files folder is being swapped in.
    DatabaseApplied,
}

/// `state/restore-<profile>.json`: what a restore with a files folder was doing, so that a crash between replacing
/// the database and swapping the folder (or between the swap's two renames) is finished on the next start.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(super) struct RestoreJournal {
    #[serde(skip)]
    path: PathBuf,
    profile: String,
    step: Option<JournalStep>,
    archive: PathBuf,
    live: PathBuf,
    staging: PathBuf,
    pre_restore: PathBuf,
    safety_backup_id: Option<i64>,
}

impl RestoreJournal {
    pub(super) fn new(
        ctx: &Context,
        profile: &Profile,
        archive: &Path,
        folder: &files::StagedFolder,
        safety: Option<i64>,
    ) -> Self {
        RestoreJournal {
            path: journal_path(&ctx.paths, &profile.name),
            profile: profile.name.clone(),
            step: None,
            archive: archive.to_path_buf(),
            live: folder.live.clone(),
            staging: folder.staging.clone(),
            pre_restore: folder.pre_restore.clone(),
            safety_backup_id: safety,
        }
    }

    pub(super) fn write(&self, step: JournalStep) -> Result<()> {
        let record = RestoreJournal {
            step: Some(step),
            ..self.clone()
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| {
            Error::JobFailed(format!("internal: cannot encode restore journal: {e}"))
        })?;
        fsutil::atomic_write(&self.path, &json)
    }

    pub(super) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn journal_path(paths: &Paths, profile: &str) -> PathBuf {
    paths.state_dir.join(format!("restore-{profile}.json"))
}

/// Finishes a restore of `profile` that a crash interrupted (the user confirmed it, and everything it needs was
/// staged and checked before anything changed), and removes staging folders a crash left before that point.
/// One sentence for the user, if there was anything to do.
pub(super) fn recover_restore(ctx: &Context, profile: &Profile) -> Option<String> {
    let path = journal_path(&ctx.paths, &profile.name);
    let journal = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<RestoreJournal>(&bytes).ok());
    let mut keep = None;
    let mut settled = None;
    let said = journal.map(|journal| {
        let (how, said) = finish_restore(ctx, profile, &journal);
        let _ = std::fs::remove_file(&path);
        keep = Some(journal.staging.clone());
        settled = Some(how);
        said
    });
    // The restore log says what really happened, and which safety backup holds the state from before.
    let logged = restore_log::settle(ctx, profile, settled);
    let _ = std::fs::remove_file(&path);
    // Staging folders of restores that died before their journal said anything changed.
    let mut removed = 0;
    if let Some(live) = &profile.files_dir
        && let Ok(listing) = std::fs::read_dir(fsutil::parent_of(live))
    {
        let prefix = files::staging_prefix(live);
        for entry in listing.flatten() {
            // A staging folder the journal's message points the user to is theirs to look at.
            if entry.file_name().to_string_lossy().starts_with(&prefix)
                && keep.as_ref().is_none_or(|k| *k != entry.path())
            {
                files::remove_tree(&entry.path());
                removed += 1;
            }
        }
    }
    said.or(logged).or_else(|| {
        (removed > 0).then(|| {
            format!(
                "a restore of profile {} was interrupted before it changed anything; its temporary folder was removed",
                profile.name
            )
        })
    })
}

fn finish_restore(
    ctx: &Context,
    profile: &Profile,
    journal: &RestoreJournal,
) -> (restore_log::Settled, String) {
    use restore_log::Settled;
    let name = &journal.profile;
    let undo = journal
        .safety_backup_id
        .map_or("(none was taken)".to_string(), |id| id.to_string());
    let swapped = !journal.staging.is_dir() && journal.live.is_dir();
    if swapped {
        return (
            Settled::Replaced,
            format!("a restore of profile {name} was interrupted at its very end; it had finished"),
        );
    }
    if !journal.staging.is_dir() {
        let said = format!(
            "a restore of profile {name} was interrupted and its restored files are gone; restore safety backup {undo} to return to the state before"
        );
        return (Settled::Failed(said.clone()), said);
    }
    if journal.step == Some(JournalStep::Applying) {
        // Whether the database was replaced is unknown: replace it (again) from the same archive.
        let job = JobControl::new(&crate::progress::NoProgress, Default::default());
        if let Err(e) = apply_database_of(ctx, profile, &journal.archive, &job) {
            files::remove_tree(&journal.staging);
            let said = format!(
                "a restore of profile {name} was interrupted while its database was being replaced, and finishing it failed ({e}); restore safety backup {undo} to return to the state before"
            );
            return (Settled::Failed(said.clone()), said);
        }
    }
    let folder = files::StagedFolder {
        live: journal.live.clone(),
        staging: journal.staging.clone(),
        pre_restore: journal.pre_restore.clone(),
        extracted: files::Extracted::default(),
    };
    match folder.swap() {
        Ok(_) => (
            Settled::FinishedNow,
            format!(
                "a restore of profile {name} was interrupted before it finished; it has now been finished (database and files folder from {})",
                journal.archive.display()
            ),
        ),
        Err(e) => {
            let said = format!(
                "a restore of profile {name} was interrupted and its files folder could not be put in place ({e}); the restored files are in {}",
                journal.staging.display()
            );
            (Settled::Failed(said.clone()), said)
        }
    }
}
