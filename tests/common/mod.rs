//! Shared helpers for the integration tests: a temporary `BACKSTOP_HOME`, the real binary, sample databases,
//! row-by-row database comparison, and small file systems for disk-full and read-only cases.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use backstop::config::Paths;
use backstop::jobs::Context;
use backstop::progress::{CancelToken, JobControl, NoProgress};
use rusqlite::Connection;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary Backstop home with a work folder beside it.
pub struct TestHome {
    pub dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        TestHome {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `BACKSTOP_HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A scratch folder for databases and files, outside the home.
    pub fn work(&self) -> PathBuf {
        let dir = self.dir.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub fn paths(&self) -> Paths {
        Paths::under(&self.home())
    }

    /// Opens the library's context on this home (as the CLI does).
    pub fn ctx(&self) -> Context {
        Context::open(self.paths()).unwrap()
    }

    /// Runs the real `backstop` binary with this home, no terminal on stdin.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(args)
            .env("BACKSTOP_HOME", self.home())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts the real binary in the background with this home, its output discarded (for kill and Ctrl-C tests).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(args)
            .env("BACKSTOP_HOME", self.home())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs and expects exit code `code`; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        self.run_code(args, 0)
    }

    pub fn run_code(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "backstop {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates a sample database at `work/<name>.sqlite3` and a profile for it; returns the database path.
    pub fn sqlite_profile(&self, profile: &str, orders: u64, extra: &[&str]) -> PathBuf {
        let db = self.work().join(format!("{profile}.sqlite3"));
        backstop::demo::make_sample_database(&db, orders).unwrap();
        let mut args = vec!["profile", "add", profile, "--sqlite", db.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run_ok(&args);
        db
    }

    /// `backstop backup --profile P` → the archive path.
    pub fn backup(&self, profile: &str) -> PathBuf {
        let out = self.run_ok(&["backup", "--profile", profile]);
        PathBuf::from(out.trim())
    }

    /// The catalog rows as `list --json --all` prints them.
    pub fn list_json(&self) -> Vec<serde_json::Value> {
        let out = self.run_ok(&["list", "--json", "--all"]);
        serde_json::from_str(&out).unwrap()
    }
}

/// A job control that reports nowhere and is never cancelled.
pub fn quiet_job() -> JobControl<'static> {
    JobControl::new(&NoProgress, CancelToken::new())
}

/// Each table's rows in primary-key order, hashed; plus the schema text. Two databases with equal results
/// hold the same data.
pub fn db_fingerprint(path: &Path) -> (BTreeMap<String, (u64, String)>, String) {
    let conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut schema = String::new();
    let mut tables = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let kind: String = row.get(0).unwrap();
            let name: String = row.get(1).unwrap();
            let sql: String = row.get(2).unwrap();
            schema.push_str(&format!("{kind} {name}: {sql}\n"));
            if kind == "table" {
                tables.push(name);
            }
        }
    }
    let mut out = BTreeMap::new();
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
            .unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut hasher = sha2::Sha256::new();
        let mut n = 0u64;
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                let value: rusqlite::types::Value = row.get(i).unwrap();
                hasher.update(format!("{value:?}\u{1}").as_bytes());
            }
            hasher.update(b"\n");
            n += 1;
        }
        out.insert(table, (n, hex::encode(hasher.finalize())));
    }
    (out, schema)
}

/// SHA-256 of a file's bytes.
pub fn file_sha(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every file under `dir` (recursively) with its SHA-256, for "nothing changed" assertions.
pub fn tree_snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                out.insert(p.clone(), file_sha(&p));
            } else {
                out.insert(p.clone(), "link".into());
            }
        }
    }
    out
}

/// A small tmpfs mounted at `dir` (needs root); unmounted on drop. None where mounting is not allowed.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    pub fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Mount {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes a zip from (name, bytes) pairs with the zip crate, as a hostile tool would (no checks).
pub fn raw_zip(path: &Path, entries: &[(&str, &[u8])]) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Unpacks an archive with the stock `unzip`, as a user without Backstop would.
pub fn unzip(archive: &Path, dest: &Path) {
    let status = Command::new("unzip")
        .arg("-q")
        .arg(archive)
        .arg("-d")
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success(), "unzip {}", archive.display());
}

/// Runs SQL as the local PostgreSQL superuser (trust auth on 127.0.0.1:5432); panics with psql's stderr on failure.
pub fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the fixture generator `tests/fixtures/foreign.py FORMAT OUT ARGS...` (other apps' backups, written the way
/// those apps write them).
pub fn foreign(format: &str, out: &Path, args: &[&str]) {
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/foreign.py"
        ))
        .arg(format)
        .arg(out)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "foreign.py {format}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every path under `root` with what it is: a file's SHA-256, "dir" or "link", keyed by the path relative to root.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.insert(rel, "link".into());
            } else if t.is_dir() {
                out.insert(rel, "dir".into());
                stack.push(p);
            } else {
                out.insert(rel, file_sha(&p));
            }
        }
    }
    out
}

/// Runs a shell command line (bash, `pipefail`) in `dir` with the local servers' defaults in the environment
/// (PostgreSQL on 127.0.0.1:5432 as postgres); panics with its stderr when it fails.
pub fn sh(dir: &Path, command: &str) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -eo pipefail; {command}"))
        .current_dir(dir)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Imports and restores, as the import tests use them.
impl TestHome {
    /// `profile add NAME --postgres` for database `dbname` on the local server (postgres, trust auth), no
    /// automatic backups, with extra flags.
    pub fn add_pg_profile(&self, profile: &str, dbname: &str, extra: &[&str]) {
        let mut args = vec![
            "profile",
            "add",
            profile,
            "--postgres",
            "--host",
            "127.0.0.1",
            "--port",
            "5432",
            "--user",
            "postgres",
            "--dbname",
            dbname,
            "--no-auto",
        ];
        args.extend_from_slice(extra);
        self.run_ok(&args);
    }

    /// `restore ID --yes --no-safety-backup` of a catalog row, expecting success.
    pub fn restore_row(&self, row: &serde_json::Value) {
        self.run_ok(&[
            "restore",
            &row["id"].to_string(),
            "--yes",
            "--no-safety-backup",
        ]);
    }

    /// The newest catalog row (highest id).
    pub fn newest_row(&self) -> serde_json::Value {
        self.list_json()
            .into_iter()
            .max_by_key(|r| r["id"].as_i64().unwrap_or(0))
            .unwrap()
    }
}

/// A PostgreSQL database for one test on the local server, named with the test process's id so parallel runs
/// do not collide; dropped at the end with every database whose name starts with it (restore and import copies).
pub struct PgTestDb {
    pub name: String,
}

impl PgTestDb {
    /// A fresh, empty `<prefix>_<pid>`.
    pub fn new(prefix: &str) -> PgTestDb {
        let name = format!("{prefix}_{}", std::process::id());
        psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        psql("postgres", &format!("CREATE DATABASE {name}"));
        PgTestDb { name }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let names = psql(
            "postgres",
            &format!(
                "SELECT datname FROM pg_database WHERE datname LIKE '{}%'",
                self.name
            ),
        );
        for db in names.lines().filter(|l| !l.is_empty()) {
            psql(
                "postgres",
                &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
            );
        }
    }
}
