//! The PostgreSQL client tools: finding `pg_dump`, `pg_restore` and `psql` of a version that fits the server,
//! running them with the connection in their environment and the password in a temporary 0600 passfile (never in
//! argv, never in `PGPASSWORD`), and telling how they failed (their own error line, how they ended).

use super::PostgresEngine;
use crate::config::ServerConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The name prefix of the 0600 passfiles handed to the tools (`.pgpass-<pid>-<n>`).
pub const PASSFILE_PREFIX: &str = ".pgpass-";

/// Environment variable listing folders to search for the client tools instead of PATH and the usual places.
pub const TOOLS_ENV: &str = "BACKSTOP_PG_BIN";

/// The client tools of one PostgreSQL version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `pg_dump`.
    pub pg_dump: PathBuf,
    /// `pg_restore`.
    pub pg_restore: PathBuf,
    /// `psql`.
    pub psql: PathBuf,
    /// Their major version.
    pub major: u32,
    /// `pg_dump --version` output.
    pub version: String,
}

/// The folders searched for the client tools: `BACKSTOP_PG_BIN` if set, else PATH and the usual install folders.
pub fn tool_dirs() -> Vec<PathBuf> {
    if let Some(dirs) = std::env::var_os(TOOLS_ENV) {
        return std::env::split_paths(&dirs).collect();
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for pattern_root in [
        "/usr/lib/postgresql",
        "/usr/local/pgsql",
        "/opt/homebrew/opt",
    ] {
        if let Ok(entries) = std::fs::read_dir(pattern_root) {
            let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
            found.sort();
            dirs.extend(found);
        }
    }
    for prefix in ["/usr/pgsql-", "/Library/PostgreSQL/"] {
        for v in 10..=25 {
            dirs.push(PathBuf::from(format!("{prefix}{v}/bin")));
        }
    }
    dirs
}

/// Parses "pg_dump (PostgreSQL) 15.20 (Debian ...)" into 15.
pub fn parse_major(version_output: &str) -> Option<u32> {
    let number = version_output
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    number.split('.').next()?.parse().ok()
}

/// Picks the client tools for a server: the oldest installed major version that is not older than the server's
/// (pg_dump must be at least as new as the server). Pure over the candidates, for tests.
pub fn choose_tools(candidates: &[Tools], server_major: u32) -> Result<Tools> {
    if candidates.is_empty() {
        return Err(Error::ToolMissing {
            tool: "pg_dump".into(),
            hint: format!(
                "it was not found on PATH nor in /usr/lib/postgresql/*/bin; install the PostgreSQL client tools (for example `apt install postgresql-client`), or point {TOOLS_ENV} at the folder that holds pg_dump"
            ),
        });
    }
    let mut usable: Vec<&Tools> = candidates
        .iter()
        .filter(|t| t.major >= server_major)
        .collect();
    usable.sort_by_key(|t| t.major);
    match usable.first() {
        Some(tools) => Ok((*tools).clone()),
        None => {
            let newest = candidates.iter().map(|t| t.major).max().unwrap_or(0);
            Err(Error::ToolMissing {
                tool: "pg_dump".into(),
                hint: format!(
                    "the server runs PostgreSQL {server_major} but the newest pg_dump found is {newest}, which cannot dump it; install postgresql-client-{server_major}"
                ),
            })
        }
    }
}

fn installed_tools() -> Vec<Tools> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for dir in tool_dirs() {
        let pg_dump = dir.join("pg_dump");
        let pg_restore = dir.join("pg_restore");
        let psql = dir.join("psql");
        if !(pg_dump.is_file() && pg_restore.is_file() && psql.is_file()) {
            continue;
        }
        let real = std::fs::canonicalize(&pg_dump).unwrap_or(pg_dump.clone());
        if !seen.insert(real) {
            continue;
        }
        let Ok(output) = Command::new(&pg_dump)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
        else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if let Some(major) = parse_major(&version) {
            out.push(Tools {
                pg_dump,
                pg_restore,
                psql,
                major,
                version,
            });
        }
    }
    out
}

/// A temporary libpq password file (0600), removed on drop. Holds the only copy of the password on disk.
pub(super) struct PassFile {
    guard: Option<TempGuard>,
}

impl PassFile {
    pub(super) fn new(dir: &Path, cfg: &ServerConfig, password: Option<&str>) -> Result<PassFile> {
        let Some(password) = password else {
            return Ok(PassFile { guard: None });
        };
        if !dir.is_dir() {
            fsutil::create_private_dir(dir)?;
        }
        let escape = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        let guard = TempGuard::new(dir.join(format!(
            "{PASSFILE_PREFIX}{}-{}",
            std::process::id(),
            unique()
        )));
        let mut file = fsutil::create_private(guard.path())?;
        let line = format!("*:*:*:{}:{}\n", escape(&cfg.user), escape(password));
        file.write_all(line.as_bytes())
            .ctx("cannot write password file", guard.path())?;
        Ok(PassFile { guard: Some(guard) })
    }

    pub(super) fn path(&self) -> Option<&Path> {
        self.guard.as_ref().map(|g| g.path())
    }
}

pub(super) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl PostgresEngine {
    /// A command for a client tool with the connection in the environment (never in argv) and a passfile.
    pub(super) fn command(&self, program: &Path, dbname: &str, passfile: &PassFile) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env("PGHOST", &self.cfg.host)
            .env("PGPORT", self.cfg.port.to_string())
            .env("PGUSER", &self.cfg.user)
            .env("PGDATABASE", dbname)
            .env("PGSSLMODE", &self.cfg.sslmode)
            .env("PGCONNECT_TIMEOUT", self.connect_timeout.to_string())
            .env("PGAPPNAME", "backstop")
            // row_security=off: a table whose policies would hide rows (or run a policy function as this role)
            // is an error, never a silent part-copy.
            .env("PGOPTIONS", "-c statement_timeout=0 -c row_security=off");
        if let Some(roots) = super::tls::tools_root_file(&self.cfg.sslmode) {
            cmd.env("PGSSLROOTCERT", roots);
        }
        match passfile.path() {
            Some(path) => {
                cmd.env("PGPASSFILE", path);
            }
            None => {
                // No stored password: make sure libpq never reads one from a stray file. A path that does not
                // exist (in Backstop's private folder) rather than /dev/null, whose "not a plain file" warning
                // would stand in front of the real error.
                cmd.env(
                    "PGPASSFILE",
                    self.scratch.join(format!("{PASSFILE_PREFIX}none")),
                );
            }
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    pub(super) fn passfile(&self) -> Result<PassFile> {
        PassFile::new(&self.scratch, &self.cfg, self.password.as_deref())
    }

    /// A client tool's failure: its own error line (not a warning before it) and how it ended.
    pub(super) fn tool_failed(
        &self,
        tool: &str,
        stderr: &str,
        status: &std::process::ExitStatus,
    ) -> Error {
        let line = error_line(stderr);
        let detail = if line.is_empty() {
            status_text(status)
        } else {
            format!("{line} ({})", status_text(status))
        };
        Error::ToolFailed {
            tool: tool.to_string(),
            detail,
        }
    }

    /// The client tools matching the server (looked up once per engine; failures are not cached). The server's
    /// version comes through the client; a restore into a database that is gone asks the maintenance database.
    pub(super) fn tools(&self) -> Result<Tools> {
        if let Some(tools) = self.tools.get() {
            return Ok(tools.clone());
        }
        let installed = installed_tools();
        if installed.is_empty() {
            return choose_tools(&[], 0);
        }
        let major = match self.server_major(&self.cfg.dbname) {
            Err(Error::RemoteDatabaseMissing { .. }) => self.server_major(self.maintenance_db())?,
            other => other?,
        };
        let tools = choose_tools(&installed, major)?;
        let _ = self.tools.set(tools.clone());
        Ok(tools)
    }

    fn server_major(&self, dbname: &str) -> Result<u32> {
        let mut session = self.connect(dbname)?;
        let text: Option<String> =
            session.value("SELECT current_setting('server_version_num')", &[])?;
        let text = text.unwrap_or_default();
        let num: u32 = text.trim().parse().map_err(|_| Error::ServerError {
            server: self.server(),
            code: "-".into(),
            detail: format!("unexpected server_version_num '{text}'"),
        })?;
        Ok(num / 10000)
    }
}

/// The line that says what went wrong (`ERROR:`, `FATAL:`, the tool's own `error:`), not a warning printed
/// before it.
pub(super) fn error_line(text: &str) -> String {
    let text = without_noise(text);
    text.lines()
        .find(|l| {
            l.contains("ERROR:")
                || l.contains("FATAL:")
                || l.contains("error:")
                || l.contains("PANIC:")
        })
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| first_line(&text))
}

/// A tool's stderr without libpq's warnings about the password file, which say nothing about a failure.
fn without_noise(text: &str) -> String {
    text.lines()
        .filter(|l| !(l.contains("WARNING:") && l.contains("password file")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How a child process ended, for messages: "exit status 1", "killed by signal 9 (SIGKILL)".
pub(super) fn status_text(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "ended abnormally".to_string(),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_string()
}

/// Collects a child's stderr on a thread so that a full pipe never blocks it.
pub(super) fn drain_stderr(child: &mut Child) -> Option<std::thread::JoinHandle<String>> {
    let mut stderr = child.stderr.take()?;
    std::thread::Builder::new()
        .name("backstop-stderr".into())
        .spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
        .ok()
}

/// Ends a child process when dropped (a cancelled or failed job never leaves one behind).
pub(super) struct ChildGuard(pub(super) Option<Child>);

impl ChildGuard {
    pub(super) fn child(&mut self) -> Option<&mut Child> {
        self.0.as_mut()
    }

    pub(super) fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        match self.0.take() {
            Some(mut child) => child.wait(),
            None => Err(std::io::Error::other("no child")),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(major: u32) -> Tools {
        Tools {
            pg_dump: PathBuf::from(format!("/usr/lib/postgresql/{major}/bin/pg_dump")),
            pg_restore: PathBuf::from("pg_restore"),
            psql: PathBuf::from("psql"),
            major,
            version: format!("pg_dump (PostgreSQL) {major}.1"),
        }
    }

    #[test]
    fn tool_choice_cases() {
        assert_eq!(choose_tools(&[tools(15)], 15).unwrap().major, 15);
        assert_eq!(
            choose_tools(&[tools(17), tools(15), tools(16)], 15)
                .unwrap()
                .major,
            15,
            "the matching one"
        );
        assert_eq!(
            choose_tools(&[tools(17), tools(14)], 15).unwrap().major,
            17,
            "newer works, older does not"
        );
        let err = choose_tools(&[tools(13), tools(14)], 16)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("PostgreSQL 16")
                && err.contains("newest pg_dump found is 14")
                && err.contains("postgresql-client-16"),
            "{err}"
        );
        let err = choose_tools(&[], 15).unwrap_err().to_string();
        assert!(
            err.contains("not found") && err.contains("postgresql-client"),
            "{err}"
        );
    }

    #[test]
    fn tool_errors_keep_their_own_line_and_how_the_tool_ended() {
        let stopped = "WARNING:  password file \"/tmp/x\" has group or world access\n\
            pg_restore: error: could not execute query: FATAL:  terminating connection due to administrator command\n";
        assert_eq!(
            error_line(stopped),
            "pg_restore: error: could not execute query: FATAL:  terminating connection due to administrator command"
        );
        let down = "WARNING:  password file \"/dev/null\" is not a plain file\n\
            psql: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n";
        assert!(
            error_line(down).ends_with("Connection refused"),
            "{}",
            error_line(down)
        );
        let run = |script: &str| Command::new("sh").args(["-c", script]).status().unwrap();
        assert_eq!(
            status_text(&run("kill -9 $$")),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(status_text(&run("exit 3")), "exit status 3");
    }
}
