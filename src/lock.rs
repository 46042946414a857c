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
    /// Waits for and takes the lock of `file` (the lock file is created 0600 beside it).
    pub fn acquire(file: &Path) -> Result<FileLock> {
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
        lock_file.lock().ctx("cannot lock", &path)?;
        Ok(FileLock { _file: lock_file })
    }
}
