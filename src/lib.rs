//! Backstop keeps SQLite databases (PostgreSQL and MySQL/MariaDB to come) and their files folder safe in
//! verified archives, and gives them back when something breaks.
//!
//! Modules in reading order:
//! - [`model`]: the shared words (kind, trigger, status, policy).
//! - [`config`]: where state lives (`BACKSTOP_HOME`), profiles and settings in `config.toml`.
//! - [`failure`]: what an error's kind means: its exit code, and whether an automatic backup retries (pure).
//! - [`fsutil`]: durable writes (temp file, fsync, rename).
//! - [`progress`]: progress sinks, cancel tokens, streamed hashing copies.
//! - [`archive`]: the zip archive, its manifest and checksums; safe reading of untrusted archives (every manifest
//!   field checked at one boundary).
//! - [`engine`]: the database engines behind one trait (`engine::sqlite`, `engine::postgres`).
//! - [`files`]: the files ("media") folder: walk into an archive, restore beside and swap, selective restore.
//! - [`catalog`]: the history of backups, restores and jobs.
//! - [`retention`], [`schedule`]: pure decisions, tested with case tables.
//! - [`change`]: the change check that flags a backup whose data looks lost (pure).
//! - [`lock`]: one lock per profile; a lock beside the catalog and the config for their read-change-writes.
//! - [`leftovers`]: the next start removes temporary files of Backstop processes that are gone.
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP cancel the running job cleanly.
//! - [`secrets`]: database passwords in the OS keyring, or a 0600 file when the user chose it.
//! - [`health`]: the warnings a profile's banner shows (pure).
//! - [`jobs`]: every job the CLI and the window run; [`restore_log`]: what a killed restore did, logged at the
//!   next start.
//! - [`import`]: the import job's detection and readers for other apps' backups (part of the job layer).
//! - [`worker`]: the window's one worker thread (commands in, events out).
//! - [`instance`]: one window per user: a second `backstop` brings the first forward.
//! - [`notify`]: desktop notifications behind a small trait.
//! - [`desktop`]: start at login (XDG autostart) and the systemd user timer that runs `run-due` while the window is
//!   closed: pure unit texts, a few side effects.
//! - [`cli`]: the command line, a thin adapter over `jobs`.
//! - [`ui`]: the window (eframe/egui); the only module that knows eframe.
//!
//! Dependencies point one way: `ui` → `worker` → `jobs`; `cli` → `jobs`; `jobs` → `catalog`, `config`,
//! `engine`, `files`, `archive`, `retention`, `schedule`. Nothing below `jobs` knows whether a terminal or a window listens.
//!
//! Invariants: an archive is written once, to `<name>.partial`, fsynced, read back and verified, then renamed;
//! only then is its catalog row `completed`. A restore changes the live database only after the archive and the
//! extracted copy passed every check, and after a safety backup of the current state.

pub mod archive;
pub mod catalog;
pub mod change;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod desktop;
pub mod engine;
pub mod error;
pub mod failure;
pub mod files;
pub mod fsutil;
pub mod health;
pub mod import;
pub mod instance;
pub mod jobs;
pub mod leftovers;
pub mod lock;
pub mod model;
pub mod notify;
pub mod progress;
pub mod restore_log;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod signals;
pub mod status;
pub mod storage;
pub mod ui;
pub mod worker;

pub use error::{Error, Result};

/// The app id, one reverse-DNS name everywhere: the window's app id (X11 `WM_CLASS`, Wayland `app_id`), the desktop
/// entry `io.github.backstop.Backstop.desktop`, the icon's name in the hicolor theme, the AppStream component id and
/// the notifications' desktop-entry hint. `packaging/linux/` names its files after it.
pub const APP_ID: &str = "io.github.backstop.Backstop";
