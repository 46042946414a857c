//! One test per exit code of DECISIONS "CLI", each walking the cases listed there with the real binary: 0 ok;
//! 1 the job failed; 2 usage or configuration error; 130 interrupted by Ctrl-C. (143 and 129, the other signals,
//! are tested with the signal handling.)
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
use std::process::Command;

/// Runs `args` and checks the exit code and that stderr says `needle`.
fn says(home: &TestHome, args: &[&str], code: i32, needle: &str) {
    said(home.run(args), code, needle);
}

/// Checks a finished run's exit code and that its stderr says `needle`.
fn said(out: std::process::Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(needle), "{err}");
}

#[test]
fn exit_0_when_the_job_did_what_was_asked() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &["--auto-hours", "1"]);
    for args in [
        ["backup", "--profile", "shop"].as_slice(),
        &["verify", "--all"],
        &["run-due"],
        &["restore", "1", "--yes"],
        &["list"],
    ] {
        home.run_ok(args);
    }
    let rows = home.list_json();
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:?}");
}

#[test]
fn exit_1_when_the_job_failed() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 100, &["--no-auto"]);
    let archive = home.backup("shop");

    // An unreachable server.
    home.postgres_profile("down", "1", "x", &["--no-auto"]);
    says(
        &home,
        &["backup", "--profile", "down"],
        1,
        "cannot reach the database server",
    );

    // A missing tool.
    home.postgres_profile("pg", "5432", "postgres", &["--no-auto"]);
    let out = home
        .command(&["backup", "--profile", "pg"])
        .env("BACKSTOP_PG_BIN", "/nonexistent")
        .output()
        .unwrap();
    said(out, 1, "cannot be used");

    // A password that cannot be read: it is in the keyring, and no Secret Service answers.
    home.mark_passwords_stored();
    let config_file = home.home().join("config.toml");
    let out = home
        .command(&["backup", "--profile", "pg"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    said(out, 1, "keyring unavailable");

    // A refused import.
    let junk = home.work().join("junk.bin");
    std::fs::write(&junk, [0u8, 159, 146, 150, 1, 2, 3].repeat(100)).unwrap();
    says(
        &home,
        &["import", junk.to_str().unwrap(), "--profile", "shop"],
        1,
        "refused",
    );

    // A profile's job already running.
    let lock = ProfileLock::acquire(&home.paths(), "shop").unwrap();
    says(
        &home,
        &["backup", "--profile", "shop"],
        1,
        "already running",
    );
    drop(lock);

    // A restore whose safety backup fails (the storage folder's drive is gone): nothing is restored.
    home.sqlite_profile("away", 50, &["--no-auto"]);
    home.backup("away");
    let config = std::fs::read_to_string(&config_file).unwrap();
    let unmounted = config.replace("archives/away\"", "unmounted/away\"");
    assert_ne!(config, unmounted);
    std::fs::write(&config_file, unmounted).unwrap();
    let away = home
        .list_json()
        .iter()
        .find(|r| r["profile"] == "away")
        .map(|r| r["id"].to_string())
        .unwrap();
    says(
        &home,
        &["restore", &away, "--yes"],
        1,
        "the safety backup of the current state failed",
    );

    // Any run-due backup failing (the other profiles' run-due backups may succeed).
    std::fs::remove_file(home.sqlite_profile("gone", 20, &[])).unwrap();
    says(&home, &["run-due"], 1, "database file not found");

    // A restore that cannot read the live database (so no safety backup can be taken).
    std::fs::write(
        &db,
        b"this is not a SQLite database, not even its header ".repeat(100),
    )
    .unwrap();
    says(
        &home,
        &["restore", "1", "--yes"],
        1,
        "the current database cannot be read",
    );

    // Damage found.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0x55);
    std::fs::write(&archive, &bytes).unwrap();
    let out = home.run_code(&["verify", "1"], 1);
    assert!(out.contains("DAMAGED"), "{out}");
}

#[test]
fn exit_2_for_usage_and_configuration_errors() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &["--no-auto"]);
    home.backup("shop");
    says(
        &home,
        &["backup", "--profile", "nope"],
        2,
        "no profile named 'nope'",
    );
    says(&home, &["backup", "--frobnicate"], 2, "--frobnicate");
    says(
        &home,
        &["backup", "--kind", "files"],
        2,
        "needs a files folder",
    );
    says(&home, &["restore", "1"], 2, "pass --yes");
    // An unreadable config: not UTF-8, then not a file at all. It is never overwritten.
    let config_file = home.home().join("config.toml");
    let garbage = [0xffu8, 0xfe, b'[', b'x', 0x80].repeat(10);
    std::fs::write(&config_file, &garbage).unwrap();
    says(&home, &["list"], 2, "cannot read the config file");
    says(&home, &["backup"], 2, "cannot read the config file");
    assert_eq!(std::fs::read(&config_file).unwrap(), garbage);
    std::fs::remove_file(&config_file).unwrap();
    std::fs::create_dir(&config_file).unwrap();
    says(
        &home,
        &["profile", "list"],
        2,
        "cannot read the config file",
    );
}

#[test]
fn exit_130_when_ctrl_c_cancels_the_job() {
    let home = TestHome::new();
    // A files folder big enough that the backup is still writing when the signal comes.
    let media = home.work().join("media");
    common::bulk_files(&media, 400, 300);
    home.sqlite_profile(
        "shop",
        100,
        &["--files", media.to_str().unwrap(), "--no-auto"],
    );
    let storage = home.home().join("archives/shop");
    let partial = || {
        std::fs::read_dir(&storage)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
    };
    let mut child = home.spawn(&["backup"]);
    let start = std::time::Instant::now();
    while !partial() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the backup never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!partial(), "the partial archive is removed");
    assert_eq!(home.list_json()[0]["status"], "cancelled");
}
