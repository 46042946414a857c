//! Boot only: a subcommand runs the CLI; no subcommand opens the window (`backstop [--hidden] [FILE]`: hidden in
//! the tray where the desktop has one; FILE offered for import), unless a Backstop window already runs for this
//! user: then that one is brought forward (and offered FILE) and this process exits 0.
//! Exit codes: 0 ok, 1 job failed, 2 usage or config, 130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.
//!
//! A Windows release build is a GUI-subsystem program, so a double click opens no console window; the CLI
//! then writes to the console it was started from ([`attach_parent_console`]).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use backstop::cli::{self, Cli};
use backstop::config::Paths;
use backstop::progress::CancelToken;
use backstop::{fsutil, instance, leftovers, signals};
use clap::Parser;
use std::path::PathBuf;

fn main() {
    // Before anything is created: every file and folder Backstop makes is private from its first byte.
    fsutil::private_umask();
    // An argument usually means the CLI (or clap's help and errors), whose output must reach the terminal on Windows;
    // for `backstop FILE` from a file manager there is no parent console and nothing changes.
    #[cfg(windows)]
    if std::env::args_os().nth(1).is_some() {
        attach_parent_console();
    }
    let cli = Cli::parse();
    // SIGINT, SIGTERM and SIGHUP cancel the job cleanly (partial and password files removed, catalog row marked
    // cancelled), then the process exits 130, 143 or 129.
    let cancel = CancelToken::new();
    if let Err(e) = signals::install(cancel.clone()) {
        eprintln!("warning: cannot watch for stop signals ({e}); Ctrl-C will not clean up");
    }
    if cli.command.is_none() {
        let code = window(cli.hidden, cli.file);
        std::process::exit(signals::received().map_or(code, |signal| 128 + signal));
    }
    // Every start, whatever the command: temporary files of Backstop processes that are gone (password files
    // first). Commands that open the catalog do it again as part of their start-up checks, finding nothing.
    if let Ok(paths) = Paths::from_env() {
        for line in leftovers::sweep(&paths) {
            eprintln!("note: {line}");
        }
    }
    std::process::exit(signals::exit_code(cli::run(cli, cancel)));
}

/// The window, or the one already open brought forward; the exit code.
fn window(hidden: bool, file: Option<PathBuf>) -> i32 {
    let paths = match Paths::from_env() {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let file = match file.map(|f| std::path::absolute(&f).map(|abs| (f, abs))) {
        None => None,
        Some(Ok((_, abs))) if abs.exists() => Some(abs),
        Some(Ok((given, _))) => {
            eprintln!("error: {}: no such file or folder", given.display());
            return 2;
        }
        Some(Err(e)) => {
            eprintln!("error: cannot resolve the file's path: {e}");
            return 2;
        }
    };
    let request = match &file {
        Some(file) => instance::Request::Open(file.clone()),
        None => instance::Request::Show,
    };
    if instance::reach(&paths, &request) {
        println!("Backstop is already running; its window was brought forward");
        return 0;
    }
    // The window's worker reports what the start-up clean-up removed.
    match backstop::ui::run(paths, backstop::ui::Launch { hidden, file }) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Windows: writes stdout and stderr to the console of the process that started Backstop (cmd, PowerShell,
/// Windows Terminal). A GUI-subsystem program gets no console of its own, so without this the CLI would print
/// nothing. Handles already redirected (`> file`, a pipe) are kept; with no parent console (a double click,
/// Task Scheduler) nothing changes. The one `unsafe` in Backstop (ARCHITECTURE.md, "Unsafe code").
#[cfg(windows)]
#[allow(unsafe_code)]
fn attach_parent_console() {
    use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole};
    // SAFETY: AttachConsole takes a process id by value and touches no memory of ours; it fails harmlessly
    // (returns 0) when the parent has no console or this process already has one, which needs no handling.
    let _ = unsafe { AttachConsole(ATTACH_PARENT_PROCESS) };
}
