//! The desktop window (eframe/egui, glow renderer so it runs without a GPU). Only this module knows eframe.
//!
//! `about` is About & Help and the keyboard shortcuts; `app` owns the window and the one place state changes;
//! `state` is the pure state machine; `top_bar` is the profile list and the tabs; `status` draws a profile's state;
//! the panels (`settings`, `statistics`, `actions`, `history`) draw and submit jobs; `disk_checks` looks at the
//! forms' paths on a thread of its own; `dialogs` hides the native file dialogs; `file_tree` is the restore
//! dialog's tree of a backup's files folder. `scheduler` runs automatic backups, `first_backup` walks a profile
//! added in the window to its first backup, `quit` asks before quitting during a job, and `notifications` decides
//! which job outcomes are worth a desktop notification. `desktop` hides and shows the window, answers a second
//! `backstop` and offers a file given on the command line; `tray` is the tray icon (Linux); `close` decides what
//! the close button does (the tray question, the no-tray note).

pub mod about;
pub mod actions;
pub mod app;
pub mod close;
pub mod desktop;
pub mod dialogs;
pub mod disk_checks;
pub mod file_tree;
pub mod first_backup;
mod frame;
pub mod history;
pub mod notifications;
pub mod quit;
pub mod scheduler;
pub mod settings;
pub mod state;
pub mod statistics;
pub mod status;
mod top_bar;
pub mod tray;

pub use app::{AppOptions, BackstopApp, Tab, run};
pub use desktop::Launch;
