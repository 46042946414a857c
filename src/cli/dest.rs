//! `backstop dest ...`: destinations for copies of a profile's backups (the flags are fixed by the off-site issue:
//! scripts depend on them).

use super::args::{absolute, read_stdin_line};
use super::output;
use super::print::print_json;
use crate::error::{Error, Result};
use crate::jobs::{self, Context, DestAdd, DestSync};
use crate::progress::{JobControl, human_size};
use crate::secrets::SecretStore;
use crate::storage::{Destination, Target, spec};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `backstop dest ...`
#[derive(Debug, Subcommand)]
pub enum DestCommand {
    /// Add a destination to a profile: another folder, S3-compatible storage, SFTP or WebDAV.
    Add(Box<DestAddArgs>),
    /// List the destinations and how far behind each is.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Connect, write, read, list and delete a probe.
    Test {
        /// The destination.
        name: String,
    },
    /// Remove a destination (its copies there are left alone).
    Remove {
        /// The destination.
        name: String,
    },
    /// Copy every pending backup now (failed copies are tried again at once).
    Sync {
        /// Only this profile's destinations.
        #[arg(long)]
        profile: Option<String>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The archives at a destination.
    Ls {
        /// The destination.
        name: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `backstop dest add NAME --profile P (--folder | --s3 | --sftp | --webdav) ...`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("where").required(true).args(["folder", "s3", "sftp", "webdav"])))]
pub struct DestAddArgs {
    /// Letters, digits and '-'.
    pub name: String,
    /// The profile whose backups are copied there.
    #[arg(long)]
    pub profile: String,
    /// Another local folder (a USB disk, a NAS mount).
    #[arg(long, value_name = "PATH")]
    pub folder: Option<PathBuf>,
    /// S3-compatible object storage: the endpoint URL (`https://s3.eu-central-1.amazonaws.com`).
    #[arg(long, value_name = "ENDPOINT_URL", requires_all = ["bucket", "access_key_id", "secret_stdin"])]
    pub s3: Option<String>,
    /// The bucket (S3).
    #[arg(long, requires = "s3")]
    pub bucket: Option<String>,
    /// Key prefix (S3; default `backstop/<machine>/<profile>`).
    #[arg(long, requires = "s3")]
    pub prefix: Option<String>,
    /// Region (S3; default us-east-1; `auto` for Cloudflare R2).
    #[arg(long, requires = "s3")]
    pub region: Option<String>,
    /// Path-style requests (MinIO, Ceph and most servers of your own); otherwise virtual-host style.
    #[arg(long, requires = "s3")]
    pub path_style: bool,
    /// The access key id (S3); the secret key is read from standard input with --secret-stdin.
    #[arg(long, value_name = "ID", requires = "s3")]
    pub access_key_id: Option<String>,
    /// SFTP: USER@HOST[:PORT]/PATH, through the system's OpenSSH (keys from the agent, ~/.ssh or --identity).
    #[arg(long, value_name = "USER@HOST[:PORT]/PATH")]
    pub sftp: Option<String>,
    /// The private key file for SFTP.
    #[arg(long, value_name = "KEYFILE", requires = "sftp")]
    pub identity: Option<PathBuf>,
    /// A WebDAV folder URL (Nextcloud, ownCloud, a NAS).
    #[arg(long, value_name = "URL")]
    pub webdav: Option<String>,
    /// The WebDAV login (its password from standard input with --secret-stdin).
    #[arg(long, value_name = "U", requires_all = ["webdav", "secret_stdin"])]
    pub user: Option<String>,
    /// Read the S3 secret key or the WebDAV password from standard input (one line).
    #[arg(long)]
    pub secret_stdin: bool,
    /// Keep at most this many copies there (default: the profile's keep-last).
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Delete copies there older than this many days (default: the profile's; 0: no age limit).
    #[arg(long, value_name = "D")]
    pub max_age_days: Option<u32>,
    /// Where the secret is kept: keyring (default) or file (a 0600 file under the Backstop folder).
    #[arg(long, value_name = "STORE")]
    pub secret_store: Option<SecretStore>,
}

impl DestAddArgs {
    fn target(&self) -> Result<Target> {
        if let Some(path) = &self.folder {
            return Ok(Target::Folder {
                path: absolute(path.clone())?,
            });
        }
        if let Some(endpoint) = &self.s3 {
            return Ok(Target::S3 {
                endpoint: endpoint.trim_end_matches('/').to_string(),
                bucket: self.bucket.clone().unwrap_or_default(),
                prefix: spec::normalize_prefix(
                    &self
                        .prefix
                        .clone()
                        .unwrap_or_else(|| spec::default_prefix(&self.profile)),
                ),
                region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
                path_style: self.path_style,
                access_key_id: self.access_key_id.clone().unwrap_or_default(),
            });
        }
        if let Some(text) = &self.sftp {
            let (user, host, port, path) = spec::parse_sftp(text).map_err(Error::Usage)?;
            return Ok(Target::Sftp {
                user,
                host,
                port,
                path,
                identity: self.identity.clone().map(absolute).transpose()?,
            });
        }
        if let Some(url) = &self.webdav {
            return Ok(Target::Webdav {
                url: url.trim_end_matches('/').to_string(),
                user: self.user.clone(),
            });
        }
        Err(Error::Usage(
            "say where: --folder, --s3, --sftp or --webdav".into(),
        ))
    }

    fn secret(&self) -> Result<Option<String>> {
        if !self.secret_stdin {
            return Ok(None);
        }
        Ok(Some(read_stdin_line("--secret-stdin", "secret")?))
    }
}

pub(super) fn dest_command(
    ctx: &mut Context,
    command: DestCommand,
    job: &JobControl,
) -> Result<i32> {
    match command {
        DestCommand::Add(args) => {
            let secret_store = args
                .secret_store
                .unwrap_or_else(|| jobs::default_secret_store(ctx, &args.profile));
            let dest = Destination {
                name: args.name.clone(),
                profile: args.profile.clone(),
                target: args.target()?,
                keep_last: args.keep_last,
                max_age_days: args.max_age_days,
                secret_store,
            };
            let secret = args.secret()?;
            let info = jobs::dest_add(ctx, DestAdd { dest, secret })?;
            if let Some(note) = &info.other_home {
                println!(
                    "destination {} added to profile {}: {}; {note}",
                    info.name, info.profile, info.location
                );
                return Ok(0);
            }
            println!(
                "destination {} added to profile {}: {} ({} backup(s) queued; they are copied after the next \
                 backup, by run-due and the window, or now with `backstop dest sync`)",
                info.name, info.profile, info.location, info.pending
            );
            Ok(0)
        }
        DestCommand::List { json } => {
            let list = jobs::dest_list(ctx)?;
            if json {
                print_json(&list)?;
                return Ok(0);
            }
            if list.is_empty() {
                println!(
                    "no destinations; add one with `backstop dest add NAME --profile P --folder PATH` (or --s3, --sftp, --webdav)"
                );
            }
            for d in &list {
                let behind = match d.behind_secs {
                    Some(secs) => format!("behind by {}", crate::retention::span_text(secs)),
                    None => "up to date".into(),
                };
                println!(
                    "{}  {}  {}  {}  copied {}, pending {}, failed {}; keeps {} ({}); {}{}",
                    d.name,
                    d.profile,
                    d.kind,
                    d.location,
                    d.copied,
                    d.pending,
                    d.failed,
                    d.keep_last,
                    if d.max_age_days == 0 {
                        "no age limit".to_string()
                    } else {
                        format!("{} days", d.max_age_days)
                    },
                    behind,
                    d.last_error
                        .as_ref()
                        .map(|e| format!("; last error: {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(0)
        }
        DestCommand::Test { name } => {
            println!("{}", jobs::dest_test(ctx, &name)?);
            Ok(0)
        }
        DestCommand::Remove { name } => {
            let dest = jobs::dest_remove(ctx, &name)?;
            println!(
                "destination {} removed; its copies at {} were left there",
                dest.name,
                dest.target.describe()
            );
            Ok(0)
        }
        DestCommand::Sync { profile, json } => {
            let reports = jobs::sync(ctx, profile.as_deref(), true, job)?;
            if json {
                print_json(&reports)?;
            } else if reports.is_empty() {
                println!("no destinations to copy to");
            } else {
                for r in &reports {
                    println!("{}", r.summary());
                }
            }
            Ok(sync_exit_code(&reports))
        }
        DestCommand::Ls { name, json } => {
            let archives = jobs::dest_ls(ctx, &name)?;
            if json {
                print_json(&archives)?;
                return Ok(0);
            }
            for a in &archives {
                println!(
                    "{}  {}  {}  {}",
                    a.backup_id.map_or("-".to_string(), |id| id.to_string()),
                    a.name,
                    human_size(a.size_bytes),
                    a.modified
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default()
                );
            }
            Ok(0)
        }
    }
}

/// 0 when every destination took its copies, 1 when any copy failed.
fn sync_exit_code(reports: &[DestSync]) -> i32 {
    if reports
        .iter()
        .any(|r| r.error.is_some() || !r.failed.is_empty())
    {
        1
    } else {
        0
    }
}

/// Prints what copying after a backup did, on stderr (stdout holds the archive's path).
pub(super) fn print_copies(copies: &[DestSync]) {
    for c in copies {
        let word = if c.error.is_some() || !c.failed.is_empty() {
            "copy failed"
        } else {
            "copied"
        };
        eprintln!("{word}: {}", c.summary());
    }
}
