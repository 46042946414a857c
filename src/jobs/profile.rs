//! Profiles: checking one before it is saved, the demo, removing and renaming, and where passwords live.

use super::context::Context;
use super::manage::delete_files_of;
use crate::catalog::Catalog;
use crate::config::{Config, Paths, Profile};
use crate::engine;
use crate::error::{Error, IoContext, Result};
use crate::files;
use crate::fsutil;
use crate::lock::ProfileLock;
use std::path::Path;

/// The engine of a profile's database, with its password (if it has one) read from where it is stored.
pub fn engine_for(ctx: &Context, profile: &Profile) -> Result<Box<dyn engine::Engine>> {
    let password = match profile.database.server() {
        Some(cfg) if cfg.has_password => Some(read_password(ctx, profile, cfg)?),
        _ => None,
    };
    Ok(engine::open(
        &profile.database,
        &engine::EngineEnv {
            settings: ctx.config.settings.clone(),
            scratch: ctx.paths.state_dir.join("tmp"),
            password,
        },
    ))
}

/// Checks a profile before it is saved, and creates its storage folder (only adding or editing a profile may:
/// a scheduled backup never creates a missing storage folder, which is how an unmounted drive looks).
pub fn prepare_profile(profile: &Profile) -> Result<()> {
    crate::config::validate_profile_name(&profile.name)?;
    if let Some(problem) = profile.problems().first() {
        return Err(Error::Usage(problem.clone()));
    }
    if let Some(files) = &profile.files_dir
        && !files.is_dir()
    {
        return Err(Error::Usage(format!(
            "files folder {} does not exist",
            files.display()
        )));
    }
    files::Excludes::new(&profile.exclude)?;
    if let Some(files) = &profile.files_dir {
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        if profile.storage_dir.starts_with(files)
            || canon(&profile.storage_dir).starts_with(canon(files))
        {
            return Err(Error::Usage(format!(
                "the storage folder {} is inside the files folder {}: every backup would hold the ones before it; choose a storage folder outside it",
                profile.storage_dir.display(),
                files.display()
            )));
        }
    }
    if !profile.storage_dir.exists() {
        fsutil::create_private_dir(&profile.storage_dir)?;
    }
    fsutil::check_writable_dir(&profile.storage_dir)
}

/// Makes the sample database and the `demo` profile if they are missing; returns what it did, for people.
pub fn ensure_demo(paths: &Paths) -> Result<Vec<String>> {
    paths.ensure()?;
    let mut done = Vec::new();
    let (mut config, _config_lock) = Config::load_for_update(&paths.config_file)?;
    let demo_dir = fsutil::parent_of(&paths.state_dir).join("demo");
    let db = demo_dir.join("shop.sqlite3");
    if !db.exists() {
        fsutil::create_private_dir(&demo_dir)?;
        crate::demo::make_sample_database(&db, 20_000)
            .map_err(|e| Error::sqlite("cannot create the demo database", e))?;
        done.push(format!("created a sample database: {}", db.display()));
    }
    let media = demo_dir.join("media");
    if !media.exists() {
        crate::demo::make_sample_media(&media)
            .ctx("cannot create the demo media folder", &media)?;
        done.push(format!(
            "created a sample files folder: {}",
            media.display()
        ));
    }
    if !config.profiles.iter().any(|p| p.name == "demo") {
        let profile = Profile {
            name: "demo".into(),
            database: crate::config::DatabaseConfig::Sqlite { path: db },
            files_dir: Some(media),
            exclude: vec!["cache/**".into()],
            default_kind: None,
            storage_dir: paths.default_storage("demo"),
            policy: crate::model::Policy::default(),
        };
        prepare_profile(&profile)?;
        config.profiles.push(profile);
        config.save(&paths.config_file)?;
        done.push(format!(
            "created profile demo (config: {})",
            paths.config_file.display()
        ));
    }
    Ok(done)
}

/// Removes a profile from the config, and its stored password; its archives stay unless `delete_archives`.
/// Returns archives deleted.
pub fn remove_profile(paths: &Paths, name: &str, delete_archives: bool) -> Result<usize> {
    let (mut config, config_lock) = Config::load_for_update(&paths.config_file)?;
    let profile = config.profile(name)?.clone();
    let _lock = ProfileLock::acquire(paths, name)?;
    // The password goes first: if it cannot (a locked keyring), nothing is removed and nothing is left behind.
    let secrets = crate::secrets::Secrets::new(paths.secrets_dir());
    let deleted = match secret_store_of(&profile) {
        Some(store) => {
            let password = secrets.get(name, store).ok();
            secrets
                .delete(name, store)
                .map_err(|e| secret_not_followed(name, ("removed", "deleted"), e))?;
            password.map(|password| (store, password))
        }
        None => None,
    };
    config.profiles.retain(|p| p.name != name);
    if let Err(e) = config.save(&paths.config_file) {
        if let Some((store, password)) = deleted {
            let _ = secrets.set(name, store, &password);
        }
        return Err(e);
    }
    drop(config_lock);
    let mut removed = 0;
    if delete_archives {
        let catalog = Catalog::open(&paths.catalog_file)?;
        for row in catalog.list(Some(name), false)? {
            delete_files_of(&catalog, &row, "profile removed with its archives")?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Renames a profile in the config and in the catalog. Archives keep their file names and their manifests the old
/// name; a catalog rebuild assigns the archives in a profile's storage folder to that profile.
pub fn rename_profile(ctx: &mut Context, old: &str, new: &str) -> Result<()> {
    crate::config::validate_profile_name(new)?;
    if ctx.config.profiles.iter().any(|p| p.name == new) {
        return Err(Error::Usage(format!(
            "a profile named '{new}' already exists"
        )));
    }
    let _old_lock = ProfileLock::acquire(&ctx.paths, old)?;
    let _new_lock = ProfileLock::acquire(&ctx.paths, new)?;
    // Read, change and write the config under its lock (another process may have changed it since `ctx` read it).
    let (mut config, config_lock) = Config::load_for_update(&ctx.paths.config_file)?;
    if config.profiles.iter().any(|p| p.name == new) {
        return Err(Error::Usage(format!(
            "a profile named '{new}' already exists"
        )));
    }
    let Some(profile) = config.profiles.iter_mut().find(|p| p.name == old) else {
        return Err(config.profile(old).err().unwrap_or(Error::NoProfiles));
    };
    profile.name = new.to_string();
    // The password moves first: if it cannot (a locked keyring), nothing is renamed and nothing is stranded.
    let store = secret_store_of(profile);
    let secrets = crate::secrets::Secrets::new(ctx.paths.secrets_dir());
    if let Some(store) = store {
        secrets
            .rename(old, new, store)
            .map_err(|e| secret_not_followed(old, ("renamed", "moved"), e))?;
    }
    let renamed = ctx
        .catalog
        .rename_profile(old, new)
        .and_then(|()| config.save(&ctx.paths.config_file))
        .map(|()| ctx.config = config);
    drop(config_lock);
    if renamed.is_err()
        && let Some(store) = store
    {
        let _ = secrets.rename(new, old, store);
    }
    renamed
}

/// Where a profile's password is kept, when it may have one: a server profile with a stored password, or whose
/// store is a file (a stale file is cleaned up too; a keyring without a password is never asked).
pub(crate) fn secret_store_of(profile: &Profile) -> Option<crate::secrets::SecretStore> {
    match profile.database.server() {
        Some(cfg) if cfg.has_password || cfg.secret_store == crate::secrets::SecretStore::File => {
            Some(cfg.secret_store)
        }
        _ => None,
    }
}

/// A profile change refused because its password could not follow it (`change` the profile's, `follow` the
/// password's: "renamed" and "moved", "removed" and "deleted").
fn secret_not_followed(
    profile: &str,
    (change, follow): (&str, &str),
    e: crate::secrets::SecretError,
) -> Error {
    Error::Usage(format!(
        "profile {profile} was not {change}: its stored password could not be {follow}: {e}"
    ))
}

/// A profile's stored password (keyring, or the 0600 file the user chose); never prompts.
pub(crate) fn read_password(
    ctx: &Context,
    profile: &Profile,
    cfg: &crate::config::ServerConfig,
) -> Result<String> {
    use crate::secrets::SecretError;
    crate::secrets::Secrets::new(ctx.paths.secrets_dir())
        .get(&profile.name, cfg.secret_store)
        .map_err(|e| match e {
            // The store itself failed while a job ran: the job failed (exit 1); the configuration is fine.
            SecretError::KeyringUnavailable(_)
            | SecretError::Keyring(_)
            | SecretError::Io { .. } => Error::JobFailed(e.to_string()),
            other => other.into(),
        })
}
