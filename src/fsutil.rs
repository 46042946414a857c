//! Durable file operations: every write goes to a temporary file, is fsynced, then renamed into place.

use crate::error::{Error, IoContext, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of files being written; a stray one is removed on the next start.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Marks the temporary file of an atomic write: `.<name>.<pid>-<n>.tmp.partial` (see [`crate::leftovers`]).
pub const TEMP_MARK: &str = ".tmp";

/// Makes every file and folder this process creates private from its first byte (umask 077): SQLite's own files
/// (the catalog, `VACUUM INTO` copies, journals), the window's state, child tools' output. Explicit modes on the
/// files Backstop creates itself say the same where the library runs in another program.
pub fn private_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
}

/// Opens (creating 0600 if missing) a file that lives on (a log, a lock); one an older version made readable by
/// others is made private.
pub fn open_private(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = options.mode(0o600).open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Creates a new file readable only by its owner (0600 on Unix); fails if it exists.
pub fn create_private(path: &Path) -> Result<File> {
    new_private_options()
        .read(true)
        .open(path)
        .ctx("cannot create file", path)
}

/// Options that create a new file (never open an existing one) with mode 0600.
fn new_private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates a folder (and its parents) readable only by its owner (0700 on Unix).
pub fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).ctx("cannot create folder", path)
}

/// The temporary name used while `path` is being written.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    path.with_file_name(name)
}

/// Fsyncs a folder so that a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .ctx("cannot sync folder", dir)?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A hidden temporary name beside `path` that carries this process's id, so that a start after a crash knows
/// whether its owner is gone: `.<name>.<pid>-<n>.tmp.partial`.
pub fn temp_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(
        ".{name}.{}-{n}{TEMP_MARK}{PARTIAL_SUFFIX}",
        std::process::id()
    ))
}

/// A private temporary file's guard in `dir` (made 0700 if missing), named `.<purpose>-<pid>-<n>.<ext>.partial`
/// so that a start after a kill removes it (`leftovers`); the file itself is not created.
pub fn owned_temp(dir: &Path, purpose: &str, ext: &str) -> Result<TempGuard> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if !dir.is_dir() {
        create_private_dir(dir)?;
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(TempGuard::new(dir.join(format!(
        ".{purpose}-{}-{n}.{ext}{PARTIAL_SUFFIX}",
        std::process::id()
    ))))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_mode(path, bytes, None)
}

/// [`atomic_write`] of a file others may read (a desktop entry, a systemd unit): the temporary file gets `mode`
/// (Unix permission bits) before it is renamed into place, whatever the process umask; `None` keeps it 0600.
pub fn atomic_write_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(bytes).ctx("cannot write", &tmp)?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .ctx("cannot set the mode of", &tmp)?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        file.sync_all().ctx("cannot sync", &tmp)?;
        drop(file);
        fs::rename(&tmp, path).ctx("cannot rename into place", path)?;
        sync_dir(parent_of(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Renames `from` to `to` without ever replacing an existing `to`, then syncs the folder.
///
/// A hard link fails when the target exists, so no archive is ever overwritten.
pub fn rename_no_replace(from: &Path, to: &Path) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            fs::remove_file(from).ctx("cannot remove temporary file", from)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::io("refusing to overwrite existing file", to, e));
        }
        Err(_) => {
            // File systems without hard links (FAT, some network shares): check, then rename.
            if to.exists() {
                return Err(Error::io(
                    "refusing to overwrite existing file",
                    to,
                    std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                ));
            }
            fs::rename(from, to).ctx("cannot rename into place", to)?;
        }
    }
    sync_dir(parent_of(to))
}

/// The folder holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Free bytes available to this user on the file system holding `path`, when the platform tells.
pub fn available_space(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(path).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Checks that `dir` exists and that a file can be created in it.
///
/// The probe file's name is unique per call (`.backstop-write-test-<pid>-<n>`): the window's Settings check and a
/// backup on the worker thread may probe the same folder at once, and a shared name made one of them fail with
/// "not writable" (the other's probe existed).
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if !dir.is_dir() {
        return Err(Error::StorageMissing(dir.to_path_buf()));
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let probe = dir.join(format!(".backstop-write-test-{}-{n}", std::process::id()));
    match new_private_options().open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(source) => Err(Error::StorageNotWritable {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Whether `dir` may be written, asked of the operating system without writing anything (`access(2)` with W_OK and
/// X_OK, which also reports a read-only mount): for checks that run whenever a form changes or a job ends, which
/// must not leave even a passing file in the user's folder. A job that writes uses [`check_writable_dir`].
pub fn check_writable_dir_quietly(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::StorageMissing(dir.to_path_buf()));
    }
    #[cfg(unix)]
    {
        use rustix::fs::{Access, access};
        access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|errno| Error::StorageNotWritable {
            path: dir.to_path_buf(),
            source: std::io::Error::from_raw_os_error(errno.raw_os_error()),
        })
    }
    #[cfg(not(unix))]
    {
        check_writable_dir(dir)
    }
}

/// Removes a file when dropped unless [`TempGuard::keep`] was called: cleans up on every error path.
pub struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    /// Guards `path` (which may not exist yet).
    pub fn new(path: PathBuf) -> Self {
        TempGuard { path: Some(path) }
    }

    /// The guarded path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Stops guarding: the file stays.
    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(&path);
            for suffix in ["-journal", "-wal", "-shm"] {
                let mut sidecar = path.clone().into_os_string();
                sidecar.push(suffix);
                let _ = fs::remove_file(PathBuf::from(sidecar));
            }
        }
    }
}

/// Test hook: fails when the `BACKSTOP_FAILPOINT` environment variable names this step, so tests can prove that a
/// failure at that moment leaves everything as it was; `<step>:abort` ends the process there at once, like a
/// crash or `kill -9`. Costs one environment lookup.
pub fn failpoint(name: &str) -> Result<()> {
    match std::env::var("BACKSTOP_FAILPOINT") {
        Ok(value) if value.strip_suffix(":abort") == Some(name) => std::process::abort(),
        Ok(value) if value == name => Err(Error::Io {
            context: "injected failure (BACKSTOP_FAILPOINT)",
            path: PathBuf::from(name),
            source: std::io::Error::other("failpoint"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_threads_probing_one_folder_at_once_both_find_it_writable() {
        let dir = tempfile::tempdir().unwrap();
        let probe = || (0..2000).all(|_| check_writable_dir(dir.path()).is_ok());
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(probe);
            let b = s.spawn(probe);
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(a && b);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no probe is left"
        );
    }
}
