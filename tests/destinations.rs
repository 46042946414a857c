//! Destinations, on the real binary: copies to another folder and to real S3, SFTP and WebDAV servers on loopback
//! (tests/common/servers.rs starts one per test), checked by reading what landed there; restores from a copy with
//! the local archive gone; each destination's own retention; wrong credentials; a server that is down, then back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::servers::{S3Server, SftpServer, WebDavServer};
use common::{TestHome, db_fingerprint, feed};
use serde_json::Value;
use std::path::Path;

type Names<'a> = Box<dyn Fn() -> Vec<String> + 'a>;
type Bytes<'a> = Box<dyn Fn(&str) -> Vec<u8> + 'a>;

/// What a test can see at a destination without Backstop: the names there, and an object's bytes.
struct There<'a> {
    names: Names<'a>,
    bytes: Bytes<'a>,
}

fn archives(names: &[String]) -> Vec<String> {
    let mut a: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".zip") && !n.starts_with('.'))
        .cloned()
        .collect();
    a.sort();
    a
}

fn folder_there(dir: &Path) -> There<'_> {
    There {
        names: Box::new(move || common::names_in(dir)),
        bytes: Box::new(move |name| std::fs::read(dir.join(name)).unwrap()),
    }
}

fn s3_there<'a>(server: &'a S3Server, bucket: &'a str, prefix: &'a str) -> There<'a> {
    There {
        names: Box::new(move || {
            server
                .object_paths(bucket)
                .into_iter()
                .filter_map(|k| k.strip_prefix(&format!("{prefix}/")).map(str::to_string))
                .filter(|k| !k.contains('/'))
                .collect()
        }),
        bytes: Box::new(move |name| server.object_bytes(bucket, &format!("{prefix}/{name}"))),
    }
}

/// `dest add` through the real binary, the secret (if any) on standard input.
fn dest_add(home: &TestHome, args: &[&str], secret: Option<&str>) -> std::process::Output {
    let mut full = vec!["dest", "add"];
    full.extend_from_slice(args);
    let mut command = home.command(&full);
    match secret {
        Some(secret) => feed(command, &format!("{secret}\n")),
        None => command.output().unwrap(),
    }
}

fn ok(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn row(home: &TestHome, id: i64) -> Value {
    home.list_json()
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap()
}

fn copy_status(home: &TestHome, id: i64, dest: &str) -> Option<String> {
    row(home, id)["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["dest"] == dest)
        .map(|c| c["status"].as_str().unwrap().to_string())
}

/// The core scenario every kind of destination must pass: a backup is copied and checked, the copy is
/// byte-identical with its sidecar beside it, `dest ls` knows it, and with the local archive deleted the database
/// comes back from the copy exactly.
fn copy_list_and_restore_from(home: &TestHome, dest: &str, there: &There) {
    let db = home.work().join("shop.sqlite3");
    let (report, stderr) = home.backup_json("shop");
    let id = report["id"].as_i64().unwrap();
    assert!(
        stderr.contains(&format!("copied: {dest}: 1 copied")),
        "{stderr}"
    );
    assert_eq!(
        report["copies"][0]["copied"],
        serde_json::json!([id]),
        "{report}"
    );
    let r = row(home, id);
    let copy = &r["copies"][0];
    assert_eq!(copy["dest"], dest);
    assert_eq!(copy["status"], "copied");
    assert!(copy["copied_at"].is_string(), "{r}");

    let local = std::path::PathBuf::from(r["path"].as_str().unwrap());
    let name = local.file_name().unwrap().to_string_lossy().into_owned();
    let names = (there.names)();
    assert!(names.contains(&name), "{names:?}");
    assert!(names.contains(&format!("{name}.sha256")), "{names:?}");
    assert!(
        names.contains(&".backstop-destination.json".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
    assert_eq!(
        (there.bytes)(&name),
        std::fs::read(&local).unwrap(),
        "the copy is the archive, byte for byte"
    );
    let sidecar = String::from_utf8((there.bytes)(&format!("{name}.sha256"))).unwrap();
    assert_eq!(
        sidecar,
        format!("{}  {name}\n", r["sha256"].as_str().unwrap())
    );

    let ls: Vec<Value> =
        serde_json::from_str(&home.run_ok(&["dest", "ls", dest, "--json"])).unwrap();
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!(ls[0]["name"], name.as_str());
    assert_eq!(ls[0]["backup_id"], id);
    assert_eq!(ls[0]["size_bytes"], r["size_bytes"]);

    // Disaster on the disk: the database changes, the local archive is gone.
    let before = db_fingerprint(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    std::fs::remove_file(&local).unwrap();
    let err = home.run_err(&["restore", &id.to_string(), "--yes"], 2);
    assert!(
        err.contains(&format!("--from {dest}")),
        "the error names the copy: {err}"
    );
    let out = home.run_ok(&[
        "restore",
        &id.to_string(),
        "--from",
        dest,
        "--yes",
        "--no-safety-backup",
    ]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(
        db_fingerprint(&db),
        before,
        "the database came back from the copy exactly"
    );
    // The download was a temporary file: nothing is left of it.
    let tmp = home.home().join("state").join("tmp");
    assert!(
        common::names_in(&tmp)
            .iter()
            .all(|n| !n.contains("download")),
        "{:?}",
        common::names_in(&tmp)
    );
}

/// The destination keeps its own number of copies: with keep-last 2, four backups leave two copies there (the
/// two newest) while the profile keeps all four here.
fn retention_at_the_destination(home: &TestHome, dest: &str, there: &There) {
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (report, _) = home.backup_json("shop");
        ids.push(report["id"].as_i64().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let kept = archives(&(there.names)());
    assert_eq!(kept.len(), 2, "{kept:?}");
    let newest: Vec<String> = ids[2..]
        .iter()
        .map(|id| {
            let p = std::path::PathBuf::from(row(home, *id)["path"].as_str().unwrap().to_string());
            p.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    let mut newest_sorted = newest.clone();
    newest_sorted.sort();
    assert_eq!(kept, newest_sorted);
    for id in &ids[..2] {
        assert_eq!(
            copy_status(home, *id, dest),
            None,
            "a pruned copy is no longer listed"
        );
        assert_eq!(
            row(home, *id)["status"],
            "completed",
            "local retention is the profile's own"
        );
    }
    let names = (there.names)();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".sha256")).count(),
        2,
        "{names:?}"
    );
}

#[test]
fn a_folder_destination_copies_checks_restores_and_keeps_its_own_number() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 300, &[]);
    let dir = home.work().join("usb-disk");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dest_add(
        &home,
        &[
            "usb",
            "--profile",
            "shop",
            "--folder",
            dir.to_str().unwrap(),
            "--keep-last",
            "2",
        ],
        None,
    );
    assert!(ok(&out).contains("destination usb added to profile shop"));
    let there = folder_there(&dir);
    copy_list_and_restore_from(&home, "usb", &there);
    retention_at_the_destination(&home, "usb", &there);

    let list: Vec<Value> = serde_json::from_str(&home.run_ok(&["dest", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "usb");
    assert_eq!(list[0]["kind"], "folder");
    assert_eq!(list[0]["copied"], 2);
    assert!(list[0]["behind_secs"].is_null(), "{list:?}");
    assert!(home.run_ok(&["dest", "test", "usb"]).contains("works"));

    // Removing the destination leaves its copies where they are.
    home.run_ok(&["dest", "remove", "usb"]);
    assert_eq!(archives(&common::names_in(&dir)).len(), 2);
    assert!(home.run_ok(&["dest", "list"]).contains("no destinations"));
}

#[test]
fn dest_add_refuses_bad_fields_and_changes_nothing() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let config = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["x", "--profile", "nope", "--folder", "/tmp"],
            "no profile named 'nope'",
        ),
        (
            &["bad name", "--profile", "shop", "--folder", "/tmp"],
            "invalid destination name",
        ),
        (
            &["x", "--profile", "shop", "--sftp", "host/x"],
            "is not USER@HOST[:PORT]/PATH",
        ),
        (
            &[
                "x",
                "--profile",
                "shop",
                "--s3",
                "ftp://h",
                "--bucket",
                "b",
                "--access-key-id",
                "k",
                "--secret-stdin",
            ],
            "is not an http:// or https:// address",
        ),
        (
            &["x", "--profile", "shop", "--folder", "/nonexistent/usb"],
            "folder /nonexistent/usb is missing (is the drive mounted?)",
        ),
    ];
    for (args, expected) in cases {
        let out = dest_add(&home, args, Some("secret"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("secret\n"), "the secret is never echoed");
    }
    assert_eq!(
        std::fs::read_to_string(home.home().join("config.toml")).unwrap(),
        config
    );
}

const BUCKET: &str = "backups";

fn s3_args<'a>(server: &'a S3Server, prefix: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--profile",
        "shop",
        "--s3",
        &server.endpoint(),
        "--bucket",
        BUCKET,
        "--prefix",
        prefix,
        "--path-style",
        "--access-key-id",
        S3Server::ACCESS_KEY,
        "--secret-stdin",
        "--secret-store",
        "file",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn add_s3(
    home: &TestHome,
    name: &str,
    server: &S3Server,
    prefix: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![name.to_string()];
    args.extend(s3_args(server, prefix, extra));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dest_add(home, &args, Some(S3Server::SECRET_KEY))
}

#[test]
fn s3_copies_checks_restores_and_keeps_its_own_number() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    home.sqlite_profile("shop", 300, &[]);
    ok(&add_s3(
        &home,
        "offsite",
        &server,
        "team/laptop-1/shop",
        &["--keep-last", "2"],
    ));
    let there = s3_there(&server, BUCKET, "team/laptop-1/shop");
    copy_list_and_restore_from(&home, "offsite", &there);
    retention_at_the_destination(&home, "offsite", &there);
    // The secret is in the file store, never in the config.
    let config = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    assert!(!config.contains(S3Server::SECRET_KEY), "{config}");
}

#[test]
fn s3_with_a_wrong_secret_is_refused_and_nothing_is_saved() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &[]);
    let mut args = vec!["offsite".to_string()];
    args.extend(s3_args(&server, "p", &[]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = dest_add(&home, &args, Some("not-the-secret"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("destination offsite refused access"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret"), "{stderr}");
    assert!(home.run_ok(&["dest", "list"]).contains("no destinations"));
    assert!(server.object_paths(BUCKET).is_empty());
}

#[test]
fn s3_down_queues_the_copy_and_sync_copies_it_when_it_is_back() {
    let mut server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    ok(&add_s3(&home, "offsite", &server, "p", &[]));
    server.stop();
    // The backup itself succeeds; its copy fails and waits.
    let (report, stderr) = home.backup_json("shop");
    let id = report["id"].as_i64().unwrap();
    assert!(stderr.contains("copy failed: offsite"), "{stderr}");
    assert!(
        stderr.contains("cannot reach destination offsite"),
        "{stderr}"
    );
    assert_eq!(copy_status(&home, id, "offsite").as_deref(), Some("failed"));
    let list: Vec<Value> = serde_json::from_str(&home.run_ok(&["dest", "list", "--json"])).unwrap();
    assert_eq!(list[0]["failed"], 1);
    assert!(list[0]["behind_secs"].is_i64(), "{list:?}");
    // Still down: sync fails (exit 1), the backup stays completed.
    home.run_code(&["dest", "sync"], 1);
    assert_eq!(row(&home, id)["status"], "completed");
    server.restart();
    let out = home.run_ok(&["dest", "sync"]);
    assert!(out.contains("offsite: 1 copied"), "{out}");
    assert_eq!(copy_status(&home, id, "offsite").as_deref(), Some("copied"));
    let there = s3_there(&server, BUCKET, "p");
    assert_eq!(archives(&(there.names)()).len(), 1);
}

fn sftp_add(home: &TestHome, server: &SftpServer, extra: &[&str]) -> std::process::Output {
    let target = format!(
        "{}@127.0.0.1:{}{}",
        server.user(),
        server.port(),
        server.root().display()
    );
    let key = server.identity();
    let mut args = vec![
        "nas",
        "--profile",
        "shop",
        "--sftp",
        &target,
        "--identity",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut full = vec!["dest", "add"];
    full.extend_from_slice(&args);
    home.command(&full).output().unwrap()
}

#[test]
fn sftp_copies_checks_and_restores() {
    let server = SftpServer::start();
    let home = TestHome::new();
    // The ssh client remembers the host key in the known_hosts of the user's home from the password database, not
    // $HOME: the test's `ssh` on PATH points it at the server's throwaway file instead.
    home.set_env("HOME", server.home());
    home.set_env("PATH", server.path_with_ssh_wrapper());
    home.sqlite_profile("shop", 200, &[]);
    ok(&sftp_add(&home, &server, &["--keep-last", "2"]));
    let root = server.root();
    let there = folder_there(&root);
    copy_list_and_restore_from(&home, "nas", &there);
    retention_at_the_destination(&home, "nas", &there);
}

#[test]
fn webdav_copies_checks_restores_and_refuses_a_wrong_password() {
    let server = WebDavServer::start();
    let home = TestHome::new();
    home.sqlite_profile("shop", 200, &[]);
    let url = server.url();
    let args = [
        "dav",
        "--profile",
        "shop",
        "--webdav",
        &url,
        "--user",
        WebDavServer::USER,
        "--secret-stdin",
        "--secret-store",
        "file",
        "--keep-last",
        "2",
    ];
    let out = dest_add(&home, &args, Some("wrong"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("destination dav refused access"),
        "{stderr}"
    );
    ok(&dest_add(&home, &args, Some(WebDavServer::PASS)));
    let root = server.root();
    let there = folder_there(&root);
    copy_list_and_restore_from(&home, "dav", &there);
    retention_at_the_destination(&home, "dav", &there);
}

/// The disaster case end to end: the machine is gone (the whole Backstop home and storage folder deleted); a fresh
/// home with only the S3 destination rebuilds its catalog from the archives' manifests there and restores the
/// database exactly.
#[test]
fn a_fresh_home_rebuilds_its_catalog_from_s3_and_restores() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let old = TestHome::new();
    let db = old.sqlite_profile("shop", 400, &[]);
    ok(&add_s3(&old, "offsite", &server, "office/shop", &[]));
    let (first, _) = old.backup_json("shop");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id % 2 = 0", [])
        .unwrap();
    let (second, _) = old.backup_json("shop");
    let fingerprint = db_fingerprint(&db);
    let first_name = std::path::Path::new(first["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_owned();
    let second_name = std::path::Path::new(second["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_owned();
    // Fire: the home, its archives and the database are gone.
    std::fs::remove_dir_all(old.home()).unwrap();
    std::fs::remove_file(&db).unwrap();

    let new = TestHome::new();
    let new_db = new.work().join("shop.sqlite3");
    // The database file is gone too: the profile names where it should be.
    std::fs::write(&new_db, b"").unwrap();
    new.run_ok(&[
        "profile",
        "add",
        "shop",
        "--sqlite",
        new_db.to_str().unwrap(),
    ]);
    std::fs::remove_file(&new_db).unwrap();
    let out = ok(&add_s3(&new, "offsite", &server, "office/shop", &[]));
    assert!(
        out.contains("another Backstop home"),
        "the folder is another home's until it is taken over: {out}"
    );
    let out = new.run_ok(&["catalog", "rebuild", "--from", "offsite"]);
    assert!(out.contains("2 backup(s) added"), "{out}");
    assert!(out.contains("it is this home's now"), "{out}");
    let rows = new.list_json();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["status"], "completed");
        assert_eq!(row["copies"][0]["status"], "copied");
        assert_eq!(row["copies"][0]["dest"], "offsite");
    }
    let names: Vec<_> = rows
        .iter()
        .map(|r| {
            std::path::Path::new(r["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        names.contains(&first_name) && names.contains(&second_name),
        "{names:?}"
    );
    let newest = rows
        .iter()
        .max_by_key(|r| r["created_at"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(
        newest["sha256"], second["sha256"],
        "the sidecar at the destination gave the catalog its SHA-256"
    );
    let id = newest["id"].as_i64().unwrap().to_string();
    let out = new.run_ok(&[
        "restore",
        &id,
        "--from",
        "offsite",
        "--yes",
        "--no-safety-backup",
    ]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(
        db_fingerprint(&new_db),
        fingerprint,
        "the database came back from S3 exactly"
    );
    // The new home copies there from now on; the old archives stay.
    new.backup_json("shop");
    let there = s3_there(&server, BUCKET, "office/shop");
    assert_eq!(archives(&(there.names)()).len(), 3);
}

/// Two homes (two laptops) sharing one bucket, each under its own prefix: each lists, prunes and restores only its
/// own; and a second home given the first one's prefix by mistake never writes there.
#[test]
fn two_homes_sharing_a_bucket_never_meet() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let a = TestHome::new();
    let b = TestHome::new();
    a.sqlite_profile("shop", 100, &[]);
    b.sqlite_profile("shop", 200, &[]);
    ok(&add_s3(
        &a,
        "offsite",
        &server,
        "team/laptop-a/shop",
        &["--keep-last", "2"],
    ));
    ok(&add_s3(
        &b,
        "offsite",
        &server,
        "team/laptop-b/shop",
        &["--keep-last", "2"],
    ));
    for _ in 0..3 {
        a.backup_json("shop");
        b.backup_json("shop");
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let a_there = archives(&(s3_there(&server, BUCKET, "team/laptop-a/shop").names)());
    let b_there = archives(&(s3_there(&server, BUCKET, "team/laptop-b/shop").names)());
    assert_eq!(
        (a_there.len(), b_there.len()),
        (2, 2),
        "each pruned its own to two: {a_there:?} {b_there:?}"
    );
    for (home, own) in [(&a, &a_there), (&b, &b_there)] {
        let ls: Vec<Value> =
            serde_json::from_str(&home.run_ok(&["dest", "ls", "offsite", "--json"])).unwrap();
        let mut seen: Vec<String> = ls
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        seen.sort();
        assert_eq!(&seen, own, "a home lists only its own prefix");
        assert!(ls.iter().all(|o| o["backup_id"].is_i64()), "{ls:?}");
    }
    // B restores its own newest from the shared bucket.
    let b_db = b.work().join("shop.sqlite3");
    let before = db_fingerprint(&b_db);
    let newest = b
        .list_json()
        .into_iter()
        .max_by_key(|r| r["id"].as_i64().unwrap())
        .unwrap();
    std::fs::remove_file(newest["path"].as_str().unwrap()).unwrap();
    rusqlite::Connection::open(&b_db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    b.run_ok(&[
        "restore",
        &newest["id"].to_string(),
        "--from",
        "offsite",
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db_fingerprint(&b_db), before);

    // A third home pointed at A's prefix by mistake: added, but nothing of it lands there and A's copies stay.
    let c = TestHome::new();
    c.sqlite_profile("shop", 5, &[]);
    let out = ok(&add_s3(&c, "offsite", &server, "team/laptop-a/shop", &[]));
    assert!(out.contains("another Backstop home"), "{out}");
    let (report, stderr) = c.backup_json("shop");
    assert!(stderr.contains("copy failed: offsite"), "{stderr}");
    assert!(
        report["copies"][0]["error"]
            .as_str()
            .unwrap()
            .contains("another Backstop home"),
        "{report}"
    );
    assert_eq!(
        archives(&(s3_there(&server, BUCKET, "team/laptop-a/shop").names)()),
        a_there
    );
    c.run_code(&["dest", "sync"], 1);
    assert_eq!(
        archives(&(s3_there(&server, BUCKET, "team/laptop-a/shop").names)()),
        a_there
    );
}

/// A SQLite database of incompressible blobs: its archive is about `mib` MiB.
fn big_profile(home: &TestHome, mib: u32) -> std::path::PathBuf {
    let db = home.work().join("big.sqlite3");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);")
        .unwrap();
    for _ in 0..mib {
        conn.execute("INSERT INTO blobs (data) VALUES (randomblob(1048576))", [])
            .unwrap();
    }
    drop(conn);
    home.run_ok(&["profile", "add", "shop", "--sqlite", db.to_str().unwrap()]);
    db
}

/// kill -9 in the middle of a large multipart upload to S3 (an abort right after part 3 reached the server, as a
/// kill would): the backup stays completed, the copy waits with its upload remembered, and the next sync sends
/// only the parts S3 does not have, then completes an object identical to the archive.
#[test]
fn a_killed_s3_upload_resumes_without_sending_again_what_was_done() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    big_profile(&home, 44);
    ok(&add_s3(&home, "offsite", &server, "p", &[]));
    let out = common::run_env(
        &home,
        &["backup", "--profile", "shop"],
        &[("BACKSTOP_FAILPOINT", "copy-part-3:abort")],
    );
    assert_eq!(
        out.status.code(),
        None,
        "killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = home.list_json();
    assert_eq!(rows.len(), 1);
    let id = rows[0]["id"].as_i64().unwrap();
    assert_eq!(
        rows[0]["status"], "completed",
        "the backup was done before its copy began"
    );
    assert_eq!(
        copy_status(&home, id, "offsite").as_deref(),
        Some("copying")
    );
    let there = s3_there(&server, BUCKET, "p");
    assert!(
        archives(&(there.names)()).is_empty(),
        "no half object is visible"
    );
    assert!(
        !server.pending_multipart_files().is_empty(),
        "the parts sent wait on the server"
    );

    let report: Vec<Value> =
        serde_json::from_str(&home.run_ok(&["dest", "sync", "--json"])).unwrap();
    assert_eq!(report[0]["copied"], serde_json::json!([id]), "{report:?}");
    assert_eq!(
        report[0]["resumed_bytes"],
        3 * 8 * 1024 * 1024,
        "parts 1 to 3 were not sent again: {report:?}"
    );
    let local = std::path::PathBuf::from(rows[0]["path"].as_str().unwrap());
    let name = local.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!((there.bytes)(&name), std::fs::read(&local).unwrap());
    assert_eq!(copy_status(&home, id, "offsite").as_deref(), Some("copied"));
    assert!(
        server.pending_multipart_files().is_empty(),
        "{:?}",
        server.pending_multipart_files()
    );
}

/// A kill in the middle of an upload to SFTP (no resume there: the protocol has no multipart) leaves only a hidden
/// `.NAME.partial` that is never listed as an archive; the next sync sends the archive again, whole and checked.
#[test]
fn a_killed_sftp_upload_leaves_no_archive_and_the_next_sync_copies_it_whole() {
    let server = SftpServer::start();
    let home = TestHome::new();
    home.set_env("HOME", server.home());
    home.set_env("PATH", server.path_with_ssh_wrapper());
    big_profile(&home, 20);
    ok(&sftp_add(&home, &server, &[]));
    let out = common::run_env(
        &home,
        &["backup", "--profile", "shop"],
        &[("BACKSTOP_FAILPOINT", "copy-chunk-1:abort")],
    );
    assert_eq!(
        out.status.code(),
        None,
        "killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = server.root();
    assert!(
        archives(&common::names_in(&root)).is_empty(),
        "{:?}",
        common::names_in(&root)
    );
    let ls: Vec<Value> =
        serde_json::from_str(&home.run_ok(&["dest", "ls", "nas", "--json"])).unwrap();
    assert!(ls.is_empty(), "{ls:?}");
    let out = home.run_ok(&["dest", "sync"]);
    assert!(out.contains("nas: 1 copied"), "{out}");
    let row = &home.list_json()[0];
    let local = std::path::PathBuf::from(row["path"].as_str().unwrap());
    let name = local.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        std::fs::read(root.join(&name)).unwrap(),
        std::fs::read(&local).unwrap()
    );
    assert!(
        !common::names_in(&root)
            .iter()
            .any(|n| n.ends_with(".partial")),
        "{:?}",
        common::names_in(&root)
    );
}

/// A destination that is down at backup time: the backup succeeds, its copy fails and waits; `dest sync` while it
/// is still down fails (exit 1) and changes nothing; once it is back, the copy is made and checked.
fn down_then_back(
    home: &TestHome,
    dest: &str,
    stop: &mut dyn FnMut(),
    restart: &mut dyn FnMut(),
    there: &There,
) {
    stop();
    let (report, stderr) = home.backup_json("shop");
    let id = report["id"].as_i64().unwrap();
    assert!(stderr.contains(&format!("copy failed: {dest}")), "{stderr}");
    assert_eq!(copy_status(home, id, dest).as_deref(), Some("failed"));
    home.run_code(&["dest", "sync"], 1);
    assert_eq!(row(home, id)["status"], "completed");
    restart();
    let out = home.run_ok(&["dest", "sync"]);
    assert!(out.contains(&format!("{dest}: 1 copied")), "{out}");
    assert_eq!(copy_status(home, id, dest).as_deref(), Some("copied"));
    let name = std::path::Path::new(row(home, id)["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(archives(&(there.names)()).contains(&name));
}

#[test]
fn sftp_down_then_back_and_a_key_it_does_not_know() {
    let mut server = SftpServer::start();
    let home = TestHome::new();
    home.set_env("HOME", server.home());
    home.set_env("PATH", server.path_with_ssh_wrapper());
    home.sqlite_profile("shop", 50, &[]);
    // A key the server does not know is refused, and nothing is saved.
    let other_key = home.work().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            other_key.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let target = format!(
        "{}@127.0.0.1:{}{}",
        server.user(),
        server.port(),
        server.root().display()
    );
    let out = home
        .command(&[
            "dest",
            "add",
            "nas",
            "--profile",
            "shop",
            "--sftp",
            &target,
            "--identity",
            other_key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("destination nas"), "{stderr}");
    assert!(home.run_ok(&["dest", "list"]).contains("no destinations"));
    ok(&sftp_add(&home, &server, &[]));
    let root = server.root();
    let there = folder_there(&root);
    let server = std::cell::RefCell::new(&mut server);
    down_then_back(
        &home,
        "nas",
        &mut || server.borrow_mut().stop(),
        &mut || server.borrow_mut().restart(),
        &there,
    );
}

#[test]
fn webdav_down_then_back() {
    let mut server = WebDavServer::start();
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    let url = server.url();
    let args = [
        "dav",
        "--profile",
        "shop",
        "--webdav",
        &url,
        "--user",
        WebDavServer::USER,
        "--secret-stdin",
        "--secret-store",
        "file",
    ];
    ok(&dest_add(&home, &args, Some(WebDavServer::PASS)));
    let root = server.root();
    let there = folder_there(&root);
    let server = std::cell::RefCell::new(&mut server);
    down_then_back(
        &home,
        "dav",
        &mut || server.borrow_mut().stop(),
        &mut || server.borrow_mut().restart(),
        &there,
    );
}
