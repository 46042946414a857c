//! A backup: one exported snapshot, held open by a client session in a repeatable-read transaction, that the row
//! counts, the schema hash (`pg_dump --schema-only --snapshot`) and the dump itself (`pg_dump -Fc --snapshot`,
//! streamed into the archive) all read from.

use super::client::Session;
use super::tools::{ChildGuard, drain_stderr};
use super::{PostgresEngine, TABLES_SQL, quote_ident, quote_qualified, recorded, safe_name};
use crate::archive::{ArchiveWriter, DatabaseInfo};
use crate::error::{Error, Result};
use crate::model::EngineKind;
use crate::progress::JobControl;
use std::process::Stdio;

/// Tables and sequences pg_dump must read that this role may not (`SELECT` is what `COPY` and `LOCK TABLE`
/// need), schema-qualified.
const UNREADABLE_SQL: &str = "SELECT n.nspname || '.' || c.relname FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'S') \
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
     AND n.nspname NOT LIKE 'pg_temp%' AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1";

/// Schemas this role may not look into (`USAGE`).
const CLOSED_SCHEMAS_SQL: &str = "SELECT nspname::text FROM pg_namespace WHERE nspname NOT IN \
     ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%' \
     AND NOT has_schema_privilege(oid, 'USAGE') ORDER BY 1";

impl PostgresEngine {
    /// Writes a consistent dump of the profile's database into the archive (see the module doc).
    pub(super) fn backup_into(
        &self,
        writer: &mut ArchiveWriter,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        let tools = self.tools()?;
        job.stage("opening a snapshot", None);
        let mut session = self.connect(&self.cfg.dbname)?;
        session.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        let snapshot: String = session
            .value("SELECT pg_export_snapshot()", &[])?
            .unwrap_or_default();
        let version: String = session
            .value("SELECT current_setting('server_version')", &[])?
            .unwrap_or_default();
        let size: i64 = session
            .value("SELECT pg_database_size(current_database())", &[])?
            .unwrap_or(0);
        let size = u64::try_from(size).unwrap_or(0);
        self.check_readable(&mut session)?;
        let tables: Vec<String> = session.column(TABLES_SQL, &[])?;
        let counts = session
            .named_numbers(&Self::counts_sql(&tables), &[])?
            .into_iter()
            .collect();
        let settings: Option<String> = session.value(
            &format!("{}current_database()", recorded::SETTINGS_SQL),
            &[],
        )?;
        let database_settings = recorded::parse_settings(settings.as_deref().unwrap_or(""))?;
        let schema_sha256 = self.schema_hash(&self.cfg.dbname, Some(&snapshot))?;

        job.stage("dumping database", Some(size));
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_dump, &self.cfg.dbname, &passfile);
        cmd.args([
            "--format=custom",
            "--compress=0",
            &format!("--snapshot={snapshot}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::ToolMissing {
            tool: "pg_dump".into(),
            hint: e.to_string(),
        })?;
        let mut guard = ChildGuard(Some(child));
        let stderr = guard.child().and_then(drain_stderr);
        let Some(mut stdout) = guard.child().and_then(|c| c.stdout.take()) else {
            return Err(Error::ToolFailed {
                tool: "pg_dump".into(),
                detail: "no output pipe".into(),
            });
        };
        let name = safe_name(&self.cfg.dbname);
        let entry = format!("database/{name}.dump");
        let copied = writer.add_stream(&entry, &mut stdout, size, job, "dumping database");
        drop(stdout);
        let status = guard.wait().map_err(|e| Error::ToolFailed {
            tool: "pg_dump".into(),
            detail: e.to_string(),
        })?;
        let stderr_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        // pg_dump took the snapshot over when it started; the session only ends the transaction now.
        let _ = session.batch("ROLLBACK");
        drop(session);
        let copied = copied?;
        if !status.success() {
            return Err(self.tool_failed("pg_dump", &stderr_text, &status));
        }
        if copied.bytes == 0 {
            return Err(Error::ToolFailed {
                tool: "pg_dump".into(),
                detail: "the dump is empty".into(),
            });
        }
        Ok(DatabaseInfo {
            engine: EngineKind::Postgres,
            engine_version: version,
            name,
            entry,
            size_bytes: size,
            tables: counts,
            schema_sha256,
            tool_version: Some(tools.version.clone()),
            postgres: database_settings,
        })
    }

    /// Refuses a backup that pg_dump could only half read: names each schema, table and sequence this role may
    /// not read, and the grant that fixes it.
    fn check_readable(&self, session: &mut Session) -> Result<()> {
        let user = quote_ident(&self.cfg.user);
        let schemas: Vec<String> = session.column(CLOSED_SCHEMAS_SQL, &[])?;
        if !schemas.is_empty() {
            let quoted: Vec<String> = schemas.iter().map(|s| quote_ident(s)).collect();
            return Err(Error::PrivilegeMissing {
                server: self.server(),
                user: self.cfg.user.clone(),
                detail: format!(
                    "it may not use schema {} of {}, which a backup reads whole",
                    schemas.join(", "),
                    self.cfg.dbname
                ),
                fix: format!(
                    "grant it with `GRANT USAGE ON SCHEMA {} TO {user}` (and SELECT on its tables), or back up \
                     as the database's owner",
                    quoted.join(", ")
                ),
            });
        }
        let tables: Vec<String> = session.column(UNREADABLE_SQL, &[])?;
        if tables.is_empty() {
            return Ok(());
        }
        let quoted: Vec<String> = tables.iter().map(|t| quote_qualified(t)).collect();
        Err(Error::PrivilegeMissing {
            server: self.server(),
            user: self.cfg.user.clone(),
            detail: format!(
                "it may not read {} {} of {}, which a backup reads whole",
                if tables.len() == 1 { "table" } else { "tables" },
                tables.join(", "),
                self.cfg.dbname
            ),
            fix: format!(
                "grant it with `GRANT SELECT ON {} TO {user}`, or back up as the database's owner",
                quoted.join(", ")
            ),
        })
    }

    /// `pg_dump --schema-only` text, without the random `\restrict` keys, hashed.
    pub(super) fn schema_hash(&self, dbname: &str, snapshot: Option<&str>) -> Result<String> {
        let tools = self.tools()?;
        let passfile = self.passfile()?;
        let mut cmd = self.command(&tools.pg_dump, dbname, &passfile);
        cmd.args(["--schema-only", "--no-owner", "--no-privileges"]);
        if let Some(snapshot) = snapshot {
            cmd.arg(format!("--snapshot={snapshot}"));
        }
        let output = cmd.output().map_err(|e| Error::ToolMissing {
            tool: "pg_dump".into(),
            hint: e.to_string(),
        })?;
        if !output.status.success() {
            return Err(self.tool_failed(
                "pg_dump",
                &String::from_utf8_lossy(&output.stderr),
                &output.status,
            ));
        }
        Ok(super::schema_text_hash(&String::from_utf8_lossy(
            &output.stdout,
        )))
    }
}
