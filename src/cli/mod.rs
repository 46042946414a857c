//! The command line: each subcommand builds a spec, calls a function in [`crate::jobs`] and prints the report.
//!
//! Exit codes: 0 ok; 1 the job failed or verify found damage; 2 usage or configuration error; 130 interrupted.

mod output;

// `print!` and friends, shadowed in this file so that every line the CLI prints goes through `output`: a closed
// stdout (`| head`) ends the output quietly instead of panicking, and a closed stderr is ignored.
macro_rules! println {
    () => { output::stdout(format_args!(""), true) };
    ($($arg:tt)*) => { output::stdout(format_args!($($arg)*), true) };
}
#[allow(
    unused_macros,
    reason = "there for the next `print!` written in this file"
)]
macro_rules! print {
    ($($arg:tt)*) => { output::stdout(format_args!($($arg)*), false) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { output::stderr(format_args!($($arg)*), true) };
}
macro_rules! eprint {
    ($($arg:tt)*) => { output::stderr(format_args!($($arg)*), false) };
}

// Declared after the macros, so that the files below print through them (each has `use super::output;`).
mod args;
mod background;
mod dest;
mod print;
mod profile;
mod run;

pub use args::{
    BackgroundCommand, CatalogCommand, Cli, Command, ConnectionFields, ProfileCommand,
    ProfileFields, Switch,
};
pub use dest::{DestAddArgs, DestCommand};
pub use run::run;
