//! The client tools: `mariadb-dump`/`mariadb` (else `mysqldump`/`mysql`), chosen to match the server's family and
//! version, and the 0600 option file that is their only way to the password.
//!
//! The option file goes first on the command line as `--defaults-file=` (not `--defaults-extra-file=`: with that
//! one a `~/.my.cnf` read after it could override the profile's password, host or user). It is named
//! `.mycnf-<pid>-<n>` in the engine's scratch folder, so that the start-up sweep (`leftovers`) removes it after a
//! crash, and it is removed as soon as its tool has run. Never `-p` on argv, never `MYSQL_PWD`.

use super::client::{classify_code, is_socket};
use crate::config::ServerConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable listing folders to search for the client tools instead of PATH.
pub const TOOLS_ENV: &str = "BACKSTOP_MYSQL_BIN";

/// The prefix of option files (password files) in the scratch folder.
pub const OPTION_FILE_PREFIX: &str = ".mycnf-";

/// Which server (or tool) family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// MariaDB.
    MariaDb,
    /// Oracle MySQL.
    MySql,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::MariaDb => "MariaDB",
            Family::MySql => "MySQL",
        })
    }
}

/// A version: family and (major, minor, patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// MariaDB or MySQL.
    pub family: Family,
    /// (major, minor, patch).
    pub number: (u32, u32, u32),
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b, c) = self.number;
        write!(f, "{} {a}.{b}.{c}", self.family)
    }
}

/// Reads `SELECT VERSION()` ("10.11.19-MariaDB-0+deb12u1", "8.0.36").
pub fn parse_server_version(text: &str) -> Option<Version> {
    let family = if text.contains("MariaDB") {
        Family::MariaDb
    } else {
        Family::MySql
    };
    Some(Version {
        family,
        number: parse_number(text)?,
    })
}

/// Reads a tool's `--version` line: "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for …",
/// "mariadb-dump from 11.4.2-MariaDB, client 10.19 …", "mysqldump  Ver 8.0.36 for Linux … (MySQL Community
/// Server - GPL)", "mysqldump  Ver 10.13 Distrib 5.7.44, for Linux".
pub fn parse_tool_version(text: &str) -> Option<Version> {
    let family = if text.contains("MariaDB") {
        Family::MariaDb
    } else {
        Family::MySql
    };
    let after = |marker: &str| text.split_once(marker).map(|(_, rest)| rest);
    let rest = after("Distrib ")
        .or_else(|| after(" from "))
        .or_else(|| after(" Ver "))?;
    Some(Version {
        family,
        number: parse_number(rest)?,
    })
}

/// The first `a.b.c` at the start of `text`.
fn parse_number(text: &str) -> Option<(u32, u32, u32)> {
    let token: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = token.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// One installed pair of tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `mariadb-dump` or `mysqldump`.
    pub dump: PathBuf,
    /// `mariadb` or `mysql`.
    pub client: PathBuf,
    /// The dump tool's version.
    pub version: Version,
    /// Its `--version` line.
    pub version_text: String,
}

impl Tools {
    fn dump_name(&self) -> String {
        file_name(&self.dump)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The folders searched: `BACKSTOP_MYSQL_BIN` if set, else PATH.
pub fn tool_dirs() -> Vec<PathBuf> {
    let var = std::env::var_os(TOOLS_ENV).or_else(|| std::env::var_os("PATH"));
    var.map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// Every installed pair, MariaDB names first in each folder (one entry per real dump binary).
pub fn installed_tools() -> Vec<Tools> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for dir in tool_dirs() {
        for (dump, client) in [("mariadb-dump", "mariadb"), ("mysqldump", "mysql")] {
            let (dump, client) = (dir.join(dump), dir.join(client));
            if !(dump.is_file() && client.is_file()) {
                continue;
            }
            let real = std::fs::canonicalize(&dump).unwrap_or(dump.clone());
            if !seen.insert(real) {
                continue;
            }
            let Ok(output) = Command::new(&dump)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if let Some(version) = parse_tool_version(&text) {
                out.push(Tools {
                    dump,
                    client,
                    version,
                    version_text: text,
                });
            }
        }
    }
    out
}

/// Picks the tools for a server: of the server's family, at least as new as the server (major.minor), the oldest
/// such. Pure over the candidates, for tests; each refusal is one message naming what to install.
pub fn choose_tools(candidates: &[Tools], server: Version) -> Result<Tools> {
    let package = match server.family {
        Family::MariaDb => "the MariaDB client (for example `apt install mariadb-client`)",
        Family::MySql => {
            "the MySQL client of the server's version (for example `apt install mysql-client`)"
        }
    };
    if candidates.is_empty() {
        return Err(Error::ToolMissing {
            tool: "mariadb-dump".into(),
            hint: format!(
                "mariadb-dump and mysqldump (with mariadb or mysql beside them) were not found on PATH; install {package}, or point {TOOLS_ENV} at the folder that holds them"
            ),
        });
    }
    let same: Vec<&Tools> = candidates
        .iter()
        .filter(|t| t.version.family == server.family)
        .collect();
    let Some(other) = same.is_empty().then(|| candidates.first()).flatten() else {
        let (smaj, smin, _) = server.number;
        let mut usable: Vec<&&Tools> = same
            .iter()
            .filter(|t| (t.version.number.0, t.version.number.1) >= (smaj, smin))
            .collect();
        usable.sort_by_key(|t| t.version.number);
        if let Some(tools) = usable.first() {
            return Ok((**tools).clone());
        }
        let newest = same.iter().map(|t| t.version).max_by_key(|v| v.number);
        let (tool, found) = match newest {
            Some(v) => (
                same.first().map(|t| t.dump_name()).unwrap_or_default(),
                v.to_string(),
            ),
            None => (String::new(), String::new()),
        };
        return Err(Error::ToolMissing {
            tool,
            hint: format!(
                "the server runs {server} but the newest dump tool found is from {found}, too old to dump it faithfully; install {package}"
            ),
        });
    };
    Err(Error::ToolMissing {
        tool: other.dump_name(),
        hint: format!(
            "it comes from {} ({}) but the server is {server}; a dump tool of the other family does not dump it faithfully; install {package}",
            other.version.family, other.version_text
        ),
    })
}

/// A temporary 0600 option file with the connection (and the password, if any); removed on drop.
pub(super) struct OptionFile {
    guard: TempGuard,
}

impl OptionFile {
    /// Writes the file into `dir` for `cfg`, for tools of `family`.
    pub(super) fn new(
        dir: &Path,
        cfg: &ServerConfig,
        password: Option<&str>,
        family: Family,
    ) -> Result<OptionFile> {
        if !dir.is_dir() {
            fsutil::create_private_dir(dir)?;
        }
        let guard = TempGuard::new(dir.join(format!(
            "{OPTION_FILE_PREFIX}{}-{}",
            std::process::id(),
            super::unique()
        )));
        let mut file = fsutil::create_private(guard.path())?;
        file.write_all(option_text(cfg, password, family).as_bytes())
            .ctx("cannot write the option file", guard.path())?;
        file.sync_all()
            .ctx("cannot write the option file", guard.path())?;
        Ok(OptionFile { guard })
    }

    /// The first argument every tool gets.
    pub(super) fn arg(&self) -> String {
        format!("--defaults-file={}", self.guard.path().display())
    }
}

/// The `[client]` group for a profile: connection, TLS and password (quoted and escaped).
fn option_text(cfg: &ServerConfig, password: Option<&str>, family: Family) -> String {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    };
    let mut text = String::from("[client]\n");
    text.push_str(&format!("user=\"{}\"\n", escape(&cfg.user)));
    if is_socket(&cfg.host) {
        text.push_str(&format!(
            "socket=\"{}\"\nprotocol=SOCKET\n",
            escape(&cfg.host)
        ));
    } else {
        text.push_str(&format!(
            "host=\"{}\"\nport={}\nprotocol=TCP\n",
            escape(&cfg.host),
            cfg.port
        ));
    }
    if let Some(password) = password {
        text.push_str(&format!("password=\"{}\"\n", escape(password)));
    }
    let tls = match (family, cfg.sslmode.as_str()) {
        (Family::MariaDb, "disable" | "allow") => "skip-ssl\n",
        (Family::MariaDb, "require") => "ssl\n",
        (Family::MariaDb, "verify-ca" | "verify-full") => "ssl\nssl-verify-server-cert\n",
        (Family::MariaDb, _) => "",
        (Family::MySql, "disable" | "allow") => "ssl-mode=DISABLED\n",
        (Family::MySql, "require") => "ssl-mode=REQUIRED\n",
        (Family::MySql, "verify-ca") => "ssl-mode=VERIFY_CA\n",
        (Family::MySql, "verify-full") => "ssl-mode=VERIFY_IDENTITY\n",
        (Family::MySql, _) => "ssl-mode=PREFERRED\n",
    };
    text.push_str(tls);
    text
}

/// A command for `program` with the option file first; the environment holds no password.
pub(super) fn command(program: &Path, options: &OptionFile) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg(options.arg())
        .env_remove("MYSQL_PWD")
        .env_remove("MYSQL_HOST")
        .env_remove("MYSQL_TCP_PORT")
        .env_remove("MYSQL_UNIX_PORT")
        .stdin(Stdio::null());
    cmd
}

/// A tool's failure as one of Backstop's errors: a server error code it printed is classified like the client's,
/// anything else carries the tool's own error line and how it ended.
pub(super) fn classify_stderr(
    tool: &str,
    stderr: &str,
    status: &std::process::ExitStatus,
    server: &str,
    user: &str,
    db: Option<&str>,
) -> Error {
    let line = error_line(stderr);
    if let Some(code) = error_code(&line) {
        let known = classify_code(code, &line, server, user, db);
        if !matches!(known, Error::ToolFailed { .. }) {
            return known;
        }
    }
    let how = super::status_text(status);
    Error::ToolFailed {
        tool: tool.to_string(),
        detail: if line.is_empty() {
            how
        } else {
            format!("{line} ({how})")
        },
    }
}

/// The line that says what went wrong (an `ERROR` or `Got error` line), else the first non-empty line.
pub(super) fn error_line(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("ERROR") || l.contains("error:") || l.contains("Got error"))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .trim()
        .chars()
        .take(2000)
        .collect()
}

/// The server error code in "ERROR 1045 (28000): …" or "Got error: 1049: …".
fn error_code(line: &str) -> Option<u16> {
    let rest = line
        .split_once("ERROR ")
        .or_else(|| line.split_once("Got error: "))?
        .1;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(family: Family, number: (u32, u32, u32)) -> Tools {
        Tools {
            dump: PathBuf::from(match family {
                Family::MariaDb => "/usr/bin/mariadb-dump",
                Family::MySql => "/usr/bin/mysqldump",
            }),
            client: PathBuf::from("/usr/bin/mariadb"),
            version: Version { family, number },
            version_text: format!("{family} {number:?}"),
        }
    }

    #[test]
    fn versions_are_read_from_every_form() {
        let v = parse_tool_version(
            "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)",
        )
        .unwrap();
        assert_eq!((v.family, v.number), (Family::MariaDb, (10, 11, 19)));
        let v =
            parse_tool_version("mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)")
                .unwrap();
        assert_eq!((v.family, v.number), (Family::MariaDb, (11, 4, 2)));
        let v = parse_tool_version(
            "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)",
        )
        .unwrap();
        assert_eq!((v.family, v.number), (Family::MySql, (8, 0, 36)));
        let v =
            parse_tool_version("mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)").unwrap();
        assert_eq!((v.family, v.number), (Family::MySql, (5, 7, 44)));
        let v = parse_server_version("10.11.19-MariaDB-0+deb12u1").unwrap();
        assert_eq!((v.family, v.number), (Family::MariaDb, (10, 11, 19)));
        assert_eq!(v.to_string(), "MariaDB 10.11.19");
        assert_eq!(parse_server_version("8.4.2").unwrap().family, Family::MySql);
        assert_eq!(parse_tool_version("nonsense"), None);
    }

    #[test]
    fn tool_choice_cases() {
        let maria = |n| Version {
            family: Family::MariaDb,
            number: n,
        };
        let mysql = |n| Version {
            family: Family::MySql,
            number: n,
        };
        let chosen = choose_tools(
            &[
                tools(Family::MariaDb, (11, 4, 2)),
                tools(Family::MariaDb, (10, 11, 19)),
            ],
            maria((10, 11, 5)),
        )
        .unwrap();
        assert_eq!(
            chosen.version.number,
            (10, 11, 19),
            "the oldest that is new enough"
        );
        let err = choose_tools(&[tools(Family::MariaDb, (10, 6, 1))], maria((10, 11, 5)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("too old") && err.contains("MariaDB 10.11.5"),
            "{err}"
        );
        let err = choose_tools(&[tools(Family::MySql, (8, 0, 36))], maria((10, 11, 5)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("other family") && err.contains("mariadb-client"),
            "{err}"
        );
        let err = choose_tools(&[tools(Family::MariaDb, (10, 11, 19))], mysql((8, 0, 36)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("other family") && err.contains("mysql-client"),
            "{err}"
        );
        let err = choose_tools(&[], maria((10, 11, 5)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not found") && err.contains(TOOLS_ENV),
            "{err}"
        );
    }

    #[test]
    fn option_file_text_quotes_the_password() {
        let cfg = ServerConfig {
            host: "db.example".into(),
            port: 3307,
            user: "app".into(),
            dbname: "shop".into(),
            sslmode: "require".into(),
            has_password: true,
            secret_store: Default::default(),
        };
        let text = option_text(&cfg, Some("p\"a\\ss#word"), Family::MariaDb);
        assert!(text.contains("password=\"p\\\"a\\\\ss#word\"\n"), "{text}");
        assert!(
            text.contains("port=3307\nprotocol=TCP\n") && text.contains("\nssl\n"),
            "{text}"
        );
        assert!(option_text(&cfg, None, Family::MySql).contains("ssl-mode=REQUIRED"));
    }

    #[test]
    fn error_codes_are_read_from_tool_output() {
        assert_eq!(
            error_code(
                "mariadb-dump: Got error: 1049: \"Unknown database 'x'\" when selecting the database"
            ),
            Some(1049)
        );
        assert_eq!(
            error_code("ERROR 1045 (28000): Access denied for user 'a'@'localhost'"),
            Some(1045)
        );
        assert_eq!(error_code("something else"), None);
    }
}
