//! The off-site part (issue 14): copying a backup to a destination. A SQLite database of random blobs (about 1 GiB,
//! incompressible, so the archive is as large as the database) is backed up once with no destination; then
//! `backstop dest sync` copies that archive to a real S3 server on loopback (s3s-fs, as the destination tests use)
//! against `rclone copyto` of the same archive file to the same server, and to a local folder against `cp`
//! (+ `sync`). Each `dest sync` is the whole copy as Backstop makes it: the upload, then the copy read back whole
//! and its SHA-256 compared with the catalog's. The part of it until the object shows up on the server under its
//! name (the upload) is timed too, by watching the server's folder. Encryption's cost is
//! measured against the same backup made by a second home whose profile encrypts with a passphrase.

use crate::common::{
    MIB, Measured, RunDir, Runner, Table, backstop, backup_report, bash, command, env_positive,
    file_len, mib, print_rss_method, progress, require_tool, rss, sh_quote, sync, warm,
};
use crate::servers::S3Server;
use rusqlite::{Connection, OpenFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Changing the generator changes this, so databases made by an older version are not reused.
const GENERATOR: &str = "offsite-v1";
/// The default database: 1 GiB of random blobs (the size issue 14 asks for).
const DEFAULT_MIB: u64 = 1024;
/// The profile, the bucket and the two prefixes in it (Backstop's copy and rclone's, side by side).
const PROFILE: &str = "offsite";
const BUCKET: &str = "bench";
const BACKSTOP_PREFIX: &str = "backstop";
const RCLONE_PREFIX: &str = "rclone";
/// How often the bench looks for the copy under its final name while `dest sync` runs.
const WATCH_EVERY: Duration = Duration::from_millis(5);

/// Runs the off-site part in `work` and prints its results.
pub(crate) fn bench_offsite(work: &Path) {
    require_tool("rclone");
    require_tool("cp");
    require_tool("sha256sum");
    let target_mib = env_positive("BACKSTOP_BENCH_OFFSITE_MB").unwrap_or(DEFAULT_MIB);

    // 1. The source database, reused by later runs of the same size.
    let source = work.join(format!("offsite-{target_mib}mib.sqlite3"));
    ensure_source(&source, target_mib);
    let db_bytes = file_len(&source);
    println!(
        "  database:        {} ({}: one table of {target_mib} random 1 MiB blobs, incompressible)",
        source.display(),
        mib(db_bytes)
    );

    // 2. A Backstop home for the run, the S3 server (its own folder in a temporary folder) and the tools' versions.
    let run = RunDir::create(work.join("offsite-run"));
    let home = run.path.join("home");
    let runner = Runner::new(&run.path);
    runner.run(
        "backstop profile add",
        backstop(
            &home,
            [
                OsStr::new("profile"),
                OsStr::new("add"),
                OsStr::new(PROFILE),
                OsStr::new("--sqlite"),
                source.as_os_str(),
                OsStr::new("--no-auto"),
            ],
        ),
        None,
    );
    let server = S3Server::start();
    server.create_bucket(BUCKET);
    println!(
        "  S3 server:       s3s-fs on {} (path style, bucket {BUCKET}), its objects in {} ({} as the work folder)",
        server.endpoint(),
        server.root().display(),
        if same_file_system(&server.root(), &run.path) {
            "the same file system"
        } else {
            "another file system"
        }
    );
    println!("  rclone:          {}", first_line("rclone", "version"));
    print_rss_method(&runner);
    println!(
        "  page cache:      warm for every step: the database is read once before the backup, the archive before \
         each copy, then `sync`"
    );
    println!(
        "  load average:    {} on {} cores before the run (other work on the machine competes with every step)",
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "n/a".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    let settle = |file: &Path| {
        warm(file);
        sync();
    };

    // a. backstop backup, no destination yet: the archive the copies move, and the baseline for encryption.
    settle(&source);
    progress("backstop backup --profile offsite (no destination)");
    let bs_backup = runner.run(
        "backstop backup",
        backstop(&home, ["backup", "--profile", PROFILE, "--json"]),
        None,
    );
    let (backup_id, archive) = backup_report(&bs_backup);
    let archive_sha256 = serde_json::from_str::<serde_json::Value>(bs_backup.stdout())
        .ok()
        .and_then(|r| r["sha256"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no sha256 in backstop's report:\n{}", bs_backup.stdout()));
    let archive_bytes = file_len(&archive);
    let name = archive
        .file_name()
        .unwrap_or_else(|| panic!("the archive {} has no file name", archive.display()))
        .to_string_lossy()
        .into_owned();

    // b. backstop dest sync to S3: `dest add` queues the backup (untimed), `dest sync` copies and checks it.
    let endpoint = server.endpoint();
    dest_add(
        &home,
        &[
            "s3",
            "--profile",
            PROFILE,
            "--s3",
            &endpoint,
            "--bucket",
            BUCKET,
            "--prefix",
            BACKSTOP_PREFIX,
            "--path-style",
            "--access-key-id",
            S3Server::ACCESS_KEY,
            "--secret-stdin",
            "--secret-store",
            "file",
        ],
        Some(S3Server::SECRET_KEY),
    );
    let s3_copy = server.root().join(BUCKET).join(BACKSTOP_PREFIX).join(&name);
    settle(&archive);
    progress("backstop dest sync (S3: upload, then read back and check)");
    let (bs_s3, bs_s3_upload) = run_watching(
        &runner,
        "backstop dest sync (S3)",
        backstop(&home, ["dest", "sync", "--json"]),
        &s3_copy,
    );
    check_sync_report(&bs_s3, "s3", backup_id);

    // c. rclone copyto of the same file to the same server, under another prefix; then the read-back check a user
    // would add, since rclone reads nothing back: `rclone cat` of its copy into `sha256sum`.
    let rclone_copy = server.root().join(BUCKET).join(RCLONE_PREFIX).join(&name);
    let rclone_key = format!("x:{BUCKET}/{RCLONE_PREFIX}/{name}");
    let rclone_config = run.path.join("rclone.conf");
    File::create(&rclone_config)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", rclone_config.display()));
    settle(&archive);
    progress("rclone copyto (S3)");
    let rclone = runner.run(
        "rclone copyto",
        rclone_env(
            command(
                "rclone",
                [
                    OsStr::new("copyto"),
                    archive.as_os_str(),
                    OsStr::new(&rclone_key),
                ],
            ),
            &rclone_config,
            &server,
        ),
        None,
    );
    sync();
    progress("rclone cat | sha256sum (S3: rclone's copy read back and hashed)");
    let rclone_check = runner.run(
        "rclone cat | sha256sum",
        rclone_env(
            bash(&format!("rclone cat {} | sha256sum", sh_quote(&rclone_key))),
            &rclone_config,
            &server,
        ),
        None,
    );
    let read_back = rclone_check
        .stdout()
        .split_whitespace()
        .next()
        .unwrap_or("");
    assert_eq!(
        read_back, archive_sha256,
        "rclone's copy read back with another SHA-256 than the archive's"
    );

    // d. backstop dest sync to a folder (the S3 destination removed first, so this sync touches only the folder).
    runner.run(
        "backstop dest remove",
        backstop(&home, ["dest", "remove", "s3"]),
        None,
    );
    let usb = run.path.join("usb");
    create_dir(&usb);
    dest_add(
        &home,
        &[
            "usb",
            "--profile",
            PROFILE,
            "--folder",
            &usb.to_string_lossy(),
        ],
        None,
    );
    let usb_copy = usb.join(&name);
    settle(&archive);
    progress("backstop dest sync (folder: copy, then read back and check)");
    let (bs_dir, bs_dir_upload) = run_watching(
        &runner,
        "backstop dest sync (folder)",
        backstop(&home, ["dest", "sync", "--json"]),
        &usb_copy,
    );
    check_sync_report(&bs_dir, "usb", backup_id);

    // e. cp of the same file into another folder, then sync.
    let cp_dir = run.path.join("cp");
    create_dir(&cp_dir);
    let cp_copy = cp_dir.join(&name);
    settle(&archive);
    progress("cp");
    let cp = runner.run(
        "cp",
        command("cp", [archive.as_os_str(), cp_copy.as_os_str()]),
        None,
    );
    let cp_sync = runner.run("sync", Command::new("sync"), None);

    // Every copy holds the archive's bytes (untimed).
    for (what, copy) in [
        ("backstop's copy at S3", &s3_copy),
        ("rclone's copy at S3", &rclone_copy),
        ("backstop's copy in the folder", &usb_copy),
        ("cp's copy", &cp_copy),
    ] {
        assert_same_bytes(what, &archive, copy);
    }
    drop(server);
    println!();

    // 3. The results.
    // e. Encryption's cost: the same database backed up by a second home whose profile encrypts with a passphrase
    // (no destination, so the time is the backup's alone), against (a).
    let enc_home = run.path.join("home-encrypted");
    runner.run(
        "backstop profile add (encrypted)",
        backstop(
            &enc_home,
            [
                OsStr::new("profile"),
                OsStr::new("add"),
                OsStr::new(PROFILE),
                OsStr::new("--sqlite"),
                source.as_os_str(),
                OsStr::new("--no-auto"),
            ],
        ),
        None,
    );
    let mut edit = backstop(
        &enc_home,
        [
            "profile",
            "edit",
            PROFILE,
            "--encrypt-passphrase-stdin",
            "--secret-store",
            "file",
        ],
    );
    edit.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = edit
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start backstop profile edit: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "bench passphrase of some length").unwrap();
    }
    let edited = child.wait_with_output().unwrap();
    assert!(
        edited.status.success(),
        "backstop profile edit --encrypt-passphrase-stdin failed: {}",
        String::from_utf8_lossy(&edited.stderr)
    );
    settle(&source);
    progress("backstop backup --profile offsite (encrypted with a passphrase)");
    let bs_encrypted = runner.run(
        "backstop backup (encrypted)",
        backstop(&enc_home, ["backup", "--profile", PROFILE, "--json"]),
        None,
    );
    let (_, encrypted_archive) = backup_report(&bs_encrypted);
    assert!(
        std::fs::read(&encrypted_archive)
            .map(|b| b.starts_with(b"age-encryption.org/v1\n"))
            .unwrap_or(false),
        "{} is not an age file",
        encrypted_archive.display()
    );

    let cp_all = Measured::sum(&cp, &cp_sync);
    let rclone_all = Measured::sum(&rclone, &rclone_check);
    let db_rate = |m: &Measured| db_bytes as f64 / MIB / m.secs;
    let rate = |m: &Measured| archive_bytes as f64 / MIB / m.secs;
    let ratio = |ours: &Measured, theirs: &Measured| ours.secs / theirs.secs;
    let upload_s3 = bs_s3_upload.map(Measured::part);
    let check_s3 = bs_s3_upload.map(|up| Measured::part(bs_s3.secs - up));
    let upload_dir = bs_dir_upload.map(Measured::part);
    println!(
        "Results for a {} archive ({archive_bytes} bytes; backup {backup_id} of the {} database); MiB/s = database \
         size / time for the backup, archive size / time for the copies; backstop/alt on each alternative's row",
        mib(archive_bytes),
        mib(db_bytes)
    );
    let mut table = Table::default();
    table.row(
        "backup",
        "backstop backup (no destination)",
        &bs_backup,
        db_rate(&bs_backup),
        Some(archive_bytes),
        None,
    );
    table.row(
        "copy to S3",
        "backstop dest sync (upload + read-back check)",
        &bs_s3,
        rate(&bs_s3),
        Some(archive_bytes),
        None,
    );
    if let Some(part) = &upload_s3 {
        table.row(
            "",
            "  of which the upload (until the object appears)",
            part,
            rate(part),
            None,
            None,
        );
    }
    if let Some(part) = &check_s3 {
        table.row(
            "",
            "  and the read-back check (the rest)",
            part,
            rate(part),
            None,
            None,
        );
    }
    table.row(
        "",
        "rclone copyto",
        &rclone,
        rate(&rclone),
        Some(archive_bytes),
        Some(ratio(&bs_s3, &rclone)),
    );
    table.row(
        "",
        "rclone cat | sha256sum (read-back check)",
        &rclone_check,
        rate(&rclone_check),
        None,
        check_s3.as_ref().map(|c| ratio(c, &rclone_check)),
    );
    table.row(
        "",
        "rclone copyto + read-back check",
        &rclone_all,
        rate(&rclone_all),
        Some(archive_bytes),
        Some(ratio(&bs_s3, &rclone_all)),
    );
    table.row(
        "copy to folder",
        "backstop dest sync (copy + fsync + read-back check)",
        &bs_dir,
        rate(&bs_dir),
        Some(archive_bytes),
        None,
    );
    if let Some(part) = &upload_dir {
        table.row(
            "",
            "  of which the copy (until the file appears)",
            part,
            rate(part),
            None,
            None,
        );
    }
    for (tool, m) in [("cp", &cp), ("cp + sync", &cp_all)] {
        table.row(
            "",
            tool,
            m,
            rate(m),
            Some(archive_bytes),
            Some(ratio(&bs_dir, m)),
        );
    }
    table.print();
    println!();
    let part_text = |part: &Option<Measured>,
                     whole: &Measured,
                     alt: (&str, &Measured),
                     what: &str| {
        part.as_ref()
            .map(|p| {
                format!(
                    "of it the {what} {:.2} s ({:.1} MiB/s), the read-back check and the rest {:.2} s; backstop's \
                     {what} alone/{} {:.2}",
                    p.secs,
                    rate(p),
                    whole.secs - p.secs,
                    alt.0,
                    ratio(p, alt.1)
                )
            })
            .unwrap_or_else(|| {
                format!("its {what} alone: n/a (the copy was not seen under its name while the sync ran)")
            })
    };
    println!(
        "S3:      backstop dest sync {:.2} s ({:.1} MiB/s); rclone copyto {:.2} s ({:.1} MiB/s); backstop/rclone \
         {:.2} (whole sync with its check vs rclone's upload); {}; rclone copyto + rclone cat | sha256sum {:.2} s \
         ({:.1} MiB/s), backstop/that {:.2}",
        bs_s3.secs,
        rate(&bs_s3),
        rclone.secs,
        rate(&rclone),
        ratio(&bs_s3, &rclone),
        part_text(&upload_s3, &bs_s3, ("rclone", &rclone), "upload"),
        rclone_all.secs,
        rate(&rclone_all),
        ratio(&bs_s3, &rclone_all)
    );
    println!(
        "folder:  backstop dest sync {:.2} s ({:.1} MiB/s); cp {:.2} s ({:.1} MiB/s), cp + sync {:.2} s ({:.1} \
         MiB/s); backstop/cp {:.2}, backstop/(cp + sync) {:.2}; {}",
        bs_dir.secs,
        rate(&bs_dir),
        cp.secs,
        rate(&cp),
        cp_all.secs,
        rate(&cp_all),
        ratio(&bs_dir, &cp),
        ratio(&bs_dir, &cp_all),
        part_text(&upload_dir, &bs_dir, ("(cp + sync)", &cp_all), "copy")
    );
    println!(
        "backup:  backstop backup {:.2} s ({:.1} MiB/s) with no destination",
        bs_backup.secs,
        db_rate(&bs_backup)
    );
    println!(
        "memory:  peak RSS with a {} archive: backstop dest sync {} (S3), {} (folder); rclone copyto {}, rclone \
         cat | sha256sum {} (largest process); cp {}; backstop backup {}",
        mib(archive_bytes),
        rss(bs_s3.rss_kib),
        rss(bs_dir.rss_kib),
        rss(rclone.rss_kib),
        rss(rclone_check.rss_kib),
        rss(cp.rss_kib),
        rss(bs_backup.rss_kib)
    );
    println!(
        "encryption: backstop backup with a passphrase {:.2} s ({:.1} MiB/s, archive {}) against {:.2} s without: \
         ratio {:.2}; peak RSS {} against {} (scrypt 2^18 for the check that decrypts the new archive again)",
        bs_encrypted.secs,
        db_rate(&bs_encrypted),
        mib(file_len(&encrypted_archive)),
        bs_backup.secs,
        bs_encrypted.secs / bs_backup.secs,
        rss(bs_encrypted.rss_kib),
        rss(bs_backup.rss_kib)
    );
    println!(
        "check:   the two copies at S3 (backstop's and rclone's) and the two in folders (backstop's and cp's) are \
         byte for byte the archive; rclone cat | sha256sum printed the archive's SHA-256"
    );
    println!();
    println!(
        "Notes: single runs in the order shown, each starting with the archive in the page cache (the bench \
         never drops it: that needs root and empties it for the whole machine) and no writeback pending; the server runs on this machine, so both uploads pay for its \
         writes alike (s3s-fs stores each part as a file and joins them \
         on Complete). backstop dest sync is one whole process: start, catalog, connect, an 8 MiB-part multipart \
         upload one part at a time (resumable after a kill), a small .sha256 sidecar, then the whole object read \
         back in one streaming GET and its SHA-256 compared. The upload part is from its start until \
         the object shows up under its name in the server's folder (looked for every {} ms); the check is the \
         rest. rclone copyto runs with its defaults: a file \
         over its 200 MiB --s3-upload-cutoff goes in 5 MiB parts, --s3-upload-concurrency 4 at a time, after the \
         whole file was read once for its MD5 (smaller ones in one PUT); it reads nothing back, so `rclone cat | sha256sum` (one GET) stands for the check \
         a user would add. The folder copy is fsynced before its rename; cp leaves its writes to the kernel: the `cp + \
         sync` row adds the time `sync` then takes.",
        WATCH_EVERY.as_millis()
    );

    // 4. Clean up the run's copies; the source database stays for the next run.
    drop(run);
    println!("Kept {} for the next run.", source.display());
}

/// Runs `cmd` like [`Runner::run`] while watching for `landed` to exist; returns the measurement and the seconds
/// from the start until `landed` was first seen (None if it never was while the command ran).
fn run_watching(
    runner: &Runner,
    label: &str,
    cmd: Command,
    landed: &Path,
) -> (Measured, Option<f64>) {
    assert!(
        !landed.exists(),
        "{} exists before {label}",
        landed.display()
    );
    std::thread::scope(|scope| {
        let start = Instant::now();
        let handle = scope.spawn(move || runner.run(label, cmd, None));
        let mut seen = None;
        while !handle.is_finished() {
            if seen.is_none() && landed.exists() {
                seen = Some(start.elapsed().as_secs_f64());
            }
            std::thread::sleep(WATCH_EVERY);
        }
        let measured = handle
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (measured, seen)
    })
}

/// `backstop dest add` with `args`, the secret (if any) on its standard input (never on its command line).
fn dest_add(home: &Path, args: &[&str], secret: Option<&str>) {
    let mut cmd = backstop(home, ["dest", "add"]);
    cmd.args(args)
        .stdin(if secret.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start backstop dest add: {e}"));
    if let Some(secret) = secret {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{secret}").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "backstop dest add {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `dest sync --json` copied backup `id` to `dest` and nothing failed.
fn check_sync_report(sync: &Measured, dest: &str, id: i64) {
    let report: serde_json::Value = serde_json::from_str(sync.stdout()).unwrap_or_else(|e| {
        panic!(
            "backstop dest sync --json printed something that is not JSON ({e}):\n{}",
            sync.stdout()
        )
    });
    let mine = report
        .as_array()
        .and_then(|all| all.iter().find(|r| r["dest"] == dest))
        .unwrap_or_else(|| panic!("no report for {dest} from backstop dest sync:\n{report}"));
    assert_eq!(
        mine["copied"],
        serde_json::json!([id]),
        "backstop dest sync did not copy backup {id} to {dest}:\n{report}"
    );
    assert_eq!(
        mine["failed"],
        serde_json::json!([]),
        "backstop dest sync failed at {dest}:\n{report}"
    );
}

/// `cmd` (rclone, or a pipeline that runs it) with an on-the-fly remote `x` for `server` from the environment (the
/// secret there, not on a command line) and `config` as its (empty) config file.
fn rclone_env(mut cmd: Command, config: &Path, server: &S3Server) -> Command {
    // rclone 1.60's AWS SDK fails on any AWS_CA_BUNDLE ("unable to load custom CA bundle"), even for http.
    cmd.env_remove("AWS_CA_BUNDLE")
        .env("RCLONE_CONFIG", config)
        .env("RCLONE_CONFIG_X_TYPE", "s3")
        .env("RCLONE_CONFIG_X_PROVIDER", "Other")
        .env("RCLONE_CONFIG_X_ENDPOINT", server.endpoint())
        .env("RCLONE_CONFIG_X_ACCESS_KEY_ID", S3Server::ACCESS_KEY)
        .env("RCLONE_CONFIG_X_SECRET_ACCESS_KEY", S3Server::SECRET_KEY)
        .env("RCLONE_CONFIG_X_FORCE_PATH_STYLE", "true");
    cmd
}

/// The first line `program arg` prints, or `n/a`.
fn first_line(program: &str, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "n/a".into())
}

/// Whether two existing paths are on the same file system (same device).
fn same_file_system(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev(),
        _ => false,
    }
}

fn create_dir(path: &Path) {
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
}

/// Panics unless `copy` holds exactly the bytes of `original`.
fn assert_same_bytes(what: &str, original: &Path, copy: &Path) {
    let (a_len, b_len) = (file_len(original), file_len(copy));
    assert_eq!(
        a_len,
        b_len,
        "{what} ({}) is {b_len} bytes, the archive {a_len}",
        copy.display()
    );
    let open =
        |p: &Path| File::open(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    let (mut a, mut b) = (open(original), open(copy));
    let (mut x, mut y) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    let mut at = 0u64;
    loop {
        let n = fill(&mut a, &mut x, original);
        let m = fill(&mut b, &mut y, copy);
        assert!(
            n == m && x[..n] == y[..m],
            "{what} ({}) differs from the archive within bytes {at}..{}",
            copy.display(),
            at + n as u64
        );
        if n == 0 {
            return;
        }
        at += n as u64;
    }
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn fill(file: &mut File, buf: &mut [u8], path: &Path) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        }
    }
    n
}

/// Makes the database unless an earlier run made it for this size with this generator.
fn ensure_source(path: &Path, target_mib: u64) {
    if let Some(secs) = reusable(path, target_mib) {
        println!(
            "  generation:      reused the database made by an earlier run (it took {secs:.1} s to generate)"
        );
        return;
    }
    let partial = path.with_extension("sqlite3.partial");
    for stale in [path.to_path_buf(), partial.clone()] {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = stale.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    println!("  generation:      making a {target_mib} MiB database of random blobs ...");
    let start = Instant::now();
    generate(&partial, target_mib, &start)
        .unwrap_or_else(|e| panic!("cannot generate {}: {e}", partial.display()));
    std::fs::rename(&partial, path).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            path.display()
        )
    });
    let secs = start.elapsed().as_secs_f64();
    println!("  generation:      {} in {secs:.1} s", mib(file_len(path)));
}

/// As the destination tests' `big_profile`: `randomblob(1048576)` rows, here in one transaction, plus the
/// `bench_meta` table that says how the file was made.
fn generate(path: &Path, target_mib: u64, start: &Instant) -> rusqlite::Result<()> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
         CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL); \
         CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO blobs (data) VALUES (randomblob(1048576))")?;
        for _ in 0..target_mib {
            insert.execute([])?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    for (key, value) in [
        ("generator", GENERATOR.to_string()),
        ("target_mib", target_mib.to_string()),
        ("generation_secs", format!("{secs:.1}")),
    ] {
        tx.execute(
            "INSERT INTO bench_meta (key, value) VALUES (?1, ?2)",
            [key, value.as_str()],
        )?;
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    // On disk before the rename makes it reusable.
    File::open(path)
        .and_then(|f| f.sync_all())
        .unwrap_or_else(|e| panic!("cannot sync {}: {e}", path.display()));
    Ok(())
}

/// The generation time recorded in the database, if it was completed by this generator for this size.
fn reusable(path: &Path, target_mib: u64) -> Option<f64> {
    if !path.is_file() || file_len(path) < target_mib * 1024 * 1024 {
        return None;
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
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
