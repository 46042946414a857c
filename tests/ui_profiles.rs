//! Issue 12, items 1, 11 and 12, in the real window (egui_kittest, the real worker thread, real SQLite databases):
//! a Settings draft stays with its profile while another is picked; the form's disk checks (does the file exist,
//! does the storage folder take a file) run when their paths change, on a thread of their own; the window reopens
//! on the profile used last; a failing profile is marked in the profile list while another is selected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::ui::dialogs::ScriptedDialogs;
use backstop::ui::{AppOptions, BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The window on `home` (no scheduler), with `remembered` as eframe's storage, after the first snapshot arrived.
fn open(
    home: &TestHome,
    remembered: Option<&'static dyn eframe::Storage>,
) -> Harness<'static, BackstopApp> {
    let paths = home.paths();
    let mut harness = Harness::builder()
        .with_size([1100.0, 800.0])
        .build_eframe(move |cc| {
            cc.storage = remembered;
            BackstopApp::new(
                cc,
                AppOptions {
                    paths,
                    notifier: Box::new(backstop::notify::RecordingNotifier::default()),
                    dialogs: Box::new(ScriptedDialogs::default()),
                    scheduler: false,
                    desktop: None,
                },
            )
        });
    wait_for(&mut harness, "the first snapshot", |app| {
        app.state.snapshot_received
    });
    harness
}

/// Steps frames until `done` holds (the worker and the disk checks run on threads of their own), or fails after
/// 120 s (a guard against a hang, not a timing assertion).
fn step_until(
    harness: &mut Harness<'_, BackstopApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, BackstopApp>) -> bool,
) {
    let start = Instant::now();
    while !done(harness) {
        harness.step();
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}; messages: {:?}",
            harness.state().state.session_log
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
}

/// Steps frames until the window's state says `done`.
fn wait_for(
    harness: &mut Harness<'_, BackstopApp>,
    what: &str,
    done: impl Fn(&BackstopApp) -> bool,
) {
    step_until(harness, what, |h| done(h.state()));
}

/// Steps `n` frames.
fn frames(harness: &mut Harness<'_, BackstopApp>, n: usize) {
    for _ in 0..n {
        harness.step();
    }
}

/// Types `text` over a text field's value, as a user selecting all and typing would.
fn set_field(harness: &mut Harness<'_, BackstopApp>, label: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .set_text_value_accesskit(text);
    frames(harness, 2);
}

/// The text a field shows.
fn field_value(harness: &Harness<'_, BackstopApp>, label: &str) -> String {
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .accesskit_node()
        .value()
        .unwrap_or_default()
}

/// Opens the profile list at the top of the window (a pick through accessibility leaves it open: it is closed
/// first, as Escape would).
fn open_profile_list(harness: &mut Harness<'_, BackstopApp>) {
    if harness.ctx.any_popup_open() {
        harness.key_press(egui::Key::Escape);
        frames(harness, 2);
    }
    harness
        .get_by_role_and_label(Role::ComboBox, "Profile:")
        .click_accesskit();
    frames(harness, 2);
}

/// Picks a profile in the list at the top of the window, as a user would.
fn pick_profile(harness: &mut Harness<'_, BackstopApp>, name: &str) {
    open_profile_list(harness);
    harness.get_by_label(name).click_accesskit();
    frames(harness, 2);
}

fn config(home: &TestHome) -> backstop::config::Config {
    backstop::config::Config::load(&home.home().join("config.toml")).unwrap()
}

/// Item 1: what was typed in one profile's Settings survives picking another profile and coming back; the list
/// says which profile has unsaved changes; saving one profile leaves the other untouched.
#[test]
fn a_settings_draft_stays_with_its_profile_while_another_is_picked() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    home.sqlite_profile("blog", 10, &["--no-auto"]);
    let keep_before = config(&home).profiles[1].policy.keep_last;
    let mut w = open(&home, None);
    w.state_mut().selected = Some("shop".into());
    w.state_mut().tab = Tab::Settings;
    frames(&mut w, 2);
    w.get_by_label("Profile shop");
    set_field(&mut w, "Keep at most (backups)", "3");
    w.get_by_role_and_label(Role::Button, "Save");

    pick_profile(&mut w, "blog");
    w.get_by_label("Profile blog");
    assert_ne!(field_value(&w, "Keep at most (backups)"), "3");
    assert!(
        w.query_by_role_and_label(Role::Button, "Save").is_none(),
        "blog has nothing to save"
    );
    // Back on shop: the draft is as it was left.
    pick_profile(&mut w, "shop");
    w.get_by_label("Profile shop");
    assert_eq!(field_value(&w, "Keep at most (backups)"), "3");
    w.get_by_role_and_label(Role::Button, "Save");

    // While another profile is shown, the list says which one holds unsaved changes.
    pick_profile(&mut w, "blog");
    open_profile_list(&mut w);
    w.get_by_label("shop: unsaved changes");
    assert!(w.query_by_label("blog: unsaved changes").is_none());
    w.get_by_label("shop").click_accesskit();
    frames(&mut w, 2);
    w.get_by_label("Profile shop");
    w.get_by_role_and_label(Role::Button, "Save")
        .click_accesskit();
    wait_for(&mut w, "the saved config", |app| {
        app.state.snapshot.config.profiles[0].policy.keep_last == 3
    });
    let saved = config(&home);
    assert_eq!(saved.profiles[0].policy.keep_last, 3);
    assert_eq!(saved.profiles[1].policy.keep_last, keep_before);
    assert!(w.query_by_role_and_label(Role::Button, "Save").is_none());
    open_profile_list(&mut w);
    assert!(
        w.query_by_label_contains("unsaved changes").is_none(),
        "nothing is left unsaved"
    );
}

/// Item 1, the other side of keeping drafts: saves of two profiles queued behind a running job each change their
/// own profile only (a save built from the settings the window read earlier would put the first one back).
#[test]
fn saves_of_two_profiles_queued_behind_a_job_keep_both() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 10, &["--no-auto"]);
    home.sqlite_profile("blog", 10, &["--no-auto"]);
    // The worker is busy: a backup of shop waits for the database, which the test holds locked (a rollback
    // journal, so that the lock keeps readers out; a long busy timeout, so that the backup waits rather than fails).
    let mut cfg = config(&home);
    cfg.settings.busy_timeout_secs = 3600;
    cfg.save(&home.home().join("config.toml")).unwrap();
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE")
        .unwrap();
    let mut w = open(&home, None);
    w.state_mut().selected = Some("shop".into());
    w.state_mut().submit(backstop::worker::JobRequest::Backup {
        profile: "shop".into(),
        kind: None,
        trigger: backstop::model::Trigger::Manual,
    });
    wait_for(&mut w, "the backup to start", |app| {
        app.state.running.is_some()
    });
    w.state_mut().tab = Tab::Settings;
    frames(&mut w, 2);
    set_field(&mut w, "Keep at most (backups)", "3");
    w.get_by_role_and_label(Role::Button, "Save")
        .click_accesskit();
    frames(&mut w, 2);
    pick_profile(&mut w, "blog");
    set_field(&mut w, "Keep at most (backups)", "4");
    w.get_by_role_and_label(Role::Button, "Save")
        .click_accesskit();
    frames(&mut w, 2);
    assert!(
        w.state().state.running.is_some(),
        "both saves were queued behind the backup"
    );
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    // Saves are not in the job bar's queue: wait for what they save (or fail on a hang with the messages).
    wait_for(&mut w, "both saves", |app| {
        let keep = |i: usize| app.state.snapshot.config.profiles[i].policy.keep_last;
        app.state.running.is_none() && keep(1) == 4
    });
    let saved = config(&home);
    let log = &w.state().state.session_log;
    assert_eq!(
        saved.profiles[0].policy.keep_last, 3,
        "shop's save stays: {log:?}"
    );
    assert_eq!(saved.profiles[1].policy.keep_last, 4, "{log:?}");
}

/// Counts the write probes (`.backstop-write-test-*`) created in folders, with inotify, seen from outside the
/// process: the Settings checks must write none (they ask the OS whether a folder is writable).
struct Probes {
    fd: rustix::fd::OwnedFd,
    watched: HashMap<i32, PathBuf>,
    seen: Vec<PathBuf>,
}

impl Probes {
    fn watch(dirs: &[&Path]) -> Probes {
        use rustix::fs::inotify;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
        let mut watched = HashMap::new();
        for dir in dirs {
            let wd = inotify::add_watch(&fd, *dir, inotify::WatchFlags::CREATE).unwrap();
            watched.insert(wd, dir.to_path_buf());
        }
        Probes {
            fd,
            watched,
            seen: Vec::new(),
        }
    }

    /// Every probe created so far, with its folder.
    fn created(&mut self) -> Vec<PathBuf> {
        use rustix::fs::inotify;
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 1 << 16];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        loop {
            match reader.next() {
                Ok(event) => {
                    if let (Some(dir), Some(name)) =
                        (self.watched.get(&event.wd()), event.file_name())
                    {
                        let name = name.to_string_lossy();
                        if name.starts_with(".backstop-write-test-") {
                            self.seen.push(dir.clone());
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("inotify: {e}"),
            }
        }
        self.seen.clone()
    }
}

/// Item 11: the Settings form looks at the disk once when it opens and once per change of a path, not in every
/// frame; what it finds still shows beside the field.
#[test]
fn settings_check_the_disk_when_a_path_changes_not_every_frame() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let storage = home.paths().default_storage("shop");
    let archives = home.paths().archives_dir;
    let other = home.work().join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let mut probes = Probes::watch(&[&storage, &archives, &other]);
    let mut w = open(&home, None);
    w.state_mut().tab = Tab::Settings;
    step_until(&mut w, "a look at the disk", |h| {
        h.state().disk_looks_at(&storage) > 0
    });
    frames(&mut w, 60);
    assert_eq!(
        w.state().disk_looks_at(&storage),
        1,
        "one look at the storage folder in 60 frames, not one per frame"
    );
    // The add-a-profile form's default storage: looked at when the form showed first (maybe on the welcome screen
    // before the worker listed the profiles) and after the worker's news, not in every frame.
    let default_storage = archives.clone();
    assert!(
        w.state().disk_looks_at(&default_storage) <= 2,
        "the add-a-profile form looks at its storage folder in every frame: {}",
        w.state().disk_looks_at(&default_storage)
    );

    // Another storage folder: looked at once.
    set_field(&mut w, "Storage folder", other.to_str().unwrap());
    step_until(&mut w, "a look at the disk", |h| {
        h.state().disk_looks_at(&other) > 0
    });
    frames(&mut w, 60);
    assert_eq!(w.state().disk_looks_at(&other), 1);
    assert_eq!(w.state().disk_looks_at(&storage), 1);

    // What a check finds shows beside its field.
    let missing = home.work().join("no-such-folder");
    set_field(&mut w, "Files folder (optional)", missing.to_str().unwrap());
    step_until(&mut w, "the check's answer", |h| {
        h.query_by_label_contains("does not exist").is_some()
    });
    assert!(
        w.get_by_role_and_label(Role::Button, "Save")
            .accesskit_node()
            .is_disabled()
    );
    frames(&mut w, 60);
    assert_eq!(
        w.state().disk_looks_at(&other),
        2,
        "one more look at the paths for the new files folder, not one per frame"
    );
    // Looking never wrote anything into the user's folders.
    assert_eq!(probes.created(), Vec::<PathBuf>::new());
}

/// Item 11: a drive that does not answer (held here) never holds up the window: frames keep coming, the field says
/// it is being checked, and the result shows once the drive answers.
#[test]
fn a_drive_that_does_not_answer_never_holds_up_the_window() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--no-auto"]);
    let mut w = open(&home, None);
    w.state_mut().tab = Tab::Settings;
    frames(&mut w, 2);
    let held = w.state().hold_disk_checks();
    let missing = home.work().join("on-a-slow-drive");
    set_field(&mut w, "Files folder (optional)", missing.to_str().unwrap());
    frames(&mut w, 30);
    w.get_by_label_contains("Checking");
    assert!(w.query_by_label_contains("does not exist").is_none());
    // The rest of the window works meanwhile.
    w.state_mut().tab = Tab::Actions;
    frames(&mut w, 2);
    w.get_by_label("Actions for shop");
    w.state_mut().tab = Tab::Settings;
    frames(&mut w, 2);
    drop(held);
    step_until(&mut w, "the check's answer", |h| {
        h.query_by_label_contains("does not exist").is_some()
    });
    assert!(w.query_by_label_contains("Checking").is_none());
}

/// What eframe keeps between launches, in memory.
#[derive(Default)]
struct Remembered(HashMap<String, String>);

impl eframe::Storage for Remembered {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// Item 12: the window reopens on the profile picked last (eframe keeps it with the window's size).
#[test]
fn the_window_reopens_on_the_profile_used_last() {
    let home = TestHome::new();
    home.sqlite_profile("alpha", 10, &["--no-auto"]);
    home.sqlite_profile("beta", 10, &["--no-auto"]);
    let mut first = open(&home, None);
    first.state_mut().tab = Tab::History;
    frames(&mut first, 2);
    pick_profile(&mut first, "beta");
    assert_eq!(first.state().profile().unwrap().name, "beta");
    // What eframe does when the window closes.
    let mut remembered = Remembered::default();
    eframe::App::save(first.state_mut(), &mut remembered);
    drop(first);

    let remembered: &'static Remembered = Box::leak(Box::new(remembered));
    let mut second = open(&home, Some(remembered));
    frames(&mut second, 2);
    assert_eq!(second.state().profile().unwrap().name, "beta");
    assert_eq!(second.state().tab, Tab::History);
    let picker = second.get_by_role_and_label(Role::ComboBox, "Profile:");
    assert_eq!(picker.accesskit_node().value().as_deref(), Some("beta"));
}

/// Item 12: a profile whose last backup failed is marked in the profile list, and beside it, while another profile
/// is selected; the mark picks it.
#[test]
fn a_failing_profile_is_marked_in_the_profile_list_while_another_is_selected() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 10, &["--no-auto"]);
    home.sqlite_profile("blog", 10, &["--no-auto"]);
    std::fs::remove_file(&db).unwrap();
    home.run_code(&["backup", "--profile", "shop"], 1);
    let mut w = open(&home, None);
    w.state_mut().selected = Some("blog".into());
    w.state_mut().tab = Tab::Actions;
    frames(&mut w, 2);
    w.get_by_label("Actions for blog");
    assert!(
        w.query_by_label_contains("The last backup failed")
            .is_none(),
        "blog's own banner has nothing to say"
    );
    // Beside the list, without opening it.
    w.get_by_label_contains("shop needs attention");
    assert!(
        w.query_by_label_contains("blog needs attention").is_none(),
        "only the failing profile is marked"
    );
    // In the list.
    open_profile_list(&mut w);
    w.get_by_label("shop: needs attention");
    assert!(w.query_by_label("blog: needs attention").is_none());
    w.get_by_label("shop").click_accesskit();
    frames(&mut w, 2);
    // The mark picks the failing profile, whose banner says why.
    w.state_mut().selected = Some("blog".into());
    frames(&mut w, 2);
    w.get_by_label_contains("shop needs attention")
        .click_accesskit();
    frames(&mut w, 2);
    assert_eq!(w.state().profile().unwrap().name, "shop");
    w.get_by_label_contains("The last backup failed");
}
