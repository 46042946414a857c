//! MySQL and MariaDB: `mariadb-dump` (or `mysqldump`) streamed into the archive, loaded with `mariadb` (or
//! `mysql`) into a staging database, checked, then swapped in by one atomic multi-table `RENAME TABLE` (see
//! `swap`). The `mysql` crate (rustls) answers the small questions: versions, sizes, row counts, sessions.
//!
//! The password never appears in argv or a child's environment: the tools get a 0600 option file (`tools`).
//! Row counts come from the dump stream itself (`rows`), so they are exactly what the dump holds; the schema hash
//! comes from `information_schema` before and after the dump, and a difference fails the backup.

mod client;
mod family;
mod import_boundary;
pub mod import_check;
mod rows;
mod schema;
mod scratch;
mod swap;
pub mod tools;

use super::{Engine, EngineDetails, RestoreOptions, StagedRestore, safe_name};
use crate::archive::{ArchiveReader, ArchiveWriter, DatabaseInfo};
use crate::config::ServerConfig;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::model::EngineKind;
use crate::progress::JobControl;
use client::{Client, Target, quote_ident, quote_literal};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tools::{OptionFile, Tools, Version};

pub use family::MysqlFamily;
pub use import_boundary::IMPORT_USER_PREFIX;
pub use rows::{Counting, RowCounter};
pub use scratch::scratch_pending;
pub use tools::{OPTION_FILE_PREFIX, TOOLS_ENV};

/// The first line Backstop puts before the dump: the database's character set and collation, which a restore
/// of a database that is gone needs (a dump without `--databases` does not record them).
const HEADER_PREFIX: &str = "-- Backstop: database default character set ";

/// A MySQL or MariaDB database.
pub struct MysqlEngine {
    cfg: ServerConfig,
    password: Option<String>,
    scratch: PathBuf,
    tools: OnceLock<Tools>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for MysqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlEngine")
            .field("cfg", &self.cfg)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl MysqlEngine {
    /// The engine for `cfg`; `scratch` holds temporary files (option files, dumps being restored).
    pub fn new(cfg: ServerConfig, password: Option<String>, scratch: PathBuf) -> Self {
        MysqlEngine {
            cfg,
            password,
            scratch,
            tools: OnceLock::new(),
            connect_timeout: Duration::from_secs(10),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            cfg: &self.cfg,
            password: self.password.as_deref(),
            connect_timeout: self.connect_timeout,
        }
    }

    fn server(&self) -> String {
        self.target().server()
    }

    fn connect(&self, db: Option<&str>) -> Result<Client> {
        self.target().connect(db)
    }

    fn server_version(client: &mut Client) -> Result<(Version, String)> {
        let text = client.value("SELECT VERSION()")?.unwrap_or_default();
        let version = tools::parse_server_version(&text).ok_or_else(|| Error::ToolFailed {
            tool: "the MySQL/MariaDB server".into(),
            detail: format!("unexpected version '{text}'"),
        })?;
        Ok((version, text))
    }

    /// The client tools matching the server (looked up once per engine; failures are not cached).
    fn tools_for(&self, client: &mut Client) -> Result<Tools> {
        if let Some(tools) = self.tools.get() {
            return Ok(tools.clone());
        }
        let (version, _) = Self::server_version(client)?;
        let tools = tools::choose_tools(&tools::installed_tools(), version)?;
        let _ = self.tools.set(tools.clone());
        Ok(tools)
    }

    fn option_file(&self, tools: &Tools) -> Result<OptionFile> {
        OptionFile::new(
            &self.scratch,
            &self.cfg,
            self.password.as_deref(),
            tools.version.family,
        )
    }

    fn tool_error(
        &self,
        tool: &Path,
        stderr: &str,
        status: &std::process::ExitStatus,
        db: &str,
    ) -> Error {
        let name = tool
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        tools::classify_stderr(
            &name,
            stderr,
            status,
            &self.server(),
            &self.cfg.user,
            Some(db),
        )
    }

    fn size_of(client: &mut Client, db: &str) -> Result<u64> {
        client.number(&format!(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {}",
            quote_literal(db)
        ))
    }

    /// The dump tool's arguments: one consistent transaction, every kind of object, binary data as hex, no
    /// `--databases` (the dump loads into any database name).
    fn dump_args(tools: &Tools) -> Vec<&'static str> {
        let mut args = vec![
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--skip-dump-date",
            "--no-tablespaces",
            "--add-drop-table",
            "--quick",
            "--max-allowed-packet=1G",
        ];
        if tools.version.family == tools::Family::MySql {
            args.push("--set-gtid-purged=OFF");
        }
        args
    }
}

/// A number for temporary names, unique in this process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How a child process ended, for messages: "exit status 1", "killed by signal 9".
fn status_text(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => "ended abnormally".to_string(),
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

    /// Waits for the child, ending it if the job is cancelled meanwhile.
    fn wait(mut self, job: &JobControl) -> Result<std::process::ExitStatus> {
        loop {
            let Some(child) = self.0.as_mut() else {
                return Err(Error::JobFailed("internal: no child".into()));
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.0 = None;
                    return Ok(status);
                }
                Ok(None) if job.cancel.is_cancelled() => return Err(Error::Cancelled),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => {
                    return Err(Error::ToolFailed {
                        tool: "a client tool".into(),
                        detail: e.to_string(),
                    });
                }
            }
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

/// The header line for a database's character set and collation.
fn header_line(charset: &str, collation: &str) -> String {
    format!("{HEADER_PREFIX}{charset} collate {collation}\n")
}

/// Reads the header line back: (character set, collation).
fn parse_header(line: &str) -> Option<(String, String)> {
    let rest = line.trim_end().strip_prefix(HEADER_PREFIX)?;
    let (charset, collation) = rest.split_once(" collate ")?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (ok(charset) && ok(collation)).then(|| (charset.to_string(), collation.to_string()))
}

impl Engine for MysqlEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Mysql
    }

    fn describe(&self) -> String {
        format!(
            "MySQL/MariaDB database {} on {}",
            self.cfg.dbname,
            self.server()
        )
    }

    fn describe_other(&self, database: &str) -> Option<String> {
        Some(format!(
            "a new MySQL/MariaDB database {database} on {}",
            self.server()
        ))
    }

    fn clean_scratch(&self) -> Vec<String> {
        self.clean_leftovers()
    }

    fn preflight(&self) -> Result<()> {
        let mut client = self.connect(Some(&self.cfg.dbname))?;
        self.tools_for(&mut client).map(|_| ())
    }

    fn size_bytes(&self) -> Result<u64> {
        let mut client = self.connect(Some(&self.cfg.dbname))?;
        Self::size_of(&mut client, &self.cfg.dbname)
    }

    fn table_counts(&self) -> Result<BTreeMap<String, u64>> {
        let mut client = self.connect(Some(&self.cfg.dbname))?;
        schema::table_counts(&mut client, &self.cfg.dbname)
    }

    fn details(&self) -> Result<EngineDetails> {
        let db = &self.cfg.dbname;
        let mut client = self.connect(Some(db))?;
        let (version, _) = Self::server_version(&mut client)?;
        let pairs = |rows: Vec<Vec<Option<String>>>| -> Vec<(String, u64)> {
            rows.into_iter()
                .filter_map(|r| {
                    let mut r = r.into_iter().map(Option::unwrap_or_default);
                    Some((r.next()?, r.next()?.parse().ok()?))
                })
                .collect()
        };
        let largest = pairs(client.rows(&format!(
            "SELECT TABLE_NAME, COALESCE(DATA_LENGTH + INDEX_LENGTH, 0) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = {} AND TABLE_TYPE <> 'VIEW' ORDER BY 2 DESC, 1 LIMIT 5",
            quote_literal(db)
        ))?);
        let kept_copies = pairs(client.rows(&format!(
            "SELECT s.SCHEMA_NAME, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) FROM information_schema.SCHEMATA s \
             LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME \
             WHERE LEFT(s.SCHEMA_NAME, {n}) = {p} GROUP BY s.SCHEMA_NAME ORDER BY 1",
            n = swap::copy_prefix(db).chars().count(),
            p = quote_literal(&swap::copy_prefix(db))
        ))?);
        let me = client.id();
        let sessions = client.number(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> {me}",
            quote_literal(db)
        ))?;
        Ok(EngineDetails {
            server_version: Some(version.to_string()),
            database_size: Some(Self::size_of(&mut client, db)?),
            largest_tables: largest,
            kept_copies,
            other_sessions: Some(sessions),
        })
    }

    fn drop_copy(&self, name: &str) -> Result<()> {
        let prefix = swap::copy_prefix(&self.cfg.dbname);
        if !name.starts_with(&prefix) || name.len() == prefix.len() {
            return Err(Error::Usage(format!(
                "{name} is not a copy kept by a restore of {}; refusing to drop it",
                self.cfg.dbname
            )));
        }
        let mut client = self.connect(None)?;
        if !schema::database_exists(&mut client, name)? {
            return Err(Error::Usage(format!(
                "there is no database {name} on {}; see the kept copies in the profile's statistics",
                self.server()
            )));
        }
        client.exec(&format!("DROP DATABASE {}", quote_ident(name)))
    }

    fn backup(
        &self,
        writer: &mut ArchiveWriter,
        _scratch: &Path,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        self.backup_replacing(writer, job, None)
    }

    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>> {
        if info.engine != EngineKind::Mysql {
            return Err(Error::Usage(format!(
                "this archive holds a {} database; the profile's database is MySQL/MariaDB",
                info.engine
            )));
        }
        let mut client = self.connect(None)?;
        let tools = self.tools_for(&mut client)?;
        let target = options
            .target_database
            .clone()
            .unwrap_or_else(|| self.cfg.dbname.clone());
        let target_exists = schema::database_exists(&mut client, &target)?;
        if options.target_database.is_some() && target_exists {
            return Err(Error::Usage(format!(
                "database {target} already exists on {}; choose a new name for --to-database",
                self.server()
            )));
        }
        let dump = self.extract_dump(reader, info, job)?;
        let (charset, collation) = read_header(dump.path())?;
        let staging = self.new_scratch_name("restore");
        let registration = self.register_scratch(&staging)?;
        let mut staged = MyStaged {
            engine: MysqlEngine::new(
                self.cfg.clone(),
                self.password.clone(),
                self.scratch.clone(),
            ),
            staging: Some(staging.clone()),
            registration: Some(registration),
            target,
            target_exists,
            terminate_sessions: options.terminate_sessions,
            validate_only: options.validate_only,
        };
        job.stage("creating staging database", None);
        let create = |charset: &str, collation: &str| {
            format!(
                "CREATE DATABASE {} CHARACTER SET {charset} COLLATE {collation}",
                quote_ident(&staging)
            )
        };
        // A collation this server lacks: its defaults for the character set, else the server's.
        client
            .exec(&create(&charset, &collation))
            .or_else(|_| {
                client.exec(&format!(
                    "CREATE DATABASE {} CHARACTER SET {charset}",
                    quote_ident(&staging)
                ))
            })
            .or_else(|_| client.exec(&format!("CREATE DATABASE {}", quote_ident(&staging))))?;
        job.stage("restoring into staging database", None);
        self.load(&tools, dump.path(), &staging, job)?;
        drop(dump);
        job.stage("checking staging database", None);
        let counts = schema::table_counts(&mut client, &staging)?;
        if counts != info.tables {
            let detail = super::sqlite::first_count_difference(&info.tables, &counts);
            return Err(Error::damaged(
                reader.path(),
                format!("the restored copy's row counts differ from the manifest: {detail}"),
            ));
        }
        if schema::schema_hash(&mut client, &staging)? != info.schema_sha256 {
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

impl MysqlEngine {
    /// The backup, with `definer` (an import's throwaway user, as the dump tool writes it) replaced by
    /// `DEFINER=CURRENT_USER` in the dump stream when given.
    fn backup_replacing(
        &self,
        writer: &mut ArchiveWriter,
        job: &JobControl,
        definer: Option<&[u8]>,
    ) -> Result<DatabaseInfo> {
        let db = &self.cfg.dbname;
        let mut client = self.connect(Some(db))?;
        let tools = self.tools_for(&mut client)?;
        let (version, _) = Self::server_version(&mut client)?;
        let size = Self::size_of(&mut client, db)?;
        for (table, engine) in schema::non_innodb_tables(&mut client, db)? {
            writer.warn(format!(
                "table {table} uses the {engine} engine, which a consistent dump cannot freeze: its rows may be \
                 from a slightly different moment than the other tables' (convert it to InnoDB to avoid this)"
            ));
        }
        let (charset, collation) =
            schema::charset_of(&mut client, db)?.ok_or_else(|| Error::RemoteDatabaseMissing {
                name: db.clone(),
                server: self.server(),
            })?;
        let before = schema::schema_hash(&mut client, db)?;

        job.stage("dumping database", Some(size));
        let options = self.option_file(&tools)?;
        let mut cmd = tools::command(&tools.dump, &options);
        cmd.args(Self::dump_args(&tools))
            .arg(db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: tools.dump.display().to_string(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        let Some(stdout) = guard.child().and_then(|c| c.stdout.take()) else {
            return Err(Error::ToolFailed {
                tool: "mariadb-dump".into(),
                detail: "no output pipe".into(),
            });
        };
        let name = safe_name(db);
        let entry = format!("database/{name}.sql");
        let header = header_line(&charset, &collation);
        let dump: Box<dyn Read> = match definer {
            Some(needle) => Box::new(import_boundary::Replacing::new(
                stdout,
                needle,
                b"DEFINER=CURRENT_USER",
            )),
            None => Box::new(stdout),
        };
        let mut counting = Counting::new(std::io::Cursor::new(header.into_bytes()).chain(dump));
        let copied = writer.add_stream(&entry, &mut counting, size, job, "dumping database");
        let counts = counting.finish();
        let status = guard.wait(job)?;
        drop(options);
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        let copied = copied?;
        if !status.success() {
            return Err(self.tool_error(&tools.dump, &stderr_text, &status, db));
        }
        if copied.bytes == 0 {
            return Err(Error::ToolFailed {
                tool: "mariadb-dump".into(),
                detail: "the dump is empty".into(),
            });
        }
        let after = schema::schema_hash(&mut client, db)?;
        if after != before {
            return Err(Error::JobFailed(format!(
                "the schema of {db} changed during the backup (a table, column, index, view, routine, trigger or event was altered); try again"
            )));
        }
        Ok(DatabaseInfo {
            engine: EngineKind::Mysql,
            engine_version: version.to_string(),
            name,
            entry,
            size_bytes: size,
            tables: counts,
            schema_sha256: before,
            tool_version: Some(tools.version_text.clone()),
            postgres: None,
        })
    }
}

impl MysqlEngine {
    /// Extracts the dump entry (its SHA-256 checked) into a private temporary file.
    fn extract_dump(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        job: &JobControl,
    ) -> Result<TempGuard> {
        if !self.scratch.is_dir() {
            fsutil::create_private_dir(&self.scratch)?;
        }
        let dump = TempGuard::new(self.scratch.join(format!(
            ".restore-{}-{}.sql{}",
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
        let mut out = fsutil::create_private(dump.path())?;
        reader.extract_entry(&info.entry, &mut out, dump.path(), job, "extracting dump")?;
        out.sync_all().ctx("cannot sync", dump.path())?;
        Ok(dump)
    }

    /// Loads a dump file into `db` with the client tool; any error fails the load. Archives and imported dumps
    /// come from anywhere, so the client runs with every guard it has against a dump's client commands.
    fn load(&self, tools: &Tools, dump: &Path, db: &str, job: &JobControl) -> Result<()> {
        let options = self.option_file(tools)?;
        let input = std::fs::File::open(dump).ctx("cannot read the extracted dump", dump)?;
        let mut cmd = tools::command(&tools.client, &options);
        // --binary-mode: no client command but DELIMITER and \\C; no file is read for LOAD DATA LOCAL; and
        // MariaDB's --sandbox, where the client has it, refuses anything reaching files or a shell.
        cmd.args([
            "--binary-mode",
            "--batch",
            "--local-infile=0",
            "--default-character-set=utf8mb4",
            "--max-allowed-packet=1G",
        ]);
        if import_boundary::client_has_sandbox(&tools.client) {
            cmd.arg("--sandbox");
        }
        cmd.arg(db)
            .stdin(Stdio::from(input))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: tools.client.display().to_string(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        let status = guard.wait(job)?;
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            let error = self.tool_error(&tools.client, &stderr_text, &status, db);
            return Err(match error {
                Error::ToolFailed { tool, detail } => Error::ToolFailed {
                    tool,
                    detail: format!(
                        "loading the dump into a staging database failed, the live database was not touched: {detail}"
                    ),
                },
                other => other,
            });
        }
        Ok(())
    }
}

/// The character set and collation from a dump's Backstop header (utf8mb4 defaults for a dump without one).
fn read_header(dump: &Path) -> Result<(String, String)> {
    let file = std::fs::File::open(dump).ctx("cannot read the extracted dump", dump)?;
    let mut line = String::new();
    let _ = std::io::BufReader::new(file.take(4096)).read_line(&mut line);
    Ok(parse_header(&line)
        .unwrap_or_else(|| ("utf8mb4".to_string(), "utf8mb4_general_ci".to_string())))
}

/// A checked staging database, waiting to be swapped into place. Dropping it drops the staging database.
struct MyStaged {
    engine: MysqlEngine,
    staging: Option<String>,
    registration: Option<scratch::Registration>,
    target: String,
    target_exists: bool,
    terminate_sessions: bool,
    validate_only: bool,
}

impl MyStaged {
    fn drop_staging(&mut self) {
        if let Some(staging) = self.staging.take() {
            self.engine.drop_scratch(&staging, self.registration.take());
        }
    }
}

impl Drop for MyStaged {
    fn drop(&mut self) {
        self.drop_staging();
    }
}

impl StagedRestore for MyStaged {
    fn describe(&self) -> String {
        let missing = if self.target_exists {
            ""
        } else {
            " (missing: the restore creates it)"
        };
        format!(
            "MySQL/MariaDB database {} on {}{missing}",
            self.target,
            self.engine.server()
        )
    }

    fn apply(mut self: Box<Self>, job: &JobControl) -> Result<Option<String>> {
        job.check()?;
        if self.validate_only {
            return Ok(None);
        }
        let (Some(staging), Some(registration)) = (self.staging.clone(), self.registration.take())
        else {
            return Err(Error::JobFailed(
                "internal: the staging database is gone".into(),
            ));
        };
        job.stage("swapping databases", None);
        let result = swap::swap(
            &self.engine,
            &staging,
            &self.target,
            self.terminate_sessions,
            registration,
        );
        // Whatever happened, the swap dropped the staging database or left it to its record.
        self.staging = None;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let line = header_line("utf8mb4", "utf8mb4_unicode_ci");
        assert_eq!(
            parse_header(&line),
            Some(("utf8mb4".into(), "utf8mb4_unicode_ci".into()))
        );
        assert_eq!(parse_header("-- MariaDB dump 10.19"), None);
        assert_eq!(
            parse_header(&header_line("utf8; DROP", "x")),
            None,
            "nothing but a name reaches CREATE DATABASE"
        );
    }
}
