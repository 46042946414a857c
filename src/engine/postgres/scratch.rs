//! Scratch objects on a PostgreSQL server: the staging databases of restores, imports and drills, and the
//! throwaway roles of imports.
//!
//! Each is named `<db>__backstop_<purpose>_<YYYYmmdd_HHMMSS>_<pid>` (an import's role has its staging database's
//! name), so that a leftover is recognisable on the server and says which process made it. Before one is
//! created, a marker file naming it goes into `state/pg-scratch/`; it is removed once the object is dropped. A
//! start after a crash therefore knows without asking any server whether there is something to clean, and an
//! ordinary start never connects anywhere.

use super::{PostgresEngine, quote_ident};
use crate::error::Result;
use crate::fsutil;
use std::path::{Path, PathBuf};

/// What separates the database's name from the rest of a scratch name.
pub const MARK: &str = "__backstop_";

/// How long the start-up clean-up waits for a server before it reports and moves on.
const CLEANUP_CONNECT_SECS: u32 = 3;

/// A scratch name for database `db`: `<db>__backstop_<purpose>_<stamp>_<pid>[_<n>]`, at most 63 bytes (the
/// database's name is shortened, never the part that identifies the scratch object).
pub fn scratch_name(
    db: &str,
    purpose: &str,
    now: chrono::DateTime<chrono::Utc>,
    pid: u32,
    n: u64,
) -> String {
    let mut suffix = format!("{MARK}{purpose}_{}_{pid}", now.format("%Y%m%d_%H%M%S"));
    if n > 0 {
        suffix.push_str(&format!("_{n}"));
    }
    let room = 63usize.saturating_sub(suffix.len());
    let mut out = String::new();
    for c in db.chars() {
        if out.len() + c.len_utf8() > room {
            break;
        }
        out.push(c);
    }
    out.push_str(&suffix);
    out
}

/// The parts of a scratch name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchName {
    /// The database's name (possibly shortened).
    pub db: String,
    /// restore, import or drill.
    pub purpose: String,
    /// The process that made it.
    pub pid: u32,
}

/// Reads a scratch name; `None` for any other name.
pub fn parse_scratch_name(name: &str) -> Option<ScratchName> {
    let at = name.rfind(MARK)?;
    let (db, rest) = name.split_at_checked(at)?;
    let rest = rest.strip_prefix(MARK)?;
    let parts: Vec<&str> = rest.split('_').collect();
    let (purpose, date, time, pid) = match parts.as_slice() {
        [purpose, date, time, pid] | [purpose, date, time, pid, _] => {
            (*purpose, *date, *time, *pid)
        }
        _ => return None,
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !matches!(purpose, "restore" | "import" | "drill") || !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    Some(ScratchName {
        db: db.to_string(),
        purpose: purpose.to_string(),
        pid: pid.parse().ok()?,
    })
}

/// Whether scratch object `name` belongs to a profile whose database is `dbname` (a name near 63 bytes may
/// hold a shortened database name).
fn belongs_to(name: &str, parsed: &ScratchName, dbname: &str) -> bool {
    parsed.db == dbname
        || (name.len() >= 60 && !parsed.db.is_empty() && dbname.starts_with(&parsed.db))
}

/// Whether process `pid` runs now (on Linux through /proc; elsewhere the profile's free lock is what counts).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc");
    proc_root.join("self").exists() && proc_root.join(pid.to_string()).exists()
}

/// Registers a scratch object before it is created, so that a crash cannot leave it unknown; the guard removes
/// the marker again (call [`Registration::dropped`] once the object is gone).
pub(super) struct Registration {
    marker: Option<PathBuf>,
}

impl Registration {
    /// The object was dropped: forget it.
    pub(super) fn dropped(mut self) {
        if let Some(marker) = self.marker.take() {
            let _ = std::fs::remove_file(marker);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Not dropped on the server (the process is ending abnormally, or the drop failed): the marker stays for
        // the next start.
        self.marker.take();
    }
}

fn marker_file_name(name: &str) -> String {
    hex::encode(name.as_bytes())
}

impl PostgresEngine {
    /// `state/pg-scratch/`, beside the engine's `state/tmp/`.
    fn registry_dir(&self) -> PathBuf {
        registry_dir_of(&self.scratch)
    }

    /// A new scratch name for this profile's database and this process.
    pub(super) fn new_scratch_name(&self, purpose: &str) -> String {
        scratch_name(
            &self.cfg.dbname,
            purpose,
            chrono::Utc::now(),
            std::process::id(),
            super::tools::unique(),
        )
    }

    /// Writes the marker for scratch object `name` on this server.
    pub(super) fn register_scratch(&self, name: &str) -> Result<Registration> {
        let dir = self.registry_dir();
        if !dir.is_dir() {
            fsutil::create_private_dir(&dir)?;
        }
        let marker = dir.join(marker_file_name(name));
        let text = format!("{}\n{}\n{}\n", self.cfg.host, self.cfg.port, name);
        fsutil::atomic_write(&marker, text.as_bytes())?;
        Ok(Registration {
            marker: Some(marker),
        })
    }

    /// Drops the scratch databases and roles that interrupted jobs of this profile left on its server, if the
    /// registry says there are any (otherwise the server is not contacted). Objects whose process still runs
    /// are left alone; what cannot be dropped is listed with its size. Returns one message per thing done or
    /// found; the caller holds the profile's lock. A server that does not answer within a few seconds is
    /// reported, and the markers stay for the next start.
    pub fn clean_leftovers(&self) -> Vec<String> {
        let markers = self.pending_markers();
        if markers.is_empty() {
            return Vec::new();
        }
        let mut engine = PostgresEngine::new(
            self.cfg.clone(),
            self.password.clone(),
            self.scratch.clone(),
        );
        engine.connect_timeout = CLEANUP_CONNECT_SECS;
        match engine.clean_scratch_now(&markers) {
            Ok(messages) => messages,
            Err(e) => vec![format!(
                "could not check {} for staging databases left by an interrupted job ({e}); Backstop will try again at its next start",
                engine.server()
            )],
        }
    }

    /// Markers of this server whose object belongs to this profile's database: (marker file, object name).
    fn pending_markers(&self) -> Vec<(PathBuf, String)> {
        let Ok(entries) = std::fs::read_dir(self.registry_dir()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let mut lines = text.lines();
            let (Some(host), Some(port), Some(name)) = (lines.next(), lines.next(), lines.next())
            else {
                continue;
            };
            let mine = host == self.cfg.host
                && port == self.cfg.port.to_string()
                && parse_scratch_name(name).is_some_and(|p| belongs_to(name, &p, &self.cfg.dbname));
            if mine {
                out.push((entry.path(), name.to_string()));
            }
        }
        out
    }

    fn clean_scratch_now(&self, markers: &[(PathBuf, String)]) -> Result<Vec<String>> {
        let mut session = self.connect(self.maintenance_db())?;
        let databases = session.named_numbers(
            "SELECT datname::text, pg_database_size(oid) FROM pg_database WHERE strpos(datname, $1) > 0 ORDER BY 1",
            &[&MARK],
        )?;
        let roles: Vec<String> = session.column(
            "SELECT rolname::text FROM pg_roles WHERE strpos(rolname, $1) > 0 ORDER BY 1",
            &[&MARK],
        )?;
        let server = self.server();
        let ours = |name: &str| {
            parse_scratch_name(name)
                .filter(|p| belongs_to(name, p, &self.cfg.dbname))
                .filter(|p| !process_alive(p.pid))
        };
        let mut messages = Vec::new();
        let mut failed = std::collections::BTreeSet::new();
        for (name, size) in &databases {
            let name = name.as_str();
            let Some(parsed) = ours(name) else {
                continue;
            };
            let size = *size;
            match session.batch(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(name)
            )) {
                Ok(_) => messages.push(format!(
                    "dropped the staging database {name} ({}) that an interrupted {} left on {server}",
                    crate::progress::human_size(size),
                    parsed.purpose
                )),
                Err(e) => {
                    failed.insert(name.to_string());
                    messages.push(format!(
                        "the staging database {name} ({}) that an interrupted {} left on {server} could not be dropped ({e}); drop it by hand with DROP DATABASE",
                        crate::progress::human_size(size),
                        parsed.purpose
                    ));
                }
            }
        }
        for name in roles.iter().map(String::as_str) {
            if ours(name).is_none() || failed.contains(name) {
                continue;
            }
            if let Err(e) = session.batch(&format!("DROP ROLE IF EXISTS {}", quote_ident(name))) {
                failed.insert(name.to_string());
                messages.push(format!(
                    "the import role {name} that an interrupted import left on {server} could not be dropped ({e}); drop it by hand with DROP ROLE"
                ));
            } else {
                messages.push(format!(
                    "dropped the import role {name} that an interrupted import left on {server}"
                ));
            }
        }
        for (marker, name) in markers {
            let alive = parse_scratch_name(name).is_some_and(|p| process_alive(p.pid));
            if !alive && !failed.contains(name) {
                let _ = std::fs::remove_file(marker);
            }
        }
        Ok(messages)
    }

    /// Drops a scratch database (and the import role of the same name, if any) now, then forgets it.
    pub(super) fn drop_scratch(&self, name: &str, registration: Option<Registration>) {
        let dropped = self
            .execute(
                self.maintenance_db(),
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name)),
            )
            .is_ok();
        if dropped && let Some(registration) = registration {
            registration.dropped();
        }
    }
}

/// `state/pg-scratch/` for an engine whose temporary files go to `state/tmp/`.
fn registry_dir_of(tmp: &Path) -> PathBuf {
    fsutil::parent_of(tmp).join("pg-scratch")
}

/// Whether the registry beside `tmp` names any scratch object (cheap: no server is contacted).
pub fn scratch_pending(tmp: &Path) -> bool {
    std::fs::read_dir(registry_dir_of(tmp)).is_ok_and(|mut d| d.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scratch_names_round_trip_and_stay_within_63_bytes() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 12, 3, 8, 15, 0).unwrap();
        let name = scratch_name("shop", "import", t, 4242, 0);
        assert_eq!(name, "shop__backstop_import_20261203_081500_4242");
        assert_eq!(
            parse_scratch_name(&name),
            Some(ScratchName {
                db: "shop".into(),
                purpose: "import".into(),
                pid: 4242
            })
        );
        let long = "d".repeat(80);
        let name = scratch_name(&long, "restore", t, 4_000_000, 7);
        assert!(name.len() <= 63, "{name}");
        let parsed = parse_scratch_name(&name).unwrap();
        assert!(long.starts_with(&parsed.db) && parsed.pid == 4_000_000);
        assert!(belongs_to(&name, &parsed, &long));
        assert!(!belongs_to(&name, &parsed, "other"));
        let short = scratch_name("shop", "import", t, 1, 0);
        let parsed = parse_scratch_name(&short).unwrap();
        assert!(belongs_to(&short, &parsed, "shop"));
        assert!(
            !belongs_to(&short, &parsed, "shop2"),
            "another profile's database"
        );
        for other in [
            "shop",
            "shop_restore_20261203_081500",
            "shop__backstop_export_20261203_081500_1",
            "shop__backstop_import_2026120_081500_1",
            "shop__backstop_import_20261203_081500_x",
        ] {
            assert_eq!(parse_scratch_name(other), None, "{other}");
        }
    }
}
