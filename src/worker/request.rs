//! What the window asks the worker to do: the requests, their labels for people, and the small edits they carry.

use crate::config::Config;
use crate::jobs::{self, Password, RestoreSpec, VerifyTarget};
use crate::model::{Kind, Trigger};
use std::path::PathBuf;

/// Everything the window can ask the worker to do.
#[derive(Debug, Clone)]
pub enum JobRequest {
    /// Back up a profile.
    Backup {
        /// Profile name.
        profile: String,
        /// What to back up.
        kind: Option<Kind>,
        /// manual or automatic.
        trigger: Trigger,
    },
    /// Restore (or validate) a backup.
    Restore(RestoreSpec),
    /// Verify archives.
    Verify(VerifyTarget),
    /// Import files into a profile.
    Import {
        /// The files.
        files: Vec<PathBuf>,
        /// Profile name.
        profile: String,
    },
    /// Copy an archive out.
    Export {
        /// Backup id.
        id: i64,
        /// Destination.
        to: PathBuf,
    },
    /// Delete a backup.
    Delete {
        /// Backup id.
        id: i64,
    },
    /// Show (dry run) or apply retention.
    Prune {
        /// Profile name.
        profile: String,
        /// Only plan.
        dry_run: bool,
    },
    /// Pin or unpin.
    Pin {
        /// Backup id.
        id: i64,
        /// Pin (true) or unpin.
        pinned: bool,
    },
    /// Read an archive's manifest (the History panel's Show).
    Show {
        /// Backup id.
        id: i64,
    },
    /// Compare two backups (the History panel's Compare).
    Diff {
        /// The older backup.
        before: i64,
        /// The newer backup.
        after: i64,
    },
    /// Read what the restore dialog compares: the backup's tables and the live database's now.
    Inspect {
        /// Backup id.
        id: i64,
        /// The profile a restore would go into (None: the backup's own).
        into: Option<String>,
    },
    /// Save a new config (profiles and settings).
    SaveConfig(Box<Config>),
    /// Save one profile as the Settings panel edited it (found by its name: a rename goes first, by its own
    /// request), and the app-wide settings when they were edited too. Only what was edited changes: saves queued
    /// behind a job, each from its own profile's draft, keep each other's changes.
    SaveProfile {
        /// The profile as edited.
        profile: Box<crate::config::Profile>,
        /// The app-wide settings as edited, if they were.
        settings: Option<SettingsEdit>,
    },
    /// Add a profile (its storage folder is created if missing), with its password if it has one.
    AddProfile(Box<crate::config::Profile>, Option<Password>),
    /// Rename a profile (config and catalog).
    RenameProfile {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// Remove a profile; its archives stay unless asked.
    RemoveProfile {
        /// Profile name.
        name: String,
        /// Also delete its archives.
        delete_archives: bool,
    },
    /// Make the sample database and the `demo` profile.
    CreateDemo,
    /// Store a profile's password (keyring or file, as the profile says) and mark the profile as having one.
    SetPassword {
        /// Profile name.
        profile: String,
        /// The password.
        password: Password,
    },
    /// Ask a server database for its details (version, largest tables, kept copies, sessions).
    Details {
        /// Profile name.
        profile: String,
    },
    /// Drop a database copy kept by an earlier restore.
    DropCopy {
        /// Profile name.
        profile: String,
        /// The copy's name.
        name: String,
    },
    /// List the copies restores of a profile kept (folders, server databases, safety backups).
    KeptCopies {
        /// Profile name.
        profile: String,
    },
    /// Delete a files folder a restore kept.
    DeleteKeptFolder {
        /// Profile name.
        profile: String,
        /// The kept folder.
        path: PathBuf,
    },
    /// Check that a profile's database answers.
    TestConnection {
        /// Profile name.
        profile: String,
    },
    /// Only refresh the snapshot.
    Refresh,
    /// Add a destination (checked by connecting first), with its secret.
    AddDestination(Box<crate::storage::Destination>, Option<Password>),
    /// Test a destination: a probe written, read, listed and deleted.
    TestDestination(String),
    /// Remove a destination (its copies there stay).
    RemoveDestination(String),
    /// The disaster case: add the backups at a destination to the catalog, from their manifests there.
    RebuildFrom(String),
    /// Set, change or turn off a profile's encryption.
    SetEncryption {
        /// Profile name.
        profile: String,
        /// A new passphrase, recipients, or off.
        change: EncryptRequest,
        /// Only the copies at destinations.
        offsite_only: bool,
        /// Where a passphrase is kept.
        store: crate::secrets::SecretStore,
    },
    /// Write a profile's recovery sheet as a printable page and open it.
    RecoverySheet {
        /// Profile name.
        profile: String,
    },
    /// Copy what waits to the destinations (`jobs::sync`): of one profile, or of all.
    Sync {
        /// Profile name (None: every profile's destinations).
        profile: Option<String>,
        /// Ignore the waits after failures (Sync now); the scheduler's retries keep them.
        force: bool,
    },
    /// Change one app-wide switch the tray and the close question set (no toast: the caller says what changed).
    SetFlag(AppFlag),
    /// Start at login, the system timer, or only read their state (`systemctl` may be slow: never on the UI thread).
    Desktop {
        /// Where the desktop files go and what they start.
        places: Box<crate::desktop::Places>,
        /// What to change.
        change: crate::desktop::DesktopChange,
    },
}

impl JobRequest {
    /// A short label for the job bar, queue and log.
    pub fn label(&self) -> String {
        match self {
            JobRequest::Backup {
                profile,
                kind,
                trigger,
            } => format!(
                "{} backup of {profile}{}",
                match trigger {
                    Trigger::Automatic => "Automatic",
                    Trigger::Safety => "Safety",
                    _ => "Manual",
                },
                kind.map(|k| format!(" ({k})")).unwrap_or_default()
            ),
            JobRequest::Restore(spec) => {
                let what = match &spec.source {
                    jobs::BackupRef::Id(id) => format!("backup {id}"),
                    jobs::BackupRef::Path(p) => p.display().to_string(),
                };
                if !spec.only.is_empty() {
                    format!("Restore chosen files of {what}")
                } else if spec.validate_only {
                    format!("Validate {what}")
                } else {
                    format!("Restore {what}")
                }
            }
            JobRequest::Verify(VerifyTarget::All(Some(profile))) => {
                format!("Verify the backups of {profile}")
            }
            JobRequest::Verify(VerifyTarget::All(None)) => {
                "Verify the backups of all profiles".into()
            }
            JobRequest::Verify(VerifyTarget::One(jobs::BackupRef::Id(id))) => {
                format!("Verify backup {id}")
            }
            JobRequest::Verify(VerifyTarget::One(jobs::BackupRef::Path(p))) => {
                format!("Verify {}", p.display())
            }
            JobRequest::Import { files, .. } => format!("Import {} file(s)", files.len()),
            JobRequest::Export { id, .. } => format!("Export backup {id}"),
            JobRequest::Delete { id } => format!("Delete backup {id}"),
            JobRequest::Prune {
                profile,
                dry_run: true,
            } => format!("Retention preview of {profile}"),
            JobRequest::Prune {
                profile,
                dry_run: false,
            } => format!("Prune {profile}"),
            JobRequest::Pin { id, pinned: true } => format!("Pin backup {id}"),
            JobRequest::Pin { id, pinned: false } => format!("Unpin backup {id}"),
            JobRequest::Inspect { id, .. } => format!("Inspect backup {id}"),
            JobRequest::Show { id } => format!("Show backup {id}"),
            JobRequest::Diff { before, after } => format!("Compare backups {before} and {after}"),
            JobRequest::SaveConfig(_) => "Save settings".into(),
            JobRequest::SaveProfile { .. } => "Save settings".into(),
            JobRequest::AddProfile(p, _) => format!("Add profile {}", p.name),
            JobRequest::RenameProfile { old, new } => format!("Rename profile {old} to {new}"),
            JobRequest::RemoveProfile { name, .. } => format!("Remove profile {name}"),
            JobRequest::CreateDemo => "Create the demo profile".into(),
            JobRequest::SetPassword { profile, .. } => format!("Store the password of {profile}"),
            JobRequest::TestConnection { profile } => format!("Test connection of {profile}"),
            JobRequest::Details { profile } => format!("Read details of {profile}"),
            JobRequest::DropCopy { name, .. } => format!("Delete database copy {name}"),
            JobRequest::KeptCopies { profile } => format!("List the copies kept for {profile}"),
            JobRequest::DeleteKeptFolder { path, .. } => {
                format!("Delete kept folder {}", path.display())
            }
            JobRequest::Refresh => "Refresh".into(),
            JobRequest::RecoverySheet { profile } => {
                format!("Make the recovery sheet of {profile}")
            }
            JobRequest::AddDestination(dest, _) => format!("Add destination {}", dest.name),
            JobRequest::TestDestination(name) => format!("Test destination {name}"),
            JobRequest::RemoveDestination(name) => format!("Remove destination {name}"),
            JobRequest::RebuildFrom(name) => format!("Rebuild the catalog from {name}"),
            JobRequest::SetEncryption { profile, .. } => {
                format!("Set the encryption of {profile}")
            }
            JobRequest::Sync {
                profile: Some(profile),
                force: true,
            } => format!("Copy the backups of {profile} to its destinations"),
            JobRequest::Sync {
                profile: None,
                force: true,
            } => "Copy backups to every destination".into(),
            JobRequest::Sync {
                profile: Some(profile),
                force: false,
            } => format!("Retry the copies of {profile}"),
            JobRequest::Sync {
                profile: None,
                force: false,
            } => "Retry waiting copies".into(),
            JobRequest::SetFlag(AppFlag::AutomaticPaused(true)) => "Pause automatic backups".into(),
            JobRequest::SetFlag(AppFlag::AutomaticPaused(false)) => {
                "Resume automatic backups".into()
            }
            JobRequest::SetFlag(AppFlag::CloseToTray(_)) => {
                "Remember what closing the window does".into()
            }
            JobRequest::Desktop { change, .. } => change.label().into(),
        }
    }

    /// Whether the job bar should show this job (quick reads and saves are not shown).
    pub fn is_visible(&self) -> bool {
        !matches!(
            self,
            JobRequest::Inspect { .. }
                | JobRequest::Show { .. }
                | JobRequest::Diff { .. }
                | JobRequest::Details { .. }
                | JobRequest::KeptCopies { .. }
                | JobRequest::Refresh
                | JobRequest::SetFlag(_)
                | JobRequest::Desktop {
                    change: crate::desktop::DesktopChange::Status,
                    ..
                }
                | JobRequest::SaveConfig(_)
                | JobRequest::SaveProfile { .. }
                | JobRequest::AddProfile(..)
                | JobRequest::RenameProfile { .. }
                | JobRequest::RemoveProfile { .. }
                | JobRequest::SetPassword { .. }
        )
    }
}

/// An encryption change asked in the window (the passphrase never printed: `Password`'s Debug).
#[derive(Debug, Clone)]
pub enum EncryptRequest {
    /// A new passphrase.
    Passphrase(Password),
    /// Recipient public keys.
    Recipients(Vec<String>),
    /// No encryption for new backups.
    Off,
}

/// The app-wide settings the window edits; the others (set in the config file) are left as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsEdit {
    /// Desktop notifications on.
    pub notifications: bool,
    /// Change alert threshold (%).
    pub change_alert_percent: u32,
}

impl SettingsEdit {
    /// Puts the edited fields into `settings`.
    pub fn apply(&self, settings: &mut crate::config::Settings) {
        settings.notifications = self.notifications;
        settings.change_alert_percent = self.change_alert_percent;
    }
}

/// An app-wide switch changed outside the Settings form (from the tray or the close question).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFlag {
    /// `settings.automatic_paused`.
    AutomaticPaused(bool),
    /// `settings.close_to_tray`.
    CloseToTray(Option<bool>),
}

impl AppFlag {
    /// Puts the switch into `settings`.
    pub fn apply(self, settings: &mut crate::config::Settings) {
        match self {
            AppFlag::AutomaticPaused(paused) => settings.automatic_paused = paused,
            AppFlag::CloseToTray(answer) => settings.close_to_tray = answer,
        }
    }
}
