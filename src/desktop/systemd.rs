//! "Run automatic backups even when Backstop is closed": a systemd user timer (`backstop-run-due.timer`, every
//! 15 minutes, `Persistent=true` so a check missed during sleep runs at wake) starting a oneshot service that runs
//! `backstop run-due` at low CPU and I/O priority. The units are written to `$XDG_CONFIG_HOME/systemd/user/` under
//! the same names the .deb installs in `/usr/lib/systemd/user/` (a user's own unit wins over the package's).
//!
//! The unit texts and their quoting are pure; [`install`], [`remove`] and [`status`] write the files and talk to
//! the user manager through the real `systemctl --user`. Where no user manager answers (no desktop session, a
//! container), the files are still written and enabled for the next login, and the error says exactly that.

use super::{Launch, Places, not_here, path_text, remove_file, write_public};
use crate::error::{Error, Result};
use chrono::{DateTime, Local, TimeZone, Utc};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The service's file name.
pub const SERVICE: &str = "backstop-run-due.service";
/// The timer's file name.
pub const TIMER: &str = "backstop-run-due.timer";
/// How often the timer fires, in systemd's calendar words.
pub const ON_CALENDAR: &str = "*:0/15";

/// The folder of user units under `config_home`.
pub fn unit_dir(config_home: &Path) -> PathBuf {
    config_home.join("systemd").join("user")
}

/// The service unit: `run-due` once, nice and idle-I/O, with this process's `BACKSTOP_HOME`.
pub fn service_text(launch: &Launch) -> Result<String> {
    let exe = path_text(&launch.exe)?;
    let environment = match &launch.backstop_home {
        Some(home) => format!(
            "Environment={}\n",
            quoted(&format!("{}={}", crate::config::HOME_ENV, path_text(home)?).replace('%', "%%"))
        ),
        None => String::new(),
    };
    Ok(format!(
        "# Backstop: runs the automatic backups that are due, then exits. Started by {TIMER}.\n\
         # Installed by the package, or by Backstop (Settings, On this computer; `backstop background timer on`).\n\
         [Unit]\n\
         Description=Run the automatic Backstop backups that are due\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={} run-due\n\
         {environment}\
         Nice=10\n\
         IOSchedulingClass=idle\n",
        exec_word(exe)
    ))
}

/// The timer unit: every 15 minutes, catching up after sleep or power-off.
pub fn timer_text() -> String {
    format!(
        "# Backstop: checks every 15 minutes for automatic backups that are due, even when the window is closed.\n\
         # Persistent=true runs a check missed while the computer slept or was off as soon as it is back.\n\
         [Unit]\n\
         Description=Check every 15 minutes for due Backstop backups\n\
         \n\
         [Timer]\n\
         OnCalendar={ON_CALENDAR}\n\
         Persistent=true\n\
         RandomizedDelaySec=60\n\
         Unit={SERVICE}\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    )
}

/// One word of an `ExecStart=` line: `%` and `$` doubled (specifiers and variables otherwise), quoted with C
/// escapes when it holds a space, a quote, a backslash or a `;`.
pub fn exec_word(word: &str) -> String {
    let word = word.replace('%', "%%").replace('$', "$$");
    if word.is_empty() || word.contains([' ', '\t', '"', '\'', '\\', ';']) {
        quoted(&word)
    } else {
        word
    }
}

/// A double-quoted systemd value: C escapes for `\` and `"` (specifiers are the caller's to double).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The real `systemctl --user`, with the environment it needs to find the same units Backstop wrote.
#[derive(Debug, Clone)]
pub struct Systemctl {
    program: OsString,
    env: Vec<(OsString, OsString)>,
}

impl Systemctl {
    /// `systemctl` from PATH, in this process's environment.
    pub fn from_env() -> Systemctl {
        Systemctl {
            program: "systemctl".into(),
            env: Vec::new(),
        }
    }

    /// The same, with `name=value` set for it (a test's private `XDG_RUNTIME_DIR`).
    pub fn with_env(mut self, name: &str, value: impl Into<OsString>) -> Systemctl {
        self.env.push((name.into(), value.into()));
        self
    }

    fn run(&self, places: &Places, args: &[&str], client_side: bool) -> std::io::Result<Output> {
        let mut command = Command::new(&self.program);
        command.arg("--user").args(args);
        if let Some(home) = &places.config_home {
            command.env("XDG_CONFIG_HOME", home);
        }
        if client_side {
            // Enable or disable by the files alone (the links `systemctl enable` makes), for the next login.
            command.env("SYSTEMCTL_INSTALL_CLIENT_SIDE", "1");
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdin(std::process::Stdio::null()).output()
    }
}

/// What `systemctl` said, as one line.
fn said(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match text.is_empty() {
        true => format!("systemctl ended with {}", out.status),
        false => text.lines().collect::<Vec<_>>().join("; "),
    }
}

/// The advice when no user manager answers.
fn no_session(detail: &str, enabled: bool) -> String {
    format!(
        "the timer is installed{} but not started: no systemd user session here (systemctl said: {detail}); it \
         starts at your next login, or now with `systemctl --user enable --now {TIMER}`",
        if enabled {
            " and enabled for your next login"
        } else {
            ""
        }
    )
}

fn no_systemctl(places: &Places, e: &std::io::Error) -> Error {
    Error::JobFailed(format!(
        "systemctl cannot be run ({e}): this system does not seem to use systemd, so nothing starts the timer \
         written in {}; run `backstop run-due` every 15 minutes from cron instead",
        places
            .config_home
            .as_deref()
            .map(|h| unit_dir(h).display().to_string())
            .unwrap_or_default()
    ))
}

/// Writes both units, reloads the user manager and enables and starts the timer. Returns what it did in words.
pub fn install(places: &Places, systemctl: &Systemctl) -> Result<String> {
    if !cfg!(target_os = "linux") {
        return Err(not_here("The system timer"));
    }
    let dir = unit_dir(places.config_home()?);
    write_public(&dir.join(SERVICE), &service_text(&places.launch)?)?;
    write_public(&dir.join(TIMER), &timer_text())?;
    let reload = systemctl
        .run(places, &["daemon-reload"], false)
        .map_err(|e| no_systemctl(places, &e))?;
    if !reload.status.success() {
        let detail = said(&reload);
        let enabled = systemctl
            .run(places, &["enable", TIMER], true)
            .is_ok_and(|out| out.status.success());
        return Err(Error::JobFailed(no_session(&detail, enabled)));
    }
    let start = systemctl
        .run(places, &["enable", "--now", TIMER], false)
        .map_err(|e| no_systemctl(places, &e))?;
    if !start.status.success() {
        return Err(Error::JobFailed(format!(
            "the timer's files are written in {} but systemd did not start it: {}",
            dir.display(),
            said(&start)
        )));
    }
    let next = status_with(places, systemctl)
        .next_run
        .map(|t| format!("; next check {}", when(t, Utc::now())))
        .unwrap_or_default();
    Ok(format!(
        "The system timer checks every 15 minutes for due backups, even when Backstop is closed{next}"
    ))
}

/// Stops and disables the timer, removes both units and reloads the user manager. Returns what it did in words.
pub fn remove(places: &Places, systemctl: &Systemctl) -> Result<String> {
    if !cfg!(target_os = "linux") {
        return Err(not_here("The system timer"));
    }
    let dir = unit_dir(places.config_home()?);
    let was_there = dir.join(TIMER).exists() || dir.join(SERVICE).exists();
    let mut problem = None;
    match systemctl.run(places, &["disable", "--now", TIMER], false) {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            // No manager (or the unit unknown to it): take the enable link away by the files alone.
            let offline = systemctl
                .run(places, &["disable", TIMER], true)
                .is_ok_and(|o| o.status.success());
            if !offline && was_there {
                problem = Some(said(&out));
            }
        }
        Err(_) => {}
    }
    // What `systemctl enable` made, should the disable above have found no one to ask.
    remove_file(&dir.join("timers.target.wants").join(TIMER))?;
    let removed_timer = remove_file(&dir.join(TIMER))?;
    let removed_service = remove_file(&dir.join(SERVICE))?;
    if let Ok(out) = systemctl.run(places, &["daemon-reload"], false)
        && !out.status.success()
        && problem.is_none()
        && status_with(places, systemctl).active
    {
        problem = Some(said(&out));
    }
    if let Some(problem) = problem {
        return Err(Error::JobFailed(format!(
            "the timer's files are removed, but systemd may still run it until you log out: {problem}; run \
             `systemctl --user disable --now {TIMER}`"
        )));
    }
    Ok(match removed_timer || removed_service {
        true => "The system timer is removed: automatic backups run while Backstop is open".into(),
        false => "The system timer was not installed".into(),
    })
}

/// The timer as the files and the user manager know it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerStatus {
    /// Both of Backstop's unit files are in the user's unit folder.
    pub installed: bool,
    /// The manager has it enabled (it starts at login).
    pub enabled: bool,
    /// The timer runs now.
    pub active: bool,
    /// Its next run, when the manager knows it.
    pub next_run: Option<DateTime<Utc>>,
    /// Why the manager could not be asked, when it could not.
    pub unreachable: Option<String>,
    /// The unit file the manager loaded (another one than Backstop's: set up outside Backstop).
    pub fragment: Option<PathBuf>,
    /// This system has no systemd timers from Backstop (not Linux).
    pub unavailable: bool,
}

impl TimerStatus {
    /// Whether the switch shows on: Backstop's files are there, or a timer of that name runs.
    pub fn is_on(&self) -> bool {
        self.installed || self.active
    }

    /// The state in one line for people, with the next run relative to `now`.
    pub fn words(&self, now: DateTime<Utc>) -> String {
        if self.unavailable {
            return not_here("The system timer").to_string();
        }
        let next = self
            .next_run
            .map(|t| format!(" Next check {}.", when(t, now)))
            .unwrap_or_default();
        match (self.installed, self.active, &self.unreachable) {
            (false, true, _) => format!(
                "On, set up outside Backstop ({}).{next}",
                self.fragment
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| TIMER.into())
            ),
            (true, true, _) => {
                format!("On: checks every 15 minutes, even when Backstop is closed.{next}")
            }
            (true, false, Some(why)) => format!(
                "Installed, but not running: {}.",
                no_session(why, self.enabled)
            ),
            (true, false, None) => format!(
                "Installed but stopped; turn it off and on, or run `systemctl --user enable --now {TIMER}`."
            ),
            (false, false, _) => "Off: automatic backups run only while Backstop is open.".into(),
        }
    }
}

/// "at 14:15 (in 12 min)" in local time.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (at - now).num_minutes();
    let local = Local.from_utc_datetime(&at.naive_utc());
    let clock = local.format("%H:%M");
    match minutes {
        m if m < 1 => format!("at {clock} (within a minute)"),
        m if m < 120 => format!("at {clock} (in {m} min)"),
        _ => format!("at {}", local.format("%Y-%m-%d %H:%M")),
    }
}

/// Reads the files and asks the user manager (`systemctl --user show`).
pub fn status(places: &Places) -> TimerStatus {
    status_with(places, &Systemctl::from_env())
}

/// [`status`] through a given `systemctl`.
pub fn status_with(places: &Places, systemctl: &Systemctl) -> TimerStatus {
    if !cfg!(target_os = "linux") {
        return TimerStatus {
            unavailable: true,
            ..TimerStatus::default()
        };
    }
    let mut status = TimerStatus {
        installed: places.config_home.as_deref().is_some_and(|home| {
            let dir = unit_dir(home);
            dir.join(TIMER).is_file() && dir.join(SERVICE).is_file()
        }),
        ..TimerStatus::default()
    };
    let args = [
        "show",
        TIMER,
        "-p",
        "LoadState,UnitFileState,ActiveState,NextElapseUSecRealtime,FragmentPath",
    ];
    match systemctl.run(places, &args, false) {
        Ok(out) if out.status.success() => {
            read_show(&String::from_utf8_lossy(&out.stdout), &mut status);
            // `show` prints the next run in local words; `list-timers` gives it in microseconds.
            if status.active
                && let Ok(out) =
                    systemctl.run(places, &["list-timers", "--all", "--output=json"], false)
                && out.status.success()
            {
                status.next_run = next_run_of(&String::from_utf8_lossy(&out.stdout));
            }
        }
        Ok(out) => status.unreachable = Some(said(&out)),
        Err(e) => status.unreachable = Some(format!("systemctl cannot be run: {e}")),
    }
    if status.unreachable.is_some() && status.installed {
        let link = places
            .config_home
            .as_deref()
            .map(|home| unit_dir(home).join("timers.target.wants").join(TIMER));
        status.enabled = link.is_some_and(|l| l.exists());
    }
    status
}

/// The timer's next run in `systemctl list-timers --output=json` (pure).
pub fn next_run_of(json: &str) -> Option<DateTime<Utc>> {
    let timers: serde_json::Value = serde_json::from_str(json).ok()?;
    let micros = timers
        .as_array()?
        .iter()
        .find(|t| t.get("unit").and_then(|u| u.as_str()) == Some(TIMER))?
        .get("next")?
        .as_i64()?;
    DateTime::from_timestamp_micros(micros).filter(|_| micros > 0)
}

/// Reads `systemctl show`'s `Key=value` lines into `status` (pure).
pub fn read_show(text: &str, status: &mut TimerStatus) {
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "UnitFileState" => status.enabled = value.starts_with("enabled"),
            "ActiveState" => status.active = value == "active",
            "FragmentPath" if !value.is_empty() => status.fragment = Some(PathBuf::from(value)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::test_support::{launch, places_in};

    #[test]
    fn exec_words_escape_specifiers_variables_and_spaces() {
        let cases = [
            ("/usr/bin/backstop", "/usr/bin/backstop"),
            ("/opt/My Apps/backstop", "\"/opt/My Apps/backstop\""),
            ("/opt/100%/backstop", "/opt/100%%/backstop"),
            ("/opt/$HOME/backstop", "/opt/$$HOME/backstop"),
            ("/opt/a\"b/backstop", "\"/opt/a\\\"b/backstop\""),
        ];
        for (word, want) in cases {
            assert_eq!(exec_word(word), want, "{word}");
        }
    }

    #[test]
    fn the_service_runs_this_binary_with_its_home_and_the_timer_every_15_minutes() {
        let text = service_text(&launch(
            "/opt/My Apps/backstop",
            Some("/home/a/my 100% home"),
        ))
        .unwrap();
        assert!(
            text.contains("ExecStart=\"/opt/My Apps/backstop\" run-due\n"),
            "{text}"
        );
        assert!(
            text.contains("Environment=\"BACKSTOP_HOME=/home/a/my 100%% home\"\n"),
            "{text}"
        );
        assert!(text.contains("Type=oneshot\n") && text.contains("Nice=10\n"));
        assert!(text.contains("IOSchedulingClass=idle\n"));
        let packaged = service_text(&launch("/usr/bin/backstop", None)).unwrap();
        assert!(
            packaged.contains("ExecStart=/usr/bin/backstop run-due\n"),
            "{packaged}"
        );
        assert!(!packaged.contains("Environment="), "{packaged}");
        let timer = timer_text();
        for line in [
            "OnCalendar=*:0/15\n",
            "Persistent=true\n",
            "WantedBy=timers.target\n",
            "Unit=backstop-run-due.service\n",
        ] {
            assert!(timer.contains(line), "{line} in {timer}");
        }
    }

    #[test]
    fn show_output_is_read_into_the_status() {
        let mut status = TimerStatus {
            installed: true,
            ..TimerStatus::default()
        };
        read_show(
            "LoadState=loaded\nUnitFileState=enabled\nActiveState=active\nNextElapseUSecRealtime=Tue 2023-11-14 22:13:20 UTC\n\
             FragmentPath=/home/a/.config/systemd/user/backstop-run-due.timer\n",
            &mut status,
        );
        assert!(status.enabled && status.active);
        status.next_run = next_run_of(
            r#"[{"next":1,"unit":"other.timer"},{"next":1700000000000000,"left":1,"last":null,"passed":null,"unit":"backstop-run-due.timer","activates":"backstop-run-due.service"}]"#,
        );
        assert_eq!(
            status.next_run,
            Utc.timestamp_opt(1_700_000_000, 0).single()
        );
        let now = Utc.timestamp_opt(1_700_000_000 - 12 * 60, 0).unwrap();
        let words = status.words(now);
        assert!(words.starts_with("On: checks every 15 minutes"), "{words}");
        assert!(words.contains("(in 12 min)"), "{words}");
        let mut off = TimerStatus::default();
        read_show(
            "UnitFileState=\nActiveState=inactive\nNextElapseUSecRealtime=\n",
            &mut off,
        );
        assert!(!off.is_on());
        assert_eq!(next_run_of("[]"), None);
    }

    /// The packaged units (`packaging/linux/systemd/`, installed by the .deb) are what Backstop writes for
    /// `/usr/bin/backstop`.
    #[test]
    fn the_packaged_units_are_the_generated_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/linux/systemd");
        let service = std::fs::read_to_string(dir.join(SERVICE)).unwrap();
        assert_eq!(
            service,
            service_text(&launch("/usr/bin/backstop", None)).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(TIMER)).unwrap(),
            timer_text()
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn install_without_a_user_manager_writes_the_units_says_so_and_remove_leaves_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let places = places_in(dir.path());
        let config = dir.path().join("config");
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).unwrap();
        // A runtime folder where no user manager listens, and no session bus.
        let systemctl = Systemctl::from_env()
            .with_env("XDG_RUNTIME_DIR", &runtime)
            .with_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent");
        let units = unit_dir(&config);
        match install(&places, &systemctl) {
            Ok(done) => panic!("no user manager runs here, yet: {done}"),
            Err(e) => {
                let text = e.to_string();
                if text.contains("systemctl cannot be run") {
                    eprintln!("note: systemctl is not installed; only the files were checked");
                } else {
                    assert!(text.contains("no systemd user session here"), "{text}");
                    assert!(text.contains("enabled for your next login"), "{text}");
                    assert!(units.join("timers.target.wants").join(TIMER).exists());
                }
            }
        }
        for unit in [SERVICE, TIMER] {
            let meta = std::fs::metadata(units.join(unit)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o644, "{unit}");
        }
        let status = status_with(&places, &systemctl);
        assert!(status.installed && status.is_on(), "{status:?}");
        assert!(status.unreachable.is_some(), "{status:?}");
        verify(&units);
        let service = std::fs::read(units.join(SERVICE)).unwrap();
        let _ = install(&places, &systemctl);
        assert_eq!(
            std::fs::read(units.join(SERVICE)).unwrap(),
            service,
            "idempotent"
        );
        let removed = remove(&places, &systemctl).unwrap();
        assert!(removed.contains("removed"), "{removed}");
        let left: Vec<_> = walk(&config);
        assert!(left.is_empty(), "nothing but folders left: {left:?}");
        assert!(!status_with(&places, &systemctl).is_on());
        assert_eq!(
            remove(&places, &systemctl).unwrap(),
            "The system timer was not installed"
        );
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => found.extend(walk(&path)),
                false => found.push(path),
            }
        }
        found
    }

    /// `systemd-analyze verify` on the written units, when it is installed (CI installs it).
    fn verify(units: &Path) {
        // It needs a runtime folder to set up its (offline) user manager; the units' problems name their files.
        let runtime = tempfile::tempdir().unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(units.join(SERVICE))
            .arg(units.join(TIMER))
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output();
        match out {
            Ok(out) => {
                let said = String::from_utf8_lossy(&out.stderr).to_string();
                assert!(
                    !said.contains("Failed to initialize manager"),
                    "not verified: {said}"
                );
                let ours: Vec<&str> = said
                    .lines()
                    .filter(|l| l.contains("backstop-run-due"))
                    .collect();
                assert!(ours.is_empty() && out.status.success(), "{said}");
            }
            Err(_) => {
                eprintln!("note: systemd-analyze is not installed; the units were not verified")
            }
        }
    }
}
