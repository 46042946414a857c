//! What a failure means, decided from its kind in one place: the exit code, and whether an automatic backup tries
//! again. Never from message text: a message may change, a kind travels across the worker as it is.
//!
//! Pure: no I/O, no clock. The window's scheduler asks [`retry_automatic`]; `main` asks [`ErrorKind::exit_code`]
//! (through [`Error::exit_code`]).

use crate::error::Error;
use std::time::Duration;

/// The kinds of failure (ARCHITECTURE "Errors keep their kind across the worker").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Something that may be there in a minute: a server still starting, a drive not mounted yet, a database or
    /// profile busy. The job failed (exit 1); an automatic backup tries again with backoff.
    Transient,
    /// The user's input or configuration is wrong (exit 2); trying again changes nothing until they fix it.
    Usage,
    /// The job ran and failed (exit 1): damage found, a tool missing, a password refused, a disk full, ...
    JobFailed,
    /// An input (an archive, an imported file) was refused for safety or format reasons (exit 1).
    Refused,
    /// The user cancelled the job (exit 130).
    Cancelled,
}

impl ErrorKind {
    /// The process exit code (DECISIONS "CLI"): 2 usage or configuration, 130 cancelled, else 1.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => 2,
            ErrorKind::Cancelled => 130,
            ErrorKind::Transient | ErrorKind::JobFailed | ErrorKind::Refused => 1,
        }
    }
}

impl Error {
    /// This error's kind. Every variant is named, so a new one must be classified here.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::ConfigInvalid { .. }
            | Error::ConfigUnreadable { .. }
            | Error::Usage(_)
            | Error::UnknownProfile { .. }
            | Error::ProfileAmbiguous { .. }
            | Error::NoProfiles
            | Error::ConsentRequired { .. }
            | Error::OtherProfile { .. }
            | Error::UnknownBackup(_)
            | Error::UnknownDestination { .. } => ErrorKind::Usage,
            Error::ServerUnreachable { .. }
            | Error::StorageMissing(_)
            | Error::DatabaseMissing(_)
            | Error::FilesFolderMissing(_)
            | Error::DatabaseBusy { .. }
            | Error::ServerUnavailable { .. }
            | Error::ProfileBusy(_)
            | Error::DestinationUnreachable { .. } => ErrorKind::Transient,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::StorageNotWritable { .. }
            | Error::NoSpace { .. }
            | Error::DiskFull(_)
            | Error::IntegrityCheck { .. }
            | Error::Sqlite { .. }
            | Error::ArchiveDamaged { .. }
            | Error::ToolMissing { .. }
            | Error::ToolFailed { .. }
            | Error::AuthFailed { .. }
            | Error::AccessDenied { .. }
            | Error::PrivilegeMissing { .. }
            | Error::TlsFailed { .. }
            | Error::ServerError { .. }
            | Error::RemoteDatabaseMissing { .. }
            | Error::JobFailed(_)
            | Error::SourceUnusable { .. }
            | Error::Io { .. }
            | Error::Catalog { .. }
            | Error::DestinationDenied { .. }
            | Error::DestinationFailed { .. } => ErrorKind::JobFailed,
        }
    }
}

/// Tries of a failed automatic backup after the first failure (ARCHITECTURE "The window").
pub const AUTOMATIC_RETRIES: u32 = 6;

/// What the scheduler does after an automatic backup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again after this wait.
    After(Duration),
    /// A transient failure that already had every retry: stop and tell the user.
    GaveUp,
    /// Not a failure that time fixes: no retry.
    Never,
}

/// Whether an automatic backup that failed with `kind` tries again; `attempt` counts this failure's retry (1 for
/// the first failure). The wait starts at 1 minute and doubles up to 30 minutes.
pub fn retry_automatic(kind: ErrorKind, attempt: u32) -> Retry {
    if kind != ErrorKind::Transient {
        return Retry::Never;
    }
    if attempt == 0 || attempt > AUTOMATIC_RETRIES {
        return Retry::GaveUp;
    }
    let wait = Duration::from_secs(30 << attempt.min(AUTOMATIC_RETRIES));
    Retry::After(wait.min(Duration::from_secs(30 * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn retries_are_decided_by_kind_and_attempt() {
        let min = |m: u64| Retry::After(Duration::from_secs(60 * m));
        let cases = [
            (ErrorKind::Transient, 1, min(1)),
            (ErrorKind::Transient, 2, min(2)),
            (ErrorKind::Transient, 3, min(4)),
            (ErrorKind::Transient, 4, min(8)),
            (ErrorKind::Transient, 5, min(16)),
            (ErrorKind::Transient, 6, min(30)),
            (ErrorKind::Transient, 7, Retry::GaveUp),
            (ErrorKind::Transient, 0, Retry::GaveUp),
            (ErrorKind::Usage, 1, Retry::Never),
            (ErrorKind::JobFailed, 1, Retry::Never),
            (ErrorKind::Refused, 1, Retry::Never),
            (ErrorKind::Cancelled, 1, Retry::Never),
        ];
        for (kind, attempt, expected) in cases {
            assert_eq!(
                retry_automatic(kind, attempt),
                expected,
                "{kind:?} attempt {attempt}"
            );
        }
    }

    #[test]
    fn each_error_has_the_kind_the_decisions_give() {
        let path = || PathBuf::from("/x");
        let io = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let cases = [
            // Unreachable things that a later try may find: transient, exit 1.
            (
                Error::ServerUnreachable {
                    server: "127.0.0.1:1".into(),
                    detail: "connection refused".into(),
                },
                ErrorKind::Transient,
            ),
            (Error::StorageMissing(path()), ErrorKind::Transient),
            (Error::DatabaseMissing(path()), ErrorKind::Transient),
            (Error::FilesFolderMissing(path()), ErrorKind::Transient),
            (
                Error::DatabaseBusy {
                    path: path(),
                    seconds: 5,
                },
                ErrorKind::Transient,
            ),
            (Error::ProfileBusy("shop".into()), ErrorKind::Transient),
            // A server that will serve again by itself: shutting down, starting, full, a session it ended.
            (
                Error::ServerUnavailable {
                    server: "s".into(),
                    reason: crate::error::Unavailable::SessionEnded,
                    detail: "FATAL: terminating connection due to administrator command".into(),
                },
                ErrorKind::Transient,
            ),
            (
                Error::ServerUnavailable {
                    server: "s".into(),
                    reason: crate::error::Unavailable::TooManyConnections,
                    detail: "FATAL: sorry, too many clients already".into(),
                },
                ErrorKind::Transient,
            ),
            // The user's input or configuration: exit 2.
            (Error::Usage("bad flag".into()), ErrorKind::Usage),
            (
                Error::UnknownProfile {
                    name: "x".into(),
                    known: "shop".into(),
                },
                ErrorKind::Usage,
            ),
            (
                Error::ConfigInvalid {
                    path: path(),
                    message: "line 1".into(),
                },
                ErrorKind::Usage,
            ),
            (
                Error::ConfigUnreadable {
                    path: path(),
                    source: io(),
                },
                ErrorKind::Usage,
            ),
            (
                Error::ConsentRequired {
                    target: "shop".into(),
                },
                ErrorKind::Usage,
            ),
            (Error::UnknownBackup(9), ErrorKind::Usage),
            // Jobs that ran and failed: exit 1, never retried.
            (
                Error::ToolMissing {
                    tool: "pg_dump".into(),
                    hint: "install it".into(),
                },
                ErrorKind::JobFailed,
            ),
            (
                Error::damaged(&path(), "bad checksum"),
                ErrorKind::JobFailed,
            ),
            (
                Error::AuthFailed {
                    server: "s".into(),
                    user: "u".into(),
                    detail: "d".into(),
                },
                ErrorKind::JobFailed,
            ),
            (
                Error::JobFailed("safety backup failed".into()),
                ErrorKind::JobFailed,
            ),
            (Error::DiskFull(path()), ErrorKind::JobFailed),
            // A server that turns the role away, a grant or a certificate missing: someone must fix them first.
            (
                Error::AccessDenied {
                    server: "s".into(),
                    user: "u".into(),
                    detail: "d".into(),
                },
                ErrorKind::JobFailed,
            ),
            (
                Error::PrivilegeMissing {
                    server: "s".into(),
                    user: "u".into(),
                    detail: "d".into(),
                    fix: "grant it".into(),
                },
                ErrorKind::JobFailed,
            ),
            (
                Error::TlsFailed {
                    server: "s".into(),
                    sslmode: "verify-full".into(),
                    detail: "d".into(),
                },
                ErrorKind::JobFailed,
            ),
            (
                Error::ServerError {
                    server: "s".into(),
                    code: "42P01".into(),
                    detail: "d".into(),
                },
                ErrorKind::JobFailed,
            ),
            (Error::refused(&path(), "a link"), ErrorKind::Refused),
            (Error::Cancelled, ErrorKind::Cancelled),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.exit_code(), kind.exit_code(), "{error}");
        }
    }

    #[test]
    fn exit_codes_follow_the_kind() {
        let cases = [
            (ErrorKind::Usage, 2),
            (ErrorKind::Cancelled, 130),
            (ErrorKind::Transient, 1),
            (ErrorKind::JobFailed, 1),
            (ErrorKind::Refused, 1),
        ];
        for (kind, code) in cases {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }
}
