//! Database passwords: the OS keyring first, a private file only when the user chose it.
//!
//! A password never goes into the config file, a command line, a log, the catalog or a manifest; it lives in
//! one of two stores (see `DECISIONS.md`, "Secrets"):
//! - [`SecretStore::Keyring`]: the OS keyring (on Linux the D-Bus Secret Service: GNOME Keyring, KWallet,
//!   KeePassXC; on macOS the login Keychain; on Windows Credential Manager), entry service `backstop`, user =
//!   profile name. When the keyring is missing, locked or does not
//!   answer, the error says exactly that ("keyring unavailable: ...") and never falls back to the file store.
//! - [`SecretStore::File`]: `<secrets dir>/<profile>.secret`, mode 0600 in a 0700 folder, written atomically. Like
//!   libpq with a world-readable `.pgpass`, a secret file that group or others may read is refused.
//!
//! Every keyring call runs on its own thread and is abandoned after [`KEYRING_TIMEOUT`]: a keyring that never
//! answers (a locked keyring waiting on an unlock prompt, a stuck daemon) makes a scheduled job fail fast
//! instead of hanging. No error and no `Debug` output of this module ever contains a password.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Service name of Backstop's keyring entries (the user name is the profile name).
pub const KEYRING_SERVICE: &str = "backstop";

/// How long a keyring call may take before it is reported as "keyring unavailable".
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(3);

/// File name suffix of the file store's secrets.
const SECRET_SUFFIX: &str = ".secret";

/// Where a profile's password lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SecretStore {
    /// The OS keyring (the default).
    #[default]
    Keyring,
    /// A 0600 file under `<state root>/secrets/`, only when the user chose it.
    File,
}

impl SecretStore {
    /// The word used in the config file and on the command line: `keyring` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretStore::Keyring => "keyring",
            SecretStore::File => "file",
        }
    }
}

impl std::fmt::Display for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SecretStore {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keyring" => Ok(SecretStore::Keyring),
            "file" => Ok(SecretStore::File),
            other => Err(format!(
                "unknown secret store '{other}': use 'keyring' or 'file'"
            )),
        }
    }
}

/// Everything that can go wrong while storing or reading a password. No variant ever holds the password.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No password is stored for this profile in the chosen store.
    #[error(
        "no password stored for profile {profile}; set it with `backstop profile edit {profile} --password-stdin`"
    )]
    Missing { profile: String },

    /// No secret stored for a destination or a profile's encryption.
    #[error("no {what} stored; {fix}")]
    MissingSecret { what: String, fix: String },

    /// The keyring cannot be reached, is locked, or did not answer in time. Never a wrong password.
    #[error(
        "keyring unavailable: {0}; store the password in a file instead with --secret-store file, or unlock the keyring"
    )]
    KeyringUnavailable(String),

    /// The keyring answered but refused the operation (several matching entries, bad data, ...).
    #[error("keyring error: {0}")]
    Keyring(String),

    /// A secret file that group or others may access; it is not read (as libpq ignores such a `.pgpass`).
    #[error("secret file {path} is readable by others; run chmod 600 {path}")]
    InsecureFile { path: PathBuf },

    /// A profile name that would not make a safe file name or keyring user.
    #[error(
        "invalid profile name '{0}': use letters, digits and '-' (at most 64, not starting with '-')"
    )]
    InvalidProfile(String),

    /// A password that cannot be stored or handed to the database tools; the reason never quotes it.
    #[error("{0}")]
    InvalidPassword(&'static str),

    /// A file system operation on the file store failed.
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl SecretError {
    fn io(context: &'static str, path: &Path, source: io::Error) -> Self {
        SecretError::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Removes `password` from any text that came from a keyring backend (belt and braces: none should hold it).
    fn redacted(self, password: &str) -> Self {
        if password.is_empty() {
            return self;
        }
        match self {
            SecretError::KeyringUnavailable(why) => {
                SecretError::KeyringUnavailable(why.replace(password, "<redacted>"))
            }
            SecretError::Keyring(why) => SecretError::Keyring(why.replace(password, "<redacted>")),
            other => other,
        }
    }
}

impl From<SecretError> for crate::error::Error {
    fn from(e: SecretError) -> Self {
        crate::error::Error::Usage(e.to_string())
    }
}

/// The password stores of one Backstop state root.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// `<root>/secrets`: the file store's folder (0700), created on the first file-store write.
    dir: PathBuf,
}

impl Secrets {
    /// `secrets_dir` is `<BACKSTOP_HOME>/secrets` (or the data dir's `secrets`).
    pub fn new(secrets_dir: PathBuf) -> Self {
        Secrets { dir: secrets_dir }
    }

    /// The file store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores the password of `profile` in `store`: keyring entry (service "backstop", user = profile name), or
    /// file `<dir>/<profile>.secret` written 0600 (folder 0700) atomically (temp, fsync, rename).
    ///
    /// An empty password, or one with a line break or NUL byte, is refused: the database tools could not be given it.
    pub fn set(
        &self,
        profile: &str,
        store: SecretStore,
        password: &str,
    ) -> Result<(), SecretError> {
        check_account(profile)?;
        check_password(password)?;
        match store {
            SecretStore::Keyring => keyring_backend::set(profile, password),
            SecretStore::File => self.write_file(profile, password),
        }
        .map_err(|e| e.redacted(password))
    }

    /// Reads it; a missing entry is [`SecretError::Missing`], an unreachable or locked keyring
    /// [`SecretError::KeyringUnavailable`]. Never asks on a terminal and never falls back to the other store. A
    /// locked keyring may make the desktop show its own unlock dialog; the call does not wait for it longer than
    /// [`KEYRING_TIMEOUT`] (headless, the daemon dismisses the prompt and the error comes at once).
    pub fn get(&self, profile: &str, store: SecretStore) -> Result<String, SecretError> {
        check_account(profile)?;
        let got = match store {
            SecretStore::Keyring => keyring_backend::get(profile),
            SecretStore::File => self.read_file(profile),
        };
        match got {
            Err(SecretError::Missing { .. }) if profile.contains('.') => {
                Err(missing_account(profile))
            }
            other => other,
        }
    }

    /// Removes it (missing is fine).
    pub fn delete(&self, profile: &str, store: SecretStore) -> Result<(), SecretError> {
        check_account(profile)?;
        match store {
            SecretStore::Keyring => keyring_backend::delete(profile),
            SecretStore::File => self.remove_file(profile),
        }
    }

    /// Renames (profile rename): afterwards `new` has `old`'s password, or none if `old` had none, and `old` has none.
    pub fn rename(&self, old: &str, new: &str, store: SecretStore) -> Result<(), SecretError> {
        check_profile(old)?;
        check_profile(new)?;
        if old == new {
            return Ok(());
        }
        match store {
            SecretStore::Keyring => match keyring_backend::get(old) {
                Ok(password) => {
                    keyring_backend::set(new, &password).map_err(|e| e.redacted(&password))?;
                    keyring_backend::delete(old)
                }
                Err(SecretError::Missing { .. }) => keyring_backend::delete(new),
                Err(e) => Err(e),
            },
            SecretStore::File => {
                let from = self.file_path(old);
                let to = self.file_path(new);
                match fs::rename(&from, &to) {
                    Ok(()) => sync_dir(&self.dir),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => self.remove_file(new),
                    Err(e) => Err(SecretError::io("cannot rename secret file", &from, e)),
                }
            }
        }
    }

    /// `<dir>/<profile>.secret`; `profile` was checked.
    fn file_path(&self, profile: &str) -> PathBuf {
        self.dir.join(format!("{profile}{SECRET_SUFFIX}"))
    }

    fn write_file(&self, profile: &str, password: &str) -> Result<(), SecretError> {
        create_private_dir(&self.dir)?;
        let path = self.file_path(profile);
        let tmp = temp_path(&self.dir, profile);
        let result = (|| {
            let mut file = create_private_file(&tmp)?;
            file.write_all(password.as_bytes())
                .map_err(|e| SecretError::io("cannot write secret file", &tmp, e))?;
            file.sync_all()
                .map_err(|e| SecretError::io("cannot sync secret file", &tmp, e))?;
            drop(file);
            fs::rename(&tmp, &path)
                .map_err(|e| SecretError::io("cannot rename secret file into place", &path, e))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn read_file(&self, profile: &str) -> Result<String, SecretError> {
        let path = self.file_path(profile);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SecretError::Missing {
                    profile: profile.to_owned(),
                });
            }
            Err(e) => return Err(SecretError::io("cannot open secret file", &path, e)),
        };
        // Check the opened file itself, so a swap between the check and the read cannot slip through.
        let meta = file
            .metadata()
            .map_err(|e| SecretError::io("cannot inspect secret file", &path, e))?;
        if !meta.is_file() {
            return Err(SecretError::io(
                "secret file is not a regular file",
                &path,
                io::Error::from(io::ErrorKind::InvalidInput),
            ));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(SecretError::InsecureFile { path });
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| SecretError::io("cannot read secret file", &path, e))?;
        // Never keep `FromUtf8Error`: it holds the bytes, and its Debug would print them.
        let mut password = String::from_utf8(bytes).map_err(|_| {
            SecretError::io(
                "secret file is not valid UTF-8",
                &path,
                io::Error::from(io::ErrorKind::InvalidData),
            )
        })?;
        // A file written by hand (`echo ... > file`) ends with a line break that is not part of the password.
        if password.ends_with('\n') {
            password.pop();
            if password.ends_with('\r') {
                password.pop();
            }
        }
        if password.is_empty() {
            return Err(SecretError::Missing {
                profile: profile.to_owned(),
            });
        }
        Ok(password)
    }

    fn remove_file(&self, profile: &str) -> Result<(), SecretError> {
        let path = self.file_path(profile);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SecretError::io("cannot remove secret file", &path, e)),
        }
    }
}

/// Same rule as `config::validate_profile_name`, checked again here because the name becomes a file name.
fn check_profile(profile: &str) -> Result<(), SecretError> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !profile.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(SecretError::InvalidProfile(profile.to_owned()))
    }
}

/// An account: a profile name (its database password), or `dest.<name>` (a destination's secret) or
/// `encrypt.<profile>` (a profile's encryption passphrase); `.` never occurs in a profile name, so the three never
/// meet.
fn check_account(account: &str) -> Result<(), SecretError> {
    match account.split_once('.') {
        Some(("dest" | "encrypt", name)) => check_profile(name),
        Some(_) => Err(SecretError::InvalidProfile(account.to_owned())),
        None => check_profile(account),
    }
}

/// The "nothing stored" error of a destination or encryption account, saying how to store it.
fn missing_account(account: &str) -> SecretError {
    match account.split_once('.') {
        Some(("encrypt", profile)) => SecretError::MissingSecret {
            what: format!("encryption passphrase for profile {profile}"),
            fix: format!(
                "set it with `backstop profile edit {profile} --encrypt-passphrase-stdin`"
            ),
        },
        Some((_, dest)) => SecretError::MissingSecret {
            what: format!("secret for destination {dest}"),
            fix: format!(
                "add the destination again with `backstop dest add {dest} ... --secret-stdin`"
            ),
        },
        None => SecretError::Missing {
            profile: account.to_owned(),
        },
    }
}

fn check_password(password: &str) -> Result<(), SecretError> {
    if password.is_empty() {
        return Err(SecretError::InvalidPassword(
            "the password is empty; nothing was stored",
        ));
    }
    if password.contains(['\n', '\r', '\0']) {
        return Err(SecretError::InvalidPassword(
            "the password contains a line break or NUL character, which the database tools cannot be given; nothing was stored",
        ));
    }
    Ok(())
}

/// A temporary name unique to this process and call, so two writers never share one.
fn temp_path(dir: &Path, profile: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        "{profile}{SECRET_SUFFIX}.{}-{n}.partial",
        std::process::id()
    ))
}

/// Creates the folder (0700) or tightens an existing one to 0700.
fn create_private_dir(dir: &Path) -> Result<(), SecretError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| SecretError::io("cannot create secrets folder", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir)
            .map_err(|e| SecretError::io("cannot inspect secrets folder", dir, e))?;
        if meta.permissions().mode() & 0o777 != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| SecretError::io("cannot make secrets folder private", dir, e))?;
        }
    }
    Ok(())
}

/// Creates a new file readable only by its owner (0600 on Unix); fails if it exists.
fn create_private_file(path: &Path) -> Result<File, SecretError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| SecretError::io("cannot create secret file", path, e))
}

/// Fsyncs a folder so that a rename or removal inside it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), SecretError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| SecretError::io("cannot sync secrets folder", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The OS keyring: the Secret Service, the macOS Keychain or Windows Credential Manager (`secrets/keyring.rs`).
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
#[path = "secrets/keyring.rs"]
mod keyring_backend;

/// Other systems (the BSDs, ...): no keyring store; the file store works everywhere.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod keyring_backend {
    use super::SecretError;

    fn unavailable() -> SecretError {
        SecretError::KeyringUnavailable("no keyring support on this platform for now".to_owned())
    }

    pub(super) fn set(_profile: &str, _password: &str) -> Result<(), SecretError> {
        Err(unavailable())
    }

    pub(super) fn get(_profile: &str) -> Result<String, SecretError> {
        Err(unavailable())
    }

    pub(super) fn delete(_profile: &str) -> Result<(), SecretError> {
        Err(unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const PASSWORD: &str = "s3cr3t-Pa55word!";

    fn secrets() -> (tempfile::TempDir, Secrets) {
        let root = tempfile::tempdir().unwrap();
        let secrets = Secrets::new(root.path().join("secrets"));
        (root, secrets)
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn file_store_round_trip() {
        let (_root, secrets) = secrets();
        secrets.set("shop-db", SecretStore::File, PASSWORD).unwrap();
        assert_eq!(secrets.get("shop-db", SecretStore::File).unwrap(), PASSWORD);
        let path = secrets.dir().join("shop-db.secret");
        assert_eq!(fs::read_to_string(&path).unwrap(), PASSWORD);
        // Unicode and spaces survive as they are.
        secrets.set("other", SecretStore::File, " pä ss ").unwrap();
        assert_eq!(secrets.get("other", SecretStore::File).unwrap(), " pä ss ");
    }

    #[cfg(unix)]
    #[test]
    fn file_store_is_private() {
        let (_root, secrets) = secrets();
        secrets.set("shop", SecretStore::File, PASSWORD).unwrap();
        assert_eq!(mode(&secrets.dir().join("shop.secret")), 0o600);
        assert_eq!(mode(secrets.dir()), 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_loose_folder_is_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let (_root, secrets) = secrets();
        fs::create_dir_all(secrets.dir()).unwrap();
        fs::set_permissions(secrets.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        secrets.set("shop", SecretStore::File, PASSWORD).unwrap();
        assert_eq!(mode(secrets.dir()), 0o700);
    }

    #[test]
    fn overwrite_is_atomic_and_leaves_no_temp_file() {
        let (_root, secrets) = secrets();
        secrets
            .set("shop", SecretStore::File, "first-password")
            .unwrap();
        let path = secrets.dir().join("shop.secret");
        #[cfg(unix)]
        let inode_before = {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(&path).unwrap().ino()
        };
        secrets.set("shop", SecretStore::File, "second").unwrap();
        assert_eq!(secrets.get("shop", SecretStore::File).unwrap(), "second");
        // Replaced by rename (a new file), not rewritten in place: a reader sees the old or the new password, whole.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_ne!(fs::metadata(&path).unwrap().ino(), inode_before);
            assert_eq!(mode(&path), 0o600);
        }
        let names: Vec<String> = fs::read_dir(secrets.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["shop.secret".to_owned()]);
    }

    #[cfg(unix)]
    #[test]
    fn insecure_file_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let (_root, secrets) = secrets();
        secrets.set("shop", SecretStore::File, PASSWORD).unwrap();
        let path = secrets.dir().join("shop.secret");
        for loose in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
            let err = secrets.get("shop", SecretStore::File).unwrap_err();
            assert!(
                matches!(&err, SecretError::InsecureFile { path: p } if *p == path),
                "{loose:o}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains("is readable by others"), "{message}");
            assert!(
                message.contains(&format!("chmod 600 {}", path.display())),
                "{message}"
            );
            assert!(!message.contains(PASSWORD));
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(secrets.get("shop", SecretStore::File).unwrap(), PASSWORD);
    }

    #[test]
    fn missing_password_says_how_to_set_it() {
        let (_root, secrets) = secrets();
        // Folder absent, then present without the file.
        for _ in 0..2 {
            let err = secrets.get("shop", SecretStore::File).unwrap_err();
            assert!(matches!(&err, SecretError::Missing { profile } if profile == "shop"));
            assert_eq!(
                err.to_string(),
                "no password stored for profile shop; set it with `backstop profile edit shop --password-stdin`"
            );
            secrets.set("other", SecretStore::File, PASSWORD).unwrap();
        }
    }

    #[test]
    fn hand_written_file_loses_its_final_line_break() {
        let (_root, secrets) = secrets();
        secrets
            .set("shop", SecretStore::File, "placeholder")
            .unwrap();
        let path = secrets.dir().join("shop.secret");
        for (content, expected) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw")] {
            fs::write(&path, content).unwrap();
            assert_eq!(secrets.get("shop", SecretStore::File).unwrap(), expected);
        }
        fs::write(&path, "\n").unwrap();
        assert!(matches!(
            secrets.get("shop", SecretStore::File),
            Err(SecretError::Missing { .. })
        ));
    }

    #[test]
    fn rename_moves_the_password() {
        let (_root, secrets) = secrets();
        secrets
            .set("old-name", SecretStore::File, PASSWORD)
            .unwrap();
        secrets
            .rename("old-name", "new-name", SecretStore::File)
            .unwrap();
        assert_eq!(
            secrets.get("new-name", SecretStore::File).unwrap(),
            PASSWORD
        );
        assert!(matches!(
            secrets.get("old-name", SecretStore::File),
            Err(SecretError::Missing { .. })
        ));
        // Renaming a profile without a password clears a stale one under the new name.
        secrets.set("stale", SecretStore::File, "stale-pw").unwrap();
        secrets
            .rename("nothing", "stale", SecretStore::File)
            .unwrap();
        assert!(matches!(
            secrets.get("stale", SecretStore::File),
            Err(SecretError::Missing { .. })
        ));
        // Same name: nothing changes.
        secrets
            .rename("new-name", "new-name", SecretStore::File)
            .unwrap();
        assert_eq!(
            secrets.get("new-name", SecretStore::File).unwrap(),
            PASSWORD
        );
    }

    #[test]
    fn delete_removes_and_missing_is_fine() {
        let (_root, secrets) = secrets();
        secrets.delete("shop", SecretStore::File).unwrap();
        secrets.set("shop", SecretStore::File, PASSWORD).unwrap();
        secrets.delete("shop", SecretStore::File).unwrap();
        assert!(!secrets.dir().join("shop.secret").exists());
        secrets.delete("shop", SecretStore::File).unwrap();
    }

    #[test]
    fn unsafe_profile_names_are_refused_before_any_path_is_built() {
        let (_root, secrets) = secrets();
        for bad in [
            "",
            "../etc",
            "a/b",
            "-x",
            ".hidden",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            for store in [SecretStore::File, SecretStore::Keyring] {
                let err = secrets.set(bad, store, PASSWORD).unwrap_err();
                assert!(matches!(err, SecretError::InvalidProfile(_)), "{bad:?}");
                assert!(matches!(
                    secrets.get(bad, store),
                    Err(SecretError::InvalidProfile(_))
                ));
                assert!(matches!(
                    secrets.delete(bad, store),
                    Err(SecretError::InvalidProfile(_))
                ));
                assert!(matches!(
                    secrets.rename("ok", bad, store),
                    Err(SecretError::InvalidProfile(_))
                ));
            }
        }
        assert!(!secrets.dir().exists());
    }

    #[test]
    fn unusable_passwords_are_refused() {
        let (_root, secrets) = secrets();
        for bad in ["", "a\nb", "a\rb", "a\0b"] {
            let err = secrets.set("shop", SecretStore::File, bad).unwrap_err();
            assert!(matches!(err, SecretError::InvalidPassword(_)), "{bad:?}");
        }
        assert!(!secrets.dir().exists());
    }

    #[test]
    fn store_names_parse_and_serialize() {
        assert_eq!(SecretStore::default(), SecretStore::Keyring);
        for store in [SecretStore::Keyring, SecretStore::File] {
            assert_eq!(store.as_str().parse::<SecretStore>().unwrap(), store);
            assert_eq!(
                serde_json::to_string(&store).unwrap(),
                format!("\"{store}\"")
            );
        }
        assert!(
            "vault"
                .parse::<SecretStore>()
                .unwrap_err()
                .contains("'keyring' or 'file'")
        );
    }

    #[test]
    fn password_never_appears_in_errors() {
        let (_root, secrets) = secrets();
        let mut errors = vec![
            SecretError::Missing {
                profile: "shop".to_owned(),
            },
            SecretError::KeyringUnavailable("no secret service".to_owned()),
            SecretError::Keyring(format!("backend said {PASSWORD}")).redacted(PASSWORD),
            SecretError::KeyringUnavailable(format!("backend said {PASSWORD}")).redacted(PASSWORD),
        ];
        errors.push(secrets.get("shop", SecretStore::File).unwrap_err());
        errors.push(
            secrets
                .set("../x", SecretStore::File, PASSWORD)
                .unwrap_err(),
        );
        errors.push(
            secrets
                .set("shop", SecretStore::File, &format!("{PASSWORD}\n"))
                .unwrap_err(),
        );
        secrets.set("shop", SecretStore::File, PASSWORD).unwrap();
        let path = secrets.dir().join("shop.secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            errors.push(secrets.get("shop", SecretStore::File).unwrap_err());
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut bytes = PASSWORD.as_bytes().to_vec();
        bytes.push(0xff);
        fs::write(&path, &bytes).unwrap();
        errors.push(secrets.get("shop", SecretStore::File).unwrap_err());
        for err in errors {
            let display = err.to_string();
            let debug = format!("{err:?}");
            let backstop = crate::error::Error::from(err);
            for text in [
                display,
                debug,
                backstop.to_string(),
                format!("{backstop:?}"),
            ] {
                assert!(!text.contains(PASSWORD), "password leaked: {text}");
            }
        }
        assert!(!format!("{secrets:?}").contains(PASSWORD));
    }

    /// True when a real Secret Service answered (a desktop session): keyring assertions are skipped there.
    fn real_keyring_answered(result: &Result<String, SecretError>) -> bool {
        let answered = !matches!(result, Err(SecretError::KeyringUnavailable(_)));
        if answered && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            eprintln!(
                "note: a Secret Service answered on this session bus; keyring-unavailable checks skipped"
            );
            return true;
        }
        false
    }

    #[test]
    fn keyring_without_secret_service_fails_fast_and_clearly() {
        let secrets = Secrets::new(PathBuf::from("/nonexistent-backstop-secrets"));
        let started = Instant::now();
        let result = secrets.get("backstop-test-no-such-profile", SecretStore::Keyring);
        let elapsed = started.elapsed();
        if real_keyring_answered(&result) {
            return;
        }
        let err = result.unwrap_err();
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        let message = err.to_string();
        assert!(message.starts_with("keyring unavailable"), "{message}");
        assert!(message.contains("--secret-store file"), "{message}");
        assert!(!message.to_lowercase().contains("wrong password"));
        eprintln!("keyring get failed in {elapsed:?}: {message}");
        // Writing and deleting fail the same way, and never fall back to the file store.
        for result in [
            secrets.set(
                "backstop-test-no-such-profile",
                SecretStore::Keyring,
                PASSWORD,
            ),
            secrets.delete("backstop-test-no-such-profile", SecretStore::Keyring),
            secrets.rename("backstop-test-a", "backstop-test-b", SecretStore::Keyring),
        ] {
            let err = result.unwrap_err();
            assert!(matches!(err, SecretError::KeyringUnavailable(_)), "{err:?}");
            assert!(!format!("{err} {err:?}").contains(PASSWORD));
        }
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(!secrets.dir().exists());
    }

    /// Needs a real, unlocked Secret Service; run by hand with `cargo test -- --ignored real_secret_service`
    /// (for example under `dbus-run-session` with `gnome-keyring-daemon --unlock` fed a password on stdin).
    #[test]
    #[ignore = "needs a real, unlocked Secret Service"]
    fn keyring_round_trip_with_a_real_secret_service() {
        let secrets = Secrets::new(PathBuf::from("/nonexistent-backstop-secrets"));
        let (a, b) = ("backstop-test-keyring-a", "backstop-test-keyring-b");
        let started = Instant::now();
        secrets.delete(a, SecretStore::Keyring).unwrap();
        secrets.delete(b, SecretStore::Keyring).unwrap();
        assert!(matches!(
            secrets.get(a, SecretStore::Keyring),
            Err(SecretError::Missing { .. })
        ));
        secrets.set(a, SecretStore::Keyring, "first").unwrap();
        secrets.set(a, SecretStore::Keyring, PASSWORD).unwrap();
        assert_eq!(secrets.get(a, SecretStore::Keyring).unwrap(), PASSWORD);
        secrets.rename(a, b, SecretStore::Keyring).unwrap();
        assert_eq!(secrets.get(b, SecretStore::Keyring).unwrap(), PASSWORD);
        assert!(matches!(
            secrets.get(a, SecretStore::Keyring),
            Err(SecretError::Missing { .. })
        ));
        secrets.delete(b, SecretStore::Keyring).unwrap();
        secrets.delete(b, SecretStore::Keyring).unwrap();
        assert!(matches!(
            secrets.get(b, SecretStore::Keyring),
            Err(SecretError::Missing { .. })
        ));
        eprintln!("real keyring round trip took {:?}", started.elapsed());
        assert!(!secrets.dir().exists());
    }

    /// Run only by `keyring_that_never_answers_times_out`, in a child process pointed at a silent bus.
    #[test]
    #[ignore = "child process of keyring_that_never_answers_times_out"]
    fn keyring_child_against_silent_bus() {
        let secrets = Secrets::new(PathBuf::from("/nonexistent-backstop-secrets"));
        let started = Instant::now();
        let result = secrets.get("backstop-test-no-such-profile", SecretStore::Keyring);
        let elapsed = started.elapsed();
        match result {
            Err(err) => println!("RESULT {} ms: {err}", elapsed.as_millis()),
            Ok(_) => println!("RESULT {} ms: answered", elapsed.as_millis()),
        }
    }

    /// A session bus that accepts the connection and then never says a word: the call must give up after the
    /// timeout, not hang. Runs in a child process because the bus address comes from the environment.
    #[cfg(target_os = "linux")]
    #[test]
    fn keyring_that_never_answers_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, rest)| rest);
        let started = Instant::now();
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("{module}::keyring_child_against_silent_bus"),
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", socket.display()),
            )
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.find("RESULT ").and_then(|at| l.get(at..)))
            .unwrap_or_else(|| panic!("child printed no result:\n{stdout}"));
        eprintln!("{line} (child process {elapsed:?})");
        assert!(
            line.contains("keyring unavailable: the Secret Service did not answer within 3 s"),
            "{line}"
        );
        assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    }
}
