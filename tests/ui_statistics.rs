//! The Statistics panel read at a glance (issue 12 §2): big figures on top (last backup, success over the last 30
//! days, archives, database size), charts of size and duration on one shared time axis with failures marked, a
//! single backup shown as values instead of a one-point chart, and an empty profile that offers Back up now.
//! Driven through the real window with egui_kittest, on catalogs the real binary wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a test (or the bench) that meets the unexpected should stop loudly; the no-panic rule is for the app"
)]

mod common;

use backstop::progress::human_size;
use backstop::ui::statistics::{DURATION_CHART_ID, SIZE_CHART_ID, duration_words};
use backstop::ui::{BackstopApp, Tab};
use common::TestHome;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::process::Command;

/// `backstop backup --profile shop` under faketime shifted by `offset`, expecting exit code `code`.
fn backup_at(home: &TestHome, offset: &str, code: i32) {
    let out = Command::new("faketime")
        .arg("-f")
        .arg(offset)
        .arg(env!("CARGO_BIN_EXE_backstop"))
        .args(["backup", "--profile", "shop"])
        .env("BACKSTOP_HOME", home.home())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("these tests need faketime: apt-get install faketime");
    assert_eq!(
        out.status.code(),
        Some(code),
        "faketime {offset} backstop backup\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The window on the Statistics panel, once the worker's first snapshot arrived.
fn statistics(home: &TestHome) -> Harness<'static, BackstopApp> {
    let mut w = common::window(home.paths());
    common::wait_for_window(&mut w, "the first snapshot", &|app| {
        app.state.snapshot_received
    });
    w.state_mut().tab = Tab::Statistics;
    w.run();
    w
}

/// The `stats --json` object of profile shop.
fn stats_json(home: &TestHome) -> serde_json::Value {
    serde_json::from_str(&home.run_ok(&["stats", "--profile", "shop", "--json"])).unwrap()
}

/// The x range (days since 1970) a chart shows.
fn x_range(w: &Harness<'_, BackstopApp>, id: &str) -> (f64, f64) {
    let memory = egui_plot::PlotMemory::load(&w.ctx, egui::Id::unique(id))
        .unwrap_or_else(|| panic!("the chart {id} was not drawn"));
    (memory.bounds().min()[0], memory.bounds().max()[0])
}

#[test]
fn several_backups_with_a_failed_one_read_as_figures_and_charts_on_one_time_axis() {
    let home = TestHome::new();
    let db = home.sqlite_profile("shop", 300, &["--no-auto"]);
    // Older than 30 days: outside the success figure (and deleted by the retention run of the next backup).
    backup_at(&home, "-40d", 0);
    backup_at(&home, "-6d", 0);
    backup_at(&home, "-4d", 0);
    let away = db.with_extension("away");
    std::fs::rename(&db, &away).unwrap();
    backup_at(&home, "-2d", 1);
    std::fs::rename(&away, &db).unwrap();
    home.backup("shop");
    let rows = home.list_json();
    let completed: Vec<_> = rows.iter().filter(|r| r["status"] == "completed").collect();
    assert_eq!(completed.len(), 3, "{rows:#?}");
    let total: u64 = completed
        .iter()
        .map(|r| r["size_bytes"].as_u64().unwrap())
        .sum();
    let stats = stats_json(&home);
    let database_now = stats["database_size_bytes"].as_u64().unwrap();
    // `backstop stats` counts the same way as the window.
    assert_eq!(
        stats["last_30_days"],
        serde_json::json!({"finished": 4, "succeeded": 3})
    );

    let w = statistics(&home);
    // The figures: one look says when, how often it worked, how much is kept.
    w.get_by_label("Last backup");
    w.get_by_label("just now");
    w.get_by_label("Last 30 days");
    w.get_by_label("3 of 4 succeeded");
    w.get_by_label("1 failed");
    w.get_by_label("Archives");
    w.get_by_label("3 archives");
    w.get_by_label(&format!("{} in all", human_size(total)));
    w.get_by_label("Database now");
    w.get_by_label(&human_size(database_now));
    // Restore drills do not exist yet: the place says so, with no made-up figure.
    w.get_by_label("Proven restorable");
    w.get_by_label("Not measured yet");
    // The old words are gone.
    assert!(w.query_by_label_contains("Backups by trigger").is_none());

    // Two charts over one time range that reaches from the first backup shown to now; their legend names the
    // mark of the failed backup.
    w.get_by_label("Archive size over time");
    w.get_by_label("Backup duration over time");
    w.get_by_label("failed backup");
    let size = x_range(&w, SIZE_CHART_ID);
    let duration = x_range(&w, DURATION_CHART_ID);
    assert_eq!(size, duration, "both charts share one time range");
    let day = |r: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(r["created_at"].as_str().unwrap())
            .unwrap()
            .timestamp() as f64
            / 86_400.0
    };
    let first_shown = day(completed[0]);
    let now = chrono::Utc::now().timestamp() as f64 / 86_400.0;
    assert!(
        size.0 < first_shown && size.1 > now - 0.01,
        "{size:?} holds {first_shown} to {now}"
    );
}

#[test]
fn a_single_backup_shows_its_values_not_a_one_point_chart() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 300, &["--no-auto"]);
    home.backup("shop");
    let row = home.list_json().remove(0);
    let size = row["size_bytes"].as_u64().unwrap();
    let ms = row["duration_ms"].as_u64().unwrap();

    let w = statistics(&home);
    w.get_by_label("1 of 1 succeeded");
    w.get_by_label("1 archive");
    w.get_by_label("The one backup so far");
    w.get_by_label(&human_size(size));
    w.get_by_label(&duration_words(ms));
    w.get_by_label_contains("start with the second backup");
    assert!(w.query_by_label_contains("over time").is_none());
    assert!(egui_plot::PlotMemory::load(&w.ctx, egui::Id::unique(SIZE_CHART_ID)).is_none());
}

#[test]
fn an_empty_profile_says_no_backups_yet_and_backs_up_now() {
    let home = TestHome::new();
    home.sqlite_profile("shop", 300, &["--no-auto"]);
    let mut w = statistics(&home);
    w.get_by_label("No backups yet");
    assert!(w.query_by_label_contains("over time").is_none());
    assert!(w.query_by_label("Last 30 days").is_none());
    // The panel's own button (a status header above it may offer one too).
    w.get_all_by_role_and_label(Role::Button, "Back up now")
        .last()
        .unwrap()
        .click();
    w.step();
    common::wait_for_window(&mut w, "the first backup", &|app| {
        app.state.running.is_none()
            && app.state.queue.is_empty()
            && app
                .state
                .snapshot
                .backups
                .iter()
                .any(|b| b.status == backstop::model::Status::Completed)
    });
    w.run();
    assert_eq!(
        w.state().state.snapshot.backups[0].trigger,
        backstop::model::Trigger::Manual
    );
    assert!(w.query_by_label("No backups yet").is_none());
    w.get_by_label("1 of 1 succeeded");
}
