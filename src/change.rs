//! The change check: does a backup look as if data was lost since the one before it? Pure, case-tested.
//!
//! One place decides it: the backup job runs `compare` against the previous backup of the same profile and kind
//! and stores the flagging findings as the backup's `warnings` (catalog, `list --json`, `backup --json`); a
//! flagged backup stops the retention run after it. The banner (`health`) shows those stored warnings, and the
//! findings that do not flag (growth) from the same function.

use crate::catalog::BackupRow;
use crate::model::EngineKind;
use std::collections::BTreeMap;

/// Changes smaller than this many rows never count, whatever the percentage (a table going from 2 to 5 rows).
pub const MIN_ROW_CHANGE: u64 = 10;

/// What the change check looks at in one backup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure<'a> {
    /// Catalog id.
    pub id: i64,
    /// The archive's size in bytes.
    pub size_bytes: Option<u64>,
    /// Each table's row count (when the backup has a database).
    pub tables: Option<&'a BTreeMap<String, u64>>,
}

impl<'a> Measure<'a> {
    /// What the catalog recorded for a backup.
    pub fn of(row: &'a BackupRow) -> Self {
        Measure {
            id: row.id,
            size_bytes: row.size_bytes,
            tables: row.tables.as_ref(),
        }
    }
}

/// One difference worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable key, so a notification is sent once ("size-7", "rows-7-orders", "gone-7-orders").
    pub key: String,
    /// The sentence shown to the user.
    pub text: String,
    /// Whether this looks like data loss (size or rows dropped past the threshold, a table gone): the backup is
    /// then flagged. Growth is only reported.
    pub flags: bool,
}

fn percent_change(before: u64, after: u64) -> f64 {
    if before == 0 {
        return if after == 0 { 0.0 } else { f64::INFINITY };
    }
    (after as f64 - before as f64).abs() * 100.0 / before as f64
}

/// The findings between `before` and `after` (the later backup), with `threshold_percent` from the settings.
pub fn compare(before: Measure<'_>, after: Measure<'_>, threshold_percent: u32) -> Vec<Finding> {
    let threshold = f64::from(threshold_percent);
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (before.size_bytes, after.size_bytes)
        && percent_change(a, b) > threshold
    {
        let dropped = b < a;
        out.push(Finding {
            key: format!("size-{}", after.id),
            text: format!(
                "archive size {} {:.0}% since backup {} ({a} to {b} bytes): check that the data is what you expect",
                if dropped { "dropped" } else { "grew" },
                percent_change(a, b).min(9999.0),
                before.id,
            ),
            flags: dropped,
        });
    }
    if let (Some(old), Some(new)) = (before.tables, after.tables) {
        for (table, &n_old) in old {
            let Some(&n_new) = new.get(table) else {
                out.push(Finding {
                    key: format!("gone-{}-{table}", after.id),
                    text: format!(
                        "table '{table}' is gone (it had {n_old} rows in backup {})",
                        before.id
                    ),
                    flags: true,
                });
                continue;
            };
            if n_old.abs_diff(n_new) >= MIN_ROW_CHANGE && percent_change(n_old, n_new) > threshold {
                out.push(Finding {
                    key: format!("rows-{}-{table}", after.id),
                    text: format!(
                        "table '{table}' went from {n_old} to {n_new} rows since backup {}",
                        before.id
                    ),
                    flags: n_new < n_old,
                });
            }
        }
    }
    out
}

/// Why a database must not be backed up at all, or `None`: a source of 0 bytes, or a SQLite file without a single
/// table (what SQLite makes of a wrong path or a replaced file), would give a "good" backup of nothing that
/// retention could then let push out the real ones. An empty PostgreSQL database is a normal first state; if an
/// earlier backup had tables, `compare` flags it instead.
pub fn source_problem(
    engine: EngineKind,
    size_bytes: u64,
    tables: &BTreeMap<String, u64>,
) -> Option<String> {
    if size_bytes == 0 {
        return Some("it is 0 bytes (was the file truncated or replaced?)".to_string());
    }
    if crate::engine::family(engine).empty_is_suspicious() && tables.is_empty() {
        return Some(
            "it has no tables (was its schema lost, or does the profile point at the wrong file?)"
                .to_string(),
        );
    }
    None
}

/// The texts of the findings that flag a backup: what the catalog stores as its `warnings`.
pub fn flag_warnings(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.flags)
        .map(|f| f.text.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn compare_cases() {
        let steady = tables(&[("orders", 1000), ("customers", 50)]);
        let fewer = tables(&[("orders", 100), ("customers", 50)]);
        let more = tables(&[("orders", 3000), ("customers", 50)]);
        let gone = tables(&[("orders", 1000)]);
        let none = tables(&[]);
        let tiny_before = tables(&[("orders", 2)]);
        let tiny_after = tables(&[("orders", 9)]);
        let added = tables(&[("orders", 1000), ("customers", 50), ("new", 5)]);
        // (name, before (size, tables), after (size, tables), [(key, flags)])
        type Side<'a> = (Option<u64>, Option<&'a BTreeMap<String, u64>>);
        type Case<'a> = (&'a str, Side<'a>, Side<'a>, Vec<(&'a str, bool)>);
        let cases: Vec<Case> = vec![
            (
                "steady",
                (Some(1000), Some(&steady)),
                (Some(1100), Some(&steady)),
                vec![],
            ),
            (
                "size dropped past 50%",
                (Some(1000), None),
                (Some(400), None),
                vec![("size-2", true)],
            ),
            (
                "size dropped exactly 50%",
                (Some(1000), None),
                (Some(500), None),
                vec![],
            ),
            (
                "size grew",
                (Some(1000), None),
                (Some(2600), None),
                vec![("size-2", false)],
            ),
            (
                "rows dropped 90%",
                (None, Some(&steady)),
                (None, Some(&fewer)),
                vec![("rows-2-orders", true)],
            ),
            (
                "rows tripled",
                (None, Some(&steady)),
                (None, Some(&more)),
                vec![("rows-2-orders", false)],
            ),
            (
                "a table vanished",
                (None, Some(&steady)),
                (None, Some(&gone)),
                vec![("gone-2-customers", true)],
            ),
            (
                "every table vanished",
                (None, Some(&steady)),
                (None, Some(&none)),
                vec![("gone-2-customers", true), ("gone-2-orders", true)],
            ),
            (
                "a table added",
                (None, Some(&steady)),
                (None, Some(&added)),
                vec![],
            ),
            (
                "tiny table change ignored",
                (None, Some(&tiny_before)),
                (None, Some(&tiny_after)),
                vec![],
            ),
            (
                "no earlier tables (files backup)",
                (Some(10), None),
                (Some(10), Some(&steady)),
                vec![],
            ),
            (
                "empty archive sizes",
                (Some(0), None),
                (Some(0), None),
                vec![],
            ),
        ];
        for (name, before, after, want) in cases {
            let got = compare(
                Measure {
                    id: 1,
                    size_bytes: before.0,
                    tables: before.1,
                },
                Measure {
                    id: 2,
                    size_bytes: after.0,
                    tables: after.1,
                },
                50,
            );
            let got: Vec<(&str, bool)> = got.iter().map(|f| (f.key.as_str(), f.flags)).collect();
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn source_problem_cases() {
        let some = tables(&[("orders", 0)]);
        let none = tables(&[]);
        let cases = [
            ("sqlite with a table", EngineKind::Sqlite, 4096, &some, None),
            (
                "sqlite 0 bytes",
                EngineKind::Sqlite,
                0,
                &none,
                Some("0 bytes"),
            ),
            (
                "sqlite without tables",
                EngineKind::Sqlite,
                4096,
                &none,
                Some("no tables"),
            ),
            (
                "postgres without tables",
                EngineKind::Postgres,
                7_000_000,
                &none,
                None,
            ),
            (
                "postgres reporting 0 bytes",
                EngineKind::Postgres,
                0,
                &some,
                Some("0 bytes"),
            ),
        ];
        for (name, engine, size, tables, want) in cases {
            let got = source_problem(engine, size, tables);
            match want {
                None => assert_eq!(got, None, "case {name}"),
                Some(text) => assert!(got.is_some_and(|g| g.contains(text)), "case {name}"),
            }
        }
    }

    #[test]
    fn flag_warnings_keeps_only_losses_with_their_words() {
        let before = tables(&[("orders", 400), ("products", 3)]);
        let after = tables(&[("orders", 40)]);
        let findings = compare(
            Measure {
                id: 1,
                size_bytes: Some(1000),
                tables: Some(&before),
            },
            Measure {
                id: 2,
                size_bytes: Some(3000),
                tables: Some(&after),
            },
            50,
        );
        assert_eq!(
            flag_warnings(&findings),
            [
                "table 'orders' went from 400 to 40 rows since backup 1",
                "table 'products' is gone (it had 3 rows in backup 1)",
            ]
        );
        assert_eq!(findings.len(), 3, "the growth is reported, not flagged");
    }
}
