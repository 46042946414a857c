//! The window's one worker thread: commands in, events out. Every job runs here, so the window never freezes.
//!
//! The UI sends a [`JobRequest`] with [`Worker::submit`] and gets a [`Ticket`] whose cancel token it may set; the
//! worker runs requests one at a time in order, reports [`Event`]s, and calls the repaint callback after each send.
//! After every job it sends a fresh [`Snapshot`] of the catalog and config, so the UI never reads them itself; idle,
//! it sends one when another process changed them (`watch`: a backup the system timer made shows without a click).

use crate::catalog::{BackupRow, JobRow, RestoreRow};
use crate::config::{Config, Paths};
use crate::error::{Error, Result};
use crate::failure::ErrorKind;
use crate::jobs::{
    self, BackupReport, BackupSpec, Context, PruneReport, RestoreReport, Stats, VerifyOutcome,
};
use crate::model::Kind;
use crate::progress::{CancelToken, JobControl, ProgressSink, ProgressUpdate};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};

pub use crate::jobs::Password;

mod request;
mod watch;
pub use request::{AppFlag, EncryptRequest, JobRequest, SettingsEdit};
pub use watch::WATCH_EVERY;
use watch::{Watch, snapshot};

/// A submitted job: its number, label and cancel token.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Increasing number.
    pub id: u64,
    /// Label for people.
    pub label: String,
    /// Set it to cancel the job (queued or running).
    pub cancel: CancelToken,
}

/// What the restore dialog compares side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Backup id.
    pub id: i64,
    /// Profile name.
    pub profile: String,
    /// What a restore replaces.
    pub target: String,
    /// When the backup was taken.
    pub backup_created_at: DateTime<Utc>,
    /// Live database size at backup time.
    pub backup_database_size: u64,
    /// Row counts in the backup.
    pub backup_tables: BTreeMap<String, u64>,
    /// Live database size now (None: unreadable, with the reason in `now_error`).
    pub now_database_size: Option<u64>,
    /// Row counts now.
    pub now_tables: BTreeMap<String, u64>,
    /// Why the live database could not be read.
    pub now_error: Option<String>,
    /// The live database's name when it does not exist (a restore creates it).
    pub missing_database: Option<String>,
    /// What the backup holds.
    pub kind: Kind,
    /// The profile's files folder, which a restore of a full or files backup replaces.
    pub files_dir: Option<PathBuf>,
    /// The backup's files-folder entries (`files::entries_of`), for restoring chosen files.
    pub files: Vec<crate::archive::ManifestEntry>,
}

/// A job's result.
#[derive(Debug, Clone)]
pub enum JobOutput {
    /// A backup was written.
    Backup(Box<BackupReport>),
    /// A restore or validation ran.
    Restore(Box<RestoreReport>),
    /// Archives were verified.
    Verify(Vec<VerifyOutcome>),
    /// Files were imported: what each became (imported, duplicate, refused with its reason, skipped).
    Import(Box<crate::import::batch::ImportBatch>),
    /// An archive was exported.
    Export(PathBuf),
    /// A backup was deleted.
    Deleted(i64),
    /// Retention planned or applied.
    Prune(PruneReport),
    /// A pin changed.
    Pinned(i64, bool),
    /// The restore dialog's comparison.
    Inspect(Box<Inspection>),
    /// An archive's manifest.
    Shown(i64, Box<crate::archive::Manifest>),
    /// How two backups differ.
    Diffed(i64, i64, Box<crate::archive::ManifestDiff>),
    /// The config was saved.
    ConfigSaved,
    /// A server database's details.
    Details(String, Box<crate::engine::EngineDetails>),
    /// The copies restores of a profile kept.
    Kept(Box<jobs::KeptReport>),
    /// A kept copy was deleted: what was deleted.
    KeptDeleted(String),
    /// Profiles changed (added, renamed, removed, demo made): the text says what happened.
    ProfilesChanged(String),
    /// Nothing but a new snapshot.
    Refreshed,
    /// A desktop change was made (what, in words; empty when only the state was read), and the state after it.
    Desktop(String, Box<crate::desktop::DesktopStatus>),
    /// A recovery sheet was written (the page to open).
    RecoverySheet(PathBuf),
    /// Copies to destinations ran: what each destination did, and whether it was asked for (Sync now) rather
    /// than the scheduler's retry.
    Synced {
        /// One report per destination.
        reports: Vec<jobs::DestSync>,
        /// Sync now (waits after failures ignored), not the scheduler.
        forced: bool,
    },
}

/// Why a job did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// What went wrong and what to do.
    pub message: String,
    /// The user cancelled it (the same as `kind == ErrorKind::Cancelled`).
    pub cancelled: bool,
    /// The error's kind, kept across the thread: what the window decides from (retry or not), never the text.
    pub kind: ErrorKind,
}

impl JobFailure {
    /// The failure an error reports: its message and its kind.
    pub fn of(error: &Error) -> JobFailure {
        let kind = error.kind();
        JobFailure {
            message: error.to_string(),
            cancelled: kind == ErrorKind::Cancelled,
            kind,
        }
    }
}

/// The catalog and config as the window shows them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Profiles and settings.
    pub config: Config,
    /// Every backup except deleted ones, oldest first.
    pub backups: Vec<BackupRow>,
    /// The restore log, newest first.
    pub restores: Vec<RestoreRow>,
    /// The job log, newest first.
    pub jobs: Vec<JobRow>,
    /// Statistics per profile.
    pub stats: BTreeMap<String, Stats>,
    /// Every destination with its copies' state (`jobs::dest_list`), in config order.
    pub destinations: Vec<jobs::DestInfo>,
    /// Completed backups of profiles with destinations whose archive is not in the storage folder (deleted by
    /// hand, a drive unplugged): History's "local" badge is left off them. Looked at here, never in a frame.
    pub archives_absent: std::collections::BTreeSet<i64>,
    /// Problems reading state (config or catalog), shown as a banner.
    pub error: Option<String>,
}

/// What the worker tells the window.
#[derive(Debug, Clone)]
pub enum Event {
    /// A job began.
    Started {
        /// Ticket id.
        ticket: u64,
        /// Label.
        label: String,
    },
    /// A job moved on.
    Progress {
        /// Ticket id.
        ticket: u64,
        /// The report.
        update: ProgressUpdate,
    },
    /// A job ended.
    Finished {
        /// Ticket id.
        ticket: u64,
        /// Label.
        label: String,
        /// Output or failure.
        result: std::result::Result<JobOutput, JobFailure>,
    },
    /// Fresh catalog and config.
    Snapshot(Box<Snapshot>),
    /// Something the user should read (start-up recovery).
    Notice(String),
}

/// The window's handle on the worker thread.
pub struct Worker {
    requests: Sender<(Ticket, JobRequest)>,
    events: Receiver<Event>,
    next: u64,
}

/// Sends progress to the window and asks it to repaint.
struct ChannelSink {
    ticket: u64,
    events: Sender<Event>,
    repaint: Arc<dyn Fn() + Send + Sync>,
}

impl ProgressSink for ChannelSink {
    fn update(&self, update: &ProgressUpdate) {
        let _ = self.events.send(Event::Progress {
            ticket: self.ticket,
            update: update.clone(),
        });
        (self.repaint)();
    }
}

impl Worker {
    /// Starts the worker thread on the state at `paths`; `repaint` wakes the window after each event.
    pub fn spawn(paths: Paths, repaint: Arc<dyn Fn() + Send + Sync>) -> Result<Worker> {
        let (request_tx, request_rx) = channel::<(Ticket, JobRequest)>();
        let (event_tx, event_rx) = channel::<Event>();
        std::thread::Builder::new()
            .name("backstop-worker".into())
            .spawn(move || worker_loop(paths, request_rx, event_tx, repaint))
            .map_err(|e| Error::JobFailed(format!("cannot start the worker thread: {e}")))?;
        Ok(Worker {
            requests: request_tx,
            events: event_rx,
            next: 1,
        })
    }

    /// Queues a job; returns its ticket (keep the cancel token to cancel it).
    pub fn submit(&mut self, request: JobRequest) -> Ticket {
        let ticket = Ticket {
            id: self.next,
            label: request.label(),
            cancel: CancelToken::new(),
        };
        self.next += 1;
        let _ = self.requests.send((ticket.clone(), request));
        ticket
    }

    /// The next event, if one is waiting (never blocks).
    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits up to `timeout` for the next event (tests).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }
}

fn worker_loop(
    paths: Paths,
    requests: Receiver<(Ticket, JobRequest)>,
    events: Sender<Event>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    let send = |event: Event| {
        let _ = events.send(event);
        repaint();
    };
    let ctx = Mutex::new(Context::open(paths.clone()));
    if let Ok(Ok(ctx)) = ctx.lock().as_deref() {
        for line in &ctx.recovered {
            send(Event::Notice(line.clone()));
        }
    }
    let mut watch = Watch::default();
    watch.mark(&ctx, &paths);
    send(Event::Snapshot(Box::new(snapshot(&ctx, &paths))));
    loop {
        let (ticket, request) = match requests.recv_timeout(WATCH_EVERY) {
            Ok(next) => next,
            // Idle: a backup the system timer or the CLI made (or a config another process saved) shows up
            // without a click.
            Err(RecvTimeoutError::Timeout) => {
                if watch.changed(&ctx, &paths) {
                    watch::follow(&ctx, &paths);
                    watch.mark(&ctx, &paths);
                    send(Event::Snapshot(Box::new(snapshot(&ctx, &paths))));
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let label = ticket.label.clone();
        if ticket.cancel.is_cancelled() {
            send(Event::Finished {
                ticket: ticket.id,
                label,
                result: Err(JobFailure {
                    message: "cancelled before it started".into(),
                    cancelled: true,
                    kind: ErrorKind::Cancelled,
                }),
            });
            continue;
        }
        send(Event::Started {
            ticket: ticket.id,
            label: label.clone(),
        });
        let sink = ChannelSink {
            ticket: ticket.id,
            events: events.clone(),
            repaint: repaint.clone(),
        };
        let job = JobControl::new(&sink, ticket.cancel.clone());
        let result = {
            let mut guard = match ctx.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            // A state that could not be opened (say, a broken config) is retried before each job, and so is one
            // whose catalog `catalog rebuild` replaced meanwhile (its writes would go to the copy kept aside).
            if guard.as_ref().map_or(true, |ctx| ctx.catalog.is_replaced()) {
                *guard = Context::open(paths.clone());
            }
            // The CLI or a timer may have changed the profiles since: every job sees the config as it is now.
            if let Ok(ctx) = guard.as_mut()
                && let Ok(config) = Config::load(&ctx.paths.config_file)
            {
                ctx.config = config;
            }
            match guard.as_mut() {
                // A bug in one job must not kill the worker and freeze the window: report it as a failure.
                Ok(ctx) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ctx, request, &job)))
                    .unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown".into());
                        Err(Error::JobFailed(format!(
                            "internal error ({what}); the job stopped and Backstop keeps running. Please report it"
                        )))
                    })
                    .map_err(|e| JobFailure::of(&e)),
                // The state could not be opened: the job fails with that error's own kind.
                Err(e) => Err(JobFailure::of(e)),
            }
        };
        send(Event::Finished {
            ticket: ticket.id,
            label,
            result,
        });
        watch.mark(&ctx, &paths);
        send(Event::Snapshot(Box::new(snapshot(&ctx, &paths))));
    }
}

/// Runs one request on the worker's context.
fn run(ctx: &mut Context, request: JobRequest, job: &JobControl) -> Result<JobOutput> {
    match request {
        JobRequest::Backup {
            profile,
            kind,
            trigger,
        } => {
            let spec = BackupSpec {
                profile: Some(profile),
                kind,
                trigger,
            };
            jobs::backup(ctx, &spec, job).map(|r| JobOutput::Backup(Box::new(r)))
        }
        JobRequest::Restore(spec) => {
            jobs::restore(ctx, &spec, job).map(|r| JobOutput::Restore(Box::new(r)))
        }
        JobRequest::Verify(target) => jobs::verify(ctx, &target, job).map(JobOutput::Verify),
        JobRequest::Import { files, profile } => {
            jobs::import_batch(ctx, &files, Some(&profile), job)
                .map(|batch| JobOutput::Import(Box::new(batch)))
        }
        JobRequest::Export { id, to } => jobs::export(ctx, id, &to, job).map(JobOutput::Export),
        JobRequest::Delete { id } => jobs::delete(ctx, id).map(|r| JobOutput::Deleted(r.id)),
        JobRequest::Prune { profile, dry_run } => {
            jobs::prune(ctx, Some(&profile), dry_run).map(JobOutput::Prune)
        }
        JobRequest::Pin { id, pinned } => {
            jobs::pin(ctx, id, pinned).map(|_| JobOutput::Pinned(id, pinned))
        }
        JobRequest::Inspect { id, into } => {
            inspect(ctx, id, into.as_deref()).map(|i| JobOutput::Inspect(Box::new(i)))
        }
        JobRequest::Show { id } => {
            jobs::show(ctx, &jobs::BackupRef::Id(id)).map(|m| JobOutput::Shown(id, Box::new(m)))
        }
        JobRequest::Diff { before, after } => jobs::diff(
            ctx,
            &jobs::BackupRef::Id(before),
            &jobs::BackupRef::Id(after),
        )
        .map(|d| JobOutput::Diffed(before, after, Box::new(d))),
        JobRequest::SaveConfig(config) => {
            // Profiles are added, renamed and removed by their own requests, so that their passwords and history
            // follow them; a whole config that would do it behind their back is refused.
            let names = |c: &Config| {
                c.profiles
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<std::collections::BTreeSet<_>>()
            };
            let now = names(&ctx.config);
            if names(&config) != now {
                return Err(Error::Usage(format!(
                    "the profiles changed since the settings were read (now: {}); nothing was saved, check them and save again",
                    now.into_iter().collect::<Vec<_>>().join(", ")
                )));
            }
            // Profiles the window changed are saved like `profile edit` saves them (one check, passwords kept).
            let mut warnings = Vec::new();
            for profile in &config.profiles {
                if !ctx.config.profiles.contains(profile) {
                    warnings.extend(jobs::save_profile(&ctx.paths, profile.clone(), || {
                        Ok(None)
                    })?);
                }
            }
            let mut saved = Config::load(&ctx.paths.config_file)?;
            saved.settings = config.settings;
            ctx.save_config(saved)?;
            match warnings.is_empty() {
                true => Ok(JobOutput::ConfigSaved),
                false => Ok(JobOutput::ProfilesChanged(warnings.join("; "))),
            }
        }
        JobRequest::SaveProfile { profile, settings } => {
            // Saved like `profile edit` saves it (one check, its password kept), onto the config as it is now.
            let Some(current) = ctx.config.profiles.iter().find(|p| p.name == profile.name) else {
                return Err(Error::Usage(format!(
                    "there is no profile {} (it was renamed or removed since the settings were read); nothing was \
                     saved, check them and save again",
                    profile.name
                )));
            };
            let warnings = if current == &*profile {
                Vec::new()
            } else {
                jobs::save_profile(&ctx.paths, *profile, || Ok(None))?
            };
            let mut saved = Config::load(&ctx.paths.config_file)?;
            if let Some(edit) = settings {
                edit.apply(&mut saved.settings);
                if let Some(problem) = saved.settings.problems().into_iter().next() {
                    return Err(Error::Usage(problem));
                }
            }
            ctx.save_config(saved)?;
            match warnings.is_empty() {
                true => Ok(JobOutput::ConfigSaved),
                false => Ok(JobOutput::ProfilesChanged(warnings.join("; "))),
            }
        }
        JobRequest::AddProfile(profile, password) => {
            let name = profile.name.clone();
            jobs::add_profile(&ctx.paths, *profile, || Ok(password))?;
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::ProfilesChanged(format!("Profile {name} added")))
        }
        JobRequest::RenameProfile { old, new } => {
            jobs::rename_profile(ctx, &old, &new)?;
            Ok(JobOutput::ProfilesChanged(format!(
                "Profile {old} renamed to {new}"
            )))
        }
        JobRequest::RemoveProfile {
            name,
            delete_archives,
        } => {
            let removed = jobs::remove_profile(&ctx.paths, &name, delete_archives)?;
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::ProfilesChanged(if delete_archives {
                format!("Profile {name} removed with its {removed} archive(s)")
            } else {
                format!("Profile {name} removed; its archives were kept")
            }))
        }
        JobRequest::SetPassword { profile, password } => {
            jobs::set_password(&ctx.paths, &profile, &password)?;
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::ProfilesChanged(format!(
                "Password of {profile} stored"
            )))
        }
        JobRequest::Details { profile } => {
            let p = ctx.config.profile(&profile)?.clone();
            let details = jobs::engine_for(ctx, &p)?.details()?;
            Ok(JobOutput::Details(profile, Box::new(details)))
        }
        JobRequest::DropCopy { profile, name } => {
            jobs::delete_kept_database(ctx, &profile, &name).map(JobOutput::KeptDeleted)
        }
        JobRequest::KeptCopies { profile } => {
            jobs::kept_copies(ctx, &profile).map(|r| JobOutput::Kept(Box::new(r)))
        }
        JobRequest::DeleteKeptFolder { profile, path } => {
            jobs::delete_kept_folder(ctx, &profile, &path).map(JobOutput::KeptDeleted)
        }
        JobRequest::TestConnection { profile } => Ok(JobOutput::ProfilesChanged(format!(
            "Connection ok: {}",
            jobs::test_connection(ctx, &profile)?
        ))),
        JobRequest::CreateDemo => {
            let done = jobs::ensure_demo(&ctx.paths)?;
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::ProfilesChanged(if done.is_empty() {
                "The demo profile already exists".to_string()
            } else {
                done.join("; ")
            }))
        }
        JobRequest::Refresh => {
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::Refreshed)
        }
        JobRequest::AddDestination(dest, secret) => {
            let info = jobs::dest_add(
                ctx,
                jobs::DestAdd {
                    dest: *dest,
                    secret: secret.map(|p| p.0),
                },
            )?;
            Ok(JobOutput::ProfilesChanged(match &info.other_home {
                Some(note) => format!("Destination {} added: {note}", info.name),
                None => format!(
                    "Destination {} added ({}); {} backup(s) will be copied there",
                    info.name, info.location, info.pending
                ),
            }))
        }
        JobRequest::TestDestination(name) => {
            jobs::dest_test(ctx, &name).map(JobOutput::ProfilesChanged)
        }
        JobRequest::RemoveDestination(name) => {
            let dest = jobs::dest_remove(ctx, &name)?;
            Ok(JobOutput::ProfilesChanged(format!(
                "Destination {} removed; its copies at {} were left there",
                dest.name,
                dest.target.describe()
            )))
        }
        JobRequest::RebuildFrom(name) => {
            let report = jobs::rebuild_from(ctx, &name, None, job)?;
            let mut text = format!(
                "Catalog rebuilt from {}: {} backup(s) added, {} known already",
                report.dest,
                report.added.len(),
                report.known
            );
            if let Some(whose) = &report.took_over_from {
                text.push_str(&format!(
                    "; the folder was another home's ({whose}) and is this home's now"
                ));
            }
            if !report.damaged.is_empty() {
                text.push_str(&format!(
                    "; {} could not be read: {}",
                    report.damaged.len(),
                    report.damaged.join("; ")
                ));
            }
            Ok(JobOutput::ProfilesChanged(text))
        }
        JobRequest::SetEncryption {
            profile,
            change,
            offsite_only,
            store,
        } => {
            let change = match change {
                EncryptRequest::Passphrase(p) => jobs::EncryptChange::Passphrase(p),
                EncryptRequest::Recipients(r) => jobs::EncryptChange::Recipients(r),
                EncryptRequest::Off => jobs::EncryptChange::Off,
            };
            let text =
                jobs::set_encryption(&ctx.paths, &profile, change, offsite_only, Some(store))?;
            ctx.config = Config::load(&ctx.paths.config_file)?;
            Ok(JobOutput::ProfilesChanged(text))
        }
        JobRequest::RecoverySheet { profile } => {
            let text = jobs::recovery_sheet(ctx, Some(&profile))?;
            let path = ctx
                .paths
                .state_dir
                .join(format!("recovery-sheet-{profile}.html"));
            crate::fsutil::atomic_write(
                &path,
                jobs::recovery_sheet_html(&text, &profile).as_bytes(),
            )?;
            Ok(JobOutput::RecoverySheet(path))
        }
        JobRequest::Sync { profile, force } => {
            jobs::sync(ctx, profile.as_deref(), force, job).map(|reports| JobOutput::Synced {
                reports,
                forced: force,
            })
        }
        JobRequest::Desktop { places, change } => {
            let done = crate::desktop::apply(&places, change)?;
            let status = crate::desktop::status(&places);
            Ok(JobOutput::Desktop(done, Box::new(status)))
        }
        JobRequest::SetFlag(flag) => {
            let mut saved = Config::load(&ctx.paths.config_file)?;
            flag.apply(&mut saved.settings);
            ctx.save_config(saved)?;
            Ok(JobOutput::Refreshed)
        }
    }
}

/// Reads the backup's recorded tables and the live database's current ones (of `into`, when the restore would
/// go into another profile).
pub fn inspect(ctx: &Context, id: i64, into: Option<&str>) -> Result<Inspection> {
    let row = ctx.catalog.get(id)?;
    let profile = ctx.config.profile(into.unwrap_or(&row.profile))?;
    // Encrypted, or only at a destination: `show` reads the manifest wherever it is.
    let manifest = jobs::show(ctx, &jobs::BackupRef::Id(id))?;
    let db = manifest
        .database
        .clone()
        .unwrap_or_else(|| crate::archive::DatabaseInfo {
            engine: profile.database.engine(),
            engine_version: String::new(),
            name: String::new(),
            entry: String::new(),
            size_bytes: 0,
            tables: BTreeMap::new(),
            schema_sha256: String::new(),
            tool_version: None,
            postgres: None,
        });
    let engine = jobs::engine_for(ctx, profile)?;
    let (now_database_size, now_tables, now_error) =
        match (engine.size_bytes(), engine.table_counts()) {
            (Ok(size), Ok(tables)) => (Some(size), tables, None),
            (Err(e), _) | (_, Err(e)) => (None, BTreeMap::new(), Some(e)),
        };
    let missing_database = match &now_error {
        Some(Error::RemoteDatabaseMissing { name, .. }) => Some(name.clone()),
        Some(Error::DatabaseMissing(path)) => Some(path.display().to_string()),
        _ => None,
    };
    let now_error = now_error
        .filter(|_| missing_database.is_none())
        .map(|e| e.to_string());
    Ok(Inspection {
        id,
        profile: profile.name.clone(),
        target: engine.describe(),
        backup_created_at: manifest.created_at,
        backup_database_size: db.size_bytes,
        backup_tables: db.tables,
        now_database_size,
        now_tables,
        now_error,
        missing_database,
        kind: manifest.kind,
        files_dir: profile.files_dir.clone(),
        files: crate::files::entries_of(&manifest.entries),
    })
}
