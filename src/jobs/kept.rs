//! Kept copies: what restores and undos keep of the state they replaced, in one list, and deleting them.
//!
//! A restore keeps three kinds of copies until the user deletes them: the files folder it moved aside
//! (`<folder>.pre_restore_<stamp>[-N]`, beside the live folder), the database a server engine renamed aside
//! (`<db>_pre_restore_<stamp>[_N]`), and the safety backup it took first (a catalog row, which retention keeps for
//! a week). Each can be as large as the data itself, so the window lists them all with size and age.

use super::context::Context;
use super::profile::engine_for;
use crate::error::{Error, Result};
use crate::files;
use crate::lock::ProfileLock;
use crate::model::{Status, Trigger};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::path::{Path, PathBuf};

/// One kept copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptWhat {
    /// A files folder a restore moved aside.
    Folder(PathBuf),
    /// A database a restore renamed aside on the profile's server.
    Database(String),
    /// A safety backup taken just before a restore.
    SafetyBackup(i64),
}

/// A kept copy with what is known of its size and age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptCopy {
    /// What and where it is.
    pub what: KeptWhat,
    /// Its size in bytes, when known.
    pub size_bytes: Option<u64>,
    /// When it was kept (the restore's time in its name, or the safety backup's), when known.
    pub kept_at: Option<DateTime<Utc>>,
}

impl KeptCopy {
    /// Its name for people: the folder's or the database's name, or "safety backup N".
    pub fn name(&self) -> String {
        match &self.what {
            KeptWhat::Folder(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            KeptWhat::Database(name) => name.clone(),
            KeptWhat::SafetyBackup(id) => format!("safety backup {id}"),
        }
    }
}

/// A profile's kept copies, and what could not be looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReport {
    /// Profile name.
    pub profile: String,
    /// Folders first, then databases, then safety backups; newest first within each.
    pub copies: Vec<KeptCopy>,
    /// Places that could not be read (an unreachable server), one sentence each.
    pub problems: Vec<String>,
}

/// `<name>.pre_restore_`: the start of the names of folders kept by restores of the files folder `live`.
fn folder_prefix(live: &Path) -> String {
    format!(
        "{}.pre_restore_",
        live.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// The time in a kept copy's name: `<stamp>` is `%Y%m%d_%H%M%S` (UTC), perhaps followed by `-N` or `_N`.
fn stamp_time(rest: &str) -> Option<DateTime<Utc>> {
    let stamp: String = rest.chars().take(15).collect();
    NaiveDateTime::parse_from_str(&stamp, "%Y%m%d_%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Every copy kept by restores of `profile`: folders beside its files folder, databases on its server (asked
/// now), and its safety backups.
pub fn kept_copies(ctx: &Context, profile: &str) -> Result<KeptReport> {
    let profile = ctx.config.profile(profile)?.clone();
    let mut report = KeptReport {
        profile: profile.name.clone(),
        copies: Vec::new(),
        problems: Vec::new(),
    };
    if let Some(live) = &profile.files_dir {
        let prefix = folder_prefix(live);
        let parent = crate::fsutil::parent_of(live);
        let mut folders = Vec::new();
        if let Ok(entries) = std::fs::read_dir(parent) {
            let no_excludes = files::Excludes::new(&[])?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(&prefix) else {
                    continue;
                };
                // Only real folders: a link with a kept copy's name is not Backstop's.
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let path = entry.path();
                folders.push(KeptCopy {
                    size_bytes: files::measure(&path, &no_excludes).ok().map(|(b, _)| b),
                    kept_at: stamp_time(rest),
                    what: KeptWhat::Folder(path),
                });
            }
        }
        folders.sort_by_key(|c| std::cmp::Reverse(c.kept_at));
        report.copies.extend(folders);
    }
    if profile.database.is_server() {
        match engine_for(ctx, &profile).and_then(|engine| engine.details()) {
            Ok(details) => {
                let mut databases: Vec<KeptCopy> = details
                    .kept_copies
                    .into_iter()
                    .map(|(name, bytes)| KeptCopy {
                        // A long database name gives way to the suffix, so the stamp is found from the end.
                        kept_at: name
                            .rsplit_once("_pre_restore_")
                            .and_then(|(_, stamp)| stamp_time(stamp)),
                        size_bytes: Some(bytes),
                        what: KeptWhat::Database(name),
                    })
                    .collect();
                databases.sort_by_key(|c| std::cmp::Reverse(c.kept_at));
                report.copies.extend(databases);
            }
            Err(e) => report.problems.push(format!(
                "the database copies on the server could not be listed: {e}"
            )),
        }
    }
    let mut safety: Vec<KeptCopy> = ctx
        .catalog
        .list(Some(&profile.name), false)?
        .into_iter()
        .filter(|b| b.trigger == Trigger::Safety && b.status == Status::Completed)
        .map(|b| KeptCopy {
            what: KeptWhat::SafetyBackup(b.id),
            size_bytes: b.size_bytes,
            kept_at: Some(b.created_at),
        })
        .collect();
    safety.sort_by_key(|c| std::cmp::Reverse(c.kept_at));
    report.copies.extend(safety);
    Ok(report)
}

/// Deletes a files folder a restore of `profile` kept. Only a real folder beside the profile's files folder whose
/// name says a restore kept it is deleted; anything else is refused.
pub fn delete_kept_folder(ctx: &Context, profile: &str, path: &Path) -> Result<String> {
    let profile = ctx.config.profile(profile)?.clone();
    let refused = || {
        Error::Usage(format!(
            "{} is not a files folder kept by a restore of profile {}; nothing was deleted",
            path.display(),
            profile.name
        ))
    };
    let live = profile.files_dir.as_ref().ok_or_else(refused)?;
    let beside = path.parent() == Some(crate::fsutil::parent_of(live));
    let named = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(&folder_prefix(live)));
    let real_folder = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if !(beside && named && real_folder) {
        return Err(refused());
    }
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    ctx.logged("delete-copy", Some(&profile.name), || {
        files::remove_tree(path);
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::JobFailed(format!(
                "{} could not be deleted completely; check its permissions",
                path.display()
            )));
        }
        let message = format!("deleted the kept folder {}", path.display());
        Ok((message.clone(), message))
    })
}

/// Drops a database a restore of `profile` kept on its server (the engine refuses any other name).
pub fn delete_kept_database(ctx: &Context, profile: &str, name: &str) -> Result<String> {
    let profile = ctx.config.profile(profile)?.clone();
    let _lock = ProfileLock::acquire(&ctx.paths, &profile.name)?;
    ctx.logged("drop-copy", Some(&profile.name), || {
        engine_for(ctx, &profile)?.drop_copy(name)?;
        let message = format!("deleted database copy {name}");
        Ok((message.clone(), message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_in_a_kept_copys_name() {
        let at = |text: &str| stamp_time(text).map(|t| t.to_rfc3339());
        assert_eq!(
            at("20260501_120304"),
            Some("2026-05-01T12:03:04+00:00".into())
        );
        assert_eq!(at("20260501_120304-2"), at("20260501_120304"));
        assert_eq!(at("20260501_120304_3"), at("20260501_120304"));
        assert_eq!(at("yesterday"), None);
        assert_eq!(at(""), None);
    }
}
