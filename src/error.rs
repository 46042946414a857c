//! Typed errors. Every message says what went wrong and what the user can do about it.

use std::path::{Path, PathBuf};

/// Result with Backstop's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file exists but cannot be understood; it is never overwritten.
    #[error(
        "config file {path} is not valid: {message}\n  fix the file by hand (Backstop will not overwrite it)"
    )]
    ConfigInvalid { path: PathBuf, message: String },

    /// The config file exists but cannot be read (a folder, not UTF-8, no permission); it is never overwritten.
    #[error(
        "cannot read the config file {path}: {source}\n  make it a readable UTF-8 text file (Backstop will not overwrite it)"
    )]
    ConfigUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A bad argument, flag or setting from the user.
    #[error("{0}")]
    Usage(String),

    /// The named profile does not exist.
    #[error("no profile named '{name}' (known profiles: {known}); see `backstop profile list`")]
    UnknownProfile { name: String, known: String },

    /// A command needs `--profile` because several profiles exist.
    #[error("several profiles exist ({known}); say which one with --profile NAME")]
    ProfileAmbiguous { known: String },

    /// No profile exists yet.
    #[error("no profile yet; create one with `backstop profile add NAME --sqlite PATH`")]
    NoProfiles,

    /// A restore needs the user's consent and there is no terminal to ask on.
    #[error(
        "restore refused: it would replace {target}; pass --yes to confirm (or --validate-only to check the archive without touching anything)"
    )]
    ConsentRequired { target: String },

    /// A restore would put one profile's backup into another profile without the user's explicit consent.
    #[error(
        "{archive} is a backup of profile {owner}{}; to restore it into another profile, pass --profile NAME \
         --allow-other-profile (or import it into that profile first with `backstop import --profile NAME`)",
        match target {
            Some(target) => format!(", not of {target}: restoring it would replace {target}'s data with {owner}'s"),
            None => ", which does not exist here".to_string(),
        }
    )]
    OtherProfile {
        archive: PathBuf,
        owner: String,
        target: Option<String>,
    },

    /// No backup with this id in the catalog.
    #[error("no backup with id {0}; see `backstop list`")]
    UnknownBackup(i64),

    /// The storage folder is missing: most likely an unmounted drive.
    #[error(
        "storage folder missing (is the drive mounted?): {0}\n  create it or fix the profile's storage folder with `backstop profile edit`"
    )]
    StorageMissing(PathBuf),

    /// The storage folder cannot be written.
    #[error("storage folder is not writable: {path}: {source}\n  check its permissions")]
    StorageNotWritable {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Not enough free space for the backup.
    #[error(
        "not enough free space in {path}: {needed} bytes needed, {available} available; free some space or choose another storage folder"
    )]
    NoSpace {
        path: PathBuf,
        needed: u64,
        available: u64,
    },

    /// The disk filled up while writing.
    #[error(
        "the disk filled up while writing {0}; nothing was kept of this job. Free some space or choose another storage folder"
    )]
    DiskFull(PathBuf),

    /// The database file named by the profile does not exist.
    #[error(
        "database file not found: {0}\n  check the profile's database path (`backstop profile list`)"
    )]
    DatabaseMissing(PathBuf),

    /// The profile's files folder does not exist (or is not a folder).
    #[error(
        "files folder not found: {0}\n  is the drive mounted? Check the profile's files folder (`backstop profile list`)"
    )]
    FilesFolderMissing(PathBuf),

    /// Another program holds a lock on the database for longer than the busy timeout.
    #[error(
        "database {path} is locked by another program (waited {seconds} s); try again when it is idle, or raise busy_timeout_secs in the config"
    )]
    DatabaseBusy { path: PathBuf, seconds: u64 },

    /// A SQLite file failed its integrity check.
    #[error("database {what} failed PRAGMA integrity_check: {detail}")]
    IntegrityCheck { what: String, detail: String },

    /// An error from the database engine.
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        source: rusqlite::Error,
    },

    /// An archive is damaged, incomplete or not what it claims to be.
    #[error("archive {path} is damaged: {problem}")]
    ArchiveDamaged { path: PathBuf, problem: String },

    /// An archive (or imported file) is refused for safety or format reasons.
    #[error("{path} was refused: {reason}")]
    Refused { path: PathBuf, reason: String },

    /// A client tool (pg_dump, psql, ...) is missing or unusable.
    #[error("{tool} cannot be used: {hint}")]
    ToolMissing { tool: String, hint: String },

    /// A client tool ran and failed.
    #[error("{tool} failed: {detail}")]
    ToolFailed { tool: String, detail: String },

    /// The database server does not answer.
    #[error(
        "cannot reach the database server at {server} ({detail}); is it running, and are the host and port right?"
    )]
    ServerUnreachable { server: String, detail: String },

    /// The server refused the credentials.
    #[error(
        "the server at {server} refused the password of {user} ({detail}); store the right one with `backstop profile edit PROFILE --password-stdin`"
    )]
    AuthFailed {
        server: String,
        user: String,
        detail: String,
    },

    /// The server turned the role away before any password was checked (SQLSTATE 28000: no `pg_hba.conf` line
    /// lets it in, or the role may not log in).
    #[error(
        "the server at {server} does not let {user} in ({detail}); allow it with a line in the server's pg_hba.conf \
         (then reload the server), or make sure the role exists and may log in (ALTER ROLE {user} LOGIN)"
    )]
    AccessDenied {
        server: String,
        user: String,
        detail: String,
    },

    /// The role lacks a privilege the job needs (SQLSTATE 42501); `fix` says what to grant.
    #[error("the role {user} lacks a privilege on {server}: {detail}; {fix}")]
    PrivilegeMissing {
        server: String,
        user: String,
        detail: String,
        fix: String,
    },

    /// The server cannot serve Backstop now, for a reason that passes (shutting down, starting, too many
    /// connections, the session ended by an administrator, the connection lost).
    #[error("{reason} ({server}: {detail}); try again in a while")]
    ServerUnavailable {
        server: String,
        reason: Unavailable,
        detail: String,
    },

    /// The TLS connection the profile's `sslmode` asks for could not be made (the server's certificate is not
    /// trusted or names another host, or the server offers no TLS).
    #[error(
        "no TLS connection to the server at {server} with sslmode {sslmode} ({detail}); check the profile's \
         sslmode and the server's certificate (verify-ca and verify-full trust ~/.postgresql/root.crt if it exists, \
         else the system's certificate authorities)"
    )]
    TlsFailed {
        server: String,
        sslmode: String,
        detail: String,
    },

    /// The server answered a statement with an error not named by another variant.
    #[error("the database server at {server} answered with an error: {detail} (SQLSTATE {code})")]
    ServerError {
        server: String,
        code: String,
        detail: String,
    },

    /// The database named by the profile does not exist on the server.
    #[error(
        "database {name} does not exist on {server}; check the profile's database name (if it was dropped, restoring a backup creates it again)"
    )]
    RemoteDatabaseMissing { name: String, server: String },

    /// A job for this profile already runs in another process or window.
    #[error(
        "a job for profile {0} is already running; wait for it to finish (or close the other Backstop)"
    )]
    ProfileBusy(String),

    /// A job failed part way and put things back; the message says what happened and what to do.
    #[error("{0}")]
    JobFailed(String),

    /// The user cancelled the job.
    #[error("cancelled")]
    Cancelled,

    /// A file system operation failed.
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The catalog could not be read or written.
    #[error("catalog {path}: {message}")]
    Catalog { path: PathBuf, message: String },

    /// The database to back up is empty, not a database, or has lost its schema: backing it up would make a
    /// "good" backup of nothing.
    #[error(
        "{what} cannot be backed up: {problem}; nothing was backed up and no backup was deleted"
    )]
    SourceUnusable { what: String, problem: String },

    /// No destination by this name.
    #[error(
        "no destination named '{name}' (known destinations: {known}); see `backstop dest list`"
    )]
    UnknownDestination { name: String, known: String },

    /// A destination that cannot be reached now (network, server down, a time-out): copies wait and try again.
    #[error(
        "cannot reach destination {dest} ({detail}); the copy waits and is tried again; check the network and that the server runs"
    )]
    DestinationUnreachable { dest: String, detail: String },

    /// The destination refused the credentials or the access.
    #[error(
        "destination {dest} refused access ({detail}); check the key or password (store it again with `backstop dest add {dest} ... --secret-stdin`) and the permissions on the bucket or folder"
    )]
    DestinationDenied { dest: String, detail: String },

    /// Any other failure at a destination.
    #[error("destination {dest}: {detail}")]
    DestinationFailed { dest: String, detail: String },
}

/// Why a database server cannot serve Backstop now (each passes by itself, so an automatic backup tries again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The server ended the session: an administrator ended it (`pg_terminate_backend`) or the server is shutting
    /// down (SQLSTATE 57P01, 57P02).
    SessionEnded,
    /// The server does not accept connections yet or any more: starting up, in recovery, shutting down (57P03).
    NotAccepting,
    /// Every connection slot is taken (53300).
    TooManyConnections,
    /// The connection broke in the middle of the job.
    ConnectionLost,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailable::SessionEnded => {
                "the database server ended Backstop's session (an administrator ended it, or the server is \
                 shutting down)"
            }
            Unavailable::NotAccepting => {
                "the database server does not accept connections now (it is starting up, recovering or \
                 shutting down)"
            }
            Unavailable::TooManyConnections => {
                "the database server has no free connection slot (too many clients, or the role's or the \
                 database's CONNECTION LIMIT reached); close idle ones or raise the limit"
            }
            Unavailable::ConnectionLost => "the connection to the database server broke mid-job",
        })
    }
}

impl Error {
    /// The process exit code this error maps to (from its kind, see `failure`): 2 usage or configuration, 130
    /// cancel, else 1.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(context: &'static str, path: &Path, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(28) {
            // ENOSPC: say it plainly rather than "No space left on device (os error 28)" alone.
            return Error::DiskFull(path.to_path_buf());
        }
        Error::Io {
            context,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Wraps a SQLite error with what was being done.
    pub fn sqlite(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::Sqlite {
            context: context.into(),
            source,
        }
    }

    /// An archive problem.
    pub fn damaged(path: &Path, problem: impl Into<String>) -> Self {
        Error::ArchiveDamaged {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    /// A refused input.
    pub fn refused(path: &Path, reason: impl Into<String>) -> Self {
        Error::Refused {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Adds path context to `std::io::Result`.
pub trait IoContext<T> {
    /// Maps the error to [`Error::Io`] (or [`Error::NoSpace`]) naming the action and path.
    fn ctx(self, context: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(context, path, e))
    }
}
