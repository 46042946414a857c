//! `backstop profile ...`: add, edit, test, list, rename and remove profiles.

use super::args::{ProfileCommand, absolute};
use super::output;
use super::print::print_json;
use super::run::open_context;
use crate::config::{Config, DatabaseConfig, Location, Paths, Profile, ServerConfig};
use crate::engine::{self, Connection};
use crate::error::{Error, Result};
use crate::jobs;
use crate::model::{EngineKind, Policy};

pub(super) fn profile_command(cmd: ProfileCommand) -> Result<i32> {
    let paths = Paths::from_env()?;
    paths.ensure()?;
    let (config, config_lock) = Config::load_for_update(&paths.config_file)?;
    match cmd {
        ProfileCommand::Add {
            name,
            sqlite,
            postgres: _,
            mysql,
            connection,
            fields,
        } => {
            drop(config_lock);
            let kind = match (&sqlite, mysql) {
                (Some(_), _) => EngineKind::Sqlite,
                (None, true) => EngineKind::Mysql,
                (None, false) => EngineKind::Postgres,
            };
            let location = match engine::family(kind).connection() {
                Connection::File => Location::File(absolute(sqlite.unwrap_or_default())?),
                Connection::Server(facts) => {
                    let mut cfg = ServerConfig::new(&facts);
                    connection.apply(&mut cfg)?;
                    Location::Server(cfg)
                }
            };
            let Some(database) = DatabaseConfig::new(kind, location) else {
                return Err(Error::Usage(format!(
                    "a {} profile cannot be made from these flags",
                    engine::family(kind).label()
                )));
            };
            let mut policy = Policy::default();
            fields.apply(&mut policy)?;
            let storage = absolute(
                fields
                    .storage
                    .clone()
                    .unwrap_or_else(|| paths.default_storage(&name)),
            )?;
            let mut profile = Profile {
                name: name.clone(),
                database,
                files_dir: None,
                exclude: Vec::new(),
                default_kind: None,
                storage_dir: storage,
                policy,
                encryption: None,
            };
            fields.apply_files(&mut profile)?;
            jobs::add_profile(&paths, profile.clone(), || connection.password())?;
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
            mut connection,
            fields,
            encrypt,
        } => {
            drop(config_lock);
            // With an encryption flag, --secret-store says where the passphrase is kept.
            let change = encrypt.change()?;
            let passphrase_store = match &change {
                Some(_)
                    if connection.secret_store.is_some()
                        && config.profile(&name)?.database.server().is_none() =>
                {
                    let store = connection.secret_store()?;
                    connection.secret_store = None;
                    Some(store)
                }
                Some(_) => connection
                    .secret_store
                    .as_ref()
                    .map(|_| connection.secret_store())
                    .transpose()?,
                None => None,
            };
            let mut profile = config.profile(&name)?.clone();
            fields.apply(&mut profile.policy)?;
            if let Some(path) = sqlite {
                profile.database = DatabaseConfig::Sqlite {
                    path: absolute(path)?,
                };
            }
            match profile.database.server_mut() {
                Some(cfg) => connection.apply(cfg)?,
                None if connection.any() => {
                    return Err(Error::Usage(format!(
                        "profile {name} is a {} profile: connection flags do not apply",
                        profile.database.family().label()
                    )));
                }
                None => {}
            }
            fields.apply_files(&mut profile)?;
            if let Some(storage) = &fields.storage {
                profile.storage_dir = absolute(storage.clone())?;
            }
            for warning in jobs::save_profile(&paths, profile, || connection.password())? {
                eprintln!("warning: {warning}");
            }
            if let Some(change) = change {
                println!(
                    "{}",
                    jobs::set_encryption(
                        &paths,
                        &name,
                        change,
                        encrypt.encrypt_offsite_only,
                        passphrase_store
                    )?
                );
            }
            println!("profile {name} saved");
            Ok(0)
        }
        ProfileCommand::Test { name } => {
            // Reaching a server may take long: other processes may change the config meanwhile.
            drop(config_lock);
            let ctx = open_context()?;
            println!("ok: {} is reachable", jobs::test_connection(&ctx, &name)?);
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
