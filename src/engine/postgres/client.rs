//! The PostgreSQL client for the engine's connection-level work (preflight, versions, sizes, row counts, sessions,
//! the exported snapshot, staging databases, roles, the swap), through `tokio-postgres` (the rust-postgres
//! project's client), driven by a current-thread runtime that each [`Session`] owns, so that callers stay
//! synchronous.
//!
//! Why not the `postgres` crate's own synchronous wrapper: when the server ends a session in the middle of a query
//! (`pg_terminate_backend`, a shutdown), it sends its FATAL error and closes the connection; the wrapper stops at
//! the closed connection before the query sees the error routed to it, so about one time in two the user would
//! read "connection closed" instead of the server's reason (SQLSTATE 57P01). Here the connection runs as a task
//! of its own and the query always receives the server's error first.
//!
//! A connection is made from the profile's [`ServerConfig`] and password: host name or socket folder, port, user,
//! database, `sslmode` (see `tls`), a connect timeout over the whole connection (as libpq's) and
//! application_name `backstop`. Its failures become typed errors from their SQLSTATE code, never from message
//! text; a failure with no SQLSTATE is told apart by its cause (an I/O error: the server cannot be reached or the
//! connection broke; a rustls error: TLS).

use super::tls;
use crate::config::ServerConfig;
use crate::error::{Error, Result, Unavailable};
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::types::{FromSqlOwned, ToSql};
use tokio_postgres::{Client, NoTls, Row, Socket};

/// Session settings for every connection: no statement timeout (a count of a big table takes its time), no idle
/// timeout for the snapshot held while pg_dump runs, and row security off (a table whose policies would hide rows
/// is an error, never a silent part-copy).
const OPTIONS: &str =
    "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 -c row_security=off";

/// How long a closing session waits for its connection to say goodbye to the server.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Who is connected where, for messages.
#[derive(Debug, Clone)]
struct Peer {
    server: String,
    user: String,
    dbname: String,
    sslmode: String,
    has_password: bool,
}

/// One open connection, with the runtime that drives it.
pub(super) struct Session {
    client: Option<Client>,
    connection: Option<tokio::task::JoinHandle<()>>,
    runtime: tokio::runtime::Runtime,
    peer: Peer,
}

/// A parameter list for [`Session`]'s queries.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// Connects to database `dbname` on the profile's server as its user, waiting at most `timeout_secs` for the
/// whole connection (TCP, TLS, authentication).
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
    let timeout = Duration::from_secs(u64::from(timeout_secs.max(1)));
    let mut config = tokio_postgres::Config::new();
    config
        .host(&cfg.host)
        .port(cfg.port)
        .user(&cfg.user)
        .dbname(dbname)
        .application_name("backstop")
        .options(OPTIONS)
        .connect_timeout(timeout)
        .keepalives(true)
        // No stored password: an empty one, so that a server asking for one answers with its own refusal
        // (28P01) rather than the client stopping short.
        .password(password.unwrap_or(""));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::ServerUnreachable {
            server: peer.server.clone(),
            detail: format!("cannot start the client's runtime: {e}"),
        })?;
    let opened = runtime.block_on(async {
        tokio::time::timeout(timeout, open(&mut config, &cfg.host, &cfg.sslmode)).await
    });
    let (client, connection) = match opened {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return Err(map_error(&e, &peer, true)),
        Err(_) => {
            return Err(Error::ServerUnreachable {
                server: peer.server.clone(),
                detail: format!("no answer within {} s", timeout.as_secs()),
            });
        }
    };
    Ok(Session {
        client: Some(client),
        connection: Some(connection),
        runtime,
        peer,
    })
}

/// Connects with `tls`, the connection running as a task of the current runtime.
async fn open_with<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> PgResult<(Client, tokio::task::JoinHandle<()>)>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        // Its end (the server closed it, or the client was dropped) shows in the client's next call.
        let _ = connection.await;
    });
    Ok((client, task))
}

/// Opens the connection with the TLS that `sslmode` asks for.
async fn open(
    config: &mut tokio_postgres::Config,
    host: &str,
    sslmode: &str,
) -> PgResult<(Client, tokio::task::JoinHandle<()>)> {
    // libpq never uses TLS over a Unix socket.
    if host.starts_with('/') {
        return open_with(config.ssl_mode(SslMode::Disable), NoTls).await;
    }
    let mode = match sslmode {
        "disable" => return open_with(config.ssl_mode(SslMode::Disable), NoTls).await,
        // A plain connection first; TLS when the server turns it away.
        "allow" => match open_with(config.ssl_mode(SslMode::Disable), NoTls).await {
            Err(e) if e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
                SslMode::Require
            }
            other => return other,
        },
        "prefer" => SslMode::Prefer,
        _ => SslMode::Require,
    };
    let verify = if sslmode == "allow" {
        tls::Verify::Nothing
    } else {
        tls::verify_for(sslmode)
    };
    match tls::client_config(verify) {
        Ok(rustls) => open_with(config.ssl_mode(mode), tls::MakeRustls::new(rustls)).await,
        // The roots cannot be loaded (`check_tls` says why first): never a plain connection in place of the
        // checks the user asked for.
        Err(_) => open_with(config.ssl_mode(SslMode::Require), NoTls).await,
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
        let client = self.client()?;
        self.runtime
            .block_on(client.batch_execute(sql))
            .map_err(|e| map_error(&e, &self.peer, false))
    }

    /// The rows of one query.
    pub(super) fn rows(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let client = self.client()?;
        self.runtime
            .block_on(client.query(sql, params))
            .map_err(|e| map_error(&e, &self.peer, false))
    }

    fn client(&self) -> Result<&Client> {
        self.client
            .as_ref()
            .ok_or_else(|| Error::ServerUnavailable {
                server: self.peer.server.clone(),
                reason: Unavailable::ConnectionLost,
                detail: "the session is closed".into(),
            })
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

impl Drop for Session {
    fn drop(&mut self) {
        // Without its client the connection says goodbye (Terminate) and ends; give it a moment to.
        drop(self.client.take());
        if let Some(connection) = self.connection.take() {
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(CLOSE_WAIT, connection).await });
        }
    }
}

/// The typed error for a failure of the client (`connecting`: while the connection was being made).
fn map_error(e: &tokio_postgres::Error, peer: &Peer, connecting: bool) -> Error {
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
fn describe(e: &tokio_postgres::Error) -> String {
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
