//! Zips: a Backstop archive (checked fully, like a restore would, then re-packed for this profile) or a foreign
//! one (a web app's backup zip, a media folder, a `pg_dump -Fd` folder), unpacked in one pass after every
//! entry's name and kind passed a pre-scan of the central directory.

use super::budget::{Budget, BudgetReader, read_failure};
use super::containers::{Checker, EntryKind, Layout, Unpacker};
use super::dates::{created_time_of, parse_backup_date};
use super::staging::{Staging, Stored};
use super::{Found, Source, detect, postgres};
use crate::archive::{self, ArchiveReader, ArchiveWriter, EntryMeta, FILES_PREFIX};
use crate::engine;
use crate::error::{Error, Result};
use crate::files;
use crate::fsutil::{self, TempGuard};
use crate::model::{EngineKind, Trigger};
use crate::progress::JobControl;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The largest `backup_metadata.json` read.
const MAX_METADATA_BYTES: u64 = 1 << 20;

/// Whether a zip is shaped like a Backstop archive (then it is read as one, with every check of a restore):
/// its manifest names the format, or it holds nothing but Backstop's own entries.
fn looks_like_backstop(names: &[String], manifest_head: Option<&[u8]>) -> bool {
    if manifest_head.is_some_and(|head| {
        head.windows(archive::FORMAT_NAME.len())
            .any(|w| w == archive::FORMAT_NAME.as_bytes())
    }) {
        return true;
    }
    let ours = |n: &String| {
        n == archive::MANIFEST_NAME
            || n == archive::README_NAME
            || n.starts_with("database/")
            || n.starts_with(FILES_PREFIX)
    };
    names.iter().all(ours)
        && names
            .iter()
            .any(|n| n == archive::MANIFEST_NAME || n.starts_with("database/"))
}

/// Checks a Backstop archive fully, then re-packs it (entries copied raw, without recompressing) with a new
/// manifest naming this profile and the `uploaded` trigger.
fn import_archive(source: &Source, job: &JobControl) -> Result<Stored> {
    let (ctx, profile, file) = (source.ctx, source.profile, source.file);
    let mut reader = ArchiveReader::open(file)?;
    let total = reader
        .manifest
        .entries
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(e.size));
    if total > source.limit() {
        return Err(source.refused(format!(
            "it would unpack to {total} bytes, more than the import limit of {} (settings.max_import_bytes)",
            source.limit()
        )));
    }
    if reader.manifest.entries.len() as u64 > ctx.config.settings.max_import_entries {
        return Err(source
            .refused("it has more entries than the import limit (settings.max_import_entries)"));
    }
    if let Some(db) = &reader.manifest.database {
        source.require_engine(
            &format!(
                "Backstop archive of a {} database",
                engine::family(db.engine).label()
            ),
            Some(db.engine),
        )?;
    }
    files::check_entries(&files::entries_of(&reader.manifest.entries), false).map_err(
        |e| match e {
            Error::Usage(reason) | Error::JobFailed(reason) => source.refused(reason),
            other => other,
        },
    )?;
    // Check every entry's checksum (and a database's integrity) before anything is stored.
    let entries = reader.manifest.entries.clone();
    for entry in &entries {
        reader.check_entry(&entry.path, job, "checking archive")?;
    }
    if let Some(info) = reader.manifest.database.clone()
        && info.engine == EngineKind::Sqlite
    {
        let scratch_target = profile
            .storage_dir
            .join(format!(".import-check-{}.sqlite3", std::process::id()));
        let probe =
            engine::sqlite::SqliteEngine::new(scratch_target, std::time::Duration::from_secs(1));
        // stage_restore into a scratch target checks integrity, schema and row counts, then the copy is dropped.
        drop(engine::Engine::stage_restore(
            &probe,
            &mut reader,
            &info,
            &engine::RestoreOptions::default(),
            job,
        )?);
    }
    let mut manifest = reader.manifest.clone();
    manifest.profile = profile.name.clone();
    manifest.trigger = Trigger::Uploaded;
    manifest.imported_from = Some(source.name.to_string());
    let path = archive::unique_archive_path(
        &profile.storage_dir,
        &profile.name,
        manifest.kind,
        manifest.created_at,
        Trigger::Uploaded,
        |p| ctx.catalog.path_known(p),
    );
    let partial = TempGuard::new(fsutil::partial_path(&path));
    let mut writer = ArchiveWriter::create(
        partial.path(),
        profile.policy.compression_level,
        manifest.created_at,
    )?;
    for entry in entries.iter().filter(|e| e.path != archive::README_NAME) {
        writer.copy_raw(&mut reader, entry)?;
    }
    writer.add_bytes(
        archive::README_NAME,
        archive::readme_text(&manifest).as_bytes(),
        job,
    )?;
    let manifest = writer.finish(manifest)?;
    let completion = crate::jobs::seal(partial, &path, job)?;
    Ok(Stored {
        path,
        completion,
        manifest,
        notes: Vec::new(),
    })
}

/// A zip: a Backstop archive (checked like a restore would) or a foreign layout, unpacked in one pass after every
/// entry's name and kind passed a pre-scan of the central directory.
pub(super) fn import_zip(source: &Source, job: &JobControl) -> Result<(Found, Stored)> {
    let file = source.file;
    let open = || -> Result<zip::ZipArchive<BufReader<File>>> {
        let input = File::open(file).map_err(|e| source.refused(format!("cannot read it: {e}")))?;
        zip::ZipArchive::new(BufReader::new(input)).map_err(|e| {
            Error::damaged(
                file,
                format!(
                    "not a readable zip file ({e}); it may be truncated or not a Backstop archive"
                ),
            )
        })
    };
    let mut zip = open()?;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Error::damaged(file, format!("entry #{i} is unreadable: {e}")))?;
        names.push(
            entry
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned()),
        );
    }
    let manifest_head = zip.by_name(archive::MANIFEST_NAME).ok().map(|entry| {
        let mut head = Vec::new();
        let _ = entry.take(8192).read_to_end(&mut head);
        head
    });
    if looks_like_backstop(&names, manifest_head.as_deref()) {
        drop(zip);
        return Ok((
            Found::named("Backstop archive"),
            import_archive(source, job)?,
        ));
    }

    // Pre-scan: nothing is written before every entry passed.
    if zip.has_duplicate_names() {
        let which = duplicate_zip_name(file, zip.central_directory_start())
            .map_or("two entries".to_string(), |n| format!("entry '{n}'"));
        return Err(source.refused(format!(
            "{which} appears twice (two entries with the same name; which one is meant?)"
        )));
    }
    if zip.has_overlapping_files().unwrap_or(true) {
        return Err(
            source.refused("entries overlap inside the file (a zip bomb or a tampered zip)")
        );
    }
    let max_entries = source.ctx.config.settings.max_import_entries;
    if zip.len() as u64 > max_entries {
        return Err(source.refused(format!(
            "it has more than {max_entries} entries, the import limit (settings.max_import_entries)"
        )));
    }
    let layout = Layout::of_zip(&names);
    let mut kinds = Vec::with_capacity(zip.len());
    for (i, name) in names.iter().enumerate() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| Error::damaged(file, format!("entry #{i} is unreadable: {e}")))?;
        if entry.encrypted() {
            return Err(source.refused(format!(
                "entry '{name}' is encrypted; Backstop cannot check what it holds"
            )));
        }
        kinds.push(zip_entry_kind(&entry));
    }
    let mut unwrap = None;
    if layout == Layout::Media {
        let mut survey = detect::Survey::default();
        for (i, (name, kind)) in names.iter().zip(&kinds).enumerate() {
            let toc = *kind == EntryKind::File && postgres::is_toc_name(name) && {
                let mut head = Vec::new();
                let entry = zip
                    .by_index(i)
                    .map_err(|e| source.refused(format!("entry '{name}' is unreadable: {e}")))?;
                let _ = entry
                    .take(detect::PG_DUMP_MAGIC.len() as u64)
                    .read_to_end(&mut head);
                head == detect::PG_DUMP_MAGIC
            };
            survey.add(name, *kind == EntryKind::Dir, toc);
        }
        match survey.holds() {
            detect::Holds::PgDirectory { top } => {
                let found = postgres::container_found(false, false, top);
                let mut folder = postgres::PgFolder::new(source, found)?;
                let budget = Budget::new(source.limit());
                job.stage("unpacking import", None);
                for (i, (name, kind)) in names.iter().zip(&kinds).enumerate() {
                    job.check()?;
                    let mut entry = zip.by_index(i).map_err(|e| {
                        source.refused(format!("entry '{name}' is unreadable: {e}"))
                    })?;
                    let mut data = BudgetReader::new(&mut entry, &budget);
                    folder.take(name, kind, &mut data, None, job)?;
                }
                return folder.load(source, job);
            }
            detect::Holds::Files { unwrap: top } => unwrap = top,
        }
    }
    {
        let mut probe = Checker::new(source, layout, unwrap.clone());
        for (name, kind) in names.iter().zip(&kinds) {
            probe.check(name, kind)?;
        }
    }
    let created_at = match layout {
        Layout::AppZip => metadata_time(&mut zip, source)?,
        _ => None,
    }
    .unwrap_or_else(|| created_time_of(file, source.name));

    let staging = Staging::new(source, created_at)?;
    let mut unpacker = Unpacker::new(source, layout, unwrap.clone(), staging);
    let budget = Budget::new(source.limit());
    job.stage("unpacking import", None);
    for (i, (name, kind)) in names.iter().zip(kinds).enumerate() {
        job.check()?;
        let mut entry = zip
            .by_index(i)
            .map_err(|e| source.refused(format!("entry '{name}' is unreadable: {e}")))?;
        let meta = zip_meta(&entry);
        let hint = entry.size();
        let mut data = BudgetReader::new(&mut entry, &budget);
        unpacker.take(name, kind, &mut data, None, hint, meta, job)?;
    }
    let found = Found {
        detected: layout.describe(false, false),
        unwrapped: unwrap,
    };
    Ok((found, unpacker.finish(job)?))
}

/// A zip entry's kind from its name and Unix mode.
fn zip_entry_kind<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryKind {
    if entry.is_symlink() {
        return EntryKind::Refused("a symbolic link".to_string());
    }
    let file_type = entry.unix_mode().map_or(0, |m| m & 0o170000);
    match file_type {
        0o040000 => EntryKind::Dir,
        0 | 0o100000 if entry.is_dir() => EntryKind::Dir,
        0 | 0o100000 => EntryKind::File,
        0o020000 | 0o060000 => EntryKind::Refused("a device".to_string()),
        0o010000 => EntryKind::Refused("a named pipe".to_string()),
        0o140000 => EntryKind::Refused("a socket".to_string()),
        other => EntryKind::Refused(format!("of unknown type {other:o}")),
    }
}

/// A zip entry's mode (Unix-made zips only) and time (extended timestamp, else the DOS time read as this
/// machine's local time, as unzip does; the DOS default 1980-01-01 00:00 means unknown).
fn zip_meta<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryMeta {
    let mode = (entry.system() == zip::System::Unix)
        .then(|| entry.unix_mode())
        .flatten()
        .map(|m| m & 0o7777);
    let extended = entry.extra_data_fields().find_map(|field| match field {
        zip::extra_fields::ExtraField::ExtendedTimestamp(t) => t.mod_time(),
        _ => None,
    });
    let mtime = match extended {
        Some(secs) => DateTime::from_timestamp(i64::from(secs), 0),
        None => entry.last_modified().and_then(|t| {
            let date = NaiveDate::from_ymd_opt(
                i32::from(t.year()),
                u32::from(t.month()),
                u32::from(t.day()),
            )?;
            let local = date.and_hms_opt(
                u32::from(t.hour()),
                u32::from(t.minute()),
                u32::from(t.second()),
            )?;
            if local == NaiveDate::from_ymd_opt(1980, 1, 1)?.and_hms_opt(0, 0, 0)? {
                return None;
            }
            local
                .and_local_timezone(chrono::Local)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }),
    };
    EntryMeta { mtime, mode }
}

/// `backup_metadata.json`'s `backup_date`, if the zip has one that parses.
fn metadata_time(
    zip: &mut zip::ZipArchive<BufReader<File>>,
    source: &Source,
) -> Result<Option<DateTime<Utc>>> {
    let Ok(entry) = zip.by_name("backup_metadata.json") else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    entry
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_failure(source.file, Some("backup_metadata.json"), e))?;
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(source.refused(format!(
            "entry 'backup_metadata.json' is larger than {MAX_METADATA_BYTES} bytes"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        source.refused(format!(
            "entry 'backup_metadata.json' is not valid JSON: {e}"
        ))
    })?;
    match value.get("backup_date") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => match parse_backup_date(text) {
            Some(t) => Ok(Some(t)),
            None => Err(source.refused(format!(
                "backup_metadata.json has a backup_date Backstop cannot read: '{text}' (expected ISO 8601)"
            ))),
        },
        Some(other) => Err(source.refused(format!(
            "backup_metadata.json has a backup_date that is not a text: {other}"
        ))),
    }
}

/// The first name that appears twice in a zip's raw central directory (the zip crate keeps only one of them).
fn duplicate_zip_name(file: &Path, central_directory_start: u64) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut input = File::open(file).ok()?;
    input.seek(SeekFrom::Start(central_directory_start)).ok()?;
    let mut bytes = Vec::new();
    input.take(64 << 20).read_to_end(&mut bytes).ok()?;
    let mut seen = HashSet::new();
    let mut at = 0usize;
    while bytes.get(at..at + 4) == Some(b"PK\x01\x02".as_slice()) {
        let u16_at = |i: usize| -> Option<usize> {
            Some(usize::from(u16::from_le_bytes([
                *bytes.get(at + i)?,
                *bytes.get(at + i + 1)?,
            ])))
        };
        let (name_len, extra_len, comment_len) = (u16_at(28)?, u16_at(30)?, u16_at(32)?);
        let name = bytes.get(at + 46..at + 46 + name_len)?;
        if !seen.insert(name.to_vec()) {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}
