//! The copies of backups at destinations: one row per backup and destination, from `pending` through `copying`
//! to `copied` (with when, size and SHA-256 as read back) or `failed` (with why, and when to try again); `pruned`
//! once the destination's retention deleted it there.

use super::{Catalog, parse_ts, ts};
use crate::error::Result;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

/// Where a copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyStatus {
    /// Waiting to be copied.
    Pending,
    /// Being copied now (or a copy a crash interrupted: the next sync starts it again).
    Copying,
    /// At the destination, read back and checked.
    Copied,
    /// The last try failed; tried again after `next_try_at`.
    Failed,
    /// Deleted at the destination by its retention.
    Pruned,
}

impl CopyStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyStatus::Pending => "pending",
            CopyStatus::Copying => "copying",
            CopyStatus::Copied => "copied",
            CopyStatus::Failed => "failed",
            CopyStatus::Pruned => "pruned",
        }
    }
}

impl std::str::FromStr for CopyStatus {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s {
            "pending" => CopyStatus::Pending,
            "copying" => CopyStatus::Copying,
            "copied" => CopyStatus::Copied,
            "failed" => CopyStatus::Failed,
            "pruned" => CopyStatus::Pruned,
            other => return Err(format!("unknown copy status '{other}'")),
        })
    }
}

impl std::fmt::Display for CopyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One copy (also the `copies` objects of `list --json`, which show `dest`, `status` and `copied_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyRow {
    /// The backup.
    #[serde(skip)]
    pub backup_id: i64,
    /// The destination's name.
    pub dest: String,
    /// Where it stands.
    pub status: CopyStatus,
    /// When it was copied and checked.
    pub copied_at: Option<DateTime<Utc>>,
    /// Its name at the destination.
    #[serde(skip)]
    pub object: String,
    /// Size as read back.
    #[serde(skip)]
    pub size_bytes: Option<u64>,
    /// SHA-256 as read back.
    #[serde(skip)]
    pub sha256: Option<String>,
    /// Why the last try failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed tries since the last success.
    #[serde(skip)]
    pub attempts: u32,
    /// Not tried again before this.
    #[serde(skip)]
    pub next_try_at: Option<DateTime<Utc>>,
    /// An S3 multipart upload in progress (its id and part size), resumed by the next try.
    #[serde(skip)]
    pub upload: Option<(String, u64)>,
}

const COPY_COLUMNS: &str = "backup_id, dest, status, copied_at, object, size_bytes, sha256, error, attempts, \
     next_try_at, upload_id, part_size";

fn copy_from_row(row: &Row) -> rusqlite::Result<CopyRow> {
    let opt_ts = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<String>>(i)?
            .map(|t| parse_ts(&t))
            .transpose()
    };
    Ok(CopyRow {
        backup_id: row.get(0)?,
        dest: row.get(1)?,
        status: super::parse_word(&row.get::<_, String>(2)?)?,
        copied_at: opt_ts(3)?,
        object: row.get(4)?,
        size_bytes: row.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
        sha256: row.get(6)?,
        error: row.get(7)?,
        attempts: row.get::<_, i64>(8)?.clamp(0, u32::MAX.into()) as u32,
        next_try_at: opt_ts(9)?,
        upload: match (
            row.get::<_, Option<String>>(10)?,
            row.get::<_, Option<i64>>(11)?,
        ) {
            (Some(id), Some(size)) if size > 0 => Some((id, size as u64)),
            _ => None,
        },
    })
}

impl Catalog {
    /// Every copy row (of one destination when named), oldest backup first.
    pub fn copies(&self, dest: Option<&str>) -> Result<Vec<CopyRow>> {
        let sql = format!(
            "SELECT {COPY_COLUMNS} FROM copies WHERE (?1 IS NULL OR dest = ?1) ORDER BY backup_id, dest"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        stmt.query_map(params![dest], copy_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))
    }

    /// The copy of one backup at one destination.
    pub fn copy(&self, backup_id: i64, dest: &str) -> Result<Option<CopyRow>> {
        let sql = format!("SELECT {COPY_COLUMNS} FROM copies WHERE backup_id = ?1 AND dest = ?2");
        self.conn
            .query_row(&sql, params![backup_id, dest], copy_from_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Queues a copy (nothing changes when the backup already has a row for this destination).
    pub fn queue_copy(&self, backup_id: i64, dest: &str, object: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO copies (backup_id, dest, status, object, attempts, updated_at) \
                 VALUES (?1, ?2, 'pending', ?3, 0, ?4)",
                params![backup_id, dest, object, ts(Utc::now())],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Marks a copy as being made now.
    pub fn copy_started(&self, backup_id: i64, dest: &str) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET status = 'copying', updated_at = ?3 WHERE backup_id = ?1 AND dest = ?2",
            params![backup_id, dest, ts(Utc::now())],
        )
    }

    /// Records a copy made and read back.
    pub fn copy_done(
        &self,
        backup_id: i64,
        dest: &str,
        size_bytes: u64,
        sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET status = 'copied', size_bytes = ?3, sha256 = ?4, copied_at = ?5, error = NULL, \
             attempts = 0, next_try_at = NULL, upload_id = NULL, part_size = NULL, updated_at = ?5 \
             WHERE backup_id = ?1 AND dest = ?2",
            params![backup_id, dest, size_bytes as i64, sha256, ts(at)],
        )
    }

    /// Records a failed try and when to try again.
    pub fn copy_failed(
        &self,
        backup_id: i64,
        dest: &str,
        error: &str,
        next_try_at: DateTime<Utc>,
    ) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET status = 'failed', error = ?3, attempts = attempts + 1, next_try_at = ?4, \
             updated_at = ?5 WHERE backup_id = ?1 AND dest = ?2",
            params![backup_id, dest, error, ts(next_try_at), ts(Utc::now())],
        )
    }

    /// Remembers (or forgets, with None) the S3 multipart upload of a copy, the moment S3 gives its id.
    pub fn set_copy_upload(
        &self,
        backup_id: i64,
        dest: &str,
        upload: Option<(&str, u64)>,
    ) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET upload_id = ?3, part_size = ?4, updated_at = ?5 WHERE backup_id = ?1 AND dest = ?2",
            params![
                backup_id,
                dest,
                upload.map(|u| u.0),
                upload.map(|u| u.1 as i64),
                ts(Utc::now())
            ],
        )
    }

    /// Back to `pending` (a cancelled copy, a copy a crash interrupted); failures stay counted.
    pub fn copy_pending(&self, backup_id: i64, dest: &str) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET status = 'pending', updated_at = ?3 WHERE backup_id = ?1 AND dest = ?2",
            params![backup_id, dest, ts(Utc::now())],
        )
    }

    /// Records that the destination's retention deleted the copy there.
    pub fn copy_pruned(&self, backup_id: i64, dest: &str) -> Result<()> {
        self.update_copy(
            "UPDATE copies SET status = 'pruned', updated_at = ?3 WHERE backup_id = ?1 AND dest = ?2",
            params![backup_id, dest, ts(Utc::now())],
        )
    }

    /// A copy found at a destination (catalog rebuild from it): recorded as copied, with the object's facts.
    pub fn insert_copied(
        &self,
        backup_id: i64,
        dest: &str,
        object: &str,
        size_bytes: u64,
        sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO copies (backup_id, dest, status, object, size_bytes, sha256, copied_at, \
                 attempts, updated_at) VALUES (?1, ?2, 'copied', ?3, ?4, ?5, ?6, 0, ?6)",
                params![backup_id, dest, object, size_bytes as i64, sha256, ts(at)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets every copy row of a destination (`dest remove`; the objects there are left alone).
    pub fn forget_destination(&self, dest: &str) -> Result<usize> {
        self.conn
            .execute("DELETE FROM copies WHERE dest = ?1", params![dest])
            .map_err(|e| self.err(e))
    }

    fn update_copy(&self, sql: &str, params: impl rusqlite::Params) -> Result<()> {
        self.conn.execute(sql, params).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Fills each row's `copies` (pruned ones left out: they are no longer anywhere).
    pub(super) fn attach_copies(&self, rows: &mut [super::BackupRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut by_backup: std::collections::HashMap<i64, Vec<CopyRow>> =
            std::collections::HashMap::new();
        for copy in self.copies(None)? {
            if copy.status != CopyStatus::Pruned {
                by_backup.entry(copy.backup_id).or_default().push(copy);
            }
        }
        for row in rows {
            row.copies = by_backup.remove(&row.id).unwrap_or_default();
        }
        Ok(())
    }
}
