//! What a restore needs to re-create a missing database: its owner, encoding, locale and `ALTER DATABASE … SET`
//! settings, read from `pg_database` at backup time into the manifest (`DatabaseInfo::postgres`), and turned back
//! into SQL when the database is gone (dropped, or a new server). Manifests written before this have no record:
//! then the database is created with the server's defaults and owned by the connecting role.

use super::{PostgresEngine, quote_ident, quote_literal};
use crate::archive::PgDatabaseSettings;
use crate::error::{Error, Result};

/// One JSON object (as text) describing the database named after `WHERE d.datname = ` (pg_database columns moved
/// between versions, so the locale columns are read through `to_jsonb`).
pub(super) const SETTINGS_SQL: &str = "SELECT json_build_object('owner', pg_get_userbyid(d.datdba), \
     'encoding', pg_encoding_to_char(d.encoding), 'lc_collate', d.datcollate, 'lc_ctype', d.datctype, \
     'provider', to_jsonb(d)->>'datlocprovider', \
     'icu_locale', coalesce(to_jsonb(d)->>'datlocale', to_jsonb(d)->>'daticulocale'), \
     'settings', coalesce((SELECT to_json(s.setconfig) FROM pg_db_role_setting s \
     WHERE s.setdatabase = d.oid AND s.setrole = 0), '[]'::json))::text FROM pg_database d WHERE d.datname = ";

#[derive(serde::Deserialize)]
struct Raw {
    owner: String,
    encoding: String,
    lc_collate: String,
    lc_ctype: String,
    provider: Option<String>,
    icu_locale: Option<String>,
    #[serde(default)]
    settings: Vec<String>,
}

/// Reads [`SETTINGS_SQL`]'s output; `None` when the database was not found.
pub(super) fn parse_settings(text: &str) -> Result<Option<PgDatabaseSettings>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| Error::ServerError {
        server: "the server".into(),
        code: "-".into(),
        detail: format!("an unexpected database description ({e}): {text}"),
    })?;
    let locale_provider = match raw.provider.as_deref() {
        Some("i") => Some("icu".to_string()),
        Some("b") => Some("builtin".to_string()),
        Some("c") => Some("libc".to_string()),
        _ => None,
    };
    Ok(Some(PgDatabaseSettings {
        owner: raw.owner,
        encoding: raw.encoding,
        lc_collate: raw.lc_collate,
        lc_ctype: raw.lc_ctype,
        icu_locale: raw
            .icu_locale
            .filter(|_| locale_provider.as_deref() != Some("libc")),
        locale_provider,
        settings: raw.settings,
    }))
}

impl PostgresEngine {
    /// The owner, encoding, locale and settings of database `name` now (`None` if it does not exist).
    pub(super) fn recorded_settings_of(&self, name: &str) -> Result<Option<PgDatabaseSettings>> {
        let text: Option<String> = self
            .connect(self.maintenance_db())?
            .value(&format!("{SETTINGS_SQL}$1"), &[&name])?;
        parse_settings(text.as_deref().unwrap_or(""))
    }

    /// SQL giving database `to` the recorded owner (when that role exists here and this role may give it
    /// away) and settings, and a note for the user when the owner cannot be given.
    pub(super) fn recorded_carry_over_sql(
        &self,
        recorded: &PgDatabaseSettings,
        to: &str,
    ) -> Result<(String, Option<String>)> {
        let may: Option<bool> = self.connect(self.maintenance_db())?.value(
            "SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = $1",
            &[&recorded.owner],
        )?;
        let mut sql = String::new();
        let note = match may {
            Some(true) => {
                sql.push_str(&format!(
                    "ALTER DATABASE {} OWNER TO {};",
                    quote_ident(to),
                    quote_ident(&recorded.owner)
                ));
                None
            }
            None => Some(format!(
                "its owner {} does not exist on this server, so {} owns it",
                recorded.owner, self.cfg.user
            )),
            Some(false) => Some(format!(
                "{} may not give it to its owner {}, so {} owns it",
                self.cfg.user, recorded.owner, self.cfg.user
            )),
        };
        sql.push_str(&settings_sql(to, &recorded.settings));
        Ok((sql, note))
    }
}

/// `ALTER DATABASE to SET key = 'value'` for each `key=value` setting.
pub(super) fn settings_sql(to: &str, settings: &[String]) -> String {
    let mut sql = String::new();
    for line in settings.iter().filter(|l| !l.is_empty()) {
        if let Some((key, value)) = line.split_once('=') {
            sql.push_str(&format!(
                " ALTER DATABASE {} SET {} = {};",
                quote_ident(to),
                quote_ident(key),
                quote_literal(value)
            ));
        }
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_from_each_server_version_shape() {
        let v15 = r#"{"owner" : "app", "encoding" : "UTF8", "lc_collate" : "C.UTF-8", "lc_ctype" : "C.UTF-8", "provider" : "c", "icu_locale" : null, "settings" : ["work_mem=8MB"]}"#;
        let s = parse_settings(v15).unwrap().unwrap();
        assert_eq!(s.owner, "app");
        assert_eq!(s.locale_provider.as_deref(), Some("libc"));
        assert_eq!(s.icu_locale, None);
        assert_eq!(s.settings, vec!["work_mem=8MB".to_string()]);
        let v14 = r#"{"owner":"app","encoding":"LATIN1","lc_collate":"C","lc_ctype":"C","provider":null,"icu_locale":null,"settings":[]}"#;
        let s = parse_settings(v14).unwrap().unwrap();
        assert_eq!((s.encoding.as_str(), s.locale_provider), ("LATIN1", None));
        let icu = r#"{"owner":"a","encoding":"UTF8","lc_collate":"C","lc_ctype":"C","provider":"i","icu_locale":"de-DE","settings":[]}"#;
        let s = parse_settings(icu).unwrap().unwrap();
        assert_eq!(s.icu_locale.as_deref(), Some("de-DE"));
        assert_eq!(parse_settings("\n").unwrap(), None);
        assert!(parse_settings("garbage").is_err());
        assert_eq!(
            settings_sql("d", &["work_mem=8MB".into()]),
            " ALTER DATABASE \"d\" SET \"work_mem\" = '8MB';"
        );
    }
}
