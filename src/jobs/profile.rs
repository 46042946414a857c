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
use std::path::{Path, PathBuf};

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

/// A password on its way to the secret store; never printed (its Debug says "***").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// What is wrong with a profile, by field (the Settings form's keys: `name`, `database`, `host`, `port`, `user`,
/// `dbname`, `sslmode`, `files`, `exclude`, `storage`, and the policy's numbers by their config key): the one
/// validation that `profile add`/`edit` and the window's Settings both use. A storage folder that does not exist
/// yet is not a problem: saving the profile creates it.
///
/// It is [`typed_problems`] and the disk's answers of [`ProfilePaths::problems`], in field order; the window asks
/// the two apart, the disk off its drawing thread.
pub fn profile_problems(profile: &Profile) -> Vec<(&'static str, String)> {
    let mut out = typed_problems(profile);
    out.extend(ProfilePaths::of(profile).problems());
    // Field order, as the form shows them (a stable sort: each field's own problems keep their order).
    const ORDER: [&str; 11] = [
        "name", "policy", "database", "host", "port", "user", "dbname", "sslmode", "files",
        "exclude", "storage",
    ];
    out.sort_by_key(|(field, _)| ORDER.iter().position(|f| f == field).unwrap_or(ORDER.len()));
    out
}

/// What is wrong with a profile as written, without looking at the disk: cheap enough for every frame.
pub fn typed_problems(profile: &Profile) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Err(e) = crate::config::validate_profile_name(&profile.name) {
        out.push(("name", e.to_string()));
    }
    out.extend(profile.policy.problems().into_iter().map(|p| ("policy", p)));
    out.extend(profile.database.problems());
    if let Some(files) = &profile.files_dir
        && !files.is_absolute()
    {
        out.push(("files", "use an absolute folder path".into()));
    }
    if let Err(e) = files::Excludes::new(&profile.exclude) {
        out.push(("exclude", e.to_string()));
    }
    let storage = &profile.storage_dir;
    if !storage.is_absolute() {
        out.push(("storage", "use an absolute folder path".into()));
    } else if let Some(files) = &profile.files_dir
        && storage.starts_with(files)
    {
        out.push(("storage", storage_inside_files(storage, files)));
    }
    out
}

fn storage_inside_files(storage: &Path, files: &Path) -> String {
    format!(
        "the storage folder {} is inside the files folder {}: every backup would hold the ones before it; choose a storage folder outside it",
        storage.display(),
        files.display()
    )
}

/// The paths of a profile that only the disk can judge: whether the database file and the files folder exist,
/// whether the storage folder (through links) lies inside the files folder, whether it takes a new file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfilePaths {
    /// The database file (file engines).
    pub database: Option<PathBuf>,
    /// The files folder.
    pub files: Option<PathBuf>,
    /// The storage folder.
    pub storage: PathBuf,
}

impl ProfilePaths {
    /// The paths of `profile`.
    pub fn of(profile: &Profile) -> ProfilePaths {
        ProfilePaths {
            database: profile.database.file().map(Path::to_path_buf),
            files: profile.files_dir.clone(),
            storage: profile.storage_dir.clone(),
        }
    }

    /// What the disk says is wrong, by field. Reads the disk and creates (and removes) a probe file in the storage
    /// folder: may take as long as the slowest drive named; never call it while drawing. Paths that are not
    /// absolute are left to [`typed_problems`].
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(path) = self.database.as_deref().filter(|p| p.is_absolute()) {
            if path.is_dir() {
                out.push(("database", "this is a folder, not a database file".into()));
            } else if !path.is_file() {
                out.push(("database", "file does not exist".into()));
            }
        }
        let files = self.files.as_deref().filter(|f| f.is_absolute());
        if let Some(files) = files
            && !files.is_dir()
        {
            out.push((
                "files",
                format!("files folder {} does not exist", files.display()),
            ));
        }
        let storage = &self.storage;
        if !storage.is_absolute() {
            return out;
        }
        if let Some(files) = files
            && !storage.starts_with(files)
        {
            let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            if canon(storage).starts_with(canon(files)) {
                out.push(("storage", storage_inside_files(storage, files)));
            }
        }
        if storage.is_dir()
            && let Err(e) = fsutil::check_writable_dir_quietly(storage)
        {
            out.push(("storage", e.to_string()));
        }
        out
    }
}

/// Checks a profile before it is saved ([`profile_problems`]), and creates its storage folder (only adding or editing a
/// profile may: a scheduled backup never creates a missing storage folder, which is how an unmounted drive looks).
pub fn prepare_profile(profile: &Profile) -> Result<()> {
    if let Some((field, problem)) = profile_problems(profile).into_iter().next() {
        // A connection field's problem names its config key (which is also its `profile add` flag).
        return Err(Error::Usage(match field {
            "database" | "host" | "user" | "dbname" | "sslmode" => format!("{field}: {problem}"),
            _ => problem,
        }));
    }
    if !profile.storage_dir.exists() {
        fsutil::create_private_dir(&profile.storage_dir)?;
    }
    fsutil::check_writable_dir(&profile.storage_dir)
}

/// Adds a profile: checked, its storage folder created, its password (if `password` gives one; asked only once
/// the profile passed its checks, so a typo never costs a prompt) stored before the config says it has one.
/// Refused when the name is taken.
pub fn add_profile(
    paths: &Paths,
    mut profile: Profile,
    password: impl FnOnce() -> Result<Option<Password>>,
) -> Result<()> {
    let (mut config, _config_lock) = Config::load_for_update(&paths.config_file)?;
    if config.profiles.iter().any(|p| p.name == profile.name) {
        return Err(Error::Usage(format!(
            "a profile named '{0}' already exists; use `backstop profile edit {0}` or choose another name",
            profile.name
        )));
    }
    prepare_profile(&profile)?;
    if let Some(password) = password()? {
        store_password(paths, &mut profile, &password)?;
    }
    config.profiles.push(profile);
    config.save(&paths.config_file)
}

/// Saves a changed profile under its current name (renaming is [`rename_profile`]): checked like a new one; a
/// new password is stored first; a password whose store changed moves (it must be given again), and the copy left
/// in the old store is deleted once the config no longer points at it. Returns warnings for people.
pub fn save_profile(
    paths: &Paths,
    mut profile: Profile,
    password: impl FnOnce() -> Result<Option<Password>>,
) -> Result<Vec<String>> {
    let (mut config, _config_lock) = Config::load_for_update(&paths.config_file)?;
    let old = config.profile(&profile.name)?.clone();
    prepare_profile(&profile)?;
    let password = password()?;
    let old_store = secret_store_of(&old);
    let had_password = old.database.server().is_some_and(|s| s.has_password);
    if let Some(server) = profile.database.server_mut() {
        // The stored-password flag is the store's, never the caller's.
        server.has_password = had_password && old_store == Some(server.secret_store);
        if had_password && old_store != Some(server.secret_store) && password.is_none() {
            return Err(Error::Usage(
                "moving the password to another store needs it again: give the password (--password-stdin)"
                    .into(),
            ));
        }
    }
    if let Some(password) = &password {
        store_password(paths, &mut profile, password)?;
    }
    let left_behind = old_store.filter(|store| secret_store_of(&profile) != Some(*store));
    if let Some(slot) = config.profiles.iter_mut().find(|p| p.name == profile.name) {
        *slot = profile.clone();
    }
    config.save(&paths.config_file)?;
    let mut warnings = Vec::new();
    if let Some(store) = left_behind
        && let Err(e) =
            crate::secrets::Secrets::new(paths.secrets_dir()).delete(&profile.name, store)
    {
        warnings.push(format!(
            "the profile was saved, but the old copy of its password in the {store} store could not be deleted: {e}"
        ));
    }
    Ok(warnings)
}

/// Stores a saved profile's password (in the store its config names) and marks the profile as having one.
pub fn set_password(paths: &Paths, name: &str, password: &Password) -> Result<()> {
    let (mut config, _config_lock) = Config::load_for_update(&paths.config_file)?;
    let mut profile = config.profile(name)?.clone();
    store_password(paths, &mut profile, password)?;
    if let Some(slot) = config.profiles.iter_mut().find(|p| p.name == name) {
        *slot = profile;
    }
    config.save(&paths.config_file)
}

/// Puts a password in the profile's store and marks its config as having one (not yet saved).
fn store_password(paths: &Paths, profile: &mut Profile, password: &Password) -> Result<()> {
    let name = profile.name.clone();
    let Some(server) = profile.database.server_mut() else {
        return Err(Error::Usage(format!(
            "profile {name} reaches its database without a password (it is a {} file)",
            crate::engine::family(profile.database.engine()).label()
        )));
    };
    if password.0.is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    crate::secrets::Secrets::new(paths.secrets_dir()).set(
        &name,
        server.secret_store,
        &password.0,
    )?;
    server.has_password = true;
    Ok(())
}

/// Connects to a profile's database with its saved settings and stored password; returns what it reached, for
/// people ("PostgreSQL database shop on 127.0.0.1:5432 (7.9 MiB)"). Its errors say what to fix.
pub fn test_connection(ctx: &Context, name: &str) -> Result<String> {
    let profile = ctx.config.profile(name)?.clone();
    let engine = engine_for(ctx, &profile)?;
    engine.preflight()?;
    let size = engine
        .size_bytes()
        .map(crate::progress::human_size)
        .unwrap_or_else(|_| "size unknown".into());
    Ok(format!("{} ({size})", engine.describe()))
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
            encryption: None,
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
    profile
        .database
        .server()
        .filter(|cfg| cfg.has_password || cfg.secret_store == crate::secrets::SecretStore::File)
        .map(|cfg| cfg.secret_store)
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
