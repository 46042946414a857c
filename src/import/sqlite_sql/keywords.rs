//! The keyword check, the first of the two layers: a small tokenizer with SQLite's rules for whitespace, comments
//! and quoting reads a statement's leading keywords and refuses what a dump never needs.

use super::splitter::is_id_char;
use super::{
    ALLOWED_PRAGMAS, BARE_ROLLBACK, DOT_COMMAND, WRITABLE_SCHEMA, is_schema_table, pragma_allowed,
};
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token<'a> {
    Word(&'a str),
    Quoted(String),
    Punct(char),
}

impl Token<'_> {
    /// The name this token spells, if it can be an identifier.
    pub(super) fn name(&self) -> Option<String> {
        match self {
            Token::Word(word) => Some((*word).to_string()),
            Token::Quoted(text) => Some(text.clone()),
            Token::Punct(_) => None,
        }
    }

    pub(super) fn lowercase(&self) -> String {
        match self {
            Token::Word(word) => word.to_ascii_lowercase(),
            Token::Quoted(text) => text.to_ascii_lowercase(),
            Token::Punct(c) => c.to_string(),
        }
    }

    pub(super) fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

#[derive(Clone)]
pub(super) struct Tokens<'a> {
    sql: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub(super) fn new(sql: &'a str) -> Self {
        Tokens { sql, pos: 0 }
    }

    /// The next token if it is `c`.
    pub(super) fn eat_punct(&mut self, c: char) -> bool {
        let mut ahead = self.clone();
        let found = ahead.next() == Some(Token::Punct(c));
        if found {
            *self = ahead;
        }
        found
    }

    /// The next token if it is the keyword `keyword`.
    pub(super) fn eat_word(&mut self, keyword: &str) -> bool {
        let mut ahead = self.clone();
        let found = ahead.next().is_some_and(|t| t.is_word(keyword));
        if found {
            *self = ahead;
        }
        found
    }

    /// The next word, lowercased ("" if none).
    pub(super) fn next_word(&mut self) -> String {
        match self.next() {
            Some(Token::Word(word)) => word.to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    /// `name` or `schema.name`; returns the name.
    pub(super) fn qualified_name(&mut self) -> Option<String> {
        let mut name = self.next()?.name()?;
        if self.eat_punct('.') {
            name = self.next()?.name()?;
        }
        Some(name)
    }

    pub(super) fn quoted(&mut self, quote: u8) -> Token<'a> {
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
pub(super) fn skip_insignificant(bytes: &[u8], mut pos: usize) -> usize {
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
pub(super) enum Lead {
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
pub(super) struct SchemaObject {
    pub(super) kind: &'static str,
    pub(super) name: String,
}

/// The keyword check: the first layer. `Err` holds the reason for refusing.
pub(super) fn analyse(sql: &str) -> Result<Lead, String> {
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

pub(super) fn pragma_lead(tokens: &mut Tokens<'_>) -> Result<Lead, String> {
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

pub(super) fn rollback_lead(tokens: &mut Tokens<'_>) -> Result<Lead, String> {
    tokens.eat_word("transaction");
    if tokens.eat_word("to") {
        Ok(Lead::Transaction)
    } else {
        Err(BARE_ROLLBACK.into())
    }
}

/// Refuses INSERT/REPLACE/UPDATE/DELETE whose target is the schema table.
pub(super) fn write_target_check(verb: &str, tokens: &mut Tokens<'_>) -> Result<(), String> {
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

pub(super) fn create_lead(tokens: &mut Tokens<'_>) -> Lead {
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
