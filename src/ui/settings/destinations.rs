//! The Settings section "Copies elsewhere" of a profile: its destinations (Test, Remove, and the disaster case's
//! "Rebuild the catalog from it"), a form that adds one (a folder, S3, SFTP or WebDAV, checked by connecting
//! first), and the profile's encryption. Like "On this computer", these act at once through the worker; they are
//! not part of the draft's Save and Revert. The form's fields are checked as typed with the same rules the CLI
//! uses (`Destination::problems`), before anything is sent.

use super::form::{help_line, problem_line, section};
use crate::config::Profile;
use crate::secrets::SecretStore;
use crate::storage::{Destination, Target, spec};
use crate::ui::app::BackstopApp;
use crate::worker::{EncryptRequest, JobRequest, Password};
use egui::RichText;

/// The kinds the form offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DestKind {
    /// Another folder.
    #[default]
    Folder,
    /// S3-compatible object storage.
    S3,
    /// SFTP.
    Sftp,
    /// WebDAV.
    Webdav,
}

/// The "add a destination" form and the encryption fields.
#[derive(Debug, Clone, Default)]
pub struct DestForm {
    /// Which kind.
    pub kind: DestKind,
    /// Its name.
    pub name: String,
    /// Folder path, S3 endpoint, `user@host[:port]/path`, or WebDAV URL.
    pub location: String,
    /// S3 bucket.
    pub bucket: String,
    /// S3 prefix (empty: `backstop/<machine>/<profile>`).
    pub prefix: String,
    /// S3 region (empty: us-east-1).
    pub region: String,
    /// S3 path-style requests.
    pub path_style: bool,
    /// S3 access key id, or the WebDAV login.
    pub login: String,
    /// SFTP key file.
    pub identity: String,
    /// S3 secret key or WebDAV password.
    pub secret: Password,
    /// Keep at most this many copies there (empty: the profile's keep-last).
    pub keep_last: String,
    /// Keep the secret in a 0600 file rather than the keyring.
    pub secret_in_file: bool,
    /// A new encryption passphrase.
    pub passphrase: Password,
    /// The passphrase typed again.
    pub passphrase_again: Password,
    /// Encrypt only the copies at destinations.
    pub offsite_only: bool,
}

impl DestForm {
    /// The destination the form describes for `profile`, or why it cannot be added yet.
    pub fn destination(&self, profile: &str) -> Result<(Destination, Option<Password>), String> {
        let location = self.location.trim();
        let target = match self.kind {
            DestKind::Folder => Target::Folder {
                path: location.into(),
            },
            DestKind::S3 => Target::S3 {
                endpoint: location.trim_end_matches('/').to_string(),
                bucket: self.bucket.trim().to_string(),
                prefix: spec::normalize_prefix(
                    match self.prefix.trim() {
                        "" => spec::default_prefix(profile),
                        p => p.to_string(),
                    }
                    .as_str(),
                ),
                region: match self.region.trim() {
                    "" => "us-east-1".to_string(),
                    r => r.to_string(),
                },
                path_style: self.path_style,
                access_key_id: self.login.trim().to_string(),
            },
            DestKind::Sftp => {
                let (user, host, port, path) = spec::parse_sftp(location)?;
                Target::Sftp {
                    user,
                    host,
                    port,
                    path,
                    identity: Some(self.identity.trim())
                        .filter(|i| !i.is_empty())
                        .map(Into::into),
                }
            }
            DestKind::Webdav => Target::Webdav {
                url: location.trim_end_matches('/').to_string(),
                user: Some(self.login.trim().to_string()).filter(|u| !u.is_empty()),
            },
        };
        let keep_last = match self.keep_last.trim() {
            "" => None,
            n => Some(
                n.parse::<u32>()
                    .map_err(|_| format!("keep last '{n}' is not a number"))?,
            ),
        };
        let dest = Destination {
            name: self.name.trim().to_string(),
            profile: profile.to_string(),
            target,
            keep_last,
            max_age_days: None,
            secret_store: if self.secret_in_file {
                SecretStore::File
            } else {
                SecretStore::Keyring
            },
        };
        if let Some(problem) = dest.problems().into_iter().next() {
            return Err(problem);
        }
        let secret = match (dest.target.has_secret(), self.secret.0.is_empty()) {
            (true, true) => {
                return Err(match self.kind {
                    DestKind::S3 => "the secret access key is empty".to_string(),
                    _ => "the password is empty".to_string(),
                });
            }
            (true, false) => Some(self.secret.clone()),
            (false, _) => None,
        };
        Ok((dest, secret))
    }
}

impl BackstopApp {
    /// The section "Copies elsewhere" of `profile`.
    pub(super) fn copies_elsewhere(&mut self, ui: &mut egui::Ui, profile: &Profile) {
        let dests: Vec<crate::jobs::DestInfo> = self
            .state
            .snapshot
            .destinations
            .iter()
            .filter(|d| d.profile == profile.name)
            .cloned()
            .collect();
        let mut form = std::mem::take(&mut self.settings.dest_form);
        let mut request = None;
        section(ui, "Copies elsewhere", |ui| {
            help_line(
                ui,
                "Each backup is copied to every destination here, read back and checked. These act at once: they \
                 are not part of Save and Revert.",
            );
            if dests.is_empty() {
                help_line(
                    ui,
                    "No destination yet: every backup is on this computer only.",
                );
            }
            for d in &dests {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(&d.name).strong());
                    ui.label(format!("{}: {}", d.kind, d.location));
                    if ui.button("Test").clicked() {
                        request = Some(JobRequest::TestDestination(d.name.clone()));
                    }
                    if ui
                        .button("Rebuild the catalog from it")
                        .on_hover_text(
                            "A new machine: add every backup there to this catalog, from the archives' \
                             manifests, so that each can be restored from its copy",
                        )
                        .clicked()
                    {
                        request = Some(JobRequest::RebuildFrom(d.name.clone()));
                    }
                    if ui
                        .button("Remove")
                        .on_hover_text("Stop copying there; the copies there are left alone")
                        .clicked()
                    {
                        request = Some(JobRequest::RemoveDestination(d.name.clone()));
                    }
                });
            }
            ui.add_space(6.0);
            ui.label(RichText::new("Add a destination").strong());
            ui.horizontal(|ui| {
                for (kind, label) in [
                    (DestKind::Folder, "Folder"),
                    (DestKind::S3, "S3"),
                    (DestKind::Sftp, "SFTP"),
                    (DestKind::Webdav, "WebDAV"),
                ] {
                    ui.radio_value(&mut form.kind, kind, label);
                }
            });
            let location_label = match form.kind {
                DestKind::Folder => "Folder",
                DestKind::S3 => "Endpoint URL",
                DestKind::Sftp => "user@host[:port]/path",
                DestKind::Webdav => "Folder URL",
            };
            egui::Grid::new("dest-form").num_columns(2).show(ui, |ui| {
                let row = |ui: &mut egui::Ui, label: &str, value: &mut String, secret: bool| {
                    let name = ui.label(label);
                    ui.add(
                        egui::TextEdit::singleline(value)
                            .password(secret)
                            .desired_width(320.0)
                            .id_salt(("dest-form", label)),
                    )
                    .labelled_by(name.id);
                    ui.end_row();
                };
                row(ui, "Destination name", &mut form.name, false);
                row(ui, location_label, &mut form.location, false);
                match form.kind {
                    DestKind::S3 => {
                        row(ui, "Bucket", &mut form.bucket, false);
                        row(ui, "Prefix", &mut form.prefix, false);
                        row(ui, "Region", &mut form.region, false);
                        row(ui, "Access key id", &mut form.login, false);
                        row(ui, "Secret access key", &mut form.secret.0, true);
                    }
                    DestKind::Sftp => row(ui, "Key file", &mut form.identity, false),
                    DestKind::Webdav => {
                        row(ui, "Login", &mut form.login, false);
                        row(ui, "Password", &mut form.secret.0, true);
                    }
                    DestKind::Folder => {}
                }
                row(ui, "Keep last", &mut form.keep_last, false);
            });
            if form.kind == DestKind::S3 {
                ui.checkbox(
                    &mut form.path_style,
                    "Path-style requests (MinIO, Ceph, servers of your own)",
                );
            }
            if matches!(form.kind, DestKind::S3 | DestKind::Webdav) {
                ui.checkbox(
                    &mut form.secret_in_file,
                    "Keep the secret in a private file instead of the keyring",
                );
            }
            let checked = form.destination(&profile.name);
            let ready = !form.name.trim().is_empty() && !form.location.trim().is_empty();
            if let (Err(problem), true) = (&checked, ready) {
                problem_line(ui, problem);
            }
            if ui
                .add_enabled(
                    ready && checked.is_ok(),
                    egui::Button::new("Add destination"),
                )
                .clicked()
                && let Ok((dest, secret)) = checked
            {
                request = Some(JobRequest::AddDestination(Box::new(dest), secret));
                form = DestForm {
                    kind: form.kind,
                    ..DestForm::default()
                };
            }

            ui.add_space(6.0);
            ui.label(RichText::new("Encryption").strong());
            help_line(ui, &encryption_state(profile));
            ui.horizontal(|ui| {
                let name = ui.label("New passphrase");
                ui.add(
                    egui::TextEdit::singleline(&mut form.passphrase.0)
                        .password(true)
                        .id_salt("encrypt-passphrase"),
                )
                .labelled_by(name.id);
                let again = ui.label("again");
                ui.add(
                    egui::TextEdit::singleline(&mut form.passphrase_again.0)
                        .password(true)
                        .id_salt("encrypt-passphrase-again"),
                )
                .labelled_by(again.id);
            });
            ui.checkbox(
                &mut form.offsite_only,
                "Encrypt only the copies at destinations",
            );
            let problem = passphrase_problem(&form.passphrase.0, &form.passphrase_again.0);
            if let (Some(problem), false) = (&problem, form.passphrase.0.is_empty()) {
                problem_line(ui, problem);
            }
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        problem.is_none(),
                        egui::Button::new("Encrypt new backups with it"),
                    )
                    .clicked()
                {
                    request = Some(JobRequest::SetEncryption {
                        profile: profile.name.clone(),
                        change: EncryptRequest::Passphrase(form.passphrase.clone()),
                        offsite_only: form.offsite_only,
                        store: if form.secret_in_file {
                            SecretStore::File
                        } else {
                            SecretStore::Keyring
                        },
                    });
                    form.passphrase = Password::default();
                    form.passphrase_again = Password::default();
                }
                if profile.encryption.is_some()
                    && ui.button("Stop encrypting new backups").clicked()
                {
                    request = Some(JobRequest::SetEncryption {
                        profile: profile.name.clone(),
                        change: EncryptRequest::Off,
                        offsite_only: false,
                        store: SecretStore::Keyring,
                    });
                }
            });
        });
        self.settings.dest_form = form;
        if let Some(request) = request {
            self.submit(request);
        }
    }
}

/// What the profile's encryption is now, in words.
fn encryption_state(profile: &Profile) -> String {
    match &profile.encryption {
        None => "Not encrypted: the archives are ordinary zip files.".to_string(),
        Some(e) => {
            let scope = if e.offsite_only {
                "the copies at destinations"
            } else {
                "every backup and copy"
            };
            match &e.passphrase_id {
                Some(id) => format!(
                    "Encrypted with age ({scope}), passphrase {id}. A new passphrase applies to new backups; older \
                     ones keep theirs."
                ),
                None => format!(
                    "Encrypted with age ({scope}) to {} recipient key(s): this computer cannot decrypt them.",
                    e.recipients.len()
                ),
            }
        }
    }
}

/// Why the passphrase fields cannot be used yet.
fn passphrase_problem(passphrase: &str, again: &str) -> Option<String> {
    if passphrase.chars().count() < crate::jobs::MIN_PASSPHRASE {
        return Some(format!(
            "The passphrase needs at least {} characters",
            crate::jobs::MIN_PASSPHRASE
        ));
    }
    if passphrase != again {
        return Some("The two passphrases differ".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_form_makes_the_destination_the_cli_would() {
        let form = DestForm {
            kind: DestKind::S3,
            name: "offsite".into(),
            location: "http://127.0.0.1:9000/".into(),
            bucket: "backups".into(),
            login: "AKIA".into(),
            secret: Password("s".into()),
            ..DestForm::default()
        };
        let (dest, secret) = form.destination("shop").unwrap();
        assert!(secret.is_some());
        match dest.target {
            Target::S3 {
                endpoint,
                prefix,
                region,
                ..
            } => {
                assert_eq!(endpoint, "http://127.0.0.1:9000");
                assert_eq!(prefix, spec::default_prefix("shop"));
                assert_eq!(region, "us-east-1");
            }
            other => panic!("{other:?}"),
        }
        let no_secret = DestForm {
            secret: Password::default(),
            ..form.clone()
        };
        assert!(
            no_secret
                .destination("shop")
                .unwrap_err()
                .contains("secret")
        );
        let relative = DestForm {
            kind: DestKind::Folder,
            name: "usb".into(),
            location: "usb".into(),
            ..DestForm::default()
        };
        assert!(
            relative
                .destination("shop")
                .unwrap_err()
                .contains("not absolute")
        );
    }

    #[test]
    fn passphrases_must_be_long_and_typed_twice_alike() {
        assert!(passphrase_problem("short", "short").is_some());
        assert!(passphrase_problem("long enough", "long enougH").is_some());
        assert!(passphrase_problem("long enough", "long enough").is_none());
    }
}
