//! PostgreSQL against the real server on 127.0.0.1:5432 with the real pg_dump, pg_restore and psql: round trips
//! compared table by table and schema by schema, all-or-nothing restores, and each failure's message.
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

    /// Every user table's rows hashed in a stable order, plus the schema text: equal fingerprints, equal databases.
    fn fingerprint(&self) -> (Vec<(String, String)>, String) {
        self.fingerprint_of(&self.name)
    }

    fn fingerprint_of(&self, db: &str) -> (Vec<(String, String)>, String) {
        let tables = psql(
            db,
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
        );
        let mut out = Vec::new();
        for table in tables.lines().filter(|l| !l.is_empty()) {
            let hash = psql(
                db,
                &format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
                ),
            );
            out.push((table.to_string(), hash.trim().to_string()));
        }
        let schema = Command::new("pg_dump")
            .args([
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .output()
            .unwrap();
        let schema: String = String::from_utf8_lossy(&schema.stdout)
            .lines()
            .filter(|l| {
                !l.starts_with("\\restrict")
                    && !l.starts_with("\\unrestrict")
                    && !l.starts_with("--")
            })
            .collect::<Vec<_>>()
            .join("\n");
        (out, schema)
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
fn round_trip_restores_data_and_schema_exactly() {
    let home = TestHome::new();
    let db = Db::new("round");
    fill(&db);
    // Grants and database settings are part of what a restore must bring back.
    psql(
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'backstop_reader') THEN CREATE ROLE backstop_reader NOLOGIN; END IF; END $$",
    );
    psql(&db.name, "GRANT SELECT ON customers TO backstop_reader");
    psql(
        "postgres",
        &format!("ALTER DATABASE {} SET work_mem = '8MB'", db.name),
    );
    db.profile(&home, "pg");
    let before = db.fingerprint();
    let archive = home.backup("pg");
    assert!(
        archive
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("pg_database_")
    );
    // Stock tools read the archive: unzip, then pg_restore --list.
    let out = home.work().join("unzipped");
    common::unzip(&archive, &out);
    let dump = out.join("database").join(format!("{}.dump", db.name));
    assert!(
        Command::new("pg_restore")
            .arg("--list")
            .arg(&dump)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["database"]["engine"], "postgres");
    assert_eq!(
        manifest["database"]["tables"]["public.pgbench_accounts"],
        100000
    );
    assert!(
        manifest["database"]["tool_version"]
            .as_str()
            .unwrap()
            .contains("pg_dump")
    );

    psql(
        &db.name,
        "DELETE FROM orders WHERE id % 2 = 0; DROP VIEW big_orders; UPDATE customers SET name = 'x'; CREATE TABLE junk (x int);",
    );
    assert_ne!(db.fingerprint(), before);
    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    let after = db.fingerprint();
    assert_eq!(after.0, before.0, "every table's rows");
    assert_eq!(after.1, before.1, "the schema");
    assert_eq!(
        psql(
            &db.name,
            "SELECT has_table_privilege('backstop_reader', 'customers', 'SELECT')"
        )
        .trim(),
        "t",
        "grants"
    );
    let settings = psql(
        "postgres",
        &format!(
            "SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{}'",
            db.name
        ),
    );
    assert!(
        settings.contains("work_mem=8MB"),
        "database settings: {settings}"
    );
    // The replaced database is kept beside it, and a safety backup was taken first.
    let kept = psql(
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{}_pre_restore_%'",
            db.name
        ),
    );
    assert_eq!(kept.lines().count(), 1, "{kept}");
    assert!(
        home.list_json()
            .iter()
            .any(|r| r["trigger"] == "safety" && r["status"] == "completed")
    );
    home.run_ok(&["verify", "--all"]);
}

#[test]
fn validate_only_and_restore_to_another_database_leave_the_original_alone() {
    let home = TestHome::new();
    let db = Db::new("other");
    fill(&db);
    db.profile(&home, "pg");
    let original = db.fingerprint();
    home.backup("pg");
    psql(&db.name, "DELETE FROM orders");
    let changed = db.fingerprint();
    let out = home.run_ok(&["restore", "1", "--validate-only"]);
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(db.fingerprint(), changed);
    let leftovers = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}_restore_%'",
            db.name
        ),
    );
    assert_eq!(
        leftovers.trim(),
        "0",
        "validation drops its staging database"
    );

    let copy = format!("{}_copy", db.name);
    home.run_ok(&["restore", "1", "--yes", "--to-database", &copy]);
    assert_eq!(db.fingerprint(), changed, "the original is untouched");
    assert_eq!(db.fingerprint_of(&copy).0, original.0);
    let err = home.run(&["restore", "1", "--yes", "--to-database", &copy]);
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("already exists"));
}

#[test]
fn a_restore_that_fails_midway_leaves_the_target_exactly_as_it_was() {
    let home = TestHome::new();
    let db = Db::new("fail");
    fill(&db);
    db.profile(&home, "pg");
    home.backup("pg");
    psql(
        &db.name,
        "DELETE FROM customers WHERE id > 250 AND id NOT IN (SELECT customer_id FROM orders)",
    );
    let before = db.fingerprint();
    // Damage the dump inside a copy of the archive, with the manifest's checksums recomputed so only pg_restore
    // (in staging) can notice: cut the dump in half.
    let rows = home.list_json();
    let archive = std::path::PathBuf::from(rows[0]["path"].as_str().unwrap());
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut manifest: serde_json::Value = {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("manifest.json").unwrap(), &mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let entry = manifest["database"]["entry"].as_str().unwrap().to_string();
    let mut dump = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&entry).unwrap(), &mut dump).unwrap();
    dump.truncate(dump.len() / 2);
    use sha2::Digest;
    for e in manifest["entries"].as_array_mut().unwrap() {
        if e["path"] == entry.as_str() {
            e["size"] = dump.len().into();
            e["sha256"] = hex::encode(sha2::Sha256::digest(&dump)).into();
        }
    }
    let readme = {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("README.txt").unwrap(), &mut text).unwrap();
        text
    };
    let damaged = home.work().join("damaged.zip");
    let mut readme_entry = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "README.txt")
        .unwrap()
        .clone();
    readme_entry["sha256"] = hex::encode(sha2::Sha256::digest(&readme)).into();
    let manifest_text = serde_json::to_vec(&manifest).unwrap();
    common::raw_zip(
        &damaged,
        &[
            (&entry, &dump),
            ("README.txt", &readme),
            ("manifest.json", &manifest_text),
        ],
    );
    let out = home.run(&[
        "restore",
        damaged.to_str().unwrap(),
        "--yes",
        "--profile",
        "pg",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_restore"), "{err}");
    assert_eq!(db.fingerprint(), before, "the target is exactly as it was");
    let leftovers = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}_restore_%'",
            db.name
        ),
    );
    assert_eq!(leftovers.trim(), "0", "the staging database is dropped");
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
fn unreachable_server_missing_database_and_missing_pg_dump_are_named() {
    let home = TestHome::new();
    home.postgres_profile("down", "1", "x", &["--no-auto"]);
    let out = home.run(&["backup", "--profile", "down"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the database server at 127.0.0.1:1"),
        "{err}"
    );

    home.run_ok(&[
        "profile",
        "add",
        "nodb",
        "--postgres",
        "--user",
        "postgres",
        "--dbname",
        "bk_no_such_database",
        "--no-auto",
    ]);
    let out = home.run(&["backup", "--profile", "nodb"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database bk_no_such_database does not exist on 127.0.0.1:5432"),
        "{err}"
    );

    let db = Db::new("tools");
    db.profile(&home, "pg");
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(["backup", "--profile", "pg"])
        .env("BACKSTOP_HOME", home.home())
        .env("BACKSTOP_PG_BIN", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pg_dump cannot be used") && err.contains("postgresql-client"),
        "{err}"
    );
    // Each failure left a failed row and no archive.
    let rows = home.list_json();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "failed"));
    for dir in ["down", "nodb", "pg"] {
        let storage = home.home().join("archives").join(dir);
        assert_eq!(std::fs::read_dir(storage).unwrap().count(), 0, "{dir}");
    }
}

#[test]
fn a_backup_taken_while_pgbench_writes_is_consistent() {
    let home = TestHome::new();
    let db = Db::new("busy");
    fill(&db);
    db.profile(&home, "pg");
    let mut bench = Command::new("pgbench")
        .args([
            "-c",
            "2",
            "-T",
            "20",
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            &db.name,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    home.backup("pg");
    let _ = bench.kill();
    let _ = bench.wait();
    let copy = format!("{}_check", db.name);
    home.run_ok(&["restore", "1", "--yes", "--to-database", &copy]);
    // pgbench's invariant: every delta in the history is applied to exactly one account.
    let sums = psql(
        &copy,
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)",
    );
    assert_eq!(sums.trim(), "t", "the dump is one consistent snapshot");
    let history: i64 = psql(&copy, "SELECT count(*) FROM pgbench_history")
        .trim()
        .parse()
        .unwrap();
    assert!(history > 0, "pgbench was writing during the backup");
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
    harness.get_by_label("Large table public.pgbench_accounts");
    let copy = harness.state().state.details["pg"].1.kept_copies[0]
        .0
        .clone();
    assert!(
        copy.starts_with(&format!("{}_pre_restore_", db.name)),
        "{copy}"
    );
    harness.state_mut().tab = Tab::Settings;
    harness.step();
    harness.get_by_label(&format!("Delete {copy}…")).click();
    harness.step();
    harness.step();
    harness.get_by_label(&format!("Drop {copy}")).click();
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

/// `backstop profile add pg --postgres ... --password-stdin [extra...]`, with `password` written on stdin.
fn add_password_profile(
    home: &TestHome,
    dbname: &str,
    password: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "profile",
        "add",
        "pg",
        "--postgres",
        "--user",
        PW_ROLE,
        "--dbname",
        dbname,
        "--password-stdin",
        "--no-auto",
    ];
    args.extend_from_slice(extra);
    home.run_with_stdin(&args, &format!("{password}\n"))
}

/// Every process's command line, read from /proc.
fn all_cmdlines() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            out.push(String::from_utf8_lossy(&bytes).replace('\0', " "));
        }
    }
    out
}

#[test]
fn the_password_is_used_and_never_leaks() {
    password_role();
    let home = TestHome::new();
    let db = Db::new("secret");
    common::notes_for_password_role(&db.name, 1000);
    // Watch every process's argv for the whole test.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = 0usize;
            let mut leaked = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for cmd in all_cmdlines() {
                    seen += 1;
                    if cmd.contains(PASSWORD) {
                        leaked.push(cmd);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (seen, leaked)
        })
    };
    let out = add_password_profile(&home, &db.name, PASSWORD, &["--secret-store", "file"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home.run_ok(&["profile", "test", "pg"]);
    home.backup("pg");
    psql(&db.name, "DELETE FROM notes");
    home.run_ok(&["restore", "1", "--yes"]);
    assert_eq!(psql(&db.name, "SELECT count(*) FROM notes").trim(), "1000");
    home.run_ok(&["verify", "--all"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, leaked) = watcher.join().unwrap();
    assert!(seen > 100, "the watcher looked");
    assert!(
        leaked.is_empty(),
        "the password appeared in a command line: {leaked:?}"
    );

    // Not in any file Backstop wrote except its own 0600 secret file, and no password file is left behind.
    let secret_file = home.home().join("secrets").join("pg.secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    for (path, _) in common::tree_snapshot(&home.home()) {
        if path == secret_file {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "the password is in {}",
            path.display()
        );
        if path.extension().is_some_and(|e| e == "zip") {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
            for i in 0..zip.len() {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut zip.by_index(i).unwrap(), &mut text).unwrap();
                assert!(
                    !String::from_utf8_lossy(&text).contains(PASSWORD),
                    "inside {}",
                    path.display()
                );
            }
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with(".pgpass"),
            "a password file was left: {}",
            path.display()
        );
    }
    let config = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    assert!(
        config.contains("has_password = true") && config.contains("secret_store = \"file\""),
        "{config}"
    );
}

#[test]
fn a_wrong_password_is_named_and_changes_nothing() {
    password_role();
    let home = TestHome::new();
    let db = Db::new("wrongpw");
    psql(
        "postgres",
        &format!("ALTER DATABASE {} OWNER TO {PW_ROLE}", db.name),
    );
    let out = add_password_profile(
        &home,
        &db.name,
        "not-the-password",
        &["--secret-store", "file"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = home.run(&["backup"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("refused the password of {PW_ROLE}")),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "failed");

    // Without a stored password and no keyring on this machine, the message names the keyring, not the password.
    let home2 = TestHome::new();
    let out = add_password_profile(&home2, &db.name, PASSWORD, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keyring unavailable") && err.contains("--secret-store file"),
        "{err}"
    );
}

#[test]
fn dumps_made_by_other_tools_import_and_restore() {
    let home = TestHome::new();
    let db = Db::new("imports");
    fill(&db);
    db.profile(&home, "pg");
    let original = db.fingerprint();
    let work = home.work();
    let dump = |args: &str, out: &std::path::Path| {
        let (format, pipe) = args
            .split_once(" | ")
            .map(|(f, p)| (f, format!("| {p}")))
            .unwrap_or((args, String::new()));
        let status = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -o pipefail; pg_dump -h 127.0.0.1 -U postgres --no-owner {format} {} {pipe} > '{}'",
                db.name,
                out.display()
            ))
            .status()
            .unwrap();
        assert!(status.success(), "pg_dump {args}");
    };

    // The way web apps' backup modules write them: a gzipped plain dump, django-dbbackup's custom and plain dumps.
    let sql_gz = work.join("shop_20250301_101500.sql.gz");
    dump("-Fp | gzip -6", &sql_gz);
    let custom = work.join("default-2025-03-02-101500.psql.bin");
    dump("-Fc", &custom);
    let plain = work.join("default-2025-03-03-101500.psql");
    dump("-Fp", &plain);
    let out = home.run_ok(&[
        "import",
        sql_gz.to_str().unwrap(),
        custom.to_str().unwrap(),
        plain.to_str().unwrap(),
    ]);
    assert!(
        out.contains("gzipped PostgreSQL plain SQL dump")
            && out.contains("PostgreSQL custom-format dump")
            && out.contains("(PostgreSQL plain SQL dump)"),
        "{out}"
    );
    let rows = home.list_json();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["created_at"], "2025-03-01T10:15:00Z",
        "the time comes from the file name"
    );
    home.run_ok(&["verify", "--all"]);
    for row in &rows {
        psql(&db.name, "DELETE FROM orders; DROP TABLE pgbench_history;");
        home.run_ok(&[
            "restore",
            &row["id"].to_string(),
            "--yes",
            "--no-safety-backup",
        ]);
        let now = db.fingerprint();
        assert_eq!(now.0, original.0, "restore of the import {}", row["path"]);
    }
    let leftovers = psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname LIKE '{}__backstop_import_%'",
            db.name
        ),
    );
    assert_eq!(
        leftovers.trim(),
        "0",
        "import staging databases are dropped"
    );
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
    assert_eq!(db.fingerprint_of(&copy).0, original.0);
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
    let out = add_password_profile(home, &db.name, PASSWORD, &["--secret-store", "file"]);
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
