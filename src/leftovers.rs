//! What a killed Backstop leaves on disk, removed by the next start whatever the command.
//!
//! Every temporary file Backstop makes carries the id of the process that owns it (the engines' password files
//! `.pgpass-<pid>-<n>` and `.mycnf-<pid>-<n>`, named by `Family::secret_file_prefix`,
//! `.<db>.<pid>.snapshot.partial` and its `-journal`, `.import-<pid>-…`, `.restore-<pid>-…`, `.<name>.<pid>-<n>.tmp`
//! of an atomic write, …). A start removes those whose process is gone, password files first (they hold a
//! password in plain text), then the rest. A file whose process is alive belongs to a running job and is left
//! alone; so is every name Backstop does not make. (Should the system have given a dead owner's pid to another
//! process meanwhile, its file waits for the next start after that process ended: late, never wrong.) Partial
//! archives are named for the backup, not the process: they go when their profile's lock is free.

use crate::config::{Config, Paths, Profile};
use crate::fsutil;
use crate::lock::ProfileLock;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The owner of a temporary file, read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The process that made it.
    pub pid: u32,
    /// A libpq password file.
    pub password: bool,
}

/// Reads the owning process from one of Backstop's temporary file names; `None` for any other name.
pub fn owner_of(name: &str) -> Option<Owner> {
    // SQLite's sidecars of a temporary database belong to the same process.
    let base = ["-journal", "-wal", "-shm"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|base| base.ends_with(fsutil::PARTIAL_SUFFIX))
        .unwrap_or(name);
    let owner = |pid: Option<u32>, password: bool| pid.map(|pid| Owner { pid, password });
    if let Some(rest) =
        crate::engine::secret_file_prefixes().find_map(|prefix| base.strip_prefix(prefix))
    {
        return owner(leading_pid(rest, '-'), true);
    }
    if let Some(rest) = base.strip_prefix(".backstop-write-test-") {
        // `.backstop-write-test-<pid>-<n>`, or `-<pid>` as earlier versions named it
        return owner(leading_pid(rest, '-').or_else(|| whole_pid(rest)), false);
    }
    let body = base
        .strip_suffix(fsutil::PARTIAL_SUFFIX)
        .filter(|_| base.starts_with('.') || base.contains(".secret."))?;
    let pid = if let Some(rest) = body
        .strip_prefix(".restore-")
        .or_else(|| body.strip_prefix(".import-"))
    {
        // `.restore-<pid>-<n>.dump`, `.import-<pid>.dump`, `.import-<pid>-<n>-<tag>`
        leading_pid(rest, '-').or_else(|| leading_pid(rest, '.'))
    } else if let Some(head) = body
        .strip_suffix(".snapshot")
        .or_else(|| body.strip_suffix(fsutil::TEMP_MARK))
    {
        // `.<db>.<pid>.snapshot`, `.<name>.<pid>-<n>.tmp`
        let (_, tail) = head.rsplit_once('.')?;
        leading_pid(tail, '-').or_else(|| whole_pid(tail))
    } else if let Some((_, tail)) = body.rsplit_once(".restore-") {
        // `.<db file>.restore-<pid>` beside a SQLite database
        whole_pid(tail)
    } else if let Some((_, tail)) = body.rsplit_once(".secret.") {
        // `<profile>.secret.<pid>-<n>` in the secrets folder
        leading_pid(tail, '-')
    } else {
        None
    };
    owner(pid, false)
}

/// Digits followed by `end`.
fn leading_pid(text: &str, end: char) -> Option<u32> {
    let (digits, _) = text.split_once(end)?;
    whole_pid(digits)
}

fn whole_pid(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether process `pid` is alive (a process of another user counts as alive; so does any pid where the platform
/// cannot tell).
pub fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// The folders where Backstop puts temporary files: its state, temp and secrets folders, each profile's storage
/// folder, and the folder of each SQLite database (a restore stages its copy there).
fn folders(paths: &Paths, config: Option<&Config>) -> BTreeSet<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = [
        paths.tmp_dir(),
        paths.state_dir.clone(),
        paths.secrets_dir(),
        fsutil::parent_of(&paths.config_file).to_path_buf(),
        fsutil::parent_of(&paths.catalog_file).to_path_buf(),
    ]
    .into_iter()
    .collect();
    for profile in config.iter().flat_map(|c| &c.profiles) {
        dirs.extend(profile_dirs(profile));
    }
    dirs
}

/// A profile's storage folder and, for SQLite, its database's folder.
fn profile_dirs(profile: &Profile) -> impl Iterator<Item = PathBuf> {
    let db_dir = profile
        .database
        .file()
        .map(|path| fsutil::parent_of(path).to_path_buf());
    std::iter::once(profile.storage_dir.clone()).chain(db_dir)
}

/// Partial archives carry no process id: they belong to their profile's job, and the profile's lock (which a
/// killed process no longer holds) says whether that job still runs. A folder shared by several profiles is
/// cleaned only when none of them has a job running.
fn remove_unlocked_partials(paths: &Paths, config: &Config) -> Vec<PathBuf> {
    let mut locks = Vec::new();
    let mut dirs: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for profile in &config.profiles {
        let lock = ProfileLock::acquire(paths, &profile.name).ok();
        let free = lock.is_some();
        locks.extend(lock);
        for dir in profile_dirs(profile) {
            *dirs.entry(dir).or_insert(true) &= free;
        }
    }
    dirs.into_iter()
        .filter(|(_, all_free)| *all_free)
        .flat_map(|(dir, _)| remove_partials(&dir))
        .collect()
}

/// Removes Backstop's own `.partial` files (never anything else) from a folder; returns what it removed.
fn remove_partials(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // An import's scratch SQLite copy may leave its sidecars too (`.import-…partial-wal`).
        let scratch_sidecar = name.starts_with(".import-")
            && ["-wal", "-shm", "-journal"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| base.ends_with(fsutil::PARTIAL_SUFFIX))
            });
        let ours = scratch_sidecar
            || name.ends_with(fsutil::PARTIAL_SUFFIX)
                && (name.ends_with(&format!(".zip{}", fsutil::PARTIAL_SUFFIX))
                    || name.contains(".snapshot")
                    || name.contains(".restore-")
                    || name.contains(".import-"));
        if ours
            && entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

/// Removes the temporary files of Backstop processes that are gone (password files first); one sentence per kind
/// for the user, if anything was removed. Never fails: what cannot be removed now is tried again next start.
pub fn sweep(paths: &Paths) -> Vec<String> {
    let mut said = Vec::new();
    let password_files = remove_dead(&[paths.tmp_dir()], true);
    if !password_files.is_empty() {
        said.push(describe(
            "password file",
            password_files.len(),
            password_files.values(),
            "it held a database password",
        ));
    }
    // A config that cannot be read still lets the password files go; its profiles' folders wait for a good one.
    let config = Config::load(&paths.config_file).ok();
    let dirs: Vec<PathBuf> = folders(paths, config.as_ref()).into_iter().collect();
    let mut others = remove_dead(&dirs, true);
    others.extend(remove_dead(&dirs, false));
    let unlocked = config
        .as_ref()
        .map(|c| remove_unlocked_partials(paths, c))
        .unwrap_or_default();
    if others.len() + unlocked.len() > 0 {
        said.push(describe(
            "temporary file",
            others.len() + unlocked.len(),
            others.values(),
            "partial archives, copies and scratch files",
        ));
    }
    said
}

fn describe<'a>(
    what: &str,
    count: usize,
    pids: impl Iterator<Item = &'a u32>,
    why: &str,
) -> String {
    let pids: BTreeSet<String> = pids.map(|p| p.to_string()).collect();
    let owners = if pids.is_empty() {
        "a Backstop job".to_string()
    } else {
        format!(
            "Backstop process {}",
            pids.into_iter().collect::<Vec<_>>().join(", ")
        )
    };
    format!(
        "removed {count} {what}{} ({why}) left by {owners} that was stopped before it could clean up",
        if count == 1 { "" } else { "s" },
    )
}

/// Removes, from each folder, the regular files (never links or folders) whose owner is gone and which are
/// password files (`passwords`) or not; returns what was removed with its owner.
fn remove_dead(dirs: &[PathBuf], passwords: bool) -> BTreeMap<PathBuf, u32> {
    let mut removed = BTreeMap::new();
    for dir in dirs {
        let Ok(listing) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in listing.flatten() {
            let name = entry.file_name();
            let Some(owner) = owner_of(&name.to_string_lossy()) else {
                continue;
            };
            if owner.password != passwords || process_alive(owner.pid) {
                continue;
            }
            let path = entry.path();
            if is_regular_file(&path) && std::fs::remove_file(&path).is_ok() {
                removed.insert(path, owner.pid);
            }
        }
    }
    removed
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_every_temporary_name_backstop_makes() {
        let cases: &[(&str, Option<(u32, bool)>)] = &[
            (".pgpass-4242-0", Some((4242, true))),
            (".pgpass-4242-17", Some((4242, true))),
            (".mycnf-4242-3", Some((4242, true))),
            (".restore-77-3.dump.partial", Some((77, false))),
            (".import-88.dump.partial", Some((88, false))),
            (".import-99-2-wal.partial", Some((99, false))),
            (".import-99-2-wal.partial-journal", Some((99, false))),
            (".shop.12345.snapshot.partial", Some((12345, false))),
            (".shop.12345.snapshot.partial-journal", Some((12345, false))),
            (".shop.12345.snapshot.partial-wal", Some((12345, false))),
            (".my.db.12345.snapshot.partial", Some((12345, false))),
            (".shop.sqlite3.restore-555.partial", Some((555, false))),
            (".shop.sqlite3.restore-555.partial-shm", Some((555, false))),
            ("shop.secret.31-0.partial", Some((31, false))),
            (".backstop-write-test-61", Some((61, false))),
            (".backstop-write-test-61-7", Some((61, false))),
            (".config.toml.61-4.tmp.partial", Some((61, false))),
            (
                ".shop_20251124_031500_manual_full.zip.sha256.61-0.tmp.partial",
                Some((61, false)),
            ),
            // Not Backstop's, or not temporary: never touched.
            ("shop.sqlite3", None),
            ("shop.sqlite3-journal", None),
            (".pgpass", None),
            (".pgpass-x-1", None),
            (".mycnf-", None),
            ("shop_20251124_031500_manual_full.zip", None),
            ("shop_20251124_031500_manual_full.zip.partial", None),
            ("notes.partial", None),
            (".shop.snapshot.partial", None),
            (".restore-.partial", None),
            (".backstop-write-test-", None),
            ("shop.secret", None),
            ("restore-shop.json", None),
        ];
        for (name, expected) in cases {
            assert_eq!(
                owner_of(name).map(|o| (o.pid, o.password)),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn only_files_of_dead_processes_are_removed_password_files_first() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let tmp = paths.tmp_dir();
        std::fs::create_dir_all(&tmp).unwrap();
        // A process that has ended (and was reaped) for the dead owner; this test process for the live one.
        let dead = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap();
        let live = std::process::id();
        for name in [
            format!(".pgpass-{dead}-0"),
            format!(".pgpass-{live}-0"),
            format!(".restore-{dead}-1.dump.partial"),
            format!(".restore-{live}-1.dump.partial"),
            "notes.txt".to_string(),
        ] {
            std::fs::write(tmp.join(&name), "x").unwrap();
        }
        let said = sweep(&paths);
        let mut left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![
            format!(".pgpass-{live}-0"),
            format!(".restore-{live}-1.dump.partial"),
            "notes.txt".to_string(),
        ];
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].contains("1 password file"), "{said:?}");
        assert!(said[1].contains("1 temporary file"), "{said:?}");
    }
}
