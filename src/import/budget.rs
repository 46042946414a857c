//! The limits on reading untrusted input: every decompressed byte counted against `settings.max_import_bytes`
//! ([`Budget`], [`BudgetReader`]), tar extension headers bounded, a reader's first error kept ([`ErrorTrap`]),
//! and one wording for a stream that could not be read ([`read_failure`]).

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::progress::{CopyError, JobControl, copy_hashing};
use std::cell::Cell;
use std::io::Read;
use std::path::Path;

/// The most bytes a tar reader may consume between two entries (PAX and GNU long-name headers are held in
/// memory by the tar crate, so they are bounded here).
pub(super) const MAX_TAR_HEADER_BYTES: u64 = 1 << 20;

/// The bytes an import may decompress, counted as they come out.
pub(super) struct Budget {
    limit: u64,
    /// The bytes read so far.
    pub(super) used: Cell<u64>,
    /// Where the current stretch between two tar entries began (None: reading an entry's data).
    pub(super) between_entries: Cell<Option<u64>>,
}

impl Budget {
    pub(super) fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: Cell::new(0),
            between_entries: Cell::new(None),
        }
    }
}

/// Why a [`BudgetReader`] stopped.
#[derive(Debug)]
pub(super) enum Overrun {
    /// More bytes than `settings.max_import_bytes`.
    Limit(u64),
    /// A tar extension header larger than [`MAX_TAR_HEADER_BYTES`].
    Header,
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overrun::Limit(limit) => write!(f, "more than {limit} bytes"),
            Overrun::Header => write!(f, "a tar header larger than {MAX_TAR_HEADER_BYTES} bytes"),
        }
    }
}

impl std::error::Error for Overrun {}

/// Counts every byte read against a [`Budget`]; fails once it is spent.
pub(super) struct BudgetReader<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<'b, R: Read> BudgetReader<'b, R> {
    pub(super) fn new(inner: R, budget: &'b Budget) -> Self {
        BudgetReader { inner, budget }
    }
}

impl<R: Read> Read for BudgetReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.budget.used.get() + n as u64;
        self.budget.used.set(used);
        if used > self.budget.limit {
            return Err(std::io::Error::other(Overrun::Limit(self.budget.limit)));
        }
        if let Some(start) = self.budget.between_entries.get()
            && used - start > MAX_TAR_HEADER_BYTES
        {
            return Err(std::io::Error::other(Overrun::Header));
        }
        Ok(n)
    }
}

/// Keeps the first read error of a reader handed to code that would turn it into its own error.
pub(super) struct ErrorTrap<'r> {
    inner: &'r mut dyn Read,
    /// The first error the inner reader returned.
    pub(super) error: Option<std::io::Error>,
}

impl<'r> ErrorTrap<'r> {
    pub(super) fn new(inner: &'r mut dyn Read) -> Self {
        ErrorTrap { inner, error: None }
    }
}

impl Read for ErrorTrap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
        }
    }
}

/// The refusal for a stream that could not be read: over the limit, truncated, or damaged.
pub(super) fn read_failure(file: &Path, entry: Option<&str>, e: std::io::Error) -> Error {
    if let Some(overrun) = e.get_ref().and_then(|i| i.downcast_ref::<Overrun>()) {
        return match overrun {
            Overrun::Limit(limit) => Error::refused(
                file,
                format!(
                    "it unpacks to more than the import limit of {limit} bytes (settings.max_import_bytes); a decompression bomb?"
                ),
            ),
            Overrun::Header => Error::refused(
                file,
                format!(
                    "it has a tar extension header larger than {MAX_TAR_HEADER_BYTES} bytes; the file is damaged or hostile"
                ),
            ),
        };
    }
    let at = entry.map_or(String::new(), |name| format!(" at entry '{name}'"));
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Error::refused(
            file,
            format!(
                "it is truncated: its data ends early{at} ({e}), so it cannot be read completely"
            ),
        )
    } else {
        Error::refused(
            file,
            format!("it cannot be read completely{at} ({e}); it may be truncated or damaged"),
        )
    }
}

/// Streams `reader` into a new private file `out`, every byte counted by the reader's budget.
pub(super) fn extract_to(
    file: &Path,
    entry: Option<&str>,
    reader: &mut dyn Read,
    out: &Path,
    job: &JobControl,
) -> Result<u64> {
    let mut target = fsutil::create_private(out)?;
    let copied = copy_hashing(reader, &mut target, u64::MAX, job, "unpacking import", None)
        .map_err(|e| match e {
            CopyError::Read(e) => read_failure(file, entry, e),
            CopyError::Write(e) => Error::io("cannot write the imported copy", out, e),
            CopyError::TooLarge(_) => Error::refused(file, "it is too large"),
            CopyError::Cancelled => Error::Cancelled,
        })?;
    target.sync_all().ctx("cannot sync", out)?;
    Ok(copied.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_and_stops() {
        let budget = Budget::new(10);
        let data = vec![7u8; 25];
        let mut reader = BudgetReader::new(data.as_slice(), &budget);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert!(matches!(
            err.get_ref().and_then(|i| i.downcast_ref::<Overrun>()),
            Some(Overrun::Limit(10))
        ));
    }
}
