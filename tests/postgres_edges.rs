//! PostgreSQL at the edges, against the real server on 127.0.0.1:5432, the real client tools and the real binary:
//! imported SQL behind a privilege boundary (issue 10 item 1), restoring a database that is gone (item 4), errors
//! that carry the tool's own line (item 9), and scratch databases and roles of killed jobs (item 7).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{TestHome, add_pg_profile, psql, psql_quiet};
use std::path::Path;
use std::process::Command;

/// A database (and roles) for one test, named with the process id; dropped with every copy and scratch database
/// at the end.
struct Db {
    name: String,
    roles: Vec<String>,
}

impl Db {
    fn new(tag: &str) -> Db {
        Db::with(tag, "")
    }

    fn with(tag: &str, options: &str) -> Db {
        let name = format!("bke_{tag}_{}", std::process::id());
        let db = Db {
            name,
            roles: Vec::new(),
        };
        db.drop_all();
        psql(
            "postgres",
            &format!("CREATE DATABASE {} {options}", db.name),
        );
        db
    }

    fn role(&mut self, tag: &str) -> String {
        let role = format!("bke_{tag}_{}", std::process::id());
        psql("postgres", &format!("DROP ROLE IF EXISTS {role}"));
        self.roles.push(role.clone());
        role
    }

    fn profile(&self, home: &TestHome, profile: &str) {
        add_pg_profile(home, profile, 5432, &self.name);
    }

    fn rows(&self, db: &str, table: &str) -> String {
        psql(
            db,
            &format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {table}"),
        )
        .trim()
        .to_string()
    }

    fn exists(&self, db: &str) -> bool {
        psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        )
        .trim()
            == "1"
    }

    /// Databases and roles whose name starts with this test's database name (copies, staging, import roles).
    fn leftovers(&self) -> Vec<String> {
        let sql = format!(
            "SELECT datname FROM pg_database WHERE starts_with(datname, '{n}') AND datname <> '{n}' \
             UNION ALL SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{n}')",
            n = self.name
        );
        psql("postgres", &sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn drop_all(&self) {
        let dbs = psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE starts_with(datname, '{}')",
                self.name
            ),
        );
        for db in dbs.lines().filter(|l| !l.is_empty()) {
            psql_quiet(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            );
        }
        let roles = psql(
            "postgres",
            &format!(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{}')",
                self.name
            ),
        );
        for role in roles
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .chain(self.roles.clone())
        {
            psql_quiet("postgres", &format!("DROP ROLE IF EXISTS \"{role}\""));
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.drop_all();
    }
}

fn pg_dump(args: &[&str], db: &str, out: &Path) {
    let status = Command::new("pg_dump")
        .args(["-h", "127.0.0.1", "-U", "postgres"])
        .args(args)
        .args(["-f", out.to_str().unwrap(), db])
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump {args:?}");
}

/// A folder for BACKSTOP_PG_BIN with the real psql, pg_dump and pg_restore, except that `tool` is a shell script
/// running `case "$*" in <case> esac` before it execs the real one (to kill it or make it slow at a chosen step).
fn tools_with_wrapper(home: &TestHome, tool: &str, case: &str) -> std::path::PathBuf {
    let bin = home.work().join(format!("bin-{tool}"));
    std::fs::create_dir_all(&bin).unwrap();
    let real = Command::new("pg_config").arg("--bindir").output().unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    for other in ["psql", "pg_dump", "pg_restore"]
        .into_iter()
        .filter(|t| *t != tool)
    {
        std::os::unix::fs::symlink(Path::new(&real).join(other), bin.join(other)).unwrap();
    }
    let wrapper = bin.join(tool);
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\ncase \"$*\" in {case} esac\nexec {real}/{tool} \"$@\"\n"),
    )
    .unwrap();
    let status = Command::new("chmod")
        .arg("755")
        .arg(&wrapper)
        .status()
        .unwrap();
    assert!(status.success());
    bin
}

/// Polls `sql` until it answers `expected` (at most a minute): the test's way to catch a job in the act.
fn wait_for(sql: &str, expected: &str) -> bool {
    for _ in 0..600 {
        if psql("postgres", sql).trim() == expected {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// `db` filled by `sql`, backed up by a new profile `pg`, then dropped: the disaster case.
fn backed_up_then_dropped(db: Db, sql: &str) -> (TestHome, Db) {
    let home = TestHome::new();
    psql(&db.name, sql);
    db.profile(&home, "pg");
    home.run_ok(&["backup", "--profile", "pg"]);
    psql(
        "postgres",
        &format!("DROP DATABASE {} WITH (FORCE)", db.name),
    );
    (home, db)
}

fn role_exists(role: &str) -> bool {
    psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{role}'"),
    )
    .trim()
        == "1"
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------------------------------
// Item 1: imported SQL runs behind a privilege boundary

#[test]
fn a_create_clean_dump_of_the_live_database_imports_its_data_and_the_live_database_keeps_every_row()
{
    let home = TestHome::new();
    let mut db = Db::new("cc");
    let owner = db.role("ccowner");
    psql("postgres", &format!("CREATE ROLE {owner} NOLOGIN"));
    // What real databases hold: another owner, grants, a trusted extension, a view, a function, a sequence, a
    // database comment and setting.
    psql(
        &db.name,
        &format!(
            "CREATE EXTENSION pgcrypto; \
             CREATE TABLE t (id int PRIMARY KEY, v text, n serial); \
             INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 3) g; \
             CREATE VIEW tv AS SELECT id, digest(v, 'sha256') AS h FROM t; \
             CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2'; \
             ALTER TABLE t OWNER TO {owner}; GRANT SELECT ON t TO PUBLIC; \
             COMMENT ON DATABASE {} IS 'the shop';",
            db.name
        ),
    );
    psql(
        "postgres",
        &format!("ALTER DATABASE {} SET work_mem = '8MB'", db.name),
    );
    let dump = home.work().join("cc.sql");
    pg_dump(&["--create", "--clean", "--if-exists"], &db.name, &dump);
    let clean = home.work().join("clean.sql");
    pg_dump(&["--clean", "--if-exists"], &db.name, &clean);
    // Written after the dump: an import must never lose these.
    psql(&db.name, "INSERT INTO t VALUES (4, 'late'), (5, 'later')");
    db.profile(&home, "pg");

    let out = home.run(&["import", dump.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let note = stderr_of(&out);
    assert!(
        note.contains("note:") && note.contains("--create") && note.contains(&db.name),
        "the skipped preamble is noted: {note}"
    );
    assert_eq!(
        db.rows(&db.name, "t"),
        "1,2,3,4,5",
        "the live database kept every row"
    );
    home.run_ok(&["import", clean.to_str().unwrap()]);
    assert_eq!(db.rows(&db.name, "t"), "1,2,3,4,5");
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["tables"]["public.t"], 3);
    assert_eq!(rows[0]["status"], "completed");
    assert_eq!(
        rows[0]["tables"]["public.t"], 3,
        "the backup holds the dump's data"
    );

    // Restored into a new database, the import is the dump's data.
    let copy = format!("{}_copy", db.name);
    home.run_ok(&[
        "restore",
        &rows[0]["id"].to_string(),
        "--to-database",
        &copy,
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db.rows(&copy, "t"), "1,2,3");
    assert_eq!(psql(&copy, "SELECT twice(21)").trim(), "42");
    assert_eq!(psql(&copy, "SELECT count(*) FROM tv").trim(), "3");
    let registry = home.home().join("state").join("pg-scratch");
    assert!(
        std::fs::read_dir(&registry).map_or(true, |mut d| d.next().is_none()),
        "nothing is left registered for the next start"
    );
    assert!(
        db.leftovers().iter().all(|l| l == &copy),
        "{:?}",
        db.leftovers()
    );
}

/// A profile's database, a role name that must never come to exist, and another database that must not change.
fn hostile_setup(tag: &str) -> (TestHome, Db, String, Db) {
    let home = TestHome::new();
    let mut db = Db::new(tag);
    db.profile(&home, "pg");
    let evil = db.role(&format!("{tag}_evil"));
    let victim = Db::new(&format!("{tag}_victim"));
    (home, db, evil, victim)
}

#[test]
fn statements_on_databases_roles_and_the_server_are_refused_at_their_line() {
    let (home, db, evil, victim) = hostile_setup("hostile");
    let cases = [
        (
            "drop.sql",
            format!("CREATE TABLE t (x int);\nDROP DATABASE {};\n", victim.name),
            2,
            "DROP DATABASE",
        ),
        (
            "role.sql",
            format!("SELECT 1;\nCREATE ROLE {evil} SUPERUSER;\n"),
            2,
            "role",
        ),
        (
            "alterrole.sql",
            "SELECT 1;\n\nALTER ROLE postgres NOSUPERUSER;\n".to_string(),
            3,
            "role",
        ),
        (
            "system.sql",
            "ALTER SYSTEM SET work_mem = '1MB';\n".to_string(),
            1,
            "ALTER SYSTEM",
        ),
        (
            "space.sql",
            "SELECT 1;\nCREATE TABLESPACE x LOCATION '/tmp';\n".to_string(),
            2,
            "tablespace",
        ),
        (
            "connect.sql",
            "CREATE TABLE t (x int);\n\\connect postgres\nCREATE TABLE u (x int);\n".to_string(),
            2,
            "\\connect",
        ),
        ("setrole.sql", "SET ROLE postgres;\n".to_string(), 1, "role"),
        (
            "session.sql",
            "SELECT 1;\nSET SESSION AUTHORIZATION postgres;\n".to_string(),
            2,
            "role",
        ),
        (
            "otherdb.sql",
            format!("ALTER DATABASE {} SET work_mem = '1MB';\n", victim.name),
            1,
            "database",
        ),
    ];
    for (name, text, line, shown) in cases {
        let path = home.work().join(name);
        // A comment first, as pg_dump's files start, so that the file is read as a plain SQL dump.
        std::fs::write(&path, format!("-- hostile\n{text}")).unwrap();
        let line = line + 1;
        let out = home.run(&["import", path.to_str().unwrap()]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!("line {line}"))
                && err.to_lowercase().contains(&shown.to_lowercase()),
            "{name}: {err}"
        );
        assert!(err.contains("nothing was run"), "{name}: {err}");
    }
    assert!(
        victim.exists(&victim.name),
        "the other database is still there"
    );
    assert!(!role_exists(&evil), "no role was created");
    assert_eq!(
        psql(
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'"
        )
        .trim(),
        "t"
    );
    assert_eq!(home.list_json().len(), 0, "refused imports add no row");
    assert_eq!(db.leftovers(), Vec::<String>::new());
}

#[test]
fn a_pg_dumpall_file_is_refused_as_a_whole_cluster_dump() {
    let home = TestHome::new();
    let db = Db::new("dumpall");
    db.profile(&home, "pg");
    let dump = home.work().join("cluster.sql");
    let status = Command::new("pg_dumpall")
        .args(["-h", "127.0.0.1", "-U", "postgres", "--globals-only", "-f"])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success());
    let out = home.run(&["import", dump.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pg_dumpall") && err.contains("whole-cluster") && err.contains("pg_dump"),
        "the message says what it is and how to get one database out of it: {err}"
    );
    assert_eq!(home.list_json().len(), 0);
}

#[test]
fn the_boundary_holds_for_statements_the_lexer_cannot_see() {
    let (home, db, evil, victim) = hostile_setup("boundary");
    // SQL computed inside the server: no lexer can tell what it does. Run as the profile's role (a superuser
    // here) each of these would succeed.
    let cases = [
        format!(
            "CREATE TABLE t (x int);\nDO $$ BEGIN EXECUTE 'RESET ROLE'; EXECUTE 'CREATE ROLE ' || '{evil}'; END $$;\n"
        ),
        format!(
            "DO $$ BEGIN EXECUTE 'SET SESSION AUTHORIZATION ' || 'postgres'; EXECUTE 'CREATE ROLE {evil}'; END $$;\n"
        ),
        format!(
            "DO $$ BEGIN EXECUTE 'ALTER DATABASE ' || '{}' || ' SET work_mem = ''1MB'''; END $$;\n",
            victim.name
        ),
        "DO $$ BEGIN EXECUTE 'ALTER ROLE ' || current_user || ' SUPERUSER'; END $$;\n".to_string(),
    ];
    for (i, text) in cases.iter().enumerate() {
        let path = home.work().join(format!("sneaky{i}.sql"));
        std::fs::write(&path, format!("-- sneaky\n{text}")).unwrap();
        let out = home.run(&["import", path.to_str().unwrap()]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "case {i}: {err}");
        assert!(
            err.contains("permission denied") || err.contains("must be"),
            "case {i}: {err}"
        );
    }
    assert!(!role_exists(&evil), "no role was created");
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{}'",
                victim.name
            )
        )
        .trim(),
        "0",
        "the other database's settings are unchanged"
    );

    // A custom-format dump whose CHECK constraint acts when its rows are loaded (pg_restore's path).
    let source = Db::new("trojan");
    psql(
        &source.name,
        &format!(
            "CREATE FUNCTION f(int) RETURNS bool LANGUAGE plpgsql AS $f$ BEGIN \
             IF current_database() <> '{}' THEN EXECUTE 'CREATE ROLE {evil}'; END IF; RETURN true; END $f$; \
             CREATE TABLE t (id int CHECK (f(id))); INSERT INTO t VALUES (1);",
            source.name
        ),
    );
    let dump = home.work().join("trojan.dump");
    pg_dump(&["-Fc"], &source.name, &dump);
    let out = home.run(&["import", dump.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        !role_exists(&evil),
        "no role was created by the custom dump either"
    );
    assert_eq!(home.list_json().len(), 0);
    assert_eq!(
        db.leftovers(),
        Vec::<String>::new(),
        "staging databases and import roles are gone"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Item 7: scratch databases and roles of killed jobs

#[test]
fn a_killed_import_leaves_a_recognisable_staging_database_and_role_that_the_next_start_drops() {
    let home = TestHome::new();
    let db = Db::new("killed");
    db.profile(&home, "pg");
    let dump = home.work().join("slow.sql");
    std::fs::write(&dump, "CREATE TABLE t (id int);\nSELECT pg_sleep(60);\n").unwrap();
    let mut child = home.spawn(&["import", dump.to_str().unwrap()]);
    let prefix = format!("{}__backstop_import_", db.name);
    let count_sql = format!(
        "SELECT (SELECT count(*) FROM pg_database WHERE starts_with(datname, '{prefix}')) || ' ' || \
         (SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, '{prefix}') AND query LIKE '%pg_sleep%')"
    );
    assert!(
        wait_for(&count_sql, "1 1"),
        "a staging database named {prefix}<stamp> appears while the dump loads"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned psql goes too (as a crash of the machine would end it).
    psql(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE starts_with(datname, '{prefix}')"
        ),
    );
    let left = db.leftovers();
    assert_eq!(
        left.len(),
        2,
        "a staging database and its import role: {left:?}"
    );
    assert!(left.iter().all(|l| l.starts_with(&prefix)), "{left:?}");

    // When the server cannot be used (here: it refuses the login) the start reports and goes on; the leftovers
    // wait for a start that can drop them.
    let config = home.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("user = \"postgres\""), "{text}");
    std::fs::write(
        &config,
        text.replace("user = \"postgres\"", "user = \"bke_nobody\""),
    )
    .unwrap();
    let out = home.run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("could not check 127.0.0.1:5432")
            && err.contains("bke_nobody")
            && err.contains("try again"),
        "{err}"
    );
    assert_eq!(db.leftovers().len(), 2);
    std::fs::write(&config, text).unwrap();

    let out = home.run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("dropped the staging database") && err.contains(&prefix),
        "{err}"
    );
    assert_eq!(
        db.leftovers(),
        Vec::<String>::new(),
        "the next start dropped both"
    );
    // Nothing more to do at the start after that.
    let out = home.run(&["list"]);
    assert!(
        !stderr_of(&out).contains("staging database"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_killed_restore_leaves_its_staging_copy_only_until_the_next_start() {
    let home = TestHome::new();
    let db = Db::new("killrestore");
    psql(
        &db.name,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
    );
    db.profile(&home, "pg");
    home.run_ok(&["backup", "--profile", "pg"]);
    // pg_restore into staging waits, so that the restore can be killed while its staging copy exists.
    let bin = tools_with_wrapper(&home, "pg_restore", "*--jobs*) sleep 30 ;;");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(["restore", "1", "--yes", "--no-safety-backup"])
        .env("BACKSTOP_HOME", home.home())
        .env("BACKSTOP_PG_BIN", &bin)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("{}__backstop_restore_", db.name);
    assert!(
        wait_for(
            &format!("SELECT count(*) FROM pg_database WHERE starts_with(datname, '{prefix}')"),
            "1"
        ),
        "a staging database named {prefix}<stamp> appears"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(db.leftovers().len(), 1, "{:?}", db.leftovers());

    let out = home.run(&["list"]);
    let err = stderr_of(&out);
    assert!(
        err.contains("dropped the staging database")
            && err.contains(&prefix)
            && err.contains("restore"),
        "{err}"
    );
    assert_eq!(db.leftovers(), Vec::<String>::new());
    assert_eq!(
        psql(&db.name, "SELECT count(*) FROM t").trim(),
        "2",
        "the live database is untouched"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Item 4: the database is gone

#[test]
fn a_dropped_database_is_validated_and_recreated_with_its_owner_encoding_and_settings() {
    let home = TestHome::new();
    let mut holder = Db::new("holder");
    let owner = holder.role("owner");
    psql("postgres", &format!("CREATE ROLE {owner} NOLOGIN"));
    let db = Db::with(
        "gone",
        &format!("TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' OWNER {owner}"),
    );
    psql(
        &db.name,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'é' || g FROM generate_series(1, 50) g;",
    );
    psql(
        "postgres",
        &format!("ALTER DATABASE {} SET work_mem = '8MB'", db.name),
    );
    db.profile(&home, "pg");
    home.run_ok(&["backup", "--profile", "pg"]);
    let id = home.list_json()[0]["id"].to_string();
    let describe = |name: &str| {
        psql(
            "postgres",
            &format!(
                "SELECT pg_get_userbyid(d.datdba) || ' ' || pg_encoding_to_char(d.encoding) || ' ' || d.datcollate || ' ' || \
                 coalesce((SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0), '') \
                 FROM pg_database d WHERE datname = '{name}'"
            ),
        )
        .trim()
        .to_string()
    };
    let before = describe(&db.name);
    assert_eq!(before, format!("{owner} LATIN1 C work_mem=8MB"));
    psql(
        "postgres",
        &format!("DROP DATABASE {} WITH (FORCE)", db.name),
    );

    let out = home.run_ok(&["restore", &id, "--validate-only"]);
    assert!(
        out.contains("missing") && out.contains("creates it"),
        "{out}"
    );
    assert!(!db.exists(&db.name), "validation changed nothing");

    let copy = format!("{}_new", db.name);
    home.run_ok(&["restore", &id, "--to-database", &copy, "--yes"]);
    assert_eq!(db.rows(&copy, "t").split(',').count(), 50);
    assert_eq!(
        describe(&copy),
        before.clone(),
        "--to-database creates the new one like the original"
    );

    let out = home.run_ok(&["restore", &id, "--yes"]);
    assert!(out.contains("missing"), "{out}");
    assert_eq!(
        describe(&db.name),
        before,
        "owner, encoding, locale and settings came back"
    );
    assert_eq!(
        psql(&db.name, "SELECT v FROM t WHERE id = 7").trim(),
        "é7",
        "the data came back in its encoding"
    );
    let left: Vec<String> = db.leftovers().into_iter().filter(|l| l != &copy).collect();
    assert_eq!(left, Vec::<String>::new(), "no staging database left");
}

// ---------------------------------------------------------------------------------------------------------------
// Item 9: errors carry the tool's own line

#[test]
fn a_server_that_is_down_and_a_killed_pg_dump_are_named_with_their_real_cause() {
    let home = TestHome::new();
    add_pg_profile(&home, "down", 1, "x");
    let out = home.run(&["backup", "--profile", "down"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("Connection refused"), "the real error: {err}");
    assert!(
        !err.contains("password file"),
        "no noise in its place: {err}"
    );

    // pg_dump killed by a signal while dumping (as the OOM killer would).
    let db = Db::new("killdump");
    psql(
        &db.name,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    db.profile(&home, "pg");
    let bin = tools_with_wrapper(&home, "pg_dump", "*--format=custom*) kill -9 $$ ;;");
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(["backup", "--profile", "pg"])
        .env("BACKSTOP_HOME", home.home())
        .env("BACKSTOP_PG_BIN", &bin)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("pg_dump") && err.contains("killed by signal 9"),
        "{err}"
    );
}

#[test]
fn the_window_says_the_database_is_missing_and_its_restore_creates_it() {
    use backstop::ui::Tab;
    use egui::accesskit::Role;
    use egui_kittest::kittest::{NodeT, Queryable};

    let (home, db) = backed_up_then_dropped(
        Db::new("window"),
        "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 9);",
    );

    let mut harness = common::window(home.paths());
    let wait = common::wait_for_window;
    wait(&mut harness, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    harness.state_mut().tab = Tab::History;
    harness.step();
    harness.get_by_label("Restore…").click_accesskit();
    wait(&mut harness, "the comparison", &|app| {
        app.state.inspection.is_some()
    });
    harness.get_by_label_contains(&format!(
        "database {} is missing and will be created",
        db.name
    ));
    assert!(
        harness.query_by_label_contains("cannot be read").is_none(),
        "a missing database is not an error here"
    );
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
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && !app.state.snapshot.restores.is_empty()
    });
    assert_eq!(psql(&db.name, "SELECT count(*) FROM t").trim(), "9");
}

#[test]
fn a_database_whose_owner_is_gone_too_is_recreated_owned_by_the_profile_role_and_says_so() {
    let mut holder = Db::new("holder2");
    let owner = holder.role("gone_owner");
    psql("postgres", &format!("CREATE ROLE {owner} NOLOGIN"));
    let (home, db) = backed_up_then_dropped(
        Db::with("orphan", &format!("OWNER {owner}")),
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    psql("postgres", &format!("DROP ROLE {owner}"));
    // A new server: neither the database nor its owner exists.
    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(
        out.contains(&format!("its owner {owner} does not exist on this server")),
        "{out}"
    );
    assert_eq!(psql(&db.name, "SELECT count(*) FROM t").trim(), "1");
    assert_eq!(
        psql(
            "postgres",
            &format!(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{}'",
                db.name
            )
        )
        .trim(),
        "postgres"
    );
}

/// psql runs only to load an imported plain SQL file (as the throwaway import role); every other question goes
/// through Backstop's own client. A wrapper on BACKSTOP_PG_BIN logs every psql call: a backup, a restore and the
/// import of a custom-format dump make none, and a plain import makes exactly one, the load, whose command line
/// carries no verifier (the import role's SCRAM verifier goes to the server inside a statement on the client's
/// connection; other local users can read every process's arguments).
#[test]
fn psql_runs_only_to_load_an_imported_plain_file_and_never_sees_the_verifier() {
    let home = TestHome::new();
    let db = Db::new("argv");
    psql(
        &db.name,
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50);",
    );
    db.profile(&home, "pg");
    let plain = home.work().join("plain.sql");
    pg_dump(&[], &db.name, &plain);
    let custom = home.work().join("custom.dump");
    pg_dump(&["-Fc"], &db.name, &custom);
    let log = home.work().join("psql-argv.log");
    let bin = tools_with_wrapper(
        &home,
        "psql",
        &format!("*) printf '%s\\n' \"$*\" >> '{}' ;;", log.display()),
    );
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(args)
            .env("BACKSTOP_HOME", home.home())
            .env("BACKSTOP_PG_BIN", &bin)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    };
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();

    run(&["backup", "--profile", "pg"]);
    psql(&db.name, "DELETE FROM t WHERE id > 10");
    run(&["restore", "1", "--yes"]);
    assert_eq!(db.rows(&db.name, "t").split(',').count(), 50, "restored");
    run(&["import", custom.to_str().unwrap()]);
    assert_eq!(
        calls(),
        "",
        "no psql for a backup, a restore or a custom import"
    );

    run(&["import", plain.to_str().unwrap()]);
    let argv = calls();
    let lines: Vec<&str> = argv.lines().collect();
    assert_eq!(lines.len(), 1, "one psql call, the load: {argv}");
    assert!(
        lines[0].starts_with("-X -q -v ON_ERROR_STOP=1 -f "),
        "the load of the file: {argv}"
    );
    assert!(
        !argv.contains("SCRAM-SHA-256") && !argv.contains("CREATE ROLE"),
        "a verifier on a command line: {argv}"
    );
    assert_eq!(
        home.list_json().len(),
        4,
        "the backup, the restore's safety backup and two imports"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Issue 11: the client's errors, typed from SQLSTATE, each with what to do and its exit code

/// Serialises this file's edits of pg_hba.conf (each test that adds a line reads, edits and writes the file).
static HBA: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `line` at the top of pg_hba.conf (once), then a reload.
fn hba_line(line: &str) {
    let _guard = HBA.lock().unwrap_or_else(|e| e.into_inner());
    let hba = psql("postgres", "SHOW hba_file");
    let hba = hba.trim();
    let text = std::fs::read_to_string(hba).unwrap();
    if !text.contains(line) {
        std::fs::write(hba, format!("{line}\n{text}")).unwrap();
        psql("postgres", "SELECT pg_reload_conf()");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// `profile add NAME --postgres` on `host`:`port` as `user`, plus `extra`.
fn server_profile(
    home: &TestHome,
    name: &str,
    host: &str,
    port: &str,
    user: &str,
    dbname: &str,
    extra: &[&str],
) {
    let mut args = vec![
        "profile",
        "add",
        name,
        "--postgres",
        "--host",
        host,
        "--port",
        port,
        "--user",
        user,
        "--dbname",
        dbname,
        "--no-auto",
    ];
    args.extend_from_slice(extra);
    home.run_ok(&args);
}

/// A backup of `profile` that must fail with exit code `code`: its stderr, after checking that the job left a
/// failed row and no archive.
fn failed_backup(home: &TestHome, profile: &str, code: i32) -> String {
    let out = home.run(&["backup", "--profile", profile]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(code), "{profile}: {err}");
    let rows = home.list_json();
    let mine: Vec<_> = rows.iter().filter(|r| r["profile"] == profile).collect();
    assert!(
        !mine.is_empty() && mine.iter().all(|r| r["status"] == "failed"),
        "{profile}: {rows:?}"
    );
    let storage = home.home().join("archives").join(profile);
    let kept = std::fs::read_dir(&storage).map(|d| d.count()).unwrap_or(0);
    assert_eq!(kept, 0, "{profile}: no archive");
    err
}

#[test]
fn refused_logins_unknown_databases_and_unreachable_servers_each_say_what_to_do() {
    let home = TestHome::new();
    let mut db = Db::new("refused");
    psql(
        &db.name,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );

    // 28P01: the wrong password, in the server's own words, never the password itself.
    {
        let _guard = HBA.lock().unwrap_or_else(|e| e.into_inner());
        common::password_role();
    }
    let out = home.run_with_stdin(
        &[
            "profile",
            "add",
            "pw",
            "--postgres",
            "--host",
            "127.0.0.1",
            "--user",
            common::PW_ROLE,
            "--dbname",
            &db.name,
            "--password-stdin",
            "--secret-store",
            "file",
            "--no-auto",
        ],
        "not-the-password\n",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = failed_backup(&home, "pw", 1);
    assert!(
        err.contains(&format!("refused the password of {}", common::PW_ROLE))
            && err.contains("FATAL: password authentication failed")
            && err.contains("--password-stdin"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");

    // 28000: a role that may not log in is turned away before any password.
    let nologin = db.role("nologin");
    psql("postgres", &format!("CREATE ROLE {nologin} NOLOGIN"));
    server_profile(
        &home,
        "nologin",
        "127.0.0.1",
        "5432",
        &nologin,
        &db.name,
        &[],
    );
    let err = failed_backup(&home, "nologin", 1);
    assert!(
        err.contains(&format!("does not let {nologin} in"))
            && err.contains("is not permitted to log in")
            && err.contains(&format!("ALTER ROLE {nologin} LOGIN")),
        "{err}"
    );

    // 53300: every slot the role may use is taken (here: it may use none).
    let limited = db.role("limited");
    psql(
        "postgres",
        &format!("CREATE ROLE {limited} LOGIN CONNECTION LIMIT 0"),
    );
    server_profile(
        &home,
        "limited",
        "127.0.0.1",
        "5432",
        &limited,
        &db.name,
        &[],
    );
    let err = failed_backup(&home, "limited", 1);
    assert!(
        err.contains("no free connection slot")
            && err.contains(&format!("too many connections for role \"{limited}\""))
            && err.contains("try again"),
        "{err}"
    );

    // 3D000: a database that is not there.
    let missing = format!("{}_gone", db.name);
    server_profile(
        &home,
        "nodb",
        "127.0.0.1",
        "5432",
        "postgres",
        &missing,
        &[],
    );
    let err = failed_backup(&home, "nodb", 1);
    assert!(
        err.contains(&format!(
            "database {missing} does not exist on 127.0.0.1:5432"
        )) && err.contains("check the profile's database name"),
        "{err}"
    );

    // Unreachable: refused, a name that does not resolve, a server that accepts but never answers.
    server_profile(
        &home,
        "refused",
        "127.0.0.1",
        "1",
        "postgres",
        &db.name,
        &[],
    );
    let err = failed_backup(&home, "refused", 1);
    assert!(
        err.contains("cannot reach the database server at 127.0.0.1:1")
            && err.contains("Connection refused"),
        "{err}"
    );
    server_profile(
        &home,
        "nxdomain",
        "no-such-host.invalid",
        "5432",
        "postgres",
        &db.name,
        &[],
    );
    let err = failed_backup(&home, "nxdomain", 1);
    assert!(
        err.contains("cannot reach the database server at no-such-host.invalid:5432"),
        "{err}"
    );
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    server_profile(
        &home,
        "silent",
        "127.0.0.1",
        &port,
        "postgres",
        &db.name,
        &[],
    );
    let started = std::time::Instant::now();
    let err = failed_backup(&home, "silent", 1);
    assert!(
        err.contains(&format!(
            "cannot reach the database server at 127.0.0.1:{port}"
        )) && err.contains("no answer within 10 s"),
        "{err}"
    );
    assert!(
        started.elapsed().as_secs() < 60,
        "the connect timeout holds"
    );
    drop(silent);
    assert_eq!(db.rows(&db.name, "t"), "1", "nothing changed");
}

#[test]
fn a_role_without_select_on_a_table_is_told_which_table_and_the_grant_to_add() {
    let home = TestHome::new();
    let mut db = Db::new("grants");
    let reader = db.role("reader");
    psql("postgres", &format!("CREATE ROLE {reader} LOGIN"));
    psql(
        &db.name,
        &format!(
            "CREATE TABLE open (id int); CREATE TABLE secret (id int); INSERT INTO open VALUES (1); \
             INSERT INTO secret VALUES (2); GRANT SELECT ON open TO {reader};"
        ),
    );
    server_profile(&home, "pg", "127.0.0.1", "5432", &reader, &db.name, &[]);
    let err = failed_backup(&home, "pg", 1);
    let grant = format!("GRANT SELECT ON \"public\".\"secret\" TO \"{reader}\"");
    assert!(
        err.contains(&format!(
            "the role {reader} lacks a privilege on 127.0.0.1:5432"
        )) && err.contains("may not read table public.secret")
            && err.contains(&grant),
        "{err}"
    );
    assert!(
        !err.contains("public.open"),
        "only the unreadable table: {err}"
    );
    // The grant the message names is the one that fixes it.
    psql(&db.name, &grant);
    home.run_ok(&["backup", "--profile", "pg"]);
}

#[test]
fn a_session_ended_by_the_server_mid_backup_is_reported_as_such_and_nothing_is_kept() {
    let home = TestHome::new();
    let db = Db::new("ended");
    psql(
        &db.name,
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);",
    );
    db.profile(&home, "pg");
    // Another session holds the table, so that Backstop's row count waits inside its snapshot.
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
        ])
        .arg("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let locked = format!(
        "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = '{}') AND relation IS NOT NULL",
        db.name
    );
    assert!(wait_for(&locked, "1"), "the holder has the table");
    let backup = home
        .command(&["backup", "--profile", "pg"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ours = format!(
        "FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'backstop' AND wait_event_type = 'Lock'",
        db.name
    );
    assert!(
        wait_for(&format!("SELECT count(*) {ours}"), "1"),
        "Backstop's session waits for the table"
    );
    psql(
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) {ours}"),
    );
    let out = backup.wait_with_output().unwrap();
    psql_quiet(
        "postgres",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep(120)%'",
            db.name
        ),
    );
    let _ = holder.kill();
    let _ = holder.wait();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the database server ended Backstop's session")
            && err.contains("terminating connection due to administrator command")
            && err.contains("try again"),
        "{err}"
    );
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "failed");
    let storage = home.home().join("archives").join("pg");
    assert_eq!(
        std::fs::read_dir(storage).map(|d| d.count()).unwrap_or(0),
        0
    );
    assert_eq!(db.rows(&db.name, "t"), "1,2", "the database is as it was");
}

/// The profile's sslmode keeps libpq's meaning through the client (rustls) and the tools (libpq): a role that
/// the server lets in only over TLS is turned away with `disable`, and reaches it with `allow` (plain first, then
/// TLS), `prefer` and `require`; `verify-ca` and `verify-full` check the certificate against
/// `~/.postgresql/root.crt` (else the system's authorities), and `verify-full` checks the host name too.
#[test]
fn sslmode_keeps_libpq_meaning_for_the_client_and_the_tools() {
    assert_eq!(
        psql("postgres", "SHOW ssl").trim(),
        "on",
        "this test needs the test server's TLS (Debian's default, with the snakeoil certificate)"
    );
    const ROLE: &str = "bke_tlsonly";
    hba_line(&format!("hostnossl all {ROLE} 127.0.0.1/32 reject"));
    if psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{ROLE}'"),
    )
    .trim()
        == "0"
    {
        psql("postgres", &format!("CREATE ROLE {ROLE} LOGIN"));
    }
    let db = Db::new("tls");
    psql(
        &db.name,
        &format!("CREATE TABLE t (id int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO {ROLE};"),
    );
    let home = TestHome::new();
    let user_home = home.work().join("user-home");
    std::fs::create_dir_all(&user_home).unwrap();
    let backup = |profile: &str| {
        home.command(&["backup", "--profile", profile])
            .env("HOME", &user_home)
            .output()
            .unwrap()
    };
    for mode in [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ] {
        server_profile(
            &home,
            mode,
            "127.0.0.1",
            "5432",
            ROLE,
            &db.name,
            &["--sslmode", mode],
        );
    }
    let out = backup("disable");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("does not let {ROLE} in")) && err.contains("no encryption"),
        "{err}"
    );
    for mode in ["allow", "prefer", "require"] {
        let out = backup(mode);
        assert!(out.status.success(), "{mode}: {}", stderr_of(&out));
    }
    // No root.crt: the system's authorities do not know the snakeoil certificate.
    for mode in ["verify-ca", "verify-full"] {
        let out = backup(mode);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {err}");
        assert!(
            err.contains(&format!(
                "no TLS connection to the server at 127.0.0.1:5432 with sslmode {mode}"
            )) && err.contains("UnknownIssuer"),
            "{mode}: {err}"
        );
    }
    // With the server's certificate as root.crt: the chain holds; the name is localhost, not 127.0.0.1.
    std::fs::create_dir_all(user_home.join(".postgresql")).unwrap();
    std::fs::copy(
        "/etc/ssl/certs/ssl-cert-snakeoil.pem",
        user_home.join(".postgresql").join("root.crt"),
    )
    .unwrap();
    let out = backup("verify-ca");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let out = backup("verify-full");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not valid for name \"127.0.0.1\""), "{err}");
    server_profile(
        &home,
        "full",
        "localhost",
        "5432",
        ROLE,
        &db.name,
        &["--sslmode", "verify-full"],
    );
    let out = backup("full");
    assert!(
        out.status.success(),
        "pg_dump checks the same root: {}",
        stderr_of(&out)
    );
}
