//! One lock per profile, so that two jobs (CLI, window, timer) never work on the same profile at once.
//!
//! An OS file lock: a crash releases it, and a live lock is never stolen.

use crate::config::Paths;
use crate::error::{Error, IoContext, Result};
use std::fs::{File, OpenOptions, TryLockError};

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
