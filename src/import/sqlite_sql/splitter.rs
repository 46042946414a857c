//! Statement splitting: a port of `sqlite3_complete()` (SQLite's complete.c) that is fed bytes as they arrive,
//! so a dump is cut into statements with memory bounded by the longest statement.

/// Tokens of complete.c, used as column index into [`TRANS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tk {
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
pub(super) const START: u8 = 1;
pub(super) const TRIGGER: u8 = 5;
pub(super) const SEMI: u8 = 6;

/// complete.c's transition table: `TRANS[state][token]`.
pub(super) const TRANS: [[u8; 8]; 8] = [
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
pub(super) enum Lex {
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
pub(super) enum Scan {
    /// The byte at this index ends a statement.
    Cut(usize),
    /// The byte at this index is NUL: binary data.
    Nul(usize),
    /// The statement continues past the slice.
    More,
}

/// Incremental `sqlite3_complete()`: finds where statements end.
#[derive(Debug)]
pub(super) struct Splitter {
    state: u8,
    lex: Lex,
    word: [u8; 9],
    word_len: usize,
    /// Line of the next byte.
    pub(super) line: u64,
    /// Line where the token being lexed began.
    token_line: u64,
    /// Line of the first token of the statement that is not whitespace or `;`.
    pub(super) start_line: Option<u64>,
    /// Whether the statement went through CREATE TRIGGER.
    pub(super) saw_trigger: bool,
}

impl Splitter {
    pub(super) fn new() -> Self {
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

    pub(super) fn scan(&mut self, bytes: &[u8]) -> Scan {
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
    pub(super) fn feed(&mut self, b: u8) -> bool {
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

    pub(super) fn begin_token(&mut self, b: u8) -> bool {
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

    pub(super) fn enter(&mut self, lex: Lex) -> bool {
        self.lex = lex;
        false
    }

    pub(super) fn push_word(&mut self, b: u8) {
        if let Some(slot) = self.word.get_mut(self.word_len) {
            *slot = b.to_ascii_lowercase();
        }
        self.word_len = self.word_len.saturating_add(1);
    }

    pub(super) fn word_token(&self) -> Tk {
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
    pub(super) fn end_token(&mut self, token: Tk) -> bool {
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
    pub(super) fn finish(&mut self) -> bool {
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
    pub(super) fn reset(&mut self) {
        self.state = 0;
        self.start_line = None;
        self.saw_trigger = false;
    }

    /// The cut was a `CASE ... END;` inside a trigger body, not the trigger's
    /// END: keep going as if that `;` separated two body statements.
    pub(super) fn resume_in_trigger(&mut self) {
        self.state = SEMI;
    }
}

/// SQLite's `IdChar()`: letters, digits, `_`, `$` and every non-ASCII byte.
pub(super) fn is_id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}
