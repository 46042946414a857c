//! Boot only: parse the arguments and run the CLI. Exit codes: 0 ok, 1 job failed, 2 usage or config, 130 Ctrl-C.

use backstop::cli::{self, Cli};
use backstop::progress::CancelToken;
use clap::Parser;

fn main() {
    let cli = Cli::parse();
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
