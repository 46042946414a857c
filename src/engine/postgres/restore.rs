//! A restore: the archive's dump restored by `pg_restore` into a staging database, checked against the manifest
//! (row counts, schema), then swapped in by renaming in one transaction, so that the target holds either the
//! whole new content or its old content (kept as `<db>_pre_restore_<stamp>`).

use super::tools::{ChildGuard, drain_stderr, error_line, status_text, unique};
use super::{PostgresEngine, import_boundary, quote_ident, scratch};
use crate::archive::{ArchiveReader, DatabaseInfo};
use crate::engine::{RestoreOptions, StagedRestore};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, TempGuard};
use crate::model::EngineKind;
use crate::progress::JobControl;
use std::process::Stdio;

impl PostgresEngine {
    /// Extracts the archive's dump, restores it into a new staging database and checks it; the live database
    /// is not touched.
    pub(super) fn stage(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>> {
        if info.engine != EngineKind::Postgres {
            return Err(Error::Usage(format!(
                "this archive holds a {} database; the profile's database is PostgreSQL",
                info.engine
            )));
        }
        let tools = self.tools()?;
        let target = options
            .target_database
            .clone()
            .unwrap_or_else(|| self.cfg.dbname.clone());
        let target_exists = self.database_exists(&target)?;
        if options.target_database.is_some() && target_exists {
            return Err(Error::Usage(format!(
                "database {target} already exists on {}; choose a new name for --to-database",
                self.server()
            )));
        }
        // pg_restore --jobs needs a seekable file: extract the dump first.
        if !self.scratch.is_dir() {
            fsutil::create_private_dir(&self.scratch)?;
        }
        let dump = TempGuard::new(self.scratch.join(format!(
            ".restore-{}-{}.dump{}",
            std::process::id(),
            unique(),
            fsutil::PARTIAL_SUFFIX
        )));
        let size = reader
            .manifest
            .entry(&info.entry)
            .map(|e| e.size)
            .unwrap_or(0);
        job.stage("extracting dump", Some(size));
        {
            let mut out = fsutil::create_private(dump.path())?;
            reader.extract_entry(&info.entry, &mut out, dump.path(), job, "extracting dump")?;
            out.sync_all().ctx("cannot sync", dump.path())?;
        }
        // A dump from a newer pg_dump than our pg_restore is refused before any database is touched.
        {
            let passfile = self.passfile()?;
            let mut cmd = self.command(&tools.pg_restore, &self.cfg.dbname, &passfile);
            cmd.arg("--list")
                .arg(dump.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let output = cmd.output().map_err(|e| Error::ToolMissing {
                tool: "pg_restore".into(),
                hint: e.to_string(),
            })?;
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let hint = if stderr.contains("unsupported version") {
                    format!(
                        "{}; this archive needs a newer pg_restore than {}",
                        error_line(&stderr),
                        tools.version
                    )
                } else {
                    error_line(&stderr)
                };
                return Err(Error::damaged(
                    reader.path(),
                    format!("the dump cannot be read by pg_restore: {hint}"),
                ));
            }
        }
        let staging = self.new_scratch_name("restore");
        // The owner and settings come from the live database when it is there, else from the manifest.
        let live_exists = if target == self.cfg.dbname {
            target_exists
        } else {
            self.database_exists(&self.cfg.dbname)?
        };
        let recorded = info.postgres.as_ref();
        let (carry, creation_note) = match (live_exists, recorded) {
            (true, _) => (Carry::Live, None),
            (false, Some(recorded)) => {
                let (sql, note) = self.recorded_carry_over_sql(recorded, &staging)?;
                (Carry::Recorded(sql), note)
            }
            (false, None) => (
                Carry::Nothing,
                Some(format!(
                    "the backup recorded no owner or settings (an older backup), so it gets the server's defaults and {} owns it",
                    self.cfg.user
                )),
            ),
        };
        let registration = self.register_scratch(&staging)?;
        job.stage("creating staging database", None);
        let maintenance = self.maintenance_db();
        let create = |recorded| import_boundary::create_database_sql(&staging, recorded, None);
        self.execute(maintenance, &create(recorded))
            .or_else(|e| match (recorded, &e) {
                // A locale this server lacks: its defaults.
                (Some(_), Error::ServerError { .. }) => self.execute(maintenance, &create(None)),
                _ => Err(e),
            })
            .map_err(|e| {
                self.missing_right(
                    e,
                    "CREATEDB",
                    "create databases",
                    "a safe restore (a staging copy)",
                )
            })?;
        let mut staged = PgStaged {
            engine: PostgresEngine::new(
                self.cfg.clone(),
                self.password.clone(),
                self.scratch.clone(),
            ),
            staging: Some(staging.clone()),
            registration: Some(registration),
            target,
            creates: (!target_exists).then(|| match creation_note {
                Some(note) => format!("missing: the restore creates it; {note}"),
                None => "missing: the restore creates it".to_string(),
            }),
            carry,
            terminate_sessions: options.terminate_sessions,
            validate_only: options.validate_only,
        };
        job.stage("restoring into staging database", None);
        let jobs = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(2);
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_restore, &staging, &passfile);
        // Owners and grants come back as they were (a role missing on this server fails the restore in staging,
        // with pg_restore's message; the live database is not touched).
        cmd.args([
            "--exit-on-error",
            &format!("--jobs={jobs}"),
            "--dbname",
            &staging,
        ])
        .arg(dump.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "pg_restore".into(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        // Wait, checking cancel: a cancelled restore ends pg_restore and drops the staging database.
        loop {
            match guard.child().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) => break,
                Some(Ok(None)) => {
                    if job.cancel.is_cancelled() {
                        drop(guard);
                        return Err(Error::Cancelled);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => break,
            }
        }
        let status = guard.wait().map_err(|e| Error::ToolFailed {
            tool: "pg_restore".into(),
            detail: e.to_string(),
        })?;
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        if !status.success() {
            return Err(Error::ToolFailed {
                tool: "pg_restore".into(),
                detail: format!(
                    "restoring into a staging database failed, the live database was not touched: {} ({})",
                    error_line(&stderr_text),
                    status_text(&status)
                ),
            });
        }
        job.stage("checking staging database", None);
        let counts = self.table_counts_in(&staging)?;
        if counts != info.tables {
            let detail = crate::engine::sqlite::first_count_difference(&info.tables, &counts);
            return Err(Error::damaged(
                reader.path(),
                format!("the restored copy's row counts differ from the manifest: {detail}"),
            ));
        }
        let schema = self.schema_hash(&staging, None)?;
        if schema != info.schema_sha256 {
            return Err(Error::damaged(
                reader.path(),
                "the restored copy's schema differs from the one recorded at backup time",
            ));
        }
        if options.validate_only {
            staged.drop_staging();
        }
        Ok(Box::new(staged))
    }
}

/// Where a restored database's owner and settings come from.
enum Carry {
    /// The profile's live database.
    Live,
    /// The manifest's record (the live database is gone): SQL for the staging database.
    Recorded(String),
    /// Neither (an older backup of a database that is gone).
    Nothing,
}

/// A checked staging database, waiting to be renamed into place. Dropping it drops the staging database.
struct PgStaged {
    engine: PostgresEngine,
    staging: Option<String>,
    registration: Option<scratch::Registration>,
    target: String,
    /// Set when the target does not exist: what the user is told about its creation.
    creates: Option<String>,
    carry: Carry,
    terminate_sessions: bool,
    validate_only: bool,
}

impl PgStaged {
    fn drop_staging(&mut self) {
        if let Some(staging) = self.staging.take() {
            self.engine.drop_scratch(&staging, self.registration.take());
        }
    }
}

impl Drop for PgStaged {
    fn drop(&mut self) {
        self.drop_staging();
    }
}

impl StagedRestore for PgStaged {
    fn describe(&self) -> String {
        match &self.creates {
            Some(note) => format!(
                "PostgreSQL database {} on {} ({note})",
                self.target,
                self.engine.server()
            ),
            None => format!(
                "PostgreSQL database {} on {}",
                self.target,
                self.engine.server()
            ),
        }
    }

    fn apply(mut self: Box<Self>, job: &JobControl) -> Result<Option<String>> {
        job.check()?;
        if self.validate_only {
            return Ok(None);
        }
        let Some(staging) = self.staging.clone() else {
            return Err(Error::JobFailed(
                "internal: the staging database is gone".into(),
            ));
        };
        let engine = &self.engine;
        let maintenance = engine.maintenance_db();
        let target = self.target.clone();
        job.stage("swapping databases", None);
        let exists = engine.database_exists(&target)?;
        let old_name = engine.free_copy_name(&target)?;
        // The database's own owner and settings (ALTER DATABASE ... SET) carry over to the restored one: from
        // the live database, or from the manifest when it is gone.
        let carry = match &self.carry {
            Carry::Live => engine.carry_over_sql(&engine.cfg.dbname, &staging)?,
            Carry::Recorded(sql) => sql.clone(),
            Carry::Nothing => String::new(),
        };
        let mut admin = engine.connect(maintenance)?;
        if !carry.is_empty() {
            admin.batch(&carry)?;
        }
        if exists {
            let others: i64 = admin
                .value(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&target],
                )?
                .unwrap_or(0);
            if others > 0 && !self.terminate_sessions {
                return Err(Error::JobFailed(format!(
                    "{others} other session(s) are connected to {target}; close them (stop the application) or allow ending them with --terminate-sessions; nothing was changed"
                )));
            }
            if others > 0 {
                admin.batch(&format!(
                    "ALTER DATABASE {} ALLOW_CONNECTIONS false",
                    quote_ident(&target)
                ))?;
                admin.rows(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&target],
                )?;
            }
            let swap = format!(
                "BEGIN; ALTER DATABASE {t} RENAME TO {o}; ALTER DATABASE {s} RENAME TO {t}; COMMIT;",
                t = quote_ident(&target),
                o = quote_ident(&old_name),
                s = quote_ident(&staging)
            );
            let result = admin.batch(&swap);
            if others > 0 {
                let name = if result.is_ok() { &old_name } else { &target };
                // A failed swap left the session in an aborted transaction: end it before the repair.
                let _ = admin.batch("ROLLBACK");
                let _ = admin.batch(&format!(
                    "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                    quote_ident(name)
                ));
            }
            result?;
        } else {
            admin.batch(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&staging),
                quote_ident(&target)
            ))?;
        }
        self.staging = None;
        if let Some(registration) = self.registration.take() {
            registration.dropped();
        }
        Ok(exists.then_some(old_name))
    }
}
