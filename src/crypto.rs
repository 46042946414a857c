//! Encryption of whole archives with age (the `age` crate; the stock `age` tool decrypts them): a passphrase
//! (scrypt), or age / SSH recipient keys, so that a laptop can encrypt without holding the key that decrypts. An
//! archive is encrypted as one stream into `<name>.zip.age`; its sidecar is the encrypted file's SHA-256.
//!
//! Nothing here ever puts a passphrase or a key into an error, a log or a file that outlives the job.

use crate::error::{Error, Result};
use crate::progress::JobControl;
use age::secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The first bytes of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The suffix of an encrypted archive.
pub const AGE_SUFFIX: &str = ".age";

/// scrypt's work factor for new passphrase archives: 2^18 (about 0.3 s and 256 MiB here; Debian's age 1.1 refuses
/// more than it measures for itself, and the crate's own choice can exceed that).
const SCRYPT_WORK_FACTOR: u8 = 18;

/// The largest work factor accepted when decrypting (a tampered header cannot make Backstop work for hours).
const SCRYPT_MAX_WORK_FACTOR: u8 = 22;

/// How an archive is encrypted: what writing needs.
pub enum Encrypt {
    /// A passphrase.
    Passphrase(SecretString),
    /// Public keys: `age1…` or `ssh-ed25519 …` / `ssh-rsa …` lines.
    Recipients(Vec<String>),
}

/// What opens an encrypted archive.
pub enum Unlock {
    /// The passphrase.
    Passphrase(SecretString),
    /// An age identity file (`AGE-SECRET-KEY-1…`) or an unencrypted SSH private key.
    Identity(PathBuf),
}

/// Whether a file is an age file (by its first bytes).
pub fn is_age_file(path: &Path) -> bool {
    let mut head = [0u8; 22];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == AGE_MAGIC
}

/// Checks recipient lines; the error names the first that is not an age or SSH public key (by position, never
/// by content beyond its first word).
pub fn check_recipients(recipients: &[String]) -> std::result::Result<(), String> {
    if recipients.is_empty() {
        return Err("no recipient given".into());
    }
    parse_recipients(recipients).map(|_| ())
}

fn parse_recipients(
    recipients: &[String],
) -> std::result::Result<Vec<Box<dyn age::Recipient + Send>>, String> {
    recipients
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let text = text.trim();
            if let Ok(r) = age::x25519::Recipient::from_str(text) {
                return Ok(Box::new(r) as Box<dyn age::Recipient + Send>);
            }
            match age::ssh::Recipient::from_str(text) {
                Ok(r) => Ok(Box::new(r) as Box<dyn age::Recipient + Send>),
                Err(_) => Err(format!(
                    "recipient {} ('{}…') is neither an age public key (age1…) nor an SSH public key \
                     (ssh-ed25519 …, ssh-rsa …)",
                    i + 1,
                    text.split_whitespace().next().unwrap_or_default().chars().take(12).collect::<String>()
                )),
            }
        })
        .collect()
}

/// Encrypts `input` into `output` (a new private file, fsynced); returns the encrypted file's size and SHA-256.
pub fn encrypt_file(
    input: &Path,
    output: &Path,
    how: &Encrypt,
    job: &JobControl,
) -> Result<(u64, String)> {
    let reader = std::fs::File::open(input)
        .map_err(|e| Error::io("cannot open the archive to encrypt", input, e))?;
    let total = reader.metadata().map(|m| m.len()).ok();
    let file = crate::fsutil::create_private(output)?;
    let mut hashing = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let encryptor = match how {
        Encrypt::Passphrase(passphrase) => {
            let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
            recipient.set_work_factor(SCRYPT_WORK_FACTOR);
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        }
        Encrypt::Recipients(list) => {
            let parsed = parse_recipients(list).map_err(Error::Usage)?;
            age::Encryptor::with_recipients(
                parsed.iter().map(|r| r.as_ref() as &dyn age::Recipient),
            )
        }
    }
    .map_err(|e| Error::JobFailed(format!("cannot start encrypting: {e}")))?;
    let io = |e: std::io::Error| Error::io("cannot write the encrypted archive", output, e);
    let mut writer = encryptor.wrap_output(&mut hashing).map_err(io)?;
    copy_with_progress(reader, &mut writer, "encrypting", total, job)
        .map_err(|e| e.unwrap_or_else(|io_err| Error::io("cannot encrypt", input, io_err)))?;
    writer.finish().map_err(io)?;
    let (size, sha256, inner) = hashing.finish();
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok((size, sha256))
}

/// Opens an encrypted stream for reading; a wrong passphrase or key is `Error::Usage` naming what to give.
pub fn decrypting_reader<'a, R: Read + 'a>(
    input: R,
    unlock: &Unlock,
    what: &str,
) -> Result<Box<dyn Read + 'a>> {
    Ok(Box::new(open_stream(input, unlock, what)?))
}

/// The manifest of an encrypted archive, read through the decryption in place (age's stream seeks: only the zip
/// directory and the manifest are decrypted).
pub fn manifest_of_encrypted<R: Read + std::io::Seek>(
    input: R,
    unlock: &Unlock,
    shown: &Path,
) -> Result<crate::archive::Manifest> {
    let what = shown.display().to_string();
    let stream = open_stream(input, unlock, &what)?;
    crate::archive::manifest_of(BufReader::with_capacity(64 << 10, stream), shown)
}

/// The plaintext stream of an age file (it seeks when the input does).
fn open_stream<R: Read>(
    input: R,
    unlock: &Unlock,
    what: &str,
) -> Result<age::stream::StreamReader<BufReader<R>>> {
    let decryptor = age::Decryptor::new(BufReader::with_capacity(1 << 20, input))
        .map_err(|e| decrypt_error(e, what))?;
    let reader = match unlock {
        Unlock::Passphrase(passphrase) => {
            if !decryptor.is_scrypt() {
                return Err(Error::Usage(format!(
                    "{what} is encrypted to recipient keys, not with a passphrase: give the key that decrypts it \
                     with --identity KEYFILE"
                )));
            }
            let mut identity = age::scrypt::Identity::new(passphrase.clone());
            identity.set_max_work_factor(SCRYPT_MAX_WORK_FACTOR);
            decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|e| decrypt_error(e, what))?
        }
        Unlock::Identity(path) => {
            if decryptor.is_scrypt() {
                return Err(Error::Usage(format!(
                    "{what} is encrypted with a passphrase, not to a key: give the passphrase with \
                     --passphrase-stdin (or store it with `backstop profile edit PROFILE --encrypt-passphrase-stdin`)"
                )));
            }
            let identities = load_identities(path)?;
            decryptor
                .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .map_err(|e| decrypt_error(e, what))?
        }
    };
    Ok(reader)
}

/// Decrypts `input` into a new private file `output` (fsynced), hashing the encrypted bytes as they are read:
/// returns the encrypted file's SHA-256, which the caller compares with the catalog's.
pub fn decrypt_file(
    input: &Path,
    output: &Path,
    unlock: &Unlock,
    job: &JobControl,
) -> Result<String> {
    let file = std::fs::File::open(input)
        .map_err(|e| Error::io("cannot open the encrypted archive", input, e))?;
    let total = file.metadata().map(|m| m.len()).ok();
    let hasher = std::rc::Rc::new(std::cell::RefCell::new(Sha256::new()));
    let hashing = HashingReader {
        inner: file,
        hasher: std::rc::Rc::clone(&hasher),
    };
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut reader = decrypting_reader(hashing, unlock, &name)?;
    let out = crate::fsutil::create_private(output)?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, out);
    copy_with_progress(&mut reader, &mut writer, "decrypting", total, job).map_err(|e| {
        e.unwrap_or_else(|io_err| {
            if io_err.kind() == std::io::ErrorKind::InvalidData {
                Error::damaged(input, "its encrypted data fails authentication (damaged or changed after it was written)")
            } else {
                Error::io("cannot decrypt", input, io_err)
            }
        })
    })?;
    // Whatever age did not read (nothing, for a whole file) still counts in the file's hash.
    drop(reader);
    let out = writer
        .into_inner()
        .map_err(|e| Error::io("cannot write the decrypted archive", output, e.into_error()))?;
    out.sync_all()
        .map_err(|e| Error::io("cannot sync the decrypted archive", output, e))?;
    let sha = hex::encode(hasher.borrow().clone().finalize());
    Ok(sha)
}

/// Reads an identity file: age identities (`AGE-SECRET-KEY-1…` lines) or one unencrypted SSH private key.
fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut bytes))
        .map_err(|e| Error::io("cannot read the key file", path, e))?;
    let shown = path.display().to_string();
    if bytes.windows(15).any(|w| w == b"AGE-SECRET-KEY-") {
        let file = age::IdentityFile::from_buffer(&bytes[..])
            .map_err(|_| Error::Usage(format!("{shown} is not a valid age identity file")))?;
        let identities = file.into_identities().map_err(|_| {
            Error::Usage(format!(
                "{shown} holds an identity this Backstop cannot use"
            ))
        })?;
        return Ok(identities
            .into_iter()
            .map(|i| i as Box<dyn age::Identity>)
            .collect());
    }
    let identity =
        age::ssh::Identity::from_buffer(&bytes[..], Some(shown.clone())).map_err(|_| {
            Error::Usage(format!(
                "{shown} is neither an age identity file nor an SSH private key"
            ))
        })?;
    match identity {
        age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(identity)]),
        age::ssh::Identity::Encrypted(_) => Err(Error::Usage(format!(
            "the SSH key {shown} is protected by a passphrase, which Backstop does not ask for; decrypt with the \
             stock tool (`age -d -i {shown}`) or use an unprotected copy of the key"
        ))),
        age::ssh::Identity::Unsupported(_) => Err(Error::Usage(format!(
            "{shown} is an SSH key age cannot use"
        ))),
    }
}

fn decrypt_error(e: age::DecryptError, what: &str) -> Error {
    match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            Error::Usage(format!(
                "wrong passphrase for {what}: it does not decrypt it; nothing was changed"
            ))
        }
        age::DecryptError::NoMatchingKeys => Error::Usage(format!(
            "the key given does not decrypt {what} (it was encrypted to other keys); nothing was changed"
        )),
        age::DecryptError::ExcessiveWork { required, .. } => Error::Refused {
            path: PathBuf::from(what),
            reason: format!(
                "its passphrase needs scrypt work factor {required}, more than Backstop allows"
            ),
        },
        age::DecryptError::Io(e) => {
            Error::io("cannot read the encrypted archive", Path::new(what), e)
        }
        other => Error::ArchiveDamaged {
            path: PathBuf::from(what),
            problem: format!("not a readable age file ({other})"),
        },
    }
}

/// Copies with progress and cancel; `Err(Ok(e))` is Backstop's error (cancel), `Err(Err(io))` an I/O error.
fn copy_with_progress(
    mut from: impl Read,
    to: &mut impl Write,
    stage: &str,
    total: Option<u64>,
    job: &JobControl,
) -> std::result::Result<u64, std::result::Result<Error, std::io::Error>> {
    job.stage(stage, total);
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        job.check().map_err(Ok)?;
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Err(e)),
        };
        to.write_all(buf.get(..n).unwrap_or_default())
            .map_err(Err)?;
        done += n as u64;
        job.progress(stage, done, total);
    }
    to.flush().map_err(Err)?;
    Ok(done)
}

/// A writer that counts and hashes what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> (u64, String, W) {
        (self.size, hex::encode(self.hasher.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through.
struct HashingReader<R: Read> {
    inner: R,
    hasher: std::rc::Rc<std::cell::RefCell<Sha256>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher
            .borrow_mut()
            .update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn job() -> JobControl<'static> {
        JobControl::new(
            &crate::progress::NoProgress,
            crate::progress::CancelToken::new(),
        )
    }

    #[test]
    fn a_passphrase_round_trip_and_a_wrong_one() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.zip");
        std::fs::write(&plain, b"PK\x03\x04 some archive bytes".repeat(10_000)).unwrap();
        let sealed = dir.path().join("a.zip.age");
        let pass = SecretString::from("correct horse".to_string());
        let (size, sha) =
            encrypt_file(&plain, &sealed, &Encrypt::Passphrase(pass.clone()), &job()).unwrap();
        assert!(is_age_file(&sealed));
        assert_eq!(size, std::fs::metadata(&sealed).unwrap().len());
        assert_eq!(
            sha,
            crate::progress::sha256_file(&sealed, &job())
                .unwrap()
                .sha256
        );
        let back = dir.path().join("back.zip");
        let read_sha = decrypt_file(&sealed, &back, &Unlock::Passphrase(pass), &job()).unwrap();
        assert_eq!(read_sha, sha);
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&plain).unwrap()
        );
        let wrong = dir.path().join("wrong.zip");
        let err = decrypt_file(
            &sealed,
            &wrong,
            &Unlock::Passphrase(SecretString::from("nope".to_string())),
            &job(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("wrong passphrase"), "{err}");
        assert!(!err.contains("nope"));
    }

    #[test]
    fn recipients_are_checked() {
        assert!(check_recipients(&[]).is_err());
        let err = check_recipients(&["age1notakey".into()]).unwrap_err();
        assert!(err.contains("recipient 1"), "{err}");
    }
}
