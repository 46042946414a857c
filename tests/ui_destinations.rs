//! Destinations in the window (issue 14), through the real window with egui_kittest and a real folder
//! destination: History's location badges (`local`, `off-site`, `copy failed`), Statistics' Destinations section
//! ("up to date", "behind by …", the last error, Sync now), the banner's alert and the notification of a copy that
//! fails and of copies that work again, and the scheduler copying what waits without a click.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::model::Trigger;
use backstop::notify::RecordingNotifier;
use backstop::ui::{BackstopApp, Tab};
use backstop::worker::JobRequest;
use common::TestHome;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::PathBuf;

/// Hovers the first node labelled `label` and steps past the tooltip delay.
fn hover(w: &mut Harness<'static, BackstopApp>, label: &str) {
    w.get_all_by_label(label).next().unwrap().hover();
    for _ in 0..60 {
        w.step();
    }
}

/// Moves the pointer away, so that a tooltip closes.
fn unhover(w: &mut Harness<'static, BackstopApp>) {
    w.get_by_label("Backstop").hover();
    for _ in 0..10 {
        w.step();
    }
}

fn show(w: &mut Harness<'static, BackstopApp>, tab: Tab) {
    w.state_mut().tab = tab;
    w.run();
}

/// Profile shop (no automatic backups) with the folder destination usb; returns the folder.
fn shop_with_usb(home: &TestHome) -> PathBuf {
    home.sqlite_profile("shop", 50, &["--no-auto"]);
    let usb = home.work().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    home.run_ok(&[
        "dest",
        "add",
        "usb",
        "--profile",
        "shop",
        "--folder",
        usb.to_str().unwrap(),
    ]);
    usb
}

/// Waits until the window's snapshot shows destination usb with `failed` failed and `waiting` waiting copies.
fn wait_for_usb(w: &mut Harness<'static, BackstopApp>, copied: usize, failed: usize) {
    common::wait_for_window(
        w,
        &format!("usb with {copied} copied and {failed} failed"),
        &|app| {
            app.state.running.is_none()
                && app.state.queue.is_empty()
                && app
                    .state
                    .snapshot
                    .destinations
                    .first()
                    .is_some_and(|d| d.copied == copied && d.failed == failed && d.pending == 0)
        },
    );
    w.run();
}

#[test]
fn an_unplugged_drive_shows_as_a_failed_copy_until_sync_now_copies_again() {
    let home = TestHome::new();
    let usb = shop_with_usb(&home);
    // Copied after the backup, by the backup itself.
    home.backup("shop");
    let notifier = RecordingNotifier::default();
    let mut w = common::window_with(home.paths(), false, notifier.clone());
    wait_for_usb(&mut w, 1, 0);

    // History: here and off-site; the badge names where and when on hover.
    show(&mut w, Tab::History);
    w.get_by_label("local");
    w.get_by_label("off-site");
    hover(&mut w, "off-site");
    w.get_by_label_contains("Copied and checked");
    w.get_by_label_contains("usb, copied ");
    unhover(&mut w);
    assert!(w.query_by_label("copy failed").is_none());

    // Statistics: the destination is up to date.
    show(&mut w, Tab::Statistics);
    w.get_by_label("Destinations");
    w.get_by_label("up to date");
    w.get_by_label(usb.to_str().unwrap());
    // "Last copied" says "just now", as the Last backup figure does.
    assert_eq!(w.get_all_by_label("just now").count(), 2);
    assert!(w.query_by_label_contains("are failing").is_none());

    // The drive is unplugged; a backup made in the window still completes, its copy fails, and the one
    // notification of that backup says both.
    let away = usb.with_extension("away");
    std::fs::rename(&usb, &away).unwrap();
    w.state_mut().submit(JobRequest::Backup {
        profile: "shop".into(),
        kind: None,
        trigger: Trigger::Manual,
    });
    common::wait_for_window(&mut w, "the failed copy", &|app| {
        app.state.running.is_none()
            && app
                .state
                .snapshot
                .destinations
                .first()
                .is_some_and(|d| d.failed == 1)
    });
    w.run();
    let sent = notifier.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one notification per outcome: {sent:?}");
    assert_eq!(
        sent[0].0,
        "Backstop: shop backed up, but copying to usb failed"
    );
    assert!(
        sent[0].1.contains("is missing (is the drive mounted?)"),
        "{sent:?}"
    );

    // Statistics: behind, why, and the status header's alert with its fix.
    w.get_by_label_contains("behind by");
    w.get_by_label_contains("usb: last error: cannot reach destination usb");
    w.get_by_label_contains("Copies to usb are failing: cannot reach destination usb");
    assert!(w.query_by_label("up to date").is_none());
    // `backstop stats` says the same, with the fix in the terminal's words.
    let stats = home.run_ok(&["stats", "--profile", "shop"]);
    assert!(
        stats.contains("destination usb (folder ")
            && stats.contains("1 copied, 0 waiting, 1 failed"),
        "{stats}"
    );
    assert!(
        stats.contains("alert: Copies to usb are failing: cannot reach destination usb")
            && stats.contains("check the destination: `backstop dest test usb`"),
        "{stats}"
    );

    // History: the new backup is here but not off-site; its badge says why on hover.
    show(&mut w, Tab::History);
    assert_eq!(w.get_all_by_label("local").count(), 2);
    assert_eq!(w.get_all_by_label("off-site").count(), 1);
    hover(&mut w, "copy failed");
    w.get_by_label_contains("usb: cannot reach destination usb");
    unhover(&mut w);

    // The drive is back: Sync now (Statistics' section) copies at once, retry wait or not.
    std::fs::rename(&away, &usb).unwrap();
    show(&mut w, Tab::Statistics);
    w.get_all_by_label("Sync now").last().unwrap().click();
    wait_for_usb(&mut w, 2, 0);
    w.get_by_label("up to date");
    assert!(w.query_by_label_contains("are failing").is_none());
    show(&mut w, Tab::History);
    assert_eq!(w.get_all_by_label("off-site").count(), 2);
    assert!(w.query_by_label("copy failed").is_none());
    let sent = notifier.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].0, "Backstop: copies to usb work again");
}

#[test]
fn the_scheduler_copies_what_waits_without_a_click() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 50, &["--no-auto"]);
    home.backup("shop");
    let usb = home.work().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    // Adding a destination queues the backups it should hold; nothing copies them yet.
    home.run_ok(&[
        "dest",
        "add",
        "usb",
        "--profile",
        "shop",
        "--folder",
        usb.to_str().unwrap(),
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["dest", "list", "--json"])).unwrap();
    assert_eq!(list[0]["pending"], 1, "{list}");

    let mut w = common::window_with(home.paths(), true, RecordingNotifier::default());
    wait_for_usb(&mut w, 1, 0);
    show(&mut w, Tab::History);
    w.get_by_label("off-site");
    let log = &w.state().state.session_log;
    assert!(
        log.iter()
            .any(|(_, text)| text == "Copied 1 backup(s) to usb"),
        "the window says what its retry did: {log:?}"
    );
}

/// Statistics' Recovery sheet writes the printable page and opens it with the desktop's application.
#[test]
fn the_recovery_sheet_button_writes_the_page_and_opens_it() {
    let home = TestHome::new();
    let usb = shop_with_usb(&home);
    home.backup("shop");
    let dialogs = backstop::ui::dialogs::ScriptedDialogs::default();
    let mut w = common::window_ready(home.paths(), [1100.0, 900.0], dialogs.clone());
    wait_for_usb(&mut w, 1, 0);
    show(&mut w, Tab::Statistics);
    w.get_by_label("Recovery sheet").click();
    common::wait_for_window(&mut w, "the recovery sheet", &|app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && app
                .state
                .toasts
                .iter()
                .any(|t| t.text.contains("Recovery sheet written to"))
    });
    w.run();
    let page = home.home().join("state").join("recovery-sheet-shop.html");
    assert_eq!(dialogs.opened.lock().unwrap().clone(), vec![page.clone()]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("BACKSTOP RECOVERY SHEET: profile shop"),
        "{html}"
    );
    assert!(html.contains(usb.to_str().unwrap()), "{html}");
}

/// The disaster case in the window: a new machine's profile, a destination added in Settings (its folder holds
/// another home's backups), "Rebuild the catalog from it", then the backup restored from its copy.
#[test]
fn a_new_machine_rebuilds_from_a_destination_and_restores_in_the_window() {
    let old = TestHome::new();
    let usb = shop_with_usb(&old);
    let old_db = old.work().join("shop.sqlite3");
    old.backup("shop");
    let fingerprint = common::db_fingerprint(&old_db);

    let new = TestHome::new();
    let db = new.work().join("shop.sqlite3");
    backstop::demo::make_sample_database(&db, 5).unwrap();
    new.run_ok(&[
        "profile",
        "add",
        "shop",
        "--sqlite",
        db.to_str().unwrap(),
        "--no-auto",
    ]);
    let mut w = common::window(new.paths());
    common::wait_for_window(&mut w, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    show(&mut w, Tab::Settings);
    w.get_by_label("Copies elsewhere");
    w.state_mut().settings.dest_form = backstop::ui::settings::DestForm {
        name: "usb".into(),
        location: usb.to_str().unwrap().into(),
        ..Default::default()
    };
    w.run();
    w.get_by_label("Add destination").scroll_to_me();
    w.run();
    w.get_by_label("Add destination").click();
    let toast = |w: &Harness<'static, BackstopApp>, text: &str| {
        w.state().state.toasts.iter().any(|t| t.text.contains(text))
    };
    common::wait_for_window(&mut w, "the destination added", &|app| {
        app.state.running.is_none()
            && app
                .state
                .toasts
                .iter()
                .any(|t| t.text.contains("another Backstop home"))
    });
    w.run();
    w.get_by_label("Rebuild the catalog from it").click();
    common::wait_for_window(&mut w, "the catalog rebuilt", &|app| {
        app.state.running.is_none() && app.state.snapshot.backups.len() == 1
    });
    w.run();
    assert!(toast(&w, "Catalog rebuilt from usb: 1 backup(s) added"));
    show(&mut w, Tab::History);
    w.get_by_label("off-site");
    let id = w.state().state.snapshot.backups[0].id;
    assert_eq!(w.state().copy_to_restore_from(id).as_deref(), Some("usb"));
    w.state_mut()
        .restore_into(id, None, false, false, None, false);
    common::wait_for_window(&mut w, "the restore", &|app| {
        app.state.running.is_none() && app.state.queue.is_empty()
    });
    w.run();
    assert_eq!(
        common::db_fingerprint(&db),
        fingerprint,
        "restored from the copy at usb"
    );
}

/// Settings' encryption: a passphrase typed twice encrypts new backups (kept in a private file here, where there
/// is no keyring), and History marks them "encrypted".
#[test]
fn encryption_set_in_the_window_encrypts_the_next_backup() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 20, &["--no-auto"]);
    let mut w = common::window_ready(
        home.paths(),
        [1100.0, 2000.0],
        backstop::ui::dialogs::ScriptedDialogs::default(),
    );
    show(&mut w, Tab::Settings);
    w.get_by_label_contains("Not encrypted");
    w.state_mut().settings.dest_form = backstop::ui::settings::DestForm {
        passphrase: backstop::worker::Password("window passphrase".into()),
        passphrase_again: backstop::worker::Password("window passphrase".into()),
        secret_in_file: true,
        ..Default::default()
    };
    w.run();
    let button = "Encrypt new backups with it";
    w.get_by_label(button).scroll_to_me();
    w.run();
    w.get_by_label(button).click();
    common::wait_for_window(&mut w, "the encryption set", &|app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && app.state.snapshot.config.profiles[0].encryption.is_some()
    });
    w.run();
    // The section's state line, and the job's toast.
    assert!(w.get_all_by_label_contains("passphrase p1").count() >= 1);
    w.get_by_label_contains("Encrypted with age (every backup and copy), passphrase p1");
    w.state_mut().submit(JobRequest::Backup {
        profile: "shop".into(),
        kind: None,
        trigger: Trigger::Manual,
    });
    common::wait_for_window(&mut w, "the backup", &|app| {
        app.state.running.is_none() && app.state.snapshot.backups.len() == 1
    });
    show(&mut w, Tab::History);
    w.get_by_label("encrypted");
    let row = &w.state().state.snapshot.backups[0];
    assert_eq!(row.encryption.as_deref(), Some("passphrase:p1"));
    assert!(row.path.to_string_lossy().ends_with(".zip.age"));
}
