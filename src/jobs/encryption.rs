//! A profile's encryption: set or changed (`profile edit --encrypt-…`), what a backup encrypts with, and what
//! opens an encrypted archive (the stored passphrase when it is the one the archive was made with; otherwise the
//! passphrase or key the user gives).

use super::context::Context;
use crate::config::{Encryption, Paths, Profile};
use crate::crypto::{self, Encrypt, Unlock};
use crate::error::{Error, Result};
use crate::fsutil::{self, TempGuard};
use crate::progress::JobControl;
use crate::secrets::{SecretStore, Secrets};
use age::secrecy::SecretString;
use std::path::{Path, PathBuf};

/// Shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 8;

/// What `profile edit` asks for.
pub enum EncryptChange {
    /// A new passphrase (for new backups; old ones keep theirs).
    Passphrase(super::Password),
    /// Recipient public keys.
    Recipients(Vec<String>),
    /// No encryption for new backups.
    Off,
}

/// What opens an encrypted archive when the user gives it (`--passphrase-stdin`, `--identity`).
#[derive(Debug, Clone)]
pub enum UnlockSpec {
    /// A passphrase.
    Passphrase(super::Password),
    /// An age identity file or SSH private key.
    Identity(PathBuf),
}

/// The secret store account of a profile's passphrase.
fn account(profile: &str) -> String {
    format!("encrypt.{profile}")
}

/// Sets, changes or turns off a profile's encryption; returns what to tell the user. A new passphrase gets the
/// next key id (`p1`, `p2`, …): backups made before keep the id of the passphrase that opens them.
pub fn set_encryption(
    paths: &Paths,
    profile: &str,
    change: EncryptChange,
    offsite_only: bool,
    store: Option<SecretStore>,
) -> Result<String> {
    let (mut config, _lock) = crate::config::Config::load_for_update(&paths.config_file)?;
    let index = config
        .profiles
        .iter()
        .position(|p| p.name == profile)
        .ok_or_else(|| Error::UnknownProfile {
            name: profile.to_string(),
            known: config
                .profiles
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let old = config
        .profiles
        .get(index)
        .and_then(|p| p.encryption.clone());
    let secrets = Secrets::new(paths.secrets_dir());
    let (new, message) = match change {
        EncryptChange::Off => (
            None,
            format!(
                "profile {profile}: new backups are not encrypted; encrypted ones stay as they are"
            ),
        ),
        EncryptChange::Recipients(recipients) => {
            crypto::check_recipients(&recipients).map_err(Error::Usage)?;
            let n = recipients.len();
            (
                Some(Encryption {
                    passphrase_id: None,
                    passphrase_set_at: None,
                    recipients,
                    offsite_only,
                    secret_store: store.unwrap_or_default(),
                }),
                format!(
                    "profile {profile}: new {} are encrypted to {n} recipient key(s); only their private keys decrypt them",
                    if offsite_only {
                        "copies at destinations"
                    } else {
                        "backups and their copies"
                    }
                ),
            )
        }
        EncryptChange::Passphrase(passphrase) => {
            if passphrase.0.chars().count() < MIN_PASSPHRASE {
                return Err(Error::Usage(format!(
                    "the passphrase is shorter than {MIN_PASSPHRASE} characters; nothing was changed"
                )));
            }
            let next = old
                .as_ref()
                .and_then(|e| e.passphrase_id.as_deref())
                .and_then(|id| id.strip_prefix('p'))
                .and_then(|n| n.parse::<u32>().ok())
                .map_or(1, |n| n + 1);
            let store = store
                .or(old.as_ref().map(|e| e.secret_store))
                .unwrap_or_default();
            secrets.set(&account(profile), store, &passphrase.0)?;
            (
                Some(Encryption {
                    passphrase_id: Some(format!("p{next}")),
                    passphrase_set_at: Some(chrono::Utc::now()),
                    recipients: Vec::new(),
                    offsite_only,
                    secret_store: store,
                }),
                format!(
                    "profile {profile}: new {} are encrypted with passphrase p{next} (kept in the {store}); {}",
                    if offsite_only {
                        "copies at destinations"
                    } else {
                        "backups and their copies"
                    },
                    if next > 1 {
                        "backups made before keep the passphrase they were made with (`backstop list` shows which)"
                    } else {
                        "keep the passphrase somewhere safe too: without it no backup can be read"
                    }
                ),
            )
        }
    };
    if let Some(profile) = config.profiles.get_mut(index) {
        profile.encryption = new;
    }
    config.save(&paths.config_file)?;
    Ok(message)
}

/// What a new archive of this profile is encrypted with (None: not encrypted here), and its key label.
pub fn encrypt_for(
    ctx: &Context,
    profile: &Profile,
    offsite: bool,
) -> Result<Option<(Encrypt, String)>> {
    let Some(enc) = &profile.encryption else {
        return Ok(None);
    };
    if enc.offsite_only && !offsite {
        return Ok(None);
    }
    let how = if enc.passphrase_id.is_some() {
        let secrets = Secrets::new(ctx.paths.secrets_dir());
        Encrypt::Passphrase(SecretString::from(
            secrets.get(&account(&profile.name), enc.secret_store)?,
        ))
    } else {
        Encrypt::Recipients(enc.recipients.clone())
    };
    Ok(Some((how, enc.key_label())))
}

/// What opens an archive encrypted with `label`: what the user gave, else the stored passphrase when the archive
/// was made with the current one; otherwise an error that says which passphrase or key it needs.
pub fn unlock_for(
    ctx: &Context,
    profile: &str,
    label: Option<&str>,
    given: Option<&UnlockSpec>,
    what: &str,
) -> Result<Unlock> {
    match given {
        Some(UnlockSpec::Passphrase(p)) => {
            return Ok(Unlock::Passphrase(SecretString::from(p.0.clone())));
        }
        Some(UnlockSpec::Identity(path)) => return Ok(Unlock::Identity(path.clone())),
        None => {}
    }
    let current = ctx
        .config
        .profile(profile)
        .ok()
        .and_then(|p| p.encryption.clone());
    let current_label = current.as_ref().map(Encryption::key_label);
    let label = label.map(str::to_string).or(current_label.clone());
    match (label.as_deref(), &current) {
        (Some(l), Some(enc))
            if Some(l) == current_label.as_deref() && enc.passphrase_id.is_some() =>
        {
            let secrets = Secrets::new(ctx.paths.secrets_dir());
            Ok(Unlock::Passphrase(SecretString::from(
                secrets.get(&account(profile), enc.secret_store)?,
            )))
        }
        (Some(l), _) if l.starts_with("recipients:") => Err(Error::Usage(format!(
            "{what} is encrypted to recipient keys; give the private key that decrypts it with --identity KEYFILE"
        ))),
        (Some(l), current) => {
            let now = match current.as_ref().and_then(|e| e.passphrase_id.as_deref()) {
                Some(id) => format!("this profile's passphrase now is {id}"),
                None => "this profile has no passphrase now".to_string(),
            };
            Err(Error::Usage(format!(
                "{what} was encrypted with passphrase {} and {now}: give that passphrase with --passphrase-stdin",
                l.trim_start_matches("passphrase:")
            )))
        }
        (None, _) => Err(Error::Usage(format!(
            "{what} is encrypted and this profile has no passphrase stored: give it with --passphrase-stdin, or \
             the key with --identity KEYFILE"
        ))),
    }
}

/// Decrypts an encrypted archive into a private temporary file (removed when the guard goes, or at the next
/// start after a kill); the encrypted file's SHA-256 must be `expected` when given (the catalog's).
pub fn decrypt_to_temp(
    ctx: &Context,
    path: &Path,
    unlock: &Unlock,
    expected: Option<&str>,
    job: &JobControl,
) -> Result<TempGuard> {
    let guard = fsutil::owned_temp(&ctx.paths.tmp_dir(), "decrypt", "zip")?;
    let out = guard.path().to_path_buf();
    let sha = crypto::decrypt_file(path, &out, unlock, job)?;
    if let Some(expected) = expected
        && expected != sha
    {
        return Err(Error::damaged(
            path,
            "the archive's SHA-256 differs from the one recorded when it was written; nothing was changed",
        ));
    }
    Ok(guard)
}

/// Whether a path names an encrypted archive.
pub fn is_encrypted_name(path: &Path) -> bool {
    path.to_string_lossy().ends_with(crypto::AGE_SUFFIX)
}
