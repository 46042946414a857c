//! The forms' disk checks (does the database file exist, is there a files folder, does the storage folder take a
//! new file) on a thread of their own: a frame never waits for a drive, and the disk is read when a form's paths
//! change, when a job finished (it may have made a folder) or when the window gets the focus back (the user may
//! have fixed something elsewhere), not in every frame.
//!
//! A form asks with [`DiskChecks::problems`] every frame; the answer is what the disk said last for those paths.
//! The thread answers the newest question of each form and skips the ones that went stale while it was busy, so
//! typing a path on a drive that hangs queues one look, not one per key.

use crate::jobs::ProfilePaths;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Which form asks (each has its own newest question).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// The selected profile's Settings.
    Settings,
    /// The "add a profile" form.
    NewProfile,
}

/// What a form shows for its paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskVerdict {
    /// What the disk said last for these paths, by field.
    pub problems: Vec<(&'static str, String)>,
    /// No answer for these paths yet: the form says it is checking.
    pub checking: bool,
}

/// One question: what the disk says about these paths.
struct Question {
    form: Form,
    paths: ProfilePaths,
}

/// What is known about one set of paths.
#[derive(Default)]
struct Known {
    /// The last answer.
    problems: Option<Vec<(&'static str, String)>>,
    /// The round the last question was asked in.
    asked: Option<u64>,
}

/// The checks a drive that does not answer would hold up (tests hold them to stand for one).
#[derive(Default)]
struct Hold {
    held: Mutex<bool>,
    released: Condvar,
}

/// While this lives, the disk checks wait, as behind a drive that does not answer.
pub struct HeldDiskChecks(Arc<Hold>);

impl Drop for HeldDiskChecks {
    fn drop(&mut self) {
        *self.0.held.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.0.released.notify_all();
    }
}

/// The window's side of the disk-check thread.
pub struct DiskChecks {
    questions: Sender<Question>,
    answers: Receiver<(ProfilePaths, Vec<(&'static str, String)>)>,
    known: HashMap<ProfilePaths, Known>,
    round: u64,
    hold: Arc<Hold>,
    /// How many times the thread looked at each storage folder (what the window's tests count).
    looks: Arc<std::sync::Mutex<HashMap<std::path::PathBuf, u64>>>,
    /// False when the OS refused the thread: the forms then show no disk problems, and a save (which checks
    /// everything again in the worker) has the last word.
    alive: bool,
}

/// Past this many remembered answers, only the ones in use are kept.
const KNOWN_LIMIT: usize = 64;

impl DiskChecks {
    /// Starts the thread; `repaint` wakes the window after each answer.
    pub fn start(repaint: Arc<dyn Fn() + Send + Sync>) -> DiskChecks {
        let (questions, questions_rx) = channel::<Question>();
        let (answers_tx, answers) = channel();
        let hold = Arc::new(Hold::default());
        let held = hold.clone();
        let looks: Arc<std::sync::Mutex<HashMap<std::path::PathBuf, u64>>> = Arc::default();
        let counted = looks.clone();
        let spawned = std::thread::Builder::new()
            .name("backstop-disk-checks".into())
            .spawn(move || {
                while let Ok(first) = questions_rx.recv() {
                    // Only the newest question of each form is worth the disk's time.
                    let mut newest: Vec<Question> = vec![first];
                    for question in questions_rx.try_iter() {
                        newest.retain(|q| q.form != question.form);
                        newest.push(question);
                    }
                    for question in newest {
                        wait_while_held(&held);
                        let problems = question.paths.problems();
                        *counted
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(question.paths.storage.clone())
                            .or_default() += 1;
                        if answers_tx.send((question.paths, problems)).is_err() {
                            return;
                        }
                        repaint();
                    }
                }
            });
        DiskChecks {
            questions,
            answers,
            known: HashMap::new(),
            round: 0,
            hold,
            looks,
            alive: spawned.is_ok(),
        }
    }

    /// Takes in the thread's answers (once per frame, where the window's state changes).
    pub fn poll(&mut self) {
        while let Ok((paths, problems)) = self.answers.try_recv() {
            self.known.entry(paths).or_default().problems = Some(problems);
        }
    }

    /// Looks at the disk again for the paths forms show next (what was known stays shown meanwhile).
    pub fn look_again(&mut self) {
        self.round += 1;
    }

    /// What the disk says about `paths` for `form`; asks the thread when it has not been asked in this round.
    pub fn problems(&mut self, form: Form, paths: &ProfilePaths) -> DiskVerdict {
        if !self.alive {
            return DiskVerdict::default();
        }
        if self.known.len() > KNOWN_LIMIT && !self.known.contains_key(paths) {
            self.known
                .retain(|_, known| known.asked == Some(self.round));
        }
        let known = self.known.entry(paths.clone()).or_default();
        if known.asked != Some(self.round) {
            known.asked = Some(self.round);
            // The thread lives as long as the window (it ends when this side is dropped).
            let _ = self.questions.send(Question {
                form,
                paths: paths.clone(),
            });
        }
        DiskVerdict {
            problems: known.problems.clone().unwrap_or_default(),
            checking: known.problems.is_none(),
        }
    }

    /// How many times the disk was asked about storage folder `storage` so far.
    pub fn looks_at(&self, storage: &std::path::Path) -> u64 {
        self.looks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(storage)
            .copied()
            .unwrap_or(0)
    }

    /// Holds every check until the returned value is dropped, as a drive that does not answer would (tests).
    pub fn hold(&self) -> HeldDiskChecks {
        *self
            .hold
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        HeldDiskChecks(self.hold.clone())
    }
}

fn wait_while_held(hold: &Hold) {
    let mut held = hold.held.lock().unwrap_or_else(PoisonError::into_inner);
    while *held {
        held = hold
            .released
            .wait(held)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn paths(storage: &std::path::Path, files: Option<&std::path::Path>) -> ProfilePaths {
        ProfilePaths {
            database: None,
            files: files.map(|f| f.to_path_buf()),
            storage: storage.to_path_buf(),
        }
    }

    /// Asks every 1 ms until the verdict is `done` (a guard against a hang after 60 s, not a timing assertion).
    fn until(
        checks: &mut DiskChecks,
        paths: &ProfilePaths,
        done: impl Fn(&DiskVerdict) -> bool,
    ) -> DiskVerdict {
        let start = Instant::now();
        loop {
            checks.poll();
            let verdict = checks.problems(Form::Settings, paths);
            if done(&verdict) {
                return verdict;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no answer");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn answers_come_from_the_thread_once_per_round_and_stay_while_a_new_look_runs() {
        let dir = tempfile::tempdir().unwrap();
        let mut checks = DiskChecks::start(Arc::new(|| {}));
        let missing = dir.path().join("missing");
        let p = paths(dir.path(), Some(&missing));
        let first = checks.problems(Form::Settings, &p);
        assert!(first.checking && first.problems.is_empty());
        let verdict = until(&mut checks, &p, |v| !v.checking);
        assert_eq!(verdict.problems.len(), 1, "{verdict:?}");
        assert!(verdict.problems[0].1.contains("does not exist"));
        // The folder appears; nothing changes until the disk is looked at again.
        std::fs::create_dir(&missing).unwrap();
        assert_eq!(checks.problems(Form::Settings, &p), verdict);
        let held = checks.hold();
        checks.look_again();
        // While the new look waits, the last answer stays shown, not "checking".
        assert_eq!(checks.problems(Form::Settings, &p), verdict);
        drop(held);
        until(&mut checks, &p, |v| v.problems.is_empty());
    }

    #[test]
    fn questions_that_went_stale_while_the_thread_was_held_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut checks = DiskChecks::start(Arc::new(|| {}));
        let held = checks.hold();
        // The thread takes what has come when it wakes and waits on the hold; what is typed meanwhile piles up.
        let typed: Vec<ProfilePaths> = (0..5)
            .map(|i| paths(dir.path(), Some(&dir.path().join(format!("f{i}")))))
            .collect();
        for p in &typed {
            checks.problems(Form::Settings, p);
        }
        drop(held);
        let last = typed.last().unwrap();
        until(&mut checks, last, |v| !v.checking);
        // At most the newest of what it took first, and the newest of all, were looked at.
        let looked: Vec<bool> = typed
            .iter()
            .map(|p| checks.known.get(p).is_some_and(|k| k.problems.is_some()))
            .collect();
        assert!(looked[4], "{looked:?}");
        assert!(
            looked.iter().filter(|l| **l).count() <= 2,
            "stale questions were answered: {looked:?}"
        );
    }
}
