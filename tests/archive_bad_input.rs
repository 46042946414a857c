#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]
//! Bad input, run on the real binary: truncated, tampered, hostile and bomb archives, broken manifests, corrupt
//! databases, and environments that cannot work (missing database, read-only or missing storage, a locked
//! database, a full disk). Each case checks the message, the exit code, and that nothing changed: the live
//! database, the storage folder's archives, the catalog, and no stray file anywhere.

mod common;

use common::{Mount, TestHome, db_fingerprint, raw_zip, tree_snapshot};
use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const P: &str = "shop";
const DB_ENTRY: &str = "database/shop.sqlite3";
const README: &str = "README.txt";

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/// What a command printed, after its exit code was checked.
struct Ran {
    stdout: String,
    stderr: String,
}

/// Runs `backstop args` and asserts the exit code.
fn run_expect(home: &TestHome, args: &[&str], code: i32) -> Ran {
    let out = home.run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "backstop {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    Ran { stdout, stderr }
}

/// Asserts that `text` contains every needle.
#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every file under `root` (recursively), leaving out SQLite's own -wal/-shm/-journal sidecars, which come and go
/// with connections. A leftover `.partial`, an extracted file or an escaped `evil` shows up here.
fn files_under(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if !(name.ends_with("-wal")
                || name.ends_with("-shm")
                || name.ends_with("-journal"))
            {
                out.insert(p);
            }
        }
    }
    out
}

/// Replaces the line `key = ...` of config.toml's `[settings]` table.
fn set_setting(home: &TestHome, key: &str, value: &str) {
    let path = home.home().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key} = ");
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                found = true;
                format!("{prefix}{value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(found, "no {key} in config.toml:\n{text}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// One entry of a zip, read with the zip crate (as unzip would).
fn zip_entry(archive: &Path, name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut entry = zip.by_name(name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

/// `base` (a real manifest) with `entries` listing exactly these entries with their real sizes and checksums.
fn manifest_listing(base: &Value, entries: &[(&str, &[u8])]) -> Value {
    let mut manifest = base.clone();
    manifest["entries"] = Value::Array(
        entries
            .iter()
            .map(|(name, bytes)| json!({"path": name, "size": bytes.len(), "sha256": sha256_hex(bytes)}))
            .collect(),
    );
    manifest
}

/// Writes a Backstop-shaped zip: the entries, then `manifest.json` last.
fn write_archive(path: &Path, manifest: &Value, entries: &[(&str, &[u8])]) {
    let json = serde_json::to_vec_pretty(manifest).unwrap();
    let mut all: Vec<(&str, &[u8])> = entries.to_vec();
    all.push(("manifest.json", &json));
    raw_zip(path, &all);
}

/// Deterministic bytes that look random (incompressible, no magic numbers).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A path under /tmp that nothing uses yet.
fn unique_tmp_name(prefix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    PathBuf::from(format!("/tmp/{prefix}-{}-{nanos}", std::process::id()))
}

/// Everything that must not change when Backstop refuses something.
#[derive(Debug, PartialEq)]
struct State {
    files: BTreeSet<PathBuf>,
    storage: BTreeMap<PathBuf, String>,
    db: (BTreeMap<String, (u64, String)>, String),
    catalog: Vec<Value>,
}

/// A home with profile `shop`, one completed backup, and the live database changed after it (so a restore that
/// slipped through would show in the fingerprint).
struct Fixture {
    home: TestHome,
    db: PathBuf,
    storage: PathBuf,
    archive: PathBuf,
    inputs: PathBuf,
}

impl Fixture {
    fn new(orders: u64) -> Fixture {
        let home = TestHome::new();
        let db = home.sqlite_profile(P, orders, &[]);
        let archive = home.backup(P);
        let storage = archive.parent().unwrap().to_path_buf();
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(
                "DELETE FROM orders WHERE id % 2 = 0;
                 UPDATE customers SET name = 'changed after the backup' WHERE id <= 10;",
            )
            .unwrap();
        }
        let inputs = home.dir.path().join("inputs");
        std::fs::create_dir_all(&inputs).unwrap();
        Fixture {
            home,
            db,
            storage,
            archive,
            inputs,
        }
    }

    fn input(&self, name: &str) -> PathBuf {
        self.inputs.join(name)
    }

    fn run(&self, args: &[&str], code: i32) -> Ran {
        run_expect(&self.home, args, code)
    }

    /// The real archive's manifest.
    fn manifest(&self) -> Value {
        serde_json::from_slice(&zip_entry(&self.archive, "manifest.json")).unwrap()
    }

    fn entry(&self, name: &str) -> Vec<u8> {
        zip_entry(&self.archive, name)
    }

    /// Files first: `list` runs the binary, whose start-up removes stray `.partial` files.
    fn state(&self) -> State {
        State {
            files: files_under(self.home.dir.path()),
            storage: tree_snapshot(&self.storage),
            db: db_fingerprint(&self.db),
            catalog: self.home.list_json(),
        }
    }

    #[track_caller]
    fn assert_unchanged(&self, before: &State) {
        let after = self.state();
        assert_eq!(before.db, after.db, "the live database changed");
        assert_eq!(
            before.storage, after.storage,
            "the storage folder's archives changed"
        );
        assert_eq!(
            before.files, after.files,
            "a file appeared or disappeared somewhere"
        );
        assert_eq!(before.catalog, after.catalog, "the catalog changed");
    }
}

/// Each catalog row's status, in id order.
fn statuses(home: &TestHome) -> Vec<String> {
    home.list_json()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Truncated archive

#[test]
fn truncated_archive_is_refused() {
    let f = Fixture::new(300);
    let bytes = std::fs::read(&f.archive).unwrap();
    let half = f.input("truncated.zip");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let before = f.state();

    let r = f.run(&["verify", s(&half)], 1);
    assert_has(
        &r.stdout,
        &["DAMAGED", "not a readable zip file", "truncated"],
    );

    let r = f.run(&["restore", s(&half), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["is damaged", "truncated"]);

    let r = f.run(&["import", s(&half), "--profile", P], 1);
    assert_has(&r.stderr, &["not a readable zip file"]);
    f.assert_unchanged(&before);

    // The catalogued archive itself cut in half: verify marks it corrupted, restore refuses it.
    std::fs::write(&f.archive, &bytes[..bytes.len() / 2]).unwrap();
    let db_before = db_fingerprint(&f.db);
    let r = f.run(&["verify", "1"], 1);
    assert_has(&r.stdout, &["DAMAGED  backup 1", "not a readable zip file"]);
    assert_eq!(statuses(&f.home), ["corrupted"]);
    let r = f.run(&["restore", "1", "--yes"], 1);
    assert_has(
        &r.stderr,
        &["failed verification earlier", "restore refused"],
    );
    assert_eq!(db_fingerprint(&f.db), db_before);
    assert_eq!(statuses(&f.home), ["corrupted"], "no completed row");
}

// ---------------------------------------------------------------------------------------------------------------
// 2. One flipped byte in the database entry's compressed data

#[test]
fn flipped_byte_in_database_entry_is_found() {
    let f = Fixture::new(300);
    let (data_start, compressed) = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&f.archive).unwrap()).unwrap();
        let entry = zip.by_name(DB_ENTRY).unwrap();
        (entry.data_start().unwrap(), entry.compressed_size())
    };
    assert!(compressed > 1000, "compressed size {compressed}");
    let mut bytes = std::fs::read(&f.archive).unwrap();
    let at = usize::try_from(data_start + compressed / 2).unwrap();
    bytes[at] ^= 0xFF;
    std::fs::write(&f.archive, &bytes).unwrap();
    // An uncatalogued copy, to see the damage found while the database is extracted.
    let copy = f.input("flipped.zip");
    std::fs::write(&copy, &bytes).unwrap();
    let db_before = db_fingerprint(&f.db);

    let r = f.run(&["verify", "1"], 1);
    assert_has(&r.stdout, &["DAMAGED  backup 1", DB_ENTRY]);
    let rows = f.home.list_json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "corrupted");
    assert!(
        rows[0]["error"].as_str().unwrap().contains(DB_ENTRY),
        "{}",
        rows[0]
    );

    let before = f.state();
    let r = f.run(&["restore", "1", "--yes"], 1);
    assert_has(
        &r.stderr,
        &["failed verification earlier", "restore refused"],
    );
    let r = f.run(&["restore", s(&copy), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["is damaged", DB_ENTRY]);
    f.assert_unchanged(&before);
    assert_eq!(db_fingerprint(&f.db), db_before);
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Entry names that escape the folder

#[test]
fn unsafe_entry_names_are_refused() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);
    let absolute = unique_tmp_name("x-evil");
    let absolute_name = absolute.to_str().unwrap().to_string();
    let cwd_evil = std::env::current_dir().unwrap().join("evil");
    let cwd_evil_existed = cwd_evil.exists();

    let cases = [
        ("dotdot.zip", "../evil", "'.' or '..' path component"),
        ("absolute.zip", absolute_name.as_str(), "absolute path"),
    ];
    for (file, name, reason) in cases {
        let path = f.input(file);
        let entries: [(&str, &[u8]); 3] = [(DB_ENTRY, &db), (README, &readme), (name, b"pwned\n")];
        write_archive(&path, &manifest_listing(&f.manifest(), &entries), &entries);
        let before = f.state();

        let r = f.run(&["import", s(&path), "--profile", P], 1);
        assert_has(
            &r.stderr,
            &["unsafe entry name", &format!("'{name}'"), reason],
        );
        let r = f.run(&["verify", s(&path)], 1);
        assert_has(&r.stdout, &["DAMAGED", "unsafe entry name", name]);
        let r = f.run(&["restore", s(&path), "--yes", "--profile", P], 1);
        assert_has(&r.stderr, &["unsafe entry name", name]);

        f.assert_unchanged(&before);
    }
    for evil in [
        f.storage.parent().unwrap().join("evil"),
        f.storage.join("evil"),
        f.home.home().join("evil"),
        f.home.dir.path().join("evil"),
        f.inputs.parent().unwrap().join("evil"),
    ] {
        assert!(!evil.exists(), "{} was written", evil.display());
    }
    assert!(!absolute.exists(), "{} was written", absolute.display());
    assert_eq!(cwd_evil.exists(), cwd_evil_existed, "evil in the cwd");
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Two entries with the same name

#[test]
fn duplicate_entry_names_are_refused() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);
    let mut manifest = f.manifest();
    manifest["database"]["name"] = json!("x");
    manifest["database"]["entry"] = json!("database/x.sqlite3");
    let listed: [(&str, &[u8]); 2] = [("database/x.sqlite3", &db), (README, &readme)];
    let manifest = manifest_listing(&manifest, &listed);
    // The zip writer would refuse a duplicate: write `y`, then rename it to `x` in the raw bytes.
    let path = f.input("duplicate.zip");
    write_archive(
        &path,
        &manifest,
        &[
            ("database/x.sqlite3", &db),
            ("database/y.sqlite3", b"a second, different payload"),
            (README, &readme),
        ],
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = b"database/y.sqlite3";
    let hits: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        2,
        "the name is in the local header and the central directory"
    );
    for at in hits {
        bytes[at + "database/".len()] = b'x';
    }
    std::fs::write(&path, &bytes).unwrap();
    {
        let zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert!(
            zip.has_duplicate_names(),
            "setup: the patch made a duplicate"
        );
    }
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["same name"]);
    let r = f.run(&["verify", s(&path)], 1);
    assert_has(&r.stdout, &["DAMAGED", "same name"]);
    let r = f.run(&["restore", s(&path), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["same name"]);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 5. No manifest

#[test]
fn archive_without_manifest_is_refused() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let path = f.input("no-manifest.zip");
    raw_zip(&path, &[("database/x.sqlite3", &db)]);
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["no manifest.json", "not a Backstop archive"]);
    let r = f.run(&["verify", s(&path)], 1);
    assert_has(&r.stdout, &["DAMAGED", "no manifest.json"]);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Malformed manifests

#[test]
fn malformed_manifest_is_refused() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);

    let truncated = f.input("truncated-manifest.zip");
    raw_zip(
        &truncated,
        &[
            (DB_ENTRY, &db),
            (README, &readme),
            (
                "manifest.json",
                br#"{"format":"backstop-archive","format_version":1,"#,
            ),
        ],
    );
    let missing_fields = f.input("missing-fields.zip");
    raw_zip(
        &missing_fields,
        &[
            (DB_ENTRY, &db),
            (README, &readme),
            (
                "manifest.json",
                br#"{"format":"backstop-archive","format_version":1,"entries":[]}"#,
            ),
        ],
    );
    let before = f.state();

    let r = f.run(&["import", s(&truncated), "--profile", P], 1);
    assert_has(&r.stderr, &["manifest.json", "not valid JSON"]);
    let r = f.run(&["verify", s(&truncated)], 1);
    assert_has(&r.stdout, &["DAMAGED", "manifest.json"]);

    let r = f.run(&["import", s(&missing_fields), "--profile", P], 1);
    assert_has(&r.stderr, &["manifest.json", "malformed", "missing field"]);
    let r = f.run(&["restore", s(&missing_fields), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["manifest.json", "malformed"]);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 7. A newer format

#[test]
fn newer_format_version_asks_for_an_upgrade() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);
    let entries: [(&str, &[u8]); 2] = [(DB_ENTRY, &db), (README, &readme)];
    let mut manifest = manifest_listing(&f.manifest(), &entries);
    manifest["format_version"] = json!(99);
    let path = f.input("future.zip");
    write_archive(&path, &manifest, &entries);
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["version 99", "newer", "upgrade Backstop"]);
    let r = f.run(&["verify", s(&path)], 1);
    assert_has(&r.stdout, &["DAMAGED", "newer", "upgrade Backstop"]);
    let r = f.run(&["restore", s(&path), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["newer", "upgrade Backstop"]);
    f.assert_unchanged(&before);
}

/// verify's report is meant to list problems, not paths (`strip_path_prefix`), but a refusal keeps its path.
#[test]
fn verify_report_of_a_newer_format_names_the_problem_not_the_path() {
    let f = Fixture::new(100);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);
    let entries: [(&str, &[u8]); 2] = [(DB_ENTRY, &db), (README, &readme)];
    let mut manifest = manifest_listing(&f.manifest(), &entries);
    manifest["format_version"] = json!(99);
    let path = f.input("future.zip");
    write_archive(&path, &manifest, &entries);

    let r = f.run(&["verify", s(&path)], 1);
    assert_has(&r.stdout, &["newer", "upgrade Backstop"]);
    assert_eq!(
        r.stdout.matches(s(&path)).count(),
        1,
        "the path is printed once, before the problem:\n{}",
        r.stdout
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 8. Not a zip at all

#[test]
fn file_that_is_not_a_zip_is_refused() {
    let f = Fixture::new(100);
    let path = f.input("x.zip");
    let mut bytes = noise(64 * 1024, 0x1234_5678_9ABC_DEF1);
    bytes[0] = b'R';
    std::fs::write(&path, &bytes).unwrap();
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["not a format Backstop understands"]);
    let r = f.run(&["verify", s(&path)], 1);
    assert_has(&r.stdout, &["DAMAGED", "not a readable zip file"]);
    let r = f.run(&["restore", s(&path), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["not a readable zip file"]);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 9. A corrupt SQLite file inside a checksum-valid archive

#[test]
fn corrupt_database_in_valid_archive_is_refused() {
    let f = Fixture::new(300);
    let db = f.entry(DB_ENTRY);
    let readme = f.entry(README);
    let base = f.manifest();

    // Control: the same database re-packed by this test restores (validate-only) fine.
    let intact = f.input("intact.zip");
    let entries: [(&str, &[u8]); 2] = [(DB_ENTRY, &db), (README, &readme)];
    write_archive(&intact, &manifest_listing(&base, &entries), &entries);
    let r = f.run(
        &["restore", s(&intact), "--validate-only", "--profile", P],
        0,
    );
    assert_has(&r.stdout, &["validated"]);

    // Garbage over a b-tree page in the middle of the file, header kept.
    let page_size = match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        n => usize::from(n),
    };
    assert!(db.len() >= 6 * page_size, "db is {} bytes", db.len());
    let mut bad = db.clone();
    bad[3 * page_size..4 * page_size].copy_from_slice(&noise(page_size, 0xDEAD_BEEF_0BAD_F00D));
    let bare = f.input("corrupt.sqlite3");
    std::fs::write(&bare, &bad).unwrap();
    {
        let conn = Connection::open(&bare).unwrap();
        let result: Result<String, _> = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0));
        assert!(
            !matches!(&result, Ok(s) if s == "ok"),
            "setup: the damage must fail integrity_check"
        );
    }
    // Drop any sidecar the check left, so the import reads a plain file.
    let _ = std::fs::remove_file(f.input("corrupt.sqlite3-journal"));
    let corrupt = f.input("corrupt-db.zip");
    let entries: [(&str, &[u8]); 2] = [(DB_ENTRY, &bad), (README, &readme)];
    write_archive(&corrupt, &manifest_listing(&base, &entries), &entries);
    // Every checksum in it is right: only the database check can catch it.
    let r = f.run(&["verify", s(&corrupt)], 0);
    assert_has(&r.stdout, &["ok"]);
    let before = f.state();

    let r = f.run(&["restore", s(&corrupt), "--yes", "--profile", P], 1);
    assert!(
        r.stderr.contains("integrity_check") || r.stderr.contains("corrupt"),
        "{}",
        r.stderr
    );
    assert_has(&r.stderr, &[DB_ENTRY]);
    // No safety backup was taken: the catalog (compared below) has no new row.
    let r = f.run(&["import", s(&corrupt), "--profile", P], 1);
    assert!(
        r.stderr.contains("integrity_check") || r.stderr.contains("corrupt"),
        "{}",
        r.stderr
    );
    let r = f.run(&["import", s(&bare), "--profile", P], 1);
    assert!(
        r.stderr.contains("integrity_check") || r.stderr.contains("corrupt"),
        "{}",
        r.stderr
    );
    f.assert_unchanged(&before);
    assert_eq!(statuses(&f.home), ["completed"]);
}

// ---------------------------------------------------------------------------------------------------------------
// 10. The database file is missing

#[test]
fn missing_database_fails_backup_with_a_failed_row() {
    let home = TestHome::new();
    let db = home.work().join("missing.sqlite3");
    // A profile cannot be added for a file that is not there (the one profile check says so)...
    let r = run_expect(&home, &["profile", "add", P, "--sqlite", s(&db)], 2);
    assert_has(&r.stderr, &["database: file does not exist"]);
    // ...but the file can go after: the database was deleted or the disk it was on is not mounted.
    std::fs::write(&db, b"").unwrap();
    home.run_ok(&["profile", "add", P, "--sqlite", s(&db)]);
    std::fs::remove_file(&db).unwrap();
    let storage = home.paths().default_storage(P);
    assert!(storage.is_dir());

    let r = run_expect(&home, &["backup", "--profile", P], 1);
    assert_has(&r.stderr, &["database file not found", s(&db)]);
    assert!(
        files_under(&storage).is_empty(),
        "no archive or .partial: {:?}",
        files_under(&storage)
    );
    assert!(!db.exists(), "the database was created");
    let rows = home.list_json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "failed");
    assert_has(
        rows[0]["error"].as_str().unwrap(),
        &["database file not found"],
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 11. Storage folder read-only, or gone

#[test]
fn read_only_storage_folder_fails_backup() {
    let home = TestHome::new();
    let storage = home.dir.path().join("ro-storage");
    let db = home.sqlite_profile(P, 10, &["--storage", s(&storage)]);
    let Some(_mount) = Mount::tmpfs(&storage, "ro,size=1m") else {
        eprintln!("note: skipped read_only_storage_folder_fails_backup: cannot mount a tmpfs here");
        return;
    };
    let db_before = db_fingerprint(&db);
    let files_before = files_under(&home.work());

    let r = run_expect(&home, &["backup", "--profile", P], 1);
    assert_has(&r.stderr, &["not writable", s(&storage)]);
    assert!(files_under(&storage).is_empty());
    assert_eq!(files_under(&home.work()), files_before);
    assert_eq!(db_fingerprint(&db), db_before);
    assert!(
        !statuses(&home).iter().any(|st| st == "completed"),
        "{:?}",
        statuses(&home)
    );
}

#[test]
fn missing_storage_folder_is_not_created() {
    let home = TestHome::new();
    let storage = home.dir.path().join("usb-drive").join("backups");
    let db = home.sqlite_profile(P, 10, &["--storage", s(&storage)]);
    std::fs::remove_dir_all(home.dir.path().join("usb-drive")).unwrap();
    let db_before = db_fingerprint(&db);

    let r = run_expect(&home, &["backup", "--profile", P], 1);
    assert_has(
        &r.stderr,
        &[
            "storage folder missing (is the drive mounted?)",
            s(&storage),
        ],
    );
    assert!(!storage.exists(), "the storage folder was created");
    assert!(
        !storage.parent().unwrap().exists(),
        "its parent was created"
    );

    // An import is refused the same way.
    let r = run_expect(&home, &["import", s(&db), "--profile", P], 1);
    assert_has(
        &r.stderr,
        &["storage folder missing (is the drive mounted?)"],
    );
    assert!(!storage.parent().unwrap().exists());

    assert_eq!(db_fingerprint(&db), db_before);
    assert!(
        !statuses(&home).iter().any(|st| st == "completed"),
        "{:?}",
        statuses(&home)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 12. The database is locked by another writer

#[test]
fn database_locked_longer_than_busy_timeout_fails_backup() {
    let home = TestHome::new();
    let db = home.sqlite_profile(P, 50, &[]);
    let storage = home.paths().default_storage(P);
    set_setting(&home, "busy_timeout_secs", "1");
    {
        let conn = Connection::open(&db).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }
    let before = db_fingerprint(&db);

    let holder = Connection::open(&db).unwrap();
    holder
        .execute_batch(
            "BEGIN EXCLUSIVE;
             INSERT INTO customers (name, email, created_at) VALUES ('held', 'held@example.com', '2025-01-01');",
        )
        .unwrap();
    let start = Instant::now();
    let r = run_expect(&home, &["backup", "--profile", P], 1);
    let waited = start.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    assert_has(
        &r.stderr,
        &["locked by another program", "busy_timeout_secs"],
    );
    assert!(
        waited < Duration::from_secs(8),
        "busy_timeout_secs = 1 was not honoured: waited {waited:?}"
    );
    assert!(
        files_under(&storage).is_empty(),
        "{:?}",
        files_under(&storage)
    );
    let rows = home.list_json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["status"], "failed");
    assert_has(rows[0]["error"].as_str().unwrap(), &["locked"]);
    assert_eq!(db_fingerprint(&db), before);

    // Once the other program lets go, the same backup works.
    home.backup(P);
    assert_eq!(statuses(&home), ["failed", "completed"]);
}

// ---------------------------------------------------------------------------------------------------------------
// 13. The disk fills up during a backup

#[test]
fn disk_filling_up_during_backup_keeps_the_earlier_archive() {
    let home = TestHome::new();
    let storage = home.dir.path().join("small-disk");
    let Some(_mount) = Mount::tmpfs(&storage, "size=13m") else {
        eprintln!(
            "note: skipped disk_filling_up_during_backup_keeps_the_earlier_archive: cannot mount a tmpfs here"
        );
        return;
    };
    let db = home.sqlite_profile(P, 10, &["--storage", s(&storage)]);
    let first = home.backup(P);
    let sidecar = PathBuf::from(format!("{}.sha256", first.display()));
    assert!(sidecar.is_file());
    let storage_before = tree_snapshot(&storage);

    // 8 MiB that does not compress: the snapshot fits, the snapshot plus the archive does not.
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE blobs (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 128)
             INSERT INTO blobs SELECT randomblob(65536) FROM n;",
        )
        .unwrap();
    }
    let db_before = db_fingerprint(&db);
    let db_size = std::fs::metadata(&db).unwrap().len();
    let needed = db_size + db_size / 4 + (1 << 20);
    let available = backstop::fsutil::available_space(&storage).unwrap();
    assert!(
        needed <= available && available < 2 * db_size,
        "setup: the free-space check must pass and the write must not fit: db {db_size}, needed {needed}, available {available}"
    );

    let r = run_expect(&home, &["backup", "--profile", P], 1);
    assert_has(&r.stderr, &["disk filled up", s(&storage)]);
    assert_eq!(
        tree_snapshot(&storage),
        storage_before,
        "the first archive and its sidecar are untouched and nothing else is left"
    );
    assert_eq!(db_fingerprint(&db), db_before);
    let rows = home.list_json();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["status"], "completed");
    assert_eq!(rows[0]["path"], s(&first));
    assert_eq!(rows[1]["status"], "failed");
    assert_has(rows[1]["error"].as_str().unwrap(), &["disk filled up"]);
    assert_eq!(
        backstop::fsutil::available_space(&storage).unwrap(),
        available,
        "the space taken by the failed attempt was given back"
    );
    run_expect(&home, &["verify", "1"], 0);
}

/// The disk filling up while an import is unpacked into the storage folder is a full disk, not a bad input file.
#[test]
fn disk_filling_up_during_import_is_reported_as_a_full_disk() {
    let home = TestHome::new();
    let storage = home.dir.path().join("small-disk");
    let Some(_mount) = Mount::tmpfs(&storage, "size=2m") else {
        eprintln!(
            "note: skipped disk_filling_up_during_import_is_reported_as_a_full_disk: cannot mount a tmpfs here"
        );
        return;
    };
    let db = home.sqlite_profile(P, 10, &["--storage", s(&storage)]);
    {
        // 3 MiB that does not compress: more than the 2 MiB disk.
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE blobs (b BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 48)
             INSERT INTO blobs SELECT randomblob(65536) FROM n;",
        )
        .unwrap();
    }
    let inputs = home.dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let gz = inputs.join("copy.db.gz");
    std::fs::write(&gz, gzip(&std::fs::read(&db).unwrap())).unwrap();
    let bare = inputs.join("copy.sqlite3");
    std::fs::copy(&db, &bare).unwrap();

    for input in [&gz, &bare] {
        let r = run_expect(&home, &["import", s(input), "--profile", P], 1);
        assert!(
            files_under(&storage).is_empty(),
            "{:?}",
            files_under(&storage)
        );
        assert_has(&r.stderr, &["disk filled up", s(&storage)]);
        assert!(
            !r.stderr.contains("truncated or damaged") && !r.stderr.contains("cannot read it"),
            "the input file is blamed for a full disk: {}",
            r.stderr
        );
    }
    assert!(home.list_json().is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// 14. Lying sizes / zip bomb

#[test]
fn entry_larger_than_its_manifest_says_is_refused() {
    let f = Fixture::new(100);
    let readme = f.entry(README);
    let zeros = vec![0u8; 10 << 20];
    let manifest = manifest_listing(
        &f.manifest(),
        &[(DB_ENTRY, &zeros[..1000]), (README, &readme)],
    );

    // (a) The central directory tells the truth (10 MiB), the manifest says 1000.
    let bomb = f.input("bomb.zip");
    write_archive(&bomb, &manifest, &[(DB_ENTRY, &zeros), (README, &readme)]);
    let bomb_len = std::fs::metadata(&bomb).unwrap().len();
    assert!(bomb_len < 200_000, "setup: a small file ({bomb_len} bytes)");

    // (b) The zip headers lie too (1000): only counting while inflating can catch it.
    let liar = f.input("liar.zip");
    let mut bytes = std::fs::read(&bomb).unwrap();
    let (local, central) = {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&bomb).unwrap()).unwrap();
        let entry = zip.by_name(DB_ENTRY).unwrap();
        (
            usize::try_from(entry.header_start()).unwrap(),
            usize::try_from(entry.central_header_start()).unwrap(),
        )
    };
    for at in [local + 22, central + 24] {
        assert_eq!(
            u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()),
            10 << 20,
            "setup: uncompressed size field at {at}"
        );
        bytes[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    }
    std::fs::write(&liar, &bytes).unwrap();
    {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&liar).unwrap()).unwrap();
        assert_eq!(zip.by_name(DB_ENTRY).unwrap().size(), 1000, "setup");
    }
    let before = f.state();

    let r = f.run(&["import", s(&bomb), "--profile", P], 1);
    assert_has(
        &r.stderr,
        &[DB_ENTRY, "10485760 bytes but the manifest says 1000"],
    );
    let r = f.run(&["verify", s(&bomb)], 1);
    assert_has(
        &r.stdout,
        &["DAMAGED", "10485760 bytes but the manifest says 1000"],
    );
    let r = f.run(&["restore", s(&bomb), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["10485760 bytes but the manifest says 1000"]);

    let lying = |text: &str| {
        assert!(text.contains(DB_ENTRY), "{text}");
        assert!(
            (text.contains("more than the") && text.contains("declares"))
                || text.contains("damaged"),
            "{text}"
        );
    };
    let r = f.run(&["import", s(&liar), "--profile", P], 1);
    lying(&r.stderr);
    let r = f.run(&["verify", s(&liar)], 1);
    assert_has(&r.stdout, &["DAMAGED"]);
    assert!(r.stdout.contains(DB_ENTRY), "{}", r.stdout);
    let r = f.run(&["restore", s(&liar), "--yes", "--profile", P], 1);
    lying(&r.stderr);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 15. Truncated .db.gz, gzip bomb

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn truncated_gzip_import_is_refused() {
    let f = Fixture::new(300);
    let db = f.entry(DB_ENTRY);
    let gz = gzip(&db);
    let path = f.input("shop.db.gz");
    std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["it is truncated", "cannot be read completely"]);
    f.assert_unchanged(&before);

    // Control: the whole file imports.
    let whole = f.input("whole.db.gz");
    std::fs::write(&whole, &gz).unwrap();
    f.run(&["import", s(&whole), "--profile", P], 0);
    assert_eq!(statuses(&f.home), ["completed", "completed"]);
}

#[test]
fn gzip_bomb_import_stops_at_the_limit() {
    let f = Fixture::new(100);
    set_setting(&f.home, "max_import_bytes", "10000000");
    let path = f.input("bomb.db.gz");
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        enc.write_all(b"SQLite format 3\0").unwrap();
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..300 {
            enc.write_all(&chunk).unwrap();
        }
        enc.finish().unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len < 2_000_000, "setup: a small file ({len} bytes)");
    let before = f.state();

    let r = f.run(&["import", s(&path), "--profile", P], 1);
    assert_has(&r.stderr, &["import limit", "10000000"]);
    f.assert_unchanged(&before);
}

// ---------------------------------------------------------------------------------------------------------------
// 16. Consent

#[test]
fn restore_without_consent_changes_nothing() {
    let f = Fixture::new(200);
    let before = f.state();

    let r = f.run(&["restore", "1"], 2);
    assert_has(&r.stderr, &["pass --yes", s(&f.db)]);
    let r = f.run(&["restore", s(&f.archive), "--profile", P], 2);
    assert_has(&r.stderr, &["pass --yes"]);
    f.assert_unchanged(&before);

    let r = f.run(&["restore", "1", "--validate-only"], 0);
    assert_has(&r.stdout, &["validated", "nothing was changed"]);
    f.assert_unchanged(&before);
    let rows = f.home.list_json();
    assert!(rows.iter().all(|r| r["trigger"] != "safety"), "{rows:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// 17. Crafted manifest fields

/// A checksum of 64 bytes that is not hex, with a two-byte character across every short prefix's end (byte 12,
/// byte 16): what slicing by byte offset panicked on.
fn non_hex_sha() -> String {
    format!("a{}b", "é".repeat(31))
}

/// Each crafted manifest: a name, the edit, and what the refusal must say (the field it names).
#[allow(clippy::type_complexity)]
fn crafted_manifests() -> Vec<(
    &'static str,
    Box<dyn Fn(&mut Value)>,
    &'static [&'static str],
)> {
    vec![
        (
            "non-hex sha256",
            Box::new(|m: &mut Value| m["entries"][0]["sha256"] = json!(non_hex_sha())),
            &["sha256", "64 lowercase hex digits", DB_ENTRY],
        ),
        (
            "upper-case sha256",
            Box::new(|m: &mut Value| m["entries"][0]["sha256"] = json!("AB".repeat(32))),
            &["sha256", "64 lowercase hex digits"],
        ),
        (
            "short sha256",
            Box::new(|m: &mut Value| m["entries"][1]["sha256"] = json!("ab".repeat(31))),
            &["sha256", "64 lowercase hex digits"],
        ),
        (
            "non-hex schema checksum",
            Box::new(|m: &mut Value| m["database"]["schema_sha256"] = json!(non_hex_sha())),
            &["database.schema_sha256", "64 lowercase hex digits"],
        ),
        (
            "time before zip time began",
            Box::new(|m: &mut Value| m["created_at"] = json!("1901-01-01T00:00:00Z")),
            &["created_at", "1901"],
        ),
        (
            "time far in the future",
            Box::new(|m: &mut Value| m["created_at"] = json!("9999-12-31T23:59:59Z")),
            &["created_at", "9999"],
        ),
        (
            "unreadable time",
            Box::new(|m: &mut Value| m["created_at"] = json!("yesterday")),
            &["created_at"],
        ),
        (
            "entry time out of range",
            Box::new(|m: &mut Value| m["entries"][1]["mtime"] = json!("0000-01-01T00:00:00Z")),
            &["mtime", README, "0000"],
        ),
        (
            "unreadable entry time",
            Box::new(|m: &mut Value| m["entries"][1]["mtime"] = json!("noon")),
            &["mtime", "noon"],
        ),
        (
            "database size past what can be stored",
            Box::new(|m: &mut Value| m["database"]["size_bytes"] = json!(u64::MAX)),
            &["database.size_bytes"],
        ),
        (
            "row count past what can be stored",
            Box::new(|m: &mut Value| m["database"]["tables"]["orders"] = json!(u64::MAX)),
            &["database.tables", "orders"],
        ),
        (
            "unknown kind",
            Box::new(|m: &mut Value| m["kind"] = json!("everything")),
            &["kind", "everything"],
        ),
        (
            "unknown trigger",
            Box::new(|m: &mut Value| m["trigger"] = json!("cosmic-ray")),
            &["trigger", "cosmic-ray"],
        ),
        (
            "unknown engine",
            Box::new(|m: &mut Value| m["database"]["engine"] = json!("oracle")),
            &["database.engine", "oracle"],
        ),
        (
            "profile name that is a path",
            Box::new(|m: &mut Value| m["profile"] = json!("../../etc")),
            &["profile", "../../etc"],
        ),
        (
            "database entry outside database/",
            Box::new(|m: &mut Value| m["database"]["entry"] = json!(README)),
            &["database.entry", README],
        ),
        (
            "empty database name",
            Box::new(|m: &mut Value| m["database"]["name"] = json!("")),
            &["database.name", "empty"],
        ),
        (
            "database name with a NUL",
            Box::new(|m: &mut Value| m["database"]["name"] = json!("shop\u{0}")),
            &["database.name", "NUL"],
        ),
        (
            "version text with a terminal escape",
            Box::new(|m: &mut Value| m["database"]["engine_version"] = json!("3.45\u{1b}[2J")),
            &["database.engine_version", "control character"],
        ),
        (
            "mode with file-type bits",
            Box::new(|m: &mut Value| m["entries"][0]["mode"] = json!(0o170_777)),
            &["mode", DB_ENTRY],
        ),
        (
            "format version 0",
            Box::new(|m: &mut Value| m["format_version"] = json!(0)),
            &["format_version"],
        ),
        (
            "database backup without its database",
            Box::new(|m: &mut Value| {
                m.as_object_mut().unwrap().remove("database");
            }),
            &["database", "kind"],
        ),
    ]
}

/// Every field of the manifest is checked when the archive is opened, before anything uses it: `show`, `import`,
/// `verify` and `restore` refuse each crafted archive with a message naming the field (never a panic), and
/// nothing changes.
#[test]
fn crafted_manifest_fields_are_refused_naming_the_field() {
    let f = Fixture::new(100);
    let mut crafted = Vec::new();
    for (i, (name, edit, needles)) in crafted_manifests().into_iter().enumerate() {
        let path = f.input(&format!("crafted-{i}.zip"));
        common::with_manifest(&f.archive, &path, |m| edit(m));
        crafted.push((name, path, needles));
    }
    let before = f.state();
    for (name, path, needles) in &crafted {
        let r = f.run(&["show", s(path)], 1);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
        assert_has(&r.stderr, &["manifest.json"]);
        for needle in *needles {
            assert!(
                r.stderr.contains(needle),
                "{name}: expected {needle:?} in:\n{}",
                r.stderr
            );
        }
    }
    let (_, first, _) = &crafted[0];
    let r = f.run(&["import", s(first), "--profile", P], 1);
    assert_has(&r.stderr, &["sha256", "64 lowercase hex digits"]);
    let r = f.run(&["verify", s(first)], 1);
    assert_has(&r.stdout, &["DAMAGED", "sha256"]);
    let r = f.run(&["restore", s(first), "--yes", "--profile", P], 1);
    assert_has(&r.stderr, &["sha256"]);
    f.assert_unchanged(&before);
}

/// The crafted archive found by `catalog rebuild` in the storage folder is catalogued as corrupted, and showing
/// it by id is refused with the reason (it used to panic, in the CLI and in the window).
#[test]
fn a_crafted_archive_found_by_rebuild_is_corrupted_and_show_refuses_it() {
    let f = Fixture::new(100);
    let crafted = f.storage.join("shop_database_20300101_000000_manual.zip");
    common::with_manifest(&f.archive, &crafted, |m| {
        m["entries"][0]["sha256"] = json!(non_hex_sha());
    });
    // A sidecar that holds no checksum at all is not taken as one (it would make the good archive look damaged).
    let sidecar = PathBuf::from(format!("{}.sha256", f.archive.display()));
    std::fs::write(&sidecar, format!("{}  {}\n", non_hex_sha(), s(&f.archive))).unwrap();
    let r = f.run(&["catalog", "rebuild"], 0);
    assert_has(&r.stdout, &["damaged", "sha256"]);
    let rows = f.home.list_json();
    let good = rows.iter().find(|r| r["path"] == s(&f.archive)).unwrap();
    assert_eq!(good["status"], "completed", "{good}");
    assert_eq!(good["sha256"], Value::Null, "{good}");
    f.run(&["verify", &good["id"].to_string()], 0);
    let row = rows
        .iter()
        .find(|r| r["path"] == s(&crafted))
        .expect("the crafted archive is catalogued");
    assert_eq!(row["status"], "corrupted", "{row}");
    let id = row["id"].to_string();
    let r = f.run(&["show", &id], 1);
    assert_has(&r.stderr, &["sha256", "64 lowercase hex digits"]);
    let r = f.run(&["show", &id, "--json"], 1);
    assert_has(&r.stderr, &["sha256"]);
}

/// Text from an archive never drives the terminal: a table name and a warning holding escape sequences are shown
/// escaped when `show` writes to a terminal (a real pty, through `script`), and as they are into a pipe, where they
/// are data.
#[test]
fn archive_text_shown_on_a_terminal_is_escaped() {
    let f = Fixture::new(50);
    let path = f.input("escapes.zip");
    common::with_manifest(&f.archive, &path, |m| {
        let rows = m["database"]["tables"]["orders"].clone();
        m["database"]["tables"]["orders\u{1b}]0;pwned\u{7}"] = rows;
        m["warnings"] = json!(["\u{1b}[2Jcleared"]);
    });
    let out = std::process::Command::new("script")
        .arg("-qec")
        .arg(format!(
            "{} show {}",
            env!("CARGO_BIN_EXE_backstop"),
            s(&path)
        ))
        .arg("/dev/null")
        .env("BACKSTOP_HOME", f.home.home())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("orders\\u{1b}]0;pwned\\u{7}") && shown.contains("\\u{1b}[2Jcleared"),
        "{shown:?}"
    );
    assert!(
        !shown.contains("\u{1b}]0;pwned") && !shown.contains("\u{1b}[2J"),
        "{shown:?}"
    );
    let r = f.run(&["show", s(&path)], 0);
    assert_has(
        &r.stdout,
        &["orders\u{1b}]0;pwned\u{7}", "\u{1b}[2Jcleared"],
    );
}
