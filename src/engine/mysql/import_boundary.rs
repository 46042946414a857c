//! The privilege boundary around an imported MySQL/MariaDB dump.
//!
//! A dump from elsewhere is a program. After [`super::import_check`] has refused client commands, file loads and
//! other databases, what is left still runs on the profile's server, so it never runs as the profile's user. Each
//! import creates a throwaway user `bkimp_<random>@'%'` that holds every right on the staging database and nothing
//! else (the grant's `_` and `%` escaped, so that it matches that one name only): no global right (no `FILE`, so no
//! `SELECT … INTO OUTFILE` or `LOAD_FILE`; no `SUPER`, `CREATE USER` or `PROCESS`), no other database. The client
//! (`mariadb --sandbox` where it has it, `--local-infile=0`, `--binary-mode`) logs in *as that user* with a random
//! password kept in a 0600 option file for the load only; the user is created over the typed client's connection,
//! so the password never shows on a command line.
//!
//! Afterwards the user is locked and its sessions ended, and the profile's user backs the staging database up.
//! The dump's views, routines, triggers and events were made with `DEFINER=CURRENT_USER` (the check rewrote every
//! definer), so they name the throwaway user: the backup stream has that one, random, name replaced by
//! `CURRENT_USER`, and a restore makes them belong to whoever restores. Then the staging database and the user are
//! dropped. A crash leaves both registered for the next start (see `scratch`).

use super::client::{quote_ident, quote_literal};
use super::scratch::end_sessions;
use super::tools::Tools;
use super::{MysqlEngine, schema};
use crate::archive::{ArchiveWriter, DatabaseInfo};
use crate::engine::{random_bytes, safe_name};
use crate::error::{Error, Result};
use crate::progress::JobControl;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

/// The prefix of every throwaway import user (short: MySQL allows 32 characters).
pub const IMPORT_USER_PREFIX: &str = "bkimp_";

/// The staging database and the throwaway user of one import, both dropped when this goes out of scope.
struct ImportScratch<'e> {
    admin: &'e MysqlEngine,
    staging: String,
    registration: Option<super::scratch::Registration>,
}

impl Drop for ImportScratch<'_> {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            self.admin.drop_scratch(&self.staging, Some(registration));
        }
    }
}

/// `'user'@'%'`.
pub(super) fn account(user: &str) -> String {
    format!("{}@'%'", quote_literal(user))
}

/// A database name as a grant's pattern matching that name only (`_` and `%` are wildcards there).
fn grant_pattern(db: &str) -> String {
    let escaped = db
        .replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%");
    quote_ident(&escaped)
}

impl MysqlEngine {
    /// Loads a checked dump into a new staging database behind the privilege boundary (module doc), then backs
    /// the staging database up into `writer`. `charset`: the character set and collation the dump's own `CREATE
    /// DATABASE` gave, if any (else the live database's, else the server's defaults). The live database is only
    /// read.
    pub fn import_dump(
        &self,
        dump: &Path,
        charset: Option<(String, Option<String>)>,
        writer: &mut ArchiveWriter,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        let mut admin = self.connect(None)?;
        let tools = self.tools_for(&mut admin)?;
        let charset = match charset {
            Some(c) => Some(c),
            None => {
                schema::charset_of(&mut admin, &self.cfg.dbname)?.map(|(cs, co)| (cs, Some(co)))
            }
        };
        let staging = self.new_import_name();
        let user = format!("{IMPORT_USER_PREFIX}{}", hex::encode(random_bytes(8)?));
        let registration = self.register_import(&staging, &user)?;
        let scratch = ImportScratch {
            admin: self,
            staging: staging.clone(),
            registration: Some(registration),
        };

        job.stage("creating an import user and a staging database", None);
        let db = quote_ident(&staging);
        let created = match &charset {
            Some((cs, Some(co))) => admin
                .exec(&format!(
                    "CREATE DATABASE {db} CHARACTER SET {cs} COLLATE {co}"
                ))
                .or_else(|_| admin.exec(&format!("CREATE DATABASE {db} CHARACTER SET {cs}"))),
            Some((cs, None)) => admin.exec(&format!("CREATE DATABASE {db} CHARACTER SET {cs}")),
            None => Err(Error::Usage(String::new())),
        };
        created
            .or_else(|_| admin.exec(&format!("CREATE DATABASE {db}")))
            .map_err(|e| {
                self.missing_right(e, "CREATE", "create databases", "an import's staging copy")
            })?;
        let password = hex::encode(random_bytes(24)?);
        // Sent over the client's connection: the password never shows on a command line.
        admin
            .exec(&format!(
                "CREATE USER {} IDENTIFIED BY {} WITH MAX_USER_CONNECTIONS 4",
                account(&user),
                quote_literal(&password)
            ))
            .map_err(|e| {
                self.missing_right(
                    e,
                    "CREATE USER",
                    "create users",
                    "an import's throwaway user",
                )
            })?;
        admin
            .exec(&format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {}",
                grant_pattern(&staging),
                account(&user)
            ))
            .map_err(|e| {
                self.missing_right(
                    e,
                    "ALL PRIVILEGES ... WITH GRANT OPTION",
                    "grant rights on the staging database",
                    "an import's throwaway user",
                )
            })?;

        job.stage("loading the dump as the import user", None);
        let mut user_cfg = self.cfg.clone();
        user_cfg.user = user.clone();
        user_cfg.dbname = staging.clone();
        user_cfg.has_password = true;
        let loader = MysqlEngine::new(user_cfg, Some(password), self.scratch.clone());
        let _ = loader.tools.set(tools.clone());
        loader.load_untrusted(&tools, dump, job)?;
        job.check()?;

        job.stage("taking the staging database over", None);
        admin.exec(&format!("ALTER USER {} ACCOUNT LOCK", account(&user)))?;
        end_sessions(&mut admin, &user)?;
        drop(admin);
        let mut staged_cfg = self.cfg.clone();
        staged_cfg.dbname = staging.clone();
        let staged = MysqlEngine::new(staged_cfg, self.password.clone(), self.scratch.clone());
        let _ = staged.tools.set(tools);
        let definer = format!("DEFINER=`{user}`@`%`");
        let mut info = staged.backup_replacing(writer, job, Some(definer.as_bytes()))?;
        info.name = safe_name(&self.cfg.dbname);
        drop(scratch);
        Ok(info)
    }

    /// Runs a checked dump with the client logged in as this engine's (throwaway) user (see [`MysqlEngine::load`]),
    /// after a typed-client login as that user has shown that the server lets it in.
    fn load_untrusted(&self, tools: &Tools, dump: &Path, job: &JobControl) -> Result<()> {
        let db = self.cfg.dbname.clone();
        match self.connect(Some(&db)) {
            Err(e @ (Error::AuthFailed { .. } | Error::PrivilegeMissing { .. })) => {
                return Err(Error::Usage(format!(
                    "the server at {} does not let Backstop's throwaway import user log in ({e}); imported dumps \
                     run as that user, never as the profile's. An anonymous user (''@'localhost') shadows other \
                     users' logins from this machine: remove it with `DROP USER ''@'localhost'`",
                    self.server(),
                )));
            }
            other => drop(other?),
        }
        self.load(tools, dump, &db, job).map_err(|e| match e {
            e @ (Error::Cancelled
            | Error::DiskFull(_)
            | Error::ServerUnreachable { .. }
            | Error::ServerUnavailable { .. }
            | Error::TlsFailed { .. }
            | Error::ToolMissing { .. }) => e,
            // Whatever the server refused the throwaway user is the dump's doing: the boundary held.
            Error::PrivilegeMissing { detail, .. } => refused_by_server(&detail),
            other => refused_by_server(&other.to_string()),
        })
    }

    /// A permission error while making an import's scratch objects, worded as the right the profile's user lacks.
    fn missing_right(&self, e: Error, right: &str, verb: &str, what: &str) -> Error {
        match e {
            Error::PrivilegeMissing {
                server,
                user,
                detail,
                ..
            } => Error::PrivilegeMissing {
                fix: format!(
                    "it may not {verb}, which {what} needs; grant it with `GRANT {right} ON *.* TO {}` (or import \
                     with a profile whose user has it)",
                    account(&user)
                ),
                server,
                user,
                detail,
            },
            other => other,
        }
    }
}

/// A dump that failed to load as the throwaway user.
fn refused_by_server(reason: &str) -> Error {
    Error::ToolFailed {
        tool: "the import".into(),
        detail: format!(
            "the dump does not load: {reason}. It ran as a throwaway user that may only fill its own staging \
             database; nothing else was touched"
        ),
    }
}

/// Whether the client has `--sandbox` (MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and later), which refuses every
/// command that reaches the file system or a shell.
pub(super) fn client_has_sandbox(client: &Path) -> bool {
    std::process::Command::new(client)
        .arg("--help")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--sandbox"))
}

/// A reader that replaces every `needle` in what passes through with `replacement` (a needle cut across two reads
/// is still found).
pub(super) struct Replacing<R> {
    inner: R,
    needle: Vec<u8>,
    replacement: Vec<u8>,
    /// Read but not yet handed out (its tail may be the start of a needle).
    pending: Vec<u8>,
    /// Ready to hand out.
    ready: std::collections::VecDeque<u8>,
    done: bool,
}

impl<R: Read> Replacing<R> {
    pub(super) fn new(inner: R, needle: &[u8], replacement: &[u8]) -> Self {
        Replacing {
            inner,
            needle: needle.to_vec(),
            replacement: replacement.to_vec(),
            pending: Vec::new(),
            ready: std::collections::VecDeque::new(),
            done: false,
        }
    }

    /// Moves what can no longer be part of a needle from `pending` to `ready`, replacing needles.
    fn settle(&mut self) {
        let keep = if self.done {
            0
        } else {
            self.needle.len().saturating_sub(1)
        };
        let mut i = 0;
        while i < self.pending.len() {
            if !self.needle.is_empty()
                && self.pending.get(i..i + self.needle.len()) == Some(&self.needle[..])
            {
                self.ready.extend(&self.replacement);
                i += self.needle.len();
                continue;
            }
            if self.pending.len() - i <= keep {
                break;
            }
            if let Some(&b) = self.pending.get(i) {
                self.ready.push_back(b);
            }
            i += 1;
        }
        self.pending.drain(..i);
    }
}

impl<R: Read> Read for Replacing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.ready.is_empty() && !(self.done && self.pending.is_empty()) {
            let mut chunk = [0u8; 1 << 16];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.done = true;
            } else {
                self.pending.extend(chunk.get(..n).unwrap_or_default());
            }
            self.settle();
        }
        let n = buf.len().min(self.ready.len());
        for (slot, b) in buf.iter_mut().zip(self.ready.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    /// A reader that hands out one byte at a time (needles cut everywhere).
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn replacing_finds_needles_cut_across_reads() {
        let text = b"a DEFINER=`bkimp_1`@`%` b DEFINER=`bkimp_1`@`%`DEFINER=`bkimp_1`@`% c DEFINER=`bkimp_1`@`%`";
        let want = "a DEFINER=CURRENT_USER b DEFINER=CURRENT_USERDEFINER=CURRENT_USER c DEFINER=CURRENT_USER";
        let want = want.replacen("CURRENT_USER c", "`bkimp_1`@`% c", 1);
        for trickle in [true, false] {
            let mut out = String::new();
            if trickle {
                Replacing::new(
                    Trickle(text),
                    b"DEFINER=`bkimp_1`@`%`",
                    b"DEFINER=CURRENT_USER",
                )
                .read_to_string(&mut out)
                .unwrap();
            } else {
                Replacing::new(&text[..], b"DEFINER=`bkimp_1`@`%`", b"DEFINER=CURRENT_USER")
                    .read_to_string(&mut out)
                    .unwrap();
            }
            assert_eq!(out, want);
        }
    }

    #[test]
    fn grant_patterns_match_one_name_and_fit() {
        assert_eq!(grant_pattern("a_b%c"), "`a\\_b\\%c`");
        for db in [
            "shop",
            "a_long_database_name_with_many_under_scores_in_it_",
            "ü_ß",
        ] {
            use crate::engine::Family;
            let crate::engine::Connection::Server(facts) =
                crate::engine::mysql::MysqlFamily.connection()
            else {
                panic!("a server engine")
            };
            let cfg = crate::config::ServerConfig {
                dbname: db.to_string(),
                ..crate::config::ServerConfig::new(&facts)
            };
            let engine = MysqlEngine::new(cfg, None, std::path::PathBuf::from("/nonexistent"));
            let name = engine.new_import_name();
            let pattern = grant_pattern(&name);
            assert!(pattern.len() - 2 <= 64, "{pattern}");
            assert!(name.contains("__backstop_import_"), "{name}");
        }
    }
}
