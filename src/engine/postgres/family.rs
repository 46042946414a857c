//! PostgreSQL's facts: a server reached with libpq's settings, restored with `pg_restore`.

use crate::engine::{Connection, Family, ServerFacts};
use crate::model::EngineKind;
use std::path::Path;

/// libpq's SSL modes, the values `sslmode` may take.
pub const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The PostgreSQL engine family.
pub struct PostgresFamily;

impl Family for PostgresFamily {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn label(&self) -> &'static str {
        "PostgreSQL"
    }

    fn connection(&self) -> Connection {
        Connection::Server(ServerFacts {
            default_port: 5432,
            tls_modes: SSL_MODES,
            default_tls: "prefer",
            tls_label: "SSL mode",
            user_noun: "role",
        })
    }

    fn readme_steps(&self, entry: &str, tool: Option<&str>) -> String {
        let tool = tool.unwrap_or("the pg_dump that made it");
        format!(
            "3. The database is a pg_dump custom-format dump: restored/{entry}\n\
             \x20  Restore it into a new database (the live one stays as it is):\n\
             \x20                        createdb newdb && pg_restore --no-owner --dbname newdb restored/{entry}\n\
             \x20  (pg_restore must be at least as new as: {tool})\n"
        )
    }

    fn scratch_pending(&self, tmp: &Path) -> bool {
        super::scratch_pending(tmp)
    }

    fn secret_file_prefix(&self) -> Option<&'static str> {
        Some(super::tools::PASSFILE_PREFIX)
    }
}
