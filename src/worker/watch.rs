//! What the window sees of the catalog and config: the [`Snapshot`] the worker sends after every job, and the
//! watch that sends one when another process changed them (a backup by the system timer's `run-due` or the CLI,
//! a `profile edit`), so those show up without a click.
//!
//! The worker looks when it has waited [`WATCH_EVERY`] for a request: the catalog's `PRAGMA data_version` (it
//! changes when another connection commits), whether the catalog file was replaced (`catalog rebuild`), and the
//! config file's identity (size, modification time, inode: an atomic save is a new file).

use super::Snapshot;
use crate::config::{Config, Paths};
use crate::error::Result;
use crate::jobs::{self, Context};
use chrono::Utc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long the idle worker waits for a request before it looks for changes made by others: a backup the timer
/// made shows within about this long, and an idle check costs one pragma and one `stat`.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The config file as `stat` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileMark {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileMark {
    fn of(path: &std::path::Path) -> Option<FileMark> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileMark {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// What the worker saw last.
#[derive(Debug, Default)]
pub(super) struct Watch {
    data_version: Option<i64>,
    config: Option<FileMark>,
}

impl Watch {
    /// Remembers the state as it is now (read before the snapshot is taken, so a change in between shows next time).
    pub(super) fn mark(&mut self, ctx: &Mutex<Result<Context>>, paths: &Paths) {
        *self = Watch::read(ctx, paths);
    }

    /// Whether another process changed the catalog or the config since [`Watch::mark`] (or the catalog file was
    /// replaced); remembers the new state.
    pub(super) fn changed(&mut self, ctx: &Mutex<Result<Context>>, paths: &Paths) -> bool {
        let replaced = match ctx.lock() {
            Ok(guard) => guard.as_ref().is_ok_and(|c| c.catalog.is_replaced()),
            Err(poisoned) => poisoned
                .into_inner()
                .as_ref()
                .is_ok_and(|c| c.catalog.is_replaced()),
        };
        let now = Watch::read(ctx, paths);
        let changed =
            replaced || now.data_version != self.data_version || now.config != self.config;
        *self = now;
        changed
    }

    fn read(ctx: &Mutex<Result<Context>>, paths: &Paths) -> Watch {
        let data_version = match ctx.lock() {
            Ok(guard) => guard
                .as_ref()
                .ok()
                .and_then(|c| c.catalog.data_version().ok()),
            Err(poisoned) => poisoned
                .into_inner()
                .as_ref()
                .ok()
                .and_then(|c| c.catalog.data_version().ok()),
        };
        Watch {
            data_version,
            config: FileMark::of(&paths.config_file),
        }
    }
}

/// Brings the worker's context up to date after a change by another process: a replaced catalog (or a state that
/// could not be opened before) is opened again, the config read again.
pub(super) fn follow(ctx: &Mutex<Result<Context>>, paths: &Paths) {
    let mut guard = match ctx.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if guard.as_ref().map_or(true, |c| c.catalog.is_replaced()) {
        *guard = Context::open(paths.clone());
    }
    if let Ok(c) = guard.as_mut()
        && let Ok(config) = Config::load(&c.paths.config_file)
    {
        c.config = config;
    }
}

/// The catalog and config as the window shows them.
pub(super) fn snapshot(ctx: &Mutex<Result<Context>>, paths: &Paths) -> Snapshot {
    let guard = match ctx.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let ctx = match guard.as_ref() {
        Ok(ctx) => ctx,
        Err(e) => {
            return Snapshot {
                config: Config::load(&paths.config_file).unwrap_or_default(),
                error: Some(e.to_string()),
                ..Snapshot::default()
            };
        }
    };
    let now = Utc::now();
    let mut snap = Snapshot {
        config: ctx.config.clone(),
        ..Snapshot::default()
    };
    let result = (|| -> Result<()> {
        snap.backups = ctx.catalog.list(None, false)?;
        snap.restores = ctx.catalog.restores(None)?;
        snap.jobs = ctx.catalog.jobs(None, 200)?;
        for profile in &ctx.config.profiles {
            snap.stats.insert(
                profile.name.clone(),
                jobs::stats(ctx, Some(&profile.name), now, false)?,
            );
        }
        // Each profile's statistics hold its destinations already: taken from there, in the config's order.
        snap.destinations = ctx
            .config
            .destinations
            .iter()
            .filter_map(|d| {
                snap.stats
                    .get(&d.profile)?
                    .destinations
                    .iter()
                    .find(|info| info.name == d.name)
                    .cloned()
            })
            .collect();
        snap.archives_absent = archives_absent(&snap.backups, &snap.destinations);
        Ok(())
    })();
    if let Err(e) = result {
        snap.error = Some(e.to_string());
    }
    snap
}

/// The completed backups of profiles with destinations whose archive file is not where the catalog says (one
/// `stat` each, here on the worker: History's badges never look at the disk).
fn archives_absent(
    backups: &[crate::catalog::BackupRow],
    dests: &[jobs::DestInfo],
) -> std::collections::BTreeSet<i64> {
    backups
        .iter()
        .filter(|b| b.status == crate::model::Status::Completed)
        .filter(|b| dests.iter().any(|d| d.profile == b.profile))
        .filter(|b| !b.path.is_file())
        .map(|b| b.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_connections_commit_and_a_config_save_are_noticed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let ctx = Mutex::new(Context::open(paths.clone()));
        let mut watch = Watch::default();
        watch.mark(&ctx, &paths);
        assert!(!watch.changed(&ctx, &paths), "nothing happened");
        // Another connection (as another process would) commits to the catalog.
        let other = rusqlite::Connection::open(&paths.catalog_file).unwrap();
        other
            .execute_batch("CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        assert!(
            watch.changed(&ctx, &paths),
            "a commit by another connection"
        );
        assert!(!watch.changed(&ctx, &paths), "seen once");
        // This connection's own write does not count: the worker sends a snapshot after its jobs anyway.
        if let Ok(c) = ctx.lock().unwrap().as_ref() {
            c.catalog.start_job("test", None).unwrap();
        }
        assert!(!watch.changed(&ctx, &paths), "own writes");
        let mut config = Config::load(&paths.config_file).unwrap_or_default();
        config.settings.automatic_paused = true;
        config.save(&paths.config_file).unwrap();
        assert!(
            watch.changed(&ctx, &paths),
            "the config saved by another process"
        );
        follow(&ctx, &paths);
        assert!(snapshot(&ctx, &paths).config.settings.automatic_paused);
    }
}
