//! Backups while the window is closed: `backstop pause`/`resume` and what `run-due` does then, a profile another
//! job holds, and the systemd user timer installed by `backstop background timer on`, run by a real (private)
//! user manager.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::lock::ProfileLock;
use common::TestHome;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn run_due_while_paused_starts_nothing_says_so_and_exits_0_until_resumed() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &["--auto-hours", "1"]);
    let said = home.run_ok(&["pause"]);
    assert!(said.starts_with("automatic backups paused"), "{said}");
    assert!(home.run_ok(&["pause"]).contains("paused already"));
    let out = home.run_ok(&["run-due"]);
    assert_eq!(
        out.trim(),
        "automatic backups are paused (resume them in the window or with `backstop resume`)"
    );
    assert!(home.list_json().is_empty(), "nothing was started");
    let json: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["run-due", "--json"])).unwrap();
    assert_eq!(json[0]["due"], false, "{json}");
    assert!(
        json[0]["reason"].as_str().unwrap().contains("paused"),
        "{json}"
    );
    assert_eq!(home.run_ok(&["resume"]).trim(), "automatic backups resumed");
    let out = home.run_ok(&["run-due"]);
    assert!(out.contains("shop: backed up"), "{out}");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["trigger"], "automatic");
}

/// The timer's `run-due` and the open window never back up one profile at once: while another job holds the
/// profile's lock, run-due skips it with a clear line, exits 0 (nothing failed) and records no failed backup.
#[test]
fn run_due_skips_a_profile_another_job_holds_without_failing_it() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &[]);
    let held = ProfileLock::acquire(&home.paths(), "shop").unwrap();
    let out = home.run(&["run-due"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("shop: skipped: another Backstop job (the open window, or another run-due) is working on this profile"),
        "{said}"
    );
    assert!(!said.contains("FAILED"), "{said}");
    assert!(home.list_json().is_empty(), "no failed row in the history");
    let jobs = home.run_ok(&["log", "--json"]);
    assert!(!jobs.contains("failed"), "{jobs}");
    drop(held);
    let out = home.run_ok(&["run-due"]);
    assert!(out.contains("shop: backed up"), "{out}");
}

/// A private systemd user manager (its own runtime and config folders), stopped when dropped.
struct UserManager {
    child: Child,
    runtime: PathBuf,
    config: PathBuf,
    home: PathBuf,
}

impl UserManager {
    /// Starts one, or says why it cannot (printed, and the test skips).
    fn start(dir: &Path) -> Result<UserManager, String> {
        if !Path::new("/run/systemd/system").is_dir() {
            return Err(
                "/run/systemd/system is missing (PID 1 is not systemd and nobody made it): a user manager refuses to start"
                    .into(),
            );
        }
        let systemd = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("no systemd binary")?;
        let runtime = dir.join("runtime");
        let home = dir.join("user");
        let config = home.join(".config");
        for d in [&runtime, &config] {
            std::fs::create_dir_all(d).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let child = Command::new(systemd)
            .arg("--user")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", &config)
            .env("HOME", &home)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {systemd} --user: {e}"))?;
        let mut manager = UserManager {
            child,
            runtime,
            config,
            home,
        };
        let start = Instant::now();
        loop {
            let out = manager.systemctl(&["is-system-running"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" || state == "degraded" {
                return Ok(manager);
            }
            if let Ok(Some(status)) = manager.child.try_wait() {
                return Err(format!("systemd --user exited at once ({status})"));
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "systemd --user did not come up: {state} {}",
                    text(&out)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn env(&self, command: &mut Command) {
        command
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("HOME", &self.home)
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
    }

    fn systemctl(&self, args: &[&str]) -> Output {
        let mut command = Command::new("systemctl");
        command.arg("--user").args(args);
        self.env(&mut command);
        command.output().unwrap()
    }

    /// The real binary in this session, with the test's Backstop home.
    fn backstop(&self, home: &TestHome, args: &[&str]) -> Output {
        let mut command = home.command(args);
        self.env(&mut command);
        command.output().unwrap()
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["exit"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_real_user_systemd_runs_the_timer_backstop_installed() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 30, &["--auto-hours", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let manager = match UserManager::start(dir.path()) {
        Ok(manager) => manager,
        Err(why) => {
            eprintln!("SKIPPED: no private systemd user manager: {why}");
            return;
        }
    };
    let out = manager.backstop(&home, &["background", "timer", "on"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("checks every 15 minutes"),
        "{}",
        text(&out)
    );
    let units = manager.config.join("systemd/user");
    let service = std::fs::read_to_string(units.join("backstop-run-due.service")).unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart={} run-due",
            env!("CARGO_BIN_EXE_backstop")
        )),
        "{service}"
    );
    assert!(
        service.contains(&format!(
            "Environment=\"BACKSTOP_HOME={}\"",
            home.home().display()
        )),
        "{service}"
    );
    // list-timers shows it, with a next run within 15 minutes (plus its randomized delay of up to a minute).
    let listed = manager.systemctl(&["list-timers", "--all", "--output=json"]);
    let timers: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ours = timers
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["unit"] == "backstop-run-due.timer")
        .unwrap_or_else(|| panic!("not listed: {timers}"));
    let next_us = ours["next"].as_u64().unwrap();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    assert!(
        next_us > now_us && next_us - now_us <= 16 * 60 * 1_000_000,
        "next run in {} s",
        (next_us.saturating_sub(now_us)) / 1_000_000
    );
    let status = manager.backstop(&home, &["background", "timer", "status"]);
    assert!(
        text(&status).contains("system timer: On: checks every 15 minutes"),
        "{}",
        text(&status)
    );
    assert!(text(&status).contains("Next check at"), "{}", text(&status));
    // The service, started by hand as the timer would, makes the due backup.
    assert!(home.list_json().is_empty());
    let run = manager.systemctl(&["start", "--wait", "backstop-run-due.service"]);
    assert!(run.status.success(), "{}", text(&run));
    let rows = home.list_json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["trigger"], "automatic");
    assert_eq!(rows[0]["status"], "completed");
    // Paused, the same service starts nothing, though a new profile's first backup is due.
    home.sqlite_profile("blog", 10, &[]);
    home.run_ok(&["pause"]);
    let run = manager.systemctl(&["start", "--wait", "backstop-run-due.service"]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(home.list_json().len(), 1, "nothing started while paused");
    // Off: stopped, disabled and gone.
    let out = manager.backstop(&home, &["background", "timer", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!units.join("backstop-run-due.timer").exists());
    assert!(!units.join("backstop-run-due.service").exists());
    assert!(
        !units
            .join("timers.target.wants/backstop-run-due.timer")
            .exists()
    );
    let listed = manager.systemctl(&["list-timers", "--all"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("backstop-run-due"),
        "{}",
        text(&listed)
    );
    let status = manager.backstop(&home, &["background", "timer", "status"]);
    assert!(text(&status).contains("Off"), "{}", text(&status));
}

#[cfg(target_os = "linux")]
#[test]
fn login_on_writes_a_valid_autostart_entry_and_off_removes_it() {
    let home = TestHome::new();
    let config = home.work().join("config home");
    let run = |args: &[&str]| {
        let mut command = home.command(args);
        command.env("XDG_CONFIG_HOME", &config);
        command.output().unwrap()
    };
    let out = run(&["background", "login", "on"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entry = config.join("autostart/io.github.backstop.Backstop.desktop");
    let written = std::fs::read_to_string(&entry).unwrap();
    let exec = [
        "env".to_string(),
        format!("BACKSTOP_HOME={}", home.home().display()),
        env!("CARGO_BIN_EXE_backstop").to_string(),
        "--hidden".to_string(),
    ]
    .iter()
    .map(|a| backstop::desktop::autostart::exec_arg(a))
    .collect::<Vec<_>>()
    .join(" ");
    assert!(
        written.contains(&format!("\nExec={exec}\n")),
        "{exec}\n{written}"
    );
    let validated = Command::new("desktop-file-validate").arg(&entry).output();
    match validated {
        Ok(out) => assert!(
            out.status.success() && out.stdout.is_empty(),
            "{}",
            text(&out)
        ),
        Err(_) => {
            eprintln!("note: desktop-file-validate is not installed; the entry was not validated")
        }
    }
    let status = run(&["background", "login", "status"]);
    assert!(
        text(&status).contains("On: Backstop starts hidden in the tray"),
        "{}",
        text(&status)
    );
    let out = run(&["background", "login", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!entry.exists());
    assert!(text(&run(&["background", "login", "status"])).contains("Off"));
}
