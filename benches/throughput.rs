//! Throughput of `backstop backup`, `verify` and `restore` against the tools a user would otherwise run:
//! - SQLite: `sqlite3 .backup` + `gzip -6`, and `gunzip -c` + `sqlite3 .restore`, on a realistic database;
//! - PostgreSQL: `pg_dump -Fc` and `pg_dump -Fp | gzip -6`, and `createdb` + `pg_restore -j 2` and
//!   `createdb` + `gunzip -c | psql`, on a `pgbench` database;
//! - files folder: `backstop backup --kind files` against `tar -czf` and `zip -qr`, and `backstop restore` against
//!   `tar -xzf` and `unzip -q`, on a generated web-app media folder of mixed sizes and kinds.
//!
//! Run it with `cargo bench --bench throughput`. Settings (environment):
//! - `BACKSTOP_BENCH_ONLY`: `sqlite`, `postgres` or `files` runs only that part (default: all three, in that order);
//! - `BACKSTOP_BENCH_MB`: size of the SQLite database in MiB (default 512; 64 makes a quick run);
//! - `BACKSTOP_BENCH_PG_SCALE`: pgbench scale of the PostgreSQL database (default 50, about 750 MiB; 5 is quick);
//! - `BACKSTOP_BENCH_FILES_MB`, `BACKSTOP_BENCH_FILES_COUNT`: size in MiB and file count of the files folder (default
//!   2048 and 20000; less than 2048 MiB when the work folder has under 6 times that free); the memory check also
//!   backs up a folder of 1/8 of both;
//! - `BACKSTOP_BENCH_PG_HOST`, `BACKSTOP_BENCH_PG_PORT`, `BACKSTOP_BENCH_PG_USER`: the server (default
//!   127.0.0.1, 5432, postgres); the role must be able to create databases and connect without a password;
//! - `BACKSTOP_BENCH_DIR`: the work folder (default `target/bench-data`);
//! - `BACKSTOP_BENCH_KEEP=1`: keep the run's copies (archive, .gz, restored files) for inspection.
//!
//! The sources are generated once per size and reused by later runs: the SQLite file and the files folders (each with
//! a `.done` file beside it) in the work folder, the PostgreSQL database `bench_pgbench` on the server (its scale
//! recorded in its `bench_meta` table). Everything else is made in `run` / `pg-run` / `files-run` folders beside
//! them and in databases named `bench_pgbench_*`, all removed at the end (also when the bench panics). Timing is
//! wall clock; nothing is asserted about it. Any failing command panics with its output; the restored databases
//! must hold the same rows as the source, the restored folders the same files with the same contents.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

use chrono::{Datelike, Timelike};
use rusqlite::{Connection, OpenFlags, params};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BACKSTOP: &str = env!("CARGO_BIN_EXE_backstop");
/// Changing the generator changes this, so databases made by an older version are not reused.
const GENERATOR: &str = "throughput-v1";
const MIB: f64 = 1024.0 * 1024.0;
const GNU_TIME: &str = "/usr/bin/time";

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: skipped (run it with `cargo bench --bench throughput`)");
        return;
    }
    let (run_sqlite, run_postgres, run_files) = selection();
    let work = work_dir();

    println!("Backstop throughput benchmark");
    println!("  backstop binary: {BACKSTOP}");
    println!("  work folder:     {}", work.display());
    if run_sqlite {
        println!();
        println!("== SQLite ==");
        bench_sqlite(&work);
    }
    if run_postgres {
        println!();
        println!("== PostgreSQL ==");
        bench_postgres(&work);
    }
    if run_files {
        println!();
        println!("== Files folder ==");
        bench_files(&work);
    }
}

fn bench_sqlite(work: &Path) {
    let target_mib = target_mib();
    for tool in ["sqlite3", "gzip", "gunzip"] {
        require_tool(tool);
    }

    // 1. The source database.
    let source = work.join(format!("source-{target_mib}mib.sqlite3"));
    ensure_source(&source, target_mib);
    let db_bytes = file_len(&source);
    let source_counts = row_counts(&source);
    let total_rows: u64 = source_counts.values().sum();
    println!(
        "  database:        {} ({}, {} tables, {} rows: {})",
        source.display(),
        mib(db_bytes),
        source_counts.len(),
        total_rows,
        source_counts
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 2. A working copy, so that restores never touch the reusable source.
    let run = RunDir::create(work.join("run"));
    let live = run.path.join("live.sqlite3");
    std::fs::copy(&source, &live).unwrap_or_else(|e| {
        panic!(
            "cannot copy {} to {}: {e}",
            source.display(),
            live.display()
        )
    });
    let home = run.path.join("home");
    let runner = Runner::new(&run.path);
    runner.run(
        "backstop profile add",
        backstop(
            &home,
            [
                OsStr::new("profile"),
                OsStr::new("add"),
                OsStr::new("bench"),
                OsStr::new("--sqlite"),
                live.as_os_str(),
                OsStr::new("--no-auto"),
            ],
        ),
        None,
    );
    let settle = || {
        // Same start for every step: the database in the page cache, no writeback pending from the step before.
        warm(&live);
        sync();
    };
    print_rss_method(&runner);
    println!();

    // a. backstop backup
    settle();
    progress("backstop backup --profile bench");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(&home, ["backup", "--profile", "bench", "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. sqlite3 .backup, then gzip -6
    settle();
    let copy = run.path.join("x.sqlite3");
    progress("sqlite3 .backup");
    let sq_backup = runner.run(
        "sqlite3 .backup",
        sqlite3(&live, &format!(".backup {}", dot_arg(&copy))),
        None,
    );
    let copy_bytes = file_len(&copy);
    sync();
    progress("gzip -6");
    let gz = run.path.join("x.sqlite3.gz");
    let gzip = runner.run(
        "gzip -6",
        command("gzip", [OsStr::new("-6"), copy.as_os_str()]),
        None,
    );
    let gz_bytes = file_len(&gz);

    // d. backstop verify
    settle();
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // c. backstop restore, then gunzip -c + sqlite3 .restore
    settle();
    progress("backstop restore --yes --no-safety-backup");
    let bs_restore = runner.run(
        "backstop restore",
        backstop(
            &home,
            [
                "restore",
                &backup_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    let restored_bytes = file_len(&live);
    check_counts("after backstop restore", &source_counts, &live);

    settle();
    progress("gunzip -c");
    let unzipped = run.path.join("y.sqlite3");
    let out = File::create(&unzipped)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", unzipped.display()));
    let gunzip = runner.run(
        "gunzip -c",
        command("gunzip", [OsStr::new("-c"), gz.as_os_str()]),
        Some(out),
    );
    let unzipped_bytes = file_len(&unzipped);
    sync();
    progress("sqlite3 .restore");
    let sq_restore = runner.run(
        "sqlite3 .restore",
        sqlite3(&live, &format!(".restore {}", dot_arg(&unzipped))),
        None,
    );
    let alt_restored_bytes = file_len(&live);
    check_counts("after sqlite3 .restore", &source_counts, &live);
    println!();

    // 3. The results.
    let alt_backup = Measured::sum(&sq_backup, &gzip);
    let alt_restore = Measured::sum(&gunzip, &sq_restore);
    let rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    let backup_ratio = bs_backup.secs / alt_backup.secs;
    let restore_ratio = bs_restore.secs / alt_restore.secs;
    println!(
        "Results for a {} database ({db_bytes} bytes); MiB/s = database size / time",
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        Some(backup_ratio),
    );
    table.row(
        "",
        "sqlite3 .backup",
        &sq_backup,
        rate(&sq_backup),
        Some(copy_bytes),
        None,
    );
    table.row("", "gzip -6", &gzip, rate(&gzip), Some(gz_bytes), None);
    table.row(
        "",
        "sqlite3 .backup + gzip -6",
        &alt_backup,
        rate(&alt_backup),
        Some(gz_bytes),
        None,
    );
    table.row(
        "verify",
        "backstop verify",
        &bs_verify,
        rate(&bs_verify),
        None,
        None,
    );
    table.row(
        "restore",
        "backstop restore",
        &bs_restore,
        rate(&bs_restore),
        Some(restored_bytes),
        Some(restore_ratio),
    );
    table.row(
        "",
        "gunzip -c",
        &gunzip,
        rate(&gunzip),
        Some(unzipped_bytes),
        None,
    );
    table.row(
        "",
        "sqlite3 .restore",
        &sq_restore,
        rate(&sq_restore),
        Some(alt_restored_bytes),
        None,
    );
    table.row(
        "",
        "gunzip -c + sqlite3 .restore",
        &alt_restore,
        rate(&alt_restore),
        Some(alt_restored_bytes),
        None,
    );
    table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s), sqlite3 .backup + gzip -6 {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        alt_backup.secs,
        rate(&alt_backup),
        backup_ratio
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s), gunzip -c + sqlite3 .restore {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        alt_restore.secs,
        rate(&alt_restore),
        restore_ratio
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs .gz {} (archive/.gz {:.3}); database/archive {:.2}x, database/.gz {:.2}x",
        mib(archive_bytes),
        mib(gz_bytes),
        archive_bytes as f64 / gz_bytes as f64,
        db_bytes as f64 / archive_bytes as f64,
        db_bytes as f64 / gz_bytes as f64
    );
    let backstop_rss = [&bs_backup, &bs_verify, &bs_restore]
        .iter()
        .map(|m| m.rss_kib)
        .collect::<Option<Vec<u64>>>();
    match backstop_rss {
        Some(v) => {
            let max = v.iter().copied().max().unwrap_or(0);
            println!(
                "memory:  peak RSS of backstop: backup {}, verify {}, restore {}; max {} = {:.1}% of the database",
                rss(Some(v[0])),
                rss(Some(v[1])),
                rss(Some(v[2])),
                rss(Some(max)),
                100.0 * (max * 1024) as f64 / db_bytes as f64
            );
        }
        None => println!("memory:  peak RSS of backstop: n/a"),
    }
    println!(
        "check:   row counts after both restores equal the source's ({} tables, {total_rows} rows)",
        source_counts.len()
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step the database \
         file is read once and `sync` flushes pending writes; steps run once each, in the order shown. backstop also \
         fsyncs and re-reads its archive after writing it, and its restore runs a full integrity_check and compares \
         row counts and schema before writing; gzip and sqlite3 do neither."
    );

    // 4. Clean up the run's copies; the source stays for the next run.
    drop(run);
    println!("Kept {} for the next run.", source.display());
}

// ---------------------------------------------------------------------------------------------------------------
// Settings and helpers

/// Which parts run (SQLite, PostgreSQL, files folder): `BACKSTOP_BENCH_ONLY=sqlite`, `postgres` or `files`; all
/// three when it is unset or empty.
fn selection() -> (bool, bool, bool) {
    let value = std::env::var("BACKSTOP_BENCH_ONLY").unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "" => (true, true, true),
        "sqlite" => (true, false, false),
        "postgres" | "postgresql" => (false, true, false),
        "files" => (false, false, true),
        _ => panic!(
            "BACKSTOP_BENCH_ONLY must be sqlite, postgres or files (or unset for all three), not {value:?}"
        ),
    }
}

fn target_mib() -> u64 {
    env_positive("BACKSTOP_BENCH_MB").unwrap_or(512)
}

/// A positive whole number from the environment; `None` when it is unset or empty.
fn env_positive(key: &str) -> Option<u64> {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => Some(
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| panic!("{key} must be a positive whole number, not {v:?}")),
        ),
        _ => None,
    }
}

/// `$BACKSTOP_BENCH_DIR`, else `bench-data` in the target folder that holds the backstop binary.
fn work_dir() -> PathBuf {
    let dir = match std::env::var_os("BACKSTOP_BENCH_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(BACKSTOP)
            .parent()
            .and_then(Path::parent)
            .map(|target| target.join("bench-data"))
            .unwrap_or_else(|| PathBuf::from("target/bench-data")),
    };
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create the work folder {}: {e}", dir.display()));
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("cannot resolve the work folder {}: {e}", dir.display()))
}

fn require_tool(tool: &str) {
    require_tool_with(tool, "--version");
}

/// Like [`require_tool`], for a tool that shows its version with another option (`unzip -v`).
fn require_tool_with(tool: &str, version_option: &str) {
    let ok = Command::new(tool)
        .arg(version_option)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{tool}` is needed for the comparison but is not installed (or `{tool} {version_option}` fails)"
    );
}

fn progress(what: &str) {
    println!("  timing {what} ...");
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot read the size of {}: {e}", path.display()))
        .len()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn rss(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

/// A path as one argument of a sqlite3 dot-command (single quotes take everything literally).
fn dot_arg(path: &Path) -> String {
    let text = path.to_str().expect("the work folder's path must be UTF-8");
    assert!(
        !text.contains('\''),
        "the work folder's path must not contain a single quote: {text}"
    );
    format!("'{text}'")
}

/// Reads a file once, so that it is in the page cache.
fn warm(path: &Path) {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    std::io::copy(&mut f, &mut std::io::sink())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
}

/// Flushes pending writes (best effort: without `sync` the steps just overlap a little more).
fn sync() {
    let _ = Command::new("sync").status();
}

fn command<I, S>(program: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

fn backstop<I, S>(home: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(BACKSTOP, args);
    cmd.env("BACKSTOP_HOME", home);
    cmd
}

fn sqlite3(db: &Path, dot_command: &str) -> Command {
    command("sqlite3", [db.as_os_str(), OsStr::new(dot_command)])
}

/// The run's folder; removed when dropped (also when the bench panics) unless `BACKSTOP_BENCH_KEEP=1`.
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    fn create(path: PathBuf) -> RunDir {
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot remove the old {}: {e}", path.display()));
        }
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        RunDir { path }
    }
}

/// `BACKSTOP_BENCH_KEEP=1`: the run's copies stay for inspection.
fn keep_run() -> bool {
    std::env::var("BACKSTOP_BENCH_KEEP").is_ok_and(|v| v == "1")
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if keep_run() {
            println!("Kept the run's files in {}.", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
            println!("Removed the run's copies ({}).", self.path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Running and timing commands

/// One timed command.
struct Measured {
    secs: f64,
    rss_kib: Option<u64>,
    stdout: String,
}

impl Measured {
    /// Two steps run one after the other: times add up, the peak is the larger one.
    fn sum(a: &Measured, b: &Measured) -> Measured {
        Measured {
            secs: a.secs + b.secs,
            rss_kib: a.rss_kib.zip(b.rss_kib).map(|(x, y)| x.max(y)),
            stdout: String::new(),
        }
    }
}

/// Runs commands, under `/usr/bin/time -f %M` when it works (for the peak RSS).
struct Runner {
    rss_file: Option<PathBuf>,
}

impl Runner {
    fn new(dir: &Path) -> Runner {
        let file = dir.join("peak-rss.txt");
        let works = Command::new(GNU_TIME)
            .args(["-f", "%M", "-o"])
            .arg(&file)
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && read_rss(&file).is_some();
        Runner {
            rss_file: works.then_some(file),
        }
    }

    /// Runs `cmd` to completion; panics with its output if it fails. `stdout` redirects its standard output.
    fn run(&self, label: &str, cmd: Command, stdout: Option<File>) -> Measured {
        let mut cmd = match &self.rss_file {
            Some(file) => {
                let _ = std::fs::remove_file(file);
                let mut timed = Command::new(GNU_TIME);
                timed
                    .args(["-f", "%M", "-o"])
                    .arg(file)
                    .arg(cmd.get_program())
                    .args(cmd.get_args());
                if let Some(dir) = cmd.get_current_dir() {
                    timed.current_dir(dir);
                }
                for (key, value) in cmd.get_envs() {
                    match value {
                        Some(v) => timed.env(key, v),
                        None => timed.env_remove(key),
                    };
                }
                timed
            }
            None => cmd,
        };
        cmd.stdin(Stdio::null()).stderr(Stdio::piped());
        match stdout {
            Some(file) => cmd.stdout(file),
            None => cmd.stdout(Stdio::piped()),
        };
        let start = Instant::now();
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("{label}: cannot start {cmd:?}: {e}"));
        let secs = start.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            panic!(
                "{label} failed ({}): {cmd:?}\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Measured {
            secs,
            rss_kib: self.rss_file.as_deref().and_then(read_rss),
            stdout,
        }
    }
}

/// Says how the peak RSS column is measured.
fn print_rss_method(runner: &Runner) {
    println!(
        "  peak RSS:        {}",
        if runner.rss_file.is_some() {
            "measured with /usr/bin/time -f %M"
        } else {
            "n/a (/usr/bin/time is not installed: apt-get install time)"
        }
    );
}

/// The backup id and archive path from the output of `backstop backup --json`.
fn backup_report(backup: &Measured) -> (i64, PathBuf) {
    let report: serde_json::Value = serde_json::from_str(&backup.stdout).unwrap_or_else(|e| {
        panic!(
            "backstop backup --json printed something that is not JSON ({e}):\n{}",
            backup.stdout
        )
    });
    let id = report["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no backup id in backstop's report:\n{}", backup.stdout));
    let archive = PathBuf::from(
        report["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no archive path in backstop's report:\n{}", backup.stdout)),
    );
    (id, archive)
}

/// The last line of GNU time's output file is `%M`, the peak RSS in KiB.
fn read_rss(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().rev().find_map(|l| l.trim().parse().ok())
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    fn row(
        &mut self,
        op: &str,
        tool: &str,
        m: &Measured,
        rate: f64,
        output: Option<u64>,
        ratio: Option<f64>,
    ) {
        self.rows.push([
            op.to_string(),
            tool.to_string(),
            format!("{:.2}", m.secs),
            format!("{rate:.1}"),
            output.map(mib).unwrap_or_else(|| "-".into()),
            rss(m.rss_kib),
            ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
        ]);
    }

    fn print(&self) {
        let header = [
            "operation",
            "tool",
            "seconds",
            "MiB/s",
            "output",
            "peak RSS",
            "backstop/alt (time)",
        ];
        let mut widths = header.map(str::len);
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let line = |cells: [&str; 7]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i < 2 {
                    let _ = write!(s, "{cell:<w$}  ");
                } else {
                    let _ = write!(s, "{cell:>w$}  ");
                }
            }
            println!("{}", s.trim_end());
        };
        line(header);
        for row in &self.rows {
            line(row.each_ref().map(String::as_str));
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Row counts

/// Every ordinary table's row count.
fn row_counts(db: &Path) -> BTreeMap<String, u64> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", db.display()));
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_else(|e| panic!("cannot list the tables of {}: {e}", db.display()));
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("cannot count {t} in {}: {e}", db.display()));
            (t, n as u64)
        })
        .collect()
}

fn check_counts(when: &str, expected: &BTreeMap<String, u64>, db: &Path) {
    let found = row_counts(db);
    assert!(
        &found == expected,
        "{when}: the row counts of {} differ from the source's\n  source:   {expected:?}\n  restored: {found:?}",
        db.display()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// The source database

/// Reuses the database at `path` when an earlier run made it for this size, else generates it.
fn ensure_source(path: &Path, target_mib: u64) {
    if let Some(secs) = reusable(path, target_mib) {
        println!(
            "  generation:      reused the database made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    if path.exists() {
        println!(
            "  generation:      {} is stale; making it again",
            path.display()
        );
        remove_db_files(path);
    }
    let partial = path.with_extension("sqlite3.partial");
    remove_db_files(&partial);
    println!("  generation:      making a {target_mib} MiB database ...");
    let start = Instant::now();
    let rows = generate(&partial, target_mib, &start);
    let secs = start.elapsed().as_secs_f64();
    std::fs::rename(&partial, path).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    });
    let bytes = file_len(path);
    println!(
        "  generation:      {} in {secs:.1} s ({:.1} MiB/s, {rows} rows)",
        mib(bytes),
        bytes as f64 / MIB / secs
    );
}

/// The generation time recorded in the database, if it was completed by this generator for this size.
fn reusable(path: &Path, target_mib: u64) -> Option<f64> {
    if !path.is_file() || file_len(path) < target_mib * 1024 * 1024 {
        return None;
    }
    // Opening and closing it also checkpoints any WAL left behind, so a plain copy of the file is complete.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).ok()?;
    let meta = |key: &str| -> Option<String> {
        conn.query_row("SELECT value FROM bench_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .ok()
    };
    if meta("generator")? != GENERATOR || meta("target_mib")? != target_mib.to_string() {
        return None;
    }
    meta("generation_secs")?.parse().ok()
}

fn remove_db_files(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

const SCHEMA: &str = "
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, phone TEXT, street TEXT NOT NULL,
    city TEXT NOT NULL, country TEXT NOT NULL, notes TEXT, created_at TEXT NOT NULL);
CREATE INDEX customers_place ON customers(country, city);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, title TEXT NOT NULL, category TEXT NOT NULL,
    description TEXT, price_cents INTEGER NOT NULL, stock INTEGER NOT NULL);
CREATE INDEX products_category ON products(category, price_cents);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), status TEXT NOT NULL,
    placed_at TEXT NOT NULL, shipping_address TEXT NOT NULL, total_cents INTEGER NOT NULL, comment TEXT);
CREATE INDEX orders_customer ON orders(customer_id, placed_at);
CREATE INDEX orders_status ON orders(status, placed_at);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id), line INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL, PRIMARY KEY (order_id, line)) WITHOUT ROWID;
CREATE INDEX order_items_product ON order_items(product_id);
CREATE TABLE order_events (
    id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id), at TEXT NOT NULL,
    kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX order_events_order ON order_events(order_id, at);
CREATE VIEW order_totals AS
    SELECT o.id, o.customer_id, sum(i.quantity * i.unit_price_cents) AS total_cents
    FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id;
CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Generates the database at `path` (one transaction, no journal, no syncs), then switches it to WAL mode.
/// Returns the number of rows written.
fn generate(path: &Path, target_mib: u64, start: &Instant) -> u64 {
    generate_into(path, target_mib, start)
        .unwrap_or_else(|e| panic!("cannot generate {}: {e}", path.display()))
}

fn generate_into(path: &Path, target_mib: u64, start: &Instant) -> rusqlite::Result<u64> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; \
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.execute_batch(SCHEMA)?;
    let target_bytes = target_mib * 1024 * 1024;
    let mut g = Gen::new();
    let mut rows = 0u64;
    let tx = conn.transaction()?;
    {
        let page_size: u64 = tx.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))? as u64;
        let mut insert_customer = tx
            .prepare(
                "INSERT INTO customers (id, name, email, phone, street, city, country, notes, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
        let mut insert_product = tx.prepare(
            "INSERT INTO products (id, sku, title, category, description, price_cents, stock) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_order = tx
            .prepare(
                "INSERT INTO orders (id, customer_id, status, placed_at, shipping_address, total_cents, comment) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
        let mut insert_item = tx.prepare(
            "INSERT INTO order_items (order_id, line, product_id, quantity, unit_price_cents) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut insert_event = tx.prepare(
            "INSERT INTO order_events (id, order_id, at, kind, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;

        // A catalogue that grows with the database, but stays a small part of it.
        let products = (target_mib * 40).clamp(2_000, 50_000);
        let mut prices = Vec::with_capacity(products as usize);
        let mut text = String::new();
        for id in 1..=products {
            let price = 99 + g.skewed(50_000) as i64 * 7;
            prices.push(price);
            let title = format!("{} {}", g.capitalized(), g.word_string());
            let category = CATEGORIES[g.below(CATEGORIES.len() as u64) as usize];
            let words = 15 + g.skewed(400);
            g.prose(&mut text, words);
            insert_product.execute(params![
                id as i64,
                format!("SKU-{:02}-{id:06}", g.below(100)),
                title,
                category,
                text,
                price,
                g.below(500) as i64
            ])?;
            rows += 1;
        }

        let mut customers = 0i64;
        let mut order_id = 0i64;
        let mut event_id = 0i64;
        // Seconds since the epoch: orders start in 2019 and move forward by a few minutes each.
        let mut clock: i64 = 1_546_300_800;
        let mut address = String::new();
        let mut items: Vec<(i64, i64, i64)> = Vec::new();
        loop {
            for _ in 0..2_000 {
                order_id += 1;
                clock += 10 + g.below(400) as i64;
                // Roughly one new customer for every four orders; the first order makes the first customer.
                if customers == 0 || g.below(4) == 0 {
                    customers += 1;
                    let first = FIRST_NAMES[g.below(FIRST_NAMES.len() as u64) as usize];
                    let last = LAST_NAMES[g.below(LAST_NAMES.len() as u64) as usize];
                    let notes = if g.below(10) < 4 {
                        None
                    } else {
                        let words = g.skewed(120);
                        g.prose(&mut text, words);
                        Some(text.clone())
                    };
                    g.address(&mut address);
                    let country = COUNTRIES[g.skewed(COUNTRIES.len() as u64) as usize];
                    insert_customer.execute(params![
                        customers,
                        format!("{first} {last}"),
                        format!(
                            "{}.{}{customers}@{}",
                            first.to_lowercase(),
                            last.to_lowercase(),
                            DOMAINS[g.skewed(DOMAINS.len() as u64) as usize]
                        ),
                        (g.below(10) < 8).then(|| format!(
                            "+{} {:03} {:07}",
                            1 + g.below(60),
                            g.below(1000),
                            g.below(10_000_000)
                        )),
                        address,
                        g.capitalized(),
                        country,
                        notes,
                        timestamp(clock - g.below(86_400 * 30) as i64)
                    ])?;
                    rows += 1;
                }
                // Recent customers order more often.
                let customer = customers - g.skewed(customers as u64) as i64;
                // The order row first: the bundled SQLite enforces the foreign keys.
                let lines = 1 + g.skewed(6);
                items.clear();
                for _ in 0..lines {
                    let product = 1 + g.skewed(products);
                    let quantity = 1 + g.skewed(5) as i64;
                    items.push((product as i64, quantity, prices[product as usize - 1]));
                }
                let total: i64 = items.iter().map(|(_, q, p)| q * p).sum();
                let status = STATUSES[g.skewed(STATUSES.len() as u64) as usize];
                let comment = if g.below(10) < 7 {
                    None
                } else {
                    let words = 1 + g.skewed(60);
                    g.prose(&mut text, words);
                    Some(text.clone())
                };
                g.address(&mut address);
                insert_order.execute(params![
                    order_id,
                    customer,
                    status,
                    timestamp(clock),
                    address,
                    total,
                    comment
                ])?;
                rows += 1;
                for (line, (product, quantity, price)) in items.iter().enumerate() {
                    insert_item.execute(params![
                        order_id,
                        line as i64 + 1,
                        product,
                        quantity,
                        price
                    ])?;
                    rows += 1;
                }
                let events = 1 + g.skewed(5);
                let mut at = clock;
                for _ in 0..events {
                    event_id += 1;
                    at += 60 + g.below(86_400 * 3) as i64;
                    let kind = EVENT_KINDS[g.below(EVENT_KINDS.len() as u64) as usize];
                    let words = g.skewed(50);
                    g.prose(&mut text, words);
                    let payload = format!(
                        "{{\"by\":\"{}\",\"ip\":\"10.{}.{}.{}\",\"tracking\":\"{:016x}\",\"note\":\"{}\"}}",
                        if g.below(3) == 0 { "system" } else { "staff" },
                        g.below(256),
                        g.below(256),
                        g.below(256),
                        g.next(),
                        text
                    );
                    insert_event.execute(params![
                        event_id,
                        order_id,
                        timestamp(at),
                        kind,
                        payload
                    ])?;
                    rows += 1;
                }
            }
            let pages: u64 = tx.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))? as u64;
            if pages * page_size >= target_bytes {
                break;
            }
        }
        tx.execute(
            "INSERT INTO bench_meta (key, value) VALUES ('generator', ?1), ('target_mib', ?2)",
            params![GENERATOR, target_mib.to_string()],
        )?;
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    conn.execute(
        "INSERT INTO bench_meta (key, value) VALUES ('generation_secs', ?1)",
        [format!("{:.1}", start.elapsed().as_secs_f64())],
    )?;
    drop(conn);
    Ok(rows + 3)
}

fn timestamp(secs: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .expect("timestamps stay in range")
        .naive_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

const FIRST_NAMES: [&str; 24] = [
    "Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira",
    "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Ugo", "Vera", "Wen",
    "Yusuf",
];
const LAST_NAMES: [&str; 24] = [
    "Adler", "Brooks", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quint", "Rossi",
    "Silva", "Tanaka", "Ulrich", "Varga", "Weber", "Zhang",
];
const COUNTRIES: [&str; 16] = [
    "US", "DE", "FR", "GB", "NL", "ES", "IT", "CA", "SE", "PL", "JP", "BR", "AU", "IN", "NG", "MX",
];
const DOMAINS: [&str; 8] = [
    "example.com",
    "mail.example",
    "post.example.org",
    "inbox.example.net",
    "shop.example",
    "web.example",
    "home.example",
    "work.example.com",
];
const CATEGORIES: [&str; 12] = [
    "books", "garden", "kitchen", "toys", "tools", "music", "sports", "office", "bath", "lighting",
    "pets", "outdoor",
];
const STATUSES: [&str; 6] = [
    "delivered",
    "shipped",
    "paid",
    "pending",
    "cancelled",
    "refunded",
];
const EVENT_KINDS: [&str; 7] = [
    "created",
    "paid",
    "packed",
    "shipped",
    "delivered",
    "note",
    "refund-requested",
];
const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mer", "tin", "sa", "ve", "ro", "dan", "pe", "li", "qua", "ster", "on", "ex",
    "bri", "mo", "tu", "gal", "fen", "dor", "ba", "ri", "um", "ta", "nel", "pro", "vi", "che",
    "ar", "is", "en", "wo", "ly", "cor", "de", "ment", "sh", "ick", "au", "ne",
];

/// A small deterministic generator: varied but reproducible data.
struct Gen {
    state: u64,
    words: Vec<String>,
}

impl Gen {
    fn new() -> Gen {
        let mut g = Gen {
            state: 0x9E37_79B9_7F4A_7C15,
            words: Vec::new(),
        };
        let mut words = Vec::with_capacity(4_000);
        for _ in 0..4_000 {
            let syllables = 1 + g.below(4);
            let mut w = String::new();
            for _ in 0..syllables {
                w.push_str(SYLLABLES[g.below(SYLLABLES.len() as u64) as usize]);
            }
            words.push(w);
        }
        g.words = words;
        g
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Between `lo` and `hi`, evenly spread on a log scale (as many values in 1..2 as in 8..16).
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        lo * (hi / lo).powf(unit)
    }

    /// Fills `buf` with pseudo-random bytes (incompressible, as far as deflate can tell).
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// In `0..n`, small values more likely (the smaller of two uniform draws).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }

    /// A word index with a long tail: common words are much more common (like real text).
    fn word_index(&mut self) -> usize {
        let n = self.words.len() as u64;
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c) as usize
    }

    fn word_string(&mut self) -> String {
        let i = self.word_index();
        self.words[i].clone()
    }

    fn capitalized(&mut self) -> String {
        let i = self.word_index();
        let w = &self.words[i];
        let mut s = String::with_capacity(w.len());
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
        }
        s.push_str(chars.as_str());
        s
    }

    /// `words` words of sentences into `out` (cleared first), with the odd number in between.
    fn prose(&mut self, out: &mut String, words: u64) {
        out.clear();
        let mut sentence = 0;
        for i in 0..words {
            if i > 0 {
                out.push(' ');
            }
            if sentence == 0 {
                let w = self.capitalized();
                out.push_str(&w);
            } else if self.below(25) == 0 {
                let _ = write!(out, "{}", self.below(10_000));
            } else {
                let idx = self.word_index();
                out.push_str(&self.words[idx]);
            }
            sentence += 1;
            if (sentence > 4 && self.below(10) == 0) || i + 1 == words {
                out.push(if self.below(8) == 0 { '!' } else { '.' });
                sentence = 0;
            } else if self.below(15) == 0 {
                out.push(',');
            }
        }
    }

    fn address(&mut self, out: &mut String) {
        out.clear();
        let number = 1 + self.skewed(400);
        let street = self.capitalized();
        let kind = ["Street", "Road", "Avenue", "Lane", "Way", "Square"][self.below(6) as usize];
        let city = self.capitalized();
        let _ = write!(
            out,
            "{number} {street} {kind}, {:05} {city}",
            self.below(100_000)
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

/// The reusable pgbench database; the bench's other databases are named after it and dropped at the end.
const PG_SOURCE: &str = "bench_pgbench";
/// The working copy that backstop backs up and restores into, so that restores never touch the source.
const PG_LIVE: &str = "bench_pgbench_live";
/// Where `pg_restore -j 2` restores the `pg_dump -Fc` file.
const PG_BY_PG_RESTORE: &str = "bench_pgbench_pg_restore";
/// Where `gunzip -c | psql` restores the plain dump.
const PG_BY_PSQL: &str = "bench_pgbench_psql";
/// Changing the generation changes this, so databases made by an older version are not reused.
const PG_GENERATOR: &str = "pgbench-v1";
/// After `pgbench -i` every balance is 0: a short standard pgbench run makes `sum(abalance)` worth comparing.
const PG_WORKLOAD_CLIENTS: u32 = 4;
const PG_WORKLOAD_TRANSACTIONS: u32 = 2_500;

fn bench_postgres(work: &Path) {
    let scale = pg_scale();
    for tool in [
        "psql",
        "pg_dump",
        "pg_restore",
        "pgbench",
        "createdb",
        "bash",
        "gzip",
        "gunzip",
    ] {
        require_tool(tool);
    }
    let pg = Pg::from_env();
    let server_version = pg
        .try_query("postgres", "SHOW server_version")
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach the PostgreSQL server at {}:{} as {} (set BACKSTOP_BENCH_PG_HOST, _PORT, _USER):\n{e}",
                pg.host, pg.port, pg.user
            )
        });
    println!(
        "  server:          PostgreSQL {server_version} at {}:{}, role {}",
        pg.host, pg.port, pg.user
    );

    // Databases left by an earlier run that did not finish are dropped first; the guard drops this run's at the
    // end, also when the bench panics.
    let mut cleanup = PgCleanup {
        pg: &pg,
        done: false,
    };
    let stale = cleanup.sweep();
    if !stale.is_empty() {
        println!(
            "  leftovers:       dropped {} from an earlier run",
            stale.join(", ")
        );
    }
    let run = RunDir::create(work.join("pg-run"));
    let runner = Runner::new(&run.path);

    // 1. The source database.
    ensure_pg_source(&pg, &runner, scale);
    let db_bytes = pg.size(PG_SOURCE);
    let source_print = pg.fingerprint(PG_SOURCE);
    println!(
        "  database:        {PG_SOURCE} ({}, pgbench scale {scale}; pgbench_accounts: {source_print})",
        mib(db_bytes)
    );

    // 2. A working copy, so that restores never touch the reusable source.
    let start = Instant::now();
    pg.query(
        "postgres",
        &format!(
            "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
            quote_ident(PG_LIVE),
            quote_ident(PG_SOURCE)
        ),
    );
    println!(
        "  working copy:    {PG_LIVE} ({}, copied from the source in {:.1} s)",
        mib(pg.size(PG_LIVE)),
        start.elapsed().as_secs_f64()
    );
    let home = run.path.join("home");
    runner.run(
        "backstop profile add",
        backstop(
            &home,
            [
                "profile",
                "add",
                "bench-pg",
                "--postgres",
                "--host",
                &pg.host,
                "--port",
                &pg.port,
                "--user",
                &pg.user,
                "--dbname",
                PG_LIVE,
                "--no-auto",
            ],
        ),
        None,
    );
    // Same start for every step: no dirty buffers or writeback left by the step before, the database read once
    // (the server's files in the page cache), and the file the step reads, if any.
    let settle = |db: &str, file: Option<&Path>| {
        pg.query("postgres", "CHECKPOINT");
        sync();
        pg.query(
            db,
            "SELECT sum(abalance) FROM pgbench_accounts; SELECT sum(tbalance) FROM pgbench_tellers; \
             SELECT sum(bbalance) FROM pgbench_branches; SELECT sum(delta) FROM pgbench_history",
        );
        if let Some(file) = file {
            warm(file);
        }
    };
    print_rss_method(&runner);
    println!();

    // a. backstop backup
    settle(PG_LIVE, None);
    progress("backstop backup --profile bench-pg");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(&home, ["backup", "--profile", "bench-pg", "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. pg_dump -Fc (default compression) to a file
    settle(PG_LIVE, None);
    progress("pg_dump -Fc");
    let dump = run.path.join("x.dump");
    let pg_dump_fc = runner.run(
        "pg_dump -Fc",
        pg.command(
            "pg_dump",
            [
                OsStr::new("-Fc"),
                OsStr::new("-f"),
                dump.as_os_str(),
                OsStr::new("-d"),
                OsStr::new(PG_LIVE),
            ],
        ),
        None,
    );
    let dump_bytes = file_len(&dump);

    // c. pg_dump -Fp | gzip -6 to a file, timed as one pipeline
    settle(PG_LIVE, None);
    progress("pg_dump -Fp | gzip -6");
    let gz = run.path.join("x.sql.gz");
    let out = File::create(&gz).unwrap_or_else(|e| panic!("cannot create {}: {e}", gz.display()));
    let pg_dump_gz = runner.run(
        "pg_dump -Fp | gzip -6",
        bash(&format!(
            "pg_dump {} -Fp -d {} | gzip -6",
            pg.shell_args(),
            sh_quote(PG_LIVE)
        )),
        Some(out),
    );
    let gz_bytes = file_len(&gz);

    // d. backstop verify
    settle(PG_LIVE, Some(&archive));
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // e. backstop restore: a staging database, checked, then swapped in by rename; the old one is kept as
    // `<db>_pre_restore_<stamp>`, dropped here (untimed).
    settle(PG_LIVE, Some(&archive));
    progress("backstop restore --yes --no-safety-backup");
    let bs_restore = runner.run(
        "backstop restore",
        backstop(
            &home,
            [
                "restore",
                &backup_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    let restored_bytes = pg.size(PG_LIVE);
    let kept: Vec<String> = pg
        .databases()
        .into_iter()
        .filter(|d| d.starts_with(&format!("{PG_LIVE}_pre_restore_")))
        .collect();
    assert!(
        !kept.is_empty(),
        "backstop restore kept no {PG_LIVE}_pre_restore_* copy of the database it replaced"
    );
    for db in &kept {
        pg.drop_database(db)
            .unwrap_or_else(|e| panic!("cannot drop {db}: {e}"));
    }

    // f. createdb + pg_restore -j 2
    settle(PG_SOURCE, Some(&dump));
    progress("createdb + pg_restore -j 2");
    let createdb_1 = runner.run("createdb", pg.command("createdb", [PG_BY_PG_RESTORE]), None);
    let pg_restore = runner.run(
        "pg_restore -j 2",
        pg.command(
            "pg_restore",
            [
                OsStr::new("-j"),
                OsStr::new("2"),
                OsStr::new("-d"),
                OsStr::new(PG_BY_PG_RESTORE),
                dump.as_os_str(),
            ],
        ),
        None,
    );
    let pg_restored_bytes = pg.size(PG_BY_PG_RESTORE);

    // g. createdb + gunzip -c | psql, timed as one pipeline
    settle(PG_SOURCE, Some(&gz));
    progress("createdb + gunzip -c | psql");
    let createdb_2 = runner.run("createdb", pg.command("createdb", [PG_BY_PSQL]), None);
    let gunzip_psql = runner.run(
        "gunzip -c | psql",
        bash(&format!(
            "gunzip -c {} | psql {} -X -q -v ON_ERROR_STOP=1 -d {}",
            sh_quote(gz.to_str().expect("the work folder's path must be UTF-8")),
            pg.shell_args(),
            sh_quote(PG_BY_PSQL)
        )),
        None,
    );
    let psql_restored_bytes = pg.size(PG_BY_PSQL);

    // h. The restored databases hold the source's rows.
    for (how, db) in [
        ("backstop restore", PG_LIVE),
        ("pg_restore -j 2", PG_BY_PG_RESTORE),
        ("gunzip -c | psql", PG_BY_PSQL),
    ] {
        let found = pg.fingerprint(db);
        assert!(
            found == source_print,
            "after {how}: pgbench_accounts in {db} differs from the source's\n  source ({PG_SOURCE}): {source_print}\n  restored ({db}): {found}"
        );
    }
    println!();

    // 3. The results.
    let alt_restore_fc = Measured::sum(&createdb_1, &pg_restore);
    let alt_restore_sql = Measured::sum(&createdb_2, &gunzip_psql);
    let rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    let backup_ratio_fc = bs_backup.secs / pg_dump_fc.secs;
    let backup_ratio_gz = bs_backup.secs / pg_dump_gz.secs;
    let restore_ratio_fc = bs_restore.secs / alt_restore_fc.secs;
    let restore_ratio_sql = bs_restore.secs / alt_restore_sql.secs;
    println!(
        "Results for a {} database ({db_bytes} bytes, pg_database_size); MiB/s = database size / time; \
         backstop/alt on each alternative's row",
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        None,
    );
    table.row(
        "",
        "pg_dump -Fc",
        &pg_dump_fc,
        rate(&pg_dump_fc),
        Some(dump_bytes),
        Some(backup_ratio_fc),
    );
    table.row(
        "",
        "pg_dump -Fp | gzip -6",
        &pg_dump_gz,
        rate(&pg_dump_gz),
        Some(gz_bytes),
        Some(backup_ratio_gz),
    );
    table.row(
        "verify",
        "backstop verify",
        &bs_verify,
        rate(&bs_verify),
        None,
        None,
    );
    table.row(
        "restore",
        "backstop restore",
        &bs_restore,
        rate(&bs_restore),
        Some(restored_bytes),
        None,
    );
    table.row("", "createdb", &createdb_1, rate(&createdb_1), None, None);
    table.row(
        "",
        "pg_restore -j 2",
        &pg_restore,
        rate(&pg_restore),
        Some(pg_restored_bytes),
        None,
    );
    table.row(
        "",
        "createdb + pg_restore -j 2",
        &alt_restore_fc,
        rate(&alt_restore_fc),
        Some(pg_restored_bytes),
        Some(restore_ratio_fc),
    );
    table.row("", "createdb", &createdb_2, rate(&createdb_2), None, None);
    table.row(
        "",
        "gunzip -c | psql",
        &gunzip_psql,
        rate(&gunzip_psql),
        Some(psql_restored_bytes),
        None,
    );
    table.row(
        "",
        "createdb + gunzip -c | psql",
        &alt_restore_sql,
        rate(&alt_restore_sql),
        Some(psql_restored_bytes),
        Some(restore_ratio_sql),
    );
    table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s); pg_dump -Fc {:.2} s ({:.1} MiB/s), ratio {:.2}; \
         pg_dump -Fp | gzip -6 {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        pg_dump_fc.secs,
        rate(&pg_dump_fc),
        backup_ratio_fc,
        pg_dump_gz.secs,
        rate(&pg_dump_gz),
        backup_ratio_gz
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s); createdb + pg_restore -j 2 {:.2} s ({:.1} MiB/s), ratio {:.2}; \
         createdb + gunzip -c | psql {:.2} s ({:.1} MiB/s), ratio {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        alt_restore_fc.secs,
        rate(&alt_restore_fc),
        restore_ratio_fc,
        alt_restore_sql.secs,
        rate(&alt_restore_sql),
        restore_ratio_sql
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs pg_dump -Fc {} (archive/dump {:.3}) vs .sql.gz {} (archive/.sql.gz {:.3}); \
         database/archive {:.2}x, database/dump {:.2}x, database/.sql.gz {:.2}x",
        mib(archive_bytes),
        mib(dump_bytes),
        archive_bytes as f64 / dump_bytes as f64,
        mib(gz_bytes),
        archive_bytes as f64 / gz_bytes as f64,
        db_bytes as f64 / archive_bytes as f64,
        db_bytes as f64 / dump_bytes as f64,
        db_bytes as f64 / gz_bytes as f64
    );
    let backstop_rss = [&bs_backup, &bs_verify, &bs_restore]
        .iter()
        .map(|m| m.rss_kib)
        .collect::<Option<Vec<u64>>>();
    match backstop_rss {
        Some(v) => {
            let max = v.iter().copied().max().unwrap_or(0);
            println!(
                "memory:  peak RSS of backstop: backup {}, verify {}, restore {}; max {} = {:.1}% of the database",
                rss(Some(v[0])),
                rss(Some(v[1])),
                rss(Some(v[2])),
                rss(Some(max)),
                100.0 * (max * 1024) as f64 / db_bytes as f64
            );
        }
        None => println!("memory:  peak RSS of backstop: n/a"),
    }
    println!(
        "check:   pgbench_accounts after all three restores equals the source's ({source_print})"
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each step a CHECKPOINT \
         and `sync` flush pending writes and the database's tables are read once; steps run once each, in the order \
         shown, against the same server (whose own CPU and memory are not in the peak RSS column: that is the \
         largest client process, e.g. pg_dump or pg_restore under backstop). backstop's backup also counts rows and \
         hashes the schema in the dump's snapshot and fsyncs and re-reads its archive; its restore extracts the dump, \
         runs pg_restore into a staging database, compares row counts and schema, then swaps by rename; pg_dump, \
         pg_restore and psql do none of that."
    );

    // 4. Drop the run's databases and files; the source stays for the next run.
    let dropped = cleanup.finish();
    println!("Dropped the run's databases ({}).", dropped.join(", "));
    drop(run);
    println!(
        "Kept the database {PG_SOURCE} for the next run (drop it with `dropdb -h {} -p {} -U {} {PG_SOURCE}`).",
        pg.host, pg.port, pg.user
    );
}

fn pg_scale() -> u64 {
    env_positive("BACKSTOP_BENCH_PG_SCALE").unwrap_or(50)
}

/// Reuses `bench_pgbench` when an earlier run made it at this scale, else (re)generates it: `pgbench -i`, a short
/// pgbench run, and the `bench_meta` table that records how it was made.
fn ensure_pg_source(pg: &Pg, runner: &Runner, scale: u64) {
    if let Some(secs) = pg_reusable(pg, scale) {
        println!(
            "  generation:      reused {PG_SOURCE} made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    if pg.exists(PG_SOURCE) {
        println!("  generation:      {PG_SOURCE} is stale or of another scale; making it again");
        pg.drop_database(PG_SOURCE)
            .unwrap_or_else(|e| panic!("cannot drop {PG_SOURCE}: {e}"));
    }
    println!("  generation:      making a pgbench database of scale {scale} ...");
    let start = Instant::now();
    pg.query(
        "postgres",
        &format!("CREATE DATABASE {}", quote_ident(PG_SOURCE)),
    );
    let scale_arg = scale.to_string();
    let init = runner.run(
        "pgbench -i",
        pg.command("pgbench", ["-i", "-s", &scale_arg, "-q", PG_SOURCE]),
        None,
    );
    let clients = PG_WORKLOAD_CLIENTS.to_string();
    let transactions = PG_WORKLOAD_TRANSACTIONS.to_string();
    let mut workload = pg.command(
        "pgbench",
        [
            "-n",
            "-c",
            &clients,
            "-j",
            "2",
            "-t",
            &transactions,
            PG_SOURCE,
        ],
    );
    // Only for generating: commits need not wait for the disk.
    workload.env("PGOPTIONS", "-c synchronous_commit=off");
    let workload = runner.run("pgbench (workload)", workload, None);
    pg.query(
        PG_SOURCE,
        "CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)",
    );
    // `psql -c` runs several statements in one transaction, where VACUUM cannot run.
    pg.query(PG_SOURCE, "VACUUM ANALYZE");
    let secs = start.elapsed().as_secs_f64();
    pg.query(
        PG_SOURCE,
        &format!(
            "INSERT INTO bench_meta (key, value) VALUES ('generator', {}), ('scale', {}), ('generation_secs', {})",
            quote_literal(PG_GENERATOR),
            quote_literal(&scale.to_string()),
            quote_literal(&format!("{secs:.1}"))
        ),
    );
    let bytes = pg.size(PG_SOURCE);
    println!(
        "  generation:      {} in {secs:.1} s ({:.1} MiB/s): pgbench -i -s {scale} {:.1} s, then {} pgbench \
         transactions ({PG_WORKLOAD_CLIENTS} clients) {:.1} s",
        mib(bytes),
        bytes as f64 / MIB / secs,
        init.secs,
        PG_WORKLOAD_CLIENTS * PG_WORKLOAD_TRANSACTIONS,
        workload.secs
    );
}

/// The generation time recorded in `bench_pgbench`, if this generator completed it at this scale.
fn pg_reusable(pg: &Pg, scale: u64) -> Option<f64> {
    if !pg.exists(PG_SOURCE) {
        return None;
    }
    let meta = |key: &str| {
        pg.try_query(
            PG_SOURCE,
            &format!(
                "SELECT value FROM bench_meta WHERE key = {}",
                quote_literal(key)
            ),
        )
        .ok()
        .filter(|v| !v.is_empty())
    };
    if meta("generator")? != PG_GENERATOR || meta("scale")? != scale.to_string() {
        return None;
    }
    meta("generation_secs")?.parse().ok()
}

/// The server, reached with the client tools (`-h`, `-p`, `-U` in argv; no password).
struct Pg {
    host: String,
    port: String,
    user: String,
}

impl Pg {
    fn from_env() -> Pg {
        let setting = |key: &str, default: &str| {
            std::env::var(key)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let port = setting("BACKSTOP_BENCH_PG_PORT", "5432");
        assert!(
            port.parse::<u16>().is_ok(),
            "BACKSTOP_BENCH_PG_PORT must be a port number, not {port:?}"
        );
        Pg {
            host: setting("BACKSTOP_BENCH_PG_HOST", "127.0.0.1"),
            port,
            user: setting("BACKSTOP_BENCH_PG_USER", "postgres"),
        }
    }

    /// A client tool with the connection options first, then `args`.
    fn command<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = command(
            program,
            ["-h", &self.host, "-p", &self.port, "-U", &self.user],
        );
        cmd.args(args);
        // Nothing from the caller's environment picks another database or server setting.
        cmd.env_remove("PGDATABASE")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS")
            .env("PGCONNECT_TIMEOUT", "10");
        cmd
    }

    /// The connection options for a `bash -c` command line.
    fn shell_args(&self) -> String {
        format!(
            "-h {} -p {} -U {}",
            sh_quote(&self.host),
            sh_quote(&self.port),
            sh_quote(&self.user)
        )
    }

    /// One SQL script through psql; its unaligned, tuples-only output, or the command and its stderr.
    fn try_query(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = self.command(
            "psql",
            [
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                db,
                "-c",
                sql,
            ],
        );
        cmd.stdin(Stdio::null());
        let output = cmd
            .output()
            .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{cmd:?} failed ({})\n--- stderr ---\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn query(&self, db: &str, sql: &str) -> String {
        self.try_query(db, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    fn databases(&self) -> Vec<String> {
        self.query("postgres", "SELECT datname FROM pg_database ORDER BY 1")
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    fn exists(&self, db: &str) -> bool {
        self.databases().iter().any(|d| d == db)
    }

    fn size(&self, db: &str) -> u64 {
        let text = self.query(
            "postgres",
            &format!("SELECT pg_database_size({})", quote_literal(db)),
        );
        text.parse()
            .unwrap_or_else(|e| panic!("pg_database_size({db}) returned {text:?}: {e}"))
    }

    fn drop_database(&self, db: &str) -> Result<(), String> {
        self.try_query(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(db)),
        )
        .map(|_| ())
    }

    /// Row count and balance total of `pgbench_accounts`.
    fn fingerprint(&self, db: &str) -> String {
        self.query(
            db,
            "SELECT count(*) || ' rows, sum(abalance) ' || coalesce(sum(abalance), 0) FROM pgbench_accounts",
        )
    }
}

/// Databases this bench makes (never the reusable source): the working copy, the alternatives' targets, and the
/// staging and pre-restore databases of backstop's restore into the working copy.
fn made_by_bench(db: &str) -> bool {
    db == PG_LIVE
        || db == PG_BY_PG_RESTORE
        || db == PG_BY_PSQL
        || db
            .strip_prefix(PG_LIVE)
            .is_some_and(|rest| rest.starts_with("_restore_") || rest.starts_with("_pre_restore_"))
}

/// Drops the bench's databases when dropped (also when the bench panics), unless `finish` did already.
struct PgCleanup<'a> {
    pg: &'a Pg,
    done: bool,
}

impl PgCleanup<'_> {
    /// Drops every database of [`made_by_bench`]; returns their names. Failures are printed, not raised.
    fn sweep(&self) -> Vec<String> {
        let names = match self
            .pg
            .try_query("postgres", "SELECT datname FROM pg_database")
        {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|d| made_by_bench(d))
                .map(str::to_string)
                .collect::<Vec<_>>(),
            Err(e) => {
                eprintln!("cannot list the databases to drop the bench's: {e}");
                return Vec::new();
            }
        };
        let mut dropped = Vec::new();
        for db in names {
            match self.pg.drop_database(&db) {
                Ok(()) => dropped.push(db),
                Err(e) => eprintln!("cannot drop the bench's database {db}: {e}"),
            }
        }
        dropped
    }

    /// Drops the run's databases and checks that none is left.
    fn finish(&mut self) -> Vec<String> {
        self.done = true;
        let dropped = self.sweep();
        let left: Vec<String> = self
            .pg
            .databases()
            .into_iter()
            .filter(|d| made_by_bench(d))
            .collect();
        assert!(
            left.is_empty(),
            "cannot drop the bench's databases {left:?}"
        );
        dropped
    }
}

impl Drop for PgCleanup<'_> {
    fn drop(&mut self) {
        if !self.done {
            let dropped = self.sweep();
            if !dropped.is_empty() {
                println!("Dropped the run's databases ({}).", dropped.join(", "));
            }
        }
    }
}

fn bash(script: &str) -> Command {
    // pipefail: the pipeline fails when any of its commands does, not only the last one.
    command("bash", ["-c", &format!("set -o pipefail; {script}")])
}

/// One word for bash (single quotes take everything literally).
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A SQL identifier.
fn quote_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

// ---------------------------------------------------------------------------------------------------------------
// Files folder

/// Changing the folder generator changes this, so folders made by an older version are not reused.
const FILES_GENERATOR: &str = "files-v1";
/// The folder's name in the working copies, so in every archive and restored copy.
const FILES_NAME: &str = "media";
/// The default folder: 2 GiB in 20,000 files.
const FILES_DEFAULT_MIB: u64 = 2048;
const FILES_DEFAULT_COUNT: u64 = 20_000;
/// Free space wanted in the work folder, as a multiple of the folder's size: the source, three archives of nearly
/// its size (most of its bytes are already compressed), a restored copy at a time, and margin.
const FILES_SPACE_FACTOR: u64 = 6;

fn bench_files(work: &Path) {
    for tool in ["tar", "gzip", "zip"] {
        require_tool(tool);
    }
    require_tool_with("unzip", "-v");
    let (target_mib, count) = files_size(work);
    let (small_mib, small_count) = ((target_mib / 8).max(1), (count / 8).max(1));

    // 1. The source folders: the one measured, and one of 1/8 its size and file count for the memory check.
    let source = ensure_folder(work, target_mib, count);
    let small_source = ensure_folder(work, small_mib, small_count);
    let tree = Tree::list(&source);
    let small_tree = Tree::list(&small_source);
    let bytes = tree.bytes();
    let files = tree.files.len();
    let small_bytes = small_tree.bytes();
    let small_files = small_tree.files.len();
    describe_folder(&source, &tree);
    println!(
        "  small folder:    {} ({} in {small_files} files, {} folders; for the memory check)",
        small_source.display(),
        mib(small_bytes),
        small_tree.dirs.len()
    );
    let start = Instant::now();
    let source_digest = digest_tree(&source);
    let small_digest = digest_tree(&small_source);
    println!(
        "  contents:        SHA-256 of every file taken in {:.1} s, to check the restored copies",
        start.elapsed().as_secs_f64()
    );

    // 2. Working copies made of hard links, so that restores replace them and never touch the sources' files.
    let run = RunDir::create(work.join("files-run"));
    let live_parent = run.path.join("live");
    let live = live_parent.join(FILES_NAME);
    let small_live = run.path.join("small-live").join(FILES_NAME);
    let copied =
        link_tree(&source, &tree, &live) + link_tree(&small_source, &small_tree, &small_live);
    println!(
        "  working copies:  {} and {} ({})",
        live.display(),
        small_live.display(),
        if copied == 0 {
            "hard links to the sources' files".to_string()
        } else {
            format!("hard links to the sources' files, {copied} copied where linking failed")
        }
    );
    let db = run.path.join("app.sqlite3");
    Connection::open(&db)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); \
                 INSERT INTO settings VALUES ('media_dir', 'media'), ('theme', 'light');",
            )
        })
        .unwrap_or_else(|e| panic!("cannot make {}: {e}", db.display()));
    let home = run.path.join("home");
    let runner = Runner::new(&run.path);
    for (name, folder) in [("bench-files", &live), ("bench-files-small", &small_live)] {
        runner.run(
            "backstop profile add",
            backstop(
                &home,
                [
                    OsStr::new("profile"),
                    OsStr::new("add"),
                    OsStr::new(name),
                    OsStr::new("--sqlite"),
                    db.as_os_str(),
                    OsStr::new("--files"),
                    folder.as_os_str(),
                    OsStr::new("--no-auto"),
                ],
            ),
            None,
        );
    }
    print_rss_method(&runner);
    println!(
        "  page cache:      warm for every step: each file of the folder is read once before each backup, the \
         archive before each verify and restore, then `sync`"
    );
    println!();
    // Same start for every step: what it reads in the page cache, no writeback pending from the step before.
    let settle = |folder: Option<&Path>, file: Option<&Path>| {
        if let Some(folder) = folder {
            warm_tree(folder);
        }
        if let Some(file) = file {
            warm(file);
        }
        sync();
    };
    let sync_step = || runner.run("sync", Command::new("sync"), None);

    // a. backstop backup --kind files
    settle(Some(&live), None);
    progress("backstop backup --profile bench-files --kind files");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(
            &home,
            [
                "backup",
                "--profile",
                "bench-files",
                "--kind",
                "files",
                "--json",
            ],
        ),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_bytes = file_len(&archive);

    // b. tar -czf, then sync
    settle(Some(&live), None);
    progress("tar -czf");
    let tgz = run.path.join("out.tar.gz");
    let tar_c = runner.run(
        "tar -czf",
        command(
            "tar",
            [
                OsStr::new("-czf"),
                tgz.as_os_str(),
                OsStr::new("-C"),
                live_parent.as_os_str(),
                OsStr::new(FILES_NAME),
            ],
        ),
        None,
    );
    let tar_c_sync = sync_step();
    let tgz_bytes = file_len(&tgz);

    // c. zip -qr (from the folder's parent: Info-ZIP has no -C), then sync
    settle(Some(&live), None);
    progress("zip -qr");
    let zip = run.path.join("out.zip");
    let mut zip_cmd = command(
        "zip",
        [OsStr::new("-qr"), zip.as_os_str(), OsStr::new(FILES_NAME)],
    );
    zip_cmd.current_dir(&live_parent);
    let zip_c = runner.run("zip -qr", zip_cmd, None);
    let zip_c_sync = sync_step();
    let zip_bytes = file_len(&zip);

    // d. backstop verify
    settle(None, Some(&archive));
    progress("backstop verify");
    let bs_verify = runner.run(
        "backstop verify",
        backstop(&home, ["verify", &backup_id.to_string()]),
        None,
    );

    // e. backstop restore: extracted beside the folder, checked, swapped in by rename; the replaced folder is kept
    // as `media.pre_restore_<stamp>`, removed here (untimed).
    settle(None, Some(&archive));
    progress("backstop restore --yes --no-safety-backup");
    let bs_restore = runner.run(
        "backstop restore",
        backstop(
            &home,
            [
                "restore",
                &backup_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    remove_pre_restore(&live);
    check_tree("after backstop restore", &source_digest, &live);

    // f. tar -xzf into a fresh folder, then sync
    settle(None, Some(&tgz));
    progress("tar -xzf");
    let by_tar = run.path.join("tar-restored");
    create_dir(&by_tar);
    let tar_x = runner.run(
        "tar -xzf",
        command(
            "tar",
            [
                OsStr::new("-xzf"),
                tgz.as_os_str(),
                OsStr::new("-C"),
                by_tar.as_os_str(),
            ],
        ),
        None,
    );
    let tar_x_sync = sync_step();
    check_tree("after tar -xzf", &source_digest, &by_tar.join(FILES_NAME));
    discard(&by_tar);

    // g. unzip -q into a fresh folder, then sync
    settle(None, Some(&zip));
    progress("unzip -q");
    let by_unzip = run.path.join("unzip-restored");
    create_dir(&by_unzip);
    let unzip = runner.run(
        "unzip -q",
        command(
            "unzip",
            [
                OsStr::new("-q"),
                zip.as_os_str(),
                OsStr::new("-d"),
                by_unzip.as_os_str(),
            ],
        ),
        None,
    );
    let unzip_sync = sync_step();
    check_tree("after unzip -q", &source_digest, &by_unzip.join(FILES_NAME));
    discard(&by_unzip);

    // h. The memory check: the same backstop steps on the folder of 1/8 the size and file count.
    settle(Some(&small_live), None);
    progress("backstop backup --profile bench-files-small --kind files");
    let small_backup = runner.run(
        "backstop backup (small folder)",
        backstop(
            &home,
            [
                "backup",
                "--profile",
                "bench-files-small",
                "--kind",
                "files",
                "--json",
            ],
        ),
        None,
    );
    let (small_id, small_archive) = backup_report(&small_backup);
    let small_archive_bytes = file_len(&small_archive);
    settle(None, Some(&small_archive));
    progress("backstop verify (small folder)");
    let small_verify = runner.run(
        "backstop verify (small folder)",
        backstop(&home, ["verify", &small_id.to_string()]),
        None,
    );
    settle(None, Some(&small_archive));
    progress("backstop restore --yes --no-safety-backup (small folder)");
    let small_restore = runner.run(
        "backstop restore (small folder)",
        backstop(
            &home,
            [
                "restore",
                &small_id.to_string(),
                "--yes",
                "--no-safety-backup",
            ],
        ),
        None,
    );
    remove_pre_restore(&small_live);
    check_tree(
        "after backstop restore (small folder)",
        &small_digest,
        &small_live,
    );
    println!();

    // 3. The results.
    let tar_c_all = Measured::sum(&tar_c, &tar_c_sync);
    let zip_c_all = Measured::sum(&zip_c, &zip_c_sync);
    let tar_x_all = Measured::sum(&tar_x, &tar_x_sync);
    let unzip_all = Measured::sum(&unzip, &unzip_sync);
    let rate = |m: &Measured| bytes as f64 / MIB / m.secs;
    let small_rate = |m: &Measured| small_bytes as f64 / MIB / m.secs;
    let ratio = |ours: &Measured, theirs: &Measured| ours.secs / theirs.secs;
    println!(
        "Results for a {} folder of {files} files ({bytes} bytes); MiB/s = folder size / time; backstop/alt on each \
         alternative's row",
        mib(bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup --kind files",
        &bs_backup,
        rate(&bs_backup),
        Some(archive_bytes),
        None,
    );
    for (tool, m, out) in [
        ("tar -czf", &tar_c, tgz_bytes),
        ("tar -czf + sync", &tar_c_all, tgz_bytes),
        ("zip -qr", &zip_c, zip_bytes),
        ("zip -qr + sync", &zip_c_all, zip_bytes),
    ] {
        table.row("", tool, m, rate(m), Some(out), Some(ratio(&bs_backup, m)));
    }
    table.row(
        "verify",
        "backstop verify",
        &bs_verify,
        rate(&bs_verify),
        None,
        None,
    );
    table.row(
        "restore",
        "backstop restore",
        &bs_restore,
        rate(&bs_restore),
        Some(bytes),
        None,
    );
    for (tool, m) in [
        ("tar -xzf", &tar_x),
        ("tar -xzf + sync", &tar_x_all),
        ("unzip -q", &unzip),
        ("unzip -q + sync", &unzip_all),
    ] {
        table.row(
            "",
            tool,
            m,
            rate(m),
            Some(bytes),
            Some(ratio(&bs_restore, m)),
        );
    }
    table.print();
    println!();
    println!(
        "Memory check: the same backstop steps on a {} folder of {small_files} files (1/8 the size and file count)",
        mib(small_bytes)
    );
    let mut small_table = Table::default();
    small_table.row(
        "backup",
        "backstop backup --kind files",
        &small_backup,
        small_rate(&small_backup),
        Some(small_archive_bytes),
        None,
    );
    small_table.row(
        "verify",
        "backstop verify",
        &small_verify,
        small_rate(&small_verify),
        None,
        None,
    );
    small_table.row(
        "restore",
        "backstop restore",
        &small_restore,
        small_rate(&small_restore),
        Some(small_bytes),
        None,
    );
    small_table.print();
    println!();
    println!(
        "backup:  backstop {:.2} s ({:.1} MiB/s); tar -czf {:.2} s ({:.1} MiB/s), ratio {:.2}; zip -qr {:.2} s \
         ({:.1} MiB/s), ratio {:.2}; with a sync after tar / zip: ratio {:.2} / {:.2}",
        bs_backup.secs,
        rate(&bs_backup),
        tar_c.secs,
        rate(&tar_c),
        ratio(&bs_backup, &tar_c),
        zip_c.secs,
        rate(&zip_c),
        ratio(&bs_backup, &zip_c),
        ratio(&bs_backup, &tar_c_all),
        ratio(&bs_backup, &zip_c_all)
    );
    println!(
        "restore: backstop {:.2} s ({:.1} MiB/s); tar -xzf {:.2} s ({:.1} MiB/s), ratio {:.2}; unzip -q {:.2} s \
         ({:.1} MiB/s), ratio {:.2}; with a sync after tar / unzip: ratio {:.2} / {:.2}",
        bs_restore.secs,
        rate(&bs_restore),
        tar_x.secs,
        rate(&tar_x),
        ratio(&bs_restore, &tar_x),
        unzip.secs,
        rate(&unzip),
        ratio(&bs_restore, &unzip),
        ratio(&bs_restore, &tar_x_all),
        ratio(&bs_restore, &unzip_all)
    );
    println!(
        "verify:  backstop {:.2} s ({:.1} MiB/s)",
        bs_verify.secs,
        rate(&bs_verify)
    );
    println!(
        "size:    archive {} vs .tar.gz {} (archive/.tar.gz {:.3}) vs .zip {} (archive/.zip {:.3}); folder/archive \
         {:.2}x, folder/.tar.gz {:.2}x, folder/.zip {:.2}x",
        mib(archive_bytes),
        mib(tgz_bytes),
        archive_bytes as f64 / tgz_bytes as f64,
        mib(zip_bytes),
        archive_bytes as f64 / zip_bytes as f64,
        bytes as f64 / archive_bytes as f64,
        bytes as f64 / tgz_bytes as f64,
        bytes as f64 / zip_bytes as f64
    );
    println!(
        "memory:  peak RSS of backstop with {files} files ({}): backup {}, verify {}, restore {}; with {small_files} \
         files ({}): backup {}, verify {}, restore {}",
        mib(bytes),
        rss(bs_backup.rss_kib),
        rss(bs_verify.rss_kib),
        rss(bs_restore.rss_kib),
        mib(small_bytes),
        rss(small_backup.rss_kib),
        rss(small_verify.rss_kib),
        rss(small_restore.rss_kib)
    );
    println!(
        "check:   the folders restored by backstop, tar and unzip hold the source's {files} files and {} folders, \
         each file with the source's SHA-256 (the small folder's restore too: {small_files} files)",
        tree.dirs.len()
    );
    println!();
    println!(
        "Notes: the page cache cannot be dropped without root, so no step starts cold: before each backup every file \
         of the folder is read once, before each verify and restore the archive, and `sync` flushes pending writes; \
         steps run once each, in the order shown. backstop stores already-compressed files (.jpg, .png, .mp4, .zip, \
         ...) as they are, where tar -z deflates every byte and zip every file but the .zip ones (storing what does \
         not shrink); it also fsyncs and re-reads its archive after writing it, and its restore checks each file's \
         SHA-256 as it writes it, extracts beside the folder, syncs that file system once (syncfs) and swaps by \
         rename. tar and unzip do none of that and leave their output to the kernel to write: the `+ sync` rows \
         add the time `sync` then takes to put it on disk."
    );

    // 4. Clean up the run's copies; the source folders stay for the next run.
    drop(run);
    println!(
        "Kept {} and {} for the next run.",
        source.display(),
        small_source.display()
    );
}

/// The folder's size in MiB and its file count: the settings, else 2048 MiB in 20,000 files, smaller when the work
/// folder has less than [`FILES_SPACE_FACTOR`] times that free (a folder cached by an earlier run counts as free).
fn files_size(work: &Path) -> (u64, u64) {
    let count = env_positive("BACKSTOP_BENCH_FILES_COUNT").unwrap_or(FILES_DEFAULT_COUNT);
    let free = backstop::fsutil::available_space(work);
    // The space a cached folder takes is free for this run's purposes: it need not be made again.
    let usable = |mib_: u64| {
        free.map(|f| {
            let cached = folder_paths(work, mib_, count);
            f + folder_reusable(&cached.0, &cached.1)
                .map(|_| mib_ << 20)
                .unwrap_or(0)
        })
    };
    let wanted = |mib_: u64| (mib_ << 20) * FILES_SPACE_FACTOR;
    println!(
        "  disk:            {} free in {}",
        free.map(mib).unwrap_or_else(|| "n/a".into()),
        work.display()
    );
    if let Some(target) = env_positive("BACKSTOP_BENCH_FILES_MB") {
        if let Some(usable) = usable(target)
            && usable < wanted(target)
        {
            println!(
                "  warning:         a {target} MiB folder wants {} free ({FILES_SPACE_FACTOR} times its size); \
                 going on as BACKSTOP_BENCH_FILES_MB asks",
                mib(wanted(target))
            );
        }
        return (target, count);
    }
    match usable(FILES_DEFAULT_MIB) {
        Some(usable) if usable < wanted(FILES_DEFAULT_MIB) => {
            let target = ((usable / FILES_SPACE_FACTOR) >> 20) / 64 * 64;
            assert!(
                target >= 64,
                "only {} free in {}: the files bench needs at least {}",
                mib(usable),
                work.display(),
                mib(wanted(64))
            );
            println!(
                "  size:            {target} MiB instead of {FILES_DEFAULT_MIB}: the default folder wants {} free \
                 ({FILES_SPACE_FACTOR} times its size) and only {} is; set BACKSTOP_BENCH_FILES_MB to choose",
                mib(wanted(FILES_DEFAULT_MIB)),
                mib(usable)
            );
            (target, count)
        }
        _ => (FILES_DEFAULT_MIB, count),
    }
}

/// The cached folder of this size and count, and the `.done` file beside it that records how it was made.
fn folder_paths(work: &Path, target_mib: u64, count: u64) -> (PathBuf, PathBuf) {
    let name = format!("files-{target_mib}mib-{count}");
    (work.join(&name), work.join(format!("{name}.done")))
}

/// Reuses the folder an earlier run made for this size and count, else generates it; returns its path.
fn ensure_folder(work: &Path, target_mib: u64, count: u64) -> PathBuf {
    let (path, done) = folder_paths(work, target_mib, count);
    if let Some(secs) = folder_reusable(&path, &done) {
        println!(
            "  generation:      reused {} made by an earlier run (it took {secs:.1} s to generate)",
            path.display()
        );
        return path;
    }
    if path.exists() || done.exists() {
        println!(
            "  generation:      {} is stale; making it again",
            path.display()
        );
        let _ = std::fs::remove_file(&done);
        remove_tree(&path);
    }
    let partial = path.with_extension("partial");
    remove_tree(&partial);
    println!("  generation:      making a {target_mib} MiB folder of {count} files ...");
    let start = Instant::now();
    generate_folder(&partial, target_mib << 20, count);
    std::fs::rename(&partial, &path).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    });
    sync();
    let secs = start.elapsed().as_secs_f64();
    let tree = Tree::list(&path);
    std::fs::write(
        &done,
        format!(
            "generator {FILES_GENERATOR}\nfiles {}\nbytes {}\ngeneration_secs {secs:.1}\n",
            tree.files.len(),
            tree.bytes()
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", done.display()));
    println!(
        "  generation:      {} in {} files in {secs:.1} s ({:.1} MiB/s)",
        mib(tree.bytes()),
        tree.files.len(),
        tree.bytes() as f64 / MIB / secs
    );
    path
}

/// The generation time recorded beside the folder, if this generator completed it and it still holds what it
/// made (same number of files, same total size).
fn folder_reusable(path: &Path, done: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(done).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .map(str::to_string)
    };
    if field("generator")? != FILES_GENERATOR || !path.is_dir() {
        return None;
    }
    let tree = Tree::list(path);
    if field("files")? != tree.files.len().to_string()
        || field("bytes")? != tree.bytes().to_string()
    {
        return None;
    }
    field("generation_secs")?.parse().ok()
}

fn remove_tree(path: &Path) {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
    }
}

fn create_dir(path: &Path) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
}

/// Removes a restored copy once it is checked, unless `BACKSTOP_BENCH_KEEP=1` (then the run's folder keeps it).
fn discard(path: &Path) {
    if !keep_run() {
        remove_tree(path);
    }
}

/// Prints the folder's size, file count, layout and its split into compressible and already-compressed files.
fn describe_folder(path: &Path, tree: &Tree) {
    let bytes = tree.bytes();
    let (packed, text): (Vec<_>, Vec<_>) = tree
        .files
        .iter()
        .partition(|(rel, _)| backstop::files::already_compressed(rel));
    let sum = |v: &[&(String, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
    let exts = |v: &[&(String, u64)]| {
        let mut by_ext: BTreeMap<&str, u64> = BTreeMap::new();
        for (rel, _) in v {
            *by_ext
                .entry(rel.rsplit_once('.').map_or("", |(_, e)| e))
                .or_default() += 1;
        }
        by_ext
            .iter()
            .map(|(e, n)| format!("{n} .{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let share = |n: u64| 100.0 * n as f64 / bytes as f64;
    let band = |lo: u64, hi: u64| {
        tree.files
            .iter()
            .filter(|(_, n)| (lo..hi).contains(n))
            .count()
    };
    let largest = tree.files.iter().map(|(_, n)| *n).max().unwrap_or(0);
    println!(
        "  folder:          {} ({}, {} files in {} folders, {} levels deep)",
        path.display(),
        mib(bytes),
        tree.files.len(),
        tree.dirs.len(),
        tree.depth()
    );
    println!(
        "  compressible:    {} ({:.1}%) in {} files: {}",
        mib(sum(&text)),
        share(sum(&text)),
        text.len(),
        exts(&text)
    );
    println!(
        "  incompressible:  {} ({:.1}%) in {} files (random bytes, already-compressed kinds): {}",
        mib(sum(&packed)),
        share(sum(&packed)),
        packed.len(),
        exts(&packed)
    );
    println!(
        "  file sizes:      {} under 16 KiB, {} of 16 KiB-1 MiB, {} of 1-10 MiB, {} of 10 MiB or more (largest {})",
        band(0, 16 << 10),
        band(16 << 10, 1 << 20),
        band(1 << 20, 10 << 20),
        band(10 << 20, u64::MAX),
        mib(largest)
    );
}

/// A folder's sub-folders and files (paths relative to it, with `/`, sorted); the generator makes nothing else.
struct Tree {
    dirs: Vec<String>,
    files: Vec<(String, u64)>,
}

impl Tree {
    fn list(root: &Path) -> Tree {
        let mut tree = Tree {
            dirs: Vec::new(),
            files: Vec::new(),
        };
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel_dir)) = stack.pop() {
            let listing = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
            for entry in listing {
                let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
                let path = entry.path();
                let name = entry
                    .file_name()
                    .into_string()
                    .unwrap_or_else(|_| panic!("{} is not a UTF-8 name", path.display()));
                let rel = if rel_dir.is_empty() {
                    name
                } else {
                    format!("{rel_dir}/{name}")
                };
                let meta = std::fs::symlink_metadata(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                if meta.is_dir() {
                    tree.dirs.push(rel.clone());
                    stack.push((path, rel));
                } else if meta.is_file() {
                    tree.files.push((rel, meta.len()));
                } else {
                    panic!("{} is neither a folder nor a file", path.display());
                }
            }
        }
        tree.dirs.sort();
        tree.files.sort();
        tree
    }

    fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, n)| n).sum()
    }

    fn depth(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| d.split('/').count())
            .max()
            .unwrap_or(0)
    }
}

/// Reads every file of a folder once, so that they are in the page cache.
fn warm_tree(root: &Path) {
    for (rel, _) in &Tree::list(root).files {
        warm(&root.join(rel));
    }
}

/// A folder in hard links to `source`'s files (a copy where linking fails); returns how many were copied.
fn link_tree(source: &Path, tree: &Tree, dest: &Path) -> usize {
    create_dir(dest);
    for dir in &tree.dirs {
        create_dir(&dest.join(dir));
    }
    let mut copied = 0;
    for (rel, _) in &tree.files {
        let (from, to) = (source.join(rel), dest.join(rel));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap_or_else(|e| {
                panic!("cannot copy {} to {}: {e}", from.display(), to.display())
            });
            copied += 1;
        }
    }
    copied
}

/// What a folder holds: its folders, and each file's path, size and SHA-256, summed up in one SHA-256.
#[derive(Debug, PartialEq)]
struct TreeDigest {
    files: usize,
    dirs: usize,
    bytes: u64,
    sha256: String,
}

fn digest_tree(root: &Path) -> TreeDigest {
    let tree = Tree::list(root);
    let mut all = Sha256::new();
    for dir in &tree.dirs {
        all.update(format!("d {dir}\n"));
    }
    for (rel, size) in &tree.files {
        let path = root.join(rel);
        let mut file =
            File::open(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut one = Sha256::new();
        std::io::copy(&mut file, &mut one)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        all.update(format!("f {rel} {size} {}\n", hex::encode(one.finalize())));
    }
    TreeDigest {
        files: tree.files.len(),
        dirs: tree.dirs.len(),
        bytes: tree.bytes(),
        sha256: hex::encode(all.finalize()),
    }
}

fn check_tree(when: &str, expected: &TreeDigest, root: &Path) {
    let found = digest_tree(root);
    assert!(
        &found == expected,
        "{when}: {} differs from the source\n  source:   {expected:?}\n  restored: {found:?}",
        root.display()
    );
}

/// Removes the `<folder>.pre_restore_<stamp>` copy that a restore keeps beside the folder it replaced.
fn remove_pre_restore(live: &Path) {
    let parent = live.parent().expect("the working copy has a parent");
    let prefix = format!("{FILES_NAME}.pre_restore_");
    let kept: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", parent.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(
        !kept.is_empty(),
        "backstop restore kept no {prefix}* copy of the folder it replaced in {}",
        parent.display()
    );
    for path in &kept {
        remove_tree(path);
    }
}

// The generated folder: a web app's media folder. Most files by count are small text (pages, JSON sidecars,
// CSV, styles, scripts); most bytes are photos, videos and zips (random bytes, as incompressible as real ones);
// exports, logs and dumps make medium and large compressible files.

/// One kind of file: its extension, how often it is picked within its class, the folders it goes into
/// (`MONTH`: one of `uploads/<year>/<month>`, `THUMBS`: one of `cache/thumbs/<xx>`), and its size relative to
/// the class's other files (between the two, spread on a log scale).
struct FileKind {
    ext: &'static str,
    weight: u64,
    dirs: &'static [&'static str],
    sizes: (f64, f64),
}

/// A share of the folder: how many of its files (per 10,000, or exactly `fixed`) and what percent of its bytes.
struct FileClass {
    per_10k: u64,
    fixed: u64,
    percent: u64,
    /// Picked in turn (for the few large files) instead of by weight.
    in_turn: bool,
    kinds: &'static [FileKind],
}

const fn kind(
    ext: &'static str,
    weight: u64,
    dirs: &'static [&'static str],
    sizes: (f64, f64),
) -> FileKind {
    FileKind {
        ext,
        weight,
        dirs,
        sizes,
    }
}

/// The classes; the first takes the files the others leave. Compressible: 5 + 18 + 12 = 35% of the bytes.
const FILE_CLASSES: [FileClass; 5] = [
    // Small text: a few KiB each.
    FileClass {
        per_10k: 0,
        fixed: 0,
        percent: 5,
        in_turn: false,
        kinds: &[
            kind("json", 30, &["MONTH", "exports/json"], (1.0, 16.0)),
            kind(
                "html",
                25,
                &["pages/blog", "pages/docs", "pages/help"],
                (1.0, 16.0),
            ),
            kind("txt", 10, &["MONTH"], (1.0, 16.0)),
            kind("md", 10, &["pages/docs", "pages/help"], (1.0, 16.0)),
            kind("csv", 8, &["exports/csv"], (1.0, 16.0)),
            kind("js", 7, &["static/js"], (1.0, 16.0)),
            kind("css", 5, &["static/css"], (1.0, 16.0)),
            kind("svg", 5, &["static/img"], (1.0, 16.0)),
        ],
    },
    // Images: thumbnails and avatars of a few KiB, photos of tens to hundreds of KiB.
    FileClass {
        per_10k: 2_500,
        fixed: 0,
        percent: 27,
        in_turn: false,
        kinds: &[
            kind("jpg", 50, &["MONTH"], (4.0, 40.0)),
            kind("jpg", 35, &["THUMBS"], (1.0, 3.0)),
            kind("png", 10, &["MONTH", "static/img"], (2.0, 20.0)),
            kind("png", 5, &["uploads/avatars"], (1.0, 2.0)),
        ],
    },
    // Medium text: exports, reports and logs of tens of KiB to a few MiB.
    FileClass {
        per_10k: 400,
        fixed: 0,
        percent: 18,
        in_turn: false,
        kinds: &[
            kind("csv", 30, &["exports/csv"], (1.0, 32.0)),
            kind("json", 30, &["exports/json"], (1.0, 32.0)),
            kind("log", 25, &["logs"], (1.0, 32.0)),
            kind("html", 15, &["exports/reports"], (1.0, 32.0)),
        ],
    },
    // Large text: an access log, a database dump and an export, tens of MiB each at the default size.
    FileClass {
        per_10k: 0,
        fixed: 3,
        percent: 12,
        in_turn: true,
        kinds: &[
            kind("log", 1, &["logs"], (1.0, 3.0)),
            kind("sql", 1, &["db-dumps"], (1.0, 3.0)),
            kind("csv", 1, &["exports/csv"], (1.0, 3.0)),
        ],
    },
    // Large media: videos and zips, about a hundred MiB each at the default size.
    FileClass {
        per_10k: 0,
        fixed: 6,
        percent: 38,
        in_turn: true,
        kinds: &[
            kind("mp4", 1, &["videos/raw"], (1.0, 4.0)),
            kind("mp4", 1, &["videos/web"], (1.0, 4.0)),
            kind("zip", 1, &["archives"], (1.0, 4.0)),
        ],
    },
];

/// Writes the folder at `root`: `total` bytes in `count` files, always the same for the same two numbers.
fn generate_folder(root: &Path, total: u64, count: u64) {
    let fixed: u64 = FILE_CLASSES.iter().map(|c| c.fixed).sum();
    let counts: Vec<u64> = FILE_CLASSES
        .iter()
        .map(|c| c.fixed + count * c.per_10k / 10_000)
        .collect();
    let rest = count.saturating_sub(counts.iter().sum());
    assert!(
        count >= 100 && rest > 0 && total >= 1 << 20,
        "the files folder needs at least 100 files and 1 MiB (asked: {count} files, {total} bytes; {fixed} are large)"
    );

    // The folders: uploads by year and month, static assets, pages, exports, videos, archives, logs, dumps and
    // a thumbnail cache.
    let mut dirs: Vec<String> = [
        "uploads",
        "uploads/avatars",
        "static",
        "static/css",
        "static/js",
        "static/img",
        "pages",
        "pages/blog",
        "pages/docs",
        "pages/help",
        "exports",
        "exports/csv",
        "exports/json",
        "exports/reports",
        "videos",
        "videos/raw",
        "videos/web",
        "archives",
        "logs",
        "db-dumps",
        "cache",
        "cache/thumbs",
    ]
    .map(String::from)
    .to_vec();
    let mut months = Vec::new();
    for year in 2019..=2024 {
        dirs.push(format!("uploads/{year}"));
        for month in 1..=12 {
            months.push(format!("uploads/{year}/{month:02}"));
        }
    }
    let thumbs: Vec<String> = (0..16).map(|i| format!("cache/thumbs/{i:02x}")).collect();
    dirs.extend(months.iter().cloned());
    dirs.extend(thumbs.iter().cloned());
    for dir in &dirs {
        create_dir(&root.join(dir));
    }

    // The plan: each file's path, extension and size; sizes in a class share its bytes by their weights.
    let mut g = Gen::new();
    let mut plan: Vec<(String, &'static str, u64)> = Vec::with_capacity(count as usize);
    let mut index = 0u64;
    for (class_index, class) in FILE_CLASSES.iter().enumerate() {
        let files = if class_index == 0 {
            rest
        } else {
            counts[class_index]
        };
        let class_bytes = total * class.percent / 100;
        let all_weight: u64 = class.kinds.iter().map(|k| k.weight).sum();
        let mut picked = Vec::with_capacity(files as usize);
        for i in 0..files {
            let kind = if class.in_turn {
                &class.kinds[i as usize % class.kinds.len()]
            } else {
                let mut draw = g.below(all_weight);
                class
                    .kinds
                    .iter()
                    .find(|k| {
                        let hit = draw < k.weight;
                        draw = draw.saturating_sub(k.weight);
                        hit
                    })
                    .expect("the draw is below the total weight")
            };
            let dir = match kind.dirs[g.below(kind.dirs.len() as u64) as usize] {
                "MONTH" => &months[g.below(months.len() as u64) as usize],
                "THUMBS" => &thumbs[g.below(thumbs.len() as u64) as usize],
                other => other,
            };
            index += 1;
            let stem = match (kind.ext, dir.starts_with("cache/")) {
                ("jpg", true) => "thumb".to_string(),
                ("jpg", false) => "IMG".to_string(),
                _ => g.word_string(),
            };
            let weight = g.log_uniform(kind.sizes.0, kind.sizes.1);
            picked.push((
                format!("{dir}/{stem}-{index:05}.{}", kind.ext),
                kind.ext,
                weight,
            ));
        }
        let sum: f64 = picked.iter().map(|p| p.2).sum();
        plan.extend(
            picked
                .into_iter()
                .map(|(rel, ext, w)| (rel, ext, ((class_bytes as f64 * w / sum) as u64).max(1))),
        );
    }
    // Rounding leaves a few bytes over (or short): the largest file takes the difference.
    let planned: u64 = plan.iter().map(|p| p.2).sum();
    if let Some(largest) = plan.iter_mut().max_by_key(|p| p.2) {
        largest.2 = (largest.2 + total).saturating_sub(planned);
    }

    for (rel, ext, size) in &plan {
        let path = root.join(rel);
        write_generated(&mut g, &path, ext, *size)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

fn write_generated(g: &mut Gen, path: &Path, ext: &str, size: u64) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    if backstop::files::already_compressed(&format!("x.{ext}")) {
        // The format's signature, then random bytes.
        let magic: &[u8] = match ext {
            "jpg" => b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
            "png" => b"\x89PNG\r\n\x1a\n",
            "mp4" => b"\x00\x00\x00\x20ftypisom",
            "zip" => b"PK\x03\x04",
            _ => b"",
        };
        let head = magic.len().min(size as usize);
        out.write_all(&magic[..head])?;
        let mut left = size - head as u64;
        let mut buf = vec![0u8; 64 << 10];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            g.fill(&mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
    } else {
        // Records of the file's kind until the size is reached; the last one is cut off there.
        let mut record = String::new();
        let mut text = String::new();
        let mut clock: i64 = 1_546_300_800 + g.below(86_400 * 365 * 5) as i64;
        let mut left = size;
        let mut n = 0u64;
        while left > 0 {
            record.clear();
            text_record(g, ext, n, &mut clock, &mut record, &mut text);
            let take = (record.len() as u64).min(left) as usize;
            out.write_all(&record.as_bytes()[..take])?;
            left -= take as u64;
            n += 1;
        }
    }
    out.flush()
}

/// Appends record `n` of a text file of kind `ext` to `out` (a line, a paragraph, a rule; `n == 0` starts with the
/// file's header where the kind has one). `clock` moves forward through the file.
fn text_record(
    g: &mut Gen,
    ext: &str,
    n: u64,
    clock: &mut i64,
    out: &mut String,
    text: &mut String,
) {
    *clock += 1 + g.below(90) as i64;
    let first = FIRST_NAMES[g.below(FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[g.below(LAST_NAMES.len() as u64) as usize];
    match ext {
        "html" => {
            if n == 0 {
                let _ = write!(
                    out,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} {}</title>\n\
                     <link rel=\"stylesheet\" href=\"/static/css/site.css\">\n</head>\n<body>\n",
                    g.capitalized(),
                    g.word_string()
                );
            }
            let words = 20 + g.skewed(150);
            g.prose(text, words);
            let _ = write!(
                out,
                "<article class=\"post\" id=\"post-{n}\">\n  <h2>{} {}</h2>\n  <p class=\"meta\">by {first} {last}, \
                 {}</p>\n  <p>{text}</p>\n  <p><a href=\"/pages/{}-{}.html\">Read more</a></p>\n</article>\n",
                g.capitalized(),
                g.word_string(),
                timestamp(*clock),
                g.word_string(),
                g.below(100_000)
            );
        }
        "md" => {
            let words = 20 + g.skewed(150);
            g.prose(text, words);
            let _ = write!(
                out,
                "## {} {}\n\n{text}\n\n- {} {}\n- {}\n\n",
                g.capitalized(),
                g.word_string(),
                g.capitalized(),
                g.word_string(),
                g.capitalized()
            );
        }
        "json" => {
            let words = 5 + g.skewed(40);
            g.prose(text, words);
            let _ = writeln!(
                out,
                "{{\"id\":{},\"file\":\"IMG-{:05}.jpg\",\"title\":\"{} {}\",\"author\":\"{first} {last}\",\
                 \"taken_at\":\"{}\",\"width\":{},\"height\":{},\"tags\":[\"{}\",\"{}\"],\"caption\":\"{text}\"}}",
                n + 1,
                g.below(100_000),
                g.capitalized(),
                g.word_string(),
                timestamp(*clock),
                320 * (1 + g.below(12)),
                240 * (1 + g.below(12)),
                g.word_string(),
                g.word_string()
            );
        }
        "csv" => {
            if n == 0 {
                out.push_str("id,date,customer,email,city,country,amount_cents,status\n");
            }
            let _ = writeln!(
                out,
                "{},{},{first} {last},{}.{}@{},{},{},{},{}",
                n + 1,
                timestamp(*clock),
                first.to_lowercase(),
                last.to_lowercase(),
                DOMAINS[g.skewed(DOMAINS.len() as u64) as usize],
                g.capitalized(),
                COUNTRIES[g.skewed(COUNTRIES.len() as u64) as usize],
                99 + g.skewed(50_000) * 7,
                STATUSES[g.skewed(STATUSES.len() as u64) as usize]
            );
        }
        "css" => {
            let _ = write!(
                out,
                ".{}-{} {{\n  color: #{:06x};\n  margin: {}px {}px;\n  font-size: {}px;\n}}\n",
                g.word_string(),
                g.word_string(),
                g.below(1 << 24),
                g.below(5) * 4,
                g.below(5) * 8,
                12 + g.below(6) * 2
            );
        }
        "js" => {
            let (name, field, local) = (g.word_string(), g.word_string(), g.word_string());
            let _ = write!(
                out,
                "export function {name}{}(a, b) {{\n  const {local} = a.{field} + b * {};\n  \
                 return {local} > {} ? \"{}\" : null;\n}}\n",
                g.capitalized(),
                g.below(1000),
                g.below(10_000),
                g.word_string()
            );
        }
        "svg" => {
            if n == 0 {
                let _ = writeln!(
                    out,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {0}\">",
                    16 * (1 + g.below(8))
                );
            }
            let _ = writeln!(
                out,
                "  <path d=\"M{} {} L{} {} Q{} {} {} {} Z\" fill=\"#{:06x}\"/>",
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(128),
                g.below(1 << 24)
            );
        }
        "log" => {
            let t = chrono::DateTime::from_timestamp(*clock, 0)
                .expect("timestamps stay in range")
                .naive_utc();
            let _ = writeln!(
                out,
                "{}-{:02}-{:02}T{:02}:{:02}:{:02}Z INFO 10.{}.{}.{} \"GET /uploads/{}/{:02}/IMG-{:05}.jpg HTTP/1.1\" \
                 {} {} {}ms \"{}\"",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                g.below(256),
                g.below(256),
                g.below(256),
                2019 + g.below(6),
                1 + g.below(12),
                g.below(100_000),
                [200, 200, 200, 200, 304, 404][g.below(6) as usize],
                g.skewed(2_000_000),
                1 + g.skewed(900),
                USER_AGENTS[g.below(USER_AGENTS.len() as u64) as usize]
            );
        }
        "sql" => {
            if n == 0 {
                out.push_str(
                    "-- media app dump\nCREATE TABLE uploads (id integer PRIMARY KEY, owner text NOT NULL, \
                     path text NOT NULL, uploaded_at timestamp NOT NULL, address text, bytes bigint NOT NULL);\n",
                );
            }
            let mut address = String::new();
            g.address(&mut address);
            let _ = writeln!(
                out,
                "INSERT INTO uploads VALUES ({}, '{first} {last}', 'uploads/{}/{:02}/IMG-{:05}.jpg', '{}', '{address}', {});",
                n + 1,
                2019 + g.below(6),
                1 + g.below(12),
                g.below(100_000),
                timestamp(*clock),
                g.skewed(5_000_000)
            );
        }
        _ => {
            let words = 20 + g.skewed(200);
            g.prose(text, words);
            out.push_str(text);
            out.push_str("\n\n");
        }
    }
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "curl/8.5.0",
];
