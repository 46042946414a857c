//! Uploads to S3 that resume after a kill (the multipart calls are in `s3.rs`): the parts S3 already holds are
//! not sent again; the file is still read and hashed whole.

use super::remote::{CHUNK, Moved, Remote, SHA256_META, read_full};
use crate::error::{Error, Result};
use crate::progress::JobControl;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Where a resumable upload stands, kept by the caller (the catalog) between tries.
pub trait UploadMemory {
    /// The upload a previous try started: its id and part size.
    fn saved(&self) -> Option<(String, u64)>;
    /// Called the moment an upload starts (Some) and once it is completed or given up (None).
    fn remember(&self, upload: Option<(&str, u64)>) -> Result<()>;
}

/// What a resumable upload moved, and how much of it an earlier try had sent already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The whole object.
    pub moved: Moved,
    /// Bytes an earlier try had sent (not sent again).
    pub resumed_bytes: u64,
}

impl Remote {
    /// Whether an upload of `size` bytes resumes after a kill (an S3 multipart upload of more than one part).
    pub fn resumes(&self, size: u64) -> bool {
        self.s3.is_some() && size > CHUNK as u64
    }

    /// Uploads a local file as `name` in parts, resuming the upload `memory` holds: the parts S3 already has (by
    /// number and size) are not sent again. The file is still read and hashed whole, and its SHA-256 must be
    /// `expected_sha256` before the upload is completed. A cancel leaves the upload for the next try.
    pub fn upload_resumable(
        &self,
        local: &Path,
        name: &str,
        expected_sha256: &str,
        memory: &dyn UploadMemory,
        job: &JobControl,
    ) -> Result<Resumed> {
        let Some(s3) = &self.s3 else {
            let moved = self.upload(local, name, Some(expected_sha256), job)?;
            return Ok(Resumed {
                moved,
                resumed_bytes: 0,
            });
        };
        let io = |context: &'static str| {
            move |e: std::io::Error| Error::Io {
                context,
                path: local.to_path_buf(),
                source: e,
            }
        };
        let mut file = std::fs::File::open(local).map_err(io("cannot open the archive to copy"))?;
        let size = file
            .metadata()
            .map_err(io("cannot read the archive to copy"))?
            .len();
        let stage = format!("copying to {}", self.name);
        job.stage(&stage, Some(size));
        self.rt.block_on(async {
            let mut held = Vec::new();
            let (upload_id, part_size) = match memory.saved() {
                Some((id, part_size)) => match s3.list_parts(name, &id).await? {
                    Some(parts) => {
                        held = parts;
                        (id, part_size)
                    }
                    None => self.start_upload(s3, name, expected_sha256, size, memory).await?,
                },
                None => self.start_upload(s3, name, expected_sha256, size, memory).await?,
            };
            let count = size.div_ceil(part_size).max(1);
            let mut hasher = Sha256::new();
            let mut parts = Vec::new();
            let mut resumed_bytes = 0u64;
            let mut done = 0u64;
            for number in 1..=count {
                job.check()?;
                let len = part_size.min(size - done);
                let mut buf = vec![0u8; usize::try_from(len).unwrap_or(CHUNK)];
                let n = read_full(&mut file, &mut buf).map_err(io("cannot read the archive to copy"))?;
                buf.truncate(n);
                hasher.update(&buf);
                let number = u32::try_from(number).unwrap_or(u32::MAX);
                let etag = match held.iter().find(|p| p.number == number && p.size == n as u64) {
                    Some(part) => {
                        resumed_bytes += n as u64;
                        Some(part.etag.clone().unwrap_or_else(|| super::s3::md5_etag(&buf)))
                    }
                    None => {
                        let etag = s3.upload_part(name, &upload_id, number, buf).await?;
                        crate::fsutil::failpoint(&format!("copy-part-{number}"))?;
                        Some(etag)
                    }
                };
                parts.push(super::s3::Part {
                    number,
                    size: n as u64,
                    etag,
                });
                done += n as u64;
                job.progress(&stage, done, Some(size));
            }
            let sha256 = hex::encode(hasher.finalize());
            if sha256 != expected_sha256 || done != size {
                let _ = s3.abort(name, &upload_id).await;
                memory.remember(None)?;
                return Err(Error::damaged(
                    local,
                    format!(
                        "its SHA-256 is {sha256}, not the {expected_sha256} the catalog recorded; it was not copied"
                    ),
                ));
            }
            if let Err(e) = s3.complete(name, &upload_id, &parts).await {
                // A part S3 lost or refuses: the next try starts a new upload.
                if matches!(e, Error::DestinationFailed { .. }) {
                    let _ = s3.abort(name, &upload_id).await;
                    memory.remember(None)?;
                }
                return Err(e);
            }
            memory.remember(None)?;
            Ok(Resumed {
                moved: Moved {
                    size_bytes: done,
                    sha256,
                },
                resumed_bytes,
            })
        })
    }

    async fn start_upload(
        &self,
        s3: &super::s3::S3Client,
        name: &str,
        sha256: &str,
        size: u64,
        memory: &dyn UploadMemory,
    ) -> Result<(String, u64)> {
        // S3 allows 10,000 parts: past 80 GB the parts grow (in whole MiB).
        let part_size = (CHUNK as u64).max(size.div_ceil(9_000).div_ceil(1 << 20) << 20);
        let id = s3.create(name, &[(SHA256_META, sha256)]).await?;
        memory.remember(Some((&id, part_size)))?;
        Ok((id, part_size))
    }

    /// Gives up an S3 upload a copy no longer needs (best effort: S3 also expires them by lifecycle rules).
    pub fn abort_upload(&self, name: &str, upload_id: &str) {
        if let Some(s3) = &self.s3 {
            let _ = self.rt.block_on(s3.abort(name, upload_id));
        }
    }
}
