//! The deterministic generator of varied, realistic text and numbers, and the word lists it draws from; used for
//! the SQLite database and the files folder.

use chrono::{Datelike, Timelike};
use std::fmt::Write as _;

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn timestamp(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .expect("timestamps stay in range")
        .naive_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Names, countries, mail domains, categories, statuses and event kinds the generated rows draw from.
pub(crate) const FIRST_NAMES: [&str; 24] = [
    "Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Ugo", "Vera", "Wen",
    "Yusuf",
];
pub(crate) const LAST_NAMES: [&str; 24] = [
    "Adler", "Brooks", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quint", "Rossi",
    "Silva", "Tanaka", "Ulrich", "Varga", "Weber", "Zhang",
];
pub(crate) const COUNTRIES: [&str; 16] = [
    "US", "DE", "FR", "GB", "NL", "ES", "IT", "CA", "SE", "PL", "JP", "BR", "AU", "IN", "NG", "MX",
];
pub(crate) const DOMAINS: [&str; 8] = [
    "example.com",
    "mail.example",
    "post.example.org",
    "inbox.example.net",
    "shop.example",
    "web.example",
    "home.example",
    "work.example.com",
];
pub(crate) const CATEGORIES: [&str; 12] = [
    "books", "garden", "kitchen", "toys", "tools", "music", "sports", "office", "bath", "lighting",
    "pets", "outdoor",
];
pub(crate) const STATUSES: [&str; 6] = [
    "delivered",
    "shipped",
    "paid",
    "pending",
    "cancelled",
    "refunded",
];
pub(crate) const EVENT_KINDS: [&str; 7] = [
    "created",
    "paid",
    "packed",
    "shipped",
    "delivered",
    "note",
    "refund-requested",
];
const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mer", "tin", "sa", "ve", "ro", "dan", "pe", "li", "qua", "ster", "on", "ex",
    "bri", "mo", "tu", "gal", "fen", "dor", "ba", "ri", "um", "ta", "nel", "pro", "vi", "che",
    "ar", "is", "en", "wo", "ly", "cor", "de", "ment", "sh", "ick", "au", "ne",
];

/// A small deterministic generator: varied but reproducible data.
pub(crate) struct Gen {
    state: u64,
    words: Vec<String>,
}

impl Gen {
    /// The generator, always from the same seed, with its vocabulary of 4,000 made-up words.
    pub(crate) fn new() -> Gen {
        let mut g = Gen {
            state: 0x9E37_79B9_7F4A_7C15,
            words: Vec::new(),
        };
        let mut words = Vec::with_capacity(4_000);
        for _ in 0..4_000 {
            let syllables = 1 + g.below(4);
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(SYLLABLES[g.below(SYLLABLES.len() as u64) as usize]);
            }
            words.push(w);
        }
        g.words = words;
        g
    }

    /// The next pseudo-random number.
    pub(crate) fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Between `lo` and `hi`, evenly spread on a log scale (as many values in 1..2 as in 8..16).
    pub(crate) fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        lo * (hi / lo).powf(unit)
    }

    /// Fills `buf` with pseudo-random bytes (incompressible, as far as deflate can tell).
    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// In `0..n`, small values more likely (the smaller of two uniform draws).
    pub(crate) fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }

    /// A word index with a long tail: common words are much more common (like real text).
    pub(crate) fn word_index(&mut self) -> usize {
        let n = self.words.len() as u64;
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c) as usize
    }

    /// A word of the vocabulary.
    pub(crate) fn word_string(&mut self) -> String {
        let i = self.word_index();
        self.words[i].clone()
    }

    /// A word of the vocabulary with a capital first letter.
    pub(crate) fn capitalized(&mut self) -> String {
        let i = self.word_index();
        let w = &self.words[i];
        let mut s = String::with_capacity(w.len());
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
        }
        s.push_str(chars.as_str());
        s
    }

    /// `words` words of sentences into `out` (cleared first), with the odd number in between.
    pub(crate) fn prose(&mut self, out: &mut String, words: u64) {
        out.clear();
        let mut sentence = 0;
        for i in 0..words {
            if i > 0 {
                out.push(' ');
            }
            if sentence == 0 {
                let w = self.capitalized();
                out.push_str(&w);
            } else if self.below(25) == 0 {
                let _ = write!(out, "{}", self.below(10_000));
            } else {
                let idx = self.word_index();
                out.push_str(&self.words[idx]);
            }
            sentence += 1;
            if (sentence > 4 && self.below(10) == 0) || i + 1 == words {
                out.push(if self.below(8) == 0 { '!' } else { '.' });
                sentence = 0;
            } else if self.below(15) == 0 {
                out.push(',');
            }
        }
    }

    /// A street address into `out` (cleared first).
    pub(crate) fn address(&mut self, out: &mut String) {
        out.clear();
        let number = 1 + self.skewed(400);
        let street = self.capitalized();
        let kind = ["Street", "Road", "Avenue", "Lane", "Way", "Square"][self.below(6) as usize];
        let city = self.capitalized();
        let _ = write!(
            out,
            "{number} {street} {kind}, {:05} {city}",
            self.below(100_000)
        );
    }
}
