//! Boot only: no subcommand opens the window; a subcommand runs the CLI.
//! Exit codes: 0 ok, 1 job failed, 2 usage or config, 130 Ctrl-C.

use backstop::cli::{self, Cli};
use backstop::config::Paths;
use backstop::progress::CancelToken;
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    if cli.command.is_none() {
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
        std::process::exit(code);
    }
    let cancel = CancelToken::new();
    let on_interrupt = cancel.clone();
    // Ctrl-C cancels the job cleanly (partial files removed, catalog row marked cancelled), then exits 130.
    let _ = ctrlc::set_handler(move || {
        if on_interrupt.is_cancelled() {
            std::process::exit(130);
        }
        on_interrupt.cancel();
    });
    std::process::exit(cli::run(cli, cancel));
}
