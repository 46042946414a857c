//! The OS keyring through `keyring-core` and the system's native store: the D-Bus Secret Service on Linux
//! (pure-Rust zbus client), the login Keychain on macOS, Credential Manager on Windows. Entry service
//! [`KEYRING_SERVICE`], user = profile name, on every system.
//!
//! What differs per system (the store and the words of its messages) lives in `keyring/<os>.rs`; the thread,
//! the timeout and the meaning of each `keyring-core` error are shared, so "keyring unavailable", "no password
//! stored" and "locked" read the same everywhere.

use super::{KEYRING_SERVICE, KEYRING_TIMEOUT, SecretError};
use keyring_core::{Entry, Error as KeyringError};
use std::sync::mpsc;

#[cfg(target_os = "linux")]
#[path = "keyring/linux.rs"]
mod platform;
#[cfg(target_os = "macos")]
#[path = "keyring/macos.rs"]
mod platform;
#[cfg(windows)]
#[path = "keyring/windows.rs"]
mod platform;

pub(super) fn set(profile: &str, password: &str) -> Result<(), SecretError> {
    let password = password.to_owned();
    run(profile, move |entry| entry.set_password(&password))
}

pub(super) fn get(profile: &str) -> Result<String, SecretError> {
    run(profile, |entry| entry.get_password())
}

pub(super) fn delete(profile: &str) -> Result<(), SecretError> {
    run(profile, |entry| match entry.delete_credential() {
        Err(KeyringError::NoEntry) => Ok(()),
        other => other,
    })
}

/// Runs `op` on the profile's entry on a thread of its own and waits at most [`KEYRING_TIMEOUT`].
///
/// The store is made per call: connecting is cheap next to a backup, and a call abandoned after the timeout
/// (its thread still blocked on D-Bus, or on a Keychain prompt nobody answers) then holds nothing that a later
/// call needs.
fn run<T, F>(profile: &str, op: F) -> Result<T, SecretError>
where
    T: Send + 'static,
    F: FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel();
    let user = profile.to_owned();
    std::thread::Builder::new()
        .name("backstop-keyring".to_owned())
        .spawn(move || {
            let result = platform::entry(KEYRING_SERVICE, &user).and_then(|entry| op(&entry));
            // The receiver is gone if the caller gave up waiting; nothing to do then.
            let _ = sender.send(result);
        })
        .map_err(|e| {
            SecretError::KeyringUnavailable(format!("cannot start the keyring thread: {e}"))
        })?;
    match receiver.recv_timeout(KEYRING_TIMEOUT) {
        Ok(result) => result.map_err(|e| map_error(profile, e)),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(SecretError::KeyringUnavailable(format!(
            "{} did not answer within {} s ({})",
            platform::NAME,
            KEYRING_TIMEOUT.as_secs(),
            platform::NO_ANSWER_HINT
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(SecretError::KeyringUnavailable(
            "the keyring backend stopped unexpectedly".to_owned(),
        )),
    }
}

/// Translates keyring-core's errors; only their Display is used, never the data they carry.
fn map_error(profile: &str, e: KeyringError) -> SecretError {
    match e {
        KeyringError::NoEntry => SecretError::Missing {
            profile: profile.to_owned(),
        },
        KeyringError::PlatformFailure(why) => {
            SecretError::KeyringUnavailable(platform::failure(why.to_string()))
        }
        KeyringError::NoStorageAccess(why) => {
            SecretError::KeyringUnavailable(format!("{} ({why})", platform::NO_ACCESS))
        }
        KeyringError::NoDefaultStore | KeyringError::NotSupportedByStore(_) => {
            SecretError::KeyringUnavailable(e.to_string())
        }
        // Holds the stored bytes: never format the payload.
        KeyringError::BadEncoding(_) => SecretError::Keyring(format!(
            "the keyring entry of profile {profile} is not valid UTF-8; store the password again"
        )),
        KeyringError::Ambiguous(entries) => SecretError::Keyring(format!(
            "{} keyring entries match service '{KEYRING_SERVICE}' and user '{profile}'; remove the extra ones \
             with {} and store the password again",
            entries.len(),
            platform::MANAGER
        )),
        KeyringError::BadDataFormat(_, why) => SecretError::Keyring(format!(
            "the keyring entry of profile {profile} is malformed ({why}); store the password again"
        )),
        other => SecretError::Keyring(other.to_string()),
    }
}
