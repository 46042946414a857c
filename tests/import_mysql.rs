//! Import of `mariadb-dump`/`mysqldump` files written by the real tools into a MySQL/MariaDB profile, against the
//! real server: round trips of every kind of object, `--databases` and gzipped dumps, `--all-databases` refused,
//! and the boundary (client commands refused before anything runs; a dump that reaches for another database,
//! the server's files or a shell fails and changes nothing; a killed import leaves nothing after the next start).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::TestHome;
use common::mysql::{MyTestDb, create_rich_schema, databases_like, exec, fingerprint, rows};
use std::path::{Path, PathBuf};

/// The tests of this file one at a time: each checks that no throwaway import user is left on the server, which
/// another test's import running meanwhile would have.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The throwaway import users on the server (none once an import is over).
fn import_users() -> Vec<String> {
    rows(
        None,
        "SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User LIKE 'bkimp\\_%'",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// Staging databases an import of the profile's database `db` made (none once it is over; a name this short is
/// never shortened in them).
fn staging_of(db: &str) -> Vec<String> {
    databases_like(&format!("{db}__backstop"))
}

fn dump(dir: &Path, name: &str, command: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    common::sh(dir, command);
    dir.join(name)
}

/// A home with profile `my` on `target`.
fn home_on(target: &MyTestDb) -> TestHome {
    let home = TestHome::new();
    home.add_my_profile("my", &target.name, 3306, None);
    home
}

fn import(home: &TestHome, file: &Path) -> serde_json::Value {
    let out = home.run_ok(&[
        "import",
        "--json",
        file.to_str().unwrap(),
        "--profile",
        "my",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let imported = report["imported"].as_array().unwrap();
    assert_eq!(imported.len(), 1, "{report:#}");
    imported[0].clone()
}

/// Asserts that an import was refused or failed with every one of `words`, and left nothing anywhere.
fn assert_refused(home: &TestHome, target: &MyTestDb, file: &Path, words: &[&str]) {
    let out = home.run(&["import", file.to_str().unwrap(), "--profile", "my"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    for word in words {
        assert!(
            err.contains(word),
            "{} should say {word:?}: {err}",
            file.display()
        );
    }
    assert!(home.list_json().is_empty(), "no backup row");
    assert_eq!(staging_of(&target.name), Vec::<String>::new());
    assert_eq!(import_users(), Vec::<String>::new());
    let tmp = home.home().join("state").join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch files left: {left:?}");
}

#[test]
fn dumps_with_every_kind_of_object_import_and_restore_exactly() {
    let _serial = serial();
    let source = MyTestDb::new("bimsrc");
    create_rich_schema(&source.name);
    let original = fingerprint(&source.name);
    let target = MyTestDb::new("bimdst");
    exec(
        Some(&target.name),
        "CREATE TABLE old (x int); INSERT INTO old VALUES (1)",
    );
    let home = home_on(&target);
    let dir = home.work().join("dumps");
    let src = &source.name;
    let opts = "-h127.0.0.1 -uroot --single-transaction --routines --triggers --events";
    let plain = dump(
        &dir,
        "shop.sql",
        &format!("mariadb-dump {opts} {src} > shop.sql"),
    );
    let databases = dump(
        &dir,
        "shop-2026-11-30-041500.sql",
        &format!(
            "mariadb-dump {opts} --add-drop-database --databases {src} > shop-2026-11-30-041500.sql"
        ),
    );
    let gz = dump(
        &dir,
        "shop.sql.gz",
        &format!("mariadb-dump {opts} {src} | gzip > shop.sql.gz"),
    );
    let mysqldump = dump(
        &dir,
        "compat.sql",
        &format!("mysqldump {opts} --skip-extended-insert {src} > compat.sql"),
    );

    for (file, detected) in [
        (&plain, "MariaDB dump"),
        (&databases, "MariaDB dump"),
        (&gz, "gzipped MariaDB dump"),
        (&mysqldump, "MariaDB dump"),
    ] {
        let report = import(&home, file);
        assert_eq!(report["detected"], detected, "{report:#}");
        let id = report["backup"]["id"].to_string();
        let tables = &report["backup"]["tables"];
        assert_eq!(tables["customers"], 3, "{report:#}");
        assert_eq!(tables["orders"], 3, "{report:#}");
        assert_eq!(staging_of(&target.name), Vec::<String>::new());
        assert_eq!(import_users(), Vec::<String>::new());
        if file == &databases {
            assert_eq!(
                report["backup"]["created_at"], "2026-11-30T04:15:00Z",
                "the time in the file's name: {report:#}"
            );
            let notes = report["notes"].to_string();
            assert!(notes.contains(&format!("for database {src}")), "{notes}");
            assert!(notes.contains("never into"), "{notes}");
        }

        home.run_ok(&["restore", &id, "--yes", "--no-safety-backup"]);
        let restored = fingerprint(&target.name);
        assert_eq!(
            restored.tables,
            original.tables,
            "{}: every row",
            file.display()
        );
        assert_eq!(
            restored.schema,
            original.schema,
            "{}: the schema",
            file.display()
        );
        exec(
            Some(&target.name),
            "DROP VIEW a_view_on_a_view; DELETE FROM audit",
        );
    }
    // The source was only read; the archives restore with stock tools too (README steps are checked elsewhere).
    assert_eq!(fingerprint(&source.name), original);
    home.run_ok(&["verify", "--all"]);
}

#[test]
fn an_all_databases_dump_and_several_databases_are_refused_before_anything_runs() {
    let _serial = serial();
    let a = MyTestDb::new("bimalla");
    let b = MyTestDb::new("bimallb");
    exec(
        Some(&a.name),
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
    );
    exec(
        Some(&b.name),
        "CREATE TABLE t (x int); INSERT INTO t VALUES (2)",
    );
    let target = MyTestDb::new("bimalld");
    let home = home_on(&target);
    let dir = home.work().join("dumps");
    let all = dump(
        &dir,
        "all.sql.gz",
        "mariadb-dump -h127.0.0.1 -uroot --single-transaction --all-databases | gzip > all.sql.gz",
    );
    assert_refused(
        &home,
        &target,
        &all,
        &["was refused", "--all-databases", "nothing was run"],
    );
    let two = dump(
        &dir,
        "two.sql",
        &format!(
            "mariadb-dump -h127.0.0.1 -uroot --databases {} {} > two.sql",
            a.name, b.name
        ),
    );
    assert_refused(
        &home,
        &target,
        &two,
        &[
            "more than one database",
            &a.name,
            &b.name,
            "mariadb-dump --single-transaction",
        ],
    );
    assert_eq!(
        rows(Some(&target.name), "SHOW TABLES"),
        Vec::<Vec<String>>::new()
    );
}

#[test]
fn a_dump_cannot_reach_this_machine_other_databases_or_the_servers_files() {
    let _serial = serial();
    let victim = MyTestDb::new("bimvict");
    exec(
        Some(&victim.name),
        "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42)",
    );
    let victim_before = fingerprint(&victim.name);
    let target = MyTestDb::new("bimevil");
    exec(
        Some(&target.name),
        "CREATE TABLE mine (x int); INSERT INTO mine VALUES (7)",
    );
    let target_before = fingerprint(&target.name);
    let home = home_on(&target);
    let dir = home.work().join("dumps");
    std::fs::create_dir_all(&dir).unwrap();
    let marker = home.work().join("pwned");
    let outfile = format!("/tmp/bs_impmy_outfile_{}", std::process::id());
    let v = &victim.name;
    let m = marker.display();
    let header = "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n\
                  /*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE t (x int);\n";
    // Refused by the check: nothing of these files runs.
    for (name, body, words) in [
        (
            "shell.sql",
            format!("\\! touch {m}\n"),
            vec!["client command", "nothing was run"],
        ),
        (
            "system.sql",
            format!("system touch {m}\n"),
            vec!["client command system"],
        ),
        (
            "tee.sql",
            format!("tee {m}\nSELECT 1;\n"),
            vec!["client command tee"],
        ),
        (
            "comment.sql",
            format!("-- `x\n\\! touch {m}`\n"),
            vec!["backslash"],
        ),
        (
            "local.sql",
            "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE t;\n".into(),
            vec!["LOAD DATA"],
        ),
        (
            "use.sql",
            format!("USE `{v}`;\nCREATE DATABASE `other_{v}`;\n"),
            vec!["more than one database"],
        ),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, format!("{header}{body}")).unwrap();
        assert_refused(&home, &target, &file, &words);
        assert!(!marker.exists(), "{name}: a shell command ran");
    }
    // Run as the throwaway user, which the server stops: the load fails and nothing outside staging changed.
    for (name, body) in [
        (
            "other-db.sql",
            format!("INSERT INTO `{v}`.precious VALUES (666);\n"),
        ),
        ("drop-other.sql", format!("DROP TABLE `{v}`.precious;\n")),
        (
            "outfile.sql",
            format!("SELECT 1 INTO OUTFILE '{outfile}';\n"),
        ),
        ("grant.sql", "GRANT ALL ON *.* TO CURRENT_USER;\n".into()),
        (
            "user.sql",
            "CREATE USER bs_impmy_intruder IDENTIFIED BY 'x';\n".into(),
        ),
        ("global.sql", "SET GLOBAL max_connections = 1;\n".into()),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, format!("{header}{body}")).unwrap();
        assert_refused(
            &home,
            &target,
            &file,
            &["does not load", "nothing else was touched"],
        );
        assert!(
            !Path::new(&outfile).exists(),
            "{name}: the server wrote a file"
        );
    }
    assert_eq!(fingerprint(&victim.name), victim_before);
    assert_eq!(fingerprint(&target.name), target_before);
    assert!(
        rows(
            None,
            "SELECT User FROM mysql.user WHERE User = 'bs_impmy_intruder'"
        )
        .is_empty()
    );
    assert_ne!(rows(None, "SELECT @@GLOBAL.max_connections")[0][0], "1");

    // LOAD_FILE needs the FILE right: the throwaway user gets NULL, never the server's file.
    let file = dir.join("load-file.sql");
    std::fs::write(
        &file,
        format!("{header}CREATE TABLE f (x longblob);\nINSERT INTO f SELECT LOAD_FILE('/etc/hostname');\n"),
    )
    .unwrap();
    let report = import(&home, &file);
    let id = report["backup"]["id"].to_string();
    home.run_ok(&["restore", &id, "--yes", "--no-safety-backup"]);
    assert_eq!(
        rows(Some(&target.name), "SELECT x IS NULL FROM f"),
        vec![vec!["1".to_string()]]
    );
    assert_eq!(import_users(), Vec::<String>::new());
}

#[test]
fn a_killed_import_leaves_nothing_after_the_next_start() {
    let _serial = serial();
    let target = MyTestDb::new("bimkill");
    let home = home_on(&target);
    let dir = home.work().join("dumps");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slow.sql");
    std::fs::write(
        &file,
        "-- MariaDB dump 10.19\nCREATE TABLE t (x int);\nINSERT INTO t VALUES (1);\nSELECT SLEEP(600);\n",
    )
    .unwrap();
    let mut child = home.spawn(&["import", file.to_str().unwrap(), "--profile", "my"]);
    let sleeping = || {
        rows(
            None,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER LIKE 'bkimp\\_%' AND INFO LIKE 'SELECT SLEEP%'",
        )
    };
    common::wait_until("the dump loads as the throwaway user", || {
        !sleeping().is_empty()
    });
    common::signal(&mut child, "KILL");
    child.wait().unwrap();
    assert_eq!(
        staging_of(&target.name).len(),
        1,
        "the kill left the staging database"
    );
    assert_eq!(import_users().len(), 1, "and the throwaway user");

    let out = home.run(&["list"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("that an interrupted import left"), "{said}");
    assert_eq!(staging_of(&target.name), Vec::<String>::new());
    assert_eq!(import_users(), Vec::<String>::new());
    assert!(
        sleeping().is_empty(),
        "the orphaned load's session was ended"
    );
    assert!(home.list_json().is_empty());
}
