//! What every part of the bench shares: settings, the work folder, the tools, running and timing commands (with
//! their peak RSS), the run's folder and the results table.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The backstop binary this bench measures (built by Cargo for it).
pub(crate) const BACKSTOP: &str = env!("CARGO_BIN_EXE_backstop");
/// Bytes in a MiB, for rates and sizes.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;
const GNU_TIME: &str = "/usr/bin/time";

/// A positive whole number from the environment; `None` when it is unset or empty.
pub(crate) fn env_positive(key: &str) -> Option<u64> {
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
pub(crate) fn work_dir() -> PathBuf {
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

/// Panics with a clear message when `tool` is not installed (its `--version` fails).
pub(crate) fn require_tool(tool: &str) {
    require_tool_with(tool, "--version");
}

/// Like [`require_tool`], for a tool that shows its version with another option (`unzip -v`).
pub(crate) fn require_tool_with(tool: &str, version_option: &str) {
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

/// Says which step is being timed.
pub(crate) fn progress(what: &str) {
    println!("  timing {what} ...");
}

/// A file's size in bytes.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot read the size of {}: {e}", path.display()))
        .len()
}

/// A byte count in MiB, for the output.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// A peak RSS in MiB, or `n/a` when it was not measured.
pub(crate) fn rss(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

/// Reads a file once, so that it is in the page cache.
pub(crate) fn warm(path: &Path) {
    let mut f = File::open(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    std::io::copy(&mut f, &mut std::io::sink())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
}

/// Flushes pending writes (best effort: without `sync` the steps just overlap a little more).
pub(crate) fn sync() {
    let _ = Command::new("sync").status();
}

/// `program` with `args`.
pub(crate) fn command<I, S>(program: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// The backstop binary with `args`, its data (config, catalog, archives) in `home`.
pub(crate) fn backstop<I, S>(home: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(BACKSTOP, args);
    cmd.env("BACKSTOP_HOME", home);
    cmd
}

/// The run's folder; removed when dropped (also when the bench panics) unless `BACKSTOP_BENCH_KEEP=1`.
pub(crate) struct RunDir {
    /// The folder.
    pub(crate) path: PathBuf,
}

impl RunDir {
    /// Makes the folder empty (removing what an earlier run left there).
    pub(crate) fn create(path: PathBuf) -> RunDir {
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
pub(crate) fn keep_run() -> bool {
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

/// One timed command.
pub(crate) struct Measured {
    /// Wall-clock seconds.
    pub(crate) secs: f64,
    /// Peak RSS in KiB (of the largest process), when `/usr/bin/time` works.
    pub(crate) rss_kib: Option<u64>,
    stdout: String,
}

impl Measured {
    /// Two steps run one after the other: times add up, the peak is the larger one.
    pub(crate) fn sum(a: &Measured, b: &Measured) -> Measured {
        Measured {
            secs: a.secs + b.secs,
            rss_kib: a.rss_kib.zip(b.rss_kib).map(|(x, y)| x.max(y)),
            stdout: String::new(),
        }
    }

    /// A part of a step timed from outside (until a file appeared): its seconds, no peak RSS of its own.
    pub(crate) fn part(secs: f64) -> Measured {
        Measured {
            secs,
            rss_kib: None,
            stdout: String::new(),
        }
    }

    /// What the command printed on its standard output (when it was not redirected to a file).
    pub(crate) fn stdout(&self) -> &str {
        &self.stdout
    }
}

/// Runs commands, under `/usr/bin/time -f %M` when it works (for the peak RSS).
pub(crate) struct Runner {
    rss_file: Option<PathBuf>,
}

impl Runner {
    /// A runner that keeps `/usr/bin/time`'s output in `dir`, if that tool works here.
    pub(crate) fn new(dir: &Path) -> Runner {
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
    pub(crate) fn run(&self, label: &str, cmd: Command, stdout: Option<File>) -> Measured {
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
pub(crate) fn print_rss_method(runner: &Runner) {
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
pub(crate) fn backup_report(backup: &Measured) -> (i64, PathBuf) {
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
pub(crate) struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    /// Adds a row: the operation (empty under the first of its rows), the tool, its timing, rate, output size and
    /// the backstop/alternative ratio where there is one.
    pub(crate) fn row(
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

    /// Prints the table with a header, columns aligned.
    pub(crate) fn print(&self) {
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

/// A `bash -c` pipeline that fails when any of its commands does.
pub(crate) fn bash(script: &str) -> Command {
    // pipefail: the pipeline fails when any of its commands does, not only the last one.
    command("bash", ["-c", &format!("set -o pipefail; {script}")])
}

/// One word for bash (single quotes take everything literally).
pub(crate) fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
