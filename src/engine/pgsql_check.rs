//! Checks a plain-SQL PostgreSQL dump before `psql` may run it.
//!
//! A plain dump is a psql script: its meta-commands can run shell commands (`\!`), write or read files (`\o`, `\w`,
//! `\copy`, `\i`) or connect elsewhere (CVE-2025-8714), and its `COPY … PROGRAM` / `COPY … 'file'` statements reach
//! the server's files. [`check_plain_sql`] reads the file once, line by line, lexes it the way psql's own lexer does
//! (quotes, `E''` escapes, dollar quotes, nested comments, `COPY … FROM stdin` data up to `\.`) and refuses every
//! meta-command except the ones pg_dump writes, and every `COPY` except `COPY … FROM stdin`.
//!
//! Where psql versions or settings could read a construct two ways, the construct is refused rather than guessed:
//! a backslash before a quote in a `'…'` string (it depends on `standard_conforming_strings`), a number glued to a
//! word or `$`, psql's own upper-case variables (`:LAST_ERROR_MESSAGE` expands to nothing), and a `COPY … FROM stdin`
//! that some psql version would send together with a preceding `CREATE FUNCTION … BEGIN`.
//!
//! What the check relies on, which the restore must keep true:
//! - psql runs with `-X -v ON_ERROR_STOP=1`: after a failed `COPY … FROM stdin` psql would otherwise go on to read the
//!   data lines as commands.
//! - psql's client encoding stays ASCII-safe (UTF8, LATIN*, EUC_*, …). Under SJIS, BIG5, GBK, UHC, JOHAB or GB18030
//!   psql hides the byte after a lead byte, so it reads the same bytes differently from any other lexer. A statement
//!   that names one of them together with `client_encoding` or `SET NAMES` is refused, but SQL can compute the name,
//!   so this is a first line only. Running the checked file inside psql's own `\restrict` mode with a key the dump
//!   cannot know (psql 18, or the August 2025 minor releases 13.22, 14.19, 15.14, 16.10, 17.6) closes that gap.
//! - What SQL does inside the server (DO blocks, functions, `lo_import()`) is bounded by the privileges of the
//!   throwaway role the import runs as (`engine::postgres::import_boundary`), not by this check: the check is a
//!   first filter, not the boundary.
//!
//! [`filter_plain_sql`] also applies the statement-level rules of `statements` (statements on databases, roles and
//! the server refused; pg_dump's `--create`/`--clean` preamble and whole-line ownership and privileges left out)
//! and writes the copy psql runs.
#![allow(
    clippy::indexing_slicing,
    reason = "a lexer walks its input by byte offsets it has just bounds-checked (`i < bytes.len()`); \
              fuzzed and case-tested, and its callers treat what it returns as untrusted"
)]

use std::fmt;
use std::io::{self, BufRead, Write};

mod statements;

use statements::{Class, DbVerb, Kw};

/// Longest SQL line read into memory; a longer one is refused. `COPY … FROM stdin` data lines are streamed and may
/// be longer (a large `bytea` value is one line).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Longest [`Refusal::text`], in characters.
const TEXT_CHARS: usize = 200;

/// Bytes kept from the start of a COPY data line, for a refusal's text.
const DATA_HEAD_BYTES: usize = 1024;

const SHELL_OR_FILE: &str = "shell and file meta-commands are not allowed in an imported dump";
const NOT_ALONE: &str =
    "\\connect, \\restrict and \\unrestrict must stand alone on their line in an imported dump";
const STRAY_TERMINATOR: &str =
    "\\. is only allowed to end the data of a COPY ... FROM stdin in an imported dump";
const RESTRICT_FORM: &str = "\\restrict and \\unrestrict take exactly one alphanumeric key";
const SECOND_RESTRICT: &str = "a second \\restrict is not allowed in an imported dump";
const RESTRICT_OTHER_KEY: &str =
    "\\restrict after \\connect must repeat the key of the dump's first \\restrict";
const UNRESTRICT_WITHOUT: &str =
    "\\unrestrict is only allowed after a \\restrict in an imported dump";
const UNRESTRICT_OTHER_KEY: &str = "\\unrestrict with another key than the \\restrict before it \
     is not allowed in an imported dump";
const SECOND_UNRESTRICT: &str = "a second \\unrestrict is not allowed in an imported dump";
const CONNECT_FORM: &str =
    "\\connect must name just the target database (plain or in double quotes) in an imported dump";
const COPY_TO: &str =
    "COPY ... TO is not allowed in an imported dump (only COPY ... FROM stdin is)";
const COPY_PROGRAM: &str =
    "COPY ... PROGRAM is not allowed in an imported dump: it runs a command on the database server";
const COPY_FILE: &str =
    "COPY ... FROM a file is not allowed in an imported dump: it reads the database server's files";
const COPY_OTHER: &str = "only COPY ... FROM stdin is allowed in an imported dump";
const COPY_BUNDLED: &str = "COPY ... FROM stdin must be a statement of its own; here some psql \
     versions would send it together with the CREATE FUNCTION ... BEGIN before it";
const AMBIGUOUS_QUOTE: &str = "a backslash right before a quote in a '...' string reads \
     differently when standard_conforming_strings is off; refused to be safe (a dump taken with \
     PGOPTIONS='-c standard_conforming_strings=off' writes such strings unambiguously)";
const AMBIGUOUS_TOKEN: &str = "a number glued to a word, quote or $ reads differently in \
     different psql versions; refused to be safe";
const BOM_GLUED: &str = "a byte order mark glued to $, a digit or E' reads differently depending \
     on psql's client encoding; remove the byte order mark";
const NUL_BYTE: &str = "NUL byte: psql would not read this line as written";
const TOO_LONG: &str = "line too long (over 64 MiB)";

/// Why a plain SQL file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Line number, from 1.
    pub line: u64,
    /// The offending line, trimmed, at most 200 characters.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Refusal {
    fn new(line: u64, raw: &[u8], reason: impl Into<String>) -> Self {
        Refusal {
            line,
            text: excerpt(raw),
            reason: reason.into(),
        }
    }
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

impl std::error::Error for Refusal {}

/// The start of a line for messages: trimmed, control characters blanked, at most [`TEXT_CHARS`] characters.
fn excerpt(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(raw.len());
    let head = &raw[start..raw.len().min(start + TEXT_CHARS * 4)];
    let text: String = String::from_utf8_lossy(head)
        .chars()
        .take(TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text.trim_end().to_string()
}

/// Checks a plain-SQL dump before psql may run it. `target_db` is the database name `\connect` may name.
/// Returns the number of lines read, or the first refusal. I/O errors are returned as
/// `Err(Refusal { reason: "cannot read: ..." })`.
pub fn check_plain_sql(input: &mut dyn BufRead, target_db: &str) -> Result<u64, Refusal> {
    filter_plain_sql(input, &mut io::sink(), target_db).map(|checked| checked.lines)
}

/// What [`filter_plain_sql`] found and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Lines read.
    pub lines: u64,
    /// The database of a `pg_dump --create`/`--clean` preamble that was skipped.
    pub preamble_database: Option<String>,
    /// `ALTER … OWNER TO` statements skipped.
    pub ownership_skipped: u64,
    /// `GRANT`, `REVOKE` and `ALTER DEFAULT PRIVILEGES` statements skipped.
    pub privileges_skipped: u64,
}

impl Checked {
    /// A note for the user on what was left out, if anything.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(db) = &self.preamble_database {
            parts.push(format!(
                "the pg_dump --create/--clean preamble for database {db} (DROP/CREATE DATABASE, \\connect) was skipped: its data goes into a staging database, never into {db} itself"
            ));
        }
        if self.ownership_skipped + self.privileges_skipped > 0 {
            parts.push(format!(
                "{} ownership and {} privilege statements were skipped (as pg_restore --no-owner --no-privileges does): the objects belong to the profile's role",
                self.ownership_skipped, self.privileges_skipped
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Checks a plain-SQL dump like [`check_plain_sql`] and writes what psql may run to `output`: the same bytes,
/// except that the lines of pg_dump's `--create`/`--clean` preamble, its `\connect` and whole-line ownership and
/// privilege statements are left empty (so psql's line numbers still match the file's).
pub fn filter_plain_sql(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    target_db: &str,
) -> Result<Checked, Refusal> {
    let mut checker = Checker::new(target_db.as_bytes());
    let mut line = Vec::new();
    let mut lines: u64 = 0;
    loop {
        let number = lines + 1;
        if checker.pending_copies > 0 {
            match read_data_line(input, &mut line, output) {
                Err(err) => return Err(cannot_read(number, &err)),
                Ok(None) => break,
                Ok(Some(data)) => {
                    lines = number;
                    if data.nul {
                        return Err(Refusal::new(number, &line, NUL_BYTE));
                    }
                    // psql ends COPY data at a line that is exactly `\.` (with \n or \r\n).
                    if (data.len == 2 && line == b"\\.") || (data.len == 3 && line == b"\\.\r") {
                        checker.pending_copies -= 1;
                    }
                }
            }
            continue;
        }
        match read_sql_line(input, &mut line) {
            Err(err) => return Err(cannot_read(number, &err)),
            Ok(SqlLine::Eof) => break,
            Ok(SqlLine::TooLong) => return Err(Refusal::new(number, &line, TOO_LONG)),
            Ok(SqlLine::Line { newline }) => {
                lines = number;
                checker.check_line(number, &line)?;
                let kept: &[u8] = if checker.skip_line { b"" } else { &line };
                output
                    .write_all(kept)
                    .and_then(|()| output.write_all(if newline { b"\n" } else { b"" }))
                    .map_err(|err| cannot_write(number, &err))?;
            }
        }
    }
    Ok(Checked {
        lines,
        preamble_database: checker
            .dumped_db
            .as_ref()
            .map(|db| String::from_utf8_lossy(db).into_owned()),
        ownership_skipped: checker.ownership_skipped,
        privileges_skipped: checker.privileges_skipped,
    })
}

fn cannot_write(line: u64, err: &io::Error) -> Refusal {
    Refusal {
        line,
        text: String::new(),
        reason: format!("cannot write the checked copy: {err}"),
    }
}

fn cannot_read(line: u64, err: &io::Error) -> Refusal {
    Refusal {
        line,
        text: String::new(),
        reason: format!("cannot read: {err}"),
    }
}

/// Whether the first bytes of a file look like a plain-SQL dump, for import detection: after an optional UTF-8 BOM
/// and blank lines the text starts with a comment, `\restrict`, `\connect` or a statement pg_dump starts with.
pub fn looks_like_plain_sql(first_bytes: &[u8]) -> bool {
    let bytes = first_bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(first_bytes);
    if !looks_like_text(bytes) {
        return false;
    }
    let Some(start) = bytes.iter().position(|c| !c.is_ascii_whitespace()) else {
        return false;
    };
    let text = &bytes[start..];
    const OPENINGS: [&[u8]; 6] = [
        b"--",
        b"/*",
        b"\\restrict ",
        b"\\connect ",
        b"\\set ON_ERROR_STOP",
        b"\\encoding ",
    ];
    const STATEMENTS: [&[&[u8]]; 13] = [
        &[b"set"],
        &[b"create"],
        &[b"begin"],
        &[b"select", b"pg_catalog"],
        &[b"start", b"transaction"],
        &[b"drop"],
        &[b"alter"],
        &[b"insert"],
        &[b"copy"],
        &[b"comment"],
        &[b"grant"],
        &[b"revoke"],
        &[b"reset"],
    ];
    OPENINGS.iter().any(|opening| text.starts_with(opening))
        || STATEMENTS
            .iter()
            .any(|words| starts_with_words(text, words))
}

/// Text, not binary: no control characters but whitespace, and valid UTF-8 or mostly ASCII (a LATIN1 dump).
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes
        .iter()
        .any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) || c == 0x7f)
    {
        return false;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // A sample may end inside a character.
        Err(err) if err.error_len().is_none() => true,
        Err(_) => bytes.iter().filter(|c| c.is_ascii()).count() * 10 >= bytes.len() * 9,
    }
}

/// `text` starts with these words (case-insensitive), separated by whitespace, the last one ending there.
fn starts_with_words(text: &[u8], words: &[&[u8]]) -> bool {
    let mut rest = text;
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            let spaces = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
            if spaces == 0 {
                return false;
            }
            rest = &rest[spaces..];
        }
        if rest.len() < word.len() || !rest[..word.len()].eq_ignore_ascii_case(word) {
            return false;
        }
        rest = &rest[word.len()..];
    }
    rest.first().is_none_or(|&c| !is_ident_cont(c))
}

// ---------------------------------------------------------------------------------------------------------------
// Reading lines

enum SqlLine {
    Eof,
    /// A line; `newline`: it ended with `\n` (the last line of a file may not).
    Line {
        newline: bool,
    },
    TooLong,
}

/// Reads one line without its `\n` into `line`, refusing to hold more than [`MAX_LINE_BYTES`].
fn read_sql_line(input: &mut dyn BufRead, line: &mut Vec<u8>) -> io::Result<SqlLine> {
    line.clear();
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(if line.is_empty() {
                SqlLine::Eof
            } else {
                SqlLine::Line { newline: false }
            });
        }
        let newline = available.iter().position(|&c| c == b'\n');
        let part = newline.unwrap_or(available.len());
        if line.len() + part > MAX_LINE_BYTES {
            if line.is_empty() {
                // Keep enough for the message.
                line.extend_from_slice(&available[..part.min(DATA_HEAD_BYTES)]);
            }
            return Ok(SqlLine::TooLong);
        }
        line.extend_from_slice(&available[..part]);
        match newline {
            Some(at) => {
                input.consume(at + 1);
                return Ok(SqlLine::Line { newline: true });
            }
            None => input.consume(part),
        }
    }
}

/// What is known of a COPY data line once it has streamed past.
struct DataLine {
    /// Length without the `\n`.
    len: u64,
    nul: bool,
}

/// Streams one COPY data line to `out`, keeping only its first bytes in `head`. `None` at the end of the input.
fn read_data_line(
    input: &mut dyn BufRead,
    head: &mut Vec<u8>,
    out: &mut dyn Write,
) -> io::Result<Option<DataLine>> {
    head.clear();
    let mut data = DataLine { len: 0, nul: false };
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(any.then_some(data));
        }
        any = true;
        let newline = available.iter().position(|&c| c == b'\n');
        let part = &available[..newline.unwrap_or(available.len())];
        data.nul |= part.contains(&0);
        let room = DATA_HEAD_BYTES.saturating_sub(head.len()).min(part.len());
        head.extend_from_slice(&part[..room]);
        data.len += part.len() as u64;
        let used = part.len() + usize::from(newline.is_some());
        out.write_all(&available[..used])?;
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(data));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Byte classes, as in psql's lexer (src/fe_utils/psqlscan.l)

/// `{space}`: psql takes \r as a newline, so it also ends a `--` comment.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// `{ident_start}`, which is also `{dolq_start}`.
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// `{ident_cont}`.
fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// `{dolq_cont}` and psql's `{variable_char}`.
fn is_tag_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// After a closing quote, psql's `{quotecontinue}`: whitespace or `--` comments that hold a newline (within one
/// line of the file only \r can be one), then a quote that continues the same string. Returns the index after it.
fn quote_continuation(line: &[u8], mut i: usize) -> Option<usize> {
    let comment_end = |from: usize| {
        line[from..]
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .map(|p| from + p)
    };
    loop {
        match line.get(i) {
            Some(b' ' | b'\t' | 0x0c) => i += 1,
            Some(b'-') if line.get(i + 1) == Some(&b'-') => i = comment_end(i + 2)?,
            _ => break,
        }
    }
    match line.get(i) {
        Some(b'\r' | b'\n') => i += 1,
        _ => return None,
    }
    loop {
        match line.get(i) {
            Some(&c) if is_space(c) => i += 1,
            Some(b'-') if line.get(i + 1) == Some(&b'-') => i = comment_end(i + 2)? + 1,
            _ => break,
        }
    }
    (line.get(i) == Some(&b'\'')).then_some(i + 1)
}

/// Where `delimiter` (`$tag$`) first occurs. Each try starts at a `$` and fails at the next `$` at the latest (a tag
/// holds none), so a hostile line cannot make this quadratic.
fn find_delimiter(haystack: &[u8], delimiter: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = haystack[from..].iter().position(|&c| c == b'$') {
        let at = from + found;
        if haystack[at..].starts_with(delimiter) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------------------------
// The checker

/// Lexer state carried from one line to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Normal,
    /// Inside `/* */`, with the nesting depth beyond the first.
    Comment(u32),
    /// Inside a single-quoted string.
    Quote(Quote),
    /// A single-quoted string closed as the line's last byte; psql decides on the next line whether it goes on.
    AfterQuote(Quote),
    /// Inside `"..."`.
    QuotedIdent,
    /// Inside a dollar-quoted string; the delimiter is in `Checker::dollar_delimiter`.
    Dollar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// `'...'` (also `B''`, `X''`, `N''`, `U&''`): backslashes are plain with standard_conforming_strings on.
    Standard,
    /// `E'...'`: backslash escapes.
    Escape,
}

const WORD_CAP: usize = 24;

/// The unquoted word being read in `Lex::Normal`, lower-cased (its first [`WORD_CAP`] bytes).
#[derive(Debug, Default, Clone, Copy)]
struct Word {
    kind: WordKind,
    len: usize,
    bytes: [u8; WORD_CAP],
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum WordKind {
    #[default]
    None,
    /// Starts with a letter, `_` or a byte >= 0x80: psql's identifier (or keyword).
    Ident,
    /// A number or a `$1` parameter.
    Number,
    /// A number with letters glued on: psql versions split it differently.
    Junk,
}

impl Word {
    fn push(&mut self, c: u8) {
        if self.len < WORD_CAP {
            self.bytes[self.len] = c.to_ascii_lowercase();
        }
        self.len = self.len.saturating_add(1);
    }

    /// The whole word, when it was short enough to keep.
    fn text(&self) -> Option<&[u8]> {
        (self.len <= WORD_CAP).then(|| &self.bytes[..self.len])
    }

    fn is_letter(&self, letters: &[u8]) -> bool {
        self.kind == WordKind::Ident && self.len == 1 && letters.contains(&self.bytes[0])
    }
}

/// Words that steer psql's statement splitting or this check's COPY rule: a number glued to one is refused.
const STEERING_WORDS: [&[u8]; 14] = [
    b"create",
    b"function",
    b"procedure",
    b"or",
    b"replace",
    b"schema",
    b"begin",
    b"case",
    b"end",
    b"copy",
    b"from",
    b"to",
    b"stdin",
    b"program",
];

/// One token of a statement, for the statement-level rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'w> {
    /// An unquoted word, lower-cased; `None` when too long to be a keyword.
    Word(Option<&'w [u8]>),
    /// A string literal of any quoting.
    Literal,
    Other,
}

/// Where a `COPY` statement is in its parse.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum CopyParse {
    /// No token yet.
    #[default]
    Start,
    NotCopy,
    /// After `COPY`, before `FROM`/`TO`.
    Direction,
    /// After `FROM`.
    Source,
    /// `COPY … FROM stdin`.
    FromStdin,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SetNames {
    #[default]
    Start,
    AfterSet,
    Yes,
    No,
}

/// What is known of the statement being read: from the last `;` outside parentheses.
#[derive(Debug, Default)]
struct Statement {
    started: bool,
    copy: CopyParse,
    set_names: SetNames,
    names: NameWatch,
    words: statements::Words,
}

/// Watches the letters and digits of a statement (lower-cased, everything else dropped, as PostgreSQL cleans
/// encoding names) for `client_encoding` and for the names of encodings psql cannot lex byte by byte.
#[derive(Debug, Default)]
struct NameWatch {
    recent: u128,
    client_encoding: bool,
    unsafe_encoding: Option<&'static str>,
}

/// Client encodings (and PostgreSQL's aliases) where a multibyte character's later bytes can look like ASCII.
const UNSAFE_ENCODINGS: [&str; 17] = [
    "sjis",
    "shiftjis",
    "mskanji",
    "win932",
    "windows932",
    "shiftjis2004",
    "big5",
    "win950",
    "windows950",
    "gbk",
    "win936",
    "windows936",
    "uhc",
    "win949",
    "windows949",
    "johab",
    "gb18030",
];

/// A name as the low bytes of a `u128`, and the mask that selects them.
const fn name_pattern(name: &str) -> (u128, u128) {
    let bytes = name.as_bytes();
    let mut value: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = (value << 8) | bytes[i] as u128;
        i += 1;
    }
    let mask = if bytes.len() >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * bytes.len())) - 1
    };
    (value, mask)
}

const CLIENT_ENCODING: (u128, u128) = name_pattern("clientencoding");

const UNSAFE_PATTERNS: [(u128, u128); UNSAFE_ENCODINGS.len()] = {
    let mut patterns = [(0, 0); UNSAFE_ENCODINGS.len()];
    let mut i = 0;
    while i < UNSAFE_ENCODINGS.len() {
        patterns[i] = name_pattern(UNSAFE_ENCODINGS[i]);
        i += 1;
    }
    patterns
};

impl NameWatch {
    fn feed(&mut self, c: u8) {
        if !c.is_ascii_alphanumeric() {
            return;
        }
        let c = c.to_ascii_lowercase();
        self.recent = (self.recent << 8) | u128::from(c);
        // Only the last letters of the names below can complete one.
        if !matches!(
            c,
            b'g' | b's' | b'i' | b'2' | b'0' | b'4' | b'5' | b'k' | b'6' | b'c' | b'9' | b'b'
        ) {
            return;
        }
        let (value, mask) = CLIENT_ENCODING;
        if self.recent & mask == value {
            self.client_encoding = true;
        }
        if self.unsafe_encoding.is_none()
            && let Some(at) = UNSAFE_PATTERNS
                .iter()
                .position(|&(value, mask)| self.recent & mask == value)
        {
            self.unsafe_encoding = Some(UNSAFE_ENCODINGS[at]);
        }
    }

    fn feed_all(&mut self, bytes: &[u8]) {
        for &c in bytes {
            self.feed(c);
        }
    }
}

/// How one psql version decides whether a `;` ends the statement: inside `CREATE [OR REPLACE] FUNCTION|PROCEDURE …
/// BEGIN … END` it does not (psql 14 and later). The rules moved between versions, so several are followed and a
/// `COPY … FROM stdin` is only accepted where all of them agree that it is sent on its own.
#[derive(Debug, Clone, Copy)]
struct Splitter {
    /// Whether words inside parentheses count towards the statement's first words (BEGIN, CASE and END inside
    /// parentheses never count).
    counts_in_parens: bool,
    /// Whether the elements of `CREATE SCHEMA … CREATE FUNCTION …` are followed too.
    schema_elements: bool,
    initial: [u8; 4],
    initial_count: usize,
    element: [u8; 4],
    element_count: usize,
    begin_depth: u32,
}

impl Splitter {
    const fn new(counts_in_parens: bool, schema_elements: bool) -> Self {
        Splitter {
            counts_in_parens,
            schema_elements,
            initial: [0; 4],
            initial_count: 0,
            element: [0; 4],
            element_count: 0,
            begin_depth: 0,
        }
    }

    fn identifier(&mut self, word: Option<&[u8]>, paren_depth: u32) {
        if paren_depth > 0 && !self.counts_in_parens {
            return;
        }
        if self.initial_count == 0 {
            self.initial = [0; 4];
            self.element = [0; 4];
            self.element_count = 0;
        }
        record_initial(&mut self.initial, &mut self.initial_count, word);
        let create_schema =
            self.schema_elements && self.initial[0] == b'c' && self.initial[1] == b's';
        if create_schema && self.begin_depth == 0 {
            if word == Some(b"create".as_slice()) {
                self.element = [0; 4];
                self.element_count = 0;
            }
            record_initial(&mut self.element, &mut self.element_count, word);
        }
        let routine =
            is_create_routine(&self.initial) || (create_schema && is_create_routine(&self.element));
        if routine && paren_depth == 0 {
            match word {
                Some(b"begin") => self.begin_depth = self.begin_depth.saturating_add(1),
                Some(b"case") if self.begin_depth >= 1 => {
                    self.begin_depth = self.begin_depth.saturating_add(1);
                }
                Some(b"end") if self.begin_depth > 0 => self.begin_depth -= 1,
                _ => {}
            }
        }
    }

    /// A `;` outside parentheses: whether this version ends the statement there.
    fn semicolon(&mut self) -> bool {
        if self.begin_depth == 0 {
            self.initial_count = 0;
            true
        } else {
            false
        }
    }
}

fn record_initial(slots: &mut [u8; 4], count: &mut usize, word: Option<&[u8]>) {
    if let Some(slot) = slots.get_mut(*count)
        && let Some(
            word @ (b"create" | b"function" | b"procedure" | b"or" | b"replace" | b"schema"),
        ) = word
    {
        *slot = word[0];
    }
    *count = count.saturating_add(1);
}

fn is_create_routine(initial: &[u8; 4]) -> bool {
    initial[0] == b'c'
        && (initial[1] == b'f'
            || initial[1] == b'p'
            || (initial[1] == b'o'
                && initial[2] == b'r'
                && (initial[3] == b'f' || initial[3] == b'p')))
}

/// The `\restrict KEY` … `\unrestrict KEY` bracket. pg_dump --create closes and reopens it with the same key
/// around its `\connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Restrict {
    None,
    On(Vec<u8>),
    Off(Vec<u8>),
    Reconnected(Vec<u8>),
}

struct Checker<'t> {
    target_db: &'t [u8],
    line: u64,
    lex: Lex,
    dollar_delimiter: Vec<u8>,
    word: Word,
    /// Whether an odd number of backslashes comes just before the current byte of a standard string.
    odd_backslashes: bool,
    paren_depth: u32,
    splitters: [Splitter; 2],
    /// Whether every psql version started a new statement where the current one starts.
    statement_fresh: bool,
    statement: Statement,
    /// `COPY … FROM stdin` statements whose data follows the current line.
    pending_copies: u32,
    restrict: Restrict,
    /// Whether the line being read started with no statement under way (a whole-line statement may be skipped).
    line_fresh: bool,
    /// Statements that ended on the line being read, and the class of the last one.
    ended_in_line: u32,
    line_class: Class,
    line_database: bool,
    line_all_split: bool,
    /// Whether the line just read is left out of the copy psql runs.
    skip_line: bool,
    /// Whether a statement other than settings and the preamble has been read.
    content_seen: bool,
    /// Whether a `\connect` has been read.
    connected: bool,
    /// The database named by pg_dump's preamble.
    dumped_db: Option<Vec<u8>>,
    ownership_skipped: u64,
    privileges_skipped: u64,
}

impl<'t> Checker<'t> {
    fn new(target_db: &'t [u8]) -> Self {
        Checker {
            target_db,
            line: 0,
            lex: Lex::Normal,
            dollar_delimiter: Vec::new(),
            word: Word::default(),
            odd_backslashes: false,
            paren_depth: 0,
            splitters: [
                // psql 14 to 18.
                Splitter::new(true, false),
                // The later rework: nothing inside parentheses counts; CREATE SCHEMA elements are followed.
                Splitter::new(false, true),
            ],
            statement_fresh: true,
            statement: Statement::default(),
            pending_copies: 0,
            restrict: Restrict::None,
            line_fresh: false,
            ended_in_line: 0,
            line_class: Class::Run,
            line_database: false,
            line_all_split: true,
            skip_line: false,
            content_seen: false,
            connected: false,
            dumped_db: None,
            ownership_skipped: 0,
            privileges_skipped: 0,
        }
    }

    fn refuse(&self, line: &[u8], reason: impl Into<String>) -> Refusal {
        Refusal::new(self.line, line, reason)
    }

    /// Lexes one line (without its `\n`; psql lexes each line on its own).
    fn check_line(&mut self, number: u64, line: &[u8]) -> Result<(), Refusal> {
        self.line = number;
        if line.contains(&0) {
            return Err(self.refuse(line, NUL_BYTE));
        }
        self.skip_line = false;
        self.ended_in_line = 0;
        self.line_database = false;
        self.line_all_split = true;
        self.line_fresh = !self.statement.started
            && self.lex == Lex::Normal
            && self.paren_depth == 0
            && self.statement_fresh;
        if self.line_fresh && line.starts_with(statements::PG_DUMPALL_HEADER) {
            return Err(self.refuse(line, statements::PG_DUMPALL));
        }
        self.lex_line(number, line)?;
        self.decide_line(line)
    }

    /// Whether the line just lexed is skipped (pg_dump's preamble, whole-line ownership and privileges), refused
    /// (a database statement that is not the preamble), or kept.
    fn decide_line(&mut self, line: &[u8]) -> Result<(), Refusal> {
        let whole = self.line_fresh
            && self.ended_in_line == 1
            && self.line_all_split
            && !self.statement.started
            && self.lex == Lex::Normal;
        if self.line_database && !whole {
            return Err(self.refuse(line, statements::DATABASE_NOT_ALONE));
        }
        if !whole {
            return Ok(());
        }
        match self.line_class {
            Class::Database => {
                let Some((verb, name)) = statements::database_statement(line) else {
                    return Err(self.refuse(line, statements::DATABASES));
                };
                let dumped = self.dumped_db.as_ref();
                let allowed = match verb {
                    DbVerb::DropOrCreate => {
                        !self.content_seen && !self.connected && dumped.is_none_or(|d| *d == name)
                    }
                    DbVerb::Alter => dumped == Some(&name),
                };
                if !allowed {
                    return Err(self.refuse(line, statements::DATABASES));
                }
                self.dumped_db = Some(name);
                self.skip_line = true;
            }
            Class::Owner => {
                self.ownership_skipped += 1;
                self.skip_line = true;
            }
            Class::Privileges => {
                self.privileges_skipped += 1;
                self.skip_line = true;
            }
            Class::BuiltinComment => self.skip_line = true,
            Class::Run | Class::Setting | Class::Refused(_) => {}
        }
        Ok(())
    }

    /// Lexes one line.
    fn lex_line(&mut self, number: u64, line: &[u8]) -> Result<(), Refusal> {
        // psql skips empty lines without lexing them, so a string that closed at the end of the line before may
        // still go on after them.
        if line.is_empty() {
            return Ok(());
        }
        self.word = Word::default();
        self.odd_backslashes = false;
        let mut i = 0;
        let mut starts_normal = false;
        if number == 1
            && let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF".as_slice())
        {
            // psql drops a byte order mark on line 1 when its client encoding is UTF8, and otherwise reads it as
            // part of a word. Only what would turn into something else glued to that word is refused.
            if matches!(rest, [b'$' | b'0'..=b'9', ..] | [b'e' | b'E', b'\'', ..]) {
                return Err(self.refuse(line, BOM_GLUED));
            }
            i = 3;
        }
        match self.lex {
            Lex::AfterQuote(quote) => match quote_continuation(line, 0) {
                Some(next) => {
                    self.lex = Lex::Quote(quote);
                    i = next;
                }
                None => {
                    self.lex = Lex::Normal;
                    starts_normal = true;
                }
            },
            Lex::Normal => starts_normal = true,
            _ => {}
        }
        while i < line.len() {
            i = match self.lex {
                Lex::Normal => self.step_normal(line, i, starts_normal)?,
                Lex::Comment(depth) => self.step_comment(line, i, depth),
                Lex::Quote(quote) => self.step_quote(line, i, quote)?,
                Lex::AfterQuote(_) => line.len(),
                Lex::QuotedIdent => self.step_quoted_ident(line, i),
                Lex::Dollar => self.step_dollar(line, i),
            };
        }
        if self.lex == Lex::Normal {
            self.end_word(line)?;
        }
        self.check_encoding(line)
    }

    fn step_normal(
        &mut self,
        line: &[u8],
        i: usize,
        starts_normal: bool,
    ) -> Result<usize, Refusal> {
        let c = line[i];
        let next = line.get(i + 1).copied();
        match c {
            b'-' if next == Some(b'-') => {
                self.end_word(line)?;
                // To the next \r (a newline to psql's lexer) or the end of the line.
                Ok(line[i + 2..]
                    .iter()
                    .position(|&c| c == b'\r')
                    .map_or(line.len(), |p| i + 2 + p))
            }
            b'/' if next == Some(b'*') => {
                self.end_word(line)?;
                self.lex = Lex::Comment(0);
                Ok(i + 2)
            }
            b'\'' => self.start_quote(line, i),
            b'"' => {
                self.end_word(line)?;
                self.token(line, Tok::Other)?;
                self.lex = Lex::QuotedIdent;
                Ok(i + 1)
            }
            b'$' => self.dollar(line, i),
            b'\\' => {
                self.end_word(line)?;
                let before = line[..i]
                    .strip_prefix(b"\xEF\xBB\xBF".as_slice())
                    .filter(|_| self.line == 1);
                let alone =
                    starts_normal && before.unwrap_or(&line[..i]).iter().all(|&c| is_space(c));
                self.meta_command(line, i, alone)?;
                Ok(line.len())
            }
            b';' => {
                self.end_word(line)?;
                if self.paren_depth == 0 {
                    self.end_statement(line)?;
                } else {
                    self.token(line, Tok::Other)?;
                }
                Ok(i + 1)
            }
            b'(' => {
                self.end_word(line)?;
                self.token(line, Tok::Other)?;
                self.paren_depth = self.paren_depth.saturating_add(1);
                Ok(i + 1)
            }
            b')' => {
                self.end_word(line)?;
                self.token(line, Tok::Other)?;
                self.paren_depth = self.paren_depth.saturating_sub(1);
                Ok(i + 1)
            }
            b':' => self.colon(line, i),
            b'&' if self.word.is_letter(b"u") => {
                // `U&'…'`, `U&"…"`: psql never takes the U for an identifier.
                self.word = Word::default();
                self.token(line, Tok::Other)?;
                Ok(i + 1)
            }
            _ if is_ident_start(c) => {
                self.word.kind = match self.word.kind {
                    WordKind::None => WordKind::Ident,
                    WordKind::Number | WordKind::Junk => WordKind::Junk,
                    WordKind::Ident => WordKind::Ident,
                };
                self.word.push(c);
                self.statement.names.feed(c);
                Ok(i + 1)
            }
            b'0'..=b'9' => {
                if self.word.kind == WordKind::None {
                    self.word.kind = WordKind::Number;
                }
                self.word.push(c);
                self.statement.names.feed(c);
                Ok(i + 1)
            }
            b'.' if self.word.kind == WordKind::Number => {
                self.word.push(c);
                Ok(i + 1)
            }
            _ if is_space(c) => {
                self.end_word(line)?;
                Ok(i + 1)
            }
            _ => {
                self.end_word(line)?;
                self.token(line, Tok::Other)?;
                Ok(i + 1)
            }
        }
    }

    fn start_quote(&mut self, line: &[u8], i: usize) -> Result<usize, Refusal> {
        let quote = if self.word.is_letter(b"e") {
            self.word = Word::default();
            Quote::Escape
        } else if self.word.is_letter(b"bxn") {
            // Bit, hex and national strings: no backslash escapes, and the letter is no identifier.
            self.word = Word::default();
            Quote::Standard
        } else if self.word.kind == WordKind::Junk
            && self.word.text().is_none_or(|t| t.ends_with(b"e"))
        {
            // `1e'…'` is 1 and an E'' string in psql 14, a bad number and a '' string later.
            return Err(self.refuse(line, AMBIGUOUS_TOKEN));
        } else {
            self.end_word(line)?;
            Quote::Standard
        };
        self.token(line, Tok::Literal)?;
        self.odd_backslashes = false;
        self.lex = Lex::Quote(quote);
        Ok(i + 1)
    }

    fn step_quote(&mut self, line: &[u8], i: usize, quote: Quote) -> Result<usize, Refusal> {
        let plain = line[i..]
            .iter()
            .position(|&c| c == b'\'' || c == b'\\')
            .unwrap_or(line.len() - i);
        if plain > 0 {
            self.odd_backslashes = false;
            self.statement.names.feed_all(&line[i..i + plain]);
            return Ok(i + plain);
        }
        // Here a quote or a backslash.
        match (quote, line[i]) {
            (_, b'\'') => {
                // With standard_conforming_strings off psql reads '…' like E'…': an odd run of backslashes would
                // escape this quote and the string would end elsewhere.
                if quote == Quote::Standard && self.odd_backslashes {
                    return Err(self.refuse(line, AMBIGUOUS_QUOTE));
                }
                self.odd_backslashes = false;
                if line.get(i + 1) == Some(&b'\'') {
                    return Ok(i + 2);
                }
                Ok(self.close_quote(line, i + 1, quote))
            }
            (Quote::Standard, _) => {
                self.odd_backslashes = !self.odd_backslashes;
                Ok(i + 1)
            }
            // The escaped byte may be a quote; a backslash at the end of the line escapes nothing on the next.
            (Quote::Escape, _) => Ok((i + 2).min(line.len())),
        }
    }

    /// After a closing quote at `after - 1`: the string may go on after whitespace holding a newline.
    fn close_quote(&mut self, line: &[u8], after: usize, quote: Quote) -> usize {
        if after >= line.len() {
            self.lex = Lex::AfterQuote(quote);
            return line.len();
        }
        match quote_continuation(line, after) {
            Some(next) => next,
            None => {
                self.lex = Lex::Normal;
                after
            }
        }
    }

    fn step_quoted_ident(&mut self, line: &[u8], i: usize) -> usize {
        let plain = line[i..]
            .iter()
            .position(|&c| c == b'"')
            .unwrap_or(line.len() - i);
        if plain > 0 {
            self.statement.names.feed_all(&line[i..i + plain]);
            return i + plain;
        }
        if line.get(i + 1) == Some(&b'"') {
            return i + 2;
        }
        self.lex = Lex::Normal;
        i + 1
    }

    fn step_comment(&mut self, line: &[u8], i: usize, depth: u32) -> usize {
        let plain = line[i..]
            .iter()
            .position(|&c| c == b'*' || c == b'/')
            .unwrap_or(line.len() - i);
        if plain > 0 {
            return i + plain;
        }
        match (line[i], line.get(i + 1)) {
            (b'/', Some(b'*')) => {
                self.lex = Lex::Comment(depth.saturating_add(1));
                i + 2
            }
            (b'*', Some(b'/')) => {
                self.lex = if depth == 0 {
                    Lex::Normal
                } else {
                    Lex::Comment(depth - 1)
                };
                i + 2
            }
            _ => i + 1,
        }
    }

    fn step_dollar(&mut self, line: &[u8], i: usize) -> usize {
        match find_delimiter(&line[i..], &self.dollar_delimiter) {
            Some(at) => {
                self.statement.names.feed_all(&line[i..i + at]);
                self.lex = Lex::Normal;
                i + at + self.dollar_delimiter.len()
            }
            None => {
                self.statement.names.feed_all(&line[i..]);
                line.len()
            }
        }
    }

    /// A `$` in `Lex::Normal`: part of a word, a `$tag$` opening, a `$1` parameter or a lone `$`.
    fn dollar(&mut self, line: &[u8], i: usize) -> Result<usize, Refusal> {
        match self.word.kind {
            WordKind::Ident => {
                // `foo$$` is one identifier.
                self.word.push(b'$');
                return Ok(i + 1);
            }
            WordKind::Junk => return Err(self.refuse(line, AMBIGUOUS_TOKEN)),
            WordKind::None | WordKind::Number => self.end_word(line)?,
        }
        let mut end = i + 1;
        if line.get(end).is_some_and(|&c| is_ident_start(c)) {
            end += 1 + line[end + 1..]
                .iter()
                .take_while(|&&c| is_tag_char(c))
                .count();
        }
        if line.get(end) == Some(&b'$') {
            self.dollar_delimiter.clear();
            self.dollar_delimiter.extend_from_slice(&line[i..=end]);
            self.token(line, Tok::Literal)?;
            self.lex = Lex::Dollar;
            return Ok(end + 1);
        }
        if line.get(i + 1).is_some_and(u8::is_ascii_digit) {
            self.word.kind = WordKind::Number;
            self.word.push(b'$');
            return Ok(i + 1);
        }
        self.token(line, Tok::Other)?;
        Ok(i + 1)
    }

    /// A `:` in `Lex::Normal`: a `::` cast, or a psql variable.
    fn colon(&mut self, line: &[u8], i: usize) -> Result<usize, Refusal> {
        self.end_word(line)?;
        self.token(line, Tok::Other)?;
        match line.get(i + 1) {
            Some(b':') => Ok(i + 2),
            Some(&c) if is_tag_char(c) => {
                let end = i
                    + 1
                    + line[i + 1..]
                        .iter()
                        .take_while(|&&c| is_tag_char(c))
                        .count();
                let name = &line[i + 1..end];
                // psql's own variables are upper case; their values are spliced in unchecked, and
                // LAST_ERROR_MESSAGE is empty, which can hide what starts a statement.
                if name.iter().any(u8::is_ascii_uppercase)
                    && name
                        .iter()
                        .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                {
                    let reason = format!(
                        "psql variable :{} is not allowed in an imported dump",
                        String::from_utf8_lossy(name)
                    );
                    return Err(self.refuse(line, reason));
                }
                Ok(end)
            }
            _ => Ok(i + 1),
        }
    }

    fn end_word(&mut self, line: &[u8]) -> Result<(), Refusal> {
        let word = std::mem::take(&mut self.word);
        match word.kind {
            WordKind::None => Ok(()),
            WordKind::Ident => {
                let text = word.text();
                for splitter in &mut self.splitters {
                    splitter.identifier(text, self.paren_depth);
                }
                self.token(line, Tok::Word(text))
            }
            WordKind::Number => self.token(line, Tok::Other),
            WordKind::Junk => {
                // psql 14 reads `1begin` as 1 and BEGIN, later versions as one bad token.
                let steering = word
                    .text()
                    .is_none_or(|text| STEERING_WORDS.iter().any(|w| text.ends_with(w)));
                if steering {
                    return Err(self.refuse(line, AMBIGUOUS_TOKEN));
                }
                self.token(line, Tok::Other)
            }
        }
    }

    /// The statement-level rules, one token at a time.
    fn token(&mut self, line: &[u8], tok: Tok<'_>) -> Result<(), Refusal> {
        let statement = &mut self.statement;
        let first = !statement.started;
        statement.started = true;
        let word = match tok {
            Tok::Word(word) => word,
            Tok::Literal | Tok::Other => None,
        };
        if self.paren_depth == 0 {
            statement.words.push(Kw::of(word));
        }
        statement.set_names = match (statement.set_names, word) {
            (SetNames::Start, Some(b"set")) if first => SetNames::AfterSet,
            (SetNames::AfterSet, Some(b"session" | b"local")) => SetNames::AfterSet,
            (SetNames::AfterSet, Some(b"names")) | (SetNames::Yes, _) => SetNames::Yes,
            _ => SetNames::No,
        };
        match statement.copy {
            CopyParse::Start => {
                statement.copy = if word == Some(b"copy".as_slice()) {
                    CopyParse::Direction
                } else {
                    CopyParse::NotCopy
                };
            }
            CopyParse::Direction if self.paren_depth == 0 => match word {
                Some(b"from") => statement.copy = CopyParse::Source,
                Some(b"to") => return Err(self.refuse(line, COPY_TO)),
                _ => {}
            },
            CopyParse::Source => {
                return match tok {
                    Tok::Word(Some(b"stdin")) => {
                        statement.copy = CopyParse::FromStdin;
                        Ok(())
                    }
                    Tok::Word(Some(b"program")) => Err(self.refuse(line, COPY_PROGRAM)),
                    Tok::Literal => Err(self.refuse(line, COPY_FILE)),
                    _ => Err(self.refuse(line, COPY_OTHER)),
                };
            }
            CopyParse::Direction | CopyParse::NotCopy | CopyParse::FromStdin => {}
        }
        Ok(())
    }

    /// A `;` outside parentheses.
    fn end_statement(&mut self, line: &[u8]) -> Result<(), Refusal> {
        self.check_encoding(line)?;
        let mut all_split = true;
        for splitter in &mut self.splitters {
            all_split &= splitter.semicolon();
        }
        let statement = std::mem::take(&mut self.statement);
        let class = statements::classify(&statement.words);
        if let Class::Refused(reason) = class {
            return Err(self.refuse(line, reason));
        }
        if matches!(class, Class::Run | Class::Owner | Class::Privileges) {
            self.content_seen = true;
        }
        self.line_database |= class == Class::Database;
        self.line_class = class;
        self.ended_in_line = self.ended_in_line.saturating_add(1);
        self.line_all_split &= all_split;
        match statement.copy {
            CopyParse::FromStdin => {
                if !(self.statement_fresh && all_split) {
                    return Err(self.refuse(line, COPY_BUNDLED));
                }
                self.pending_copies = self.pending_copies.saturating_add(1);
            }
            CopyParse::Direction | CopyParse::Source => {
                return Err(self.refuse(line, COPY_OTHER));
            }
            CopyParse::Start | CopyParse::NotCopy => {}
        }
        self.statement_fresh = all_split;
        Ok(())
    }

    fn check_encoding(&self, line: &[u8]) -> Result<(), Refusal> {
        let statement = &self.statement;
        match statement.names.unsafe_encoding {
            Some(name)
                if statement.names.client_encoding || statement.set_names == SetNames::Yes =>
            {
                let reason = format!(
                    "the dump switches psql to a client encoding ({}) whose multibyte characters can hide quotes \
                     and backslashes; only ASCII-safe encodings such as UTF8 can be checked",
                    name.to_ascii_uppercase()
                );
                Err(self.refuse(line, reason))
            }
            _ => Ok(()),
        }
    }

    /// A backslash outside strings and comments: psql runs it as a meta-command. `alone`: nothing but
    /// whitespace before it on a line that did not start inside a string or comment.
    fn meta_command(&mut self, line: &[u8], at: usize, alone: bool) -> Result<(), Refusal> {
        // psql's command name runs to whitespace or the next backslash.
        let name_end = at
            + 1
            + line[at + 1..]
                .iter()
                .take_while(|&&c| !is_space(c) && c != b'\\')
                .count();
        let name = &line[at + 1..name_end];
        let args = &line[name_end..];
        match name {
            b"connect" | b"c" | b"restrict" | b"unrestrict" if !alone => {
                Err(self.refuse(line, NOT_ALONE))
            }
            b"connect" | b"c" => self.connect(line, args),
            b"restrict" => {
                let key = restrict_key(args).ok_or_else(|| self.refuse(line, RESTRICT_FORM))?;
                self.restrict = match std::mem::replace(&mut self.restrict, Restrict::None) {
                    Restrict::None => Restrict::On(key.to_vec()),
                    Restrict::Reconnected(first) if first == key => Restrict::On(first),
                    Restrict::Reconnected(_) => return Err(self.refuse(line, RESTRICT_OTHER_KEY)),
                    Restrict::On(_) | Restrict::Off(_) => {
                        return Err(self.refuse(line, SECOND_RESTRICT));
                    }
                };
                Ok(())
            }
            b"unrestrict" => {
                let key = restrict_key(args).ok_or_else(|| self.refuse(line, RESTRICT_FORM))?;
                self.restrict = match std::mem::replace(&mut self.restrict, Restrict::None) {
                    Restrict::On(first) if first == key => Restrict::Off(first),
                    Restrict::On(_) => return Err(self.refuse(line, UNRESTRICT_OTHER_KEY)),
                    Restrict::None => return Err(self.refuse(line, UNRESTRICT_WITHOUT)),
                    Restrict::Off(_) | Restrict::Reconnected(_) => {
                        return Err(self.refuse(line, SECOND_UNRESTRICT));
                    }
                };
                Ok(())
            }
            b"." => Err(self.refuse(line, STRAY_TERMINATOR)),
            _ if is_shell_or_file(name) => Err(self.refuse(line, SHELL_OR_FILE)),
            _ => {
                let shown: String = String::from_utf8_lossy(name).chars().take(20).collect();
                let reason = format!(
                    "meta-command \\{shown} is not allowed in an imported dump \
                     (only \\connect to the target database, \\restrict and \\unrestrict are)"
                );
                Err(self.refuse(line, reason))
            }
        }
    }

    /// `\connect` to the target only, in the form pg_dump writes for plain names. For a name with characters
    /// outside `[A-Za-z0-9_.]` pg_dump writes `\encoding SQL_ASCII` and `\connect -reuse-previous=on "dbname=…"`,
    /// which are refused.
    fn connect(&mut self, line: &[u8], args: &[u8]) -> Result<(), Refusal> {
        let name = connect_target(args).ok_or_else(|| self.refuse(line, CONNECT_FORM))?;
        // psql takes an argument with `=` or a URI prefix as a connection string.
        let conninfo = name.contains(&b'=')
            || name.starts_with(b"postgresql://")
            || name.starts_with(b"postgres://");
        // pg_dump --create reconnects to the database its preamble created; the line is skipped, so psql stays
        // on the staging database.
        let allowed = self.dumped_db.as_deref().unwrap_or(self.target_db);
        if conninfo || name != allowed {
            let reason = format!(
                "\\connect to another database than {} is not allowed in an imported dump",
                String::from_utf8_lossy(allowed)
            );
            return Err(self.refuse(line, reason));
        }
        self.connected = true;
        self.skip_line = true;
        if let Restrict::Off(key) = &self.restrict {
            self.restrict = Restrict::Reconnected(key.clone());
        }
        Ok(())
    }
}

/// Meta-commands that run programs or touch files (psql also accepts a one-letter command glued to its argument).
fn is_shell_or_file(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 25] = [
        b"!",
        b"o",
        b"out",
        b"w",
        b"write",
        b"copy",
        b"i",
        b"include",
        b"ir",
        b"include_relative",
        b"cd",
        b"lo_import",
        b"lo_export",
        b"setenv",
        b"getenv",
        b"e",
        b"edit",
        b"ef",
        b"ev",
        b"s",
        b"g",
        b"gx",
        b"gexec",
        b"gset",
        b"password",
    ];
    NAMES.contains(&name)
        || name.first() == Some(&b'!')
        || (name.len() > 1
            && matches!(name[0], b'o' | b'w' | b'i' | b'g' | b's' | b'e')
            && !name[1].is_ascii_alphabetic()
            && name[1] != b'_')
}

/// The key of `\restrict KEY` / `\unrestrict KEY`: alphanumeric, as pg_dump makes it, and nothing after it.
fn restrict_key(args: &[u8]) -> Option<&[u8]> {
    let start = args.iter().position(|&c| !is_space(c))?;
    let len = args[start..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let rest = &args[start + len..];
    (len > 0 && rest.iter().all(|&c| is_space(c))).then_some(&args[start..start + len])
}

/// The database named by `\connect NAME` or `\connect "NAME"`, read as psql reads it (quotes removed, `""` inside
/// quotes is one `"`, no case folding); `None` for any other form: more arguments, single quotes, backticks (which
/// run a command) or psql variables.
fn connect_target(args: &[u8]) -> Option<Vec<u8>> {
    let start = args.iter().position(|&c| !is_space(c))?;
    let mut raw = Vec::new();
    let mut i = start;
    while let Some(&c) = args.get(i) {
        if is_space(c) || c == b'\\' {
            break;
        }
        match c {
            b'"' => {
                let close = args[i + 1..].iter().position(|&c| c == b'"')?;
                raw.extend_from_slice(&args[i..i + close + 2]);
                i += close + 2;
            }
            b'\'' | b'`' | b':' => return None,
            _ => {
                raw.push(c);
                i += 1;
            }
        }
    }
    if !args[i..].iter().all(|&c| is_space(c)) {
        return None;
    }
    let mut name = Vec::with_capacity(raw.len());
    let mut quoted = false;
    let mut j = 0;
    while let Some(&c) = raw.get(j) {
        if c == b'"' {
            if quoted && raw.get(j + 1) == Some(&b'"') {
                name.push(b'"');
                j += 2;
            } else {
                quoted = !quoted;
                j += 1;
            }
        } else {
            name.push(c);
            j += 1;
        }
    }
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor, Read};

    const TARGET: &str = "appdb";

    fn check(input: &[u8]) -> Result<u64, Refusal> {
        check_plain_sql(&mut Cursor::new(input), TARGET)
    }

    /// What a case expects: `Ok` with its line count, or a refusal at a line whose reason contains the text.
    enum Expect {
        Pass,
        Refused(u64, &'static str),
    }
    use Expect::{Pass, Refused};

    fn run_cases(cases: &[(&str, &[u8], Expect)]) {
        let mut failures = Vec::new();
        for (name, input, expect) in cases {
            let got = check(input);
            let good = match (expect, &got) {
                (Pass, Ok(_)) => true,
                (Refused(line, reason), Err(refusal)) => {
                    refusal.line == *line && refusal.reason.contains(reason)
                }
                _ => false,
            };
            if !good {
                failures.push(format!("{name}: got {got:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "failed cases:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    #[rustfmt::skip]
    fn meta_commands() {
        run_cases(&[
            ("shell", b"SELECT 1;\n\\! touch /tmp/pwned\n", Refused(2, "shell and file")),
            ("output file", b"\\o /tmp/x\nSELECT 1;\n", Refused(1, "shell and file")),
            ("copy to file", b"\\copy t to '/tmp/x'\n", Refused(1, "shell and file")),
            ("include", b"--\n\\i /etc/passwd\n", Refused(2, "shell and file")),
            ("include relative", b"\\ir x.sql\n", Refused(1, "shell and file")),
            ("glued argument", b"\\o/tmp/x\n", Refused(1, "shell and file")),
            ("glued shell", b"\\!id\n", Refused(1, "shell and file")),
            ("set", b"\\set ON_ERROR_STOP 0\n", Refused(1, "meta-command \\set")),
            ("gexec", b"SELECT 'x' \\gexec\n", Refused(1, "shell and file")),
            ("lo_export", b"\\lo_export 1 /tmp/x\n", Refused(1, "shell and file")),
            ("setenv", b"\\setenv PAGER x\n", Refused(1, "shell and file")),
            ("password", b"\\password\n", Refused(1, "shell and file")),
            ("encoding", b"\\encoding SJIS\n", Refused(1, "meta-command \\encoding")),
            ("backslash semicolon", b"SELECT 1 \\; COPY t FROM stdin;\n", Refused(1, "meta-command \\;")),
            ("lone backslash", b"SELECT 1 \\\n", Refused(1, "meta-command \\")),
            ("stray terminator", b"SELECT 1;\n\\.\n", Refused(2, "only allowed to end the data")),
            ("after string with backslash", b"SELECT 'a\\b', E'c\\\\'; \\! id\n", Refused(1, "shell and file")),
            ("after dquote", b"SELECT \"a\\\" \\! id\n", Refused(1, "shell and file")),
            ("after comment", b"/* \\! x */ \\! id\n", Refused(1, "shell and file")),
            ("cr ends line comment", b"-- harmless\r\\! id\n", Refused(1, "shell and file")),
            ("string with comment start", b"SELECT '--'; \\! id\n", Refused(1, "shell and file")),
            ("string with block comment start", b"SELECT '/*'; \\! id\n", Refused(1, "shell and file")),
            ("identifier with dollars", b"SELECT foo$$ \\! id $$;\n", Refused(1, "shell and file")),
            ("after dollar quote", b"SELECT $$ \\! x $$; \\! id\n", Refused(1, "shell and file")),
            ("nested comment closed", b"/* /* */ \\! x */ \\! id\n", Refused(1, "shell and file")),
            ("upper-case variable", b":LAST_ERROR_MESSAGE COPY t FROM stdin;\n", Refused(1, "variable :LAST_ERROR_MESSAGE")),
            ("meta not alone", b"SELECT 1; \\connect appdb\n", Refused(1, "stand alone")),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn quoting_and_comments_allowed() {
        run_cases(&[
            ("standard string", b"SELECT 'C:\\dir\\', 'a\\\\''b', 'it''s';\n", Refused(1, "standard_conforming_strings")),
            ("standard string even run", b"SELECT 'C:\\\\dir\\\\', 'a\\nb \\! x', 'it''s';\n", Pass),
            ("escape string", b"SELECT E'it\\'s \\\\ \\! x', e'\\x41';\n", Pass),
            ("escape string across lines", b"SELECT E'line one \\\n\\! still inside\n end';\n", Pass),
            ("standard string across lines", b"SELECT 'one\n\\! two\n\\i three';\n", Pass),
            ("dollar quote across lines", b"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\nSELECT '\\! x'\n\\o /tmp/x\n$$;\n", Pass),
            ("tagged dollar with $$ inside", b"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$\nBEGIN\n  EXECUTE $$ \\! x $$;\n  RAISE NOTICE '$x$ \\\\';\nEND\n$fn$;\n", Pass),
            ("dollar tag case matters", b"SELECT $a$ $A$ \\! x $a$;\n", Pass),
            ("number then dollar quote", b"SELECT 1$$ \\! x $$;\n", Pass),
            ("parameter then dollar quote", b"SELECT $1$$ \\! x $$;\n", Pass),
            ("line comment", b"-- \\! x\nSELECT 1; -- \\o /tmp/y\n", Pass),
            ("nested block comment", b"/* a /* \\! b */ \\o c\n still inside */ SELECT 1;\n", Pass),
            ("quoted identifier", b"CREATE TABLE \"we\"\"ird\\\" (\"a\\b\" int);\n", Pass),
            ("casts and slices", b"SELECT a::text, b[1:2], c[1:n], f(x := 1), :foo;\n", Pass),
            ("bit and unicode strings", b"SELECT B'01', X'1F', N'x', U&'\\0041', U&\"\\0041\";\n", Pass),
            ("e-string continued after cr", b"SELECT E'a'\r'\\' \\! x';\n", Pass),
            ("e-string continued on next line", b"SELECT E'a'\n\r'\\' \\! x';\n", Pass),
            ("e-string then new string", b"SELECT E'a'\n'\\' \\! x\n;\n", Refused(2, "standard_conforming_strings")),
            ("unterminated string at end", b"SELECT 'abc\n", Pass),
            ("e-string continued after an empty line", b"SELECT E'a'\n\n\r'\\' \\! x';\n", Pass),
            ("blank crlf line ends the string", b"SELECT E'a'\n\r\n'\\' \\! x\n", Refused(3, "standard_conforming_strings")),
            ("byte order mark", b"\xEF\xBB\xBF\\restrict abc\nSELECT 1;\n\\unrestrict abc\n", Pass),
            ("byte order mark then shell", b"\xEF\xBB\xBF\\! id\n", Refused(1, "shell and file")),
            ("byte order mark glued to dollar", b"\xEF\xBB\xBF$$ \\! x $$;\n", Refused(1, "byte order mark")),
            ("byte order mark glued to e-string", b"\xEF\xBB\xBFE'\\' \\! x';\n", Refused(1, "byte order mark")),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn copy_statements() {
        run_cases(&[
            ("copy to file", b"COPY t TO '/tmp/x';\n", Refused(1, "COPY ... TO")),
            ("copy query to stdout", b"COPY (SELECT 1) TO STDOUT;\n", Refused(1, "COPY ... TO")),
            ("copy from program", b"COPY t FROM PROGRAM 'id';\n", Refused(1, "PROGRAM")),
            ("copy from file", b"copy t from '/etc/passwd';\n", Refused(1, "FROM a file")),
            ("copy from dollar file", b"COPY t FROM $$/etc/passwd$$;\n", Refused(1, "FROM a file")),
            ("copy from stdout", b"COPY t FROM stdout;\n", Refused(1, "only COPY ... FROM stdin")),
            ("copy over lines", b"COPY t\n  (a, b)\n  TO\n  '/tmp/x';\n", Refused(3, "COPY ... TO")),
            ("copy with comment", b"COPY /* x */ t FROM /* y */ PROGRAM 'id';\n", Refused(1, "PROGRAM")),
            ("copy without source", b"COPY t;\n", Refused(1, "only COPY ... FROM stdin")),
            ("copy from stdin", b"COPY t FROM stdin;\n", Pass),
            ("copy quoted column named to", b"COPY public.\"to\" (\"from\", b) FROM stdin;\n1\t2\n\\.\n", Pass),
            ("copy from stdin csv", b"COPY t (a) FROM stdin WITH (FORMAT csv);\n\"a\\b\",\\!\n\\.\n", Pass),
            ("to in a string is fine", b"SELECT 'COPY t TO x';\n", Pass),
            ("copy as a later word", b"SELECT copy FROM t;\n", Pass),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn copy_data_blocks() {
        run_cases(&[
            ("data with backslashes", b"COPY public.t (a, b, c) FROM stdin;\n1\t\\N\t\\! not a command\n2\tx\\\\y\t\\o /tmp/x\n\\.\nSELECT 1;\n", Pass),
            ("meta right after terminator", b"COPY t FROM stdin;\n1\n\\.\n\\! touch /tmp/pwned\n", Refused(4, "shell and file")),
            ("meta after copy on its line", b"COPY t FROM stdin; \\! id\n1\n\\.\n", Refused(1, "shell and file")),
            ("two copies on one line", b"COPY a FROM stdin; COPY b FROM stdin;\n1\n\\.\n\\! a\n\\.\nSELECT 1;\n", Pass),
            ("string state kept across data", b"COPY t FROM stdin; SELECT '\n\\! data\n\\.\n\\! inside string';\n", Pass),
            ("terminator with crlf", b"COPY t FROM stdin;\r\n1\r\n\\.\r\n\\! id\r\n", Refused(4, "shell and file")),
            ("not a terminator", b"COPY t FROM stdin;\n\\. \n \\.\n\\! still data\n", Pass),
            ("data until end of file", b"COPY t FROM stdin;\n1\n\\! x", Pass),
            ("nul in data", b"COPY t FROM stdin;\n1\0\n\\.\n", Refused(2, "NUL")),
            ("nul in sql", b"SELECT 1;\0 x\n", Refused(1, "NUL")),
            ("copy inside begin atomic", b"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; COPY t FROM stdin; END;\n\\! id\n\\.\n", Refused(1, "statement of its own")),
            ("begin as parameter name", b"CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'select 1';\nCOPY t FROM stdin;\n1\n\\.\n", Pass),
            ("parenthesised create counts in older psql", b"CREATE (x) FUNCTION f() BEGIN; COPY t FROM stdin; END;\n\\! id\n\\.\n", Refused(1, "statement of its own")),
            ("create schema element", b"CREATE SCHEMA s CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; COPY t FROM stdin; END;\n\\! id\n\\.\n", Refused(1, "statement of its own")),
            ("long identifiers", b"CREATE TABLE public.a_really_quite_long_table_name_beyond_24 (a_column_with_a_long_long_name int);\nCOPY public.a_really_quite_long_table_name_beyond_24 FROM stdin;\n1\n\\.\n", Pass),
            ("begin atomic then copy", b"CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT (CASE WHEN a > 0 THEN 1 ELSE 0 END);\n SELECT CASE WHEN a > 1 THEN 2 END;\nEND;\nCOPY t FROM stdin;\n\\N\n\\.\n", Pass),
            ("number glued to begin", b"CREATE FUNCTION f() RETURNS int LANGUAGE sql 1begin ATOMIC SELECT 1; END;\n", Refused(1, "number glued")),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn connect_and_restrict() {
        run_cases(&[
            ("connect other", b"\\connect other_db\n", Refused(1, "another database than appdb")),
            ("connect target", b"\\connect appdb\nSELECT 1;\n", Pass),
            ("connect quoted target", b"\\connect \"appdb\"\n", Pass),
            ("c alias", b"\\c appdb\r\n", Pass),
            ("connect extra argument", b"\\connect appdb postgres\n", Refused(1, "just the target")),
            ("connect then meta", b"\\connect appdb\\! id\n", Refused(1, "just the target")),
            ("connect backtick", b"\\connect `id`\n", Refused(1, "just the target")),
            ("connect variable", b"\\connect :DBNAME\n", Refused(1, "just the target")),
            ("connect conninfo", b"\\connect \"dbname=appdb host=evil\"\n", Refused(1, "another database")),
            ("connect case", b"\\connect APPDB\n", Refused(1, "another database")),
            ("connect glued", b"\\cappdb\n", Refused(1, "meta-command \\cappdb")),
            ("restrict pair", b"\\restrict abc123\nSELECT 1;\n\\unrestrict abc123\n", Pass),
            ("second restrict", b"\\restrict abc\n\\unrestrict abc\n\\restrict abc\n", Refused(3, "second \\restrict")),
            ("restrict twice", b"\\restrict abc\n\\restrict abc\n", Refused(2, "second \\restrict")),
            ("unrestrict other key", b"\\restrict abc\n\\unrestrict xyz\n", Refused(2, "another key")),
            ("unrestrict alone", b"\\unrestrict abc\n", Refused(1, "only allowed after")),
            ("second unrestrict", b"\\restrict abc\n\\unrestrict abc\n\\unrestrict abc\n", Refused(3, "second \\unrestrict")),
            ("restrict without key", b"\\restrict\n", Refused(1, "one alphanumeric key")),
            ("restrict odd key", b"\\restrict a'b\n", Refused(1, "one alphanumeric key")),
            ("pg_dump --create reconnect", b"\\restrict K1\nCREATE DATABASE appdb;\n\\unrestrict K1\n\\connect appdb\n\\restrict K1\nSELECT 1;\n\\unrestrict K1\n", Pass),
            ("reconnect with other key", b"\\restrict K1\n\\unrestrict K1\n\\connect appdb\n\\restrict K2\n", Refused(4, "repeat the key")),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn ambiguous_and_encoding() {
        run_cases(&[
            ("sjis client encoding", b"SET client_encoding = 'SJIS';\n", Refused(1, "(SJIS)")),
            ("set names", b"SET NAMES 'big5';\n", Refused(1, "(BIG5)")),
            ("set_config", b"SELECT pg_catalog.set_config('client_encoding', 'Shift_JIS', false);\n", Refused(1, "(SHIFTJIS)")),
            ("alter database", b"ALTER DATABASE appdb\n SET client_encoding TO gbk;\n", Refused(2, "(GBK)")),
            ("utf8 client encoding", b"SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n", Pass),
            ("encoding name elsewhere", b"INSERT INTO t VALUES ('SJIS');\n", Pass),
            ("e after number", b"SELECT 1e'x';\n", Refused(1, "number glued")),
            ("dollar after junk", b"SELECT 1a$$ \\! x $$;\n", Refused(1, "number glued")),
        ]);
    }

    #[test]
    fn crlf_and_line_count() {
        let dump = b"--\r\n-- PostgreSQL database dump\r\n--\r\n\r\n\\restrict Abc9\r\n\r\nSET client_encoding = 'UTF8';\r\nCREATE TABLE public.t (a text);\r\nCOPY public.t (a) FROM stdin;\r\nx\\\\y\r\n\\.\r\n\r\n\\unrestrict Abc9\r\n";
        assert_eq!(check(dump), Ok(13));
        assert_eq!(check(b""), Ok(0));
        assert_eq!(check(b"SELECT 1;"), Ok(1));
        let refused = check(b"SELECT 1;\r\n\\! touch /tmp/pwned\r\n").unwrap_err();
        assert_eq!(refused.line, 2);
        assert_eq!(refused.text, "\\! touch /tmp/pwned");
    }

    #[test]
    fn refusal_display() {
        let refused = check(b"SELECT 1;\n\n   \\! touch /tmp/pwned   \n").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "line 3: \\! touch /tmp/pwned: shell and file meta-commands are not allowed in an imported dump"
        );
        let long = format!("\\! {}\n", "x".repeat(500));
        let refused = check(long.as_bytes()).unwrap_err();
        assert_eq!(refused.text.chars().count(), 200);
    }

    /// Yields `len` bytes of `x` and a newline, without holding them.
    struct Filler {
        left: u64,
    }

    impl Read for Filler {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Ok(0);
            }
            let n = buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            buf[..n].fill(b'x');
            if self.left == n as u64 {
                buf[n - 1] = b'\n';
            }
            self.left -= n as u64;
            Ok(n)
        }
    }

    #[test]
    fn line_too_long() {
        let huge = Filler {
            left: 70 * 1024 * 1024,
        };
        let mut input = BufReader::with_capacity(1 << 20, huge);
        let refused = check_plain_sql(&mut input, TARGET).unwrap_err();
        assert_eq!(refused.line, 1);
        assert!(refused.reason.contains("line too long"), "{refused}");
        assert_eq!(refused.text.len(), 200);
    }

    #[test]
    fn long_copy_data_line_streams() {
        let head = Cursor::new(b"COPY t FROM stdin;\n".to_vec());
        let data = Filler {
            left: 70 * 1024 * 1024,
        };
        let tail = Cursor::new(b"\\.\nSELECT 1;\n".to_vec());
        let mut input = BufReader::with_capacity(1 << 20, head.chain(data).chain(tail));
        assert_eq!(check_plain_sql(&mut input, TARGET), Ok(4));
    }

    #[test]
    fn hostile_dollar_tag_stays_linear() {
        let tag = "t".repeat(200_000);
        let mut line = format!("SELECT ${tag}$");
        for _ in 0..20 {
            line.push('$');
            line.push_str(tag.get(1..).unwrap_or_default());
        }
        line.push_str(&format!("${tag}$; \\! id\n"));
        let refused = check(line.as_bytes()).unwrap_err();
        assert!(refused.reason.contains("shell and file"), "{refused}");
    }

    #[test]
    fn read_error() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut input = BufReader::new(Cursor::new(b"SELECT 1;\n".to_vec()).chain(Broken));
        let refused = check_plain_sql(&mut input, TARGET).unwrap_err();
        assert_eq!(refused.line, 2);
        assert!(refused.reason.starts_with("cannot read: "), "{refused}");
    }

    #[test]
    fn plain_sql_detection() {
        let yes: [&[u8]; 9] = [
            b"--\n-- PostgreSQL database dump\n",
            b"\xEF\xBB\xBF\n\n  SET statement_timeout = 0;",
            b"create table t (a int);",
            b"BEGIN;\nCREATE TABLE",
            b"\\restrict abc\n",
            b"SELECT pg_catalog.set_config('search_path', '', false);",
            b"/* hand written */",
            b"--\n-- caf\xC3",
            b"-- latin1 caf\xE9\n",
        ];
        for sample in yes {
            assert!(
                looks_like_plain_sql(sample),
                "{:?}",
                String::from_utf8_lossy(sample)
            );
        }
        let no: [&[u8]; 8] = [
            b"",
            b"\n\n  \n",
            b"PGDMP\x01\x0e\x00",
            b"\x1f\x8b\x08\x00",
            b"PK\x03\x04",
            b"SELECT 1;",
            b"settings = 1",
            b"-- x\x00\x01\x02",
        ];
        for sample in no {
            assert!(
                !looks_like_plain_sql(sample),
                "{:?}",
                String::from_utf8_lossy(sample)
            );
        }
    }

    /// A real dump from the local server, when `pg_dump` can reach it.
    #[test]
    fn real_pg_dump_passes() {
        for args in [&["--schema-only"][..], &["--create"][..]] {
            let output = std::process::Command::new("pg_dump")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-w", "-d", "postgres"])
                .args(args)
                .env("PGCONNECT_TIMEOUT", "5")
                .output();
            let dump = match output {
                Ok(output) if output.status.success() => output.stdout,
                Ok(output) => {
                    eprintln!(
                        "skipped: pg_dump failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                    return;
                }
                Err(err) => {
                    eprintln!("skipped: no pg_dump ({err})");
                    return;
                }
            };
            if !dump.windows(10).any(|w| w == b"\\restrict ") {
                eprintln!("note: this pg_dump writes no \\restrict (older than 15.14/16.10/17.6)");
            }
            assert!(looks_like_plain_sql(&dump[..dump.len().min(4096)]));
            let lines = check_plain_sql(&mut Cursor::new(&dump), "postgres");
            assert!(lines.is_ok(), "{args:?}: {lines:?}");
        }
    }
}
