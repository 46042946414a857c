//! Boot only: no subcommand opens the window; a subcommand runs the CLI.
//! Exit codes: 0 ok, 1 job failed, 2 usage or config, 130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP.

use backstop::cli::{self, Cli};
use backstop::config::Paths;
use backstop::progress::CancelToken;
use backstop::{fsutil, leftovers, signals};
use clap::Parser;

fn main() {
    // Before anything is created: every file and folder Backstop makes is private from its first byte.
    fsutil::private_umask();
    let cli = Cli::parse();
    // SIGINT, SIGTERM and SIGHUP cancel the job cleanly (partial and password files removed, catalog row marked
    // cancelled), then the process exits 130, 143 or 129.
    let cancel = CancelToken::new();
    if let Err(e) = signals::install(cancel.clone()) {
        eprintln!("warning: cannot watch for stop signals ({e}); Ctrl-C will not clean up");
    }
    if cli.command.is_none() {
        // The window's worker reports what the start-up clean-up removed.
        let code = match Paths::from_env()
            .map_err(|e| e.to_string())
            .and_then(backstop::ui::run)
        {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
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
