//! Native file dialogs (rfd through the desktop portal) behind a small trait, answered on a thread of their own so
//! the window never waits for them, and the desktop's file manager for "Open folder". Where no portal answers, the
//! answer says so and every dialog action also has a typed path field.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// What a dialog is for; the answer comes back tagged with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogPurpose {
    /// Archives or database files to import (several).
    Import,
    /// Where to export a backup (a save dialog).
    Export {
        /// Backup id.
        id: i64,
        /// Suggested file name.
        file_name: String,
    },
    /// The SQLite database of the profile being edited.
    DatabaseFile,
    /// The files folder of the profile being edited.
    FilesFolder,
    /// The storage folder of the profile being edited.
    StorageFolder,
    /// The SQLite database of a new profile.
    NewProfileDatabase,
    /// The folder the restore dialog restores chosen files into.
    RestoreDestination,
}

/// A dialog's answer: the paths chosen (empty when cancelled or when no dialog could be shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogAnswer {
    /// What it was for.
    pub purpose: DialogPurpose,
    /// Paths chosen.
    pub paths: Vec<PathBuf>,
    /// Why no dialog could be shown (no desktop portal), when that was the case: the window then says so and puts
    /// the cursor in the typed path field.
    pub unavailable: Option<String>,
}

impl DialogAnswer {
    fn chosen(purpose: DialogPurpose, paths: Vec<PathBuf>) -> Self {
        DialogAnswer {
            purpose,
            paths,
            unavailable: None,
        }
    }
}

/// Shows file dialogs, and folders in the file manager.
pub trait Dialogs: Send {
    /// Opens a dialog; the answer is sent on `reply` later (never blocks the caller).
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>);
    /// Shows `folder` in the desktop's file manager (without waiting for it); why not, when it cannot.
    fn open_folder(&self, folder: &Path) -> Result<(), String>;
}

/// Why no file dialog can open here, if that is known before trying: on Linux and the BSDs the dialogs go through
/// the XDG desktop portal on the session bus, so without a session bus there is none.
fn no_portal_reason() -> Option<String> {
    if cfg!(any(target_os = "macos", windows)) {
        return None;
    }
    let bus_env = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    let bus_socket =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| Path::new(&dir).join("bus").exists());
    (!bus_env && !bus_socket).then(|| {
        "no file dialog can open here (there is no desktop session bus for the file-chooser portal)".to_string()
    })
}

/// A dialog that came back empty faster than a person can cancel one was never shown: the portal refused it.
pub fn never_shown(elapsed: std::time::Duration) -> bool {
    elapsed < std::time::Duration::from_millis(400)
}

/// The program that shows a folder in the desktop's file manager.
fn file_manager() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    }
}

/// The desktop's own dialogs, through rfd and the XDG desktop portal.
pub struct NativeDialogs;

impl Dialogs for NativeDialogs {
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>) {
        if let Some(why) = no_portal_reason() {
            let _ = reply.send(DialogAnswer {
                purpose,
                paths: Vec::new(),
                unavailable: Some(why),
            });
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("backstop-dialog".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let dialog = rfd::FileDialog::new();
                let paths: Vec<PathBuf> = match &purpose {
                    DialogPurpose::Import => dialog
                        .set_title("Import backups")
                        .add_filter(
                            "Backups and databases",
                            &[
                                "zip", "gz", "tgz", "tar", "sqlite", "sqlite3", "db", "dump",
                                "sql", "psql", "bin",
                            ],
                        )
                        .add_filter("All files", &["*"])
                        .pick_files()
                        .unwrap_or_default(),
                    DialogPurpose::Export { file_name, .. } => dialog
                        .set_title("Export backup")
                        .set_file_name(file_name)
                        .save_file()
                        .into_iter()
                        .collect(),
                    DialogPurpose::DatabaseFile | DialogPurpose::NewProfileDatabase => dialog
                        .set_title("Choose the SQLite database")
                        .add_filter("SQLite databases", &["sqlite", "sqlite3", "db"])
                        .add_filter("All files", &["*"])
                        .pick_file()
                        .into_iter()
                        .collect(),
                    DialogPurpose::FilesFolder => dialog
                        .set_title("Choose the files folder")
                        .pick_folder()
                        .into_iter()
                        .collect(),
                    DialogPurpose::StorageFolder => dialog
                        .set_title("Choose where archives are kept")
                        .pick_folder()
                        .into_iter()
                        .collect(),
                    DialogPurpose::RestoreDestination => dialog
                        .set_title("Choose the folder to restore the chosen files into")
                        .pick_folder()
                        .into_iter()
                        .collect(),
                };
                let unavailable = (paths.is_empty() && never_shown(started.elapsed())).then(|| {
                    "no file dialog could open here (the desktop's file-chooser portal did not answer)".to_string()
                });
                let _ = reply.send(DialogAnswer {
                    purpose,
                    paths,
                    unavailable,
                });
            });
        if spawned.is_err() {
            // No thread, no dialog: the typed path fields still work.
        }
    }

    fn open_folder(&self, folder: &Path) -> Result<(), String> {
        if !folder.is_dir() {
            return Err("the folder does not exist (yet)".to_string());
        }
        let program = file_manager();
        let mut child = std::process::Command::new(program)
            .arg(folder)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("the file manager ({program}) cannot start: {e}"))?;
        // Reaped on a thread of its own: the window never waits for the file manager.
        let _ = std::thread::Builder::new()
            .name("backstop-open-folder".into())
            .spawn(move || child.wait());
        Ok(())
    }
}

/// Answers dialogs from a script (tests): each `open` takes the next answer.
#[derive(Clone, Default)]
pub struct ScriptedDialogs {
    /// Answers in order; an empty queue answers "cancelled".
    pub answers: Arc<Mutex<VecDeque<Vec<PathBuf>>>>,
    /// Every purpose asked, in order.
    pub asked: Arc<Mutex<Vec<DialogPurpose>>>,
    /// When set, every dialog answers that it cannot open (a desktop without the portal), with this reason.
    pub unavailable: Option<String>,
    /// Every folder shown in the file manager, in order.
    pub opened: Arc<Mutex<Vec<PathBuf>>>,
}

impl Dialogs for ScriptedDialogs {
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(purpose.clone());
        }
        if let Some(why) = &self.unavailable {
            let _ = reply.send(DialogAnswer {
                purpose,
                paths: Vec::new(),
                unavailable: Some(why.clone()),
            });
            return;
        }
        let paths = self
            .answers
            .lock()
            .ok()
            .and_then(|mut a| a.pop_front())
            .unwrap_or_default();
        let _ = reply.send(DialogAnswer::chosen(purpose, paths));
    }

    fn open_folder(&self, folder: &Path) -> Result<(), String> {
        if let Ok(mut opened) = self.opened.lock() {
            opened.push(folder.to_path_buf());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_dialogs_say_when_no_portal_can_answer_and_open_only_existing_folders() {
        // Under `cargo test` there is no desktop session unless the test environment provides one.
        if no_portal_reason().is_some() {
            let (tx, rx) = std::sync::mpsc::channel();
            NativeDialogs.open(DialogPurpose::Import, tx);
            let answer = rx
                .recv()
                .unwrap_or_else(|_| DialogAnswer::chosen(DialogPurpose::Import, vec![]));
            assert!(answer.paths.is_empty());
            assert!(
                answer
                    .unavailable
                    .is_some_and(|w| w.contains("no file dialog"))
            );
        }
        let missing = NativeDialogs.open_folder(Path::new("/nonexistent/backstop-folder"));
        assert_eq!(missing, Err("the folder does not exist (yet)".to_string()));
        assert!(never_shown(std::time::Duration::from_millis(50)));
        assert!(!never_shown(std::time::Duration::from_secs(2)));
    }
}
