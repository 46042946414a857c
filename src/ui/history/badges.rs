//! The backups table's badges: a backup's status and what is special about it (pinned, uploaded, safety, flagged,
//! dated ahead of the clock), each a small coloured rounded label that says what it means on hover.
//!
//! There is no "verified" badge of its own: a backup becomes `completed` only after its archive was re-read and
//! every checksum matched (shared DECISIONS: there is no separate "verified"), so the completed badge says so, and a
//! later Verify that finds damage turns it `corrupted`. The catalog keeps no time of a later verify to show.

use super::status_color;
use crate::catalog::BackupRow;
use crate::model::{Status, Trigger};
use egui::{Color32, RichText};

const AMBER: Color32 = Color32::from_rgb(190, 120, 0);
const BLUE: Color32 = Color32::from_rgb(50, 110, 190);
const PURPLE: Color32 = Color32::from_rgb(120, 80, 170);
const TEAL: Color32 = Color32::from_rgb(20, 130, 140);

/// One badge: white text on `fill` in a rounded box as tall as its text, with `meaning` on hover.
fn badge(ui: &mut egui::Ui, text: &str, fill: Color32, meaning: &str) {
    let galley = egui::WidgetText::from(RichText::new(text).color(Color32::WHITE)).into_galley(
        ui,
        Some(egui::TextWrapMode::Extend),
        f32::INFINITY,
        egui::TextStyle::Body,
    );
    let padding = egui::vec2(7.0, 2.0);
    let (rect, response) =
        ui.allocate_exact_size(galley.size() + 2.0 * padding, egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, text));
    if ui.is_rect_visible(rect) {
        ui.painter().rect_filled(rect, 8.0, fill);
        ui.painter()
            .galley(rect.min + padding, galley, Color32::WHITE);
    }
    response.on_hover_text(meaning);
}

/// What a status means for this backup, in words; a failure's or damage's whole message included.
fn status_meaning(row: &BackupRow) -> String {
    let made = match row.trigger {
        Trigger::Manual => "A backup made by hand",
        Trigger::Automatic => "An automatic backup",
        Trigger::Uploaded => "An imported backup",
        Trigger::Safety => "A safety backup",
    };
    let status = match row.status {
        Status::Completed => {
            "complete and verified: its archive was re-read and every checksum matched before it was marked completed"
                .to_string()
        }
        Status::Running => "still being made".to_string(),
        Status::Failed => "that failed".to_string(),
        Status::Cancelled => "that was cancelled before it finished".to_string(),
        Status::Corrupted => "whose archive is damaged: restore another one".to_string(),
        Status::Deleted => "that was deleted".to_string(),
    };
    match &row.error {
        Some(error) => format!("{made} {status}:\n{error}"),
        None => format!("{made}, {status}."),
    }
}

/// Every badge of a row, status first.
pub(super) fn badges(ui: &mut egui::Ui, row: &BackupRow) {
    badge(
        ui,
        row.status.as_str(),
        status_color(row.status),
        &status_meaning(row),
    );
    if row.pinned {
        badge(
            ui,
            "pinned",
            TEAL,
            "Pinned: Retention never deletes it. Unpin it to let retention treat it normally again.",
        );
    }
    match row.trigger {
        Trigger::Uploaded => badge(
            ui,
            "uploaded",
            BLUE,
            "Brought in by Import (an archive or a database file from elsewhere), not made by a backup here.",
        ),
        Trigger::Safety => badge(
            ui,
            "safety",
            PURPLE,
            "Taken just before a restore, of the database as it was then: restore it to undo that restore. \
             Retention keeps it.",
        ),
        Trigger::Manual | Trigger::Automatic => {}
    }
    if !row.warnings.is_empty() {
        badge(
            ui,
            "flagged",
            AMBER,
            &format!(
                "The change check flagged it, and retention stopped after it:\n{}",
                row.warnings.join("\n")
            ),
        );
    }
    if let Some(secs) = row.clock_ahead_secs {
        badge(
            ui,
            &format!("{} ahead", crate::retention::span_text(secs)),
            AMBER,
            "Dated after this computer's clock: the clock was ahead when it was taken, or has since gone back. \
             Retention keeps it, and it never takes the place of a current backup.",
        );
    }
}

/// "UTC" or "UTC+01:00": the zone the table's times are shown in (this computer's).
pub(super) fn zone_name() -> String {
    let offset = chrono::Local::now().offset().local_minus_utc();
    if offset == 0 {
        return "UTC".to_string();
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}
