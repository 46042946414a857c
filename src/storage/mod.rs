//! Destinations: copies of a profile's archives in other places (a folder, S3-compatible object storage, SFTP,
//! WebDAV), all through Apache OpenDAL.
//!
//! - `spec.rs`: the destination as the config holds it, every field checked.
//! - `remote.rs`: a connected destination: streamed uploads and downloads that hash what they move, lists,
//!   deletes, ranged reads for manifests.
//! - this file: what Backstop keeps at a destination besides archives, and which names are archives.
//!
//! At a destination, Backstop writes directly into the destination's folder or prefix: each archive under its
//! own name, its `.sha256` sidecar beside it (so `sha256sum -c` checks a download), and one marker,
//! `.backstop-destination.json`, naming the Backstop home and profile that use the folder. A home never writes
//! into a folder whose marker names another home or profile: two machines sharing a bucket with different
//! prefixes never meet, and the same prefix given twice by mistake is refused instead of mixing. A fresh home
//! takes a folder over only through `catalog rebuild --from` (the disaster case).

mod remote;
mod resume;
mod s3;
pub mod spec;
mod webdav;

pub use remote::{CHUNK, Moved, Remote, RemoteFile, RemoteObject, SHA256_META, partial_name};
pub use resume::{Resumed, UploadMemory};
pub use spec::{Destination, Target};

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The marker object's name.
pub const MARKER: &str = ".backstop-destination.json";

/// Largest marker read (anything bigger is not Backstop's).
const MARKER_MAX: u64 = 64 << 10;

/// What the marker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// Always `backstop-destination`.
    pub format: String,
    /// The home that uses this folder.
    pub home_id: String,
    /// Its profile whose archives are here.
    pub profile: String,
    /// The machine's name, for people.
    pub machine: String,
    /// When the home claimed the folder.
    pub claimed_at: DateTime<Utc>,
}

const MARKER_FORMAT: &str = "backstop-destination";

/// Reads the destination's marker (None when there is none).
pub fn read_marker(remote: &Remote) -> Result<Option<Marker>> {
    let Some(bytes) = remote.read_small(MARKER, MARKER_MAX)? else {
        return Ok(None);
    };
    let marker: Marker = serde_json::from_slice(&bytes).map_err(|e| Error::DestinationFailed {
        dest: remote.name().to_string(),
        detail: format!("its {MARKER} is not Backstop's ({e}); choose another folder or prefix"),
    })?;
    if marker.format != MARKER_FORMAT {
        return Err(Error::DestinationFailed {
            dest: remote.name().to_string(),
            detail: format!("its {MARKER} is not Backstop's; choose another folder or prefix"),
        });
    }
    Ok(Some(marker))
}

/// Makes sure the folder is this home's and profile's: writes the marker where there is none, refuses one that
/// names another home or profile.
pub fn claim(remote: &Remote, home_id: &str, profile: &str) -> Result<()> {
    match read_marker(remote)? {
        Some(m) if m.home_id == home_id && m.profile == profile => Ok(()),
        Some(m) => Err(Error::DestinationFailed {
            dest: remote.name().to_string(),
            detail: format!(
                "this folder holds the backups of profile {} of another Backstop home (machine {}, since {}); \
                 nothing was written. Give this destination a prefix or folder of its own, or, on a new machine \
                 that replaces that one, take the folder over with `backstop catalog rebuild --from {}`",
                m.profile,
                m.machine,
                m.claimed_at.format("%Y-%m-%d"),
                remote.name()
            ),
        }),
        None => write_marker(remote, home_id, profile),
    }
}

/// Writes this home's marker (a claim, or a take-over by `catalog rebuild --from`).
pub fn write_marker(remote: &Remote, home_id: &str, profile: &str) -> Result<()> {
    let marker = Marker {
        format: MARKER_FORMAT.to_string(),
        home_id: home_id.to_string(),
        profile: profile.to_string(),
        machine: spec::machine_name(),
        claimed_at: Utc::now(),
    };
    let text = serde_json::to_vec_pretty(&marker).map_err(|e| Error::DestinationFailed {
        dest: remote.name().to_string(),
        detail: format!("cannot write the marker: {e}"),
    })?;
    remote.write_small(MARKER, &text)
}

/// Whether a name at a destination is an archive Backstop may read (a Backstop archive name ending in `.zip`);
/// sidecars, the marker, uploads in progress and anything else are not.
pub fn is_archive_name(name: &str) -> bool {
    (name.ends_with(".zip") || name.ends_with(".zip.age"))
        && !name.starts_with('.')
        && crate::archive::unsafe_name_reason(name).is_none()
}

/// Whether an archive's name says it is encrypted (`.zip.age`).
pub fn is_encrypted_name(name: &str) -> bool {
    name.ends_with(crate::crypto::AGE_SUFFIX)
}

/// The sidecar's name of an archive at a destination.
pub fn sidecar_name(archive: &str) -> String {
    format!("{archive}.sha256")
}

/// A new home id: 128 bits from the time, the process and the address space, hashed.
pub fn new_home_id() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(
        Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_le_bytes(),
    );
    hasher.update(std::process::id().to_le_bytes());
    let local = 0u8;
    hasher.update((std::ptr::addr_of!(local) as usize).to_le_bytes());
    hasher.update(spec::machine_name().as_bytes());
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let mut buf = [0u8; 16];
        if std::io::Read::read_exact(&mut f, &mut buf).is_ok() {
            hasher.update(buf);
        }
    }
    hex::encode(hasher.finalize().get(..16).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_archive_names_are_archives() {
        assert!(is_archive_name("shop_full_20261203T101010Z_manual.zip"));
        assert!(!is_archive_name(
            "shop_full_20261203T101010Z_manual.zip.sha256"
        ));
        assert!(!is_archive_name(MARKER));
        assert!(!is_archive_name(&partial_name("shop.zip")));
        assert!(!is_archive_name("../x.zip"));
    }

    #[test]
    fn home_ids_differ() {
        let a = new_home_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_home_id());
    }
}
