//! The desktop integration that is not the window: starting Backstop at login (an XDG autostart entry,
//! [`autostart`]) and the systemd user timer that runs `backstop run-due` while the window is closed
//! ([`systemd`]).
//!
//! The texts are pure (`autostart::entry_text`, `systemd::service_text`, `systemd::timer_text`, their quoting),
//! tested against the stock validators; the few side effects (writing and removing the files, `systemctl --user`)
//! sit beside them. Where the files go is a parameter ([`Places`]), never read from the environment below
//! [`Places::from_env`], so tests work in temporary folders side by side. The window runs these through its worker
//! (`JobRequest::Desktop`), so it never waits on `systemctl`.

pub mod autostart;
pub mod systemd;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The reverse-DNS id every desktop file of Backstop is named after.
pub const APP_ID: &str = "io.github.backstop.Backstop";

/// What the autostart entry and the timer's service start: this program, with Backstop's state where it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Absolute path of the `backstop` binary.
    pub exe: PathBuf,
    /// `BACKSTOP_HOME` to pass on (absolute), when this process has one.
    pub backstop_home: Option<PathBuf>,
}

impl Launch {
    /// The binary running now, and this process's `BACKSTOP_HOME` (made absolute).
    pub fn current() -> Result<Launch> {
        let exe = std::env::current_exe().map_err(|e| {
            Error::JobFailed(format!(
                "cannot find the path of the running program ({e}), so no entry can start it"
            ))
        })?;
        // Linux names a binary replaced on disk (an upgrade while it runs) "<path> (deleted)": the new one is at
        // the same path.
        let replaced = exe
            .to_str()
            .and_then(|s| s.strip_suffix(" (deleted)"))
            .map(PathBuf::from);
        let exe = replaced.unwrap_or(exe);
        let backstop_home =
            match std::env::var_os(crate::config::HOME_ENV).filter(|v| !v.is_empty()) {
                Some(home) => Some(absolute(PathBuf::from(home))?),
                None => None,
            };
        Ok(Launch { exe, backstop_home })
    }
}

/// Where the desktop files go and what they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    /// `$XDG_CONFIG_HOME` (by default `~/.config`); `None` where no home folder can be found.
    pub config_home: Option<PathBuf>,
    /// What the files start.
    pub launch: Launch,
}

impl Places {
    /// `$XDG_CONFIG_HOME` (an absolute one; else `$HOME/.config`, as the XDG base directory spec says) and the
    /// running binary.
    pub fn from_env() -> Result<Places> {
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| dirs::home_dir().map(|home| home.join(".config")));
        Ok(Places {
            config_home,
            launch: Launch::current()?,
        })
    }

    /// Places under `config_home`, starting `launch` (tests, and anyone who knows better than the environment).
    pub fn under(config_home: &Path, launch: Launch) -> Places {
        Places {
            config_home: Some(config_home.to_path_buf()),
            launch,
        }
    }

    /// The config home, or why there is none.
    pub fn config_home(&self) -> Result<&Path> {
        self.config_home.as_deref().ok_or_else(|| {
            Error::JobFailed(
                "cannot find your home folder (neither XDG_CONFIG_HOME nor HOME is set), so there is nowhere to \
                 write the desktop files"
                    .into(),
            )
        })
    }
}

/// What the "On this computer" settings show: the autostart entry and the timer as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopStatus {
    /// The start-at-login entry.
    pub autostart: autostart::AutostartStatus,
    /// The systemd user timer.
    pub timer: systemd::TimerStatus,
}

/// Reads both (the timer's through `systemctl --user show`, when it answers).
pub fn status(places: &Places) -> DesktopStatus {
    DesktopStatus {
        autostart: autostart::status(places),
        timer: systemd::status(places),
    }
}

/// A change the window (or `backstop background`) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesktopChange {
    /// Start Backstop at login, hidden in the tray (true), or not.
    StartAtLogin(bool),
    /// Install and start the systemd user timer (true), or stop and remove it.
    SystemTimer(bool),
    /// Change nothing, read the status.
    Status,
}

impl DesktopChange {
    /// A short label for the job log.
    pub fn label(self) -> &'static str {
        match self {
            DesktopChange::StartAtLogin(true) => "Start Backstop at login",
            DesktopChange::StartAtLogin(false) => "Stop starting Backstop at login",
            DesktopChange::SystemTimer(true) => "Install the system timer",
            DesktopChange::SystemTimer(false) => "Remove the system timer",
            DesktopChange::Status => "Read the desktop integration's state",
        }
    }
}

/// Applies `change`; returns what it did in words (empty for [`DesktopChange::Status`]).
pub fn apply(places: &Places, change: DesktopChange) -> Result<String> {
    match change {
        DesktopChange::StartAtLogin(true) => autostart::enable(places).map(|path| {
            format!(
                "Backstop starts at login, hidden in the tray ({})",
                path.display()
            )
        }),
        DesktopChange::StartAtLogin(false) => {
            autostart::disable(places).map(|removed| match removed {
                true => "Backstop no longer starts at login".to_string(),
                false => "Backstop was not set to start at login".to_string(),
            })
        }
        DesktopChange::SystemTimer(on) => {
            let systemctl = systemd::Systemctl::from_env();
            match on {
                true => systemd::install(places, &systemctl),
                false => systemd::remove(places, &systemctl),
            }
        }
        DesktopChange::Status => Ok(String::new()),
    }
}

/// The error of a function that exists on Linux only.
pub(crate) fn not_here(what: &str) -> Error {
    Error::Usage(format!(
        "{what} is not available on this system (Linux desktops only); see packaging/ for this system's scheduler"
    ))
}

fn absolute(path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current folder", &path, e))?;
    Ok(cwd.join(path))
}

/// Writes a desktop file (0644: not a secret, and the session manager reads it) atomically, creating its folder.
fn write_public(path: &Path, text: &str) -> Result<()> {
    let dir = crate::fsutil::parent_of(path);
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
    }
    crate::fsutil::atomic_write_mode(path, text.as_bytes(), Some(0o644))
}

/// Removes a file; true when it was there.
fn remove_file(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            crate::fsutil::sync_dir(crate::fsutil::parent_of(path))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

/// The text of a path for a desktop file, which must be UTF-8 and one line.
fn path_text(path: &Path) -> Result<&str> {
    let text = path.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{} is not valid UTF-8, which desktop files require; move Backstop (or its home) to a plain path",
            path.display()
        ))
    })?;
    if text.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "{} holds a control character (a newline?), which a desktop file cannot hold",
            path.display()
        )));
    }
    Ok(text)
}

/// What the desktop tests share: a launch by paths, and places in a temporary folder.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Launch, Places};
    use std::path::{Path, PathBuf};

    /// A launch of `exe` with `home` as `BACKSTOP_HOME`.
    pub fn launch(exe: &str, home: Option<&str>) -> Launch {
        Launch {
            exe: PathBuf::from(exe),
            backstop_home: home.map(PathBuf::from),
        }
    }

    /// Places under `dir/config` starting an executable `dir/my bin/backstop` (a space to quote) with
    /// `BACKSTOP_HOME=dir/state home`.
    pub fn places_in(dir: &Path) -> Places {
        let exe = dir.join("my bin").join("backstop");
        std::fs::create_dir_all(dir.join("my bin")).unwrap();
        std::fs::write(&exe, b"#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Places::under(
            &dir.join("config"),
            Launch {
                exe,
                backstop_home: Some(dir.join("state home")),
            },
        )
    }
}
