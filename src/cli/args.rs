//! The clap types: the subcommands and the flag groups, with their small apply and validate helpers.

use crate::config::Profile;
use crate::error::{Error, Result};
use crate::model::{Kind, Policy};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Backstop: verified backups of SQLite databases, restored safely.
#[derive(Debug, Parser)]
#[command(
    name = "backstop",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "With no command, the Backstop window opens (or the one already open comes forward). \
                  `backstop FILE` offers FILE for import; `--hidden` starts in the tray where the desktop has one."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Start with the window hidden in the tray (where the desktop has a tray; otherwise the window shows).
    #[arg(long)]
    pub hidden: bool,
    /// A backup or dump to offer for import in the window.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, edit, list or remove profiles.
    #[command(subcommand)]
    Profile(Box<ProfileCommand>),
    /// Back up a profile now; prints the archive's path.
    Backup {
        /// The profile (may be left out when only one exists).
        #[arg(long)]
        profile: Option<String>,
        /// full, database or files (default: the profile's default kind: full when it has a files folder).
        #[arg(long)]
        kind: Option<Kind>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List backups, oldest first.
    List {
        /// Only this profile's backups.
        #[arg(long)]
        profile: Option<String>,
        /// Include deleted backups.
        #[arg(long)]
        all: bool,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Re-read archives and check every checksum.
    Verify {
        /// A backup id or an archive path.
        target: Option<String>,
        /// Verify every backup (of --profile, or of all profiles).
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// With --all: only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup (asks for the profile name unless --yes).
    Restore {
        /// A backup id or an archive path.
        source: String,
        /// The profile to restore into (default: the backup's).
        #[arg(long)]
        profile: Option<String>,
        /// Check everything, change nothing.
        #[arg(long)]
        validate_only: bool,
        /// Skip the safety backup of the current database.
        #[arg(long)]
        no_safety_backup: bool,
        /// Consent to replacing the database without being asked.
        #[arg(long)]
        yes: bool,
        /// Restore into this new database instead (PostgreSQL); the original stays untouched.
        #[arg(long, value_name = "NAME")]
        to_database: Option<String>,
        /// End other sessions connected to the target database before the swap (PostgreSQL).
        #[arg(long)]
        terminate_sessions: bool,
        /// Allow restoring a backup of one profile into the profile named by --profile (same engine only).
        #[arg(long)]
        allow_other_profile: bool,
        /// Restore only these entries or folders of the archive (`files/photos`, `photos/a.jpg`) into --to;
        /// nothing live is touched and no confirmation is needed.
        #[arg(long, value_name = "PATH", num_args = 1.., requires = "to")]
        only: Vec<String>,
        /// The folder --only restores into (created if missing; existing names in it are never overwritten).
        #[arg(long, value_name = "DIR", requires = "only")]
        to: Option<PathBuf>,
        /// Restore from this destination's copy (downloaded and checked first), also when the local archive is
        /// gone.
        #[arg(long, value_name = "DEST")]
        from: Option<String>,
        #[command(flatten)]
        unlock: UnlockFlags,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List an archive's entries and what its manifest records.
    Show {
        /// A backup id or an archive path.
        target: String,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two backups: entries added, removed and changed, database size and row counts.
    Diff {
        /// The older backup (id or path).
        before: String,
        /// The newer backup (id or path).
        after: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply the retention policy (or show it with --dry-run).
    Prune {
        /// The profile.
        #[arg(long)]
        profile: Option<String>,
        /// Show what would be deleted, and why, without deleting.
        #[arg(long)]
        dry_run: bool,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import archives or database files as `uploaded` backups.
    Import {
        /// Files to import, recognised by content: Backstop archives; SQLite files and SQL dumps; PostgreSQL
        /// dumps (custom, tar, directory and plain SQL); web-app backup zips and tar.gz; zips and tars of a media
        /// folder; django-dbbackup files; gzipped or not. A folder stands for the backup files in it (its
        /// django-dbbackup .metadata sidecars skipped), unless it is a pg_dump -Fd dump. A file already
        /// catalogued for the profile (same SHA-256) is reported as a duplicate, not added again.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The profile to import into.
        #[arg(long)]
        profile: Option<String>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy a backup's archive somewhere else (checked on the way).
    Export {
        /// The backup id.
        id: i64,
        /// Destination file or folder.
        #[arg(long)]
        to: PathBuf,
    },
    /// Delete a backup and its archive.
    Delete {
        /// The backup id.
        id: i64,
    },
    /// Keep a backup forever (retention never deletes it).
    Pin {
        /// The backup id.
        id: i64,
    },
    /// Let retention treat a backup normally again.
    Unpin {
        /// The backup id.
        id: i64,
    },
    /// Run every automatic backup that is due (for cron, systemd timers, Task Scheduler).
    RunDue {
        /// Print the outcomes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause automatic backups: neither the window nor `run-due` starts one until `backstop resume` (backups you
    /// ask for still run).
    Pause,
    /// Resume automatic backups after `backstop pause` (or the tray's Pause).
    Resume,
    /// Start at login and the system timer (Linux desktops), as the window's Settings set them.
    #[command(subcommand)]
    Background(BackgroundCommand),
    /// Statistics about a profile's backups.
    Stats {
        /// The profile.
        #[arg(long)]
        profile: Option<String>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The restore log and the job log.
    Log {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// How many jobs to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Catalog maintenance.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Destinations: copies of a profile's backups in another folder, S3-compatible storage, SFTP or WebDAV.
    #[command(subcommand)]
    Dest(super::dest::DestCommand),
    /// Make a sample database and a `demo` profile, back it up and list the backups.
    Demo,
    /// A profile's recovery sheet: where its copies are and how to restore from one with stock tools alone
    /// (print it, or keep it in your password manager).
    RecoverySheet {
        /// The profile (may be left out when only one exists).
        #[arg(long)]
        profile: Option<String>,
        /// Also write it as a printable HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
}

/// `backstop profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Add a profile.
    Add {
        /// Letters, digits and '-'.
        name: String,
        /// The SQLite database file.
        #[arg(long, required_unless_present_any = ["postgres", "mysql"], conflicts_with_all = ["postgres", "mysql"])]
        sqlite: Option<PathBuf>,
        /// A PostgreSQL database (with --host, --port, --user, --dbname).
        #[arg(long, conflicts_with = "mysql")]
        postgres: bool,
        /// A MySQL or MariaDB database (with --host, --port, --user, --dbname).
        #[arg(long)]
        mysql: bool,
        #[command(flatten)]
        connection: ConnectionFields,
        #[command(flatten)]
        fields: ProfileFields,
    },
    /// Check that a profile's database can be reached (and its tools found).
    Test {
        /// The profile.
        name: String,
    },
    /// Change a profile's settings.
    Edit {
        /// The profile.
        name: String,
        /// The SQLite database file.
        #[arg(long)]
        sqlite: Option<PathBuf>,
        #[command(flatten)]
        connection: ConnectionFields,
        #[command(flatten)]
        fields: ProfileFields,
        #[command(flatten)]
        encrypt: EncryptFlags,
    },
    /// List profiles.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Rename a profile: its config, its catalog history and its stored password (archives keep their names).
    Rename {
        /// The profile's name now.
        old: String,
        /// Its new name (letters, digits and '-').
        new: String,
    },
    /// Remove a profile and its stored password (its archives stay unless --delete-archives).
    Remove {
        /// The profile.
        name: String,
        /// Also delete the profile's archives.
        #[arg(long)]
        delete_archives: bool,
    },
}

/// Connection fields of server databases, named after their config keys.
#[derive(Debug, Args, Default)]
pub struct ConnectionFields {
    /// Server host (default 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// Server port (default: 5432 for PostgreSQL, 3306 for MySQL/MariaDB).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Role (PostgreSQL) or user (MySQL/MariaDB) to connect as.
    #[arg(long)]
    pub user: Option<String>,
    /// Database name.
    #[arg(long)]
    pub dbname: Option<String>,
    /// libpq SSL mode (disable, prefer, require, verify-ca, verify-full).
    #[arg(long)]
    pub sslmode: Option<String>,
    /// Read the password from standard input (never from argv); stored in the keyring or a 0600 file.
    #[arg(long)]
    pub password_stdin: bool,
    /// Where to keep the password: keyring (default) or file.
    #[arg(long, value_name = "keyring|file")]
    pub secret_store: Option<String>,
}

impl ConnectionFields {
    pub(super) fn secret_store(&self) -> Result<crate::secrets::SecretStore> {
        match self.secret_store.as_deref() {
            None | Some("keyring") => Ok(crate::secrets::SecretStore::Keyring),
            Some("file") => Ok(crate::secrets::SecretStore::File),
            Some(other) => Err(Error::Usage(format!(
                "--secret-store must be keyring or file, not {other}"
            ))),
        }
    }

    /// Applies the given fields to a server config (missing ones keep their value; the profile's check says
    /// what is wrong with the result).
    pub(super) fn apply(&self, cfg: &mut crate::config::ServerConfig) -> Result<()> {
        if let Some(host) = &self.host {
            cfg.host = host.clone();
        }
        if let Some(port) = self.port {
            cfg.port = port;
        }
        if let Some(user) = &self.user {
            cfg.user = user.clone();
        }
        if let Some(dbname) = &self.dbname {
            cfg.dbname = dbname.clone();
        }
        if let Some(mode) = &self.sslmode {
            cfg.sslmode = mode.clone();
        }
        if self.secret_store.is_some() {
            cfg.secret_store = self.secret_store()?;
        }
        Ok(())
    }

    /// Whether any connection field was given.
    pub(super) fn any(&self) -> bool {
        self.host.is_some()
            || self.port.is_some()
            || self.user.is_some()
            || self.dbname.is_some()
            || self.sslmode.is_some()
            || self.secret_store.is_some()
            || self.password_stdin
    }

    /// The password from standard input, when `--password-stdin` asks for it.
    pub(super) fn password(&self) -> Result<Option<crate::jobs::Password>> {
        if !self.password_stdin {
            return Ok(None);
        }
        Ok(Some(crate::jobs::Password(read_stdin_line(
            "--password-stdin",
            "password",
        )?)))
    }
}

/// Profile fields shared by `add` and `edit`, named after their config keys.
#[derive(Debug, Args, Default)]
pub struct ProfileFields {
    /// The folder of user files ("media") that goes with the database.
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
    /// Stop backing up a files folder (edit).
    #[arg(long, conflicts_with = "files")]
    pub no_files: bool,
    /// Leave out paths of the files folder matching this glob (`cache/**`, `*.tmp`); repeat for several.
    /// Given on edit, replaces the list.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Remove every exclude pattern (edit).
    #[arg(long, conflicts_with = "exclude")]
    pub no_exclude: bool,
    /// What a backup holds when no --kind is given: full, database or files.
    #[arg(long, value_name = "KIND")]
    pub default_kind: Option<Kind>,
    /// Where archives are written (default: the data folder's archives/<name>).
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// Keep at most N backups.
    #[arg(long)]
    pub keep_last: Option<u32>,
    /// Delete backups older than D days (0: no limit).
    #[arg(long)]
    pub max_age_days: Option<u32>,
    /// Also keep the newest backup of each of the last N days.
    #[arg(long)]
    pub keep_daily: Option<u32>,
    /// Also keep the newest backup of each of the last N weeks.
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    /// Also keep the newest backup of each of the last N months.
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    /// Turn automatic backups on.
    #[arg(long, conflicts_with = "no_auto")]
    pub auto: bool,
    /// Turn automatic backups off.
    #[arg(long)]
    pub no_auto: bool,
    /// Hours between automatic backups (implies --auto).
    #[arg(long)]
    pub auto_hours: Option<u32>,
    /// Deflate level 0-9.
    #[arg(long)]
    pub compression_level: Option<u32>,
}

impl ProfileFields {
    /// Applies the files-folder fields to a profile.
    pub(super) fn apply_files(&self, profile: &mut Profile) -> Result<()> {
        if let Some(files) = &self.files {
            profile.files_dir = Some(absolute(files.clone())?);
        }
        if self.no_files {
            profile.files_dir = None;
        }
        if !self.exclude.is_empty() {
            profile.exclude = self.exclude.clone();
        }
        if self.no_exclude {
            profile.exclude.clear();
        }
        if self.default_kind.is_some() {
            profile.default_kind = self.default_kind;
        }
        crate::files::Excludes::new(&profile.exclude)?;
        Ok(())
    }

    /// Applies the policy fields; a number out of its range is refused, naming the key, before anything is saved.
    pub(super) fn apply(&self, policy: &mut Policy) -> Result<()> {
        let set = |field: &mut u32, value: Option<u32>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut policy.keep_last, self.keep_last);
        set(&mut policy.max_age_days, self.max_age_days);
        set(&mut policy.keep_daily, self.keep_daily);
        set(&mut policy.keep_weekly, self.keep_weekly);
        set(&mut policy.keep_monthly, self.keep_monthly);
        set(&mut policy.auto_interval_hours, self.auto_hours);
        set(&mut policy.compression_level, self.compression_level);
        if self.auto || self.auto_hours.is_some() {
            policy.auto_enabled = true;
        }
        if self.no_auto {
            policy.auto_enabled = false;
        }
        match policy.problems().into_iter().next() {
            Some(problem) => Err(Error::Usage(problem)),
            None => Ok(()),
        }
    }
}

/// What opens an encrypted archive when the stored passphrase does not.
#[derive(Debug, Args, Default)]
pub struct UnlockFlags {
    /// Read the passphrase of an encrypted backup from standard input (one line): an old passphrase, or on a
    /// machine that does not store it.
    #[arg(long, conflicts_with = "identity")]
    pub passphrase_stdin: bool,
    /// The private key that decrypts a backup encrypted to recipient keys (an age identity file or an
    /// unprotected SSH private key).
    #[arg(long, value_name = "KEYFILE")]
    pub identity: Option<PathBuf>,
}

impl UnlockFlags {
    /// What the flags give, read now.
    pub(super) fn read(&self) -> Result<Option<crate::jobs::UnlockSpec>> {
        if self.passphrase_stdin {
            let passphrase = read_stdin_line("--passphrase-stdin", "passphrase")?;
            return Ok(Some(crate::jobs::UnlockSpec::Passphrase(
                crate::jobs::Password(passphrase),
            )));
        }
        Ok(self
            .identity
            .clone()
            .map(absolute)
            .transpose()?
            .map(crate::jobs::UnlockSpec::Identity))
    }
}

/// `profile edit`'s encryption flags (the off-site issue fixes their names).
#[derive(Debug, Args, Default)]
pub struct EncryptFlags {
    /// Encrypt new backups with a passphrase read from standard input (one line; at least 8 characters). A new
    /// passphrase applies to new backups; older ones keep the passphrase they were made with.
    #[arg(long, conflicts_with_all = ["encrypt_to", "no_encrypt"])]
    pub encrypt_passphrase_stdin: bool,
    /// Encrypt new backups to these recipient public keys (`age1…`, or an SSH public key line `ssh-ed25519 …`):
    /// this machine then cannot decrypt them, only the holders of the private keys can.
    #[arg(long, value_name = "RECIPIENT", num_args = 1.., conflicts_with = "no_encrypt")]
    pub encrypt_to: Vec<String>,
    /// Stop encrypting new backups (encrypted ones stay encrypted).
    #[arg(long)]
    pub no_encrypt: bool,
    /// With --encrypt-…: encrypt only the copies at destinations; the archives here stay unencrypted.
    #[arg(long)]
    pub encrypt_offsite_only: bool,
}

impl EncryptFlags {
    /// The change the flags ask for, if any (the passphrase read now).
    pub(super) fn change(&self) -> Result<Option<crate::jobs::EncryptChange>> {
        if self.encrypt_passphrase_stdin {
            let passphrase = read_stdin_line("--encrypt-passphrase-stdin", "passphrase")?;
            return Ok(Some(crate::jobs::EncryptChange::Passphrase(
                crate::jobs::Password(passphrase),
            )));
        }
        if !self.encrypt_to.is_empty() {
            return Ok(Some(crate::jobs::EncryptChange::Recipients(
                self.encrypt_to.clone(),
            )));
        }
        if self.no_encrypt {
            return Ok(Some(crate::jobs::EncryptChange::Off));
        }
        if self.encrypt_offsite_only {
            return Err(Error::Usage(
                "--encrypt-offsite-only goes with --encrypt-passphrase-stdin or --encrypt-to"
                    .into(),
            ));
        }
        Ok(None)
    }
}

/// `backstop background ...`
#[derive(Debug, Subcommand)]
pub enum BackgroundCommand {
    /// The systemd user timer that runs `run-due` every 15 minutes, even when Backstop is closed.
    Timer {
        /// on, off or status.
        #[arg(value_enum)]
        action: Switch,
    },
    /// Start Backstop hidden in the tray when you log in (an XDG autostart entry).
    Login {
        /// on, off or status.
        #[arg(value_enum)]
        action: Switch,
    },
}

/// Turn something on or off, or say how it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Turn it on.
    On,
    /// Turn it off.
    Off,
    /// Say how it is.
    Status,
}

/// `backstop catalog ...`
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Rebuild the catalog from the archives' manifests (in the storage folders, or at a destination).
    Rebuild {
        /// The disaster case: add every backup at this destination to the catalog (read from the archives'
        /// manifests there), so that each can be restored with `restore ID --from DEST`.
        #[arg(long, value_name = "DEST")]
        from: Option<String>,
        #[command(flatten)]
        unlock: UnlockFlags,
    },
}

/// One line from standard input for a `--…-stdin` flag (its line break removed); empty is refused.
pub(super) fn read_stdin_line(flag: &str, what: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::Usage(format!("cannot read the {what} from standard input: {e}")))?;
    let value = line.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(Error::Usage(format!("{flag} read an empty {what}")));
    }
    Ok(value.to_string())
}

pub(super) fn absolute(path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current folder", &path, e))?;
    Ok(cwd.join(path))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test that meets the unexpected should stop loudly"
)]
mod tests {
    use super::*;

    #[test]
    fn the_window_takes_hidden_and_a_file_and_subcommands_take_neither() {
        let cli = Cli::try_parse_from(["backstop"]).unwrap();
        assert!(cli.command.is_none() && !cli.hidden && cli.file.is_none());
        let cli = Cli::try_parse_from(["backstop", "--hidden"]).unwrap();
        assert!(cli.command.is_none() && cli.hidden);
        let cli = Cli::try_parse_from(["backstop", "shop.zip"]).unwrap();
        assert_eq!(cli.file, Some(PathBuf::from("shop.zip")));
        let cli = Cli::try_parse_from(["backstop", "list"]).unwrap();
        assert!(matches!(cli.command, Some(Command::List { .. })) && cli.file.is_none());
        // After a window flag no subcommand follows: "list" is a file name here (and `backstop` says it is missing).
        let cli = Cli::try_parse_from(["backstop", "--hidden", "list"]).unwrap();
        assert!(cli.command.is_none() && cli.file == Some(PathBuf::from("list")));
        assert!(Cli::try_parse_from(["backstop", "list", "--hidden"]).is_err());
    }
}
