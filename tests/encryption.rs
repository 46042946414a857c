//! Encryption with age, on the real binary: a passphrase or recipient keys; the stock `age` tool (Debian's) decrypts
//! what Backstop wrote and stock tools restore it; a wrong passphrase changes nothing; a new passphrase leaves old
//! backups readable with the old one; nothing unencrypted of an encrypted profile lands on a destination.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::servers::S3Server;
use common::{TestHome, db_fingerprint, feed};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSPHRASE: &str = "correct horse battery staple";
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

fn with_stdin(home: &TestHome, args: &[&str], input: &str) -> std::process::Output {
    feed(home.command(args), &format!("{input}\n"))
}

fn ok(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn starts_with_age(path: &Path) -> bool {
    std::fs::read(path).unwrap().starts_with(AGE_MAGIC)
}

fn encrypt_with_passphrase(home: &TestHome, passphrase: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "profile",
        "edit",
        "shop",
        "--encrypt-passphrase-stdin",
        "--secret-store",
        "file",
    ];
    args.extend_from_slice(extra);
    ok(&with_stdin(home, &args, passphrase))
}

fn newest(home: &TestHome) -> Value {
    home.list_json()
        .into_iter()
        .max_by_key(|r| r["id"].as_i64().unwrap())
        .unwrap()
}

/// A passphrase: the archive is `.zip.age` (no plain zip is left beside it), verify opens it, restore brings the
/// database back exactly, and the catalog says which passphrase it needs.
#[test]
fn a_passphrase_profile_writes_only_encrypted_archives_and_restores() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 300, &[]);
    let out = encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    assert!(out.contains("passphrase p1"), "{out}");
    let config = std::fs::read_to_string(home.home().join("config.toml")).unwrap();
    assert!(
        !config.contains(PASSPHRASE),
        "the passphrase is never in the config"
    );
    let archive = home.backup("shop");
    assert!(
        archive.to_string_lossy().ends_with(".zip.age"),
        "{}",
        archive.display()
    );
    assert!(starts_with_age(&archive));
    let storage = archive.parent().unwrap();
    let names = common::names_in(storage);
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".zip.age") || n.ends_with(".zip.age.sha256")),
        "{names:?}"
    );
    let row = newest(&home);
    assert_eq!(row["encryption"], "passphrase:p1");
    let verified: Value =
        serde_json::from_str(&home.run_ok(&["verify", &row["id"].to_string(), "--json"])).unwrap();
    assert!(
        verified[0]["entries_checked"].as_u64().unwrap() > 0,
        "{verified}"
    );
    assert!(
        home.run_ok(&["show", &row["id"].to_string()])
            .contains("orders")
    );

    let before = db_fingerprint(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    home.run_ok(&[
        "restore",
        &row["id"].to_string(),
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db_fingerprint(&db), before);
    let tmp = home.home().join("state").join("tmp");
    assert!(
        common::names_in(&tmp).is_empty(),
        "no decrypted copy is left: {:?}",
        common::names_in(&tmp)
    );
}

/// A wrong passphrase is a clear error and changes nothing; a passphrase change applies to new backups, and an
/// old backup then says it needs the old passphrase, which opens it.
#[test]
fn a_wrong_passphrase_changes_nothing_and_old_backups_keep_their_passphrase() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 200, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    home.backup("shop");
    let old = newest(&home);
    let before = db_fingerprint(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > 10", [])
        .unwrap();
    let changed = db_fingerprint(&db);

    let out = with_stdin(
        &home,
        &[
            "restore",
            &old["id"].to_string(),
            "--yes",
            "--passphrase-stdin",
        ],
        "not the passphrase",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert!(!stderr.contains("not the passphrase"));
    assert_eq!(db_fingerprint(&db), changed, "nothing changed");

    let out = encrypt_with_passphrase(&home, "a second passphrase", &[]);
    assert!(out.contains("passphrase p2"), "{out}");
    home.backup("shop");
    assert_eq!(newest(&home)["encryption"], "passphrase:p2");
    let err = home.run_err(&["restore", &old["id"].to_string(), "--yes"], 2);
    assert!(
        err.contains("passphrase p1")
            && err.contains("now is p2")
            && err.contains("--passphrase-stdin"),
        "{err}"
    );
    ok(&with_stdin(
        &home,
        &[
            "restore",
            &old["id"].to_string(),
            "--yes",
            "--no-safety-backup",
            "--passphrase-stdin",
        ],
        PASSPHRASE,
    ));
    assert_eq!(
        db_fingerprint(&db),
        before,
        "the old passphrase opened the old backup"
    );
    // The new backup opens with the stored (new) passphrase.
    home.run_ok(&["verify", &newest(&home)["id"].to_string()]);
}

/// Recipient keys: this machine cannot decrypt (restore asks for the key), Debian's stock `age` decrypts with the
/// private key, `sha256sum -c` checks the sidecar, `unzip` and `sqlite3` restore by hand; `--identity` restores.
#[test]
fn the_stock_age_tool_decrypts_a_recipient_archive_and_stock_tools_restore_it() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 250, &[]);
    let key = home.work().join("key.txt");
    assert!(
        Command::new("age-keygen")
            .arg("-o")
            .arg(&key)
            .output()
            .unwrap()
            .status
            .success()
    );
    let public = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let out = home.run_ok(&["profile", "edit", "shop", "--encrypt-to", &public]);
    assert!(out.contains("1 recipient key"), "{out}");
    let archive = home.backup("shop");
    assert!(starts_with_age(&archive));
    let row = newest(&home);
    assert!(
        row["encryption"]
            .as_str()
            .unwrap()
            .starts_with("recipients:")
    );
    let err = home.run_err(&["restore", &row["id"].to_string(), "--yes"], 2);
    assert!(err.contains("--identity"), "{err}");

    // Without Backstop.
    let dir = archive.parent().unwrap();
    let check = Command::new("sha256sum")
        .arg("-c")
        .arg(format!(
            "{}.sha256",
            archive.file_name().unwrap().to_string_lossy()
        ))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let work = home.work().join("by-hand");
    std::fs::create_dir_all(&work).unwrap();
    let zip = work.join("backup.zip");
    let age = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(&zip)
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        age.status.success(),
        "{}",
        String::from_utf8_lossy(&age.stderr)
    );
    let unzip = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&work)
        .output()
        .unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stderr)
    );
    let restored = work.join("database").join("shop.sqlite3");
    let integrity = Command::new("sqlite3")
        .arg(&restored)
        .arg("PRAGMA integrity_check")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&integrity.stdout).trim(), "ok");
    assert_eq!(db_fingerprint(&restored), db_fingerprint(&db));

    // With Backstop and the key.
    let before = db_fingerprint(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    home.run_ok(&[
        "restore",
        &row["id"].to_string(),
        "--yes",
        "--no-safety-backup",
        "--identity",
        key.to_str().unwrap(),
    ]);
    assert_eq!(db_fingerprint(&db), before);
}

/// The stock `age` asks for a passphrase on a terminal only: `expect` types it, as a person would.
#[test]
fn the_stock_age_tool_decrypts_a_passphrase_archive() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 100, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    let archive = home.backup("shop");
    let zip = home.work().join("out.zip");
    let script = format!(
        "log_user 0; spawn age -d -o {} {}; expect \"passphrase:\"; send -- \"$env(AGE_PASS)\\r\"; expect eof; \
         catch wait r; exit [lindex $r 3]",
        zip.display(),
        archive.display()
    );
    let out = Command::new("expect")
        .arg("-c")
        .arg(&script)
        .env("AGE_PASS", PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let work = home.work().join("x");
    let unzip = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&work)
        .output()
        .unwrap();
    assert!(unzip.status.success());
    assert_eq!(
        db_fingerprint(&work.join("database").join("shop.sqlite3")),
        db_fingerprint(&db)
    );
}

const BUCKET: &str = "backups";

fn add_s3(home: &TestHome, server: &S3Server, prefix: &str) {
    let endpoint = server.endpoint();
    let args = [
        "dest",
        "add",
        "offsite",
        "--profile",
        "shop",
        "--s3",
        &endpoint,
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
    ];
    ok(&with_stdin(home, &args, S3Server::SECRET_KEY));
}

/// Every object an encrypted profile puts at a destination: archives are age files (never a zip), plus their
/// sidecars and the marker; nothing else.
fn assert_nothing_plain(server: &S3Server, prefix: &str) -> Vec<String> {
    let keys = server.object_paths(BUCKET);
    assert!(!keys.is_empty());
    let mut archives = Vec::new();
    for key in &keys {
        let name = key.strip_prefix(&format!("{prefix}/")).unwrap();
        let bytes = server.object_bytes(BUCKET, key);
        assert!(!bytes.starts_with(b"PK\x03\x04"), "{key} is a plain zip");
        if name.ends_with(".zip.age") {
            assert!(bytes.starts_with(AGE_MAGIC), "{key}");
            archives.push(name.to_string());
        } else {
            assert!(
                name.ends_with(".zip.age.sha256") || name == ".backstop-destination.json",
                "{key}"
            );
        }
    }
    archives
}

/// "Encrypt off-site copies only": the archive here stays a zip, its copy is encrypted; nothing plain lands on
/// S3; the copy restores with the local archive gone; a fresh home rebuilds its catalog from the encrypted copies
/// once it has the passphrase, and restores.
#[test]
fn offsite_only_encryption_puts_nothing_plain_on_s3_and_the_disaster_case_still_restores() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 300, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &["--encrypt-offsite-only"]);
    add_s3(&home, &server, "enc/shop");
    let archive = home.backup("shop");
    assert!(
        archive.to_string_lossy().ends_with(".zip"),
        "the local archive stays a zip"
    );
    assert!(!starts_with_age(&archive));
    let row = newest(&home);
    assert_eq!(row["copies"][0]["status"], "copied", "{row}");
    let archives = assert_nothing_plain(&server, "enc/shop");
    assert_eq!(archives.len(), 1);

    let before = db_fingerprint(&db);
    std::fs::remove_file(&archive).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    home.run_ok(&[
        "restore",
        &row["id"].to_string(),
        "--from",
        "offsite",
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db_fingerprint(&db), before);

    // The machine is gone; a new one knows the passphrase and the bucket.
    let new = TestHome::new();
    let new_db: PathBuf = new.work().join("shop.sqlite3");
    std::fs::write(&new_db, b"").unwrap();
    new.run_ok(&[
        "profile",
        "add",
        "shop",
        "--sqlite",
        new_db.to_str().unwrap(),
    ]);
    encrypt_with_passphrase(&new, PASSPHRASE, &["--encrypt-offsite-only"]);
    std::fs::remove_file(&new_db).unwrap();
    add_s3(&new, &server, "enc/shop");
    let out = new.run_ok(&["catalog", "rebuild", "--from", "offsite"]);
    assert!(out.contains("1 backup(s) added"), "{out}");
    let id = new.list_json()[0]["id"].to_string();
    new.run_ok(&[
        "restore",
        &id,
        "--from",
        "offsite",
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db_fingerprint(&new_db), before);
}

/// Encrypted everywhere: the archive here and its copy are the same age file.
#[test]
fn an_encrypted_profile_copies_its_encrypted_archive_as_it_is() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    home.sqlite_profile("shop", 100, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    add_s3(&home, &server, "all/shop");
    let archive = home.backup("shop");
    let archives = assert_nothing_plain(&server, "all/shop");
    assert_eq!(
        archives,
        vec![archive.file_name().unwrap().to_string_lossy().into_owned()]
    );
    assert_eq!(
        server.object_bytes(BUCKET, &format!("all/shop/{}", archives[0])),
        std::fs::read(&archive).unwrap()
    );
}

/// `catalog rebuild` from the storage folder reads encrypted archives too (with the stored passphrase), so they
/// never drop out of the catalog.
#[test]
fn a_local_rebuild_keeps_encrypted_archives() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 80, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    home.backup("shop");
    let before = newest(&home);
    let out = home.run_ok(&["catalog", "rebuild"]);
    assert!(out.contains("1 archive(s) catalogued"), "{out}");
    let after = newest(&home);
    assert_eq!(after["path"], before["path"]);
    assert_eq!(after["encryption"], "passphrase:p1");
    assert_eq!(after["kind"], before["kind"]);
    assert_eq!(after["sha256"], before["sha256"]);
    let fingerprint = db_fingerprint(&db);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM orders", [])
        .unwrap();
    home.run_ok(&[
        "restore",
        &after["id"].to_string(),
        "--yes",
        "--no-safety-backup",
    ]);
    assert_eq!(db_fingerprint(&db), fingerprint);
}

/// The recovery sheet names where the copies are and the stock commands that restore one (decrypt with `age`,
/// check with `sha256sum -c`, `unzip`, `sqlite3`), and holds no secret; `--html` writes a printable page.
#[test]
fn the_recovery_sheet_says_where_and_how_and_holds_no_secret() {
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &[]);
    encrypt_with_passphrase(&home, PASSPHRASE, &[]);
    add_s3(&home, &server, "sheet/shop");
    let archive = home.backup("shop");
    let name = archive.file_name().unwrap().to_string_lossy().into_owned();
    let page = home.work().join("sheet.html");
    let sheet = home.run_ok(&[
        "recovery-sheet",
        "--profile",
        "shop",
        "--html",
        page.to_str().unwrap(),
    ]);
    for expected in [
        "BACKSTOP RECOVERY SHEET: profile shop",
        "s3://backups/sheet/shop",
        &server.endpoint(),
        S3Server::ACCESS_KEY,
        &name,
        "key p1",
        "age -d -o backup.zip NAME.zip.age",
        "sha256sum -c NAME.zip.age.sha256",
        "unzip backup.zip -d restored",
        "database/shop.sqlite3",
        "sqlite3",
        "backstop catalog rebuild --from offsite",
        "backstop restore ID --from offsite",
    ] {
        assert!(sheet.contains(expected), "missing {expected:?}:\n{sheet}");
    }
    assert!(
        !sheet.contains(PASSPHRASE) && !sheet.contains(S3Server::SECRET_KEY),
        "{sheet}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<pre>")
            && html.contains("window.print()")
            && html.contains("s3://backups/sheet/shop")
    );
    assert!(!html.contains(PASSPHRASE) && !html.contains(S3Server::SECRET_KEY));
}
