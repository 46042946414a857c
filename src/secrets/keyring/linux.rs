//! Linux: the D-Bus Secret Service (GNOME Keyring, KWallet, KeePassXC) through the pure-Rust zbus store.

use keyring_core::Entry;
use keyring_core::api::CredentialStoreApi;

/// The keyring as messages name it.
pub(super) const NAME: &str = "the Secret Service";

/// Why a call may have gone unanswered, said after the timeout.
pub(super) const NO_ANSWER_HINT: &str = "is the keyring locked and waiting for an unlock prompt?";

/// Said when the store refuses access (`NoStorageAccess`).
pub(super) const NO_ACCESS: &str = "the keyring is locked or refused access";

/// Where the user removes duplicate entries.
pub(super) const MANAGER: &str = "your keyring manager (e.g. Seahorse)";

/// The profile's entry in a store connected for this call.
pub(super) fn entry(service: &str, user: &str) -> keyring_core::Result<Entry> {
    zbus_secret_service_keyring_store::Store::new()
        .and_then(|store| store.build(service, user, None))
}

/// What a platform failure means here: no session bus, no Secret Service on it, or the service failed.
pub(super) fn failure(why: String) -> String {
    if why.contains("Failed to connect") || why.contains("no secret service provider") {
        format!(
            "no D-Bus session bus, so no Secret Service (such as GNOME Keyring or KWallet) can be reached ({why})"
        )
    } else if why.contains("ServiceUnknown") || why.contains("NameHasNoOwner") {
        format!(
            "no Secret Service (such as GNOME Keyring or KWallet) runs on the D-Bus session bus ({why})"
        )
    } else {
        format!("the Secret Service failed ({why})")
    }
}
