//! PostgreSQL beyond the engine conformance suite (tests/conformance.rs), against the real server on
//! 127.0.0.1:5432 with the real pg_dump, pg_restore and psql: sessions blocking the swap, the window, hostile
//! plain dumps, full backups, vanished tables, kept copies, stored passwords, signals and file modes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::secrets::{SecretError, SecretStore, Secrets};
use common::{PASSWORD, PW_ROLE, TestHome, password_role, psql, psql_quiet};
use std::process::{Command, Stdio};

/// A fresh database for one test, dropped (with any copies a restore made) at the end.
struct Db {
    name: String,
}

impl Db {
    fn new(tag: &str) -> Db {
        let name = format!("bk_{tag}_{}", std::process::id());
        psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Db { name }
    }

    /// Every user table's rows hashed, plus the schema: equal fingerprints, equal databases.
    fn fingerprint(&self) -> common::Fingerprint {
        common::pg_fingerprint(&self.name)
    }

    fn profile(&self, home: &TestHome, profile: &str) {
        home.add_pg_profile(profile, &self.name, &[]);
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let others = psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{}%'",
                self.name
            ),
        );
        for db in others.lines().filter(|l| !l.is_empty()) {
            psql_quiet(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            );
        }
    }
}

/// Many column types, a sequence, a view, a function, a trigger, an index, a foreign key, and pgbench's tables.
fn fill(db: &Db) {
    psql(
        &db.name,
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;
         CREATE SEQUENCE invoice_no START 1000;
         CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2), tags text[], meta jsonb,
             avatar bytea, joined timestamptz DEFAULT now(), token uuid DEFAULT gen_random_uuid());
         CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric, note text,
             invoice int DEFAULT nextval('invoice_no'));
         CREATE INDEX orders_customer ON orders(customer_id);
         CREATE TABLE audit (id serial PRIMARY KEY, what text, at timestamptz DEFAULT now());
         CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit(what) VALUES ('order ' || NEW.id); RETURN NEW; END $$;
         CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
         INSERT INTO customers (name, balance, tags, meta, avatar)
             SELECT 'customer ' || g, g * 1.5, ARRAY['a', 'b' || g], jsonb_build_object('n', g, 'ü', 'ñ'), decode(md5(g::text), 'hex')
             FROM generate_series(1, 500) g;
         INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 500, g * 0.37, repeat('x', g % 50) FROM generate_series(1, 3000) g;",
    );
    let status = Command::new("pgbench")
        .args([
            "-i",
            "-s",
            "1",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            &db.name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pgbench -i");
}

#[test]
fn other_sessions_block_the_swap_unless_the_user_agrees() {
    let home = TestHome::new();
    let db = Db::new("sessions");
    fill(&db);
    db.profile(&home, "pg");
    home.backup("pg");
    psql(&db.name, "DELETE FROM orders");
    let before = db.fingerprint();
    let mut holder = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &db.name,
            "-c",
            "SELECT pg_sleep(60)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ),
    )
    .trim()
        == "0"
    {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = home.run(&["restore", "1", "--yes", "--no-safety-backup"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1 other session(s) are connected") && err.contains("--terminate-sessions"),
        "{err}"
    );
    assert_eq!(db.fingerprint(), before);
    home.run_ok(&[
        "restore",
        "1",
        "--yes",
        "--no-safety-backup",
        "--terminate-sessions",
    ]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(psql(&db.name, "SELECT count(*) FROM orders").trim(), "3000");
}

#[test]
fn the_window_adds_a_postgres_profile_tests_it_backs_up_and_restores() {
    use backstop::ui::{BackstopApp, Tab};
    use egui::accesskit::Role;
    use egui_kittest::kittest::{NodeT, Queryable};

    let home = TestHome::new();
    let db = Db::new("window");
    fill(&db);
    let mut harness = common::window(home.paths());
    let wait = common::wait_for_window;
    let idle = |app: &BackstopApp| app.state.running.is_none() && app.state.queue.is_empty();
    wait(&mut harness, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    harness.get_by_label("PostgreSQL server").click();
    harness.step();
    for (label, text) in [
        ("New profile name", "pg"),
        ("User", "postgres"),
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
    harness.state_mut().tab = Tab::Settings;
    harness.step();
    harness.get_by_role_and_label(Role::TextInput, "Host");
    harness.get_by_label("Test connection").click();
    wait(&mut harness, "the connection test", &|app| {
        app.state
            .toasts
            .iter()
            .any(|t| t.text.starts_with("Connection ok"))
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

    psql(&db.name, "DELETE FROM orders");
    harness.state_mut().tab = Tab::History;
    harness.step();
    harness.get_by_label("Restore…").click_accesskit();
    wait(&mut harness, "the comparison", &|app| {
        app.state.inspection.is_some()
    });
    harness.get_by_label("public.orders (rows)");
    let node =
        harness.get_by_role_and_label(Role::TextInput, "Type the profile name (pg) to confirm:");
    node.focus();
    node.type_text("pg");
    harness.step();
    harness.step();
    let restore = harness.get_by_role_and_label(Role::Button, "Restore");
    assert!(!restore.accesskit_node().is_disabled());
    restore.click();
    harness.step();
    wait(&mut harness, "the restore", &|app| {
        idle(app) && !app.state.snapshot.restores.is_empty()
    });
    assert_eq!(psql(&db.name, "SELECT count(*) FROM orders").trim(), "3000");

    // Statistics shows the server's facts; Settings lists the copy the restore kept, and deletes it on request.
    harness.state_mut().tab = Tab::Statistics;
    harness.state_mut().details_asked_clear();
    wait(&mut harness, "the details", &|app| {
        app.state
            .details
            .get("pg")
            .is_some_and(|(_, d)| !d.kept_copies.is_empty())
    });
    harness.get_by_label("Server version");
    assert!(
        harness.query_by_label("cannot be read").is_none(),
        "the server's database size is shown"
    );
    harness.get_by_label("Largest tables");
    harness.get_by_label("public.pgbench_accounts");
    let copy = harness.state().state.details["pg"].1.kept_copies[0]
        .0
        .clone();
    assert!(
        copy.starts_with(&format!("{}_pre_restore_", db.name)),
        "{copy}"
    );
    harness.state_mut().tab = Tab::Settings;
    harness.step();
    harness
        .get_by_label(&format!("Delete {copy}…"))
        .click_accesskit();
    harness.step();
    harness.step();
    harness
        .get_by_label(&format!("Drop {copy}"))
        .click_accesskit();
    harness.step();
    wait(&mut harness, "the copy to go", &|_| {
        psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{copy}'"),
        )
        .trim()
            == "0"
    });
}

#[test]
fn a_hostile_plain_dump_is_refused_before_anything_runs() {
    let home = TestHome::new();
    let db = Db::new("hostile");
    db.profile(&home, "pg");
    let marker = format!("/tmp/backstop-pwned-{}", std::process::id());
    let _ = std::fs::remove_file(&marker);
    let cases = [
        (
            "shell.sql",
            format!("SET client_encoding = 'UTF8';\nCREATE TABLE t (x int);\n\\! touch {marker}\n"),
            3,
            "\\!",
        ),
        (
            "output.sql",
            format!("CREATE TABLE t (x int);\n\\o {marker}\nSELECT 1;\n"),
            2,
            "\\o",
        ),
        (
            "copyto.sql",
            format!("CREATE TABLE t (x int);\n\\copy t to '{marker}'\n"),
            2,
            "\\copy",
        ),
        (
            "program.sql",
            "CREATE TABLE t (x int);\nCOPY t FROM PROGRAM 'id';\n".to_string(),
            2,
            "PROGRAM",
        ),
    ];
    for (name, text, line, shown) in cases {
        let path = home.work().join(name);
        std::fs::write(&path, &text).unwrap();
        let out = home.run(&["import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("line {line}")) && err.contains(shown),
            "{name}: {err}"
        );
        assert!(err.contains("nothing was run"), "{name}: {err}");
    }
    assert!(!std::path::Path::new(&marker).exists(), "no command ran");
    assert_eq!(home.list_json().len(), 0, "refused imports add no row");
    assert_eq!(
        psql(
            &db.name,
            "SELECT count(*) FROM pg_tables WHERE tablename = 't'"
        )
        .trim(),
        "0"
    );
    let leftovers = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}__backstop_import_%'",
            db.name
        ),
    );
    assert_eq!(leftovers.trim(), "0");
}

#[test]
fn a_full_backup_restores_database_and_files_folder_together_or_neither() {
    let home = TestHome::new();
    let db = Db::new("full");
    fill(&db);
    db.profile(&home, "pg");
    let media = home.work().join("uploads");
    std::fs::create_dir_all(media.join("avatars")).unwrap();
    std::fs::write(media.join("avatars/ada.png"), vec![7u8; 5000]).unwrap();
    std::fs::write(media.join("terms.html"), "<p>terms</p>").unwrap();
    home.run_ok(&["profile", "edit", "pg", "--files", media.to_str().unwrap()]);
    let original = db.fingerprint();
    let files_before = common::tree_snapshot(&media);
    home.run_ok(&["backup"]);
    assert_eq!(home.list_json()[0]["kind"], "full");
    psql(&db.name, "DELETE FROM orders");
    std::fs::remove_file(media.join("terms.html")).unwrap();
    std::fs::write(media.join("avatars/new.png"), "x").unwrap();
    let changed = db.fingerprint();
    let files_changed = common::tree_snapshot(&media);
    // The folder swap fails after the database was replaced: the database is put back from the safety backup.
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(["restore", "1", "--yes"])
        .env("BACKSTOP_HOME", home.home())
        .env("BACKSTOP_FAILPOINT", "files-swap")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database was put back"), "{err}");
    assert_eq!(db.fingerprint().0, changed.0);
    assert_eq!(common::tree_snapshot(&media), files_changed);
    // Into another database: the live database and the files folder stay as they are.
    let copy = format!("{}_copy", db.name);
    let out = home.run_ok(&["restore", "1", "--yes", "--to-database", &copy]);
    assert!(!out.contains("files folder"), "{out}");
    assert_eq!(common::tree_snapshot(&media), files_changed);
    assert_eq!(common::pg_fingerprint(&copy).0, original.0);
    psql("postgres", &format!("DROP DATABASE \"{copy}\""));
    // Without the failure both come back.
    home.run_ok(&["restore", "1", "--yes"]);
    assert_eq!(db.fingerprint().0, original.0);
    let restored: Vec<_> = common::tree_snapshot(&media).into_values().collect();
    assert_eq!(restored, files_before.into_values().collect::<Vec<_>>());
}

#[test]
fn a_database_whose_tables_all_vanished_is_backed_up_flagged_and_retention_deletes_nothing() {
    let home = TestHome::new();
    let db = Db::new("vanished");
    psql(
        &db.name,
        "CREATE TABLE orders (id serial PRIMARY KEY, note text);
         INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 200) g;",
    );
    db.profile(&home, "pg");
    home.run_ok(&["profile", "edit", "pg", "--keep-last", "1"]);
    let first = home.backup("pg");
    psql(&db.name, "DROP TABLE orders");
    let (report, _) = home.backup_json("pg");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("public.orders") && warnings.contains("gone"),
        "{warnings}"
    );
    assert!(first.is_file(), "the backup before the loss was deleted");
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:#?}");
    assert!(rows[1]["warnings"].to_string().contains("public.orders"));
}

/// The copy a restore keeps (`<db>_pre_restore_<stamp>`) never takes the name of one already there: a restore in
/// the same second as an earlier one (or as its own rollback) keeps both copies instead of failing on the name.
#[test]
fn a_restore_keeps_its_copy_beside_one_from_the_same_second() {
    let home = TestHome::new();
    let db = Db::new("copies");
    psql(
        &db.name,
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100);",
    );
    db.profile(&home, "pg");
    home.backup("pg");
    psql(&db.name, "DELETE FROM t");
    // Whatever second the restore swaps in, a copy named for that second is already there.
    let now = chrono::Utc::now();
    for s in 0..60 {
        let stamp = (now + chrono::Duration::seconds(s)).format("%Y%m%d_%H%M%S");
        psql(
            "postgres",
            &format!("CREATE DATABASE {}_pre_restore_{stamp}", db.name),
        );
    }
    home.run_ok(&["restore", "1", "--yes"]);
    assert_eq!(psql(&db.name, "SELECT count(*) FROM t").trim(), "100");
    let copies = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}_pre_restore_%'",
            db.name
        ),
    );
    assert_eq!(
        copies.trim(),
        "61",
        "the 60 copies already there, and this restore's"
    );
}

#[test]
fn renaming_or_removing_a_profile_takes_its_stored_password_along() {
    password_follows_the_profile(SecretStore::File);
}

/// The same with the OS keyring. Run by hand inside a session with an unlocked Secret Service, e.g.
/// `dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock --components=secrets; cargo test --test
/// postgres -- --ignored keyring'`.
#[test]
#[ignore = "needs a real, unlocked Secret Service"]
fn renaming_or_removing_a_keyring_profile_takes_its_password_along() {
    password_follows_the_profile(SecretStore::Keyring);
}

/// Adds a password profile kept in `store`, renames it, backs it up with the moved password, removes it, and
/// checks after each step where the password is (and that it is nowhere at the end).
fn password_follows_the_profile(store: SecretStore) {
    password_role();
    let home = TestHome::new();
    let db = Db::new(&format!("follow_{store}"));
    common::notes_for_password_role(&db.name, 100);
    // Unique names: a keyring is shared by everything in the session.
    let (old, new) = (
        format!("pw-{}", std::process::id()),
        format!("renamed-{}", std::process::id()),
    );
    let add = [
        "profile",
        "add",
        &old,
        "--postgres",
        "--user",
        PW_ROLE,
        "--dbname",
        &db.name,
        "--password-stdin",
        "--no-auto",
        "--secret-store",
        store.as_str(),
    ];
    let out = common::feed(home.command(&add), &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secrets = Secrets::new(home.home().join("secrets"));
    let stored = |name: &str| match secrets.get(name, store) {
        Ok(password) => Some(password),
        Err(SecretError::Missing { .. }) => None,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(stored(&old).as_deref(), Some(PASSWORD));
    home.backup(&old);

    home.run_ok(&["profile", "rename", &old, &new]);
    assert_eq!(stored(&new).as_deref(), Some(PASSWORD));
    assert_eq!(stored(&old), None, "nothing stays under the old name");
    // The renamed profile backs up with its stored password, and keeps its history.
    home.backup(&new);
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r["profile"] == new.as_str() && r["status"] == "completed")
    );

    home.run_ok(&["profile", "remove", &new]);
    assert_eq!(stored(&new), None, "the password went with the profile");
    if store == SecretStore::File {
        let left: Vec<_> = std::fs::read_dir(secrets.dir()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

/// A fresh database owned by the password role, filled by `sql` (run as the superuser).
fn password_database(tag: &str, sql: &str) -> Db {
    password_role();
    let db = Db::new(tag);
    psql(
        "postgres",
        &format!("ALTER DATABASE {} OWNER TO {PW_ROLE}", db.name),
    );
    psql(&db.name, sql);
    db
}

/// A database owned by the password role, big enough that its backup takes a few seconds, and a profile `pg`
/// for it whose password is in a 0600 file.
fn big_password_database(home: &TestHome, tag: &str) -> Db {
    let db = password_database(
        tag,
        &format!(
            "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || repeat(md5((g * 3)::text), 4) AS body \
             FROM generate_series(1, 600000) g; ALTER TABLE big OWNER TO {PW_ROLE};"
        ),
    );
    let out = home.add_pg_password_profile("pg", &db.name, PASSWORD, &["--secret-store", "file"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// Starts `backstop backup` and waits until its password file and its partial archive both exist.
fn backup_under_way(home: &TestHome) -> std::process::Child {
    let tmp = home.home().join("state/tmp");
    let store = home.home().join("archives/pg");
    let child = home.spawn(&["backup"]);
    common::wait_until("the password file and the partial archive", || {
        common::names_in(&tmp)
            .iter()
            .any(|n| n.starts_with(".pgpass-"))
            && common::names_in(&store)
                .iter()
                .any(|n| n.ends_with(".zip.partial"))
    });
    child
}

#[test]
fn sigterm_or_kill_9_during_a_postgres_backup_leaves_no_password_file() {
    let home = TestHome::new();
    let db = big_password_database(&home, "sigterm");
    let tmp = home.home().join("state/tmp");
    let store = home.home().join("archives/pg");
    let password_files = || {
        common::names_in(&tmp)
            .into_iter()
            .filter(|n| n.starts_with(".pgpass"))
            .collect::<Vec<_>>()
    };
    // SIGTERM: cancelled like Ctrl-C, exit 143, nothing left.
    let mut child = backup_under_way(&home);
    assert_eq!(common::signal(&mut child, "TERM"), Some(143));
    assert_eq!(password_files(), Vec::<String>::new());
    assert_eq!(common::names_in(&store), Vec::<String>::new());
    assert_eq!(home.list_json()[0]["status"], "cancelled");

    // kill -9 leaves the password file; the next start, whatever the command, removes it first.
    let mut child = backup_under_way(&home);
    assert_eq!(common::signal(&mut child, "KILL"), None);
    assert_eq!(password_files().len(), 1, "the kill left the password file");
    let out = home.run(&["profile", "list"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(password_files(), Vec::<String>::new());
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.contains("removed 1 password file")),
        "{err}"
    );
    assert_eq!(common::names_in(&store), Vec::<String>::new());
    assert_eq!(home.list_json()[1]["status"], "failed");

    // SIGTERM while pg_restore loads the staging copy: nothing changed, no password file, no extracted dump.
    let archive = home.backup("pg");
    let id = home.list_json()[2]["id"].to_string();
    psql(&db.name, "DELETE FROM big WHERE id % 2 = 0");
    let before = db.fingerprint();
    let mut child = home.spawn(&["restore", &id, "--yes", "--no-safety-backup"]);
    common::wait_until("the password file and the extracted dump", || {
        let names = common::names_in(&tmp);
        names.iter().any(|n| n.starts_with(".pgpass-"))
            && names.iter().any(|n| n.starts_with(".restore-"))
    });
    assert_eq!(common::signal(&mut child, "TERM"), Some(143));
    assert_eq!(common::names_in(&tmp), Vec::<String>::new());
    assert_eq!(db.fingerprint(), before);
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    assert_eq!(log["restores"][0]["outcome"], "cancelled", "{log}");
    assert!(archive.is_file());
}

#[test]
fn every_file_a_postgres_backup_restore_and_import_creates_is_private_under_umask_022() {
    let home = TestHome::new();
    let db = Db::new("modes");
    fill(&db);
    db.profile(&home, "pg");
    let dump = home.dir.path().join("other.dump");
    let status = Command::new("pg_dump")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-Fc", "-f"])
        .arg(&dump)
        .arg(&db.name)
        .status()
        .unwrap();
    assert!(status.success());
    let watch = common::CreatedModes::watch(&[home.dir.path().to_path_buf()]);
    common::run_umask_022(&home, &["backup"]);
    psql(&db.name, "DELETE FROM orders");
    common::run_umask_022(&home, &["restore", "1", "--yes"]);
    common::run_umask_022(&home, &["import", dump.to_str().unwrap()]);
    common::assert_created_private(
        &watch.stop(),
        &[".zip", "catalog.sqlite3", "/tmp/.restore-", "/tmp/.import-"],
    );
    assert_eq!(common::not_private(&home.home()), Vec::new());
}
