//! WebDAV uploads streamed from the file: OpenDAL's WebDAV writer is one-shot (it holds the whole object in
//! memory before its PUT), which a multi-gigabyte archive must never do. The PUT here sends the file in 1 MiB
//! pieces as it reads them, hashing them, with the length known up front; OpenDAL still does everything else
//! (the folder, MOVE into place, lists, reads, deletes).

use super::remote::{Moved, Remote};
use crate::error::{Error, Result};
use crate::progress::{CancelToken, JobControl};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Piece size of a streamed PUT.
const PIECE: usize = 1 << 20;

/// A WebDAV folder to PUT into.
pub struct DavPut {
    http: reqwest::Client,
    /// The folder's URL, without a trailing `/`.
    url: String,
    login: Option<(String, String)>,
}

impl DavPut {
    /// For the folder at `url`, with its login.
    pub fn new(dest: &str, url: &str, login: Option<(String, String)>) -> Result<DavPut> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error::DestinationFailed {
                dest: dest.to_string(),
                detail: format!("cannot start the HTTP client: {e}"),
            })?;
        Ok(DavPut {
            http,
            url: url.trim_end_matches('/').to_string(),
            login,
        })
    }
}

/// The file as a stream of pieces, hashed as they go; a cancel ends it with an error.
struct FileStream {
    file: std::fs::File,
    hasher: Arc<Mutex<Sha256>>,
    sent: Arc<AtomicU64>,
    cancel: CancelToken,
}

impl futures_core::Stream for FileStream {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.cancel.is_cancelled() {
            return Poll::Ready(Some(Err(std::io::Error::other("cancelled"))));
        }
        let mut buf = vec![0u8; PIECE];
        match this.file.read(&mut buf) {
            Ok(0) => Poll::Ready(None),
            Ok(n) => {
                buf.truncate(n);
                if let Ok(mut hasher) = this.hasher.lock() {
                    hasher.update(&buf);
                }
                this.sent.fetch_add(n as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(buf)))
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl Remote {
    /// PUTs `local` as `target` in the WebDAV folder, streamed; returns what was sent and its SHA-256.
    pub(super) fn dav_put(
        &self,
        dav: &DavPut,
        local: &Path,
        target: &str,
        stage: &str,
        job: &JobControl,
    ) -> Result<Moved> {
        let io = |context: &'static str| {
            move |e: std::io::Error| Error::Io {
                context,
                path: local.to_path_buf(),
                source: e,
            }
        };
        let file = std::fs::File::open(local).map_err(io("cannot open the archive to copy"))?;
        let size = file
            .metadata()
            .map_err(io("cannot read the archive to copy"))?
            .len();
        let hasher = Arc::new(Mutex::new(Sha256::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let stream = FileStream {
            file,
            hasher: Arc::clone(&hasher),
            sent: Arc::clone(&sent),
            cancel: job.cancel.clone(),
        };
        let mut request = dav
            .http
            .put(format!("{}/{target}", dav.url))
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some((user, password)) = &dav.login {
            request = request.basic_auth(user, Some(password));
        }
        let response = self.rt.block_on(async {
            let mut send = std::pin::pin!(request.send());
            loop {
                match tokio::time::timeout(Duration::from_millis(200), &mut send).await {
                    Ok(result) => break result,
                    Err(_) => job.progress(stage, sent.load(Ordering::Relaxed), Some(size)),
                }
            }
        });
        job.check()?;
        let response = response.map_err(|e| Error::DestinationUnreachable {
            dest: self.name.clone(),
            detail: format!("upload failed: {}", e.without_url()),
        })?;
        let status = response.status();
        if !status.is_success() {
            let detail = format!("upload refused: HTTP {status}");
            return Err(super::remote::http_status_error(
                &self.name,
                status.as_u16(),
                detail,
            ));
        }
        let sent = sent.load(Ordering::Relaxed);
        let sha256 = match hasher.lock() {
            Ok(hasher) => hex::encode(hasher.clone().finalize()),
            Err(_) => String::new(),
        };
        if sent != size {
            return Err(Error::DestinationFailed {
                dest: self.name.clone(),
                detail: format!(
                    "sent {sent} of {size} bytes (the archive changed while it was copied?)"
                ),
            });
        }
        Ok(Moved {
            size_bytes: sent,
            sha256,
        })
    }
}
