//! SIGINT, SIGTERM and SIGHUP all stop Backstop the same clean way: the running job is cancelled (child tools
//! ended, partial and password files removed, its catalog row `cancelled`), then the process exits with 128 + the
//! signal's number (130, 143, 129). A second signal ends the process at once.
//!
//! The handler is a thread of its own (signal-hook's iterator: the signal handler only writes to a pipe), so no
//! `unsafe` is needed here and a job never runs inside a signal handler.

use crate::progress::CancelToken;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

/// The first stopping signal received (0: none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// What to wake when a signal arrives (the window asks for a frame, so that it can cancel its jobs and close).
static WAKERS: Mutex<Vec<Box<dyn Fn() + Send>>> = Mutex::new(Vec::new());

/// The signal that asked Backstop to stop, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The exit code for a run that ended with `code`: a run that a signal stopped (it did not succeed) exits
/// 128 + the signal, as shells expect; a job that finished before it noticed the signal keeps its own code.
pub fn exit_code(code: i32) -> i32 {
    match received() {
        Some(signal) if code != 0 => 128 + signal,
        _ => code,
    }
}

/// Calls `waker` when a stopping signal arrives (after the cancel token was set).
pub fn on_signal(waker: impl Fn() + Send + 'static) {
    let mut wakers = WAKERS.lock().unwrap_or_else(|e| e.into_inner());
    wakers.push(Box::new(waker));
}

fn stop(signal: i32, cancel: &CancelToken) {
    if RECEIVED
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // A second signal: the user (or the service manager) does not want to wait for the clean-up.
        std::process::exit(128 + signal);
    }
    cancel.cancel();
    let wakers = WAKERS.lock().unwrap_or_else(|e| e.into_inner());
    for wake in wakers.iter() {
        wake();
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to `cancel` from now on.
#[cfg(unix)]
pub fn install(cancel: CancelToken) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("backstop-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                stop(signal, &cancel);
            }
        })?;
    Ok(())
}

/// Routes Ctrl-C (the one stopping signal this platform has) to `cancel` from now on.
#[cfg(not(unix))]
pub fn install(cancel: CancelToken) -> std::io::Result<()> {
    const SIGINT: i32 = 2;
    ctrlc::set_handler(move || stop(SIGINT, &cancel)).map_err(std::io::Error::other)
}
