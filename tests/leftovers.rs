//! Nothing lost or exposed at the edges: real signals sent to the real binary mid-job, `kill -9` followed by the
//! next start, the mode of every file and folder Backstop creates (watched with inotify while jobs run, with the
//! shell's usual umask 022), and the restore log after a kill.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{
    CreatedModes, TestHome, db_fingerprint, names_in, not_private, run_env, run_umask_022, signal,
    wait_until,
};
use std::path::{Path, PathBuf};

fn storage(home: &TestHome, profile: &str) -> PathBuf {
    home.home().join("archives").join(profile)
}

/// Backstop's temporary files in a folder: partial archives, snapshots and staged copies, and their SQLite
/// sidecars.
fn temporary(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.contains(".partial") || n.starts_with(".pgpass"))
        .collect()
}

fn log_json(home: &TestHome) -> serde_json::Value {
    serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn sigterm_sighup_and_sigint_cancel_a_sqlite_backup_cleanly() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200_000, &["--no-auto"]);
    let store = storage(&home, "shop");
    let db_dir = db.parent().unwrap().to_path_buf();
    for (n, (name, code)) in [("TERM", 143), ("HUP", 129), ("INT", 130)]
        .into_iter()
        .enumerate()
    {
        let mut child = home.spawn(&["backup"]);
        wait_until("the backup's snapshot or partial archive", || {
            !temporary(&store).is_empty()
        });
        assert_eq!(signal(&mut child, name), Some(code), "SIG{name}");
        assert_eq!(temporary(&store), Vec::<String>::new(), "SIG{name}");
        assert_eq!(temporary(&db_dir), Vec::<String>::new(), "SIG{name}");
        let rows = home.list_json();
        assert_eq!(rows.len(), n + 1);
        assert_eq!(rows[n]["status"], "cancelled", "SIG{name}: {:?}", rows[n]);
    }
    // The lock went with the process: the next backup runs and completes.
    home.backup("shop");
}

/// Backs up a large database, changes it, starts a restore (no safety backup) and sends it `signal_name` while
/// the restore stages its copy beside the database; returns the home, the database, its state before the restore
/// and the exit code.
fn stop_a_restore_while_staging(
    signal_name: &str,
) -> (TestHome, PathBuf, common::Fingerprint, Option<i32>) {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200_000, &["--no-auto"]);
    home.backup("shop");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders WHERE id % 3 = 0", [])
        .unwrap();
    drop(conn);
    let before = db_fingerprint(&db);
    let db_dir = db.parent().unwrap().to_path_buf();
    let mut child = home.spawn(&["restore", "1", "--yes", "--no-safety-backup"]);
    wait_until("the restore's staged copy beside the database", || {
        names_in(&db_dir).iter().any(|n| n.contains(".restore-"))
    });
    let code = signal(&mut child, signal_name);
    (home, db, before, code)
}

#[test]
fn sigterm_during_a_restore_changes_nothing_and_is_logged_cancelled() {
    let (home, db, before, code) = stop_a_restore_while_staging("TERM");
    assert_eq!(code, Some(143));
    assert_eq!(db_fingerprint(&db), before);
    assert_eq!(temporary(db.parent().unwrap()), Vec::<String>::new());
    let log = log_json(&home);
    assert_eq!(log["restores"][0]["outcome"], "cancelled", "{log}");
}

#[test]
fn the_next_start_of_any_command_removes_what_a_killed_sqlite_backup_left() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 200_000, &["--no-auto"]);
    let store = storage(&home, "shop");
    let mut child = home.spawn(&["backup"]);
    let pid = child.id();
    wait_until("the VACUUM INTO snapshot", || {
        temporary(&store).iter().any(|n| n.contains(".snapshot"))
    });
    assert_eq!(signal(&mut child, "KILL"), None);
    let left = temporary(&store);
    let snapshot = left
        .iter()
        .find(|n| n.ends_with(".snapshot.partial"))
        .unwrap_or_else(|| panic!("the kill left the snapshot: {left:?}"));
    assert!(snapshot.contains(&pid.to_string()), "{snapshot}");
    // What SQLite leaves when the kill lands while it writes the copy: its rollback journal beside it.
    std::fs::write(store.join(format!("{snapshot}-journal")), "journal").unwrap();
    // `profile list` opens no catalog, and still cleans up.
    let out = home.run(&["profile", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(temporary(&store), Vec::<String>::new());
    assert!(
        stderr(&out).contains(&format!("left by Backstop process {pid}")),
        "{}",
        stderr(&out)
    );
    // The catalog row is settled by the next command that opens the catalog.
    let rows = home.list_json();
    assert_eq!(rows[0]["status"], "failed");
}

#[test]
fn every_file_and_folder_backstop_creates_is_private_even_under_umask_022() {
    let home = TestHome::new();
    let work = home.work();
    let db = work.join("shop.sqlite3");
    backstop::demo::make_sample_database(&db, 20_000).unwrap();
    let foreign = home.dir.path().join("foreign.sqlite3");
    backstop::demo::make_sample_database(&foreign, 500).unwrap();
    // These databases are the user's: private here, so that SQLite's sidecars of them (which take the database's
    // mode, whatever the umask) are too.
    for user_db in [&db, &foreign] {
        std::fs::set_permissions(user_db, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    let watch = CreatedModes::watch(&[home.dir.path().to_path_buf()]);
    run_umask_022(
        &home,
        &[
            "profile",
            "add",
            "shop",
            "--sqlite",
            db.to_str().unwrap(),
            "--no-auto",
        ],
    );
    run_umask_022(&home, &["backup"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders", []).unwrap();
    drop(conn);
    run_umask_022(&home, &["restore", "1", "--yes"]);
    run_umask_022(&home, &["import", foreign.to_str().unwrap()]);
    run_umask_022(&home, &["verify", "--all"]);
    run_umask_022(&home, &["pin", "1"]);
    common::assert_created_private(
        &watch.stop(),
        &[
            ".snapshot.partial",
            ".restore-",
            "catalog.sqlite3",
            "backstop.log",
        ],
    );
    assert_eq!(not_private(&home.home()), Vec::new());
    assert_eq!(temporary(&storage(&home, "shop")), Vec::<String>::new());
}

/// Backs up a small database, empties a table, and runs a restore (with its safety backup) that the failpoint
/// `step` kills; returns the home, the database, its state when backed up and its state before the restore.
fn restore_killed_at(step: &str) -> (TestHome, PathBuf, common::Fingerprint, common::Fingerprint) {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 2_000, &["--no-auto"]);
    let backed_up = db_fingerprint(&db);
    home.backup("shop");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders", []).unwrap();
    drop(conn);
    let changed = db_fingerprint(&db);
    let out = run_env(
        &home,
        &["restore", "1", "--yes"],
        &[("BACKSTOP_FAILPOINT", &format!("{step}:abort"))],
    );
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    (home, db, backed_up, changed)
}

#[test]
fn a_restore_killed_after_replacing_the_database_is_logged_replaced_with_its_safety_backup() {
    let (home, db, backed_up, _) = restore_killed_at("restore-applied");
    assert_eq!(db_fingerprint(&db), backed_up, "the database was replaced");
    let (message, safety) = logged_restore(&home, "completed");
    assert!(message.starts_with("replaced"), "{message}");
    assert!(
        message.contains(&format!(
            "safety backup {safety} holds the state from before"
        )),
        "{message}"
    );
}

#[test]
fn a_restore_killed_while_replacing_the_database_is_finished_at_the_next_start() {
    let (home, db, backed_up, changed) = restore_killed_at("restore-apply");
    assert_eq!(
        db_fingerprint(&db),
        changed,
        "killed before the replacement"
    );
    let out = home.run(&["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("finished at the next start"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db_fingerprint(&db), backed_up, "finished at the next start");
    let (message, _) = logged_restore(&home, "completed");
    assert!(
        message.starts_with("finished at the next start"),
        "{message}"
    );
}

#[test]
fn a_restore_killed_before_it_changed_anything_is_logged_so() {
    let (home, db, before, code) = stop_a_restore_while_staging("KILL");
    assert_eq!(code, None);
    let log = log_json(&home);
    assert_eq!(db_fingerprint(&db), before);
    assert_eq!(temporary(db.parent().unwrap()), Vec::<String>::new());
    let restore = &log["restores"][0];
    assert_eq!(restore["outcome"], "failed", "{restore}");
    let message = restore["message"].as_str().unwrap();
    assert!(message.starts_with("nothing changed"), "{message}");
    assert!(message.contains("no safety backup was taken"), "{message}");
}

#[test]
fn a_full_restore_finished_or_rolled_back_is_logged_with_its_safety_backup() {
    let home = TestHome::new();
    let media = home.work().join("media");
    std::fs::create_dir_all(media.join("photos")).unwrap();
    std::fs::write(media.join("photos/cat.jpg"), vec![7u8; 50_000]).unwrap();
    let db = home.sqlite_profile(
        "shop",
        2_000,
        &["--no-auto", "--files", media.to_str().unwrap()],
    );
    home.backup("shop");
    let change = || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("DELETE FROM orders", []).unwrap();
        std::fs::write(media.join("new.txt"), "after the backup").unwrap();
    };
    // Killed between the database and the folder swap: the next start finishes it from its journal.
    change();
    let out = run_env(
        &home,
        &["restore", "1", "--yes"],
        &[("BACKSTOP_FAILPOINT", "files-swap:abort")],
    );
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    let (message, _) = logged_restore(&home, "completed");
    assert!(
        message.starts_with("finished at the next start"),
        "{message}"
    );
    assert!(!media.join("new.txt").exists(), "the folder was swapped in");
    // The folder swap fails: the database is put back from the safety backup, and the log says so.
    change();
    let out = run_env(
        &home,
        &["restore", "1", "--yes"],
        &[("BACKSTOP_FAILPOINT", "files-swap")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (message, safety) = logged_restore(&home, "failed");
    assert!(
        message.contains(&format!("put back from the safety backup ({safety}")),
        "{message}"
    );
}

/// The newest restore in the log, checked to have `outcome` and to name the newest safety backup (in its field and
/// in its words): its message and that backup's id.
fn logged_restore(home: &TestHome, outcome: &str) -> (String, serde_json::Value) {
    let log = log_json(home);
    let restore = &log["restores"][0];
    let safety = safety_backup_of(home);
    assert_eq!(restore["outcome"], outcome, "{restore}");
    assert_eq!(restore["safety_backup_id"], safety, "{restore}");
    let message = restore["message"].as_str().unwrap().to_string();
    // The job log tells the same story.
    let job = log["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "restore")
        .unwrap();
    assert_eq!(job["outcome"], outcome, "{job}");
    assert!(
        message.contains(&format!(
            "safety backup {safety} holds the state from before"
        )) || message.contains(&format!(
            "safety backup ({safety}, which holds the state from before"
        )),
        "{message}"
    );
    (message, safety)
}

/// The id of the newest safety backup.
fn safety_backup_of(home: &TestHome) -> serde_json::Value {
    home.list_json()
        .into_iter()
        .rev()
        .find(|r| r["trigger"] == "safety")
        .map(|r| r["id"].clone())
        .expect("a safety backup")
}
