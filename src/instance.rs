//! One window per user: the first `backstop` window listens on a loopback port and says where in
//! `state/instance.json` (`{port, token, pid}`, 0600, written atomically); a second `backstop` reaches it, asks it
//! to show its window (or to offer a file for import) and exits instead of opening a second window and scheduler.
//!
//! The token is random, so another local user (who can reach any loopback port but not the 0600 file) cannot drive
//! the window. What arrives on the socket is untrusted: one line of at most [`MAX_LINE`] bytes, read with a
//! time-out, checked by the pure [`parse_line`]. A file whose process is gone or whose port does not answer with
//! `ok` is stale: it is ignored, and the next window replaces it. Std only, so it works on every platform.
//!
//! The scheduler's guard stays `state/window.lock` (`ui::scheduler`): this file only decides who shows a window.

use crate::config::Paths;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest request line accepted (a token, a word and a path).
pub const MAX_LINE: usize = 8 * 1024;

/// How long either side waits for the other's line.
const LINE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a second `backstop` tries to connect to the first.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a second `backstop` asks the running window to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Show the window: visible, not minimised, focused.
    Show,
    /// Show the window and offer this file (an absolute path) for import.
    Open(PathBuf),
}

impl Request {
    /// The request's words on the wire, after the token.
    fn words(&self) -> Option<String> {
        match self {
            Request::Show => Some("show".into()),
            Request::Open(path) => {
                let text = path.to_str()?;
                valid_path(text).then(|| format!("open {text}"))
            }
        }
    }
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not UTF-8, longer than [`MAX_LINE`], or not ended by a newline.
    Malformed,
    /// The token is not this window's.
    WrongToken,
    /// Neither `show` nor `open <absolute path>`.
    UnknownRequest,
}

/// What `state/instance.json` holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    port: u16,
    token: String,
    pid: u32,
}

/// Where the running window says where it listens.
pub fn record_file(paths: &Paths) -> PathBuf {
    paths.state_dir.join("instance.json")
}

/// Reads one request line sent to a window whose token is `token` (pure: the socket is read elsewhere).
pub fn parse_line(line: &[u8], token: &str) -> Result<Request, Refusal> {
    if line.len() > MAX_LINE {
        return Err(Refusal::Malformed);
    }
    let line = line.strip_suffix(b"\n").ok_or(Refusal::Malformed)?;
    let line = std::str::from_utf8(line).map_err(|_| Refusal::Malformed)?;
    let (sent, rest) = line.split_once(' ').ok_or(Refusal::WrongToken)?;
    if token.is_empty() || !same_token(sent.as_bytes(), token.as_bytes()) {
        return Err(Refusal::WrongToken);
    }
    match rest.split_once(' ') {
        None if rest == "show" => Ok(Request::Show),
        Some(("open", path)) if valid_path(path) => Ok(Request::Open(PathBuf::from(path))),
        _ => Err(Refusal::UnknownRequest),
    }
}

/// An absolute path without control characters (it arrives on one line and is shown in the window).
fn valid_path(text: &str) -> bool {
    !text.is_empty() && Path::new(text).is_absolute() && !text.chars().any(char::is_control)
}

/// Compares tokens in time that does not depend on where they differ.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Asks the window that `state/instance.json` names to carry out `request`. True when it answered `ok`; false
/// when there is no such window (no file, a stale one, a port that does not answer or refuses): then the caller
/// opens the window itself, and its [`Instance::bind`] replaces the file.
pub fn reach(paths: &Paths, request: &Request) -> bool {
    let Some(record) = std::fs::read(record_file(paths))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
    else {
        return false;
    };
    if !process_exists(record.pid) {
        return false;
    }
    let Some(words) = request.words() else {
        return false;
    };
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, record.port));
    let answer = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(LINE_TIMEOUT))?;
        stream.set_write_timeout(Some(LINE_TIMEOUT))?;
        stream.write_all(format!("{} {words}\n", record.token).as_bytes())?;
        let mut answer = String::new();
        BufReader::new(stream.take(64)).read_line(&mut answer)?;
        Ok(answer)
    })();
    matches!(answer.as_deref(), Ok("ok\n"))
}

/// Whether process `pid` still runs (where that can be told cheaply; elsewhere the port's answer decides).
fn process_exists(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// The first window's end: a loopback listener and the record that names it.
pub struct Instance {
    listener: TcpListener,
    token: String,
    file: PathBuf,
}

impl Instance {
    /// Listens on 127.0.0.1 (a port the system picks) and writes `state/instance.json` (0600, atomically),
    /// replacing a stale one.
    pub fn bind(paths: &Paths) -> crate::Result<Instance> {
        paths.ensure()?;
        let file = record_file(paths);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| crate::Error::io("cannot listen on a loopback port", &file, e))?;
        let port = listener
            .local_addr()
            .map_err(|e| crate::Error::io("cannot read the loopback port", &file, e))?
            .port();
        let token = hex::encode(crate::engine::random_bytes(16)?);
        let record = Record {
            port,
            token: token.clone(),
            pid: std::process::id(),
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| crate::Error::Usage(format!("cannot write {}: {e}", file.display())))?;
        crate::fsutil::atomic_write(&file, &bytes)?;
        Ok(Instance {
            listener,
            token,
            file,
        })
    }

    /// Answers second `backstop`s on a thread of its own (`backstop-instance`), one short connection at a time,
    /// handing each accepted request to `on_request`. The returned guard removes the record when dropped.
    pub fn serve(
        self,
        mut on_request: impl FnMut(Request) + Send + 'static,
    ) -> std::io::Result<Served> {
        let Instance {
            listener,
            token,
            file,
        } = self;
        let guard = Served {
            file,
            token: token.clone(),
        };
        std::thread::Builder::new()
            .name("backstop-instance".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    if let Some(request) = answer(stream, &token) {
                        on_request(request);
                    }
                }
            })?;
        Ok(guard)
    }
}

/// Reads one request from `stream` and answers `ok` or `refused`; the accepted request, if any.
fn answer(mut stream: TcpStream, token: &str) -> Option<Request> {
    stream.set_read_timeout(Some(LINE_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(LINE_TIMEOUT)).ok()?;
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
    let read = BufReader::new((&mut stream).take(limit)).read_until(b'\n', &mut line);
    let verdict = match read {
        Ok(_) => parse_line(&line, token),
        Err(_) => Err(Refusal::Malformed),
    };
    let reply: &[u8] = if verdict.is_ok() {
        b"ok\n"
    } else {
        b"refused\n"
    };
    let _ = stream.write_all(reply);
    verdict.ok()
}

/// Keeps `state/instance.json` while the window runs; removes it (if it is still this window's) when dropped.
pub struct Served {
    file: PathBuf,
    token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let ours = std::fs::read(&self.file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .is_some_and(|record| record.token == self.token);
        if ours {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test that meets the unexpected should stop loudly"
)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn request_lines_are_checked_word_by_word() {
        let token = "0123456789abcdef";
        let cases: [(&[u8], Result<Request, Refusal>); 12] = [
            (b"0123456789abcdef show\n", Ok(Request::Show)),
            (
                b"0123456789abcdef open /tmp/a b.zip\n",
                Ok(Request::Open(PathBuf::from("/tmp/a b.zip"))),
            ),
            (b"0123456789abcdef show", Err(Refusal::Malformed)),
            (b"0123456789abcdeX show\n", Err(Refusal::WrongToken)),
            (b"0123456789abcde show\n", Err(Refusal::WrongToken)),
            (b"show\n", Err(Refusal::WrongToken)),
            (b"\n", Err(Refusal::WrongToken)),
            (
                b"0123456789abcdef open relative.zip\n",
                Err(Refusal::UnknownRequest),
            ),
            (
                b"0123456789abcdef open /tmp/a\x1b[2J\n",
                Err(Refusal::UnknownRequest),
            ),
            (
                b"0123456789abcdef show please\n",
                Err(Refusal::UnknownRequest),
            ),
            (b"0123456789abcdef \xff\xfe\n", Err(Refusal::Malformed)),
            (b"0123456789abcdef delete\n", Err(Refusal::UnknownRequest)),
        ];
        for (line, expected) in cases {
            assert_eq!(
                parse_line(line, token),
                expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let long = format!("{token} open /{}\n", "a".repeat(MAX_LINE));
        assert_eq!(parse_line(long.as_bytes(), token), Err(Refusal::Malformed));
        assert_eq!(parse_line(b" show\n", ""), Err(Refusal::WrongToken));
    }

    fn raw(port: u16, bytes: &[u8]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    fn record(paths: &Paths) -> Record {
        serde_json::from_slice(&std::fs::read(record_file(paths)).unwrap()).unwrap()
    }

    #[test]
    fn a_second_process_reaches_the_first_and_a_wrong_token_or_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(!reach(&paths, &Request::Show), "nobody runs yet");
        let (tx, rx) = channel();
        let served = Instance::bind(&paths)
            .unwrap()
            .serve(move |request| tx.send(request).unwrap())
            .unwrap();
        let written = record(&paths);
        assert_eq!(written.pid, std::process::id());
        assert_eq!(written.token.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(record_file(&paths))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        assert!(reach(&paths, &Request::Show));
        assert_eq!(rx.recv().unwrap(), Request::Show);
        let file = dir.path().join("shop.zip");
        assert!(reach(&paths, &Request::Open(file.clone())));
        assert_eq!(rx.recv().unwrap(), Request::Open(file));

        let wrong = format!("{} show\n", "f".repeat(32));
        assert_eq!(raw(written.port, wrong.as_bytes()), "refused\n");
        assert_eq!(raw(written.port, b"\x00\x01garbage\xff"), "refused\n");
        assert_eq!(raw(written.port, &vec![b'x'; MAX_LINE * 4]), "refused\n");
        assert_eq!(raw(written.port, b""), "refused\n");
        // Still answering after all that, and nothing refused reached the window.
        assert!(reach(&paths, &Request::Show));
        assert_eq!(rx.recv().unwrap(), Request::Show);
        assert!(rx.try_recv().is_err());

        drop(served);
        assert!(
            !record_file(&paths).exists(),
            "the record goes with the window"
        );
        assert!(!reach(&paths, &Request::Show));
    }

    #[test]
    fn a_stale_record_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        paths.ensure().unwrap();
        // A window that died: its port is closed now (and, second case, its pid is gone).
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        for pid in [std::process::id(), u32::MAX - 1] {
            let stale = Record {
                port,
                token: "a".repeat(32),
                pid,
            };
            std::fs::write(record_file(&paths), serde_json::to_vec(&stale).unwrap()).unwrap();
            assert!(!reach(&paths, &Request::Show), "pid {pid}");
        }
        std::fs::write(record_file(&paths), b"{not json").unwrap();
        assert!(!reach(&paths, &Request::Show));

        let _served = Instance::bind(&paths).unwrap().serve(|_| {}).unwrap();
        let replaced = record(&paths);
        assert_ne!(replaced.token, "a".repeat(32));
        assert!(reach(&paths, &Request::Show));
    }
}
