//! The `dest` commands: add (checked by connecting first), list, test, remove, and what a destination holds.

use super::context::Context;
use super::copy::{self, connect, home_id};
use crate::catalog::CopyStatus;
use crate::error::{Error, Result};
use crate::secrets::{SecretStore, Secrets};
use crate::storage::{self, Destination, RemoteObject};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A destination to add, with its secret (never stored in the config).
pub struct DestAdd {
    /// The destination.
    pub dest: Destination,
    /// The S3 secret key or WebDAV password, when it has one.
    pub secret: Option<String>,
}

/// A destination as `dest list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DestInfo {
    /// Name.
    pub name: String,
    /// Profile.
    pub profile: String,
    /// folder, s3, sftp or webdav.
    pub kind: String,
    /// Where.
    pub location: String,
    /// Its retention: keep at most this many.
    pub keep_last: u32,
    /// Its retention: days (0: no age limit).
    pub max_age_days: u32,
    /// Copies there now.
    pub copied: usize,
    /// Copies waiting.
    pub pending: usize,
    /// Copies whose last try failed.
    pub failed: usize,
    /// When the newest copy was made there.
    pub last_copied_at: Option<DateTime<Utc>>,
    /// Why the last try failed, when the newest try failed.
    pub last_error: Option<String>,
    /// How far behind: the age of the oldest backup waiting to be copied there (seconds), None when up to date.
    pub behind_secs: Option<i64>,
    /// When the oldest backup waiting to be copied there was taken (None when up to date): what `behind_secs`
    /// counts from, for whoever judges it later (the window's banner, from its own clock).
    pub waiting_since: Option<DateTime<Utc>>,
    /// The earliest time a failed copy is tried again (None when no copy failed).
    pub next_try_at: Option<DateTime<Utc>>,
    /// When the folder holds another home's backups (a new machine that replaces an old one): whose, and that
    /// nothing is copied there until `catalog rebuild --from` takes it over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_home: Option<String>,
}

/// Adds a destination: checks the fields, stores the secret, connects, writes a probe, claims the folder; only
/// then is the config saved. Anything that fails leaves config and secret store as they were.
pub fn dest_add(ctx: &mut Context, add: DestAdd) -> Result<DestInfo> {
    let dest = add.dest;
    ctx.config.profile(&dest.profile)?;
    if ctx.config.destinations.iter().any(|d| d.name == dest.name) {
        return Err(Error::Usage(format!(
            "a destination named {} exists already; remove it first with `backstop dest remove {}`, or choose another name",
            dest.name, dest.name
        )));
    }
    if let Some(problem) = dest.problems().first() {
        return Err(Error::Usage(format!(
            "destination {}: {problem}",
            dest.name
        )));
    }
    match (dest.target.has_secret(), &add.secret) {
        (true, None) => {
            return Err(Error::Usage(format!(
                "destination {} needs its secret: give it on standard input with --secret-stdin",
                dest.name
            )));
        }
        (false, Some(_)) => {
            return Err(Error::Usage(format!(
                "destination {} takes no secret: leave out --secret-stdin",
                dest.name
            )));
        }
        _ => {}
    }
    let secrets = Secrets::new(ctx.paths.secrets_dir());
    let account = dest.secret_account();
    let remote = storage::Remote::connect(&dest, add.secret.as_deref())?;
    remote.probe()?;
    let home = home_id(ctx)?;
    // Another home's folder is not written to; it is added so that `catalog rebuild --from` can take it over.
    let other_home = match storage::read_marker(&remote)? {
        None => {
            storage::write_marker(&remote, &home, &dest.profile)?;
            None
        }
        Some(m) if m.home_id == home && m.profile == dest.profile => None,
        Some(m) => Some(format!(
            "it holds the backups of profile {} of another Backstop home (machine {}); nothing is copied there \
             until this home takes it over with `backstop catalog rebuild --from {}` (the disaster case)",
            m.profile, m.machine, dest.name
        )),
    };
    if let Some(secret) = &add.secret {
        secrets.set(&account, dest.secret_store, secret)?;
    }
    let (mut config, _lock) = crate::config::Config::load_for_update(&ctx.paths.config_file)?;
    config.destinations.push(dest.clone());
    if let Err(e) = config.save(&ctx.paths.config_file) {
        if add.secret.is_some() {
            let _ = secrets.delete(&account, dest.secret_store);
        }
        return Err(e);
    }
    ctx.config = config;
    let profile = ctx.config.profile(&dest.profile)?.clone();
    if other_home.is_none() {
        copy::queue(ctx, &profile, &dest)?;
    }
    ctx.log(
        "dest",
        Some(&dest.profile),
        "ok",
        &format!(
            "destination {} added: {}",
            dest.name,
            dest.target.describe()
        ),
    );
    let mut info = info(ctx, &dest)?;
    info.other_home = other_home;
    Ok(info)
}

/// Every destination with its copies' state.
pub fn dest_list(ctx: &Context) -> Result<Vec<DestInfo>> {
    ctx.config
        .destinations
        .iter()
        .map(|d| info(ctx, d))
        .collect()
}

/// What one destination holds and how far behind it is.
pub fn info(ctx: &Context, dest: &Destination) -> Result<DestInfo> {
    let profile = ctx.config.profile(&dest.profile)?;
    let policy = copy::dest_policy(profile, dest);
    let copies = ctx.catalog.copies(Some(&dest.name))?;
    let count = |s: CopyStatus| copies.iter().filter(|c| c.status == s).count();
    let last_copied_at = copies.iter().filter_map(|c| c.copied_at).max();
    let last_error = copies
        .iter()
        .filter(|c| c.status == CopyStatus::Failed)
        .max_by_key(|c| c.backup_id)
        .and_then(|c| c.error.clone());
    let rows = ctx.catalog.list(Some(&dest.profile), false)?;
    let now = Utc::now();
    let waiting_since = rows
        .iter()
        .filter(|r| {
            copies.iter().any(|c| {
                c.backup_id == r.id
                    && matches!(
                        c.status,
                        CopyStatus::Pending | CopyStatus::Copying | CopyStatus::Failed
                    )
            })
        })
        .map(|r| r.created_at)
        .min();
    let behind_secs = waiting_since.map(|t| (now - t).num_seconds().max(0));
    let next_try_at = copies
        .iter()
        .filter(|c| c.status == CopyStatus::Failed)
        .filter_map(|c| c.next_try_at)
        .min();
    Ok(DestInfo {
        name: dest.name.clone(),
        profile: dest.profile.clone(),
        kind: dest.target.kind().to_string(),
        location: dest.target.describe(),
        keep_last: policy.keep_last,
        max_age_days: policy.max_age_days,
        copied: count(CopyStatus::Copied),
        pending: count(CopyStatus::Pending) + count(CopyStatus::Copying),
        failed: count(CopyStatus::Failed),
        last_copied_at,
        last_error,
        behind_secs,
        waiting_since,
        next_try_at,
        other_home: None,
    })
}

/// Connects, writes, reads, lists and deletes a probe, and checks the folder's marker.
pub fn dest_test(ctx: &Context, name: &str) -> Result<String> {
    let dest = ctx.config.destination(name)?.clone();
    let remote = connect(ctx, &dest)?;
    remote.probe()?;
    let marker = storage::read_marker(&remote)?;
    let home = home_id(ctx)?;
    let whose = match marker {
        Some(m) if m.home_id == home && m.profile == dest.profile => "this home's".to_string(),
        Some(m) => {
            return Err(Error::DestinationFailed {
                dest: dest.name.clone(),
                detail: format!(
                    "reachable, but its folder belongs to profile {} of another Backstop home (machine {})",
                    m.profile, m.machine
                ),
            });
        }
        None => "not claimed yet".to_string(),
    };
    let archives = remote
        .list()?
        .into_iter()
        .filter(|o| storage::is_archive_name(&o.name))
        .count();
    Ok(format!(
        "destination {} ({}) works: wrote, read, listed and deleted a probe; the folder is {whose} and holds {archives} archive(s)",
        dest.name,
        dest.target.describe()
    ))
}

/// Removes a destination from the config and forgets its copies and secret; nothing at the destination is
/// deleted (its copies stay readable, and `catalog rebuild --from` can find them again).
pub fn dest_remove(ctx: &mut Context, name: &str) -> Result<Destination> {
    let (mut config, _lock) = crate::config::Config::load_for_update(&ctx.paths.config_file)?;
    let dest = config.destination(name)?.clone();
    config.destinations.retain(|d| d.name != name);
    config.save(&ctx.paths.config_file)?;
    ctx.config = config;
    ctx.catalog.forget_destination(name)?;
    if dest.target.has_secret() {
        let secrets = Secrets::new(ctx.paths.secrets_dir());
        let _ = secrets.delete(&dest.secret_account(), dest.secret_store);
    }
    ctx.log(
        "dest",
        Some(&dest.profile),
        "ok",
        &format!(
            "destination {} removed; its copies at {} were left there",
            dest.name,
            dest.target.describe()
        ),
    );
    Ok(dest)
}

/// An archive at a destination, as `dest ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteArchive {
    /// The object's name.
    pub name: String,
    /// Its size.
    pub size_bytes: u64,
    /// When it was written there.
    pub modified: Option<DateTime<Utc>>,
    /// The catalog's backup id, when this home knows it.
    pub backup_id: Option<i64>,
}

/// The archives at a destination (only Backstop archive names; sidecars, the marker and uploads in progress are
/// left out), with the backup id each has in this catalog.
pub fn dest_ls(ctx: &Context, name: &str) -> Result<Vec<RemoteArchive>> {
    let dest = ctx.config.destination(name)?.clone();
    let remote = connect(ctx, &dest)?;
    let copies = ctx.catalog.copies(Some(name))?;
    Ok(remote
        .list()?
        .into_iter()
        .filter(|o: &RemoteObject| storage::is_archive_name(&o.name))
        .map(|o| RemoteArchive {
            backup_id: copies
                .iter()
                .find(|c| c.object == o.name && c.status != CopyStatus::Pruned)
                .map(|c| c.backup_id),
            name: o.name,
            size_bytes: o.size_bytes,
            modified: o.modified,
        })
        .collect())
}

/// The secret store a new destination uses when none is asked for: where the profile keeps its database
/// password, else the keyring.
pub fn default_secret_store(ctx: &Context, profile: &str) -> SecretStore {
    ctx.config
        .profile(profile)
        .ok()
        .and_then(|p| p.database.server())
        .map(|s| s.secret_store)
        .unwrap_or_default()
}
