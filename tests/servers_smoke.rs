//! The storage test servers of tests/common/servers.rs with their stock clients (issue 14): for S3 (s3s-fs), SFTP
//! (sshd) and WebDAV (rclone serve webdav), upload 20 MiB, read it back byte for byte, stop the server and see the
//! connection refused, restart it on the same port and find the file still there. S3 also refuses a wrong secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use common::servers::{S3Server, SftpServer, WebDavServer, port_refused};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const SIZE: usize = 20 * 1024 * 1024;

/// `SIZE` bytes that do not compress and differ per `seed` (xorshift).
fn payload(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(SIZE);
    while out.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(SIZE);
    out
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null());
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn ok(command: &mut Command) -> Output {
    let out = run(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn same_bytes(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap();
    assert_eq!(
        got.len(),
        expected.len(),
        "{} has the wrong size",
        path.display()
    );
    assert!(
        got == expected,
        "{} differs from what was sent",
        path.display()
    );
}

/// `rclone` with an S3 remote `X:` made of environment variables (no config file; its own HOME in `home`).
fn rclone_s3(server: &S3Server, secret: &str, home: &Path) -> Command {
    let mut command = Command::new("rclone");
    command
        // rclone 1.60's AWS SDK fails on any AWS_CA_BUNDLE ("unable to load custom CA bundle"), even for http.
        .env_remove("AWS_CA_BUNDLE")
        .env("HOME", home)
        .env("RCLONE_CONFIG", home.join("rclone.conf"))
        .env("RCLONE_CONFIG_X_TYPE", "s3")
        .env("RCLONE_CONFIG_X_PROVIDER", "Other")
        .env("RCLONE_CONFIG_X_ENDPOINT", server.endpoint())
        .env("RCLONE_CONFIG_X_ACCESS_KEY_ID", S3Server::ACCESS_KEY)
        .env("RCLONE_CONFIG_X_SECRET_ACCESS_KEY", secret)
        .env("RCLONE_CONFIG_X_FORCE_PATH_STYLE", "true")
        // Fail fast when the server is down or refuses.
        .args([
            "--retries",
            "1",
            "--low-level-retries",
            "1",
            "--contimeout",
            "5s",
        ]);
    command
}

#[test]
fn s3_server_round_trip_stop_restart_and_bad_secret() {
    let mut server = S3Server::start();
    server.create_bucket("backups");
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let data = payload(1);
    let src = work.path().join("archive.bin");
    std::fs::write(&src, &data).unwrap();

    // The folder made by create_bucket is a bucket to the server: it lists it (ListBuckets), no CreateBucket sent.
    let listed = ok(rclone_s3(&server, S3Server::SECRET_KEY, &home).args(["lsf", "X:"]));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "backups/");

    ok(rclone_s3(&server, S3Server::SECRET_KEY, &home)
        .args(["copyto", "--s3-no-check-bucket"])
        .arg(&src)
        .arg("X:backups/daily/archive.bin"));
    assert_eq!(server.object_paths("backups"), ["daily/archive.bin"]);
    assert!(server.object_bytes("backups", "daily/archive.bin") == data);
    let back = work.path().join("back.bin");
    ok(rclone_s3(&server, S3Server::SECRET_KEY, &home)
        .arg("copyto")
        .arg("X:backups/daily/archive.bin")
        .arg(&back));
    same_bytes(&back, &data);

    // A wrong secret: the signature does not match, the server refuses, nothing lands.
    let bad = run(rclone_s3(&server, "not-the-secret", &home)
        .args(["copyto", "--s3-no-check-bucket"])
        .arg(&src)
        .arg("X:backups/intruder.bin"));
    assert!(!bad.status.success(), "a wrong secret key was accepted");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    assert!(
        server.log().contains("SignatureDoesNotMatch"),
        "{}",
        server.log()
    );
    assert_eq!(server.object_paths("backups"), ["daily/archive.bin"]);

    // Server down: connections refused, the client fails.
    server.stop();
    assert!(port_refused(server.port()));
    let down = run(rclone_s3(&server, S3Server::SECRET_KEY, &home).args(["lsf", "X:backups"]));
    assert!(!down.status.success(), "rclone listed a stopped server");
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("connection refused"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );

    // Back up on the same port: the object is still there.
    let port = server.port();
    server.restart();
    assert_eq!(server.port(), port);
    std::fs::remove_file(&back).unwrap();
    ok(rclone_s3(&server, S3Server::SECRET_KEY, &home)
        .arg("copyto")
        .arg("X:backups/daily/archive.bin")
        .arg(&back));
    same_bytes(&back, &data);
    assert!(server.running());
}

/// `sftp -b` with `batch` (commands, one a line) as root, HOME in `server.home()`.
fn sftp(server: &SftpServer, work: &Path, batch: &str) -> Output {
    let batch_file = work.join("batch");
    std::fs::write(&batch_file, batch).unwrap();
    run(Command::new("sftp")
        .env("HOME", server.home())
        .arg("-b")
        .arg(&batch_file)
        .args(server.ssh_options())
        .args(["-P", &server.port().to_string()])
        .arg(format!("{}@127.0.0.1", server.user())))
}

#[test]
fn sftp_server_round_trip_stop_restart() {
    let mut server = SftpServer::start();
    let work = tempfile::tempdir().unwrap();
    let data = payload(2);
    let src = work.path().join("archive.bin");
    std::fs::write(&src, &data).unwrap();
    let remote = server.root().join("archive.bin");
    let back = work.path().join("back.bin");
    let real_known_hosts = Path::new("/root/.ssh/known_hosts");
    let real_before = std::fs::read(real_known_hosts).ok();

    let put = sftp(
        &server,
        work.path(),
        &format!("put {} {}\n", src.display(), remote.display()),
    );
    assert!(put.status.success(), "{put:?}");
    same_bytes(&remote, &data);
    let get = sftp(
        &server,
        work.path(),
        &format!("get {} {}\n", remote.display(), back.display()),
    );
    assert!(get.status.success(), "{get:?}");
    same_bytes(&back, &data);

    // The host key was accepted into home()/.ssh/known_hosts, not the real one.
    // (Debian's /etc/ssh/ssh_config hashes the names: look it up with ssh-keygen -F.)
    let found = ok(Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[127.0.0.1]:{}", server.port()))
        .arg("-f")
        .arg(server.known_hosts()));
    assert!(!found.stdout.is_empty(), "{found:?}");
    assert_eq!(std::fs::read(real_known_hosts).ok(), real_before);

    // `ssh` from PATH through the wrapper (how OpenDAL's sftp service runs it): same known hosts, now trusted.
    let remote_sum = ok(Command::new("ssh")
        .env("PATH", server.path_with_ssh_wrapper())
        .env("HOME", server.home())
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-i",
        ])
        .arg(server.identity())
        .args([
            "-p",
            &server.port().to_string(),
            "root@127.0.0.1",
            "wc",
            "-c",
        ])
        .arg(&remote));
    assert!(
        String::from_utf8_lossy(&remote_sum.stdout).starts_with(&SIZE.to_string()),
        "{remote_sum:?}"
    );
    assert_eq!(std::fs::read(real_known_hosts).ok(), real_before);

    // Server down: an open session is cut, new connections are refused, sftp fails.
    let mut session = Command::new("ssh")
        .args(server.ssh_options())
        .args([
            "-p",
            &server.port().to_string(),
            "root@127.0.0.1",
            "echo connected; sleep 60",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(session.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "connected\n");
    server.stop();
    let cut = std::time::Instant::now();
    while session.try_wait().unwrap().is_none() {
        assert!(
            cut.elapsed().as_secs() < 10,
            "the open ssh session outlived the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!session.wait().unwrap().success());
    assert!(port_refused(server.port()));
    let down = sftp(
        &server,
        work.path(),
        &format!("get {} {}\n", remote.display(), back.display()),
    );
    assert!(
        !down.status.success(),
        "sftp worked against a stopped server"
    );
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("Connection refused"),
        "{down:?}"
    );

    // Back up on the same port (same host key: known_hosts still matches), the file still there.
    server.restart();
    std::fs::remove_file(&back).unwrap();
    let again = sftp(
        &server,
        work.path(),
        &format!("get {} {}\n", remote.display(), back.display()),
    );
    assert!(again.status.success(), "{again:?}");
    same_bytes(&back, &data);
}

#[test]
fn webdav_server_round_trip_stop_restart() {
    let mut server = WebDavServer::start();
    let work = tempfile::tempdir().unwrap();
    let data = payload(3);
    let src = work.path().join("archive.bin");
    std::fs::write(&src, &data).unwrap();
    let back = work.path().join("back.bin");
    let user = format!("{}:{}", WebDavServer::USER, WebDavServer::PASS);
    // curl: the HTTP status on stdout.
    let curl = |args: &[&str]| -> String {
        let out = ok(Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", &user])
            .args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let file_url = format!("{}daily/archive.bin", server.url());

    // No folder yet: PUT is refused; MKCOL first.
    assert_eq!(curl(&["-T", src.to_str().unwrap(), &file_url]), "404");
    assert_eq!(
        curl(&["-X", "MKCOL", &format!("{}daily", server.url())]),
        "201"
    );
    assert_eq!(curl(&["-T", src.to_str().unwrap(), &file_url]), "201");
    same_bytes(&server.root().join("daily/archive.bin"), &data);
    let get = ok(Command::new("curl")
        .args(["-sS", "--fail", "-u", &user, "-o"])
        .arg(&back)
        .arg(&file_url));
    assert!(get.status.success());
    same_bytes(&back, &data);
    // A wrong password is refused.
    let bad = ok(Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "u:wrong",
        ])
        .arg(&file_url));
    assert_eq!(String::from_utf8_lossy(&bad.stdout), "401");

    // Server down: refused (curl exit 7: could not connect).
    server.stop();
    assert!(port_refused(server.port()));
    let down = run(Command::new("curl").args(["-sS", "-u", &user, "-o", "/dev/null", &file_url]));
    assert_eq!(down.status.code(), Some(7), "{down:?}");

    server.restart();
    std::fs::remove_file(&back).unwrap();
    ok(Command::new("curl")
        .args(["-sS", "--fail", "-u", &user, "-o"])
        .arg(&back)
        .arg(&file_url));
    same_bytes(&back, &data);
}
