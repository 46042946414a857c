//! Export, delete and pin a backup.

use super::context::Context;
use crate::archive;
use crate::catalog::{BackupRow, Catalog};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::lock::ProfileLock;
use crate::model::Status;
use crate::progress::JobControl;
use std::path::{Path, PathBuf};

/// Copies a completed backup's archive to `to` (a file, or a folder to put it in), checking its SHA-256 on the way;
/// written as a temporary file, fsynced, renamed. A sidecar `.sha256` goes beside it.
pub fn export(ctx: &Context, id: i64, to: &Path, job: &JobControl) -> Result<PathBuf> {
    let row = ctx.catalog.get(id)?;
    if row.status != Status::Completed {
        return Err(Error::Usage(format!(
            "backup {id} is {}; only completed backups can be exported",
            row.status
        )));
    }
    let dest = if to.is_dir() {
        to.join(row.path.file_name().unwrap_or_default())
    } else {
        to.to_path_buf()
    };
    if dest.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; choose another name",
            dest.display()
        )));
    }
    ctx.logged("export", Some(&row.profile), || {
        let partial = TempGuard::new(fsutil::partial_path(&dest));
        let mut input = std::fs::File::open(&row.path).ctx("cannot read archive", &row.path)?;
        let total = input.metadata().ok().map(|m| m.len());
        let mut out = fsutil::create_private(partial.path())?;
        let copied =
            crate::progress::copy_hashing(&mut input, &mut out, u64::MAX, job, "exporting", total)
                .map_err(|e| match e {
                    crate::progress::CopyError::Read(e) => {
                        Error::io("cannot read archive", &row.path, e)
                    }
                    crate::progress::CopyError::Write(e) => {
                        Error::io("cannot write the copy", &dest, e)
                    }
                    crate::progress::CopyError::TooLarge(_) => {
                        Error::damaged(&row.path, "too large")
                    }
                    crate::progress::CopyError::Cancelled => Error::Cancelled,
                })?;
        if Some(&copied.sha256) != row.sha256.as_ref() {
            ctx.catalog
                .set_status(id, Status::Corrupted, Some("archive checksum mismatch"))?;
            return Err(Error::damaged(
                &row.path,
                "its SHA-256 differs from the one recorded; not exported",
            ));
        }
        out.sync_all().ctx("cannot sync", partial.path())?;
        drop(out);
        fsutil::rename_no_replace(partial.path(), &dest)?;
        partial.keep();
        archive::write_sidecar(&dest, &copied.sha256)?;
        Ok((
            dest.clone(),
            format!("exported backup {id} to {}", dest.display()),
        ))
    })
}

/// Deletes a backup: the catalog row is marked `deleted` first, then the archive and its sidecars are removed.
pub fn delete(ctx: &Context, id: i64) -> Result<BackupRow> {
    let row = ctx.catalog.get(id)?;
    if row.status == Status::Deleted {
        return Err(Error::Usage(format!("backup {id} is already deleted")));
    }
    if row.pinned {
        return Err(Error::Usage(format!(
            "backup {id} is pinned; unpin it first (`backstop unpin {id}`)"
        )));
    }
    let _lock = ProfileLock::acquire(&ctx.paths, &row.profile)?;
    ctx.logged("delete", Some(&row.profile), || {
        delete_files(ctx, &row, "deleted by the user")?;
        Ok((
            row.clone(),
            format!("deleted backup {id} ({})", row.path.display()),
        ))
    })
}

pub(super) fn delete_files(ctx: &Context, row: &BackupRow, reason: &str) -> Result<()> {
    delete_files_of(&ctx.catalog, row, reason)
}

/// Marks the row `deleted` first, then removes the archive and its sidecars (a crash in between leaves a
/// deleted row whose file a later rebuild would bring back, never a completed row without its file).
pub(super) fn delete_files_of(catalog: &Catalog, row: &BackupRow, reason: &str) -> Result<()> {
    catalog.set_status(row.id, Status::Deleted, Some(reason))?;
    for path in [
        archive::sidecar_path(&row.path),
        archive::pin_marker_path(&row.path),
        row.path.clone(),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot delete", &path, e)),
        }
    }
    fsutil::sync_dir(fsutil::parent_of(&row.path))
}

/// Pins (never deleted by retention) or unpins a backup; the pin is also a `.pinned` file beside the archive.
pub fn pin(ctx: &Context, id: i64, pinned: bool) -> Result<BackupRow> {
    let row = ctx.catalog.get(id)?;
    if row.status == Status::Deleted {
        return Err(Error::Usage(format!("backup {id} is deleted")));
    }
    let marker = archive::pin_marker_path(&row.path);
    if pinned {
        fsutil::atomic_write(&marker, b"")?;
    } else {
        match std::fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove pin marker", &marker, e)),
        }
    }
    ctx.catalog.set_pinned(id, pinned)?;
    ctx.catalog.get(id)
}
