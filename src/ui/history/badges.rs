//! The backups table's badges: a backup's status and what is special about it (pinned, uploaded, safety, flagged,
//! dated ahead of the clock), each a small coloured rounded label that says what it means on hover; for a profile
//! with destinations, where the backup is (`local`, `off-site`) and how its copies stand (`copying…`, `copy
//! waiting`, `copy failed`): [`location`], pure, tested below.
//!
//! There is no "verified" badge of its own: a backup becomes `completed` only after its archive was re-read and
//! every checksum matched (shared DECISIONS: there is no separate "verified"), so the completed badge says so, and a
//! later Verify that finds damage turns it `corrupted`. The catalog keeps no time of a later verify to show.

use super::{local, status_color};
use crate::catalog::{BackupRow, CopyStatus};
use crate::model::{Status, Trigger};
use egui::{Color32, RichText};

const AMBER: Color32 = Color32::from_rgb(190, 120, 0);
const BLUE: Color32 = Color32::from_rgb(50, 110, 190);
const PURPLE: Color32 = Color32::from_rgb(120, 80, 170);
const TEAL: Color32 = Color32::from_rgb(20, 130, 140);
const SLATE: Color32 = Color32::from_rgb(95, 105, 125);
const GREEN: Color32 = Color32::from_rgb(35, 135, 75);
const GRAY: Color32 = Color32::from_rgb(125, 125, 125);
const RED: Color32 = Color32::from_rgb(200, 60, 60);

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

/// Where a backup is, for a profile with destinations: `here` tells whether its archive is in the storage folder
/// (the worker looked). Returns the badges (text, colour, meaning): `local`, `off-site` (copied to at least one
/// destination), then the copies that are not there yet, the worst first (`copy failed`, `copying…`, `copy
/// waiting`), each destination named on hover.
pub fn location(row: &BackupRow, here: bool) -> Vec<(&'static str, Color32, String)> {
    let mut out = Vec::new();
    if row.status == Status::Completed && here {
        out.push((
            "local",
            SLATE,
            "Its archive is in the storage folder on this computer.".to_string(),
        ));
    }
    let of = |status: CopyStatus| row.copies.iter().filter(move |c| c.status == status);
    let copied: Vec<String> = of(CopyStatus::Copied)
        .map(|c| match c.copied_at {
            Some(at) => format!("{}, copied {}", c.dest, local(at)),
            None => c.dest.clone(),
        })
        .collect();
    if !copied.is_empty() {
        out.push((
            "off-site",
            GREEN,
            format!(
                "Copied and checked (read back, SHA-256 compared) at:\n{}",
                copied.join("\n")
            ),
        ));
    }
    let failed: Vec<String> = of(CopyStatus::Failed)
        .map(|c| {
            format!(
                "{}: {}",
                c.dest,
                c.error.as_deref().unwrap_or("no reason recorded")
            )
        })
        .collect();
    let names = |status: CopyStatus| of(status).map(|c| c.dest.clone()).collect::<Vec<_>>();
    let (copying, waiting) = (names(CopyStatus::Copying), names(CopyStatus::Pending));
    if !failed.is_empty() {
        out.push((
            "copy failed",
            RED,
            format!(
                "The last try to copy it failed; it is tried again later (Sync now tries at once):\n{}",
                failed.join("\n")
            ),
        ));
    } else if !copying.is_empty() {
        out.push((
            "copying…",
            BLUE,
            format!("Being copied to {} now.", copying.join(", ")),
        ));
    } else if !waiting.is_empty() {
        out.push((
            "copy waiting",
            GRAY,
            format!(
                "Waiting to be copied to {} (after the next backup, by the window's retries or Sync now).",
                waiting.join(", ")
            ),
        ));
    }
    out
}

/// Every badge of a row, status first; `here`: None for a profile without destinations (no location badges),
/// else whether the archive is in the storage folder.
pub(super) fn badges(ui: &mut egui::Ui, row: &BackupRow, here: Option<bool>) {
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
    if let Some(label) = &row.encryption {
        badge(ui, "encrypted", TEAL, &encryption_meaning(label));
    }
    if let Some(here) = here {
        for (text, fill, meaning) in location(row, here) {
            badge(ui, text, fill, &meaning);
        }
    }
}

/// What the "encrypted" badge says on hover: which passphrase or keys open the backup.
fn encryption_meaning(label: &str) -> String {
    match label.split_once(':') {
        Some(("passphrase", id)) => format!(
            "Encrypted with age, with passphrase {id}. Restoring it needs that passphrase: the stored one when it is \
             still the profile's, otherwise you are asked for it."
        ),
        Some(("recipients", _)) => {
            "Encrypted with age to recipient keys: only their private keys decrypt it \
             (give one with Restore's key file, or `backstop restore ID --identity KEYFILE`)."
                .to_string()
        }
        _ => "Encrypted with age.".to_string(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
    use super::*;
    use crate::catalog::CopyRow;
    use crate::model::Kind;
    use chrono::{TimeZone, Utc};

    fn copy(dest: &str, status: CopyStatus, error: Option<&str>) -> CopyRow {
        CopyRow {
            backup_id: 1,
            dest: dest.into(),
            status,
            copied_at: (status == CopyStatus::Copied)
                .then(|| Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()),
            object: "shop.zip".into(),
            size_bytes: None,
            sha256: None,
            error: error.map(str::to_string),
            attempts: 0,
            next_try_at: None,
            upload: None,
        }
    }

    #[test]
    fn the_encrypted_badge_names_the_passphrase() {
        assert!(encryption_meaning("passphrase:p2").contains("passphrase p2"));
        assert!(encryption_meaning("recipients:abcd1234").contains("private keys"));
    }

    #[test]
    fn location_badge_cases() {
        use CopyStatus::{Copied, Copying, Failed, Pending};
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 11, 0, 0).unwrap();
        let row = |status: Status, copies: Vec<CopyRow>| BackupRow {
            copies,
            ..BackupRow::for_test(1, at, Kind::Database, Trigger::Manual, status)
        };
        let gone = Some("folder /media/usb is missing (is the drive mounted?)");
        let cases: Vec<(&str, BackupRow, bool, Vec<&str>)> = vec![
            (
                "here, no copy yet",
                row(Status::Completed, vec![]),
                true,
                vec!["local"],
            ),
            (
                "here and copied",
                row(Status::Completed, vec![copy("usb", Copied, None)]),
                true,
                vec!["local", "off-site"],
            ),
            (
                "the local archive is gone, the copy is not",
                row(Status::Completed, vec![copy("usb", Copied, None)]),
                false,
                vec!["off-site"],
            ),
            (
                "waiting",
                row(Status::Completed, vec![copy("usb", Pending, None)]),
                true,
                vec!["local", "copy waiting"],
            ),
            (
                "being copied",
                row(Status::Completed, vec![copy("usb", Copying, None)]),
                true,
                vec!["local", "copying…"],
            ),
            (
                "copied to one, failed at the other: the failure shows",
                row(
                    Status::Completed,
                    vec![copy("usb", Failed, gone), copy("s3", Copied, None)],
                ),
                true,
                vec!["local", "off-site", "copy failed"],
            ),
            (
                "failed outweighs waiting",
                row(
                    Status::Completed,
                    vec![copy("usb", Pending, None), copy("s3", Failed, gone)],
                ),
                true,
                vec!["local", "copy failed"],
            ),
            (
                "a failed backup is nowhere",
                row(Status::Failed, vec![]),
                false,
                vec![],
            ),
        ];
        for (what, row, here, expected) in cases {
            let got: Vec<&str> = location(&row, here).iter().map(|b| b.0).collect();
            assert_eq!(got, expected, "{what}");
        }
        let failed = location(
            &row(
                Status::Completed,
                vec![copy("usb", Failed, gone), copy("s3", Copied, None)],
            ),
            true,
        );
        assert!(
            failed[1].2.contains("s3, copied 2026-12-03"),
            "{:?}",
            failed[1]
        );
        assert!(
            failed[2]
                .2
                .ends_with("usb: folder /media/usb is missing (is the drive mounted?)"),
            "{:?}",
            failed[2]
        );
    }
}
