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
    let out = psql_command(db)
        .args(["-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// psql on the test server as postgres, no terminal on stdin.
fn psql_command(db: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        "postgres",
        "-d",
        db,
    ])
    .stdin(std::process::Stdio::null());
    cmd
}

/// Runs SQL on the test server as postgres, ignoring failure (for clean-up of what may not exist).
pub fn psql_quiet(db: &str, sql: &str) {
    let _ = psql_command(db).args(["-c", sql]).output();
}

/// Adds a PostgreSQL profile for `dbname` on 127.0.0.1:`port` as postgres (no password, no automatic backups).
pub fn add_pg_profile(home: &TestHome, profile: &str, port: u16, dbname: &str) {
    home.run_ok(&[
        "profile",
        "add",
        profile,
        "--postgres",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--user",
        "postgres",
        "--dbname",
        dbname,
        "--no-auto",
    ]);
}
