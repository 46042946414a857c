//! The terminal output of the CLI. A closed stdout (`backstop list | head`) ends the output quietly: the command
//! finishes its job and exits with its own code (0 for what was printed), it never panics. Any other write error
//! (a full disk behind `> file`) is reported once at the end and makes the exit code 1. A closed stderr is
//! ignored: there is nobody left to tell.
//!
//! On a terminal, control characters other than newline and tab are written escaped (`\u{1b}`): text from an
//! archive (a table name, a file name, a warning) can never drive the terminal. Into a pipe or a file it is data
//! and goes out as it is (JSON escapes its own).

use std::borrow::Cow;
use std::fmt::Arguments;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Set once stdout is gone (EPIPE); nothing more is written to it.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write error that was not a closed pipe.
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes to stdout, remembering a closed pipe or another error instead of panicking as `print!` does.
pub fn stdout(args: Arguments<'_>, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    let terminal = *TERMINAL.get_or_init(|| std::io::stdout().is_terminal());
    if let Err(e) = write(&mut std::io::stdout().lock(), args, newline, terminal) {
        note(e);
    }
}

/// Writes to stderr; errors are dropped (`eprint!` would panic on them).
pub fn stderr(args: Arguments<'_>, newline: bool) {
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    let terminal = *TERMINAL.get_or_init(|| std::io::stderr().is_terminal());
    let _ = write(&mut std::io::stderr().lock(), args, newline, terminal);
}

fn write(
    out: &mut impl Write,
    args: Arguments<'_>,
    newline: bool,
    terminal: bool,
) -> std::io::Result<()> {
    if terminal {
        out.write_all(printable(&args.to_string()).as_bytes())?;
    } else {
        out.write_fmt(args)?;
    }
    if newline {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn note(e: std::io::Error) {
    CLOSED.store(true, Ordering::Relaxed);
    if e.kind() != std::io::ErrorKind::BrokenPipe
        && let Ok(mut failed) = FAILED.lock()
    {
        failed.get_or_insert(e);
    }
}

/// Flushes stdout at the end of a command; the write error to report, if any (never a closed pipe).
pub fn finish() -> Option<std::io::Error> {
    if !CLOSED.load(Ordering::Relaxed)
        && let Err(e) = std::io::stdout().lock().flush()
    {
        note(e);
    }
    FAILED.lock().ok().and_then(|mut failed| failed.take())
}

/// `text` with every control character but newline and tab escaped (`\u{1b}`), for a terminal.
fn printable(text: &str) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped_for_a_terminal() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(
            printable("orders\u{1b}]0;x\u{7} \r\u{9b}"),
            "orders\\u{1b}]0;x\\u{7} \\r\\u{9b}"
        );
    }
}
