//! The engine conformance suite: the same cases for every engine, through the real `backstop` binary against real
//! databases (SQLite files, the PostgreSQL server on 127.0.0.1:5432, the MariaDB server on 127.0.0.1:3306) and the
//! engines' real tools.
//!
//! Each case is a small generic function over a [`Subject`] (one engine as the suite drives it); the cases that
//! need a server take a [`ServerSubject`], those only a database file has take a [`FileSubject`], so listing a
//! case for an engine that cannot run it does not compile. `conformance_cases!` stamps out one `#[test]` per case
//! per engine in a module named after the engine: `cargo test --test conformance postgres::` runs one engine.
//!
//! Adding an engine: one `impl Subject` (and `ServerSubject` or `FileSubject`) in `tests/conformance/<name>.rs`,
//! and one `conformance_cases!` block listing its cases, one line each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;
#[path = "conformance/mysql.rs"]
mod mysql_subject;
#[path = "conformance/postgres.rs"]
mod postgres_subject;
#[path = "conformance/sqlite.rs"]
mod sqlite_subject;
#[path = "conformance/support.rs"]
mod support;

use common::{Fingerprint, TestHome};
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use support::{
    archives, assert_secret_nowhere, counts, expect_failure, run_unprivileged, run_with,
    watch_cmdlines, with_truncated_dump, wrap_tools,
};

/// The profile every subject makes for its database.
pub const PROFILE: &str = "db";

/// Each account's balance before any transfer; the writer only moves money between the two.
pub const OPENING_BALANCE: i64 = 1_000_000;

/// One engine's database for one test, with a home and a profile [`PROFILE`] for it. Dropping it removes the
/// database and whatever copies a restore or import made of it.
pub trait Subject: Sized {
    /// The engine as manifests name it (`sqlite`, `postgres`, `mysql`).
    const ENGINE: &'static str;
    /// Whether the engine is a server: it keeps the database a restore replaced. (The server-only cases take a
    /// [`ServerSubject`], so the macro cannot list them for an engine without a server.)
    const SERVER: bool;

    /// A fresh, empty database named after `tag`, in a new home with a profile [`PROFILE`] for it (no automatic
    /// backups).
    fn fresh(tag: &str) -> Self;
    /// The test home.
    fn home(&self) -> &TestHome;
    /// Creates the rich schema with data: many column types (integers at their limits, floats, text in several
    /// scripts, binary, NULL), keys, foreign keys, indexes, constraints, views, triggers, functions where the
    /// engine has them, and some thousands of rows.
    fn fill_rich(&self);
    /// Changes the rich database in every way an app might: rows deleted and updated, a table and a view dropped,
    /// a table added.
    fn damage(&self);
    /// Creates `accounts` (ids 1 and 2 at [`OPENING_BALANCE`]) and an empty `transfers` log (`amount`).
    fn create_accounts(&self);
    /// Starts the writer: processes that, until `stop` exists, move a random amount from account 1 to account
    /// 2 and log it in `transfers`, each move one committed transaction. They exit 0 when stopped.
    fn start_writer(&self, stop: &Path) -> Vec<Child>;
    /// Runs SQL statements on the database as an administrator.
    fn exec(&self, sql: &str);
    /// Runs a query returning one row of integers (portable SQL: subqueries, `sum`, `count`, `coalesce`).
    fn ints(&self, sql: &str) -> Vec<i64>;
    /// Per table (named as the manifest names it): row count and an order-independent hash of the rows; plus the
    /// normalized schema text (tables, columns, types, indexes, constraints, views, triggers, routines and what
    /// else the engine restores: settings, grants, owners).
    fn fingerprint(&self) -> Fingerprint;
    /// Makes the database gone: the file deleted, the database dropped.
    fn drop_database(&self);
    /// Whether the database exists now.
    fn exists(&self) -> bool;
    /// Staging leftovers of restores and imports (scratch databases, partial files); empty when clean.
    fn leftovers(&self) -> Vec<String>;
    /// Copies of the database kept by restores (`<db>_pre_restore_<stamp>`; a server keeps the database a
    /// restore replaced, a file engine keeps none).
    fn kept_copies(&self) -> Vec<String>;
    /// Opens the dump in an unzipped archive with the engine's own tools, as a user without Backstop would; checks
    /// the manifest's engine-specific fields (its tool version).
    fn check_dump_with_own_tools(&self, unzipped: &Path, manifest: &serde_json::Value);
    /// Words the error of a restore whose dump is cut in half must contain (the tool or check that failed).
    fn load_failure_words(&self) -> Vec<String>;
    /// Dumps of the database in each of the engine's own formats, written into `dir` by its real tools.
    fn own_dumps(&self, dir: &Path) -> Vec<OwnDump>;
}

/// A dump written by the engine's own tools, for the import case.
pub struct OwnDump {
    /// The file (or folder).
    pub path: PathBuf,
    /// What `backstop import` recognises it as (its report's `detected`).
    pub detected: &'static str,
    /// The backup time the import reads from the file's name, if the name has one.
    pub created_at: Option<&'static str>,
}

/// A server engine: other databases on the same server, passwords, and the server's own ways to fail.
pub trait ServerSubject: Subject {
    /// Gives the database to the engine's password role (one that really checks its password,
    /// [`common::PW_ROLE`]) with a table `notes` of 1000 rows that it owns, and makes profile [`PROFILE`] log in as
    /// that role with [`common::PASSWORD`] kept in the file store.
    fn use_password_role(&self);
    /// `profile add NAME ... --password-stdin [extra]` for this database as the password role, with `password` on
    /// standard input and no keyring reachable.
    fn add_password_profile(
        &self,
        home: &TestHome,
        name: &str,
        password: &str,
        extra: &[&str],
    ) -> Output;
    /// A name for another database on the same server (dropped with the subject).
    fn other_database(&self) -> String;
    /// [`Subject::fingerprint`] of another database on the server.
    fn fingerprint_of(&self, database: &str) -> Fingerprint;
    /// Breaks the profile [`PROFILE`] (or the environment of the runs that follow) in the engine's own way.
    fn break_profile(&self, fault: ServerFault) -> Broken;
    /// The client tools the engine runs, with the real program each wrapper must run.
    fn tools(&self) -> Vec<(&'static str, PathBuf)>;
    /// Those of them a backup and a restore run (the rest are only found with them).
    fn tools_run(&self) -> Vec<&'static str> {
        self.tools().into_iter().map(|(tool, _)| tool).collect()
    }
    /// The environment that makes Backstop find its tools in `dir` (beyond `dir` first on PATH).
    fn tools_env(&self, dir: &Path) -> Vec<(String, String)>;
}

/// A database that is one file.
pub trait FileSubject: Subject {
    /// The database file.
    fn path(&self) -> PathBuf;
}

/// The ways a server fails that every server engine must name.
#[derive(Debug, Clone, Copy)]
pub enum ServerFault {
    /// Nothing answers at the profile's host and port.
    Unreachable,
    /// The server refuses the login (a wrong password).
    Denied,
    /// The profile's database does not exist on the server.
    UnknownDatabase,
    /// The dump tool is not installed.
    ToolMissing,
}

/// A broken profile: how to run Backstop against it, and what it must say.
pub struct Broken {
    /// Extra environment for every run.
    pub env: Vec<(String, String)>,
    /// Words stderr must contain.
    pub words: Vec<String>,
    /// What stderr must not contain (a wrong password).
    pub never: Vec<String>,
    /// Whether a restore fails the same way (a missing database is instead created by the restore).
    pub restore_fails: bool,
}

impl Broken {
    /// A broken profile whose backups and restores fail with `words`, in the environment of a normal run.
    pub fn failing(words: &[&str]) -> Broken {
        Broken {
            env: Vec::new(),
            words: words.iter().map(|w| w.to_string()).collect(),
            never: Vec::new(),
            restore_fails: true,
        }
    }
}

/// Case 1: A round trip of the rich schema: the damaged database comes back table by table and schema by schema; the
/// archive opens with the engine's own tools; the manifest's row counts are the database's; a safety backup of the
/// damaged state was taken first and every archive verifies.
fn round_trip<E: Subject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let before = e.fingerprint();
    let archive = home.backup(PROFILE);
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("{PROFILE}_database_")), "{name}");

    let unzipped = home.work().join("unzipped");
    common::unzip(&archive, &unzipped);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unzipped.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["database"]["engine"], E::ENGINE);
    assert_eq!(
        manifest["database"]["tables"],
        counts(&before),
        "manifest row counts"
    );
    e.check_dump_with_own_tools(&unzipped, &manifest);

    e.damage();
    assert_ne!(e.fingerprint(), before, "the damage changed the database");
    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    let after = e.fingerprint();
    assert_eq!(after.0, before.0, "every table's rows");
    assert_eq!(after.1, before.1, "the schema");
    let kept = usize::from(E::SERVER);
    assert_eq!(e.kept_copies().len(), kept, "{:?}", e.kept_copies());
    assert_eq!(e.leftovers(), Vec::<String>::new());
    let rows = home.list_json();
    assert!(
        rows.iter()
            .any(|r| r["trigger"] == "safety" && r["status"] == "completed"),
        "a safety backup of the damaged state: {rows:#?}"
    );
    home.run_ok(&["verify", "--all"]);
}

/// Stops the writer's processes (they see `stop`) and checks they all ended well.
fn stop_writer(stop: &Path, writers: Vec<Child>) {
    std::fs::write(stop, b"").unwrap();
    for mut writer in writers {
        assert!(writer.wait().unwrap().success(), "a writer failed");
    }
}

/// The accounts' sum, the transfers logged, their total, and what account 2 gained.
fn ledger<E: Subject>(e: &E) -> (i64, i64, i64, i64) {
    let v = e.ints(&format!(
        "SELECT (SELECT sum(balance) FROM accounts), (SELECT count(*) FROM transfers), \
         (SELECT coalesce(sum(amount), 0) FROM transfers), (SELECT balance FROM accounts WHERE id = 2) - {OPENING_BALANCE}"
    ));
    (v[0], v[1], v[2], v[3])
}

/// Case 2: A backup taken while a writer keeps moving money between two accounts is one consistent view: restored,
/// the accounts' sum is intact, every logged transfer is in the balances, and it holds the transfers of some
/// moment during the backup.
fn backup_under_concurrent_writes<E: Subject>(e: &E) {
    e.fill_rich();
    e.create_accounts();
    let schema = e.fingerprint().1;
    let home = e.home();
    let stop = home.work().join("stop-writer");
    let writers = e.start_writer(&stop);
    common::wait_until("the writer's first transfers", || ledger(e).1 >= 20);
    let before = ledger(e).1;
    home.backup(PROFILE);
    let after = ledger(e).1;
    stop_writer(&stop, writers);
    assert!(
        after > before,
        "the writer kept committing during the backup ({before} -> {after})"
    );
    let live = ledger(e);
    assert_eq!(
        live.0,
        2 * OPENING_BALANCE,
        "the writer keeps the invariant"
    );

    home.run_ok(&["restore", "1", "--yes", "--no-safety-backup"]);
    assert_eq!(
        e.fingerprint().1,
        schema,
        "the restored schema (and its integrity)"
    );
    let (sum, transfers, moved, gained) = ledger(e);
    assert_eq!(
        sum,
        2 * OPENING_BALANCE,
        "the accounts' sum in the restored copy"
    );
    assert_eq!(moved, gained, "every logged transfer is in the balances");
    assert!(
        (before..=after).contains(&transfers),
        "the copy holds {transfers} transfers, outside {before}..={after}"
    );
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

/// Case 3: `--validate-only` checks the whole archive and changes nothing: no safety backup, no staging leftovers, a
/// logged validation, and a report with the backup's row counts.
fn validate_only<E: Subject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let original = e.fingerprint();
    home.backup(PROFILE);
    e.damage();
    let damaged = e.fingerprint();
    let out = home.run_ok(&["restore", "1", "--validate-only", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["validate_only"], true, "{report}");
    assert_eq!(report["tables"], counts(&original), "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(e.fingerprint(), damaged, "nothing changed");
    assert_eq!(e.leftovers(), Vec::<String>::new());
    assert!(e.kept_copies().is_empty(), "{:?}", e.kept_copies());
    assert_eq!(
        home.list_json().len(),
        1,
        "no safety backup for a validation"
    );
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    let restores = log["restores"].as_array().unwrap();
    assert_eq!(restores.len(), 1, "{log}");
    assert_eq!(restores[0]["validate_only"], true, "{log}");
}

/// Case 4: A restore into another database creates it with the backup's content and leaves the profile's database
/// alone; a second restore into the same name is refused (exit 2) and changes nothing.
fn restore_into_another_database<E: ServerSubject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let original = e.fingerprint();
    home.backup(PROFILE);
    e.damage();
    let damaged = e.fingerprint();
    let other = e.other_database();
    home.run_ok(&["restore", "1", "--yes", "--to-database", &other]);
    assert_eq!(
        e.fingerprint(),
        damaged,
        "the profile's database is untouched"
    );
    let triggers: Vec<String> = home
        .list_json()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        triggers,
        ["manual"],
        "a restore into another database replaces nothing, so it takes no safety backup"
    );
    let copy = e.fingerprint_of(&other);
    assert_eq!(copy.0, original.0, "every table's rows in the new database");
    assert_eq!(copy.1, original.1, "the schema in the new database");

    let out = home.run(&["restore", "1", "--yes", "--to-database", &other]);
    expect_failure(&out, 2, &["already exists".into()], "a second restore");
    assert_eq!(
        e.fingerprint_of(&other),
        copy,
        "the existing database is untouched"
    );
    assert_eq!(e.fingerprint(), damaged);
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

/// Case 5: A restore whose dump fails to load midway (cut in half, the archive's hashes recomputed) fails with the
/// loader's message (exit 1) and leaves the target exactly as it was, with no staging leftovers.
fn failed_restore_changes_nothing<E: Subject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let archive = home.backup(PROFILE);
    e.damage();
    let before = e.fingerprint();
    let cut = home.work().join("cut.zip");
    with_truncated_dump(&archive, &cut);
    let out = home.run(&[
        "restore",
        cut.to_str().unwrap(),
        "--yes",
        "--profile",
        PROFILE,
    ]);
    expect_failure(
        &out,
        1,
        &e.load_failure_words(),
        "the restore of a cut dump",
    );
    assert_eq!(e.fingerprint(), before, "the target is exactly as it was");
    assert_eq!(e.leftovers(), Vec::<String>::new(), "staging leftovers");
    assert!(e.kept_copies().is_empty(), "{:?}", e.kept_copies());
}

/// Case 6: The disaster case: the database is gone; the restore brings it back whole (no safety backup: there is
/// nothing to save).
fn disaster<E: Subject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let original = e.fingerprint();
    home.backup(PROFILE);
    e.drop_database();
    assert!(!e.exists(), "the database is gone");
    home.run_ok(&["restore", "1", "--yes"]);
    assert!(e.exists());
    let after = e.fingerprint();
    assert_eq!(after.0, original.0, "every table's rows");
    assert_eq!(after.1, original.1, "the schema");
    assert!(
        home.list_json().iter().all(|r| r["trigger"] != "safety"),
        "no safety backup of a database that is gone"
    );
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

/// Case 7 (servers): Each way a server fails is named, with exit code 1: the backup leaves a failed row and no
/// archive, and a restore (where it is one that fails) changes nothing.
fn server_fault<E: ServerSubject>(e: &E, fault: ServerFault) {
    e.create_accounts();
    let home = e.home();
    home.backup(PROFILE);
    let before = e.fingerprint();
    let stored = archives(home);
    let broken = e.break_profile(fault);
    let what = format!("{fault:?}");
    let out = run_with(home, &["backup", "--profile", PROFILE], &broken.env);
    let err = expect_failure(&out, 1, &broken.words, &what);
    for never in &broken.never {
        assert!(!err.contains(never.as_str()), "{what}: {never} in {err}");
    }
    let rows = home.list_json();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[1]["status"], "failed", "{rows:#?}");
    assert_eq!(archives(home), stored, "no archive from the failed backup");
    if broken.restore_fails {
        let out = run_with(home, &["restore", "1", "--yes"], &broken.env);
        expect_failure(&out, 1, &broken.words, &format!("{what} restore"));
        assert_eq!(home.list_json().len(), 2, "no safety backup");
    }
    assert_eq!(e.fingerprint(), before, "{what}: nothing changed");
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

fn unreachable<E: ServerSubject>(e: &E) {
    server_fault(e, ServerFault::Unreachable);
}

/// Also: without a keyring, a password cannot be stored unless the user chose the file store, and the message
/// says so.
fn denied<E: ServerSubject>(e: &E) {
    server_fault(e, ServerFault::Denied);
    let other = TestHome::new();
    let out = e.add_password_profile(&other, "nokeyring", common::PASSWORD, &[]);
    expect_failure(
        &out,
        2,
        &["keyring unavailable".into(), "--secret-store file".into()],
        "a password without a keyring",
    );
}

fn unknown_database<E: ServerSubject>(e: &E) {
    server_fault(e, ServerFault::UnknownDatabase);
}

fn tool_missing<E: ServerSubject>(e: &E) {
    server_fault(e, ServerFault::ToolMissing);
}

/// Case 7 (files): The database file is missing at backup time: named, exit 1, a failed row, no archive, and no
/// empty file made in its place.
fn file_missing<E: FileSubject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    e.drop_database();
    let out = home.run(&["backup", "--profile", PROFILE]);
    let path = e.path().display().to_string();
    expect_failure(
        &out,
        1,
        &["database file not found".into(), path],
        "a missing file",
    );
    assert!(!e.exists(), "no file made in its place");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(archives(home), Vec::<String>::new());
}

/// Makes the database's folder unreadable, runs `args` without the capabilities that let root read it anyway, and
/// puts the folder's mode back.
fn in_unreadable_folder<E: FileSubject>(e: &E, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let folder = e.path().parent().unwrap().to_path_buf();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = run_unprivileged(e.home(), args);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    out
}

/// Case 7 (files): A backup of a database whose folder cannot be read fails naming the file and the permission
/// problem (exit 1), with a failed row and no archive, and changes nothing.
fn folder_unreadable_backup<E: FileSubject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let before = e.fingerprint();
    let out = in_unreadable_folder(e, &["backup", "--profile", PROFILE]);
    let words = [
        e.path().display().to_string(),
        "ermission denied".to_string(),
    ];
    expect_failure(&out, 1, &words, "a backup from an unreadable folder");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(archives(home), Vec::<String>::new(), "no archive");
    assert_eq!(e.fingerprint(), before, "nothing changed");
}

/// Case 7 (files): A restore into a database whose folder cannot be read fails naming the folder and the permission
/// problem (exit 1), and changes nothing.
fn folder_unreadable_restore<E: FileSubject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    home.backup(PROFILE);
    e.damage();
    let before = e.fingerprint();
    let out = in_unreadable_folder(e, &["restore", "1", "--yes"]);
    let folder = e.path().parent().unwrap().display().to_string();
    let words = [folder, "ermission denied".to_string()];
    expect_failure(&out, 1, &words, "a restore into an unreadable folder");
    assert_eq!(e.fingerprint(), before, "nothing changed");
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

/// Case 8: The password is used (test connection, backup, restore, verify all work) and never appears in any
/// process's argv, the environment of a child tool, the logs, the catalog, the config or an archive; its only
/// copy is the 0600 secret file, and no temporary password file outlives the job.
fn password_never_leaks<E: ServerSubject>(e: &E) {
    e.use_password_role();
    let home = e.home();
    let tools = home.dir.path().join("wrapped");
    let log = home.dir.path().join("tools.log");
    wrap_tools(&tools, &log, &e.tools());
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut env = vec![("PATH".to_string(), path)];
    env.extend(e.tools_env(&tools));
    let (stop, watcher) = watch_cmdlines(common::PASSWORD);
    let run = |args: &[&str]| {
        let out = run_with(home, args, &env);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["profile", "test", PROFILE]);
    run(&["backup", "--profile", PROFILE]);
    let original = e.fingerprint();
    e.exec("DELETE FROM notes");
    assert_ne!(e.fingerprint(), original);
    run(&["restore", "1", "--yes"]);
    run(&["verify", "--all"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, leaked) = watcher.join().unwrap();
    assert!(seen > 100, "the watcher looked");
    assert!(
        leaked.is_empty(),
        "the password in a command line: {leaked:?}"
    );
    assert_eq!(
        e.fingerprint().0,
        original.0,
        "the restore with the password"
    );

    let logged = std::fs::read_to_string(&log).unwrap();
    for tool in e.tools_run() {
        assert!(
            logged.contains(&format!("/{tool} ")) || logged.contains(&format!("/{tool}\n")),
            "the wrapper saw no {tool}: {logged}"
        );
    }
    assert!(
        !logged.contains(common::PASSWORD),
        "the password reached a child: {logged}"
    );

    let secret_file = home
        .home()
        .join("secrets")
        .join(format!("{PROFILE}.secret"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_secret_nowhere(home, common::PASSWORD, &secret_file);
    assert_eq!(
        common::names_in(&home.home().join("state").join("tmp")),
        Vec::<String>::new(),
        "no temporary (password) file is left"
    );
    let config = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    assert!(
        config.contains("has_password = true") && config.contains("secret_store = \"file\""),
        "{config}"
    );
}

/// Case 9: Dumps written by the engine's own tools import in one command (each recognised for exactly what it is, its
/// time read from its name where it has one), verify, and each restores the original data; imports leave no
/// staging behind.
fn import_own_dumps<E: Subject>(e: &E) {
    e.fill_rich();
    let home = e.home();
    let original = e.fingerprint();
    let dumps = e.own_dumps(&home.work().join("dumps"));
    let mut args = vec!["import", "--json"];
    args.extend(dumps.iter().map(|d| d.path.to_str().unwrap()));
    let out: serde_json::Value = serde_json::from_str(&home.run_ok(&args)).unwrap();
    for nothing in ["duplicates", "refused", "skipped"] {
        assert_eq!(out[nothing], serde_json::json!([]), "{out:#}");
    }
    let reports = out["imported"].as_array().unwrap();
    assert_eq!(reports.len(), dumps.len(), "{out:#}");
    for dump in &dumps {
        let report = reports
            .iter()
            .find(|r| r["source"] == dump.path.to_str().unwrap())
            .unwrap_or_else(|| panic!("no report for {}: {out:#}", dump.path.display()));
        assert_eq!(report["detected"], dump.detected, "{report:#}");
        assert_eq!(report["backup"]["status"], "completed", "{report:#}");
        if let Some(created) = dump.created_at {
            assert_eq!(
                report["backup"]["created_at"], created,
                "the time comes from the name"
            );
        }
    }
    assert_eq!(home.list_json().len(), dumps.len());
    home.run_ok(&["verify", "--all"]);
    assert_eq!(e.leftovers(), Vec::<String>::new(), "import staging");
    for report in reports {
        e.damage();
        let id = report["backup"]["id"].to_string();
        home.run_ok(&["restore", &id, "--yes", "--no-safety-backup"]);
        assert_eq!(
            e.fingerprint().0,
            original.0,
            "restore of the import of {}",
            report["source"]
        );
    }
    assert_eq!(e.leftovers(), Vec::<String>::new());
}

/// One `#[test]` per listed case, in a module named after the engine; each test makes its own subject.
macro_rules! conformance_cases {
    ($engine:ident, $subject:ty, [$($(#[$attr:meta])* $case:ident),* $(,)?]) => {
        mod $engine {
            $(
                #[test]
                $(#[$attr])*
                fn $case() {
                    let subject = <$subject as super::Subject>::fresh(stringify!($case));
                    super::$case(&subject);
                }
            )*
        }
    };
}

conformance_cases!(
    sqlite,
    crate::sqlite_subject::SqliteSubject,
    [
        round_trip,
        backup_under_concurrent_writes,
        validate_only,
        // restore_into_another_database: the CLI has no way to restore a SQLite backup into another file
        // (`--to-database` is refused for SQLite, see tests/sqlite.rs).
        failed_restore_changes_nothing,
        disaster,
        file_missing,
        folder_unreadable_backup,
        folder_unreadable_restore,
        import_own_dumps,
    ]
);

conformance_cases!(
    postgres,
    crate::postgres_subject::PostgresSubject,
    [
        round_trip,
        backup_under_concurrent_writes,
        validate_only,
        restore_into_another_database,
        failed_restore_changes_nothing,
        disaster,
        unreachable,
        denied,
        unknown_database,
        tool_missing,
        password_never_leaks,
        import_own_dumps,
    ]
);

conformance_cases!(
    mysql,
    crate::mysql_subject::MysqlSubject,
    [
        round_trip,
        backup_under_concurrent_writes,
        validate_only,
        restore_into_another_database,
        failed_restore_changes_nothing,
        disaster,
        unreachable,
        denied,
        unknown_database,
        tool_missing,
        password_never_leaks,
        import_own_dumps,
    ]
);
