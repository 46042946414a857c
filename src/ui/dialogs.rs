//! Native file dialogs (rfd through the desktop portal) behind a small trait, answered on a thread of their own so
//! the window never waits for them. Where no portal answers, every dialog action also has a typed path field.

use std::collections::VecDeque;
use std::path::PathBuf;
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
}

/// Shows file dialogs.
pub trait Dialogs: Send {
    /// Opens a dialog; the answer is sent on `reply` later (never blocks the caller).
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>);
}

/// The desktop's own dialogs, through rfd and the XDG desktop portal.
pub struct NativeDialogs;

impl Dialogs for NativeDialogs {
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>) {
        let spawned = std::thread::Builder::new()
            .name("backstop-dialog".into())
            .spawn(move || {
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
                let _ = reply.send(DialogAnswer { purpose, paths });
            });
        if spawned.is_err() {
            // No thread, no dialog: the typed path fields still work.
        }
    }
}

/// Answers dialogs from a script (tests): each `open` takes the next answer.
#[derive(Clone, Default)]
pub struct ScriptedDialogs {
    /// Answers in order; an empty queue answers "cancelled".
    pub answers: Arc<Mutex<VecDeque<Vec<PathBuf>>>>,
    /// Every purpose asked, in order.
    pub asked: Arc<Mutex<Vec<DialogPurpose>>>,
}

impl Dialogs for ScriptedDialogs {
    fn open(&self, purpose: DialogPurpose, reply: Sender<DialogAnswer>) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(purpose.clone());
        }
        let paths = self
            .answers
            .lock()
            .ok()
            .and_then(|mut a| a.pop_front())
            .unwrap_or_default();
        let _ = reply.send(DialogAnswer { purpose, paths });
    }
}
