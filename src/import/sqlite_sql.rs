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

// ---------------------------------------------------------------------------
// Statement splitting: a port of sqlite3_complete() (SQLite's complete.c)
// that is fed bytes as they arrive.

/// Tokens of complete.c, used as column index into [`TRANS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tk {
    Semi = 0,
    Ws = 1,
    Other = 2,
    Explain = 3,
    Create = 4,
    Temp = 5,
    Trigger = 6,
    End = 7,
}

/// States of complete.c: 0 INVALID, 1 START, 2 NORMAL, 3 EXPLAIN, 4 CREATE,
/// 5 TRIGGER, 6 SEMI, 7 END.
const START: u8 = 1;
const TRIGGER: u8 = 5;
const SEMI: u8 = 6;

/// complete.c's transition table: `TRANS[state][token]`.
const TRANS: [[u8; 8]; 8] = [
    //  SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
    [1, 0, 2, 3, 4, 2, 2, 2], // 0 INVALID
    [1, 1, 2, 3, 4, 2, 2, 2], // 1 START
    [1, 2, 2, 2, 2, 2, 2, 2], // 2 NORMAL
    [1, 3, 3, 2, 4, 2, 2, 2], // 3 EXPLAIN
    [1, 4, 2, 2, 2, 4, 5, 2], // 4 CREATE
    [6, 5, 5, 5, 5, 5, 5, 5], // 5 TRIGGER
    [6, 6, 5, 5, 5, 5, 5, 7], // 6 SEMI
    [1, 7, 5, 5, 5, 5, 5, 5], // 7 END
];

/// Where the byte-level lexer is between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Between,
    Word,
    Dash,
    Slash,
    LineComment,
    BlockComment,
    BlockStar,
    Quoted(u8),
    Bracket,
}

/// Result of scanning a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scan {
    /// The byte at this index ends a statement.
    Cut(usize),
    /// The byte at this index is NUL: binary data.
    Nul(usize),
    /// The statement continues past the slice.
    More,
}

/// Incremental `sqlite3_complete()`: finds where statements end.
#[derive(Debug)]
struct Splitter {
    state: u8,
    lex: Lex,
    word: [u8; 9],
    word_len: usize,
    /// Line of the next byte.
    line: u64,
    /// Line where the token being lexed began.
    token_line: u64,
    /// Line of the first token of the statement that is not whitespace or `;`.
    start_line: Option<u64>,
    /// Whether the statement went through CREATE TRIGGER.
    saw_trigger: bool,
}

impl Splitter {
    fn new() -> Self {
        Splitter {
            state: 0,
            lex: Lex::Between,
            word: [0; 9],
            word_len: 0,
            line: 1,
            token_line: 1,
            start_line: None,
            saw_trigger: false,
        }
    }

    fn scan(&mut self, bytes: &[u8]) -> Scan {
        for (i, &b) in bytes.iter().enumerate() {
            if b == 0 {
                return Scan::Nul(i);
            }
            let cut = self.feed(b);
            if b == b'\n' {
                self.line += 1;
            }
            if cut {
                return Scan::Cut(i);
            }
        }
        Scan::More
    }

    /// Feeds one byte; true when it completes a statement.
    fn feed(&mut self, b: u8) -> bool {
        match self.lex {
            Lex::Between => self.begin_token(b),
            Lex::Word if is_id_char(b) => {
                self.push_word(b);
                false
            }
            Lex::Word => {
                let token = self.word_token();
                self.end_token(token);
                self.begin_token(b)
            }
            Lex::Dash if b == b'-' => {
                self.lex = Lex::LineComment;
                false
            }
            Lex::Slash if b == b'*' => {
                self.lex = Lex::BlockComment;
                false
            }
            Lex::Dash | Lex::Slash => {
                self.end_token(Tk::Other);
                self.begin_token(b)
            }
            Lex::LineComment => b == b'\n' && self.end_token(Tk::Ws),
            Lex::BlockComment => {
                if b == b'*' {
                    self.lex = Lex::BlockStar;
                }
                false
            }
            Lex::BlockStar => match b {
                b'/' => self.end_token(Tk::Ws),
                b'*' => false,
                _ => {
                    self.lex = Lex::BlockComment;
                    false
                }
            },
            Lex::Quoted(quote) => b == quote && self.end_token(Tk::Other),
            Lex::Bracket => b == b']' && self.end_token(Tk::Other),
        }
    }

    fn begin_token(&mut self, b: u8) -> bool {
        self.token_line = self.line;
        match b {
            b';' => self.end_token(Tk::Semi),
            b' ' | b'\r' | b'\t' | b'\n' | 0x0c => self.end_token(Tk::Ws),
            b'-' => self.enter(Lex::Dash),
            b'/' => self.enter(Lex::Slash),
            b'[' => self.enter(Lex::Bracket),
            b'\'' | b'"' | b'`' => self.enter(Lex::Quoted(b)),
            _ if is_id_char(b) => {
                self.word_len = 0;
                self.push_word(b);
                self.enter(Lex::Word)
            }
            _ => self.end_token(Tk::Other),
        }
    }

    fn enter(&mut self, lex: Lex) -> bool {
        self.lex = lex;
        false
    }

    fn push_word(&mut self, b: u8) {
        if let Some(slot) = self.word.get_mut(self.word_len) {
            *slot = b.to_ascii_lowercase();
        }
        self.word_len = self.word_len.saturating_add(1);
    }

    fn word_token(&self) -> Tk {
        let Some(word) = self.word.get(..self.word_len) else {
            return Tk::Other;
        };
        match word {
            b"create" => Tk::Create,
            b"trigger" => Tk::Trigger,
            b"temp" | b"temporary" => Tk::Temp,
            b"end" => Tk::End,
            b"explain" => Tk::Explain,
            _ => Tk::Other,
        }
    }

    /// Applies a finished token; true when the statement is complete.
    fn end_token(&mut self, token: Tk) -> bool {
        self.lex = Lex::Between;
        if !matches!(token, Tk::Ws | Tk::Semi) && self.start_line.is_none() {
            self.start_line = Some(self.token_line);
        }
        let row = TRANS
            .get(usize::from(self.state))
            .copied()
            .unwrap_or_default();
        self.state = row.get(token as usize).copied().unwrap_or_default();
        if self.state == TRIGGER {
            self.saw_trigger = true;
        }
        self.state == START
    }

    /// At end of input: flushes a pending token; true when something other
    /// than whitespace and comments is left over.
    fn finish(&mut self) -> bool {
        match self.lex {
            Lex::Word => {
                let token = self.word_token();
                self.end_token(token);
            }
            Lex::Dash | Lex::Slash => {
                self.end_token(Tk::Other);
            }
            _ => {}
        }
        self.start_line.is_some()
    }

    /// Starts a new statement after a cut.
    fn reset(&mut self) {
        self.state = 0;
        self.start_line = None;
        self.saw_trigger = false;
    }

    /// The cut was a `CASE ... END;` inside a trigger body, not the trigger's
    /// END: keep going as if that `;` separated two body statements.
    fn resume_in_trigger(&mut self) {
        self.state = SEMI;
    }
}

/// SQLite's `IdChar()`: letters, digits, `_`, `$` and every non-ASCII byte.
fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

// ---------------------------------------------------------------------------
// Keyword check: a small tokenizer with SQLite's rules for whitespace,
// comments and quoting, used to read a statement's leading keywords.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Quoted(String),
    Punct(char),
}

impl Token<'_> {
    /// The name this token spells, if it can be an identifier.
    fn name(&self) -> Option<String> {
        match self {
            Token::Word(word) => Some((*word).to_string()),
            Token::Quoted(text) => Some(text.clone()),
            Token::Punct(_) => None,
        }
    }

    fn lowercase(&self) -> String {
        match self {
            Token::Word(word) => word.to_ascii_lowercase(),
            Token::Quoted(text) => text.to_ascii_lowercase(),
            Token::Punct(c) => c.to_string(),
        }
    }

    fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

#[derive(Clone)]
struct Tokens<'a> {
    sql: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a str) -> Self {
        Tokens { sql, pos: 0 }
    }

    /// The next token if it is `c`.
    fn eat_punct(&mut self, c: char) -> bool {
        let mut ahead = self.clone();
        let found = ahead.next() == Some(Token::Punct(c));
        if found {
            *self = ahead;
        }
        found
    }

    /// The next token if it is the keyword `keyword`.
    fn eat_word(&mut self, keyword: &str) -> bool {
        let mut ahead = self.clone();
        let found = ahead.next().is_some_and(|t| t.is_word(keyword));
        if found {
            *self = ahead;
        }
        found
    }

    /// The next word, lowercased ("" if none).
    fn next_word(&mut self) -> String {
        match self.next() {
            Some(Token::Word(word)) => word.to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    /// `name` or `schema.name`; returns the name.
    fn qualified_name(&mut self) -> Option<String> {
        let mut name = self.next()?.name()?;
        if self.eat_punct('.') {
            name = self.next()?.name()?;
        }
        Some(name)
    }

    fn quoted(&mut self, quote: u8) -> Token<'a> {
        let bytes = self.sql.as_bytes();
        let mut text = String::new();
        let mut i = self.pos + 1;
        let mut from = i;
        while i < bytes.len() {
            if bytes[i] == quote {
                text.push_str(self.sql.get(from..i).unwrap_or_default());
                if quote != b']' && bytes.get(i + 1) == Some(&quote) {
                    text.push(char::from(quote));
                    i += 2;
                    from = i;
                    continue;
                }
                self.pos = i + 1;
                return Token::Quoted(text);
            }
            i += 1;
        }
        text.push_str(self.sql.get(from..).unwrap_or_default());
        self.pos = bytes.len();
        Token::Quoted(text)
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        self.pos = skip_insignificant(bytes, self.pos);
        let b = *bytes.get(self.pos)?;
        let token = match b {
            b'\'' | b'"' | b'`' => self.quoted(b),
            b'[' => self.quoted(b']'),
            _ if is_id_char(b) => {
                let start = self.pos;
                let len = bytes[start..]
                    .iter()
                    .take_while(|&&c| is_id_char(c))
                    .count();
                self.pos = start + len;
                Token::Word(self.sql.get(start..self.pos).unwrap_or_default())
            }
            _ => {
                self.pos += 1;
                Token::Punct(char::from(b))
            }
        };
        Some(token)
    }
}

/// Skips SQLite whitespace (`\t\n\v\f\r` and space) and comments from `pos`.
fn skip_insignificant(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        match bytes.get(pos..).unwrap_or_default() {
            [b'\t'..=b'\r' | b' ', ..] => pos += 1,
            [b'-', b'-', ..] => {
                pos += bytes[pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len() - pos, |n| n + 1);
            }
            [b'/', b'*', ..] => {
                pos += bytes[pos + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len() - pos, |n| n + 4);
            }
            _ => return pos,
        }
    }
}

/// What a statement is, judged by its leading keywords.
#[derive(Debug, PartialEq, Eq)]
enum Lead {
    /// Only whitespace, comments and `;`: nothing to run.
    Empty,
    /// BEGIN, COMMIT, END, SAVEPOINT, RELEASE, ROLLBACK TO.
    Transaction,
    /// An allowed PRAGMA.
    Pragma,
    /// CREATE INDEX/TRIGGER/VIEW, which django-dbbackup repeats.
    CreateObject(SchemaObject),
    /// Anything else.
    Other,
}

/// An index, trigger or view named by a CREATE statement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SchemaObject {
    kind: &'static str,
    name: String,
}

/// The keyword check: the first layer. `Err` holds the reason for refusing.
fn analyse(sql: &str) -> Result<Lead, String> {
    let mut tokens = Tokens::new(sql);
    let mut keyword = match tokens.next() {
        None | Some(Token::Punct(';')) => return Ok(Lead::Empty),
        Some(Token::Punct('.')) => return Err(DOT_COMMAND.into()),
        Some(Token::Word(word)) => word.to_ascii_lowercase(),
        Some(_) => return Ok(Lead::Other),
    };
    if keyword == "explain" {
        keyword = tokens.next_word();
        if keyword == "query" {
            tokens.next();
            keyword = tokens.next_word();
        }
    }
    match keyword.as_str() {
        "attach" => {
            Err("ATTACH opens or creates another database file; a dump never needs it".into())
        }
        "detach" => Err("DETACH is not part of a dump".into()),
        "vacuum" => Err(
            "VACUUM is not part of a dump (VACUUM INTO would write a copy of the database to \
             any path)"
                .into(),
        ),
        "pragma" => pragma_lead(&mut tokens),
        "rollback" => rollback_lead(&mut tokens),
        "begin" | "commit" | "end" | "savepoint" | "release" => Ok(Lead::Transaction),
        "insert" | "replace" | "update" | "delete" => {
            write_target_check(&keyword, &mut tokens).map(|()| Lead::Other)
        }
        "create" => Ok(create_lead(&mut tokens)),
        _ => Ok(Lead::Other),
    }
}

fn pragma_lead(tokens: &mut Tokens<'_>) -> Result<Lead, String> {
    let Some(name) = tokens.qualified_name() else {
        return Err("a PRAGMA without a readable name".into());
    };
    if name.eq_ignore_ascii_case("writable_schema") {
        return Err(WRITABLE_SCHEMA.into());
    }
    if pragma_allowed(&name) {
        return Ok(Lead::Pragma);
    }
    Err(format!(
        "PRAGMA {name} is not one of the settings a dump needs (allowed: {})",
        ALLOWED_PRAGMAS.join(", ")
    ))
}

fn rollback_lead(tokens: &mut Tokens<'_>) -> Result<Lead, String> {
    tokens.eat_word("transaction");
    if tokens.eat_word("to") {
        Ok(Lead::Transaction)
    } else {
        Err(BARE_ROLLBACK.into())
    }
}

/// Refuses INSERT/REPLACE/UPDATE/DELETE whose target is the schema table.
fn write_target_check(verb: &str, tokens: &mut Tokens<'_>) -> Result<(), String> {
    if tokens.eat_word("or") {
        tokens.next();
    }
    let preposition = match verb {
        "insert" | "replace" => Some("into"),
        "delete" => Some("from"),
        _ => None,
    };
    if let Some(word) = preposition
        && !tokens.eat_word(word)
    {
        return Ok(());
    }
    match tokens.qualified_name() {
        Some(table) if is_schema_table(&table) => Err(WRITABLE_SCHEMA.into()),
        _ => Ok(()),
    }
}

fn create_lead(tokens: &mut Tokens<'_>) -> Lead {
    let mut word = tokens.next_word();
    if word == "unique" {
        word = tokens.next_word();
    }
    let kind = match word.as_str() {
        "index" => "index",
        "trigger" => "trigger",
        "view" => "view",
        _ => return Lead::Other,
    };
    if tokens.eat_word("if") {
        tokens.eat_word("not");
        tokens.eat_word("exists");
    }
    match tokens.qualified_name() {
        Some(name) => Lead::CreateObject(SchemaObject { kind, name }),
        None => Lead::Other,
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
mod tests {
    use super::*;
    use rusqlite::types::Value;
    use std::io::{BufReader, Cursor};
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// Makes a database with foreign keys, an index, a view, a two-statement
    /// trigger, awkward text, blobs, NULLs, an oddly named table, 10k rows,
    /// sqlite_sequence and sqlite_stat1.
    const MAKE_DB: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.executescript('''
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL);
CREATE TABLE child(id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE,
    body TEXT, data BLOB, score REAL, n INTEGER);
CREATE TABLE audit(id INTEGER PRIMARY KEY, child_id INTEGER REFERENCES child(id), note TEXT);
CREATE TABLE "odd ""name""" ("col; 1" TEXT, [col 2] INTEGER, `col'3` BLOB);
CREATE INDEX child_parent ON child(parent_id, score);
CREATE VIEW child_summary AS
    SELECT p.name, count(c.id) AS n, total(c.score) AS total
    FROM parent p LEFT JOIN child c ON c.parent_id = p.id GROUP BY p.id;
CREATE TRIGGER child_audit AFTER INSERT ON child BEGIN
    INSERT INTO audit(child_id, note) VALUES (new.id, 'inserted; id=' || new.id);
    UPDATE parent SET created = coalesce(created, 0) + 1 WHERE id = new.parent_id;
END;
''')
texts = ["plain", "semi;colon", "it's quoted", 'double "quote"', "two\nlines\r\nand CRLF",
         "unicode \u017c\u00f3\u0142\u0107 \u65e5\u672c\u8a9e \U0001f389", "", "-- not a comment",
         "/* not a comment */", "END; CREATE TRIGGER x", "BEGIN TRANSACTION;", "back\\slash",
         "tab\there", "x'00'"]
con.executemany("INSERT INTO parent(id, name, created) VALUES (?, ?, ?)",
    [(i, "parent %d %s" % (i, texts[i % len(texts)]), None if i % 3 else i / 7) for i in range(1, 101)])
rows = []
for i in range(10000):
    body = None if i % 11 == 0 else texts[i % len(texts)] + str(i)
    data = None if i % 5 == 0 else bytes((i * 7 + k) % 256 for k in range(i % 40))
    score = None if i % 13 == 0 else i * 0.1 - 333.3
    n = [0, -1, 2**63 - 1, -2**63, i * i][i % 5]
    rows.append((i % 100 + 1, body, data, score, n))
con.executemany("INSERT INTO child(parent_id, body, data, score, n) VALUES (?, ?, ?, ?, ?)", rows)
con.executemany('INSERT INTO "odd ""name""" VALUES (?, ?, ?)',
    [(texts[i % len(texts)], i, bytes([i])) for i in range(50)])
con.execute("DELETE FROM child WHERE id % 1000 = 0")
con.execute("ANALYZE")
con.commit()
"#;

    /// Writes `iterdump()` output, one statement per line, as Python users do.
    const ITERDUMP: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
with open(sys.argv[2], 'w', encoding='utf-8', newline='\n') as f:
    for line in con.iterdump():
        f.write('%s\n' % line)
"#;

    /// Writes the format of django-dbbackup's SqliteConnector: no transaction,
    /// CREATE TABLE IF NOT EXISTS, and every index/trigger/view after each table.
    const DBBACKUP_DUMP: &str = r#"
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
out = open(sys.argv[2], 'wb')
tables = con.execute("SELECT name, type, sql FROM sqlite_master "
                     "WHERE sql NOT NULL AND type == 'table' ORDER BY name").fetchall()
others = con.execute("SELECT name, type, sql FROM sqlite_master "
                     "WHERE sql NOT NULL AND type IN ('index', 'trigger', 'view')").fetchall()
for name, _, sql in tables:
    if name.startswith('sqlite_'):
        continue
    sql = sql.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS')
    sql = sql.replace('\n    ', '').replace('\n)', ')')
    out.write(('%s;\n' % sql).encode())
    ident = name.replace('"', '""')
    cols = [str(r[1]) for r in con.execute('PRAGMA table_info("%s")' % ident)]
    values = ",".join("'||quote(\"%s\")||'" % c.replace('"', '""') for c in cols)
    q = "SELECT 'INSERT INTO \"%s\" VALUES(%s)' FROM \"%s\"" % (ident, values, ident)
    for (row,) in con.execute(q):
        out.write(('%s;\n' % row).encode())
    for _, _, other in others:
        if other.startswith('CREATE INDEX'):
            other = other.replace('CREATE INDEX', 'CREATE INDEX IF NOT EXISTS')
        out.write(('%s;\n' % other).encode())
"#;

    /// For each case on stdin (separated by \x1e), prints the byte length of
    /// the shortest prefix sqlite3_complete() accepts, or -1.
    const COMPLETE: &str = r#"
import sqlite3, sys
for case in sys.stdin.buffer.read().decode('utf-8').split('\x1e'):
    found = -1
    for i in range(1, len(case) + 1):
        if sqlite3.complete_statement(case[:i]):
            found = len(case[:i].encode('utf-8'))
            break
    print(found)
"#;

    fn python(script: &str, args: &[&Path]) {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("python3 must be on PATH");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn load_with(text: &[u8], limits: &Limits) -> (Connection, Result<LoadReport, SqlDumpError>) {
        let mut conn = Connection::open_in_memory().unwrap();
        let result = load_sql_dump(&mut Cursor::new(text), &mut conn, limits, &mut |_| true);
        (conn, result)
    }

    fn load_keep(text: &str) -> (Connection, Result<LoadReport, SqlDumpError>) {
        load_with(text.as_bytes(), &Limits::default())
    }

    fn load(text: &str) -> Result<LoadReport, SqlDumpError> {
        load_keep(text).1
    }

    /// Loads `sql` with `{dir}` replaced by a fresh temp dir, and checks that
    /// nothing was written into that dir.
    fn load_touching_nothing(sql: &str) -> Result<LoadReport, SqlDumpError> {
        let dir = tempfile::tempdir().unwrap();
        let sql = sql.replace("{dir}", &dir.path().display().to_string());
        let result = load(&sql);
        let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(created.is_empty(), "files were created: {created:?}");
        result
    }

    fn assert_refused(result: Result<LoadReport, SqlDumpError>, line: u64, needle: &str) {
        match result {
            Err(SqlDumpError::Refused {
                line: got_line,
                statement,
                reason,
            }) => {
                assert_eq!(got_line, line, "statement {statement:?}, reason {reason:?}");
                let both = format!("{statement} {reason}").to_lowercase();
                assert!(both.contains(needle), "{needle:?} not in {both:?}");
            }
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    fn quote_ident(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    fn table_names(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let columns = stmt.column_count();
        stmt.query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn table_rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
        rows(
            conn,
            &format!("SELECT * FROM {} ORDER BY rowid", quote_ident(table)),
        )
    }

    /// Every table of `original` (optionally without sqlite_* ones) has the
    /// same rows in `loaded`, and the schema matches.
    fn assert_same_data(original: &Connection, loaded: &Connection, internal_tables: bool) {
        let mut compared = 0;
        for table in table_names(original) {
            let internal = table.starts_with("sqlite_");
            if table == "sqlite_stat4" || (internal && !internal_tables) {
                continue;
            }
            let want = table_rows(original, &table);
            let got = table_rows(loaded, &table);
            assert_eq!(want.len(), got.len(), "row count of {table}");
            assert!(want == got, "rows of {table} differ");
            compared += want.len();
        }
        assert!(compared > 10_000, "only {compared} rows compared");
        let schema = "SELECT type, name, tbl_name FROM sqlite_master \
                      WHERE name NOT LIKE 'sqlite%' ORDER BY type, name";
        assert_eq!(rows(original, schema), rows(loaded, schema));
        let view = "SELECT * FROM child_summary ORDER BY name";
        assert_eq!(rows(original, view), rows(loaded, view));
    }

    /// The trigger from MAKE_DB works in the loaded database.
    fn assert_trigger_fires(conn: &Connection) {
        let before: i64 = conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch("INSERT INTO child(parent_id, body) VALUES (1, 'new')")
            .unwrap();
        let after: i64 = conn
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(after, before + 1);
    }

    fn make_db(dir: &Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("original.db");
        python(MAKE_DB, &[&path]);
        let conn = Connection::open(&path).unwrap();
        (path, conn)
    }

    #[test]
    fn iterdump_round_trip_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let (db, original) = make_db(dir.path());
        let dump = dir.path().join("dump.sql");
        python(ITERDUMP, &[&db, &dump]);
        let size = std::fs::metadata(&dump).unwrap().len();

        let mut loaded = Connection::open(dir.path().join("loaded.db")).unwrap();
        let mut input = BufReader::new(std::fs::File::open(&dump).unwrap());
        let mut calls = Vec::new();
        let report = load_sql_dump(&mut input, &mut loaded, &Limits::default(), &mut |n| {
            calls.push(n);
            true
        })
        .unwrap();
        assert_eq!(report.bytes, size);
        assert!(report.statements > 10_000, "{report:?}");
        assert_eq!(calls.last(), Some(&size));
        assert!(calls.windows(2).all(|w| w[0] <= w[1]));
        assert_same_data(&original, &loaded, true);
        assert_trigger_fires(&loaded);

        // The same dump read 7 bytes at a time, so every construct straddles
        // chunk boundaries.
        let mut tiny = BufReader::with_capacity(7, std::fs::File::open(&dump).unwrap());
        let mut loaded = Connection::open_in_memory().unwrap();
        let again =
            load_sql_dump(&mut tiny, &mut loaded, &Limits::default(), &mut |_| true).unwrap();
        assert_eq!(again, report);
        assert_same_data(&original, &loaded, true);
    }

    #[test]
    fn dbbackup_dump_with_repeated_and_early_schema_statements_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (db, original) = make_db(dir.path());
        let dump = dir.path().join("dbbackup.sql");
        python(DBBACKUP_DUMP, &[&db, &dump]);
        let text = std::fs::read_to_string(&dump).unwrap();
        assert!(
            text.starts_with("CREATE TABLE IF NOT EXISTS"),
            "not the dbbackup format"
        );
        assert!(!text.contains("\nCOMMIT;"), "not the dbbackup format");
        assert!(looks_like_sqlite_dump(text.as_bytes()));

        let mut loaded = Connection::open(dir.path().join("loaded.db")).unwrap();
        let mut input = BufReader::new(std::fs::File::open(&dump).unwrap());
        let report =
            load_sql_dump(&mut input, &mut loaded, &Limits::default(), &mut |_| true).unwrap();
        assert!(report.statements > 10_000, "{report:?}");
        assert_same_data(&original, &loaded, false);
        assert_trigger_fires(&loaded);
    }

    #[test]
    fn create_index_on_a_table_that_never_comes_is_reported() {
        let (_conn, result) = load_keep(
            "CREATE TABLE a(x);\nCREATE INDEX IF NOT EXISTS i ON missing(x);\nINSERT INTO a VALUES(1);\n",
        );
        match result {
            Err(SqlDumpError::Sql { line, message, .. }) => {
                assert_eq!(line, 2);
                assert!(message.contains("no such table"), "{message}");
            }
            other => panic!("expected Sql, got {other:?}"),
        }
    }

    #[test]
    fn sqlite3_shell_dump_loads() {
        let dump = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n\
            CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT);\n\
            INSERT INTO a VALUES(1,replace('x\\ny','\\n',char(10)));\n\
            INSERT INTO a VALUES(2,'q''s');\n\
            ANALYZE sqlite_schema;\n\
            INSERT INTO sqlite_stat1 VALUES('a',NULL,'2');\n\
            DELETE FROM sqlite_sequence;\n\
            INSERT INTO sqlite_sequence VALUES('a',2);\n\
            CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE a SET t = CASE WHEN new.id > 1 \
            THEN 'big' ELSE 'small' END; END;\n\
            COMMIT;\n";
        assert!(looks_like_sqlite_dump(dump.as_bytes()));
        let (conn, result) = load_keep(dump);
        assert_eq!(result.unwrap().statements, 11);
        let texts = rows(&conn, "SELECT t FROM a ORDER BY id");
        assert_eq!(
            texts,
            vec![
                vec![Value::Text("x\ny".into())],
                vec![Value::Text("q's".into())]
            ]
        );
        conn.execute_batch("INSERT INTO a(t) VALUES('z')").unwrap();
        let t: String = conn
            .query_row("SELECT t FROM a WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(t, "big");
    }

    #[test]
    fn splitter_agrees_with_sqlite3_complete() {
        let cases = [
            "SELECT 1;",
            "SELECT 'a;b';",
            "SELECT \"a;b\";",
            "SELECT [a;b];",
            "SELECT `a;b`;",
            "SELECT 1 -- c;\n;",
            "SELECT 1 /* ; */;",
            "SELECT 1 /*/ ; */ ;",
            "SELECT 'it''s;';",
            ";",
            "  \n ;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES(1); UPDATE c SET x=1; END;",
            "create temp trigger t after insert on a begin select 1; end ;",
            "CREATE TEMPORARY TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
            "EXPLAIN CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT CASE WHEN 1 THEN 2 END; END;",
            "CREATE TABLE trigger(x); SELECT 1;",
            "CREATE TABLE t(\"end\"); ",
            "CREATE VIEW v AS SELECT 1;",
            "CREATE TRIGGER t BEGIN SELECT 1; END",
            "INSERT INTO t VALUES('unterminated;",
            "SELECT 1 -- trailing comment",
            "SELECT x'00ff';",
            "SELECT '\u{17c}\u{f3}\u{142}\u{107};\u{65e5}'; SELECT 2;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END -- c\n;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; ENDX; END;",
            "SELECT 1 - -1;",
            "SELECT 2/3;",
            "CREATE -- c\n TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;",
            "CREATE/**/TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;END;",
            "CREATE TEMP VIEW v AS SELECT 1; SELECT 2;",
            "explain select 1;",
            "SELECT $a;",
            "\u{b}SELECT 1;",
            "CREATE TRIGGER \"t;\" AFTER INSERT ON [a;] BEGIN SELECT ';'; END;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END; SELECT 2;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; /* END; */ END;",
            "SELECT 'a' /* unterminated ;",
            "SELECT [bracket ;",
        ];
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(COMPLETE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be on PATH");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(cases.join("\u{1e}").as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let expected: Vec<i64> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(expected.len(), cases.len());
        for (case, want) in cases.iter().zip(expected) {
            let got = match Splitter::new().scan(case.as_bytes()) {
                Scan::Cut(i) => i64::try_from(i).unwrap() + 1,
                Scan::More => -1,
                Scan::Nul(_) => panic!("NUL in {case:?}"),
            };
            assert_eq!(got, want, "case {case:?}");
        }
    }

    #[test]
    fn statements_split_across_tiny_chunks() {
        let dump = "BEGIN TRANSACTION;\n-- a comment; with a semicolon\n\
            CREATE TABLE \"t;1\"([a;b] TEXT, `c;d` BLOB);\n\
            /* block; comment */ INSERT INTO \"t;1\" VALUES('x;y''z\n\u{17c}\u{f3}\u{142}\u{107} \u{1f389};', X'00FF');\n\
            CREATE TRIGGER tr AFTER INSERT ON \"t;1\" BEGIN\n  INSERT INTO \"t;1\" VALUES('trig;1', NULL);\n\
              DELETE FROM \"t;1\" WHERE [a;b] = 'never;';\nEND;\n\
            COMMIT;\n";
        for capacity in [1, 2, 3, 7, 13] {
            let mut conn = Connection::open_in_memory().unwrap();
            let mut input = BufReader::with_capacity(capacity, dump.as_bytes());
            let report =
                load_sql_dump(&mut input, &mut conn, &Limits::default(), &mut |_| true).unwrap();
            assert_eq!(report.statements, 5, "capacity {capacity}");
            assert_eq!(report.bytes, dump.len() as u64);
            let got = table_rows(&conn, "t;1");
            assert_eq!(
                got,
                vec![vec![
                    Value::Text("x;y'z\n\u{17c}\u{f3}\u{142}\u{107} \u{1f389};".into()),
                    Value::Blob(vec![0, 255])
                ]]
            );
            conn.execute_batch("INSERT INTO \"t;1\" VALUES('n', NULL)")
                .unwrap();
            assert_eq!(table_rows(&conn, "t;1").len(), 3);
        }
    }

    #[test]
    fn refuses_attach_and_creates_no_file() {
        let result = load_touching_nothing(
            "BEGIN TRANSACTION;\nCREATE TABLE a(x);\nATTACH DATABASE '{dir}/evil.db' AS e;\nCOMMIT;\n",
        );
        assert_refused(result, 3, "attach");
        let result = load_touching_nothing("/* hidden */ -- x\n  detach e;");
        assert_refused(result, 2, "detach");
    }

    #[test]
    fn refuses_vacuum_into_and_creates_no_file() {
        let result = load_touching_nothing("CREATE TABLE a(x);\nVACUUM INTO '{dir}/evil.db';\n");
        assert_refused(result, 2, "vacuum");
        let result = load_touching_nothing("EXPLAIN vacuum into '{dir}/evil.db';");
        assert_refused(result, 1, "vacuum");
        assert_refused(load("VACUUM;"), 1, "vacuum");
    }

    #[test]
    fn authorizer_alone_blocks_vacuum_into_and_attach() {
        // Bypass the keyword check to prove the second layer holds on its own.
        let dir = tempfile::tempdir().unwrap();
        let evil = dir.path().join("evil.db");
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE a(x); INSERT INTO a VALUES (1);")
            .unwrap();
        let denials = Denials::default();
        let session = Session::open(&mut conn, &denials).unwrap();
        for sql in [
            format!("VACUUM INTO '{}'", evil.display()),
            format!("ATTACH DATABASE '{}' AS e", evil.display()),
        ] {
            let error = run_one(session.conn, &sql).unwrap_err();
            let denied = denials.take().unwrap();
            assert!(denied.contains("ATTACH"), "{denied} ({error})");
            assert!(!evil.exists(), "{sql} created a file");
        }
        drop(session);
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn refuses_load_extension_and_file_functions() {
        let result = load_touching_nothing("SELECT load_extension('{dir}/evil.so');");
        assert_refused(result, 1, "not authorized: function load_extension()");
        // Shell-only functions do not exist here at all.
        assert!(
            matches!(load("SELECT writefile('x', 'y');"), Err(SqlDumpError::Sql { message, .. }) if message.contains("no such function")),
        );
        assert_refused(
            load("SELECT fts3_tokenizer('simple');"),
            1,
            "fts3_tokenizer",
        );
    }

    #[test]
    fn refuses_load_extension_inside_a_trigger_when_it_would_fire() {
        let result = load_touching_nothing(
            "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n  \
             SELECT load_extension('{dir}/evil.so');\nEND;\nINSERT INTO a VALUES(1);\n",
        );
        assert_refused(result, 5, "load_extension");
    }

    #[test]
    fn attach_inside_a_trigger_body_never_runs() {
        let result = load_touching_nothing(
            "CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN ATTACH '{dir}/evil.db' AS e; END;\n\
             INSERT INTO a VALUES(1);\n",
        );
        match result {
            Err(SqlDumpError::Sql { line, .. } | SqlDumpError::Refused { line, .. }) => {
                assert_eq!(line, 2);
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn refuses_pragmas_not_on_the_allow_list() {
        assert_refused(load("PRAGMA journal_mode=OFF;"), 1, "journal_mode");
        let result = load_touching_nothing("PRAGMA temp_store_directory = '{dir}';");
        assert_refused(result, 1, "temp_store_directory");
        assert_refused(load("PRAGMA main . \"synchronous\" = 0;"), 1, "synchronous");
        assert_refused(load("pragma table_info('x');"), 1, "table_info");
        // Hidden in a table-valued function: only the authorizer sees it.
        assert_refused(
            load("SELECT * FROM pragma_journal_mode;"),
            1,
            "not authorized: pragma journal_mode",
        );
    }

    #[test]
    fn allows_the_pragmas_dumps_write() {
        let (conn, result) = load_keep(
            "PRAGMA foreign_keys=OFF;\nPRAGMA main.user_version = 7;\nPRAGMA application_id=42;\n\
             PRAGMA defer_foreign_keys=ON;\nPRAGMA page_size=4096;\nPRAGMA encoding='UTF-8';\n\
             PRAGMA auto_vacuum=NONE;\n",
        );
        assert_eq!(result.unwrap().statements, 7);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 7);
    }

    #[test]
    fn refuses_writable_schema_and_schema_table_writes() {
        let dump = "BEGIN TRANSACTION;\nPRAGMA writable_schema=ON;\n\
            INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql)VALUES('table','f','f',0,\
            'CREATE VIRTUAL TABLE f USING fts5(x)');\nPRAGMA writable_schema=OFF;\nCOMMIT;\n";
        assert_refused(load(dump), 2, "virtual tables");
        assert_refused(
            load("INSERT INTO \"sqlite_schema\" VALUES('table','x','x',0,'CREATE TABLE x(a)');"),
            1,
            "schema table",
        );
        assert_refused(
            load("UPDATE OR IGNORE main.sqlite_master SET sql = 'x';"),
            1,
            "schema table",
        );
        assert_refused(load("DELETE FROM [sqlite_master];"), 1, "schema table");
    }

    #[test]
    fn refuses_dot_commands() {
        let result = load_touching_nothing(
            "CREATE TABLE a(x);\n\n.shell touch '{dir}/pwned'\nINSERT INTO a VALUES(1);\n",
        );
        assert_refused(result, 3, "dot-command");
        assert_refused(load(".load /tmp/x/evil.so\n"), 1, "dot-command");
        assert_refused(load("  .system rm -rf /"), 1, "dot-command");
    }

    #[test]
    fn refuses_recursive_queries() {
        let (_conn, result) = load_keep(
            "CREATE TABLE a(x);\nWITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)\n\
             INSERT INTO a SELECT n FROM c;\n",
        );
        assert_refused(result, 2, "recursive");
    }

    #[test]
    fn refuses_bare_rollback_but_allows_savepoints() {
        let (_conn, result) =
            load_keep("BEGIN TRANSACTION;\nCREATE TABLE a(x);\nROLLBACK; -- due to errors\n");
        assert_refused(result, 3, "rolls back");
        let (conn, result) = load_keep(
            "BEGIN;\nCREATE TABLE a(x);\nSAVEPOINT s;\nINSERT INTO a VALUES(1);\n\
             ROLLBACK TRANSACTION TO SAVEPOINT s;\nRELEASE s;\nCOMMIT;\n",
        );
        result.unwrap();
        assert!(table_rows(&conn, "a").is_empty());
    }

    #[test]
    fn statement_longer_than_the_limit_is_too_long() {
        let mut dump = String::from("CREATE TABLE a(x);\n\nINSERT INTO a VALUES('");
        dump.push_str(&"x".repeat(10_000));
        dump.push_str("');\n");
        let limits = Limits {
            max_statement_bytes: 4096,
        };
        let (_conn, result) = load_with(dump.as_bytes(), &limits);
        match result {
            Err(SqlDumpError::TooLong { line, limit }) => {
                assert_eq!((line, limit), (3, 4096));
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
        // A "statement" that never ends, as in a file that is not a dump.
        let endless = vec![b'a'; 50_000];
        let (_conn, result) = load_with(&endless, &limits);
        assert!(matches!(result, Err(SqlDumpError::TooLong { line: 1, .. })));
        // The limit is per statement, not per file.
        let (_conn, result) = load_with(
            dump.replace(&"x".repeat(10_000), "x").repeat(50).as_bytes(),
            &limits,
        );
        assert!(
            matches!(result, Err(SqlDumpError::Sql { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn binary_input_is_not_sql() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let garbage: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        let (_conn, result) = load_with(&garbage, &Limits::default());
        assert!(
            matches!(result, Err(SqlDumpError::NotSql { .. })),
            "{result:?}"
        );
        assert!(!looks_like_sqlite_dump(&garbage));

        let mut database = b"SQLite format 3\0".to_vec();
        database.extend_from_slice(&[0x10, 0x00, 0x01, 0x01]);
        let (_conn, result) = load_with(&database, &Limits::default());
        match result {
            Err(SqlDumpError::NotSql { line, reason }) => {
                assert_eq!(line, 1);
                assert!(reason.contains("database file"), "{reason}");
            }
            other => panic!("expected NotSql, got {other:?}"),
        }
        let (_conn, result) = load_with(b"\x1f\x8b\x08\x00\x00\x00", &Limits::default());
        assert!(
            matches!(&result, Err(SqlDumpError::NotSql { reason, .. }) if reason.contains("gzip")),
            "{result:?}"
        );
    }

    #[test]
    fn bad_utf8_and_nul_report_their_line() {
        let mut dump =
            b"CREATE TABLE a(x);\nINSERT INTO a VALUES('ok');\nINSERT INTO a VALUES('".to_vec();
        dump.extend_from_slice(b"\xff\xfe');\n");
        let (_conn, result) = load_with(&dump, &Limits::default());
        assert!(
            matches!(result, Err(SqlDumpError::NotSql { line: 3, .. })),
            "{result:?}"
        );
        let (_conn, result) = load_with(b"CREATE TABLE a(x);\n\nSELECT '\0';", &Limits::default());
        assert!(
            matches!(result, Err(SqlDumpError::NotSql { line: 3, .. })),
            "{result:?}"
        );
        // A character cut off by the end of the file.
        let (_conn, result) = load_with(b"SELECT '\xc5", &Limits::default());
        assert!(
            matches!(result, Err(SqlDumpError::NotSql { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn progress_false_cancels_and_cleans_up() {
        let mut dump = String::from("BEGIN TRANSACTION;\nCREATE TABLE t(x);\n");
        let row = format!("INSERT INTO t VALUES('{}');\n", "r".repeat(100));
        while dump.len() < 3 * 1024 * 1024 {
            dump.push_str(&row);
        }
        dump.push_str("COMMIT;\n");
        let mut conn = Connection::open_in_memory().unwrap();
        let mut calls = 0;
        let result = load_sql_dump(
            &mut Cursor::new(dump.as_bytes()),
            &mut conn,
            &Limits::default(),
            &mut |bytes| {
                calls += 1;
                assert!(bytes >= PROGRESS_STEP);
                false
            },
        );
        assert!(matches!(result, Err(SqlDumpError::Cancelled)), "{result:?}");
        assert_eq!(calls, 1);
        assert!(conn.is_autocommit(), "transaction left open");
        assert!(table_names(&conn).is_empty(), "cancelled work was kept");

        // Progress is reported regularly on a full run.
        let mut seen = Vec::new();
        let report = load_sql_dump(
            &mut Cursor::new(dump.as_bytes()),
            &mut conn,
            &Limits::default(),
            &mut |bytes| {
                seen.push(bytes);
                true
            },
        )
        .unwrap();
        assert!(seen.len() >= 3, "{seen:?}");
        assert_eq!(seen.last(), Some(&report.bytes));
    }

    #[test]
    fn connection_settings_are_restored_afterwards() {
        for dump in [
            "CREATE TABLE a(x);",
            "ATTACH 'x' AS y;",
            "BEGIN; CREATE TABLE b(x);",
        ] {
            let (conn, _) = load_keep(dump);
            conn.execute_batch("PRAGMA cache_size = 100; SELECT * FROM pragma_journal_mode;")
                .unwrap();
            assert!(!conn.db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE).unwrap());
            // The bundled SQLite enforces foreign keys by default; that comes back.
            assert!(
                conn.db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY)
                    .unwrap()
            );
            assert!(conn.is_autocommit());
        }
    }

    #[test]
    fn dump_ending_inside_its_transaction_is_truncated() {
        let (conn, result) =
            load_keep("BEGIN TRANSACTION;\nCREATE TABLE a(x);\nINSERT INTO a VALUES(1);\n");
        match result {
            Err(SqlDumpError::Io(error)) => {
                assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
                assert!(error.to_string().contains("truncated"), "{error}");
            }
            other => panic!("expected Io, got {other:?}"),
        }
        assert!(table_names(&conn).is_empty());
    }

    #[test]
    fn last_statement_without_semicolon_runs() {
        let (conn, result) =
            load_keep("CREATE TABLE a(x);\nINSERT INTO a VALUES(1) -- no semicolon");
        assert_eq!(result.unwrap().statements, 2);
        assert_eq!(table_rows(&conn, "a").len(), 1);
        let (_conn, result) = load_keep("CREATE TABLE a(x);\n  -- only a comment\n\n");
        assert_eq!(result.unwrap().statements, 1);
        let (_conn, result) = load_keep("CREATE TABLE a(x);\nINSERT INTO a VALUES('cut off");
        assert!(
            matches!(result, Err(SqlDumpError::Sql { line: 2, .. })),
            "{result:?}"
        );
        let result = load("CREATE TABLE a(x);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;");
        assert!(
            matches!(result, Err(SqlDumpError::Sql { line: 2, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn sql_errors_name_the_line_and_statement() {
        let (_conn, result) = load_keep(
            "BEGIN TRANSACTION;\nCREATE TABLE a(x PRIMARY KEY);\n\n  INSERT INTO a VALUES(1);\n\
             INSERT INTO a\n  VALUES(1);\nCOMMIT;\n",
        );
        match result {
            Err(SqlDumpError::Sql {
                line,
                statement,
                message,
            }) => {
                assert_eq!(line, 5);
                assert_eq!(statement, "INSERT INTO a   VALUES(1);");
                assert!(message.contains("UNIQUE"), "{message}");
            }
            other => panic!("expected Sql, got {other:?}"),
        }
        let long = format!("SELECT {};", "1 + ".repeat(40));
        assert_eq!(excerpt(&long).chars().count(), 81);
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let dump = "\u{feff}BEGIN TRANSACTION;\nCREATE TABLE a(x);\nCOMMIT;\n";
        assert!(looks_like_sqlite_dump(dump.as_bytes()));
        let (_conn, result) = load_keep(dump);
        let report = result.unwrap();
        assert_eq!(report.statements, 3);
        assert_eq!(report.bytes, dump.len() as u64);
    }

    #[test]
    fn looks_like_sqlite_dump_recognises_dumps() {
        let yes: [&[u8]; 6] = [
            b"BEGIN TRANSACTION;\nCREATE TABLE a(x);\n",
            b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE",
            b"CREATE TABLE IF NOT EXISTS \"django_migrations\" (\"id\" integer);\n",
            b"\xEF\xBB\xBF  -- a dump\n/* made by hand */\nBEGIN;\n",
            b"begin transaction;\ncreate table \"\xc5\xbc",
            b"BEGIN TRANSACTION;\nCREATE TABLE t(x TEXT);\nINSERT INTO t VALUES('\xc5",
        ];
        for head in yes {
            assert!(
                looks_like_sqlite_dump(head),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        let no: [&[u8]; 9] = [
            b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 16.2\n\
              SET statement_timeout = 0;\n",
            b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE public.x (id integer);\n",
            b"-- MySQL dump 10.13  Distrib 8.0.36\n/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE `x` (id int);\n",
            b"-- MariaDB dump 10.19\nCREATE TABLE `x` (id int);\n",
            b"SQLite format 3\0\x10\x00\x01\x01",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
            b"",
            b"INSERT INTO a VALUES(1);",
            b"PRAGMA foreign_keys=OFF;\nATTACH 'x' AS y;",
        ];
        for head in no {
            assert!(
                !looks_like_sqlite_dump(head),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn keyword_check_reads_leading_keywords_like_sqlite() {
        assert_eq!(analyse(" \u{b} /* c */ -- d\n ;"), Ok(Lead::Empty));
        assert_eq!(analyse("COMMIT;"), Ok(Lead::Transaction));
        assert_eq!(analyse("end transaction;"), Ok(Lead::Transaction));
        assert_eq!(analyse("PRAGMA \"foreign_keys\" = OFF"), Ok(Lead::Pragma));
        assert_eq!(
            analyse("CREATE UNIQUE INDEX IF NOT EXISTS main.\"my \"\"idx\"\"\" ON t(x)"),
            Ok(Lead::CreateObject(SchemaObject {
                kind: "index",
                name: "my \"idx\"".into()
            }))
        );
        assert_eq!(
            analyse("CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END"),
            Ok(Lead::Other)
        );
        assert_eq!(
            analyse("INSERT INTO sqlite_sequence VALUES('a', 1)"),
            Ok(Lead::Other)
        );
        assert!(analyse("REPLACE INTO 'sqlite_temp_master' VALUES(1)").is_err());
        assert!(analyse("EXPLAIN QUERY PLAN ATTACH 'x' AS y").is_err());
        assert!(analyse("\"VACUUM\"").is_ok());
    }
}
