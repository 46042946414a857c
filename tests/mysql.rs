//! MySQL/MariaDB against the real server on 127.0.0.1:3306 with the real mariadb-dump and mariadb client, through
//! the real binary: round trips compared table by table and schema by schema, all-or-nothing restores, the swap
//! interrupted by kill -9, and each failure's message.
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
    MyFingerprint, MyTestDb, accounts_sum, create_accounts, create_rich_schema, databases_like,
    exec, fingerprint, rows, run_transfers,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

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
fn a_backup_under_concurrent_transfers_keeps_the_sum() {
    let db = MyTestDb::new("bs_my_transfers");
    create_accounts(&db.name);
    let home = home_for(&db);
    let (stop, transfers) = run_transfers(&db.name);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let id = backup_id(&home);
    stop.store(true, Ordering::Relaxed);
    let done = transfers.join().unwrap();
    assert!(done > 10, "transfers ran during the backup: {done}");
    home.run_ok(&restore_args(
        &id,
        &["--to-database", &format!("{}_copy", db.name)],
    ));
    assert_eq!(accounts_sum(&format!("{}_copy", db.name)), 1000);
    assert_eq!(accounts_sum(&db.name), 1000);
}

#[test]
fn validate_only_and_restore_into_another_database_leave_the_target_alone() {
    let db = MyTestDb::new("bs_my_validate");
    create_rich_schema(&db.name);
    let home = home_for(&db);
    let id = backup_id(&home);
    exec(
        Some(&db.name),
        "DELETE FROM audit; INSERT INTO audit (what) VALUES ('after')",
    );
    let before = fingerprint(&db.name);
    home.run_ok(&["restore", &id, "--validate-only"]);
    assert!(fingerprint(&db.name) == before, "the target is unchanged");
    assert!(db.others().is_empty(), "{:?}", db.others());
    let other = format!("{}_other", db.name);
    home.run_ok(&restore_args(&id, &["--to-database", &other]));
    assert!(
        fingerprint(&db.name) == before,
        "the profile's database is untouched"
    );
    let restored = fingerprint(&other);
    assert_eq!(restored.tables["audit"], Vec::<String>::new());
    assert_eq!(
        db.others(),
        vec![other.clone()],
        "no staging database is left"
    );
    // An existing database is refused for --to-database.
    let err = home.run_err(&restore_args(&id, &["--to-database", &other]), 2);
    assert!(err.contains("already exists"), "{err}");
}

/// The archive with its dump cut short inside the `orders` rows and every hash recomputed: intact as a file,
/// wrong as a dump.
fn truncated_copy(home: &TestHome, archive: &Path) -> PathBuf {
    use sha2::Digest;
    use std::io::Read;
    let out = home.work().join("truncated.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name.starts_with("database/") {
            let text = String::from_utf8(bytes).unwrap();
            let cut = text.find("INSERT INTO `orders`").unwrap();
            bytes = text.as_bytes()[..cut + 40].to_vec();
        }
        entries.push((name, bytes));
    }
    let sums: Vec<(String, usize, String)> = entries
        .iter()
        .map(|(n, b)| (n.clone(), b.len(), hex::encode(sha2::Sha256::digest(b))))
        .collect();
    let (_, manifest) = entries
        .iter_mut()
        .find(|(n, _)| n == "manifest.json")
        .unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    for entry in value["entries"].as_array_mut().unwrap() {
        if let Some((_, size, sha)) = sums.iter().find(|(n, _, _)| entry["path"] == n.as_str()) {
            entry["size"] = (*size).into();
            entry["sha256"] = sha.clone().into();
        }
    }
    *manifest = serde_json::to_vec_pretty(&value).unwrap();
    entries.sort_by_key(|(name, _)| name == "manifest.json");
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    common::raw_zip(&out, &refs);
    out
}

#[test]
fn a_restore_that_fails_midway_leaves_the_target_exactly_as_it_was() {
    let db = MyTestDb::new("bs_my_midway");
    create_rich_schema(&db.name);
    let home = home_for(&db);
    let (report, _) = home.backup_json("my");
    let archive = PathBuf::from(report["path"].as_str().unwrap());
    exec(Some(&db.name), "INSERT INTO audit (what) VALUES ('live')");
    let before = fingerprint(&db.name);
    let bad = truncated_copy(&home, &archive);
    let err = home.run_err(
        &[
            "restore",
            bad.to_str().unwrap(),
            "--yes",
            "--no-safety-backup",
        ],
        1,
    );
    assert!(
        err.contains("staging") || err.contains("row counts differ"),
        "{err}"
    );
    assert!(fingerprint(&db.name) == before, "the target is unchanged");
    assert!(
        db.others().is_empty(),
        "no staging database is left: {:?}",
        db.others()
    );
}

#[test]
fn a_dropped_database_is_created_again_by_the_restore() {
    let db = MyTestDb::new("bs_my_dropped");
    create_rich_schema(&db.name);
    let original = fingerprint(&db.name);
    let home = home_for(&db);
    let id = backup_id(&home);
    exec(None, &format!("DROP DATABASE `{}`", db.name));
    home.run_ok(&restore_args(&id, &[]));
    assert!(
        fingerprint(&db.name) == original,
        "the dropped database came back as it was"
    );
    let collation = rows(
        None,
        &format!(
            "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}'",
            db.name
        ),
    );
    assert_eq!(
        collation[0][0], "utf8mb4_unicode_ci",
        "the database's own collation came back"
    );
    assert!(db.others().is_empty(), "{:?}", db.others());
}

/// What a failed backup leaves: no completed row, no archive.
fn assert_nothing_written(home: &TestHome) {
    assert!(
        home.list_json().iter().all(|r| r["status"] != "completed"),
        "{:?}",
        home.list_json()
    );
    let archives = home.home().join("archives").join("my");
    let files: Vec<_> = std::fs::read_dir(&archives)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn preflight_failures_each_say_what_is_wrong() {
    let db = MyTestDb::new("bs_my_preflight");
    create_rich_schema(&db.name);
    // Unreachable.
    let home = TestHome::new();
    home.add_my_profile("my", &db.name, 1, None);
    let err = home.run_err(&["backup", "--profile", "my"], 1);
    assert!(
        err.contains("cannot reach the database server at 127.0.0.1:1"),
        "{err}"
    );
    assert_nothing_written(&home);
    // Unknown database.
    let home = TestHome::new();
    home.add_my_profile("my", &format!("{}_nope", db.name), 3306, None);
    let err = home.run_err(&["backup", "--profile", "my"], 1);
    assert!(
        err.contains(&format!("database {}_nope does not exist", db.name)),
        "{err}"
    );
    assert_nothing_written(&home);
    // Access denied: a user with a password, none stored.
    let user = format!("bs_denied_{}", std::process::id());
    exec(
        None,
        &format!(
            "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw'"
        ),
    );
    let home = TestHome::new();
    home.add_my_profile("my", &db.name, 3306, Some(&user));
    let err = home.run_err(&["backup", "--profile", "my"], 1);
    exec(None, &format!("DROP USER IF EXISTS '{user}'@'%'"));
    assert!(
        err.contains("refused the password") && err.contains(&user),
        "{err}"
    );
    assert_nothing_written(&home);
    // Missing tools: a PATH without them.
    let home = home_for(&db);
    let empty = home.work().join("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let out = common::run_env(
        &home,
        &["backup", "--profile", "my"],
        &[("PATH", empty.to_str().unwrap())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mariadb-dump and mysqldump") && err.contains("not found"),
        "{err}"
    );
    assert_nothing_written(&home);
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
