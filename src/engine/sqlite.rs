//! SQLite: consistent copies through SQLite itself, restores through the backup API.
//!
//! Backup: `VACUUM INTO` from the live database's own connection. It runs in one read transaction, so a WAL-mode
//! database that another process keeps writing to gives a consistent copy and the copy always finishes (an
//! incremental backup-API loop restarts on every foreign write and may never finish). Never a file copy.
//! Restore: extract to a temporary file beside the target, `PRAGMA integrity_check`, compare row counts and schema
//! with the manifest, then write it into the target with the backup API in one step, which takes SQLite's own
//! locks and is safe while other connections have the file open.

use super::{Engine, RestoreOptions, StagedRestore, safe_name};
use crate::archive::{ArchiveReader, ArchiveWriter, DatabaseInfo};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::model::EngineKind;
use crate::progress::{CancelToken, JobControl};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first 16 bytes of every SQLite database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// A SQLite database file.
pub struct SqliteEngine {
    path: PathBuf,
    busy_timeout: Duration,
    name: Option<String>,
}

impl SqliteEngine {
    /// The engine for the database at `path`; `busy_timeout` bounds waits for other programs' locks.
    pub fn new(path: PathBuf, busy_timeout: Duration) -> Self {
        SqliteEngine {
            path,
            busy_timeout,
            name: None,
        }
    }

    /// Names the database (and its archive entry `database/<name>.sqlite3`) other than after its file: an
    /// import's scratch copy has a temporary file name but keeps the name it came with.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(safe_name(name));
        self
    }

    /// Opens the live database without ever creating it.
    fn open_live(&self) -> Result<Connection> {
        // Only "not found" means missing: a folder that cannot be read is a permission problem, named as such
        // (and not retried as if the file might come back).
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::DatabaseMissing(self.path.clone()));
            }
            Err(e) => return Err(Error::io("cannot read database", &self.path, e)),
            Ok(_) => {}
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| self.map_err("cannot open database", e))?;
        conn.busy_timeout(self.busy_timeout)
            .map_err(|e| self.map_err("cannot set busy timeout", e))?;
        Ok(conn)
    }

    fn map_err(&self, context: &str, e: rusqlite::Error) -> Error {
        map_sqlite_error(&self.path, self.busy_timeout, context, e)
    }

    fn name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        safe_name(
            &self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    }
}

/// Turns SQLite's error codes into messages a user can act on.
pub fn map_sqlite_error(path: &Path, busy: Duration, context: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Error::DatabaseBusy {
            path: path.to_path_buf(),
            seconds: busy.as_secs(),
        },
        Some(ErrorCode::OperationInterrupted) => Error::Cancelled,
        Some(ErrorCode::NotADatabase) => Error::IntegrityCheck {
            what: path.display().to_string(),
            detail: "the file is not a SQLite database (or is encrypted)".to_string(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::IntegrityCheck {
            what: path.display().to_string(),
            detail: format!("the database is corrupt ({e})"),
        },
        Some(ErrorCode::DiskFull) => Error::DiskFull(path.to_path_buf()),
        _ => Error::sqlite(format!("{context} {}", path.display()), e),
    }
}

/// Opens a file that Backstop itself made (a snapshot or staged copy), read-write, never creating it.
fn open_own(path: &Path) -> Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| map_sqlite_error(path, Duration::ZERO, "cannot open", e))
}

/// Runs `PRAGMA integrity_check` (or the faster `quick_check`) and fails with SQLite's own findings.
pub fn check_integrity(conn: &Connection, what: &str, quick: bool) -> Result<()> {
    let pragma = if quick {
        "PRAGMA quick_check"
    } else {
        "PRAGMA integrity_check"
    };
    let mut stmt = conn.prepare(pragma).map_err(|e| integrity_error(what, e))?;
    let rows: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| integrity_error(what, e))?;
    if matches!(rows.as_slice(), [only] if only == "ok") {
        Ok(())
    } else {
        let mut detail = rows.into_iter().take(5).collect::<Vec<_>>().join("; ");
        if detail.is_empty() {
            detail = "no result".to_string();
        }
        Err(Error::IntegrityCheck {
            what: what.to_string(),
            detail,
        })
    }
}

fn integrity_error(what: &str, e: rusqlite::Error) -> Error {
    Error::IntegrityCheck {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

/// Each ordinary table's row count and a SHA-256 of the schema, read in one transaction.
pub fn describe_schema(conn: &Connection) -> rusqlite::Result<(BTreeMap<String, u64>, String)> {
    conn.execute_batch("BEGIN")?;
    let result = (|| {
        let mut hasher = sha2::Sha256::new();
        let mut tables = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let name: String = row.get(1)?;
                let tbl: String = row.get(2)?;
                let sql: String = row.get(3)?;
                for part in [&kind, &name, &tbl, &sql] {
                    hasher.update(part.as_bytes());
                    hasher.update([0u8]);
                }
                // Virtual tables may need modules this build lacks; their shadow tables carry the data.
                if kind == "table" && !sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL") {
                    tables.push(name);
                }
            }
        }
        let mut counts = BTreeMap::new();
        for table in tables {
            let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
            let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
            counts.insert(table, n.max(0) as u64);
        }
        Ok((counts, hex::encode(hasher.finalize())))
    })();
    let _ = conn.execute_batch("COMMIT");
    result
}

thread_local! {
    /// The job a busy wait on this thread belongs to, and when the wait gives up.
    static BUSY_WAIT: std::cell::RefCell<Option<(CancelToken, Instant)>> = const { std::cell::RefCell::new(None) };
}

/// SQLite's busy handler while a job waits for another program's lock: waits in short sleeps until the lock is
/// free, the job is cancelled, or `busy_timeout` has passed (SQLite's own timeout cannot see a cancel).
fn busy_wait(_attempts: i32) -> bool {
    BUSY_WAIT.with(|wait| match &*wait.borrow() {
        Some((cancel, deadline)) if !cancel.is_cancelled() && Instant::now() < *deadline => {
            std::thread::sleep(Duration::from_millis(20));
            true
        }
        _ => false,
    })
}

/// A cancellable busy wait installed on a connection for one job, on this thread, until dropped.
struct CancellableBusyWait;

impl CancellableBusyWait {
    fn install(conn: &mut Connection, busy: Duration, job: &JobControl) -> rusqlite::Result<Self> {
        BUSY_WAIT
            .with(|wait| *wait.borrow_mut() = Some((job.cancel.clone(), Instant::now() + busy)));
        conn.busy_handler(Some(busy_wait))?;
        Ok(CancellableBusyWait)
    }
}

impl Drop for CancellableBusyWait {
    fn drop(&mut self) {
        BUSY_WAIT.with(|wait| *wait.borrow_mut() = None);
    }
}

/// Copies the live database consistently into `dest` (which must not exist) with `VACUUM INTO`, in one read
/// transaction; reports progress by the growing size of `dest`; a cancel interrupts SQLite, also while it waits for
/// another program's lock.
fn snapshot(
    conn: &mut Connection,
    source: &Path,
    dest: &Path,
    busy: Duration,
    total: u64,
    job: &JobControl,
) -> Result<()> {
    // VACUUM INTO fills an empty file it finds: made here 0600, the copy (and the journal SQLite gives the same
    // mode) is private from its first byte, whatever the process's umask.
    drop(fsutil::create_private(dest)?);
    let cancel: CancelToken = job.cancel.clone();
    conn.progress_handler(10_000, Some(move || cancel.is_cancelled()))
        .map_err(|e| map_sqlite_error(source, busy, "cannot watch progress of", e))?;
    let busy_wait = CancellableBusyWait::install(conn, busy, job)
        .map_err(|e| map_sqlite_error(source, busy, "cannot wait for", e))?;
    let finished = AtomicBool::new(false);
    let dest_text = dest.to_string_lossy().into_owned();
    let result = std::thread::scope(|scope| {
        let watcher = std::thread::Builder::new()
            .name("backstop-snapshot-progress".into())
            .spawn_scoped(scope, || {
                while !finished.load(Ordering::SeqCst) {
                    let done = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
                    job.progress("copying database", done, Some(total));
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        let result = conn.execute("VACUUM INTO ?1", [&dest_text]);
        finished.store(true, Ordering::SeqCst);
        if let Ok(handle) = watcher {
            let _ = handle.join();
        }
        result
    });
    let _ = conn.progress_handler(0, None::<fn() -> bool>);
    drop(busy_wait);
    if result.is_err() {
        // A wait or copy the user ended is a cancel, whatever SQLite called it.
        job.check()?;
    }
    result.map_err(|e| match e.sqlite_error_code() {
        // Only the copy is written: a full disk is about where the copy goes.
        Some(ErrorCode::DiskFull) => Error::DiskFull(dest.to_path_buf()),
        _ => map_sqlite_error(source, busy, "cannot copy database", e),
    })?;
    job.check()
}

/// Copies a database file that is not ours (an import) through SQLite, opened read-only so that it is never
/// changed, into `dest`: any committed rows still in its `-wal` are included, unlike a byte copy.
pub fn copy_read_only(source: &Path, dest: &Path, job: &JobControl) -> Result<()> {
    let busy = Duration::from_secs(5);
    let mut conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| map_sqlite_error(source, busy, "cannot open", e))?;
    conn.busy_timeout(busy)
        .map_err(|e| map_sqlite_error(source, busy, "cannot open", e))?;
    // An untrusted file's schema must not run functions with side effects.
    conn.pragma_update(None, "trusted_schema", "OFF")
        .map_err(|e| map_sqlite_error(source, busy, "cannot open", e))?;
    // VACUUM INTO rebuilds indexes, so check the original first: a damaged file is refused, not silently mended.
    check_integrity(&conn, &source.display().to_string(), false)?;
    let total = std::fs::metadata(source).map(|m| m.len()).unwrap_or(0);
    snapshot(&mut conn, source, dest, busy, total, job)
}

/// SQLite's facts: a file on this machine, restored with the `sqlite3` shell.
pub struct SqliteFamily;

impl super::Family for SqliteFamily {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn label(&self) -> &'static str {
        "SQLite"
    }

    fn connection(&self) -> super::Connection {
        super::Connection::File
    }

    fn readme_steps(&self, entry: &str, _tool: Option<&str>) -> String {
        format!(
            "3. The database is a plain SQLite file: restored/{entry}\n\
             \x20  Check it:             sqlite3 restored/{entry} 'PRAGMA integrity_check'\n\
             \x20  Put it in place while the application that uses it is stopped:\n\
             \x20                        sqlite3 /path/to/live.db \".restore 'restored/{entry}'\"\n\
             \x20  (or copy it over the live file and delete any stale -wal and -shm files beside it)\n"
        )
    }

    fn empty_is_suspicious(&self) -> bool {
        true
    }
}

impl Engine for SqliteEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn describe(&self) -> String {
        format!("SQLite database {}", self.path.display())
    }

    fn preflight(&self) -> Result<()> {
        let conn = self.open_live()?;
        // A lock held by another program proves a database in use; the job's own copy waits for it (and can be
        // cancelled meanwhile): preflight, which no cancel reaches, never waits.
        conn.busy_timeout(Duration::ZERO)
            .map_err(|e| self.map_err("cannot set busy timeout", e))?;
        match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(self.map_err("cannot read database", e)),
        }
    }

    fn size_bytes(&self) -> Result<u64> {
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::DatabaseMissing(self.path.clone()),
            _ => Error::io("cannot read", &self.path, e),
        })?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = std::fs::metadata(PathBuf::from(wal))
            .map(|m| m.len())
            .unwrap_or(0);
        Ok(meta.len() + wal)
    }

    fn table_counts(&self) -> Result<BTreeMap<String, u64>> {
        let conn = self.open_live()?;
        describe_schema(&conn)
            .map(|(tables, _)| tables)
            .map_err(|e| self.map_err("cannot read", e))
    }

    fn backup(
        &self,
        writer: &mut ArchiveWriter,
        scratch: &Path,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        let total = self.size_bytes()?;
        let mut conn = self.open_live()?;
        let name = self.name();
        let guard = TempGuard::new(scratch.join(format!(
            ".{name}.{}.snapshot{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        )));
        let _ = std::fs::remove_file(guard.path());
        job.stage("copying database", Some(total));
        snapshot(
            &mut conn,
            &self.path,
            guard.path(),
            self.busy_timeout,
            total,
            job,
        )?;
        let engine_version = rusqlite::version().to_string();
        drop(conn);

        job.stage("checking copy", None);
        let (tables, schema_sha256) = {
            let snap = open_own(guard.path())?;
            // The copy is ours: make it a plain rollback-journal file that opens anywhere without sidecars.
            snap.pragma_update(None, "journal_mode", "DELETE")
                .map_err(|e| {
                    map_sqlite_error(guard.path(), Duration::ZERO, "cannot prepare copy", e)
                })?;
            check_integrity(&snap, &format!("copy of {}", self.path.display()), true)?;
            describe_schema(&snap).map_err(|e| {
                map_sqlite_error(guard.path(), Duration::ZERO, "cannot read copy", e)
            })?
        };

        let entry = format!("database/{name}.sqlite3");
        let mut file = std::fs::File::open(guard.path()).ctx("cannot read copy", guard.path())?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        writer.add_stream(&entry, &mut file, size, job, "compressing database")?;
        Ok(DatabaseInfo {
            engine: EngineKind::Sqlite,
            engine_version,
            name,
            entry,
            size_bytes: total,
            tables,
            schema_sha256,
            tool_version: None,
            postgres: None,
        })
    }

    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>> {
        if options.target_database.is_some() {
            return Err(Error::Usage(
                "--to-database is for server databases; to restore a SQLite backup elsewhere, export it and unzip it".into(),
            ));
        }
        if info.engine != EngineKind::Sqlite {
            return Err(Error::Usage(format!(
                "this archive holds a {} database; the profile's database is SQLite",
                info.engine
            )));
        }
        let dir = fsutil::parent_of(&self.path);
        if !dir.is_dir() {
            return Err(Error::JobFailed(format!(
                "the folder of the database {} does not exist; create it first (nothing was changed)",
                self.path.display()
            )));
        }
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "database".into());
        let guard = TempGuard::new(dir.join(format!(
            ".{file_name}.restore-{}{}",
            std::process::id(),
            fsutil::PARTIAL_SUFFIX
        )));
        let _ = std::fs::remove_file(guard.path());
        let size = reader
            .manifest
            .entry(&info.entry)
            .map(|e| e.size)
            .unwrap_or(0);
        if let Some(free) = fsutil::available_space(dir)
            && free < size
        {
            return Err(Error::NoSpace {
                path: dir.to_path_buf(),
                needed: size,
                available: free,
            });
        }
        job.stage("extracting database", Some(size));
        {
            let mut out = fsutil::create_private(guard.path())?;
            reader.extract_entry(
                &info.entry,
                &mut out,
                guard.path(),
                job,
                "extracting database",
            )?;
            out.sync_all().ctx("cannot sync", guard.path())?;
        }
        job.stage("checking database", None);
        let mut head = [0u8; 16];
        {
            use std::io::Read;
            let mut f = std::fs::File::open(guard.path()).ctx("cannot read", guard.path())?;
            let _ = f.read(&mut head).ctx("cannot read", guard.path())?;
        }
        if &head != SQLITE_MAGIC {
            return Err(Error::IntegrityCheck {
                what: format!("'{}' in the archive", info.entry),
                detail: "not a SQLite database file".into(),
            });
        }
        let staged = open_own(guard.path())?;
        check_integrity(&staged, &format!("'{}' in the archive", info.entry), false)?;
        let (tables, schema) = describe_schema(&staged)
            .map_err(|e| map_sqlite_error(guard.path(), Duration::ZERO, "cannot read", e))?;
        drop(staged);
        if schema != info.schema_sha256 {
            return Err(Error::damaged(
                reader.path(),
                "the database's schema differs from the one recorded at backup time",
            ));
        }
        if tables != info.tables {
            let detail = first_count_difference(&info.tables, &tables);
            return Err(Error::damaged(
                reader.path(),
                format!("the database's row counts differ from the manifest: {detail}"),
            ));
        }
        Ok(Box::new(SqliteStaged {
            staged: guard,
            target: self.path.clone(),
            busy_timeout: self.busy_timeout,
            tables,
        }))
    }
}

/// Names the first table whose row count differs.
pub(crate) fn first_count_difference(
    expected: &BTreeMap<String, u64>,
    found: &BTreeMap<String, u64>,
) -> String {
    for (table, n) in expected {
        match found.get(table) {
            None => return format!("table '{table}' is missing"),
            Some(m) if m != n => {
                return format!("table '{table}' has {m} rows, the backup recorded {n}");
            }
            _ => {}
        }
    }
    for table in found.keys() {
        if !expected.contains_key(table) {
            return format!("table '{table}' was not in the backup");
        }
    }
    "no difference".into()
}

/// A checked copy of the database beside the target, waiting to be written in.
struct SqliteStaged {
    staged: TempGuard,
    target: PathBuf,
    busy_timeout: Duration,
    tables: BTreeMap<String, u64>,
}

impl SqliteStaged {
    /// A WAL-mode target cannot take pages of another size through the backup API: match its page size first.
    fn match_page_size(&self, dst: &Connection) -> Result<()> {
        let journal: String = dst
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| map_sqlite_error(&self.target, self.busy_timeout, "cannot read", e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        let dst_size: i64 = dst
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| map_sqlite_error(&self.target, self.busy_timeout, "cannot read", e))?;
        let src = open_own(self.staged.path())?;
        let src_size: i64 = src
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| map_sqlite_error(self.staged.path(), Duration::ZERO, "cannot read", e))?;
        if src_size != dst_size {
            src.execute_batch(&format!("PRAGMA page_size = {dst_size}; VACUUM;"))
                .map_err(|e| {
                    map_sqlite_error(
                        self.staged.path(),
                        Duration::ZERO,
                        "cannot convert page size of",
                        e,
                    )
                })?;
        }
        Ok(())
    }
}

impl StagedRestore for SqliteStaged {
    fn describe(&self) -> String {
        format!("SQLite database {}", self.target.display())
    }

    fn apply(self: Box<Self>, job: &JobControl) -> Result<Option<String>> {
        job.check()?;
        job.stage("writing database", None);
        if !self.target.exists() {
            // Nothing to replace and nobody can have it open: move the checked copy into place.
            let staged = self.staged.keep();
            if let Err(e) = fsutil::rename_no_replace(&staged, &self.target) {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut dst = Connection::open_with_flags(&self.target, flags)
            .map_err(|e| map_sqlite_error(&self.target, self.busy_timeout, "cannot open", e))?;
        dst.busy_timeout(self.busy_timeout)
            .map_err(|e| map_sqlite_error(&self.target, self.busy_timeout, "cannot open", e))?;
        self.match_page_size(&dst)?;
        let src = Connection::open_with_flags(
            self.staged.path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| map_sqlite_error(self.staged.path(), Duration::ZERO, "cannot open", e))?;
        {
            use rusqlite::backup::{Backup, StepResult};
            let backup = Backup::new(&src, &mut dst).map_err(|e| {
                map_sqlite_error(
                    &self.target,
                    self.busy_timeout,
                    "cannot start restore into",
                    e,
                )
            })?;
            let deadline = Instant::now() + self.busy_timeout.max(Duration::from_secs(1));
            // One step copies every page inside one write transaction on the target: all or nothing.
            loop {
                match backup.step(-1) {
                    Ok(StepResult::Done) => break,
                    Ok(StepResult::Busy) | Ok(StepResult::Locked) | Ok(StepResult::More) => {
                        if Instant::now() >= deadline {
                            return Err(Error::DatabaseBusy {
                                path: self.target.clone(),
                                seconds: self.busy_timeout.as_secs(),
                            });
                        }
                        job.check()?;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Ok(_) => break,
                    Err(e) => {
                        return Err(map_sqlite_error(
                            &self.target,
                            self.busy_timeout,
                            "cannot restore into",
                            e,
                        ));
                    }
                }
            }
        }
        // Prove the result against the checked copy.
        let (tables, _) = describe_schema(&dst).map_err(|e| {
            map_sqlite_error(&self.target, self.busy_timeout, "cannot read restored", e)
        })?;
        if tables != self.tables {
            return Err(Error::IntegrityCheck {
                what: self.target.display().to_string(),
                detail: format!(
                    "after the restore, {}",
                    first_count_difference(&self.tables, &tables)
                ),
            });
        }
        // The old content is gone: the restore's safety backup is what keeps it.
        Ok(None)
    }
}
