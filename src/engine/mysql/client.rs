//! The typed client for the small questions (preflight, versions, sizes, row counts, sessions, staging databases,
//! the swap): the `mysql` crate over rustls (ring), no system OpenSSL. Server error codes become typed errors.

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, SslOpts};
use std::time::Duration;

/// One connection to the server, with what its errors need to name.
pub(super) struct Client {
    conn: Conn,
    server: String,
    user: String,
    /// The database the connection was opened on, if any (for "unknown database").
    db: Option<String>,
}

/// How to reach a server, and how long to wait for it.
#[derive(Clone)]
pub(super) struct Target<'a> {
    pub cfg: &'a ServerConfig,
    pub password: Option<&'a str>,
    pub connect_timeout: Duration,
}

impl Target<'_> {
    /// `host:port` (or the socket path), for messages.
    pub(super) fn server(&self) -> String {
        if is_socket(&self.cfg.host) {
            self.cfg.host.clone()
        } else {
            format!("{}:{}", self.cfg.host, self.cfg.port)
        }
    }

    fn opts(&self, db: Option<&str>, ssl: Option<SslOpts>) -> OptsBuilder {
        let builder = OptsBuilder::new()
            .user(Some(self.cfg.user.clone()))
            .pass(self.password.map(str::to_string))
            .db_name(db.map(str::to_string))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(self.connect_timeout))
            .read_timeout(None)
            .ssl_opts(ssl)
            .init(vec!["SET NAMES utf8mb4"]);
        if is_socket(&self.cfg.host) {
            builder.socket(Some(self.cfg.host.clone()))
        } else {
            builder
                .ip_or_hostname(Some(self.cfg.host.clone()))
                .tcp_port(self.cfg.port)
        }
    }

    /// Connects, on `db` when given (which then must exist).
    pub(super) fn connect(&self, db: Option<&str>) -> Result<Client> {
        let mode = self.cfg.sslmode.as_str();
        let conn = match tls_options(mode) {
            Tls::Off => Conn::new(self.opts(db, None)),
            Tls::On(ssl) => Conn::new(self.opts(db, Some(ssl))),
            Tls::Prefer(ssl) => match Conn::new(self.opts(db, Some(ssl))) {
                Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)) => {
                    Conn::new(self.opts(db, None))
                }
                other => other,
            },
        };
        let mut client = Client {
            conn: conn.map_err(|e| classify(e, &self.server(), &self.cfg.user, db))?,
            server: self.server(),
            user: self.cfg.user.clone(),
            db: db.map(str::to_string),
        };
        // A swap must fail, never hang, behind another session's metadata lock.
        client.exec("SET SESSION lock_wait_timeout = 30")?;
        Ok(client)
    }
}

/// A host that is a socket path rather than a name or address.
pub(super) fn is_socket(host: &str) -> bool {
    host.starts_with('/')
}

enum Tls {
    Off,
    Prefer(SslOpts),
    On(SslOpts),
}

/// The profile's `sslmode` words (shared with PostgreSQL) in TLS options: `disable`/`allow` plain, `prefer` TLS when
/// the server offers it, `require` TLS without checking the certificate, `verify-ca` the certificate's chain,
/// `verify-full` also the host name.
fn tls_options(mode: &str) -> Tls {
    let lax = SslOpts::default()
        .with_danger_accept_invalid_certs(true)
        .with_danger_skip_domain_validation(true);
    match mode {
        "disable" | "allow" => Tls::Off,
        "require" => Tls::On(lax),
        "verify-ca" => Tls::On(SslOpts::default().with_danger_skip_domain_validation(true)),
        "verify-full" => Tls::On(SslOpts::default()),
        _ => Tls::Prefer(lax),
    }
}

/// Error codes meaning the account lacks a privilege.
const PRIVILEGE_CODES: &[u16] = &[1044, 1142, 1143, 1227, 1370, 1410, 1419];
/// Error codes meaning the server went away or is stopping.
const GONE_CODES: &[u16] = &[
    1053, 1077, 1078, 1079, 1080, 1152, 2002, 2003, 2005, 2006, 2013,
];

/// A `mysql` crate error as one of Backstop's: 1045 wrong password, 1049 unknown database, 1044/1142/1227/…
/// missing privilege, 1053/2002/2003/2005/… and connection failures unreachable, anything else the server's own
/// message.
pub(super) fn classify(e: mysql::Error, server: &str, user: &str, db: Option<&str>) -> Error {
    match e {
        mysql::Error::MySqlError(err) => {
            classify_code(err.code, &err.to_string(), server, user, db)
        }
        mysql::Error::IoError(io) => Error::ServerUnreachable {
            server: server.to_string(),
            detail: io.to_string(),
        },
        mysql::Error::DriverError(
            d @ (mysql::DriverError::ConnectTimeout
            | mysql::DriverError::CouldNotConnect(_)
            | mysql::DriverError::Timeout),
        ) => Error::ServerUnreachable {
            server: server.to_string(),
            detail: d.to_string(),
        },
        mysql::Error::TlsError(t) => Error::ServerUnreachable {
            server: server.to_string(),
            detail: format!(
                "TLS failed: {t}; check the profile's sslmode (verify-ca/verify-full need a certificate this machine trusts)"
            ),
        },
        other => Error::ToolFailed {
            tool: format!("the MySQL/MariaDB connection to {server}"),
            detail: other.to_string(),
        },
    }
}

/// A server error code and message as one of Backstop's errors.
pub(super) fn classify_code(
    code: u16,
    message: &str,
    server: &str,
    user: &str,
    db: Option<&str>,
) -> Error {
    match code {
        1045 | 1698 => Error::AuthFailed {
            server: server.to_string(),
            user: user.to_string(),
            detail: message.to_string(),
        },
        1049 => Error::RemoteDatabaseMissing {
            name: db
                .map(str::to_string)
                .or_else(|| quoted_name(message))
                .unwrap_or_default(),
            server: server.to_string(),
        },
        c if PRIVILEGE_CODES.contains(&c) => Error::PrivilegeMissing {
            server: server.to_string(),
            user: user.to_string(),
            detail: message.to_string(),
        },
        c if GONE_CODES.contains(&c) => Error::ServerUnreachable {
            server: server.to_string(),
            detail: if c == 1053 {
                format!("{message}: the server is shutting down")
            } else {
                message.to_string()
            },
        },
        _ => Error::ToolFailed {
            tool: format!("the MySQL/MariaDB server at {server}"),
            detail: message.to_string(),
        },
    }
}

/// The first `'…'` quoted part of a server message.
fn quoted_name(message: &str) -> Option<String> {
    let (_, rest) = message.split_once('\'')?;
    let (name, _) = rest.split_once('\'')?;
    Some(name.to_string())
}

impl Client {
    fn fail(&self, e: mysql::Error) -> Error {
        classify(e, &self.server, &self.user, self.db.as_deref())
    }

    /// Runs statements that return nothing.
    pub(super) fn exec(&mut self, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| self.fail(e))
    }

    /// Rows of text (NULL as None).
    pub(super) fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let rows: Vec<mysql::Row> = self.conn.query(sql).map_err(|e| self.fail(e))?;
        Ok(rows
            .into_iter()
            .map(|row| row.unwrap().into_iter().map(value_text).collect())
            .collect())
    }

    /// The first column of each row, NULL as "".
    pub(super) fn column(&mut self, sql: &str) -> Result<Vec<String>> {
        Ok(self
            .rows(sql)?
            .into_iter()
            .map(|r| r.into_iter().next().flatten().unwrap_or_default())
            .collect())
    }

    /// The first column of the first row.
    pub(super) fn value(&mut self, sql: &str) -> Result<Option<String>> {
        Ok(self.column(sql)?.into_iter().next())
    }

    /// A number from the first column of the first row (0 when NULL or absent).
    pub(super) fn number(&mut self, sql: &str) -> Result<u64> {
        Ok(self
            .value(sql)?
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// This connection's id (to leave it out of session lists).
    pub(super) fn id(&self) -> u32 {
        self.conn.connection_id()
    }
}

fn value_text(value: mysql::Value) -> Option<String> {
    match value {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        mysql::Value::Int(i) => Some(i.to_string()),
        mysql::Value::UInt(u) => Some(u.to_string()),
        mysql::Value::Float(f) => Some(f.to_string()),
        mysql::Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// An identifier in backquotes.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal (backslashes and quotes escaped, safe whatever the sql_mode).
pub fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_become_typed_errors() {
        let s = "127.0.0.1:3306";
        let e = |code| classify_code(code, "ERROR x", s, "app", Some("shop"));
        assert!(matches!(e(1045), Error::AuthFailed { .. }));
        assert!(matches!(e(1049), Error::RemoteDatabaseMissing { ref name, .. } if name == "shop"));
        for code in [1044, 1142, 1227] {
            assert!(matches!(e(code), Error::PrivilegeMissing { .. }), "{code}");
        }
        for code in [1053, 2002, 2003, 2005] {
            assert!(matches!(e(code), Error::ServerUnreachable { .. }), "{code}");
        }
        assert!(e(1053).to_string().contains("shutting down"));
        assert!(matches!(e(1146), Error::ToolFailed { .. }));
        let unnamed = classify_code(1049, "Unknown database 'gone'", s, "app", None);
        assert!(matches!(unnamed, Error::RemoteDatabaseMissing { ref name, .. } if name == "gone"));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
        assert_eq!(quote_literal("it's \\"), "'it''s \\\\'");
    }
}
