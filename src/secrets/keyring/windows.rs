//! Windows: Credential Manager (generic credentials; target name `<profile>.backstop`, user name = profile name).

use keyring_core::Entry;
use keyring_core::api::CredentialStoreApi;

/// The keyring as messages name it.
pub(super) const NAME: &str = "Windows Credential Manager";

/// Why a call may have gone unanswered, said after the timeout.
pub(super) const NO_ANSWER_HINT: &str = "is the Credential Manager service (VaultSvc) running?";

/// Said when the store refuses access (`NoStorageAccess`): Windows reports ERROR_NO_SUCH_LOGON_SESSION, as for
/// a scheduled task set to run whether the user is logged on or not without their password stored.
pub(super) const NO_ACCESS: &str = "Credential Manager is not available in this logon session (a scheduled task \
     must run as the logged-on user, or with the user's password stored)";

/// Where the user removes duplicate entries.
pub(super) const MANAGER: &str = "Credential Manager (Control Panel, Windows Credentials)";

/// The profile's entry in Credential Manager.
pub(super) fn entry(service: &str, user: &str) -> keyring_core::Result<Entry> {
    windows_native_keyring_store::Store::new().and_then(|store| store.build(service, user, None))
}

/// What a platform failure means here: the Win32 error code, as the store reports it.
pub(super) fn failure(why: String) -> String {
    format!("Windows Credential Manager failed ({why})")
}
