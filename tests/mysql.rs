//! MySQL/MariaDB against the real server on 127.0.0.1:3306 with the real mariadb-dump and mariadb client, through
//! the real binary: what only this engine has. The kept copy of a restore and its routines at work, non-InnoDB
//! tables, other sessions on the target, a password the option file must quote, the swap interrupted by kill -9,
//! and the window. What every engine must do (round trips, concurrent writes, validation, restores into another
//! database, failed loads, a dropped database, each server fault, the password kept out of sight) is in the
//! conformance suite (`cargo test --test conformance mysql::`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::TestHome;
use common::mysql::{
    MyFingerprint, MyTestDb, create_rich_schema, databases_like, exec, fingerprint, rows,
};
use std::path::Path;

/// A home with profile `my` on database `db` (root on the local server).
fn home_for(db: &MyTestDb) -> TestHome {
    let home = TestHome::new();
    home.add_my_profile("my", &db.name, 3306, None);
    home
}

fn backup_id(home: &TestHome) -> String {
    let (report, _) = home.backup_json("my");
    report["id"].to_string()
}

fn restore_args<'a>(id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["restore", id, "--yes", "--no-safety-backup"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn round_trip_of_a_rich_schema_is_exact_and_keeps_the_old_content() {
    let db = MyTestDb::new("bs_my_rich");
    create_rich_schema(&db.name);
    let original = fingerprint(&db.name);
    let home = home_for(&db);
    let id = backup_id(&home);
    // The manifest's counts are what the dump holds.
    let rows_json = home.list_json();
    let tables = &rows_json.last().unwrap()["tables"];
    assert_eq!(tables["customers"], 3, "{rows_json:?}");
    assert_eq!(tables["orders"], 3);
    assert_eq!(tables["audit"], 0);
    assert_eq!(tables["we`ird name"], 2);
    // Change everything, then restore.
    exec(
        Some(&db.name),
        "DELETE FROM orders; INSERT INTO customers (name, created) VALUES ('Eve', NOW()); DROP VIEW a_view_on_a_view; \
         DROP PROCEDURE add_order; CREATE TABLE extra (x INT); ALTER TABLE audit ADD COLUMN later INT",
    );
    let changed = fingerprint(&db.name);
    home.run_ok(&restore_args(&id, &[]));
    assert!(
        fingerprint(&db.name) == original,
        "the restored database is the backed-up one"
    );
    // The routines work in the restored database (and the trigger fires on the renamed table).
    exec(Some(&db.name), "CALL add_order(2, 5.00)");
    assert_eq!(rows(Some(&db.name), "SELECT order_count(2)")[0][0], "2");
    assert_eq!(
        rows(Some(&db.name), "SELECT COUNT(*) FROM audit")[0][0],
        "1"
    );
    assert_eq!(
        rows(Some(&db.name), "SELECT MAX(id) FROM orders")[0][0],
        "500",
        "AUTO_INCREMENT carried over"
    );
    // The old content is kept, faithfully, and listed; drop_copy removes it.
    let copies = db.others();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = &copies[0];
    assert!(
        copy.starts_with(&format!("{}_pre_restore_", db.name)),
        "{copy}"
    );
    let mut kept = fingerprint(copy);
    let mut changed_events = changed.clone();
    // A kept copy's events are disabled (it does not run jobs); the rest is the old content exactly.
    kept.schema.remove("EVENT nightly");
    changed_events.schema.remove("EVENT nightly");
    assert!(kept == changed_events, "the kept copy is the old content");
    let stats = home.run_ok(&["stats", "--profile", "my", "--json"]);
    assert!(
        stats.contains(copy.as_str()) && stats.contains("MariaDB"),
        "{stats}"
    );
}

#[test]
fn a_myisam_table_is_named_in_the_warnings() {
    let db = MyTestDb::new("bs_my_myisam");
    exec(
        Some(&db.name),
        "CREATE TABLE counters (id INT PRIMARY KEY) ENGINE=MyISAM; INSERT INTO counters VALUES (1);\
         CREATE TABLE good (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO good VALUES (1)",
    );
    let home = home_for(&db);
    let (report, stderr) = home.backup_json("my");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("counters") && warnings.contains("MyISAM"),
        "{report} {stderr}"
    );
    assert!(!warnings.contains("good"), "{warnings}");
    let show = home.run_ok(&["show", report["path"].as_str().unwrap()]);
    assert!(show.contains("counters"), "{show}");
}

#[test]
fn other_sessions_on_the_target_are_named_and_ended_only_on_request() {
    let db = MyTestDb::new("bs_my_sessions");
    create_rich_schema(&db.name);
    let home = home_for(&db);
    let id = backup_id(&home);
    exec(Some(&db.name), "INSERT INTO audit (what) VALUES ('live')");
    let before = fingerprint(&db.name);
    let holder = common::mysql::conn(Some(&db.name));
    let err = home.run_err(&restore_args(&id, &[]), 1);
    assert!(
        err.contains("other session(s)") && err.contains("--terminate-sessions"),
        "{err}"
    );
    assert!(fingerprint(&db.name) == before, "the target is unchanged");
    assert!(db.others().is_empty(), "{:?}", db.others());
    home.run_ok(&restore_args(&id, &["--terminate-sessions"]));
    assert_eq!(
        rows(Some(&db.name), "SELECT COUNT(*) FROM audit")[0][0],
        "0"
    );
    drop(holder);
}

/// Wrappers for mariadb-dump and mariadb that log their argv and environment, then run the real tool.
fn logging_tools(dir: &Path, log: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for tool in ["mariadb-dump", "mariadb"] {
        let script = dir.join(tool);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"ARGV $0 $*\" >> '{log}'\nenv >> '{log}'\nfor a in \"$@\"; do case \"$a\" in --defaults-file=*) cat \"${{a#--defaults-file=}}\" | grep -c password >> '{log}.files';; esac; done\nexec /usr/bin/{tool} \"$@\"\n",
                log = log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn the_password_never_reaches_argv_environment_logs_catalog_or_archive() {
    let db = MyTestDb::new("bs_my_secret");
    create_rich_schema(&db.name);
    let user = format!("bs_pw_{}", std::process::id());
    let password = "s3cr3t-\"pw'\\#with spaces";
    let literal = password.replace('\\', "\\\\").replace('\'', "\\'");
    exec(
        None,
        &format!(
            "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{literal}'; GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'"
        ),
    );
    let home = TestHome::new();
    home.add_my_profile("my", &db.name, 3306, Some(&user));
    let out = common::feed(
        {
            let mut c = home.command(&[
                "profile",
                "edit",
                "my",
                "--password-stdin",
                "--secret-store",
                "file",
            ]);
            c.env_remove("DBUS_SESSION_BUS_ADDRESS");
            c
        },
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tools = home.work().join("tools");
    let log = home.work().join("tools.log");
    logging_tools(&tools, &log);
    let env = [("BACKSTOP_MYSQL_BIN", tools.to_str().unwrap())];
    let out = common::run_env(&home, &["backup", "--profile", "my", "--json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = report["id"].to_string();
    let out = common::run_env(&home, &restore_args(&id, &[]), &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exec(None, &format!("DROP USER IF EXISTS '{user}'@'%'"));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("ARGV") && logged.contains("mariadb-dump"),
        "{logged}"
    );
    assert!(logged.contains("--defaults-file="), "{logged}");
    assert!(
        !logged.contains(password) && !logged.contains("MYSQL_PWD"),
        "{logged}"
    );
    // The option files did hold it (so the tools really got it that way).
    assert!(
        std::fs::read_to_string(format!("{}.files", log.display()))
            .unwrap()
            .contains('1')
    );
    // Nothing Backstop keeps holds it, except its own 0600 secret file; no option file is left.
    let secret_file = home.home().join("secrets").join("my.secret");
    for (path, _) in common::tree(&home.home()) {
        let path = home.home().join(path);
        if path == secret_file || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(password),
            "{} holds the password",
            path.display()
        );
        assert!(
            !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".mycnf-"),
            "{} was left behind",
            path.display()
        );
    }
}

/// The connection of a running `RENAME TABLE` by Backstop, if any.
fn rename_in_progress(db: &str) -> Option<String> {
    rows(
        None,
        &format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE `{db}`%'"
        ),
    )
    .into_iter()
    .next()
    .map(|r| r[0].clone())
}

/// Starts a restore, blocks its RENAME TABLE behind a lock held from another session, and kills Backstop with
/// -9 while it waits; `finish` says whether the RENAME is then let through (the kill came after it) or ended (the
/// kill came before it). Returns the test's home, the database and the fingerprints (backup, live before).
fn killed_during_swap(
    prefix: &str,
    let_rename_through: bool,
) -> (
    TestHome,
    MyTestDb,
    common::mysql::MyFingerprint,
    common::mysql::MyFingerprint,
) {
    use mysql::prelude::Queryable;
    let db = MyTestDb::new(prefix);
    create_rich_schema(&db.name);
    let backed_up = fingerprint(&db.name);
    let home = home_for(&db);
    let id = backup_id(&home);
    exec(
        Some(&db.name),
        "INSERT INTO audit (what) VALUES ('live'); DROP VIEW a_view_on_a_view",
    );
    let live = fingerprint(&db.name);
    // A session without a default database (so the restore does not see it as connected to the target) holds a
    // lock that RENAME TABLE must wait for.
    let mut locker = common::mysql::conn(None);
    locker
        .query_drop(format!("LOCK TABLES `{}`.`audit` READ", db.name))
        .unwrap();
    let mut child = home.spawn(&restore_args(&id, &[]));
    common::wait_until("the swap's RENAME TABLE waits for the lock", || {
        rename_in_progress(&db.name).is_some()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let_rename_through {
        locker.query_drop("UNLOCK TABLES").unwrap();
        common::wait_until("the RENAME TABLE ends", || {
            rename_in_progress(&db.name).is_none()
        });
    } else {
        let id = rename_in_progress(&db.name).unwrap();
        exec(None, &format!("KILL QUERY {id}"));
        // KILL QUERY only flags the statement: unlocking before it has noticed would let the rename through.
        common::wait_until("the killed RENAME TABLE ends", || {
            rename_in_progress(&db.name).is_none()
        });
        locker.query_drop("UNLOCK TABLES").unwrap();
    }
    (home, db, backed_up, live)
}

/// After the next start: the swap was settled on the server (the engine's record), then the confirmed restore
/// was finished from its archive (the restore log). The target holds the backup, no staging database is left,
/// and the oldest kept copy is exactly the old content: proof that the settling put every view, trigger,
/// routine and event back where it belongs.
fn assert_settled(
    home: &TestHome,
    db: &MyTestDb,
    said_by_engine: &str,
    backed_up: &MyFingerprint,
    live: &MyFingerprint,
    copies: usize,
) {
    let out = home.run(&["list"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(said_by_engine), "{said}");
    assert!(
        said.contains("finished"),
        "the restore log finished the restore: {said}"
    );
    assert!(
        fingerprint(&db.name) == *backed_up,
        "the target holds the backup"
    );
    assert!(databases_like(&format!("{}__backstop", db.name)).is_empty());
    let kept = db.others();
    assert_eq!(kept.len(), copies, "{kept:?}");
    let mut oldest = fingerprint(&kept[0]);
    let mut live = live.clone();
    oldest.schema.remove("EVENT nightly");
    live.schema.remove("EVENT nightly");
    assert!(
        oldest.tables == live.tables,
        "{:?} {:?}",
        oldest.tables.keys(),
        live.tables.keys()
    );
    assert_eq!(oldest.schema, live.schema);
}

#[test]
fn a_kill_before_the_rename_is_undone_then_the_restore_finished_by_the_next_start() {
    let (home, db, backed_up, live) = killed_during_swap("bs_my_kill_undo", false);
    assert_settled(&home, &db, "it was undone", &backed_up, &live, 1);
}

#[test]
fn a_kill_after_the_rename_is_finished_by_the_next_start() {
    let (home, db, backed_up, live) = killed_during_swap("bs_my_kill_finish", true);
    // The swap had happened; the restore log replaces the database once more from the same archive (whether
    // it had happened is the engine's business), keeping a second copy.
    assert_settled(&home, &db, "has now been finished", &backed_up, &live, 2);
}

/// The window offers the engine through the seam alone: the add-profile form starts with MySQL's port, Test
/// connection reaches the server, Back up now and the restore dialog (with its row-count comparison) work, and
/// Statistics shows the server's version and its largest table.
#[test]
fn the_window_adds_a_mysql_profile_tests_it_backs_up_and_restores() {
    use backstop::ui::{BackstopApp, Tab};
    use egui::accesskit::Role;
    use egui_kittest::kittest::{NodeT, Queryable};

    let db = MyTestDb::new("win");
    create_rich_schema(&db.name);
    let home = TestHome::new();
    let mut harness = common::window(home.paths());
    let wait = common::wait_for_window;
    let idle = |app: &BackstopApp| app.state.running.is_none() && app.state.queue.is_empty();
    wait(&mut harness, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    harness.get_by_label("MySQL/MariaDB server").click();
    harness.step();
    let port = harness.get_by_role_and_label(Role::TextInput, "Port");
    assert_eq!(port.value().as_deref(), Some("3306"), "MySQL's own port");
    for (label, text) in [
        ("New profile name", "my"),
        ("User", "root"),
        ("Database", db.name.as_str()),
    ] {
        let node = harness.get_by_role_and_label(Role::TextInput, label);
        node.focus();
        node.type_text(text);
        harness.step();
        harness.step();
    }
    harness.get_by_label("Add profile").click();
    wait(&mut harness, "the profile", &|app| {
        app.state.snapshot.config.profiles.len() == 1
    });
    assert_eq!(
        harness.state().state.snapshot.config.profiles[0]
            .database
            .engine(),
        backstop::model::EngineKind::Mysql
    );
    harness.state_mut().tab = Tab::Settings;
    harness.step();
    harness.get_by_label("Test connection").click();
    wait(&mut harness, "the connection test", &|app| {
        app.state
            .toasts
            .iter()
            .any(|t| t.text.starts_with("Connection ok: MySQL/MariaDB database"))
    });

    harness.state_mut().tab = Tab::Actions;
    harness.step();
    harness.get_by_label("Back up now").click();
    harness.step();
    wait(&mut harness, "the backup", &|app| {
        idle(app) && app.state.snapshot.backups.len() == 1
    });
    assert_eq!(
        harness.state().state.snapshot.backups[0].status,
        backstop::model::Status::Completed
    );
    let before = fingerprint(&db.name);

    exec(Some(&db.name), "DELETE FROM audit");
    harness.state_mut().tab = Tab::History;
    harness.step();
    harness.get_by_label("Restore…").click_accesskit();
    wait(&mut harness, "the comparison", &|app| {
        app.state.inspection.is_some()
    });
    harness.get_by_label("audit (rows)");
    let node =
        harness.get_by_role_and_label(Role::TextInput, "Type the profile name (my) to confirm:");
    node.focus();
    node.type_text("my");
    harness.step();
    harness.step();
    let restore = harness.get_by_role_and_label(Role::Button, "Restore");
    assert!(!restore.accesskit_node().is_disabled());
    restore.click();
    harness.step();
    wait(&mut harness, "the restore", &|app| {
        idle(app) && !app.state.snapshot.restores.is_empty()
    });
    assert_eq!(
        fingerprint(&db.name),
        before,
        "the restored database is the backup's"
    );

    harness.state_mut().tab = Tab::Statistics;
    harness.step();
    wait(&mut harness, "the details", &|app| {
        app.state.details.contains_key("my")
    });
    harness.step();
    harness.get_by_label("Server version");
    let version = harness.state().state.details["my"].1.server_version.clone();
    assert!(
        version
            .as_deref()
            .is_some_and(|v| v.starts_with("MariaDB ")),
        "{version:?}"
    );
    harness.get_by_label(&version.unwrap_or_default());
}
