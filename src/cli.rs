//! The command line: each subcommand builds a spec, calls a function in [`crate::jobs`] and prints the report.
//!
//! Exit codes: 0 ok; 1 the job failed or verify found damage; 2 usage or configuration error; 130 interrupted.

use crate::archive::EntryType;
use crate::config::{Config, DatabaseConfig, Paths, Profile, validate_profile_name};
use crate::error::{Error, Result};
use crate::jobs::{self, BackupRef, BackupSpec, Context, RestoreSpec, VerifyTarget};
use crate::model::{Kind, Policy, Trigger};
use crate::progress::{
    CancelToken, JobControl, NoProgress, ProgressSink, ProgressUpdate, human_size,
};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

mod output;

// `print!` and friends, shadowed in this file so that every line the CLI prints goes through `output`: a closed
// stdout (`| head`) ends the output quietly instead of panicking, and a closed stderr is ignored.
macro_rules! println {
    () => { output::stdout(format_args!(""), true) };
    ($($arg:tt)*) => { output::stdout(format_args!($($arg)*), true) };
}
#[allow(
    unused_macros,
    reason = "there for the next `print!` written in this file"
)]
macro_rules! print {
    ($($arg:tt)*) => { output::stdout(format_args!($($arg)*), false) };
}
macro_rules! eprintln {
    ($($arg:tt)*) => { output::stderr(format_args!($($arg)*), true) };
}
macro_rules! eprint {
    ($($arg:tt)*) => { output::stderr(format_args!($($arg)*), false) };
}

/// Backstop: verified backups of SQLite databases, restored safely.
#[derive(Debug, Parser)]
#[command(
    name = "backstop",
    version,
    about,
    after_help = "With no command, the Backstop window opens."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Make a sample database and a `demo` profile, back it up and list the backups.
    Demo,
}

/// `backstop profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Add a profile.
    Add {
        /// Letters, digits and '-'.
        name: String,
        /// The SQLite database file.
        #[arg(
            long,
            required_unless_present = "postgres",
            conflicts_with = "postgres"
        )]
        sqlite: Option<PathBuf>,
        /// A PostgreSQL database (with --host, --port, --user, --dbname).
        #[arg(long)]
        postgres: bool,
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
    /// Server port (default 5432).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Role to connect as.
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
    fn secret_store(&self) -> Result<crate::secrets::SecretStore> {
        match self.secret_store.as_deref() {
            None | Some("keyring") => Ok(crate::secrets::SecretStore::Keyring),
            Some("file") => Ok(crate::secrets::SecretStore::File),
            Some(other) => Err(Error::Usage(format!(
                "--secret-store must be keyring or file, not {other}"
            ))),
        }
    }

    /// Applies the given fields to a PostgreSQL config (missing ones keep their value).
    fn apply(&self, cfg: &mut crate::config::PostgresConfig) -> Result<()> {
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
            const MODES: [&str; 6] = [
                "disable",
                "allow",
                "prefer",
                "require",
                "verify-ca",
                "verify-full",
            ];
            if !MODES.contains(&mode.as_str()) {
                return Err(Error::Usage(format!(
                    "--sslmode must be one of {}",
                    MODES.join(", ")
                )));
            }
            cfg.sslmode = mode.clone();
        }
        if self.secret_store.is_some() {
            cfg.secret_store = self.secret_store()?;
        }
        Ok(())
    }

    /// Reads the password from stdin and stores it, when asked.
    fn store_password(
        &self,
        paths: &Paths,
        profile: &str,
        cfg: &mut crate::config::PostgresConfig,
    ) -> Result<()> {
        if !self.password_stdin {
            return Ok(());
        }
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Error::Usage(format!("cannot read the password from standard input: {e}"))
        })?;
        let password = line.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(Error::Usage(
                "--password-stdin read an empty password".into(),
            ));
        }
        crate::secrets::Secrets::new(paths.secrets_dir()).set(
            profile,
            cfg.secret_store,
            password,
        )?;
        cfg.has_password = true;
        Ok(())
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
    fn apply_files(&self, profile: &mut Profile) -> Result<()> {
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
    fn apply(&self, policy: &mut Policy) -> Result<()> {
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

/// `backstop catalog ...`
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Rebuild the catalog from the archives' manifests.
    Rebuild,
}

/// Shows progress on stderr when it is a terminal.
struct TerminalProgress;

impl ProgressSink for TerminalProgress {
    fn update(&self, u: &ProgressUpdate) {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let line = match u.total {
            Some(total) if total > 0 => format!(
                "\r{}: {:.1} / {:.1} MiB ({:.0}%)   ",
                u.stage,
                mib(u.done),
                mib(total),
                100.0 * u.done as f64 / total as f64
            ),
            _ => format!("\r{}: {:.1} MiB   ", u.stage, mib(u.done)),
        };
        let mut err = std::io::stderr();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    }
}

/// Runs the CLI; returns the process exit code.
pub fn run(cli: Cli, cancel: CancelToken) -> i32 {
    let Some(command) = cli.command else {
        return 2;
    };
    let show_progress = std::io::stderr().is_terminal();
    let sink: &dyn ProgressSink = if show_progress {
        &TerminalProgress
    } else {
        &NoProgress
    };
    let job = JobControl::new(sink, cancel);
    let result = dispatch(command, &job);
    if show_progress {
        // The one escape sequence meant for the terminal: clear the progress line (not through `eprint!`, which
        // escapes control characters on a terminal).
        let _ = std::io::stderr().write_all(b"\r\x1b[K");
    }
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    match output::finish() {
        Some(e) if code == 0 => {
            eprintln!("error: cannot write the output: {e}");
            1
        }
        _ => code,
    }
}

/// The plain `list` notes for a backup dated in the future or flagged by the change check.
fn row_marks(row: &crate::catalog::BackupRow) -> String {
    let mut marks = String::new();
    if let Some(secs) = row.clock_ahead_secs {
        marks.push_str(&format!(
            "  (dated {} ahead: clock?)",
            crate::retention::span_text(secs)
        ));
    }
    if !row.warnings.is_empty() {
        marks.push_str(&format!("  (flagged: {})", row.warnings.join("; ")));
    }
    marks
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::JobFailed(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn open_context() -> Result<Context> {
    let ctx = Context::open(Paths::from_env()?)?;
    for line in &ctx.recovered {
        eprintln!("note: {line}");
    }
    Ok(ctx)
}

fn dispatch(command: Command, job: &JobControl) -> Result<i32> {
    match command {
        Command::Profile(cmd) => profile_command(*cmd),
        Command::Catalog(CatalogCommand::Rebuild) => {
            let report = jobs::rebuild_catalog(&Paths::from_env()?, job)?;
            println!("catalog rebuilt: {} archive(s) catalogued", report.archives);
            for damaged in &report.damaged {
                println!("  damaged: {damaged}");
            }
            if let Some(old) = report.old_catalog {
                println!("  the old catalog was kept as {}", old.display());
            }
            Ok(0)
        }
        Command::Demo => demo(job),
        other => {
            let mut ctx = open_context()?;
            job_command(&mut ctx, other, job)
        }
    }
}

fn job_command(ctx: &mut Context, command: Command, job: &JobControl) -> Result<i32> {
    match command {
        Command::Backup {
            profile,
            kind,
            json,
        } => {
            let spec = BackupSpec {
                profile,
                kind,
                trigger: Trigger::Manual,
            };
            let report = jobs::backup(ctx, &spec, job)?;
            if json {
                print_json(&report)?;
            } else {
                println!("{}", report.path.display());
                eprintln!(
                    "backup {} completed: {} in {:.1} s{}",
                    report.id,
                    human_size(report.size_bytes),
                    report.duration_ms as f64 / 1000.0,
                    if report.pruned.is_empty() {
                        String::new()
                    } else {
                        format!("; retention deleted {} old backup(s)", report.pruned.len())
                    }
                );
            }
            // On stderr with --json too: a script that reads only the JSON still leaves a trace in its log.
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            if let Some(why) = &report.retention_skipped {
                eprintln!("flagged: {why}");
            }
            Ok(0)
        }
        Command::List { profile, all, json } => {
            if let Some(name) = &profile {
                ctx.config.profile(name)?;
            }
            let rows = ctx.catalog.list(profile.as_deref(), all)?;
            if json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no backups yet; make one with `backstop backup`");
            } else {
                println!(
                    "{:>4}  {:<10} {:<9} {:<9} {:<20} {:>10}  PATH",
                    "ID", "STATUS", "TRIGGER", "KIND", "CREATED (UTC)", "SIZE"
                );
                for r in rows {
                    println!(
                        "{:>4}  {:<10} {:<9} {:<9} {:<20} {:>10}  {}{}{}",
                        r.id,
                        r.status.as_str(),
                        r.trigger.as_str(),
                        r.kind.as_str(),
                        r.created_at.format("%Y-%m-%d %H:%M:%S"),
                        r.size_bytes.map(human_size).unwrap_or_else(|| "-".into()),
                        r.path.display(),
                        if r.pinned { "  (pinned)" } else { "" },
                        row_marks(&r)
                    );
                }
            }
            Ok(0)
        }
        Command::Verify {
            target,
            all,
            profile,
            json,
        } => {
            let target = match (target, all) {
                (Some(t), false) => VerifyTarget::One(BackupRef::parse(&t)),
                (None, true) => VerifyTarget::All(profile),
                _ => {
                    return Err(Error::Usage(
                        "say what to verify: an ID, a PATH, or --all".into(),
                    ));
                }
            };
            let outcomes = jobs::verify(ctx, &target, job)?;
            let damaged = outcomes.iter().filter(|o| !o.report.ok()).count();
            if json {
                print_json(&outcomes)?;
            } else {
                for o in &outcomes {
                    let name =
                        o.id.map(|id| format!("backup {id}"))
                            .unwrap_or_else(|| o.report.path.display().to_string());
                    if o.report.ok() {
                        println!(
                            "ok       {name}: {} entries, {}",
                            o.report.entries_checked,
                            human_size(o.report.bytes_checked)
                        );
                    } else {
                        println!("DAMAGED  {name}: {}", o.report.problems.join("; "));
                    }
                }
                if outcomes.is_empty() {
                    println!("nothing to verify");
                }
            }
            Ok(if damaged > 0 { 1 } else { 0 })
        }
        Command::Restore {
            source,
            profile,
            validate_only,
            no_safety_backup,
            yes,
            to_database,
            terminate_sessions,
            allow_other_profile,
            only,
            to,
            json,
        } => {
            let spec = RestoreSpec {
                source: BackupRef::parse(&source),
                profile,
                validate_only,
                safety_backup: !no_safety_backup,
                target_database: to_database,
                terminate_sessions,
                only,
                to: to.map(absolute).transpose()?,
                allow_other_profile,
            };
            if !validate_only && !yes && spec.only.is_empty() {
                let plan = jobs::plan_restore(ctx, &spec)?;
                confirm_restore(&plan)?;
            }
            let report = jobs::restore(ctx, &spec, job)?;
            if json {
                print_json(&report)?;
            } else {
                println!("{}", report.message);
            }
            Ok(0)
        }
        Command::Show { target, json } => {
            let manifest = jobs::show(ctx, &BackupRef::parse(&target))?;
            if json {
                print_json(&manifest)?;
            } else {
                println!(
                    "{} backup of profile {} ({}), taken {}",
                    manifest.kind,
                    manifest.profile,
                    manifest.trigger,
                    manifest.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                if let Some(db) = &manifest.database {
                    println!(
                        "database: {} {} ({}), {} at backup time",
                        db.engine,
                        db.name,
                        db.engine_version,
                        human_size(db.size_bytes)
                    );
                    for (table, rows) in &db.tables {
                        println!("  table {table}: {rows} rows");
                    }
                }
                if let Some(from) = &manifest.imported_from {
                    println!("imported from: {from}");
                }
                let folder = crate::files::entries_of(&manifest.entries);
                if !folder.is_empty() {
                    let files = folder
                        .iter()
                        .filter(|e| e.entry_type == EntryType::File)
                        .count();
                    let bytes: u64 = folder
                        .iter()
                        .filter(|e| e.entry_type == EntryType::File)
                        .map(|e| e.size)
                        .sum();
                    println!(
                        "files folder: {files} files, {} folders, {} links, {}",
                        folder
                            .iter()
                            .filter(|e| e.entry_type == EntryType::Dir)
                            .count(),
                        folder
                            .iter()
                            .filter(|e| e.entry_type == EntryType::Symlink)
                            .count(),
                        human_size(bytes)
                    );
                }
                for warning in &manifest.warnings {
                    println!("warning: {warning}");
                }
                println!("entries:");
                for e in &manifest.entries {
                    let mode = e.mode.map(|m| format!("{m:04o}")).unwrap_or_default();
                    let link = match &e.target {
                        Some(target) => format!(" -> {target}"),
                        None => String::new(),
                    };
                    println!(
                        "  {:>12}  {}  {mode:>4}  {}{link}",
                        human_size(e.size),
                        e.sha256.chars().take(12).collect::<String>(),
                        e.path
                    );
                }
            }
            Ok(0)
        }
        Command::Diff {
            before,
            after,
            json,
        } => {
            let diff = jobs::diff(ctx, &BackupRef::parse(&before), &BackupRef::parse(&after))?;
            if json {
                print_json(&diff)?;
            } else {
                for path in &diff.added {
                    println!("added    {path}");
                }
                for path in &diff.removed {
                    println!("removed  {path}");
                }
                for path in &diff.changed {
                    println!("changed  {path}");
                }
                if let (Some(a), Some(b)) = (diff.database_size_before, diff.database_size_after) {
                    println!(
                        "database size: {} -> {} ({:+} bytes)",
                        human_size(a),
                        human_size(b),
                        b as i64 - a as i64
                    );
                }
                for (table, (a, b)) in &diff.tables {
                    println!("table {table}: {a} -> {b} rows");
                }
                if diff == archive_diff_empty(&diff) {
                    println!("no difference");
                }
            }
            Ok(0)
        }
        Command::Prune {
            profile,
            dry_run,
            json,
        } => {
            let report = jobs::prune(ctx, profile.as_deref(), dry_run)?;
            if json {
                print_json(&report)?;
            } else {
                let verb = if dry_run { "would delete" } else { "deleted" };
                for v in &report.verdicts {
                    println!(
                        "{:>4}  {:<12} {}",
                        v.id,
                        if v.keep { "keep" } else { verb },
                        v.reason
                    );
                }
                let n = report.verdicts.iter().filter(|v| !v.keep).count();
                println!("{} {n} backup(s) of profile {}", verb, report.profile);
            }
            Ok(0)
        }
        Command::Import {
            files,
            profile,
            json,
        } => {
            let batch = jobs::import_batch(ctx, &files, profile.as_deref(), job)?;
            if json {
                print_json(&batch)?;
            } else {
                for report in &batch.imported {
                    println!(
                        "imported {} ({}) as backup {}: {}",
                        report.source.display(),
                        report.describe(),
                        report.backup.id,
                        report.backup.path.display()
                    );
                }
                for note in batch.imported.iter().flat_map(|r| &r.notes) {
                    eprintln!("note: {note}");
                }
                for duplicate in &batch.duplicates {
                    println!("{}", duplicate.message());
                }
                for skipped in &batch.skipped {
                    println!("{}", skipped.message);
                }
            }
            for refused in &batch.refused {
                eprintln!("error: {}", refused.message);
            }
            // A refused import is a failed job (exit 1); a duplicate is not: the file is there already.
            Ok(if batch.refused.is_empty() { 0 } else { 1 })
        }
        Command::Export { id, to } => {
            let dest = jobs::export(ctx, id, &to, job)?;
            println!("{}", dest.display());
            Ok(0)
        }
        Command::Delete { id } => {
            let row = jobs::delete(ctx, id)?;
            println!("deleted backup {} ({})", row.id, row.path.display());
            Ok(0)
        }
        Command::Pin { id } => {
            jobs::pin(ctx, id, true)?;
            println!("backup {id} pinned: retention will keep it");
            Ok(0)
        }
        Command::Unpin { id } => {
            jobs::pin(ctx, id, false)?;
            println!("backup {id} unpinned");
            Ok(0)
        }
        Command::RunDue { json } => {
            let outcomes = jobs::run_due(ctx, job, Utc::now())?;
            let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
            // Scheduled runs have no window: tell the desktop, when there is one, what happened.
            if ctx.config.settings.notifications {
                for o in &outcomes {
                    let (summary, body) = match (&o.backup, &o.error) {
                        (Some(b), _) if b.retention_skipped.is_some() => (
                            format!("Backstop: {} backed up, but flagged", o.profile),
                            b.flagged_text().unwrap_or_default(),
                        ),
                        (Some(b), _) => (
                            format!("Backstop: {} backed up", o.profile),
                            format!("{} ({} bytes)", b.path.display(), b.size_bytes),
                        ),
                        (None, Some(e)) => (
                            format!("Backstop: automatic backup of {} failed", o.profile),
                            e.clone(),
                        ),
                        (None, None) => continue,
                    };
                    crate::notify::notify_and_wait(
                        &summary,
                        &body,
                        std::time::Duration::from_secs(2),
                    );
                }
            }
            if json {
                print_json(&outcomes)?;
            } else {
                for o in &outcomes {
                    match (&o.backup, &o.error) {
                        (Some(b), _) => println!(
                            "{}: backed up ({}){}",
                            o.profile,
                            b.path.display(),
                            if o.missed > 0 {
                                format!(
                                    "; {} automatic backup(s) were missed, one catch-up backup was made",
                                    o.missed
                                )
                            } else {
                                String::new()
                            }
                        ),
                        (None, Some(e)) => eprintln!("{}: automatic backup FAILED: {e}", o.profile),
                        (None, None) => println!("{}: {}", o.profile, o.reason),
                    }
                    if let Some(b) = &o.backup {
                        for warning in &b.warnings {
                            eprintln!("{}: warning: {warning}", o.profile);
                        }
                        if let Some(why) = &b.retention_skipped {
                            eprintln!("{}: flagged: {why}", o.profile);
                        }
                    }
                }
                if outcomes.is_empty() {
                    println!("no profiles");
                }
            }
            Ok(if failed > 0 { 1 } else { 0 })
        }
        Command::Stats { profile, json } => {
            let stats = jobs::stats(ctx, profile.as_deref(), Utc::now(), true)?;
            if json {
                print_json(&stats)?;
            } else {
                print_stats(&stats);
            }
            Ok(0)
        }
        Command::Log {
            profile,
            limit,
            json,
        } => {
            let (restores, jobs_log) = jobs::history(ctx, profile.as_deref(), limit)?;
            if json {
                print_json(&serde_json::json!({ "restores": restores, "jobs": jobs_log }))?;
            } else {
                println!("Restores:");
                for r in &restores {
                    println!(
                        "  {} {:<9} {} from {}{}",
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.outcome,
                        r.profile,
                        r.backup_id
                            .map(|id| format!("backup {id}"))
                            .unwrap_or_else(|| r.archive_path.display().to_string()),
                        r.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
                println!("Jobs:");
                for j in &jobs_log {
                    println!(
                        "  {} {:<9} {:<8} {}{}",
                        j.started_at.format("%Y-%m-%d %H:%M:%S"),
                        j.outcome,
                        j.job,
                        j.profile.as_deref().unwrap_or("-"),
                        j.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(0)
        }
        Command::Profile(_) | Command::Catalog(_) | Command::Demo => {
            Err(Error::JobFailed("internal: not a job".into()))
        }
    }
}

/// The diff with nothing in it but the same sizes (to say "no difference").
fn archive_diff_empty(diff: &crate::archive::ManifestDiff) -> crate::archive::ManifestDiff {
    crate::archive::ManifestDiff {
        database_size_before: diff.database_size_before,
        database_size_after: diff.database_size_before,
        ..Default::default()
    }
}

fn print_stats(s: &jobs::Stats) {
    let when = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    println!("Profile {}", s.profile);
    let join = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  backups by trigger: {}", join(&s.by_trigger));
    println!("  backups by status:  {}", join(&s.by_status));
    println!(
        "  total size: {}, average {}",
        human_size(s.total_size_bytes),
        human_size(s.average_size_bytes)
    );
    println!(
        "  database size now: {}",
        s.database_size_bytes
            .map(human_size)
            .unwrap_or_else(|| "unreadable".into())
    );
    match &s.last_backup {
        Some(b) => println!(
            "  last backup: {} ({}, {}, {:.1} s)",
            b.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            b.status,
            b.trigger,
            b.duration_ms.unwrap_or(0) as f64 / 1000.0
        ),
        None => println!("  last backup: never"),
    }
    println!("  last automatic backup: {}", when(s.last_automatic_at));
    println!("  next automatic backup: {}", when(s.next_automatic_at));
    if let Some(rate) = s.success_rate_percent {
        println!("  success rate: {rate:.0}%");
    }
    if let Some(details) = &s.details {
        if let Some(version) = &details.server_version {
            println!("  server version: {version}");
        }
        for (table, bytes) in &details.largest_tables {
            println!("  large table: {table} ({})", human_size(*bytes));
        }
        for (copy, bytes) in &details.kept_copies {
            println!(
                "  copy kept by a restore: {copy} ({}); delete it when you no longer need it",
                human_size(*bytes)
            );
        }
    }
}

fn confirm_restore(plan: &jobs::RestorePlan) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::ConsentRequired {
            target: plan.target.clone(),
        });
    }
    let when = plan
        .row
        .as_ref()
        .map(|r| r.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| plan.archive.display().to_string());
    eprintln!("This replaces {} with the backup from {when}.", plan.target);
    if plan.owner != plan.profile.name {
        eprintln!(
            "It is a backup of profile {}: {}'s data will be replaced with {}'s.",
            plan.owner, plan.profile.name, plan.owner
        );
    }
    eprintln!("A safety backup of the current state is taken first (unless --no-safety-backup).");
    eprint!("Type the profile name ({}) to confirm: ", plan.profile.name);
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::Usage(format!("cannot read the confirmation: {e}")))?;
    if answer.trim() == plan.profile.name {
        Ok(())
    } else {
        Err(Error::Usage(
            "restore cancelled: the name typed did not match; nothing was changed".into(),
        ))
    }
}

fn profile_command(cmd: ProfileCommand) -> Result<i32> {
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
                    let mut cfg = crate::config::PostgresConfig {
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
                DatabaseConfig::Postgres(cfg) => {
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

fn absolute(path: PathBuf) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current folder", &path, e))?;
    Ok(cwd.join(path))
}

fn demo(job: &JobControl) -> Result<i32> {
    let paths = Paths::from_env()?;
    for line in jobs::ensure_demo(&paths)? {
        println!("{line}");
    }
    let mut ctx = open_context()?;
    let report = jobs::backup(
        &ctx,
        &BackupSpec {
            profile: Some("demo".into()),
            kind: None,
            trigger: Trigger::Manual,
        },
        job,
    )?;
    println!(
        "backed up to {} ({})",
        report.path.display(),
        human_size(report.size_bytes)
    );
    println!();
    job_command(
        &mut ctx,
        Command::List {
            profile: Some("demo".into()),
            all: false,
            json: false,
        },
        job,
    )?;
    println!();
    println!(
        "Next: `backstop verify --all`, `backstop restore {} --validate-only`, `backstop stats`",
        report.id
    );
    Ok(0)
}
