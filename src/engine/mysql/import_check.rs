//! The check every imported `mysqldump`/`mariadb-dump` file passes before anything of it runs.
//!
//! A dump from elsewhere is a program for the `mysql`/`mariadb` client, and the client is more than SQL: `\!`
//! runs a shell command, `source` reads another file, `tee` writes one, `LOAD DATA LOCAL` reads one. So the file
//! is read statement by statement (quotes, backquoted names, comments, MySQL's executable comments `/*!…*/` and
//! `DELIMITER` lines as the client splits them) and written to a private copy that the client then loads:
//!
//! - refused (nothing runs): a client command (any `\x` outside quotes; `source`, `system`, `tee`, `pager`,
//!   `connect`… starting a statement), `LOAD DATA`/`LOAD XML`, a second database (a dump made with
//!   `--all-databases` or `--databases a b`), the server's own databases (`mysql`, `sys`, …);
//! - left out, with a note: the dump's own `CREATE DATABASE`, `USE`, `DROP DATABASE` and `ALTER DATABASE` (its
//!   data goes into a staging database, never into the database it names), MariaDB's sandbox line (Backstop
//!   passes `--sandbox` itself where the client has it), and MySQL's `SQL_LOG_BIN`/`GTID_PURGED` settings, which
//!   need rights an import never has;
//! - rewritten: every `DEFINER=user@host` becomes `DEFINER=CURRENT_USER`, so views, routines, triggers and events
//!   belong to the throwaway user that loads them (see `import_boundary`), who may not name another.
//!
//! Memory stays bounded: a statement is held whole only up to [`MAX_STATEMENT`] bytes, except an `INSERT` or
//! `REPLACE`, which streams through once it passes [`STREAM_AFTER`] bytes (its data needs no rewriting; its
//! bytes are still checked for client commands).

#![allow(clippy::indexing_slicing)] // the scanner indexes its own buffers, checked against their lengths

use std::fmt;
use std::io::{self, Read, Write};

/// The longest statement (other than an INSERT) that is held to be checked and rewritten.
pub const MAX_STATEMENT: usize = 64 << 20;
/// How much of an INSERT or REPLACE is held before the rest streams through.
const STREAM_AFTER: usize = 1 << 20;
/// How much of a statement's start is read to tell what it is.
const HEAD_CHARS: usize = 4096;
/// The longest `DELIMITER` accepted.
const MAX_DELIMITER: usize = 16;

/// The client's own commands, which no dump tool writes at the start of a statement.
const CLIENT_COMMANDS: &[&str] = &[
    "charset",
    "clear",
    "connect",
    "edit",
    "ego",
    "exit",
    "go",
    "help",
    "nopager",
    "notee",
    "nowarning",
    "pager",
    "print",
    "prompt",
    "query_attributes",
    "quit",
    "rehash",
    "resetconnection",
    "source",
    "ssl_session_data_print",
    "status",
    "system",
    "tee",
    "warnings",
];

/// The server's own databases, which an import never loads.
const SYSTEM_DATABASES: &[&str] = &["mysql", "sys", "performance_schema", "information_schema"];

/// MariaDB's first line since 10.5.25/10.11.8: the client command that turns the sandbox on.
const SANDBOX_LINE: &[u8] = b"/*M!999999\\- enable the sandbox mode */";

/// Why a dump was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The line the statement starts on, from 1.
    pub line: u64,
    /// The statement's start, at most 120 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            write!(f, "line {}: {}", self.line, self.reason)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.text, self.reason)
        }
    }
}

/// What [`filter_dump`] found and changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// The one database the dump names (`CREATE DATABASE`/`USE`), if it names one.
    pub database: Option<String>,
    /// Its character set and collation from the dump's `CREATE DATABASE`, if given there.
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// Statements left out (`CREATE`/`USE`/`DROP`/`ALTER DATABASE`, binary-log settings).
    pub left_out: u64,
    /// `DEFINER` clauses rewritten to `CURRENT_USER`.
    pub definers: u64,
    /// Statements read.
    pub statements: u64,
}

impl Checked {
    /// A note for the user on what was left out or changed, if anything.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(db) = &self.database {
            parts.push(format!(
                "the dump's statements for database {db} (CREATE/USE/DROP/ALTER DATABASE) were left out: its data \
                 went into a staging database, never into {db} itself"
            ));
        } else if self.left_out > 0 {
            parts.push(format!(
                "{} statement(s) that need server-wide rights (binary log settings) were left out",
                self.left_out
            ));
        }
        if self.definers > 0 {
            parts.push(format!(
                "{} DEFINER clause(s) now name the user who restores the backup (CURRENT_USER)",
                self.definers
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Reads a MySQL/MariaDB dump from `input`, checks it (module doc) and writes what the client may run to
/// `output`. Nothing is written for a refused dump beyond what was checked before the refusal; the caller
/// discards the output then.
pub fn filter_dump(
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> io::Result<Result<Checked, Refusal>> {
    let mut filter = Filter::new(output);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            if let Err(stop) = filter.byte(b) {
                return stop.into_result();
            }
        }
    }
    if let Err(stop) = filter.end_statement(false) {
        return stop.into_result();
    }
    Ok(Ok(filter.checked))
}

/// Why the filter stopped early.
enum Stop {
    Io(io::Error),
    Refused(Refusal),
}

impl Stop {
    fn into_result(self) -> io::Result<Result<Checked, Refusal>> {
        match self {
            Stop::Io(e) => Err(e),
            Stop::Refused(r) => Ok(Err(r)),
        }
    }
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

/// What a byte of a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// SQL (also inside an executable comment `/*!…*/`).
    Code,
    /// Inside '…' or "…", quotes included.
    Quoted,
    /// Inside `…`, backquotes included.
    Name,
    /// A plain comment, or the markers of an executable one (`/*!50003`, `*/`).
    Comment,
}

/// The scanner's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Single {
        escaped: bool,
    },
    SingleEnd,
    Double {
        escaped: bool,
    },
    DoubleEnd,
    Back,
    BackEnd,
    Dash,
    DashDash,
    LineComment,
    Slash,
    /// In a plain `/* */` comment.
    Block {
        star: bool,
    },
    /// Just after `/*!` or `/*M!`, in its version digits.
    Version,
    /// After a `*` in code inside an executable comment (its end if `/` follows).
    ExecStar,
    /// In a `DELIMITER` line.
    Delimiter,
}

struct Filter<'w> {
    out: &'w mut dyn Write,
    state: State,
    delimiter: Vec<u8>,
    /// The statement so far and each byte's class.
    text: Vec<u8>,
    class: Vec<Class>,
    /// Whether the statement is streaming (an INSERT or REPLACE past [`STREAM_AFTER`]).
    streaming: bool,
    /// Inside an executable comment.
    executable: bool,
    /// Delimiter bytes matched so far.
    matched: usize,
    /// The new delimiter being read.
    line: Vec<u8>,
    /// Current line, and the line the statement started on.
    lineno: u64,
    start_line: u64,
    checked: Checked,
}

impl<'w> Filter<'w> {
    fn new(out: &'w mut dyn Write) -> Self {
        Filter {
            out,
            state: State::Code,
            delimiter: b";".to_vec(),
            text: Vec::new(),
            class: Vec::new(),
            streaming: false,
            executable: false,
            matched: 0,
            line: Vec::new(),
            lineno: 1,
            start_line: 1,
            checked: Checked::default(),
        }
    }

    fn refuse(&self, reason: impl Into<String>) -> Stop {
        Stop::Refused(Refusal {
            line: if self.text.is_empty() {
                self.lineno
            } else {
                self.start_line
            },
            text: excerpt(&self.text),
            reason: reason.into(),
        })
    }

    fn push(&mut self, b: u8, class: Class) -> Result<(), Stop> {
        if self.text.is_empty() {
            if b.is_ascii_whitespace() {
                // Blank space between statements goes straight out (line numbers stay right).
                self.out.write_all(&[b])?;
                if b == b'\n' {
                    self.lineno += 1;
                }
                return Ok(());
            }
            self.start_line = self.lineno;
        }
        if b == b'\n' {
            self.lineno += 1;
        }
        self.text.push(b);
        self.class.push(class);
        if self.text.len() > STREAM_AFTER {
            self.overflow()?;
        }
        Ok(())
    }

    /// A statement grew past [`STREAM_AFTER`]: an INSERT or REPLACE streams on (keeping the last bytes, where the
    /// delimiter may begin); anything else is held up to [`MAX_STATEMENT`].
    fn overflow(&mut self) -> Result<(), Stop> {
        if !self.streaming {
            let words = head_words(&self.text, &self.class);
            let first = words.first().map(|w| w.to_ascii_uppercase());
            if matches!(first.as_deref(), Some("INSERT" | "REPLACE")) {
                self.streaming = true;
            } else if self.text.len() > MAX_STATEMENT {
                return Err(self.refuse(format!(
                    "a statement longer than {} MiB that is not an INSERT; a dump tool never writes one",
                    MAX_STATEMENT >> 20
                )));
            } else {
                return Ok(());
            }
        }
        let keep = MAX_DELIMITER;
        let cut = self.text.len() - keep;
        self.out.write_all(&self.text[..cut])?;
        self.text.drain(..cut);
        self.class.drain(..cut);
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), Stop> {
        match self.state {
            State::Code => self.code(b),
            State::Single { escaped } => {
                self.state = match (escaped, b) {
                    (true, _) => State::Single { escaped: false },
                    (false, b'\\') => State::Single { escaped: true },
                    (false, b'\'') => State::SingleEnd,
                    _ => State::Single { escaped: false },
                };
                self.push(b, Class::Quoted)
            }
            State::SingleEnd if b == b'\'' => {
                self.state = State::Single { escaped: false };
                self.push(b, Class::Quoted)
            }
            State::Double { escaped } => {
                self.state = match (escaped, b) {
                    (true, _) => State::Double { escaped: false },
                    (false, b'\\') => State::Double { escaped: true },
                    (false, b'"') => State::DoubleEnd,
                    _ => State::Double { escaped: false },
                };
                self.push(b, Class::Quoted)
            }
            State::DoubleEnd if b == b'"' => {
                self.state = State::Double { escaped: false };
                self.push(b, Class::Quoted)
            }
            State::Back => {
                if b == b'`' {
                    self.state = State::BackEnd;
                }
                self.push(b, Class::Name)
            }
            State::BackEnd if b == b'`' => {
                self.state = State::Back;
                self.push(b, Class::Name)
            }
            State::SingleEnd | State::DoubleEnd | State::BackEnd => {
                self.state = State::Code;
                self.code(b)
            }
            State::Dash => {
                if b == b'-' {
                    self.state = State::DashDash;
                    Ok(())
                } else {
                    self.state = State::Code;
                    self.push(b'-', Class::Code)?;
                    self.code(b)
                }
            }
            State::DashDash => {
                if b.is_ascii_whitespace() {
                    self.push(b'-', Class::Comment)?;
                    self.push(b'-', Class::Comment)?;
                    self.state = if b == b'\n' {
                        State::Code
                    } else {
                        State::LineComment
                    };
                    self.push(b, Class::Comment)
                } else {
                    // "--x" is two minus signs.
                    self.state = State::Code;
                    self.push(b'-', Class::Code)?;
                    self.push(b'-', Class::Code)?;
                    self.code(b)
                }
            }
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Code;
                }
                self.push(b, Class::Comment)
            }
            State::Slash => {
                if b == b'*' {
                    self.state = State::Block { star: false };
                    self.push(b'/', Class::Comment)?;
                    self.push(b, Class::Comment)
                } else {
                    self.state = State::Code;
                    self.push(b'/', Class::Code)?;
                    self.code(b)
                }
            }
            State::Block { star } => {
                let opening = self.class.last() == Some(&Class::Comment)
                    && self.text.ends_with(b"/*")
                    && !self.executable;
                if opening && (b == b'!' || b == b'M') {
                    // `/*!` or `/*M!`: an executable comment, whose content the server runs.
                    if b == b'!' {
                        self.executable = true;
                        self.state = State::Version;
                    }
                    return self.push(b, Class::Comment);
                }
                if b == b'!' && self.text.ends_with(b"/*M") {
                    self.executable = true;
                    self.state = State::Version;
                    return self.push(b, Class::Comment);
                }
                self.state = match (star, b) {
                    (true, b'/') => State::Code,
                    (_, b'*') => State::Block { star: true },
                    _ => State::Block { star: false },
                };
                self.push(b, Class::Comment)
            }
            State::Version => {
                if b.is_ascii_digit() {
                    self.push(b, Class::Comment)
                } else {
                    self.state = State::Code;
                    self.code(b)
                }
            }
            State::ExecStar => {
                if b == b'/' {
                    // The executable comment's end: "*/" are markers, not code.
                    if let Some(c) = self.class.last_mut() {
                        *c = Class::Comment;
                    }
                    self.executable = false;
                    self.state = State::Code;
                    self.push(b, Class::Comment)
                } else {
                    self.state = State::Code;
                    self.code(b)
                }
            }
            State::Delimiter => {
                if b == b'\n' {
                    let text = String::from_utf8_lossy(&self.line).trim().to_string();
                    self.line.clear();
                    if text.is_empty()
                        || text.len() > MAX_DELIMITER
                        || text.contains('\\')
                        || text.contains(|c: char| c.is_whitespace())
                    {
                        return Err(self.refuse(format!(
                            "DELIMITER '{}' is not one a dump tool writes",
                            text.escape_debug()
                        )));
                    }
                    self.out.write_all(&self.text)?;
                    self.out.write_all(b" ")?;
                    self.out.write_all(text.as_bytes())?;
                    self.out.write_all(b"\n")?;
                    self.lineno += 1;
                    self.delimiter = text.into_bytes();
                    self.text.clear();
                    self.class.clear();
                    self.state = State::Code;
                    Ok(())
                } else {
                    self.line.push(b);
                    Ok(())
                }
            }
        }
    }

    fn code(&mut self, b: u8) -> Result<(), Stop> {
        if self.delimiter.get(self.matched) == Some(&b) {
            self.matched += 1;
            self.push(b, Class::Code)?;
            if self.matched == self.delimiter.len() {
                self.matched = 0;
                return self.end_statement(true);
            }
            return Ok(());
        }
        if self.matched > 0 {
            // A partial match: those bytes were code; this one may begin the delimiter again.
            self.matched = 0;
            return self.code(b);
        }
        match b {
            b'\'' => {
                self.state = State::Single { escaped: false };
                self.push(b, Class::Quoted)
            }
            b'"' => {
                self.state = State::Double { escaped: false };
                self.push(b, Class::Quoted)
            }
            b'`' => {
                self.state = State::Back;
                self.push(b, Class::Name)
            }
            b'-' => {
                self.state = State::Dash;
                Ok(())
            }
            b'#' => {
                self.state = State::LineComment;
                self.push(b, Class::Comment)
            }
            b'/' => {
                self.state = State::Slash;
                Ok(())
            }
            b'*' if self.executable => {
                self.state = State::ExecStar;
                self.push(b, Class::Code)
            }
            b'\\' => {
                if self.is_sandbox_line() {
                    return self.push(b, Class::Comment);
                }
                Err(self.refuse(
                    "it holds a client command (a backslash outside quotes), which can run programs or read \
                     files on this machine; a dump tool never writes one",
                ))
            }
            b' ' | b'\t' if self.is_delimiter_command() => {
                self.line.clear();
                self.state = State::Delimiter;
                Ok(())
            }
            _ => self.push(b, Class::Code),
        }
    }

    /// Whether the statement so far is MariaDB's sandbox line up to its backslash.
    fn is_sandbox_line(&self) -> bool {
        SANDBOX_LINE
            .strip_suffix(b"- enable the sandbox mode */")
            .and_then(|s| s.strip_suffix(b"\\"))
            .is_some_and(|prefix| self.text.as_slice() == prefix)
    }

    /// Whether the statement so far is the client command `DELIMITER` at the start of a line (after nothing but
    /// comments).
    fn is_delimiter_command(&self) -> bool {
        const WORD: &[u8] = b"delimiter";
        let Some(start) = self.text.len().checked_sub(WORD.len()) else {
            return false;
        };
        self.text[start..].eq_ignore_ascii_case(WORD)
            && self.class[start..].iter().all(|c| *c == Class::Code)
            && self.text[..start]
                .iter()
                .zip(&self.class[..start])
                .all(|(b, c)| *c == Class::Comment || b.is_ascii_whitespace())
            && (start == 0 || self.text[start - 1] == b'\n')
    }

    /// Ends the statement: checks it, and writes it (or nothing) out. `delimited`: it ended with the delimiter
    /// (else the input ended).
    fn end_statement(&mut self, delimited: bool) -> Result<(), Stop> {
        if self.state == State::Delimiter {
            return Err(self.refuse("the file ends inside a DELIMITER line"));
        }
        let body_len = if delimited {
            self.text.len().saturating_sub(self.delimiter.len())
        } else {
            self.text.len()
        };
        if self.text.starts_with(SANDBOX_LINE) {
            // MariaDB's sandbox line has no delimiter of its own: take it off and go on with what follows.
            let rest = self.text.split_off(SANDBOX_LINE.len());
            let rest_class = self.class.split_off(SANDBOX_LINE.len());
            self.text = rest;
            self.class = rest_class;
            return if self.text.iter().all(u8::is_ascii_whitespace) {
                self.text.clear();
                self.class.clear();
                Ok(())
            } else {
                self.end_statement(delimited)
            };
        }
        if self.streaming {
            self.out.write_all(&self.text)?;
            self.clear();
            return Ok(());
        }
        let words = head_words(&self.text[..body_len], &self.class[..body_len]);
        if !words.is_empty() {
            self.checked.statements += 1;
        }
        let keep = self.judge(&words)?;
        if keep {
            let (text, n) = rewrite_definers(&self.text, &self.class);
            self.checked.definers += n;
            self.out.write_all(&text)?;
        } else {
            self.checked.left_out += 1;
            // Keep the line count: the client reports errors by line.
            let newlines = self.text.iter().filter(|&&b| b == b'\n').count();
            self.out.write_all(&b"\n".repeat(newlines))?;
        }
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        self.text.clear();
        self.class.clear();
        self.streaming = false;
        self.executable = false;
    }

    /// Whether a statement (its first words as written) is kept; left out or refused else.
    fn judge(&mut self, words: &[String]) -> Result<bool, Stop> {
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let word = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
        let written = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
        let first = word(0);
        if first.is_empty() {
            return Ok(true);
        }
        if CLIENT_COMMANDS.contains(&first.to_ascii_lowercase().as_str()) {
            return Err(self.refuse(format!(
                "it holds the client command {}, which can run programs or read and write files on this \
                 machine; a dump tool never writes one",
                first.to_ascii_lowercase()
            )));
        }
        let database_word = |w: &str| w == "DATABASE" || w == "SCHEMA";
        match first {
            "USE" => {
                self.database(written(1))?;
                Ok(false)
            }
            "CREATE" if database_word(word(1)) => {
                let at = if word(2) == "IF" { 5 } else { 2 };
                self.database(written(at))?;
                let after = |key: &str| {
                    upper
                        .iter()
                        .position(|w| w == key)
                        .and_then(|i| words.get(i + 1 + usize::from(word(i + 1) == "SET")))
                        .map(|w| w.trim_matches(|c| c == '\'' || c == '=').to_ascii_lowercase())
                        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                };
                self.checked.charset = after("CHARACTER").or_else(|| after("CHARSET"));
                self.checked.collation = after("COLLATE");
                Ok(false)
            }
            "DROP" if database_word(word(1)) => {
                let at = if word(2) == "IF" { 4 } else { 2 };
                self.database(written(at))?;
                Ok(false)
            }
            "ALTER" if database_word(word(1)) => Ok(false),
            "LOAD" if matches!(word(1), "DATA" | "XML") => Err(self.refuse(
                "it loads a file (LOAD DATA/LOAD XML), which an import never runs; a dump tool writes the rows \
                 as INSERT statements",
            )),
            "SET"
                if upper
                    .iter()
                    .any(|w| w.contains("SQL_LOG_BIN") || w.contains("GTID_PURGED")) =>
            {
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// The database a `USE`/`CREATE`/`DROP DATABASE` names: the first one is remembered; another is refused.
    fn database(&mut self, raw: &str) -> Result<(), Stop> {
        let name = unquote_name(raw);
        if name.is_empty() {
            return Err(self.refuse("it names no database here"));
        }
        if SYSTEM_DATABASES.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(self.refuse(format!(
                "it holds the server's own database {name} (a dump made with --all-databases); Backstop imports \
                 one database into a profile: dump just that one, e.g. `mariadb-dump --single-transaction \
                 --routines --triggers --events NAME > NAME.sql`"
            )));
        }
        match &self.checked.database {
            Some(first) if *first != name => Err(self.refuse(format!(
                "it holds more than one database ({first} and {name}: a dump made with --all-databases or \
                 --databases with several names); Backstop imports one database into a profile: dump just that \
                 one, e.g. `mariadb-dump --single-transaction --routines --triggers --events NAME > NAME.sql`"
            ))),
            Some(_) => Ok(()),
            None => {
                self.checked.database = Some(name);
                Ok(())
            }
        }
    }
}

/// The first words of a statement as written, comments and executable-comment markers read as spaces. At most
/// [`HEAD_CHARS`] bytes are read.
fn head_words(text: &[u8], class: &[Class]) -> Vec<String> {
    let head: Vec<u8> = text
        .iter()
        .zip(class)
        .take(HEAD_CHARS)
        .map(|(&b, &c)| match c {
            Class::Comment => b' ',
            Class::Code if b == b';' => b' ',
            _ => b,
        })
        .collect();
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// A database name as written (`name`, `` `na``me` ``, or with a trailing `;`), unquoted.
fn unquote_name(raw: &str) -> String {
    let raw = raw.trim_end_matches(';');
    match raw.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => raw.to_string(),
    }
}

/// Rewrites every `DEFINER = <user>[@<host>]` in code to `DEFINER=CURRENT_USER`; how many were rewritten.
fn rewrite_definers(text: &[u8], class: &[Class]) -> (Vec<u8>, u64) {
    const WORD: &[u8] = b"DEFINER";
    let is_code = |i: usize| class.get(i) == Some(&Class::Code);
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let mut out = Vec::with_capacity(text.len());
    let mut n = 0;
    let mut i = 0;
    while i < text.len() {
        let starts_word = is_code(i)
            && text.len() >= i + WORD.len()
            && text[i..i + WORD.len()].eq_ignore_ascii_case(WORD)
            && (i == 0 || !(is_code(i - 1) && ident(text[i - 1])))
            && (i..i + WORD.len()).all(is_code);
        if starts_word && let Some(end) = definer_end(text, class, i + WORD.len()) {
            out.extend_from_slice(b"DEFINER=CURRENT_USER");
            n += 1;
            i = end;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    (out, n)
}

/// After `DEFINER` at `at`: where `= user[@host]` ends, or None when no `=` follows.
fn definer_end(text: &[u8], class: &[Class], mut at: usize) -> Option<usize> {
    let skip_space = |mut i: usize| {
        while i < text.len() && text[i].is_ascii_whitespace() && class[i] == Class::Code {
            i += 1;
        }
        i
    };
    at = skip_space(at);
    if text.get(at) != Some(&b'=') || class.get(at) != Some(&Class::Code) {
        return None;
    }
    at = skip_space(at + 1);
    let part_end = |i: usize| -> usize {
        match class.get(i) {
            Some(c @ (Class::Quoted | Class::Name)) => {
                let mut j = i;
                while j < text.len() && class[j] == *c {
                    // Two quoted parts back to back ('a''b') are one; a quote ends where the next byte is not
                    // of its class.
                    j += 1;
                }
                j
            }
            Some(Class::Code) => {
                let mut j = i;
                while j < text.len()
                    && class[j] == Class::Code
                    && (text[j].is_ascii_alphanumeric()
                        || matches!(text[j], b'_' | b'$' | b'.' | b'-' | b'%'))
                {
                    j += 1;
                }
                // CURRENT_USER()
                if text[i..j].eq_ignore_ascii_case(b"CURRENT_USER")
                    && text.get(j..j + 2) == Some(b"()")
                {
                    j += 2;
                }
                j
            }
            _ => i,
        }
    };
    let user_end = part_end(at);
    if user_end == at {
        return None;
    }
    if text.get(user_end) == Some(&b'@') && class.get(user_end) == Some(&Class::Code) {
        let host_end = part_end(user_end + 1);
        return Some(host_end);
    }
    Some(user_end)
}

/// A statement's start for messages: one line, at most 120 characters.
fn excerpt(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(120)
        .collect();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(sql: &str) -> (String, Result<Checked, Refusal>) {
        let mut out = Vec::new();
        let result = filter_dump(&mut sql.as_bytes(), &mut out).unwrap();
        (String::from_utf8(out).unwrap(), result)
    }

    fn refused(sql: &str) -> Refusal {
        match filter(sql).1 {
            Err(r) => r,
            Ok(c) => panic!("not refused: {sql:?} ({c:?})"),
        }
    }

    #[test]
    fn a_real_databases_dump_loses_its_database_statements_and_definers() {
        let sql = "/*M!999999\\- enable the sandbox mode */ \n\
            -- MariaDB dump 10.19\n\
            /*!40101 SET NAMES utf8mb4 */;\n\
            CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */;\n\
            \n\
            USE `shop`;\n\
            CREATE TABLE `t` (`id` int, `s` varchar(9) DEFAULT 'a;b\\'c');\n\
            INSERT INTO `t` VALUES (1,'x;y'),(2,'\\\\');\n\
            DELIMITER ;;\n\
            /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 trigger tr before insert on t for each row set new.s=upper(new.s) */;;\n\
            CREATE DEFINER=`root`@`127.0.0.1` PROCEDURE `p`()\nbegin select 'DEFINER=`x`@`y`'; end ;;\n\
            DELIMITER ;\n\
            /*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER='app'@'%' SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 */;\n\
            USE `shop`;\n\
            /*!40000 DROP DATABASE IF EXISTS `shop`*/;\n";
        let (out, result) = filter(sql);
        let checked = result.unwrap();
        assert_eq!(checked.database.as_deref(), Some("shop"));
        assert_eq!(checked.charset.as_deref(), Some("latin1"));
        assert_eq!(checked.collation.as_deref(), Some("latin1_swedish_ci"));
        assert_eq!(checked.definers, 3, "{out}");
        assert!(!out.contains("sandbox"), "{out}");
        assert!(!out.contains("CREATE DATABASE"), "{out}");
        assert!(!out.contains("USE `shop`"), "{out}");
        assert!(!out.contains("DROP DATABASE"), "{out}");
        assert!(out.contains("/*!50017 DEFINER=CURRENT_USER*/"), "{out}");
        assert!(
            out.contains("CREATE DEFINER=CURRENT_USER PROCEDURE"),
            "{out}"
        );
        assert!(
            out.contains("/*!50013 DEFINER=CURRENT_USER SQL SECURITY DEFINER */"),
            "{out}"
        );
        assert!(
            out.contains("'DEFINER=`x`@`y`'"),
            "text in quotes is data: {out}"
        );
        assert!(
            out.contains("INSERT INTO `t` VALUES (1,'x;y'),(2,'\\\\');"),
            "{out}"
        );
        assert!(out.contains("DELIMITER ;;\n"), "{out}");
        assert_eq!(
            out.lines().count(),
            sql.lines().count(),
            "line numbers are kept:\n{out}"
        );
        assert!(checked.note().unwrap().contains("staging database"));
    }

    #[test]
    fn client_commands_and_file_loads_are_refused() {
        for (sql, words) in [
            ("select 1;\n\\! touch /tmp/x\n", "backslash"),
            ("CREATE TABLE t (x int);\n-- `a\n\\! id`\n", "backslash"),
            ("system touch /tmp/x;\n", "client command system"),
            ("SOURCE /etc/passwd;\n", "client command source"),
            ("/* c */ tee /tmp/out;\n", "client command tee"),
            (
                "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t;\n",
                "LOAD DATA",
            ),
            ("select 1 /*!50000 \\! id */;\n", "backslash"),
            ("DELIMITER \\!\n", "DELIMITER"),
        ] {
            let r = refused(sql);
            assert!(
                r.reason.contains(words) || r.text.contains(words),
                "{sql:?}: {r}"
            );
        }
        let r = refused("select 1;\n\nselect 2;\n\\! id\n");
        assert_eq!(r.line, 4, "{r}");
    }

    #[test]
    fn several_databases_and_system_databases_are_refused() {
        let r = refused(
            "CREATE DATABASE `a`;\nUSE `a`;\nCREATE TABLE t (x int);\nCREATE DATABASE `b`;\n",
        );
        assert!(r.reason.contains("more than one database (a and b"), "{r}");
        assert!(r.reason.contains("--all-databases"), "{r}");
        let r = refused("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysql`;\n");
        assert!(r.reason.contains("server's own database mysql"), "{r}");
        let (_, ok) = filter("USE `a`;\nUSE a;\n");
        assert_eq!(ok.unwrap().database.as_deref(), Some("a"));
    }

    #[test]
    fn binary_log_settings_are_left_out_and_big_inserts_stream() {
        let (out, checked) = filter(
            "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;\nSET @@SESSION.SQL_LOG_BIN= 0;\nSET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'x:1-5';\nselect 1;\n",
        );
        assert_eq!(out, "\n\n\nselect 1;\n");
        assert_eq!(checked.unwrap().left_out, 3);

        let mut sql = String::from("INSERT INTO `t` VALUES ");
        while sql.len() < 3 * STREAM_AFTER {
            sql.push_str("(1,'DEFINER=`a`@`b` ;; \\' '),");
        }
        sql.push_str("(2,'end');\nselect 2;\n");
        let (out, checked) = filter(&sql);
        assert_eq!(out, sql, "an INSERT passes unchanged");
        assert_eq!(checked.unwrap().definers, 0);
    }

    #[test]
    fn definer_forms() {
        for (sql, want) in [
            (
                "CREATE DEFINER = root@localhost PROCEDURE p() select 1;",
                "CREATE DEFINER=CURRENT_USER PROCEDURE p() select 1;",
            ),
            (
                "CREATE DEFINER=CURRENT_USER() FUNCTION f() RETURNS int return 1;",
                "CREATE DEFINER=CURRENT_USER FUNCTION f() RETURNS int return 1;",
            ),
            (
                "CREATE DEFINER='a''b'@'%' VIEW v AS select 1;",
                "CREATE DEFINER=CURRENT_USER VIEW v AS select 1;",
            ),
            (
                "CREATE VIEW v AS select 1 AS definer;",
                "CREATE VIEW v AS select 1 AS definer;",
            ),
            (
                "CREATE VIEW v SQL SECURITY DEFINER AS select 1;",
                "CREATE VIEW v SQL SECURITY DEFINER AS select 1;",
            ),
        ] {
            let (out, result) = filter(sql);
            assert!(result.is_ok(), "{sql}");
            assert_eq!(out, want);
        }
    }
}
