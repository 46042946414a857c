//! Issue 12, items 3, 4, 8 and 9: the window says what is true and does what its labels say. Statistics' last
//! backup is never a deleted one; "Undo last restore" stays for the last restore that changed live data; Verify,
//! Compare, Validate only and the prune preview do what they say in plain words; every copy a restore keeps is
//! listed with its size and age, can be deleted, and each restore says what it kept.
//!
//! The real window (egui_kittest) with its real worker, real SQLite files and the local PostgreSQL server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::model::{Status, Trigger};
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::{Path, PathBuf};

type Window = Harness<'static, BackstopApp>;

/// The window on `home` once the worker's first snapshot arrived.
fn open(home: &TestHome) -> Window {
    let mut w = common::window(home.paths());
    common::wait_for_window(&mut w, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    w
}

fn wait(w: &mut Window, what: &str, done: &dyn Fn(&BackstopApp) -> bool) {
    common::wait_for_window(w, what, done);
}

fn idle(w: &mut Window) {
    wait(w, "the worker to be idle", &|app| {
        app.state.running.is_none() && app.state.queue.is_empty()
    });
}

fn show(w: &mut Window, tab: Tab) {
    w.state_mut().tab = tab;
    w.step();
    w.step();
}

/// Clicks through accesskit (a worker event landing between frames may move the layout); the second frame shows
/// what the click changed.
fn click(w: &mut Window, label: &str) {
    w.get_by_label(label).click_accesskit();
    w.step();
    w.step();
}

/// Steps frames until a widget whose label contains `needle` is shown (`present`) or gone (`!present`); fails
/// after 60 s (a guard against a hang, not a timing assertion).
fn wait_label(w: &mut Window, needle: &str, present: bool) {
    let start = std::time::Instant::now();
    loop {
        w.step();
        if w.query_all_by_label_contains(needle).next().is_some() == present {
            w.step();
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {needle:?} to be {}",
            if present { "shown" } else { "gone" }
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn toasts(w: &Window) -> Vec<String> {
    w.state()
        .state
        .toasts
        .iter()
        .map(|t| t.text.clone())
        .collect()
}

fn orders(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap()
}

fn delete_orders_above(db: &Path, id: i64) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute("DELETE FROM orders WHERE id > ?1", [id])
        .unwrap();
}

/// A SQLite profile with a files folder (`work/<name>-files`: `a.txt`, `photos/b.jpg`); returns both.
fn files_profile(home: &TestHome, name: &str, orders: u64) -> (PathBuf, PathBuf) {
    let db = home.work().join(format!("{name}.sqlite3"));
    backstop::demo::make_sample_database(&db, orders).unwrap();
    let files = home.work().join(format!("{name}-files"));
    std::fs::create_dir_all(files.join("photos")).unwrap();
    std::fs::write(files.join("a.txt"), "alpha").unwrap();
    std::fs::write(files.join("photos/b.jpg"), "bravo bytes").unwrap();
    let (db_arg, files_arg) = (db.to_str().unwrap(), files.to_str().unwrap());
    home.run_ok(&[
        "profile", "add", name, "--sqlite", db_arg, "--files", files_arg,
    ]);
    (db, files)
}

/// Opens the restore dialog of the first row in History (the newest backup) and waits for its comparison.
fn open_restore_dialog(w: &mut Window) {
    show(w, Tab::History);
    w.get_all_by_label("Restore…")
        .next()
        .unwrap()
        .click_accesskit();
    wait(w, "the comparison", &|app| app.state.inspection.is_some());
}

/// Restores the newest backup through the dialog (typed confirmation, safety backup on); returns the toast.
fn restore_newest(w: &mut Window, profile: &str) -> String {
    let restores = w.state().state.snapshot.restores.len();
    open_restore_dialog(w);
    let label = format!("Type the profile name ({profile}) to confirm:");
    let node = w.get_by_role_and_label(Role::TextInput, &label);
    node.focus();
    node.type_text(profile);
    w.step();
    w.step();
    w.get_by_role_and_label(Role::Button, "Restore").click();
    w.step();
    idle(w);
    wait(w, "the restore in the log", &|app| {
        app.state.snapshot.restores.len() > restores
    });
    let log = &w.state().state.snapshot.restores[0];
    assert_eq!(log.outcome, "completed", "{log:?}");
    log.message.clone().unwrap_or_default()
}

/// Item 3: a deleted backup is never "the last backup", in the window or in `backstop stats`.
#[test]
fn statistics_never_call_a_deleted_backup_the_last_one() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &[]);
    home.backup("shop");
    home.backup("shop");
    home.run_ok(&["delete", "2"]);

    let out = home.run_ok(&["stats", "--profile", "shop", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["last_backup"]["id"], 1, "{out}");
    assert_eq!(stats["last_backup"]["status"], "completed", "{out}");
    let text = home.run_ok(&["stats", "--profile", "shop"]);
    let line = text.lines().find(|l| l.contains("last backup:")).unwrap();
    assert!(line.contains("completed"), "{text}");

    let mut w = open(&home);
    show(&mut w, Tab::Statistics);
    assert!(
        w.query_by_label_contains("deleted by the user").is_none()
            && w.query_by_label_contains("· deleted ·").is_none(),
        "Statistics shows a deleted backup as the last one"
    );
    // The last backup is the one that stays.
    w.get_by_label_contains("backup #1");
    assert!(w.query_by_label_contains("backup #2").is_none());
}

/// Item 4: after a restore, a restore of chosen files into another folder (which changes nothing live) and a
/// relaunch still offer "Undo last restore", which puts back the state from before the restore; a later backup
/// supersedes it.
#[test]
fn undo_stays_offered_across_a_chosen_files_restore_and_a_relaunch_until_a_backup() {
    let home = TestHome::new();
    let (db, _files) = files_profile(&home, "media", 50);
    home.backup("media");
    delete_orders_above(&db, 10);
    home.run_ok(&["restore", "1", "--yes"]);
    assert_eq!(orders(&db), 50);
    let chosen = home.work().join("chosen");
    home.run_ok(&[
        "restore",
        "1",
        "--only",
        "a.txt",
        "--to",
        chosen.to_str().unwrap(),
    ]);
    assert!(chosen.join("a.txt").is_file());

    let mut w = open(&home);
    show(&mut w, Tab::History);
    assert!(
        w.query_by_label_contains("Undo last restore").is_some(),
        "a restore of chosen files into another folder hid the undo of the restore before it"
    );
    drop(w);

    // A relaunch offers it still, and it works.
    let mut w = open(&home);
    show(&mut w, Tab::History);
    w.get_by_label_contains("Undo last restore")
        .click_accesskit();
    w.step();
    idle(&mut w);
    wait(&mut w, "the undo in the log", &|app| {
        app.state.snapshot.restores.len() == 3
    });
    assert_eq!(
        orders(&db),
        10,
        "undo puts back the state from just before the restore"
    );

    // A backup made after it supersedes the undo.
    show(&mut w, Tab::Actions);
    click(&mut w, "Back up now");
    idle(&mut w);
    wait(&mut w, "the backup", &|app| {
        app.state
            .snapshot
            .backups
            .iter()
            .any(|b| b.trigger == Trigger::Manual && b.status == Status::Completed)
    });
    show(&mut w, Tab::History);
    assert!(
        w.query_by_label_contains("Undo last restore").is_none(),
        "a backup taken after the restore supersedes its undo"
    );
}

/// Item 8: "Verify all" said all but checked one profile. The panel offers this profile and all profiles, and
/// each does what it says.
#[test]
fn verify_says_this_profile_or_all_profiles_and_does_that() {
    let home = TestHome::new();
    home.sqlite_profile("alpha", 10, &[]);
    home.sqlite_profile("beta", 10, &[]);
    home.backup("alpha");
    home.backup("beta");
    home.backup("beta");
    let mut w = open(&home);
    w.state_mut().selected = Some("alpha".into());
    show(&mut w, Tab::Actions);
    assert!(
        w.query_by_label("Verify all").is_none(),
        "\"Verify all\" checks only the selected profile"
    );
    click(&mut w, "Verify this profile");
    idle(&mut w);
    wait(&mut w, "the verify result", &|app| {
        app.state.toasts.iter().any(|t| t.text.contains("verified"))
    });
    assert!(
        toasts(&w)
            .iter()
            .any(|t| t.contains("1 backup(s) of alpha verified")),
        "{:?}",
        toasts(&w)
    );
    click(&mut w, "Verify all profiles");
    idle(&mut w);
    wait(&mut w, "the verify-all result", &|app| {
        app.state
            .toasts
            .iter()
            .any(|t| t.text.contains("3 backup(s) of 2 profiles verified"))
    });
}

/// Item 8: Compare picks any other backup of the profile, or the live database, to compare with.
#[test]
fn compare_picks_any_backup_or_the_live_database() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 500, &[]);
    home.backup("shop");
    delete_orders_above(&db, 300);
    home.backup("shop");
    delete_orders_above(&db, 100);
    home.backup("shop");
    delete_orders_above(&db, 40);
    let mut w = open(&home);
    show(&mut w, Tab::History);
    // Rows are newest first: backup 3 is compared with the one before it at first.
    w.get_all_by_label("Compare…")
        .next()
        .unwrap()
        .click_accesskit();
    wait(&mut w, "the first comparison", &|app| {
        app.state.diffed.is_some()
    });
    w.get_by_label("table orders: 300 to 100 rows");
    // Then with backup 1, chosen in the window's "Compare with" box.
    w.get_by_role_and_label(Role::ComboBox, "Compare with")
        .click();
    w.step();
    w.step();
    w.get_by_label_contains("backup 1,").click();
    w.step();
    wait(&mut w, "the comparison with backup 1", &|app| {
        app.state.diffed.as_ref().is_some_and(|d| d.0 == 1)
    });
    w.get_by_label("table orders: 500 to 100 rows");
    // And with the live database now.
    w.get_by_role_and_label(Role::ComboBox, "Compare with")
        .click();
    w.step();
    w.step();
    w.get_by_label("the live database now").click();
    w.step();
    wait(&mut w, "the live comparison", &|app| {
        app.state.inspection.is_some()
    });
    w.get_by_label("orders (rows)");
    w.get_by_label("40");
}

/// Item 8: Validate only shows its verdict inside the restore dialog, which stays open for the restore.
#[test]
fn validate_only_shows_its_result_in_the_dialog() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 100, &[]);
    home.backup("shop");
    delete_orders_above(&db, 10);
    let mut w = open(&home);
    open_restore_dialog(&mut w);
    click(&mut w, "Validate only");
    idle(&mut w);
    wait(&mut w, "the validation in the log", &|app| {
        !app.state.snapshot.restores.is_empty()
    });
    assert!(
        w.state().restore_dialog.is_some(),
        "Validate only closed the restore dialog"
    );
    w.get_by_label_contains("validated: the backup from");
    assert_eq!(orders(&db), 10, "validation changes nothing");
    // The dialog goes on to the restore itself.
    w.get_by_role_and_label(Role::Button, "Restore");
}

/// Item 8: the prune preview explains retention in plain words, with no config keys.
#[test]
fn the_prune_preview_explains_retention_in_plain_words() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 10, &["--keep-last", "10"]);
    for _ in 0..5 {
        home.backup("shop");
    }
    home.run_ok(&["pin", "1"]);
    home.run_ok(&["profile", "edit", "shop", "--keep-last", "2"]);
    let mut w = open(&home);
    show(&mut w, Tab::Actions);
    click(&mut w, "Prune now…");
    wait(&mut w, "the plan", &|app| app.state.prune_preview.is_some());
    w.get_by_label_contains("Keeps the 2 newest backups");
    w.get_by_label_contains("pinned");
    for config_word in ["keep_last", "keep_daily", "max_age_days"] {
        assert!(
            w.query_by_label_contains(config_word).is_none(),
            "the preview speaks config ({config_word})"
        );
    }
    w.get_by_label_contains("3 kept, 2 to delete");
}

/// Item 9: a restore says what it kept; History lists every kept copy (the files folder it replaced and the
/// safety backup) with its size and age; Delete removes a copy.
#[test]
fn kept_copies_are_listed_with_size_and_age_and_can_be_deleted() {
    let home = TestHome::new();
    let (_db, files) = files_profile(&home, "media", 50);
    home.backup("media");
    std::fs::write(files.join("a.txt"), "changed since").unwrap();
    let mut w = open(&home);
    let message = restore_newest(&mut w, "media");
    // The restore's message names the kept copies too: only the list is looked at from here on.
    w.state_mut().state.toasts.clear();
    let kept_folder = std::fs::read_dir(home.work())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("media-files.pre_restore_")
        })
        .expect("the restore keeps the folder it replaced");
    let safety = w
        .state()
        .state
        .snapshot
        .backups
        .iter()
        .find(|b| b.trigger == Trigger::Safety)
        .map(|b| b.id)
        .unwrap();
    assert!(
        message.contains(&format!("safety backup {safety}"))
            && message.contains(&kept_folder.display().to_string()),
        "{message}"
    );

    show(&mut w, Tab::History);
    click(&mut w, "Kept copies");
    let name = kept_folder
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    wait_label(&mut w, &name, true);
    w.get_by_label(&format!("safety backup {safety}"));
    // Sizes and ages: the folder holds "changed since" (13 B) and "bravo bytes" (11 B).
    w.get_by_label("24 B");
    assert!(w.get_all_by_label("just now").count() >= 2);

    w.get_all_by_label("Delete…")
        .next()
        .unwrap()
        .click_accesskit();
    w.step();
    w.step();
    click(&mut w, &format!("Delete {name}"));
    idle(&mut w);
    wait(&mut w, "the list without the folder", &|app| {
        app.state.kept.as_ref().is_some_and(|k| k.copies.len() == 1)
    });
    w.state_mut().state.toasts.clear();
    wait_label(&mut w, &name, false);
    w.get_by_label(&format!("safety backup {safety}"));
    assert!(!kept_folder.exists(), "Delete removes the kept folder");
    assert!(files.join("a.txt").is_file(), "the live folder stays");
}

/// Item 9: a PostgreSQL restore says that it kept the old database, and Kept copies lists and drops it.
#[test]
fn a_postgres_restore_says_it_kept_the_old_database_and_kept_copies_drops_it() {
    let home = TestHome::new();
    let pg = common::PgTestDb::new("h12c_kept");
    common::psql(
        &pg.name,
        "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 30) g;",
    );
    common::add_pg_profile(&home, "pg", 5432, &pg.name);
    home.backup("pg");
    common::psql(&pg.name, "DELETE FROM notes WHERE id > 5");
    let mut w = open(&home);
    let message = restore_newest(&mut w, "pg");
    w.state_mut().state.toasts.clear();
    let copies = common::psql(
        "postgres",
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE '{}_pre_restore_%'",
            pg.name
        ),
    );
    let copy = copies.lines().find(|l| !l.is_empty()).unwrap().to_string();
    assert!(
        message.contains(&copy),
        "the restore does not say it kept {copy}: {message}"
    );

    show(&mut w, Tab::History);
    click(&mut w, "Kept copies");
    wait_label(&mut w, &copy, true);
    w.get_all_by_label("Delete…")
        .next()
        .unwrap()
        .click_accesskit();
    w.step();
    w.step();
    click(&mut w, &format!("Drop {copy}"));
    idle(&mut w);
    wait(&mut w, "the list without the database", &|app| {
        app.state
            .kept
            .as_ref()
            .is_some_and(|k| k.copies.iter().all(|c| !c.name().contains("_pre_restore_")))
    });
    w.state_mut().state.toasts.clear();
    wait_label(&mut w, &copy, false);
    let left = common::psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{copy}'"),
    );
    assert_eq!(left.trim(), "0", "the kept database was dropped");
}
