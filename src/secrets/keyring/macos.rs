//! macOS: the user's login Keychain (generic passwords, service `backstop`, account = profile name).

use keyring_core::Entry;
use keyring_core::api::CredentialStoreApi;

/// The keyring as messages name it.
pub(super) const NAME: &str = "the macOS Keychain";

/// Why a call may have gone unanswered, said after the timeout.
pub(super) const NO_ANSWER_HINT: &str = "is the login keychain locked and waiting for its password, or asking \
     whether backstop may use the item? Answer the dialog (\"Always Allow\") and try again";

/// Said when the store refuses access (`NoStorageAccess`).
pub(super) const NO_ACCESS: &str = "the login keychain is unavailable, read-only or refused access";

/// Where the user removes duplicate entries.
pub(super) const MANAGER: &str = "Keychain Access";

/// The profile's entry in the login keychain.
pub(super) fn entry(service: &str, user: &str) -> keyring_core::Result<Entry> {
    apple_native_keyring_store::keychain::Store::new()
        .and_then(|store| store.build(service, user, None))
}

/// What a platform failure means here. The Security framework's message names the OSStatus, e.g. "User
/// interaction is not allowed." (errSecInteractionNotAllowed, -25308) for a locked keychain when nobody can be
/// asked, as in a launchd job.
pub(super) fn failure(why: String) -> String {
    let lower = why.to_lowercase();
    if lower.contains("interaction is not allowed") || why.contains("-25308") {
        format!(
            "the login keychain is locked and cannot ask for its password here (no one to answer a dialog) ({why})"
        )
    } else if why.contains("-128") {
        format!("the keychain dialog was cancelled ({why})")
    } else {
        format!("the macOS Keychain failed ({why})")
    }
}
