//! The CLI is an interface: commands, flags, `--json` fields, exit codes and `BACKSTOP_HOME`, run on the real binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::lock::ProfileLock;
use common::{TestHome, db_fingerprint, file_sha};
use std::path::{Path, PathBuf};
use std::process::Command;

fn stderr_of(home: &TestHome, args: &[&str], code: i32) -> String {
    home.run_err(args, code)
}

#[test]
fn backstop_home_holds_config_catalog_and_archives() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &[]);
    let archive = home.backup("shop");
    assert!(home.home().join("config.toml").is_file());
    assert!(home.home().join("catalog.sqlite3").is_file());
    assert!(
        archive.starts_with(home.home().join("archives").join("shop")),
        "{}",
        archive.display()
    );
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("shop_database_") && name.ends_with("_manual.zip"),
        "{name}"
    );
    assert!(home.home().join("state").join("backstop.log").is_file());
}

#[test]
fn profile_add_list_edit_remove() {
    let home = TestHome::new();
    let db = home.work().join("a.sqlite3");
    backstop::demo::make_sample_database(&db, 10).unwrap();
    let storage = home.work().join("store");
    home.run_ok(&[
        "profile",
        "add",
        "app-1",
        "--sqlite",
        db.to_str().unwrap(),
        "--storage",
        storage.to_str().unwrap(),
        "--keep-last",
        "3",
        "--max-age-days",
        "0",
        "--auto-hours",
        "6",
    ]);
    assert!(storage.is_dir(), "profile add creates the storage folder");
    let list: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["profile", "list", "--json"])).unwrap();
    let p = &list[0];
    assert_eq!(p["name"], "app-1");
    assert_eq!(p["database"]["engine"], "sqlite");
    assert_eq!(p["database"]["path"], db.to_str().unwrap());
    assert_eq!(p["storage_dir"], storage.to_str().unwrap());
    assert_eq!(p["policy"]["keep_last"], 3);
    assert_eq!(p["policy"]["max_age_days"], 0);
    assert_eq!(p["policy"]["auto_enabled"], true);
    assert_eq!(p["policy"]["auto_interval_hours"], 6);

    home.run_ok(&["profile", "edit", "app-1", "--no-auto", "--keep-daily", "7"]);
    let list: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["profile", "list", "--json"])).unwrap();
    assert_eq!(list[0]["policy"]["auto_enabled"], false);
    assert_eq!(list[0]["policy"]["keep_daily"], 7);

    let err = stderr_of(&home, &["profile", "add", "app-1", "--sqlite", "x.db"], 2);
    assert!(err.contains("already exists"), "{err}");
    let err = stderr_of(
        &home,
        &["profile", "add", "bad_name", "--sqlite", "x.db"],
        2,
    );
    assert!(err.contains("invalid profile name"), "{err}");
    let err = stderr_of(&home, &["profile", "edit", "app-1", "--keep-last", "0"], 2);
    assert!(
        err.contains("keep_last = 0 is out of range (allowed: 1 to 100000)"),
        "{err}"
    );
    let err = stderr_of(&home, &["backup", "--profile", "nope"], 2);
    assert!(
        err.contains("no profile named 'nope'") && err.contains("app-1"),
        "{err}"
    );

    home.backup("app-1");
    home.run_ok(&["profile", "remove", "app-1"]);
    assert_eq!(
        std::fs::read_dir(&storage).unwrap().count(),
        2,
        "archives stay unless asked"
    );
    let list: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["profile", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn list_json_fields_order_and_unique_names() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    let a = home.backup("shop");
    let b = home.backup("shop");
    let c = home.backup("shop");
    assert!(a != b && b != c && a != c);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&home.run_ok(&["list", "--json"])).unwrap();
    assert_eq!(rows.len(), 3);
    for (row, path) in rows.iter().zip([&a, &b, &c]) {
        for field in [
            "id",
            "profile",
            "kind",
            "trigger",
            "status",
            "path",
            "size_bytes",
            "sha256",
            "created_at",
        ] {
            assert!(row.get(field).is_some(), "missing {field} in {row}");
        }
        assert_eq!(row["path"], path.to_str().unwrap());
        assert_eq!(row["status"], "completed");
        assert_eq!(row["kind"], "database");
        assert_eq!(row["trigger"], "manual");
        let created = row["created_at"].as_str().unwrap();
        assert!(created.ends_with('Z'), "{created}");
        chrono::DateTime::parse_from_rfc3339(created).unwrap();
        assert_eq!(
            row["size_bytes"].as_u64().unwrap(),
            std::fs::metadata(path).unwrap().len()
        );
        assert_eq!(row["sha256"].as_str().unwrap(), file_sha(path));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3], "oldest first");
}

#[test]
fn stock_tools_accept_every_archive() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 2_000, &[]);
    let archive = home.backup("shop");
    let dir = archive.parent().unwrap();
    let unzip = Command::new("unzip")
        .arg("-t")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        unzip.status.success(),
        "unzip -t: {}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let sha = Command::new("sha256sum")
        .arg("-c")
        .arg(format!("{}.sha256", archive.display()))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        sha.status.success(),
        "sha256sum -c: {}",
        String::from_utf8_lossy(&sha.stdout)
    );
    // The README's stock-tools recipe works: unzip, then the file is the database.
    let out = home.work().join("unzipped");
    common::unzip(&archive, &out);
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(
        readme.contains("sqlite3") && readme.contains("unzip"),
        "{readme}"
    );
    let restored = out.join("database").join("shop.sqlite3");
    assert_eq!(db_fingerprint(&restored).0, db_fingerprint(&db).0);
}

#[test]
fn profile_may_be_left_out_only_when_one_exists() {
    let home = TestHome::new();
    home.sqlite_profile("one", 10, &[]);
    let out = home.run_ok(&["backup"]);
    assert!(Path::new(out.trim()).is_file());
    home.sqlite_profile("two", 10, &[]);
    let err = stderr_of(&home, &["backup"], 2);
    assert!(
        err.contains("several profiles exist") && err.contains("--profile"),
        "{err}"
    );
    let err = stderr_of(&home, &["backup", "--kind", "files"], 2);
    assert!(
        err.contains("several profiles") || err.contains("files"),
        "{err}"
    );
}

#[test]
fn restore_needs_consent_without_a_terminal() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 100, &[]);
    home.backup("shop");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    let before = db_fingerprint(&db);
    let err = stderr_of(&home, &["restore", "1"], 2);
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(db_fingerprint(&db), before);
    let out = home.run_ok(&["restore", "1", "--validate-only"]);
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(db_fingerprint(&db), before);
    let err = stderr_of(&home, &["restore", "99", "--yes"], 2);
    assert!(err.contains("no backup with id 99"), "{err}");
}

#[test]
fn verify_reports_ok_and_damage_with_exit_codes() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 500, &[]);
    let archive = home.backup("shop");
    home.backup("shop");
    let out = home.run_ok(&["verify", "--all"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok")).count(),
        2,
        "{out}"
    );
    home.run_ok(&["verify", "1"]);
    home.run_ok(&["verify", archive.to_str().unwrap()]);
    // Truncate the first archive: verify --all finds it, names it and exits 1.
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 2]).unwrap();
    let out = home.run_code(&["verify", "--all", "--json"], 1);
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["id"], 1);
    assert!(!reports[0]["problems"].as_array().unwrap().is_empty());
    assert_eq!(reports[1]["problems"].as_array().unwrap().len(), 0);
    let rows = home.list_json();
    assert_eq!(rows[0]["status"], "corrupted");
    assert_eq!(rows[1]["status"], "completed");
    let err = stderr_of(&home, &["verify"], 2);
    assert!(err.contains("--all"), "{err}");
}

#[test]
fn retention_runs_after_each_backup_and_prune_dry_run_shows_the_plan() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &["--keep-last", "2"]);
    let first = home.backup("shop");
    home.run_ok(&["pin", "1"]);
    assert!(PathBuf::from(format!("{}.pinned", first.display())).is_file());
    let second = home.backup("shop");
    let third = home.backup("shop");
    let fourth = home.backup("shop");
    // keep_last 2: the pinned first and the two newest stay; the second went.
    assert!(first.is_file() && !second.exists() && third.is_file() && fourth.is_file());
    assert!(!PathBuf::from(format!("{}.sha256", second.display())).exists());
    let rows = home.list_json();
    let status: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["completed", "deleted", "completed", "completed"]);

    home.run_ok(&["profile", "edit", "shop", "--keep-last", "1"]);
    let out = home.run_ok(&["prune", "--dry-run"]);
    assert!(out.contains("would delete 1 backup(s)"), "{out}");
    assert!(out.contains("pinned"), "{out}");
    assert!(third.is_file(), "dry run deletes nothing");
    let plan: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["prune", "--dry-run", "--json"])).unwrap();
    assert_eq!(plan["dry_run"], true);
    let out = home.run_ok(&["prune"]);
    assert!(out.contains("deleted 1 backup(s)"), "{out}");
    assert!(!third.exists() && fourth.is_file() && first.is_file());

    home.run_ok(&["unpin", "1"]);
    assert!(!PathBuf::from(format!("{}.pinned", first.display())).exists());
    let err = stderr_of(&home, &["delete", "2"], 2);
    assert!(err.contains("already deleted"), "{err}");
    home.run_ok(&["delete", "1"]);
    assert!(!first.exists());
}

#[test]
fn import_export_and_delete() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 300, &[]);
    home.backup("shop");
    let export = home.work().join("exported.zip");
    let out = home.run_ok(&["export", "1", "--to", export.to_str().unwrap()]);
    assert_eq!(out.trim(), export.to_str().unwrap());
    let sidecar = Command::new("sha256sum")
        .arg("-c")
        .arg("exported.zip.sha256")
        .current_dir(home.work())
        .output()
        .unwrap();
    assert!(sidecar.status.success());
    let err = stderr_of(&home, &["export", "1", "--to", export.to_str().unwrap()], 2);
    assert!(err.contains("already exists"), "{err}");

    // A gzipped SQLite file named the way web apps name them: its time comes from the name.
    let gz = home.work().join("shop_20250102_030405.db.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c '{}' > '{}'", db.display(), gz.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let bare = home.work().join("copy.sqlite3");
    let status = Command::new("sqlite3")
        .arg(&db)
        .arg(format!(".backup '{}'", bare.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let out = home.run_ok(&[
        "import",
        export.to_str().unwrap(),
        gz.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    assert_eq!(out.lines().count(), 3, "{out}");
    // The export is backup 1 itself (same SHA-256): reported as a duplicate, not added again.
    assert!(out.contains("already catalogued as backup 1"), "{out}");
    let rows = home.list_json();
    let uploaded: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["trigger"] == "uploaded").collect();
    assert_eq!(uploaded.len(), 2);
    assert!(
        uploaded
            .iter()
            .any(|r| r["created_at"] == "2025-01-02T03:04:05Z"),
        "{uploaded:?}"
    );
    home.run_ok(&["verify", "--all"]);

    // Each imported backup restores the original data.
    let original = db_fingerprint(&db);
    for row in &uploaded {
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE customers SET name = 'x'", [])
            .unwrap();
        home.run_ok(&[
            "restore",
            &row["id"].to_string(),
            "--yes",
            "--no-safety-backup",
        ]);
        assert_eq!(
            db_fingerprint(&db).0,
            original.0,
            "restore of {}",
            row["path"]
        );
    }

    let junk = home.work().join("notes.txt");
    std::fs::write(&junk, "hello").unwrap();
    let before = home.list_json().len();
    let err = stderr_of(&home, &["import", junk.to_str().unwrap()], 1);
    assert!(
        err.contains("not a format Backstop understands") && err.contains(".db.gz"),
        "{err}"
    );
    assert_eq!(
        home.list_json().len(),
        before,
        "a refused import adds no row"
    );

    let path = PathBuf::from(uploaded[0]["path"].as_str().unwrap());
    home.run_ok(&["delete", &uploaded[0]["id"].to_string()]);
    assert!(!path.exists());
}

#[test]
fn run_due_backs_up_only_what_is_due() {
    let home = TestHome::new();
    home.sqlite_profile("auto", 20, &[]);
    home.sqlite_profile("manual-only", 20, &["--no-auto"]);
    let first: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["run-due", "--json"])).unwrap();
    assert_eq!(first[0]["profile"], "auto");
    assert_eq!(first[0]["due"], true);
    assert!(first[0]["backup"]["path"].is_string());
    assert_eq!(first[1]["due"], false);
    let second: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["run-due", "--json"])).unwrap();
    assert_eq!(second[0]["due"], false, "the interval has not elapsed");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["trigger"], "automatic");

    let stats: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["stats", "--profile", "auto", "--json"])).unwrap();
    assert_eq!(stats["by_trigger"]["automatic"], 1);
    assert_eq!(stats["by_status"]["completed"], 1);
    assert!(stats["next_automatic_at"].is_string());
    assert!(stats["database_size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["success_rate_percent"], 100.0);
}

#[test]
fn run_due_fails_with_exit_1_when_a_backup_fails() {
    let home = TestHome::new();
    let db = home.sqlite_profile("auto", 20, &[]);
    std::fs::remove_file(&db).unwrap();
    let out = home.run(&["run-due"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("database file not found"), "{err}");
}

#[test]
fn a_second_job_on_the_same_profile_fails_at_once() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &[]);
    let lock = ProfileLock::acquire(&home.paths(), "shop").unwrap();
    let err = stderr_of(&home, &["backup"], 1);
    assert!(
        err.contains("a job for profile shop is already running"),
        "{err}"
    );
    drop(lock);
    home.backup("shop");
}

#[test]
fn a_broken_config_is_reported_with_its_line_and_never_overwritten() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let config = home.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[settings]\nbusy_timeout_secs = \"soon\"\n");
    std::fs::write(&config, &text).unwrap();
    for args in [
        &["list"][..],
        &["profile", "add", "x", "--sqlite", "x.db"][..],
        &["backup"][..],
    ] {
        let err = stderr_of(&home, args, 2);
        assert!(err.contains("config.toml") && err.contains("line"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

#[test]
fn log_shows_restores_and_failed_jobs() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 20, &[]);
    home.backup("shop");
    home.run_ok(&["restore", "1", "--yes"]);
    std::fs::remove_file(&db).unwrap();
    home.run_code(&["backup"], 1);
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    assert_eq!(log["restores"][0]["outcome"], "completed");
    assert!(log["restores"][0]["safety_backup_id"].is_i64());
    let failed = log["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["outcome"] == "failed")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("database file not found")
    );
    let text = std::fs::read_to_string(home.home().join("state").join("backstop.log")).unwrap();
    assert!(
        text.contains("failed") && text.contains("restore profile=shop completed"),
        "{text}"
    );
}

#[test]
fn demo_makes_a_working_profile_on_a_fresh_home() {
    let home = TestHome::new();
    let out = home.run_ok(&["demo"]);
    assert!(
        out.contains("backed up to") && out.contains("completed"),
        "{out}"
    );
    let out = home.run_ok(&["demo"]);
    assert!(
        !out.contains("created a sample database"),
        "a second demo reuses the first: {out}"
    );
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);
    // The demo has a files folder too, so its backups are full ones, without the excluded cache.
    assert_eq!(rows[0]["kind"], "full");
    let shown = home.run_ok(&["show", "1"]);
    assert!(shown.contains("files/products/sku-0001.jpg"), "{shown}");
    assert!(!shown.contains("thumbnail-index.tmp"), "{shown}");
}

#[test]
fn show_lists_entries_and_diff_compares_two_backups() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 500, &[]);
    let first = home.backup("shop");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 300", [])
        .unwrap();
    home.backup("shop");

    let out = home.run_ok(&["show", "1"]);
    assert!(
        out.contains("database/shop.sqlite3") && !out.contains("manifest.json"),
        "{out}"
    );
    assert!(out.contains("table orders: 500 rows"), "{out}");
    let by_path = home.run_ok(&["show", first.to_str().unwrap(), "--json"]);
    let manifest: serde_json::Value = serde_json::from_str(&by_path).unwrap();
    assert_eq!(manifest["format"], "backstop-archive");
    assert_eq!(manifest["database"]["tables"]["orders"], 500);

    let out = home.run_ok(&["diff", "1", "2"]);
    assert!(out.contains("changed  database/shop.sqlite3"), "{out}");
    assert!(out.contains("table orders: 500 -> 300 rows"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["diff", "1", "2", "--json"])).unwrap();
    assert_eq!(json["tables"]["orders"], serde_json::json!([500, 300]));
    assert!(home.run_ok(&["diff", "1", "1"]).contains("no difference"));
    let err = stderr_of(&home, &["show", "99"], 2);
    assert!(err.contains("no backup with id 99"), "{err}");
}

/// Issue 10 item 5: an archive of profile A, restored by path, must not replace profile B's database without an
/// explicit flag; by id and by path the same rule; another engine is always refused.
#[test]
fn restoring_into_another_profile_needs_the_flag_by_id_and_by_path() {
    let home = TestHome::new();
    let db_a = home.sqlite_profile("alpha", 50, &[]);
    let db_b = home.sqlite_profile("beta", 120, &[]);
    let archive_a = home.backup("alpha");
    let id_a = home.list_json()[0]["id"].as_i64().unwrap().to_string();
    let before_b = db_fingerprint(&db_b);
    let before_a = db_fingerprint(&db_a);

    // By path and by id, into the other profile, without the flag: refused naming both profiles, nothing changed.
    let outside = home.work().join("exported.zip");
    std::fs::copy(&archive_a, &outside).unwrap();
    for source in [
        archive_a.to_str().unwrap(),
        outside.to_str().unwrap(),
        &id_a,
    ] {
        let err = stderr_of(&home, &["restore", source, "--profile", "beta", "--yes"], 2);
        assert!(
            err.contains("alpha") && err.contains("beta") && err.contains("--allow-other-profile"),
            "{source}: {err}"
        );
        assert_eq!(db_fingerprint(&db_b), before_b, "{source}");
    }

    // An archive outside the catalog whose profile does not exist here is not restored into "the only profile".
    home.run_ok(&["profile", "remove", "alpha"]);
    let err = stderr_of(&home, &["restore", outside.to_str().unwrap(), "--yes"], 2);
    assert!(
        err.contains("alpha") && err.contains("--allow-other-profile"),
        "{err}"
    );
    assert_eq!(db_fingerprint(&db_b), before_b);

    // With the flag it restores, and the restore log says where the archive came from.
    home.run_ok(&[
        "restore",
        outside.to_str().unwrap(),
        "--profile",
        "beta",
        "--allow-other-profile",
        "--yes",
    ]);
    assert_eq!(db_fingerprint(&db_b), before_a);

    // Another engine is always refused, flag or not, naming both engines (exit 1: the job cannot be done).
    home.run_ok(&[
        "profile",
        "add",
        "gamma",
        "--postgres",
        "--host",
        "127.0.0.1",
        "--port",
        "5432",
        "--user",
        "root",
        "--dbname",
        "backstop_never_created_here",
    ]);
    let err = stderr_of(
        &home,
        &[
            "restore",
            outside.to_str().unwrap(),
            "--profile",
            "gamma",
            "--allow-other-profile",
            "--yes",
        ],
        1,
    );
    let lower = err.to_lowercase();
    assert!(
        lower.contains("sqlite") && lower.contains("postgres"),
        "{err}"
    );
}

/// Runs the real binary with its stdout on a pipe whose reader is already gone (what `| head` becomes once head
/// has read what it wanted, for output that fits the pipe); returns the exit code and stderr.
fn run_into_closed_pipe(home: &TestHome, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = home
        .command(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the real binary into a reader that takes the first 100 bytes and closes (`| head -c 100`) while the
/// command is still writing (its output is larger than the pipe holds); returns the exit code, stderr and the
/// bytes read.
fn run_into_short_reader(home: &TestHome, args: &[&str]) -> (Option<i32>, String, Vec<u8>) {
    use std::io::Read;
    let mut child = home
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0; 100];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        head,
    )
}

#[track_caller]
fn assert_quiet_exit(args: &[&str], (code, stderr): (Option<i32>, String)) {
    assert_eq!(
        code,
        Some(0),
        "backstop {args:?} into a closed pipe\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked")
            && !stderr.contains("Broken pipe")
            && !stderr.contains("error"),
        "backstop {args:?} into a closed pipe\n{stderr}"
    );
}

/// A closed stdout (`| head`) ends every printing command quietly with exit 0, and a job whose report could not
/// be printed was still done.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200, &[]);
    home.backup("shop");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 100", [])
        .unwrap();
    home.backup("shop");
    let export = home.work().join("exported");
    std::fs::create_dir_all(&export).unwrap();
    let commands: &[&[&str]] = &[
        &["--help"],
        &["help"],
        &["list", "--help"],
        &["--version"],
        &["list"],
        &["list", "--all"],
        &["list", "--json"],
        &["show", "1"],
        &["show", "1", "--json"],
        &["diff", "1", "2"],
        &["diff", "1", "2", "--json"],
        &["verify", "1"],
        &["verify", "--all", "--json"],
        &["stats"],
        &["stats", "--json"],
        &["log"],
        &["log", "--json"],
        &["prune", "--dry-run"],
        &["prune", "--dry-run", "--json"],
        &["profile", "list"],
        &["profile", "test", "shop"],
        &["restore", "1", "--validate-only"],
        &["pin", "1"],
        &["unpin", "1"],
        &["export", "1", "--to", export.to_str().unwrap()],
        &["run-due"],
        &["run-due", "--json"],
        &["backup", "--profile", "shop"],
        &["backup", "--profile", "shop", "--json"],
        &["catalog", "rebuild"],
    ];
    let before = home.list_json().len();
    for args in commands {
        assert_quiet_exit(args, run_into_closed_pipe(&home, args));
    }
    // The backups whose reports nobody read were made all the same: two manual ones and run-due's automatic one.
    let rows = home.list_json();
    assert_eq!(rows.len(), before + 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:?}");
    let exported: Vec<_> = std::fs::read_dir(&export).unwrap().flatten().collect();
    assert!(
        exported
            .iter()
            .any(|e| e.path().extension().is_some_and(|x| x == "zip")),
        "{exported:?}"
    );
}

/// Output far larger than a pipe holds, read by `head -c 100`: the command ends quietly as soon as the reader
/// is gone, after printing the start of the list (or the manifest) as usual.
#[test]
fn a_reader_that_stops_early_ends_long_output_quietly() {
    let home = TestHome::new();
    let db = home.work().join("media.sqlite3");
    backstop::demo::make_sample_database(&db, 50).unwrap();
    let files = home.work().join("media-files");
    std::fs::create_dir_all(&files).unwrap();
    for i in 0..3000 {
        std::fs::write(files.join(format!("photo-{i:05}.jpg")), format!("{i}")).unwrap();
    }
    home.run_ok(&[
        "profile",
        "add",
        "media",
        "--sqlite",
        db.to_str().unwrap(),
        "--files",
        files.to_str().unwrap(),
    ]);
    home.backup("media");
    {
        // Many more rows than fit a pipe: copies of the real row (list reads the catalog, not the archives).
        let ctx = home.ctx();
        let real = ctx.catalog.get(1).unwrap();
        for i in 0..3000 {
            let mut row = real.clone();
            row.id = 0;
            row.path = real.path.with_file_name(format!("copy-{i}.zip"));
            ctx.catalog.insert_completed(&row).unwrap();
        }
    }
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["show", "1"],
        &["show", "1", "--json"],
    ] {
        let (code, stderr, head) = run_into_short_reader(&home, args);
        assert_quiet_exit(args, (code, stderr));
        let expected = home.run_ok(args);
        assert!(
            expected.len() > 128 << 10,
            "backstop {args:?} prints {} bytes, not enough to fill the pipe",
            expected.len()
        );
        assert_eq!(&head[..], &expected.as_bytes()[..100], "backstop {args:?}");
    }
}

/// Every number in a hand-written config.toml is range-checked when the config is read: a number out of range is
/// a configuration error (exit 2) naming the key and the allowed range, never a panic later, and the file is
/// left as it was.
#[test]
fn config_numbers_out_of_range_are_refused_naming_the_key() {
    let home = TestHome::new();
    let db = home.work().join("shop.sqlite3");
    backstop::demo::make_sample_database(&db, 50).unwrap();
    let storage = home.work().join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    std::fs::create_dir_all(home.home()).unwrap();
    let sqlite = format!(
        "[[profile]]\nname = \"shop\"\nstorage_dir = \"{}\"\n[profile.database]\nengine = \"sqlite\"\npath = \"{}\"\n",
        storage.display(),
        db.display()
    );
    let postgres = "[[profile]]\nname = \"pg\"\nstorage_dir = \"/tmp\"\n[profile.database]\nengine = \"postgres\"\n\
                    host = \"127.0.0.1\"\nuser = \"postgres\"\ndbname = \"postgres\"\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "[settings]\nbusy_timeout_secs = 2147484\n",
            "busy_timeout_secs",
            "0 to 86400",
        ),
        (
            "[settings]\nbusy_timeout_secs = 18446744073709551615\n",
            "busy_timeout_secs",
            "",
        ),
        (
            "[settings]\nmax_import_bytes = 0\n",
            "max_import_bytes",
            "1048576 to",
        ),
        (
            "[settings]\nmax_import_entries = 0\n",
            "max_import_entries",
            "1 to",
        ),
        (
            "[settings]\nchange_alert_percent = 0\n",
            "change_alert_percent",
            "1 to",
        ),
        (
            "[profile.policy]\nmax_age_days = 4294967295\n",
            "max_age_days",
            "0 to 100000",
        ),
        (
            "[profile.policy]\nauto_interval_hours = 4294967295\n",
            "auto_interval_hours",
            "1 to 8760",
        ),
        (
            "[profile.policy]\nkeep_last = 0\n",
            "keep_last",
            "1 to 100000",
        ),
        (
            "[profile.policy]\nkeep_daily = 4000000000\n",
            "keep_daily",
            "0 to 100000",
        ),
        (
            "[profile.policy]\nkeep_weekly = 4000000000\n",
            "keep_weekly",
            "0 to 100000",
        ),
        (
            "[profile.policy]\nkeep_monthly = 4000000000\n",
            "keep_monthly",
            "0 to 100000",
        ),
        (
            "[profile.policy]\ncompression_level = 10\n",
            "compression_level",
            "0 to 9",
        ),
        ("port = 0\n", "port", "1 to 65535"),
    ];
    let config = home.home().join("config.toml");
    for (snippet, key, range) in cases {
        let text = if snippet.starts_with("[settings]") {
            format!("{snippet}{sqlite}")
        } else if snippet.starts_with("port") {
            format!("{postgres}{snippet}")
        } else {
            format!("{sqlite}{snippet}")
        };
        std::fs::write(&config, &text).unwrap();
        let profile = if snippet.starts_with("port") {
            "pg"
        } else {
            "shop"
        };
        for args in [
            &["backup", "--profile", profile][..],
            &["list"],
            &["run-due"],
        ] {
            let out = home.run(args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{key} with {args:?}: {stderr}");
            assert!(
                stderr.contains(key) && stderr.contains(range) && stderr.contains("config.toml"),
                "{key} with {args:?}: {stderr}"
            );
        }
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    }
    assert!(
        std::fs::read_dir(&storage).unwrap().next().is_none(),
        "no backup was written"
    );
}

/// The same numbers given as `profile add` / `profile edit` flags are checked before anything is saved or created.
#[test]
fn profile_flags_out_of_range_are_refused_naming_the_key() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 50, &[]);
    let config = home.home().join("config.toml");
    let saved = std::fs::read_to_string(&config).unwrap();
    let new_storage = home.work().join("never-created");
    for (flag, value, key) in [
        ("--max-age-days", "4294967295", "max_age_days"),
        ("--auto-hours", "4294967295", "auto_interval_hours"),
        ("--keep-last", "0", "keep_last"),
        ("--keep-daily", "100001", "keep_daily"),
        ("--compression-level", "10", "compression_level"),
    ] {
        let err = stderr_of(
            &home,
            &[
                "profile",
                "add",
                "other",
                "--sqlite",
                db.to_str().unwrap(),
                "--storage",
                new_storage.to_str().unwrap(),
                flag,
                value,
            ],
            2,
        );
        assert!(err.contains(key) && err.contains(" to "), "{flag}: {err}");
        let err = stderr_of(&home, &["profile", "edit", "shop", flag, value], 2);
        assert!(err.contains(key) && err.contains(" to "), "{flag}: {err}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), saved);
        assert!(!new_storage.exists());
    }
    let err = stderr_of(
        &home,
        &[
            "profile",
            "add",
            "pg",
            "--postgres",
            "--user",
            "u",
            "--dbname",
            "d",
            "--port",
            "0",
        ],
        2,
    );
    assert!(err.contains("port"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), saved);
}

/// Several `profile add` at once on a new home: each reads, changes and writes config.toml under one lock, so no
/// profile is lost to another process's write.
#[test]
fn profiles_added_at_once_are_all_kept() {
    for round in 0..5 {
        let home = TestHome::new();
        let db = home.work().join("shop.sqlite3");
        backstop::demo::make_sample_database(&db, 10).unwrap();
        let names: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
        let commands: Vec<Vec<&str>> = names
            .iter()
            .map(|name| {
                vec![
                    "profile",
                    "add",
                    name.as_str(),
                    "--sqlite",
                    db.to_str().unwrap(),
                ]
            })
            .collect();
        let commands: Vec<&[&str]> = commands.iter().map(Vec::as_slice).collect();
        for (code, stderr) in home.run_at_once(&commands) {
            assert_eq!(code, Some(0), "round {round}: {stderr}");
        }
        let listed: serde_json::Value =
            serde_json::from_str(&home.run_ok(&["profile", "list", "--json"])).unwrap();
        let mut got: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got, names, "round {round}");
    }
}

#[test]
fn a_password_that_cannot_follow_a_renamed_or_removed_profile_stops_it_and_changes_nothing() {
    let home = TestHome::new();
    home.postgres_profile("pg", "5432", "x", &["--no-auto"]);
    // A password in the keyring (stored on a desktop), and now no Secret Service answers.
    home.mark_passwords_stored();
    let config_file = home.home().join("config.toml");
    let before = std::fs::read_to_string(&config_file).unwrap();
    for (args, said) in [
        (
            ["profile", "rename", "pg", "pg-new"].as_slice(),
            "profile pg was not renamed",
        ),
        (
            ["profile", "remove", "pg"].as_slice(),
            "profile pg was not removed",
        ),
    ] {
        let out = home
            .command(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(said) && err.contains("keyring unavailable"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&config_file).unwrap(),
            before,
            "{args:?}"
        );
    }
}

#[test]
fn a_password_leaves_no_copy_behind_when_its_store_or_engine_changes() {
    let home = TestHome::new();
    home.postgres_profile("pg", "5432", "x", &["--no-auto"]);
    let secret = home.home().join("secrets/pg.secret");
    // From the keyring (unreachable here) to a file: stored in the file; the old copy cannot be deleted, and says so.
    home.mark_passwords_stored();
    let out = home.run_with_stdin(
        &[
            "profile",
            "edit",
            "pg",
            "--secret-store",
            "file",
            "--password-stdin",
        ],
        "s3cret-pw\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the old copy of its password in the keyring store could not be deleted")
            && err.contains("keyring unavailable"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret-pw");
    // A server profile made a SQLite one: its password has nothing left to open, so it goes.
    let db = home.work().join("now-sqlite.db");
    backstop::demo::make_sample_database(&db, 5).unwrap();
    home.run_ok(&["profile", "edit", "pg", "--sqlite", db.to_str().unwrap()]);
    assert!(
        !secret.exists(),
        "the password went with the server settings"
    );
    home.backup("pg");
}
