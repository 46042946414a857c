//! One connected destination: Apache OpenDAL's operator for its kind, run on a current-thread tokio runtime that
//! this value owns, so the job layer stays synchronous. Every transfer streams in chunks (memory flat whatever the
//! archive's size), hashes what it moves, checks the cancel token between chunks, and reports progress.

use super::spec::{Destination, Target};
use crate::error::{Error, Result};
use crate::progress::JobControl;
use chrono::{DateTime, Utc};
use opendal::Operator;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Bytes per chunk moved in one call (also the multipart part size).
pub const CHUNK: usize = 8 << 20;

/// User metadata key (S3 `x-amz-meta-…`) holding the archive's SHA-256.
pub const SHA256_META: &str = "backstop-sha256";

/// An object at a destination.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteObject {
    /// Its name under the destination's folder or prefix.
    pub name: String,
    /// Its size.
    pub size_bytes: u64,
    /// When the storage says it was last written.
    pub modified: Option<DateTime<Utc>>,
}

/// What an upload or a download moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Bytes.
    pub size_bytes: u64,
    /// SHA-256 of those bytes.
    pub sha256: String,
}

/// A connected destination.
pub struct Remote {
    pub(super) op: Operator,
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) name: String,
    /// Whether an upload goes to `<name>.partial` and is renamed into place (folders, SFTP, WebDAV), so that a
    /// killed upload never leaves a short object under the archive's name. S3 needs none: a multipart object
    /// appears only when it is completed.
    stage_then_rename: bool,
    /// Whether user metadata is written (S3 only: rclone's and many NAS WebDAV servers refuse PROPPATCH).
    metadata: bool,
    /// S3's multipart calls, for uploads that resume after a kill.
    pub(super) s3: Option<super::s3::S3Client>,
    /// WebDAV uploads streamed with reqwest (OpenDAL's WebDAV writer holds a whole object in memory).
    pub(super) webdav: Option<super::webdav::DavPut>,
}

impl Remote {
    /// Connects (no request is sent yet). `secret` is the S3 secret key or WebDAV password.
    pub fn connect(dest: &Destination, secret: Option<&str>) -> Result<Remote> {
        init_once();
        let failed = |e: opendal::Error| Error::DestinationFailed {
            dest: dest.name.clone(),
            detail: e.to_string(),
        };
        let mut s3 = None;
        let mut webdav = None;
        let (op, stage_then_rename, metadata) = match &dest.target {
            Target::Folder { path } => {
                // Never created here: a missing folder is how an unplugged disk or an unmounted share looks.
                if !path.is_dir() {
                    return Err(Error::DestinationUnreachable {
                        dest: dest.name.clone(),
                        detail: format!(
                            "folder {} is missing (is the drive mounted?)",
                            path.display()
                        ),
                    });
                }
                let builder = opendal::services::Fs::default().root(&path.to_string_lossy());
                (Operator::new(builder).map_err(failed)?, true, false)
            }
            Target::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                path_style,
                access_key_id,
            } => {
                let mut builder = opendal::services::S3::default()
                    .endpoint(endpoint)
                    .bucket(bucket)
                    .region(region)
                    .root(&format!("/{prefix}"))
                    .access_key_id(access_key_id)
                    .secret_access_key(secret.unwrap_or_default())
                    .disable_config_load()
                    .disable_ec2_metadata();
                if !path_style {
                    builder = builder.enable_virtual_host_style();
                }
                s3 = Some(super::s3::S3Client::new(
                    &dest.name,
                    endpoint,
                    bucket,
                    prefix,
                    region,
                    *path_style,
                    access_key_id,
                    secret.unwrap_or_default(),
                )?);
                (Operator::new(builder).map_err(failed)?, false, true)
            }
            #[cfg(unix)]
            Target::Sftp {
                user,
                host,
                port,
                path,
                identity,
            } => {
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                let mut builder = opendal::services::Sftp::default()
                    .endpoint(&format!("ssh://{host}:{port}"))
                    .user(user)
                    .root(path)
                    // As `ssh -o StrictHostKeyChecking=accept-new`: a new host is remembered, a changed key refused.
                    .known_hosts_strategy("add");
                if let Some(key) = identity {
                    builder = builder.key(&key.to_string_lossy());
                }
                (Operator::new(builder).map_err(failed)?, true, false)
            }
            #[cfg(not(unix))]
            Target::Sftp { .. } => {
                return Err(Error::Usage(format!(
                    "destination {}: SFTP destinations work on Linux and macOS only (through the system's OpenSSH)",
                    dest.name
                )));
            }
            Target::Webdav { url, user } => {
                let (endpoint, root) = split_url(url);
                let mut builder = opendal::services::Webdav::default()
                    .endpoint(endpoint)
                    .root(root);
                if let Some(user) = user {
                    builder = builder.username(user).password(secret.unwrap_or_default());
                }
                webdav = Some(super::webdav::DavPut::new(
                    &dest.name,
                    url,
                    user.clone()
                        .map(|u| (u, secret.unwrap_or_default().to_string())),
                )?);
                (Operator::new(builder).map_err(failed)?, true, false)
            }
        };
        let op = op
            .layer(
                opendal::layers::TimeoutLayer::new()
                    .with_timeout(Duration::from_secs(120))
                    .with_io_timeout(Duration::from_secs(60)),
            )
            .layer(
                opendal::layers::RetryLayer::new()
                    .with_max_times(3)
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(5))
                    .with_jitter(),
            );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::DestinationFailed {
                dest: dest.name.clone(),
                detail: format!("cannot start the I/O runtime: {e}"),
            })?;
        Ok(Remote {
            op,
            rt,
            name: dest.name.clone(),
            stage_then_rename,
            metadata,
            s3,
            webdav,
        })
    }

    /// The destination's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, what: &str, e: opendal::Error) -> Error {
        classify(&self.name, what, e)
    }

    /// Uploads a local file as `name`, hashing what it sends; `expected_sha256` (the catalog's) must match what
    /// was read, so a file that changed on disk is never copied as if it were the archive.
    pub fn upload(
        &self,
        local: &Path,
        name: &str,
        expected_sha256: Option<&str>,
        job: &JobControl,
    ) -> Result<Moved> {
        let mut file = std::fs::File::open(local).map_err(|e| Error::Io {
            context: "cannot open the archive to copy",
            path: local.to_path_buf(),
            source: e,
        })?;
        let total = file.metadata().map(|m| m.len()).ok();
        let stage = format!("copying to {}", self.name);
        job.stage(&stage, total);
        let target = if self.stage_then_rename {
            partial_name(name)
        } else {
            name.to_string()
        };
        if let Some(dav) = &self.webdav {
            drop(file);
            let moved = self
                .dav_put(dav, local, &target, &stage, job)
                .and_then(|moved| match expected_sha256 {
                    Some(expected) if expected != moved.sha256 => Err(Error::damaged(
                        local,
                        format!(
                            "its SHA-256 is {}, not the {expected} the catalog recorded; it was not copied",
                            moved.sha256
                        ),
                    )),
                    _ => Ok(moved),
                });
            return match moved {
                Ok(moved) => {
                    self.rt
                        .block_on(self.op.rename(&target, name))
                        .map_err(|e| self.error("cannot rename the upload into place", e))?;
                    Ok(moved)
                }
                Err(e) => {
                    let _ = self.rt.block_on(self.op.delete(&target));
                    Err(e)
                }
            };
        }
        let result = self.rt.block_on(async {
            let mut builder = self.op.writer_with(&target).chunk(CHUNK).concurrent(2);
            if self.metadata
                && let Some(sha) = expected_sha256
            {
                builder = builder.user_metadata([(SHA256_META.to_string(), sha.to_string())]);
            }
            let mut writer = builder.await.map_err(|e| self.error("cannot start the upload", e))?;
            let mut hasher = Sha256::new();
            let mut sent = 0u64;
            let mut buf = vec![0u8; CHUNK];
            loop {
                if let Err(e) = job.check() {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                let n = read_full(&mut file, &mut buf).map_err(|e| Error::Io {
                    context: "cannot read the archive to copy",
                    path: local.to_path_buf(),
                    source: e,
                })?;
                if n == 0 {
                    break;
                }
                let chunk = buf.get(..n).unwrap_or_default();
                hasher.update(chunk);
                if let Err(e) = writer.write(chunk.to_vec()).await {
                    let _ = writer.abort().await;
                    return Err(self.error("upload failed", e));
                }
                sent += n as u64;
                job.progress(&stage, sent, total);
                if let Err(e) = crate::fsutil::failpoint(&format!("copy-chunk-{}", sent.div_ceil(CHUNK as u64))) {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            }
            let sha256 = hex::encode(hasher.finalize());
            if let Some(expected) = expected_sha256
                && expected != sha256
            {
                let _ = writer.abort().await;
                return Err(Error::damaged(
                    local,
                    format!("its SHA-256 is {sha256}, not the {expected} the catalog recorded; it was not copied"),
                ));
            }
            writer
                .close()
                .await
                .map_err(|e| self.error("cannot finish the upload", e))?;
            Ok(Moved {
                size_bytes: sent,
                sha256,
            })
        });
        if result.is_err() && self.stage_then_rename {
            let _ = self.rt.block_on(self.op.delete(&target));
        }
        let moved = result?;
        if self.stage_then_rename {
            self.rt
                .block_on(self.op.rename(&target, name))
                .map_err(|e| self.error("cannot rename the upload into place", e))?;
        }
        Ok(moved)
    }

    /// Reads an object back whole, hashing it (the check after a copy), with progress; nothing is kept.
    pub fn hash(&self, name: &str, job: &JobControl) -> Result<Moved> {
        self.download_into(
            name,
            &mut std::io::sink(),
            job,
            &format!("checking the copy at {}", self.name),
        )
    }

    /// Downloads an object into `out`, hashing it.
    pub fn download_into(
        &self,
        name: &str,
        out: &mut dyn Write,
        job: &JobControl,
        stage: &str,
    ) -> Result<Moved> {
        self.rt.block_on(async {
            let meta = self
                .op
                .stat(name)
                .await
                .map_err(|e| self.error("cannot find the copy", e))?;
            let total = meta.content_length();
            job.stage(stage, Some(total));
            // One streaming request for the whole object (ranged reads of 8 MiB cost a request each, which some
            // servers serve slowly); memory stays at what the stream hands over at a time.
            let reader = self
                .op
                .reader(name)
                .await
                .map_err(|e| self.error("cannot read the copy", e))?;
            let stream = reader
                .into_stream(0..total)
                .await
                .map_err(|e| self.error("cannot read the copy", e))?;
            let mut stream = std::pin::pin!(stream);
            let mut hasher = Sha256::new();
            let mut done = 0u64;
            loop {
                job.check()?;
                let next =
                    std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx))
                        .await;
                let buffer = match next {
                    None => break,
                    Some(Ok(buffer)) => buffer,
                    Some(Err(e)) => return Err(self.error("cannot read the copy", e)),
                };
                for bytes in buffer {
                    hasher.update(&bytes);
                    out.write_all(&bytes).map_err(|e| Error::Io {
                        context: "cannot write what was downloaded",
                        path: name.into(),
                        source: e,
                    })?;
                    done += bytes.len() as u64;
                }
                job.progress(stage, done, Some(total));
            }
            if done != total {
                return Err(self.error(
                    "the copy ended early",
                    opendal::Error::new(opendal::ErrorKind::Unexpected, "short read"),
                ));
            }
            Ok(Moved {
                size_bytes: done,
                sha256: hex::encode(hasher.finalize()),
            })
        })
    }

    /// Downloads an object to a new private file (0600), fsynced; removed again when anything fails.
    pub fn download_to(&self, name: &str, local: &Path, job: &JobControl) -> Result<Moved> {
        let guard = crate::fsutil::TempGuard::new(local.to_path_buf());
        let mut file = crate::fsutil::create_private(local)?;
        let moved = self.download_into(
            name,
            &mut file,
            job,
            &format!("downloading from {}", self.name),
        )?;
        file.sync_all().map_err(|e| Error::Io {
            context: "cannot sync the download",
            path: local.to_path_buf(),
            source: e,
        })?;
        guard.keep();
        Ok(moved)
    }

    /// The objects directly in the destination's folder or prefix (sub-folders and their contents are not
    /// listed: they belong to other profiles or machines).
    pub fn list(&self) -> Result<Vec<RemoteObject>> {
        self.rt.block_on(async {
            let entries = match self.op.list("/").await {
                Ok(entries) => entries,
                // A prefix nothing was written to yet, or a folder not made yet, holds nothing.
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(self.error("cannot list", e)),
            };
            let mut objects = Vec::new();
            for entry in entries {
                let (path, meta) = entry.into_parts();
                let name = path.trim_start_matches('/').to_string();
                if !meta.is_file() || name.is_empty() || name.contains('/') {
                    continue;
                }
                // Some listings (WebDAV, SFTP) carry sizes and times; S3's always do. Ask when they do not.
                let (size_bytes, modified) = if meta.last_modified().is_some() {
                    (
                        meta.content_length(),
                        meta.last_modified().and_then(to_chrono),
                    )
                } else {
                    match self.op.stat(&path).await {
                        Ok(m) => (m.content_length(), m.last_modified().and_then(to_chrono)),
                        Err(_) => (meta.content_length(), None),
                    }
                };
                objects.push(RemoteObject {
                    name,
                    size_bytes,
                    modified,
                });
            }
            objects.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(objects)
        })
    }

    /// The size of an object, or None when it is not there.
    pub fn size(&self, name: &str) -> Result<Option<u64>> {
        match self.rt.block_on(self.op.stat(name)) {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("cannot look at", e)),
        }
    }

    /// Deletes an object (one that is already gone is fine).
    pub fn delete(&self, name: &str) -> Result<()> {
        match self.rt.block_on(self.op.delete(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error("cannot delete", e)),
        }
    }

    /// Reads a small object whole (at most `max` bytes; a bigger one is refused before it is read).
    pub fn read_small(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let Some(size) = self.size(name)? else {
            return Ok(None);
        };
        if size > max {
            return Err(Error::DestinationFailed {
                dest: self.name.clone(),
                detail: format!("{name} is {size} bytes, more than the {max} expected"),
            });
        }
        let buffer = self
            .rt
            .block_on(self.op.read(name))
            .map_err(|e| self.error("cannot read", e))?;
        Ok(Some(buffer.to_vec()))
    }

    /// Writes a small object whole (staged and renamed where the storage can).
    pub fn write_small(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = if self.stage_then_rename {
            partial_name(name)
        } else {
            name.to_string()
        };
        self.rt
            .block_on(self.op.write(&target, bytes.to_vec()))
            .map_err(|e| self.error("cannot write", e))?;
        if self.stage_then_rename {
            self.rt
                .block_on(self.op.rename(&target, name))
                .map_err(|e| self.error("cannot rename into place", e))?;
        }
        Ok(())
    }

    /// Opens an object for reading with seeks (ranges are read as asked): a zip's manifest is read without
    /// downloading the archive.
    pub fn open(&self, name: &str) -> Result<RemoteFile<'_>> {
        let size = self.size(name)?.ok_or_else(|| Error::DestinationFailed {
            dest: self.name.clone(),
            detail: format!("{name} is not there"),
        })?;
        Ok(RemoteFile {
            remote: self,
            name: name.to_string(),
            size,
            pos: 0,
        })
    }

    /// The storage's answer to a write, a list and a delete of a small probe object: what `dest test` shows.
    pub fn probe(&self) -> Result<()> {
        let name = format!("backstop-probe-{}", std::process::id());
        self.write_small(&name, b"backstop probe\n")?;
        let back = self.read_small(&name, 1024)?;
        self.list()?;
        self.delete(&name)?;
        if back.as_deref() != Some(b"backstop probe\n".as_slice()) {
            return Err(Error::DestinationFailed {
                dest: self.name.clone(),
                detail: "a probe object written there read back different".into(),
            });
        }
        Ok(())
    }
}

/// An object read through seeks and ranged reads (for `zip::ZipArchive`).
pub struct RemoteFile<'a> {
    remote: &'a Remote,
    name: String,
    size: u64,
    pos: u64,
}

impl Read for RemoteFile<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let end = (self.pos + buf.len() as u64).min(self.size);
        let bytes = self
            .remote
            .rt
            .block_on(async {
                self.remote
                    .op
                    .read_with(&self.name)
                    .range(self.pos..end)
                    .await
            })
            .map_err(std::io::Error::other)?
            .to_vec();
        let n = bytes.len().min(buf.len());
        if let (Some(into), Some(from)) = (buf.get_mut(..n), bytes.get(..n)) {
            into.copy_from_slice(from);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for RemoteFile<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match pos {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            )),
        }
    }
}

/// The staging name of an upload: `.<name>.partial` (hidden, and not an archive name, so lists skip it).
pub fn partial_name(name: &str) -> String {
    format!(".{name}.partial")
}

/// Fills `buf` as far as the file goes (a short read only at the end).
pub(super) fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `https://host:port/a/b` → (`https://host:port`, `/a/b`).
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url.get(after_scheme..).and_then(|rest| rest.find('/')) {
        Some(slash) => url.split_at(after_scheme + slash),
        None => (url, "/"),
    }
}

fn to_chrono(t: opendal::raw::Timestamp) -> Option<DateTime<Utc>> {
    Some(DateTime::<Utc>::from(std::time::SystemTime::from(t)))
}

/// What a refused HTTP request to a destination means: the credentials refused (401, 403), the server out of
/// reach for now (408, 429, 5xx: the copy waits and is tried again), or another failure.
pub(super) fn http_status_error(dest: &str, status: u16, detail: String) -> Error {
    let dest = dest.to_string();
    match status {
        401 | 403 => Error::DestinationDenied { dest, detail },
        408 | 429 | 500..=599 => Error::DestinationUnreachable { dest, detail },
        _ => Error::DestinationFailed { dest, detail },
    }
}

/// What an OpenDAL error means to the user: refused credentials, a destination that cannot be reached (a copy
/// waits and tries again), or another failure, each naming the destination.
fn classify(dest: &str, what: &str, e: opendal::Error) -> Error {
    let detail = format!("{what}: {}", short_detail(&e));
    // OpenDAL's WebDAV write path reports a refused login (401, 403) as Unexpected; its context holds the status.
    let refused = e.kind() == opendal::ErrorKind::Unexpected
        && ["status: 401", "status: 403"]
            .iter()
            .any(|s| e.to_string().contains(s));
    match e.kind() {
        _ if refused => Error::DestinationDenied {
            dest: dest.to_string(),
            detail,
        },
        opendal::ErrorKind::PermissionDenied => Error::DestinationDenied {
            dest: dest.to_string(),
            detail,
        },
        opendal::ErrorKind::Unexpected | opendal::ErrorKind::RateLimited => {
            Error::DestinationUnreachable {
                dest: dest.to_string(),
                detail,
            }
        }
        _ => Error::DestinationFailed {
            dest: dest.to_string(),
            detail,
        },
    }
}

/// OpenDAL's message without its long context list (service, path, request ids), which says nothing a user needs.
fn short_detail(e: &opendal::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim().to_string();
    let source = std::error::Error::source(e)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    format!("{first}{source}")
}

static INIT: std::sync::Once = std::sync::Once::new();

/// Once per process: rustls's crypto (ring, as the database clients use) and OpenDAL's HTTP transport.
fn init_once() {
    INIT.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_split_into_endpoint_and_root() {
        assert_eq!(
            split_url("https://cloud.example.com/remote.php/dav/files/me"),
            ("https://cloud.example.com", "/remote.php/dav/files/me")
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            ("http://127.0.0.1:8080", "/")
        );
    }
}
