//! What a MySQL/MariaDB database's schema is, read from `information_schema`: the hash recorded in the manifest and
//! compared after a restore, the tables and their row counts, and the definitions of views, triggers, routines
//! and events that the swap recreates (from `SHOW CREATE …`).

use super::client::{Client, quote_ident, quote_literal};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;

/// Table types that hold rows (MariaDB's system-versioned tables too); views and sequences are not counted.
const ROW_TABLES: &str = "TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')";

/// The queries whose rows make up the schema text; `{s}` is the schema as a literal. Names are ordered bytewise;
/// nothing that changes by itself (AUTO_INCREMENT, sizes, times) or names a user (DEFINER) is read.
const SCHEMA_QUERIES: &[(&str, &str)] = &[
    (
        "tables",
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, TABLE_COMMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = {s} ORDER BY BINARY TABLE_NAME",
    ),
    (
        "columns",
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, COLUMN_TYPE, \
         CHARACTER_SET_NAME, COLLATION_NAME, EXTRA, GENERATION_EXPRESSION, COLUMN_COMMENT \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {s} ORDER BY BINARY TABLE_NAME, ORDINAL_POSITION",
    ),
    (
        "indexes",
        "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, INDEX_TYPE, SUB_PART, COLLATION \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {s} \
         ORDER BY BINARY TABLE_NAME, BINARY INDEX_NAME, SEQ_IN_INDEX",
    ),
    (
        "foreign keys",
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION, k.COLUMN_NAME, \
         IF(k.REFERENCED_TABLE_SCHEMA = {s}, '', k.REFERENCED_TABLE_SCHEMA), k.REFERENCED_TABLE_NAME, \
         k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         AND r.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = {s} AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY BINARY k.TABLE_NAME, BINARY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    ),
    (
        "checks",
        "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = {s} ORDER BY BINARY CONSTRAINT_NAME, BINARY CHECK_CLAUSE",
    ),
    (
        "views",
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE FROM information_schema.VIEWS \
         WHERE TABLE_SCHEMA = {s} ORDER BY BINARY TABLE_NAME",
    ),
    (
        "routines",
        "SELECT ROUTINE_TYPE, ROUTINE_NAME, DTD_IDENTIFIER, ROUTINE_DEFINITION, IS_DETERMINISTIC, \
         SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE, ROUTINE_COMMENT FROM information_schema.ROUTINES \
         WHERE ROUTINE_SCHEMA = {s} ORDER BY ROUTINE_TYPE, BINARY ROUTINE_NAME",
    ),
    (
        "parameters",
        "SELECT ROUTINE_TYPE, SPECIFIC_NAME, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER \
         FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = {s} \
         ORDER BY ROUTINE_TYPE, BINARY SPECIFIC_NAME, ORDINAL_POSITION",
    ),
    (
        "triggers",
        "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER, \
         ACTION_STATEMENT, SQL_MODE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {s} \
         ORDER BY BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
    ),
    (
        "events",
        "SELECT EVENT_NAME, EVENT_DEFINITION, EVENT_TYPE, INTERVAL_VALUE, INTERVAL_FIELD, ON_COMPLETION, \
         SQL_MODE, EVENT_COMMENT FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {s} \
         ORDER BY BINARY EVENT_NAME",
    ),
];

/// The schema text of database `db`: every query's rows, fields separated by tabs, with the database's own name
/// taken out of view definitions (a restored copy has another name while it is checked).
pub(super) fn schema_text(client: &mut Client, db: &str) -> Result<String> {
    let literal = quote_literal(db);
    let own = format!("{}.", quote_ident(db));
    let mut text = String::new();
    for (section, query) in SCHEMA_QUERIES {
        text.push_str(&format!("## {section}\n"));
        for row in client.rows(&query.replace("{s}", &literal))? {
            let fields: Vec<String> = row
                .into_iter()
                .map(|f| f.map_or("\\N".to_string(), |v| v.replace(&own, "")))
                .collect();
            text.push_str(&fields.join("\t"));
            text.push('\n');
        }
    }
    Ok(text)
}

/// SHA-256 of [`schema_text`].
pub(super) fn schema_hash(client: &mut Client, db: &str) -> Result<String> {
    let text = schema_text(client, db)?;
    Ok(hex::encode(sha2::Sha256::digest(text.as_bytes())))
}

/// The tables that hold rows, by name.
pub(super) fn row_tables(client: &mut Client, db: &str) -> Result<Vec<String>> {
    client.column(&format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND {ROW_TABLES} \
         ORDER BY BINARY TABLE_NAME",
        quote_literal(db)
    ))
}

/// Every table-like object a RENAME TABLE moves (tables and sequences, not views).
pub(super) fn movable_tables(client: &mut Client, db: &str) -> Result<Vec<String>> {
    client.column(&format!(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_TYPE <> 'VIEW' \
         ORDER BY BINARY TABLE_NAME",
        quote_literal(db)
    ))
}

/// Each row table's count now.
pub(super) fn table_counts(client: &mut Client, db: &str) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for table in row_tables(client, db)? {
        let n = client.number(&format!(
            "SELECT COUNT(*) FROM {}.{}",
            quote_ident(db),
            quote_ident(&table)
        ))?;
        counts.insert(table, n);
    }
    Ok(counts)
}

/// Tables whose engine is not transactional (`--single-transaction` does not make them consistent).
pub(super) fn non_innodb_tables(client: &mut Client, db: &str) -> Result<Vec<(String, String)>> {
    Ok(client
        .rows(&format!(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND {ROW_TABLES} \
             AND ENGINE NOT IN ('InnoDB', 'XtraDB') ORDER BY BINARY TABLE_NAME",
            quote_literal(db)
        ))?
        .into_iter()
        .map(|r| {
            let mut r = r.into_iter().map(Option::unwrap_or_default);
            (r.next().unwrap_or_default(), r.next().unwrap_or_default())
        })
        .collect())
}

/// A database's default character set and collation.
pub(super) fn charset_of(client: &mut Client, db: &str) -> Result<Option<(String, String)>> {
    let rows = client.rows(&format!(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME = {}",
        quote_literal(db)
    ))?;
    Ok(rows.into_iter().next().map(|r| {
        let mut r = r.into_iter().map(Option::unwrap_or_default);
        (r.next().unwrap_or_default(), r.next().unwrap_or_default())
    }))
}

/// Whether database `db` exists.
pub(super) fn database_exists(client: &mut Client, db: &str) -> Result<bool> {
    Ok(client
        .value(&format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            quote_literal(db)
        ))?
        .is_some())
}

/// A kind of object that lives in a database but is not a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ObjectKind {
    /// A view.
    View,
    /// A trigger.
    Trigger,
    /// A stored procedure.
    Procedure,
    /// A stored function.
    Function,
    /// An event.
    Event,
}

impl ObjectKind {
    fn keyword(self) -> &'static str {
        match self {
            ObjectKind::View => "VIEW",
            ObjectKind::Trigger => "TRIGGER",
            ObjectKind::Procedure => "PROCEDURE",
            ObjectKind::Function => "FUNCTION",
            ObjectKind::Event => "EVENT",
        }
    }
}

/// One object's definition as `SHOW CREATE …` gave it, with the session settings it was created under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Definition {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// The CREATE statement.
    pub sql: String,
    /// Its sql_mode (views: none recorded).
    pub sql_mode: Option<String>,
    /// Its time zone (events).
    pub time_zone: Option<String>,
    /// Its collation_connection.
    pub collation: Option<String>,
}

/// Every view, trigger (in firing order), routine and event of `db`, as CREATE statements.
pub(super) fn definitions(client: &mut Client, db: &str) -> Result<Vec<Definition>> {
    let lit = quote_literal(db);
    let listings = [
        (
            ObjectKind::Procedure,
            format!(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {lit} AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY BINARY ROUTINE_NAME"
            ),
        ),
        (
            ObjectKind::Function,
            format!(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {lit} AND ROUTINE_TYPE = 'FUNCTION' ORDER BY BINARY ROUTINE_NAME"
            ),
        ),
        (
            ObjectKind::View,
            format!(
                "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {lit} ORDER BY BINARY TABLE_NAME"
            ),
        ),
        (
            ObjectKind::Trigger,
            format!(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {lit} \
                 ORDER BY BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER"
            ),
        ),
        (
            ObjectKind::Event,
            format!(
                "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {lit} ORDER BY BINARY EVENT_NAME"
            ),
        ),
    ];
    let mut out = Vec::new();
    for (kind, listing) in listings {
        for name in client.column(&listing)? {
            let row = client
                .rows(&format!(
                    "SHOW CREATE {} {}.{}",
                    kind.keyword(),
                    quote_ident(db),
                    quote_ident(&name)
                ))?
                .into_iter()
                .next()
                .unwrap_or_default();
            let field = |i: usize| row.get(i).cloned().flatten();
            // Column positions of SHOW CREATE VIEW / TRIGGER / PROCEDURE / FUNCTION / EVENT.
            let (sql, sql_mode, time_zone, collation) = match kind {
                ObjectKind::View => (field(1), None, None, field(3)),
                ObjectKind::Event => (field(3), field(1), field(2), field(5)),
                _ => (field(2), field(1), None, field(4)),
            };
            let Some(sql) = sql else {
                return Err(crate::error::Error::JobFailed(format!(
                    "the server did not show the definition of {} {name} in {db} (the account needs the privilege to see it); nothing was changed",
                    kind.keyword().to_lowercase()
                )));
            };
            out.push(Definition {
                kind,
                name,
                sql,
                sql_mode,
                time_zone,
                collation,
            });
        }
    }
    Ok(out)
}

/// Drops `def`'s object from `db` if it is there.
pub(super) fn drop_object(
    client: &mut Client,
    db: &str,
    kind: ObjectKind,
    name: &str,
) -> Result<()> {
    client.exec(&format!(
        "DROP {} IF EXISTS {}.{}",
        kind.keyword(),
        quote_ident(db),
        quote_ident(name)
    ))
}

/// Creates `def` in `db` (replacing an object of the same name), with its own sql_mode, time zone and collation;
/// a view's references to `from` (the database it was read from) become references to `db`.
pub(super) fn create_object(
    client: &mut Client,
    db: &str,
    from: &str,
    def: &Definition,
) -> Result<()> {
    let saved = client.value("SELECT CONCAT_WS('|', @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.collation_connection)")?
        .unwrap_or_default();
    let sql = match def.kind {
        ObjectKind::View => def.sql.replace(
            &format!("{}.", quote_ident(from)),
            &format!("{}.", quote_ident(db)),
        ),
        _ => def.sql.clone(),
    };
    let mut setup = format!("USE {};", quote_ident(db));
    if let Some(mode) = &def.sql_mode {
        setup.push_str(&format!("SET SESSION sql_mode = {};", quote_literal(mode)));
    }
    if let Some(tz) = &def.time_zone {
        setup.push_str(&format!("SET SESSION time_zone = {};", quote_literal(tz)));
    }
    if let Some(collation) = &def.collation {
        setup.push_str(&format!(
            "SET SESSION collation_connection = {};",
            quote_literal(collation)
        ));
    }
    let result = client
        .exec(&setup)
        .and_then(|_| drop_object(client, db, def.kind, &def.name))
        .and_then(|_| client.exec(&sql));
    let mut parts = saved.splitn(3, '|');
    let (mode, tz, coll) = (parts.next(), parts.next(), parts.next());
    let restore = format!(
        "SET SESSION sql_mode = {}; SET SESSION time_zone = {}; SET SESSION collation_connection = {}",
        quote_literal(mode.unwrap_or("")),
        quote_literal(tz.unwrap_or("SYSTEM")),
        quote_literal(coll.unwrap_or("utf8mb4_general_ci"))
    );
    let restored = client.exec(&restore);
    result.and(restored)
}
