//! Loading an untrusted SQLite SQL text dump into a fresh database.
//!
//! Understands the three dump flavours seen in the wild:
//!
//! * Python's `sqlite3.Connection.iterdump()` (`BEGIN TRANSACTION;` ... `COMMIT;`),
//! * the `sqlite3` shell's `.dump` (`PRAGMA foreign_keys=OFF;` first),
//! * django-dbbackup's `SqliteConnector`, which mimics iterdump but has no
//!   transaction and writes every index, trigger and view after *each* table,
//!   so some of those statements fail with "no such table" or "already exists".
//!   Such failures are tolerated as long as the object exists once the whole
//!   dump has run (see [`load_sql_dump`]).
//!
//! The input is read in chunks and cut into statements with a port of
//! SQLite's `sqlite3_complete()` state machine, so memory stays bounded by
//! [`Limits::max_statement_bytes`]. Each statement is checked twice before it
//! can touch anything: a keyword check refuses statements a dump never needs
//! (ATTACH, DETACH, VACUUM, unknown PRAGMAs, shell dot-commands, writes to the
//! schema table) and an SQLite authorizer refuses the same things from inside
//! SQLite, wherever they hide (triggers, VACUUM INTO's internal ATTACH, ...).
#![allow(
    clippy::indexing_slicing,
    reason = "a lexer walks its input by byte offsets it has just bounds-checked (`i < bytes.len()`); \
              fuzzed and case-tested, and its callers treat what it returns as untrusted"
)]

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

mod keywords;
mod splitter;

use keywords::{Lead, SchemaObject, Tokens, analyse, skip_insignificant};
use splitter::{Scan, Splitter};

/// Limits for one dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest statement (in bytes, including leading comments) the loader
    /// will buffer. Longer statements fail with [`SqlDumpError::TooLong`].
    pub max_statement_bytes: usize,
}

impl Default for Limits {
    /// 256 MiB per statement: far above any real row, far below a memory bomb.
    fn default() -> Self {
        Limits {
            max_statement_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Statements SQLite ran successfully (empty statements and tolerated
    /// django-dbbackup duplicates are not counted).
    pub statements: u64,
    /// Bytes read from the input.
    pub bytes: u64,
}

/// Why a dump could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SqlDumpError {
    /// A statement the loader will not run (ATTACH, DETACH, VACUUM, a PRAGMA
    /// not on the allow-list, load_extension(), a dot-command line, ...).
    /// `line` is the 1-based line where the statement starts; `statement` is
    /// its first ~80 chars.
    #[error("line {line}: refused to run `{statement}`: {reason}")]
    Refused {
        /// 1-based line where the statement starts.
        line: u64,
        /// The first ~80 characters of the statement.
        statement: String,
        /// What was refused and why.
        reason: String,
    },
    /// SQLite rejected a statement (syntax, constraint ...).
    #[error(
        "line {line}: SQLite rejected `{statement}`: {message}. The dump is damaged, \
         incomplete or was not written by SQLite"
    )]
    Sql {
        /// 1-based line where the statement starts (0: while preparing the database).
        line: u64,
        /// The first ~80 characters of the statement.
        statement: String,
        /// SQLite's error message.
        message: String,
    },
    /// A statement longer than the limit (a bomb or not a dump).
    #[error(
        "line {line}: a statement is longer than {limit} bytes; the file is damaged or \
         not a SQL dump"
    )]
    TooLong {
        /// 1-based line where the statement starts.
        line: u64,
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The text is not UTF-8 or not a SQL dump at all (e.g. binary input).
    #[error("line {line}: this is not a SQLite SQL dump: {reason}")]
    NotSql {
        /// 1-based line of the offending byte.
        line: u64,
        /// What was found instead.
        reason: String,
    },
    /// Reading the input failed (includes gzip truncation errors surfaced by
    /// the reader, and a dump that ends inside its transaction).
    #[error("could not read the SQL dump: {0}")]
    Io(#[from] io::Error),
    /// `progress` returned false.
    #[error("loading the SQL dump was cancelled")]
    Cancelled,
}

/// Runs every statement of `input` against `conn` (a fresh database the
/// caller created), one statement at a time.
///
/// Installs an authorizer on `conn` for the duration (replacing any the
/// caller had) and removes it afterwards. For the duration SQLite's
/// defensive mode is on and foreign-key enforcement is off (dumps list
/// tables by name, not in dependency order; a `PRAGMA foreign_keys` in the
/// dump still applies); both are put back afterwards.
/// `progress(bytes_read_so_far)` is called at least every MiB and after the
/// last statement; returning false cancels. `conn` is `&mut` because
/// rusqlite only installs authorizers through `&mut Connection`.
///
/// Refused outright: ATTACH, DETACH, VACUUM (VACUUM INTO writes a file
/// anywhere), PRAGMAs other than `foreign_keys`, `defer_foreign_keys`,
/// `user_version`, `application_id`, `encoding`, `page_size` and
/// `auto_vacuum`, sqlite3 shell dot-commands, the functions
/// `load_extension`, `readfile`, `writefile`, `edit` and `fts3_tokenizer`,
/// recursive WITH queries, and a bare `ROLLBACK` (the sqlite3 shell writes
/// it when making the dump failed). `PRAGMA writable_schema` and direct
/// writes to `sqlite_master`/`sqlite_schema` are refused as well: they edit
/// the schema table by hand and can corrupt the database. Dumps only contain
/// them for virtual tables (FTS, R*Tree), so such databases must be restored
/// from a file backup rather than an SQL dump.
///
/// Statements the dump runs outside a transaction (django-dbbackup writes no
/// BEGIN) are grouped into transactions by the loader, so they do not cost
/// one disk sync each. django-dbbackup's CREATE INDEX/TRIGGER/VIEW
/// statements that fail with "already exists" or "no such table" are
/// skipped if the object exists when the dump ends.
///
/// # Errors
///
/// See [`SqlDumpError`]. A dump that opens a transaction and never commits
/// it is reported as [`SqlDumpError::Io`] with `UnexpectedEof`. On any error
/// an open transaction is rolled back; the caller should discard the
/// database anyway.
pub fn load_sql_dump(
    input: &mut dyn BufRead,
    conn: &mut Connection,
    limits: &Limits,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<LoadReport, SqlDumpError> {
    let denials = Denials::default();
    let session = Session::open(conn, &denials)?;
    let mut loader = Loader::new(session.conn, limits, denials);
    let result = loader.run(input, progress);
    drop(session);
    result
}

/// Whether the first bytes of a file look like a SQLite SQL text dump
/// (iterdump / `.dump` / django-dbbackup output): after an optional BOM,
/// whitespace and comments it starts with `BEGIN TRANSACTION;`,
/// `PRAGMA foreign_keys=OFF;` followed by `BEGIN TRANSACTION;`, or
/// `CREATE TABLE`. False for PostgreSQL and MySQL/MariaDB dumps (recognised
/// by their header comments) and for binary data.
pub fn looks_like_sqlite_dump(head: &[u8]) -> bool {
    let Some(text) = utf8_prefix(head) else {
        return false;
    };
    if text.contains('\0') {
        return false;
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = skip_insignificant(text.as_bytes(), 0);
    if mentions_other_dbms(text.get(..first).unwrap_or(text)) {
        return false;
    }
    let words: Vec<String> = Tokens::new(text)
        .take(8)
        .map(|token| token.lowercase())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["begin", "transaction", ";", ..]
            | ["begin", ";", ..]
            | ["create", "table", ..]
            | [
                "pragma",
                "foreign_keys",
                "=",
                _,
                ";",
                "begin",
                "transaction",
                ";"
            ]
    )
}

// ---------------------------------------------------------------------------
// Policy: what a dump may contain.

/// PRAGMAs that dumps write and that cannot touch anything outside the database.
const ALLOWED_PRAGMAS: [&str; 7] = [
    "foreign_keys",
    "defer_foreign_keys",
    "user_version",
    "application_id",
    "encoding",
    "page_size",
    "auto_vacuum",
];

/// SQL functions that can load code or touch files (most only exist in the
/// sqlite3 shell, but a build that has them must not run them).
const DENIED_FUNCTIONS: [&str; 5] = [
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Names of the schema table; writing it by hand can corrupt the database.
const SCHEMA_TABLES: [&str; 4] = [
    "sqlite_master",
    "sqlite_schema",
    "sqlite_temp_master",
    "sqlite_temp_schema",
];

const DOT_COMMAND: &str = "this is a sqlite3 shell dot-command, not SQL; dot-commands such as \
     .shell, .system or .load can run programs, so they are never run";
const WRITABLE_SCHEMA: &str = "PRAGMA writable_schema and writes to sqlite_master/sqlite_schema \
     edit the schema table by hand and can corrupt the database; dumps only do this for \
     virtual tables (FTS, R*Tree), so restore such a database from a file backup instead";
const BARE_ROLLBACK: &str = "the dump rolls back its own transaction, so its data is \
     incomplete (the sqlite3 shell writes ROLLBACK when making the dump failed); make a new dump";

/// How often `progress` is called, in bytes read.
const PROGRESS_STEP: u64 = 1024 * 1024;

/// Most bytes split and run between two progress checks, however much the
/// reader hands over at once.
const SLICE: usize = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn pragma_allowed(name: &str) -> bool {
    ALLOWED_PRAGMAS.iter().any(|p| p.eq_ignore_ascii_case(name))
}

fn function_denied(name: &str) -> bool {
    DENIED_FUNCTIONS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

fn is_schema_table(name: &str) -> bool {
    SCHEMA_TABLES.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// What the authorizer denies, or `None` to allow. This is the second layer:
/// it sees every action SQLite is about to take, including the ATTACH that
/// VACUUM INTO runs internally and function calls inside trigger bodies.
fn authorizer_denial(action: AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Attach { filename } => Some(format!(
            "ATTACH of {filename:?} (opening another database file; VACUUM INTO does this too)"
        )),
        AuthAction::Detach { database_name } => Some(format!("DETACH of {database_name:?}")),
        AuthAction::Function { function_name } if function_denied(function_name) => Some(format!(
            "function {function_name}() (it can load code or touch files)"
        )),
        AuthAction::Pragma { pragma_name, .. } if !pragma_allowed(pragma_name) => Some(format!(
            "PRAGMA {pragma_name} (not one of the settings a dump needs)"
        )),
        AuthAction::Recursive => {
            Some("a recursive WITH query (a dump never needs one and it can run forever)".into())
        }
        _ => None,
    }
}

/// What the authorizer denied while the current statement was prepared or run.
#[derive(Clone, Default)]
struct Denials(Arc<Mutex<Option<String>>>);

impl Denials {
    fn record(&self, what: String) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(what);
    }

    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// Authorizer, defensive mode and foreign-key enforcement set up for a load;
/// all are put back, and an open transaction rolled back, when this is dropped.
struct Session<'c> {
    conn: &'c mut Connection,
    defensive_was: bool,
    foreign_keys_was: bool,
}

impl<'c> Session<'c> {
    fn open(conn: &'c mut Connection, denials: &Denials) -> Result<Self, SqlDumpError> {
        let defensive_was = conn
            .db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE)
            .map_err(setup_error)?;
        let foreign_keys_was = conn
            .db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY)
            .map_err(setup_error)?;
        let recorder = denials.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match authorizer_denial(ctx.action) {
                None => Authorization::Allow,
                Some(what) => {
                    recorder.record(what);
                    Authorization::Deny
                }
            }
        }))
        .map_err(setup_error)?;
        let session = Session {
            conn,
            defensive_was,
            foreign_keys_was,
        };
        session
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .map_err(setup_error)?;
        // Dumps list tables by name, not in dependency order, and were
        // consistent when made; the sqlite3 shell writes this pragma itself.
        session
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false)
            .map_err(setup_error)?;
        Ok(session)
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ = self
            .conn
            .authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        let _ = self
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, self.defensive_was);
        let _ = self
            .conn
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, self.foreign_keys_was);
    }
}

fn setup_error(error: rusqlite::Error) -> SqlDumpError {
    SqlDumpError::Sql {
        line: 0,
        statement: "(preparing the database for the load)".into(),
        message: error.to_string(),
    }
}

/// Whether a failed CREATE is an artefact of django-dbbackup's dump order:
/// the object was created already, or its table comes later in the dump.
fn is_order_artefact(object: &SchemaObject, message: &str) -> bool {
    message.ends_with("already exists")
        || (object.kind != "view" && message.starts_with("no such table:"))
}

/// The first ~80 characters of a statement, on one line.
fn excerpt(sql: &str) -> String {
    const MAX_CHARS: usize = 80;
    let start = skip_insignificant(sql.as_bytes(), 0);
    let text = sql.get(start..).unwrap_or(sql).trim_end();
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn sqlite_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

fn is_auth_error(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied)
}

/// Prepares exactly one statement (rusqlite refuses a tail that holds
/// another one) and steps it to the end, discarding any rows.
fn run_one(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// Why a binary-looking input is not a dump, for [`SqlDumpError::NotSql`].
fn describe_binary(start: &[u8], fallback: &str) -> String {
    if start.starts_with(b"SQLite format 3\0") {
        "this is a SQLite database file, not an SQL text dump; restore it as a database file".into()
    } else if start.starts_with(b"\x1f\x8b") {
        "the data is gzip-compressed; decompress it before loading".into()
    } else if start.starts_with(b"PK\x03\x04") {
        "this is a ZIP archive, not an SQL text dump".into()
    } else {
        fallback.into()
    }
}

/// The longest UTF-8 prefix, allowing a character cut off at the end; `None`
/// if there is an invalid byte.
fn utf8_prefix(bytes: &[u8]) -> Option<&str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

fn mentions_other_dbms(comments: &str) -> bool {
    ["PostgreSQL", "MySQL", "MariaDB", "/*!"]
        .iter()
        .any(|marker| comments.contains(marker))
}

/// Waits out `Interrupted` and returns the reader's buffered bytes (empty at EOF).
fn fill(input: &mut dyn BufRead) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
            Ok(_) => break,
        }
    }
    input.fill_buf()
}

// ---------------------------------------------------------------------------
// The load itself.

/// What happened to one cut statement.
enum Outcome {
    /// Ran, or was empty, or was a tolerated dbbackup artefact.
    Done,
    /// A `CASE ... END;` inside a trigger body fooled the splitter; read on.
    IncompleteTrigger,
}

/// A CREATE that failed as a dbbackup ordering artefact; it must exist by the end.
struct Deferred {
    line: u64,
    statement: String,
    message: String,
}

struct Loader<'c> {
    conn: &'c Connection,
    limit: usize,
    denials: Denials,
    splitter: Splitter,
    /// The statement being read; bytes up to `utf8_checked` are valid UTF-8.
    buf: Vec<u8>,
    utf8_checked: usize,
    bytes: u64,
    next_progress: u64,
    statements: u64,
    /// Whether the loader opened the current transaction (not the dump).
    own_transaction: bool,
    deferred: BTreeMap<(&'static str, String), Deferred>,
}

impl<'c> Loader<'c> {
    fn new(conn: &'c Connection, limits: &Limits, denials: Denials) -> Self {
        Loader {
            conn,
            limit: limits.max_statement_bytes,
            denials,
            splitter: Splitter::new(),
            buf: Vec::new(),
            utf8_checked: 0,
            bytes: 0,
            next_progress: PROGRESS_STEP,
            statements: 0,
            own_transaction: false,
            deferred: BTreeMap::new(),
        }
    }

    fn run(
        &mut self,
        input: &mut dyn BufRead,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<LoadReport, SqlDumpError> {
        self.skip_bom(input)?;
        loop {
            let chunk = fill(input)?;
            if chunk.is_empty() {
                break;
            }
            let len = chunk.len().min(SLICE);
            self.process_chunk(&chunk[..len])?;
            input.consume(len);
            self.bytes += len as u64;
            if self.bytes >= self.next_progress {
                self.next_progress = self.bytes + PROGRESS_STEP;
                if !progress(self.bytes) {
                    return Err(SqlDumpError::Cancelled);
                }
            }
        }
        self.finish_input()?;
        if !progress(self.bytes) {
            return Err(SqlDumpError::Cancelled);
        }
        Ok(LoadReport {
            statements: self.statements,
            bytes: self.bytes,
        })
    }

    fn skip_bom(&mut self, input: &mut dyn BufRead) -> io::Result<()> {
        if fill(input)?.starts_with(UTF8_BOM) {
            input.consume(UTF8_BOM.len());
            self.bytes += UTF8_BOM.len() as u64;
        }
        Ok(())
    }

    /// Splits a chunk into statements, running each one that completes.
    fn process_chunk(&mut self, chunk: &[u8]) -> Result<(), SqlDumpError> {
        let mut pos = 0;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            match self.splitter.scan(rest) {
                Scan::More => {
                    self.append(rest)?;
                    pos = chunk.len();
                }
                Scan::Cut(i) => {
                    self.append(&rest[..=i])?;
                    pos += i + 1;
                    self.finish_statement(false)?;
                }
                Scan::Nul(i) => {
                    self.buf.extend_from_slice(&rest[..=i]);
                    return Err(self.not_sql(
                        self.splitter.line,
                        "it contains a NUL byte, so it is binary data",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds bytes to the statement, enforcing the size limit and UTF-8.
    fn append(&mut self, bytes: &[u8]) -> Result<(), SqlDumpError> {
        if self.buf.len().saturating_add(bytes.len()) > self.limit {
            return Err(SqlDumpError::TooLong {
                line: self.splitter.start_line.unwrap_or(self.splitter.line),
                limit: self.limit,
            });
        }
        self.buf.extend_from_slice(bytes);
        match std::str::from_utf8(&self.buf[self.utf8_checked..]) {
            Ok(_) => self.utf8_checked = self.buf.len(),
            Err(e) if e.error_len().is_none() => self.utf8_checked += e.valid_up_to(),
            Err(e) => {
                let bad = self.utf8_checked + e.valid_up_to();
                let later_lines = self.buf[bad..].iter().filter(|&&b| b == b'\n').count();
                let line = self.splitter.line.saturating_sub(later_lines as u64);
                return Err(self.not_sql(line, "it is not UTF-8 text"));
            }
        }
        Ok(())
    }

    fn not_sql(&self, line: u64, fallback: &str) -> SqlDumpError {
        SqlDumpError::NotSql {
            line,
            reason: describe_binary(&self.buf, fallback),
        }
    }

    /// Runs the statement in `buf` (the splitter just cut it, or input ended).
    fn finish_statement(&mut self, at_eof: bool) -> Result<(), SqlDumpError> {
        let buf = std::mem::take(&mut self.buf);
        self.utf8_checked = 0;
        let Some(line) = self.splitter.start_line else {
            self.splitter.reset();
            return Ok(());
        };
        let sql = String::from_utf8(buf).map_err(|_| SqlDumpError::NotSql {
            line: self.splitter.line,
            reason: "the text ends in the middle of a UTF-8 character".into(),
        })?;
        match self.execute(&sql, line, at_eof)? {
            Outcome::Done => self.splitter.reset(),
            Outcome::IncompleteTrigger => {
                self.utf8_checked = sql.len();
                self.buf = sql.into_bytes();
                self.splitter.resume_in_trigger();
            }
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, line: u64, at_eof: bool) -> Result<Outcome, SqlDumpError> {
        let lead = analyse(sql).map_err(|reason| SqlDumpError::Refused {
            line,
            statement: excerpt(sql),
            reason,
        })?;
        if lead == Lead::Empty {
            return Ok(Outcome::Done);
        }
        self.manage_transaction(&lead, line)?;
        self.denials.take();
        match run_one(self.conn, sql) {
            Ok(()) => {
                self.statements += 1;
                Ok(Outcome::Done)
            }
            Err(error) => self.failure(error, sql, line, lead, at_eof),
        }
    }

    /// Groups statements the dump runs outside a transaction into one of the
    /// loader's, and ends it before the dump's own transaction control and
    /// PRAGMAs (some PRAGMAs do nothing inside a transaction).
    fn manage_transaction(&mut self, lead: &Lead, line: u64) -> Result<(), SqlDumpError> {
        match lead {
            Lead::Transaction | Lead::Pragma => {
                if self.own_transaction {
                    self.own_transaction = false;
                    self.internal("COMMIT", line)?;
                }
            }
            _ => {
                if self.conn.is_autocommit() {
                    self.internal("BEGIN", line)?;
                    self.own_transaction = true;
                }
            }
        }
        Ok(())
    }

    fn internal(&self, sql: &str, line: u64) -> Result<(), SqlDumpError> {
        self.conn
            .execute_batch(sql)
            .map_err(|error| SqlDumpError::Sql {
                line,
                statement: format!("{sql} (added by the loader)"),
                message: sqlite_message(&error),
            })
    }

    fn failure(
        &mut self,
        error: rusqlite::Error,
        sql: &str,
        line: u64,
        lead: Lead,
        at_eof: bool,
    ) -> Result<Outcome, SqlDumpError> {
        let refused = |reason: String| SqlDumpError::Refused {
            line,
            statement: excerpt(sql),
            reason,
        };
        if let Some(what) = self.denials.take() {
            return Err(refused(format!("not authorized: {what}")));
        }
        let message = sqlite_message(&error);
        if is_auth_error(&error) {
            return Err(refused(format!("not authorized: {message}")));
        }
        if matches!(error, rusqlite::Error::MultipleStatement) {
            return Err(refused(
                "the text holds more than one statement where one was expected".into(),
            ));
        }
        if message == "incomplete input" && self.splitter.saw_trigger && !at_eof {
            return Ok(Outcome::IncompleteTrigger);
        }
        if let Lead::CreateObject(object) = lead
            && is_order_artefact(&object, &message)
        {
            self.deferred
                .entry((object.kind, object.name.to_lowercase()))
                .or_insert(Deferred {
                    line,
                    statement: excerpt(sql),
                    message,
                });
            return Ok(Outcome::Done);
        }
        Err(SqlDumpError::Sql {
            line,
            statement: excerpt(sql),
            message,
        })
    }

    fn finish_input(&mut self) -> Result<(), SqlDumpError> {
        if self.splitter.finish() {
            self.finish_statement(true)?;
        }
        self.check_deferred()?;
        if self.own_transaction {
            self.own_transaction = false;
            self.internal("COMMIT", self.splitter.line)?;
        }
        if !self.conn.is_autocommit() {
            return Err(SqlDumpError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the dump ends at line {} inside its transaction (no COMMIT); the file is \
                     truncated, make or fetch a complete dump",
                    self.splitter.line
                ),
            )));
        }
        Ok(())
    }

    /// Every CREATE that failed as a dbbackup artefact must have succeeded later.
    fn check_deferred(&self) -> Result<(), SqlDumpError> {
        for ((kind, name), failed) in &self.deferred {
            let exists = self
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2 COLLATE NOCASE",
                    (kind, name),
                    |row| row.get::<_, i64>(0),
                )
                .map_err(|error| SqlDumpError::Sql {
                    line: failed.line,
                    statement: failed.statement.clone(),
                    message: sqlite_message(&error),
                })?;
            if exists == 0 {
                return Err(SqlDumpError::Sql {
                    line: failed.line,
                    statement: failed.statement.clone(),
                    message: failed.message.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
