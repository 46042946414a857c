//! When an imported backup was made: a time in its file name, a web app's `backup_date`, else the file's
//! modification time; kept to the microsecond, as the catalog keeps them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::path::Path;

/// A time in the file name: `_YYYYMMDD_HHMMSS` (or with dashes), or django-dbbackup's `YYYY-MM-DD-HHMMSS`; read
/// as UTC.
pub fn name_timestamp(name: &str) -> Option<DateTime<Utc>> {
    let chars: Vec<char> = name.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let number = |from: usize, len: usize| -> Option<u32> {
        chars
            .get(from..from + len)?
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    };
    // (pattern, year, month, day, hour, minute, second offsets): `D` a digit, `-` a dash or underscore.
    const PATTERNS: [(&str, [usize; 6]); 2] = [
        ("DDDDDDDD-DDDDDD", [0, 4, 6, 9, 11, 13]),
        ("DDDD-DD-DD-DDDDDD", [0, 5, 8, 11, 13, 15]),
    ];
    for start in 0..chars.len() {
        if start > 0 && digit_at(start - 1) {
            continue;
        }
        for (pattern, at) in PATTERNS {
            let fits = pattern.chars().enumerate().all(|(i, p)| match p {
                'D' => digit_at(start + i),
                _ => matches!(chars.get(start + i), Some('-' | '_')),
            });
            if !fits || digit_at(start + pattern.len()) {
                continue;
            }
            let field = |k: usize, len: usize| number(start + at.get(k)?, len);
            let date = NaiveDate::from_ymd_opt(field(0, 4)? as i32, field(1, 2)?, field(2, 2)?);
            let time = date.and_then(|d| d.and_hms_opt(field(3, 2)?, field(4, 2)?, field(5, 2)?));
            if let Some(t) = time {
                return Some(t.and_utc());
            }
        }
    }
    None
}

/// A time in the file name (see [`name_timestamp`]), else the file's modification time.
pub fn created_time_of(file: &Path, name: &str) -> DateTime<Utc> {
    name_timestamp(name).unwrap_or_else(|| {
        std::fs::metadata(file)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(|_| Utc::now())
    })
}

/// An ISO 8601 time with or without an offset (without one it is UTC).
pub fn parse_backup_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Microseconds, as the catalog keeps them, so the manifest and the catalog agree exactly.
pub(super) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_names() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().ok();
        #[rustfmt::skip]
        let cases = [
            ("shop_20250301_101500.sql.gz", t("2025-03-01T10:15:00Z")),
            ("app-20240115-093000.db.gz", t("2024-01-15T09:30:00Z")),
            ("default-myhost-2024-01-15-093000.psql.bin", t("2024-01-15T09:30:00Z")),
            ("myhost-2024-01-15-093000.tar.gz", t("2024-01-15T09:30:00Z")),
            ("host1-2024-01-15_093000.dump", t("2024-01-15T09:30:00Z")),
            ("host12024-01-15-093000.dump", None),
            ("x_20251399_101500.db", None),
            ("x_120250301_101500.db", None),
            ("media.zip", None),
        ];
        for (name, expected) in cases {
            assert_eq!(name_timestamp(name), expected, "{name}");
        }
    }

    #[test]
    fn backup_dates_with_and_without_offsets() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().ok();
        #[rustfmt::skip]
        let cases = [
            ("2024-01-15T09:30:00+00:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T10:30:00+01:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T09:30:00Z", t("2024-01-15T09:30:00Z")),
            ("2024-01-15T09:30:00.250000", t("2024-01-15T09:30:00.25Z")),
            ("2024-01-15 09:30:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15 10:30:00+01:00", t("2024-01-15T09:30:00Z")),
            ("2024-01-15", t("2024-01-15T00:00:00Z")),
            ("yesterday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_backup_date(text), expected, "{text}");
        }
    }
}
