//! The privilege boundary around an imported dump.
//!
//! A dump from elsewhere is a program: whatever the plain-SQL check lets through, and whatever a custom, tar or
//! directory dump's entries hold, runs on the profile's server. So it never runs as the profile's role. For each
//! import a throwaway role is created (`NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`, member of
//! nothing) that owns only the staging database; psql or pg_restore log in *as that role* on their own
//! connection, so `RESET ROLE`, `SET ROLE` or `SET SESSION AUTHORIZATION` in the dump have nowhere to go. Its
//! password is random, lives in a 0600 passfile for the load only, and reaches the server as a SCRAM verifier,
//! inside a statement sent by the client over its connection (never on a command line).
//!
//! A plain SQL file is loaded by `psql`, the one place Backstop still runs it: a dump's `COPY ... FROM stdin`
//! data blocks and the meta-commands the checker lets through (`\restrict`, `\unrestrict`) are psql's language,
//! which no client library speaks, and psql runs as the throwaway role with `ON_ERROR_STOP`, so that the file
//! can do no more than that role may. Custom, tar and directory dumps go to `pg_restore`.
//! Afterwards the profile's role takes the objects over (`REASSIGN OWNED`), backs the staging database up with
//! `row_security = off` (so no policy function of the dump runs as the profile's role), and drops the staging
//! database and the role. A crash leaves both registered for the next start (see `scratch`).

use super::scram;
use super::scratch::Registration;
use super::tools::{error_line, status_text};
use super::{PostgresEngine, quote_ident, quote_literal};
use crate::archive::{ArchiveWriter, DatabaseInfo};
use crate::engine::{Engine, safe_name};
use crate::error::{Error, Result};
use crate::progress::JobControl;
use std::path::Path;
use std::process::Stdio;

/// The throwaway role and its staging database (same name), dropped when this goes out of scope.
struct ImportScratch<'e> {
    admin: &'e PostgresEngine,
    name: String,
    role_created: bool,
    registration: Option<Registration>,
}

impl Drop for ImportScratch<'_> {
    fn drop(&mut self) {
        let quoted = quote_ident(&self.name);
        let Ok(mut session) = self.admin.connect(self.admin.maintenance_db()) else {
            return;
        };
        let db_gone = session
            .batch(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .is_ok();
        let role_gone = !self.role_created
            || session
                .batch(&format!("DROP ROLE IF EXISTS {quoted}"))
                .is_ok();
        if db_gone
            && role_gone
            && let Some(registration) = self.registration.take()
        {
            registration.dropped();
        }
    }
}

impl PostgresEngine {
    /// Loads an untrusted dump into a new staging database behind the privilege boundary (module doc), then
    /// backs the staging database up into `writer`. `plain`: a plain SQL file already checked and filtered by
    /// [`crate::engine::pgsql_check::filter_plain_sql`], run by `psql -X -v ON_ERROR_STOP=1 -f`; otherwise
    /// anything pg_restore reads (a custom or tar file, or a directory dump), restored with `--no-owner
    /// --no-privileges`. The live database is only read (its encoding and locale, for the staging database).
    pub fn import_dump(
        &self,
        dump: &Path,
        plain: bool,
        writer: &mut ArchiveWriter,
        job: &JobControl,
    ) -> Result<DatabaseInfo> {
        let tools = self.tools()?;
        let live = self.recorded_settings_of(&self.cfg.dbname)?;
        let name = self.new_scratch_name("import");
        let registration = self.register_scratch(&name)?;
        let mut scratch = ImportScratch {
            admin: self,
            name: name.clone(),
            role_created: false,
            registration: Some(registration),
        };
        job.stage("creating an import role and a staging database", None);
        let password = hex::encode(scram::random_bytes(32)?);
        let verifier = scram::verifier(&password, &scram::random_bytes(16)?);
        let valid_until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let maintenance = self.maintenance_db();
        let role = quote_ident(&name);
        let mut admin = self.connect(maintenance)?;
        // Sent over the client's connection: the verifier never shows on a command line.
        admin
            .batch(&format!(
                "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS \
                 PASSWORD {} VALID UNTIL {}",
                quote_literal(&verifier),
                quote_literal(&valid_until)
            ))
            .map_err(|e| self.missing_right(e, "CREATEROLE", "create roles", "an import's throwaway role"))?;
        scratch.role_created = true;
        // The profile's role must be able to act for the throwaway one (to create its database and take its
        // objects over afterwards); the reverse never holds.
        admin.batch(&format!("GRANT {role} TO CURRENT_USER"))?;
        let create = create_database_sql(&name, live.as_ref(), Some(&name));
        admin
            .batch(&create)
            .or_else(|e| match (&live, &e) {
                // The live database's locale may not exist for template0 here: the server's defaults do.
                (Some(_), Error::ServerError { .. }) => {
                    admin.batch(&create_database_sql(&name, None, Some(&name)))
                }
                _ => Err(e),
            })
            .map_err(|e| {
                self.missing_right(
                    e,
                    "CREATEDB",
                    "create databases",
                    "an import's staging copy",
                )
            })?;

        job.stage("loading the dump as the import role", None);
        let mut role_cfg = self.cfg.clone();
        role_cfg.user = name.clone();
        role_cfg.dbname = name.clone();
        role_cfg.has_password = true;
        let loader = PostgresEngine::new(role_cfg, Some(password), self.scratch.clone());
        let _ = loader.tools.set(tools.clone());
        loader.load_as_role(dump, plain, job)?;
        job.check()?;

        job.stage("taking the staging database over", None);
        // The role may not log in again; the profile's role owns what the dump made, so that the backup below
        // does not name a role that is about to be dropped.
        let mut admin = self.connect(maintenance)?;
        admin.batch(&format!("ALTER ROLE {role} NOLOGIN"))?;
        admin.rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&name],
        )?;
        self.execute(&name, &format!("REASSIGN OWNED BY {role} TO CURRENT_USER"))?;
        admin.batch(&format!("ALTER DATABASE {role} OWNER TO CURRENT_USER"))?;
        drop(admin);
        let mut staged_cfg = self.cfg.clone();
        staged_cfg.dbname = name.clone();
        let staged = PostgresEngine::new(staged_cfg, self.password.clone(), self.scratch.clone());
        let _ = staged.tools.set(tools);
        let mut info = staged.backup(writer, &self.scratch, job)?;
        info.name = safe_name(&self.cfg.dbname);
        if let Some(live) = live {
            info.postgres = Some(live);
        }
        drop(scratch);
        Ok(info)
    }

    /// Runs the dump with psql or pg_restore logged in as this engine's (throwaway) role, after a client login
    /// as that role has shown that the server lets it in.
    fn load_as_role(&self, dump: &Path, plain: bool, job: &JobControl) -> Result<()> {
        let dbname = self.cfg.dbname.clone();
        match self.connect(&dbname) {
            Err(e @ (Error::AuthFailed { .. } | Error::AccessDenied { .. })) => {
                return Err(Error::Usage(format!(
                    "the server at {} does not let Backstop's throwaway import role log in ({e}); imported dumps \
                     run as that role, never as the profile's. Allow it in pg_hba.conf, for example with a line \
                     `host sameuser all 127.0.0.1/32 scram-sha-256` above the others (the role and its staging \
                     database share a name), and reload the server",
                    self.server(),
                )));
            }
            other => drop(other?),
        }
        let tools = self.tools()?;
        let passfile = self.passfile()?;
        let mut cmd = if plain {
            let mut cmd = self.command(&tools.psql, &dbname, &passfile);
            // An ASCII-safe client encoding keeps psql reading the file the way the checker did.
            cmd.env("PGCLIENTENCODING", "UTF8")
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(dump);
            cmd
        } else {
            let mut cmd = self.command(&tools.pg_restore, &dbname, &passfile);
            cmd.args([
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                "--dbname",
                &dbname,
            ])
            .arg(dump);
            cmd
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let tool = if plain { "psql" } else { "pg_restore" };
        job.check()?;
        let output = cmd.output().map_err(|e| Error::ToolMissing {
            tool: tool.into(),
            hint: e.to_string(),
        })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(Error::ToolFailed {
            tool: tool.into(),
            detail: format!(
                "the dump does not load: {} ({})",
                error_line(&stderr),
                status_text(&output.status)
            ),
        })
    }

    /// A permission error while creating a scratch object, worded as the right the profile's role lacks.
    pub(super) fn missing_right(&self, e: Error, right: &str, verb: &str, what: &str) -> Error {
        match e {
            Error::PrivilegeMissing {
                server,
                user,
                detail,
                ..
            } => Error::PrivilegeMissing {
                fix: format!(
                    "it may not {verb}, which {what} needs; grant it with `ALTER ROLE {} {right}`",
                    quote_ident(&user)
                ),
                server,
                user,
                detail,
            },
            other => other,
        }
    }
}

/// `CREATE DATABASE` for a staging (or re-created) database: with the recorded encoding and locale from
/// template0 when there is a record, else with the server's defaults.
pub(super) fn create_database_sql(
    name: &str,
    recorded: Option<&crate::archive::PgDatabaseSettings>,
    owner: Option<&str>,
) -> String {
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if let Some(owner) = owner {
        sql.push_str(&format!(" OWNER {}", quote_ident(owner)));
    }
    if let Some(r) = recorded {
        sql.push_str(&format!(
            " TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_literal(&r.encoding),
            quote_literal(&r.lc_collate),
            quote_literal(&r.lc_ctype)
        ));
        match (r.locale_provider.as_deref(), r.icu_locale.as_deref()) {
            (Some("icu"), Some(locale)) => sql.push_str(&format!(
                " LOCALE_PROVIDER icu ICU_LOCALE {}",
                quote_literal(locale)
            )),
            (Some("builtin"), Some(locale)) => sql.push_str(&format!(
                " LOCALE_PROVIDER builtin BUILTIN_LOCALE {}",
                quote_literal(locale)
            )),
            _ => {}
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::PgDatabaseSettings;

    #[test]
    fn create_database_statements() {
        assert_eq!(
            create_database_sql("a\"b", None, None),
            "CREATE DATABASE \"a\"\"b\""
        );
        let recorded = PgDatabaseSettings {
            owner: "app".into(),
            encoding: "LATIN1".into(),
            lc_collate: "C".into(),
            lc_ctype: "C".into(),
            locale_provider: Some("icu".into()),
            icu_locale: Some("de-DE".into()),
            settings: vec![],
        };
        assert_eq!(
            create_database_sql("x", Some(&recorded), Some("r")),
            "CREATE DATABASE \"x\" OWNER \"r\" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' \
             LOCALE_PROVIDER icu ICU_LOCALE 'de-DE'"
        );
    }
}
