//! One lock per profile, so that two jobs (CLI, window, timer) never work on the same profile at once; and a lock
//! beside each shared state file (the catalog, the config) for the moments several processes change it.
//!
//! OS file locks: a crash releases them, and a live lock is never stolen.

use crate::config::Paths;
use crate::error::{Error, IoContext, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Held while a job works on a profile; released on drop (or when the process dies).
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

impl ProfileLock {
    /// Takes the profile's lock at once, or fails with "a job for profile X is already running".
    pub fn acquire(paths: &Paths, profile: &str) -> Result<ProfileLock> {
        let dir = paths.locks_dir();
        if !dir.is_dir() {
            crate::fsutil::create_private_dir(&dir)?;
        }
        let path = dir.join(format!("{profile}.lock"));
        let file = crate::fsutil::open_private(
            OpenOptions::new().create(true).truncate(false).write(true),
            &path,
        )
        .ctx("cannot open lock file", &path)?;
        match file.try_lock() {
            Ok(()) => Ok(ProfileLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::ProfileBusy(profile.to_string())),
            Err(TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
        }
    }
}

/// A lock on `<file>.lock`, waited for and held while a shared state file is created, migrated or read, changed and
/// written: several processes starting at once (a new home, `profile add` from two scripts) then take turns instead
/// of racing. Released on drop (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for and takes the lock of `file` (the lock file is created 0600 beside it). Another process holds it
    /// only for a read-change-write, so the wait is short; it ends with an error after a minute (a hung process)
    /// or when a stopping signal arrived (SIGTERM must not wait on a lock).
    pub fn acquire(file: &Path) -> Result<FileLock> {
        FileLock::acquire_within(file, std::time::Duration::from_secs(60))
    }

    /// [`FileLock::acquire`] with its longest wait.
    pub fn acquire_within(file: &Path, longest: std::time::Duration) -> Result<FileLock> {
        let mut name = file.as_os_str().to_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let lock_file = options.open(&path).ctx("cannot open lock file", &path)?;
        let start = std::time::Instant::now();
        loop {
            match lock_file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: lock_file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
            }
            if crate::signals::received().is_some() {
                return Err(Error::Cancelled);
            }
            if start.elapsed() >= longest {
                return Err(Error::JobFailed(format!(
                    "{} has been held by another Backstop process for over {} s; if none is running, a hung one \
                     holds it: end it and try again (nothing was changed)",
                    path.display(),
                    longest.as_secs()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_lock_waits_for_its_holder_and_gives_up_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let held = FileLock::acquire(&file).unwrap();
        let err = FileLock::acquire_within(&file, std::time::Duration::from_millis(100))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("held by another Backstop process"), "{err}");
        let waiter = std::thread::spawn({
            let file = file.clone();
            move || FileLock::acquire_within(&file, std::time::Duration::from_secs(30)).is_ok()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(held);
        assert!(
            waiter.join().unwrap(),
            "the lock is taken once its holder lets go"
        );
    }
}
