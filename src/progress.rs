//! How long work reports progress and learns it was cancelled, without knowing who listens.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One progress report: what stage a job is in and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressUpdate {
    /// A short human phrase ("dumping database", "verifying archive").
    pub stage: String,
    /// Bytes done in this stage.
    pub done: u64,
    /// Bytes in this stage, when known.
    pub total: Option<u64>,
}

/// Receives progress; implemented by the terminal, the window's worker and tests.
pub trait ProgressSink: Send + Sync {
    /// Called at most about ten times a second, and once at each stage change.
    fn update(&self, update: &ProgressUpdate);
}

/// A sink that ignores everything.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn update(&self, _update: &ProgressUpdate) {}
}

/// Shared flag a front end sets to stop a job; jobs check it between chunks.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancel was asked.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once cancel was asked.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// What a running job holds: where to report and how to learn of a cancel. Throttles reports in one place.
pub struct JobControl<'a> {
    sink: &'a dyn ProgressSink,
    /// The job's cancel token.
    pub cancel: CancelToken,
    last: Mutex<Option<Instant>>,
    offset: std::sync::atomic::AtomicU64,
    /// The current stage's total while `offset` is in use (`u64::MAX`: unknown or not in use).
    stage_total: std::sync::atomic::AtomicU64,
    /// The total given to the current stage.
    pending_total: std::sync::atomic::AtomicU64,
}

impl<'a> JobControl<'a> {
    /// Wraps a sink and a token.
    pub fn new(sink: &'a dyn ProgressSink, cancel: CancelToken) -> Self {
        JobControl {
            sink,
            cancel,
            last: Mutex::new(None),
            offset: std::sync::atomic::AtomicU64::new(0),
            stage_total: std::sync::atomic::AtomicU64::new(u64::MAX),
            pending_total: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }

    /// Starts a new stage; always reported.
    pub fn stage(&self, stage: &str, total: Option<u64>) {
        self.offset.store(0, Ordering::Relaxed);
        self.stage_total.store(u64::MAX, Ordering::Relaxed);
        self.stage_total_pending(total);
        self.sink.update(&ProgressUpdate {
            stage: stage.to_string(),
            done: 0,
            total,
        });
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Instant::now());
        }
    }

    fn stage_total_pending(&self, total: Option<u64>) {
        self.pending_total
            .store(total.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Adds `offset` to every `done` reported until the next stage, with the stage's total: a stage made of many
    /// copies (the files of a folder) reports its bytes as one count.
    pub fn set_offset(&self, offset: u64) {
        self.offset.store(offset, Ordering::Relaxed);
        self.stage_total.store(
            self.pending_total.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    /// Reports progress within a stage, at most ten times a second.
    pub fn progress(&self, stage: &str, done: u64, total: Option<u64>) {
        let done = done + self.offset.load(Ordering::Relaxed);
        let total = match self.stage_total.load(Ordering::Relaxed) {
            u64::MAX => total,
            whole => Some(whole),
        };
        let now = Instant::now();
        let due = match self.last.lock() {
            Ok(mut last) => {
                let due = last.is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100));
                if due {
                    *last = Some(now);
                }
                due
            }
            Err(_) => false,
        };
        if due {
            self.sink.update(&ProgressUpdate {
                stage: stage.to_string(),
                done,
                total,
            });
        }
    }

    /// `Err(Cancelled)` once cancel was asked.
    pub fn check(&self) -> Result<()> {
        self.cancel.check()
    }
}

/// Bytes for people ("1.2 MiB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).unwrap_or(&"TiB"))
    }
}

/// Size of the buffer used to stream data; memory use stays at this whatever the data size.
pub const CHUNK: usize = 1 << 20;

/// Outcome of a streamed copy: bytes moved and their SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Bytes copied.
    pub bytes: u64,
    /// SHA-256 of those bytes, lowercase hex.
    pub sha256: String,
}

/// Why a bounded copy stopped early.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source failed.
    Read(std::io::Error),
    /// Writing the destination failed (a full disk shows up here).
    Write(std::io::Error),
    /// More than the allowed number of bytes came out.
    TooLarge(u64),
    /// The job was cancelled.
    Cancelled,
}

/// Streams `reader` into `writer`, hashing, reporting progress, checking cancel, refusing more than `limit` bytes.
pub fn copy_hashing(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    limit: u64,
    job: &JobControl,
    stage: &str,
    total: Option<u64>,
) -> std::result::Result<Copied, CopyError> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    // Small files get a small buffer: a folder of many small files should not allocate 1 MiB each.
    let size = total.map_or(CHUNK, |t| {
        usize::try_from(t).unwrap_or(CHUNK).saturating_add(1)
    });
    let mut buf = vec![0u8; size.clamp(8 << 10, CHUNK)];
    let mut bytes = 0u64;
    loop {
        if job.cancel.is_cancelled() {
            return Err(CopyError::Cancelled);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        bytes += n as u64;
        if bytes > limit {
            return Err(CopyError::TooLarge(limit));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        writer.write_all(chunk).map_err(CopyError::Write)?;
        job.progress(stage, bytes, total);
    }
    Ok(Copied {
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// SHA-256 (hex) of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 (hex) of a whole file, streamed.
pub fn sha256_file(path: &std::path::Path, job: &JobControl) -> Result<Copied> {
    use crate::error::IoContext;
    let mut file = std::fs::File::open(path).ctx("cannot open", path)?;
    let total = file.metadata().ok().map(|m| m.len());
    copy_hashing(
        &mut file,
        &mut std::io::sink(),
        u64::MAX,
        job,
        "checksumming archive",
        total,
    )
    .map_err(|e| match e {
        CopyError::Read(e) | CopyError::Write(e) => Error::io("cannot read", path, e),
        CopyError::TooLarge(_) => Error::damaged(path, "file too large"),
        CopyError::Cancelled => Error::Cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_hashes_and_limits() {
        let job = JobControl::new(&NoProgress, CancelToken::new());
        let data = b"hello world".to_vec();
        let mut out = Vec::new();
        let copied = copy_hashing(&mut data.as_slice(), &mut out, 100, &job, "t", None).unwrap();
        assert_eq!(copied.bytes, 11);
        assert_eq!(
            copied.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(out, data);
        let err = copy_hashing(&mut data.as_slice(), &mut Vec::new(), 5, &job, "t", None);
        assert!(matches!(err, Err(CopyError::TooLarge(5))));
        job.cancel.cancel();
        let err = copy_hashing(&mut data.as_slice(), &mut Vec::new(), 100, &job, "t", None);
        assert!(matches!(err, Err(CopyError::Cancelled)));
    }
}
