//! The files ("media") folder: backup kinds, round trips of every kind of entry, full restores that move the
//! database and the folder together (or neither), selective restore, diff, excludes and odd files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{Mount, TestHome, db_fingerprint, file_sha, run_env, signal, wait_until};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Everything about a tree a restore must keep: each path's type, mode, modification time (files) and content
/// hash or link target.
fn tree_meta(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            let desc = if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {mode:o}")
            } else {
                format!(
                    "file {mode:o} {} {}.{} {}",
                    m.len(),
                    m.mtime(),
                    m.mtime_nsec(),
                    file_sha(&p)
                )
            };
            out.insert(rel, desc);
        }
    }
    out
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A media folder with nested folders, unicode and spaces in names, an empty file, an empty folder, modes, and
/// links (relative, absolute, dangling).
fn make_media(root: &Path) {
    std::fs::create_dir_all(root.join("photos/2024/été")).unwrap();
    std::fs::create_dir_all(root.join("empty folder")).unwrap();
    std::fs::create_dir_all(root.join("private")).unwrap();
    std::fs::write(root.join("photos/2024/été/plage à midi.txt"), "sable\n").unwrap();
    std::fs::write(root.join("photos/cat.jpg"), vec![0xFFu8; 70_000]).unwrap();
    std::fs::write(root.join("notes with spaces.md"), "# hello\n".repeat(500)).unwrap();
    std::fs::write(root.join("empty.txt"), "").unwrap();
    std::fs::write(root.join("private/key.pem"), "secret").unwrap();
    std::fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    set_mode(&root.join("private/key.pem"), 0o600);
    set_mode(&root.join("run.sh"), 0o755);
    set_mode(&root.join("private"), 0o750);
    set_mode(root, 0o710);
    std::os::unix::fs::symlink("photos/cat.jpg", root.join("cat-link.jpg")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("absolute-link")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", root.join("dangling")).unwrap();
}

/// A SQLite profile `shop` with a media folder; returns (database, media folder).
fn profile_with_media(home: &TestHome, extra: &[&str]) -> (PathBuf, PathBuf) {
    let media = home.work().join("media");
    make_media(&media);
    let mut args = vec!["--files", media.to_str().unwrap()];
    args.extend_from_slice(extra);
    let db = home.sqlite_profile("shop", 500, &args);
    (db, media)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn siblings(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn files_round_trip_keeps_paths_contents_modes_times_and_links() {
    let home = TestHome::new();
    let (_db, media) = profile_with_media(&home, &[]);
    // A large sparse file, written at both ends: >= 256 MiB through the archive and back.
    let big = media.join("photos/big video.bin");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&big).unwrap();
        f.write_all(b"start").unwrap();
        f.seek(SeekFrom::Start((256 << 20) + 12_345)).unwrap();
        f.write_all(b"end").unwrap();
    }
    let original = tree_meta(&media);
    home.run_ok(&["backup", "--kind", "files"]);
    let rows = home.list_json();
    assert_eq!(rows[0]["kind"], "files");
    // The manifest records each file's metadata and links as links.
    let manifest: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["show", "1", "--json"])).unwrap();
    assert!(manifest["database"].is_null());
    let entries = manifest["entries"].as_array().unwrap();
    let by_path = |p: &str| entries.iter().find(|e| e["path"] == p).unwrap().clone();
    assert_eq!(by_path("files/run.sh")["mode"], 0o755);
    assert!(by_path("files/run.sh")["mtime"].is_string());
    assert_eq!(by_path("files/cat-link.jpg")["type"], "symlink");
    assert_eq!(by_path("files/cat-link.jpg")["target"], "photos/cat.jpg");
    assert_eq!(by_path("files/empty folder/")["type"], "dir");
    assert_eq!(by_path("files/empty.txt")["size"], 0);

    // Change the folder every way, then restore.
    std::fs::remove_file(media.join("photos/cat.jpg")).unwrap();
    std::fs::write(media.join("run.sh"), "changed").unwrap();
    std::fs::write(media.join("new.txt"), "new").unwrap();
    std::fs::remove_dir(media.join("empty folder")).unwrap();
    let changed = tree_meta(&media);
    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(out.contains("previous files folder is kept"), "{out}");
    assert_eq!(tree_meta(&media), original);
    let root_mode = std::fs::metadata(&media).unwrap().permissions().mode() & 0o7777;
    assert_eq!(root_mode, 0o710, "the folder's own mode comes back");
    // The old folder is kept beside it, as it was.
    let kept: Vec<String> = siblings(&media)
        .into_iter()
        .filter(|n| n.starts_with("media.pre_restore_"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(tree_meta(&media.parent().unwrap().join(&kept[0])), changed);
    // No staging folder left.
    assert!(
        !siblings(&media)
            .iter()
            .any(|n| n.contains("backstop-restore"))
    );
    // A safety backup of the folder as it was before was taken.
    let rows = home.list_json();
    assert!(
        rows.iter()
            .any(|r| r["trigger"] == "safety" && r["kind"] == "files")
    );

    // Stock unzip gives the same tree back, links included.
    let unzipped = home.work().join("unzipped");
    let archive = PathBuf::from(rows[0]["path"].as_str().unwrap());
    common::unzip(&archive, &unzipped);
    let stock = tree_meta(&unzipped.join("files"));
    for (path, desc) in &original {
        let got = &stock[path];
        if desc.starts_with("file") {
            // unzip keeps DOS times (2 s): compare content and mode only.
            let pick = |d: &str| {
                let p: Vec<&str> = d.split(' ').collect();
                (p[1].to_string(), p[2].to_string(), p[4].to_string())
            };
            assert_eq!(pick(got), pick(desc), "{path}");
        } else if desc.starts_with("link") {
            assert_eq!(got, desc, "{path}");
        }
    }
}

#[test]
fn full_backup_and_restore_move_database_and_files_together() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    let db_before = db_fingerprint(&db);
    let files_before = tree_meta(&media);
    // A profile with a files folder backs up everything by default.
    home.run_ok(&["backup"]);
    assert_eq!(home.list_json()[0]["kind"], "full");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders WHERE id % 2 = 0", [])
        .unwrap();
    drop(conn);
    std::fs::write(media.join("notes with spaces.md"), "overwritten").unwrap();
    std::fs::remove_file(media.join("empty.txt")).unwrap();
    let out = home.run_ok(&["restore", "1", "--yes"]);
    assert!(
        out.contains("SQLite database") && out.contains("files folder"),
        "{out}"
    );
    assert_eq!(db_fingerprint(&db), db_before);
    assert_eq!(tree_meta(&media), files_before);
    // The safety backup holds both, so undoing the restore is one more restore.
    let safety = home
        .list_json()
        .into_iter()
        .find(|r| r["trigger"] == "safety")
        .unwrap();
    assert_eq!(safety["kind"], "full");
}

#[test]
fn a_failure_in_the_files_step_leaves_database_and_folder_as_they_were() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    home.run_ok(&["backup"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders WHERE id > 100", [])
        .unwrap();
    drop(conn);
    std::fs::write(media.join("new.txt"), "after the backup").unwrap();
    let db_now = db_fingerprint(&db);
    let files_now = tree_meta(&media);
    let before_siblings = siblings(&media);
    let out = run_env(
        &home,
        &["restore", "1", "--yes"],
        &[("BACKSTOP_FAILPOINT", "files-swap")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("could not be put in place"), "{err}");
    assert!(err.contains("database was put back"), "{err}");
    assert_eq!(db_fingerprint(&db), db_now);
    assert_eq!(tree_meta(&media), files_now);
    assert_eq!(siblings(&media), before_siblings, "no staging folder left");
    assert!(!home.home().join("state/restore-shop.json").exists());
    // The history says the restore failed.
    let log = home.run_ok(&["log", "--json"]);
    assert!(log.contains("could not be put in place"), "{log}");
}

#[test]
fn a_crash_between_database_and_folder_is_finished_on_the_next_start() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    let db_before = db_fingerprint(&db);
    let files_before = tree_meta(&media);
    home.run_ok(&["backup"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders", []).unwrap();
    drop(conn);
    std::fs::remove_file(media.join("run.sh")).unwrap();
    // The process dies right after the database was replaced, before the folder swap.
    let out = run_env(
        &home,
        &["restore", "1", "--yes"],
        &[("BACKSTOP_FAILPOINT", "files-swap:abort")],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(home.home().join("state/restore-shop.json").exists());
    assert_eq!(db_fingerprint(&db), db_before, "the database was replaced");
    // The next start finishes the restore and says so.
    let out = home.run(&["list"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("has now been finished"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tree_meta(&media), files_before);
    assert!(!home.home().join("state/restore-shop.json").exists());
}

#[test]
fn a_files_folder_that_is_a_mount_point_is_refused_before_anything_changes() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    home.run_ok(&["backup"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders", []).unwrap();
    drop(conn);
    let db_now = db_fingerprint(&db);
    let Some(_mount) = Mount::tmpfs(&media, "size=8m") else {
        panic!("mounting a tmpfs needs root, which the test machine has");
    };
    std::fs::write(media.join("on-the-mount.txt"), "x").unwrap();
    let out = home.run(&["restore", "1", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a job that cannot be done here failed"
    );
    assert!(
        stderr(&out).contains("is a mount point"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db_fingerprint(&db), db_now);
    assert!(media.join("on-the-mount.txt").exists());
    assert!(!home.list_json().iter().any(|r| r["trigger"] == "safety"));
}

#[test]
fn selective_restore_writes_only_the_chosen_entries_and_never_overwrites() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    home.run_ok(&["backup"]);
    let db_now = db_fingerprint(&db);
    std::fs::write(media.join("photos/2024/été/plage à midi.txt"), "changed").unwrap();
    let files_now = tree_meta(&media);
    let out_dir = home.work().join("chosen");
    // No consent needed: nothing live is touched.
    let out = home.run_ok(&[
        "restore",
        "1",
        "--only",
        "files/photos/2024",
        "run.sh",
        "--to",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.contains("restored 2 files"), "{out}");
    let got = tree_meta(&out_dir);
    let keys: Vec<&str> = got.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "photos",
            "photos/2024",
            "photos/2024/été",
            "photos/2024/été/plage à midi.txt",
            "run.sh"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("photos/2024/été/plage à midi.txt")).unwrap(),
        "sable\n"
    );
    assert_eq!(tree_meta(&media), files_now, "the live folder is untouched");
    assert_eq!(db_fingerprint(&db), db_now);
    // A read-only folder is restored with its mode (set after it was moved into place).
    let ro_dir = home.work().join("ro");
    home.run_ok(&[
        "restore",
        "1",
        "--only",
        "private",
        "--to",
        ro_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::metadata(ro_dir.join("private"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o750
    );
    // Again into the same folder: refused before anything is written.
    let before = tree_meta(&out_dir);
    let out = home.run(&[
        "restore",
        "1",
        "--only",
        "run.sh",
        "--to",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(tree_meta(&out_dir), before);
    // A path the backup does not hold.
    let out = home.run(&[
        "restore",
        "1",
        "--only",
        "nope/x",
        "--to",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("holds no entry 'nope/x'"),
        "{}",
        stderr(&out)
    );
    // --only without --to is a usage error.
    home.run_code(&["restore", "1", "--only", "run.sh"], 2);
    // The database dump itself can be taken out too.
    let dump_dir = home.work().join("dump");
    home.run_ok(&[
        "restore",
        "1",
        "--only",
        "database/shop.sqlite3",
        "--to",
        dump_dir.to_str().unwrap(),
    ]);
    assert_eq!(db_fingerprint(&dump_dir.join("shop.sqlite3")), db_now);
}

#[test]
fn diff_reports_files_added_removed_and_changed_and_the_database_size() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    home.run_ok(&["backup"]);
    std::fs::write(media.join("added.txt"), "new").unwrap();
    std::fs::remove_file(media.join("empty.txt")).unwrap();
    std::fs::write(media.join("run.sh"), "changed").unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE big(x);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200)
         INSERT INTO big SELECT randomblob(1000) FROM n;",
    )
    .unwrap();
    drop(conn);
    home.run_ok(&["backup"]);
    let diff: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["diff", "1", "2", "--json"])).unwrap();
    assert_eq!(diff["added"], serde_json::json!(["files/added.txt"]));
    assert_eq!(diff["removed"], serde_json::json!(["files/empty.txt"]));
    let changed: Vec<&str> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(changed.contains(&"files/run.sh"), "{changed:?}");
    assert!(
        diff["database_size_after"].as_u64().unwrap()
            > diff["database_size_before"].as_u64().unwrap()
    );
    assert_eq!(diff["tables"]["big"], serde_json::json!([0, 200]));
    let text = home.run_ok(&["diff", "1", "2"]);
    assert!(text.contains("files/added.txt"), "{text}");
}

#[test]
fn excludes_leave_out_matching_paths_and_odd_files_are_skipped_with_a_warning() {
    let home = TestHome::new();
    let (_db, media) = profile_with_media(&home, &["--exclude", "cache/**", "--exclude", "*.tmp"]);
    std::fs::create_dir_all(media.join("cache/thumbs")).unwrap();
    std::fs::write(media.join("cache/thumbs/a.png"), "x").unwrap();
    std::fs::write(media.join("photos/upload.tmp"), "x").unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(media.join("app.sock")).unwrap();
    // Names Windows reserves are ordinary files here; a backslash cannot be stored portably and is skipped.
    std::fs::write(media.join("aux.js"), "export {}").unwrap();
    std::fs::write(media.join("back\\slash.txt"), "x").unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(media.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    home.run_ok(&["backup", "--kind", "files"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["show", "1", "--json"])).unwrap();
    let paths: Vec<&str> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.contains(".tmp") || p.contains("thumbs")),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"files/cache/"),
        "the folder itself stays: {paths:?}"
    );
    let warnings = manifest["warnings"].to_string();
    assert!(warnings.contains("skipped files/app.sock"), "{warnings}");
    assert!(warnings.contains("skipped files/pipe"), "{warnings}");
    assert!(paths.contains(&"files/aux.js"), "{paths:?}");
    assert!(warnings.contains("cannot be stored portably"), "{warnings}");
    // The warnings are in the job log as well.
    let log = home.run_ok(&["log"]);
    assert!(log.contains("skipped files/app.sock"), "{log}");
    // A bad pattern is refused when the profile is edited.
    let out = home.run(&["profile", "edit", "shop", "--exclude", "[oops"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a valid glob"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_that_keeps_changing_while_read_is_recorded_with_a_warning() {
    let home = TestHome::new();
    let (_db, media) = profile_with_media(&home, &[]);
    let growing = media.join("growing.log");
    std::fs::write(&growing, vec![b'a'; 8 << 20]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let growing = growing.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.write_all(b"line\n").unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    let out = home.run(&["backup", "--kind", "files"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["show", "1", "--json"])).unwrap();
    assert!(
        manifest["warnings"]
            .to_string()
            .contains("files/growing.log changed while it was read, twice"),
        "{}",
        manifest["warnings"]
    );
    // What was kept is internally consistent: the archive verifies.
    home.run_ok(&["verify", "1"]);
}

#[test]
fn kinds_need_a_files_folder_and_default_to_the_profiles_choice() {
    let home = TestHome::new();
    home.sqlite_profile("plain", 10, &[]);
    let out = home.run(&["backup", "--kind", "files"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a files folder"),
        "{}",
        stderr(&out)
    );
    home.run_ok(&["backup"]);
    assert_eq!(home.list_json()[0]["kind"], "database");
    let media = home.work().join("m");
    std::fs::create_dir_all(&media).unwrap();
    home.run_ok(&[
        "profile",
        "edit",
        "plain",
        "--files",
        media.to_str().unwrap(),
        "--default-kind",
        "files",
    ]);
    home.run_ok(&["backup"]);
    assert_eq!(home.list_json()[1]["kind"], "files");
    // Storage inside the files folder would archive the archives: refused.
    let out = home.run(&[
        "profile",
        "edit",
        "plain",
        "--storage",
        media.join("backups").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("inside the files folder"),
        "{}",
        stderr(&out)
    );
    assert!(!media.join("backups").exists());
    // A missing files folder is named, with what to check.
    std::fs::remove_dir(&media).unwrap();
    let out = home.run(&["backup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("files folder not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_forged_archive_with_a_path_through_a_link_is_refused_and_writes_nothing() {
    use backstop::archive::{ArchiveWriter, EntryMeta, FORMAT_NAME, FORMAT_VERSION, Manifest};
    let home = TestHome::new();
    let (_db, media) = profile_with_media(&home, &[]);
    let outside = home.work().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let forged = home.work().join("forged.zip");
    let job = common::quiet_job();
    let mut writer = ArchiveWriter::create(&forged, 6, chrono::Utc::now()).unwrap();
    writer
        .add_symlink(
            "files/link",
            outside.to_str().unwrap(),
            EntryMeta::default(),
        )
        .unwrap();
    writer
        .add_file(
            "files/link/evil.txt",
            &mut &b"pwned"[..],
            5,
            true,
            EntryMeta::default(),
            &job,
            "t",
        )
        .unwrap();
    writer
        .finish(Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            app_version: "0".into(),
            profile: "shop".into(),
            kind: backstop::model::Kind::Files,
            trigger: backstop::model::Trigger::Manual,
            created_at: chrono::Utc::now(),
            database: None,
            entries: vec![],
            imported_from: None,
            warnings: vec![],
        })
        .unwrap();
    let files_now = tree_meta(&media);
    let out = home.run(&[
        "restore",
        forged.to_str().unwrap(),
        "--profile",
        "shop",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("beneath the link"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written through the link"
    );
    assert_eq!(tree_meta(&media), files_now);
    assert!(
        !siblings(&media)
            .iter()
            .any(|n| n.contains("backstop-restore"))
    );
}

#[test]
fn ctrl_c_during_a_files_backup_or_restore_changes_nothing() {
    let home = TestHome::new();
    let (db, media) = profile_with_media(&home, &[]);
    // Enough small files that both jobs take a while.
    common::bulk_files(&media.join("bulk"), 500, 200);
    home.run_ok(&["backup"]);
    let storage = home.home().join("archives/shop");
    let partials = || {
        std::fs::read_dir(&storage)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
    };
    // A backup: Ctrl-C while its archive is being written.
    let mut child = home.spawn(&["backup"]);
    wait_until("the backup's .partial file", partials);
    assert_eq!(signal(&mut child, "INT"), Some(130));
    assert!(!partials());
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["status"], "cancelled");

    // A full restore: Ctrl-C while the folder is being extracted beside the live one.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM orders", []).unwrap();
    drop(conn);
    std::fs::write(media.join("new.txt"), "after the backup").unwrap();
    let db_now = db_fingerprint(&db);
    let files_now = tree_meta(&media);
    let staging = || {
        siblings(&media)
            .iter()
            .any(|n| n.contains("backstop-restore"))
    };
    let mut child = home.spawn(&["restore", "1", "--yes", "--no-safety-backup"]);
    wait_until("the restore's staging folder", staging);
    assert_eq!(signal(&mut child, "INT"), Some(130));
    assert!(!staging(), "the staging folder is removed");
    assert_eq!(db_fingerprint(&db), db_now);
    assert_eq!(tree_meta(&media), files_now);
    assert!(!home.home().join("state/restore-shop.json").exists());
    let log: serde_json::Value = serde_json::from_str(&home.run_ok(&["log", "--json"])).unwrap();
    assert_eq!(log["restores"][0]["outcome"], "cancelled", "{log}");
}
