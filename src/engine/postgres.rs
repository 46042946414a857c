//! PostgreSQL through the real client tools: `pg_dump -Fc` streamed into the archive, `pg_restore` into a staging
//! database, checked, then swapped in by rename. `psql` answers the small questions (versions, sizes, row counts).
//!
//! The password never appears in argv: children get a temporary 0600 passfile through `PGPASSFILE` (removed when
//! the job ends) and no `PGPASSWORD`. Row counts and the schema hash come from the same snapshot as the dump
//! (`pg_export_snapshot()` held open by a psql session, `pg_dump --snapshot`).

use super::{Engine, EngineDetails, RestoreOptions, StagedRestore, safe_name};
use crate::archive::{ArchiveReader, ArchiveWriter, DatabaseInfo};
use crate::config::ServerConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::model::EngineKind;
use crate::progress::JobControl;
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

mod family;
mod import_boundary;
mod recorded;
mod scram;
mod scratch;

pub use family::{PostgresFamily, SSL_MODES};
pub use scratch::{MARK as SCRATCH_MARK, parse_scratch_name, scratch_name, scratch_pending};

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
struct PassFile {
    guard: Option<TempGuard>,
}

impl PassFile {
    fn new(dir: &Path, cfg: &ServerConfig, password: Option<&str>) -> Result<PassFile> {
        let Some(password) = password else {
            return Ok(PassFile { guard: None });
        };
        if !dir.is_dir() {
            fsutil::create_private_dir(dir)?;
        }
        let escape = |s: &str| s.replace('\\', "\\\\").replace(':', "\\:");
        let guard =
            TempGuard::new(dir.join(format!(".pgpass-{}-{}", std::process::id(), unique())));
        let mut file = fsutil::create_private(guard.path())?;
        let line = format!("*:*:*:{}:{}\n", escape(&cfg.user), escape(password));
        file.write_all(line.as_bytes())
            .ctx("cannot write password file", guard.path())?;
        Ok(PassFile { guard: Some(guard) })
    }

    fn path(&self) -> Option<&Path> {
        self.guard.as_ref().map(|g| g.path())
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A PostgreSQL database reached through its client tools.
pub struct PostgresEngine {
    cfg: ServerConfig,
    password: Option<String>,
    scratch: PathBuf,
    tools: OnceLock<Tools>,
    /// `PGCONNECT_TIMEOUT` in seconds.
    connect_timeout: u32,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("cfg", &self.cfg)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The outcome of one `psql` or tool run.
struct Run {
    stdout: String,
}

impl PostgresEngine {
    /// The engine for `cfg`; `scratch` holds temporary files (passfiles, dumps being restored).
    pub fn new(cfg: ServerConfig, password: Option<String>, scratch: PathBuf) -> Self {
        PostgresEngine {
            cfg,
            password,
            scratch,
            tools: OnceLock::new(),
            connect_timeout: 10,
        }
    }

    fn server(&self) -> String {
        format!("{}:{}", self.cfg.host, self.cfg.port)
    }

    /// A command for a client tool with the connection in the environment (never in argv) and a passfile.
    fn command(&self, program: &Path, dbname: &str, passfile: &PassFile) -> Command {
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
        match passfile.path() {
            Some(path) => {
                cmd.env("PGPASSFILE", path);
            }
            None => {
                // No stored password: make sure libpq never reads one from a stray file. A path that does not
                // exist (in Backstop's private folder) rather than /dev/null, whose "not a plain file" warning
                // would stand in front of the real error.
                cmd.env("PGPASSFILE", self.scratch.join(".pgpass-none"));
            }
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn passfile(&self) -> Result<PassFile> {
        PassFile::new(&self.scratch, &self.cfg, self.password.as_deref())
    }

    /// Turns a client tool's failure into a message the user can act on, carrying the tool's own error line
    /// and how it ended (exit status or signal).
    fn classify(
        &self,
        tool: &str,
        dbname: &str,
        stderr: &str,
        status: Option<&std::process::ExitStatus>,
    ) -> Error {
        let text = without_noise(stderr);
        let text = text.trim();
        let lower = text.to_lowercase();
        if lower.contains("password authentication failed")
            || lower.contains("no password supplied")
        {
            Error::AuthFailed {
                server: self.server(),
                user: self.cfg.user.clone(),
                detail: error_line(text),
            }
        } else if lower.contains(&format!(
            "database \"{}\" does not exist",
            dbname.to_lowercase()
        )) {
            Error::RemoteDatabaseMissing {
                name: dbname.to_string(),
                server: self.server(),
            }
        } else if lower.contains("could not connect")
            || lower.contains("connection refused")
            || lower.contains("could not translate host name")
            || lower.contains("timeout expired")
            || lower.contains("no route to host")
        {
            Error::ServerUnreachable {
                server: self.server(),
                detail: error_line(text),
            }
        } else {
            let mut detail: String = text.chars().take(2000).collect();
            if let Some(status) = status {
                if detail.is_empty() {
                    detail = status_text(status);
                } else {
                    detail = format!("{detail} ({})", status_text(status));
                }
            }
            Error::ToolFailed {
                tool: tool.to_string(),
                detail,
            }
        }
    }

    /// The client tools matching the server (looked up once per engine; failures are not cached).
    fn tools(&self) -> Result<Tools> {
        if let Some(tools) = self.tools.get() {
            return Ok(tools.clone());
        }
        let installed = installed_tools();
        let Some(any) = installed.iter().max_by_key(|t| t.major).cloned() else {
            return choose_tools(&[], 0);
        };
        // Ask the server its version with whatever psql we have, then pick the matching pg_dump. A restore into
        // a database that is gone asks through the maintenance database.
        let major = match self.server_major_with(&any.psql, &self.cfg.dbname) {
            Err(Error::RemoteDatabaseMissing { .. }) => {
                self.server_major_with(&any.psql, self.maintenance_db())?
            }
            other => other?,
        };
        let tools = choose_tools(&installed, major)?;
        let _ = self.tools.set(tools.clone());
        Ok(tools)
    }

    fn server_major_with(&self, psql: &Path, dbname: &str) -> Result<u32> {
        let out = self.psql_with(psql, dbname, "SHOW server_version_num")?;
        let num: u32 = out.stdout.trim().parse().map_err(|_| Error::ToolFailed {
            tool: "psql".into(),
            detail: format!("unexpected server_version_num '{}'", out.stdout.trim()),
        })?;
        Ok(num / 10000)
    }

    fn psql_with(&self, psql: &Path, dbname: &str, sql: &str) -> Result<Run> {
        let passfile = self.passfile()?;
        let mut cmd = self.command(psql, dbname, &passfile);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        let output = cmd.output().map_err(|e| Error::ToolMissing {
            tool: "psql".into(),
            hint: format!("cannot run {}: {e}", psql.display()),
        })?;
        self.psql_result(dbname, output)
    }

    /// psql's output, or its failure classified (the tool's own error line, how it ended).
    fn psql_result(&self, dbname: &str, output: std::process::Output) -> Result<Run> {
        if !output.status.success() {
            return Err(self.classify(
                "psql",
                dbname,
                &String::from_utf8_lossy(&output.stderr),
                Some(&output.status),
            ));
        }
        Ok(Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        })
    }

    /// Runs SQL that must not be seen on a command line (it holds a role's SCRAM verifier) with psql against
    /// `dbname`: the text goes through psql's standard input, never argv.
    fn psql_private(&self, dbname: &str, sql: &str) -> Result<String> {
        let tools = self.tools()?;
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.psql, dbname, &passfile);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "psql".into(),
            hint: format!("cannot run {}: {e}", tools.psql.display()),
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A write error shows as psql's own failure below.
            let _ = std::io::Write::write_all(&mut stdin, sql.as_bytes());
        }
        let output = child
            .wait_with_output()
            .map_err(|e| Error::io("cannot wait for psql", &tools.psql, e))?;
        self.psql_result(dbname, output).map(|r| r.stdout)
    }

    /// Runs one SQL command with psql against `dbname`.
    fn psql(&self, dbname: &str, sql: &str) -> Result<String> {
        let tools = self.tools()?;
        self.psql_with(&tools.psql, dbname, sql).map(|r| r.stdout)
    }

    /// The maintenance database used to create, rename and drop databases.
    fn maintenance_db(&self) -> &'static str {
        "postgres"
    }

    fn counts_sql(tables: &[String]) -> String {
        if tables.is_empty() {
            return "SELECT 'none', 0 WHERE false".into();
        }
        tables
            .iter()
            .map(|t| {
                format!(
                    "SELECT {}, count(*) FROM {}",
                    quote_literal(t),
                    quote_qualified(t)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }

    fn table_counts_in(&self, dbname: &str) -> Result<BTreeMap<String, u64>> {
        let tables = parse_lines(&self.psql(dbname, TABLES_SQL)?);
        let counts = self.psql(dbname, &Self::counts_sql(&tables))?;
        Ok(parse_counts(&counts))
    }

    /// `pg_dump --schema-only` text, without the random `\restrict` keys, hashed.
    fn schema_hash(&self, dbname: &str, snapshot: Option<&str>) -> Result<String> {
        let tools = self.tools()?;
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_dump, dbname, &passfile);
        cmd.args(["--schema-only", "--no-owner", "--no-privileges"]);
        if let Some(snapshot) = snapshot {
            cmd.arg(format!("--snapshot={snapshot}"));
        }
        let output = cmd.output().map_err(|e| Error::ToolMissing {
            tool: "pg_dump".into(),
            hint: e.to_string(),
        })?;
        if !output.status.success() {
            return Err(self.classify(
                "pg_dump",
                dbname,
                &String::from_utf8_lossy(&output.stderr),
                Some(&output.status),
            ));
        }
        Ok(schema_text_hash(&String::from_utf8_lossy(&output.stdout)))
    }

    /// SQL that gives `to` the owner (when this role may grant it) and database-level settings of `from`.
    fn carry_over_sql(&self, from: &str, to: &str) -> Result<String> {
        let mut sql = String::new();
        let owner = self.psql(
            self.maintenance_db(),
            &format!(
                "SELECT pg_get_userbyid(datdba), pg_has_role(datdba, 'MEMBER') FROM pg_database WHERE datname = {}",
                quote_literal(from)
            ),
        )?;
        if let Some((name, member)) = owner.trim().split_once('|')
            && member == "t"
        {
            sql.push_str(&format!(
                "ALTER DATABASE {} OWNER TO {};",
                quote_ident(to),
                quote_ident(name)
            ));
        }
        let settings = self.psql(
            self.maintenance_db(),
            &format!(
                "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase \
                 WHERE d.datname = {} AND s.setrole = 0",
                quote_literal(from)
            ),
        )?;
        let settings: Vec<String> = settings.lines().map(str::to_string).collect();
        sql.push_str(&recorded::settings_sql(to, &settings));
        Ok(sql)
    }

    fn database_exists(&self, name: &str) -> Result<bool> {
        let out = self.psql(
            self.maintenance_db(),
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = {}",
                quote_literal(name)
            ),
        )?;
        Ok(out.trim() == "1")
    }

    /// A name for the copy a restore keeps of `target`, `<target>_pre_restore_<stamp>[_N]`, that no database has
    /// yet: a second restore (or a rollback) in the same second keeps its copy beside the first one's.
    fn free_copy_name(&self, target: &str) -> Result<String> {
        let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S");
        for n in 1..=100u32 {
            let suffix = match n {
                1 => format!("_pre_restore_{stamp}"),
                n => format!("_pre_restore_{stamp}_{n}"),
            };
            // The suffix is kept whole; a long database name gives way (names stop at 63 bytes).
            let name = truncate_to(target, 63 - suffix.len()) + &suffix;
            if !self.database_exists(&name)? {
                return Ok(name);
            }
        }
        Err(Error::JobFailed(format!(
            "every name for the copy of {target} kept by this restore is taken ({target}_pre_restore_{stamp}_…); \
             drop old copies and try again; nothing was changed"
        )))
    }
}

/// Ordinary and partitioned tables outside the system schemas, schema-qualified, one per line.
const TABLES_SQL: &str = "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1";

/// The line that says what went wrong (`ERROR:`, `FATAL:`, the tool's own `error:`), not a warning printed
/// before it.
fn error_line(text: &str) -> String {
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
fn status_text(status: &std::process::ExitStatus) -> String {
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

fn parse_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_counts(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (name, count) = line.rsplit_once('|')?;
            Some((name.to_string(), count.trim().parse().ok()?))
        })
        .collect()
}

/// A SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL identifier.
pub fn quote_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn quote_qualified(qualified: &str) -> String {
    match qualified.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(qualified),
    }
}

/// SHA-256 of schema text with pg_dump's random `\restrict`/`\unrestrict` lines and comments removed.
pub fn schema_text_hash(text: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("\\restrict")
            || trimmed.starts_with("\\unrestrict")
            || trimmed.starts_with("--")
            || trimmed.is_empty()
        {
            continue;
        }
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// A psql session holding a repeatable-read transaction open, so that pg_dump and the row counts see one snapshot.
struct SnapshotSession {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    _passfile: PassFile,
}

const END: &str = "__backstop_end__";

impl SnapshotSession {
    fn start(engine: &PostgresEngine, tools: &Tools) -> Result<(SnapshotSession, String)> {
        let passfile = engine.passfile()?;
        let mut cmd = engine.command(&tools.psql, &engine.cfg.dbname, &passfile);
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "psql".into(),
            hint: e.to_string(),
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::ToolFailed {
                tool: "psql".into(),
                detail: "no pipes".into(),
            });
        };
        let mut session = SnapshotSession {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            _passfile: passfile,
        };
        let lines = session.query(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();",
            engine,
        )?;
        let snapshot = lines.into_iter().next().ok_or_else(|| Error::ToolFailed {
            tool: "psql".into(),
            detail: "no snapshot id".into(),
        })?;
        Ok((session, snapshot))
    }

    /// Sends SQL and reads its output lines up to an end marker.
    fn query(&mut self, sql: &str, engine: &PostgresEngine) -> Result<Vec<String>> {
        let script = format!("{sql}\n\\echo {END}\n");
        if self
            .stdin
            .write_all(script.as_bytes())
            .and_then(|_| self.stdin.flush())
            .is_err()
        {
            return Err(self.failure(engine));
        }
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.failure(engine)),
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            if line == END {
                return Ok(lines);
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
    }

    fn failure(&mut self, engine: &PostgresEngine) -> Error {
        let _ = self.child.kill();
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let status = self.child.wait().ok();
        engine.classify("psql", &engine.cfg.dbname, &stderr, status.as_ref())
    }

    fn finish(mut self) {
        let _ = self.stdin.write_all(b"ROLLBACK;\n\\q\n");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

impl Drop for SnapshotSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Collects a child's stderr on a thread so that a full pipe never blocks it.
fn drain_stderr(child: &mut Child) -> Option<std::thread::JoinHandle<String>> {
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
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> Option<&mut Child> {
        self.0.as_mut()
    }

    fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
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

impl Engine for PostgresEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL database {} on {}",
            self.cfg.dbname,
            self.server()
        )
    }

    fn describe_other(&self, database: &str) -> Option<String> {
        Some(format!(
            "a new PostgreSQL database {database} on {}",
            self.server()
        ))
    }

    fn clean_scratch(&self) -> Vec<String> {
        self.clean_leftovers()
    }

    fn preflight(&self) -> Result<()> {
        self.tools()?;
        self.psql(&self.cfg.dbname, "SELECT 1").map(|_| ())
    }

    fn size_bytes(&self) -> Result<u64> {
        let out = self.psql(
            &self.cfg.dbname,
            "SELECT pg_database_size(current_database())",
        )?;
        Ok(out.trim().parse().unwrap_or(0))
    }

    fn table_counts(&self) -> Result<BTreeMap<String, u64>> {
        self.table_counts_in(&self.cfg.dbname)
    }

    fn details(&self) -> Result<EngineDetails> {
        let version = self
            .psql(&self.cfg.dbname, "SHOW server_version")?
            .trim()
            .to_string();
        let largest = self.psql(
            &self.cfg.dbname,
            "SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY 2 DESC, 1 LIMIT 5",
        )?;
        let prefix = format!("{}_pre_restore_", self.cfg.dbname);
        let copies = self.psql(
            self.maintenance_db(),
            &format!(
                "SELECT datname, pg_database_size(datname) FROM pg_database WHERE left(datname, {}) = {} ORDER BY 1",
                prefix.len(),
                quote_literal(&prefix)
            ),
        )?;
        let sessions = self.psql(
            self.maintenance_db(),
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = {}",
                quote_literal(&self.cfg.dbname)
            ),
        )?;
        let rows = |text: &str| -> Vec<(String, u64)> {
            text.lines()
                .filter_map(|line| {
                    let (name, n) = line.rsplit_once('|')?;
                    Some((name.to_string(), n.trim().parse().ok()?))
                })
                .collect()
        };
        Ok(EngineDetails {
            server_version: Some(version),
            database_size: self.size_bytes().ok(),
            largest_tables: rows(&largest),
            kept_copies: rows(&copies),
            other_sessions: sessions.trim().parse().ok(),
        })
    }

    fn drop_copy(&self, name: &str) -> Result<()> {
        let prefix = format!("{}_pre_restore_", self.cfg.dbname);
        if !name.starts_with(&prefix) {
            return Err(Error::Usage(format!(
                "{name} is not a copy kept by a restore of {}; refusing to drop it",
                self.cfg.dbname
            )));
        }
        self.psql(
            self.maintenance_db(),
            &format!("DROP DATABASE {}", quote_ident(name)),
        )
        .map(|_| ())
    }

    fn backup(
        &self,
        writer: &mut ArchiveWriter,
        _scratch: &Path,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        let tools = self.tools()?;
        job.stage("opening a snapshot", None);
        let (mut session, snapshot) = SnapshotSession::start(self, &tools)?;
        let version = session.query("SHOW server_version;", self)?.join(" ");
        let size: u64 = session
            .query("SELECT pg_database_size(current_database());", self)?
            .first()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let tables = session.query(&format!("{TABLES_SQL};"), self)?;
        let counts = parse_counts(
            &session
                .query(&format!("{};", Self::counts_sql(&tables)), self)?
                .join("\n"),
        );
        let database_settings = recorded::parse_settings(
            &session
                .query(
                    &format!("{}current_database();", recorded::SETTINGS_SQL),
                    self,
                )?
                .join(""),
        )?;
        let schema_sha256 = self.schema_hash(&self.cfg.dbname, Some(&snapshot))?;

        job.stage("dumping database", Some(size));
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_dump, &self.cfg.dbname, &passfile);
        cmd.args([
            "--format=custom",
            "--compress=0",
            &format!("--snapshot={snapshot}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "pg_dump".into(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        let Some(mut stdout) = guard.child().and_then(|c| c.stdout.take()) else {
            return Err(Error::ToolFailed {
                tool: "pg_dump".into(),
                detail: "no output pipe".into(),
            });
        };
        let name = safe_name(&self.cfg.dbname);
        let entry = format!("database/{name}.dump");
        let copied = writer.add_stream(&entry, &mut stdout, size, job, "dumping database");
        drop(stdout);
        let status = guard.wait().map_err(|e| Error::ToolFailed {
            tool: "pg_dump".into(),
            detail: e.to_string(),
        })?;
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        session.finish();
        let copied = copied?;
        if !status.success() {
            return Err(self.classify("pg_dump", &self.cfg.dbname, &stderr_text, Some(&status)));
        }
        if copied.bytes == 0 {
            return Err(Error::ToolFailed {
                tool: "pg_dump".into(),
                detail: "the dump is empty".into(),
            });
        }
        Ok(DatabaseInfo {
            engine: EngineKind::Postgres,
            engine_version: version,
            name,
            entry,
            size_bytes: size,
            tables: counts,
            schema_sha256,
            tool_version: Some(tools.version.clone()),
            postgres: database_settings,
        })
    }

    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>> {
        if info.engine != EngineKind::Postgres {
            return Err(Error::Usage(format!(
                "this archive holds a {} database; the profile's database is PostgreSQL",
                info.engine
            )));
        }
        let tools = self.tools()?;
        let target = options
            .target_database
            .clone()
            .unwrap_or_else(|| self.cfg.dbname.clone());
        let target_exists = self.database_exists(&target)?;
        if options.target_database.is_some() && target_exists {
            return Err(Error::Usage(format!(
                "database {target} already exists on {}; choose a new name for --to-database",
                self.server()
            )));
        }
        // pg_restore --jobs needs a seekable file: extract the dump first.
        if !self.scratch.is_dir() {
            fsutil::create_private_dir(&self.scratch)?;
        }
        let dump = TempGuard::new(self.scratch.join(format!(
            ".restore-{}-{}.dump{}",
            std::process::id(),
            unique(),
            fsutil::PARTIAL_SUFFIX
        )));
        let size = reader
            .manifest
            .entry(&info.entry)
            .map(|e| e.size)
            .unwrap_or(0);
        job.stage("extracting dump", Some(size));
        {
            let mut out = fsutil::create_private(dump.path())?;
            reader.extract_entry(&info.entry, &mut out, dump.path(), job, "extracting dump")?;
            out.sync_all().ctx("cannot sync", dump.path())?;
        }
        // A dump from a newer pg_dump than our pg_restore is refused before any database is touched.
        {
            let passfile = self.passfile()?;
            let mut cmd = self.command(&tools.pg_restore, &self.cfg.dbname, &passfile);
            cmd.arg("--list")
                .arg(dump.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let output = cmd.output().map_err(|e| Error::ToolMissing {
                tool: "pg_restore".into(),
                hint: e.to_string(),
            })?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let hint = if stderr.contains("unsupported version") {
                    format!(
                        "{}; this archive needs a newer pg_restore than {}",
                        error_line(&stderr),
                        tools.version
                    )
                } else {
                    error_line(&stderr)
                };
                return Err(Error::damaged(
                    reader.path(),
                    format!("the dump cannot be read by pg_restore: {hint}"),
                ));
            }
        }
        let staging = self.new_scratch_name("restore");
        // The owner and settings come from the live database when it is there, else from the manifest.
        let live_exists = if target == self.cfg.dbname {
            target_exists
        } else {
            self.database_exists(&self.cfg.dbname)?
        };
        let recorded = info.postgres.as_ref();
        let (carry, creation_note) = match (live_exists, recorded) {
            (true, _) => (Carry::Live, None),
            (false, Some(recorded)) => {
                let (sql, note) = self.recorded_carry_over_sql(recorded, &staging)?;
                (Carry::Recorded(sql), note)
            }
            (false, None) => (
                Carry::Nothing,
                Some(format!(
                    "the backup recorded no owner or settings (an older backup), so it gets the server's defaults and {} owns it",
                    self.cfg.user
                )),
            ),
        };
        let registration = self.register_scratch(&staging)?;
        job.stage("creating staging database", None);
        let maintenance = self.maintenance_db();
        let create = |recorded| import_boundary::create_database_sql(&staging, recorded, None);
        self.psql(maintenance, &create(recorded))
            .or_else(|e| match (recorded, &e) {
                // A locale this server lacks: its defaults.
                (Some(_), Error::ToolFailed { detail, .. })
                    if !detail.contains("permission denied") =>
                {
                    self.psql(maintenance, &create(None))
                }
                _ => Err(e),
            })
            .map_err(|e| {
                self.missing_right(
                    e,
                    "CREATEDB",
                    "create databases",
                    "a safe restore (a staging copy)",
                )
            })?;
        let mut staged = PgStaged {
            engine: PostgresEngine::new(
                self.cfg.clone(),
                self.password.clone(),
                self.scratch.clone(),
            ),
            staging: Some(staging.clone()),
            registration: Some(registration),
            target,
            creates: (!target_exists).then(|| match creation_note {
                Some(note) => format!("missing: the restore creates it; {note}"),
                None => "missing: the restore creates it".to_string(),
            }),
            carry,
            terminate_sessions: options.terminate_sessions,
            validate_only: options.validate_only,
        };
        job.stage("restoring into staging database", None);
        let jobs = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(2);
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_restore, &staging, &passfile);
        // Owners and grants come back as they were (a role missing on this server fails the restore in staging,
        // with pg_restore's message; the live database is not touched).
        cmd.args([
            "--exit-on-error",
            &format!("--jobs={jobs}"),
            "--dbname",
            &staging,
        ])
        .arg(dump.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "pg_restore".into(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        // Wait, checking cancel: a cancelled restore ends pg_restore and drops the staging database.
        loop {
            match guard.child().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) => break,
                Some(Ok(None)) => {
                    if job.cancel.is_cancelled() {
                        drop(guard);
                        return Err(Error::Cancelled);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => break,
            }
        }
        let status = guard.wait().map_err(|e| Error::ToolFailed {
            tool: "pg_restore".into(),
            detail: e.to_string(),
        })?;
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            return Err(Error::ToolFailed {
                tool: "pg_restore".into(),
                detail: format!(
                    "restoring into a staging database failed, the live database was not touched: {} ({})",
                    error_line(&stderr_text),
                    status_text(&status)
                ),
            });
        }
        job.stage("checking staging database", None);
        let counts = self.table_counts_in(&staging)?;
        if counts != info.tables {
            let detail = super::sqlite::first_count_difference(&info.tables, &counts);
            return Err(Error::damaged(
                reader.path(),
                format!("the restored copy's row counts differ from the manifest: {detail}"),
            ));
        }
        let schema = self.schema_hash(&staging, None)?;
        if schema != info.schema_sha256 {
            return Err(Error::damaged(
                reader.path(),
                "the restored copy's schema differs from the one recorded at backup time",
            ));
        }
        if options.validate_only {
            staged.drop_staging();
        }
        Ok(Box::new(staged))
    }
}

/// `name` cut to at most `max` bytes, at a character boundary.
fn truncate_to(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// Where a restored database's owner and settings come from.
enum Carry {
    /// The profile's live database.
    Live,
    /// The manifest's record (the live database is gone): SQL for the staging database.
    Recorded(String),
    /// Neither (an older backup of a database that is gone).
    Nothing,
}

/// A checked staging database, waiting to be renamed into place. Dropping it drops the staging database.
struct PgStaged {
    engine: PostgresEngine,
    staging: Option<String>,
    registration: Option<scratch::Registration>,
    target: String,
    /// Set when the target does not exist: what the user is told about its creation.
    creates: Option<String>,
    carry: Carry,
    terminate_sessions: bool,
    validate_only: bool,
}

impl PgStaged {
    fn drop_staging(&mut self) {
        if let Some(staging) = self.staging.take() {
            self.engine.drop_scratch(&staging, self.registration.take());
        }
    }
}

impl Drop for PgStaged {
    fn drop(&mut self) {
        self.drop_staging();
    }
}

impl StagedRestore for PgStaged {
    fn describe(&self) -> String {
        match &self.creates {
            Some(note) => format!(
                "PostgreSQL database {} on {} ({note})",
                self.target,
                self.engine.server()
            ),
            None => format!(
                "PostgreSQL database {} on {}",
                self.target,
                self.engine.server()
            ),
        }
    }

    fn apply(mut self: Box<Self>, job: &JobControl) -> Result<()> {
        job.check()?;
        if self.validate_only {
            return Ok(());
        }
        let Some(staging) = self.staging.clone() else {
            return Err(Error::JobFailed(
                "internal: the staging database is gone".into(),
            ));
        };
        let engine = &self.engine;
        let maintenance = engine.maintenance_db();
        let target = self.target.clone();
        job.stage("swapping databases", None);
        let exists = engine.database_exists(&target)?;
        let old_name = engine.free_copy_name(&target)?;
        // The database's own owner and settings (ALTER DATABASE ... SET) carry over to the restored one: from
        // the live database, or from the manifest when it is gone.
        let carry = match &self.carry {
            Carry::Live => engine.carry_over_sql(&engine.cfg.dbname, &staging)?,
            Carry::Recorded(sql) => sql.clone(),
            Carry::Nothing => String::new(),
        };
        if !carry.is_empty() {
            engine.psql(maintenance, &carry)?;
        }
        if exists {
            let others: u64 = engine
                .psql(maintenance, &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()",
                    quote_literal(&target)
                ))?
                .trim()
                .parse()
                .unwrap_or(0);
            if others > 0 && !self.terminate_sessions {
                return Err(Error::JobFailed(format!(
                    "{others} other session(s) are connected to {target}; close them (stop the application) or allow ending them with --terminate-sessions; nothing was changed"
                )));
            }
            if others > 0 {
                engine.psql(maintenance, &format!(
                    "ALTER DATABASE {t} ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {l} AND pid <> pg_backend_pid()",
                    t = quote_ident(&target),
                    l = quote_literal(&target)
                ))?;
            }
            let swap = format!(
                "BEGIN; ALTER DATABASE {t} RENAME TO {o}; ALTER DATABASE {s} RENAME TO {t}; COMMIT;",
                t = quote_ident(&target),
                o = quote_ident(&old_name),
                s = quote_ident(&staging)
            );
            let result = engine.psql(maintenance, &swap);
            if others > 0 {
                let name = if result.is_ok() { &old_name } else { &target };
                let _ = engine.psql(
                    maintenance,
                    &format!(
                        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                        quote_ident(name)
                    ),
                );
            }
            result?;
        } else {
            engine.psql(
                maintenance,
                &format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&staging),
                    quote_ident(&target)
                ),
            )?;
        }
        self.staging = None;
        if let Some(registration) = self.registration.take() {
            registration.dropped();
        }
        Ok(())
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

    #[test]
    fn parsing() {
        assert_eq!(
            parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(
            parse_counts("public.a|3\npublic.b|0\n"),
            BTreeMap::from([("public.a".into(), 3), ("public.b".into(), 0)])
        );
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let a = schema_text_hash(
            "\\restrict abc\nCREATE TABLE t (x int);\n-- comment\n\\unrestrict abc\n",
        );
        let b = schema_text_hash("\\restrict xyz\nCREATE TABLE t (x int);\n\\unrestrict xyz\n");
        assert_eq!(a, b, "random restrict keys do not change the schema hash");
        assert_eq!(truncate_to(&"x".repeat(80), 63).len(), 63);
    }
}
