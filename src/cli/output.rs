//! The terminal output of the CLI. A closed stdout (`backstop list | head`) ends the output quietly: the command
//! finishes its job and exits with its own code (0 for what was printed), it never panics. Any other write error
//! (a full disk behind `> file`) is reported once at the end and makes the exit code 1. A closed stderr is
//! ignored: there is nobody left to tell.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout is gone (EPIPE); nothing more is written to it.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// The first write error that was not a closed pipe.
static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes to stdout, remembering a closed pipe or another error instead of panicking as `print!` does.
pub fn stdout(args: Arguments<'_>, newline: bool) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = write(&mut std::io::stdout().lock(), args, newline) {
        note(e);
    }
}

/// Writes to stderr; errors are dropped (`eprint!` would panic on them).
pub fn stderr(args: Arguments<'_>, newline: bool) {
    let _ = write(&mut std::io::stderr().lock(), args, newline);
}

fn write(out: &mut impl Write, args: Arguments<'_>, newline: bool) -> std::io::Result<()> {
    out.write_fmt(args)?;
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
