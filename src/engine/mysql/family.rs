//! MySQL's and MariaDB's facts: a server reached with the client's settings, restored with the `mariadb` client.

use crate::engine::{Connection, Family, ServerFacts};
use crate::model::EngineKind;
use std::path::Path;

/// The MySQL/MariaDB engine family.
pub struct MysqlFamily;

impl Family for MysqlFamily {
    fn kind(&self) -> EngineKind {
        EngineKind::Mysql
    }

    fn label(&self) -> &'static str {
        "MySQL/MariaDB"
    }

    fn connection(&self) -> Connection {
        Connection::Server(ServerFacts {
            default_port: 3306,
            // The profile's `sslmode` words, shared with PostgreSQL; `client.rs` and the option file map them to
            // the client's own (`ssl-mode`, `--ssl`, `--ssl-verify-server-cert`).
            tls_modes: crate::engine::postgres::SSL_MODES,
            default_tls: "prefer",
            tls_label: "SSL mode",
            user_noun: "user",
        })
    }

    fn readme_steps(&self, entry: &str, tool: Option<&str>) -> String {
        let tool = tool.unwrap_or("mariadb-dump");
        format!(
            "3. The database is a mariadb-dump/mysqldump SQL file: restored/{entry}\n\
             \x20  Load it into a new database (the live one stays as it is):\n\
             \x20                        mariadb -e 'CREATE DATABASE newdb' && mariadb newdb < restored/{entry}\n\
             \x20  (made by: {tool})\n"
        )
    }

    fn scratch_pending(&self, tmp: &Path) -> bool {
        super::scratch_pending(tmp)
    }

    fn secret_file_prefix(&self) -> Option<&'static str> {
        Some(super::OPTION_FILE_PREFIX)
    }
}
