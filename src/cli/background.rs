//! `backstop background timer|login on|off|status`: the window's "On this computer" switches for scripts and
//! tests, through the same functions (`crate::desktop`).

use super::args::{BackgroundCommand, Switch};
use super::output;
use crate::desktop::{self, DesktopChange, Places};
use crate::error::Result;
use chrono::Utc;

/// Runs one `background` subcommand; returns the exit code.
pub(super) fn background_command(command: BackgroundCommand) -> Result<i32> {
    let places = Places::from_env()?;
    let change = match command {
        BackgroundCommand::Timer { action: Switch::On } => DesktopChange::SystemTimer(true),
        BackgroundCommand::Timer {
            action: Switch::Off,
        } => DesktopChange::SystemTimer(false),
        BackgroundCommand::Login { action: Switch::On } => DesktopChange::StartAtLogin(true),
        BackgroundCommand::Login {
            action: Switch::Off,
        } => DesktopChange::StartAtLogin(false),
        BackgroundCommand::Timer {
            action: Switch::Status,
        } => {
            println!(
                "system timer: {}",
                desktop::systemd::status(&places).words(Utc::now())
            );
            return Ok(0);
        }
        BackgroundCommand::Login {
            action: Switch::Status,
        } => {
            println!(
                "start at login: {}",
                desktop::autostart::status(&places).words()
            );
            return Ok(0);
        }
    };
    println!("{}", desktop::apply(&places, change)?);
    Ok(0)
}
