//! Real storage servers on 127.0.0.1 for the destination tests (issue 14): s3s-fs for S3, Debian's sshd for SFTP
//! and `rclone serve webdav` for WebDAV. Each test starts its own instance on a free port with its own root folder
//! in a tempdir, so it can stop the server ("server down"), restart it on the same port with the same folder, and
//! look at what landed on disk.
//!
//! Every server is killed (with every process it started) when its value is dropped. A missing program makes
//! `start` panic with the command that installs it: these tests fail loudly, they never skip.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

use std::ffi::OsString;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer on its port after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A port nobody listens on right now (bind 127.0.0.1:0, read the port, let it go). Another process may take it
/// before the server binds it; `start` then tries again with a new port.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_answers(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// Whether a TCP connection to 127.0.0.1:`port` is refused right now (what a client sees while a server is down).
pub fn port_refused(port: u16) -> bool {
    match TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    ) {
        Ok(_) => false,
        Err(e) => e.kind() == ErrorKind::ConnectionRefused,
    }
}

/// A program on PATH, or in `extra` folders after it.
fn find_program(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn require_program(name: &str, extra: &[PathBuf], install: &str) -> PathBuf {
    find_program(name, extra).unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH (or in {extra:?}); the destination tests need it: {install}"
        )
    })
}

/// The parent process id of `pid`, from /proc/PID/stat (None when it is gone).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so read after the last ')'.
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every process below it (children, their children...), parents first.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(listing) = std::fs::read_dir("/proc") {
        for entry in listing.flatten() {
            if let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                && let Some(parent) = parent_of(p)
            {
                all.push((p, parent));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

/// One server process: how to start it, where its output goes, and the running child.
struct Proc {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    /// A line the server prints once it listens (with the port answering: ready).
    ready: String,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Proc {
    /// Starts the server on `self.port` and waits until it listens. Err (with its log) when it ended before
    /// (a port taken by someone else, a bad option) or did not answer in time.
    fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let log_start = log.metadata().unwrap().len();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {} ({}): {e}",
                self.name,
                self.program.display()
            )
        });
        self.child = Some(child);
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "{} ended ({status}) before it listened on port {}:\n{}",
                    self.name,
                    self.port,
                    self.log_since(log_start)
                ));
            }
            if self.log_since(log_start).contains(&self.ready) && port_answers(self.port) {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                self.kill();
                return Err(format!(
                    "{} did not answer on port {} within {START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.port,
                    self.log_since(log_start)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `spawn` on a fresh free port, a few times (another process may grab the port between `free_port` and bind).
    fn spawn_on_free_port(&mut self, set_port: impl Fn(&mut Proc, u16)) {
        let mut errors = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            set_port(self, port);
            match self.spawn() {
                Ok(()) => return,
                Err(e) => errors.push(e),
            }
        }
        panic!("{} would not start:\n{}", self.name, errors.join("\n---\n"));
    }

    /// `spawn` on the same port again, retrying for a while (right after a kill the port may still be held).
    fn respawn(&mut self) {
        let mut errors = Vec::new();
        for _ in 0..10 {
            match self.spawn() {
                Ok(()) => return,
                Err(e) => errors.push(e),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "{} would not restart on port {}:\n{}",
            self.name,
            self.port,
            errors.join("\n---\n")
        );
    }

    fn log_since(&self, offset: u64) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(offset).unwrap().min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    /// SIGKILL to the server and every process under it (sshd's per-connection children run in their own
    /// sessions, so a process group would miss them), then waits until the port refuses connections. The tree is
    /// stopped (SIGSTOP) first and listed again, so a process forked meanwhile is not left running.
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signal = |name: &str, pids: &[u32]| {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        };
        signal("STOP", &process_tree(child.id()));
        signal("KILL", &process_tree(child.id()));
        let _ = child.kill();
        let _ = child.wait();
        let start = Instant::now();
        while port_answers(self.port) && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sets the argument that follows `flag` (the port) in the argument list.
fn replace_arg_after(args: &mut [OsString], flag: &str, value: String) {
    let at = args.iter().position(|a| a == flag).unwrap() + 1;
    args[at] = value.into();
}

// ---------------------------------------------------------------------------------------------------------------

/// An S3 server: `s3s-fs` 0.14.1 (`cargo install s3s-fs@0.14.1 --features binary --locked`), path-style requests,
/// SigV4 checked against [`S3Server::ACCESS_KEY`] / [`S3Server::SECRET_KEY`].
///
/// On disk (s3s-fs 0.14.1): a bucket is a folder `ROOT/BUCKET` and an object the plain file `ROOT/BUCKET/KEY`
/// (a key with `/` makes sub-folders; a key ending in `/` is an empty folder). Everything else sits at the top of
/// ROOT, never inside a bucket: per object `.bucket-B64(bucket).object-B64(key).internal.json` (its ETag and
/// checksums) and `...metadata.json` (`x-amz-meta-*` and content headers); every write goes through
/// `.tmp.N.internal.part` then a rename (so a half-sent PUT never shows under the bucket; the server deletes these
/// at start). An unfinished multipart upload is `.upload-UUID.json` (the access key that started it), one
/// `.upload_id-UUID.part-N` per part received and `.bucket-...object-....upload-UUID.metadata.json`; Complete
/// concatenates the parts into the object and deletes them, Abort deletes them.
///
/// Seen with s3s-fs 0.14.1 (rclone 1.60, boto3): PutObject, GetObject (Range too), HeadObject, DeleteObject,
/// CopyObject, ListObjectsV2 (no ETag in its entries), Create/UploadPart/Complete/AbortMultipartUpload work;
/// `x-amz-meta-*` round-trips (HeadObject returns it, names lower-cased), also through multipart; a wrong secret
/// is `SignatureDoesNotMatch` (403); bucket names are checked (3 to 63 characters: "b" is `InvalidBucketName`).
/// Its gaps: ListParts returns number, size and date but no ETag, in directory order (not sorted), for any key,
/// and an empty list for an unknown upload; ListMultipartUploads is `NotImplemented`; Complete does not compare the
/// part ETags sent, needs parts numbered 1..N without gaps, and when it fails (gap: `InvalidRequest`, a part under
/// 5 MiB: `EntityTooSmall`) the upload is gone anyway (its `.upload-UUID.json` deleted first: Abort and UploadPart
/// then get `AccessDenied`) and the part files stay behind in ROOT.
pub struct S3Server {
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl S3Server {
    pub const ACCESS_KEY: &'static str = "test";
    pub const SECRET_KEY: &'static str = "testsecret";
    pub const INSTALL: &'static str = "cargo install s3s-fs@0.14.1 --features binary --locked";

    pub fn start() -> S3Server {
        let mut extra = Vec::new();
        if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
            extra.push(PathBuf::from(cargo_home).join("bin"));
        }
        if let Some(home) = std::env::var_os("HOME") {
            extra.push(PathBuf::from(home).join(".cargo/bin"));
        }
        let program = require_program("s3s-fs", &extra, Self::INSTALL);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let args: Vec<OsString> = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--access-key".into(),
            Self::ACCESS_KEY.into(),
            "--secret-key".into(),
            Self::SECRET_KEY.into(),
            root.into(),
        ];
        let mut proc = Proc {
            name: "s3s-fs",
            program,
            args,
            // Its log line "server is running at http://...", plain text (no colours: not a terminal).
            envs: vec![("RUST_LOG".into(), "info".into())],
            ready: "server is running".into(),
            log: dir.path().join("s3s-fs.log"),
            port: 0,
            child: None,
        };
        proc.spawn_on_free_port(|p, port| {
            p.port = port;
            replace_arg_after(&mut p.args, "--port", port.to_string());
        });
        S3Server { dir, proc }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// `http://127.0.0.1:P` (path-style: the bucket is the first path segment).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.proc.port)
    }

    /// The folder s3s-fs serves.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The server's output (tracing at `info`).
    pub fn log(&self) -> String {
        self.proc.log_since(0)
    }

    /// A bucket, made as a folder under ROOT (s3s-fs lists, heads and writes into any folder of ROOT as a bucket).
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root().join(name)).unwrap();
    }

    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Kills the server (connections in flight are cut); its port refuses connections when this returns.
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port with the same ROOT.
    pub fn restart(&mut self) {
        self.proc.kill();
        self.proc.respawn();
    }

    /// The keys of the objects in `bucket`, sorted, from what is on disk (files under ROOT/BUCKET; the server's own
    /// files never sit there, and the two temporary patterns are left out should a later version put them there).
    pub fn object_paths(&self, bucket: &str) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(listing) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in listing.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = format!("{prefix}{name}");
                let file_type = entry.file_type().unwrap();
                if file_type.is_dir() {
                    walk(&entry.path(), &format!("{key}/"), out);
                } else {
                    let temporary = name.starts_with(".tmp.") && name.ends_with(".internal.part");
                    if !temporary && !name.starts_with(".upload_id-") {
                        out.push(key);
                    }
                }
            }
        }
        let mut keys = Vec::new();
        walk(&self.root().join(bucket), "", &mut keys);
        keys.sort();
        keys
    }

    /// The bytes of an object, read from disk.
    pub fn object_bytes(&self, bucket: &str, key: &str) -> Vec<u8> {
        let path = self.root().join(bucket).join(key);
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("object {bucket}/{key} ({}): {e}", path.display()))
    }

    /// The files of multipart uploads not completed nor aborted (`.upload-UUID.json`, `.upload_id-UUID.part-N`,
    /// `.bucket-...upload-UUID.metadata.json`), sorted: empty once every upload was completed or aborted.
    pub fn pending_multipart_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(".upload-")
                    || n.starts_with(".upload_id-")
                    || (n.starts_with(".bucket-") && n.contains(".upload-"))
            })
            .collect();
        names.sort();
        names
    }
}

// ---------------------------------------------------------------------------------------------------------------

/// An SFTP server: Debian's `/usr/sbin/sshd` (package openssh-server) as root on 127.0.0.1, key login only, with a
/// throwaway ed25519 host key and client key made with `ssh-keygen` in the tempdir, and `internal-sftp`.
///
/// Known hosts: OpenSSH's `ssh` (and `sftp`, which runs it) does NOT read `$HOME`: `~/.ssh` is the home folder of
/// the user in /etc/passwd (/root), so `HOME=home()` alone still writes /root/.ssh/known_hosts. Stock clients get
/// [`SftpServer::ssh_options`] (`UserKnownHostsFile` in `home()/.ssh`); a program that runs `ssh` from PATH
/// (OpenDAL's sftp service through the openssh crate) gets [`SftpServer::path_with_ssh_wrapper`] as its PATH.
/// HOME still matters for the openssh crate: its default control folder is under `$HOME/.local/state`.
pub struct SftpServer {
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl SftpServer {
    pub const USER: &'static str = "root";

    pub fn start() -> SftpServer {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        assert!(
            sshd.is_file(),
            "/usr/sbin/sshd not found; the destination tests need it: apt-get install openssh-server openssh-client"
        );
        let keygen = require_program("ssh-keygen", &[], "apt-get install openssh-client");
        // sshd refuses to start without its privilege separation folder.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (key, comment) in [
            ("host_key", "backstop-test-host"),
            ("client_key", "backstop-test-client"),
        ] {
            let out = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(d.join(key))
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir(d.join("root")).unwrap();
        std::fs::create_dir_all(d.join("home/.ssh")).unwrap();
        std::fs::set_permissions(d.join("home/.ssh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        // `ssh` for PATH: the real one, told to keep known hosts in home()/.ssh (options given first win).
        std::fs::create_dir(d.join("bin")).unwrap();
        let wrapper = d.join("bin/ssh");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -o 'UserKnownHostsFile={}' \"$@\"\n",
                d.join("home/.ssh/known_hosts").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

        let o = |s: String| -> [OsString; 2] { ["-o".into(), s.into()] };
        let mut args: Vec<OsString> = vec![
            "-D".into(),
            "-e".into(),
            "-p".into(),
            "0".into(),
            "-f".into(),
            "/dev/null".into(),
            "-h".into(),
            d.join("host_key").into(),
        ];
        for option in [
            "ListenAddress=127.0.0.1".to_string(),
            format!("AuthorizedKeysFile={}", d.join("authorized_keys").display()),
            "StrictModes=no".to_string(),
            "PasswordAuthentication=no".to_string(),
            "KbdInteractiveAuthentication=no".to_string(),
            "PermitRootLogin=prohibit-password".to_string(),
            "Subsystem=sftp internal-sftp".to_string(),
            format!("PidFile={}", d.join("sshd.pid").display()),
        ] {
            args.extend(o(option));
        }
        let mut proc = Proc {
            name: "sshd",
            program: sshd,
            args,
            envs: Vec::new(),
            ready: "Server listening on 127.0.0.1 port".into(),
            log: d.join("sshd.log"),
            port: 0,
            child: None,
        };
        proc.spawn_on_free_port(|p, port| {
            p.port = port;
            p.ready = format!("Server listening on 127.0.0.1 port {port}.");
            replace_arg_after(&mut p.args, "-p", port.to_string());
        });
        SftpServer { dir, proc }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    pub fn user(&self) -> &'static str {
        Self::USER
    }

    /// The client's private key (ed25519, no passphrase); its public half is the only authorized key.
    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// A folder to put archives in (absolute path: SFTP paths are the server's own).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A HOME for the client side (rclone, Backstop...). See the type's note: `ssh` ignores it for known hosts.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The client's known hosts file, in `home()/.ssh` (absent until a client accepted the host key).
    pub fn known_hosts(&self) -> PathBuf {
        self.home().join(".ssh/known_hosts")
    }

    /// The known hosts line for this server (`[127.0.0.1]:P ssh-ed25519 AAAA...`), to pre-trust it (strict checking).
    pub fn known_hosts_line(&self) -> String {
        let public = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        format!("[127.0.0.1]:{} {kind} {key}", self.port())
    }

    /// Options for stock `ssh`/`sftp`: no prompts, accept the new host key into `known_hosts()`, this identity only.
    /// The port is not in them (`ssh -p`, `sftp -P`).
    pub fn ssh_options(&self) -> Vec<String> {
        vec![
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=accept-new".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts().display()),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
            "-i".into(),
            self.identity().display().to_string(),
        ]
    }

    /// A folder with an `ssh` that runs /usr/bin/ssh with `UserKnownHostsFile=known_hosts()`.
    pub fn ssh_wrapper_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// PATH with `ssh_wrapper_dir()` first, for a child process that runs `ssh` from PATH.
    pub fn path_with_ssh_wrapper(&self) -> OsString {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::join_paths(
            std::iter::once(self.ssh_wrapper_dir()).chain(std::env::split_paths(&path)),
        )
        .unwrap()
    }

    /// sshd's output (`-e`: its log on stderr).
    pub fn log(&self) -> String {
        self.proc.log_since(0)
    }

    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Kills sshd and every session it forked (open SFTP sessions break); the port refuses connections after.
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port, same host key, same root.
    pub fn restart(&mut self) {
        self.proc.kill();
        self.proc.respawn();
    }
}

// ---------------------------------------------------------------------------------------------------------------

/// A WebDAV server: `rclone serve webdav ROOT` (Debian's rclone 1.60) with basic auth [`WebDavServer::USER`] /
/// [`WebDavServer::PASS`].
///
/// Behaviour seen with rclone 1.60.1: PUT into a folder that does not exist is 404 (MKCOL each folder first, 201);
/// a wrong password is 401. A PUT with `Content-Range` is NOT a partial write: it answers 201 and replaces the whole
/// file with the body (so a client must never rely on ranged PUT here); PATCH is 400. GET with Range works.
pub struct WebDavServer {
    pub dir: tempfile::TempDir,
    proc: Proc,
}

impl WebDavServer {
    pub const USER: &'static str = "u";
    pub const PASS: &'static str = "p";

    pub fn start() -> WebDavServer {
        let rclone = require_program("rclone", &[], "apt-get install rclone");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("root")).unwrap();
        std::fs::create_dir(d.join("home")).unwrap();
        let args: Vec<OsString> = vec![
            "serve".into(),
            "webdav".into(),
            d.join("root").into(),
            "--addr".into(),
            "127.0.0.1:0".into(),
            "--user".into(),
            Self::USER.into(),
            "--pass".into(),
            Self::PASS.into(),
        ];
        let mut proc = Proc {
            name: "rclone serve webdav",
            program: rclone,
            args,
            // Its own HOME and a config path in the tempdir: rclone creates ~/.config/rclone otherwise.
            envs: vec![
                ("HOME".into(), d.join("home").into()),
                ("RCLONE_CONFIG".into(), d.join("home/rclone.conf").into()),
            ],
            ready: "WebDav Server started".into(),
            log: d.join("rclone.log"),
            port: 0,
            child: None,
        };
        proc.spawn_on_free_port(|p, port| {
            p.port = port;
            replace_arg_after(&mut p.args, "--addr", format!("127.0.0.1:{port}"));
        });
        WebDavServer { dir, proc }
    }

    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// `http://127.0.0.1:P/` (the root of the served folder).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.proc.port)
    }

    /// The folder served.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn log(&self) -> String {
        self.proc.log_since(0)
    }

    pub fn running(&mut self) -> bool {
        self.proc.running()
    }

    /// Kills the server; its port refuses connections when this returns.
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts it again on the same port with the same root.
    pub fn restart(&mut self) {
        self.proc.kill();
        self.proc.respawn();
    }
}
