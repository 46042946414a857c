//! Import detection by content, with the real tools' output (issue 10, item 6): pg_dump's tar and directory
//! formats (tarred, zipped, or a folder given as a path) are database dumps; one rule unwraps a single top
//! folder in zips and tars alike, and the import says so; MySQL/MariaDB dumps are named as such and refused for
//! profiles of other engines; messages name formats exactly; a folder import skips django-dbbackup `.metadata`
//! sidecars; a file already catalogued is reported as a duplicate; `import --json` lists refusals with reasons.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::{PgTestDb, TestHome, foreign, psql, sh, tree};
use serde_json::Value;
use std::path::Path;

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the real binary, checks its exit code, returns (stdout, stderr).
fn run(home: &TestHome, args: &[&str], code: i32) -> (String, String) {
    let out = home.run(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "backstop {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

#[track_caller]
fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
    }
}

/// Imports `file` into `profile`, expecting it to be reported as `detected` and to become a backup of `kind`;
/// returns the new catalog row.
#[track_caller]
fn import_as(home: &TestHome, file: &Path, profile: &str, detected: &str, kind: &str) -> Value {
    let (out, _) = run(home, &["import", s(file), "--profile", profile], 0);
    assert_has(&out, &[detected]);
    let row = home.newest_row();
    assert_eq!(row["kind"], kind, "{}", file.display());
    row
}

/// A PostgreSQL database of this test run with two tables of rows (dropped with its copies at the end).
fn pg_source(tag: &str) -> PgTestDb {
    let db = PgTestDb::new(&format!("bk_det_{tag}"));
    psql(
        &db.name,
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric, photo bytea);
         INSERT INTO items (name, price, photo)
           SELECT 'item ' || g || ' ü', g * 1.25, decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
         CREATE TABLE notes (id bigserial PRIMARY KEY, item_id int REFERENCES items(id), body text);
         INSERT INTO notes (item_id, body) SELECT 1 + g % 500, repeat('n', g % 30) FROM generate_series(1, 900) g;",
    );
    db
}

/// Each table's rows, hashed in a stable order.
fn fingerprint(db: &PgTestDb) -> String {
    psql(
        &db.name,
        "SELECT (SELECT count(*) || ':' || md5(string_agg(i::text, '|' ORDER BY i.id)) FROM items i) || ';' ||
                (SELECT count(*) || ':' || md5(string_agg(n::text, '|' ORDER BY n.id)) FROM notes n)",
    )
}

/// Scratch databases an import left behind (`<db>_import_…`, `<db>__backstop_import_…`).
fn import_leftovers(db: &PgTestDb) -> String {
    psql(
        "postgres",
        &format!(
            "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE '{}%import%'",
            db.name
        ),
    )
    .trim()
    .to_string()
}

// ---------------------------------------------------------------------------------------------------------------
// pg_dump's tar and directory formats

#[test]
fn pg_dump_tar_and_directory_formats_import_as_database_dumps() {
    let home = TestHome::new();
    let db = pg_source("fmt");
    let work = home.work();
    // The profile has a files folder: a dump taken for a media folder would replace it on restore.
    let files = work.join("site-files");
    std::fs::create_dir_all(files.join("uploads")).unwrap();
    std::fs::write(files.join("uploads/keep.txt"), b"the site's own file\n").unwrap();
    home.add_pg_profile("pg", &db.name, &["--files", s(&files)]);
    let original = fingerprint(&db);
    let files_before = tree(&files);

    // The real tools, as the reporter used them.
    sh(
        &work,
        &format!(
            "pg_dump -Ft -f shop.tar {0} && gzip -c shop.tar > shop.tar.gz \
             && pg_dump -Fd -f shopdir {0} && tar cf shopdir.tar shopdir && tar czf shopdir.tar.gz shopdir \
             && zip -qr shopdir.zip shopdir && tar cf shopdir-flat.tar -C shopdir .",
            db.name
        ),
    );
    #[rustfmt::skip]
    let cases = [
        ("shop.tar", "(PostgreSQL tar-format dump)"),
        ("shop.tar.gz", "(gzipped PostgreSQL tar-format dump)"),
        ("shopdir.tar", "(PostgreSQL directory-format dump tar, unwrapped its top folder shopdir/)"),
        ("shopdir.tar.gz", "(PostgreSQL directory-format dump tar.gz, unwrapped its top folder shopdir/)"),
        ("shopdir.zip", "(PostgreSQL directory-format dump zip, unwrapped its top folder shopdir/)"),
        ("shopdir-flat.tar", "(PostgreSQL directory-format dump tar)"),
        ("shopdir", "(PostgreSQL directory-format dump folder)"),
    ];
    for (name, detected) in cases {
        let row = import_as(&home, &work.join(name), "pg", detected, "database");
        assert_eq!(row["engine"], "postgres", "{name}");
        psql(
            &db.name,
            "DELETE FROM notes; UPDATE items SET name = 'changed';",
        );
        assert_ne!(fingerprint(&db), original);
        home.restore_row(&row);
        assert_eq!(fingerprint(&db), original, "restore of {name}");
        assert_eq!(tree(&files), files_before, "{name}: files folder untouched");
    }
    assert_eq!(import_leftovers(&db), "", "no scratch database is left");
    let tmp = home.home().join("state/tmp");
    assert_eq!(
        tree(&tmp).len(),
        0,
        "no scratch file or folder is left: {:?}",
        tree(&tmp)
    );
}

#[test]
fn a_pg_directory_dump_with_anything_else_inside_is_refused_and_leaves_nothing() {
    let home = TestHome::new();
    let db = pg_source("bad");
    home.add_pg_profile("pg", &db.name, &[]);
    let work = home.work();
    sh(&work, &format!("pg_dump -Fd -f shopdir {}", db.name));
    let tmp = home.home().join("state/tmp");
    let refused = |path: &Path, needles: &[&str]| {
        let (_, err) = run(&home, &["import", s(path), "--profile", "pg"], 1);
        assert_has(&err, &["was refused"]);
        assert_has(&err, needles);
        assert_eq!(home.list_json().len(), 0, "nothing catalogued");
        assert_eq!(tree(&tmp).len(), 0, "no scratch left: {:?}", tree(&tmp));
        assert_eq!(import_leftovers(&db), "", "nothing loaded");
    };

    // A link in a -Fd folder given as the path is never followed.
    sh(
        &work,
        "cp -r shopdir linked && ln -s /etc/passwd linked/9999.dat",
    );
    refused(
        &work.join("linked"),
        &["entry '9999.dat' is a symbolic link", "holds only files"],
    );

    // A tar of the folder with a link among the data files, as a hostile tool would write it.
    let tar_path = work.join("linked.tar");
    {
        let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        builder
            .append_dir_all("shopdir", work.join("shopdir"))
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        header.set_cksum();
        builder
            .append_link(&mut header, "shopdir/9999.dat", "/etc/passwd")
            .unwrap();
        builder.finish().unwrap();
    }
    refused(&tar_path, &["entry 'shopdir/9999.dat' is a symbolic link"]);

    // The import limit counts every byte extracted from the folder: a dump of about 3 MiB against a limit of half
    // its size (the smallest limit the config takes is 1 MiB).
    psql(
        &db.name,
        "CREATE TABLE blobs (b bytea);
         INSERT INTO blobs SELECT decode(string_agg(md5(random()::text), ''), 'hex') FROM generate_series(1, 200000);",
    );
    sh(&work, &format!("pg_dump -Fd -Z0 -f bigdir {}", db.name));
    let size: u64 = tree(&work.join("bigdir"))
        .keys()
        .map(|name| {
            std::fs::metadata(work.join("bigdir").join(name))
                .unwrap()
                .len()
        })
        .sum();
    assert!(size / 2 >= 1 << 20, "{size}");
    let config = home.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let limited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("max_import_bytes = ") {
                format!("max_import_bytes = {}", size / 2)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&config, limited.join("\n") + "\n").unwrap();
    refused(&work.join("bigdir"), &["import limit"]);
}

// ---------------------------------------------------------------------------------------------------------------
// One rule for a single top folder

/// A media folder: nested folders, a name with spaces and unicode, an empty file and an empty folder.
fn make_media(root: &Path) {
    for (rel, bytes) in [
        ("readme.txt", &b"media root\n"[..]),
        ("photos/2024/caf\u{e9} menu.txt", "caf\u{e9}\n".as_bytes()),
        ("photos/empty.txt", b""),
        ("docs/deep/leaf.bin", &[0u8, 1, 2, 255]),
    ] {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("empty dir")).unwrap();
}

#[test]
fn one_rule_unwraps_a_single_top_folder_in_zips_and_tars() {
    let home = TestHome::new();
    let work = home.work();
    let live_db = work.join("live.sqlite3");
    backstop::demo::make_sample_database(&live_db, 20).unwrap();
    let live_files = work.join("files");
    std::fs::create_dir_all(&live_files).unwrap();
    run(
        &home,
        &[
            "profile",
            "add",
            "site",
            "--sqlite",
            s(&live_db),
            "--files",
            s(&live_files),
            "--no-auto",
        ],
        0,
    );
    let src = work.join("src");
    let media = src.join("media");
    make_media(&media);
    // A media root holding one folder, archived without folder entries (django-dbbackup mediabackup): its
    // `uploads/` is content, not a wrapper.
    let only = src.join("only");
    std::fs::create_dir_all(only.join("uploads/2024")).unwrap();
    std::fs::write(only.join("uploads/2024/a.txt"), b"a\n").unwrap();
    std::fs::write(only.join("uploads/b.txt"), b"b\n").unwrap();
    foreign(
        "dbbackup-media",
        &src.join("host-2024-03-05-101500.tar.gz"),
        &["--media", s(&only), "--gzip"],
    );
    sh(
        &src,
        "tar czf media.tar.gz media && tar cf media.tar media && zip -qr media.zip media \
         && tar czf rooted.tar.gz -C media . && (cd media && zip -qr ../flat.zip .)",
    );
    #[rustfmt::skip]
    let cases = [
        ("media.tar.gz", "(media folder tar.gz, unwrapped its top folder media/)", &media),
        ("media.tar", "(media folder tar, unwrapped its top folder media/)", &media),
        ("media.zip", "(media folder zip, unwrapped its top folder media/)", &media),
        ("rooted.tar.gz", "(media folder tar.gz)", &media),
        ("flat.zip", "(media folder zip)", &media),
        ("host-2024-03-05-101500.tar.gz", "(media folder tar.gz)", &only),
    ];
    for (name, detected, expected) in cases {
        let row = import_as(&home, &src.join(name), "site", detected, "files");
        backstop::files::remove_tree(&live_files);
        std::fs::create_dir_all(live_files.join("junk")).unwrap();
        home.restore_row(&row);
        let restored = tree(&live_files);
        let wanted = tree(expected);
        if name.starts_with("host-") {
            // mediabackup keeps files only: every file is back where it was.
            let files_of = |t: &std::collections::BTreeMap<String, String>| {
                t.iter()
                    .filter(|(_, v)| *v != "dir")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(files_of(&restored), files_of(&wanted), "{name}");
        } else {
            assert_eq!(restored, wanted, "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// MySQL / MariaDB dumps

/// A MariaDB database of this test run on 127.0.0.1:3306 (root, no password), dropped at the end.
struct MariaDb {
    name: String,
}

impl MariaDb {
    fn new() -> MariaDb {
        let name = format!("bk_det_my_{}", std::process::id());
        sh(
            Path::new("/"),
            &format!(
                "mariadb -h127.0.0.1 -uroot -e \"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}; \
                 USE {name}; CREATE TABLE customers (id int PRIMARY KEY, name varchar(40)); \
                 INSERT INTO customers VALUES (1, 'Zoë'), (2, 'Li');\""
            ),
        );
        MariaDb { name }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("mariadb")
            .args(["-h127.0.0.1", "-uroot", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS {}", self.name))
            .output();
    }
}

#[test]
fn mysql_and_mariadb_dumps_are_named_refused_for_other_engines_and_imported_into_theirs() {
    let home = TestHome::new();
    let work = home.work();
    let maria = MariaDb::new();
    let pg = pg_source("my");
    home.add_pg_profile("pg", &pg.name, &[]);
    home.sqlite_profile("lite", 10, &["--no-auto"]);
    let pg_before = fingerprint(&pg);
    sh(
        &work,
        &format!(
            "mysqldump -h127.0.0.1 -uroot {0} > shop.sql \
             && mariadb-dump -h127.0.0.1 -uroot --compact {0} > compact.sql \
             && mariadb-dump -h127.0.0.1 -uroot --skip-comments {0} | gzip > shop_20250301_101500.sql.gz",
            maria.name
        ),
    );
    for name in ["shop.sql", "compact.sql", "shop_20250301_101500.sql.gz"] {
        for (profile, engine) in [("pg", "postgres"), ("lite", "sqlite")] {
            let (_, err) = run(
                &home,
                &["import", s(&work.join(name)), "--profile", profile],
                1,
            );
            assert_has(
                &err,
                &[
                    "was refused",
                    "MariaDB dump",
                    &format!("profile {profile} uses {engine}"),
                ],
            );
            assert!(
                !err.contains("PostgreSQL") && !err.contains("syntax error"),
                "{name} into {profile}: never taken for a PostgreSQL dump: {err}"
            );
        }
    }
    assert_eq!(home.list_json().len(), 0, "refused imports add no row");
    // Into a MySQL/MariaDB profile the same files are imported (tests/import_mysql.rs checks their content).
    home.add_my_profile("my", &maria.name, 3306, None);
    for name in ["shop.sql", "compact.sql", "shop_20250301_101500.sql.gz"] {
        let (out, _) = run(
            &home,
            &["import", s(&work.join(name)), "--profile", "my"],
            0,
        );
        assert!(out.contains("MariaDB dump"), "{name}: {out}");
    }
    assert_eq!(home.list_json().len(), 3);
    assert_eq!(
        import_leftovers(&pg),
        "",
        "nothing was loaded into a scratch database"
    );
    assert_eq!(fingerprint(&pg), pg_before);
}

// ---------------------------------------------------------------------------------------------------------------
// Folders, duplicates and `import --json`

fn import_json(home: &TestHome, args: &[&str], code: i32) -> Value {
    let mut all = vec!["import", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&run(home, &all, code).0).unwrap()
}

fn sources(report: &Value, list: &str) -> Vec<String> {
    let mut names: Vec<String> = report[list]
        .as_array()
        .unwrap_or_else(|| panic!("{list} in {report}"))
        .iter()
        .map(|r| {
            Path::new(r["source"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_folder_import_skips_sidecars_reports_duplicates_and_lists_refusals() {
    let home = TestHome::new();
    let work = home.work();
    let db = home.sqlite_profile("shop", 30, &["--no-auto"]);
    let folder = work.join("dbbackup");
    std::fs::create_dir_all(&folder).unwrap();
    let copy = folder.join("default-myhost-2024-03-01-101500.sqlite3.gz");
    foreign("dbbackup-sqlite-backup", &copy, &["--db", s(&db), "--gzip"]);
    let dump = folder.join("default-myhost-2024-03-02-101500.dump");
    foreign("dbbackup-sqlite", &dump, &["--db", s(&db)]);
    for backup in [&copy, &dump] {
        let sidecar = format!("{}.metadata", backup.display());
        foreign(
            "dbbackup-metadata",
            Path::new(&sidecar),
            &["--backup", s(backup)],
        );
    }

    std::fs::create_dir_all(folder.join("older")).unwrap();
    let first = import_json(&home, &[s(&folder), "--profile", "shop"], 0);
    assert_eq!(
        sources(&first, "imported"),
        [
            "default-myhost-2024-03-01-101500.sqlite3.gz",
            "default-myhost-2024-03-02-101500.dump"
        ]
    );
    assert_eq!(
        sources(&first, "skipped"),
        [
            "default-myhost-2024-03-01-101500.sqlite3.gz.metadata",
            "default-myhost-2024-03-02-101500.dump.metadata",
            "older"
        ]
    );
    assert_has(&first["skipped"][0]["reason"].to_string(), &["sidecar"]);
    assert_has(
        &first["skipped"][2]["reason"].to_string(),
        &["folders are not entered"],
    );
    assert_eq!(sources(&first, "refused"), Vec::<String>::new());
    assert_eq!(sources(&first, "duplicates"), Vec::<String>::new());
    let rows = home.list_json();
    assert_eq!(rows.len(), 2);

    // The same folder again: both files are already catalogued (same SHA-256), nothing is added, exit 0.
    let again = import_json(&home, &[s(&folder), "--profile", "shop"], 0);
    assert_eq!(sources(&again, "imported"), Vec::<String>::new());
    assert_eq!(sources(&again, "duplicates").len(), 2);
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    for dup in again["duplicates"].as_array().unwrap() {
        assert!(ids.contains(&dup["backup_id"].as_i64().unwrap()), "{dup}");
    }
    assert_eq!(home.list_json(), rows, "nothing added");

    // A refused file is listed with its reason beside the duplicates; the import exits 1.
    std::fs::write(folder.join("notes.txt"), "just notes\n").unwrap();
    let refused = import_json(&home, &[s(&folder), "--profile", "shop"], 1);
    assert_eq!(sources(&refused, "refused"), ["notes.txt"]);
    assert_has(
        refused["refused"][0]["reason"].as_str().unwrap(),
        &["not a format Backstop understands"],
    );
    assert_eq!(sources(&refused, "duplicates").len(), 2);
    assert_eq!(home.list_json(), rows, "still nothing added");
    std::fs::remove_file(folder.join("notes.txt")).unwrap();

    // Named one by one (`import dbbackup/*`), a sidecar is passed over just the same.
    let sidecar = format!("{}.metadata", dump.display());
    let named = import_json(&home, &[s(&dump), &sidecar, "--profile", "shop"], 0);
    assert_eq!(sources(&named, "duplicates").len(), 1);
    assert_eq!(
        sources(&named, "skipped"),
        ["default-myhost-2024-03-02-101500.dump.metadata"]
    );

    // A catalog rebuilt from the archives still knows what was imported.
    run(&home, &["catalog", "rebuild"], 0);
    let rebuilt = import_json(&home, &[s(&folder), "--profile", "shop"], 0);
    assert_eq!(sources(&rebuilt, "duplicates").len(), 2, "{rebuilt}");

    // Backstop archives: a backup exported and imported again is the backup itself; an archive of another
    // profile imported twice is added once.
    let own = home.backup("shop");
    let own_id = home.newest_row()["id"].as_i64().unwrap();
    let exported = work.join("exported.zip");
    run(
        &home,
        &["export", &own_id.to_string(), "--to", s(&exported)],
        0,
    );
    let (out, _) = run(&home, &["import", s(&exported), "--profile", "shop"], 0);
    assert_has(
        &out,
        &[&format!("already catalogued as backup {own_id}"), "SHA-256"],
    );
    let (out, _) = run(&home, &["import", s(&own), "--profile", "shop"], 0);
    assert_has(&out, &[&format!("already catalogued as backup {own_id}")]);
    home.sqlite_profile("other", 5, &["--no-auto"]);
    let theirs = home.backup("other");
    let before = home.list_json().len();
    let once = import_json(&home, &[s(&theirs), "--profile", "shop"], 0);
    assert_eq!(sources(&once, "imported").len(), 1);
    let new_id = once["imported"][0]["backup"]["id"].as_i64().unwrap();
    let twice = import_json(&home, &[s(&theirs), "--profile", "shop"], 0);
    assert_eq!(twice["duplicates"][0]["backup_id"].as_i64(), Some(new_id));
    assert_eq!(home.list_json().len(), before + 1, "added once");
}
