//! `backstop profile ...`: add, edit, test, list, rename and remove profiles.

use super::args::{ProfileCommand, absolute};
use super::output;
use super::print::print_json;
use super::run::open_context;
use crate::config::{Config, DatabaseConfig, Paths, Profile, validate_profile_name};
use crate::error::{Error, Result};
use crate::jobs;
use crate::model::Policy;
use crate::progress::human_size;

pub(super) fn profile_command(cmd: ProfileCommand) -> Result<i32> {
    let paths = Paths::from_env()?;
    paths.ensure()?;
    let (mut config, config_lock) = Config::load_for_update(&paths.config_file)?;
    match cmd {
        ProfileCommand::Add {
            name,
            sqlite,
            postgres: _,
            connection,
            fields,
        } => {
            validate_profile_name(&name)?;
            if config.profiles.iter().any(|p| p.name == name) {
                return Err(Error::Usage(format!(
                    "a profile named '{name}' already exists; use `backstop profile edit {name}`"
                )));
            }
            let mut policy = Policy::default();
            fields.apply(&mut policy)?;
            let storage = absolute(
                fields
                    .storage
                    .clone()
                    .unwrap_or_else(|| paths.default_storage(&name)),
            )?;
            let database = match sqlite {
                Some(path) => DatabaseConfig::Sqlite {
                    path: absolute(path)?,
                },
                None => {
                    let mut cfg = crate::config::ServerConfig {
                        host: "127.0.0.1".into(),
                        port: 5432,
                        user: String::new(),
                        dbname: String::new(),
                        sslmode: "prefer".into(),
                        has_password: false,
                        secret_store: connection.secret_store()?,
                    };
                    connection.apply(&mut cfg)?;
                    if cfg.user.is_empty() || cfg.dbname.is_empty() {
                        return Err(Error::Usage(
                            "a PostgreSQL profile needs --user and --dbname".into(),
                        ));
                    }
                    connection.store_password(&paths, &name, &mut cfg)?;
                    DatabaseConfig::Postgres(cfg)
                }
            };
            let mut profile = Profile {
                name: name.clone(),
                database,
                files_dir: None,
                exclude: Vec::new(),
                default_kind: None,
                storage_dir: storage,
                policy,
            };
            fields.apply_files(&mut profile)?;
            jobs::prepare_profile(&profile)?;
            config.profiles.push(profile.clone());
            config.save(&paths.config_file)?;
            println!(
                "profile {name} added: {} -> {}",
                profile.database.describe(),
                profile.storage_dir.display()
            );
            Ok(0)
        }
        ProfileCommand::Edit {
            name,
            sqlite,
            connection,
            fields,
        } => {
            let mut profile = config.profile(&name)?.clone();
            fields.apply(&mut profile.policy)?;
            // A password moved to another store, or whose server settings went, leaves no copy behind (deleted
            // once the config no longer points at it).
            let mut left_behind = None;
            if let Some(path) = sqlite {
                left_behind = jobs::secret_store_of(&profile);
                profile.database = DatabaseConfig::Sqlite {
                    path: absolute(path)?,
                };
            }
            match &mut profile.database {
                DatabaseConfig::Postgres(cfg) | DatabaseConfig::Mysql(cfg) => {
                    let old_store = cfg.secret_store;
                    connection.apply(cfg)?;
                    if cfg.secret_store != old_store
                        && cfg.has_password
                        && !connection.password_stdin
                    {
                        return Err(Error::Usage(
                            "moving the password to another store needs it again: add --password-stdin".into(),
                        ));
                    }
                    let had_password = cfg.has_password;
                    connection.store_password(&paths, &name, cfg)?;
                    if had_password && cfg.secret_store != old_store {
                        left_behind = Some(old_store);
                    }
                }
                DatabaseConfig::Sqlite { .. } => {
                    if connection.host.is_some()
                        || connection.user.is_some()
                        || connection.dbname.is_some()
                        || connection.password_stdin
                    {
                        return Err(Error::Usage(format!(
                            "profile {name} is a SQLite profile: connection flags do not apply"
                        )));
                    }
                }
            }
            fields.apply_files(&mut profile)?;
            if let Some(storage) = &fields.storage {
                profile.storage_dir = absolute(storage.clone())?;
            }
            jobs::prepare_profile(&profile)?;
            if let Some(slot) = config.profiles.iter_mut().find(|p| p.name == name) {
                *slot = profile;
            }
            config.save(&paths.config_file)?;
            if let Some(store) = left_behind
                && let Err(e) =
                    crate::secrets::Secrets::new(paths.secrets_dir()).delete(&name, store)
            {
                eprintln!(
                    "warning: the profile was saved, but the old copy of its password in the {store} store could not be deleted: {e}"
                );
            }
            println!("profile {name} saved");
            Ok(0)
        }
        ProfileCommand::Test { name } => {
            // Reaching a server may take long: other processes may change the config meanwhile.
            drop(config_lock);
            let ctx = open_context()?;
            let profile = ctx.config.profile(&name)?.clone();
            let engine = jobs::engine_for(&ctx, &profile)?;
            engine.preflight()?;
            let size = engine
                .size_bytes()
                .map(human_size)
                .unwrap_or_else(|_| "unknown size".into());
            println!("ok: {} is reachable ({size})", engine.describe());
            Ok(0)
        }
        ProfileCommand::List { json } => {
            if json {
                print_json(&config.profiles)?;
            } else if config.profiles.is_empty() {
                println!("no profiles yet; add one with `backstop profile add NAME --sqlite PATH`");
            } else {
                for p in &config.profiles {
                    let files = match &p.files_dir {
                        Some(dir) if p.exclude.is_empty() => format!("; files {}", dir.display()),
                        Some(dir) => format!(
                            "; files {} (excluding {})",
                            dir.display(),
                            p.exclude.join(", ")
                        ),
                        None => String::new(),
                    };
                    println!(
                        "{}: {}{files}; {} backups; archives in {}; keep {} (max {} days); automatic {}",
                        p.name,
                        p.database.describe(),
                        p.default_kind(),
                        p.storage_dir.display(),
                        p.policy.keep_last,
                        p.policy.max_age_days,
                        if p.policy.auto_enabled {
                            format!("every {} h", p.policy.auto_interval_hours)
                        } else {
                            "off".into()
                        }
                    );
                }
            }
            Ok(0)
        }
        ProfileCommand::Rename { old, new } => {
            // `rename_profile` reads, changes and writes the config under the same lock.
            drop(config_lock);
            let mut ctx = open_context()?;
            jobs::rename_profile(&mut ctx, &old, &new)?;
            println!("profile {old} renamed to {new}");
            Ok(0)
        }
        ProfileCommand::Remove {
            name,
            delete_archives,
        } => {
            let profile = config.profile(&name)?.clone();
            // `remove_profile` reads, changes and writes the config under the same lock.
            drop(config_lock);
            let removed = jobs::remove_profile(&paths, &name, delete_archives)?;
            if delete_archives {
                println!("profile {name} removed, with {removed} archive(s)");
            } else {
                println!(
                    "profile {name} removed; its archives stay in {}",
                    profile.storage_dir.display()
                );
            }
            Ok(0)
        }
    }
}
