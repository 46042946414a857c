//! A destination as the config file holds it (`[[destination]]`): where a profile's copies go, checked field by
//! field. No secret is ever part of it: S3 secret keys and WebDAV passwords live in the keyring (or, by choice, a
//! 0600 file) under the account `dest.<name>`; SFTP uses a key file the user names.

use crate::secrets::SecretStore;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One destination of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Letters, digits and `-` (as profile names); unique in the config.
    pub name: String,
    /// The profile whose backups are copied here.
    pub profile: String,
    /// Where the copies go.
    pub target: Target,
    /// Keep at most this many copies here (None: the profile's `keep_last`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Delete copies older than this many days (None: the profile's `max_age_days`; 0: no age limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// Where the destination's secret (S3 secret key, WebDAV password) is stored, when it has one.
    #[serde(default)]
    pub secret_store: SecretStore,
}

/// The kinds of storage a destination can be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// Another local folder: a USB disk, a NAS mount.
    Folder {
        /// Absolute path.
        path: PathBuf,
    },
    /// S3-compatible object storage (AWS, MinIO, Ceph, Backblaze B2, Cloudflare R2, ...).
    S3 {
        /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:9000`.
        endpoint: String,
        /// The bucket.
        bucket: String,
        /// Key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
        /// The region (`us-east-1` when not given; R2 wants `auto`).
        region: String,
        /// Path-style requests (`http://host/bucket/key`), as MinIO and Ceph need; otherwise virtual-host style.
        path_style: bool,
        /// The access key id (not a secret; the secret key is in the secret store).
        access_key_id: String,
    },
    /// An SFTP server through the system's OpenSSH client (keys from the agent, `--identity` or `~/.ssh`).
    Sftp {
        /// Login name.
        user: String,
        /// Host name or address.
        host: String,
        /// Port (22).
        port: u16,
        /// Absolute folder on the server.
        path: String,
        /// Private key file, when not the ssh defaults.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<PathBuf>,
    },
    /// A WebDAV server (Nextcloud, ownCloud, a NAS, `rclone serve webdav`).
    Webdav {
        /// `https://cloud.example.com/remote.php/dav/files/me/backups`.
        url: String,
        /// Login name, when the server asks for one (the password is in the secret store).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
}

impl Target {
    /// `folder`, `s3`, `sftp` or `webdav`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Folder { .. } => "folder",
            Target::S3 { .. } => "s3",
            Target::Sftp { .. } => "sftp",
            Target::Webdav { .. } => "webdav",
        }
    }

    /// Where it is, for people: `s3://bucket/prefix at http://host:9000`, `sftp://user@host:22/path`.
    pub fn describe(&self) -> String {
        match self {
            Target::Folder { path } => path.display().to_string(),
            Target::S3 {
                endpoint,
                bucket,
                prefix,
                ..
            } => {
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("/{prefix}")
                };
                format!("s3://{bucket}{prefix} at {endpoint}")
            }
            Target::Sftp {
                user,
                host,
                port,
                path,
                ..
            } => format!("sftp://{user}@{host}:{port}{path}"),
            Target::Webdav { url, .. } => url.clone(),
        }
    }

    /// Whether this kind of destination has a secret in the secret store.
    pub fn has_secret(&self) -> bool {
        match self {
            Target::S3 { .. } => true,
            Target::Webdav { user, .. } => user.is_some(),
            Target::Folder { .. } | Target::Sftp { .. } => false,
        }
    }
}

impl Destination {
    /// The secret store account of this destination's secret: `dest.<name>` (a `.` never occurs in a profile
    /// name, so it cannot meet a database password's account).
    pub fn secret_account(&self) -> String {
        secret_account(&self.name)
    }

    /// Why this destination cannot be used, each problem named by its field.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = crate::config::validate_profile_name(&self.name) {
            problems.push(
                e.to_string()
                    .replace("invalid profile name", "invalid destination name"),
            );
        }
        match &self.target {
            Target::Folder { path } => {
                if !path.is_absolute() {
                    problems.push(format!("path {} is not absolute", path.display()));
                }
            }
            Target::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id,
                ..
            } => {
                problems.extend(url_problem("endpoint", endpoint));
                if !bucket_ok(bucket) {
                    problems.push(format!(
                        "bucket '{bucket}' is not a valid bucket name (3 to 63 lowercase letters, digits, '.' and '-')"
                    ));
                }
                problems.extend(prefix_problem(prefix));
                if region.is_empty()
                    || !region
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    problems.push(format!("region '{region}' is not a region name"));
                }
                if access_key_id.is_empty()
                    || access_key_id
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control())
                {
                    problems.push("access key id is empty or has spaces".to_string());
                }
            }
            Target::Sftp {
                user, host, path, ..
            } => {
                if user.is_empty()
                    || user
                        .chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                {
                    problems.push(format!("user '{user}' is not a login name"));
                }
                if host.is_empty()
                    || host.starts_with('-')
                    || host
                        .chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
                {
                    problems.push(format!("host '{host}' is not a host name or address"));
                }
                if !path.starts_with('/') || path.contains('\0') {
                    problems.push(format!(
                        "path '{path}' is not an absolute folder on the server"
                    ));
                }
            }
            Target::Webdav { url, user } => {
                problems.extend(url_problem("url", url));
                if user
                    .as_deref()
                    .is_some_and(|u| u.is_empty() || u.contains(['\n', '\r', ':']))
                {
                    problems.push("user is empty or has a ':' or a line break".to_string());
                }
            }
        }
        if self.keep_last == Some(0) {
            problems.push("keep_last must be at least 1".to_string());
        }
        problems
    }
}

/// `dest.<name>`: see [`Destination::secret_account`].
pub fn secret_account(name: &str) -> String {
    format!("dest.{name}")
}

/// Parses `USER@HOST[:PORT]/PATH` (the `--sftp` argument). IPv6 hosts go in brackets: `me@[::1]:2222/backups`.
pub fn parse_sftp(text: &str) -> Result<(String, String, u16, String), String> {
    let bad = || {
        format!(
            "--sftp '{text}' is not USER@HOST[:PORT]/PATH (for example backup@nas.local:22/srv/backups)"
        )
    };
    let (user, rest) = text.split_once('@').ok_or_else(bad)?;
    let slash = rest.find('/').ok_or_else(bad)?;
    let (host_port, path) = rest.split_at(slash);
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if after.is_empty() => 22,
            None => return Err(bad()),
        };
        (host.to_string(), port)
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host.to_string(), port.parse::<u16>().map_err(|_| bad())?),
            None => (host_port.to_string(), 22),
        }
    };
    if user.is_empty() || host.is_empty() || port == 0 {
        return Err(bad());
    }
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    Ok((user.to_string(), host, port, path.to_string()))
}

/// The prefix as stored: no leading or trailing `/`, no empty, `.` or `..` parts.
pub fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_matches('/').to_string()
}

fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    let bad_part = prefix
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..");
    if bad_part || prefix.chars().any(|c| c.is_control() || c == '\\') || prefix.len() > 512 {
        return Some(format!(
            "prefix '{prefix}' must be folder names separated by '/' (no empty, '.' or '..' parts)"
        ));
    }
    None
}

fn url_problem(field: &str, url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            None
        }
        _ => Some(format!(
            "{field} '{url}' is not an http:// or https:// address"
        )),
    }
}

fn bucket_ok(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && !bucket.starts_with(['.', '-'])
        && !bucket.ends_with(['.', '-'])
}

/// This machine's name for default prefixes: the host name, reduced to letters, digits and `-`.
pub fn machine_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "this-machine".to_string()
    } else {
        name
    }
}

/// The default prefix of an S3 destination: `backstop/<machine>/<profile>`, so that several machines and
/// profiles share one bucket without meeting.
pub fn default_prefix(profile: &str) -> String {
    format!("backstop/{}/{profile}", machine_name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sftp_arguments_parse() {
        assert_eq!(
            parse_sftp("backup@nas.local:2222/srv/backups/").unwrap(),
            (
                "backup".into(),
                "nas.local".into(),
                2222,
                "/srv/backups".into()
            )
        );
        assert_eq!(
            parse_sftp("me@host/x").unwrap(),
            ("me".into(), "host".into(), 22, "/x".into())
        );
        assert_eq!(
            parse_sftp("me@[::1]:2200/data").unwrap(),
            ("me".into(), "::1".into(), 2200, "/data".into())
        );
        assert_eq!(parse_sftp("me@host:22/").unwrap().3, "/");
        for bad in [
            "host/x",
            "me@host",
            "@host/x",
            "me@:22/x",
            "me@host:0/x",
            "me@host:abc/x",
            "me@[::1/x",
        ] {
            assert!(parse_sftp(bad).is_err(), "{bad}");
        }
    }

    fn s3(bucket: &str, prefix: &str) -> Destination {
        Destination {
            name: "off".into(),
            profile: "shop".into(),
            target: Target::S3 {
                endpoint: "http://127.0.0.1:9000".into(),
                bucket: bucket.into(),
                prefix: prefix.into(),
                region: "us-east-1".into(),
                path_style: true,
                access_key_id: "AKIA".into(),
            },
            keep_last: None,
            max_age_days: None,
            secret_store: SecretStore::Keyring,
        }
    }

    #[test]
    fn fields_are_checked() {
        assert!(s3("backups", "a/b").problems().is_empty());
        assert!(s3("Bad_Bucket", "").problems()[0].contains("bucket"));
        assert!(s3("backups", "a/../b").problems()[0].contains("prefix"));
        assert!(s3("backups", "a//b").problems()[0].contains("prefix"));
        let mut bad_name = s3("backups", "");
        bad_name.name = "off site".into();
        assert!(bad_name.problems()[0].contains("invalid destination name"));
        let web = Destination {
            target: Target::Webdav {
                url: "ftp://x".into(),
                user: None,
            },
            ..s3("backups", "")
        };
        assert!(web.problems()[0].contains("http"));
        let sftp = Destination {
            target: Target::Sftp {
                user: "me".into(),
                host: "-oProxyCommand=x".into(),
                port: 22,
                path: "/x".into(),
                identity: None,
            },
            ..s3("backups", "")
        };
        assert!(sftp.problems()[0].contains("host"), "{:?}", sftp.problems());
    }

    #[test]
    fn the_default_prefix_names_machine_and_profile() {
        let prefix = default_prefix("shop");
        assert!(
            prefix.starts_with("backstop/") && prefix.ends_with("/shop"),
            "{prefix}"
        );
        assert!(prefix_problem(&prefix).is_none());
    }
}
