//! Shared helpers for the integration tests: a temporary `BACKSTOP_HOME`, the real binary, sample databases,
//! row-by-row database comparison, and small file systems for disk-full and read-only cases.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

pub mod mysql;
pub mod servers;

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
        self.command(args).output().unwrap()
    }

    /// The real binary with this home and `args`, no terminal on stdin, for callers that add to its environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_backstop"));
        command
            .args(args)
            .env("BACKSTOP_HOME", self.home())
            .stdin(std::process::Stdio::null());
        command
    }

    /// `profile add NAME --postgres` for the local superuser on 127.0.0.1:`port`, database `dbname`, plus `extra`.
    pub fn postgres_profile(&self, name: &str, port: &str, dbname: &str, extra: &[&str]) {
        let mut args = vec![
            "profile",
            "add",
            name,
            "--postgres",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--user",
            "postgres",
            "--dbname",
            dbname,
        ];
        args.extend_from_slice(extra);
        self.run_ok(&args);
    }

    /// Marks every server profile as having a stored password without storing one, as when its keyring entry was
    /// made on a desktop and this machine has no Secret Service.
    pub fn mark_passwords_stored(&self) {
        let config_file = self.home().join("config.toml");
        let text = std::fs::read_to_string(&config_file).unwrap();
        assert!(text.contains("has_password = false"), "{text}");
        std::fs::write(
            &config_file,
            text.replace("has_password = false", "has_password = true"),
        )
        .unwrap();
    }

    /// Runs the real binary with `input` on its standard input (passwords go there, never on argv).
    /// No session bus: the keyring is unavailable, whatever desktop runs the tests.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut command = self.command(args);
        command.env_remove("DBUS_SESSION_BUS_ADDRESS");
        feed(command, input)
    }

    /// Starts the real binary in the background with this home, its output discarded (for kill and Ctrl-C tests).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Runs the real binary under `faketime` with its wall clock shifted by `offset` (faketime's syntax: "+400d",
    /// "-1d", "-2m") and expects success. The monotonic clock is left alone so timeouts behave as usual.
    pub fn run_at(&self, offset: &str, args: &[&str]) -> Output {
        let out = Command::new("faketime")
            .arg("-f")
            .arg(offset)
            .arg(env!("CARGO_BIN_EXE_backstop"))
            .args(args)
            .env("BACKSTOP_HOME", self.home())
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the clock tests need faketime: apt-get install faketime");
        assert!(
            out.status.success(),
            "faketime {offset} backstop {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts one real `backstop` process per command, all at once, and waits for all; returns each one's
    /// (exit code, stderr).
    pub fn run_at_once(&self, commands: &[&[&str]]) -> Vec<(Option<i32>, String)> {
        let children: Vec<_> = commands
            .iter()
            .map(|args| {
                self.command(args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .collect()
    }

    /// Runs and expects exit code `code`; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        self.run_code(args, 0)
    }

    pub fn run_code(&self, args: &[&str], code: i32) -> String {
        String::from_utf8(self.output_with_code(args, code).stdout).unwrap()
    }

    /// Runs and expects exit code `code`; returns stderr.
    pub fn run_err(&self, args: &[&str], code: i32) -> String {
        String::from_utf8(self.output_with_code(args, code).stderr).unwrap()
    }

    fn output_with_code(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "backstop {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
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

    /// `backstop backup --profile P --json`, expected to succeed → (the report, stderr).
    pub fn backup_json(&self, profile: &str) -> (serde_json::Value, String) {
        let out = self.run(&["backup", "--profile", profile, "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        (serde_json::from_slice(&out.stdout).unwrap(), stderr)
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
pub fn db_fingerprint(path: &Path) -> Fingerprint {
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

/// Copies a Backstop archive to `dest` with its manifest changed by `edit`, every other entry as it was: a
/// crafted archive whose entries are all real, so only the edited field can be what is refused.
pub fn with_manifest(archive: &Path, dest: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((name, bytes));
    }
    let (_, manifest) = entries
        .iter_mut()
        .find(|(name, _)| name == "manifest.json")
        .unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    edit(&mut value);
    *manifest = serde_json::to_vec_pretty(&value).unwrap();
    // The manifest goes last, as Backstop writes it.
    entries.sort_by_key(|(name, _)| name == "manifest.json");
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
        .collect();
    raw_zip(dest, &refs);
}

/// The PostgreSQL role of the password tests, and its password.
pub const PW_ROLE: &str = "backstop_pw";
pub const PASSWORD: &str = "Sw0rdfish-9f3c1b-secret";

/// A role that really checks its password: a scram-sha-256 line for it above the machine's trust rules (as the
/// project's decisions say), then a reload. Idempotent; shared by the tests that need a password.
pub fn password_role() {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let hba = psql("postgres", "SHOW hba_file");
    let hba = hba.trim();
    let text = std::fs::read_to_string(hba).expect("read pg_hba.conf (tests run as root)");
    let line = format!("host all {PW_ROLE} 127.0.0.1/32 scram-sha-256");
    if !text.contains(&line) {
        std::fs::write(hba, format!("{line}\n{text}")).expect("write pg_hba.conf");
        psql("postgres", "SELECT pg_reload_conf()");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let exists = psql(
        "postgres",
        &format!("SELECT 1 FROM pg_roles WHERE rolname = '{PW_ROLE}'"),
    );
    if exists.trim() != "1" {
        psql(
            "postgres",
            &format!("CREATE ROLE {PW_ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'"),
        );
    }
}

/// Gives database `db` to the password role, with a `notes` table of `rows` rows that it owns.
pub fn notes_for_password_role(db: &str, rows: u32) {
    psql(
        "postgres",
        &format!("ALTER DATABASE {db} OWNER TO {PW_ROLE}"),
    );
    psql(
        db,
        &format!(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text); ALTER TABLE notes OWNER TO {PW_ROLE}; \
             INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, {rows}) g;"
        ),
    );
}

/// Runs `command` with `input` on its standard input; returns what it printed.
pub fn feed(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// What [`db_fingerprint`] returns.
pub type Fingerprint = (BTreeMap<String, (u64, String)>, String);

/// Runs the real binary with this home and extra environment variables (failpoints), no terminal on stdin.
pub fn run_env(home: &TestHome, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backstop"));
    cmd.args(args)
        .env("BACKSTOP_HOME", home.home())
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Waits (up to a minute) until `found` holds, polling every 5 ms.
pub fn wait_until(what: &str, found: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !found() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never saw {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Sends the real signal `name` (`INT`, `TERM`, `HUP`, `KILL`) to the child with `kill`, waits for it to end,
/// and returns its exit code (None when the signal itself ended it).
pub fn signal(child: &mut std::process::Child, name: &str) -> Option<i32> {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap()
            .success()
    );
    child.wait().unwrap().code()
}

/// The names in a folder (empty when it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|listing| {
            listing
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Watches folders (and every folder created in them) with inotify from now on and records the mode of each file
/// and folder created or moved there, read as soon as it appears (`None`: it was gone before it could be read).
pub struct CreatedModes {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<BTreeMap<PathBuf, Option<u32>>>,
}

impl CreatedModes {
    pub fn watch(dirs: &[PathBuf]) -> CreatedModes {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
        let mut watched = std::collections::HashMap::new();
        for dir in dirs {
            watch_tree(&fd, dir, &mut watched, None);
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = BTreeMap::new();
            let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 1 << 16];
            loop {
                // Read the flag first: events of the job's last moments are drained before the thread ends.
                let last = stopping.load(std::sync::atomic::Ordering::SeqCst);
                let mut created = Vec::new();
                {
                    let mut reader = inotify::Reader::new(&fd, &mut buf);
                    loop {
                        match reader.next() {
                            Ok(event) => {
                                if let (Some(dir), Some(name)) =
                                    (watched.get(&event.wd()), event.file_name())
                                {
                                    let dir: &PathBuf = dir;
                                    created.push(dir.join(name.to_string_lossy().as_ref()));
                                }
                            }
                            Err(rustix::io::Errno::AGAIN) => break,
                            Err(e) => panic!("inotify: {e}"),
                        }
                    }
                }
                let quiet = created.is_empty();
                for path in created {
                    watch_tree(&fd, &path, &mut watched, Some(&mut seen));
                }
                if last && quiet {
                    return seen;
                }
                if quiet {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        CreatedModes { stop, thread }
    }

    /// Stops watching; returns what was created, with its first mode.
    pub fn stop(self) -> BTreeMap<PathBuf, Option<u32>> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Records `path`'s mode (when `seen` is given) and, for a folder, watches it and everything already below it.
fn watch_tree(
    fd: &rustix::fd::OwnedFd,
    path: &Path,
    watched: &mut std::collections::HashMap<i32, PathBuf>,
    mut seen: Option<&mut BTreeMap<PathBuf, Option<u32>>>,
) {
    use rustix::fs::inotify;
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).ok();
    if let Some(seen) = seen.as_deref_mut() {
        seen.entry(path.to_path_buf())
            .or_insert_with(|| meta.as_ref().map(|m| m.permissions().mode() & 0o7777));
    }
    if !meta.is_some_and(|m| m.is_dir()) {
        return;
    }
    if let Ok(wd) = inotify::add_watch(
        fd,
        path,
        inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO,
    ) {
        watched.insert(wd, path.to_path_buf());
    }
    // What appeared before the watch did.
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        watch_tree(fd, &entry.path(), watched, seen.as_deref_mut());
    }
}

/// Asserts that nothing in `created` (from [`CreatedModes::stop`]) was readable by group or others when it
/// appeared, and that the watcher saw a path containing each of `expected` (it really looked).
pub fn assert_created_private(created: &BTreeMap<PathBuf, Option<u32>>, expected: &[&str]) {
    let open: Vec<_> = created
        .iter()
        .filter(|(_, mode)| mode.is_some_and(|m| m & 0o077 != 0))
        .collect();
    assert!(open.is_empty(), "created readable by others: {open:#?}");
    for expected in expected {
        assert!(
            created
                .keys()
                .any(|p| p.to_string_lossy().contains(expected)),
            "the watcher saw no {expected}: {created:#?}"
        );
    }
}

/// Every file and folder below `dir` (itself included) whose mode lets group or others in.
pub fn not_private(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if !meta.file_type().is_symlink() && mode & 0o077 != 0 {
            out.push((path.clone(), mode));
        }
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    out
}

/// Runs the real binary as a shell with umask 022 would (files 0644 unless Backstop says otherwise).
pub fn run_umask_022(home: &TestHome, args: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_backstop"))
        .args(args)
        .env("BACKSTOP_HOME", home.home())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backstop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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

/// Every user table of PostgreSQL database `db` (`schema.table`, as manifests name them) with its row count and
/// the hash of its rows sorted; plus the schema as `pg_dump --schema-only` writes it (owners and grants included,
/// comments and the random `\restrict` keys left out) and the database's owner, encoding and settings. Equal
/// fingerprints, equal databases.
pub fn pg_fingerprint(db: &str) -> Fingerprint {
    let tables = psql(
        db,
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    let mut out = BTreeMap::new();
    for table in tables.lines().filter(|l| !l.is_empty()) {
        let (schema, name) = table.split_once('.').unwrap();
        let row = psql(
            db,
            &format!(
                "SELECT count(*) || '|' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
                 FROM \"{schema}\".\"{name}\" t"
            ),
        );
        let (count, hash) = row.trim().split_once('|').unwrap();
        out.insert(
            table.to_string(),
            (count.parse().unwrap(), hash.to_string()),
        );
    }
    let dump = Command::new("pg_dump")
        .args([
            "--schema-only",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(dump.status.success(), "pg_dump --schema-only {db}");
    let mut schema: String = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .filter(|l| {
            !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict") && !l.starts_with("--")
        })
        .collect::<Vec<_>>()
        .join("\n");
    schema.push_str(&psql(
        "postgres",
        &format!(
            "SELECT pg_get_userbyid(d.datdba) || ' ' || pg_encoding_to_char(d.encoding) || ' ' || d.datcollate \
             || ' ' || coalesce((SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting s \
             WHERE s.setdatabase = d.oid AND s.setrole = 0), '') FROM pg_database d WHERE d.datname = '{db}'"
        ),
    ));
    (out, schema)
}

impl TestHome {
    /// `profile add NAME --postgres` for database `dbname` as the password role, `password` on standard input
    /// (never on argv), no automatic backups, plus `extra`; no keyring is reachable.
    pub fn add_pg_password_profile(
        &self,
        name: &str,
        dbname: &str,
        password: &str,
        extra: &[&str],
    ) -> Output {
        let mut args = vec![
            "profile",
            "add",
            name,
            "--postgres",
            "--user",
            PW_ROLE,
            "--dbname",
            dbname,
            "--password-stdin",
            "--no-auto",
        ];
        args.extend_from_slice(extra);
        self.run_with_stdin(&args, &format!("{password}\n"))
    }
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

/// The real window on `paths`, headless (egui_kittest), no scheduler, with a recording notifier and scripted
/// dialogs.
pub fn window(paths: Paths) -> egui_kittest::Harness<'static, backstop::ui::BackstopApp> {
    window_with(paths, false, backstop::notify::RecordingNotifier::default())
}

/// The window manager's close button: one frame with the close request; returns the root viewport's commands of
/// that frame (`CancelClose` among them when the window refused to close).
pub fn press_close_button(
    harness: &mut egui_kittest::Harness<'_, backstop::ui::BackstopApp>,
) -> Vec<egui::ViewportCommand> {
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
    let commands = harness.output().viewport_output[&egui::ViewportId::ROOT]
        .commands
        .clone();
    harness.step();
    commands
}

/// Steps the window's frames until `done` holds (its worker runs on a thread of its own), or fails after 60 s
/// (a guard against a hang, not a timing assertion).
pub fn wait_for_window(
    harness: &mut egui_kittest::Harness<'_, backstop::ui::BackstopApp>,
    what: &str,
    done: &dyn Fn(&backstop::ui::BackstopApp) -> bool,
) {
    let start = std::time::Instant::now();
    loop {
        harness.step();
        if done(harness.state()) {
            harness.step();
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// 40 folders of `per_folder` small text files (each its names repeated `repeat` times) under `dir`: enough work
/// that a job is still running when a test signals it.
pub fn bulk_files(dir: &Path, per_folder: usize, repeat: usize) {
    for d in 0..40 {
        let folder = dir.join(format!("{d:02}"));
        std::fs::create_dir_all(&folder).unwrap();
        for f in 0..per_folder {
            std::fs::write(
                folder.join(format!("{f:03}.txt")),
                format!("{d} {f} ").repeat(repeat),
            )
            .unwrap();
        }
    }
}

/// The real window on `paths`, headless, with or without its scheduler, sending notifications to `notifier`
/// (a clone of it keeps what was sent) and with scripted dialogs.
pub fn window_with(
    paths: Paths,
    scheduler: bool,
    notifier: backstop::notify::RecordingNotifier,
) -> egui_kittest::Harness<'static, backstop::ui::BackstopApp> {
    window_of(
        paths,
        [1100.0, 900.0],
        scheduler,
        notifier,
        backstop::ui::dialogs::ScriptedDialogs::default(),
    )
}

/// The real window on `paths` at `size`, with `dialogs` (a clone of it sees what was asked), no scheduler, once
/// the worker's first snapshot arrived.
pub fn window_ready(
    paths: Paths,
    size: [f32; 2],
    dialogs: backstop::ui::dialogs::ScriptedDialogs,
) -> egui_kittest::Harness<'static, backstop::ui::BackstopApp> {
    let mut harness = window_of(
        paths,
        size,
        false,
        backstop::notify::RecordingNotifier::default(),
        dialogs,
    );
    wait_for_window(&mut harness, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    harness
}

fn window_of(
    paths: Paths,
    size: [f32; 2],
    scheduler: bool,
    notifier: backstop::notify::RecordingNotifier,
    dialogs: backstop::ui::dialogs::ScriptedDialogs,
) -> egui_kittest::Harness<'static, backstop::ui::BackstopApp> {
    egui_kittest::Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| {
            backstop::ui::BackstopApp::new(
                cc,
                backstop::ui::AppOptions {
                    paths,
                    notifier: Box::new(notifier),
                    dialogs: Box::new(dialogs),
                    scheduler,
                    desktop: None,
                },
            )
        })
}
