//! Every job Backstop runs: backup, restore, verify, import, export, delete, prune, pin, run-due, stats.
//!
//! The CLI and the window build a spec and call these functions; nothing here knows who is listening. Each job
//! takes its profile's lock, reports through a [`JobControl`](crate::progress::JobControl), and records itself in
//! the catalog and the log.
//!
//! One file per job family: `context` (the [`Context`] every job runs in, start-up reconciliation, the job log),
//! `profile`, `backup`, `restore` with `restore_journal` (a restore a crash interrupted, finished on the next
//! start), `verify` (also show and diff), `import` (the jobs; the detection and checks of a file are in
//! [`crate::import`]), `manage` (export, delete, pin), `kept` (the copies restores keep, listed and deleted), `prune`, `run_due`, `stats` (also history), `undo` (which restore "Undo last restore" reverses), `rebuild`, and for destinations `copy` (queue, copy,
//! check, the destination's retention), `dest` (the `dest` commands) and `remote` (restore from a copy, rebuild
//! the catalog from a destination).
//! Everything public is re-exported here, so callers name `jobs::backup`, never the file it lives in.

mod backup;
mod context;
mod copy;
mod dest;
mod encryption;
mod import;
mod kept;
mod manage;
mod profile;
mod prune;
mod rebuild;
mod remote;
mod restore;
mod restore_journal;
mod run_due;
mod sheet;
mod stats;
mod undo;
mod verify;

pub(crate) use backup::seal;
pub use backup::{BackupReport, BackupSpec, backup};
pub use context::Context;
pub use copy::{DestSync, backoff, dest_policy, object_name, sync};
pub use dest::{
    DestAdd, DestInfo, RemoteArchive, default_secret_store, dest_add, dest_list, dest_ls,
    dest_remove, dest_test,
};
pub use encryption::{EncryptChange, MIN_PASSPHRASE, UnlockSpec, set_encryption};
pub use import::{ImportReport, import, import_batch};
pub use kept::{
    KeptCopy, KeptReport, KeptWhat, delete_kept_database, delete_kept_folder, kept_copies,
};
pub use manage::{delete, export, pin};
pub(crate) use profile::read_password;
pub use profile::{
    Password, ProfilePaths, add_profile, engine_for, ensure_demo, prepare_profile,
    profile_problems, remove_profile, rename_profile, save_profile, set_password, test_connection,
    typed_problems,
};
pub use prune::{PruneReport, prune};
pub use rebuild::{RebuildReport, rebuild_catalog};
pub use remote::{RemoteRebuildReport, rebuild_from};
pub(crate) use restore::apply_database_of;
pub use restore::{BackupRef, RestorePlan, RestoreReport, RestoreSpec, plan_restore, restore};
pub use run_due::{DueOutcome, PAUSED, run_due, set_automatic_paused};
pub use sheet::{recovery_sheet, recovery_sheet_html};
pub use stats::{Outcomes, RECENT_DAYS, Stats, history, stats};
pub use undo::{Undo, undo_target};
pub use verify::{VerifyOutcome, VerifyTarget, diff, show, verify};
