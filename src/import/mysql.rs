//! MySQL's and MariaDB's own format: a `mysqldump`/`mariadb-dump` SQL file (plain or gzipped, with or without
//! `--databases`), checked statement by statement first (`engine::mysql::import_check`: client commands, file
//! loads and other databases refused), then loaded into a staging database on the profile's server by a throwaway
//! user that can reach nothing else (`engine::mysql::import_boundary`), and archived from there like any backup.

use super::Source;
use super::dates::created_time_of;
use super::postgres::private_tmp;
use super::staging::{Staging, Stored};
use crate::config::{DatabaseConfig, ServerConfig};
use crate::engine::mysql::{MysqlEngine, import_check};
use crate::error::{IoContext, Result};
use crate::model::{EngineKind, Kind};
use crate::progress::JobControl;

/// A MySQL/MariaDB dump, named `what` in messages: decompressed into a private scratch file, checked and
/// filtered into another, loaded behind the privilege boundary, then backed up from the staging database. What
/// the check left out or changed is noted.
pub(super) fn import_dump(source: &Source, what: &str, job: &JobControl) -> Result<Stored> {
    let cfg = server_config(source, what)?;
    let created_at = created_time_of(source.file, source.name);
    let tmp = private_tmp(source.ctx)?;
    let staged = source.unpack(&tmp, job)?;

    job.stage("checking SQL", None);
    let (filtered, checked) = source.check_sql(&tmp, staged.path(), |input, output| {
        import_check::filter_dump(input, output).ctx("cannot check", staged.path())
    })?;
    drop(staged);

    let password = if cfg.has_password {
        Some(crate::jobs::read_password(source.ctx, source.profile, cfg)?)
    } else {
        None
    };
    let engine = MysqlEngine::new(cfg.clone(), password, tmp);
    let mut staging = Staging::new(source, created_at)?;
    let charset = checked
        .charset
        .clone()
        .map(|charset| (charset, checked.collation.clone()));
    let database = engine
        .import_dump(filtered.path(), charset, &mut staging.writer, job)
        .map_err(|e| source.load_error(e))?;
    let mut stored = staging.finish(source, Kind::Database, Some(database), job)?;
    stored.notes.extend(checked.note());
    Ok(stored)
}

/// The profile's MySQL/MariaDB settings; a profile of another engine gets the one engine refusal.
fn server_config<'p>(source: &Source<'p>, format: &str) -> Result<&'p ServerConfig> {
    match &source.profile.database {
        DatabaseConfig::Mysql(cfg) => Ok(cfg),
        _ => Err(source.other_engine(format, Some(EngineKind::Mysql))),
    }
}
