//! PostgreSQL: `pg_dump -Fc` streamed into the archive, `pg_restore` into a staging database, checked, then swapped
//! in by rename. The connection-level work (preflight, versions, sizes, row counts, sessions, the exported
//! snapshot, staging databases, the import's role, the swap) goes through a typed client (`client`), whose
//! failures are typed errors from their SQLSTATE; `psql` runs only to load an imported plain SQL file.
//!
//! The password never appears in argv: the client sends it over the wire; the tools get a temporary 0600 passfile
//! through `PGPASSFILE` (removed when the job ends) and no `PGPASSWORD`. Row counts and the schema hash come from
//! the same snapshot as the dump (`pg_export_snapshot()` held open by a client session, `pg_dump --snapshot`).
//!
//! Files: `client` and `tls` (the connection), `tools` (finding and running the client tools), `backup`,
//! `restore`, `import_boundary` (imported dumps), `recorded` (a database's owner and settings), `scratch`
//! (staging databases and roles of interrupted jobs), `scram` (the import role's password verifier).

use super::{Engine, EngineDetails, RestoreOptions, StagedRestore, safe_name};
use crate::archive::{ArchiveReader, ArchiveWriter, DatabaseInfo};
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::model::EngineKind;
use crate::progress::JobControl;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod backup;
mod client;
mod family;
mod import_boundary;
mod recorded;
mod restore;
mod scram;
mod scratch;
mod tls;
mod tools;

pub use family::{PostgresFamily, SSL_MODES};
pub use scratch::{MARK as SCRATCH_MARK, parse_scratch_name, scratch_name, scratch_pending};
pub use tools::{TOOLS_ENV, Tools, choose_tools, parse_major, tool_dirs};

/// A PostgreSQL database reached through the client and the client tools.
pub struct PostgresEngine {
    cfg: ServerConfig,
    password: Option<String>,
    scratch: PathBuf,
    tools: OnceLock<Tools>,
    /// How long a connection waits for the server, in seconds (`PGCONNECT_TIMEOUT` for the tools).
    connect_timeout: u32,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("cfg", &self.cfg)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PostgresEngine {
    /// The engine for `cfg`; `scratch` holds temporary files (passfiles, dumps being restored).
    pub fn new(cfg: ServerConfig, password: Option<String>, scratch: PathBuf) -> Self {
        PostgresEngine {
            cfg,
            password,
            scratch,
            tools: OnceLock::new(),
            connect_timeout: 10,
        }
    }

    fn server(&self) -> String {
        format!("{}:{}", self.cfg.host, self.cfg.port)
    }

    /// A client session on database `dbname` of the profile's server.
    fn connect(&self, dbname: &str) -> Result<client::Session> {
        client::connect(
            &self.cfg,
            self.password.as_deref(),
            dbname,
            self.connect_timeout,
        )
    }

    /// Runs statements (no rows back) on `dbname` in a session of their own.
    fn execute(&self, dbname: &str, sql: &str) -> Result<()> {
        self.connect(dbname)?.batch(sql)
    }

    /// The maintenance database used to create, rename and drop databases.
    fn maintenance_db(&self) -> &'static str {
        "postgres"
    }

    fn counts_sql(tables: &[String]) -> String {
        if tables.is_empty() {
            return "SELECT 'none'::text, 0::bigint WHERE false".into();
        }
        tables
            .iter()
            .map(|t| {
                format!(
                    "SELECT {}::text, count(*) FROM {}",
                    quote_literal(t),
                    quote_qualified(t)
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }

    fn table_counts_in(&self, dbname: &str) -> Result<BTreeMap<String, u64>> {
        let mut session = self.connect(dbname)?;
        let tables: Vec<String> = session.column(TABLES_SQL, &[])?;
        Ok(session
            .named_numbers(&Self::counts_sql(&tables), &[])?
            .into_iter()
            .collect())
    }

    /// SQL that gives `to` the owner (when this role may grant it) and database-level settings of `from`.
    fn carry_over_sql(&self, from: &str, to: &str) -> Result<String> {
        let mut session = self.connect(self.maintenance_db())?;
        let mut sql = String::new();
        let owner = session.rows(
            "SELECT pg_get_userbyid(datdba)::text, pg_has_role(datdba, 'MEMBER') FROM pg_database WHERE datname = $1",
            &[&from],
        )?;
        if let Some(row) = owner.first() {
            let name: String = session.get(row, 0)?;
            let member: bool = session.get(row, 1)?;
            if member {
                sql.push_str(&format!(
                    "ALTER DATABASE {} OWNER TO {};",
                    quote_ident(to),
                    quote_ident(&name)
                ));
            }
        }
        let settings: Vec<String> = session.column(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE d.datname = $1 AND s.setrole = 0",
            &[&from],
        )?;
        sql.push_str(&recorded::settings_sql(to, &settings));
        Ok(sql)
    }

    fn database_exists(&self, name: &str) -> Result<bool> {
        let found: Option<i32> = self
            .connect(self.maintenance_db())?
            .value("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?;
        Ok(found.is_some())
    }

    /// A name for the copy a restore keeps of `target`, `<target>_pre_restore_<stamp>[_N]`, that no database has
    /// yet: a second restore (or a rollback) in the same second keeps its copy beside the first one's.
    fn free_copy_name(&self, target: &str) -> Result<String> {
        let stamp = chrono::Utc::now().format("%Y%m%d_%H%M%S");
        for n in 1..=100u32 {
            let suffix = match n {
                1 => format!("_pre_restore_{stamp}"),
                n => format!("_pre_restore_{stamp}_{n}"),
            };
            // The suffix is kept whole; a long database name gives way (names stop at 63 bytes).
            let name = truncate_to(target, 63 - suffix.len()) + &suffix;
            if !self.database_exists(&name)? {
                return Ok(name);
            }
        }
        Err(Error::JobFailed(format!(
            "every name for the copy of {target} kept by this restore is taken ({target}_pre_restore_{stamp}_…); \
             drop old copies and try again; nothing was changed"
        )))
    }
}

/// Ordinary and partitioned tables outside the system schemas, schema-qualified.
const TABLES_SQL: &str = "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1";

/// A SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL identifier.
pub fn quote_ident(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

fn quote_qualified(qualified: &str) -> String {
    match qualified.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(qualified),
    }
}

/// `name` cut to at most `max` bytes, at a character boundary.
fn truncate_to(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// SHA-256 of schema text with pg_dump's random `\restrict`/`\unrestrict` lines and comments removed.
pub fn schema_text_hash(text: &str) -> String {
    let mut hasher = sha2::Sha256::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("\\restrict")
            || trimmed.starts_with("\\unrestrict")
            || trimmed.starts_with("--")
            || trimmed.is_empty()
        {
            continue;
        }
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Largest tables (with indexes and TOAST), for the Statistics panel.
const LARGEST_SQL: &str = "SELECT n.nspname || '.' || c.relname, pg_total_relation_size(c.oid) FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') \
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
     ORDER BY 2 DESC, 1 LIMIT 5";

impl Engine for PostgresEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn describe(&self) -> String {
        format!(
            "PostgreSQL database {} on {}",
            self.cfg.dbname,
            self.server()
        )
    }

    fn describe_other(&self, database: &str) -> Option<String> {
        Some(format!(
            "a new PostgreSQL database {database} on {}",
            self.server()
        ))
    }

    fn clean_scratch(&self) -> Vec<String> {
        self.clean_leftovers()
    }

    fn preflight(&self) -> Result<()> {
        client::check_tls(&self.cfg)?;
        self.tools()?;
        self.connect(&self.cfg.dbname).map(|_| ())
    }

    fn size_bytes(&self) -> Result<u64> {
        let size: Option<i64> = self
            .connect(&self.cfg.dbname)?
            .value("SELECT pg_database_size(current_database())", &[])?;
        Ok(size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    fn table_counts(&self) -> Result<BTreeMap<String, u64>> {
        self.table_counts_in(&self.cfg.dbname)
    }

    fn details(&self) -> Result<EngineDetails> {
        let mut session = self.connect(&self.cfg.dbname)?;
        let version: Option<String> =
            session.value("SELECT current_setting('server_version')", &[])?;
        let size: Option<i64> =
            session.value("SELECT pg_database_size(current_database())", &[])?;
        let largest = session.named_numbers(LARGEST_SQL, &[])?;
        let prefix = format!("{}_pre_restore_", self.cfg.dbname);
        let copies = session.named_numbers(
            "SELECT datname::text, pg_database_size(oid) FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            &[&prefix],
        )?;
        let sessions: Option<i64> = session.value(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&self.cfg.dbname],
        )?;
        Ok(EngineDetails {
            server_version: version,
            database_size: size.and_then(|s| u64::try_from(s).ok()),
            largest_tables: largest,
            kept_copies: copies,
            other_sessions: sessions.and_then(|s| u64::try_from(s).ok()),
        })
    }

    fn drop_copy(&self, name: &str) -> Result<()> {
        let prefix = format!("{}_pre_restore_", self.cfg.dbname);
        if !name.starts_with(&prefix) {
            return Err(Error::Usage(format!(
                "{name} is not a copy kept by a restore of {}; refusing to drop it",
                self.cfg.dbname
            )));
        }
        self.execute(
            self.maintenance_db(),
            &format!("DROP DATABASE {}", quote_ident(name)),
        )
    }

    fn backup(
        &self,
        writer: &mut ArchiveWriter,
        _scratch: &Path,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        self.backup_into(writer, job)
    }

    fn stage_restore(
        &self,
        reader: &mut ArchiveReader,
        info: &DatabaseInfo,
        options: &RestoreOptions,
        job: &JobControl,
    ) -> Result<Box<dyn StagedRestore>> {
        self.stage(reader, info, options, job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let a = schema_text_hash(
            "\\restrict abc\nCREATE TABLE t (x int);\n-- comment\n\\unrestrict abc\n",
        );
        let b = schema_text_hash("\\restrict xyz\nCREATE TABLE t (x int);\n\\unrestrict xyz\n");
        assert_eq!(a, b, "random restrict keys do not change the schema hash");
        assert_eq!(truncate_to(&"x".repeat(80), 63).len(), 63);
    }
}
