//! The shared vocabulary: backup kinds, triggers, statuses and the retention/schedule policy.
//!
//! These words are the same in the CLI, the catalog columns, the manifest and (later) the window.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Declares a closed string enum with `as_str`, `Display`, `FromStr` and serde as lowercase words.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word used in the CLI, the catalog and the manifest.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} '{}' (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        other,
                        [$($word),+].join(", ")
                    )),
                }
            }
        }
    };
}

word_enum! {
    /// What a backup holds.
    Kind {
        /// The database and the files folder.
        Full => "full",
        /// The database only.
        Database => "database",
        /// The files folder only.
        Files => "files",
    }
}

word_enum! {
    /// What started a backup.
    Trigger {
        /// "Back up now" or `backstop backup`.
        Manual => "manual",
        /// The interval elapsed (window scheduler or `backstop run-due`).
        Automatic => "automatic",
        /// An archive imported from elsewhere.
        Uploaded => "uploaded",
        /// Taken just before a restore.
        Safety => "safety",
    }
}

word_enum! {
    /// Where a backup is in its life.
    Status {
        /// Being written now (or the process died while writing it).
        Running => "running",
        /// Fully written, synced and verified.
        Completed => "completed",
        /// The job failed; no archive exists.
        Failed => "failed",
        /// The user cancelled the job; no archive exists.
        Cancelled => "cancelled",
        /// A later verify found damage.
        Corrupted => "corrupted",
        /// Removed by the user or by retention.
        Deleted => "deleted",
    }
}

word_enum! {
    /// The database engines Backstop knows.
    EngineKind {
        /// A SQLite database file.
        Sqlite => "sqlite",
        /// A PostgreSQL database.
        Postgres => "postgres",
        /// A MySQL or MariaDB database.
        Mysql => "mysql",
    }
}

/// How many backups a profile keeps and when it backs up by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Keep at most this many completed manual/automatic backups (at least 1).
    pub keep_last: u32,
    /// Delete manual/automatic backups older than this many days; 0 = no age limit.
    pub max_age_days: u32,
    /// Also keep the newest backup of each of the last N days (0 = rule off).
    pub keep_daily: u32,
    /// Also keep the newest backup of each of the last N ISO weeks (0 = rule off).
    pub keep_weekly: u32,
    /// Also keep the newest backup of each of the last N months (0 = rule off).
    pub keep_monthly: u32,
    /// Whether automatic backups run.
    pub auto_enabled: bool,
    /// Hours between automatic backups (at least 1).
    pub auto_interval_hours: u32,
    /// Deflate level of the archive, 0 (store) to 9.
    pub compression_level: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keep_last: 10,
            max_age_days: 30,
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
            auto_enabled: true,
            auto_interval_hours: 24,
            compression_level: 6,
        }
    }
}

/// The allowed range of a number in the config, named by its key (the same key names the CLI flag and the
/// Settings field): every number is checked against one of these before it is used or saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberRange {
    /// The config key (`busy_timeout_secs`).
    pub key: &'static str,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
}

impl NumberRange {
    /// The range `min..=max` of the config key `key`.
    pub const fn new(key: &'static str, min: u64, max: u64) -> NumberRange {
        NumberRange { key, min, max }
    }

    /// Why `value` is not allowed for this key, naming the key and the range, if it is not.
    pub fn check(&self, value: u64) -> Result<(), String> {
        if (self.min..=self.max).contains(&value) {
            Ok(())
        } else {
            Err(format!(
                "{} = {value} is out of range (allowed: {} to {})",
                self.key, self.min, self.max
            ))
        }
    }
}

impl Policy {
    /// `keep_last`: at least one backup is kept.
    pub const KEEP_LAST: NumberRange = NumberRange::new("keep_last", 1, 100_000);
    /// `max_age_days`: 0 (no limit) up to about 270 years.
    pub const MAX_AGE_DAYS: NumberRange = NumberRange::new("max_age_days", 0, 100_000);
    /// `keep_daily`.
    pub const KEEP_DAILY: NumberRange = NumberRange::new("keep_daily", 0, 100_000);
    /// `keep_weekly`.
    pub const KEEP_WEEKLY: NumberRange = NumberRange::new("keep_weekly", 0, 100_000);
    /// `keep_monthly`.
    pub const KEEP_MONTHLY: NumberRange = NumberRange::new("keep_monthly", 0, 100_000);
    /// `auto_interval_hours`: an hour to a year.
    pub const AUTO_INTERVAL_HOURS: NumberRange =
        NumberRange::new("auto_interval_hours", 1, 24 * 365);
    /// `compression_level`: deflate's levels.
    pub const COMPRESSION_LEVEL: NumberRange = NumberRange::new("compression_level", 0, 9);

    /// Each number of the policy with its range.
    pub fn numbers(&self) -> [(NumberRange, u64); 7] {
        [
            (Self::KEEP_LAST, self.keep_last.into()),
            (Self::MAX_AGE_DAYS, self.max_age_days.into()),
            (Self::KEEP_DAILY, self.keep_daily.into()),
            (Self::KEEP_WEEKLY, self.keep_weekly.into()),
            (Self::KEEP_MONTHLY, self.keep_monthly.into()),
            (Self::AUTO_INTERVAL_HOURS, self.auto_interval_hours.into()),
            (Self::COMPRESSION_LEVEL, self.compression_level.into()),
        ]
    }

    /// Why this policy cannot be used, if it cannot: each number outside its range, named.
    pub fn problems(&self) -> Vec<String> {
        self.numbers()
            .iter()
            .filter_map(|(range, value)| range.check(*value).err())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), *kind);
        }
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), *status);
        }
        let err = "weekly".parse::<Trigger>().unwrap_err();
        assert!(err.contains("manual, automatic, uploaded, safety"), "{err}");
    }

    #[test]
    fn policy_problems_name_the_field() {
        let policy = Policy {
            keep_last: 0,
            auto_interval_hours: 0,
            ..Policy::default()
        };
        let problems = policy.problems();
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("keep_last"));
        assert!(problems[1].contains("auto_interval_hours"));
    }
}
