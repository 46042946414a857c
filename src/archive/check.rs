//! Every field of an untrusted manifest, checked at the one place an archive is opened
//! ([`super::ArchiveReader::open`]), before anything reads it: checksums are 64 lowercase hex digits, sizes and
//! counts are bounded, paths are entry names a restore accepts, times are sane, the words are known, the profile is
//! a profile name, text is bounded and free of NUL, and version strings hold no control characters. Names a user
//! chose (files, tables, databases) may hold control characters: Backstop's own archives must open again, and the
//! CLI escapes them on a terminal. The problem names the field.

use super::{EntryType, FILES_PREFIX, Manifest, ManifestEntry, unsafe_name_reason};
use crate::model::Kind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer};
use std::fmt::Display;
use std::str::FromStr;

/// Largest size one entry, or the live database, may claim: 1 PiB.
const MAX_SIZE: u64 = 1 << 50;
/// Largest total of all entries' sizes (so no sum of sizes can overflow).
const MAX_TOTAL_SIZE: u64 = 1 << 60;
/// Most entries: a files folder of ten million files (the manifest's byte limit stops far earlier).
const MAX_ENTRIES: usize = 10_000_000;
/// Most tables with a row count.
const MAX_TABLES: usize = 1_000_000;
/// Most warnings.
const MAX_WARNINGS: usize = 10_000;
/// Longest text field (a version, a name, a link target, a warning), in bytes.
const MAX_TEXT_BYTES: usize = 4096;
/// Largest row count: what the catalog can store.
const MAX_ROWS: u64 = i64::MAX as u64;
/// Mode bits a manifest may record: permissions, setuid, setgid, sticky (no file-type bits).
const MAX_MODE: u32 = 0o7777;

/// The first and the last year (exclusive) a backup may have been taken: zip's own clock starts in 1980.
const BACKUP_YEARS: (i32, i32) = (1980, 2200);
/// The first and the last year (exclusive) of a file's modification time: any a file system may hold that RFC 3339
/// can write (a btrfs file may well say year 1000; its archive must still open).
const FILE_YEARS: (i32, i32) = (1, 10000);
/// Longest entry path, in bytes (a files folder may nest deeper than `PATH_MAX`).
const MAX_PATH_BYTES: usize = 1 << 16;

/// Why the manifest cannot be trusted, naming the field, if it cannot.
pub(super) fn manifest(m: &Manifest) -> Result<(), String> {
    if m.format_version == 0 {
        return Err("format_version 0 is not a version".into());
    }
    text("app_version", &m.app_version, false)?;
    crate::config::validate_profile_name(&m.profile).map_err(|e| format!("profile: {e}"))?;
    time("created_at", m.created_at, BACKUP_YEARS)?;
    match (&m.database, m.kind) {
        (None, Kind::Full | Kind::Database) => {
            return Err(format!(
                "kind is {} but there is no database record",
                m.kind
            ));
        }
        (Some(_), Kind::Files) => {
            return Err("kind is files but there is a database record".into());
        }
        _ => {}
    }
    if let Some(db) = &m.database {
        text("database.engine_version", &db.engine_version, false)?;
        // A server's database name may hold any character but NUL (even '/'); it is only ever shown.
        text("database.name", &db.name, true)?;
        if db.name.is_empty() {
            return Err("database.name is empty".into());
        }
        if !db.entry.starts_with("database/") || unsafe_name_reason(&db.entry).is_some() {
            return Err(format!(
                "database.entry '{}' is not an entry under database/",
                db.entry
            ));
        }
        size("database.size_bytes", db.size_bytes)?;
        if db.tables.len() > MAX_TABLES {
            return Err(format!(
                "database.tables lists more than {MAX_TABLES} tables"
            ));
        }
        for (table, rows) in &db.tables {
            text("database.tables", table, true)?;
            if *rows > MAX_ROWS {
                return Err(format!(
                    "database.tables: table '{table}' claims {rows} rows, more than {MAX_ROWS}"
                ));
            }
        }
        sha256("database.schema_sha256", &db.schema_sha256)?;
        if let Some(tool) = &db.tool_version {
            text("database.tool_version", tool, false)?;
        }
        if let Some(pg) = &db.postgres {
            postgres_record(pg)?;
        }
    }
    if m.entries.len() > MAX_ENTRIES {
        return Err(format!("entries: more than {MAX_ENTRIES} entries"));
    }
    let mut total: u64 = 0;
    for entry in &m.entries {
        check_entry(entry).map_err(|problem| format!("entry '{}': {problem}", entry.path))?;
        total = total
            .checked_add(entry.size)
            .filter(|t| *t <= MAX_TOTAL_SIZE)
            .ok_or_else(|| format!("entries: sizes add up to more than {MAX_TOTAL_SIZE} bytes"))?;
    }
    if let Some(from) = &m.imported_from {
        text("imported_from", from, true)?;
    }
    if m.warnings.len() > MAX_WARNINGS {
        return Err(format!("warnings: more than {MAX_WARNINGS}"));
    }
    for warning in &m.warnings {
        text("warnings", warning, true)?;
    }
    Ok(())
}

/// One entry's record (its path is named by the caller).
fn check_entry(entry: &ManifestEntry) -> Result<(), String> {
    if entry.path.len() > MAX_PATH_BYTES {
        return Err(format!("path is longer than {MAX_PATH_BYTES} bytes"));
    }
    if let Some(reason) = unsafe_name_reason(&entry.path) {
        return Err(format!("path is unsafe: {reason}"));
    }
    // Control characters are allowed: a Linux file name may hold them, and the folder must come back as it was.
    let is_dir_name = entry.path.ends_with('/');
    if is_dir_name != (entry.entry_type == EntryType::Dir) {
        return Err(
            "path and type disagree (a folder's path, and only a folder's, ends with '/')".into(),
        );
    }
    if entry.entry_type != EntryType::File && !entry.path.starts_with(FILES_PREFIX) {
        return Err("a folder or link outside files/".into());
    }
    size("size", entry.size)?;
    sha256("sha256", &entry.sha256)?;
    if let Some(mtime) = entry.mtime {
        time("mtime", mtime, FILE_YEARS)?;
    }
    if let Some(mode) = entry.mode
        && mode > MAX_MODE
    {
        return Err(format!(
            "mode {mode:o} has bits beyond permissions, setuid, setgid and sticky ({MAX_MODE:o})"
        ));
    }
    match (&entry.target, entry.entry_type) {
        (Some(target), EntryType::Symlink) => {
            text("target", target, true)?;
            if target.is_empty() {
                return Err("target of a link is empty".into());
            }
        }
        (None, EntryType::Symlink) => return Err("a link without a target".into()),
        (Some(_), _) => return Err("target on an entry that is not a link".into()),
        (None, _) => {}
    }
    Ok(())
}

/// A SHA-256 as Backstop writes it: exactly 64 lowercase hex digits.
fn sha256(field: &str, value: &str) -> Result<(), String> {
    if super::is_sha256_hex(value) {
        Ok(())
    } else {
        Err(format!("{field} must be 64 lowercase hex digits"))
    }
}

/// A size in bytes.
fn size(field: &str, value: u64) -> Result<(), String> {
    if value <= MAX_SIZE {
        Ok(())
    } else {
        Err(format!(
            "{field} {value} is more than {MAX_SIZE} bytes (1 PiB)"
        ))
    }
}

/// A time within `[from, to)` years.
fn time(field: &str, value: DateTime<Utc>, (from, to): (i32, i32)) -> Result<(), String> {
    let start = |year: i32| {
        NaiveDate::from_ymd_opt(year, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    };
    match (start(from), start(to)) {
        (Some(from_t), Some(to_t)) if value >= from_t && value < to_t => Ok(()),
        _ => Err(format!(
            "{field} {} is not between the years {from} and {}",
            value.to_rfc3339(),
            to - 1
        )),
    }
}

/// Free text: bounded, no NUL, and (unless `control_ok`: names a user chose) no control characters.
/// Settings a PostgreSQL database may carry (`ALTER DATABASE … SET`), at most.
const MAX_PG_SETTINGS: usize = 1_000;

/// A PostgreSQL database's recorded owner, encoding, locale and settings: what a restore re-creates a missing
/// database with. Every name is quoted where it is used; here they are bounded, and a setting must be
/// `name=value` with a name PostgreSQL could have written (letters, digits, `_` and `.` for extensions' own).
fn postgres_record(pg: &crate::archive::PgDatabaseSettings) -> Result<(), String> {
    for (field, value) in [
        ("database.postgres.owner", pg.owner.as_str()),
        ("database.postgres.encoding", pg.encoding.as_str()),
        ("database.postgres.lc_collate", pg.lc_collate.as_str()),
        ("database.postgres.lc_ctype", pg.lc_ctype.as_str()),
    ]
    .into_iter()
    .chain(
        pg.locale_provider
            .as_deref()
            .map(|v| ("database.postgres.locale_provider", v)),
    )
    .chain(
        pg.icu_locale
            .as_deref()
            .map(|v| ("database.postgres.icu_locale", v)),
    ) {
        text(field, value, false)?;
    }
    if pg.settings.len() > MAX_PG_SETTINGS {
        return Err(format!(
            "database.postgres.settings lists more than {MAX_PG_SETTINGS} settings"
        ));
    }
    for setting in &pg.settings {
        text("database.postgres.settings", setting, false)?;
        let name = setting
            .split_once('=')
            .map(|(name, _)| name)
            .unwrap_or_default();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!(
                "database.postgres.settings: '{setting}' is not name=value"
            ));
        }
    }
    Ok(())
}

fn text(field: &str, value: &str, control_ok: bool) -> Result<(), String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(format!("{field} is longer than {MAX_TEXT_BYTES} bytes"));
    }
    if value.contains('\0') {
        return Err(format!("{field} holds a NUL character"));
    }
    if !control_ok && value.chars().any(char::is_control) {
        return Err(format!("{field} holds a control character"));
    }
    Ok(())
}

/// Reads a word or a time from its text, naming the field when it is not one (serde's own message would only say
/// "unknown variant" and where).
fn named<'de, D, T>(deserializer: D, field: &str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("{field}: {e} ('{}')", text.escape_debug())))
}

/// `kind` named in its error.
pub(super) fn kind<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
    named(d, "kind")
}

/// `trigger` named in its error.
pub(super) fn trigger<'de, D: Deserializer<'de>>(d: D) -> Result<crate::model::Trigger, D::Error> {
    named(d, "trigger")
}

/// `database.engine` named in its error.
pub(super) fn engine<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<crate::model::EngineKind, D::Error> {
    named(d, "database.engine")
}

/// `created_at` named in its error.
pub(super) fn created_at<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    named(d, "created_at")
}

/// An entry's `mtime` named in its error.
pub(super) fn mtime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| {
            text.parse().map_err(|e| {
                serde::de::Error::custom(format!("mtime: {e} ('{}')", text.escape_debug()))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{DatabaseInfo, FORMAT_NAME};
    use crate::model::{EngineKind, Trigger};

    fn entry(path: &str, entry_type: EntryType) -> ManifestEntry {
        ManifestEntry {
            entry_type,
            ..ManifestEntry::plain(path, 1, &"a".repeat(64))
        }
    }

    /// What Backstop itself may write from odd but legal sources must open again: file names with control
    /// characters, a table name with a newline, a server database name with '/', a file from the year 1000.
    #[test]
    fn odd_but_legal_content_of_our_own_archives_passes() {
        let old: DateTime<Utc> = "1000-06-01T00:00:00Z".parse().unwrap();
        let mut link = entry("files/link\u{7}", EntryType::Symlink);
        link.target = Some("../x\ny".into());
        let mut file = entry("files/a\nb.txt", EntryType::File);
        file.mtime = Some(old);
        file.mode = Some(0o4755);
        let m = Manifest {
            format: FORMAT_NAME.into(),
            format_version: 1,
            app_version: "0.1.0".into(),
            profile: "shop-2".into(),
            kind: Kind::Full,
            trigger: Trigger::Uploaded,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            database: Some(DatabaseInfo {
                engine: EngineKind::Postgres,
                engine_version: "16.4 (Debian 16.4-1.pgdg120+1)".into(),
                name: "a/b\tc".into(),
                entry: "database/a/b\tc.dump".into(),
                size_bytes: 1 << 40,
                tables: [("public.\"odd\nname\"".to_string(), 3)].into(),
                schema_sha256: "0".repeat(64),
                tool_version: Some("pg_dump (PostgreSQL) 16.4".into()),
                postgres: Some(crate::archive::PgDatabaseSettings {
                    owner: "app owner".into(),
                    encoding: "UTF8".into(),
                    lc_collate: "de_DE.UTF-8".into(),
                    lc_ctype: "de_DE.UTF-8".into(),
                    locale_provider: Some("icu".into()),
                    icu_locale: Some("de-DE".into()),
                    settings: vec![
                        "search_path=\"$user\", public".into(),
                        "pg_trgm.similarity_threshold=0.4".into(),
                    ],
                }),
            }),
            entries: vec![
                entry("database/a/b\tc.dump", EntryType::File),
                entry("files/", EntryType::Dir),
                file,
                link,
            ],
            imported_from: Some("backup\u{1b}.zip".into()),
            warnings: vec!["table \"x\ny\" shrank".into()],
        };
        assert_eq!(manifest(&m), Ok(()));
    }
}
