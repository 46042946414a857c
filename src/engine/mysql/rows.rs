//! Counts the rows a `mariadb-dump`/`mysqldump` stream holds as it passes into the archive: a small lexer over its
//! statements (quotes with backslash escapes and doubled quotes, backquoted names, `--`/`#`/`/* */` comments,
//! `DELIMITER` lines) that registers each `CREATE TABLE` and counts the top-level `(…)` tuples of each
//! `INSERT INTO `t` VALUES (…),(…);`. The manifest's row counts are therefore exactly what the dump holds, whatever
//! was written to the database while it ran.
//!
//! Streaming: bytes come in chunks cut anywhere, so all state lives in the lexer. Only statements under the `;`
//! delimiter count (a routine's body, dumped under `DELIMITER ;;`, never does).

#![allow(clippy::indexing_slicing)] // the lexer indexes its own bounded buffers, checked against their lengths

use std::collections::BTreeMap;
use std::io::Read;

/// Where the lexer is inside a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tokens.
    Code,
    /// Inside '…' (`escaped`: after a backslash).
    Single { escaped: bool },
    /// Just after a closing ' (a second one continues the string).
    SingleEnd,
    /// Inside "…".
    Double { escaped: bool },
    /// Just after a closing ".
    DoubleEnd,
    /// Inside `…`.
    Back,
    /// Just after a closing ` (a second one continues the name).
    BackEnd,
    /// After one `-` (a comment if another `-` and a space follow).
    Dash,
    /// After `--`.
    DashDash,
    /// In a line comment.
    LineComment,
    /// After `/` (a comment if `*` follows).
    Slash,
    /// In a `/* */` comment (`star`: after a `*`).
    Block { star: bool },
    /// In a `DELIMITER` line (collecting the new delimiter).
    Delimiter,
}

/// The longest statement head kept to recognise `CREATE TABLE` and `INSERT INTO`.
const HEAD_MAX: usize = 512;

/// The row counter.
#[derive(Debug)]
pub struct RowCounter {
    state: State,
    delimiter: Vec<u8>,
    matched: usize,
    /// The statement's first bytes (from its first non-space byte).
    head: Vec<u8>,
    /// Whether the statement has started (a non-space byte seen).
    started: bool,
    /// Whether the statement is a counted INSERT (its table), decided at its first top-level `(`.
    insert: Option<Option<String>>,
    depth: u32,
    line: Vec<u8>,
    counts: BTreeMap<String, u64>,
}

impl Default for RowCounter {
    fn default() -> Self {
        RowCounter {
            state: State::Code,
            delimiter: b";".to_vec(),
            matched: 0,
            head: Vec::new(),
            started: false,
            insert: None,
            depth: 0,
            line: Vec::new(),
            counts: BTreeMap::new(),
        }
    }
}

impl RowCounter {
    /// Feeds the next bytes of the dump.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// Each table the dump creates with the rows it inserts (0 for an empty one).
    pub fn finish(self) -> BTreeMap<String, u64> {
        self.counts
    }

    fn keep(&mut self, b: u8) {
        if !self.started {
            if b.is_ascii_whitespace() {
                return;
            }
            self.started = true;
        }
        if self.head.len() < HEAD_MAX {
            self.head.push(b);
        }
    }

    fn end_statement(&mut self) {
        if self.insert.is_none() {
            // A CREATE TABLE without a top-level "(" (CREATE TABLE … LIKE, … AS SELECT) still names a table.
            if let Some(table) = created_table(&self.head) {
                self.counts.entry(table).or_insert(0);
            }
        }
        self.head.clear();
        self.started = false;
        self.insert = None;
        self.depth = 0;
        self.matched = 0;
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            State::Code => self.code(b),
            State::Single { escaped } => {
                self.keep(b);
                self.state = match (escaped, b) {
                    (true, _) => State::Single { escaped: false },
                    (false, b'\\') => State::Single { escaped: true },
                    (false, b'\'') => State::SingleEnd,
                    _ => State::Single { escaped: false },
                };
            }
            State::SingleEnd => {
                if b == b'\'' {
                    self.keep(b);
                    self.state = State::Single { escaped: false };
                } else {
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::Double { escaped } => {
                self.keep(b);
                self.state = match (escaped, b) {
                    (true, _) => State::Double { escaped: false },
                    (false, b'\\') => State::Double { escaped: true },
                    (false, b'"') => State::DoubleEnd,
                    _ => State::Double { escaped: false },
                };
            }
            State::DoubleEnd => {
                if b == b'"' {
                    self.keep(b);
                    self.state = State::Double { escaped: false };
                } else {
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::Back => {
                self.keep(b);
                if b == b'`' {
                    self.state = State::BackEnd;
                }
            }
            State::BackEnd => {
                if b == b'`' {
                    self.keep(b);
                    self.state = State::Back;
                } else {
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::Dash => {
                if b == b'-' {
                    self.state = State::DashDash;
                } else {
                    self.keep(b'-');
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::DashDash => {
                if b.is_ascii_whitespace() {
                    self.state = if b == b'\n' {
                        State::Code
                    } else {
                        State::LineComment
                    };
                } else {
                    // "--x" is two minus signs.
                    self.keep(b'-');
                    self.keep(b'-');
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Code;
                }
            }
            State::Slash => {
                if b == b'*' {
                    self.keep(b'/');
                    self.keep(b'*');
                    self.state = State::Block { star: false };
                } else {
                    self.keep(b'/');
                    self.state = State::Code;
                    self.code(b);
                }
            }
            State::Block { star } => {
                self.keep(b);
                self.state = match (star, b) {
                    (true, b'/') => State::Code,
                    (_, b'*') => State::Block { star: true },
                    _ => State::Block { star: false },
                };
            }
            State::Delimiter => {
                if b == b'\n' {
                    let text = String::from_utf8_lossy(&self.line).trim().to_string();
                    if !text.is_empty() {
                        self.delimiter = text.into_bytes();
                    }
                    self.line.clear();
                    self.state = State::Code;
                    self.end_statement();
                } else {
                    self.line.push(b);
                }
            }
        }
    }

    fn code(&mut self, b: u8) {
        // The delimiter, matched byte by byte outside quotes and comments.
        if self.delimiter.get(self.matched) == Some(&b) {
            self.matched += 1;
            if self.matched == self.delimiter.len() {
                self.end_statement();
            }
            return;
        }
        if self.matched > 0 {
            let partial = self.delimiter[..self.matched].to_vec();
            self.matched = 0;
            for p in partial {
                self.token(p);
            }
            return self.code(b);
        }
        self.token(b);
    }

    fn token(&mut self, b: u8) {
        match b {
            b'\'' => {
                self.keep(b);
                self.state = State::Single { escaped: false };
            }
            b'"' => {
                self.keep(b);
                self.state = State::Double { escaped: false };
            }
            b'`' => {
                self.keep(b);
                self.state = State::Back;
            }
            b'-' => self.state = State::Dash,
            b'#' => self.state = State::LineComment,
            b'/' => self.state = State::Slash,
            b'(' => {
                if self.depth == 0 {
                    if self.insert.is_none() {
                        self.insert = Some(inserted_table(&self.head));
                        if let Some(table) = created_table(&self.head) {
                            self.counts.entry(table).or_insert(0);
                        }
                    }
                    if let Some(Some(table)) = &self.insert {
                        *self.counts.entry(table.clone()).or_insert(0) += 1;
                    }
                }
                self.depth = self.depth.saturating_add(1);
                self.keep(b);
            }
            b')' => {
                self.depth = self.depth.saturating_sub(1);
                self.keep(b);
            }
            b' ' | b'\t' if self.is_delimiter_command() => {
                self.line.clear();
                self.state = State::Delimiter;
            }
            _ => self.keep(b),
        }
    }

    /// Whether the statement so far is the client command `DELIMITER`.
    fn is_delimiter_command(&self) -> bool {
        self.head.eq_ignore_ascii_case(b"delimiter")
    }
}

/// The table of `INSERT INTO `t` VALUES`, from a statement's head up to its first `(`.
fn inserted_table(head: &[u8]) -> Option<String> {
    let rest = strip_word(head, b"INSERT")?;
    let rest = strip_word(rest, b"INTO")?;
    let (name, rest) = backquoted(rest)?;
    let rest = strip_word(rest, b"VALUES")?;
    rest.iter()
        .all(|b| b.is_ascii_whitespace() || *b == b'(')
        .then_some(name)
}

/// The table of `CREATE TABLE [IF NOT EXISTS] `t``.
fn created_table(head: &[u8]) -> Option<String> {
    let rest = strip_word(head, b"CREATE")?;
    let rest = strip_word(rest, b"TABLE")?;
    let rest = match strip_word(rest, b"IF") {
        Some(r) => strip_word(strip_word(r, b"NOT")?, b"EXISTS")?,
        None => rest,
    };
    backquoted(rest).map(|(name, _)| name)
}

/// `text` after leading spaces and the keyword `word` (case-insensitive) followed by a space or a quote.
fn strip_word<'a>(text: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = &text[start..];
    if text.len() < word.len() || !text[..word.len()].eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &text[word.len()..];
    match rest.first() {
        Some(b) if b.is_ascii_whitespace() || *b == b'`' || *b == b'(' => Some(rest),
        _ => None,
    }
}

/// A backquoted name at the start of `text` (after spaces) and what follows it.
fn backquoted(text: &[u8]) -> Option<(String, &[u8])> {
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    let text = &text[start..];
    if text.first() != Some(&b'`') {
        return None;
    }
    let mut name = Vec::new();
    let mut i = 1;
    while i < text.len() {
        if text[i] == b'`' {
            if text.get(i + 1) == Some(&b'`') {
                name.push(b'`');
                i += 2;
                continue;
            }
            return Some((String::from_utf8_lossy(&name).into_owned(), &text[i + 1..]));
        }
        name.push(text[i]);
        i += 1;
    }
    None
}

/// A reader that counts the rows of the dump passing through it.
pub struct Counting<R> {
    inner: R,
    counter: RowCounter,
}

impl<R: Read> Counting<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            counter: RowCounter::default(),
        }
    }

    /// The counts of what passed.
    pub fn finish(self) -> BTreeMap<String, u64> {
        self.counter.finish()
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.feed(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> BTreeMap<String, u64> {
        let mut whole = RowCounter::default();
        whole.feed(text.as_bytes());
        let whole = whole.finish();
        // The same in one-byte chunks: state never depends on where a chunk ends.
        let mut bytewise = RowCounter::default();
        for b in text.as_bytes() {
            bytewise.feed(std::slice::from_ref(b));
        }
        assert_eq!(whole, bytewise.finish());
        whole
    }

    #[test]
    fn counts_tuples_of_extended_inserts_with_every_kind_of_quote() {
        let dump = "-- MariaDB dump 10.19\n/*!40101 SET NAMES utf8mb4 */;\n\
            DROP TABLE IF EXISTS `a`;\nCREATE TABLE `a` (\n  `id` int(11) NOT NULL,\n  `t` text DEFAULT '(x)',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB;\n\
            /*!40000 ALTER TABLE `a` DISABLE KEYS */;\n\
            INSERT INTO `a` VALUES (1,'it''s (1),(2)'),(2,'back\\\\'),(3,'q\\'),(4)'),(4,0x28290A),(5,NULL);\n\
            INSERT INTO `a` VALUES (6,'-- not a comment; nor /* this */ (7)');\n\
            CREATE TABLE `we``ird` (`x` int);\nINSERT INTO `we``ird` VALUES (1),(2);\n\
            CREATE TABLE `empty` (`x` int);\n\
            DELIMITER ;;\nCREATE PROCEDURE `p`()\nBEGIN\n  INSERT INTO `a` VALUES (99),(100);\n  -- it's a comment\nEND ;;\nDELIMITER ;\n\
            INSERT INTO `a` VALUES (7,'after the routine');\n";
        let counts = count(dump);
        assert_eq!(
            counts,
            BTreeMap::from([
                ("a".to_string(), 7),
                ("we`ird".to_string(), 2),
                ("empty".to_string(), 0)
            ])
        );
    }

    #[test]
    fn views_placeholders_and_comments_are_not_tables() {
        let dump = "/*!50001 CREATE TABLE `v` (\n  `a` tinyint NOT NULL\n) ENGINE=MyISAM */;\n\
            /*!50001 CREATE VIEW `v2` AS SELECT 1 AS `a` */;\n# a comment (1)\nCREATE TABLE IF NOT EXISTS `t` (`x` int);\n";
        assert_eq!(count(dump), BTreeMap::from([("t".to_string(), 0)]));
    }
}
