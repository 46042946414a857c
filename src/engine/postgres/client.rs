//! The PostgreSQL client for the engine's connection-level work (preflight, versions, sizes, row counts, sessions,
//! the exported snapshot, staging databases, roles, the swap), through the `postgres` crate.
//!
//! A connection is made from the profile's [`ServerConfig`] and password: host name or socket folder, port, user,
//! database, `sslmode` (see `tls`), a connect timeout and application_name `backstop`. Its failures become typed
//! errors from their SQLSTATE code, never from message text; a failure with no SQLSTATE is told apart by its cause
//! (an I/O error: the server cannot be reached or the connection broke; a rustls error: TLS).

use super::tls;
use crate::config::ServerConfig;
use crate::error::{Error, Result, Unavailable};
use postgres::error::{DbError, SqlState};
use postgres::types::{FromSqlOwned, ToSql};
use postgres::{NoTls, Row};
use std::time::Duration;

/// Session settings for every connection: no statement timeout (a count of a big table takes its time), no idle
/// timeout for the snapshot held while pg_dump runs, and row security off (a table whose policies would hide rows
/// is an error, never a silent part-copy).
const OPTIONS: &str =
    "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 -c row_security=off";

/// Who is connected where, for messages.
#[derive(Debug, Clone)]
struct Peer {
    server: String,
    user: String,
    dbname: String,
    sslmode: String,
    has_password: bool,
}

/// One open connection.
pub(super) struct Session {
    client: postgres::Client,
    peer: Peer,
}

/// A parameter list for [`Session`]'s queries.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Connects to database `dbname` on the profile's server as its user, waiting at most `timeout_secs` for the
/// server.
pub(super) fn connect(
    cfg: &ServerConfig,
    password: Option<&str>,
    dbname: &str,
    timeout_secs: u32,
) -> Result<Session> {
    let peer = Peer {
        server: format!("{}:{}", cfg.host, cfg.port),
        user: cfg.user.clone(),
        dbname: dbname.to_string(),
        sslmode: cfg.sslmode.clone(),
        has_password: password.is_some(),
    };
    let mut config = postgres::Config::new();
    config
        .host(&cfg.host)
        .port(cfg.port)
        .user(&cfg.user)
        .dbname(dbname)
        .application_name("backstop")
        .options(OPTIONS)
        .connect_timeout(Duration::from_secs(u64::from(timeout_secs.max(1))))
        .keepalives(true)
        // No stored password: an empty one, so that a server asking for one answers with its own refusal
        // (28P01) rather than the client stopping short.
        .password(password.unwrap_or(""));
    let timeout = Duration::from_secs(u64::from(timeout_secs.max(1)));
    let client = open_within(config, cfg, timeout, &peer)?;
    Ok(Session { client, peer })
}

/// Opens the connection on a thread of its own and waits at most `timeout` for the whole of it, as libpq's
/// connect_timeout does: the client's own timeout covers the TCP connect only, and a server that accepts but
/// never answers would otherwise hold the job forever. A thread that outlives its wait ends with the socket.
fn open_within(
    mut config: postgres::Config,
    cfg: &ServerConfig,
    timeout: Duration,
    peer: &Peer,
) -> Result<postgres::Client> {
    let (host, sslmode) = (cfg.host.clone(), cfg.sslmode.clone());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("backstop-pg-connect".into())
        .spawn(move || {
            let _ = send.send(open(&mut config, &host, &sslmode));
        })
        .map_err(|e| Error::ServerUnreachable {
            server: peer.server.clone(),
            detail: format!("cannot start a thread to connect: {e}"),
        })?;
    match receive.recv_timeout(timeout + Duration::from_millis(500)) {
        Ok(result) => result.map_err(|e| map_error(&e, peer, true)),
        Err(_) => Err(Error::ServerUnreachable {
            server: peer.server.clone(),
            detail: format!("no answer within {} s", timeout.as_secs()),
        }),
    }
}

/// Opens the connection with the TLS that `sslmode` asks for.
fn open(
    config: &mut postgres::Config,
    host: &str,
    sslmode: &str,
) -> std::result::Result<postgres::Client, postgres::Error> {
    use postgres::config::SslMode;
    // libpq never uses TLS over a Unix socket.
    if host.starts_with('/') {
        return config.ssl_mode(SslMode::Disable).connect(NoTls);
    }
    let with_tls = |config: &mut postgres::Config, mode: SslMode, verify: tls::Verify| {
        match tls::client_config(verify) {
            Ok(rustls) => config.ssl_mode(mode).connect(tls::MakeRustls::new(rustls)),
            // The roots cannot be loaded: a plain connection would drop a check the user asked for.
            Err(_) => config.ssl_mode(SslMode::Require).connect(NoTls),
        }
    };
    match sslmode {
        "disable" => config.ssl_mode(SslMode::Disable).connect(NoTls),
        // A plain connection first; TLS when the server turns it away.
        "allow" => match config.ssl_mode(SslMode::Disable).connect(NoTls) {
            Err(e) if e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
                with_tls(config, SslMode::Require, tls::Verify::Nothing)
            }
            other => other,
        },
        "prefer" => with_tls(config, SslMode::Prefer, tls::verify_for(sslmode)),
        _ => with_tls(config, SslMode::Require, tls::verify_for(sslmode)),
    }
}

/// Checks that the TLS set-up for `cfg` can be made (the roots load), before a connection is tried.
pub(super) fn check_tls(cfg: &ServerConfig) -> Result<()> {
    if cfg.host.starts_with('/') || matches!(cfg.sslmode.as_str(), "disable" | "allow") {
        return Ok(());
    }
    tls::client_config(tls::verify_for(&cfg.sslmode)).map(|_| ())
}

impl Session {
    /// Runs one or more statements separated by semicolons (no parameters, no rows back).
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .map_err(|e| map_error(&e, &self.peer, false))
    }

    /// The rows of one query.
    pub(super) fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.client
            .query(sql, params)
            .map_err(|e| map_error(&e, &self.peer, false))
    }

    /// The first column of every row.
    pub(super) fn column<T: FromSqlOwned>(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<T>> {
        let rows = self.rows(sql, params)?;
        rows.iter().map(|row| self.get(row, 0)).collect()
    }

    /// The first column of the first row, if there is a row.
    pub(super) fn value<T: FromSqlOwned>(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<T>> {
        let rows = self.rows(sql, params)?;
        rows.first().map(|row| self.get(row, 0)).transpose()
    }

    /// Rows of (name, number), as the size and count queries return them.
    pub(super) fn named_numbers(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<(String, u64)>> {
        let rows = self.rows(sql, params)?;
        rows.iter()
            .map(|row| {
                let name: String = self.get(row, 0)?;
                let number: i64 = self.get(row, 1)?;
                Ok((name, u64::try_from(number).unwrap_or(0)))
            })
            .collect()
    }

    /// Column `index` of `row`, or an error naming the server's unexpected answer (never a panic).
    pub(super) fn get<T: FromSqlOwned>(&self, row: &Row, index: usize) -> Result<T> {
        row.try_get(index).map_err(|e| Error::ServerError {
            server: self.peer.server.clone(),
            code: "-".into(),
            detail: format!("an unexpected answer ({e})"),
        })
    }
}

/// The typed error for a failure of the client (`connecting`: while the connection was being made).
fn map_error(e: &postgres::Error, peer: &Peer, connecting: bool) -> Error {
    if let Some(db) = e.as_db_error() {
        return map_db_error(db, peer);
    }
    let mut source = std::error::Error::source(e);
    let mut io_error = None;
    while let Some(cause) = source {
        if let Some(tls_error) = cause.downcast_ref::<rustls::Error>() {
            return tls_failed(peer, tls_error.to_string());
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls_error) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_failed(peer, tls_error.to_string());
            }
            io_error.get_or_insert_with(|| io.to_string());
        }
        source = cause.source();
    }
    let detail = io_error.clone().unwrap_or_else(|| describe(e));
    if connecting {
        // No SQLSTATE and no I/O cause while connecting: the TLS negotiation (a server that offers no TLS when
        // sslmode requires it) or the protocol.
        if io_error.is_none() && !matches!(peer.sslmode.as_str(), "disable" | "allow" | "prefer") {
            return tls_failed(peer, detail);
        }
        return Error::ServerUnreachable {
            server: peer.server.clone(),
            detail,
        };
    }
    Error::ServerUnavailable {
        server: peer.server.clone(),
        reason: Unavailable::ConnectionLost,
        detail,
    }
}

fn tls_failed(peer: &Peer, detail: String) -> Error {
    Error::TlsFailed {
        server: peer.server.clone(),
        sslmode: peer.sslmode.clone(),
        detail,
    }
}

/// The client's error with its causes, one line.
fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The server's own words: "FATAL: message (detail; hint)".
fn db_text(db: &DbError) -> String {
    let mut text = format!("{}: {}", db.severity(), db.message());
    let extra: Vec<&str> = [db.detail(), db.hint()].into_iter().flatten().collect();
    if !extra.is_empty() {
        text.push_str(&format!(" ({})", extra.join("; ")));
    }
    text
}

/// The typed error for the server's error.
fn map_db_error(db: &DbError, peer: &Peer) -> Error {
    map_code(db.code(), db_text(db), peer)
}

/// The typed error for SQLSTATE `code`, with the server's words in `detail`.
fn map_code(code: &SqlState, detail: String, peer: &Peer) -> Error {
    let server = peer.server.clone();
    let unavailable = |reason| Error::ServerUnavailable {
        server: server.clone(),
        reason,
        detail: detail.clone(),
    };
    if *code == SqlState::INVALID_PASSWORD {
        Error::AuthFailed {
            server,
            user: peer.user.clone(),
            detail: if peer.has_password {
                detail
            } else {
                format!("{detail}; no password is stored for this profile")
            },
        }
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        Error::AccessDenied {
            server,
            user: peer.user.clone(),
            detail,
        }
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        Error::RemoteDatabaseMissing {
            name: peer.dbname.clone(),
            server,
        }
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        Error::PrivilegeMissing {
            server,
            user: peer.user.clone(),
            detail,
            fix: "ask the object's owner or a superuser to grant it, or use a role that has it"
                .into(),
        }
    } else if *code == SqlState::ADMIN_SHUTDOWN || *code == SqlState::CRASH_SHUTDOWN {
        unavailable(Unavailable::SessionEnded)
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        unavailable(Unavailable::NotAccepting)
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        unavailable(Unavailable::TooManyConnections)
    } else {
        Error::ServerError {
            server,
            code: code.code().to_string(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::ErrorKind;

    fn peer() -> Peer {
        Peer {
            server: "db:5432".into(),
            user: "app".into(),
            dbname: "shop".into(),
            sslmode: "prefer".into(),
            has_password: true,
        }
    }

    #[test]
    fn each_sqlstate_has_its_error_and_kind() {
        // Through a real server's answer would need each failure staged; the mapping itself is pure.
        let cases = [
            ("28P01", ErrorKind::JobFailed, "refused the password of app"),
            ("28000", ErrorKind::JobFailed, "does not let app in"),
            (
                "3D000",
                ErrorKind::JobFailed,
                "database shop does not exist on db:5432",
            ),
            ("42501", ErrorKind::JobFailed, "lacks a privilege"),
            ("57P01", ErrorKind::Transient, "ended Backstop's session"),
            ("57P02", ErrorKind::Transient, "ended Backstop's session"),
            ("57P03", ErrorKind::Transient, "does not accept connections"),
            ("53300", ErrorKind::Transient, "no free connection slot"),
            ("42P01", ErrorKind::JobFailed, "SQLSTATE 42P01"),
        ];
        for (code, kind, words) in cases {
            let error = map_code(
                &SqlState::from_code(code),
                "FATAL: the message".into(),
                &peer(),
            );
            assert_eq!(error.kind(), kind, "{code}: {error}");
            assert!(error.to_string().contains(words), "{code}: {error}");
            if code != "3D000" {
                assert!(error.to_string().contains("the message"), "{code}: {error}");
            }
        }
    }
}
