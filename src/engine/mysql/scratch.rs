//! Staging databases on a MySQL/MariaDB server, and the record that lets the next start clean them up or finish
//! the swap a kill interrupted.
//!
//! A staging database is named `<db>__backstop_<purpose>_<stamp>_<pid>` (as on PostgreSQL). Before it is created,
//! a record naming it goes into `state/mysql-scratch/` (0600, written atomically); before the swap changes
//! anything, the record gains the swap's journal (`swap::Journal`). The record is removed once the staging
//! database is gone. A start that finds a record whose process is gone finishes or undoes the swap it describes
//! and drops the staging database (see `swap::recover`); an ordinary start never connects anywhere.

use super::MysqlEngine;
use super::client::quote_ident;
use super::swap::Journal;
use crate::engine::postgres::{parse_scratch_name, scratch_name};
use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How long the start-up clean-up waits for a server before it reports and moves on.
const CLEANUP_CONNECT_SECS: u64 = 3;

/// What a job left on a server, as recorded before it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub host: String,
    pub port: u16,
    /// The profile's database.
    pub dbname: String,
    /// The staging database.
    pub staging: String,
    /// The swap in progress, once it began.
    #[serde(default)]
    pub swap: Option<Journal>,
    /// An import's throwaway user, dropped with the staging database.
    #[serde(default)]
    pub user: Option<String>,
}

/// A registered staging database; the record stays when the guard is dropped (the object may still exist).
pub(super) struct Registration {
    path: PathBuf,
    pub(super) record: Record,
}

impl Registration {
    /// Records the swap's journal before the step it describes.
    pub(super) fn write(&mut self, journal: Option<Journal>) -> Result<()> {
        self.record.swap = journal;
        write_record(&self.path, &self.record)
    }

    /// The staging database was dropped: forget it.
    pub(super) fn dropped(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_record(path: &Path, record: &Record) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::JobFailed(format!("internal: cannot encode a staging record: {e}")))?;
    fsutil::atomic_write(path, &json)
}

/// `state/mysql-scratch/` for an engine whose temporary files go to `state/tmp/`.
fn registry_dir_of(tmp: &Path) -> PathBuf {
    fsutil::parent_of(tmp).join("mysql-scratch")
}

/// Whether the registry beside `tmp` names anything (cheap: no server is contacted).
pub fn scratch_pending(tmp: &Path) -> bool {
    std::fs::read_dir(registry_dir_of(tmp)).is_ok_and(|mut d| d.next().is_some())
}

/// Whether process `pid` runs now.
fn process_alive(pid: u32) -> bool {
    crate::leftovers::process_alive(pid)
}

impl MysqlEngine {
    /// A new scratch name for this profile's database and this process.
    pub(super) fn new_scratch_name(&self, purpose: &str) -> String {
        scratch_name(
            &self.cfg.dbname,
            purpose,
            chrono::Utc::now(),
            std::process::id(),
            super::unique(),
        )
    }

    /// A new scratch name for an import's staging database: the database's part shortened further, so that the
    /// name with a grant's `_` and `%` escaped still fits MySQL's 64 characters.
    pub(super) fn new_import_name(&self) -> String {
        let now = chrono::Utc::now();
        let n = super::unique();
        let escaped_len = |s: &str| {
            s.len()
                + s.bytes()
                    .filter(|b| matches!(b, b'_' | b'%' | b'\\'))
                    .count()
        };
        let mut db: Vec<char> = self.cfg.dbname.chars().collect();
        loop {
            let part: String = db.iter().collect();
            let name = scratch_name(&part, "import", now, std::process::id(), n);
            if escaped_len(&name) <= 64 || db.pop().is_none() {
                return name;
            }
        }
    }

    /// Writes the record for staging database `name` before it is created.
    pub(super) fn register_scratch(&self, name: &str) -> Result<Registration> {
        self.register(name, None)
    }

    /// Writes the record for an import's staging database and throwaway user before either is created.
    pub(super) fn register_import(&self, name: &str, user: &str) -> Result<Registration> {
        self.register(name, Some(user.to_string()))
    }

    fn register(&self, name: &str, user: Option<String>) -> Result<Registration> {
        let dir = registry_dir_of(&self.scratch);
        if !dir.is_dir() {
            fsutil::create_private_dir(&dir)?;
        }
        let path = dir.join(format!("{}.json", hex::encode(name.as_bytes())));
        let record = Record {
            host: self.cfg.host.clone(),
            port: self.cfg.port,
            dbname: self.cfg.dbname.clone(),
            staging: name.to_string(),
            swap: None,
            user,
        };
        write_record(&path, &record)?;
        Ok(Registration { path, record })
    }

    /// Drops a staging database (and an import's throwaway user) now, then forgets it (a failed drop leaves the
    /// record for the next start).
    pub(super) fn drop_scratch(&self, name: &str, registration: Option<Registration>) {
        let user = registration.as_ref().and_then(|r| r.record.user.clone());
        let dropped = self
            .connect(None)
            .and_then(|mut c| {
                c.exec(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))?;
                drop_user(&mut c, user.as_deref())
            })
            .is_ok();
        if dropped && let Some(registration) = registration {
            registration.dropped();
        }
    }

    /// Records of this profile on this server whose process is gone.
    fn pending(&self) -> Vec<Registration> {
        let Ok(entries) = std::fs::read_dir(registry_dir_of(&self.scratch)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(record) = std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            else {
                continue;
            };
            let mine = record.host == self.cfg.host
                && record.port == self.cfg.port
                && record.dbname == self.cfg.dbname;
            let dead = parse_scratch_name(&record.staging).is_some_and(|p| !process_alive(p.pid));
            if mine && dead {
                out.push(Registration {
                    path: entry.path(),
                    record,
                });
            }
        }
        out
    }

    /// Finishes or undoes the swaps that killed jobs of this profile left, and drops their staging databases, if
    /// the registry names any (otherwise the server is not contacted). One message per thing done or found; the
    /// caller holds the profile's lock. A server that does not answer within a few seconds is reported, and the
    /// records stay for the next start.
    pub fn clean_leftovers(&self) -> Vec<String> {
        let pending = self.pending();
        if pending.is_empty() {
            return Vec::new();
        }
        let mut engine = MysqlEngine::new(
            self.cfg.clone(),
            self.password.clone(),
            self.scratch.clone(),
        );
        engine.connect_timeout = std::time::Duration::from_secs(CLEANUP_CONNECT_SECS);
        let mut messages = Vec::new();
        for registration in pending {
            let staging = registration.record.staging.clone();
            match super::swap::recover(&engine, registration) {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => {}
                Err(e) => messages.push(format!(
                    "could not clean up after an interrupted restore of {} on {} (staging database {staging}): {e}; Backstop will try again at its next start",
                    self.cfg.dbname,
                    engine.server()
                )),
            }
        }
        messages
    }
}

/// Drops an import's throwaway user, if there is one, after ending its sessions.
pub(super) fn drop_user(client: &mut super::client::Client, user: Option<&str>) -> Result<()> {
    let Some(user) = user else {
        return Ok(());
    };
    // A load that outlived a killed Backstop still runs as the user: end it first.
    end_sessions(client, user)?;
    client.exec(&format!(
        "DROP USER IF EXISTS {}",
        super::import_boundary::account(user)
    ))
}

/// Ends every session of `user`.
pub(super) fn end_sessions(client: &mut super::client::Client, user: &str) -> Result<()> {
    let sessions = client.column(&format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = {}",
        super::client::quote_literal(user)
    ))?;
    for id in sessions {
        if id.bytes().all(|b| b.is_ascii_digit()) {
            let _ = client.exec(&format!("KILL {id}"));
        }
    }
    Ok(())
}
