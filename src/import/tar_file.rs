//! Tars and tar.gz files: read once to survey their names (every byte counted), then again to do what the survey
//! found: a `pg_dump -Fd` folder extracted and loaded as a database dump, or files unpacked straight into the new
//! archive.

use super::budget::{Budget, MAX_TAR_HEADER_BYTES, Overrun, read_failure};
use super::containers::{EntryKind, Layout, Unpacker, drain_entry};
use super::dates::created_time_of;
use super::detect::{self, normalize};
use super::staging::{Staging, Stored};
use super::{Found, Source, postgres};
use crate::archive::EntryMeta;
use crate::error::Result;
use crate::progress::JobControl;
use chrono::DateTime;
use std::io::Read;

/// One entry of a tar as [`walk_tar`] hands it over: its raw name, kind, metadata, the size its header gives,
/// and its data (to be read to its end).
struct TarItem<'a> {
    raw: &'a str,
    kind: EntryKind,
    meta: EntryMeta,
    size: u64,
    data: &'a mut dyn Read,
}

/// Reads a tar or tar.gz once, from the start: every byte counted against the import limit while
/// decompressing, archive-wide PAX records skipped, each entry handed to `visit` (which reads its data to its
/// size; less means truncated), the end-of-archive marker required and what follows it read (so a damaged gzip
/// end is noticed). Returns whether the tar had any entry.
fn walk_tar(
    source: &Source,
    job: &JobControl,
    visit: &mut dyn FnMut(TarItem<'_>) -> Result<()>,
) -> Result<bool> {
    let file = source.file;
    let budget = Budget::new(source.limit());
    let input = source.open(&budget)?;
    let mut tar = tar::Archive::new(input);
    let not_tar = |e: std::io::Error| {
        if e.get_ref().is_some_and(|i| i.is::<Overrun>())
            || e.kind() == std::io::ErrorKind::UnexpectedEof
        {
            read_failure(file, None, e)
        } else {
            source.refused(format!(
                "it is not a readable tar archive ({e}); it may be truncated or damaged"
            ))
        }
    };
    let mut entries = tar.entries().map_err(not_tar)?;
    let mut any = false;
    let mut end_of_last = 0u64;
    loop {
        job.check()?;
        budget.between_entries.set(Some(budget.used.get()));
        let next = entries.next();
        budget.between_entries.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(not_tar)?;
        let raw_name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            source.refused(format!(
                "entry '{}' has a name that is not UTF-8",
                String::from_utf8_lossy(e.as_bytes()).escape_debug()
            ))
        })?;
        let header = entry.header();
        let size = entry.size();
        if header.entry_type().is_pax_global_extensions() {
            // Archive-wide PAX records (`git archive` writes its commit id there): nothing to import.
            if size > MAX_TAR_HEADER_BYTES {
                return Err(source.refused(format!(
                    "it has a tar extension header larger than {MAX_TAR_HEADER_BYTES} bytes; the file is damaged or hostile"
                )));
            }
            end_of_last = entry
                .raw_file_position()
                .saturating_add(size.div_ceil(512).saturating_mul(512));
            std::io::copy(&mut entry, &mut std::io::sink())
                .map_err(|e| read_failure(file, None, e))?;
            continue;
        }
        let header_size = header.size().unwrap_or(size);
        if header_size != 0 && header_size != size {
            return Err(source.refused(format!(
                "entry '{raw_name}' has two different sizes ({header_size} in its header, {size} in its PAX record)"
            )));
        }
        let kind = tar_entry_kind(header.entry_type());
        let meta = EntryMeta {
            mtime: header
                .mtime()
                .ok()
                .filter(|t| *t > 0)
                .and_then(|t| DateTime::from_timestamp(i64::try_from(t).ok()?, 0)),
            mode: header.mode().ok().map(|m| m & 0o7777),
        };
        any = true;
        end_of_last = entry
            .raw_file_position()
            .saturating_add(size.div_ceil(512).saturating_mul(512));
        visit(TarItem {
            raw: &raw_name,
            kind,
            meta,
            size,
            data: &mut entry,
        })?;
    }
    // Without the end-of-archive marker (a zero block) the tar stopped at a header boundary: cut short.
    let consumed = budget.used.get();
    if any && consumed < end_of_last.saturating_add(512) {
        return Err(source
            .refused("it is truncated: the tar archive ends without its end-of-archive marker"));
    }
    // Read what follows (padding, the gzip trailer and any further member) so a damaged end is noticed.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| read_failure(file, None, e))?;
    Ok(any)
}

/// A tar or tar.gz: surveyed in a first pass (names only, every byte counted), then read again to do what the
/// survey found: a `pg_dump -Fd` folder extracted and loaded as a database dump, or files unpacked straight
/// into the new archive (its single top folder unwrapped by the rule zips share).
pub(super) fn import_tar(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let mut survey = detect::Survey::default();
    let mut first = None;
    let max_entries = source.ctx.config.settings.max_import_entries;
    job.stage("reading import", None);
    let any = walk_tar(source, job, &mut |item| {
        if survey.entries.len() as u64 >= max_entries {
            return Err(source.refused(format!(
                "it has more than {max_entries} entries, the import limit (settings.max_import_entries)"
            )));
        }
        let name = normalize(item.raw).trim_end_matches('/');
        if first.is_none() && !name.is_empty() && name != "." {
            first = Some(name.to_string());
        }
        let mut head = Vec::new();
        let toc = item.kind == EntryKind::File && postgres::is_toc_name(item.raw);
        if toc {
            item.data
                .take(detect::PG_DUMP_MAGIC.len() as u64)
                .read_to_end(&mut head)
                .map_err(|e| read_failure(source.file, Some(item.raw), e))?;
        }
        survey.add(
            item.raw,
            item.kind == EntryKind::Dir,
            toc && head == detect::PG_DUMP_MAGIC,
        );
        let declared = item.size.saturating_sub(head.len() as u64);
        drain_entry(source.file, item.raw, item.data, Some(declared), job)
    })?;
    if !any {
        return Err(source.refused("it is an empty tar archive: there is nothing to import"));
    }
    let layout = Layout::of_tar(first.as_deref().unwrap_or(""));
    let holds = match layout {
        Layout::Media => survey.holds(),
        _ => detect::Holds::Files { unwrap: None },
    };
    job.stage("unpacking import", None);
    let unwrap = match holds {
        detect::Holds::PgDirectory { top } => {
            let found = postgres::container_found(true, source.gz, top);
            let mut folder = postgres::PgFolder::new(source, found)?;
            walk_tar(source, job, &mut |item| {
                folder.take(item.raw, &item.kind, item.data, Some(item.size), job)
            })?;
            return folder.load(source, job);
        }
        detect::Holds::Files { unwrap } => unwrap,
    };
    let created_at = created_time_of(source.file, source.name);
    let mut unpacker = Unpacker::new(
        source,
        layout,
        unwrap.clone(),
        Staging::new(source, created_at)?,
    );
    walk_tar(source, job, &mut |item| {
        unpacker.take(
            item.raw,
            item.kind,
            item.data,
            Some(item.size),
            item.size,
            item.meta,
            job,
        )
    })?;
    let found = Found {
        detected: layout.describe(true, source.gz),
        unwrapped: unwrap,
    };
    Ok((found, unpacker.finish(job)?))
}

/// A tar entry's kind from its type flag.
fn tar_entry_kind(t: tar::EntryType) -> EntryKind {
    if t.is_file() || t.is_contiguous() {
        EntryKind::File
    } else if t.is_dir() {
        EntryKind::Dir
    } else if t.is_symlink() {
        EntryKind::Refused("a symbolic link".to_string())
    } else if t.is_hard_link() {
        EntryKind::Refused("a hard link".to_string())
    } else if t.is_character_special() || t.is_block_special() {
        EntryKind::Refused("a device".to_string())
    } else if t.is_fifo() {
        EntryKind::Refused("a named pipe".to_string())
    } else if t.is_gnu_sparse() {
        EntryKind::Refused("a sparse file (not supported)".to_string())
    } else {
        EntryKind::Refused(format!(
            "of an unsupported tar entry type ({:?})",
            t.as_byte() as char
        ))
    }
}
